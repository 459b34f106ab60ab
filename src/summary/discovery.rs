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
//! that something went wrong, not what. Candidates are ranked by the z-score;
//! candidates that occur in the same records are grouped into one suggested
//! theme, with example quotes and a TOML snippet ready to paste into the
//! taxonomy.
//!
//! Memory is bounded: phrase counts are pruned when the table grows past
//! [`MAX_PHRASES`], and the sentences kept for grouping and quotes are those
//! of the latest [`MAX_KEPT`] negative records.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::LazyLock;

use serde::Serialize;

use crate::analyze::{Label, Lexicon};
use crate::index::StoredRecord;
use crate::text::{split_sentences, tokenize, Script, Word};

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
const MAX_PHRASES: usize = 400_000;
const MAX_KEPT: usize = 20_000;

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
    "said",
    "tell",
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

/// Function words, generic support words, and sentiment words: they say how
/// or that something went wrong, not what.
/// Both stopword lists, hashed: this check runs for every word of every
/// record in each report.
static STOPWORDS: LazyLock<HashSet<&'static str>> =
    LazyLock::new(|| EN_STOPWORDS.iter().chain(ZH_STOPWORDS).copied().collect());

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

#[derive(Default)]
struct PhraseStats {
    negative: u64,
    other: u64,
    /// Records using the phrase in a sentence a theme claimed.
    covered: u64,
    /// Records using the phrase in any sentence.
    anywhere: u64,
    surface: String,
    zh: bool,
}

struct Kept {
    id: String,
    source: String,
    sentences: Vec<(String, Vec<u32>)>,
}

/// Accumulates unthemed sentences; see the module docs.
#[derive(Default)]
pub struct Discovery {
    ids: HashMap<String, u32>,
    stats: Vec<PhraseStats>,
    negative_records: u64,
    other_records: u64,
    kept: VecDeque<Kept>,
}

impl Discovery {
    /// Counts one record's unthemed sentences.
    pub fn add(&mut self, stored: &StoredRecord) {
        let text = stored.record.full_text();
        let negative = stored.analysis.sentiment.label == Label::Negative;
        let claimed: Vec<(u32, u32)> = stored
            .analysis
            .themes
            .iter()
            .flat_map(|t| t.spans.iter().copied())
            .collect();
        let words = tokenize(&text);
        let mut seen: HashSet<u32> = HashSet::new();
        let mut covered: HashSet<u32> = HashSet::new();
        let mut used: HashSet<u32> = HashSet::new();
        let mut kept_sentences = Vec::new();
        for span in split_sentences(&text) {
            let is_claimed = claimed
                .iter()
                .any(|&(s, e)| s as usize == span.start && e as usize == span.end);
            let sentence_words: Vec<&Word> = words
                .iter()
                .filter(|w| w.start >= span.start && w.end <= span.end)
                .collect();
            let grams = self.grams(&text, &sentence_words);
            for &g in &grams {
                if used.insert(g) {
                    self.stats[g as usize].anywhere += 1;
                }
            }
            if is_claimed {
                for &g in &grams {
                    if covered.insert(g) {
                        self.stats[g as usize].covered += 1;
                    }
                }
                continue;
            }
            for &g in &grams {
                if seen.insert(g) {
                    let s = &mut self.stats[g as usize];
                    if negative {
                        s.negative += 1;
                    } else {
                        s.other += 1;
                    }
                }
            }
            if negative && !grams.is_empty() {
                kept_sentences.push((text[span.start..span.end].trim().to_string(), grams));
            }
        }
        if negative {
            self.negative_records += 1;
            if !kept_sentences.is_empty() {
                if self.kept.len() == MAX_KEPT {
                    self.kept.pop_front();
                }
                self.kept.push_back(Kept {
                    id: stored.record.id.clone(),
                    source: stored.record.source.clone(),
                    sentences: kept_sentences,
                });
            }
        } else {
            self.other_records += 1;
        }
        if self.ids.len() > MAX_PHRASES {
            self.prune();
        }
    }

    /// The phrases (1 to 3 words, not starting or ending with a stop word) of one sentence.
    fn grams(&mut self, text: &str, sentence_words: &[&Word]) -> Vec<u32> {
        let mut grams = Vec::new();
        for n in 1..=3 {
            for window in sentence_words.windows(n) {
                if is_stopword(window[0]) || is_stopword(window[n - 1]) {
                    continue;
                }
                // A Chinese single character says little on its own.
                if n == 1 && window[0].script == Script::Han && window[0].lower.chars().count() < 2
                {
                    continue;
                }
                let key: Vec<&str> = window.iter().map(|w| w.term.as_str()).collect();
                let key = key.join(" ");
                let id = self.intern(
                    &key,
                    &text[window[0].start..window[n - 1].end],
                    window[0].script == Script::Han,
                );
                grams.push(id);
            }
        }
        grams
    }

    fn intern(&mut self, key: &str, surface: &str, zh: bool) -> u32 {
        if let Some(&id) = self.ids.get(key) {
            return id;
        }
        let id = self.stats.len() as u32;
        self.ids.insert(key.to_string(), id);
        self.stats.push(PhraseStats {
            surface: surface.to_lowercase(),
            zh,
            ..Default::default()
        });
        id
    }

    /// Drops phrases seen in a single negative record: they cannot become
    /// candidates soon. Ids stay valid (their counts are zeroed).
    fn prune(&mut self) {
        let stats = &mut self.stats;
        self.ids.retain(|_, id| {
            let s = &mut stats[*id as usize];
            let keep = s.negative > 1;
            if !keep {
                *s = PhraseStats {
                    surface: std::mem::take(&mut s.surface),
                    zh: s.zh,
                    ..PhraseStats::default()
                };
            }
            keep
        });
    }

    fn lift(&self, s: &PhraseStats) -> f64 {
        let neg = (s.negative as f64 + 1.0) / (self.negative_records as f64 + 1.0);
        let other = (s.other as f64 + 1.0) / (self.other_records as f64 + 1.0);
        neg / other
    }

    /// z-score of the phrase's log-odds ratio; see [`log_odds_z`].
    fn z(&self, s: &PhraseStats) -> f64 {
        log_odds_z(
            s.negative,
            self.negative_records,
            s.other,
            self.other_records,
            PRIOR_RECORDS,
        )
    }

    /// The suggested themes, strongest first.
    pub fn finish(self) -> Vec<UnmappedCandidate> {
        let mut candidates: Vec<u32> = (0..self.stats.len() as u32)
            .filter(|&g| {
                let s = &self.stats[g as usize];
                s.negative >= MIN_RECORDS
                    && s.negative as f64 >= MIN_NEGATIVE_SHARE * (s.negative + s.other) as f64
                    && (s.covered as f64) < MAX_COVERED_SHARE * s.anywhere as f64
                    && self.z(s) >= MIN_Z
            })
            .collect();
        let score = |g: u32| self.z(&self.stats[g as usize]);
        candidates.sort_by(|&a, &b| {
            score(b).total_cmp(&score(a)).then(
                self.stats[a as usize]
                    .surface
                    .cmp(&self.stats[b as usize].surface),
            )
        });
        candidates.truncate(200);

        // Records (in the kept window) of each candidate.
        let candidate_set: HashSet<u32> = candidates.iter().copied().collect();
        let mut postings: HashMap<u32, HashSet<usize>> = HashMap::new();
        for (r, kept) in self.kept.iter().enumerate() {
            for (_, grams) in &kept.sentences {
                for g in grams {
                    if candidate_set.contains(g) {
                        postings.entry(*g).or_default().insert(r);
                    }
                }
            }
        }

        let mut used: HashSet<u32> = HashSet::new();
        let mut out = Vec::new();
        for &seed in &candidates {
            if used.contains(&seed) || out.len() == MAX_CANDIDATES {
                continue;
            }
            let Some(seed_records) = postings.get(&seed) else {
                continue;
            };
            // Group: candidates whose records mostly overlap the seed's.
            let mut group = vec![seed];
            for &other in &candidates {
                if other == seed || used.contains(&other) {
                    continue;
                }
                let Some(records) = postings.get(&other) else {
                    continue;
                };
                let overlap = records.intersection(seed_records).count();
                if overlap * 2 >= records.len().min(seed_records.len()) && overlap >= 2 {
                    group.push(other);
                }
            }
            used.extend(group.iter().copied());
            let phrases: Vec<String> = dedup_contained(
                group
                    .iter()
                    .map(|&g| self.stats[g as usize].surface.clone())
                    .collect(),
            );
            let quotes = self.quotes_for(seed);
            let s = &self.stats[seed as usize];
            out.push(UnmappedCandidate {
                label: s.surface.clone(),
                toml: toml_snippet(
                    &s.surface,
                    &group
                        .iter()
                        .map(|&g| &self.stats[g as usize])
                        .collect::<Vec<_>>(),
                    out.len() + 1,
                ),
                phrases,
                records: s.negative,
                negative_share: round2(s.negative as f64 / (s.negative + s.other).max(1) as f64),
                score: round2(self.z(s)),
                lift: round2(self.lift(s)),
                quotes,
            });
        }
        out
    }

    fn quotes_for(&self, gram: u32) -> Vec<UnmappedQuote> {
        let mut quotes: Vec<UnmappedQuote> = Vec::new();
        for kept in self.kept.iter().rev() {
            if let Some((text, _)) = kept.sentences.iter().find(|(_, g)| g.contains(&gram)) {
                if quotes.iter().any(|q| q.text == *text) {
                    continue;
                }
                quotes.push(UnmappedQuote {
                    id: kept.id.clone(),
                    source: kept.source.clone(),
                    text: shorten(text, 200),
                });
                if quotes.len() == 3 {
                    break;
                }
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

fn toml_snippet(label: &str, group: &[&PhraseStats], n: usize) -> String {
    let en: Vec<String> = group
        .iter()
        .filter(|s| !s.zh)
        .map(|s| toml_quote(&s.surface))
        .collect();
    let zh: Vec<String> = group
        .iter()
        .filter(|s| s.zh)
        .map(|s| toml_quote(&s.surface))
        .collect();
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
}
