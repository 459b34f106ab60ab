//! Google Play reviews, in both shapes people have:
//! - the Reply to Reviews API: `reviewId, authorName, comments[]`, each
//!   comment a `userComment{text, lastModified{seconds}, starRating,
//!   reviewerLanguage, appVersionName, device, …}` or a
//!   `developerComment{text, lastModified}` (the developer's reply, kept in
//!   `extra.agent_replies`);
//! - the Play Console monthly reviews CSV (UTF-16): `Package Name, App Version
//!   Name, Reviewer Language, Review Submit Millis Since Epoch, Star Rating,
//!   Review Title, Review Text, Developer Reply Text, Review Link, …`.

use serde_json::{json, Map, Value};

use crate::ingest::mapping::{map_with, str_at, Paths, Spec};
use crate::record::{Kind, Record};

/// How the Google Play mapper maps fields.
pub const DESCRIPTION: &str = "API: id ← reviewId; text ← comments[].userComment.text; rating ← userComment.starRating; \
created_at ← userComment.lastModified.seconds; lang ← userComment.reviewerLanguage; product ← userComment.appVersionName; \
developerComment → extra.agent_replies. Console CSV: text ← Review Text; title ← Review Title; rating ← Star Rating; \
created_at ← Review Submit Millis Since Epoch|Review Submit Date and Time; lang ← Reviewer Language; \
product ← App Version Name; id ← Review Link (else a content hash); Developer Reply Text → extra.agent_replies";

const API_PATHS: Paths<'static> = Paths {
    id: &["reviewId"],
    title: &[],
    text: &[],
    date: &[],
    rating: &[],
    nps: &[],
    lang: &[],
    channel: &[],
    product: &[],
    status: &[],
    tier: &[],
    tags: &[],
};

const CSV_PATHS: Paths<'static> = Paths {
    id: &["Review Link", "reviewId"],
    title: &["Review Title"],
    text: &["Review Text"],
    date: &[
        "Review Submit Millis Since Epoch",
        "Review Submit Date and Time",
        "Review Last Update Millis Since Epoch",
    ],
    rating: &["Star Rating"],
    nps: &[],
    lang: &["Reviewer Language"],
    channel: &[],
    product: &["App Version Name", "App Version Code"],
    status: &[],
    tier: &[],
    tags: &[],
};

/// Whether a (CSV) row has the Play Console report's columns.
pub fn is_console_row(obj: &Map<String, Value>) -> bool {
    obj.contains_key("Star Rating")
        && (obj.contains_key("Review Text") || obj.contains_key("Package Name"))
}

/// Maps a Google Play review (API object or Console CSV row).
pub fn map(
    obj: &Map<String, Value>,
    source: Option<&str>,
    wrapper: Option<&str>,
) -> Result<Record, String> {
    if is_console_row(obj) && !obj.contains_key("comments") {
        return map_console_row(obj, source, wrapper);
    }
    // Flatten the user comment into the item so the core finds its fields.
    let comments = obj
        .get("comments")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let user = comments
        .iter()
        .find_map(|c| c.get("userComment").and_then(Value::as_object));
    let developer: Vec<Value> = comments
        .iter()
        .filter_map(|c| c.get("developerComment"))
        .map(|d| {
            json!({
                "text": d.get("text"),
                "last_modified": d.get("lastModified").and_then(|m| m.get("seconds")),
            })
        })
        .collect();
    let mut flat = obj.clone();
    flat.remove("comments");
    let mut spec = Spec::new("googleplay", API_PATHS);
    spec.kind = Some(Kind::Review);
    spec.consumed = &["userComment"];
    let paths = Paths {
        text: &["userComment.text", "userComment.originalText"],
        date: &[
            "userComment.lastModified.seconds",
            "userComment.lastModified",
        ],
        rating: &["userComment.starRating"],
        lang: &["userComment.reviewerLanguage"],
        product: &["userComment.appVersionName", "userComment.appVersionCode"],
        ..API_PATHS
    };
    spec.paths = paths;
    if let Some(user) = user {
        for key in [
            "device",
            "androidOsVersion",
            "thumbsUpCount",
            "thumbsDownCount",
        ] {
            if let Some(v) = user.get(key) {
                spec.extra.insert(key.into(), v.clone());
            }
        }
        flat.insert("userComment".into(), Value::Object(user.clone()));
    }
    if let Some(name) = str_at(obj, "authorName") {
        spec.extra.insert("reviewer".into(), json!(name));
        flat.remove("authorName");
    }
    if !developer.is_empty() {
        spec.extra
            .insert("agent_replies".into(), Value::Array(developer));
    }
    let mut record = map_with(&flat, spec, source, wrapper)?;
    record.channel = Some("google_play".into());
    Ok(record)
}

fn map_console_row(
    obj: &Map<String, Value>,
    source: Option<&str>,
    wrapper: Option<&str>,
) -> Result<Record, String> {
    let mut spec = Spec::new("googleplay", CSV_PATHS);
    spec.kind = Some(Kind::Review);
    spec.consumed = &[
        "Developer Reply Text",
        "Developer Reply Date and Time",
        "Developer Reply Millis Since Epoch",
    ];
    if let Some(reply) = str_at(obj, "Developer Reply Text") {
        spec.extra.insert(
            "agent_replies".into(),
            json!([{"text": reply, "created_at": str_at(obj, "Developer Reply Date and Time")}]),
        );
    }
    let mut record = map_with(obj, spec, source, wrapper)?;
    record.channel = Some("google_play".into());
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::Lang;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(o) => o,
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn api_review_maps_and_developer_reply_is_kept_out() {
        let r = map(
            &obj(json!({
                "reviewId": "gp:AOqpTOH1", "authorName": "Lee",
                "comments": [
                    {"userComment": {"text": "\tCrashes when I open the camera", "lastModified": {"seconds": "1788340000", "nanos": 0},
                     "starRating": 1, "reviewerLanguage": "en", "device": "a52", "androidOsVersion": 34,
                     "appVersionCode": 5300, "appVersionName": "5.3.0", "thumbsUpCount": 3}},
                    {"developerComment": {"text": "Please update to 5.3.1", "lastModified": {"seconds": "1788400000"}}}
                ]
            })),
            None,
            Some("reviews"),
        )
        .unwrap();
        assert_eq!(r.id, "gp:AOqpTOH1");
        assert_eq!(r.source, "googleplay");
        assert_eq!(r.text, "Crashes when I open the camera");
        assert_eq!(r.rating, Some(1.0));
        assert_eq!(r.created_at, Some(1_788_340_000));
        assert_eq!(r.lang, Lang::En);
        assert_eq!(r.product.as_deref(), Some("5.3.0"));
        assert_eq!(r.extra["reviewer"], "Lee");
        assert_eq!(r.extra["device"], "a52");
        assert_eq!(
            r.extra["agent_replies"][0]["text"],
            "Please update to 5.3.1"
        );
        assert!(!r.extra.contains_key("comments") && !r.extra.contains_key("userComment"));
    }

    #[test]
    fn console_csv_row_maps() {
        let r = map(
            &obj(json!({
                "Package Name": "com.example.shop", "App Version Name": "5.3.0",
                "Reviewer Language": "zh", "Review Submit Millis Since Epoch": "1788340000000",
                "Star Rating": "2", "Review Text": "支付总是失败", "Developer Reply Text": "已修复",
                "Review Link": "https://play.google.com/x?reviewId=abc"
            })),
            None,
            None,
        )
        .unwrap();
        assert_eq!(r.id, "https://play.google.com/x?reviewId=abc");
        assert_eq!(r.text, "支付总是失败");
        assert_eq!(r.rating, Some(2.0));
        assert_eq!(r.created_at, Some(1_788_340_000));
        assert_eq!(r.lang, Lang::Zh);
        assert_eq!(r.product.as_deref(), Some("5.3.0"));
        assert_eq!(r.extra["agent_replies"][0]["text"], "已修复");
        assert_eq!(r.extra["Package Name"], "com.example.shop");
    }
}
