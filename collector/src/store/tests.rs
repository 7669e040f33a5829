use super::*;
use crate::decide::alert::{Level, RateAlert, Thresholds};
use crate::decide::coverage::ProxyReports;
use crate::decide::health::{Health, HealthState};
use crate::decide::incident::{Condition, Incident, Severity};
use crate::decide::notice::Event;
use crate::decide::watchdog::{ConfigRefusal, ProxyState};
use crate::decide::window::{Bucket, ErrorWindow};

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("faultline-store-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn notice(service: &str) -> Notice {
    Notice {
        service: service.into(),
        at_ms: 5,
        event: Event::Test,
        level: Level::Ok,
        health: Health::Unknown,
        window_ms: 1,
        requests: 0,
        errors: 0,
        thresholds: Thresholds { warning_bp: 500, critical_bp: 1000, min_requests: 100, clear_pct: 80 },
        top_routes: vec![],
        rate_still: None,
        last_probe: None,
        coverage: None,
        down_since_ms: None,
        failures: 0,
        covers_ms: None,
        burst: None,
        last_failures: vec![],
    }
}

#[test]
fn snapshot_and_outbox_round_trip_in_order() {
    let d = dir("rt");
    let mut s = Store::open(&d).unwrap();
    assert_eq!(s.first_start_ms(100).unwrap(), 100);
    let mut window = ErrorWindow::new(60_000, 1_000);
    window.add(1_000, 10, 2, &[("GET /a", 2)]);
    let state = ServiceState {
        window: window.clone(),
        totals: Default::default(),
        routes: Default::default(),
        rate: RateAlert::new(0),
        health: HealthState::default(),
        incident: Some(Incident {
            opened_ms: 3,
            told: Condition { down: true, level: Level::Critical },
            worst: Severity::Down,
            last_notice_ms: 4,
        }),
        proxies: ["edge-1".to_string()].into(),
        last_failures: vec![],
    };
    let base = Baseline { seq: 3, boot_ms: 1, seen_ms: 2, services: Default::default() };
    let proxy = ProxyState {
        reports: Some(ProxyReports { first_ms: 1, since_ms: 2, last_ms: 3, interval_ms: 4 }),
        silent_told_ms: None,
        refusals: vec![ConfigRefusal { service: Some("ai".into()), reason: "unknown key `colour`".into() }],
    };
    let bucket = window.take_changed(1_000).0.remove(0);
    let state = ServiceState { window: ErrorWindow::default(), ..state };
    let old = Bucket { start_ms: 0, requests: 1, errors: 0, unreachable: 0, routes: Default::default(), covers: None };
    let snap = Snapshot {
        ledger: vec![(("p".into(), "b".into()), Some(base.clone()))],
        services: vec![("be".into(), state.clone())],
        buckets: vec![("be".into(), old), ("be".into(), bucket.clone())],
        expire_before: vec![("be".into(), 500)],
        minutes: vec![],
        proxies: vec![("edge-1".into(), proxy.clone())],
    };
    let ids = s
        .commit(
            &snap,
            &[("default".into(), notice("be")), ("other".into(), notice("fe")), ("default".into(), notice("ai"))],
            SERVICE_OWNER,
            7,
        )
        .unwrap();
    assert_eq!(ids.len(), 3);
    drop(s);
    let mut s = Store::open(&d).unwrap();
    assert_eq!(s.first_start_ms(999).unwrap(), 100, "kept across restarts");
    let (b, svcs, buckets) = s.load().unwrap();
    assert_eq!(b, vec![(("p".to_string(), "b".to_string()), base)]);
    assert_eq!(svcs, vec![("be".to_string(), state)]);
    assert_eq!(s.load_proxies().unwrap(), vec![("edge-1".to_string(), proxy)]);
    assert_eq!(buckets.get("be"), Some(&vec![bucket]), "the bucket before the cutoff is deleted");
    assert_eq!(s.depth().unwrap().get("default"), Some(&2));
    let first = s.next_pending("default", SERVICE_OWNER).unwrap().unwrap();
    assert_eq!((first.id, first.notice.service.as_str(), first.fallback), (ids[0], "be", false));
    s.mark_fallback(first.id).unwrap();
    s.bump_attempts(first.id).unwrap();
    let again = s.next_pending("default", SERVICE_OWNER).unwrap().unwrap();
    assert!(again.fallback && again.attempts == 1);
    s.finish(first.id, 9, Some("m1"), "delivered").unwrap();
    assert_eq!(s.next_pending("default", SERVICE_OWNER).unwrap().unwrap().notice.service, "ai");
    assert!(s.next_pending("default", "test:1").unwrap().is_none(), "owners are separate");
    let mut hooks = s.pending_webhooks(SERVICE_OWNER).unwrap();
    hooks.sort();
    assert_eq!(hooks, vec!["default", "other"]);
    // A baseline deletion is applied too.
    s.commit(
        &Snapshot { ledger: vec![(("p".into(), "b".into()), None)], ..Snapshot::default() },
        &[],
        SERVICE_OWNER,
        8,
    )
    .unwrap();
    assert!(s.load().unwrap().0.is_empty());
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn an_undecodable_row_does_not_block_the_queue() {
    let d = dir("bad");
    let mut s = Store::open(&d).unwrap();
    s.conn
        .execute(
            "INSERT INTO outbox (webhook, owner, created_ms, notice) VALUES ('default', 'service', 1, '{broken')",
            [],
        )
        .unwrap();
    s.commit(&Snapshot::default(), &[("default".into(), notice("be"))], SERVICE_OWNER, 2).unwrap();
    assert_eq!(s.next_pending("default", SERVICE_OWNER).unwrap().unwrap().notice.service, "be");
    let outcome: String = s.conn.query_row("SELECT outcome FROM sent", [], |r| r.get(0)).unwrap();
    assert!(outcome.starts_with("undecodable"));
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn history_is_written_with_snapshots_read_back_and_pruned() {
    use crate::decide::minutes::{Minute, RouteMinute};
    let d = dir("hist");
    let mut s = Store::open(&d).unwrap();
    let minute = |start_ms: u64, requests: u64, errors: u64, route: u64| Minute {
        service: "be".into(),
        start_ms,
        requests,
        errors,
        dirty: true,
        routes: [(
            "GET /a".to_string(),
            RouteMinute { count: route, first_seen_ms: start_ms + 1, last_seen_ms: start_ms + 2, dirty: true },
        )]
        .into_iter()
        .collect(),
    };
    s.commit(
        &Snapshot { minutes: vec![minute(0, 10, 1, 1), minute(60_000, 20, 2, 2)], ..Snapshot::default() },
        &[],
        SERVICE_OWNER,
        1,
    )
    .unwrap();
    // A minute written again carries its whole counts: nothing is added twice.
    s.commit(
        &Snapshot { minutes: vec![minute(60_000, 30, 3, 3)], ..Snapshot::default() },
        &[("default".into(), notice("be"))],
        SERVICE_OWNER,
        61_000,
    )
    .unwrap();
    let ro = Store::open_read_only(&d).unwrap();
    let h = history::History(&ro);
    let m = h.minutes(Some("be"), 0).unwrap();
    assert_eq!(
        m.iter().map(|m| (m.start_ms, m.requests, m.errors)).collect::<Vec<_>>(),
        vec![(0, 10, 1), (60_000, 30, 3)]
    );
    assert!(h.minutes(Some("ai"), 0).unwrap().is_empty());
    let r = h.routes(None, 0, 5).unwrap();
    assert_eq!((r.len(), r[0].count, r[0].first_seen_ms, r[0].last_seen_ms), (1, 4, 1, 60_002));
    // The test notice is not a service alert; a real one is listed pending, then delivered.
    assert!(h.alerts(None, 0, 10).unwrap().is_empty(), "test alerts are not history");
    let mut n = notice("be");
    n.event = Event::Rate(crate::decide::alert::RateChange::Raised { to: Level::Critical });
    let id = s.commit(&Snapshot::default(), &[("default".into(), n)], SERVICE_OWNER, 62_000).unwrap()[0];
    let a = h.alerts(Some("be"), 0, 10).unwrap();
    assert_eq!((a.len(), a[0].outcome.as_str(), a[0].title.as_str()), (1, "pending", "🔴 be — CRITICAL raised"));
    s.bump_attempts(id).unwrap();
    s.finish(id, 63_000, Some("m9"), "delivered").unwrap();
    let a = h.alerts(None, 0, 10).unwrap();
    assert_eq!(
        (a[0].outcome.as_str(), a[0].sent_ms, a[0].attempts, a[0].message_id.as_deref()),
        ("delivered", Some(63_000), 1, Some("m9"))
    );
    // After a restart the current minute resumes from its stored counts.
    assert_eq!(s.open_minutes(61_000).unwrap()[0].routes["GET /a"].count, 3);
    // Retention: minute 0 goes; the row cap then keeps only whole newest minutes.
    assert_eq!(s.prune_history(60_000, 1_000_000).unwrap(), 2);
    assert_eq!(h.minutes(None, 0).unwrap().len(), 1);
    s.commit(
        &Snapshot { minutes: (2..5).map(|i| minute(i * 60_000, 1, 0, 1)).collect(), ..Snapshot::default() },
        &[],
        SERVICE_OWNER,
        1,
    )
    .unwrap();
    s.prune_history(0, 2).unwrap();
    assert_eq!(h.minutes(None, 0).unwrap().iter().map(|m| m.start_ms).collect::<Vec<_>>(), vec![180_000, 240_000]);
    // Delivered alerts older than the retention go too.
    s.prune_history(64_000, 1_000_000).unwrap();
    assert!(h.alerts(None, 0, 10).unwrap().is_empty());
    assert!(ro.execute("DELETE FROM minute", []).is_err(), "the reader is read-only");
    let _ = std::fs::remove_dir_all(&d);
}
