//! Index: the tantivy index on disk, keyed by `source:id`.
//!
//! Each record is one document: the title and text are indexed with the
//! vocscope analyzer (positions, so phrase queries work in both languages);
//! filters (source, language, sentiment label, themes with their ancestors,
//! date) are indexed terms and fast fields; the record and its analysis are
//! stored as one JSON blob, so summaries and re-tagging never re-read exports.
//! Writes are upserts (delete by key, then add) and become visible only at a
//! commit, so a crash leaves the last committed state intact.

mod cache;
mod directory;
mod document;
mod merge;
mod order;
mod rows;
mod search;
mod spill;
mod tokens;

/// Helpers for the index's unit tests.
#[cfg(test)]
mod test_support {
    use super::{CommitInfo, VocIndex};
    use crate::analyze::{AnalysisInput, Analyzer};
    use crate::record::Record;

    /// Upserts records `(id, created)` (text "refund ID") in one commit.
    pub(crate) fn commit_records(
        index: &VocIndex,
        analyzer: &Analyzer,
        records: &[(&str, Option<i64>)],
    ) {
        let mut writer = index.writer(1).expect("writer");
        for &(id, created_at) in records {
            let record = Record {
                id: id.into(),
                source: "generic".into(),
                created_at,
                text: format!("refund {id}"),
                ..Record::default()
            };
            let analysis = analyzer.analyze(AnalysisInput {
                text: &record.text,
                ..AnalysisInput::default()
            });
            writer.upsert(&record, &analysis, 1).expect("upsert");
        }
        writer.commit(&CommitInfo::default()).expect("commit");
        writer.finish().expect("finish");
        index.reload().expect("reload");
    }
}

#[cfg(test)]
pub(crate) use cache::set_cache_rules;
pub use cache::{CacheStats, FreshSegment, SegmentAggregate, CACHE_DIR, REWRITE_SHARE};
pub use document::{DocValue, DocValues, VocDocument};
pub use merge::{MergedSegments, PendingMerges};
pub use order::{HashEntry, HashTable, IndexedOwners, KnownKeys, OrderMerge};
#[cfg(test)]
pub(crate) use rows::point_last_row_past_segment;
pub use rows::{CachedRows, OrderKey, RowCacheWriter, RowMerge};
pub use search::{
    FacetCache, FacetCount, Facets, SearchError, SearchHit, SearchRequest, SearchResults, SortOrder,
};
pub use spill::{SpillBytes, SpillEntry, SpillTable, SPILL_AFTER};

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tantivy::directory::error::LockError;
use tantivy::indexer::NoMergePolicy;
use tantivy::schema::{
    Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions, FAST, INDEXED, STORED, STRING,
};
use tantivy::{
    DateTime, Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, TantivyError, Term,
};

use crate::analyze::{Analysis, Taxonomy};
use crate::record::{fnv1a, Record};
use crate::text::{register_analyzer, Word, ANALYZER_NAME};

/// Stored records decoded together by [`VocIndex::for_each_record`].
const DECODE_BLOCK: usize = 2048;

/// Bytes of stored documents compressed together (tantivy's default is
/// 16 KiB). Reports read every record in date order, which is not the order
/// they were stored in, so each read decompresses a whole block for one
/// record: smaller blocks make that pass about a quarter cheaper, for a
/// slightly larger store.
const DOCSTORE_BLOCK: usize = 4096;

/// Memory budget of the index writer, shared by its threads.
const WRITER_MEMORY: usize = 256 * 1024 * 1024;
/// Segments of about one size that are merged into one (tantivy's default
/// is 8): a run commits every [`crate::pipeline::COMMIT_EVERY`] records, one
/// segment each, and merges at its end (see the `merge` module), so the
/// first eight of sixteen 100,000-record segments become one
/// ([`MERGE_MAX_DOCS`]), and a nightly run's small segments are merged
/// among themselves.
const MERGE_AT: usize = 16;
/// Documents a merge takes at most (eight of a first run's 100,000-record
/// segments): a merge's memory, its time beside the report pass, and the
/// caches carried to the merged segment grow with it. A merge of sixteen
/// such segments (1.6M documents) took about 230 MiB of heap and 358 MiB of
/// mapped pages beside the report pass of a 5M-record run. Segments of more
/// than half of it (deleted documents included) are never merged, so
/// segments stay under it and a run's merge is bounded whatever the
/// index's size.
const MERGE_MAX_DOCS: u64 = 800_000;

/// Errors of the index layer.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// No index where one was expected.
    #[error("no index at {0}: run `vocscope run` first (or pass --index)")]
    Missing(PathBuf),
    /// Another process holds the writer lock.
    #[error("the index at {0} is in use by another vocscope run; wait for it to finish")]
    Busy(PathBuf),
    /// The index was written by an incompatible version.
    #[error("the index at {path} has an incompatible layout ({message}); remove it and run again")]
    Incompatible {
        /// Index directory.
        path: PathBuf,
        /// What differs.
        message: String,
    },
    /// A tantivy error, with the index path.
    #[error("index {path}")]
    Tantivy {
        /// Index directory.
        path: PathBuf,
        /// The cause.
        source: TantivyError,
    },
    /// A stored document that cannot be read back.
    #[error("index {path}: stored record {key} is unreadable: {message}")]
    Corrupt {
        /// Index directory.
        path: PathBuf,
        /// Record key.
        key: String,
        /// What failed.
        message: String,
    },
    /// A file beside the index.
    #[error("{path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// Fields of the schema.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fields {
    pub key: Field,
    pub key_hash: Field,
    pub content_hash: Field,
    pub text_hash: Field,
    pub source: Field,
    pub kind: Field,
    pub lang: Field,
    pub label: Field,
    pub theme: Field,
    pub signal: Field,
    pub channel: Field,
    pub tag: Field,
    pub created: Field,
    pub sentiment: Field,
    pub rating: Field,
    pub title: Field,
    pub text: Field,
    pub stored: Field,
}

/// Version of the schema below; bump when it changes.
/// 2: `text_hash` (near-duplicate detection), `channel` and `tag` (search filters).
const SCHEMA_VERSION: u32 = 2;

fn build_schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let text_options = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(ANALYZER_NAME)
            .set_index_option(IndexRecordOption::WithFreqsAndPositions),
    );
    let fields = Fields {
        key: b.add_text_field("key", STRING | STORED),
        key_hash: b.add_u64_field("key_hash", FAST),
        content_hash: b.add_u64_field("content_hash", FAST),
        // Normalized-text hash (0: text too short to compare), to find the
        // first owner of a text. A near-duplicate has two values, 0 then
        // its text's hash, so that its first value says "not an owner"
        // (as it did before near-duplicates carried their hash).
        text_hash: b.add_u64_field("text_hash", FAST),
        source: b.add_text_field("source", STRING | FAST),
        kind: b.add_text_field("kind", STRING | FAST),
        lang: b.add_text_field("lang", STRING | FAST),
        label: b.add_text_field("sentiment_label", STRING | FAST),
        theme: b.add_text_field("theme", STRING | FAST),
        signal: b.add_text_field("signal", STRING),
        channel: b.add_text_field("channel", STRING | FAST),
        tag: b.add_text_field("tag", STRING),
        created: b.add_date_field("created", INDEXED | FAST),
        sentiment: b.add_f64_field("sentiment", FAST),
        rating: b.add_f64_field("rating", FAST),
        title: b.add_text_field("title", text_options.clone()),
        text: b.add_text_field("text", text_options),
        stored: b.add_text_field("record", STORED),
    };
    (b.build(), fields)
}

/// What the index stores per record.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredRecord {
    /// The record as ingested.
    pub record: Record,
    /// Its analysis.
    pub analysis: Analysis,
}

/// What a commit remembers (saved in tantivy's commit payload, so it is
/// exactly as durable as the documents it describes).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CommitInfo {
    /// Fingerprint of the taxonomy and lexicons that analysed the records.
    pub fingerprint: u64,
    /// Whatever the pipeline wants to remember about the last run.
    pub last_run: serde_json::Value,
    /// The taxonomy (TOML text) the records were tagged with.
    #[serde(default)]
    pub taxonomy: Option<String>,
    /// The input files whose records are committed (the pipeline's manifest).
    #[serde(default)]
    pub inputs: serde_json::Value,
    /// The user dictionary (jieba format) the records were tokenized with;
    /// queries must use it too. Absent when there was none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_dictionary: Option<String>,
    /// Whether every near-duplicate carries its text hash (see
    /// [`VocIndex::orphaned_near_duplicates`]). False for an index written
    /// before they did, whose near-duplicates are found by reading the
    /// stored records once.
    #[serde(default)]
    pub near_duplicates_hashed: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct CommitPayload {
    schema: u32,
    #[serde(flatten)]
    info: CommitInfo,
}

/// An opened vocscope index.
pub struct VocIndex {
    path: PathBuf,
    index: Index,
    fields: Fields,
    reader: IndexReader,
}

/// How channel and tag values are indexed and looked up: trimmed, lowercase
/// (help desks are not consistent about `Email` versus `email`).
pub fn normalize_term(value: &str) -> String {
    value.trim().to_lowercase()
}

/// Opens the tantivy index in `dir` through [`directory::IndexDirectory`]
/// (doc store blocks read with `pread`, not mapped).
fn open_tantivy(dir: &Path) -> tantivy::Result<Index> {
    Index::open(directory::IndexDirectory::open(dir)?)
}

/// Hash of a record key, as stored in the `key_hash` fast field.
pub fn key_hash(key: &str) -> u64 {
    fnv1a(key.as_bytes())
}

impl VocIndex {
    /// Opens the index at `dir`, creating it (and its parents) when absent.
    pub fn open_or_create(dir: &Path) -> Result<VocIndex, IndexError> {
        std::fs::create_dir_all(dir).map_err(|source| IndexError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let (schema, _) = build_schema();
        let exists = dir.join("meta.json").exists();
        let index = if exists {
            open_tantivy(dir)
        } else {
            // Another run may create it at the same moment: then open theirs.
            let settings = tantivy::IndexSettings {
                docstore_blocksize: DOCSTORE_BLOCK,
                ..tantivy::IndexSettings::default()
            };
            let create = || -> tantivy::Result<Index> {
                let directory = directory::IndexDirectory::open(dir)?;
                if Index::exists(&directory)? {
                    return Err(TantivyError::IndexAlreadyExists);
                }
                Index::create(directory, schema, settings)
            };
            match create() {
                Err(TantivyError::IndexAlreadyExists) => open_tantivy(dir),
                other => other,
            }
        }
        .map_err(|source| IndexError::Tantivy {
            path: dir.to_path_buf(),
            source,
        })?;
        VocIndex::wrap(dir, index)
    }

    /// Opens an existing index for reading.
    pub fn open(dir: &Path) -> Result<VocIndex, IndexError> {
        if !dir.join("meta.json").exists() {
            return Err(IndexError::Missing(dir.to_path_buf()));
        }
        let index = open_tantivy(dir).map_err(|source| IndexError::Tantivy {
            path: dir.to_path_buf(),
            source,
        })?;
        VocIndex::wrap(dir, index)
    }

    fn wrap(dir: &Path, index: Index) -> Result<VocIndex, IndexError> {
        let (expected, fields) = build_schema();
        if index.schema() != expected {
            return Err(IndexError::Incompatible {
                path: dir.to_path_buf(),
                message: "schema differs from this version of vocscope".into(),
            });
        }
        register_analyzer(&index);
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(|source| IndexError::Tantivy {
                path: dir.to_path_buf(),
                source,
            })?;
        Ok(VocIndex {
            path: dir.to_path_buf(),
            index,
            fields,
            reader,
        })
    }

    fn tantivy_err(&self, source: TantivyError) -> IndexError {
        IndexError::Tantivy {
            path: self.path.clone(),
            source,
        }
    }

    /// The index directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Makes the latest commit visible to readers.
    pub fn reload(&self) -> Result<(), IndexError> {
        self.reader.reload().map_err(|e| self.tantivy_err(e))
    }

    /// Identifies the commit the reader sees: it changes when a reload finds
    /// a new commit.
    pub fn reader_generation(&self) -> u64 {
        self.reader.searcher().generation().generation_id()
    }

    /// Number of records in the last visible commit.
    pub fn num_records(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    fn commit_info(&self) -> Option<CommitInfo> {
        let payload = self.index.load_metas().ok()?.payload?;
        serde_json::from_str::<CommitPayload>(&payload)
            .ok()
            .map(|p| p.info)
    }

    /// Analyzer fingerprint of the last commit (None for a new index).
    pub fn committed_fingerprint(&self) -> Option<u64> {
        self.commit_info().map(|i| i.fingerprint)
    }

    /// The taxonomy (TOML text) the committed records were tagged with.
    pub fn committed_taxonomy(&self) -> Option<String> {
        self.commit_info()?.taxonomy
    }

    /// The user dictionary (jieba format) the committed records were
    /// tokenized with, if any.
    pub fn committed_user_dictionary(&self) -> Option<String> {
        self.commit_info()?.user_dictionary
    }

    /// Whether the last commit's near-duplicates carry their text hash
    /// ([`CommitInfo::near_duplicates_hashed`]); true for a new index.
    pub fn near_duplicates_hashed(&self) -> bool {
        match self.commit_info() {
            Some(info) => info.near_duplicates_hashed || self.num_records() == 0,
            None => true,
        }
    }

    /// The input files whose records the last commit holds.
    pub fn committed_inputs<T: serde::de::DeserializeOwned>(&self) -> Option<T> {
        serde_json::from_value(self.commit_info()?.inputs).ok()
    }

    /// What the last commit remembered of its run.
    pub fn last_run<T: serde::de::DeserializeOwned>(&self) -> Option<T> {
        serde_json::from_value(self.commit_info()?.last_run).ok()
    }

    /// The key (`source:id`) of a document found by [`VocIndex::text_owners`].
    pub fn key_at(&self, address: tantivy::DocAddress) -> Result<String, IndexError> {
        use tantivy::schema::Value;
        let doc: TantivyDocument = self
            .reader
            .searcher()
            .doc(address)
            .map_err(|e| self.tantivy_err(e))?;
        Ok(doc
            .get_first(self.fields.key)
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default())
    }

    /// Calls `f` with every stored record of the last visible commit, in a
    /// deterministic order: by creation time, then key.
    pub fn for_each_record(&self, f: impl FnMut(StoredRecord)) -> Result<(), IndexError> {
        let order = self.record_order()?;
        self.for_each_record_at(&order, f)
    }

    /// The documents of the last visible commit in the order of
    /// [`VocIndex::for_each_record`]: by creation time, then key hash.
    pub fn record_order(&self) -> Result<Vec<tantivy::DocAddress>, IndexError> {
        Ok(self
            .record_order_keyed()?
            .into_iter()
            .map(|key| key.address)
            .collect())
    }

    /// [`VocIndex::record_order`] with each document's sort key.
    pub fn record_order_keyed(&self) -> Result<Vec<OrderKey>, IndexError> {
        let searcher = self.reader.searcher();
        let mut order: Vec<OrderKey> = Vec::with_capacity(searcher.num_docs() as usize);
        for (ord, segment) in searcher.segment_readers().iter().enumerate() {
            let fast = segment.fast_fields();
            let created = fast.date("created").map_err(|e| self.tantivy_err(e))?;
            let keys = fast.u64("key_hash").map_err(|e| self.tantivy_err(e))?;
            for doc in segment.doc_ids_alive() {
                let t = created
                    .first(doc)
                    .map(|d| d.into_timestamp_secs())
                    .unwrap_or(i64::MIN);
                order.push(OrderKey {
                    created: t,
                    key_hash: keys.first(doc).unwrap_or(0),
                    address: tantivy::DocAddress::new(ord as u32, doc),
                });
            }
        }
        order.sort_unstable();
        Ok(order)
    }

    /// Calls `f` with the stored records at these addresses (of the last
    /// visible commit), in the order given.
    pub fn for_each_record_at(
        &self,
        order: &[tantivy::DocAddress],
        mut f: impl FnMut(StoredRecord),
    ) -> Result<(), IndexError> {
        self.for_each_record_mapped(order, |_, _| (), |_, stored, ()| f(stored))
    }

    /// Calls `f` with the address and stored record of each of these
    /// documents, in the order given, and a value `map` computed from them
    /// on the worker threads.
    pub fn for_each_record_mapped<T: Send>(
        &self,
        order: &[tantivy::DocAddress],
        map: impl Fn(tantivy::DocAddress, &StoredRecord) -> T + Sync,
        mut f: impl FnMut(tantivy::DocAddress, StoredRecord, T),
    ) -> Result<(), IndexError> {
        use rayon::prelude::*;
        let searcher = self.reader.searcher();
        // Documents are read and decoded in parallel a block at a time (doc
        // store decompression and JSON parsing are most of the cost), then
        // handed over in order.
        for block in order.chunks(DECODE_BLOCK) {
            let items: Vec<Result<(StoredRecord, T), IndexError>> = block
                .par_iter()
                .map(|&address| {
                    let doc: TantivyDocument =
                        searcher.doc(address).map_err(|e| self.tantivy_err(e))?;
                    let stored = self.decode(&doc)?;
                    let value = map(address, &stored);
                    Ok((stored, value))
                })
                .collect();
            for (&address, item) in block.iter().zip(items) {
                let (stored, value) = item?;
                f(address, stored, value);
            }
        }
        Ok(())
    }

    fn decode(&self, doc: &TantivyDocument) -> Result<StoredRecord, IndexError> {
        use tantivy::schema::Value;
        // The key is copied only for an error message.
        let key = || {
            doc.get_first(self.fields.key)
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default()
        };
        let json = doc
            .get_first(self.fields.stored)
            .and_then(|v| v.as_str())
            .ok_or_else(|| IndexError::Corrupt {
                path: self.path.clone(),
                key: key(),
                message: "no stored record".into(),
            })?;
        serde_json::from_str(json).map_err(|e| IndexError::Corrupt {
            path: self.path.clone(),
            key: key(),
            message: e.to_string(),
        })
    }

    /// The stored record with this key (`source:id`) in the last visible commit.
    pub fn get(&self, key: &str) -> Result<Option<StoredRecord>, IndexError> {
        let searcher = self.reader.searcher();
        let query = tantivy::query::TermQuery::new(
            Term::from_field_text(self.fields.key, key),
            IndexRecordOption::Basic,
        );
        let top = searcher
            .search(
                &query,
                &tantivy::collector::TopDocs::with_limit(1).order_by_score(),
            )
            .map_err(|e| self.tantivy_err(e))?;
        match top.first() {
            None => Ok(None),
            Some((_, address)) => {
                let doc: TantivyDocument =
                    searcher.doc(*address).map_err(|e| self.tantivy_err(e))?;
                self.decode(&doc).map(Some)
            }
        }
    }

    /// Opstamp of the last commit on disk (changes with every commit), if any.
    pub fn committed_opstamp(&self) -> Option<u64> {
        self.index.load_metas().ok().map(|m| m.opstamp)
    }

    /// Takes the writer lock. Fails with [`IndexError::Busy`] when another run holds it.
    pub fn writer(&self, threads: usize) -> Result<VocWriter, IndexError> {
        let threads = threads.clamp(1, 8);
        let writer = self
            .index
            .writer_with_num_threads(threads, WRITER_MEMORY.max(threads * 20 * 1024 * 1024))
            .map_err(|e| match e {
                TantivyError::LockFailure(LockError::LockBusy, _) => {
                    IndexError::Busy(self.path.clone())
                }
                other => self.tantivy_err(other),
            })?;
        // Merges are started by the run, so that caches carry over (see
        // the `merge` module).
        writer.set_merge_policy(Box::new(NoMergePolicy));
        Ok(VocWriter {
            path: self.path.clone(),
            writer,
            fields: self.fields,
        })
    }

    pub(crate) fn inner(&self) -> (&Index, &IndexReader, Fields) {
        (&self.index, &self.reader, self.fields)
    }
}

/// The index writer: upserts records and commits.
pub struct VocWriter {
    path: PathBuf,
    writer: IndexWriter<VocDocument>,
    fields: Fields,
}

/// Builds index documents; cheap to share, so documents can be built on
/// worker threads and handed to [`VocWriter::add`] in order.
#[derive(Debug, Clone)]
pub struct DocumentBuilder {
    path: PathBuf,
    fields: Fields,
}

impl VocWriter {
    /// Replaces (or adds) the record with this key.
    pub fn upsert(
        &mut self,
        record: &Record,
        analysis: &Analysis,
        content_hash: u64,
    ) -> Result<(), IndexError> {
        let doc = self.documents().build(record, analysis, content_hash)?;
        self.add(&record.key(), doc)
    }

    /// A builder of documents for this index.
    pub fn documents(&self) -> DocumentBuilder {
        DocumentBuilder {
            path: self.path.clone(),
            fields: self.fields,
        }
    }

    /// Replaces (or adds) the record with key `key` by a document built by
    /// [`DocumentBuilder::build`].
    pub fn add(&mut self, key: &str, doc: VocDocument) -> Result<(), IndexError> {
        self.writer
            .delete_term(Term::from_field_text(self.fields.key, key));
        self.insert(doc)
    }

    /// Adds a document built by [`DocumentBuilder::build`] whose key is in
    /// neither the index nor the documents added since: no delete to queue,
    /// which tantivy would otherwise look up in every segment it writes.
    pub fn insert(&mut self, doc: VocDocument) -> Result<(), IndexError> {
        self.writer
            .add_document(doc)
            .map_err(|source| IndexError::Tantivy {
                path: self.path.clone(),
                source,
            })?;
        Ok(())
    }
}

impl DocumentBuilder {
    /// The document of a record and its analysis.
    pub fn build(
        &self,
        record: &Record,
        analysis: &Analysis,
        content_hash: u64,
    ) -> Result<VocDocument, IndexError> {
        let text_hash = crate::ingest::neardup::text_hash(&record.text).unwrap_or(0);
        self.build_with_words(record, analysis, content_hash, text_hash, None, None)
    }

    /// [`DocumentBuilder::build`], given the record's text hash (what
    /// [`crate::ingest::neardup::text_hash`] gives for its text, 0 for
    /// none; a near-duplicate's is stored after a 0, see
    /// [`VocIndex::orphaned_near_duplicates`]) and the words analysis found
    /// in its full text (`Some((full_text, words))`, see
    /// [`Record::full_text`]): the title and text are indexed from them, not
    /// tokenized again, with the same terms, offsets and positions.
    /// `record_json`, when the caller has it, is the record's JSON as
    /// [`Record::json_and_hash`] gives it (the record is then not serialized
    /// again for the doc store).
    pub fn build_with_words(
        &self,
        record: &Record,
        analysis: &Analysis,
        content_hash: u64,
        text_hash: u64,
        words: Option<(&str, &[Word])>,
        record_json: Option<&[u8]>,
    ) -> Result<VocDocument, IndexError> {
        let f = &self.fields;
        let key = record.key();
        let mut doc = VocDocument::with_capacity(24);
        let hash_of_key = key_hash(&key);
        doc.add_text(f.key, key);
        doc.add_u64(f.key_hash, hash_of_key);
        doc.add_u64(f.content_hash, content_hash);
        if record.duplicate_of.is_some() && text_hash != 0 {
            doc.add_u64(f.text_hash, 0);
        }
        doc.add_u64(f.text_hash, text_hash);
        doc.add_text(f.source, record.source.as_str());
        doc.add_text(f.kind, record.kind.as_str());
        doc.add_text(f.lang, analysis.lang.as_str());
        doc.add_text(f.label, analysis.sentiment.label.as_str());
        let mut themes: Vec<String> = analysis
            .themes
            .iter()
            .flat_map(|t| Taxonomy::with_ancestors(&t.id))
            .collect();
        themes.sort();
        themes.dedup();
        for theme in themes {
            doc.add_text(f.theme, theme);
        }
        for signal in &analysis.signals {
            doc.add_text(f.signal, signal.id.as_str());
        }
        if let Some(channel) = record.channel.as_deref().map(normalize_term) {
            if !channel.is_empty() {
                doc.add_text(f.channel, channel);
            }
        }
        let mut tags: Vec<String> = record.tags.iter().map(|t| normalize_term(t)).collect();
        tags.sort();
        tags.dedup();
        for tag in tags.into_iter().filter(|t| !t.is_empty()) {
            doc.add_text(f.tag, tag);
        }
        if let Some(created) = record.created_at {
            doc.add_date(f.created, DateTime::from_timestamp_secs(created));
        }
        doc.add_f64(f.sentiment, analysis.sentiment.score);
        if let Some(rating) = record.rating {
            doc.add_f64(f.rating, rating);
        }
        match words.and_then(|(full, words)| tokens::field_tokens(record, full, words)) {
            Some((title, text)) => {
                if let Some(title) = title {
                    doc.add_pre_tokenized_text(f.title, title);
                }
                doc.add_pre_tokenized_text(f.text, text);
            }
            None => {
                if let Some(title) = &record.title {
                    doc.add_text(f.title, title.as_str());
                }
                doc.add_text(f.text, record.text.as_str());
            }
        }
        let json =
            stored_json(record, analysis, record_json).map_err(|message| IndexError::Corrupt {
                path: self.path.clone(),
                key: record.key(),
                message,
            })?;
        doc.add_text(f.stored, json);
        Ok(doc)
    }
}

/// The stored JSON of a record and its analysis: a
/// [`crate::index::StoredRecord`] serialized without cloning the record.
/// `record_json` is the record's own JSON when the caller has it
/// ([`Record::json_and_hash`]); the bytes are those serde writes for the
/// two-field struct either way.
fn stored_json(
    record: &Record,
    analysis: &Analysis,
    record_json: Option<&[u8]>,
) -> Result<String, String> {
    #[derive(Serialize)]
    struct Stored<'a> {
        record: &'a Record,
        analysis: &'a Analysis,
    }
    // Sized for the usual record, so the buffer rarely grows.
    let mut buffer = Vec::with_capacity(2 * record.text.len() + 1024);
    match record_json {
        None => serde_json::to_writer(&mut buffer, &Stored { record, analysis })
            .map_err(|e| e.to_string())?,
        Some(json) => {
            // The caller's bytes are trusted in a release build: they must
            // be this record's, serialized after its last change.
            debug_assert!(
                serde_json::to_vec(record).is_ok_and(|own| own == json),
                "record JSON given for another state of the record"
            );
            buffer.extend_from_slice(b"{\"record\":");
            buffer.extend_from_slice(json);
            buffer.extend_from_slice(b",\"analysis\":");
            serde_json::to_writer(&mut buffer, analysis).map_err(|e| e.to_string())?;
            buffer.push(b'}');
        }
    }
    String::from_utf8(buffer).map_err(|e| e.to_string())
}

impl VocWriter {
    /// Commits everything added so far, with what the commit should remember.
    pub fn commit(&mut self, info: &CommitInfo) -> Result<(), IndexError> {
        let payload = serde_json::to_string(&CommitPayload {
            schema: SCHEMA_VERSION,
            info: info.clone(),
        })
        .unwrap_or_default();
        let mut prepared = self
            .writer
            .prepare_commit()
            .map_err(|source| IndexError::Tantivy {
                path: self.path.clone(),
                source,
            })?;
        prepared.set_payload(&payload);
        prepared.commit().map_err(|source| IndexError::Tantivy {
            path: self.path.clone(),
            source,
        })?;
        Ok(())
    }

    /// Waits for merges and releases the lock.
    pub fn finish(self) -> Result<(), IndexError> {
        let path = self.path.clone();
        self.writer
            .wait_merging_threads()
            .map_err(|source| IndexError::Tantivy { path, source })
    }
}

#[cfg(test)]
mod tests {
    use super::{stored_json, StoredRecord};
    use crate::analyze::{AnalysisInput, Analyzer, Lexicon, Taxonomy};
    use crate::record::Record;

    #[test]
    fn stored_json_from_the_records_json_equals_serializing_it_whole() {
        let analyzer = Analyzer::new(
            Taxonomy::default_taxonomy().expect("taxonomy"),
            Lexicon::default_lexicon().expect("lexicon"),
        );
        let records = [
            Record {
                id: "1".into(),
                source: "zendesk".into(),
                title: Some("Refund \"late\"".into()),
                text: "Where is my refund?\n退款还没到 \u{1F600} \\ tab\there".into(),
                rating: Some(2.0),
                tags: vec!["billing".into()],
                ..Record::default()
            },
            Record {
                id: "2".into(),
                source: "app_store".into(),
                text: "Great app".into(),
                duplicate_of: Some("app_store:1".into()),
                created_at: Some(1_700_000_000),
                ..Record::default()
            },
        ];
        for record in records {
            let text = record.full_text();
            let analysis = analyzer.analyze(AnalysisInput {
                text: &text,
                rating: record.rating,
                ..AnalysisInput::default()
            });
            let (json, hash) = record.json_and_hash();
            assert_eq!(hash, record.content_hash());
            let whole = serde_json::to_string(&StoredRecord {
                record: record.clone(),
                analysis: analysis.clone(),
            })
            .unwrap();
            assert_eq!(stored_json(&record, &analysis, None).unwrap(), whole);
            assert_eq!(stored_json(&record, &analysis, Some(&json)).unwrap(), whole);
        }
    }
}
