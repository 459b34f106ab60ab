//! PII redaction for outputs (`--redact`): e-mail addresses, phone numbers
//! (international and Chinese mobile), payment card numbers (Luhn-checked),
//! Chinese resident id numbers, and order-like ids are masked. The index keeps
//! the original text; only what leaves the machine in reports is redacted.

use std::sync::LazyLock;

use regex::{Captures, Regex};

struct Pattern {
    regex: Regex,
    mask: &'static str,
    check: fn(&str) -> bool,
}

fn always(_: &str) -> bool {
    true
}

fn digits(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

/// Luhn checksum, as payment cards carry.
fn luhn(s: &str) -> bool {
    let d = digits(s);
    if !(13..=19).contains(&d.len()) {
        return false;
    }
    let mut sum = 0;
    for (i, c) in d.bytes().rev().enumerate() {
        let mut v = u32::from(c - b'0');
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum % 10 == 0
}

/// Phone numbers have 7 to 15 digits.
fn phone_length(s: &str) -> bool {
    (7..=15).contains(&digits(s).len())
}

// Order matters: the more specific patterns run first.
static PATTERNS: LazyLock<Vec<Pattern>> = LazyLock::new(|| {
    let p = |re: &str, mask, check| Pattern {
        regex: Regex::new(re).expect("redaction pattern is valid"),
        mask,
        check,
    };
    vec![
        p(
            r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}",
            "[email]",
            always,
        ),
        // Chinese resident id: 6-digit area, birth date, 3 digits, check digit or X.
        p(
            r"(?-u:\b)[1-9]\d{5}(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx](?-u:\b)",
            "[id number]",
            always,
        ),
        p(r"(?-u:\b)(?:\d[ \-]?){12,18}\d(?-u:\b)", "[card]", luhn),
        // Chinese mobile numbers: 1[3-9] and 9 more digits, optionally +86.
        p(
            r"(?:\+?86[ \-]?)?(?-u:\b)1[3-9]\d[ \-]?\d{4}[ \-]?\d{4}(?-u:\b)",
            "[phone]",
            always,
        ),
        // International numbers written with a + and one or two groups
        // (+44 7700 900123, +1-555-0100199).
        p(
            r"\+\d{1,3}[ \-.]?\d{2,5}(?:[ \-.]\d{2,8}){1,2}(?-u:\b)",
            "[phone]",
            phone_length,
        ),
        p(
            r"(?:\+\d{1,3}[ \-.]?)?(?:\(\d{2,4}\)[ \-.]?)?(?-u:\b)\d{2,4}[ \-.]\d{3,4}[ \-.]\d{3,4}(?-u:\b)",
            "[phone]",
            phone_length,
        ),
        // Order-like ids: letters, optional dash, 5+ digits (LM-33018, ORD123456).
        p(r"(?-u:\b)[A-Z]{2,5}-?\d{5,}(?-u:\b)", "[order id]", always),
        // Long bare digit runs (order or tracking numbers).
        p(r"(?-u:\b)\d{9,}(?-u:\b)", "[number]", always),
    ]
});

/// Masks personal data in `text`.
pub fn redact(text: &str) -> String {
    let mut out = text.to_string();
    for pattern in PATTERNS.iter() {
        if !pattern.regex.is_match(&out) {
            continue;
        }
        out = pattern
            .regex
            .replace_all(&out, |c: &Captures| {
                let found = &c[0];
                if (pattern.check)(found) {
                    pattern.mask.to_string()
                } else {
                    found.to_string()
                }
            })
            .into_owned();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_phones_cards_ids_and_orders_are_masked() {
        assert_eq!(
            redact("mail me at jane.doe+x@example.co.uk please"),
            "mail me at [email] please"
        );
        assert_eq!(redact("call +44 20 7946 0958 today"), "call [phone] today");
        assert_eq!(redact("call +44 7700 900123."), "call [phone].");
        assert_eq!(redact("我的手机13812345678，谢谢"), "我的手机[phone]，谢谢");
        assert_eq!(
            redact("card 4111 1111 1111 1111 was charged"),
            "card [card] was charged"
        );
        assert_eq!(redact("身份证110101199003077777"), "身份证[id number]");
        assert_eq!(redact("order LM-33018 is late"), "order [order id] is late");
        assert_eq!(redact("tracking 123456789012"), "tracking [number]");
    }

    #[test]
    fn ordinary_numbers_and_text_stay() {
        let text = "I paid 249.99 on 2026-10-01 for 2 items, version 5.3.0, 退款300元";
        assert_eq!(redact(text), text);
        // Not a valid card number (Luhn fails): left alone as a long number? It is masked as a number.
        assert_eq!(redact("ref 1234"), "ref 1234");
    }
}
