//! Streaming JSON readers: JSON Lines, a top-level array, or an object that
//! wraps an array (`{"tickets": [...]}`), one item at a time.
//!
//! Nothing here holds a whole file: JSONL is read line by line, and arrays
//! are walked with a serde visitor that hands each element on as it is parsed.

use std::fmt;
use std::io::{BufRead, Read};

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// Where an item sits in its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// 1-based line of a JSON Lines file (or a CSV row).
    Line(u64),
    /// 0-based index into a top-level array, or into the named wrapper array.
    Item {
        /// Key of the wrapping array (`tickets`), if any.
        wrapper: Option<String>,
        /// Index in the array.
        index: u64,
    },
    /// The file as a whole (e.g. where parsing stopped).
    File,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Line(n) => write!(f, "line {n}"),
            Location::Item {
                wrapper: Some(w),
                index,
            } => write!(f, "{w}[{index}]"),
            Location::Item {
                wrapper: None,
                index,
            } => write!(f, "item {index}"),
            Location::File => write!(f, "file"),
        }
    }
}

/// One item read from a file, before field mapping.
#[derive(Debug)]
pub enum RawItem {
    /// A parsed JSON value.
    Value {
        /// Where it was.
        location: Location,
        /// The value.
        value: Value,
        /// The wrapper key it came from (`tickets`, `reviews`), a hint for its kind.
        wrapper: Option<String>,
    },
    /// Something that could not be read as an item.
    Broken {
        /// Where it was.
        location: Location,
        /// Why.
        reason: String,
        /// The raw text when there is one (a JSONL line).
        raw: Option<String>,
    },
}

/// Array keys that hold the records in common exports.
pub const WRAPPER_KEYS: &[&str] = &[
    "tickets",
    "reviews",
    "conversations",
    "records",
    "results",
    "data",
    "items",
    "entries",
    "responses",
    "feedback",
    "customerReviews",
    "rows",
];

/// Reads JSON Lines: one item per non-blank line. Invalid UTF-8 or JSON on a
/// line rejects that line and reading goes on.
pub fn read_jsonl<R: BufRead>(mut reader: R, mut emit: impl FnMut(RawItem)) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut line_no = 0u64;
    loop {
        buf.clear();
        let n = reader.read_until(b'\n', &mut buf)?;
        if n == 0 {
            break;
        }
        line_no += 1;
        if line_no == 1 && buf.starts_with(b"\xEF\xBB\xBF") {
            buf.drain(..3);
        }
        let location = Location::Line(line_no);
        let line = match std::str::from_utf8(&buf) {
            Ok(s) => s,
            Err(e) => {
                emit(RawItem::Broken {
                    location,
                    reason: format!("invalid UTF-8 at byte {}", e.valid_up_to()),
                    raw: Some(String::from_utf8_lossy(&buf).trim_end().to_string()),
                });
                continue;
            }
        };
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        match serde_json::from_str::<Value>(trimmed) {
            Ok(value) => emit(RawItem::Value {
                location,
                value,
                wrapper: None,
            }),
            Err(e) => emit(RawItem::Broken {
                location,
                reason: format!("invalid JSON: {}", describe_json_error(&e)),
                raw: Some(trimmed.to_string()),
            }),
        }
    }
    Ok(())
}

/// Reads a JSON document whose top level is an array of items, an object
/// wrapping such an array, or a single item object. Items are handed to
/// `emit` as they are parsed. A syntax error stops the file (JSON cannot be
/// resynchronised); it is reported as one broken item at the place it happened.
pub fn read_json_document<R: Read>(reader: R, mut emit: impl FnMut(RawItem)) {
    let mut de = serde_json::Deserializer::from_reader(reader);
    let mut count = 0u64;
    let mut last_wrapper: Option<String> = None;
    let result = {
        let seed = TopLevel {
            emit: &mut emit,
            count: &mut count,
            wrapper: &mut last_wrapper,
        };
        seed.deserialize(&mut de).and_then(|()| de.end())
    };
    if let Err(e) = result {
        let location = Location::Item {
            wrapper: last_wrapper,
            index: count,
        };
        let reason = if e.is_eof() {
            format!(
                "file ends early (truncated) at {}: {count} items read before",
                line_col(&e)
            )
        } else {
            format!(
                "invalid JSON: {}; the rest of the file could not be read ({count} items read before)",
                describe_json_error(&e)
            )
        };
        emit(RawItem::Broken {
            location,
            reason,
            raw: None,
        });
    }
}

fn line_col(e: &serde_json::Error) -> String {
    format!("line {} column {}", e.line(), e.column())
}

/// serde_json's message, with the position spelled out once.
fn describe_json_error(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    match msg.find(" at line ") {
        Some(i) => format!("{} at {}", &msg[..i], line_col(e)),
        None => msg,
    }
}

struct TopLevel<'a, F: FnMut(RawItem)> {
    emit: &'a mut F,
    count: &'a mut u64,
    wrapper: &'a mut Option<String>,
}

impl<'de, F: FnMut(RawItem)> DeserializeSeed<'de> for TopLevel<'_, F> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de, F: FnMut(RawItem)> Visitor<'de> for TopLevel<'_, F> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of items or an object")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        stream_elements(seq, None, self.emit, self.count)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        // Stream the first known wrapper array; keep the other fields so that
        // an object without one is taken as a single item.
        let mut fields = serde_json::Map::new();
        let mut streamed = false;
        while let Some(key) = map.next_key::<String>()? {
            if !streamed && WRAPPER_KEYS.contains(&key.as_str()) {
                *self.wrapper = Some(key.clone());
                map.next_value_seed(ArrayOrValue {
                    key: &key,
                    emit: self.emit,
                    count: self.count,
                    fields: &mut fields,
                    streamed: &mut streamed,
                })?;
            } else if streamed {
                map.next_value::<IgnoredAny>()?;
            } else {
                let value = map.next_value::<Value>()?;
                fields.insert(key, value);
            }
        }
        if !streamed {
            *self.wrapper = None;
            // No wrapper key: a lone array of objects under another key, or one item.
            let arrays: Vec<&String> = fields
                .iter()
                .filter(|(_, v)| {
                    v.as_array()
                        .is_some_and(|a| a.iter().all(Value::is_object) && !a.is_empty())
                })
                .map(|(k, _)| k)
                .collect();
            if arrays.len() == 1 && fields.len() <= 4 {
                let key = arrays[0].clone();
                if let Some(Value::Array(items)) = fields.remove(&key) {
                    for (index, value) in items.into_iter().enumerate() {
                        (self.emit)(RawItem::Value {
                            location: Location::Item {
                                wrapper: Some(key.clone()),
                                index: index as u64,
                            },
                            value,
                            wrapper: Some(key.clone()),
                        });
                        *self.count += 1;
                    }
                }
            } else {
                (self.emit)(RawItem::Value {
                    location: Location::Item {
                        wrapper: None,
                        index: 0,
                    },
                    value: Value::Object(fields),
                    wrapper: None,
                });
                *self.count += 1;
            }
        }
        Ok(())
    }
}

struct ArrayOrValue<'a, F: FnMut(RawItem)> {
    key: &'a str,
    emit: &'a mut F,
    count: &'a mut u64,
    fields: &'a mut serde_json::Map<String, Value>,
    streamed: &'a mut bool,
}

impl<'de, F: FnMut(RawItem)> DeserializeSeed<'de> for ArrayOrValue<'_, F> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de, F: FnMut(RawItem)> Visitor<'de> for ArrayOrValue<'_, F> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        *self.streamed = true;
        stream_elements(seq, Some(self.key), self.emit, self.count)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut obj = serde_json::Map::new();
        while let Some((k, v)) = map.next_entry::<String, Value>()? {
            obj.insert(k, v);
        }
        self.fields.insert(self.key.to_string(), Value::Object(obj));
        Ok(())
    }

    fn visit_str<E>(self, v: &str) -> Result<(), E> {
        self.fields
            .insert(self.key.to_string(), Value::String(v.to_string()));
        Ok(())
    }

    fn visit_string<E>(self, v: String) -> Result<(), E> {
        self.fields.insert(self.key.to_string(), Value::String(v));
        Ok(())
    }

    fn visit_bool<E>(self, v: bool) -> Result<(), E> {
        self.fields.insert(self.key.to_string(), Value::Bool(v));
        Ok(())
    }

    fn visit_i64<E>(self, v: i64) -> Result<(), E> {
        self.fields.insert(self.key.to_string(), Value::from(v));
        Ok(())
    }

    fn visit_u64<E>(self, v: u64) -> Result<(), E> {
        self.fields.insert(self.key.to_string(), Value::from(v));
        Ok(())
    }

    fn visit_f64<E>(self, v: f64) -> Result<(), E> {
        self.fields.insert(self.key.to_string(), Value::from(v));
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        self.fields.insert(self.key.to_string(), Value::Null);
        Ok(())
    }
}

fn stream_elements<'de, A: SeqAccess<'de>, F: FnMut(RawItem)>(
    mut seq: A,
    wrapper: Option<&str>,
    emit: &mut F,
    count: &mut u64,
) -> Result<(), A::Error> {
    while let Some(value) = seq.next_element::<Value>()? {
        emit(RawItem::Value {
            location: Location::Item {
                wrapper: wrapper.map(str::to_string),
                index: *count,
            },
            value,
            wrapper: wrapper.map(str::to_string),
        });
        *count += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect_doc(text: &str) -> Vec<RawItem> {
        let mut items = Vec::new();
        read_json_document(text.as_bytes(), |i| items.push(i));
        items
    }

    fn collect_lines(text: &str) -> Vec<RawItem> {
        let mut items = Vec::new();
        read_jsonl(text.as_bytes(), |i| items.push(i)).unwrap();
        items
    }

    #[test]
    fn array_items_stream_with_indexes() {
        let items = collect_doc(r#"[{"a":1},{"a":2}]"#);
        assert_eq!(items.len(), 2);
        match &items[1] {
            RawItem::Value { location, .. } => assert_eq!(location.to_string(), "item 1"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn wrapper_object_streams_its_array() {
        let items =
            collect_doc(r#"{"count": 2, "tickets": [{"id":1},{"id":2}], "end_of_stream": true}"#);
        assert_eq!(items.len(), 2);
        match &items[0] {
            RawItem::Value {
                location, wrapper, ..
            } => {
                assert_eq!(location.to_string(), "tickets[0]");
                assert_eq!(wrapper.as_deref(), Some("tickets"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn single_object_is_one_item() {
        let items = collect_doc(r#"{"id": 1, "text": "hello", "tags": ["a"]}"#);
        assert_eq!(items.len(), 1);
    }

    #[test]
    fn truncated_array_keeps_earlier_items_and_reports_the_rest() {
        let items = collect_doc(r#"[{"a":1},{"a":2},{"a":"#);
        assert_eq!(items.len(), 3);
        match &items[2] {
            RawItem::Broken {
                reason, location, ..
            } => {
                assert!(reason.contains("truncated"), "{reason}");
                assert_eq!(location.to_string(), "item 2");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn jsonl_rejects_bad_lines_and_goes_on() {
        let items = collect_lines("{\"a\":1}\n\n{broken\n{\"a\":3}\n");
        assert_eq!(items.len(), 3);
        assert!(matches!(
            &items[1],
            RawItem::Broken {
                location: Location::Line(3),
                ..
            }
        ));
    }

    #[test]
    fn jsonl_rejects_invalid_utf8_line() {
        let mut bytes = b"{\"a\":\"ok\"}\n{\"a\":\"".to_vec();
        bytes.extend_from_slice(&[0xff, 0xfe]);
        bytes.extend_from_slice(b"\"}\n");
        let mut items = Vec::new();
        read_jsonl(&bytes[..], |i| items.push(i)).unwrap();
        assert!(matches!(&items[1], RawItem::Broken { reason, .. } if reason.contains("UTF-8")));
    }
}
