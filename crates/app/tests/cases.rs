//! `yuqing case …` end to end on SQLite: the workflow through the domain state machine, the
//! publication check and review gate refusing, clocks started and stopped, overdue cases, the
//! audit chain and the performance report.

mod common;

use common::{root, text, yuqing};

fn run(args: &[&str], data: &str) -> std::process::Output {
    let mut v: Vec<&str> = args.to_vec();
    v.extend(["--data", data]);
    yuqing(&v, None, &root())
}

fn ok(args: &[&str], data: &str) -> String {
    let out = run(args, data);
    assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
    text(&out.stdout)
}

#[test]
fn a_case_from_opening_to_publication_with_the_gate_refusing_on_the_way() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().to_str().unwrap();
    // Received two hours ago: its 1 h 签收 clock is already overdue.
    let received = (chrono::Utc::now() - chrono::Duration::hours(2))
        .with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap())
        .format("%Y-%m-%d %H:%M")
        .to_string();
    let opened = ok(
        &[
            "case",
            "open",
            "--kind",
            "留言答复",
            "--department",
            "住房和城乡建设局",
            "--title",
            "小区停暖三天无人管",
            "--origin",
            "12345热线",
            "--received-at",
            &received,
        ],
        data,
    );
    assert!(
        opened.contains("case #1 opened") && opened.contains("签收") && opened.contains("留言答复"),
        "{opened}"
    );
    assert!(opened.contains("15 working days"), "{opened}");
    let overdue = ok(&["cases", "--overdue"], data);
    assert!(overdue.contains("#1") && overdue.contains("超时"), "{overdue}");

    // Out of order: refused by the state machine, with the state named.
    let out =
        run(&["case", "publish", "1", "--kind", "reply", "--url", "https://www.xinyuan.gov.cn/a.html"], data);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("待签收"), "{}", text(&out.stderr));
    // Dismissing is the press office's call, and needs a reason.
    let out = run(&["case", "dismiss", "1", "--reason", "重复", "--role", "department_officer"], data);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));

    ok(&["case", "ack", "1", "--by", "王芳"], data);
    assert!(ok(&["cases", "--overdue"], data).is_empty(), "签收 stops the overdue clock");
    ok(&["case", "assess", "1"], data);
    ok(&["case", "draft", "1", "--text", "您好，供热已恢复。如有问题请联系13812345678。"], data);
    ok(&["case", "submit", "1"], data);
    // Publishing before the review: refused.
    let out =
        run(&["case", "publish", "1", "--kind", "reply", "--url", "https://www.xinyuan.gov.cn/a.html"], data);
    assert_eq!(out.status.code(), Some(2));
    // A reviewer approves, but the text carries a phone number: the check refuses.
    ok(
        &[
            "case",
            "review",
            "1",
            "--approve",
            "--basis",
            "保密审查制度",
            "--by",
            "李审",
            "--role",
            "reviewer",
        ],
        data,
    );
    let out =
        run(&["case", "publish", "1", "--kind", "reply", "--url", "https://www.xinyuan.gov.cn/a.html"], data);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("publication check") && err.contains("138****5678"), "{err}");
    assert!(!err.contains("13812345678"), "personal data is masked in messages: {err}");
    // A new draft needs a new review.
    ok(&["case", "draft", "1", "--text", "您好，经县住房和城乡建设局协调，供热已于今日全部恢复。"], data);
    ok(&["case", "submit", "1"], data);
    let out =
        run(&["case", "publish", "1", "--kind", "reply", "--url", "https://www.xinyuan.gov.cn/a.html"], data);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("sign-off") || text(&out.stderr).contains("保密审查"),
        "{}",
        text(&out.stderr)
    );
    ok(
        &[
            "case",
            "review",
            "1",
            "--approve",
            "--basis",
            "保密审查制度",
            "--by",
            "李审",
            "--role",
            "reviewer",
        ],
        data,
    );
    let published =
        ok(&["case", "publish", "1", "--kind", "reply", "--url", "https://www.xinyuan.gov.cn/a.html"], data);
    assert!(published.contains("已发布"), "{published}");
    let show = ok(&["case", "show", "1"], data);
    assert!(show.contains("stopped") && show.contains("发布 答复"), "{show}");
    ok(&["case", "close", "1"], data);
    assert!(ok(&["cases"], data).is_empty(), "closed cases leave the open list");

    let verify = ok(&["audit", "verify"], data);
    assert!(verify.contains("chain intact"), "{verify}");
    let month = chrono::Utc::now()
        .with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap())
        .format("%Y-%m")
        .to_string();
    let csv = ok(&["report", "performance", "--month", &month, "--format", "csv"], data);
    let line = csv.lines().find(|l| l.starts_with("住房和城乡建设局,")).unwrap_or_else(|| panic!("{csv}"));
    // 1 case; 签收 late (0 of 1 on time); the reply on time; closed, but a counted clock breached
    // only if the ticker ran — here it did not, so the late 签收 counts as overdue.
    assert!(line.starts_with("住房和城乡建设局,1,0,1,1,1,"), "{line}");
}

#[test]
fn the_incident_grade_starts_the_emergency_clocks() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().to_str().unwrap();
    ok(
        &["case", "open", "--kind", "突发事件", "--department", "应急管理局", "--title", "那拉提镇山体滑坡"],
        data,
    );
    let out = run(
        &[
            "case",
            "grade",
            "1",
            "--grade",
            "重大",
            "--incident-at",
            "2026-12-07 08:00",
            "--role",
            "department_officer",
        ],
        data,
    );
    assert_eq!(out.status.code(), Some(2), "only a press officer or a leader grades");
    let graded = ok(
        &["case", "grade", "1", "--grade", "重大", "--incident-at", "2026-12-07 08:00", "--role", "leader"],
        data,
    );
    assert!(graded.contains("2 clock(s) started"), "{graded}");
    let show = ok(&["case", "show", "1"], data);
    assert!(show.contains("权威信息发布") && show.contains("due 2026-12-07 13:00"), "{show}");
    assert!(show.contains("新闻发布会") && show.contains("due 2026-12-08 08:00"), "{show}");
    // 一般 starts nothing.
    ok(&["case", "open", "--kind", "突发事件", "--department", "应急管理局", "--title", "小事故"], data);
    let graded = ok(
        &["case", "grade", "2", "--grade", "一般", "--incident-at", "2026-12-07 08:00", "--role", "leader"],
        data,
    );
    assert!(graded.contains("0 clock(s) started"), "{graded}");
}

#[test]
fn an_information_request_is_extended_once_by_20_working_days() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().to_str().unwrap();
    // Received Fri 2024-09-27 10:00: 20 working days → Wed 2024-10-30 (National Day's seven days
    // off and its two make-up days counted by the calendar); 40 → Wed 2024-11-27.
    let opened = ok(
        &[
            "case",
            "open",
            "--kind",
            "依申请公开",
            "--department",
            "自然资源局",
            "--title",
            "申请公开征地补偿标准",
            "--received-at",
            "2024-09-27 10:00",
        ],
        data,
    );
    assert!(opened.contains("依申请公开答复") && opened.contains("due 2024-10-30 23:59"), "{opened}");
    let out = run(&["case", "extend", "1", "--reason", ""], data);
    assert_eq!(out.status.code(), Some(2));
    let extended = ok(&["case", "extend", "1", "--reason", "需征求第三方意见（条例第三十三条）"], data);
    assert!(extended.contains("extended to 2024-11-27 23:59"), "{extended}");
    let out = run(&["case", "extend", "1", "--reason", "再次延期"], data);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("extended already"), "{}", text(&out.stderr));
    assert!(ok(&["audit", "verify"], data).contains("chain intact"));
}

#[test]
fn manual_actions_outside_cases_are_audited_too() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().to_str().unwrap();
    ok(
        &[
            "event",
            "open",
            "--title",
            "电话反映停暖",
            "--source",
            "12345",
            "--text",
            "小区停暖",
            "--department",
            "住房和城乡建设局",
            "--by",
            "值班员",
        ],
        data,
    );
    ok(&["silence", "add", "--event", "1", "--by", "值班员", "--reason", "已电话联系住建局"], data);
    ok(&["silence", "expire", "1"], data);
    let verify = ok(&["audit", "verify"], data);
    assert!(verify.contains("3 rows, chain intact"), "{verify}");
}
