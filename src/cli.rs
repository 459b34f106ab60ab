//! Command-line arguments: raw values only, no I/O (see `commands` for validation).

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// Turn support tickets and reviews into a ranked voice-of-customer summary.
#[derive(Debug, Parser)]
#[command(name = "vocscope", version, about, long_about = None)]
pub struct Args {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Ingest exports, tag themes and sentiment, index, and write the summary.
    Run(RunArgs),
    /// Analyse JSONL texts (stdin or --input) and print JSONL; no index involved.
    Analyze(AnalyzeArgs),
    /// Search indexed records.
    Search(SearchArgs),
    /// Rebuild the summary files from the index, optionally for a period.
    Report(ReportArgs),
    /// List the theme taxonomy.
    Themes(ThemesArgs),
    /// Serve a local web page to search records and browse themes.
    Serve(ServeArgs),
}

/// `vocscope run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Export files or directories (recursed). None: the bundled sample.
    pub inputs: Vec<PathBuf>,
    /// Index directory.
    #[arg(long, default_value = "vocscope-data/index")]
    pub index: PathBuf,
    /// Report directory.
    #[arg(long, default_value = "vocscope-data/report")]
    pub out: PathBuf,
    /// Taxonomy TOML file (default: the built-in one).
    #[arg(long)]
    pub taxonomy: Option<PathBuf>,
    /// Your own sentiment entries on top of the built-in lexicons: a TSV of
    /// `word or phrase<TAB>valence` (-4..4), English or Chinese (see README).
    #[arg(long, value_name = "FILE")]
    pub lexicon: Option<PathBuf>,
    /// Chinese words to keep whole (product and brand names): one per line,
    /// jieba's `word [frequency] [tag]`. The index keeps it for later runs,
    /// searches and reports; an empty file removes it (see README).
    #[arg(long, value_name = "FILE")]
    pub user_dict: Option<PathBuf>,
    /// Source name for these inputs (default: detected per record).
    #[arg(long)]
    pub source: Option<String>,
    /// TOML field mapping for a layout vocscope does not recognise (applies to every input).
    #[arg(long, value_name = "FILE")]
    pub map: Option<PathBuf>,
    /// Show per file the detected format, the mapping and the first records; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Anchor of the trend windows (default: the newest record).
    #[arg(long, value_name = "DATE")]
    pub as_of: Option<String>,
    /// Start CSV files with a UTF-8 BOM, for Excel.
    #[arg(long)]
    pub excel_bom: bool,
    /// Mask e-mails, phone, card, id and order numbers in the report files
    /// and the printed summary (the index keeps the original text).
    #[arg(long)]
    pub redact: bool,
    /// Print the summary as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Print nothing but errors.
    #[arg(long, short)]
    pub quiet: bool,
    /// Read every input file, even those unchanged since the last run.
    #[arg(long)]
    pub full: bool,
    /// Records written between two index commits (tests use small values).
    #[arg(long, value_name = "N", hide = true)]
    pub commit_every: Option<u64>,
    /// Entries each per-record lookup table keeps in memory before it
    /// spills to disk (tests use small values).
    #[arg(long, value_name = "N", hide = true)]
    pub spill_after: Option<usize>,
}

/// `vocscope analyze`.
#[derive(Debug, clap::Args)]
pub struct AnalyzeArgs {
    /// JSONL input file (default: stdin).
    #[arg(long)]
    pub input: Option<PathBuf>,
    /// Taxonomy TOML file (default: the built-in one).
    #[arg(long)]
    pub taxonomy: Option<PathBuf>,
    /// Your own sentiment entries on top of the built-in lexicons: a TSV of
    /// `word or phrase<TAB>valence` (-4..4), English or Chinese (see README).
    #[arg(long, value_name = "FILE")]
    pub lexicon: Option<PathBuf>,
    /// Chinese words to keep whole (product and brand names): one per line,
    /// jieba's `word [frequency] [tag]`.
    #[arg(long, value_name = "FILE")]
    pub user_dict: Option<PathBuf>,
}

/// Output format of search.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SearchFormat {
    /// Readable list.
    Table,
    /// JSON array.
    Json,
    /// CSV with a header.
    Csv,
    /// Excel workbook (Results and Query sheets); needs --output or a redirected stdout.
    Xlsx,
}

/// Result order of search.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SortArg {
    /// Best match first.
    Relevance,
    /// Newest first.
    Date,
}

/// `vocscope search`.
#[derive(Debug, clap::Args)]
pub struct SearchArgs {
    /// Query (tantivy syntax: words, "phrases", AND/OR/-, title:word). Empty: everything.
    #[arg(default_value = "")]
    pub query: String,
    /// Index directory.
    #[arg(long, default_value = "vocscope-data/index")]
    pub index: PathBuf,
    /// Only this theme (and its children).
    #[arg(long)]
    pub theme: Option<String>,
    /// Only this sentiment: negative, neutral or positive.
    #[arg(long)]
    pub sentiment: Option<String>,
    /// Only records created on or after this date.
    #[arg(long, value_name = "DATE")]
    pub since: Option<String>,
    /// Only records created before this date.
    #[arg(long, value_name = "DATE")]
    pub until: Option<String>,
    /// Only this source.
    #[arg(long)]
    pub source: Option<String>,
    /// Only this language: en, zh or other.
    #[arg(long)]
    pub lang: Option<String>,
    /// Only records rated at least this (records without a rating are left out).
    #[arg(long, value_name = "STARS")]
    pub min_rating: Option<f64>,
    /// Only records rated at most this (records without a rating are left out).
    #[arg(long, value_name = "STARS")]
    pub max_rating: Option<f64>,
    /// Only this channel (email, web, chat, ios, ...; case-insensitive).
    #[arg(long)]
    pub channel: Option<String>,
    /// Only records with this tag (repeat for several: all must match; case-insensitive).
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Most results.
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    /// Result order.
    #[arg(long, value_enum, default_value_t = SortArg::Relevance)]
    pub sort: SortArg,
    /// Output format.
    #[arg(long, value_enum, default_value_t = SearchFormat::Table)]
    pub format: SearchFormat,
    /// Shorthand for --format json.
    #[arg(long)]
    pub json: bool,
    /// Write the results to this file instead of stdout (replaced atomically).
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Start CSV output with a UTF-8 BOM, for Excel.
    #[arg(long)]
    pub excel_bom: bool,
}

/// `vocscope report`.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// Index directory.
    #[arg(long, default_value = "vocscope-data/index")]
    pub index: PathBuf,
    /// Report directory.
    #[arg(long, default_value = "vocscope-data/report")]
    pub out: PathBuf,
    /// Only records created on or after this date.
    #[arg(long, value_name = "DATE")]
    pub since: Option<String>,
    /// Only records created before this date.
    #[arg(long, value_name = "DATE")]
    pub until: Option<String>,
    /// Anchor of the trend windows (default: the newest record in the period).
    #[arg(long, value_name = "DATE")]
    pub as_of: Option<String>,
    /// Taxonomy TOML file (default: the built-in one).
    #[arg(long)]
    pub taxonomy: Option<PathBuf>,
    /// Start CSV files with a UTF-8 BOM, for Excel.
    #[arg(long)]
    pub excel_bom: bool,
    /// Mask e-mails, phone, card, id and order numbers in the report files
    /// and the printed summary (the index keeps the original text).
    #[arg(long)]
    pub redact: bool,
    /// Print nothing but errors.
    #[arg(long, short)]
    pub quiet: bool,
}

/// `vocscope themes`.
#[derive(Debug, clap::Args)]
pub struct ThemesArgs {
    /// Taxonomy TOML file (default: the built-in one).
    #[arg(long)]
    pub taxonomy: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `vocscope serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Index directory.
    #[arg(long, default_value = "vocscope-data/index")]
    pub index: PathBuf,
    /// Address to listen on (port 0: any free port; the URL is printed).
    #[arg(long, default_value = "127.0.0.1:7878")]
    pub addr: String,
    /// Taxonomy TOML file (default: the one the index was tagged with).
    #[arg(long)]
    pub taxonomy: Option<PathBuf>,
}
