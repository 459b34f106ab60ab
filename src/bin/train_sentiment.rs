//! Trains one language's sentiment model (logistic regression over the
//! features of `vocscope::analyze::sentence_features` plus the normalized
//! lexicon score) and writes it as a gzip-compressed `name<TAB>weight` file.
//!
//! ```text
//! train_sentiment TRAIN.tsv OUT.tsv.gz [--neutral NEUTRAL.tsv] [--features N] [--dead-zone D]
//!                 [--epochs N] [--lr RATE] [--l2 PENALTY] [--nb] [--learn-domain]
//!                 [--min-score S]
//! train_sentiment TRAIN.tsv --folds K [--errors FILE] [same settings]
//! ```
//!
//! TRAIN.tsv holds `label<TAB>text` lines (positive or negative), as written
//! by scripts/prepare_training.py. The last tenth is held out as a dev set:
//! the program trains on the rest, prints dev accuracy and macro-F1 of the
//! full and the pruned model (and, with `--neutral`, 3-class macro-F1 per dead
//! zone), then retrains on everything and writes the pruned model: the
//! `--features` features of largest weight (default 30,000) that occur in at
//! least 2 texts. Deterministic: same input, same file.
//!
//! `--learn-domain` also learns the weight of the support-domain valence
//! (phrases, emoji) and writes it as the model's `domain` parameter; without
//! it the domain valence is left out of training and the model file has no
//! `domain` line, so scoring uses `vocscope::analyze::DOMAIN_WEIGHT`.
//! `--min-score S` writes the model's `min_score`: the smallest magnitude of
//! a score outside the dead zone (0.05, the neutral band, makes every text
//! with evidence positive or negative).
//!
//! With `--folds K` it writes no model but cross-validates: text `i` is in
//! fold `i mod K`; per fold it trains on the other folds, prunes, and scores
//! the fold with the whole analyzer (lexicon rules, domain phrases, dead zone
//! and neutral band, as `vocscope analyze`), printing accuracy and macro-F1
//! per fold and their mean. `--errors FILE` writes the misclassified texts
//! (`gold<TAB>score<TAB>text`).

use std::collections::HashMap;
use std::io::Write;
use std::process::ExitCode;

use vocscope::analyze::{
    f1_score, feature_hash, feature_name, normalize, sentence_features, AnalysisInput, Analyzer,
    Label, Lexicon, LinearModel, Taxonomy,
};
use vocscope::text::{sentence_words, split_sentences, tokenize};

const MIN_DOCS: u32 = 2;

/// Training settings (command-line flags).
#[derive(Clone, Copy)]
struct Settings {
    epochs: usize,
    learning_rate: f64,
    l2: f64,
    /// Scale features by their naive Bayes log-count ratio.
    nb: bool,
    /// Learn the weight of the domain valence.
    learn_domain: bool,
}

/// Weights after the features: bias, lexicon, domain.
const PARAMS: usize = 3;

/// One text as features: (feature index, count) pairs and the lexicon score.
struct Doc {
    features: Vec<(u32, f32)>,
    lexicon: f64,
    /// Raw support-domain valence (0 unless `--learn-domain`).
    domain: f64,
    positive: bool,
}

struct Vocabulary {
    index: HashMap<u64, u32>,
    names: Vec<String>,
    docs: Vec<u32>,
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

fn arg_value(args: &[String], flag: &str) -> Option<String> {
    args.iter()
        .position(|a| a == flag)
        .and_then(|i| args.get(i + 1).cloned())
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let positional: Vec<&String> = args
        .iter()
        .enumerate()
        .filter(|(i, a)| !a.starts_with("--") && (*i == 0 || !args[i - 1].starts_with("--")))
        .map(|(_, a)| a)
        .collect();
    let folds: Option<usize> = arg_value(&args, "--folds")
        .map(|v| {
            v.parse()
                .ok()
                .filter(|&k: &usize| k >= 2)
                .ok_or(format!("--folds: `{v}`"))
        })
        .transpose()?;
    let (train, out) = match (&positional[..], folds) {
        ([train], Some(_)) => (*train, None),
        ([train, out], None) => (*train, Some(*out)),
        _ => {
            return Err("usage: train_sentiment TRAIN.tsv (OUT.tsv.gz | --folds K) \
                 [--neutral FILE] [--features N] [--dead-zone D]"
                .into())
        }
    };
    let max_features: usize = arg_value(&args, "--features")
        .map(|v| v.parse().map_err(|_| format!("--features: `{v}`")))
        .transpose()?
        .unwrap_or(30_000);
    let min_score: f64 = arg_value(&args, "--min-score")
        .map(|v| v.parse().map_err(|_| format!("--min-score: `{v}`")))
        .transpose()?
        .unwrap_or(0.0);
    let dead_zone: f64 = arg_value(&args, "--dead-zone")
        .map(|v| v.parse().map_err(|_| format!("--dead-zone: `{v}`")))
        .transpose()?
        .unwrap_or(0.0);
    let flag = |name: &str, default: f64| -> Result<f64, String> {
        arg_value(&args, name)
            .map(|v| v.parse().map_err(|_| format!("{name}: `{v}`")))
            .transpose()
            .map(|v| v.unwrap_or(default))
    };
    let settings = Settings {
        epochs: flag("--epochs", 10.0)? as usize,
        learning_rate: flag("--lr", 0.1)?,
        l2: flag("--l2", 1e-4)?,
        nb: args.iter().any(|a| a == "--nb"),
        learn_domain: args.iter().any(|a| a == "--learn-domain"),
    };
    let lexicon = Lexicon::rules_only().map_err(|e| e.to_string())?;

    let items = read_items(train)?;
    let mut vocab = Vocabulary {
        index: HashMap::new(),
        names: Vec::new(),
        docs: Vec::new(),
    };
    let docs: Vec<Doc> = items
        .iter()
        .map(|(label, text)| {
            featurize(
                &lexicon,
                text,
                *label == Label::Positive,
                settings,
                &mut vocab,
            )
        })
        .collect();
    let neutral: Vec<Doc> = match arg_value(&args, "--neutral") {
        Some(f) => read_items(&f)?
            .iter()
            .map(|(_, text)| featurize(&lexicon, text, false, settings, &mut vocab))
            .collect(),
        None => Vec::new(),
    };
    let keep: Vec<bool> = vocab.docs.iter().map(|&n| n >= MIN_DOCS).collect();
    println!(
        "{train}: {} texts, {} features ({} in at least {MIN_DOCS} texts)",
        docs.len(),
        vocab.names.len(),
        keep.iter().filter(|&&k| k).count()
    );

    if let Some(k) = folds {
        let errors = arg_value(&args, "--errors");
        return cross_validate(
            &items,
            &docs,
            &keep,
            &vocab,
            k,
            max_features,
            dead_zone,
            min_score,
            settings,
            errors,
        );
    }
    let Some(out) = out else {
        return Err("no output file".into());
    };
    let split = docs.len() * 9 / 10;
    let (fit, dev) = docs.split_at(split);
    let weights = train_lr(fit, &keep, vocab.names.len(), settings);
    report("dev, all features", dev, &weights, &[], dead_zone);
    let pruned = prune(&weights, max_features);
    report(
        &format!("dev, {max_features} features"),
        dev,
        &pruned,
        &neutral,
        dead_zone,
    );

    let weights = prune(
        &train_lr(&docs, &keep, vocab.names.len(), settings),
        max_features,
    );
    write_model(out, &weights, &vocab, dead_zone, min_score, docs.len())
}

/// K-fold cross-validation of the whole analyzer (see the module doc).
#[allow(clippy::too_many_arguments)]
fn cross_validate(
    items: &[(Label, String)],
    docs: &[Doc],
    keep: &[bool],
    vocab: &Vocabulary,
    k: usize,
    max_features: usize,
    dead_zone: f64,
    min_score: f64,
    settings: Settings,
    errors: Option<String>,
) -> Result<(), String> {
    let taxonomy = Taxonomy::default_taxonomy().map_err(|e| e.to_string())?;
    let mut misses = String::new();
    let (mut sum_acc, mut sum_f1, mut sum_bare) = (0.0, 0.0, 0.0);
    for fold in 0..k {
        let fit: Vec<&Doc> = docs
            .iter()
            .enumerate()
            .filter(|(i, _)| i % k != fold)
            .map(|(_, d)| d)
            .collect();
        let weights = prune(
            &train_lr(&fit, keep, vocab.names.len(), settings),
            max_features,
        );
        let text = model_text(&weights, vocab, dead_zone, min_score, fit.len());
        let model = std::sync::Arc::new(
            LinearModel::parse(&text, "cross-validation").map_err(|e| e.to_string())?,
        );
        let mut lexicon = Lexicon::rules_only().map_err(|e| e.to_string())?;
        lexicon.set_models(Some(model.clone()), Some(model));
        let analyzer = Analyzer::new(taxonomy.clone(), lexicon);
        let all = vec![true; weights.len()];
        let bare: Vec<i8> = docs
            .iter()
            .skip(fold)
            .step_by(k)
            .map(|d| sign(logit(d, &weights, &all)))
            .collect();
        let mut gold = Vec::new();
        let mut predicted = Vec::new();
        for (label, text) in items.iter().skip(fold).step_by(k) {
            let s = analyzer
                .analyze(AnalysisInput {
                    text,
                    ..Default::default()
                })
                .sentiment;
            if s.label != *label {
                misses.push_str(&format!("{}\t{}\t{text}\n", label.as_str(), s.score));
            }
            gold.push(*label == Label::Positive);
            predicted.push(match s.label {
                Label::Positive => 1,
                Label::Negative => -1,
                Label::Neutral => 0,
            });
        }
        let (acc, f1) = binary_scores(&gold, &predicted);
        let (bare_acc, bare_f1) = binary_scores(&gold, &bare);
        println!(
            "fold {}/{k}: {} texts, accuracy {acc:.3}, macro-F1 {f1:.3}, neutral {} \
             (model and word lexicon alone: accuracy {bare_acc:.3}, macro-F1 {bare_f1:.3})",
            fold + 1,
            gold.len(),
            predicted.iter().filter(|&&p| p == 0).count()
        );
        sum_acc += acc;
        sum_f1 += f1;
        sum_bare += bare_f1;
    }
    println!(
        "cross-validation, {k} folds, whole analyzer: accuracy {:.4}, macro-F1 {:.4} \
         (model and word lexicon alone: macro-F1 {:.4})",
        sum_acc / k as f64,
        sum_f1 / k as f64,
        sum_bare / k as f64
    );
    if let Some(path) = errors {
        std::fs::write(&path, misses).map_err(|e| format!("{path}: {e}"))?;
    }
    Ok(())
}

fn read_items(path: &str) -> Result<Vec<(Label, String)>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            let (label, body) = l
                .split_once('\t')
                .ok_or_else(|| format!("{path}: line {}: expected label<TAB>text", i + 1))?;
            let label = Label::parse(label)
                .ok_or_else(|| format!("{path}: line {}: unknown label `{label}`", i + 1))?;
            Ok((label, body.to_string()))
        })
        .collect()
}

fn featurize(
    lexicon: &Lexicon,
    text: &str,
    positive: bool,
    settings: Settings,
    vocab: &mut Vocabulary,
) -> Doc {
    let words = tokenize(text);
    let mut counts: HashMap<u32, f32> = HashMap::new();
    let mut valence = 0.0;
    let mut domain = 0.0;
    let mut silenced = Vec::new();
    let mut first = 0;
    for span in split_sentences(text) {
        let sentence_words = sentence_words(&words, span, &mut first);
        let (general, support) =
            lexicon.sentence_valences(text, span, sentence_words, &mut silenced);
        valence += general;
        // Without --learn-domain, domain phrases are added at scoring time.
        if settings.learn_domain {
            domain += support;
        }
        sentence_features(
            &text[span.start..span.end],
            span.start,
            sentence_words,
            &silenced,
            &mut |kind, a, b| {
                let h = feature_hash(kind, a, b);
                let id = *vocab.index.entry(h).or_insert_with(|| {
                    vocab.names.push(feature_name(kind, a, b));
                    vocab.docs.push(0);
                    (vocab.names.len() - 1) as u32
                });
                *counts.entry(id).or_insert(0.0) += 1.0;
            },
        );
    }
    for &id in counts.keys() {
        vocab.docs[id as usize] += 1;
    }
    let mut features: Vec<(u32, f32)> = counts.into_iter().collect();
    features.sort_by_key(|&(id, _)| id);
    Doc {
        features,
        lexicon: normalize(valence),
        domain,
        positive,
    }
}

/// Weights: one per feature, then bias, lexicon and domain.
/// Naive Bayes log-count ratio of each feature (Wang and Manning 2012,
/// "NBSVM"): features are scaled by it while training, and the written
/// weight is the product, so scoring is unchanged.
fn nb_ratios<D: std::borrow::Borrow<Doc>>(docs: &[D], n: usize) -> Vec<f64> {
    let mut pos = vec![1.0f64; n];
    let mut neg = vec![1.0f64; n];
    for doc in docs {
        let doc = doc.borrow();
        let side = if doc.positive { &mut pos } else { &mut neg };
        for &(id, c) in &doc.features {
            side[id as usize] += f64::from(c);
        }
    }
    let (sp, sn): (f64, f64) = (pos.iter().sum(), neg.iter().sum());
    pos.iter()
        .zip(&neg)
        .map(|(p, q)| ((p / sp) / (q / sn)).ln())
        .collect()
}

fn train_lr<D: std::borrow::Borrow<Doc>>(
    docs: &[D],
    keep: &[bool],
    n: usize,
    settings: Settings,
) -> Vec<f64> {
    let r = if settings.nb {
        nb_ratios(docs, n)
    } else {
        vec![1.0; n]
    };
    let mut w = vec![0.0f64; n + PARAMS];
    let mut g2 = vec![1e-8f64; n + PARAMS];
    // A fixed shuffle per epoch (xorshift), so training is deterministic.
    let mut order: Vec<usize> = (0..docs.len()).collect();
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    for _ in 0..settings.epochs {
        for i in (1..order.len()).rev() {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            order.swap(i, (seed % (i as u64 + 1)) as usize);
        }
        for &d in &order {
            let doc: &Doc = docs[d].borrow();
            let z = logit_scaled(doc, &w, keep, &r);
            let p = 1.0 / (1.0 + (-z).exp());
            let y = if doc.positive { 1.0 } else { 0.0 };
            let g = p - y;
            let mut step = |j: usize, x: f64, w: &mut [f64]| {
                let grad = g * x + settings.l2 * w[j];
                g2[j] += grad * grad;
                w[j] -= settings.learning_rate * grad / g2[j].sqrt();
            };
            for &(id, c) in &doc.features {
                if keep[id as usize] {
                    step(id as usize, f64::from(c) * r[id as usize], &mut w);
                }
            }
            step(n, 1.0, &mut w);
            step(n + 1, doc.lexicon, &mut w);
            step(n + 2, doc.domain, &mut w);
        }
    }
    for (wj, rj) in w.iter_mut().zip(&r) {
        *wj *= rj;
    }
    w
}

fn logit_scaled(doc: &Doc, w: &[f64], keep: &[bool], r: &[f64]) -> f64 {
    let n = w.len() - PARAMS;
    let mut z = w[n] + w[n + 1] * doc.lexicon + w[n + 2] * doc.domain;
    for &(id, c) in &doc.features {
        if keep[id as usize] {
            z += w[id as usize] * f64::from(c) * r[id as usize];
        }
    }
    z
}

fn logit(doc: &Doc, w: &[f64], keep: &[bool]) -> f64 {
    let n = w.len() - PARAMS;
    let mut z = w[n] + w[n + 1] * doc.lexicon + w[n + 2] * doc.domain;
    for &(id, c) in &doc.features {
        if keep[id as usize] {
            z += w[id as usize] * f64::from(c);
        }
    }
    z
}

/// Keeps the `max` feature weights of largest magnitude; zeroes the rest.
fn prune(w: &[f64], max: usize) -> Vec<f64> {
    let n = w.len() - PARAMS;
    let mut order: Vec<usize> = (0..n).filter(|&j| w[j] != 0.0).collect();
    order.sort_by(|&a, &b| w[b].abs().total_cmp(&w[a].abs()).then(a.cmp(&b)));
    let mut out = vec![0.0; w.len()];
    for &j in order.iter().take(max) {
        out[j] = w[j];
    }
    out[n..].copy_from_slice(&w[n..]);
    out
}

/// The model's score; the dead zone applies to texts without a lexicon entry.
fn squash(z: f64, lexicon: f64, dead_zone: f64) -> f64 {
    let p = (z / 2.0).tanh();
    if lexicon == 0.0 && p.abs() <= dead_zone {
        0.0
    } else {
        p
    }
}

fn report(what: &str, dev: &[Doc], w: &[f64], neutral: &[Doc], dead_zone: f64) {
    let all = vec![true; w.len()];
    let scores: Vec<f64> = dev
        .iter()
        .map(|d| squash(logit(d, w, &all), d.lexicon, dead_zone))
        .collect();
    let gold: Vec<bool> = dev.iter().map(|d| d.positive).collect();
    let predicted: Vec<i8> = scores.iter().map(|&s| sign(s)).collect();
    let (accuracy, macro_f1) = binary_scores(&gold, &predicted);
    println!(
        "{what}: {} texts, accuracy {accuracy:.3}, macro-F1 {macro_f1:.3}",
        dev.len()
    );
    if neutral.is_empty() {
        return;
    }
    for dz in [0.0, 0.2, 0.4, 0.5, 0.6, 0.7, 0.8] {
        let pred = |d: &Doc| sign(squash(logit(d, w, &all), d.lexicon, dz));
        let mut tp = [0usize; 3];
        let mut fp = [0usize; 3];
        let mut fneg = [0usize; 3];
        let gold_pred = dev
            .iter()
            .map(|d| (if d.positive { 2 } else { 0 }, pred(d)))
            .chain(neutral.iter().map(|d| (1, pred(d))));
        for (g, p) in gold_pred {
            let p = (p + 1) as usize;
            if g == p {
                tp[g] += 1;
            } else {
                fp[p] += 1;
                fneg[g] += 1;
            }
        }
        let macro_f1 = (0..3).map(|c| f1_score(tp[c], fp[c], fneg[c])).sum::<f64>() / 3.0;
        println!(
            "  3-class with {} neutral texts, dead zone {dz:.1}: macro-F1 {macro_f1:.3}",
            neutral.len()
        );
    }
}

/// Accuracy and positive/negative macro-F1 of predictions (1, -1, or 0 for
/// neutral, which counts as a miss).
fn binary_scores(gold: &[bool], predicted: &[i8]) -> (f64, f64) {
    let count = |pos: bool, pred: i8| {
        gold.iter()
            .zip(predicted)
            .filter(|(g, p)| **g == pos && **p == pred)
            .count()
    };
    let (pp, pn, np, nn) = (
        count(true, 1),
        count(true, -1),
        count(false, 1),
        count(false, -1),
    );
    let positives = gold.iter().filter(|g| **g).count();
    let pos_f1 = f1_score(pp, np, positives - pp);
    let neg_f1 = f1_score(nn, pn, gold.len() - positives - nn);
    (
        (pp + nn) as f64 / gold.len().max(1) as f64,
        (pos_f1 + neg_f1) / 2.0,
    )
}

fn sign(s: f64) -> i8 {
    if s > 0.0 {
        1
    } else if s < 0.0 {
        -1
    } else {
        0
    }
}

/// The model file's text.
fn model_text(
    w: &[f64],
    vocab: &Vocabulary,
    dead_zone: f64,
    min_score: f64,
    texts: usize,
) -> String {
    let n = w.len() - PARAMS;
    let mut order: Vec<usize> = (0..n).filter(|&j| w[j] != 0.0).collect();
    order.sort_by(|&a, &b| vocab.names[a].cmp(&vocab.names[b]));
    let mut text = format!(
        "# vocscope sentiment model: logistic regression, {} features, trained on {texts} texts\n\
         # by src/bin/train_sentiment.rs (see data/SOURCES.md)\n\
         bias\t{:.5}\nlexicon\t{:.5}\ndead_zone\t{dead_zone}\n",
        order.len(),
        w[n],
        w[n + 1]
    );
    if min_score > 0.0 {
        text.push_str(&format!("min_score\t{min_score}\n"));
    }
    // Stays exactly 0 unless learned (--learn-domain).
    if w[n + 2] != 0.0 {
        text.push_str(&format!("domain\t{:.5}\n", w[n + 2]));
    }
    for j in order {
        text.push_str(&format!("{}\t{:.4}\n", vocab.names[j], w[j]));
    }
    text
}

fn write_model(
    out: &str,
    w: &[f64],
    vocab: &Vocabulary,
    dead_zone: f64,
    min_score: f64,
    texts: usize,
) -> Result<(), String> {
    let text = model_text(w, vocab, dead_zone, min_score, texts);
    let file = std::fs::File::create(out).map_err(|e| format!("{out}: {e}"))?;
    let mut gz = flate2::GzBuilder::new()
        .mtime(0)
        .write(file, flate2::Compression::best());
    gz.write_all(text.as_bytes())
        .and_then(|_| gz.finish().map(|_| ()))
        .map_err(|e| format!("{out}: {e}"))?;
    println!("wrote {out}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_scores_count_neutral_as_a_miss() {
        // Gold: 2 positive, 2 negative. Predicted: one positive right, one
        // neutral; both negatives right.
        let (accuracy, macro_f1) = binary_scores(&[true, true, false, false], &[1, 0, -1, -1]);
        assert!((accuracy - 0.75).abs() < 1e-12);
        // Positive: P 1, R 0.5, F1 2/3. Negative: P 1, R 1, F1 1.
        assert!((macro_f1 - (2.0 / 3.0 + 1.0) / 2.0).abs() < 1e-12);
        let (accuracy, _) = binary_scores(&[true, false], &[-1, 1]);
        assert_eq!(accuracy, 0.0);
    }
}
