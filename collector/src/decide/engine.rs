//! The engine: ledger, ErrorWindows, rate alerts and health states of every service,
//! with no I/O. Flushes, probe results and timer ticks come in with `now`; notices to
//! deliver come out, and [`Engine::take_snapshot`] hands the changed state to the store.

use crate::config::Config;
use crate::decide::alert::RateAlert;
use crate::decide::health::{HealthChange, HealthState, ProbeResult};
use crate::decide::ledger::{Baseline, Ledger, LedgerCaps, LedgerChanges, LedgerError, Outcome};
use crate::decide::minutes::{Minute, MinuteLog};
use crate::decide::notice::{Event, Notice, RouteLine};
use crate::decide::window::{Bucket, ErrorWindow};
use faultline_flush::{Flush, OTHER_ROUTE};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// Counts accepted since the collector's first start.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    pub requests: u64,
    pub errors: u64,
    pub status_4xx: u64,
    pub no_response: u64,
}

/// When a route first and last failed (proxy clocks), and its 5xx since first start.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteSeen {
    pub first_seen_ms: u64,
    pub last_seen_ms: u64,
    pub total: u64,
}

/// Everything the collector keeps about one service (persisted as one row).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceState {
    /// Persisted apart, bucket by bucket.
    #[serde(skip)]
    pub window: ErrorWindow,
    pub totals: Totals,
    pub routes: BTreeMap<String, RouteSeen>,
    pub rate: RateAlert,
    pub health: HealthState,
}

/// A cap was hit; the edge logs it (at most once a minute per kind).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapHit(pub String);

/// What one flush did.
#[derive(Debug, Default)]
pub struct Ingested {
    /// "applied", "baseline" or "stale".
    pub result: &'static str,
    pub notices: Vec<Notice>,
    pub caps: Vec<CapHit>,
    /// Set when the flush came longer than the window after this boot's previous one (the collector
    /// was unreachable or down): how long. Its counts went to the totals and history, not the window.
    pub late_ms: Option<u64>,
}

/// A flush refused because of a cap; `log` says whether to log it now (rate-limited).
#[derive(Debug)]
pub struct Refused {
    pub error: LedgerError,
    pub log: bool,
}

/// State changed since the last snapshot.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub ledger: LedgerChanges,
    pub services: Vec<(String, ServiceState)>,
    /// Changed window buckets per service.
    pub buckets: Vec<(String, Bucket)>,
    /// Per service: stored buckets starting before this are out of the window.
    pub expire_before: Vec<(String, u64)>,
    /// Per-minute history changed since the last snapshot (whole minutes, to upsert).
    pub minutes: Vec<Minute>,
}

impl Snapshot {
    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.ledger.is_empty() && self.services.is_empty() && self.buckets.is_empty() && self.minutes.is_empty()
    }
}

/// The collector's decision state.
pub struct Engine {
    cfg: Arc<Config>,
    ledger: Ledger,
    services: BTreeMap<String, ServiceState>,
    dirty: BTreeSet<String>,
    last_cap_log_ms: BTreeMap<&'static str, u64>,
    minutes: MinuteLog,
}

fn ms(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Engine {
    /// An engine restored from persisted state (empty on a first start).
    pub fn restore(
        cfg: Arc<Config>,
        now_ms: u64,
        baselines: Vec<((String, String), Baseline)>,
        services: Vec<(String, ServiceState)>,
        mut buckets: BTreeMap<String, Vec<Bucket>>,
    ) -> Engine {
        let (w, b) = (ms(cfg.window), ms(cfg.bucket));
        let mut map: BTreeMap<String, ServiceState> = services
            .into_iter()
            .map(|(n, mut s)| {
                s.window = ErrorWindow::from_buckets(w, b, buckets.remove(&n).unwrap_or_default());
                (n, s)
            })
            .collect();
        for s in &cfg.services {
            map.entry(s.name.clone()).or_insert_with(|| Engine::fresh(&cfg, now_ms));
        }
        Engine {
            ledger: Ledger::restore(baselines),
            services: map,
            dirty: BTreeSet::new(),
            last_cap_log_ms: BTreeMap::new(),
            minutes: MinuteLog::default(),
            cfg,
        }
    }

    fn fresh(cfg: &Config, now_ms: u64) -> ServiceState {
        ServiceState {
            window: ErrorWindow::new(ms(cfg.window), ms(cfg.bucket)),
            totals: Totals::default(),
            routes: BTreeMap::new(),
            rate: RateAlert::new(now_ms),
            health: HealthState::default(),
        }
    }

    /// Resumes the per-minute history of minutes still open at a restart.
    pub fn resume_minutes(&mut self, minutes: Vec<Minute>) {
        self.minutes.resume(minutes);
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Every service's state, by name.
    pub fn services(&self) -> &BTreeMap<String, ServiceState> {
        &self.services
    }

    fn cap(&mut self, kind: &'static str, now_ms: u64, text: String, out: &mut Vec<CapHit>) {
        let last = self.last_cap_log_ms.get(kind).copied();
        if last.is_none_or(|l| now_ms.saturating_sub(l) >= 60_000) {
            self.last_cap_log_ms.insert(kind, now_ms);
            out.push(CapHit(text));
        }
    }

    /// Applies one validated flush received at `now_ms` and evaluates the services it touched.
    pub fn ingest(&mut self, f: &Flush, now_ms: u64) -> Result<Ingested, Refused> {
        let caps = LedgerCaps {
            max_proxies: self.cfg.limits.max_proxies,
            max_boots_per_proxy: self.cfg.limits.max_boots_per_proxy,
        };
        let mut out = Ingested::default();
        // Counts that arrive after a gap longer than the window happened mostly before the window: they
        // are counted (totals, history) but not put into the window, so an episode that ended while the
        // collector was away never pages late as if new. Fresh flushes refill the window within seconds.
        let gap = self.ledger.seen_ms(&f.proxy_id, &f.boot_id).map(|seen| now_ms.saturating_sub(seen));
        let late = gap.filter(|g| *g > ms(self.cfg.window));
        let deltas = match self.ledger.apply(f, now_ms, ms(self.cfg.window), caps) {
            Ok(Outcome::Applied(d)) => d,
            Ok(Outcome::Baseline) => {
                out.result = "baseline";
                return Ok(out);
            }
            Ok(Outcome::Stale { .. }) => {
                out.result = "stale";
                return Ok(out);
            }
            Err(error) => {
                let mut caps = Vec::new();
                self.cap("proxies", now_ms, error.to_string(), &mut caps);
                return Err(Refused { error, log: !caps.is_empty() });
            }
        };
        out.result = "applied";
        out.late_ms = late;
        let (max_services, max_routes) = (self.cfg.limits.max_services, self.cfg.limits.max_routes);
        for d in deltas {
            if !self.services.contains_key(d.name) {
                if self.services.len() >= max_services {
                    let text = format!(
                        "service cap reached ({max_services} services, limits.max_services): \
                         counts for {:?} from proxy {:?} dropped",
                        d.name, f.proxy_id
                    );
                    self.cap("services", now_ms, text, &mut out.caps);
                    continue;
                }
                let fresh = Engine::fresh(&self.cfg, now_ms);
                self.services.insert(d.name.to_string(), fresh);
            }
            let Some(s) = self.services.get_mut(d.name) else { continue };
            let mut routes: Vec<(&str, u64)> = Vec::with_capacity(d.routes.len());
            let mut minute = self.minutes.at(d.name, now_ms);
            let mut folded = false;
            for (route, n, first, last) in d.routes {
                let key = if s.routes.contains_key(route) || s.routes.len() < max_routes {
                    route
                } else {
                    folded = true;
                    OTHER_ROUTE
                };
                match s.routes.get_mut(key) {
                    Some(seen) => {
                        seen.first_seen_ms = seen.first_seen_ms.min(first);
                        seen.last_seen_ms = seen.last_seen_ms.max(last);
                        seen.total = seen.total.saturating_add(n);
                    }
                    None => {
                        s.routes
                            .insert(key.to_string(), RouteSeen { first_seen_ms: first, last_seen_ms: last, total: n });
                    }
                }
                if let Some(m) = minute.as_deref_mut() {
                    m.add_route(key, n, first, last);
                }
                routes.push((key, n));
            }
            if let Some(m) = minute {
                m.add_counts(d.responses, d.status_5xx);
            }
            if folded {
                let text = format!(
                    "route cap reached for service {:?} ({max_routes} routes, limits.max_routes): \
                     new routes counted as {OTHER_ROUTE:?}",
                    d.name
                );
                self.cap("routes", now_ms, text, &mut out.caps);
            }
            let Some(s) = self.services.get_mut(d.name) else { continue };
            if late.is_none() {
                s.window.add(now_ms, d.responses, d.status_5xx, &routes);
            }
            let t = &mut s.totals;
            t.requests = t.requests.saturating_add(d.responses);
            t.errors = t.errors.saturating_add(d.status_5xx);
            t.status_4xx = t.status_4xx.saturating_add(d.status_4xx);
            t.no_response = t.no_response.saturating_add(d.no_response);
            if !self.dirty.contains(d.name) {
                self.dirty.insert(d.name.to_string());
            }
            out.notices.extend(self.evaluate(d.name, now_ms));
        }
        Ok(out)
    }

    /// Evaluates the rate alert of one service at `now_ms`.
    fn evaluate(&mut self, name: &str, now_ms: u64) -> Option<Notice> {
        let th = self.cfg.thresholds(name);
        let reminder = ms(self.cfg.reminder);
        let s = self.services.get_mut(name)?;
        let expired = s.window.expire(now_ms);
        let (requests, errors) = s.window.counts(now_ms);
        let before = s.rate.clone();
        let change = s.rate.evaluate(&th, requests, errors, now_ms, reminder, s.health.is_down());
        if before != s.rate || expired {
            self.dirty.insert(name.to_string());
        }
        change.map(|c| self.notice(name, Event::Rate(c), now_ms))
    }

    /// Re-evaluates every service (the 1 s timer): windows age, reminders fall due.
    pub fn tick(&mut self, now_ms: u64) -> Vec<Notice> {
        let names: Vec<String> = self.services.keys().cloned().collect();
        let reminder = ms(self.cfg.reminder);
        let mut out = Vec::new();
        for name in names {
            out.extend(self.evaluate(&name, now_ms));
            if let Some(s) = self.services.get_mut(&name)
                && let Some(c) = s.health.reminder(now_ms, reminder)
            {
                self.dirty.insert(name.clone());
                out.push(self.notice(&name, Event::Health(c), now_ms));
            }
        }
        out
    }

    /// Records a health probe of a configured service.
    pub fn probe(&mut self, name: &str, p: ProbeResult) -> Option<Notice> {
        let now_ms = p.at_ms;
        let (down, up) = self
            .cfg
            .service(name)
            .and_then(|s| s.health.as_ref())
            .map(|h| (h.failures_before_down, h.successes_before_up))
            .unwrap_or((1, 1));
        let s = self.services.get_mut(name)?;
        let change = s.health.record(p, down, up);
        self.dirty.insert(name.to_string());
        let change = change?;
        let mut n = self.notice(name, Event::Health(change.clone()), now_ms);
        if matches!(change, HealthChange::Up { .. })
            && let Some(s) = self.services.get_mut(name)
            && s.rate.adopt(now_ms)
        {
            n.rate_still = Some(s.rate.level);
        }
        Some(n)
    }

    /// Builds a notice about `name` with the current facts.
    pub fn notice(&self, name: &str, event: Event, now_ms: u64) -> Notice {
        let s = self.services.get(name);
        let t = s.map(|s| s.window.totals(now_ms)).unwrap_or_default();
        Notice {
            service: name.to_string(),
            at_ms: now_ms,
            event,
            level: s.map(|s| s.rate.level).unwrap_or(crate::decide::alert::Level::Ok),
            health: s.map(|s| s.health.health).unwrap_or(crate::decide::health::Health::Unknown),
            window_ms: ms(self.cfg.window),
            requests: t.requests,
            errors: t.errors,
            thresholds: self.cfg.thresholds(name),
            top_routes: s.map(|s| top_routes(&t.routes, &s.routes, self.cfg.top_routes)).unwrap_or_default(),
            rate_still: None,
            last_probe: s.and_then(|s| s.health.last.clone()),
        }
    }

    /// Hands the state changed since the last call to the store.
    pub fn take_snapshot(&mut self, now_ms: u64) -> Snapshot {
        let mut snap = Snapshot {
            ledger: self.ledger.take_changes(),
            minutes: self.minutes.take_changed(now_ms),
            ..Snapshot::default()
        };
        for name in std::mem::take(&mut self.dirty) {
            let Some(s) = self.services.get_mut(&name) else { continue };
            let (changed, cutoff) = s.window.take_changed(now_ms);
            snap.buckets.extend(changed.into_iter().map(|b| (name.clone(), b)));
            snap.expire_before.push((name.clone(), cutoff));
            let row = ServiceState {
                window: ErrorWindow::default(),
                totals: s.totals.clone(),
                routes: s.routes.clone(),
                rate: s.rate.clone(),
                health: s.health.clone(),
            };
            snap.services.push((name, row));
        }
        snap
    }

    /// Puts a snapshot that could not be written back, to be written with the next one.
    pub fn restore_snapshot(&mut self, snap: Snapshot) {
        for (n, _) in &snap.services {
            if let Some(s) = self.services.get_mut(n) {
                s.window.mark_all_changed();
            }
        }
        self.dirty.extend(snap.services.into_iter().map(|(n, _)| n));
        self.ledger.mark_all_changed(snap.ledger.into_iter().map(|(k, _)| k));
        self.minutes.restore_unwritten(snap.minutes);
    }
}

/// The routes with the most 5xx in the window, most first (ties: the latest failure, then the name).
pub fn top_routes(window: &BTreeMap<String, u64>, seen: &BTreeMap<String, RouteSeen>, n: usize) -> Vec<RouteLine> {
    let mut lines: Vec<RouteLine> = window
        .iter()
        .filter(|(_, c)| **c > 0)
        .map(|(r, c)| {
            let s = seen.get(r).cloned().unwrap_or_default();
            RouteLine { route: r.clone(), count: *c, first_seen_ms: s.first_seen_ms, last_seen_ms: s.last_seen_ms }
        })
        .collect();
    lines.sort_by(|a, b| b.count.cmp(&a.count).then(b.last_seen_ms.cmp(&a.last_seen_ms)).then(a.route.cmp(&b.route)));
    lines.truncate(n);
    lines
}

#[cfg(test)]
mod tests;
