//! Shared by the collector's integration tests: the real `faultline-collector` binary on a
//! config written for the test, a tiny HTTP/1.1 client, and flush builders.
#![allow(dead_code, clippy::expect_used, clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use faultline_flush::{Flush, RouteCounters, ServiceCounters, VERSION};
use faultline_tests::process::{Proc, free_port, wait_for_listen, wait_until};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

pub const TOKEN: &str = "ingest-token-1";
pub const LONG: Duration = Duration::from_secs(60);

/// A scratch directory under target/test-logs, fresh for each call.
pub fn scratch(name: &str) -> PathBuf {
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let d = faultline_tests::paths::target_dir()
        .join("test-logs")
        .join(format!("collector-{name}-{}-{stamp}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub fn bin() -> PathBuf {
    faultline_tests::paths::binary("faultline-collector").unwrap()
}

/// The head of a config: fast window and buckets for tests, one token, the given webhooks.
/// Unless `extra` sets `stale_after`, the watchdog waits 10 min (these tests flush by hand, now and then).
pub fn config_head(port: u16, state: &std::path::Path, default_hook: &str, extra: &str) -> String {
    let stale = if extra.contains("stale_after") { "" } else { "stale_after = \"10m\"\n" };
    // These tests are about delivery, each change on its own: no grouping.
    let group_wait = "0s";
    format!(
        "listen = \"127.0.0.1:{port}\"\nstate_dir = \"{}\"\nwindow = \"10s\"\nbucket = \"1s\"\nmin_requests = 10\n\
         reminder = \"0s\"\n{stale}{extra}\n\n\
         [[tokens]]\ntoken = \"{TOKEN}\"\n\n\
         [[tokens]]\ntoken = \"bound-token-1\"\nproxies = [\"edge-1\"]\n\n\
         [delivery]\ntimeout = \"2s\"\nmax_backoff = \"2s\"\nbroken_retry = \"10m\"\n\n\
         [notify.default]\ngroup_wait = \"{group_wait}\"\n\n\
         [webhooks]\ndefault = \"{default_hook}\"\n",
        state.display()
    )
}

/// A running collector.
pub struct Collector {
    pub proc: Proc,
    pub addr: SocketAddr,
    pub config: PathBuf,
}

impl Collector {
    /// Writes `config` to `dir/faultline.toml` and starts `run` on it.
    pub fn start(dir: &std::path::Path, config: &str) -> Collector {
        let path = dir.join("faultline.toml");
        std::fs::write(&path, config).unwrap();
        Collector::start_file(path)
    }

    pub fn start_file(config: PathBuf) -> Collector {
        let text = std::fs::read_to_string(&config).unwrap();
        let port: u16 = text
            .lines()
            .find_map(|l| l.strip_prefix("listen = \"127.0.0.1:"))
            .and_then(|r| r.trim_end_matches('"').parse().ok())
            .unwrap();
        let mut cmd = Command::new(bin());
        cmd.arg("run").arg("--config").arg(&config).env("FAULTLINE_LOG", "info,faultline_collector=debug");
        let proc = Proc::spawn("collector", cmd).unwrap();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        wait_for_listen(addr, LONG).unwrap_or_else(|e| panic!("{e}\n{}", proc.log()));
        Collector { proc, addr, config }
    }

    /// Kills with SIGKILL and starts again on the same config and state.
    pub fn restart_after_kill9(mut self) -> Collector {
        self.proc.kill9();
        Collector::start_file(self.config.clone())
    }

    pub fn post_flush(&self, f: &Flush) -> (u16, Value) {
        self.post("/v1/flush", Some(TOKEN), &f.to_json())
    }

    pub fn post(&self, path: &str, token: Option<&str>, body: &[u8]) -> (u16, Value) {
        let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let mut req = head.into_bytes();
        req.extend_from_slice(body);
        http(self.addr, &req)
    }

    pub fn get(&self, path: &str) -> (u16, Value) {
        http(self.addr, format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
    }

    /// The `/v1/status` entry of `service`.
    pub fn service(&self, service: &str) -> Value {
        let (_, s) = self.get("/v1/status");
        s["services"].as_array().and_then(|a| a.iter().find(|x| x["name"] == service).cloned()).unwrap_or(Value::Null)
    }

    /// Polls `/v1/status` until `pred` holds for `service`.
    pub fn wait_service(&self, service: &str, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        wait_until(LONG, || Some(self.service(service)).filter(|s| pred(s))).unwrap_or_else(|| {
            panic!("{service}: {what} never happened; last {}\n{}", self.service(service), self.proc.log())
        })
    }

    pub fn healthz(&self) -> Value {
        self.get("/healthz").1
    }
}

/// One HTTP/1.1 exchange (the request says `Connection: close`); the body parsed as JSON.
pub fn http(addr: SocketAddr, req: &[u8]) -> (u16, Value) {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(req).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).to_string();
    let status = text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (status, serde_json::from_str(body).unwrap_or(Value::String(body.to_string())))
}

/// A flush from `edge-1` with one service's cumulative counters.
pub fn flush(boot: &str, seq: u64, service: &str, responses: u64, e5: u64, routes: &[(&str, u64)]) -> Flush {
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
    Flush {
        version: VERSION,
        proxy_id: "edge-1".into(),
        boot_id: boot.into(),
        boot_ms: now - 1_000,
        seq,
        sent_ms: now,
        services: vec![ServiceCounters {
            name: service.into(),
            responses,
            status_4xx: 0,
            status_5xx: e5,
            no_response: 0,
            unreachable: 0,
            exemplars: vec![],
            routes: routes
                .iter()
                .map(|(r, c)| RouteCounters {
                    route: r.to_string(),
                    count: *c,
                    first_seen_ms: now - 500,
                    last_seen_ms: now,
                })
                .collect(),
        }],
        refusals: vec![],
    }
}

/// Titles of messages, in arrival order.
pub fn titles(msgs: &[Value]) -> Vec<String> {
    msgs.iter().map(|m| m["embeds"][0]["title"].as_str().unwrap_or("").to_string()).collect()
}

pub fn port() -> u16 {
    free_port().unwrap()
}
