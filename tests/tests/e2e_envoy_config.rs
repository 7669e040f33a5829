//! The shipped `envoy/envoy.yaml`, run by the real Envoy 1.40 with the release filter: it validates, and it routes
//! each prefix of the team's layout to its service, from both workers, with the filter loaded on v8.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use faultline_tests::envoy::{self, Envoy, Layout};
use faultline_tests::paths;
use faultline_tests::process::free_port;
use faultline_tests::traffic::{self, Stop, Targets, TrafficPlan};
use faultline_tests::upstream::{Upstream, UpstreamOptions};

/// The shipped file, with only the `.wasm` path changed to the built filter, passes `envoy --mode validate`.
#[test]
fn shipped_config_validates_with_the_built_filter() {
    let mut doc = envoy::shipped_config().unwrap();
    let wasm = paths::filter_wasm().unwrap();
    let layout_keeps_ports = envoy::plugin_config(&doc).unwrap();
    let filters = doc
        .pointer_mut("/static_resources/listeners/0/filter_chains/0/filters/0/typed_config/http_filters")
        .and_then(|f| f.as_array_mut())
        .expect("the edge listener has HTTP filters");
    let wasm_filter = filters
        .iter_mut()
        .find(|f| f["name"] == "envoy.filters.http.wasm")
        .expect("the Faultline wasm filter is configured");
    assert_eq!(wasm_filter["typed_config"]["config"]["failure_policy"], "FAIL_OPEN");
    assert_eq!(wasm_filter["typed_config"]["config"]["vm_config"]["runtime"], "envoy.wasm.runtime.v8");
    wasm_filter["typed_config"]["config"]["vm_config"]["code"]["local"]["filename"] =
        serde_json::Value::String(wasm.display().to_string());
    // The plugin configuration is accepted by the filter's own validation, too.
    faultline_filter::config::parse(layout_keeps_ports.to_string().as_bytes()).unwrap();
    let path = envoy::write_config("envoy-validate", &doc).unwrap();
    envoy::validate(&path).unwrap();
}

/// A config Envoy rejects (an unknown field) makes [`envoy::validate`] fail: the check above can fail.
#[test]
fn validation_reports_a_broken_config() {
    let mut doc = envoy::shipped_config().unwrap();
    doc["static_resources"]["clusters"][0]["conect_timeout"] = serde_json::json!("1s");
    let path = envoy::write_config("envoy-invalid", &doc).unwrap();
    let err = envoy::validate(&path).unwrap_err();
    assert!(err.contains("conect_timeout"), "{err}");
}

/// Through Envoy (2 workers, the release filter), `/server/` reaches be, `/ai/` reaches ai, `/api/` and `/` reach
/// the frontend, and both workers take connections.
#[test]
fn routes_reach_their_services_from_both_workers() {
    let mut services = BTreeMap::new();
    for name in ["frontend", "be", "ai"] {
        services.insert(name, Upstream::launch(UpstreamOptions::new(name, "/health")).unwrap());
    }
    let layout = Layout {
        listen_port: 0,
        admin_port: 0,
        services: services.iter().map(|(n, u)| (n.to_string(), u.addr())).collect(),
        // Nothing listens there: flushes fail, which must not disturb traffic.
        collector: SocketAddr::from(([127, 0, 0, 1], free_port().unwrap())),
        wasm: paths::filter_wasm().unwrap(),
        plugin: serde_json::json!({"flush_interval_ms": 500, "merge_interval_ms": 100}),
    };
    let config = envoy::render(&envoy::shipped_config().unwrap(), &layout).unwrap();
    let envoy = Envoy::start(&config, 2).unwrap();

    let targets =
        Targets::cycle(&["GET /server/users/1", "POST /ai/chat", "GET /api/session", "GET /", "GET /about"]).unwrap();
    let mut plan = TrafficPlan::new(&envoy.url(""), targets, Stop::Count(500));
    plan.connections = 32;
    let report = traffic::run(&plan).unwrap();
    assert_eq!(report.sent, 500);
    assert_eq!(report.by_status.get(&200), Some(&500), "{report:?}");

    let served = |name: &str| services[name].served();
    assert_eq!(served("be").total(), 100);
    assert_eq!(served("ai").total(), 100);
    assert_eq!(served("frontend").total(), 300);
    assert_eq!(served("be").by_route.keys().collect::<Vec<_>>(), ["GET /server/users/1"]);
    assert_eq!(served("ai").by_route.keys().collect::<Vec<_>>(), ["POST /ai/chat"]);

    let workers = envoy.worker_connections().unwrap();
    assert_eq!(workers.len(), 2);
    assert!(workers.iter().sum::<u64>() >= 32, "32 connections in all: {workers:?}");
    // The kernel spreads connections over the workers' sockets: all 32 on one worker has odds of 2^-31.
    assert!(workers.iter().all(|&n| n > 0), "both workers took connections: {workers:?}");
    assert!(envoy.stat("wasm.envoy.wasm.runtime.v8.active").unwrap() >= 2, "a VM per worker");
    let log = envoy.log();
    assert!(!log.contains("Plugin configured to fail closed failed to load"), "{log}");
    assert!(!log.contains("Function: proxy_on"), "no filter callback failed:\n{log}");
}

/// The shipped Envoy and nginx configurations and the collector's example configuration fit together: the
/// filter's token is one the collector accepts for that proxy id, the collector cluster / nginx upstream is the
/// collector's listen address, and every service the proxies name is one the collector knows.
#[test]
fn shipped_proxy_configs_match_the_example_collector_config() {
    let example = paths::workspace_root().join("collector/faultline.example.toml");
    let collector = faultline_collector::config::Config::load(&example).unwrap();
    let accepts = |token: &str, proxy: &str| {
        collector
            .tokens
            .iter()
            .any(|t| t.token == token && t.proxies.as_ref().is_none_or(|p| p.iter().any(|x| x == proxy)))
    };
    let known = |service: &str| collector.services.iter().any(|s| s.name == service);

    let doc = envoy::shipped_config().unwrap();
    let plugin = faultline_filter::config::parse(envoy::plugin_config(&doc).unwrap().to_string().as_bytes()).unwrap();
    let proxy = plugin.proxy_id.as_deref().unwrap();
    let c = plugin.collector.as_ref().unwrap();
    assert!(accepts(&c.token, proxy), "the collector accepts Envoy's token for proxy {proxy}");
    let clusters = doc["static_resources"]["clusters"].as_array().unwrap();
    let collector_cluster = clusters.iter().find(|k| k["name"] == c.upstream.as_str()).expect("the collector cluster");
    let endpoint = &collector_cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"];
    let sock = &endpoint["address"]["socket_address"];
    assert_eq!(format!("{}:{}", sock["address"].as_str().unwrap(), sock["port_value"]), collector.listen.to_string());
    for k in clusters.iter().filter(|k| k["name"] != c.upstream.as_str()) {
        assert!(known(k["name"].as_str().unwrap()), "cluster {} is a service of the collector", k["name"]);
    }

    let nginx = std::fs::read_to_string(paths::workspace_root().join("nginx/nginx.conf")).unwrap();
    let configs: Vec<&str> =
        nginx.lines().filter_map(|l| l.trim().strip_prefix("proxy_wasm faultline '")?.strip_suffix("';")).collect();
    assert_eq!(configs.len(), 4, "one per location");
    for text in configs {
        let cfg = faultline_filter::config::parse(text.as_bytes()).unwrap();
        let c = cfg.collector.as_ref().unwrap();
        assert!(accepts(&c.token, cfg.proxy_id.as_deref().unwrap()), "nginx token accepted: {text}");
        assert_eq!(c.upstream, collector.listen.to_string(), "nginx flushes to the collector's address");
        assert!(known(cfg.service.as_deref().unwrap()), "nginx service known: {text}");
    }
}
