//! faultline-collector: receives the Faultline filter's flushes, decides when a service
//! is failing or down, and tells its owners on Discord without losing an alert.
//!
//! Pure modules (no I/O, time as an argument): [`config`], [`ledger`], [`window`],
//! [`alert`], [`health`] (state), [`engine`], [`message`]. Edges: [`store`] (SQLite),
//! [`delivery`] (Discord), [`server`] (HTTP), [`health::probe`], [`app`] (wiring).
#![forbid(unsafe_code)]

pub mod alert;
pub mod config;
pub mod engine;
pub mod health;
pub mod ledger;
pub mod message;
pub mod notice;
pub mod store;
pub mod window;
