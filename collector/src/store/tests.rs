use super::*;
use crate::alert::{Level, RateAlert, Thresholds};
use crate::health::{Health, HealthState};
use crate::notice::Event;
use crate::window::{Bucket, ErrorWindow};

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
    }
}

#[test]
fn snapshot_and_outbox_round_trip_in_order() {
    let d = dir("rt");
    let mut s = Store::open(&d).unwrap();
    assert_eq!(s.first_start_ms(100).unwrap(), 100);
    let mut window = ErrorWindow::new(60_000, 1_000);
    window.add(1_000, 10, 2, vec![("GET /a".into(), 2)]);
    let state = ServiceState { window: window.clone(), totals: Default::default(), routes: Default::default(), rate: RateAlert::new(0), health: HealthState::default() };
    let base = Baseline { seq: 3, boot_ms: 1, seen_ms: 2, services: Default::default() };
    let bucket = window.take_changed(1_000).0.remove(0);
    let state = ServiceState { window: ErrorWindow::default(), ..state };
    let old = Bucket { start_ms: 0, requests: 1, errors: 0, routes: Default::default() };
    let snap = Snapshot {
        ledger: vec![(("p".into(), "b".into()), Some(base.clone()))],
        services: vec![("be".into(), state.clone())],
        buckets: vec![("be".into(), old), ("be".into(), bucket.clone())],
        expire_before: vec![("be".into(), 500)],
        minutes: vec![],
    };
    let ids = s.commit(&snap, &[("default".into(), notice("be")), ("other".into(), notice("fe")), ("default".into(), notice("ai"))], SERVICE_OWNER, 7).unwrap();
    assert_eq!(ids.len(), 3);
    drop(s);
    let mut s = Store::open(&d).unwrap();
    assert_eq!(s.first_start_ms(999).unwrap(), 100, "kept across restarts");
    let (b, svcs, buckets) = s.load().unwrap();
    assert_eq!(b, vec![(("p".to_string(), "b".to_string()), base)]);
    assert_eq!(svcs, vec![("be".to_string(), state)]);
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
    s.commit(&Snapshot { ledger: vec![(("p".into(), "b".into()), None)], ..Snapshot::default() }, &[], SERVICE_OWNER, 8).unwrap();
    assert!(s.load().unwrap().0.is_empty());
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn an_undecodable_row_does_not_block_the_queue() {
    let d = dir("bad");
    let mut s = Store::open(&d).unwrap();
    s.conn.execute("INSERT INTO outbox (webhook, owner, created_ms, notice) VALUES ('default', 'service', 1, '{broken')", []).unwrap();
    s.commit(&Snapshot::default(), &[("default".into(), notice("be"))], SERVICE_OWNER, 2).unwrap();
    assert_eq!(s.next_pending("default", SERVICE_OWNER).unwrap().unwrap().notice.service, "be");
    let outcome: String = s.conn.query_row("SELECT outcome FROM sent", [], |r| r.get(0)).unwrap();
    assert!(outcome.starts_with("undecodable"));
    let _ = std::fs::remove_dir_all(&d);
}
