//! Faultline's proxy-wasm filter: counts every response per upstream service and status
//! class (and 5xx per normalized route) in a per-worker tally, merges it into proxy-wasm
//! shared data on a tick, and has one worker at a time flush the cumulative counters to
//! the collector. See `filter/README.md`.
//!
//! Everything but [`glue`] (wasm only) is pure and native-testable: time is passed in,
//! shared data is behind [`shared::SharedData`].

pub mod codec;
pub mod config;
pub mod counts;
pub mod exemplars;
pub mod flush_json;
pub mod flusher;
pub mod ids;
pub mod json;
pub mod lease;
pub mod merge;
pub mod reach;
pub mod record;
pub mod refusals;
pub mod route;
pub mod routes;
pub mod service;
pub mod shared;
pub mod tally;

#[cfg(target_arch = "wasm32")]
mod glue;
