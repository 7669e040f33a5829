//! End to end, for real: Envoy 1.40 (2 workers) with the release filter, the collector binary, scripted services
//! and a Discord-compatible server. The be service's 5xx rate goes 3% -> 7% -> 12% -> 0%, failing on one route;
//! the collector is killed with SIGKILL and restarted while WARNING is open. Asserted: the exact alert sequence
//! (WARNING, CRITICAL, RESOLVED: the way down through WARNING is an edit of the incident's living message, not a
//! message of its own), the failing route named, no duplicate after the restart, the living message edited
//! through open → CRITICAL → resolved (its final text on the test server), and the collector's counts equal
//! what was answered.
//!
//! The window is 20 s (1 s buckets) and the filter flushes every second, so the run takes about two minutes.

// cfg(test) on the whole file lets clippy's allow-{unwrap,panic,indexing}-in-tests cover the helpers.
#![cfg(test)]

use std::time::{Duration, Instant};

use faultline_tests::stack::{self, Stack, StackOptions};
use faultline_tests::traffic::{self, Stop, Targets, TrafficPlan};

/// Generous: on a loaded 2-core machine a window plus a few flushes can take much longer than 20 s.
const ALERT_TIMEOUT: Duration = Duration::from_secs(150);

/// Half of be's traffic is the failing route, so a per-mille of 2p on it makes p per mille of be overall.
const BE_TARGETS: [&str; 4] =
    ["GET /server/users/17/orders", "GET /server/items", "GET /server/users/42/orders", "POST /server/cart"];
const FAILING: &str = "GET /server/users/:id/orders";

fn set_be_rate(stack: &Stack, per_mille_overall: u32) {
    stack.service("be").unwrap().fail(per_mille_overall * 2, 503, &[FAILING]).unwrap();
}

#[test]
fn be_goes_3_7_12_0_percent_and_alerts_exactly_warning_critical_resolved() {
    let stack = Stack::start(StackOptions::default()).unwrap();
    set_be_rate(&stack, 30);
    let mut plan = TrafficPlan::new(&stack.envoy.url(""), Targets::cycle(&BE_TARGETS).unwrap(), Stop::WhenStopped);
    plan.connections = 8;
    plan.rate = Some(100.0);
    let load = traffic::spawn(&plan).unwrap();

    // 3%: a full window and more, and nothing is said.
    let window = stack.options.window;
    std::thread::sleep(window + Duration::from_secs(5));
    assert!(stack.alerts().is_empty(), "no alert at 3%: {:?}", stack.alerts());
    let seen = stack.collector.status().unwrap();
    let be = stack::service_status(&seen, "be").unwrap();
    assert_eq!(be["state"], "ok", "{be}");
    assert!(be["window"]["requests"].as_u64().unwrap() >= 100, "the 3% phase had volume: {be}");

    // 7%: WARNING, once.
    set_be_rate(&stack, 70);
    assert_eq!(stack.wait_for_alerts(1, ALERT_TIMEOUT).unwrap(), ["be WARNING"]);

    // The collector dies (SIGKILL) while WARNING is open, and comes back on the same state. It is killed once
    // it has recorded the delivery (outbox empty): a kill between Discord's answer and that record would
    // resend the message, which no webhook client can avoid (Discord has no idempotency key).
    let mut stack = stack;
    stack.collector.wait_for_outbox_empty(Duration::from_secs(30)).unwrap();
    stack.collector.kill9();
    std::thread::sleep(Duration::from_secs(3));
    stack.collector.restart().unwrap();
    // Several evaluations after the restart, still 7%: no second WARNING.
    let after_restart = Instant::now();
    std::thread::sleep(Duration::from_secs(8));
    assert_eq!(stack.alerts(), ["be WARNING"], "no duplicate after the restart");
    let be = stack::service_status(&stack.collector.status().unwrap(), "be").unwrap();
    assert_eq!(be["state"], "warning", "the restarted collector still knows the incident: {be}");

    // 12%: escalated to CRITICAL, naming the failing route.
    set_be_rate(&stack, 120);
    assert_eq!(stack.wait_for_alerts(2, ALERT_TIMEOUT).unwrap(), ["be WARNING", "be CRITICAL"]);
    // The CRITICAL message is short and links to the incident's living message (the first one), which the
    // collector edited in place: now CRITICAL, naming the failing route.
    let critical = &stack.messages()[1];
    let living = stack.living("be").expect("be's living message");
    let link = critical["embeds"][0]["url"].as_str().unwrap_or("");
    assert!(link.starts_with("https://discord.com/channels/") && link.ends_with(&living.id), "{critical}");
    let now = stack.discord.as_ref().unwrap().current(&living.id).unwrap();
    let routes = stack::field(&now, "Failing routes");
    assert!(routes.contains(FAILING), "the living message names {FAILING}: {now}");
    assert!(!routes.contains("/server/items") && !routes.contains("/server/cart"), "only the failing route: {routes}");
    assert!(stack.living_title("be").starts_with("🔴 be — CRITICAL: "), "{}", stack.living_title("be"));

    // 0%: the rate drains out of the window through the WARNING band (hysteresis: below 8% of CRITICAL's
    // 10%, then below 4%): the de-escalation is an edit, then RESOLVED is told.
    set_be_rate(&stack, 0);
    let all = stack.wait_for_alerts(3, ALERT_TIMEOUT).unwrap();
    assert_eq!(all, ["be WARNING", "be CRITICAL", "be RESOLVED"]);
    // The living message went through every state, edited in place (across the restart too), and ends resolved.
    let d = stack.discord.as_ref().unwrap();
    faultline_tests::process::wait_until(Duration::from_secs(60), || {
        stack.living_title("be").contains("RESOLVED").then_some(())
    })
    .unwrap_or_else(|| panic!("the living message ends resolved: {:?}", stack.living_title("be")));
    let done = d.versions(&living.id);
    let titles: Vec<String> = done.iter().map(|v| v["embeds"][0]["title"].as_str().unwrap_or("").to_string()).collect();
    let first = |p: &str| titles.iter().position(|t| t.starts_with(p)).unwrap_or(usize::MAX);
    assert!(
        first("🟠 be — WARNING") < first("🔴 be — CRITICAL") && first("🔴 be — CRITICAL") < first("✅ be — RESOLVED"),
        "{titles:?}"
    );
    let last = done.last().unwrap();
    let e = &last["embeds"][0];
    assert!(e["title"].as_str().unwrap().starts_with("✅ be — RESOLVED after "), "{e}");
    assert!(e["description"].as_str().unwrap().contains("**Resolved** <t:"), "{e}");
    let timeline = stack::field(last, "Timeline");
    for step in ["opened: WARNING", "worse: CRITICAL", "better: WARNING", "RESOLVED"] {
        assert!(timeline.contains(step), "{step} in {timeline}");
    }
    assert!(last["content"].as_str().unwrap().starts_with("✅ be — RESOLVED"), "{last}");
    assert_eq!(d.messages(stack::WEBHOOK_ID).len(), 3, "edits are not messages");

    // Counting: stop, let the last flush land, compare with what was answered through Envoy.
    let report = load.stop().unwrap();
    assert_eq!(report.failed(), 0, "every request was answered: {report:?}");
    assert_eq!(report.sent, report.answered());
    stack.wait_for_totals("be", report.answered(), report.server_errors(), Duration::from_secs(60)).unwrap();
    let served = stack.service("be").unwrap().served();
    assert_eq!(served.total(), report.answered(), "Envoy made no answer of its own");
    // And nothing more was said while the counts settled.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(stack.alerts().len(), 3, "{:?}", stack.alerts());
    let workers = stack.envoy.worker_connections().unwrap();
    eprintln!("phase after restart took {:?}; worker connections {workers:?}", after_restart.elapsed());
}
