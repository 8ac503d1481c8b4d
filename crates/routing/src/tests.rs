#![allow(clippy::unwrap_used)]

use chrono::{DateTime, Duration, TimeZone, Utc};
use yuqing_domain::{Jurisdiction, NoticeKind, WarningLevel};

use crate::decide::StepTarget;
use crate::*;

const ROUTING: &str = include_str!("../../../config/routing.toml");
const DEPARTMENTS: &str = include_str!("../../../config/departments.toml");

fn units() -> Vec<UnitInfo> {
    #[derive(serde::Deserialize)]
    struct F {
        unit: Vec<yuqing_domain::Unit>,
    }
    let f: F = toml::from_str(DEPARTMENTS).unwrap();
    f.unit
        .into_iter()
        .map(|u| UnitInfo { name: u.name, full_name: u.full_name, jurisdiction: u.jurisdiction })
        .collect()
}

fn router() -> Router {
    Router::new(RoutingConfig::parse("config/routing.toml", ROUTING, &units()).unwrap())
}

/// Beijing time.
fn bj(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    chrono_tz::Asia::Shanghai.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap().with_timezone(&Utc)
}

fn unit(name: &str, role: UnitRole) -> IncidentUnit {
    let j = units().into_iter().find(|u| u.name == name).map(|u| u.jurisdiction).unwrap();
    IncidentUnit { name: name.into(), role, jurisdiction: j }
}

fn incident(level: WarningLevel, units: Vec<IncidentUnit>, townships: &[&str]) -> Incident {
    Incident {
        event_id: 1,
        level,
        units,
        topics: vec![],
        townships: townships.iter().map(|s| s.to_string()).collect(),
        source_types: vec!["forum".into()],
        local: true,
    }
}

fn receivers(d: &Decision) -> Vec<(String, String)> {
    d.notify.iter().map(|t| (t.receiver.clone(), t.route.clone())).collect()
}

#[test]
fn routing_table() {
    use UnitRole::*;
    use WarningLevel::*;
    let r = router();
    let now = bj(2026, 11, 25, 11, 0);
    struct Case {
        what: &'static str,
        incident: Incident,
        want: Vec<(&'static str, &'static str)>,
    }
    let cases = vec![
        Case {
            what: "blue heating complaint: the lead department only",
            incident: incident(Blue, vec![unit("住房和城乡建设局", Lead)], &[]),
            want: vec![("住房和城乡建设局", "departments/住房和城乡建设局")],
        },
        Case {
            what: "yellow: the press desk watches too",
            incident: incident(Yellow, vec![unit("住房和城乡建设局", Lead)], &[]),
            want: vec![("press-desk", "desk-watch"), ("住房和城乡建设局", "departments/住房和城乡建设局")],
        },
        Case {
            what: "red: county office and press desk copied, lead and co each notified once",
            incident: incident(
                Red,
                vec![
                    unit("住房和城乡建设局", Lead),
                    unit("应急管理局", Co),
                    unit("那拉提镇人民政府", Territorial),
                ],
                &["那拉提镇"],
            ),
            want: vec![
                ("county-office", "red-copies"),
                ("press-desk", "desk-watch"),
                ("住房和城乡建设局", "departments/住房和城乡建设局"),
                ("应急管理局", "emergency"),
                ("那拉提镇人民政府", "departments/那拉提镇人民政府"),
            ],
        },
        Case {
            what: "no unit at all: the press desk (root)",
            incident: incident(Blue, vec![], &[]),
            want: vec![("press-desk", "root")],
        },
        Case {
            what: "XPCC regiment: the press desk, for 转办",
            incident: incident(Blue, vec![unit("七十一团", Lead)], &[]),
            want: vec![("press-desk", "departments/七十一团")],
        },
        Case {
            what: "prefecture environment branch: the press desk, for 转办",
            incident: incident(Blue, vec![unit("生态环境局", Lead)], &[]),
            want: vec![("press-desk", "departments/生态环境局")],
        },
    ];
    for c in cases {
        let d = r.decide(&c.incident, &[], &[], now);
        let want: Vec<(String, String)> =
            c.want.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
        assert_eq!(receivers(&d), want, "{}", c.what);
        assert!(d.muted.is_empty(), "{}", c.what);
    }
}

#[test]
fn outside_jurisdiction_carries_a_transfer_note_and_department() {
    let r = router();
    let d = r.decide(
        &incident(WarningLevel::Blue, vec![unit("七十二团", UnitRole::Lead)], &[]),
        &[],
        &[],
        Utc::now(),
    );
    let t = &d.notify[0];
    assert_eq!(t.department.as_deref(), Some("七十二团"));
    let note = t.note.as_deref().unwrap();
    assert!(note.contains("转办") && note.contains("新疆生产建设兵团第四师七十二团"), "{note}");
    // a county department has no such note
    let d = r.decide(
        &incident(WarningLevel::Blue, vec![unit("教育局", UnitRole::Lead)], &[]),
        &[],
        &[],
        Utc::now(),
    );
    assert_eq!(d.notify[0].note, None);
}

#[test]
fn route_timing_is_inherited_and_overridden() {
    let r = router();
    let d = r.decide(
        &incident(WarningLevel::Blue, vec![unit("应急管理局", UnitRole::Lead)], &[]),
        &[],
        &[],
        Utc::now(),
    );
    assert_eq!(d.notify[0].route, "emergency");
    assert_eq!(d.notify[0].timing.group_interval, Duration::minutes(10));
    assert_eq!(d.notify[0].timing.repeat_interval, Duration::hours(1));
    let d = r.decide(
        &incident(WarningLevel::Blue, vec![unit("教育局", UnitRole::Lead)], &[]),
        &[],
        &[],
        Utc::now(),
    );
    assert_eq!(d.notify[0].timing.group_interval, Duration::minutes(30));
    assert_eq!(d.notify[0].timing.repeat_interval, Duration::hours(4));
}

#[test]
fn nested_routes_delegate_and_fall_back_to_the_parent() {
    let text = r#"
press_desk = "desk"
[receivers.desk]
roles = ["press"]
[receivers.night-desk]
roles = ["press"]
[[routes]]
name = "housing"
match = { department = ["住房和城乡建设局"] }
receiver = "住房和城乡建设局"
  [[routes.routes]]
  name = "heating"
  match = { topic = ["heating"] }
  receiver = "night-desk"
  continue = true
  [[routes.routes]]
  name = "heating-too"
  match = { topic = ["heating"] }
"#;
    // a child without a receiver inherits it: not allowed without children — check the error first
    let err = RoutingConfig::parse("t.toml", text, &units()).unwrap_err().to_string();
    assert!(err.contains("route housing/heating-too: has neither a receiver nor child routes"), "{err}");
    let text = text.replace(
        "  name = \"heating-too\"\n",
        "  name = \"heating-too\"\n  receiver = \"住房和城乡建设局\"\n",
    );
    let r = Router::new(RoutingConfig::parse("t.toml", &text, &units()).unwrap());
    let mut i = incident(WarningLevel::Blue, vec![unit("住房和城乡建设局", UnitRole::Lead)], &[]);
    i.topics = vec!["heating".into()];
    let d = r.decide(&i, &[], &[], Utc::now());
    assert_eq!(
        receivers(&d),
        vec![
            ("night-desk".to_string(), "housing/heating".to_string()),
            ("住房和城乡建设局".to_string(), "housing/heating-too".to_string())
        ]
    );
    i.topics = vec!["water".into()];
    let d = r.decide(&i, &[], &[], Utc::now());
    assert_eq!(receivers(&d), vec![("住房和城乡建设局".to_string(), "housing".to_string())]);
}

#[test]
fn config_errors_name_the_route_and_collect_everything() {
    let text = r#"
press_desk = "nobody"
[defaults]
repeat_interval = "often"
[[routes]]
name = "a"
match = { department = ["住建局"], level = "purple", role = ["boss"] }
receiver = "ghost"
[escalation]
red = [{ after = "30m", to = "head" }, { after = "15m", to = "nobody-either" }]
"#;
    let err = RoutingConfig::parse("routing.toml", text, &units()).unwrap_err().0;
    let all = err.join("\n");
    for want in [
        "press_desk \"nobody\" is not a receiver",
        "[defaults]: \"often\" is not a duration",
        "route a: match.department \"住建局\" is not a unit",
        "route a: match.level: unknown warning level \"purple\"",
        "route a: match.role \"boss\"",
        "route a: receiver \"ghost\"",
        "steps must come in increasing `after` order",
        "to = \"nobody-either\"",
    ] {
        assert!(all.contains(want), "missing {want:?} in\n{all}");
    }
    assert!(err.iter().all(|e| e.starts_with("routing.toml: ")));
    let unknown =
        RoutingConfig::parse("routing.toml", "press_desk = \"x\"\ncolour = 1\n", &units()).unwrap_err();
    assert!(unknown.to_string().contains("unknown field `colour`"), "{unknown}");
}

#[test]
fn a_red_event_inhibits_lower_alerts_on_its_topic_in_the_same_township_only() {
    let r = router();
    let now = bj(2026, 11, 25, 11, 0);
    let red = ActiveEvent {
        event_id: 9,
        level: WarningLevel::Red,
        townships: vec!["那拉提镇".into()],
        departments: vec!["文化体育广播电视和旅游局".into(), "那拉提旅游风景区管理委员会".into()],
        topics: vec!["nlt.scenic".into()],
    };
    let mut i =
        incident(WarningLevel::Yellow, vec![unit("文化体育广播电视和旅游局", UnitRole::Lead)], &["那拉提镇"]);
    i.event_id = 10;
    i.topics = vec!["nlt.scenic".into(), "ct.tourism".into()];
    let d = r.decide(&i, std::slice::from_ref(&red), &[], now);
    assert!(d.notify.is_empty());
    assert_eq!(d.muted.len(), 2);
    assert!(d.muted.iter().all(|m| m.reason == MuteReason::Inhibited { by_event: 9 }));
    // another township, another matter or another department: not inhibited
    i.townships = vec!["坎苏镇".into()];
    assert_eq!(r.decide(&i, std::slice::from_ref(&red), &[], now).notify.len(), 2);
    i.townships = vec!["那拉提镇".into()];
    i.topics = vec!["edu.fees".into()];
    assert_eq!(r.decide(&i, std::slice::from_ref(&red), &[], now).notify.len(), 2);
    i.topics = vec!["nlt.scenic".into()];
    let other = incident(WarningLevel::Yellow, vec![unit("市场监督管理局", UnitRole::Lead)], &["那拉提镇"]);
    let other = Incident { event_id: 11, topics: vec!["nlt.scenic".into()], ..other };
    assert!(
        r.decide(&other, std::slice::from_ref(&red), &[], now)
            .notify
            .iter()
            .any(|t| t.receiver == "市场监督管理局")
    );
    // the red event itself, and a red one in the same township, are not inhibited
    i.townships = vec!["那拉提镇".into()];
    i.level = WarningLevel::Red;
    assert!(r.decide(&i, std::slice::from_ref(&red), &[], now).muted.is_empty());
    let mut same = incident(WarningLevel::Red, vec![unit("教育局", UnitRole::Lead)], &["那拉提镇"]);
    same.topics = vec!["nlt.scenic".into()];
    same.event_id = 9;
    assert!(r.decide(&same, std::slice::from_ref(&red), &[], now).muted.is_empty());
    // an orange source does not inhibit (the rule needs red)
    let orange = ActiveEvent { level: WarningLevel::Orange, ..red };
    i.level = WarningLevel::Blue;
    assert!(r.decide(&i, &[orange], &[], now).muted.is_empty());
}

#[test]
fn silences_mute_what_they_match_while_active() {
    let r = router();
    let now = bj(2026, 11, 25, 11, 0);
    let s = Silence {
        id: 3,
        matchers: Matchers { department: vec!["教育局".into()], ..Matchers::default() },
        event_id: None,
        receiver: None,
        creator: "press-1".into(),
        reason: "已知的招生咨询高峰，统一答复中".into(),
        starts_at: now - Duration::hours(1),
        ends_at: now + Duration::hours(1),
    };
    let i = incident(WarningLevel::Yellow, vec![unit("教育局", UnitRole::Lead)], &[]);
    let d = r.decide(&i, &[], std::slice::from_ref(&s), now);
    // the 教育局 target is silenced; the press desk's watch is a different department-less match… it
    // was chosen for the 教育局 unit too, so it is silenced as well
    assert_eq!(d.notify.len(), 0);
    assert!(d.muted.iter().all(|m| m.reason == MuteReason::Silenced { silence_id: 3 }));
    // restricted to one receiver
    let only = Silence { receiver: Some("教育局".into()), ..s.clone() };
    let d = r.decide(&i, &[], std::slice::from_ref(&only), now);
    assert_eq!(receivers(&d), vec![("press-desk".to_string(), "desk-watch".to_string())]);
    // expired, or another department: not muted
    assert_eq!(r.decide(&i, &[], std::slice::from_ref(&s), now + Duration::hours(2)).notify.len(), 2);
    let other = incident(WarningLevel::Yellow, vec![unit("卫生健康委员会", UnitRole::Lead)], &[]);
    assert_eq!(r.decide(&other, &[], std::slice::from_ref(&s), now).notify.len(), 2);
    // restricted to another event
    let ev = Silence { event_id: Some(2), ..s };
    assert_eq!(r.decide(&i, &[], &[ev], now).notify.len(), 2);
}

#[test]
fn grouping_new_digest_repeat_upgrade() {
    use NoticeKind::*;
    let t = Timing {
        group_wait: Duration::seconds(30),
        group_interval: Duration::minutes(30),
        repeat_interval: Duration::hours(4),
    };
    let t0 = bj(2026, 11, 25, 11, 0);
    let fresh = AlertState {
        level: WarningLevel::Yellow,
        notified_level: None,
        created_at: t0,
        last_notified_at: None,
        new_posts: 0,
        acknowledged: false,
        resolved: false,
    };
    // group wait
    assert_eq!(next_notice(&fresh, &t, t0), (None, Some(t0 + Duration::seconds(30))));
    assert_eq!(next_notice(&fresh, &t, t0 + Duration::seconds(30)).0, Some(New));
    let sent = AlertState {
        notified_level: Some(WarningLevel::Yellow),
        last_notified_at: Some(t0),
        ..fresh.clone()
    };
    // 499 reposts arrive within the group interval: no notice until it has passed, then one digest
    let busy = AlertState { new_posts: 499, ..sent.clone() };
    assert_eq!(next_notice(&busy, &t, t0 + Duration::minutes(10)), (None, Some(t0 + Duration::minutes(30))));
    assert_eq!(next_notice(&busy, &t, t0 + Duration::minutes(30)).0, Some(Digest));
    // nothing new: repeat after 4 h while unacknowledged, never once acknowledged
    assert_eq!(next_notice(&sent, &t, t0 + Duration::hours(1)), (None, Some(t0 + Duration::hours(4))));
    assert_eq!(next_notice(&sent, &t, t0 + Duration::hours(4)).0, Some(Repeat));
    let acked = AlertState { acknowledged: true, ..sent.clone() };
    assert_eq!(next_notice(&acked, &t, t0 + Duration::hours(40)), (None, None));
    // acknowledged but new developments: the digest still goes out
    let acked_busy = AlertState { new_posts: 3, ..acked };
    assert_eq!(next_notice(&acked_busy, &t, t0 + Duration::minutes(31)).0, Some(Digest));
    // an upgrade re-notifies at once
    let up = AlertState { level: WarningLevel::Orange, ..sent.clone() };
    assert_eq!(next_notice(&up, &t, t0 + Duration::seconds(1)).0, Some(Upgrade));
    // a downgrade does not
    let down = AlertState { level: WarningLevel::Blue, ..sent };
    assert_eq!(next_notice(&down, &t, t0 + Duration::seconds(1)).0, None);
    // resolved: nothing, ever
    let done = AlertState { resolved: true, ..busy };
    assert_eq!(next_notice(&done, &t, t0 + Duration::days(3)), (None, None));
}

#[test]
fn escalation_chain_per_level() {
    let r = router();
    let t0 = bj(2026, 11, 25, 11, 0);
    use WarningLevel::*;
    assert_eq!(r.escalation_due(Red, t0, 0, t0 + Duration::minutes(14)), None);
    let (i, step) = r.escalation_due(Red, t0, 0, t0 + Duration::minutes(15)).unwrap();
    assert_eq!((i, &step.to), (0, &StepTarget::Head));
    assert_eq!(r.escalation_due(Red, t0, 1, t0 + Duration::minutes(29)), None);
    let (i, step) = r.escalation_due(Red, t0, 1, t0 + Duration::minutes(30)).unwrap();
    assert_eq!((i, &step.to), (1, &StepTarget::Receiver("leadership".into())));
    assert_eq!(r.escalation_due(Red, t0, 2, t0 + Duration::days(1)), None);
    assert_eq!(r.escalation_due(Blue, t0, 0, t0 + Duration::days(1)), None);
    assert_eq!(r.next_escalation_at(Orange, t0, 1), Some(t0 + Duration::hours(2)));
}

#[test]
fn office_hours_decide_who_is_woken() {
    let r = router();
    use WarningLevel::*;
    // Wednesday 11:00 Beijing: in office, everyone now
    let day = bj(2026, 11, 25, 11, 0);
    assert_eq!(r.not_before(Blue, false, day), day);
    // Wednesday 14:00: the lunch break; a yellow waits until 15:30
    let lunch = bj(2026, 11, 25, 14, 0);
    assert_eq!(r.not_before(Yellow, true, lunch), bj(2026, 11, 25, 15, 30));
    // Wednesday 23:00: an orange event wakes the night-duty official, not the others
    let night = bj(2026, 11, 25, 23, 0);
    assert_eq!(r.not_before(Orange, true, night), night);
    assert_eq!(r.not_before(Orange, false, night), bj(2026, 11, 26, 10, 0));
    assert_eq!(r.not_before(Yellow, true, night), bj(2026, 11, 26, 10, 0));
    // Friday 20:00: next window is Monday 10:00
    assert_eq!(r.not_before(Blue, false, bj(2026, 11, 27, 20, 0)), bj(2026, 11, 30, 10, 0));
    // window edges: 19:30 is closed, 10:00 open
    let h = &r.config.office_hours;
    assert!(!h.contains(bj(2026, 11, 25, 19, 30)));
    assert!(h.contains(bj(2026, 11, 25, 10, 0)));
    assert!(h.contains(bj(2026, 11, 25, 13, 29)));
    assert!(!h.contains(bj(2026, 11, 28, 11, 0)), "Saturday");
}

#[test]
fn office_hours_config_is_checked() {
    for (days, windows, want) in [
        (vec!["mon"], vec!["13:30-10:00"], "start before end"),
        (vec!["mon"], vec!["10:00-13:30", "13:00-15:00"], "overlap"),
        (vec!["monday?"], vec!["10:00-13:30"], "not a weekday"),
        (vec![], vec!["10:00-13:30"], "at least one day"),
    ] {
        let days: Vec<String> = days.into_iter().map(String::from).collect();
        let windows: Vec<String> = windows.into_iter().map(String::from).collect();
        let err = OfficeHours::parse("Asia/Shanghai", &days, &windows).unwrap_err();
        assert!(err.contains(want), "{err}");
    }
    assert!(OfficeHours::parse("Mars/Olympus", &["mon".into()], &["10:00-11:00".into()]).is_err());
}

#[test]
fn directory_resolves_receivers_and_heads() {
    let r = router();
    let text = r#"
[[official]]
id = "zjj-1"
name = "住建联络员"
unit = "住房和城乡建设局"
role = "officer"
contacts = [{ channel = "sms", to = "13800000001" }]
[[official]]
id = "zjj-head"
name = "住建局长"
unit = "住房和城乡建设局"
role = "head"
night = true
[[official]]
id = "xcb-1"
name = "宣传部值班员"
unit = "宣传部"
role = "press"
[[official]]
id = "leader-1"
name = "副县长"
unit = "县人民政府办公室"
role = "leader"
[[group]]
unit = "住房和城乡建设局"
channel = "wecom-zjj"
"#;
    let channels = ["sms".to_string(), "wecom-zjj".to_string()].into_iter().collect();
    let dir = Directory::parse("officials.toml", text, &units(), &channels).unwrap();
    let m = dir.members(&r.config, "住房和城乡建设局");
    assert_eq!(m.officials.iter().map(|o| o.id.as_str()).collect::<Vec<_>>(), vec!["zjj-1"]);
    assert_eq!(m.groups.len(), 1);
    let heads = dir.heads(&r.config, "住房和城乡建设局");
    assert_eq!(heads.officials.iter().map(|o| o.id.as_str()).collect::<Vec<_>>(), vec!["zjj-head"]);
    let desk = dir.members(&r.config, "press-desk");
    assert_eq!(desk.officials.iter().map(|o| o.id.as_str()).collect::<Vec<_>>(), vec!["xcb-1"]);
    let lead = dir.members(&r.config, "leadership");
    assert_eq!(lead.officials.iter().map(|o| o.id.as_str()).collect::<Vec<_>>(), vec!["leader-1"]);
    let county = dir.members(&r.config, "county-office");
    assert_eq!(county.officials.iter().map(|o| o.id.as_str()).collect::<Vec<_>>(), vec!["leader-1"]);
    // unknown unit and unconfigured channel are errors
    let bad = text.replace("unit = \"宣传部\"", "unit = \"网宣办\"").replace("\"wecom-zjj\"", "\"wecom-x\"");
    let err = Directory::parse("officials.toml", &bad, &units(), &channels).unwrap_err().to_string();
    assert!(err.contains("unit \"网宣办\"") && err.contains("channel \"wecom-x\""), "{err}");
    assert!(Jurisdiction::Xpcc != Jurisdiction::County);
}
