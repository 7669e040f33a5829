//! faultline-collector: receives the Faultline filter's flushes, decides when a service
//! is failing or down, and tells its owners on Discord without losing an alert.
//!
//! Pure modules (no I/O, time as an argument): [`config`], [`ledger`], [`window`],
//! [`alert`], [`health`] (state), [`engine`], [`message`], [`notice`]. Edges: [`store`]
//! (SQLite), [`delivery`] (Discord), [`server`] and [`status`] (HTTP), [`health::probe`],
//! [`app`] (wiring), [`testalert`].
#![forbid(unsafe_code)]

pub mod alert;
pub mod app;
pub mod config;
pub mod delivery;
pub mod engine;
pub mod health;
pub mod ledger;
pub mod message;
pub mod notice;
pub mod server;
pub mod status;
pub mod store;
pub mod testalert;
pub mod window;
