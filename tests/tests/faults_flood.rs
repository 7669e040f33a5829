//! An ingest flood against the real collector: one proxy sends flushes far above the expected rate (ten times
//! what 8 proxies flushing every second send, from 4 threads), each naming 250 of 1,000 unknown services with
//! 5 failing routes each, restarting (a new boot) every 25 flushes, mixed with oversized and malformed bodies.
//! Meanwhile a normal proxy flushes its known services once a second and `be` starts failing. The collector
//! stays within its memory bound (RSS from /proc levels off: the second half of the run grows no higher than
//! the first allows; tracked services stay within `limits.max_services`), pages for `be` (and not `fe`) ahead of
//! the unknown services' backlog of alerts, and counts the known services exactly.
//!
//! `FAULTLINE_FAULT_FLOOD_SECS` (default 20; 120 for the full run).

#![cfg(test)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use faultline_flush::{Flush, RouteCounters, ServiceCounters, VERSION};
use faultline_tests::discord::FakeDiscord;
use faultline_tests::faults::{SimProxy, alert_id, knob, now_ms, post_flush, rss_kib};
use faultline_tests::process::{free_port, wait_until};
use faultline_tests::stack::{self, Collector, classify};

const TOKEN: &str = "fault-flood-token-90d1";
const UNKNOWN: u64 = 1_000;
const PER_FLUSH: u64 = 250;
/// Expected: 8 proxies flushing once a second; the flood sends ten times that.
const FLOOD_PER_SEC: u64 = 80;

/// The `n`-th flush of the flood proxy: 250 services of the 1,000, cumulative counts within its boot.
fn flood_flush(n: u64) -> Flush {
    let boot = n / 25;
    let seq = n % 25 + 1;
    let first = (n * 37) % UNKNOWN;
    let now = now_ms();
    let services = (0..PER_FLUSH)
        .map(|i| {
            let k = (first + i) % UNKNOWN;
            ServiceCounters {
                name: format!("unknown-{k:04}"),
                responses: seq * 100,
                status_4xx: 0,
                status_5xx: seq * 10,
                no_response: 0,
                unreachable: 0,
                exemplars: vec![],
                routes: (0..5)
                    .map(|r| RouteCounters {
                        route: format!("GET /flood/{k}/{r}"),
                        count: seq * 2,
                        first_seen_ms: now - 1000,
                        last_seen_ms: now,
                    })
                    .collect(),
            }
        })
        .collect();
    Flush {
        version: VERSION,
        proxy_id: "edge-flood".into(),
        boot_id: format!("flood-boot-{boot}"),
        boot_ms: now - 500,
        seq,
        sent_ms: now,
        services,
        refusals: vec![],
    }
}

#[test]
fn an_ingest_flood_stays_within_memory_and_known_services_still_page() {
    let secs = knob("FAULTLINE_FAULT_FLOOD_SECS", 20);
    let discord = FakeDiscord::start().unwrap();
    let dir = Collector::workdir("faults-flood").unwrap();
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port().unwrap()));
    let toml = format!(
        "listen = \"{addr}\"\nstate_dir = \"{}\"\nreminder = \"0s\"\n\n[[tokens]]\ntoken = \"{TOKEN}\"\n\n\
         [notify.default]\ngroup_wait = \"0s\"\n\n[webhooks]\ndefault = \"{}\"\n\n\
         [[services]]\nname = \"be\"\n\n[[services]]\nname = \"fe\"\n",
        dir.join("state").display(),
        discord.webhook_url(1, "flood-hook")
    );
    let c = Collector::start(&dir, &toml, addr).unwrap();
    let pid = c.pid();
    let idle_kib = rss_kib(pid).unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let (sent, refused) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let flooders: Vec<_> = (0..4)
        .map(|t| {
            let (stop, sent, refused, next) = (stop.clone(), sent.clone(), refused.clone(), next.clone());
            std::thread::spawn(move || {
                let mut k = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let due = started + Duration::from_millis(sent.load(Ordering::Relaxed) * 1000 / FLOOD_PER_SEC);
                    if let Some(wait) = due.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                    k += 1;
                    let body = match (t, k % 20) {
                        (0, 7) => vec![b' '; 1024 * 1024 + 1],
                        (1, 7) => b"{\"version\":1,\"proxy_id\":".to_vec(),
                        _ => flood_flush(next.fetch_add(1, Ordering::Relaxed)).to_json(),
                    };
                    match post_flush(addr, Some(TOKEN), &body) {
                        Ok((200, _)) => sent.fetch_add(1, Ordering::Relaxed),
                        _ => refused.fetch_add(1, Ordering::Relaxed),
                    };
                }
            })
        })
        .collect();

    // The normal proxy: be and fe once a second; be fails from 3 s on (while the unknown services' alerts,
    // raised by the first flood flushes, still wait for Discord: about 50 s of them).
    let mut p = SimProxy::new("edge-1", "boot-1", TOKEN);
    let mut samples = Vec::new();
    let end = started + Duration::from_secs(secs);
    while Instant::now() < end {
        let failing = started.elapsed() > Duration::from_secs(3);
        p.count("be", 200, if failing { 40 } else { 0 }, "GET /server/users/:id/orders");
        p.count("fe", 200, 0, "GET /");
        assert_eq!(p.send(addr).unwrap(), 200);
        samples.push((started.elapsed(), rss_kib(pid).unwrap()));
        std::thread::sleep(Duration::from_millis(500));
    }
    stop.store(true, Ordering::Relaxed);
    for f in flooders {
        f.join().unwrap();
    }
    let (sent, refused) = (sent.load(Ordering::Relaxed), refused.load(Ordering::Relaxed));
    let rate = sent as f64 / started.elapsed().as_secs_f64();

    // be paged during the flood, fe did not.
    let alerts = wait_until(Duration::from_secs(60), || {
        let got: Vec<String> = discord.messages(1).iter().map(classify).collect();
        got.contains(&"be CRITICAL".to_string()).then_some(got)
    })
    .unwrap_or_else(|| panic!("be never paged during the flood: {:?}\n{}", discord.messages(1), c.log()));
    assert!(alerts.iter().all(|a| !a.starts_with("fe ")), "{alerts:?}");
    // The unknown services' alerts (raised from the first flood flush, a backlog at Discord's 5 per 2 s) do
    // not hold up be's first page: it overtakes those still waiting when it was raised.
    let messages = discord.messages(1);
    let be_at = messages.iter().position(|m| classify(m).starts_with("be ")).unwrap();
    let be_id = alert_id(&messages[be_at]).unwrap();
    let older_unknown = messages.iter().filter(|m| alert_id(m).is_some_and(|id| id < be_id)).count();
    let before_be = messages[..be_at].len();
    eprintln!(
        "faults_flood: be's first page (alert #{be_id}, {}) arrived {}th, \
         after {before_be} of the {older_unknown} older unknown-service alerts",
        classify(&messages[be_at]),
        be_at + 1
    );
    assert!(
        older_unknown > before_be + 5,
        "be's page waited behind the flood's alerts: #{be_id} arrived after {before_be} of {older_unknown}"
    );
    p.count("be", 0, 0, "");
    assert_eq!(p.send(addr).unwrap(), 200);
    let status = c.status().unwrap();
    for svc in ["be", "fe"] {
        assert_eq!(stack::service_totals(&status, svc), p.totals(svc), "{svc} counted exactly");
    }
    let tracked = status["services"].as_array().unwrap().len();
    assert!(tracked <= 128, "services within limits.max_services: {tracked}");
    assert!(c.log().contains("service cap reached"), "the cap is logged");

    // Memory levels off: the second half's peak is within the first half's plus a margin.
    let half = samples.len() / 2;
    let peak = |s: &[(Duration, u64)]| s.iter().map(|x| x.1).max().unwrap_or(0);
    let (first, second) = (peak(&samples[..half]), peak(&samples[half..]));
    eprintln!(
        "faults_flood: {secs} s, {sent} flushes accepted ({rate:.0}/s, target {FLOOD_PER_SEC}/s), \
         {refused} refused (oversized, malformed); {tracked} services tracked; RSS idle {idle_kib} KiB, \
         peak first half {first} KiB, second half {second} KiB; alerts {alerts:?}"
    );
    assert!(sent > 0 && refused > 0);
    assert!(second <= first + first / 4 + 16 * 1024, "RSS still growing: {first} KiB then {second} KiB: {samples:?}");
    assert!(second < 512 * 1024, "RSS within 512 MiB: {second} KiB");
}
