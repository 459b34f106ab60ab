//! Per-segment aggregates of the stored records, cached beside the index.
//!
//! A tantivy segment never changes once written: only its set of deleted
//! documents grows, and a merge makes a new segment. So an aggregate of a
//! segment's records (e.g. the phrase counts of discovery) is computed once,
//! saved under the segment's id with the list of documents deleted at that
//! moment, and on the next run only the records deleted since are taken out
//! (they stay readable in the segment until a merge drops them; an
//! aggregate that cannot take one out exactly, such as a bounded list of
//! the best quotes that lost too many, is built again). A nightly
//! run that adds 1% of the records thus aggregates its new segments and its
//! few deletions, not the whole index.
//!
//! Crash safety: a cache file is written under a temporary name and renamed,
//! so it is whole or absent; it names its segment, document count and delete
//! list, and is used only when they match the segment read (its deletions a
//! subset of the current ones) and it parses, otherwise it is rebuilt from
//! the stored records. Its content is a function of the segment alone, so a
//! file left by a killed or concurrent run is as good as a fresh one.

use std::collections::HashSet;
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rayon::prelude::*;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tantivy::{DocAddress, SegmentReader, TantivyDocument};

use super::{IndexError, StoredRecord, VocIndex};

/// Folder of the cache files, inside the index directory (tantivy leaves
/// files it did not write alone).
pub const CACHE_DIR: &str = "report-cache";
/// Records aggregated together when a segment is built.
const BUILD_BLOCK: usize = 4096;

/// An aggregate of a segment's records that can be cached: adding and
/// removing records and merging aggregates of disjoint records must give the
/// same value whatever the order.
pub trait SegmentAggregate: Default + Send + Serialize + DeserializeOwned {
    /// Name of the cache files; change it (e.g. a version suffix) when the
    /// aggregate's meaning or layout changes.
    const NAME: &'static str;
    /// Fingerprint of the rules the aggregate is computed with (word lists,
    /// lexicons, vocscope's version): a cache taken under other rules is
    /// rebuilt, so an upgrade or an edited list never reuses stale counts.
    fn rules() -> u64 {
        0
    }
    /// Adds a record, `doc` being its document number in the segment.
    fn add(&mut self, doc: u32, stored: &StoredRecord);
    /// Takes out a record added before; false when the aggregate cannot be
    /// updated exactly (e.g. a bounded list of the best records lost one):
    /// the segment is then aggregated again from its stored records.
    fn remove(&mut self, doc: u32, stored: &StoredRecord) -> bool;
    /// Adds the aggregate of other records of the same segment.
    fn merge(&mut self, other: Self);
}

#[derive(Serialize, Deserialize)]
struct CacheFile<A> {
    name: String,
    /// [`SegmentAggregate::rules`] when it was taken.
    #[serde(default)]
    rules: u64,
    segment: String,
    max_doc: u32,
    /// Documents deleted when the aggregate was taken (not in it).
    deleted: Vec<u32>,
    aggregate: A,
}

/// What [`VocIndex::segment_aggregates`] did, for benchmarks and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Segments read from the cache as they were.
    pub reused: usize,
    /// Segments read from the cache with records deleted since taken out.
    pub updated: usize,
    /// Segments aggregated from their stored records.
    pub built: usize,
    /// Cached segments that could not take out their deleted records
    /// exactly ([`SegmentAggregate::remove`]) and were left to be built.
    pub dropped: usize,
    /// Records read from the store (built segments and deletions).
    pub records_read: u64,
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

impl VocIndex {
    /// The aggregate of every live record of each segment of the last
    /// visible commit, by segment ordinal (as in [`tantivy::DocAddress`]),
    /// from the cache where it is valid, built (and cached) where not; see
    /// the module docs. Cache files that cannot be written only cost speed,
    /// so write errors are ignored.
    pub fn segment_aggregates<A: SegmentAggregate>(
        &self,
    ) -> Result<(Vec<A>, CacheStats), IndexError> {
        let searcher = self.reader.searcher();
        let (cached, mut stats) = self.cached_aggregates::<A>()?;
        let mut out = Vec::with_capacity(cached.len());
        for (ord, aggregate) in cached.into_iter().enumerate() {
            let aggregate = match aggregate {
                Some(a) => a,
                None => {
                    let segment = searcher.segment_reader(ord as u32);
                    let a = self.build_aggregate::<A>(&searcher, ord as u32, segment)?;
                    stats.built += 1;
                    stats.records_read += u64::from(segment.num_docs());
                    self.store_aggregate(ord as u32, &a);
                    a
                }
            };
            out.push(aggregate);
        }
        Ok((out, stats))
    }

    /// The cached aggregates of the segments of the last visible commit, by
    /// segment ordinal: None for a segment without a valid cache, which the
    /// caller aggregates (every live record, e.g. while reading them anyway)
    /// and hands to [`VocIndex::store_aggregate`]. Records deleted since a
    /// cache was taken are taken out (and the cache rewritten).
    pub fn cached_aggregates<A: SegmentAggregate>(
        &self,
    ) -> Result<(Vec<Option<A>>, CacheStats), IndexError> {
        let mut out = Vec::new();
        let stats = self.for_each_cached_aggregate(|_, aggregate| out.push(aggregate))?;
        Ok((out, stats))
    }

    /// Hands each segment's cached aggregate to `each` as soon as it is
    /// read, in segment order (see [`VocIndex::cached_aggregates`]), so a
    /// caller that folds them holds one at a time.
    pub fn for_each_cached_aggregate<A: SegmentAggregate>(
        &self,
        mut each: impl FnMut(u32, Option<A>),
    ) -> Result<CacheStats, IndexError> {
        let searcher = self.reader.searcher();
        let dir = self.path.join(CACHE_DIR);
        let _ = std::fs::create_dir_all(&dir);
        let mut stats = CacheStats::default();
        let mut live_files = HashSet::new();
        for (ord, segment) in searcher.segment_readers().iter().enumerate() {
            let id = segment.segment_id().uuid_string();
            let path = dir.join(format!("{}-{id}.json.gz", A::NAME));
            live_files.insert(path.clone());
            let deleted = deleted_docs(segment);
            let cached = read_cache::<A>(&path).filter(|c| {
                c.name == A::NAME
                    && c.rules == A::rules()
                    && c.segment == id
                    && c.max_doc == segment.max_doc()
            });
            let read = |docs: &[u32]| self.decode_docs(&searcher, ord as u32, docs);
            let aggregate =
                match cached.and_then(|c| newly_deleted(&c.deleted, &deleted).map(|n| (c, n))) {
                    Some((cache, gone)) if gone.is_empty() => {
                        stats.reused += 1;
                        Some(cache.aggregate)
                    }
                    Some((cache, gone)) => {
                        let mut aggregate = cache.aggregate;
                        let mut exact = true;
                        for block in gone.chunks(BUILD_BLOCK) {
                            let records = read(block)?;
                            stats.records_read += records.len() as u64;
                            exact = block
                                .iter()
                                .zip(records)
                                .all(|(doc, stored)| aggregate.remove(*doc, &stored));
                            if !exact {
                                break;
                            }
                        }
                        if exact {
                            stats.updated += 1;
                            write_cache(&dir, &path, &id, segment, &deleted, &aggregate);
                            Some(aggregate)
                        } else {
                            // Built again by the caller, and cached then.
                            stats.dropped += 1;
                            None
                        }
                    }
                    None => None,
                };
            each(ord as u32, aggregate);
        }
        remove_stale(&dir, A::NAME, &live_files);
        Ok(stats)
    }

    /// Caches the aggregate of every live record of segment `ord` of the last
    /// visible commit (see [`VocIndex::cached_aggregates`]).
    pub fn store_aggregate<A: SegmentAggregate>(&self, ord: u32, aggregate: &A) {
        let searcher = self.reader.searcher();
        let Some(segment) = searcher.segment_readers().get(ord as usize) else {
            return;
        };
        let dir = self.path.join(CACHE_DIR);
        let id = segment.segment_id().uuid_string();
        let path = dir.join(format!("{}-{id}.json.gz", A::NAME));
        write_cache(&dir, &path, &id, segment, &deleted_docs(segment), aggregate);
    }

    /// Caches `aggregate` as the aggregate of the segment of the last commit
    /// on disk whose documents are, in order, exactly `docs` (key hash and
    /// content hash of each) with none deleted: the segment a commit wrote
    /// from the documents added since the previous one, when one indexing
    /// thread wrote them all into one segment. The segment is found by its
    /// fast fields, so the aggregate is cached only where it is the
    /// segment's own. This index's reader is left as it is. Returns whether
    /// such a segment was found; when not (documents split between
    /// segments, a read error) nothing is cached and the report pass
    /// aggregates the segment from its stored records, as for any segment
    /// without a cache.
    pub fn cache_fresh_segment<A: SegmentAggregate>(
        &self,
        docs: &[(u64, u64)],
        aggregate: &A,
    ) -> bool {
        if docs.is_empty() {
            return false;
        }
        let Ok(segments) = self.index.searchable_segments() else {
            return false;
        };
        let dir = self.path.join(CACHE_DIR);
        for segment in segments {
            let meta = segment.meta();
            if meta.max_doc() as usize != docs.len() || meta.has_deletes() {
                continue;
            }
            let Ok(reader) = SegmentReader::open(&segment) else {
                continue;
            };
            let fast = reader.fast_fields();
            let (Ok(keys), Ok(hashes)) = (fast.u64("key_hash"), fast.u64("content_hash")) else {
                continue;
            };
            let same = docs.iter().enumerate().all(|(doc, &(key, hash))| {
                keys.first(doc as u32) == Some(key) && hashes.first(doc as u32) == Some(hash)
            });
            if !same {
                continue;
            }
            let id = meta.id().uuid_string();
            let _ = std::fs::create_dir_all(&dir);
            let path = dir.join(format!("{}-{id}.json.gz", A::NAME));
            write_cache(&dir, &path, &id, &reader, &[], aggregate);
            return true;
        }
        false
    }

    /// Aggregates a segment's live records, in parallel blocks.
    fn build_aggregate<A: SegmentAggregate>(
        &self,
        searcher: &tantivy::Searcher,
        ord: u32,
        segment: &SegmentReader,
    ) -> Result<A, IndexError> {
        let docs: Vec<u32> = segment.doc_ids_alive().collect();
        docs.par_chunks(BUILD_BLOCK)
            .map(|block| -> Result<A, IndexError> {
                let mut a = A::default();
                for &doc in block {
                    let stored: TantivyDocument = searcher
                        .doc(DocAddress::new(ord, doc))
                        .map_err(|e| self.tantivy_err(e))?;
                    a.add(doc, &self.decode(&stored)?);
                }
                Ok(a)
            })
            .try_reduce(A::default, |mut a, b| {
                a.merge(b);
                Ok(a)
            })
    }

    /// Decodes documents of one segment (deleted ones too), in parallel.
    fn decode_docs(
        &self,
        searcher: &tantivy::Searcher,
        ord: u32,
        docs: &[u32],
    ) -> Result<Vec<StoredRecord>, IndexError> {
        docs.par_iter()
            .map(|&doc| {
                let stored: TantivyDocument = searcher
                    .doc(DocAddress::new(ord, doc))
                    .map_err(|e| self.tantivy_err(e))?;
                self.decode(&stored)
            })
            .collect()
    }

    /// Decodes the stored records at these addresses of the last visible
    /// commit, in parallel, in the order given.
    pub fn records_at(&self, addresses: &[DocAddress]) -> Result<Vec<StoredRecord>, IndexError> {
        let searcher = self.reader.searcher();
        addresses
            .par_iter()
            .map(|&address| {
                let doc: TantivyDocument =
                    searcher.doc(address).map_err(|e| self.tantivy_err(e))?;
                self.decode(&doc)
            })
            .collect()
    }
}

/// The deleted documents of a segment, in order.
pub(super) fn deleted_docs(segment: &SegmentReader) -> Vec<u32> {
    match segment.alive_bitset() {
        Some(alive) => (0..segment.max_doc())
            .filter(|&d| alive.is_deleted(d))
            .collect(),
        None => Vec::new(),
    }
}

/// Documents deleted now and not when the cache was taken; None when the
/// cache lists a deletion the segment does not have (it is not this
/// segment's state: rebuild).
fn newly_deleted(cached: &[u32], now: &[u32]) -> Option<Vec<u32>> {
    let now_set: HashSet<u32> = now.iter().copied().collect();
    if !cached.iter().all(|d| now_set.contains(d)) {
        return None;
    }
    let cached: HashSet<u32> = cached.iter().copied().collect();
    Some(
        now.iter()
            .copied()
            .filter(|d| !cached.contains(d))
            .collect(),
    )
}

fn read_cache<A: DeserializeOwned>(path: &Path) -> Option<CacheFile<A>> {
    let file = std::fs::File::open(path).ok()?;
    let reader = flate2::read::GzDecoder::new(BufReader::new(file));
    serde_json::from_reader(BufReader::new(reader)).ok()
}

fn write_cache<A: SegmentAggregate>(
    dir: &Path,
    path: &Path,
    id: &str,
    segment: &SegmentReader,
    deleted: &[u32],
    aggregate: &A,
) {
    let file = CacheFile {
        name: A::NAME.to_string(),
        rules: A::rules(),
        segment: id.to_string(),
        max_doc: segment.max_doc(),
        deleted: deleted.to_vec(),
        aggregate,
    };
    let temp = temp_path(dir, id);
    let written = (|| -> std::io::Result<()> {
        let out = BufWriter::new(std::fs::File::create(&temp)?);
        let mut gz = flate2::write::GzEncoder::new(out, flate2::Compression::fast());
        serde_json::to_writer(&mut gz, &file)?;
        gz.finish()?
            .into_inner()
            .map_err(|e| e.into_error())?
            .sync_all()?;
        std::fs::rename(&temp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
}

/// A temporary file name in the cache folder, unique in the process (one
/// counter for every kind of cache file, as several are written at once)
/// and between processes (the process id), for a file renamed into place
/// once whole.
pub(super) fn temp_path(dir: &Path, id: &str) -> PathBuf {
    dir.join(format!(
        ".tmp-{}-{}-{id}",
        std::process::id(),
        TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ))
}

/// Removes the cache files named `name` of segments gone (merged or
/// dropped) and temporary files left by killed runs.
pub(super) fn remove_stale(dir: &Path, name: &str, live: &HashSet<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let prefix = format!("{name}-");
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().to_string();
        let stale_temp = name.starts_with(".tmp-")
            && entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age.as_secs() > 3600);
        if (name.starts_with(&prefix) && !live.contains(&path)) || stale_temp {
            let _ = std::fs::remove_file(&path);
        }
    }
}
