//! Refused configurations carried by the flush of another root context of the same proxy
//! (nginx: one root context per `proxy_wasm` line and worker; Envoy: one per filter
//! configuration and worker, sharing the shared data of their VM id). Each root context runs
//! here in its own VM over the proxy's one store: the refused ones pass traffic uncounted
//! and log why, the valid one keeps counting exactly and its flushes say which lines were
//! refused, for which service and why, once each and at most 16.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use faultline_flush::{Flush, Refusal};
use faultline_tests::host::kit::{self, FLUSH_MS, Sent, config, settle, totals};
use faultline_tests::host::{Ending, Exit, LogLevel, Mode, Origin, Proxy, ProxyConfig, Request};
use serde_json::json;

const COLOUR: &str = "unknown key `colour`";
const INTERVAL: &str = "`flush_interval_ms` must be a non-negative integer";

fn refusal(service: Option<&str>, reason: &str) -> Refusal {
    Refusal { service: service.map(Into::into), reason: reason.into() }
}

/// `valid` root contexts with `config(envoy, {"service": "be"})` (VMs `0..valid`), then one
/// per entry of `others`, in order.
fn proxy_config(envoy: bool, valid: usize, others: &[String]) -> ProxyConfig {
    let good = config(envoy, json!({"service": "be"}));
    let pc = if envoy { ProxyConfig::envoy(&good) } else { ProxyConfig::nginx(&good) };
    let mut pc = pc.workers(valid + others.len());
    for (i, cfg) in others.iter().enumerate() {
        pc = pc.vm_plugin_config(valid + i, cfg);
    }
    pc
}

fn start(pc: ProxyConfig) -> Proxy {
    let proxy = Proxy::start(pc).unwrap_or_else(|e| panic!("starting the proxy: {e}"));
    assert!(proxy.started().iter().all(|s| s.vm_start && s.configure), "{:?}", proxy.started());
    proxy
}

/// `n` requests on VM `vm`, every other one a 503; each must pass untouched.
fn traffic(proxy: &Proxy, vm: usize, n: u64) {
    for i in 0..n {
        let status = if i % 2 == 0 { 503 } else { 200 };
        let out = proxy.exchange(vm, &Request::get(format!("/r/{i}")).cluster("be"), &Ending::status(status)).unwrap();
        assert!(out.passed(), "VM {vm}: {out:?}");
    }
}

fn flushes(sent: &[Sent]) -> Vec<&Flush> {
    sent.iter().map(|s| &s.flush).collect()
}

/// nginx: one valid line (with a collector) and two refused ones, each in two workers.
#[test]
fn nginx_flush_carries_the_refusals_of_other_lines() {
    let colour = config(false, json!({"service": "ai", "colour": "red"}));
    let interval = config(false, json!({"service": "ml", "flush_interval_ms": "x"}));
    // VMs 0, 1: the valid line in two workers; 2, 3: `colour`; 4, 5: `flush_interval_ms`.
    let proxy = start(proxy_config(false, 2, &[colour.clone(), colour, interval.clone(), interval]));
    for vm in 0..6 {
        traffic(&proxy, vm, 10);
    }
    let sent = kit::run_ok(&proxy, 3 * FLUSH_MS).unwrap();
    assert!(!sent.is_empty(), "no flush");
    assert!(sent.iter().all(|s| s.call.vm < 2), "a refused line flushed: {:?}", sent.iter().map(|s| s.call.vm));
    let want = vec![refusal(Some("ai"), COLOUR), refusal(Some("ml"), INTERVAL)];
    for f in flushes(&sent) {
        assert_eq!(f.refusals, want, "every flush of the boot carries both refusals, once each: {f:?}");
    }
    let last = settle(&proxy).unwrap();
    assert_eq!(last.refusals, want);
    // The valid line's counts are exact; the refused lines' traffic is not counted anywhere.
    assert_eq!(totals(&last, "be"), (20, 0, 10, 0), "{last:?}");
    assert_eq!(last.services.len(), 1, "{last:?}");
    // The existing log line, once per refused root context.
    let logs = proxy.logs();
    for (vm, reason) in [(2, COLOUR), (3, COLOUR), (4, INTERVAL), (5, INTERVAL)] {
        let line = format!("faultline: configuration refused: {reason}; passing traffic through uncounted");
        let n = logs.iter().filter(|l| l.vm == vm && l.origin == Origin::Plugin && l.text == line).count();
        assert_eq!(n, 1, "VM {vm}: {logs:?}");
    }
    let plugin_warnings = logs.iter().filter(|l| l.origin == Origin::Plugin && l.level >= LogLevel::Warn);
    assert!(plugin_warnings.clone().all(|l| l.text.contains("configuration refused")), "{logs:?}");
    assert!(proxy.traps().is_empty(), "{:?}", proxy.traps());
}

/// Not JSON (or empty): which zone the proxy declared cannot be read (nginx traps on an undeclared
/// zone), so the refusal is only logged; a JSON object without a readable service is carried without one.
#[test]
fn nginx_refusal_without_a_readable_zone_or_service() {
    let proxy = start(proxy_config(false, 1, &["{\"service\":\"ai\",".into(), String::new(), "{\"colour\":1}".into()]));
    traffic(&proxy, 1, 4);
    traffic(&proxy, 2, 4);
    traffic(&proxy, 3, 4);
    let last = settle(&proxy).unwrap();
    assert_eq!(last.refusals, [refusal(None, "unknown key `colour`")], "{:?}", last.refusals);
    assert!(last.services.is_empty(), "nothing counted: {last:?}");
    assert!(proxy.traps().is_empty(), "{:?}", proxy.traps());
}

/// 20 distinct refusals (one root context reconfigured 20 times, then a second one): the
/// first 16 are carried, the rest only logged.
#[test]
fn refusals_are_bounded_to_16() {
    let mut proxy = start(proxy_config(false, 1, &[config(false, json!({"service": "ai", "colour0": 0}))]));
    for i in 1..20 {
        let bad = config(false, json!({"service": "ai", format!("colour{i}"): i}));
        assert!(proxy.reconfigure_vm(1, &bad).unwrap(), "on_configure must accept (and pass traffic)");
    }
    traffic(&proxy, 1, 4);
    let last = settle(&proxy).unwrap();
    let want: Vec<_> = (0..16).map(|i| refusal(Some("ai"), &format!("unknown key `colour{i}`"))).collect();
    assert_eq!(last.refusals, want);
    let full = proxy.logs().into_iter().filter(|l| l.text.contains("16 refusals already recorded")).count();
    assert_eq!(full, 4, "refusals 17 to 20 are said to be only logged");
    assert!(Flush::parse(&last.to_json()).is_ok());
    assert!(proxy.traps().is_empty(), "{:?}", proxy.traps());
}

/// The refusal lives in the zone of the refused line: the flusher of another zone does not
/// carry it. And a reload (shared memory wiped) after the line is fixed forgets it.
#[test]
fn refusals_are_per_zone_and_per_boot() {
    let edge = config(false, json!({"service": "ai", "shm_zone": "edge", "colour": "red"}));
    let here = config(false, json!({"service": "ml", "colour": "red"}));
    let pc = proxy_config(false, 1, &[edge, here.clone(), here])
        .mode(Mode::Nginx { zones: vec!["faultline".into(), "edge".into()] });
    let mut proxy = start(pc);
    let last = settle(&proxy).unwrap();
    assert_eq!(last.refusals, vec![refusal(Some("ml"), COLOUR)], "only the refusal of the flusher's zone");
    assert!(proxy.store_keys().contains(&"edge/refusals".to_string()), "{:?}", proxy.store_keys());

    // The lines are fixed; the refusal stays until shared memory is wiped.
    let fixed = config(false, json!({"service": "ml"}));
    for vm in [2, 3] {
        assert!(proxy.restart_vm(vm, Exit::Graceful, Some(&fixed)).unwrap().configure);
    }
    assert_eq!(settle(&proxy).unwrap().refusals, vec![refusal(Some("ml"), COLOUR)]);
    proxy.reload().unwrap();
    traffic(&proxy, 2, 2);
    let after = settle(&proxy).unwrap();
    assert!(after.refusals.is_empty(), "{after:?}");
    assert_eq!(totals(&after, "ml"), (2, 0, 1, 0));
    assert!(!after.to_json().windows(8).any(|w| w == b"refusals"), "no refusals field at all");
    assert!(proxy.traps().is_empty(), "{:?}", proxy.traps());
}

/// Envoy: a second filter configuration refused in the same VM id (its root contexts in
/// both workers and, with the main-thread ticker, that one too) is carried by the valid
/// one's flushes.
#[test]
fn envoy_flush_carries_a_refused_filter_config_of_the_same_vm_id() {
    let colour = config(true, json!({"service": "ai", "colour": "red"}));
    let pc = proxy_config(true, 2, &[colour.clone(), colour]).main_thread_ticker(true);
    let proxy = start(pc);
    for vm in 0..4 {
        traffic(&proxy, vm, 6);
    }
    let sent = kit::run_ok(&proxy, 2 * FLUSH_MS).unwrap();
    assert!(!sent.is_empty());
    for f in flushes(&sent) {
        assert_eq!(f.refusals, vec![refusal(Some("ai"), COLOUR)], "{f:?}");
    }
    let last = settle(&proxy).unwrap();
    assert_eq!(totals(&last, "be"), (12, 0, 6, 0), "{last:?}");
    assert!(kit::service(&last, "ai").is_none(), "{last:?}");
    assert!(proxy.traps().is_empty(), "{:?}", proxy.traps());
}

/// Without any refusal, the flush is what it always was: no `refusals` field.
#[test]
fn no_refusals_no_field() {
    for envoy in [true, false] {
        let proxy = start(proxy_config(envoy, 2, &[]));
        traffic(&proxy, 0, 2);
        let sent = kit::run_ok(&proxy, 2 * FLUSH_MS).unwrap();
        assert!(!sent.is_empty());
        for s in &sent {
            assert!(!s.call.body.windows(8).any(|w| w == b"refusals"), "{}", String::from_utf8_lossy(&s.call.body));
            assert!(s.flush.refusals.is_empty());
        }
    }
}
