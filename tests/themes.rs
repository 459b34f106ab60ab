//! Themes through the real binaries: assignment quality on the hand-labelled
//! sets in tests/eval/ (`eval --themes --json`), and on the bundled sample the
//! planted rises flagged emerging and the planted untaxonomied complaint found
//! by discovery.

mod util;

use assert_cmd::Command;
use serde_json::Value;
use util::Workspace;

fn eval_themes(file: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/eval")
        .join(file);
    let output = Command::cargo_bin("eval")
        .expect("eval binary")
        .args(["--themes", "--json"])
        .arg(&path)
        .output()
        .expect("eval runs");
    assert!(
        output.status.success(),
        "eval failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("one JSON object")
}

#[test]
fn labelled_theme_set_reaches_micro_f1_of_0_8() {
    let report = eval_themes("themes.jsonl");
    assert!(report["records"].as_u64().unwrap() >= 300, "{report}");
    let f1 = report["micro"]["f1"].as_f64().unwrap();
    assert!(f1 >= 0.8, "micro-F1 {f1}");
    // Every theme of the taxonomy's leaves is represented and scored.
    let themes = report["themes"].as_object().unwrap();
    assert!(themes.len() >= 30, "{} themes scored", themes.len());
    for (id, t) in themes {
        let p = t["precision"].as_f64().unwrap();
        let r = t["recall"].as_f64().unwrap();
        assert!(
            (0.0..=1.0).contains(&p) && (0.0..=1.0).contains(&r),
            "{id}: {t}"
        );
    }
}

fn theme<'a>(summary: &'a Value, id: &str) -> &'a Value {
    summary["themes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == id)
        .unwrap_or_else(|| panic!("theme {id} in the summary"))
}

#[test]
fn sample_rises_are_flagged_emerging_and_the_improved_theme_is_not() {
    let ws = Workspace::new();
    let run = ws.run_sample();
    let s = &run.summary;
    assert_eq!(s["trend_unit"], "week");
    for id in ["app_site.crash", "delivery.late"] {
        let t = &theme(s, id)["trend"];
        assert_eq!(t["emerging"], true, "{id}: {t}");
        assert!(t["p_value"].as_f64().unwrap() < 0.01, "{id}: {t}");
    }
    // Slow support responses fell over the period (sample README, (d)).
    assert_eq!(theme(s, "support.wait_time")["trend"]["emerging"], false);
    // The planted untaxonomied complaint (Lumio Points, 积分) leads discovery,
    // with a snippet to paste into the taxonomy.
    let unmapped = s["unmapped"].as_array().unwrap();
    let points = unmapped
        .iter()
        .take(2)
        .find(|c| {
            c["phrases"].as_array().unwrap().iter().any(|p| {
                p.as_str().unwrap().contains("积分") || p.as_str().unwrap().contains("point")
            })
        })
        .unwrap_or_else(|| panic!("points in the first two candidates: {unmapped:?}"));
    assert!(points["toml"]
        .as_str()
        .unwrap()
        .starts_with("[[theme]]\nid = "));
    assert!(points["negative_share"].as_f64().unwrap() >= 0.6);
    // Generic words are not complaints.
    for c in unmapped {
        let label = c["label"].as_str().unwrap();
        assert!(
            !["update", "euros", "happened", "显示"].contains(&label),
            "{label}"
        );
    }
    // Daily series for the last 28 days next to the weekly one.
    assert_eq!(s["days"].as_array().unwrap().len(), 28);
    assert_eq!(
        theme(s, "delivery.late")["daily"].as_array().unwrap().len(),
        28
    );
}

/// JSON lines of generic records, dated one per hour from `start`.
fn records(prefix: &str, texts: &[&str], start: &str) -> String {
    texts
        .iter()
        .enumerate()
        .map(|(i, text)| {
            format!(
                "{{\"id\":\"{prefix}-{i}\",\"text\":{},\"created_at\":\"{start}T{:02}:00:00Z\"}}\n",
                serde_json::to_string(text).unwrap(),
                i % 24
            )
        })
        .collect()
}

#[test]
fn a_second_run_says_what_is_new_since_the_first() {
    let ws = Workspace::new();
    let first = ws.write(
        "night1.jsonl",
        records(
            "a",
            &[
                "My parcel arrived late again, a week after the promised date.",
                "The app crashes every time I open it.",
                "Great service, thank you!",
                "Refund still not received after two weeks.",
            ],
            "2026-11-01",
        ),
    );
    let run1 = ws.run(&[&first]);
    assert!(run1.summary["since_last_run"].is_null(), "first run");

    let stamps: Vec<String> = (0..6)
        .map(|i| format!("My loyalty stamps disappeared again, terrible, I am really angry ({i})."))
        .collect();
    let mut texts: Vec<&str> = vec![
        "Delivery late, the parcel came four days after the promised date.",
        "Order arrived late and nobody told me why.",
    ];
    texts.extend(stamps.iter().map(String::as_str));
    // Contented customers, so that the stamps stand out against them.
    let happy: Vec<String> = (0..8)
        .map(|i| format!("Lovely quality, very happy with my purchase number {i}."))
        .collect();
    texts.extend(happy.iter().map(String::as_str));
    let second = ws.write("night2.jsonl", records("b", &texts, "2026-11-02"));
    let stdout = ws.run_terminal(&[&first, &second]);
    assert!(stdout.contains("since the last run ("), "{stdout}");
    assert!(stdout.contains("+16 records"), "{stdout}");

    let s = ws.summary_file();
    let since = &s["since_last_run"];
    assert_eq!(since["previous_generated_at"], run1.summary["generated_at"]);
    assert_eq!(since["records_added"], 16);
    let late = since["themes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == "delivery.late")
        .unwrap_or_else(|| panic!("delivery.late in {since}"));
    assert_eq!(late["added"], 2, "{late}");
    assert_eq!(late["previous_records"], 1, "{late}");
    // Themes without new records are not listed.
    assert!(since["themes"]
        .as_array()
        .unwrap()
        .iter()
        .all(|t| t["id"] != "app_site.crash"));
    let new_unmapped = since["new_unmapped"].as_array().unwrap();
    assert!(
        new_unmapped
            .iter()
            .any(|l| l.as_str().unwrap().contains("stamp")),
        "{since}"
    );

    let html = std::fs::read_to_string(ws.out_file("report.html")).unwrap();
    assert!(html.contains("<h2>Since the last run</h2>"));
    assert!(html.contains("New unmapped complaints:"));

    // Nothing new: the third run lists no theme changes.
    let run3 = ws.run(&[&first, &second]);
    assert_eq!(run3.summary["since_last_run"]["records_added"], 0);
    assert_eq!(
        run3.summary["since_last_run"]["themes"],
        serde_json::json!([])
    );
}

#[test]
fn ten_days_of_records_are_trended_per_day() {
    let ws = Workspace::new();
    let mut lines = String::new();
    for day in 1..=10 {
        let late = if day >= 9 { 5 } else { 1 };
        let texts: Vec<String> = (0..5)
            .map(|i| format!("Lovely quality, very happy. Ref {day}-{i}."))
            .chain((0..late).map(|i| {
                format!(
                    "My parcel arrived late again, a week after the promised date. Ref {day}-{i}."
                )
            }))
            .collect();
        let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
        lines.push_str(&records(
            &format!("d{day}"),
            &texts,
            &format!("2026-11-{day:02}"),
        ));
    }
    let input = ws.write("short.jsonl", lines);
    let stdout = ws.run_terminal(&[&input]);
    assert!(stdout.contains("last day"), "{stdout}");
    assert!(
        stdout.contains("emerging today: Late or slow delivery"),
        "{stdout}"
    );
    let s = ws.summary_file();
    assert_eq!(s["trend_unit"], "day");
    assert_eq!(s["days"].as_array().unwrap().len(), 10);
    let late = theme(&s, "delivery.late");
    assert_eq!(
        late["daily"],
        serde_json::json!([1, 1, 1, 1, 1, 1, 1, 1, 5, 5])
    );
    assert_eq!(late["trend"]["unit"], "day");
    assert_eq!(late["trend"]["latest_records"], 5);
    assert_eq!(late["trend"]["emerging"], true);
    let html = std::fs::read_to_string(ws.out_file("report.html")).unwrap();
    assert!(html.contains("Records per day"));
}

/// Yesterday's delight, today's pain point: over 8 weeks, praise for fast
/// delivery drops from 12 a week to 1, and the courier, mentioned 10 times a
/// week throughout, goes from 1 negative mention a week to 8. The praise is
/// flagged fading, the courier souring, and neither emerging.
#[test]
fn lost_praise_fades_and_a_touch_point_turned_negative_sours() {
    let ws = Workspace::new();
    let mut lines = String::new();
    let mut n = 0;
    let mut push = |week: i64, text: &str| {
        n += 1;
        // Week 0 starts 2026-09-07; records spread over the week's days.
        let day = 7 * week + n % 7;
        let date = jiff::civil::date(2026, 9, 7)
            .checked_add(jiff::Span::new().days(day))
            .unwrap();
        lines.push_str(&format!(
            "{{\"id\":\"r{n}\",\"created_at\":\"{date}T10:00:00Z\",\"text\":\"{text} Ref {n}.\"}}\n"
        ));
    };
    for week in 0..8 {
        for _ in 0..20 {
            push(
                week,
                "I would like to change the colour of my profile page.",
            );
        }
        for _ in 0..if week < 6 { 12 } else { 1 } {
            push(week, "Fast delivery, it arrived next day. Great service!");
        }
        let negative = if week < 6 { 1 } else { 8 };
        for i in 0..10 {
            if i < negative {
                push(
                    week,
                    "The courier was rude and threw the parcel over the fence.",
                );
            } else {
                push(week, "The courier came at 9am as usual.");
            }
        }
    }
    let export = ws.write("weeks.jsonl", lines);
    let run = ws.run(&[&export]);
    let s = &run.summary;
    assert_eq!(s["trend_unit"], "week");
    let praise = &theme(s, "praise.fast_delivery")["trend"];
    assert_eq!(praise["fading"], true, "{praise}");
    assert!(praise["fading_p"].as_f64().unwrap() < 0.01, "{praise}");
    assert_eq!(praise["emerging"], false, "{praise}");
    let courier = &theme(s, "delivery.courier")["trend"];
    assert_eq!(courier["souring"], true, "{courier}");
    assert_eq!(courier["emerging"], false, "{courier}");
    assert_eq!(courier["fading"], false, "{courier}");
    assert!(
        courier["negative_share_recent"].as_f64().unwrap() > 0.7
            && courier["negative_share_baseline"].as_f64().unwrap() < 0.2,
        "{courier}"
    );
    // The terminal summary and the report say so too.
    let terminal = ws.run_terminal(&[&export]);
    assert!(
        terminal.contains("souring (more negative than before): "),
        "{terminal}"
    );
    assert!(
        terminal.contains("fading (mentioned less than before): "),
        "{terminal}"
    );
    let html = std::fs::read_to_string(ws.out_file("report.html")).unwrap();
    assert!(html.contains("↘ souring") && html.contains("▼ fading"));
}
