//! `yuqing calendar`: every day of 2004–2016 from a calendar folder given with `--calendar-dir`,
//! deadlines, a new year's file without a rebuild, and a missing year.

mod common;

use std::collections::HashMap;

use chrono::{Datelike, NaiveDate, Weekday};
use common::{root, text, yuqing};

#[test]
fn every_day_of_2004_to_2016_agrees_with_the_corpus_calendar() {
    let dir = root().join("crates/app/tests/fixtures/calendar-2004-2016");
    // An independent reading of the fixture: holiday and make-up rows; every other day follows
    // its weekday.
    let csv = std::fs::read_to_string(dir.join("cn_holidays_2004_2016.csv")).unwrap();
    let mut special: HashMap<NaiveDate, &str> = HashMap::new();
    for line in csv.lines().skip(1) {
        let mut cols = line.split(',');
        let d = NaiveDate::parse_from_str(cols.next().unwrap(), "%Y-%m-%d").unwrap();
        let kind = match cols.next().unwrap() {
            "holiday" => "holiday",
            "workday-makeup" => "makeup-workday",
            other => panic!("unexpected kind {other}"),
        };
        special.insert(d, kind);
    }
    assert_eq!(special.len(), 420);
    let out = yuqing(
        &[
            "calendar",
            "days",
            "--from",
            "2004-01-01",
            "--to",
            "2016-12-31",
            "--calendar-dir",
            dir.to_str().unwrap(),
        ],
        None,
        &root(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let mut d = NaiveDate::from_ymd_opt(2004, 1, 1).unwrap();
    let mut n = 0;
    let mut kinds: HashMap<&str, usize> = HashMap::new();
    for line in stdout.lines() {
        let weekend = matches!(d.weekday(), Weekday::Sat | Weekday::Sun);
        let want = special.get(&d).copied().unwrap_or(if weekend { "weekend" } else { "workday" });
        assert_eq!(line, format!("{d} {want}"));
        *kinds.entry(want).or_default() += 1;
        d = d.succ_opt().unwrap();
        n += 1;
    }
    assert_eq!(n, 4749, "one line per day of 2004-2016");
    assert!(kinds["makeup-workday"] > 50 && kinds["holiday"] > 300, "{kinds:?}");
}

#[test]
fn deadline_of_the_worked_example_with_the_shipped_calendar() {
    let out = yuqing(
        &["calendar", "deadline", "--start", "2024-09-27 10:00", "--working-days", "3"],
        None,
        &root(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "2024-10-08T23:59:59+08:00");
    let out =
        yuqing(&["calendar", "deadline", "--start", "2024-09-27 10:00", "--hours", "48"], None, &root());
    assert_eq!(text(&out.stdout).trim(), "2024-09-29T10:00:00+08:00");
    let out = yuqing(&["calendar", "days", "--from", "2024-09-28", "--to", "2024-10-01"], None, &root());
    assert_eq!(
        text(&out.stdout),
        "2024-09-28 weekend\n2024-09-29 makeup-workday\n2024-09-30 workday\n2024-10-01 holiday\n"
    );
}

#[test]
fn a_2027_file_dropped_into_the_folder_is_used_and_a_missing_year_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::copy(root().join("config/calendar/2026.csv"), tmp.path().join("2026.csv")).unwrap();
    let dir = tmp.path().to_str().unwrap().to_owned();
    let out = yuqing(
        &["calendar", "days", "--from", "2027-01-01", "--to", "2027-01-01", "--calendar-dir", &dir],
        None,
        &root(),
    );
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("no data for 2027") && err.contains("2026"), "{err}");

    std::fs::write(tmp.path().join("2027.csv"), "date,kind,name\n2027-01-01,holiday,New Year's Day\n2027-01-02,holiday,New Year's Day\n2027-01-03,holiday,New Year's Day\n2027-01-09,workday-makeup,New Year's Day\n").unwrap();
    let out = yuqing(
        &["calendar", "days", "--from", "2027-01-01", "--to", "2027-01-04", "--calendar-dir", &dir],
        None,
        &root(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "2027-01-01 holiday\n2027-01-02 holiday\n2027-01-03 holiday\n2027-01-04 workday\n"
    );
    let out = yuqing(
        &[
            "calendar",
            "deadline",
            "--start",
            "2026-12-31 16:00",
            "--working-days",
            "1",
            "--calendar-dir",
            &dir,
        ],
        None,
        &root(),
    );
    assert_eq!(text(&out.stdout).trim(), "2027-01-04T23:59:59+08:00", "{}", text(&out.stderr));
}

#[test]
fn bad_calendar_input_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("2025.csv"), "date,kind\n2025-01-01,holiday\n2025-01-08,workday-makeup\n")
        .unwrap();
    let dir = tmp.path().to_str().unwrap().to_owned();
    let out = yuqing(
        &["calendar", "days", "--from", "2025-01-01", "--to", "2025-01-02", "--calendar-dir", &dir],
        None,
        &root(),
    );
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("2025.csv:3") && err.contains("not a weekend day"), "{err}");
    let out =
        yuqing(&["calendar", "deadline", "--start", "next tuesday", "--working-days", "1"], None, &root());
    assert!(text(&out.stderr).contains("is not a time"), "{}", text(&out.stderr));
}
