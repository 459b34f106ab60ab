//! Full-run benchmark: generates realistic exports (`vocscope::synth`: mixed
//! English/Chinese tickets and reviews, skewed lengths, in JSONL files of
//! 100,000 records) in a temporary directory and measures, for each size:
//!
//! - `full run`: `pipeline::run` as `vocscope run` does it (ingest, analysis,
//!   index, all report files) on a fresh index;
//! - `nightly 1%`: the same inputs plus one file with 1% of the records new
//!   or changed (half each): unchanged files are skipped;
//! - `tantivy floor`: the same documents (id, title and text, the stored JSON)
//!   indexed by tantivy alone with the same analyzer and memory budget, on
//!   `--threads` indexing threads (the run's writer uses one, so that a
//!   commit writes one segment); JSON parsing included, no analysis, no
//!   reports.
//!
//! Each phase runs in its own child process (this binary with `--phase`) and
//! prints records/s, MB/s (of input) and peak RSS (the child's `VmHWM`,
//! which counts the index files tantivy maps as well as the heap, and the
//! peak of its anonymous part, sampled), and checks its
//! counts, so a fast wrong answer fails.
//!
//! `cargo run --release --bin run_bench -- [--records 100000,1000000] [--threads N] [--dir DIR] [--keep]`

/// mimalloc instead of the system allocator: a run allocates and frees
/// many small strings and vectors per record on several threads (issue 8).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context};
use tantivy::schema::{IndexRecordOption, Schema, TextFieldIndexing, TextOptions, STORED, STRING};
use tantivy::{Index, TantivyDocument};
use vocscope::analyze::{Analyzer, Lexicon, Taxonomy};
use vocscope::ingest::InputFile;
use vocscope::pipeline::{self, Progress, RunConfig};
use vocscope::summary::Counts;
use vocscope::synth::Generator;
use vocscope::text::{register_analyzer, ANALYZER_NAME};

/// Records per generated file.
const PER_FILE: u64 = 100_000;
/// Writer memory of the floor (the same budget as the vocscope index writer).
const WRITER_MEMORY: usize = 256 * 1024 * 1024;

fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))?
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

/// CPU time (user and system, all threads) this process has used so far,
/// in seconds: on a shared machine it tells more than the wall clock.
fn cpu_secs() -> f64 {
    // Fields 14 and 15 of /proc/self/stat, counted after the command name.
    let ticks: u64 = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let rest = s.rsplit_once(") ")?.1;
            let mut fields = rest.split_whitespace().skip(11);
            let user: u64 = fields.next()?.parse().ok()?;
            let system: u64 = fields.next()?.parse().ok()?;
            Some(user + system)
        })
        .unwrap_or(0);
    // The kernel's USER_HZ, 100 on Linux.
    ticks as f64 / 100.0
}

/// Samples the anonymous and file-backed RSS every 50 ms on its own thread:
/// the peak of the whole phase and of the current stage.
struct Sampler {
    /// Peak anonymous RSS of the phase, KiB.
    anon: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// Peaks of the current stage (anonymous, file-backed), KiB.
    stage: std::sync::Arc<[std::sync::atomic::AtomicU64; 2]>,
}

impl Sampler {
    fn start() -> Sampler {
        use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
        let anon = std::sync::Arc::new(AtomicU64::new(0));
        let stage = std::sync::Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
        let (a, s) = (anon.clone(), stage.clone());
        std::thread::spawn(move || loop {
            let now = status_kib("RssAnon:");
            a.fetch_max(now, Relaxed);
            s[0].fetch_max(now, Relaxed);
            s[1].fetch_max(status_kib("RssFile:"), Relaxed);
            std::thread::sleep(std::time::Duration::from_millis(50));
        });
        Sampler { anon, stage }
    }

    /// The peaks (anonymous, file-backed, KiB) of the stage that ends now;
    /// the next stage starts from the current values.
    fn take_stage(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        let anon = status_kib("RssAnon:");
        let file = status_kib("RssFile:");
        (
            self.stage[0].swap(anon, Relaxed).max(anon),
            self.stage[1].swap(file, Relaxed).max(file),
        )
    }

    /// Peak anonymous RSS of the phase, KiB.
    fn anon_peak(&self) -> u64 {
        self.anon
            .load(std::sync::atomic::Ordering::Relaxed)
            .max(status_kib("RssAnon:"))
    }
}

struct Phase {
    secs: f64,
    /// Peak RSS (VmHWM).
    peak_mib: f64,
    /// Peak anonymous RSS, sampled every 50 ms.
    anon_mib: f64,
}

fn print(records: u64, name: &str, records_done: u64, bytes: u64, p: &Phase) {
    println!(
        "{records:>9} {name:<14} {:>8.1} s {:>9.0} rec/s {:>7.1} MB/s  peak RSS {:>6.0} MiB (anon {:>6.0} MiB)",
        p.secs,
        records_done as f64 / p.secs,
        bytes as f64 / 1e6 / p.secs,
        p.peak_mib,
        p.anon_mib
    );
}

fn config(files: &[PathBuf], dir: &Path, threads: usize) -> anyhow::Result<RunConfig> {
    Ok(RunConfig::in_dir(
        files.iter().cloned().map(InputFile::Path).collect(),
        dir,
        Analyzer::new(Taxonomy::default_taxonomy()?, Lexicon::default_lexicon()?),
        threads,
    ))
}

/// Indexes the generated files with tantivy alone; returns documents indexed.
fn floor(files: &[PathBuf], dir: &Path, threads: usize) -> anyhow::Result<u64> {
    let mut b = Schema::builder();
    let text = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(ANALYZER_NAME)
            .set_index_option(IndexRecordOption::WithFreqsAndPositions),
    );
    let id = b.add_text_field("key", STRING | STORED);
    let title = b.add_text_field("title", text.clone());
    let body = b.add_text_field("text", text);
    let stored = b.add_text_field("record", STORED);
    std::fs::create_dir_all(dir)?;
    let index = Index::create_in_dir(dir, b.build())?;
    register_analyzer(&index);
    let mut writer = index.writer_with_num_threads::<TantivyDocument>(
        threads.clamp(1, 8),
        WRITER_MEMORY.max(threads * 20 * 1024 * 1024),
    )?;
    let mut docs = 0u64;
    for file in files {
        let reader = std::io::BufReader::with_capacity(256 * 1024, std::fs::File::open(file)?);
        for line in reader.lines() {
            let line = line?;
            let v: serde_json::Value = serde_json::from_str(&line)?;
            let mut doc = TantivyDocument::default();
            doc.add_text(id, v["id"].as_str().unwrap_or_default());
            doc.add_text(title, v["title"].as_str().unwrap_or_default());
            doc.add_text(body, v["text"].as_str().unwrap_or_default());
            doc.add_text(stored, &line);
            writer.add_document(doc)?;
            docs += 1;
        }
    }
    writer.commit()?;
    writer.wait_merging_threads()?;
    Ok(docs)
}

/// Runs the pipeline and prints where its time went: until the report
/// stage (ingest, analysis, index commits), the pass over the index (summary
/// builder, records.csv, workbook rows) and the rest (summary, files).
fn timed_run(cfg: &RunConfig, sampler: &Sampler) -> anyhow::Result<pipeline::RunOutcome> {
    let start = Instant::now();
    let cpu_start = cpu_secs();
    let mut marks: Vec<(Instant, f64)> = Vec::new();
    // Anonymous and file-backed peaks of each stage.
    let mut stage_peaks: Vec<(u64, u64)> = Vec::new();
    let outcome = pipeline::run(cfg, |p| {
        if matches!(p, Progress::Stage { .. } | Progress::StageDone) {
            marks.push((Instant::now(), cpu_secs()));
            stage_peaks.push(sampler.take_stage());
        }
    })?;
    stage_peaks.push(sampler.take_stage());
    let end = Instant::now();
    let cpu_end = cpu_secs();
    if let [.., (begin, cpu_begin), (done, cpu_done)] = marks[..] {
        eprintln!(
            "  ingest+analysis+index {:.1} s, report pass {:.1} s, summary and files {:.1} s",
            (begin - start).as_secs_f64(),
            (done - begin).as_secs_f64(),
            (end - done).as_secs_f64()
        );
        eprintln!(
            "  CPU time: ingest+analysis+index {:.1} s, report pass {:.1} s, summary and files {:.1} s",
            cpu_begin - cpu_start,
            cpu_done - cpu_begin,
            cpu_end - cpu_done
        );
    }
    if let [.., (anon_a, file_a), (anon_b, file_b), (anon_c, file_c)] = stage_peaks[..] {
        eprintln!(
            "  peak anon / file-backed RSS: ingest+analysis+index {} / {} MiB, report pass {} / {} MiB, summary and files {} / {} MiB",
            anon_a / 1024, file_a / 1024, anon_b / 1024, file_b / 1024, anon_c / 1024, file_c / 1024
        );
    }
    Ok(outcome)
}

fn check(what: &str, counts: &Counts, expect: [u64; 4]) -> anyhow::Result<()> {
    let got = [
        counts.read,
        counts.new,
        counts.updated,
        counts.files_skipped,
    ];
    if got != expect || !counts.adds_up() {
        bail!("{what}: expected read/new/updated/files_skipped {expect:?}, got {counts:?}");
    }
    Ok(())
}

/// The generated exports of a size, in order.
fn exports(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("export-"))
        })
        .collect();
    files.sort();
    Ok(files)
}

/// One phase, in this (fresh) process, so its peak RSS is its own; prints
/// `RESULT seconds peak_kib` for the parent.
fn phase(name: &str, records: u64, dir: &Path, threads: usize) -> anyhow::Result<()> {
    let files = exports(dir)?;
    let changed = (records / 200).max(1);
    // VmHWM counts the index files tantivy maps (page cache) as well as the
    // heap; a sampler keeps the peak of the anonymous part (heap, stacks).
    let sampler = Sampler::start();
    let start = Instant::now();
    let cpu_start = cpu_secs();
    match name {
        "full" => {
            let outcome = timed_run(&config(&files, &dir.join("run"), threads)?, &sampler)?;
            check("full run", &outcome.counts, [records, records, 0, 0])?;
        }
        "nightly" => {
            let mut all = files.clone();
            all.push(dir.join("nightly.jsonl"));
            all.push(dir.join("edits.jsonl"));
            let outcome = timed_run(&config(&all, &dir.join("run"), threads)?, &sampler)?;
            check(
                "nightly run",
                &outcome.counts,
                [2 * changed, changed, changed, files.len() as u64],
            )?;
        }
        "floor" => {
            let docs = floor(&files, &dir.join("floor"), threads)?;
            if docs != records {
                bail!("floor: indexed {docs} documents, expected {records}");
            }
        }
        other => bail!("unknown phase {other}"),
    }
    eprintln!("  CPU time of the phase {:.1} s", cpu_secs() - cpu_start);
    println!(
        "RESULT {} {} {}",
        start.elapsed().as_secs_f64(),
        status_kib("VmHWM:"),
        sampler.anon_peak()
    );
    Ok(())
}

/// Runs a phase in a child process: (seconds, peak RSS in MiB).
fn child(name: &str, records: u64, dir: &Path, threads: usize) -> anyhow::Result<Phase> {
    let output = std::process::Command::new(std::env::current_exe()?)
        .args(["--phase", name, "--records", &records.to_string()])
        .args(["--threads", &threads.to_string()])
        .arg("--dir")
        .arg(dir)
        .stderr(std::process::Stdio::inherit())
        .output()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let result = stdout.lines().find_map(|l| l.strip_prefix("RESULT "));
    match (output.status.success(), result) {
        (true, Some(r)) => {
            let mut parts = r.split_whitespace().map(|v| v.parse::<f64>());
            match (parts.next(), parts.next(), parts.next()) {
                (Some(Ok(secs)), Some(Ok(kib)), Some(Ok(anon))) => Ok(Phase {
                    secs,
                    peak_mib: kib / 1024.0,
                    anon_mib: anon / 1024.0,
                }),
                _ => bail!("phase {name}: unreadable result {r:?}"),
            }
        }
        _ => bail!("phase {name} failed: {:?}\n{stdout}", output.status),
    }
}

fn bench(records: u64, dir: &Path, threads: usize) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| dir.display().to_string())?;
    let mut generator = Generator::new(1);
    let mut bytes = 0u64;
    let start = Instant::now();
    for (i, from) in (0..records).step_by(PER_FILE as usize).enumerate() {
        let path = dir.join(format!("export-{i:03}.jsonl"));
        bytes += generator.write_jsonl(&path, from, (from + PER_FILE).min(records), 0)?;
    }
    // 1% new or changed: a nightly file of new records and one of new
    // versions of existing records.
    let changed = (records / 200).max(1);
    let mut nightly_bytes =
        generator.write_jsonl(&dir.join("nightly.jsonl"), records, records + changed, 0)?;
    {
        use std::io::Write;
        let mut out = std::io::BufWriter::new(std::fs::File::create(dir.join("edits.jsonl"))?);
        let step = records / changed;
        for i in 0..changed {
            let line = generator.record(i * step, 1).to_string();
            writeln!(out, "{line}")?;
            nightly_bytes += line.len() as u64 + 1;
        }
    }
    eprintln!(
        "generated {records} records ({:.0} MB) in {:.1} s",
        bytes as f64 / 1e6,
        start.elapsed().as_secs_f64()
    );
    let full = child("full", records, dir, threads)?;
    print(records, "full run", records, bytes, &full);
    let rerun = child("nightly", records, dir, threads)?;
    print(records, "nightly 1%", 2 * changed, nightly_bytes, &rerun);
    println!(
        "{records:>9} {:<14} {:>8.1} % of the full run",
        "nightly/full",
        100.0 * rerun.secs / full.secs
    );
    let floor_phase = child("floor", records, dir, threads)?;
    print(records, "tantivy floor", records, bytes, &floor_phase);
    println!(
        "{records:>9} {:<14} {:>8.2} x the floor",
        "full/floor",
        full.secs / floor_phase.secs
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let mut sizes = vec![100_000u64, 1_000_000];
    let mut dir: Option<PathBuf> = None;
    let mut keep = false;
    let mut phase_name: Option<String> = None;
    let mut threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--records" => {
                let list = args.next().context("--records needs a list")?;
                sizes = list
                    .split(',')
                    .map(|n| n.replace('_', "").parse())
                    .collect::<Result<_, _>>()
                    .context("--records: numbers separated by commas")?;
            }
            "--threads" => {
                threads = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .context("--threads needs a number")?
            }
            "--dir" => dir = args.next().map(PathBuf::from),
            "--keep" => keep = true,
            "--phase" => phase_name = args.next(),
            other => bail!("unknown argument {other}"),
        }
    }
    if let Some(name) = phase_name {
        let dir = dir.context("--phase needs --dir")?;
        return phase(&name, sizes[0], &dir, threads);
    }
    let root = dir.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("vocscope-run-bench-{}", std::process::id()))
    });
    println!(
        "  records phase             time       speed      input   memory   ({threads} threads)"
    );
    for records in sizes {
        let dir = root.join(records.to_string());
        let result = bench(records, &dir, threads);
        if !keep {
            let _ = std::fs::remove_dir_all(&dir);
        }
        result?;
    }
    if !keep {
        let _ = std::fs::remove_dir_all(&root);
    }
    Ok(())
}
