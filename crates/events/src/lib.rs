//! Events: related posts grouped into one story, with a heat index and a warning level.
//!
//! Pure and synchronous: [`Clusterer`] is fed posts in commit order ([`PostSignal`], built by the
//! caller from a stored post and its analysis) and answers which event each joins
//! ([`Placement`]); it keeps the open events of the time window in memory with two indexes
//! (SimHash bands and keywords), so a post is compared with the few events that share a band or a
//! keyword, never with all of them. The caller persists the result and can rebuild the state from
//! the store after a restart ([`Clusterer::restore`]).
//!
//! - A near-duplicate (the store linked it to its original) or a repost joins its original's event.
//! - Otherwise the best open event whose last post is within the window and whose posts are SimHash
//!   neighbours, or whose keywords overlap enough while sharing a department, township or topic.
//! - [`heat`] combines volume, distinct sources, velocity, engagement and source weight (central
//!   media > provincial > prefecture > local > forum/social), halved for events naming nothing in
//!   the county; [`level`] adds negativity, risk words, a spike over the department's or
//!   township's own baseline ([`Baselines`]) and the topic's policy. The language of the posts is
//!   not an input of either.
//! - [`rumour_signal`] spots official denials and 辟谣 wording (a flag for triage, not a verdict).

mod cluster;
mod heat;
mod spike;

pub use cluster::{ClusterParams, Clusterer, EventSnapshot, JoinVia, Placement, PostSignal, RestoredEvent};
pub use heat::{EventStats, LevelPolicy, SourceTier, heat, level, rumour_signal};
pub use spike::Baselines;

#[cfg(test)]
mod tests;
