//! `vocscope.xlsx`: the summary as a workbook for spreadsheet users.
//!
//! Sheets: Summary (counts, metrics, top themes), Themes (the ranked table),
//! Trends (theme by week, one row per theme, with a native Excel line chart) and Records (one row
//! per record). The Records sheet is filled during the one pass over the
//! index that also writes records.csv ([`XlsxReport::add_template`]), its
//! rows written and deflated by vocscope as they come (`sheet_part`), so a
//! large index never sits in memory; the summary sheets are filled once the
//! summary is known ([`XlsxReport::finish`]), by rust_xlsxwriter, and the
//! rows put into its workbook.
//!
//! Safety: every text cell comes from customer data, so it is written with
//! `write_string` (never as a formula) and neutralised with [`safe_cell`](super::safe_cell)
//! like the CSV files, so no spreadsheet evaluates it even after an edit.
//! Numbers are numbers and dates are real Excel dates.
//!
//! The discovery feature (unmapped complaints) does not exist yet and the
//! [`Summary`] has no list of candidates, so there is no Unmapped sheet.

use std::borrow::Cow;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use rust_xlsxwriter::{
    Chart, ChartType, DocProperties, ExcelDateTime, Format, FormatAlign, Workbook, Worksheet,
    XlsxError,
};

use super::columns::{Cell, NumberKind, RECORD_COLUMNS, THEME_COLUMNS};
use super::csv_files::safe;
use super::rows::RowFields;
use super::sheet_part::{
    note_template, probe_styles, row_template, splice_workbook, RowsPart, COLUMNS,
};
use super::{AtomicFile, OutputError};
use crate::index::StoredRecord;
use crate::ingest::parse_date_str;
use crate::summary::Summary;

/// Sheet positions, in the order they are added.
const SUMMARY: usize = 0;
const THEMES: usize = 1;
const TRENDS: usize = 2;
const RECORDS: usize = 3;
const UNMAPPED: usize = 4;

/// Header of the Unmapped sheet, with column widths.
const UNMAPPED_COLUMNS: [(&str, f64); 7] = [
    ("phrase", 18.0),
    ("records", 9.0),
    ("negative_share", 10.0),
    ("score", 8.0),
    ("phrases", 30.0),
    ("examples", 70.0),
    ("toml", 50.0),
];

/// Themes drawn in the Trends chart (all themes are in the table).
const CHART_THEMES: usize = 6;
/// Top themes listed on the Summary sheet.
const SUMMARY_THEMES: usize = 10;
/// Most record rows on the Records sheet: Excel's 1,048,576 rows, less the
/// header and a closing note. Records past it are counted and left to records.csv.
pub const MAX_RECORD_ROWS: u32 = 1_048_576 - 2;
/// Longest text kept in a cell, in UTF-16 units: Excel counts its limit
/// (32,767) in those, so a character outside the Basic Multilingual Plane
/// (most emoji) takes two.
const MAX_CELL_UNITS: usize = 32_000;

/// Widths of the Records sheet's columns, in the order of [`RECORD_COLUMNS`].
const RECORD_WIDTHS: [f64; 16] = [
    14.0, 11.0, 8.0, 17.0, 6.0, 7.0, 10.0, 10.0, 10.0, 34.0, 16.0, 30.0, 80.0, 11.0, 11.0, 6.0,
];

/// Text for a cell: neutralised against formula injection, cut to Excel's
/// limit (counted in UTF-16 units, as Excel does, so a text full of emoji
/// is cut too rather than failing the workbook).
pub fn xlsx_text(text: &str) -> String {
    xlsx_cell_text(text).into_owned()
}

/// [`xlsx_text`] without a copy when the text is safe and short enough as
/// it is (most cells of the Records sheet).
pub(super) fn xlsx_cell_text(text: &str) -> Cow<'_, str> {
    let safe = safe(text);
    // A UTF-16 unit takes at least one byte of UTF-8: nothing to cut.
    if safe.len() <= MAX_CELL_UNITS {
        return safe;
    }
    let mut units = 0;
    for (i, ch) in safe.char_indices() {
        units += ch.len_utf16();
        if units > MAX_CELL_UNITS {
            return Cow::Owned(format!("{}…", &safe[..i]));
        }
    }
    safe
}

/// Cell formats shared by the sheets.
pub(super) struct Formats {
    pub(super) header: Format,
    wrap: Format,
    datetime: Format,
    header_date: Format,
    percent: Format,
    score: Format,
    impact: Format,
    title: Format,
    left: Format,
}

impl Formats {
    pub(super) fn new() -> Formats {
        Formats {
            header: Format::new()
                .set_bold()
                .set_background_color(0x1F3A5F)
                .set_font_color(0xFFFFFF)
                .set_align(FormatAlign::Top),
            wrap: Format::new().set_text_wrap().set_align(FormatAlign::Top),
            header_date: Format::new()
                .set_bold()
                .set_background_color(0x1F3A5F)
                .set_font_color(0xFFFFFF)
                .set_num_format("mmm d"),
            datetime: Format::new()
                .set_num_format("yyyy-mm-dd hh:mm")
                .set_align(FormatAlign::Top),
            percent: Format::new().set_num_format("0.0%"),
            score: Format::new().set_num_format("0.00"),
            impact: Format::new().set_num_format("0.0000"),
            title: Format::new().set_bold().set_font_size(14),
            left: Format::new().set_align(FormatAlign::Left),
        }
    }
}

/// The workbook being written: Records streamed first, summary sheets at the end.
pub struct XlsxReport {
    path: PathBuf,
    workbook: Workbook,
    formats: Formats,
    /// The Records sheet's rows, deflated as they come ([`RowsPart`]).
    rows: RowsPart,
    template: Vec<u8>,
    next_row: u32,
    max_rows: u32,
    omitted: u64,
}

/// Name of the Records sheet's part in the workbook's zip.
fn records_part() -> String {
    format!("xl/worksheets/sheet{}.xml", RECORDS + 1)
}

/// A workbook with its sheets and the Records header, as every report
/// starts. Its Records sheet is in constant-memory mode, which gives cell
/// formats their final index as soon as they are used: the header's
/// column formats are the first, so their indices are the same in every
/// report ([`column_styles`]).
fn new_workbook(formats: &Formats) -> Result<Workbook, XlsxError> {
    let mut workbook = Workbook::new();
    // Compressing the Records sheet is most of the time of saving a big
    // workbook; the fastest level takes about half the time of the
    // default (6) for a file about a third larger. (The Records rows
    // themselves are deflated by [`RowsPart`], at the same level.)
    workbook.set_zip_compression_level(1);
    workbook.add_worksheet().set_name("Summary")?;
    workbook.add_worksheet().set_name("Themes")?;
    workbook.add_worksheet().set_name("Trends")?;
    workbook
        .add_worksheet_with_constant_memory()?
        .set_name("Records")?;
    workbook.add_worksheet().set_name("Unmapped")?;
    records_header(workbook.worksheet_from_index(RECORDS)?, formats)?;
    Ok(workbook)
}

/// The style index of each Records column's cells, read once from a small
/// workbook started like every report with a row in every column (built in
/// memory; errors name `path`, the workbook being written).
fn column_styles(path: &Path) -> Result<[u32; COLUMNS], OutputError> {
    static STYLES: OnceLock<[u32; COLUMNS]> = OnceLock::new();
    if let Some(styles) = STYLES.get() {
        return Ok(*styles);
    }
    let probe = path;
    let err = xlsx_err(probe);
    let io = |source| OutputError::Io {
        path: probe.to_path_buf(),
        source,
    };
    let mut workbook = new_workbook(&Formats::new()).map_err(&err)?;
    let sheet = workbook.worksheet_from_index(RECORDS).map_err(&err)?;
    for col in 0..COLUMNS as u16 {
        sheet.write_number(1, col, 1.0).map_err(&err)?;
    }
    let bytes = workbook.save_to_buffer().map_err(&err)?;
    let mut xml = String::new();
    zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .and_then(|mut zip| {
            zip.by_name(&records_part())?.read_to_string(&mut xml)?;
            Ok(())
        })
        .map_err(|e| io(std::io::Error::other(e)))?;
    let styles = probe_styles(&xml).ok_or_else(|| {
        io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "no styled row in the Records sheet",
        ))
    })?;
    Ok(*STYLES.get_or_init(|| styles))
}

impl XlsxReport {
    /// Starts the workbook: adds the sheets and the Records header.
    pub fn create(path: &Path) -> Result<XlsxReport, OutputError> {
        let err = xlsx_err(path);
        let styles = column_styles(path)?;
        let formats = Formats::new();
        let workbook = new_workbook(&formats).map_err(&err)?;
        let io = |source| OutputError::Io {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut temp = path.as_os_str().to_owned();
        temp.push(".rows.tmp");
        let rows = RowsPart::create(PathBuf::from(temp), &styles).map_err(io)?;
        Ok(XlsxReport {
            path: path.to_path_buf(),
            workbook,
            formats,
            rows,
            template: Vec::new(),
            next_row: 1,
            max_rows: MAX_RECORD_ROWS,
            omitted: 0,
        })
    }

    /// Appends one stored record to the Records sheet ([`XlsxReport::add_row`]).
    pub fn add_record(&mut self, stored: &StoredRecord) -> Result<(), OutputError> {
        self.add_row(&RowFields::of(stored))
    }

    /// Appends one record's row to the Records sheet (past [`MAX_RECORD_ROWS`]
    /// it only counts it; a note at the end of the sheet says how many).
    pub fn add_row(&mut self, fields: &RowFields<'_>) -> Result<(), OutputError> {
        let mut template = std::mem::take(&mut self.template);
        template.clear();
        row_template(fields, &mut template).map_err(xlsx_err(&self.path))?;
        let added = self.add_template(&template);
        self.template = template;
        added
    }

    /// Appends one record's row from its template, the sheet part of a row
    /// encoded by [`RowFields::encode`] (past [`MAX_RECORD_ROWS`] it only
    /// counts it).
    pub fn add_template(&mut self, template: &[u8]) -> Result<(), OutputError> {
        if self.next_row > self.max_rows {
            self.omitted += 1;
            return Ok(());
        }
        self.rows
            .push_row(template, self.next_row + 1)
            .map_err(|source| OutputError::Io {
                path: self.path.clone(),
                source,
            })?;
        self.next_row += 1;
        Ok(())
    }

    /// Fills the summary sheets and saves the workbook (atomically: a temporary
    /// file renamed into place).
    pub fn finish(mut self, summary: &Summary) -> Result<(), OutputError> {
        let err = xlsx_err(&self.path);
        let io = |source| OutputError::Io {
            path: self.path.clone(),
            source,
        };
        // The last row of the sheet, 1-based: the last record's, or the note's.
        let mut last_row = self.next_row;
        if self.omitted > 0 {
            let note = format!(
                "{} more records do not fit in a worksheet: see records.csv",
                self.omitted
            );
            let mut template = Vec::new();
            note_template(&note, &mut template).map_err(&err)?;
            self.rows
                .push_row(&template, self.next_row + 1)
                .map_err(io)?;
            last_row += 1;
        }
        let filter_row = self.next_row.saturating_sub(1).max(1);
        finish_sheets(&mut self.workbook, &self.formats, summary, filter_row).map_err(&err)?;
        let workbook = self.workbook.save_to_buffer().map_err(&err)?;
        let mut file = AtomicFile::create(&self.path)?;
        match splice_workbook(
            &workbook,
            &records_part(),
            self.rows,
            last_row,
            file.writer(),
        ) {
            Ok(()) => file.commit(),
            Err(e) => {
                file.discard();
                Err(io(e))
            }
        }
    }
}

/// Fills the workbook's summary sheets and properties, and puts the
/// Records sheet's filter over its rows up to `last_row` (0-based).
fn finish_sheets(
    workbook: &mut Workbook,
    f: &Formats,
    summary: &Summary,
    last_row: u32,
) -> Result<(), XlsxError> {
    // Creation time from the summary, not the clock: the same summary
    // gives the same file.
    let mut properties = DocProperties::new()
        .set_title("Voice of the customer")
        .set_comment("Made by vocscope");
    if let Some(created) =
        parse_date_str(&summary.generated_at).and_then(|t| ExcelDateTime::from_timestamp(t).ok())
    {
        properties = properties.set_creation_datetime(&created);
    }
    workbook.set_properties(&properties);
    workbook.worksheet_from_index(RECORDS)?.autofilter(
        0,
        0,
        last_row,
        RECORD_COLUMNS.len() as u16 - 1,
    )?;
    write_summary_sheet(workbook.worksheet_from_index(SUMMARY)?, summary, f)?;
    write_themes_sheet(workbook.worksheet_from_index(THEMES)?, summary, f)?;
    write_trends_sheet(workbook.worksheet_from_index(TRENDS)?, summary, f)?;
    write_unmapped_sheet(workbook.worksheet_from_index(UNMAPPED)?, summary, f)?;
    Ok(())
}

/// Writes the header row of a records sheet ([`RECORD_COLUMNS`]) with its
/// column widths, frozen, and printed landscape.
pub(super) fn records_header(sheet: &mut Worksheet, f: &Formats) -> Result<(), XlsxError> {
    for (col, (name, width)) in RECORD_COLUMNS.iter().zip(RECORD_WIDTHS).enumerate() {
        let col = col as u16;
        sheet.set_column_width(col, width)?;
        // Cells without a format take their column's: a format given per
        // cell is looked up in a hash table each time, a third of the time
        // of writing a row ([`record_row`] writes without).
        let format = match col {
            3 => Some(&f.datetime),
            5 | 13.. => None,
            6 | 8 => Some(&f.score),
            _ => Some(&f.wrap),
        };
        if let Some(format) = format {
            sheet.set_column_format(col, format)?;
        }
        sheet.write_string_with_format(0, col, *name, &f.header)?;
    }
    sheet.set_freeze_panes(1, 0)?;
    sheet
        .set_landscape()
        .set_print_fit_to_pages(1, 0)
        .set_repeat_rows(0, 0)?;
    Ok(())
}

/// Writes one record's row values as row `row` of a records sheet
/// (formats come from the columns, set by [`records_header`]).
pub(super) fn record_row(
    sheet: &mut Worksheet,
    row: u32,
    fields: &RowFields<'_>,
) -> Result<(), XlsxError> {
    let text = |sheet: &mut Worksheet, col: u16, value: &str| {
        sheet.write_string(row, col, xlsx_text(value)).map(|_| ())
    };
    text(sheet, 0, fields.id)?;
    text(sheet, 1, fields.source)?;
    text(sheet, 2, fields.kind)?;
    if let Some(date) = fields
        .created_at
        .and_then(|t| ExcelDateTime::from_timestamp(t).ok())
    {
        // A date is a number in the date-formatted column.
        sheet.write_number(row, 3, date.to_excel())?;
    }
    text(sheet, 4, fields.lang)?;
    if let Some(rating) = fields.rating {
        sheet.write_number(row, 5, rating)?;
    }
    sheet.write_number(row, 6, fields.sentiment_score)?;
    text(sheet, 7, fields.sentiment_label)?;
    sheet.write_number(row, 8, fields.text_sentiment_score)?;
    text(sheet, 9, &fields.themes.join("; "))?;
    text(sheet, 10, &fields.signals.join("; "))?;
    text(sheet, 11, fields.title)?;
    text(sheet, 12, fields.text)?;
    for (col, value) in [
        (13, fields.first_response_minutes),
        (14, fields.resolution_minutes),
        (15, fields.ces),
    ] {
        if let Some(v) = value {
            sheet.write_number(row, col, v)?;
        }
    }
    Ok(())
}

fn xlsx_err(path: &Path) -> impl Fn(XlsxError) -> OutputError + '_ {
    move |source| OutputError::Xlsx {
        path: path.to_path_buf(),
        source,
    }
}

fn write_summary_sheet(
    sheet: &mut Worksheet,
    summary: &Summary,
    f: &Formats,
) -> Result<(), XlsxError> {
    sheet.write_string_with_format(0, 0, "Voice of the customer", &f.title)?;
    let row = std::cell::Cell::new(2u32);
    let gap = || row.set(row.get() + 1);
    let label = |sheet: &mut Worksheet, text: &str| -> Result<u32, XlsxError> {
        let r = row.get();
        sheet.write_string(r, 0, text)?;
        row.set(r + 1);
        Ok(r)
    };
    let date_cell = |sheet: &mut Worksheet, r: u32, value: &Option<String>| {
        match value.as_deref().and_then(parse_date_str) {
            Some(t) => match ExcelDateTime::from_timestamp(t) {
                Ok(d) => sheet.write_datetime_with_format(r, 1, &d, &f.datetime),
                Err(_) => sheet.write_string(r, 1, xlsx_text(value.as_deref().unwrap_or(""))),
            },
            None => sheet.write_string(r, 1, ""),
        }
        .map(|_| ())
    };
    let r = label(sheet, "period from")?;
    date_cell(sheet, r, &summary.period.from)?;
    let r = label(sheet, "period to")?;
    date_cell(sheet, r, &summary.period.to)?;
    let r = label(sheet, "trends anchored at")?;
    date_cell(sheet, r, &summary.period.as_of)?;
    let r = label(sheet, "generated at")?;
    sheet.write_string(r, 1, xlsx_text(&summary.generated_at))?;
    let r = label(sheet, "records")?;
    sheet.write_number(r, 1, summary.records as f64)?;
    let r = label(sheet, "unthemed records")?;
    sheet.write_number(r, 1, summary.unthemed as f64)?;
    gap();
    let r = label(sheet, "sentiment")?;
    sheet.write_string_with_format(r, 0, "sentiment", &f.header)?;
    sheet.write_string_with_format(r, 1, "records", &f.header)?;
    sheet.write_string_with_format(r, 2, "share", &f.header)?;
    let n = summary.records.max(1) as f64;
    for (name, count) in [
        ("negative", summary.sentiment.negative),
        ("neutral", summary.sentiment.neutral),
        ("positive", summary.sentiment.positive),
    ] {
        let r = label(sheet, name)?;
        sheet.write_number(r, 1, count as f64)?;
        sheet.write_number_with_format(r, 2, count as f64 / n, &f.percent)?;
    }
    gap();
    let r = label(sheet, "metric")?;
    sheet.write_string_with_format(r, 0, "metric", &f.header)?;
    sheet.write_string_with_format(r, 1, "value", &f.header)?;
    let m = &summary.metrics;
    let r = label(sheet, "rated records")?;
    sheet.write_number(r, 1, m.rated as f64)?;
    if let Some(v) = m.mean_rating {
        let r = label(sheet, "mean rating (1-5)")?;
        sheet.write_number_with_format(r, 1, v, &f.score)?;
    }
    if let Some(v) = m.csat {
        let r = label(sheet, "CSAT (share of 4-5 ratings)")?;
        sheet.write_number_with_format(r, 1, v / 100.0, &f.percent)?;
    }
    let r = label(sheet, "NPS responses")?;
    sheet.write_number(r, 1, m.nps_responses as f64)?;
    if let Some(v) = m.nps {
        let r = label(sheet, "NPS")?;
        sheet.write_number(r, 1, v)?;
    }
    for (name, records, median) in [
        (
            "median first response (minutes)",
            m.service.first_response_records,
            m.service.median_first_response_minutes,
        ),
        (
            "median resolution (minutes)",
            m.service.resolved_records,
            m.service.median_resolution_minutes,
        ),
    ] {
        if let Some(v) = median {
            let r = label(sheet, &format!("{name}, of {records} tickets"))?;
            sheet.write_number(r, 1, v)?;
        }
    }
    if let (Some(ces), Some(easy)) = (m.service.ces, m.service.ces_easy_share) {
        let r = label(
            sheet,
            &format!("CES (mean 1-7), of {} answers", m.service.ces_responses),
        )?;
        sheet.write_number_with_format(r, 1, ces, &f.score)?;
        let r = label(sheet, "CES easy (share of 5-7)")?;
        sheet.write_number_with_format(r, 1, easy / 100.0, &f.percent)?;
    }
    gap();
    let r = label(sheet, "counts of the last run")?;
    sheet.write_string_with_format(r, 0, "counts of the last run", &f.header)?;
    sheet.write_string_with_format(r, 1, "items", &f.header)?;
    let c = &summary.counts;
    for (name, v) in [
        ("read", c.read),
        ("indexed", c.indexed),
        ("new", c.new),
        ("updated", c.updated),
        ("unchanged", c.unchanged),
        ("duplicates", c.duplicates),
        ("rejected", c.rejected),
        ("undated", c.undated),
    ] {
        let r = label(sheet, name)?;
        sheet.write_number(r, 1, v as f64)?;
    }
    gap();
    let r = label(sheet, "top themes")?;
    for (col, name) in ["rank", "theme", "records", "impact", "emerging"]
        .iter()
        .enumerate()
    {
        sheet.write_string_with_format(r, col as u16, *name, &f.header)?;
    }
    for t in summary.themes.iter().take(SUMMARY_THEMES) {
        let r = label(sheet, "")?;
        sheet.write_number_with_format(r, 0, t.rank as f64, &f.left)?;
        sheet.write_string(r, 1, xlsx_text(&t.name))?;
        sheet.write_number(r, 2, t.records as f64)?;
        sheet.write_number_with_format(r, 3, t.impact, &f.impact)?;
        sheet.write_boolean(r, 4, t.trend.emerging)?;
    }
    sheet.set_column_width(0, 46)?;
    sheet.set_column_width(1, 36)?;
    sheet.set_column_width(2, 10)?;
    sheet.set_column_width(3, 10)?;
    sheet.set_column_width(4, 10)?;
    sheet.set_print_fit_to_pages(1, 1);
    Ok(())
}

fn write_themes_sheet(
    sheet: &mut Worksheet,
    summary: &Summary,
    f: &Formats,
) -> Result<(), XlsxError> {
    for (col, column) in THEME_COLUMNS.iter().enumerate() {
        sheet.write_string_with_format(0, col as u16, column.name, &f.header)?;
    }
    for (i, t) in summary.themes.iter().enumerate() {
        let row = i as u32 + 1;
        for (col, column) in THEME_COLUMNS.iter().enumerate() {
            let col = col as u16;
            match (column.value)(t) {
                Cell::Text(text) if column.wrap_width.is_some() => {
                    sheet.write_string_with_format(row, col, xlsx_text(&text), &f.wrap)?
                }
                Cell::Text(text) => sheet.write_string(row, col, xlsx_text(&text))?,
                Cell::Count(n) => sheet.write_number(row, col, n as f64)?,
                Cell::Number(x, NumberKind::Plain) => sheet.write_number(row, col, x)?,
                Cell::Number(x, NumberKind::Percent) => {
                    sheet.write_number_with_format(row, col, x, &f.percent)?
                }
                Cell::Number(x, NumberKind::Score) => {
                    sheet.write_number_with_format(row, col, x, &f.score)?
                }
                Cell::Number(x, NumberKind::Impact) => {
                    sheet.write_number_with_format(row, col, x, &f.impact)?
                }
                Cell::Bool(b) => sheet.write_boolean(row, col, b)?,
                Cell::Empty => sheet,
            };
        }
    }
    sheet.set_autofit_max_width(300);
    sheet.autofit();
    for (col, column) in THEME_COLUMNS.iter().enumerate() {
        if let Some(width) = column.wrap_width {
            sheet.set_column_width(col as u16, width)?;
        }
    }
    sheet.set_freeze_panes(1, 3)?;
    sheet
        .set_landscape()
        .set_print_fit_to_pages(1, 0)
        .set_repeat_rows(0, 0)?;
    sheet.autofilter(
        0,
        0,
        summary.themes.len().max(1) as u32,
        THEME_COLUMNS.len() as u16 - 1,
    )?;
    Ok(())
}

/// Discovery candidates: complaints no theme covers, with a TOML snippet each.
fn write_unmapped_sheet(
    sheet: &mut Worksheet,
    summary: &Summary,
    f: &Formats,
) -> Result<(), XlsxError> {
    for (col, (name, width)) in UNMAPPED_COLUMNS.iter().enumerate() {
        sheet.write_string_with_format(0, col as u16, *name, &f.header)?;
        sheet.set_column_width(col as u16, *width)?;
    }
    for (i, c) in summary.unmapped.iter().enumerate() {
        let row = i as u32 + 1;
        let examples: Vec<String> = c
            .quotes
            .iter()
            .map(|q| format!("{} ({}:{})", q.text, q.source, q.id))
            .collect();
        sheet.write_string_with_format(row, 0, xlsx_text(&c.label), &f.wrap)?;
        sheet.write_number(row, 1, c.records as f64)?;
        sheet.write_number_with_format(row, 2, c.negative_share, &f.percent)?;
        sheet.write_number_with_format(row, 3, c.score, &f.score)?;
        sheet.write_string_with_format(row, 4, xlsx_text(&c.phrases.join("; ")), &f.wrap)?;
        sheet.write_string_with_format(row, 5, xlsx_text(&examples.join("\n")), &f.wrap)?;
        sheet.write_string_with_format(row, 6, xlsx_text(&c.toml), &f.wrap)?;
    }
    if summary.unmapped.is_empty() {
        sheet.write_string(1, 0, "No complaint outside the taxonomy stands out.")?;
    }
    sheet.set_freeze_panes(1, 1)?;
    sheet.set_landscape().set_print_fit_to_pages(1, 0);
    Ok(())
}

fn write_trends_sheet(
    sheet: &mut Worksheet,
    summary: &Summary,
    f: &Formats,
) -> Result<(), XlsxError> {
    // One row per theme (by rank), one column per week: a short, wide-enough
    // table that prints on one page across, with the chart under it.
    sheet.write_string_with_format(0, 0, "theme (by rank)", &f.header)?;
    sheet.write_string_with_format(0, 1, "records", &f.header)?;
    for (w, week) in summary.weeks.iter().enumerate() {
        let col = w as u16 + 2;
        match ExcelDateTime::parse_from_str(week) {
            Ok(d) => sheet.write_datetime_with_format(0, col, &d, &f.header_date)?,
            Err(_) => sheet.write_string_with_format(0, col, xlsx_text(week), &f.header)?,
        };
        sheet.set_column_width(col, 7)?;
    }
    sheet.write_string(1, 0, "All records")?;
    sheet.write_number(1, 1, summary.records as f64)?;
    for (w, n) in summary.weekly_records.iter().enumerate() {
        sheet.write_number(1, w as u16 + 2, *n as f64)?;
    }
    for (i, t) in summary.themes.iter().enumerate() {
        let row = i as u32 + 2;
        sheet.write_string(row, 0, xlsx_text(&format!("{}. {}", t.rank, t.name)))?;
        sheet.write_number(row, 1, t.records as f64)?;
        for (w, n) in t.weekly.iter().enumerate() {
            sheet.write_number(row, w as u16 + 2, *n as f64)?;
        }
    }
    sheet.set_column_width(0, 36)?;
    sheet.set_column_width(1, 8)?;
    sheet.set_freeze_panes(1, 1)?;
    sheet
        .set_landscape()
        .set_print_fit_to_pages(1, 0)
        .set_repeat_rows(0, 0)?;
    let weeks = summary.weeks.len() as u16;
    // A chart needs at least one series: no weeks or no themes, no chart.
    if weeks == 0 || summary.themes.is_empty() {
        return Ok(());
    }
    let mut chart = Chart::new(ChartType::Line);
    chart
        .title()
        .set_name("Records per week, top themes by impact");
    chart
        .x_axis()
        .set_name("week starting")
        .set_num_format("mmm d");
    chart.y_axis().set_name("records");
    let last_col = weeks + 1;
    for i in 0..summary.themes.len().min(CHART_THEMES) {
        let row = i as u32 + 2;
        chart
            .add_series()
            .set_name(("Trends", row, 0))
            .set_categories(("Trends", 0, 2, 0, last_col))
            .set_values(("Trends", row, 2, row, last_col));
    }
    chart.set_width(900).set_height(420);
    sheet.insert_chart(summary.themes.len() as u32 + 4, 0, &chart)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::{AnalysisInput, Analyzer, Lexicon, Taxonomy};
    use crate::record::{Kind, Record};
    use crate::summary::{SummaryBuilder, SummaryOptions};
    use calamine::{open_workbook, Data, Reader, Xlsx};

    fn stored(analyzer: &Analyzer, id: &str, text: &str, created_at: i64) -> StoredRecord {
        let record = Record {
            id: id.into(),
            source: "generic".into(),
            kind: Kind::Review,
            created_at: Some(created_at),
            text: text.into(),
            rating: Some(1.0),
            lang: crate::text::Lang::En,
            ..Record::default()
        };
        let analysis = analyzer.analyze(AnalysisInput {
            text,
            rating: record.rating,
            nps: None,
            lang: Some(record.lang),
        });
        StoredRecord { record, analysis }
    }

    /// The workbook rust_xlsxwriter writes by itself for these rows, every
    /// cell through `record_row` (as reports were written before the rows
    /// were spliced in).
    fn reference(rows: &[RowFields<'_>], max_rows: u32, summary: &Summary) -> Vec<u8> {
        let f = Formats::new();
        let mut workbook = new_workbook(&f).expect("workbook");
        let sheet = workbook.worksheet_from_index(RECORDS).expect("records");
        let (mut next, mut omitted) = (1u32, 0u64);
        for row in rows {
            if next > max_rows {
                omitted += 1;
                continue;
            }
            record_row(sheet, next, row).expect("row");
            next += 1;
        }
        if omitted > 0 {
            let note = format!("{omitted} more records do not fit in a worksheet: see records.csv");
            sheet.write_string(next, 0, note).expect("note");
        }
        let last = next.saturating_sub(1).max(1);
        finish_sheets(&mut workbook, &f, summary, last).expect("sheets");
        workbook.save_to_buffer().expect("save")
    }

    /// Each entry of a zip: name and uncompressed bytes, in order.
    fn entries(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("zip");
        (0..zip.len())
            .map(|i| {
                let mut file = zip.by_index(i).expect("entry");
                let name = file.name().expect("name").to_string();
                let mut data = Vec::new();
                file.read_to_end(&mut data).expect("read");
                (name, data)
            })
            .collect()
    }

    /// Records with the texts, numbers and dates that need care in XML.
    fn awkward(analyzer: &Analyzer, n: usize) -> Vec<StoredRecord> {
        let texts = [
            "@SUM(A1) app crashes & <freezes> \"again\"",
            " leading space and a literal _x0041_ escape, _x00zz_ not",
            "tab\tand\nnewline\r\nand \u{1} control \u{FFFE} 退款还没到，客服很慢！",
            "emoji 😀 and ünïcödé trailing\n",
            "-",
            "",
        ];
        (0..n)
            .map(|i| {
                let mut text = texts[i % texts.len()].to_string();
                // Rows of about a kilobyte, so the sheet spans several chunks.
                text.push_str(&"refund late ".repeat(i % 160));
                let mut s = stored(
                    analyzer,
                    &format!("r{i}"),
                    &text,
                    1_700_000_000 + i as i64 * 997,
                );
                s.record.title = (i % 3 == 0).then(|| format!("=title {i}"));
                s.record.rating = match i % 5 {
                    0 => None,
                    1 => Some(f64::NAN),
                    2 => Some(0.1 + 0.2),
                    3 => Some(1e21),
                    _ => Some(-0.0),
                };
                s.record.created_at = match i % 7 {
                    0 => None,
                    1 => Some(-3_000_000_000),
                    _ => s.record.created_at,
                };
                s.record.resolution_minutes = (i % 4 == 0).then_some(f64::INFINITY);
                s.record.ces = (i % 2 == 0).then_some(i as f64 / 3.0);
                s
            })
            .collect()
    }

    #[test]
    fn spliced_rows_give_the_workbook_rust_xlsxwriter_writes() {
        let dir = tempfile::tempdir().expect("temp dir");
        let analyzer = Analyzer::new(
            Taxonomy::default_taxonomy().expect("taxonomy"),
            Lexicon::default_lexicon().expect("lexicon"),
        );
        let mut long = stored(&analyzer, "long", &"長".repeat(40_000), 1_762_000_000);
        long.record.title = Some(" ".into());
        // Two UTF-16 units per emoji: over Excel's limit unless cut by units.
        let emoji = stored(&analyzer, "emoji", &"😡".repeat(20_000), 1_762_000_000);
        let mut records = awkward(&analyzer, 3_000);
        records.insert(17, long);
        records.insert(18, emoji);
        for (case, max_rows) in [(0, MAX_RECORD_ROWS), (1, 2_000), (2, 0)] {
            let path = dir.path().join(format!("v{case}.xlsx"));
            let mut builder = SummaryBuilder::new(analyzer.taxonomy(), SummaryOptions::default());
            let mut xlsx = XlsxReport::create(&path).expect("create");
            xlsx.max_rows = max_rows;
            let rows: Vec<RowFields<'_>> = records.iter().map(RowFields::of).collect();
            // The summary of plain records (the awkward values are for the sheet).
            for i in 0..5 {
                builder.add(&stored(
                    &analyzer,
                    &format!("c{i}"),
                    "refund late",
                    1_762_000_000,
                ));
            }
            for row in &rows {
                xlsx.add_row(row).expect("add");
            }
            let mut summary = builder.finish();
            // The same creation time in both workbooks.
            summary.generated_at = "2026-11-01T00:00:00Z".into();
            xlsx.finish(&summary).expect("finish");
            let ours = entries(&std::fs::read(&path).expect("read"));
            let theirs = entries(&reference(&rows, max_rows, &summary));
            assert_eq!(ours.len(), theirs.len());
            for ((name, data), (their_name, their_data)) in ours.iter().zip(&theirs) {
                assert_eq!(name, their_name);
                if data != their_data {
                    let at = data
                        .iter()
                        .zip(their_data)
                        .take_while(|(a, b)| a == b)
                        .count();
                    let show = |d: &[u8]| {
                        String::from_utf8_lossy(&d[at.saturating_sub(80)..(at + 80).min(d.len())])
                            .to_string()
                    };
                    panic!(
                        "case {case}: {name} differs at {at}:\n{}\n{}",
                        show(data),
                        show(their_data)
                    );
                }
            }
            let leftovers: Vec<_> = std::fs::read_dir(dir.path())
                .expect("dir")
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
                .collect();
            assert!(leftovers.is_empty(), "{leftovers:?}");
        }
    }

    #[test]
    fn a_workbook_with_zip64_fields_reads_back() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("v.xlsx");
        let analyzer = Analyzer::new(
            Taxonomy::default_taxonomy().expect("taxonomy"),
            Lexicon::default_lexicon().expect("lexicon"),
        );
        let records = awkward(&analyzer, 50);
        let mut builder = SummaryBuilder::new(analyzer.taxonomy(), SummaryOptions::default());
        let mut xlsx = XlsxReport::create(&path).expect("create");
        builder.add(&stored(&analyzer, "c", "refund late", 1_762_000_000));
        for s in &records {
            xlsx.add_record(s).expect("add");
        }
        let mut summary = builder.finish();
        summary.generated_at = "2026-11-01T00:00:00Z".into();
        super::super::sheet_part::force_zip64(Some(0));
        let finished = xlsx.finish(&summary);
        super::super::sheet_part::force_zip64(None);
        finished.expect("finish");
        let rows: Vec<RowFields<'_>> = records.iter().map(RowFields::of).collect();
        let ours = entries(&std::fs::read(&path).expect("read"));
        assert_eq!(ours, entries(&reference(&rows, MAX_RECORD_ROWS, &summary)));
        let mut wb: Xlsx<_> = open_workbook(&path).expect("open");
        let sheet = wb.worksheet_range("Records").expect("Records");
        assert_eq!(sheet.rows().count(), 51);
    }

    #[test]
    fn rows_past_the_sheet_limit_are_counted_in_a_note() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("v.xlsx");
        let analyzer = Analyzer::new(
            Taxonomy::default_taxonomy().expect("taxonomy"),
            Lexicon::default_lexicon().expect("lexicon"),
        );
        let mut builder = SummaryBuilder::new(analyzer.taxonomy(), SummaryOptions::default());
        let mut xlsx = XlsxReport::create(&path).expect("create");
        xlsx.max_rows = 2;
        let texts = ["@SUM(A1) app crashes", "+1 refund late", "-2 rude agent"];
        for (i, text) in texts.iter().enumerate() {
            let s = stored(&analyzer, &format!("r{i}"), text, 1_762_000_000 + i as i64);
            builder.add(&s);
            xlsx.add_record(&s).expect("add");
        }
        xlsx.finish(&builder.finish()).expect("finish");
        let mut wb: Xlsx<_> = open_workbook(&path).expect("open");
        let records = wb.worksheet_range("Records").expect("Records");
        let rows: Vec<&[Data]> = records.rows().collect();
        assert_eq!(rows.len(), 4, "header, 2 records, the note");
        assert_eq!(rows[1][12], Data::String("'@SUM(A1) app crashes".into()));
        assert_eq!(rows[2][12], Data::String("'+1 refund late".into()));
        assert!(matches!(rows[1][3], Data::DateTime(_)));
        assert_eq!(
            rows[3][0],
            Data::String("1 more records do not fit in a worksheet: see records.csv".into())
        );
    }

    #[test]
    fn xlsx_text_neutralises_and_cuts() {
        assert_eq!(xlsx_text("=1+1"), "'=1+1");
        assert_eq!(xlsx_text("退款"), "退款");
        let long = "x".repeat(40_000);
        assert_eq!(xlsx_text(&long).chars().count(), MAX_CELL_UNITS + 1);
        // Emoji take two UTF-16 units each: cut to the same number of units.
        let emoji = "😡".repeat(20_000);
        let cut = xlsx_text(&emoji);
        assert_eq!(cut.encode_utf16().count(), MAX_CELL_UNITS + 1);
        assert!(cut.ends_with('…'));
    }
}
