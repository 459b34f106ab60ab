//! Themes through the real binaries: assignment quality on the hand-labelled
//! sets in tests/eval/ (`eval --themes --json`), and on the bundled sample the
//! planted rises flagged emerging and the planted untaxonomied complaint found
//! by discovery.

// The shared helpers; this file uses only some of them.
#[allow(dead_code)]
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
    // Daily series for the last 28 days next to the weekly one.
    assert_eq!(s["days"].as_array().unwrap().len(), 28);
    assert_eq!(
        theme(s, "delivery.late")["daily"].as_array().unwrap().len(),
        28
    );
}
