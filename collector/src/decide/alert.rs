//! The 5xx-rate alert of one service: OK / WARNING / CRITICAL over the window, with
//! hysteresis, "no data", and reminders while firing. Pure: counts and `now` come in,
//! the change to announce (if any) comes out.
//!
//! Hysteresis: a level is entered when the rate reaches its threshold, and left only when
//! the rate falls below `clear_pct`% of that threshold (default 80%: WARNING at 5% clears
//! below 4%, CRITICAL at 10% drops below 8%). Below the minimum volume the rate cannot raise
//! or escalate, but it can still clear a firing alert. An empty window is "no data": a
//! firing alert ends, said as such.

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

/// A change worth a message.
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

/// The persisted alert state of one service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateAlert {
    pub level: Level,
    /// When `level` was entered.
    pub since_ms: u64,
    /// When the current incident (level above OK) began.
    pub opened_ms: Option<u64>,
    /// Whether the incident was announced (not while the service was DOWN).
    pub announced: bool,
    /// Last message about this incident, for reminders.
    pub last_notice_ms: u64,
    /// The window held no traffic at the last evaluation.
    pub no_data: bool,
}

impl RateAlert {
    /// A new alert: OK, with no data yet.
    pub fn new(now_ms: u64) -> RateAlert {
        RateAlert {
            level: Level::Ok,
            since_ms: now_ms,
            opened_ms: None,
            announced: false,
            last_notice_ms: 0,
            no_data: true,
        }
    }

    /// Whether an incident is open.
    pub fn firing(&self) -> bool {
        self.level > Level::Ok
    }

    /// Evaluates the window's counts at `now_ms`. `suppressed` (the service is DOWN) applies the
    /// change silently. `reminder_ms` 0 disables reminders.
    pub fn evaluate(
        &mut self,
        th: &Thresholds,
        requests: u64,
        errors: u64,
        now_ms: u64,
        reminder_ms: u64,
        suppressed: bool,
    ) -> Option<RateChange> {
        let from = self.level;
        self.no_data = requests == 0;
        let to = th.judge(from, requests, errors);
        let change = match (from, to) {
            (f, t) if f == t => None,
            (Level::Ok, t) => {
                self.opened_ms = Some(now_ms);
                self.announced = !suppressed;
                Some(RateChange::Raised { to: t })
            }
            (f, Level::Ok) => {
                let lasted_ms = now_ms.saturating_sub(self.opened_ms.unwrap_or(self.since_ms));
                let was_announced = self.announced;
                self.opened_ms = None;
                self.announced = false;
                Some(RateChange::Resolved { from: f, lasted_ms, no_data: requests == 0 }).filter(|_| was_announced)
            }
            (f, t) if t > f => Some(RateChange::Escalated { from: f, to: t }),
            (f, t) => Some(RateChange::DeEscalated { from: f, to: t }),
        };
        if from != to {
            self.level = to;
            self.since_ms = now_ms;
        }
        match change {
            Some(c) if !suppressed && (self.announced || matches!(c, RateChange::Resolved { .. })) => {
                self.last_notice_ms = now_ms;
                Some(c)
            }
            Some(_) => None,
            None if !suppressed
                && self.firing()
                && self.announced
                && reminder_ms > 0
                && now_ms.saturating_sub(self.last_notice_ms) >= reminder_ms =>
            {
                self.last_notice_ms = now_ms;
                let firing_ms = now_ms.saturating_sub(self.opened_ms.unwrap_or(self.since_ms));
                Some(RateChange::Reminder { level: self.level, firing_ms })
            }
            None => None,
        }
    }

    /// Marks a silently opened incident as announced (said in the UP message); true if it was firing.
    pub fn adopt(&mut self, now_ms: u64) -> bool {
        if self.firing() {
            self.announced = true;
            self.last_notice_ms = now_ms;
        }
        self.firing()
    }
}

#[cfg(test)]
mod tests;
