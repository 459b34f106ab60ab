//! Near-duplicates: the same customer text arriving twice under different
//! ids (an email forwarded into two tickets, a review posted on two stores).
//!
//! Texts are compared by a hash of their normalized form: lowercase, every
//! run of white space and punctuation folded to one space. Short texts
//! ("ok", "thanks!") are common and not evidence of a duplicate, so texts
//! shorter than [`MIN_CHARS`] after normalization are never compared (a
//! Chinese character counts as two, as it carries about a word).

use crate::record::fnv1a;

/// Fewest normalized characters for a text to take part.
pub const MIN_CHARS: usize = 40;

/// The normalized form of a text.
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut gap = false;
    for c in text.chars() {
        // ASCII first: most text is, and its case is one table away.
        // Common Chinese characters next (the two blocks where every code
        // point is assigned): alphanumeric, and their own lowercase.
        let han = matches!(c, '\u{4E00}'..='\u{9FFF}' | '\u{3400}'..='\u{4DBF}');
        let word = if c.is_ascii() {
            c.is_ascii_alphanumeric()
        } else {
            han || c.is_alphanumeric()
        };
        if !word {
            gap = true;
            continue;
        }
        if gap && !out.is_empty() {
            out.push(' ');
        }
        gap = false;
        if c.is_ascii() {
            out.push(c.to_ascii_lowercase());
        } else if han {
            out.push(c);
        } else {
            out.extend(c.to_lowercase());
        }
    }
    out
}

/// Hash of the normalized text, or `None` when it is too short to compare.
/// Never 0 (0 means "none" where the hash is stored).
pub fn text_hash(text: &str) -> Option<u64> {
    let n = normalize(text);
    let weight: usize = n.chars().map(|c| if c.is_ascii() { 1 } else { 2 }).sum();
    if weight < MIN_CHARS {
        return None;
    }
    Some(fnv1a(n.as_bytes()).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_space_and_punctuation_are_folded() {
        let a = "My order #123 never arrived, and nobody answers my emails!";
        let b = "my order 123 never arrived and   nobody answers my emails";
        assert_eq!(normalize(a), normalize(b));
        assert_eq!(text_hash(a), text_hash(b));
        assert_ne!(
            text_hash(a),
            text_hash("My order #124 never arrived, and nobody answers my emails!")
        );
    }

    #[test]
    fn short_texts_are_not_compared() {
        assert_eq!(text_hash("Thanks, all good!"), None);
        assert!(text_hash("快递等了两个星期还没到，客服一直不回复").is_none());
        assert!(text_hash("快递等了两个星期还没到，客服一直不回复，退款也一直没有处理").is_some());
    }

    #[test]
    fn chinese_characters_are_words_and_their_own_lowercase() {
        let blocks = ['\u{4E00}'..='\u{9FFF}', '\u{3400}'..='\u{4DBF}'];
        for c in blocks.into_iter().flatten() {
            assert!(c.is_alphanumeric(), "{c:?}");
            assert_eq!(c.to_lowercase().collect::<String>(), c.to_string());
        }
        assert_eq!(normalize("快递，太慢！ OK"), "快递 太慢 ok");
    }

    #[test]
    fn ascii_and_other_scripts_fold_alike() {
        assert_eq!(
            normalize("ÉCLAIR Über-COOL, ΣΟΦΙΑ!! 快递 No.5"),
            "éclair über cool σοφια 快递 no 5"
        );
        assert_eq!(normalize("  ...Hi\tTHERE  "), "hi there");
    }
}
