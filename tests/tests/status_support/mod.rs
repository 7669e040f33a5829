//! Shared by the status page, history and Prometheus tests (issue 6): a collector with live
//! data in every state, raw HTTP with headers, and the Debian tools the tests drive
//! (chromium, promtool, prometheus, prometheus-alertmanager), which scripts/test.sh installs.
#![allow(dead_code, clippy::expect_used, clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use crate::collector_support::*;
use faultline_flush::{Flush, RouteCounters, ServiceCounters, VERSION};
use faultline_tests::discord::FakeDiscord;
use faultline_tests::process::wait_until;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

pub const ORDERS: &str = "GET /server/users/:id/orders";
pub const CART: &str = "POST /server/cart";
pub const PREDICT: &str = "POST /ai/predict";
/// The request id of be's sampled failing request (`-<seq>` appended).
pub const FAILED_ID: &str = "268fad66e4ef9e75b5d6519bb5e7a2dc";

/// A Debian tool the tests need, found on PATH (or /usr/bin); a clear failure if missing.
pub fn tool(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin")])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "{name} is not installed: run scripts/test.sh \
                 (scripts/setup.sh installs chromium, prometheus and prometheus-alertmanager from Debian)"
            )
        })
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
}

/// One service's cumulative counters in a flush: `(name, responses, 5xx, [(route, 5xx)])`.
pub type Counts<'a> = (&'a str, u64, u64, &'a [(&'a str, u64)]);

/// A flush from `proxy` with several services, cumulative.
pub fn flush_of(proxy: &str, boot: &str, seq: u64, services: &[Counts<'_>]) -> Flush {
    let now = now_ms();
    Flush {
        version: VERSION,
        proxy_id: proxy.into(),
        boot_id: boot.into(),
        boot_ms: now - 1_000,
        seq,
        sent_ms: now,
        services: services
            .iter()
            .map(|(name, responses, e5, routes)| ServiceCounters {
                name: (*name).into(),
                responses: *responses,
                status_4xx: 0,
                status_5xx: *e5,
                no_response: 0,
                unreachable: 0,
                exemplars: vec![],
                routes: routes
                    .iter()
                    .map(|(r, c)| RouteCounters {
                        route: (*r).into(),
                        count: *c,
                        first_seen_ms: now - 30_000,
                        last_seen_ms: now - 1_000,
                    })
                    .collect(),
            })
            .collect(),
        refusals: vec![],
    }
}

/// One HTTP/1.1 GET with extra header lines; returns status, head and body text.
pub fn get_raw(addr: SocketAddr, path: &str, headers: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n{headers}Connection: close\r\n\r\n").as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).to_string();
    let status = text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (status, head.to_ascii_lowercase(), body.to_string())
}

/// A collector (5-minute window, so states hold while a browser looks) with live data:
/// `be` CRITICAL (12%, two failing routes, its alert delivered, health UP), `ai` WARNING (7%,
/// its webhook deleted: broken), `db` DOWN (health check refused), `fe` OK (unconfigured).
pub struct Live {
    pub discord: FakeDiscord,
    pub c: Collector,
    pub dir: PathBuf,
}

/// Posts the first flush; `settle(1)` waits for its effects (it reads the open JSON).
pub fn live(name: &str, extra_top: &str) -> Live {
    let discord = FakeDiscord::start().unwrap();
    discord.delete_webhook(2);
    let dir = scratch(name);
    let port = port();
    let refused = port_refused();
    // The flushes are posted by hand: the watchdog waits 10 min unless the test says otherwise.
    let stale = if extra_top.contains("stale_after") { "" } else { "stale_after = \"10m\"\n" };
    let config = format!(
        "listen = \"127.0.0.1:{port}\"\nstate_dir = \"{state}\"\nwindow = \"5m\"\nbucket = \"5s\"\n\
         min_requests = 10\nreminder = \"0s\"\n{stale}{extra_top}\n\n\
         [[tokens]]\ntoken = \"{TOKEN}\"\n\n\
         [delivery]\ntimeout = \"2s\"\nmax_backoff = \"2s\"\nbroken_retry = \"10m\"\n\n\
         [notify.default]\ngroup_wait = \"0s\"\n\n[notify.ops]\ngroup_wait = \"0s\"\n\n\
         [webhooks]\ndefault = \"{d}\"\nops = \"{o}\"\n\n\
         [[services]]\nname = \"be\"\nhealth_url = \"http://127.0.0.1:{port}/healthz\"\n\
         interval = \"1s\"\ntimeout = \"500ms\"\n\n\
         [[services]]\nname = \"ai\"\nwebhook = \"ops\"\nwarning = 5\ncritical = 10\n\n\
         [[services]]\nname = \"db\"\nhealth_url = \"http://127.0.0.1:{refused}/health\"\n\
         interval = \"1s\"\ntimeout = \"500ms\"\n",
        state = dir.join("state").display(),
        d = discord.webhook_url(1, "tok"),
        o = discord.webhook_url(2, "tok"),
    );
    let c = Collector::start(&dir, &config);
    let live = Live { discord, c, dir };
    live.post(1, 1);
    live
}

/// A port nothing listens on (bound then released).
fn port_refused() -> u16 {
    port()
}

impl Live {
    /// Posts the `n`-th cumulative flush: every flush adds 1000 requests per service.
    pub fn post(&self, seq: u64, n: u64) {
        let mut f = flush_of(
            "edge-1",
            "boot-1",
            seq,
            &[
                ("be", 1000 * n, 120 * n, &[(ORDERS, 100 * n), (CART, 20 * n)]),
                ("ai", 1000 * n, 70 * n, &[(PREDICT, 70 * n)]),
                ("fe", 1000 * n, 0, &[]),
            ],
        );
        // be's last failing request, as the filter samples it.
        f.services[0].exemplars = vec![faultline_flush::Exemplar {
            time_ms: f.sent_ms - 2_000,
            method: "GET".into(),
            route: ORDERS.into(),
            path: Some("/server/users/42/orders".into()),
            status: 500,
            request_id: Some(format!("{FAILED_ID}-{seq}")),
            upstream: Some("10.0.0.7:8080".into()),
            duration_ms: Some(31),
            details: Some("via_upstream".into()),
        }];
        let (code, body) = self.c.post_flush(&f);
        assert_eq!(code, 200, "{body}");
    }

    /// Waits until every state shows, the alerts went their ways and `n` flushes are in the history.
    pub fn settle(&self, n: u64) {
        let c = &self.c;
        c.wait_service("be", "CRITICAL", |s| s["state"] == "critical");
        c.wait_service("ai", "WARNING", |s| s["state"] == "warning");
        c.wait_service("db", "DOWN", |s| s["state"] == "down");
        c.wait_service("be", "health UP", |s| s["health"]["status"] == "up");
        self.discord.wait_for_messages(1, 1, LONG).unwrap();
        wait_until(LONG, || (c.healthz()["webhooks"]["ops"]["state"] == "broken").then_some(()))
            .unwrap_or_else(|| panic!("ops never broken: {}", c.healthz()));
        wait_until(LONG, || {
            let h = c.get("/v1/history?since=1h").1;
            let total: u64 =
                h["services"]["be"]["minutes"].as_array()?.iter().map(|m| m["requests"].as_u64().unwrap_or(0)).sum();
            let delivered =
                h["alerts"].as_array()?.iter().any(|a| a["service"] == "be" && a["delivery"] == "delivered");
            (total == 1000 * n && delivered).then_some(())
        })
        .unwrap_or_else(|| panic!("history never caught up: {}", c.get("/v1/history?since=1h").1));
    }
}
