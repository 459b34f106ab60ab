//! Per-format mappers: each vendor export has its own module that knows its
//! field names and shapes (who wrote which comment, what a status code
//! means); [`generic`] is the tolerant fallback and [`custom`] applies a
//! `--map` file. [`detect`] picks the mapper of an item from its fields.

pub mod appstore;
pub mod custom;
pub mod freshdesk;
pub mod generic;
pub mod googleplay;
pub mod intercom;
pub mod trustpilot;
pub mod zendesk;

use serde::Serialize;
use serde_json::{Map, Value};

pub use custom::{MapSpec, MapSpecError};

use super::html::{html_to_text, trim_quoted};
use super::mapping::looks_like_html;
use crate::record::Record;

/// The mapper chosen for an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mapper {
    /// Zendesk tickets (Tickets API, incremental export), with comments.
    Zendesk,
    /// Freshdesk tickets, with conversations.
    Freshdesk,
    /// Intercom conversations with their parts.
    Intercom,
    /// App Store Connect `customerReviews`.
    AppStore,
    /// Google Play reviews (API JSON or Play Console CSV).
    GooglePlay,
    /// Trustpilot-style reviews.
    Trustpilot,
    /// Tolerant candidate paths for anything else.
    Generic,
    /// A `--map` file.
    Custom,
}

impl Mapper {
    /// Every built-in mapper, for docs and dry-run listings.
    pub const ALL: [Mapper; 8] = [
        Mapper::Zendesk,
        Mapper::Freshdesk,
        Mapper::Intercom,
        Mapper::AppStore,
        Mapper::GooglePlay,
        Mapper::Trustpilot,
        Mapper::Generic,
        Mapper::Custom,
    ];

    /// The mapper's name (also the default source name).
    pub fn name(self) -> &'static str {
        match self {
            Mapper::Zendesk => "zendesk",
            Mapper::Freshdesk => "freshdesk",
            Mapper::Intercom => "intercom",
            Mapper::AppStore => "appstore",
            Mapper::GooglePlay => "googleplay",
            Mapper::Trustpilot => "trustpilot",
            Mapper::Generic => "generic",
            Mapper::Custom => "custom (--map)",
        }
    }

    /// How the mapper maps fields, one line for `--dry-run`.
    pub fn describe(self) -> &'static str {
        match self {
            Mapper::Zendesk => zendesk::DESCRIPTION,
            Mapper::Freshdesk => freshdesk::DESCRIPTION,
            Mapper::Intercom => intercom::DESCRIPTION,
            Mapper::AppStore => appstore::DESCRIPTION,
            Mapper::GooglePlay => googleplay::DESCRIPTION,
            Mapper::Trustpilot => trustpilot::DESCRIPTION,
            Mapper::Generic => generic::DESCRIPTION,
            Mapper::Custom => "fields as named in the --map file; unnamed fields as generic",
        }
    }
}

/// Recognises the export an item comes from by its field names.
pub fn detect(obj: &Map<String, Value>) -> Mapper {
    let has = |k: &str| obj.contains_key(k);
    if has("via") || has("satisfaction_rating") || (has("requester_id") && has("raw_subject")) {
        Mapper::Zendesk
    } else if has("description_text") || (has("requester_id") && has("responder_id")) {
        Mapper::Freshdesk
    } else if has("conversation_parts")
        || obj
            .get("source")
            .is_some_and(|s| s.get("delivered_as").is_some())
    {
        Mapper::Intercom
    } else if obj
        .get("attributes")
        .is_some_and(|a| a.get("rating").is_some())
    {
        Mapper::AppStore
    } else if has("reviewId") || googleplay::is_console_row(obj) {
        Mapper::GooglePlay
    } else if has("stars") && (has("consumer") || has("createdAt")) {
        Mapper::Trustpilot
    } else {
        Mapper::Generic
    }
}

/// Maps an object with a built-in mapper. `source` is `--source`.
pub fn map_builtin(
    mapper: Mapper,
    obj: &Map<String, Value>,
    source: Option<&str>,
    wrapper: Option<&str>,
) -> Result<Record, String> {
    match mapper {
        Mapper::Zendesk => zendesk::map(obj, source, wrapper),
        Mapper::Freshdesk => freshdesk::map(obj, source, wrapper),
        Mapper::Intercom => intercom::map(obj, source, wrapper),
        Mapper::AppStore => appstore::map(obj, source, wrapper),
        Mapper::GooglePlay => googleplay::map(obj, source, wrapper),
        Mapper::Trustpilot => trustpilot::map(obj, source, wrapper),
        Mapper::Generic | Mapper::Custom => generic::map(obj, source, wrapper),
    }
}

/// A message body as plain text: HTML stripped, quoted replies and
/// signatures trimmed.
pub(crate) fn body_text(raw: &str) -> String {
    let text = if looks_like_html(raw) {
        html_to_text(raw)
    } else {
        raw.to_string()
    };
    trim_quoted(&text)
}

/// Text folded for comparing two bodies (white space and case).
pub(crate) fn fold(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// Joins the customer's messages into one text, skipping exact repeats.
pub(crate) fn join_messages(parts: Vec<String>) -> String {
    let mut seen: Vec<String> = Vec::new();
    let mut out: Vec<String> = Vec::new();
    for part in parts {
        let part = part.trim().to_string();
        if part.is_empty() {
            continue;
        }
        let folded = fold(&part);
        if seen.contains(&folded) {
            continue;
        }
        seen.push(folded);
        out.push(part);
    }
    out.join("\n\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn detect_of(v: Value) -> Mapper {
        match v {
            Value::Object(o) => detect(&o),
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn detection_by_field_names() {
        assert_eq!(
            detect_of(json!({"id": 1, "via": {"channel": "web"}})),
            Mapper::Zendesk
        );
        assert_eq!(
            detect_of(json!({"id": 1, "description_text": "x"})),
            Mapper::Freshdesk
        );
        assert_eq!(
            detect_of(json!({"id": "1", "conversation_parts": {}})),
            Mapper::Intercom
        );
        assert_eq!(
            detect_of(json!({"id": "1", "attributes": {"rating": 5}})),
            Mapper::AppStore
        );
        assert_eq!(detect_of(json!({"reviewId": "g"})), Mapper::GooglePlay);
        assert_eq!(
            detect_of(json!({"Star Rating": "3", "Review Text": "x", "Package Name": "a"})),
            Mapper::GooglePlay
        );
        assert_eq!(
            detect_of(json!({"id": "t", "stars": 4, "consumer": {}})),
            Mapper::Trustpilot
        );
        assert_eq!(detect_of(json!({"id": "t", "text": "x"})), Mapper::Generic);
    }

    #[test]
    fn messages_join_without_repeats() {
        assert_eq!(
            join_messages(vec!["A b".into(), " a  B ".into(), "".into(), "c".into()]),
            "A b\n\nc"
        );
    }
}
