//! A notice: one thing to tell a service's owners (or the team, about a proxy), as stored in the
//! outbox. It carries the facts at the moment of the change; the Discord message is rendered from it.

use crate::decide::alert::{Level, RateChange, Thresholds};
use crate::decide::coverage::Coverage;
use crate::decide::health::{Health, HealthChange, ProbeResult};
use crate::decide::incident::{Condition, IncidentChange, Severity};
use crate::decide::notify::{Ack, Ended, Mute};
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
    /// A notifying message: one embed per incident of a group (or of a quiet-hours digest). An incident
    /// with no living message yet gets its living embed here, and this message becomes its living one.
    Post(PostEvent),
    /// The living message of an incident, as it stands now: edited in place (or posted without
    /// notifying anyone when it has none, or Discord lost it).
    Living(LivingEvent),
}

/// A notifying message to one webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostEvent {
    pub items: Vec<PostItem>,
    /// Set for the digest sent when quiet hours end.
    #[serde(default)]
    pub digest: Option<Digest>,
}

/// One incident in a [`PostEvent`]: its change (`notice`, an [`Event::Incident`] with its facts) and how it
/// stands (for its living embed, if this message becomes its living message).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostItem {
    pub notice: Notice,
    pub living: LivingEvent,
    /// Announced because this mute ended (the incident changed under it).
    #[serde(default)]
    pub unmuted: Option<Mute>,
}

/// What the quiet hours held: the incidents that ended meanwhile (the open ones are the post's items).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Digest {
    pub ended: Vec<Ended>,
}

/// An incident as its living message shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LivingEvent {
    pub opened_ms: u64,
    /// The service's condition now (OK once resolved).
    pub now: Condition,
    pub worst: Severity,
    #[serde(default)]
    pub ack: Option<Ack>,
    #[serde(default)]
    pub mute: Option<Mute>,
    /// Its changes so far, oldest first (the first and the latest kept when there are many).
    #[serde(default)]
    pub timeline: Vec<Step>,
    /// Set once it is over.
    #[serde(default)]
    pub end: Option<End>,
    /// The health change of the latest change, if any (DOWN with its failure).
    #[serde(default)]
    pub health: Option<HealthChange>,
}

/// How an incident ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct End {
    pub at_ms: u64,
    pub lasted_ms: u64,
    /// The condition last told before the end.
    pub from: Condition,
    pub no_traffic: bool,
}

/// One entry of an incident's timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    /// A change of its condition (`kind`: opened, worse, better, reminder, resolved).
    Change {
        at_ms: u64,
        kind: String,
        to: Condition,
    },
    Acked {
        at_ms: u64,
        by: String,
    },
    Muted {
        at_ms: u64,
        why: Mute,
    },
    Unmuted {
        at_ms: u64,
    },
}

impl Step {
    /// When it happened.
    pub fn at_ms(&self) -> u64 {
        match self {
            Step::Change { at_ms, .. }
            | Step::Acked { at_ms, .. }
            | Step::Muted { at_ms, .. }
            | Step::Unmuted { at_ms } => *at_ms,
        }
    }
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

/// One failing request a proxy sampled (a flush's exemplar): what a developer searches the backend's
/// logs with.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedRequest {
    /// When the proxy counted it (proxy clock, unix ms).
    pub at_ms: u64,
    pub proxy: String,
    pub method: String,
    /// The normalized route key (`GET /users/:id`).
    pub route: String,
    /// The raw path without its query string, unless the filter's `raw_path` is off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    pub status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// What the proxy itself saw (Envoy's response code details).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
}

impl FailedRequest {
    /// The request `e` of a flush from `proxy`.
    pub fn from_exemplar(proxy: &str, e: &faultline_flush::Exemplar) -> FailedRequest {
        FailedRequest {
            at_ms: e.time_ms,
            proxy: proxy.to_string(),
            method: e.method.clone(),
            route: e.route.clone(),
            path: e.path.clone(),
            status: e.status,
            request_id: e.request_id.clone(),
            upstream: e.upstream.clone(),
            duration_ms: e.duration_ms,
            details: e.details.clone(),
        }
    }

    /// Whether `other` is the same request (a flush repeated after a lost answer carries it again).
    pub fn same(&self, other: &FailedRequest) -> bool {
        self.at_ms == other.at_ms
            && self.proxy == other.proxy
            && self.route == other.route
            && self.request_id == other.request_id
    }
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
    /// The service's last failing requests the proxies sampled, newest first.
    #[serde(default)]
    pub last_failures: Vec<FailedRequest>,
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
