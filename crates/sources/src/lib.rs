//! Collection: the fetcher shared by all sources, character-encoding detection, article extraction,
//! Chinese dates, canonical URLs, schedules and the source kinds (`feed`, `html`, `json_api`).
//!
//! Each source kind lives in its own folder with its config, implementation and tests. Everything
//! but `fetch` and the kinds' `poll` is pure: no IO, and time is an input. Bad input (broken HTML,
//! wrong encodings, malformed feeds) yields an error or a reported [`yuqing_core::Issue`], never a
//! panic. This crate must not depend on the store, search or notify adapters.

pub mod canon;
pub mod config;
pub mod dates;
pub mod encoding;
pub mod extract;
pub mod fetch;
pub mod kinds;
pub mod schedule;

pub use config::{SourceConfig, SourcesConfig};
pub use kinds::ConfiguredSource;
