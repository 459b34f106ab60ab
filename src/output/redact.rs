//! `--redact`: masks personal data (e-mail addresses, phone numbers, card
//! numbers, id and order numbers; see [`crate::text::redact`]) in the text
//! that outputs write: record titles and texts, quotes, phrases and the
//! suggested cues of unmapped complaints. Applied to copies just before
//! writing; the index keeps the original text for search on this machine.

use crate::index::StoredRecord;
use crate::summary::Summary;
use crate::text::redact;

/// Masks personal data in a record's title and text.
pub fn redact_record(stored: &mut StoredRecord) {
    let record = &mut stored.record;
    record.text = redact(&record.text);
    if let Some(title) = &record.title {
        record.title = Some(redact(title));
    }
}

/// Masks personal data in every customer text a summary carries.
pub fn redact_summary(summary: &mut Summary) {
    for theme in &mut summary.themes {
        redact_all(&mut theme.top_phrases);
        for quote in &mut theme.quotes {
            quote.text = redact(&quote.text);
        }
    }
    for candidate in &mut summary.unmapped {
        candidate.label = redact(&candidate.label);
        redact_all(&mut candidate.phrases);
        candidate.toml = redact(&candidate.toml);
        for quote in &mut candidate.quotes {
            quote.text = redact(&quote.text);
        }
    }
}

fn redact_all(texts: &mut [String]) {
    for text in texts {
        *text = redact(text);
    }
}
