//! Regressions found by the property tests of the filter through the test host.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing
)]

// Regressions: findings of the property tests, each fixed, kept as plain tests.

use faultline_tests::host::kit::{self, config as filter_config, settle, totals};
use faultline_tests::host::{Ending, Exit, Proxy, ProxyConfig, Request};
use serde_json::json;

fn one_worker(envoy: bool) -> Proxy {
    let cfg = filter_config(envoy, json!({"service": "be"}));
    let pc = if envoy {
        ProxyConfig::envoy(&cfg)
    } else {
        ProxyConfig::nginx(&cfg)
    };
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
            proxy
                .exchange(
                    0,
                    &Request::get(format!("/users/{i}")),
                    &Ending::status(503),
                )
                .unwrap();
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
            let over =
                json!({"service": "be", "merge_interval_ms": merge, "flush_interval_ms": 1000});
            filter_config(envoy, over)
        };
        let pc = if envoy {
            ProxyConfig::envoy(&cfg(100))
        } else {
            ProxyConfig::nginx(&cfg(100))
        };
        let mut proxy = Proxy::start(pc.workers(2)).unwrap();
        // Both tick every 100 ms; the boot (made at the first tick) is due to flush at 1.1 s.
        proxy.advance(950).unwrap();
        proxy
            .exchange(0, &Request::get("/a"), &Ending::status(200))
            .unwrap();
        // VM 0 next ticks at 1.95 s; VM 1 flushes at 1.1 s.
        assert!(proxy.reconfigure_vm(0, &cfg(1_000)).unwrap());
        let sent = kit::run_ok(&proxy, 300).unwrap();
        let first = sent.first().expect("a flush at 1.1 s");
        assert_eq!(first.call.vm, 1);
        assert_eq!(
            totals(&first.flush, "be").0,
            1,
            "envoy={envoy}: {:?}",
            first.flush
        );
        assert!(proxy.traps().is_empty(), "{:?}", proxy.traps());
    }
}
