//! Turns parsed arguments into library calls and prints the results.

use std::borrow::Cow;
use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, Context};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rayon::prelude::*;
use serde_json::{json, Value};

use vocscope::analyze::{parse_tsv, AnalysisInput, Analyzer, Label, Lexicon, Taxonomy};
use vocscope::index::{IndexError, SearchRequest, SortOrder, VocIndex};
use vocscope::ingest::{
    discover, format_rfc3339, parse_date_str, read_input, InputFile, Item, MapHints, MapSpec,
};
use vocscope::output::{render_search, render_summary, search_xlsx, write_search_csv, AtomicFile};
use vocscope::pipeline::{self, Progress, RunConfig, RunError, RunOptions};
use vocscope::summary::SummaryOptions;
use vocscope::text::{use_user_dictionary, Lang, UserDictionary};

use crate::cli::{
    AnalyzeArgs, ReportArgs, RunArgs, SearchArgs, SearchFormat, ServeArgs, SortArg, ThemesArgs,
};

/// A failure, by exit code.
pub enum Failure {
    /// Bad arguments: exit 2.
    Usage(String),
    /// The job could not complete: exit 1.
    Failed(anyhow::Error),
    /// Stopped by Ctrl-C after keeping what was done: exit 130.
    Interrupted,
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Failure {
        Failure::Failed(e)
    }
}

type Result<T> = std::result::Result<T, Failure>;

fn usage(message: impl Into<String>) -> Failure {
    Failure::Usage(message.into())
}

fn load_taxonomy(path: Option<&Path>) -> anyhow::Result<Taxonomy> {
    match path {
        None => Ok(Taxonomy::default_taxonomy()?),
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read taxonomy {}", p.display()))?;
            Ok(Taxonomy::parse(&text, &p.display().to_string())?)
        }
    }
}

fn load_analyzer(taxonomy: Option<&Path>, lexicon: Option<&Path>) -> anyhow::Result<Analyzer> {
    let lexicon = match lexicon {
        None => Lexicon::default_lexicon()?,
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read lexicon {}", p.display()))?;
            Lexicon::with_user_entries(parse_tsv(&text, &p.display().to_string())?)?
        }
    };
    Ok(Analyzer::new(load_taxonomy(taxonomy)?, lexicon))
}

/// Installs the user dictionary before anything is tokenized: `--user-dict`
/// when given (an empty file means none), else the one committed with the
/// index (`index`), if any.
fn install_user_dictionary(flag: Option<&Path>, index: Option<&VocIndex>) -> anyhow::Result<()> {
    let dictionary = match (flag, index.and_then(VocIndex::committed_user_dictionary)) {
        (Some(path), _) => UserDictionary::load(path)?,
        (None, Some(text)) => UserDictionary::parse(
            &text,
            &format!(
                "user dictionary stored in {}",
                index.map_or_else(String::new, |i| i.path().display().to_string())
            ),
        )?,
        (None, None) => return Ok(()),
    };
    Ok(use_user_dictionary(dictionary)?)
}

/// The index at `dir`, when there is one yet.
fn existing_index(dir: &Path) -> anyhow::Result<Option<VocIndex>> {
    match VocIndex::open(dir) {
        Ok(index) => Ok(Some(index)),
        Err(IndexError::Missing(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The taxonomy for commands that read an index: `--taxonomy` when given,
/// else the one the index was tagged with, else the built-in one.
fn taxonomy_of_index(flag: Option<&Path>, index: &VocIndex) -> anyhow::Result<Taxonomy> {
    if flag.is_some() {
        return load_taxonomy(flag);
    }
    match index.committed_taxonomy() {
        Some(text) => Ok(Taxonomy::parse(
            &text,
            &format!("taxonomy stored in {}", index.path().display()),
        )?),
        None => load_taxonomy(None),
    }
}

fn parse_date_arg(flag: &str, value: Option<&str>) -> Result<Option<i64>> {
    match value {
        None => Ok(None),
        Some(v) => parse_date_str(v).map(Some).ok_or_else(|| {
            usage(format!(
                "{flag}: cannot read `{v}` as a date (use YYYY-MM-DD or RFC 3339)"
            ))
        }),
    }
}

fn now() -> String {
    jiff::Timestamp::now()
        .round(jiff::Unit::Second)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

fn threads(requested: Option<usize>) -> Result<usize> {
    match requested {
        Some(0) => Err(usage("--threads must be at least 1")),
        Some(n) => Ok(n),
        None => Ok(std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)),
    }
}

fn load_map(path: Option<&Path>) -> anyhow::Result<Option<MapSpec>> {
    let Some(p) = path else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(p)
        .with_context(|| format!("cannot read mapping file {}", p.display()))?;
    Ok(Some(MapSpec::parse(&text, &p.display().to_string())?))
}

/// Records shown per file by `--dry-run`.
const DRY_RUN_RECORDS: usize = 3;

/// `vocscope run --dry-run`: reads every input and shows how it would be
/// ingested; touches neither the index nor the report directory.
fn dry_run(inputs: &[InputFile], source: Option<&str>, map: Option<&MapSpec>) -> Result<()> {
    let hints = MapHints {
        source,
        map,
        ..MapHints::default()
    };
    let mut out = std::io::stdout().lock();
    let mut total = (0u64, 0u64);
    for file in inputs {
        let mut shown: Vec<Value> = Vec::new();
        let mut rejects: Vec<String> = Vec::new();
        let result = read_input(file, &hints, |item| match item {
            Item::Record {
                record, location, ..
            } => {
                if shown.len() < DRY_RUN_RECORDS {
                    let mut v = serde_json::to_value(&*record).unwrap_or(Value::Null);
                    if let Some(t) = record.created_at {
                        v["created_at"] = json!(format_rfc3339(t));
                    }
                    shown.push(json!({"location": location, "record": v}));
                }
            }
            Item::Rejected(r) => {
                if rejects.len() < DRY_RUN_RECORDS {
                    rejects.push(format!("{}: {}", r.location, r.reason));
                }
            }
        });
        writeln!(out, "{}", file.name()).context("writing to stdout")?;
        let report = match result {
            Ok(report) => report,
            Err(e) => {
                writeln!(out, "  error: {e}\n").context("writing to stdout")?;
                continue;
            }
        };
        total.0 += report.records;
        total.1 += report.rejected;
        let mut layout = report.format.describe();
        if report.gzip {
            layout.push_str(", gzip");
        }
        if report.utf16 {
            layout.push_str(", UTF-16");
        }
        let mappers: Vec<String> = report
            .mappers
            .iter()
            .map(|(m, n)| format!("{} ({n} items)", m.name()))
            .collect();
        let mapping = match (map, report.main_mapper()) {
            (Some(spec), _) => spec.describe(),
            (None, Some(m)) => m.describe().to_string(),
            (None, None) => "-".to_string(),
        };
        writeln!(out, "  layout:  {layout}").context("writing to stdout")?;
        writeln!(
            out,
            "  format:  {}",
            if mappers.is_empty() {
                "-".to_string()
            } else {
                mappers.join(", ")
            }
        )
        .context("writing to stdout")?;
        writeln!(out, "  mapping: {mapping}").context("writing to stdout")?;
        writeln!(
            out,
            "  result:  {} records, {} rejected",
            report.records, report.rejected
        )
        .context("writing to stdout")?;
        if report.unrecognised() {
            writeln!(out, "  error:   {}", report.unrecognised_message())
                .context("writing to stdout")?;
        }
        for r in &rejects {
            writeln!(out, "  reject:  {r}").context("writing to stdout")?;
        }
        if !shown.is_empty() {
            writeln!(out, "  first records:").context("writing to stdout")?;
        }
        for v in &shown {
            writeln!(out, "    {v}").context("writing to stdout")?;
        }
        writeln!(out).context("writing to stdout")?;
    }
    writeln!(
        out,
        "dry run: {} files, {} records, {} rejected; nothing written",
        inputs.len(),
        total.0,
        total.1
    )
    .context("writing to stdout")?;
    Ok(())
}

/// `vocscope run`.
pub fn run(args: RunArgs) -> Result<()> {
    let as_of = parse_date_arg("--as-of", args.as_of.as_deref())?;
    let threads = threads(args.threads)?;
    let map = load_map(args.map.as_deref())?;
    let quiet = args.quiet;
    let inputs = if args.inputs.is_empty() {
        if !quiet {
            eprintln!("no input given: running on the bundled sample (data/sample)");
        }
        vocscope::bundled_sample()
    } else {
        let found = discover(&args.inputs);
        if !quiet && !found.skipped.is_empty() {
            eprintln!(
                "skipped {} files that are not JSON, JSONL or CSV (e.g. {})",
                found.skipped.len(),
                found.skipped[0].display()
            );
        }
        found.files
    };
    if args.dry_run {
        return dry_run(&inputs, args.source.as_deref(), map.as_ref());
    }
    // The index is opened here only to read its dictionary, and closed.
    let index = match args.user_dict {
        Some(_) => None,
        None => existing_index(&args.index)?,
    };
    install_user_dictionary(args.user_dict.as_deref(), index.as_ref())?;
    drop(index);
    let analyzer = load_analyzer(args.taxonomy.as_deref(), args.lexicon.as_deref())?;
    let config = RunConfig {
        inputs,
        index_dir: args.index.clone(),
        out_dir: args.out.clone(),
        analyzer,
        threads,
        source: args.source.clone(),
        map,
        as_of,
        excel_bom: args.excel_bom,
        generated_at: now(),
        options: RunOptions {
            commit_every: match args.commit_every {
                Some(0) => return Err(usage("--commit-every must be at least 1")),
                Some(n) => n,
                None => pipeline::COMMIT_EVERY,
            },
            full: args.full,
            redact: args.redact,
            spill_after: args.spill_after.unwrap_or(pipeline::SPILL_AFTER),
            ..RunOptions::default()
        },
    };
    let cancel = config.options.cancel.clone();
    // First Ctrl-C: finish the batch at hand, commit, report. Second: stop now
    // (the index keeps its last commit, report files are written whole or not at all).
    let handler = ctrlc::set_handler(move || {
        if cancel.swap(true, std::sync::atomic::Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!("\nstopping: committing what is done (Ctrl-C again to stop at once)");
    });
    if let Err(e) = handler {
        eprintln!("warning: Ctrl-C will stop the run without committing ({e})");
    }
    let mut view = ProgressView::new(quiet);
    let outcome = pipeline::run(&config, |p| view.show(p));
    view.clear();
    if let Err(e @ RunError::Interrupted { counts }) = &outcome {
        eprintln!("{e}");
        eprintln!(
            "counts: read {}, indexed {} (new {}, updated {}, unchanged {}), duplicates {}, superseded {}, rejected {}",
            counts.read,
            counts.indexed,
            counts.new,
            counts.updated,
            counts.unchanged,
            counts.duplicates,
            counts.superseded,
            counts.rejected
        );
        return Err(Failure::Interrupted);
    }
    let outcome = outcome
        .with_context(|| format!("run on index {} could not complete", args.index.display()))?;
    for failed in &outcome.failed_files {
        eprintln!("error: {failed} (recorded in rejects.jsonl)");
    }
    for file in outcome.files.iter().filter(|f| f.unrecognised()) {
        eprintln!(
            "error: {} ({} items recorded in rejects.jsonl)",
            file.unrecognised_message(),
            file.rejected
        );
    }
    if !quiet && outcome.counts.near_duplicates > 0 {
        eprintln!(
            "near-duplicates: {} records repeat the text of another record; flagged (duplicate_of) and counted once in themes",
            outcome.counts.near_duplicates
        );
    }
    if quiet {
        return Ok(());
    }
    if outcome.retagged > 0 {
        eprintln!("re-tagged {} indexed records", outcome.retagged);
    }
    if outcome.reowned > 0 {
        eprintln!(
            "near-duplicates: {} records rewritten because the first record of their text changed its text (one now owns the text, the others name it)",
            outcome.reowned
        );
    }
    let mut stdout = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut stdout, &outcome.summary).context("writing to stdout")?;
        writeln!(stdout).context("writing to stdout")?;
    } else {
        write!(stdout, "{}", render_summary(&outcome.summary)).context("writing to stdout")?;
        let files: Vec<String> = outcome
            .written
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        writeln!(stdout, "\nwrote: {}", files.join(", ")).context("writing to stdout")?;
    }
    Ok(())
}

/// Shows the pipeline's progress on stderr: bars when stderr is a terminal,
/// notes only when it is not, nothing at all with `--quiet`.
struct ProgressView {
    quiet: bool,
    terminal: bool,
    bar: Option<ProgressBar>,
}

impl ProgressView {
    fn new(quiet: bool) -> ProgressView {
        ProgressView {
            quiet,
            terminal: !quiet && std::io::stderr().is_terminal(),
            bar: None,
        }
    }

    fn bar(&mut self, len: u64, template: &str) -> &ProgressBar {
        self.bar.get_or_insert_with(|| {
            let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template(template)
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("█▉▊▋▌▍▎▏ ");
            bar.set_style(style);
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        })
    }

    fn show(&mut self, event: Progress<'_>) {
        if self.quiet {
            return;
        }
        match event {
            Progress::Note(text) => match &self.bar {
                Some(bar) => bar.println(text),
                None => eprintln!("{text}"),
            },
            _ if !self.terminal => {}
            Progress::File {
                number,
                files,
                name,
            } => {
                let bar = self.bar(
                    files as u64,
                    "{spinner} reading   [{bar:30}] file {pos}/{len}  {prefix}  {wide_msg}",
                );
                bar.set_position(number.saturating_sub(1) as u64);
                let short = Path::new(name)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| name.to_string());
                bar.set_message(short);
            }
            Progress::Read(items) => {
                if let Some(bar) = &self.bar {
                    bar.set_prefix(format!("{items} items"));
                }
            }
            Progress::Stage { name, total } => {
                self.clear();
                let template = format!(
                    "{{spinner}} {name:<9} [{{bar:30}}] {{pos}}/{{len}} records  {{elapsed}}"
                );
                self.bar(total, &template);
            }
            Progress::Step(done) => {
                if let Some(bar) = &self.bar {
                    bar.set_position(done);
                }
            }
            Progress::StageDone => self.clear(),
        }
    }

    fn clear(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

/// `vocscope analyze`.
pub fn analyze(args: AnalyzeArgs) -> Result<()> {
    install_user_dictionary(args.user_dict.as_deref(), None)?;
    let analyzer = load_analyzer(args.taxonomy.as_deref(), args.lexicon.as_deref())?;
    let (reader, name): (Box<dyn BufRead>, String) = match &args.input {
        Some(p) => (
            Box::new(BufReader::new(
                std::fs::File::open(p).with_context(|| format!("cannot open {}", p.display()))?,
            )),
            p.display().to_string(),
        ),
        None => (Box::new(std::io::stdin().lock()), "stdin".to_string()),
    };
    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
    let mut batch: Vec<(u64, Vec<u8>)> = Vec::with_capacity(1024);
    let mut reader = reader;
    let mut line_no = 0u64;
    let mut errors = 0u64;
    loop {
        let mut buf = Vec::new();
        let n = reader
            .read_until(b'\n', &mut buf)
            .with_context(|| format!("reading {name}"))?;
        if n > 0 {
            line_no += 1;
            if !buf.iter().all(u8::is_ascii_whitespace) {
                batch.push((line_no, buf));
            }
        }
        if batch.len() >= 1024 || (n == 0 && !batch.is_empty()) {
            // Each line is analysed and serialized on the worker threads.
            let outputs: Vec<(Vec<u8>, Option<String>)> = batch
                .par_iter()
                .map(|(line, bytes)| analyze_line(&analyzer, *line, bytes))
                .collect();
            for (json, error) in outputs {
                if let Some(e) = error {
                    errors += 1;
                    eprintln!("{name}: {e}");
                }
                stdout.write_all(&json).context("writing to stdout")?;
                stdout.write_all(b"\n").context("writing to stdout")?;
            }
            batch.clear();
        }
        if n == 0 {
            break;
        }
    }
    stdout.flush().context("writing to stdout")?;
    if errors > 0 {
        eprintln!("{errors} of {line_no} lines could not be analysed");
    }
    Ok(())
}

/// The fields of an `analyze` input line, borrowed from the line where it
/// has no escapes. A line this cannot read (a field of an unexpected type, a
/// repeated field) goes through [`serde_json::Value`], which gives the
/// precise error or reads it as before.
#[derive(serde::Deserialize)]
struct LineIn<'a> {
    #[serde(default)]
    id: Value,
    #[serde(borrow, default)]
    text: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    title: Option<Cow<'a, str>>,
    #[serde(default)]
    rating: Option<Value>,
    #[serde(borrow, default)]
    lang: Option<Cow<'a, str>>,
}

/// A sentiment as `analyze` prints it (keys in alphabetical order, as the
/// output has always had them).
#[derive(serde::Serialize)]
struct SentimentOut {
    label: Label,
    score: f64,
}

impl From<vocscope::analyze::Sentiment> for SentimentOut {
    fn from(s: vocscope::analyze::Sentiment) -> SentimentOut {
        SentimentOut {
            label: s.label,
            score: s.score,
        }
    }
}

#[derive(serde::Serialize)]
struct ThemeOut<'a> {
    cues: &'a [String],
    id: &'a str,
    name: &'a str,
    sentiment: f64,
}

#[derive(serde::Serialize)]
struct SignalOut<'a> {
    cue: &'a str,
    id: &'a str,
}

/// One output line of `analyze`.
#[derive(serde::Serialize)]
struct LineOut<'a> {
    id: &'a Value,
    lang: Lang,
    sentiment: SentimentOut,
    signals: Vec<SignalOut<'a>>,
    text_sentiment: SentimentOut,
    themes: Vec<ThemeOut<'a>>,
}

/// The error line of `analyze`.
#[derive(serde::Serialize)]
struct LineError<'a> {
    error: &'a str,
    line: u64,
}

/// Analyses one input line: the JSON output line, and the error message
/// when the line could not be analysed.
fn analyze_line(analyzer: &Analyzer, line: u64, bytes: &[u8]) -> (Vec<u8>, Option<String>) {
    let fail = |reason: String| {
        let msg = format!("line {line}: {reason}");
        let out = serde_json::to_vec(&LineError { error: &msg, line }).unwrap_or_default();
        (out, Some(msg))
    };
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t.trim(),
        Err(e) => return fail(format!("invalid UTF-8 at byte {}", e.valid_up_to())),
    };
    let fields = match serde_json::from_str::<LineIn>(text) {
        Ok(f) if text.starts_with('{') && f.text.is_some() => f,
        _ => match line_fields(text) {
            Ok(f) => f,
            Err(reason) => return fail(reason),
        },
    };
    let body = fields.text.as_deref().unwrap_or_default();
    let title = fields.title.as_deref().filter(|t| !t.trim().is_empty());
    let full: Cow<str> = match title {
        Some(t) => Cow::Owned(format!("{t}\n{body}")),
        None => Cow::Borrowed(body),
    };
    let rating = match &fields.rating {
        None | Some(Value::Null) => None,
        Some(v) => match v
            .as_f64()
            .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
        {
            Some(r) if (1.0..=5.0).contains(&r) => Some(r),
            _ => return fail(format!("rating must be a number 1 to 5, got {v}")),
        },
    };
    let lang = fields.lang.as_deref().and_then(Lang::from_code);
    let a = analyzer.analyze(AnalysisInput {
        text: &full,
        rating,
        nps: None,
        lang,
    });
    let out = LineOut {
        id: &fields.id,
        lang: a.lang,
        sentiment: a.sentiment.into(),
        signals: a
            .signals
            .iter()
            .map(|s| SignalOut {
                cue: &s.cue,
                id: &s.id,
            })
            .collect(),
        text_sentiment: a.text_sentiment.into(),
        themes: a
            .themes
            .iter()
            .map(|t| ThemeOut {
                cues: &t.cues,
                id: &t.id,
                name: &t.name,
                sentiment: t.sentiment,
            })
            .collect(),
    };
    (serde_json::to_vec(&out).unwrap_or_default(), None)
}

/// The fields of a line that [`LineIn`] could not read directly, through
/// [`serde_json::Value`]: any JSON value is accepted, fields of the wrong
/// type are ignored, except `text`, which must be a string.
fn line_fields(text: &str) -> std::result::Result<LineIn<'static>, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
    let string = |key: &str| {
        value
            .get(key)
            .and_then(Value::as_str)
            .map(|s| Cow::Owned(s.to_string()))
    };
    let Some(body) = string("text") else {
        return Err("no `text` string".into());
    };
    Ok(LineIn {
        id: value.get("id").cloned().unwrap_or(Value::Null),
        text: Some(body),
        title: string("title"),
        rating: value.get("rating").cloned(),
        lang: string("lang"),
    })
}

/// `vocscope search`.
pub fn search(args: SearchArgs) -> Result<()> {
    let sentiment = match args.sentiment.as_deref() {
        None => None,
        Some(s) => Some(
            Label::parse(s)
                .ok_or_else(|| {
                    usage(format!(
                        "--sentiment: `{s}` is not negative, neutral or positive"
                    ))
                })?
                .as_str()
                .to_string(),
        ),
    };
    let lang = match args.lang.as_deref() {
        None => None,
        Some(l) => Some(
            Lang::from_code(l)
                .ok_or_else(|| usage(format!("--lang: `{l}` is not a language code")))?
                .as_str()
                .to_string(),
        ),
    };
    for (flag, value) in [
        ("--min-rating", args.min_rating),
        ("--max-rating", args.max_rating),
    ] {
        if value.is_some_and(|v| !v.is_finite()) {
            return Err(usage(format!("{flag} must be a number")));
        }
    }
    let mut request = SearchRequest {
        query: args.query.clone(),
        theme: args.theme.clone(),
        sentiment,
        since: parse_date_arg("--since", args.since.as_deref())?,
        until: parse_date_arg("--until", args.until.as_deref())?,
        source: args.source.clone(),
        lang,
        min_rating: args.min_rating,
        max_rating: args.max_rating,
        channel: args.channel.clone(),
        tags: args.tags.clone(),
        limit: args.limit.max(1),
        offset: 0,
        sort: match args.sort {
            SortArg::Relevance => SortOrder::Relevance,
            SortArg::Date => SortOrder::Newest,
        },
    };
    let index = VocIndex::open(&args.index).map_err(|e| Failure::Failed(anyhow!(e)))?;
    install_user_dictionary(None, Some(&index))?;
    if let Some(theme) = &args.theme {
        let taxonomy = taxonomy_of_index(None, &index)?;
        // An old id (renamed or merged: `replaces`) finds its theme now.
        match taxonomy.resolve(theme) {
            Some(def) => request.theme = Some(def.id.clone()),
            None => {
                return Err(usage(format!(
                    "--theme: unknown theme `{theme}` (see `vocscope themes`)"
                )))
            }
        }
    }
    let results = index.search(&request).map_err(|e| match e {
        vocscope::index::SearchError::Query { .. } => usage(e.to_string()),
        other => Failure::Failed(anyhow!(other)),
    })?;
    let format = if args.json {
        SearchFormat::Json
    } else {
        args.format
    };
    let stdout = std::io::stdout();
    if format == SearchFormat::Xlsx && args.output.is_none() && stdout.is_terminal() {
        return Err(usage(
            "--format xlsx writes a binary file: give --output FILE or redirect stdout",
        ));
    }
    let mut bytes: Vec<u8> = Vec::new();
    match format {
        SearchFormat::Table => {
            let bold = args.output.is_none() && stdout.is_terminal();
            bytes = render_search(&results, bold).into_bytes();
        }
        SearchFormat::Json => {
            let taxonomy = taxonomy_of_index(None, &index)?;
            let doc = vocscope::serve::results_json(&results, &taxonomy);
            serde_json::to_writer_pretty(&mut bytes, &doc).context("encoding JSON")?;
            bytes.push(b'\n');
        }
        SearchFormat::Csv => {
            if args.excel_bom {
                bytes.extend_from_slice(b"\xEF\xBB\xBF");
            }
            write_search_csv(&results.hits, &mut bytes).context("encoding CSV")?
        }
        SearchFormat::Xlsx => {
            bytes = search_xlsx(&results, &search_described(&args)).map_err(|e| anyhow!(e))?
        }
    }
    match &args.output {
        Some(path) => {
            let mut file = AtomicFile::create(path).map_err(|e| anyhow!(e))?;
            if let Err(e) = file.writer().write_all(&bytes) {
                file.discard();
                return Err(anyhow!(e)
                    .context(format!("writing {}", path.display()))
                    .into());
            }
            file.commit().map_err(|e| anyhow!(e))?;
        }
        None => stdout
            .lock()
            .write_all(&bytes)
            .context("writing to stdout")?,
    }
    Ok(())
}

/// The query and filters of a search as given, for the Query sheet.
fn search_described(args: &SearchArgs) -> Vec<(&'static str, String)> {
    let rating = |r: Option<f64>| r.map(|r| r.to_string()).unwrap_or_default();
    vec![
        ("query", args.query.clone()),
        ("theme", args.theme.clone().unwrap_or_default()),
        ("sentiment", args.sentiment.clone().unwrap_or_default()),
        ("since", args.since.clone().unwrap_or_default()),
        ("until", args.until.clone().unwrap_or_default()),
        ("source", args.source.clone().unwrap_or_default()),
        ("language", args.lang.clone().unwrap_or_default()),
        ("channel", args.channel.clone().unwrap_or_default()),
        ("tags", args.tags.join(", ")),
        ("min rating", rating(args.min_rating)),
        ("max rating", rating(args.max_rating)),
        ("limit", args.limit.to_string()),
    ]
}

/// `vocscope report`.
pub fn report(args: ReportArgs) -> Result<()> {
    let since = parse_date_arg("--since", args.since.as_deref())?;
    let until = parse_date_arg("--until", args.until.as_deref())?;
    let as_of = parse_date_arg("--as-of", args.as_of.as_deref())?;
    let index = VocIndex::open(&args.index).map_err(|e| Failure::Failed(anyhow!(e)))?;
    install_user_dictionary(None, Some(&index))?;
    let analyzer = Analyzer::new(
        taxonomy_of_index(args.taxonomy.as_deref(), &index)?,
        Lexicon::default_lexicon().map_err(|e| Failure::Failed(e.into()))?,
    );
    let options = SummaryOptions {
        since,
        until,
        as_of,
        generated_at: now(),
        ..Default::default()
    };
    let mut view = ProgressView::new(args.quiet);
    let result = pipeline::report(
        &index,
        &args.out,
        &analyzer,
        options,
        args.excel_bom,
        args.redact,
        |p| view.show(p),
    );
    view.clear();
    let (summary, written) = result.with_context(|| {
        format!(
            "report from index {} could not complete",
            args.index.display()
        )
    })?;
    if !args.quiet {
        let mut out = std::io::stdout().lock();
        write!(out, "{}", render_summary(&summary)).context("writing to stdout")?;
        let files: Vec<String> = written
            .iter()
            .map(|p: &PathBuf| p.display().to_string())
            .collect();
        writeln!(out, "\nwrote: {}", files.join(", ")).context("writing to stdout")?;
    }
    Ok(())
}

/// `vocscope themes`.
pub fn themes(args: ThemesArgs) -> Result<()> {
    let taxonomy = load_taxonomy(args.taxonomy.as_deref())?;
    let mut out = std::io::stdout().lock();
    if args.json {
        let list: Vec<Value> = taxonomy
            .themes
            .iter()
            .map(|t| {
                json!({"id": t.id, "name": t.name, "name_zh": t.name_zh, "parent": t.parent(),
                       "description": t.description, "en": t.en, "zh": t.zh})
            })
            .collect();
        serde_json::to_writer_pretty(&mut out, &json!({"themes": list}))
            .context("writing to stdout")?;
        writeln!(out).context("writing to stdout")?;
        return Ok(());
    }
    let leaves = taxonomy
        .themes
        .iter()
        .filter(|t| t.parent().is_some())
        .count();
    writeln!(
        out,
        "{} themes ({} groups, {} leaves), {} signals",
        taxonomy.themes.len(),
        taxonomy.themes.len() - leaves,
        leaves,
        taxonomy.signals.len()
    )
    .context("writing to stdout")?;
    for t in &taxonomy.themes {
        let depth = t.id.matches('.').count();
        let zh = t
            .name_zh
            .as_deref()
            .map(|z| format!(" / {z}"))
            .unwrap_or_default();
        writeln!(
            out,
            "{}{:<32} {}{}  ({} en, {} zh cues)",
            "  ".repeat(depth),
            t.id,
            t.name,
            zh,
            t.en.len(),
            t.zh.len()
        )
        .context("writing to stdout")?;
    }
    for s in &taxonomy.signals {
        writeln!(
            out,
            "signal {:<25} {}  ({} en, {} zh cues)",
            s.id,
            s.name,
            s.en.len(),
            s.zh.len()
        )
        .context("writing to stdout")?;
    }
    Ok(())
}

/// `vocscope serve`.
pub fn serve(args: ServeArgs) -> Result<()> {
    let addr: std::net::SocketAddr = args.addr.parse().map_err(|_| {
        usage(format!(
            "--addr: `{}` is not an address such as 127.0.0.1:7878",
            args.addr
        ))
    })?;
    let index = VocIndex::open(&args.index).map_err(|e| Failure::Failed(anyhow!(e)))?;
    install_user_dictionary(None, Some(&index))?;
    // The taxonomy the index was tagged with, as `search` and `report` use.
    let taxonomy = taxonomy_of_index(args.taxonomy.as_deref(), &index)?;
    let records = index.num_records();
    let config = vocscope::serve::ServeConfig {
        index,
        taxonomy,
        addr,
    };
    vocscope::serve::serve(config, |bound| {
        // The first line on stdout is the URL (tests and scripts read it).
        println!("serving http://{bound}/");
        eprintln!(
            "{records} records from {}; press Ctrl-C to stop",
            args.index.display()
        );
        let _ = std::io::stdout().flush();
    })
    .context("serve")?;
    Ok(())
}
