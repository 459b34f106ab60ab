//! Per-record lookups of a run, kept small (issue 8: memory bounded
//! whatever the input size).
//!
//! - [`KnownKeys`]: key hash → content hash of every committed record, a
//!   sorted array of 16 bytes a record (a hash map took about twice that,
//!   and twice again while it grew).
//! - [`IndexedOwners`]: normalized-text hash → first owner (key hash,
//!   document) of every committed text, a sorted array of 24 bytes a record
//!   with a text hash.
//! - [`HashTable`]: a map from 64-bit hashes to small packed entries, for
//!   the tables of a run that get an entry per record read (its ledger and
//!   the owners of its texts): sorted buckets chosen by the hash's top bits,
//!   grown an eighth at a time, so about the entry's size and a tenth more
//!   a record, and never a copy of the whole table (a hash map of the same
//!   entries took up to twice their size, and three times while growing).
//! - [`OrderMerge`]: the documents of some segments in report order
//!   ([`OrderKey`]), made lazily: each segment's live documents are sorted
//!   by their keys read from the fast fields, and the segments are merged
//!   with a heap. It keeps 4 bytes a document (its number), not the 24 of an
//!   [`OrderKey`]; the keys are read again from the fast fields as the merge
//!   goes.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use tantivy::columnar::Column;
use tantivy::DocAddress;

use super::{IndexError, OrderKey, VocIndex};

/// Key hash → content hash of committed records, sorted by key hash.
#[derive(Debug, Default, Clone)]
pub struct KnownKeys {
    pairs: Vec<(u64, u64)>,
}

impl KnownKeys {
    /// From (key hash, content hash) pairs, in index order: when a key hash
    /// comes twice, the later pair wins (as in a map filled in that order).
    pub fn from_pairs(mut pairs: Vec<(u64, u64)>) -> KnownKeys {
        // Stable: equal keys keep their order, and the last one is kept.
        pairs.sort_by_key(|p| p.0);
        pairs.reverse();
        pairs.dedup_by_key(|p| p.0);
        pairs.reverse();
        pairs.shrink_to_fit();
        KnownKeys { pairs }
    }

    /// The content hash of the record with this key hash.
    pub fn get(&self, key_hash: u64) -> Option<u64> {
        self.pairs
            .binary_search_by_key(&key_hash, |p| p.0)
            .ok()
            .map(|i| self.pairs[i].1)
    }

    /// Whether a record with this key hash is committed.
    pub fn contains(&self, key_hash: u64) -> bool {
        self.get(key_hash).is_some()
    }

    /// Records known.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Whether no record is known.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }
}

/// Normalized-text hash → its first owner (key hash, document) among the
/// committed records, sorted by text hash.
#[derive(Debug, Default, Clone)]
pub struct IndexedOwners {
    entries: Vec<(u64, u64, DocAddress)>,
}

impl IndexedOwners {
    /// From (text hash, key hash, document) entries: of several owners of
    /// one text, the smallest key hash wins, then the first document.
    pub fn from_entries(mut entries: Vec<(u64, u64, DocAddress)>) -> IndexedOwners {
        entries.sort_unstable();
        entries.dedup_by_key(|e| e.0);
        entries.shrink_to_fit();
        IndexedOwners { entries }
    }

    /// The owner of a text: its key hash and document.
    pub fn get(&self, text_hash: u64) -> Option<(u64, DocAddress)> {
        self.entries
            .binary_search_by_key(&text_hash, |e| e.0)
            .ok()
            .map(|i| (self.entries[i].1, self.entries[i].2))
    }
}

/// An entry of a [`HashTable`]: a value stored under a 64-bit hash.
pub trait HashEntry: Copy {
    /// The hash the entry is found by; its bits must be spread evenly (a
    /// hash, not a counter), the top ones choosing the bucket.
    fn hash_key(&self) -> u64;
}

/// Mean number of entries a bucket of a [`HashTable`] holds before the
/// buckets double: long enough that a bucket's header (24 bytes) is small
/// beside its entries, short enough that an insertion's shift is cheap.
const BUCKET_ENTRIES: usize = 64;

/// A map from 64-bit hashes to entries ([`HashEntry`]) that grows with no
/// copy of the whole table and little slack (see the module docs): the
/// entries are spread over 2^bits buckets by the top bits of their hash,
/// each bucket a vector sorted by hash that grows by an eighth of its
/// length at a time. The buckets double when they hold
/// [`BUCKET_ENTRIES`] entries on average, each split in two in place.
/// Bytes per entry: `size_of::<E>()` plus at most an eighth of it (and 4
/// entries a bucket) of spare capacity, plus a bucket header (24 bytes)
/// per 32 to 64 entries.
#[derive(Debug, Clone)]
pub struct HashTable<E: HashEntry> {
    bits: u32,
    buckets: Vec<Vec<E>>,
    len: usize,
}

impl<E: HashEntry> Default for HashTable<E> {
    fn default() -> HashTable<E> {
        HashTable {
            bits: 0,
            buckets: vec![Vec::new()],
            len: 0,
        }
    }
}

impl<E: HashEntry> HashTable<E> {
    /// The bucket of a hash.
    fn bucket(&self, hash: u64) -> usize {
        match self.bits {
            0 => 0,
            bits => (hash >> (64 - bits)) as usize,
        }
    }

    /// The entry stored under `hash`.
    pub fn get(&self, hash: u64) -> Option<E> {
        let bucket = &self.buckets[self.bucket(hash)];
        bucket
            .binary_search_by_key(&hash, E::hash_key)
            .ok()
            .map(|i| bucket[i])
    }

    /// Stores `entry` under its hash, replacing the entry stored there.
    pub fn insert(&mut self, entry: E) {
        let hash = entry.hash_key();
        let at = self.bucket(hash);
        let bucket = &mut self.buckets[at];
        match bucket.binary_search_by_key(&hash, E::hash_key) {
            Ok(i) => bucket[i] = entry,
            Err(i) => {
                if bucket.len() == bucket.capacity() {
                    bucket.reserve_exact((bucket.len() / 8).max(4));
                }
                bucket.insert(i, entry);
                self.len += 1;
                if self.len > self.buckets.len() * BUCKET_ENTRIES && self.bits < 32 {
                    self.split();
                }
            }
        }
    }

    /// Doubles the buckets: bucket `i` becomes buckets `2i` (the entries
    /// whose next bit is 0, a prefix, since a bucket is sorted) and `2i + 1`.
    fn split(&mut self) {
        let bit = 63 - self.bits;
        let mut buckets = Vec::with_capacity(self.buckets.len() * 2);
        for mut low in std::mem::take(&mut self.buckets) {
            let at = low.partition_point(|e| (e.hash_key() >> bit) & 1 == 0);
            let high = low[at..].to_vec();
            low.truncate(at);
            low.shrink_to_fit();
            buckets.push(low);
            buckets.push(high);
        }
        self.buckets = buckets;
        self.bits += 1;
    }

    /// Entries stored.
    pub fn len(&self) -> usize {
        self.len
    }

    /// The entries in the order of their hashes (the buckets are chosen by
    /// the top bits of the hash and each is sorted).
    pub fn iter_sorted(&self) -> impl Iterator<Item = &E> {
        self.buckets.iter().flatten()
    }

    /// Whether no entry is stored.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes the table holds on the heap: bucket headers and the capacity
    /// of every bucket.
    pub fn heap_bytes(&self) -> usize {
        let entries: usize = self.buckets.iter().map(Vec::capacity).sum();
        self.buckets.capacity() * std::mem::size_of::<Vec<E>>() + entries * std::mem::size_of::<E>()
    }
}

/// One segment's documents sorted in report order, with the columns their
/// keys are read from.
struct SegmentOrder {
    ord: u32,
    docs: Vec<u32>,
    created: Column<tantivy::DateTime>,
    keys: Column<u64>,
}

impl SegmentOrder {
    fn key(&self, at: usize) -> OrderKey {
        let doc = self.docs[at];
        OrderKey {
            created: created_secs(&self.created, doc),
            key_hash: self.keys.first(doc).unwrap_or(0),
            address: DocAddress::new(self.ord, doc),
        }
    }
}

/// The creation time of a document as report order sorts it.
fn created_secs(created: &Column<tantivy::DateTime>, doc: u32) -> i64 {
    created
        .first(doc)
        .map(|d| d.into_timestamp_secs())
        .unwrap_or(i64::MIN)
}

/// The documents of some segments in report order, made as they are taken
/// (see the module docs). Iterate for the [`OrderKey`]s.
pub struct OrderMerge {
    segments: Vec<SegmentOrder>,
    /// Next position in each segment.
    next: Vec<usize>,
    heads: BinaryHeap<Reverse<(OrderKey, usize)>>,
    len: u64,
}

impl OrderMerge {
    /// Documents left.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether no document is left.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Iterator for OrderMerge {
    type Item = OrderKey;

    fn next(&mut self) -> Option<OrderKey> {
        let Reverse((key, i)) = self.heads.pop()?;
        self.len -= 1;
        let at = self.next[i];
        let segment = &self.segments[i];
        if at < segment.docs.len() {
            self.heads.push(Reverse((segment.key(at), i)));
            self.next[i] = at + 1;
        }
        Some(key)
    }
}

impl VocIndex {
    /// Key hash → content hash of every committed record.
    pub fn content_hashes(&self) -> Result<KnownKeys, IndexError> {
        let searcher = self.reader.searcher();
        let mut pairs = Vec::with_capacity(searcher.num_docs() as usize);
        for segment in searcher.segment_readers() {
            let fast = segment.fast_fields();
            let keys = fast.u64("key_hash").map_err(|e| self.tantivy_err(e))?;
            let hashes = fast.u64("content_hash").map_err(|e| self.tantivy_err(e))?;
            for doc in segment.doc_ids_alive() {
                if let (Some(k), Some(h)) = (keys.first(doc), hashes.first(doc)) {
                    pairs.push((k, h));
                }
            }
        }
        Ok(KnownKeys::from_pairs(pairs))
    }

    /// Normalized-text hash → (key hash, document) of every committed record
    /// that is not itself a near-duplicate (whose first `text_hash` value is
    /// 0): the first owners of their texts.
    /// The documents stay valid until the next [`VocIndex::reload`].
    pub fn text_owners(&self) -> Result<IndexedOwners, IndexError> {
        let searcher = self.reader.searcher();
        let mut entries = Vec::new();
        for (ord, segment) in searcher.segment_readers().iter().enumerate() {
            let fast = segment.fast_fields();
            let keys = fast.u64("key_hash").map_err(|e| self.tantivy_err(e))?;
            let texts = fast.u64("text_hash").map_err(|e| self.tantivy_err(e))?;
            for doc in segment.doc_ids_alive() {
                if let (Some(k), Some(t)) = (keys.first(doc), texts.first(doc)) {
                    if t != 0 {
                        entries.push((t, k, DocAddress::new(ord as u32, doc)));
                    }
                }
            }
        }
        Ok(IndexedOwners::from_entries(entries))
    }

    /// The near-duplicates of the last visible commit whose text no record
    /// owns (its owner's text changed since they were flagged), grouped by
    /// text hash, each group in report order (creation time, key hash,
    /// address). Read from the `text_hash` fast field alone: an owner has
    /// one value, its text hash; a near-duplicate two, 0 then its text
    /// hash (a near-duplicate written before they carried it has a lone 0
    /// and is not seen here: see [`VocIndex::unhashed_documents`]).
    pub fn orphaned_near_duplicates(&self) -> Result<Vec<Vec<DocAddress>>, IndexError> {
        let searcher = self.reader.searcher();
        let mut owned: Vec<u64> = Vec::new();
        let mut flagged: Vec<(u64, OrderKey)> = Vec::new();
        for (ord, segment) in searcher.segment_readers().iter().enumerate() {
            let fast = segment.fast_fields();
            let texts = fast.u64("text_hash").map_err(|e| self.tantivy_err(e))?;
            let multivalued =
                texts.get_cardinality() == tantivy::columnar::Cardinality::Multivalued;
            let (created, keys) = match multivalued {
                true => (
                    Some(fast.date("created").map_err(|e| self.tantivy_err(e))?),
                    Some(fast.u64("key_hash").map_err(|e| self.tantivy_err(e))?),
                ),
                false => (None, None),
            };
            for doc in segment.doc_ids_alive() {
                let mut values = texts.values_for_doc(doc);
                match (values.next(), values.next()) {
                    (Some(0), Some(text)) if text != 0 => {
                        let (Some(created), Some(keys)) = (&created, &keys) else {
                            continue;
                        };
                        let key = OrderKey {
                            created: created_secs(created, doc),
                            key_hash: keys.first(doc).unwrap_or(0),
                            address: DocAddress::new(ord as u32, doc),
                        };
                        flagged.push((text, key));
                    }
                    (Some(text), None) if text != 0 => owned.push(text),
                    _ => {}
                }
            }
        }
        if flagged.is_empty() {
            return Ok(Vec::new());
        }
        owned.sort_unstable();
        flagged.retain(|(text, _)| owned.binary_search(text).is_err());
        flagged.sort_unstable();
        let mut groups: Vec<Vec<DocAddress>> = Vec::new();
        let mut last = None;
        for (text, key) in flagged {
            if last != Some(text) {
                groups.push(Vec::new());
                last = Some(text);
            }
            if let Some(group) = groups.last_mut() {
                group.push(key.address);
            }
        }
        Ok(groups)
    }

    /// The live documents whose `text_hash` is a lone 0: records whose text
    /// is too short to compare, and the near-duplicates of an index written
    /// before near-duplicates carried their text hash
    /// ([`VocIndex::near_duplicates_hashed`]).
    pub fn unhashed_documents(&self) -> Result<Vec<DocAddress>, IndexError> {
        let searcher = self.reader.searcher();
        let mut docs = Vec::new();
        for (ord, segment) in searcher.segment_readers().iter().enumerate() {
            let texts = segment
                .fast_fields()
                .u64("text_hash")
                .map_err(|e| self.tantivy_err(e))?;
            for doc in segment.doc_ids_alive() {
                let mut values = texts.values_for_doc(doc);
                if let (Some(0), None) = (values.next(), values.next()) {
                    docs.push(DocAddress::new(ord as u32, doc));
                }
            }
        }
        Ok(docs)
    }

    /// The live documents of the segments `wanted` says yes to (by segment
    /// ordinal), in report order: by creation time, then key hash, then
    /// address, as [`VocIndex::record_order_keyed`] gives them.
    pub fn order_merge(&self, wanted: impl Fn(u32) -> bool) -> Result<OrderMerge, IndexError> {
        let searcher = self.reader.searcher();
        let mut segments = Vec::new();
        for (ord, segment) in searcher.segment_readers().iter().enumerate() {
            let ord = ord as u32;
            if !wanted(ord) || segment.num_docs() == 0 {
                continue;
            }
            let fast = segment.fast_fields();
            let created = fast.date("created").map_err(|e| self.tantivy_err(e))?;
            let keys = fast.u64("key_hash").map_err(|e| self.tantivy_err(e))?;
            let mut docs: Vec<u32> = segment.doc_ids_alive().collect();
            // Sorted in runs of the creation time alone (read once per
            // document), then by key hash inside runs of equal times.
            let mut times: Vec<(i64, u32)> = docs
                .iter()
                .map(|&d| (created_secs(&created, d), d))
                .collect();
            times.sort_unstable();
            docs.clear();
            let mut start = 0;
            while start < times.len() {
                let t = times[start].0;
                let end = start + times[start..].partition_point(|x| x.0 == t);
                let run = start..end;
                let before = docs.len();
                docs.extend(times[run].iter().map(|x| x.1));
                if end - start > 1 {
                    docs[before..].sort_unstable_by_key(|&d| (keys.first(d).unwrap_or(0), d));
                }
                start = end;
            }
            drop(times);
            segments.push(SegmentOrder {
                ord,
                docs,
                created,
                keys,
            });
        }
        let mut heads = BinaryHeap::with_capacity(segments.len());
        let mut next = Vec::with_capacity(segments.len());
        let mut len = 0u64;
        for (i, segment) in segments.iter().enumerate() {
            len += segment.docs.len() as u64;
            heads.push(Reverse((segment.key(0), i)));
            next.push(1);
        }
        Ok(OrderMerge {
            segments,
            next,
            heads,
            len,
        })
    }

    /// The keys of these documents (of the last visible commit), in report
    /// order; deleted documents are left out.
    pub fn order_keys_of(&self, docs: &[DocAddress]) -> Result<Vec<OrderKey>, IndexError> {
        let searcher = self.reader.searcher();
        let mut columns: Vec<Option<(Column<tantivy::DateTime>, Column<u64>)>> =
            vec![None; searcher.segment_readers().len()];
        let mut out = Vec::with_capacity(docs.len());
        for &address in docs {
            let ord = address.segment_ord as usize;
            let Some(slot) = columns.get_mut(ord) else {
                continue;
            };
            if searcher
                .segment_reader(address.segment_ord)
                .is_deleted(address.doc_id)
            {
                continue;
            }
            if slot.is_none() {
                let fast = searcher.segment_reader(address.segment_ord).fast_fields();
                *slot = Some((
                    fast.date("created").map_err(|e| self.tantivy_err(e))?,
                    fast.u64("key_hash").map_err(|e| self.tantivy_err(e))?,
                ));
            }
            if let Some((created, keys)) = slot {
                out.push(OrderKey {
                    created: created_secs(created, address.doc_id),
                    key_hash: keys.first(address.doc_id).unwrap_or(0),
                    address,
                });
            }
        }
        out.sort_unstable();
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::{Analyzer, Lexicon, Taxonomy};

    #[derive(Debug, Clone, Copy, PartialEq)]
    #[repr(C, packed)]
    struct Packed {
        hash: u64,
        value: u8,
    }

    impl HashEntry for Packed {
        fn hash_key(&self) -> u64 {
            self.hash
        }
    }

    proptest::proptest! {
        /// Insertions with repeats (a pool of hashes, some sharing their top
        /// bits) and lookups give what a hash map gives, through splits.
        #[test]
        fn hash_table_behaves_as_a_hash_map(
            pool in proptest::collection::vec(proptest::prelude::any::<u64>(), 1..600),
            ops in proptest::collection::vec((0usize..1200, proptest::prelude::any::<u8>()), 0..2500),
        ) {
            let mut table: HashTable<Packed> = HashTable::default();
            let mut map = std::collections::HashMap::new();
            for (i, value) in ops {
                // Half of the hashes differ only in their low bits.
                let hash = match i % 2 {
                    0 => pool[i / 2 % pool.len()],
                    _ => pool[i / 2 % pool.len()] & !0xff | (i as u64 & 0xff),
                };
                let before = table.get(hash);
                proptest::prop_assert_eq!(before.map(|e| e.value), map.get(&hash).copied());
                table.insert(Packed { hash, value });
                map.insert(hash, value);
                proptest::prop_assert_eq!(table.len(), map.len());
            }
            for (&hash, &value) in &map {
                proptest::prop_assert_eq!(table.get(hash), Some(Packed { hash, value }));
            }
            for &hash in &pool {
                proptest::prop_assert_eq!(table.get(hash ^ 1).is_some(), map.contains_key(&(hash ^ 1)));
            }
        }
    }

    #[test]
    fn hash_table_slack_stays_small() {
        let mut table: HashTable<Packed> = HashTable::default();
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for i in 0..200_000u32 {
            // A simple mix of the counter: evenly spread bits.
            x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut h = x;
            h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            h ^= h >> 31;
            table.insert(Packed {
                hash: h,
                value: i as u8,
            });
        }
        assert_eq!(table.len(), 200_000);
        let per_entry = table.heap_bytes() as f64 / table.len() as f64;
        // 9 bytes an entry: at most an eighth of spare capacity, 4 spare
        // entries a bucket and its header.
        assert!(per_entry < 12.5, "{per_entry} bytes an entry");
    }

    #[test]
    fn known_keys_keep_the_last_pair_of_a_key() {
        let known = KnownKeys::from_pairs(vec![(5, 1), (2, 7), (5, 3), (9, 4)]);
        assert_eq!(known.get(5), Some(3));
        assert_eq!(known.get(2), Some(7));
        assert_eq!(known.get(9), Some(4));
        assert_eq!(known.get(3), None);
        assert!(known.contains(9) && !known.contains(1));
        assert_eq!(known.len(), 3);
        assert!(KnownKeys::default().is_empty());
    }

    #[test]
    fn indexed_owners_keep_the_smallest_key_then_the_first_document() {
        let at = |s, d| DocAddress::new(s, d);
        let owners = IndexedOwners::from_entries(vec![
            (10, 8, at(0, 1)),
            (10, 3, at(1, 5)),
            (10, 3, at(2, 0)),
            (20, 1, at(0, 2)),
        ]);
        assert_eq!(owners.get(10), Some((3, at(1, 5))));
        assert_eq!(owners.get(20), Some((1, at(0, 2))));
        assert_eq!(owners.get(15), None);
    }

    /// Commits records `(id, created)` (several dates shared), one commit
    /// per slice, so the index has several segments.
    fn index_of(commits: &[&[(&str, Option<i64>)]]) -> (tempfile::TempDir, VocIndex) {
        let tmp = tempfile::tempdir().expect("temp dir");
        let index = VocIndex::open_or_create(tmp.path()).expect("index");
        let analyzer = Analyzer::new(
            Taxonomy::default_taxonomy().expect("taxonomy"),
            Lexicon::default_lexicon().expect("lexicon"),
        );
        for records in commits {
            crate::index::test_support::commit_records(&index, &analyzer, records);
        }
        (tmp, index)
    }

    #[test]
    fn order_merge_gives_the_record_order() {
        let day = 86_400;
        let first: Vec<(String, Option<i64>)> = (0..40)
            .map(|i| (format!("a{i}"), (i % 7 != 0).then_some(day * (i % 5))))
            .collect();
        let second: Vec<(String, Option<i64>)> = (0..30)
            .map(|i| (format!("b{i}"), Some(day * (i % 4))))
            .collect();
        // Updates: deletions in the first segment.
        let third: Vec<(String, Option<i64>)> = (0..10)
            .map(|i| (format!("a{}", i * 3), Some(day * 2)))
            .collect();
        fn as_refs(v: &[(String, Option<i64>)]) -> Vec<(&str, Option<i64>)> {
            v.iter().map(|(s, t)| (s.as_str(), *t)).collect()
        }
        let (a, b, c) = (as_refs(&first), as_refs(&second), as_refs(&third));
        let (_tmp, index) = index_of(&[&a, &b, &c]);
        let all = index.record_order_keyed().expect("order");
        assert_eq!(all.len(), 70);
        let merged: Vec<OrderKey> = index.order_merge(|_| true).expect("merge").collect();
        assert_eq!(merged, all);
        // Some segments only.
        let merge = index.order_merge(|ord| ord != 1).expect("merge");
        assert_eq!(
            merge.len(),
            all.iter().filter(|k| k.address.segment_ord != 1).count() as u64
        );
        let some: Vec<OrderKey> = merge.collect();
        let expected: Vec<OrderKey> = all
            .iter()
            .filter(|k| k.address.segment_ord != 1)
            .copied()
            .collect();
        assert_eq!(some, expected);
        // The keys of some documents, in order.
        let picked: Vec<DocAddress> = all.iter().rev().step_by(3).map(|k| k.address).collect();
        let keys = index.order_keys_of(&picked).expect("keys");
        let expected: Vec<OrderKey> = all.iter().rev().step_by(3).rev().copied().collect();
        assert_eq!(keys, expected);
    }
}
