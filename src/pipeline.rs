//! The `run` and `report` jobs: ingest → analyze (rayon) → index → summary → output.
//!
//! Ingest runs on its own thread and hands batches over a bounded channel, so
//! memory stays flat whatever the input size. Each record is classified
//! against the index (new, updated, unchanged) and against this run (exact
//! duplicate); only new and changed records are analysed and written. The
//! index commits every [`COMMIT_EVERY`] records and at the end; summary files
//! are written from the committed index, never from the inputs.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::sync_channel;
use std::sync::Arc;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::analyze::{Analysis, AnalysisInput, Analyzer};
/// Entries each per-record table of the ingest keeps in memory by default.
pub use crate::index::SPILL_AFTER;
use crate::index::{
    key_hash, HashEntry, IndexError, IndexedOwners, KnownKeys, OrderKey, RowCacheWriter, RowMerge,
    SpillBytes, SpillEntry, SpillTable, StoredRecord, VocDocument, VocIndex, VocWriter, CACHE_DIR,
};
use crate::ingest::manifest::{manifest_key, Check, FileState, Manifest};
use crate::ingest::neardup::text_hash;
use crate::ingest::{read_input, FileReport, InputFile, Item, MapHints, MapSpec, Reject};
use crate::output::{
    self, OutputError, ReadyRow, RedactedText, RejectsWriter, RowFields, XlsxReport,
};
use crate::record::Record;
use crate::summary::{
    Counts, Discovery, PhraseTable, RecordPart, RecordPhrases, RunMemory, SegmentPhrases, Summary,
    SummaryBuilder, SummaryOptions, SummaryTally, MAX_KEPT,
};
use crate::text::{tokenize_with_ids, UserDictionary, WordIds};

/// Bytes of encoded rows handed to the Records sheet's thread at a time.
const SHEET_BLOCK: usize = 1 << 20;
/// Records per batch handed from ingest to analysis.
const BATCH: usize = 1024;
/// Documents of the report order taken at a time from the store's order
/// (a multiple of the decoding block, so its parallel blocks stay full).
const ORDER_CHUNK: usize = 4 * 2048;
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
    /// The run was cancelled (Ctrl-C): what was done before is committed.
    #[error(
        "interrupted: committed what was done ({} items read, {} new, {} updated); run again to finish",
        counts.read, counts.new, counts.updated
    )]
    Interrupted {
        /// Counts of the items handled before the interruption.
        counts: Box<Counts>,
    },
    /// The worker pool could not start.
    #[error("cannot start {threads} worker threads: {message}")]
    Threads {
        /// Requested threads.
        threads: usize,
        /// Why.
        message: String,
    },
}

/// What a job reports while it works: notes, and counts for progress bars.
///
/// The library only emits these; the binary decides how to show them (a bar
/// on a terminal, nothing when piped or `--quiet`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress<'a> {
    /// A one-line note for the user.
    Note(&'a str),
    /// An input file is being read: its position (from 1), how many there are, its name.
    File {
        /// Position of the file, from 1.
        number: usize,
        /// Number of input files.
        files: usize,
        /// The file's name.
        name: &'a str,
    },
    /// Items read from the inputs so far.
    Read(u64),
    /// A stage over indexed records starts (re-tagging, writing reports).
    Stage {
        /// What the stage does.
        name: &'a str,
        /// Records it will go through.
        total: u64,
    },
    /// Records done in the current stage so far.
    Step(u64),
    /// The current stage is finished.
    StageDone,
}

/// What the ingest thread hands over.
enum Batch {
    /// A file starts: position (from 1) and name.
    File(usize, String),
    /// Items read.
    Items(Vec<Item>),
    /// A file was read to its end without rejects: its manifest key and
    /// state, to remember once its records are committed.
    Done(String, FileState),
    /// A file unchanged since the last run, not read: position, name,
    /// manifest key and state.
    Skipped(usize, String, String, FileState),
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
    /// How the run commits, skips work and stops.
    pub options: RunOptions,
}

impl RunConfig {
    /// A run of `inputs` into `dir/index` and `dir/report`, every other
    /// setting at its default (as benchmarks and tests want it).
    pub fn in_dir(inputs: Vec<InputFile>, dir: &Path, analyzer: Analyzer, threads: usize) -> Self {
        RunConfig {
            inputs,
            index_dir: dir.join("index"),
            out_dir: dir.join("report"),
            analyzer,
            threads,
            source: None,
            map: None,
            as_of: None,
            excel_bom: false,
            generated_at: String::new(),
            options: RunOptions::default(),
        }
    }
}

/// Options of unattended runs: commit interval, file skipping, cancellation.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Records written between two commits.
    pub commit_every: u64,
    /// Read every input file, even those unchanged since the last run.
    pub full: bool,
    /// Mask personal data in the report files and the returned summary
    /// (the index keeps the original text).
    pub redact: bool,
    /// Set (e.g. by a Ctrl-C handler) to stop the run: it commits what is
    /// done and returns [`RunError::Interrupted`].
    pub cancel: Arc<AtomicBool>,
    /// Entries each per-record table of the ingest keeps in memory before
    /// it spills to disk ([`SpillTable`]; tests use small values).
    pub spill_after: usize,
}

impl Default for RunOptions {
    fn default() -> RunOptions {
        RunOptions {
            commit_every: COMMIT_EVERY,
            full: false,
            redact: false,
            cancel: Arc::new(AtomicBool::new(false)),
            spill_after: SPILL_AFTER,
        }
    }
}

/// Test hook, compiled into debug builds only: when the environment variable
/// `VOCSCOPE_TEST_PAUSE` names `stage`, the run prints `paused at STAGE` on
/// stderr and waits there until it is cancelled or killed. The crash,
/// concurrency and Ctrl-C tests (tests/scale.rs) use it to stop a run at a
/// known point. Stages: `read` (a first batch is written but not committed,
/// the writer lock is held), `commit` (after the first intermediate commit),
/// `final-commit` (everything written, nothing more committed), `reports`
/// (the index is committed, records.csv is written, summary.json is not).
fn pause_point(stage: &str, cancel: &AtomicBool) {
    #[cfg(debug_assertions)]
    if std::env::var("VOCSCOPE_TEST_PAUSE").is_ok_and(|s| s == stage)
        && !cancel.load(Ordering::SeqCst)
    {
        eprintln!("paused at {stage}");
        while !cancel.load(Ordering::SeqCst) {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
    #[cfg(not(debug_assertions))]
    let _ = (stage, cancel);
}

/// What a run did.
#[derive(Debug)]
pub struct RunOutcome {
    /// The counts (they add up, see [`Counts::adds_up`]).
    pub counts: Counts,
    /// Records re-tagged because the taxonomy, lexicons or user dictionary changed.
    pub retagged: u64,
    /// Near-duplicates rewritten because the first owner of their text no
    /// longer has it: one of each text's became its owner, the others
    /// name it (done at the start and the end of each run).
    pub reowned: u64,
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
pub fn run(
    config: &RunConfig,
    mut progress: impl FnMut(Progress<'_>),
) -> Result<RunOutcome, RunError> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(config.threads)
        .build()
        .map_err(|e| RunError::Threads {
            threads: config.threads,
            message: e.to_string(),
        })?;
    let index = VocIndex::open_or_create(&config.index_dir)?;
    // One indexing thread: each commit's documents go to one segment, in
    // the order added, which gets the discovery phrase table computed
    // while analysing ([`CommitAggregates`]).
    let mut writer = index.writer(1)?;
    // Another run may have committed between opening and taking the lock:
    // read its commit, so keys it added are known (new keys are added
    // without a delete term).
    index.reload()?;
    let fingerprint = config.analyzer.fingerprint();
    let analyzer = &config.analyzer;

    // Re-tag what an earlier taxonomy or lexicon analysed.
    let mut retagged = 0;
    if index.num_records() > 0 && index.committed_fingerprint() != Some(fingerprint) {
        progress(Progress::Note(
            "taxonomy, lexicons or user dictionary changed since the last run: re-tagging indexed records",
        ));
        retagged = retag(&index, &mut writer, analyzer, &pool, &mut progress)?;
    }

    // Texts left without an owner by a run that stopped before its end
    // (Ctrl-C, a kill) or by an older version get one before this run's
    // records look their owners up: else a new record of such a text would
    // take it while the older near-duplicates stay flagged. From here on
    // every near-duplicate carries its text hash.
    let committed = || {
        let counts = index.last_run::<LastRun>().map(|l| l.counts);
        let manifest = index.committed_inputs().unwrap_or_default();
        payload(analyzer, &counts.unwrap_or_default(), &manifest)
    };
    hash_older_near_duplicates(&index, &mut writer, &committed)?;
    let repaired = reown_orphaned_texts(&index, &mut writer)?;
    if repaired.rewritten > 0 {
        writer.commit(&committed())?;
        index.reload()?;
    }

    let known = index.content_hashes()?;
    // First owner of each customer text: from the index, then this run.
    let spill = (config.index_dir.as_path(), config.options.spill_after);
    let mut text_owners = TextOwners::new(index.text_owners()?, spill);
    std::fs::create_dir_all(&config.out_dir).map_err(|source| OutputError::Io {
        path: config.out_dir.clone(),
        source,
    })?;
    let mut rejects = RejectsWriter::create(&config.out_dir.join("rejects.jsonl"))?;
    let mut counts = Counts::default();
    let mut ledger = Ledger::new(spill);
    let mut since_commit = 0u64;
    let mut commit_phrases = CommitAggregates::default();
    let mut failed_files = Vec::new();

    let mut manifest: Manifest = index.committed_inputs().unwrap_or_default();
    let (tx, rx) = sync_channel::<Batch>(4);
    let inputs = config.inputs.clone();
    let source = config.source.clone();
    let map = config.map.clone();
    let known_files = manifest.clone();
    let full = config.options.full;
    let reader = std::thread::spawn(move || {
        let settings = reading_settings(source.as_deref(), map.as_ref());
        let hints = MapHints {
            source: source.as_deref(),
            map: map.as_ref(),
            ..MapHints::default()
        };
        let mut batch = Vec::with_capacity(BATCH);
        let mut failed = Vec::new();
        let mut reports = Vec::new();
        // A failed send means the run stopped listening (cancelled): the
        // current file is read to its end without sending, then reading stops.
        let mut listening = true;
        for (number, file) in inputs.iter().enumerate() {
            if !batch.is_empty() {
                listening &= tx.send(Batch::Items(std::mem::take(&mut batch))).is_ok();
            }
            let mut remember = None;
            if let InputFile::Path(path) = file {
                // An unreadable file is read anyway, to report why as a reject.
                match known_files.check(path, settings, full) {
                    Ok(Check::Unchanged(state)) => {
                        let skipped =
                            Batch::Skipped(number + 1, file.name(), manifest_key(path), state);
                        listening &= tx.send(skipped).is_ok();
                        continue;
                    }
                    Ok(Check::Read(state)) => remember = Some((manifest_key(path), state)),
                    Err(_) => {}
                }
            }
            listening &= tx.send(Batch::File(number + 1, file.name())).is_ok();
            if !listening {
                break;
            }
            let result = read_input(file, &hints, |item| {
                if !listening {
                    return;
                }
                batch.push(item);
                if batch.len() >= BATCH {
                    let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                    listening &= tx.send(Batch::Items(full)).is_ok();
                }
            });
            match result {
                Ok(report) => {
                    // Files with rejects are read every time, so that
                    // rejects.jsonl keeps listing them until they are fixed.
                    if let (Some((key, mut state)), 0) = (remember, report.rejected) {
                        if !batch.is_empty() {
                            let items = std::mem::take(&mut batch);
                            listening &= tx.send(Batch::Items(items)).is_ok();
                        }
                        state.records = report.records;
                        listening &= tx.send(Batch::Done(key, state)).is_ok();
                    }
                    reports.push(report)
                }
                Err(e) => {
                    failed.push(e.detail());
                    batch.push(Item::Rejected(Reject {
                        file: file.name(),
                        location: "file".into(),
                        reason: format!("cannot read file: {}", e.detail()),
                        raw: serde_json::Value::Null,
                    }));
                }
            }
        }
        if listening && !batch.is_empty() {
            let _ = tx.send(Batch::Items(batch));
        }
        (failed, reports)
    });

    let files = config.inputs.len();
    let cancel = &*config.options.cancel;
    let mut committed_once = false;
    for message in rx.iter() {
        if cancel.load(Ordering::SeqCst) {
            break;
        }
        let batch = match message {
            Batch::File(number, name) => {
                progress(Progress::File {
                    number,
                    files,
                    name: &name,
                });
                continue;
            }
            Batch::Items(items) => items,
            Batch::Done(key, state) => {
                manifest.files.insert(key, state);
                continue;
            }
            Batch::Skipped(number, name, key, state) => {
                progress(Progress::File {
                    number,
                    files,
                    name: &name,
                });
                counts.files_skipped += 1;
                counts.skipped_records += state.records;
                manifest.files.insert(key, state);
                continue;
            }
        };
        let mut to_index: Vec<Pending> = Vec::with_capacity(batch.len());
        let hashes = pool.install(|| batch_hashes(&batch));
        for (item, hashes) in batch.into_iter().zip(hashes) {
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
            let Some(Hashes {
                key,
                key_hash: kh,
                text,
                content,
                json,
            }) = hashes
            else {
                continue;
            };
            if let Some(th) = text {
                if let Some(owner) = text_owners.owner_key(th, kh, &key, &index)? {
                    record.duplicate_of = Some(owner);
                }
            }
            // The hash covers duplicate_of, just set for near-duplicates.
            let (hash, json) = match record.duplicate_of {
                Some(_) => (record.content_hash(), None),
                None => (content, Some(json)),
            };
            let flags = Flags {
                undated: record.created_at.is_none(),
                near_duplicate: record.duplicate_of.is_some(),
            };
            let replace = match ledger.classify(kh, hash, flags, &known, &mut counts)? {
                Decision::Duplicate | Decision::Keep => continue,
                Decision::Write { replace } => replace,
            };
            to_index.push(Pending {
                record,
                key,
                key_hash: kh,
                hash,
                text_hash: text.unwrap_or(0),
                replace,
                json,
            });
        }
        let first_doc = commit_phrases.docs.len() as u32;
        let built = analyse_batch(&to_index, first_doc, analyzer, &writer, &pool);
        for (chunk, built) in to_index.chunks(PHRASE_CHUNK).zip(built) {
            commit_phrases.add_table(built.table);
            commit_phrases.tally.merge_tally(built.tally);
            for (p, (doc, kept)) in chunk.iter().zip(built.docs) {
                if p.replace {
                    writer.add(&p.key, doc?)?;
                } else {
                    writer.insert(doc?)?;
                }
                commit_phrases.add_doc(p.key_hash, p.hash, kept);
            }
        }
        since_commit += to_index.len() as u64;
        pause_point("read", cancel);
        if since_commit >= config.options.commit_every {
            counts.indexed = counts.new + counts.updated + counts.unchanged;
            writer.commit(&payload(analyzer, &counts, &manifest))?;
            commit_phrases.cache(&index);
            since_commit = 0;
            progress(Progress::Note(&format!(
                "committed {} records",
                counts.new + counts.updated
            )));
            if !committed_once {
                committed_once = true;
                pause_point("commit", cancel);
            }
        }
        progress(Progress::Read(counts.read));
    }
    counts.indexed = counts.new + counts.updated + counts.unchanged;
    debug_assert!(counts.adds_up(), "{counts:?}");
    if cancel.load(Ordering::SeqCst) {
        // Stop the reader (its sends fail from now on) and keep what is done.
        drop(rx);
        writer.commit(&payload(analyzer, &counts, &manifest))?;
        writer.finish()?;
        rejects.discard();
        return Err(RunError::Interrupted {
            counts: Box::new(counts),
        });
    }
    let (failed, files) = reader.join().unwrap_or_default();
    failed_files.extend(failed);
    // The per-record tables of the ingest are not needed by the reports:
    // freed before them, so the run's peak is the larger of the two stages,
    // not their sum.
    // (The ledger is kept until the texts' owners are checked.)
    drop((known, text_owners));
    pause_point("final-commit", cancel);
    writer.commit(&payload(analyzer, &counts, &manifest))?;
    commit_phrases.cache(&index);
    index.reload()?;
    let reowned = reown_orphaned_texts(&index, &mut writer)?;
    // A record of this run flagged as a near-duplicate that now owns its
    // text is no longer one.
    let mut now_owners = 0;
    for &owner in &reowned.owners {
        now_owners += u64::from(ledger.flagged_near_duplicate(owner)?);
    }
    counts.near_duplicates = counts.near_duplicates.saturating_sub(now_owners);
    drop(ledger);
    if reowned.rewritten > 0 {
        writer.commit(&payload(analyzer, &counts, &manifest))?;
    }
    rejects.commit()?;
    index.reload()?;
    // Segments are merged now, on tantivy's merge thread while the reports
    // are written from the commit above; the merged segments' caches are
    // then made from those the report pass leaves (see index::merge).
    let merges = writer.start_merges(&index)?;

    let options = SummaryOptions {
        since: None,
        until: None,
        as_of: config.as_of,
        generated_at: config.generated_at.clone(),
        counts: counts.clone(),
        previous_run: recall_last_run(&config.index_dir),
    };
    let (summary, mut written) = write_reports(
        &index,
        analyzer,
        options,
        &config.out_dir,
        config.excel_bom,
        config.options.redact,
        &mut |p| {
            if p == Progress::StageDone {
                pause_point("reports", cancel);
            }
            progress(p)
        },
    )?;
    remember_run(&config.index_dir, &summary)?;
    written.push(config.out_dir.join("rejects.jsonl"));
    // The caches are carried while the writer lock is held, so another run
    // cannot remove the sources' caches first. They only save time: a
    // failure here leaves the merged segment to the next report pass.
    let merged = writer.finish_merges(merges);
    if !merged.is_empty() && index.reload().is_ok() {
        let mut carried = index.carry_aggregate::<SummaryTally>(&merged)
            + index.carry_aggregate::<SegmentPhrases>(&merged);
        for redact in [false, true] {
            let (name, rules) = (
                output::row_cache_name(redact),
                output::row_cache_rules(redact),
            );
            carried += index.carry_rows(&merged, name, rules);
        }
        progress(Progress::Note(&format!(
            "merged {} records into {} segment(s), {carried} report cache(s) carried over",
            merged.documents(),
            merged.len()
        )));
    }
    writer.finish()?;
    Ok(RunOutcome {
        counts,
        retagged,
        reowned: repaired.rewritten + reowned.rewritten,
        failed_files,
        files,
        summary,
        written,
    })
}

/// File next to the index that holds the last run's key facts.
pub const LAST_RUN_FILE: &str = "last_run.json";

/// The key facts of the last completed run on this index, if any. A missing
/// or unreadable file means there is nothing to compare with.
fn recall_last_run(index_dir: &Path) -> Option<RunMemory> {
    let text = std::fs::read_to_string(index_dir.join(LAST_RUN_FILE)).ok()?;
    serde_json::from_str(&text).ok()
}

/// Keeps this run's key facts for the next run (written atomically, after the
/// reports, so it always describes a run that completed).
fn remember_run(index_dir: &Path, summary: &Summary) -> Result<(), RunError> {
    output::write_json_file(&RunMemory::of(summary), &index_dir.join(LAST_RUN_FILE))?;
    Ok(())
}

/// Hashes of a record that classify it, computed in parallel before the
/// (sequential) ledger sees it.
struct Hashes {
    key: String,
    key_hash: u64,
    /// Normalized-text hash (near-duplicates), when the text is long enough.
    text: Option<u64>,
    /// Content hash, as long as the record is not a near-duplicate.
    content: u64,
    /// The record's JSON, whose hash `content` is: the doc store takes it
    /// as it is unless the record changes (a near-duplicate).
    json: Vec<u8>,
}

fn batch_hashes(batch: &[Item]) -> Vec<Option<Hashes>> {
    batch
        .par_iter()
        .map(|item| match item {
            Item::Rejected(_) => None,
            Item::Record { record, .. } => {
                let key = record.key();
                let (json, content) = record.json_and_hash();
                Some(Hashes {
                    key_hash: key_hash(&key),
                    key,
                    text: text_hash(&record.text),
                    content,
                    json,
                })
            }
        })
        .collect()
}

/// Records analysed one after the other on a worker of [`analyse_batch`]:
/// their phrases are counted in one table there.
const PHRASE_CHUNK: usize = 64;

/// What [`analyse_batch`] gives for [`PHRASE_CHUNK`] records.
struct BuiltChunk {
    /// Each record's document, and whether discovery keeps its sentences
    /// ([`RecordPhrases::kept`]).
    docs: Vec<(Result<VocDocument, IndexError>, bool)>,
    /// The phrase table of the chunk's records that are not near-duplicates.
    table: PhraseTable,
    /// The summary tally of the chunk's records.
    tally: SummaryTally,
}

/// Analyses records on the pool and builds their documents, chunk by
/// chunk (in order): each record is tokenized once (analysis, the index
/// and discovery's phrases share the words), and its phrases are counted
/// in its chunk's table on the worker that found them, so their strings
/// are made and freed on one thread and the ingest loop merges one table
/// per chunk instead of adding each record's phrases.
fn analyse_batch(
    pending: &[Pending],
    first_doc: u32,
    analyzer: &Analyzer,
    writer: &VocWriter,
    pool: &rayon::ThreadPool,
) -> Vec<BuiltChunk> {
    let documents = writer.documents();
    pool.install(|| {
        pending
            .par_chunks(PHRASE_CHUNK)
            .enumerate()
            .map(|(number, chunk)| {
                let (mut words, mut ids) = (Vec::new(), WordIds::default());
                let mut table = PhraseTable::default();
                let mut tally = SummaryTally::default();
                let first = first_doc + (number * PHRASE_CHUNK) as u32;
                let docs = chunk
                    .iter()
                    .enumerate()
                    .map(|(i, p)| {
                        let text = p.record.full_text();
                        tokenize_with_ids(&text, &mut words, &mut ids);
                        let analysis = analyzer.analyze_words_with_ids(
                            analysis_input(&p.record, &text),
                            &words,
                            &ids,
                        );
                        tally.add_analysed(first + i as u32, &p.record, &analysis);
                        let mut kept = false;
                        // Discovery leaves near-duplicates out.
                        if p.record.duplicate_of.is_none() {
                            let phrases =
                                RecordPhrases::of_words(&p.record, &analysis, &text, &words, &ids);
                            kept = phrases.kept();
                            table.add_owned(phrases);
                        }
                        let doc = documents.build_with_words(
                            &p.record,
                            &analysis,
                            p.hash,
                            p.text_hash,
                            Some((&text, &words)),
                            p.json.as_deref(),
                        );
                        (doc, kept)
                    })
                    .collect();
                BuiltChunk { docs, table, tally }
            })
            .collect()
    })
}

/// A record to analyse and write, with what classified it.
struct Pending {
    record: Record,
    key: String,
    /// Hash of `key`.
    key_hash: u64,
    /// Content hash.
    hash: u64,
    /// Normalized-text hash to store (0: none, or a near-duplicate).
    text_hash: u64,
    /// An earlier version may be in the index or written in this run.
    replace: bool,
    /// The record's JSON when `hash` is its hash (not a near-duplicate).
    json: Option<Vec<u8>>,
}

/// Discovery's phrase table and the summary tally of the documents added
/// since the last commit, computed from the analysis: after the commit
/// they are cached as the aggregates of the segment holding exactly those
/// documents ([`VocIndex::fresh_segment`]), so the report pass
/// neither tokenizes nor tallies that segment's records again, and the
/// tallies of a run's segments are not all held in memory until its end.
#[derive(Default)]
struct CommitAggregates {
    /// The table, with document numbers counted from the commit's first.
    segment: SegmentPhrases,
    /// The tally, with document numbers counted from the commit's first
    /// (filled by the caller: [`BuiltChunk::tally`]).
    tally: SummaryTally,
    /// Key hash and content hash of each document, in the order added.
    docs: Vec<(u64, u64)>,
    /// Key hashes of `docs`.
    keys: std::collections::HashSet<u64, rustc_hash::FxBuildHasher>,
    /// A key was added twice: its first document is deleted by the commit
    /// but counted in the table, which is then not cached.
    replaced: bool,
}

impl CommitAggregates {
    /// Adds the next document: its key and content hashes and its phrases
    /// (None for a near-duplicate, which discovery leaves out).
    #[cfg(test)]
    fn add(&mut self, key_hash: u64, content_hash: u64, phrases: Option<&RecordPhrases>) {
        let doc = self.docs.len() as u32;
        self.add_doc(key_hash, content_hash, false);
        if let Some(phrases) = phrases {
            self.segment.add_phrases(doc, phrases);
        }
    }

    /// Adds the next document, whose phrases are in a table added with
    /// [`CommitAggregates::add_table`]: its key and content hashes, and whether
    /// discovery keeps its sentences ([`RecordPhrases::kept`]).
    fn add_doc(&mut self, key_hash: u64, content_hash: u64, kept: bool) {
        let doc = self.docs.len() as u32;
        self.replaced |= !self.keys.insert(key_hash);
        self.docs.push((key_hash, content_hash));
        if kept {
            self.segment.kept_docs.insert(doc);
        }
    }

    /// Adds the phrase counts of documents added (before or after) with
    /// [`CommitAggregates::add_doc`]: the counts are sums, so the order does
    /// not matter.
    fn add_table(&mut self, table: PhraseTable) {
        self.segment.table.merge(table);
    }

    /// After a commit: caches the table and the tally for the segment
    /// written, and starts afresh for the next commit. The tally is cached
    /// only when it counted every document, as a record or as a
    /// near-duplicate (documents added with [`CommitAggregates::add`] have
    /// phrases but no tally).
    fn cache(&mut self, index: &VocIndex) {
        let mut done = std::mem::take(self);
        if done.replaced {
            return;
        }
        let Some(fresh) = index.fresh_segment(&done.docs) else {
            return;
        };
        index.cache_fresh(&fresh, &done.segment);
        if done.tally.records + done.tally.near_duplicates == done.docs.len() as u64 {
            done.tally.sort_by_doc();
            index.cache_fresh(&fresh, &done.tally);
        }
    }
}

/// What to do with a record read in this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decision {
    /// An exact repeat of the latest version seen in this run.
    Duplicate,
    /// The index already holds exactly this.
    Keep,
    /// Analyse and write: an upsert when an earlier version of the key may
    /// be in the index or among the documents written in this run
    /// (`replace`), a plain add when neither holds the key.
    Write {
        /// Delete earlier versions of the key first.
        replace: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bucket {
    New,
    Updated,
    Unchanged,
}

/// Facts about a record version that counts keep track of.
#[derive(Debug, Clone, Copy)]
struct Flags {
    /// The record has no date.
    undated: bool,
    /// Its text was seen first under another key.
    near_duplicate: bool,
}

#[derive(Debug, Clone, Copy)]
struct Seen {
    hash: u64,
    bucket: Bucket,
    flags: Flags,
    written: bool,
}

/// A [`Seen`] in 17 bytes: key hash, content hash, and the bucket and the
/// flags packed in one byte.
#[derive(Debug, Clone, Copy)]
#[repr(C, packed)]
struct LedgerEntry {
    key_hash: u64,
    hash: u64,
    /// Bucket (bits 0-1), undated, near-duplicate, written (bits 2, 3, 4).
    state: u8,
}

impl HashEntry for LedgerEntry {
    fn hash_key(&self) -> u64 {
        self.key_hash
    }
}

impl SpillEntry for LedgerEntry {
    const BYTES: usize = 17;
    fn encode(&self, out: &mut [u8]) {
        let (key_hash, hash) = (self.key_hash, self.hash);
        out[..8].copy_from_slice(&key_hash.to_le_bytes());
        out[8..16].copy_from_slice(&hash.to_le_bytes());
        out[16] = self.state;
    }
    fn decode(bytes: &[u8]) -> LedgerEntry {
        LedgerEntry {
            key_hash: u64_at(bytes, 0),
            hash: u64_at(bytes, 8),
            state: bytes[16],
        }
    }
}

/// The little-endian u64 at `at` in `bytes`.
fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(word)
}

impl LedgerEntry {
    fn new(key_hash: u64, seen: Seen) -> LedgerEntry {
        let bucket = match seen.bucket {
            Bucket::New => 0,
            Bucket::Updated => 1,
            Bucket::Unchanged => 2,
        };
        let bit = |on: bool, at: u8| u8::from(on) << at;
        LedgerEntry {
            key_hash,
            hash: seen.hash,
            state: bucket
                | bit(seen.flags.undated, 2)
                | bit(seen.flags.near_duplicate, 3)
                | bit(seen.written, 4),
        }
    }

    fn seen(self) -> Seen {
        let bit = |at: u8| self.state >> at & 1 == 1;
        Seen {
            hash: self.hash,
            bucket: match self.state & 3 {
                0 => Bucket::New,
                1 => Bucket::Updated,
                _ => Bucket::Unchanged,
            },
            flags: Flags {
                undated: bit(2),
                near_duplicate: bit(3),
            },
            written: bit(4),
        }
    }
}

/// Classifies each record of a run against the index as it was when the run
/// started and against earlier versions in this run, so that every item ends
/// in exactly one bucket. When one key comes twice with different content,
/// the later version wins: the earlier one moves to `superseded`, and the
/// later one is compared with the index as it was before the run (so a
/// re-run of the same inputs reports nothing new or updated).
///
/// One entry of 17 bytes per key read in this run, in a [`SpillTable`]:
/// about 19 bytes a record with its slack up to the table's limit, 2 bytes
/// a record beyond it (a hash map took 35 to 52).
struct Ledger {
    seen: SpillTable<LedgerEntry>,
}

impl Ledger {
    /// An empty ledger spilling to `dir` beyond `limit` entries in memory.
    fn new((dir, limit): (&Path, usize)) -> Ledger {
        Ledger {
            seen: SpillTable::new(dir, limit),
        }
    }

    /// Whether the last version of the record with this key hash seen in
    /// this run was flagged as a near-duplicate (and counted as one).
    fn flagged_near_duplicate(&self, key_hash: u64) -> Result<bool, IndexError> {
        let entry = self.seen.get(key_hash)?;
        Ok(entry.is_some_and(|entry| entry.seen().flags.near_duplicate))
    }

    fn classify(
        &mut self,
        key_hash: u64,
        hash: u64,
        flags: Flags,
        known: &KnownKeys,
        counts: &mut Counts,
    ) -> Result<Decision, IndexError> {
        let mut index_changed = false;
        let previous = self.seen.get(key_hash)?.map(LedgerEntry::seen);
        if let Some(prev) = previous {
            if prev.hash == hash {
                counts.duplicates += 1;
                return Ok(Decision::Duplicate);
            }
            match prev.bucket {
                Bucket::New => counts.new -= 1,
                Bucket::Updated => counts.updated -= 1,
                Bucket::Unchanged => counts.unchanged -= 1,
            }
            if prev.flags.undated {
                counts.undated -= 1;
            }
            if prev.flags.near_duplicate {
                counts.near_duplicates -= 1;
            }
            counts.superseded += 1;
            index_changed = prev.written;
        }
        let bucket = match known.get(key_hash) {
            None => Bucket::New,
            Some(h) if h == hash => Bucket::Unchanged,
            Some(_) => Bucket::Updated,
        };
        match bucket {
            Bucket::New => counts.new += 1,
            Bucket::Updated => counts.updated += 1,
            Bucket::Unchanged => counts.unchanged += 1,
        }
        if flags.undated {
            counts.undated += 1;
        }
        if flags.near_duplicate {
            counts.near_duplicates += 1;
        }
        let write = bucket != Bucket::Unchanged || index_changed;
        self.seen.insert(LedgerEntry::new(
            key_hash,
            Seen {
                hash,
                bucket,
                flags,
                written: write || index_changed,
            },
        ))?;
        Ok(if write {
            Decision::Write {
                replace: known.contains(key_hash) || previous.is_some_and(|p| p.written),
            }
        } else {
            Decision::Keep
        })
    }
}

/// The first owner of each customer text (normalized-text hash): among the
/// committed records (a sorted array, see [`IndexedOwners`]), then among
/// this run's records. This run's owners take an entry of 24 bytes in a
/// [`SpillTable`] (text hash, key hash, where the key is; about 27 bytes
/// with its slack up to the table's limit, 2 beyond it, where a hash map
/// took 35 to 55) and the key's bytes in a [`SpillBytes`] (in memory up to
/// 1 MiB): no allocation per record.
struct TextOwners {
    indexed: IndexedOwners,
    run: SpillTable<RunOwner>,
    /// The keys of this run's owners.
    keys: SpillBytes,
}

/// An owner of a text among this run's records.
#[derive(Debug, Clone, Copy)]
struct RunOwner {
    text: u64,
    key_hash: u64,
    /// Where its key is in [`TextOwners::keys`].
    at: u64,
}

impl HashEntry for RunOwner {
    fn hash_key(&self) -> u64 {
        self.text
    }
}

impl SpillEntry for RunOwner {
    const BYTES: usize = 24;
    fn encode(&self, out: &mut [u8]) {
        out[..8].copy_from_slice(&self.text.to_le_bytes());
        out[8..16].copy_from_slice(&self.key_hash.to_le_bytes());
        out[16..24].copy_from_slice(&self.at.to_le_bytes());
    }
    fn decode(bytes: &[u8]) -> RunOwner {
        RunOwner {
            text: u64_at(bytes, 0),
            key_hash: u64_at(bytes, 8),
            at: u64_at(bytes, 16),
        }
    }
}

impl TextOwners {
    /// This run's owners spill to `dir` beyond `limit` in memory.
    fn new(indexed: IndexedOwners, (dir, limit): (&Path, usize)) -> TextOwners {
        TextOwners {
            indexed,
            run: SpillTable::new(dir, limit),
            keys: SpillBytes::new(dir),
        }
    }

    /// The key of the first owner of text `text` when it is another record
    /// than `key` (hash `key_hash`): the record is then a near-duplicate.
    /// When the text has no owner yet, this record becomes it.
    fn owner_key(
        &mut self,
        text: u64,
        key_hash: u64,
        key: &str,
        index: &VocIndex,
    ) -> Result<Option<String>, IndexError> {
        if let Some((owner, address)) = self.indexed.get(text) {
            return match owner != key_hash {
                true => index.key_at(address).map(Some),
                false => Ok(None),
            };
        }
        match self.run.get(text)? {
            Some(RunOwner {
                key_hash: owner,
                at,
                ..
            }) if owner != key_hash => {
                let key = self.keys.get(at)?;
                Ok(Some(String::from_utf8_lossy(&key).into_owned()))
            }
            Some(_) => Ok(None),
            None => {
                let at = self.keys.push(key.as_bytes())?;
                self.run.insert(RunOwner { text, key_hash, at })?;
                Ok(None)
            }
        }
    }
}

/// Keeps each customer text counted once after its first owner's text
/// changed (or the owner became a near-duplicate itself): the records
/// still flagged as near-duplicates of that owner would otherwise leave the
/// text counted nowhere. Of each such text's near-duplicates, the first in
/// report order (creation time, then key hash) becomes its owner and the
/// others are flagged as near-duplicates of it. The whole index is checked,
/// so a run killed before this step is completed by the next one. The
/// caller commits what it rewrote.
fn reown_orphaned_texts(index: &VocIndex, writer: &mut VocWriter) -> Result<Reowned, RunError> {
    let mut failure: Option<IndexError> = None;
    let groups = index.orphaned_near_duplicates()?;
    let mut reowned = Reowned::default();
    if groups.is_empty() {
        return Ok(reowned);
    }
    let firsts: std::collections::HashSet<tantivy::DocAddress> =
        groups.iter().filter_map(|g| g.first().copied()).collect();
    let order: Vec<tantivy::DocAddress> = groups.concat();
    let mut owner: Option<String> = None;
    index.for_each_record_mapped(
        &order,
        |address, _| firsts.contains(&address),
        |_, mut stored, first| {
            if failure.is_some() {
                return;
            }
            if first {
                stored.record.duplicate_of = None;
                let key = stored.record.key();
                reowned.owners.push(crate::index::key_hash(&key));
                owner = Some(key);
            } else {
                stored.record.duplicate_of = owner.clone();
            }
            let hash = stored.record.content_hash();
            if let Err(e) = writer.upsert(&stored.record, &stored.analysis, hash) {
                failure = Some(e);
            }
        },
    )?;
    if let Some(e) = failure {
        return Err(e.into());
    }
    reowned.rewritten = order.len() as u64;
    Ok(reowned)
}

/// Gives the near-duplicates of an index written before they carried their
/// text hash (a lone 0) their hash, so that [`reown_orphaned_texts`] sees
/// them: found once by reading the stored records whose hash is a lone 0,
/// rewritten, and committed with what `info` gives. Nothing to do for an
/// index whose commit says they carry it.
fn hash_older_near_duplicates(
    index: &VocIndex,
    writer: &mut VocWriter,
    info: &dyn Fn() -> crate::index::CommitInfo,
) -> Result<(), RunError> {
    if index.near_duplicates_hashed() {
        return Ok(());
    }
    let mut failure: Option<IndexError> = None;
    let unhashed = index.unhashed_documents()?;
    index.for_each_record_at(&unhashed, |stored| {
        let flagged = stored.record.duplicate_of.is_some();
        if failure.is_none() && flagged && text_hash(&stored.record.text).is_some() {
            // Same record, same content hash: only the fast field changes.
            let hash = stored.record.content_hash();
            if let Err(e) = writer.upsert(&stored.record, &stored.analysis, hash) {
                failure = Some(e);
            }
        }
    })?;
    if let Some(e) = failure {
        return Err(e.into());
    }
    writer.commit(&info())?;
    index.reload()?;
    Ok(())
}

/// What [`reown_orphaned_texts`] rewrote.
#[derive(Debug, Default)]
struct Reowned {
    /// Records rewritten because their text had lost its owner.
    rewritten: u64,
    /// Key hashes of the records that became their text's owner.
    owners: Vec<u64>,
}

/// Analyses one record: title and text together, with its rating.
pub fn analyze_record(analyzer: &Analyzer, record: &Record) -> Analysis {
    let text = record.full_text();
    analyzer.analyze(analysis_input(record, &text))
}

/// What analysis reads of a record whose full text is `text`.
fn analysis_input<'a>(record: &Record, text: &'a str) -> AnalysisInput<'a> {
    AnalysisInput {
        text,
        rating: record.rating,
        nps: record.nps,
        lang: Some(record.lang),
    }
}

/// Hash of what decides how a file becomes records besides its bytes.
fn reading_settings(source: Option<&str>, map: Option<&MapSpec>) -> u64 {
    let text = serde_json::to_string(&(source, map)).unwrap_or_default();
    crate::record::fnv1a(text.as_bytes())
}

/// What a commit of this run remembers. Every near-duplicate committed by
/// a run carries its text hash ([`VocIndex::near_duplicates_hashed`]): a
/// re-tag rewrites every record, and the others commit after
/// [`hash_older_near_duplicates`] has hashed an older index's.
fn payload(analyzer: &Analyzer, counts: &Counts, manifest: &Manifest) -> crate::index::CommitInfo {
    crate::index::CommitInfo {
        near_duplicates_hashed: true,
        inputs: serde_json::to_value(manifest).unwrap_or_default(),
        fingerprint: analyzer.fingerprint(),
        taxonomy: Some(analyzer.taxonomy().source.clone()),
        user_dictionary: Some(crate::text::user_dictionary())
            .filter(|d| !d.is_empty())
            .map(UserDictionary::to_text),
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
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<u64, RunError> {
    progress(Progress::Stage {
        name: "re-tagging",
        total: index.num_records(),
    });
    let mut batch: Vec<StoredRecord> = Vec::with_capacity(BATCH);
    let mut total = 0u64;
    let mut failure: Option<IndexError> = None;
    let mut visited = 0u64;
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
        visited += 1;
        if batch.len() >= BATCH {
            if let Err(e) = flush(&mut batch, writer) {
                failure = Some(e);
            }
            progress(Progress::Step(visited));
        }
    })?;
    if let Some(e) = failure {
        return Err(e.into());
    }
    flush(&mut batch, writer)?;
    progress(Progress::StageDone);
    let counts = index
        .last_run::<LastRun>()
        .map(|l| l.counts)
        .unwrap_or_default();
    let manifest: Manifest = index.committed_inputs().unwrap_or_default();
    writer.commit(&payload(analyzer, &counts, &manifest))?;
    index.reload()?;
    Ok(total)
}

/// Builds the summary from the index and writes the report files:
/// summary.json, themes.csv, records.csv, vocscope.xlsx and report.html.
///
/// The index is read once: each record goes to the summary builder, to
/// records.csv and to the workbook's Records sheet in the same pass; the
/// files that need the whole summary are written after it. The rows of
/// segments with a valid row cache ([`VocIndex::row_caches`]) come from it,
/// merged in report order, and the rows of the others are cached on the
/// way; a segment is read from the store only when its rows or the summary
/// builder need it (the per-segment `from_store` flag). When the summary
/// covers every record (no `--since`/`--until`), phrase discovery is not
/// done in that pass but from per-segment phrase tables cached beside the
/// index ([`indexed_discovery`]), so a rerun tokenizes only new segments.
pub fn write_reports(
    index: &VocIndex,
    analyzer: &Analyzer,
    options: SummaryOptions,
    out_dir: &Path,
    excel_bom: bool,
    redact: bool,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<(Summary, Vec<PathBuf>), RunError> {
    let records_path = out_dir.join("records.csv");
    let xlsx_path = out_dir.join("vocscope.xlsx");
    let html_path = out_dir.join("report.html");
    let mut workbook = XlsxReport::create(&xlsx_path)?;
    let mut index_error = None;
    let mut done = 0u64;
    progress(Progress::Stage {
        name: "writing reports",
        total: index.num_records(),
    });
    // Cached phrase tables and summary tallies, when the summary covers
    // every record; segments without one are tokenized in this pass (on
    // the decoding threads) or fed to the summary builder. Which segments
    // have one is planned from the cache files' headers; the aggregates
    // are read (and pruned of records deleted since) on a thread of their
    // own while this pass writes the rows (see `read_cached_aggregates`).
    let in_pass = options.since.is_some() || options.until.is_some();
    let uncached = |cached: Vec<bool>| cached.into_iter().map(|c| !c).collect();
    let (to_summarize, to_build): (Vec<bool>, Vec<bool>) = match in_pass {
        true => (Vec::new(), Vec::new()),
        false => (
            uncached(index.cached_segments::<SummaryTally>()),
            uncached(index.cached_segments::<SegmentPhrases>()),
        ),
    };
    // The segments whose records the summary builder still needs: all of
    // them for a period (`to_summarize` is then empty), else those without
    // a cached tally or phrase table.
    let needed = |ord: usize| {
        let is = |flags: &[bool]| flags.get(ord) == Some(&true);
        in_pass || is(&to_build) || is(&to_summarize)
    };
    // Rows come from each segment's row cache (one per variant, redacted or
    // not: see output::rows), merged in report order; a segment without one
    // is read from the store for its rows, which are cached on the way.
    let (cache_name, cache_rules) = (
        output::row_cache_name(redact),
        output::row_cache_rules(redact),
    );
    let row_caches = index.row_caches(cache_name, cache_rules);
    let rows_cached: Vec<bool> = row_caches.iter().map(Option::is_some).collect();
    // The segments read from the doc store: those without cached rows, and
    // those the summary builder needs.
    let from_store: Vec<bool> = (0..rows_cached.len())
        .map(|ord| needed(ord) || !rows_cached[ord])
        .collect();
    let mut row_writers: Vec<Option<RowCacheWriter>> = (0..rows_cached.len())
        .map(|ord| match rows_cached[ord] {
            true => None,
            false => index.row_cache_writer(cache_name, cache_rules, ord as u32),
        })
        .collect();
    // The documents read from the store, in report order, made as the pass
    // takes them (4 bytes a document, see `index::OrderMerge`); the other
    // segments' order comes with their cached rows.
    let mut store_order = index.order_merge(|ord| from_store[ord as usize])?;
    let mut merge = RowMerge::new(row_caches.into_iter().flatten().collect())?;
    type Phrased = (StoredRecord, tantivy::DocAddress, Option<RecordPhrases>);
    // The summary builder runs on its own thread, fed in blocks, while this
    // one writes the rows: the two costs overlap.
    let (mut builder, mut built, latest, mut built_tallies, workbook, loaded) =
        std::thread::scope(|scope| -> Result<_, RunError> {
            let mut loader = (!in_pass).then(|| {
                let (to_summarize, to_build) = (&to_summarize, &to_build);
                scope.spawn(move || read_cached_aggregates(index, to_summarize, to_build))
            });
            let mut loaded = None;
            // Joins the thread reading the cached aggregates.
            let join_loader = |loader: &mut Option<std::thread::ScopedJoinHandle<'_, _>>| {
                loader.take().map(|loader| {
                    loader
                        .join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                })
            };
            let (tx, rx) = sync_channel::<Vec<Phrased>>(2);
            let builder_options = options.clone();
            let segments = to_build.len();
            let to_summarize = &to_summarize;
            let summarizer = scope.spawn(move || {
                let taxonomy = analyzer.taxonomy();
                let mut builder = if in_pass {
                    SummaryBuilder::new(taxonomy, builder_options)
                } else {
                    SummaryBuilder::without_discovery(taxonomy, builder_options)
                };
                let mut built: Vec<SegmentPhrases> = Vec::new();
                built.resize_with(segments, SegmentPhrases::default);
                let mut built_tallies: Vec<SummaryTally> = Vec::new();
                built_tallies.resize_with(to_summarize.len(), SummaryTally::default);
                // The latest kept records of the segments built here.
                let mut latest: VecDeque<(tantivy::DocAddress, RecordPhrases)> = VecDeque::new();
                for block in rx {
                    for (stored, address, phrases) in block {
                        let ord = address.segment_ord as usize;
                        if in_pass {
                            builder.add(&stored);
                        } else if to_summarize[ord] {
                            built_tallies[ord].add_record(address.doc_id, &stored);
                        }
                        let Some(phrases) = phrases else {
                            continue;
                        };
                        let segment = &mut built[ord];
                        segment.table.add(&phrases);
                        if phrases.kept() {
                            segment.kept_docs.insert(address.doc_id);
                            if latest.len() == MAX_KEPT {
                                latest.pop_front();
                            }
                            latest.push_back((address, phrases));
                        }
                    }
                }
                (builder, built, latest, built_tallies)
            });
            // The Records sheet is written on its own thread (filling the
            // rows' templates and handing them to the deflating threads)
            // while this one writes the CSV lines.
            let (sheet_tx, sheet_rx) = sync_channel::<Vec<u8>>(4);
            let sheet = scope.spawn(move || -> Result<XlsxReport, RunError> {
                for rows in sheet_rx {
                    let mut rest = rows.as_slice();
                    while let Some((template, tail)) = split_framed(rest) {
                        rest = tail;
                        workbook.add_template(template)?;
                    }
                }
                Ok(workbook)
            });
            let mut sheet_rows: Vec<u8> = Vec::with_capacity(SHEET_BLOCK + 4096);
            let mut block: Vec<Phrased> = Vec::with_capacity(BATCH);
            let csv_written = output::write_records_csv(&records_path, excel_bom, |line| {
                // Every row, cached or not, goes through here, in report order,
                // ready to write: its CSV line is written here, its sheet
                // template goes to the sheet's thread.
                let mut emit = |key: OrderKey, bytes: &[u8]| -> Result<(), RunError> {
                    let ready = ready_row(index, key, bytes)?;
                    done += 1;
                    if done.is_multiple_of(1000) {
                        progress(Progress::Step(done));
                    }
                    if !options.includes(ready.created_at) {
                        return Ok(());
                    }
                    line(ready.csv)?;
                    sheet_rows.extend_from_slice(&(ready.sheet.len() as u32).to_le_bytes());
                    sheet_rows.extend_from_slice(ready.sheet);
                    if sheet_rows.len() >= SHEET_BLOCK {
                        // A failed send means the sheet's thread stopped on an
                        // error, which its join reports.
                        let _ = sheet_tx.send(std::mem::replace(
                            &mut sheet_rows,
                            Vec::with_capacity(SHEET_BLOCK + 4096),
                        ));
                    }
                    Ok(())
                };
                // Rows not cached are made ready on the decoding threads
                // (formatting and redaction are most of their cost).
                let mapped = |address: tantivy::DocAddress, stored: &StoredRecord| {
                    let ord = address.segment_ord as usize;
                    let build = to_build.get(ord) == Some(&true);
                    let phrases = (build && stored.record.duplicate_of.is_none())
                        .then(|| RecordPhrases::of(stored));
                    let ready = (!rows_cached[ord]).then(|| {
                        let masked = redact.then(|| RedactedText::of(stored));
                        let fields = match &masked {
                            Some(masked) => RowFields::of_redacted(stored, masked),
                            None => RowFields::of(stored),
                        };
                        let mut payload = Vec::new();
                        fields
                            .encode(&records_path, &xlsx_path, &mut payload)
                            .map(|()| payload)
                    });
                    (phrases, ready)
                };
                let mut keys: Vec<OrderKey> = Vec::with_capacity(ORDER_CHUNK);
                let mut addresses: Vec<tantivy::DocAddress> = Vec::with_capacity(ORDER_CHUNK);
                loop {
                    keys.clear();
                    keys.extend(store_order.by_ref().take(ORDER_CHUNK));
                    if keys.is_empty() {
                        break;
                    }
                    addresses.clear();
                    addresses.extend(keys.iter().map(|k| k.address));
                    let mut next = 0usize;
                    let result = index.for_each_record_mapped(
                        &addresses,
                        mapped,
                        |address, stored, mapped| {
                            let (phrases, ready) = mapped;
                            let key = keys[next];
                            next += 1;
                            let ord = address.segment_ord as usize;
                            let written = match ready {
                                Some(Ok(payload)) => {
                                    if let Some(writer) = &mut row_writers[ord] {
                                        writer.push(key, &payload);
                                    }
                                    merge
                                        .drain_before(Some(key), &mut emit)
                                        .and_then(|()| emit(key, &payload))
                                }
                                Some(Err(e)) => Err(RunError::Output(e)),
                                None => Ok(()),
                            };
                            if let Err(e) = written {
                                index_error.get_or_insert(e);
                            }
                            if needed(ord) {
                                block.push((stored, address, phrases));
                            }
                            if block.len() >= BATCH {
                                // The builder ends only when this sender is dropped.
                                let _ = tx.send(std::mem::take(&mut block));
                            }
                        },
                    );
                    if let Err(e) = result {
                        index_error.get_or_insert(RunError::Index(e));
                        break;
                    }
                }
                if let Err(e) = merge.drain_before(None, &mut emit) {
                    index_error.get_or_insert(e);
                }
                // The cached aggregates must be whole too before records.csv
                // replaces the last report's.
                match join_loader(&mut loader) {
                    Some(Ok(aggregates)) => loaded = Some(aggregates),
                    Some(Err(e)) => {
                        index_error.get_or_insert(e);
                    }
                    None => {}
                }
                match index_error {
                    // Not committed: the last run's records.csv stays. (The
                    // pass's own error is the one reported.)
                    Some(_) => Err(OutputError::Io {
                        path: records_path.clone(),
                        source: std::io::Error::other("report pass stopped"),
                    }),
                    None => Ok(()),
                }
            });
            if index_error.is_none() {
                csv_written?;
            }
            if !sheet_rows.is_empty() {
                let _ = sheet_tx.send(sheet_rows);
            }
            drop(sheet_tx);
            if !block.is_empty() {
                let _ = tx.send(block);
            }
            drop(tx);
            // A panic in a helper thread is a bug: pass it on as if it ran here.
            let workbook = sheet
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            let (builder, built, latest, built_tallies) = summarizer
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            // Not joined yet when records.csv could not be opened.
            if let Some(aggregates) = join_loader(&mut loader) {
                loaded = Some(aggregates?);
            }
            Ok((builder, built, latest, built_tallies, workbook, loaded))
        })?;
    let workbook = workbook?;
    progress(Progress::StageDone);
    if let Some(e) = index_error {
        return Err(e);
    }
    for writer in row_writers.into_iter().flatten() {
        writer.finish();
    }
    // The cached tallies, and those of the segments built in this pass,
    // cached only now that the pass read every record without an error.
    // (Merged in any order: a tally's figures do not depend on it.)
    for (ord, _) in to_summarize.iter().enumerate().filter(|(_, &built)| built) {
        let mut tally = std::mem::take(&mut built_tallies[ord]);
        tally.sort_by_doc();
        index.store_aggregate(ord as u32, &tally);
        builder.add_tally(tally);
    }
    let mut summary = match loaded {
        Some(loaded) => {
            let (cached_tally, parts, cached_phrases) = loaded;
            builder.add_tally_parts(cached_tally, parts);
            let segments: Vec<SegmentPhrases> = cached_phrases
                .into_iter()
                .enumerate()
                .map(|(ord, segment)| match segment {
                    Some(segment) => segment,
                    None => {
                        let segment = std::mem::take(&mut built[ord]);
                        index.store_aggregate(ord as u32, &segment);
                        segment
                    }
                })
                .collect();
            builder.finish_with(discovery_of(index, segments, latest)?)
        }
        None => builder.finish(),
    };
    if redact {
        output::redact_summary(&mut summary);
    }
    let summary_path = out_dir.join("summary.json");
    let themes_path = out_dir.join("themes.csv");
    output::write_summary_json(&summary, &summary_path)?;
    output::write_themes_csv(&summary, &themes_path, excel_bom)?;
    workbook.finish(&summary)?;
    output::write_html_report(&summary, &html_path)?;
    Ok((
        summary,
        vec![
            summary_path,
            themes_path,
            records_path,
            xlsx_path,
            html_path,
        ],
    ))
}

/// The cached summary tallies of the segments not in `to_summarize`, folded
/// into one as they are read (so about one is held at a time), and the
/// phrase tables of the segments not in `to_build` (None for the others,
/// built in the report pass). A segment planned as cached whose aggregate
/// turns out unusable (damaged, or unable to take out its deletions
/// exactly) is built from its stored records here; a segment not planned
/// is left to the pass even if a cache appeared since.
fn read_cached_aggregates(
    index: &VocIndex,
    to_summarize: &[bool],
    to_build: &[bool],
) -> Result<CachedAggregates, RunError> {
    let planned = |flags: &[bool], ord: u32| flags.get(ord as usize) == Some(&false);
    let mut tally = SummaryTally::default();
    let mut parts = Vec::new();
    let mut unusable = Vec::new();
    index.for_each_cached_aggregate::<SummaryTally>(|ord, cached| match cached {
        Some(cached) if planned(to_summarize, ord) => parts.push(tally.merge_counts(cached)),
        None if planned(to_summarize, ord) => unusable.push(ord),
        _ => {}
    })?;
    for ord in unusable {
        parts.push(tally.merge_counts(index.built_aggregate::<SummaryTally>(ord)?.0));
    }
    let (mut phrases, _) = index.cached_aggregates::<SegmentPhrases>()?;
    for (ord, table) in phrases.iter_mut().enumerate() {
        let ord = ord as u32;
        if !planned(to_build, ord) {
            *table = None;
        } else if table.is_none() {
            *table = Some(index.built_aggregate::<SegmentPhrases>(ord)?.0);
        }
    }
    Ok((tally, parts, phrases))
}

/// What [`read_cached_aggregates`] reads: the segments' tallies summed
/// (their per-record arrays apart, see [`SummaryTally::merge_counts`]) and
/// their phrase tables.
type CachedAggregates = (SummaryTally, Vec<RecordPart>, Vec<Option<SegmentPhrases>>);

/// Splits the first row off a block of rows, each a length (u32) and bytes.
fn split_framed(rows: &[u8]) -> Option<(&[u8], &[u8])> {
    let (len, rest) = rows.split_first_chunk::<4>()?;
    let len = u32::from_le_bytes(*len) as usize;
    (rest.len() >= len).then(|| rest.split_at(len))
}

/// A row read from the row cache, or just made ready.
fn ready_row<'a>(
    index: &VocIndex,
    key: OrderKey,
    bytes: &'a [u8],
) -> Result<ReadyRow<'a>, RunError> {
    ReadyRow::decode(bytes).ok_or_else(|| {
        RunError::Index(IndexError::Corrupt {
            path: index.path().join(CACHE_DIR),
            key: format!("{:?}", key.address),
            message: "cached row does not decode".into(),
        })
    })
}

/// Phrase discovery over every record of the index: the phrase tables of
/// the segments (cached, see [`VocIndex::segment_aggregates`]) added up, and
/// the sentences of the latest [`MAX_KEPT`] records with kept sentences (in
/// report order), tokenized again. The same as feeding every record to the
/// summary builder.
pub fn indexed_discovery(index: &VocIndex) -> Result<Discovery, RunError> {
    let (segments, _) = index.segment_aggregates::<SegmentPhrases>()?;
    discovery_of(index, segments, VecDeque::new())
}

/// The latest [`MAX_KEPT`] live records with kept sentences, in report
/// order: the latest of each segment, then of them all (no order of every
/// record is made).
fn discovery_window(
    index: &VocIndex,
    segments: &[SegmentPhrases],
) -> Result<Vec<tantivy::DocAddress>, RunError> {
    let mut latest: Vec<OrderKey> = Vec::new();
    for (ord, segment) in segments.iter().enumerate() {
        let docs: Vec<tantivy::DocAddress> = segment
            .kept_docs
            .iter()
            .map(|&doc| tantivy::DocAddress::new(ord as u32, doc))
            .collect();
        let keys = index.order_keys_of(&docs)?;
        latest.extend_from_slice(&keys[keys.len().saturating_sub(MAX_KEPT)..]);
    }
    latest.sort_unstable();
    let from = latest.len().saturating_sub(MAX_KEPT);
    Ok(latest[from..].iter().map(|k| k.address).collect())
}

/// Discovery from the phrase tables of every segment and the phrases of the
/// latest kept records already at hand (`known`); the other kept records of
/// the window are read and tokenized again, for the phrases of the
/// candidates only ([`RecordPhrases::of_candidates`]).
fn discovery_of(
    index: &VocIndex,
    segments: Vec<SegmentPhrases>,
    known: VecDeque<(tantivy::DocAddress, RecordPhrases)>,
) -> Result<Discovery, RunError> {
    let window = discovery_window(index, &segments)?;
    let mut table = PhraseTable::default();
    for segment in segments {
        table.merge(segment.table);
    }
    let mut known: HashMap<tantivy::DocAddress, RecordPhrases> = known.into_iter().collect();
    let missing: Vec<tantivy::DocAddress> = window
        .iter()
        .filter(|a| !known.contains_key(a))
        .copied()
        .collect();
    // Of the records read again only the candidates' phrases are needed.
    let keys = table.candidate_keys();
    let read: Vec<RecordPhrases> = index
        .records_at(&missing)?
        .par_iter()
        .map(|stored| RecordPhrases::of_candidates(stored, &keys))
        .collect();
    known.extend(missing.into_iter().zip(read));
    let kept: Vec<RecordPhrases> = window.iter().filter_map(|a| known.remove(a)).collect();
    Ok(Discovery::from_parts(table, kept))
}

/// Rebuilds the report files from the index for a period.
pub fn report(
    index: &VocIndex,
    out_dir: &Path,
    analyzer: &Analyzer,
    mut options: SummaryOptions,
    excel_bom: bool,
    redact: bool,
    mut progress: impl FnMut(Progress<'_>),
) -> Result<(Summary, Vec<PathBuf>), RunError> {
    if let Some(last) = index.last_run::<LastRun>() {
        options.counts = last.counts;
    }
    write_reports(
        index,
        analyzer,
        options,
        out_dir,
        excel_bom,
        redact,
        &mut progress,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_through(items: &[(u64, u64)], known: &[(u64, u64)]) -> (Counts, Vec<Decision>) {
        let known = KnownKeys::from_pairs(known.to_vec());
        let tmp = tempfile::tempdir().expect("temp dir");
        let mut ledger = Ledger::new((tmp.path(), 1));
        let mut counts = Counts::default();
        let decisions = items
            .iter()
            .map(|&(k, h)| {
                counts.read += 1;
                ledger
                    .classify(
                        k,
                        h,
                        Flags {
                            undated: false,
                            near_duplicate: false,
                        },
                        &known,
                        &mut counts,
                    )
                    .expect("classify")
            })
            .collect();
        counts.indexed = counts.new + counts.updated + counts.unchanged;
        assert!(counts.adds_up(), "{counts:?}");
        (counts, decisions)
    }

    #[test]
    fn first_run_counts_new_duplicates_and_superseded() {
        // key 1 twice the same, key 2 in two versions.
        let (c, d) = run_through(&[(1, 10), (1, 10), (2, 20), (2, 21)], &[]);
        assert_eq!((c.new, c.duplicates, c.superseded, c.indexed), (2, 1, 1, 2));
        assert_eq!(
            d,
            [
                Decision::Write { replace: false },
                Decision::Duplicate,
                Decision::Write { replace: false },
                Decision::Write { replace: true }
            ]
        );
    }

    #[test]
    fn rerun_with_two_versions_of_a_key_reports_nothing_changed() {
        let (c, d) = run_through(&[(1, 10), (1, 10), (2, 20), (2, 21)], &[(1, 10), (2, 21)]);
        assert_eq!((c.new, c.updated, c.unchanged), (0, 0, 2));
        assert_eq!((c.duplicates, c.superseded), (1, 1));
        // The older version was written over the index, so the latest is written back.
        assert_eq!(d[3], Decision::Write { replace: true });
    }

    #[test]
    fn changed_record_is_updated() {
        let (c, d) = run_through(&[(1, 11)], &[(1, 10)]);
        assert_eq!((c.updated, c.indexed), (1, 1));
        assert_eq!(d, [Decision::Write { replace: true }]);
    }

    proptest::proptest! {
        /// On random runs with repeated keys and versions, the counts add
        /// up, and the ledger remembers each key's last version kept (a
        /// repeat of the same content is a duplicate and changes nothing),
        /// as a hash map of key → (content, flags) does, whether its
        /// entries stay in memory or spill to disk.
        #[test]
        fn ledger_keeps_each_keys_last_version(
            items in proptest::collection::vec((0u64..300, 0u64..3, 0u8..4), 0..1500),
            known in proptest::collection::vec((0u64..300, 0u64..3), 0..200),
            spill_after in proptest::prop_oneof![1usize..40, proptest::strategy::Just(SPILL_AFTER)],
        ) {
            // Spread hashes of small numbers, as key hashes are.
            let spread = |k: u64| k.wrapping_mul(0x9e37_79b9_7f4a_7c15);
            let known = KnownKeys::from_pairs(known.iter().map(|&(k, h)| (spread(k), h)).collect());
            let tmp = tempfile::tempdir().expect("temp dir");
            let mut ledger = Ledger::new((tmp.path(), spill_after));
            let mut counts = Counts::default();
            let mut model: HashMap<u64, (u64, u8)> = HashMap::new();
            for &(k, h, bits) in &items {
                let key = spread(k);
                counts.read += 1;
                let flags = Flags { undated: bits & 1 == 1, near_duplicate: bits & 2 == 2 };
                ledger.classify(key, h, flags, &known, &mut counts).expect("classify");
                if model.get(&key).map(|m| m.0) != Some(h) {
                    model.insert(key, (h, bits));
                }
            }
            counts.indexed = counts.new + counts.updated + counts.unchanged;
            proptest::prop_assert!(counts.adds_up(), "{:?}", counts);
            let flagged = |mask: u8| model.values().filter(|m| m.1 & mask != 0).count() as u64;
            proptest::prop_assert_eq!(counts.undated, flagged(1));
            proptest::prop_assert_eq!(counts.near_duplicates, flagged(2));
            proptest::prop_assert_eq!(counts.indexed, model.len() as u64);
            for k in 0..300 {
                let key = spread(k);
                let expected = model.get(&key).is_some_and(|m| m.1 & 2 != 0);
                proptest::prop_assert_eq!(ledger.flagged_near_duplicate(key).expect("read"), expected);
            }
        }
    }

    #[test]
    fn ledger_entries_keep_every_state() {
        for bucket in [Bucket::New, Bucket::Updated, Bucket::Unchanged] {
            for bits in 0..8u8 {
                let seen = super::Seen {
                    hash: u64::MAX - u64::from(bits),
                    bucket,
                    flags: Flags {
                        undated: bits & 1 == 1,
                        near_duplicate: bits & 2 == 2,
                    },
                    written: bits & 4 == 4,
                };
                let back = LedgerEntry::new(7, seen).seen();
                assert_eq!(back.hash, seen.hash);
                assert_eq!(back.bucket, seen.bucket);
                assert_eq!(back.flags.undated, seen.flags.undated);
                assert_eq!(back.flags.near_duplicate, seen.flags.near_duplicate);
                assert_eq!(back.written, seen.written);
            }
        }
    }

    #[test]
    fn text_owners_name_the_first_owner_of_a_text() {
        let tmp = tempfile::tempdir().expect("temp dir");
        let index = VocIndex::open_or_create(tmp.path()).expect("index");
        // Two entries in memory: the others spill to disk.
        let mut owners = TextOwners::new(index.text_owners().expect("owners"), (tmp.path(), 2));
        let mut owner = |text, key: &str| {
            owners
                .owner_key(text, key_hash(key), key, &index)
                .expect("owner")
        };
        assert_eq!(owner(7, "s:1"), None);
        assert_eq!(owner(8, "s:二"), None);
        assert_eq!(owner(7, "s:1"), None, "the owner itself");
        assert_eq!(owner(7, "s:3"), Some("s:1".to_string()));
        assert_eq!(owner(8, "s:4"), Some("s:二".to_string()));
        assert_eq!(owner(9, "s:4"), None);
        assert_eq!(owner(9, "s:1"), Some("s:4".to_string()));
        // A key longer than 64 KiB comes back whole.
        let long = format!("s:{}", "鍵".repeat(30_000));
        assert_eq!(owner(10, &long), None);
        assert_eq!(owner(10, "s:5"), Some(long));
    }

    /// An index written before near-duplicates carried their text hash
    /// (a lone 0): they are found once from the stored records, hashed,
    /// and a text whose owner changed gets a new one.
    #[test]
    fn near_duplicates_of_an_older_index_are_hashed_once_and_reowned() {
        use crate::index::CommitInfo;
        let tmp = tempfile::tempdir().expect("temp dir");
        let index = VocIndex::open_or_create(tmp.path()).expect("index");
        let analyzer = default_analyzer();
        let late = "My parcel arrived two weeks late and the box was crushed on arrival";
        let record = |id: &str, day: u8, text: &str, duplicate_of: Option<&str>| {
            let value = serde_json::json!({
                "id": id,
                "text": text,
                "created_at": format!("2026-01-{day:02}T09:00:00Z"),
            });
            let mut record = crate::ingest::map_item_with(&value, &MapHints::default())
                .1
                .expect("record");
            record.duplicate_of = duplicate_of.map(str::to_string);
            record
        };
        let first = record(
            "1",
            1,
            "Refund still missing after a month, nobody answers",
            None,
        );
        let owner = first.key();
        let records = [
            first.clone(),
            record("3", 3, late, Some(&owner)),
            record("2", 2, late, Some(&owner)),
            record("4", 4, "Thanks!", None),
        ];
        let mut writer = index.writer(1).expect("writer");
        let documents = writer.documents();
        for r in &records {
            let analysis = analyze_record(&analyzer, r);
            // As written before: near-duplicates without their text hash.
            let hash = match r.duplicate_of {
                Some(_) => 0,
                None => text_hash(&r.text).unwrap_or(0),
            };
            let doc = documents
                .build_with_words(r, &analysis, r.content_hash(), hash, None, None)
                .expect("document");
            writer.add(&r.key(), doc).expect("add");
        }
        writer.commit(&CommitInfo::default()).expect("commit");
        index.reload().expect("reload");
        assert!(!index.near_duplicates_hashed());
        assert!(index.orphaned_near_duplicates().expect("scan").is_empty());
        assert_eq!(index.unhashed_documents().expect("scan").len(), 3);

        let hashed = || CommitInfo {
            near_duplicates_hashed: true,
            ..CommitInfo::default()
        };
        hash_older_near_duplicates(&index, &mut writer, &hashed).expect("hash");
        let reowned = reown_orphaned_texts(&index, &mut writer).expect("reown");
        assert_eq!(reowned.rewritten, 2);
        assert_eq!(reowned.owners, vec![key_hash(&records[2].key())]);
        writer.commit(&hashed()).expect("commit");
        index.reload().expect("reload");
        assert!(index.near_duplicates_hashed());
        let flag = |r: &Record| {
            let stored = index.get(&r.key()).expect("get").expect("stored");
            stored.record.duplicate_of
        };
        assert_eq!(flag(&records[2]), None, "the earliest takes the text");
        assert_eq!(flag(&records[1]), Some(records[2].key()));
        assert_eq!(flag(&records[0]), None);
        assert_eq!(index.num_records(), 4);
        // The text has its owner: nothing more to do, and the short text
        // is the only document without a hash.
        hash_older_near_duplicates(&index, &mut writer, &hashed).expect("hash");
        let again = reown_orphaned_texts(&index, &mut writer).expect("reown");
        assert_eq!((again.rewritten, again.owners.len()), (0, 0));
        assert_eq!(index.unhashed_documents().expect("scan").len(), 1);
        let owners = index.text_owners().expect("owners");
        let (owner_hash, _) = owners.get(text_hash(late).expect("hash")).expect("owned");
        assert_eq!(owner_hash, key_hash(&records[2].key()));
    }

    use crate::analyze::{Lexicon, Taxonomy};

    /// Events as owned values, to compare after the run.
    #[derive(Debug, PartialEq)]
    enum Seen {
        File(usize, usize, String),
        Read(u64),
        Stage(String, u64),
        Step,
        StageDone,
        Note,
    }

    #[test]
    fn run_reports_progress_and_writes_every_report_file() {
        let tmp = tempfile::tempdir().expect("temp dir");
        let analyzer = Analyzer::new(
            Taxonomy::default_taxonomy().expect("taxonomy"),
            Lexicon::default_lexicon().expect("lexicon"),
        );
        let config = RunConfig {
            inputs: vec![
                InputFile::Embedded {
                    name: "a.jsonl",
                    bytes: b"{\"id\":\"1\",\"text\":\"the app keeps crashing\",\"created_at\":\"2026-11-02\"}\n",
                },
                InputFile::Embedded {
                    name: "b.jsonl",
                    bytes: b"{\"id\":\"2\",\"text\":\"refund never arrived\",\"created_at\":\"2026-11-09\"}\nnot json\n",
                },
            ],
            index_dir: tmp.path().join("index"),
            out_dir: tmp.path().join("out"),
            analyzer,
            threads: 1,
            source: None,
            map: None,
            as_of: None,
            excel_bom: false,
            generated_at: "2026-11-16T00:00:00Z".into(),
            options: RunOptions::default(),
        };
        let mut seen = Vec::new();
        let outcome = run(&config, |p| {
            seen.push(match p {
                Progress::Note(_) => Seen::Note,
                Progress::File {
                    number,
                    files,
                    name,
                } => Seen::File(number, files, name.to_string()),
                Progress::Read(n) => Seen::Read(n),
                Progress::Stage { name, total } => Seen::Stage(name.to_string(), total),
                Progress::Step(_) => Seen::Step,
                Progress::StageDone => Seen::StageDone,
            })
        })
        .expect("run");
        assert_eq!(outcome.counts.read, 3);
        assert_eq!(seen.first(), Some(&Seen::File(1, 2, "a.jsonl".into())));
        assert!(seen.contains(&Seen::File(2, 2, "b.jsonl".into())));
        assert!(seen.contains(&Seen::Read(3)));
        assert!(seen.contains(&Seen::Stage("writing reports".into(), 2)));
        assert_eq!(seen.last(), Some(&Seen::StageDone));
        assert!(!seen.contains(&Seen::Note));
        for file in [
            "summary.json",
            "themes.csv",
            "records.csv",
            "vocscope.xlsx",
            "report.html",
            "rejects.jsonl",
        ] {
            let path = config.out_dir.join(file);
            assert!(outcome.written.contains(&path), "{file} not listed");
            assert!(path.exists(), "{file} not written");
        }
    }

    /// The summary as the builder makes it from every record in one pass,
    /// without the phrase cache.
    fn from_scratch(index: &VocIndex, analyzer: &Analyzer) -> Summary {
        let mut builder = SummaryBuilder::new(analyzer.taxonomy(), SummaryOptions::default());
        index
            .for_each_record(|stored| builder.add(&stored))
            .expect("read index");
        builder.finish()
    }

    fn default_analyzer() -> Analyzer {
        Analyzer::new(
            Taxonomy::default_taxonomy().expect("taxonomy"),
            Lexicon::default_lexicon().expect("lexicon"),
        )
    }

    /// A first run of 1,200 synthetic records committed every 400 (several
    /// segments), and the edits for a second run: new versions of 200 of
    /// them (deletions in the first run's segments) and 100 new records.
    fn first_of_two_runs(seed: u64) -> (tempfile::TempDir, RunConfig, PathBuf, RunOutcome) {
        let tmp = tempfile::tempdir().expect("temp dir");
        let mut generator = crate::synth::Generator::new(seed);
        let (first, edits) = (tmp.path().join("a.jsonl"), tmp.path().join("b.jsonl"));
        generator.write_jsonl(&first, 0, 1200, 0).expect("write");
        generator.write_jsonl(&edits, 1000, 1300, 1).expect("write");
        let mut config = RunConfig::in_dir(
            vec![InputFile::Path(first)],
            tmp.path(),
            default_analyzer(),
            2,
        );
        config.options.commit_every = 400;
        let outcome = run(&config, |_| {}).expect("first run");
        (tmp, config, edits, outcome)
    }

    /// The report files of every record, plain, written to `out`.
    fn default_reports(
        index: &VocIndex,
        analyzer: &Analyzer,
        out: &Path,
    ) -> Result<(Summary, Vec<PathBuf>), RunError> {
        write_reports(
            index,
            analyzer,
            SummaryOptions::default(),
            out,
            false,
            false,
            &mut |_| {},
        )
    }

    /// The cache files of aggregate `A` in an index.
    fn cache_files<A: crate::index::SegmentAggregate>(index_dir: &Path) -> Vec<PathBuf> {
        let dir = index_dir.join(crate::index::CACHE_DIR);
        std::fs::read_dir(&dir)
            .expect("cache dir")
            .map(|e| e.expect("entry").path())
            .filter(|p| {
                let name = p.file_name().expect("name").to_string_lossy();
                name.starts_with(&format!("{}-", A::NAME))
            })
            .collect()
    }

    use crate::index::set_cache_rules;

    #[test]
    fn cached_phrase_tables_give_the_from_scratch_discovery() {
        let (_tmp, mut config, edits, outcome) = first_of_two_runs(7);
        let index = VocIndex::open(&config.index_dir).expect("index");
        let scratch = from_scratch(&index, &config.analyzer);
        assert!(!scratch.unmapped.is_empty(), "the test needs candidates");
        assert_eq!(outcome.summary.unmapped, scratch.unmapped);
        assert_eq!(outcome.summary.themes, scratch.themes);
        let (_, stats) = index.segment_aggregates::<SegmentPhrases>().expect("cache");
        assert!(
            stats.reused > 1 && stats.built + stats.updated == 0,
            "{stats:?}"
        );

        config.inputs.push(InputFile::Path(edits));
        let outcome = run(&config, |_| {}).expect("second run");
        assert!(outcome.counts.updated > 0 && outcome.counts.new > 0);
        let index = VocIndex::open(&config.index_dir).expect("index");
        let scratch = from_scratch(&index, &config.analyzer);
        assert_eq!(outcome.summary.unmapped, scratch.unmapped);

        // Damaged or foreign cache files are rebuilt, with the same result.
        let files = cache_files::<SegmentPhrases>(&config.index_dir);
        assert!(!files.is_empty());
        std::fs::write(&files[0], b"not a cache file").expect("damage");
        if let [_, one, two, ..] = &files[..] {
            std::fs::copy(two, one).expect("swap");
        }
        let again = indexed_discovery(&index).expect("discovery");
        assert_eq!(again.finish(), scratch.unmapped);
        let (_, stats) = index.segment_aggregates::<SegmentPhrases>().expect("cache");
        assert_eq!(stats.built + stats.updated, 0, "{stats:?}");

        // A table taken under other rules (another vocscope version, other
        // word lists) is rebuilt too.
        set_cache_rules(&files[files.len() - 1], 12345);
        let (_, stats) = index.segment_aggregates::<SegmentPhrases>().expect("cache");
        assert_eq!(stats.built, 1, "{stats:?}");
        let again = indexed_discovery(&index).expect("discovery");
        assert_eq!(again.finish(), scratch.unmapped);
    }

    /// Phrase tables of every segment of the last commit built from the
    /// stored records (no cache).
    fn rebuilt_phrase_tables(index: &VocIndex) -> Vec<SegmentPhrases> {
        let (_, reader, _) = index.inner();
        let searcher = reader.searcher();
        (0..searcher.segment_readers().len() as u32)
            .map(|ord| {
                let segment = searcher.segment_reader(ord);
                let addresses: Vec<tantivy::DocAddress> = segment
                    .doc_ids_alive()
                    .map(|doc| tantivy::DocAddress::new(ord, doc))
                    .collect();
                let records = index.records_at(&addresses).expect("records");
                let mut table = SegmentPhrases::default();
                for (address, stored) in addresses.iter().zip(&records) {
                    crate::index::SegmentAggregate::add(&mut table, address.doc_id, stored);
                }
                table
            })
            .collect()
    }

    /// Indexes `records` as `run` does (one indexing thread, phrases from
    /// the analysed words), upserting when `replace`, commits and caches
    /// the commit's phrase table.
    fn index_and_commit(index: &VocIndex, analyzer: &Analyzer, records: &[Record], replace: bool) {
        let mut writer = index.writer(1).expect("writer");
        let documents = writer.documents();
        let mut phrases = CommitAggregates::default();
        for record in records {
            let text = record.full_text();
            let (mut words, mut ids) = (Vec::new(), WordIds::default());
            tokenize_with_ids(&text, &mut words, &mut ids);
            let analysis =
                analyzer.analyze_words_with_ids(analysis_input(record, &text), &words, &ids);
            let found = RecordPhrases::of_words(record, &analysis, &text, &words, &ids);
            let hash = record.content_hash();
            let doc = documents
                .build_with_words(record, &analysis, hash, 0, Some((&text, &words)), None)
                .expect("document");
            let key = record.key();
            match replace {
                true => writer.add(&key, doc).expect("add"),
                false => writer.insert(doc).expect("insert"),
            }
            phrases.add(key_hash(&key), hash, Some(&found));
        }
        writer
            .commit(&crate::index::CommitInfo::default())
            .expect("commit");
        phrases.cache(index);
        writer.finish().expect("finish");
        index.reload().expect("reload");
    }

    /// `n` generated records to index (version `version(n)`), those where
    /// `near` holds flagged as near-duplicates of another record.
    fn generated_pending(
        seed: u64,
        n: u64,
        near: impl Fn(u64) -> bool,
        version: impl Fn(u64) -> u32,
    ) -> Vec<Pending> {
        let mut generator = crate::synth::Generator::new(seed);
        (0..n)
            .map(|n| {
                let value = generator.record(n, version(n));
                let mut record = crate::ingest::map_item_with(&value, &MapHints::default())
                    .1
                    .expect("record");
                if near(n) {
                    record.duplicate_of = Some("synth:0".into());
                }
                let key = record.key();
                let (json, hash) = record.json_and_hash();
                Pending {
                    key_hash: key_hash(&key),
                    key,
                    hash,
                    text_hash: 0,
                    replace: false,
                    json: record.duplicate_of.is_none().then_some(json),
                    record,
                }
            })
            .collect()
    }

    /// A pool of two threads, as the machine has.
    fn two_threads() -> rayon::ThreadPool {
        rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .expect("pool")
    }

    #[test]
    fn phrase_tables_counted_per_chunk_equal_adding_each_record() {
        let tmp = tempfile::tempdir().expect("temp dir");
        let index = VocIndex::open_or_create(&tmp.path().join("index")).expect("index");
        let writer = index.writer(1).expect("writer");
        let analyzer = default_analyzer();
        let pending = generated_pending(11, 300, |n| n % 7 == 3, |_| 0);
        let pool = two_threads();
        // Numbered from 40, as the second batch of a commit would be.
        let built = analyse_batch(&pending, 40, &analyzer, &writer, &pool);
        assert_eq!(built.len(), pending.len().div_ceil(PHRASE_CHUNK));
        let mut chunked = CommitAggregates::default();
        for (chunk, built) in pending.chunks(PHRASE_CHUNK).zip(built) {
            chunked.add_table(built.table);
            chunked.tally.merge_tally(built.tally);
            assert_eq!(built.docs.len(), chunk.len());
            for (p, (doc, kept)) in chunk.iter().zip(built.docs) {
                doc.expect("document");
                chunked.add_doc(p.key_hash, p.hash, kept);
            }
        }
        let mut each = CommitAggregates::default();
        let mut tally = SummaryTally::default();
        for (doc, p) in (40..).zip(&pending) {
            let stored = StoredRecord {
                record: p.record.clone(),
                analysis: analyze_record(&analyzer, &p.record),
            };
            tally.add_record(doc, &stored);
            let phrases = p
                .record
                .duplicate_of
                .is_none()
                .then(|| RecordPhrases::of(&stored));
            each.add(p.key_hash, p.hash, phrases.as_ref());
        }
        // The tally of the chunks is that of each record as stored.
        assert_eq!(chunked.tally.records + chunked.tally.near_duplicates, 300);
        assert_eq!(chunked.tally, tally);
        assert!(!chunked.segment.kept_docs.is_empty());
        assert!(chunked.segment.table.len() > 100);
        assert_eq!(chunked.segment, each.segment);
        assert_eq!(chunked.docs, each.docs);
    }

    #[test]
    fn a_tally_cached_at_a_commit_equals_a_rebuild_from_the_stored_records() {
        let tmp = tempfile::tempdir().expect("temp dir");
        let index = VocIndex::open_or_create(&tmp.path().join("index")).expect("index");
        let mut writer = index.writer(1).expect("writer");
        let analyzer = default_analyzer();
        let pending = generated_pending(29, 250, |n| n % 9 == 4, |n| (n % 3) as u32);
        let pool = two_threads();
        // Two batches, as the ingest loop makes them.
        let mut commit = CommitAggregates::default();
        for batch in pending.chunks(170) {
            let first_doc = commit.docs.len() as u32;
            let built = analyse_batch(batch, first_doc, &analyzer, &writer, &pool);
            for (chunk, built) in batch.chunks(PHRASE_CHUNK).zip(built) {
                commit.add_table(built.table);
                commit.tally.merge_tally(built.tally);
                for (p, (doc, kept)) in chunk.iter().zip(built.docs) {
                    writer.insert(doc.expect("document")).expect("insert");
                    commit.add_doc(p.key_hash, p.hash, kept);
                }
            }
        }
        writer
            .commit(&crate::index::CommitInfo::default())
            .expect("commit");
        commit.cache(&index);
        writer.finish().expect("finish");
        index.reload().expect("reload");
        let mut cached = Vec::new();
        index
            .for_each_cached_aggregate::<SummaryTally>(|_, tally| cached.push(tally))
            .expect("read caches");
        let [Some(mut cached)] =
            <[Option<SummaryTally>; 1]>::try_from(cached).expect("one segment")
        else {
            panic!("the commit's tally was not cached");
        };
        let mut rebuilt = index.built_aggregate::<SummaryTally>(0).expect("rebuild").0;
        cached.sort_by_doc();
        rebuilt.sort_by_doc();
        assert!(rebuilt.records > 200 && rebuilt.near_duplicates > 20);
        // As JSON values: the maps' order and the skipped lookup aside.
        let value = |t: &SummaryTally| serde_json::to_value(t).expect("json");
        assert_eq!(value(&cached), value(&rebuilt));
    }

    #[test]
    fn phrase_tables_cached_at_a_commit_equal_a_rebuild_and_skip_replaced_keys() {
        let tmp = tempfile::tempdir().expect("temp dir");
        let index = VocIndex::open_or_create(&tmp.path().join("index")).expect("index");
        let analyzer = default_analyzer();
        let texts = [
            "The app crashes every time I open it. Refund took three weeks!",
            "退款一直没有到账，客服态度很差。快递太慢了，包装破损。",
            "The courier lost my parcel again, 物流太慢! Support was rude.",
            "Great blender, works well. Love it.",
            "Terrible blender. The lid cracked and the handle snapped off, awful.",
            "Worst purchase ever, the zipper broke and the strap tore on day one.",
        ];
        let record = |id: usize, text: &str| Record {
            id: id.to_string(),
            source: "t".into(),
            text: text.into(),
            lang: crate::text::detect_language(text),
            ..Record::default()
        };
        let first: Vec<Record> = texts
            .iter()
            .enumerate()
            .map(|(i, t)| record(i, t))
            .collect();
        index_and_commit(&index, &analyzer, &first, false);
        let (cached, _) = index.cached_aggregates::<SegmentPhrases>().expect("cache");
        assert_eq!(cached.len(), 1);
        let rebuilt = rebuilt_phrase_tables(&index);
        assert!(
            !rebuilt[0].kept_docs.is_empty() && rebuilt[0].table.len() > 10,
            "{:?}",
            rebuilt[0].kept_docs
        );
        assert_eq!(cached[0].as_ref(), Some(&rebuilt[0]));

        // A key written twice in one commit (its first document deleted):
        // no table is cached for that segment; the earlier segment's table
        // stays valid, taking out the records replaced there.
        let second = vec![
            record(0, "Refund never came, the refund page crashes."),
            record(7, "Delivery was late and the box was damaged."),
            record(7, "Delivery was very late and the box arrived damaged."),
        ];
        index_and_commit(&index, &analyzer, &second, true);
        let (cached, _) = index.cached_aggregates::<SegmentPhrases>().expect("cache");
        let rebuilt = rebuilt_phrase_tables(&index);
        assert_eq!(cached.len(), 2);
        let fresh = cached.iter().position(Option::is_none).expect("uncached");
        assert_eq!(cached[1 - fresh].as_ref(), Some(&rebuilt[1 - fresh]));
        let (all, _) = index.segment_aggregates::<SegmentPhrases>().expect("cache");
        assert_eq!(all, rebuilt);
    }

    #[test]
    fn a_runs_commit_time_phrase_tables_equal_a_rebuild_after_updates() {
        let (_tmp, mut config, edits, _) = first_of_two_runs(5);
        config.inputs.push(InputFile::Path(edits));
        run(&config, |_| {}).expect("second run");
        let index = VocIndex::open(&config.index_dir).expect("index");
        let rebuilt = rebuilt_phrase_tables(&index);
        assert!(rebuilt.len() > 1, "the test needs several segments");
        // Read in groups of one segment, and in parallel groups of two or
        // more: handed over in segment order all the same.
        for threads in [1, 2, rebuilt.len() + 1] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("pool");
            let mut handed = Vec::new();
            pool.install(|| {
                index.for_each_cached_aggregate::<SegmentPhrases>(|ord, table| {
                    handed.push((ord, table.expect("cached")));
                })
            })
            .expect("cache");
            let (ords, tables): (Vec<u32>, Vec<SegmentPhrases>) = handed.into_iter().unzip();
            assert_eq!(ords, (0..rebuilt.len() as u32).collect::<Vec<_>>());
            assert!(tables == rebuilt, "{threads} threads");
        }
    }

    /// What reading the summary tallies and the phrase tables did.
    fn tally_and_phrase_stats(index: &VocIndex) -> [crate::index::CacheStats; 2] {
        [
            index.segment_aggregates::<SummaryTally>().expect("cache").1,
            index
                .segment_aggregates::<SegmentPhrases>()
                .expect("cache")
                .1,
        ]
    }

    #[test]
    fn cache_files_damaged_after_their_header_are_rebuilt_with_the_same_summary() {
        let (tmp, config, _, outcome) = first_of_two_runs(19);
        let index = VocIndex::open(&config.index_dir).expect("index");
        // Headers that match (planned as cached), aggregates that do not
        // decode: found unusable while the rows are written, built again.
        let mut files = cache_files::<SummaryTally>(&config.index_dir);
        files.extend(cache_files::<SegmentPhrases>(&config.index_dir));
        for file in &files {
            let mut bytes = std::fs::read(file).expect("read");
            let last = bytes.len() - 1;
            bytes[last] ^= 0x55;
            std::fs::write(file, bytes).expect("damage");
        }
        assert!(index.cached_segments::<SummaryTally>().iter().all(|&c| c));
        let out = tmp.path().join("again");
        std::fs::create_dir_all(&out).expect("out dir");
        let (again, _) = default_reports(&index, &config.analyzer, &out).expect("reports");
        assert_eq!(summary_json(&again), summary_json(&outcome.summary));
        for stats in tally_and_phrase_stats(&index) {
            assert_eq!(stats.reused, files.len() / 2, "{stats:?}");
        }
    }

    #[test]
    fn a_cache_pruned_of_few_deletions_is_kept_and_gives_the_same_summary() {
        let (tmp, mut config, _, _) = first_of_two_runs(17);
        // New versions of 8 records of the last segment (of 400 records or
        // more: 2% at most, under REWRITE_SHARE) and 5 new records.
        let few = tmp.path().join("few.jsonl");
        crate::synth::Generator::new(17)
            .write_jsonl(&few, 1192, 1205, 1)
            .expect("write");
        let files = |dir: &Path| -> Vec<(PathBuf, Vec<u8>)> {
            let mut files: Vec<PathBuf> = cache_files::<SummaryTally>(dir);
            files.extend(cache_files::<SegmentPhrases>(dir));
            files
                .into_iter()
                .map(|p| (p.clone(), std::fs::read(&p).expect("read")))
                .collect()
        };
        let before = files(&config.index_dir);
        assert!(before.len() >= 4, "{}", before.len());
        config.inputs.push(InputFile::Path(few));
        let outcome = run(&config, |_| {}).expect("second run");
        assert_eq!((outcome.counts.updated, outcome.counts.new), (8, 5));
        // The files of the segment with deletions were not written again.
        let after = files(&config.index_dir);
        for (path, bytes) in &before {
            let now = after.iter().find(|(p, _)| p == path).expect("kept");
            assert!(&now.1 == bytes, "{path:?} rewritten");
        }
        // Stale but valid: pruned as read, and the summary is the one of
        // the records, in the run and in a report pass again.
        let index = VocIndex::open(&config.index_dir).expect("index");
        for stats in tally_and_phrase_stats(&index) {
            assert_eq!(
                (stats.pruned, stats.built, stats.dropped),
                (1, 0, 0),
                "{stats:?}"
            );
            assert_eq!(stats.records_read, 8, "{stats:?}");
        }
        let scratch = from_scratch(&index, &config.analyzer);
        assert_eq!(summary_json(&outcome.summary), summary_json(&scratch));
        let out = tmp.path().join("again");
        std::fs::create_dir_all(&out).expect("out dir");
        let (again, _) = default_reports(&index, &config.analyzer, &out).expect("reports");
        assert_eq!(summary_json(&again), summary_json(&scratch));
        assert_eq!(files(&config.index_dir), after);
    }

    /// The summary as JSON, without what differs between a run and a
    /// from-scratch build (the run's counts, the run memory).
    fn summary_json(summary: &Summary) -> String {
        let mut summary = summary.clone();
        summary.counts = Counts::default();
        summary.since_last_run = None;
        summary.generated_at = String::new();
        serde_json::to_string(&summary).expect("json")
    }

    /// An aggregate that cannot take records out: every segment with
    /// deletions since it was cached is built again.
    #[derive(Default, Serialize, Deserialize)]
    struct Stubborn {
        docs: Vec<u32>,
    }

    impl crate::index::SegmentAggregate for Stubborn {
        const NAME: &'static str = "stubborn-test";
        fn add(&mut self, doc: u32, _: &StoredRecord) {
            self.docs.push(doc);
        }
        fn remove(&mut self, _: u32, _: &StoredRecord) -> bool {
            false
        }
        fn merge(&mut self, other: Stubborn) {
            self.docs.extend(other.docs);
        }
        fn renumber(&mut self, _: &dyn Fn(u32) -> Option<u32>) -> bool {
            false
        }
    }

    #[test]
    fn a_report_pass_that_fails_caches_no_tally() {
        let (tmp, config, _, _) = first_of_two_runs(13);
        let index = VocIndex::open(&config.index_dir).expect("index");
        for file in cache_files::<SummaryTally>(&config.index_dir) {
            std::fs::remove_file(file).expect("remove tally");
        }
        // records.csv cannot be put in place: the pass reads every record,
        // then fails.
        let out = tmp.path().join("blocked");
        std::fs::create_dir_all(out.join("records.csv").join("x")).expect("dir");
        let result = default_reports(&index, &config.analyzer, &out);
        assert!(result.is_err());
        assert!(
            cache_files::<SummaryTally>(&config.index_dir).is_empty(),
            "a failed pass must not cache its tallies"
        );
    }

    #[test]
    fn a_report_pass_that_fails_keeps_the_last_records_csv() {
        let (_tmp, config, _, _) = first_of_two_runs(17);
        let csv = config.out_dir.join("records.csv");
        let before = std::fs::read(&csv).expect("records.csv");
        // A row cache whose checksum matches but whose last row names a
        // document past its segment's end: the pass fails while merging,
        // after writing most rows.
        let file = std::fs::read_dir(config.index_dir.join(CACHE_DIR))
            .expect("cache dir")
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|e| e == "rows"))
            .expect("a row cache");
        crate::index::point_last_row_past_segment(&file);

        let index = VocIndex::open(&config.index_dir).expect("index");
        let result = default_reports(&index, &config.analyzer, &config.out_dir);
        assert!(
            matches!(result, Err(RunError::Index(IndexError::Corrupt { .. }))),
            "{result:?}"
        );
        assert_eq!(
            std::fs::read(&csv).expect("records.csv"),
            before,
            "a failed pass must leave the last records.csv"
        );
    }

    #[test]
    fn cached_summary_tallies_give_the_from_scratch_summary() {
        let (tmp, mut config, edits, outcome) = first_of_two_runs(11);
        let index = VocIndex::open(&config.index_dir).expect("index");
        let scratch = from_scratch(&index, &config.analyzer);
        assert!(scratch.themes.iter().any(|t| !t.quotes.is_empty()));
        assert_eq!(summary_json(&outcome.summary), summary_json(&scratch));
        let (_, stats) = index.segment_aggregates::<SummaryTally>().expect("cache");
        assert!(
            stats.reused > 1 && stats.built + stats.updated == 0,
            "{stats:?}"
        );
        let (_, stats) = index.segment_aggregates::<Stubborn>().expect("cache");
        assert!(stats.built > 1 && stats.reused == 0, "{stats:?}");

        // Updates (deletions in the first run's segments) and new records.
        config.inputs.push(InputFile::Path(edits));
        let outcome = run(&config, |_| {}).expect("second run");
        assert!(outcome.counts.updated > 0 && outcome.counts.new > 0);
        let index = VocIndex::open(&config.index_dir).expect("index");
        let scratch = from_scratch(&index, &config.analyzer);
        assert_eq!(summary_json(&outcome.summary), summary_json(&scratch));
        let (_, stats) = index.segment_aggregates::<SummaryTally>().expect("cache");
        assert_eq!(stats.built + stats.updated + stats.dropped, 0, "{stats:?}");

        // A segment that cannot take out its deleted records is built again.
        let (stubborn, stats) = index.segment_aggregates::<Stubborn>().expect("cache");
        assert!(
            stats.dropped > 0 && stats.built >= stats.dropped,
            "{stats:?}"
        );
        let docs: usize = stubborn.iter().map(|a| a.docs.len()).sum();
        assert_eq!(docs as u64, index.num_records());

        // A tally taken under other rules is built again, and the report
        // is the same.
        set_cache_rules(&cache_files::<SummaryTally>(&config.index_dir)[0], 12345);
        let out = tmp.path().join("again");
        std::fs::create_dir_all(&out).expect("out dir");
        let (again, _) = default_reports(&index, &config.analyzer, &out).expect("reports");
        assert_eq!(summary_json(&again), summary_json(&scratch));
        let (_, stats) = index.segment_aggregates::<SummaryTally>().expect("cache");
        assert_eq!(stats.built + stats.updated, 0, "{stats:?}");
    }
}
