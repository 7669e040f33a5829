use super::*;
use crate::decide::coverage::Coverage;

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

const FULL: Coverage = Coverage::Full;

#[test]
fn a_rate_hovering_at_five_percent_does_not_flap() {
    let mut a = RateAlert::new(0);
    let mut changes = Vec::new();
    for (i, errs) in [500u64, 499, 501, 480, 500, 450, 498].iter().enumerate() {
        changes.extend(a.evaluate(&TH, 10_000, *errs, Level::Ok, FULL, i as u64 * 1000));
    }
    assert_eq!(changes, vec![(Level::Ok, Level::Warning)]);
}

#[test]
fn every_level_change_is_returned_with_its_time() {
    let mut a = RateAlert::new(0);
    assert_eq!(a.evaluate(&TH, 1000, 60, Level::Ok, FULL, 1_000), Some((Level::Ok, Level::Warning)));
    assert_eq!(a.evaluate(&TH, 1000, 120, Level::Ok, FULL, 2_000), Some((Level::Warning, Level::Critical)));
    assert_eq!(a.since_ms, 2_000);
    assert_eq!(a.evaluate(&TH, 1000, 70, Level::Ok, FULL, 3_000), Some((Level::Critical, Level::Warning)));
    assert_eq!(a.evaluate(&TH, 1000, 10, Level::Ok, FULL, 61_000), Some((Level::Warning, Level::Ok)));
    assert_eq!(a.evaluate(&TH, 1000, 10, Level::Ok, FULL, 62_000), None);
}

#[test]
fn an_empty_window_the_proxies_reported_is_no_data_and_clears() {
    let mut a = RateAlert::new(0);
    assert!(a.no_data);
    a.evaluate(&TH, 1000, 200, Level::Ok, FULL, 1_000);
    assert_eq!(a.evaluate(&TH, 0, 0, Level::Ok, FULL, 301_000), Some((Level::Critical, Level::Ok)));
    assert!(a.no_data && !a.firing());
}

#[test]
fn a_window_the_reports_do_not_cover_can_rise_but_never_fall() {
    let partial = Coverage::Partial { from_ms: 250_000 };
    let missing = Coverage::Missing { last_ms: Some(200_000) };
    let mut a = RateAlert::new(0);
    a.evaluate(&TH, 1000, 120, Level::Ok, FULL, 1_000);
    // The collector was away: the window is empty or thin for want of reports, not for want of traffic.
    assert_eq!(a.evaluate(&TH, 0, 0, Level::Ok, missing, 400_000), None);
    assert!(a.firing() && !a.no_data, "held CRITICAL, and not 'no data'");
    assert_eq!(a.evaluate(&TH, 1000, 0, Level::Ok, partial, 410_000), None, "a clean partial window does not clear");
    let mut w = RateAlert::new(0);
    w.evaluate(&TH, 1000, 60, Level::Ok, FULL, 1_000);
    assert_eq!(
        w.evaluate(&TH, 1000, 500, Level::Ok, partial, 2_000),
        Some((Level::Warning, Level::Critical)),
        "evidence raises"
    );
    assert_eq!(
        w.evaluate(&TH, 1000, 0, Level::Ok, FULL, 3_000),
        Some((Level::Critical, Level::Ok)),
        "judged once covered"
    );
}

#[test]
fn the_fast_burn_raises_critical_and_the_window_judges_from_there() {
    let mut a = RateAlert::new(0);
    // 5 % in the long window, but the fast window says nearly everything fails now.
    assert_eq!(a.evaluate(&TH, 1000, 50, Level::Critical, FULL, 1_000), Some((Level::Ok, Level::Critical)));
    // The fast burn clears: the long window, with its hysteresis, decides from CRITICAL.
    assert_eq!(a.evaluate(&TH, 1000, 90, Level::Ok, FULL, 2_000), None, "9% holds CRITICAL (above 8%)");
    assert_eq!(a.evaluate(&TH, 1000, 50, Level::Ok, FULL, 3_000), Some((Level::Critical, Level::Warning)));
}
