//! CSV files for spreadsheets: RFC 4180 via the csv crate, UTF-8 (optionally
//! with a BOM for Excel), and safe: a text cell that a spreadsheet would run
//! as a formula is neutralised with a leading apostrophe.

use std::borrow::Cow;
use std::io::Write;
use std::path::Path;

use serde::Serialize;

use super::columns::{Cell, RECORD_COLUMNS, THEME_COLUMNS};
use super::rows::RowFields;
use super::{AtomicFile, OutputError};
use crate::index::SearchHit;
use crate::ingest::format_rfc3339;
use crate::summary::Summary;

/// Neutralises text that a spreadsheet would read as a formula: cells
/// starting with `=`, `+`, `-`, `@`, tab or carriage return get a leading `'`.
pub fn safe_cell(text: &str) -> String {
    safe(text).into_owned()
}

/// [`safe_cell`] without a copy when the text is safe as it is.
pub(super) fn safe(text: &str) -> Cow<'_, str> {
    match text.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => Cow::Owned(format!("'{text}")),
        _ => Cow::Borrowed(text),
    }
}

/// [`safe_cell`] of a text already owned: no copy when it is safe.
fn safe_owned(text: String) -> String {
    match safe(&text) {
        Cow::Borrowed(_) => text,
        Cow::Owned(safe) => safe,
    }
}

fn csv_err(path: &Path) -> impl Fn(csv::Error) -> OutputError + '_ {
    move |source| OutputError::Csv {
        path: path.to_path_buf(),
        source,
    }
}

fn open(path: &Path, bom: bool) -> Result<AtomicFile, OutputError> {
    let mut file = AtomicFile::create(path)?;
    if bom {
        file.writer()
            .write_all(b"\xEF\xBB\xBF")
            .map_err(|source| OutputError::Io {
                path: path.to_path_buf(),
                source,
            })?;
    }
    Ok(file)
}

/// Writes `themes.csv`: one row per theme, the figures of summary.json.
pub fn write_themes_csv(summary: &Summary, path: &Path, bom: bool) -> Result<(), OutputError> {
    let mut file = open(path, bom)?;
    {
        let mut w = csv::Writer::from_writer(file.writer());
        let err = csv_err(path);
        w.write_record(THEME_COLUMNS.iter().map(|c| c.name))
            .map_err(&err)?;
        for t in &summary.themes {
            w.write_record(THEME_COLUMNS.iter().map(|c| match (c.value)(t) {
                Cell::Text(text) => safe_cell(&text),
                Cell::Number(x, _) => x.to_string(),
                Cell::Count(n) => n.to_string(),
                Cell::Bool(b) => b.to_string(),
                Cell::Empty => String::new(),
            }))
            .map_err(&err)?;
        }
        w.flush().map_err(|source| OutputError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    }
    file.commit()
}

/// One row of records.csv (and of search results as CSV), text cells made
/// safe; borrowed from a [`RowFields`].
#[derive(Debug, Serialize)]
pub struct RecordRow<'a> {
    /// Record id.
    pub id: Cow<'a, str>,
    /// Source.
    pub source: Cow<'a, str>,
    /// Kind.
    pub kind: &'a str,
    /// RFC 3339 creation time.
    pub created_at: String,
    /// Language.
    pub lang: &'a str,
    /// Stars.
    pub rating: Option<f64>,
    /// Combined sentiment score.
    pub sentiment_score: f64,
    /// Combined sentiment label.
    pub sentiment_label: &'a str,
    /// Text-only sentiment score.
    pub text_sentiment_score: f64,
    /// Theme ids joined with `;`.
    pub themes: String,
    /// Signal ids joined with `;`.
    pub signals: String,
    /// Title.
    pub title: Cow<'a, str>,
    /// Text.
    pub text: Cow<'a, str>,
    /// Minutes to the first agent reply, where exported.
    pub first_response_minutes: Option<f64>,
    /// Minutes to resolution, where exported.
    pub resolution_minutes: Option<f64>,
    /// Customer Effort Score (1-7).
    pub ces: Option<f64>,
}

impl<'a> RecordRow<'a> {
    /// The CSV row of a record's row values.
    pub fn of(row: &RowFields<'a>) -> RecordRow<'a> {
        RecordRow {
            id: safe(row.id),
            source: safe(row.source),
            kind: row.kind,
            created_at: row.created_at.map(format_rfc3339).unwrap_or_default(),
            lang: row.lang,
            rating: row.rating,
            sentiment_score: row.sentiment_score,
            sentiment_label: row.sentiment_label,
            text_sentiment_score: row.text_sentiment_score,
            themes: safe_owned(row.themes.join(";")),
            signals: safe_owned(row.signals.join(";")),
            title: safe(row.title),
            text: safe(row.text),
            first_response_minutes: row.first_response_minutes,
            resolution_minutes: row.resolution_minutes,
            ces: row.ces,
        }
    }
}

/// Bytes the CSV writer of one line buffers before writing to its output.
const LINE_BUFFER: usize = 256;

/// Appends a record's records.csv line to `out`, as the CSV writer of
/// records.csv writes it (with its line end).
pub(super) fn record_line(row: &RowFields<'_>, out: &mut Vec<u8>) -> Result<(), csv::Error> {
    // A small buffer: the writer zeroes its buffer when made (8 KiB by
    // default), once per line here, and flushes into `out` when full.
    let mut w = csv::WriterBuilder::new()
        .has_headers(false)
        .buffer_capacity(LINE_BUFFER)
        .from_writer(out);
    w.serialize(RecordRow::of(row))?;
    w.flush()?;
    Ok(())
}

/// Writes records.csv: its header, then the lines `fill` hands to the line
/// writer, each made by [`RowFields::encode`] (a line as it is).
pub fn write_records_csv(
    path: &Path,
    bom: bool,
    fill: impl FnOnce(&mut dyn FnMut(&[u8]) -> Result<(), OutputError>) -> Result<(), OutputError>,
) -> Result<(), OutputError> {
    let mut file = open(path, bom)?;
    let io = |source| OutputError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut header = csv::Writer::from_writer(Vec::new());
    header.write_record(RECORD_COLUMNS).map_err(csv_err(path))?;
    let header = header
        .into_inner()
        .map_err(|e| io(std::io::Error::other(e.to_string())))?;
    file.writer().write_all(&header).map_err(io)?;
    {
        let writer = file.writer();
        fill(&mut |line| writer.write_all(line).map_err(io))?;
    }
    file.commit()
}

/// Writes search hits as CSV to any writer (stdout for `search --format csv`).
pub fn write_search_csv<W: Write>(hits: &[SearchHit], out: W) -> Result<(), csv::Error> {
    let mut w = csv::Writer::from_writer(out);
    if hits.is_empty() {
        w.write_record(RECORD_COLUMNS)?;
    }
    for hit in hits {
        w.serialize(RecordRow::of(&RowFields::of(&hit.stored)))?;
    }
    w.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_neutralised() {
        assert_eq!(safe_cell("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(safe_cell("+1"), "'+1");
        assert_eq!(safe_cell("-2"), "'-2");
        assert_eq!(safe_cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(safe_cell("\tx"), "'\tx");
        assert_eq!(safe_cell("refund"), "refund");
        assert_eq!(safe_cell(""), "");
    }

    #[test]
    fn records_csv_is_its_header_and_the_lines_as_serde_writes_them() {
        use crate::analyze::{AnalysisInput, Analyzer, Lexicon, Taxonomy};
        let analyzer = Analyzer::new(
            Taxonomy::default_taxonomy().expect("taxonomy"),
            Lexicon::default_lexicon().expect("lexicon"),
        );
        let stored = crate::index::StoredRecord {
            record: crate::record::Record {
                id: "-1".into(),
                source: "generic".into(),
                title: Some("a, \"b\"".into()),
                text: "line\nbreak".into(),
                created_at: Some(1_762_000_000),
                rating: Some(4.5),
                ..crate::record::Record::default()
            },
            analysis: analyzer.analyze(AnalysisInput {
                text: "the refund is late, \"again\"",
                ..AnalysisInput::default()
            }),
        };
        let rows = [RowFields::of(&stored), RowFields::of(&stored)];
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("records.csv");
        write_records_csv(&path, true, |line| {
            let mut bytes = Vec::new();
            for row in &rows {
                bytes.clear();
                record_line(row, &mut bytes).expect("line");
                line(&bytes)?;
            }
            Ok(())
        })
        .expect("write");
        // What the csv crate writes serialising the rows in one writer.
        let mut expected = b"\xEF\xBB\xBF".to_vec();
        {
            let mut w = csv::Writer::from_writer(&mut expected);
            for row in &rows {
                w.serialize(RecordRow::of(row)).expect("serialize");
            }
            w.flush().expect("flush");
        }
        assert_eq!(std::fs::read(&path).expect("read"), expected);
        write_records_csv(&path, false, |_| Ok(())).expect("empty");
        let empty = std::fs::read_to_string(&path).expect("read");
        assert_eq!(empty.trim_end(), RECORD_COLUMNS.join(","));
    }
}
