//! `--redact`: personal data is masked in every output (report.html,
//! records.csv, themes.csv, vocscope.xlsx, summary.json, the terminal
//! summary), and the index keeps the original text.

mod util;

use std::path::Path;

use calamine::{open_workbook, Reader, Xlsx};

use util::{assert_success, Workspace};

/// Personal data in the export, each of which must disappear.
const PII: &[&str] = &[
    "jane.doe@example.com",
    "7700 900123",
    "LM-33018",
    "4111 1111 1111 1111",
    "13812345678",
];

/// Every record complains about a late parcel (so quotes come from them)
/// and carries personal data in its text or title.
fn export(ws: &Workspace) -> std::path::PathBuf {
    let lines: Vec<String> = (0..12)
        .map(|i| {
            let (title, text) = match i % 4 {
                0 => (
                    "Parcel late, mail jane.doe@example.com".to_string(),
                    "My parcel never arrived and delivery is two weeks late. Terrible.".to_string(),
                ),
                1 => (
                    "Late delivery".to_string(),
                    "The delivery is late again, call me on +44 7700 900123, order LM-33018. Awful."
                        .to_string(),
                ),
                2 => (
                    "Still waiting".to_string(),
                    "Parcel is a week late and you charged card 4111 1111 1111 1111. Very bad."
                        .to_string(),
                ),
                _ => (
                    "快递太慢".to_string(),
                    "快递太慢了，一直没有收到，请打电话13812345678联系我。非常失望。".to_string(),
                ),
            };
            serde_json::json!({
                "id": format!("p{i}"),
                "title": title,
                "text": format!("{text} (ticket {i})"),
                "created_at": format!("2026-10-{:02}T10:00:00Z", i + 1),
                "rating": 1,
            })
            .to_string()
        })
        .collect();
    ws.write("pii.jsonl", lines.join("\n") + "\n")
}

fn workbook_text(path: &Path) -> String {
    let mut wb: Xlsx<_> = open_workbook(path).expect("open workbook");
    let mut text = String::new();
    for name in wb.sheet_names() {
        let range = wb.worksheet_range(&name).expect("read sheet");
        for row in range.rows() {
            for cell in row {
                text.push_str(&cell.to_string());
                text.push('\t');
            }
            text.push('\n');
        }
    }
    text
}

/// The text of every output file, by name.
fn outputs(out: &Path) -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> =
        ["report.html", "records.csv", "themes.csv", "summary.json"]
            .iter()
            .map(|name| {
                let text = std::fs::read_to_string(out.join(name)).expect(name);
                (name.to_string(), text)
            })
            .collect();
    files.push((
        "vocscope.xlsx".into(),
        workbook_text(&out.join("vocscope.xlsx")),
    ));
    files
}

fn leaks(text: &str) -> Vec<&'static str> {
    PII.iter().copied().filter(|p| text.contains(p)).collect()
}

#[test]
fn redact_masks_personal_data_in_every_output_and_the_index_keeps_it() {
    let ws = Workspace::new();
    let input = export(&ws);

    // Without --redact the data is there: the checks below can fail.
    let plain = ws.run_output(&[&input], &[]);
    assert_success(&plain, "vocscope run");
    let records = std::fs::read_to_string(ws.out_file("records.csv")).expect("records.csv");
    assert_eq!(leaks(&records), PII, "records.csv without --redact");
    let quotes = std::fs::read_to_string(ws.out_file("summary.json")).expect("summary.json");
    assert!(!leaks(&quotes).is_empty(), "quotes carry personal data");

    // run --redact: files and the printed summary are masked.
    let redacted = ws.run_output(&[&input], &["--redact", "--full"]);
    assert_success(&redacted, "vocscope run --redact");
    let stdout = String::from_utf8_lossy(&redacted.stdout);
    assert!(stdout.contains("in a customer's words"), "{stdout}");
    assert_eq!(leaks(&stdout), Vec::<&str>::new(), "terminal:\n{stdout}");
    for (name, text) in outputs(&ws.out()) {
        assert_eq!(
            leaks(&text),
            Vec::<&str>::new(),
            "{name} after run --redact"
        );
    }
    let records = std::fs::read_to_string(ws.out_file("records.csv")).expect("records.csv");
    for mask in ["[email]", "[phone]", "[order id]", "[card]"] {
        assert!(records.contains(mask), "{mask} in records.csv:\n{records}");
    }

    // report --redact into another directory: same.
    let other = ws.path().join("other");
    let report = ws
        .cmd()
        .arg("report")
        .arg("--index")
        .arg(ws.index())
        .arg("--out")
        .arg(&other)
        .arg("--redact")
        .output()
        .expect("run vocscope report --redact");
    assert_success(&report, "vocscope report --redact");
    for (name, text) in outputs(&other) {
        assert_eq!(
            leaks(&text),
            Vec::<&str>::new(),
            "{name} after report --redact"
        );
    }

    // The index keeps the original text for search.
    let found = ws.search("LM-33018", &[]);
    let hits = serde_json::to_string(&found.hits).expect("hits as JSON");
    assert!(found.total > 0 && hits.contains("LM-33018"), "{hits}");
}
