//! Summary: aggregate the indexed records into the ranked voice-of-customer
//! summary: themes ranked by impact, trends against the previous period,
//! emerging themes, representative quotes, sentiment split and CX metrics.
//!
//! Time windows are anchored at the newest record (or `--as-of`), never at
//! the wall clock, so the same index always gives the same summary.

mod discovery;
mod memory;
mod service;
mod shift;
mod stats;
mod tally;

pub use discovery::{
    Discovery, KeptSentence, PhraseCounts, PhraseTable, RecordPhrase, RecordPhrases,
    SegmentPhrases, UnmappedCandidate, UnmappedQuote, MAX_KEPT,
};
pub use memory::{RunMemory, SinceLastRun, ThemeChange};
pub use stats::{binomial_upper_tail, key_driver_impact};
pub use tally::{RecordPart, SummaryTally};

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::analyze::Taxonomy;
use crate::index::StoredRecord;
use crate::ingest::{format_date, format_rfc3339};
use crate::text::tokenize;
pub use service::ServiceFigures;
use tally::{Candidate, SCORE_UNITS};

const DAY: i64 = 86_400;
const WEEK: i64 = 7 * DAY;
/// Most weeks shown in trends.
pub const MAX_WEEKS: usize = 26;
/// Most days in the daily series (`days`, `daily`).
pub const MAX_DAYS: usize = 28;
/// Records spanning fewer days than this are trended per day, not per week.
pub const SHORT_PERIOD_DAYS: i64 = 28;
/// Significance level of the emerging test.
pub const EMERGING_P: f64 = 0.01;
/// Periods (weeks, or days for a short period) that form the recent window of the emerging test.
pub const RECENT_WEEKS: usize = 2;
/// Periods before the recent window that form its baseline.
pub const BASELINE_WEEKS: usize = 6;
/// Fewest records in the recent window for a theme to be called emerging.
pub const EMERGING_MIN_RECORDS: u64 = 5;
/// Quotes per theme.
pub const QUOTES_PER_THEME: usize = 3;
/// Quote candidates a theme's pools yield (the best by length, sentiment, key).
const QUOTE_POOL: usize = 40;
const QUOTE_MAX_CHARS: usize = 280;

/// Counts of a run: every item read ends in exactly one bucket.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Items read from the inputs (records, broken lines, unreadable files).
    pub read: u64,
    /// Records of these inputs now in the index: new + updated + unchanged.
    pub indexed: u64,
    /// Records added to the index.
    pub new: u64,
    /// Records whose content changed and were replaced.
    pub updated: u64,
    /// Records already indexed with the same content.
    pub unchanged: u64,
    /// Exact repeats of a record seen earlier in the same run.
    pub duplicates: u64,
    /// Older versions of a record replaced by a later version in the same run.
    pub superseded: u64,
    /// Items written to rejects.jsonl.
    pub rejected: u64,
    /// Records kept without a creation date (not in trends).
    pub undated: u64,
    /// Records indexed but flagged as near-duplicates of another record's
    /// text (a subset of `indexed`; left out of theme statistics).
    #[serde(default)]
    pub near_duplicates: u64,
    /// Input files skipped because they are unchanged since the run that
    /// indexed them; their items are not read, so they are in none of the
    /// counts above, but their records are in the index and the summary.
    #[serde(default)]
    pub files_skipped: u64,
    /// Records those skipped files held when they were last read.
    #[serde(default)]
    pub skipped_records: u64,
}

impl Counts {
    /// Whether every item read is accounted for.
    pub fn adds_up(&self) -> bool {
        self.read == self.indexed + self.superseded + self.duplicates + self.rejected
            && self.indexed == self.new + self.updated + self.unchanged
    }
}

/// From and to of the summarized records.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Period {
    /// Creation time of the oldest record.
    pub from: Option<String>,
    /// Creation time of the newest record.
    pub to: Option<String>,
    /// The anchor of the trend windows.
    pub as_of: Option<String>,
}

/// The period of a trend: weeks, or days when the records span a short period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TrendUnit {
    /// 7-day periods back from the anchor.
    #[default]
    Week,
    /// 1-day periods back from the anchor (records spanning fewer than
    /// [`SHORT_PERIOD_DAYS`] days).
    Day,
}

impl TrendUnit {
    /// "week" or "day".
    pub fn name(self) -> &'static str {
        match self {
            TrendUnit::Week => "week",
            TrendUnit::Day => "day",
        }
    }

    /// Periods of this unit in a week.
    pub fn per_week(self) -> f64 {
        match self {
            TrendUnit::Week => 1.0,
            TrendUnit::Day => 7.0,
        }
    }
}

/// Latest period against the one before, and the emerging test.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Trend {
    /// Records in the latest period (7 days, or 1 day when `unit` is `day`).
    pub latest_records: u64,
    /// Records in the period before.
    pub previous_records: u64,
    /// Relative change, (latest - previous) / previous; null when previous is 0.
    pub change: Option<f64>,
    /// Mean records per week in the recent window (the last [`RECENT_WEEKS`] periods).
    pub recent_weekly: f64,
    /// Mean records per week in the [`BASELINE_WEEKS`] periods before the recent window.
    pub baseline_weekly: f64,
    /// Significantly more frequent than in the baseline (binomial test, see README).
    pub emerging: bool,
    /// p-value of the test.
    pub p_value: f64,
    /// Share of the theme's mentions in the recent window that are negative
    /// (the mention's score labelled negative; null without mentions there).
    pub negative_share_recent: Option<f64>,
    /// The same share in the baseline window.
    pub negative_share_baseline: Option<f64>,
    /// Mentions turned negative: a significantly higher negative share than
    /// in the baseline (see README and [`shift::souring`]).
    pub souring: bool,
    /// p-value of the souring test.
    pub souring_p: f64,
    /// Significantly less frequent than the volume around it predicts: for
    /// praise, delight being lost; for a complaint, a problem going away.
    pub fading: bool,
    /// p-value of the fading test.
    pub fading_p: f64,
    /// The period of `latest_records`, `previous_records` and the test windows.
    pub unit: TrendUnit,
}

/// A representative verbatim.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Quote {
    /// Record id.
    pub id: String,
    /// Record source.
    pub source: String,
    /// The mentioning sentence(s), possibly shortened.
    pub text: String,
    /// Theme sentiment in this record.
    pub sentiment: f64,
}

/// One theme's figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ThemeSummary {
    /// Theme id.
    pub id: String,
    /// English name.
    pub name: String,
    /// Chinese name.
    pub name_zh: Option<String>,
    /// Parent theme id.
    pub parent: Option<String>,
    /// 1 = biggest pain.
    pub rank: usize,
    /// Records tagged with the theme.
    pub records: u64,
    /// Share of all records.
    pub share: f64,
    /// Share of the theme's records that are negative.
    pub negative_share: f64,
    /// Mean sentiment of the theme mentions.
    pub mean_sentiment: f64,
    /// Key-driver impact on the mean score (see README).
    pub impact: f64,
    /// Latest week against the one before.
    pub trend: Trend,
    /// Records per week, oldest first (see `weeks`).
    pub weekly: Vec<u64>,
    /// Records per day over the last days, oldest first (see `days`).
    pub daily: Vec<u64>,
    /// Most frequent matched cues.
    pub top_phrases: Vec<String>,
    /// Representative quotes.
    pub quotes: Vec<Quote>,
    /// Median minutes to resolution of the theme's records that have one
    /// (tickets whose help desk exported its metrics).
    pub median_resolution_minutes: Option<f64>,
}

/// Totals per sentiment label.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SentimentSplit {
    /// Negative records.
    pub negative: u64,
    /// Neutral records.
    pub neutral: u64,
    /// Positive records.
    pub positive: u64,
}

/// CX metrics, where the data allows.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Metrics {
    /// Records with a star rating (or CSAT good/bad).
    pub rated: u64,
    /// Mean stars.
    pub mean_rating: Option<f64>,
    /// CSAT: share of ratings of 4 or 5, in percent.
    pub csat: Option<f64>,
    /// Records with an NPS answer.
    pub nps_responses: u64,
    /// NPS: % promoters (9-10) minus % detractors (0-6).
    pub nps: Option<f64>,
    /// First response and resolution times, CES.
    #[serde(flatten)]
    pub service: ServiceFigures,
}

/// A signal's count.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SignalSummary {
    /// Signal id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Records with the signal.
    pub records: u64,
}

/// The whole summary; every output is a view of it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Summary {
    /// When it was made (the only field that changes between identical runs).
    pub generated_at: String,
    /// Time span of the records.
    pub period: Period,
    /// Counts of the run that produced the index.
    pub counts: Counts,
    /// Records summarized.
    pub records: u64,
    /// Records that no theme matched.
    pub unthemed: u64,
    /// Records left out because they repeat an earlier record's text
    /// (near-duplicates, flagged with `duplicate_of`), so each text counts once.
    pub near_duplicates: u64,
    /// Start dates of the weeks in `weekly`, oldest first.
    pub weeks: Vec<String>,
    /// Records per week, all themes.
    pub weekly_records: Vec<u64>,
    /// Dates of the days in `daily` (the last [`MAX_DAYS`] days at most), oldest first.
    pub days: Vec<String>,
    /// Records per day, all themes.
    pub daily_records: Vec<u64>,
    /// Whether trends are per week or, for a short period, per day.
    pub trend_unit: TrendUnit,
    /// Themes by rank; only themes with records.
    pub themes: Vec<ThemeSummary>,
    /// Sentiment split.
    pub sentiment: SentimentSplit,
    /// CX metrics.
    pub metrics: Metrics,
    /// Signals with records.
    pub signals: Vec<SignalSummary>,
    /// Complaints no theme covers, grouped into suggested themes.
    pub unmapped: Vec<UnmappedCandidate>,
    /// What changed since the previous `run` on this index (null on the
    /// first run and in `report`).
    pub since_last_run: Option<SinceLastRun>,
}

/// Options of a summary.
#[derive(Debug, Clone, Default)]
pub struct SummaryOptions {
    /// Only records created at or after this (Unix seconds).
    pub since: Option<i64>,
    /// Only records created before this.
    pub until: Option<i64>,
    /// Anchor of the trend windows; default: the newest record.
    pub as_of: Option<i64>,
    /// Timestamp text for `generated_at`.
    pub generated_at: String,
    /// Counts to report.
    pub counts: Counts,
    /// The previous run's key facts, to say what changed since.
    pub previous_run: Option<RunMemory>,
}

impl Summary {
    /// The themes whose trend carries `flag` (emerging, souring, fading), in rank order.
    pub fn flagged_themes(&self, flag: fn(&Trend) -> bool) -> impl Iterator<Item = &ThemeSummary> {
        self.themes.iter().filter(move |t| flag(&t.trend))
    }
}

impl SummaryOptions {
    /// Whether a record created at `created` is in the period.
    pub fn includes(&self, created: Option<i64>) -> bool {
        match created {
            Some(t) => self.since.is_none_or(|s| t >= s) && self.until.is_none_or(|u| t < u),
            None => self.since.is_none() && self.until.is_none(),
        }
    }
}

/// Accumulates records one at a time (or the tallies of sets of records),
/// then builds the [`Summary`].
pub struct SummaryBuilder<'t> {
    taxonomy: &'t Taxonomy,
    options: SummaryOptions,
    tally: SummaryTally,
    /// The per-record arrays of the tallies added whole, apart from
    /// `tally`'s own (those of the records added one at a time).
    parts: Vec<RecordPart>,
    /// Records added one at a time (their number in `tally`).
    added: u32,
    /// None when the caller does phrase discovery ([`SummaryBuilder::finish_with`]).
    discovery: Option<Discovery>,
}

impl<'t> SummaryBuilder<'t> {
    /// A builder for records of this taxonomy.
    pub fn new(taxonomy: &'t Taxonomy, options: SummaryOptions) -> SummaryBuilder<'t> {
        SummaryBuilder {
            taxonomy,
            options,
            tally: SummaryTally::default(),
            parts: Vec::new(),
            added: 0,
            discovery: Some(Discovery::default()),
        }
    }

    /// A builder that leaves phrase discovery to the caller, who passes it
    /// to [`SummaryBuilder::finish_with`] (e.g. made of cached per-segment
    /// phrase tables); [`SummaryBuilder::add`] then skips the tokenizing.
    pub fn without_discovery(taxonomy: &'t Taxonomy, options: SummaryOptions) -> Self {
        SummaryBuilder {
            discovery: None,
            ..SummaryBuilder::new(taxonomy, options)
        }
    }

    /// Adds one record (ignored when outside the period).
    pub fn add(&mut self, stored: &StoredRecord) {
        if !self.options.includes(stored.record.created_at) {
            return;
        }
        self.tally.add_record(self.added, stored);
        self.added = self.added.wrapping_add(1);
        if stored.record.duplicate_of.is_some() {
            return;
        }
        if let Some(discovery) = &mut self.discovery {
            discovery.add(stored);
        }
    }

    /// Adds the tally of other records (e.g. an index segment's, cached);
    /// they must all be in the period, as when it has no bounds: the same
    /// as adding each record.
    pub fn add_tally(&mut self, tally: SummaryTally) {
        self.add_tally_parts(tally, Vec::new());
    }

    /// [`SummaryBuilder::add_tally`] of a tally that was summed with
    /// [`SummaryTally::merge_counts`], with the per-record parts that came
    /// back: they are kept as they are, not copied into one array.
    pub fn add_tally_parts(&mut self, tally: SummaryTally, parts: Vec<RecordPart>) {
        let own = self.tally.merge_counts(tally);
        for mut part in parts {
            part.remap(&own.map);
            self.parts.push(part);
        }
        self.parts.push(own);
    }

    /// Calls `each` with every counted record's creation time and themes
    /// (local ids of the builder's tally, flagged as in the tally).
    fn each_record(&self, mut each: impl FnMut(Option<i64>, &[u32])) {
        for (created, tagged) in self.tally.per_record.iter() {
            each(created, tagged);
        }
        for part in &self.parts {
            part.for_each(&mut each);
        }
    }

    /// Records per period back from `as_of` (`n` periods of `unit` seconds),
    /// in total, per theme, and per record; `themes` maps the tally's theme
    /// ids to the taxonomy's.
    fn series(&self, themes: &[Option<u16>], as_of: Option<i64>, unit: i64, n: usize) -> Series {
        let count = self.taxonomy.themes.len();
        let mut out = Series {
            all: vec![0; n],
            themes: vec![vec![0; n]; count],
            negative: vec![vec![0; n]; count],
        };
        self.each_in_period((as_of, unit, n), |b, tagged| {
            out.all[b] += 1;
            for &local in tagged {
                let Some(theme) = themes[tally::local_id(local)] else {
                    continue;
                };
                out.themes[theme as usize][b] += 1;
                if tally::is_negative(local) {
                    out.negative[theme as usize][b] += 1;
                }
            }
        });
        out
    }

    /// Calls `each` with the period (0 the oldest) and themes of every
    /// counted record created in the `n` periods of `unit` seconds back
    /// from `as_of` (none without it); the last period is
    /// (as_of - unit, as_of].
    fn each_in_period(
        &self,
        (as_of, unit, n): (Option<i64>, i64, usize),
        mut each: impl FnMut(usize, &[u32]),
    ) {
        let Some(a) = as_of else {
            return;
        };
        self.each_record(|created, tagged| {
            let Some(t) = created.filter(|&t| t <= a) else {
                return;
            };
            let back = ((a - t) / unit) as usize;
            if back < n {
                each(n - 1 - back, tagged);
            }
        });
    }

    /// The records outside every theme that rose, per period (as
    /// [`SummaryBuilder::series`] counts them): a second pass over the
    /// records, so that the series need not keep a row per record.
    fn background(
        &self,
        themes: &[Option<u16>],
        (as_of, unit, n): (Option<i64>, i64, usize),
        rising: &[bool],
    ) -> Background {
        let mut all = vec![0u64; n];
        let mut per_theme = vec![vec![0u64; n]; rising.len()];
        let mut record: Vec<u16> = Vec::new();
        self.each_in_period((as_of, unit, n), |b, tagged| {
            record.clear();
            record.extend(tagged.iter().filter_map(|&l| themes[tally::local_id(l)]));
            if record.iter().any(|&t| rising[t as usize]) {
                return;
            }
            all[b] += 1;
            for &t in &record {
                per_theme[t as usize][b] += 1;
            }
        });
        (all, per_theme)
    }

    /// Builds the summary.
    pub fn finish(mut self) -> Summary {
        let discovery = self.discovery.take().unwrap_or_default();
        self.finish_with(discovery)
    }

    /// Builds the summary with the phrase discovery of the same records.
    pub fn finish_with(self, discovery: Discovery) -> Summary {
        let n = self.tally.records;
        // The tally's themes in the taxonomy; themes no longer in it are
        // ignored until the next re-tag.
        let theme_index: HashMap<&str, u16> = self
            .taxonomy
            .themes
            .iter()
            .enumerate()
            .map(|(i, t)| (t.id.as_str(), i as u16))
            .collect();
        let mapped: Vec<Option<u16>> = self
            .tally
            .themes
            .iter()
            .map(|t| theme_index.get(t.id.as_str()).copied())
            .collect();
        let mut accs: Vec<Option<&tally::ThemeTally>> = vec![None; self.taxonomy.themes.len()];
        for (acc, theme) in self.tally.themes.iter().zip(&mapped) {
            if let Some(t) = theme {
                accs[*t as usize] = Some(acc);
            }
        }
        let (mut newest, mut oldest, mut unthemed) = (None::<i64>, None::<i64>, 0u64);
        self.each_record(|created, tagged| {
            if let Some(t) = created {
                newest = Some(newest.map_or(t, |x| x.max(t)));
                oldest = Some(oldest.map_or(t, |x| x.min(t)));
            }
            if !tagged.iter().any(|&t| mapped[tally::local_id(t)].is_some()) {
                unthemed += 1;
            }
        });
        let as_of = self.options.as_of.or(newest);

        // Buckets back from the anchor: the last bucket is (as_of - unit, as_of].
        let weeks = match (as_of, oldest) {
            (Some(a), Some(o)) => (((a - o) / WEEK) as usize + 1).clamp(2, MAX_WEEKS),
            _ => 0,
        };
        let days = match (as_of, oldest) {
            (Some(a), Some(o)) => (((a - o) / DAY) as usize + 1).clamp(2, MAX_DAYS),
            _ => 0,
        };
        let unit = match (as_of, oldest) {
            (Some(a), Some(o)) if a - o < SHORT_PERIOD_DAYS * DAY => TrendUnit::Day,
            _ => TrendUnit::Week,
        };
        let weekly_series = self.series(&mapped, as_of, WEEK, weeks);
        let daily_series = self.series(&mapped, as_of, DAY, days);
        let week_labels: Vec<String> = (0..weeks)
            .filter_map(|w| as_of.map(|a| format_date(a - WEEK * (weeks - w) as i64 + 1)))
            .collect();
        let day_labels: Vec<String> = (0..days)
            .filter_map(|d| as_of.map(|a| format_date(a - DAY * (days - d) as i64 + 1)))
            .collect();
        let (series, period) = match unit {
            TrendUnit::Week => (&weekly_series, (as_of, WEEK, weeks)),
            TrendUnit::Day => (&daily_series, (as_of, DAY, days)),
        };
        let trends = theme_trends(series, unit, &|rising| {
            self.background(&mapped, period, rising)
        });
        let Series {
            all: weekly_all,
            themes: weekly,
            ..
        } = weekly_series;
        let Series {
            all: daily_all,
            themes: daily,
            ..
        } = daily_series;

        let mut themes: Vec<ThemeSummary> = Vec::new();
        let score_sum = self.tally.score_units as f64 / SCORE_UNITS;
        for (i, acc) in accs.iter().enumerate() {
            let Some(acc) = acc.filter(|acc| acc.records > 0) else {
                continue;
            };
            let def = &self.taxonomy.themes[i];
            let mean_sentiment = acc.mention_units as f64 / SCORE_UNITS / acc.records as f64;
            themes.push(ThemeSummary {
                id: def.id.clone(),
                name: def.name.clone(),
                name_zh: def.name_zh.clone(),
                parent: def.parent().map(str::to_string),
                rank: 0,
                records: acc.records,
                share: round4(acc.records as f64 / n.max(1) as f64),
                negative_share: round4(acc.negative as f64 / acc.records as f64),
                mean_sentiment: round4(mean_sentiment),
                impact: round4(key_driver_impact(
                    acc.score_units as f64 / SCORE_UNITS,
                    acc.records,
                    score_sum,
                    n,
                )),
                trend: trends[i].clone(),
                weekly: weekly[i].clone(),
                daily: daily[i].clone(),
                top_phrases: top_phrases(&acc.cues),
                median_resolution_minutes: acc.resolution.median(),
                quotes: pick_quotes(
                    &if mean_sentiment <= 0.0 {
                        &acc.low
                    } else {
                        &acc.high
                    }
                    .best(),
                ),
            });
        }
        themes.sort_by(|a, b| {
            b.impact
                .total_cmp(&a.impact)
                .then(b.records.cmp(&a.records))
                .then(a.id.cmp(&b.id))
        });
        for (i, t) in themes.iter_mut().enumerate() {
            t.rank = i + 1;
        }

        let (rated, rating_units, satisfied) = self.tally.ratings;
        let (nps_n, promoters, detractors) = self.tally.nps;
        let metrics = Metrics {
            rated,
            mean_rating: (rated > 0)
                .then(|| round4(rating_units as f64 / tally::ANSWER_UNITS / rated as f64)),
            csat: (rated > 0).then(|| round4(100.0 * satisfied as f64 / rated as f64)),
            nps_responses: nps_n,
            nps: (nps_n > 0)
                .then(|| round4(100.0 * (promoters as f64 - detractors as f64) / nps_n as f64)),
            service: self.tally.service.figures(),
        };
        let mut signals: Vec<SignalSummary> = self
            .taxonomy
            .signals
            .iter()
            .filter_map(|s| {
                let records = *self.tally.signals.get(&s.id)?;
                Some(SignalSummary {
                    id: s.id.clone(),
                    name: s.name.clone(),
                    records,
                })
            })
            .collect();
        signals.sort_by(|a, b| b.records.cmp(&a.records).then(a.id.cmp(&b.id)));

        let mut summary = Summary {
            generated_at: self.options.generated_at.clone(),
            period: Period {
                from: oldest.map(format_rfc3339),
                to: newest.map(format_rfc3339),
                as_of: as_of.map(format_rfc3339),
            },
            counts: self.options.counts.clone(),
            records: n,
            unthemed,
            near_duplicates: self.tally.near_duplicates,
            weeks: week_labels,
            weekly_records: weekly_all,
            days: day_labels,
            daily_records: daily_all,
            trend_unit: unit,
            themes,
            sentiment: SentimentSplit {
                negative: self.tally.sentiment[0],
                neutral: self.tally.sentiment[1],
                positive: self.tally.sentiment[2],
            },
            metrics,
            signals,
            unmapped: discovery.finish(),
            since_last_run: None,
        };
        summary.since_last_run = self.options.previous_run.as_ref().map(|previous| {
            // A theme renamed or merged since (`replaces`) keeps its history.
            let previous = previous.renamed(|id| {
                self.taxonomy
                    .resolve(id)
                    .map_or(id, |theme| theme.id.as_str())
            });
            SinceLastRun::compare(&summary, &previous)
        });
        summary
    }
}

/// Weekly counts around the anchor: the latest weeks and the baseline before them.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TrendCounts {
    /// Records in the latest week.
    pub latest: u64,
    /// Records in the week before.
    pub previous: u64,
    /// Records in the recent window.
    pub recent: u64,
    /// Weeks in the recent window (fewer when the data is short).
    pub recent_weeks: usize,
    /// Records in the baseline weeks.
    pub baseline: u64,
    /// Weeks in the baseline.
    pub baseline_weeks: usize,
}

impl TrendCounts {
    /// Reads the windows off a weekly series, oldest first.
    pub fn of(series: &[u64]) -> TrendCounts {
        let n = series.len();
        if n < 2 {
            return TrendCounts::default();
        }
        let recent_weeks = RECENT_WEEKS.min(n - 1);
        let recent = &series[n - recent_weeks..];
        let baseline = &series[(n - recent_weeks).saturating_sub(BASELINE_WEEKS)..n - recent_weeks];
        TrendCounts {
            latest: series[n - 1],
            previous: series[n - 2],
            recent: recent.iter().sum(),
            recent_weeks,
            baseline: baseline.iter().sum(),
            baseline_weeks: baseline.len(),
        }
    }
}

/// Counts per period of all records, of each theme and of its negative
/// mentions, and each dated record's period and themes.
struct Series {
    all: Vec<u64>,
    themes: Vec<Vec<u64>>,
    /// Negative mentions per theme and period.
    negative: Vec<Vec<u64>>,
}

/// The records outside every theme that rose (`rising`, by theme), per
/// period: in all, and per theme (see [`volume_trends`]).
type Background = (Vec<u64>, Vec<Vec<u64>>);

/// The trend of every theme: emerging and fading ([`volume_trends`]), and
/// souring (the theme's negative share, [`shift::souring`]).
fn theme_trends(
    series: &Series,
    unit: TrendUnit,
    background: &dyn Fn(&[bool]) -> Background,
) -> Vec<Trend> {
    let mut trends = volume_trends(series, unit, background);
    for (i, trend) in trends.iter_mut().enumerate() {
        let sour = shift::souring(
            &TrendCounts::of(&series.themes[i]),
            &TrendCounts::of(&series.negative[i]),
        );
        trend.negative_share_recent = sour.negative_share_recent.map(round4);
        trend.negative_share_baseline = sour.negative_share_baseline.map(round4);
        trend.souring = sour.souring;
        trend.souring_p = round4(sour.p_value);
    }
    trends
}

/// Emerging and fading of every theme, in two passes.
///
/// The emerging test compares a theme with the volume around it, so that a
/// theme that grows only because all volume grew is not flagged. That volume
/// must not include the rises being tested: first each theme is tested against
/// the records outside it; then again against the *background*, the records
/// outside every theme that rose in the first pass (and outside the theme
/// itself). Two complaints rising in the same weeks so no longer hide each
/// other, while uniform growth of all volume still flags nothing. Fading is
/// the lower tail of the same test, against the same volume.
fn volume_trends(
    series: &Series,
    unit: TrendUnit,
    background: &dyn Fn(&[bool]) -> Background,
) -> Vec<Trend> {
    let minus = |a: &[u64], b: &[u64]| -> Vec<u64> {
        a.iter().zip(b).map(|(x, y)| x.saturating_sub(*y)).collect()
    };
    let first: Vec<Trend> = series
        .themes
        .iter()
        .map(|t| {
            let rest = TrendCounts::of(&minus(&series.all, t));
            trend_in(TrendCounts::of(t), &rest, unit)
        })
        .collect();
    let rising: Vec<bool> = first.iter().map(|t| t.emerging).collect();
    if !rising.contains(&true) {
        return first;
    }
    let (background, background_theme) = background(&rising);
    series
        .themes
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let exposure = TrendCounts::of(&minus(&background, &background_theme[i]));
            trend_in(TrendCounts::of(t), &exposure, unit)
        })
        .collect()
}

/// A theme's weekly trend; see [`trend_in`].
pub fn trend(theme: TrendCounts, all: &TrendCounts) -> Trend {
    trend_in(theme, all, TrendUnit::Week)
}

/// A theme's trend: latest period against the one before, and the emerging test.
///
/// Emerging is a one-sided conditional binomial test: of the theme's records
/// in the recent window plus the baseline, the recent window holds more than
/// its share of all records (`all`) would predict, so a theme that grows only
/// because everything grew is not emerging. It also needs at least
/// [`EMERGING_MIN_RECORDS`] recent records, a higher weekly rate than the
/// baseline, and p < [`EMERGING_P`]. `all` is the volume the theme is
/// compared with (the caller leaves the theme itself out of it). Rates are
/// per week whatever the `unit` of the counts.
pub fn trend_in(theme: TrendCounts, all: &TrendCounts, unit: TrendUnit) -> Trend {
    let n = theme.recent + theme.baseline;
    let p0 = if all.recent + all.baseline > 0 {
        all.recent as f64 / (all.recent + all.baseline) as f64
    } else {
        0.5
    };
    let p_value = if n == 0 || theme.baseline_weeks == 0 {
        1.0
    } else {
        binomial_upper_tail(theme.recent, n, p0)
    };
    let rate = |count: u64, periods: usize| {
        if periods > 0 {
            count as f64 / periods as f64 * unit.per_week()
        } else {
            0.0
        }
    };
    let recent_weekly = rate(theme.recent, theme.recent_weeks);
    let baseline_weekly = rate(theme.baseline, theme.baseline_weeks);
    let fading_p = shift::fading_p_value(&theme, all);
    Trend {
        latest_records: theme.latest,
        previous_records: theme.previous,
        change: (theme.previous > 0)
            .then(|| round4((theme.latest as f64 - theme.previous as f64) / theme.previous as f64)),
        recent_weekly: round4(recent_weekly),
        baseline_weekly: round4(baseline_weekly),
        emerging: theme.recent >= EMERGING_MIN_RECORDS
            && recent_weekly > baseline_weekly
            && p_value < EMERGING_P,
        p_value: round4(p_value),
        fading: shift::is_fading(&theme, recent_weekly, baseline_weekly, fading_p),
        fading_p: round4(fading_p),
        unit,
        // Set by the souring test where it runs ([`theme_trends`]).
        souring_p: 1.0,
        ..Trend::default()
    }
}

fn round4(x: f64) -> f64 {
    if x.is_finite() {
        (x * 10_000.0).round() / 10_000.0
    } else {
        0.0
    }
}

fn top_phrases(cues: &HashMap<String, u64>) -> Vec<String> {
    let mut list: Vec<(&String, &u64)> = cues.iter().collect();
    list.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    list.into_iter().take(5).map(|(c, _)| c.clone()).collect()
}

/// The sentences that mention a theme, joined and cut to a readable length.
/// (Their words joined by single spaces, in one buffer: this runs for
/// every theme mention of a summarized record.)
fn quote_text(full_text: &str, spans: &[(u32, u32)]) -> String {
    let pieces = spans
        .iter()
        .take(2)
        .filter_map(|&(s, e)| full_text.get(s as usize..e as usize));
    let mut out = String::with_capacity(pieces.clone().map(str::len).sum::<usize>() + 4);
    for word in pieces.flat_map(str::split_whitespace) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    if let Some((i, _)) = out.char_indices().nth(QUOTE_MAX_CHARS) {
        out.truncate(i);
        out.push('…');
    }
    out
}

/// Very short quotes say little; long ones are cut. 0 is best.
fn quote_length_penalty(text: &str) -> u8 {
    let n = text.chars().count();
    u8::from(!(12..=240).contains(&n))
}

/// Picks diverse quotes: no two with more than half their words in common.
fn pick_quotes(pool: &[Candidate]) -> Vec<Quote> {
    let mut sorted = pool.to_vec();
    let low_first = sorted.iter().map(|c| c.sentiment).sum::<f64>() <= 0.0;
    sorted.sort_by(|a, b| tally::better(!low_first, a, b));
    let mut chosen: Vec<(HashSet<String>, Quote)> = Vec::new();
    for c in sorted {
        let words: HashSet<String> = tokenize(&c.text)
            .into_iter()
            .map(|w| w.term.into())
            .collect();
        let similar = chosen.iter().any(|(other, _)| {
            let inter = words.intersection(other).count();
            let union = words.union(other).count().max(1);
            inter * 2 > union
        });
        if similar {
            continue;
        }
        chosen.push((
            words,
            Quote {
                id: c.id,
                source: c.source,
                text: c.text,
                sentiment: c.sentiment,
            },
        ));
        if chosen.len() == QUOTES_PER_THEME {
            break;
        }
    }
    chosen.into_iter().map(|(_, q)| q).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weekly(series: &[u64]) -> TrendCounts {
        TrendCounts::of(series)
    }

    #[test]
    fn windows_are_read_off_the_series() {
        let t = weekly(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        assert_eq!((t.latest, t.previous), (10, 9));
        assert_eq!((t.recent, t.recent_weeks), (19, 2));
        assert_eq!((t.baseline, t.baseline_weeks), (3 + 4 + 5 + 6 + 7 + 8, 6));
        assert_eq!(weekly(&[5]), TrendCounts::default());
    }

    #[test]
    fn trend_flags_a_significant_rise_only() {
        let flat = weekly(&[100; 8]);
        // Theme at 5 a week, then 20 and 20: emerging.
        let t = trend(weekly(&[5, 5, 5, 5, 5, 5, 20, 20]), &flat);
        assert!(t.emerging, "{t:?}");
        assert_eq!(t.change, Some(0.0));
        assert_eq!((t.recent_weekly, t.baseline_weekly), (20.0, 5.0));
        // 6 against 4 a week is noise.
        assert!(!trend(weekly(&[4, 4, 4, 4, 4, 4, 6, 6]), &flat).emerging);
        // Everything tripled: the theme tripling with it is not emerging.
        let grown = weekly(&[100, 100, 100, 100, 100, 100, 300, 300]);
        assert!(!trend(weekly(&[5, 5, 5, 5, 5, 5, 15, 15]), &grown).emerging);
        // Below the minimum volume never counts.
        assert!(!trend(weekly(&[0, 0, 0, 0, 0, 0, 2, 2]), &flat).emerging);
    }

    #[test]
    fn trend_p_value_matches_hand_computation() {
        // Recent 3 of n = 4 (baseline 1); all records split 200/200, p0 = 0.5:
        // P(X >= 3) = (4 + 1) / 16.
        let theme = TrendCounts {
            latest: 2,
            previous: 1,
            recent: 3,
            recent_weeks: 2,
            baseline: 1,
            baseline_weeks: 2,
        };
        let all = TrendCounts {
            recent: 200,
            recent_weeks: 2,
            baseline: 200,
            baseline_weeks: 2,
            ..Default::default()
        };
        assert_eq!(trend(theme, &all).p_value, 0.3125);
    }

    /// A series with the rows it was made of: (period, themes, records).
    struct Rows {
        series: Series,
        rows: Vec<(usize, Vec<u16>, u64)>,
    }

    impl std::ops::Deref for Rows {
        type Target = Series;
        fn deref(&self) -> &Series {
            &self.series
        }
    }

    impl std::ops::DerefMut for Rows {
        fn deref_mut(&mut self) -> &mut Series {
            &mut self.series
        }
    }

    impl Rows {
        /// [`theme_trends`], the background counted from the rows.
        fn trends(&self, unit: TrendUnit) -> Vec<Trend> {
            theme_trends(&self.series, unit, &|rising| {
                let n = self.series.all.len();
                let mut all = vec![0u64; n];
                let mut per_theme = vec![vec![0u64; n]; rising.len()];
                for (b, themes, records) in &self.rows {
                    if themes.iter().any(|&t| rising[t as usize]) {
                        continue;
                    }
                    all[*b] += records;
                    for &t in themes {
                        per_theme[t as usize][*b] += records;
                    }
                }
                (all, per_theme)
            })
        }
    }

    /// A series of `(weekly records, themes)` groups.
    fn series_of(groups: &[(&[u64], &[u16])], n_themes: usize) -> Rows {
        let n = groups[0].0.len();
        let mut s = Series {
            all: vec![0; n],
            themes: vec![vec![0; n]; n_themes],
            negative: vec![vec![0; n]; n_themes],
        };
        let mut rows = Vec::new();
        for (counts, themes) in groups {
            for (b, &count) in counts.iter().enumerate() {
                s.all[b] += count;
                for &t in *themes {
                    s.themes[t as usize][b] += count;
                }
                rows.push((b, themes.to_vec(), count));
            }
        }
        Rows { series: s, rows }
    }

    #[test]
    fn two_rising_themes_do_not_hide_each_other() {
        // 20 untagged records a week; theme 0 jumps from 0 to 40 a week;
        // theme 1 triples from 2 to 6 a week in the same two weeks.
        let s = series_of(
            &[
                (&[20; 8], &[]),
                (&[0, 0, 0, 0, 0, 0, 40, 40], &[0]),
                (&[2, 2, 2, 2, 2, 2, 6, 6], &[1]),
            ],
            2,
        );
        // Against all the records outside it, theme 1's rise is hidden by
        // theme 0's: recent share of the rest = 120 / 240 = 0.5, and
        // P(X >= 12 | n = 24, p = 0.5) = 0.5806.
        let rest: Vec<u64> = s.all.iter().zip(&s.themes[1]).map(|(a, t)| a - t).collect();
        let masked = trend(TrendCounts::of(&s.themes[1]), &TrendCounts::of(&rest));
        assert_eq!(masked.p_value, 0.5806);
        let trends = s.trends(TrendUnit::Week);
        assert!(trends[0].emerging, "{:?}", trends[0]);
        // Against the background without theme 0: 40 / 160 = 0.25, and
        // P(X >= 12 | n = 24, p = 0.25) = 0.0072.
        assert!(trends[1].emerging, "{:?}", trends[1]);
        assert_eq!(trends[1].p_value, 0.0072);
    }

    #[test]
    fn lost_praise_fades_but_not_beside_a_surge() {
        // 100 untagged records a week; praise (theme 0) at 10 a week drops to
        // 1; theme 1 stays at 10 while theme 2 surges from 0 to 100.
        let s = series_of(
            &[
                (&[100; 8], &[]),
                (&[10, 10, 10, 10, 10, 10, 1, 1], &[0]),
                (&[10; 8], &[1]),
                (&[0, 0, 0, 0, 0, 0, 100, 100], &[2]),
            ],
            3,
        );
        let trends = s.trends(TrendUnit::Week);
        assert!(trends[0].fading, "{:?}", trends[0]);
        assert!(trends[0].fading_p < 0.001, "{:?}", trends[0]);
        // Against everything outside it, theme 1 would look faded by the
        // surge; against the background it is steady.
        assert!(!trends[1].fading, "{:?}", trends[1]);
        assert!(trends[2].emerging && !trends[2].fading, "{:?}", trends[2]);
    }

    #[test]
    fn mentions_turning_negative_sour_a_theme() {
        // Delivery mentioned 10 times a week throughout; 1 a week negative,
        // then 7 a week in the last two weeks.
        let mut s = series_of(&[(&[50; 8], &[]), (&[10; 8], &[0])], 1);
        s.negative[0] = vec![1, 1, 1, 1, 1, 1, 7, 7];
        let t = &s.trends(TrendUnit::Week)[0];
        assert!(t.souring && !t.emerging && !t.fading, "{t:?}");
        assert_eq!(t.negative_share_recent, Some(0.7));
        assert_eq!(t.negative_share_baseline, Some(0.1));
        // A share that stays put does not.
        s.negative[0] = vec![5; 8];
        let t = &s.trends(TrendUnit::Week)[0];
        assert!(!t.souring, "{t:?}");
    }

    #[test]
    fn uniform_growth_flags_nothing_in_either_pass() {
        let s = series_of(
            &[
                (&[20, 20, 20, 20, 20, 20, 60, 60], &[]),
                (&[2, 2, 2, 2, 2, 2, 6, 6], &[0]),
            ],
            1,
        );
        assert!(!s.trends(TrendUnit::Week)[0].emerging);
    }

    #[test]
    fn a_short_period_is_trended_per_day() {
        let taxonomy = Taxonomy::default_taxonomy().unwrap();
        let mut builder = SummaryBuilder::new(&taxonomy, SummaryOptions::default());
        let mut id = 0;
        // 10 days: 5 untagged records a day; late delivery 1 a day, then 5 and 5.
        for day in 0..10i64 {
            let late = if day >= 8 { 5 } else { 1 };
            for k in 0..5 + late {
                id += 1;
                let mut r = discovery::tests::stored(id, "text", -0.5);
                r.record.created_at = Some(1_000_000 + day * DAY + 3600);
                if k < late {
                    r.analysis.themes.push(crate::analyze::ThemeHit {
                        id: "delivery.late".into(),
                        name: "Late".into(),
                        sentiment: -0.5,
                        cues: vec![],
                        spans: vec![],
                    });
                }
                builder.add(&r);
            }
        }
        let s = builder.finish();
        assert_eq!(s.trend_unit, TrendUnit::Day);
        assert_eq!(s.days.len(), 10);
        assert_eq!(s.daily_records, [6, 6, 6, 6, 6, 6, 6, 6, 10, 10]);
        let late = &s.themes[0];
        assert_eq!(late.daily, [1, 1, 1, 1, 1, 1, 1, 1, 5, 5]);
        assert_eq!(late.trend.unit, TrendUnit::Day);
        assert_eq!(
            (late.trend.latest_records, late.trend.previous_records),
            (5, 5)
        );
        // Per-week rates: 5 a day = 35 a week; 1 a day = 7 a week.
        assert_eq!(
            (late.trend.recent_weekly, late.trend.baseline_weekly),
            (35.0, 7.0)
        );
        // The rest: 10 recent of 40, p0 = 0.25; P(X >= 10 | n = 16) = 0.0016.
        assert_eq!(late.trend.p_value, 0.0016);
        assert!(late.trend.emerging);
        // The weekly series is still there, for long-term charts.
        assert_eq!(s.weekly_records.iter().sum::<u64>(), 68);
    }

    #[test]
    fn quote_text_joins_and_cuts() {
        let text = "First. Second one here. Third.";
        assert_eq!(
            quote_text(text, &[(0, 6), (7, 23)]),
            "First. Second one here."
        );
        let long = "x".repeat(400);
        assert!(quote_text(&long, &[(0, 400)]).ends_with('…'));
    }
}
