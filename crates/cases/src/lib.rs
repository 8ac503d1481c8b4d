//! Cases and their legal clocks: the working-day calendar (with 调休), clock templates and
//! deadlines, the case state machine, and the secrecy-review gate before publication.
//!
//! Pure: no IO (calendar files and configuration arrive as strings), no clock (`now` is an
//! argument). A case cannot reach 已发布 without a [`ReviewSignOff`] and a [`PassedCheck`]: the
//! types make it impossible, and the store refuses it too.

pub mod calendar;
pub mod clock;

pub use calendar::{Calendar, CalendarError, DayKind};
pub use clock::{ClockKind, ClockSpec, ClockTemplates, Deadline};

pub mod case;
pub mod check;

pub use case::{
    Actor, Applied, Case, CaseKind, CaseRecord, CaseState, Draft, IncidentGrade, Publication,
    PublicationKind, ReviewResult, ReviewSignOff, Role, Transition, TransitionError, TransitionName,
};
pub use check::{Finding, FindingKind, PassedCheck, PolicyError, PublicationPolicy};

#[cfg(test)]
mod tests_case;
