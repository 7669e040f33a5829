//! What people and Prometheus read: the status page ([`page`]) and its JSON ([`status`], [`views`]),
//! `/metrics` ([`metrics`]), the Prometheus rules ([`rules`]), and the `history` command
//! ([`history_text`], [`report`]). Read-only: nothing here changes a decision.

pub mod act;
pub mod history_text;
pub mod http;
pub mod metrics;
pub mod page;
pub mod report;
pub mod rules;
pub mod status;
pub mod views;
