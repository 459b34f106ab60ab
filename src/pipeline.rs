//! The `run` and `report` jobs: ingest → analyze (rayon) → index → summary → output.
//!
//! Ingest runs on its own thread and hands batches over a bounded channel, so
//! memory stays flat whatever the input size. Each record is classified
//! against the index (new, updated, unchanged) and against this run (exact
//! duplicate); only new and changed records are analysed and written. The
//! index commits every [`COMMIT_EVERY`] records and at the end; summary files
//! are written from the committed index, never from the inputs.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::sync_channel;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::analyze::{Analysis, AnalysisInput, Analyzer};
use crate::index::{key_hash, IndexError, StoredRecord, VocIndex, VocWriter};
use crate::ingest::neardup::text_hash;
use crate::ingest::{read_input, FileReport, InputFile, Item, MapHints, MapSpec, Reject};
use crate::output::{self, OutputError, RejectsWriter};
use crate::record::Record;
use crate::summary::{Counts, Summary, SummaryBuilder, SummaryOptions};

/// Records per batch handed from ingest to analysis.
const BATCH: usize = 1024;
/// Records written between two commits.
pub const COMMIT_EVERY: u64 = 100_000;

/// Errors that stop a job.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The index failed.
    #[error(transparent)]
    Index(#[from] IndexError),
    /// An output file failed.
    #[error(transparent)]
    Output(#[from] OutputError),
    /// The worker pool could not start.
    #[error("cannot start {threads} worker threads: {message}")]
    Threads {
        /// Requested threads.
        threads: usize,
        /// Why.
        message: String,
    },
}

/// What a run needs.
pub struct RunConfig {
    /// Input files, in order.
    pub inputs: Vec<InputFile>,
    /// Index directory.
    pub index_dir: PathBuf,
    /// Report directory.
    pub out_dir: PathBuf,
    /// The analyzer (taxonomy, lexicons).
    pub analyzer: Analyzer,
    /// Worker threads for analysis and indexing.
    pub threads: usize,
    /// `--source` override.
    pub source: Option<String>,
    /// `--map` file, applied to every input instead of format detection.
    pub map: Option<MapSpec>,
    /// Anchor of the trend windows.
    pub as_of: Option<i64>,
    /// Write a UTF-8 BOM at the start of CSV files.
    pub excel_bom: bool,
    /// Timestamp for `generated_at`.
    pub generated_at: String,
}

/// What a run did.
#[derive(Debug)]
pub struct RunOutcome {
    /// The counts (they add up, see [`Counts::adds_up`]).
    pub counts: Counts,
    /// Records re-tagged because the taxonomy or lexicons changed.
    pub retagged: u64,
    /// Files that could not be opened (also counted as rejects).
    pub failed_files: Vec<String>,
    /// What each file held (layout, mappers, records, rejects).
    pub files: Vec<FileReport>,
    /// The summary written.
    pub summary: Summary,
    /// Files written.
    pub written: Vec<PathBuf>,
}

/// What the index remembers about the last run (in the commit payload).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LastRun {
    /// Counts of that run.
    pub counts: Counts,
    /// When it finished.
    pub finished_at: String,
}

/// Runs the whole job.
pub fn run(config: &RunConfig, mut progress: impl FnMut(&str)) -> Result<RunOutcome, RunError> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(config.threads)
        .build()
        .map_err(|e| RunError::Threads {
            threads: config.threads,
            message: e.to_string(),
        })?;
    let index = VocIndex::open_or_create(&config.index_dir)?;
    let mut writer = index.writer(config.threads)?;
    let fingerprint = config.analyzer.fingerprint();
    let analyzer = &config.analyzer;

    // Re-tag what an earlier taxonomy or lexicon analysed.
    let mut retagged = 0;
    if index.num_records() > 0 && index.committed_fingerprint() != Some(fingerprint) {
        progress("taxonomy or lexicons changed since the last run: re-tagging indexed records");
        retagged = retag(&index, &mut writer, analyzer, &pool, fingerprint)?;
    }

    let known = index.content_hashes()?;
    // First owner of each customer text: from the index, then this run.
    let mut text_owners: HashMap<u64, (u64, TextOwner)> = index
        .text_owners()?
        .into_iter()
        .map(|(t, (k, address))| (t, (k, TextOwner::Indexed(address))))
        .collect();
    std::fs::create_dir_all(&config.out_dir).map_err(|source| OutputError::Io {
        path: config.out_dir.clone(),
        source,
    })?;
    let mut rejects = RejectsWriter::create(&config.out_dir.join("rejects.jsonl"))?;
    let mut counts = Counts::default();
    let mut seen: HashMap<u64, u64> = HashMap::new();
    let mut since_commit = 0u64;
    let mut failed_files = Vec::new();

    let (tx, rx) = sync_channel::<Vec<Item>>(4);
    let inputs = config.inputs.clone();
    let source = config.source.clone();
    let map = config.map.clone();
    let reader = std::thread::spawn(move || {
        let hints = MapHints {
            source: source.as_deref(),
            map: map.as_ref(),
            ..MapHints::default()
        };
        let mut batch = Vec::with_capacity(BATCH);
        let mut failed = Vec::new();
        let mut reports = Vec::new();
        for file in &inputs {
            let result = read_input(file, &hints, |item| {
                batch.push(item);
                if batch.len() >= BATCH {
                    let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                    let _ = tx.send(full);
                }
            });
            match result {
                Ok(report) => reports.push(report),
                Err(e) => {
                    failed.push(e.to_string());
                    batch.push(Item::Rejected(Reject {
                        file: file.name(),
                        location: "file".into(),
                        reason: format!("cannot read file: {e}"),
                        raw: serde_json::Value::Null,
                    }));
                }
            }
        }
        if !batch.is_empty() {
            let _ = tx.send(batch);
        }
        (failed, reports)
    });

    for batch in rx {
        let mut to_index: Vec<(Record, u64)> = Vec::with_capacity(batch.len());
        for item in batch {
            counts.read += 1;
            let record = match item {
                Item::Rejected(reject) => {
                    rejects.write(&reject)?;
                    counts.rejected += 1;
                    continue;
                }
                Item::Record { record, .. } => *record,
            };
            let mut record = record;
            let key = record.key();
            let kh = key_hash(&key);
            if let Some(th) = text_hash(&record.text) {
                match text_owners.get(&th) {
                    Some((owner, at)) if *owner != kh => {
                        record.duplicate_of = Some(match at {
                            TextOwner::Run(k) => k.clone(),
                            TextOwner::Indexed(address) => index.key_at(*address)?,
                        });
                    }
                    Some(_) => {}
                    None => {
                        text_owners.insert(th, (kh, TextOwner::Run(key)));
                    }
                }
            }
            let hash = record.content_hash();
            match seen.get(&kh) {
                Some(&h) if h == hash => {
                    counts.duplicates += 1;
                    continue;
                }
                Some(_) => counts.updated += 1,
                None => match known.get(&kh) {
                    Some(&h) if h == hash => {
                        counts.unchanged += 1;
                        if record.duplicate_of.is_some() {
                            counts.near_duplicates += 1;
                        }
                        seen.insert(kh, hash);
                        if record.created_at.is_none() {
                            counts.undated += 1;
                        }
                        continue;
                    }
                    Some(_) => counts.updated += 1,
                    None => counts.new += 1,
                },
            }
            if record.created_at.is_none() {
                counts.undated += 1;
            }
            if record.duplicate_of.is_some() {
                counts.near_duplicates += 1;
            }
            seen.insert(kh, hash);
            to_index.push((record, hash));
        }
        let analyses: Vec<Analysis> = pool.install(|| {
            to_index
                .par_iter()
                .map(|(record, _)| analyze_record(analyzer, record))
                .collect()
        });
        for ((record, hash), analysis) in to_index.iter().zip(&analyses) {
            writer.upsert(record, analysis, *hash)?;
        }
        since_commit += to_index.len() as u64;
        if since_commit >= COMMIT_EVERY {
            writer.commit(&payload(fingerprint, &counts))?;
            since_commit = 0;
            progress(&format!(
                "committed {} records",
                counts.new + counts.updated
            ));
        }
    }
    let (failed, files) = reader.join().unwrap_or_default();
    failed_files.extend(failed);
    counts.indexed = counts.new + counts.updated + counts.unchanged;
    writer.commit(&payload(fingerprint, &counts))?;
    writer.finish()?;
    rejects.commit()?;
    index.reload()?;

    let options = SummaryOptions {
        since: None,
        until: None,
        as_of: config.as_of,
        generated_at: config.generated_at.clone(),
        counts: counts.clone(),
    };
    let (summary, mut written) =
        write_reports(&index, analyzer, options, &config.out_dir, config.excel_bom)?;
    written.push(config.out_dir.join("rejects.jsonl"));
    Ok(RunOutcome {
        counts,
        retagged,
        failed_files,
        files,
        summary,
        written,
    })
}

/// Where the first record with a given text is.
enum TextOwner {
    /// In the index, at this document.
    Indexed(tantivy::DocAddress),
    /// Earlier in this run, with this key.
    Run(String),
}

/// Analyses one record: title and text together, with its rating.
pub fn analyze_record(analyzer: &Analyzer, record: &Record) -> Analysis {
    let text = record.full_text();
    analyzer.analyze(AnalysisInput {
        text: &text,
        rating: record.rating,
        nps: record.nps,
        lang: Some(record.lang),
    })
}

fn payload(fingerprint: u64, counts: &Counts) -> crate::index::CommitInfo {
    crate::index::CommitInfo {
        fingerprint,
        last_run: serde_json::to_value(LastRun {
            counts: counts.clone(),
            finished_at: jiff::Timestamp::now().to_string(),
        })
        .unwrap_or_default(),
    }
}

fn retag(
    index: &VocIndex,
    writer: &mut VocWriter,
    analyzer: &Analyzer,
    pool: &rayon::ThreadPool,
    fingerprint: u64,
) -> Result<u64, RunError> {
    let mut batch: Vec<StoredRecord> = Vec::with_capacity(BATCH);
    let mut total = 0u64;
    let mut failure: Option<IndexError> = None;
    let mut flush =
        |batch: &mut Vec<StoredRecord>, writer: &mut VocWriter| -> Result<(), IndexError> {
            let analyses: Vec<Analysis> = pool.install(|| {
                batch
                    .par_iter()
                    .map(|s| analyze_record(analyzer, &s.record))
                    .collect()
            });
            for (stored, analysis) in batch.iter().zip(&analyses) {
                writer.upsert(&stored.record, analysis, stored.record.content_hash())?;
            }
            total += batch.len() as u64;
            batch.clear();
            Ok(())
        };
    index.for_each_record(|stored| {
        if failure.is_some() {
            return;
        }
        batch.push(stored);
        if batch.len() >= BATCH {
            if let Err(e) = flush(&mut batch, writer) {
                failure = Some(e);
            }
        }
    })?;
    if let Some(e) = failure {
        return Err(e.into());
    }
    flush(&mut batch, writer)?;
    let counts = index
        .last_run::<LastRun>()
        .map(|l| l.counts)
        .unwrap_or_default();
    writer.commit(&payload(fingerprint, &counts))?;
    index.reload()?;
    Ok(total)
}

/// Builds the summary from the index and writes summary.json, themes.csv and records.csv.
pub fn write_reports(
    index: &VocIndex,
    analyzer: &Analyzer,
    options: SummaryOptions,
    out_dir: &Path,
    excel_bom: bool,
) -> Result<(Summary, Vec<PathBuf>), RunError> {
    let records_path = out_dir.join("records.csv");
    let mut builder = SummaryBuilder::new(analyzer.taxonomy(), options.clone());
    let mut index_error = None;
    output::write_records_csv(&records_path, excel_bom, |row| {
        let result = index.for_each_record(|stored| {
            builder.add(&stored);
            if options.includes(stored.record.created_at) {
                if let Err(e) = row(&stored) {
                    index_error.get_or_insert(RunError::Output(e));
                }
            }
        });
        if let Err(e) = result {
            index_error.get_or_insert(RunError::Index(e));
        }
        Ok(())
    })?;
    if let Some(e) = index_error {
        return Err(e);
    }
    let summary = builder.finish();
    let summary_path = out_dir.join("summary.json");
    let themes_path = out_dir.join("themes.csv");
    output::write_summary_json(&summary, &summary_path)?;
    output::write_themes_csv(&summary, &themes_path, excel_bom)?;
    Ok((summary, vec![summary_path, themes_path, records_path]))
}

/// Rebuilds the report files from the index for a period.
pub fn report(
    index_dir: &Path,
    out_dir: &Path,
    analyzer: &Analyzer,
    mut options: SummaryOptions,
    excel_bom: bool,
) -> Result<(Summary, Vec<PathBuf>), RunError> {
    let index = VocIndex::open(index_dir)?;
    if let Some(last) = index.last_run::<LastRun>() {
        options.counts = last.counts;
    }
    write_reports(&index, analyzer, options, out_dir, excel_bom)
}
