//! The case (处置工单) state machine.
//!
//! A case is opened for an event and a lead department and moves along
//! `待签收 → 已签收 → 研判中 → 回应起草 → 待审核 → 已发布 → 已办结`, with 退回 (a rejected review sends
//! the draft back to 回应起草), 不予处理 and 合并. [`Case::apply`] is the only way to change the
//! state; it never panics: a transition the state, the actor or the payload does not allow is a
//! [`TransitionError`] naming the case, its state, the transition and why. Every applied transition
//! is appended to the case's history (who, when, from, to, note) and returned as [`Applied`] for
//! the audit log.
//!
//! # The transition table
//!
//! | transition | from | to | who |
//! |---|---|---|---|
//! | `Acknowledge` 签收 | 待签收 | 已签收 | admin, press, dept, a linked official |
//! | `Assess` 研判 | 已签收 | 研判中 | admin, press, dept |
//! | `Draft { text }` 起草/修改 | 研判中, 回应起草, 待审核 | 回应起草 | admin, press, dept |
//! | `Submit` 提交审核 | 回应起草 (with a draft) | 待审核 | admin, press, dept |
//! | `Review(sign-off)` 保密审查 | 待审核 | approved: 待审核 (sign-off recorded); rejected: 回应起草 (退回) | reviewer, admin, leader |
//! | `Publish { check, publication }` 发布 | 待审核 | 已发布 | admin, press, dept |
//! | `Close { note }` 办结 | 已发布 | 已办结 | admin, press, dept |
//! | `Close { note }` 办结 (no public response needed) | 已签收, 研判中 | 已办结 | admin, press; `note` required |
//! | `Dismiss { reason }` 不予处理 | 待签收 … 待审核, never after a publication | 不予处理 | admin, press; `reason` required |
//! | `Merge { into }` 合并 | 待签收 … 待审核, never after a publication | 合并 | admin, press |
//! | `Reopen { reason }` 重新研判 | 已发布, 已办结 | 研判中 | admin, press, the system; `reason` required |
//!
//! [`allowed`] is the state column of this table, [`may`] the last one. The system actor may only
//! reopen (a new spike on the event's posts: 二次舆情); everything else needs a person's judgement.
//!
//! Decisions:
//! - **Drafts** are written with the `Draft { text }` transition: from 研判中 it starts drafting,
//!   in 回应起草 it edits, and in 待审核 it withdraws the draft from review. Every draft change bumps
//!   the revision and clears the recorded sign-off, so a sign-off only ever covers the text it saw.
//! - **Publishing** needs two proofs ([`Transition::Publish`]): an approved [`ReviewSignOff`]
//!   recorded for the current draft revision, and a [`PassedCheck`] of exactly the current draft
//!   text (only [`crate::check::PublicationPolicy::check`] makes one). The publication may not be
//!   dated before the sign-off (先审查、后公开) nor after `now`.
//! - **A rejected review** (退回) is recorded on the case and sends it back to 回应起草; submitting
//!   the same text again needs a new review, since the rejected sign-off stays until one replaces it.
//! - **Closing without a publication** (研判 found that no public response is needed, e.g. the
//!   problem was fixed and the citizen answered directly) is the same kind of judgement as 不予处理,
//!   so it is the press officer's, with a note.
//! - **Dismiss and merge** stop before 已发布: a response that went public is a fact the county
//!   answers for, so such a case is closed, not dismissed or merged, even after it was reopened.
//! - **Reopen** covers 二次舆情 and follow-up releases (续报, the 新闻发布会 after the first
//!   权威信息): the case goes back to 研判中 and the next publication is added to the list.
//! - 已办结 counts as terminal ([`CaseState::is_terminal`]: no work is left), yet it can be
//!   reopened; 不予处理 and 合并 are final.

use std::fmt;

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};

use crate::check::PassedCheck;

/// Defines a closed set of names with a stable ASCII id (`as_str`, also the serde form), a Chinese
/// label, and `parse` accepting either (plus a few aliases).
macro_rules! named_enum {
    (
        $(#[$meta:meta])*
        $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident => $id:literal, $label:literal $(, $alias:literal)* ; )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name {
            $( $(#[$vmeta])* #[serde(rename = $id)] $variant, )+
        }

        impl $name {
            /// Every value, in order.
            pub const ALL: &'static [$name] = &[ $( $name::$variant, )+ ];

            /// The stable ASCII id (also the serialised form).
            pub fn as_str(self) -> &'static str {
                match self { $( $name::$variant => $id, )+ }
            }

            /// The Chinese name shown in the UI.
            pub fn label(self) -> &'static str {
                match self { $( $name::$variant => $label, )+ }
            }

            /// Reads the ASCII id or the Chinese name (surrounding spaces ignored).
            pub fn parse(s: &str) -> Option<Self> {
                let s = s.trim();
                $( if s == $id || s == $label $( || s == $alias )* { return Some($name::$variant); } )+
                None
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.label())
            }
        }
    };
}

named_enum! {
    /// What a case is about; each kind has its own legal clock (PRODUCT.md §6).
    CaseKind {
        /// 回应: government-related public opinion (48 h).
        Response => "response", "回应";
        /// 辟谣/澄清: a rumour or a misunderstanding to correct.
        Clarification => "clarification", "辟谣/澄清", "辟谣", "澄清";
        /// 政策解读: a policy document the county published (3 working days).
        PolicyInterpretation => "policy_interpretation", "政策解读", "解读";
        /// 突发事件: an emergency (权威信息 5 h, 新闻发布会 24 h for 重大/特别重大).
        Emergency => "emergency", "突发事件";
        /// 留言答复: a message from the hotline or a message board (15 working days).
        MessageReply => "message_reply", "留言答复";
        /// 依申请公开: an information request under 国务院令第711号 (20 working days).
        InformationRequest => "information_request", "依申请公开";
    }
}

named_enum! {
    /// Where a case stands.
    CaseState {
        Pending => "pending", "待签收";
        Acknowledged => "acknowledged", "已签收";
        Assessing => "assessing", "研判中";
        Drafting => "drafting", "回应起草";
        InReview => "in_review", "待审核";
        Published => "published", "已发布";
        Closed => "closed", "已办结";
        Dismissed => "dismissed", "不予处理";
        Merged => "merged", "合并", "已合并";
    }
}

impl CaseState {
    /// No work is left: 已办结, 不予处理, 合并. (A closed case can still be reopened.)
    pub fn is_terminal(self) -> bool {
        matches!(self, CaseState::Closed | CaseState::Dismissed | CaseState::Merged)
    }
}

named_enum! {
    /// A user's role (PRODUCT.md, "Who uses it").
    Role {
        /// 管理员: configuration and users; may do what the press officer may.
        Admin => "admin", "管理员";
        /// 舆情专员 (宣传/网信): triage, dismiss, merge.
        PressOfficer => "press", "舆情专员";
        /// 责任单位联络员: acknowledges, assesses, drafts, publishes, closes.
        DepartmentOfficer => "dept", "责任单位联络员";
        /// 保密审查 / 分管领导: approves or rejects drafts.
        Reviewer => "reviewer", "审核人";
        /// 县领导: reads; may also sign off a review.
        Leader => "leader", "县领导";
    }
}

named_enum! {
    /// 突发事件等级 (国家突发公共事件总体应急预案: Ⅳ–Ⅰ级), separate from the warning level of an event.
    IncidentGrade {
        General => "general", "一般", "Ⅳ级", "IV级";
        Large => "large", "较大", "Ⅲ级", "III级";
        Major => "major", "重大", "Ⅱ级", "II级";
        ExtraordinarilyMajor => "extraordinarily_major", "特别重大", "Ⅰ级", "I级";
    }
}

named_enum! {
    /// What a publication was; each stops the clock of its kind.
    PublicationKind {
        /// 权威信息/情况通报: the first authoritative information on an emergency.
        AuthoritativeInfo => "authoritative_info", "权威信息", "情况通报", "权威信息/情况通报";
        /// 新闻发布会.
        PressConference => "press_conference", "新闻发布会", "发布会";
        /// 回应: a public response.
        Response => "response", "回应";
        /// 政策解读.
        Interpretation => "interpretation", "政策解读", "解读";
        /// 答复: a reply to a message or an information request.
        Reply => "reply", "答复";
    }
}

named_enum! {
    /// The name of a [`Transition`], without its payload: what [`allowed`] and [`may`] take.
    TransitionName {
        Acknowledge => "acknowledge", "签收";
        Assess => "assess", "研判";
        Draft => "draft", "起草";
        Submit => "submit", "提交审核";
        Review => "review", "保密审查";
        Publish => "publish", "发布";
        Close => "close", "办结";
        Dismiss => "dismiss", "不予处理";
        Merge => "merge", "合并";
        Reopen => "reopen", "重新研判";
    }
}

impl TransitionName {
    /// "only a case in 待审核 can be {participle}".
    fn participle(self) -> &'static str {
        match self {
            TransitionName::Acknowledge => "acknowledged",
            TransitionName::Assess => "assessed",
            TransitionName::Draft => "drafted",
            TransitionName::Submit => "submitted for review",
            TransitionName::Review => "reviewed",
            TransitionName::Publish => "published",
            TransitionName::Close => "closed",
            TransitionName::Dismiss => "dismissed",
            TransitionName::Merge => "merged",
            TransitionName::Reopen => "reopened",
        }
    }
}

/// Who applies a transition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Actor {
    /// A user account.
    User { id: i64, name: String, role: Role },
    /// An official from `officials.toml` who linked a chat account (签收 from Telegram).
    Official { id: String, name: String },
    /// The service itself (the event ticker).
    System,
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::User { id, name, role } => write!(f, "{name}（{}，用户 {id}）", role.label()),
            Actor::Official { id, name } => write!(f, "{name}（{id}）"),
            Actor::System => f.write_str("系统"),
        }
    }
}

/// A value that failed its constructor's validation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidValue {
    #[error("{0} must not be empty")]
    Empty(&'static str),
    #[error("publication URL must be http(s) with a host: {0:?}")]
    Url(String),
    #[error("draft revision must be at least 1")]
    Revision,
}

fn non_empty(field: &'static str, s: &str) -> Result<(), InvalidValue> {
    if s.trim().is_empty() { Err(InvalidValue::Empty(field)) } else { Ok(()) }
}

/// The outcome of a 保密审查.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum ReviewResult {
    Approved,
    Rejected { reason: String },
}

/// A recorded 保密审查 sign-off: who, on what basis, the result, when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawSignOff")]
pub struct ReviewSignOff {
    reviewer: String,
    basis: String,
    result: ReviewResult,
    at: DateTime<FixedOffset>,
}

#[derive(Deserialize)]
struct RawSignOff {
    reviewer: String,
    basis: String,
    result: ReviewResult,
    at: DateTime<FixedOffset>,
}

impl TryFrom<RawSignOff> for ReviewSignOff {
    type Error = InvalidValue;
    fn try_from(r: RawSignOff) -> Result<Self, InvalidValue> {
        ReviewSignOff::new(r.reviewer, r.basis, r.result, r.at)
    }
}

impl ReviewSignOff {
    /// `reviewer` (the person who signed), `basis` (e.g. 《保守国家秘密法》、本县保密审查制度) and a
    /// rejection's reason must not be blank.
    pub fn new(
        reviewer: impl Into<String>,
        basis: impl Into<String>,
        result: ReviewResult,
        at: DateTime<FixedOffset>,
    ) -> Result<Self, InvalidValue> {
        let (reviewer, basis) = (reviewer.into(), basis.into());
        non_empty("reviewer", &reviewer)?;
        non_empty("basis", &basis)?;
        if let ReviewResult::Rejected { reason } = &result {
            non_empty("rejection reason", reason)?;
        }
        Ok(ReviewSignOff { reviewer, basis, result, at })
    }

    pub fn reviewer(&self) -> &str {
        &self.reviewer
    }

    pub fn basis(&self) -> &str {
        &self.basis
    }

    pub fn result(&self) -> &ReviewResult {
        &self.result
    }

    pub fn at(&self) -> DateTime<FixedOffset> {
        self.at
    }

    pub fn is_approved(&self) -> bool {
        self.result == ReviewResult::Approved
    }
}

/// Proof of publication: where and when the response went public.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawPublication")]
pub struct Publication {
    kind: PublicationKind,
    url: String,
    at: DateTime<FixedOffset>,
}

#[derive(Deserialize)]
struct RawPublication {
    kind: PublicationKind,
    url: String,
    at: DateTime<FixedOffset>,
}

impl TryFrom<RawPublication> for Publication {
    type Error = InvalidValue;
    fn try_from(r: RawPublication) -> Result<Self, InvalidValue> {
        Publication::new(r.kind, r.url, r.at)
    }
}

impl Publication {
    /// `url` must be `http://` or `https://` with a host, without spaces or control characters.
    pub fn new(
        kind: PublicationKind,
        url: impl Into<String>,
        at: DateTime<FixedOffset>,
    ) -> Result<Self, InvalidValue> {
        let url = url.into().trim().to_owned();
        let lower = url.to_ascii_lowercase();
        let rest = lower.strip_prefix("https://").or_else(|| lower.strip_prefix("http://"));
        let host = rest.map(|r| r.split(['/', '?', '#']).next().unwrap_or(""));
        let ok = matches!(host, Some(h) if !h.is_empty() && !h.starts_with(':') && !h.contains('@'))
            && !url.chars().any(|c| c.is_whitespace() || c.is_control());
        if !ok {
            return Err(InvalidValue::Url(url));
        }
        Ok(Publication { kind, url, at })
    }

    pub fn kind(&self) -> PublicationKind {
        self.kind
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn at(&self) -> DateTime<FixedOffset> {
        self.at
    }
}

/// The case's current draft. Revisions count from 1; every change makes a new one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawDraft")]
pub struct Draft {
    text: String,
    revision: u32,
    at: DateTime<FixedOffset>,
}

#[derive(Deserialize)]
struct RawDraft {
    text: String,
    revision: u32,
    at: DateTime<FixedOffset>,
}

impl TryFrom<RawDraft> for Draft {
    type Error = InvalidValue;
    fn try_from(r: RawDraft) -> Result<Self, InvalidValue> {
        non_empty("draft text", &r.text)?;
        if r.revision == 0 {
            return Err(InvalidValue::Revision);
        }
        Ok(Draft { text: r.text, revision: r.revision, at: r.at })
    }
}

impl Draft {
    /// The text (may be bilingual: Chinese with Kazakh or Uyghur).
    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn revision(&self) -> u32 {
        self.revision
    }

    /// When this revision was written.
    pub fn at(&self) -> DateTime<FixedOffset> {
        self.at
    }
}

/// A sign-off as recorded on a case, with the draft revision it covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedSignOff {
    pub draft_revision: u32,
    pub sign_off: ReviewSignOff,
}

/// A change of state, with what it needs.
#[derive(Debug, Clone, PartialEq)]
pub enum Transition {
    /// 签收.
    Acknowledge,
    /// 研判.
    Assess,
    /// Write or replace the draft (a new revision; clears the sign-off).
    Draft { text: String },
    /// Submit the draft for review.
    Submit,
    /// Record a 保密审查 sign-off: approved stays in 待审核, rejected goes back to 回应起草 (退回).
    Review(ReviewSignOff),
    /// Mark the draft published, with the two proofs.
    Publish { check: PassedCheck, publication: Publication },
    /// 办结; `note` is required when nothing was published.
    Close { note: Option<String> },
    /// 不予处理.
    Dismiss { reason: String },
    /// 合并 into another case.
    Merge { into: i64 },
    /// Back to 研判中 (二次舆情, or a follow-up release).
    Reopen { reason: String },
}

impl Transition {
    pub fn name(&self) -> TransitionName {
        match self {
            Transition::Acknowledge => TransitionName::Acknowledge,
            Transition::Assess => TransitionName::Assess,
            Transition::Draft { .. } => TransitionName::Draft,
            Transition::Submit => TransitionName::Submit,
            Transition::Review(_) => TransitionName::Review,
            Transition::Publish { .. } => TransitionName::Publish,
            Transition::Close { .. } => TransitionName::Close,
            Transition::Dismiss { .. } => TransitionName::Dismiss,
            Transition::Merge { .. } => TransitionName::Merge,
            Transition::Reopen { .. } => TransitionName::Reopen,
        }
    }
}

/// The states a transition may start from (the state column of the table in the module docs).
pub fn allowed_from(name: TransitionName) -> &'static [CaseState] {
    use CaseState::*;
    const BEFORE_PUBLICATION: &[CaseState] = &[Pending, Acknowledged, Assessing, Drafting, InReview];
    match name {
        TransitionName::Acknowledge => &[Pending],
        TransitionName::Assess => &[Acknowledged],
        TransitionName::Draft => &[Assessing, Drafting, InReview],
        TransitionName::Submit => &[Drafting],
        TransitionName::Review => &[InReview],
        TransitionName::Publish => &[InReview],
        TransitionName::Close => &[Acknowledged, Assessing, Published],
        TransitionName::Dismiss | TransitionName::Merge => BEFORE_PUBLICATION,
        TransitionName::Reopen => &[Published, Closed],
    }
}

/// Whether `name` may start from `state` at all (given an allowed actor and a valid payload).
pub fn allowed(state: CaseState, name: TransitionName) -> bool {
    allowed_from(name).contains(&state)
}

/// Whether `actor` may apply `name` to a case in `from` (the last column of the table).
pub fn may(actor: &Actor, name: TransitionName, from: CaseState) -> bool {
    use Role::*;
    use TransitionName as T;
    let role = match actor {
        Actor::System => return name == T::Reopen,
        Actor::Official { .. } => return name == T::Acknowledge,
        Actor::User { role, .. } => *role,
    };
    match name {
        T::Acknowledge => matches!(role, Admin | PressOfficer | DepartmentOfficer),
        T::Assess | T::Draft | T::Submit | T::Publish => {
            matches!(role, Admin | PressOfficer | DepartmentOfficer)
        }
        T::Review => matches!(role, Reviewer | Admin | Leader),
        T::Close if from == CaseState::Published => {
            matches!(role, Admin | PressOfficer | DepartmentOfficer)
        }
        T::Close | T::Dismiss | T::Merge | T::Reopen => matches!(role, Admin | PressOfficer),
    }
}

/// Why a transition was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The case's state (or its record) does not allow it.
    State,
    /// The actor may not do it.
    Role,
    /// The payload is missing something (a reason, a note, a draft).
    Input,
    /// A publication proof is missing or does not cover the current draft.
    Proof,
}

/// A refused transition; the message names the case, its state, the transition and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot {} case {case} in {}: {why}", .transition.as_str(), .state.label())]
pub struct TransitionError {
    pub case: i64,
    pub state: CaseState,
    pub transition: TransitionName,
    pub refusal: Refusal,
    pub why: String,
}

/// What an applied transition changed, for the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    pub transition: TransitionName,
    pub from: CaseState,
    pub to: CaseState,
    /// A short note in Chinese (the reason, the reviewer, the URL…).
    pub note: String,
}

/// One entry of a case's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub at: DateTime<FixedOffset>,
    pub actor: Actor,
    pub transition: TransitionName,
    pub from: CaseState,
    pub to: CaseState,
    pub note: String,
}

/// A case. The descriptive fields are public; the state and everything publication depends on
/// (draft, sign-off, publications, history) change only through [`Case::apply`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    pub id: i64,
    pub kind: CaseKind,
    /// The lead department (a unit id from `departments.toml`).
    pub lead_department: String,
    /// Co-operating departments (协办), unit ids.
    pub co_departments: Vec<String>,
    /// The event that opened the case, if any (a policy document or a message has none).
    pub event_id: Option<i64>,
    /// 突发事件等级, for emergencies.
    pub grade: Option<IncidentGrade>,
    pub title: String,
    pub opened_at: DateTime<FixedOffset>,
    state: CaseState,
    draft: Option<Draft>,
    sign_off: Option<RecordedSignOff>,
    publications: Vec<Publication>,
    history: Vec<HistoryEntry>,
}

/// A case as stored: every field public, checked by [`Case::from_record`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseRecord {
    pub id: i64,
    pub kind: CaseKind,
    pub lead_department: String,
    #[serde(default)]
    pub co_departments: Vec<String>,
    pub event_id: Option<i64>,
    pub grade: Option<IncidentGrade>,
    pub title: String,
    pub opened_at: DateTime<FixedOffset>,
    pub state: CaseState,
    pub draft: Option<Draft>,
    pub sign_off: Option<RecordedSignOff>,
    #[serde(default)]
    pub publications: Vec<Publication>,
    #[serde(default)]
    pub history: Vec<HistoryEntry>,
}

/// A stored case that breaks an invariant of the state machine.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("case {case}: {why}")]
pub struct RecordError {
    pub case: i64,
    pub why: String,
}

impl Case {
    /// A new case in 待签收.
    pub fn open(
        id: i64,
        kind: CaseKind,
        lead_department: impl Into<String>,
        title: impl Into<String>,
        now: DateTime<FixedOffset>,
    ) -> Case {
        Case {
            id,
            kind,
            lead_department: lead_department.into(),
            co_departments: Vec::new(),
            event_id: None,
            grade: None,
            title: title.into(),
            opened_at: now,
            state: CaseState::Pending,
            draft: None,
            sign_off: None,
            publications: Vec::new(),
            history: Vec::new(),
        }
    }

    /// Rebuilds a stored case, refusing one that could not have been reached through
    /// [`Case::apply`]: published without a draft, an approved sign-off of that draft and a
    /// publication, or with a sign-off of another revision.
    pub fn from_record(r: CaseRecord) -> Result<Case, RecordError> {
        let bad = |why: &str| Err(RecordError { case: r.id, why: why.to_owned() });
        if let Some(s) = &r.sign_off {
            match &r.draft {
                None => return bad("a sign-off without a draft"),
                Some(d) if d.revision != s.draft_revision => {
                    return bad("a sign-off of another draft revision");
                }
                Some(_) => {}
            }
        }
        if r.state == CaseState::Published {
            let approved = r.sign_off.as_ref().is_some_and(|s| s.sign_off.is_approved());
            if r.draft.is_none() || !approved || r.publications.is_empty() {
                return bad("已发布 without a draft, an approved sign-off and a publication");
            }
        }
        Ok(Case {
            id: r.id,
            kind: r.kind,
            lead_department: r.lead_department,
            co_departments: r.co_departments,
            event_id: r.event_id,
            grade: r.grade,
            title: r.title,
            opened_at: r.opened_at,
            state: r.state,
            draft: r.draft,
            sign_off: r.sign_off,
            publications: r.publications,
            history: r.history,
        })
    }

    /// The case as stored.
    pub fn to_record(&self) -> CaseRecord {
        CaseRecord {
            id: self.id,
            kind: self.kind,
            lead_department: self.lead_department.clone(),
            co_departments: self.co_departments.clone(),
            event_id: self.event_id,
            grade: self.grade,
            title: self.title.clone(),
            opened_at: self.opened_at,
            state: self.state,
            draft: self.draft.clone(),
            sign_off: self.sign_off.clone(),
            publications: self.publications.clone(),
            history: self.history.clone(),
        }
    }

    pub fn state(&self) -> CaseState {
        self.state
    }

    pub fn draft(&self) -> Option<&Draft> {
        self.draft.as_ref()
    }

    /// The last sign-off of the current draft (approved or rejected), if any.
    pub fn sign_off(&self) -> Option<&RecordedSignOff> {
        self.sign_off.as_ref()
    }

    pub fn publications(&self) -> &[Publication] {
        &self.publications
    }

    pub fn history(&self) -> &[HistoryEntry] {
        &self.history
    }

    /// Applies `t` as `actor` at `now`: checks the state, then the actor, then the payload; on
    /// success changes the case, appends to its history and says what changed.
    pub fn apply(
        &mut self,
        t: Transition,
        actor: &Actor,
        now: DateTime<FixedOffset>,
    ) -> Result<Applied, TransitionError> {
        let name = t.name();
        let from = self.state;
        let refuse = |refusal: Refusal, why: String| TransitionError {
            case: self.id,
            state: from,
            transition: name,
            refusal,
            why,
        };
        if !allowed(from, name) {
            let states: Vec<&str> = allowed_from(name).iter().map(|s| s.label()).collect();
            return Err(refuse(
                Refusal::State,
                format!("only a case in {} can be {}", states.join("/"), name.participle()),
            ));
        }
        if matches!(name, TransitionName::Dismiss | TransitionName::Merge) && !self.publications.is_empty() {
            return Err(refuse(
                Refusal::State,
                "a case that has published a response is closed, not dismissed or merged".into(),
            ));
        }
        if !may(actor, name, from) {
            return Err(refuse(Refusal::Role, format!("{actor} may not {}", name.as_str())));
        }
        let (to, note) = match t {
            Transition::Acknowledge => (CaseState::Acknowledged, "签收".to_owned()),
            Transition::Assess => (CaseState::Assessing, "开始研判".to_owned()),
            Transition::Draft { text } => {
                if text.trim().is_empty() {
                    return Err(refuse(Refusal::Input, "the draft text is empty".into()));
                }
                let revision = self.draft.as_ref().map_or(1, |d| d.revision.saturating_add(1));
                let chars = text.chars().count();
                self.draft = Some(Draft { text, revision, at: now });
                self.sign_off = None;
                let withdrawn = if from == CaseState::InReview { "，撤回审核" } else { "" };
                (CaseState::Drafting, format!("草稿第 {revision} 版（{chars} 字）{withdrawn}"))
            }
            Transition::Submit => {
                let Some(draft) = &self.draft else {
                    return Err(refuse(Refusal::Input, "there is no draft to submit".into()));
                };
                (CaseState::InReview, format!("提交审核（第 {} 版）", draft.revision))
            }
            Transition::Review(sign_off) => {
                let Some(draft) = &self.draft else {
                    return Err(refuse(Refusal::Input, "there is no draft to review".into()));
                };
                if sign_off.at > now {
                    return Err(refuse(Refusal::Input, "the sign-off is dated in the future".into()));
                }
                if sign_off.at < draft.at {
                    return Err(refuse(
                        Refusal::Input,
                        format!("the sign-off predates draft revision {}", draft.revision),
                    ));
                }
                let (to, note) = match &sign_off.result {
                    ReviewResult::Approved => (
                        CaseState::InReview,
                        format!("保密审查通过：{}；依据：{}", sign_off.reviewer, sign_off.basis),
                    ),
                    ReviewResult::Rejected { reason } => {
                        (CaseState::Drafting, format!("退回：{}；理由：{reason}", sign_off.reviewer))
                    }
                };
                self.sign_off = Some(RecordedSignOff { draft_revision: draft.revision, sign_off });
                (to, note)
            }
            Transition::Publish { check, publication } => {
                let Some(draft) = &self.draft else {
                    return Err(refuse(Refusal::Proof, "there is no draft to publish".into()));
                };
                let signed = match &self.sign_off {
                    None => {
                        return Err(refuse(
                            Refusal::Proof,
                            format!("draft revision {} has no 保密审查 sign-off", draft.revision),
                        ));
                    }
                    Some(s) if s.draft_revision != draft.revision => {
                        return Err(refuse(
                            Refusal::Proof,
                            format!("the sign-off covers another revision than {}", draft.revision),
                        ));
                    }
                    Some(s) => &s.sign_off,
                };
                if let ReviewResult::Rejected { reason } = &signed.result {
                    return Err(refuse(
                        Refusal::Proof,
                        format!("the last review rejected the draft ({reason})"),
                    ));
                }
                if !check.covers(&draft.text) {
                    return Err(refuse(
                        Refusal::Proof,
                        format!("the publication check is not of draft revision {}", draft.revision),
                    ));
                }
                if publication.at < signed.at {
                    return Err(refuse(
                        Refusal::Proof,
                        "the publication predates the sign-off (先审查、后公开)".into(),
                    ));
                }
                if publication.at > now {
                    return Err(refuse(Refusal::Input, "the publication is dated in the future".into()));
                }
                let note = format!(
                    "已发布（{}）：{}；保密审查：{}",
                    publication.kind.label(),
                    publication.url,
                    signed.reviewer
                );
                self.publications.push(publication);
                (CaseState::Published, note)
            }
            Transition::Close { note } => {
                let note = note.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty());
                match (from, note) {
                    (CaseState::Published, None) => (CaseState::Closed, "办结".to_owned()),
                    (CaseState::Published, Some(n)) => (CaseState::Closed, format!("办结：{n}")),
                    (_, None) => {
                        return Err(refuse(
                            Refusal::Input,
                            "closing without a publication needs a note saying why no public \
                             response is needed"
                                .into(),
                        ));
                    }
                    (_, Some(n)) => (CaseState::Closed, format!("办结（无需公开回应）：{n}")),
                }
            }
            Transition::Dismiss { reason } => {
                let reason = reason.trim();
                if reason.is_empty() {
                    return Err(refuse(Refusal::Input, "不予处理 needs a reason".into()));
                }
                (CaseState::Dismissed, format!("不予处理：{reason}"))
            }
            Transition::Merge { into } => {
                if into == self.id {
                    return Err(refuse(Refusal::Input, "a case cannot be merged into itself".into()));
                }
                (CaseState::Merged, format!("合并到工单 {into}"))
            }
            Transition::Reopen { reason } => {
                let reason = reason.trim();
                if reason.is_empty() {
                    return Err(refuse(Refusal::Input, "reopening needs a reason".into()));
                }
                self.sign_off = None;
                (CaseState::Assessing, format!("重新研判：{reason}"))
            }
        };
        self.state = to;
        self.history.push(HistoryEntry {
            at: now,
            actor: actor.clone(),
            transition: name,
            from,
            to,
            note: note.clone(),
        });
        Ok(Applied { transition: name, from, to, note })
    }
}
