//! The real collector delivering to FakeDiscord scripted with 429, 500, 400, 404 and slow
//! answers: every alert arrives exactly once, in order; a broken webhook keeps its alerts,
//! shows on /healthz and is not hammered; `test-alert` goes through the same path.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

mod collector_support;

use collector_support::*;
use faultline_tests::discord::{FakeDiscord, Reply};
use faultline_tests::process::wait_until;
use std::process::Command;
use std::time::Duration;

fn start(name: &str, discord: &FakeDiscord, extra: &str) -> Collector {
    let dir = scratch(name);
    Collector::start(&dir, &(config_head(port(), &dir.join("state"), &discord.webhook_url(1, "tok"), "") + extra))
}

#[test]
fn rate_limits_and_server_errors_are_retried_until_accepted_once() {
    let discord = FakeDiscord::start().unwrap();
    discord.push_replies(
        1,
        [
            Reply::RateLimited { retry_after: 1.0, global: false },
            Reply::Status(500),
            Reply::Status(502),
            Reply::Slow(Duration::from_millis(500)),
        ],
    );
    let c = start("retry", &discord, "");
    c.post_flush(&flush("b", 1, "be", 100, 20, &[]));
    let msgs = discord.wait_for_messages(1, 1, LONG).unwrap();
    assert_eq!(titles(&msgs), vec!["🔴 be — CRITICAL: 20% of requests fail"]);
    let reqs: Vec<_> = discord.requests().into_iter().filter(|r| r.webhook_id == 1).collect();
    assert_eq!(reqs.iter().map(|r| r.status).collect::<Vec<_>>(), vec![429, 500, 502, 200]);
    let waited = reqs[1].at.duration_since(reqs[0].at);
    assert!(waited >= Duration::from_millis(950), "retry_after honoured: waited {waited:?}");
    assert!(reqs.iter().all(|r| r.body == reqs[0].body), "the same message each time");
    c.wait_service("be", "delivered", |_| c.healthz()["outbox_depth"] == 0);
    assert_eq!(c.healthz()["webhooks"]["default"]["state"], "ok");
}

#[test]
fn alerts_arrive_in_order_through_the_real_rate_limit() {
    let discord = FakeDiscord::start().unwrap();
    let c = start("order", &discord, "");
    // Seven services raise at once: more than the 5-per-2s bucket.
    let services: Vec<String> = (0..7).map(|i| format!("svc{i}")).collect();
    for (i, s) in services.iter().enumerate() {
        c.post_flush(&flush(&format!("b{i}"), 1, s, 100, 20, &[]));
    }
    let msgs = discord.wait_for_messages(1, 7, LONG).unwrap();
    let got: Vec<String> = titles(&msgs);
    let want: Vec<String> = services.iter().map(|s| format!("🔴 {s} — CRITICAL: 20% of requests fail")).collect();
    assert_eq!(got, want);
    let ids: Vec<u64> = msgs
        .iter()
        .map(|m| m["embeds"][0]["footer"]["text"].as_str().unwrap().rsplit('#').next().unwrap().parse().unwrap())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(discord.messages(1).len(), 7);
}

#[test]
fn a_400_gets_the_plain_fallback_once() {
    let discord = FakeDiscord::start().unwrap();
    discord.push_replies(1, [Reply::Status(400)]);
    let c = start("fallback", &discord, "");
    c.post_flush(&flush("b", 1, "be", 100, 20, &[]));
    let msgs = discord.wait_for_messages(1, 1, LONG).unwrap();
    let content = msgs[0]["content"].as_str().unwrap();
    assert!(
        content.starts_with("[Faultline alert #1] 🔴 be — CRITICAL: 20% of requests fail. 5xx rate 20%"),
        "{content}"
    );
    assert!(msgs[0].get("embeds").is_none());
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(discord.messages(1).len(), 1);
    drop(c);
}

#[test]
fn a_broken_webhook_keeps_its_alerts_is_reported_and_not_hammered() {
    let discord = FakeDiscord::start().unwrap();
    discord.delete_webhook(1);
    let c = start("broken", &discord, "");
    c.post_flush(&flush("b", 1, "be", 100, 20, &[]));
    c.post_flush(&flush("b", 2, "be", 100, 20, &[]));
    c.post_flush(&flush("c", 1, "ai", 100, 10, &[]));
    let h = wait_until(LONG, || Some(c.healthz()).filter(|h| h["webhooks"]["default"]["state"] == "broken"))
        .unwrap_or_else(|| panic!("{}", c.proc.log()));
    assert_eq!(h["status"], "degraded");
    assert_eq!(h["outbox_depth"], 2, "{h}");
    assert!(h["webhooks"]["default"]["last_error"].as_str().unwrap().contains("Unknown Webhook"), "{h}");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(discord.requests().iter().filter(|r| r.webhook_id == 1).count(), 1, "not hammered");
    let log = c.proc.log();
    assert!(log.contains("WEBHOOK BROKEN") && !log.contains("/tok"), "loud, and never the token");
}

#[test]
fn test_alert_goes_through_the_real_path_and_reports_the_outcome() {
    let discord = FakeDiscord::start().unwrap();
    let dir = scratch("testalert");
    let cfg = config_head(port(), &dir.join("state"), &discord.webhook_url(1, "tok"), "")
        + "[[services]]\nname = \"be\"\nmention_roles = [\"42\"]\n";
    std::fs::write(dir.join("faultline.toml"), &cfg).unwrap();
    discord.push_replies(1, [Reply::Status(503)]);
    let out = Command::new(bin())
        .args(["test-alert", "--config"])
        .arg(dir.join("faultline.toml"))
        .args(["--service", "be"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("delivered to webhook \"default\""), "{stdout}");
    let msgs = discord.messages(1);
    assert_eq!(msgs.len(), 1);
    assert!(titles(&msgs)[0].starts_with("🧪 TEST — Faultline test alert for be"));
    assert_eq!(msgs[0]["allowed_mentions"]["roles"], serde_json::json!([]));
    discord.delete_webhook(1);
    let out = Command::new(bin()).args(["test-alert", "--config"]).arg(dir.join("faultline.toml")).output().unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Unknown Webhook"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(bin())
        .args(["test-alert", "--config"])
        .arg(dir.join("faultline.toml"))
        .args(["--service", "nope"])
        .output()
        .unwrap();
    assert!(!out.status.success());
}
