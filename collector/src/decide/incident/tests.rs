use super::*;

const UP_OK: Condition = Condition::OK;
const fn c(down: bool, level: Level) -> Condition {
    Condition { down, level }
}
const DOWN: Condition = c(true, Level::Ok);
const DOWN_CRIT: Condition = c(true, Level::Critical);
const CRIT: Condition = c(false, Level::Critical);
const WARN: Condition = c(false, Level::Warning);

/// Steps through `(at_ms, condition)` and returns what was said.
fn run(steps: &[(u64, Condition)], reminder_ms: u64) -> (Vec<IncidentChange>, Option<Incident>) {
    let mut slot = None;
    let said = steps.iter().filter_map(|(at, now)| step(&mut slot, *now, false, *at, reminder_ms)).collect();
    (said, slot)
}

#[test]
fn down_then_up_while_the_rate_went_critical_says_up_still_critical() {
    let (said, open) = run(&[(1_000, DOWN), (5_000, DOWN_CRIT), (11_000, CRIT)], 0);
    assert_eq!(said, [IncidentChange::Opened { to: DOWN }, IncidentChange::Better { from: DOWN, to: CRIT }]);
    assert_eq!(said[1].after().severity(), Severity::Critical, "never a green UP while CRITICAL");
    let open = open.unwrap();
    assert_eq!((open.opened_ms, open.told, open.worst), (1_000, CRIT, Severity::Down));
}

#[test]
fn down_then_up_while_warning_or_fine() {
    let (said, _) = run(&[(1_000, DOWN), (2_000, c(true, Level::Warning)), (3_000, WARN)], 0);
    assert_eq!(said.last(), Some(&IncidentChange::Better { from: DOWN, to: WARN }));
    let (said, open) = run(&[(1_000, DOWN), (11_000, UP_OK)], 0);
    let ended = IncidentChange::Resolved { from: DOWN, worst: Severity::Down, lasted_ms: 10_000, no_traffic: false };
    assert_eq!(said, [IncidentChange::Opened { to: DOWN }, ended]);
    assert!(open.is_none());
}

#[test]
fn rate_first_then_down_then_up_is_one_incident() {
    let (said, open) = run(&[(0, CRIT), (10_000, DOWN_CRIT), (20_000, CRIT), (90_000, UP_OK)], 0);
    assert_eq!(
        said,
        [
            IncidentChange::Opened { to: CRIT },
            IncidentChange::Worse { from: CRIT, to: DOWN_CRIT },
            IncidentChange::Better { from: DOWN_CRIT, to: CRIT },
            IncidentChange::Resolved { from: CRIT, worst: Severity::Down, lasted_ms: 90_000, no_traffic: false },
        ]
    );
    assert!(open.is_none());
}

#[test]
fn flapping_health_under_a_steady_critical_never_resolves_and_keeps_its_start() {
    let steps: Vec<(u64, Condition)> =
        (0..10).map(|i| (i * 60_000, if i % 2 == 1 { DOWN_CRIT } else { CRIT })).collect();
    let (said, open) = run(&steps, 0);
    assert_eq!(said.len(), 10);
    assert!(said.iter().all(|m| !matches!(m, IncidentChange::Resolved { .. })));
    assert!(said.iter().all(|m| m.after().severity() >= Severity::Critical));
    assert_eq!(open.unwrap().opened_ms, 0);
}

#[test]
fn a_rate_change_under_down_is_folded_into_the_reminder() {
    let (said, _) = run(&[(0, DOWN), (60_000, DOWN_CRIT), (1_800_000, DOWN_CRIT), (1_800_001, DOWN_CRIT)], 1_800_000);
    assert_eq!(
        said,
        [
            IncidentChange::Opened { to: DOWN },
            IncidentChange::Reminder { from: DOWN, now: DOWN_CRIT, open_ms: 1_800_000 },
        ]
    );
}

#[test]
fn de_escalation_is_said_only_from_a_level_the_channel_saw() {
    // CRITICAL reached while DOWN, then cleared to WARNING still DOWN, then UP: "UP, still WARNING",
    // never "de-escalated to WARNING (was CRITICAL)".
    let (said, _) = run(&[(0, DOWN), (1, DOWN_CRIT), (2, c(true, Level::Warning)), (3, WARN), (4, UP_OK)], 0);
    assert_eq!(said[1], IncidentChange::Better { from: DOWN, to: WARN });
    assert!(matches!(said[2], IncidentChange::Resolved { from: WARN, worst: Severity::Down, .. }));
}

#[test]
fn no_traffic_is_said_only_when_the_rate_ended_it() {
    let mut slot = None;
    step(&mut slot, CRIT, false, 0, 0);
    assert!(matches!(step(&mut slot, UP_OK, true, 5, 0), Some(IncidentChange::Resolved { no_traffic: true, .. })));
    step(&mut slot, DOWN, false, 10, 0);
    assert!(matches!(step(&mut slot, UP_OK, true, 20, 0), Some(IncidentChange::Resolved { no_traffic: false, .. })));
}

/// xorshift64*: a tiny deterministic generator, so the property below runs the same sequences each time.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// For random sequences of conditions: every message states the true worst state after it, starts
/// from exactly what the previous message said, an incident opens only when none is open and ends only
/// when all is fine, its duration runs from its first message, and nothing is said without a change
/// the channel can see (or a due reminder).
#[test]
fn property_messages_follow_the_true_state_and_what_was_said() {
    let levels = [Level::Ok, Level::Warning, Level::Critical];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..2_000 {
        let mut slot: Option<Incident> = None;
        let (mut said_last, mut opened_at, mut worst): (Option<Condition>, u64, Severity) = (None, 0, Severity::Ok);
        let reminder = [0, 50_000][(rng.next() % 2) as usize];
        let mut at = 0u64;
        for _ in 0..40 {
            at += 1 + rng.next() % 30_000;
            let now = Condition { down: rng.next().is_multiple_of(3), level: levels[(rng.next() % 3) as usize] };
            let was_open = slot.is_some();
            let told_before = slot.as_ref().map(|i| i.told);
            let got = step(&mut slot, now, rng.next().is_multiple_of(2), at, reminder);
            assert_eq!(slot.is_some(), now.severity() != Severity::Ok, "open exactly while something is wrong");
            let Some(m) = got else {
                if let Some(t) = told_before {
                    assert!(t == now || (t.down && now.down), "silent only when nothing visible changed");
                }
                continue;
            };
            assert_eq!(m.after().severity(), now.severity(), "{m:?} at {now:?}");
            assert_eq!(m.before(), if was_open { said_last } else { None }, "{m:?} follows what was said");
            match &m {
                IncidentChange::Opened { .. } => {
                    assert!(!was_open);
                    (opened_at, worst) = (at, now.severity());
                }
                IncidentChange::Resolved { lasted_ms, worst: w, .. } => {
                    assert_eq!((*lasted_ms, *w), (at - opened_at, worst));
                }
                IncidentChange::Reminder { .. } => assert!(reminder > 0),
                IncidentChange::Worse { from, to } => assert!(to.severity() > from.severity()),
                IncidentChange::Better { from, to } => assert!(to.severity() < from.severity()),
            }
            worst = worst.max(m.after().severity());
            said_last = if slot.is_some() { Some(m.after()) } else { None };
        }
    }
}
