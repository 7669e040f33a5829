//! The operator API of the real collector over HTTP: off without an `operator_token` (403), the token required
//! and only that token (401 for none, a wrong one, the ingest or the status token), silences added, listed and
//! removed, acknowledgements, every bad request a 400 (or 404) with a JSON error that changes nothing, and what
//! it set shown in `/v1/status`, kept across a `kill -9`.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

mod collector_support;

use collector_support::*;
use faultline_tests::discord::FakeDiscord;
use serde_json::{Value, json};

const OPERATOR: &str = "operator-token-0000001";

fn call(c: &Collector, method: &str, path: &str, token: Option<&str>, body: &str) -> (u16, Value) {
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    http(c.addr, req.as_bytes())
}

#[test]
fn the_operator_api_is_off_without_its_token_and_refuses_every_other_token() {
    let discord = FakeDiscord::start().unwrap();
    let dir = scratch("operate-off");
    let c = Collector::start(&dir, &config_head(port(), &dir.join("state"), &discord.webhook_url(1, "t"), ""));
    let (code, body) = call(&c, "GET", "/v1/silences", Some(TOKEN), "");
    assert_eq!(code, 403, "{body}");
    assert!(body["error"].as_str().unwrap().contains("operator_token"), "{body}");

    let dir = scratch("operate-auth");
    let head = config_head(
        port(),
        &dir.join("state"),
        &discord.webhook_url(1, "t"),
        &format!("operator_token = \"{OPERATOR}\"\nstatus_token = \"status-token-0001\""),
    );
    let c = Collector::start(&dir, &(head + "[[services]]\nname = \"be\"\n"));
    for token in [None, Some("wrong-token-000000000"), Some(TOKEN), Some("status-token-0001")] {
        let (code, body) = call(&c, "POST", "/v1/silences", token, r#"{"service": "be", "for": "1h"}"#);
        assert_eq!(code, 401, "{token:?}: {body}");
        assert!(body["error"].is_string());
    }
    let (_, list) = call(&c, "GET", "/v1/silences", Some(OPERATOR), "");
    assert_eq!(list["silences"], json!([]), "nothing was added");
}

#[test]
fn silences_and_acknowledgements_are_validated_applied_shown_and_kept() {
    let discord = FakeDiscord::start().unwrap();
    let dir = scratch("operate");
    let head = config_head(
        port(),
        &dir.join("state"),
        &discord.webhook_url(1, "t"),
        &format!("operator_token = \"{OPERATOR}\""),
    );
    let c = Collector::start(&dir, &(head + "[[services]]\nname = \"be\"\n[[services]]\nname = \"ai\"\n"));
    let op = Some(OPERATOR);
    for (body, why) in [
        (r#"{"service": "ghost", "for": "1h"}"#, "unknown service"),
        (r#"{"service": "be", "for": "-5m"}"#, "negative"),
        (r#"{"service": "be", "for": "0s"}"#, "above zero"),
        (r#"{"service": "be", "until": "2001-01-01T00:00:00Z"}"#, "not in the future"),
        (r#"{"service": "be", "until": "next tuesday"}"#, "RFC 3339"),
        (r#"{"service": "be", "for": "1h", "until": "2099-01-01T00:00:00Z"}"#, "not both"),
        (r#"{"service": "be"}"#, "give for"),
        (r#"{"for": "1h"}"#, "name a service"),
        (r#"{"service": "be", "for": "1h", "colour": "red"}"#, "unknown field"),
        (r#"{"service": "be", "for": "#, "bad JSON"),
    ] {
        let (code, answer) = call(&c, "POST", "/v1/silences", op, body);
        assert_eq!(code, 400, "{body}: {answer}");
        assert!(answer["error"].as_str().unwrap().contains(why), "{body}: {answer}");
    }
    let (_, list) = call(&c, "GET", "/v1/silences", op, "");
    assert_eq!(list["silences"], json!([]), "a refused request changes nothing");
    let (code, added) = call(&c, "POST", "/v1/silences", op, r#"{"service": "be", "for": "1h", "reason": "deploy"}"#);
    assert_eq!(code, 201, "{added}");
    let s = &added["silence"];
    assert_eq!((s["id"].as_u64(), s["service"].as_str(), s["active"].as_bool()), (Some(1), Some("be"), Some(true)));
    assert_eq!(s["until_ms"].as_u64().unwrap() - s["from_ms"].as_u64().unwrap(), 3_600_000);
    let (code, r) = call(&c, "POST", "/v1/silences", op, r#"{"route": "GET /reports/*", "for": "30m"}"#);
    assert_eq!((code, r["silence"]["id"].as_u64()), (201, Some(2)), "{r}");

    // be fails while silenced: nothing notifies; /v1/status says why.
    c.post_flush(&flush("b", 1, "be", 100, 20, &[]));
    let be = c.wait_service("be", "muted", |s| s["muted"]["kind"] == "silence" && s["state"] == "critical");
    assert_eq!(be["muted"]["id"], 1);
    let (_, status) = c.get("/v1/status");
    assert_eq!(status["silences"].as_array().unwrap().len(), 2, "{status}");
    // Acknowledgements: refused without an incident or for an unknown service, then applied.
    for (body, code, why) in [
        (r#"{"service": "ai", "by": "alice"}"#, 400, "no open incident"),
        (r#"{"service": "ghost"}"#, 400, "unknown service"),
        (r#"{"by": "alice"}"#, 400, "missing field"),
    ] {
        let (got, answer) = call(&c, "POST", "/v1/ack", op, body);
        assert_eq!(got, code, "{body}: {answer}");
        assert!(answer["error"].as_str().unwrap().contains(why), "{body}: {answer}");
    }
    let (code, acked) = call(&c, "POST", "/v1/ack", op, r#"{"service": "be", "by": "alice"}"#);
    assert_eq!(code, 200, "{acked}");
    assert_eq!(
        (acked["acknowledged"]["by"].as_str(), acked["acknowledged"]["severity"].as_str()),
        (Some("alice"), Some("critical"))
    );
    c.wait_service("be", "acknowledged", |s| s["incident"]["acknowledged"]["by"] == "alice");

    // Kept across a kill -9 (once the living message is out: a kill between Discord's answer and its record
    // would post it again, the at-least-once case); removed by id (404 unknown, 400 for a non-number).
    faultline_tests::process::wait_until(LONG, || Some(()).filter(|_| c.healthz()["outbox_depth"] == 0)).unwrap();
    let c = c.restart_after_kill9();
    let (_, list) = call(&c, "GET", "/v1/silences", op, "");
    assert_eq!(list["silences"].as_array().unwrap().len(), 2, "{list}");
    c.wait_service("be", "still acknowledged", |s| s["incident"]["acknowledged"]["by"] == "alice");
    assert_eq!(call(&c, "DELETE", "/v1/silences/9", op, "").0, 404);
    assert_eq!(call(&c, "DELETE", "/v1/silences/x", op, "").0, 400);
    let (code, removed) = call(&c, "DELETE", "/v1/silences/1", op, "");
    assert_eq!((code, removed["removed"]["id"].as_u64()), (200, Some(1)), "{removed}");
    let (code, again) = call(&c, "POST", "/v1/silences", op, r#"{"service": "ai", "for": "10m"}"#);
    assert_eq!((code, again["silence"]["id"].as_u64()), (201, Some(3)), "ids are never reused: {again}");
    assert_eq!(call(&c, "PUT", "/v1/silences", op, "").0, 405);
    // The silence over be ended: its incident, opened under it (its living message posted silently), is
    // announced once.
    let msgs = discord.wait_for_messages(1, 2, LONG).unwrap();
    assert_eq!(msgs[0]["flags"], 4096, "the living message notified nobody: {}", msgs[0]);
    assert!(titles(&msgs)[1].starts_with("🔴 be — CRITICAL: "), "{:?}", titles(&msgs));
    assert!(msgs[1]["embeds"][0]["description"].as_str().unwrap().contains("Silence #1 ended"), "{}", msgs[1]);
    assert!(msgs[1].get("flags").is_none());
}
