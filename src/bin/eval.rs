//! Sentiment evaluation on the labelled sets in tests/eval/: accuracy and
//! macro-F1 per language. `cargo run --release --bin eval [FILE...]`.
//!
//! Each file holds `label<TAB>text` lines with label positive, negative or
//! neutral. Binary sets (positive/negative only) are scored on two classes,
//! so a neutral prediction counts as a miss; sets with neutral items are
//! scored on three classes.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use vocscope::analyze::{AnalysisInput, Analyzer, Label, Lexicon, Taxonomy};

fn main() -> ExitCode {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<PathBuf> = std::env::args().skip(1).map(PathBuf::from).collect();
    if files.is_empty() {
        files = [
            "tests/eval/en.tsv",
            "tests/eval/zh.tsv",
            "tests/eval/en_neutral.tsv",
        ]
        .iter()
        .map(|f| root.join(f))
        .collect();
    }
    let analyzer = match (Taxonomy::default_taxonomy(), Lexicon::default_lexicon()) {
        (Ok(t), Ok(l)) => Analyzer::new(t, l),
        (Err(e), _) => return fail(&e.to_string()),
        (_, Err(e)) => return fail(&e.to_string()),
    };
    println!("| set | items | accuracy | macro-F1 | items/s (1 thread) |");
    println!("|---|---:|---:|---:|---:|");
    for file in &files {
        let text = match std::fs::read_to_string(file) {
            Ok(t) => t,
            Err(e) => return fail(&format!("{}: {e}", file.display())),
        };
        let items: Vec<(Label, &str)> = text
            .lines()
            .filter_map(|l| l.split_once('\t'))
            .filter_map(|(label, text)| Label::parse(label).map(|l| (l, text)))
            .collect();
        let start = Instant::now();
        let predicted: Vec<Label> = items
            .iter()
            .map(|(_, text)| {
                analyzer
                    .analyze(AnalysisInput {
                        text,
                        ..Default::default()
                    })
                    .sentiment
                    .label
            })
            .collect();
        let secs = start.elapsed().as_secs_f64();
        let gold: Vec<Label> = items.iter().map(|(l, _)| *l).collect();
        let classes: Vec<Label> = if gold.contains(&Label::Neutral) {
            vec![Label::Negative, Label::Neutral, Label::Positive]
        } else {
            vec![Label::Negative, Label::Positive]
        };
        let (accuracy, f1) = scores(&gold, &predicted, &classes);
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        println!(
            "| {name} | {} | {:.3} | {:.3} | {:.0} |",
            items.len(),
            accuracy,
            f1,
            items.len() as f64 / secs.max(1e-9)
        );
    }
    ExitCode::SUCCESS
}

/// Accuracy and macro-F1 over `classes`.
fn scores(gold: &[Label], predicted: &[Label], classes: &[Label]) -> (f64, f64) {
    let correct = gold.iter().zip(predicted).filter(|(g, p)| g == p).count();
    let mut counts: BTreeMap<Label, (usize, usize, usize)> = BTreeMap::new();
    for (g, p) in gold.iter().zip(predicted) {
        if g == p {
            counts.entry(*g).or_default().0 += 1;
        } else {
            counts.entry(*p).or_default().1 += 1;
            counts.entry(*g).or_default().2 += 1;
        }
    }
    let f1s: Vec<f64> = classes
        .iter()
        .map(|c| {
            let (tp, fp, fneg) = counts.get(c).copied().unwrap_or_default();
            let precision = tp as f64 / (tp + fp).max(1) as f64;
            let recall = tp as f64 / (tp + fneg).max(1) as f64;
            if precision + recall == 0.0 {
                0.0
            } else {
                2.0 * precision * recall / (precision + recall)
            }
        })
        .collect();
    (
        correct as f64 / gold.len().max(1) as f64,
        f1s.iter().sum::<f64>() / f1s.len().max(1) as f64,
    )
}

fn fail(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(1)
}
