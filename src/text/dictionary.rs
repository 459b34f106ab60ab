//! The user dictionary: Chinese words jieba should keep whole (product
//! names, brand names, in-house terms such as 会员积分 or 极速退款), so that
//! themes, discovery and phrase search see them as one word.
//!
//! The file has one word per line in jieba's format, `word [frequency]
//! [tag]`; blank lines and lines starting with `#` are ignored. Without a
//! frequency, jieba picks one just high enough to keep the word whole.
//!
//! The dictionary is process-wide, like the tokenizer it shapes: it must be
//! installed with [`use_user_dictionary`] before the first text is
//! tokenized, and an index must always be read with the dictionary it was
//! built with: the index keeps a copy in its commit
//! (`CommitInfo::user_dictionary`), which the commands install before they
//! tokenize anything. A library caller of `pipeline::run` must do the same,
//! or the run re-tags the index without the dictionary.

use std::path::Path;
use std::sync::OnceLock;

/// A user dictionary that could not be read or used.
#[derive(Debug, thiserror::Error)]
pub enum DictionaryError {
    /// The file could not be read.
    #[error("cannot read user dictionary {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A line is not `word [frequency] [tag]`.
    #[error("user dictionary {path}, line {line}: {reason}")]
    Line {
        /// The file.
        path: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// Text was tokenized before the dictionary was installed, or another
    /// dictionary is installed already.
    #[error("the user dictionary must be set once, before any text is tokenized")]
    TooLate,
}

/// One entry: a word, and optionally jieba's frequency and part-of-speech tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DictionaryEntry {
    /// The word, as written.
    pub word: String,
    /// jieba frequency; `None` lets jieba choose one that keeps the word whole.
    pub frequency: Option<usize>,
    /// Part-of-speech tag, kept for jieba.
    pub tag: Option<String>,
}

/// The words of a user dictionary file, in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserDictionary {
    /// The entries.
    pub entries: Vec<DictionaryEntry>,
}

impl UserDictionary {
    /// Reads a dictionary file; errors name the file and line.
    pub fn load(path: &Path) -> Result<UserDictionary, DictionaryError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| DictionaryError::Io {
            path: name.clone(),
            source,
        })?;
        UserDictionary::parse(&text, &name)
    }

    /// Parses dictionary text; `name` says where it came from in errors.
    pub fn parse(text: &str, name: &str) -> Result<UserDictionary, DictionaryError> {
        let mut entries = Vec::new();
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let fail = |reason: String| DictionaryError::Line {
                path: name.to_string(),
                line: number + 1,
                reason,
            };
            let mut fields = line.split_whitespace();
            let word = fields.next().unwrap_or_default().to_string();
            if word.chars().any(char::is_control) {
                return Err(fail("the word has control characters".into()));
            }
            let frequency = match fields.next() {
                None => None,
                Some(f) => match f.parse::<usize>() {
                    Ok(n) if n > 0 => Some(n),
                    _ => {
                        return Err(fail(format!(
                            "frequency `{f}` is not a positive whole number (the line is `word [frequency] [tag]`)"
                        )))
                    }
                },
            };
            let tag = fields.next().map(str::to_string);
            if let Some(extra) = fields.next() {
                return Err(fail(format!(
                    "unexpected `{extra}` after the tag (the line is `word [frequency] [tag]`)"
                )));
            }
            entries.push(DictionaryEntry {
                word,
                frequency,
                tag,
            });
        }
        Ok(UserDictionary { entries })
    }

    /// True when there are no words.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The dictionary in its file format, one entry per line: what the index
    /// keeps, and what [`UserDictionary::parse`] reads back unchanged.
    pub fn to_text(&self) -> String {
        let mut text = String::new();
        for entry in &self.entries {
            text.push_str(&entry.word);
            if let Some(f) = entry.frequency {
                text.push_str(&format!(" {f}"));
                if let Some(tag) = &entry.tag {
                    text.push(' ');
                    text.push_str(tag);
                }
            }
            text.push('\n');
        }
        text
    }

    /// A stable hash of the entries: part of the analyzer fingerprint, so a
    /// changed dictionary re-tags (and re-tokenizes) the index.
    pub fn fingerprint(&self) -> u64 {
        crate::record::fnv1a(self.to_text().as_bytes())
    }
}

static INSTALLED: OnceLock<UserDictionary> = OnceLock::new();

/// Installs the process's user dictionary. Must come before the first text
/// is tokenized; installing the same dictionary again is fine.
pub fn use_user_dictionary(dictionary: UserDictionary) -> Result<(), DictionaryError> {
    if super::jieba_started() {
        return match INSTALLED.get() {
            Some(d) if *d == dictionary => Ok(()),
            None if dictionary.is_empty() => Ok(()),
            _ => Err(DictionaryError::TooLate),
        };
    }
    match INSTALLED.set(dictionary) {
        Ok(()) => Ok(()),
        Err(again) if INSTALLED.get() == Some(&again) => Ok(()),
        Err(_) => Err(DictionaryError::TooLate),
    }
}

/// The installed user dictionary (empty when none).
pub fn user_dictionary() -> &'static UserDictionary {
    static EMPTY: UserDictionary = UserDictionary {
        entries: Vec::new(),
    };
    INSTALLED.get().unwrap_or(&EMPTY)
}

/// Fingerprint of the installed dictionary; 0 when there is none, so an
/// index built without one keeps its fingerprint.
pub fn user_dictionary_fingerprint() -> u64 {
    let dictionary = user_dictionary();
    if dictionary.is_empty() {
        0
    } else {
        dictionary.fingerprint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_parse_with_optional_frequency_and_tag() {
        let text = "\u{feff}# product names\n会员积分\n\n极速退款 2000\n闪电侠 30 nz\n";
        let d = UserDictionary::parse(text, "dict.txt").unwrap();
        let words: Vec<_> = d.entries.iter().map(|e| e.word.as_str()).collect();
        assert_eq!(words, ["会员积分", "极速退款", "闪电侠"]);
        assert_eq!(d.entries[1].frequency, Some(2000));
        assert_eq!(d.entries[2].tag.as_deref(), Some("nz"));
        assert_eq!(UserDictionary::parse(&d.to_text(), "again").unwrap(), d);
    }

    #[test]
    fn bad_lines_name_file_and_line() {
        let e = UserDictionary::parse("会员积分\n极速退款 lots\n", "dict.txt").unwrap_err();
        let message = e.to_string();
        assert!(message.contains("dict.txt, line 2"), "{message}");
        assert!(message.contains("`lots`"), "{message}");
        let e = UserDictionary::parse("a 1 n extra\n", "d").unwrap_err();
        assert!(e.to_string().contains("line 1"), "{e}");
        assert!(UserDictionary::parse("a 0\n", "d").is_err());
    }

    #[test]
    fn fingerprint_follows_the_words() {
        let a = UserDictionary::parse("会员积分\n", "a").unwrap();
        let b = UserDictionary::parse("会员积分 10\n", "b").unwrap();
        assert_ne!(a.fingerprint(), b.fingerprint());
        assert_eq!(a.fingerprint(), a.clone().fingerprint());
    }
}
