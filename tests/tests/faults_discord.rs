//! Discord misbehaving for a long run while alerts keep coming: the real collector against FakeDiscord scripted
//! with a random stream of 429 (with `retry_after`), 500/502/503, 404 (webhook broken for a while), requests
//! that hang (the collector times out), slow answers within the timeout and slow answers past it (Discord
//! accepted, the collector gave up: the one way to resend). Every alert id arrives, first arrivals in order, no
//! alert contradicts its service's state, and the resends are counted and printed.
//!
//! `FAULTLINE_FAULT_DISCORD_SECS` (default 20; 300 for the full run) and `FAULTLINE_FAULT_SEED` choose the run.

#![cfg(test)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use faultline_tests::discord::{FakeDiscord, Reply};
use faultline_tests::faults::{self, Rng, SimProxy, knob};
use faultline_tests::process::free_port;
use faultline_tests::stack::Collector;

const TOKEN: &str = "fault-discord-token-51aa";
const FLAPPING: [&str; 3] = ["svc-a", "svc-b", "svc-c"];
const PERIOD_MS: u64 = 12_000;
const BAD_MS: u64 = 4_000;
/// The collector's delivery timeout (slow answers beyond it are timeouts).
const TIMEOUT_MS: u64 = 1_000;

#[test]
fn alerts_survive_a_long_run_of_discord_failures() {
    let secs = knob("FAULTLINE_FAULT_DISCORD_SECS", 20);
    let (mut rng, seed) = Rng::from_env(0xd15c_0de5);
    eprintln!("faults_discord: {secs} s, seed {seed}");
    let discord = FakeDiscord::start().unwrap();
    let dir = Collector::workdir("faults-discord").unwrap();
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port().unwrap()));
    let toml = format!(
        "listen = \"{addr}\"\nstate_dir = \"{}\"\nwindow = \"4s\"\nbucket = \"1s\"\n\
         min_requests = 40\nreminder = \"0s\"\n\n\
         [[tokens]]\ntoken = \"{TOKEN}\"\n\n[notify.default]\ngroup_wait = \"0s\"\n\n[webhooks]\ndefault = \"{}\"\n\n\
         [delivery]\ntimeout = \"{TIMEOUT_MS}ms\"\nmax_backoff = \"2s\"\nbroken_retry = \"2s\"\n",
        dir.join("state").display(),
        discord.webhook_url(1, "discord-fault-hook")
    );
    let c = Collector::start(&dir, &toml, addr).unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut p = SimProxy::new("edge-d", "boot-d", TOKEN);
            let started = Instant::now();
            while !stop.load(Ordering::Relaxed) {
                let t = u64::try_from(started.elapsed().as_millis()).unwrap_or(0);
                for (k, svc) in FLAPPING.iter().enumerate() {
                    let bad = (t + k as u64 * PERIOD_MS / 3) % PERIOD_MS < BAD_MS;
                    p.count(svc, 20, if bad { 5 } else { 0 }, &format!("GET /{svc}"));
                }
                assert_eq!(p.send(addr).unwrap(), 200);
                std::thread::sleep(Duration::from_millis(100));
            }
            p
        })
    };

    // Script Discord: between the normal answers, a random failure every 2.5 s on average (each costs the
    // queue up to ~2 s of waiting: failures take more than half of Discord's capacity).
    let mut scripted: BTreeMap<&str, u64> = BTreeMap::new();
    let end = Instant::now() + Duration::from_secs(secs);
    // Every kind once first (in a random order), then random ones.
    let mut kinds: Vec<u64> = (0..7).collect();
    for i in (1..kinds.len()).rev() {
        kinds.swap(i, rng.below(i as u64 + 1) as usize);
    }
    while Instant::now() < end {
        let kind = kinds.pop().unwrap_or_else(|| rng.below(8));
        let (what, reply) = match kind {
            0 => ("429", Reply::RateLimited { retry_after: 0.2 + rng.below(1300) as f64 / 1000.0, global: false }),
            1 => ("500", Reply::Status(500)),
            2 => ("502/503", Reply::Status([502, 503][rng.below(2) as usize])),
            3 => ("404", Reply::UnknownWebhook),
            4 => ("hang", Reply::Hang),
            5 => ("slow past the timeout", Reply::Slow(Duration::from_millis(TIMEOUT_MS + 300 + rng.below(700)))),
            _ => ("slow", Reply::Slow(rng.between(Duration::from_millis(50), Duration::from_millis(TIMEOUT_MS - 300)))),
        };
        *scripted.entry(what).or_default() += 1;
        discord.push_replies(1, [reply]);
        std::thread::sleep(rng.between(Duration::from_millis(1000), Duration::from_millis(4000)));
    }
    stop.store(true, Ordering::Relaxed);
    let proxy = load.join().unwrap();

    // Discord heals: everything still queued goes out.
    c.wait_for_outbox_empty(Duration::from_secs(120 + secs))
        .unwrap_or_else(|e| panic!("{e}: {}", c.healthz().unwrap()));
    std::thread::sleep(Duration::from_secs(2));
    let messages = discord.messages(1);
    let a = faults::audit_channel(&discord, 1);
    let mut first_seen = Vec::new();
    for m in &messages {
        if let Some(id) = faults::alert_id(m).filter(|id| !first_seen.contains(id)) {
            first_seen.push(id);
        }
    }
    let answered: BTreeMap<u16, usize> = discord.requests().iter().fold(BTreeMap::new(), |mut m, r| {
        *m.entry(r.status).or_default() += 1;
        m
    });
    eprintln!(
        "faults_discord: scripted {scripted:?}; Discord answered {answered:?} (0 = hung); alerts {} distinct \
         (max id {}), resent {}, missing {:?}; healthz {}",
        a.unique,
        a.max_id,
        a.duplicates,
        a.missing,
        c.healthz().unwrap()
    );
    assert!(a.unique >= 4, "alerts were raised: {a:?}");
    assert!(a.missing.is_empty(), "alerts lost: {:?}", a.missing);
    assert!(a.inconsistent.is_empty(), "{:?}", a.inconsistent);
    assert!(first_seen.windows(2).all(|w| w[0] < w[1]), "first arrivals in order: {first_seen:?}");
    let slow_past = scripted.get("slow past the timeout").copied().unwrap_or(0);
    assert!(
        a.duplicates <= slow_past,
        "resends only where Discord answered after the timeout: {} > {slow_past}",
        a.duplicates
    );
    assert_eq!(c.healthz().unwrap()["webhooks"]["default"]["state"], "ok", "healthy again");
    // The counts were never disturbed by any of it.
    let status = c.status().unwrap();
    for svc in FLAPPING {
        assert_eq!(faultline_tests::stack::service_totals(&status, svc), proxy.totals(svc), "{svc}");
    }
}
