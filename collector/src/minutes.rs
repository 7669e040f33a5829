//! Per-minute history of each service: requests, 5xx and 5xx by route in each minute of the
//! collector's clock. Accumulated in memory by the engine and handed to the store with each
//! snapshot (batched, off the request path), so history costs a map update per flush. Pure.

use faultline_flush::OTHER_ROUTE;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

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
}

/// What one service did in one minute.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Minute {
    pub service: String,
    pub start_ms: u64,
    pub requests: u64,
    pub errors: u64,
    pub routes: BTreeMap<String, RouteMinute>,
}

/// Minutes not yet closed, or changed since they were last handed out.
#[derive(Debug, Default)]
pub struct MinuteLog {
    open: BTreeMap<(String, u64), Minute>,
    changed: BTreeSet<(String, u64)>,
}

/// Start of the minute holding `now_ms`.
pub fn minute_of(now_ms: u64) -> u64 {
    now_ms - now_ms % MINUTE_MS
}

impl MinuteLog {
    /// Adds counts that arrived at `now_ms`; `routes` are `(route, 5xx, first_seen_ms, last_seen_ms)`.
    pub fn add(&mut self, service: &str, now_ms: u64, requests: u64, errors: u64, routes: &[(String, u64, u64, u64)]) {
        if requests == 0 && errors == 0 && routes.iter().all(|r| r.1 == 0) {
            return;
        }
        let key = (service.to_string(), minute_of(now_ms));
        let m = self.open.entry(key.clone()).or_insert_with(|| Minute { service: key.0.clone(), start_ms: key.1, ..Minute::default() });
        m.requests = m.requests.saturating_add(requests);
        m.errors = m.errors.saturating_add(errors);
        for (route, n, first, last) in routes.iter().filter(|r| r.1 > 0) {
            let name = if m.routes.contains_key(route) || m.routes.len() < ROUTES_PER_MINUTE { route.as_str() } else { OTHER_ROUTE };
            match m.routes.get_mut(name) {
                Some(r) => {
                    r.count = r.count.saturating_add(*n);
                    r.first_seen_ms = r.first_seen_ms.min(*first);
                    r.last_seen_ms = r.last_seen_ms.max(*last);
                }
                None => {
                    m.routes.insert(name.to_string(), RouteMinute { count: *n, first_seen_ms: *first, last_seen_ms: *last });
                }
            }
        }
        self.changed.insert(key);
    }

    /// The minutes changed since the last call, whole (to upsert); minutes before the one
    /// holding `now_ms` are then forgotten, as nothing can be added to them any more.
    pub fn take_changed(&mut self, now_ms: u64) -> Vec<Minute> {
        let changed = std::mem::take(&mut self.changed);
        let out = changed.iter().filter_map(|k| self.open.get(k).cloned()).collect();
        let current = minute_of(now_ms);
        self.open.retain(|(_, start), _| *start >= current);
        out
    }

    /// Puts minutes that could not be written back (they are written with the next snapshot).
    pub fn restore_unwritten(&mut self, minutes: Vec<Minute>) {
        for m in minutes {
            let key = (m.service.clone(), m.start_ms);
            self.changed.insert(key.clone());
            self.open.entry(key).or_insert(m);
        }
    }

    /// Resumes minutes persisted before a restart (the current minute goes on from its stored counts).
    pub fn resume(&mut self, minutes: Vec<Minute>) {
        for m in minutes {
            self.open.insert((m.service.clone(), m.start_ms), m);
        }
    }

    /// Whether nothing is waiting to be written.
    pub fn is_clean(&self) -> bool {
        self.changed.is_empty()
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
        assert_eq!(m1.routes["GET /a"], RouteMinute { count: 3, first_seen_ms: 5, last_seen_ms: 61_000 });
        assert!(log.take_changed(61_600).is_empty() && log.is_clean());
        // The current minute is kept and handed out whole when it changes again.
        log.add("be", 62_000, 10, 0, &[]);
        assert_eq!(log.take_changed(62_000)[0].requests, 110);
        // Minute 0 was forgotten: a late add starts it afresh (the store adds nothing twice: it upserts).
        assert_eq!(log.open.len(), 1);
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
        assert_eq!(m.routes["GET /r0"], RouteMinute { count: 2, first_seen_ms: 0, last_seen_ms: 3 });
        assert_eq!(m.routes.values().map(|r| r.count).sum::<u64>(), 26);
    }

    #[test]
    fn unwritten_minutes_come_back_and_resumed_minutes_go_on() {
        let mut log = MinuteLog::default();
        log.add("be", 1_000, 10, 1, &[]);
        let lost = log.take_changed(1_000);
        log.restore_unwritten(lost);
        assert_eq!(log.take_changed(1_000)[0].requests, 10);
        let mut after = MinuteLog::default();
        after.resume(vec![Minute { service: "be".into(), start_ms: 0, requests: 10, errors: 1, routes: BTreeMap::new() }]);
        after.add("be", 2_000, 5, 0, &[]);
        assert_eq!(after.take_changed(2_000)[0].requests, 15);
    }
}
