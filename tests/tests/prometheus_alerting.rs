//! End to end with real Prometheus and Alertmanager (Debian's binaries, each on its own
//! config, temp storage and 127.0.0.1 ports): Prometheus scrapes a running collector fed with
//! live flushes, evaluates the rules `faultline-collector rules --window 10s` generated, and
//! its alerts reach Alertmanager's API (`/api/v2/alerts`) with the service and tier.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

mod collector_support;
mod status_support;

use collector_support::*;
use faultline_tests::discord::FakeDiscord;
use faultline_tests::process::{Proc, wait_for_listen, wait_until};
use serde_json::Value;
use status_support::*;
use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

#[test]
fn prometheus_fires_the_generated_rules_into_alertmanager() {
    let discord = FakeDiscord::start().unwrap();
    let dir = scratch("prom-e2e");
    let cport = port();
    let extra = "\n[[services]]\nname = \"be\"\n\n[[services]]\nname = \"ai\"\nwarning = 2\ncritical = 50\n";
    let c =
        Collector::start(&dir, &(config_head(cport, &dir.join("state"), &discord.webhook_url(1, "tok"), "") + extra));

    let out = Command::new(bin())
        .args(["rules", "--config", c.config.to_str().unwrap(), "--window", "10s"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    std::fs::write(dir.join("rules.yml"), &out.stdout).unwrap();

    let amport = port();
    std::fs::write(
        dir.join("alertmanager.yml"),
        "route:\n  receiver: \"null\"\n  group_wait: 1s\nreceivers:\n  - name: \"null\"\n",
    )
    .unwrap();
    let mut am = Command::new(tool("prometheus-alertmanager"));
    am.arg(format!("--config.file={}", dir.join("alertmanager.yml").display()))
        .arg(format!("--storage.path={}", dir.join("am-data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{amport}"))
        .arg("--cluster.listen-address=");
    let am = Proc::spawn("alertmanager", am).unwrap();
    wait_for_listen(addr(amport), LONG).unwrap_or_else(|e| panic!("{e}\n{}", am.log()));

    let pport = port();
    let prom_cfg = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {rules}\n\
         alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: [\"127.0.0.1:{amport}\"]\n\
         scrape_configs:\n  - job_name: faultline\n    static_configs:\n      - targets: [\"127.0.0.1:{cport}\"]\n",
        rules = dir.join("rules.yml").display()
    );
    std::fs::write(dir.join("prometheus.yml"), prom_cfg).unwrap();
    let mut prom = Command::new(tool("prometheus"));
    prom.arg(format!("--config.file={}", dir.join("prometheus.yml").display()))
        .arg(format!("--storage.tsdb.path={}", dir.join("prom-data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{pport}"));
    let prom = Proc::spawn("prometheus", prom).unwrap();
    wait_for_listen(addr(pport), LONG).unwrap_or_else(|e| panic!("{e}\n{}", prom.log()));

    // Live traffic: every 250 ms another 100 requests per service; be fails 15% (CRITICAL),
    // ai 5% (WARNING under its own 2% / 50% thresholds), fe none.
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut seq = 0;
    let firing = loop {
        seq += 1;
        let f = flush_of(
            "edge-1",
            "boot-1",
            seq,
            &[
                ("be", 100 * seq, 15 * seq, &[(ORDERS, 15 * seq)]),
                ("ai", 100 * seq, 5 * seq, &[]),
                ("fe", 100 * seq, 0, &[]),
            ],
        );
        assert_eq!(c.post_flush(&f).0, 200);
        let (_, alerts) = http(addr(amport), b"GET /api/v2/alerts HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let names: Vec<(String, String)> = alerts
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|x| {
                        (
                            x["labels"]["alertname"].as_str().unwrap_or("").to_string(),
                            x["labels"]["service"].as_str().unwrap_or("").to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let want = [("FaultlineErrorRateCritical", "be"), ("FaultlineErrorRateWarning", "ai")];
        if want.iter().all(|(a, s)| names.iter().any(|(n, v)| n == a && v == s)) {
            break alerts;
        }
        if Instant::now() > deadline {
            let (_, rules) = http(addr(pport), b"GET /api/v1/rules HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            panic!(
                "alerts never reached Alertmanager: {alerts}\nPrometheus rules: {rules}\n{}\n{}",
                prom.log(),
                am.log()
            );
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    let list = firing.as_array().unwrap();
    let be: &Value = list.iter().find(|a| a["labels"]["alertname"] == "FaultlineErrorRateCritical").unwrap();
    assert_eq!(
        (be["labels"]["service"].as_str(), be["labels"]["severity"].as_str(), be["labels"]["thresholds"].as_str()),
        (Some("be"), Some("critical"), Some("default"))
    );
    assert_eq!(be["status"]["state"], "active");
    assert!(be["annotations"]["summary"].as_str().unwrap().starts_with("be: CRITICAL 5xx rate 15"), "{be}");
    let ai = list.iter().find(|a| a["labels"]["alertname"] == "FaultlineErrorRateWarning").unwrap();
    assert_eq!((ai["labels"]["service"].as_str(), ai["labels"]["thresholds"].as_str()), (Some("ai"), Some("ai")));
    assert!(!list.iter().any(|a| a["labels"]["service"] == "fe"), "fe has no 5xx: {firing}");
    assert!(
        !list.iter().any(|a| a["labels"]["service"] == "be" && a["labels"]["alertname"] == "FaultlineErrorRateWarning"),
        "the tiers exclude each other"
    );
    // Prometheus saw the same figures as the collector.
    let q = "GET /api/v1/query?query=faultline_requests_total%7Bservice%3D%22be%22%7D HTTP/1.1\r\n\
             Host: x\r\nConnection: close\r\n\r\n";
    let seen = wait_until(LONG, || {
        let (_, r) = http(addr(pport), q.as_bytes());
        r["data"]["result"][0]["value"][1].as_str().and_then(|v| v.parse::<u64>().ok()).filter(|v| *v == 100 * seq)
    });
    assert_eq!(seen, Some(100 * seq), "the last scrape carries every request posted");
}
