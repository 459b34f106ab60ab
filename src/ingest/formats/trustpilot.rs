//! Trustpilot-style reviews: `id, stars, title, text, language, createdAt,
//! consumer{displayName}, companyReply{text, createdAt}`. The company's reply
//! goes to `extra.agent_replies`.

use serde_json::{json, Map, Value};

use crate::ingest::mapping::{lookup, map_with, str_at, Paths, Spec};
use crate::record::{Kind, Record};

/// How the Trustpilot mapper maps fields.
pub const DESCRIPTION: &str =
    "id ← id; title ← title; text ← text; rating ← stars; created_at ← createdAt; \
lang ← language; extra.reviewer ← consumer.displayName; companyReply → extra.agent_replies";

const PATHS: Paths<'static> = Paths {
    id: &["id", "referenceId"],
    title: &["title"],
    text: &["text", "content"],
    date: &["createdAt", "created_at", "date"],
    rating: &["stars", "rating"],
    nps: &[],
    lang: &["language"],
    channel: &[],
    product: &[],
    status: &["status"],
    tier: &[],
    tags: &["tags"],
};

/// Maps a Trustpilot review.
pub fn map(
    obj: &Map<String, Value>,
    source: Option<&str>,
    wrapper: Option<&str>,
) -> Result<Record, String> {
    let mut spec = Spec::new("trustpilot", PATHS);
    spec.kind = Some(Kind::Review);
    spec.consumed = &["consumer", "companyReply"];
    if let Some(name) = str_at(obj, "consumer.displayName") {
        spec.extra.insert("reviewer".into(), json!(name));
    }
    if let Some(reply) = lookup(obj, "companyReply").filter(|v| !v.is_null()) {
        spec.extra.insert(
            "agent_replies".into(),
            json!([{"text": reply.get("text"), "created_at": reply.get("createdAt")}]),
        );
    }
    map_with(obj, spec, source, wrapper)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn review_maps_and_company_reply_is_kept_out() {
        let Value::Object(o) = json!({
            "id": "64f1a2b3c4", "stars": 1, "title": "Never again",
            "text": "Parcel lost, no refund.", "language": "en",
            "createdAt": "2026-10-02T09:15:00.000Z",
            "consumer": {"id": "c1", "displayName": "Sam"},
            "companyReply": {"text": "We are sorry to hear that", "createdAt": "2026-10-03T09:00:00Z"}
        }) else {
            unreachable!()
        };
        let r = map(&o, None, Some("reviews")).unwrap();
        assert_eq!(r.id, "64f1a2b3c4");
        assert_eq!(r.source, "trustpilot");
        assert_eq!(r.kind, Kind::Review);
        assert_eq!(r.rating, Some(1.0));
        assert_eq!(r.title.as_deref(), Some("Never again"));
        assert_eq!(r.text, "Parcel lost, no refund.");
        assert_eq!(r.extra["reviewer"], "Sam");
        assert_eq!(
            r.extra["agent_replies"][0]["text"],
            "We are sorry to hear that"
        );
        assert!(!r.extra.contains_key("companyReply"));
    }
}
