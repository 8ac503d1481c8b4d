#![allow(clippy::unwrap_used)]

use chrono::{DateTime, Duration, FixedOffset, TimeZone};

use crate::case::{Refusal, allowed, may};
use crate::*;

const POLICY: &str = include_str!("../../../config/publication.toml");
const DEPARTMENTS: &str = include_str!("../../../config/departments.toml");

const DRAFT: &str = "关于那拉提镇停水问题的情况通报：县水利局已组织抢修，预计今日18时恢复供水。";
const DRAFT_2: &str = "关于那拉提镇停水问题的情况通报（更新）：管道已修复，今日16时起恢复供水。";

fn at(minutes: i64) -> DateTime<FixedOffset> {
    FixedOffset::east_opt(8 * 3600).unwrap().with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap()
        + Duration::minutes(minutes)
}

fn user(role: Role) -> Actor {
    let id = match role {
        Role::Admin => 1,
        Role::PressOfficer => 2,
        Role::DepartmentOfficer => 3,
        Role::Reviewer => 4,
        Role::Leader => 5,
    };
    Actor::User { id, name: format!("{}{id}", role.label()), role }
}

fn official() -> Actor {
    Actor::Official { id: "water-head".into(), name: "水利局局长".into() }
}

fn all_actors() -> Vec<Actor> {
    let mut v: Vec<Actor> = Role::ALL.iter().map(|&r| user(r)).collect();
    v.push(official());
    v.push(Actor::System);
    v
}

fn policy() -> PublicationPolicy {
    PublicationPolicy::parse("config/publication.toml", POLICY).unwrap()
}

fn approve(minutes: i64) -> Transition {
    Transition::Review(
        ReviewSignOff::new(
            "王审核",
            "《保守国家秘密法》；县保密审查制度",
            ReviewResult::Approved,
            at(minutes),
        )
        .unwrap(),
    )
}

fn reject(minutes: i64) -> Transition {
    let result = ReviewResult::Rejected { reason: "恢复时间未经核实".into() };
    Transition::Review(ReviewSignOff::new("王审核", "县保密审查制度", result, at(minutes)).unwrap())
}

fn publish(check: PassedCheck, minutes: i64) -> Transition {
    let publication = Publication::new(
        PublicationKind::AuthoritativeInfo,
        "https://www.xinyuan.gov.cn/info/1001.html",
        at(minutes),
    )
    .unwrap();
    Transition::Publish { check, publication }
}

/// The next minute after the case's last history entry.
fn next(c: &Case) -> i64 {
    10 * (c.history().len() as i64 + 1)
}

fn step(c: &mut Case, t: Transition, actor: &Actor) -> Applied {
    let m = next(c);
    c.apply(t, actor, at(m)).unwrap()
}

fn new_case() -> Case {
    let mut c = Case::open(7, CaseKind::Response, "water", "那拉提镇停水三天", at(0));
    c.event_id = Some(42);
    c
}

/// A case brought to `state` through real transitions. In 待审核 it carries an approved sign-off.
fn case_in(state: CaseState) -> Case {
    let press = user(Role::PressOfficer);
    let dept = user(Role::DepartmentOfficer);
    let mut c = new_case();
    match state {
        CaseState::Dismissed => {
            step(&mut c, Transition::Dismiss { reason: "重复投诉，已在工单 3 处理".into() }, &press);
            return c;
        }
        CaseState::Merged => {
            step(&mut c, Transition::Merge { into: 3 }, &press);
            return c;
        }
        _ => {}
    }
    let p = policy();
    while c.state() != state {
        match c.state() {
            CaseState::Pending => step(&mut c, Transition::Acknowledge, &dept),
            CaseState::Acknowledged => step(&mut c, Transition::Assess, &dept),
            CaseState::Assessing => step(&mut c, Transition::Draft { text: DRAFT.into() }, &dept),
            CaseState::Drafting => {
                step(&mut c, Transition::Submit, &dept);
                let m = next(&c);
                step(&mut c, approve(m), &user(Role::Reviewer))
            }
            CaseState::InReview => {
                let m = next(&c);
                step(&mut c, publish(p.check(DRAFT).unwrap(), m), &dept)
            }
            CaseState::Published => step(&mut c, Transition::Close { note: None }, &dept),
            other => panic!("no path through {other}"),
        };
    }
    c
}

/// A valid payload for `name` on `c`, and an actor allowed to apply it from every state the
/// table allows.
fn sample(name: TransitionName, c: &Case, p: &PublicationPolicy) -> (Transition, Actor) {
    let dept = user(Role::DepartmentOfficer);
    let press = user(Role::PressOfficer);
    let m = next(c);
    match name {
        TransitionName::Acknowledge => (Transition::Acknowledge, dept),
        TransitionName::Assess => (Transition::Assess, dept),
        TransitionName::Draft => (Transition::Draft { text: DRAFT_2.into() }, dept),
        TransitionName::Submit => (Transition::Submit, dept),
        TransitionName::Review => (approve(m), user(Role::Reviewer)),
        TransitionName::Publish => {
            let text = c.draft().map_or(DRAFT, |d| d.text());
            (publish(p.check(text).unwrap(), m), dept)
        }
        TransitionName::Close => (Transition::Close { note: Some("已当面答复投诉人".into()) }, press),
        TransitionName::Dismiss => (Transition::Dismiss { reason: "非本县事务".into() }, press),
        TransitionName::Merge => (Transition::Merge { into: 3 }, press),
        TransitionName::Reopen => (Transition::Reopen { reason: "二次舆情".into() }, press),
    }
}

/// The transition table, written out independently of the code: (from, transition, to).
const TABLE: &[(CaseState, TransitionName, CaseState)] = {
    use CaseState::*;
    use TransitionName as T;
    &[
        (Pending, T::Acknowledge, Acknowledged),
        (Acknowledged, T::Assess, Assessing),
        (Assessing, T::Draft, Drafting),
        (Drafting, T::Draft, Drafting),
        (InReview, T::Draft, Drafting),
        (Drafting, T::Submit, InReview),
        (InReview, T::Review, InReview),
        (InReview, T::Publish, Published),
        (Acknowledged, T::Close, Closed),
        (Assessing, T::Close, Closed),
        (Published, T::Close, Closed),
        (Pending, T::Dismiss, Dismissed),
        (Acknowledged, T::Dismiss, Dismissed),
        (Assessing, T::Dismiss, Dismissed),
        (Drafting, T::Dismiss, Dismissed),
        (InReview, T::Dismiss, Dismissed),
        (Pending, T::Merge, Merged),
        (Acknowledged, T::Merge, Merged),
        (Assessing, T::Merge, Merged),
        (Drafting, T::Merge, Merged),
        (InReview, T::Merge, Merged),
        (Published, T::Reopen, Assessing),
        (Closed, T::Reopen, Assessing),
    ]
};

fn expected(state: CaseState, name: TransitionName) -> Option<CaseState> {
    TABLE.iter().find(|&&(f, n, _)| f == state && n == name).map(|&(_, _, to)| to)
}

#[test]
fn every_state_and_transition_pair_follows_the_table() {
    let p = policy();
    let mut succeeded = 0;
    let mut refused = 0;
    for &state in CaseState::ALL {
        for &name in TransitionName::ALL {
            assert_eq!(allowed(state, name), expected(state, name).is_some(), "{state} × {name}");
            let mut c = case_in(state);
            assert_eq!(c.state(), state);
            let before = c.clone();
            let (t, actor) = sample(name, &c, &p);
            let m = next(&c);
            match (c.apply(t, &actor, at(m)), expected(state, name)) {
                (Ok(applied), Some(to)) => {
                    assert_eq!((applied.from, applied.to, applied.transition), (state, to, name));
                    assert_eq!(c.state(), to);
                    let last = c.history().last().unwrap();
                    assert_eq!((last.from, last.to, &last.actor), (state, to, &actor));
                    assert_eq!(last.note, applied.note);
                    succeeded += 1;
                }
                (Err(e), None) => {
                    assert_eq!(e.refusal, Refusal::State, "{e}");
                    assert_eq!((e.state, e.transition, e.case), (state, name, 7));
                    let msg = e.to_string();
                    assert!(msg.contains(state.label()) && msg.contains("case 7"), "{msg}");
                    assert!(msg.starts_with(&format!("cannot {} ", name.as_str())), "{msg}");
                    assert_eq!(c, before, "a refused transition changes nothing");
                    refused += 1;
                }
                (Ok(a), None) => panic!("{state} × {name} should be refused, got {a:?}"),
                (Err(e), Some(_)) => panic!("{state} × {name} should succeed: {e}"),
            }
        }
    }
    assert_eq!(succeeded, TABLE.len());
    assert_eq!(succeeded + refused, CaseState::ALL.len() * TransitionName::ALL.len());
}

#[test]
fn refusal_message_names_case_state_and_rule() {
    let mut c = case_in(CaseState::Assessing);
    let check = policy().check(DRAFT).unwrap();
    let e = c.apply(publish(check, 100), &user(Role::DepartmentOfficer), at(100)).unwrap_err();
    assert_eq!(e.to_string(), "cannot publish case 7 in 研判中: only a case in 待审核 can be published");
    let e = case_in(CaseState::Merged).apply(Transition::Assess, &user(Role::Admin), at(100)).unwrap_err();
    assert_eq!(e.to_string(), "cannot assess case 7 in 合并: only a case in 已签收 can be assessed");
}

#[test]
fn only_the_allowed_actors_may_apply_each_transition() {
    let p = policy();
    for &(state, name, _) in TABLE {
        for actor in all_actors() {
            let mut c = case_in(state);
            let before = c.clone();
            let (t, _) = sample(name, &c, &p);
            let m = next(&c);
            let result = c.apply(t, &actor, at(m));
            if may(&actor, name, state) {
                assert!(result.is_ok(), "{actor} {state} × {name}: {result:?}");
            } else {
                let e = result.unwrap_err();
                assert_eq!(e.refusal, Refusal::Role, "{e}");
                assert!(e.to_string().contains(&actor.to_string()), "{e}");
                assert_eq!(c, before);
            }
        }
    }
}

#[test]
fn role_table_spot_checks() {
    use CaseState as S;
    use TransitionName as T;
    let (admin, press, dept) = (user(Role::Admin), user(Role::PressOfficer), user(Role::DepartmentOfficer));
    let (reviewer, leader) = (user(Role::Reviewer), user(Role::Leader));
    // 不予处理 and 合并: press officer (and admin) only.
    for name in [T::Dismiss, T::Merge] {
        assert!(may(&press, name, S::Pending) && may(&admin, name, S::Pending));
        for a in [&dept, &reviewer, &leader, &official(), &Actor::System] {
            assert!(!may(a, name, S::Pending), "{a} {name}");
        }
    }
    // The review: reviewer, admin, leader; never the drafting side.
    assert!(may(&reviewer, T::Review, S::InReview) && may(&leader, T::Review, S::InReview));
    assert!(may(&admin, T::Review, S::InReview));
    assert!(!may(&dept, T::Review, S::InReview) && !may(&press, T::Review, S::InReview));
    // A reviewer neither drafts nor publishes.
    assert!(!may(&reviewer, T::Draft, S::Drafting) && !may(&reviewer, T::Publish, S::InReview));
    // The system only reopens; an official only acknowledges.
    for &name in TransitionName::ALL {
        assert_eq!(may(&Actor::System, name, S::Published), name == T::Reopen, "{name}");
        assert_eq!(may(&official(), name, S::Pending), name == T::Acknowledge, "{name}");
    }
    // Closing after publication is the department's; without one, the press officer's.
    assert!(may(&dept, T::Close, S::Published));
    assert!(!may(&dept, T::Close, S::Assessing) && may(&press, T::Close, S::Assessing));

    let mut c = case_in(S::Pending);
    let e = c.apply(Transition::Dismiss { reason: "非本县事务".into() }, &dept, at(50)).unwrap_err();
    assert_eq!(e.refusal, Refusal::Role);
    assert_eq!(c.state(), S::Pending);
    assert!(c.apply(Transition::Acknowledge, &official(), at(50)).is_ok());
    assert_eq!(c.history()[0].actor, official());
}

#[test]
fn system_reopens_a_published_case_for_secondary_opinion() {
    let mut c = case_in(CaseState::Published);
    let a = c
        .apply(Transition::Reopen { reason: "二次舆情：转发量激增".into() }, &Actor::System, at(500))
        .unwrap();
    assert_eq!((a.from, a.to), (CaseState::Published, CaseState::Assessing));
    assert!(a.note.contains("二次舆情"), "{}", a.note);
    assert!(c.sign_off().is_none(), "reopening clears the sign-off");
    assert_eq!(c.publications().len(), 1, "the first publication stays on record");
    // Reopening needs a reason.
    let mut c = case_in(CaseState::Closed);
    let e = c.apply(Transition::Reopen { reason: " ".into() }, &Actor::System, at(500)).unwrap_err();
    assert_eq!(e.refusal, Refusal::Input);
}

/// A case in 待审核 with DRAFT submitted and not yet reviewed.
fn submitted() -> Case {
    let mut c = case_in(CaseState::Drafting);
    step(&mut c, Transition::Submit, &user(Role::DepartmentOfficer));
    assert_eq!(c.state(), CaseState::InReview);
    c
}

#[test]
fn publish_is_refused_without_a_sign_off() {
    let mut c = submitted();
    let check = policy().check(DRAFT).unwrap();
    let e = c.apply(publish(check, 200), &user(Role::PressOfficer), at(200)).unwrap_err();
    assert_eq!(e.refusal, Refusal::Proof);
    assert!(e.to_string().contains("no 保密审查 sign-off"), "{e}");
    assert_eq!(c.state(), CaseState::InReview);
    assert!(c.publications().is_empty());
}

#[test]
fn a_rejected_review_sends_the_draft_back_and_blocks_publication() {
    let dept = user(Role::DepartmentOfficer);
    let mut c = submitted();
    // 退回: back to drafting, the rejection recorded with the revision it saw.
    let m = next(&c);
    let a = step(&mut c, reject(m), &user(Role::Reviewer));
    assert_eq!((a.from, a.to), (CaseState::InReview, CaseState::Drafting));
    assert!(a.note.contains("退回") && a.note.contains("恢复时间未经核实"), "{}", a.note);
    let signed = c.sign_off().unwrap();
    assert!(!signed.sign_off.is_approved());
    assert_eq!(signed.draft_revision, 1);
    // Submitting the same text again does not make the rejection go away.
    step(&mut c, Transition::Submit, &dept);
    let check = policy().check(DRAFT).unwrap();
    let m = next(&c);
    let e = c.apply(publish(check, m), &dept, at(m)).unwrap_err();
    assert_eq!(e.refusal, Refusal::Proof);
    assert!(e.to_string().contains("rejected"), "{e}");
    assert_eq!(c.state(), CaseState::InReview);
}

#[test]
fn publish_is_refused_with_a_check_of_another_draft() {
    let mut c = case_in(CaseState::InReview);
    assert!(c.sign_off().unwrap().sign_off.is_approved());
    let other = policy().check(DRAFT_2).unwrap();
    let m = next(&c);
    let e = c.apply(publish(other, m), &user(Role::DepartmentOfficer), at(m)).unwrap_err();
    assert_eq!(e.refusal, Refusal::Proof);
    assert!(e.to_string().contains("publication check"), "{e}");
    assert!(c.publications().is_empty());
}

#[test]
fn publish_is_refused_after_the_draft_changed_post_review() {
    let p = policy();
    let dept = user(Role::DepartmentOfficer);
    let mut c = case_in(CaseState::InReview);
    let old_check = p.check(DRAFT).unwrap();
    // Editing under review withdraws the draft: a new revision, the sign-off gone.
    let a = step(&mut c, Transition::Draft { text: DRAFT_2.into() }, &dept);
    assert_eq!((a.from, a.to), (CaseState::InReview, CaseState::Drafting));
    assert!(a.note.contains("撤回审核"), "{}", a.note);
    assert_eq!(c.draft().unwrap().revision(), 2);
    assert!(c.sign_off().is_none());
    step(&mut c, Transition::Submit, &dept);
    // Neither the old check nor a fresh one suffices without a new review.
    for check in [old_check.clone(), p.check(DRAFT_2).unwrap()] {
        let m = next(&c);
        let e = c.apply(publish(check, m), &dept, at(m)).unwrap_err();
        assert_eq!(e.refusal, Refusal::Proof, "{e}");
    }
    let m = next(&c);
    step(&mut c, approve(m), &user(Role::Reviewer));
    // Reviewed now, but the old check is of the old text.
    let m = next(&c);
    let e = c.apply(publish(old_check, m), &dept, at(m)).unwrap_err();
    assert!(e.to_string().contains("not of draft revision 2"), "{e}");
    let m = next(&c);
    let a = c.apply(publish(p.check(DRAFT_2).unwrap(), m), &dept, at(m)).unwrap();
    assert_eq!(a.to, CaseState::Published);
    assert_eq!(c.publications()[0].url(), "https://www.xinyuan.gov.cn/info/1001.html");
}

#[test]
fn publication_must_follow_the_sign_off_and_not_lie_in_the_future() {
    let dept = user(Role::DepartmentOfficer);
    let mut c = case_in(CaseState::InReview);
    let signed_at = c.sign_off().unwrap().sign_off.at();
    let check = policy().check(DRAFT).unwrap();
    let early = Publication::new(
        PublicationKind::Response,
        "http://xinyuan.gov.cn/a",
        signed_at - Duration::minutes(1),
    );
    let e = c
        .apply(Transition::Publish { check: check.clone(), publication: early.unwrap() }, &dept, at(500))
        .unwrap_err();
    assert!(e.to_string().contains("先审查、后公开"), "{e}");
    let future = Publication::new(PublicationKind::Response, "http://xinyuan.gov.cn/a", at(600)).unwrap();
    let e = c.apply(Transition::Publish { check, publication: future }, &dept, at(500)).unwrap_err();
    assert_eq!(e.refusal, Refusal::Input);
    assert_eq!(c.state(), CaseState::InReview);
}

#[test]
fn the_full_return_path_ends_closed_with_an_audit_trail() {
    let p = policy();
    let dept = user(Role::DepartmentOfficer);
    let mut c = submitted();
    let m = next(&c);
    step(&mut c, reject(m), &user(Role::Reviewer));
    step(&mut c, Transition::Draft { text: DRAFT_2.into() }, &dept);
    assert!(c.sign_off().is_none(), "a new draft clears the rejection");
    step(&mut c, Transition::Submit, &dept);
    let m = next(&c);
    step(&mut c, approve(m), &user(Role::Leader));
    let m = next(&c);
    step(&mut c, publish(p.check(DRAFT_2).unwrap(), m), &dept);
    step(&mut c, Transition::Close { note: None }, &dept);
    assert_eq!(c.state(), CaseState::Closed);
    assert!(c.state().is_terminal());
    let path: Vec<(TransitionName, CaseState)> = c.history().iter().map(|h| (h.transition, h.to)).collect();
    use CaseState as S;
    use TransitionName as T;
    assert_eq!(
        path,
        [
            (T::Acknowledge, S::Acknowledged),
            (T::Assess, S::Assessing),
            (T::Draft, S::Drafting),
            (T::Submit, S::InReview),
            (T::Review, S::Drafting),
            (T::Draft, S::Drafting),
            (T::Submit, S::InReview),
            (T::Review, S::InReview),
            (T::Publish, S::Published),
            (T::Close, S::Closed),
        ]
    );
    // The stored form round-trips and keeps the invariants.
    let record = c.to_record();
    assert_eq!(Case::from_record(record.clone()).unwrap(), c);
    let mut forged = record;
    forged.sign_off = None;
    forged.state = CaseState::Published;
    assert!(Case::from_record(forged).unwrap_err().to_string().contains("已发布"));
}

#[test]
fn dismiss_needs_a_reason_and_a_case_that_never_published() {
    let press = user(Role::PressOfficer);
    let mut c = case_in(CaseState::Acknowledged);
    for reason in ["", "   "] {
        let e = c.apply(Transition::Dismiss { reason: reason.into() }, &press, at(50)).unwrap_err();
        assert_eq!(e.refusal, Refusal::Input);
        assert!(e.to_string().contains("needs a reason"), "{e}");
    }
    let a = c
        .apply(Transition::Dismiss { reason: "  非本县管辖，已转兵团第四师  ".into() }, &press, at(50))
        .unwrap();
    assert_eq!(a.to, CaseState::Dismissed);
    assert_eq!(a.note, "不予处理：非本县管辖，已转兵团第四师");
    // A case reopened after publishing is closed, never dismissed or merged.
    let mut c = case_in(CaseState::Published);
    step(&mut c, Transition::Reopen { reason: "续报".into() }, &press);
    for t in [Transition::Dismiss { reason: "x".into() }, Transition::Merge { into: 3 }] {
        let e = c.apply(t, &press, at(900)).unwrap_err();
        assert_eq!(e.refusal, Refusal::State);
        assert!(e.to_string().contains("published"), "{e}");
    }
    assert_eq!(c.state(), CaseState::Assessing);
}

#[test]
fn closing_without_publication_needs_a_note_and_merging_needs_another_case() {
    let press = user(Role::PressOfficer);
    let mut c = case_in(CaseState::Assessing);
    let e = c.apply(Transition::Close { note: Some(" ".into()) }, &press, at(50)).unwrap_err();
    assert_eq!(e.refusal, Refusal::Input);
    let e = c.apply(Transition::Merge { into: 7 }, &press, at(50)).unwrap_err();
    assert!(e.to_string().contains("into itself"), "{e}");
    let a = c.apply(Transition::Merge { into: 3 }, &press, at(50)).unwrap();
    assert_eq!((a.to, a.note.as_str()), (CaseState::Merged, "合并到工单 3"));
}

#[test]
fn drafts_and_submissions_need_text() {
    let dept = user(Role::DepartmentOfficer);
    let mut c = case_in(CaseState::Assessing);
    let e = c.apply(Transition::Draft { text: "\n ".into() }, &dept, at(50)).unwrap_err();
    assert_eq!(e.refusal, Refusal::Input);
    assert!(c.draft().is_none());
}

#[test]
fn names_parse_from_ids_and_labels() {
    for &k in CaseKind::ALL {
        assert_eq!(CaseKind::parse(k.as_str()), Some(k));
        assert_eq!(CaseKind::parse(k.label()), Some(k));
    }
    for &s in CaseState::ALL {
        assert_eq!(CaseState::parse(s.as_str()), Some(s));
        assert_eq!(CaseState::parse(s.label()), Some(s));
    }
    for &r in Role::ALL {
        assert_eq!(Role::parse(r.as_str()), Some(r));
        assert_eq!(Role::parse(r.label()), Some(r));
    }
    for &g in IncidentGrade::ALL {
        assert_eq!(IncidentGrade::parse(g.label()), Some(g));
        assert_eq!(IncidentGrade::parse(g.as_str()), Some(g));
    }
    for &k in PublicationKind::ALL {
        assert_eq!(PublicationKind::parse(k.as_str()), Some(k));
        assert_eq!(PublicationKind::parse(k.label()), Some(k));
    }
    assert_eq!(CaseKind::parse("辟谣"), Some(CaseKind::Clarification));
    assert_eq!(CaseKind::parse(" policy_interpretation "), Some(CaseKind::PolicyInterpretation));
    assert_eq!(IncidentGrade::parse("Ⅰ级"), Some(IncidentGrade::ExtraordinarilyMajor));
    assert_eq!(PublicationKind::parse("情况通报"), Some(PublicationKind::AuthoritativeInfo));
    assert_eq!(Role::parse("dept"), Some(Role::DepartmentOfficer));
    assert_eq!(CaseState::parse("退回"), None);
    let terminal: Vec<CaseState> = CaseState::ALL.iter().copied().filter(|s| s.is_terminal()).collect();
    assert_eq!(terminal, [CaseState::Closed, CaseState::Dismissed, CaseState::Merged]);
    assert_eq!(user(Role::Reviewer).to_string(), "审核人4（审核人，用户 4）");
    assert_eq!(Actor::System.to_string(), "系统");
}

#[test]
fn sign_offs_and_publications_validate_their_fields() {
    assert!(ReviewSignOff::new(" ", "依据", ReviewResult::Approved, at(0)).is_err());
    assert!(ReviewSignOff::new("王审核", "", ReviewResult::Approved, at(0)).is_err());
    let rejected = ReviewResult::Rejected { reason: "".into() };
    assert!(ReviewSignOff::new("王审核", "依据", rejected, at(0)).is_err());
    for bad in
        ["ftp://xinyuan.gov.cn/a", "www.xinyuan.gov.cn", "https://", "https://a b.cn/", "javascript:alert(1)"]
    {
        assert!(Publication::new(PublicationKind::Reply, bad, at(0)).is_err(), "{bad}");
    }
    for good in ["https://www.xinyuan.gov.cn/", "HTTP://xinyuan.gov.cn:8080/x?id=1"] {
        assert!(Publication::new(PublicationKind::Reply, good, at(0)).is_ok(), "{good}");
    }
}

// ---- the publication check ----------

/// The ISO 7064 MOD 11-2 check character, computed here independently of the crate.
fn with_check(first17: &str) -> String {
    let weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = first17.chars().zip(weights).map(|(c, w)| c.to_digit(10).unwrap() * w).sum();
    let check = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'][(sum % 11) as usize];
    format!("{first17}{check}")
}

fn luhn_ok(digits: &str) -> bool {
    let sum: u32 = digits
        .chars()
        .rev()
        .enumerate()
        .map(|(i, c)| {
            let d = c.to_digit(10).unwrap();
            if i % 2 == 1 { if d * 2 > 9 { d * 2 - 9 } else { d * 2 } } else { d }
        })
        .sum();
    sum.is_multiple_of(10)
}

fn with_luhn(prefix: &str) -> String {
    (0..10).map(|d| format!("{prefix}{d}")).find(|s| luhn_ok(s)).unwrap()
}

fn kinds(findings: &[Finding]) -> Vec<&'static str> {
    findings.iter().map(|f| f.kind.as_str()).collect()
}

#[test]
fn test_helpers_agree_with_published_examples() {
    // The example number of GB 11643's explanatory material, and a standard Luhn test number.
    assert_eq!(with_check("11010519491231002"), "11010519491231002X");
    assert!(luhn_ok("4111111111111111") && !luhn_ok("4111111111111112"));
}

#[test]
fn a_valid_id_number_is_found_and_masked() {
    let p = policy();
    let id = with_check("65402519850317123");
    let text = format!("投诉人身份证号{id}，住那拉提镇。");
    let f = p.check(&text).unwrap_err();
    assert_eq!(kinds(&f), ["id_number"], "{f:?}");
    assert_eq!((f[0].start, f[0].end), (7, 25));
    assert_eq!(f[0].text, id);
    let masked = format!("6540**********{}", &id[14..]);
    assert!(f[0].message.contains(&masked) && !f[0].message.contains(&id), "{}", f[0].message);
}

#[test]
fn an_id_number_with_a_wrong_check_character_is_not_an_id() {
    let p = policy();
    let id = with_check("65402519850317123");
    let right = id.chars().last().unwrap();
    // A wrong check digit that is not a Luhn-valid card number either, so nothing is found.
    let wrong = ('0'..='9')
        .filter(|&c| c != right)
        .map(|c| format!("{}{c}", &id[..17]))
        .find(|s| !luhn_ok(s))
        .unwrap();
    assert!(p.check(&format!("编号{wrong}")).is_ok());
    // An impossible birth date with a correct check character is no ID number either.
    let bad_date = with_check("65402519851317123");
    let found = p.check(&format!("编号{bad_date}")).err().unwrap_or_default();
    assert!(!kinds(&found).contains(&"id_number"), "{found:?}");
}

#[test]
fn an_id_number_ending_in_x_is_found_in_either_case_and_grouped() {
    let p = policy();
    let id =
        (100..1000).map(|n| with_check(&format!("65402519900101{n}"))).find(|s| s.ends_with('X')).unwrap();
    for written in [id.clone(), id.to_lowercase(), format!("{} {} {}", &id[..6], &id[6..14], &id[14..])] {
        let f = p.check(&format!("证件：{written}。")).unwrap_err();
        assert_eq!(kinds(&f), ["id_number"], "{written}: {f:?}");
        assert_eq!((f[0].start, f[0].end), (3, 3 + written.chars().count()));
    }
}

#[test]
fn an_id_number_is_not_reported_again_as_a_card() {
    let p = policy();
    let id = (100..1000)
        .map(|n| with_check(&format!("65402519850317{n}")))
        .find(|s| !s.ends_with('X') && luhn_ok(s))
        .unwrap();
    let f = p.check(&id).unwrap_err();
    assert_eq!(kinds(&f), ["id_number"]);
}

#[test]
fn mobile_numbers_are_found_but_not_inside_longer_runs() {
    let p = policy();
    let f = p.check("请联系13812345678或+8615999990000。").unwrap_err();
    assert_eq!(kinds(&f), ["mobile_number", "mobile_number"]);
    assert_eq!((f[0].start, f[0].end), (3, 14));
    assert!(
        f[0].message.contains("138****5678") && !f[0].message.contains("13812345678"),
        "{}",
        f[0].message
    );
    assert_eq!(f[1].text, "+8615999990000");
    assert!(f[1].message.contains("+86 159****0000"), "{}", f[1].message);
    let f = p.check("电话 138-1234-5678").unwrap_err();
    assert_eq!(kinds(&f), ["mobile_number"]);
    // A longer run (an order number), a landline and a 1[0-2] prefix are not mobile numbers.
    assert!(p.check("订单号213812345678，固定电话0999-5123456，12345678901").is_ok());
}

#[test]
fn luhn_valid_card_numbers_are_found() {
    let p = policy();
    let card = with_luhn("622202100112345");
    assert_eq!(card.len(), 16);
    let f = p.check(&format!("补贴发放至卡号{card}。")).unwrap_err();
    assert_eq!(kinds(&f), ["bank_card"]);
    assert!(f[0].message.contains(&format!("6222********{}", &card[12..])), "{}", f[0].message);
    let grouped = format!("{} {} {} {}", &card[..4], &card[4..8], &card[8..12], &card[12..]);
    assert_eq!(kinds(&p.check(&grouped).unwrap_err()), ["bank_card"]);
    let long = with_luhn("622848001234567890");
    assert_eq!(kinds(&p.check(&long).unwrap_err()), ["bank_card"]);
    // The same digits failing the Luhn check, and a valid card inside a longer run, are not cards.
    let last = card.chars().last().unwrap().to_digit(10).unwrap();
    let broken = format!("{}{}", &card[..15], (last + 1) % 10);
    assert!(p.check(&broken).is_ok());
    assert!(p.check(&format!("{card}00000")).is_ok());
}

#[test]
fn full_width_digits_are_caught() {
    let p = policy();
    let f = p.check("热线：１３８１２３４５６７８").unwrap_err();
    assert_eq!(kinds(&f), ["mobile_number"]);
    assert_eq!((f[0].start, f[0].end, f[0].text.as_str()), (3, 14, "１３８１２３４５６７８"));
    assert!(f[0].message.contains("138****5678"), "{}", f[0].message);
    let id = with_check("65402519850317123");
    let wide: String = id.chars().map(|c| char::from_u32(c as u32 + 0xFEE0).unwrap()).collect();
    assert_eq!(kinds(&p.check(&wide).unwrap_err()), ["id_number"]);
}

#[test]
fn negative_list_phrases_are_found_with_offsets() {
    let p = policy();
    let f = p.check("此件为内部资料，注意保密。").unwrap_err();
    assert_eq!(kinds(&f), ["negative_list", "negative_list"]);
    assert_eq!((f[0].start, f[0].end, f[0].text.as_str()), (3, 7, "内部资料"));
    assert_eq!((f[1].start, f[1].end), (8, 12));
    assert_eq!(f[1].kind, FindingKind::NegativeList { phrase: "注意保密".into() });
    let f = p.check("秘密★1年\n关于××村的情况通报").unwrap_err();
    assert_eq!(kinds(&f), ["negative_list", "negative_list"]);
    // Lawful wording is not on the list.
    assert!(p.check("该信息属于国家秘密，根据条例规定不予公开。").is_ok());
}

#[test]
fn superseded_institution_names_suggest_the_current_one() {
    let p = policy();
    let f = p.check("请向县卫计委咨询。").unwrap_err();
    assert_eq!(kinds(&f), ["superseded_name"]);
    assert_eq!(f[0].kind, FindingKind::SupersededName { current: "卫生健康委员会".into() });
    assert_eq!((f[0].start, f[0].end, f[0].text.as_str()), (3, 6, "卫计委"));
    assert!(f[0].message.contains("卫生健康委员会"), "{}", f[0].message);
    let f = p.check("由县环保局和城乡规划局负责。").unwrap_err();
    assert_eq!(f.len(), 2, "城乡规划局 once, not again as 规划局: {f:?}");
    assert_eq!(f[0].kind, FindingKind::SupersededName { current: "伊犁州生态环境局新源县分局".into() });
    assert_eq!(f[1].text, "城乡规划局");
    // Current names containing an abolished one, and deliberate historical references, pass.
    assert!(p.check("县文化体育广播电视和旅游局、伊犁州生态环境局新源县分局将加强生态环境保护。").is_ok());
    assert!(p.check("原卫计委的职责已划入县卫生健康委员会，原县扶贫办职责并入农业农村局。").is_ok());
}

#[test]
fn a_clean_text_passes_and_the_proof_covers_exactly_it() {
    let p = policy();
    let proof = p.check(DRAFT).unwrap();
    assert!(proof.covers(DRAFT));
    assert!(!proof.covers(DRAFT_2));
    assert!(!proof.covers(&format!("{DRAFT} ")));
    assert!(!proof.covers(&DRAFT.replace("18", "１８")));
    assert_eq!(proof.policy_version(), p.version());
}

#[test]
fn the_shipped_policy_names_only_abolished_aliases_of_known_units() {
    #[derive(serde::Deserialize)]
    struct F {
        unit: Vec<yuqing_domain::Unit>,
    }
    let units = toml::from_str::<F>(DEPARTMENTS).unwrap().unit;
    let p = policy();
    assert!(p.negative_list().count() >= 20);
    let mut n = 0;
    for (old, current) in p.superseded() {
        let unit = units.iter().find(|u| u.aliases.iter().any(|a| a == old));
        let unit = unit.unwrap_or_else(|| panic!("{old} is no alias in departments.toml"));
        let base: Vec<char> = current.split('（').next().unwrap().chars().collect();
        let name: Vec<char> = unit.name.chars().collect();
        let shared = base.iter().zip(&name).take_while(|(a, b)| a == b).count();
        let full: Vec<char> = unit.full_name.chars().collect();
        assert!(base == name || base == full || shared >= 4, "{old} → {current} is not {}", unit.name);
        // No superseded name is an alias of the unit's current short form (住建局 and the like).
        assert_ne!(old, unit.name);
        n += 1;
    }
    assert!(n >= 30, "{n}");
}

#[test]
fn policy_errors_name_the_file_and_the_key() {
    let e =
        PublicationPolicy::parse("publication.toml", "negative_list = [\"内部资料\", \" \"]\n").unwrap_err();
    assert_eq!(e.to_string(), "publication.toml: negative_list[1]: empty phrase");
    let e = PublicationPolicy::parse(
        "publication.toml",
        "negative_list = []\n[superseded]\n\"卫生局\" = \"卫生局\"\n",
    )
    .unwrap_err();
    assert!(e.to_string().starts_with("publication.toml: superseded.\"卫生局\": "), "{e}");
    let e = PublicationPolicy::parse("p.toml", "negative_list = []\nnegativ_list = []\n").unwrap_err();
    assert!(e.to_string().starts_with("p.toml: line 2: unknown field `negativ_list`"), "{e}");
    let e = PublicationPolicy::parse("p.toml", "[superseded]\n").unwrap_err();
    assert!(e.to_string().contains("negative_list"), "{e}");
}
