//! Serve: a local web page to search records and browse the ranked themes.
//!
//! One axum server on a single-thread-per-core tokio runtime, bound to
//! 127.0.0.1 by default. Routes:
//!
//! - `GET /`: one self-contained HTML page (inline CSS and JS, no external
//!   resource, works offline). The page builds its DOM with `textContent`, so
//!   customer text is never interpreted as HTML.
//! - `GET /api/search?q=&theme=&sentiment=&since=&until=&source=&lang=&channel=&tag=&min_rating=&max_rating=&sort=&limit=&offset=`:
//!   `{total, facets, hits}` (see [`params`] for the limits).
//! - `GET /api/record/{source}/{id}`: one record, all fields and its analysis.
//! - `GET /api/themes`: the ranked summary of the whole index and the taxonomy.
//! - `GET /api/export?format=csv|xlsx&` + the search parameters: every match
//!   (up to [`EXPORT_LIMIT`]) as a CSV (with a UTF-8 BOM, for Excel) or XLSX
//!   download, the same columns as `records.csv`.
//!
//! Bad parameters give 400 with `{"error": ...}`, unknown paths 404, other
//! methods 405. Every request first reloads the index reader, so a `run`
//! writing at the same time shows up at its next commit and never half-way
//! (readers see the last committed state). The themes summary is computed
//! from the index (not read from `summary.json`, which may sit in any `--out`
//! directory or be stale) and cached until the index's commit changes.

pub mod params;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::rejection::QueryRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::analyze::Taxonomy;
use crate::index::{FacetCache, IndexError, SearchError, SearchRequest, SearchResults, VocIndex};
use crate::ingest::format_rfc3339;
use crate::output::{search_xlsx, write_search_csv};
use crate::summary::{SummaryBuilder, SummaryOptions};

pub use params::SearchParams;

/// The page, served as is.
const PAGE: &str = include_str!("page.html");

/// Errors of the serve layer (before the server runs; requests never fail it).
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The address cannot be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// The async runtime or the server failed.
    #[error("server: {0}")]
    Runtime(std::io::Error),
    /// The index cannot be opened.
    #[error(transparent)]
    Index(#[from] IndexError),
}

/// What the server needs.
pub struct ServeConfig {
    /// The opened index.
    pub index: VocIndex,
    /// Taxonomy for theme names and the summary.
    pub taxonomy: Taxonomy,
    /// Address to bind (port 0: any free port).
    pub addr: SocketAddr,
}

struct AppState {
    index: VocIndex,
    taxonomy: Taxonomy,
    /// Theme ordinals per segment, for fast facet counts.
    facets: FacetCache,
    /// Summary JSON and the commit opstamp it was computed for.
    themes: Mutex<Option<(Option<u64>, Arc<Value>)>>,
    /// The reader generation whose commit was checked to carry this
    /// server's user dictionary (see [`reload`]).
    dictionary_checked: std::sync::atomic::AtomicU64,
}

type Shared = Arc<AppState>;

/// Runs the server until Ctrl-C. `on_bound` is called with the bound address
/// (useful with port 0) once the server accepts connections.
pub fn serve(config: ServeConfig, on_bound: impl FnOnce(SocketAddr)) -> Result<(), ServeError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(ServeError::Runtime)?;
    let state = Arc::new(AppState {
        index: config.index,
        taxonomy: config.taxonomy,
        facets: FacetCache::new(),
        themes: Mutex::new(None),
        dictionary_checked: std::sync::atomic::AtomicU64::new(u64::MAX),
    });
    // Fill the facet cache before the first request (a full pass over the
    // theme column, under a second for a million records).
    let warm = SearchRequest {
        limit: 1,
        ..Default::default()
    };
    if let Err(e) = state.index.search_cached(&warm, &state.facets) {
        eprintln!("warning: cannot warm the search cache: {e}");
    }
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.addr)
            .await
            .map_err(|source| ServeError::Bind {
                addr: config.addr,
                source,
            })?;
        let bound = listener.local_addr().map_err(ServeError::Runtime)?;
        on_bound(bound);
        axum::serve(listener, router(state))
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .map_err(ServeError::Runtime)
    })
}

fn router(state: Shared) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/api/search", get(search))
        .route("/api/record/{source}/{*id}", get(record))
        .route("/api/themes", get(themes))
        .route("/api/export", get(export))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(4096))
        .with_state(state)
}

/// An API error: a status and a message, sent as `{"error": message}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    fn internal(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({"error": self.message}))).into_response()
    }
}

async fn page() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
                 connect-src 'self'; img-src 'self' data:",
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        PAGE,
    )
        .into_response()
}

async fn not_found() -> ApiError {
    ApiError {
        status: StatusCode::NOT_FOUND,
        message: "no such page".into(),
    }
}

/// Makes the latest commit visible (a failure keeps the previous state). A commit tokenized with another user
/// dictionary than the one this server installed at start (a `run
/// --user-dict` since) is refused with 503: queries would be split
/// differently from the records and silently miss.
fn reload(state: &AppState) -> Result<(), ApiError> {
    use std::sync::atomic::Ordering;
    if let Err(e) = state.index.reload() {
        eprintln!("warning: cannot reload the index: {e}");
    }
    let generation = state.index.reader_generation();
    if state.dictionary_checked.load(Ordering::Relaxed) == generation {
        return Ok(());
    }
    let committed = state.index.committed_user_dictionary().unwrap_or_default();
    if committed != crate::text::user_dictionary().to_text() {
        return Err(ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            message: "the index was re-tokenized with another user dictionary (run --user-dict) since this server started: restart vocscope serve".into(),
        });
    }
    state
        .dictionary_checked
        .store(generation, Ordering::Relaxed);
    Ok(())
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(format!("worker failed: {e}")))?
}

/// Runs a search on the last commit (blocking: call inside [`blocking`]).
fn run_search(state: &AppState, request: &SearchRequest) -> Result<SearchResults, ApiError> {
    reload(state)?;
    state
        .index
        .search_cached(request, &state.facets)
        .map_err(|e| match e {
            SearchError::Query { .. } => ApiError::bad_request(e.to_string()),
            other => ApiError::internal(other.to_string()),
        })
}

async fn search(
    State(state): State<Shared>,
    RawQuery(raw): RawQuery,
    query: Result<Query<SearchParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    if !raw.as_deref().is_none_or(params::is_utf8_query) {
        return Err(ApiError::bad_request("the query string is not UTF-8"));
    }
    let Query(params) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let request = params
        .into_request(&state.taxonomy)
        .map_err(ApiError::bad_request)?;
    let body = blocking(move || {
        let results = run_search(&state, &request)?;
        Ok(results_json(&results, &state.taxonomy))
    })
    .await?;
    Ok(Json(body))
}

/// Most records one export holds (the best matches first).
pub const EXPORT_LIMIT: usize = 50_000;

/// Parameters of `/api/export`: a search's, plus the file format.
#[derive(Debug, Default, serde::Deserialize)]
struct ExportParams {
    /// `csv` (default) or `xlsx`.
    format: Option<String>,
    #[serde(flatten)]
    search: SearchParams,
}

/// `/api/export?format=csv|xlsx&q=...`: every record the search matches (up
/// to [`EXPORT_LIMIT`]) as a download for a spreadsheet. CSV starts with a
/// UTF-8 byte-order mark so Excel reads Chinese right; text cells are
/// guarded against formula injection in both formats.
async fn export(
    State(state): State<Shared>,
    RawQuery(raw): RawQuery,
    query: Result<Query<ExportParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    if !raw.as_deref().is_none_or(params::is_utf8_query) {
        return Err(ApiError::bad_request("the query string is not UTF-8"));
    }
    let Query(params) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let xlsx = match params.format.as_deref().map(str::trim) {
        None | Some("") | Some("csv") => false,
        Some("xlsx") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "format: `{}` is not csv or xlsx",
                other
                    .chars()
                    .take(params::MAX_VALUE_CHARS)
                    .collect::<String>()
            )))
        }
    };
    let mut search = params.search;
    search.limit = None;
    search.offset = None;
    let described = search.described();
    let mut request = search
        .into_request(&state.taxonomy)
        .map_err(ApiError::bad_request)?;
    request.limit = EXPORT_LIMIT;
    let body = blocking(move || {
        let results = run_search(&state, &request)?;
        if xlsx {
            search_xlsx(&results, &described).map_err(|e| ApiError::internal(e.to_string()))
        } else {
            let mut bytes = b"\xEF\xBB\xBF".to_vec();
            write_search_csv(&results.hits, &mut bytes)
                .map_err(|e| ApiError::internal(e.to_string()))?;
            Ok(bytes)
        }
    })
    .await?;
    let (content_type, name) = if xlsx {
        (
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "vocscope-search.xlsx",
        )
    } else {
        ("text/csv; charset=utf-8", "vocscope-search.csv")
    };
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
        ],
        body,
    )
        .into_response())
}

fn theme_name(taxonomy: &Taxonomy, id: &str) -> String {
    taxonomy
        .theme(id)
        .map(|t| t.name.clone())
        .unwrap_or_else(|| id.to_string())
}

/// Splits a snippet into plain and highlighted parts, so the page never has
/// to deal with byte offsets (or with HTML).
pub fn snippet_parts(snippet: &str, highlights: &[(usize, usize)]) -> Vec<Value> {
    let mut parts = Vec::new();
    let mut last = 0;
    for &(s, e) in highlights {
        if s < last
            || e <= s
            || e > snippet.len()
            || !snippet.is_char_boundary(s)
            || !snippet.is_char_boundary(e)
        {
            continue;
        }
        if s > last {
            parts.push(json!({"text": &snippet[last..s], "hl": false}));
        }
        parts.push(json!({"text": &snippet[s..e], "hl": true}));
        last = e;
    }
    if last < snippet.len() {
        parts.push(json!({"text": &snippet[last..], "hl": false}));
    }
    parts
}

/// The JSON of search results, as the page and `--format json` see them:
/// `{total, facets: {themes: [{id, name, parent, count}], sentiment: [{label,
/// count}]}, hits: [...]}`; a hit's `snippet` with byte-range `highlights`,
/// and the same split into `snippet_parts` for the page.
pub fn results_json(results: &SearchResults, taxonomy: &Taxonomy) -> Value {
    let hits: Vec<Value> = results
        .hits
        .iter()
        .map(|h| {
            let r = &h.stored.record;
            let a = &h.stored.analysis;
            json!({
                "key": r.key(),
                "id": r.id,
                "source": r.source,
                "kind": r.kind.as_str(),
                "created_at": r.created_at.map(format_rfc3339),
                "score": h.score,
                "lang": a.lang,
                "rating": r.rating,
                "channel": r.channel,
                "tags": r.tags,
                "sentiment": a.sentiment,
                "themes": a.themes.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(),
                "theme_names": a.themes.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
                "title": r.title,
                "snippet": h.snippet,
                "highlights": h.highlights,
                "snippet_parts": snippet_parts(&h.snippet, &h.highlights),
            })
        })
        .collect();
    let themes: Vec<Value> = results
        .facets
        .themes
        .iter()
        .map(|f| {
            json!({
                "id": f.value,
                "name": theme_name(taxonomy, &f.value),
                "parent": f.value.rsplit_once('.').map(|(p, _)| p),
                "count": f.count,
            })
        })
        .collect();
    let sentiment: Vec<Value> = results
        .facets
        .sentiment
        .iter()
        .map(|f| json!({"label": f.value, "count": f.count}))
        .collect();
    json!({
        "total": results.total,
        "facets": {"themes": themes, "sentiment": sentiment},
        "hits": hits,
    })
}

async fn record(
    State(state): State<Shared>,
    Path((source, id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    if source.len() > 200 || id.len() > 500 {
        return Err(ApiError::bad_request("record key too long"));
    }
    let key = format!("{source}:{id}");
    let found = blocking(move || {
        reload(&state)?;
        let stored = state
            .index
            .get(&key)
            .map_err(|e| ApiError::internal(e.to_string()))?;
        Ok(stored.map(|s| {
            let r = &s.record;
            json!({
                "key": key,
                "created_at_text": r.created_at.map(format_rfc3339),
                "record": r,
                "analysis": s.analysis,
            })
        }))
    })
    .await?;
    found.map(Json).ok_or(ApiError {
        status: StatusCode::NOT_FOUND,
        message: "no such record".into(),
    })
}

async fn themes(State(state): State<Shared>) -> Result<Json<Value>, ApiError> {
    let body = blocking(move || {
        reload(&state)?;
        themes_json(&state)
    })
    .await?;
    Ok(Json((*body).clone()))
}

/// The summary of the whole index, recomputed only when a commit changed it.
fn themes_json(state: &AppState) -> Result<Arc<Value>, ApiError> {
    let opstamp = state.index.committed_opstamp();
    let mut cache = state.themes.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((stamp, value)) = cache.as_ref() {
        if *stamp == opstamp {
            return Ok(value.clone());
        }
    }
    let internal = |e: &dyn std::fmt::Display| ApiError::internal(e.to_string());
    // Phrase discovery from the per-segment tables `run` caches beside the
    // index, as `report` does: only segments without a table are tokenized.
    let discovery = crate::pipeline::indexed_discovery(&state.index).map_err(|e| internal(&e))?;
    let mut builder = SummaryBuilder::without_discovery(&state.taxonomy, SummaryOptions::default());
    state
        .index
        .for_each_record(|stored| builder.add(&stored))
        .map_err(|e| internal(&e))?;
    let summary = builder.finish_with(discovery);
    let taxonomy: Vec<Value> = state
        .taxonomy
        .themes
        .iter()
        .map(|t| json!({"id": t.id, "name": t.name, "name_zh": t.name_zh, "parent": t.parent()}))
        .collect();
    let value = Arc::new(json!({"summary": summary, "taxonomy": taxonomy}));
    *cache = Some((opstamp, value.clone()));
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippet_parts_split_on_highlights() {
        let parts = snippet_parts("my refund is late", &[(3, 9)]);
        assert_eq!(
            parts,
            vec![
                json!({"text": "my ", "hl": false}),
                json!({"text": "refund", "hl": true}),
                json!({"text": " is late", "hl": false}),
            ]
        );
    }

    #[test]
    fn snippet_parts_skip_bad_ranges() {
        // 退 is 3 bytes: (0, 2) is not a character boundary.
        let parts = snippet_parts("退款", &[(0, 2), (4, 99)]);
        assert_eq!(parts, vec![json!({"text": "退款", "hl": false})]);
    }

    #[test]
    fn page_is_self_contained() {
        for external in [
            "<script src",
            "<link",
            "@import",
            "url(",
            "src=\"http",
            "href=\"http",
        ] {
            assert!(!PAGE.contains(external), "page loads {external}");
        }
        assert!(!PAGE.contains("innerHTML"));
    }
}
