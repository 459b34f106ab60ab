//! Cue matching shared by themes, exclusions and signals.
//!
//! English cues are word sequences compared on stems, in order, with up to
//! [`MAX_GAP`] other words between consecutive cue words, inside one sentence.
//! Chinese cues are substrings of the sentence (Aho-Corasick, so the cost does
//! not grow with the number of cues).

use aho_corasick::{AhoCorasick, MatchKind};
use rustc_hash::FxHashMap;

use super::model::term_hash;
use super::record::NONE;
use crate::text::{tokenize, Term, Word};

/// Most words allowed between two consecutive words of an English cue.
pub const MAX_GAP: usize = 2;

/// A cue found in a sentence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CueHit {
    /// Index of the target (theme, signal) the cue belongs to.
    pub target: usize,
    /// Index of the cue in [`CueSet::cue_text`].
    pub cue: usize,
}

#[derive(Debug, Clone)]
struct EnCue {
    terms: Vec<Term>,
    /// [`term_hash`] of each term: most words that are not the cue's next
    /// one are told apart without comparing text.
    hashes: Vec<u64>,
    target: usize,
    cue: usize,
}

/// A compiled set of cues for many targets.
#[derive(Debug, Clone, Default)]
pub struct CueSet {
    /// Index in `en_lists` of the English cues starting with a term.
    by_first_term: FxHashMap<Term, u32>,
    /// English cues by first term, in taxonomy order.
    en_lists: Vec<Vec<EnCue>>,
    zh: Option<AhoCorasick>,
    zh_targets: Vec<(usize, usize)>,
    /// The Chinese cues that are plain ASCII ("12315"), the only ones an
    /// ASCII sentence can hold, matched ignoring ASCII case: an ASCII
    /// sentence is searched as written, and only for these.
    zh_ascii: Option<AhoCorasick>,
    zh_ascii_targets: Vec<(usize, usize)>,
    texts: Vec<String>,
}

impl CueSet {
    /// Builds a set from `(target, english cues, chinese cues)` triples.
    pub fn build<'a>(
        targets: impl IntoIterator<Item = (usize, &'a [String], &'a [String])>,
    ) -> CueSet {
        let mut set = CueSet::default();
        let mut zh_patterns = Vec::new();
        let mut ascii_patterns = Vec::new();
        for (target, en, zh) in targets {
            for cue in en {
                let terms: Vec<Term> = tokenize(cue).into_iter().map(|w| w.term).collect();
                if terms.is_empty() {
                    continue;
                }
                let index = set.texts.len();
                set.texts.push(cue.clone());
                let next = set.en_lists.len() as u32;
                let list = *set.by_first_term.entry(terms[0].clone()).or_insert(next);
                if list == next {
                    set.en_lists.push(Vec::new());
                }
                set.en_lists[list as usize].push(EnCue {
                    hashes: terms.iter().map(|t| term_hash(t)).collect(),
                    terms,
                    target,
                    cue: index,
                });
            }
            for cue in zh {
                let pattern = cue.trim().to_lowercase();
                if pattern.is_empty() {
                    continue;
                }
                let index = set.texts.len();
                set.texts.push(cue.clone());
                if pattern.is_ascii() {
                    ascii_patterns.push(pattern.clone());
                    set.zh_ascii_targets.push((target, index));
                }
                zh_patterns.push(pattern);
                set.zh_targets.push((target, index));
            }
        }
        if !zh_patterns.is_empty() {
            set.zh = AhoCorasick::builder()
                .match_kind(MatchKind::Standard)
                .build(&zh_patterns)
                .ok();
        }
        if !ascii_patterns.is_empty() {
            set.zh_ascii = AhoCorasick::builder()
                .match_kind(MatchKind::Standard)
                .ascii_case_insensitive(true)
                .build(&ascii_patterns)
                .ok();
        }
        set
    }

    /// The cue's text as written in the taxonomy.
    pub fn cue_text(&self, cue: usize) -> &str {
        &self.texts[cue]
    }

    /// Finds every cue in one sentence: `words` are its words, `lower` its
    /// lowercase text (an ASCII sentence may be given as written).
    pub fn find(&self, words: &[Word], lower: &str, out: &mut Vec<CueHit>) {
        self.find_with(
            words,
            |i| (self.first_of(&words[i].term), term_hash(&words[i].term)),
            lower,
            out,
        );
    }

    /// Which English cues start with `term`: an index for
    /// [`CueSet::find_with`], or [`NONE`] when none does.
    pub(crate) fn first_of(&self, term: &Term) -> u32 {
        self.by_first_term.get(term).copied().unwrap_or(NONE)
    }

    /// [`CueSet::find`] with [`CueSet::first_of`] and the term hash of
    /// each word known: `known(i)` gives those of `words[i]`.
    pub(crate) fn find_with(
        &self,
        words: &[Word],
        known: impl Fn(usize) -> (u32, u64),
        lower: &str,
        out: &mut Vec<CueHit>,
    ) {
        let hash = |j: usize| known(j).1;
        for i in 0..words.len() {
            let list = known(i).0;
            if list == NONE {
                continue;
            }
            for cue in &self.en_lists[list as usize] {
                if matches_from(words, i, cue, hash) {
                    out.push(CueHit {
                        target: cue.target,
                        cue: cue.cue,
                    });
                }
            }
        }
        let (ac, targets) = if lower.is_ascii() {
            (&self.zh_ascii, &self.zh_ascii_targets)
        } else {
            (&self.zh, &self.zh_targets)
        };
        if let Some(ac) = ac {
            for m in ac.find_overlapping_iter(lower) {
                let (target, cue) = targets[m.pattern().as_usize()];
                out.push(CueHit { target, cue });
            }
        }
    }
}

/// Whether the cue's terms occur in order from `words[start]`, with small
/// gaps; `hash(j)` is the [`term_hash`] of `words[j]`.
fn matches_from(words: &[Word], start: usize, cue: &EnCue, hash: impl Fn(usize) -> u64) -> bool {
    let mut pos = start;
    for (term, &h) in cue.terms.iter().zip(&cue.hashes).skip(1) {
        let window_end = (pos + 2 + MAX_GAP).min(words.len());
        match (pos + 1..window_end).find(|&j| hash(j) == h && words[j].term == *term) {
            Some(j) => pos = j,
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hits(set: &CueSet, text: &str) -> Vec<usize> {
        let mut out = Vec::new();
        set.find(&tokenize(text), &text.to_lowercase(), &mut out);
        let mut targets: Vec<usize> = out.into_iter().map(|h| h.target).collect();
        targets.sort();
        targets.dedup();
        targets
    }

    #[test]
    fn english_cues_match_on_stems_with_small_gaps() {
        let en = ["charged twice".to_string()];
        let set = CueSet::build([(0, &en[..], &[][..])]);
        assert_eq!(hits(&set, "They charged me twice!"), [0]);
        assert_eq!(hits(&set, "I was Charging... twice"), [0]);
        assert!(hits(
            &set,
            "charged for shipping and for the gift wrap and then twice"
        )
        .is_empty());
        assert!(hits(&set, "twice charged").is_empty());
    }

    #[test]
    fn ascii_chinese_cues_match_ascii_text_in_any_case() {
        let zh = ["12315".to_string(), "app".to_string(), "退款".to_string()];
        let set = CueSet::build([(4, &[][..], &zh[..])]);
        for text in ["call 12315 now", "The APP froze", "the app froze"] {
            let mut out = Vec::new();
            set.find(&tokenize(text), text, &mut out);
            assert_eq!(out.len(), 1, "{text}");
        }
        assert!(hits(&set, "I want my money back").is_empty());
        assert_eq!(hits(&set, "App坏了要退款"), [4]);
    }

    #[test]
    fn chinese_cues_match_as_substrings() {
        let zh = ["退款".to_string(), "还没到".to_string()];
        let set = CueSet::build([(3, &[][..], &zh[..])]);
        assert_eq!(hits(&set, "申请退款一周了"), [3]);
        assert_eq!(hits(&set, "快递还没到"), [3]);
        assert!(hits(&set, "快递到了").is_empty());
    }
}
