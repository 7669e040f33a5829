//! `GET /metrics` on the real collector in the Prometheus text format (checked by Debian's
//! `promtool check metrics`), with the figures of live data, and `faultline-collector rules`
//! accepted by `promtool check rules` (defaults, per-service overrides, a shortened window).
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

mod collector_support;
mod status_support;

use collector_support::*;
use status_support::*;
use std::io::Write;
use std::process::{Command, Stdio};

fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|v| v.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("no sample {series} in\n{text}"))
        .parse()
        .unwrap()
}

fn promtool(args: &[&str], stdin: &str) -> (bool, String) {
    let mut child = Command::new(tool("promtool"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn metrics_are_valid_prometheus_text_with_live_figures() {
    let l = live("prom-metrics", "");
    l.settle(1);
    let c = &l.c;
    // Refused flushes, by reason.
    assert_eq!(c.post("/v1/flush", Some("wrong-token-9"), b"{}").0, 401);
    assert_eq!(c.post("/v1/flush", Some(TOKEN), b"{not json").0, 400);
    assert_eq!(c.post("/v1/flush", Some(TOKEN), b"{}").0, 400);
    let (code, head, text) = get_raw(c.addr, "/metrics", "");
    assert_eq!(code, 200);
    assert!(head.contains("content-type: text/plain; version=0.0.4"), "{head}");
    let (ok, why) = promtool(&["check", "metrics"], &text);
    assert!(ok, "promtool check metrics: {why}\n{text}");

    assert_eq!(sample(&text, "faultline_requests_total{service=\"be\"}"), 1000.0);
    assert_eq!(sample(&text, "faultline_responses_5xx_total{service=\"be\"}"), 120.0);
    assert_eq!(sample(&text, "faultline_responses_5xx_total{service=\"fe\"}"), 0.0);
    assert_eq!(sample(&text, "faultline_window_requests{service=\"ai\"}"), 1000.0);
    for (svc, state) in [("be", "critical"), ("ai", "warning"), ("db", "down"), ("fe", "ok")] {
        assert_eq!(
            sample(&text, &format!("faultline_service_state{{service=\"{svc}\",state=\"{state}\"}}")),
            1.0,
            "{svc}"
        );
        assert_eq!(
            text.lines()
                .filter(|l| l.starts_with(&format!("faultline_service_state{{service=\"{svc}\"")) && l.ends_with(" 1"))
                .count(),
            1,
            "one state for {svc}"
        );
    }
    assert_eq!(sample(&text, "faultline_threshold_ratio{service=\"be\",level=\"critical\"}"), 0.1);
    assert_eq!(sample(&text, "faultline_health_up{service=\"be\"}"), 1.0);
    assert_eq!(sample(&text, "faultline_health_up{service=\"db\"}"), 0.0);
    assert!(!text.contains("faultline_health_up{service=\"fe\"}"), "no check, no sample");
    let latency = sample(&text, "faultline_health_latency_seconds{service=\"be\"}");
    assert!((0.0..0.5).contains(&latency), "{latency}");
    assert!(
        sample(&text, "faultline_deliveries_total{webhook=\"default\",result=\"sent\"}") >= 2.0,
        "be CRITICAL and db DOWN delivered"
    );
    assert!(sample(&text, "faultline_deliveries_total{webhook=\"ops\",result=\"failed\"}") >= 1.0);
    assert_eq!(sample(&text, "faultline_outbox_depth{webhook=\"ops\"}"), 1.0, "the broken webhook keeps its alert");
    assert_eq!(sample(&text, "faultline_webhook_broken{webhook=\"ops\"}"), 1.0);
    assert_eq!(sample(&text, "faultline_ingest_rejects_total{reason=\"unauthorized\"}"), 1.0);
    assert_eq!(sample(&text, "faultline_ingest_rejects_total{reason=\"malformed\"}"), 2.0);
    assert_eq!(sample(&text, "faultline_flushes_total{result=\"applied\"}"), 1.0);

    // Counters only grow: a second flush adds its counts.
    l.post(2, 2);
    l.settle(2);
    let text = c.get("/metrics").1.as_str().unwrap().to_string();
    assert_eq!(sample(&text, "faultline_requests_total{service=\"be\"}"), 2000.0);
}

#[test]
fn promtool_accepts_the_generated_rules() {
    let dir = scratch("prom-rules");
    let config = dir.join("faultline.toml");
    let toml = config_head(port(), &dir.join("state"), "https://discord.com/api/webhooks/1/t", "")
        + "\n[[services]]\nname = \"be\"\nwarning = 2\ncritical = 4\nmin_requests = 50\n\n\
           [[services]]\nname = \"a.i|x\"\nwarning = 2\ncritical = 4\nmin_requests = 50\n\n\
           [[services]]\nname = \"fe\"\n";
    std::fs::write(&config, toml).unwrap();
    for args in [
        vec![],
        vec!["--config", config.to_str().unwrap()],
        vec!["--window", "30s"],
        vec!["--config", config.to_str().unwrap(), "--window", "2m"],
    ] {
        let out = Command::new(bin()).arg("rules").args(&args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        let rules = String::from_utf8(out.stdout).unwrap();
        let file = dir.join("rules.yml");
        std::fs::write(&file, &rules).unwrap();
        let (ok, why) = promtool(&["check", "rules", file.to_str().unwrap()], "");
        assert!(ok, "{args:?}: {why}\n{rules}");
        // Recording rules, two tiers per threshold group, the fast burn and DOWN.
        let n = if args.contains(&"--config") { 9 } else { 7 };
        assert!(why.contains(&format!("SUCCESS: {n} rules found")), "{args:?}: {why}");
    }
    let out = Command::new(bin()).args(["rules", "--window", "0s"]).output().unwrap();
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("--window"));
}
