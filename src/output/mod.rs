//! Output: every writer takes the same [`Summary`] or records; files are
//! written to a temporary name and renamed, so a reader never sees half a file.
//!
//! Writers: terminal tables, summary.json, CSV files (`csv_files`), the
//! workbook (`xlsx`) and the self-contained HTML report (`html`, with charts
//! drawn as inline SVG by `svg`).

pub mod columns;
mod csv_files;
pub mod html;
mod redact;
mod rows;
mod search_xlsx;
mod sheet_part;
pub mod svg;
mod terminal;
mod xlsx;

pub use csv_files::{safe_cell, write_records_csv, write_search_csv, write_themes_csv, RecordRow};
pub use html::write_html_report;
pub use redact::{redact_record, redact_summary};
pub use rows::{row_cache_name, row_cache_rules, ReadyRow, RedactedText, RowFields};
pub use search_xlsx::{search_xlsx, write_search_xlsx};
pub use terminal::{render_search, render_summary};
pub use xlsx::{xlsx_text, XlsxReport};

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::ingest::Reject;
use crate::summary::Summary;

/// Errors of the output layer.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// Writing a file failed.
    #[error("{path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// CSV encoding failed.
    #[error("{path}")]
    Csv {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: csv::Error,
    },
    /// Writing the workbook failed.
    #[error("{path}")]
    Xlsx {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: rust_xlsxwriter::XlsxError,
    },
}

/// A file being written under a temporary name, renamed into place by [`AtomicFile::commit`].
pub struct AtomicFile {
    path: PathBuf,
    tmp: PathBuf,
    writer: BufWriter<File>,
}

impl AtomicFile {
    /// Starts writing `path` (creating its directory).
    pub fn create(path: &Path) -> Result<AtomicFile, OutputError> {
        let io = |source| OutputError::Io {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let file = File::create(&tmp).map_err(io)?;
        Ok(AtomicFile {
            path: path.to_path_buf(),
            tmp,
            // Big: records.csv is written a line at a time.
            writer: BufWriter::with_capacity(256 * 1024, file),
        })
    }

    /// The writer.
    pub fn writer(&mut self) -> &mut BufWriter<File> {
        &mut self.writer
    }

    /// The final path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Flushes and renames into place.
    pub fn commit(self) -> Result<(), OutputError> {
        let io = |source| OutputError::Io {
            path: self.path.clone(),
            source,
        };
        let file = self.writer.into_inner().map_err(|e| io(e.into_error()))?;
        file.sync_all().map_err(io)?;
        std::fs::rename(&self.tmp, &self.path).map_err(io)
    }

    /// Drops what was written, leaving any earlier file at the path as it was.
    pub fn discard(self) {
        let AtomicFile { tmp, writer, .. } = self;
        drop(writer);
        // Nothing to undo when the temporary file is already gone.
        let _ = std::fs::remove_file(tmp);
    }
}

/// Writes `summary.json`.
pub fn write_summary_json(summary: &Summary, path: &Path) -> Result<(), OutputError> {
    write_json_file(summary, path)
}

/// Writes a value as pretty JSON, atomically (temporary file, then rename).
pub fn write_json_file<T: serde::Serialize>(value: &T, path: &Path) -> Result<(), OutputError> {
    let mut file = AtomicFile::create(path)?;
    serde_json::to_writer_pretty(file.writer(), value).map_err(|e| OutputError::Io {
        path: path.to_path_buf(),
        source: e.into(),
    })?;
    file.writer()
        .write_all(b"\n")
        .map_err(|source| OutputError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    file.commit()
}

/// Streams rejected items to `rejects.jsonl`, one JSON object per line.
pub struct RejectsWriter {
    file: AtomicFile,
    count: u64,
}

impl RejectsWriter {
    /// Starts a new rejects file (replacing the last run's when committed).
    pub fn create(path: &Path) -> Result<RejectsWriter, OutputError> {
        Ok(RejectsWriter {
            file: AtomicFile::create(path)?,
            count: 0,
        })
    }

    /// Appends one reject.
    pub fn write(&mut self, reject: &Reject) -> Result<(), OutputError> {
        let path = self.file.path().to_path_buf();
        let io = |source| OutputError::Io {
            path: path.clone(),
            source,
        };
        serde_json::to_writer(self.file.writer(), reject).map_err(|e| io(e.into()))?;
        self.file.writer().write_all(b"\n").map_err(io)?;
        self.count += 1;
        Ok(())
    }

    /// Rejects written.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Finishes the file.
    pub fn commit(self) -> Result<(), OutputError> {
        self.file.commit()
    }

    /// Drops the rejects of an interrupted run; the last complete run's file stays.
    pub fn discard(self) {
        self.file.discard()
    }
}

/// A duration in minutes for people: "45 min", "3.5 h", "2.1 days".
pub fn format_minutes(minutes: f64) -> String {
    if minutes < 90.0 {
        format!("{minutes:.0} min")
    } else if minutes < 48.0 * 60.0 {
        format!("{:.1} h", minutes / 60.0)
    } else {
        format!("{:.1} days", minutes / (24.0 * 60.0))
    }
}

/// The service metrics of a summary in one line ("" when it has none):
/// median first response and resolution times, and CES.
pub fn service_line(m: &crate::summary::Metrics) -> String {
    let mut parts = Vec::new();
    if let Some(v) = m.service.median_first_response_minutes {
        parts.push(format!(
            "median first response {} ({} tickets)",
            format_minutes(v),
            m.service.first_response_records
        ));
    }
    if let Some(v) = m.service.median_resolution_minutes {
        parts.push(format!(
            "median resolution {} ({} resolved)",
            format_minutes(v),
            m.service.resolved_records
        ));
    }
    if let (Some(ces), Some(easy)) = (m.service.ces, m.service.ces_easy_share) {
        parts.push(format!(
            "CES {ces:.1} of 7, {easy:.0}% easy ({} answers)",
            m.service.ces_responses
        ));
    }
    parts.join(" | ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minutes_read_as_minutes_hours_or_days() {
        assert_eq!(format_minutes(45.0), "45 min");
        assert_eq!(format_minutes(210.0), "3.5 h");
        assert_eq!(format_minutes(3024.0), "2.1 days");
    }

    #[test]
    fn service_line_lists_only_what_the_data_has() {
        let mut m = crate::summary::Metrics::default();
        assert_eq!(service_line(&m), "");
        m.service.median_resolution_minutes = Some(120.0);
        m.service.resolved_records = 3;
        m.service.ces = Some(5.5);
        m.service.ces_easy_share = Some(75.0);
        m.service.ces_responses = 4;
        assert_eq!(
            service_line(&m),
            "median resolution 2.0 h (3 resolved) | CES 5.5 of 7, 75% easy (4 answers)"
        );
    }
}
