//! Bad plugin configuration reaching the real filter `.wasm`: each problem is logged with the
//! key's name (never the token), traffic passes untouched, nothing is counted or flushed (the
//! refusal is recorded for another root context to flush: `filter_refusals.rs`), and nothing
//! traps.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use faultline_tests::host::kit::{FLUSH_MS, TOKEN, config};
use faultline_tests::host::{Ending, LogLevel, Proxy, ProxyConfig, Request};
use serde_json::json;

fn check_refused(envoy: bool, plugin_config: &str, must_name: &str) {
    let pc = if envoy { ProxyConfig::envoy(plugin_config) } else { ProxyConfig::nginx(plugin_config) };
    let proxy = Proxy::start(pc).unwrap_or_else(|e| panic!("starting with {plugin_config:?}: {e}"));
    // Envoy rejects the whole listener when on_configure returns false: to pass traffic the
    // filter must accept the configuration and then stay out of the way.
    assert!(proxy.started().iter().all(|s| s.vm_start && s.configure), "{plugin_config}: {:?}", proxy.started());
    for i in 0..20 {
        for w in 0..proxy.workers() {
            let status = if i % 2 == 0 { 503 } else { 200 };
            let out = proxy.exchange(w, &Request::get("/x/1").cluster("be"), &Ending::status(status)).unwrap();
            assert!(out.passed(), "{plugin_config}: {out:?}");
        }
        proxy.exchange(0, &Request::get("/gone"), &Ending::NoResponse).unwrap();
    }
    proxy.advance(3 * FLUSH_MS).unwrap();
    assert!(proxy.pending_calls().is_empty(), "{plugin_config}: flushed anyway: {:?}", proxy.pending_calls());
    // Nothing counted: the only value in shared data may be the refusal, for a flusher to carry (when the
    // configuration is a JSON object that can say its zone).
    let keys = proxy.store_keys();
    assert!(keys.is_empty() || keys == ["faultline/refusals"], "{plugin_config}: counted anyway: {keys:?}");
    let logs = proxy.logs();
    assert!(
        logs.iter().any(|l| l.level >= LogLevel::Warn && l.text.contains(must_name)),
        "{plugin_config}: no warning naming {must_name:?} in {logs:?}"
    );
    assert!(logs.iter().all(|l| !l.text.contains(TOKEN)), "{plugin_config}: the token was logged");
    assert!(proxy.traps().is_empty(), "{plugin_config}: {:?}", proxy.traps());
}

#[test]
fn unknown_key_is_named_and_traffic_passes() {
    for envoy in [true, false] {
        check_refused(envoy, &config(envoy, json!({"flush_intervall_ms": 5000})), "flush_intervall_ms");
        let nested = config(envoy, json!({"collector": {"upstream": "x", "token": TOKEN, "tokn": "y"}}));
        check_refused(envoy, &nested, "tokn");
    }
}

#[test]
fn wrong_types_and_values_are_named_and_traffic_passes() {
    for envoy in [true, false] {
        for (over, key) in [
            (json!({"flush_interval_ms": "5000"}), "flush_interval_ms"),
            (json!({"merge_interval_ms": -1}), "merge_interval_ms"),
            (json!({"max_routes": 1.5}), "max_routes"),
            (json!({"max_routes": 100000}), "max_routes"),
            (json!({"proxy_id": 7}), "proxy_id"),
            (json!({"service": ""}), "service"),
            (json!({"shm_zone": ["faultline"]}), "shm_zone"),
            (json!({"collector": {"upstream": 5, "token": TOKEN}}), "upstream"),
            (json!({"collector": "faultline_collector"}), "collector"),
        ] {
            check_refused(envoy, &config(envoy, over), key);
        }
    }
}

#[test]
fn empty_or_malformed_configuration_is_logged_and_traffic_passes() {
    for envoy in [true, false] {
        for (cfg, hint) in
            [("", "empty"), ("   ", "empty"), ("{\"proxy_id\":", "JSON"), ("[1,2]", "object"), ("null", "object")]
        {
            check_refused(envoy, cfg, hint);
        }
    }
}

#[test]
fn a_valid_configuration_counts_as_the_contrast() {
    // The same traffic as above with a good configuration is counted and flushed, so the
    // assertions of the other tests can fail.
    let proxy = Proxy::start(ProxyConfig::envoy(&config(true, json!({"service": "be"})))).unwrap();
    proxy.exchange(0, &Request::get("/x/1"), &Ending::status(503)).unwrap();
    proxy.advance(3 * FLUSH_MS).unwrap();
    assert!(!proxy.pending_calls().is_empty() || !proxy.answered_calls().is_empty());
    assert!(!proxy.store_keys().is_empty());
}
