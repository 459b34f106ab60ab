//! Terminal views: the ranked summary after a run, and search results.

use std::fmt::Write;

use crate::index::SearchResults;
use crate::ingest::format_date;
use crate::summary::{Summary, Trend, TrendUnit};

/// Themes shown in the terminal (all are in the files).
const TERMINAL_THEMES: usize = 20;

fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

/// Renders the run's counts and the ranked summary.
pub fn render_summary(summary: &Summary) -> String {
    let mut out = String::new();
    let c = &summary.counts;
    let _ = writeln!(
        out,
        "counts: read {}, indexed {} (new {}, updated {}, unchanged {}), duplicates {}, rejected {}",
        c.read, c.indexed, c.new, c.updated, c.unchanged, c.duplicates, c.rejected
    );
    if c.superseded > 0 {
        let _ = writeln!(
            out,
            "        {} older versions were superseded by a later version of the same record",
            c.superseded
        );
    }
    if c.files_skipped > 0 {
        let _ = writeln!(
            out,
            "        {} files unchanged since the last run were skipped ({} records, still in the index; --full reads them again)",
            c.files_skipped, c.skipped_records
        );
    }
    if c.undated > 0 {
        let _ = writeln!(
            out,
            "warning: {} records have no creation date; they are left out of trends",
            c.undated
        );
    }
    let period = match (&summary.period.from, &summary.period.to) {
        (Some(f), Some(t)) => format!("{} to {}", &f[..10.min(f.len())], &t[..10.min(t.len())]),
        _ => "no dates".to_string(),
    };
    let _ = writeln!(
        out,
        "\nVoice of the customer: {} records, {period}",
        summary.records
    );
    let n = summary.records.max(1) as f64;
    let s = &summary.sentiment;
    let _ = write!(
        out,
        "sentiment: {} negative, {} neutral, {} positive",
        pct(s.negative as f64 / n),
        pct(s.neutral as f64 / n),
        pct(s.positive as f64 / n)
    );
    if let Some(csat) = summary.metrics.csat {
        let _ = write!(out, " | CSAT {csat:.1}% of {} rated", summary.metrics.rated);
    }
    if let Some(mean) = summary.metrics.mean_rating {
        let _ = write!(out, " | mean rating {mean:.2}");
    }
    if let Some(nps) = summary.metrics.nps {
        let _ = write!(
            out,
            " | NPS {nps:.0} ({} answers)",
            summary.metrics.nps_responses
        );
    }
    out.push('\n');
    let service = super::service_line(&summary.metrics);
    if !service.is_empty() {
        let _ = writeln!(out, "service: {service}");
    }
    let _ = writeln!(
        out,
        "\n{:>4}  {:<34} {:>7} {:>6} {:>5} {:>6} {:>7}  {:>8}",
        "rank",
        "theme (biggest pain first)",
        "records",
        "share",
        "neg",
        "mean",
        "impact",
        match summary.trend_unit {
            TrendUnit::Week => "last wk",
            TrendUnit::Day => "last day",
        }
    );
    for t in summary.themes.iter().take(TERMINAL_THEMES) {
        let name = if t.name.chars().count() > 34 {
            format!("{}…", t.name.chars().take(33).collect::<String>())
        } else {
            t.name.clone()
        };
        let trend = format!(
            "{} vs {}{}",
            t.trend.latest_records,
            t.trend.previous_records,
            if t.trend.emerging {
                "  ▲ emerging"
            } else if t.trend.souring {
                "  ↘ souring"
            } else if t.trend.fading {
                "  ▼ fading"
            } else {
                ""
            }
        );
        let _ = writeln!(
            out,
            "{:>4}  {:<34} {:>7} {:>6} {:>5} {:>6.2} {:>7.4}  {}",
            t.rank,
            name,
            t.records,
            pct(t.share),
            format!("{:.0}%", t.negative_share * 100.0),
            t.mean_sentiment,
            t.impact,
            trend
        );
    }
    if summary.themes.len() > TERMINAL_THEMES {
        let _ = writeln!(
            out,
            "      … {} more themes in the report files",
            summary.themes.len() - TERMINAL_THEMES
        );
    }
    let _ = writeln!(
        out,
        "unthemed: {} records ({})",
        summary.unthemed,
        pct(summary.unthemed as f64 / n)
    );
    let flagged = |flag: fn(&Trend) -> bool| -> Vec<&str> {
        summary
            .flagged_themes(flag)
            .map(|t| t.name.as_str())
            .collect()
    };
    let emerging = flagged(|t| t.emerging);
    if !emerging.is_empty() {
        let when = match summary.trend_unit {
            TrendUnit::Week => "this week",
            TrendUnit::Day => "today",
        };
        let _ = writeln!(out, "emerging {when}: {}", emerging.join(", "));
    }
    let souring = flagged(|t| t.souring);
    if !souring.is_empty() {
        let _ = writeln!(
            out,
            "souring (more negative than before): {}",
            souring.join(", ")
        );
    }
    let fading = flagged(|t| t.fading);
    if !fading.is_empty() {
        let _ = writeln!(
            out,
            "fading (mentioned less than before): {}",
            fading.join(", ")
        );
    }
    since_last_run(&mut out, summary);
    if let Some(top) = summary.themes.first() {
        if let Some(q) = top.quotes.first() {
            let _ = writeln!(
                out,
                "top pain, in a customer's words: \"{}\" ({}:{})",
                q.text, q.source, q.id
            );
        }
    }
    if !summary.unmapped.is_empty() {
        let _ = writeln!(
            out,
            "unmapped complaints (no theme covers them; see summary.json for TOML snippets):"
        );
        for c in summary.unmapped.iter().take(5) {
            let example = c.quotes.first().map(|q| q.text.as_str()).unwrap_or("");
            let _ = writeln!(
                out,
                "  \"{}\" in {} negative records ({:.0}% of its records negative, z {:.1}): \"{}\"",
                c.label,
                c.records,
                c.negative_share * 100.0,
                c.score,
                one_line(example)
            );
        }
    }
    if !summary.signals.is_empty() {
        let list: Vec<String> = summary
            .signals
            .iter()
            .map(|s| format!("{} {}", s.name, s.records))
            .collect();
        let _ = writeln!(out, "signals: {}", list.join(", "));
    }
    out
}

/// Renders search results as a readable list; `bold` marks highlights with ANSI bold.
pub fn render_search(results: &SearchResults, bold: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} matching records, showing {}",
        results.total,
        results.hits.len()
    );
    if results.total > 0 {
        let _ = writeln!(out, "{}", render_facets(results));
    }
    for hit in &results.hits {
        let r = &hit.stored.record;
        let a = &hit.stored.analysis;
        let date = r
            .created_at
            .map(format_date)
            .unwrap_or_else(|| "no date".into());
        let themes: Vec<&str> = a.themes.iter().map(|t| t.id.as_str()).collect();
        let _ = writeln!(
            out,
            "\n{}:{}  {}  {} {:+.2}  [{}]",
            r.source,
            r.id,
            date,
            a.sentiment.label.as_str(),
            a.sentiment.score,
            themes.join(", ")
        );
        if let Some(title) = &r.title {
            let _ = writeln!(out, "  {}", one_line(title));
        }
        let _ = writeln!(
            out,
            "  {}",
            one_line(&highlight(&hit.snippet, &hit.highlights, bold))
        );
    }
    out
}

/// Facet lines: sentiment counts, then the most frequent themes (groups and
/// leaves; the full lists are in `--format json`).
fn render_facets(results: &SearchResults) -> String {
    let join = |list: &[crate::index::FacetCount], max: usize| {
        let mut parts: Vec<String> = list
            .iter()
            .take(max)
            .map(|f| format!("{} {}", f.value, f.count))
            .collect();
        if list.len() > max {
            parts.push(format!("… {} more", list.len() - max));
        }
        parts.join(", ")
    };
    let mut out = format!("sentiment: {}", join(&results.facets.sentiment, 3));
    if results.facets.themes.is_empty() {
        out.push_str("\nthemes: none");
    } else {
        out.push_str(&format!("\nthemes: {}", join(&results.facets.themes, 12)));
    }
    out
}

/// Theme name of an id, for the lines below.
fn theme_name<'a>(summary: &'a Summary, id: &'a str) -> &'a str {
    summary
        .themes
        .iter()
        .find(|t| t.id == id)
        .map_or(id, |t| t.name.as_str())
}

/// "since the last run" lines: records added overall and per theme, emerging
/// changes and new unmapped candidates.
fn since_last_run(out: &mut String, summary: &Summary) {
    let Some(since) = &summary.since_last_run else {
        return;
    };
    let mut by_theme: Vec<String> = since
        .themes
        .iter()
        .take(6)
        .map(|t| format!("{} {:+}", t.name, t.added))
        .collect();
    if since.themes.len() > 6 {
        by_theme.push(format!("… {} more", since.themes.len() - 6));
    }
    let _ = writeln!(
        out,
        "since the last run ({}): {:+} records{}",
        since.previous_generated_at,
        since.records_added,
        if by_theme.is_empty() {
            String::new()
        } else {
            format!("; {}", by_theme.join(", "))
        }
    );
    let names = |ids: &[String]| -> String {
        ids.iter()
            .map(|id| theme_name(summary, id))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !since.newly_emerging.is_empty() {
        let _ = writeln!(out, "  newly emerging: {}", names(&since.newly_emerging));
    }
    if !since.newly_souring.is_empty() {
        let _ = writeln!(out, "  newly souring: {}", names(&since.newly_souring));
    }
    if !since.newly_fading.is_empty() {
        let _ = writeln!(out, "  newly fading: {}", names(&since.newly_fading));
    }
    if !since.no_longer_emerging.is_empty() {
        let _ = writeln!(
            out,
            "  no longer emerging: {}",
            names(&since.no_longer_emerging)
        );
    }
    if !since.new_unmapped.is_empty() {
        let _ = writeln!(
            out,
            "  new unmapped complaints: {}",
            since
                .new_unmapped
                .iter()
                .map(|l| format!("\"{l}\""))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Marks highlighted ranges with ANSI bold, or with [brackets] without color.
pub fn highlight(text: &str, ranges: &[(usize, usize)], bold: bool) -> String {
    let (open, close) = if bold {
        ("\x1b[1m", "\x1b[0m")
    } else {
        ("[", "]")
    };
    let mut out = String::with_capacity(text.len() + ranges.len() * 8);
    let mut last = 0;
    for &(s, e) in ranges {
        if s < last || e > text.len() || !text.is_char_boundary(s) || !text.is_char_boundary(e) {
            continue;
        }
        out.push_str(&text[last..s]);
        out.push_str(open);
        out.push_str(&text[s..e]);
        out.push_str(close);
        last = e;
    }
    out.push_str(&text[last..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn highlights_wrap_ranges() {
        assert_eq!(
            highlight("my refund is late", &[(3, 9)], false),
            "my [refund] is late"
        );
        assert_eq!(highlight("退款慢", &[(0, 6)], false), "[退款]慢");
        assert_eq!(highlight("abc", &[(1, 9)], false), "abc");
    }
}
