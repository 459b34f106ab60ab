//! Zendesk tickets: the Tickets API and the incremental export
//! (`{"tickets": [...]}`), optionally with the ticket's comments inlined
//! (`comments: [{id, author_id, body, html_body, plain_body, public, created_at}]`).
//!
//! The customer's voice is the description (the first comment) plus the
//! public comments the requester wrote; every other comment (agents, private
//! notes) goes to `extra.agent_replies`: stored, never analysed. Without a
//! `requester_id` the author of the first comment is taken as the requester.

use serde_json::{json, Map, Value};

use super::{body_text, fold, join_messages};
use crate::ingest::mapping::{map_with, str_at, Paths, Spec};
use crate::record::{Kind, Record};

/// How the Zendesk mapper maps fields.
pub const DESCRIPTION: &str = "id ← id; title ← subject|raw_subject; text ← description + the requester's public comments \
(other comments → extra.agent_replies); created_at ← created_at; rating ← satisfaction_rating.score (good 5, bad 1); \
channel ← via.channel; status ← status; tags ← tags; satisfaction_rating.comment → extra.satisfaction_comment; \
priority, updated_at, … → extra";

const PATHS: Paths<'static> = Paths {
    id: &["id"],
    title: &["subject", "raw_subject"],
    text: &["description"],
    date: &["created_at"],
    rating: &["satisfaction_rating.score", "satisfaction_rating"],
    nps: &[],
    lang: &["locale"],
    channel: &["via.channel"],
    product: &[],
    status: &["status"],
    tier: &[],
    tags: &["tags"],
};

/// Maps a Zendesk ticket.
pub fn map(
    obj: &Map<String, Value>,
    source: Option<&str>,
    wrapper: Option<&str>,
) -> Result<Record, String> {
    let mut spec = Spec::new("zendesk", PATHS);
    spec.kind = Some(Kind::Ticket);
    // The CSAT comment is the customer's, but a verdict on support rather than
    // the issue: kept beside the record, not analysed with the ticket text.
    if let Some(c) = str_at(obj, "satisfaction_rating.comment") {
        spec.extra.insert("satisfaction_comment".into(), json!(c));
    }
    if let Some(Value::Array(comments)) = obj.get("comments") {
        let requester = obj
            .get("requester_id")
            .filter(|v| !v.is_null())
            .or_else(|| comments.first().and_then(|c| c.get("author_id")))
            .map(id_text);
        let mut customer: Vec<String> = Vec::new();
        if let Some(d) = str_at(obj, "description") {
            customer.push(body_text(d));
        }
        let mut agent: Vec<Value> = Vec::new();
        for comment in comments {
            let body = comment_body(comment);
            let author = comment.get("author_id").map(id_text);
            let public = comment
                .get("public")
                .and_then(Value::as_bool)
                .unwrap_or(true);
            if public && author.is_some() && author == requester {
                customer.push(body);
            } else {
                agent.push(json!({
                    "id": comment.get("id"),
                    "author_id": comment.get("author_id"),
                    "public": public,
                    "created_at": comment.get("created_at"),
                    "text": body,
                }));
            }
        }
        // The description is the first comment: keep it once.
        let first = customer.first().map(|d| fold(d));
        let mut parts = Vec::with_capacity(customer.len());
        for (i, c) in customer.into_iter().enumerate() {
            if i > 0 && Some(fold(&c)) == first {
                continue;
            }
            parts.push(c);
        }
        spec.text = Some(join_messages(parts));
        spec.consumed = &["comments", "description"];
        if !agent.is_empty() {
            spec.extra
                .insert("agent_replies".into(), Value::Array(agent));
        }
    } else if let Some(d) = str_at(obj, "description") {
        spec.text = Some(body_text(d));
        spec.consumed = &["description"];
    }
    map_with(obj, spec, source, wrapper)
}

fn comment_body(comment: &Value) -> String {
    let text = ["plain_body", "body", "html_body"]
        .iter()
        .find_map(|k| {
            comment
                .get(*k)
                .and_then(Value::as_str)
                .filter(|s| !s.trim().is_empty())
        })
        .unwrap_or("");
    body_text(text)
}

fn id_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.trim().to_string(),
        other => other.to_string(),
    }
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
    fn ticket_fields_map() {
        let r = map(
            &obj(json!({
                "id": 35436, "subject": "Refund", "description": "Where is my refund?",
                "created_at": "2026-09-01T10:00:00Z", "updated_at": "2026-09-02T10:00:00Z",
                "status": "open", "priority": "high", "tags": ["billing"],
                "via": {"channel": "email"}, "satisfaction_rating": {"score": "bad"}
            })),
            None,
            Some("tickets"),
        )
        .unwrap();
        assert_eq!(r.id, "35436");
        assert_eq!(r.source, "zendesk");
        assert_eq!(r.kind, Kind::Ticket);
        assert_eq!(r.rating, Some(1.0));
        assert_eq!(r.channel.as_deref(), Some("email"));
        assert_eq!(r.status.as_deref(), Some("open"));
        assert_eq!(r.tags, ["billing"]);
        assert_eq!(r.lang, Lang::En);
        assert_eq!(r.created_at, Some(1_788_256_800));
        assert_eq!(r.extra.get("priority"), Some(&json!("high")));
        assert!(!r.extra.contains_key("satisfaction_comment"));
        assert!(r.extra.contains_key("updated_at"));
    }

    #[test]
    fn only_requester_comments_are_text() {
        let r = map(
            &obj(json!({
                "id": 7, "subject": "Broken lid", "requester_id": 501,
                "description": "The lid arrived cracked.",
                "created_at": "2026-09-01T10:00:00Z",
                "comments": [
                    {"id": 1, "author_id": 501, "public": true, "plain_body": "The lid arrived cracked."},
                    {"id": 2, "author_id": 900, "public": true, "plain_body": "Sorry! We will send a new one."},
                    {"id": 3, "author_id": 900, "public": false, "body": "internal: check stock"},
                    {"id": 4, "author_id": 501, "public": true,
                     "html_body": "<p>Still waiting for the new lid.</p><blockquote>Sorry! We will send</blockquote>"}
                ]
            })),
            None,
            None,
        )
        .unwrap();
        assert_eq!(
            r.text,
            "The lid arrived cracked.\n\nStill waiting for the new lid."
        );
        let agent = r.extra["agent_replies"].as_array().unwrap();
        assert_eq!(agent.len(), 2);
        assert_eq!(agent[0]["text"], "Sorry! We will send a new one.");
        assert!(!r.text.contains("Sorry"));
        assert!(!r.extra.contains_key("comments"));
    }

    #[test]
    fn without_requester_id_the_first_author_is_the_customer() {
        let r = map(
            &obj(json!({"id": 8, "via": {"channel": "web"}, "comments": [
                {"author_id": "c1", "body": "App crashes on start"},
                {"author_id": "a9", "body": "Try reinstalling"},
                {"author_id": "c1", "body": "Reinstalled, still crashes\n\nSent from my iPhone"}
            ]})),
            None,
            None,
        )
        .unwrap();
        assert_eq!(r.text, "App crashes on start\n\nReinstalled, still crashes");
    }
}
