//! The values of one record's row in records.csv and the workbook's
//! Records sheet ([`RowFields`]), taken from a stored record, and the row
//! cache's encoding of them ready to write ([`RowFields::encode`],
//! [`ReadyRow`]).
//!
//! A report writes every row from its ready encoding, cached or just made,
//! so a row written from the cache is the row written from the doc store.
//! The cache holds the rows as the writers get them, after redaction for
//! `--redact`: redaction runs regular expressions over every text, too slow
//! to repeat each night, so each variant has its own cache files
//! ([`row_cache_name`]).

use std::path::Path;

use super::csv_files::record_line;
use super::sheet_part::row_template;
use super::OutputError;
use crate::index::StoredRecord;
use crate::record::fnv1a;
use crate::text::redact;

/// Layout of [`RowFields::encode`]; bump when it changes, so caches written
/// by another layout are rebuilt.
const ROW_FORMAT: u32 = 3;

/// Bytes of a ready row besides its title and text, about (ids, scores,
/// themes, the sheet's cell markup).
const ROW_OVERHEAD: usize = 768;

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

    /// Appends the row *ready to write* to `out` (the row cache's payload):
    /// its creation time (for a report's period), its records.csv line as
    /// the CSV writer writes it, and its Records sheet XML as a template
    /// ([`super::sheet_part`]), each part a length (u32) and bytes. So a
    /// cached row costs a copy each night, not its formatting.
    /// `csv_path` and `xlsx_path` name the files in errors.
    pub fn encode(
        &self,
        csv_path: &Path,
        xlsx_path: &Path,
        out: &mut Vec<u8>,
    ) -> Result<(), OutputError> {
        // The title and text twice (the line and the template) and the
        // other cells: one allocation for most rows instead of a doubling
        // series of copies.
        out.reserve(2 * (self.title.len() + self.text.len()) + ROW_OVERHEAD);
        match self.created_at {
            Some(t) => {
                out.push(1);
                out.extend_from_slice(&t.to_le_bytes());
            }
            None => out.push(0),
        }
        framed(out, |out| record_line(self, out)).map_err(|source| OutputError::Csv {
            path: csv_path.to_path_buf(),
            source,
        })?;
        framed(out, |out| row_template(self, out)).map_err(|source| OutputError::Xlsx {
            path: xlsx_path.to_path_buf(),
            source,
        })?;
        Ok(())
    }
}

/// Appends what `write` appends, after its length (u32).
fn framed<E>(
    out: &mut Vec<u8>,
    write: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
) -> Result<(), E> {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    write(out)?;
    let len = (out.len() - start - 4) as u32;
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    Ok(())
}

/// A row read from the row cache ([`RowFields::encode`]), borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadyRow<'a> {
    /// Creation time, Unix seconds.
    pub created_at: Option<i64>,
    /// The records.csv line, with its line end.
    pub csv: &'a [u8],
    /// The Records sheet row's template.
    pub sheet: &'a [u8],
}

impl<'a> ReadyRow<'a> {
    /// Reads a row written by [`RowFields::encode`]; None when the bytes are
    /// not one. The parts are not checked further: the row cache's CRC says
    /// they are the bytes written, and the sheet's writer checks templates.
    pub fn decode(bytes: &'a [u8]) -> Option<ReadyRow<'a>> {
        let (flag, rest) = bytes.split_first()?;
        let (created_at, rest) = match flag {
            0 => (None, rest),
            1 => {
                let (t, rest) = rest.split_first_chunk::<8>()?;
                (Some(i64::from_le_bytes(*t)), rest)
            }
            _ => return None,
        };
        let part = |bytes: &'a [u8]| -> Option<(&'a [u8], &'a [u8])> {
            let (len, rest) = bytes.split_first_chunk::<4>()?;
            let len = u32::from_le_bytes(*len) as usize;
            (rest.len() >= len).then(|| rest.split_at(len))
        };
        let (csv, rest) = part(rest)?;
        let (sheet, rest) = part(rest)?;
        rest.is_empty().then_some(ReadyRow {
            created_at,
            csv,
            sheet,
        })
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

    fn encoded(row: &RowFields<'_>) -> Vec<u8> {
        let mut bytes = Vec::new();
        row.encode(Path::new("r.csv"), Path::new("v.xlsx"), &mut bytes)
            .expect("encode");
        bytes
    }

    #[test]
    fn a_row_reads_back_as_its_csv_line_and_sheet_template() {
        let stored = stored();
        let row = RowFields::of(&stored);
        assert!(!row.themes.is_empty(), "{row:?}");
        let bytes = encoded(&row);
        let ready = ReadyRow::decode(&bytes).expect("decode");
        assert_eq!(ready.created_at, Some(1_762_000_000));
        let mut line = Vec::new();
        record_line(&row, &mut line).expect("line");
        assert_eq!(ready.csv, line.as_slice());
        assert!(
            ready.csv.starts_with(b"'=7,zendesk,ticket,"),
            "{:?}",
            ready.csv
        );
        let mut template = Vec::new();
        row_template(&row, &mut template).expect("template");
        assert_eq!(ready.sheet, template.as_slice());
        let mut none = stored.clone();
        none.record.title = None;
        none.record.created_at = None;
        none.record.rating = None;
        let bytes = encoded(&RowFields::of(&none));
        assert_eq!(ReadyRow::decode(&bytes).map(|r| r.created_at), Some(None));
    }

    #[test]
    fn cut_or_padded_rows_do_not_decode() {
        let stored = stored();
        let mut bytes = encoded(&RowFields::of(&stored));
        for n in [0, 1, 5, bytes.len() / 2, bytes.len() - 1] {
            assert_eq!(ReadyRow::decode(&bytes[..n]), None, "cut at {n}");
        }
        bytes.push(0);
        assert_eq!(ReadyRow::decode(&bytes), None);
        bytes.pop();
        bytes[0] = 2;
        assert_eq!(ReadyRow::decode(&bytes), None);
    }

    #[test]
    fn a_text_of_emoji_is_cut_to_excel_limit_not_refused() {
        let mut stored = stored();
        // 40,000 characters of two UTF-16 units each: Excel counts 80,000.
        stored.record.text = "😀".repeat(40_000);
        let mut bytes = Vec::new();
        RowFields::of(&stored)
            .encode(Path::new("r.csv"), Path::new("v.xlsx"), &mut bytes)
            .expect("a long text is cut, not an error");
        let row = ReadyRow::decode(&bytes).expect("decodes");
        let sheet = String::from_utf8_lossy(row.sheet);
        let emoji = sheet.matches('😀').count();
        assert_eq!(emoji, 16_000, "cut to 32,000 UTF-16 units");
        // The CSV line keeps the whole text.
        assert_eq!(
            String::from_utf8_lossy(row.csv).matches('😀').count(),
            40_000
        );
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
