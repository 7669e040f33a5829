//! The collector unreachable while the real Envoy (2 workers, the release filter) serves traffic: a relay between
//! Envoy and the collector is cut (connections refused, as for a collector whose host or network is gone), the
//! collector itself keeps running. Meanwhile be goes through a 5xx episode on thousands of distinct paths that
//! starts and ends while the collector is away.
//! - The filter's memory stays bounded: Envoy's RSS levels off during the outage (the filter keeps cumulative
//!   counters, bounded routes and services, and sends nothing but its periodic flush attempt).
//! - The first flush after the collector is reachable again carries every count: the totals jump straight to
//!   what clients were answered.
//! - No burst of stale alerts: counts that arrive after a gap longer than the window happened outside the
//!   window, so they go to the totals and history but not into the window; the ended episode does not page
//!   as if new. A problem that is still there when the collector returns pages within seconds (fresh flushes).
//!
//! `FAULTLINE_FAULT_UNREACHABLE_SECS` (default 30; 600 for the full run) and `FAULTLINE_FAULT_UNREACHABLE_WINDOW`
//! (the collector's window in seconds, default 10) choose the run.

#![cfg(test)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use faultline_tests::discord::FakeDiscord;
use faultline_tests::envoy::{self, Envoy, Layout};
use faultline_tests::faults::{Relay, knob, rss_kib};
use faultline_tests::process::{free_port, wait_until};
use faultline_tests::stack::{self, Collector, SERVICES, StackOptions, classify, service_totals};
use faultline_tests::traffic::{self, Stop, Target, Targets, TrafficPlan, TrafficReport};
use faultline_tests::upstream::{Upstream, UpstreamOptions};

const LONG: Duration = Duration::from_secs(90);

/// Answers per service (responses, 5xx), from the report's paths.
fn per_service(report: &TrafficReport) -> BTreeMap<&'static str, (u64, u64)> {
    let mut out = BTreeMap::new();
    for (path, statuses) in &report.by_path {
        let p = path.split_once(' ').map(|(_, p)| p).unwrap_or(path);
        let service = if p.starts_with("/server/") {
            "be"
        } else if p.starts_with("/ai/") {
            "ai"
        } else {
            "frontend"
        };
        let e: &mut (u64, u64) = out.entry(service).or_default();
        for (status, n) in statuses {
            e.0 += n;
            if (500..600).contains(status) {
                e.1 += n;
            }
        }
    }
    out
}

fn add(a: &mut BTreeMap<&'static str, (u64, u64)>, b: &BTreeMap<&'static str, (u64, u64)>) {
    for (k, v) in b {
        let e = a.entry(k).or_default();
        e.0 += v.0;
        e.1 += v.1;
    }
}

/// Half the requests to be on one of 5,000 distinct paths (words, not ids: each its own route before the
/// filter's bound folds them), the rest to the frontend.
fn targets() -> Targets {
    Targets::Generated(Arc::new(|n| {
        if n % 2 == 0 {
            Target { method: "GET".into(), path: format!("/server/items/w{}x", (n / 2).wrapping_mul(7919) % 5000) }
        } else {
            Target { method: "GET".into(), path: "/about".into() }
        }
    }))
}

fn run_for(envoy: &Envoy, d: Duration) -> traffic::TrafficHandle {
    let plan =
        TrafficPlan { connections: 4, rate: Some(100.0), ..TrafficPlan::new(&envoy.url(""), targets(), Stop::For(d)) };
    traffic::spawn(&plan).unwrap()
}

#[test]
fn an_unreachable_collector_loses_nothing_and_pages_nothing_stale() {
    let outage = Duration::from_secs(knob("FAULTLINE_FAULT_UNREACHABLE_SECS", 30));
    let window = Duration::from_secs(knob("FAULTLINE_FAULT_UNREACHABLE_WINDOW", 10));
    let discord = FakeDiscord::start().unwrap();
    let mut services = BTreeMap::new();
    for (name, health, _) in SERVICES {
        services.insert(name, Upstream::launch(UpstreamOptions::new(name, health)).unwrap());
    }
    let opts = StackOptions { window, min_requests: 50, ..StackOptions::default() };
    let dir = Collector::workdir("faults-unreachable").unwrap();
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port().unwrap()));
    let toml = stack::collector_toml(
        &opts,
        addr,
        &dir.join("state"),
        &discord.webhook_url(stack::WEBHOOK_ID, "unreachable-hook"),
        &BTreeMap::new(),
    );
    let c = Collector::start(&dir, &toml, addr).unwrap();
    let relay = Relay::start(addr).unwrap();
    let layout = Layout {
        listen_port: 0,
        admin_port: 0,
        services: services.iter().map(|(n, u)| (n.to_string(), u.addr())).collect(),
        collector: relay.addr(),
        wasm: faultline_tests::paths::filter_wasm().unwrap(),
        plugin: serde_json::json!({
            "proxy_id": "edge-away",
            "collector": {"token": stack::TOKEN},
            "flush_interval_ms": opts.flush_interval_ms,
            "merge_interval_ms": opts.merge_interval_ms,
        }),
    };
    let mut envoy = Envoy::start(&envoy::render(&envoy::shipped_config().unwrap(), &layout).unwrap(), 2).unwrap();
    let envoy_pid = envoy.process().pid();
    let totals = |svc: &str| service_totals(&c.status().unwrap(), svc);

    // Reachable: counted as usual.
    let mut expected = per_service(&run_for(&envoy, Duration::from_secs(3)).join().unwrap());
    for (svc, (r, e)) in &expected {
        wait_until(LONG, || (totals(svc) == (*r, *e)).then_some(()))
            .unwrap_or_else(|| panic!("{svc}: {:?} != {:?}", totals(svc), (r, e)));
    }
    let before = totals("be");

    // Unreachable: traffic goes on; be fails at 30% from 1/6 to 1/2 of the outage, then recovers.
    relay.set_cut(true);
    let started = Instant::now();
    let load = run_for(&envoy, outage);
    let mut rss = Vec::new();
    let mut failing = false;
    while started.elapsed() < outage {
        let t = started.elapsed();
        let bad = t >= outage / 6 && t < outage / 2;
        if bad != failing {
            services["be"].fail(if bad { 300 } else { 0 }, 503, &["GET /server/items/:w"]).unwrap();
            failing = bad;
        }
        rss.push(rss_kib(envoy_pid).unwrap());
        std::thread::sleep(Duration::from_millis(500));
    }
    let during = load.join().unwrap();
    assert_eq!(during.failed(), 0, "{during:?}");
    let got = per_service(&during);
    assert!(got["be"].1 > 0, "the episode happened: {got:?}");
    add(&mut expected, &got);
    assert_eq!(totals("be"), before, "nothing reached the collector while it was cut off");
    let connect_fails = envoy.stat("cluster.faultline_collector.upstream_cx_connect_fail").unwrap();
    assert!(connect_fails > 0, "the filter's flushes failed during the outage");
    std::thread::sleep(Duration::from_secs(2)); // every count merged into shared data

    // Reachable again: the first change of the totals is the whole outage.
    relay.set_cut(false);
    let first = wait_until(LONG, || Some(totals("be")).filter(|t| *t != before))
        .expect("no flush after the collector came back");
    assert_eq!(first, expected["be"], "the first flush after the outage carries every count");
    for (svc, (r, e)) in &expected {
        wait_until(LONG, || (totals(svc) == (*r, *e)).then_some(()))
            .unwrap_or_else(|| panic!("{svc}: {:?} != {:?}", totals(svc), (r, e)));
    }
    // No stale page: several flushes and evaluations later, nothing was said about the ended episode.
    std::thread::sleep(Duration::from_secs(5));
    let stale: Vec<String> = discord.messages(stack::WEBHOOK_ID).iter().map(classify).collect();
    assert!(
        stale.is_empty(),
        "alerts about an episode that ended while the collector was away: {stale:?}\n{}",
        c.log()
    );

    // A problem that is there now still pages.
    services["be"].fail(300, 503, &["GET /server/items/:w"]).unwrap();
    let now = run_for(&envoy, Duration::from_secs(5));
    let alerts = wait_until(LONG, || {
        let a: Vec<String> = discord.messages(stack::WEBHOOK_ID).iter().map(classify).collect();
        a.contains(&"be CRITICAL".to_string()).then_some(a)
    })
    .unwrap_or_else(|| panic!("no page for the current problem: {:?}\n{}", discord.messages(1), c.log()));
    now.join().unwrap();

    let half = rss.len() / 2;
    let (first_half, second_half) =
        (rss[..half].iter().max().copied().unwrap_or(0), rss[half..].iter().max().copied().unwrap_or(0));
    eprintln!(
        "faults_unreachable: outage {outage:?}, window {window:?}: {} requests answered during it ({got:?}), \
         flush connect failures {connect_fails}; Envoy RSS KiB first half peak {first_half}, \
         second half peak {second_half}, samples {}; alerts after: {alerts:?}",
        during.answered(),
        rss.len()
    );
    assert!(
        second_half <= first_half + 16 * 1024,
        "Envoy's memory grew during the outage: {first_half} then {second_half} KiB"
    );
}
