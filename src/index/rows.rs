//! Per-segment row cache: opaque rows (the output layer's encoding of a
//! record's row in records.csv and the Records sheet) of each segment's live
//! records, in report order, beside the index (issue 8).
//!
//! Reports list every record in report order ([`OrderKey`]: creation time,
//! key hash, address). Reading each record from the doc store and decoding
//! its JSON for that is most of a nightly run's report pass, although only
//! the new segments hold new rows. So the rows of a segment are saved once,
//! sorted, when the pass reads the segment anyway ([`RowCacheWriter`]), and
//! later passes merge the segments' sorted rows ([`RowMerge`]) instead of
//! reading the store. Records deleted since (an update deletes the old
//! version) are skipped while reading: a segment's deletions only grow.
//!
//! File: a header (magic, rules fingerprint, segment id, document count,
//! the documents deleted when it was written), the rows (created, key hash,
//! document, payload length, payload), then the row count and a CRC-32 of
//! everything before it. It is written under a temporary name and renamed,
//! so it is whole or absent, and it is used only when its checksum, rules,
//! segment, document count and deletions (a subset of the segment's now)
//! match; otherwise the segment is read from the store and the file written
//! again. The checksum also covers a file renamed before its data reached
//! the disk (no fsync: a torn file is detected and rebuilt, never used).

use std::collections::{BinaryHeap, HashSet};
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use tantivy::fastfield::AliveBitSet;
use tantivy::{DocAddress, SegmentReader};

use super::cache::{deleted_docs, remove_stale, temp_path, CACHE_DIR};
use super::merge::{segment_by_id, MergedSegments};
use super::{IndexError, VocIndex};

const MAGIC: &[u8; 8] = b"VSROWS01";
/// Bytes of the trailer: row count and CRC-32.
const TRAILER: u64 = 8;
/// Bytes of a row's fixed part: created, key hash, document, payload length.
const ROW_HEAD: usize = 24;
/// Read and write buffer of a cache file.
const BUFFER: usize = 256 * 1024;

/// Where a record sits in report order: by creation time (Unix seconds,
/// `i64::MIN` when unknown), then key hash, then address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct OrderKey {
    /// Creation time in seconds, as the `created` fast field holds it.
    pub created: i64,
    /// Hash of the record key ([`super::key_hash`]).
    pub key_hash: u64,
    /// The document.
    pub address: DocAddress,
}

fn cache_path(dir: &Path, name: &str, id: &str) -> PathBuf {
    dir.join(format!("{name}-{id}.rows"))
}

impl VocIndex {
    /// The cached rows named `name` under rules `rules` of each segment of
    /// the last visible commit, by segment ordinal: None where the segment
    /// has no valid cache (the caller reads it from the store and writes
    /// its rows with [`VocIndex::row_cache_writer`]). Files of segments gone
    /// are removed. A file that cannot be read only costs speed.
    pub fn row_caches(&self, name: &str, rules: u64) -> Vec<Option<CachedRows>> {
        let searcher = self.reader.searcher();
        let dir = self.path.join(CACHE_DIR);
        let segments = searcher.segment_readers();
        let live: HashSet<PathBuf> = segments
            .iter()
            .map(|s| cache_path(&dir, name, &s.segment_id().uuid_string()))
            .collect();
        let out = segments
            .par_iter()
            .enumerate()
            .map(|(ord, segment)| open_valid(&dir, name, rules, ord as u32, segment))
            .collect();
        remove_stale(&dir, name, &live);
        let ids: HashSet<String> = segments
            .iter()
            .map(|s| s.segment_id().uuid_string())
            .collect();
        remove_gone_segments(&dir, &ids);
        out
    }

    /// A writer of the rows of segment `ord` of the last visible commit,
    /// to be given every live record of the segment in report order; None
    /// when the file cannot be created.
    pub fn row_cache_writer(&self, name: &str, rules: u64, ord: u32) -> Option<RowCacheWriter> {
        let searcher = self.reader.searcher();
        let segment = searcher.segment_readers().get(ord as usize)?;
        let dir = self.path.join(CACHE_DIR);
        std::fs::create_dir_all(&dir).ok()?;
        let id = segment.segment_id().uuid_string();
        RowCacheWriter::create(
            &dir,
            cache_path(&dir, name, &id),
            rules,
            &id,
            segment.max_doc(),
            &deleted_docs(segment),
        )
    }
}

impl VocIndex {
    /// Caches the rows named `name` under rules `rules` of each segment of
    /// `merged` made from its sources' row caches (see [`super::merge`]),
    /// once this index's reader shows the merged segments: the sources'
    /// live rows merged in report order, their documents renumbered. A
    /// merged segment with a source without a valid row cache gets none.
    /// Returns how many were cached.
    pub fn carry_rows(&self, merged: &MergedSegments, name: &str, rules: u64) -> usize {
        let dir = self.path.join(CACHE_DIR);
        let searcher = self.reader.searcher();
        let mut carried = 0;
        for merge in &merged.merges {
            let Some((ord, target)) = segment_by_id(&searcher, merge.target) else {
                continue;
            };
            let sources: Option<Vec<CachedRows>> = merge
                .sources
                .iter()
                .map(|(source, _)| {
                    let segment = merged.before.segment_reader(source.ord);
                    open_valid(&dir, name, rules, source.ord, segment)
                })
                .collect();
            let Some(sources) = sources else {
                continue;
            };
            let id = target.segment_id().uuid_string();
            let path = cache_path(&dir, name, &id);
            // Every document of the merged segment has a row: those deleted
            // since are skipped when the file is read, as for any cache.
            let Some(mut writer) =
                RowCacheWriter::create(&dir, path.clone(), rules, &id, target.max_doc(), &[])
            else {
                continue;
            };
            let renumbered = RowMerge::new(sources).and_then(|mut rows| {
                rows.drain_before(None, |key: OrderKey, payload: &[u8]| {
                    let from = key.address.segment_ord;
                    let doc = merge
                        .sources
                        .iter()
                        .find(|(source, _)| source.ord == from)
                        .and_then(|(source, offset)| source.new_doc(*offset, key.address.doc_id))
                        .ok_or_else(|| IndexError::Corrupt {
                            path: path.clone(),
                            key: format!("document {}", key.address.doc_id),
                            message: "a row of a merged segment's source is not in it".into(),
                        })?;
                    let address = DocAddress::new(ord, doc);
                    writer.push(OrderKey { address, ..key }, payload);
                    Ok::<(), IndexError>(())
                })
            });
            if renumbered.is_ok() {
                writer.finish();
                carried += 1;
            }
        }
        carried
    }
}

/// Removes the row files of every variant (e.g. the redacted rows when this
/// report is plain) whose segment is no longer in the index, so a variant
/// used once does not keep a copy of merged-away segments forever.
fn remove_gone_segments(dir: &Path, live: &HashSet<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let file = entry.file_name().to_string_lossy().to_string();
        let Some(stem) = file.strip_suffix(".rows") else {
            continue;
        };
        let gone = stem
            .rsplit_once('-')
            .is_some_and(|(_, id)| !live.contains(id));
        if gone && !file.starts_with('.') {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Opens a segment's cache file and checks it (see the module docs).
fn open_valid(
    dir: &Path,
    name: &str,
    rules: u64,
    ord: u32,
    segment: &SegmentReader,
) -> Option<CachedRows> {
    let id = segment.segment_id().uuid_string();
    let path = cache_path(dir, name, &id);
    let mut file = File::open(&path).ok()?;
    let len = file.metadata().ok()?.len();
    let body = len.checked_sub(TRAILER)?;
    // The whole file is checked before any row is used: a row written to a
    // report cannot be taken back.
    let mut crc = crc32fast::Hasher::new();
    let mut buffer = vec![0u8; BUFFER];
    let mut left = body + 4;
    while left > 0 {
        let n = (left.min(BUFFER as u64)) as usize;
        file.read_exact(&mut buffer[..n]).ok()?;
        crc.update(&buffer[..n]);
        left -= n as u64;
    }
    let mut tail = [0u8; 4];
    file.read_exact(&mut tail).ok()?;
    if crc.finalize() != u32::from_le_bytes(tail) {
        return None;
    }
    file.seek(SeekFrom::Start(body)).ok()?;
    let rows = read_u32(&mut file).ok()?;
    file.seek(SeekFrom::Start(0)).ok()?;
    let mut reader = BufReader::with_capacity(BUFFER, file);
    let mut magic = [0u8; 8];
    reader.read_exact(&mut magic).ok()?;
    let cached_rules = read_u64(&mut reader).ok()?;
    let max_doc = read_u32(&mut reader).ok()?;
    let id_len = read_u32(&mut reader).ok()? as usize;
    if &magic != MAGIC || cached_rules != rules || max_doc != segment.max_doc() || id_len > 64 {
        return None;
    }
    let mut cached_id = vec![0u8; id_len];
    reader.read_exact(&mut cached_id).ok()?;
    let deleted = read_u32(&mut reader).ok()?;
    if cached_id != id.as_bytes() || deleted > max_doc || rows != max_doc - deleted {
        return None;
    }
    // Every document deleted then must be deleted now (a run reading an
    // older commit than the one the file was written from rebuilds it).
    let alive = segment.alive_bitset().cloned();
    for _ in 0..deleted {
        let doc = read_u32(&mut reader).ok()?;
        if doc >= max_doc || alive.as_ref().is_none_or(|a| a.is_alive(doc)) {
            return None;
        }
    }
    Some(CachedRows {
        path,
        ord,
        max_doc,
        reader,
        left: rows,
        alive,
        payload: Vec::new(),
    })
}

fn read_u32(r: &mut impl Read) -> std::io::Result<u32> {
    let mut b = [0u8; 4];
    r.read_exact(&mut b)?;
    Ok(u32::from_le_bytes(b))
}

fn read_u64(r: &mut impl Read) -> std::io::Result<u64> {
    let mut b = [0u8; 8];
    r.read_exact(&mut b)?;
    Ok(u64::from_le_bytes(b))
}

/// One segment's cached rows, read in report order; rows of documents
/// deleted since the file was written are skipped.
pub struct CachedRows {
    path: PathBuf,
    ord: u32,
    max_doc: u32,
    reader: BufReader<File>,
    left: u32,
    alive: Option<AliveBitSet>,
    payload: Vec<u8>,
}

impl CachedRows {
    /// The segment ordinal these rows belong to.
    pub fn segment_ord(&self) -> u32 {
        self.ord
    }

    /// Moves to the next live row and returns its key (its payload is then
    /// [`CachedRows::payload`]); None after the last.
    pub fn next_row(&mut self) -> Result<Option<OrderKey>, IndexError> {
        let io = |source| IndexError::Io {
            path: self.path.clone(),
            source,
        };
        while self.left > 0 {
            self.left -= 1;
            let mut head = [0u8; ROW_HEAD];
            self.reader.read_exact(&mut head).map_err(io)?;
            let word = |i: usize| {
                let mut b = [0u8; 8];
                b.copy_from_slice(&head[i..i + 8]);
                b
            };
            let half = |i: usize| {
                let mut b = [0u8; 4];
                b.copy_from_slice(&head[i..i + 4]);
                u32::from_le_bytes(b)
            };
            let created = i64::from_le_bytes(word(0));
            let key_hash = u64::from_le_bytes(word(8));
            let doc = half(16);
            let len = half(20) as usize;
            if doc >= self.max_doc {
                return Err(IndexError::Corrupt {
                    path: self.path.clone(),
                    key: format!("document {doc}"),
                    message: "row cache names a document past the segment's end".into(),
                });
            }
            self.payload.resize(len, 0);
            self.reader.read_exact(&mut self.payload).map_err(io)?;
            if self.alive.as_ref().is_none_or(|a| a.is_alive(doc)) {
                return Ok(Some(OrderKey {
                    created,
                    key_hash,
                    address: DocAddress::new(self.ord, doc),
                }));
            }
        }
        Ok(None)
    }

    /// The payload of the row [`CachedRows::next_row`] moved to.
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }
}

/// Writes one segment's rows (see the module docs); the file appears only
/// when [`RowCacheWriter::finish`] succeeds. Write errors make it give up
/// quietly: the cache only saves time.
pub struct RowCacheWriter {
    path: PathBuf,
    temp: PathBuf,
    out: Option<BufWriter<File>>,
    crc: crc32fast::Hasher,
    rows: u32,
    expected: u32,
    last: Option<OrderKey>,
}

impl RowCacheWriter {
    fn create(
        dir: &Path,
        path: PathBuf,
        rules: u64,
        id: &str,
        max_doc: u32,
        deleted: &[u32],
    ) -> Option<RowCacheWriter> {
        let temp = temp_path(dir, id);
        let file = File::create(&temp).ok()?;
        let mut writer = RowCacheWriter {
            path,
            temp,
            out: Some(BufWriter::with_capacity(BUFFER, file)),
            crc: crc32fast::Hasher::new(),
            rows: 0,
            expected: max_doc - deleted.len() as u32,
            last: None,
        };
        let mut head = Vec::with_capacity(28 + id.len() + 4 * deleted.len());
        head.extend_from_slice(MAGIC);
        head.extend_from_slice(&rules.to_le_bytes());
        head.extend_from_slice(&max_doc.to_le_bytes());
        head.extend_from_slice(&(id.len() as u32).to_le_bytes());
        head.extend_from_slice(id.as_bytes());
        head.extend_from_slice(&(deleted.len() as u32).to_le_bytes());
        for doc in deleted {
            head.extend_from_slice(&doc.to_le_bytes());
        }
        writer.write(&head);
        Some(writer)
    }

    fn write(&mut self, bytes: &[u8]) {
        self.crc.update(bytes);
        if let Some(out) = &mut self.out {
            if out.write_all(bytes).is_err() {
                self.out = None;
            }
        }
    }

    /// Appends the row of the record at `key` (rows come in report order,
    /// one per live document of the segment).
    pub fn push(&mut self, key: OrderKey, payload: &[u8]) {
        // Out of order rows would break the merge: drop the file instead.
        if self.last.is_some_and(|last| last >= key) || payload.len() > u32::MAX as usize {
            self.out = None;
        }
        self.last = Some(key);
        let mut head = [0u8; ROW_HEAD];
        head[..8].copy_from_slice(&key.created.to_le_bytes());
        head[8..16].copy_from_slice(&key.key_hash.to_le_bytes());
        head[16..20].copy_from_slice(&key.address.doc_id.to_le_bytes());
        head[20..].copy_from_slice(&(payload.len() as u32).to_le_bytes());
        self.write(&head);
        self.write(payload);
        self.rows += 1;
    }

    /// Writes the trailer and renames the file into place; a file with
    /// another number of rows than the segment's live documents is dropped.
    pub fn finish(mut self) {
        if self.rows != self.expected {
            self.out = None;
        }
        let rows = self.rows.to_le_bytes();
        self.write(&rows);
        let crc = std::mem::take(&mut self.crc).finalize().to_le_bytes();
        let Some(mut out) = self.out.take() else {
            return;
        };
        let written = out
            .write_all(&crc)
            .and_then(|()| out.flush())
            .and_then(|()| std::fs::rename(&self.temp, &self.path));
        drop(out);
        if written.is_err() {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

impl Drop for RowCacheWriter {
    fn drop(&mut self) {
        // Unfinished (an error stopped the pass) or failed: no temporary
        // file left (after a rename there is none to remove).
        self.out = None;
        let _ = std::fs::remove_file(&self.temp);
    }
}

/// The rows of several segments merged into report order.
pub struct RowMerge {
    segments: Vec<CachedRows>,
    heads: BinaryHeap<std::cmp::Reverse<(OrderKey, usize)>>,
}

impl RowMerge {
    /// Starts merging these segments' rows.
    pub fn new(mut segments: Vec<CachedRows>) -> Result<RowMerge, IndexError> {
        let mut heads = BinaryHeap::with_capacity(segments.len());
        for (i, segment) in segments.iter_mut().enumerate() {
            if let Some(key) = segment.next_row()? {
                heads.push(std::cmp::Reverse((key, i)));
            }
        }
        Ok(RowMerge { segments, heads })
    }

    /// Calls `f` with each row before `bound` (every row left when None), in
    /// report order. `f`'s own error stops the merge.
    pub fn drain_before<E: From<IndexError>>(
        &mut self,
        bound: Option<OrderKey>,
        mut f: impl FnMut(OrderKey, &[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        while let Some(&std::cmp::Reverse((key, i))) = self.heads.peek() {
            if bound.is_some_and(|b| key >= b) {
                break;
            }
            self.heads.pop();
            let segment = &mut self.segments[i];
            f(key, segment.payload())?;
            if let Some(next) = segment.next_row()? {
                self.heads.push(std::cmp::Reverse((next, i)));
            }
        }
        Ok(())
    }
}

/// Makes the last row of the row cache file `path` name a document past
/// its segment's end, its checksum made valid again (tests: a cache that
/// passes every check when opened and fails while the rows are merged).
#[cfg(test)]
pub(crate) fn point_last_row_past_segment(path: &Path) {
    let mut bytes = std::fs::read(path).expect("read row cache");
    let word = |bytes: &[u8], at: usize| {
        u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes")) as usize
    };
    // The header: magic, rules, max_doc, id length and id, deletions.
    let id_len = word(&bytes, MAGIC.len() + 12);
    let deleted_at = MAGIC.len() + 16 + id_len;
    let mut row = deleted_at + 4 + 4 * word(&bytes, deleted_at);
    let rows = word(&bytes, bytes.len() - TRAILER as usize);
    assert!(rows > 1, "{rows} rows");
    for _ in 1..rows {
        row += ROW_HEAD + word(&bytes, row + 20);
    }
    bytes[row + 16..row + 20].copy_from_slice(&u32::MAX.to_le_bytes());
    let body = bytes.len() - 4;
    let crc = crc32fast::hash(&bytes[..body]);
    bytes[body..].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(path, bytes).expect("write row cache");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::{Analyzer, Lexicon, Taxonomy};

    const RULES: u64 = 7;
    const NAME: &str = "rows-test";

    /// Commits records `(id, created)`, upserting by id.
    fn commit(index: &VocIndex, analyzer: &Analyzer, records: &[(&str, i64)]) {
        let dated: Vec<(&str, Option<i64>)> =
            records.iter().map(|&(id, t)| (id, Some(t))).collect();
        crate::index::test_support::commit_records(index, analyzer, &dated);
    }

    /// Caches every segment without a valid cache, the payload being the key
    /// hash's bytes.
    fn cache_all(index: &VocIndex) {
        let caches = index.row_caches(NAME, RULES);
        let order = index.record_order_keyed().expect("order");
        for (ord, cache) in caches.iter().enumerate() {
            if cache.is_some() {
                continue;
            }
            let mut writer = index
                .row_cache_writer(NAME, RULES, ord as u32)
                .expect("writer");
            for key in order.iter().filter(|k| k.address.segment_ord == ord as u32) {
                writer.push(*key, &key.key_hash.to_le_bytes());
            }
            writer.finish();
        }
    }

    /// The merged rows of the cached segments.
    fn merged(index: &VocIndex) -> Vec<(OrderKey, Vec<u8>)> {
        let caches = index.row_caches(NAME, RULES);
        let mut merge = RowMerge::new(caches.into_iter().flatten().collect()).expect("merge");
        let mut rows = Vec::new();
        merge
            .drain_before(None, |key, payload| -> Result<(), IndexError> {
                rows.push((key, payload.to_vec()));
                Ok(())
            })
            .expect("drain");
        rows
    }

    fn setup() -> (tempfile::TempDir, VocIndex, Analyzer) {
        let dir = tempfile::tempdir().expect("temp dir");
        let index = VocIndex::open_or_create(&dir.path().join("index")).expect("index");
        let analyzer = Analyzer::new(
            Taxonomy::default_taxonomy().expect("taxonomy"),
            Lexicon::default_lexicon().expect("lexicon"),
        );
        (dir, index, analyzer)
    }

    fn cache_files(index: &VocIndex) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(index.path().join(CACHE_DIR))
            .expect("cache dir")
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "rows"))
            .collect();
        files.sort();
        files
    }

    #[test]
    fn row_files_of_gone_segments_are_removed_whatever_the_variant() {
        let dir = tempfile::tempdir().expect("temp dir");
        let names = [
            "rows-plain-aaa.rows",
            "rows-redacted-aaa.rows",
            "rows-plain-bbb.rows",
            "rows-redacted-bbb.rows",
            "phrases-v1-aaa.json.gz",
        ];
        for name in names {
            std::fs::write(dir.path().join(name), b"x").expect("write");
        }
        let live: HashSet<String> = ["bbb".to_string()].into_iter().collect();
        remove_gone_segments(dir.path(), &live);
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .expect("dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().to_string())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                "phrases-v1-aaa.json.gz",
                "rows-plain-bbb.rows",
                "rows-redacted-bbb.rows"
            ]
        );
    }

    #[test]
    fn cached_rows_merge_in_record_order_and_skip_deleted_docs() {
        let (_dir, index, analyzer) = setup();
        commit(&index, &analyzer, &[("a", 30), ("b", 10), ("c", 20)]);
        commit(&index, &analyzer, &[("d", 15), ("e", 30), ("f", 5)]);
        cache_all(&index);
        assert!(index.row_caches(NAME, RULES).iter().all(Option::is_some));
        let rows = merged(&index);
        let order = index.record_order_keyed().expect("order");
        assert_eq!(rows.len(), 6);
        assert_eq!(rows.iter().map(|r| r.0).collect::<Vec<_>>(), order);
        for (key, payload) in &rows {
            assert_eq!(payload, &key.key_hash.to_le_bytes());
        }
        // An update deletes the old version: the cached segment stays valid
        // and its row is skipped; the new segment has no cache yet.
        commit(&index, &analyzer, &[("b", 40)]);
        let caches = index.row_caches(NAME, RULES);
        assert_eq!(caches.iter().filter(|c| c.is_some()).count(), 2);
        assert_eq!(caches.iter().filter(|c| c.is_none()).count(), 1);
        let rows = merged(&index);
        assert_eq!(rows.len(), 5);
        let b = crate::index::key_hash("generic:b");
        assert!(rows.iter().all(|(key, _)| key.key_hash != b));
        cache_all(&index);
        let order = index.record_order_keyed().expect("order");
        let rows = merged(&index);
        assert_eq!(rows.iter().map(|r| r.0).collect::<Vec<_>>(), order);
        assert_eq!(rows.last().map(|r| r.0.key_hash), Some(b));
    }

    #[test]
    fn other_rules_corrupt_or_truncated_files_are_not_used() {
        let (_dir, index, analyzer) = setup();
        commit(&index, &analyzer, &[("a", 30), ("b", 10), ("c", 20)]);
        cache_all(&index);
        assert!(index.row_caches(NAME, RULES)[0].is_some());
        assert!(index.row_caches(NAME, RULES + 1)[0].is_none());
        let file = cache_files(&index).pop().expect("a cache file");
        let good = std::fs::read(&file).expect("read");
        let mut flipped = good.clone();
        let middle = flipped.len() / 2;
        flipped[middle] ^= 1;
        for bad in [good[..good.len() - 3].to_vec(), flipped, Vec::new()] {
            std::fs::write(&file, &bad).expect("write");
            assert!(index.row_caches(NAME, RULES)[0].is_none());
        }
        // Rebuilt, it is used again.
        cache_all(&index);
        assert_eq!(std::fs::read(&file).expect("read"), good);
        assert_eq!(merged(&index).len(), 3);
    }

    #[test]
    fn incomplete_or_unordered_writes_leave_no_file_and_stale_files_go() {
        let (_dir, index, analyzer) = setup();
        commit(&index, &analyzer, &[("a", 30), ("b", 10)]);
        let order = index.record_order_keyed().expect("order");
        let mut writer = index.row_cache_writer(NAME, RULES, 0).expect("writer");
        writer.push(order[0], b"x");
        writer.finish();
        let mut writer = index.row_cache_writer(NAME, RULES, 0).expect("writer");
        writer.push(order[1], b"x");
        writer.push(order[0], b"x");
        writer.finish();
        let writer = index.row_cache_writer(NAME, RULES, 0).expect("writer");
        drop(writer);
        assert!(cache_files(&index).is_empty());
        let leftovers: Vec<_> = std::fs::read_dir(index.path().join(CACHE_DIR))
            .expect("dir")
            .flatten()
            .collect();
        assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
        // The row files of a segment merged away are removed, of this
        // variant and of any other; files of other caches stay.
        let dir = index.path().join(CACHE_DIR);
        std::fs::write(dir.join(format!("{NAME}-0123.rows")), b"old").expect("write");
        std::fs::write(dir.join("rows-other-0123.rows"), b"old").expect("write");
        std::fs::write(dir.join("phrases-v1-0123.json.gz"), b"old").expect("write");
        cache_all(&index);
        let names: Vec<String> = cache_files(&index)
            .iter()
            .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().to_string()))
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
        assert!(names[0].starts_with(NAME) && !names[0].contains("0123"));
        assert!(dir.join("phrases-v1-0123.json.gz").exists());
    }
}
