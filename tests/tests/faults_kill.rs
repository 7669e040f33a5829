//! The real collector killed with SIGKILL at random points while it ingests and delivers, many times in a row
//! under load (simulated proxies flushing every 100 ms, services flapping in and out of their thresholds so
//! alerts are always being written and sent, Discord answering slowly now and then). After each restart every
//! count is there exactly once (checked against the proxies' cumulative counters); at the end every alert id
//! was delivered, none contradicts its service's state, and resends (a kill between Discord's accept and the
//! outbox record) are counted and printed.
//!
//! `FAULTLINE_FAULT_KILLS` (default 12; 50 for the full run) and `FAULTLINE_FAULT_SEED` choose the run.

#![cfg(test)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use faultline_tests::discord::{FakeDiscord, Reply};
use faultline_tests::faults::{self, Rng, SimProxy, knob};
use faultline_tests::process::{free_port, wait_until};
use faultline_tests::stack::{self, Collector};

const TOKEN: &str = "fault-kill-token-7f3a";
const PROXIES: usize = 4;
/// Services every proxy serves: one steady, three flapping in turn (25% 5xx for 3 s of every 9 s).
const FLAPPING: [&str; 3] = ["flap-a", "flap-b", "flap-c"];
const PERIOD_MS: u64 = 9_000;
const BAD_MS: u64 = 3_000;
const TICK: Duration = Duration::from_millis(100);
const LONG: Duration = Duration::from_secs(90);

fn config(port: u16, state: &std::path::Path, webhook: &str) -> String {
    format!(
        "listen = \"127.0.0.1:{port}\"\nstate_dir = \"{}\"\nwindow = \"4s\"\nbucket = \"1s\"\n\
         min_requests = 40\nreminder = \"0s\"\n\n\
         [[tokens]]\ntoken = \"{TOKEN}\"\n\n[notify.default]\ngroup_wait = \"0s\"\n\n\
         [webhooks]\ndefault = \"{webhook}\"\n\n\
         [delivery]\ntimeout = \"3s\"\nmax_backoff = \"1s\"\n",
        state.display()
    )
}

/// What the load thread saw when it flushed.
#[derive(Default)]
struct Sends {
    ok: AtomicU64,
    refused: AtomicU64,
    /// Flushes cut off mid-request (reset, empty answer): kills that landed during ingest.
    cut: AtomicU64,
}

/// One round of traffic on every proxy, then a flush from each.
fn round(proxies: &mut [SimProxy], started: Instant, addr: SocketAddr, sends: &Sends) {
    let t = u64::try_from(started.elapsed().as_millis()).unwrap_or(0);
    for p in proxies.iter_mut() {
        p.count("steady", 20, 0, "GET /steady");
        for (k, svc) in FLAPPING.iter().enumerate() {
            let bad = (t + k as u64 * PERIOD_MS / 3) % PERIOD_MS < BAD_MS;
            p.count(svc, 20, if bad { 5 } else { 0 }, &format!("POST /{svc}/work"));
        }
        match p.send(addr) {
            Ok(200) => sends.ok.fetch_add(1, Ordering::Relaxed),
            Ok(code) => panic!("flush answered {code}"),
            Err(e) if e.contains("refused") => sends.refused.fetch_add(1, Ordering::Relaxed),
            Err(_) => sends.cut.fetch_add(1, Ordering::Relaxed),
        };
    }
}

/// Every proxy flushes once more (all must be accepted), then the collector's totals must equal the
/// proxies' cumulative counters exactly, per service.
fn check_counts(proxies: &mut [SimProxy], c: &Collector, when: &str) {
    for p in proxies.iter_mut() {
        let code = wait_until(LONG, || p.send(c.addr()).ok()).unwrap();
        assert_eq!(code, 200, "{when}: sync flush refused");
    }
    let status = c.status().unwrap();
    let mut services: Vec<&str> = FLAPPING.to_vec();
    services.push("steady");
    for svc in services {
        let want = proxies.iter().map(|p| p.totals(svc)).fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
        let got = stack::service_totals(&status, svc);
        assert_eq!(
            got,
            want,
            "{when}: {svc} totals (responses, 5xx): collector {got:?}, proxies sent {want:?}\n{}",
            c.log()
        );
    }
}

#[test]
fn sigkill_at_random_points_under_load_loses_and_doubles_nothing() {
    let kills = knob("FAULTLINE_FAULT_KILLS", 12);
    let (mut rng, seed) = Rng::from_env(0x5eed_0007);
    eprintln!("faults_kill: {kills} kills, seed {seed} (FAULTLINE_FAULT_SEED={seed} replays it)");
    let discord = FakeDiscord::start().unwrap();
    let dir = Collector::workdir("faults-kill").unwrap();
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port().unwrap()));
    let mut c = Collector::start(
        &dir,
        &config(addr.port(), &dir.join("state"), &discord.webhook_url(1, "kill-hook-secret")),
        addr,
    )
    .unwrap();

    let proxies: Vec<SimProxy> =
        (0..PROXIES).map(|i| SimProxy::new(&format!("edge-{i}"), &format!("boot-{seed:x}-{i}"), TOKEN)).collect();
    let proxies = Arc::new(Mutex::new(proxies));
    let sends = Arc::new(Sends::default());
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let load = {
        let (proxies, sends, stop) = (proxies.clone(), sends.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                round(&mut proxies.lock().unwrap(), started, addr, &sends);
                std::thread::sleep(TICK);
            }
        })
    };

    let mut outbox_busy_at_kill = 0;
    let mut down_ms = Vec::new();
    for k in 0..kills {
        // Now and then Discord answers slowly, so that some kills land while a delivery is in flight.
        let slow = [(); 2].map(|_| Reply::Slow(rng.between(Duration::from_millis(100), Duration::from_millis(1200))));
        discord.push_replies(1, slow);
        std::thread::sleep(rng.between(Duration::from_millis(150), Duration::from_millis(1800)));
        if c.healthz().ok().and_then(|h| h["outbox_depth"].as_u64()).unwrap_or(0) > 0 {
            outbox_busy_at_kill += 1;
        }
        c.kill9();
        let t = Instant::now();
        std::thread::sleep(rng.between(Duration::ZERO, Duration::from_millis(300)));
        c.restart().unwrap();
        down_ms.push(t.elapsed().as_millis());
        // The load pauses while the counts are checked (the proxies' counters are the truth).
        let mut p = proxies.lock().unwrap();
        check_counts(&mut p, &c, &format!("after kill {}", k + 1));
    }
    stop.store(true, Ordering::Relaxed);
    load.join().unwrap();
    check_counts(&mut proxies.lock().unwrap(), &c, "at the end");

    // Every alert delivered: the outbox drains, no id is missing, the history says delivered.
    c.wait_for_outbox_empty(LONG).unwrap();
    std::thread::sleep(Duration::from_secs(1));
    let a = faults::audit_channel(&discord, 1);
    let (_, history) = faultline_tests::envoy::http_get(c.addr(), "/v1/history?since=1h&limit=1000").unwrap();
    let history: serde_json::Value = serde_json::from_str(&history).unwrap();
    let recorded: Vec<u64> = history["alerts"].as_array().unwrap().iter().filter_map(|x| x["id"].as_u64()).collect();
    let undelivered: Vec<&serde_json::Value> =
        history["alerts"].as_array().unwrap().iter().filter(|x| x["delivery"] != "delivered").collect();
    let by_service: BTreeMap<_, _> = a.by_service.iter().map(|(s, v)| (s.clone(), v.len())).collect();
    eprintln!(
        "faults_kill: {kills} kills (outbox busy at {outbox_busy_at_kill}), downtime ms {down_ms:?}; \
         flushes ok {}, refused {}, cut mid-request {}; alerts {} distinct (max id {}), duplicates {}, \
         missing {:?}; per service {by_service:?}",
        sends.ok.load(Ordering::Relaxed),
        sends.refused.load(Ordering::Relaxed),
        sends.cut.load(Ordering::Relaxed),
        a.unique,
        a.max_id,
        a.duplicates,
        a.missing,
    );
    assert!(a.unique >= 3, "the flapping services raised alerts: {a:?}");
    assert!(a.missing.is_empty(), "alerts lost: {:?}", a.missing);
    assert_eq!(a.unnumbered, 0);
    assert!(a.inconsistent.is_empty(), "alerts that contradict their service's state: {:?}", a.inconsistent);
    assert_eq!(recorded.iter().max().copied(), Some(a.max_id), "the last alert the collector recorded was received");
    assert!(undelivered.is_empty(), "recorded but not delivered: {undelivered:?}");
    // Duplicates are at-least-once resends (same id): counted and printed above, never a different id.
    assert!(a.duplicates <= kills, "at most one resend per kill: {}", a.duplicates);
}
