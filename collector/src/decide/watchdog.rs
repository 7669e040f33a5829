//! The watchdog: a proxy that stops counting is said out loud. Per proxy, what the collector knows of
//! its reports and what it has said about them: "stopped reporting" after `stale_after` without a
//! flush (and "reporting again" with the gap), "not reporting" for a proxy a token names that never
//! flushed, and the configurations its filter instances refused. Pure: time is an argument.

use super::coverage::ProxyReports;
use serde::{Deserialize, Serialize};

/// A Faultline configuration that one of a proxy's filter instances refused (nginx: one `proxy_wasm`
/// line), as the flush of another instance carried it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ConfigRefusal {
    /// The refused configuration's `service`, when it could be read.
    pub service: Option<String>,
    pub reason: String,
}

/// What the collector knows and has said about one proxy (persisted).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProxyState {
    /// Its reports; `None` for a proxy a token names that has never flushed.
    pub reports: Option<ProxyReports>,
    /// Set while the channel has been told that the proxy is silent (when it was said).
    pub silent_told_ms: Option<u64>,
    /// The refusals the channel was last told about.
    pub refusals: Vec<ConfigRefusal>,
}

/// Something to say about a proxy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum ProxyChange {
    /// No flush for longer than `stale_after`; the last one was accepted at `last_ms`.
    Stopped { last_ms: u64 },
    /// Named by a token, and no flush since the collector started at `since_ms`.
    NotReporting { since_ms: u64 },
    /// Flushing again after `silent_ms` without (after a Stopped or NotReporting).
    Resumed { silent_ms: u64 },
    /// Filter instances refused these configurations (new since the last message about refusals).
    Refused { refusals: Vec<ConfigRefusal> },
    /// Every configuration is accepted again (the refusals told before are gone).
    Accepted,
}

impl ProxyState {
    /// Whether the proxy is reporting at `now_ms` (never-flushed proxies are not).
    pub fn reporting(&self, now_ms: u64, stale_after_ms: u64) -> bool {
        self.reports.is_some_and(|r| r.fresh(now_ms, stale_after_ms))
    }

    /// A flush from this proxy was accepted at `now_ms`, carrying `refusals` (the proxy's current
    /// ones); `reports` already holds it. Returns what to say.
    pub fn flushed(
        &mut self,
        now_ms: u64,
        last_before_ms: Option<u64>,
        refusals: &[ConfigRefusal],
    ) -> Vec<ProxyChange> {
        let mut out = Vec::new();
        if let Some(told) = self.silent_told_ms.take() {
            let since = last_before_ms.unwrap_or(told);
            out.push(ProxyChange::Resumed { silent_ms: now_ms.saturating_sub(since) });
        }
        let mut current: Vec<ConfigRefusal> = refusals.to_vec();
        current.sort();
        current.dedup();
        if current != self.refusals {
            let new: Vec<ConfigRefusal> = current.iter().filter(|r| !self.refusals.contains(r)).cloned().collect();
            if !new.is_empty() {
                out.push(ProxyChange::Refused { refusals: new });
            } else if current.is_empty() {
                out.push(ProxyChange::Accepted);
            }
            self.refusals = current;
        }
        out
    }

    /// The 1 s check at `now_ms`: silent for longer than `stale_after_ms` (counted from the collector's
    /// start at the earliest, so that a restart does not read every proxy as silent).
    pub fn check(&mut self, now_ms: u64, started_ms: u64, stale_after_ms: u64) -> Option<ProxyChange> {
        if self.silent_told_ms.is_some() || stale_after_ms == 0 {
            return None;
        }
        let last = self.reports.map_or(started_ms, |r| r.last_ms.max(started_ms));
        if now_ms.saturating_sub(last) <= stale_after_ms {
            return None;
        }
        self.silent_told_ms = Some(now_ms);
        Some(match self.reports {
            Some(r) => ProxyChange::Stopped { last_ms: r.last_ms },
            None => ProxyChange::NotReporting { since_ms: started_ms },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STALE: u64 = 60_000;

    fn seen(last: u64) -> ProxyState {
        ProxyState {
            reports: Some(ProxyReports { first_ms: 0, since_ms: 0, last_ms: last, interval_ms: 0 }),
            ..ProxyState::default()
        }
    }

    fn refusal(service: &str, reason: &str) -> ConfigRefusal {
        ConfigRefusal { service: Some(service.into()), reason: reason.into() }
    }

    #[test]
    fn a_proxy_that_stops_is_said_once_and_its_return_with_the_gap() {
        let mut p = seen(100_000);
        assert_eq!(p.check(160_000, 0, STALE), None);
        assert_eq!(p.check(160_001, 0, STALE), Some(ProxyChange::Stopped { last_ms: 100_000 }));
        assert_eq!(p.check(500_000, 0, STALE), None, "said once");
        assert!(!p.reporting(500_000, STALE));
        let back = p.flushed(520_000, Some(100_000), &[]);
        assert_eq!(back, [ProxyChange::Resumed { silent_ms: 420_000 }]);
        assert!(p.flushed(525_000, Some(520_000), &[]).is_empty());
    }

    #[test]
    fn a_collector_restart_gives_every_proxy_stale_after_to_flush_again() {
        let mut p = seen(100_000);
        assert_eq!(p.check(1_000_000, 990_000, STALE), None);
        assert_eq!(p.check(1_050_001, 990_000, STALE), Some(ProxyChange::Stopped { last_ms: 100_000 }));
    }

    #[test]
    fn a_named_proxy_that_never_flushes_is_not_reporting() {
        let mut p = ProxyState::default();
        assert_eq!(p.check(60_000, 0, STALE), None);
        assert_eq!(p.check(60_001, 0, STALE), Some(ProxyChange::NotReporting { since_ms: 0 }));
        assert_eq!(p.check(999_999, 0, STALE), None);
        assert!(matches!(p.flushed(1_000_000, None, &[])[..], [ProxyChange::Resumed { .. }]));
        assert_eq!(ProxyState::default().check(10_000_000, 0, 0), None, "stale_after 0 = off");
    }

    #[test]
    fn refusals_are_said_when_new_and_when_all_are_gone() {
        let mut p = seen(0);
        let colour = refusal("ai", "unknown key `colour`");
        let value = refusal("be", "flush_interval_ms: expected a number");
        assert_eq!(
            p.flushed(1, Some(0), std::slice::from_ref(&colour)),
            [ProxyChange::Refused { refusals: vec![colour.clone()] }]
        );
        assert!(p.flushed(2, Some(1), &[colour.clone(), colour.clone()]).is_empty(), "the same again");
        assert_eq!(
            p.flushed(3, Some(2), &[value.clone(), colour.clone()]),
            [ProxyChange::Refused { refusals: vec![value.clone()] }]
        );
        assert!(
            p.flushed(4, Some(3), std::slice::from_ref(&value)).is_empty(),
            "one fixed, one left: nothing new to say"
        );
        assert_eq!(p.flushed(5, Some(4), &[]), [ProxyChange::Accepted]);
        assert!(p.refusals.is_empty());
    }
}
