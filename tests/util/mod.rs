//! Helpers for the integration tests: a temporary workspace per test, the
//! real `vocscope` binary run inside it, and readers for what it writes.
//!
//! Every command runs with the workspace as its current directory and with
//! `--index`/`--out` inside it, so no test writes into the repository.

// Each test binary uses its own part of these helpers.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Output, Stdio};
use std::time::Duration;

use assert_cmd::Command;
use serde::Deserialize;
use serde_json::Value;
use tempfile::TempDir;

/// The longest any single command may take before the test fails.
const TIMEOUT: Duration = Duration::from_secs(120);

/// Path of a committed fixture under `tests/fixtures`.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("fixtures")
        .join(name)
}

/// The `counts` object of summary.json and of `run --json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Counts {
    pub read: u64,
    pub indexed: u64,
    pub new: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub duplicates: u64,
    pub superseded: u64,
    pub rejected: u64,
    pub undated: u64,
}

impl Counts {
    /// Panics unless both invariants hold.
    pub fn assert_adds_up(&self) {
        assert_eq!(
            self.read,
            self.indexed + self.superseded + self.duplicates + self.rejected,
            "read != indexed + superseded + duplicates + rejected in {self:?}"
        );
        assert_eq!(
            self.indexed,
            self.new + self.updated + self.unchanged,
            "indexed != new + updated + unchanged in {self:?}"
        );
    }
}

/// One line of rejects.jsonl.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reject {
    pub file: String,
    pub location: String,
    pub reason: String,
    pub raw: Value,
}

/// What `vocscope run --json` produced.
#[derive(Debug)]
pub struct RunResult {
    /// The summary printed on stdout.
    pub summary: Value,
    /// Its counts.
    pub counts: Counts,
    /// The lines of rejects.jsonl.
    pub rejects: Vec<Reject>,
    /// Standard error of the run.
    pub stderr: String,
}

impl RunResult {
    /// Panics unless the counts add up and equal `expected`, and unless
    /// rejects.jsonl has one line per rejected item.
    pub fn assert_counts(&self, expected: Counts) {
        self.counts.assert_adds_up();
        assert_eq!(self.counts, expected, "stderr:\n{}", self.stderr);
        assert_eq!(
            self.rejects.len() as u64,
            self.counts.rejected,
            "one line of rejects.jsonl per rejected item: {:#?}",
            self.rejects
        );
    }

    /// The reject at `location` of the file whose name ends with `file`;
    /// panics unless there is exactly one and its reason has every one of `words`.
    pub fn assert_reject(&self, file: &str, location: &str, words: &[&str]) -> &Reject {
        let found: Vec<&Reject> = self
            .rejects
            .iter()
            .filter(|r| r.file.ends_with(file) && r.location == location)
            .collect();
        assert_eq!(
            found.len(),
            1,
            "expected one reject for {file} at {location}, got {:#?}",
            self.rejects
        );
        let reject = found[0];
        for word in words {
            assert!(
                reject.reason.contains(word),
                "reason of {file} {location} should contain {word:?}: {reject:?}"
            );
        }
        reject
    }
}

/// A temporary workspace with its own index and report directories.
pub struct Workspace {
    dir: TempDir,
}

impl Workspace {
    /// A fresh, empty workspace.
    pub fn new() -> Workspace {
        Workspace {
            dir: tempfile::tempdir().expect("create a temporary directory"),
        }
    }

    /// The workspace root.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The index directory passed as `--index`.
    pub fn index(&self) -> PathBuf {
        self.path().join("index")
    }

    /// The report directory passed as `--out`.
    pub fn out(&self) -> PathBuf {
        self.path().join("report")
    }

    /// A file in the report directory.
    pub fn out_file(&self, name: &str) -> PathBuf {
        self.out().join(name)
    }

    /// Writes `bytes` to `name` in the workspace and returns its path.
    pub fn write(&self, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create parent directory");
        }
        std::fs::write(&path, bytes).expect("write input file");
        path
    }

    /// The `vocscope` binary, run in this workspace.
    pub fn cmd(&self) -> Command {
        let mut cmd = Command::cargo_bin("vocscope").expect("the vocscope binary is built");
        cmd.current_dir(self.path()).timeout(TIMEOUT);
        cmd
    }

    /// `vocscope run INPUTS --index --out --json`; panics unless it exits 0.
    pub fn run(&self, inputs: &[&Path]) -> RunResult {
        self.run_with(inputs, &[])
    }

    /// `vocscope run INPUTS --index --out --json EXTRA`; panics unless it exits 0.
    pub fn run_with(&self, inputs: &[&Path], extra: &[&str]) -> RunResult {
        let mut cmd = self.cmd();
        cmd.args(self.run_args(inputs, extra)).arg("--json");
        let output = cmd.output().expect("run vocscope");
        assert_success(&output, "vocscope run");
        let summary: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
            panic!(
                "run --json should print JSON ({e}):\n{}",
                String::from_utf8_lossy(&output.stdout)
            )
        });
        let counts: Counts = serde_json::from_value(summary["counts"].clone())
            .unwrap_or_else(|e| panic!("counts in {summary}: {e}"));
        RunResult {
            summary,
            counts,
            rejects: self.rejects(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// `vocscope run INPUTS --index --out` without `--json`; panics unless it
    /// exits 0; returns the terminal summary (stdout).
    #[allow(dead_code)] // not every test binary uses it
    pub fn run_terminal(&self, inputs: &[&Path]) -> String {
        let output = self
            .cmd()
            .arg("run")
            .args(inputs)
            .arg("--index")
            .arg(self.index())
            .arg("--out")
            .arg(self.out())
            .output()
            .expect("run vocscope");
        assert_success(&output, "vocscope run");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// `vocscope run` on the bundled sample.
    pub fn run_sample(&self) -> RunResult {
        self.run(&[])
    }

    /// The lines of rejects.jsonl (which must exist).
    pub fn rejects(&self) -> Vec<Reject> {
        let text = std::fs::read_to_string(self.out_file("rejects.jsonl"))
            .expect("rejects.jsonl is written by every run");
        text.lines()
            .map(|line| {
                serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("rejects.jsonl line is not a reject ({e}): {line}"))
            })
            .collect()
    }

    /// `vocscope search QUERY --index --format json EXTRA`; panics unless it exits 0.
    pub fn search(&self, query: &str, extra: &[&str]) -> SearchResult {
        let output = self
            .cmd()
            .arg("search")
            .arg(query)
            .arg("--index")
            .arg(self.index())
            .args(["--format", "json"])
            .args(extra)
            .output()
            .expect("run vocscope search");
        assert_success(&output, &format!("vocscope search {query:?} {extra:?}"));
        let value: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
            panic!(
                "search --format json should print JSON ({e}):\n{}",
                String::from_utf8_lossy(&output.stdout)
            )
        });
        let total = value["total"]
            .as_u64()
            .unwrap_or_else(|| panic!("no total in {value}"));
        let hits = value["hits"]
            .as_array()
            .unwrap_or_else(|| panic!("no hits in {value}"))
            .clone();
        SearchResult { total, hits }
    }

    /// Every indexed record, as search hits.
    pub fn all_records(&self) -> SearchResult {
        self.search("", &["--limit", "1000"])
    }

    /// records.csv parsed into rows of column name → cell.
    pub fn records_csv(&self) -> Vec<std::collections::HashMap<String, String>> {
        let mut reader = csv::Reader::from_path(self.out_file("records.csv"))
            .expect("records.csv is written by every run");
        let headers = reader.headers().expect("records.csv has a header").clone();
        reader
            .records()
            .map(|row| {
                let row = row.expect("records.csv row parses");
                headers
                    .iter()
                    .zip(row.iter())
                    .map(|(h, c)| (h.to_string(), c.to_string()))
                    .collect()
            })
            .collect()
    }

    /// summary.json as written to the report directory.
    pub fn summary_file(&self) -> Value {
        let text = std::fs::read_to_string(self.out_file("summary.json"))
            .expect("summary.json is written");
        serde_json::from_str(&text).expect("summary.json is JSON")
    }
}

impl Workspace {
    /// `vocscope run INPUTS --index --out EXTRA` (a table on stdout), whatever its exit code.
    pub fn run_output(&self, inputs: &[&Path], extra: &[&str]) -> Output {
        self.cmd()
            .args(self.run_args(inputs, extra))
            .output()
            .expect("run vocscope")
    }

    /// Arguments of `vocscope run INPUTS --index --out EXTRA`.
    fn run_args(&self, inputs: &[&Path], extra: &[&str]) -> Vec<std::ffi::OsString> {
        let mut args: Vec<std::ffi::OsString> = vec!["run".into()];
        args.extend(inputs.iter().map(|p| p.as_os_str().to_owned()));
        args.extend([
            "--index".into(),
            self.index().into_os_string(),
            "--out".into(),
            self.out().into_os_string(),
        ]);
        args.extend(extra.iter().map(Into::into));
        args
    }

    /// Starts `vocscope run INPUTS --index --out --json EXTRA` in the
    /// background with stderr piped; with `pause`, the run stops at that stage
    /// (the debug-build test hook `VOCSCOPE_TEST_PAUSE`, see `pipeline`).
    pub fn spawn_run(&self, inputs: &[&Path], extra: &[&str], pause: Option<&str>) -> Background {
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("vocscope"));
        cmd.current_dir(self.path())
            .args(self.run_args(inputs, extra))
            .arg("--json")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(stage) = pause {
            cmd.env("VOCSCOPE_TEST_PAUSE", stage);
        }
        let mut child = cmd.spawn().expect("start vocscope run");
        let stderr = BufReader::new(child.stderr.take().expect("piped stderr"));
        Background {
            child,
            stderr,
            seen: String::new(),
        }
    }
}

/// A `vocscope` process started by [`Workspace::spawn_run`].
pub struct Background {
    /// The process.
    pub child: Child,
    stderr: BufReader<ChildStderr>,
    /// Standard error read so far.
    pub seen: String,
}

/// How a background run ended.
#[derive(Debug)]
pub struct Ended {
    /// Exit code (None: killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Background {
    /// Reads stderr until a line starts with `prefix`; panics if the process
    /// closes stderr first (it ended without getting there).
    pub fn wait_for(&mut self, prefix: &str) {
        loop {
            let mut line = String::new();
            let n = self.stderr.read_line(&mut line).expect("read stderr");
            self.seen.push_str(&line);
            if n == 0 {
                let _ = self.child.kill();
                panic!(
                    "vocscope ended before printing {prefix:?}; stderr:\n{}",
                    self.seen
                );
            }
            if line.starts_with(prefix) {
                return;
            }
        }
    }

    /// Sends a signal (`KILL`, `INT`, ...) with kill(1).
    pub fn signal(&self, name: &str) {
        let status = std::process::Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} failed");
    }

    /// Kills the process (SIGKILL) and reaps it.
    pub fn kill(mut self) {
        self.child.kill().expect("kill vocscope");
        self.child.wait().expect("reap vocscope");
    }

    /// Waits for the process to end and collects its output.
    pub fn finish(mut self) -> Ended {
        // Both pipes are drained at once, so a full one cannot block the process.
        let out = self.child.stdout.take();
        let reader = std::thread::spawn(move || {
            let mut stdout = String::new();
            if let Some(mut out) = out {
                out.read_to_string(&mut stdout).expect("read stdout");
            }
            stdout
        });
        let mut rest = String::new();
        self.stderr
            .read_to_string(&mut rest)
            .expect("read stderr to the end");
        self.seen.push_str(&rest);
        let stdout = reader.join().expect("stdout reader");
        let status = self.child.wait().expect("wait for vocscope");
        Ended {
            code: status.code(),
            stdout,
            stderr: self.seen,
        }
    }
}

/// Parsed output of `search --format json`.
#[derive(Debug)]
pub struct SearchResult {
    /// All matching records.
    pub total: u64,
    /// The hits returned.
    pub hits: Vec<Value>,
}

impl SearchResult {
    /// Ids of the hits, in order.
    pub fn ids(&self) -> Vec<String> {
        self.hits
            .iter()
            .map(|h| h["id"].as_str().unwrap_or_default().to_string())
            .collect()
    }
}

/// Panics with the command's output unless it exited 0.
pub fn assert_success(output: &Output, what: &str) {
    assert!(
        output.status.success(),
        "{what} failed with {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Theme ids of a search hit.
pub fn hit_themes(hit: &Value) -> Vec<String> {
    hit["themes"]
        .as_array()
        .unwrap_or_else(|| panic!("hit without themes: {hit}"))
        .iter()
        .map(|t| t.as_str().unwrap_or_default().to_string())
        .collect()
}

/// Whether `theme` is `id` or one of its descendants.
pub fn is_theme_or_child(theme: &str, id: &str) -> bool {
    theme == id
        || theme
            .strip_prefix(id)
            .is_some_and(|rest| rest.starts_with('.'))
}
