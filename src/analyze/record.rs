//! Word records: everything the analysis rules ask about one word alone,
//! resolved once per distinct word.
//!
//! Scoring a sentence asks of each word whether it is a negator, booster or
//! contrast word, its lexicon valence, whether a phrase or cue starts with
//! it and its model weights: about ten hash lookups keyed on the word's
//! text. A [`WordRecord`] holds the answers; a thread keeps the records of
//! the words it has seen, keyed by the addresses of the word's shared
//! [`Term`]s (which the cache holds, so an address is never reused while
//! its record is kept), so a word costs one lookup of two integers; when
//! the analyzer tokenizes the text itself, the words' ids
//! ([`crate::text::WordIds`]) index a plain table instead.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};

use rustc_hash::FxHashMap;

use super::model::{TermFacts, TermWeights};
use crate::text::{Script, Term, Word, WordIds};

/// No phrase or cue starts with the word.
pub(crate) const NONE: u32 = u32::MAX;

/// Most records a thread keeps before starting afresh.
const CACHE_SIZE: usize = 100_000;

/// What the rules need to know of one word.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WordRecord {
    /// Modifier flags (negator, booster, dampener, contrast) of the lexicon rules.
    pub flags: u8,
    /// Valence of the word in the lexicon (a fused Chinese modifier included).
    pub valence: Option<f64>,
    /// Index of the lexicon's English phrases starting with the word, or [`NONE`].
    pub phrases: u32,
    /// Model facts of the word.
    pub facts: TermFacts,
    /// Weights of the word's own features in the English and Chinese models.
    pub weights: [TermWeights; 2],
    /// Index of the English cues starting with the word in the theme,
    /// exclusion and signal cue sets, or [`NONE`].
    pub cues: [u32; 3],
}

/// A fresh owner id: records made by different analyzers never mix.
pub(crate) fn new_owner() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Key of a word: the addresses of its lowercase form and term, and its script.
type Key = (usize, usize, bool);

/// Records of the words seen on this thread, for one owner.
#[derive(Default)]
struct Cache {
    owner: u64,
    /// The terms are kept so that their addresses stay theirs.
    records: FxHashMap<Key, (Term, Term, WordRecord)>,
}

/// Records of the words seen on this thread, by word id, for one owner and
/// one generation of ids.
#[derive(Default)]
struct Table {
    owner: u64,
    generation: u64,
    records: Vec<Option<WordRecord>>,
}

thread_local! {
    static CACHE: RefCell<Cache> = RefCell::new(Cache::default());
    static TABLE: RefCell<Table> = RefCell::new(Table::default());
}

/// [`records_of`] for words whose ids are known (`ids.ids[k]` of
/// `words[k]`, from [`crate::text::tokenize_with_ids`]): a table lookup per
/// word. Ids of generation 0 are not used.
pub(crate) fn records_by_id(
    owner: u64,
    words: &[Word],
    ids: &WordIds,
    out: &mut Vec<WordRecord>,
    make: impl Fn(&Word) -> WordRecord,
) {
    if ids.generation == 0 || ids.ids.len() != words.len() {
        return records_of(owner, words, out, make);
    }
    out.clear();
    TABLE.with(|table| {
        let mut table = table.borrow_mut();
        if table.owner != owner || table.generation != ids.generation {
            table.records.clear();
            table.owner = owner;
            table.generation = ids.generation;
        }
        for (word, &id) in words.iter().zip(&ids.ids) {
            let id = id as usize;
            if id >= table.records.len() {
                table.records.resize(id + 1, None);
            }
            let record = *table.records[id].get_or_insert_with(|| make(word));
            out.push(record);
        }
    });
}

/// Fills `out` (cleared first) with the record of each word; `owner`
/// identifies the rules `make` applies (see [`new_owner`]).
pub(crate) fn records_of(
    owner: u64,
    words: &[Word],
    out: &mut Vec<WordRecord>,
    make: impl Fn(&Word) -> WordRecord,
) {
    out.clear();
    CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        if cache.owner != owner {
            cache.records.clear();
            cache.owner = owner;
        }
        for word in words {
            let key = (
                word.lower.addr(),
                word.term.addr(),
                word.script == Script::Han,
            );
            if let Some((_, _, record)) = cache.records.get(&key) {
                out.push(*record);
                continue;
            }
            if cache.records.len() >= CACHE_SIZE {
                cache.records.clear();
            }
            let record = make(word);
            cache
                .records
                .insert(key, (word.lower.clone(), word.term.clone(), record));
            out.push(record);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::tokenize;

    fn count(owner: u64, words: &[Word], made: &std::cell::Cell<usize>) -> Vec<u8> {
        let mut out = Vec::new();
        records_of(owner, words, &mut out, |w| {
            made.set(made.get() + 1);
            WordRecord {
                flags: w.lower.len() as u8,
                valence: None,
                phrases: NONE,
                facts: TermFacts::default(),
                weights: [TermWeights::default(); 2],
                cues: [NONE; 3],
            }
        });
        out.iter().map(|r| r.flags).collect()
    }

    #[test]
    fn a_word_is_resolved_once_per_owner() {
        let words = tokenize("refund refund the refund");
        let made = std::cell::Cell::new(0);
        let owner = new_owner();
        assert_eq!(count(owner, &words, &made), [6, 6, 3, 6]);
        assert_eq!(made.get(), 2);
        assert_eq!(count(owner, &words, &made), [6, 6, 3, 6]);
        assert_eq!(made.get(), 2, "cached");
        count(new_owner(), &words, &made);
        assert_eq!(made.get(), 4, "another owner's rules are asked again");
    }

    #[test]
    fn records_by_id_equal_records_by_address() {
        let text = "Refund refunds REFUND 退款 the 退款";
        let mut words = Vec::new();
        let mut ids = WordIds::default();
        crate::text::tokenize_with_ids(text, &mut words, &mut ids);
        assert_ne!(ids.generation, 0);
        assert_eq!(ids.ids[0], ids.ids[2], "one id per lowercase form");
        assert_eq!(ids.ids[3], ids.ids[5]);
        let made = std::cell::Cell::new(0);
        let owner = new_owner();
        let make = |w: &Word| {
            made.set(made.get() + 1);
            WordRecord {
                flags: w.lower.len() as u8,
                valence: Some(w.term.len() as f64),
                phrases: NONE,
                facts: TermFacts::default(),
                weights: [TermWeights::default(); 2],
                cues: [NONE; 3],
            }
        };
        let (mut by_id, mut by_addr) = (Vec::new(), Vec::new());
        records_by_id(owner, &words, &ids, &mut by_id, make);
        assert_eq!(made.get(), 4, "refund, refunds, 退款, the");
        records_of(owner, &words, &mut by_addr, make);
        let key = |r: &WordRecord| (r.flags, r.valence);
        assert_eq!(
            by_id.iter().map(key).collect::<Vec<_>>(),
            by_addr.iter().map(key).collect::<Vec<_>>()
        );
    }

    #[test]
    fn words_with_equal_text_but_other_terms_are_told_apart() {
        let a = tokenize("refunds");
        let mut b = a.clone();
        b[0].term = Term::from("other");
        let made = std::cell::Cell::new(0);
        let owner = new_owner();
        count(owner, &a, &made);
        count(owner, &b, &made);
        assert_eq!(made.get(), 2);
    }
}
