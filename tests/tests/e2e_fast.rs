//! End to end, on the real Envoy: a total outage is paged within seconds, not minutes (issue "Seconds, not
//! minutes").
//!
//! - (i) be's upstream answers 503 to everything: the fast burn pages CRITICAL saying its short window's share
//!   ("… of requests fail in the last 10 s"), long before 10 % of the window has failed.
//! - (ii) ai's upstream process is killed (connection refused; Envoy answers its own 503s): CRITICAL at once from
//!   the fast burn, then DOWN from the proxy's own view ("the proxy cannot reach it: N of M requests in 10 s"),
//!   without waiting for the health check (every 10 min here), which runs at once to confirm.
//!
//! Stack settings: window 20 s, 1 s buckets and flushes, the long window's minimum volume out of reach (so that
//! only the fast detection can page); the fast burn and the passive DOWN on their defaults (10 s, 50 %, 20
//! requests; 10 s, 80 %, 10 requests). The delays on the product's defaults are measured by bench/run.sh.

// cfg(test) on the whole file lets clippy's allow-{unwrap,panic,indexing}-in-tests cover the helpers.
#![cfg(test)]

use std::time::{Duration, Instant};

use faultline_tests::process::wait_until;
use faultline_tests::stack::{self, Stack, StackOptions};
use faultline_tests::traffic::{self, Stop, Targets, TrafficPlan};

const TIMEOUT: Duration = Duration::from_secs(120);

#[test]
fn a_total_503_outage_and_a_killed_upstream_page_in_seconds() {
    let options = StackOptions {
        health_checked: vec!["ai".into()],
        health_interval: Duration::from_secs(600),
        health_timeout: Duration::from_secs(2),
        // The stack's 20 s window would reach WARNING within a second of a total outage; production's five
        // minutes need 15 s. Out of the way, so that what pages here is the fast detection alone.
        min_requests: 1_000_000,
        // Each change on its own, at once: the default group wait (10 s) would fold ai's CRITICAL and the DOWN
        // 3-4 s after it into one "DOWN" message, sent 10 s after the CRITICAL (measured: e2e_act).
        group_wait: Some(Duration::ZERO),
        ..StackOptions::default()
    };
    let mut stack = Stack::start(options).unwrap();
    let mut plan = TrafficPlan::new(
        &stack.envoy.url(""),
        Targets::cycle(&["GET /server/items", "POST /ai/chat"]).unwrap(),
        Stop::WhenStopped,
    );
    plan.connections = 4;
    plan.rate = Some(100.0);
    let load = traffic::spawn(&plan).unwrap();
    // A full window of healthy traffic first, so that the long window is far from its thresholds.
    std::thread::sleep(stack.options.window + Duration::from_secs(2));
    assert!(stack.alerts().is_empty(), "{:?}", stack.alerts());

    // (i) Every request of be answered 503 by the upstream itself.
    let onset = Instant::now();
    stack.service("be").unwrap().fail(1000, 503, &[]).unwrap();
    assert_eq!(stack.wait_for_alerts(1, TIMEOUT).unwrap(), ["be CRITICAL"]);
    let took = onset.elapsed();
    let title = stack.messages()[0]["embeds"][0]["title"].as_str().unwrap().to_string();
    assert!(
        title.starts_with("🔴 be — CRITICAL: ") && title.ends_with("% of requests fail in the last 10 s"),
        "{title}"
    );
    eprintln!("(i) 100 % 503: CRITICAL {took:?} after the onset");
    let be = stack::service_status(&stack.collector.status().unwrap(), "be").unwrap();
    assert!(be["health"].is_null(), "be has no health check: the proxy's counts alone paged it");

    // (ii) ai's process is killed: Envoy cannot connect and answers 503 itself.
    let onset = Instant::now();
    stack.service_mut("ai").unwrap().stop();
    let got = stack.wait_for_alerts(3, TIMEOUT).unwrap();
    assert_eq!(got[1..], ["ai CRITICAL", "ai DOWN"], "{got:?}");
    let took = onset.elapsed();
    let down = stack.messages()[2]["embeds"][0]["title"].as_str().unwrap().to_string();
    assert!(
        down.starts_with("🔴 ai — DOWN: the proxy cannot reach it: ")
            && down.contains(" requests in 10 s")
            && down.ends_with("(was CRITICAL)"),
        "{down}"
    );
    eprintln!("(ii) killed: DOWN {took:?} after the onset");
    // The health check confirms at once, long before its next turn (10 min): refused.
    let confirmed = wait_until(Duration::from_secs(20), || {
        let s = stack::service_status(&stack.collector.status().ok()?, "ai")?;
        (s["health"]["detail"] == "connection refused").then_some(())
    });
    assert!(confirmed.is_some(), "an immediate check: {:?}", stack.collector.status());
    assert!(onset.elapsed() < Duration::from_secs(60), "confirmed long before the 10 min schedule");
    let report = load.stop().unwrap();
    assert_eq!(report.failed(), 0, "Envoy answered every request: {report:?}");
}
