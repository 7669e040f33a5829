use super::*;
use faultline_flush::{RouteCounters, ServiceCounters, VERSION};

const CAPS: LedgerCaps = LedgerCaps { max_proxies: 2, max_boots_per_proxy: 2 };
const WIN: u64 = 300_000;

fn flush(proxy: &str, boot: &str, seq: u64, responses: u64, e5: u64, route: u64) -> Flush {
    Flush {
        version: VERSION,
        proxy_id: proxy.into(),
        boot_id: boot.into(),
        boot_ms: 1_000_000,
        seq,
        sent_ms: 1_000_000 + seq * 5_000,
        services: vec![ServiceCounters {
            name: "be".into(),
            responses,
            status_4xx: 0,
            status_5xx: e5,
            no_response: 0,
            unreachable: 0,
            exemplars: vec![],
            routes: vec![RouteCounters { route: "GET /a".into(), count: route, first_seen_ms: 1, last_seen_ms: 2 }],
        }],
        refusals: vec![],
    }
}

/// A [`ServiceDelta`] that owns its names (the flushes here are temporaries).
#[derive(Debug)]
struct Delta {
    responses: u64,
    status_5xx: u64,
    routes: Vec<(String, u64, u64, u64)>,
}

fn applied(o: Outcome<'_>) -> Vec<Delta> {
    match o {
        Outcome::Applied(d) => d
            .into_iter()
            .map(|d| Delta {
                responses: d.responses,
                status_5xx: d.status_5xx,
                routes: d.routes.into_iter().map(|(r, n, a, b)| (r.to_string(), n, a, b)).collect(),
            })
            .collect(),
        other => panic!("expected Applied, got {other:?}"),
    }
}

#[test]
fn deltas_between_cumulative_flushes() {
    let mut l = Ledger::default();
    let d = applied(l.apply(&flush("p", "b1", 1, 100, 10, 10), 0, WIN, CAPS).unwrap());
    assert_eq!((d[0].responses, d[0].status_5xx), (100, 10), "a young boot counts in full");
    let d = applied(l.apply(&flush("p", "b1", 2, 150, 12, 11), 0, WIN, CAPS).unwrap());
    assert_eq!((d[0].responses, d[0].status_5xx), (50, 2));
    assert_eq!(d[0].routes, vec![("GET /a".to_string(), 1, 1, 2)]);
}

#[test]
fn stale_and_replayed_flushes_change_nothing() {
    let mut l = Ledger::default();
    l.apply(&flush("p", "b1", 5, 100, 10, 10), 0, WIN, CAPS).unwrap();
    assert_eq!(l.apply(&flush("p", "b1", 5, 100, 10, 10), 0, WIN, CAPS).unwrap(), Outcome::Stale { last_seq: 5 });
    assert_eq!(l.apply(&flush("p", "b1", 4, 90, 9, 9), 0, WIN, CAPS).unwrap(), Outcome::Stale { last_seq: 5 });
    let d = applied(l.apply(&flush("p", "b1", 6, 110, 10, 10), 0, WIN, CAPS).unwrap());
    assert_eq!((d[0].responses, d[0].status_5xx), (10, 0));
}

#[test]
fn a_counter_that_goes_backwards_counts_nothing_and_is_rebaselined() {
    let mut l = Ledger::default();
    l.apply(&flush("p", "b1", 1, 100, 10, 10), 0, WIN, CAPS).unwrap();
    let d = applied(l.apply(&flush("p", "b1", 2, 30, 3, 3), 0, WIN, CAPS).unwrap());
    assert_eq!((d[0].responses, d[0].status_5xx), (0, 0), "neither negative nor a spike");
    assert!(d[0].routes.is_empty());
    let d = applied(l.apply(&flush("p", "b1", 3, 40, 3, 3), 0, WIN, CAPS).unwrap());
    assert_eq!((d[0].responses, d[0].status_5xx), (10, 0));
    assert!(d[0].routes.is_empty());
}

#[test]
fn a_new_boot_is_counted_in_full_if_young_else_baseline_only() {
    let mut l = Ledger::default();
    l.apply(&flush("p", "b1", 9, 1000, 10, 10), 0, WIN, CAPS).unwrap();
    let d = applied(l.apply(&flush("p", "b2", 1, 20, 2, 2), 0, WIN, CAPS).unwrap());
    assert_eq!((d[0].responses, d[0].status_5xx), (20, 2), "restarted proxy: no hole, no spike");
    let mut old = flush("p", "b3", 100, 5000, 50, 50);
    old.sent_ms = old.boot_ms + WIN;
    assert_eq!(l.apply(&old, 0, WIN, CAPS).unwrap(), Outcome::Baseline);
    let mut next = flush("p", "b3", 101, 5010, 51, 50);
    next.sent_ms = old.sent_ms + 5_000;
    let d = applied(l.apply(&next, 0, WIN, CAPS).unwrap());
    assert_eq!((d[0].responses, d[0].status_5xx), (10, 1));
}

#[test]
fn caps_refuse_new_proxies_and_forget_idle_boots() {
    let mut l = Ledger::default();
    l.apply(&flush("p1", "a", 1, 1, 0, 0), 10, WIN, CAPS).unwrap();
    l.apply(&flush("p2", "a", 1, 1, 0, 0), 10, WIN, CAPS).unwrap();
    let e = l.apply(&flush("p3", "a", 1, 1, 0, 0), 10, WIN, CAPS).unwrap_err();
    assert!(e.to_string().contains("limits.max_proxies"), "{e}");
    assert_eq!(l.proxies(), 2);
    l.apply(&flush("p1", "b", 1, 1, 0, 0), 20, WIN, CAPS).unwrap();
    l.take_changes();
    l.apply(&flush("p1", "c", 1, 1, 0, 0), 30, WIN, CAPS).unwrap();
    let changes = l.take_changes();
    assert!(changes.contains(&(("p1".into(), "a".into()), None)), "oldest boot evicted: {changes:?}");
    assert!(changes.iter().any(|(k, v)| k == &("p1".to_string(), "c".to_string()) && v.is_some()));
}

#[test]
fn restored_ledger_continues_exactly() {
    let mut l = Ledger::default();
    l.apply(&flush("p", "b1", 1, 100, 10, 10), 0, WIN, CAPS).unwrap();
    let rows: Vec<_> = l.take_changes().into_iter().filter_map(|(k, v)| v.map(|v| (k, v))).collect();
    let mut r = Ledger::restore(rows);
    let d = applied(r.apply(&flush("p", "b1", 2, 130, 13, 13), 0, WIN, CAPS).unwrap());
    assert_eq!((d[0].responses, d[0].status_5xx), (30, 3));
}
