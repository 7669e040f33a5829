//! End to end: the collector's health checks against a real service behind the real Envoy. The ai service's health
//! endpoint fails (DOWN, then RESOLVED when it recovers: nothing else was wrong); then the whole service stops
//! while clients still call it through Envoy (DOWN from the health check; its 5xx — Envoy's own 503s — reach
//! CRITICAL under it and are not paged on top), and comes back: "UP, still CRITICAL", red, with the owners
//! mentioned — never a green UP while half its requests failed — and its living message reads CRITICAL; then
//! the rate drains (an edit) and the incident ends.

// cfg(test) on the whole file lets clippy's allow-{unwrap,panic,indexing}-in-tests cover the helpers.
#![cfg(test)]

use std::time::Duration;

use faultline_tests::stack::{self, Stack, StackOptions};
use faultline_tests::traffic::{self, Stop, Targets, TrafficPlan};
use faultline_tests::upstream::Health;

const TIMEOUT: Duration = Duration::from_secs(120);

#[test]
fn ai_health_fails_then_recovers_then_the_service_stops_and_restarts() {
    let options = StackOptions { health_checked: vec!["ai".into()], ..StackOptions::default() };
    let mut stack = Stack::start(options).unwrap();

    // Healthy: several checks pass, nothing is said.
    let ai = stack.service("ai").unwrap();
    faultline_tests::process::wait_until(TIMEOUT, || {
        (ai.served().health.get(&200).copied().unwrap_or(0) >= 3).then_some(())
    })
    .expect("the collector checks ai's health endpoint");
    assert!(stack.alerts().is_empty(), "{:?}", stack.alerts());

    // The health endpoint answers 503: DOWN, saying why.
    ai.set_health(Health::Failing(503));
    assert_eq!(stack.wait_for_alerts(1, TIMEOUT).unwrap(), ["ai DOWN"]);
    let down = stack.messages()[0]["embeds"][0]["title"].as_str().unwrap().to_string();
    assert!(down.contains("503"), "the DOWN alert says the status: {down}");

    // It recovers, and nothing else was wrong: the incident ends, saying the downtime.
    ai.set_health(Health::Up);
    assert_eq!(stack.wait_for_alerts(2, TIMEOUT).unwrap(), ["ai DOWN", "ai RESOLVED"]);
    let up = stack.messages()[1]["embeds"][0]["title"].as_str().unwrap().to_string();
    assert!(up.starts_with("✅ ai — RESOLVED: UP after ") && up.ends_with(" down"), "{up}");

    // Clients call /ai/ through Envoy; then the service stops (connections refused). The clients pause while
    // it stops, so that the health check, not the rate of Envoy's 503s, is first to notice (which one is first
    // is a race otherwise: both are right, but this test wants the exact sequence).
    let mut plan =
        TrafficPlan::new(&stack.envoy.url(""), Targets::cycle(&["POST /ai/chat"]).unwrap(), Stop::WhenStopped);
    plan.connections = 4;
    plan.rate = Some(50.0);
    let first = traffic::spawn(&plan).unwrap();
    std::thread::sleep(Duration::from_secs(4));
    let before = first.stop().unwrap();
    stack.service_mut("ai").unwrap().stop();
    assert_eq!(stack.wait_for_alerts(3, TIMEOUT).unwrap(), ["ai DOWN", "ai RESOLVED", "ai DOWN"]);
    let down = stack.messages()[2]["embeds"][0]["title"].as_str().unwrap().to_string();
    // Each check opens a fresh connection, so a stopped service reads as refused (not a pooled reset).
    assert!(down.contains("refused"), "the DOWN alert says the connection was refused: {down}");

    // While it is down, clients call again and Envoy answers 503 for it (counted as the service's 5xx), with
    // enough volume to be CRITICAL — but a DOWN service does not page again for its rate.
    assert_eq!(before.failed(), 0, "{before:?}");
    let load = traffic::spawn(&plan).unwrap();
    let errors_before = load.snapshot().server_errors();
    faultline_tests::process::wait_until(TIMEOUT, || {
        let status = stack.collector.status().ok()?;
        let ai = stack::service_status(&status, "ai")?;
        (ai["level"] == "critical" && ai["state"] == "down").then_some(())
    })
    .unwrap_or_else(|| panic!("ai's rate reaches CRITICAL while DOWN: {:?}", stack.collector.status()));
    assert!(load.snapshot().server_errors() > errors_before, "Envoy answered 503 for the stopped service");
    assert_eq!(stack.alerts().len(), 3, "no rate alert while DOWN: {:?}", stack.alerts());

    // Back: UP, but the incident is not over — its rate is CRITICAL. Red, and it pages; the living message too.
    stack.service_mut("ai").unwrap().start().unwrap();
    assert_eq!(stack.wait_for_alerts(4, TIMEOUT).unwrap()[3], "ai UP, still CRITICAL");
    let up = &stack.messages()[3];
    assert!(up["embeds"][0]["title"].as_str().unwrap().starts_with("🔴 ai — UP, still CRITICAL: "), "{up}");
    assert_eq!(up["embeds"][0]["color"], 0xE0_2B_2B, "red: {up}");
    faultline_tests::process::wait_until(TIMEOUT, || {
        stack.living_title("ai").starts_with("🔴 ai — CRITICAL: ").then_some(())
    })
    .unwrap_or_else(|| panic!("ai's living message reads CRITICAL: {:?}", stack.living_title("ai")));
    let living = stack.living("ai").unwrap();
    assert_eq!(living.current()["embeds"][0]["color"], 0xE0_2B_2B, "red: {:?}", living.current());
    // With the 503s draining out of the window (through WARNING, in the living message), to the end.
    let resolved = faultline_tests::process::wait_until(TIMEOUT, || {
        let alerts = stack.alerts();
        (alerts.last().map(String::as_str) == Some("ai RESOLVED")).then_some(alerts)
    })
    .unwrap_or_else(|| panic!("the incident resolves once the rate drains: {:?}", stack.alerts()));
    assert_eq!(resolved[4..], ["ai RESOLVED"], "after UP only the end is told: {resolved:?}");
    let end = stack.messages()[resolved.len() - 1]["embeds"][0]["title"].as_str().unwrap().to_string();
    assert!(end.starts_with("✅ ai — RESOLVED after ") && end.contains("worst DOWN"), "{end}");
    let report = load.stop().unwrap();
    assert_eq!(report.failed(), 0, "Envoy answered every request, 503 while ai was stopped: {report:?}");
}
