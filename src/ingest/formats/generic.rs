//! The generic mapper: tolerant candidate paths for JSON and CSV layouts no
//! vendor mapper recognises.

use serde_json::{Map, Value};

use crate::ingest::mapping::{map_with, Spec, GENERIC_PATHS};
use crate::record::Record;

/// How the generic mapper maps fields.
pub const DESCRIPTION: &str = "first present of: id ← id|ticket_id|review_id|reviewId|uuid|…; \
title ← subject|title|headline|…; text ← description_text|description|body|text|content|comment|review|message|…; \
created_at ← created_at|createdAt|date|timestamp|…; rating ← rating|stars|star_rating|…; \
nps ← nps|nps_score; everything else → extra";

/// Maps an item with the generic candidate paths.
pub fn map(
    obj: &Map<String, Value>,
    source: Option<&str>,
    wrapper: Option<&str>,
) -> Result<Record, String> {
    map_with(obj, Spec::new("generic", GENERIC_PATHS), source, wrapper)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Kind;
    use serde_json::json;

    #[test]
    fn generic_item_maps() {
        let Value::Object(obj) = json!({"uuid": "u1", "headline": "Slow", "message": "App is slow",
            "date": "2026-09-01", "stars": "2", "plan": "pro"})
        else {
            unreachable!()
        };
        let r = map(&obj, None, None).unwrap();
        assert_eq!(r.id, "u1");
        assert_eq!(r.source, "generic");
        assert_eq!(r.title.as_deref(), Some("Slow"));
        assert_eq!(r.text, "App is slow");
        assert_eq!(r.rating, Some(2.0));
        assert_eq!(r.kind, Kind::Review);
        assert_eq!(r.customer_tier.as_deref(), Some("pro"));
    }
}
