use super::*;
use crate::decide::health::Failure;
use crate::decide::incident::{IncidentChange, Severity};
use crate::decide::watchdog::{ConfigRefusal, ProxyChange};
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
                unreachable: 0,
                exemplars: vec![],
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
        refusals: vec![],
    }
}

fn change(n: &Notice) -> IncidentChange {
    match &n.event {
        Event::Incident(e) => e.change.clone(),
        other => panic!("not an incident notice: {other:?}"),
    }
}

fn proxy_change(n: &Notice) -> ProxyChange {
    match &n.event {
        Event::Proxy(p) => p.change.clone(),
        other => panic!("not a proxy notice: {other:?}"),
    }
}

const CRIT: Condition = Condition { down: false, level: Level::Critical };
const WARN: Condition = Condition { down: false, level: Level::Warning };
const DOWN: Condition = Condition { down: true, level: Level::Ok };
const DOWN_CRIT: Condition = Condition { down: true, level: Level::Critical };

/// A proxy flushing `be` every second and the 1 s timer, at collector time `t`.
struct Sim {
    e: Engine,
    seq: u64,
    t: u64,
    responses: u64,
    errors: u64,
}

impl Sim {
    fn new(c: Arc<Config>) -> Sim {
        Sim { e: Engine::restore(c, 0, vec![], vec![], BTreeMap::new()), seq: 0, t: 0, responses: 0, errors: 0 }
    }

    /// Runs `secs` seconds of traffic at `rps` requests and `eps` 5xx per second; returns what was said.
    fn run(&mut self, secs: u64, rps: u64, eps: u64) -> Vec<Notice> {
        let mut out = Vec::new();
        for _ in 0..secs {
            self.t += 1_000;
            self.seq += 1;
            (self.responses, self.errors) = (self.responses + rps, self.errors + eps);
            let f = flush(self.seq, vec![("be", self.responses, self.errors, vec![("GET /a", self.errors)])]);
            out.extend(self.e.ingest(&f, self.t).unwrap().notices);
            out.extend(self.e.tick(self.t));
        }
        out
    }

    /// `secs` seconds with the collector running but no flush arriving.
    fn silence(&mut self, secs: u64) -> Vec<Notice> {
        (0..secs)
            .flat_map(|_| {
                self.t += 1_000;
                self.e.tick(self.t)
            })
            .collect()
    }

    fn probe(&mut self, ok: bool) -> Option<Notice> {
        let failure = (!ok).then_some(Failure::Refused);
        self.e.probe("be", ProbeResult { at_ms: self.t, latency_ms: 1, failure, status: None })
    }

    /// The collector stops for `secs` (nothing runs) and starts again on what it had written.
    fn restart_after(&mut self, secs: u64) {
        let snap = self.e.take_snapshot(self.t);
        let c = Arc::new(self.e.config().clone());
        let base: Vec<_> = snap.ledger.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))).collect();
        let mut buckets: BTreeMap<String, Vec<Bucket>> = BTreeMap::new();
        for (n, b) in snap.buckets {
            buckets.entry(n).or_default().push(b);
        }
        let proxies = self.e.proxies().clone().into_iter().collect();
        self.t += secs * 1_000;
        self.e = Engine::restore(c, self.t, base, snap.services, buckets);
        self.e.resume_proxies(proxies);
    }
}

#[test]
fn flushes_raise_and_the_timer_ends_with_no_traffic_only_once_the_proxies_said_so() {
    let mut e = Engine::restore(cfg(""), 0, vec![], vec![], BTreeMap::new());
    let got = e.ingest(&flush(1, vec![("be", 100, 4, vec![("GET /a", 4)])]), 10_000).unwrap();
    assert_eq!((got.result, got.notices.len()), ("applied", 0));
    let got = e.ingest(&flush(2, vec![("be", 200, 24, vec![("GET /a", 20), ("GET /b", 4)])]), 11_000).unwrap();
    assert_eq!(change(&got.notices[0]), IncidentChange::Opened { to: CRIT });
    let n = &got.notices[0];
    assert_eq!((n.requests, n.errors, n.window_ms), (200, 24, 60_000));
    assert_eq!(
        n.top_routes.iter().map(|r| (r.route.as_str(), r.count)).collect::<Vec<_>>(),
        vec![("GET /a", 20), ("GET /b", 4)]
    );
    // The proxy goes quiet: no report, no judgement. The window empties, the incident holds.
    assert!(e.tick(30_000).is_empty());
    let silent = e.tick(71_001);
    assert_eq!(silent.len(), 1, "only the watchdog speaks: {silent:?}");
    assert_eq!(proxy_change(&silent[0]), ProxyChange::Stopped { last_ms: 11_000 });
    assert!(e.services()["be"].rate.firing() && e.services()["be"].incident.is_some());
    assert!(!e.services()["be"].rate.no_data, "a gap in reports is not 'no data'");
    // It reports again, with no traffic for a whole window: now "no traffic" is a fact.
    let mut said = Vec::new();
    for (i, t) in (72_000..=140_000).step_by(1_000).enumerate() {
        said.extend(e.ingest(&flush(3 + i as u64, vec![("be", 200, 24, vec![])]), t).unwrap().notices);
        said.extend(e.tick(t));
    }
    assert_eq!(proxy_change(&said[0]), ProxyChange::Resumed { silent_ms: 61_000 });
    let ends: Vec<IncidentChange> = said[1..].iter().map(change).collect();
    assert_eq!(
        ends,
        [IncidentChange::Resolved { from: CRIT, worst: Severity::Critical, lasted_ms: 121_000, no_traffic: true }]
    );
    assert_eq!(e.services()["be"].totals.requests, 200);
}

#[test]
fn down_then_up_while_the_rate_is_critical_says_up_still_critical_then_resolves() {
    let mut s = Sim::new(cfg(""));
    s.run(5, 100, 0);
    let down = s.probe(false).unwrap();
    assert_eq!(change(&down), IncidentChange::Opened { to: DOWN });
    assert!(matches!(&down.event, Event::Incident(e) if matches!(e.health, Some(HealthChange::Down { .. }))));
    assert!(s.run(20, 100, 50).is_empty(), "the rate reaching CRITICAL under DOWN is not paged");
    s.t += 1_000;
    let up = s.probe(true).unwrap();
    assert_eq!(change(&up), IncidentChange::Better { from: DOWN, to: CRIT });
    assert!(matches!(&up.event, Event::Incident(e) if e.health == Some(HealthChange::Up { downtime_ms: 21_000 })));
    // Failures stop: the window drains, through a WARNING the channel can follow, to the end.
    let rest: Vec<IncidentChange> = s.run(70, 100, 0).iter().map(change).collect();
    assert_eq!(rest.first(), Some(&IncidentChange::Better { from: CRIT, to: WARN }));
    assert!(matches!(rest.last(), Some(IncidentChange::Resolved { from: WARN, worst: Severity::Down, .. })));
    let Some(IncidentChange::Resolved { lasted_ms, .. }) = rest.last() else { unreachable!() };
    assert!(*lasted_ms > 60_000, "from the first message (DOWN), not from UP: {lasted_ms}");
}

#[test]
fn down_then_up_while_warning_or_fine() {
    let mut s = Sim::new(cfg(""));
    s.run(5, 100, 0);
    s.probe(false).unwrap();
    s.run(30, 100, 7);
    let up = s.probe(true).unwrap();
    assert_eq!(change(&up), IncidentChange::Better { from: DOWN, to: WARN });
    let mut s = Sim::new(cfg(""));
    s.run(5, 100, 0);
    s.probe(false).unwrap();
    s.run(10, 100, 0);
    let up = s.probe(true).unwrap();
    assert!(matches!(
        change(&up),
        IncidentChange::Resolved { from: DOWN, worst: Severity::Down, lasted_ms: 10_000, .. }
    ));
}

#[test]
fn rate_first_then_down_then_up_is_one_incident() {
    let mut s = Sim::new(cfg(""));
    let opened: Vec<IncidentChange> = s.run(10, 100, 20).iter().map(change).collect();
    assert_eq!(opened, [IncidentChange::Opened { to: CRIT }]);
    assert_eq!(change(&s.probe(false).unwrap()), IncidentChange::Worse { from: CRIT, to: DOWN_CRIT });
    s.run(5, 100, 20);
    assert_eq!(change(&s.probe(true).unwrap()), IncidentChange::Better { from: DOWN_CRIT, to: CRIT });
    assert_eq!(s.e.services()["be"].incident.as_ref().unwrap().opened_ms, s.e.services()["be"].rate.since_ms);
}

#[test]
fn flapping_health_under_a_steady_critical_never_resolves() {
    let mut s = Sim::new(cfg(""));
    s.run(10, 100, 20);
    let opened = s.e.services()["be"].incident.as_ref().unwrap().opened_ms;
    let mut said = Vec::new();
    for i in 0..6 {
        said.extend(s.run(3, 100, 20));
        said.extend(s.probe(i % 2 == 1));
    }
    let changes: Vec<IncidentChange> = said.iter().map(change).collect();
    assert_eq!(changes.len(), 6, "{changes:?}");
    assert!(changes.iter().all(|c| c.after().severity() >= Severity::Critical), "{changes:?}");
    assert_eq!(s.e.services()["be"].incident.as_ref().unwrap().opened_ms, opened);
}

#[test]
fn a_report_gap_longer_than_the_window_during_an_incident_neither_resolves_nor_reraises() {
    let mut s = Sim::new(cfg(""));
    let said = s.run(20, 100, 12);
    assert_eq!(said.iter().map(change).collect::<Vec<_>>(), [IncidentChange::Opened { to: CRIT }]);
    let opened = s.e.services()["be"].incident.as_ref().unwrap().opened_ms;
    // The collector is away 90 s (window 60 s) while traffic and 5xx go on at the proxy.
    s.responses += 9_000;
    s.errors += 1_080;
    s.restart_after(90);
    assert!(matches!(s.e.coverage("be", s.t), Coverage::Missing { .. }), "nothing reported since the restart");
    let after = s.run(130, 100, 12);
    assert!(after.is_empty(), "no RESOLVED, no re-raise: {after:?}");
    let inc = s.e.services()["be"].incident.clone().unwrap();
    assert_eq!((inc.opened_ms, inc.told), (opened, CRIT), "the same incident, continuous");
    assert_eq!(s.e.coverage("be", s.t), Coverage::Full);
}

#[test]
fn a_report_gap_with_no_incident_says_nothing_and_shows_the_window_uncovered() {
    let mut s = Sim::new(cfg(""));
    s.run(70, 100, 1);
    assert_eq!(s.e.coverage("be", s.t), Coverage::Full);
    s.restart_after(120);
    assert!(s.silence(30).is_empty(), "a restart gives proxies stale_after to come back");
    assert!(matches!(s.e.coverage("be", s.t), Coverage::Missing { last_ms: Some(_) }));
    assert!(!s.e.services()["be"].rate.no_data, "not 'no traffic'");
    assert!(s.run(5, 100, 1).is_empty());
    assert!(matches!(s.e.coverage("be", s.t), Coverage::Partial { .. }));
}

#[test]
fn a_proxy_that_stops_is_said_and_its_services_are_held_until_it_resumes() {
    let mut s = Sim::new(cfg("stale_after = \"20s\""));
    s.run(20, 100, 20);
    let silent = s.silence(100);
    assert_eq!(silent.iter().map(proxy_change).collect::<Vec<_>>(), [ProxyChange::Stopped { last_ms: 20_000 }]);
    assert!(silent[0].is_proxy() && silent[0].service == "edge");
    assert!(s.e.services()["be"].rate.firing(), "held CRITICAL while nobody reports");
    let back = s.run(1, 100, 0);
    assert_eq!(back.iter().map(proxy_change).collect::<Vec<_>>(), [ProxyChange::Resumed { silent_ms: 101_000 }]);
    assert!(s.e.proxies()["edge"].silent_told_ms.is_none());
}

#[test]
fn a_proxy_a_token_names_that_never_flushes_is_said_not_reporting() {
    let c = cfg("stale_after = \"20s\"");
    let mut toml = String::from("window = \"60s\"\nbucket = \"1s\"\nstale_after = \"20s\"\n");
    toml.push_str("[[tokens]]\ntoken = \"tok-tok-tok\"\nproxies = [\"edge\", \"edge-2\"]\n");
    toml.push_str("[webhooks]\ndefault = \"http://127.0.0.1:1/api/webhooks/1/t\"\n");
    let named = Arc::new(Config::parse(std::path::Path::new("t.toml"), &toml).unwrap());
    assert!(c.tokens[0].proxies.is_none());
    let mut s = Sim::new(named);
    let said = s.run(25, 10, 0);
    assert_eq!(said.iter().map(proxy_change).collect::<Vec<_>>(), [ProxyChange::NotReporting { since_ms: 0 }]);
    assert_eq!(said[0].service, "edge-2");
}

#[test]
fn an_alert_open_under_an_older_collector_becomes_an_incident() {
    let mut state = Engine::fresh(&cfg(""), 0);
    state.rate = RateAlert { level: Level::Critical, since_ms: 5, no_data: false, opened_ms: Some(5), announced: true };
    let e = Engine::restore(cfg(""), 1_000, vec![], vec![("be".into(), state)], BTreeMap::new());
    let inc = e.services()["be"].incident.clone().unwrap();
    assert_eq!((inc.opened_ms, inc.told), (5, CRIT));
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
    assert_eq!(r.services()["be"].incident.as_ref().map(|i| i.opened_ms), Some(1_000), "the incident persists");
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
    assert_eq!(change(&got.notices[0]), IncidentChange::Opened { to: CRIT });
    // Exactly the window: still fresh.
    let got = e.ingest(&flush(4, vec![("be", 1_400, 340, vec![])]), 132_000).unwrap();
    assert_eq!(got.late_ms, None);
}

#[test]
fn a_refused_configuration_one_instance_reports_is_said_once_then_its_fix() {
    let mut e = Engine::restore(cfg(""), 0, vec![], vec![], BTreeMap::new());
    let colour = faultline_flush::Refusal { service: Some("ai".into()), reason: "unknown key `colour`".into() };
    let mut f = flush(1, vec![("be", 100, 0, vec![])]);
    f.refusals = vec![colour.clone()];
    let said = e.ingest(&f, 1_000).unwrap().notices;
    let refused = ConfigRefusal { service: Some("ai".into()), reason: "unknown key `colour`".into() };
    assert_eq!(said.iter().map(proxy_change).collect::<Vec<_>>(), [ProxyChange::Refused { refusals: vec![refused] }]);
    assert_eq!(said[0].service, "edge", "about the proxy, to the default webhook");
    f.seq = 2;
    assert!(e.ingest(&f, 2_000).unwrap().notices.is_empty(), "said once per refusal");
    assert_eq!(e.proxies()["edge"].refusals.len(), 1);
    // Fixed and reloaded: the new boot carries no refusal.
    let mut fixed = flush(1, vec![("be", 10, 0, vec![])]);
    fixed.boot_id = "boot-2".into();
    let said = e.ingest(&fixed, 3_000).unwrap().notices;
    assert_eq!(said.iter().map(proxy_change).collect::<Vec<_>>(), [ProxyChange::Accepted]);
}

/// The product defaults (5 min window, 5 s buckets, 10 s fast burn at 50 %), flushes every 5 s at 20 req/s.
fn product() -> Arc<Config> {
    let src = "[[tokens]]\ntoken = \"tok-tok-tok\"\n[webhooks]\ndefault = \"http://127.0.0.1:1/api/webhooks/1/t\"\n";
    Arc::new(Config::parse(std::path::Path::new("t.toml"), src).unwrap())
}

/// Flushes every 5 s for `secs`, each adding `ok` and `bad` responses; returns the incident messages.
fn flushes(
    e: &mut Engine,
    t: &mut u64,
    seq: &mut u64,
    tot: &mut (u64, u64),
    secs: u64,
    ok: u64,
    bad: u64,
) -> Vec<Notice> {
    let mut out = Vec::new();
    for _ in 0..secs / 5 {
        *t += 5_000;
        *seq += 1;
        *tot = (tot.0 + ok + bad, tot.1 + bad);
        out.extend(e.ingest(&flush(*seq, vec![("be", tot.0, tot.1, vec![])]), *t).unwrap().notices);
        out.extend(e.tick(*t));
    }
    out
}

#[test]
fn a_total_outage_pages_critical_one_flush_after_its_onset() {
    let mut e = Engine::restore(product(), 0, vec![], vec![], BTreeMap::new());
    let (mut t, mut seq, mut tot) = (0, 0, (0, 0));
    assert!(flushes(&mut e, &mut t, &mut seq, &mut tot, 600, 100, 0).is_empty());
    // Every request fails from here: the first flush after shows 100 % of its 5 s, 50 % of 10 s.
    let paged = flushes(&mut e, &mut t, &mut seq, &mut tot, 5, 0, 100);
    assert_eq!(paged.iter().map(change).collect::<Vec<_>>(), [IncidentChange::Opened { to: CRIT }]);
    assert_eq!(paged[0].burst, Some(Burst { requests: 200, errors: 100, window_ms: 10_000 }));
    assert_eq!(paged[0].requests, 6_000, "the long window shows 100 of 6,000: below its thresholds");
}

#[test]
fn a_blip_a_single_failure_and_a_steady_three_percent_never_page_fast() {
    let mut e = Engine::restore(product(), 0, vec![], vec![], BTreeMap::new());
    let (mut t, mut seq, mut tot) = (0, 0, (0, 0));
    assert!(flushes(&mut e, &mut t, &mut seq, &mut tot, 600, 97, 3).is_empty(), "3 %");
    // An upstream restart: 2 s of 100 % failures within one 5 s flush (40 of 100).
    assert!(flushes(&mut e, &mut t, &mut seq, &mut tot, 5, 60, 40).is_empty(), "a 2 s restart: 20 % of 10 s");
    assert!(flushes(&mut e, &mut t, &mut seq, &mut tot, 60, 97, 3).is_empty());
    // A quiet service: one request, failed.
    let mut q = Engine::restore(product(), 0, vec![], vec![], BTreeMap::new());
    let (mut t, mut seq, mut tot) = (0, 0, (0, 0));
    assert!(flushes(&mut q, &mut t, &mut seq, &mut tot, 60, 0, 0).is_empty());
    assert!(flushes(&mut q, &mut t, &mut seq, &mut tot, 5, 0, 1).is_empty(), "below fast_min_requests");
}

#[test]
fn a_gap_longer_than_a_window_shorter_than_stale_after_still_holds_the_incident() {
    // The end-to-end setting: a 20 s window, stale_after 60 s, the collector away 25 s.
    let mut toml =
        String::from("window = \"20s\"\nbucket = \"1s\"\nreminder = \"0s\"\n[[tokens]]\ntoken = \"tok-tok-tok\"\n");
    toml.push_str("[webhooks]\ndefault = \"http://127.0.0.1:1/api/webhooks/1/t\"\n");
    let mut s = Sim::new(Arc::new(Config::parse(std::path::Path::new("t.toml"), &toml).unwrap()));
    assert_eq!(s.run(10, 100, 40).iter().map(change).collect::<Vec<_>>(), [IncidentChange::Opened { to: CRIT }]);
    s.responses += 2_500;
    s.errors += 1_000;
    s.restart_after(25);
    let after = s.run(40, 100, 40);
    assert!(after.is_empty(), "no RESOLVED, no re-raise: {after:?}");
    assert_eq!(s.e.coverage("be", s.t), Coverage::Full);
}

/// The product defaults with `be` health-checked (or not).
fn product_with_be(checked: bool) -> Arc<Config> {
    let mut src = String::from(
        "[[tokens]]\ntoken = \"tok-tok-tok\"\n[webhooks]\ndefault = \"http://127.0.0.1:1/api/webhooks/1/t\"\n",
    );
    src.push_str("[[services]]\nname = \"be\"\n");
    if checked {
        src.push_str("health_url = \"http://127.0.0.1:2/\"\n");
    }
    Arc::new(Config::parse(std::path::Path::new("t.toml"), &src).unwrap())
}

/// One 5 s flush of `ok` answered and `cut` unreachable responses (Envoy's 503s for a refused connection).
fn refused(e: &mut Engine, t: &mut u64, seq: &mut u64, tot: &mut (u64, u64, u64), ok: u64, cut: u64) -> Vec<Notice> {
    *t += 5_000;
    *seq += 1;
    *tot = (tot.0 + ok + cut, tot.1 + cut, tot.2 + cut);
    let mut f = flush(*seq, vec![("be", tot.0, tot.1, vec![])]);
    f.services[0].unreachable = tot.2;
    let mut out = e.ingest(&f, *t).unwrap().notices;
    out.extend(e.tick(*t));
    out
}

#[test]
fn the_proxy_that_cannot_reach_a_service_makes_it_down_at_once_and_a_passing_check_ends_it() {
    let mut e = Engine::restore(product_with_be(true), 0, vec![], vec![], BTreeMap::new());
    let (mut t, mut seq, mut tot) = (0, 0, (0, 0, 0));
    for _ in 0..60 {
        assert!(refused(&mut e, &mut t, &mut seq, &mut tot, 100, 0).is_empty());
    }
    // The upstream is killed: every request is Envoy's own 503 (connection refused).
    let first = refused(&mut e, &mut t, &mut seq, &mut tot, 0, 100);
    assert_eq!(first.iter().map(change).collect::<Vec<_>>(), [IncidentChange::Opened { to: CRIT }], "fast burn");
    let second = refused(&mut e, &mut t, &mut seq, &mut tot, 0, 100);
    assert_eq!(second.iter().map(change).collect::<Vec<_>>(), [IncidentChange::Worse { from: CRIT, to: DOWN_CRIT }]);
    let Event::Incident(ev) = &second[0].event else { panic!() };
    let Some(HealthChange::Down { failure, failures: 0 }) = &ev.health else { panic!("{ev:?}") };
    assert_eq!(failure.to_string(), "the proxy cannot reach it: 200 of 200 requests in 10 s");
    assert_eq!(e.take_probe_requests(), ["be"], "a health check confirms it at once");
    // The check passes while the proxy still cannot reach it: still DOWN.
    let ok = |at| ProbeResult { at_ms: at, latency_ms: 1, failure: None, status: Some(200) };
    assert_eq!(e.probe("be", ok(t)), None);
    // Reachable again: the next passing check says UP. The 10 s outage is 3.3 % of the 5 min window and the
    // fast burn has passed: nothing is wrong any more, the incident ends (timed from its first message).
    refused(&mut e, &mut t, &mut seq, &mut tot, 100, 0);
    refused(&mut e, &mut t, &mut seq, &mut tot, 100, 0);
    let up = e.probe("be", ok(t)).unwrap();
    assert!(matches!(change(&up), IncidentChange::Resolved { from: DOWN_CRIT, lasted_ms: 15_000, .. }), "{up:?}");
}

#[test]
fn without_a_health_check_reachable_responses_end_a_passive_down() {
    let mut e = Engine::restore(product_with_be(false), 0, vec![], vec![], BTreeMap::new());
    let (mut t, mut seq, mut tot) = (0, 0, (0, 0, 0));
    for _ in 0..60 {
        refused(&mut e, &mut t, &mut seq, &mut tot, 100, 0);
    }
    refused(&mut e, &mut t, &mut seq, &mut tot, 0, 100);
    refused(&mut e, &mut t, &mut seq, &mut tot, 0, 100);
    assert!(e.services()["be"].health.is_down() && e.take_probe_requests().is_empty(), "no check to run");
    let back = refused(&mut e, &mut t, &mut seq, &mut tot, 100, 0);
    let back: Vec<IncidentChange> = back.iter().map(change).collect();
    assert_eq!(back, [IncidentChange::Better { from: DOWN_CRIT, to: CRIT }], "UP once the proxy reaches it again");
}

#[test]
fn a_two_second_restart_is_not_down() {
    let mut e = Engine::restore(product_with_be(true), 0, vec![], vec![], BTreeMap::new());
    let (mut t, mut seq, mut tot) = (0, 0, (0, 0, 0));
    for _ in 0..60 {
        refused(&mut e, &mut t, &mut seq, &mut tot, 100, 0);
    }
    assert!(refused(&mut e, &mut t, &mut seq, &mut tot, 60, 40).is_empty(), "40 of 200 in 10 s: 20 %");
    for _ in 0..10 {
        assert!(refused(&mut e, &mut t, &mut seq, &mut tot, 100, 0).is_empty());
    }
    assert!(!e.services()["be"].health.is_down());
}

fn sampled(t: u64, id: &str) -> faultline_flush::Exemplar {
    faultline_flush::Exemplar {
        time_ms: t,
        method: "GET".into(),
        route: "GET /a".into(),
        status: 503,
        request_id: Some(id.into()),
        ..faultline_flush::Exemplar::default()
    }
}

#[test]
fn the_alert_carries_the_last_failing_requests_newest_first_without_repeats() {
    let mut e = Engine::restore(cfg(""), 0, vec![], vec![], BTreeMap::new());
    let mut f = flush(1, vec![("be", 100, 4, vec![("GET /a", 4)])]);
    f.services[0].exemplars = vec![sampled(5, "r5"), sampled(6, "r6")];
    assert!(e.ingest(&f, 10_000).unwrap().notices.is_empty());
    let mut f = flush(2, vec![("be", 200, 24, vec![("GET /a", 24)])]);
    // A repeated exemplar (its flush's answer was lost) is kept once.
    f.services[0].exemplars = vec![sampled(6, "r6"), sampled(9, "r9")];
    let got = e.ingest(&f, 11_000).unwrap();
    assert_eq!(change(&got.notices[0]), IncidentChange::Opened { to: CRIT });
    let ids: Vec<_> = got.notices[0].last_failures.iter().map(|r| r.request_id.clone().unwrap()).collect();
    assert_eq!(ids, ["r9", "r6", "r5"]);
    assert_eq!(got.notices[0].last_failures[0].proxy, "edge");
    // A stale flush adds nothing; many exemplars keep the newest FAILURES_KEPT.
    let mut stale = flush(2, vec![("be", 200, 24, vec![("GET /a", 24)])]);
    stale.services[0].exemplars = vec![sampled(99, "stale")];
    e.ingest(&stale, 12_000).unwrap();
    for seq in 3..10u64 {
        let mut f = flush(seq, vec![("be", 200 + seq, 24 + seq, vec![("GET /a", 24 + seq)])]);
        f.services[0].exemplars = vec![sampled(100 + seq, &format!("n{seq}")), sampled(200 + seq, &format!("m{seq}"))];
        e.ingest(&f, 12_000 + seq).unwrap();
    }
    let kept = &e.services()["be"].last_failures;
    assert_eq!(kept.len(), FAILURES_KEPT);
    assert_eq!(kept[0].request_id.as_deref(), Some("m9"));
    assert!(kept.iter().all(|k| k.request_id.as_deref() != Some("stale")));
    assert_eq!(e.notice("be", Event::Test, 13_000).last_failures.len(), FAILURES_SHOWN);
    // They survive a restart (persisted with the service's row).
    let snap = e.take_snapshot(13_000);
    let row = snap.services.iter().find(|(n, _)| n == "be").unwrap();
    assert_eq!(row.1.last_failures.len(), FAILURES_KEPT);
}

#[test]
fn a_restart_seen_by_the_check_is_up_at_once_and_the_refusals_before_it_do_not_make_it_down_again() {
    let mut e = Engine::restore(product_with_be(true), 0, vec![], vec![], BTreeMap::new());
    let (mut t, mut seq, mut tot) = (0, 0, (0, 0, 0));
    let ok = |at| ProbeResult { at_ms: at, latency_ms: 1, failure: None, status: Some(200) };
    let refused_check = |at| ProbeResult { at_ms: at, latency_ms: 1, failure: Some(Failure::Refused), status: None };
    for _ in 0..60 {
        refused(&mut e, &mut t, &mut seq, &mut tot, 100, 0);
    }
    assert_eq!(e.probe("be", ok(t)), None);
    refused(&mut e, &mut t, &mut seq, &mut tot, 0, 100);
    refused(&mut e, &mut t, &mut seq, &mut tot, 0, 100);
    assert!(e.probe("be", refused_check(t)).is_none(), "already DOWN from the proxy's view; the check confirms it");
    // Restarted: the check sees it answer while the refusals of the last 10 s still dominate the span.
    t += 1_000;
    let up = e.probe("be", ok(t)).unwrap();
    assert_eq!(change(&up), IncidentChange::Better { from: DOWN_CRIT, to: CRIT }, "UP, still CRITICAL");
    // The next flushes (the first still carrying refusals from before the check) do not declare it DOWN again.
    let mut later = refused(&mut e, &mut t, &mut seq, &mut tot, 50, 10);
    for _ in 0..4 {
        later.extend(refused(&mut e, &mut t, &mut seq, &mut tot, 100, 0));
    }
    assert!(later.iter().all(|n| !matches!(change(n), IncidentChange::Worse { .. })), "{later:?}");
    assert!(!e.services()["be"].health.is_down());
}
