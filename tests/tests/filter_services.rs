//! Which service and which route the real filter `.wasm` counts a response under, through the
//! test host: configuration, then Envoy's cluster name, then the default (nginx has no
//! cluster names and logs an error per unknown property); route normalization; streams that
//! end without response headers.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use faultline_tests::host::kit::{self, config, settle, totals};
use faultline_tests::host::{Ending, LogLevel, Origin, Proxy, ProxyConfig, Request};
use serde_json::json;

fn start(envoy: bool, overrides: serde_json::Value, workers: usize) -> Proxy {
    let cfg = config(envoy, overrides);
    let pc = if envoy { ProxyConfig::envoy(&cfg) } else { ProxyConfig::nginx(&cfg) };
    let proxy = Proxy::start(pc.workers(workers)).unwrap_or_else(|e| panic!("starting the proxy: {e}"));
    assert!(proxy.started().iter().all(|s| s.vm_start && s.configure), "{:?}", proxy.started());
    proxy
}

#[test]
fn service_name_from_config_then_cluster_then_default_envoy() {
    let proxy = start(true, json!({"default_service": "fallback"}), 2);
    for w in 0..2 {
        proxy.exchange(w, &Request::get("/a").cluster("be"), &Ending::status(500)).unwrap();
        proxy.exchange(w, &Request::get("/a"), &Ending::status(200)).unwrap();
    }
    let last = settle(&proxy).unwrap();
    assert_eq!(totals(&last, "be"), (2, 0, 2, 0), "{last:?}");
    assert_eq!(totals(&last, "fallback"), (2, 0, 0, 0), "{last:?}");

    let proxy = start(true, json!({"service": "from-config", "default_service": "fallback"}), 2);
    proxy.exchange(0, &Request::get("/a").cluster("be"), &Ending::status(500)).unwrap();
    proxy.exchange(1, &Request::get("/a"), &Ending::status(500)).unwrap();
    let last = settle(&proxy).unwrap();
    assert_eq!(totals(&last, "from-config"), (2, 0, 2, 0), "{last:?}");
    assert!(kit::service(&last, "be").is_none() && kit::service(&last, "fallback").is_none(), "{last:?}");

    let proxy = start(true, json!({"default_service": null}), 1);
    proxy.exchange(0, &Request::get("/a"), &Ending::status(200)).unwrap();
    assert_eq!(totals(&settle(&proxy).unwrap(), "unknown"), (1, 0, 0, 0));
}

#[test]
fn service_name_on_nginx_comes_from_config_or_default() {
    // nginx has no cluster name: a cluster set on the request is invisible to the filter.
    let proxy = start(false, json!({"default_service": "fallback"}), 2);
    proxy.exchange(0, &Request::get("/a").cluster("be"), &Ending::status(502)).unwrap();
    proxy.exchange(1, &Request::get("/a"), &Ending::status(200)).unwrap();
    let last = settle(&proxy).unwrap();
    assert_eq!(totals(&last, "fallback"), (2, 0, 1, 0), "{last:?}");
    assert_eq!(last.services.len(), 1, "{last:?}");

    let proxy = start(false, json!({"service": "be"}), 2);
    proxy.exchange(0, &Request::get("/a"), &Ending::status(502)).unwrap();
    assert_eq!(totals(&settle(&proxy).unwrap(), "be"), (1, 0, 1, 0));
    assert!(proxy.traps().is_empty(), "{:?}", proxy.traps());
}

#[test]
fn routes_are_normalized_with_first_and_last_seen() {
    let proxy = start(true, json!({"service": "be"}), 2);
    let t1 = proxy.now_ms();
    proxy.exchange(0, &Request::get("/server/users/42/orders?x=1"), &Ending::status(503)).unwrap();
    proxy.advance(250).unwrap();
    proxy.exchange(1, &Request::get("/server/users/77/orders"), &Ending::status(500)).unwrap();
    let t2 = proxy.now_ms();
    let uuid = "/server/users/550e8400-e29b-41d4-a716-446655440000/orders";
    proxy.exchange(0, &Request::new("POST", uuid), &Ending::status(502)).unwrap();
    proxy.exchange(1, &Request::get("/api/items/0a1b2c3d4e5f6789"), &Ending::status(504)).unwrap();
    proxy.exchange(0, &Request::get("/s/Ab3kZ9qLm2Xw8Rt5Yp1Vn7"), &Ending::status(500)).unwrap();
    proxy.exchange(1, &Request::get("/fine/path/1"), &Ending::status(200)).unwrap();
    proxy.exchange(0, &Request::get("/client/err/1"), &Ending::status(404)).unwrap();
    let last = settle(&proxy).unwrap();
    let svc = kit::service(&last, "be").unwrap();
    let route = |name: &str| {
        svc.routes.iter().find(|r| r.route == name).unwrap_or_else(|| panic!("no route {name:?} in {:?}", svc.routes))
    };
    let orders = route("GET /server/users/:id/orders");
    assert_eq!((orders.count, orders.first_seen_ms, orders.last_seen_ms), (2, t1, t2));
    assert_eq!(route("POST /server/users/:id/orders").count, 1);
    assert_eq!(route("GET /api/items/:id").count, 1);
    assert_eq!(route("GET /s/:id").count, 1);
    assert_eq!(svc.routes.len(), 4, "only 5xx make routes: {:?}", svc.routes);
    assert_eq!((svc.responses, svc.status_4xx, svc.status_5xx), (7, 1, 5));
}

/// A stream that ends without response headers is judged by `response.code` in the log
/// phase, in each proxy's encoding: a code is that response, none (or nginx's 499, the
/// client closing) is a request without response.
#[test]
fn streams_without_response_headers_use_the_response_code_property() {
    let envoy = start(true, json!({"service": "be"}), 1);
    let code = |c: i64| c.to_le_bytes();
    for req in [
        Request::get("/a").property("response.code", code(503)),
        Request::get("/a").property("response.code", code(200)),
    ] {
        envoy.exchange(0, &req, &Ending::NoResponse).unwrap();
    }
    envoy.exchange(0, &Request::get("/a"), &Ending::NoResponse).unwrap();
    assert_eq!(totals(&settle(&envoy).unwrap(), "be"), (2, 0, 1, 1));

    let nginx = start(false, json!({"service": "be"}), 1);
    for c in ["502", "499", "404"] {
        nginx.exchange(0, &Request::get("/a").property("response.code", c), &Ending::NoResponse).unwrap();
    }
    nginx.exchange(0, &Request::get("/a"), &Ending::NoResponse).unwrap();
    assert_eq!(totals(&settle(&nginx).unwrap(), "be"), (2, 1, 1, 2));
    assert!(envoy.traps().is_empty() && nginx.traps().is_empty());
}

/// Envoy names the cluster on routed requests only: a burst of unrouted ones (404 "no
/// route", direct responses) at start must not make the filter stop asking, or every later
/// request would be counted under `default_service`.
#[test]
fn envoy_cluster_names_still_used_after_many_unrouted_requests() {
    let proxy = start(true, json!({"default_service": "fallback"}), 1);
    for _ in 0..200 {
        proxy.exchange(0, &Request::get("/nowhere"), &Ending::status(404)).unwrap();
    }
    for _ in 0..10 {
        proxy.exchange(0, &Request::get("/api/1").cluster("be"), &Ending::status(503)).unwrap();
    }
    let last = settle(&proxy).unwrap();
    assert_eq!(totals(&last, "fallback"), (200, 200, 0, 0), "{last:?}");
    assert_eq!(totals(&last, "be"), (10, 0, 10, 0), "{last:?}");
}

/// nginx logs an error for every unknown property read: without a `service`, asking for the
/// cluster name on every request would flood its error log.
#[test]
fn nginx_error_log_is_not_flooded_by_cluster_name_lookups() {
    let proxy = start(false, json!({"default_service": "fallback"}), 2);
    for i in 0..1000 {
        proxy.exchange(i % 2, &Request::get("/a"), &Ending::status(200)).unwrap();
    }
    assert_eq!(totals(&settle(&proxy).unwrap(), "fallback"), (1000, 0, 0, 0));
    let host_errors = proxy.logs().iter().filter(|l| l.origin == Origin::Host && l.level >= LogLevel::Error).count();
    assert!(host_errors <= 2 * 64, "{host_errors} error lines in nginx's log for 1000 requests");
}
