//! Property tests of the real filter `.wasm` through the test host, in Envoy and nginx mode:
//! random scenarios of requests on several workers (statuses valid, odd, missing; paths
//! normal, non-UTF-8, huge; oversized and binary headers; streams without a response),
//! interleaved ticks, flushes the collector accepts, refuses, fails or never answers, long
//! stretches of time and wall-clock steps, configuration changes (valid and refused), worker
//! VMs replaced gracefully or abruptly over the same shared data, and wiped shared memory.
//!
//! Against a model (`props_model/model.rs`), every flush the filter dispatches must hold
//! exactly the counts merged before it (per service: responses, 4xx, 5xx, no_response),
//! routes summing to the 5xx within `max_routes` + "other", seq strictly increasing within a
//! boot; no callback may trap. The only counts allowed to vanish are those of a VM that dies
//! abruptly, and exactly its tally since its last merge.
//!
//! Cases: 32 per host by default, deterministic (fixed seed); `PROPTEST_CASES=1000` and
//! `PROPTEST_RNG_SEED=<n>` explore further. See FUZZING.md, "Property tests".
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

mod props_model;

use std::cell::RefCell;

use props_model::run::run;
use props_model::stats::Stats;
use props_model::strategies::scenario;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestRunner};

/// Default cases per host (each a whole scenario of up to `MAX_OPS` steps).
const CASES: u32 = 32;
const MAX_OPS: usize = 64;

fn config(envoy: bool) -> Config {
    let mut c = Config::default();
    let unset = |name: &str| std::env::var_os(name).is_none();
    if unset("PROPTEST_CASES") {
        c.cases = CASES;
    }
    if unset("PROPTEST_RNG_SEED") {
        c.rng_seed = RngSeed::Fixed(0xfa17_11fe + u64::from(envoy));
    }
    if unset("PROPTEST_MAX_SHRINK_ITERS") {
        c.max_shrink_iters = 1024;
    }
    // Failures become named regression tests, not files.
    c.failure_persistence = None;
    c
}

fn check(envoy: bool) {
    let mut runner = TestRunner::new(config(envoy));
    let stats = RefCell::new(Stats::default());
    let result = runner.run(&scenario(envoy, MAX_OPS), |s| {
        let st = run(&s).map_err(TestCaseError::fail)?;
        stats.borrow_mut().add(&st);
        Ok(())
    });
    let host = if envoy { "envoy" } else { "nginx" };
    eprintln!("{host}: {:?}", stats.borrow());
    if let Err(e) = result {
        panic!("{host}: {e}");
    }
    assert!(stats.borrow().flushes_checked > 0, "no flush was ever checked");
}

#[test]
fn envoy_flushes_always_equal_the_model() {
    check(true);
}

#[test]
fn nginx_flushes_always_equal_the_model() {
    check(false);
}

// Regressions: findings of the property tests, each fixed, kept as plain tests.

use faultline_tests::host::kit::{self, config as filter_config, settle, totals};
use faultline_tests::host::{Ending, Exit, Proxy, ProxyConfig, Request};
use serde_json::json;

fn one_worker(envoy: bool) -> Proxy {
    let cfg = filter_config(envoy, json!({"service": "be"}));
    let pc = if envoy { ProxyConfig::envoy(&cfg) } else { ProxyConfig::nginx(&cfg) };
    Proxy::start(pc.workers(1)).unwrap()
}

/// Finding 1: `proxy_on_configure` on a running root context kept the tally but, with a
/// refused configuration, stopped merging it; shut down in that state (`proxy_on_done`
/// merges only with a configuration), the VM lost every count since its last merge. Fixed:
/// the tally is merged under the old configuration before the new one applies.
#[test]
fn counts_survive_a_refused_reconfiguration_then_a_shutdown() {
    for envoy in [true, false] {
        let mut proxy = one_worker(envoy);
        for i in 0..5 {
            proxy.exchange(0, &Request::get(format!("/users/{i}")), &Ending::status(503)).unwrap();
        }
        assert!(proxy.reconfigure_vm(0, "{\"max_route\": 4}").unwrap());
        let valid = filter_config(envoy, json!({"service": "be"}));
        proxy.restart_vm(0, Exit::Graceful, Some(&valid)).unwrap();
        let last = settle(&proxy).unwrap();
        assert_eq!(totals(&last, "be"), (5, 0, 5, 0), "envoy={envoy}: {last:?}");
        assert!(proxy.traps().is_empty(), "{:?}", proxy.traps());
    }
}

/// Finding 1, the shape the property test found it in: a reconfigured VM's counts reach the
/// very next flush, even when another worker flushes before the reconfigured VM ticks again.
#[test]
fn a_reconfiguration_merges_before_the_next_flush() {
    for envoy in [true, false] {
        let cfg = |merge: u64| {
            let over = json!({"service": "be", "merge_interval_ms": merge, "flush_interval_ms": 1000});
            filter_config(envoy, over)
        };
        let pc = if envoy { ProxyConfig::envoy(&cfg(100)) } else { ProxyConfig::nginx(&cfg(100)) };
        let mut proxy = Proxy::start(pc.workers(2)).unwrap();
        // Both tick every 100 ms; the boot (made at the first tick) is due to flush at 1.1 s.
        proxy.advance(950).unwrap();
        proxy.exchange(0, &Request::get("/a"), &Ending::status(200)).unwrap();
        // VM 0 next ticks at 1.95 s; VM 1 flushes at 1.1 s.
        assert!(proxy.reconfigure_vm(0, &cfg(1_000)).unwrap());
        let sent = kit::run_ok(&proxy, 300).unwrap();
        let first = sent.first().expect("a flush at 1.1 s");
        assert_eq!(first.call.vm, 1);
        assert_eq!(totals(&first.flush, "be").0, 1, "envoy={envoy}: {:?}", first.flush);
        assert!(proxy.traps().is_empty(), "{:?}", proxy.traps());
    }
}

// The host behaviours the property tests rely on, shown plainly.

/// A VM replaced while its flush is in flight: the call is cancelled (a proxy never delivers
/// an answer to a VM that is gone; the new instance's SDK would trap on an unknown token), and
/// the next flush, by the new VM, carries everything.
#[test]
fn a_flusher_replaced_mid_flight_loses_nothing() {
    for envoy in [true, false] {
        let mut proxy = one_worker(envoy);
        for i in 0..3 {
            proxy.exchange(0, &Request::get(format!("/a/{i}")), &Ending::status(503)).unwrap();
        }
        proxy.advance(kit::FLUSH_MS + kit::MERGE_MS).unwrap();
        let in_flight = proxy.pending_calls();
        assert_eq!(in_flight.len(), 1, "one flush in flight");
        proxy.restart_vm(0, Exit::Graceful, None).unwrap();
        assert!(proxy.pending_calls().is_empty());
        assert_eq!(proxy.cancelled_calls().len(), 1);
        for _ in 0..2 {
            proxy.exchange(0, &Request::get("/b"), &Ending::status(200)).unwrap();
        }
        let last = settle(&proxy).unwrap();
        assert_eq!(totals(&last, "be"), (5, 0, 3, 0), "envoy={envoy}: {last:?}");
        assert!(last.seq > kit::parse(&in_flight[0]).unwrap().seq);
        assert!(proxy.traps().is_empty(), "{:?}", proxy.traps());
    }
}

/// A wall-clock step moves what the filter reads as the time (`sent_ms`), not the pace of
/// its ticks: one flush at the next tick (the lease is long due), then one per interval.
#[test]
fn a_wall_clock_step_moves_sent_ms_not_the_cadence() {
    for envoy in [true, false] {
        let proxy = one_worker(envoy);
        let before = settle(&proxy).unwrap();
        let hour: u64 = 3_600_000;
        proxy.step_wall_clock(hour as i64);
        let sent = kit::run_ok(&proxy, 2 * kit::FLUSH_MS).unwrap();
        assert!((2..=3).contains(&sent.len()), "{} flushes in two intervals", sent.len());
        for s in &sent {
            assert!(s.flush.sent_ms >= before.sent_ms + hour, "{:?}", s.flush);
            assert_eq!(s.flush.boot_id, before.boot_id);
        }
        assert!(sent.windows(2).all(|w| w[1].flush.seq > w[0].flush.seq));
        assert!(proxy.traps().is_empty(), "{:?}", proxy.traps());
    }
}
