//! The values of one record's row in records.csv and the workbook's
//! Records sheet ([`RowFields`]), taken from a stored record or from the
//! row cache, whose compact encoding is defined here ([`RowFields::encode`]).
//!
//! Both writers take a [`RowFields`], so a row written from the cache is
//! the row written from the doc store. The cache holds the values as the
//! writers get them, after redaction for `--redact`: redaction runs regular
//! expressions over every text, too slow to repeat each night, so each
//! variant has its own cache files ([`row_cache_name`]).

use crate::index::StoredRecord;
use crate::record::fnv1a;
use crate::text::redact;

/// Layout of [`RowFields::encode`]; bump when it changes, so caches written
/// by another layout are rebuilt.
const ROW_FORMAT: u32 = 1;

/// The values of a record's row, borrowed from a stored record or a cached row.
#[derive(Debug, Clone, PartialEq)]
pub struct RowFields<'a> {
    /// Record id.
    pub id: &'a str,
    /// Source.
    pub source: &'a str,
    /// Kind (ticket, review, ...).
    pub kind: &'a str,
    /// Creation time, Unix seconds.
    pub created_at: Option<i64>,
    /// Language code.
    pub lang: &'a str,
    /// Stars.
    pub rating: Option<f64>,
    /// Combined sentiment score.
    pub sentiment_score: f64,
    /// Combined sentiment label.
    pub sentiment_label: &'a str,
    /// Text-only sentiment score.
    pub text_sentiment_score: f64,
    /// Theme ids, in taxonomy order.
    pub themes: Vec<&'a str>,
    /// Signal ids, in taxonomy order.
    pub signals: Vec<&'a str>,
    /// Title ("" when none).
    pub title: &'a str,
    /// Text.
    pub text: &'a str,
    /// Minutes to the first agent reply.
    pub first_response_minutes: Option<f64>,
    /// Minutes to resolution.
    pub resolution_minutes: Option<f64>,
    /// Customer Effort Score.
    pub ces: Option<f64>,
}

/// A stored record's title and text with personal data masked, for
/// [`RowFields::of_redacted`].
#[derive(Debug, Clone)]
pub struct RedactedText {
    title: String,
    text: String,
}

impl RedactedText {
    /// Masks the title and text of a stored record ([`crate::text::redact`]).
    pub fn of(stored: &StoredRecord) -> RedactedText {
        RedactedText {
            title: stored
                .record
                .title
                .as_deref()
                .map(redact)
                .unwrap_or_default(),
            text: redact(&stored.record.text),
        }
    }
}

impl<'a> RowFields<'a> {
    /// The row of a stored record.
    pub fn of(stored: &'a StoredRecord) -> RowFields<'a> {
        let r = &stored.record;
        let a = &stored.analysis;
        RowFields {
            id: &r.id,
            source: &r.source,
            kind: r.kind.as_str(),
            created_at: r.created_at,
            lang: a.lang.as_str(),
            rating: r.rating,
            sentiment_score: a.sentiment.score,
            sentiment_label: a.sentiment.label.as_str(),
            text_sentiment_score: a.text_sentiment.score,
            themes: a.themes.iter().map(|t| t.id.as_str()).collect(),
            signals: a.signals.iter().map(|s| s.id.as_str()).collect(),
            title: r.title.as_deref().unwrap_or(""),
            text: &r.text,
            first_response_minutes: r.first_response_minutes,
            resolution_minutes: r.resolution_minutes,
            ces: r.ces,
        }
    }

    /// The row of a stored record with its title and text masked.
    pub fn of_redacted(stored: &'a StoredRecord, masked: &'a RedactedText) -> RowFields<'a> {
        RowFields {
            title: &masked.title,
            text: &masked.text,
            ..RowFields::of(stored)
        }
    }

    /// Appends the row's compact encoding to `out`: strings as a length
    /// (u32) and bytes, optional numbers as a flag byte and 8 bytes, lists
    /// as a count (u32) and their strings.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let text = |out: &mut Vec<u8>, s: &str| {
            out.extend_from_slice(&(s.len() as u32).to_le_bytes());
            out.extend_from_slice(s.as_bytes());
        };
        let list = |out: &mut Vec<u8>, items: &[&str]| {
            out.extend_from_slice(&(items.len() as u32).to_le_bytes());
            for item in items {
                text(out, item);
            }
        };
        let number = |out: &mut Vec<u8>, x: Option<u64>| match x {
            Some(bits) => {
                out.push(1);
                out.extend_from_slice(&bits.to_le_bytes());
            }
            None => out.push(0),
        };
        text(out, self.id);
        text(out, self.source);
        text(out, self.kind);
        number(out, self.created_at.map(|t| t as u64));
        text(out, self.lang);
        number(out, self.rating.map(f64::to_bits));
        number(out, Some(self.sentiment_score.to_bits()));
        text(out, self.sentiment_label);
        number(out, Some(self.text_sentiment_score.to_bits()));
        list(out, &self.themes);
        list(out, &self.signals);
        text(out, self.title);
        text(out, self.text);
        number(out, self.first_response_minutes.map(f64::to_bits));
        number(out, self.resolution_minutes.map(f64::to_bits));
        number(out, self.ces.map(f64::to_bits));
    }

    /// Reads a row written by [`RowFields::encode`]; None when the bytes are
    /// not one.
    pub fn decode(bytes: &'a [u8]) -> Option<RowFields<'a>> {
        let mut d = Decoder { bytes };
        let id = d.text()?;
        let source = d.text()?;
        let kind = d.text()?;
        let created_at = d.number()?.map(|bits| bits as i64);
        let lang = d.text()?;
        let rating = d.float()?;
        let sentiment_score = d.float()??;
        let sentiment_label = d.text()?;
        let text_sentiment_score = d.float()??;
        let themes = d.list()?;
        let signals = d.list()?;
        let title = d.text()?;
        let text = d.text()?;
        let row = RowFields {
            id,
            source,
            kind,
            created_at,
            lang,
            rating,
            sentiment_score,
            sentiment_label,
            text_sentiment_score,
            themes,
            signals,
            title,
            text,
            first_response_minutes: d.float()?,
            resolution_minutes: d.float()?,
            ces: d.float()?,
        };
        d.bytes.is_empty().then_some(row)
    }
}

/// Reads the fields of [`RowFields::encode`] in order.
struct Decoder<'a> {
    bytes: &'a [u8],
}

impl<'a> Decoder<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.bytes.len() < n {
            return None;
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Some(head)
    }

    fn u32(&mut self) -> Option<u32> {
        self.take(4)?.try_into().ok().map(u32::from_le_bytes)
    }

    fn text(&mut self) -> Option<&'a str> {
        let n = self.u32()? as usize;
        std::str::from_utf8(self.take(n)?).ok()
    }

    fn list(&mut self) -> Option<Vec<&'a str>> {
        let n = self.u32()? as usize;
        // Each item takes at least its 4-byte length.
        if n > self.bytes.len() / 4 {
            return None;
        }
        (0..n).map(|_| self.text()).collect()
    }

    /// An optional 8-byte value: Some(None) when absent, None when malformed.
    fn number(&mut self) -> Option<Option<u64>> {
        match self.take(1)?[0] {
            0 => Some(None),
            1 => self
                .take(8)?
                .try_into()
                .ok()
                .map(u64::from_le_bytes)
                .map(Some),
            _ => None,
        }
    }

    fn float(&mut self) -> Option<Option<f64>> {
        Some(self.number()?.map(f64::from_bits))
    }
}

/// Name of the row cache files of a variant (redacted or not).
pub fn row_cache_name(redacted: bool) -> &'static str {
    if redacted {
        "rows-redacted"
    } else {
        "rows-plain"
    }
}

/// Fingerprint of what the cached rows depend on besides the records:
/// vocscope's version (the redaction rules come with it), the row layout
/// and the variant.
pub fn row_cache_rules(redacted: bool) -> u64 {
    let rules = format!(
        "{}|{ROW_FORMAT}|{}",
        env!("CARGO_PKG_VERSION"),
        row_cache_name(redacted)
    );
    fnv1a(rules.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::{AnalysisInput, Analyzer, Lexicon, Taxonomy};
    use crate::record::{Kind, Record};

    fn stored() -> StoredRecord {
        let analyzer = Analyzer::new(
            Taxonomy::default_taxonomy().expect("taxonomy"),
            Lexicon::default_lexicon().expect("lexicon"),
        );
        let text = "The courier was late and the refund never came, mail me at a.b@example.com";
        let record = Record {
            id: "=7".into(),
            source: "zendesk".into(),
            kind: Kind::Ticket,
            created_at: Some(1_762_000_000),
            title: Some("退款 late".into()),
            text: text.into(),
            rating: Some(2.0),
            resolution_minutes: Some(90.5),
            ..Record::default()
        };
        let analysis = analyzer.analyze(AnalysisInput {
            text,
            rating: record.rating,
            nps: None,
            lang: None,
        });
        StoredRecord { record, analysis }
    }

    #[test]
    fn a_row_reads_back_as_encoded() {
        let stored = stored();
        let row = RowFields::of(&stored);
        assert!(!row.themes.is_empty(), "{row:?}");
        let mut bytes = Vec::new();
        row.encode(&mut bytes);
        assert_eq!(RowFields::decode(&bytes), Some(row.clone()));
        let mut none = stored.clone();
        none.record.title = None;
        none.record.created_at = None;
        none.record.rating = None;
        let row = RowFields::of(&none);
        bytes.clear();
        row.encode(&mut bytes);
        assert_eq!(RowFields::decode(&bytes), Some(row));
    }

    #[test]
    fn cut_or_padded_rows_do_not_decode() {
        let stored = stored();
        let mut bytes = Vec::new();
        RowFields::of(&stored).encode(&mut bytes);
        for n in [0, 1, 5, bytes.len() / 2, bytes.len() - 1] {
            assert_eq!(RowFields::decode(&bytes[..n]), None, "cut at {n}");
        }
        bytes.push(0);
        assert_eq!(RowFields::decode(&bytes), None);
    }

    #[test]
    fn redacted_rows_mask_title_and_text_only() {
        let stored = stored();
        let masked = RedactedText::of(&stored);
        let row = RowFields::of_redacted(&stored, &masked);
        assert!(row.text.contains("[email]") && !row.text.contains("example.com"));
        assert_eq!(row.id, "=7");
        assert_ne!(row_cache_rules(true), row_cache_rules(false));
        assert_ne!(row_cache_name(true), row_cache_name(false));
    }
}
