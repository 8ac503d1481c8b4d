//! The calendar and the clocks against the shipped data in `config/calendar/` and
//! `config/clocks.toml`: worked examples across Spring Festival, National Day and 调休 weekends,
//! missing years, new years without a rebuild, and properties of deadline arithmetic.

use chrono::{DateTime, Datelike, Duration, FixedOffset, NaiveDate, TimeZone};
use proptest::prelude::*;
use yuqing_cases::calendar::{Calendar, CalendarError, DayKind, beijing};
use yuqing_cases::clock::{ClockKind, ClockTemplates, StartEvent, StopEvent};
use yuqing_domain::WarningLevel;

fn shipped() -> Calendar {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../config/calendar");
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("config/calendar exists") {
        let path = entry.expect("readable entry").path();
        if path.extension().is_some_and(|e| e == "csv") {
            let name = path.file_name().expect("a file name").to_string_lossy().into_owned();
            files.push((name, std::fs::read_to_string(&path).expect("readable calendar file")));
        }
    }
    Calendar::from_files(files.iter().map(|(n, t)| (n.as_str(), t.as_str())))
        .expect("the shipped calendar loads")
}

fn at(s: &str) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(s).expect("valid RFC 3339")
}

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("valid date")
}

#[test]
fn the_shipped_calendar_covers_2017_to_2026() {
    let cal = shipped();
    assert_eq!(cal.years().collect::<Vec<_>>(), (2017..=2026).collect::<Vec<_>>());
}

#[test]
fn the_worked_example_from_the_issue() {
    // Fri 2024-09-27 10:00 + 3 working days: Sun 09-29 (make-up) day 1, Mon 09-30 day 2,
    // 10-01..07 National Day, Tue 10-08 day 3.
    let cal = shipped();
    assert_eq!(cal.day(date("2024-09-29")).unwrap(), DayKind::MakeupWorkday);
    assert_eq!(cal.day(date("2024-10-07")).unwrap(), DayKind::Holiday);
    let due = cal.working_days_deadline(&at("2024-09-27T10:00:00+08:00"), 3).unwrap();
    assert_eq!(due, at("2024-10-08T23:59:59+08:00"));
}

#[test]
fn ten_more_deadlines_across_holidays_and_make_up_weekends() {
    let cal = shipped();
    // (start day, working days, last day): each checked by hand against the State Council notice.
    let cases = [
        // 2025 Spring Festival 01-28..02-04 (the first year of the 2025 holiday law), Sun 01-26 worked.
        ("2025-01-24", 3, "2025-02-05"),
        ("2025-01-27", 1, "2025-02-05"),
        // Sat 02-08 worked after it.
        ("2025-02-07", 2, "2025-02-10"),
        // 2024 Spring Festival 02-10..17, Sun 02-18 worked; Fri 02-09 (除夕) was a working day.
        ("2024-02-08", 5, "2024-02-21"),
        // 2023 Mid-Autumn + National Day 09-29..10-06, Sat 10-07 and Sun 10-08 worked.
        ("2023-09-28", 3, "2023-10-09"),
        // 2026 Spring Festival 02-15..23, Sat 02-14 worked.
        ("2026-02-13", 3, "2026-02-25"),
        // 2026 National Day 10-01..07.
        ("2026-09-30", 1, "2026-10-08"),
        // 2025 National Day + Mid-Autumn 10-01..08, Sun 09-28 worked.
        ("2025-09-26", 5, "2025-10-10"),
        // 2019 Labour Day 05-01..04, Sun 04-28 worked.
        ("2019-04-26", 3, "2019-04-30"),
        // 2020 Spring Festival, extended to 02-02 (the make-up Saturday 02-01 fell away).
        ("2020-01-23", 3, "2020-02-05"),
        // 2024 Labour Day 05-01..05.
        ("2024-04-30", 3, "2024-05-08"),
    ];
    for (start, n, last) in cases {
        let s = beijing().from_local_datetime(&date(start).and_hms_opt(9, 30, 0).unwrap()).unwrap();
        let due = cal.working_days_deadline(&s, n).unwrap();
        assert_eq!(due.date_naive(), date(last), "{start} + {n} working days");
        assert_eq!(due.format("%H:%M:%S").to_string(), "23:59:59");
    }
}

#[test]
fn a_year_without_data_is_an_error_naming_the_year() {
    let cal = shipped();
    let err = cal.day(date("2027-01-04")).unwrap_err();
    assert!(matches!(err, CalendarError::YearNotCovered { year: 2027, .. }), "{err}");
    assert!(err.to_string().contains("2027") && err.to_string().contains("2017-2026"), "{err}");
    // A deadline that runs into the unknown year is an error too, not a weekday guess.
    let err = cal.working_days_deadline(&at("2026-12-31T10:00:00+08:00"), 1).unwrap_err();
    assert!(matches!(err, CalendarError::YearNotCovered { year: 2027, .. }), "{err}");
    assert!(cal.day(date("2016-12-30")).is_err());
}

#[test]
fn a_new_year_file_is_used_as_data() {
    // A made-up 2027 notice: New Year's Day on Friday, Saturday 01-09 worked.
    let files: Vec<(String, String)> = vec![
        (
            "2026.csv".into(),
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../config/calendar/2026.csv"))
                .unwrap(),
        ),
        (
            "2027.csv".into(),
            "date,kind,name\n2027-01-01,holiday,New Year's Day\n2027-01-09,workday-makeup,New Year's Day\n"
                .into(),
        ),
    ];
    let cal = Calendar::from_files(files.iter().map(|(n, t)| (n.as_str(), t.as_str()))).unwrap();
    assert_eq!(cal.day(date("2027-01-01")).unwrap(), DayKind::Holiday);
    assert_eq!(cal.day(date("2027-01-09")).unwrap(), DayKind::MakeupWorkday);
    let due = cal.working_days_deadline(&at("2026-12-31T10:00:00+08:00"), 1).unwrap();
    assert_eq!(due, at("2027-01-04T23:59:59+08:00"));
}

#[test]
fn bad_calendar_files_are_clear_errors() {
    let cases = [
        ("2024.csv", "day,kind\n2024-01-01,holiday\n", "header must name"),
        ("2024.csv", "date,kind\n2024-13-01,holiday\n", "2024-13-01"),
        ("2024.csv", "date,kind\n2024-01-01,party\n", "party"),
        ("2024.csv", "date,kind\n2024-01-03,workday-makeup\n", "not a weekend day"),
        ("2024.csv", "date,kind\n2025-01-01,holiday\n", "not in 2024"),
        ("2024.csv", "date,kind\n2024-01-06,holiday\n2024-01-06,workday-makeup\n", "both"),
        ("extra.csv", "date,kind\n", "no rows"),
    ];
    for (name, text, want) in cases {
        let err = Calendar::from_files([(name, text)]).unwrap_err().to_string();
        assert!(err.contains(want) && err.contains(name), "{name}: {err:?} should mention {want:?}");
    }
    // Line numbers point at the row.
    let err = Calendar::from_files([("2024.csv", "date,kind\n2024-01-01,holiday\n2024-02-30,holiday\n")])
        .unwrap_err();
    assert!(err.to_string().starts_with("2024.csv:3:"), "{err}");
}

#[test]
fn shipped_clock_templates_follow_the_product_defaults() {
    let text = include_str!("../../../config/clocks.toml");
    let t = ClockTemplates::parse("clocks.toml", text).unwrap();
    let ack = t.get("ack").unwrap();
    assert_eq!(ack.limit(None), ClockKind::Minutes(60));
    assert_eq!(ack.limit(Some(WarningLevel::Red)), ClockKind::Minutes(30));
    assert_eq!(ack.limit(Some(WarningLevel::Yellow)), ClockKind::Minutes(60));
    assert_eq!(t.get("authoritative_info").unwrap().kind, ClockKind::Minutes(5 * 60));
    assert_eq!(t.get("press_conference").unwrap().kind, ClockKind::Minutes(24 * 60));
    assert_eq!(t.get("response").unwrap().kind, ClockKind::Minutes(48 * 60));
    assert_eq!(t.get("interpretation").unwrap().kind, ClockKind::WorkingDays(3));
    assert_eq!(t.get("information_request").unwrap().kind, ClockKind::WorkingDays(20));
    assert_eq!(t.get("information_request").unwrap().extension, Some(ClockKind::WorkingDays(20)));
    // The incident clocks start only for 重大 and 特别重大, from the incident time.
    let incident: Vec<&str> =
        t.starting("emergency", Some("major"), StartEvent::IncidentTime).map(|c| c.id.as_str()).collect();
    assert_eq!(incident, ["authoritative_info", "press_conference"]);
    assert_eq!(t.starting("emergency", Some("large"), StartEvent::IncidentTime).count(), 0);
    assert_eq!(t.starting("emergency", None, StartEvent::IncidentTime).count(), 0);
    assert!(
        t.get("authoritative_info").unwrap().stopped_by(&StopEvent::Publication("press_conference".into()))
    );
    assert!(
        !t.get("press_conference").unwrap().stopped_by(&StopEvent::Publication("authoritative_info".into()))
    );
}

#[test]
fn deadlines_and_warnings_of_a_clock() {
    let cal = shipped();
    let t = ClockTemplates::parse("clocks.toml", include_str!("../../../config/clocks.toml")).unwrap();
    let start = at("2024-09-27T10:00:00+08:00");
    let r = t.get("response").unwrap().deadline(&cal, &start, None, false).unwrap();
    assert_eq!(r.due, at("2024-09-29T10:00:00+08:00"), "48 h on the wall clock, weekend or not");
    assert_eq!(r.warnings, [at("2024-09-28T10:00:00+08:00"), at("2024-09-29T00:24:00+08:00")]);
    let i = t.get("interpretation").unwrap().deadline(&cal, &start, None, false).unwrap();
    assert_eq!(i.due, at("2024-10-08T23:59:59+08:00"));
    assert!(i.warnings.iter().all(|w| *w > start && *w < i.due));
    let req = t.get("information_request").unwrap();
    let plain = req.deadline(&cal, &start, None, false).unwrap().due;
    let extended = req.deadline(&cal, &start, None, true).unwrap().due;
    assert_eq!(extended, cal.working_days_deadline(&start, 40).unwrap());
    assert!(extended > plain);
    let ack = t.get("ack").unwrap().deadline(&cal, &start, Some(WarningLevel::Orange), false).unwrap();
    assert_eq!(ack.due, start + Duration::minutes(30));
}

#[test]
fn clock_config_errors_name_the_clock() {
    let bad = r#"
[[clock]]
id = "x"
name = "X"
hours = 2
working_days = 3
start = "case_opened"
stops_on = ["acknowledged"]

[[clock]]
id = "y"
name = "Y"
hours = 5
start = "incident_time"
stops_on = ["published"]
warnings = [0.8, 0.5]
"#;
    let err = ClockTemplates::parse("clocks.toml", bad).unwrap_err().to_string();
    for want in [
        "clocks.toml",
        "clock `x`: needs exactly one",
        "clock `y`: stops_on `published`",
        "ascending",
        "grades",
    ] {
        assert!(err.contains(want), "{err:?} should mention {want:?}");
    }
    let err = ClockTemplates::parse(
        "clocks.toml",
        "[[clock]]\nid = \"a\"\nname = \"A\"\nhours = 1\nstart = \"whenever\"\nstops_on = [\"closed\"]\n",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("whenever"), "{err}");
    let typos = "[[clock]]\nid = \"t\"\nname = \"T\"\nhours = 1\nkinds = [\"回应\", \"respons\"]\ngrades = [\"big\"]\nstart = \"case_opened\"\nstops_on = [\"publication:情况通报\", \"publication:\"]\n";
    let err = ClockTemplates::parse("clocks.toml", typos).unwrap_err().to_string();
    for want in [
        "`情况通报` is not a publication kind",
        "`` is not a publication kind",
        "`回应` is not a case kind id",
        "`respons` is not a case kind id",
        "`big` is not a grade id",
    ] {
        assert!(err.contains(want), "{err:?} should mention {want:?}");
    }
}

fn start_strategy() -> impl Strategy<Value = DateTime<FixedOffset>> {
    // Any minute from 2017-01-01 to 2026-09-30, Beijing time.
    let first = beijing().with_ymd_and_hms(2017, 1, 1, 0, 0, 0).unwrap();
    (0i64..(365 * 9 + 270) * 24 * 60).prop_map(move |m| first + Duration::minutes(m))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn working_day_deadlines_are_never_before_the_start_and_land_on_working_days(s in start_strategy(), n in 0u32..40) {
        let cal = shipped();
        let due = cal.working_days_deadline(&s, n).unwrap();
        prop_assert!(due >= s);
        if n > 0 {
            prop_assert!(due.date_naive() > s.date_naive(), "the starting day is not counted");
        }
        prop_assert!(cal.is_working_day(due.date_naive()).unwrap());
        prop_assert_eq!(due.format("%H:%M:%S").to_string(), "23:59:59");
        if n > 0 {
            prop_assert_eq!(cal.working_days_between(s.date_naive(), due.date_naive()).unwrap(), n);
        }
    }

    #[test]
    fn working_day_deadlines_are_monotonic_in_the_start(a in start_strategy(), b in start_strategy(), n in 0u32..40) {
        let cal = shipped();
        let (early, late) = if a <= b { (a, b) } else { (b, a) };
        prop_assert!(cal.working_days_deadline(&early, n).unwrap() <= cal.working_days_deadline(&late, n).unwrap());
    }

    #[test]
    fn working_day_deadlines_are_additive(s in start_strategy(), a in 1u32..20, b in 1u32..20) {
        let cal = shipped();
        let first = cal.working_days_deadline(&s, a).unwrap();
        prop_assert_eq!(cal.working_days_deadline(&first, b).unwrap(), cal.working_days_deadline(&s, a + b).unwrap());
    }

    #[test]
    fn hour_clocks_are_wall_clock_and_additive(s in start_strategy(), a in 1u32..5000, b in 1u32..5000) {
        let cal = shipped();
        let d = ClockKind::Minutes(a).deadline(&cal, &s).unwrap();
        prop_assert_eq!(d - s, Duration::minutes(i64::from(a)));
        prop_assert_eq!(ClockKind::Minutes(b).deadline(&cal, &d).unwrap(), ClockKind::Minutes(a + b).deadline(&cal, &s).unwrap());
    }
}

#[test]
fn every_day_kind_is_consistent_with_its_weekday() {
    let cal = shipped();
    let mut d = date("2017-01-01");
    while d.year() <= 2026 {
        let k = cal.day(d).unwrap();
        let weekend = matches!(d.weekday(), chrono::Weekday::Sat | chrono::Weekday::Sun);
        match k {
            DayKind::Workday => assert!(!weekend, "{d}"),
            DayKind::Weekend | DayKind::MakeupWorkday => assert!(weekend, "{d}"),
            DayKind::Holiday => {}
        }
        d = d.succ_opt().unwrap();
    }
}
