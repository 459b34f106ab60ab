//! Analyze: sentiment, themes and signals of one record.
//!
//! The text is split into sentences once; each sentence gets a sentiment
//! score and its theme and signal cues. A theme's sentiment is the mean score
//! of the sentences that mentioned it (aspect level: "delivery was fast but
//! the item arrived broken" is positive for delivery, negative for damage).
//! [`Analyzer`] is immutable and `Sync`, so records are analysed in parallel
//! with rayon by the caller.

mod cues;
mod model;
mod record;
mod sentiment;
mod taxonomy;

pub use cues::{CueHit, CueSet, MAX_GAP};
pub use model::{feature_hash, feature_name, sentence_features, LinearModel, ModelError};
use sentiment::CONTRAST;
pub use sentiment::{
    normalize, parse_tsv, Label, Lexicon, LexiconError, SentenceParts, Sentiment, NEUTRAL_BAND,
};
pub use taxonomy::{SignalDef, Taxonomy, TaxonomyError, ThemeDef, DEFAULT_TAXONOMY};

use std::cell::RefCell;

use serde::{Deserialize, Serialize};

use crate::text::{
    detect_language, sentence_words, split_sentences, tokenize_with_ids, Lang, Span, Word, WordIds,
};
use record::WordRecord;

/// Per theme while a record is read: score sum, sentences, cues, sentence spans.
type ThemeAcc = (f64, usize, Vec<usize>, Vec<(u32, u32)>);

/// Version of the analysis rules; bump when a code change alters results.
pub const ANALYSIS_VERSION: u32 = 4;

/// Weight of the rating in the combined score when a record has one.
pub const RATING_WEIGHT: f64 = 0.5;

/// A theme found in a record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThemeHit {
    /// Theme id.
    pub id: String,
    /// Theme name.
    pub name: String,
    /// Mean sentiment of the sentences that mention the theme, in [-1, 1].
    pub sentiment: f64,
    /// The cues that matched, as written in the taxonomy.
    pub cues: Vec<String>,
    /// Byte ranges of the mentioning sentences in the analysed text.
    pub spans: Vec<(u32, u32)>,
}

/// A signal (churn risk, escalation, ...) found in a record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignalHit {
    /// Signal id.
    pub id: String,
    /// The cue that matched.
    pub cue: String,
}

/// Everything analysis says about one text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    /// Language used for the rules.
    pub lang: Lang,
    /// Sentiment of the words alone.
    pub text_sentiment: Sentiment,
    /// Sentiment of words and rating together (equal to the text sentiment without a rating).
    pub sentiment: Sentiment,
    /// Themes, in taxonomy order.
    pub themes: Vec<ThemeHit>,
    /// Signals, in taxonomy order.
    pub signals: Vec<SignalHit>,
}

/// What analysis needs of a record.
#[derive(Debug, Clone, Copy, Default)]
pub struct AnalysisInput<'a> {
    /// Title and text, as one string.
    pub text: &'a str,
    /// Stars 1..5.
    pub rating: Option<f64>,
    /// NPS 0..10.
    pub nps: Option<u8>,
    /// Language when known.
    pub lang: Option<Lang>,
}

/// The configured analyzer: taxonomy, lexicons and compiled cue sets.
#[derive(Debug, Clone)]
pub struct Analyzer {
    taxonomy: Taxonomy,
    lexicon: Lexicon,
    theme_cues: CueSet,
    theme_excludes: CueSet,
    signal_cues: CueSet,
    /// Identifies these rules in the per-thread word records ([`record`]).
    owner: u64,
}

/// Per-text working memory of [`Analyzer::analyze`], reused on a thread.
#[derive(Default)]
struct Buffers {
    words: Vec<Word>,
    ids: WordIds,
    records: Vec<WordRecord>,
}

thread_local! {
    static BUFFERS: RefCell<Buffers> = RefCell::new(Buffers::default());
}

/// Runs `f` with this thread's buffers (fresh ones when they are in use).
fn with_buffers<T>(f: impl FnOnce(&mut Buffers) -> T) -> T {
    let mut buffers = BUFFERS.with(|b| std::mem::take(&mut *b.borrow_mut()));
    let out = f(&mut buffers);
    buffers.words.clear();
    BUFFERS.with(|b| *b.borrow_mut() = buffers);
    out
}

impl Analyzer {
    /// Builds an analyzer from a taxonomy and lexicons.
    pub fn new(taxonomy: Taxonomy, lexicon: Lexicon) -> Analyzer {
        let theme_cues = CueSet::build(
            taxonomy
                .themes
                .iter()
                .enumerate()
                .map(|(i, t)| (i, &t.en[..], &t.zh[..])),
        );
        let theme_excludes = CueSet::build(
            taxonomy
                .themes
                .iter()
                .enumerate()
                .map(|(i, t)| (i, &t.exclude_en[..], &t.exclude_zh[..])),
        );
        let signal_cues = CueSet::build(
            taxonomy
                .signals
                .iter()
                .enumerate()
                .map(|(i, s)| (i, &s.en[..], &s.zh[..])),
        );
        Analyzer {
            taxonomy,
            lexicon,
            theme_cues,
            theme_excludes,
            signal_cues,
            owner: record::new_owner(),
        }
    }

    /// What the rules need to know of one word.
    fn word_record(&self, word: &Word) -> WordRecord {
        let mut record = self.lexicon.word_record(word);
        record.cues = [
            self.theme_cues.first_of(&word.term),
            self.theme_excludes.first_of(&word.term),
            self.signal_cues.first_of(&word.term),
        ];
        record
    }

    /// The taxonomy in use.
    pub fn taxonomy(&self) -> &Taxonomy {
        &self.taxonomy
    }

    /// Identifies the analysis rules: taxonomy, lexicons and the engine
    /// version. When it changes, indexed records are re-tagged.
    pub fn fingerprint(&self) -> u64 {
        let mut text = format!(
            "{ANALYSIS_VERSION}:{}:{}",
            self.taxonomy.fingerprint,
            self.lexicon.fingerprint()
        );
        // The user dictionary changes the words; none keeps old fingerprints.
        let dictionary = crate::text::user_dictionary_fingerprint();
        if dictionary != 0 {
            text.push_str(&format!(":dict {dictionary}"));
        }
        crate::record::fnv1a(text.as_bytes())
    }

    /// Analyses one text.
    pub fn analyze(&self, input: AnalysisInput) -> Analysis {
        with_buffers(|b| {
            tokenize_with_ids(input.text, &mut b.words, &mut b.ids);
            record::records_by_id(self.owner, &b.words, &b.ids, &mut b.records, |w| {
                self.word_record(w)
            });
            self.analyze_records(input, &b.words, &b.records)
        })
    }

    /// Analyses one text whose words the caller has: `words` must be
    /// [`crate::text::tokenize`] of `input.text` (so the index can take them too).
    pub fn analyze_words(&self, input: AnalysisInput, words: &[Word]) -> Analysis {
        with_buffers(|b| {
            record::records_of(self.owner, words, &mut b.records, |w| self.word_record(w));
            self.analyze_records(input, words, &b.records)
        })
    }

    /// [`Analyzer::analyze_words`] for words tokenized on this thread by
    /// [`tokenize_with_ids`], with their ids (`ids` as it gave them, for
    /// `words`): each word's record is found by its id in a plain table
    /// rather than by a hash lookup of its addresses.
    pub fn analyze_words_with_ids(
        &self,
        input: AnalysisInput,
        words: &[Word],
        ids: &WordIds,
    ) -> Analysis {
        with_buffers(|b| {
            record::records_by_id(self.owner, words, ids, &mut b.records, |w| {
                self.word_record(w)
            });
            self.analyze_records(input, words, &b.records)
        })
    }

    /// [`Analyzer::analyze_words`] with the record of each word (`records[k]` of `words[k]`).
    fn analyze_records(
        &self,
        input: AnalysisInput,
        words: &[Word],
        records: &[WordRecord],
    ) -> Analysis {
        let text = input.text;
        let lang = input.lang.unwrap_or_else(|| detect_language(text));
        let sentences = split_sentences(text);

        let mut total = SentenceParts::default();
        let mut theme_scores: Vec<Option<ThemeAcc>> = vec![None; self.taxonomy.themes.len()];
        let mut signals: Vec<Option<usize>> = vec![None; self.taxonomy.signals.len()];
        let mut hits = Vec::new();
        let mut excluded = Vec::new();
        let mut first_word = 0;
        for span in &sentences {
            let sentence_words = sentence_words(words, *span, &mut first_word);
            let sentence_records = &records[first_word..first_word + sentence_words.len()];
            let parts =
                self.lexicon
                    .parts_with(lang, text, *span, sentence_words, sentence_records);
            let first = |set: usize| {
                move |k: usize| {
                    let record = &sentence_records[k];
                    (record.cues[set], record.facts.hash)
                }
            };
            total.add(parts);
            let sentence_score = self.lexicon.sentence_score(lang, parts);

            let lower = self.lowercase(&text[span.start..span.end]);
            hits.clear();
            excluded.clear();
            self.theme_cues
                .find_with(sentence_words, first(0), &lower, &mut hits);
            if hits.is_empty() {
                self.signal_cues
                    .find_with(sentence_words, first(2), &lower, &mut hits);
                record_signals(&hits, &mut signals);
                continue;
            }
            self.theme_excludes
                .find_with(sentence_words, first(1), &lower, &mut excluded);
            let clauses = self.clause_scores(lang, text, *span, sentence_words, sentence_records);
            for hit in &hits {
                if excluded.iter().any(|e| e.target == hit.target) {
                    continue;
                }
                // Aspect level: a theme named within one clause of a
                // contrast takes that clause's score.
                let sentence_score = clauses
                    .iter()
                    .find(|(_, targets)| targets.contains(&hit.target))
                    .map_or(sentence_score, |(score, _)| *score);
                let entry = theme_scores[hit.target]
                    .get_or_insert_with(|| (0.0, 0, Vec::new(), Vec::new()));
                let span_pair = (span.start as u32, span.end as u32);
                if entry.3.last() != Some(&span_pair) {
                    entry.0 += sentence_score;
                    entry.1 += 1;
                    entry.3.push(span_pair);
                }
                if !entry.2.contains(&hit.cue) {
                    entry.2.push(hit.cue);
                }
            }
            hits.clear();
            self.signal_cues
                .find_with(sentence_words, first(2), &lower, &mut hits);
            record_signals(&hits, &mut signals);
        }

        let text_sentiment = Sentiment::from_score(self.lexicon.text_score(lang, total));
        let sentiment = match rating_score(input.rating, input.nps) {
            Some(r) => Sentiment::from_score(
                RATING_WEIGHT * r + (1.0 - RATING_WEIGHT) * text_sentiment.score,
            ),
            None => text_sentiment,
        };
        let themes = theme_scores
            .into_iter()
            .enumerate()
            .filter_map(|(i, s)| {
                let (total, n, cues, spans) = s?;
                let def = &self.taxonomy.themes[i];
                Some(ThemeHit {
                    id: def.id.clone(),
                    name: def.name.clone(),
                    sentiment: Sentiment::from_score(total / n as f64).score,
                    cues: cues
                        .into_iter()
                        .map(|c| self.theme_cues.cue_text(c).to_string())
                        .collect(),
                    spans,
                })
            })
            .collect();
        let signals = signals
            .into_iter()
            .enumerate()
            .filter_map(|(i, cue)| {
                Some(SignalHit {
                    id: self.taxonomy.signals[i].id.clone(),
                    cue: self.signal_cues.cue_text(cue?).to_string(),
                })
            })
            .collect();
        Analysis {
            lang,
            text_sentiment,
            sentiment,
            themes,
            signals,
        }
    }
}

impl Analyzer {
    /// For a sentence with a contrast word ("delivery was fast but the item
    /// arrived broken"), the score of each clause and the themes named
    /// inside it; empty for a sentence without one.
    fn clause_scores(
        &self,
        lang: Lang,
        text: &str,
        span: Span,
        words: &[Word],
        records: &[WordRecord],
    ) -> Vec<(f64, Vec<usize>)> {
        let mut bounds: Vec<usize> = vec![0];
        bounds.extend((1..words.len()).filter(|&k| records[k].flags & CONTRAST != 0));
        if bounds.len() == 1 {
            return Vec::new();
        }
        bounds.push(words.len());
        let mut out = Vec::new();
        let mut hits = Vec::new();
        for pair in bounds.windows(2) {
            let clause_words = &words[pair[0]..pair[1]];
            let clause_records = &records[pair[0]..pair[1]];
            let start = if pair[0] == 0 {
                span.start
            } else {
                words[pair[0]].start
            };
            let end = if pair[1] == words.len() {
                span.end
            } else {
                words[pair[1]].start
            };
            let clause = Span { start, end };
            let parts = self
                .lexicon
                .parts_with(lang, text, clause, clause_words, clause_records);
            hits.clear();
            self.theme_cues.find_with(
                clause_words,
                |k| (clause_records[k].cues[0], clause_records[k].facts.hash),
                &self.lowercase(&text[start..end]),
                &mut hits,
            );
            out.push((
                self.lexicon.sentence_score(lang, parts),
                hits.iter().map(|h| h.target).collect(),
            ));
        }
        out
    }
}

impl Analyzer {
    /// The lowercase text of a sentence, for the Chinese cues; an ASCII
    /// sentence is passed as it is (see [`CueSet::find`]).
    /// A sentence whose characters all lowercase to themselves (Chinese
    /// text, its punctuation, lowercase letters) is passed as it is too,
    /// without looking each character up in the case tables.
    fn lowercase<'a>(&self, sentence: &'a str) -> std::borrow::Cow<'a, str> {
        if sentence.is_ascii() {
            std::borrow::Cow::Borrowed(sentence)
        } else {
            lowercased(sentence)
        }
    }
}

/// `sentence` lowercased, borrowed as it is when all its characters
/// lowercase to themselves (Chinese text and its punctuation, lowercase
/// letters): the same text as [`str::to_lowercase`], without a copy.
pub(crate) fn lowercased(sentence: &str) -> std::borrow::Cow<'_, str> {
    if sentence.chars().all(lowercases_to_itself) {
        std::borrow::Cow::Borrowed(sentence)
    } else {
        std::borrow::Cow::Owned(sentence.to_lowercase())
    }
}

/// Whether `c` is one of the common characters of customer text that
/// [`str::to_lowercase`] leaves as they are: ASCII other than capitals,
/// Chinese characters, CJK punctuation and the caseless full-width forms.
/// False says nothing (the character may still be caseless).
fn lowercases_to_itself(c: char) -> bool {
    if c.is_ascii() {
        !c.is_ascii_uppercase()
    } else {
        crate::text::is_han(c)
            // CJK symbols and punctuation; full-width punctuation and
            // digits; full-width lowercase letters and the half-width
            // forms after them (full-width capitals, U+FF21 to U+FF3A, are not).
            || matches!(c, '\u{3000}'..='\u{303F}' | '\u{FF01}'..='\u{FF20}' | '\u{FF3B}'..='\u{FF65}')
    }
}

fn record_signals(hits: &[CueHit], signals: &mut [Option<usize>]) {
    for hit in hits {
        signals[hit.target].get_or_insert(hit.cue);
    }
}

/// A rating on [-1, 1]: stars 1..5 map linearly; NPS maps 10 → 1, 7.5 → 0, 5 → -1.
pub fn rating_score(rating: Option<f64>, nps: Option<u8>) -> Option<f64> {
    if let Some(stars) = rating {
        return Some(((stars - 3.0) / 2.0).clamp(-1.0, 1.0));
    }
    nps.map(|n| ((f64::from(n) - 7.5) / 2.5).clamp(-1.0, 1.0))
}

#[cfg(test)]
mod fuzz;

/// F1 of one class from its true positives, false positives and false
/// negatives: the harmonic mean of precision and recall, 0 when both are 0.
/// Shared by the evaluation and training tools.
pub fn f1_score(true_pos: usize, false_pos: usize, false_neg: usize) -> f64 {
    let precision = true_pos as f64 / (true_pos + false_pos).max(1) as f64;
    let recall = true_pos as f64 / (true_pos + false_neg).max(1) as f64;
    if precision + recall == 0.0 {
        0.0
    } else {
        2.0 * precision * recall / (precision + recall)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn analyzer() -> Analyzer {
        Analyzer::new(
            Taxonomy::default_taxonomy().unwrap(),
            Lexicon::default_lexicon().unwrap(),
        )
    }

    #[test]
    fn characters_said_to_lowercase_to_themselves_do() {
        let ranges = [
            0x20..0x80,
            0x3000..0x3040,
            0x4E00..0xA000,
            0x3400..0x4DC0,
            0xFF00..0xFFF0,
            0x20000..0x2A6E0,
            0xC0..0x600,
        ];
        for c in ranges.into_iter().flatten().filter_map(char::from_u32) {
            if lowercases_to_itself(c) {
                assert_eq!(c.to_lowercase().collect::<String>(), c.to_string(), "{c:?}");
            }
        }
        assert!(!lowercases_to_itself('Ａ') && !lowercases_to_itself('É'));
        let a = analyzer();
        for sentence in [
            "快递太慢了，客服也不回复！",
            "ＡＢＣ快递",
            "iPhone壳坏了",
            "ok 好的",
        ] {
            assert_eq!(a.lowercase(sentence), sentence.to_lowercase(), "{sentence}");
        }
    }

    fn analyze(text: &str) -> Analysis {
        analyzer().analyze(AnalysisInput {
            text,
            ..Default::default()
        })
    }

    #[test]
    fn user_lexicon_entries_win_in_both_languages() {
        let user = parse_tsv("laggy\t-3\nsick\t3\n卡成ppt\t-3\n", "user.tsv").unwrap();
        let custom = Analyzer::new(
            Taxonomy::default_taxonomy().unwrap(),
            Lexicon::with_user_entries(user).unwrap(),
        );
        let score = |a: &Analyzer, text: &str| {
            a.analyze(AnalysisInput {
                text,
                ..Default::default()
            })
            .sentiment
            .score
        };
        let default = analyzer();
        for (text, sign) in [
            ("The new checkout is laggy.", -1.0),
            ("These headphones are sick, the bass is unreal.", 1.0),
            ("这个App卡成PPT了", -1.0),
        ] {
            let (before, after) = (score(&default, text), score(&custom, text));
            assert!(after * sign > 0.3, "{text}: {before} -> {after}");
            assert!(
                after * sign > before * sign + 0.3,
                "{text}: {before} -> {after}"
            );
        }
        // Texts without the entries score as before; the fingerprint moves,
        // so an index tagged without them is re-tagged.
        let plain = "I was charged twice and nobody answers";
        assert_eq!(score(&default, plain), score(&custom, plain));
        assert_ne!(default.fingerprint(), custom.fingerprint());
    }

    #[test]
    fn f1_by_hand() {
        // precision 8/10, recall 8/16: F1 = 2 * 0.8 * 0.5 / 1.3.
        assert!((f1_score(8, 2, 8) - 0.8 / 1.3).abs() < 1e-12);
        assert_eq!(f1_score(0, 0, 0), 0.0);
        assert_eq!(f1_score(0, 3, 4), 0.0);
    }

    #[test]
    fn billing_complaint_is_negative_and_tagged() {
        let a = analyze("I was charged twice and nobody answers");
        assert_eq!(a.sentiment.label, Label::Negative);
        assert!(
            a.themes.iter().any(|t| t.id.starts_with("pay_bill")),
            "{:?}",
            a.themes
        );
    }

    #[test]
    fn chinese_complaint_is_negative_and_tagged() {
        let a = analyze("快递等了两个星期还没到，客服一直不回复");
        assert_eq!(a.lang, Lang::Zh);
        assert_eq!(a.sentiment.label, Label::Negative);
        assert!(
            a.themes.iter().any(|t| t.id.starts_with("delivery")),
            "{:?}",
            a.themes
        );
    }

    #[test]
    fn rating_is_combined_with_text() {
        let az = analyzer();
        let a = az.analyze(AnalysisInput {
            text: "It arrived.",
            rating: Some(1.0),
            ..Default::default()
        });
        assert_eq!(a.text_sentiment.label, Label::Neutral);
        assert_eq!(a.sentiment.label, Label::Negative);
    }

    #[test]
    fn huge_and_odd_text_never_panics() {
        let big = "the refund never came 😡 \u{202E}\u{0007} ".repeat(30_000);
        let a = analyze(&big);
        assert!(a.sentiment.score >= -1.0 && a.sentiment.score <= 1.0);
        let _ = analyze("");
        let _ = analyze("！！！。。。");
    }

    #[test]
    fn model_and_rules_agree_on_plain_cases() {
        for (text, label) in [
            ("The support team was amazing, thank you!", Label::Positive),
            (
                "Still waiting for my refund, third time I contact you",
                Label::Negative,
            ),
            ("I was charged twice and nobody answers", Label::Negative),
            ("The app keeps crashing since the update", Label::Negative),
            ("Thanks in advance", Label::Neutral),
            ("快递太慢了，差评", Label::Negative),
            ("质量很好，好评", Label::Positive),
            ("等了半天也没人回复", Label::Negative),
        ] {
            assert_eq!(analyze(text).text_sentiment.label, label, "{text}");
        }
    }

    #[test]
    fn contrast_clauses_get_their_own_sentiment() {
        for text in [
            "The delivery was fast but the item arrived broken",
            "物流很快，但是东西坏了",
        ] {
            let a = analyze(text);
            let pos = a.themes.iter().filter(|t| t.sentiment > 0.0).count();
            let neg = a.themes.iter().filter(|t| t.sentiment < 0.0).count();
            assert!(pos >= 1 && neg >= 1, "{text}: {:?}", a.themes);
        }
    }

    #[test]
    fn theme_sentences_get_their_own_sentiment() {
        let a = analyze("The delivery was fast. The item arrived broken and scratched.");
        let delivery = a.themes.iter().find(|t| t.id.contains("delivery"));
        let damage = a.themes.iter().find(|t| t.id.contains("damage"));
        if let (Some(d), Some(x)) = (delivery, damage) {
            assert!(d.sentiment > 0.0 && x.sentiment < 0.0, "{:?}", a.themes);
        } else {
            panic!("expected a delivery and a damage theme: {:?}", a.themes);
        }
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_unicode_never_panics(
            text in "\\PC*",
            raw in proptest::collection::vec(proptest::prelude::any::<char>(), 0..200),
        ) {
            let az = analyzer();
            for t in [text, raw.into_iter().collect::<String>()] {
                let a = az.analyze(AnalysisInput { text: &t, ..Default::default() });
                proptest::prop_assert!((-1.0..=1.0).contains(&a.sentiment.score));
            }
        }
    }

    #[test]
    fn nps_and_stars_map_to_unit_range() {
        assert_eq!(rating_score(Some(5.0), None), Some(1.0));
        assert_eq!(rating_score(Some(1.0), None), Some(-1.0));
        assert_eq!(rating_score(None, Some(10)), Some(1.0));
        assert_eq!(rating_score(None, None), None);
    }
}
