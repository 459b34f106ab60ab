//! Ingest memory and speed benchmark: generates a large JSONL file and a
//! large JSON array (Zendesk-like tickets with comments, 1 GB each by
//! default) in a temporary directory, streams each through the ingest path
//! (`read_input`: sniffing, parsing, per-format mapping, HTML and reply
//! cleaning; no index) and reports records/s, MB/s and peak RSS
//! (`VmHWM`, reset between phases through `/proc/self/clear_refs`).
//!
//! `cargo run --release --bin ingest_bench -- [--size-mb 1024] [--dir DIR] [--keep]`
//!
//! The generated files are deleted at the end unless `--keep` is given.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use vocscope::ingest::{read_input, InputFile, Item, MapHints};

const WORDS: &[&str] = &[
    "order",
    "refund",
    "late",
    "parcel",
    "app",
    "crash",
    "login",
    "password",
    "charged",
    "twice",
    "support",
    "nobody",
    "answers",
    "broken",
    "box",
    "damaged",
    "delivery",
    "week",
    "still",
    "waiting",
    "please",
    "help",
    "update",
    "version",
    "screen",
    "payment",
    "failed",
    "快递",
    "退款",
    "客服",
    "不回复",
    "闪退",
    "质量",
    "很差",
    "物流",
    "太慢",
    "包装",
    "破损",
];

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
    fn sentence(&mut self, words: usize) -> String {
        (0..words)
            .map(|_| self.pick(WORDS))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

fn ticket(rng: &mut Rng, id: u64) -> String {
    let words = 40 + (rng.next() % 60) as usize;
    let description = rng.sentence(words);
    let reply = rng.sentence(30);
    let follow = rng.sentence(20);
    let day = 1 + rng.next() % 28;
    serde_json::json!({
        "id": id,
        "subject": rng.sentence(5),
        "description": description,
        "requester_id": 1000 + id % 5000,
        "created_at": format!("2026-09-{day:02}T10:{:02}:00Z", id % 60),
        "updated_at": "2026-10-01T00:00:00Z",
        "status": "open",
        "priority": "normal",
        "tags": ["billing", "vip"],
        "via": {"channel": "email"},
        "satisfaction_rating": {"score": if id.is_multiple_of(3) { "bad" } else { "good" }},
        "comments": [
            {"id": id * 10 + 1, "author_id": 1000 + id % 5000, "public": true, "plain_body": description},
            {"id": id * 10 + 2, "author_id": 7, "public": true, "html_body": format!("<p>{reply}</p>")},
            {"id": id * 10 + 3, "author_id": 1000 + id % 5000, "public": true, "plain_body": follow}
        ]
    })
    .to_string()
}

fn generate(path: &Path, bytes: u64, array: bool) -> std::io::Result<u64> {
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut written = 0u64;
    let mut n = 0u64;
    if array {
        out.write_all(b"{\"tickets\": [\n")?;
        written += 14;
    }
    while written < bytes {
        let line = ticket(&mut rng, n + 1);
        if array && n > 0 {
            out.write_all(b",\n")?;
            written += 2;
        }
        out.write_all(line.as_bytes())?;
        written += line.len() as u64;
        if !array {
            out.write_all(b"\n")?;
            written += 1;
        }
        n += 1;
    }
    if array {
        out.write_all(b"\n], \"end_of_stream\": true}\n")?;
    }
    out.flush()?;
    Ok(n)
}

fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn reset_peak() {
    // "5" resets the peak RSS (VmHWM) to the current RSS (Linux ≥ 4.0).
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn measure(name: &str, path: &Path, expected: u64) -> Result<(), String> {
    reset_peak();
    let size = std::fs::metadata(path).map_err(|e| e.to_string())?.len();
    let start = Instant::now();
    let mut records = 0u64;
    let mut rejects = 0u64;
    let mut text_bytes = 0u64;
    let mut agent_leaks = 0u64;
    let report = read_input(
        &InputFile::Path(path.to_path_buf()),
        &MapHints::default(),
        |item| match item {
            Item::Record { record, .. } => {
                records += 1;
                text_bytes += record.text.len() as u64;
                if !record.extra.contains_key("agent_replies") {
                    agent_leaks += 1;
                }
            }
            Item::Rejected(_) => rejects += 1,
        },
    )
    .map_err(|e| e.to_string())?;
    let secs = start.elapsed().as_secs_f64();
    let peak = status_kib("VmHWM:").unwrap_or(0);
    println!(
        "{name:<11} {:>7.0} MB  {records:>9} records  {rejects} rejects  {secs:>6.1} s  {:>8.0} records/s  {:>6.1} MB/s  peak RSS {:.0} MiB  (format {}, mapper {:?})",
        size as f64 / 1e6,
        records as f64 / secs,
        size as f64 / 1e6 / secs,
        peak as f64 / 1024.0,
        report.format.describe(),
        report.main_mapper(),
    );
    // Assert the results, so a fast wrong answer fails.
    if records != expected || rejects != 0 || agent_leaks != 0 || text_bytes == 0 {
        return Err(format!(
            "{name}: expected {expected} records with agent replies split off, got {records} records, {rejects} rejects, {agent_leaks} without agent_replies"
        ));
    }
    Ok(())
}

fn main() -> std::process::ExitCode {
    let mut size_mb = 1024u64;
    let mut dir: Option<PathBuf> = None;
    let mut keep = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--size-mb" => size_mb = args.next().and_then(|v| v.parse().ok()).unwrap_or(size_mb),
            "--dir" => dir = args.next().map(PathBuf::from),
            "--keep" => keep = true,
            other => {
                eprintln!("unknown argument {other}");
                return std::process::ExitCode::from(2);
            }
        }
    }
    let dir = dir.unwrap_or_else(|| std::env::temp_dir().join("vocscope-ingest-bench"));
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("{}: {e}", dir.display());
        return std::process::ExitCode::from(1);
    }
    let bytes = size_mb * 1024 * 1024;
    let mut failed = false;
    for (name, file, array) in [
        ("JSONL", "bench.jsonl", false),
        ("JSON array", "bench.json", true),
    ] {
        let path = dir.join(file);
        let start = Instant::now();
        let n = match generate(&path, bytes, array) {
            Ok(n) => n,
            Err(e) => {
                eprintln!("{}: {e}", path.display());
                return std::process::ExitCode::from(1);
            }
        };
        eprintln!(
            "generated {} ({n} tickets) in {:.1} s",
            path.display(),
            start.elapsed().as_secs_f64()
        );
        if let Err(e) = measure(name, &path, n) {
            eprintln!("error: {e}");
            failed = true;
        }
        if !keep {
            let _ = std::fs::remove_file(&path);
        }
    }
    if failed {
        std::process::ExitCode::from(1)
    } else {
        std::process::ExitCode::SUCCESS
    }
}
