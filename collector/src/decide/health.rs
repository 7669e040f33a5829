//! HealthCheck: the UP/DOWN state of one service from its periodic probes. Pure: probe
//! results and `now` come in, the change (if any) comes out. The probing itself (I/O)
//! is in the `probe` edge.

use serde::{Deserialize, Serialize};

/// Why a probe failed, as said in the alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "detail", rename_all = "snake_case")]
pub enum Failure {
    /// Answered, with an unexpected status.
    Status(u16),
    /// No answer within the timeout.
    Timeout,
    /// Connection refused: nothing listening.
    Refused,
    /// TLS handshake or certificate failure.
    Tls(String),
    /// The host name did not resolve.
    Dns(String),
    /// Any other connection or protocol error.
    Connection(String),
    /// Not a probe: the proxy itself could not reach the service for most of its requests over a span.
    Unreachable { unreachable: u64, requests: u64, span_ms: u64 },
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Status(s) => write!(f, "status {s}"),
            Failure::Timeout => f.write_str("timeout"),
            Failure::Refused => f.write_str("connection refused"),
            Failure::Tls(d) => write!(f, "TLS error: {d}"),
            Failure::Dns(d) => write!(f, "DNS error: {d}"),
            Failure::Connection(d) => write!(f, "connection error: {d}"),
            Failure::Unreachable { unreachable, requests, span_ms } => {
                write!(f, "the proxy cannot reach it: {unreachable} of {requests} requests in {} s", span_ms / 1000)
            }
        }
    }
}

/// The outcome of one probe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeResult {
    pub at_ms: u64,
    pub latency_ms: u64,
    /// `None` when the probe succeeded.
    pub failure: Option<Failure>,
    /// HTTP status, when there was an answer.
    pub status: Option<u16>,
}

/// UP, DOWN, or not yet known (no probe since the service appeared).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    Unknown,
    Up,
    Down,
}

/// A change of health: DOWN (with the failure that made it), UP (with the downtime). The incident
/// decides what is said about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum HealthChange {
    Down {
        failure: Failure,
        failures: u32,
    },
    Up {
        downtime_ms: u64,
    },
    /// Written by collectors before incidents (the incident reminds now); kept for old outbox rows.
    Reminder {
        failure: Failure,
        down_ms: u64,
    },
}

/// The persisted health state of one service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthState {
    pub health: Health,
    pub failures: u32,
    pub successes: u32,
    /// First failure of the current failing streak (the downtime starts there).
    pub failing_since_ms: Option<u64>,
    pub down_since_ms: Option<u64>,
    pub last: Option<ProbeResult>,
    /// Set while DOWN was declared from the proxy's own view, no health check having said so yet.
    #[serde(default)]
    pub passive: bool,
    /// The last passing check: the proxy's view counts only what it saw after it (its unreachable responses
    /// from before a restart that the check has seen end are no evidence of a new outage).
    #[serde(default)]
    pub last_pass_ms: Option<u64>,
}

impl Default for HealthState {
    fn default() -> Self {
        HealthState {
            health: Health::Unknown,
            failures: 0,
            successes: 0,
            failing_since_ms: None,
            down_since_ms: None,
            last: None,
            passive: false,
            last_pass_ms: None,
        }
    }
}

impl HealthState {
    /// Whether the service is DOWN.
    pub fn is_down(&self) -> bool {
        self.health == Health::Down
    }

    /// DOWN from the proxy's own view (`failure` says what it saw), unless already DOWN.
    pub fn passive_down(&mut self, now_ms: u64, failure: Failure) -> Option<HealthChange> {
        if self.is_down() {
            return None;
        }
        self.health = Health::Down;
        self.down_since_ms = Some(now_ms);
        self.passive = true;
        Some(HealthChange::Down { failure, failures: 0 })
    }

    /// UP again from the proxy's own view (a service without a health check that it reaches again).
    pub fn passive_up(&mut self, now_ms: u64) -> Option<HealthChange> {
        if !(self.is_down() && self.passive) {
            return None;
        }
        let since = self.down_since_ms.take().unwrap_or(now_ms);
        self.health = Health::Up;
        self.passive = false;
        Some(HealthChange::Up { downtime_ms: now_ms.saturating_sub(since) })
    }

    /// Records a probe: DOWN after `down_after` failures in a row, UP after `up_after` successes — but not
    /// a DOWN declared from the proxy's view while `unreachable` (since the last passing check the proxy still
    /// cannot reach it: its fresh view outweighs one check). A DOWN a check confirmed ends with the checks.
    pub fn record(
        &mut self,
        p: ProbeResult,
        down_after: u32,
        up_after: u32,
        unreachable: bool,
    ) -> Option<HealthChange> {
        let now = p.at_ms;
        let failure = p.failure.clone();
        self.last = Some(p);
        match failure {
            Some(failure) => {
                self.successes = 0;
                self.failures = self.failures.saturating_add(1);
                self.failing_since_ms.get_or_insert(now);
                // A failing check confirms a DOWN declared from the proxy's view: it is the check's now.
                self.passive = false;
                if self.health != Health::Down && self.failures >= down_after.max(1) {
                    self.health = Health::Down;
                    self.down_since_ms = self.failing_since_ms;
                    return Some(HealthChange::Down { failure, failures: self.failures });
                }
                None
            }
            None => {
                self.failures = 0;
                self.failing_since_ms = None;
                self.successes = self.successes.saturating_add(1);
                self.last_pass_ms = Some(now);
                match self.health {
                    Health::Down if unreachable && self.passive => None,
                    Health::Down if self.successes >= up_after.max(1) => {
                        let since = self.down_since_ms.take().unwrap_or(now);
                        self.health = Health::Up;
                        self.passive = false;
                        Some(HealthChange::Up { downtime_ms: now.saturating_sub(since) })
                    }
                    Health::Down => None,
                    _ => {
                        self.health = Health::Up;
                        None
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(at: u64) -> ProbeResult {
        ProbeResult { at_ms: at, latency_ms: 3, failure: None, status: Some(200) }
    }
    fn bad(at: u64, f: Failure) -> ProbeResult {
        ProbeResult { at_ms: at, latency_ms: 3, failure: Some(f), status: None }
    }

    #[test]
    fn down_after_n_failures_saying_which_and_up_after_m_with_downtime() {
        let mut h = HealthState::default();
        assert_eq!(h.record(ok(0), 3, 2, false), None);
        assert_eq!(h.health, Health::Up);
        assert_eq!(h.record(bad(60_000, Failure::Refused), 3, 2, false), None);
        assert_eq!(h.record(bad(120_000, Failure::Timeout), 3, 2, false), None);
        assert_eq!(
            h.record(bad(180_000, Failure::Status(503)), 3, 2, false),
            Some(HealthChange::Down { failure: Failure::Status(503), failures: 3 })
        );
        assert_eq!(h.record(bad(240_000, Failure::Status(503)), 3, 2, false), None, "announced once");
        assert_eq!(h.record(ok(300_000), 3, 2, false), None);
        assert_eq!(h.record(bad(360_000, Failure::Refused), 3, 2, false), None, "a failure resets the successes");
        assert_eq!(h.record(ok(420_000), 3, 2, false), None);
        assert_eq!(h.record(ok(480_000), 3, 2, false), Some(HealthChange::Up { downtime_ms: 420_000 }));
    }

    #[test]
    fn a_success_breaks_a_failing_streak() {
        let mut h = HealthState::default();
        h.record(bad(0, Failure::Refused), 2, 1, false);
        h.record(ok(1), 2, 1, false);
        assert_eq!(h.record(bad(2, Failure::Refused), 2, 1, false), None);
        assert!(h.record(bad(3, Failure::Dns("x".into())), 2, 1, false).is_some());
        assert_eq!(h.down_since_ms, Some(2));
    }

    #[test]
    fn down_from_the_proxy_view_needs_a_passing_check_to_end_and_not_while_unreachable() {
        let mut h = HealthState::default();
        h.record(ok(0), 1, 1, false);
        let seen = Failure::Unreachable { unreachable: 48, requests: 50, span_ms: 10_000 };
        assert_eq!(
            h.passive_down(5_000, seen.clone()),
            Some(HealthChange::Down { failure: seen.clone(), failures: 0 })
        );
        assert_eq!(h.passive_down(6_000, seen), None, "once");
        assert_eq!(h.record(ok(7_000), 1, 1, true), None, "the check passes, but the proxy still cannot reach it");
        assert_eq!(h.last_pass_ms, Some(7_000), "the proxy's view counts from here");
        assert_eq!(h.record(ok(8_000), 1, 1, false), Some(HealthChange::Up { downtime_ms: 3_000 }));
        assert!(!h.passive);
        // A DOWN a failing check confirmed ends with the first passing check, whatever the proxy saw before it
        // (its refusals from before the restart are still in the span).
        let mut r = HealthState::default();
        r.passive_down(0, Failure::Refused);
        r.record(bad(1_000, Failure::Refused), 1, 1, true);
        assert!(!r.passive, "confirmed by the check");
        assert_eq!(r.record(ok(9_000), 1, 1, true), Some(HealthChange::Up { downtime_ms: 9_000 }));
        // Without a check: UP once the proxy reaches it again.
        let mut g = HealthState::default();
        g.passive_down(0, Failure::Refused);
        assert_eq!(g.passive_up(9_000), Some(HealthChange::Up { downtime_ms: 9_000 }));
        assert_eq!(g.passive_up(9_500), None);
    }

    #[test]
    fn failures_are_said_plainly() {
        let u = Failure::Unreachable { unreachable: 48, requests: 50, span_ms: 6_000 };
        assert_eq!(u.to_string(), "the proxy cannot reach it: 48 of 50 requests in 6 s");
        assert_eq!(Failure::Status(502).to_string(), "status 502");
        assert_eq!(Failure::Refused.to_string(), "connection refused");
    }
}
