//! Field mapping: one parsed export item (a JSON object) becomes a [`Record`],
//! or a reason why it cannot.
//!
//! Exports differ in names and shapes, so each record field has a list of
//! candidate paths (`subject`, `title`, `attributes.title`, ...), tried in
//! order. Numbers written as strings are accepted; a value of the wrong kind
//! (a rating "five") rejects the item with a reason that names the field.

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::date::parse_date_value;
use super::html::html_to_text;
use crate::record::{fnv1a, Kind, Record};
use crate::text::{detect_language, Lang};

/// What the mapper knows about an item besides its fields.
#[derive(Debug, Clone, Default)]
pub struct MapHints<'a> {
    /// `--source` from the command line, overriding detection.
    pub source: Option<&'a str>,
    /// The wrapper array key the item came from (`tickets`, `reviews`).
    pub wrapper: Option<&'a str>,
}

const ID_PATHS: &[&str] = &[
    "id",
    "ticket_id",
    "review_id",
    "reviewId",
    "conversation_id",
    "uuid",
    "_id",
    "key",
];
const TITLE_PATHS: &[&str] = &[
    "subject",
    "title",
    "raw_subject",
    "attributes.title",
    "headline",
    "summary",
    "source.subject",
];
const TEXT_PATHS: &[&str] = &[
    "description_text",
    "description",
    "body",
    "text",
    "content",
    "comment",
    "review",
    "review_text",
    "message",
    "feedback",
    "source.body",
    "attributes.body",
    "comments.0.userComment.text",
];
const DATE_PATHS: &[&str] = &[
    "created_at",
    "createdAt",
    "created",
    "date",
    "timestamp",
    "time",
    "submitted_at",
    "createdDate",
    "review_date",
    "posted_at",
    "attributes.createdDate",
    "comments.0.userComment.lastModified.seconds",
];
const RATING_PATHS: &[&str] = &[
    "rating",
    "stars",
    "star_rating",
    "starRating",
    "review_rating",
    "attributes.rating",
    "comments.0.userComment.starRating",
    "satisfaction_rating.score",
    "conversation_rating.rating",
    "csat",
];
const NPS_PATHS: &[&str] = &["nps", "nps_score", "likelihood_to_recommend"];
const LANG_PATHS: &[&str] = &[
    "lang",
    "language",
    "locale",
    "reviewerLanguage",
    "comments.0.userComment.reviewerLanguage",
];
const CHANNEL_PATHS: &[&str] = &[
    "channel",
    "via.channel",
    "source_app",
    "platform",
    "source.type",
];
const PRODUCT_PATHS: &[&str] = &[
    "product",
    "product_name",
    "app",
    "version",
    "app_version",
    "appVersionName",
];
const STATUS_PATHS: &[&str] = &["status", "state"];
const TIER_PATHS: &[&str] = &["customer_tier", "tier", "plan", "segment"];

/// Maps one item to a record, or says why it cannot be mapped.
pub fn map_item(value: &Value, hints: &MapHints) -> Result<Record, String> {
    let Value::Object(obj) = value else {
        return Err(format!(
            "item is a JSON {}, not an object",
            json_kind(value)
        ));
    };
    let mut used: HashSet<&'static str> = HashSet::new();
    let source = match hints.source {
        Some(s) => s.to_string(),
        None => detect_source(obj).to_string(),
    };

    let title = text_field(obj, TITLE_PATHS, &mut used)?.filter(|t| !t.trim().is_empty());
    let text = text_field(obj, TEXT_PATHS, &mut used)?.unwrap_or_default();
    let text = if looks_like_html(&text) {
        html_to_text(&text)
    } else {
        text
    };
    let text = text.trim().to_string();
    if text.is_empty() && title.is_none() {
        return Err(format!(
            "no text: none of {} holds any words",
            TEXT_PATHS[..6].join(", ")
        ));
    }

    let created_at = match first_present(obj, DATE_PATHS) {
        Some((path, v)) => {
            used.insert(top_key(path));
            match parse_date_value(v) {
                Some(secs) => Some(secs),
                None => return Err(format!("bad date in `{path}`: {}", short(v))),
            }
        }
        None => None,
    };

    let rating = match first_present(obj, RATING_PATHS) {
        Some((path, v)) => {
            used.insert(top_key(path));
            parse_rating(path, v)?
        }
        None => None,
    };
    let nps = match first_present(obj, NPS_PATHS) {
        Some((path, v)) => {
            used.insert(top_key(path));
            match number(v) {
                Some(n) if (0.0..=10.0).contains(&n) => Some(n.round() as u8),
                _ => {
                    return Err(format!(
                        "wrong type in `{path}`: NPS must be 0 to 10, got {}",
                        short(v)
                    ))
                }
            }
        }
        None => None,
    };

    let lang = scalar_field(obj, LANG_PATHS, &mut used)
        .and_then(|code| Lang::from_code(&code))
        .unwrap_or_else(|| {
            detect_language(&format!("{} {}", title.as_deref().unwrap_or(""), text))
        });

    let id = match first_present(obj, ID_PATHS) {
        Some((path, v)) => {
            used.insert(top_key(path));
            match v {
                Value::String(s) if !s.trim().is_empty() => s.trim().to_string(),
                Value::Number(n) => n.to_string(),
                other => {
                    return Err(format!(
                        "wrong type in `{path}`: id must be a string or number, got {}",
                        short(other)
                    ))
                }
            }
        }
        // No id: derive one from the content so that re-runs still upsert.
        None => format!(
            "h{:016x}",
            fnv1a(
                format!(
                    "{}\u{0}{}\u{0}{:?}",
                    title.as_deref().unwrap_or(""),
                    text,
                    created_at
                )
                .as_bytes()
            )
        ),
    };

    let kind = obj
        .get("kind")
        .and_then(Value::as_str)
        .and_then(Kind::parse)
        .or_else(|| hints.wrapper.and_then(Kind::parse))
        .unwrap_or_else(|| default_kind(&source, rating.is_some(), obj.contains_key("status")));
    if obj.contains_key("kind") {
        used.insert("kind");
    }

    let channel = scalar_field(obj, CHANNEL_PATHS, &mut used);
    let product = scalar_field(obj, PRODUCT_PATHS, &mut used);
    let status = scalar_field(obj, STATUS_PATHS, &mut used);
    let customer_tier = scalar_field(obj, TIER_PATHS, &mut used);
    let tags = tags_field(obj, &mut used);

    let extra: Map<String, Value> = obj
        .iter()
        .filter(|(k, _)| !used.contains(k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();

    Ok(Record {
        id,
        source,
        kind,
        created_at,
        title: title.map(|t| t.trim().to_string()),
        text,
        rating,
        nps,
        lang,
        channel,
        product,
        status,
        tags,
        customer_tier,
        extra,
    })
}

/// Guesses the export a record object comes from by its field names.
pub fn detect_source(obj: &Map<String, Value>) -> &'static str {
    let has = |k: &str| obj.contains_key(k);
    if has("via") || has("satisfaction_rating") || (has("requester_id") && has("raw_subject")) {
        "zendesk"
    } else if has("description_text") || (has("requester_id") && has("responder_id")) {
        "freshdesk"
    } else if has("conversation_parts")
        || obj
            .get("source")
            .is_some_and(|s| s.get("delivered_as").is_some())
    {
        "intercom"
    } else if obj
        .get("attributes")
        .is_some_and(|a| a.get("rating").is_some())
    {
        "appstore"
    } else if has("reviewId") {
        "googleplay"
    } else if has("stars") && has("consumer") {
        "trustpilot"
    } else {
        "generic"
    }
}

fn default_kind(source: &str, rated: bool, has_status: bool) -> Kind {
    match source {
        "zendesk" | "freshdesk" => Kind::Ticket,
        "intercom" => Kind::Chat,
        "appstore" | "googleplay" | "trustpilot" => Kind::Review,
        _ if rated && !has_status => Kind::Review,
        _ => Kind::Ticket,
    }
}

fn top_key(path: &'static str) -> &'static str {
    path.split('.').next().unwrap_or(path)
}

/// Follows a dotted path (`comments.0.userComment.text`) into a value.
fn lookup<'v>(obj: &'v Map<String, Value>, path: &str) -> Option<&'v Value> {
    let mut parts = path.split('.');
    let mut current = obj.get(parts.next()?)?;
    for part in parts {
        current = match current {
            Value::Object(m) => m.get(part)?,
            Value::Array(a) => a.get(part.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(current)
}

fn first_present<'v>(
    obj: &'v Map<String, Value>,
    paths: &[&'static str],
) -> Option<(&'static str, &'v Value)> {
    paths
        .iter()
        .find_map(|p| lookup(obj, p).filter(|v| !v.is_null()).map(|v| (*p, v)))
}

/// The first candidate that holds a string. A number or boolean where text
/// belongs is a wrong type; objects and arrays are skipped (a `comment`
/// object in one export is not the text field of another).
fn text_field(
    obj: &Map<String, Value>,
    paths: &[&'static str],
    used: &mut HashSet<&'static str>,
) -> Result<Option<String>, String> {
    let mut wrong: Option<String> = None;
    for path in paths {
        match lookup(obj, path) {
            Some(Value::String(s)) => {
                used.insert(top_key(path));
                return Ok(Some(s.clone()));
            }
            Some(v @ (Value::Number(_) | Value::Bool(_))) if wrong.is_none() => {
                wrong = Some(format!(
                    "wrong type in `{path}`: expected text, got {}",
                    short(v)
                ));
            }
            _ => {}
        }
    }
    match wrong {
        Some(reason) => Err(reason),
        None => Ok(None),
    }
}

fn scalar_field(
    obj: &Map<String, Value>,
    paths: &[&'static str],
    used: &mut HashSet<&'static str>,
) -> Option<String> {
    for path in paths {
        let value = match lookup(obj, path) {
            Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_string(),
            Some(Value::Number(n)) => n.to_string(),
            _ => continue,
        };
        used.insert(top_key(path));
        return Some(value);
    }
    None
}

fn tags_field(obj: &Map<String, Value>, used: &mut HashSet<&'static str>) -> Vec<String> {
    let Some(value) = obj.get("tags") else {
        return Vec::new();
    };
    used.insert("tags");
    let mut tags: Vec<String> = match value {
        Value::Array(items) => items
            .iter()
            .filter_map(|t| match t {
                Value::String(s) => Some(s.clone()),
                Value::Object(o) => o.get("name").and_then(Value::as_str).map(str::to_string),
                _ => None,
            })
            .collect(),
        Value::String(s) => s.split([',', ';']).map(str::to_string).collect(),
        Value::Object(o) => o
            .get("tags")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.get("name").and_then(Value::as_str).map(str::to_string))
                    .collect()
            })
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    tags.iter_mut().for_each(|t| *t = t.trim().to_string());
    tags.retain(|t| !t.is_empty());
    tags
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
    .filter(|n| n.is_finite())
}

fn parse_rating(path: &str, v: &Value) -> Result<Option<f64>, String> {
    if let Value::String(s) = v {
        match s.trim().to_ascii_lowercase().as_str() {
            "good" => return Ok(Some(5.0)),
            "bad" => return Ok(Some(1.0)),
            "offered" | "unoffered" | "" => return Ok(None),
            _ => {}
        }
    }
    match number(v) {
        Some(n) if (1.0..=5.0).contains(&n) => Ok(Some(n)),
        Some(n) => Err(format!(
            "rating out of range in `{path}`: {n} (expected 1 to 5)"
        )),
        None => Err(format!(
            "wrong type in `{path}`: rating must be a number 1 to 5, got {}",
            short(v)
        )),
    }
}

fn looks_like_html(text: &str) -> bool {
    text.contains('<')
        && text.contains('>')
        && (text.contains("</") || text.contains("<br") || text.contains("<p"))
        || text.contains("&amp;")
        || text.contains("&nbsp;")
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// A value for an error message: JSON text, cut to 60 characters.
fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 60 {
        format!("{}…", s.chars().take(60).collect::<String>())
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Result<Record, String> {
        map_item(&v, &MapHints::default())
    }

    #[test]
    fn zendesk_ticket_maps() {
        let r = map(json!({
            "id": 35436, "subject": "Refund", "description": "Where is my refund?",
            "created_at": "2026-09-01T10:00:00Z", "status": "open", "tags": ["billing"],
            "via": {"channel": "email"}, "satisfaction_rating": {"score": "bad"}
        }))
        .unwrap();
        assert_eq!(r.id, "35436");
        assert_eq!(r.source, "zendesk");
        assert_eq!(r.kind, Kind::Ticket);
        assert_eq!(r.rating, Some(1.0));
        assert_eq!(r.channel.as_deref(), Some("email"));
        assert_eq!(r.tags, ["billing"]);
        assert_eq!(r.lang, Lang::En);
        assert!(r.extra.is_empty(), "{:?}", r.extra);
    }

    #[test]
    fn numbers_as_strings_are_accepted() {
        let r = map(json!({"id": "a", "body": "ok", "rating": "4"})).unwrap();
        assert_eq!(r.rating, Some(4.0));
        assert_eq!(r.kind, Kind::Review);
    }

    #[test]
    fn wrong_types_are_rejected_with_the_field_named() {
        let e = map(json!({"id": "a", "body": "ok", "rating": "five"})).unwrap_err();
        assert!(e.contains("rating") && e.contains("five"), "{e}");
        let e = map(json!({"id": "a", "text": 42})).unwrap_err();
        assert!(e.contains("wrong type") && e.contains("text"), "{e}");
        let e = map(json!({"id": "a", "text": "x", "date": "yesterday"})).unwrap_err();
        assert!(e.contains("bad date"), "{e}");
        let e = map(json!({"id": "a", "text": "  "})).unwrap_err();
        assert!(e.starts_with("no text"), "{e}");
        let e = map(json!([1, 2])).unwrap_err();
        assert!(e.contains("not an object"), "{e}");
    }

    #[test]
    fn missing_id_gets_a_stable_content_id() {
        let a = map(json!({"text": "same words"})).unwrap();
        let b = map(json!({"text": "same words"})).unwrap();
        assert_eq!(a.id, b.id);
        assert!(a.id.starts_with('h'));
    }

    #[test]
    fn unknown_fields_go_to_extra() {
        let r = map(json!({"id": 1, "text": "hi", "order_no": "A-1"})).unwrap();
        assert_eq!(r.extra.get("order_no"), Some(&json!("A-1")));
    }

    #[test]
    fn html_bodies_become_text() {
        let r = map(json!({"id": 1, "source": {"body": "<p>App &amp; site down</p>", "delivered_as": "customer_initiated"}})).unwrap();
        assert_eq!(r.text, "App & site down");
        assert_eq!(r.source, "intercom");
    }
}
