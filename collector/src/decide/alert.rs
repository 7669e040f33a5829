//! The 5xx rate of one service: OK / WARNING / CRITICAL over the window, with hysteresis and
//! "no data". Pure: counts, coverage and `now` come in, the level change (if any) comes out. What
//! is said about it, and when, is the incident's business (`incident`).
//!
//! Hysteresis: a level is entered when the rate reaches its threshold, and left only when
//! the rate falls below `clear_pct`% of that threshold (default 80%: WARNING at 5% clears
//! below 4%, CRITICAL at 10% drops below 8%). Below the minimum volume the rate cannot raise
//! or escalate, but it can still clear. A window the reports do not fully cover
//! ([`Coverage`]) can raise a level, never lower one: missing data is not recovery.

use super::coverage::Coverage;
pub use crate::config::Thresholds;
use serde::{Deserialize, Serialize};

/// Severity of a service's 5xx rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Ok,
    Warning,
    Critical,
}

impl Level {
    /// Upper-case name used in messages.
    pub fn name(self) -> &'static str {
        match self {
            Level::Ok => "OK",
            Level::Warning => "WARNING",
            Level::Critical => "CRITICAL",
        }
    }
}

/// Judging a rate against the configured thresholds (the data itself is [`Thresholds`], in config).
impl Thresholds {
    /// Whether `errors / requests >= bp / 10000`, exactly.
    fn reaches(errors: u64, requests: u64, bp_times_100: u128) -> bool {
        u128::from(errors) * 1_000_000 >= bp_times_100 * u128::from(requests)
    }

    /// The level the evidence supports, given the current one (hysteresis and volume applied).
    pub fn judge(&self, current: Level, requests: u64, errors: u64) -> Level {
        if requests == 0 {
            return Level::Ok;
        }
        let at = |bp: u64, pct: u64| Self::reaches(errors, requests, u128::from(bp) * u128::from(pct));
        let raw = if at(self.critical_bp, 100) {
            Level::Critical
        } else if at(self.warning_bp, 100) {
            Level::Warning
        } else {
            Level::Ok
        };
        let held = if at(self.critical_bp, self.clear_pct) {
            Level::Critical
        } else if at(self.warning_bp, self.clear_pct) {
            Level::Warning
        } else {
            Level::Ok
        };
        let up = if requests >= self.min_requests { raw } else { Level::Ok };
        up.max(held.min(current))
    }
}

/// A change worth a message, as the collector said it before incidents (one message per rate change).
/// Kept so that outbox rows written by an older collector still render after an upgrade.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum RateChange {
    Raised {
        to: Level,
    },
    Escalated {
        from: Level,
        to: Level,
    },
    DeEscalated {
        from: Level,
        to: Level,
    },
    /// The alert ended; `no_data` when it ended because the window had no traffic.
    Resolved {
        from: Level,
        lasted_ms: u64,
        no_data: bool,
    },
    Reminder {
        level: Level,
        firing_ms: u64,
    },
}

/// The persisted rate state of one service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateAlert {
    pub level: Level,
    /// When `level` was entered.
    pub since_ms: u64,
    /// The window held no traffic at the last evaluation.
    pub no_data: bool,
    /// Written by collectors before incidents (when the rate alert opened; whether it was paged):
    /// read once to carry an open alert into an incident after an upgrade, never written again.
    #[serde(default, skip_serializing)]
    pub opened_ms: Option<u64>,
    #[serde(default, skip_serializing)]
    pub announced: bool,
}

impl RateAlert {
    /// A new rate state: OK, with no data yet.
    pub fn new(now_ms: u64) -> RateAlert {
        RateAlert { level: Level::Ok, since_ms: now_ms, no_data: true, opened_ms: None, announced: false }
    }

    /// Whether the level is above OK.
    pub fn firing(&self) -> bool {
        self.level > Level::Ok
    }

    /// Evaluates the window's counts at `now_ms`, judged as far as `coverage` allows; `fast` is the
    /// fast burn's verdict (CRITICAL when nearly everything failed in its short window), which can only
    /// raise. Returns `(from, to)` when the level changed.
    pub fn evaluate(
        &mut self,
        th: &Thresholds,
        requests: u64,
        errors: u64,
        fast: Level,
        coverage: Coverage,
        now_ms: u64,
    ) -> Option<(Level, Level)> {
        let from = self.level;
        let judged = th.judge(from, requests, errors).max(fast);
        let to = if coverage.is_full() { judged } else { judged.max(from) };
        // "No data" is a fact only when every report is in; a gap in reports is not an empty window.
        self.no_data = requests == 0 && coverage.is_full();
        if to == from {
            return None;
        }
        self.level = to;
        self.since_ms = now_ms;
        Some((from, to))
    }
}

#[cfg(test)]
mod tests;
