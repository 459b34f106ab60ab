//! Synthetic exports for benchmarks and scale tests.
//!
//! Records are assembled from the sentences and titles of the bundled sample
//! (real-looking English and Chinese customer text), so they hit the same
//! themes, sentiment cues and tokenizer paths as real exports. About 40% are
//! tickets (longer: a subject and 2 to 20 sentences, skewed short) and 60%
//! reviews (1 to 8 sentences, most with one or two, a star rating); about a
//! third are Chinese. Some carry personal data (e-mail, phone, order number)
//! so redaction has something to do; each text names its order number, so
//! that records built from the same sentences are not near-duplicates. The generator is deterministic for a
//! seed, so runs are comparable. Nothing it writes belongs in the repository.

use std::io::{BufWriter, Write};
use std::path::Path;

use serde_json::{json, Value};

use crate::ingest::{read_input, Item, MapHints};
use crate::text::Lang;

/// A small deterministic random generator (SplitMix64).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }

    /// A count from `min` up to `max`, geometric: each step further has
    /// probability `keep`/100, so short texts are common and long ones rare.
    pub fn skewed(&mut self, min: usize, max: usize, keep: u64) -> usize {
        let mut n = min;
        while n < max && self.chance(keep) {
            n += 1;
        }
        n
    }
}

/// Sentences and titles of one language.
#[derive(Debug, Default)]
struct Pool {
    sentences: Vec<String>,
    titles: Vec<String>,
}

/// Splits a text into sentences, keeping their closing punctuation.
fn sentences(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for c in text.chars() {
        current.push(c);
        if matches!(c, '.' | '!' | '?' | '。' | '！' | '？' | '\n') {
            let s = current.trim();
            if s.chars().count() > 3 {
                out.push(s.to_string());
            }
            current.clear();
        }
    }
    let s = current.trim();
    if s.chars().count() > 3 {
        out.push(s.to_string());
    }
    out
}

/// Generates customer records (generic JSON layout, one object per record).
#[derive(Debug)]
pub struct Generator {
    seed: u64,
    rng: Rng,
    en: Pool,
    zh: Pool,
}

/// Channels of generated records.
pub const CHANNELS: &[&str] = &["email", "web", "chat", "ios", "android", "phone"];
/// Tags of generated records.
pub const TAGS: &[&str] = &[
    "vip",
    "billing",
    "bug",
    "shipping",
    "escalated",
    "promo",
    "新客户",
];
/// 2025-01-01T00:00:00Z.
const BASE_TIME: i64 = 1_735_689_600;
const DAY: i64 = 86_400;

impl Generator {
    /// A generator with the bundled sample's sentences, deterministic for `seed`.
    pub fn new(seed: u64) -> Generator {
        let mut en = Pool::default();
        let mut zh = Pool::default();
        for file in crate::bundled_sample() {
            // The sample is embedded and known to parse; a reject adds nothing.
            let _ = read_input(&file, &MapHints::default(), |item| {
                if let Item::Record { record, .. } = item {
                    let pool = if record.lang == Lang::Zh {
                        &mut zh
                    } else {
                        &mut en
                    };
                    pool.sentences.extend(sentences(&record.text));
                    if let Some(t) = record.title.filter(|t| !t.trim().is_empty()) {
                        pool.titles.push(t);
                    }
                }
            });
        }
        Generator {
            seed,
            rng: Rng::new(seed),
            en,
            zh,
        }
    }

    fn text(&mut self, zh: bool, count: usize) -> String {
        let pool = if zh { &self.zh } else { &self.en };
        let mut parts = Vec::with_capacity(count + 1);
        for _ in 0..count {
            parts.push(pool.sentences[self.rng.below(pool.sentences.len())].as_str());
        }
        let mut text = parts.join(if zh { "" } else { " " });
        if self.rng.chance(4) {
            let n = self.rng.below(900) + 100;
            let pii = match self.rng.below(3) {
                0 => format!(" Contact me at jane.doe{n}@example.com."),
                1 => format!(" Call me on +44 7700 900{n}."),
                _ => format!(" Order number LM-2026{n}77."),
            };
            text.push_str(&pii);
        }
        text
    }

    /// Record number `n`; `version` changes the text and date of the same
    /// record (same id, kind and language), as an edited ticket would. The
    /// result depends only on the seed, `n` and `version`.
    pub fn record(&mut self, n: u64, version: u32) -> Value {
        let mut identity = Rng::new(self.seed ^ n.wrapping_mul(0xA24B_AED4_963E_E407));
        let zh = identity.chance(35);
        let ticket = identity.chance(40);
        self.rng =
            Rng::new(identity.next_u64() ^ u64::from(version).wrapping_mul(0x9FB2_1C65_1E98_DF25));
        let count = if ticket {
            self.rng.skewed(2, 20, 70)
        } else {
            self.rng.skewed(1, 8, 45)
        };
        let mut text = self.text(zh, count);
        // A detail of this record, so that texts built from the same
        // sentences are not near-duplicates of each other.
        text.push_str(&if zh {
            format!("订单{n}，第{}次联系。", 1 + self.rng.below(5))
        } else {
            format!(
                " This is about order {n}, contact number {}.",
                1 + self.rng.below(5)
            )
        });
        if version > 0 {
            let extra = self.text(zh, 1);
            text.push_str(if zh { "" } else { " " });
            text.push_str(&extra);
        }
        let pool = if zh { &self.zh } else { &self.en };
        let title = pool.titles[self.rng.below(pool.titles.len())].clone();
        let created = BASE_TIME
            + self.rng.below(700) as i64 * DAY
            + self.rng.below(86_400) as i64
            + i64::from(version) * DAY;
        let date = jiff::Timestamp::from_second(created)
            .map(|t| t.to_string())
            .unwrap_or_default();
        let mut item = json!({
            "id": format!("{}-{n}", if ticket { "t" } else { "r" }),
            "kind": if ticket { "ticket" } else { "review" },
            "title": title,
            "text": text,
            "created_at": date,
            "channel": CHANNELS[self.rng.below(CHANNELS.len())],
        });
        if !ticket {
            item["rating"] = json!(1 + self.rng.below(5));
        }
        if self.rng.chance(30) {
            item["tags"] = json!([TAGS[self.rng.below(TAGS.len())]]);
        }
        item
    }

    /// Writes records `from..to` (version `version`) as JSONL to `path`;
    /// returns the bytes written.
    pub fn write_jsonl(
        &mut self,
        path: &Path,
        from: u64,
        to: u64,
        version: u32,
    ) -> std::io::Result<u64> {
        let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
        let mut bytes = 0u64;
        for n in from..to {
            let line = self.record(n, version).to_string();
            out.write_all(line.as_bytes())?;
            out.write_all(b"\n")?;
            bytes += line.len() as u64 + 1;
        }
        out.flush()?;
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_records_and_both_languages() {
        let mut a = Generator::new(1);
        let mut b = Generator::new(1);
        let ra: Vec<Value> = (0..200).map(|n| a.record(n, 0)).collect();
        let rb: Vec<Value> = (0..200).map(|n| b.record(n, 0)).collect();
        assert_eq!(ra, rb);
        let zh = ra
            .iter()
            .filter(|r| {
                r["text"]
                    .as_str()
                    .is_some_and(|t| t.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)))
            })
            .count();
        assert!((30..=120).contains(&zh), "{zh} Chinese of 200");
        assert!(ra.iter().any(|r| r["kind"] == "ticket"));
        assert!(ra.iter().any(|r| r["kind"] == "review"));
    }

    #[test]
    fn a_new_version_changes_the_text_but_not_the_id() {
        let v0 = Generator::new(3).record(7, 0);
        let v1 = Generator::new(3).record(7, 1);
        assert_eq!(v0["id"], v1["id"]);
        assert_ne!(v0["text"], v1["text"]);
    }

    #[test]
    fn sentences_keep_their_punctuation() {
        assert_eq!(
            sentences("It broke. 物流太慢了。Why?"),
            ["It broke.", "物流太慢了。", "Why?"]
        );
    }
}
