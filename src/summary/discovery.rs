//! Discovery: complaints the taxonomy misses.
//!
//! Phrases of 1 to 3 words (English stems or Chinese words) are counted in
//! the sentences that no theme claimed, separately in negative and in other
//! records (each record counts once per phrase). A phrase is a candidate when
//!
//! - it appears in at least [`MIN_RECORDS`] negative records,
//! - it is over-represented in negative records by the log-odds ratio with
//!   an informative prior (Monroe, Colaresi and Quinn, "Fightin' Words",
//!   2008): the log-odds ratio of the phrase's presence in negative against
//!   other records, each count shrunk towards the phrase's overall rate with
//!   [`PRIOR_RECORDS`] pseudo-records, divided by its standard error, is at
//!   least [`MIN_Z`] (so a rare phrase needs a strong contrast, a frequent
//!   one less). This is a screening bar, not a significance test: a new
//!   complaint in a handful of records is worth showing an analyst, and the
//!   other conditions remove most noise,
//! - most records that use it are negative ([`MIN_NEGATIVE_SHARE`]),
//! - and it is not mostly covered already: fewer than half of the records
//!   that use it use it in a sentence some theme claimed (there the taxonomy
//!   already knows the topic, and the unthemed uses are its stragglers).
//!
//! Function words (both languages), sentiment words, generic support words,
//! verbs of happening and seeing, and currency words are skipped: they say
//! that something went wrong, not what. Candidates are ranked by the z-score
//! (then by phrase key); candidates that occur in the same records are grouped
//! into one suggested theme, with example quotes and a TOML snippet ready to
//! paste into the taxonomy. A phrase is shown as customers wrote it in the
//! latest kept record that uses it.
//!
//! The counts are sums over records ([`PhraseTable`]), so they do not depend
//! on the order of the records and can be computed per index segment, cached,
//! and combined (see `pipeline::write_reports`). The sentences kept for
//! grouping and quotes are those of the latest [`MAX_KEPT`] negative records.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::hash::BuildHasher;
use std::sync::LazyLock;

use rustc_hash::{FxBuildHasher, FxHashMap};

use serde::{Deserialize, Serialize};

use crate::analyze::{Analysis, Label, Lexicon};
use crate::index::{SegmentAggregate, StoredRecord};
use crate::record::Record;
use crate::text::{split_sentences, tokenize_with_ids, Script, Word, WordIds};

/// Fewest negative records a phrase needs to be a candidate.
pub const MIN_RECORDS: u64 = 5;
/// Least z-score of the log-odds ratio (negative against other records).
pub const MIN_Z: f64 = 1.0;
/// Strength of the informative prior, in pseudo-records.
pub const PRIOR_RECORDS: f64 = 10.0;
/// Most share of a phrase's records that use it inside a themed sentence.
pub const MAX_COVERED_SHARE: f64 = 0.5;
/// Least share of a phrase's records that are negative.
pub const MIN_NEGATIVE_SHARE: f64 = 0.6;
/// Most suggested themes.
pub const MAX_CANDIDATES: usize = 8;
/// Negative records whose sentences are kept for grouping and quotes.
pub const MAX_KEPT: usize = 20_000;

const EN_STOPWORDS: &[&str] = &[
    "a",
    "about",
    "above",
    "after",
    "again",
    "all",
    "also",
    "am",
    "an",
    "and",
    "any",
    "are",
    "as",
    "at",
    "be",
    "because",
    "been",
    "before",
    "being",
    "but",
    "by",
    "can",
    "could",
    "did",
    "do",
    "does",
    "doing",
    "don't",
    "for",
    "from",
    "get",
    "got",
    "had",
    "has",
    "have",
    "having",
    "he",
    "her",
    "here",
    "him",
    "his",
    "how",
    "i",
    "i'm",
    "i've",
    "if",
    "in",
    "into",
    "is",
    "it",
    "it's",
    "its",
    "just",
    "me",
    "more",
    "my",
    "no",
    "not",
    "now",
    "of",
    "on",
    "one",
    "only",
    "or",
    "other",
    "our",
    "out",
    "over",
    "please",
    "so",
    "some",
    "still",
    "than",
    "that",
    "the",
    "their",
    "them",
    "then",
    "there",
    "these",
    "they",
    "this",
    "those",
    "to",
    "too",
    "up",
    "us",
    "very",
    "was",
    "we",
    "were",
    "what",
    "when",
    "where",
    "which",
    "who",
    "why",
    "will",
    "with",
    "would",
    "you",
    "your",
    "hi",
    "hello",
    "thanks",
    "thank",
    "dear",
    "regards",
    "can't",
    "won't",
    "didn't",
    "doesn't",
    "isn't",
    "wasn't",
    "even",
    "really",
    "day",
    "days",
    "week",
    "weeks",
    "time",
    "today",
    "yesterday",
    "lumio",
    "work",
    "works",
    "worked",
    "working",
    "new",
    "never",
    "make",
    "made",
    "want",
    "need",
    "try",
    "tried",
    "use",
    "used",
    "go",
    "going",
    "come",
    "came",
    "say",
    "says",
    "said",
    "saying",
    "tell",
    "tells",
    "told",
    "know",
    "see",
    "look",
    "looks",
    "think",
    "ever",
    "every",
    "anything",
    "something",
    "nothing",
    "everything",
    "anyone",
    "someone",
    "back",
    "first",
    "last",
    "next",
    "same",
    "another",
    "way",
    "thing",
    "things",
    "much",
    "many",
    "lot",
    "bit",
    "well",
    "good",
    "bad",
    "since",
    "until",
    "while",
    "should",
    "shall",
    "may",
    "might",
    "must",
    "let",
    "put",
    "take",
    "took",
    "give",
    "gave",
    "keep",
    "kept",
    "yet",
    "though",
    "both",
    "each",
    "few",
    "own",
    "such",
    "once",
    "twice",
    "ago",
    "around",
    "via",
    "per",
    "etc",
    "ok",
    "okay",
    "yes",
    "hey",
    "guys",
    "team",
    "order",
    "orders",
    "item",
    "items",
    "product",
    "products",
    "app",
    "account",
    "customer",
    "service",
    "support",
    "company",
    "store",
    "shop",
    "website",
    "site",
    "email",
    "phone",
    "call",
    "message",
    "issue",
    "issues",
    "problem",
    "problems",
    "help",
    "get",
    "got",
    "getting",
    // Happening, seeing and sending say when, not what.
    "send",
    "sent",
    "sending",
    "happen",
    "happened",
    "happens",
    "check",
    "checked",
    "show",
    "shows",
    "showed",
    "shown",
    "saw",
    "seen",
    "find",
    "found",
    "still",
    "again",
    "anymore",
    // Money amounts and currencies say how much, not what.
    "euro",
    "euros",
    "eur",
    "dollar",
    "dollars",
    "usd",
    "pound",
    "pounds",
    "gbp",
    "rmb",
    "yuan",
];

const ZH_STOPWORDS: &[&str] = &[
    "的",
    "了",
    "是",
    "我",
    "你",
    "他",
    "她",
    "它",
    "我们",
    "你们",
    "他们",
    "在",
    "有",
    "和",
    "就",
    "都",
    "也",
    "很",
    "还",
    "又",
    "把",
    "被",
    "给",
    "让",
    "这",
    "那",
    "这个",
    "那个",
    "一个",
    "什么",
    "怎么",
    "吗",
    "呢",
    "吧",
    "啊",
    "呀",
    "哦",
    "嗯",
    "着",
    "过",
    "到",
    "说",
    "到底",
    "究竟",
    "要",
    "会",
    "能",
    "可以",
    "没有",
    "没",
    "不",
    "请",
    "您",
    "你好",
    "您好",
    "谢谢",
    "一下",
    "一直",
    "已经",
    "现在",
    "然后",
    "但是",
    "因为",
    "所以",
    "如果",
    "还是",
    "就是",
    "而且",
    "自己",
    "一",
    "个",
    "上",
    "下",
    "里",
    "不能",
    "麻烦",
    "问题",
    "客服",
    "订单",
    "东西",
    "商品",
    "产品",
    "账号",
    "时候",
    "感觉",
    "知道",
    "觉得",
    "希望",
    "需要",
    "应该",
    "直接",
    "之前",
    "以后",
    "为什么",
    "能不能",
    "帮忙",
    "一次",
    "每次",
    "多少",
    "这么",
    "那么",
    "这样",
    "那样",
    "还有",
    "只是",
    "真的",
    "其实",
    "比较",
    "有点",
    "已",
    "显示",
    "发现",
    "看到",
    "出现",
    "发生",
    "查看",
    "结果",
    "今天",
    "昨天",
    "时间",
    "元",
    "块",
    "块钱",
    "人民币",
    "欧元",
    "美元",
];

static LEXICON: LazyLock<Option<Lexicon>> = LazyLock::new(|| Lexicon::default_lexicon().ok());

/// What the phrases of a record depend on besides the record: the stop word
/// lists, the sentiment lexicon that marks sentiment words, and the code
/// (tokenizer and rules) of this vocscope version. Cached phrase tables
/// taken under other rules are rebuilt.
static PHRASE_RULES: LazyLock<u64> = LazyLock::new(|| {
    let mut lists = format!(
        "{}:{EN_STOPWORDS:?}{ZH_STOPWORDS:?}:{}",
        env!("CARGO_PKG_VERSION"),
        LEXICON.as_ref().map_or(0, Lexicon::fingerprint),
    );
    // The user dictionary changes the words; none keeps existing caches.
    let dictionary = crate::text::user_dictionary_fingerprint();
    if dictionary != 0 {
        lists.push_str(&format!(":dict {dictionary}"));
    }
    crate::record::fnv1a(lists.as_bytes())
});

/// Function words, generic support words, and sentiment words: they say how
/// or that something went wrong, not what.
/// Both stopword lists, hashed: this check runs for every word of every
/// record in each report.
static STOPWORDS: LazyLock<HashSet<&'static str>> =
    LazyLock::new(|| EN_STOPWORDS.iter().chain(ZH_STOPWORDS).copied().collect());

/// Stop-word flags of the words of one thread's word cache, by word id
/// ([`tokenize_with_ids`]): a word is looked up once per generation of the
/// cache, not once per use.
#[derive(Default)]
struct StopFlags {
    /// Generation of the ids the flags are for.
    generation: u64,
    /// 0: not known yet, 1: not a stop word, 2: a stop word.
    flags: Vec<u8>,
}

impl StopFlags {
    /// Whether each of `words` (with their `ids`) is a stop word, into `stop`.
    fn stop_words(&mut self, words: &[Word], ids: &WordIds, stop: &mut Vec<bool>) {
        stop.clear();
        if ids.generation == 0 || ids.ids.len() != words.len() {
            stop.extend(words.iter().map(is_stopword));
            return;
        }
        if self.generation != ids.generation {
            self.generation = ids.generation;
            self.flags.clear();
        }
        for (word, &id) in words.iter().zip(&ids.ids) {
            let id = id as usize;
            if id >= self.flags.len() {
                self.flags.resize(id + 1, 0);
            }
            if self.flags[id] == 0 {
                self.flags[id] = 1 + u8::from(is_stopword(word));
            }
            stop.push(self.flags[id] == 2);
        }
    }
}

/// The sentences themes claimed in a record, as byte ranges of its full text.
fn claimed_spans(analysis: &Analysis) -> Vec<(u32, u32)> {
    analysis
        .themes
        .iter()
        .flat_map(|t| t.spans.iter().copied())
        .collect()
}

/// Buffers of [`RecordPhrases::of`] on one thread, reused from record to record.
#[derive(Default)]
struct Scratch {
    words: Vec<Word>,
    ids: WordIds,
    stop: Vec<bool>,
    flags: StopFlags,
    phrase_ids: FxHashMap<u64, u32>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

fn is_stopword(word: &Word) -> bool {
    if LEXICON.as_ref().is_some_and(|l| l.is_sentiment_word(word)) {
        return true;
    }
    match word.script {
        Script::Latin => {
            STOPWORDS.contains(word.lower.as_str())
                || word.lower.chars().count() < 2
                || word.lower.chars().all(|c| c.is_ascii_digit())
        }
        Script::Han => STOPWORDS.contains(word.lower.as_str()),
    }
}

/// A suggested theme for complaints no theme covers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UnmappedCandidate {
    /// The leading phrase, as customers wrote it.
    pub label: String,
    /// Phrases of the group, leading phrase first.
    pub phrases: Vec<String>,
    /// Negative records with the leading phrase in an unthemed sentence.
    pub records: u64,
    /// Share of the records using the leading phrase (in unthemed sentences) that are negative.
    pub negative_share: f64,
    /// z-score of the leading phrase's log-odds ratio, negative against
    /// other records, with the informative prior (the ranking score).
    pub score: f64,
    /// How much more frequent the leading phrase is in negative records.
    pub lift: f64,
    /// Example sentences with their record ids.
    pub quotes: Vec<UnmappedQuote>,
    /// A `[[theme]]` block to paste into the taxonomy.
    pub toml: String,
}

/// An example sentence of a candidate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UnmappedQuote {
    /// Record id.
    pub id: String,
    /// Record source.
    pub source: String,
    /// The sentence.
    pub text: String,
}

/// How many records use a phrase, and where.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhraseCounts {
    /// Negative records using the phrase in an unthemed sentence.
    pub negative: u64,
    /// Other records using the phrase in an unthemed sentence.
    pub other: u64,
    /// Records using the phrase in a sentence a theme claimed.
    pub covered: u64,
    /// Records using the phrase in any sentence.
    pub anywhere: u64,
    /// Whether the phrase is Chinese.
    pub zh: bool,
}

impl PhraseCounts {
    /// Counts one record's use of phrase `p` (`negative`: the record's label).
    fn count(&mut self, p: &RecordPhrase, negative: bool) {
        self.zh = p.zh;
        self.anywhere += 1;
        self.covered += u64::from(p.covered);
        if p.unthemed {
            if negative {
                self.negative += 1;
            } else {
                self.other += 1;
            }
        }
    }
}

/// Phrase counts of a set of records, by phrase key (the analyzer's terms
/// joined by spaces). Every figure is a sum over records, so tables of
/// disjoint sets of records add up to the table of their union, whatever
/// the order ([`PhraseTable::merge`]), and a record can be taken out again
/// ([`PhraseTable::remove`]): per-segment tables can be cached and combined.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PhraseTable {
    phrases: FxHashMap<String, PhraseCounts>,
    negative_records: u64,
    other_records: u64,
}

impl PhraseTable {
    /// Adds a record's phrases.
    pub fn add(&mut self, record: &RecordPhrases) {
        for p in &record.phrases {
            // Most phrases are known: one look-up, and the key is copied
            // only for a new one.
            match self.phrases.get_mut(&p.key) {
                Some(c) => c.count(p, record.negative),
                None => {
                    let mut c = PhraseCounts::default();
                    c.count(p, record.negative);
                    self.phrases.insert(p.key.clone(), c);
                }
            }
        }
        self.count_record(record.negative);
    }

    /// [`PhraseTable::add`] of phrases not needed after: the keys of new
    /// phrases move into the table instead of being copied.
    pub fn add_owned(&mut self, record: RecordPhrases) {
        for p in record.phrases {
            match self.phrases.get_mut(&p.key) {
                Some(c) => c.count(&p, record.negative),
                None => {
                    let mut c = PhraseCounts::default();
                    c.count(&p, record.negative);
                    self.phrases.insert(p.key, c);
                }
            }
        }
        self.count_record(record.negative);
    }

    fn count_record(&mut self, negative: bool) {
        if negative {
            self.negative_records += 1;
        } else {
            self.other_records += 1;
        }
    }

    /// Takes out a record added before (phrases no record uses any more go).
    pub fn remove(&mut self, record: &RecordPhrases) {
        for p in &record.phrases {
            let Some(c) = self.phrases.get_mut(&p.key) else {
                continue;
            };
            c.anywhere = c.anywhere.saturating_sub(1);
            c.covered = c.covered.saturating_sub(u64::from(p.covered));
            if p.unthemed {
                if record.negative {
                    c.negative = c.negative.saturating_sub(1);
                } else {
                    c.other = c.other.saturating_sub(1);
                }
            }
            if c.anywhere == 0 {
                self.phrases.remove(&p.key);
            }
        }
        if record.negative {
            self.negative_records = self.negative_records.saturating_sub(1);
        } else {
            self.other_records = self.other_records.saturating_sub(1);
        }
    }

    /// Adds the table of other records.
    pub fn merge(&mut self, other: PhraseTable) {
        if self.phrases.len() < other.phrases.len() {
            let mine = std::mem::replace(self, other);
            return self.merge(mine);
        }
        for (key, o) in other.phrases {
            let c = self.phrases.entry(key).or_default();
            c.zh |= o.zh;
            c.negative += o.negative;
            c.other += o.other;
            c.covered += o.covered;
            c.anywhere += o.anywhere;
        }
        self.negative_records += other.negative_records;
        self.other_records += other.other_records;
    }

    /// Distinct phrases.
    pub fn len(&self) -> usize {
        self.phrases.len()
    }

    /// Whether no record was added.
    pub fn is_empty(&self) -> bool {
        self.negative_records + self.other_records == 0
    }

    fn lift(&self, s: &PhraseCounts) -> f64 {
        let neg = (s.negative as f64 + 1.0) / (self.negative_records as f64 + 1.0);
        let other = (s.other as f64 + 1.0) / (self.other_records as f64 + 1.0);
        neg / other
    }

    /// The phrases that can become suggested themes (at most 200), strongest
    /// first: the screening of the module docs, on the counts alone.
    fn candidates(&self) -> Vec<(&str, &PhraseCounts)> {
        let mut candidates: Vec<(&str, &PhraseCounts)> = self
            .phrases
            .iter()
            .filter(|(_, s)| {
                s.negative >= MIN_RECORDS
                    && s.negative as f64 >= MIN_NEGATIVE_SHARE * (s.negative + s.other) as f64
                    && (s.covered as f64) < MAX_COVERED_SHARE * s.anywhere as f64
                    && self.z(s) >= MIN_Z
            })
            .map(|(k, s)| (k.as_str(), s))
            .collect();
        candidates.sort_by(|a, b| self.z(b.1).total_cmp(&self.z(a.1)).then(a.0.cmp(b.0)));
        candidates.truncate(200);
        candidates
    }

    /// The keys of [`PhraseTable::candidates`]: of a kept record, only the
    /// phrases among them are ever looked at
    /// ([`RecordPhrases::of_candidates`]).
    pub fn candidate_keys(&self) -> HashSet<String> {
        self.candidates()
            .into_iter()
            .map(|(k, _)| k.to_string())
            .collect()
    }

    /// z-score of the phrase's log-odds ratio; see [`log_odds_z`].
    fn z(&self, s: &PhraseCounts) -> f64 {
        log_odds_z(
            s.negative,
            self.negative_records,
            s.other,
            self.other_records,
            PRIOR_RECORDS,
        )
    }
}

/// One phrase of a record.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordPhrase {
    /// The analyzer's terms, joined by spaces.
    pub key: String,
    /// Whether it is Chinese.
    pub zh: bool,
    /// Used in a sentence a theme claimed.
    pub covered: bool,
    /// Used in a sentence no theme claimed.
    pub unthemed: bool,
}

/// An unthemed sentence of a negative record, with its phrases.
#[derive(Debug, Clone, PartialEq)]
pub struct KeptSentence {
    /// The sentence, trimmed.
    pub text: String,
    /// Its phrases: index in [`RecordPhrases::phrases`], and byte range in `text`.
    pub grams: Vec<(u32, u32, u32)>,
}

/// What one record contributes to discovery: its distinct phrases and, for
/// a negative record, its unthemed sentences (for grouping and quotes).
#[derive(Debug, Clone, PartialEq)]
pub struct RecordPhrases {
    /// Record id.
    pub id: String,
    /// Record source.
    pub source: String,
    /// Whether the record is negative.
    pub negative: bool,
    /// Distinct phrases, in order of first use.
    pub phrases: Vec<RecordPhrase>,
    /// Unthemed sentences with phrases (negative records only).
    pub sentences: Vec<KeptSentence>,
}

impl RecordPhrases {
    /// Phrases (1 to 3 words, not starting or ending with a stop word) of a
    /// record's sentences, claimed by a theme or not. Near-duplicates (left
    /// out of the summary) have none.
    pub fn of(stored: &StoredRecord) -> RecordPhrases {
        RecordPhrases::of_only(stored, None)
    }

    /// [`RecordPhrases::of`] with only the phrases in `keys` (and the
    /// sentences that use one of them): what [`Discovery`] needs of a kept
    /// record once the phrase table, so its candidates
    /// ([`PhraseTable::candidate_keys`]), is known. Much less work than the
    /// whole record; not for phrase tables.
    pub fn of_candidates(stored: &StoredRecord, keys: &HashSet<String>) -> RecordPhrases {
        RecordPhrases::of_only(stored, Some(keys))
    }

    /// [`RecordPhrases::of`] of a record being indexed, from the words of
    /// its full text (`text`, [`Record::full_text`]) that analysis
    /// tokenized ([`tokenize_with_ids`]): the same phrases, without
    /// tokenizing again.
    pub fn of_words(
        record: &Record,
        analysis: &Analysis,
        text: &str,
        words: &[Word],
        ids: &WordIds,
    ) -> RecordPhrases {
        RecordPhrases::of_words_only(record, analysis, text, words, ids, None)
    }

    /// The record's id, source and label, no phrases yet.
    fn empty(record: &Record, analysis: &Analysis) -> RecordPhrases {
        RecordPhrases {
            id: record.id.clone(),
            source: record.source.clone(),
            negative: analysis.sentiment.label == Label::Negative,
            phrases: Vec::new(),
            sentences: Vec::new(),
        }
    }

    fn of_only(stored: &StoredRecord, only: Option<&HashSet<String>>) -> RecordPhrases {
        if stored.record.duplicate_of.is_some() {
            return RecordPhrases::empty(&stored.record, &stored.analysis);
        }
        let text = stored.record.full_text();
        // This thread's buffers, lent out while the phrases are found.
        let (mut words, mut ids) = SCRATCH.with(|scratch| {
            let mut scratch = scratch.borrow_mut();
            (
                std::mem::take(&mut scratch.words),
                std::mem::take(&mut scratch.ids),
            )
        });
        tokenize_with_ids(&text, &mut words, &mut ids);
        let out = RecordPhrases::of_words_only(
            &stored.record,
            &stored.analysis,
            &text,
            &words,
            &ids,
            only,
        );
        SCRATCH.with(|scratch| {
            let mut scratch = scratch.borrow_mut();
            scratch.words = words;
            scratch.ids = ids;
        });
        out
    }

    /// [`RecordPhrases::of_words`], with only the phrases in `only` if given.
    fn of_words_only(
        record: &Record,
        analysis: &Analysis,
        text: &str,
        words: &[Word],
        ids: &WordIds,
        only: Option<&HashSet<String>>,
    ) -> RecordPhrases {
        let mut out = RecordPhrases::empty(record, analysis);
        if record.duplicate_of.is_some() {
            return out;
        }
        let claimed = claimed_spans(analysis);
        SCRATCH.with(|scratch| {
            let mut scratch = scratch.borrow_mut();
            let Scratch {
                stop,
                flags,
                phrase_ids,
                ..
            } = &mut *scratch;
            flags.stop_words(words, ids, stop);
            phrase_ids.clear();
            out.add_sentences(text, &claimed, words, stop, phrase_ids, only);
        });
        out
    }

    /// Adds the phrases of each sentence of `text` (its words and their
    /// stop-word flags given); `phrase_ids` maps the hash of a phrase key to
    /// its index in `self.phrases`.
    fn add_sentences(
        &mut self,
        text: &str,
        claimed: &[(u32, u32)],
        words: &[Word],
        stop: &[bool],
        phrase_ids: &mut FxHashMap<u64, u32>,
        only: Option<&HashSet<String>>,
    ) {
        let mut key = String::new();
        let mut first = 0;
        // A sentence's grams, reused unless the sentence is kept.
        let mut grams = Vec::new();
        for span in split_sentences(text) {
            let is_claimed = claimed
                .iter()
                .any(|&(s, e)| s as usize == span.start && e as usize == span.end);
            // Words come in text order: the sentence's are a contiguous run.
            while first < words.len() && words[first].start < span.start {
                first += 1;
            }
            let mut last = first;
            while last < words.len() && words[last].end <= span.end {
                last += 1;
            }
            let raw = &text[span.start..span.end];
            let lead = raw.len() - raw.trim_start().len();
            let base = span.start + lead;
            grams.clear();
            for n in 1..=3 {
                if last - first < n {
                    break;
                }
                for i in first..=last - n {
                    let window = &words[i..i + n];
                    if stop[i] || stop[i + n - 1] {
                        continue;
                    }
                    // A Chinese single character says little on its own.
                    if n == 1
                        && window[0].script == Script::Han
                        && window[0].lower.chars().count() < 2
                    {
                        continue;
                    }
                    key.clear();
                    for (k, w) in window.iter().enumerate() {
                        if k > 0 {
                            key.push(' ');
                        }
                        key.push_str(w.term.as_str());
                    }
                    if only.is_some_and(|keys| !keys.contains(key.as_str())) {
                        continue;
                    }
                    let id = self.phrase_id(&key, window[0].script == Script::Han, phrase_ids);
                    let p = &mut self.phrases[id as usize];
                    if is_claimed {
                        p.covered = true;
                    } else {
                        p.unthemed = true;
                    }
                    grams.push((
                        id,
                        (window[0].start - base) as u32,
                        (window[n - 1].end - base) as u32,
                    ));
                }
            }
            first = last;
            if self.negative && !is_claimed && !grams.is_empty() {
                self.sentences.push(KeptSentence {
                    text: raw.trim().to_string(),
                    grams: std::mem::take(&mut grams),
                });
            }
        }
    }

    /// Index in `self.phrases` of the phrase `key`, added when new.
    /// `phrase_ids` is keyed by the key's hash; the key is compared, so two
    /// keys with one hash stay apart (the later one found by a scan).
    fn phrase_id(&mut self, key: &str, zh: bool, phrase_ids: &mut FxHashMap<u64, u32>) -> u32 {
        let hash = FxBuildHasher.hash_one(key);
        match phrase_ids.get(&hash) {
            Some(&id) if self.phrases[id as usize].key == key => return id,
            Some(_) => {
                if let Some(id) = self.phrases.iter().position(|p| p.key == key) {
                    return id as u32;
                }
            }
            None => {
                phrase_ids.insert(hash, self.phrases.len() as u32);
            }
        }
        self.phrases.push(RecordPhrase {
            key: key.to_string(),
            zh,
            covered: false,
            unthemed: false,
        });
        (self.phrases.len() - 1) as u32
    }

    /// Whether the record's sentences are kept for grouping and quotes.
    pub fn kept(&self) -> bool {
        self.negative && !self.sentences.is_empty()
    }
}

/// The phrase table of one index segment's records and the documents whose
/// sentences are kept ([`RecordPhrases::kept`]), cached per segment by
/// [`crate::index::VocIndex::segment_aggregates`]. Near-duplicates are left
/// out, as the summary leaves them out.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SegmentPhrases {
    /// Phrase counts of the segment's live records.
    pub table: PhraseTable,
    /// Documents (in the segment) with kept sentences.
    pub kept_docs: BTreeSet<u32>,
}

impl SegmentPhrases {
    /// Adds the phrases of document `doc`, a record that is not a
    /// near-duplicate ([`RecordPhrases::of`] or [`RecordPhrases::of_words`]).
    pub fn add_phrases(&mut self, doc: u32, phrases: &RecordPhrases) {
        self.table.add(phrases);
        if phrases.kept() {
            self.kept_docs.insert(doc);
        }
    }
}

impl SegmentAggregate for SegmentPhrases {
    const NAME: &'static str = "phrases-v2";

    fn rules() -> u64 {
        *PHRASE_RULES
    }

    fn add(&mut self, doc: u32, stored: &StoredRecord) {
        if stored.record.duplicate_of.is_some() {
            return;
        }
        self.add_phrases(doc, &RecordPhrases::of(stored));
    }

    fn remove(&mut self, doc: u32, stored: &StoredRecord) -> bool {
        if stored.record.duplicate_of.is_some() {
            return true;
        }
        self.table.remove(&RecordPhrases::of(stored));
        self.kept_docs.remove(&doc);
        true
    }

    fn merge(&mut self, other: SegmentPhrases) {
        self.table.merge(other.table);
        self.kept_docs.extend(other.kept_docs);
    }

    fn renumber(&mut self, new_doc: &dyn Fn(u32) -> Option<u32>) -> bool {
        match self.kept_docs.iter().map(|&d| new_doc(d)).collect() {
            Some(kept) => {
                self.kept_docs = kept;
                true
            }
            None => false,
        }
    }
}

/// Accumulates records' phrases; see the module docs.
#[derive(Default)]
pub struct Discovery {
    table: PhraseTable,
    kept: VecDeque<RecordPhrases>,
}

impl Discovery {
    /// Counts one record's phrases.
    pub fn add(&mut self, stored: &StoredRecord) {
        let phrases = RecordPhrases::of(stored);
        self.table.add(&phrases);
        self.keep(phrases);
    }

    /// Discovery from the phrase table of the records and the phrases of
    /// the latest of them that are kept (see [`RecordPhrases::kept`]), in
    /// order: the same as adding the records one by one.
    pub fn from_parts(table: PhraseTable, kept: impl IntoIterator<Item = RecordPhrases>) -> Self {
        let mut d = Discovery {
            table,
            kept: VecDeque::new(),
        };
        for record in kept {
            d.keep(record);
        }
        d
    }

    fn keep(&mut self, mut record: RecordPhrases) {
        if !record.kept() {
            return;
        }
        if self.kept.len() == MAX_KEPT {
            self.kept.pop_front();
        }
        // Only the phrases of the kept sentences are looked up later.
        for p in &mut record.phrases {
            if !p.unthemed {
                p.key = String::new();
            }
        }
        self.kept.push_back(record);
    }

    /// The suggested themes, strongest first.
    pub fn finish(self) -> Vec<UnmappedCandidate> {
        let table = &self.table;
        let candidates = table.candidates();

        // Records (in the kept window) of each candidate.
        let candidate_set: HashSet<&str> = candidates.iter().map(|c| c.0).collect();
        let mut postings: HashMap<&str, HashSet<usize>> = HashMap::new();
        for (r, kept) in self.kept.iter().enumerate() {
            for sentence in &kept.sentences {
                for &(g, _, _) in &sentence.grams {
                    let key = kept.phrases[g as usize].key.as_str();
                    if candidate_set.contains(key) {
                        postings.entry(key).or_default().insert(r);
                    }
                }
            }
        }

        let mut used: HashSet<&str> = HashSet::new();
        let mut out = Vec::new();
        for &(seed, s) in &candidates {
            if used.contains(seed) || out.len() == MAX_CANDIDATES {
                continue;
            }
            let Some(seed_records) = postings.get(seed) else {
                continue;
            };
            // Group: candidates whose records mostly overlap the seed's.
            let mut group = vec![(seed, s)];
            for &(other, o) in &candidates {
                if other == seed || used.contains(other) {
                    continue;
                }
                let Some(records) = postings.get(other) else {
                    continue;
                };
                let overlap = records.intersection(seed_records).count();
                if overlap * 2 >= records.len().min(seed_records.len()) && overlap >= 2 {
                    group.push((other, o));
                }
            }
            used.extend(group.iter().map(|g| g.0));
            let surfaces: Vec<(String, bool)> = group
                .iter()
                .map(|&(key, c)| (self.surface(key), c.zh))
                .collect();
            let label = surfaces[0].0.clone();
            let phrases = dedup_contained(surfaces.iter().map(|s| s.0.clone()).collect());
            out.push(UnmappedCandidate {
                toml: toml_snippet(&label, &surfaces, out.len() + 1),
                label,
                phrases,
                records: s.negative,
                negative_share: round2(s.negative as f64 / (s.negative + s.other).max(1) as f64),
                score: round2(table.z(s)),
                lift: round2(table.lift(s)),
                quotes: self.quotes_for(seed),
            });
        }
        out
    }

    /// The sentences of the kept records using a phrase, latest record first,
    /// as (record, sentence, byte range of the phrase).
    fn uses<'a>(
        &'a self,
        key: &'a str,
    ) -> impl Iterator<Item = (&'a RecordPhrases, &'a KeptSentence, u32, u32)> + 'a {
        self.kept.iter().rev().filter_map(move |kept| {
            kept.sentences.iter().find_map(|sentence| {
                sentence
                    .grams
                    .iter()
                    .find(|&&(g, _, _)| kept.phrases[g as usize].key == key)
                    .map(|&(_, s, e)| (kept, sentence, s, e))
            })
        })
    }

    /// The phrase as customers wrote it (lowercase): its first use in the
    /// latest kept record that has it.
    fn surface(&self, key: &str) -> String {
        self.uses(key)
            .next()
            .and_then(|(_, sentence, s, e)| sentence.text.get(s as usize..e as usize))
            .map(str::to_lowercase)
            .unwrap_or_else(|| key.to_string())
    }

    fn quotes_for(&self, key: &str) -> Vec<UnmappedQuote> {
        let mut quotes: Vec<UnmappedQuote> = Vec::new();
        for (kept, sentence, _, _) in self.uses(key) {
            if quotes.iter().any(|q| q.text == sentence.text) {
                continue;
            }
            quotes.push(UnmappedQuote {
                id: kept.id.clone(),
                source: kept.source.clone(),
                text: shorten(&sentence.text, 200),
            });
            if quotes.len() == 3 {
                break;
            }
        }
        quotes
    }
}

/// z-score of the log-odds ratio of a phrase's presence in negative against
/// other records, with an informative prior: each count is shrunk towards the
/// phrase's overall rate `p = (neg + other) / (neg_total + other_total)` by
/// `prior` pseudo-records (`prior × p` with the phrase, `prior × (1 - p)`
/// without). With `a = neg + prior·p`, `b = neg_total - neg + prior·(1-p)`
/// and `c`, `d` the same for the other records:
/// `z = (ln(a/b) - ln(c/d)) / sqrt(1/a + 1/b + 1/c + 1/d)`.
pub fn log_odds_z(neg: u64, neg_total: u64, other: u64, other_total: u64, prior: f64) -> f64 {
    let total = (neg_total + other_total) as f64;
    if total == 0.0 {
        return 0.0;
    }
    let p = (neg + other) as f64 / total;
    let a = neg as f64 + prior * p;
    let b = neg_total.saturating_sub(neg) as f64 + prior * (1.0 - p);
    let c = other as f64 + prior * p;
    let d = other_total.saturating_sub(other) as f64 + prior * (1.0 - p);
    if a <= 0.0 || b <= 0.0 || c <= 0.0 || d <= 0.0 {
        return 0.0;
    }
    ((a / b).ln() - (c / d).ln()) / (1.0 / a + 1.0 / b + 1.0 / c + 1.0 / d).sqrt()
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Drops phrases contained in a longer phrase of the group.
fn dedup_contained(mut phrases: Vec<String>) -> Vec<String> {
    let first = phrases.first().cloned();
    phrases.sort_by_key(|p| std::cmp::Reverse(p.chars().count()));
    let mut kept: Vec<String> = Vec::new();
    for p in phrases {
        if !kept.iter().any(|k| k.contains(p.as_str())) {
            kept.push(p);
        }
    }
    // Leading phrase first.
    if let Some(f) = first {
        if let Some(pos) = kept.iter().position(|k| k.contains(f.as_str())) {
            let lead = kept.remove(pos);
            kept.insert(0, lead);
        }
    }
    kept.truncate(8);
    kept
}

fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

fn slug(text: &str, n: usize) -> String {
    let s: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    let s = s
        .split('_')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("_");
    if s.is_empty() {
        format!("new_theme_{n}")
    } else {
        s
    }
}

fn toml_quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

fn toml_snippet(label: &str, group: &[(String, bool)], n: usize) -> String {
    let quoted = |zh: bool| -> Vec<String> {
        group
            .iter()
            .filter(|s| s.1 == zh)
            .map(|s| toml_quote(&s.0))
            .collect()
    };
    let (en, zh) = (quoted(false), quoted(true));
    format!(
        "[[theme]]\nid = \"{}\"\nname = {}\nen = [{}]\nzh = [{}]\n",
        slug(label, n),
        toml_quote(label),
        en.join(", "),
        zh.join(", ")
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::analyze::{Analysis, Sentiment};
    use crate::record::Record;
    use crate::text::Lang;

    /// A stored English ticket with this text and sentiment score, created at 0.
    pub(crate) fn stored(id: usize, text: &str, score: f64) -> StoredRecord {
        StoredRecord {
            record: Record {
                id: id.to_string(),
                source: "t".into(),
                created_at: Some(0),
                text: text.into(),
                lang: Lang::En,
                ..Record::default()
            },
            analysis: Analysis {
                lang: Lang::En,
                text_sentiment: Sentiment::from_score(score),
                sentiment: Sentiment::from_score(score),
                themes: vec![],
                signals: vec![],
            },
        }
    }

    #[test]
    fn an_uncovered_complaint_becomes_a_candidate_with_a_snippet() {
        let mut d = Discovery::default();
        for i in 0..8 {
            d.add(&stored(
                i,
                &format!("My reward points expired without warning, case {i}."),
                -0.6,
            ));
        }
        for i in 0..8 {
            d.add(&stored(100 + i, "Great blender, works well.", 0.7));
        }
        for i in 0..4 {
            d.add(&stored(200 + i, "The blender is loud and awful.", -0.5));
        }
        let found = d.finish();
        assert!(!found.is_empty());
        let first = &found[0];
        assert!(
            first.phrases.iter().any(|p| p.contains("points")),
            "{first:?}"
        );
        assert_eq!(first.records, 8);
        assert!(first.toml.starts_with("[[theme]]\nid = \""));
        assert!(!first.quotes.is_empty());
        // The snippet parses as a taxonomy.
        crate::analyze::Taxonomy::parse(&first.toml, "snippet").unwrap();
    }

    #[test]
    fn phrases_added_owned_count_as_added_by_reference() {
        let records: Vec<RecordPhrases> = (0..12)
            .map(|i| match i % 3 {
                0 => stored(i, "Reward points expired again. 积分过期了！", -0.6),
                1 => stored(i, "The blender lid cracked. Points expired too.", -0.5),
                _ => stored(i, "Great blender, works well.", 0.7),
            })
            .map(|r| RecordPhrases::of(&r))
            .collect();
        let (mut by_ref, mut owned) = (PhraseTable::default(), PhraseTable::default());
        for r in records {
            by_ref.add(&r);
            owned.add_owned(r);
        }
        assert!(by_ref.len() > 3, "{by_ref:?}");
        assert_eq!(owned, by_ref);
    }

    #[test]
    fn kept_records_with_only_the_candidates_phrases_give_the_same_themes() {
        let records: Vec<StoredRecord> = (0..40)
            .map(|i| match i % 4 {
                0 => stored(i, &format!("Reward points expired again, case {i}."), -0.6),
                1 => stored(i, "The blender lid cracked. Points expired too.", -0.5),
                2 => stored(i, "Great blender, works well.", 0.7),
                _ => stored(i, "My voucher code was rejected at checkout.", -0.7),
            })
            .collect();
        let mut table = PhraseTable::default();
        let full: Vec<RecordPhrases> = records.iter().map(RecordPhrases::of).collect();
        for r in &full {
            table.add(r);
        }
        let keys = table.candidate_keys();
        assert!(keys.contains("point expir"), "{keys:?}");
        let only: Vec<RecordPhrases> = records
            .iter()
            .map(|r| RecordPhrases::of_candidates(r, &keys))
            .collect();
        // Fewer phrases, each one a candidate.
        assert!(only
            .iter()
            .flat_map(|r| &r.phrases)
            .all(|p| keys.contains(&p.key)));
        assert!(
            only.iter().map(|r| r.phrases.len()).sum::<usize>()
                < full.iter().map(|r| r.phrases.len()).sum::<usize>()
        );
        let expected = Discovery::from_parts(table.clone(), full).finish();
        assert!(!expected.is_empty());
        assert_eq!(Discovery::from_parts(table, only).finish(), expected);
    }

    #[test]
    fn rare_or_balanced_phrases_are_not_candidates() {
        let mut d = Discovery::default();
        for i in 0..3 {
            d.add(&stored(i, "The widget hinge squeaks.", -0.6));
        }
        for i in 0..10 {
            d.add(&stored(10 + i, "Shipping box was fine.", -0.4));
            d.add(&stored(30 + i, "Shipping box was fine.", 0.4));
        }
        let found = d.finish();
        assert!(
            found.iter().all(|c| !c.label.contains("hinge")),
            "{found:?}"
        );
        assert!(
            found.iter().all(|c| !c.label.contains("shipping box")),
            "{found:?}"
        );
    }

    #[test]
    fn log_odds_z_matches_hand_computation() {
        // 8 of 10 negative records and 2 of 10 others: p = 0.5, prior 10 →
        // a = 13, b = 7, c = 7, d = 13; z = 2 ln(13/7) / sqrt(2/13 + 2/7).
        let z = log_odds_z(8, 10, 2, 10, 10.0);
        assert!((z - 1.867_406_444).abs() < 1e-6, "{z}");
        // No contrast, no score; fewer in negative records, a negative score.
        assert!(log_odds_z(5, 10, 5, 10, 10.0).abs() < 1e-12);
        assert!(log_odds_z(1, 10, 6, 10, 10.0) < 0.0);
        assert_eq!(log_odds_z(0, 0, 0, 0, 10.0), 0.0);
    }

    /// A stored record with a theme claiming its whole text.
    fn themed(id: usize, text: &str, score: f64) -> StoredRecord {
        let mut r = stored(id, text, score);
        r.analysis.themes.push(crate::analyze::ThemeHit {
            id: "app_site.bug".into(),
            name: "Bugs".into(),
            sentiment: score,
            cues: vec![],
            spans: vec![(0, text.len() as u32)],
        });
        r
    }

    #[test]
    fn phrases_mostly_covered_by_themes_and_noise_words_are_not_candidates() {
        let mut d = Discovery::default();
        // "update" is mostly used where a theme already matched.
        for i in 0..12 {
            d.add(&themed(i, "The app is broken since the update", -0.6));
        }
        for i in 0..6 {
            d.add(&stored(
                20 + i,
                &format!("Awful. The update. What happened to 20 euros {i}?"),
                -0.6,
            ));
        }
        for i in 0..8 {
            d.add(&stored(40 + i, "Lovely blender, really happy.", 0.7));
        }
        let found = d.finish();
        for noise in ["update", "happened", "euros"] {
            assert!(
                found
                    .iter()
                    .all(|c| c.phrases.iter().all(|p| !p.contains(noise))),
                "{noise} in {found:?}"
            );
        }
    }

    #[test]
    fn chinese_phrases_are_found() {
        let mut d = Discovery::default();
        for i in 0..6 {
            d.add(&stored(
                i,
                &format!("我的积分突然清零了，没有任何通知{i}。"),
                -0.6,
            ));
        }
        for i in 0..6 {
            d.add(&stored(50 + i, "东西很好，很喜欢。", 0.8));
        }
        let found = d.finish();
        assert!(
            found
                .iter()
                .any(|c| c.phrases.iter().any(|p| p.contains("积分"))),
            "{found:?}"
        );
    }

    /// The phrases of a record without the per-thread buffers and stop-word
    /// flags: a fresh tokenize, each word's flag looked up.
    fn reference(stored: &StoredRecord, only: Option<&HashSet<String>>) -> RecordPhrases {
        let mut out = RecordPhrases::empty(&stored.record, &stored.analysis);
        let text = stored.record.full_text();
        let claimed = claimed_spans(&stored.analysis);
        let words = crate::text::tokenize(&text);
        let stop: Vec<bool> = words.iter().map(is_stopword).collect();
        let mut ids = FxHashMap::default();
        out.add_sentences(&text, &claimed, &words, &stop, &mut ids, only);
        out
    }

    #[test]
    fn phrase_ids_keep_keys_with_one_hash_apart() {
        let mut out = RecordPhrases {
            id: "1".into(),
            source: "t".into(),
            negative: true,
            phrases: Vec::new(),
            sentences: Vec::new(),
        };
        let mut ids = FxHashMap::default();
        assert_eq!(out.phrase_id("refund", false, &mut ids), 0);
        // As if "late" had the hash of "refund".
        ids.insert(FxBuildHasher.hash_one("late"), 0);
        assert_eq!(out.phrase_id("late", false, &mut ids), 1);
        assert_eq!(out.phrase_id("late", false, &mut ids), 1);
        assert_eq!(out.phrase_id("refund", false, &mut ids), 0);
        assert_eq!(out.phrases.len(), 2);
        assert_eq!(out.phrases[1].key, "late");
    }

    fn analyzed(id: usize, text: &str) -> StoredRecord {
        let analyzer = crate::analyze::Analyzer::new(
            crate::analyze::Taxonomy::default_taxonomy().unwrap(),
            Lexicon::default_lexicon().unwrap(),
        );
        let record = Record {
            id: id.to_string(),
            source: "t".into(),
            text: text.into(),
            lang: crate::text::detect_language(text),
            ..Record::default()
        };
        let analysis = crate::pipeline::analyze_record(&analyzer, &record);
        StoredRecord { record, analysis }
    }

    #[test]
    fn phrases_of_the_analysed_words_equal_those_of_the_stored_record() {
        let texts = [
            "The app crashes every time I open it. Refund took three weeks! Support was rude.",
            "退款一直没有到账，客服态度很差。快递太慢了，包装破损。",
            "我的iPhone订单还没发货. The courier lost my parcel again, 物流太慢!",
            "Great blender, works well. Love it.",
        ];
        let mut duplicate = analyzed(9, texts[0]);
        duplicate.record.duplicate_of = Some("t:0".into());
        let records = texts.iter().enumerate().map(|(i, t)| analyzed(i, t));
        for stored in records.chain([duplicate]) {
            let text = stored.record.full_text();
            let (mut words, mut ids) = (Vec::new(), WordIds::default());
            tokenize_with_ids(&text, &mut words, &mut ids);
            // With the words' ids, and without (generation 0).
            for ids in [ids, WordIds::default()] {
                let got =
                    RecordPhrases::of_words(&stored.record, &stored.analysis, &text, &words, &ids);
                assert_eq!(got, RecordPhrases::of(&stored), "{text}");
                assert_eq!(got.phrases.is_empty(), stored.record.duplicate_of.is_some());
            }
        }
    }

    #[test]
    fn phrases_match_the_reference_in_both_languages_and_across_cache_resets() {
        let texts = [
            "The app crashes every time I open it. Refund took three weeks! Support was rude.",
            "Reward points expired without warning. The blender lid cracked, points expired too.",
            "退款一直没有到账，客服态度很差。快递太慢了，包装破损。",
            "我的iPhone订单还没发货. The courier lost my parcel again, 物流太慢!",
            "Great blender, works well. Love it.",
            "Can't log in since the update; the password reset email never arrives.",
        ];
        let records: Vec<StoredRecord> = texts
            .iter()
            .enumerate()
            .map(|(i, t)| analyzed(i, t))
            .collect();
        let keys: HashSet<String> = ["point expir", "退款", "courier lost", "app crash"]
            .iter()
            .map(|k| k.to_string())
            .collect();
        assert!(records.iter().any(|r| !r.analysis.themes.is_empty()));
        assert!(records
            .iter()
            .any(|r| r.analysis.sentiment.label == Label::Negative));
        // Enough distinct words to make this thread's word cache start
        // afresh (between records and inside one) a few times.
        for round in 0..14 {
            let filler: String = (0..5_000).map(|i| format!("zq{round}x{i} ")).collect();
            let mut long = stored(
                99,
                &format!("Refund zq{round}x0 never came. {filler}"),
                -0.6,
            );
            long.record.lang = crate::text::Lang::En;
            for r in records.iter().chain([&long]) {
                let got = RecordPhrases::of(r);
                assert_eq!(got, reference(r, None), "{}", r.record.text);
                assert!(!got.phrases.is_empty());
                assert_eq!(
                    RecordPhrases::of_candidates(r, &keys),
                    reference(r, Some(&keys))
                );
            }
        }
    }
}
