//! The `discord-sink` binary: announces its URL, accepts webhook messages, prints them readably.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use faultline_tests::process::{Proc, wait_until};
use serde_json::json;

fn post(url: &str, body: &str) -> u16 {
    let rest = url.trim_start_matches("http://");
    let (addr, path) = rest.split_at(rest.find('/').expect("path"));
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("write");
    let mut answer = String::new();
    s.read_to_string(&mut answer).expect("read");
    answer.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0)
}

#[test]
fn sink_prints_each_accepted_message() {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_discord-sink"));
    cmd.args(["--listen", "127.0.0.1:0"]);
    let sink = Proc::spawn("discord-sink", cmd).expect("spawn");
    let url = wait_until(Duration::from_secs(60), || {
        sink.log().lines().find_map(|l| l.strip_prefix("webhook URL: ").map(str::to_string))
    })
    .unwrap_or_else(|| panic!("no URL announced: {}", sink.log()));
    assert!(url.starts_with("http://127.0.0.1:") && url.contains("/api/v10/webhooks/"), "{url}");

    let alert = json!({
        "content": "<@&77> be is CRITICAL",
        "allowed_mentions": {"parse": [], "roles": ["77"]},
        "embeds": [{"title": "CRITICAL — be", "color": 0xE74C3C, "description": "12.0% — 120 of 1000 in 5 min",
                    "fields": [{"name": "Failing routes", "value": "GET /server/users/:id/orders — 120"}]}]
    });
    assert_eq!(post(&url, &alert.to_string()), 204);
    assert_eq!(post(&url, r#"{"embeds": [{"title": "too long", "description": ""}], "content": ""}"#), 204);
    assert_eq!(post(&url, r#"{"content": ""}"#), 400);

    let printed = wait_until(Duration::from_secs(60), || {
        let log = sink.log();
        log.contains("too long").then_some(log)
    })
    .unwrap_or_else(|| panic!("messages not printed: {}", sink.log()));
    for needle in [
        "notifies: roles 77",
        "CRITICAL — be",
        "12.0% — 120 of 1000 in 5 min",
        "Failing routes: GET /server/users/:id/orders — 120",
    ] {
        assert!(printed.contains(needle), "missing {needle:?}:\n{printed}");
    }
    assert!(!printed.contains('\x1b'), "no colour codes when stdout is not a terminal");
}

#[test]
fn sink_refuses_bad_arguments() {
    let out =
        Command::new(env!("CARGO_BIN_EXE_discord-sink")).args(["--listen", "not-an-address"]).output().expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--listen not-an-address"));
}
