//! End to end, on the real Envoy: acting on incidents (issue "act on it").
//!
//! - be and ai start failing together (a shared dependency): one notifying message with two embeds, which is the
//!   living message of both incidents (a shared dependency pages once); their ends are told together too.
//! - A silence added from the CLI while the collector runs: be fails again, its living message is posted
//!   without notifying anyone and says it is silenced, no notifying message; `silence list` shows it; bad input
//!   (unknown service, negative duration, a wrong operator token) is refused with exit 1 and its reason.
//! - `ack be --by alice` from the CLI: the living message and `/v1/status` say who acknowledged it.
//! - `silence remove` ends the silence: the still-open incident is announced once, owners mentioned.
//!
//! Window 20 s (1 s buckets), flushes every second, the default group wait (10 s), an urgent wait of 3 s.

// cfg(test) on the whole file lets clippy's allow-{unwrap,panic,indexing}-in-tests cover the helpers.
#![cfg(test)]

use std::process::Command;
use std::time::Duration;

use faultline_tests::process::wait_until;
use faultline_tests::stack::{self, Stack, StackOptions};
use faultline_tests::traffic::{self, Stop, Targets, TrafficPlan};
use serde_json::Value;

const TIMEOUT: Duration = Duration::from_secs(150);
const OWNERS: &str = "515151515151515151";
const SILENT: u64 = 1 << 12;

/// `faultline-collector ARGS… --config <the stack's>`: (exit ok, stdout, stderr).
fn cli(stack: &Stack, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(faultline_tests::paths::binary("faultline-collector").unwrap())
        .args(args)
        .arg("--config")
        .arg(stack.collector.config_path())
        .output()
        .unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

fn wait_state(stack: &Stack, service: &str, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    wait_until(TIMEOUT, || {
        let status = stack.collector.status().ok()?;
        stack::service_status(&status, service).filter(|s| pred(s))
    })
    .unwrap_or_else(|| panic!("{service}: {what} never happened: {:?}", stack.collector.status()))
}

/// Every message posted so far with whether it notified (not posted with SUPPRESS_NOTIFICATIONS).
fn posted(stack: &Stack) -> Vec<(bool, Value)> {
    stack.messages().into_iter().map(|m| (m["flags"].as_u64().unwrap_or(0) & SILENT == 0, m)).collect()
}

#[test]
fn a_flood_pages_once_a_silence_from_the_cli_holds_the_page_and_its_end_announces_it() {
    // Their rates cross CRITICAL in the same flush or one apart (1 s here): an urgent wait of 3 s holds both.
    let options = StackOptions {
        mention_roles: vec![OWNERS.into()],
        urgent_wait: Some(Duration::from_secs(3)),
        ..StackOptions::default()
    };
    let stack = Stack::start(options).unwrap();
    let mut plan = TrafficPlan::new(
        &stack.envoy.url(""),
        Targets::cycle(&["GET /server/items", "POST /ai/chat"]).unwrap(),
        Stop::WhenStopped,
    );
    plan.connections = 4;
    plan.rate = Some(100.0);
    let load = traffic::spawn(&plan).unwrap();
    std::thread::sleep(stack.options.window + Duration::from_secs(3));
    assert!(stack.alerts().is_empty(), "{:?}", stack.alerts());

    // 1. A shared dependency breaks both: one message, two embeds, the owners mentioned once.
    stack.service("be").unwrap().fail(500, 503, &[]).unwrap();
    stack.service("ai").unwrap().fail(500, 503, &[]).unwrap();
    let first = stack.discord.as_ref().unwrap().wait_for_messages(stack::WEBHOOK_ID, 1, TIMEOUT).unwrap();
    std::thread::sleep(Duration::from_secs(12));
    let all = posted(&stack);
    assert_eq!(all.len(), 1, "exactly one message: {:?}", stack.alerts());
    let m = &first[0];
    let titles: Vec<&str> = m["embeds"].as_array().unwrap().iter().map(|e| e["title"].as_str().unwrap()).collect();
    assert_eq!(titles.len(), 2, "{m}");
    assert!(titles.iter().any(|t| t.starts_with("🔴 be — CRITICAL: ")), "{titles:?}");
    assert!(titles.iter().any(|t| t.starts_with("🔴 ai — CRITICAL: ")), "{titles:?}");
    assert!(m["content"].as_str().unwrap().starts_with(&format!("<@&{OWNERS}> 2 incidents: ")), "{m}");
    assert_eq!(m["allowed_mentions"]["roles"], serde_json::json!([OWNERS]));
    let (be, ai) = (stack.living("be").unwrap(), stack.living("ai").unwrap());
    assert_eq!(be.id, ai.id, "the one message is both incidents' living message");
    // Fixed: both end, told together as well (their living message ends resolved for both).
    stack.service("be").unwrap().fail(0, 503, &[]).unwrap();
    stack.service("ai").unwrap().fail(0, 503, &[]).unwrap();
    wait_until(TIMEOUT, || {
        let a = stack.alerts();
        (a.iter().filter(|x| x.ends_with("RESOLVED")).count() >= 1
            && stack.living_title("be").contains("RESOLVED")
            && stack.living_title("ai").contains("RESOLVED"))
        .then_some(())
    })
    .unwrap_or_else(|| panic!("both end: {:?} / {:?}", stack.alerts(), stack.living_title("be")));
    std::thread::sleep(Duration::from_secs(12));
    let ends = posted(&stack);
    assert_eq!(ends.len(), 2, "the two ends in one message: {:?}", stack.alerts());
    assert_eq!(ends[1].1["embeds"].as_array().unwrap().len(), 2, "{}", ends[1].1);

    // 2. Bad input is refused with exit 1 and its reason, and changes nothing.
    let (ok, _, err) = cli(&stack, &["silence", "add", "--service", "ghost", "--for", "1h"]);
    assert!(!ok && err.contains("unknown service \"ghost\""), "{err}");
    let (ok, _, err) = cli(&stack, &["silence", "add", "--service", "be", "--for", "-1h"]);
    assert!(!ok && err.contains("negative"), "{err}");
    let (ok, _, err) = cli(&stack, &["silence", "add", "--service", "be", "--until", "2020-01-01T00:00:00Z"]);
    assert!(!ok && err.contains("not in the future"), "{err}");
    let (ok, _, err) = cli(&stack, &["ack", "be", "--by", "alice"]);
    assert!(!ok && err.contains("no open incident"), "{err}");
    let wrong = stack.collector.config_path().with_file_name("wrong-token.toml");
    let text = std::fs::read_to_string(stack.collector.config_path()).unwrap();
    std::fs::write(&wrong, text.replace(stack::OPERATOR_TOKEN, "not-the-operator-token")).unwrap();
    let out = Command::new(faultline_tests::paths::binary("faultline-collector").unwrap())
        .args(["silence", "list", "--config"])
        .arg(&wrong)
        .output()
        .unwrap();
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("401"), "{out:?}");
    let (ok, list, _) = cli(&stack, &["silence", "list"]);
    assert!(ok && list.trim() == "no silences", "{list}");

    // 3. A silence from the CLI while the collector runs: be fails, nobody is notified.
    let (ok, out, err) = cli(&stack, &["silence", "add", "--service", "be", "--for", "1h", "--reason", "deploy"]);
    assert!(ok, "{out}{err}");
    assert!(out.starts_with("silence #1 be until ") && out.contains("— deploy"), "{out}");
    let before = posted(&stack).len();
    stack.service("be").unwrap().fail(500, 503, &[]).unwrap();
    wait_state(&stack, "be", "CRITICAL and muted", |s| s["state"] == "critical" && s["muted"]["kind"] == "silence");
    std::thread::sleep(Duration::from_secs(13));
    let now = posted(&stack);
    let new: Vec<&(bool, Value)> = now.iter().skip(before).collect();
    assert!(new.iter().all(|(notifies, _)| !notifies), "silenced: nothing notifies: {new:?}");
    assert_eq!(new.len(), 1, "be's living message, posted silently: {new:?}");
    assert_eq!(new[0].1["allowed_mentions"], serde_json::json!({"parse": []}));
    wait_until(TIMEOUT, || stack.living_title("be").starts_with("🔴 be — CRITICAL: ").then_some(())).unwrap();
    let d = stack.living("be").unwrap().current()["embeds"][0]["description"].as_str().unwrap().to_string();
    assert!(d.contains("Silenced until") && d.contains("deploy"), "{d}");
    let (ok, list, _) = cli(&stack, &["silence", "list"]);
    assert!(ok && list.contains("#1 be until") && list.contains("deploy"), "{list}");

    // 4. Acknowledged from the CLI: shown in the living message and in /v1/status.
    let (ok, out, err) = cli(&stack, &["ack", "be", "--by", "alice"]);
    assert!(ok && out.contains("acknowledged by alice"), "{out}{err}");
    let s = wait_state(&stack, "be", "acknowledged", |s| s["incident"]["acknowledged"]["by"] == "alice");
    assert!(s["incident"]["acknowledged"]["at_ms"].as_u64().is_some(), "{s}");
    wait_until(TIMEOUT, || {
        let m = stack.living("be")?;
        m.current()["embeds"][0]["description"].as_str()?.contains("Acknowledged by **alice**").then_some(())
    })
    .expect("the living message says who acknowledged");

    // 5. The silence ends: the still-open incident is announced once, with its owners.
    let (ok, out, err) = cli(&stack, &["silence", "remove", "1"]);
    assert!(ok && out.starts_with("removed silence #1"), "{out}{err}");
    let at = posted(&stack).len();
    let announced = wait_until(TIMEOUT, || {
        let all = posted(&stack);
        all.get(at).filter(|(notifies, _)| *notifies).map(|(_, m)| m.clone())
    })
    .unwrap_or_else(|| panic!("the end of the silence is announced: {:?}", stack.alerts()));
    let e = &announced["embeds"][0];
    assert!(e["title"].as_str().unwrap().starts_with("🔴 be — CRITICAL: "), "{e}");
    assert!(e["description"].as_str().unwrap().contains("Silence #1 ended"), "{e}");
    assert!(announced["content"].as_str().unwrap().starts_with(&format!("<@&{OWNERS}>")), "{announced}");
    std::thread::sleep(Duration::from_secs(12));
    assert_eq!(posted(&stack).len(), at + 1, "once: {:?}", stack.alerts());
    let audit = faultline_tests::faults::audit_channel(stack.discord.as_ref().unwrap(), stack::WEBHOOK_ID);
    assert!(audit.missing.is_empty() && audit.duplicates == 0, "{audit:?}");
    let report = load.stop().unwrap();
    assert_eq!(report.failed(), 0, "{report:?}");
}
