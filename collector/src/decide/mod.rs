//! The pure core: how flushes and health checks become decisions. No I/O; every function that
//! depends on time takes `now_ms`.
//!
//! [`ledger`] turns cumulative flushes into deltas per proxy boot; [`window`] sums them over the
//! sliding window and [`coverage`] says how much of it the reports cover; [`alert`] judges the 5xx
//! rate; [`health`] tracks UP/DOWN from probes; [`incident`] makes one incident per service of the
//! two and decides what to say; [`watchdog`] watches the proxies themselves; [`minutes`] keeps the
//! per-minute history; [`engine`] ties them together and emits [`notice`]s.

pub mod alert;
pub mod coverage;
pub mod desk;
pub mod engine;
pub mod health;
pub mod incident;
pub mod ledger;
pub mod minutes;
pub mod notice;
pub mod notify;
pub mod schedule;
pub mod silence;
pub mod watchdog;
pub mod window;
