//! `--map FILE`: a small TOML file that names the fields of a layout no
//! built-in mapper knows.
//!
//! ```toml
//! source = "mytool"                 # source name (default "generic")
//! kind = "ticket"                   # ticket, review, survey or chat
//! date_format = "%d/%m/%Y %H:%M"    # jiff strtime; dates that do not match fall back to the tolerant parser
//! [fields]
//! id = "ticket_no"
//! text = ["body", "message.text"]   # one path or several, first present wins; joined paths nest
//! title = "headline"
//! created_at = "opened"
//! rating = "score"
//! resolution_minutes = "sla.minutes_to_close"   # also first_response_minutes, ces (1-7)
//! ```
//!
//! Fields the file does not name use the generic candidates.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::ingest::date::check_date_format;
use crate::ingest::mapping::{map_with, Paths, Spec, GENERIC_PATHS};
use crate::ingest::service::ServicePaths;
use crate::record::{Kind, Record};

/// A `--map` file that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("mapping file {path}: {message}")]
pub struct MapSpecError {
    /// The file.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

/// One path or a list of paths.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn paths(&self) -> Vec<String> {
        match self {
            OneOrMany::One(p) => vec![p.clone()],
            OneOrMany::Many(ps) => ps.clone(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MapFile {
    source: Option<String>,
    kind: Option<String>,
    date_format: Option<String>,
    #[serde(default)]
    fields: BTreeMap<String, OneOrMany>,
}

/// Field names a `[fields]` table may set.
pub const FIELD_NAMES: &[&str] = &[
    "id",
    "text",
    "title",
    "created_at",
    "rating",
    "nps",
    "lang",
    "channel",
    "product",
    "status",
    "customer_tier",
    "tags",
    "first_response_minutes",
    "resolution_minutes",
    "ces",
];

/// A validated `--map` file.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MapSpec {
    /// Source name of the records.
    pub source: String,
    /// Kind of the records, when the file says.
    pub kind: Option<Kind>,
    /// strftime-style date format.
    pub date_format: Option<String>,
    /// Record field → candidate paths, as the file names them.
    pub fields: BTreeMap<String, Vec<String>>,
}

impl MapSpec {
    /// Parses and validates a mapping file; `name` is used in errors.
    pub fn parse(text: &str, name: &str) -> Result<MapSpec, MapSpecError> {
        let err = |message: String| MapSpecError {
            path: name.to_string(),
            message,
        };
        let file: MapFile = toml::from_str(text).map_err(|e| err(e.to_string()))?;
        let kind = match file.kind.as_deref() {
            None => None,
            Some(k) => Some(Kind::parse(k).ok_or_else(|| {
                err(format!(
                    "kind `{k}` is not one of ticket, review, survey, chat"
                ))
            })?),
        };
        if let Some(f) = &file.date_format {
            check_date_format(f).map_err(err)?;
        }
        let mut fields = BTreeMap::new();
        for (field, paths) in &file.fields {
            if !FIELD_NAMES.contains(&field.as_str()) {
                return Err(err(format!(
                    "unknown field `{field}` in [fields] (known: {})",
                    FIELD_NAMES.join(", ")
                )));
            }
            let paths = paths.paths();
            if paths.is_empty() || paths.iter().any(|p| p.trim().is_empty()) {
                return Err(err(format!("[fields] {field}: empty path")));
            }
            fields.insert(field.clone(), paths);
        }
        if fields.is_empty() {
            return Err(err(
                "no [fields] table: name at least the text field (e.g. text = \"body\")".into(),
            ));
        }
        let source = file.source.unwrap_or_else(|| "generic".to_string());
        if source.trim().is_empty() || source.contains(':') {
            return Err(err(format!(
                "source `{source}` must be a non-empty name without `:`"
            )));
        }
        Ok(MapSpec {
            source,
            kind,
            date_format: file.date_format,
            fields,
        })
    }

    /// Maps an item with this file's fields. `source` is `--source`.
    pub fn map(
        &self,
        obj: &Map<String, Value>,
        source: Option<&str>,
        wrapper: Option<&str>,
    ) -> Result<Record, String> {
        let owned = |name: &str| -> Option<Vec<&str>> {
            self.fields
                .get(name)
                .map(|ps| ps.iter().map(String::as_str).collect())
        };
        let id = owned("id");
        let text = owned("text");
        let title = owned("title");
        let date = owned("created_at");
        let rating = owned("rating");
        let nps = owned("nps");
        let lang = owned("lang");
        let channel = owned("channel");
        let product = owned("product");
        let status = owned("status");
        let tier = owned("customer_tier");
        let tags = owned("tags");
        let g = GENERIC_PATHS;
        let paths = Paths {
            id: id.as_deref().unwrap_or(g.id),
            text: text.as_deref().unwrap_or(g.text),
            title: title.as_deref().unwrap_or(g.title),
            date: date.as_deref().unwrap_or(g.date),
            rating: rating.as_deref().unwrap_or(g.rating),
            nps: nps.as_deref().unwrap_or(g.nps),
            lang: lang.as_deref().unwrap_or(g.lang),
            channel: channel.as_deref().unwrap_or(g.channel),
            product: product.as_deref().unwrap_or(g.product),
            status: status.as_deref().unwrap_or(g.status),
            tier: tier.as_deref().unwrap_or(g.tier),
            tags: tags.as_deref().unwrap_or(g.tags),
        };
        let first_response = owned("first_response_minutes").unwrap_or_default();
        let resolution = owned("resolution_minutes").unwrap_or_default();
        let ces = owned("ces").unwrap_or_default();
        let mut spec = Spec::new(&self.source, paths);
        spec.service = ServicePaths {
            first_response_minutes: &first_response,
            resolution_minutes: &resolution,
            ces: &ces,
        };
        spec.kind = self.kind;
        spec.date_format = self.date_format.as_deref();
        map_with(obj, spec, source, wrapper)
    }

    /// The mapping in one line, for `--dry-run`.
    pub fn describe(&self) -> String {
        let mut parts: Vec<String> = self
            .fields
            .iter()
            .map(|(f, ps)| format!("{f} ← {}", ps.join("|")))
            .collect();
        parts.push(format!("source = {}", self.source));
        if let Some(k) = self.kind {
            parts.push(format!("kind = {}", k.as_str()));
        }
        if let Some(d) = &self.date_format {
            parts.push(format!("date_format = {d}"));
        }
        parts.push("other fields as generic".into());
        parts.join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const FILE: &str = r#"
source = "mytool"
kind = "ticket"
date_format = "%d/%m/%Y %H:%M"
[fields]
id = "ticket_no"
text = ["body", "message.text"]
title = "headline"
created_at = "opened"
rating = "score"
"#;

    #[test]
    fn map_file_maps_named_fields() {
        let spec = MapSpec::parse(FILE, "m.toml").unwrap();
        let Value::Object(o) = json!({"ticket_no": "T-9", "headline": "Late",
            "message": {"text": "Order 12 is two weeks late"}, "opened": "03/09/2026 14:22",
            "score": "2", "agent": "x"})
        else {
            unreachable!()
        };
        let r = spec.map(&o, None, None).unwrap();
        assert_eq!(r.id, "T-9");
        assert_eq!(r.source, "mytool");
        assert_eq!(r.kind, Kind::Ticket);
        assert_eq!(r.title.as_deref(), Some("Late"));
        assert_eq!(r.text, "Order 12 is two weeks late");
        assert_eq!(r.rating, Some(2.0));
        assert_eq!(
            r.created_at,
            crate::ingest::parse_date_str("2026-09-03T14:22:00Z")
        );
        assert_eq!(r.extra["agent"], "x");
        assert!(spec.describe().contains("id ← ticket_no"));
    }

    #[test]
    fn bad_map_files_name_the_file_and_the_problem() {
        let e = MapSpec::parse("[fields]\nbody = \"x\"", "m.toml").unwrap_err();
        assert!(
            e.to_string().contains("m.toml") && e.to_string().contains("`body`"),
            "{e}"
        );
        let e = MapSpec::parse("kind = \"letter\"\n[fields]\ntext = \"x\"", "m.toml").unwrap_err();
        assert!(e.to_string().contains("letter"), "{e}");
        let e =
            MapSpec::parse("date_format = \"%H\"\n[fields]\ntext = \"x\"", "m.toml").unwrap_err();
        assert!(e.to_string().contains("date_format"), "{e}");
        let e = MapSpec::parse("source = \"x\"", "m.toml").unwrap_err();
        assert!(e.to_string().contains("[fields]"), "{e}");
        let e = MapSpec::parse("[fields\n", "m.toml").unwrap_err();
        assert!(e.to_string().starts_with("mapping file m.toml"), "{e}");
    }
}
