//! Title and text tokens from the words analysis already found, so a
//! document is tokenized once per run (issue 8).
//!
//! Analysis tokenizes a record's full text ([`Record::full_text`]: the title,
//! a line break, the text). The index wants the title and the text as two
//! fields, each with its own offsets and positions. [`field_tokens`] cuts the
//! words in two and gives each field exactly the tokens [`VocTokenizer`]
//! would give it, so searching, phrase queries and snippets are unchanged.
//!
//! [`VocTokenizer`]: crate::text::VocTokenizer

use std::ops::Range;

use tantivy::tokenizer::{PreTokenizedString, Token};

use crate::record::Record;
use crate::text::Word;

/// The title (when the record has one) and the text of a record as
/// pre-tokenized strings, from `words`, the words of `full`, the record's
/// full text. `None` when `full` is not laid out as [`Record::full_text`]
/// lays it out (the caller then lets the index tokenize).
///
/// The strings' `text` is left empty: tantivy reads it only to store a
/// field, and the title and text fields are indexed, not stored (the record
/// is stored whole as JSON). Tantivy copies a pre-tokenized string twice on
/// its indexing thread (once where the document lends it, once to make a
/// token stream), so a copy of the text there cost three copies per field.
pub fn field_tokens(
    record: &Record,
    full: &str,
    words: &[Word],
) -> Option<(Option<PreTokenizedString>, PreTokenizedString)> {
    let text = record.text.as_str();
    let title = record.title.as_deref();
    let blank_title = title.is_none_or(|t| t.trim().is_empty());
    // Byte ranges of the title and the text in `full`.
    let (title_range, text_range): (Range<usize>, Range<usize>) = if full == text && blank_title {
        // No title words (a blank title has none).
        (0..0, 0..full.len())
    } else if text.is_empty() && Some(full) == title {
        (0..full.len(), 0..0)
    } else {
        let t = title?.trim_end();
        let laid_out = full.len() == t.len() + 1 + text.len()
            && full.starts_with(t)
            && full.as_bytes()[t.len()] == b'\n'
            && full.ends_with(text);
        if !laid_out {
            return None;
        }
        (0..t.len(), t.len() + 1..full.len())
    };
    let tokens = |range: &Range<usize>| -> Vec<Token> {
        let inside = |w: &&Word| w.start >= range.start && w.end <= range.end;
        // Counted first, so the tokens are allocated once at their size.
        let mut tokens = Vec::with_capacity(words.iter().filter(inside).count());
        tokens.extend(
            words
                .iter()
                .filter(inside)
                .enumerate()
                .map(|(position, w)| Token {
                    offset_from: w.start - range.start,
                    offset_to: w.end - range.start,
                    position,
                    text: w.term.as_str().to_owned(),
                    position_length: 1,
                }),
        );
        tokens
    };
    let title = title.map(|_| PreTokenizedString {
        text: String::new(),
        tokens: tokens(&title_range),
    });
    let text = PreTokenizedString {
        text: String::new(),
        tokens: tokens(&text_range),
    };
    Some((title, text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::{tokenize, VocTokenizer};
    use tantivy::tokenizer::{TokenStream, Tokenizer};

    fn record(title: Option<&str>, text: &str) -> Record {
        Record {
            id: "1".into(),
            source: "t".into(),
            title: title.map(str::to_string),
            text: text.into(),
            lang: crate::text::Lang::En,
            ..Record::default()
        }
    }

    fn tokenizer_tokens(text: &str) -> Vec<Token> {
        let mut tokenizer = VocTokenizer;
        let mut stream = tokenizer.token_stream(text);
        let mut out = Vec::new();
        while stream.advance() {
            out.push(stream.token().clone());
        }
        out
    }

    #[test]
    fn fields_get_the_tokens_the_tokenizer_gives() {
        for (title, text) in [
            (
                Some("Refund DELAYED"),
                "Where is my refund? 退款还没到 don't",
            ),
            (Some("快递太慢了  "), "The parcel arrived broken."),
            (Some("   "), "only text here"),
            (Some(""), "only text"),
            (None, "no title at all, it's fine"),
            (Some("Only a title, isn't it"), ""),
            (None, ""),
            (Some("iPhone壳'"), "'quoted' e\u{301}t\u{e9} 😀 \u{202E}x"),
        ] {
            let r = record(title, text);
            let full = r.full_text();
            let words = tokenize(&full);
            let (title_tokens, text_tokens) =
                field_tokens(&r, &full, &words).expect("laid out as full_text");
            assert!(text_tokens.text.is_empty());
            assert_eq!(text_tokens.tokens, tokenizer_tokens(text), "{text:?}");
            match (title, title_tokens) {
                (Some(t), Some(tokens)) => {
                    assert!(tokens.text.is_empty());
                    assert_eq!(tokens.tokens, tokenizer_tokens(t), "{t:?}");
                }
                (None, None) => {}
                (t, tokens) => panic!("title {t:?} gave {tokens:?}"),
            }
        }
    }

    #[test]
    fn title_and_text_fields_are_not_stored() {
        // The pre-tokenized strings leave their text empty (see field_tokens).
        let (schema, fields) = crate::index::build_schema();
        for field in [fields.title, fields.text] {
            let entry = schema.get_field_entry(field);
            assert!(!entry.is_stored() && !entry.is_fast(), "{}", entry.name());
        }
    }

    #[test]
    fn other_layouts_are_refused() {
        let r = record(Some("Title"), "text");
        let words = tokenize("something else");
        assert!(field_tokens(&r, "something else", &words).is_none());
    }
}
