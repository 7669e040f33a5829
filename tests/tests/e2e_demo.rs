//! The demo (`scripts/demo.sh`'s program) run end to end in its quick mode: it must finish on its own, with the
//! alerts of its story in order, and leave none of its processes behind.

// cfg(test) on the whole file lets clippy's allow-{unwrap,panic,indexing}-in-tests cover the helpers.
#![cfg(test)]

use std::process::Command;
use std::time::Duration;

use faultline_tests::paths;
use faultline_tests::process::{Proc, wait_until};

#[test]
fn the_quick_demo_tells_the_whole_story_and_cleans_up() {
    let mut cmd = Command::new(paths::binary("faultline-demo").unwrap());
    cmd.arg("--quick").env_remove("DISCORD_WEBHOOK_URL");
    let mut demo = Proc::spawn("demo", cmd).unwrap();
    let pid = demo.pid();
    // Each of its steps has its own timeout (2 min); this only bounds a hung demo.
    wait_until(Duration::from_secs(900), || demo.has_exited().then_some(()))
        .unwrap_or_else(|| panic!("the demo did not finish; output:\n{}", demo.log()));
    let out = demo.log();
    assert!(out.contains("demo finished; everything it started is stopped."), "{out}");
    assert!(out.contains("Shortened for the demo"), "the demo says it shortened the window: {out}");

    // The alerts, as printed by the local Discord server, in the order of the story.
    let story = [
        "be — WARNING: ",
        "be — escalated to CRITICAL: ",
        "be's living message",
        "GET /server/users/:id/orders",
        "POST /server/cart",
        "be — RESOLVED",
        "ai — DOWN: connection refused",
        "ai — UP, still CRITICAL: ",
        "never a green UP",
        "ai's living message",
        "edited in place",
        "ai — CRITICAL: ",
        "ai — RESOLVED after ",
    ];
    let mut from = 0;
    for step in story {
        let at = out[from..].find(step).unwrap_or_else(|| panic!("{step:?} missing after byte {from}:\n{out}"));
        from += at + step.len();
    }
    assert!(!out.contains("frontend —"), "the frontend never alerts: {out}");
    // No message about a transition the channel never saw: ai's CRITICAL was told by "UP, still CRITICAL".
    let ai_up = out.find("ai — UP, still CRITICAL").unwrap_or(0);
    assert!(!out[..ai_up].contains("ai — de-escalated"), "a de-escalation from a level never told: {out}");
    assert!(!out.contains("✅ ai — UP"), "never a green UP: {out}");

    // Nothing it started is left: its Envoy and collector ran on files named after its PID.
    let pattern = format!("test-logs/(envoy|collector)-{pid}-");
    let left = Command::new("pgrep").arg("-af").arg(&pattern).output().unwrap();
    assert!(left.stdout.is_empty(), "left behind: {}", String::from_utf8_lossy(&left.stdout));
    assert!(
        out.contains(&format!("envoy-{pid}-"))
            || std::fs::read_dir(paths::target_dir().join("test-logs")).unwrap().any(|e| e
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with(&format!("envoy-{pid}-"))),
        "the pattern names the demo's Envoy"
    );
}
