//! The real filter `.wasm` flushing through the test host: content, cadence, one flusher per
//! interval (Envoy's main-thread ticker included), collector failures losing nothing, an
//! unknown Envoy cluster, and a new boot after shared memory is wiped.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use faultline_tests::host::kit::{self, FLUSH_MS, MERGE_MS, Sent, TOKEN, config, settle, totals};
use faultline_tests::host::{Ending, LogLevel, Proxy, ProxyConfig, Reply, Request};
use serde_json::json;

fn start(pc: ProxyConfig) -> Proxy {
    let proxy = Proxy::start(pc).unwrap_or_else(|e| panic!("starting the proxy: {e}"));
    assert!(proxy.started().iter().all(|s| s.vm_start && s.configure), "{:?}", proxy.started());
    proxy
}

fn envoy(overrides: serde_json::Value) -> ProxyConfig {
    ProxyConfig::envoy(&config(true, overrides))
}

fn nginx(overrides: serde_json::Value) -> ProxyConfig {
    ProxyConfig::nginx(&config(false, overrides))
}

/// Sends `n` requests per worker: every third a 503.
fn traffic(proxy: &Proxy, n: u64) -> (u64, u64) {
    for i in 0..n {
        for w in 0..proxy.workers() {
            let status = if i % 3 == 0 { 503 } else { 200 };
            let out = proxy.exchange(w, &Request::get(format!("/orders/{i}")), &Ending::status(status)).unwrap();
            assert!(out.passed(), "{out:?}");
        }
    }
    let w = proxy.workers() as u64;
    (n * w, n.div_ceil(3) * w)
}

/// Consecutive flushes: seq up, one flush per interval, none skipped.
fn assert_cadence(sent: &[Sent]) {
    for pair in sent.windows(2) {
        let (a, b) = (&pair[0].flush, &pair[1].flush);
        assert!(b.seq > a.seq, "seq {} then {}", a.seq, b.seq);
        assert_eq!(a.boot_id, b.boot_id);
        let gap = b.sent_ms - a.sent_ms;
        assert!(
            gap >= FLUSH_MS,
            "two flushes {gap} ms apart (VMs {} and {}): more than one flusher",
            pair[0].call.vm,
            pair[1].call.vm
        );
        assert!(gap <= FLUSH_MS + MERGE_MS, "{gap} ms between flushes: an interval was skipped");
    }
}

fn flush_content_and_cadence(pc: ProxyConfig, upstream: &str) {
    let proxy = start(pc);
    let start_ms = proxy.now_ms();
    let mut sent = Vec::new();
    let mut expected = (0, 0);
    for _ in 0..12 {
        let (r, f) = traffic(&proxy, 4);
        expected = (expected.0 + r, expected.1 + f);
        sent.extend(kit::run_ok(&proxy, FLUSH_MS).unwrap());
    }
    sent.extend(kit::run_ok(&proxy, FLUSH_MS + MERGE_MS).unwrap());
    assert!(sent.len() >= 11 && sent.len() <= 14, "{} flushes in {} s", sent.len(), 13 * FLUSH_MS / 1000);
    assert_cadence(&sent);
    for s in &sent {
        let (call, f) = (&s.call, &s.flush);
        assert_eq!(call.upstream, upstream);
        assert_eq!(call.header(":method").as_deref(), Some("POST"));
        assert_eq!(call.header(":path").as_deref(), Some("/v1/flush"));
        assert_eq!(call.header(":authority").as_deref(), Some("faultline-collector"));
        assert_eq!(call.header("authorization"), Some(format!("Bearer {TOKEN}")));
        assert!(call.header("content-type").is_some_and(|c| c.starts_with("application/json")));
        assert_eq!(call.timeout_ms, 2000);
        assert_eq!((f.version, f.proxy_id.as_str()), (faultline_flush::VERSION, "edge-1"));
        assert!(f.boot_ms >= start_ms && f.boot_ms <= f.sent_ms, "{f:?}");
        assert_eq!(f.sent_ms, call.dispatched_ms, "sent_ms is the proxy clock when the flush was sent");
    }
    let last = &sent.last().unwrap().flush;
    let (responses, _, fives, _) = totals(last, "be");
    assert_eq!((responses, fives), expected, "{last:?}");
    let logs = proxy.logs();
    assert!(logs.iter().all(|l| !l.text.contains(TOKEN)), "the token was logged");
    assert!(proxy.traps().is_empty(), "{:?}", proxy.traps());
}

#[test]
fn flush_content_and_cadence_envoy_with_main_thread_ticker() {
    let pc = envoy(json!({"service": "be"})).workers(2).main_thread_ticker(true);
    assert_eq!(pc.workers + 1, 3, "2 workers + main thread: 3 tickers");
    flush_content_and_cadence(pc, "faultline_collector");
}

#[test]
fn flush_content_and_cadence_nginx() {
    flush_content_and_cadence(nginx(json!({"service": "be"})).workers(3), "127.0.0.1:9");
}

/// Every shared-data write pauses while another VM ticks: the lease still has one holder.
#[test]
fn one_flusher_per_interval_when_ticks_interleave() {
    for pc in [envoy(json!({"service": "be"})).main_thread_ticker(true), nginx(json!({"service": "be"}))] {
        let proxy = start(pc.workers(3));
        proxy.interfere_on_write(1, Box::new(|vm| vm.tick()));
        traffic(&proxy, 5);
        let sent = kit::run_ok(&proxy, 8 * FLUSH_MS).unwrap();
        assert!(proxy.stop_interfering() > 0);
        assert!(sent.len() >= 6, "only {} flushes", sent.len());
        assert_cadence(&sent);
        assert!(proxy.traps().is_empty(), "{:?}", proxy.traps());
    }
}

/// Runs `ms` without answering anything: calls time out at the proxy.
fn run_unanswered(proxy: &Proxy, ms: u64) -> usize {
    let before = proxy.answered_calls().len();
    for _ in 0..ms / 100 {
        proxy.advance(100).unwrap();
    }
    proxy.answered_calls().len() - before
}

fn collector_failures_lose_nothing(pc: ProxyConfig) {
    let proxy = start(pc);
    let mut expected = traffic(&proxy, 6);
    let failed = kit::run(&proxy, 2 * FLUSH_MS, 100, |_| Reply::status(503, b"over capacity")).unwrap();
    assert!(!failed.is_empty(), "no flush attempted while the collector answered 503");
    let more = traffic(&proxy, 5);
    expected = (expected.0 + more.0, expected.1 + more.1);
    let refused = kit::run(&proxy, 2 * FLUSH_MS, 100, |_| Reply::Refused).unwrap();
    assert!(!refused.is_empty(), "no flush attempted while the collector was down");
    let more = traffic(&proxy, 4);
    expected = (expected.0 + more.0, expected.1 + more.1);
    let timed_out = run_unanswered(&proxy, 3 * FLUSH_MS);
    assert!(timed_out > 0, "no flush timed out");
    let more = traffic(&proxy, 3);
    expected = (expected.0 + more.0, expected.1 + more.1);
    let last = settle(&proxy).unwrap();
    let (responses, _, fives, _) = totals(&last, "be");
    assert_eq!((responses, fives), expected, "{last:?}");
    let seqs: Vec<u64> = proxy.answered_calls().iter().filter_map(|(c, _)| kit::parse(c).ok()).map(|f| f.seq).collect();
    assert!(seqs.windows(2).all(|w| w[1] > w[0]), "seq not increasing across failures: {seqs:?}");
    assert!(proxy.traps().is_empty(), "{:?}", proxy.traps());
}

#[test]
fn collector_503_refused_or_timing_out_loses_nothing_envoy() {
    collector_failures_lose_nothing(envoy(json!({"service": "be"})));
}

#[test]
fn collector_503_refused_or_timing_out_loses_nothing_nginx() {
    collector_failures_lose_nothing(nginx(json!({"service": "be"})));
}

#[test]
fn unknown_envoy_cluster_is_refused_at_once_and_traffic_flows() {
    let cfg = config(true, json!({"service": "be", "collector": {"upstream": "no_such_cluster", "token": TOKEN}}));
    let proxy = start(ProxyConfig::envoy(&cfg));
    traffic(&proxy, 3);
    proxy.advance(3 * FLUSH_MS).unwrap();
    assert!(proxy.pending_calls().is_empty() && proxy.answered_calls().is_empty());
    let complaints = proxy.logs().into_iter().filter(|l| l.level >= LogLevel::Warn).count();
    assert!(complaints > 0, "a refused flush must be logged: {:?}", proxy.logs());
    traffic(&proxy, 3);
    assert!(proxy.traps().is_empty(), "{:?}", proxy.traps());
}

#[test]
fn wiped_shared_memory_starts_a_new_boot() {
    for pc in [nginx(json!({"service": "be"})), envoy(json!({"service": "be"}))] {
        let mut proxy = start(pc);
        traffic(&proxy, 6);
        let before = settle(&proxy).unwrap();
        assert_eq!(totals(&before, "be").0, 12);
        proxy.reload().unwrap();
        let reload_ms = proxy.now_ms();
        assert!(proxy.started().iter().all(|s| s.configure));
        traffic(&proxy, 2);
        let after = settle(&proxy).unwrap();
        assert_ne!(after.boot_id, before.boot_id, "same boot id after the wipe");
        assert!(after.boot_ms >= reload_ms, "boot_ms {} before the reload at {reload_ms}", after.boot_ms);
        assert_eq!(totals(&after, "be").0, 4, "counters restart with the new boot: {after:?}");
        assert!(proxy.traps().is_empty(), "{:?}", proxy.traps());
    }
}
