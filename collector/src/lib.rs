//! faultline-collector: receives the Faultline filter's flushes, decides when a service
//! is failing or down, and tells its owners on Discord without losing an alert.
//!
//! The modules are layers; each imports only layers below it (checked by `tests/layers.rs`):
//!
//! - [`app`]: wiring — tasks, timers, signals, the HTTP listener. Imported by the binary only.
//! - Edges: [`ingest`] (`POST /v1/flush`), [`deliver`] (outbox → Discord, `test-alert`),
//!   [`probe`] (one HTTP health check), [`observe`] (status page, JSON, metrics, history, rules),
//!   [`proxycheck`] (`check-proxy`: a proxy's Faultline configurations through the filter's validation),
//!   [`operate`] (the operator API: silences and acknowledgements, and the CLI's client of it).
//! - [`state`]: what the tasks share — config, engine and store behind one lock, delivery status.
//! - [`error`]: the one error type at the edge.
//! - [`store`]: SQLite (state, outbox, history).
//! - Pure core, time passed in, no I/O: [`message`] (Discord rendering) over [`decide`] (ledger,
//!   window, rate alert, health state, per-minute history, engine, notices).
//! - [`config`]: the TOML file, validated.
//! - Helpers below everything: [`clock`], [`secret`], [`http`].
#![forbid(unsafe_code)]

pub mod app;
pub mod clock;
pub mod config;
pub mod decide;
pub mod deliver;
pub mod error;
pub mod http;
pub mod ingest;
pub mod message;
pub mod observe;
pub mod operate;
pub mod probe;
pub mod proxycheck;
pub mod secret;
pub mod state;
pub mod store;
