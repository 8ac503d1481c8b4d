//! End-to-end tests of the `yuqing` binary: stdin/stdout, snapshots, bad input and bad config.

mod common;

use common::{root, text, yuqing};

#[test]
fn analyze_fixture_posts_snapshot() {
    let out = yuqing(&["analyze", "crates/app/tests/fixtures/posts.jsonl"], None, &root());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines: Vec<serde_json::Value> =
        text(&out.stdout).lines().map(|l| serde_json::from_str(l).expect("json line")).collect();
    let input = std::fs::read_to_string(root().join("crates/app/tests/fixtures/posts.jsonl")).unwrap();
    assert_eq!(lines.len(), input.lines().filter(|l| !l.trim().is_empty()).count());
    for l in &lines {
        assert!(l["simhash"].as_str().is_some_and(|s| s.len() == 16), "{l}");
        assert!(l["id"].is_string());
    }
    insta::assert_json_snapshot!("fixture_posts", lines);
}

#[test]
fn stdin_in_order_with_bad_lines_reported_and_exit_nonzero() {
    let input = concat!(
        "{\"id\": 1, \"title\": \"小区物业乱收费\", \"body\": \"\"}\n",
        "not json\n",
        "{\"id\": \"b\", \"title\": \"学校补课收费\", \"extra\": true}\n",
        "{\"id\": 1, \"title\": \"小区物业乱收费\", \"body\": \"\"}\n",
    );
    let out = yuqing(&["analyze", "-"], Some(input), &root());
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("line 2"), "{stderr}");
    let lines: Vec<serde_json::Value> =
        text(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[0]["id"], "1");
    assert_eq!(lines[1]["line"], 2);
    assert_eq!(lines[2]["id"], "b");
    assert_eq!(lines[2]["departments"][0]["name"], "教育局");
    // A duplicate line is analysed like any other.
    assert_eq!(lines[3], lines[0]);
}

#[test]
fn embedded_configuration_is_used_outside_the_repository() {
    let dir = tempfile::tempdir().unwrap();
    let out = yuqing(&["analyze"], Some("{\"id\":\"x\",\"title\":\"拖欠农民工工资\"}\n"), dir.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_str(text(&out.stdout).trim()).unwrap();
    assert_eq!(v["departments"][0]["name"], "人力资源和社会保障局");
    let check = yuqing(&["rules", "check"], None, dir.path());
    assert!(text(&check.stdout).contains("(embedded config)"), "{}", text(&check.stdout));
}

#[test]
fn bad_config_is_explained_with_file_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config");
    std::fs::create_dir_all(cfg.join("rules")).unwrap();
    for f in ["county.toml", "gazetteer.toml", "departments.toml", "townships.toml"] {
        std::fs::copy(root().join("config").join(f), cfg.join(f)).unwrap();
    }
    std::fs::write(
        cfg.join("rules/water.toml"),
        "unit = \"water\"\n[[topic]]\nid = \"x\"\nname = \"x\"\nexpr = '水库 AND (漏水'\n",
    )
    .unwrap();
    let out = yuqing(&["rules", "check"], None, dir.path());
    assert_eq!(out.status.code(), Some(1));
    let s = text(&out.stdout);
    assert!(
        s.contains("rules/water.toml: topic x: expr column 11: missing ')' to close the '(' at column 8"),
        "{s}"
    );
    // analyze refuses to start on a broken configuration.
    let out = yuqing(&["analyze"], Some("{}\n"), dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("rules/water.toml"), "{}", text(&out.stderr));
    // A malformed TOML file names its line and column.
    std::fs::write(cfg.join("rules/water.toml"), "unit = \"water\"\n[[topic]\n").unwrap();
    let s = text(&yuqing(&["rules", "check"], None, dir.path()).stdout);
    assert!(s.contains("rules/water.toml: line 2, column"), "{s}");
}

#[test]
fn shipped_rules_check_and_explain() {
    let out = yuqing(&["rules", "check"], None, &root());
    assert!(out.status.success(), "{}", text(&out.stdout));
    assert!(text(&out.stdout).starts_with("ok: "));
    let out = yuqing(&["rules", "explain", "--text", "那拉提镇某村停水三天，没人管"], None, &root());
    let s = text(&out.stdout);
    assert!(out.status.success());
    assert!(s.contains("停水") && s.contains("那拉提镇人民政府"), "{s}");
}

#[test]
fn missing_input_file_is_a_clear_error() {
    let out = yuqing(&["analyze", "no-such-file.jsonl"], None, &root());
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("cannot open no-such-file.jsonl"));
}

#[test]
fn rules_synth_writes_a_configuration_that_checks() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("synth");
    let r = yuqing(
        &[
            "rules",
            "synth",
            "--input",
            "crates/app/tests/fixtures/posts.jsonl",
            "--topics",
            "30",
            "--out",
            out.to_str().unwrap(),
        ],
        None,
        &root(),
    );
    assert!(r.status.success(), "{}", text(&r.stderr));
    assert!(out.join("sources").is_dir(), "every configuration file is copied, folders included");
    let r = yuqing(&["--config", out.to_str().unwrap(), "rules", "check"], None, &root());
    assert!(r.status.success(), "{}", text(&r.stderr));
}
