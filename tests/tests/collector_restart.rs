//! kill -9 of the real collector at awkward moments, then a restart on the same state:
//! exactly the expected messages arrive, none lost, none duplicated, counts exact; a service that
//! recovered while the collector was down still gets its RESOLVED, and a window the reports stopped
//! covering while it was down is held, never resolved as "no traffic".
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

mod collector_support;

use collector_support::*;
use faultline_tests::discord::{FakeDiscord, Reply};
use faultline_tests::process::wait_until;
use faultline_tests::upstream::{Health, Upstream, UpstreamOptions};
use std::time::Duration;

#[test]
fn kill9_during_delivery_then_restart_delivers_exactly_once() {
    let discord = FakeDiscord::start().unwrap();
    discord.push_replies(1, [Reply::Hang]);
    let dir = scratch("kill-delivery");
    let c = Collector::start(&dir, &config_head(port(), &dir.join("state"), &discord.webhook_url(1, "tok"), ""));
    c.post_flush(&flush("b", 1, "be", 100, 20, &[("GET /a", 20)]));
    wait_until(LONG, || discord.requests().iter().find(|r| r.webhook_id == 1).cloned()).unwrap();
    let c = c.restart_after_kill9();
    let msgs = discord.wait_for_messages(1, 1, LONG).unwrap();
    assert_eq!(titles(&msgs), vec!["🔴 be — CRITICAL: 20% of requests fail"]);
    // The alert state survived: more failing traffic raises nothing new; counts are exact.
    assert_eq!(c.post_flush(&flush("b", 2, "be", 200, 40, &[("GET /a", 40)])).0, 200);
    let s = c.wait_service("be", "counted", |s| s["totals"]["requests"] == 200);
    assert_eq!(s["totals"]["errors"], 40);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        titles(&discord.messages(1)),
        vec!["🔴 be — CRITICAL: 20% of requests fail"],
        "no duplicate after restart"
    );
}

#[test]
fn kill9_loses_no_count_and_doubles_none() {
    let discord = FakeDiscord::start().unwrap();
    let dir = scratch("kill-counts");
    let extra = "[[services]]\nname = \"be\"\nmin_requests = 100000\n";
    let mut c =
        Collector::start(&dir, &(config_head(port(), &dir.join("state"), &discord.webhook_url(1, "tok"), "") + extra));
    // Killed right after flushes were answered, before or after a snapshot: whatever the
    // snapshot held, baselines and window match, so the next flush carries the difference.
    for round in 0..4u64 {
        for k in 1..=5u64 {
            let seq = round * 5 + k;
            assert_eq!(c.post_flush(&flush("b", seq, "be", seq * 10, seq, &[])).0, 200);
        }
        c = c.restart_after_kill9();
    }
    assert_eq!(c.post_flush(&flush("b", 21, "be", 210, 21, &[])).0, 200);
    let s = c.wait_service("be", "all counted", |s| s["totals"]["requests"] == 210);
    assert_eq!(s["totals"]["errors"], 21);
    assert_eq!(s["window"]["requests"], 210, "nothing doubled in the window either");
}

#[test]
fn an_incident_is_held_across_a_restart_longer_than_the_window_then_judged_on_fresh_reports() {
    let discord = FakeDiscord::start().unwrap();
    let dir = scratch("held-after");
    let c = Collector::start(&dir, &config_head(port(), &dir.join("state"), &discord.webhook_url(1, "tok"), ""));
    c.post_flush(&flush("b", 1, "be", 100, 20, &[]));
    discord.wait_for_messages(1, 1, LONG).unwrap();
    let opened = c.service("be")["incident"]["opened_ms"].as_u64().unwrap();
    // Killed only once the delivery is recorded (a kill between Discord's answer and that record
    // is the at-least-once case: the message would be sent again, with the same alert #id).
    wait_until(LONG, || Some(()).filter(|_| c.healthz()["outbox_depth"] == 0)).unwrap();
    let mut c = c;
    c.proc.kill9();
    std::thread::sleep(Duration::from_secs(11)); // longer than the 10 s window
    let c = Collector::start_file(c.config.clone());
    // Nothing reported the time it was away: not "no traffic", not RESOLVED. The state is held.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(titles(&discord.messages(1)).len(), 1, "{:?}", titles(&discord.messages(1)));
    let s = c.service("be");
    assert_eq!((s["state"].as_str(), s["stale"].as_bool()), (Some("critical"), Some(true)), "{s}");
    assert_eq!(s["incident"]["opened_ms"].as_u64(), Some(opened), "the same incident");
    // The proxy reports again, with no new traffic, for longer than a window: now that is a fact.
    let mut seq = 1;
    let msgs = wait_until(LONG, || {
        seq += 1;
        c.post_flush(&flush("b", seq, "be", 100, 20, &[]));
        std::thread::sleep(Duration::from_millis(500));
        Some(discord.messages(1)).filter(|m| m.len() >= 2)
    })
    .unwrap();
    let t = titles(&msgs);
    assert_eq!(t[1], "⚪ be — RESOLVED: no traffic in 10 s (was CRITICAL)", "{t:?}");
    let d = msgs[1]["embeds"][0]["description"].as_str().unwrap();
    assert!(d.contains(&format!("from <t:{}:f>", opened / 1000)), "the duration runs from the first message: {d}");
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(discord.messages(1).len(), 2);
}

#[test]
fn a_service_that_came_back_while_the_collector_was_down_gets_its_up() {
    let discord = FakeDiscord::start().unwrap();
    let dir = scratch("up-after");
    let mut be = Upstream::launch(UpstreamOptions::new("be", "/health")).unwrap();
    be.set_health(Health::Failing(500));
    let cfg = config_head(port(), &dir.join("state"), &discord.webhook_url(1, "tok"), "")
        + &format!(
            "[[services]]\nname = \"be\"\nhealth_url = \"{}/health\"\ninterval = \"1s\"\ntimeout = \"500ms\"\n",
            be.base_url()
        );
    let mut c = Collector::start(&dir, &cfg);
    discord.wait_for_messages(1, 1, LONG).unwrap();
    wait_until(LONG, || Some(()).filter(|_| c.healthz()["outbox_depth"] == 0)).unwrap();
    c.proc.kill9();
    be.set_health(Health::Up);
    be.stop();
    be.start().unwrap();
    let c = Collector::start_file(c.config.clone());
    let msgs = discord.wait_for_messages(1, 2, LONG).unwrap();
    assert_eq!(titles(&msgs)[0], "🔴 be — DOWN: status 500 (1 failed check)");
    assert!(titles(&msgs)[1].starts_with("✅ be — RESOLVED: UP after"), "{:?}", titles(&msgs));
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(discord.messages(1).len(), 2, "DOWN is not announced again after the restart");
    drop(c);
}

#[test]
fn sigterm_stops_gracefully_with_a_final_snapshot() {
    let discord = FakeDiscord::start().unwrap();
    let dir = scratch("sigterm");
    let extra = "[[services]]\nname = \"be\"\nmin_requests = 100000\n";
    let mut c =
        Collector::start(&dir, &(config_head(port(), &dir.join("state"), &discord.webhook_url(1, "tok"), "") + extra));
    assert_eq!(c.post_flush(&flush("b", 1, "be", 70, 7, &[("GET /a", 7)])).0, 200);
    assert_eq!(c.proc.stop(LONG), Some(0), "exit 0 on SIGTERM\n{}", c.proc.log());
    assert!(c.proc.log().contains("stopped"));
    let c = Collector::start_file(c.config.clone());
    let s = c.service("be");
    assert_eq!((s["totals"]["requests"].as_u64(), s["window"]["errors"].as_u64()), (Some(70), Some(7)), "{s}");
    assert_eq!(s["top_routes"][0]["route"], "GET /a");
    // The same flush again is stale: the baseline was saved with the counts.
    assert_eq!(c.post_flush(&flush("b", 1, "be", 70, 7, &[])).1["result"], "stale");
}
