//! Integration tests: the real `vocscope` binary on hand-written fixtures
//! (tests/fixtures) and on the bundled sample, one test per behaviour.
//!
//! Every test works in its own temporary directory (see `util`).

mod util;

use std::path::Path;

use predicates::prelude::*;
use serde_json::Value;

use util::{fixture, hit_themes, is_theme_or_child, Counts, Workspace};

// ---------------------------------------------------------------------------
// Ingest robustness: one fixture per kind of bad input.
// ---------------------------------------------------------------------------

#[test]
fn malformed_jsonl_rejects_broken_lines_and_indexes_the_rest() {
    let ws = Workspace::new();
    let result = ws.run(&[&fixture("malformed.jsonl")]);
    // m-103 has no date: kept, and counted as undated.
    result.assert_counts(Counts {
        read: 6,
        indexed: 3,
        new: 3,
        rejected: 3,
        undated: 1,
        ..Counts::default()
    });
    let reject = result.assert_reject("malformed.jsonl", "line 2", &["invalid JSON"]);
    assert!(
        reject.raw.as_str().is_some_and(|r| r.contains("m-102")),
        "the raw line is kept: {reject:?}"
    );
    result.assert_reject("malformed.jsonl", "line 4", &["invalid JSON"]);
    result.assert_reject(
        "malformed.jsonl",
        "line 7",
        &["invalid JSON", "trailing comma"],
    );
    let mut ids = ws.all_records().ids();
    ids.sort();
    assert_eq!(ids, ["m-101", "m-103", "m-105"]);
    let rows = ws.records_csv();
    let undated = rows.iter().find(|r| r["id"] == "m-103").unwrap();
    assert_eq!(undated["created_at"], "", "{undated:?}");
}

#[test]
fn truncated_json_array_keeps_the_items_before_the_cut() {
    let ws = Workspace::new();
    let result = ws.run(&[&fixture("truncated.json")]);
    result.assert_counts(Counts {
        read: 4,
        indexed: 3,
        new: 3,
        rejected: 1,
        ..Counts::default()
    });
    result.assert_reject("truncated.json", "item 3", &["truncated"]);
    let mut ids = ws.all_records().ids();
    ids.sort();
    assert_eq!(ids, ["t-201", "t-202", "t-203"]);
}

#[test]
fn invalid_utf8_line_is_rejected_and_the_other_lines_indexed() {
    let ws = Workspace::new();
    let mut bytes = Vec::new();
    bytes.extend_from_slice(
        "{\"id\":\"u-1\",\"text\":\"Great price and fast shipping.\",\"date\":\"2026-10-01T09:00:00Z\"}\n"
            .as_bytes(),
    );
    // Latin-1 "café" and two stray bytes: not UTF-8.
    bytes.extend_from_slice(b"{\"id\":\"u-2\",\"text\":\"caf\xe9 \xff\xfe order never came\",\"date\":\"2026-10-02T09:00:00Z\"}\n");
    bytes.extend_from_slice(
        "{\"id\":\"u-3\",\"text\":\"退货流程很简单，客服也很耐心。\",\"date\":\"2026-10-03T09:00:00Z\"}\n"
            .as_bytes(),
    );
    let input = ws.write("invalid_utf8.jsonl", &bytes);
    let result = ws.run(&[&input]);
    result.assert_counts(Counts {
        read: 3,
        indexed: 2,
        new: 2,
        rejected: 1,
        ..Counts::default()
    });
    result.assert_reject("invalid_utf8.jsonl", "line 2", &["UTF-8"]);
    let mut ids = ws.all_records().ids();
    ids.sort();
    assert_eq!(ids, ["u-1", "u-3"]);
}

#[test]
fn invalid_utf8_inside_a_json_array_keeps_the_earlier_items() {
    let ws = Workspace::new();
    let mut bytes = b"[{\"id\":\"a-1\",\"text\":\"The parcel arrived on time.\",\"date\":\"2026-10-01T09:00:00Z\"},\n"
        .to_vec();
    bytes.extend_from_slice(b" {\"id\":\"a-2\",\"text\":\"caf\xe9 machine broken\",\"date\":\"2026-10-02T09:00:00Z\"}]\n");
    let input = ws.write("latin1.json", &bytes);
    let result = ws.run(&[&input]);
    result.assert_counts(Counts {
        read: 2,
        indexed: 1,
        new: 1,
        rejected: 1,
        ..Counts::default()
    });
    // serde_json calls it "invalid unicode code point"; any wording that says invalid is accepted.
    result.assert_reject("latin1.json", "item 1", &["invalid"]);
    assert_eq!(ws.all_records().ids(), ["a-1"]);
}

#[test]
fn records_without_text_are_rejected_as_no_text() {
    let ws = Workspace::new();
    let result = ws.run(&[&fixture("missing_text.jsonl")]);
    result.assert_counts(Counts {
        read: 6,
        indexed: 1,
        new: 1,
        rejected: 5,
        ..Counts::default()
    });
    for line in 1..=5 {
        let reject =
            result.assert_reject("missing_text.jsonl", &format!("line {line}"), &["no text"]);
        assert!(reject.raw.is_object(), "raw item kept: {reject:?}");
    }
    assert_eq!(ws.all_records().ids(), ["n-306"]);
}

#[test]
fn wrong_field_types_are_rejected_naming_the_field() {
    let ws = Workspace::new();
    let result = ws.run(&[&fixture("wrong_types.jsonl")]);
    result.assert_counts(Counts {
        read: 6,
        indexed: 2,
        new: 2,
        rejected: 4,
        ..Counts::default()
    });
    result.assert_reject(
        "wrong_types.jsonl",
        "line 1",
        &["wrong type", "rating", "five"],
    );
    result.assert_reject("wrong_types.jsonl", "line 2", &["wrong type", "text"]);
    result.assert_reject("wrong_types.jsonl", "line 3", &["wrong type", "id"]);
    result.assert_reject("wrong_types.jsonl", "line 4", &["rating", "range", "9"]);
    // A rating written as the string "4" is accepted as a number.
    let hits = ws.all_records();
    let mut ids = hits.ids();
    ids.sort();
    assert_eq!(ids, ["w-405", "w-406"]);
    let w405 = hits.hits.iter().find(|h| h["id"] == "w-405").unwrap();
    assert_eq!(w405["rating"].as_f64(), Some(4.0));
}

#[test]
fn duplicate_ids_count_exact_repeats_and_keep_the_latest_version() {
    let ws = Workspace::new();
    let result = ws.run(&[&fixture("duplicate_ids.jsonl")]);
    // d-501 twice with identical content: one duplicate. d-502 twice with
    // different content: the second replaces the first, which is superseded.
    result.assert_counts(Counts {
        read: 5,
        indexed: 3,
        new: 3,
        superseded: 1,
        duplicates: 1,
        ..Counts::default()
    });
    assert_eq!(ws.all_records().total, 3, "one document per id");
    let latest = ws.search("December", &[]);
    assert_eq!(latest.ids(), ["d-502"], "the later version is indexed");
    let earlier = ws.search("rejected", &[]);
    assert_eq!(earlier.total, 0, "the earlier version is gone: {earlier:?}");
    let d501 = ws.search("vase", &[]);
    assert_eq!(d501.ids(), ["d-501"], "the duplicate is indexed once");
}

#[test]
fn empty_json_file_is_zero_items_and_no_error() {
    let ws = Workspace::new();
    let result = ws.run(&[&fixture("empty.json")]);
    result.assert_counts(Counts::default());
    assert_eq!(ws.all_records().total, 0);
    for file in ["summary.json", "themes.csv", "records.csv", "rejects.jsonl"] {
        assert!(ws.out_file(file).is_file(), "{file} written");
    }
}

#[test]
fn blank_jsonl_file_is_zero_items_and_no_error() {
    let ws = Workspace::new();
    let result = ws.run(&[&fixture("blank.jsonl")]);
    result.assert_counts(Counts::default());
    assert_eq!(ws.all_records().total, 0);
}

#[test]
fn mixed_directory_indexes_every_valid_file_and_skips_the_rest() {
    let ws = Workspace::new();
    let result = ws.run(&[&fixture("mixed_dir")]);
    // tickets.json 3 + reviews.jsonl 3 + nested/survey.jsonl 2 + broken.json 1 reject.
    result.assert_counts(Counts {
        read: 9,
        indexed: 8,
        new: 8,
        rejected: 1,
        ..Counts::default()
    });
    result.assert_reject("broken.json", "tickets[0]", &["invalid JSON"]);
    assert!(
        result.rejects.iter().all(|r| !r.file.contains("README")),
        "README.txt is skipped, not rejected: {:?}",
        result.rejects
    );
    assert!(
        result.stderr.contains("README.txt"),
        "the skipped file is mentioned: {}",
        result.stderr
    );
    let mut ids = ws.all_records().ids();
    ids.sort();
    assert_eq!(
        ids,
        ["70001", "70002", "70003", "rv-8001", "rv-8002", "rv-8003", "sv-9001", "sv-9002"]
    );
    let zendesk = ws.search("", &["--source", "zendesk"]);
    assert_eq!(zendesk.total, 3, "the tickets are recognised as Zendesk");
}

#[test]
fn zendesk_export_maps_zendesk_fields() {
    let ws = Workspace::new();
    let result = ws.run(&[&fixture("zendesk.json")]);
    result.assert_counts(Counts {
        read: 4,
        indexed: 4,
        new: 4,
        ..Counts::default()
    });
    let rows = ws.records_csv();
    assert_eq!(rows.len(), 4);
    let row = |id: &str| {
        rows.iter()
            .find(|r| r["id"] == id)
            .unwrap_or_else(|| panic!("{id} in records.csv: {rows:?}"))
    };
    let double = row("61001");
    assert_eq!(double["source"], "zendesk");
    assert_eq!(double["kind"], "ticket");
    assert_eq!(double["title"], "Double charge on my card");
    assert!(double["text"].starts_with("Hi, I was charged twice"));
    assert_eq!(double["created_at"], "2026-10-05T09:14:22Z");
    assert_eq!(double["lang"], "en");
    assert_eq!(double["rating"].parse::<f64>().ok(), Some(1.0), "CSAT bad");
    assert!(double["themes"].contains("pay_bill"), "{double:?}");
    let late = row("61002");
    assert_eq!(late["lang"], "zh");
    assert_eq!(late["rating"], "", "CSAT unoffered is no rating");
    assert!(late["themes"].contains("delivery"), "{late:?}");
    assert_eq!(row("61003")["rating"].parse::<f64>().ok(), Some(5.0));
    assert_eq!(row("61004")["rating"], "", "CSAT offered is no rating");

    let hits = ws.search("", &["--source", "zendesk", "--limit", "10"]);
    assert_eq!(hits.total, 4);
    assert_eq!(
        ws.summary_file()["metrics"]["rated"].as_u64(),
        Some(2),
        "good and bad count as ratings, offered and unoffered do not"
    );
}

#[test]
fn jsonl_with_bom_and_crlf_line_endings_is_read() {
    let ws = Workspace::new();
    let input = ws.write(
        "windows.jsonl",
        "\u{feff}{\"id\":\"c-1\",\"text\":\"Love the new design.\",\"date\":\"2026-10-01\"}\r\n\
         {\"id\":\"c-2\",\"text\":\"退款到现在还没到账。\",\"date\":\"2026-10-02T08:00:00+08:00\"}\r\n\r\n",
    );
    let result = ws.run(&[&input]);
    result.assert_counts(Counts {
        read: 2,
        indexed: 2,
        new: 2,
        ..Counts::default()
    });
    let rows = ws.records_csv();
    let c2 = rows.iter().find(|r| r["id"] == "c-2").unwrap();
    assert_eq!(c2["created_at"], "2026-10-02T00:00:00Z", "converted to UTC");
    assert_eq!(c2["text"], "退款到现在还没到账。", "no stray \\r");
}

#[test]
fn missing_input_path_is_rejected_and_the_other_inputs_indexed() {
    let ws = Workspace::new();
    let missing = ws.path().join("exports").join("no-such-file.json");
    let result = ws.run(&[&missing, &fixture("zendesk.json")]);
    result.assert_counts(Counts {
        read: 5,
        indexed: 4,
        new: 4,
        rejected: 1,
        ..Counts::default()
    });
    let reject = result.assert_reject("no-such-file.json", "file", &["cannot read"]);
    assert_eq!(reject.file, missing.display().to_string());
    assert!(
        result.stderr.contains("no-such-file.json"),
        "the path is named on stderr: {}",
        result.stderr
    );
    assert_eq!(ws.all_records().total, 4);
}

// ---------------------------------------------------------------------------
// Re-runs and upserts.
// ---------------------------------------------------------------------------

#[test]
fn rerun_on_the_same_inputs_changes_nothing() {
    let ws = Workspace::new();
    let inputs = [
        fixture("mixed_dir"),
        fixture("zendesk.json"),
        fixture("malformed.jsonl"),
    ];
    let inputs: Vec<&Path> = inputs.iter().map(|p| p.as_path()).collect();
    let first = ws.run(&inputs);
    first.counts.assert_adds_up();
    assert_eq!(first.counts.new, first.counts.indexed);
    let total_before = ws.all_records().total;
    let records_before = std::fs::read(ws.out_file("records.csv")).unwrap();

    // --full: read every file again (unchanged files are otherwise skipped).
    let second = ws.run_with(&inputs, &["--full"]);
    second.assert_counts(Counts {
        read: first.counts.read,
        indexed: first.counts.indexed,
        new: 0,
        updated: 0,
        unchanged: first.counts.indexed,
        duplicates: first.counts.duplicates,
        superseded: first.counts.superseded,
        rejected: first.counts.rejected,
        undated: first.counts.undated,
    });
    assert_eq!(ws.all_records().total, total_before);
    assert_eq!(
        std::fs::read(ws.out_file("records.csv")).unwrap(),
        records_before,
        "records.csv is the same after a no-op re-run"
    );
    assert_eq!(second.summary["themes"], first.summary["themes"]);
}

#[test]
fn rerun_with_two_versions_of_one_id_reports_nothing_updated() {
    let ws = Workspace::new();
    let input = fixture("duplicate_ids.jsonl");
    let first = ws.run(&[&input]);
    first.counts.assert_adds_up();
    let second = ws.run(&[&input]);
    second.counts.assert_adds_up();
    assert_eq!(second.counts.new, 0);
    assert_eq!(
        second.counts.updated, 0,
        "nothing changed since the first run: {:?}",
        second.counts
    );
    assert_eq!(ws.all_records().total, 3);
}

#[test]
fn changed_record_is_updated_not_added() {
    let ws = Workspace::new();
    let v1 = "{\"id\":\"ch-1\",\"text\":\"The blender arrived with a cracked jug.\",\"date\":\"2026-10-01T09:00:00Z\"}\n\
              {\"id\":\"ch-2\",\"text\":\"Checkout was quick and easy.\",\"date\":\"2026-10-02T09:00:00Z\"}\n\
              {\"id\":\"ch-3\",\"text\":\"物流太慢了，一个星期才到。\",\"date\":\"2026-10-03T09:00:00Z\"}\n";
    let input = ws.write("export.jsonl", v1);
    let first = ws.run(&[&input]);
    first.assert_counts(Counts {
        read: 3,
        indexed: 3,
        new: 3,
        ..Counts::default()
    });

    // The next export: ch-1's text was edited, the others are unchanged.
    let v2 = v1.replace(
        "The blender arrived with a cracked jug.",
        "The blender arrived with a cracked jug and the replacement never shipped.",
    );
    ws.write("export.jsonl", v2);
    let second = ws.run(&[&input]);
    second.assert_counts(Counts {
        read: 3,
        indexed: 3,
        updated: 1,
        unchanged: 2,
        ..Counts::default()
    });
    assert_eq!(ws.all_records().total, 3, "still one document per id");
    let hits = ws.search("replacement", &[]);
    assert_eq!(hits.ids(), ["ch-1"], "the new text is searchable");
    let cracked = ws.search("cracked", &[]);
    assert_eq!(cracked.total, 1, "ch-1 is not indexed twice");
}

#[test]
fn same_inputs_give_identical_outputs_in_fresh_indexes() {
    let a = Workspace::new();
    let b = Workspace::new();
    // Use the same relative paths so that rejects.jsonl names the files alike.
    for ws in [&a, &b] {
        for name in ["zendesk.json", "duplicate_ids.jsonl", "malformed.jsonl"] {
            ws.write(name, std::fs::read(fixture(name)).unwrap());
        }
    }
    let inputs = [
        Path::new("zendesk.json"),
        Path::new("duplicate_ids.jsonl"),
        Path::new("malformed.jsonl"),
    ];
    a.run(&inputs);
    b.run(&inputs);
    for file in ["themes.csv", "records.csv", "rejects.jsonl"] {
        assert_eq!(
            std::fs::read(a.out_file(file)).unwrap(),
            std::fs::read(b.out_file(file)).unwrap(),
            "{file} differs between identical runs"
        );
    }
    let strip = |mut v: Value| {
        v.as_object_mut().unwrap().remove("generated_at");
        v
    };
    assert_eq!(strip(a.summary_file()), strip(b.summary_file()));
}

// ---------------------------------------------------------------------------
// The bundled sample.
// ---------------------------------------------------------------------------

#[test]
fn bundled_sample_runs_with_no_inputs() {
    let ws = Workspace::new();
    // No --index/--out: the defaults under the current directory.
    let output = ws.cmd().args(["run", "--json"]).output().unwrap();
    util::assert_success(&output, "vocscope run --json");
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("bundled sample"),
        "says it runs on the sample"
    );
    let printed: Value = serde_json::from_slice(&output.stdout).unwrap();
    let out = ws.path().join("vocscope-data").join("report");
    assert!(ws.path().join("vocscope-data").join("index").is_dir());
    for file in ["summary.json", "themes.csv", "records.csv", "rejects.jsonl"] {
        assert!(out.join(file).is_file(), "{file} written to {out:?}");
    }
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let counts: Counts = serde_json::from_value(summary["counts"].clone()).unwrap();
    counts.assert_adds_up();
    assert_eq!(counts.new, counts.indexed, "a fresh index");
    assert!(counts.indexed >= 100, "{counts:?}");
    assert_eq!(printed["counts"], summary["counts"]);
    let rejects = std::fs::read_to_string(out.join("rejects.jsonl")).unwrap();
    assert_eq!(rejects.lines().count() as u64, counts.rejected);

    let themes = summary["themes"].as_array().unwrap();
    assert!(themes.len() >= 10, "{} themes", themes.len());
    for (i, theme) in themes.iter().enumerate() {
        assert_eq!(theme["rank"].as_u64(), Some(i as u64 + 1), "rank order");
        assert!(theme["records"].as_u64().unwrap() > 0);
        let quotes = theme["quotes"].as_array().unwrap();
        assert!(!quotes.is_empty(), "{} has quotes", theme["id"]);
        for q in quotes {
            assert!(!q["text"].as_str().unwrap().trim().is_empty(), "{q}");
            assert!(q["id"].is_string(), "{q}");
        }
    }
    let from = summary["period"]["from"].as_str().unwrap();
    let to = summary["period"]["to"].as_str().unwrap();
    assert!(from.starts_with("20") && to.starts_with("20"));
    assert!(from < to, "{from} < {to}");
    let records = std::fs::read_to_string(out.join("records.csv")).unwrap();
    assert_eq!(
        records.lines().next().unwrap(),
        "id,source,kind,created_at,lang,rating,sentiment_score,sentiment_label,text_sentiment_score,themes,signals,title,text,first_response_minutes,resolution_minutes,ces"
    );
}

// ---------------------------------------------------------------------------
// Search.
// ---------------------------------------------------------------------------

fn assert_hit_shape(hit: &Value) {
    for key in [
        "id",
        "source",
        "created_at",
        "snippet",
        "highlights",
        "themes",
        "sentiment",
    ] {
        assert!(hit.get(key).is_some(), "hit has {key}: {hit}");
    }
    let snippet = hit["snippet"].as_str().unwrap();
    assert!(!snippet.trim().is_empty(), "snippet is not empty: {hit}");
    let label = hit["sentiment"]["label"].as_str().unwrap();
    assert!(
        ["negative", "neutral", "positive"].contains(&label),
        "{hit}"
    );
}

/// The highlighted parts of a hit's snippet (byte ranges must fall on characters).
fn highlighted(hit: &Value) -> Vec<String> {
    let snippet = hit["snippet"].as_str().unwrap();
    hit["highlights"]
        .as_array()
        .unwrap()
        .iter()
        .map(|range| {
            let start = range[0].as_u64().unwrap() as usize;
            let end = range[1].as_u64().unwrap() as usize;
            snippet
                .get(start..end)
                .unwrap_or_else(|| panic!("highlight {start}..{end} is not in {snippet:?}"))
                .to_string()
        })
        .collect()
}

#[test]
fn search_refund_finds_english_hits_with_snippets() {
    let ws = Workspace::new();
    ws.run_sample();
    let result = ws.search("refund", &["--limit", "5"]);
    assert!(result.total > 0);
    assert!(!result.hits.is_empty() && result.hits.len() <= 5);
    assert!(result.hits.len() as u64 <= result.total);
    for hit in &result.hits {
        assert_hit_shape(hit);
    }
    let marks: Vec<String> = result.hits.iter().flat_map(highlighted).collect();
    assert!(
        marks.iter().any(|m| m.to_lowercase().starts_with("refund")),
        "the query word is highlighted: {marks:?}"
    );
    assert_eq!(
        ws.search("REFUNDS", &[]).total,
        result.total,
        "queries are lowercased and stemmed like the text"
    );
    let scores: Vec<f64> = result
        .hits
        .iter()
        .map(|h| h["score"].as_f64().unwrap())
        .collect();
    assert!(
        scores.windows(2).all(|w| w[0] >= w[1]),
        "best first: {scores:?}"
    );
}

#[test]
fn search_chinese_query_finds_hits() {
    let ws = Workspace::new();
    ws.run_sample();
    let result = ws.search("退款", &[]);
    assert!(result.total > 0, "退款 matches Chinese records");
    for hit in &result.hits {
        assert_hit_shape(hit);
    }
    let marks: Vec<String> = result.hits.iter().flat_map(highlighted).collect();
    assert!(marks.iter().any(|m| m == "退款"), "highlighted: {marks:?}");
    assert!(result.hits.iter().any(|h| h["lang"] == "zh"));
}

#[test]
fn search_theme_filter_narrows_results() {
    let ws = Workspace::new();
    ws.run_sample();
    let output = ws.cmd().args(["themes", "--json"]).output().unwrap();
    util::assert_success(&output, "vocscope themes --json");
    let taxonomy: Value = serde_json::from_slice(&output.stdout).unwrap();
    let theme = "return_refund";
    assert!(
        taxonomy["themes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["id"] == theme),
        "{theme} is in the taxonomy"
    );
    let all = ws.search("refund", &["--limit", "1000"]);
    let narrowed = ws.search("refund", &["--limit", "1000", "--theme", theme]);
    assert!(narrowed.total > 0, "some refund records are tagged {theme}");
    assert!(narrowed.total <= all.total);
    assert_eq!(narrowed.hits.len() as u64, narrowed.total);
    for hit in &narrowed.hits {
        assert!(
            hit_themes(hit).iter().any(|t| is_theme_or_child(t, theme)),
            "hit without a {theme} theme: {hit}"
        );
    }
    // A leaf theme narrows further.
    let leaf = hit_themes(&narrowed.hits[0])
        .into_iter()
        .find(|t| is_theme_or_child(t, theme))
        .unwrap();
    let leaf_hits = ws.search("refund", &["--limit", "1000", "--theme", &leaf]);
    assert!(leaf_hits.total >= 1 && leaf_hits.total <= narrowed.total);
    for hit in &leaf_hits.hits {
        assert!(hit_themes(hit).iter().any(|t| is_theme_or_child(t, &leaf)));
    }
}

#[test]
fn search_sentiment_filter_returns_only_that_label() {
    let ws = Workspace::new();
    ws.run_sample();
    let all = ws.all_records();
    let negative = ws.search("", &["--limit", "1000", "--sentiment", "negative"]);
    assert!(negative.total > 0);
    assert!(negative.total < all.total);
    assert_eq!(negative.hits.len() as u64, negative.total);
    for hit in &negative.hits {
        assert_eq!(hit["sentiment"]["label"], "negative", "{hit}");
    }
    let expected = all
        .hits
        .iter()
        .filter(|h| h["sentiment"]["label"] == "negative")
        .count() as u64;
    assert_eq!(negative.total, expected);
}

#[test]
fn search_csv_format_prints_a_header_and_one_row_per_hit() {
    let ws = Workspace::new();
    ws.run_sample();
    let output = ws
        .cmd()
        .arg("search")
        .arg("refund")
        .arg("--index")
        .arg(ws.index())
        .args(["--format", "csv", "--limit", "3"])
        .output()
        .unwrap();
    util::assert_success(&output, "vocscope search --format csv");
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(
        text.starts_with("id,source,"),
        "header first: {}",
        text.lines().next().unwrap_or("")
    );
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers = reader.headers().unwrap().clone();
    assert!(headers.iter().any(|h| h == "text"));
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 3);
    // The JSON output has the same hits, in the same order.
    let json = ws.search("refund", &["--limit", "3"]);
    let csv_ids: Vec<String> = rows.iter().map(|r| r[0].to_string()).collect();
    assert_eq!(csv_ids, json.ids());
}

#[test]
fn search_filters_by_language_source_and_date_and_sorts_by_date() {
    let ws = Workspace::new();
    ws.run(&[&fixture("mixed_dir"), &fixture("zendesk.json")]);
    let all = ws.all_records();
    assert_eq!(all.total, 12);

    let zh = ws.search("", &["--lang", "zh", "--limit", "100"]);
    let expected_zh = all.hits.iter().filter(|h| h["lang"] == "zh").count() as u64;
    assert_eq!(zh.total, expected_zh);
    assert_eq!(zh.total, 4, "{:?}", zh.ids());

    let zendesk = ws.search("", &["--source", "zendesk", "--limit", "100"]);
    assert_eq!(
        zendesk.total, 7,
        "3 tickets in mixed_dir, 4 in zendesk.json"
    );
    assert!(zendesk.hits.iter().all(|h| h["source"] == "zendesk"));

    // --since is inclusive, --until exclusive.
    let window = ws.search(
        "",
        &[
            "--since",
            "2026-10-06",
            "--until",
            "2026-10-08",
            "--limit",
            "100",
        ],
    );
    let mut ids = window.ids();
    ids.sort();
    assert_eq!(ids, ["61002", "61003"]);

    let newest = ws.search("", &["--sort", "date", "--limit", "100"]);
    let dates: Vec<&str> = newest
        .hits
        .iter()
        .map(|h| h["created_at"].as_str().unwrap())
        .collect();
    assert!(
        dates.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {dates:?}"
    );
    assert_eq!(newest.ids()[0], "sv-9002");
}

#[test]
fn search_invalid_query_syntax_exits_2() {
    let ws = Workspace::new();
    ws.run(&[&fixture("zendesk.json")]);
    ws.cmd()
        .arg("search")
        .arg("refund AND (")
        .arg("--index")
        .arg(ws.index())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("invalid query"));
}

#[test]
fn search_unknown_sentiment_exits_2() {
    let ws = Workspace::new();
    ws.run(&[&fixture("zendesk.json")]);
    ws.cmd()
        .arg("search")
        .arg("refund")
        .arg("--index")
        .arg(ws.index())
        .args(["--sentiment", "angry"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("angry"));
}

#[test]
fn search_missing_index_exits_1_naming_the_path() {
    let ws = Workspace::new();
    let missing = ws.path().join("no-index-here");
    ws.cmd()
        .arg("search")
        .arg("refund")
        .arg("--index")
        .arg(&missing)
        .assert()
        .code(1)
        .stderr(predicate::str::contains(missing.display().to_string()));
}

#[test]
fn search_snippet_of_a_title_only_record_is_not_empty() {
    let ws = Workspace::new();
    let input = ws.write(
        "titles.jsonl",
        "{\"id\":\"h-1\",\"title\":\"Refund never arrived\",\"date\":\"2026-10-01T00:00:00Z\"}\n",
    );
    ws.run(&[&input]).assert_counts(Counts {
        read: 1,
        indexed: 1,
        new: 1,
        ..Counts::default()
    });
    let result = ws.search("refund", &[]);
    assert_eq!(result.ids(), ["h-1"]);
    let snippet = result.hits[0]["snippet"].as_str().unwrap();
    assert!(!snippet.is_empty(), "{}", result.hits[0]);
}

/// The built-in taxonomy plus one group and leaf that only a custom file has.
fn custom_taxonomy(ws: &Workspace) -> std::path::PathBuf {
    let builtin = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/taxonomy.toml");
    let mut text = std::fs::read_to_string(builtin).unwrap();
    text.push_str(
        "\n[[theme]]\nid = \"zz_home\"\nname = \"Smart home\"\n\n\
         [[theme]]\nid = \"zz_home.wifi\"\nname = \"Wi-Fi pairing\"\n\
         en = [\"wifi\"]\nzh = [\"无线网\"]\n",
    );
    ws.write("custom_taxonomy.toml", text)
}

fn wifi_export(ws: &Workspace) -> std::path::PathBuf {
    ws.write(
        "wifi.jsonl",
        "{\"id\":\"wf-1\",\"text\":\"The plug will not pair with my wifi, I tried three times.\",\"date\":\"2026-10-01T09:00:00Z\"}\n\
         {\"id\":\"wf-2\",\"text\":\"插座连不上家里的无线网，很失望。\",\"date\":\"2026-10-02T09:00:00Z\"}\n\
         {\"id\":\"wf-3\",\"text\":\"The courier left the parcel at the wrong address.\",\"date\":\"2026-10-03T09:00:00Z\"}\n",
    )
}

#[test]
fn changed_taxonomy_retags_indexed_records_without_rereading() {
    let ws = Workspace::new();
    let input = wifi_export(&ws);
    let first = ws.run(&[&input]);
    assert_eq!(first.counts.new, 3);
    let taxonomy = custom_taxonomy(&ws);
    let output = ws
        .cmd()
        .arg("run")
        .arg(&input)
        .arg("--index")
        .arg(ws.index())
        .arg("--out")
        .arg(ws.out())
        .arg("--taxonomy")
        .arg(&taxonomy)
        .arg("--json")
        .output()
        .unwrap();
    util::assert_success(&output, "vocscope run --taxonomy");
    let summary: Value = serde_json::from_slice(&output.stdout).unwrap();
    let counts: Counts = serde_json::from_value(summary["counts"].clone()).unwrap();
    assert_eq!(
        counts,
        // The export is unchanged, so it is not even read.
        Counts::default(),
        "the records themselves did not change"
    );
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("re-tagged 3"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let wifi = summary["themes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == "zz_home.wifi")
        .unwrap_or_else(|| panic!("the new theme is ranked: {}", summary["themes"]));
    assert_eq!(wifi["records"].as_u64(), Some(2));
    let rows = ws.records_csv();
    let tagged: Vec<&str> = rows
        .iter()
        .filter(|r| r["themes"].split(';').any(|t| t == "zz_home.wifi"))
        .map(|r| r["id"].as_str())
        .collect();
    assert_eq!(tagged.len(), 2, "{rows:?}");
}

/// A theme renamed in the taxonomy with `replaces` keeps its history: the
/// re-tag moves its records, "since the last run" does not report them as
/// new, and a search for the old id finds the renamed theme.
#[test]
fn renamed_theme_keeps_its_history_and_old_id() {
    let ws = Workspace::new();
    let input = wifi_export(&ws);
    ws.run(&[&input]);
    let builtin = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/taxonomy.toml");
    let text = std::fs::read_to_string(builtin).unwrap().replace(
        "id = \"delivery.courier\"\n",
        "id = \"delivery.last_mile\"\nreplaces = [\"delivery.courier\"]\n",
    );
    assert!(text.contains("delivery.last_mile"));
    let taxonomy = ws.write("renamed.toml", text);
    let run = ws.run_with(&[&input], &["--taxonomy", taxonomy.to_str().unwrap()]);
    let themes = run.summary["themes"].as_array().unwrap();
    let renamed = themes
        .iter()
        .find(|t| t["id"] == "delivery.last_mile")
        .unwrap_or_else(|| panic!("renamed theme ranked: {themes:?}"));
    assert_eq!(renamed["records"], 1);
    assert!(themes.iter().all(|t| t["id"] != "delivery.courier"));
    let since = &run.summary["since_last_run"];
    assert!(since.is_object(), "{since}");
    let changed = since["themes"].as_array().unwrap();
    assert!(
        changed
            .iter()
            .all(|c| c["id"] != "delivery.last_mile" && c["id"] != "delivery.courier"),
        "a rename is not a change: {changed:?}"
    );
    assert_eq!(
        ws.search("", &["--theme", "delivery.courier"]).ids(),
        ["wf-3"]
    );
}

#[test]
fn search_theme_filter_accepts_a_theme_of_a_custom_taxonomy() {
    let ws = Workspace::new();
    let input = wifi_export(&ws);
    let taxonomy = custom_taxonomy(&ws);
    ws.cmd()
        .arg("run")
        .arg(&input)
        .arg("--index")
        .arg(ws.index())
        .arg("--out")
        .arg(ws.out())
        .arg("--taxonomy")
        .arg(&taxonomy)
        .arg("--quiet")
        .assert()
        .success();
    let hits = ws.search("", &["--theme", "zz_home"]);
    let mut ids = hits.ids();
    ids.sort();
    assert_eq!(ids, ["wf-1", "wf-2"]);
}

// ---------------------------------------------------------------------------
// Analyze (no index).
// ---------------------------------------------------------------------------

fn analyze(ws: &Workspace, input: &str) -> Vec<Value> {
    let output = ws.cmd().arg("analyze").write_stdin(input).output().unwrap();
    util::assert_success(&output, "vocscope analyze");
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn analyze_english_double_charge_is_negative_billing() {
    let ws = Workspace::new();
    let out = analyze(
        &ws,
        "{\"id\":\"1\",\"text\":\"I was charged twice and nobody answers\"}\n",
    );
    assert_eq!(out.len(), 1);
    let line = &out[0];
    assert_eq!(line["id"], "1");
    assert_eq!(line["lang"], "en");
    assert_eq!(line["sentiment"]["label"], "negative", "{line}");
    let score = line["sentiment"]["score"].as_f64().unwrap();
    assert!((-1.0..0.0).contains(&score), "{line}");
    let themes = line["themes"].as_array().unwrap();
    assert!(
        themes
            .iter()
            .any(|t| t["id"].as_str().unwrap().starts_with("pay_bill")),
        "a billing theme: {line}"
    );
    assert!(
        !ws.path().join("vocscope-data").exists(),
        "no index touched"
    );
}

#[test]
fn analyze_chinese_late_delivery_is_negative_delivery() {
    let ws = Workspace::new();
    let out = analyze(
        &ws,
        "{\"id\":\"2\",\"text\":\"快递等了两个星期还没到，客服一直不回复\"}\n",
    );
    assert_eq!(out.len(), 1);
    let line = &out[0];
    assert_eq!(line["id"], "2");
    assert_eq!(line["lang"], "zh");
    assert_eq!(line["sentiment"]["label"], "negative", "{line}");
    let themes = line["themes"].as_array().unwrap();
    assert!(
        themes
            .iter()
            .any(|t| t["id"].as_str().unwrap().starts_with("delivery")),
        "a delivery theme: {line}"
    );
}

#[test]
fn analyze_bad_lines_yield_error_lines_and_exit_0() {
    let ws = Workspace::new();
    let input = "{\"id\":\"a\",\"text\":\"Great app, love it\"}\n\
                 \n\
                 this is not json\n   \n\
                 {\"id\":\"b\"}\n\
                 {\"id\":\"c\",\"text\":\"包装破了\",\"rating\":9}\n\
                 {\"id\":\"d\",\"text\":\"退款很快\"}";
    let out = analyze(&ws, input);
    assert_eq!(out.len(), 5, "one output line per non-blank input line");
    assert_eq!(out[0]["id"], "a");
    assert_eq!(out[0]["sentiment"]["label"], "positive", "{}", out[0]);
    for (i, line) in [(1, 3), (2, 5), (3, 6)] {
        assert!(out[i]["error"].is_string(), "{}", out[i]);
        assert_eq!(out[i]["line"], line, "{}", out[i]);
    }
    assert!(out[1]["error"].as_str().unwrap().contains("invalid JSON"));
    assert!(out[2]["error"].as_str().unwrap().contains("text"));
    assert!(out[3]["error"].as_str().unwrap().contains("rating"));
    assert_eq!(out[4]["id"], "d", "a last line without a newline is read");
    assert_eq!(out[4]["lang"], "zh");
}

// ---------------------------------------------------------------------------
// Outputs.
// ---------------------------------------------------------------------------

#[test]
fn csv_cells_that_look_like_formulas_are_neutralised() {
    let ws = Workspace::new();
    let input = ws.write(
        "formulas.jsonl",
        "{\"id\":\"x-1\",\"title\":\"+SUM(A1:A9)\",\"text\":\"=HYPERLINK(\\\"http://evil.example\\\",\\\"Click for your refund\\\")\",\"date\":\"2026-10-01T00:00:00Z\"}\n\
         {\"id\":\"x-2\",\"title\":\"@admin\",\"text\":\"-1 stars, the parcel never came\",\"date\":\"2026-10-02T00:00:00Z\"}\n\
         {\"id\":\"x-3\",\"text\":\"Plain text stays as it is.\",\"date\":\"2026-10-03T00:00:00Z\"}\n",
    );
    ws.run(&[&input]).counts.assert_adds_up();
    let rows = ws.records_csv();
    let row = |id: &str| rows.iter().find(|r| r["id"] == id).unwrap();
    assert!(
        row("x-1")["text"].starts_with("'=HYPERLINK("),
        "{:?}",
        row("x-1")
    );
    assert_eq!(row("x-1")["title"], "'+SUM(A1:A9)");
    assert_eq!(row("x-2")["title"], "'@admin");
    assert!(row("x-2")["text"].starts_with("'-1 stars"));
    assert_eq!(row("x-3")["text"], "Plain text stays as it is.");
    // The index keeps the customer's words as they were.
    let hit = ws.search("HYPERLINK", &[]);
    assert_eq!(hit.ids(), ["x-1"]);
}

#[test]
fn report_since_rewrites_the_summary_for_the_period() {
    let ws = Workspace::new();
    let run = ws.run_sample();
    let full_records = run.summary["records"].as_u64().unwrap();
    assert!(run.summary["period"]["from"].as_str().unwrap() < "2026-10-01");

    ws.cmd()
        .arg("report")
        .arg("--index")
        .arg(ws.index())
        .arg("--out")
        .arg(ws.out())
        .args(["--since", "2026-10-01", "--quiet"])
        .assert()
        .success();
    let summary = ws.summary_file();
    let from = summary["period"]["from"].as_str().unwrap();
    assert!(from >= "2026-10-01", "period.from {from}");
    let records = summary["records"].as_u64().unwrap();
    assert!(
        records > 0 && records < full_records,
        "{records} of {full_records}"
    );
    assert_eq!(
        summary["counts"], run.summary["counts"],
        "counts of the run that built the index"
    );
    let rows = ws.records_csv();
    assert_eq!(rows.len() as u64, records);
    for row in &rows {
        assert!(row["created_at"].as_str() >= "2026-10-01", "{row:?}");
    }
}

#[test]
fn report_without_an_index_exits_1_naming_the_path() {
    let ws = Workspace::new();
    ws.cmd()
        .arg("report")
        .arg("--index")
        .arg(ws.index())
        .arg("--out")
        .arg(ws.out())
        .assert()
        .code(1)
        .stderr(predicate::str::contains(ws.index().display().to_string()));
}

#[test]
fn run_with_zero_threads_is_a_usage_error() {
    let ws = Workspace::new();
    ws.cmd()
        .arg("run")
        .arg(fixture("zendesk.json"))
        .arg("--index")
        .arg(ws.index())
        .arg("--out")
        .arg(ws.out())
        .args(["--threads", "0"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--threads"));
    assert!(!ws.index().exists(), "nothing written on a usage error");
}

#[test]
fn run_with_an_index_path_that_is_a_file_exits_1_naming_it() {
    let ws = Workspace::new();
    let not_a_dir = ws.write("index-is-a-file", "not a directory");
    ws.cmd()
        .arg("run")
        .arg(fixture("zendesk.json"))
        .arg("--index")
        .arg(&not_a_dir)
        .arg("--out")
        .arg(ws.out())
        .assert()
        .code(1)
        .stderr(predicate::str::contains("index-is-a-file"));
}

#[test]
fn error_messages_state_the_os_cause_once() {
    let ws = Workspace::new();
    let not_a_dir = ws.write("index-is-a-file", "not a directory");
    let output = ws
        .cmd()
        .arg("run")
        .arg(fixture("zendesk.json"))
        .arg("--index")
        .arg(&not_a_dir)
        .arg("--out")
        .arg(ws.out())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.matches("(os error").count(), 1, "{stderr}");
}

#[test]
fn analyze_missing_input_file_exits_1_naming_the_path() {
    let ws = Workspace::new();
    let missing = ws.path().join("no-such-input.jsonl");
    ws.cmd()
        .arg("analyze")
        .arg("--input")
        .arg(&missing)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no-such-input.jsonl"));
}

/// `--lexicon FILE` adds the user's own words to `analyze` and `run`; a bad
/// line is an error naming the file and line (exit 1).
#[test]
fn user_lexicon_changes_scores_in_analyze_and_run() {
    let ws = Workspace::new();
    let lexicon = ws.write("ours.tsv", "# our words\nlaggy\t-3\n卡成ppt\t-3\n");
    let input = "{\"id\":\"1\",\"text\":\"The new checkout is laggy.\"}\n\
                 {\"id\":\"2\",\"text\":\"这个App卡成PPT了\"}\n";
    for line in analyze(&ws, input) {
        assert_ne!(line["sentiment"]["label"], "negative", "{line}");
    }
    let output = ws
        .cmd()
        .arg("analyze")
        .arg("--lexicon")
        .arg(&lexicon)
        .write_stdin(input)
        .output()
        .unwrap();
    util::assert_success(&output, "vocscope analyze --lexicon");
    let lines: Vec<Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    for line in &lines {
        assert_eq!(line["sentiment"]["label"], "negative", "{line}");
    }

    // In a run, the records are indexed with the user's scores.
    let export = ws.write("in.jsonl", input);
    ws.run_with(&[&export], &["--lexicon", lexicon.to_str().unwrap()]);
    assert_eq!(ws.summary_file()["sentiment"]["negative"], 2);

    let bad = ws.write("bad.tsv", "fine\t1\nworse\tterrible\n");
    ws.cmd()
        .args(["analyze", "--lexicon"])
        .arg(&bad)
        .write_stdin(input)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("bad.tsv: line 2"));
}

#[test]
fn themes_lists_at_least_30_themes() {
    let ws = Workspace::new();
    let output = ws.cmd().args(["themes", "--json"]).output().unwrap();
    util::assert_success(&output, "vocscope themes --json");
    let taxonomy: Value = serde_json::from_slice(&output.stdout).unwrap();
    let themes = taxonomy["themes"].as_array().unwrap();
    assert!(themes.len() >= 30, "{} themes", themes.len());
    for t in themes {
        assert!(t["id"].is_string() && t["name"].is_string(), "{t}");
    }
    let ids: Vec<&str> = themes.iter().map(|t| t["id"].as_str().unwrap()).collect();
    for id in ["delivery", "return_refund", "pay_bill"] {
        assert!(ids.contains(&id), "{id} in {ids:?}");
    }
    let table = ws.cmd().arg("themes").output().unwrap();
    util::assert_success(&table, "vocscope themes");
    let table = String::from_utf8(table.stdout).unwrap();
    assert!(table.lines().count() > themes.len(), "one line per theme");
    assert!(table.contains("delivery"));
}

/// `--user-dict FILE` keeps a product name whole: the index is tokenized
/// with it, later runs and searches use the copy the index keeps (a query
/// split differently would miss), and an empty file removes it (re-tag).
#[test]
fn user_dictionary_keeps_product_names_whole_across_runs_and_searches() {
    let ws = Workspace::new();
    // jieba alone reads 悦享卡扣费 as 悦享 / 卡扣 (buckle) / 费.
    let export = ws.write(
        "in.jsonl",
        "{\"id\":\"1\",\"text\":\"悦享卡扣费了两次\"}\n\
         {\"id\":\"2\",\"text\":\"包的卡扣坏了\"}\n",
    );
    let ids = |query: &str| -> Vec<String> {
        let mut ids: Vec<String> = ws
            .search(query, &[])
            .hits
            .iter()
            .map(|h| h["id"].as_str().unwrap().to_string())
            .collect();
        ids.sort();
        ids
    };
    ws.run(&[&export]);
    assert_eq!(ids("卡扣"), ["1", "2"]);

    let dict = ws.write("products.txt", "# our products\n悦享卡\n");
    let run = ws.run_with(&[&export], &["--user-dict", dict.to_str().unwrap()]);
    assert!(run.stderr.contains("re-tagged 2"), "{}", run.stderr);
    assert_eq!(ids("卡扣"), ["2"], "悦享卡 is one word now");
    assert_eq!(ids("扣费"), ["1"]);
    assert_eq!(ids("悦享卡"), ["1"]);

    // A later run without the flag keeps the index's dictionary: no re-tag.
    let run = ws.run(&[&export]);
    assert!(!run.stderr.contains("re-tagged"), "{}", run.stderr);
    assert_eq!(ids("卡扣"), ["2"]);

    // An empty file removes it.
    let empty = ws.write("none.txt", "");
    let run = ws.run_with(&[&export], &["--user-dict", empty.to_str().unwrap()]);
    assert!(run.stderr.contains("re-tagged 2"), "{}", run.stderr);
    assert_eq!(ids("卡扣"), ["1", "2"]);

    let bad = ws.write("bad.txt", "悦享卡 many\n");
    ws.cmd()
        .args(["analyze", "--user-dict"])
        .arg(&bad)
        .write_stdin("{\"text\":\"悦享卡\"}\n")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("bad.txt, line 1"));
}
