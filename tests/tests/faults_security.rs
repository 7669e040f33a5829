//! Security faults against the real collector (and the real Envoy for the log check):
//! - a flush without the token, with a wrong one, replayed under another proxy id with a token bound to the
//!   first, replayed as is, or older, or newer with counters that went backwards changes nothing in `/v1/status`;
//! - a full run (Envoy with the filter, traffic, alerts delivered and refused by a broken webhook, a kill -9
//!   and restart, `check-config`, `test-alert`, refused flushes, debug logging) writes none of the secrets
//!   (ingest token, webhook tokens, status token) to any log file it produced.

#![cfg(test)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use faultline_tests::discord::FakeDiscord;
use faultline_tests::envoy::{self, Envoy, Layout, http_request};
use faultline_tests::faults::{self, SimProxy, post_flush};
use faultline_tests::process::{Proc, free_port, wait_for_listen, wait_until};
use faultline_tests::stack::{self, SERVICES, service_totals};
use faultline_tests::traffic::{self, Stop, Targets, TrafficPlan};
use faultline_tests::upstream::{Upstream, UpstreamOptions};
use serde_json::Value;

const LONG: Duration = Duration::from_secs(90);
const TOKEN_A: &str = "sec-ingest-edge-a-5b1d9c";
const TOKEN_B: &str = "sec-ingest-edge-b-77e0aa";
const STATUS: &str = "sec-status-token-31f4c2";

/// Starts `faultline-collector run` with debug logging on `config`; waits until it listens.
fn collector(config: &Path, addr: SocketAddr) -> Proc {
    let mut cmd = Command::new(faultline_tests::paths::binary("faultline-collector").unwrap());
    cmd.arg("run").arg("--config").arg(config).env("FAULTLINE_LOG", "debug").env("RUST_LOG", "debug");
    let p = Proc::spawn("collector", cmd).unwrap();
    wait_for_listen(addr, LONG).unwrap_or_else(|e| panic!("{e}\n{}", p.log()));
    p
}

fn status(addr: SocketAddr) -> Value {
    let (code, body) =
        http_request(addr, "GET", "/v1/status", &[("Authorization", &format!("Bearer {STATUS}"))], b"").unwrap();
    assert_eq!(code, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

#[test]
fn flushes_without_the_right_token_or_replayed_change_nothing() {
    let dir = stack::Collector::workdir("faults-auth").unwrap();
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port().unwrap()));
    let toml = format!(
        "listen = \"{addr}\"\nstate_dir = \"{}\"\nstatus_token = \"{STATUS}\"\nwindow = \"60s\"\nbucket = \"1s\"\n\n\
         [[tokens]]\ntoken = \"{TOKEN_A}\"\nproxies = [\"edge-a\"]\n\n\
         [[tokens]]\ntoken = \"{TOKEN_B}\"\nproxies = [\"edge-b\"]\n\n\
         [webhooks]\ndefault = \"http://127.0.0.1:9/api/webhooks/1/unused-hook-token\"\n",
        dir.join("state").display()
    );
    std::fs::write(dir.join("faultline.toml"), toml).unwrap();
    let _c = collector(&dir.join("faultline.toml"), addr);

    let mut a = SimProxy::new("edge-a", "boot-a", TOKEN_A);
    a.count("be", 500, 20, "GET /orders");
    let first = a.next_flush();
    let body = first.to_json();
    assert_eq!(post_flush(addr, Some(TOKEN_A), &body).unwrap().0, 200);
    let want = (500, 20);
    assert_eq!(service_totals(&status(addr), "be"), want);

    // The status views are closed without the status token (and an ingest token does not open them).
    assert_eq!(http_request(addr, "GET", "/v1/status", &[], b"").unwrap().0, 401);
    assert_eq!(
        http_request(addr, "GET", "/v1/status", &[("Authorization", &format!("Bearer {TOKEN_A}"))], b"").unwrap().0,
        401
    );

    a.count("be", 500, 480, "GET /orders");
    let next = a.next_flush().to_json();
    let wrong_tokens: [(Option<&str>, &str); 5] = [
        (None, "no token"),
        (Some("sec-ingest-edge-a-5b1d9"), "the token less one character"),
        (Some("sec-ingest-edge-a-5b1d9cX"), "the token plus one character"),
        (Some(""), "an empty token"),
        (Some(STATUS), "the status token"),
    ];
    for (token, what) in wrong_tokens {
        let (code, answer) = post_flush(addr, token, &next).unwrap();
        assert_eq!(code, 401, "{what}: {answer}");
    }
    let (code, _) = http_request(addr, "POST", "/v1/flush", &[("Authorization", TOKEN_A)], &next).unwrap();
    assert_eq!(code, 401, "a token without the Bearer scheme");

    // Replayed under another proxy id with edge-a's token (bound to edge-a): 403. With edge-b's own token the
    // bodies of edge-a are refused as well (bound to edge-b).
    let mut other = first.clone();
    other.proxy_id = "edge-b".into();
    assert_eq!(post_flush(addr, Some(TOKEN_A), &other.to_json()).unwrap().0, 403);
    assert_eq!(post_flush(addr, Some(TOKEN_B), &body).unwrap().0, 403);
    assert_eq!(post_flush(addr, Some(TOKEN_B), &next).unwrap().0, 403);

    // Replayed as is: stale. An older seq with lower counters: stale.
    let (code, answer) = post_flush(addr, Some(TOKEN_A), &body).unwrap();
    assert_eq!((code, answer.contains("stale")), (200, true), "{answer}");
    let mut older = first.clone();
    older.services[0].responses = 10;
    older.services[0].status_5xx = 0;
    older.services[0].routes.clear();
    assert!(post_flush(addr, Some(TOKEN_A), &older.to_json()).unwrap().1.contains("stale"));
    let s = status(addr);
    assert_eq!(service_totals(&s, "be"), want, "nothing changed: {s}");
    assert!(stack::service_status(&s, "edge-b").is_none());

    // A newer flush whose counters went backwards: per docs/flush-format.md re-baselined, counting nothing
    // (never a negative delta, never a spike, the totals do not move).
    let mut back = a.next_flush();
    back.services[0].responses = 40;
    back.services[0].status_5xx = 2;
    back.services[0].routes = vec![faultline_flush::RouteCounters {
        route: "GET /orders".into(),
        count: 2,
        first_seen_ms: 1,
        last_seen_ms: 2,
    }];
    assert_eq!(post_flush(addr, Some(TOKEN_A), &back.to_json()).unwrap().0, 200);
    assert_eq!(service_totals(&status(addr), "be"), want, "counters that went backwards change nothing");

    // The refusals were counted by reason, and nothing else moved.
    let (_, metrics) =
        http_request(addr, "GET", "/metrics", &[("Authorization", &format!("Bearer {STATUS}"))], b"").unwrap();
    let line =
        |l: &str| metrics.lines().find(|x| x.starts_with(l)).map(|x| x.rsplit(' ').next().unwrap_or("").to_string());
    assert_eq!(line("faultline_ingest_rejects_total{reason=\"unauthorized\"}").as_deref(), Some("6"), "{metrics}");
    assert_eq!(line("faultline_ingest_rejects_total{reason=\"forbidden\"}").as_deref(), Some("3"), "{metrics}");
}

const INGEST: &str = "sec-envoy-ingest-4e8b02d1";
const HOOK: &str = "sec-webhook-token-a90c55e7";
const BROKEN_HOOK: &str = "sec-broken-webhook-token-c3d1";
const STATUS_FULL: &str = "sec-status-full-run-9d02";

#[test]
fn no_secret_appears_in_any_log_of_a_full_run() {
    let discord = FakeDiscord::start().unwrap();
    discord.delete_webhook(2);
    let mut services = BTreeMap::new();
    for (name, health, _) in SERVICES {
        services.insert(name, Upstream::launch(UpstreamOptions::new(name, health)).unwrap());
    }
    let dir = stack::Collector::workdir("faults-secrets").unwrap();
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port().unwrap()));
    let be_health = format!("{}/server/actuator/health", services["be"].base_url());
    let toml = format!(
        "listen = \"{addr}\"\nstate_dir = \"{}\"\nstatus_token = \"{STATUS_FULL}\"\nwindow = \"10s\"\nbucket = \"1s\"\n\
         min_requests = 50\nreminder = \"0s\"\n\n\
         [[tokens]]\ntoken = \"{INGEST}\"\nproxies = [\"sec-edge\"]\n\n\
         [webhooks]\ndefault = \"{}\"\nbroken = \"{}\"\n\n[delivery]\ntimeout = \"3s\"\nmax_backoff = \"1s\"\n\n\
         [[services]]\nname = \"be\"\nhealth_url = \"{be_health}\"\ninterval = \"1s\"\ntimeout = \"500ms\"\n\n\
         [[services]]\nname = \"ai\"\nwebhook = \"broken\"\n\n[[services]]\nname = \"frontend\"\n",
        dir.join("state").display(),
        discord.webhook_url(1, HOOK),
        discord.webhook_url(2, BROKEN_HOOK),
    );
    let config = dir.join("faultline.toml");
    std::fs::write(&config, toml).unwrap();
    let mut c = collector(&config, addr);

    let layout = Layout {
        listen_port: 0,
        admin_port: 0,
        services: services.iter().map(|(n, u)| (n.to_string(), u.addr())).collect(),
        collector: addr,
        wasm: faultline_tests::paths::filter_wasm().unwrap(),
        plugin: serde_json::json!({
            "proxy_id": "sec-edge",
            "collector": {"token": INGEST},
            "flush_interval_ms": 500,
            "merge_interval_ms": 250,
        }),
    };
    let mut envoy = Envoy::start(&envoy::render(&envoy::shipped_config().unwrap(), &layout).unwrap(), 2).unwrap();
    // Everything the filter can say (Envoy's wasm logger at trace). Envoy's own `router` logger at debug prints
    // every request's headers, the filter's `Authorization: Bearer` to the collector included (as it prints
    // clients' credentials): an Envoy fact, said in FUZZING.md; the levels here are the ones the docs suggest.
    assert_eq!(http_request(envoy.admin_addr(), "POST", "/logging?wasm=trace", &[], b"").unwrap().0, 200);

    services["be"].fail(200, 503, &["GET /server/users/:id/orders"]).unwrap();
    services["ai"].fail(200, 500, &[]).unwrap();
    let plan = TrafficPlan {
        connections: 4,
        rate: Some(150.0),
        ..TrafficPlan::new(
            &envoy.url(""),
            Targets::cycle(&["GET /server/users/7/orders", "POST /ai/chat", "GET /"]).unwrap(),
            Stop::For(Duration::from_secs(4)),
        )
    };
    traffic::run(&plan).unwrap();
    // be pages on the working webhook; ai's alert meets the broken one (loudly logged).
    discord.wait_for_messages(1, 1, LONG).unwrap();
    wait_until(LONG, || {
        let (_, h) = http_request(addr, "GET", "/healthz", &[], b"").ok()?;
        h.contains("\"broken\"").then_some(())
    })
    .unwrap_or_else(|| panic!("the broken webhook was never reported\n{}", c.log()));
    // Refused flushes, a kill -9 and a restart, more traffic.
    let mut intruder = SimProxy::new("sec-edge", "forged", "sec-envoy-ingest-4e8b02d2");
    intruder.count("be", 10, 10, "GET /x");
    assert_eq!(intruder.send(addr).unwrap(), 401);
    c.kill9();
    let mut c = collector(&config, addr);
    traffic::run(&plan).unwrap();
    wait_until(LONG, || {
        let (_, body) =
            http_request(addr, "GET", "/v1/status", &[("Authorization", &format!("Bearer {STATUS_FULL}"))], b"")
                .ok()?;
        (service_totals(&serde_json::from_str(&body).ok()?, "frontend").0 > 0).then_some(())
    })
    .unwrap();

    // The operator's commands, their output kept as logs of this run.
    let logs = faultline_tests::paths::target_dir().join("test-logs");
    for (name, args) in [("check-config", vec!["check-config"]), ("test-alert", vec!["test-alert", "--config"])] {
        let out = Command::new(faultline_tests::paths::binary("faultline-collector").unwrap())
            .args(&args)
            .arg(&config)
            .env("FAULTLINE_LOG", "debug")
            .output()
            .unwrap();
        let mut text = out.stdout.clone();
        text.extend_from_slice(&out.stderr);
        std::fs::write(logs.join(format!("{name}-{}-{}.log", std::process::id(), faults::now_ms())), text).unwrap();
        assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
    }
    assert_eq!(c.stop(LONG), Some(0));
    envoy.stop(Duration::from_secs(10));

    let files = faults::logs_of_this_process();
    let secrets = [INGEST, HOOK, BROKEN_HOOK, STATUS_FULL];
    let text: String = files.iter().filter_map(|f| std::fs::read_to_string(f).ok()).collect();
    // The logs are the full run's: they say what happened (so the grep below read the right files) ...
    for expected in [
        "alert delivered",
        "WEBHOOK BROKEN",
        "faultline-collector running",
        "stopped",
        "[wasm]",
        "status_token = \"****\"",
        "delivered to webhook",
    ] {
        assert!(text.contains(expected), "no {expected:?} in {} log files", files.len());
    }
    // ... and the grep finds the secrets where they are: the configuration files.
    assert_eq!(
        faults::grep_secrets(std::slice::from_ref(&config), &secrets).len(),
        4,
        "the grep finds each secret in the config"
    );
    let hits = faults::grep_secrets(&files, &secrets);
    eprintln!(
        "faults_security: {} log files, {} bytes, grepped for {} secrets",
        files.len(),
        text.len(),
        secrets.len()
    );
    assert!(hits.is_empty(), "secrets in logs: {hits:#?}");
}
