//! vocscope turns exported support tickets and product reviews (English and
//! Chinese) into a ranked voice-of-customer summary.
//!
//! The modules follow the pipeline, in the order data flows:
//! [`ingest`] (exports → [`record::Record`]s or rejects) → [`text`] (language,
//! the one analyzer chain) → [`analyze`] (sentiment, themes, signals) →
//! [`index`] (tantivy, upsert by `source:id`) → [`summary`] (rank, trends,
//! quotes) → [`output`] (terminal, JSON, CSV, XLSX, HTML) and [`serve`] (local web page).
//! [`pipeline`] wires them into
//! the `run` and `report` jobs.
#![warn(missing_docs)]

pub mod analyze;
pub mod index;
pub mod ingest;
pub mod output;
pub mod pipeline;
pub mod record;
pub mod serve;
pub mod summary;
pub mod synth;
pub mod text;

/// The bundled sample export, embedded so that `vocscope run` works from any directory.
pub fn bundled_sample() -> Vec<ingest::InputFile> {
    vec![
        ingest::InputFile::Embedded {
            name: "sample/tickets.json",
            bytes: include_bytes!("../data/sample/tickets.json"),
        },
        ingest::InputFile::Embedded {
            name: "sample/reviews.jsonl",
            bytes: include_bytes!("../data/sample/reviews.jsonl"),
        },
    ]
}
