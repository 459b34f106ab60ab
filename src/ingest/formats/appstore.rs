//! App Store Connect `customerReviews`: `{"data": [{"type": "customerReviews",
//! "id", "attributes": {rating, title, body, reviewerNickname, createdDate,
//! territory}}]}`. The developer response, when an export inlines it
//! (`response.responseBody` or `attributes.response`), goes to
//! `extra.agent_replies`. The territory (a country code, not a language) is
//! kept in `extra.territory`; the language is detected from the text.

use serde_json::{json, Map, Value};

use crate::ingest::mapping::{lookup, map_with, str_at, Paths, Spec};
use crate::record::{Kind, Record};

/// How the App Store mapper maps fields.
pub const DESCRIPTION: &str = "id ← id; title ← attributes.title; text ← attributes.body; rating ← attributes.rating; \
created_at ← attributes.createdDate; product ← attributes.version|version; extra.territory ← attributes.territory; \
extra.reviewer ← attributes.reviewerNickname; channel = app_store; developer response → extra.agent_replies";

const PATHS: Paths<'static> = Paths {
    id: &["id"],
    title: &["attributes.title"],
    text: &["attributes.body"],
    date: &["attributes.createdDate"],
    rating: &["attributes.rating"],
    nps: &[],
    lang: &[],
    channel: &[],
    product: &["attributes.version", "version", "appVersionString"],
    status: &[],
    tier: &[],
    tags: &[],
};

/// Maps an App Store review.
pub fn map(
    obj: &Map<String, Value>,
    source: Option<&str>,
    wrapper: Option<&str>,
) -> Result<Record, String> {
    let mut spec = Spec::new("appstore", PATHS);
    spec.kind = Some(Kind::Review);
    spec.consumed = &["attributes", "type", "relationships", "links", "response"];
    if let Some(t) = str_at(obj, "attributes.territory") {
        spec.extra.insert("territory".into(), json!(t));
    }
    if let Some(n) = str_at(obj, "attributes.reviewerNickname") {
        spec.extra.insert("reviewer".into(), json!(n));
    }
    let response = str_at(obj, "response.attributes.responseBody")
        .or_else(|| str_at(obj, "response.responseBody"))
        .or_else(|| str_at(obj, "attributes.response"));
    if let Some(text) = response {
        spec.extra
            .insert("agent_replies".into(), json!([{ "text": text }]));
    }
    let mut record = map_with(obj, spec, source, wrapper)?;
    record.channel = Some("app_store".into());
    if record.product.is_none() {
        record.product = lookup(obj, "attributes.appVersionString")
            .and_then(Value::as_str)
            .map(str::to_string);
    }
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::Lang;

    #[test]
    fn customer_review_maps() {
        let Value::Object(o) = json!({
            "type": "customerReviews", "id": "00000041-c1f4-0001",
            "attributes": {"rating": 2, "title": "闪退", "body": "更新以后一打开就闪退",
                           "reviewerNickname": "小王", "createdDate": "2026-10-12T03:10:00-07:00",
                           "territory": "CHN"},
            "relationships": {"response": {"links": {}}},
            "response": {"responseBody": "我们正在修复"}
        }) else {
            unreachable!()
        };
        let r = map(&o, None, Some("data")).unwrap();
        assert_eq!(r.id, "00000041-c1f4-0001");
        assert_eq!(r.source, "appstore");
        assert_eq!(r.kind, Kind::Review);
        assert_eq!(r.rating, Some(2.0));
        assert_eq!(r.title.as_deref(), Some("闪退"));
        assert_eq!(r.text, "更新以后一打开就闪退");
        assert_eq!(r.lang, Lang::Zh);
        assert_eq!(r.channel.as_deref(), Some("app_store"));
        assert_eq!(r.extra["territory"], "CHN");
        assert_eq!(r.extra["agent_replies"][0]["text"], "我们正在修复");
        assert!(!r.extra.contains_key("attributes"));
    }
}
