//! The row cache (issue 8): records.csv and the workbook's Records sheet
//! written from the per-segment row cache after a nightly run with changed
//! and new records are the files a fresh index of the same inputs gives,
//! with and without `--redact`, and for `report --since`.

mod util;

use std::path::{Path, PathBuf};

use calamine::{open_workbook, Data, Reader, Xlsx};
use vocscope::synth::Generator;

use util::{assert_success, Workspace};

/// Commit interval of the runs: several segments per run.
const COMMIT_EVERY: &str = "150";

/// Hand-written records the generator does not make: personal data in
/// title and text, cells a spreadsheet would run as formulas, no date.
fn special(night: bool) -> String {
    let mut lines = vec![
        serde_json::json!({"id": "p1", "title": "Parcel late, mail jane.doe@example.com",
            "text": "My parcel is two weeks late. Terrible.", "created_at": "2026-10-02T10:00:00Z", "rating": 1}),
        serde_json::json!({"id": "p2", "title": "=HYPERLINK(\"x\")",
            "text": "-call me on +44 7700 900123, order LM-33018. Awful.", "created_at": "2026-10-03T10:00:00Z"}),
        serde_json::json!({"id": "p3", "text": "快递太慢了，请打电话13812345678联系我。非常失望。"}),
    ];
    if night {
        lines[1]["text"] = "-still no refund, card 4111 1111 1111 1111".into();
        lines.push(serde_json::json!({"id": "p4", "title": "@SUM(A1)",
            "text": "New complaint from bob@example.org about the app crashing", "created_at": "2026-10-04T10:00:00Z", "rating": 2}));
    }
    lines.iter().map(|l| format!("{l}\n")).collect()
}

/// The inputs of the first run (`night` false) or of the nightly run: a
/// few later versions of records and a few new ones.
fn inputs(ws: &Workspace, night: bool) -> Vec<PathBuf> {
    let mut g = Generator::new(7);
    let a = ws.path().join("a.jsonl");
    g.write_jsonl(&a, 0, 600, 0).expect("write a.jsonl");
    let mut files = vec![a, ws.write("special.jsonl", special(night))];
    if night {
        let b = ws.path().join("b.jsonl");
        g.write_jsonl(&b, 590, 620, 1).expect("write b.jsonl");
        files.push(b);
    }
    files
}

fn run(ws: &Workspace, night: bool, extra: &[&str]) {
    let files = inputs(ws, night);
    let paths: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let mut args = vec!["--commit-every", COMMIT_EVERY];
    args.extend_from_slice(extra);
    ws.run_with(&paths, &args);
}

fn report(ws: &Workspace, extra: &[&str]) {
    let output = ws
        .cmd()
        .arg("report")
        .arg("--index")
        .arg(ws.index())
        .arg("--out")
        .arg(ws.out())
        .args(extra)
        .output()
        .expect("run vocscope report");
    assert_success(&output, "vocscope report");
}

/// records.csv and the cells of the Records sheet.
fn rows(ws: &Workspace) -> (String, Vec<Vec<Data>>) {
    let csv = std::fs::read_to_string(ws.out_file("records.csv")).expect("records.csv");
    let mut wb: Xlsx<_> = open_workbook(ws.out_file("vocscope.xlsx")).expect("open workbook");
    let sheet = wb.worksheet_range("Records").expect("Records sheet");
    (csv, sheet.rows().map(<[Data]>::to_vec).collect())
}

/// The row cache files of the index, by name, with their bytes.
fn cache_files(ws: &Workspace, prefix: &str) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(ws.index().join("report-cache"))
        .expect("report-cache")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|name| name.starts_with(prefix))
        .map(|name| {
            let bytes = std::fs::read(ws.index().join("report-cache").join(&name)).expect("read");
            (name, bytes)
        })
        .collect();
    files.sort();
    files
}

fn assert_same(got: &(String, Vec<Vec<Data>>), want: &(String, Vec<Vec<Data>>), what: &str) {
    assert!(got.0 == want.0, "{what}: records.csv differs");
    assert_eq!(got.1.len(), want.1.len(), "{what}: Records sheet rows");
    for (i, (g, w)) in got.1.iter().zip(&want.1).enumerate() {
        assert_eq!(g, w, "{what}: Records sheet row {i}");
    }
}

#[test]
fn nightly_rows_from_the_cache_equal_a_fresh_index_with_and_without_redaction() {
    // Incremental: the first run caches the redacted rows; the nightly run
    // merges them (old versions of updated records skipped) with the rows of
    // its new segments.
    let nightly = Workspace::new();
    run(&nightly, false, &["--redact"]);
    let first = cache_files(&nightly, "rows-redacted-");
    assert!(first.len() > 1, "one cache file per segment: {first:?}");
    run(&nightly, true, &["--redact"]);
    let after = cache_files(&nightly, "rows-redacted-");
    let kept = first.iter().filter(|f| after.contains(f)).count();
    assert!(
        kept > 0,
        "cache files of unchanged segments are reused as they are"
    );
    let redacted = rows(&nightly);
    assert!(redacted.0.contains("[email]") && !redacted.0.contains("bob@example.org"));

    let fresh = Workspace::new();
    run(&fresh, true, &["--redact"]);
    assert_same(&redacted, &rows(&fresh), "--redact, nightly vs fresh");

    // Plain rows: built on the first report, then read from the cache.
    report(&nightly, &[]);
    assert!(!cache_files(&nightly, "rows-plain-").is_empty());
    report(&nightly, &[]);
    report(&fresh, &[]);
    let plain = rows(&nightly);
    assert!(plain.0.contains("bob@example.org") && plain.0.contains("'=HYPERLINK"));
    assert_same(&plain, &rows(&fresh), "report, nightly vs fresh");

    // A period: the cached rows are filtered on their creation time.
    let lines: Vec<&str> = plain.0.lines().collect();
    let middle = lines[lines.len() / 2];
    let since = middle
        .split(',')
        .find(|cell| cell.starts_with("20") && cell.contains('T'))
        .expect("a created_at cell")
        .to_string();
    report(&nightly, &["--since", &since]);
    report(&fresh, &["--since", &since]);
    let period = rows(&nightly);
    assert!(period.0.lines().count() < lines.len() && period.0.lines().count() > 10);
    assert_same(&period, &rows(&fresh), "report --since, nightly vs fresh");
}

#[test]
fn a_records_sheet_of_several_deflate_chunks_reads_back_as_records_csv() {
    // About 3,000 rows: the sheet's XML is several of the 1 MiB chunks
    // deflated apart and spliced into the workbook; the second report
    // writes them from the row cache.
    let ws = Workspace::new();
    let input = ws.path().join("many.jsonl");
    Generator::new(11)
        .write_jsonl(&input, 0, 3_000, 0)
        .expect("write many.jsonl");
    ws.run_with(&[input.as_path()], &["--commit-every", "1000"]);
    report(&ws, &[]);
    let xml_bytes = {
        let file = std::fs::File::open(ws.out_file("vocscope.xlsx")).expect("workbook");
        let mut zip = zip::ZipArchive::new(file).expect("zip");
        let records = zip
            .by_name("xl/worksheets/sheet4.xml")
            .expect("Records part");
        records.size()
    };
    assert!(xml_bytes > 2 << 20, "only {xml_bytes} bytes of sheet XML");
    let (_, sheet) = rows(&ws);
    let csv = ws.records_csv();
    assert_eq!(sheet.len(), csv.len() + 1, "header and one row per record");
    assert!(csv.len() >= 3_000);
    let header: Vec<String> = sheet[0].iter().map(|c| c.to_string()).collect();
    for (i, (cells, line)) in sheet[1..].iter().zip(&csv).enumerate() {
        for column in ["id", "source", "kind", "lang", "title", "text"] {
            let col = header.iter().position(|h| h == column).expect("column");
            let cell = match &cells[col] {
                Data::String(s) => s.clone(),
                Data::Empty => String::new(),
                other => panic!("row {i} {column}: {other:?}"),
            };
            assert_eq!(&cell, &line[column], "row {i} {column}");
        }
        let score: f64 = line["sentiment_score"].parse().expect("score");
        assert_eq!(cells[6], Data::Float(score), "row {i} sentiment_score");
    }
}

/// Segment ids of the index's last commit, as cache files name them.
fn segment_ids(ws: &Workspace) -> Vec<String> {
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(ws.index().join("meta.json")).expect("meta.json"))
            .expect("meta.json is JSON");
    meta["segments"]
        .as_array()
        .expect("segments")
        .iter()
        .map(|s| s["segment_id"].as_str().expect("id").replace('-', ""))
        .collect()
}

/// summary.json without the time it was made.
fn summary_without_time(ws: &Workspace) -> serde_json::Value {
    let mut summary = ws.summary_file();
    summary["generated_at"] = serde_json::Value::Null;
    summary
}

/// `count` files of `per` generated records each (from record `first`,
/// in version `version`): one commit each with `--commit-every` `per`.
fn files(
    ws: &Workspace,
    stem: &str,
    first: u64,
    count: u64,
    per: u64,
    version: u32,
) -> Vec<PathBuf> {
    (0..count)
        .map(|i| {
            let path = ws.path().join(format!("{stem}{i:02}.jsonl"));
            let from = first + i * per;
            Generator::new(13)
                .write_jsonl(&path, from as _, (from + per) as _, version)
                .expect("write an input file");
            path
        })
        .collect()
}

/// A run over `inputs`, committing every 20 records; its stderr.
fn run_merging(ws: &Workspace, inputs: &[PathBuf]) -> String {
    let paths: Vec<&Path> = inputs.iter().map(PathBuf::as_path).collect();
    ws.run_with(&paths, &["--commit-every", "20"]).stderr
}

#[test]
fn merged_segments_keep_their_caches_and_reports_stay_the_same() {
    // Twenty files of 20 records, a commit each: twenty segments, sixteen
    // of which the run merges at its end, making the merged segment's
    // caches from theirs.
    let ws = Workspace::new();
    let first = files(&ws, "a", 0, 20, 20, 0);
    let stderr = run_merging(&ws, &first);
    assert!(
        stderr.contains("merged 320 records into 1 segment(s)"),
        "{stderr}"
    );
    let ids = segment_ids(&ws);
    assert_eq!(ids.len(), 5, "sixteen of twenty segments merged");
    let cache = ws.index().join("report-cache");
    for id in &ids {
        for name in [
            format!("rows-plain-{id}.rows"),
            format!("summary-v2-{id}.agg"),
            format!("phrases-v2-{id}.agg"),
        ] {
            assert!(cache.join(&name).exists(), "{name} carried over");
        }
    }
    // The merged-away segments' files stay until the next report.
    let live = |files: Vec<(String, Vec<u8>)>| -> Vec<(String, Vec<u8>)> {
        files
            .into_iter()
            .filter(|(name, _)| ids.iter().any(|id| name.contains(id.as_str())))
            .collect()
    };
    let carried = live(cache_files(&ws, "rows-plain-"));
    assert_eq!(carried.len(), ids.len());
    let from_run = (rows(&ws), summary_without_time(&ws));

    // A report from the carried caches reads them as they are, and gives
    // the run's files, and those of caches built from the stored records.
    report(&ws, &[]);
    assert_eq!(
        cache_files(&ws, "rows-plain-"),
        carried,
        "row caches reused"
    );
    assert_same(&rows(&ws), &from_run.0, "report from carried caches vs run");
    assert_eq!(
        summary_without_time(&ws),
        from_run.1,
        "summary from carried caches vs run"
    );
    std::fs::remove_dir_all(&cache).expect("remove the caches");
    report(&ws, &[]);
    assert_same(&rows(&ws), &from_run.0, "report from the store vs run");
    assert_eq!(
        summary_without_time(&ws),
        from_run.1,
        "summary from the store vs run"
    );

    // A nightly run updating records of every segment (the merged one's
    // sources had deletions when they were merged again) and adding
    // sixteen small segments: a second merge, whose carried caches give
    // the reports of caches built from the store and a fresh index's rows
    // and figures.
    let ws = Workspace::new();
    let mut inputs = files(&ws, "a", 0, 20, 20, 0);
    run_merging(&ws, &inputs);
    for i in 0..20 {
        inputs.extend(files(&ws, &format!("u{i:02}-"), i * 20 + 3, 1, 3, 1));
    }
    inputs.extend(files(&ws, "n", 400, 16, 20, 0));
    let stderr = run_merging(&ws, &inputs);
    assert!(stderr.contains("merged "), "{stderr}");
    // The figures, without the run's counts and its comparison with the
    // last run (a report or a fresh index has other ones).
    let figures = |ws: &Workspace| {
        let mut summary = summary_without_time(ws);
        summary["counts"] = serde_json::Value::Null;
        summary["since_last_run"] = serde_json::Value::Null;
        summary
    };
    let nightly = (rows(&ws), figures(&ws));
    report(&ws, &[]);
    assert_same(
        &rows(&ws),
        &nightly.0,
        "nightly, report from carried caches",
    );
    assert_eq!(
        figures(&ws),
        nightly.1,
        "nightly, summary from carried caches"
    );
    std::fs::remove_dir_all(ws.index().join("report-cache")).expect("remove the caches");
    report(&ws, &[]);
    assert_same(&rows(&ws), &nightly.0, "nightly, report from the store");
    assert_eq!(figures(&ws), nightly.1, "nightly, summary from the store");
    let fresh = Workspace::new();
    run_merging(&fresh, &inputs);
    assert_same(
        &nightly.0,
        &rows(&fresh),
        "nightly over a merged segment vs fresh",
    );
    assert_eq!(
        nightly.1,
        figures(&fresh),
        "summary, nightly over a merged segment vs fresh"
    );
}
