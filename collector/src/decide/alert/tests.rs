use super::*;

const TH: Thresholds = Thresholds { warning_bp: 500, critical_bp: 1000, min_requests: 100, clear_pct: 80 };

#[test]
fn thresholds_at_their_edges() {
    // 10,000 requests make every 0.01% an integer count.
    assert_eq!(TH.judge(Level::Ok, 10_000, 499), Level::Ok); // 4.99%
    assert_eq!(TH.judge(Level::Ok, 10_000, 500), Level::Warning); // 5.00%
    assert_eq!(TH.judge(Level::Ok, 10_000, 999), Level::Warning); // 9.99%
    assert_eq!(TH.judge(Level::Ok, 10_000, 1000), Level::Critical); // 10.00%
    assert_eq!(TH.judge(Level::Ok, 100, 5), Level::Warning);
    assert_eq!(TH.judge(Level::Ok, 100, 10), Level::Critical);
}

#[test]
fn minimum_volume_blocks_raising_but_not_clearing() {
    assert_eq!(TH.judge(Level::Ok, 99, 99), Level::Ok);
    assert_eq!(TH.judge(Level::Ok, 100, 10), Level::Critical);
    assert_eq!(TH.judge(Level::Critical, 50, 40), Level::Critical);
    assert_eq!(TH.judge(Level::Critical, 50, 0), Level::Ok);
    assert_eq!(TH.judge(Level::Warning, 50, 40), Level::Warning, "no escalation below the volume");
}

#[test]
fn hysteresis_holds_a_level_until_80_percent_of_its_threshold() {
    assert_eq!(TH.judge(Level::Warning, 10_000, 401), Level::Warning); // 4.01%
    assert_eq!(TH.judge(Level::Warning, 10_000, 400), Level::Warning); // 4.00% is not below 4%
    assert_eq!(TH.judge(Level::Warning, 10_000, 399), Level::Ok);
    assert_eq!(TH.judge(Level::Critical, 10_000, 800), Level::Critical);
    assert_eq!(TH.judge(Level::Critical, 10_000, 799), Level::Warning);
    assert_eq!(TH.judge(Level::Critical, 10_000, 399), Level::Ok);
    assert_eq!(TH.judge(Level::Ok, 10_000, 450), Level::Ok, "the band does not raise");
}

#[test]
fn a_rate_hovering_at_five_percent_does_not_flap() {
    let mut a = RateAlert::new(0);
    let mut changes = Vec::new();
    for (i, errs) in [500u64, 499, 501, 480, 500, 450, 498].iter().enumerate() {
        changes.extend(a.evaluate(&TH, 10_000, *errs, i as u64 * 1000, 0, false));
    }
    assert_eq!(changes, vec![RateChange::Raised { to: Level::Warning }]);
}

#[test]
fn every_change_is_announced_with_duration() {
    let mut a = RateAlert::new(0);
    assert_eq!(a.evaluate(&TH, 1000, 60, 1_000, 0, false), Some(RateChange::Raised { to: Level::Warning }));
    assert_eq!(
        a.evaluate(&TH, 1000, 120, 2_000, 0, false),
        Some(RateChange::Escalated { from: Level::Warning, to: Level::Critical })
    );
    assert_eq!(
        a.evaluate(&TH, 1000, 70, 3_000, 0, false),
        Some(RateChange::DeEscalated { from: Level::Critical, to: Level::Warning })
    );
    assert_eq!(
        a.evaluate(&TH, 1000, 10, 61_000, 0, false),
        Some(RateChange::Resolved { from: Level::Warning, lasted_ms: 60_000, no_data: false })
    );
    assert_eq!(a.evaluate(&TH, 1000, 10, 62_000, 0, false), None);
}

#[test]
fn an_empty_window_is_no_data_and_ends_an_alert() {
    let mut a = RateAlert::new(0);
    assert!(a.no_data);
    a.evaluate(&TH, 1000, 200, 1_000, 0, false);
    assert_eq!(
        a.evaluate(&TH, 0, 0, 301_000, 0, false),
        Some(RateChange::Resolved { from: Level::Critical, lasted_ms: 300_000, no_data: true })
    );
    assert!(a.no_data && !a.firing());
}

#[test]
fn reminders_while_firing_only() {
    let mut a = RateAlert::new(0);
    let min30 = 30 * 60_000;
    a.evaluate(&TH, 1000, 200, 0, min30, false);
    assert_eq!(a.evaluate(&TH, 1000, 200, min30 - 1, min30, false), None);
    assert_eq!(
        a.evaluate(&TH, 1000, 200, min30, min30, false),
        Some(RateChange::Reminder { level: Level::Critical, firing_ms: min30 })
    );
    assert_eq!(a.evaluate(&TH, 1000, 200, min30 + 1000, min30, false), None);
    assert_eq!(a.evaluate(&TH, 1000, 200, 2 * min30, min30, false).map(|_| ()), Some(()));
    // reminder 0 = off
    let mut b = RateAlert::new(0);
    b.evaluate(&TH, 1000, 200, 0, 0, false);
    assert_eq!(b.evaluate(&TH, 1000, 200, 10 * min30, 0, false), None);
    let mut ok = RateAlert::new(0);
    assert_eq!(ok.evaluate(&TH, 1000, 0, 10 * min30, min30, false), None);
}

#[test]
fn a_down_service_does_not_page_for_its_rate() {
    let mut a = RateAlert::new(0);
    assert_eq!(a.evaluate(&TH, 1000, 500, 1_000, 60_000, true), None);
    assert!(a.firing() && !a.announced);
    assert_eq!(a.evaluate(&TH, 1000, 500, 500_000, 60_000, true), None, "no reminder either");
    // Resolving an incident nobody was told about is silent too.
    assert_eq!(a.evaluate(&TH, 1000, 0, 600_000, 60_000, false), None);
    // Once UP, a still-firing incident is adopted by the UP message and resolves loudly.
    a.evaluate(&TH, 1000, 500, 700_000, 60_000, true);
    assert!(a.adopt(710_000));
    assert_eq!(
        a.evaluate(&TH, 1000, 0, 720_000, 60_000, false),
        Some(RateChange::Resolved { from: Level::Critical, lasted_ms: 20_000, no_data: false })
    );
}
