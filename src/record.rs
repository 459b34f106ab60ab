//! The record: one customer voice item (ticket, review, survey answer, chat),
//! normalized from whatever export it came from.

use serde::{Deserialize, Serialize};

use crate::text::Lang;

/// What kind of item a record is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A support ticket.
    #[default]
    Ticket,
    /// A product or app review.
    Review,
    /// A survey answer (NPS, CSAT comment).
    Survey,
    /// A chat or messenger conversation.
    Chat,
}

impl Kind {
    /// The name used in outputs.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Ticket => "ticket",
            Kind::Review => "review",
            Kind::Survey => "survey",
            Kind::Chat => "chat",
        }
    }

    /// Parses a kind name.
    pub fn parse(name: &str) -> Option<Kind> {
        match name.trim().to_ascii_lowercase().as_str() {
            "ticket" | "tickets" => Some(Kind::Ticket),
            "review" | "reviews" => Some(Kind::Review),
            "survey" | "surveys" | "response" | "responses" => Some(Kind::Survey),
            "chat" | "chats" | "conversation" | "conversations" => Some(Kind::Chat),
            _ => None,
        }
    }
}

/// One normalized input item. `Default` is an empty ticket in language
/// `other`, for building records field by field.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Identifier, unique within its source.
    pub id: String,
    /// Where it came from (zendesk, appstore, generic, ...).
    pub source: String,
    /// Ticket, review, survey or chat.
    pub kind: Kind,
    /// Creation time as Unix seconds (UTC); `None` when the export had none.
    pub created_at: Option<i64>,
    /// Ticket subject or review title.
    pub title: Option<String>,
    /// The customer's own words.
    pub text: String,
    /// Stars 1 to 5 (CSAT good/bad mapped to 5/1).
    pub rating: Option<f64>,
    /// Net Promoter answer, 0 to 10.
    pub nps: Option<u8>,
    /// Language: from the export when given, else detected.
    pub lang: Lang,
    /// Channel (email, web, chat, ios, ...).
    pub channel: Option<String>,
    /// Product or app name/version.
    pub product: Option<String>,
    /// Ticket status.
    pub status: Option<String>,
    /// Tags from the help desk.
    pub tags: Vec<String>,
    /// Customer tier or plan.
    pub customer_tier: Option<String>,
    /// Every other field of the source item, kept but not analysed.
    pub extra: serde_json::Map<String, serde_json::Value>,
    /// Key (`source:id`) of an earlier record with the same customer text
    /// (a near-duplicate): still indexed, but left out of theme statistics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicate_of: Option<String>,
    /// Minutes from creation to the first agent reply, where the help desk
    /// exported its metrics (Zendesk `reply_time_in_minutes`, Intercom
    /// `time_to_admin_reply`, Freshdesk `stats.first_responded_at`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_response_minutes: Option<f64>,
    /// Minutes from creation to resolution: the full resolution (after
    /// reopens) where the export tells it apart from the first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution_minutes: Option<f64>,
    /// Customer Effort Score answer, 1 (very hard) to 7 (very easy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ces: Option<f64>,
}

impl Record {
    /// The index key: `source:id`.
    pub fn key(&self) -> String {
        // Built by hand: `format!` costs more, once per record and stage.
        let mut key = String::with_capacity(self.source.len() + 1 + self.id.len());
        key.push_str(&self.source);
        key.push(':');
        key.push_str(&self.id);
        key
    }

    /// Title and text joined, as analysed: the title is its own sentence.
    pub fn full_text(&self) -> String {
        match &self.title {
            Some(title) if !title.trim().is_empty() && !self.text.is_empty() => {
                format!("{}\n{}", title.trim_end(), self.text)
            }
            Some(title) if self.text.is_empty() => title.clone(),
            _ => self.text.clone(),
        }
    }

    /// A stable 64-bit hash of the record's content, to tell changed records apart.
    pub fn content_hash(&self) -> u64 {
        self.json_and_hash().1
    }

    /// The record's JSON (as the index stores it) and its
    /// [`Record::content_hash`], which is the hash of those bytes: a caller
    /// that stores the record too serializes it once.
    pub fn json_and_hash(&self) -> (Vec<u8>, u64) {
        let bytes = serde_json::to_vec(self).unwrap_or_default();
        let hash = fnv1a(&bytes);
        (bytes, hash)
    }
}

/// FNV-1a, 64 bits: stable across builds and platforms (unlike std's hasher).
pub fn fnv1a(bytes: &[u8]) -> u64 {
    fnv1a_continue(0xcbf2_9ce4_8422_2325, bytes)
}

/// FNV-1a of more bytes, continuing from the hash of those before them
/// (for files hashed block by block).
pub fn fnv1a_continue(mut hash: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Record {
        Record {
            id: "7".into(),
            source: "zendesk".into(),
            created_at: Some(1_700_000_000),
            title: Some("Refund".into()),
            text: "Where is my refund".into(),
            lang: Lang::En,
            ..Record::default()
        }
    }

    #[test]
    fn service_metrics_absent_leave_the_stored_form_and_hash_unchanged() {
        // Records indexed before these fields existed must hash the same.
        let json = serde_json::to_string(&sample()).unwrap();
        assert!(!json.contains("ces") && !json.contains("minutes"), "{json}");
        let mut timed = sample();
        timed.resolution_minutes = Some(90.0);
        assert_ne!(sample().content_hash(), timed.content_hash());
        let back: Record = serde_json::from_str(&serde_json::to_string(&timed).unwrap()).unwrap();
        assert_eq!(back, timed);
    }

    #[test]
    fn key_joins_source_and_id() {
        assert_eq!(sample().key(), "zendesk:7");
    }

    #[test]
    fn hash_changes_with_content_only() {
        let a = sample();
        let mut b = sample();
        assert_eq!(a.content_hash(), b.content_hash());
        b.text.push('!');
        assert_ne!(a.content_hash(), b.content_hash());
    }

    #[test]
    fn full_text_joins_title_as_a_sentence() {
        assert_eq!(sample().full_text(), "Refund\nWhere is my refund");
    }
}
