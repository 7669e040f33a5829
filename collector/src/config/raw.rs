//! The configuration file as written: every value optional and spanned, so that the
//! validation in the parent module can name the line of any value it rejects.

use serde::Deserialize;
use std::collections::BTreeMap;
use toml::Spanned;

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub listen: Option<Spanned<String>>,
    pub state_dir: Option<Spanned<String>>,
    pub window: Option<Spanned<String>>,
    pub bucket: Option<Spanned<String>>,
    pub warning: Option<Spanned<f64>>,
    pub critical: Option<Spanned<f64>>,
    pub min_requests: Option<Spanned<u64>>,
    pub clear_below: Option<Spanned<f64>>,
    pub reminder: Option<Spanned<String>>,
    pub stale_after: Option<Spanned<String>>,
    pub fast_window: Option<Spanned<String>>,
    pub fast_critical: Option<Spanned<f64>>,
    pub fast_min_requests: Option<Spanned<u64>>,
    pub down_unreachable: Option<Spanned<f64>>,
    pub down_unreachable_min: Option<Spanned<u64>>,
    pub down_span: Option<Spanned<String>>,
    pub top_routes: Option<Spanned<usize>>,
    #[serde(default)]
    pub tokens: Vec<RawToken>,
    #[serde(default)]
    pub webhooks: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    pub limits: RawLimits,
    #[serde(default)]
    pub delivery: RawDelivery,
    #[serde(default)]
    pub services: Vec<RawService>,
    pub status_token: Option<Spanned<String>>,
    #[serde(default)]
    pub history: RawHistory,
    pub operator_token: Option<Spanned<String>>,
    /// `[notify.WEBHOOK]`: group wait and quiet hours per webhook.
    #[serde(default)]
    pub notify: BTreeMap<String, RawNotify>,
    #[serde(default)]
    pub maintenance: Vec<Spanned<RawMaintenance>>,
}

/// `[notify.WEBHOOK]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNotify {
    pub group_wait: Option<Spanned<String>>,
    pub urgent_wait: Option<Spanned<String>>,
    pub quiet_hours: Option<RawQuiet>,
}

/// `quiet_hours = { start = "22:00", end = "07:00", time_zone = "Europe/Berlin" }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawQuiet {
    pub start: Spanned<String>,
    pub end: Spanned<String>,
    pub time_zone: Spanned<String>,
}

/// One `[[maintenance]]` window: weekly (`weekdays`, `start`, `duration`, `time_zone`) or one-off
/// (`from`, `until`), for `services` or all.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMaintenance {
    pub name: Option<Spanned<String>>,
    pub services: Option<Spanned<Vec<String>>>,
    pub weekdays: Option<Spanned<Vec<String>>>,
    pub start: Option<Spanned<String>>,
    pub duration: Option<Spanned<String>>,
    pub time_zone: Option<Spanned<String>>,
    pub from: Option<Spanned<String>>,
    pub until: Option<Spanned<String>>,
}

/// `[history]`: how long per-minute aggregates and alert records are kept, and how many rows.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHistory {
    pub retention: Option<Spanned<String>>,
    pub max_rows: Option<Spanned<u64>>,
}

/// One ingest token, optionally bound to proxy ids.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawToken {
    pub token: Spanned<String>,
    pub proxies: Option<Vec<String>>,
}

/// `[limits]`: caps that bound memory whatever the proxies send.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    pub max_proxies: Option<Spanned<usize>>,
    pub max_boots_per_proxy: Option<Spanned<usize>>,
    pub max_services: Option<Spanned<usize>>,
    pub max_routes: Option<Spanned<usize>>,
}

/// `[delivery]`: how hard to try Discord.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDelivery {
    pub timeout: Option<Spanned<String>>,
    pub max_backoff: Option<Spanned<String>>,
    pub broken_retry: Option<Spanned<String>>,
}

/// `expect_status`: `"2xx"`, `200`, or `[200, 204]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum RawExpect {
    Text(String),
    Code(i64),
    Codes(Vec<i64>),
}

/// One `[[services]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawService {
    pub name: Spanned<String>,
    pub health_url: Option<Spanned<String>>,
    pub interval: Option<Spanned<String>>,
    pub timeout: Option<Spanned<String>>,
    pub expect_status: Option<Spanned<RawExpect>>,
    pub failures_before_down: Option<Spanned<u32>>,
    pub successes_before_up: Option<Spanned<u32>>,
    pub webhook: Option<Spanned<String>>,
    #[serde(default)]
    pub mention_roles: Vec<String>,
    #[serde(default)]
    pub mention_users: Vec<String>,
    pub down_unreachable: Option<Spanned<f64>>,
    pub link: Option<Spanned<String>>,
    pub warning: Option<Spanned<f64>>,
    pub critical: Option<Spanned<f64>>,
    pub min_requests: Option<Spanned<u64>>,
}
