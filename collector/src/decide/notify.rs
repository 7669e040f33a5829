//! Who hears an incident's change, and when: the pure policy under the desk (`decide/desk.rs`).
//!
//! - Only *opened*, *worse* (escalated to CRITICAL, DOWN), *UP while still failing* (the team must not read the
//!   passing health check as the end: "UP, still CRITICAL"), *resolved* and reminders notify; every other
//!   change (a lower level) only edits the incident's living message.
//! - A mute (a silence or a maintenance window) withholds every notification; the change that was withheld
//!   first is announced once when the mute ends, if the incident is still open.
//! - An acknowledgement stops reminders while the incident is no worse than when it was acknowledged.
//! - In quiet hours, changes that never go beyond WARNING are held for the digest; CRITICAL and DOWN notify.
//! - Changes of one group wait go out together; within it a service's changes fold into the net change the
//!   channel must hear ([`fold`]): a change undone within the wait (DOWN and UP again) is not notified.

use crate::decide::health::HealthChange;
use crate::decide::incident::{Condition, IncidentChange, Severity};
use serde::{Deserialize, Serialize};

/// Why an incident notifies nobody now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Mute {
    Silence { id: u64, until_ms: u64, reason: String, by: Option<String> },
    Maintenance { name: String, until_ms: u64 },
}

/// "Acknowledged by … at …": stops reminders while the incident is no worse than `severity`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    pub by: String,
    pub at_ms: u64,
    pub severity: Severity,
}

impl Ack {
    /// Whether it still holds for an incident at `now`.
    pub fn covers(&self, now: Severity) -> bool {
        now <= self.severity
    }
}

/// What becomes of one change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// A notifying message (after the group wait).
    Notify,
    /// Held for the quiet-hours digest.
    Hold,
    /// Withheld by a mute (owed when it ends).
    Withhold,
    /// Only the living message shows it.
    EditOnly,
}

/// Whether a change is of a kind that notifies at all.
pub fn notifies(c: &IncidentChange) -> bool {
    matches!(
        c,
        IncidentChange::Opened { .. }
            | IncidentChange::Worse { .. }
            | IncidentChange::Resolved { .. }
            | IncidentChange::Reminder { .. }
    ) || matches!(c, IncidentChange::Better { from, to } if from.down && to.severity() != Severity::Ok)
}

/// Whether a change never goes beyond WARNING (before, after, and for an ending, the incident's worst).
pub fn warning_only(c: &IncidentChange) -> bool {
    let worst = match c {
        IncidentChange::Resolved { worst, .. } => *worst,
        _ => Severity::Ok,
    };
    let before = c.before().map(Condition::severity).unwrap_or(Severity::Ok);
    before.max(c.after().severity()).max(worst) <= Severity::Warning
}

/// The action for change `c`: `acked` when an acknowledgement covers the incident after it, `muted` under a
/// silence or maintenance, `quiet` in the webhook's quiet hours.
pub fn act(c: &IncidentChange, acked: bool, muted: bool, quiet: bool) -> Action {
    if !notifies(c) || (acked && matches!(c, IncidentChange::Reminder { .. })) {
        Action::EditOnly
    } else if muted {
        Action::Withhold
    } else if quiet && warning_only(c) {
        Action::Hold
    } else {
        Action::Notify
    }
}

/// The one change the channel must hear for a service's changes from `first` (the first not yet notified) to
/// `latest`: the net change from what it knew before `first`. An incident that opened within them is told as
/// opened in its current state; one that opened and ended within them is not told at all (the channel would read
/// the end of something it never heard of); a change undone within them is not told.
pub fn fold(first: &IncidentChange, latest: &IncidentChange) -> Option<IncidentChange> {
    if let IncidentChange::Resolved { .. } = latest {
        return first.before().is_some().then(|| latest.clone());
    }
    let to = latest.after();
    match first.before() {
        None => Some(IncidentChange::Opened { to }),
        Some(from) if to.severity() > from.severity() => Some(IncidentChange::Worse { from, to }),
        Some(from) => match (first, latest) {
            (IncidentChange::Reminder { open_ms, .. }, _) | (_, IncidentChange::Reminder { open_ms, .. }) => {
                Some(IncidentChange::Reminder { from, now: to, open_ms: *open_ms })
            }
            // UP while still failing: the channel knew it DOWN and must not read the silence as the end.
            _ if from.down && !to.down && to.severity() != Severity::Ok => Some(IncidentChange::Better { from, to }),
            _ => None,
        },
    }
}

/// One incident's entry in a pending group, or held for a digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    pub service: String,
    pub opened_ms: u64,
    /// The first change not yet notified, and the latest change since.
    pub first: IncidentChange,
    pub latest: IncidentChange,
    /// The last health change among them (DOWN with its failure, UP with the downtime).
    pub health: Option<HealthChange>,
    /// Said instead of a change: the mute that ended.
    #[serde(default)]
    pub unmuted: Option<Mute>,
    /// When it was added.
    pub at_ms: u64,
}

impl Item {
    /// Folds a later change of the same incident in.
    pub fn update(&mut self, latest: IncidentChange, health: Option<HealthChange>) {
        self.latest = latest;
        if health.is_some() {
            self.health = health;
        }
    }
}

/// Changes waiting to go out together: due once the group wait has passed since the first, or the urgent wait
/// since the first change to CRITICAL or DOWN.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    pub first_ms: u64,
    pub items: Vec<Item>,
    /// When the first change to CRITICAL or DOWN joined (a WARNING that opened the group earlier does not
    /// shorten the wait of services that break with it a few seconds later).
    #[serde(default)]
    pub urgent_ms: Option<u64>,
}

impl Group {
    /// Whether it is due at `now_ms` with a group wait of `wait_ms`, or of `urgent_ms` once it holds a change
    /// to CRITICAL or DOWN (a page that must not wait the whole group wait).
    pub fn due(&self, now_ms: u64, wait_ms: u64, urgent_ms: u64) -> bool {
        let urgent = self.items.iter().any(|i| i.latest.after().severity() >= Severity::Critical);
        let since = self.urgent_ms.unwrap_or(self.first_ms);
        let by_urgent = urgent && now_ms >= since.saturating_add(urgent_ms.min(wait_ms));
        by_urgent || now_ms >= self.first_ms.saturating_add(wait_ms)
    }

    /// Adds a change of an incident: into that incident's item if it has one.
    pub fn add(&mut self, item: Item) {
        if self.urgent_ms.is_none() && item.latest.after().severity() >= Severity::Critical {
            self.urgent_ms = Some(item.at_ms);
        }
        match self.items.iter_mut().find(|i| i.service == item.service && i.opened_ms == item.opened_ms) {
            Some(i) => i.update(item.latest, item.health),
            None => self.items.push(item),
        }
    }
}

/// A held incident that ended before the digest: a line in it, not a notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ended {
    pub service: String,
    pub opened_ms: u64,
    pub worst: Severity,
    pub lasted_ms: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::alert::Level;

    const WARN: Condition = Condition { down: false, level: Level::Warning };
    const CRIT: Condition = Condition { down: false, level: Level::Critical };
    const DOWN_CRIT: Condition = Condition { down: true, level: Level::Critical };

    /// `svc`'s change `c` (of the incident opened at 1 ms), added at `at_ms`.
    fn item(svc: &str, c: IncidentChange, at_ms: u64) -> Item {
        Item { service: svc.into(), opened_ms: 1, first: c.clone(), latest: c, health: None, unmuted: None, at_ms }
    }

    fn resolved(from: Condition, worst: Severity) -> IncidentChange {
        IncidentChange::Resolved { from, worst, lasted_ms: 5_000, no_traffic: false }
    }

    #[test]
    fn only_opened_worse_resolved_and_reminders_notify_and_quiet_hours_hold_warnings() {
        let opened_w = IncidentChange::Opened { to: WARN };
        let better = IncidentChange::Better { from: DOWN_CRIT, to: CRIT };
        let reminder = IncidentChange::Reminder { from: CRIT, now: CRIT, open_ms: 1 };
        assert_eq!(act(&better, false, false, false), Action::Notify, "UP while still failing is no end");
        let lower = IncidentChange::Better { from: CRIT, to: WARN };
        assert_eq!(act(&lower, false, false, false), Action::EditOnly);
        assert_eq!(act(&opened_w, false, false, false), Action::Notify);
        assert_eq!(act(&opened_w, false, true, false), Action::Withhold);
        assert_eq!(act(&opened_w, false, false, true), Action::Hold);
        assert_eq!(act(&IncidentChange::Opened { to: CRIT }, false, false, true), Action::Notify, "CRITICAL always");
        assert_eq!(act(&resolved(WARN, Severity::Warning), false, false, true), Action::Hold);
        assert_eq!(act(&resolved(WARN, Severity::Critical), false, false, true), Action::Notify);
        assert_eq!(act(&reminder, true, false, false), Action::EditOnly, "acknowledged: no reminder");
        let worse = IncidentChange::Worse { from: WARN, to: CRIT };
        assert_eq!(act(&worse, true, false, false), Action::Notify, "a worse change notifies again");
        assert!(Ack { by: "a".into(), at_ms: 0, severity: Severity::Warning }.covers(Severity::Warning));
        assert!(!Ack { by: "a".into(), at_ms: 0, severity: Severity::Warning }.covers(Severity::Critical));
    }

    #[test]
    fn a_group_folds_each_incident_into_the_net_change() {
        let opened = IncidentChange::Opened { to: WARN };
        assert_eq!(
            fold(&opened, &IncidentChange::Worse { from: WARN, to: CRIT }),
            Some(IncidentChange::Opened { to: CRIT })
        );
        assert_eq!(fold(&opened, &resolved(CRIT, Severity::Critical)), None, "opened and ended unseen: not told");
        let worse = IncidentChange::Worse { from: WARN, to: CRIT };
        assert_eq!(fold(&worse, &resolved(CRIT, Severity::Critical)), Some(resolved(CRIT, Severity::Critical)));
        let down = IncidentChange::Worse { from: CRIT, to: DOWN_CRIT };
        assert_eq!(fold(&down, &IncidentChange::Better { from: DOWN_CRIT, to: CRIT }), None, "DOWN undone");
        let up = IncidentChange::Better { from: DOWN_CRIT, to: CRIT };
        assert_eq!(fold(&up, &up), Some(up.clone()), "UP, still CRITICAL is told");
        assert_eq!(
            fold(&up, &IncidentChange::Better { from: CRIT, to: WARN }),
            Some(IncidentChange::Better { from: DOWN_CRIT, to: WARN }),
            "UP, still WARNING by the time the group goes"
        );
        assert_eq!(fold(&up, &IncidentChange::Worse { from: CRIT, to: DOWN_CRIT }), None, "DOWN again: as known");
        assert_eq!(fold(&down, &down), Some(down.clone()));
        let mut g = Group { first_ms: 1_000, items: vec![], urgent_ms: None };
        g.add(item("be", opened.clone(), 1_000));
        g.add(item("ai", opened.clone(), 1_000));
        g.add(item("be", IncidentChange::Worse { from: WARN, to: CRIT }, 1_000));
        assert_eq!(g.items.len(), 2);
        assert_eq!(fold(&g.items[0].first, &g.items[0].latest), Some(IncidentChange::Opened { to: CRIT }));
        assert!(!g.due(10_999, 10_000, 10_000) && g.due(11_000, 10_000, 10_000) && g.due(1_000, 0, 0));
    }

    #[test]
    fn the_urgent_wait_counts_from_the_first_critical_change_not_from_an_earlier_warning() {
        let mut g = Group { first_ms: 1_000, items: vec![], urgent_ms: None };
        g.add(item("be", IncidentChange::Opened { to: WARN }, 1_000));
        assert!(!g.due(4_000, 10_000, 3_000), "a WARNING waits the whole group wait");
        g.add(item("be", IncidentChange::Worse { from: WARN, to: CRIT }, 5_000));
        assert!(!g.due(7_999, 10_000, 3_000), "3 s from the CRITICAL, not from the WARNING");
        g.add(item("ai", IncidentChange::Opened { to: CRIT }, 7_000));
        assert_eq!(g.urgent_ms, Some(5_000));
        assert!(g.due(8_000, 10_000, 3_000));
        let mut late = Group { first_ms: 1_000, items: vec![], urgent_ms: None };
        late.add(item("be", IncidentChange::Opened { to: WARN }, 1_000));
        late.add(item("be", IncidentChange::Worse { from: WARN, to: CRIT }, 10_500));
        assert!(late.due(11_000, 10_000, 3_000), "never later than the group wait");
    }
}
