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

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    for e in std::fs::read_dir(from).expect("readable folder") {
        let p = e.expect("readable entry").path();
        let dest = to.join(p.file_name().expect("a file name"));
        if p.is_dir() {
            std::fs::create_dir_all(&dest).expect("folder created");
            copy_dir(&p, &dest);
        } else {
            std::fs::copy(&p, &dest).expect("file copied");
        }
    }
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
    // Received on a fixed past day (a deadline computed from "now" would one day run into a year
    // the shipped calendar does not cover yet): its 1 h 签收 clock is overdue.
    let received = "2026-11-02 09:00".to_owned();
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
    let show = ok(&["case", "show", "1"], data);
    assert!(show.contains("(签收)") && show.contains("stopped"), "签收 stops the ack clock: {show}");
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
    let show = ok(&["case", "show", "1"], data);
    assert!(!show.contains("剩 ") && !show.contains("超时 "), "no clock runs after 办结: {show}");
    // Reopened: the reply clock runs a new cycle from now.
    ok(&["case", "reopen", "1", "--reason", "群众再次反映"], data);
    let show = ok(&["case", "show", "1"], data);
    assert!(show.contains("留言答复（第2轮）") && show.contains("剩 "), "{show}");
    ok(&["case", "close", "1", "--note", "已再次答复"], data);

    let verify = ok(&["audit", "verify"], data);
    assert!(verify.contains("chain intact"), "{verify}");
    let month = "2026-11".to_owned();
    let csv = ok(&["report", "performance", "--month", &month, "--format", "csv"], data);
    let line = csv.lines().find(|l| l.starts_with("住房和城乡建设局,")).unwrap_or_else(|| panic!("{csv}"));
    // 1 case; 签收 late (0 of 1 on time); the reply on time; closed, but a counted clock breached
    // only if the ticker ran — here it did not, so the late 签收 counts as overdue.
    // 1 case; 签收 late (0 of 1 on time); the reply published after its 15 working days, then
    // its second cycle closed in time (1 of 2); closed with no breach recorded (the ticker did
    // not run here).
    assert!(line.starts_with("住房和城乡建设局,1,0,1,1,2,1,1,"), "{line}");
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
fn an_information_request_is_extended_once_before_its_deadline() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().to_str().unwrap();
    // Received Fri 2024-09-27 10:00: 20 working days → Wed 2024-10-30 (National Day's seven days
    // off and its two make-up days counted by the calendar). That deadline is past: an extension
    // is decided within the period, so it is refused.
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
    let out = run(&["case", "extend", "1", "--reason", "需征求第三方意见"], data);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("ran out"), "{}", text(&out.stderr));
    // Received now, in a configuration whose calendar also has a (test-only) 2027 file, so the
    // 20 and 40 working days can run into the new year: extended once.
    let cfg = tempfile::tempdir().unwrap();
    copy_dir(&root().join("config"), cfg.path());
    std::fs::write(
        cfg.path().join("calendar/2027.csv"),
        "date,kind,name\n2027-01-01,holiday,New Year's Day\n2027-01-02,holiday,New Year's Day\n2027-01-03,holiday,New Year's Day\n",
    )
    .unwrap();
    let c = cfg.path().to_str().unwrap();
    let with = |args: &[&str]| {
        let mut v = vec!["--config", c];
        v.extend(args);
        v.extend(["--data", data]);
        yuqing(&v, None, &root())
    };
    let out = with(&[
        "case",
        "open",
        "--kind",
        "依申请公开",
        "--department",
        "自然资源局",
        "--title",
        "申请公开规划批复",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = with(&["case", "extend", "2", "--reason", ""]);
    assert_eq!(out.status.code(), Some(2));
    let out = with(&["case", "extend", "2", "--reason", "需征求第三方意见（条例第三十三条）"]);
    assert!(out.status.success() && text(&out.stdout).contains("extended to"), "{}", text(&out.stderr));
    let out = with(&["case", "extend", "2", "--reason", "再次延期"]);
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
