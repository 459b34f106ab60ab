//! Freshdesk tickets (`GET /api/v2/tickets`, optionally with
//! `include=conversations`). Status, source and priority arrive as codes and
//! are mapped to names; `description_text` is preferred over the HTML
//! `description`. Conversations marked `incoming` and not `private` are the
//! customer's; the rest go to `extra.agent_replies`.

use serde_json::{json, Map, Value};

use super::{body_text, join_messages};
use crate::ingest::mapping::{lookup, map_with, number, str_at, Paths, Spec};
use crate::record::{Kind, Record};

/// How the Freshdesk mapper maps fields.
pub const DESCRIPTION: &str = "id ← id; title ← subject; text ← description_text|description (HTML) + incoming public \
conversations (others → extra.agent_replies); created_at ← created_at; status ← status (2 Open, 3 Pending, 4 Resolved, \
5 Closed); channel ← source (1 email, 2 portal, 3 phone, 7 chat, 9 widget, 10 outbound); extra.priority ← priority \
(1 Low … 4 Urgent); tags ← tags";

const PATHS: Paths<'static> = Paths {
    id: &["id"],
    title: &["subject"],
    text: &["description_text", "description"],
    date: &["created_at"],
    rating: &[],
    nps: &[],
    lang: &[],
    channel: &[],
    product: &[],
    status: &[],
    tier: &[],
    tags: &["tags"],
};

/// Name of a Freshdesk status code.
pub fn status_name(code: i64) -> Option<&'static str> {
    Some(match code {
        2 => "open",
        3 => "pending",
        4 => "resolved",
        5 => "closed",
        6 => "waiting on customer",
        7 => "waiting on third party",
        _ => return None,
    })
}

/// Name of a Freshdesk source (channel) code.
pub fn source_name(code: i64) -> Option<&'static str> {
    Some(match code {
        1 => "email",
        2 => "portal",
        3 => "phone",
        7 => "chat",
        9 => "feedback widget",
        10 => "outbound email",
        _ => return None,
    })
}

/// Name of a Freshdesk priority code.
pub fn priority_name(code: i64) -> Option<&'static str> {
    Some(match code {
        1 => "low",
        2 => "medium",
        3 => "high",
        4 => "urgent",
        _ => return None,
    })
}

/// A coded field as a name: known codes named, unknown codes and text kept as they are.
fn coded(
    obj: &Map<String, Value>,
    key: &str,
    names: fn(i64) -> Option<&'static str>,
) -> Option<String> {
    let v = lookup(obj, key)?;
    if let Some(n) = number(v) {
        return Some(
            names(n as i64)
                .map(str::to_string)
                .unwrap_or_else(|| format!("{n}")),
        );
    }
    v.as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_lowercase)
}

/// Maps a Freshdesk ticket.
pub fn map(
    obj: &Map<String, Value>,
    source: Option<&str>,
    wrapper: Option<&str>,
) -> Result<Record, String> {
    let mut consumed = vec![
        "description_text",
        "description",
        "status",
        "source",
        "priority",
    ];
    if obj.contains_key("conversations") {
        consumed.push("conversations");
    }
    let mut spec = Spec::new("freshdesk", PATHS);
    spec.kind = Some(Kind::Ticket);
    spec.consumed = &consumed;
    let description = str_at(obj, "description_text")
        .or_else(|| str_at(obj, "description"))
        .map(body_text);
    if let Some(Value::Array(conversations)) = obj.get("conversations") {
        let mut customer: Vec<String> = description.into_iter().collect();
        let mut agent: Vec<Value> = Vec::new();
        for c in conversations {
            let body = c
                .get("body_text")
                .and_then(Value::as_str)
                .filter(|s| !s.trim().is_empty())
                .or_else(|| c.get("body").and_then(Value::as_str))
                .map(body_text)
                .unwrap_or_default();
            let incoming = c.get("incoming").and_then(Value::as_bool).unwrap_or(false);
            let private = c.get("private").and_then(Value::as_bool).unwrap_or(false);
            if incoming && !private {
                customer.push(body);
            } else {
                agent.push(json!({
                    "id": c.get("id"),
                    "user_id": c.get("user_id"),
                    "private": private,
                    "created_at": c.get("created_at"),
                    "text": body,
                }));
            }
        }
        spec.text = Some(join_messages(customer));
        if !agent.is_empty() {
            spec.extra
                .insert("agent_replies".into(), Value::Array(agent));
        }
    } else {
        spec.text = description;
    }
    if let Some(p) = coded(obj, "priority", priority_name) {
        spec.extra.insert("priority".into(), Value::String(p));
    }
    let status = coded(obj, "status", status_name);
    let channel = coded(obj, "source", source_name);
    let mut record = map_with(obj, spec, source, wrapper)?;
    record.status = status;
    record.channel = channel;
    Ok(record)
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
    fn codes_become_names() {
        let r = map(
            &obj(json!({
                "id": 1204, "subject": "Charged twice", "description": "<div>I was charged twice</div>",
                "description_text": "I was charged twice", "status": 2, "priority": 3, "source": 7,
                "requester_id": 11, "responder_id": 12, "tags": ["billing"],
                "created_at": "2026-09-05T08:30:00Z", "custom_fields": {"cf_order": "A-1"}
            })),
            None,
            None,
        )
        .unwrap();
        assert_eq!(r.id, "1204");
        assert_eq!(r.source, "freshdesk");
        assert_eq!(r.text, "I was charged twice");
        assert_eq!(r.status.as_deref(), Some("open"));
        assert_eq!(r.channel.as_deref(), Some("chat"));
        assert_eq!(r.extra["priority"], "high");
        assert_eq!(r.extra["custom_fields"]["cf_order"], "A-1");
        assert!(!r.extra.contains_key("description"));
    }

    #[test]
    fn codes_as_strings_and_unknown_codes() {
        let r = map(
            &obj(json!({"id": "9", "description_text": "x", "status": "5", "source": 99})),
            None,
            None,
        )
        .unwrap();
        assert_eq!(r.status.as_deref(), Some("closed"));
        assert_eq!(r.channel.as_deref(), Some("99"));
    }

    #[test]
    fn outgoing_and_private_conversations_are_agent_replies() {
        let r = map(
            &obj(json!({"id": 3, "description_text": "Where is my parcel?", "status": 3, "conversations": [
                {"id": 1, "body_text": "It ships tomorrow.", "incoming": false, "private": false},
                {"id": 2, "body_text": "note to self", "incoming": false, "private": true},
                {"id": 3, "body_text": "Still nothing a week later.", "incoming": true, "private": false}
            ]})),
            None,
            None,
        )
        .unwrap();
        assert_eq!(r.text, "Where is my parcel?\n\nStill nothing a week later.");
        assert_eq!(r.extra["agent_replies"].as_array().map(Vec::len), Some(2));
        assert_eq!(r.status.as_deref(), Some("pending"));
    }
}
