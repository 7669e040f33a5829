//! The pure core: how flushes and health checks become decisions. No I/O; every function that
//! depends on time takes `now_ms`.
//!
//! [`ledger`] turns cumulative flushes into deltas per proxy boot; [`window`] sums them over the
//! sliding window; [`alert`] judges the 5xx rate; [`health`] tracks UP/DOWN from probes; [`minutes`]
//! keeps the per-minute history; [`engine`] ties them together per service and emits [`notice`]s.

pub mod alert;
pub mod engine;
pub mod health;
pub mod ledger;
pub mod minutes;
pub mod notice;
pub mod window;
