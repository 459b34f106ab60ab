//! Ingest integration tests: the real `vocscope` binary on the example
//! exports in data/examples/ and the fixtures in tests/fixtures/ingest/,
//! each run with its own index and report directory in a temp dir.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn example(name: &str) -> String {
    root()
        .join("data/examples")
        .join(name)
        .display()
        .to_string()
}

fn fixture(name: &str) -> String {
    root()
        .join("tests/fixtures/ingest")
        .join(name)
        .display()
        .to_string()
}

/// Runs `vocscope run` with an index and out dir inside `dir`; returns (stdout, stderr).
fn run(dir: &Path, args: &[&str]) -> (String, String) {
    let out = Command::cargo_bin("vocscope")
        .unwrap()
        .current_dir(dir)
        .args(["run", "--index", "idx", "--out", "out", "--threads", "2"])
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "exit {:?}\n{stdout}\n{stderr}",
        out.status
    );
    (stdout, stderr)
}

/// records.csv as maps, keyed by `source:id`.
fn records(dir: &Path) -> HashMap<String, HashMap<String, String>> {
    let mut reader = csv::Reader::from_path(dir.join("out/records.csv")).unwrap();
    let headers = reader.headers().unwrap().clone();
    let mut all = HashMap::new();
    for row in reader.records() {
        let row = row.unwrap();
        let map: HashMap<String, String> = headers
            .iter()
            .zip(row.iter())
            .map(|(h, v)| (h.to_string(), v.to_string()))
            .collect();
        all.insert(format!("{}:{}", map["source"], map["id"]), map);
    }
    all
}

/// The rating column as a number (`None` when empty).
fn rating(row: &HashMap<String, String>) -> Option<f64> {
    row["rating"].parse().ok()
}

fn summary(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("out/summary.json")).unwrap()).unwrap()
}

fn rejects(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("out/rejects.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Stored records as `vocscope search "" --json` returns them.
fn search_all(dir: &Path) -> Vec<Value> {
    let out = Command::cargo_bin("vocscope")
        .unwrap()
        .current_dir(dir)
        .args(["search", "", "--index", "idx", "--json", "--limit", "100"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    doc["hits"].as_array().unwrap().clone()
}

#[test]
fn zendesk_tickets_keep_agent_replies_out_of_text() {
    let dir = tempfile::tempdir().unwrap();
    run(dir.path(), &[&example("zendesk_tickets.json")]);
    let r = records(dir.path());
    assert_eq!(r.len(), 3);
    let t = &r["zendesk:50101"];
    assert_eq!(t["kind"], "ticket");
    assert_eq!(t["created_at"], "2026-10-05T08:12:00Z");
    assert_eq!(rating(t), Some(1.0));
    assert_eq!(t["title"], "Parcel still not here");
    assert!(t["text"].starts_with("I ordered a kettle two weeks ago"));
    assert!(t["text"].contains("Still nothing. I want a refund"));
    // Agent replies, internal notes and the quoted chain are not analysed.
    for agent in [
        "courier partner",
        "Internal note",
        "Thank you for your patience",
        "wrote:",
    ] {
        assert!(!t["text"].contains(agent), "{agent} in {}", t["text"]);
    }
    assert_eq!(r["zendesk:50103"]["lang"], "zh");
    assert_eq!(rating(&r["zendesk:50103"]), Some(5.0));
    assert_eq!(rating(&r["zendesk:50102"]), None);
    let hits = search_all(dir.path());
    assert_eq!(hits.len(), 3);
    assert!(hits.iter().all(|h| h["source"] == "zendesk"));
}

#[test]
fn freshdesk_codes_and_conversations_map() {
    let dir = tempfile::tempdir().unwrap();
    run(dir.path(), &[&example("freshdesk_tickets.json")]);
    let r = records(dir.path());
    let t = &r["freshdesk:2201"];
    assert_eq!(
        t["text"],
        "I ordered size M and received an XL.\nCan you exchange it?\n\nThe return label link does not work, it says expired."
    );
    assert!(!t["text"].contains("We have sent a return label"));
    assert!(!t["text"].contains("repeat buyer"));
    assert_eq!(r["freshdesk:2203"]["lang"], "zh");
    let out = Command::cargo_bin("vocscope")
        .unwrap()
        .current_dir(dir.path())
        .args(["run", "--dry-run", &example("freshdesk_tickets.json")])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("\"status\":\"open\"") && text.contains("\"channel\":\"email\""),
        "{text}"
    );
    assert!(
        text.contains("\"status\":\"resolved\"") && text.contains("\"channel\":\"chat\""),
        "{text}"
    );
    assert!(
        text.contains("\"channel\":\"feedback widget\"") && text.contains("\"status\":\"closed\""),
        "{text}"
    );
}

#[test]
fn intercom_parts_by_admins_and_bots_are_not_text() {
    let dir = tempfile::tempdir().unwrap();
    run(dir.path(), &[&example("intercom_conversations.json")]);
    let r = records(dir.path());
    let c = &r["intercom:1911149811"];
    assert_eq!(c["kind"], "chat");
    assert_eq!(c["created_at"], "2026-10-10T08:00:00Z");
    assert_eq!(rating(c), Some(2.0));
    assert_eq!(
        c["text"],
        "Hi, I can't log in since the last update. It says \"session expired\" every time.\n\nYes, many times. Still locked out of my account."
    );
    assert!(!c["text"].contains("logging out and in again") && !c["text"].contains("bot"));
    assert_eq!(r["intercom:1911149812"]["title"], "Delivery question");
    assert_eq!(r["intercom:1911149812"]["lang"], "zh");
}

#[test]
fn app_store_google_play_and_trustpilot_reviews_map() {
    let dir = tempfile::tempdir().unwrap();
    run(
        dir.path(),
        &[
            &example("appstore_reviews.json"),
            &example("googleplay_reviews.json"),
            &example("googleplay_console.csv"),
            &example("trustpilot_reviews.jsonl"),
        ],
    );
    let r = records(dir.path());
    assert_eq!(r.len(), 10, "{:?}", r.keys());
    let a = &r["appstore:00000041-1a2b-0001"];
    assert_eq!(a["kind"], "review");
    assert_eq!(rating(a), Some(1.0));
    assert_eq!(a["title"], "Crashes on launch");
    assert_eq!(a["created_at"], "2026-10-14T16:30:00Z");
    assert!(!a["text"].contains("5.3.1 fixes"));
    let g = &r["googleplay:gp:AOqpTOFmAVORqfWGcaqfF39ftwFjGkjecjvCXnMEC0"];
    assert_eq!(
        g["text"],
        "Payment fails at checkout with error 402, tried two cards."
    );
    assert_eq!(rating(g), Some(1.0));
    assert_eq!(g["created_at"], "2026-10-13T08:00:00Z");
    let console: Vec<_> = r
        .values()
        .filter(|row| row["source"] == "googleplay" && row["id"].starts_with("https://"))
        .collect();
    assert_eq!(console.len(), 2);
    assert!(console
        .iter()
        .all(|row| !row["text"].contains("looking into")));
    let t = &r["trustpilot:6512a8f0c4b1e2a3d4e5f601"];
    assert_eq!(rating(t), Some(1.0));
    assert_eq!(t["title"], "Never again");
    assert!(!t["text"].contains("Please send us your order number"));
    assert_eq!(r["trustpilot:6512a8f0c4b1e2a3d4e5f603"]["lang"], "zh");
}

#[test]
fn csv_with_header_maps_like_json() {
    let dir = tempfile::tempdir().unwrap();
    run(dir.path(), &[&example("generic_feedback.csv")]);
    let r = records(dir.path());
    assert_eq!(r.len(), 3);
    let f = &r["generic:fb-3"];
    assert_eq!(rating(f), Some(1.0));
    assert_eq!(f["created_at"], "2026-10-25T00:00:00Z");
    assert_eq!(f["title"], "Refund");
    assert!(f["text"].starts_with("I returned the shoes"));
}

#[test]
fn gzip_and_utf16_files_are_decoded() {
    let dir = tempfile::tempdir().unwrap();
    // A .json.gz of the Zendesk example.
    let gz_path = dir.path().join("tickets.json.gz");
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz_path).unwrap(),
        flate2::Compression::default(),
    );
    gz.write_all(&std::fs::read(example("zendesk_tickets.json")).unwrap())
        .unwrap();
    gz.finish().unwrap();
    // The Play Console CSV as the Console writes it: UTF-16LE with a BOM, gzipped too.
    let text = std::fs::read_to_string(example("googleplay_console.csv")).unwrap();
    let mut utf16 = vec![0xFF, 0xFE];
    for unit in text.encode_utf16() {
        utf16.extend_from_slice(&unit.to_le_bytes());
    }
    std::fs::write(dir.path().join("reviews_202610.csv"), &utf16).unwrap();
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(dir.path().join("reviews_202609.csv.gz")).unwrap(),
        flate2::Compression::default(),
    );
    gz.write_all(&utf16).unwrap();
    gz.finish().unwrap();
    let (_, stderr) = run(
        dir.path(),
        &[
            "tickets.json.gz",
            "reviews_202610.csv",
            "reviews_202609.csv.gz",
        ],
    );
    assert!(!stderr.contains("error"), "{stderr}");
    let r = records(dir.path());
    // The two CSV files hold the same reviews (same Review Link ids): 3 + 2.
    assert_eq!(r.len(), 5, "{:?}", r.keys());
    assert!(r.contains_key("zendesk:50101"));
    let zh = r
        .values()
        .find(|row| row["text"].starts_with("更新后流畅多了"))
        .expect("the Chinese review decoded from UTF-16");
    assert_eq!(zh["lang"], "zh");
    assert_eq!(rating(zh), Some(4.0));
    assert_eq!(summary(dir.path())["counts"]["duplicates"], 2);
}

#[test]
fn unknown_format_is_rejected_naming_the_file_and_the_batch_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let letter = fixture("letter.txt");
    let no_text = fixture("no_text_field.json");
    let (_, stderr) = run(
        dir.path(),
        &[&letter, &no_text, &example("trustpilot_reviews.jsonl")],
    );
    for file in [&letter, &no_text] {
        let line = stderr
            .lines()
            .find(|l| l.contains(file.as_str()))
            .unwrap_or_else(|| panic!("no error naming {file}: {stderr}"));
        assert!(
            line.contains("--map") && line.contains("not recognised"),
            "{line}"
        );
    }
    let rejects = rejects(dir.path());
    assert_eq!(rejects.len(), 3);
    assert_eq!(
        rejects
            .iter()
            .filter(|r| r["file"] == no_text.as_str())
            .count(),
        2
    );
    assert_eq!(
        rejects
            .iter()
            .filter(|r| r["file"] == letter.as_str())
            .count(),
        1
    );
    assert!(rejects
        .iter()
        .all(|r| r["reason"].as_str().unwrap().contains("--map")));
    let counts = &summary(dir.path())["counts"];
    assert_eq!(counts["read"], 6);
    assert_eq!(counts["rejected"], 3);
    assert_eq!(counts["indexed"], 3);
}

#[test]
fn map_file_maps_a_custom_layout() {
    let dir = tempfile::tempdir().unwrap();
    run(
        dir.path(),
        &[
            "--map",
            &example("custom_map.toml"),
            &example("custom_export.json"),
        ],
    );
    let r = records(dir.path());
    let t = &r["helpx:HX-1001"];
    assert_eq!(t["kind"], "ticket");
    assert_eq!(t["title"], "Late delivery");
    assert_eq!(
        t["text"],
        "My order is ten days late and nobody tells me why."
    );
    assert_eq!(t["created_at"], "2026-10-24T09:15:00Z");
    assert_eq!(rating(t), Some(2.0));
    assert_eq!(r["helpx:HX-1002"]["lang"], "zh");
}

#[test]
fn bad_map_file_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let map = fixture("bad_map.toml");
    let out = Command::cargo_bin("vocscope")
        .unwrap()
        .current_dir(dir.path())
        .args(["run", "--index", "idx", "--out", "out", "--map", &map])
        .arg(example("custom_export.json"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&map) && stderr.contains("not"), "{stderr}");
    assert!(!dir.path().join("idx").exists());
}

#[test]
fn dry_run_shows_format_mapping_and_first_records_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::cargo_bin("vocscope")
        .unwrap()
        .current_dir(dir.path())
        .args(["run", "--dry-run", "--index", "idx", "--out", "out"])
        .arg(root().join("data/examples"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for want in [
        "zendesk_tickets.json",
        "format:  zendesk (3 items)",
        "format:  freshdesk (3 items)",
        "format:  intercom (2 items)",
        "format:  appstore (3 items)",
        "format:  googleplay (2 items)",
        "format:  trustpilot (3 items)",
        "layout:  CSV",
        "layout:  JSON Lines",
        "mapping: id ← id; title ← subject|raw_subject; text ← description",
        "first records:",
        "\"id\":\"50101\"",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
    // The first records only: three per file at most.
    let zendesk = text.split("zendesk_tickets.json").nth(1).unwrap();
    assert_eq!(zendesk.matches("\"source\":\"zendesk\"").count(), 3);
    assert!(!dir.path().join("idx").exists() && !dir.path().join("out").exists());
}

#[test]
fn near_duplicate_text_is_flagged_and_counted_once() {
    let dir = tempfile::tempdir().unwrap();
    let file = fixture("near_duplicates.json");
    let (_, stderr) = run(dir.path(), &[&file]);
    assert!(stderr.contains("near-duplicates: 1"), "{stderr}");
    let s = summary(dir.path());
    assert_eq!(s["counts"]["indexed"], 4);
    assert_eq!(s["counts"]["near_duplicates"], 1);
    assert_eq!(s["near_duplicates"], 1);
    // Both tickets are indexed and searchable; the theme counts the text once.
    assert_eq!(search_all(dir.path()).len(), 4);
    assert_eq!(s["records"], 3);
    let late = s["themes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == "delivery.late" || t["id"] == "delivery.tracking")
        .expect("a delivery theme");
    assert_eq!(late["records"], 1, "{late}");
    // Short texts ("Thanks!") are never near-duplicates. A re-run changes
    // nothing: the unchanged file is skipped, its records stay counted.
    run(dir.path(), &[&file]);
    let s = summary(dir.path());
    assert_eq!(s["counts"]["files_skipped"], 1);
    assert_eq!(s["counts"]["skipped_records"], 4);
    assert_eq!(s["near_duplicates"], 1);
    assert_eq!(s["records"], 3);
}

/// Writes JSONL records (id, text, rating, day of January 2026) to `path`.
fn write_reviews(path: &Path, reviews: &[(&str, &str, u8, u8)]) {
    let mut file = std::fs::File::create(path).unwrap();
    for (id, text, rating, day) in reviews {
        let line = serde_json::json!({
            "id": id,
            "text": text,
            "rating": rating,
            "created_at": format!("2026-01-{day:02}T09:00:00Z"),
        });
        writeln!(file, "{line}").unwrap();
    }
}

/// What a summary says about the records, without the run's own facts
/// (time, counts, the comparison with the previous run).
fn statistics(s: &Value) -> Value {
    let mut s = s.clone();
    for key in ["generated_at", "counts", "since_last_run"] {
        s.as_object_mut().unwrap().remove(key);
    }
    s
}

/// When the first record of a text changes its text in a later run (or
/// takes another record's text), its near-duplicates must not keep
/// pointing at it: the text would count nowhere. One of them owns the text
/// and the summary is the one a fresh run of the final input gives.
#[test]
fn near_duplicates_take_over_a_text_whose_first_record_changed() {
    const LATE: &str = "My parcel arrived two weeks late and the box was crushed on arrival";
    const RUDE: &str = "The agent on the phone was rude and hung up before solving anything";
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("reviews.jsonl");
    // Four reviews with these texts, rated 1, 5, 4 and 2, a day apart.
    let write = |texts: [&str; 4]| {
        let ratings = [1, 5, 4, 2];
        let ids = ["1", "2", "3", "4"];
        let reviews: Vec<(&str, &str, u8, u8)> = (0..4)
            .map(|i| (ids[i], texts[i], ratings[i], i as u8 + 1))
            .collect();
        write_reviews(&input, &reviews);
    };
    write([LATE, LATE, LATE, RUDE]);
    let file = input.display().to_string();
    run(dir.path(), &[&file]);
    let s = summary(dir.path());
    assert_eq!(
        (s["records"].clone(), s["near_duplicates"].clone()),
        (2.into(), 2.into())
    );

    // Record 1 now tells another story: 2 owns the late-parcel text, 3
    // stays its near-duplicate.
    let edited = "Refund still missing after a month, nobody answers my emails at all";
    write([edited, LATE, LATE, RUDE]);
    let (_, stderr) = run(dir.path(), &[&file]);
    assert!(
        stderr.contains("near-duplicates: 2 records rewritten"),
        "{stderr}"
    );
    let rerun = summary(dir.path());
    assert_eq!(rerun["records"], 3);
    assert_eq!(rerun["near_duplicates"], 1);
    assert_eq!(rerun["counts"]["near_duplicates"], 1, "{}", rerun["counts"]);
    let fresh_dir = tempfile::tempdir().unwrap();
    run(fresh_dir.path(), &[&file]);
    let fresh = summary(fresh_dir.path());
    assert_eq!(statistics(&rerun), statistics(&fresh));

    // Reading the same input again finds every record unchanged: the
    // rewritten records are what a fresh read of them gives.
    let (stdout, _) = run(dir.path(), &[&file, "--full"]);
    assert!(stdout.contains("unchanged 4"), "{stdout}");
    assert_eq!(statistics(&summary(dir.path())), statistics(&fresh));

    // Record 2 takes record 4's text: 3 owns the late-parcel text, and 2
    // becomes a near-duplicate of 4.
    write([edited, RUDE, LATE, RUDE]);
    run(dir.path(), &[&file]);
    let rerun = summary(dir.path());
    assert_eq!(rerun["records"], 3);
    assert_eq!(rerun["near_duplicates"], 1);
    let fresh_dir = tempfile::tempdir().unwrap();
    run(fresh_dir.path(), &[&file]);
    // A fresh run makes 2 the owner of the rude-agent text (it comes
    // first), the rerun keeps 4: the same text counts once either way, but
    // with another rating. Everything else is the same.
    let fresh = summary(fresh_dir.path());
    assert_eq!(rerun["near_duplicates"], fresh["near_duplicates"]);
    assert_eq!(rerun["records"], fresh["records"]);
    let mean = |s: &Value| s["metrics"]["mean_rating"].as_f64().unwrap();
    // (1 + 4 + 2) / 3 and (1 + 5 + 4) / 3, as the summary rounds them.
    assert_eq!((mean(&rerun), mean(&fresh)), (2.3333, 3.3333));
}

/// Help-desk metrics (Zendesk `metric_set`, Freshdesk `stats`, Intercom
/// `statistics`) become median first response and resolution times, overall
/// and per theme; a CES out of range is a reject naming the field.
#[test]
fn service_metrics_from_every_help_desk_reach_the_summary() {
    let dir = tempfile::tempdir().unwrap();
    let (stdout, _) = run(
        dir.path(),
        &[
            &example("zendesk_tickets.json"),
            &example("freshdesk_tickets.json"),
            &example("intercom_conversations.json"),
        ],
    );
    let m = &summary(dir.path())["metrics"];
    // First responses: Zendesk 240 and 30, Freshdesk 120, Intercom 15 minutes.
    assert_eq!(m["first_response_records"], 4);
    assert_eq!(m["median_first_response_minutes"], 75.0);
    // Resolutions: Zendesk 4320 (full, not first), Freshdesk 1560, Intercom 60;
    // the open Zendesk ticket has none yet.
    assert_eq!(m["resolved_records"], 3);
    assert_eq!(m["median_resolution_minutes"], 1560.0);
    assert!(m["ces"].is_null(), "{m}");
    assert!(
        stdout.contains("median first response 75 min (4 tickets)")
            && stdout.contains("median resolution 26.0 h (3 resolved)"),
        "{stdout}"
    );
    // Per theme: the late parcel ticket took 4320 minutes.
    let themes = csv::Reader::from_path(dir.path().join("out/themes.csv"))
        .unwrap()
        .deserialize::<HashMap<String, String>>()
        .map(Result::unwrap)
        .collect::<Vec<_>>();
    let delivery = themes
        .iter()
        .find(|t| t["id"] == "delivery.late")
        .expect("a late delivery row");
    assert_eq!(delivery["median_resolution_minutes"], "4320");
    let html = std::fs::read_to_string(dir.path().join("out/report.html")).unwrap();
    assert!(html.contains("median resolution (3 resolved)"));
    // Per record, in records.csv for spreadsheets.
    let rows = records(dir.path());
    let minutes = |key: &str, column: &str| rows[key][column].parse::<f64>().ok();
    assert_eq!(
        minutes("zendesk:50101", "first_response_minutes"),
        Some(240.0)
    );
    assert_eq!(minutes("zendesk:50101", "resolution_minutes"), Some(4320.0));
    assert_eq!(rows["zendesk:50102"]["resolution_minutes"], "");

    let dir = tempfile::tempdir().unwrap();
    let (stdout, _) = run(dir.path(), &[&fixture("service_metrics.jsonl")]);
    let m = &summary(dir.path())["metrics"];
    assert_eq!(m["ces_responses"], 3);
    assert_eq!(m["ces"], 5.0);
    assert_eq!(m["ces_easy_share"], 66.67);
    assert_eq!(m["median_resolution_minutes"], 1010.0);
    assert!(
        stdout.contains("CES 5.0 of 7, 67% easy (3 answers)"),
        "{stdout}"
    );
    let rejects = rejects(dir.path());
    assert_eq!(rejects.len(), 1);
    let reason = rejects[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("`ces`") && reason.contains("1 to 7"),
        "{reason}"
    );
}
