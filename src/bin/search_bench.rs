//! Search benchmark: builds an index of generated records (default 1,000,000)
//! and times typical searches, printing p50 and p99 latency.
//!
//! `cargo run --release --bin search_bench -- [RECORDS] [--dir DIR] [--keep]`
//!
//! Records are the bundled sample's, analysed once, then repeated with
//! variations: a new id, a date spread over two years, a sentence borrowed
//! from another record of the same language, a channel and tags. With
//! `--dir DIR --keep`, a later run on the same DIR reuses the index (to
//! re-measure when the machine is quiet) instead of building it again.
//!
//! Each timed request is what one `/api/search` of the web page costs: the
//! reader reload, `VocIndex::search_cached` with the page's limit (top 50,
//! facets over all hits, snippets of the shown hits) and the JSON body. Each
//! checks that it found something, so a fast wrong answer fails. Besides wall
//! time it reports the thread's CPU time per request: on a machine shared with
//! other work, that is what a request costs when it has a core to itself.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use vocscope::analyze::{Analyzer, Lexicon, Taxonomy};
use vocscope::index::{CommitInfo, FacetCache, SearchRequest, StoredRecord, VocIndex};
use vocscope::pipeline::{self, RunConfig};
use vocscope::serve::results_json;
use vocscope::synth::{Rng, CHANNELS, TAGS};

/// Makes one request of a kind.
type MakeRequest<'a> = Box<dyn Fn(&mut Rng) -> SearchRequest + 'a>;

/// Queries of each kind.
const QUERIES: usize = 300;
/// Hits per request, as the web page asks.
const PAGE_LIMIT: usize = 50;
const DAY: i64 = 86_400;

fn first_sentence(text: &str) -> &str {
    let end = text
        .char_indices()
        .find(|(_, c)| matches!(c, '.' | '!' | '?' | '。' | '！' | '？'))
        .map(|(i, c)| i + c.len_utf8())
        .unwrap_or(text.len());
    &text[..end]
}

/// CPU time of the calling thread: what a request costs when it has a core
/// to itself, unlike wall time on a machine shared with other work.
#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
fn thread_cpu() -> Option<Duration> {
    #[repr(C)]
    struct Timespec {
        tv_sec: i64,
        tv_nsec: i64,
    }
    extern "C" {
        fn clock_gettime(clock: i32, tp: *mut Timespec) -> i32;
    }
    const CLOCK_THREAD_CPUTIME_ID: i32 = 3;
    let mut t = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid, writable timespec of the platform's layout
    // (64-bit Linux: two i64), and the clock id is Linux's.
    let rc = unsafe { clock_gettime(CLOCK_THREAD_CPUTIME_ID, &mut t) };
    (rc == 0).then(|| Duration::new(t.tv_sec as u64, t.tv_nsec as u32))
}

/// CPU time of the calling thread (not available here).
#[cfg(not(all(target_os = "linux", target_pointer_width = "64")))]
fn thread_cpu() -> Option<Duration> {
    None
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() -> anyhow::Result<()> {
    let mut records: usize = 1_000_000;
    let mut dir: Option<PathBuf> = None;
    let mut keep = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--dir" => dir = args.next().map(PathBuf::from),
            "--keep" => keep = true,
            n => {
                records = n
                    .replace('_', "")
                    .parse()
                    .context("RECORDS must be a number")?
            }
        }
    }
    let dir = dir.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("vocscope-bench-{}", std::process::id()))
    });
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);

    let index_dir = dir.join("index");
    let reuse = index_dir.join("meta.json").exists()
        && VocIndex::open(&index_dir).is_ok_and(|i| i.num_records() > 0);
    let taxonomy = Taxonomy::default_taxonomy()?;
    let index = if reuse {
        let index = VocIndex::open(&index_dir)?;
        println!(
            "reusing {} records in {}",
            index.num_records(),
            index_dir.display()
        );
        index
    } else {
        build(records, &dir, threads)?
    };
    measure(&index, &taxonomy)?;
    if !keep {
        let _ = std::fs::remove_dir_all(&dir);
    } else {
        println!("\nkept {}", dir.display());
    }
    Ok(())
}

/// Generates `records` records from the analysed sample and indexes them in `dir/index`.
fn build(records: usize, dir: &std::path::Path, threads: usize) -> anyhow::Result<VocIndex> {
    // 1. The sample, analysed once by the real pipeline.
    let analyzer = Analyzer::new(Taxonomy::default_taxonomy()?, Lexicon::default_lexicon()?);
    let sample_dir = dir.join("sample");
    pipeline::run(
        &RunConfig::in_dir(vocscope::bundled_sample(), &sample_dir, analyzer, threads),
        |_| {},
    )?;
    let mut pool: Vec<StoredRecord> = Vec::new();
    VocIndex::open(&sample_dir.join("index"))?.for_each_record(|r| pool.push(r))?;
    if pool.is_empty() {
        bail!("the sample gave no records");
    }
    let by_lang = |lang: &str| -> Vec<usize> {
        (0..pool.len())
            .filter(|&i| pool[i].analysis.lang.as_str() == lang)
            .collect()
    };
    let (en, zh) = (by_lang("en"), by_lang("zh"));

    // 2. Generate and index.
    let index_dir = dir.join("index");
    let index = VocIndex::open_or_create(&index_dir)?;
    let start = Instant::now();
    {
        let mut writer = index.writer(threads)?;
        let mut rng = Rng::new(7);
        let (channels, tag_pool) = (CHANNELS, TAGS);
        let base_time = 1_735_689_600; // 2025-01-01
        for i in 0..records {
            let base = &pool[rng.below(pool.len())];
            let mut record = base.record.clone();
            record.id = format!("b{i}");
            record.source = ["zendesk", "appstore", "googleplay", "generic"][i % 4].to_string();
            record.created_at =
                Some(base_time + rng.below(730) as i64 * DAY + rng.below(86_400) as i64);
            let same = if base.analysis.lang.as_str() == "zh" {
                &zh
            } else {
                &en
            };
            if !same.is_empty() {
                let other = &pool[same[rng.below(same.len())]].record.text;
                let sep = if base.analysis.lang.as_str() == "zh" {
                    ""
                } else {
                    " "
                };
                record.text = format!("{}{sep}{}", record.text, first_sentence(other));
            }
            record.channel = Some(channels[rng.below(channels.len())].to_string());
            record.tags = (0..rng.below(3))
                .map(|_| tag_pool[rng.below(tag_pool.len())].to_string())
                .collect();
            writer.upsert(&record, &base.analysis, i as u64)?;
            if (i + 1) % 250_000 == 0 {
                writer.commit(&CommitInfo::default())?;
                eprintln!("indexed {} records in {:.0?}", i + 1, start.elapsed());
            }
        }
        writer.commit(&CommitInfo::default())?;
        writer.finish()?;
    }
    let build = start.elapsed();
    index.reload()?;
    println!(
        "indexed {} records in {:.1} s ({:.0} records/s, {} threads)",
        index.num_records(),
        build.as_secs_f64(),
        records as f64 / build.as_secs_f64(),
        threads
    );
    Ok(index)
}

/// Times each kind of request and prints p50, p99 and max.
fn measure(index: &VocIndex, taxonomy: &Taxonomy) -> anyhow::Result<()> {
    let terms = [
        "refund", "delivery", "crash", "login", "password", "charged", "package", "agent",
    ];
    let chinese = ["退款", "物流", "客服", "质量", "快递", "闪退"];
    let phrases = [
        "\"charged twice\"",
        "\"customer service\"",
        "\"my order\"",
        "\"物流太慢\"",
        "\"没有收到\"",
        "\"the app\"",
    ];
    let themes = [
        "delivery",
        "app_site",
        "support",
        "pay_bill",
        "return_refund",
        "product",
    ];
    let mut rng = Rng::new(11);
    let kinds: Vec<(&str, MakeRequest)> = vec![
        (
            "term",
            Box::new(|r: &mut Rng| SearchRequest {
                query: terms[r.below(terms.len())].into(),
                limit: PAGE_LIMIT,
                ..Default::default()
            }),
        ),
        (
            "Chinese word",
            Box::new(|r: &mut Rng| SearchRequest {
                query: chinese[r.below(chinese.len())].into(),
                limit: PAGE_LIMIT,
                ..Default::default()
            }),
        ),
        (
            "phrase",
            Box::new(|r: &mut Rng| SearchRequest {
                query: phrases[r.below(phrases.len())].into(),
                limit: PAGE_LIMIT,
                ..Default::default()
            }),
        ),
        (
            "term + theme + 90-day range",
            Box::new(|r: &mut Rng| {
                let since = 1_735_689_600 + r.below(600) as i64 * DAY;
                SearchRequest {
                    query: terms[r.below(terms.len())].into(),
                    theme: Some(themes[r.below(themes.len())].into()),
                    since: Some(since),
                    until: Some(since + 90 * DAY),
                    limit: PAGE_LIMIT,
                    ..Default::default()
                }
            }),
        ),
    ];
    // One cache for the whole run, as `serve` keeps one; the first search
    // fills it (reported apart: once per segment after each commit).
    let cache = FacetCache::new();
    let first = Instant::now();
    index.search_cached(&kinds[0].1(&mut rng), &cache)?;
    println!(
        "first search (fills the facet cache): {:.0} ms",
        first.elapsed().as_secs_f64() * 1000.0
    );
    println!(
        "\n{:<30} {:>8} {:>10} {:>10} {:>10} {:>10} {:>10}",
        "query", "runs", "p50 ms", "p99 ms", "max ms", "cpu p50", "cpu p99"
    );
    for (name, make) in &kinds {
        for _ in 0..20 {
            index.search_cached(&make(&mut rng), &cache)?;
        }
        let mut times = Vec::with_capacity(QUERIES);
        let mut cpu = Vec::with_capacity(QUERIES);
        let mut found = 0usize;
        for _ in 0..QUERIES {
            let request = make(&mut rng);
            let cpu_start = thread_cpu();
            let t = Instant::now();
            index.reload()?;
            let results = index.search_cached(&request, &cache)?;
            let body = results_json(&results, taxonomy).to_string();
            times.push(t.elapsed());
            if let (Some(a), Some(b)) = (cpu_start, thread_cpu()) {
                cpu.push(b.saturating_sub(a));
            }
            if body.len() < 20 {
                bail!("{name}: empty response body");
            }
            found += results.total;
            if results.total > 0 && results.hits.is_empty() {
                bail!("{name}: {} matches but no hits", results.total);
            }
        }
        if found == 0 {
            bail!("{name}: no query found anything");
        }
        times.sort();
        cpu.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "{:<30} {:>8} {:>10.2} {:>10.2} {:>10.2} {:>10.2} {:>10.2}   (mean {} hits)",
            name,
            QUERIES,
            ms(percentile(&times, 0.5)),
            ms(percentile(&times, 0.99)),
            ms(times[times.len() - 1]),
            ms(percentile(&cpu, 0.5)),
            ms(percentile(&cpu, 0.99)),
            found / QUERIES
        );
    }
    Ok(())
}
