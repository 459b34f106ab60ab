//! Query parameters of `/api/search`, checked and turned into a [`SearchRequest`].
//!
//! Every parameter arrives as text and is validated here, with a message
//! meant for the page: the query is at most [`MAX_QUERY_CHARS`] characters,
//! other values at most [`MAX_VALUE_CHARS`], `limit` 1 to [`MAX_LIMIT`],
//! `offset` 0 to [`MAX_OFFSET`].

use serde::Deserialize;

use crate::analyze::{Label, Taxonomy};
use crate::index::{SearchRequest, SortOrder};
use crate::ingest::parse_date_str;
use crate::text::Lang;

/// Longest query accepted, in characters.
pub const MAX_QUERY_CHARS: usize = 1000;
/// Longest other parameter value accepted, in characters.
pub const MAX_VALUE_CHARS: usize = 200;
/// Most hits one request may ask for.
pub const MAX_LIMIT: usize = 500;
/// Hits when `limit` is absent.
pub const DEFAULT_LIMIT: usize = 20;
/// Furthest `offset` accepted (paging deeper than this is narrowing's job).
pub const MAX_OFFSET: usize = 10_000;

/// Raw parameters of `/api/search`; empty values count as absent.
#[derive(Debug, Default, Deserialize)]
pub struct SearchParams {
    /// Query, tantivy syntax.
    pub q: Option<String>,
    /// Theme id (with its children).
    pub theme: Option<String>,
    /// negative, neutral or positive.
    pub sentiment: Option<String>,
    /// Earliest date, inclusive.
    pub since: Option<String>,
    /// Latest date, exclusive.
    pub until: Option<String>,
    /// Source name.
    pub source: Option<String>,
    /// Language code.
    pub lang: Option<String>,
    /// Channel.
    pub channel: Option<String>,
    /// Tags, comma-separated; all must match.
    pub tag: Option<String>,
    /// Lowest rating.
    pub min_rating: Option<String>,
    /// Highest rating.
    pub max_rating: Option<String>,
    /// `relevance` or `date`.
    pub sort: Option<String>,
    /// Most hits.
    pub limit: Option<String>,
    /// Hits to skip (paging).
    pub offset: Option<String>,
}

impl SearchParams {
    /// The query and filters as given, for the Query sheet of an export
    /// (absent ones left out).
    pub fn described(&self) -> Vec<(&'static str, String)> {
        [
            ("query", &self.q),
            ("theme", &self.theme),
            ("sentiment", &self.sentiment),
            ("since", &self.since),
            ("until", &self.until),
            ("source", &self.source),
            ("language", &self.lang),
            ("channel", &self.channel),
            ("tags", &self.tag),
            ("min rating", &self.min_rating),
            ("max rating", &self.max_rating),
            ("sort", &self.sort),
        ]
        .into_iter()
        .filter_map(|(name, v)| present(v).map(|v| (name, v.to_string())))
        .collect()
    }
}

fn present(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

fn rating(name: &str, v: &Option<String>) -> Result<Option<f64>, String> {
    match present(v) {
        None => Ok(None),
        Some(s) => match s.parse::<f64>() {
            Ok(r) if r.is_finite() => Ok(Some(r)),
            _ => Err(format!("{name}: `{s}` is not a number")),
        },
    }
}

fn date(name: &str, v: &Option<String>) -> Result<Option<i64>, String> {
    match present(v) {
        None => Ok(None),
        Some(s) => parse_date_str(s)
            .map(Some)
            .ok_or_else(|| format!("{name}: cannot read `{s}` as a date (YYYY-MM-DD)")),
    }
}

/// Whether a raw query string decodes to UTF-8. Percent escapes that are not
/// UTF-8 (`%FF`) would otherwise be replaced silently with U+FFFD and searched.
pub fn is_utf8_query(raw: &str) -> bool {
    let bytes = raw.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                decoded.push((hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0)) as u8);
                i += 3;
            }
            (b, _, _) => {
                decoded.push(b);
                i += 1;
            }
        }
    }
    std::str::from_utf8(&decoded).is_ok()
}

impl SearchParams {
    /// Validates the parameters.
    pub fn into_request(self, taxonomy: &Taxonomy) -> Result<SearchRequest, String> {
        let query = self.q.clone().unwrap_or_default();
        if query.chars().count() > MAX_QUERY_CHARS {
            return Err(format!("q: longer than {MAX_QUERY_CHARS} characters"));
        }
        for (name, value) in [
            ("theme", &self.theme),
            ("sentiment", &self.sentiment),
            ("since", &self.since),
            ("until", &self.until),
            ("source", &self.source),
            ("lang", &self.lang),
            ("channel", &self.channel),
            ("tag", &self.tag),
            ("min_rating", &self.min_rating),
            ("max_rating", &self.max_rating),
            ("sort", &self.sort),
            ("limit", &self.limit),
            ("offset", &self.offset),
        ] {
            if value
                .as_deref()
                .is_some_and(|v| v.chars().count() > MAX_VALUE_CHARS)
            {
                return Err(format!("{name}: longer than {MAX_VALUE_CHARS} characters"));
            }
        }
        let theme = match present(&self.theme) {
            None => None,
            Some(t) if taxonomy.resolve(t).is_some() => taxonomy.resolve(t).map(|d| d.id.clone()),
            Some(t) => return Err(format!("theme: unknown theme `{t}`")),
        };
        let sentiment = match present(&self.sentiment) {
            None => None,
            Some(s) => Some(
                Label::parse(s)
                    .ok_or_else(|| {
                        format!("sentiment: `{s}` is not negative, neutral or positive")
                    })?
                    .as_str()
                    .to_string(),
            ),
        };
        let lang = match present(&self.lang) {
            None => None,
            Some(l) => Some(
                Lang::from_code(l)
                    .ok_or_else(|| format!("lang: `{l}` is not a language code"))?
                    .as_str()
                    .to_string(),
            ),
        };
        let sort = match present(&self.sort) {
            None | Some("relevance") => SortOrder::Relevance,
            Some("date") => SortOrder::Newest,
            Some(s) => return Err(format!("sort: `{s}` is not relevance or date")),
        };
        let limit = match present(&self.limit) {
            None => DEFAULT_LIMIT,
            Some(s) => match s.parse::<usize>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
                _ => {
                    return Err(format!(
                        "limit: `{s}` is not a number from 1 to {MAX_LIMIT}"
                    ))
                }
            },
        };
        let offset = match present(&self.offset) {
            None => 0,
            Some(s) => match s.parse::<usize>() {
                Ok(n) if n <= MAX_OFFSET => n,
                _ => {
                    return Err(format!(
                        "offset: `{s}` is not a number from 0 to {MAX_OFFSET}"
                    ))
                }
            },
        };
        let tags = present(&self.tag)
            .map(|t| {
                t.split(',')
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        Ok(SearchRequest {
            query,
            theme,
            sentiment,
            since: date("since", &self.since)?,
            until: date("until", &self.until)?,
            source: present(&self.source).map(str::to_string),
            lang,
            min_rating: rating("min_rating", &self.min_rating)?,
            max_rating: rating("max_rating", &self.max_rating)?,
            channel: present(&self.channel).map(str::to_string),
            tags,
            limit,
            offset,
            sort,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn taxonomy() -> Taxonomy {
        Taxonomy::default_taxonomy().expect("built-in taxonomy")
    }

    #[test]
    fn empty_params_search_everything() {
        let r = SearchParams::default().into_request(&taxonomy()).unwrap();
        assert_eq!(r.query, "");
        assert_eq!(r.limit, DEFAULT_LIMIT);
        assert!(r.theme.is_none() && r.tags.is_empty());
    }

    #[test]
    fn values_are_checked() {
        let t = taxonomy();
        let bad = |p: SearchParams| p.into_request(&t).unwrap_err();
        assert!(bad(SearchParams {
            q: Some("x".repeat(MAX_QUERY_CHARS + 1)),
            ..Default::default()
        })
        .starts_with("q:"));
        assert!(bad(SearchParams {
            limit: Some("501".into()),
            ..Default::default()
        })
        .starts_with("limit:"));
        assert!(bad(SearchParams {
            offset: Some("10001".into()),
            ..Default::default()
        })
        .starts_with("offset:"));
        assert!(bad(SearchParams {
            theme: Some("no.such".into()),
            ..Default::default()
        })
        .contains("unknown theme"));
        assert!(bad(SearchParams {
            since: Some("yesterday".into()),
            ..Default::default()
        })
        .starts_with("since:"));
        assert!(bad(SearchParams {
            min_rating: Some("NaN".into()),
            ..Default::default()
        })
        .starts_with("min_rating:"));
    }

    #[test]
    fn query_strings_must_decode_to_utf8() {
        assert!(is_utf8_query("q=%E9%80%80%E6%AC%BE&limit=3"));
        assert!(is_utf8_query("q=100%&x=%G1%2"));
        assert!(!is_utf8_query("q=%FF%FE"));
        assert!(!is_utf8_query("theme=%C3%28"));
    }

    #[test]
    fn tags_split_on_commas() {
        let r = SearchParams {
            tag: Some(" vip, ,billing ".into()),
            sort: Some("date".into()),
            ..Default::default()
        }
        .into_request(&taxonomy())
        .unwrap();
        assert_eq!(r.tags, ["vip", "billing"]);
        assert_eq!(r.sort, SortOrder::Newest);
    }
}
