//! ErrorWindow: requests, 5xx and failing routes of one service over the sliding window,
//! in fine buckets (default 5 s) keyed by the collector's clock. Pure: time is an argument.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};

/// One bucket: counts that arrived during `[start_ms, start_ms + bucket)`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bucket {
    pub start_ms: u64,
    pub requests: u64,
    pub errors: u64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub routes: BTreeMap<String, u64>,
    /// Of `errors`, those the proxy made because it could not reach the upstream.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub unreachable: u64,
    /// The time the flushes that arrived in this bucket cover: from the earliest one's start (its
    /// proxy's previous flush) to the latest arrival. `None` in buckets of older collectors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub covers: Option<(u64, u64)>,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// Counts of the most recent buckets (the fast burn's and the passive DOWN's short spans).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recent {
    pub requests: u64,
    pub errors: u64,
    pub unreachable: u64,
}

/// Sums over the window.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WindowTotals {
    pub requests: u64,
    pub errors: u64,
    pub routes: BTreeMap<String, u64>,
    /// The time of traffic these counts cover (flushes follow their own boundaries, not the window's).
    pub covers: Option<(u64, u64)>,
}

/// The sliding window of one service. Persisted bucket by bucket (only changed buckets
/// are written), so it is not serialized as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorWindow {
    window_ms: u64,
    bucket_ms: u64,
    buckets: VecDeque<Bucket>,
    /// Starts of buckets changed since the last [`ErrorWindow::take_changed`].
    changed: std::collections::BTreeSet<u64>,
    /// Running sums over `buckets`, so that evaluating a window is O(1).
    sum_requests: u64,
    sum_errors: u64,
}

impl Default for ErrorWindow {
    fn default() -> Self {
        ErrorWindow::new(300_000, 5_000)
    }
}

impl ErrorWindow {
    /// An empty window of `window_ms`, in buckets of `bucket_ms` (both above zero).
    pub fn new(window_ms: u64, bucket_ms: u64) -> ErrorWindow {
        ErrorWindow {
            window_ms: window_ms.max(1),
            bucket_ms: bucket_ms.max(1),
            buckets: VecDeque::new(),
            changed: Default::default(),
            sum_requests: 0,
            sum_errors: 0,
        }
    }

    fn bucket_start(&self, now_ms: u64) -> u64 {
        now_ms - now_ms % self.bucket_ms
    }

    /// Start of the oldest bucket still inside the window at `now_ms`.
    fn oldest_start(&self, now_ms: u64) -> u64 {
        (self.bucket_start(now_ms) + self.bucket_ms).saturating_sub(self.window_ms)
    }

    /// Records that a flush arriving at `now_ms` covered traffic from `from_ms` (its proxy's previous
    /// flush), so that the window can say what time its counts really span.
    pub fn covered(&mut self, now_ms: u64, from_ms: u64) {
        let idx = self.bucket_at(now_ms);
        self.changed.insert(self.bucket_start(now_ms));
        if let Some(b) = self.buckets.get_mut(idx) {
            let (f, t) = b.covers.unwrap_or((from_ms, now_ms));
            b.covers = Some((f.min(from_ms), t.max(now_ms)));
        }
    }

    /// The index of the bucket holding `now_ms`, inserted in order if it is not there yet.
    fn bucket_at(&mut self, now_ms: u64) -> usize {
        let start = self.bucket_start(now_ms);
        let pos = self.buckets.iter().rposition(|b| b.start_ms <= start);
        match pos {
            Some(i) if self.buckets.get(i).is_some_and(|b| b.start_ms == start) => i,
            Some(i) => {
                self.buckets.insert(i + 1, Bucket { start_ms: start, ..Bucket::default() });
                i + 1
            }
            None => {
                self.buckets.push_front(Bucket { start_ms: start, ..Bucket::default() });
                0
            }
        }
    }

    /// Adds counts that arrived at `now_ms`.
    pub fn add(&mut self, now_ms: u64, requests: u64, errors: u64, routes: &[(&str, u64)]) {
        if requests == 0 && errors == 0 && routes.iter().all(|(_, c)| *c == 0) {
            return;
        }
        let start = self.bucket_start(now_ms);
        let idx = self.bucket_at(now_ms);
        self.changed.insert(start);
        self.sum_requests = self.sum_requests.saturating_add(requests);
        self.sum_errors = self.sum_errors.saturating_add(errors);
        if let Some(b) = self.buckets.get_mut(idx) {
            b.requests = b.requests.saturating_add(requests);
            b.errors = b.errors.saturating_add(errors);
            for &(r, c) in routes.iter().filter(|(_, c)| *c > 0) {
                match b.routes.get_mut(r) {
                    Some(e) => *e = e.saturating_add(c),
                    None => {
                        b.routes.insert(r.to_string(), c);
                    }
                }
            }
        }
    }

    /// Drops buckets that left the window; true if any did.
    pub fn expire(&mut self, now_ms: u64) -> bool {
        let oldest = self.oldest_start(now_ms);
        let before = self.buckets.len();
        while let Some(b) = self.buckets.front().filter(|b| b.start_ms < oldest) {
            self.sum_requests = self.sum_requests.saturating_sub(b.requests);
            self.sum_errors = self.sum_errors.saturating_sub(b.errors);
            self.buckets.pop_front();
        }
        before != self.buckets.len()
    }

    /// Requests and 5xx over the window at `now_ms`, without the routes: O(buckets that left
    /// the window but are not expired yet), i.e. O(1) right after [`ErrorWindow::expire`].
    pub fn counts(&self, now_ms: u64) -> (u64, u64) {
        let oldest = self.oldest_start(now_ms);
        let (mut r, mut e) = (self.sum_requests, self.sum_errors);
        let outside = |b: &&Bucket| b.start_ms < oldest;
        for b in self.buckets.iter().take_while(outside) {
            r = r.saturating_sub(b.requests);
            e = e.saturating_sub(b.errors);
        }
        for b in self.buckets.iter().rev().take_while(|b| b.start_ms > now_ms) {
            r = r.saturating_sub(b.requests);
            e = e.saturating_sub(b.errors);
        }
        (r, e)
    }

    /// Counts in the last `span_ms` at `now_ms` (whole buckets: the current one and those before it
    /// that fit), for the fast burn and the passive DOWN.
    pub fn counts_recent(&self, now_ms: u64, span_ms: u64) -> Recent {
        self.counts_recent_after(now_ms, span_ms, None)
    }

    /// [`ErrorWindow::counts_recent`] without the buckets that began at or before `after_ms` (what arrived
    /// before an instant, or with it).
    pub fn counts_recent_after(&self, now_ms: u64, span_ms: u64, after_ms: Option<u64>) -> Recent {
        let from = (self.bucket_start(now_ms) + self.bucket_ms).saturating_sub(span_ms);
        let from = after_ms.map_or(from, |a| from.max(self.bucket_start(a).saturating_add(self.bucket_ms)));
        let recent = self.buckets.iter().rev().skip_while(|b| b.start_ms > now_ms).take_while(|b| b.start_ms >= from);
        recent.fold(Recent::default(), |t, b| Recent {
            requests: t.requests.saturating_add(b.requests),
            errors: t.errors.saturating_add(b.errors),
            unreachable: t.unreachable.saturating_add(b.unreachable),
        })
    }

    /// Adds `n` responses the proxy made for want of the upstream, arrived at `now_ms` (already counted
    /// as requests and 5xx by [`ErrorWindow::add`]).
    pub fn add_unreachable(&mut self, now_ms: u64, n: u64) {
        if n == 0 {
            return;
        }
        let idx = self.bucket_at(now_ms);
        self.changed.insert(self.bucket_start(now_ms));
        if let Some(b) = self.buckets.get_mut(idx) {
            b.unreachable = b.unreachable.saturating_add(n);
        }
    }

    /// Totals over the window at `now_ms` (buckets that left it are not counted, even before `expire`).
    pub fn totals(&self, now_ms: u64) -> WindowTotals {
        let oldest = self.oldest_start(now_ms);
        let mut t = WindowTotals::default();
        for b in self.buckets.iter().filter(|b| b.start_ms >= oldest && b.start_ms <= now_ms) {
            t.requests = t.requests.saturating_add(b.requests);
            t.errors = t.errors.saturating_add(b.errors);
            for (r, c) in &b.routes {
                let e = t.routes.entry(r.clone()).or_insert(0);
                *e = e.saturating_add(*c);
            }
            if let Some((f, to)) = b.covers {
                t.covers = Some(t.covers.map_or((f, to), |(a, z)| (a.min(f), z.max(to))));
            }
        }
        t
    }

    /// Buckets changed since the last call (to persist), and the start below which stored
    /// buckets are out of the window (to delete).
    pub fn take_changed(&mut self, now_ms: u64) -> (Vec<Bucket>, u64) {
        let changed = std::mem::take(&mut self.changed);
        let out = self.buckets.iter().filter(|b| changed.contains(&b.start_ms)).cloned().collect();
        (out, self.oldest_start(now_ms))
    }

    /// Marks every bucket changed (after a failed write).
    pub fn mark_all_changed(&mut self) {
        self.changed.extend(self.buckets.iter().map(|b| b.start_ms));
    }

    /// A window rebuilt from persisted buckets.
    pub fn from_buckets(window_ms: u64, bucket_ms: u64, buckets: impl IntoIterator<Item = Bucket>) -> ErrorWindow {
        let mut w = ErrorWindow::new(window_ms, bucket_ms);
        for b in buckets {
            let routes: Vec<(&str, u64)> = b.routes.iter().map(|(r, c)| (r.as_str(), *c)).collect();
            w.add(b.start_ms, b.requests, b.errors, &routes);
            w.add_unreachable(b.start_ms, b.unreachable);
            if b.covers.is_some() {
                let i = w.bucket_at(b.start_ms);
                if let Some(x) = w.buckets.get_mut(i) {
                    x.covers = b.covers;
                }
            }
        }
        w.changed.clear();
        w
    }

    /// Whether any bucket is held.
    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(name: &str, c: u64) -> (&str, u64) {
        (name, c)
    }

    #[test]
    fn sums_buckets_inside_the_window_only() {
        let mut w = ErrorWindow::new(300_000, 5_000);
        w.add(1_000, 100, 5, &[r("GET /a", 5)]);
        w.add(4_999, 100, 5, &[r("GET /a", 3), r("GET /b", 2)]);
        w.add(150_000, 50, 0, &[]);
        let t = w.totals(150_000);
        assert_eq!((t.requests, t.errors), (250, 10));
        for now in [150_000, 299_999, 300_000, 449_999, 450_000] {
            let t = w.totals(now);
            assert_eq!(w.counts(now), (t.requests, t.errors), "at {now}");
        }
        assert_eq!(t.routes.get("GET /a"), Some(&8));
        // The first bucket [0,5s) stays until the window no longer covers it.
        assert_eq!(w.totals(299_999).requests, 250);
        assert_eq!(w.totals(300_000).requests, 50);
        assert!(w.expire(300_000));
        assert_eq!(w.totals(300_000).requests, 50);
        assert_eq!(w.counts(300_000), (50, 0));
        assert_eq!(w.totals(449_999).requests, 50);
        assert_eq!(w.totals(450_000).requests, 0);
        assert!(w.expire(450_000) && w.is_empty());
    }

    #[test]
    fn late_counts_land_in_order_and_changed_buckets_rebuild_the_window() {
        let mut w = ErrorWindow::new(30_000, 1_000);
        w.add(10_500, 10, 1, &[]);
        w.add(5_000, 10, 1, &[]);
        w.add(10_900, 10, 1, &[r("x", 1)]);
        assert_eq!(w.totals(11_000).requests, 30);
        let (changed, cutoff) = w.take_changed(11_000);
        assert_eq!((changed.len(), cutoff), (2, 0));
        assert!(w.take_changed(11_000).0.is_empty());
        let w = ErrorWindow::from_buckets(60_000, 5_000, changed);
        let t = w.totals(11_000);
        assert_eq!((t.requests, t.errors, t.routes.get("x")), (30, 3, Some(&1)));
    }

    #[test]
    fn the_window_says_what_time_its_flushes_cover() {
        let mut w = ErrorWindow::new(30_000, 5_000);
        // Flushes every 5 s, each covering the 5 s before it; the window holds those that arrived in it.
        for t in (2_000..=62_000).step_by(5_000) {
            w.add(t, 100, 1, &[]);
            w.covered(t, t.saturating_sub(5_000));
        }
        w.expire(62_000);
        let t = w.totals(62_000);
        assert_eq!(t.requests, 600, "the flushes of 37, 42 … 62 s");
        assert_eq!(t.covers, Some((32_000, 62_000)), "their traffic: 30 s, from 32 s to 62 s");
        let again = ErrorWindow::from_buckets(30_000, 5_000, w.take_changed(62_000).0);
        assert_eq!(again.totals(62_000).covers, Some((32_000, 62_000)), "kept across a restart");
    }

    #[test]
    fn zero_counts_make_no_bucket() {
        let mut w = ErrorWindow::new(30_000, 1_000);
        w.add(1_000, 0, 0, &[r("x", 0)]);
        assert!(w.is_empty());
    }
}
