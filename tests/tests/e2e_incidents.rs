//! End to end, on the real Envoy: one incident per service, every message's title, colour and mentions
//! following the service's worst state after the change (issue "alerts that never lie"), and each incident's
//! living message following it in place (issue "act on it"): a lower level only edits the living message; an
//! UP while the service still fails is told, or the passing check would read as the end.
//!
//! - ai goes DOWN (health check), its 5xx rate reaches CRITICAL while DOWN, and its check passes again:
//!   "UP, still CRITICAL", red, its owners mentioned, the living message reading CRITICAL; then the rate drains
//!   and the incident ends.
//! - ai goes DOWN while its rate is WARNING and comes back: "UP, still WARNING", orange.
//! - be's rate goes CRITICAL first, then its health check flaps under it: DOWN (was CRITICAL), UP still
//!   CRITICAL, DOWN, UP still CRITICAL — one incident, never RESOLVED until both are fine, its duration from
//!   the first message.
//! - The collector is stopped for longer than the window while be is CRITICAL and traffic goes on: at restart
//!   nothing is resolved and nothing raised again; the incident goes on, and ends once be is fixed.
//!
//! Window 20 s (1 s buckets), flushes every second, health checks every 2 s (timeout 1.5 s).

// cfg(test) on the whole file lets clippy's allow-{unwrap,panic,indexing}-in-tests cover the helpers.
#![cfg(test)]

use std::time::Duration;

use faultline_tests::process::wait_until;
use faultline_tests::stack::{self, Stack, StackOptions};
use faultline_tests::traffic::{self, Stop, Targets, TrafficPlan};
use faultline_tests::upstream::Health;
use serde_json::Value;

const TIMEOUT: Duration = Duration::from_secs(150);
const RED: u64 = 0xE0_2B_2B;
const ORANGE: u64 = 0xF0_A0_20;
const GREEN: u64 = 0x2E_B6_7D;
const OWNERS: &str = "424242424242424242";

fn options() -> StackOptions {
    StackOptions {
        health_checked: vec!["ai".into(), "be".into()],
        mention_roles: vec![OWNERS.into()],
        // Its failures are answers (503, 500); a loaded machine (the restart in 4.) must not time a check out.
        health_interval: Duration::from_secs(2),
        health_timeout: Duration::from_millis(1500),
        ..StackOptions::default()
    }
}

/// Title, colour, and whether the owners were mentioned, of message `i`.
fn look(stack: &Stack, i: usize) -> (String, u64, bool) {
    let m: Value = stack.messages().get(i).cloned().unwrap_or(Value::Null);
    let title = m.pointer("/embeds/0/title").and_then(Value::as_str).unwrap_or("").to_string();
    let colour = m.pointer("/embeds/0/color").and_then(Value::as_u64).unwrap_or(0);
    let roles = m.pointer("/allowed_mentions/roles").cloned().unwrap_or(Value::Null);
    let pinged = roles == serde_json::json!([OWNERS])
        && m["content"].as_str().is_some_and(|c| c.starts_with(&format!("<@&{OWNERS}>")));
    (title, colour, pinged)
}

fn wait_state(stack: &Stack, service: &str, what: &str, pred: impl Fn(&Value) -> bool) {
    wait_until(TIMEOUT, || {
        let status = stack.collector.status().ok()?;
        stack::service_status(&status, service).filter(|s| pred(s)).map(|_| ())
    })
    .unwrap_or_else(|| panic!("{service}: {what} never happened: {:?}", stack.collector.status()));
}

/// Waits until `service`'s living message reads `prefix…`; returns its title and colour.
fn wait_living(stack: &Stack, service: &str, prefix: &str) -> (String, u64) {
    wait_until(TIMEOUT, || {
        let title = stack.living_title(service);
        title.starts_with(prefix).then_some(())
    })
    .unwrap_or_else(|| panic!("{service}'s living message never read {prefix:?}: {:?}", stack.living_title(service)));
    let m = stack.living(service).unwrap();
    let tag = format!("incident of {service}");
    let e = m.current()["embeds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["footer"]["text"].as_str().unwrap_or("").contains(&tag))
        .cloned()
        .unwrap();
    (e["title"].as_str().unwrap().to_string(), e["color"].as_u64().unwrap_or(0))
}

/// Field `name` of `service`'s living embed as it reads now.
fn living_field(stack: &Stack, service: &str, name: &str) -> String {
    let m = stack.living(service).unwrap();
    let tag = format!("incident of {service}");
    let e = m.current()["embeds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["footer"]["text"].as_str().unwrap_or("").contains(&tag))
        .cloned()
        .unwrap();
    stack::field(&serde_json::json!({ "embeds": [e] }), name)
}

/// Waits for the incident of `service` to end, and returns the alerts after `from`.
fn drain(stack: &Stack, service: &str, from: usize) -> Vec<String> {
    let done = wait_until(TIMEOUT, || {
        let a = stack.alerts();
        (a.last().map(String::as_str) == Some(&format!("{service} RESOLVED"))).then_some(a)
    })
    .unwrap_or_else(|| panic!("{service}'s incident ends: {:?}", stack.alerts()));
    done[from..].to_vec()
}

#[test]
fn down_and_rate_together_are_one_incident_said_in_its_worst_state() {
    let mut stack = Stack::start(options()).unwrap();
    let mut plan = TrafficPlan::new(
        &stack.envoy.url(""),
        Targets::cycle(&["POST /ai/chat", "GET /server/items"]).unwrap(),
        Stop::WhenStopped,
    );
    plan.connections = 4;
    plan.rate = Some(100.0);
    let load = traffic::spawn(&plan).unwrap();
    let checks = |stack: &Stack| stack.service("ai").unwrap().served().health.get(&200).copied().unwrap_or(0);
    wait_until(TIMEOUT, || (checks(&stack) >= 3).then_some(())).expect("ai is health-checked");

    // 1. ai DOWN; its rate reaches CRITICAL under it (not paged); it passes its check again.
    stack.service("ai").unwrap().set_health(Health::Failing(503));
    assert_eq!(stack.wait_for_alerts(1, TIMEOUT).unwrap(), ["ai DOWN"]);
    assert_eq!(look(&stack, 0), ("🔴 ai — DOWN: status 503 (1 failed check)".into(), RED, true));
    stack.service("ai").unwrap().fail(500, 503, &[]).unwrap();
    wait_state(&stack, "ai", "CRITICAL under DOWN", |s| s["level"] == "critical" && s["state"] == "down");
    assert_eq!(stack.alerts().len(), 1, "no rate page while DOWN: {:?}", stack.alerts());
    stack.service("ai").unwrap().set_health(Health::Up);
    assert_eq!(stack.wait_for_alerts(2, TIMEOUT).unwrap()[1], "ai UP, still CRITICAL");
    let (title, colour, pinged) = look(&stack, 1);
    assert!(title.starts_with("🔴 ai — UP, still CRITICAL: ") && title.ends_with("% of requests fail"), "{title}");
    assert_eq!((colour, pinged), (RED, true), "red, and its owners are told: never a green UP");
    let (title, colour) = wait_living(&stack, "ai", "🔴 ai — CRITICAL: ");
    assert!(title.ends_with("% of requests fail"), "{title}");
    assert_eq!(colour, RED, "the living message reads CRITICAL too");
    assert!(living_field(&stack, "ai", "Timeline").contains("better: CRITICAL"));
    // Fixed: the window drains (a lower level is an edit of the living message) to the end of the incident.
    stack.service("ai").unwrap().fail(0, 503, &[]).unwrap();
    let rest = drain(&stack, "ai", 2);
    assert_eq!(rest, ["ai RESOLVED"], "{rest:?}");
    let n = stack.alerts().len();
    let (end, colour, pinged) = look(&stack, n - 1);
    assert!(end.starts_with("✅ ai — RESOLVED after ") && end.contains("worst DOWN"), "{end}");
    assert_eq!((colour, pinged), (GREEN, false), "the end is green and pages nobody");

    // 2. ai DOWN while WARNING, then back: "UP, still WARNING", orange, owners told; the living message too.
    stack.service("ai").unwrap().fail(70, 503, &[]).unwrap();
    let base = stack.alerts().len();
    assert_eq!(stack.wait_for_alerts(base + 1, TIMEOUT).unwrap()[base], "ai WARNING");
    stack.service("ai").unwrap().set_health(Health::Failing(500));
    assert_eq!(stack.wait_for_alerts(base + 2, TIMEOUT).unwrap()[base + 1], "ai DOWN");
    assert!(look(&stack, base + 1).0.ends_with("(was WARNING)"), "{:?}", look(&stack, base + 1));
    stack.service("ai").unwrap().set_health(Health::Up);
    assert_eq!(stack.wait_for_alerts(base + 3, TIMEOUT).unwrap()[base + 2], "ai UP, still WARNING");
    let (title, colour, pinged) = look(&stack, base + 2);
    assert!(title.starts_with("🟠 ai — UP, still WARNING: "), "{title}");
    assert_eq!((colour, pinged), (ORANGE, true));
    let (_, colour) = wait_living(&stack, "ai", "🟠 ai — WARNING: ");
    assert_eq!(colour, ORANGE);
    stack.service("ai").unwrap().fail(0, 503, &[]).unwrap();
    drain(&stack, "ai", base + 3);

    // 3. be: the rate first, then its health check flaps under the steady CRITICAL.
    stack.service("be").unwrap().fail(400, 503, &[]).unwrap();
    // The window's rate climbs through WARNING on its way (each said once), to CRITICAL.
    let start = stack.alerts().len();
    let climbed = wait_until(TIMEOUT, || {
        let a = stack.alerts();
        a[start..].contains(&"be CRITICAL".to_string()).then_some(a)
    })
    .unwrap_or_else(|| panic!("be reaches CRITICAL: {:?}", stack.alerts()));
    assert!(climbed[start..] == ["be CRITICAL"] || climbed[start..] == ["be WARNING", "be CRITICAL"], "{climbed:?}");
    let base = climbed.len() - 1;
    assert_eq!(look(&stack, base).1, RED);
    let opened = stack::service_status(&stack.collector.status().unwrap(), "be").unwrap()["incident"]["opened_ms"]
        .as_u64()
        .unwrap();
    for round in 0..2 {
        let at = base + 1 + round * 2;
        stack.service("be").unwrap().set_health(Health::Failing(503));
        assert_eq!(stack.wait_for_alerts(at + 1, TIMEOUT).unwrap()[at], "be DOWN");
        assert!(look(&stack, at).0.ends_with("(was CRITICAL)"), "{:?}", look(&stack, at));
        assert!(look(&stack, at).2, "a DOWN pings the owners");
        wait_living(&stack, "be", "🔴 be — DOWN: ");
        stack.service("be").unwrap().set_health(Health::Up);
        assert_eq!(stack.wait_for_alerts(at + 2, TIMEOUT).unwrap()[at + 1], "be UP, still CRITICAL");
        assert_eq!((look(&stack, at + 1).1, look(&stack, at + 1).2), (RED, true));
        assert_eq!(wait_living(&stack, "be", "🔴 be — CRITICAL: ").1, RED);
    }
    let s = stack::service_status(&stack.collector.status().unwrap(), "be").unwrap();
    assert_eq!(s["incident"]["opened_ms"].as_u64(), Some(opened), "one incident all along: {s}");
    assert!(!stack.alerts()[base..].contains(&"be RESOLVED".to_string()), "{:?}", stack.alerts());

    // 4. The collector is stopped for longer than the window while be is CRITICAL; traffic goes on.
    stack.collector.wait_for_outbox_empty(Duration::from_secs(30)).unwrap();
    let said = stack.alerts().len();
    stack.collector.kill9();
    std::thread::sleep(stack.options.window + Duration::from_secs(5));
    stack.collector.restart().unwrap();
    // Longer than a window of fresh reports: nothing resolved, nothing raised again.
    std::thread::sleep(stack.options.window + Duration::from_secs(8));
    assert_eq!(stack.alerts().len(), said, "no RESOLVED, no re-raise after the restart: {:?}", stack.alerts());
    let s = stack::service_status(&stack.collector.status().unwrap(), "be").unwrap();
    assert_eq!((s["state"].as_str(), s["stale"].as_bool()), (Some("critical"), Some(false)), "{s}");
    assert_eq!(s["incident"]["opened_ms"].as_u64(), Some(opened), "the same incident, continuous: {s}");
    stack.service("be").unwrap().fail(0, 503, &[]).unwrap();
    drain(&stack, "be", said);
    let n = stack.alerts().len();
    let end = stack.messages()[n - 1]["embeds"][0]["description"].as_str().unwrap().to_string();
    assert!(end.contains(&format!("from <t:{}:f>", opened / 1000)), "timed from its first message: {end}");
    let audit = faultline_tests::faults::audit_channel(stack.discord.as_ref().unwrap(), stack::WEBHOOK_ID);
    let seen: Vec<(String, Vec<String>)> = stack
        .discord
        .as_ref()
        .unwrap()
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" || r.method == "PATCH")
        .map(|r| {
            (format!("{} {} flags={}", r.method, r.status, r.body["flags"]), faultline_tests::faults::kinds(&r.body))
        })
        .collect();
    assert!(audit.inconsistent.is_empty(), "{:?}\n{audit:?}\nrequests: {seen:#?}", audit.inconsistent);
    let report = load.stop().unwrap();
    assert_eq!(report.failed(), 0, "{report:?}");
}
