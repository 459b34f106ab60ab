//! What the summary builder accumulates over records, in a form that adds,
//! takes out and merges exactly, so that it can be kept per index segment
//! and cached like the phrase tables (see `index::cache`): a nightly run then
//! reads only the records of new segments and those deleted since.
//!
//! Exactness, whatever the order of adding, merging and removing:
//!
//! - counts add and subtract;
//! - sentiment scores and mention sentiments are rounded to 4 decimals at
//!   analysis, so their sums are kept as integers of 1/10,000; ratings and
//!   CES answers as integers of 1/1,000,000 (a rating with more decimals
//!   than that is counted rounded to them);
//! - service times are kept as multisets (value, count), for medians;
//! - each record's creation time and themes are kept in flat arrays by
//!   document number (no allocation per record), for the series anchored at
//!   the summary's `as_of`; a removed record is marked, not moved;
//! - quote pools keep every candidate better than their *cut* (the best
//!   candidate ever dropped from the pool) under a strict total order
//!   (length penalty, sentiment, record key), so the best
//!   [`QUOTE_POOL`] of the union of two pools are in the merged pool. A
//!   removed pool member leaves the pool; when fewer than [`QUOTE_POOL`]
//!   members better than the cut remain, the pool can no longer say which
//!   are the best, and [`SummaryTally::remove`] says so (the cache then
//!   rebuilds the segment from its stored records).
//!
//! Theme ids are kept as strings and mapped to the taxonomy when the summary
//! is built, so a tally does not depend on the taxonomy it is read with.

use std::collections::HashMap;
use std::sync::LazyLock;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{quote_length_penalty, quote_text, QUOTE_POOL};
use crate::analyze::{Analysis, Label};
use crate::index::{SegmentAggregate, StoredRecord};
use crate::record::Record;

/// Units of sentiment sums (scores are rounded to 4 decimals at analysis).
pub(crate) const SCORE_UNITS: f64 = 10_000.0;
/// Units of rating and CES sums.
pub(crate) const ANSWER_UNITS: f64 = 1_000_000.0;
/// Candidates a pool keeps when it is cut (more than [`QUOTE_POOL`], so
/// that removing some members still leaves the best [`QUOTE_POOL`] known).
const POOL_KEEP: usize = 2 * QUOTE_POOL;
/// A record without a creation date, in [`RecordThemes::created`].
const UNDATED: i64 = i64::MIN;
/// A record taken out, in [`RecordThemes::created`].
const REMOVED: i64 = i64::MIN + 1;
/// Flag of a negative mention in [`RecordThemes::themes`].
const NEGATIVE: u32 = 1 << 31;

/// The local theme id of an entry of [`RecordThemes::iter`].
pub(crate) fn local_id(entry: u32) -> usize {
    (entry & !NEGATIVE) as usize
}

/// Whether an entry of [`RecordThemes::iter`] is a negative mention.
pub(crate) fn is_negative(entry: u32) -> bool {
    entry & NEGATIVE != 0
}

/// `x` in integer `units` (exact for values with that many decimals).
pub(crate) fn to_units(x: f64, units: f64) -> i64 {
    (x * units).round() as i64
}

/// A quote candidate: one theme mention of one record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Candidate {
    /// Record key (unique among live records).
    pub key: String,
    pub id: String,
    pub source: String,
    pub text: String,
    pub sentiment: f64,
    /// [`quote_length_penalty`] of `text`, computed once: pools are sorted
    /// often and counting characters in every comparison was most of it.
    pub penalty: u8,
}

/// The order of a pool: length penalty, then sentiment (lowest first for
/// the low pool, highest first for the high one), then record key and
/// text. Strict and total, so the best of a set does not depend on the
/// order of adding.
pub(crate) fn better(high: bool, a: &Candidate, b: &Candidate) -> std::cmp::Ordering {
    ranked(high, &a.view(), &b.view())
}

/// [`better`] on borrowed candidates.
fn ranked(high: bool, a: &CandidateView<'_>, b: &CandidateView<'_>) -> std::cmp::Ordering {
    let score = |c: &CandidateView<'_>| if high { -c.sentiment } else { c.sentiment };
    a.penalty
        .cmp(&b.penalty)
        .then(score(a).total_cmp(&score(b)))
        .then(a.key.cmp(b.key))
        // Two mentions of one record (the same theme twice) differ here.
        .then(a.text.cmp(b.text))
}

/// The fields of a [`Candidate`] that order it, borrowed: a record's
/// mention is compared with the pools' cuts before it is copied into one.
struct CandidateView<'a> {
    key: &'a str,
    text: &'a str,
    sentiment: f64,
    penalty: u8,
}

impl Candidate {
    fn view(&self) -> CandidateView<'_> {
        CandidateView {
            key: &self.key,
            text: &self.text,
            sentiment: self.sentiment,
            penalty: self.penalty,
        }
    }
}

/// A bounded pool of quote candidates; see the module docs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Pool {
    /// Highest sentiment first (else lowest first).
    high: bool,
    members: Vec<Candidate>,
    /// The best candidate dropped so far: every candidate better than it is
    /// a member. None: no candidate was ever dropped.
    cut: Option<Candidate>,
}

impl Pool {
    /// An empty pool, best first by lowest or highest sentiment.
    pub fn new(high: bool) -> Pool {
        Pool {
            high,
            ..Pool::default()
        }
    }

    /// Whether a candidate may be among the best: not worse than the cut.
    /// One that is would only be dropped at the next cut (every candidate
    /// better than the cut is a member), so it is not pushed; most of a
    /// large segment's mentions are, and pushing them (copies, and a sort
    /// every [`QUOTE_POOL`] pushes) was most of a tally's cost. (After
    /// removals a pool may hold fewer than [`POOL_KEEP`] members better
    /// than its cut, and a skipped candidate might have stayed a member;
    /// but it could only be among the best [`QUOTE_POOL`] when fewer than
    /// that remain better than the cut, which `remove` reports as inexact.)
    fn admits(&self, c: &CandidateView<'_>) -> bool {
        self.cut
            .as_ref()
            .is_none_or(|cut| ranked(self.high, c, &cut.view()).is_le())
    }

    /// Whether a candidate of this sentiment may be admitted: false when
    /// it is worse than the cut whatever its text (the cut has no length
    /// penalty, and a lower sentiment in the low pool, a higher one in the
    /// high pool).
    fn hopeful(&self, sentiment: f64) -> bool {
        let score = |s: f64| if self.high { -s } else { s };
        self.cut.as_ref().is_none_or(|cut| {
            cut.penalty != 0 || score(sentiment).total_cmp(&score(cut.sentiment)).is_le()
        })
    }

    fn push(&mut self, c: Candidate) {
        self.members.push(c);
        if self.members.len() >= POOL_KEEP + QUOTE_POOL {
            self.cut_to(POOL_KEEP);
        }
    }

    /// Sorts best first and drops the members past `keep`, moving the cut.
    fn cut_to(&mut self, keep: usize) {
        let high = self.high;
        self.members.sort_by(|a, b| better(high, a, b));
        if self.members.len() <= keep {
            return;
        }
        let dropped = self.members.swap_remove(keep);
        self.members.truncate(keep);
        if self
            .cut
            .as_ref()
            .is_none_or(|cut| better(high, &dropped, cut).is_lt())
        {
            self.cut = Some(dropped);
        }
    }

    fn merge(&mut self, other: Pool) {
        self.members.extend(other.members);
        if let Some(theirs) = other.cut {
            let high = self.high;
            if self
                .cut
                .as_ref()
                .is_none_or(|cut| better(high, &theirs, cut).is_lt())
            {
                self.cut = Some(theirs);
            }
        }
        if self.members.len() >= POOL_KEEP + QUOTE_POOL {
            self.cut_to(POOL_KEEP);
        }
    }

    /// Takes out a candidate; false when the best [`QUOTE_POOL`] are no
    /// longer known.
    fn remove(&mut self, c: &Candidate) -> bool {
        let Some(at) = self.members.iter().position(|m| m == c) else {
            // Not a member: worse than the cut, or never here.
            return true;
        };
        self.members.swap_remove(at);
        match &self.cut {
            None => true,
            Some(cut) => {
                let high = self.high;
                let known = self
                    .members
                    .iter()
                    .filter(|m| better(high, m, cut).is_lt())
                    .count();
                known >= QUOTE_POOL
            }
        }
    }

    /// The best [`QUOTE_POOL`] candidates, best first.
    pub fn best(&self) -> Vec<Candidate> {
        let mut pool = self.clone();
        pool.cut_to(QUOTE_POOL);
        pool.members
    }
}

/// A multiset of floats (service times), kept as counts by value.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Multiset {
    /// Count by `f64::to_bits` of the value.
    counts: HashMap<u64, u64>,
    len: u64,
}

impl Multiset {
    /// Adds one occurrence.
    pub fn add(&mut self, x: f64) {
        *self.counts.entry(x.to_bits()).or_default() += 1;
        self.len += 1;
    }

    /// Takes out one occurrence; false when there is none.
    pub fn remove(&mut self, x: f64) -> bool {
        let bits = x.to_bits();
        let Some(n) = self.counts.get_mut(&bits) else {
            return false;
        };
        *n -= 1;
        if *n == 0 {
            self.counts.remove(&bits);
        }
        self.len -= 1;
        true
    }

    /// Adds every occurrence of `other`.
    pub fn merge(&mut self, other: Multiset) {
        for (bits, n) in other.counts {
            *self.counts.entry(bits).or_default() += n;
        }
        self.len += other.len;
    }

    /// Occurrences.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// The median (mean of the middle two for an even count), rounded to
    /// hundredths; None when empty.
    pub fn median(&self) -> Option<f64> {
        if self.len == 0 {
            return None;
        }
        let mut values: Vec<(f64, u64)> = self
            .counts
            .iter()
            .map(|(&bits, &n)| (f64::from_bits(bits), n))
            .collect();
        values.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
        let nth = |i: u64| {
            let mut seen = 0;
            for &(v, n) in &values {
                seen += n;
                if i < seen {
                    return v;
                }
            }
            values[values.len() - 1].0
        };
        let mid = self.len / 2;
        let m = if self.len % 2 == 1 {
            nth(mid)
        } else {
            (nth(mid - 1) + nth(mid)) / 2.0
        };
        Some(super::service::round2(m))
    }
}

impl Serialize for Multiset {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.counts.iter())
    }
}

impl<'de> Deserialize<'de> for Multiset {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let pairs = Vec::<(u64, u64)>::deserialize(deserializer)?;
        let len = pairs.iter().map(|(_, n)| n).sum();
        Ok(Multiset {
            counts: pairs.into_iter().collect(),
            len,
        })
    }
}

/// One theme's figures over the records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ThemeTally {
    /// Theme id as tagged.
    pub id: String,
    /// Mentions (a record counts once per hit).
    pub records: u64,
    /// Mentions in records labelled negative.
    pub negative: u64,
    /// Sum of the mention sentiments, in [`SCORE_UNITS`].
    pub mention_units: i64,
    /// Sum of the records' scores, in [`SCORE_UNITS`].
    pub score_units: i64,
    /// Count of each matched cue.
    pub cues: HashMap<String, u64>,
    /// Quote candidates, lowest sentiment first.
    pub low: Pool,
    /// Quote candidates, highest sentiment first.
    pub high: Pool,
    /// Minutes to resolution of the records that have one.
    pub resolution: Multiset,
}

impl ThemeTally {
    fn new(id: &str) -> ThemeTally {
        ThemeTally {
            id: id.to_string(),
            records: 0,
            negative: 0,
            mention_units: 0,
            score_units: 0,
            cues: HashMap::new(),
            low: Pool::new(false),
            high: Pool::new(true),
            resolution: Multiset::default(),
        }
    }

    fn merge(&mut self, other: ThemeTally) {
        self.records += other.records;
        self.negative += other.negative;
        self.mention_units += other.mention_units;
        self.score_units += other.score_units;
        for (cue, n) in other.cues {
            *self.cues.entry(cue).or_default() += n;
        }
        self.low.merge(other.low);
        self.high.merge(other.high);
        self.resolution.merge(other.resolution);
    }
}

/// Each record's creation time and themes, in flat arrays.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct RecordThemes {
    /// Document number in the segment (any number outside a segment).
    docs: Vec<u32>,
    /// Creation time, [`UNDATED`] or [`REMOVED`].
    created: Vec<i64>,
    /// End of each record's themes in `themes`.
    ends: Vec<u32>,
    /// Local theme ids, with [`NEGATIVE`] for a negative mention.
    themes: Vec<u32>,
}

impl RecordThemes {
    fn push(&mut self, doc: u32, created: Option<i64>, themes: &[u32]) {
        self.docs.push(doc);
        self.created.push(created.unwrap_or(UNDATED));
        self.themes.extend_from_slice(themes);
        self.ends.push(self.themes.len() as u32);
    }

    /// The live records: creation time and themes (local ids, flagged).
    pub fn iter(&self) -> impl Iterator<Item = (Option<i64>, &[u32])> {
        (0..self.docs.len()).filter_map(move |i| {
            let created = self.created[i];
            if created == REMOVED {
                return None;
            }
            let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
            let themes = &self.themes[start..self.ends[i] as usize];
            Some(((created != UNDATED).then_some(created), themes))
        })
    }

    /// Marks the live record of document `doc` removed; false when there is none.
    fn remove(&mut self, doc: u32) -> bool {
        let live = |i: usize| self.docs[i] == doc && self.created[i] != REMOVED;
        let at = match self.docs.binary_search(&doc) {
            Ok(i) if live(i) => Some(i),
            _ => (0..self.docs.len()).find(|&i| live(i)),
        };
        match at {
            Some(i) => {
                self.created[i] = REMOVED;
                true
            }
            None => false,
        }
    }

    /// Appends `other`, its local theme ids mapped by `map`.
    fn merge(&mut self, other: RecordThemes, map: &[u32]) {
        let base = self.themes.len() as u32;
        self.docs.extend(other.docs);
        self.created.extend(other.created);
        self.ends.extend(other.ends.iter().map(|e| e + base));
        self.themes.extend(
            other
                .themes
                .iter()
                .map(|&t| map[(t & !NEGATIVE) as usize] | (t & NEGATIVE)),
        );
    }

    /// Gives each record its document number in a merged segment
    /// (`new_doc`, in the same order), dropping those removed; false when
    /// one has none.
    fn renumber(&mut self, new_doc: &dyn Fn(u32) -> Option<u32>) -> bool {
        self.sort_by_doc();
        for doc in &mut self.docs {
            match new_doc(*doc) {
                Some(new) => *doc = new,
                None => return false,
            }
        }
        true
    }

    /// Orders the records by document number (for removals) and drops
    /// those removed.
    fn sort_by_doc(&mut self) {
        if self.docs.is_sorted() && !self.created.contains(&REMOVED) {
            return;
        }
        let mut order: Vec<usize> = (0..self.docs.len())
            .filter(|&i| self.created[i] != REMOVED)
            .collect();
        order.sort_by_key(|&i| self.docs[i]);
        let mut sorted = RecordThemes::default();
        for i in order {
            let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
            let created = self.created[i];
            sorted.push(
                self.docs[i],
                (created != UNDATED).then_some(created),
                &self.themes[start..self.ends[i] as usize],
            );
        }
        *self = sorted;
    }
}

/// The per-record arrays of a tally merged with
/// [`SummaryTally::merge_counts`], kept apart from the tally they were
/// merged into: `map` gives the local id there of each of their theme ids.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecordPart {
    pub(crate) records: RecordThemes,
    pub(crate) map: Vec<u32>,
}

impl RecordPart {
    /// The same records after their tally was merged into another with
    /// `map` (its local ids there).
    pub fn remap(&mut self, map: &[u32]) {
        for id in &mut self.map {
            *id = map[*id as usize];
        }
    }

    /// Calls `each` with every live record's creation time and themes, as
    /// local ids of the tally the part was merged into (flagged negative as
    /// in [`RecordThemes::iter`]).
    pub(crate) fn for_each(&self, mut each: impl FnMut(Option<i64>, &[u32])) {
        let mut mapped = Vec::new();
        for (created, themes) in self.records.iter() {
            mapped.clear();
            mapped.extend(
                themes
                    .iter()
                    .map(|&t| self.map[local_id(t)] | (t & NEGATIVE)),
            );
            each(created, &mapped);
        }
    }
}

/// Everything the summary builder accumulates over a set of records (a
/// segment's live records when cached); see the module docs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SummaryTally {
    /// Records counted (near-duplicates apart).
    pub(crate) records: u64,
    /// Near-duplicates (flagged, not counted).
    pub(crate) near_duplicates: u64,
    /// Sum of the record scores, in [`SCORE_UNITS`].
    pub(crate) score_units: i64,
    /// Negative, neutral, positive records.
    pub(crate) sentiment: [u64; 3],
    /// Rated records, sum of ratings in [`ANSWER_UNITS`], ratings of 4 or 5.
    pub(crate) ratings: (u64, i64, u64),
    /// NPS answers, promoters, detractors.
    pub(crate) nps: (u64, u64, u64),
    /// Records by signal id.
    pub(crate) signals: HashMap<String, u64>,
    /// By local theme id.
    pub(crate) themes: Vec<ThemeTally>,
    #[serde(skip)]
    theme_lookup: HashMap<String, u32>,
    /// First response and resolution times, CES.
    pub(crate) service: super::service::ServiceAcc,
    /// Each counted record's creation time and themes.
    pub(crate) per_record: RecordThemes,
}

/// Fingerprint of the code that makes a tally (quote texts, labels).
static TALLY_RULES: LazyLock<u64> =
    LazyLock::new(|| crate::record::fnv1a(env!("CARGO_PKG_VERSION").as_bytes()));

impl SummaryTally {
    /// The local id of a theme, added when new.
    fn theme(&mut self, id: &str) -> u32 {
        if self.theme_lookup.len() != self.themes.len() {
            self.theme_lookup = (0..self.themes.len() as u32)
                .map(|t| (self.themes[t as usize].id.clone(), t))
                .collect();
        }
        if let Some(&t) = self.theme_lookup.get(id) {
            return t;
        }
        let t = self.themes.len() as u32;
        self.themes.push(ThemeTally::new(id));
        self.theme_lookup.insert(id.to_string(), t);
        t
    }

    /// Adds a record (document `doc` of its segment); `sign` is 1 to add
    /// the counts, -1 to take them out. Returns the record's themes, or
    /// None for a near-duplicate.
    fn count(&mut self, record: &Record, analysis: &Analysis, sign: i64) -> Option<Vec<u32>> {
        let step = |n: &mut u64| *n = n.wrapping_add_signed(sign);
        if record.duplicate_of.is_some() {
            step(&mut self.near_duplicates);
            return None;
        }
        step(&mut self.records);
        let score = to_units(analysis.sentiment.score, SCORE_UNITS);
        self.score_units += sign * score;
        step(
            &mut self.sentiment[match analysis.sentiment.label {
                Label::Negative => 0,
                Label::Neutral => 1,
                Label::Positive => 2,
            }],
        );
        if let Some(r) = record.rating {
            step(&mut self.ratings.0);
            self.ratings.1 += sign * to_units(r, ANSWER_UNITS);
            if r >= 4.0 {
                step(&mut self.ratings.2);
            }
        }
        if let Some(n) = record.nps {
            step(&mut self.nps.0);
            if n >= 9 {
                step(&mut self.nps.1);
            } else if n <= 6 {
                step(&mut self.nps.2);
            }
        }
        for signal in &analysis.signals {
            add_count(&mut self.signals, &signal.id, sign);
        }
        let mut themes = Vec::with_capacity(analysis.themes.len());
        for hit in &analysis.themes {
            let t = self.theme(&hit.id);
            // Negative as a record's label is: at or below -NEUTRAL_BAND.
            let negative = Label::of(hit.sentiment) == Label::Negative;
            themes.push(if negative { t | NEGATIVE } else { t });
            let acc = &mut self.themes[t as usize];
            step(&mut acc.records);
            if analysis.sentiment.label == Label::Negative {
                step(&mut acc.negative);
            }
            acc.mention_units += sign * to_units(hit.sentiment, SCORE_UNITS);
            acc.score_units += sign * score;
            for cue in &hit.cues {
                add_count(&mut acc.cues, cue, sign);
            }
        }
        Some(themes)
    }

    /// The quote candidates of a record, by local theme id, with whether
    /// each may be among the best of its theme's low and high pools (see
    /// [`Pool::admits`]); `admitted` says it of a borrowed candidate, and
    /// only those admitted by one pool at least are copied. `hopeful` says
    /// first, from a mention's theme and sentiment alone, whether it can be
    /// admitted at all: the quote text of one that cannot is not made.
    fn candidates<'a>(
        (record, analysis): (&'a Record, &'a Analysis),
        themes: &'a [u32],
        mut hopeful: impl FnMut(u32, f64) -> bool + 'a,
        mut admitted: impl FnMut(u32, &CandidateView<'_>) -> (bool, bool) + 'a,
    ) -> impl Iterator<Item = (u32, Candidate, (bool, bool))> + 'a {
        // Made at the first mention that needs them.
        let (mut full_text, mut key) = (None, None);
        analysis
            .themes
            .iter()
            .zip(themes)
            .filter_map(move |(hit, &t)| {
                let t = t & !NEGATIVE;
                if !hopeful(t, hit.sentiment) {
                    return None;
                }
                let full_text: &String = full_text.get_or_insert_with(|| record.full_text());
                let text = quote_text(full_text, &hit.spans);
                if text.is_empty() {
                    return None;
                }
                let key: &String = key.get_or_insert_with(|| record.key());
                let penalty = quote_length_penalty(&text);
                let view = CandidateView {
                    key,
                    text: &text,
                    sentiment: hit.sentiment,
                    penalty,
                };
                let admits = admitted(t, &view);
                (admits.0 || admits.1).then(|| {
                    (
                        t,
                        Candidate {
                            key: key.clone(),
                            id: record.id.clone(),
                            source: record.source.clone(),
                            penalty,
                            text,
                            sentiment: hit.sentiment,
                        },
                        admits,
                    )
                })
            })
    }

    /// Adds a record, `doc` being its document number in its segment.
    pub fn add_record(&mut self, doc: u32, stored: &StoredRecord) {
        self.add_analysed(doc, &stored.record, &stored.analysis);
    }

    /// [`SummaryTally::add_record`] of a record and its analysis as they
    /// are stored (the ingest tallies a commit's records before storing
    /// them).
    pub fn add_analysed(&mut self, doc: u32, record: &Record, analysis: &Analysis) {
        let Some(themes) = self.count(record, analysis, 1) else {
            return;
        };
        // Collected first: the pools are read while the candidates are made.
        let pools = &self.themes;
        let found: Vec<(u32, Candidate, (bool, bool))> = Self::candidates(
            (record, analysis),
            &themes,
            |t, sentiment| {
                let acc = &pools[t as usize];
                acc.low.hopeful(sentiment) || acc.high.hopeful(sentiment)
            },
            |t, c| {
                let acc = &pools[t as usize];
                (acc.low.admits(c), acc.high.admits(c))
            },
        )
        .collect();
        for (t, c, (low, high)) in found {
            let acc = &mut self.themes[t as usize];
            match (low, high) {
                (true, true) => {
                    acc.low.push(c.clone());
                    acc.high.push(c);
                }
                (true, false) => acc.low.push(c),
                _ => acc.high.push(c),
            }
        }
        self.service.add(
            record.first_response_minutes,
            record.resolution_minutes,
            record.ces,
        );
        if let Some(m) = record.resolution_minutes {
            for &t in &themes {
                self.themes[(t & !NEGATIVE) as usize].resolution.add(m);
            }
        }
        self.per_record.push(doc, record.created_at, &themes);
    }

    /// Takes out a record added before as document `doc`; false when the
    /// tally cannot be updated exactly (a quote pool lost too many of its
    /// best, or the record was not in it).
    pub fn remove_record(&mut self, doc: u32, stored: &StoredRecord) -> bool {
        let (record, analysis) = (&stored.record, &stored.analysis);
        let Some(themes) = self.count(record, analysis, -1) else {
            return true;
        };
        let mut exact = self.per_record.remove(doc)
            && self.service.remove(
                record.first_response_minutes,
                record.resolution_minutes,
                record.ces,
            );
        // Every candidate, admitted or not: one not in a pool is found
        // absent there, as it should.
        let all = Self::candidates(
            (record, analysis),
            &themes,
            |_, _| true,
            |_, _| (true, true),
        );
        for (t, c, _) in all {
            let acc = &mut self.themes[t as usize];
            exact &= acc.low.remove(&c);
            exact &= acc.high.remove(&c);
        }
        if let Some(m) = record.resolution_minutes {
            for &t in &themes {
                exact &= self.themes[(t & !NEGATIVE) as usize].resolution.remove(m);
            }
        }
        exact
    }

    /// Adds the tally of other records.
    pub fn merge_tally(&mut self, other: SummaryTally) {
        let part = self.merge_counts(other);
        self.per_record.merge(part.records, &part.map);
    }

    /// Adds the tally of other records but for their per-record arrays,
    /// which come back apart, with the map of their theme ids into this
    /// tally's: a summary of many tallies keeps them so (see
    /// [`RecordPart`]) instead of copying them all into one array that
    /// grows by doubling.
    pub fn merge_counts(&mut self, other: SummaryTally) -> RecordPart {
        self.records += other.records;
        self.near_duplicates += other.near_duplicates;
        self.score_units += other.score_units;
        for (mine, theirs) in self.sentiment.iter_mut().zip(other.sentiment) {
            *mine += theirs;
        }
        self.ratings.0 += other.ratings.0;
        self.ratings.1 += other.ratings.1;
        self.ratings.2 += other.ratings.2;
        self.nps.0 += other.nps.0;
        self.nps.1 += other.nps.1;
        self.nps.2 += other.nps.2;
        for (id, n) in other.signals {
            *self.signals.entry(id).or_default() += n;
        }
        let mut map = Vec::with_capacity(other.themes.len());
        for theme in other.themes {
            let t = self.theme(&theme.id);
            self.themes[t as usize].merge(theme);
            map.push(t);
        }
        self.service.merge(other.service);
        RecordPart {
            records: other.per_record,
            map,
        }
    }

    /// Orders the per-record arrays by document number, so that removals
    /// find their records fast; call before caching a tally made of
    /// records in another order.
    pub fn sort_by_doc(&mut self) {
        self.per_record.sort_by_doc();
    }
}

/// Adds `sign` to `counts[name]` (copying the name only the first time),
/// dropping a count that reaches zero.
fn add_count(counts: &mut HashMap<String, u64>, name: &str, sign: i64) {
    match counts.get_mut(name) {
        Some(n) => {
            *n = n.wrapping_add_signed(sign);
            if *n == 0 {
                counts.remove(name);
            }
        }
        None => {
            counts.insert(name.to_string(), sign as u64);
        }
    }
}

impl SegmentAggregate for SummaryTally {
    const NAME: &'static str = "summary-v2";

    fn rules() -> u64 {
        *TALLY_RULES
    }

    fn add(&mut self, doc: u32, stored: &StoredRecord) {
        self.add_record(doc, stored);
    }

    fn remove(&mut self, doc: u32, stored: &StoredRecord) -> bool {
        self.remove_record(doc, stored)
    }

    fn merge(&mut self, other: SummaryTally) {
        self.merge_tally(other);
    }

    fn renumber(&mut self, new_doc: &dyn Fn(u32) -> Option<u32>) -> bool {
        self.per_record.renumber(new_doc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::{SignalHit, Taxonomy, ThemeHit};
    use crate::summary::discovery::tests::stored;
    use crate::summary::{SummaryBuilder, SummaryOptions};

    const THEMES: [&str; 4] = [
        "delivery.late",
        "app_site.crash",
        "support.no_reply",
        // Not in the taxonomy: counted nowhere.
        "gone.theme",
    ];

    /// Record `i` in version `v`: themes, sentiment, dates, service figures
    /// and duplicates vary with both.
    fn record(i: usize, v: usize) -> StoredRecord {
        let hash = |salt: usize| {
            crate::record::fnv1a(format!("{i}:{v}:{salt}").as_bytes()) as usize % 1000
        };
        let mix = hash(0);
        let score = (mix as f64 / 500.0 - 1.0).clamp(-1.0, 1.0);
        let score = (score * 10_000.0).round() / 10_000.0;
        let text = format!("the parcel {i} arrived late again, version {v} of it");
        let mut r = stored(i, &text, score);
        r.record.created_at = (mix % 13 != 0).then_some(1_000_000 + (mix as i64 % 70) * 86_400);
        r.record.rating = (mix % 3 == 0).then_some(1.0 + (mix % 41) as f64 / 10.0);
        r.record.nps = (mix % 5 == 0).then_some((mix % 11) as u8);
        r.record.resolution_minutes = (hash(1) % 2 == 0).then_some((mix % 17) as f64 * 30.0);
        r.record.first_response_minutes = (hash(2) % 4 != 0).then_some((mix % 23) as f64 * 1.5);
        r.record.ces = (hash(3) % 3 == 0).then_some(1.0 + (mix % 7) as f64);
        if mix % 29 == 0 {
            r.record.duplicate_of = Some("t:0".into());
        }
        if mix % 9 == 0 {
            r.analysis.signals.push(SignalHit {
                id: "churn_risk".into(),
                cue: "cancel".into(),
            });
        }
        for (k, id) in THEMES.iter().enumerate() {
            if hash(10 + k) % 3 == 0 {
                let sentiment = ((score + k as f64 * 0.3 - 0.4) * 10_000.0).round() / 10_000.0;
                r.analysis.themes.push(ThemeHit {
                    id: id.to_string(),
                    name: id.to_string(),
                    sentiment,
                    cues: vec![format!("cue{}", mix % (k + 3))],
                    spans: vec![(0, text.len() as u32)],
                });
            }
        }
        r
    }

    fn summary_of(parts: Vec<SummaryTally>) -> String {
        let taxonomy = Taxonomy::default_taxonomy().expect("taxonomy");
        let mut builder = SummaryBuilder::without_discovery(&taxonomy, SummaryOptions::default());
        for part in parts {
            builder.add_tally(part);
        }
        serde_json::to_string(&builder.finish()).expect("json")
    }

    #[test]
    fn tallies_merged_and_updated_give_the_summary_of_the_records() {
        let taxonomy = Taxonomy::default_taxonomy().expect("taxonomy");
        let n = 1500;
        let mut scratch = SummaryBuilder::without_discovery(&taxonomy, SummaryOptions::default());
        for i in 0..n {
            scratch.add(&record(i, 1 + i % 2));
        }
        let scratch = serde_json::to_string(&scratch.finish()).expect("json");
        for id in &THEMES[..3] {
            assert!(scratch.contains(id), "{scratch}");
        }
        assert!(!scratch.contains("gone.theme"));

        // Three "segments": every third record, in reverse order for one,
        // each with older versions of some records added and then taken out.
        let (mut removed, mut updated) = (0, 0);
        let mut parts = Vec::new();
        for s in 0..3 {
            let mut docs: Vec<usize> = (0..n).filter(|i| i % 3 == s).collect();
            if s == 1 {
                docs.reverse();
            }
            let mut tally = SummaryTally::default();
            let mut old = Vec::new();
            for (doc, &i) in docs.iter().enumerate() {
                tally.add_record(doc as u32, &record(i, 1 + i % 2));
                if i % 4 == 0 {
                    let d = (n + doc) as u32;
                    tally.add_record(d, &record(i, 7));
                    old.push((d, i));
                }
            }
            tally.sort_by_doc();
            // Cached and read back: the same tally.
            let json = serde_json::to_string(&tally).expect("json");
            let mut tally: SummaryTally = serde_json::from_str(&json).expect("parse");
            let mut exact = true;
            for (d, i) in old {
                exact &= tally.remove_record(d, &record(i, 7));
                removed += 1;
            }
            if exact {
                updated += 1;
            } else {
                // What the cache does: build the segment again.
                tally = SummaryTally::default();
                for (doc, &i) in docs.iter().enumerate() {
                    tally.add_record(doc as u32, &record(i, 1 + i % 2));
                }
            }
            parts.push(tally);
        }
        assert!(removed > 100 && updated > 0, "{removed} {updated}");
        assert_eq!(summary_of(parts.clone()), scratch);
        // Summed as the report pass sums cached tallies: the counts into
        // one, the per-record arrays kept apart; then handed to a builder
        // that had a tally of its own, or had none.
        let mut summed = SummaryTally::default();
        let mut records: Vec<RecordPart> = Vec::new();
        let mut rest = parts.clone().into_iter();
        let first = rest.next().expect("a part");
        for part in rest {
            records.push(summed.merge_counts(part));
        }
        assert!(summed.per_record.docs.is_empty(), "kept apart");
        let mut builder = SummaryBuilder::without_discovery(&taxonomy, SummaryOptions::default());
        builder.add_tally(first);
        builder.add_tally_parts(summed, records);
        let parted = serde_json::to_string(&builder.finish()).expect("json");
        assert_eq!(parted, scratch);
        // And as one tally made by concatenating them.
        let mut whole = SummaryTally::default();
        for part in parts {
            whole.merge_tally(part);
        }
        assert_eq!(summary_of(vec![whole]), scratch);
    }

    #[test]
    fn pools_skipping_mentions_below_their_cut_keep_the_best_of_all() {
        // Reference pools take every candidate; the tally's skip those
        // worse than their cut, before or after making their quote text.
        let mut tally = SummaryTally::default();
        let mut all: HashMap<u32, (Pool, Pool)> = HashMap::new();
        for i in 0..1500 {
            let stored = record(i, 1 + i % 3);
            tally.add_record(i as u32, &stored);
            let Some(themes) = SummaryTally::default().count(&stored.record, &stored.analysis, 1)
            else {
                continue;
            };
            // Local ids of a fresh tally are not the running one's: by name.
            let ids: Vec<u32> = stored
                .analysis
                .themes
                .iter()
                .map(|hit| tally.theme(&hit.id))
                .collect();
            let found = SummaryTally::candidates(
                (&stored.record, &stored.analysis),
                &themes,
                |_, _| true,
                |_, _| (true, true),
            );
            for ((_, c, _), t) in found.zip(ids) {
                let pools = all
                    .entry(t)
                    .or_insert_with(|| (Pool::new(false), Pool::new(true)));
                pools.0.push(c.clone());
                pools.1.push(c);
            }
        }
        assert_eq!(all.len(), THEMES.len());
        for (t, (low, high)) in all {
            let acc = &tally.themes[t as usize];
            assert!(low.cut.is_some() && high.cut.is_some());
            assert_eq!(acc.low.best(), low.best());
            assert_eq!(acc.high.best(), high.best());
        }
    }

    #[test]
    fn removing_an_absent_record_cannot_update() {
        let mut tally = SummaryTally::default();
        tally.add_record(3, &record(1, 1));
        assert!(!tally.remove_record(4, &record(1, 1)));
    }

    fn candidate(i: usize) -> Candidate {
        // Every seventh quote is too short to be a good one.
        let text = if i.is_multiple_of(7) {
            "short".to_string()
        } else {
            format!("the parcel {i} arrived late again")
        };
        Candidate {
            key: format!("s:{i:03}"),
            id: i.to_string(),
            source: "s".into(),
            penalty: quote_length_penalty(&text),
            text,
            sentiment: ((i * 37) % 11) as f64 / 10.0 - 0.5,
        }
    }

    /// The best of these candidates by (length penalty, sentiment, key).
    fn best_of(candidates: impl Iterator<Item = usize>) -> Vec<String> {
        let mut all: Vec<Candidate> = candidates.map(candidate).collect();
        all.sort_by(|a, b| {
            (a.penalty, a.sentiment, &a.key)
                .partial_cmp(&(b.penalty, b.sentiment, &b.key))
                .expect("finite")
        });
        all.into_iter().take(QUOTE_POOL).map(|c| c.key).collect()
    }

    fn keys(pool: &Pool) -> Vec<String> {
        pool.best().into_iter().map(|c| c.key).collect()
    }

    #[test]
    fn quote_pool_keeps_the_best_whatever_the_order() {
        let n = QUOTE_POOL * 5 + 3;
        let pool_of = |order: &mut dyn Iterator<Item = usize>| {
            let mut pool = Pool::new(false);
            for i in order {
                pool.push(candidate(i));
            }
            pool
        };
        let forward = pool_of(&mut (0..n));
        let backward = pool_of(&mut (0..n).rev());
        assert_eq!(keys(&forward), keys(&backward));
        assert_eq!(keys(&forward), best_of(0..n));
        assert!(
            keys(&forward).iter().all(|k| k != "s:000"),
            "a short quote kept"
        );
        // Merged pools of two halves: the same best.
        let mut odd = pool_of(&mut (0..n).filter(|i| i % 2 == 1));
        odd.merge(pool_of(&mut (0..n).filter(|i| i % 2 == 0)));
        assert_eq!(keys(&odd), best_of(0..n));
    }

    #[test]
    fn quote_pool_says_when_it_lost_too_many_of_its_best() {
        let n = QUOTE_POOL * 5;
        let mut pool = Pool::new(false);
        for i in 0..n {
            pool.push(candidate(i));
        }
        assert!(pool.cut.is_some(), "the test needs a cut pool");
        // A candidate that was dropped: removing it changes nothing.
        let worst = (0..n).find(|i| !pool.members.contains(&candidate(*i)));
        assert!(pool.remove(&candidate(worst.expect("a dropped candidate"))));
        let mut left: Vec<usize> = (0..n).collect();
        let mut removals = 0;
        loop {
            let best = keys(&pool);
            let first: usize = best[0][2..].parse().expect("key");
            left.retain(|&i| i != first);
            removals += 1;
            if !pool.remove(&candidate(first)) {
                break;
            }
            assert_eq!(keys(&pool), best_of(left.iter().copied()));
        }
        // Members better than the cut: POOL_KEEP, of which QUOTE_POOL must stay.
        assert_eq!(removals, POOL_KEEP - QUOTE_POOL + 1);
    }

    #[test]
    fn multiset_median_takes_out_one_occurrence() {
        let mut m = Multiset::default();
        for x in [5.0, 1.0, 5.0, 9.0] {
            m.add(x);
        }
        assert_eq!(m.median(), Some(5.0));
        assert!(m.remove(5.0));
        assert_eq!((m.len(), m.median()), (3, Some(5.0)));
        assert!(m.remove(5.0) && !m.remove(5.0));
        assert_eq!(m.median(), Some(5.0));
        let json = serde_json::to_string(&m).expect("json");
        let back: Multiset = serde_json::from_str(&json).expect("parse");
        assert_eq!(back, m);
        assert_eq!(Multiset::default().median(), None);
    }
}
