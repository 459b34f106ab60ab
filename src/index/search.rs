//! Search: tantivy query syntax over title and text, with filters.

use std::ops::Bound;

use serde::Serialize;
use tantivy::collector::{Count, TopDocs};
use tantivy::query::{AllQuery, BooleanQuery, Occur, Query, QueryParser, RangeQuery, TermQuery};
use tantivy::schema::IndexRecordOption;
use tantivy::snippet::SnippetGenerator;
use tantivy::{DateTime, Order, TantivyDocument, Term};

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
    /// Most hits to return.
    pub limit: usize,
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

/// Results of a search.
#[derive(Debug, Clone)]
pub struct SearchResults {
    /// All matching records (not only those returned).
    pub total: usize,
    /// The best hits, at most `limit`.
    pub hits: Vec<SearchHit>,
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

impl VocIndex {
    /// Runs a search against the last committed state of the index.
    pub fn search(&self, request: &SearchRequest) -> Result<SearchResults, SearchError> {
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
        let total = searcher.search(&query, &Count).map_err(err)?;
        let addresses: Vec<(f32, tantivy::DocAddress)> = match request.sort {
            SortOrder::Relevance => searcher
                .search(&query, &TopDocs::with_limit(limit).order_by_score())
                .map_err(err)?,
            SortOrder::Newest => searcher
                .search(
                    &query,
                    &TopDocs::with_limit(limit)
                        .order_by_fast_field::<DateTime>("created", Order::Desc),
                )
                .map_err(err)?
                .into_iter()
                .map(|(_, a)| (0.0, a))
                .collect(),
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
        Ok(SearchResults { total, hits })
    }
}

fn self_err(index: &VocIndex, source: tantivy::TantivyError) -> IndexError {
    index.tantivy_err(source)
}

/// The first `max` characters of a text, cut at a character boundary.
fn lead(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}
