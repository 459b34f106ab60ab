//! Theme assignment quality on the hand-labelled sets in tests/eval/, measured
//! by the real `eval` binary (`eval --themes --json`).

use assert_cmd::Command;
use serde_json::Value;

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
