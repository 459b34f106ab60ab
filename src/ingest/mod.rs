//! Ingest: find input files, recognise their format, stream their items and
//! map each to a [`Record`] — or to a [`Reject`] that says why and where.
//!
//! A failure inside one file never stops the batch: it becomes a reject (or,
//! for a file that cannot be opened at all, one reject for the whole file).

mod date;
mod html;
mod json;
mod mapping;

pub use date::{format_date, format_rfc3339, parse_date_str};
pub use html::html_to_text;
pub use json::{read_json_document, read_jsonl, Location, RawItem};
pub use mapping::{detect_source, map_item, MapHints};

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

    /// Opens the file, decompressing `.gz` transparently.
    fn open(&self) -> std::io::Result<Box<dyn BufRead + Send>> {
        let raw = self.open_raw()?;
        let reader: Box<dyn Read + Send> = if self.file_name().ends_with(".gz") {
            Box::new(flate2::read::MultiGzDecoder::new(raw))
        } else {
            raw
        };
        Ok(Box::new(BufReader::with_capacity(256 * 1024, reader)))
    }
}

/// Layout of an input file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One JSON value per line.
    JsonLines,
    /// One JSON document: an array, a wrapper object, or one item.
    JsonDocument,
    /// Nothing but white space.
    Empty,
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
    ".json.gz",
    ".jsonl.gz",
    ".ndjson.gz",
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

/// Looks at the start of a file to tell JSON Lines from one JSON document.
pub fn sniff_format(file: &InputFile) -> std::io::Result<Format> {
    let name = file.file_name();
    let name = name.trim_end_matches(".gz");
    let mut head = Vec::new();
    file.open()?.take(1 << 20).read_to_end(&mut head)?;
    let text = String::from_utf8_lossy(&head);
    let text = text.trim_start_matches('\u{feff}').trim_start();
    if text.is_empty() {
        return Ok(Format::Empty);
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
    }
    Ok(Format::JsonDocument)
}

/// Reads one input file, handing every item (record or reject) to `emit`.
/// Returns the format seen, or an error when the file cannot be opened.
pub fn read_input(
    file: &InputFile,
    hints: &MapHints,
    mut emit: impl FnMut(Item),
) -> Result<Format, IngestError> {
    let name = file.name();
    let io_err = |source| IngestError::Io {
        path: name.clone(),
        source,
    };
    let format = sniff_format(file).map_err(io_err)?;
    let mut handle = |raw: RawItem| emit(to_item(raw, &name, hints));
    match format {
        Format::Empty => {}
        Format::JsonLines => {
            let reader = file.open().map_err(io_err)?;
            if let Err(e) = read_jsonl(reader, &mut handle) {
                handle(RawItem::Broken {
                    location: Location::File,
                    reason: format!("read error, rest of file skipped: {e}"),
                    raw: None,
                });
            }
        }
        Format::JsonDocument => {
            let reader = file.open().map_err(io_err)?;
            read_json_document(reader, &mut handle);
        }
    }
    Ok(format)
}

fn to_item(raw: RawItem, file: &str, hints: &MapHints) -> Item {
    match raw {
        RawItem::Value {
            location,
            value,
            wrapper,
        } => {
            let hints = MapHints {
                source: hints.source,
                wrapper: wrapper.as_deref(),
            };
            match map_item(&value, &hints) {
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
            }
        }
        RawItem::Broken {
            location,
            reason,
            raw,
        } => Item::Rejected(Reject {
            file: file.to_string(),
            location: location.to_string(),
            reason,
            raw: raw.map(Value::String).unwrap_or(Value::Null),
        }),
    }
}
