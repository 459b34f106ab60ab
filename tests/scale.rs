//! Unattended runs: killed at any point (SIGKILL), a run again gives the same
//! index and summary; two runs on one index never corrupt it.
//!
//! The runs stop at known points through the debug-build test hook
//! `VOCSCOPE_TEST_PAUSE` (see `pipeline::pause_point`), or at arbitrary
//! points after a few delays. Inputs come from `vocscope::synth` and commit
//! every 250 records, so a run goes through several commits.

mod util;

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::Value;
use vocscope::synth::Generator;

use util::{Counts, Workspace};

/// Commit interval of every run here.
const COMMIT_EVERY: &str = "250";

/// Writes the inputs: 1,000 records; 600 more of which 200 are a later version
/// of records of the first file (superseded), plus a broken line; and 100
/// exact repeats of the first file's records (duplicates).
fn inputs(ws: &Workspace) -> Vec<PathBuf> {
    let mut g = Generator::new(42);
    let a = ws.path().join("a.jsonl");
    g.write_jsonl(&a, 0, 1000, 0).expect("write a.jsonl");
    let b = ws.path().join("b.jsonl");
    g.write_jsonl(&b, 800, 1400, 1).expect("write b.jsonl");
    let mut text = std::fs::read_to_string(&b).expect("read b.jsonl");
    text.push_str("{\"id\": \"broken\", \"text\": \n");
    std::fs::write(&b, text).expect("write b.jsonl");
    let c = ws.path().join("c.jsonl");
    let first: String = std::fs::read_to_string(&a)
        .expect("read a.jsonl")
        .lines()
        .take(100)
        .map(|line| format!("{line}\n"))
        .collect();
    std::fs::write(&c, first).expect("write c.jsonl");
    // Relative to the workspace (each run's current directory), so that
    // rejects.jsonl names the same files in every workspace.
    ["a.jsonl", "b.jsonl", "c.jsonl"]
        .map(PathBuf::from)
        .to_vec()
}

/// What must not depend on how a run got there.
#[derive(Debug, PartialEq)]
struct Snapshot {
    /// summary.json without `generated_at`, the counts and `since_last_run`.
    summary: Value,
    /// records.csv: one row per indexed record, with its analysis.
    records_csv: String,
    /// rejects.jsonl.
    rejects: String,
    /// Records found by an empty search.
    searched: u64,
}

fn snapshot(ws: &Workspace) -> Snapshot {
    let mut summary = ws.summary_file();
    let counts: Counts =
        serde_json::from_value(summary["counts"].clone()).expect("counts in summary.json");
    counts.assert_adds_up();
    let obj = summary.as_object_mut().expect("summary is an object");
    obj.remove("generated_at");
    // Counts describe one run's work: a run after an interrupted one skips
    // the files whose records are committed and finds the rest unchanged.
    obj.remove("counts");
    // "Since the last run" compares with whichever run finished before.
    obj.remove("since_last_run");
    let read = |name: &str| std::fs::read_to_string(ws.out_file(name)).expect(name);
    Snapshot {
        summary,
        records_csv: read("records.csv"),
        rejects: read("rejects.jsonl"),
        searched: ws.search("", &["--limit", "1"]).total,
    }
}

/// The snapshot of one uninterrupted run.
fn reference() -> &'static Snapshot {
    static REFERENCE: OnceLock<Snapshot> = OnceLock::new();
    REFERENCE.get_or_init(|| {
        let ws = Workspace::new();
        let inputs = inputs(&ws);
        let paths: Vec<&std::path::Path> = inputs.iter().map(PathBuf::as_path).collect();
        let result = ws.run_with(&paths, &["--commit-every", COMMIT_EVERY]);
        let c = &result.counts;
        assert_eq!(
            (c.read, c.indexed, c.superseded, c.duplicates, c.rejected),
            (1701, 1400, 200, 100, 1),
            "{c:?}"
        );
        snapshot(&ws)
    })
}

/// Runs to the end and checks the result against the uninterrupted run;
/// returns the counts of that last run.
fn finish_and_compare(ws: &Workspace, inputs: &[PathBuf], what: &str) -> Value {
    let paths: Vec<&std::path::Path> = inputs.iter().map(PathBuf::as_path).collect();
    let result = ws.run_with(&paths, &["--commit-every", COMMIT_EVERY]);
    let got = snapshot(ws);
    let want = reference();
    assert_eq!(got.searched, want.searched, "{what}: records in the index");
    assert_eq!(got.rejects, want.rejects, "{what}: rejects.jsonl");
    assert_eq!(got.summary, want.summary, "{what}: summary.json");
    assert!(
        got.records_csv == want.records_csv,
        "{what}: records.csv differs from the uninterrupted run's"
    );
    result.summary["counts"].clone()
}

fn killed_at_stage_then_rerun_equals_uninterrupted_run(stage: &str) {
    let ws = Workspace::new();
    let inputs = inputs(&ws);
    let paths: Vec<&std::path::Path> = inputs.iter().map(PathBuf::as_path).collect();
    let mut run = ws.spawn_run(&paths, &["--commit-every", COMMIT_EVERY], Some(stage));
    run.wait_for(&format!("paused at {stage}"));
    run.kill();
    finish_and_compare(&ws, &inputs, &format!("killed at {stage}"));
}

#[test]
fn killed_while_reading_before_any_commit() {
    killed_at_stage_then_rerun_equals_uninterrupted_run("read");
}

#[test]
fn killed_after_an_intermediate_commit() {
    killed_at_stage_then_rerun_equals_uninterrupted_run("commit");
}

#[test]
fn killed_before_the_final_commit() {
    killed_at_stage_then_rerun_equals_uninterrupted_run("final-commit");
}

#[test]
fn killed_while_writing_reports() {
    killed_at_stage_then_rerun_equals_uninterrupted_run("reports");
}

#[test]
fn killed_three_times_at_arbitrary_moments_then_rerun_equals_uninterrupted_run() {
    let ws = Workspace::new();
    let inputs = inputs(&ws);
    let paths: Vec<&std::path::Path> = inputs.iter().map(PathBuf::as_path).collect();
    // Wherever these land (starting up, reading, committing, writing
    // reports, or after the end), the next run must repair it.
    for delay in [150, 600, 1500] {
        let run = ws.spawn_run(&paths, &["--commit-every", COMMIT_EVERY], None);
        std::thread::sleep(Duration::from_millis(delay));
        run.kill();
    }
    finish_and_compare(&ws, &inputs, "killed three times");
}

#[test]
fn second_run_on_a_busy_index_exits_with_a_clear_message_and_changes_nothing() {
    let ws = Workspace::new();
    let inputs = inputs(&ws);
    let paths: Vec<&std::path::Path> = inputs.iter().map(PathBuf::as_path).collect();
    let mut first = ws.spawn_run(&paths, &["--commit-every", COMMIT_EVERY], Some("read"));
    first.wait_for("paused at read");
    let second = ws.run_output(&paths, &[]);
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(1), "stderr:\n{stderr}");
    assert!(
        stderr.contains("in use by another vocscope run"),
        "stderr:\n{stderr}"
    );
    for file in ["summary.json", "records.csv", "rejects.jsonl"] {
        assert!(!ws.out_file(file).exists(), "the refused run wrote {file}");
    }
    first.kill();
    finish_and_compare(&ws, &inputs, "after a refused concurrent run");
}

#[test]
fn two_runs_started_together_leave_the_same_index_as_one() {
    let ws = Workspace::new();
    let inputs = inputs(&ws);
    let paths: Vec<&std::path::Path> = inputs.iter().map(PathBuf::as_path).collect();
    let a = ws.spawn_run(&paths, &["--commit-every", COMMIT_EVERY], None);
    let b = ws.spawn_run(&paths, &["--commit-every", COMMIT_EVERY], None);
    let (a, b) = (a.finish(), b.finish());
    for ended in [&a, &b] {
        assert!(
            ended.code == Some(0)
                || (ended.code == Some(1) && ended.stderr.contains("in use by another")),
            "each run succeeds or is refused clearly: {ended:?}"
        );
    }
    assert!(a.code == Some(0) || b.code == Some(0), "one of them ran");
    finish_and_compare(&ws, &inputs, "after two runs at once");
}

#[test]
fn ctrl_c_commits_what_is_done_prints_counts_and_exits_130() {
    let ws = Workspace::new();
    let inputs = inputs(&ws);
    let paths: Vec<&std::path::Path> = inputs.iter().map(PathBuf::as_path).collect();
    let mut run = ws.spawn_run(&paths, &["--commit-every", COMMIT_EVERY], Some("read"));
    run.wait_for("paused at read");
    run.signal("INT");
    let ended = run.finish();
    assert_eq!(ended.code, Some(130), "{ended:?}");
    assert!(
        ended
            .stderr
            .contains("interrupted: committed what was done"),
        "{ended:?}"
    );
    assert!(ended.stderr.contains("counts: read "), "{ended:?}");
    // The first batch was committed, not the whole input; no report yet, and
    // no half-written rejects file.
    let committed = ws.search("", &["--limit", "1"]).total;
    assert!(
        committed > 0 && committed < 1400,
        "{committed} records committed"
    );
    assert!(!ws.out_file("summary.json").exists());
    assert!(!ws.out_file("rejects.jsonl").exists());
    assert!(!ws.out_file("rejects.jsonl.tmp").exists());
    finish_and_compare(&ws, &inputs, "after Ctrl-C");
}

/// Counts fields as numbers: read, files_skipped, skipped_records, new, unchanged.
fn nightly_counts(counts: &Value) -> [u64; 5] {
    [
        "read",
        "files_skipped",
        "skipped_records",
        "new",
        "unchanged",
    ]
    .map(|k| {
        counts[k]
            .as_u64()
            .unwrap_or_else(|| panic!("{k} in {counts}"))
    })
}

#[test]
fn unchanged_files_are_skipped_their_records_stay_in_the_summary() {
    let ws = Workspace::new();
    let inputs = inputs(&ws);
    finish_and_compare(&ws, &inputs, "first run");
    // a.jsonl (1,000 records) and c.jsonl (100) are skipped; b.jsonl has a
    // reject, so it is read every time (601 items: 600 records, 1 reject).
    let counts = finish_and_compare(&ws, &inputs, "second run");
    assert_eq!(nightly_counts(&counts), [601, 2, 1100, 0, 600], "{counts}");

    // Touched but not changed: the content hash says skip.
    let a = ws.path().join("a.jsonl");
    let later = std::time::SystemTime::now() + Duration::from_secs(60);
    let file = std::fs::File::options()
        .write(true)
        .open(&a)
        .expect("open a.jsonl");
    file.set_modified(later).expect("touch a.jsonl");
    drop(file);
    let counts = finish_and_compare(&ws, &inputs, "after touching a file");
    assert_eq!(nightly_counts(&counts), [601, 2, 1100, 0, 600], "{counts}");

    // --full reads everything again.
    let paths: Vec<&std::path::Path> = inputs.iter().map(PathBuf::as_path).collect();
    let full = ws.run_with(&paths, &["--commit-every", COMMIT_EVERY, "--full"]);
    let counts = &full.summary["counts"];
    assert_eq!(nightly_counts(counts), [1701, 0, 0, 0, 1400], "{counts}");

    // A file that grew is read again: only its new records are new.
    let mut g = Generator::new(42);
    let extra = ws.path().join("extra.jsonl");
    g.write_jsonl(&extra, 5000, 5010, 0)
        .expect("write extra records");
    let mut text = std::fs::read_to_string(&a).expect("read a.jsonl");
    text.push_str(&std::fs::read_to_string(&extra).expect("read extra"));
    std::fs::write(&a, text).expect("append to a.jsonl");
    let grown = ws.run_with(&paths, &["--commit-every", COMMIT_EVERY]);
    let counts = &grown.summary["counts"];
    assert_eq!(nightly_counts(counts), [1611, 1, 100, 10, 1400], "{counts}");
    grown.counts.assert_adds_up();
}

/// JSONL of reviews: (id, text, rating, day of January 2026).
fn reviews(list: &[(&str, &str, u8, u8)]) -> String {
    list.iter()
        .map(|(id, text, rating, day)| {
            let created = format!("2026-01-{day:02}T09:00:00Z");
            let line = serde_json::json!({"id": id, "text": text, "rating": rating, "created_at": created});
            format!("{line}\n")
        })
        .collect()
}

/// A run stopped by Ctrl-C after committing a new text for the first record
/// of a text leaves that text's near-duplicates without an owner. The next
/// run gives them one before its own records look owners up: a new record
/// of that text must not take it while the older copies stay flagged.
#[test]
fn texts_left_without_an_owner_by_ctrl_c_get_one_before_new_records_arrive() {
    const LATE: &str = "My parcel arrived two weeks late and the box was crushed on arrival";
    const RUDE: &str = "The agent on the phone was rude and hung up before solving anything";
    const EDITED: &str = "Refund still missing after a month, nobody answers my emails at all";
    let before = [
        ("1", LATE, 1, 1),
        ("2", LATE, 2, 2),
        ("3", LATE, 3, 3),
        ("4", RUDE, 5, 4),
    ];
    let mut after = before;
    after[0].1 = EDITED;
    let arriving = [("5", LATE, 5, 5)];

    let ws = Workspace::new();
    let input = ws.write("reviews.jsonl", reviews(&before));
    ws.run(&[&input]);
    // Record 1's new text is committed, the run stops before its end.
    ws.write("reviews.jsonl", reviews(&after));
    let mut run = ws.spawn_run(&[&input], &[], Some("read"));
    run.wait_for("paused at read");
    run.signal("INT");
    assert_eq!(run.finish().code, Some(130));
    // The next export holds only the new record: the interrupted file is
    // not read again (reading it would re-flag its records on the way).
    let new = ws.write("new.jsonl", reviews(&arriving));
    let rerun = ws.run(&[&new]).summary;

    let fresh_ws = Workspace::new();
    let files = [
        fresh_ws.write("reviews.jsonl", reviews(&after)),
        fresh_ws.write("new.jsonl", reviews(&arriving)),
    ];
    let fresh = fresh_ws.run(&[&files[0], &files[1]]).summary;
    // Records 1, 2 (the late parcel's owner) and 4 count: (1 + 2 + 5) / 3.
    for s in [&rerun, &fresh] {
        assert_eq!(s["records"], 3, "{s}");
        assert_eq!(s["near_duplicates"], 2, "{s}");
        assert_eq!(s["metrics"]["mean_rating"], 2.6667, "{s}");
    }
}

/// The lines of `from` (relative to the workspace) from `skip`, `take` of
/// them, with their ids prefixed (records of the same texts under other
/// keys, that is near-duplicates of them) and `more` added to their text.
fn copies(
    ws: &Workspace,
    from: &str,
    (skip, take): (usize, usize),
    prefix: &str,
    more: &str,
) -> String {
    std::fs::read_to_string(ws.path().join(from))
        .expect("read an input")
        .lines()
        .skip(skip)
        .take(take)
        .map(|line| {
            let mut record: Value = serde_json::from_str(line).expect("a generated line");
            let id = record["id"].as_str().expect("id").to_string();
            record["id"] = format!("{prefix}{id}").into();
            let text = record["text"].as_str().expect("text").to_string();
            record["text"] = format!("{text}{more}").into();
            format!("{record}\n")
        })
        .collect()
}

#[test]
fn lookups_spilled_to_disk_give_the_same_runs_as_lookups_in_memory() {
    // The ledger of keys and the owners of texts keep 5 entries in memory
    // in one workspace (every other entry goes to disk) and all of them in
    // the other; the inputs have duplicates, superseded versions, broken
    // lines and near-duplicates, first within the run, then in a nightly
    // run against the index.
    let runs = ["5", "1048576"].map(|spill_after| {
        let ws = Workspace::new();
        let mut inputs = inputs(&ws);
        ws.write("d.jsonl", copies(&ws, "a.jsonl", (300, 150), "copy-", ""));
        inputs.push(PathBuf::from("d.jsonl"));
        let paths: Vec<&std::path::Path> = inputs.iter().map(PathBuf::as_path).collect();
        let extra = ["--commit-every", COMMIT_EVERY, "--spill-after", spill_after];
        let first = ws.run_with(&paths, &extra);
        first.counts.assert_adds_up();
        let first_snapshot = snapshot(&ws);
        // Nightly: more copies of indexed texts, copies of copies, and new
        // versions of some records.
        let mut night = copies(&ws, "a.jsonl", (400, 100), "night-", "");
        night.push_str(&copies(&ws, "d.jsonl", (0, 50), "again-", ""));
        night.push_str(&copies(&ws, "b.jsonl", (0, 80), "", " Still waiting."));
        ws.write("e.jsonl", night);
        inputs.push(PathBuf::from("e.jsonl"));
        let paths: Vec<&std::path::Path> = inputs.iter().map(PathBuf::as_path).collect();
        let second = ws.run_with(&paths, &extra);
        second.counts.assert_adds_up();
        let near_duplicates = |r: &util::RunResult| r.summary["counts"]["near_duplicates"].clone();
        (
            (near_duplicates(&first), first.counts, first_snapshot),
            (near_duplicates(&second), second.counts, snapshot(&ws)),
        )
    });
    let [(spilled_first, spilled_second), (memory_first, memory_second)] = runs;
    // The copies are found (but those of texts too short to compare): of
    // 150 in the first run, of 150 in the nightly one (which reads only the
    // new file, beside 80 updated records).
    let found = |v: &Value| v.as_u64().is_some_and(|n| (140..=150).contains(&n));
    assert!(found(&memory_first.0), "{:?}", memory_first);
    assert!(found(&memory_second.0), "{:?}", memory_second.0);
    assert_eq!(memory_second.1.updated, 80, "{:?}", memory_second.1);
    assert_eq!(spilled_first, memory_first, "first run");
    assert_eq!(spilled_second, memory_second, "nightly run");
}
