//! The engine: ledger, ErrorWindows, rate levels, health states and incidents of every service, and
//! what the collector knows of every proxy, with no I/O. Flushes, probe results and timer ticks come
//! in with `now`; notices to deliver come out, and [`Engine::take_snapshot`] hands the changed state
//! to the store.

use crate::config::Config;
use crate::decide::alert::{Level, RateAlert};
use crate::decide::coverage::{Coverage, ProxyReports, coverage};
use crate::decide::health::{HealthChange, HealthState, ProbeResult};
use crate::decide::incident::{self, Condition, Incident};
use crate::decide::ledger::{Baseline, Ledger, LedgerCaps, LedgerChanges, LedgerError, Outcome};
use crate::decide::minutes::{Minute, MinuteLog};
use crate::decide::notice::{Burst, Event, FailedRequest, IncidentEvent, Notice, ProxyEvent, RouteLine};
use crate::decide::watchdog::{ConfigRefusal, ProxyState};
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
    /// The open incident (health and rate together), if any.
    #[serde(default)]
    pub incident: Option<Incident>,
    /// The proxies that have reported this service: its window is covered when theirs is.
    #[serde(default)]
    pub proxies: BTreeSet<String>,
    /// The last failing requests the proxies sampled, newest first, at most [`FAILURES_KEPT`].
    #[serde(default)]
    pub last_failures: Vec<FailedRequest>,
}

/// Failing requests kept per service (for the status page; messages show [`FAILURES_SHOWN`]).
pub const FAILURES_KEPT: usize = 10;
/// Failing requests a message shows.
pub const FAILURES_SHOWN: usize = 5;

/// Adds the requests a flush from `proxy` sampled to `kept` (newest first, no repeats, bounded).
pub fn keep_failures(kept: &mut Vec<FailedRequest>, proxy: &str, sampled: &[faultline_flush::Exemplar]) {
    for e in sampled {
        let f = FailedRequest::from_exemplar(proxy, e);
        if !kept.iter().any(|k| k.same(&f)) {
            kept.push(f);
        }
    }
    kept.sort_by_key(|k| std::cmp::Reverse(k.at_ms));
    kept.truncate(FAILURES_KEPT);
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
    /// Proxies whose reports or watchdog state changed.
    pub proxies: Vec<(String, ProxyState)>,
}

impl Snapshot {
    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.ledger.is_empty()
            && self.services.is_empty()
            && self.buckets.is_empty()
            && self.minutes.is_empty()
            && self.proxies.is_empty()
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
    proxies: BTreeMap<String, ProxyState>,
    proxies_dirty: BTreeSet<String>,
    /// When this collector process started: the watchdog gives proxies `stale_after` from here.
    started_ms: u64,
    /// Services whose health check should run now (a passive DOWN to confirm).
    probe_now: BTreeSet<String>,
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
        let mut dirty = BTreeSet::new();
        for (name, s) in &mut map {
            if s.incident.is_none() && adopt_legacy(s, now_ms) {
                dirty.insert(name.clone());
            }
        }
        let mut proxies_dirty = BTreeSet::new();
        let mut proxies = BTreeMap::new();
        for p in cfg.tokens.iter().filter_map(|t| t.proxies.as_ref()).flatten() {
            proxies.insert(p.clone(), ProxyState::default());
            proxies_dirty.insert(p.clone());
        }
        Engine {
            ledger: Ledger::restore(baselines),
            services: map,
            dirty,
            last_cap_log_ms: BTreeMap::new(),
            minutes: MinuteLog::default(),
            proxies,
            proxies_dirty,
            started_ms: now_ms,
            probe_now: BTreeSet::new(),
            cfg,
        }
    }

    /// Resumes what was known of the proxies (their reports, what was said about them).
    pub fn resume_proxies(&mut self, rows: Vec<(String, ProxyState)>) {
        for (id, p) in rows {
            self.proxies_dirty.remove(&id);
            self.proxies.insert(id, p);
        }
    }

    /// Services whose health check should run at once (to confirm a DOWN seen from the proxy), since the
    /// last call.
    pub fn take_probe_requests(&mut self) -> Vec<String> {
        std::mem::take(&mut self.probe_now).into_iter().collect()
    }

    /// What the proxies saw of `name` over the passive DOWN's span: `Some(failure)` while most of its
    /// responses were made for want of the upstream (at least the minimum of them).
    fn unreachable(&self, name: &str, now_ms: u64) -> Option<crate::decide::health::Failure> {
        let p = self.cfg.passive_down(name);
        if !p.enabled() {
            return None;
        }
        let span_ms = ms(p.span);
        let s = self.services.get(name)?;
        // Only what the proxies saw after the last passing check: a check that saw the service answer again
        // makes the refusals before it old news (else they would declare it DOWN again until they age out).
        let r = s.window.counts_recent_after(now_ms, span_ms, s.health.last_pass_ms);
        let dominant = r.unreachable >= p.min
            && u128::from(r.unreachable) * 10_000 >= u128::from(p.share_bp) * u128::from(r.requests);
        dominant.then_some(crate::decide::health::Failure::Unreachable {
            unreachable: r.unreachable,
            requests: r.requests,
            span_ms,
        })
    }

    /// Every proxy the collector knows or expects, by id.
    pub fn proxies(&self) -> &BTreeMap<String, ProxyState> {
        &self.proxies
    }

    /// The watchdog's silence threshold, in ms.
    pub fn stale_after_ms(&self) -> u64 {
        ms(self.cfg.stale_after)
    }

    /// How far the reports cover `name`'s window at `now_ms`.
    pub fn coverage(&self, name: &str, now_ms: u64) -> Coverage {
        let Some(s) = self.services.get(name) else { return Coverage::Missing { last_ms: None } };
        let reports = s.proxies.iter().filter_map(|p| self.proxies.get(p)).filter_map(|p| p.reports.as_ref());
        coverage(reports, now_ms, ms(self.cfg.window), ms(self.cfg.stale_after))
    }

    fn fresh(cfg: &Config, now_ms: u64) -> ServiceState {
        ServiceState {
            window: ErrorWindow::new(ms(cfg.window), ms(cfg.bucket)),
            totals: Totals::default(),
            routes: BTreeMap::new(),
            rate: RateAlert::new(now_ms),
            health: HealthState::default(),
            incident: None,
            proxies: BTreeSet::new(),
            last_failures: Vec::new(),
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
        let prev_seen = self.ledger.seen_ms(&f.proxy_id, &f.boot_id);
        let gap = prev_seen.map(|seen| now_ms.saturating_sub(seen));
        let late = gap.filter(|g| *g > ms(self.cfg.window));
        let deltas = match self.ledger.apply(f, now_ms, ms(self.cfg.window), caps) {
            Ok(Outcome::Applied(d)) => d,
            Ok(Outcome::Baseline) => {
                out.result = "baseline";
                out.notices = self.reported(f, now_ms, now_ms);
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
        // The time this flush's counts cover in the window: back to the boot's previous flush, unless
        // they went to the totals only (late) or this is the boot's first flush.
        let counted_from = match (late, prev_seen) {
            (Some(_), _) => now_ms,
            (None, Some(seen)) => seen,
            // A boot's first flush, counted in full: from the boot's start (its age by the proxy's clock).
            (None, None) => now_ms.saturating_sub(f.sent_ms.saturating_sub(f.boot_ms)),
        };
        out.notices = self.reported(f, now_ms, counted_from);
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
                s.window.add_unreachable(now_ms, d.unreachable);
                s.window.covered(now_ms, counted_from);
            }
            let t = &mut s.totals;
            t.requests = t.requests.saturating_add(d.responses);
            t.errors = t.errors.saturating_add(d.status_5xx);
            t.status_4xx = t.status_4xx.saturating_add(d.status_4xx);
            t.no_response = t.no_response.saturating_add(d.no_response);
            if !s.proxies.contains(&f.proxy_id) {
                s.proxies.insert(f.proxy_id.clone());
            }
            if let Some(sampled) = f.services.iter().find(|x| x.name == d.name).map(|x| &x.exemplars) {
                keep_failures(&mut s.last_failures, &f.proxy_id, sampled);
            }
            if !self.dirty.contains(d.name) {
                self.dirty.insert(d.name.to_string());
            }
            out.notices.extend(self.judge(d.name, now_ms, None));
        }
        Ok(out)
    }

    /// An accepted flush from `f.proxy_id` at `now_ms`, its counts covering from `counted_from_ms`: the
    /// proxy's reports and the watchdog move; returns what to say about the proxy.
    fn reported(&mut self, f: &Flush, now_ms: u64, counted_from_ms: u64) -> Vec<Notice> {
        let stale = ms(self.cfg.stale_after);
        let refusals: Vec<ConfigRefusal> =
            f.refusals.iter().map(|r| ConfigRefusal { service: r.service.clone(), reason: r.reason.clone() }).collect();
        let st = self.proxies.entry(f.proxy_id.clone()).or_default();
        let last_before = st.reports.map(|r| r.last_ms);
        match st.reports.as_mut() {
            Some(r) => r.reported(now_ms, counted_from_ms, stale),
            None => st.reports = Some(ProxyReports::new(now_ms, counted_from_ms)),
        }
        let changes = st.flushed(now_ms, last_before, &refusals);
        if !self.proxies_dirty.contains(&f.proxy_id) {
            self.proxies_dirty.insert(f.proxy_id.clone());
        }
        changes.into_iter().map(|c| self.proxy_notice(&f.proxy_id, c, now_ms)).collect()
    }

    /// Re-judges one service at `now_ms` (its window aged, its coverage or health changed); `health`
    /// is the health change that led here, if any. Returns the incident's message, if it has one.
    fn judge(&mut self, name: &str, now_ms: u64, health: Option<HealthChange>) -> Option<Notice> {
        let th = self.cfg.thresholds(name);
        let reminder = ms(self.cfg.reminder);
        let coverage = self.coverage(name, now_ms);
        let unreachable = self.unreachable(name, now_ms);
        let checked = self.cfg.service(name).is_some_and(|c| c.health.is_some());
        let passive = self.cfg.passive_down(name);
        let s = self.services.get_mut(name)?;
        // The proxy's own view: DOWN when it cannot reach the service (a health check confirms it at once);
        // without a health check, UP when it reaches it again.
        let health = health.or_else(|| match unreachable {
            Some(failure) => s.health.passive_down(now_ms, failure),
            None if !checked && s.health.passive => {
                let r = s.window.counts_recent(now_ms, ms(passive.span));
                (r.requests.saturating_sub(r.unreachable) >= passive.min).then(|| s.health.passive_up(now_ms)).flatten()
            }
            None => None,
        });
        if checked && matches!(health, Some(HealthChange::Down { failures: 0, .. })) {
            self.probe_now.insert(name.to_string());
        }
        let s = self.services.get_mut(name)?;
        let expired = s.window.expire(now_ms);
        let (requests, errors) = s.window.counts(now_ms);
        let fast = match burst(&self.cfg, &s.window, now_ms) {
            Some(_) => Level::Critical,
            None => Level::Ok,
        };
        let rate_changed = s.rate.evaluate(&th, requests, errors, fast, coverage, now_ms).is_some();
        let now = Condition { down: s.health.is_down(), level: s.rate.level };
        let opened_before = s.incident.as_ref().map(|i| i.opened_ms);
        let change = incident::step(&mut s.incident, now, s.rate.no_data, now_ms, reminder);
        if rate_changed || expired || change.is_some() {
            self.dirty.insert(name.to_string());
        }
        let change = change?;
        let opened_ms = s.incident.as_ref().map(|i| i.opened_ms).or(opened_before).unwrap_or(now_ms);
        Some(self.notice(name, Event::Incident(IncidentEvent { change, opened_ms, health }), now_ms))
    }

    /// Re-evaluates every service and proxy (the 1 s timer): windows age, coverage lapses, reminders
    /// fall due, silent proxies are said.
    pub fn tick(&mut self, now_ms: u64) -> Vec<Notice> {
        let names: Vec<String> = self.services.keys().cloned().collect();
        let mut out: Vec<Notice> = names.iter().filter_map(|n| self.judge(n, now_ms, None)).collect();
        let (started, stale) = (self.started_ms, ms(self.cfg.stale_after));
        let mut said = Vec::new();
        for (id, p) in &mut self.proxies {
            if let Some(c) = p.check(now_ms, started, stale) {
                said.push((id.clone(), c));
            }
        }
        for (id, c) in said {
            self.proxies_dirty.insert(id.clone());
            out.push(self.proxy_notice(&id, c, now_ms));
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
        let unreachable = self.unreachable(name, now_ms).is_some();
        let s = self.services.get_mut(name)?;
        let change = s.health.record(p, down, up, unreachable);
        self.dirty.insert(name.to_string());
        self.judge(name, now_ms, change)
    }

    /// A notice about proxy `id` (sent to the default webhook).
    fn proxy_notice(&self, id: &str, change: crate::decide::watchdog::ProxyChange, now_ms: u64) -> Notice {
        let mut n = self.notice(id, Event::Proxy(ProxyEvent { proxy: id.to_string(), change }), now_ms);
        n.top_routes.clear();
        n.last_failures.clear();
        n
    }

    /// Builds a notice about `name` with the current facts.
    pub fn notice(&self, name: &str, event: Event, now_ms: u64) -> Notice {
        let s = self.services.get(name);
        let t = s.map(|s| s.window.totals(now_ms)).unwrap_or_default();
        Notice {
            service: name.to_string(),
            at_ms: now_ms,
            event,
            level: s.map(|s| s.rate.level).unwrap_or(Level::Ok),
            health: s.map(|s| s.health.health).unwrap_or(crate::decide::health::Health::Unknown),
            window_ms: ms(self.cfg.window),
            requests: t.requests,
            errors: t.errors,
            covers_ms: t.covers.map(|(f, to)| to.saturating_sub(f)),
            burst: s.and_then(|s| burst(&self.cfg, &s.window, now_ms)),
            thresholds: self.cfg.thresholds(name),
            top_routes: s.map(|s| top_routes(&t.routes, &s.routes, self.cfg.top_routes)).unwrap_or_default(),
            rate_still: None,
            last_probe: s.and_then(|s| s.health.last.clone()),
            coverage: Some(self.coverage(name, now_ms)),
            down_since_ms: s.and_then(|s| s.health.down_since_ms),
            failures: s.map(|s| s.health.failures).unwrap_or(0),
            last_failures: s
                .map(|s| s.last_failures.iter().take(FAILURES_SHOWN).cloned().collect())
                .unwrap_or_default(),
        }
    }

    /// Hands the state changed since the last call to the store.
    pub fn take_snapshot(&mut self, now_ms: u64) -> Snapshot {
        let mut snap = Snapshot {
            ledger: self.ledger.take_changes(),
            minutes: self.minutes.take_changed(now_ms),
            ..Snapshot::default()
        };
        for id in std::mem::take(&mut self.proxies_dirty) {
            if let Some(p) = self.proxies.get(&id) {
                snap.proxies.push((id, p.clone()));
            }
        }
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
                incident: s.incident.clone(),
                proxies: s.proxies.clone(),
                last_failures: s.last_failures.clone(),
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
        self.proxies_dirty.extend(snap.proxies.into_iter().map(|(id, _)| id));
    }
}

/// The fast burn's figures at `now_ms` when nearly everything failed in its short window (at least
/// `fast_min_requests`, and 5xx at `fast_critical` or above), else `None`.
fn burst(cfg: &Config, window: &ErrorWindow, now_ms: u64) -> Option<Burst> {
    let fast = &cfg.fast;
    if !fast.enabled() {
        return None;
    }
    let window_ms = ms(fast.window);
    let crate::decide::window::Recent { requests, errors, .. } = window.counts_recent(now_ms, window_ms);
    let burning = requests >= fast.min_requests
        && u128::from(errors) * 10_000 >= u128::from(fast.critical_bp) * u128::from(requests);
    burning.then_some(Burst { requests, errors, window_ms })
}

/// Carries an alert open under a collector from before incidents into an incident (told what that
/// collector said: DOWN, and the rate level if it was paged). True if one was made.
fn adopt_legacy(s: &mut ServiceState, now_ms: u64) -> bool {
    let level = if s.rate.announced { s.rate.level } else { Level::Ok };
    let told = Condition { down: s.health.is_down(), level };
    if told.severity() == incident::Severity::Ok {
        return false;
    }
    let opened_ms = s.rate.opened_ms.into_iter().chain(s.health.down_since_ms).min().unwrap_or(now_ms);
    s.incident = Some(Incident { opened_ms, told, worst: told.severity(), last_notice_ms: now_ms });
    true
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
