//! Search results as a workbook, for analysts who take a filtered set of
//! complaints into a spreadsheet (`search --format xlsx`, the web UI's
//! "Excel" download): a *Results* sheet with the same columns, formats and
//! formula-injection guard as the Records sheet of `vocscope.xlsx`, and a
//! *Query* sheet that says what was searched, so a file passed around still
//! tells how it was made.

use std::path::Path;

use rust_xlsxwriter::{Workbook, XlsxError};

use super::columns::RECORD_COLUMNS;
use super::rows::RowFields;
use super::xlsx::{record_row, records_header, xlsx_text, Formats};
use super::OutputError;
use crate::index::SearchResults;

/// Name used in errors when the workbook is built in memory.
const IN_MEMORY: &str = "search results workbook";

/// The workbook of search results, as the bytes of an .xlsx file.
/// `query` lists the query and each filter as (name, value) pairs; empty
/// values are left out.
pub fn search_xlsx(
    results: &SearchResults,
    query: &[(&str, String)],
) -> Result<Vec<u8>, OutputError> {
    build(results, query)
        .and_then(|mut w| w.save_to_buffer())
        .map_err(|source| OutputError::Xlsx {
            path: IN_MEMORY.into(),
            source,
        })
}

/// Writes the workbook of search results to `path`, atomically.
pub fn write_search_xlsx(
    results: &SearchResults,
    query: &[(&str, String)],
    path: &Path,
) -> Result<(), OutputError> {
    let bytes = search_xlsx(results, query)?;
    let mut file = super::AtomicFile::create(path)?;
    if let Err(source) = std::io::Write::write_all(file.writer(), &bytes) {
        file.discard();
        return Err(OutputError::Io {
            path: path.to_path_buf(),
            source,
        });
    }
    file.commit()
}

fn build(results: &SearchResults, query: &[(&str, String)]) -> Result<Workbook, XlsxError> {
    let f = Formats::new();
    let mut workbook = Workbook::new();
    let sheet = workbook.add_worksheet().set_name("Results")?;
    records_header(sheet, &f)?;
    for (i, hit) in results.hits.iter().enumerate() {
        record_row(sheet, i as u32 + 1, &RowFields::of(&hit.stored))?;
    }
    let last_row = (results.hits.len() as u32).max(1);
    sheet.autofilter(0, 0, last_row, RECORD_COLUMNS.len() as u16 - 1)?;

    let about = workbook.add_worksheet().set_name("Query")?;
    about.set_column_width(0, 16)?;
    about.set_column_width(1, 60)?;
    about.write_string_with_format(0, 0, "searched", &f.header)?;
    about.write_string_with_format(0, 1, "value", &f.header)?;
    let mut row = 1;
    for (name, value) in query.iter().filter(|(_, v)| !v.is_empty()) {
        about.write_string(row, 0, *name)?;
        about.write_string(row, 1, xlsx_text(value))?;
        row += 1;
    }
    about.write_string(row, 0, "matches")?;
    about.write_number(row, 1, results.total as f64)?;
    about.write_string(row + 1, 0, "rows")?;
    about.write_number(row + 1, 1, results.hits.len() as f64)?;
    if results.hits.len() < results.total {
        let note = format!(
            "{} of the {} matches are in this file (the best first).",
            results.hits.len(),
            results.total
        );
        about.write_string(row + 2, 1, note)?;
    }
    Ok(workbook)
}
