//! Language detection by script and function words: cheap, deterministic, and
//! good enough to route a support ticket to the English or Chinese rules.

use serde::{Deserialize, Serialize};

use super::is_han;

/// The languages vocscope analyses.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord,
)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    /// English.
    En,
    /// Chinese (simplified or traditional).
    Zh,
    /// Anything else; still indexed and searchable, analysed with the English rules.
    #[default]
    Other,
}

impl Lang {
    /// The code used in outputs and filters.
    pub fn as_str(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Zh => "zh",
            Lang::Other => "other",
        }
    }

    /// Parses a language code as found in exports ("en-US", "zh_CN", "chinese").
    pub fn from_code(code: &str) -> Option<Lang> {
        let lower = code.trim().to_ascii_lowercase();
        let primary = lower.split(['-', '_']).next().unwrap_or("");
        match primary {
            "en" | "eng" | "english" => Some(Lang::En),
            "zh" | "zho" | "chi" | "cmn" | "chinese" => Some(Lang::Zh),
            "" => None,
            _ => Some(Lang::Other),
        }
    }
}

/// Common English function words; a Latin-script text with none of them is
/// more likely another language. (A `match`, not a list scan: this runs on
/// every short word of every text.)
fn is_english_marker(word: &str) -> bool {
    matches!(
        word,
        "the"
            | "and"
            | "is"
            | "to"
            | "of"
            | "it"
            | "my"
            | "i"
            | "you"
            | "was"
            | "not"
            | "for"
            | "in"
            | "this"
            | "that"
            | "with"
            | "have"
            | "on"
            | "are"
            | "but"
            | "me"
            | "no"
            | "so"
            | "at"
            | "be"
            | "we"
            | "your"
            | "a"
    )
}

/// Function words of other Latin-script languages seen in reviews.
fn is_other_marker(word: &str) -> bool {
    matches!(
        word,
        "el" | "la"
            | "los"
            | "las"
            | "es"
            | "und"
            | "der"
            | "die"
            | "das"
            | "ist"
            | "nicht"
            | "le"
            | "les"
            | "est"
            | "une"
            | "des"
            | "pas"
            | "et"
            | "de"
            | "que"
            | "un"
            | "una"
            | "il"
            | "het"
            | "een"
            | "ich"
            | "je"
            | "não"
            | "muito"
            | "por"
    )
}

/// Bytes of the longest marker word ("nicht", "muito").
const MAX_MARKER_BYTES: usize = 5;

/// Detects the language of a text: `zh` when Chinese characters carry a fair
/// share of it, `en` for Latin-script text that reads as English, else `other`.
pub fn detect_language(text: &str) -> Lang {
    if text.is_ascii() {
        return detect_ascii(text);
    }
    let mut han = 0usize;
    let mut latin = 0usize;
    let mut other_letters = 0usize;
    for c in text.chars() {
        if is_han(c) {
            han += 1;
        } else if c.is_ascii_alphabetic() || ('\u{C0}'..='\u{24F}').contains(&c) {
            latin += 1;
        } else if c.is_alphabetic() {
            other_letters += 1;
        }
    }
    // One Chinese character carries about as much as a short English word.
    if han > 0 && han * 3 >= latin {
        return Lang::Zh;
    }
    if other_letters > latin + han {
        return Lang::Other;
    }
    if latin == 0 {
        return if han > 0 { Lang::Zh } else { Lang::Other };
    }
    let mut en = 0usize;
    let mut foreign = 0usize;
    let mut lower = String::new();
    for word in text
        .split(|c: char| !c.is_alphabetic())
        .filter(|w| !w.is_empty())
        .take(200)
    {
        // No marker is longer than five letters: skip the rest unread.
        if word.len() > MAX_MARKER_BYTES {
            continue;
        }
        lower.clear();
        lower.extend(word.chars().flat_map(char::to_lowercase));
        if is_english_marker(&lower) {
            en += 1;
        }
        if is_other_marker(&lower) {
            foreign += 1;
        }
    }
    if foreign > en && foreign >= 2 {
        Lang::Other
    } else {
        Lang::En
    }
}

/// [`detect_language`] of an ASCII text, byte by byte: the same decision,
/// without decoding characters (most support text is plain ASCII).
fn detect_ascii(text: &str) -> Lang {
    if !text.bytes().any(|b| b.is_ascii_alphabetic()) {
        return Lang::Other;
    }
    let mut en = 0usize;
    let mut foreign = 0usize;
    let mut lower = [0u8; MAX_MARKER_BYTES];
    for word in text
        .as_bytes()
        .split(|b| !b.is_ascii_alphabetic())
        .filter(|w| !w.is_empty())
        .take(200)
    {
        if word.len() > MAX_MARKER_BYTES {
            continue;
        }
        for (l, b) in lower.iter_mut().zip(word) {
            *l = b.to_ascii_lowercase();
        }
        let Ok(lower) = std::str::from_utf8(&lower[..word.len()]) else {
            continue;
        };
        if is_english_marker(lower) {
            en += 1;
        }
        if is_other_marker(lower) {
            foreign += 1;
        }
    }
    if foreign > en && foreign >= 2 {
        Lang::Other
    } else {
        Lang::En
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_the_three_classes() {
        assert_eq!(
            detect_language("Where is my order? It was due Monday."),
            Lang::En
        );
        assert_eq!(detect_language("快递三天了还没到，客服也不回复"), Lang::Zh);
        assert_eq!(detect_language("我的iPhone 15 case破了"), Lang::Zh);
        assert_eq!(
            detect_language("El pedido no ha llegado y la tienda es muy lenta"),
            Lang::Other
        );
        assert_eq!(detect_language("Заказ не пришёл"), Lang::Other);
        assert_eq!(detect_language("Refund please"), Lang::En);
    }

    #[test]
    fn ascii_path_decides_as_the_general_one() {
        for text in [
            "Where is my order? It was due Monday.",
            "El pedido no ha llegado y la tienda es muy lenta",
            "Der Artikel ist nicht da und die Lieferung ist kaputt",
            "12345 !!! ???",
            "",
            "OK",
            "la la",
        ] {
            // The general path, forced by a non-ASCII character that is
            // neither a letter nor Han.
            assert_eq!(
                detect_language(text),
                detect_language(&format!("{text} \u{2014}")),
                "{text}"
            );
        }
    }

    #[test]
    fn language_codes_map() {
        assert_eq!(Lang::from_code("zh-CN"), Some(Lang::Zh));
        assert_eq!(Lang::from_code("en_US"), Some(Lang::En));
        assert_eq!(Lang::from_code("de"), Some(Lang::Other));
        assert_eq!(Lang::from_code(""), None);
    }
}
