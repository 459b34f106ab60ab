//! The theme taxonomy: a TOML file of hierarchical themes and signals, each
//! with English and Chinese cues. Users edit it; no code change adds a theme.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

/// The default taxonomy shipped in data/, embedded in the binary.
pub const DEFAULT_TAXONOMY: &str = include_str!("../../data/taxonomy.toml");

/// One theme as written in the taxonomy file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ThemeDef {
    /// Stable id: `group` or `group.leaf`.
    pub id: String,
    /// English display name.
    pub name: String,
    /// Chinese display name.
    #[serde(default)]
    pub name_zh: Option<String>,
    /// What the theme covers.
    #[serde(default)]
    pub description: Option<String>,
    /// English cues (word sequences, matched on stems).
    #[serde(default)]
    pub en: Vec<String>,
    /// Chinese cues (matched as substrings).
    #[serde(default)]
    pub zh: Vec<String>,
    /// English cues that cancel the theme in their sentence.
    #[serde(default)]
    pub exclude_en: Vec<String>,
    /// Chinese cues that cancel the theme in their sentence.
    #[serde(default)]
    pub exclude_zh: Vec<String>,
    /// Ids this theme took over (a rename, or themes merged into it): a
    /// search for an old id finds this theme, and "since the last run"
    /// counts the old ids' records as this theme's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replaces: Vec<String>,
}

impl ThemeDef {
    /// The parent theme id (`delivery` for `delivery.late`), if any.
    pub fn parent(&self) -> Option<&str> {
        self.id.rsplit_once('.').map(|(p, _)| p)
    }
}

/// A signal: a flag such as churn risk or escalation, matched like a theme.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SignalDef {
    /// Stable id.
    pub id: String,
    /// English display name.
    pub name: String,
    /// Chinese display name.
    #[serde(default)]
    pub name_zh: Option<String>,
    /// English cues.
    #[serde(default)]
    pub en: Vec<String>,
    /// Chinese cues.
    #[serde(default)]
    pub zh: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TaxonomyFile {
    #[serde(default)]
    version: Option<u32>,
    #[serde(default)]
    theme: Vec<ThemeDef>,
    #[serde(default)]
    signal: Vec<SignalDef>,
}

/// A validated taxonomy.
#[derive(Debug, Clone)]
pub struct Taxonomy {
    /// Themes in file order.
    pub themes: Vec<ThemeDef>,
    /// Signals in file order.
    pub signals: Vec<SignalDef>,
    /// Hash of the file's meaning, to notice edits between runs.
    pub fingerprint: u64,
    /// The TOML text it was parsed from (kept with the index, so that later
    /// commands use the taxonomy the records were tagged with).
    pub source: String,
}

/// Why a taxonomy file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TaxonomyError {
    /// Not valid TOML or not the expected shape.
    #[error("{file}: {message}")]
    Parse {
        /// File name.
        file: String,
        /// The parser's message.
        message: String,
    },
    /// Valid TOML whose content breaks a rule.
    #[error("{file}: theme `{id}`: {message}")]
    Invalid {
        /// File name.
        file: String,
        /// Theme or signal id.
        id: String,
        /// What is wrong.
        message: String,
    },
}

impl Taxonomy {
    /// The embedded default taxonomy.
    pub fn default_taxonomy() -> Result<Taxonomy, TaxonomyError> {
        Taxonomy::parse(DEFAULT_TAXONOMY, "data/taxonomy.toml (built in)")
    }

    /// Parses and validates taxonomy TOML; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Taxonomy, TaxonomyError> {
        let parsed: TaxonomyFile = toml::from_str(text).map_err(|e| TaxonomyError::Parse {
            file: file.to_string(),
            message: e.to_string(),
        })?;
        let _ = parsed.version;
        let invalid = |id: &str, message: String| TaxonomyError::Invalid {
            file: file.to_string(),
            id: id.to_string(),
            message,
        };
        let mut ids = HashSet::new();
        for theme in &parsed.theme {
            let ok_id = !theme.id.is_empty()
                && theme.id.split('.').all(|p| {
                    !p.is_empty()
                        && p.chars()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                });
            if !ok_id {
                return Err(invalid(
                    &theme.id,
                    "ids are lowercase ascii words joined by dots".into(),
                ));
            }
            if !ids.insert(theme.id.as_str()) {
                return Err(invalid(&theme.id, "duplicate id".into()));
            }
            if theme.name.trim().is_empty() {
                return Err(invalid(&theme.id, "name is empty".into()));
            }
        }
        for theme in &parsed.theme {
            if let Some(parent) = theme.parent() {
                if !ids.contains(parent) {
                    return Err(invalid(
                        &theme.id,
                        format!("parent `{parent}` is not defined"),
                    ));
                }
            }
        }
        let mut replaced = HashSet::new();
        for theme in &parsed.theme {
            for old in &theme.replaces {
                if ids.contains(old.as_str()) {
                    return Err(invalid(
                        &theme.id,
                        format!("replaces `{old}`, which is still a theme"),
                    ));
                }
                if !replaced.insert(old.as_str()) {
                    return Err(invalid(
                        &theme.id,
                        format!("`{old}` is replaced by two themes"),
                    ));
                }
            }
        }
        let mut signal_ids = HashSet::new();
        for signal in &parsed.signal {
            if !signal_ids.insert(signal.id.as_str()) {
                return Err(invalid(&signal.id, "duplicate signal id".into()));
            }
        }
        let canonical = serde_json::to_vec(&(&parsed.theme, &parsed.signal)).unwrap_or_default();
        Ok(Taxonomy {
            fingerprint: crate::record::fnv1a(&canonical),
            themes: parsed.theme,
            signals: parsed.signal,
            source: text.to_string(),
        })
    }

    /// Looks a theme up by id.
    pub fn theme(&self, id: &str) -> Option<&ThemeDef> {
        self.themes.iter().find(|t| t.id == id)
    }

    /// The theme an id names now: the theme itself, or the one that
    /// replaced it (`replaces`) after a rename or merge.
    pub fn resolve(&self, id: &str) -> Option<&ThemeDef> {
        self.theme(id).or_else(|| {
            self.themes
                .iter()
                .find(|t| t.replaces.iter().any(|r| r == id))
        })
    }

    /// A theme id and all its ancestors (`a.b.c` → `a.b.c`, `a.b`, `a`).
    pub fn with_ancestors(id: &str) -> Vec<String> {
        let mut out = vec![id.to_string()];
        let mut current = id;
        while let Some((parent, _)) = current.rsplit_once('.') {
            out.push(parent.to_string());
            current = parent;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_taxonomy_is_valid_and_rich() {
        let t = Taxonomy::default_taxonomy().unwrap();
        let leaves = t.themes.iter().filter(|t| t.parent().is_some()).count();
        assert!(leaves >= 12, "{leaves} leaves");
        for theme in t.themes.iter().filter(|t| t.parent().is_some()) {
            assert!(
                !theme.en.is_empty() && !theme.zh.is_empty(),
                "{} lacks cues",
                theme.id
            );
        }
    }

    #[test]
    fn unknown_parent_is_an_error_naming_the_theme() {
        let err = Taxonomy::parse("[[theme]]\nid = \"a.b\"\nname = \"B\"\n", "t.toml").unwrap_err();
        assert!(err.to_string().contains("a.b") && err.to_string().contains("parent"));
    }

    #[test]
    fn duplicate_ids_are_rejected() {
        let text = "[[theme]]\nid = \"a\"\nname = \"A\"\n[[theme]]\nid = \"a\"\nname = \"A2\"\n";
        assert!(Taxonomy::parse(text, "t.toml").is_err());
    }

    #[test]
    fn replaced_ids_resolve_to_their_new_theme() {
        let text = "[[theme]]\nid = \"a\"\nname = \"A\"\n\
                    [[theme]]\nid = \"a.late\"\nname = \"Late\"\nreplaces = [\"a.slow\", \"a.delay\"]\n";
        let t = Taxonomy::parse(text, "t.toml").unwrap();
        assert_eq!(t.resolve("a.slow").map(|t| t.id.as_str()), Some("a.late"));
        assert_eq!(t.resolve("a.late").map(|t| t.id.as_str()), Some("a.late"));
        assert!(t.resolve("a.other").is_none());
        // Without `replaces` the canonical form (and so the fingerprint of an
        // existing taxonomy) is what it was before the field existed.
        let plain = Taxonomy::parse("[[theme]]\nid = \"a\"\nname = \"A\"\n", "t.toml").unwrap();
        let canonical = serde_json::to_string(&plain.themes).unwrap();
        assert!(!canonical.contains("replaces"), "{canonical}");
    }

    #[test]
    fn replacing_a_live_or_already_replaced_id_is_an_error() {
        let live = "[[theme]]\nid = \"a\"\nname = \"A\"\n[[theme]]\nid = \"b\"\nname = \"B\"\nreplaces = [\"a\"]\n";
        let err = Taxonomy::parse(live, "t.toml").unwrap_err().to_string();
        assert!(err.contains("still a theme"), "{err}");
        let twice = "[[theme]]\nid = \"a\"\nname = \"A\"\nreplaces = [\"x\"]\n[[theme]]\nid = \"b\"\nname = \"B\"\nreplaces = [\"x\"]\n";
        let err = Taxonomy::parse(twice, "t.toml").unwrap_err().to_string();
        assert!(err.contains("two themes"), "{err}");
    }

    #[test]
    fn ancestors_are_listed() {
        assert_eq!(Taxonomy::with_ancestors("a.b.c"), ["a.b.c", "a.b", "a"]);
    }
}
