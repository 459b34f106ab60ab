//! Evaluation on the labelled sets in tests/eval/.
//!
//! `cargo run --release --bin eval [FILE...]`: sentiment, accuracy and
//! macro-F1 per set. Each file holds `label<TAB>text` lines with label
//! positive, negative or neutral. Binary sets (positive/negative only) are
//! scored on two classes, so a neutral prediction counts as a miss; sets with
//! neutral items are scored on three classes.
//!
//! `--zh-model FILE` / `--en-model FILE` score with another model file
//! (gzip, as written by `train_sentiment`) instead of the embedded one, so a
//! candidate can be evaluated without a rebuild (the other language's model
//! is then read from data/model/).
//!
//! `cargo run --release --bin eval -- --themes [--json] [--errors] [FILE...]`:
//! theme assignment, per-theme precision, recall and F1, and micro-F1 over
//! all (record, theme) pairs. Each file holds JSON lines
//! `{"id", "lang", "text", "themes": [leaf ids]}` (see tests/eval/README.md).
//! `--errors` lists every missed and every extra theme with its text;
//! `--json` prints one JSON object per file instead of the tables.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;
use vocscope::analyze::{f1_score, AnalysisInput, Analyzer, Label, Lexicon, LinearModel, Taxonomy};
use vocscope::text::Lang;

fn main() -> ExitCode {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut take_flag = |flag: &str| {
        let before = args.len();
        args.retain(|a| a != flag);
        args.len() != before
    };
    let themes_mode = take_flag("--themes");
    let json_out = take_flag("--json");
    let errors = take_flag("--errors");
    let mut take_value = |flag: &str| {
        let i = args.iter().position(|a| a == flag)?;
        let value = args.get(i + 1).cloned();
        args.drain(i..(i + 2).min(args.len()));
        value
    };
    let en_model = take_value("--en-model");
    let zh_model = take_value("--zh-model");
    let mut files: Vec<PathBuf> = args.iter().map(PathBuf::from).collect();
    if themes_mode {
        if files.is_empty() {
            files = ["tests/eval/themes.jsonl", "tests/eval/themes_heldout.jsonl"]
                .iter()
                .map(|f| root.join(f))
                .filter(|f| f.exists())
                .collect();
        }
        return eval_themes(&files, json_out, errors);
    }
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
    let mut lexicon = match Lexicon::default_lexicon() {
        Ok(l) => l,
        Err(e) => return fail(&e.to_string()),
    };
    if en_model.is_some() || zh_model.is_some() {
        let load = |path: Option<String>, default: &str| {
            let p = path.unwrap_or_else(|| root.join(default).display().to_string());
            std::fs::read(&p)
                .map_err(|e| format!("{p}: {e}"))
                .and_then(|b| LinearModel::parse_gz(&b, &p).map_err(|e| e.to_string()))
                .map(|m| Some(Arc::new(m)))
        };
        match (
            load(en_model, "data/model/en.tsv.gz"),
            load(zh_model, "data/model/zh.tsv.gz"),
        ) {
            (Ok(en), Ok(zh)) => lexicon.set_models(en, zh),
            (Err(e), _) | (_, Err(e)) => return fail(&e),
        }
    }
    let analyzer = match Taxonomy::default_taxonomy() {
        Ok(t) => Analyzer::new(t, lexicon),
        Err(e) => return fail(&e.to_string()),
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
            f1_score(tp, fp, fneg)
        })
        .collect();
    (
        correct as f64 / gold.len().max(1) as f64,
        f1s.iter().sum::<f64>() / f1s.len().max(1) as f64,
    )
}

/// One line of a labelled theme set.
#[derive(Debug, Deserialize)]
struct ThemeItem {
    id: String,
    #[serde(default)]
    lang: Option<String>,
    text: String,
    themes: Vec<String>,
}

/// True positives, false positives and false negatives of one theme.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Confusion {
    tp: usize,
    fp: usize,
    fneg: usize,
}

impl Confusion {
    fn precision(&self) -> f64 {
        ratio(self.tp, self.tp + self.fp)
    }

    fn recall(&self) -> f64 {
        ratio(self.tp, self.tp + self.fneg)
    }

    fn f1(&self) -> f64 {
        f1_score(self.tp, self.fp, self.fneg)
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// Per-theme confusion counts and their micro total over (gold, predicted) sets.
fn theme_confusion(
    pairs: &[(BTreeSet<String>, BTreeSet<String>)],
) -> (BTreeMap<String, Confusion>, Confusion) {
    let mut per: BTreeMap<String, Confusion> = BTreeMap::new();
    let mut micro = Confusion::default();
    for (gold, predicted) in pairs {
        for t in gold.union(predicted) {
            let c = per.entry(t.clone()).or_default();
            match (gold.contains(t), predicted.contains(t)) {
                (true, true) => {
                    c.tp += 1;
                    micro.tp += 1;
                }
                (false, true) => {
                    c.fp += 1;
                    micro.fp += 1;
                }
                _ => {
                    c.fneg += 1;
                    micro.fneg += 1;
                }
            }
        }
    }
    (per, micro)
}

fn eval_themes(files: &[PathBuf], json_out: bool, errors: bool) -> ExitCode {
    let analyzer = match (Taxonomy::default_taxonomy(), Lexicon::default_lexicon()) {
        (Ok(t), Ok(l)) => Analyzer::new(t, l),
        (Err(e), _) => return fail(&e.to_string()),
        (_, Err(e)) => return fail(&e.to_string()),
    };
    let known: BTreeSet<&str> = analyzer
        .taxonomy()
        .themes
        .iter()
        .map(|t| t.id.as_str())
        .collect();
    for file in files {
        let text = match std::fs::read_to_string(file) {
            Ok(t) => t,
            Err(e) => return fail(&format!("{}: {e}", file.display())),
        };
        let mut items = Vec::new();
        for (n, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<ThemeItem>(line) {
                Ok(item) => {
                    if let Some(bad) = item.themes.iter().find(|t| !known.contains(t.as_str())) {
                        return fail(&format!(
                            "{} line {}: unknown theme `{bad}`",
                            file.display(),
                            n + 1
                        ));
                    }
                    items.push(item);
                }
                Err(e) => return fail(&format!("{} line {}: {e}", file.display(), n + 1)),
            }
        }
        let pairs: Vec<(BTreeSet<String>, BTreeSet<String>)> = items
            .iter()
            .map(|item| {
                let analysis = analyzer.analyze(AnalysisInput {
                    text: &item.text,
                    lang: item.lang.as_deref().and_then(Lang::from_code),
                    ..Default::default()
                });
                (
                    item.themes.iter().cloned().collect(),
                    analysis.themes.into_iter().map(|t| t.id).collect(),
                )
            })
            .collect();
        let (per, micro) = theme_confusion(&pairs);
        let macro_f1 = per.values().map(Confusion::f1).sum::<f64>() / per.len().max(1) as f64;
        let exact = pairs.iter().filter(|(g, p)| g == p).count();
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        if json_out {
            let themes: serde_json::Map<String, serde_json::Value> = per
                .iter()
                .map(|(id, c)| {
                    (
                        id.clone(),
                        json!({"tp": c.tp, "fp": c.fp, "fn": c.fneg, "precision": c.precision(),
                               "recall": c.recall(), "f1": c.f1()}),
                    )
                })
                .collect();
            println!(
                "{}",
                json!({"file": name, "records": items.len(), "exact": exact,
                       "micro": {"precision": micro.precision(), "recall": micro.recall(), "f1": micro.f1()},
                       "macro_f1": macro_f1, "themes": themes})
            );
            continue;
        }
        println!("## {name}: {} records\n", items.len());
        println!("| theme | gold | found | precision | recall | F1 |");
        println!("|---|---:|---:|---:|---:|---:|");
        for (id, c) in &per {
            println!(
                "| {id} | {} | {} | {:.2} | {:.2} | {:.2} |",
                c.tp + c.fneg,
                c.tp + c.fp,
                c.precision(),
                c.recall(),
                c.f1()
            );
        }
        println!(
            "\nmicro: precision {:.3}, recall {:.3}, F1 {:.3} | macro-F1 {:.3} | exact theme set {exact} of {}\n",
            micro.precision(),
            micro.recall(),
            micro.f1(),
            macro_f1,
            items.len()
        );
        if errors {
            for (item, (gold, predicted)) in items.iter().zip(&pairs) {
                let missed: Vec<&String> = gold.difference(predicted).collect();
                let extra: Vec<&String> = predicted.difference(gold).collect();
                if !missed.is_empty() || !extra.is_empty() {
                    println!(
                        "{}: missed {missed:?} extra {extra:?}\n    {}",
                        item.id, item.text
                    );
                }
            }
            println!();
        }
    }
    ExitCode::SUCCESS
}

fn fail(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(ids: &[&str]) -> BTreeSet<String> {
        ids.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn theme_scores_match_hand_computation() {
        // Record 1: gold {a, b}, found {a}: a tp, b fn.
        // Record 2: gold {a}, found {a, c}: a tp, c fp.
        // Record 3: gold {}, found {b}: b fp.
        let pairs = vec![
            (set(&["a", "b"]), set(&["a"])),
            (set(&["a"]), set(&["a", "c"])),
            (set(&[]), set(&["b"])),
        ];
        let (per, micro) = theme_confusion(&pairs);
        assert_eq!(
            per["a"],
            Confusion {
                tp: 2,
                fp: 0,
                fneg: 0
            }
        );
        assert_eq!(
            per["b"],
            Confusion {
                tp: 0,
                fp: 1,
                fneg: 1
            }
        );
        assert_eq!(
            per["c"],
            Confusion {
                tp: 0,
                fp: 1,
                fneg: 0
            }
        );
        assert_eq!(
            micro,
            Confusion {
                tp: 2,
                fp: 2,
                fneg: 1
            }
        );
        // precision 2/4, recall 2/3, F1 = 2 * 0.5 * 0.667 / 1.167 = 4/7.
        assert!((micro.f1() - 4.0 / 7.0).abs() < 1e-12);
        assert_eq!(per["b"].f1(), 0.0);
    }
}
