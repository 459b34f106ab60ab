//! Ingest: find input files, recognise their layout (JSON Lines, a JSON
//! document, CSV; `.gz` and UTF-16 decoded on the fly), stream their items
//! and map each with the mapper of its format (see [`formats`]) to a
//! [`Record`] — or to a [`Reject`] that says why and where.
//!
//! A failure inside one file never stops the batch: it becomes a reject (or,
//! for a file that cannot be opened at all, one reject for the whole file).
//! A file in which no item matches any known format is reported with a
//! hint to use `--map` ([`FileReport::unrecognised`]).

mod csv_file;
mod date;
pub mod formats;
mod html;
mod json;
pub mod manifest;
mod mapping;
pub mod neardup;
pub(crate) mod service;
mod utf16;

pub use csv_file::read_csv;
pub use date::{format_date, format_rfc3339, parse_date_str, parse_date_with_format};
pub use formats::{detect, MapSpec, MapSpecError, Mapper};
pub use html::{html_to_text, trim_quoted};
pub use json::{read_json_document, read_jsonl, Location, RawItem};
pub use mapping::{Paths, GENERIC_PATHS};

use std::collections::BTreeMap;

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use crate::record::Record;

/// An input: a file on disk, or a file embedded in the binary (the sample).
#[derive(Debug, Clone)]
pub enum InputFile {
    /// A file on disk.
    Path(PathBuf),
    /// A named in-memory file.
    Embedded {
        /// Name shown in messages and rejects.
        name: &'static str,
        /// Its bytes.
        bytes: &'static [u8],
    },
}

impl InputFile {
    /// The name used in messages and in rejects.jsonl.
    pub fn name(&self) -> String {
        match self {
            InputFile::Path(p) => p.display().to_string(),
            InputFile::Embedded { name, .. } => (*name).to_string(),
        }
    }

    fn file_name(&self) -> String {
        match self {
            InputFile::Path(p) => p
                .file_name()
                .map(|n| n.to_string_lossy().to_lowercase())
                .unwrap_or_default(),
            InputFile::Embedded { name, .. } => name.to_lowercase(),
        }
    }

    fn open_raw(&self) -> std::io::Result<Box<dyn Read + Send>> {
        Ok(match self {
            InputFile::Path(p) => Box::new(File::open(p)?),
            InputFile::Embedded { bytes, .. } => Box::new(*bytes),
        })
    }

    /// Whether the file is gzip-compressed (by its name).
    pub fn is_gzip(&self) -> bool {
        self.file_name().ends_with(".gz")
    }

    /// Opens the file, decompressing `.gz` and decoding UTF-16 transparently.
    fn open(&self) -> std::io::Result<(Box<dyn BufRead + Send>, bool)> {
        let raw = self.open_raw()?;
        let reader: Box<dyn Read + Send> = if self.is_gzip() {
            Box::new(flate2::read::MultiGzDecoder::new(raw))
        } else {
            raw
        };
        let mut reader = BufReader::with_capacity(256 * 1024, reader);
        let endian = utf16::bom(reader.fill_buf()?);
        Ok(match endian {
            Some(e) => (
                Box::new(BufReader::with_capacity(
                    256 * 1024,
                    utf16::Utf16Reader::new(reader, e),
                )),
                true,
            ),
            None => (Box::new(reader), false),
        })
    }
}

/// Layout of an input file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// One JSON value per line.
    JsonLines,
    /// One JSON document: an array, a wrapper object, or one item.
    JsonDocument,
    /// CSV with a header row; the delimiter byte.
    Csv(u8),
    /// Nothing but white space.
    Empty,
    /// Neither JSON nor CSV (binary, plain prose, ...).
    Unknown,
}

impl Format {
    /// A short name for messages.
    pub fn describe(self) -> String {
        match self {
            Format::JsonLines => "JSON Lines".into(),
            Format::JsonDocument => "JSON document".into(),
            Format::Csv(b'\t') => "CSV (tab-separated)".into(),
            Format::Csv(d) => format!("CSV (`{}`-separated)", d as char),
            Format::Empty => "empty".into(),
            Format::Unknown => "not JSON, JSON Lines or CSV".into(),
        }
    }
}

/// What reading one file found: its layout, which mappers its items went
/// through, and how many became records or rejects.
#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    /// File name.
    pub file: String,
    /// Layout.
    pub format: Format,
    /// Gzip-compressed.
    pub gzip: bool,
    /// UTF-16 decoded.
    pub utf16: bool,
    /// Items mapped per mapper (records and rejects).
    pub mappers: BTreeMap<Mapper, u64>,
    /// Items that became records.
    pub records: u64,
    /// Items rejected.
    pub rejected: u64,
    /// Items rejected because no text field was found.
    pub no_text: u64,
}

impl FileReport {
    /// The mapper most items of this file went through.
    pub fn main_mapper(&self) -> Option<Mapper> {
        self.mappers
            .iter()
            .max_by_key(|(m, n)| (**n, std::cmp::Reverse(**m)))
            .map(|(m, _)| *m)
    }

    /// Whether no item of the file matched a known format: not JSON or CSV
    /// at all, or items none of which had a recognisable text field.
    pub fn unrecognised(&self) -> bool {
        self.format == Format::Unknown || (self.records == 0 && self.no_text > 0)
    }

    /// The message for an unrecognised file, naming it and suggesting `--map`.
    pub fn unrecognised_message(&self) -> String {
        if self.format == Format::Unknown {
            format!(
                "{}: format not recognised (not JSON, JSON Lines or CSV); convert it, or for another JSON/CSV layout name its fields with --map FILE",
                self.file
            )
        } else {
            format!(
                "{}: format not recognised: none of its {} items has a text field vocscope knows; name the fields with --map FILE (see README, \"Input formats\")",
                self.file,
                self.records + self.rejected
            )
        }
    }
}

/// A rejected input item: data, not an error.
#[derive(Debug, Clone, Serialize)]
pub struct Reject {
    /// File it came from.
    pub file: String,
    /// Line or item index.
    pub location: String,
    /// Why it was rejected.
    pub reason: String,
    /// The raw item (the line's text when it was not valid JSON).
    pub raw: Value,
}

/// One outcome of reading an input item.
#[derive(Debug)]
pub enum Item {
    /// A mapped record and where it came from.
    Record {
        /// The record.
        record: Box<Record>,
        /// File name.
        file: String,
        /// Line or index.
        location: String,
    },
    /// An item that could not become a record.
    Rejected(Reject),
}

/// Errors that stop one input path (never the batch).
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// A path given on the command line does not exist or cannot be read.
    #[error("{path}")]
    Io {
        /// The path.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
}

impl IngestError {
    /// The message with its cause, on one line (for rejects.jsonl).
    pub fn detail(&self) -> String {
        match self {
            IngestError::Io { path, source } => format!("{path}: {source}"),
        }
    }
}

/// File endings read when walking a directory.
const KNOWN_ENDINGS: &[&str] = &[
    ".json",
    ".jsonl",
    ".ndjson",
    ".csv",
    ".tsv",
    ".json.gz",
    ".jsonl.gz",
    ".ndjson.gz",
    ".csv.gz",
    ".tsv.gz",
];

/// What walking the input paths found.
#[derive(Debug, Default)]
pub struct Discovery {
    /// Files to read, in a stable order.
    pub files: Vec<InputFile>,
    /// Paths that could not be read, with why.
    pub errors: Vec<IngestError>,
    /// Files in directories skipped for their ending.
    pub skipped: Vec<PathBuf>,
}

/// Expands paths into input files: directories are walked recursively in
/// name order (hidden entries skipped); files named directly are always read,
/// and a path that does not exist is kept so that reading it fails into a reject.
pub fn discover(paths: &[PathBuf]) -> Discovery {
    let mut found = Discovery::default();
    for path in paths {
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => walk(path, &mut found),
            _ => found.files.push(InputFile::Path(path.clone())),
        }
    }
    found
}

fn walk(dir: &Path, found: &mut Discovery) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(source) => {
            found.errors.push(IngestError::Io {
                path: dir.display().to_string(),
                source,
            });
            return;
        }
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in paths {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_lowercase())
            .unwrap_or_default();
        if name.starts_with('.') {
            continue;
        }
        if path.is_dir() {
            walk(&path, found);
        } else if KNOWN_ENDINGS.iter().any(|e| name.ends_with(e)) {
            found.files.push(InputFile::Path(path));
        } else {
            found.skipped.push(path);
        }
    }
}

/// Looks at the start of a file to tell its layout: JSON Lines, one JSON
/// document, CSV (by name, or a header-like first line), or unknown.
pub fn sniff_format(file: &InputFile) -> std::io::Result<Format> {
    let name = file.file_name();
    let name = name.trim_end_matches(".gz");
    let mut head = Vec::new();
    file.open()?.0.take(1 << 20).read_to_end(&mut head)?;
    let text = String::from_utf8_lossy(&head);
    let text = text.trim_start_matches('\u{feff}').trim_start();
    if text.is_empty() {
        return Ok(Format::Empty);
    }
    let first_line = text.lines().next().unwrap_or("");
    if name.ends_with(".csv") || name.ends_with(".tsv") {
        let delimiter = if name.ends_with(".tsv") {
            b'\t'
        } else {
            csv_file::guess_delimiter(first_line)
        };
        return Ok(Format::Csv(delimiter));
    }
    if name.ends_with(".jsonl") || name.ends_with(".ndjson") || name.ends_with(".jsonlines") {
        return Ok(Format::JsonLines);
    }
    if text.starts_with('{') {
        // JSON Lines saved as .json: a complete object on the first line and another after it.
        if let Some((first, rest)) = text.split_once('\n') {
            if serde_json::from_str::<Value>(first.trim()).is_ok()
                && rest.trim_start().starts_with('{')
            {
                return Ok(Format::JsonLines);
            }
        }
        return Ok(Format::JsonDocument);
    }
    if text.starts_with('[') || name.ends_with(".json") {
        return Ok(Format::JsonDocument);
    }
    // A CSV header without a .csv name: no binary bytes, at least three
    // columns, and short names that are not sentences (prose has commas too).
    let binary = head.contains(&0) || text.contains('\u{fffd}');
    let delimiter = csv_file::guess_delimiter(first_line);
    let cells: Vec<&str> = first_line.split(delimiter as char).collect();
    let header_like = cells.len() >= 3
        && cells
            .iter()
            .all(|c| c.trim().len() <= 64 && !c.trim_end().ends_with(['.', '!', '?']));
    if !binary && header_like {
        return Ok(Format::Csv(delimiter));
    }
    Ok(Format::Unknown)
}

/// Reads one input file, handing every item (record or reject) to `emit`.
/// Returns what the file held, or an error when the file cannot be opened.
pub fn read_input(
    file: &InputFile,
    hints: &MapHints,
    mut emit: impl FnMut(Item),
) -> Result<FileReport, IngestError> {
    let name = file.name();
    let io_err = |source| IngestError::Io {
        path: name.clone(),
        source,
    };
    let format = sniff_format(file).map_err(io_err)?;
    let mut report = FileReport {
        file: name.clone(),
        format,
        gzip: file.is_gzip(),
        utf16: false,
        mappers: BTreeMap::new(),
        records: 0,
        rejected: 0,
        no_text: 0,
    };
    let mut handle = |raw: RawItem, report: &mut FileReport| {
        let (mapper, item) = to_item(raw, &name, hints);
        if let Some(m) = mapper {
            *report.mappers.entry(m).or_default() += 1;
        }
        match &item {
            Item::Record { .. } => report.records += 1,
            Item::Rejected(r) => {
                report.rejected += 1;
                if r.reason.starts_with(mapping::NO_TEXT) || r.reason.contains("not an object") {
                    report.no_text += 1;
                }
            }
        }
        emit(item);
    };
    match format {
        Format::Empty => {}
        Format::Unknown => {
            let reason = report.unrecognised_message();
            handle(
                RawItem::Broken {
                    location: Location::File,
                    reason,
                    raw: None,
                },
                &mut report,
            );
        }
        Format::JsonLines => {
            let (reader, utf16) = file.open().map_err(io_err)?;
            report.utf16 = utf16;
            let mut broken = None;
            if let Err(e) = read_jsonl(reader, |raw| handle(raw, &mut report)) {
                broken = Some(e);
            }
            if let Some(e) = broken {
                handle(
                    RawItem::Broken {
                        location: Location::File,
                        reason: format!("read error, rest of file skipped: {e}"),
                        raw: None,
                    },
                    &mut report,
                );
            }
        }
        Format::JsonDocument => {
            let (reader, utf16) = file.open().map_err(io_err)?;
            report.utf16 = utf16;
            read_json_document(reader, |raw| handle(raw, &mut report));
        }
        Format::Csv(delimiter) => {
            let (reader, utf16) = file.open().map_err(io_err)?;
            report.utf16 = utf16;
            let mut broken = None;
            if let Err(e) = read_csv(reader, delimiter, |raw| handle(raw, &mut report)) {
                broken = Some(e);
            }
            if let Some(e) = broken {
                handle(
                    RawItem::Broken {
                        location: Location::File,
                        reason: format!("CSV read error, rest of file skipped: {e}"),
                        raw: None,
                    },
                    &mut report,
                );
            }
        }
    }
    Ok(report)
}

/// What the mapper knows about an item besides its fields.
#[derive(Debug, Clone, Copy, Default)]
pub struct MapHints<'a> {
    /// `--source` from the command line, overriding the mapper's source name.
    pub source: Option<&'a str>,
    /// The wrapper array key the item came from (`tickets`, `reviews`).
    pub wrapper: Option<&'a str>,
    /// A `--map` file: used for every item instead of detection.
    pub map: Option<&'a MapSpec>,
}

/// Maps one item to a record with the mapper of its format (or the `--map`
/// file), or says why it cannot be mapped.
pub fn map_item(value: &Value, hints: &MapHints) -> Result<Record, String> {
    map_item_with(value, hints).1
}

/// Like [`map_item`], also telling which mapper was used (`None` when the
/// item is not an object).
pub fn map_item_with(value: &Value, hints: &MapHints) -> (Option<Mapper>, Result<Record, String>) {
    let Value::Object(obj) = value else {
        return (
            None,
            Err(format!(
                "item is a JSON {}, not an object",
                mapping::json_kind(value)
            )),
        );
    };
    if let Some(spec) = hints.map {
        return (
            Some(Mapper::Custom),
            spec.map(obj, hints.source, hints.wrapper),
        );
    }
    let mapper = formats::detect(obj);
    (
        Some(mapper),
        formats::map_builtin(mapper, obj, hints.source, hints.wrapper),
    )
}

/// The source name detected for an item's fields (`generic` when unknown).
pub fn detect_source(obj: &serde_json::Map<String, Value>) -> &'static str {
    formats::detect(obj).name()
}

fn to_item(raw: RawItem, file: &str, hints: &MapHints) -> (Option<Mapper>, Item) {
    match raw {
        RawItem::Value {
            location,
            value,
            wrapper,
        } => {
            let hints = MapHints {
                wrapper: wrapper.as_deref(),
                ..*hints
            };
            let (mapper, result) = map_item_with(&value, &hints);
            let item = match result {
                Ok(record) => Item::Record {
                    record: Box::new(record),
                    file: file.to_string(),
                    location: location.to_string(),
                },
                Err(reason) => Item::Rejected(Reject {
                    file: file.to_string(),
                    location: location.to_string(),
                    reason,
                    raw: value,
                }),
            };
            (mapper, item)
        }
        RawItem::Broken {
            location,
            reason,
            raw,
        } => (
            None,
            Item::Rejected(Reject {
                file: file.to_string(),
                location: location.to_string(),
                reason,
                raw: raw.map(Value::String).unwrap_or(Value::Null),
            }),
        ),
    }
}

#[cfg(test)]
mod fuzz;

#[cfg(test)]
mod tests {
    use super::*;

    fn sniff(name: &'static str, bytes: &'static [u8]) -> Format {
        sniff_format(&InputFile::Embedded { name, bytes }).unwrap()
    }

    #[test]
    fn sniffing_tells_layouts_apart() {
        assert_eq!(sniff("a.json", b"[{}]"), Format::JsonDocument);
        assert_eq!(
            sniff("a.json", b"{\"a\":1}\n{\"a\":2}\n"),
            Format::JsonLines
        );
        assert_eq!(sniff("a.csv", b"id;text\n1;x"), Format::Csv(b';'));
        assert_eq!(sniff("a.tsv", b"id\ttext\n1\tx"), Format::Csv(b'\t'));
        assert_eq!(sniff("export", b"id,text,rating\n1,x,2"), Format::Csv(b','));
        assert_eq!(
            sniff(
                "letter.txt",
                b"Dear team,\nthis is a letter, not an export.\n"
            ),
            Format::Unknown
        );
        assert_eq!(sniff("x.bin", b"\x00\x01binary,a,b"), Format::Unknown);
        assert_eq!(sniff("e.json", b"  \n"), Format::Empty);
    }

    #[test]
    fn utf16_csv_is_read_and_reported() {
        const BYTES: &[u8] =
            b"\xFF\xFEi\x00d\x00,\x00t\x00e\x00x\x00t\x00\n\x001\x00,\x00\xd1\x95\xd0\x90\n\x00";
        let file = InputFile::Embedded {
            name: "r.csv",
            bytes: BYTES,
        };
        let mut items = Vec::new();
        let report = read_input(&file, &MapHints::default(), |i| items.push(i)).unwrap();
        assert!(report.utf16);
        assert_eq!(report.format, Format::Csv(b','));
        assert_eq!(report.records, 1);
        match &items[0] {
            Item::Record {
                record, location, ..
            } => {
                assert_eq!(record.text, "闑郐");
                assert_eq!(location, "line 2");
            }
            other => panic!("{other:?}"),
        }
    }
}
