//! Output files for people and spreadsheets, checked through the real binary:
//! the workbook read back with calamine, the CSV files read back with the csv
//! crate, and report.html loaded in headless Chromium (skipped with a notice
//! only when /usr/bin/chromium is absent; CI installs it).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use calamine::{open_workbook, Data, Reader, Xlsx};

/// No closing tag, so ingest does not take it for an HTML body and strip it.
const SCRIPT_TEXT: &str =
    "The app crashes every time I open it <script>alert('xss') terrible and useless";
const FORMULA_TEXT: &str =
    "=HYPERLINK(\"http://evil.example\",\"refund\") my refund never arrived, terrible";

/// A small export: English, Chinese, a script tag, a formula, CSV-hostile text.
fn fixture(dir: &Path) -> PathBuf {
    let lines = [
        serde_json::json!({"id": "s1", "created_at": "2026-11-10T09:00:00Z", "rating": 1,
            "title": "crash", "text": SCRIPT_TEXT}),
        serde_json::json!({"id": "f1", "created_at": "2026-11-11T10:30:00Z", "rating": 2,
            "text": FORMULA_TEXT}),
        serde_json::json!({"id": "c1", "created_at": "2026-11-03T08:00:00Z", "rating": 4,
            "text": "Delivery was late, but \"support\" helped, thanks\nsecond line"}),
        serde_json::json!({"id": "z1", "created_at": "2026-11-12T12:00:00Z", "rating": 1,
            "text": "快递等了两个星期还没到，客服一直不回复"}),
        serde_json::json!({"id": "z2", "created_at": "2026-10-28T12:00:00Z",
            "text": "更新以后App完全没法用，一点就崩溃。"}),
    ];
    let path = dir.join("export.jsonl");
    let body: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    std::fs::write(&path, body.join("\n") + "\n").expect("write fixture");
    path
}

fn vocscope(args: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_vocscope"))
        .args(args)
        .output()
        .expect("run vocscope");
    assert!(
        out.status.success(),
        "vocscope {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `vocscope run` on `inputs` into a temp dir; returns (temp dir, out dir).
fn run_on(inputs: &[&Path], extra: &[&str]) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("temp dir");
    let index = tmp.path().join("index");
    let out = tmp.path().join("report");
    let mut args: Vec<String> = vec!["run".into(), "--quiet".into()];
    args.extend(inputs.iter().map(|p| p.display().to_string()));
    args.extend(["--index".into(), index.display().to_string()]);
    args.extend(["--out".into(), out.display().to_string()]);
    args.extend(extra.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    vocscope(&refs);
    (tmp, out)
}

fn fixture_run(extra: &[&str]) -> (tempfile::TempDir, PathBuf) {
    let src = tempfile::tempdir().expect("temp dir");
    let input = fixture(src.path());
    let (tmp, out) = run_on(&[&input], extra);
    drop(src);
    (tmp, out)
}

#[test]
fn xlsx_has_sheets_headers_types_and_no_formulas_from_data() {
    let (_tmp, out) = fixture_run(&[]);
    let mut wb: Xlsx<_> = open_workbook(out.join("vocscope.xlsx")).expect("open workbook");
    assert_eq!(
        wb.sheet_names(),
        ["Summary", "Themes", "Trends", "Records", "Unmapped"]
    );

    let records = wb.worksheet_range("Records").expect("Records sheet");
    let header = header_of(&records);
    assert_eq!(
        header,
        [
            "id",
            "source",
            "kind",
            "created_at",
            "lang",
            "rating",
            "sentiment_score",
            "sentiment_label",
            "text_sentiment_score",
            "themes",
            "signals",
            "title",
            "text",
            "first_response_minutes",
            "resolution_minutes",
            "ces"
        ]
    );
    assert_eq!(records.height(), 6, "header + 5 records");
    let row_of = |id: &str| {
        records
            .rows()
            .find(|r| r[0] == Data::String(id.into()))
            .unwrap_or_else(|| panic!("no row for {id}"))
            .to_vec()
    };
    let f1 = row_of("f1");
    assert!(
        matches!(f1[3], Data::DateTime(_)),
        "created_at is a date: {:?}",
        f1[3]
    );
    assert_eq!(f1[5], Data::Float(2.0), "rating is a number");
    assert!(matches!(f1[6], Data::Float(_)), "score is a number");
    assert_eq!(
        f1[12],
        Data::String(format!("'{FORMULA_TEXT}")),
        "formula neutralised"
    );
    let z1 = row_of("z1");
    assert_eq!(
        z1[12],
        Data::String("快递等了两个星期还没到，客服一直不回复".into())
    );
    assert_eq!(z1[4], Data::String("zh".into()));
    let z2 = row_of("z2");
    assert_eq!(z2[5], Data::Empty, "no rating, empty cell");

    for sheet in ["Summary", "Themes", "Trends", "Records"] {
        let formulas = wb.worksheet_formula(sheet).expect("formulas");
        assert!(
            formulas.used_cells().all(|(_, _, f)| f.is_empty()),
            "{sheet} has a formula"
        );
    }

    let themes = wb.worksheet_range("Themes").expect("Themes sheet");
    let header = header_of(&themes);
    // The columns of themes.csv, in the same order.
    assert_eq!(
        &header[..6],
        ["rank", "id", "name", "parent", "records", "share"]
    );
    assert_eq!(header[12], "emerging");
    assert!(header.contains(&"name_zh".to_string()));
    let first = themes.rows().nth(1).expect("a theme");
    assert_eq!(first[0], Data::Float(1.0), "rank is a number");
    assert!(
        matches!(first[6], Data::Float(s) if s > 0.0 && s <= 1.0),
        "share is a fraction"
    );
    assert!(matches!(first[12], Data::Bool(_)), "emerging is a boolean");

    let trends = wb.worksheet_range("Trends").expect("Trends sheet");
    let header = trends.rows().next().expect("header");
    assert!(
        matches!(header[2], Data::DateTime(_)),
        "weeks are dates: {:?}",
        header[2]
    );
    let all = trends.rows().nth(1).expect("all records row");
    assert_eq!(all[0], Data::String("All records".into()));
    assert_eq!(all[1], Data::Float(5.0));
    assert!(
        all[2..].iter().all(|c| matches!(c, Data::Float(_))),
        "weekly counts are numbers"
    );

    let summary = wb.worksheet_range("Summary").expect("Summary sheet");
    let records_row = summary
        .rows()
        .find(|r| r[0] == Data::String("records".into()))
        .expect("records row");
    assert_eq!(records_row[1], Data::Float(5.0));
}

#[test]
fn csv_files_are_rfc4180_formula_safe_and_bom_on_request() {
    let (_tmp, out) = fixture_run(&["--excel-bom"]);
    let bytes = std::fs::read(out.join("records.csv")).expect("records.csv");
    assert!(bytes.starts_with(b"\xEF\xBB\xBF"), "BOM requested");
    let mut reader = csv::Reader::from_reader(&bytes[3..]);
    let headers = reader.headers().expect("header").clone();
    let text_col = headers
        .iter()
        .position(|h| h == "text")
        .expect("text column");
    let id_col = headers.iter().position(|h| h == "id").expect("id column");
    let rows: Vec<csv::StringRecord> = reader
        .records()
        .map(|r| r.expect("a valid CSV row"))
        .collect();
    assert_eq!(rows.len(), 5);
    let text_of = |id: &str| {
        rows.iter()
            .find(|r| &r[id_col] == id)
            .map(|r| r[text_col].to_string())
            .unwrap_or_else(|| panic!("no row {id}"))
    };
    assert_eq!(text_of("f1"), format!("'{FORMULA_TEXT}"));
    assert_eq!(
        text_of("c1"),
        "Delivery was late, but \"support\" helped, thanks\nsecond line",
        "comma, quotes and newline survive the round trip"
    );
    let raw = String::from_utf8(bytes[3..].to_vec()).expect("UTF-8");
    assert!(raw.contains("\"Delivery was late, but \"\"support\"\" helped, thanks\nsecond line\""));

    let (_tmp2, plain) = fixture_run(&[]);
    let bytes = std::fs::read(plain.join("themes.csv")).expect("themes.csv");
    assert!(!bytes.starts_with(b"\xEF\xBB\xBF"), "no BOM by default");
}

#[test]
fn report_rebuilds_xlsx_and_html_for_a_period() {
    let (tmp, _) = fixture_run(&[]);
    let out = tmp.path().join("period");
    let index = tmp.path().join("index");
    vocscope(&[
        "report",
        "--quiet",
        "--index",
        &index.display().to_string(),
        "--out",
        &out.display().to_string(),
        "--since",
        "2026-11-09",
        "--until",
        "2026-11-12",
    ]);
    let mut wb: Xlsx<_> = open_workbook(out.join("vocscope.xlsx")).expect("open workbook");
    let records = wb.worksheet_range("Records").expect("Records");
    assert_eq!(records.height(), 3, "header + s1 and f1 only");
    let html = std::fs::read_to_string(out.join("report.html")).expect("report.html");
    assert!(html.contains("2 records"));
}

fn chromium() -> Option<PathBuf> {
    let path = PathBuf::from("/usr/bin/chromium");
    path.exists().then_some(path)
}

/// What headless Chromium did with a page.
struct Visit {
    /// The serialized DOM (with `--dump-dom`).
    dom: String,
    /// Chromium's log (stderr).
    log: String,
    /// URLs the page itself asked the network for (from Chromium's NetLog:
    /// requests whose network isolation key is the file:// page; the
    /// browser's own background requests are not the page's).
    page_requests: Vec<String>,
}

impl Visit {
    /// Console messages (the page has no scripts, so any is a problem:
    /// errors, warnings, violations) and network requests by the page.
    fn problems(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .log
            .lines()
            .filter(|l| l.contains(":CONSOLE") || l.contains("Uncaught"))
            .map(str::to_string)
            .collect();
        out.extend(
            self.page_requests
                .iter()
                .map(|u| format!("network request: {u}")),
        );
        out
    }
}

/// Loads a file in headless Chromium with name resolution blocked.
fn headless(chromium: &Path, page: &Path, extra: &[String]) -> Visit {
    let profile = tempfile::tempdir().expect("profile dir");
    let netlog = profile.path().join("netlog.json");
    let mut child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!(
            "--user-data-dir={}",
            profile.path().join("profile").display()
        ))
        .arg(format!("--log-net-log={}", netlog.display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chromium");
    let stdout = child.stdout.take().expect("stdout");
    let stderr = child.stderr.take().expect("stderr");
    let out_thread =
        std::thread::spawn(move || std::io::read_to_string(stdout).unwrap_or_default());
    let err_thread =
        std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    let start = Instant::now();
    loop {
        if child.try_wait().expect("wait chromium").is_some() {
            break;
        }
        if start.elapsed() > Duration::from_secs(180) {
            let _ = child.kill();
            panic!("chromium did not finish within 180 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = err_thread.join().unwrap_or_default();
    let net = std::fs::read_to_string(&netlog)
        .unwrap_or_else(|e| panic!("no NetLog at {} ({e}): {log}", netlog.display()));
    let net: serde_json::Value = serde_json::from_str(&net).expect("NetLog is JSON");
    let mut page_requests: Vec<String> = net["events"]
        .as_array()
        .expect("NetLog events")
        .iter()
        .filter_map(|e| {
            let params = &e["params"];
            let from_page = params["network_isolation_key"]
                .as_str()
                .is_some_and(|k| k.contains("file://"));
            from_page
                .then(|| params["url"].as_str().map(str::to_string))
                .flatten()
        })
        .collect();
    page_requests.dedup();
    Visit {
        dom: out_thread.join().unwrap_or_default(),
        log,
        page_requests,
    }
}

#[test]
fn unmapped_complaints_are_in_the_workbook_and_the_report_escaped() {
    let src = tempfile::tempdir().expect("temp dir");
    let extra = src.path().join("hinges.jsonl");
    let lines: Vec<String> = (0..6)
        .map(|i| {
            serde_json::json!({"id": format!("h{i}"), "created_at": "2026-11-14T09:00:00Z",
                "rating": 1, "text": format!("The hinge <script>alert({i}) squeaks, awful and annoying.")})
            .to_string()
        })
        .collect();
    std::fs::write(&extra, lines.join("\n") + "\n").expect("write");
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/sample");
    let (_tmp, out) = run_on(&[&sample, &extra], &[]);

    let mut wb: Xlsx<_> = open_workbook(out.join("vocscope.xlsx")).expect("open workbook");
    let sheet = wb.worksheet_range("Unmapped").expect("Unmapped sheet");
    let rows: Vec<Vec<String>> = sheet
        .rows()
        .map(|r| r.iter().map(|c| c.to_string()).collect())
        .collect();
    assert_eq!(
        rows[0],
        [
            "phrase",
            "records",
            "negative_share",
            "score",
            "phrases",
            "examples",
            "toml"
        ]
    );
    let points = rows
        .iter()
        .skip(1)
        .find(|r| r[0].contains("积分") || r[0].contains("point"))
        .unwrap_or_else(|| panic!("the planted points complaint: {rows:?}"));
    assert!(points[1].parse::<f64>().unwrap() >= 5.0, "{points:?}");
    assert!(points[6].starts_with("[[theme]]"), "{points:?}");
    let row = sheet.rows().nth(1).expect("a candidate");
    assert!(matches!(row[1], Data::Float(_)), "records is a number");
    assert!(matches!(row[2], Data::Float(s) if s > 0.0 && s <= 1.0));

    let html = std::fs::read_to_string(out.join("report.html")).expect("report.html");
    assert_self_contained(&html);
    let section = html
        .split("<h2>Unmapped complaints</h2>")
        .nth(1)
        .expect("an Unmapped complaints section");
    let section = section.split("</section>").next().unwrap();
    assert!(section.contains("[[theme]]"));
    assert!(section.contains("积分") || section.contains("point"));
    assert!(section.contains("hinge &lt;script&gt;alert("), "{section}");
}

fn assert_self_contained(html: &str) {
    for needle in [
        "src=", "href=", "url(", "@import", "<link", "<script", "<iframe", "<object",
    ] {
        assert!(
            !html.contains(needle),
            "report.html refers outside or runs code: {needle}"
        );
    }
}

#[test]
fn report_html_loads_in_headless_chromium_with_no_errors_or_network() {
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/sample");
    let (_tmp, out) = run_on(&[&sample], &[]);
    let page = out.join("report.html");
    let html = std::fs::read_to_string(&page).expect("report.html");
    assert_self_contained(&html);
    assert!(html.contains("App crashes or won&#39;t open"));
    assert!(html.contains("▲ emerging"));
    assert!(html.contains("<svg"));

    let Some(chromium) = chromium() else {
        eprintln!(
            "NOTICE: /usr/bin/chromium not found: skipping the browser check (CI installs it)"
        );
        return;
    };
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
    std::fs::create_dir_all(&target).expect("target dir");
    let shot = target.join("report-screenshot.png");
    let _ = std::fs::remove_file(&shot);
    let visit = headless(&chromium, &page, &["--dump-dom".into()]);
    assert!(
        visit.dom.contains("Voice of the customer"),
        "page did not render: {}",
        visit.log
    );
    assert!(visit.dom.contains("Biggest pain points"));
    let problems = visit.problems();
    assert!(
        problems.is_empty(),
        "console messages or network requests: {problems:#?}"
    );

    let visit = headless(
        &chromium,
        &page,
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=1280,2400".into(),
            "--hide-scrollbars".into(),
        ],
    );
    let problems = visit.problems();
    assert!(
        problems.is_empty(),
        "console messages or network requests: {problems:#?}"
    );
    let size = std::fs::metadata(&shot).map(|m| m.len()).unwrap_or(0);
    assert!(
        size > 10_000,
        "no screenshot written at {}: {}",
        shot.display(),
        visit.log
    );
}

#[test]
fn script_in_ticket_text_renders_as_text_in_chromium() {
    let (_tmp, out) = fixture_run(&[]);
    let page = out.join("report.html");
    let html = std::fs::read_to_string(&page).expect("report.html");
    assert_self_contained(&html);
    assert!(
        html.contains("&lt;script&gt;alert(&#39;xss&#39;)"),
        "the script text is quoted, escaped"
    );
    let Some(chromium) = chromium() else {
        eprintln!(
            "NOTICE: /usr/bin/chromium not found: skipping the browser check (CI installs it)"
        );
        return;
    };
    let visit = headless(&chromium, &page, &["--dump-dom".into()]);
    assert!(
        visit.dom.contains("Voice of the customer"),
        "page did not render: {}",
        visit.log
    );
    assert!(
        !visit.dom.contains("<script"),
        "a script element was created"
    );
    assert!(
        visit.dom.contains("&lt;script&gt;alert('xss')"),
        "shown as text"
    );
    let problems = visit.problems();
    assert!(
        problems.is_empty(),
        "console messages or network requests: {problems:#?}"
    );
}

#[test]
fn browser_check_catches_console_errors_and_network_requests() {
    let Some(chromium) = chromium() else {
        eprintln!(
            "NOTICE: /usr/bin/chromium not found: skipping the browser check (CI installs it)"
        );
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let page = dir.path().join("bad.html");
    std::fs::write(
        &page,
        r#"<!DOCTYPE html><p>bad</p><img src="http://example.invalid/x.png"><script>console.error("boom")</script>"#,
    )
    .expect("write page");
    let visit = headless(&chromium, &page, &["--dump-dom".into()]);
    let problems = visit.problems();
    assert!(problems.iter().any(|p| p.contains("boom")), "{problems:#?}");
    assert!(
        problems
            .iter()
            .any(|p| p.contains("http://example.invalid/x.png")),
        "{problems:#?}"
    );
}

#[test]
fn progress_is_silent_when_stderr_is_not_a_terminal() {
    let src = tempfile::tempdir().expect("temp dir");
    let input = fixture(src.path());
    let tmp = tempfile::tempdir().expect("temp dir");
    let out = Command::new(env!("CARGO_BIN_EXE_vocscope"))
        .arg("run")
        .arg(&input)
        .arg("--index")
        .arg(tmp.path().join("index"))
        .arg("--out")
        .arg(tmp.path().join("report"))
        .output()
        .expect("run vocscope");
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains('\r') && !stderr.contains("reading") && !stderr.contains('\u{1b}'),
        "progress drawn on a pipe: {stderr:?}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("vocscope.xlsx") && stdout.contains("report.html"));
}

/// The first row of a sheet, as text.
fn header_of(sheet: &calamine::Range<Data>) -> Vec<String> {
    sheet
        .rows()
        .next()
        .expect("header")
        .iter()
        .map(|c| c.to_string())
        .collect()
}
