//! Sentiment: lexicon and rules, per sentence, in English and Chinese.
//!
//! Each sentence sums the valence of its words and phrases (-4..4 scale, as
//! VADER's lexicon), after the rules: negation flips and damps a word,
//! boosters and dampeners scale it, a contrast word ("but", 但是) weights the
//! clause after it over the one before, capitals and exclamation marks add
//! emphasis. Phrases from the domain lexicons ("charged twice", 等了半天) win
//! over the words inside them; a phrase of valence 0 ("thanks in advance")
//! silences its words. The document score normalizes the sum into [-1, 1].

use rustc_hash::FxHashMap as HashMap;
use std::sync::{Arc, LazyLock};

use aho_corasick::{AhoCorasick, MatchKind};
use serde::{Deserialize, Serialize};

use super::model::{term_facts, term_hash, zh_clause_break, LinearModel, ModelError, TermWeights};
use super::record::{WordRecord, NONE};
use crate::text::{tokenize, Lang, Script, Span, Term, Word};

/// Default lexicons, embedded (see data/SOURCES.md).
pub const EN_WORDS: &str = include_str!("../../data/lexicon/en.tsv");
/// Support-domain English phrases, written for vocscope.
pub const EN_PHRASES: &str = include_str!("../../data/lexicon/en_domain.tsv");
/// Chinese words.
pub const ZH_WORDS: &str = include_str!("../../data/lexicon/zh.tsv");
/// Support-domain Chinese phrases.
pub const ZH_PHRASES: &str = include_str!("../../data/lexicon/zh_domain.tsv");
/// Emoji valences, written for vocscope.
pub const EMOJI: &str = include_str!("../../data/lexicon/emoji.tsv");
/// English model (gzip), trained by src/bin/train_sentiment.rs.
pub const EN_MODEL: &[u8] = include_bytes!("../../data/model/en.tsv.gz");
/// Chinese model (gzip), trained by src/bin/train_sentiment.rs.
pub const ZH_MODEL: &[u8] = include_bytes!("../../data/model/zh.tsv.gz");

/// The English and Chinese models.
type ModelPair = (Arc<LinearModel>, Arc<LinearModel>);

/// The embedded models, parsed once per process.
static DEFAULT_MODELS: LazyLock<Result<ModelPair, String>> = LazyLock::new(|| {
    let en = LinearModel::parse_gz(EN_MODEL, "data/model/en.tsv.gz");
    let zh = LinearModel::parse_gz(ZH_MODEL, "data/model/zh.tsv.gz");
    match (en, zh) {
        (Ok(en), Ok(zh)) => Ok((Arc::new(en), Arc::new(zh))),
        (Err(e), _) | (_, Err(e)) => Err(e.to_string()),
    }
});

/// Normalization constant of the compound score (as VADER).
const ALPHA: f64 = 15.0;
/// Scores within ±this are neutral.
pub const NEUTRAL_BAND: f64 = 0.05;
const NEGATION_FACTOR: f64 = -0.74;
const BOOST: f64 = 0.293;
const CAPS_BOOST: f64 = 0.733;
const EXCLAMATION_BOOST: f64 = 0.292;

const EN_NEGATORS: &[&str] = &[
    "not",
    "no",
    "never",
    "none",
    "nobody",
    "nothing",
    "neither",
    "nor",
    "nowhere",
    "without",
    "cannot",
    "can't",
    "cant",
    "don't",
    "dont",
    "doesn't",
    "doesnt",
    "didn't",
    "didnt",
    "isn't",
    "isnt",
    "wasn't",
    "wasnt",
    "aren't",
    "arent",
    "weren't",
    "werent",
    "won't",
    "wont",
    "wouldn't",
    "wouldnt",
    "shouldn't",
    "shouldnt",
    "couldn't",
    "couldnt",
    "haven't",
    "havent",
    "hasn't",
    "hasnt",
    "hadn't",
    "hadnt",
    "ain't",
    "aint",
    "nope",
    "hardly",
    "barely",
];
const EN_BOOSTERS: &[&str] = &[
    "very",
    "really",
    "extremely",
    "so",
    "too",
    "totally",
    "absolutely",
    "completely",
    "incredibly",
    "super",
    "highly",
    "most",
    "such",
    "utterly",
    "truly",
    "especially",
    "exceptionally",
    "seriously",
    "insanely",
    "ridiculously",
    "terribly",
    "awfully",
    "hugely",
];
const EN_DAMPENERS: &[&str] = &[
    "slightly",
    "somewhat",
    "bit",
    "little",
    "marginally",
    "mildly",
    "fairly",
    "kinda",
    "sorta",
    "partly",
    "rather",
    "quite",
];
const EN_CONTRAST: &[&str] = &["but", "however", "although", "though", "yet", "except"];

const ZH_NEGATORS: &[&str] = &[
    "不",
    "没",
    "没有",
    "别",
    "未",
    "无",
    "非",
    "不是",
    "并不",
    "从不",
    "从没",
    "毫无",
    "不太",
    "不怎么",
    "不会",
    "不能",
    "没能",
    "未能",
    "绝不",
];
const ZH_BOOSTERS: &[&str] = &[
    "很", "非常", "太", "特别", "超", "超级", "十分", "极", "极其", "真", "真的", "挺", "相当",
    "太过", "巨", "最", "格外", "尤其", "实在",
];
const ZH_DAMPENERS: &[&str] = &["有点", "有些", "稍微", "略", "稍", "一点", "比较", "还算"];
const ZH_CONTRAST: &[&str] = &["但是", "可是", "不过", "然而", "但", "却"];
/// Words that make a Chinese question an inquiry ("请问怎么改地址？"); a
/// question without one is often rhetorical ("排名第一是怎么排的？"), and the
/// model is asked about it.
const ZH_INQUIRY: &[&str] = &[
    "请问",
    "想问",
    "问一下",
    "问下",
    "咨询",
    "请教",
    "如何",
    "能否",
    "可否",
    "是否",
    "能不能",
    "可不可以",
    "怎么办",
    "有没有",
];

/// Sentiment label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Label {
    /// Score below the neutral band.
    Negative,
    /// Score within the neutral band.
    Neutral,
    /// Score above the neutral band.
    Positive,
}

impl Label {
    /// Label of a score in [-1, 1].
    pub fn of(score: f64) -> Label {
        if score <= -NEUTRAL_BAND {
            Label::Negative
        } else if score >= NEUTRAL_BAND {
            Label::Positive
        } else {
            Label::Neutral
        }
    }

    /// Name used in outputs and filters.
    pub fn as_str(self) -> &'static str {
        match self {
            Label::Negative => "negative",
            Label::Neutral => "neutral",
            Label::Positive => "positive",
        }
    }

    /// Parses a label name.
    pub fn parse(s: &str) -> Option<Label> {
        match s.trim().to_ascii_lowercase().as_str() {
            "negative" | "neg" => Some(Label::Negative),
            "neutral" | "neu" => Some(Label::Neutral),
            "positive" | "pos" => Some(Label::Positive),
            _ => None,
        }
    }
}

/// A sentiment score and its label.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Sentiment {
    /// Score in [-1, 1].
    pub score: f64,
    /// Label of the score.
    pub label: Label,
}

impl Sentiment {
    /// A sentiment from a score (clamped to [-1, 1], rounded to 4 places).
    pub fn from_score(score: f64) -> Sentiment {
        let score = (score.clamp(-1.0, 1.0) * 10_000.0).round() / 10_000.0;
        Sentiment {
            score,
            label: Label::of(score),
        }
    }
}

/// Maps a raw valence sum to [-1, 1].
pub fn normalize(sum: f64) -> f64 {
    if sum == 0.0 {
        0.0
    } else {
        sum / (sum * sum + ALPHA).sqrt()
    }
}

/// Per-sentence working memory of the rules, kept per thread so that
/// scoring a sentence allocates nothing.
#[derive(Default)]
struct Scratch {
    /// Modifier flags of each word.
    flags: Vec<u8>,
    /// Words taken by a phrase.
    claimed: Vec<bool>,
    /// (word index, valence, from the domain lists) of each scored entry.
    items: Vec<(usize, f64, bool)>,
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::new(Scratch::default());
}

#[derive(Debug, Clone)]
struct Phrase {
    terms: Vec<Term>,
    /// [`term_hash`] of each term.
    hashes: Vec<u64>,
    valence: f64,
    /// From the support-domain list (not from the general word list).
    domain: bool,
}

/// Why a lexicon file cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{file}: line {line}: {message}")]
pub struct LexiconError {
    /// File name.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// Sentiment lexicons: words and phrases for both languages.
#[derive(Debug, Clone)]
pub struct Lexicon {
    fingerprint: u64,
    en_words: HashMap<String, f64>,
    /// Index in `en_phrase_lists` of the phrases starting with a term.
    en_phrases: HashMap<Term, u32>,
    /// English phrases by first term, longest first.
    en_phrase_lists: Vec<Vec<Phrase>>,
    zh_words: HashMap<String, f64>,
    zh_phrases: Option<AhoCorasick>,
    zh_phrase_valence: Vec<f64>,
    emoticons: HashMap<String, f64>,
    emoji: HashMap<char, f64>,
    en_model: Option<Arc<LinearModel>>,
    zh_model: Option<Arc<LinearModel>>,
}

/// What one sentence contributes to a text's score.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SentenceParts {
    /// Raw valence sum of the general word lists, after the rules.
    pub valence: f64,
    /// Raw valence sum of the support-domain phrases, emoji and emoticons.
    pub domain: f64,
    /// Sum of the model's feature weights.
    pub logit: f64,
    /// Whether a lexicon entry or model feature was found.
    pub evidence: bool,
}

impl SentenceParts {
    /// Adds another sentence's parts.
    pub fn add(&mut self, other: SentenceParts) {
        self.valence += other.valence;
        self.domain += other.domain;
        self.logit += other.logit;
        self.evidence |= other.evidence;
    }
}

/// Parses `entry<TAB>valence` lines; `#` starts a comment line.
pub fn parse_tsv(text: &str, file: &str) -> Result<Vec<(String, f64)>, LexiconError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let err = |message: String| LexiconError {
            file: file.to_string(),
            line: i + 1,
            message,
        };
        let (entry, value) = line
            .rsplit_once('\t')
            .ok_or_else(|| err("expected `entry<TAB>valence`".into()))?;
        let valence: f64 = value
            .trim()
            .parse()
            .map_err(|_| err(format!("valence `{value}` is not a number")))?;
        if !(-4.0..=4.0).contains(&valence) {
            return Err(err(format!("valence {valence} is outside -4..4")));
        }
        out.push((entry.trim().to_string(), valence));
    }
    Ok(out)
}

impl From<ModelError> for LexiconError {
    fn from(e: ModelError) -> LexiconError {
        LexiconError {
            file: e.file,
            line: e.line,
            message: e.message,
        }
    }
}

impl Lexicon {
    /// The embedded default lexicons and models.
    pub fn default_lexicon() -> Result<Lexicon, LexiconError> {
        let mut lexicon = Lexicon::rules_only()?;
        lexicon.set_default_models()?;
        Ok(lexicon)
    }

    fn set_default_models(&mut self) -> Result<(), LexiconError> {
        let (en, zh) = DEFAULT_MODELS.as_ref().map_err(|message| LexiconError {
            file: "data/model".into(),
            line: 0,
            message: message.clone(),
        })?;
        self.set_models(Some(en.clone()), Some(zh.clone()));
        Ok(())
    }

    /// The embedded default lexicons with their rules alone, no model.
    pub fn rules_only() -> Result<Lexicon, LexiconError> {
        Lexicon::from_tables(
            parse_tsv(EN_WORDS, "data/lexicon/en.tsv")?,
            parse_tsv(EN_PHRASES, "data/lexicon/en_domain.tsv")?,
            parse_tsv(ZH_WORDS, "data/lexicon/zh.tsv")?,
            parse_tsv(ZH_PHRASES, "data/lexicon/zh_domain.tsv")?,
        )
    }

    /// The default lexicons and models with a user's own entries on top
    /// (`vocscope run --lexicon FILE`, parsed with [`parse_tsv`]): an entry
    /// holding a Chinese character joins the Chinese domain phrases (matched
    /// as text from a word start), any other the English ones (matched on
    /// stems, a single word too). A user entry wins over a built-in word or
    /// phrase it covers; valence 0 makes its words carry no sentiment (a
    /// product name such as "Lumio Care"), as the politeness formulas do.
    pub fn with_user_entries(user: Vec<(String, f64)>) -> Result<Lexicon, LexiconError> {
        let (zh_user, en_user): (Vec<_>, Vec<_>) = user
            .into_iter()
            .filter(|(entry, _)| !entry.is_empty())
            .partition(|(entry, _)| entry.chars().any(crate::text::is_han));
        // First in the tables: phrases of equal length keep their order, and
        // the earlier Chinese pattern wins a tie.
        let mut en_phrases = en_user;
        en_phrases.extend(parse_tsv(EN_PHRASES, "data/lexicon/en_domain.tsv")?);
        let mut zh_phrases = zh_user;
        zh_phrases.extend(parse_tsv(ZH_PHRASES, "data/lexicon/zh_domain.tsv")?);
        let mut lexicon = Lexicon::from_tables(
            parse_tsv(EN_WORDS, "data/lexicon/en.tsv")?,
            en_phrases,
            parse_tsv(ZH_WORDS, "data/lexicon/zh.tsv")?,
            zh_phrases,
        )?;
        lexicon.set_default_models()?;
        Ok(lexicon)
    }

    /// Uses these models (English also for `other`, Chinese for `zh`); a
    /// language without a model, or with an empty one, is scored by the rules alone.
    pub fn set_models(&mut self, en: Option<Arc<LinearModel>>, zh: Option<Arc<LinearModel>>) {
        let mut fp = self.fingerprint;
        for m in [&en, &zh] {
            let m = m.as_ref().map_or(0, |m| m.fingerprint());
            fp = crate::record::fnv1a(format!("{fp}:{m}").as_bytes());
        }
        self.fingerprint = fp;
        self.en_model = en.filter(|m| !m.is_empty());
        self.zh_model = zh.filter(|m| !m.is_empty());
    }

    fn model(&self, lang: Lang) -> Option<&LinearModel> {
        match lang {
            Lang::Zh => self.zh_model.as_deref(),
            Lang::En | Lang::Other => self.en_model.as_deref(),
        }
    }

    /// What the rules and models need of one word (no cue: those are the
    /// analyzer's, see [`super::record`]).
    pub(crate) fn word_record(&self, word: &Word) -> WordRecord {
        let valence = match word.script {
            Script::Latin => self.en_words.get(word.lower.as_str()).copied(),
            Script::Han => self
                .zh_words
                .get(word.lower.as_str())
                .copied()
                .or_else(|| self.fused_zh(&word.lower)),
        };
        let phrases = match word.script {
            Script::Latin => self.en_phrases.get(&word.term).copied().unwrap_or(NONE),
            Script::Han => NONE,
        };
        let weights = |m: &Option<Arc<LinearModel>>| {
            m.as_ref()
                .map_or_else(TermWeights::default, |m| m.term_weights(&word.term))
        };
        WordRecord {
            flags: modifier(word),
            valence,
            phrases,
            facts: term_facts(word),
            weights: [weights(&self.en_model), weights(&self.zh_model)],
            cues: [NONE; 3],
        }
    }

    fn word_records(&self, words: &[Word]) -> Vec<WordRecord> {
        words.iter().map(|w| self.word_record(w)).collect()
    }

    /// The parts of one sentence's score: `span` is its byte range in `text`,
    /// `words` its words.
    pub fn sentence_parts(
        &self,
        lang: Lang,
        text: &str,
        span: Span,
        words: &[Word],
    ) -> SentenceParts {
        self.parts_with(lang, text, span, words, &self.word_records(words))
    }

    /// [`Lexicon::sentence_parts`] with the record of each word (`records[k]`
    /// of `words[k]`).
    pub(crate) fn parts_with(
        &self,
        lang: Lang,
        text: &str,
        span: Span,
        words: &[Word],
        records: &[WordRecord],
    ) -> SentenceParts {
        let mut silenced = Vec::new();
        let (valence, domain) = SCRATCH.with(|scratch| {
            self.valences_with(
                text,
                span,
                words,
                records,
                &mut silenced,
                &mut scratch.borrow_mut(),
            )
        });
        let sentence = &text[span.start..span.end];
        // A question without a sentiment word ("can you tell me how to ...?")
        // asks; the model, trained on statements, is not asked about it. In
        // Chinese reviews most such questions are rhetorical complaints, so
        // there it needs an inquiry word (请问, 如何, ...).
        let plain_question = valence == 0.0
            && domain == 0.0
            && sentence.trim_end().ends_with(['?', '？'])
            && (lang != Lang::Zh || ZH_INQUIRY.iter().any(|w| sentence.contains(w)));
        let slot = usize::from(lang == Lang::Zh);
        let (logit, known) = match self.model(lang) {
            Some(m) if !plain_question => {
                m.logit_with(sentence, span.start, words, &silenced, |k| {
                    (&records[k].facts, &records[k].weights[slot])
                })
            }
            _ => (0.0, 0),
        };
        SentenceParts {
            valence,
            domain,
            logit,
            evidence: valence != 0.0 || domain != 0.0 || known > 0,
        }
    }

    /// Score in [-1, 1] of a whole text from the sum of its sentences' parts.
    pub fn text_score(&self, lang: Lang, parts: SentenceParts) -> f64 {
        match self.model(lang) {
            Some(m) => m.score(&parts, normalize(parts.valence), true),
            None => normalize(parts.valence + parts.domain),
        }
    }

    /// Score in [-1, 1] of one sentence (for aspect-level sentiment): the
    /// model without its bias, so a sentence without evidence is neutral.
    pub fn sentence_score(&self, lang: Lang, parts: SentenceParts) -> f64 {
        match self.model(lang) {
            Some(m) => m.score(&parts, normalize(parts.valence), false),
            None => normalize(parts.valence + parts.domain),
        }
    }

    /// Builds a lexicon from parsed tables.
    pub fn from_tables(
        en_words: Vec<(String, f64)>,
        en_phrases: Vec<(String, f64)>,
        zh_words: Vec<(String, f64)>,
        zh_phrases: Vec<(String, f64)>,
    ) -> Result<Lexicon, LexiconError> {
        let canonical = format!("{en_words:?}{en_phrases:?}{zh_words:?}{zh_phrases:?}");
        let mut lexicon = Lexicon {
            fingerprint: crate::record::fnv1a(canonical.as_bytes()),
            en_words: HashMap::default(),
            en_phrases: HashMap::default(),
            en_phrase_lists: Vec::new(),
            zh_words: zh_words.into_iter().collect(),
            zh_phrases: None,
            zh_phrase_valence: Vec::new(),
            emoticons: HashMap::default(),
            emoji: HashMap::default(),
            en_model: None,
            zh_model: None,
        };
        for (emoji, valence) in parse_tsv(EMOJI, "data/lexicon/emoji.tsv")? {
            if let Some(c) = emoji.chars().next() {
                lexicon.emoji.insert(c, valence);
            }
        }
        for (word, valence) in en_words {
            let lower = word.to_lowercase();
            // Entries with punctuation other than ' and - are emoticons
            // (":)", ":D"), matched as whitespace-separated tokens as
            // written; multi-word entries are phrases.
            if word.contains(|c: char| c.is_ascii_punctuation() && c != '\'' && c != '-') {
                if !word.contains(char::is_whitespace) {
                    lexicon.emoticons.insert(word, valence);
                }
            } else if !is_ascii_word(&lower) && tokenize(&lower).len() > 1 {
                lexicon.add_en_phrase(&lower, valence, false);
            } else {
                lexicon.en_words.insert(lower, valence);
            }
        }
        for (phrase, valence) in en_phrases {
            lexicon.add_en_phrase(&phrase.to_lowercase(), valence, true);
        }
        let mut patterns = Vec::new();
        for (phrase, valence) in zh_phrases {
            patterns.push(phrase.to_lowercase());
            lexicon.zh_phrase_valence.push(valence);
        }
        if !patterns.is_empty() {
            lexicon.zh_phrases = AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostLongest)
                .build(&patterns)
                .ok();
        }
        Ok(lexicon)
    }

    /// jieba often keeps a modifier and its word together ("很好", "不满意",
    /// "太慢"): when such a word is not in the lexicon, split off a leading
    /// negator, booster or dampener and score the rest with that rule.
    fn fused_zh(&self, word: &str) -> Option<f64> {
        for prefix in ZH_NEGATORS.iter().chain(ZH_BOOSTERS).chain(ZH_DAMPENERS) {
            let Some(rest) = word.strip_prefix(prefix) else {
                continue;
            };
            let Some(&v) = self.zh_words.get(rest) else {
                continue;
            };
            return Some(if ZH_NEGATORS.contains(prefix) {
                v * NEGATION_FACTOR
            } else if ZH_BOOSTERS.contains(prefix) {
                v + BOOST * v.signum()
            } else {
                v - BOOST * v.signum()
            });
        }
        None
    }

    /// Whether a word (lowercase surface form) carries sentiment or is a
    /// modifier (negator, booster, contrast): such words describe how the
    /// customer feels, not what about.
    pub fn is_sentiment_word(&self, word: &Word) -> bool {
        is_modifier(word)
            || match word.script {
                Script::Latin => self.en_words.contains_key(word.lower.as_str()),
                Script::Han => self.zh_words.contains_key(word.lower.as_str()),
            }
    }

    /// Whether a word joins contrasting clauses ("but", "however", 但是, 不过).
    pub fn is_contrast(&self, word: &Word) -> bool {
        modifier(word) & CONTRAST != 0
    }

    /// Hash of the lexicon contents.
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    fn add_en_phrase(&mut self, phrase: &str, valence: f64, domain: bool) {
        let terms: Vec<Term> = tokenize(phrase).into_iter().map(|w| w.term).collect();
        if let Some(first) = terms.first() {
            let next = self.en_phrase_lists.len() as u32;
            let index = *self.en_phrases.entry(first.clone()).or_insert(next);
            if index == next {
                self.en_phrase_lists.push(Vec::new());
            }
            let list = &mut self.en_phrase_lists[index as usize];
            list.push(Phrase {
                hashes: terms.iter().map(|t| term_hash(t)).collect(),
                terms,
                valence,
                domain,
            });
            // Longest phrase first, so "not received at all" beats "not received".
            list.sort_by_key(|p| std::cmp::Reverse(p.terms.len()));
        }
    }

    /// Raw valence sum of one sentence: `span` is its byte range in `text`,
    /// `words` its words (with offsets into `text`).
    pub fn sentence_valence(&self, text: &str, span: Span, words: &[Word]) -> f64 {
        let (general, domain) = self.sentence_valences(text, span, words, &mut Vec::new());
        general + domain
    }

    /// [`Lexicon::sentence_valence`] in two parts: from the general word
    /// lists, and from the support-domain phrases, emoji and emoticons.
    /// `silenced` receives the byte ranges (relative to the sentence) of the
    /// phrases of valence 0 ("thanks in advance", 你好): their words carry no
    /// sentiment, for the model either.
    pub fn sentence_valences(
        &self,
        text: &str,
        span: Span,
        words: &[Word],
        silenced: &mut Vec<(usize, usize)>,
    ) -> (f64, f64) {
        let records = self.word_records(words);
        SCRATCH.with(|scratch| {
            self.valences_with(
                text,
                span,
                words,
                &records,
                silenced,
                &mut scratch.borrow_mut(),
            )
        })
    }

    fn valences_with(
        &self,
        text: &str,
        span: Span,
        words: &[Word],
        records: &[WordRecord],
        silenced: &mut Vec<(usize, usize)>,
        scratch: &mut Scratch,
    ) -> (f64, f64) {
        silenced.clear();
        let sentence = &text[span.start..span.end];
        let symbols = self.symbol_valence(sentence);
        if words.is_empty() {
            return (0.0, symbols);
        }
        let base = span.start;
        let Scratch {
            flags,
            claimed,
            items,
        } = scratch;
        flags.clear();
        flags.extend(records.iter().map(|r| r.flags));
        // 1. Phrases claim their words.
        claimed.clear();
        claimed.resize(words.len(), false);
        items.clear();
        let mut i = 0;
        while i < words.len() {
            let mut advanced = false;
            if words[i].script == Script::Latin && records[i].phrases != NONE {
                let phrases = &self.en_phrase_lists[records[i].phrases as usize];
                if let Some(p) = phrases.iter().find(|p| contiguous(words, records, i, p)) {
                    for c in &mut claimed[i..i + p.terms.len()] {
                        *c = true;
                    }
                    items.push((i, p.valence, p.domain));
                    if p.valence == 0.0 {
                        let end = words[i + p.terms.len() - 1].end;
                        silenced.push((words[i].start - base, end - base));
                    }
                    i += p.terms.len();
                    advanced = true;
                }
            }
            if !advanced {
                i += 1;
            }
        }
        // Every Chinese phrase holds a Chinese character.
        if let Some(ac) = self.zh_phrases.as_ref().filter(|_| !sentence.is_ascii()) {
            // Most Chinese sentences lowercase to themselves: no copy.
            let lower = super::lowercased(sentence);
            if lower.len() == sentence.len() {
                for m in ac.find_iter(lower.as_ref()) {
                    let (s, e) = (base + m.start(), base + m.end());
                    // A phrase must start where a word starts: 有问题 is not in 没有问题.
                    if !words.iter().any(|w| w.start == s) {
                        continue;
                    }
                    let covered: Vec<usize> = (0..words.len())
                        .filter(|&k| words[k].start < e && words[k].end > s && !claimed[k])
                        .collect();
                    if let Some(&first) = covered.first() {
                        for &k in &covered {
                            claimed[k] = true;
                        }
                        let valence = self.zh_phrase_valence[m.pattern().as_usize()];
                        if valence == 0.0 {
                            silenced.push((m.start(), m.end()));
                        }
                        items.push((first, valence, true));
                    }
                }
            }
        }
        // 2. Words.
        for (k, record) in records.iter().enumerate() {
            if claimed[k] || flags[k] != 0 {
                continue;
            }
            if let Some(v) = record.valence {
                items.push((k, v, false));
            }
        }
        // 3. Rules around each item.
        let mixed_case = sentence.chars().any(|c| c.is_lowercase());
        let contrast_at = flags.iter().rposition(|f| f & CONTRAST != 0);
        let mut sum = 0.0;
        let mut domain = symbols;
        for &(k, valence, from_domain) in items.iter() {
            if valence == 0.0 {
                continue;
            }
            let mut v = valence;
            let raw = &text[words[k].start..words[k].end];
            if mixed_case
                && raw.chars().count() > 1
                && raw.chars().all(|c| !c.is_lowercase())
                && raw.chars().any(char::is_alphabetic)
            {
                v += CAPS_BOOST * v.signum();
            }
            let before = &flags[k.saturating_sub(3)..k];
            for (distance, f) in before.iter().rev().enumerate() {
                let scale = 1.0 - 0.05 * distance as f64;
                if f & BOOSTER != 0 {
                    v += BOOST * scale * v.signum();
                } else if f & DAMPENER != 0 {
                    v -= BOOST * scale * v.signum();
                }
            }
            let start = k.saturating_sub(3);
            let negated = before.iter().enumerate().any(|(j, f)| {
                // A Chinese negator stays in its clause (没有色差，很喜欢).
                f & NEGATOR != 0
                    && (words[k].script != Script::Han
                        || !zh_clause_break(&text[words[start + j].end..words[k].start]))
            });
            if negated {
                v *= NEGATION_FACTOR;
            }
            match contrast_at {
                Some(c) if k < c => v *= 0.5,
                Some(c) if k > c => v *= 1.5,
                _ => {}
            }
            if from_domain {
                domain += v;
            } else {
                sum += v;
            }
        }
        let total = sum + domain;
        if total != 0.0 {
            let bangs = sentence
                .chars()
                .filter(|&c| c == '!' || c == '！')
                .count()
                .min(4);
            sum += EXCLAMATION_BOOST * bangs as f64 * total.signum();
        }
        (sum, domain)
    }
}

impl Lexicon {
    /// Valence of the emoji and emoticons of a sentence (":)", "😡"). An
    /// emoticon must stand alone between spaces (or trailing punctuation),
    /// so the ":/" of a web address does not count.
    fn symbol_valence(&self, sentence: &str) -> f64 {
        let mut sum = 0.0;
        if !sentence.is_ascii() {
            for c in sentence.chars() {
                if let Some(v) = self.emoji.get(&c) {
                    sum += v;
                }
            }
        }
        if sentence
            .bytes()
            .any(|b| matches!(b, b':' | b';' | b'=' | b'<' | b'(' | b')'))
        {
            for token in sentence.split_whitespace() {
                let token = token.trim_end_matches([',', '.']);
                if let Some(v) = self.emoticons.get(token) {
                    sum += v;
                }
            }
        }
        sum
    }
}

/// Whether `s` is one run of ASCII letters and digits: one word, which
/// [`tokenize`] need not be asked about (it would stem it, slowing start-up).
fn is_ascii_word(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Whether the phrase's terms are the words from `words[start]` (term
/// hashes compared first, from the words' records).
fn contiguous(words: &[Word], records: &[WordRecord], start: usize, phrase: &Phrase) -> bool {
    let end = start + phrase.terms.len();
    end <= words.len()
        && records[start..end]
            .iter()
            .zip(&phrase.hashes)
            .all(|(r, &h)| r.facts.hash == h)
        && words[start..end]
            .iter()
            .zip(&phrase.terms)
            .all(|(w, t)| w.term == *t)
}

const NEGATOR: u8 = 1;
const BOOSTER: u8 = 2;
const DAMPENER: u8 = 4;
/// Modifier flag of a contrast word ("but", 但是).
pub(crate) const CONTRAST: u8 = 8;

/// Modifier flags of each English and Chinese modifier word.
static MODIFIERS: LazyLock<HashMap<&'static str, u8>> = LazyLock::new(|| {
    let mut map: HashMap<&'static str, u8> = HashMap::default();
    let lists: [(&[&'static str], u8); 8] = [
        (EN_NEGATORS, NEGATOR),
        (ZH_NEGATORS, NEGATOR),
        (EN_BOOSTERS, BOOSTER),
        (ZH_BOOSTERS, BOOSTER),
        (EN_DAMPENERS, DAMPENER),
        (ZH_DAMPENERS, DAMPENER),
        (EN_CONTRAST, CONTRAST),
        (ZH_CONTRAST, CONTRAST),
    ];
    for (list, flag) in lists {
        for w in list {
            *map.entry(w).or_default() |= flag;
        }
    }
    map
});

/// Modifier flags of a word (0 for none). The lists of both languages are
/// disjoint by script, so one table serves both.
fn modifier(word: &Word) -> u8 {
    MODIFIERS.get(word.lower.as_str()).copied().unwrap_or(0)
}

fn is_modifier(word: &Word) -> bool {
    modifier(word) != 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::split_sentences;

    fn lexicon() -> Lexicon {
        Lexicon::default_lexicon().unwrap()
    }

    fn score(text: &str) -> f64 {
        let lex = lexicon();
        let words = tokenize(text);
        let mut sum = 0.0;
        for span in split_sentences(text) {
            let w: Vec<Word> = words
                .iter()
                .filter(|w| w.start >= span.start && w.end <= span.end)
                .cloned()
                .collect();
            sum += lex.sentence_valence(text, span, &w);
        }
        normalize(sum)
    }

    #[test]
    fn negation_flips() {
        assert!(score("The service was good") > 0.1);
        assert!(score("The service was not good") < -0.1);
        assert!(score("not bad at all") > 0.0);
        assert!(score("服务很好") > 0.1);
        assert!(score("服务不好") < -0.1);
        assert!(score("没有问题") >= 0.0);
        assert!(
            score("没有色差，很喜欢") > 0.1,
            "negation stays in its clause"
        );
    }

    #[test]
    fn boosters_intensify() {
        assert!(score("very good") > score("good"));
        assert!(score("非常满意") > score("满意"));
        assert!(score("somewhat good") < score("good"));
    }

    #[test]
    fn contrast_weights_the_second_clause() {
        assert!(score("The delivery was fast but the item arrived broken") < 0.0);
        assert!(score("物流很快，但是东西坏了") < 0.0);
    }

    #[test]
    fn domain_phrases_are_negative_and_politeness_is_neutral() {
        assert!(score("I am still waiting for my order") < -0.1);
        assert!(score("I was charged twice") < -0.1);
        assert!(score("等了半天也没人回复") < -0.1);
        assert_eq!(score("Thanks in advance"), 0.0);
    }

    #[test]
    fn caps_and_exclamations_add_emphasis() {
        assert!(score("this is TERRIBLE") < score("this is terrible"));
        assert!(score("terrible!!!") < score("terrible"));
    }

    #[test]
    fn chinese_negation_degree_and_contrast() {
        assert!(score("满意") > 0.0);
        assert!(score("不满意") < 0.0);
        assert!(score("没用") < 0.0);
        assert!(score("别买") < 0.0);
        assert!(score("非常好") > score("好"));
        assert!(score("有点慢") > score("太慢"));
        assert!(score("东西不错，可是物流太慢了") < 0.0);
        assert!(score("价格有点贵，不过质量很好") > 0.0);
    }

    #[test]
    fn chinese_domain_phrases() {
        assert!(score("客服一直没人回复") < -0.1);
        assert!(score("我要退款") < 0.0);
        assert!(score("我要投诉你们") < 0.0);
        assert!(score("差评") < 0.0);
        assert!(score("好评") > 0.0);
        assert_eq!(score("你好，请问一下"), 0.0);
    }

    #[test]
    fn english_support_phrases_and_politeness() {
        assert!(score("Where is my order") < 0.0);
        assert!(score("This is the third time I contact you") < 0.0);
        assert_eq!(score("Hope you are well"), 0.0);
        assert!(score("Not bad") > 0.0);
    }

    #[test]
    fn emoji_and_emoticons_count() {
        assert!(score("my order 😡") < 0.0);
        assert!(score("arrived today 👍") > 0.0);
        assert!(score("arrived today :)") > 0.0);
        assert!(score("arrived today :(") < 0.0);
        assert_eq!(score("see http://example.com/a:(b"), 0.0);
        assert!(score("❤\u{FE0F} it") > 0.0);
    }

    #[test]
    fn plain_questions_are_neutral() {
        let lex = lexicon();
        let text = "Can you tell me how to change my address?";
        let words = tokenize(text);
        let span = split_sentences(text)[0];
        let parts = lex.sentence_parts(Lang::En, text, span, &words);
        assert!(!parts.evidence);
        assert_eq!(lex.text_score(Lang::En, parts), 0.0);
        let text = "Why is the app so terrible?";
        let words = tokenize(text);
        let span = split_sentences(text)[0];
        let parts = lex.sentence_parts(Lang::En, text, span, &words);
        assert!(lex.text_score(Lang::En, parts) < 0.0);
        // Chinese: an inquiry stays neutral, a rhetorical question is scored.
        let parts = |text: &str| {
            let words = tokenize(text);
            lex.sentence_parts(Lang::Zh, text, split_sentences(text)[0], &words)
        };
        let inquiry = parts("请问怎么修改收货地址？");
        assert_eq!(lex.text_score(Lang::Zh, inquiry), 0.0);
        let rhetorical = parts("这也能叫四星级酒店？");
        assert!(rhetorical.evidence && rhetorical.logit != 0.0);
    }

    #[test]
    fn food_delivery_and_shopping_phrases() {
        assert!(score("等了两个小时才送到，饭都凉了") < 0.0);
        assert!(score("送餐很快，分量很足") > 0.0);
        assert!(score("做工粗糙，与描述不符") < 0.0);
    }

    #[test]
    fn label_bands() {
        assert_eq!(Label::of(0.0), Label::Neutral);
        assert_eq!(Label::of(-0.5), Label::Negative);
        assert_eq!(Label::of(0.5), Label::Positive);
    }
}
