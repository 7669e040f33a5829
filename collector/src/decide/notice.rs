//! A notice: one thing to tell a service's owners, as stored in the outbox. It carries
//! the facts at the moment of the change; the Discord message is rendered from it.

use crate::decide::alert::{Level, RateChange, Thresholds};
use crate::decide::health::{Health, HealthChange, ProbeResult};
use serde::{Deserialize, Serialize};

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    Rate(RateChange),
    Health(HealthChange),
    /// `test-alert`: a clearly marked test through the real delivery path.
    Test,
}

/// One failing route, for the "top failing routes" list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteLine {
    pub route: String,
    /// 5xx on this route inside the window.
    pub count: u64,
    pub first_seen_ms: u64,
    pub last_seen_ms: u64,
}

/// Everything a message about one service needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    pub service: String,
    pub at_ms: u64,
    pub event: Event,
    /// The rate level after the event.
    pub level: Level,
    pub health: Health,
    pub window_ms: u64,
    pub requests: u64,
    pub errors: u64,
    pub thresholds: Thresholds,
    pub top_routes: Vec<RouteLine>,
    /// On UP: the rate alert that is still firing (opened while the service was DOWN).
    #[serde(default)]
    pub rate_still: Option<Level>,
    #[serde(default)]
    pub last_probe: Option<ProbeResult>,
}
