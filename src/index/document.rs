//! The document vocscope hands to tantivy's writer (issue 8).
//!
//! tantivy's own `TantivyDocument` keeps its values in a compact byte
//! buffer: a pre-tokenized title or text goes in as JSON (serde) and is
//! parsed back when the indexing thread reads it, and every string is copied
//! in. For vocscope's documents that round trip was about a sixth of the
//! CPU time of a first run. [`VocDocument`] keeps its values as they are
//! and lends them to tantivy through its `Document` and `Value` traits; the
//! bytes tantivy writes (terms, fast fields, stored fields) are the same.

use tantivy::schema::document::{ReferenceValue, ReferenceValueLeaf};
use tantivy::schema::{Document, Field, Value};
use tantivy::tokenizer::PreTokenizedString;
use tantivy::DateTime;

/// One field value of a [`VocDocument`].
#[derive(Debug, Clone)]
pub enum DocValue {
    /// Text: tokenized by the field's analyzer (or a `STRING` term).
    Str(String),
    /// Text with its tokens already found (see `tokens.rs`).
    Tokens(PreTokenizedString),
    /// An unsigned integer.
    U64(u64),
    /// A float.
    F64(f64),
    /// A date.
    Date(DateTime),
}

impl<'a> Value<'a> for &'a DocValue {
    type ArrayIter = std::iter::Empty<&'a DocValue>;
    type ObjectIter = std::iter::Empty<(&'a str, &'a DocValue)>;

    fn as_value(&self) -> ReferenceValue<'a, Self> {
        let leaf = match self {
            DocValue::Str(text) => ReferenceValueLeaf::Str(text),
            // tantivy takes pre-tokenized text by value; a clone is far
            // cheaper than the JSON round trip of its own document type.
            DocValue::Tokens(tokens) => ReferenceValueLeaf::PreTokStr(Box::new(tokens.clone())),
            DocValue::U64(v) => ReferenceValueLeaf::U64(*v),
            DocValue::F64(v) => ReferenceValueLeaf::F64(*v),
            DocValue::Date(v) => ReferenceValueLeaf::Date(*v),
        };
        ReferenceValue::Leaf(leaf)
    }
}

/// A document for the vocscope index writer: field values in the order added.
#[derive(Debug, Clone, Default)]
pub struct VocDocument {
    values: Vec<(Field, DocValue)>,
}

impl VocDocument {
    /// An empty document with room for `capacity` values.
    pub fn with_capacity(capacity: usize) -> VocDocument {
        VocDocument {
            values: Vec::with_capacity(capacity),
        }
    }

    /// Adds a text value.
    pub fn add_text(&mut self, field: Field, text: impl Into<String>) {
        self.values.push((field, DocValue::Str(text.into())));
    }

    /// Adds a pre-tokenized text value.
    pub fn add_pre_tokenized_text(&mut self, field: Field, tokens: PreTokenizedString) {
        self.values.push((field, DocValue::Tokens(tokens)));
    }

    /// Adds an unsigned integer.
    pub fn add_u64(&mut self, field: Field, value: u64) {
        self.values.push((field, DocValue::U64(value)));
    }

    /// Adds a float.
    pub fn add_f64(&mut self, field: Field, value: f64) {
        self.values.push((field, DocValue::F64(value)));
    }

    /// Adds a date.
    pub fn add_date(&mut self, field: Field, value: DateTime) {
        self.values.push((field, DocValue::Date(value)));
    }
}

/// Iterator over the fields and values of a [`VocDocument`].
pub struct DocValues<'a>(std::slice::Iter<'a, (Field, DocValue)>);

impl<'a> Iterator for DocValues<'a> {
    type Item = (Field, &'a DocValue);

    fn next(&mut self) -> Option<Self::Item> {
        self.0.next().map(|(field, value)| (*field, value))
    }
}

impl Document for VocDocument {
    type Value<'a> = &'a DocValue;
    type FieldsValuesIter<'a> = DocValues<'a>;

    fn iter_fields_and_values(&self) -> DocValues<'_> {
        DocValues(self.values.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tantivy::schema::{Schema, STORED, STRING};
    use tantivy::tokenizer::Token;
    use tantivy::{Index, TantivyDocument};

    /// The same values through `VocDocument` and `TantivyDocument` give the
    /// same stored fields and the same terms.
    #[test]
    fn indexes_and_stores_what_tantivy_document_does() {
        let mut b = Schema::builder();
        let key = b.add_text_field("key", STRING | STORED);
        let body = b.add_text_field("body", tantivy::schema::TEXT);
        let n = b.add_u64_field("n", tantivy::schema::FAST | STORED);
        let index = Index::create_in_ram(b.build());
        let tokens = PreTokenizedString {
            text: "Refund late".into(),
            tokens: vec![
                Token {
                    offset_from: 0,
                    offset_to: 6,
                    position: 0,
                    text: "refund".into(),
                    position_length: 1,
                },
                Token {
                    offset_from: 7,
                    offset_to: 11,
                    position: 1,
                    text: "late".into(),
                    position_length: 1,
                },
            ],
        };
        let mut doc = VocDocument::with_capacity(3);
        doc.add_text(key, "zendesk:1");
        doc.add_pre_tokenized_text(body, tokens);
        doc.add_u64(n, 7);
        let mut writer = index
            .writer_with_num_threads::<VocDocument>(1, 15_000_000)
            .unwrap();
        writer.add_document(doc).unwrap();
        writer.commit().unwrap();
        let searcher = index.reader().unwrap().searcher();
        let stored: TantivyDocument = searcher.doc(tantivy::DocAddress::new(0, 0)).unwrap();
        assert_eq!(
            stored.get_first(key).and_then(|v| v.as_str()),
            Some("zendesk:1")
        );
        assert_eq!(stored.get_first(n).and_then(|v| v.as_u64()), Some(7));
        let count = |field, text: &str| {
            let query = tantivy::query::TermQuery::new(
                tantivy::Term::from_field_text(field, text),
                tantivy::schema::IndexRecordOption::Basic,
            );
            searcher.search(&query, &tantivy::collector::Count).unwrap()
        };
        assert_eq!(count(body, "refund"), 1);
        assert_eq!(count(body, "late"), 1);
        assert_eq!(count(body, "Refund"), 0);
        assert_eq!(count(key, "zendesk:1"), 1);
    }
}
