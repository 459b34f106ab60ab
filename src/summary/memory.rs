//! What a run remembers of the run before, so that the nightly summary says
//! what is new since last night: records added per theme, themes that became
//! emerging (or stopped), and new unmapped-complaint candidates.
//!
//! A [`RunMemory`] is taken of each run's summary and kept next to the index;
//! the next run compares its own summary with it ([`SinceLastRun`]).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::{Summary, Trend};

/// The key facts of one run's summary.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunMemory {
    /// `generated_at` of that run.
    pub generated_at: String,
    /// Records summarized.
    pub records: u64,
    /// Records per theme id.
    pub themes: BTreeMap<String, u64>,
    /// Ids of the themes flagged emerging.
    pub emerging: Vec<String>,
    /// Ids of the themes flagged souring; `None` in the memory of a version
    /// without the flag, so nothing is reported as newly souring then.
    #[serde(default)]
    pub souring: Option<Vec<String>>,
    /// Ids of the themes flagged fading (`None` as for `souring`).
    #[serde(default)]
    pub fading: Option<Vec<String>>,
    /// Labels of the unmapped-complaint candidates.
    pub unmapped: Vec<String>,
}

impl RunMemory {
    /// The same facts with theme ids translated by `current` (the id a theme
    /// has now, after renames and merges): merged themes' counts add up.
    pub fn renamed<'a>(&'a self, current: impl Fn(&'a str) -> &'a str) -> RunMemory {
        let mut themes = BTreeMap::new();
        for (id, &n) in &self.themes {
            *themes.entry(current(id).to_string()).or_insert(0) += n;
        }
        let ids = |list: &'a [String]| {
            let mut out: Vec<String> = Vec::new();
            for id in list {
                let id = current(id).to_string();
                if !out.contains(&id) {
                    out.push(id);
                }
            }
            out
        };
        RunMemory {
            themes,
            emerging: ids(&self.emerging),
            souring: self.souring.as_deref().map(ids),
            fading: self.fading.as_deref().map(ids),
            ..self.clone()
        }
    }

    /// The facts to remember of a summary.
    pub fn of(summary: &Summary) -> RunMemory {
        RunMemory {
            generated_at: summary.generated_at.clone(),
            records: summary.records,
            themes: summary
                .themes
                .iter()
                .map(|t| (t.id.clone(), t.records))
                .collect(),
            emerging: flagged(summary, |t| t.emerging),
            souring: Some(flagged(summary, |t| t.souring)),
            fading: Some(flagged(summary, |t| t.fading)),
            unmapped: summary.unmapped.iter().map(|c| c.label.clone()).collect(),
        }
    }
}

/// Ids of the themes of `summary` whose trend has `flag`.
fn flagged(summary: &Summary, flag: fn(&Trend) -> bool) -> Vec<String> {
    summary.flagged_themes(flag).map(|t| t.id.clone()).collect()
}

/// Ids in `now` that are not in `before`; none when `before` was not kept.
fn newly(now: Vec<String>, before: Option<&[String]>) -> Vec<String> {
    let Some(before) = before else {
        return Vec::new();
    };
    now.into_iter().filter(|id| !before.contains(id)).collect()
}

/// A theme whose record count changed since the last run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ThemeChange {
    /// Theme id.
    pub id: String,
    /// Theme name.
    pub name: String,
    /// Records now minus records at the last run (negative when records
    /// left the theme, e.g. after a taxonomy edit).
    pub added: i64,
    /// Records at the last run.
    pub previous_records: u64,
}

/// What changed since the last run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SinceLastRun {
    /// `generated_at` of the last run.
    pub previous_generated_at: String,
    /// Records summarized now minus then.
    pub records_added: i64,
    /// Themes whose record count changed, most added first.
    pub themes: Vec<ThemeChange>,
    /// Themes emerging now that were not at the last run.
    pub newly_emerging: Vec<String>,
    /// Themes emerging at the last run that no longer are.
    pub no_longer_emerging: Vec<String>,
    /// Unmapped-complaint candidates that the last run did not list.
    pub new_unmapped: Vec<String>,
    /// Themes souring now that were not at the last run.
    pub newly_souring: Vec<String>,
    /// Themes fading now that were not at the last run.
    pub newly_fading: Vec<String>,
}

impl SinceLastRun {
    /// Compares a summary with the memory of the run before.
    pub fn compare(summary: &Summary, previous: &RunMemory) -> SinceLastRun {
        let mut themes: Vec<ThemeChange> = summary
            .themes
            .iter()
            .map(|t| {
                let before = previous.themes.get(&t.id).copied().unwrap_or(0);
                (t.id.clone(), t.name.clone(), t.records, before)
            })
            .chain(
                // Themes that had records then and have none now.
                previous
                    .themes
                    .iter()
                    .filter(|(id, _)| !summary.themes.iter().any(|t| &t.id == *id))
                    .map(|(id, &before)| (id.clone(), id.clone(), 0, before)),
            )
            .filter(|(_, _, now, before)| now != before)
            .map(|(id, name, now, before)| ThemeChange {
                id,
                name,
                added: now as i64 - before as i64,
                previous_records: before,
            })
            .collect();
        themes.sort_by(|a, b| b.added.cmp(&a.added).then(a.id.cmp(&b.id)));
        let was: BTreeSet<&str> = previous.emerging.iter().map(String::as_str).collect();
        let now: Vec<&str> = summary
            .flagged_themes(|t| t.emerging)
            .map(|t| t.id.as_str())
            .collect();
        let known: BTreeSet<&str> = previous.unmapped.iter().map(String::as_str).collect();
        SinceLastRun {
            previous_generated_at: previous.generated_at.clone(),
            records_added: summary.records as i64 - previous.records as i64,
            themes,
            newly_emerging: now
                .iter()
                .filter(|id| !was.contains(*id))
                .map(|id| id.to_string())
                .collect(),
            no_longer_emerging: previous
                .emerging
                .iter()
                .filter(|id| !now.contains(&id.as_str()))
                .cloned()
                .collect(),
            new_unmapped: summary
                .unmapped
                .iter()
                .filter(|c| !known.contains(c.label.as_str()))
                .map(|c| c.label.clone())
                .collect(),
            newly_souring: newly(flagged(summary, |t| t.souring), previous.souring.as_deref()),
            newly_fading: newly(flagged(summary, |t| t.fading), previous.fading.as_deref()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summary::{ThemeSummary, Trend, UnmappedCandidate};

    fn theme(id: &str, records: u64, emerging: bool) -> ThemeSummary {
        ThemeSummary {
            id: id.into(),
            name: id.to_uppercase(),
            records,
            trend: Trend {
                emerging,
                ..Trend::default()
            },
            ..ThemeSummary::default()
        }
    }

    fn candidate(label: &str) -> UnmappedCandidate {
        UnmappedCandidate {
            label: label.into(),
            phrases: vec![label.into()],
            records: 5,
            negative_share: 1.0,
            score: 3.0,
            lift: 2.0,
            quotes: vec![],
            toml: String::new(),
        }
    }

    #[test]
    fn changes_since_the_last_run_are_listed() {
        let before = Summary {
            generated_at: "night 1".into(),
            records: 10,
            themes: vec![
                theme("a", 4, true),
                theme("b", 3, false),
                theme("c", 2, false),
            ],
            unmapped: vec![candidate("points")],
            ..Summary::default()
        };
        let memory = RunMemory::of(&before);
        assert_eq!(memory.emerging, ["a"]);
        let after = Summary {
            generated_at: "night 2".into(),
            records: 15,
            themes: vec![
                theme("a", 4, false),
                theme("b", 7, true),
                theme("d", 1, false),
            ],
            unmapped: vec![candidate("points"), candidate("euros")],
            ..Summary::default()
        };
        let since = SinceLastRun::compare(&after, &memory);
        assert_eq!(since.previous_generated_at, "night 1");
        assert_eq!(since.records_added, 5);
        let added: Vec<(&str, i64)> = since
            .themes
            .iter()
            .map(|t| (t.id.as_str(), t.added))
            .collect();
        // a unchanged is left out; c lost its records.
        assert_eq!(added, [("b", 4), ("d", 1), ("c", -2)]);
        assert_eq!(since.newly_emerging, ["b"]);
        assert_eq!(since.no_longer_emerging, ["a"]);
        assert_eq!(since.new_unmapped, ["euros"]);
        assert!(since.newly_souring.is_empty() && since.newly_fading.is_empty());
    }

    #[test]
    fn newly_souring_and_fading_themes_are_listed() {
        let flags = |souring: &[&str], fading: &[&str]| Summary {
            themes: ["a", "b", "c"]
                .iter()
                .map(|id| ThemeSummary {
                    id: id.to_string(),
                    trend: Trend {
                        souring: souring.contains(id),
                        fading: fading.contains(id),
                        ..Trend::default()
                    },
                    ..ThemeSummary::default()
                })
                .collect(),
            ..Summary::default()
        };
        let memory = RunMemory::of(&flags(&["a"], &["b"]));
        assert_eq!(memory.souring.as_deref(), Some(&["a".to_string()][..]));
        assert_eq!(memory.fading.as_deref(), Some(&["b".to_string()][..]));
        let since = SinceLastRun::compare(&flags(&["a", "c"], &["b", "a"]), &memory);
        assert_eq!(since.newly_souring, ["c"]);
        assert_eq!(since.newly_fading, ["a"]);
        // A memory written before these flags existed does not know them:
        // nothing is reported as newly souring or fading against it.
        let old: RunMemory = serde_json::from_str(
            r#"{"generated_at":"x","records":1,"themes":{},"emerging":[],"unmapped":[]}"#,
        )
        .unwrap();
        assert!(old.souring.is_none() && old.fading.is_none());
        let since = SinceLastRun::compare(&flags(&["a", "c"], &["b", "a"]), &old);
        assert!(since.newly_souring.is_empty() && since.newly_fading.is_empty());
    }
}
