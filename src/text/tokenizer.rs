//! The tantivy side of the analyzer: a [`Tokenizer`] over [`super::tokenize`].
//!
//! Tokenizers are not stored in a tantivy index, so [`register_analyzer`]
//! must be called on every opened index before indexing or parsing queries.

use tantivy::tokenizer::{Token, TokenStream, Tokenizer};
use tantivy::Index;

/// Name under which the analyzer is registered in the index schema.
pub const ANALYZER_NAME: &str = "vocscope";

/// tantivy tokenizer producing the same terms as [`super::tokenize`].
#[derive(Clone, Default)]
pub struct VocTokenizer;

/// Token stream over pre-computed tokens.
pub struct VocTokenStream {
    tokens: Vec<Token>,
    index: usize,
}

impl Tokenizer for VocTokenizer {
    type TokenStream<'a> = VocTokenStream;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> VocTokenStream {
        let tokens = super::tokenize(text)
            .into_iter()
            .enumerate()
            .map(|(position, word)| Token {
                offset_from: word.start,
                offset_to: word.end,
                position,
                text: word.term.into(),
                position_length: 1,
            })
            .collect();
        VocTokenStream { tokens, index: 0 }
    }
}

impl TokenStream for VocTokenStream {
    fn advance(&mut self) -> bool {
        if self.index < self.tokens.len() {
            self.index += 1;
            true
        } else {
            false
        }
    }

    fn token(&self) -> &Token {
        &self.tokens[self.index - 1]
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.tokens[self.index - 1]
    }
}

/// Registers the vocscope analyzer on an index (needed after every open).
pub fn register_analyzer(index: &Index) {
    index.tokenizers().register(ANALYZER_NAME, VocTokenizer);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_yields_positions_in_order() {
        let mut tokenizer = VocTokenizer;
        let mut stream = tokenizer.token_stream("Refund 退款 delayed");
        let mut seen = Vec::new();
        while stream.advance() {
            let t = stream.token();
            seen.push((t.position, t.text.clone()));
        }
        assert_eq!(
            seen,
            [
                (0, "refund".to_string()),
                (1, "退款".to_string()),
                (2, "delay".to_string())
            ]
        );
    }
}
