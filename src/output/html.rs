//! `report.html`: one self-contained page for people (a CX manager, not an
//! analyst): headline counts and the sentiment split, themes ranked by impact
//! as a bar chart, weekly trend lines of the top themes, emerging themes
//! called out, and customer quotes per theme.
//!
//! The page loads nothing: no scripts at all, CSS inline, charts drawn as
//! inline SVG by [`super::svg`], system fonts only (with CJK fallbacks). All
//! customer text goes through [`escape`], so a ticket that contains
//! `<script>` renders as text.
//!
//! Unmapped complaints (discovery candidates) are not shown: the discovery
//! feature does not exist yet and [`Summary`] has no list of them.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

use super::svg::{bar_chart, line_chart, sparkline, split_bar, Bar, Series};
use super::{AtomicFile, OutputError};
use crate::summary::{Summary, ThemeSummary, TrendUnit};

/// Themes drawn in the ranked bar chart.
const BAR_THEMES: usize = 15;
/// Themes drawn as lines in the trend chart.
const TREND_THEMES: usize = 5;
/// Themes with a quotes card.
const QUOTE_THEMES: usize = 12;

/// Escapes text for HTML element content and quoted attribute values:
/// `&`, `<`, `>`, `"` and `'`.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Writes `report.html` for the summary.
pub fn write_html_report(summary: &Summary, path: &Path) -> Result<(), OutputError> {
    let mut file = AtomicFile::create(path)?;
    file.writer()
        .write_all(render_html(summary).as_bytes())
        .map_err(|source| OutputError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    file.commit()
}

fn pct(x: f64) -> String {
    format!("{:.0}%", x * 100.0)
}

fn day(ts: &Option<String>) -> String {
    ts.as_deref()
        .map(|t| t.get(..10).unwrap_or(t).to_string())
        .unwrap_or_else(|| "no dates".into())
}

fn theme_label(t: &ThemeSummary) -> String {
    match &t.name_zh {
        Some(zh) if !zh.is_empty() => format!("{} · {}", t.name, zh),
        _ => t.name.clone(),
    }
}

fn sentiment_class(score: f64) -> &'static str {
    if score <= -0.05 {
        "neg"
    } else if score >= 0.05 {
        "pos"
    } else {
        "neu"
    }
}

/// Renders the whole page.
pub fn render_html(summary: &Summary) -> String {
    let mut h = String::with_capacity(64 * 1024);
    let period = format!(
        "{} to {}",
        day(&summary.period.from),
        day(&summary.period.to)
    );
    let _ = write!(
        h,
        r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Voice of the customer · {}</title>
<style>{CSS}</style>
</head>
<body>
<header><h1>Voice of the customer</h1><p class="sub">{} records · {} · generated {}</p></header>
<main>
"#,
        escape(&period),
        summary.records,
        escape(&period),
        escape(&summary.generated_at)
    );
    headline(&mut h, summary);
    since_last_run(&mut h, summary);
    emerging(&mut h, summary);
    shifts(&mut h, summary);
    signals(&mut h, summary);
    ranked(&mut h, summary);
    trends(&mut h, summary);
    table(&mut h, summary);
    unmapped(&mut h, summary);
    quotes(&mut h, summary);
    let _ = write!(
        h,
        r#"</main>
<footer>Made by vocscope from {} records. Impact = how much the mean score of all records would rise if this theme's records scored like the rest. Emerging = significantly more frequent in the last 2 {unit}s than in the 6 {unit}s before, compared with the records outside the theme and outside other rising themes (binomial test, p &lt; 0.01). Trend windows are anchored at {}.</footer>
</body>
</html>
"#,
        summary.records,
        escape(&day(&summary.period.as_of)),
        unit = summary.trend_unit.name(),
    );
    h
}

fn headline(h: &mut String, s: &Summary) {
    let n = s.records.max(1) as f64;
    h.push_str(r#"<section class="cards">"#);
    let mut card = |value: String, label: &str| {
        let _ = write!(
            h,
            r#"<div class="card"><div class="big">{}</div><div class="lbl">{}</div></div>"#,
            escape(&value),
            escape(label)
        );
    };
    card(s.records.to_string(), "records");
    card(pct(s.sentiment.negative as f64 / n), "negative");
    if let Some(csat) = s.metrics.csat {
        card(
            format!("{csat:.0}%"),
            &format!("CSAT ({} rated)", s.metrics.rated),
        );
    }
    if let Some(mean) = s.metrics.mean_rating {
        card(format!("{mean:.1} ★"), "mean rating");
    }
    if let Some(nps) = s.metrics.nps {
        card(
            format!("{nps:.0}"),
            &format!("NPS ({} answers)", s.metrics.nps_responses),
        );
    }
    let m = &s.metrics;
    if let Some(v) = m.service.median_first_response_minutes {
        card(
            super::format_minutes(v),
            &format!(
                "median first response ({} tickets)",
                m.service.first_response_records
            ),
        );
    }
    if let Some(v) = m.service.median_resolution_minutes {
        card(
            super::format_minutes(v),
            &format!(
                "median resolution ({} resolved)",
                m.service.resolved_records
            ),
        );
    }
    if let (Some(ces), Some(easy)) = (m.service.ces, m.service.ces_easy_share) {
        card(
            format!("{ces:.1} / 7"),
            &format!("CES, {easy:.0}% easy ({} answers)", m.service.ces_responses),
        );
    }
    card(
        s.flagged_themes(|t| t.emerging).count().to_string(),
        "emerging themes",
    );
    card(pct(s.unthemed as f64 / n), "matched no theme");
    h.push_str("</section>\n");
    let _ = writeln!(
        h,
        r#"<section><h2>Sentiment</h2>{}</section>"#,
        split_bar(
            &[
                ("negative", s.sentiment.negative, "#c0392b"),
                ("neutral", s.sentiment.neutral, "#b0b7c0"),
                ("positive", s.sentiment.positive, "#2e8b57"),
            ],
            1000
        )
    );
}

fn emerging(h: &mut String, s: &Summary) {
    let list: Vec<&ThemeSummary> = s.flagged_themes(|t| t.emerging).collect();
    if list.is_empty() {
        return;
    }
    h.push_str(r#"<section class="alert"><h2>Emerging this fortnight</h2><ul>"#);
    for t in list {
        let quote = t
            .quotes
            .first()
            .map(|q| format!(r#"<q>{}</q>"#, escape(&q.text)))
            .unwrap_or_default();
        let _ = write!(
            h,
            r#"<li><span class="badge">▲ emerging</span> <b>{}</b> (rank {}): {:.1} records a week in the last 2 {unit}s against {:.1} before; {} in the last {unit}, {} the {unit} before. {}</li>"#,
            escape(&theme_label(t)),
            t.rank,
            t.trend.recent_weekly,
            t.trend.baseline_weekly,
            t.trend.latest_records,
            t.trend.previous_records,
            quote,
            unit = t.trend.unit.name()
        );
    }
    h.push_str("</ul></section>\n");
}

/// Themes whose mentions turned negative, and themes mentioned less than
/// before (lost praise, or a problem going away).
fn shifts(h: &mut String, s: &Summary) {
    let souring: Vec<&ThemeSummary> = s.flagged_themes(|t| t.souring).collect();
    let fading: Vec<&ThemeSummary> = s.flagged_themes(|t| t.fading).collect();
    if souring.is_empty() && fading.is_empty() {
        return;
    }
    h.push_str(r#"<section><h2>Souring and fading</h2><ul>"#);
    for t in souring {
        let _ = write!(
            h,
            r#"<li><span class="badge">↘ souring</span> <b>{}</b>: {} of its mentions negative in the last 2 {unit}s against {} before.</li>"#,
            escape(&theme_label(t)),
            t.trend.negative_share_recent.map_or_else(String::new, pct),
            t.trend
                .negative_share_baseline
                .map_or_else(String::new, pct),
            unit = t.trend.unit.name()
        );
    }
    for t in fading {
        let _ = write!(
            h,
            r#"<li><span class="badge">▼ fading</span> <b>{}</b>: {:.1} records a week in the last 2 {unit}s against {:.1} before{}.</li>"#,
            escape(&theme_label(t)),
            t.trend.recent_weekly,
            t.trend.baseline_weekly,
            if t.impact < 0.0 {
                " (praise heard less)"
            } else {
                ""
            },
            unit = t.trend.unit.name()
        );
    }
    h.push_str("</ul></section>\n");
}

fn signals(h: &mut String, s: &Summary) {
    if s.signals.is_empty() {
        return;
    }
    h.push_str(r#"<section><h2>Risk signals</h2><p class="hint">Records with words that call for action, any theme.</p><div class="signals">"#);
    for signal in &s.signals {
        let _ = write!(
            h,
            r#"<span class="signal"><b>{}</b> {}</span>"#,
            signal.records,
            escape(&signal.name)
        );
    }
    h.push_str("</div></section>\n");
}

fn ranked(h: &mut String, s: &Summary) {
    let bars: Vec<Bar> = s
        .themes
        .iter()
        .filter(|t| t.impact > 0.0)
        .take(BAR_THEMES)
        .map(|t| Bar {
            label: format!("{}. {}", t.rank, t.name),
            value: t.impact,
            note: format!(
                "{} rec · {} neg{}",
                t.records,
                pct(t.negative_share),
                if t.trend.emerging { " · ▲" } else { "" }
            ),
            highlight: t.trend.emerging,
        })
        .collect();
    if bars.is_empty() {
        return;
    }
    let _ = writeln!(
        h,
        r#"<section><h2>Biggest pain points</h2><p class="hint">Themes ranked by impact on overall sentiment; orange = emerging.</p>{}</section>"#,
        bar_chart(&bars, 1000, "Themes ranked by impact")
    );
}

/// The series trends are drawn on: weekly, or daily for a short period.
fn periods(s: &Summary) -> (&[String], &'static str) {
    match s.trend_unit {
        TrendUnit::Week => (&s.weeks, "week"),
        TrendUnit::Day => (&s.days, "day"),
    }
}

fn theme_series(s: &Summary, t: &ThemeSummary) -> Vec<u64> {
    match s.trend_unit {
        TrendUnit::Week => t.weekly.clone(),
        TrendUnit::Day => t.daily.clone(),
    }
}

fn trends(h: &mut String, s: &Summary) {
    let (labels, unit) = periods(s);
    if labels.len() < 2 {
        return;
    }
    let series: Vec<Series> = s
        .themes
        .iter()
        .filter(|t| t.impact > 0.0)
        .take(TREND_THEMES)
        .map(|t| Series {
            name: format!("{}{}", t.name, if t.trend.emerging { " ▲" } else { "" }),
            values: theme_series(s, t),
        })
        .collect();
    if series.is_empty() {
        return;
    }
    let _ = writeln!(
        h,
        r#"<section><h2>Trend of the top {} themes</h2><p class="hint">Records per {unit}, {unit}s starting on the date shown.</p>{}</section>"#,
        series.len(),
        line_chart(labels, &series, 1000, 340)
    );
}

fn table(h: &mut String, s: &Summary) {
    if s.themes.is_empty() {
        h.push_str("<section><h2>Themes</h2><p>No theme matched any record.</p></section>\n");
        return;
    }
    let _ = write!(
        h,
        r#"<section><h2>All themes</h2><table><thead><tr><th>#</th><th>theme</th><th class="num">records</th><th class="num">share</th><th class="num">negative</th><th class="num">mean</th><th>trend</th><th class="num">last {}</th></tr></thead><tbody>"#,
        periods(s).1
    );
    for t in &s.themes {
        let badge = if t.trend.emerging {
            r#" <span class="badge">▲ emerging</span>"#
        } else {
            ""
        };
        let color = if t.trend.emerging {
            "#d55e00"
        } else {
            "#3b6ea5"
        };
        let _ = write!(
            h,
            r#"<tr><td>{}</td><td>{}{badge}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num {}">{:+.2}</td><td>{}</td><td class="num">{} vs {}</td></tr>"#,
            t.rank,
            escape(&theme_label(t)),
            t.records,
            pct(t.share),
            pct(t.negative_share),
            sentiment_class(t.mean_sentiment),
            t.mean_sentiment,
            sparkline(&theme_series(s, t), 120, 24, color),
            t.trend.latest_records,
            t.trend.previous_records
        );
    }
    h.push_str("</tbody></table></section>\n");
}

fn unmapped(h: &mut String, s: &Summary) {
    if s.unmapped.is_empty() {
        return;
    }
    h.push_str(
        r#"<section><h2>Unmapped complaints</h2><p class="hint">Phrases over-represented in negative records that no theme covers. Paste a snippet into the taxonomy to make it a theme.</p><div class="quotes">"#,
    );
    for c in &s.unmapped {
        let _ = write!(
            h,
            r#"<div class="qcard"><h3>“{}”</h3><p class="phrases">{} negative records · {} of its records negative · {}</p>"#,
            escape(&c.label),
            c.records,
            pct(c.negative_share),
            escape(&c.phrases.join(" · "))
        );
        for q in c.quotes.iter().take(2) {
            let _ = write!(
                h,
                r#"<blockquote class="neg">{}<cite>{}:{}</cite></blockquote>"#,
                escape(&q.text),
                escape(&q.source),
                escape(&q.id)
            );
        }
        let _ = write!(h, "<pre>{}</pre></div>", escape(&c.toml));
    }
    h.push_str("</div></section>\n");
}

fn since_last_run(h: &mut String, s: &Summary) {
    let Some(since) = &s.since_last_run else {
        return;
    };
    let name = |id: &str| -> String {
        s.themes
            .iter()
            .find(|t| t.id == id)
            .map_or_else(|| id.to_string(), theme_label)
    };
    let _ = write!(
        h,
        r#"<section><h2>Since the last run</h2><p class="hint">Compared with the run of {}.</p><p><b>{:+}</b> records.</p>"#,
        escape(&since.previous_generated_at),
        since.records_added
    );
    if !since.themes.is_empty() {
        h.push_str(
            r#"<table><thead><tr><th>theme</th><th class="num">records added</th><th class="num">then</th></tr></thead><tbody>"#,
        );
        for t in &since.themes {
            let _ = write!(
                h,
                r#"<tr><td>{}</td><td class="num">{:+}</td><td class="num">{}</td></tr>"#,
                escape(&name(&t.id)),
                t.added,
                t.previous_records
            );
        }
        h.push_str("</tbody></table>");
    }
    let lists = [
        ("Newly emerging", &since.newly_emerging, true),
        ("No longer emerging", &since.no_longer_emerging, true),
        ("Newly souring", &since.newly_souring, true),
        ("Newly fading", &since.newly_fading, true),
        ("New unmapped complaints", &since.new_unmapped, false),
    ];
    for (title, items, themes) in lists {
        if items.is_empty() {
            continue;
        }
        let list: Vec<String> = items
            .iter()
            .map(|i| {
                escape(&if themes {
                    name(i)
                } else {
                    format!("“{i}”")
                })
            })
            .collect();
        let _ = write!(h, "<p><b>{title}:</b> {}</p>", list.join(", "));
    }
    h.push_str("</section>\n");
}

fn quotes(h: &mut String, s: &Summary) {
    let with_quotes: Vec<&ThemeSummary> = s
        .themes
        .iter()
        .filter(|t| !t.quotes.is_empty())
        .take(QUOTE_THEMES)
        .collect();
    if with_quotes.is_empty() {
        return;
    }
    h.push_str(r#"<section><h2>In the customers' words</h2><div class="quotes">"#);
    for t in with_quotes {
        let _ = write!(
            h,
            r#"<div class="qcard"><h3>{}. {}</h3>"#,
            t.rank,
            escape(&theme_label(t))
        );
        if !t.top_phrases.is_empty() {
            let _ = write!(
                h,
                r#"<p class="phrases">{}</p>"#,
                escape(&t.top_phrases.join(" · "))
            );
        }
        for q in &t.quotes {
            let _ = write!(
                h,
                r#"<blockquote class="{}">{}<cite>{}:{} · {:+.2}</cite></blockquote>"#,
                sentiment_class(q.sentiment),
                escape(&q.text),
                escape(&q.source),
                escape(&q.id),
                q.sentiment
            );
        }
        h.push_str("</div>");
    }
    h.push_str("</div></section>\n");
}

const CSS: &str = r#"
:root{--ink:#1d2733;--muted:#5b6673;--line:#e3e6ea;--bg:#f5f7fa;--accent:#d55e00;--blue:#3b6ea5}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","Noto Sans CJK SC","PingFang SC","Microsoft YaHei",sans-serif}
header{background:#1f3a5f;color:#fff;padding:22px 32px}
header h1{margin:0;font-size:26px}
.sub{margin:4px 0 0;color:#c9d6e6}
main{max-width:1080px;margin:0 auto;padding:18px 24px 8px}
section{background:#fff;border:1px solid var(--line);border-radius:8px;padding:16px 20px;margin:0 0 18px}
h2{font-size:18px;margin:0 0 10px}
h3{font-size:15px;margin:0 0 6px}
.hint{color:var(--muted);margin:-6px 0 10px;font-size:13px}
.cards{display:flex;flex-wrap:wrap;gap:12px;background:none;border:0;padding:0}
.card{flex:1 1 120px;background:#fff;border:1px solid var(--line);border-radius:8px;padding:12px 16px}
.big{font-size:26px;font-weight:700;white-space:nowrap}
.lbl{font-size:12px;fill:var(--ink);color:var(--muted)}
.card .lbl{text-transform:uppercase;letter-spacing:.04em}
svg.chart{max-width:100%;height:auto;display:block}
svg .lbl{font-size:13px;fill:var(--ink)}
svg .note,svg .axis{font-size:12px;fill:var(--muted)}
svg .inbar{font-size:12px;fill:#fff;font-weight:600}
.signals{display:flex;flex-wrap:wrap;gap:8px}
.signal{border:1px solid var(--line);border-radius:14px;padding:2px 12px;background:#fbfcfd}
.signal b{color:#c0392b;margin-right:4px}
.alert{border-left:6px solid var(--accent)}
.alert ul{margin:0;padding-left:18px}
.alert li{margin:0 0 8px}
.alert q{display:block;color:var(--muted);font-style:italic;margin-top:2px}
.badge{display:inline-block;background:var(--accent);color:#fff;border-radius:10px;padding:0 8px;font-size:11px;font-weight:600;white-space:nowrap}
table{width:100%;border-collapse:collapse;font-size:13px}
th,td{padding:4px 6px;border-bottom:1px solid var(--line);text-align:left;vertical-align:middle}
th{color:var(--muted);font-weight:600}
.num{text-align:right;white-space:nowrap}
td.neg{color:#c0392b}td.pos{color:#2e8b57}
.quotes{display:grid;grid-template-columns:1fr 1fr;gap:14px}
.qcard{border:1px solid var(--line);border-radius:6px;padding:10px 12px}
.phrases{color:var(--muted);font-size:12px;margin:0 0 6px}
blockquote{margin:0 0 8px;padding:4px 10px;border-left:3px solid var(--line);white-space:pre-wrap;word-break:break-word}
blockquote.neg{border-color:#c0392b}blockquote.pos{border-color:#2e8b57}
pre{white-space:pre-wrap;background:var(--bg);border:1px solid var(--line);padding:6px 8px;font-size:12px;margin:6px 0 0}
cite{display:block;color:var(--muted);font-size:11px;font-style:normal}
footer{max-width:1080px;margin:0 auto;padding:0 24px 28px;color:var(--muted);font-size:12px}
@media (max-width:720px){.quotes{grid-template-columns:1fr}}
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summary::{Quote, Trend};

    #[test]
    fn escape_handles_the_five_characters() {
        assert_eq!(
            escape(r#"<a href="x" title='y'>&</a>"#),
            "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;"
        );
        assert_eq!(escape("退款 refund"), "退款 refund");
        assert_eq!(escape(""), "");
        assert_eq!(escape("&amp;"), "&amp;amp;");
    }

    fn theme(text: &str) -> ThemeSummary {
        ThemeSummary {
            id: "app.crash".into(),
            name: "App crashes".into(),
            name_zh: Some("闪退".into()),
            parent: Some("app".into()),
            rank: 1,
            records: 3,
            share: 0.5,
            negative_share: 1.0,
            mean_sentiment: -0.5,
            impact: 0.2,
            trend: Trend {
                emerging: true,
                ..Trend::default()
            },
            weekly: vec![0, 1, 2],
            top_phrases: vec!["crash".into()],
            quotes: vec![Quote {
                id: "1".into(),
                source: "generic".into(),
                text: text.into(),
                sentiment: -0.6,
            }],
            ..ThemeSummary::default()
        }
    }

    fn summary(themes: Vec<ThemeSummary>) -> Summary {
        Summary {
            generated_at: "2026-11-16T00:00:00Z".into(),
            period: Default::default(),
            counts: Default::default(),
            records: 6,
            near_duplicates: 0,
            unthemed: 3,
            weeks: vec![
                "2026-11-02".into(),
                "2026-11-09".into(),
                "2026-11-16".into(),
            ],
            weekly_records: vec![1, 2, 3],
            themes,
            sentiment: Default::default(),
            metrics: Default::default(),
            signals: vec![],
            unmapped: vec![],
            ..Summary::default()
        }
    }

    #[test]
    fn ticket_text_with_script_renders_as_text() {
        let html = render_html(&summary(vec![theme(
            "it crashed <script>alert('x')</script> & <img src=x onerror=alert(1)>",
        )]));
        assert!(!html.contains("<script"), "a script element leaked");
        assert!(!html.contains("<img"), "an img element leaked");
        assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
        assert!(html.contains("▲ emerging"));
        assert!(html.contains("闪退"));
    }

    #[test]
    fn page_refers_to_nothing_outside() {
        let html = render_html(&summary(vec![theme("fine")]));
        for needle in ["http:", "https:", "//", "src=", "href=", "@import", "url("] {
            assert!(!html.contains(needle), "found {needle}");
        }
    }

    #[test]
    fn empty_summary_renders() {
        let html = render_html(&summary(vec![]));
        assert!(html.contains("No theme matched any record."));
        assert!(html.ends_with("</html>\n"));
    }
}
