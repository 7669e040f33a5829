//! faultline-collector: receives the Faultline filter's flushes, decides when a service
//! is failing or down, and tells its owners on Discord without losing an alert.
//!
//! Pure modules (no I/O, time as an argument): [`config`], [`ledger`], [`window`],
//! [`alert`], [`health`] (state), [`engine`], [`message`], [`notice`], [`unsaved`], [`minutes`] (per-minute
//! history), [`metrics`] (Prometheus text), [`rules`] (Prometheus rules), [`history_text`].
//! Edges: [`store`] (SQLite), [`delivery`] (Discord), [`server`], [`status`], [`observe`] and
//! [`status_page`] (HTTP), [`health::probe`], [`app`] (wiring), [`testalert`], [`report`]
//! (the `history` and `rules` commands).
#![forbid(unsafe_code)]

pub mod alert;
pub mod app;
pub mod config;
pub mod delivery;
pub mod engine;
pub mod health;
pub mod history_text;
pub mod ledger;
pub mod message;
pub mod metrics;
pub mod minutes;
pub mod notice;
pub mod observe;
pub mod report;
pub mod rules;
pub mod server;
pub mod status;
pub mod status_page;
pub mod store;
pub mod testalert;
pub mod unsaved;
pub mod window;
