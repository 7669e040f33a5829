//! The shipped `failure_policy` checked on the real Envoy 1.40: a Faultline VM that traps must not take traffic
//! down. A minimal proxy-wasm module that traps on every response stands in for a broken filter (the real one is
//! built never to trap); the shipped configuration loads it, and the same module under FAIL_CLOSED shows the
//! difference the policy makes.

// cfg(test) on the whole file lets clippy's allow-{unwrap,panic,indexing}-in-tests cover the helpers.
#![cfg(test)]

use std::net::SocketAddr;

use faultline_tests::envoy::{self, Envoy, Layout};
use faultline_tests::process::free_port;
use faultline_tests::traffic::{self, Stop, Targets, TrafficPlan, TrafficReport};
use faultline_tests::upstream::{Upstream, UpstreamOptions};

/// Proxy-wasm ABI 0.2.1, the least Envoy loads: every HTTP response traps the VM.
const TRAPPING_FILTER: &str = r#"
(module
  (memory (export "memory") 1)
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_memory_allocate") (param i32) (result i32) i32.const 1024)
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_vm_start") (param i32 i32) (result i32) i32.const 1)
  (func (export "proxy_on_configure") (param i32 i32) (result i32) i32.const 1)
  (func (export "proxy_on_response_headers") (param i32 i32 i32) (result i32) unreachable)
)
"#;

/// 20 requests through an Envoy (1 worker) running the shipped config with the trapping module and `policy`.
fn run_with(policy: Option<&str>) -> (TrafficReport, u64, String) {
    let dir = faultline_tests::paths::target_dir().join("test-logs");
    std::fs::create_dir_all(&dir).unwrap();
    let wasm = dir.join(format!("trapping-filter-{}-{}.wasm", std::process::id(), policy.unwrap_or("shipped")));
    std::fs::write(&wasm, wat::parse_str(TRAPPING_FILTER).unwrap()).unwrap();
    let be = Upstream::launch(UpstreamOptions::new("be", "/health")).unwrap();
    let layout = Layout {
        listen_port: 0,
        admin_port: 0,
        services: [("be".to_string(), be.addr())].into_iter().collect(),
        collector: SocketAddr::from(([127, 0, 0, 1], free_port().unwrap())),
        wasm,
        plugin: serde_json::json!({}),
    };
    let mut config = envoy::render(&envoy::shipped_config().unwrap(), &layout).unwrap();
    if let Some(p) = policy {
        let plugin = config
            .pointer_mut(
                "/static_resources/listeners/0/filter_chains/0/filters/0/typed_config/\
                 http_filters/0/typed_config/config",
            )
            .unwrap();
        plugin["failure_policy"] = p.into();
    }
    let envoy = Envoy::start(&config, 1).unwrap();
    let report =
        traffic::run(&TrafficPlan::new(&envoy.url(""), Targets::cycle(&["GET /server/x"]).unwrap(), Stop::Count(20)))
            .unwrap();
    (report, be.served().total(), envoy.log())
}

#[test]
fn a_trapping_filter_does_not_take_traffic_down_under_the_shipped_policy() {
    let (report, upstream, log) = run_with(None);
    assert!(log.contains("unreachable"), "the module trapped: {log}");
    assert_eq!(report.failed(), 0, "{report:?}");
    assert_eq!(upstream, 20, "every request reached the service");
    // Envoy 1.40 answers 503 for the one response in flight when the VM trapped; after that the dead VM is
    // skipped and every response passes.
    assert!(report.by_status.get(&200).copied().unwrap_or(0) >= 19, "{report:?}");

    let (closed, upstream, _) = run_with(Some("FAIL_CLOSED"));
    assert_eq!(closed.by_status.get(&503), Some(&20), "fail closed: every request fails: {closed:?}");
    assert!(upstream <= 1, "after the trap nothing reaches the service: {upstream}");
}
