//! iopd: reminders and follow-up tracking for IOP partnerships.
//!
//! See ARCHITECTURE.md for the map. The pure core is `engine` (with
//! `calendar` and `domain`); `store`, `import`, `ical` and `cli` are the edges.

pub mod calendar;
pub mod cli;
pub mod clock;
pub mod config;
pub mod delivery;
pub mod digest;
pub mod domain;
pub mod engine;
pub mod guideline;
pub mod ical;
pub mod import;
pub mod ladder;
pub mod mail;
pub mod meetings;
pub mod outlook;
pub mod recheck;
pub mod record;
pub mod report;
pub mod schedule;
pub mod service;
pub mod store;
pub mod synth;
pub mod tick;
pub mod web;
pub mod words;
pub mod workspace;
