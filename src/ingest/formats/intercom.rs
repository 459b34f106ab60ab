//! Intercom conversations (`GET /conversations/{id}`): the opening message
//! is `source.body` (HTML) by `source.author`; replies are
//! `conversation_parts.conversation_parts[]`, each with `author.type`.
//! Parts by the customer (`user`, `lead`, `contact`) are the customer's
//! voice; parts by `admin`, `bot` or `team` go to `extra.agent_replies`.
//! Dates are Unix seconds.

use serde_json::{json, Map, Value};

use super::{body_text, join_messages};
use crate::ingest::mapping::{lookup, map_with, Paths, Spec};
use crate::record::{Kind, Record};

/// How the Intercom mapper maps fields.
pub const DESCRIPTION: &str = "id ← id; title ← title|source.subject; text ← source.body (HTML) + conversation parts \
by author.type user/lead/contact (admin/bot parts → extra.agent_replies); created_at ← created_at (Unix seconds); \
rating ← conversation_rating.rating; status ← state; channel ← source.type; tags ← tags.tags[].name";

const PATHS: Paths<'static> = Paths {
    id: &["id"],
    title: &["title", "source.subject"],
    text: &["source.body"],
    date: &["created_at"],
    rating: &["conversation_rating.rating"],
    nps: &[],
    lang: &[],
    channel: &["source.type"],
    product: &[],
    status: &["state"],
    tier: &[],
    tags: &["tags"],
};

fn is_customer(author: Option<&Value>) -> bool {
    let kind = author
        .and_then(|a| a.get("type"))
        .and_then(Value::as_str)
        .unwrap_or("user");
    matches!(kind, "user" | "lead" | "contact")
}

/// Maps an Intercom conversation.
pub fn map(
    obj: &Map<String, Value>,
    source: Option<&str>,
    wrapper: Option<&str>,
) -> Result<Record, String> {
    let mut spec = Spec::new("intercom", PATHS);
    spec.kind = Some(Kind::Chat);
    let mut customer: Vec<String> = Vec::new();
    let mut agent: Vec<Value> = Vec::new();
    if let Some(body) = lookup(obj, "source.body").and_then(Value::as_str) {
        let text = body_text(body);
        if is_customer(lookup(obj, "source.author")) {
            customer.push(text);
        } else if !text.is_empty() {
            agent.push(json!({"author": lookup(obj, "source.author"), "text": text}));
        }
    }
    let parts = match obj.get("conversation_parts") {
        Some(Value::Object(p)) => p.get("conversation_parts").and_then(Value::as_array),
        Some(Value::Array(a)) => Some(a),
        _ => None,
    };
    for part in parts.into_iter().flatten() {
        let Some(body) = part.get("body").and_then(Value::as_str) else {
            continue;
        };
        let text = body_text(body);
        if text.is_empty() {
            continue;
        }
        if is_customer(part.get("author")) {
            customer.push(text);
        } else {
            agent.push(json!({
                "id": part.get("id"),
                "part_type": part.get("part_type"),
                "author": part.get("author"),
                "created_at": part.get("created_at"),
                "text": text,
            }));
        }
    }
    spec.text = Some(join_messages(customer));
    spec.consumed = &["conversation_parts"];
    if !agent.is_empty() {
        spec.extra
            .insert("agent_replies".into(), Value::Array(agent));
    }
    map_with(obj, spec, source, wrapper)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(o) => o,
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn user_parts_are_text_and_admin_parts_are_not() {
        let r = map(
            &obj(json!({
                "type": "conversation", "id": "1911149811", "created_at": 1788340000,
                "state": "closed", "title": null,
                "source": {"type": "conversation", "delivered_as": "customer_initiated",
                           "subject": "", "body": "<p>I can&#39;t log in since the update</p>",
                           "author": {"type": "user", "id": "u1"}},
                "conversation_rating": {"rating": 2, "remark": "slow"},
                "tags": {"type": "tag.list", "tags": [{"type": "tag", "name": "login"}]},
                "conversation_parts": {"type": "conversation_part.list", "total_count": 3,
                  "conversation_parts": [
                    {"id": "p1", "part_type": "comment", "body": "<p>Have you tried resetting?</p>",
                     "author": {"type": "admin", "id": "a1"}, "created_at": 1788340100},
                    {"id": "p2", "part_type": "comment", "body": "<p>Yes, still locked out</p>",
                     "author": {"type": "user", "id": "u1"}, "created_at": 1788340200},
                    {"id": "p3", "part_type": "comment", "body": "Our bot says hi",
                     "author": {"type": "bot", "id": "b1"}},
                    {"id": "p4", "part_type": "close", "body": null, "author": {"type": "admin"}}
                  ]}
            })),
            None,
            Some("conversations"),
        )
        .unwrap();
        assert_eq!(r.id, "1911149811");
        assert_eq!(r.source, "intercom");
        assert_eq!(r.kind, Kind::Chat);
        assert_eq!(
            r.text,
            "I can't log in since the update\n\nYes, still locked out"
        );
        assert_eq!(r.created_at, Some(1_788_340_000));
        assert_eq!(r.rating, Some(2.0));
        assert_eq!(r.status.as_deref(), Some("closed"));
        assert_eq!(r.tags, ["login"]);
        assert_eq!(r.extra["agent_replies"].as_array().map(Vec::len), Some(2));
        assert!(!r.text.contains("resetting") && !r.text.contains("bot"));
    }
}
