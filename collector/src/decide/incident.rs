//! One incident per service: from the first bad signal (DOWN, or the 5xx rate at WARNING or above)
//! until health and rate are both fine again. Pure: the service's condition and `now` come in, what to
//! tell the channel comes out.
//!
//! The channel only ever hears the incident's worst state, in terms it can follow from what it was
//! already told: the incident remembers the condition of its last message ([`Incident::told`]) and
//! every message is a change from there. While the service is DOWN its rate is not paged (the outage
//! is the news); a rate change hidden that way is told by the next message (UP, a reminder, the end).
//! RESOLVED means the whole incident ended, with its duration from the first message.

use super::alert::Level;
use serde::{Deserialize, Serialize};

/// A service's state as one word: the worse of its health and its 5xx rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Ok,
    Warning,
    Critical,
    Down,
}

impl Severity {
    /// Upper-case name used in messages.
    pub fn name(self) -> &'static str {
        match self {
            Severity::Ok => "OK",
            Severity::Warning => "WARNING",
            Severity::Critical => "CRITICAL",
            Severity::Down => "DOWN",
        }
    }
}

/// A service's two signals: DOWN or not (its health check), and the level of its 5xx rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Condition {
    pub down: bool,
    pub level: Level,
}

impl Condition {
    /// Nothing wrong.
    pub const OK: Condition = Condition { down: false, level: Level::Ok };

    /// The worse of the two.
    pub fn severity(self) -> Severity {
        match (self.down, self.level) {
            (true, _) => Severity::Down,
            (false, Level::Critical) => Severity::Critical,
            (false, Level::Warning) => Severity::Warning,
            (false, Level::Ok) => Severity::Ok,
        }
    }
}

/// An open incident (persisted with the service, so that it spans collector restarts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incident {
    /// When its first message was decided.
    pub opened_ms: u64,
    /// The condition the channel was last told.
    pub told: Condition,
    /// The worst severity the channel was told during this incident.
    pub worst: Severity,
    /// When the last message about it was decided (reminders count from there).
    pub last_notice_ms: u64,
}

/// What to tell the channel about a service's incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum IncidentChange {
    /// A new incident.
    Opened { to: Condition },
    /// Worse than the channel was told (a higher rate level, or DOWN).
    Worse { from: Condition, to: Condition },
    /// Better than told, but not over (UP while the rate is still WARNING or CRITICAL, a lower level).
    Better { from: Condition, to: Condition },
    /// Over: UP and the rate fine. `no_traffic`: the rate cleared because the proxies reported no
    /// traffic for a whole window.
    Resolved { from: Condition, worst: Severity, lasted_ms: u64, no_traffic: bool },
    /// Still open after another reminder interval; `now` may fold in a rate change hidden under DOWN.
    Reminder { from: Condition, now: Condition, open_ms: u64 },
}

impl IncidentChange {
    /// The service's condition after the change.
    pub fn after(&self) -> Condition {
        match self {
            IncidentChange::Opened { to } | IncidentChange::Worse { to, .. } | IncidentChange::Better { to, .. } => *to,
            IncidentChange::Reminder { now, .. } => *now,
            IncidentChange::Resolved { .. } => Condition::OK,
        }
    }

    /// The condition the channel knew before this message (none for a new incident).
    pub fn before(&self) -> Option<Condition> {
        match self {
            IncidentChange::Opened { .. } => None,
            IncidentChange::Worse { from, .. }
            | IncidentChange::Better { from, .. }
            | IncidentChange::Resolved { from, .. }
            | IncidentChange::Reminder { from, .. } => Some(*from),
        }
    }
}

/// Moves a service's incident to its condition `now` at `now_ms`. `no_traffic` says why an OK rate
/// is OK (an empty window the proxies reported); `reminder_ms` 0 disables reminders.
pub fn step(
    slot: &mut Option<Incident>,
    now: Condition,
    no_traffic: bool,
    now_ms: u64,
    reminder_ms: u64,
) -> Option<IncidentChange> {
    let Some(inc) = slot.as_mut() else {
        if now.severity() == Severity::Ok {
            return None;
        }
        *slot = Some(Incident { opened_ms: now_ms, told: now, worst: now.severity(), last_notice_ms: now_ms });
        return Some(IncidentChange::Opened { to: now });
    };
    let from = inc.told;
    let change = if now.severity() == Severity::Ok {
        let lasted_ms = now_ms.saturating_sub(inc.opened_ms);
        let worst = inc.worst;
        *slot = None;
        return Some(IncidentChange::Resolved { from, worst, lasted_ms, no_traffic: no_traffic && !from.down });
    } else if now == from || (from.down && now.down) {
        // Nothing the channel can see changed (a rate change under DOWN waits for the next message).
        let due = reminder_ms > 0 && now_ms.saturating_sub(inc.last_notice_ms) >= reminder_ms;
        if !due {
            return None;
        }
        IncidentChange::Reminder { from, now, open_ms: now_ms.saturating_sub(inc.opened_ms) }
    } else if now.severity() > from.severity() {
        IncidentChange::Worse { from, to: now }
    } else {
        IncidentChange::Better { from, to: now }
    };
    inc.told = now;
    inc.worst = inc.worst.max(now.severity());
    inc.last_notice_ms = now_ms;
    Some(change)
}

#[cfg(test)]
mod tests;
