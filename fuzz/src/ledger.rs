//! Target `ledger`: the collector's delta computation (`collector/src/ledger.rs`) over
//! sequences of flushes, checked against a model of docs/flush-format.md ("Rules").
//!
//! Input: a few parameters (window, caps), then steps; each step builds a flush from a
//! small alphabet of proxies, boots, services and routes (so that sequences meet again),
//! sends it through `Flush::to_json` and `Flush::parse` like the wire does, and applies
//! it at an advancing collector time. The model ([`Harness`]) holds the ledger to:
//! deltas follow the rules exactly (never wrap, never above the counter), a stale `seq`
//! changes nothing, a young new boot counts in full and an old one is a baseline, caps
//! refuse or evict as stated, the rows reported for the snapshot rebuild the same ledger,
//! and without counter resets what a boot counted equals how far its counters moved.

use super::input::Input;
use faultline_collector::decide::ledger::{
    Baseline, Ledger, LedgerCaps, LedgerError, Outcome, ServiceBase, ServiceDelta, route_key,
};
use faultline_flush::{Flush, RouteCounters, ServiceCounters, VERSION};
use std::collections::BTreeMap;

const PROXIES: [&str; 3] = ["edge-1", "edge-2", "edge-3"];
const BOOTS: [&str; 3] = ["b0", "b1", "b2"];
const SERVICES: [&str; 4] = ["be", "fe", "auth", "pay"];
const ROUTES: [&str; 4] = ["GET /a/:id", "POST /b", "other", "DELETE /c/:id/d"];
const WINDOW_MS: u64 = 300_000;

type Key = (String, String);

/// The ledger under test and the model it must agree with.
pub struct Harness {
    pub ledger: Ledger,
    window_ms: u64,
    caps: LedgerCaps,
    /// Every row the ledger reported through `take_changes`: its persisted state.
    rows: BTreeMap<Key, Baseline>,
    /// Per boot and service: counted so far, the counters when counting started, and
    /// whether any counter was ever reset (then conservation does not apply).
    counted: BTreeMap<(Key, String), Tally>,
}

#[derive(Default, Clone)]
struct Tally {
    counted: [u64; 4],
    start: [u64; 4],
    reset: bool,
}

fn counters(s: &ServiceBase) -> [u64; 4] {
    [s.responses, s.status_4xx, s.status_5xx, s.no_response]
}

fn flush_counters(s: &ServiceCounters) -> [u64; 4] {
    [s.responses, s.status_4xx, s.status_5xx, s.no_response]
}

fn delta_counters(d: &ServiceDelta) -> [u64; 4] {
    [d.responses, d.status_4xx, d.status_5xx, d.no_response]
}

/// The documented rule: the difference; a counter that went backwards counts nothing.
fn rule(new: u64, old: u64) -> u64 {
    new.saturating_sub(old)
}

impl Harness {
    pub fn new(window_ms: u64, caps: LedgerCaps) -> Harness {
        Harness { ledger: Ledger::default(), window_ms, caps, rows: BTreeMap::new(), counted: BTreeMap::new() }
    }

    /// Applies a valid flush at collector time `now_ms` and checks the ledger against the model.
    pub fn apply(&mut self, f: &Flush, now_ms: u64) {
        let key: Key = (f.proxy_id.clone(), f.boot_id.clone());
        let before = self.ledger.clone();
        let known = self.rows.get(&key).cloned();
        let proxies: std::collections::BTreeSet<&String> = self.rows.keys().map(|(p, _)| p).collect();
        let proxy_known = proxies.contains(&f.proxy_id);
        let n_proxies = proxies.len();
        let young = f.sent_ms.saturating_sub(f.boot_ms) < self.window_ms;

        let outcome = self.ledger.apply(f, now_ms, self.window_ms, self.caps);
        let unchanged = || format!("{:?}", self.ledger) == format!("{before:?}");
        match &outcome {
            Err(LedgerError::TooManyProxies { cap, .. }) => {
                assert!(
                    !proxy_known && n_proxies >= self.caps.max_proxies && *cap == self.caps.max_proxies,
                    "refused wrongly"
                );
                assert!(unchanged(), "a refused flush changed the ledger");
                assert!(self.ledger.take_changes().is_empty());
                return;
            }
            Ok(Outcome::Stale { last_seq }) => {
                let base = known.unwrap_or_else(|| panic!("stale for an unknown boot {key:?}"));
                assert!(f.seq <= base.seq && *last_seq == base.seq, "stale wrongly: seq {} last {}", f.seq, base.seq);
                assert!(unchanged(), "a stale flush changed the ledger");
                assert!(self.ledger.take_changes().is_empty(), "a stale flush reported changes");
                return;
            }
            Ok(Outcome::Baseline) => {
                assert!(known.is_none() && !young, "baseline for a known or young boot {key:?}");
            }
            Ok(Outcome::Applied(deltas)) => {
                if let Some(b) = &known {
                    assert!(f.seq > b.seq, "seq {} not above {} applied", f.seq, b.seq);
                } else {
                    assert!(young, "an old new boot was counted in full");
                }
                self.check_deltas(f, known.as_ref(), deltas);
            }
        }
        assert!(
            !(known.is_none() && !proxy_known && n_proxies >= self.caps.max_proxies),
            "new proxy beyond the cap accepted"
        );

        // The changes: this boot's new row, and evictions of other boots of this proxy.
        for ((p, b), row) in self.ledger.take_changes() {
            match row {
                Some(row) => {
                    assert_eq!((&p, &b), (&key.0, &key.1), "a row of another boot changed");
                    self.check_row(f, known.as_ref(), &row, now_ms);
                    self.rows.insert((p, b), row);
                }
                None => {
                    assert!(p == key.0 && b != key.1, "evicted {p}/{b} while applying {key:?}");
                    assert!(self.rows.remove(&(p.clone(), b.clone())).is_some(), "evicted an unknown boot");
                    self.counted.retain(|(k, _), _| *k != (p.clone(), b.clone()));
                }
            }
        }
        assert!(self.rows.contains_key(&key), "the applied boot was not reported");
        let boots = self.rows.keys().filter(|(p, _)| *p == key.0).count();
        assert!(boots <= self.caps.max_boots_per_proxy.max(1), "{boots} boots kept for {}", key.0);

        self.count(f, known.as_ref(), &outcome);
    }

    fn check_deltas(&self, f: &Flush, known: Option<&Baseline>, deltas: &[ServiceDelta]) {
        assert_eq!(deltas.len(), f.services.len(), "one delta per service");
        for (s, d) in f.services.iter().zip(deltas) {
            assert_eq!(s.name, d.name);
            let base = known.and_then(|b| b.services.get(&s.name)).cloned().unwrap_or_default();
            let (new, old, got) = (flush_counters(s), counters(&base), delta_counters(d));
            for i in 0..4 {
                let (n, o, g) = (new.get(i).copied(), old.get(i).copied(), got.get(i).copied());
                let (n, o, g) = (n.unwrap_or(0), o.unwrap_or(0), g.unwrap_or(0));
                assert_eq!(g, rule(n, o), "counter {i} of {}: {o} -> {n} gave {g}", s.name);
                assert!(g <= n, "delta above the cumulative counter");
            }
            let expected: Vec<(&str, u64, u64, u64)> = s
                .routes
                .iter()
                .map(|r| {
                    (
                        r.route.as_str(),
                        rule(r.count, base.route_keys.get(&route_key(&r.route)).copied().unwrap_or(0)),
                        r.first_seen_ms,
                        r.last_seen_ms,
                    )
                })
                .filter(|r| r.1 > 0)
                .collect();
            assert_eq!(d.routes, expected, "route deltas of {}", s.name);
        }
    }

    fn check_row(&self, f: &Flush, known: Option<&Baseline>, row: &Baseline, now_ms: u64) {
        assert_eq!((row.seq, row.boot_ms, row.seen_ms), (f.seq, f.boot_ms, now_ms));
        for s in &f.services {
            let kept = row.services.get(&s.name).unwrap_or_else(|| panic!("service {} not kept", s.name));
            assert_eq!(counters(kept), flush_counters(s));
            let routes: BTreeMap<u64, u64> = s.routes.iter().map(|r| (route_key(&r.route), r.count)).collect();
            assert_eq!(kept.route_keys, routes);
        }
        // Services absent from this flush keep their baseline.
        for (name, old) in known.map(|b| &b.services).into_iter().flatten() {
            if !f.services.iter().any(|s| &s.name == name) {
                assert_eq!(row.services.get(name), Some(old), "baseline of absent service {name} changed");
            }
        }
        assert!(row.services.len() <= known.map_or(0, |b| b.services.len()) + f.services.len());
    }

    /// Conservation: without resets, the counted total is how far the counters moved.
    fn count(&mut self, f: &Flush, known: Option<&Baseline>, outcome: &Result<Outcome, LedgerError>) {
        let key: Key = (f.proxy_id.clone(), f.boot_id.clone());
        let deltas: &[ServiceDelta] = match outcome {
            Ok(Outcome::Applied(d)) => d,
            _ => &[],
        };
        for s in &f.services {
            let new = flush_counters(s);
            let old = known.and_then(|b| b.services.get(&s.name)).map(counters);
            let t = self.counted.entry((key.clone(), s.name.clone())).or_insert_with(|| Tally {
                // Counting starts from the baseline (old boot) or from zero (young boot).
                start: if matches!(outcome, Ok(Outcome::Baseline)) { new } else { old.unwrap_or([0; 4]) },
                ..Tally::default()
            });
            if let Some(o) = old
                && new.iter().zip(o).any(|(n, o)| *n < o)
            {
                t.reset = true;
            }
            if let Some(d) = deltas.iter().find(|d| d.name == s.name) {
                for (c, x) in t.counted.iter_mut().zip(delta_counters(d)) {
                    *c = c.checked_add(x).unwrap_or(u64::MAX);
                }
            }
            if !t.reset {
                for i in 0..4 {
                    let moved = new.get(i).copied().unwrap_or(0) - t.start.get(i).copied().unwrap_or(0);
                    assert_eq!(
                        t.counted.get(i).copied(),
                        Some(moved),
                        "counter {i} of {}/{}: counted != moved",
                        key.0,
                        s.name
                    );
                }
            }
        }
    }

    /// The persisted rows rebuild a ledger that behaves like this one.
    pub fn check_restore(&self) {
        let restored = Ledger::restore(self.rows.clone());
        assert_eq!(format!("{restored:?}"), format!("{:?}", self.ledger), "snapshot rows do not rebuild the ledger");
    }
}

fn pick(inp: &mut Input, items: &[&str]) -> String {
    inp.pick(items).unwrap_or_default().to_string()
}

/// A flush from the input: counters consistent by construction (usually), near the
/// previous ones of the same boot so that deltas, resets and stale repeats all happen.
fn flush(inp: &mut Input, clock: u64) -> Flush {
    let proxy_id = pick(inp, &PROXIES);
    let boot_id = pick(inp, &BOOTS);
    let boot_ms = 1_764_540_000_000 + u64::from(inp.byte() % 4) * 200_000;
    let seq = u64::from(inp.byte() % 16);
    let sent_ms = boot_ms + u64::from(inp.u16()) * 100 + clock % 1000;
    let mut services: Vec<ServiceCounters> = Vec::new();
    for _ in 0..inp.byte() % 4 {
        let name = pick(inp, &SERVICES);
        if services.iter().any(|s| s.name == name) {
            continue;
        }
        let responses = u64::from(inp.u16());
        let status_5xx = u64::from(inp.u16()) % (responses + 1);
        let status_4xx = u64::from(inp.u16()) % (responses - status_5xx + 1);
        let no_response = if inp.byte() == 255 { u64::MAX - u64::from(inp.byte()) } else { u64::from(inp.byte()) };
        let mut routes: Vec<RouteCounters> = Vec::new();
        let mut left = status_5xx;
        for _ in 0..inp.byte() % 4 {
            let route = pick(inp, &ROUTES);
            if routes.iter().any(|r| r.route == route) {
                continue;
            }
            let count = u64::from(inp.u16()) % (left + 1);
            left -= count;
            let first_seen_ms = boot_ms + u64::from(inp.byte()) * 1000;
            routes.push(RouteCounters {
                route,
                count,
                first_seen_ms,
                last_seen_ms: first_seen_ms + u64::from(inp.byte()) * 1000,
            });
        }
        services.push(ServiceCounters {
            name,
            responses,
            status_4xx,
            status_5xx,
            no_response,
            unreachable: 0,
            routes,
            exemplars: vec![],
        });
    }
    Flush { version: VERSION, proxy_id, boot_id, boot_ms, seq, sent_ms, services, refusals: vec![] }
}

pub fn check(data: &[u8]) {
    let mut inp = Input::new(data);
    let window_ms = if inp.bool() { WINDOW_MS } else { u64::from(inp.u16()) * 100 + 1 };
    let caps =
        LedgerCaps { max_proxies: usize::from(inp.byte() % 4), max_boots_per_proxy: usize::from(inp.byte() % 4) };
    let mut h = Harness::new(window_ms, caps);
    let mut now = 1_764_540_000_000u64;
    for _ in 0..64 {
        if inp.is_empty() {
            break;
        }
        now += u64::from(inp.byte()) * 500;
        let f = flush(&mut inp, now);
        // Through the wire format, as the collector gets it.
        let wire = f.to_json();
        let parsed = Flush::parse(&wire).unwrap_or_else(|e| panic!("a valid flush was refused: {e}"));
        assert_eq!(parsed, f, "the wire format changed the flush");
        h.apply(&parsed, now);
    }
    h.check_restore();
}
