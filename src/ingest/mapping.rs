//! Field mapping core: candidate field paths → [`Record`], shared by every
//! per-format mapper in [`super::formats`].
//!
//! Exports differ in names and shapes, so each record field has a list of
//! candidate paths (`subject`, `title`, `attributes.title`, ...), tried in
//! order. A path is first looked up as one flat key (CSV headers such as
//! `via.channel`), then as a dotted path into nested objects and arrays.
//! Numbers written as strings are accepted; a value of the wrong kind (a
//! rating "five") rejects the item with a reason that names the field.

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::date::{parse_date_value, parse_date_with_format};
use super::html::html_to_text;
use super::service::{service_metrics, ServicePaths};
use crate::record::{fnv1a, Kind, Record};
use crate::text::{detect_language, Lang};

/// Candidate paths of each record field, tried in order.
#[derive(Debug, Clone, Copy)]
pub struct Paths<'a> {
    /// Identifier.
    pub id: &'a [&'a str],
    /// Title or subject.
    pub title: &'a [&'a str],
    /// The customer's text.
    pub text: &'a [&'a str],
    /// Creation date.
    pub date: &'a [&'a str],
    /// Star rating or CSAT.
    pub rating: &'a [&'a str],
    /// NPS answer.
    pub nps: &'a [&'a str],
    /// Language code.
    pub lang: &'a [&'a str],
    /// Channel.
    pub channel: &'a [&'a str],
    /// Product or app version.
    pub product: &'a [&'a str],
    /// Ticket status.
    pub status: &'a [&'a str],
    /// Customer tier.
    pub tier: &'a [&'a str],
    /// Tags.
    pub tags: &'a [&'a str],
}

/// The tolerant candidate paths of the generic mapper.
pub const GENERIC_PATHS: Paths<'static> = Paths {
    id: &[
        "id",
        "ticket_id",
        "review_id",
        "reviewId",
        "conversation_id",
        "uuid",
        "_id",
        "key",
    ],
    title: &[
        "subject",
        "title",
        "raw_subject",
        "attributes.title",
        "headline",
        "summary",
        "source.subject",
    ],
    text: &[
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
    ],
    date: &[
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
    ],
    rating: &[
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
    ],
    nps: &["nps", "nps_score", "likelihood_to_recommend"],
    lang: &[
        "lang",
        "language",
        "locale",
        "reviewerLanguage",
        "comments.0.userComment.reviewerLanguage",
    ],
    channel: &[
        "channel",
        "via.channel",
        "source_app",
        "platform",
        "source.type",
    ],
    product: &[
        "product",
        "product_name",
        "app",
        "version",
        "app_version",
        "appVersionName",
    ],
    status: &["status", "state"],
    tier: &["customer_tier", "tier", "plan", "segment"],
    tags: &["tags"],
};

/// How one mapper wants an item mapped: its paths and what it computed itself.
#[derive(Debug, Clone)]
pub struct Spec<'a> {
    /// Source name when `--source` is not given.
    pub source: &'a str,
    /// Candidate paths.
    pub paths: Paths<'a>,
    /// Text the mapper assembled itself (e.g. the requester's comments);
    /// `None` takes the first of `paths.text`.
    pub text: Option<String>,
    /// Top-level keys the mapper consumed itself (kept out of `extra`).
    pub consumed: &'a [&'a str],
    /// Kind when the item does not say; `None` guesses from the fields.
    pub kind: Option<Kind>,
    /// strftime-style format of dates (`--map` files), tried before the tolerant parser.
    pub date_format: Option<&'a str>,
    /// Fields added to `extra` (agent replies, territory, ...).
    pub extra: Map<String, Value>,
    /// Service metric paths a `--map` file names.
    pub service: ServicePaths<'a>,
}

impl<'a> Spec<'a> {
    /// A spec with these paths and nothing computed.
    pub fn new(source: &'a str, paths: Paths<'a>) -> Spec<'a> {
        Spec {
            source,
            paths,
            text: None,
            consumed: &[],
            kind: None,
            date_format: None,
            extra: Map::new(),
            service: ServicePaths::default(),
        }
    }
}

/// Reason prefix of an item with no text, which the file-level check looks for.
pub const NO_TEXT: &str = "no text";

/// Maps one object with a spec; `source_override` is `--source`.
pub fn map_with(
    obj: &Map<String, Value>,
    spec: Spec<'_>,
    source_override: Option<&str>,
    wrapper: Option<&str>,
) -> Result<Record, String> {
    let paths = spec.paths;
    let mut used: HashSet<String> = spec.consumed.iter().map(|k| k.to_string()).collect();
    let source = source_override.unwrap_or(spec.source).to_string();

    let title = text_field(obj, paths.title, &mut used)?.filter(|t| !t.trim().is_empty());
    let text = match spec.text {
        Some(t) => t,
        None => text_field(obj, paths.text, &mut used)?.unwrap_or_default(),
    };
    let text = if looks_like_html(&text) {
        html_to_text(&text)
    } else {
        text
    };
    let text = text.trim().to_string();
    if text.is_empty() && title.is_none() {
        let tried: Vec<&str> = paths.text.iter().take(6).copied().collect();
        return Err(format!(
            "{NO_TEXT}: none of {} holds any words (unknown layout? name the fields with --map FILE)",
            tried.join(", ")
        ));
    }

    let created_at = match first_present(obj, paths.date) {
        Some((path, v)) => {
            used.insert(top_key(obj, path));
            let parsed = spec
                .date_format
                .and_then(|f| v.as_str().and_then(|s| parse_date_with_format(s, f)))
                .or_else(|| parse_date_value(v));
            match parsed {
                Some(secs) => Some(secs),
                None => return Err(format!("bad date in `{path}`: {}", short(v))),
            }
        }
        None => None,
    };

    let service = service_metrics(obj, created_at, &spec.service)?;

    let rating = match first_present(obj, paths.rating) {
        Some((path, v)) => {
            used.insert(top_key(obj, path));
            parse_rating(path, v)?
        }
        None => None,
    };
    let nps = match first_present(obj, paths.nps) {
        Some((path, v)) => {
            used.insert(top_key(obj, path));
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

    let lang = scalar_field(obj, paths.lang, &mut used)
        .and_then(|code| Lang::from_code(&code))
        .unwrap_or_else(|| {
            detect_language(&format!("{} {}", title.as_deref().unwrap_or(""), text))
        });

    let id = match first_present(obj, paths.id) {
        Some((path, v)) => {
            used.insert(top_key(obj, path));
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
        .or_else(|| wrapper.and_then(Kind::parse))
        .or(spec.kind)
        .unwrap_or_else(|| {
            if rating.is_some() && !obj.contains_key("status") {
                Kind::Review
            } else {
                Kind::Ticket
            }
        });
    if obj.contains_key("kind") {
        used.insert("kind".to_string());
    }

    let channel = scalar_field(obj, paths.channel, &mut used);
    let product = scalar_field(obj, paths.product, &mut used);
    let status = scalar_field(obj, paths.status, &mut used);
    let customer_tier = scalar_field(obj, paths.tier, &mut used);
    let tags = tags_field(obj, paths.tags, &mut used);

    let mut extra: Map<String, Value> = obj
        .iter()
        .filter(|(k, _)| !used.contains(k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    extra.extend(spec.extra);

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
        duplicate_of: None,
        first_response_minutes: service.first_response_minutes,
        resolution_minutes: service.resolution_minutes,
        ces: service.ces,
    })
}

/// The top-level key a path was found under: the path itself when it is a
/// flat key (a CSV header with dots), else its first segment.
fn top_key(obj: &Map<String, Value>, path: &str) -> String {
    if obj.contains_key(path) {
        return path.to_string();
    }
    path.split('.').next().unwrap_or(path).to_string()
}

/// Follows a path into a value: the whole path as one key first (CSV
/// headers), then dotted (`comments.0.userComment.text`).
pub fn lookup<'v>(obj: &'v Map<String, Value>, path: &str) -> Option<&'v Value> {
    if let Some(v) = obj.get(path) {
        return Some(v);
    }
    if !path.contains('.') {
        return None;
    }
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

/// The string at a path, trimmed, when there is a non-empty one.
pub fn str_at<'v>(obj: &'v Map<String, Value>, path: &str) -> Option<&'v str> {
    lookup(obj, path)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

fn first_present<'v, 'p>(
    obj: &'v Map<String, Value>,
    paths: &[&'p str],
) -> Option<(&'p str, &'v Value)> {
    paths.iter().find_map(|p| {
        lookup(obj, p)
            .filter(|v| !v.is_null() && v.as_str().is_none_or(|s| !s.trim().is_empty()))
            .map(|v| (*p, v))
    })
}

/// The first candidate that holds a string. A number or boolean where text
/// belongs is a wrong type; objects and arrays are skipped (a `comment`
/// object in one export is not the text field of another).
fn text_field(
    obj: &Map<String, Value>,
    paths: &[&str],
    used: &mut HashSet<String>,
) -> Result<Option<String>, String> {
    let mut wrong: Option<String> = None;
    for path in paths {
        match lookup(obj, path) {
            Some(Value::String(s)) => {
                used.insert(top_key(obj, path));
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
    paths: &[&str],
    used: &mut HashSet<String>,
) -> Option<String> {
    for path in paths {
        let value = match lookup(obj, path) {
            Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_string(),
            Some(Value::Number(n)) => n.to_string(),
            _ => continue,
        };
        used.insert(top_key(obj, path));
        return Some(value);
    }
    None
}

fn tags_field(obj: &Map<String, Value>, paths: &[&str], used: &mut HashSet<String>) -> Vec<String> {
    let Some((path, value)) = first_present(obj, paths) else {
        return Vec::new();
    };
    used.insert(top_key(obj, path));
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

/// A number, or a number written as a string.
pub fn number(v: &Value) -> Option<f64> {
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

/// Whether a body looks like HTML worth stripping.
pub fn looks_like_html(text: &str) -> bool {
    text.contains('<')
        && text.contains('>')
        && (text.contains("</") || text.contains("<br") || text.contains("<p"))
        || text.contains("&amp;")
        || text.contains("&nbsp;")
}

/// The JSON kind of a value, for messages.
pub fn json_kind(v: &Value) -> &'static str {
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
        let Value::Object(obj) = v else {
            panic!("not an object")
        };
        map_with(&obj, Spec::new("generic", GENERIC_PATHS), None, None)
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
        assert!(e.starts_with(NO_TEXT) && e.contains("--map"), "{e}");
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
    fn flat_keys_with_dots_are_found_before_nesting() {
        let r = map(json!({"id": "1", "text": "hi", "via.channel": "web"})).unwrap();
        assert_eq!(r.channel.as_deref(), Some("web"));
        assert!(r.extra.is_empty(), "{:?}", r.extra);
    }

    #[test]
    fn empty_strings_count_as_absent() {
        let r = map(json!({"id": "1", "text": "hi", "rating": "", "date": ""})).unwrap();
        assert_eq!(r.rating, None);
        assert_eq!(r.created_at, None);
    }
}
