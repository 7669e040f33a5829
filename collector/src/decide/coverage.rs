//! Which time the proxies' reports cover. A window with no 5xx because the proxies said "no traffic"
//! and a window with no 5xx because no report arrived (the collector was down or restarting, a proxy
//! stopped flushing, a flush was late) look the same in the counts; they are told apart here. Pure:
//! time is an argument.
//!
//! Every flush carries a proxy's cumulative counters of every service it has seen, so a proxy's flush
//! covers all of its services at once: coverage is kept per proxy ([`ProxyReports`]), and a service is
//! covered when every proxy that serves it is ([`coverage`]).

use serde::{Deserialize, Serialize};

/// The reports of one proxy: since when its flushes cover time without a gap, and its last one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProxyReports {
    /// Collector time of the proxy's first accepted flush on this state.
    pub first_ms: u64,
    /// Start of the time covered without a gap up to `last_ms`.
    pub since_ms: u64,
    /// Collector time of the last accepted flush.
    pub last_ms: u64,
    /// The proxy's flush interval as seen here (smoothed time between flushes; 0 until two came).
    #[serde(default)]
    pub interval_ms: u64,
}

impl ProxyReports {
    /// A proxy whose first flush was accepted at `now_ms`, covering from `counted_from_ms`.
    pub fn new(now_ms: u64, counted_from_ms: u64) -> ProxyReports {
        ProxyReports { first_ms: now_ms, since_ms: counted_from_ms.min(now_ms), last_ms: now_ms, interval_ms: 0 }
    }

    /// A flush accepted at `now_ms` whose counts went into the window from `counted_from_ms` on (the
    /// boot's previous flush; a young boot's start for its first flush; `now_ms` when its counts did not
    /// go into the window: late after a gap longer than the window, a baseline). When that does not reach
    /// back to the previous report (within two flush intervals and a second: an nginx reload loses the
    /// last few seconds of the old boot, no more), a new stretch starts there.
    pub fn reported(&mut self, now_ms: u64, counted_from_ms: u64, stale_after_ms: u64) {
        let gap = now_ms.saturating_sub(self.last_ms);
        let slack = if self.interval_ms > 0 { self.interval_ms.saturating_mul(2).saturating_add(1_000) } else { 1_000 };
        if counted_from_ms > self.last_ms.saturating_add(slack.min(stale_after_ms)) {
            self.since_ms = counted_from_ms.min(now_ms);
        }
        if gap > 0 && gap <= stale_after_ms {
            // The usual cadence, from gaps that were not outages.
            self.interval_ms = if self.interval_ms == 0 { gap } else { (self.interval_ms * 3 + gap) / 4 };
        }
        self.last_ms = self.last_ms.max(now_ms);
    }

    /// Whether the proxy's reports are current for judging a window of `window_ms` at `now_ms`: its
    /// next flush is not overdue (two intervals and a second), and never longer than `stale_after_ms`
    /// or the window itself. A late flush makes the window partial until it comes.
    pub fn current(&self, now_ms: u64, window_ms: u64, stale_after_ms: u64) -> bool {
        let limit = stale_after_ms.min(window_ms);
        let due = if self.interval_ms > 0 { self.interval_ms.saturating_mul(2).saturating_add(1_000) } else { limit };
        now_ms.saturating_sub(self.last_ms) <= due.min(limit)
    }

    /// Whether the proxy has flushed within `stale_after_ms` of `now_ms`.
    pub fn fresh(&self, now_ms: u64, stale_after_ms: u64) -> bool {
        now_ms.saturating_sub(self.last_ms) <= stale_after_ms
    }
}

/// How much of a service's window the reports cover.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "coverage", rename_all = "snake_case")]
pub enum Coverage {
    /// Every proxy serving the service reported throughout the window: the counts are the traffic.
    Full,
    /// Reports cover the window only from `from_ms` (the collector or a proxy was away), or a proxy
    /// serving the service stopped reporting within it. What the counts show can raise a level (it
    /// happened), never lower one (what is missing could be failures).
    Partial { from_ms: u64 },
    /// No proxy serving the service reports now (`last_ms`: the latest report, if any): nothing is
    /// judged, the state is held.
    Missing { last_ms: Option<u64> },
}

impl Coverage {
    /// Whether the window can be judged downward (de-escalate, resolve, "no traffic").
    pub fn is_full(&self) -> bool {
        matches!(self, Coverage::Full)
    }
}

/// The coverage at `now_ms` of a window of `window_ms` by the reports of the proxies serving a service.
/// A proxy silent since before the window began (and for longer than `stale_after_ms`) is not waited
/// for (its silence was announced, and the window holds none of its traffic); one that fell silent or
/// is late within the window makes it partial; none current is missing.
pub fn coverage<'a>(
    proxies: impl IntoIterator<Item = &'a ProxyReports>,
    now_ms: u64,
    window_ms: u64,
    stale_after_ms: u64,
) -> Coverage {
    let window_start = now_ms.saturating_sub(window_ms);
    let (mut any_fresh, mut lapsed, mut latest, mut from) = (false, false, None::<u64>, 0u64);
    for p in proxies {
        latest = Some(latest.map_or(p.last_ms, |l| l.max(p.last_ms)));
        if p.current(now_ms, window_ms, stale_after_ms) {
            any_fresh = true;
            from = from.max(p.since_ms);
        } else if p.last_ms.saturating_add(stale_after_ms) > window_start {
            lapsed = true;
            from = from.max(p.last_ms);
        }
    }
    if !any_fresh {
        return Coverage::Missing { last_ms: latest };
    }
    if lapsed || from > window_start { Coverage::Partial { from_ms: from } } else { Coverage::Full }
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: u64 = 300_000;
    const STALE: u64 = 60_000;

    fn reports(since: u64, last: u64) -> ProxyReports {
        ProxyReports { first_ms: since, since_ms: since, last_ms: last, interval_ms: 0 }
    }

    #[test]
    fn flushes_every_few_seconds_cover_the_window_once_it_has_passed() {
        let mut p = ProxyReports::new(1_000, 1_000);
        for t in (6_000..=301_000).step_by(5_000) {
            p.reported(t, t - 5_000, STALE);
        }
        assert_eq!(coverage([&p], 300_999, W, STALE), Coverage::Partial { from_ms: 1_000 });
        assert_eq!(coverage([&p], 301_000, W, STALE), Coverage::Full);
        assert!(coverage([&p], 301_000, W, STALE).is_full());
    }

    /// Flushes every 5 s from `from` to `to`, each covering since the previous one.
    fn steady(p: &mut ProxyReports, from: u64, to: u64) {
        for t in (from..=to).step_by(5_000) {
            p.reported(t, t.saturating_sub(5_000), STALE);
        }
    }

    #[test]
    fn a_silence_longer_than_stale_after_is_missing_then_partial_until_a_window_has_passed() {
        let mut p = reports(0, 400_000);
        assert_eq!(coverage([&p], 460_000, W, STALE), Coverage::Full);
        assert_eq!(coverage([&p], 460_001, W, STALE), Coverage::Missing { last_ms: Some(400_000) });
        // Back after 10 minutes: the first flush's counts were late (not in the window).
        p.reported(1_000_000, 1_000_000, STALE);
        assert_eq!(p.since_ms, 1_000_000);
        assert_eq!(coverage([&p], 1_000_000, W, STALE), Coverage::Partial { from_ms: 1_000_000 });
        steady(&mut p, 1_005_000, 1_299_999);
        assert_eq!(coverage([&p], 1_299_999, W, STALE), Coverage::Partial { from_ms: 1_000_000 });
        steady(&mut p, 1_300_000, 1_300_000);
        assert_eq!(coverage([&p], 1_300_000, W, STALE), Coverage::Full);
    }

    #[test]
    fn a_gap_shorter_than_the_window_is_carried_by_the_next_flush() {
        // The collector was away 2 minutes: the first flush after carries those counts into the window.
        let mut p = reports(0, 400_000);
        p.reported(520_000, 400_000, STALE);
        assert_eq!(p.since_ms, 0, "its counts reach back to the previous report: no gap");
        steady(&mut p, 525_000, 700_000);
        assert_eq!(coverage([&p], 700_000, W, STALE), Coverage::Full);
    }

    #[test]
    fn one_proxy_of_two_stopping_makes_the_window_partial_for_one_window_only() {
        let stopped = reports(0, 800_000);
        let steady_at = |t: u64| reports(0, t);
        assert_eq!(coverage([&steady_at(850_000), &stopped], 850_000, W, STALE), Coverage::Full, "not yet late");
        let at = 870_000;
        assert_eq!(coverage([&steady_at(at), &stopped], at, W, STALE), Coverage::Partial { from_ms: 800_000 });
        // Its silence began inside the window until 800 s + stale_after + the window.
        let at = 1_159_999;
        assert_eq!(coverage([&steady_at(at), &stopped], at, W, STALE), Coverage::Partial { from_ms: 800_000 });
        let at = 1_160_000;
        assert_eq!(coverage([&steady_at(at), &stopped], at, W, STALE), Coverage::Full, "judged on the one reporting");
        assert_eq!(coverage([&stopped], at, W, STALE), Coverage::Missing { last_ms: Some(800_000) }, "never alone");
    }

    #[test]
    fn a_late_flush_makes_the_window_partial_even_before_stale_after() {
        let mut p = ProxyReports::new(0, 0);
        steady(&mut p, 5_000, 400_000);
        assert_eq!(p.interval_ms, 5_000);
        assert_eq!(coverage([&p], 411_000, W, STALE), Coverage::Full, "two intervals and a second");
        assert_eq!(coverage([&p], 411_001, W, STALE), Coverage::Missing { last_ms: Some(400_000) });
        // A stale_after longer than the window never lets a window without reports count as covered.
        let q = reports(0, 400_000);
        assert_eq!(coverage([&q], 711_000, W, 3_600_000), Coverage::Missing { last_ms: Some(400_000) });
    }

    #[test]
    fn late_counts_break_the_stretch_even_within_stale_after() {
        // The collector was away 25 s (window 20 s, stale_after 60 s): the first flush after is late,
        // its counts went to the totals only: the window is covered again only from it on.
        let mut p = ProxyReports::new(0, 0);
        steady(&mut p, 5_000, 100_000);
        p.reported(125_000, 125_000, STALE);
        assert_eq!(p.since_ms, 125_000);
        assert_eq!(coverage([&p], 125_000, 20_000, STALE), Coverage::Partial { from_ms: 125_000 });
        // A reload: the new boot's first flush counts from its start, a few seconds after the old boot's
        // last flush (those seconds are lost): the stretch goes on.
        let mut q = ProxyReports::new(0, 0);
        steady(&mut q, 5_000, 100_000);
        q.reported(106_000, 101_500, STALE);
        assert_eq!(q.since_ms, 0, "continuous across a reload");
    }

    #[test]
    fn no_proxy_at_all_is_missing() {
        assert_eq!(coverage([], 5, W, STALE), Coverage::Missing { last_ms: None });
    }
}
