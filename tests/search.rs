//! Integration tests of `vocscope search`: query syntax, both languages,
//! filters, facets, sort and CSV, on the bundled sample indexed once by the
//! real binary; plus reading while a writer is busy, and an old index layout.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use assert_cmd::Command;
use serde_json::Value;

/// The bundled sample, indexed once for all tests of this binary.
fn index() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir").keep();
        Command::cargo_bin("vocscope")
            .expect("binary")
            .args(["run", "--quiet", "--index"])
            .arg(dir.join("index"))
            .arg("--out")
            .arg(dir.join("report"))
            .assert()
            .success();
        dir.join("index")
    })
}

fn search_cmd(args: &[&str]) -> Command {
    let mut cmd = Command::cargo_bin("vocscope").expect("binary");
    cmd.arg("search").args(args).arg("--index").arg(index());
    cmd
}

/// Runs a search with `--format json` (and `--limit 500` unless given) and parses the output.
fn search(args: &[&str]) -> Value {
    let mut cmd = search_cmd(args);
    cmd.args(["--format", "json"]);
    if !args.contains(&"--limit") {
        cmd.args(["--limit", "500"]);
    }
    let out = cmd.assert().success().get_output().stdout.clone();
    serde_json::from_slice(&out).expect("search JSON")
}

fn total(v: &Value) -> u64 {
    v["total"].as_u64().expect("total")
}

fn hits(v: &Value) -> &Vec<Value> {
    v["hits"].as_array().expect("hits")
}

/// Title and text of a hit, lowercase (the snippet may cut the text).
fn hit_text(hit: &Value) -> String {
    let key = hit["key"].as_str().expect("key");
    texts().get(key).cloned().expect("hit in the CSV dump")
}

/// `source:id` → lowercase title and text of every record, from one CSV dump.
fn texts() -> &'static HashMap<String, String> {
    static TEXTS: OnceLock<HashMap<String, String>> = OnceLock::new();
    TEXTS.get_or_init(|| {
        let out = search_cmd(&["--format", "csv", "--limit", "100000"])
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        let mut reader = csv::Reader::from_reader(&out[..]);
        let headers = reader.headers().expect("header").clone();
        let col = |name: &str| headers.iter().position(|h| h == name).expect(name);
        let (id, source, title, text) = (col("id"), col("source"), col("title"), col("text"));
        reader
            .records()
            .map(|row| {
                let row = row.expect("row");
                (
                    format!("{}:{}", &row[source], &row[id]),
                    format!("{} {}", &row[title], &row[text]).to_lowercase(),
                )
            })
            .collect()
    })
}

#[test]
fn phrase_query_matches_the_words_in_order() {
    let v = search(&["\"charged twice\""]);
    assert!(total(&v) >= 1, "{v}");
    for hit in hits(&v) {
        assert!(hit_text(hit).contains("charged twice"), "{hit}");
    }
    // The same words in any order match at least as much.
    assert!(total(&search(&["charged twice"])) >= total(&v));
}

#[test]
fn boolean_query_excludes_the_negated_word() {
    let refund = total(&search(&["refund"]));
    let v = search(&["refund AND -delivery"]);
    assert!(total(&v) > 0 && total(&v) < refund, "{refund} vs {v}");
    for hit in hits(&v) {
        let text = hit_text(hit);
        assert!(text.contains("refund"), "{text}");
        assert!(!text.contains("delivery"), "{text}");
    }
    let either = total(&search(&["refund OR 退款"]));
    assert!(either > refund && either > total(&search(&["退款"])));
}

#[test]
fn field_query_searches_only_titles() {
    let v = search(&["title:refund"]);
    assert!(total(&v) > 0);
    assert!(total(&v) < total(&search(&["refund"])));
    for hit in hits(&v) {
        let title = hit["title"].as_str().unwrap_or_default().to_lowercase();
        assert!(title.contains("refund"), "{hit}");
    }
}

#[test]
fn english_words_match_on_stems() {
    let a = total(&search(&["refund"]));
    let b = total(&search(&["refunds"]));
    let c = total(&search(&["refunded"]));
    assert!(a > 0);
    assert_eq!(a, b);
    assert_eq!(a, c);
}

#[test]
fn chinese_words_and_phrases_match() {
    let v = search(&["退款"]);
    assert!(total(&v) >= 5, "{v}");
    for hit in hits(&v) {
        assert!(hit_text(hit).contains("退款"), "{hit}");
        let highlighted: Vec<String> = hit["highlights"]
            .as_array()
            .expect("highlights")
            .iter()
            .filter_map(|r| {
                let s = r[0].as_u64()? as usize;
                let e = r[1].as_u64()? as usize;
                hit["snippet"].as_str()?.get(s..e).map(str::to_string)
            })
            .collect();
        assert!(highlighted.iter().all(|h| h == "退款"), "{highlighted:?}");
    }
    let phrase = search(&["\"物流太慢\""]);
    assert!(total(&phrase) >= 1, "{phrase}");
    for hit in hits(&phrase) {
        let text: String = hit_text(hit).split_whitespace().collect();
        assert!(text.contains("物流太慢"), "{text}");
    }
    // Chinese with an English filter finds nothing; with zh, everything.
    assert_eq!(total(&search(&["退款", "--lang", "en"])), 0);
    assert_eq!(total(&search(&["退款", "--lang", "zh"])), total(&v));
}

#[test]
fn every_filter_narrows_and_holds() {
    let all = search(&[]);
    let n = total(&all);
    assert_eq!(n, 465);
    let check = |args: &[&str], ok: &dyn Fn(&Value) -> bool| {
        let v = search(args);
        let t = total(&v);
        assert!(t > 0 && t < n, "{args:?}: {t} of {n}");
        for hit in hits(&v) {
            assert!(ok(hit), "{args:?}: {hit}");
        }
        t
    };
    check(&["--sentiment", "negative"], &|h| {
        h["sentiment"]["label"] == "negative"
    });
    check(&["--lang", "zh"], &|h| h["lang"] == "zh");
    check(&["--source", "zendesk"], &|h| h["source"] == "zendesk");
    check(&["--channel", "Email"], &|h| h["channel"] == "email");
    check(&["--tag", "refund"], &|h| {
        h["tags"]
            .as_array()
            .is_some_and(|t| t.iter().any(|x| x == "refund"))
    });
    let both = check(&["--tag", "refund", "--tag", "lang_zh"], &|h| {
        let tags = h["tags"].as_array().cloned().unwrap_or_default();
        tags.iter().any(|x| x == "refund") && tags.iter().any(|x| x == "lang_zh")
    });
    assert!(both <= total(&search(&["--tag", "refund"])));
    check(&["--min-rating", "4"], &|h| {
        h["rating"].as_f64().is_some_and(|r| r >= 4.0)
    });
    check(&["--min-rating", "2", "--max-rating", "3"], &|h| {
        h["rating"]
            .as_f64()
            .is_some_and(|r| (2.0..=3.0).contains(&r))
    });
    check(&["--since", "2026-10-01", "--until", "2026-11-01"], &|h| {
        let d = h["created_at"].as_str().unwrap_or_default();
        ("2026-10-01".."2026-11-01").contains(&d)
    });
    let group = check(&["--theme", "delivery"], &|h| {
        h["themes"].as_array().is_some_and(|t| {
            t.iter()
                .any(|x| x.as_str().is_some_and(|x| x.starts_with("delivery")))
        })
    });
    let leaf = check(&["--theme", "delivery.late"], &|h| {
        h["themes"]
            .as_array()
            .is_some_and(|t| t.iter().any(|x| x == "delivery.late"))
    });
    assert!(
        group > leaf,
        "a group includes its children: {group} vs {leaf}"
    );
    // Filters combine with a query.
    let combined = search(&[
        "退款",
        "--sentiment",
        "negative",
        "--theme",
        "return_refund",
    ]);
    assert!(total(&combined) > 0 && total(&combined) <= total(&search(&["退款"])));
}

#[test]
fn facets_count_all_hits_consistently() {
    let v = search(&["--limit", "1"]);
    let facets = &v["facets"];
    let sentiment_sum: u64 = facets["sentiment"]
        .as_array()
        .expect("sentiment facets")
        .iter()
        .map(|f| f["count"].as_u64().expect("count"))
        .sum();
    assert_eq!(sentiment_sum, total(&v), "every record has one label");
    let themes = facets["themes"].as_array().expect("theme facets");
    let count = |id: &str| {
        themes
            .iter()
            .find(|f| f["id"] == id)
            .and_then(|f| f["count"].as_u64())
            .unwrap_or(0)
    };
    for f in themes {
        let id = f["id"].as_str().expect("id");
        // A group counts at least as many records as any of its children.
        if let Some((parent, _)) = id.rsplit_once('.') {
            assert!(count(parent) >= count(id), "{parent} < {id}");
            assert_eq!(f["parent"], parent);
        }
        assert!(f["name"].as_str().is_some_and(|n| !n.is_empty()));
    }
    // Facet counts equal the totals of the filtered searches.
    for id in [
        "delivery",
        "delivery.late",
        "app_site.crash",
        "return_refund",
    ] {
        assert_eq!(count(id), total(&search(&["--theme", id])), "{id}");
    }
    for label in ["negative", "neutral", "positive"] {
        let c = facets["sentiment"]
            .as_array()
            .and_then(|a| a.iter().find(|f| f["label"] == label))
            .and_then(|f| f["count"].as_u64())
            .unwrap_or(0);
        assert_eq!(c, total(&search(&["--sentiment", label])), "{label}");
    }
    // Facets cover all hits, not only those shown.
    assert_eq!(hits(&v).len(), 1);
    assert!(count("delivery") > 1);
}

#[test]
fn cached_facets_equal_column_facets_across_commits() {
    use vocscope::index::{CommitInfo, FacetCache, SearchRequest, VocIndex};

    let request = |query: &str, theme: Option<&str>| SearchRequest {
        query: query.into(),
        theme: theme.map(str::to_string),
        limit: 5,
        ..Default::default()
    };
    let same = |index: &VocIndex, cache: &FacetCache, r: &SearchRequest| {
        let plain = index.search(r).expect("search");
        let cached = index.search_cached(r, cache).expect("cached search");
        assert_eq!(plain.total, cached.total, "{}", r.query);
        assert_eq!(plain.facets, cached.facets, "{}", r.query);
        plain.total
    };

    // The sample: several queries, twice (the second time from the cache).
    let sample = VocIndex::open(index()).expect("sample index");
    let cache = FacetCache::new();
    for _ in 0..2 {
        for (q, theme) in [
            ("", None),
            ("refund", None),
            ("退款", Some("return_refund")),
            ("\"charged twice\"", None),
        ] {
            same(&sample, &cache, &request(q, theme));
        }
    }
    assert!(!cache.is_empty());

    // An index that changes: new segments, an update that deletes a document.
    let dir = tempfile::tempdir().expect("temp dir");
    let stored: Vec<vocscope::index::StoredRecord> = hits(&search(&["--limit", "40"]))
        .iter()
        .filter_map(|h| h["key"].as_str())
        .map(|k| sample.get(k).expect("get").expect("stored"))
        .collect();
    assert_eq!(stored.len(), 40);
    let index = VocIndex::open_or_create(dir.path()).expect("index");
    let cache = FacetCache::new();
    let mut writer = index.writer(1).expect("writer");
    for (n, chunk) in stored.chunks(10).enumerate() {
        for (i, s) in chunk.iter().enumerate() {
            let mut r = s.record.clone();
            if n == 3 {
                // The last chunk rewrites the records of the first one.
                r.id = stored[i].record.id.clone();
                r.source = stored[i].record.source.clone();
            }
            writer
                .upsert(&r, &s.analysis, (n * 10 + i) as u64)
                .expect("upsert");
        }
        writer.commit(&CommitInfo::default()).expect("commit");
        index.reload().expect("reload");
        let all = same(&index, &cache, &request("", None));
        assert_eq!(all, (n * 10 + 10).min(30));
        same(&index, &cache, &request("refund", None));
        same(&index, &cache, &request("", Some("delivery")));
    }
    writer.finish().expect("finish");
}

#[test]
fn table_output_shows_facets_above_results() {
    let out = search_cmd(&["退款", "--limit", "2"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).expect("UTF-8");
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].ends_with("matching records, showing 2"), "{text}");
    assert!(lines[1].starts_with("sentiment: negative"), "{text}");
    assert!(lines[2].starts_with("themes: return_refund"), "{text}");
    assert!(text.contains("[退款]"), "{text}");
}

#[test]
fn date_sort_is_newest_first() {
    let v = search(&["refund", "--sort", "date"]);
    let dates: Vec<&str> = hits(&v)
        .iter()
        .filter_map(|h| h["created_at"].as_str())
        .collect();
    assert!(dates.len() > 2);
    assert!(dates.windows(2).all(|w| w[0] >= w[1]), "{dates:?}");
}

#[test]
fn csv_output_has_a_row_per_hit() {
    let out = search_cmd(&["refund", "--format", "csv", "--limit", "5"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let mut reader = csv::Reader::from_reader(&out[..]);
    let headers = reader.headers().expect("header").clone();
    for column in [
        "id",
        "source",
        "created_at",
        "lang",
        "themes",
        "title",
        "text",
    ] {
        assert!(headers.iter().any(|h| h == column), "{column}: {headers:?}");
    }
    assert_eq!(reader.records().count(), 5);
}

/// `--output` writes a file; `--format xlsx` gives a workbook with the hits
/// and the query; `--excel-bom` starts CSV with a byte-order mark.
#[test]
fn results_go_to_a_file_as_xlsx_or_csv_for_spreadsheets() {
    use calamine::{open_workbook, Data, Reader, Xlsx};

    let dir = tempfile::tempdir().expect("temp dir");
    let book = dir.path().join("refunds.xlsx");
    let book_path = book.display().to_string();
    search_cmd(&["退款 OR refund", "--sentiment", "negative", "--limit", "7"])
        .args(["--format", "xlsx", "--output", &book_path])
        .assert()
        .success()
        .stdout("");
    let mut workbook: Xlsx<_> = open_workbook(&book).expect("xlsx");
    let results = workbook.worksheet_range("Results").expect("Results");
    assert_eq!(results.height(), 8, "a header and 7 rows");
    let header: Vec<String> = (0..results.width())
        .map(|c| {
            results
                .get((0, c))
                .map(|d| d.to_string())
                .unwrap_or_default()
        })
        .collect();
    let label = header
        .iter()
        .position(|h| h == "sentiment_label")
        .expect("label");
    for row in 1..8 {
        assert_eq!(
            results.get((row, label)),
            Some(&Data::String("negative".into()))
        );
    }
    let query = workbook.worksheet_range("Query").expect("Query");
    let cells: Vec<String> = query.cells().map(|(_, _, c)| c.to_string()).collect();
    assert!(cells.iter().any(|c| c == "退款 OR refund"), "{cells:?}");
    assert!(cells.iter().any(|c| c == "negative"), "{cells:?}");

    let csv_file = dir.path().join("refunds.csv");
    let csv_path = csv_file.display().to_string();
    search_cmd(&[
        "refund",
        "--format",
        "csv",
        "--excel-bom",
        "--limit",
        "3",
        "-o",
        &csv_path,
    ])
    .assert()
    .success();
    let bytes = std::fs::read(&csv_file).expect("csv file");
    let body = bytes
        .strip_prefix(b"\xEF\xBB\xBF".as_slice())
        .expect("a BOM");
    assert_eq!(csv::Reader::from_reader(body).records().count(), 3);
}

#[test]
fn invalid_query_and_filters_are_usage_errors() {
    search_cmd(&["\"unclosed"]).assert().code(2);
    search_cmd(&["x", "--theme", "no.such.theme"])
        .assert()
        .code(2);
    search_cmd(&["x", "--sentiment", "angry"]).assert().code(2);
    search_cmd(&["x", "--since", "yesterday"]).assert().code(2);
}

#[test]
fn an_index_of_an_older_layout_is_incompatible() {
    use tantivy::schema::{Schema, STORED, STRING};
    let dir = tempfile::tempdir().expect("temp dir");
    let mut b = Schema::builder();
    b.add_text_field("key", STRING | STORED);
    tantivy::Index::create_in_dir(dir.path(), b.build()).expect("old index");
    Command::cargo_bin("vocscope")
        .expect("binary")
        .args(["search", "x", "--index"])
        .arg(dir.path())
        .assert()
        .code(1)
        .stderr(predicates::str::contains("incompatible layout"));
}

#[test]
fn readers_see_the_last_commit_while_a_run_writes() {
    use vocscope::analyze::{AnalysisInput, Analyzer, Lexicon, Taxonomy};
    use vocscope::index::{CommitInfo, SearchRequest, VocIndex};
    use vocscope::record::Record;
    use vocscope::text::Lang;

    let dir = tempfile::tempdir().expect("temp dir");
    let analyzer = Analyzer::new(
        Taxonomy::default_taxonomy().expect("taxonomy"),
        Lexicon::default_lexicon().expect("lexicon"),
    );
    let record = |id: &str, text: &str| Record {
        id: id.into(),
        source: "test".into(),
        created_at: Some(1_700_000_000),
        text: text.into(),
        lang: Lang::En,
        ..Record::default()
    };
    let analysis = |r: &Record| {
        analyzer.analyze(AnalysisInput {
            text: &r.text,
            ..Default::default()
        })
    };
    let writer_index = VocIndex::open_or_create(dir.path()).expect("index");
    let mut writer = writer_index.writer(1).expect("writer");
    let first = record("1", "my refund never arrived");
    writer.upsert(&first, &analysis(&first), 1).expect("upsert");
    writer.commit(&CommitInfo::default()).expect("commit");

    let reader = VocIndex::open(dir.path()).expect("reader");
    let refund = SearchRequest {
        query: "refund".into(),
        limit: 10,
        ..Default::default()
    };
    assert_eq!(reader.search(&refund).expect("search").total, 1);

    // A second record added and an update of the first, not yet committed.
    let second = record("2", "refund please, the parcel was broken");
    writer
        .upsert(&second, &analysis(&second), 2)
        .expect("upsert");
    let changed = record("1", "still waiting for the money back");
    writer
        .upsert(&changed, &analysis(&changed), 3)
        .expect("upsert");
    reader.reload().expect("reload");
    assert_eq!(reader.search(&refund).expect("search").total, 1);
    let cli = |query: &str| -> u64 {
        let out = Command::cargo_bin("vocscope")
            .expect("binary")
            .args(["search", query, "--json", "--index"])
            .arg(dir.path())
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        let v: Value = serde_json::from_slice(&out).expect("JSON");
        total(&v)
    };
    assert_eq!(cli("refund"), 1, "the CLI sees the last commit only");
    assert_eq!(cli("money"), 0);

    writer.commit(&CommitInfo::default()).expect("commit");
    assert_eq!(
        reader.search(&refund).expect("search").total,
        1,
        "an open reader keeps its state until reloaded"
    );
    reader.reload().expect("reload");
    assert_eq!(reader.search(&refund).expect("search").total, 1);
    let money = SearchRequest {
        query: "money".into(),
        limit: 10,
        ..Default::default()
    };
    assert_eq!(reader.search(&money).expect("search").total, 1);
    assert_eq!(reader.num_records(), 2);
    assert_eq!(cli("refund"), 1);
    writer.finish().expect("finish");
}

#[test]
fn a_closed_stdout_is_not_an_error_in_any_format() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command as Process, Stdio};

    for format in ["table", "json", "csv"] {
        // Like `| head -1`: read one line, then close the pipe while the
        // output (all sample records, far more than a pipe buffer) is unwritten.
        let mut child = Process::new(assert_cmd::cargo::cargo_bin("vocscope"))
            .args([
                "search", "", "--limit", "500", "--format", format, "--index",
            ])
            .arg(index())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start vocscope search");
        let mut first = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut first)
            .expect("first line");
        assert!(!first.is_empty(), "{format}: no output");
        let out = child.wait_with_output().expect("wait");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && stderr.is_empty(),
            "{format}: {:?} {stderr}",
            out.status
        );
    }
}

#[test]
fn searches_during_a_real_run_see_only_whole_commits() {
    use std::process::{Command as Process, Stdio};
    use vocscope::index::{SearchRequest, VocIndex};

    let dir = tempfile::tempdir().expect("temp dir");
    let jsonl = |name: &str, from: usize, n: usize| {
        let mut text = String::new();
        for i in from..from + n {
            let line = serde_json::json!({
                "id": format!("r{i}"),
                "created_at": "2026-11-02T10:00:00Z",
                "text": format!(
                    "Order number {i} arrived broken and my refund {} is still missing, please call me back about case {i}.",
                    i * 7919
                ),
            });
            text.push_str(&format!("{line}\n"));
        }
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write input");
        path
    };
    let run = |input: &Path| {
        let mut cmd = Process::new(assert_cmd::cargo::cargo_bin("vocscope"));
        cmd.args(["run", "--quiet", "--index"])
            .arg(dir.path().join("index"))
            .arg("--out")
            .arg(dir.path().join("report"))
            .arg(input)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        cmd
    };
    let first = jsonl("first.jsonl", 0, 50);
    assert!(run(&first).status().expect("first run").success());
    let reader = VocIndex::open(&dir.path().join("index")).expect("reader");
    let all = SearchRequest {
        query: "refund".into(),
        limit: 5,
        ..Default::default()
    };
    assert_eq!(reader.search(&all).expect("search").total, 50);

    // The nightly run: thousands of records, one commit at the end.
    let second = jsonl("second.jsonl", 50, 4000);
    let mut child = run(&second).spawn().expect("second run");
    let (mut before, mut reads) = (0, 0);
    while child.try_wait().expect("poll").is_none() {
        reader.reload().expect("reload");
        let r = reader.search(&all).expect("search during the run");
        let labels: u64 = r.facets.sentiment.iter().map(|f| f.count).sum();
        assert!(
            r.total == 50 || r.total == 4050,
            "a reader saw {} records: half a commit",
            r.total
        );
        assert_eq!(labels, r.total as u64, "facets of another state");
        assert_eq!(r.hits.len(), 5);
        if r.total == 50 {
            before += 1;
        }
        reads += 1;
    }
    let out = child.wait_with_output().expect("second run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{reads} searches during the run, {before} of them before its commit");
    reader.reload().expect("reload");
    assert_eq!(reader.search(&all).expect("search").total, 4050);
    assert_eq!(reader.num_records(), 4050);
}
