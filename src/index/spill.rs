//! Per-record lookups of a run that spill to disk, so that a run's memory
//! stops growing with its input (issue 8: under 1 GiB whatever the input
//! size; a 5M-record first run peaked at 1190 MiB with these tables in
//! memory, about 63 bytes a record).
//!
//! - [`SpillTable`] keeps its newest entries in a [`HashTable`]. When that
//!   holds its limit of entries, they are written to disk sorted by hash,
//!   as a *run* of 4 KiB pages, and the table starts afresh. Of each run,
//!   memory keeps the first hash of every page and a split-block Bloom
//!   filter of 16 bits an entry: about 2 bytes an entry instead of the
//!   entry's 17 to 24 (and the table's slack). A lookup tries the table,
//!   then the runs from the newest, so a later entry under a hash hides an
//!   earlier one as in a map. A run that cannot hold the hash costs one
//!   cache line (its filter says so for all but about 0.1% of absent
//!   hashes); one that may hold it costs a read of one page.
//! - [`SpillBytes`] stores values of any length one after the other (the
//!   keys of records), in memory up to a chunk, then on disk; a value is
//!   found by the position [`SpillBytes::push`] returned.
//!
//! The spilled data goes to an unnamed temporary file in the index's
//! directory (not the system's temporary directory, often a RAM disk),
//! made on the first spill: a run that stays under the limit writes
//! nothing, and the file vanishes when its table is dropped or the process
//! dies, so a killed run leaves nothing behind.

use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::order::{HashEntry, HashTable};
use super::IndexError;

/// Entries a [`SpillTable`] keeps in memory before it spills them: 17 to
/// 27 MiB for the entries of a run's tables, and no spill at all for runs
/// of up to a million records.
pub const SPILL_AFTER: usize = 1 << 20;

/// Bytes of a page of a spilled run.
const PAGE_BYTES: usize = 4096;

/// Bytes [`SpillBytes`] keeps in memory before it writes them out.
const BYTES_CHUNK: usize = 1 << 20;

/// Bits of Bloom filter per spilled entry.
const BLOOM_BITS: usize = 16;

/// An entry that can go to disk: a fixed number of bytes.
pub trait SpillEntry: HashEntry {
    /// Bytes of an encoded entry.
    const BYTES: usize;
    /// Writes the entry into `out` (`BYTES` long).
    fn encode(&self, out: &mut [u8]);
    /// Reads an entry written by [`SpillEntry::encode`].
    fn decode(bytes: &[u8]) -> Self;
}

/// A map from 64-bit hashes to entries that keeps at most a set number of
/// them in memory and the rest on disk; see the module docs. Elsewhere
/// than Unix a read is a seek and a read of the shared file: one thread
/// at a time may use a table there.
pub struct SpillTable<E: SpillEntry> {
    memory: HashTable<E>,
    limit: usize,
    runs: Vec<SpilledRun>,
    file: SpillFile,
}

/// Entries written to disk at once, sorted by hash.
struct SpilledRun {
    /// Where the run starts in the file.
    start: u64,
    /// Entries in the run.
    len: usize,
    /// Hash of the first entry of each page.
    fences: Vec<u64>,
    bloom: Bloom,
}

impl<E: SpillEntry> SpillTable<E> {
    /// An empty table that spills to a temporary file in `dir` once it
    /// holds `limit` entries (at least one) in memory.
    pub fn new(dir: &Path, limit: usize) -> SpillTable<E> {
        SpillTable {
            memory: HashTable::default(),
            limit: limit.max(1),
            runs: Vec::new(),
            file: SpillFile::new(dir),
        }
    }

    /// Entries on a page.
    fn page_entries() -> usize {
        (PAGE_BYTES / E::BYTES).max(1)
    }

    /// The entry stored last under `hash`.
    pub fn get(&self, hash: u64) -> Result<Option<E>, IndexError> {
        if let Some(entry) = self.memory.get(hash) {
            return Ok(Some(entry));
        }
        let mut page = Vec::new();
        for run in self.runs.iter().rev() {
            if !run.bloom.may_contain(hash) {
                continue;
            }
            let at = run.fences.partition_point(|&first| first <= hash);
            if at == 0 {
                continue;
            }
            let first = (at - 1) * Self::page_entries();
            let entries = Self::page_entries().min(run.len - first);
            page.resize(entries * E::BYTES, 0);
            self.file
                .read_at(run.start + (first * E::BYTES) as u64, &mut page)?;
            let entry = |i: usize| E::decode(&page[i * E::BYTES..(i + 1) * E::BYTES]);
            let (mut low, mut high) = (0, entries);
            while low < high {
                let mid = (low + high) / 2;
                let found = entry(mid);
                match found.hash_key().cmp(&hash) {
                    std::cmp::Ordering::Less => low = mid + 1,
                    std::cmp::Ordering::Greater => high = mid,
                    std::cmp::Ordering::Equal => return Ok(Some(found)),
                }
            }
        }
        Ok(None)
    }

    /// Stores `entry` under its hash; it hides any entry stored there before.
    pub fn insert(&mut self, entry: E) -> Result<(), IndexError> {
        self.memory.insert(entry);
        if self.memory.len() >= self.limit {
            self.spill()?;
        }
        Ok(())
    }

    /// Writes the memory table to disk as a run, and empties it; on an
    /// error the table keeps its entries (what was written is ignored).
    fn spill(&mut self) -> Result<(), IndexError> {
        let len = self.memory.len();
        let page_entries = Self::page_entries();
        let mut run = SpilledRun {
            start: self.file.len,
            len,
            fences: Vec::with_capacity(len.div_ceil(page_entries)),
            bloom: Bloom::for_entries(len),
        };
        let mut buffer = Vec::with_capacity(BYTES_CHUNK + E::BYTES);
        for (i, entry) in self.memory.iter_sorted().enumerate() {
            let hash = entry.hash_key();
            if i % page_entries == 0 {
                run.fences.push(hash);
            }
            run.bloom.insert(hash);
            let end = buffer.len();
            buffer.resize(end + E::BYTES, 0);
            entry.encode(&mut buffer[end..]);
            if buffer.len() >= BYTES_CHUNK {
                self.file.append(&buffer)?;
                buffer.clear();
            }
        }
        self.file.append(&buffer)?;
        self.runs.push(run);
        self.memory = HashTable::default();
        Ok(())
    }

    /// Bytes held in memory: the memory table, and the page hashes and
    /// filters of the runs on disk.
    pub fn heap_bytes(&self) -> usize {
        let runs: usize = self
            .runs
            .iter()
            .map(|r| r.fences.capacity() * 8 + r.bloom.blocks.capacity() * 64)
            .sum();
        self.memory.heap_bytes() + runs
    }

    /// Runs written to disk so far.
    pub fn spilled_runs(&self) -> usize {
        self.runs.len()
    }
}

/// Values of any length stored one after the other, the oldest on disk;
/// see the module docs.
pub struct SpillBytes {
    file: SpillFile,
    /// The values after those on disk, each as its length (u32,
    /// little-endian) and bytes.
    memory: Vec<u8>,
}

impl SpillBytes {
    /// An empty store that writes to a temporary file in `dir`.
    pub fn new(dir: &Path) -> SpillBytes {
        SpillBytes {
            file: SpillFile::new(dir),
            memory: Vec::new(),
        }
    }

    /// Stores a value (at most 4 GiB) and returns its position.
    pub fn push(&mut self, value: &[u8]) -> Result<u64, IndexError> {
        let len = u32::try_from(value.len()).map_err(|_| {
            self.file.error(io::Error::new(
                io::ErrorKind::InvalidInput,
                "value over 4 GiB",
            ))
        })?;
        let at = self.file.len + self.memory.len() as u64;
        self.memory.extend_from_slice(&len.to_le_bytes());
        self.memory.extend_from_slice(value);
        if self.memory.len() >= BYTES_CHUNK {
            self.file.append(&self.memory)?;
            self.memory.clear();
            // A value longer than a chunk leaves no larger buffer behind.
            self.memory.shrink_to(2 * BYTES_CHUNK);
        }
        Ok(at)
    }

    /// The value stored at `at` (a position [`SpillBytes::push`] returned).
    pub fn get(&self, at: u64) -> Result<Vec<u8>, IndexError> {
        let mut len = [0u8; 4];
        if at >= self.file.len {
            let start = (at - self.file.len) as usize;
            len.copy_from_slice(&self.memory[start..start + 4]);
            let len = u32::from_le_bytes(len) as usize;
            return Ok(self.memory[start + 4..start + 4 + len].to_vec());
        }
        self.file.read_at(at, &mut len)?;
        let mut value = vec![0u8; u32::from_le_bytes(len) as usize];
        self.file.read_at(at + 4, &mut value)?;
        Ok(value)
    }

    /// Bytes held in memory.
    pub fn heap_bytes(&self) -> usize {
        self.memory.capacity()
    }
}

/// An unnamed temporary file, made on the first write.
struct SpillFile {
    dir: PathBuf,
    file: Option<File>,
    /// Bytes written.
    len: u64,
}

impl SpillFile {
    fn new(dir: &Path) -> SpillFile {
        SpillFile {
            dir: dir.to_path_buf(),
            file: None,
            len: 0,
        }
    }

    /// An I/O error, named by the directory (the file has no name).
    fn error(&self, source: io::Error) -> IndexError {
        IndexError::Io {
            path: self.dir.join("(temporary file of a run's lookups)"),
            source,
        }
    }

    /// Writes `bytes` at the end.
    fn append(&mut self, bytes: &[u8]) -> Result<(), IndexError> {
        if bytes.is_empty() {
            return Ok(());
        }
        if self.file.is_none() {
            let file = tempfile::tempfile_in(&self.dir).map_err(|e| self.error(e))?;
            self.file = Some(file);
        }
        let Some(mut file) = self.file.as_ref() else {
            unreachable!("made above");
        };
        let written = file
            .seek(SeekFrom::Start(self.len))
            .and_then(|_| file.write_all(bytes));
        written.map_err(|e| self.error(e))?;
        self.len += bytes.len() as u64;
        Ok(())
    }

    /// Reads `buffer.len()` bytes written before, from `offset`.
    fn read_at(&self, offset: u64, buffer: &mut [u8]) -> Result<(), IndexError> {
        let Some(file) = self.file.as_ref() else {
            return Err(self.error(io::Error::from(io::ErrorKind::UnexpectedEof)));
        };
        read_exact_at(file, offset, buffer).map_err(|e| self.error(e))
    }
}

#[cfg(unix)]
fn read_exact_at(file: &File, offset: u64, buffer: &mut [u8]) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    file.read_exact_at(buffer, offset)
}

/// Elsewhere than Unix: a seek and a read (one thread uses a table).
#[cfg(not(unix))]
fn read_exact_at(mut file: &File, offset: u64, buffer: &mut [u8]) -> io::Result<()> {
    use std::io::Read;
    file.seek(SeekFrom::Start(offset))?;
    file.read_exact(buffer)
}

/// A split-block Bloom filter: each hash sets one bit in each of the eight
/// words of one 64-byte block, so a test reads one cache line.
struct Bloom {
    blocks: Vec<Block>,
}

/// A block of a [`Bloom`] filter, aligned on a cache line (a `[u64; 8]`
/// alone is aligned on 8 bytes, and would straddle two lines).
#[derive(Clone, Copy)]
#[repr(align(64))]
struct Block([u64; 8]);

impl Bloom {
    /// A filter sized for `entries` entries.
    fn for_entries(entries: usize) -> Bloom {
        Bloom {
            blocks: vec![Block([0; 8]); (entries * BLOOM_BITS).div_ceil(512).max(1)],
        }
    }

    /// The block of a hash and the bit to set in each of its words.
    fn probe(&self, hash: u64) -> (usize, [u64; 8]) {
        let mixed = mix(hash);
        let block = ((u128::from(mixed) * self.blocks.len() as u128) >> 64) as usize;
        let bits = mix(mixed ^ 0x9e37_79b9_7f4a_7c15);
        (
            block,
            std::array::from_fn(|i| 1u64 << ((bits >> (i * 6)) & 63)),
        )
    }

    fn insert(&mut self, hash: u64) {
        let (block, bits) = self.probe(hash);
        for (word, bit) in self.blocks[block].0.iter_mut().zip(bits) {
            *word |= bit;
        }
    }

    /// False when no entry of this hash was inserted.
    fn may_contain(&self, hash: u64) -> bool {
        let (block, bits) = self.probe(hash);
        self.blocks[block]
            .0
            .iter()
            .zip(bits)
            .all(|(word, bit)| word & bit != 0)
    }
}

/// SplitMix64's finalizer: spreads the bits of a hash whose low bits may be
/// weak.
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[derive(Debug, Clone, Copy, PartialEq)]
    struct Pair {
        hash: u64,
        value: u32,
    }

    impl HashEntry for Pair {
        fn hash_key(&self) -> u64 {
            self.hash
        }
    }

    impl SpillEntry for Pair {
        const BYTES: usize = 12;
        fn encode(&self, out: &mut [u8]) {
            out[..8].copy_from_slice(&self.hash.to_le_bytes());
            out[8..12].copy_from_slice(&self.value.to_le_bytes());
        }
        fn decode(bytes: &[u8]) -> Pair {
            Pair {
                hash: u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")),
                value: u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes")),
            }
        }
    }

    /// Hashes with weak low bits and repeats, as keys of a run can be.
    fn hash_of(i: u64) -> u64 {
        (i % 5_000).wrapping_mul(0x100_0000_01b3) << 3
    }

    #[test]
    fn spilled_table_answers_as_a_map() {
        let dir = tempfile::tempdir().expect("dir");
        let mut table: SpillTable<Pair> = SpillTable::new(dir.path(), 700);
        let mut map: HashMap<u64, u32> = HashMap::new();
        for i in 0..12_000u64 {
            let hash = hash_of(i.wrapping_mul(7_919));
            let pair = Pair {
                hash,
                value: i as u32,
            };
            table.insert(pair).expect("insert");
            map.insert(hash, i as u32);
            if i % 97 == 0 {
                let probe = hash_of(i / 3);
                let expected = map.get(&probe).map(|&value| Pair { hash: probe, value });
                assert_eq!(table.get(probe).expect("get"), expected, "at {i}");
            }
        }
        assert!(table.spilled_runs() >= 7, "{} runs", table.spilled_runs());
        // Of each spilled entry, memory keeps about 2 bytes: its share of
        // the Bloom filter (16 bits) and of the page hashes.
        let spilled: usize = table.runs.iter().map(|r| r.len).sum();
        let kept = table.heap_bytes() - table.memory.heap_bytes();
        let per_entry = kept as f64 / spilled as f64;
        assert!(
            (2.0..2.5).contains(&per_entry),
            "{per_entry} bytes an entry"
        );
        for (&hash, &value) in &map {
            assert_eq!(table.get(hash).expect("get"), Some(Pair { hash, value }));
        }
        for absent in [1u64, 2, 3, u64::MAX, 0x8000_0000_0000_0001] {
            assert_eq!(table.get(absent).expect("get"), None);
        }
        // Nothing stays in the directory: the file has no name.
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 0);
    }

    #[test]
    fn a_table_under_its_limit_writes_nothing() {
        let dir = tempfile::tempdir().expect("dir");
        let mut table: SpillTable<Pair> = SpillTable::new(&dir.path().join("absent"), 100);
        for i in 0..99 {
            table
                .insert(Pair {
                    hash: mix(i),
                    value: 1,
                })
                .expect("insert");
        }
        assert_eq!(table.spilled_runs(), 0);
        // A spill into a directory that does not exist is an error naming it.
        let err = table
            .insert(Pair { hash: 5, value: 1 })
            .expect_err("no dir");
        assert!(err.to_string().contains("absent"), "{err}");
    }

    #[test]
    fn bloom_filter_has_no_false_negatives_and_few_false_positives() {
        let mut bloom = Bloom::for_entries(10_000);
        for i in 0..10_000 {
            bloom.insert(hash_of(i) ^ i);
        }
        assert!((0..10_000).all(|i| bloom.may_contain(hash_of(i) ^ i)));
        assert_eq!(bloom.blocks.as_ptr() as usize % 64, 0, "on a cache line");
        let false_positives = (0..100_000u64)
            .filter(|&i| bloom.may_contain(mix(i + 1_000_000)))
            .count();
        assert!(false_positives < 500, "{false_positives} of 100,000");
    }

    #[test]
    fn spilled_bytes_come_back_as_stored() {
        let dir = tempfile::tempdir().expect("dir");
        let mut bytes = SpillBytes::new(dir.path());
        let mut at = Vec::new();
        let long = "鍵".repeat(BYTES_CHUNK);
        at.push((bytes.push(long.as_bytes()).expect("push"), long));
        for i in 0..40_000u32 {
            let value = format!("zendesk:{i}:{}", "é".repeat((i % 13) as usize));
            at.push((bytes.push(value.as_bytes()).expect("push"), value));
        }
        assert!(bytes.file.len > 0, "some values went to disk");
        assert!(bytes.heap_bytes() <= 2 * BYTES_CHUNK);
        for (at, value) in &at {
            assert_eq!(bytes.get(*at).expect("get"), value.as_bytes());
        }
        let empty = bytes.push(b"").expect("empty");
        assert_eq!(bytes.get(empty).expect("get"), b"");
    }
}
