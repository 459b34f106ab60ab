//! The columns of the theme and record tables, defined once for the CSV files
//! and the workbook's sheets. A theme column carries its name, value and
//! kind: the CSV writer prints the values as text; the workbook writes
//! numbers as numbers with a format per kind.
//!
//! CSV consumers may read columns by position, so columns are only ever
//! appended.

use crate::summary::ThemeSummary;

/// Header of records.csv and of the workbook's Records sheet, in order (each
/// writer fills the cells its own way: text in the CSV, typed in the workbook).
pub const RECORD_COLUMNS: [&str; 16] = [
    "id",
    "source",
    "kind",
    "created_at",
    "lang",
    "rating",
    "sentiment_score",
    "sentiment_label",
    "text_sentiment_score",
    "themes",
    "signals",
    "title",
    "text",
    "first_response_minutes",
    "resolution_minutes",
    "ces",
];

/// How a numeric cell is shown in the workbook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumberKind {
    /// A count or plain number.
    Plain,
    /// A fraction shown as a percentage.
    Percent,
    /// A sentiment score, two decimals.
    Score,
    /// An impact, four decimals.
    Impact,
}

/// One cell of the theme table.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// Text (neutralised against formula injection by each writer).
    Text(String),
    /// A number.
    Number(f64, NumberKind),
    /// A count (written without decimals in the CSV).
    Count(u64),
    /// TRUE or FALSE.
    Bool(bool),
    /// Nothing (e.g. no change when the previous period had no records).
    Empty,
}

/// A column of the theme table.
pub struct ThemeColumn {
    /// Header.
    pub name: &'static str,
    /// Long text, wrapped in the workbook at this width.
    pub wrap_width: Option<f64>,
    /// The cell of a theme.
    pub value: fn(&ThemeSummary) -> Cell,
}

fn text(s: &str) -> Cell {
    Cell::Text(s.to_string())
}

/// The theme table's columns, in order.
pub const THEME_COLUMNS: [ThemeColumn; 24] = [
    ThemeColumn {
        name: "rank",
        wrap_width: None,
        value: |t| Cell::Count(t.rank as u64),
    },
    ThemeColumn {
        name: "id",
        wrap_width: None,
        value: |t| text(&t.id),
    },
    ThemeColumn {
        name: "name",
        wrap_width: None,
        value: |t| text(&t.name),
    },
    ThemeColumn {
        name: "parent",
        wrap_width: None,
        value: |t| text(t.parent.as_deref().unwrap_or("")),
    },
    ThemeColumn {
        name: "records",
        wrap_width: None,
        value: |t| Cell::Count(t.records),
    },
    ThemeColumn {
        name: "share",
        wrap_width: None,
        value: |t| Cell::Number(t.share, NumberKind::Percent),
    },
    ThemeColumn {
        name: "negative_share",
        wrap_width: None,
        value: |t| Cell::Number(t.negative_share, NumberKind::Percent),
    },
    ThemeColumn {
        name: "mean_sentiment",
        wrap_width: None,
        value: |t| Cell::Number(t.mean_sentiment, NumberKind::Score),
    },
    ThemeColumn {
        name: "impact",
        wrap_width: None,
        value: |t| Cell::Number(t.impact, NumberKind::Impact),
    },
    ThemeColumn {
        name: "latest_week",
        wrap_width: None,
        value: |t| Cell::Count(t.trend.latest_records),
    },
    ThemeColumn {
        name: "previous_week",
        wrap_width: None,
        value: |t| Cell::Count(t.trend.previous_records),
    },
    ThemeColumn {
        name: "change",
        wrap_width: None,
        value: |t| match t.trend.change {
            Some(c) => Cell::Number(c, NumberKind::Percent),
            None => Cell::Empty,
        },
    },
    ThemeColumn {
        name: "emerging",
        wrap_width: None,
        value: |t| Cell::Bool(t.trend.emerging),
    },
    ThemeColumn {
        name: "top_phrases",
        wrap_width: Some(30.0),
        value: |t| text(&t.top_phrases.join("; ")),
    },
    ThemeColumn {
        name: "quote",
        wrap_width: Some(60.0),
        value: |t| text(t.quotes.first().map(|q| q.text.as_str()).unwrap_or("")),
    },
    ThemeColumn {
        name: "name_zh",
        wrap_width: None,
        value: |t| text(t.name_zh.as_deref().unwrap_or("")),
    },
    ThemeColumn {
        name: "recent_weekly",
        wrap_width: None,
        value: |t| Cell::Number(t.trend.recent_weekly, NumberKind::Plain),
    },
    ThemeColumn {
        name: "baseline_weekly",
        wrap_width: None,
        value: |t| Cell::Number(t.trend.baseline_weekly, NumberKind::Plain),
    },
    ThemeColumn {
        name: "p_value",
        wrap_width: None,
        value: |t| Cell::Number(t.trend.p_value, NumberKind::Plain),
    },
    ThemeColumn {
        name: "median_resolution_minutes",
        wrap_width: None,
        value: |t| match t.median_resolution_minutes {
            Some(m) => Cell::Number(m, NumberKind::Plain),
            None => Cell::Empty,
        },
    },
    ThemeColumn {
        name: "souring",
        wrap_width: None,
        value: |t| Cell::Bool(t.trend.souring),
    },
    ThemeColumn {
        name: "fading",
        wrap_width: None,
        value: |t| Cell::Bool(t.trend.fading),
    },
    ThemeColumn {
        name: "negative_share_recent",
        wrap_width: None,
        value: |t| match t.trend.negative_share_recent {
            Some(s) => Cell::Number(s, NumberKind::Percent),
            None => Cell::Empty,
        },
    },
    ThemeColumn {
        name: "negative_share_baseline",
        wrap_width: None,
        value: |t| match t.trend.negative_share_baseline {
            Some(s) => Cell::Number(s, NumberKind::Percent),
            None => Cell::Empty,
        },
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_columns_keep_their_places() {
        let names: Vec<&str> = THEME_COLUMNS.iter().map(|c| c.name).collect();
        assert_eq!(
            names[..15],
            [
                "rank",
                "id",
                "name",
                "parent",
                "records",
                "share",
                "negative_share",
                "mean_sentiment",
                "impact",
                "latest_week",
                "previous_week",
                "change",
                "emerging",
                "top_phrases",
                "quote"
            ]
        );
        let t = ThemeSummary::default();
        assert_eq!((THEME_COLUMNS[11].value)(&t), Cell::Empty);
        assert_eq!((THEME_COLUMNS[12].value)(&t), Cell::Bool(false));
    }
}
