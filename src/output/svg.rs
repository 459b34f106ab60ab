//! Charts as inline SVG, drawn by our own code so report.html needs no
//! scripts, no network and no chart library: horizontal bars, a line chart,
//! sparklines and a stacked split bar. Every label goes through
//! [`escape`](super::html::escape); numbers are formatted with fixed
//! precision so the same summary always gives the same bytes.

use std::fmt::Write;

use super::html::escape;

/// Series colours (colour-blind friendly, after Okabe and Ito).
pub const PALETTE: [&str; 8] = [
    "#d55e00", "#0072b2", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#7f6d00", "#555555",
];

/// One bar of a [`bar_chart`].
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    /// Label left of the bar.
    pub label: String,
    /// Length of the bar (values at or below zero draw no bar).
    pub value: f64,
    /// Text right of the bar.
    pub note: String,
    /// Drawn in the accent colour (e.g. an emerging theme).
    pub highlight: bool,
}

/// A horizontal bar chart, one row per bar, longest value = full width.
pub fn bar_chart(bars: &[Bar], width: u32, title: &str) -> String {
    let row = 26.0;
    let label_w = 290.0;
    let note_w = 150.0;
    let plot_w = (width as f64 - label_w - note_w).max(50.0);
    let height = row * bars.len() as f64 + 8.0;
    let max = bars.iter().map(|b| b.value).fold(0.0_f64, f64::max);
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg class="chart" role="img" viewBox="0 0 {width} {height:.0}" width="{width}" height="{height:.0}"><title>{}</title>"#,
        escape(title)
    );
    for (i, b) in bars.iter().enumerate() {
        let y = i as f64 * row + 4.0;
        let len = if max > 0.0 && b.value > 0.0 {
            (b.value / max * plot_w).max(2.0)
        } else {
            0.0
        };
        let fill = if b.highlight { "#d55e00" } else { "#3b6ea5" };
        let _ = write!(
            out,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end" class="lbl">{}</text><rect x="{label_w:.1}" y="{:.1}" width="{len:.1}" height="{:.1}" rx="3" fill="{fill}"/><text x="{:.1}" y="{:.1}" class="note">{}</text>"#,
            label_w - 8.0,
            y + 16.0,
            escape(&b.label),
            y + 3.0,
            row - 8.0,
            label_w + len + 6.0,
            y + 16.0,
            escape(&b.note),
        );
    }
    out.push_str("</svg>");
    out
}

/// One line of a [`line_chart`].
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend text.
    pub name: String,
    /// One value per x label.
    pub values: Vec<u64>,
}

/// A line chart with one line per series, x labels under the axis and a legend.
pub fn line_chart(x_labels: &[String], series: &[Series], width: u32, height: u32) -> String {
    let (left, right, top) = (44.0, 16.0, 12.0);
    let legend_rows = series.len().div_ceil(2) as f64;
    let bottom = 34.0 + legend_rows * 20.0;
    let w = width as f64 - left - right;
    let h = height as f64 - top - bottom;
    let n = x_labels.len();
    let max = series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .max()
        .unwrap_or(0)
        .max(1);
    let step = nice_step(max);
    let y_max = max.div_ceil(step) * step;
    let x = |i: usize| {
        if n > 1 {
            left + w * i as f64 / (n - 1) as f64
        } else {
            left + w / 2.0
        }
    };
    let y = |v: u64| top + h - h * v as f64 / y_max as f64;
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="{width}" height="{height}"><title>Records per week</title>"#
    );
    let mut v = 0;
    while v <= y_max {
        let yy = y(v);
        let _ = write!(
            out,
            r##"<line x1="{left:.1}" x2="{:.1}" y1="{yy:.1}" y2="{yy:.1}" stroke="#e3e6ea"/><text x="{:.1}" y="{:.1}" text-anchor="end" class="axis">{v}</text>"##,
            left + w,
            left - 6.0,
            yy + 4.0
        );
        v += step;
    }
    let every = n.div_ceil(8).max(1);
    for (i, label) in x_labels.iter().enumerate() {
        if i % every != 0 && i + 1 != n {
            continue;
        }
        let short = label.get(5..).unwrap_or(label);
        let _ = write!(
            out,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" class="axis">{}</text>"#,
            x(i),
            top + h + 16.0,
            escape(short)
        );
    }
    for (k, s) in series.iter().enumerate() {
        let color = PALETTE[k % PALETTE.len()];
        let points: Vec<String> = s
            .values
            .iter()
            .enumerate()
            .map(|(i, &v)| format!("{:.1},{:.1}", x(i), y(v)))
            .collect();
        let _ = write!(
            out,
            r#"<polyline fill="none" stroke="{color}" stroke-width="2.5" stroke-linejoin="round" points="{}"/>"#,
            points.join(" ")
        );
        if let (Some(&last), Some(_)) = (s.values.last(), s.values.first()) {
            let _ = write!(
                out,
                r#"<circle cx="{:.1}" cy="{:.1}" r="3.5" fill="{color}"/>"#,
                x(s.values.len() - 1),
                y(last)
            );
        }
        let lx = left + (k % 2) as f64 * w / 2.0;
        let ly = top + h + 36.0 + (k / 2) as f64 * 20.0;
        let _ = write!(
            out,
            r#"<rect x="{lx:.1}" y="{:.1}" width="14" height="4" fill="{color}"/><text x="{:.1}" y="{ly:.1}" class="lbl">{}</text>"#,
            ly - 6.0,
            lx + 20.0,
            escape(&s.name)
        );
    }
    out.push_str("</svg>");
    out
}

/// A round step for about 4 to 8 grid lines up to `max`.
fn nice_step(max: u64) -> u64 {
    let mut step = 1;
    for candidate in [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000] {
        step = candidate;
        if max / candidate <= 6 {
            return step;
        }
    }
    let mut s = step;
    while max / s > 6 {
        s *= 10;
    }
    s
}

/// A small line of weekly counts, the last point marked.
pub fn sparkline(values: &[u64], width: u32, height: u32, color: &str) -> String {
    let n = values.len();
    let max = values.iter().copied().max().unwrap_or(0).max(1) as f64;
    let (w, h) = (width as f64 - 4.0, height as f64 - 4.0);
    let x = |i: usize| {
        if n > 1 {
            2.0 + w * i as f64 / (n - 1) as f64
        } else {
            2.0 + w / 2.0
        }
    };
    let y = |v: u64| 2.0 + h - h * v as f64 / max;
    let points: Vec<String> = values
        .iter()
        .enumerate()
        .map(|(i, &v)| format!("{:.1},{:.1}", x(i), y(v)))
        .collect();
    let mut out = format!(
        r#"<svg class="spark" viewBox="0 0 {width} {height}" width="{width}" height="{height}" aria-hidden="true"><polyline fill="none" stroke="{color}" stroke-width="1.6" points="{}"/>"#,
        points.join(" ")
    );
    if let Some(&last) = values.last() {
        let _ = write!(
            out,
            r#"<circle cx="{:.1}" cy="{:.1}" r="2.2" fill="{color}"/>"#,
            x(n - 1),
            y(last)
        );
    }
    out.push_str("</svg>");
    out
}

/// A single bar split into parts (label, count, colour), with a legend below.
pub fn split_bar(parts: &[(&str, u64, &str)], width: u32) -> String {
    let total: u64 = parts.iter().map(|p| p.1).sum();
    let mut out = format!(
        r#"<svg class="chart" role="img" viewBox="0 0 {width} 52" width="{width}" height="52"><title>Sentiment split</title>"#
    );
    let mut x = 0.0;
    for (label, count, color) in parts {
        let share = if total > 0 {
            *count as f64 / total as f64
        } else {
            0.0
        };
        let w = share * width as f64;
        let _ = write!(
            out,
            r#"<rect x="{x:.1}" y="0" width="{w:.1}" height="24" fill="{color}"/>"#
        );
        if w > 70.0 {
            let _ = write!(
                out,
                r#"<text x="{:.1}" y="16" class="inbar">{} {:.0}%</text>"#,
                x + 6.0,
                escape(label),
                share * 100.0
            );
        }
        x += w;
    }
    let mut lx = 0.0;
    for (label, count, color) in parts {
        let _ = write!(
            out,
            r#"<rect x="{lx:.1}" y="36" width="10" height="10" fill="{color}"/><text x="{:.1}" y="46" class="lbl">{} {count}</text>"#,
            lx + 14.0,
            escape(label)
        );
        lx += 130.0;
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped_in_charts() {
        let bars = [Bar {
            label: "<script>alert(1)</script>".into(),
            value: 1.0,
            note: "a & b".into(),
            highlight: false,
        }];
        let svg = bar_chart(&bars, 600, "t");
        assert!(svg.contains("&lt;script&gt;"));
        assert!(svg.contains("a &amp; b"));
        assert!(!svg.contains("<script>"));
    }

    #[test]
    fn line_chart_draws_one_line_per_series() {
        let labels: Vec<String> = vec!["2026-01-05".into(), "2026-01-12".into()];
        let series = [
            Series {
                name: "a".into(),
                values: vec![1, 3],
            },
            Series {
                name: "b".into(),
                values: vec![0, 0],
            },
        ];
        let svg = line_chart(&labels, &series, 600, 300);
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert!(svg.contains(">01-05<"));
    }

    #[test]
    fn empty_inputs_do_not_panic() {
        assert!(line_chart(&[], &[], 300, 200).ends_with("</svg>"));
        assert!(sparkline(&[], 60, 20, "#000").ends_with("</svg>"));
        assert!(split_bar(&[("none", 0, "#000")], 300).ends_with("</svg>"));
        assert!(bar_chart(&[], 300, "t").ends_with("</svg>"));
    }

    #[test]
    fn nice_steps_are_round() {
        assert_eq!(nice_step(5), 1);
        assert_eq!(nice_step(14), 5);
        assert_eq!(nice_step(90), 20);
        assert!(90 / nice_step(90) <= 6);
        assert!(123_456 / nice_step(123_456) <= 6);
    }
}
