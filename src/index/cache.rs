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
//! A cache that took out records deleted since it was written is written
//! again only when those records grow past [`REWRITE_SHARE`] of the
//! segment: until then the file stays as it is, valid against the newer
//! delete list (its deletions a subset of it), and each run takes the same
//! few records out again, which costs less than encoding, compressing and
//! syncing the whole aggregate every night.
//!
//! File format ([`encode`]): a magic line naming the format, then a header
//! (aggregate name, rules, segment id, document count, delete list) and the
//! aggregate, each in postcard (a compact binary serde format: the JSON it
//! replaces spent most of a nightly's cache reading in parsing integers),
//! the aggregate compressed with LZ4, each part with its length and CRC-32.
//!
//! Crash safety: a cache file is written under a temporary name and renamed,
//! so it is whole or absent; a torn or damaged file fails its lengths or
//! checksums and is never used. It names its segment, document count and
//! delete list, and is used only when they match the segment read (its
//! deletions a subset of the current ones) and it decodes, otherwise it is
//! rebuilt from the stored records. Its content is a function of the segment
//! alone, so a file left by a killed or concurrent run is as good as a fresh
//! one.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rayon::prelude::*;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tantivy::{DocAddress, SegmentReader, TantivyDocument};

use super::merge::{segment_by_id, MergedSegments};
use super::{IndexError, StoredRecord, VocIndex};

/// Folder of the cache files, inside the index directory (tantivy leaves
/// files it did not write alone).
pub const CACHE_DIR: &str = "report-cache";
/// Records aggregated together when a segment is built.
const BUILD_BLOCK: usize = 4096;
/// Share of a segment's documents that may be deleted since its cache file
/// was written before the file is written again. Below it, taking those
/// records out again on each run (reading them from the doc store, in
/// parallel) costs less than rewriting the file; past it the repeated
/// reads would approach a rebuild's. A nightly that changes 1% of the
/// records deletes about 0.5% of each old segment, so a file is rewritten
/// about every tenth night.
pub const REWRITE_SHARE: f64 = 0.05;
/// First bytes of a cache file: the format and its version.
const MAGIC: &[u8; 8] = b"vocagg3\n";
/// File name suffix of the cache files.
const SUFFIX: &str = "agg";

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
    /// Renumbers the documents after a merge moved the records into
    /// another segment, `new_doc` giving each document's number there;
    /// false when a document has none (the merged segment's aggregate is
    /// then built from its records).
    fn renumber(&mut self, new_doc: &dyn Fn(u32) -> Option<u32>) -> bool;
}

/// A segment a commit just wrote, found by [`VocIndex::fresh_segment`].
pub struct FreshSegment {
    reader: SegmentReader,
    id: String,
}

/// What a cache file says of itself, before its aggregate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Header {
    /// [`SegmentAggregate::NAME`].
    name: String,
    /// [`SegmentAggregate::rules`] when it was taken.
    rules: u64,
    /// Segment id.
    segment: String,
    /// The segment's document count.
    max_doc: u32,
    /// Documents deleted when the aggregate was taken (not in it).
    deleted: Vec<u32>,
}

/// A cache file read back.
struct CacheFile<A> {
    header: Header,
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
    /// Segments read from a cache file with records deleted since taken
    /// out, the file kept as it was (see [`REWRITE_SHARE`]).
    pub pruned: usize,
    /// Records read from the store (built segments and deletions).
    pub records_read: u64,
}

impl CacheStats {
    fn add(&mut self, other: CacheStats) {
        self.reused += other.reused;
        self.updated += other.updated;
        self.built += other.built;
        self.dropped += other.dropped;
        self.pruned += other.pruned;
        self.records_read += other.records_read;
    }
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
        let (cached, mut stats) = self.cached_aggregates::<A>()?;
        let mut out = Vec::with_capacity(cached.len());
        for (ord, aggregate) in cached.into_iter().enumerate() {
            let aggregate = match aggregate {
                Some(a) => a,
                None => {
                    let (a, records) = self.built_aggregate::<A>(ord as u32)?;
                    stats.built += 1;
                    stats.records_read += records;
                    a
                }
            };
            out.push(aggregate);
        }
        Ok((out, stats))
    }

    /// The aggregate of every live record of segment `ord` of the last
    /// visible commit, built from the stored records and cached, with the
    /// number of records read.
    pub fn built_aggregate<A: SegmentAggregate>(&self, ord: u32) -> Result<(A, u64), IndexError> {
        let searcher = self.reader.searcher();
        let segment = searcher.segment_reader(ord);
        let aggregate = self.build_aggregate::<A>(&searcher, ord, segment)?;
        self.store_aggregate(ord, &aggregate);
        Ok((aggregate, u64::from(segment.num_docs())))
    }

    /// Which segments of the last visible commit, by ordinal, have a cache
    /// file of `A` whose header matches the segment (name, rules, id,
    /// document count, its deletions a subset of the current ones), read
    /// without the aggregates: a plan for reading them on another thread
    /// while the segments without are read from the store. A planned
    /// segment may still turn out unusable (its aggregate damaged, or
    /// unable to take out its deletions exactly):
    /// [`VocIndex::for_each_cached_aggregate`] then hands None for it.
    pub fn cached_segments<A: SegmentAggregate>(&self) -> Vec<bool> {
        let searcher = self.reader.searcher();
        let dir = self.path.join(CACHE_DIR);
        searcher
            .segment_readers()
            .iter()
            .map(|segment| {
                let id = segment.segment_id().uuid_string();
                read_header(&cache_path::<A>(&dir, &id))
                    .is_some_and(|h| header_matches::<A>(&h, segment, &id))
            })
            .collect()
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

    /// Hands each segment's cached aggregate to `each` in segment order
    /// (see [`VocIndex::cached_aggregates`]). The segments are read and
    /// pruned in parallel, as many at a time as there are worker threads,
    /// each handed over as soon as its group is done, so a caller that folds
    /// them holds about that many at a time, not all of them.
    pub fn for_each_cached_aggregate<A: SegmentAggregate>(
        &self,
        mut each: impl FnMut(u32, Option<A>),
    ) -> Result<CacheStats, IndexError> {
        let searcher = self.reader.searcher();
        let dir = self.path.join(CACHE_DIR);
        let _ = std::fs::create_dir_all(&dir);
        let mut stats = CacheStats::default();
        let segments = searcher.segment_readers();
        let live_files: HashSet<PathBuf> = segments
            .iter()
            .map(|segment| cache_path::<A>(&dir, &segment.segment_id().uuid_string()))
            .collect();
        let width = rayon::current_num_threads().max(1);
        for (group, chunk) in segments.chunks(width).enumerate() {
            let loaded: Vec<Result<(Option<A>, CacheStats), IndexError>> = chunk
                .par_iter()
                .enumerate()
                .map(|(i, segment)| {
                    let ord = (group * width + i) as u32;
                    self.load_cached::<A>(&searcher, &dir, ord, segment)
                })
                .collect();
            for (i, result) in loaded.into_iter().enumerate() {
                let (aggregate, segment_stats) = result?;
                stats.add(segment_stats);
                each((group * width + i) as u32, aggregate);
            }
        }
        remove_stale(&dir, A::NAME, &live_files);
        remove_other_versions(&dir, A::NAME);
        Ok(stats)
    }

    /// Segment `ord`'s cached aggregate, with the records deleted since it
    /// was taken out (the file written again when they are many, see
    /// [`REWRITE_SHARE`]); None when there is no valid cache or it cannot
    /// take them out exactly.
    fn load_cached<A: SegmentAggregate>(
        &self,
        searcher: &tantivy::Searcher,
        dir: &Path,
        ord: u32,
        segment: &SegmentReader,
    ) -> Result<(Option<A>, CacheStats), IndexError> {
        let mut stats = CacheStats::default();
        let id = segment.segment_id().uuid_string();
        let path = cache_path::<A>(dir, &id);
        let deleted = deleted_docs(segment);
        // A matching header's deletions are a subset of the segment's.
        let Some(cache) =
            read_cache::<A>(&path).filter(|c| header_matches::<A>(&c.header, segment, &id))
        else {
            return Ok((None, stats));
        };
        let gone = newly_deleted(&cache.header.deleted, &deleted);
        if gone.is_empty() {
            stats.reused += 1;
            return Ok((Some(cache.aggregate), stats));
        }
        let mut aggregate = cache.aggregate;
        for block in gone.chunks(BUILD_BLOCK) {
            let records = self.decode_docs(searcher, ord, block)?;
            stats.records_read += records.len() as u64;
            let exact = block
                .iter()
                .zip(records)
                .all(|(doc, stored)| aggregate.remove(*doc, &stored));
            if !exact {
                // Built again by the caller, and cached then.
                stats.dropped += 1;
                return Ok((None, stats));
            }
        }
        if needs_rewrite(gone.len(), segment.max_doc()) {
            stats.updated += 1;
            write_cache(dir, &path, &id, segment, &deleted, &aggregate);
        } else {
            stats.pruned += 1;
        }
        Ok((Some(aggregate), stats))
    }

    /// Caches aggregate `A` of each segment of `merged` made from its
    /// sources' caches (see [`super::merge`]), once this index's reader
    /// shows the merged segments (reload it after
    /// [`super::VocWriter::finish_merges`]): each source's cache, its records
    /// deleted since taken out, renumbered and added up. A merged segment
    /// with a source without a valid cache gets none. Returns how many were
    /// cached.
    pub fn carry_aggregate<A: SegmentAggregate>(&self, merged: &MergedSegments) -> usize {
        let dir = self.path.join(CACHE_DIR);
        let searcher = self.reader.searcher();
        let mut carried = 0;
        for merge in &merged.merges {
            let Some((_, target)) = segment_by_id(&searcher, merge.target) else {
                continue;
            };
            let mut total = A::default();
            let whole = merge.sources.iter().all(|(source, offset)| {
                let segment = merged.before.segment_reader(source.ord);
                let loaded = self.load_cached::<A>(&merged.before, &dir, source.ord, segment);
                let Ok((Some(mut aggregate), _)) = loaded else {
                    return false;
                };
                let renumbered = aggregate.renumber(&|doc| source.new_doc(*offset, doc));
                total.merge(aggregate);
                renumbered
            });
            if whole {
                // Every document of the merged segment is in the aggregate:
                // those deleted since (none, unless a commit came between)
                // are taken out when it is read, as for any cache.
                let id = merge.target.uuid_string();
                let path = cache_path::<A>(&dir, &id);
                write_cache(&dir, &path, &id, target, &[], &total);
                carried += 1;
            }
        }
        carried
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
        let path = cache_path::<A>(&dir, &id);
        write_cache(&dir, &path, &id, segment, &deleted_docs(segment), aggregate);
    }

    /// The segment of the last commit on disk whose documents are, in
    /// order, exactly `docs` (key hash and content hash of each) with none
    /// deleted: the segment a commit wrote from the documents added since
    /// the previous one, when one indexing thread wrote them all into one
    /// segment. It is found by its fast fields, so aggregates cached for it
    /// ([`VocIndex::cache_fresh`]) are the segment's own. This index's
    /// reader is left as it is. None when there is no such segment
    /// (documents split between segments, a read error): nothing is cached
    /// then, and the report pass aggregates the segment from its stored
    /// records, as for any segment without a cache.
    pub fn fresh_segment(&self, docs: &[(u64, u64)]) -> Option<FreshSegment> {
        if docs.is_empty() {
            return None;
        }
        let segments = self.index.searchable_segments().ok()?;
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
            if same {
                let id = meta.id().uuid_string();
                return Some(FreshSegment { reader, id });
            }
        }
        None
    }

    /// Caches `aggregate` as the aggregate of a segment found by
    /// [`VocIndex::fresh_segment`].
    pub fn cache_fresh<A: SegmentAggregate>(&self, fresh: &FreshSegment, aggregate: &A) {
        let dir = self.path.join(CACHE_DIR);
        let _ = std::fs::create_dir_all(&dir);
        let path = cache_path::<A>(&dir, &fresh.id);
        write_cache(&dir, &path, &fresh.id, &fresh.reader, &[], aggregate);
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

/// Documents deleted now and not when the cache was taken (`cached`, a
/// subset of `now`: [`header_matches`] checked it).
fn newly_deleted(cached: &[u32], now: &[u32]) -> Vec<u32> {
    let cached: HashSet<u32> = cached.iter().copied().collect();
    now.iter()
        .copied()
        .filter(|d| !cached.contains(d))
        .collect()
}

/// Whether a cache file's header says it is aggregate `A` of this segment,
/// taken under the current rules, with a delete list the segment's
/// includes.
fn header_matches<A: SegmentAggregate>(header: &Header, segment: &SegmentReader, id: &str) -> bool {
    header.name == A::NAME
        && header.rules == A::rules()
        && header.segment == id
        && header.max_doc == segment.max_doc()
        && header.deleted.iter().all(|&d| {
            segment
                .alive_bitset()
                .is_some_and(|alive| d < segment.max_doc() && alive.is_deleted(d))
        })
}

/// Whether a cache file must be written again after taking out `gone`
/// records deleted since it was (see [`REWRITE_SHARE`]).
fn needs_rewrite(gone: usize, max_doc: u32) -> bool {
    gone as f64 > REWRITE_SHARE * f64::from(max_doc)
}

/// The cache file of aggregate `A` for segment `id`.
fn cache_path<A: SegmentAggregate>(dir: &Path, id: &str) -> PathBuf {
    dir.join(format!("{}-{id}.{SUFFIX}", A::NAME))
}

/// Appends `bytes` with its length (u64) and CRC-32 before it.
fn put_part(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(bytes).to_le_bytes());
    out.extend_from_slice(bytes);
}

/// Splits a part written by [`put_part`] off `input`; None when it is cut
/// short or its checksum does not match.
fn take_part(input: &[u8]) -> Option<(&[u8], &[u8])> {
    let (len, rest) = input.split_first_chunk::<8>()?;
    let (crc, rest) = rest.split_first_chunk::<4>()?;
    let len = usize::try_from(u64::from_le_bytes(*len)).ok()?;
    if rest.len() < len {
        return None;
    }
    let (bytes, rest) = rest.split_at(len);
    (crc32fast::hash(bytes) == u32::from_le_bytes(*crc)).then_some((bytes, rest))
}

/// The bytes of a cache file: [`MAGIC`], the header, then the aggregate's
/// uncompressed length (u64) followed by the aggregate compressed with LZ4,
/// header and length-and-aggregate each with its length and CRC-32. None when
/// the aggregate does not serialize (no cache is written then).
fn encode<A: Serialize>(header: &Header, aggregate: &A) -> Option<Vec<u8>> {
    let header = postcard::to_stdvec(header).ok()?;
    let body = postcard::to_stdvec(aggregate).ok()?;
    // The uncompressed length leads the checksummed part, so a damaged one
    // is caught before it sizes an allocation.
    let mut packed = vec![0u8; 8 + lz4_flex::block::get_maximum_output_size(body.len())];
    packed[..8].copy_from_slice(&(body.len() as u64).to_le_bytes());
    let packed_len = lz4_flex::block::compress_into(&body, &mut packed[8..]).ok()?;
    packed.truncate(8 + packed_len);
    let mut out = Vec::with_capacity(MAGIC.len() + header.len() + packed.len() + 32);
    out.extend_from_slice(MAGIC);
    put_part(&mut out, &header);
    put_part(&mut out, &packed);
    Some(out)
}

/// Reads back the bytes of [`encode`]; None when they are not a whole,
/// undamaged cache file of this format.
fn decode<A: DeserializeOwned>(bytes: &[u8]) -> Option<CacheFile<A>> {
    let rest = bytes.strip_prefix(MAGIC)?;
    let (header, rest) = take_part(rest)?;
    let header: Header = postcard::from_bytes(header).ok()?;
    let (packed, rest) = take_part(rest)?;
    if !rest.is_empty() {
        return None;
    }
    let (len, packed) = packed.split_first_chunk::<8>()?;
    let len = usize::try_from(u64::from_le_bytes(*len)).ok()?;
    // LZ4 expands at most 255 times: a larger length is damage, not a
    // reason to allocate it.
    if len > packed.len().saturating_mul(255) {
        return None;
    }
    // Decoded only once its checksum matched: LZ4 is read here as tantivy
    // reads its own doc store blocks, trusting bytes the index wrote.
    let mut body = vec![0u8; len];
    if lz4_flex::block::decompress_into(packed, &mut body).ok()? != len {
        return None;
    }
    let aggregate = postcard::from_bytes(&body).ok()?;
    Some(CacheFile { header, aggregate })
}

/// The header of a cache file, read alone (its checksum checked).
fn read_header(path: &Path) -> Option<Header> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).ok()?;
    let mut start = [0u8; MAGIC.len() + 12];
    file.read_exact(&mut start).ok()?;
    let rest = start.strip_prefix(MAGIC)?;
    let len = u64::from_le_bytes(rest[..8].try_into().ok()?);
    // A header is a few bytes a deleted document: more than the segment
    // could have is damage.
    if len > 64 << 20 {
        return None;
    }
    let mut part = rest.to_vec();
    part.resize(12 + len as usize, 0);
    file.read_exact(&mut part[12..]).ok()?;
    let (header, _) = take_part(&part)?;
    postcard::from_bytes(header).ok()
}

fn read_cache<A: DeserializeOwned>(path: &Path) -> Option<CacheFile<A>> {
    decode(&std::fs::read(path).ok()?)
}

fn write_cache<A: SegmentAggregate>(
    dir: &Path,
    path: &Path,
    id: &str,
    segment: &SegmentReader,
    deleted: &[u32],
    aggregate: &A,
) {
    let header = Header {
        name: A::NAME.to_string(),
        rules: A::rules(),
        segment: id.to_string(),
        max_doc: segment.max_doc(),
        deleted: deleted.to_vec(),
    };
    let Some(bytes) = encode(&header, aggregate) else {
        return;
    };
    let temp = temp_path(dir, id);
    let written = (|| -> std::io::Result<()> {
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        std::fs::rename(&temp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
}

/// Removes the cache files of other versions of aggregate `name` (the
/// same name up to its `-v` version suffix, e.g. `summary-v1-*.json.gz`
/// for `summary-v2`; a newer version too, when an older vocscope runs on
/// the index): this one never reads them.
fn remove_other_versions(dir: &Path, name: &str) {
    let Some(at) = name.rfind("-v") else {
        return;
    };
    let family = &name[..at + 2];
    let current = format!("{name}-");
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let file = entry.file_name().to_string_lossy().to_string();
        let version = file
            .strip_prefix(family)
            .and_then(|rest| rest.split_once('-'));
        let other = version.is_some_and(|(v, _)| v.bytes().all(|b| b.is_ascii_digit()));
        if other && !file.starts_with(&current) {
            let _ = std::fs::remove_file(entry.path());
        }
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

/// Makes a cache file look taken under other rules, its aggregate kept
/// (tests: a cache of another vocscope version or other word lists).
#[cfg(test)]
pub(crate) fn set_cache_rules(path: &Path, rules: u64) {
    let bytes = std::fs::read(path).expect("read cache file");
    let rest = bytes.strip_prefix(MAGIC).expect("magic");
    let (header, rest) = take_part(rest).expect("header");
    let mut header: Header = postcard::from_bytes(header).expect("header decodes");
    header.rules = rules;
    let mut out = MAGIC.to_vec();
    put_part(&mut out, &postcard::to_stdvec(&header).expect("encode"));
    out.extend_from_slice(rest);
    std::fs::write(path, out).expect("write cache file");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Header {
        Header {
            name: "test-v3".into(),
            rules: 42,
            segment: "0123abcd".into(),
            max_doc: 1000,
            deleted: vec![3, 17, 999],
        }
    }

    fn aggregate() -> Vec<(String, u64, i64)> {
        (0..2000u64)
            .map(|i| (format!("phrase {}", i % 97), i * 7, -(i as i64) * 86_400))
            .collect()
    }

    #[test]
    fn a_cache_file_reads_back_what_was_written() {
        let bytes = encode(&header(), &aggregate()).expect("encode");
        let back: CacheFile<Vec<(String, u64, i64)>> = decode(&bytes).expect("decode");
        assert_eq!(back.header, header());
        assert_eq!(back.aggregate, aggregate());
    }

    #[test]
    fn a_torn_or_damaged_cache_file_is_never_used() {
        let bytes = encode(&header(), &aggregate()).expect("encode");
        let read = |b: &[u8]| decode::<Vec<(String, u64, i64)>>(b).is_some();
        assert!(read(&bytes));
        // Cut anywhere (a write torn by a crash without the rename).
        for len in (0..bytes.len()).step_by(7) {
            assert!(!read(&bytes[..len]), "cut at {len}");
        }
        // Any byte changed: magic, lengths, header, compressed aggregate.
        for at in (0..bytes.len()).step_by(5) {
            let mut damaged = bytes.clone();
            damaged[at] ^= 0x20;
            assert!(!read(&damaged), "byte {at} changed");
        }
        // Trailing bytes, and the gzip JSON of the earlier format.
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(!read(&longer));
        assert!(!read(b"\x1f\x8b\x08\x00{\"name\":\"summary-v1\"}"));
    }

    #[test]
    fn a_pruned_cache_is_rewritten_only_past_the_share() {
        assert!(!needs_rewrite(0, 100_000));
        assert!(!needs_rewrite(500, 100_000));
        assert!(!needs_rewrite(5_000, 100_000));
        assert!(needs_rewrite(5_001, 100_000));
        assert!(needs_rewrite(1, 10));
    }

    #[test]
    fn files_of_earlier_versions_go_and_others_stay() {
        let dir = tempfile::tempdir().expect("temp dir");
        let names = [
            "summary-v1-aaa.json.gz",
            "summary-v2-aaa.agg",
            "summary-v2-bbb.agg",
            "summary-vx-aaa.agg",
            "phrases-v1-aaa.json.gz",
            "rows-plain-aaa.rows",
        ];
        for name in names {
            std::fs::write(dir.path().join(name), b"x").expect("write");
        }
        remove_other_versions(dir.path(), "summary-v2");
        let gone = ["summary-v1-aaa.json.gz"];
        for name in names {
            let exists = dir.path().join(name).exists();
            assert_eq!(exists, !gone.contains(&name), "{name}");
        }
    }
}
