//! Text: language detection, sentence splitting and the one analyzer chain.
//!
//! Every place that turns text into words (the index, query parsing, theme
//! cues, the sentiment lexicon lookup) goes through [`tokenize`], so the same
//! word always matches the same way. English words are lowercased and stemmed
//! with the Snowball English stemmer (rust-stemmers); runs of Chinese
//! characters are split into words with jieba. Mixed text is handled run by
//! run, so a Chinese ticket that names an English product stays searchable in
//! both scripts.

mod dictionary;
mod lang;
mod pii;
mod tokenizer;

pub use dictionary::{
    use_user_dictionary, user_dictionary, user_dictionary_fingerprint, DictionaryEntry,
    DictionaryError, UserDictionary,
};
pub use lang::{detect_language, Lang};
pub use pii::redact;
pub use tokenizer::{register_analyzer, VocTokenizer, ANALYZER_NAME};

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock};

use jieba_rs::Jieba;
use rust_stemmers::{Algorithm, Stemmer};
use rustc_hash::FxHashMap;

static JIEBA_STARTED: AtomicBool = AtomicBool::new(false);
/// jieba with the user dictionary ([`use_user_dictionary`]) added.
static JIEBA: LazyLock<Jieba> = LazyLock::new(|| {
    JIEBA_STARTED.store(true, Ordering::SeqCst);
    let mut jieba = Jieba::new();
    for entry in &user_dictionary().entries {
        jieba.add_word(&entry.word, entry.frequency, entry.tag.as_deref());
    }
    jieba
});

/// Whether jieba was set up already (the user dictionary can no longer change).
fn jieba_started() -> bool {
    JIEBA_STARTED.load(Ordering::SeqCst)
}
static STEMMER: LazyLock<Stemmer> = LazyLock::new(|| Stemmer::create(Algorithm::English));

/// Which script a word was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Script {
    /// Latin letters or digits (stemmed as English).
    Latin,
    /// Chinese characters (segmented by jieba).
    Han,
}

/// A word form, shared: every occurrence of a word on a thread points to the
/// same text, so copying a [`Word`] allocates nothing.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Term(Arc<str>);

impl Term {
    /// The text of the term.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Address of the shared text: equal for clones of one term, and never
    /// another term's while this one lives (a key for per-word caches that
    /// keep the term).
    pub fn addr(&self) -> usize {
        Arc::as_ptr(&self.0).cast::<u8>() as usize
    }
}

impl std::ops::Deref for Term {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for Term {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Term {
    fn from(s: &str) -> Term {
        Term(Arc::from(s))
    }
}

impl From<Term> for String {
    fn from(t: Term) -> String {
        t.0.to_string()
    }
}

impl PartialEq<str> for Term {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for Term {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

impl std::fmt::Debug for Term {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&*self.0, f)
    }
}

impl std::fmt::Display for Term {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One word of a text, normalized for matching.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    /// Normalized form: lowercase and stemmed for Latin words, the word itself for Chinese.
    pub term: Term,
    /// Lowercase surface form, before stemming (what sentiment lexicons are keyed on).
    pub lower: Term,
    /// Byte offset of the first byte in the source text.
    pub start: usize,
    /// Byte offset one past the last byte in the source text.
    pub end: usize,
    /// Script the word is written in.
    pub script: Script,
}

/// Returns true for characters handled by the Chinese segmenter.
pub fn is_han(c: char) -> bool {
    matches!(c,
        '\u{4E00}'..='\u{9FFF}'
        | '\u{3400}'..='\u{4DBF}'
        | '\u{F900}'..='\u{FAFF}'
        | '\u{20000}'..='\u{2A6DF}'
        | '\u{2A700}'..='\u{2EBEF}')
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() && !is_han(c)
}

/// Apostrophes (straight or typographic) inside a Latin word keep it whole: "don't".
fn is_apostrophe(c: char) -> bool {
    matches!(c, '\'' | '\u{2019}')
}

/// Most words a thread keeps in its cache before starting afresh.
const WORD_CACHE_SIZE: usize = 50_000;

/// Words already seen on this thread, by lowercase form: the shared lowercase
/// form and the normalized term (the stem of an English word, the word itself
/// for Chinese). Stemming is the costliest step of tokenizing English, and
/// customer text repeats its words.
#[derive(Default)]
struct WordCache {
    /// Lowercase form -> (term, id): ids count the entries from 0.
    words: FxHashMap<Term, (Term, u32)>,
    /// Changes whenever the cache starts afresh, so ids are not reused.
    generation: u64,
    /// Id of each word of the text being tokenized, when asked for.
    ids: Option<Vec<u32>>,
    /// Lowercasing buffer, reused.
    buffer: String,
}

thread_local! {
    static WORDS: RefCell<WordCache> = RefCell::new(WordCache::default());
}

impl WordCache {
    /// The shared lowercase form and term of `lower`; `normalize` computes
    /// the term of a word not seen yet.
    fn get(&mut self, lower: &str, normalize: impl FnOnce(&str) -> Term) -> (Term, Term) {
        if let Some((l, (t, id))) = self.words.get_key_value(lower) {
            if let Some(ids) = &mut self.ids {
                ids.push(*id);
            }
            return (l.clone(), t.clone());
        }
        if self.words.len() >= WORD_CACHE_SIZE {
            self.words.clear();
            self.generation = next_generation();
        }
        let l = Term::from(lower);
        let t = normalize(lower);
        let id = self.words.len() as u32;
        self.words.insert(l.clone(), (t.clone(), id));
        if let Some(ids) = &mut self.ids {
            ids.push(id);
        }
        (l, t)
    }

    /// Lowercase form and stem of a Latin word as written (`raw`).
    fn latin(&mut self, raw: &str) -> (Term, Term) {
        if raw.is_ascii() && !raw.bytes().any(|b| b.is_ascii_uppercase()) {
            return self.get(raw, stem_of);
        }
        let mut buffer = std::mem::take(&mut self.buffer);
        buffer.clear();
        if raw.is_ascii() {
            buffer.extend(raw.bytes().map(|b| char::from(b.to_ascii_lowercase())));
        } else {
            buffer.extend(
                raw.chars()
                    .map(|c| if is_apostrophe(c) { '\'' } else { c })
                    .flat_map(char::to_lowercase),
            );
        }
        let out = self.get(&buffer, stem_of);
        self.buffer = buffer;
        out
    }

    /// The shared form of a Chinese word (its own term).
    fn han(&mut self, word: &str) -> Term {
        self.get(word, |w: &str| Term::from(w)).0
    }
}

/// A generation number no cache on any thread has had.
fn next_generation() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

fn stem_of(lower: &str) -> Term {
    Term::from(&*STEMMER.stem(lower))
}

/// Stems one lowercase English word.
pub fn stem(lower: &str) -> String {
    WORDS.with(|cache| cache.borrow_mut().get(lower, stem_of).1.into())
}

/// Splits `text` into normalized words, in order, with byte offsets.
pub fn tokenize(text: &str) -> Vec<Word> {
    let mut words = Vec::new();
    tokenize_into(text, &mut words);
    words
}

/// [`tokenize`] into `words` (cleared first), so a caller can reuse its buffer.
pub fn tokenize_into(text: &str, words: &mut Vec<Word>) {
    words.clear();
    WORDS.with(|cache| tokenize_with(text, words, &mut cache.borrow_mut()));
}

/// Word ids of a thread: [`tokenize_with_ids`] gives each distinct word
/// (lowercase form) one small id, so a per-word table can be a `Vec`
/// indexed by id rather than a hash map. Ids are valid for one generation:
/// when the generation changes, a table must start afresh; generation 0
/// means the ids are not to be used.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WordIds {
    /// Generation of the ids (never the same on two threads or after a
    /// reset), or 0.
    pub generation: u64,
    /// Id of each word, in order; below the cache size.
    pub ids: Vec<u32>,
}

/// [`tokenize_into`], with the id of each word in `ids` (cleared first).
pub fn tokenize_with_ids(text: &str, words: &mut Vec<Word>, ids: &mut WordIds) {
    words.clear();
    WORDS.with(|cache| {
        let mut cache = cache.borrow_mut();
        if cache.generation == 0 {
            cache.generation = next_generation();
        }
        let mut buffer = std::mem::take(&mut ids.ids);
        buffer.clear();
        cache.ids = Some(buffer);
        let start = cache.generation;
        tokenize_with(text, words, &mut cache);
        ids.ids = cache.ids.take().unwrap_or_default();
        // Generation 0 when the cache started afresh inside this text: ids
        // given before the reset may be given again after it.
        ids.generation = if cache.generation == start { start } else { 0 };
    });
}

fn tokenize_with(text: &str, words: &mut Vec<Word>, cache: &mut WordCache) {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b.is_ascii() {
            if !b.is_ascii_alphanumeric() {
                i += 1;
                continue;
            }
            let start = i;
            let end = latin_end(text, start);
            push_latin(text, start, end, words, cache);
            i = end;
            continue;
        }
        let Some(c) = text[i..].chars().next() else {
            break;
        };
        if is_han(c) {
            let start = i;
            let mut end = i;
            for (j, c) in text[i..].char_indices() {
                if !is_han(c) {
                    break;
                }
                end = i + j + c.len_utf8();
            }
            push_han_run(text, start, end, words, cache);
            i = end;
        } else if is_word_char(c) {
            let end = latin_end(text, i);
            push_latin(text, i, end, words, cache);
            i = end;
        } else {
            i += c.len_utf8();
        }
    }
}

/// End of the Latin word starting at `start` (a word character).
fn latin_end(text: &str, start: usize) -> usize {
    let bytes = text.as_bytes();
    let mut end = start;
    let mut rest = text[start..].char_indices().peekable();
    while let Some((j, c)) = rest.next() {
        let i = start + j;
        if c.is_ascii() {
            let b = bytes[i];
            if b.is_ascii_alphanumeric() {
                end = i + 1;
                continue;
            }
            if b != b'\'' {
                break;
            }
        } else if is_word_char(c) {
            end = i + c.len_utf8();
            continue;
        } else if !is_apostrophe(c) {
            break;
        }
        // Keep the apostrophe only when a letter follows it.
        if rest.peek().is_some_and(|&(_, d)| is_word_char(d)) {
            end = i + c.len_utf8();
        } else {
            break;
        }
    }
    end
}

fn push_latin(text: &str, start: usize, end: usize, words: &mut Vec<Word>, cache: &mut WordCache) {
    let (lower, term) = cache.latin(&text[start..end]);
    words.push(Word {
        term,
        lower,
        start,
        end,
        script: Script::Latin,
    });
}

fn push_han_run(
    text: &str,
    start: usize,
    end: usize,
    words: &mut Vec<Word>,
    cache: &mut WordCache,
) {
    let run = &text[start..end];
    for token in JIEBA.cut(run, true) {
        let word = token.word;
        if word.trim().is_empty() {
            continue;
        }
        let s = start + token.byte_start;
        let term = cache.han(word);
        words.push(Word {
            term: term.clone(),
            lower: term,
            start: s,
            end: s + word.len(),
            script: Script::Han,
        });
    }
}

/// A sentence (or clause) of a text, as a byte range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

/// The words of one sentence: `words` are a text's words in order and
/// `span` one of its sentences; `cursor` (0 before the first sentence) is
/// moved past earlier words, so walking the sentences in order is linear.
pub fn sentence_words<'a>(words: &'a [Word], span: Span, cursor: &mut usize) -> &'a [Word] {
    while *cursor < words.len() && words[*cursor].end <= span.start {
        *cursor += 1;
    }
    let mut last = *cursor;
    while last < words.len() && words[last].start < span.end {
        last += 1;
    }
    &words[*cursor..last]
}

/// Splits text into sentences at . ! ? ; and their Chinese forms, and at line breaks.
///
/// A period inside a number or word ("5.3.0", "e.g.x") does not end a sentence.
/// Empty sentences are dropped.
pub fn split_sentences(text: &str) -> Vec<Span> {
    let mut spans = Vec::new();
    let mut start = 0;
    let bytes = text.as_bytes();
    let mut iter = text.char_indices().peekable();
    while let Some((i, c)) = iter.next() {
        let boundary = match c {
            '!' | '?' | ';' | '\n' | '\r' | '。' | '！' | '？' | '；' | '…' => true,
            '.' => {
                let next = bytes.get(i + 1).copied();
                next.is_none() || next.is_some_and(|b| b.is_ascii_whitespace() || b == b'.')
            }
            _ => false,
        };
        if boundary {
            // Swallow runs of terminators ("!!!", "?!", "...").
            let mut end = i + c.len_utf8();
            while let Some(&(j, d)) = iter.peek() {
                if matches!(d, '!' | '?' | '.' | '。' | '！' | '？' | '…') {
                    end = j + d.len_utf8();
                    iter.next();
                } else {
                    break;
                }
            }
            push_span(text, start, end, &mut spans);
            start = end;
        }
    }
    push_span(text, start, text.len(), &mut spans);
    spans
}

fn push_span(text: &str, start: usize, end: usize, spans: &mut Vec<Span>) {
    let piece = &text[start..end];
    let trimmed_start = start + (piece.len() - piece.trim_start().len());
    let trimmed_end = start + piece.trim_end().len();
    if trimmed_end > trimmed_start {
        spans.push(Span {
            start: trimmed_start,
            end: trimmed_end,
        });
    }
}

/// Cases per property test: `PROPTEST_CASES` when set (for a long fuzzing
/// session), else `default`.
#[cfg(test)]
pub(crate) fn test_cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(text: &str) -> Vec<String> {
        tokenize(text).into_iter().map(|w| w.term.into()).collect()
    }

    #[test]
    fn english_words_are_lowercased_and_stemmed() {
        assert_eq!(
            terms("Refunds DELAYED, refunding"),
            ["refund", "delay", "refund"]
        );
    }

    #[test]
    fn apostrophes_stay_inside_words() {
        let words = tokenize("I don’t know 'quoted'");
        let lower: Vec<_> = words.iter().map(|w| w.lower.as_str()).collect();
        assert_eq!(lower, ["i", "don't", "know", "quoted"]);
    }

    #[test]
    fn chinese_is_segmented_into_words_with_offsets() {
        let text = "我要退款，快递太慢了";
        let words = tokenize(text);
        assert!(words.iter().any(|w| w.term == "退款"));
        for w in &words {
            assert_eq!(w.term, &text[w.start..w.end]);
            assert_eq!(w.script, Script::Han);
        }
    }

    #[test]
    fn mixed_text_keeps_both_scripts() {
        let t = terms("iPhone壳破了");
        assert_eq!(t[0], "iphon");
        assert!(t.len() >= 2);
    }

    #[test]
    fn sentences_split_on_terminators_not_versions() {
        let text = "Version 5.3.0 crashes. Fix it!!! 快递慢。谢谢";
        let s: Vec<_> = split_sentences(text)
            .into_iter()
            .map(|s| &text[s.start..s.end])
            .collect();
        assert_eq!(
            s,
            ["Version 5.3.0 crashes.", "Fix it!!!", "快递慢。", "谢谢"]
        );
    }

    #[test]
    fn odd_unicode_never_panics() {
        let text = "\u{202E}abc\u{0000}😀 ٱلعربية 🇨🇳 e\u{301} ’ '";
        let _ = tokenize(text);
        let _ = split_sentences(text);
    }
}
