//! Learned sentiment: a logistic regression over bag-of-words features,
//! combined with the lexicon score.
//!
//! One model per language, trained by `src/bin/train_sentiment.rs` on the
//! labelled texts that `scripts/prepare_training.py` draws (held-out eval
//! texts and their near-copies excluded; see data/SOURCES.md). Features of a
//! sentence, each counted once per occurrence:
//!
//! - `u:TERM`: a word (English: its stem; Chinese: the jieba word),
//! - `b:TERM TERM`: two adjacent words of the same sentence,
//! - `n:TERM`: a word within three words after a negator (for a Chinese
//!   word: in the same clause, so 没有色差，很喜欢 does not negate 喜欢),
//! - `a:TERM`: a Chinese word after a contrast word of its sentence (但是,
//!   不过, 就是, ...), where reviews usually say what they mean,
//! - `c:XY`: two adjacent Chinese characters.
//!
//! The logit of a text is `bias + Σ weight(feature) + lexicon × normalize(rule
//! sum)`; the score is `tanh(logit / 2)` (that is `2p − 1`), with a dead zone
//! around 0 for texts that hold no lexicon entry, so they stay neutral unless
//! the model is confident. Features are looked up by a hash of their parts
//! ([`feature_key`]); the analyzer resolves a word's own features once per
//! distinct word (see `record.rs`), so scoring a sentence allocates nothing
//! and looks up only its word and character pairs.

use std::hash::Hasher;
use std::io::Read;
use std::sync::LazyLock;

use rustc_hash::{FxHashMap, FxHashSet, FxHasher};

use super::sentiment::SentenceParts;
use crate::text::{Script, Word};

/// Logit per unit of support-domain valence (see [`LinearModel::score`]),
/// for a model file without a `domain` line.
pub const DOMAIN_WEIGHT: f64 = 1.0;

/// A feature's parts: kind (`u`, `b`, `n`, `c`), then one or two strings.
/// Its name is `kind:first` or `kind:first second`.
pub type FeatureSink<'a> = dyn FnMut(u8, &str, &str) + 'a;

/// Why a model file cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{file}: line {line}: {message}")]
pub struct ModelError {
    /// File name.
    pub file: String,
    /// 1-based line (0 when the file as a whole is unreadable).
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// A linear sentiment model for one language.
#[derive(Debug, Clone)]
pub struct LinearModel {
    /// Weights by [`feature_key`].
    weights: FxHashMap<u64, f32>,
    bias: f64,
    lexicon: f64,
    domain: f64,
    dead_zone: f64,
    min_score: f64,
    fingerprint: u64,
}

/// FNV-1a state over more bytes.
fn fnv_extend(mut hash: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// Hash of the feature named `kind:first` or `kind:first second`.
pub fn feature_hash(kind: u8, first: &str, second: &str) -> u64 {
    let mut h = fnv_extend(0xcbf2_9ce4_8422_2325, &[kind, b':']);
    h = fnv_extend(h, first.as_bytes());
    if !second.is_empty() {
        h = fnv_extend(h, b" ");
        h = fnv_extend(h, second.as_bytes());
    }
    h
}

/// Key of a feature in a model's weight table. Not [`feature_hash`]: FNV-1a
/// goes byte by byte, and scoring hashes every feature of every sentence.
/// The key combines the kind with a hash of each part ([`term_hash`]), so a
/// word's part is hashed once and a pair of words ("b:not good") is keyed
/// from the two words' hashes alone. The table is built from the names in
/// the model file with the same function, so the file format is unchanged.
fn feature_key(kind: u8, first: &str, second: &str) -> u64 {
    part_key(kind, term_hash(first), term_hash(second))
}

/// Hash of one part of a feature name (a word, two characters, or "").
pub(crate) fn term_hash(part: &str) -> u64 {
    let mut h = FxHasher::default();
    h.write(part.as_bytes());
    h.finish()
}

/// [`feature_key`] from the kind and the [`term_hash`] of each part.
fn part_key(kind: u8, first: u64, second: u64) -> u64 {
    let mut h = FxHasher::default();
    h.write_u8(kind);
    h.write_u64(first);
    h.write_u64(second);
    h.finish()
}

/// The name of a feature, as written in model files.
pub fn feature_name(kind: u8, first: &str, second: &str) -> String {
    let mut name = String::with_capacity(2 + first.len() + 1 + second.len());
    name.push(char::from(kind));
    name.push(':');
    name.push_str(first);
    if !second.is_empty() {
        name.push(' ');
        name.push_str(second);
    }
    name
}

const EN_NEGATORS: &[&str] = &[
    "not",
    "no",
    "never",
    "nothing",
    "nobody",
    "none",
    "neither",
    "nor",
    "without",
    "cannot",
    "can't",
    "don't",
    "doesn't",
    "didn't",
    "isn't",
    "wasn't",
    "aren't",
    "weren't",
    "won't",
    "wouldn't",
    "shouldn't",
    "couldn't",
    "haven't",
    "hasn't",
    "hadn't",
    "ain't",
    "dont",
    "doesnt",
    "didnt",
    "isnt",
    "wasnt",
    "cant",
    "wont",
];
const ZH_NEGATORS: &[&str] = &[
    "不", "没", "没有", "别", "未", "无", "不是", "并不", "从不", "毫无",
];

/// Chinese words after which a sentence turns ("质量不错，就是有点贵").
const ZH_CONTRAST: &[&str] = &[
    "但是",
    "可是",
    "不过",
    "然而",
    "但",
    "却",
    "就是",
    "只是",
    "可惜",
    "只可惜",
];

/// Whether the text between two Chinese words ends a clause (a comma or
/// semicolon, either width): negation does not reach across it.
pub(crate) fn zh_clause_break(gap: &str) -> bool {
    gap.contains(['，', ',', '、', '；', ';', '：', ':'])
}

/// The negators of both languages, for a hash lookup per word rather than
/// a scan of the lists. One set serves both: an English word holds no
/// Chinese character and a Chinese word nothing else.
static NEGATORS: LazyLock<FxHashSet<&'static str>> =
    LazyLock::new(|| EN_NEGATORS.iter().chain(ZH_NEGATORS).copied().collect());

fn negator(word: &Word) -> bool {
    NEGATORS.contains(word.lower.as_str())
}

/// One feature of a sentence, as [`walk_features`] finds it.
enum Feature<'s> {
    /// `kind:TERM` (`u`, `n` or `a`) of the word at this index.
    Word(u8, usize),
    /// `b:TERM TERM` of the word at this index and the one before.
    Pair(usize),
    /// `c:XY`: two adjacent Chinese characters.
    Chars(&'s str),
}

/// Calls `sink` with every feature of one sentence: `sentence` is its text,
/// starting at byte `base` of the text that `words` (its words) point into.
/// Words and characters inside a `silenced` range (bytes of `sentence`: the
/// lexicon's phrases of valence 0, "thanks in advance") give no feature.
pub fn sentence_features(
    sentence: &str,
    base: usize,
    words: &[Word],
    silenced: &[(usize, usize)],
    sink: &mut FeatureSink,
) {
    walk_features(
        sentence,
        base,
        words,
        silenced,
        |k| negator(&words[k]),
        |k| ZH_CONTRAST.contains(&words[k].term.as_str()),
        |feature| match feature {
            Feature::Word(kind, k) => sink(kind, &words[k].term, ""),
            Feature::Pair(k) => sink(b'b', &words[k - 1].term, &words[k].term),
            Feature::Chars(chars) => sink(b'c', chars, ""),
        },
    );
}

/// The features of one sentence, in the order [`sentence_features`] gives
/// them (a model's sum depends on it): `negates(k)` and `turns(k)` say
/// whether word `k` is a negator or a Chinese contrast word.
fn walk_features<'s>(
    sentence: &'s str,
    base: usize,
    words: &[Word],
    silenced: &[(usize, usize)],
    negates: impl Fn(usize) -> bool,
    turns: impl Fn(usize) -> bool,
    mut sink: impl FnMut(Feature<'s>),
) {
    let quiet = |start: usize, end: usize| silenced.iter().any(|&(s, e)| start >= s && end <= e);
    let mut negated_until = 0usize;
    let mut after_contrast = false;
    for (k, word) in words.iter().enumerate() {
        if !silenced.is_empty() && quiet(word.start - base, word.end - base) {
            continue;
        }
        if k > 0
            && word.script == Script::Han
            && zh_clause_break(&sentence[words[k - 1].end - base..word.start - base])
        {
            negated_until = 0;
        }
        sink(Feature::Word(b'u', k));
        if k > 0 && (silenced.is_empty() || !quiet(words[k - 1].start - base, word.end - base)) {
            sink(Feature::Pair(k));
        }
        if k < negated_until {
            sink(Feature::Word(b'n', k));
        }
        if negates(k) {
            negated_until = k + 4;
        }
        if word.script == Script::Han {
            if after_contrast {
                sink(Feature::Word(b'a', k));
            }
            after_contrast |= turns(k);
        }
    }
    let mut prev: Option<(usize, char)> = None;
    for (i, c) in sentence.char_indices() {
        if crate::text::is_han(c) {
            if let Some((p, _)) = prev {
                sink(Feature::Chars(&sentence[p..i + c.len_utf8()]));
            }
            prev = Some((i, c));
        } else {
            prev = None;
        }
    }
}

/// What a model knows of one word alone: the weights of its `u:`, `n:` and
/// `a:` features, looked up once per distinct word rather than once per
/// occurrence.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TermWeights {
    /// Weight of `u:TERM`.
    pub u: Option<f32>,
    /// Weight of `n:TERM`.
    pub n: Option<f32>,
    /// Weight of `a:TERM`.
    pub a: Option<f32>,
}

/// The model-side facts of one word that do not depend on a model.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TermFacts {
    /// [`term_hash`] of the term.
    pub hash: u64,
    /// Whether the word opens a negation scope for `n:` features.
    pub negator: bool,
    /// Whether the word is a Chinese contrast word (for `a:` features).
    pub contrast: bool,
}

/// [`TermFacts`] of a word.
pub(crate) fn term_facts(word: &Word) -> TermFacts {
    TermFacts {
        hash: term_hash(&word.term),
        negator: negator(word),
        contrast: ZH_CONTRAST.contains(&word.term.as_str()),
    }
}

impl LinearModel {
    /// Parses a model file: `#` comment lines, then `name<TAB>weight` lines;
    /// the names `bias`, `lexicon`, `domain` (default [`DOMAIN_WEIGHT`]),
    /// `dead_zone` and `min_score` (default 0) are the parameters, any other
    /// is a feature.
    pub fn parse(text: &str, file: &str) -> Result<LinearModel, ModelError> {
        let mut model = LinearModel {
            // One line per feature: sized once, never rehashed.
            weights: FxHashMap::with_capacity_and_hasher(
                text.bytes().filter(|&b| b == b'\n').count(),
                Default::default(),
            ),
            bias: 0.0,
            lexicon: 0.0,
            domain: DOMAIN_WEIGHT,
            dead_zone: 0.0,
            min_score: 0.0,
            fingerprint: crate::record::fnv1a(text.as_bytes()),
        };
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let err = |message: String| ModelError {
                file: file.to_string(),
                line: i + 1,
                message,
            };
            let (name, value) = line
                .rsplit_once('\t')
                .ok_or_else(|| err("expected `feature<TAB>weight`".into()))?;
            let w: f64 = value
                .trim()
                .parse()
                .ok()
                .filter(|w: &f64| w.is_finite())
                .ok_or_else(|| err(format!("weight `{value}` is not a finite number")))?;
            match name {
                "bias" => model.bias = w,
                "lexicon" => model.lexicon = w,
                "domain" => model.domain = w,
                "dead_zone" => model.dead_zone = w.clamp(0.0, 0.9),
                "min_score" => model.min_score = w.clamp(0.0, 0.5),
                _ => {
                    let (kind, rest) = name
                        .split_once(':')
                        .filter(|(k, _)| k.len() == 1)
                        .ok_or_else(|| err(format!("`{name}` is not a feature name")))?;
                    let (first, second) = rest.split_once(' ').unwrap_or((rest, ""));
                    model
                        .weights
                        .insert(feature_key(kind.as_bytes()[0], first, second), w as f32);
                }
            }
        }
        Ok(model)
    }

    /// Parses a gzip-compressed model file.
    pub fn parse_gz(bytes: &[u8], file: &str) -> Result<LinearModel, ModelError> {
        let mut text = String::new();
        flate2::read::GzDecoder::new(bytes)
            .read_to_string(&mut text)
            .map_err(|e| ModelError {
                file: file.to_string(),
                line: 0,
                message: format!("cannot decompress: {e}"),
            })?;
        LinearModel::parse(&text, file)
    }

    /// Hash of the model file.
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    /// Number of features with a weight.
    pub fn len(&self) -> usize {
        self.weights.len()
    }

    /// Whether the model has no features.
    pub fn is_empty(&self) -> bool {
        self.weights.is_empty()
    }

    /// Sum of the feature weights of one sentence, and how many of its
    /// features the model knows.
    /// Arguments as [`sentence_features`].
    pub fn sentence_logit(
        &self,
        sentence: &str,
        base: usize,
        words: &[Word],
        silenced: &[(usize, usize)],
    ) -> (f64, usize) {
        let facts: Vec<TermFacts> = words.iter().map(term_facts).collect();
        let weights: Vec<TermWeights> = words.iter().map(|w| self.term_weights(&w.term)).collect();
        self.logit_with(sentence, base, words, silenced, |k| {
            (&facts[k], &weights[k])
        })
    }

    /// The weights of the features of one word alone.
    pub(crate) fn term_weights(&self, term: &str) -> TermWeights {
        let get = |kind| self.weights.get(&feature_key(kind, term, "")).copied();
        TermWeights {
            u: get(b'u'),
            n: get(b'n'),
            a: get(b'a'),
        }
    }

    /// [`LinearModel::sentence_logit`] with each word's facts and weights
    /// known (`known(k)` of `words[k]`): only pairs of words and of
    /// characters are looked up. The weights are summed in the order of
    /// [`sentence_features`], so the sum is the same to the last bit.
    pub(crate) fn logit_with<'w>(
        &self,
        sentence: &str,
        base: usize,
        words: &[Word],
        silenced: &[(usize, usize)],
        known: impl Fn(usize) -> (&'w TermFacts, &'w TermWeights),
    ) -> (f64, usize) {
        let facts = |k| known(k).0;
        let weights = |k| known(k).1;
        let mut sum = 0.0f64;
        let mut found = 0usize;
        let mut add = |w: Option<f32>| {
            if let Some(w) = w {
                sum += f64::from(w);
                found += 1;
            }
        };
        walk_features(
            sentence,
            base,
            words,
            silenced,
            |k| facts(k).negator,
            |k| facts(k).contrast,
            |feature| match feature {
                Feature::Word(b'u', k) => add(weights(k).u),
                Feature::Word(b'n', k) => add(weights(k).n),
                Feature::Word(_, k) => add(weights(k).a),
                Feature::Pair(k) => {
                    let key = part_key(b'b', facts(k - 1).hash, facts(k).hash);
                    add(self.weights.get(&key).copied());
                }
                Feature::Chars(chars) => {
                    add(self.weights.get(&feature_key(b'c', chars, "")).copied());
                }
            },
        );
        (sum, found)
    }

    /// Score in [-1, 1] of a text (or sentence) from its summed parts and
    /// its normalized general-lexicon score. The support-domain valence
    /// (phrases such as "charged twice", emoji) is added to the logit at the
    /// model's `domain` weight per valence unit: learned where the training
    /// texts hold enough such phrases (Chinese reviews), else
    /// [`DOMAIN_WEIGHT`] (the English tweets and snippets hold few, so the
    /// model cannot weigh them itself). Without any evidence the score is 0;
    /// without a lexicon or domain entry it is 0 inside the dead zone, so
    /// "It arrived." stays neutral. A score outside the dead zone has at
    /// least the model's `min_score` magnitude: at the neutral band (the
    /// Chinese model) every text with evidence is called positive or negative,
    /// a balanced one weakly.
    pub fn score(&self, parts: &SentenceParts, lexicon: f64, with_bias: bool) -> f64 {
        if !parts.evidence {
            return 0.0;
        }
        let bias = if with_bias { self.bias } else { 0.0 };
        let z = bias + parts.logit + self.lexicon * lexicon + self.domain * parts.domain;
        let p = (z / 2.0).tanh();
        if lexicon == 0.0 && parts.domain == 0.0 && p.abs() <= self.dead_zone {
            0.0
        } else if p != 0.0 && p.abs() < self.min_score {
            self.min_score.copysign(p)
        } else {
            p
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::tokenize;

    fn names(text: &str) -> Vec<String> {
        let words = tokenize(text);
        let mut out = Vec::new();
        sentence_features(text, 0, &words, &[], &mut |k, a, b| {
            out.push(feature_name(k, a, b))
        });
        out
    }

    #[test]
    fn features_cover_words_pairs_negation_and_characters() {
        let f = names("not good at all");
        assert!(f.contains(&"u:good".to_string()), "{f:?}");
        assert!(f.contains(&"b:not good".to_string()), "{f:?}");
        assert!(f.contains(&"n:good".to_string()), "{f:?}");
        let f = names("服务很好");
        assert!(f.contains(&"c:很好".to_string()), "{f:?}");
        assert!(f.contains(&"c:服务".to_string()), "{f:?}");
        let f = names("质量不错，就是有点贵");
        assert!(f.contains(&"a:贵".to_string()), "{f:?}");
        assert!(!f.contains(&"a:不错".to_string()), "{f:?}");
        let f = names("没有色差，很喜欢");
        assert!(f.contains(&"n:色差".to_string()), "{f:?}");
        assert!(!f.contains(&"n:喜欢".to_string()), "{f:?}");
    }

    #[test]
    fn silenced_ranges_give_no_features() {
        let text = "thanks in advance";
        let words = tokenize(text);
        let mut out = Vec::new();
        sentence_features(text, 0, &words, &[(0, text.len())], &mut |k, a, b| {
            out.push(feature_name(k, a, b))
        });
        assert!(out.is_empty(), "{out:?}");
    }

    #[test]
    fn hash_of_parts_is_hash_of_name() {
        assert_eq!(
            feature_hash(b'b', "not", "good"),
            crate::record::fnv1a(feature_name(b'b', "not", "good").as_bytes())
        );
    }

    #[test]
    fn parse_and_score() {
        let m = LinearModel::parse(
            "# test\nbias\t0.1\nlexicon\t2\ndead_zone\t0.1\nu:good\t1.5\nb:not good\t-3\n",
            "t",
        )
        .unwrap();
        assert_eq!(m.len(), 2);
        let parts = |logit: f64, domain: f64, evidence: bool| SentenceParts {
            valence: 0.0,
            domain,
            logit,
            evidence,
        };
        let words = tokenize("good");
        let (z, n) = m.sentence_logit("good", 0, &words, &[]);
        assert_eq!((z, n), (1.5, 1));
        assert!(m.score(&parts(z, 0.0, true), 0.0, true) > 0.3);
        let words = tokenize("not good");
        let (z, _) = m.sentence_logit("not good", 0, &words, &[]);
        assert!(m.score(&parts(z, 0.0, true), 0.0, true) < -0.3);
        assert_eq!(m.score(&parts(0.0, 0.0, false), 0.0, true), 0.0);
        let quiet = m.score(&parts(0.05, 0.0, true), 0.0, false);
        assert_eq!(quiet, 0.0, "inside the dead zone");
        let lexical = m.score(&parts(0.0, 0.0, true), 0.1, false);
        assert!(lexical > 0.0, "a lexicon entry decides");
        let domain = m.score(&parts(0.5, -2.0, true), 0.0, false);
        assert!(domain < -0.5, "domain phrases weigh in");
        let learned = LinearModel::parse("domain\t0.25\nu:good\t1\n", "t").unwrap();
        let light = learned.score(&parts(0.5, -4.0, true), 0.0, false);
        assert!(light < 0.0 && light > domain, "a learned domain weight");
        let decisive = LinearModel::parse("min_score\t0.05\nu:good\t1\n", "t").unwrap();
        assert_eq!(decisive.score(&parts(-0.01, 0.0, true), 0.1, false), -0.05);
        assert_eq!(decisive.score(&parts(0.0, 0.0, false), 0.0, false), 0.0);
        assert!(decisive.score(&parts(2.0, 0.0, true), 0.0, false) > 0.7);
    }

    #[test]
    fn embedded_models_have_one_key_per_feature() {
        for (bytes, file) in [
            (super::super::sentiment::EN_MODEL, "en"),
            (super::super::sentiment::ZH_MODEL, "zh"),
        ] {
            let mut text = String::new();
            flate2::read::GzDecoder::new(bytes)
                .read_to_string(&mut text)
                .unwrap();
            let names: std::collections::HashSet<&str> = text
                .lines()
                .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
                .filter_map(|l| l.rsplit_once('\t').map(|(n, _)| n))
                .filter(|n| n.contains(':'))
                .collect();
            let model = LinearModel::parse(&text, file).unwrap();
            assert_eq!(model.len(), names.len(), "{file}: two features share a key");
        }
    }

    #[test]
    fn bad_lines_are_errors_naming_file_and_line() {
        let e = LinearModel::parse("u:x\tabc\n", "m.tsv").unwrap_err();
        assert_eq!((e.file.as_str(), e.line), ("m.tsv", 1));
        assert!(LinearModel::parse("nocolon\t1\n", "m.tsv").is_err());
        assert!(LinearModel::parse("u:x\tNaN\n", "m.tsv").is_err());
    }
}
