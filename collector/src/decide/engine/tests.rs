use super::*;
use crate::decide::alert::{Level, RateChange};
use crate::decide::health::{Failure, Health};
use faultline_flush::{RouteCounters, ServiceCounters, VERSION};

fn cfg(extra: &str) -> Arc<Config> {
    let src = format!(
        "window = \"60s\"\nbucket = \"1s\"\nreminder = \"0s\"\n{extra}\n[[tokens]]\ntoken = \"tok-tok-tok\"\n\
         [webhooks]\ndefault = \"http://127.0.0.1:1/api/webhooks/1/t\"\n\
         [[services]]\nname = \"be\"\nhealth_url = \"http://127.0.0.1:2/\"\ninterval = \"5s\"\ntimeout = \"1s\"\n"
    );
    Arc::new(Config::parse(std::path::Path::new("t.toml"), &src).unwrap())
}

type Svc<'a> = (&'a str, u64, u64, Vec<(&'a str, u64)>);

fn flush(seq: u64, services: Vec<Svc<'_>>) -> Flush {
    Flush {
        version: VERSION,
        proxy_id: "edge".into(),
        boot_id: "boot".into(),
        boot_ms: 0,
        seq,
        sent_ms: 1_000,
        services: services
            .into_iter()
            .map(|(name, responses, e5, routes)| ServiceCounters {
                name: name.into(),
                responses,
                status_4xx: 0,
                status_5xx: e5,
                no_response: 0,
                routes: routes
                    .into_iter()
                    .map(|(r, c)| RouteCounters {
                        route: r.into(),
                        count: c,
                        first_seen_ms: seq,
                        last_seen_ms: seq * 10,
                    })
                    .collect(),
            })
            .collect(),
    }
}

fn rate(n: &Notice) -> RateChange {
    match &n.event {
        Event::Rate(c) => c.clone(),
        other => panic!("not a rate notice: {other:?}"),
    }
}

#[test]
fn flushes_raise_and_the_timer_ends_with_no_data() {
    let mut e = Engine::restore(cfg(""), 0, vec![], vec![], BTreeMap::new());
    let got = e.ingest(&flush(1, vec![("be", 100, 4, vec![("GET /a", 4)])]), 10_000).unwrap();
    assert_eq!((got.result, got.notices.len()), ("applied", 0));
    let got = e.ingest(&flush(2, vec![("be", 200, 24, vec![("GET /a", 20), ("GET /b", 4)])]), 11_000).unwrap();
    assert_eq!(rate(&got.notices[0]), RateChange::Raised { to: Level::Critical });
    let n = &got.notices[0];
    assert_eq!((n.requests, n.errors, n.window_ms), (200, 24, 60_000));
    assert_eq!(
        n.top_routes.iter().map(|r| (r.route.as_str(), r.count)).collect::<Vec<_>>(),
        vec![("GET /a", 20), ("GET /b", 4)]
    );
    assert!(e.tick(30_000).is_empty());
    let ended = e.tick(71_000);
    assert_eq!(rate(&ended[0]), RateChange::Resolved { from: Level::Critical, lasted_ms: 60_000, no_data: true });
    assert_eq!(e.services()["be"].totals.requests, 200);
}

#[test]
fn stale_flushes_and_baselines_count_nothing() {
    let mut e = Engine::restore(cfg(""), 0, vec![], vec![], BTreeMap::new());
    e.ingest(&flush(2, vec![("be", 100, 0, vec![])]), 1_000).unwrap();
    assert_eq!(e.ingest(&flush(2, vec![("be", 100, 0, vec![])]), 1_000).unwrap().result, "stale");
    let mut old = flush(1, vec![("be", 5000, 0, vec![])]);
    old.boot_id = "older".into();
    old.sent_ms = 10_000_000;
    assert_eq!(e.ingest(&old, 1_000).unwrap().result, "baseline");
    assert_eq!(e.services()["be"].totals.requests, 100);
}

#[test]
fn down_suppresses_the_rate_alert_and_up_adopts_it() {
    let mut e = Engine::restore(cfg(""), 0, vec![], vec![], BTreeMap::new());
    let p = |at: u64, failure: Option<Failure>| ProbeResult { at_ms: at, latency_ms: 1, failure, status: None };
    let down = e.probe("be", p(1_000, Some(Failure::Refused))).unwrap();
    assert!(matches!(down.event, Event::Health(HealthChange::Down { failure: Failure::Refused, failures: 1 })));
    assert_eq!(down.health, Health::Down);
    let got = e.ingest(&flush(1, vec![("be", 200, 200, vec![])]), 2_000).unwrap();
    assert!(got.notices.is_empty(), "a DOWN service does not page for its 5xx rate");
    let up = e.probe("be", p(9_000, None)).unwrap();
    assert!(matches!(up.event, Event::Health(HealthChange::Up { downtime_ms: 8_000 })));
    assert_eq!(up.rate_still, Some(Level::Critical));
    let ended = e.tick(70_000);
    assert!(matches!(rate(&ended[0]), RateChange::Resolved { no_data: true, .. }));
}

#[test]
fn caps_on_services_and_routes() {
    let mut e = Engine::restore(cfg("[limits]\nmax_services = 2\nmax_routes = 2"), 0, vec![], vec![], BTreeMap::new());
    let got = e
        .ingest(
            &flush(
                1,
                vec![("be", 10, 3, vec![("a", 1), ("b", 1), ("c", 1)]), ("x", 1, 0, vec![]), ("y", 1, 0, vec![])],
            ),
            1_000,
        )
        .unwrap();
    assert_eq!(got.caps.len(), 2, "{:#?}", got.caps);
    assert!(got.caps.iter().any(|c| c.0.contains("max_services") && c.0.contains("\"y\"")));
    assert!(e.services().contains_key("x") && !e.services().contains_key("y"));
    let routes: Vec<_> = e.services()["be"].routes.keys().cloned().collect();
    assert_eq!(routes, vec!["a", "b", "other"]);
    // The same caps a second later are not logged again (rate-limited), but still applied.
    let got = e
        .ingest(&flush(2, vec![("be", 20, 6, vec![("a", 2), ("b", 2), ("d", 2)]), ("y", 2, 0, vec![])]), 2_000)
        .unwrap();
    assert!(got.caps.is_empty());
    assert_eq!(e.services()["be"].routes["other"].total, 3, "c (1) then d (2)");
}

#[test]
fn snapshot_holds_what_changed_and_restores_exactly() {
    let c = cfg("");
    let mut e = Engine::restore(c.clone(), 0, vec![], vec![], BTreeMap::new());
    e.ingest(&flush(1, vec![("be", 100, 20, vec![("GET /a", 20)])]), 1_000).unwrap();
    let snap = e.take_snapshot(1_000);
    assert_eq!(snap.services.len(), 1);
    assert_eq!(snap.ledger.len(), 1);
    assert_eq!(snap.buckets.len(), 1);
    assert!(e.take_snapshot(1_000).is_empty());
    let base: Vec<_> = snap.ledger.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))).collect();
    let mut buckets: BTreeMap<String, Vec<Bucket>> = BTreeMap::new();
    for (n, b) in snap.buckets {
        buckets.entry(n).or_default().push(b);
    }
    let mut r = Engine::restore(c, 2_000, base, snap.services, buckets);
    assert_eq!(r.services()["be"].window.totals(2_000).errors, 20);
    assert!(r.services()["be"].rate.firing());
    let got = r.ingest(&flush(2, vec![("be", 150, 20, vec![("GET /a", 20)])]), 2_000).unwrap();
    assert!(got.notices.is_empty(), "no duplicate after restart");
    assert_eq!(r.services()["be"].totals.requests, 150);
}

#[test]
fn top_routes_rank_by_count_then_recency_then_name() {
    let w: BTreeMap<String, u64> =
        [("a", 5), ("b", 9), ("c", 5), ("d", 5), ("z", 0)].into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    let seen: BTreeMap<String, RouteSeen> = [("a", 10), ("b", 1), ("c", 30), ("d", 30)]
        .into_iter()
        .map(|(k, l)| (k.to_string(), RouteSeen { first_seen_ms: 1, last_seen_ms: l, total: 0 }))
        .collect();
    let top: Vec<String> = top_routes(&w, &seen, 3).into_iter().map(|r| r.route).collect();
    assert_eq!(top, vec!["b", "c", "d"]);
}

#[test]
fn flushes_feed_the_per_minute_history_handed_out_with_snapshots() {
    let mut e = Engine::restore(cfg(""), 0, vec![], vec![], BTreeMap::new());
    e.ingest(&flush(1, vec![("be", 100, 4, vec![("GET /a", 4)])]), 59_000).unwrap();
    e.ingest(&flush(2, vec![("be", 300, 10, vec![("GET /a", 10)])]), 61_000).unwrap();
    let snap = e.take_snapshot(61_000);
    let got: Vec<(u64, u64, u64, u64)> =
        snap.minutes.iter().map(|m| (m.start_ms, m.requests, m.errors, m.routes["GET /a"].count)).collect();
    assert_eq!(got, vec![(0, 100, 4, 4), (60_000, 200, 6, 6)]);
    assert_eq!(snap.minutes[1].routes["GET /a"].last_seen_ms, 20, "route times from the flush");
    // A snapshot that could not be written gives its minutes back, whole.
    e.restore_snapshot(snap);
    e.ingest(&flush(3, vec![("be", 400, 10, vec![("GET /a", 10)])]), 62_000).unwrap();
    let again = e.take_snapshot(62_000);
    let got: Vec<(u64, u64)> = again.minutes.iter().map(|m| (m.start_ms, m.requests)).collect();
    assert_eq!(got, vec![(0, 100), (60_000, 300)]);
    assert!(e.take_snapshot(62_500).minutes.is_empty());
    // A stale flush adds nothing.
    e.ingest(&flush(3, vec![("be", 999, 99, vec![])]), 63_000).unwrap();
    assert!(e.take_snapshot(63_000).minutes.is_empty());
}

#[test]
fn counts_arriving_after_a_gap_longer_than_the_window_are_counted_but_never_page() {
    let mut e = Engine::restore(cfg(""), 0, vec![], vec![], BTreeMap::new());
    assert_eq!(e.ingest(&flush(1, vec![("be", 100, 0, vec![])]), 10_000).unwrap().late_ms, None);
    // The collector was unreachable for 61 s (window 60 s): a 30% episode inside that gap does not page.
    let got = e.ingest(&flush(2, vec![("be", 1_100, 300, vec![("GET /a", 300)])]), 71_001).unwrap();
    assert_eq!((got.result, got.notices.len(), got.late_ms), ("applied", 0, Some(61_001)));
    assert_eq!((e.services()["be"].totals.requests, e.services()["be"].totals.errors), (1_100, 300), "counted");
    assert_eq!(e.services()["be"].window.counts(71_001), (0, 0), "not in the window (the first flush aged out of it)");
    // The next flush is fresh: a problem still there pages.
    let got = e.ingest(&flush(3, vec![("be", 1_300, 340, vec![("GET /a", 340)])]), 72_000).unwrap();
    assert_eq!(got.late_ms, None);
    assert_eq!(rate(&got.notices[0]), RateChange::Raised { to: Level::Critical });
    // Exactly the window: still fresh.
    let got = e.ingest(&flush(4, vec![("be", 1_400, 340, vec![])]), 132_000).unwrap();
    assert_eq!(got.late_ms, None);
}
