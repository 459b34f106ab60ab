//! Search: tantivy query syntax over title and text, with filters and facet counts.
//!
//! Filters are exact terms (theme with its ancestors, sentiment label, source,
//! language, channel, tags) and fast-field ranges (creation date, rating), all
//! `Must` clauses beside the text query. One pass over the matching documents
//! counts them, keeps the top N and tallies the facets (themes, sentiment) of
//! *all* hits with [`FacetCollector`], which reads the `theme` and
//! `sentiment_label` fast-field columns by term ordinal: no stored document is
//! touched except for the N hits shown.
//!
//! A long-lived reader (the web page) passes a [`FacetCache`]: each segment's
//! theme ordinals are then read from the column once and kept as two flat
//! arrays, so counting the themes of 100,000 hits is an array walk rather
//! than 100,000 column look-ups. One-shot searches (the CLI) skip it: building
//! it reads every document of the segment.

use std::ops::Bound;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use tantivy::collector::{Collector, Count, SegmentCollector, TopDocs};
use tantivy::columnar::{Cardinality, Column, StrColumn};
use tantivy::index::SegmentId;
use tantivy::query::{AllQuery, BooleanQuery, Occur, Query, QueryParser, RangeQuery, TermQuery};
use tantivy::schema::IndexRecordOption;
use tantivy::snippet::SnippetGenerator;
use tantivy::{DateTime, DocId, Order, Score, SegmentReader, TantivyDocument, Term};

use super::{IndexError, StoredRecord, VocIndex};

/// How results are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortOrder {
    /// Best match first.
    #[default]
    Relevance,
    /// Newest first.
    Newest,
}

/// A search and its filters.
#[derive(Debug, Clone, Default)]
pub struct SearchRequest {
    /// Query in tantivy syntax; empty matches everything.
    pub query: String,
    /// Theme id; matches the theme and its children.
    pub theme: Option<String>,
    /// Sentiment label.
    pub sentiment: Option<String>,
    /// Earliest creation time (Unix seconds, inclusive).
    pub since: Option<i64>,
    /// Latest creation time (Unix seconds, exclusive).
    pub until: Option<i64>,
    /// Source name.
    pub source: Option<String>,
    /// Language code.
    pub lang: Option<String>,
    /// Lowest rating (inclusive); records without a rating are left out.
    pub min_rating: Option<f64>,
    /// Highest rating (inclusive); records without a rating are left out.
    pub max_rating: Option<f64>,
    /// Channel (matched trimmed and lowercase).
    pub channel: Option<String>,
    /// Tags; a record must carry all of them (matched trimmed and lowercase).
    pub tags: Vec<String>,
    /// Most hits to return.
    pub limit: usize,
    /// Hits to skip before the first one returned (paging).
    pub offset: usize,
    /// Result order.
    pub sort: SortOrder,
}

/// One search result.
#[derive(Debug, Clone, Serialize)]
pub struct SearchHit {
    /// Relevance score (0 when sorted by date).
    pub score: f32,
    /// The record and its analysis.
    #[serde(skip)]
    pub stored: StoredRecord,
    /// Snippet of the text around the matches.
    pub snippet: String,
    /// Byte ranges of the highlighted words in `snippet`.
    pub highlights: Vec<(usize, usize)>,
}

/// One facet value and how many hits carry it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FacetCount {
    /// Theme id or sentiment label.
    pub value: String,
    /// Matching records with this value.
    pub count: u64,
}

/// Facet counts over all matching records, most frequent first (then by value).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Facets {
    /// Per theme id, groups (`delivery`) and leaves (`delivery.late`) alike;
    /// a record counts once under each of its themes and their groups.
    pub themes: Vec<FacetCount>,
    /// Per sentiment label; these add up to the total.
    pub sentiment: Vec<FacetCount>,
}

/// Results of a search.
#[derive(Debug, Clone)]
pub struct SearchResults {
    /// All matching records (not only those returned).
    pub total: usize,
    /// The best hits after `offset`, at most `limit`.
    pub hits: Vec<SearchHit>,
    /// Facet counts over all matching records.
    pub facets: Facets,
}

/// Why a search could not run.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// The query text does not parse.
    #[error("invalid query `{query}`: {message}")]
    Query {
        /// The query.
        query: String,
        /// The parser's message.
        message: String,
    },
    /// The index failed.
    #[error(transparent)]
    Index(#[from] IndexError),
}

/// Theme ordinals of every document of the segments a long-lived reader has
/// searched, so facet counts need no column look-up per hit. Entries of
/// segments no longer in the index (merged away) are dropped at the next search.
#[derive(Debug, Default)]
pub struct FacetCache {
    segments: Mutex<HashMap<SegmentId, Arc<SegmentThemes>>>,
}

/// One segment's theme ordinals: document `d` has `ords[starts[d]..starts[d + 1]]`.
#[derive(Debug)]
struct SegmentThemes {
    starts: Vec<u32>,
    ords: Vec<u32>,
}

impl SegmentThemes {
    fn read(column: &StrColumn, max_doc: DocId) -> SegmentThemes {
        let mut starts = Vec::with_capacity(max_doc as usize + 1);
        let mut ords = Vec::with_capacity(max_doc as usize * 2);
        starts.push(0);
        for doc in 0..max_doc {
            ords.extend(column.term_ords(doc).map(|o| o as u32));
            starts.push(ords.len() as u32);
        }
        SegmentThemes { starts, ords }
    }

    fn of(&self, doc: DocId) -> &[u32] {
        let d = doc as usize;
        match (self.starts.get(d), self.starts.get(d + 1)) {
            (Some(&s), Some(&e)) => self.ords.get(s as usize..e as usize).unwrap_or(&[]),
            _ => &[],
        }
    }
}

impl FacetCache {
    /// An empty cache.
    pub fn new() -> FacetCache {
        FacetCache::default()
    }

    fn segments(&self) -> std::sync::MutexGuard<'_, HashMap<SegmentId, Arc<SegmentThemes>>> {
        self.segments.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The segment's theme ordinals, read from `column` the first time.
    fn themes(&self, segment: &SegmentReader, column: &StrColumn) -> Arc<SegmentThemes> {
        let id = segment.segment_id();
        if let Some(found) = self.segments().get(&id) {
            return found.clone();
        }
        // Read outside the lock: another search may do the same meanwhile.
        let read = Arc::new(SegmentThemes::read(column, segment.max_doc()));
        self.segments().entry(id).or_insert(read).clone()
    }

    /// Forgets segments that are not among `live`.
    fn retain(&self, live: &[SegmentId]) {
        self.segments().retain(|id, _| live.contains(id));
    }

    /// Number of segments held (for tests).
    pub fn len(&self) -> usize {
        self.segments().len()
    }

    /// Whether no segment is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl VocIndex {
    /// Runs a search against the last committed state of the index.
    pub fn search(&self, request: &SearchRequest) -> Result<SearchResults, SearchError> {
        self.run_search(request, None)
    }

    /// Like [`VocIndex::search`], counting theme facets through `cache`: for a
    /// reader that answers many searches (the first one per segment reads
    /// the segment's themes once).
    pub fn search_cached(
        &self,
        request: &SearchRequest,
        cache: &FacetCache,
    ) -> Result<SearchResults, SearchError> {
        self.run_search(request, Some(cache))
    }

    fn run_search(
        &self,
        request: &SearchRequest,
        cache: Option<&FacetCache>,
    ) -> Result<SearchResults, SearchError> {
        let (index, reader, f) = self.inner();
        let searcher = reader.searcher();
        let text_query: Box<dyn Query> = if request.query.trim().is_empty() {
            Box::new(AllQuery)
        } else {
            let mut parser = QueryParser::for_index(index, vec![f.title, f.text]);
            parser.set_conjunction_by_default();
            parser.set_field_boost(f.title, 1.5);
            parser
                .parse_query(&request.query)
                .map_err(|e| SearchError::Query {
                    query: request.query.clone(),
                    message: e.to_string(),
                })?
        };
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = vec![(Occur::Must, text_query.box_clone())];
        let term = |field, value: &str| -> Box<dyn Query> {
            Box::new(TermQuery::new(
                Term::from_field_text(field, value),
                IndexRecordOption::Basic,
            ))
        };
        if let Some(theme) = &request.theme {
            clauses.push((Occur::Must, term(f.theme, theme)));
        }
        if let Some(label) = &request.sentiment {
            clauses.push((Occur::Must, term(f.label, label)));
        }
        if let Some(source) = &request.source {
            clauses.push((Occur::Must, term(f.source, source)));
        }
        if let Some(lang) = &request.lang {
            clauses.push((Occur::Must, term(f.lang, lang)));
        }
        if let Some(channel) = &request.channel {
            clauses.push((
                Occur::Must,
                term(f.channel, &super::normalize_term(channel)),
            ));
        }
        for tag in &request.tags {
            clauses.push((Occur::Must, term(f.tag, &super::normalize_term(tag))));
        }
        if request.min_rating.is_some() || request.max_rating.is_some() {
            let bound = |r: Option<f64>| match r {
                Some(v) => Bound::Included(Term::from_field_f64(f.rating, v)),
                None => Bound::Unbounded,
            };
            clauses.push((
                Occur::Must,
                Box::new(RangeQuery::new(
                    bound(request.min_rating),
                    bound(request.max_rating),
                )),
            ));
        }
        if request.since.is_some() || request.until.is_some() {
            let bound = |t: Option<i64>, inclusive: bool| match t {
                Some(secs) => {
                    let term =
                        Term::from_field_date(f.created, DateTime::from_timestamp_secs(secs));
                    if inclusive {
                        Bound::Included(term)
                    } else {
                        Bound::Excluded(term)
                    }
                }
                None => Bound::Unbounded,
            };
            clauses.push((
                Occur::Must,
                Box::new(RangeQuery::new(
                    bound(request.since, true),
                    bound(request.until, false),
                )),
            ));
        }
        let query = BooleanQuery::new(clauses);
        let limit = request.limit.max(1);
        let err = |e| SearchError::Index(self_err(self, e));
        if let Some(cache) = cache {
            let live: Vec<SegmentId> = searcher
                .segment_readers()
                .iter()
                .map(|s| s.segment_id())
                .collect();
            cache.retain(&live);
        }
        let facets = FacetCollector { cache };
        let (total, addresses, facets): (usize, Vec<(f32, tantivy::DocAddress)>, Facets) =
            match request.sort {
                SortOrder::Relevance => {
                    let top = TopDocs::with_limit(limit)
                        .and_offset(request.offset)
                        .order_by_score();
                    searcher
                        .search(&query, &(Count, top, facets))
                        .map_err(err)?
                }
                SortOrder::Newest => {
                    let top = TopDocs::with_limit(limit)
                        .and_offset(request.offset)
                        .order_by_fast_field::<DateTime>("created", Order::Desc);
                    let (total, top, facets) = searcher
                        .search(&query, &(Count, top, facets))
                        .map_err(err)?;
                    let top = top.into_iter().map(|(_, a)| (0.0, a)).collect();
                    (total, top, facets)
                }
            };
        let mut generator =
            SnippetGenerator::create(&searcher, &*text_query, f.text).map_err(err)?;
        generator.set_max_num_chars(200);
        let mut hits = Vec::with_capacity(addresses.len());
        for (score, address) in addresses {
            let doc: TantivyDocument = searcher.doc(address).map_err(err)?;
            let stored = self.decode(&doc)?;
            // A record with a title and no text shows its title.
            let shown = if stored.record.text.is_empty() {
                stored.record.title.as_deref().unwrap_or("")
            } else {
                &stored.record.text
            };
            let snippet = generator.snippet(shown);
            let (snippet, highlights) = if snippet.highlighted().is_empty() {
                (lead(shown, 200), Vec::new())
            } else {
                let offsets = snippet
                    .highlighted()
                    .iter()
                    .map(|r| (r.start, r.end))
                    .collect();
                (snippet.fragment().to_string(), offsets)
            };
            hits.push(SearchHit {
                score,
                stored,
                snippet,
                highlights,
            });
        }
        Ok(SearchResults {
            total,
            hits,
            facets,
        })
    }
}

fn self_err(index: &VocIndex, source: tantivy::TantivyError) -> IndexError {
    index.tantivy_err(source)
}

/// Counts the `theme` and `sentiment_label` values of every matching document.
struct FacetCollector<'a> {
    cache: Option<&'a FacetCache>,
}

/// Where a segment's theme ordinals come from.
enum ThemeOrds {
    /// The cached arrays.
    Cached(Arc<SegmentThemes>),
    /// The column, read per document.
    Column(Column<u64>),
    /// The segment has no theme at all.
    Absent,
}

/// Per segment: counts by term ordinal, turned into strings once at harvest.
struct FacetSegmentCollector {
    theme: Option<StrColumn>,
    label: Option<StrColumn>,
    theme_ords: ThemeOrds,
    /// The label column when it holds at most one value per document.
    label_single: Option<Column<u64>>,
    theme_counts: Vec<u64>,
    label_counts: Vec<u64>,
}

type FacetMaps = (BTreeMap<String, u64>, BTreeMap<String, u64>);

impl Collector for FacetCollector<'_> {
    type Fruit = Facets;
    type Child = FacetSegmentCollector;

    fn for_segment(
        &self,
        _segment_local_id: u32,
        segment: &SegmentReader,
    ) -> tantivy::Result<FacetSegmentCollector> {
        let fast = segment.fast_fields();
        let theme = fast.str("theme")?;
        let label = fast.str("sentiment_label")?;
        let theme_counts = vec![0; theme.as_ref().map_or(0, |c| c.num_terms())];
        let label_counts = vec![0; label.as_ref().map_or(0, |c| c.num_terms())];
        let theme_ords = match (&theme, self.cache) {
            (None, _) => ThemeOrds::Absent,
            (Some(column), Some(cache)) => ThemeOrds::Cached(cache.themes(segment, column)),
            (Some(column), None) => ThemeOrds::Column(column.ords().clone()),
        };
        let label_single = label
            .as_ref()
            .map(|c| c.ords())
            .filter(|o| o.get_cardinality() != Cardinality::Multivalued)
            .cloned();
        Ok(FacetSegmentCollector {
            theme,
            label,
            theme_ords,
            label_single,
            theme_counts,
            label_counts,
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<FacetMaps>) -> tantivy::Result<Facets> {
        let mut themes = BTreeMap::new();
        let mut labels = BTreeMap::new();
        for (t, l) in fruits {
            for (k, v) in t {
                *themes.entry(k).or_insert(0) += v;
            }
            for (k, v) in l {
                *labels.entry(k).or_insert(0) += v;
            }
        }
        Ok(Facets {
            themes: ranked(themes),
            sentiment: ranked(labels),
        })
    }
}

fn count(counts: &mut [u64], ord: u64) {
    if let Some(c) = counts.get_mut(ord as usize) {
        *c += 1;
    }
}

impl SegmentCollector for FacetSegmentCollector {
    type Fruit = FacetMaps;

    fn collect(&mut self, doc: DocId, _score: Score) {
        match &self.theme_ords {
            ThemeOrds::Cached(themes) => {
                for &ord in themes.of(doc) {
                    count(&mut self.theme_counts, ord as u64);
                }
            }
            ThemeOrds::Column(column) => {
                for ord in column.values_for_doc(doc) {
                    count(&mut self.theme_counts, ord);
                }
            }
            ThemeOrds::Absent => {}
        }
        if let Some(single) = &self.label_single {
            if let Some(ord) = single.first(doc) {
                count(&mut self.label_counts, ord);
            }
        } else if let Some(column) = &self.label {
            for ord in column.term_ords(doc) {
                count(&mut self.label_counts, ord);
            }
        }
    }

    fn harvest(self) -> FacetMaps {
        (
            by_name(self.theme.as_ref(), &self.theme_counts),
            by_name(self.label.as_ref(), &self.label_counts),
        )
    }
}

fn by_name(column: Option<&StrColumn>, counts: &[u64]) -> BTreeMap<String, u64> {
    let mut map = BTreeMap::new();
    let Some(column) = column else {
        return map;
    };
    for (ord, &count) in counts.iter().enumerate() {
        if count == 0 {
            continue;
        }
        let mut name = String::new();
        if let Ok(true) = column.ord_to_str(ord as u64, &mut name) {
            *map.entry(name).or_insert(0) += count;
        }
    }
    map
}

fn ranked(map: BTreeMap<String, u64>) -> Vec<FacetCount> {
    let mut list: Vec<FacetCount> = map
        .into_iter()
        .map(|(value, count)| FacetCount { value, count })
        .collect();
    list.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
    list
}

/// The first `max` characters of a text, cut at a character boundary.
fn lead(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facets_rank_by_count_then_value() {
        let map = BTreeMap::from([
            ("b".to_string(), 2),
            ("a".to_string(), 2),
            ("c".to_string(), 5),
        ]);
        let values: Vec<String> = ranked(map).into_iter().map(|f| f.value).collect();
        assert_eq!(values, ["c", "a", "b"]);
    }

    #[test]
    fn lead_cuts_at_characters() {
        assert_eq!(lead("退款没到账", 2), "退款…");
        assert_eq!(lead("short", 10), "short");
    }
}
