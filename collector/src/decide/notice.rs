//! A notice: one thing to tell a service's owners (or the team, about a proxy), as stored in the
//! outbox. It carries the facts at the moment of the change; the Discord message is rendered from it.

use crate::decide::alert::{Level, RateChange, Thresholds};
use crate::decide::coverage::Coverage;
use crate::decide::health::{Health, HealthChange, ProbeResult};
use crate::decide::incident::IncidentChange;
use crate::decide::watchdog::ProxyChange;
use serde::{Deserialize, Serialize};

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A change of a service's incident (its worst state), the only kind the collector writes now.
    Incident(IncidentEvent),
    /// About a proxy (it stopped or resumed reporting, its filter refused a configuration); `service`
    /// of the notice is then the proxy's id, and it goes to the default webhook.
    Proxy(ProxyEvent),
    /// Written by collectors before incidents; kept so that such outbox rows still render.
    Rate(RateChange),
    /// Written by collectors before incidents; kept so that such outbox rows still render.
    Health(HealthChange),
    /// `test-alert`: a clearly marked test through the real delivery path.
    Test,
}

/// A change of a service's incident, with what the health check did at that moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentEvent {
    pub change: IncidentChange,
    /// When the incident's first message was decided.
    pub opened_ms: u64,
    /// The health change that came with it (DOWN with its failure, UP with the downtime), if any.
    #[serde(default)]
    pub health: Option<HealthChange>,
}

/// A change about a proxy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProxyEvent {
    pub proxy: String,
    pub change: ProxyChange,
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
    /// How far the proxies' reports cover the window (`None` in rows of older collectors: full).
    #[serde(default)]
    pub coverage: Option<Coverage>,
    /// When the current DOWN began (while DOWN), and the failed checks in a row.
    #[serde(default)]
    pub down_since_ms: Option<u64>,
    #[serde(default)]
    pub failures: u32,
    /// The time of traffic `requests` and `errors` cover: flushes follow their own boundaries, so this
    /// is the window give or take a flush interval (`None`: the window, as older collectors said).
    #[serde(default)]
    pub covers_ms: Option<u64>,
    /// Set when the fast burn fires: nearly everything failed in its short window.
    #[serde(default)]
    pub burst: Option<Burst>,
}

/// The fast burn's short window when it fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Burst {
    pub requests: u64,
    pub errors: u64,
    pub window_ms: u64,
}

impl Notice {
    /// Whether this notice is about a proxy rather than a service.
    pub fn is_proxy(&self) -> bool {
        matches!(self.event, Event::Proxy(_))
    }
}
