//! Per-minute history of each service: requests, 5xx and 5xx by route in each minute of the
//! collector's clock. Accumulated in memory by the engine and handed to the store with each
//! snapshot (batched, off the request path), so history costs a map update per flush. Pure.

use faultline_flush::OTHER_ROUTE;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One minute, in milliseconds.
pub const MINUTE_MS: u64 = 60_000;
/// Named routes kept per service and minute; more are folded into `"other"`, which bounds
/// the history whatever the proxies send.
pub const ROUTES_PER_MINUTE: usize = 20;

/// 5xx of one route within one minute, and when (proxy clocks) it failed first and last.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteMinute {
    pub count: u64,
    pub first_seen_ms: u64,
    pub last_seen_ms: u64,
    /// Changed since the minute was last handed out.
    #[serde(skip)]
    pub dirty: bool,
}

/// What one service did in one minute.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Minute {
    pub service: String,
    pub start_ms: u64,
    pub requests: u64,
    pub errors: u64,
    pub routes: BTreeMap<String, RouteMinute>,
    /// Changed since it was last handed out.
    #[serde(skip)]
    pub dirty: bool,
}

impl Minute {
    /// Adds 5xx of `route` (folded into `"other"` past [`ROUTES_PER_MINUTE`]); allocates only
    /// for a route new in this minute.
    pub fn add_route(&mut self, route: &str, n: u64, first: u64, last: u64) {
        if n == 0 {
            return;
        }
        self.dirty = true;
        let add = |r: &mut RouteMinute| {
            r.count = r.count.saturating_add(n);
            r.first_seen_ms = r.first_seen_ms.min(first);
            r.last_seen_ms = r.last_seen_ms.max(last);
            r.dirty = true;
        };
        // One lookup on the hot path (a route already seen this minute).
        if let Some(r) = self.routes.get_mut(route) {
            add(r);
            return;
        }
        let name = if self.routes.len() < ROUTES_PER_MINUTE { route } else { OTHER_ROUTE };
        match self.routes.get_mut(name) {
            Some(r) => add(r),
            None => {
                self.routes.insert(
                    name.to_string(),
                    RouteMinute { count: n, first_seen_ms: first, last_seen_ms: last, dirty: true },
                );
            }
        }
    }

    /// Adds requests and 5xx.
    pub fn add_counts(&mut self, requests: u64, errors: u64) {
        if requests > 0 || errors > 0 {
            self.dirty = true;
            self.requests = self.requests.saturating_add(requests);
            self.errors = self.errors.saturating_add(errors);
        }
    }
}

/// Minutes not yet closed, or changed since they were last handed out, per service.
#[derive(Debug, Default)]
pub struct MinuteLog {
    open: BTreeMap<String, BTreeMap<u64, Minute>>,
}

/// Start of the minute holding `now_ms`.
pub fn minute_of(now_ms: u64) -> u64 {
    now_ms - now_ms % MINUTE_MS
}

impl MinuteLog {
    /// The minute of `service` holding `now_ms`, to add to (no allocation once it exists).
    pub fn at(&mut self, service: &str, now_ms: u64) -> Option<&mut Minute> {
        let start = minute_of(now_ms);
        if !self.open.contains_key(service) {
            self.open.insert(service.to_string(), BTreeMap::new());
        }
        let minutes = self.open.get_mut(service)?;
        Some(minutes.entry(start).or_insert_with(|| Minute {
            service: service.to_string(),
            start_ms: start,
            ..Minute::default()
        }))
    }

    /// Adds counts that arrived at `now_ms`; `routes` are `(route, 5xx, first_seen_ms, last_seen_ms)`.
    pub fn add(&mut self, service: &str, now_ms: u64, requests: u64, errors: u64, routes: &[(String, u64, u64, u64)]) {
        if requests == 0 && errors == 0 && routes.iter().all(|r| r.1 == 0) {
            return;
        }
        let Some(m) = self.at(service, now_ms) else { return };
        m.add_counts(requests, errors);
        for (route, n, first, last) in routes {
            m.add_route(route, *n, *first, *last);
        }
    }

    /// The minutes changed since the last call, with their counts and only the routes that
    /// changed (to upsert); minutes before the one holding `now_ms` are then forgotten, as
    /// nothing can be added to them any more.
    pub fn take_changed(&mut self, now_ms: u64) -> Vec<Minute> {
        let current = minute_of(now_ms);
        let mut out = Vec::new();
        for minutes in self.open.values_mut() {
            for m in minutes.values_mut().filter(|m| m.dirty) {
                m.dirty = false;
                let mut routes = BTreeMap::new();
                for (name, r) in m.routes.iter_mut().filter(|(_, r)| r.dirty) {
                    r.dirty = false;
                    routes.insert(name.clone(), r.clone());
                }
                out.push(Minute {
                    service: m.service.clone(),
                    start_ms: m.start_ms,
                    requests: m.requests,
                    errors: m.errors,
                    routes,
                    dirty: false,
                });
            }
            minutes.retain(|start, _| *start >= current);
        }
        self.open.retain(|_, m| !m.is_empty());
        out
    }

    /// Puts minutes that could not be written back (they are written with the next snapshot).
    pub fn restore_unwritten(&mut self, minutes: Vec<Minute>) {
        for m in minutes {
            let slot = self.open.entry(m.service.clone()).or_default().entry(m.start_ms);
            match slot {
                std::collections::btree_map::Entry::Occupied(mut o) => {
                    // Newer counts were added since: keep them, mark the lost routes to be written again.
                    let cur = o.get_mut();
                    cur.dirty = true;
                    for name in m.routes.keys() {
                        if let Some(r) = cur.routes.get_mut(name) {
                            r.dirty = true;
                        }
                    }
                }
                std::collections::btree_map::Entry::Vacant(v) => {
                    let mut m = m;
                    m.dirty = true;
                    m.routes.values_mut().for_each(|r| r.dirty = true);
                    v.insert(m);
                }
            }
        }
    }

    /// Resumes minutes persisted before a restart (the current minute goes on from its stored counts).
    pub fn resume(&mut self, minutes: Vec<Minute>) {
        for m in minutes {
            self.open.entry(m.service.clone()).or_default().insert(m.start_ms, m);
        }
    }

    /// Whether nothing is waiting to be written.
    pub fn is_clean(&self) -> bool {
        self.open.values().all(|m| m.values().all(|m| !m.dirty))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(name: &str, n: u64, first: u64, last: u64) -> (String, u64, u64, u64) {
        (name.to_string(), n, first, last)
    }

    #[test]
    fn counts_land_in_their_minute_and_closed_minutes_are_forgotten_once_written() {
        let mut log = MinuteLog::default();
        log.add("be", 59_999, 100, 5, &[r("GET /a", 5, 10, 20)]);
        log.add("be", 60_000, 50, 1, &[r("GET /a", 1, 60_001, 60_002)]);
        log.add("be", 61_000, 50, 2, &[r("GET /a", 2, 5, 61_000)]);
        log.add("ai", 61_000, 0, 0, &[]);
        let got = log.take_changed(61_500);
        assert_eq!(got.len(), 2, "{got:?}");
        let (m0, m1) = (&got[0], &got[1]);
        assert_eq!((m0.start_ms, m0.requests, m0.errors), (0, 100, 5));
        assert_eq!((m1.start_ms, m1.requests, m1.errors), (60_000, 100, 3));
        assert_eq!(m1.routes["GET /a"], RouteMinute { count: 3, first_seen_ms: 5, last_seen_ms: 61_000, dirty: false });
        assert!(log.take_changed(61_600).is_empty() && log.is_clean());
        // The current minute is kept and handed out with its counts and only its changed routes.
        log.add("be", 62_000, 10, 0, &[]);
        let again = log.take_changed(62_000);
        assert_eq!((again[0].requests, again[0].routes.len()), (110, 0));
        log.add("be", 62_500, 0, 1, &[r("GET /b", 1, 1, 2)]);
        assert_eq!(log.take_changed(62_500)[0].routes.keys().collect::<Vec<_>>(), vec!["GET /b"]);
        // Minute 0 was forgotten.
        assert_eq!(log.open["be"].len(), 1);
        assert!(!log.open.contains_key("ai"), "zero counts make no minute");
    }

    #[test]
    fn routes_beyond_the_cap_fold_into_other() {
        let mut log = MinuteLog::default();
        let many: Vec<_> = (0..ROUTES_PER_MINUTE + 5).map(|i| r(&format!("GET /r{i}"), 1, 1, 2)).collect();
        log.add("be", 0, 100, 25, &many);
        log.add("be", 1, 1, 1, &[r("GET /r0", 1, 0, 3)]);
        let m = &log.take_changed(2)[0];
        assert_eq!(m.routes.len(), ROUTES_PER_MINUTE + 1);
        assert_eq!(m.routes[OTHER_ROUTE].count, 5);
        assert_eq!(m.routes["GET /r0"], RouteMinute { count: 2, first_seen_ms: 0, last_seen_ms: 3, dirty: false });
        assert_eq!(m.routes.values().map(|r| r.count).sum::<u64>(), 26);
    }

    #[test]
    fn unwritten_minutes_come_back_and_resumed_minutes_go_on() {
        let mut log = MinuteLog::default();
        log.add("be", 1_000, 10, 1, &[]);
        log.add("be", 1_000, 0, 1, &[r("GET /a", 1, 1, 1)]);
        let lost = log.take_changed(1_000);
        log.add("be", 1_500, 5, 0, &[]);
        log.restore_unwritten(lost);
        let back = log.take_changed(1_500);
        assert_eq!(
            (back[0].requests, back[0].routes["GET /a"].count),
            (15, 1),
            "newer counts kept, the lost route written again"
        );
        // A minute already closed (forgotten) comes back whole.
        log.restore_unwritten(back);
        let back = log.take_changed(120_000);
        assert_eq!((back[0].start_ms, back[0].requests), (0, 15));
        assert!(log.take_changed(120_000).is_empty() && log.is_clean());
        let mut after = MinuteLog::default();
        after.resume(vec![Minute {
            service: "be".into(),
            start_ms: 0,
            requests: 10,
            errors: 1,
            routes: BTreeMap::new(),
            dirty: false,
        }]);
        after.add("be", 2_000, 5, 0, &[]);
        assert_eq!(after.take_changed(2_000)[0].requests, 15);
    }
}
