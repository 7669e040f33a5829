//! End to end: the collector's counts equal what clients were actually answered through the real Envoy (2 workers,
//! 32 connections spread over both), per service and status class — across a collector killed with SIGKILL and
//! restarted under load (nothing lost, nothing counted twice), and across an Envoy restart, whose new boot (fresh
//! shared memory) makes no spike.

// cfg(test) on the whole file lets clippy's allow-{unwrap,panic,indexing}-in-tests cover the helpers.
#![cfg(test)]

use std::collections::BTreeMap;
use std::time::Duration;

use faultline_tests::stack::{self, SERVICES, Stack, StackOptions};
use faultline_tests::traffic::{self, Stop, Targets, TrafficPlan, TrafficReport};

const SETTLE: Duration = Duration::from_secs(60);

const TARGETS: [&str; 6] =
    ["GET /server/users/7/orders", "POST /server/cart", "POST /ai/chat", "GET /api/session", "GET /", "GET /about"];

/// Answers per service: (responses, 5xx, 4xx), from the paths of the report.
fn per_service(report: &TrafficReport) -> BTreeMap<&'static str, (u64, u64, u64)> {
    let mut out: BTreeMap<&str, (u64, u64, u64)> = SERVICES.iter().map(|(n, _, _)| (*n, (0, 0, 0))).collect();
    for (path, statuses) in &report.by_path {
        let p = path.split_once(' ').map(|(_, p)| p).unwrap_or(path);
        let service = if p.starts_with("/server/") {
            "be"
        } else if p.starts_with("/ai/") {
            "ai"
        } else {
            "frontend"
        };
        let e = out.get_mut(service).unwrap();
        for (status, n) in statuses {
            e.0 += n;
            if (500..600).contains(status) {
                e.1 += n;
            }
            if (400..500).contains(status) {
                e.2 += n;
            }
        }
    }
    out
}

fn add(a: &mut BTreeMap<&'static str, (u64, u64, u64)>, b: &BTreeMap<&'static str, (u64, u64, u64)>) {
    for (k, v) in b {
        let e = a.entry(k).or_default();
        e.0 += v.0;
        e.1 += v.1;
        e.2 += v.2;
    }
}

fn assert_collector_counts(stack: &Stack, expected: &BTreeMap<&'static str, (u64, u64, u64)>) {
    for (service, (responses, errors, client_errors)) in expected {
        stack.wait_for_totals(service, *responses, *errors, SETTLE).unwrap();
        let status = stack.collector.status().unwrap();
        let s = stack::service_status(&status, service).unwrap();
        assert_eq!(s["totals"]["status_4xx"].as_u64(), Some(*client_errors), "{service} 4xx: {s}");
    }
}

fn load(stack: &Stack) -> traffic::TrafficHandle {
    let mut plan = TrafficPlan::new(&stack.envoy.url(""), Targets::cycle(&TARGETS).unwrap(), Stop::WhenStopped);
    plan.connections = 32;
    plan.rate = Some(200.0);
    traffic::spawn(&plan).unwrap()
}

#[test]
fn collector_counts_equal_answers_across_workers_collector_kill_and_envoy_restart() {
    let mut stack = Stack::start(StackOptions::default()).unwrap();
    // Below every threshold: 2% 503 on be, 5% 404 on the frontend (4xx, not failures), ai clean.
    stack.service("be").unwrap().fail(40, 503, &["GET /server/users/:id/orders"]).unwrap();
    stack.service("frontend").unwrap().fail(50, 404, &[]).unwrap();

    // Under load, the collector is killed (SIGKILL) and restarted on its state; flushes fail meanwhile.
    let first = load(&stack);
    std::thread::sleep(Duration::from_secs(5));
    stack.collector.kill9();
    std::thread::sleep(Duration::from_secs(3));
    stack.collector.restart().unwrap();
    std::thread::sleep(Duration::from_secs(5));
    let first = first.stop().unwrap();
    assert_eq!(first.failed(), 0, "{first:?}");
    assert!(first.server_errors() > 0 && first.by_status.get(&404).copied().unwrap_or(0) > 0, "{first:?}");
    let mut expected = per_service(&first);
    assert_collector_counts(&stack, &expected);

    // Both workers served (the kernel spreads 32 connections over the two workers' sockets).
    let workers = stack.envoy.worker_connections().unwrap();
    assert!(workers.iter().all(|&n| n > 0), "both workers took connections: {workers:?}");

    // Envoy restarts: a new boot with fresh shared memory. Its counters start at zero; the collector adds them
    // as a new series, so its totals go on from the answers, neither doubled nor lost.
    stack.envoy.restart().unwrap();
    let second = load(&stack);
    std::thread::sleep(Duration::from_secs(5));
    let second = second.stop().unwrap();
    assert_eq!(second.failed(), 0, "{second:?}");
    add(&mut expected, &per_service(&second));
    assert_collector_counts(&stack, &expected);

    // Nothing crossed a threshold, so nothing was said.
    std::thread::sleep(Duration::from_secs(2));
    assert!(stack.alerts().is_empty(), "{:?}", stack.alerts());
    let log = stack.envoy.log();
    assert!(!log.contains("Function: proxy_on"), "no filter callback failed:\n{log}");
}
