//! The real collector binary: flush ingest over HTTP (auth, limits, stale, deltas), the
//! status endpoint, rate alerts raised and resolved on Discord, and the CLI.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

mod collector_support;

use collector_support::*;
use faultline_tests::discord::FakeDiscord;
use faultline_tests::process::wait_until;
use std::process::Command;
use std::time::Duration;

#[test]
fn ingest_answers_401_403_413_400_and_counts_exactly() {
    let discord = FakeDiscord::start().unwrap();
    let dir = scratch("ingest");
    let c = Collector::start(&dir, &config_head(port(), &dir.join("state"), &discord.webhook_url(1, "tok"), ""));
    let f = flush("b1", 1, "be", 100, 0, &[]);
    assert_eq!(c.post("/v1/flush", None, &f.to_json()).0, 401);
    assert_eq!(c.post("/v1/flush", Some("wrong-token"), &f.to_json()).0, 401);
    let mut other = f.clone();
    other.proxy_id = "edge-2".into();
    let (code, body) = c.post("/v1/flush", Some("bound-token-1"), &other.to_json());
    assert_eq!(code, 403, "{body}");
    assert_eq!(c.post("/v1/flush", Some(TOKEN), &vec![b' '; 1024 * 1024 + 1]).0, 413);
    let (code, body) = c.post("/v1/flush", Some(TOKEN), br#"{"version":1}"#);
    assert_eq!(code, 400);
    assert!(body["error"].as_str().unwrap().contains("missing field"), "{body}");
    let mut bad = f.clone();
    bad.services[0].status_5xx = 101;
    let (code, body) = c.post("/v1/flush", Some(TOKEN), &bad.to_json());
    assert_eq!(code, 400);
    assert!(body["error"].as_str().unwrap().contains("services[0]"), "{body}");
    assert_eq!(c.service("be"), serde_json::Value::Null, "nothing half-applied");

    assert_eq!(
        c.post("/v1/flush", Some("bound-token-1"), &f.to_json()),
        (200, serde_json::json!({"result": "applied"}))
    );
    assert_eq!(c.post_flush(&f), (200, serde_json::json!({"result": "stale"})), "a replayed flush changes nothing");
    assert_eq!(c.post_flush(&flush("b1", 2, "be", 150, 1, &[("GET /a", 1)])).0, 200);
    // A counter that went backwards changes nothing (not -130, not +20); it is the new baseline.
    assert_eq!(c.post_flush(&flush("b1", 3, "be", 20, 1, &[("GET /a", 1)])).0, 200);
    assert_eq!(c.service("be")["totals"]["requests"], 150);
    assert_eq!(c.post_flush(&flush("b1", 4, "be", 40, 1, &[("GET /a", 1)])).0, 200);
    let s = c.service("be");
    assert_eq!(s["totals"]["requests"], 170, "{s}");
    assert_eq!(s["totals"]["errors"], 1, "{s}");
    assert_eq!(s["window"]["requests"], 170);
    assert_eq!(s["state"], "ok");
    assert_eq!(s["configured"], false);
    assert!(discord.all_messages().is_empty());
    assert_eq!(c.get("/nope").0, 404);
    assert_eq!(c.get("/v1/flush").0, 405);
}

#[test]
fn a_critical_rate_is_raised_with_routes_then_resolves_once_the_proxy_reports_no_traffic() {
    let discord = FakeDiscord::start().unwrap();
    let dir = scratch("rate");
    let extra = "[[services]]\nname = \"be\"\nmention_roles = [\"111\"]\n\
                 link = \"https://logs.example.com/be?from={from_ms}\"\n";
    let cfg = config_head(port(), &dir.join("state"), &discord.webhook_url(1, "tok"), "") + extra;
    let c = Collector::start(&dir, &cfg);
    assert_eq!(c.service("be")["state"], "no_data", "a configured service with no traffic is said to have no data");
    let routes = [("GET /server/users/:id/orders", 58), ("POST /login", 4)];
    c.post_flush(&flush("b1", 1, "be", 500, 62, &routes));
    let msgs = discord.wait_for_messages(1, 1, LONG).unwrap();
    let m = &msgs[0];
    assert_eq!(m["embeds"][0]["title"], "🔴 be — CRITICAL: 12.4% of requests fail");
    // The flush's boot is 1 s old (the test's proxy): its counts cover that second, and the message says so
    // rather than "in 10 s" (the window); the window is covered only from that flush on.
    let d = m["embeds"][0]["description"].as_str().unwrap();
    assert!(d.contains("12.4% — 62 of 500 in 1 s of reports"), "{m}");
    let fields = m["embeds"][0]["fields"].to_string();
    assert!(fields.contains("GET /server/users/:id/orders` — **58**") && fields.contains("<t:"), "{fields}");
    assert_eq!(m["allowed_mentions"]["roles"], serde_json::json!(["111"]));
    assert!(m["content"].as_str().unwrap().starts_with("<@&111>"));
    assert!(discord.requests().iter().all(|r| r.query.contains("wait=true") && r.path.starts_with("/api/v10/")));
    let s = c.service("be");
    assert_eq!((s["state"].as_str(), s["incident"]["state"].as_str()), (Some("critical"), Some("critical")));
    // The proxy keeps flushing, with no new traffic: once its reports cover a whole window of that,
    // "no traffic" is a fact, and the incident ends as such (a gap in reports would not end it).
    let mut seq = 1;
    let msgs = wait_until(LONG, || {
        seq += 1;
        c.post_flush(&flush("b1", seq, "be", 500, 62, &routes));
        std::thread::sleep(Duration::from_millis(500));
        Some(discord.messages(1)).filter(|m| m.len() >= 2)
    })
    .unwrap();
    let t = msgs[1]["embeds"][0]["title"].as_str().unwrap();
    assert_eq!(t, "⚪ be — RESOLVED: no traffic in 10 s (was CRITICAL)", "{}", msgs[1]);
    assert_eq!(msgs[1]["allowed_mentions"]["roles"], serde_json::json!([]), "the end pages nobody");
    c.wait_service("be", "no data", |s| s["state"] == "no_data" && s["stale"] == false);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(discord.messages(1).len(), 2, "each change announced once");
}

#[test]
fn a_proxy_that_stops_reporting_is_said_and_its_incident_is_held_not_resolved() {
    let discord = FakeDiscord::start().unwrap();
    let dir = scratch("watchdog");
    let cfg = config_head(port(), &dir.join("state"), &discord.webhook_url(1, "tok"), "stale_after = \"2s\"")
        + "[[services]]\nname = \"be\"\n";
    let c = Collector::start(&dir, &cfg);
    for seq in 1..=4 {
        c.post_flush(&flush("b1", seq, "be", 100 * seq, 20 * seq, &[]));
        std::thread::sleep(Duration::from_millis(300));
    }
    discord.wait_for_messages(1, 1, LONG).unwrap();
    // The proxy goes silent: said once, by name, and what it served is held, not judged.
    let msgs = discord.wait_for_messages(1, 2, LONG).unwrap();
    let t = titles(&msgs);
    assert!(t[1].starts_with("⚠️ edge-1 stopped reporting (last flush "), "{t:?}");
    assert_eq!(msgs[1]["allowed_mentions"], serde_json::json!({"parse": []}));
    let s = c.service("be");
    assert_eq!((s["state"].as_str(), s["stale"].as_bool()), (Some("critical"), Some(true)), "{s}");
    let (_, status) = c.get("/v1/status");
    let proxy = &status["proxies"][0];
    assert_eq!((proxy["id"].as_str(), proxy["state"].as_str()), (Some("edge-1"), Some("stopped")), "{status}");
    let metrics = c.get("/metrics").1.as_str().unwrap_or_default().to_string();
    assert!(metrics.contains("faultline_proxy_reporting{proxy=\"edge-1\"} 0"), "{metrics}");
    assert!(metrics.contains("faultline_service_stale{service=\"be\"} 1"), "{metrics}");
    // Longer than the window (10 s): the window is empty for want of reports, and nothing resolves.
    std::thread::sleep(Duration::from_secs(12));
    assert_eq!(titles(&discord.messages(1)).len(), 2, "no RESOLVED: {:?}", titles(&discord.messages(1)));
    assert_eq!(c.service("be")["state"], "critical");
    // It reports again: said, with how long it was silent.
    c.post_flush(&flush("b1", 5, "be", 600, 120, &[]));
    let msgs = discord.wait_for_messages(1, 3, LONG).unwrap();
    assert!(titles(&msgs)[2].starts_with("✅ edge-1 reporting again after "), "{:?}", titles(&msgs));
}

#[test]
fn a_proxy_a_token_names_that_never_flushes_is_said_not_reporting() {
    let discord = FakeDiscord::start().unwrap();
    let dir = scratch("never");
    // config_head binds "bound-token-1" to proxy "edge-1", which never flushes here.
    let cfg = config_head(port(), &dir.join("state"), &discord.webhook_url(1, "tok"), "stale_after = \"2s\"");
    let c = Collector::start(&dir, &cfg);
    let msgs = discord.wait_for_messages(1, 1, LONG).unwrap();
    assert!(titles(&msgs)[0].starts_with("⚠️ edge-1 is not reporting (no flush in the "), "{:?}", titles(&msgs));
    let (_, status) = c.get("/v1/status");
    assert_eq!(status["proxies"][0]["state"], "never", "{status}");
}

#[test]
fn check_config_validates_masks_and_names_line_and_key() {
    let dir = scratch("check");
    let good = config_head(1, &dir, "https://discord.com/api/webhooks/123/very-secret-token", "")
        + "[[services]]\nname = \"be\"\nhealth_url = \"http://127.0.0.1:8080/actuator/health\"\n";
    std::fs::write(dir.join("good.toml"), &good).unwrap();
    let out = Command::new(bin()).arg("check-config").arg(dir.join("good.toml")).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        text.contains("webhooks/123/****") && !text.contains("very-secret-token") && !text.contains(TOKEN),
        "{text}"
    );
    assert!(text.contains("interval = \"1m\"") && text.contains("timeout = \"5s\""), "{text}");
    let bad = good.replace(
        "health_url = \"http://127.0.0.1:8080/actuator/health\"",
        "health_url = \"http://127.0.0.1:8080/actuator/health\"\ninterval = \"5s\"\ntimeout = \"10s\"",
    );
    std::fs::write(dir.join("faultline.toml"), &bad).unwrap();
    let out = Command::new(bin()).arg("check-config").arg(dir.join("faultline.toml")).output().unwrap();
    assert!(!out.status.success());
    let line = bad.lines().position(|l| l.starts_with("timeout = \"10s\"")).unwrap() + 1;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("faultline.toml:{line}: services[0].timeout: 10s must be below the interval (5s)")),
        "{err}"
    );
    let out = Command::new(bin()).arg("--version").output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("faultline-collector 0."));
    let out = Command::new(bin()).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("check-config") && help.contains("test-alert") && help.contains("run"), "{help}");
}

fn exemplar(t: u64, id: &str) -> faultline_flush::Exemplar {
    faultline_flush::Exemplar {
        time_ms: t,
        method: "GET".into(),
        route: "GET /a".into(),
        path: Some("/a".into()),
        status: 503,
        request_id: Some(id.into()),
        upstream: Some("127.0.0.1:9".into()),
        duration_ms: Some(3),
        details: None,
    }
}

/// Version 1 (no exemplars) and version 2 (with them) are both accepted; the exemplars' limits per
/// service and per flush, and a version 1 flush carrying them, are refused with 400 naming the fault.
#[test]
fn both_flush_versions_are_accepted_and_exemplars_beyond_the_limits_are_400() {
    let discord = FakeDiscord::start().unwrap();
    let dir = scratch("versions");
    let c = Collector::start(&dir, &config_head(port(), &dir.join("state"), &discord.webhook_url(1, "tok"), ""));
    let mut v1 = flush("b1", 1, "be", 100, 2, &[("GET /a", 2)]);
    v1.version = 1;
    assert_eq!(c.post_flush(&v1), (200, serde_json::json!({"result": "applied"})));
    let mut v2 = flush("b1", 2, "be", 200, 12, &[("GET /a", 12)]);
    assert_eq!(v2.version, 2);
    v2.services[0].exemplars = vec![exemplar(1_000, "req-1"), exemplar(2_000, "req-2")];
    assert_eq!(c.post_flush(&v2), (200, serde_json::json!({"result": "applied"})));
    let s = c.service("be");
    assert_eq!(s["totals"]["requests"], 200, "{s}");
    let ids: Vec<&str> =
        s["last_failures"].as_array().unwrap().iter().map(|f| f["request_id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["req-2", "req-1"], "{s}");
    assert_eq!(s["last_failures"][0]["route"], "GET /a");

    let refused = |f: &faultline_flush::Flush| {
        let (code, body) = c.post("/v1/flush", Some(TOKEN), &f.to_json());
        assert_eq!(code, 400, "{body}");
        body["error"].as_str().unwrap().to_string()
    };
    let mut too_many = flush("b1", 3, "be", 300, 30, &[("GET /a", 30)]);
    too_many.services[0].exemplars = (0..9).map(|i| exemplar(i, "x")).collect();
    assert_eq!(refused(&too_many), "services[0].exemplars: 9 entries, more than 8");
    let mut flood = flush("b1", 3, "be", 300, 30, &[("GET /a", 30)]);
    flood.services = (0..17)
        .map(|i| faultline_flush::ServiceCounters {
            name: format!("s{i}"),
            responses: 10,
            status_5xx: 10,
            exemplars: (0..8).map(|j| exemplar(j, "y")).collect(),
            ..Default::default()
        })
        .collect();
    assert_eq!(refused(&flood), "exemplars: 136 in the flush, more than 128");
    let mut old = flush("b1", 3, "be", 300, 30, &[("GET /a", 30)]);
    old.version = 1;
    old.services[0].exemplars = vec![exemplar(1, "z")];
    assert_eq!(refused(&old), "services[0].exemplars: needs version 2 (this flush is 1)");
    let mut future = flush("b1", 3, "be", 300, 30, &[]);
    future.version = 3;
    assert!(refused(&future).contains("version 3 is not supported"));
    assert_eq!(c.service("be")["totals"]["requests"], 200, "nothing of a refused flush applied");
}
