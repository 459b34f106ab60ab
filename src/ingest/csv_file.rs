//! CSV (and TSV) exports with a header row: each row becomes a JSON object
//! (header → cell text, empty cells left out) and goes through the same
//! mappers as JSON items. Rows are streamed; a row with invalid UTF-8 is
//! rejected on its own and reading goes on. Locations are the row's line.

use std::io::Read;

use serde_json::{Map, Value};

use super::json::{Location, RawItem};

/// Reads a CSV file with a header row, handing each row to `emit`.
/// Returns an error only when reading stops (I/O or a broken quote at the end).
pub fn read_csv<R: Read>(
    reader: R,
    delimiter: u8,
    mut emit: impl FnMut(RawItem),
) -> Result<(), csv::Error> {
    let mut csv = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .has_headers(true)
        .from_reader(reader);
    let headers: Vec<String> = csv
        .byte_headers()?
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let name = String::from_utf8_lossy(h);
            let name = name.trim_start_matches('\u{feff}').trim();
            if name.is_empty() {
                format!("column {}", i + 1)
            } else {
                name.to_string()
            }
        })
        .collect();
    let mut row = csv::ByteRecord::new();
    loop {
        match csv.read_byte_record(&mut row) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                // A malformed row (csv is lenient; this is mostly I/O): report and stop.
                return Err(e);
            }
        }
        let line = row.position().map(|p| p.line()).unwrap_or(0);
        let location = Location::Line(line);
        let mut obj = Map::new();
        let mut bad: Option<String> = None;
        for (i, cell) in row.iter().enumerate() {
            let name = headers
                .get(i)
                .cloned()
                .unwrap_or_else(|| format!("column {}", i + 1));
            match std::str::from_utf8(cell) {
                Ok(text) => {
                    if !text.trim().is_empty() {
                        obj.insert(name, Value::String(text.to_string()));
                    }
                }
                Err(e) => {
                    bad.get_or_insert(format!(
                        "invalid UTF-8 in column `{name}` at byte {}",
                        e.valid_up_to()
                    ));
                }
            }
        }
        match bad {
            Some(reason) => emit(RawItem::Broken {
                location,
                reason,
                raw: Some(
                    row.iter()
                        .map(|c| String::from_utf8_lossy(c).into_owned())
                        .collect::<Vec<_>>()
                        .join(","),
                ),
            }),
            None if obj.is_empty() => {}
            None => emit(RawItem::Value {
                location,
                value: Value::Object(obj),
                wrapper: None,
            }),
        }
    }
    Ok(())
}

/// Guesses the delimiter from the header line: tab, semicolon or comma.
pub fn guess_delimiter(header: &str) -> u8 {
    let count = |c: char| header.matches(c).count();
    let (tabs, semis, commas) = (count('\t'), count(';'), count(','));
    if tabs > commas && tabs >= semis {
        b'\t'
    } else if semis > commas {
        b';'
    } else {
        b','
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(bytes: &[u8]) -> Vec<RawItem> {
        let mut items = Vec::new();
        read_csv(bytes, b',', |i| items.push(i)).unwrap();
        items
    }

    #[test]
    fn rows_become_objects_with_their_line() {
        let items =
            collect(b"id,text,rating\n1,\"Late, again\",2\n2,\"multi\nline\",\n3,ok,5,extra\n");
        assert_eq!(items.len(), 3);
        match &items[0] {
            RawItem::Value {
                location, value, ..
            } => {
                assert_eq!(location.to_string(), "line 2");
                assert_eq!(value["text"], "Late, again");
                assert_eq!(value["rating"], "2");
            }
            other => panic!("{other:?}"),
        }
        match &items[1] {
            RawItem::Value {
                location, value, ..
            } => {
                assert_eq!(location.to_string(), "line 3");
                assert_eq!(value["text"], "multi\nline");
                assert!(value.get("rating").is_none());
            }
            other => panic!("{other:?}"),
        }
        match &items[2] {
            RawItem::Value {
                location, value, ..
            } => {
                assert_eq!(location.to_string(), "line 5");
                assert_eq!(value["column 4"], "extra");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn invalid_utf8_rejects_only_its_row() {
        let mut bytes = b"id,text\n1,ok\n2,bad ".to_vec();
        bytes.extend_from_slice(&[0xff, 0xfe]);
        bytes.extend_from_slice(b"\n3,fine\n");
        let items = collect(&bytes);
        assert_eq!(items.len(), 3);
        assert!(
            matches!(&items[1], RawItem::Broken { reason, location: Location::Line(3), .. }
            if reason.contains("UTF-8") && reason.contains("`text`"))
        );
        assert!(matches!(&items[2], RawItem::Value { .. }));
    }

    #[test]
    fn delimiters_are_guessed() {
        assert_eq!(guess_delimiter("id\ttext\trating"), b'\t');
        assert_eq!(guess_delimiter("id;text;rating"), b';');
        assert_eq!(guess_delimiter("id,text,\"a;b\""), b',');
    }
}
