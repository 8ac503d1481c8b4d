//! Alert routing: who hears about an event, when, and what happens when nobody answers.
//!
//! Pure and synchronous (no IO, no clock: `now` is an argument), in the style of Prometheus
//! Alertmanager, configured by `config/routing.toml` ([`RoutingConfig`]) and the officials directory
//! `config/officials.toml` ([`Directory`]):
//!
//! - [`Router::decide`] walks the routing tree for an [`Incident`] (an event at a warning level,
//!   with its departments, topics, townships and source types) and returns the receivers to notify,
//!   each with the route that chose it and its timing, plus the receivers muted by a silence or an
//!   inhibition (kept so the UI can count them). The root route is the press officers' triage desk:
//!   an incident that matches nothing still reaches it.
//! - The department routes are generated from the county's responsibility matrix (every unit of
//!   `departments.toml`): a department's incident goes to that department; a unit outside the
//!   county's jurisdiction (XPCC regiments, the prefecture's environment branch, vertical bodies)
//!   goes to the press desk with a 转办 note.
//! - [`next_notice`] decides, for one alert, whether a digest, a repeat or an upgrade is due;
//!   [`Router::escalation_due`] walks the per-level escalation chain; [`OfficeHours`] decides who is
//!   woken at night (quiet hours never apply to legal clocks).

mod config;
mod decide;
mod directory;
mod time;

pub use config::{ConfigError, Matchers, RouteConfig, RoutingConfig, Timing, UnitInfo};
pub use decide::{
    ActiveEvent, AlertState, Decision, EscalationStep, Incident, IncidentUnit, MuteReason, Muted, Router,
    Silence, StepTarget, Target, UnitRole, next_notice,
};
pub use directory::{Contact, Directory, Members, Official, OfficialRole, RobotGroup};
pub use time::OfficeHours;

#[cfg(test)]
mod tests;
