//! `GET /metrics` in the Prometheus text format (version 0.0.4), written by hand from a
//! [`Metrics`] view of the collector. Pure: the edge gathers the view, this renders it.
//! Names and labels are documented in docs/collector.md; the `rules` command builds on them.

use crate::decide::alert::Thresholds;
use crate::decide::engine::Totals;
use std::fmt::Write;

/// The content type Prometheus expects for this format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The states a service can be in (`faultline_service_state{state=...}`).
pub const STATES: [&str; 5] = ["ok", "warning", "critical", "down", "no_data"];

/// One service's figures.
#[derive(Debug, Clone, Default)]
pub struct ServiceMetrics {
    pub name: String,
    /// Accepted since the first start on this state: monotonic across restarts.
    pub totals: Totals,
    pub window_requests: u64,
    pub window_errors: u64,
    /// One of [`STATES`].
    pub state: &'static str,
    /// Held for want of reports (the proxies' reports do not cover the window).
    pub stale: bool,
    pub thresholds: Option<Thresholds>,
    /// `None` without a health check or before its first probe.
    pub health_up: Option<bool>,
    pub health_latency_ms: Option<u64>,
    pub health_last_check_ms: Option<u64>,
}

/// One webhook's deliveries since this process started.
#[derive(Debug, Clone, Default)]
pub struct WebhookMetrics {
    pub name: String,
    pub sent: u64,
    pub failed: u64,
    pub depth: u64,
    /// "ok", "retrying", "rate_limited" or "broken".
    pub state: String,
}

/// One proxy as the watchdog sees it.
#[derive(Debug, Clone, Default)]
pub struct ProxyMetrics {
    pub id: String,
    pub reporting: bool,
    pub last_flush_ms: Option<u64>,
    /// Configurations its filter instances refuse now.
    pub refusals: usize,
}

/// Everything `/metrics` shows.
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    pub version: String,
    pub started_ms: u64,
    pub window_ms: u64,
    pub services: Vec<ServiceMetrics>,
    pub proxies: Vec<ProxyMetrics>,
    pub webhooks: Vec<WebhookMetrics>,
    /// Refused flushes since start, by reason.
    pub rejects: Vec<(&'static str, u64)>,
    /// Accepted flushes since start, by result (applied, stale, baseline).
    pub flushes: Vec<(&'static str, u64)>,
    pub database_ok: bool,
}

/// A label value escaped as the format requires (backslash, double quote, newline).
pub fn escape(v: &str) -> String {
    let mut o = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => o.push_str("\\\\"),
            '"' => o.push_str("\\\""),
            '\n' => o.push_str("\\n"),
            c => o.push(c),
        }
    }
    o
}

fn head(o: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn secs(ms: u64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

/// Renders the view.
pub fn render(m: &Metrics) -> String {
    let mut o = String::with_capacity(4096 + m.services.len() * 2048);
    head(&mut o, "faultline_build_info", "gauge", "The collector's version.");
    let _ = writeln!(o, "faultline_build_info{{version=\"{}\"}} 1", escape(&m.version));
    head(&mut o, "faultline_start_time_seconds", "gauge", "When this collector process started (unix seconds).");
    let _ = writeln!(o, "faultline_start_time_seconds {}", secs(m.started_ms));
    head(&mut o, "faultline_window_seconds", "gauge", "The sliding window the collector judges 5xx rates over.");
    let _ = writeln!(o, "faultline_window_seconds {}", secs(m.window_ms));
    head(
        &mut o,
        "faultline_database_ok",
        "gauge",
        "1 when the state database answered the last read and takes writes.",
    );
    let _ = writeln!(o, "faultline_database_ok {}", u8::from(m.database_ok));

    let per = |o: &mut String, name: &str, kind: &str, help: &str, f: &dyn Fn(&ServiceMetrics) -> Option<String>| {
        head(o, name, kind, help);
        for s in &m.services {
            if let Some(v) = f(s) {
                let _ = writeln!(o, "{name}{{service=\"{}\"}} {v}", escape(&s.name));
            }
        }
    };
    per(
        &mut o,
        "faultline_requests_total",
        "counter",
        "Responses to clients per service (any status), accepted from flushes since the first start.",
        &|s| Some(s.totals.requests.to_string()),
    );
    per(&mut o, "faultline_responses_5xx_total", "counter", "Responses with a 5xx status per service.", &|s| {
        Some(s.totals.errors.to_string())
    });
    per(&mut o, "faultline_responses_4xx_total", "counter", "Responses with a 4xx status per service.", &|s| {
        Some(s.totals.status_4xx.to_string())
    });
    per(
        &mut o,
        "faultline_no_response_total",
        "counter",
        "Requests that ended with no response (client went away) per service.",
        &|s| Some(s.totals.no_response.to_string()),
    );
    per(&mut o, "faultline_window_requests", "gauge", "Responses in the collector's current window.", &|s| {
        Some(s.window_requests.to_string())
    });
    per(&mut o, "faultline_window_responses_5xx", "gauge", "5xx responses in the collector's current window.", &|s| {
        Some(s.window_errors.to_string())
    });

    head(
        &mut o,
        "faultline_service_state",
        "gauge",
        "1 for the service's current state (ok, warning, critical, down, no_data), 0 for the others.",
    );
    for s in &m.services {
        for st in STATES {
            let _ = writeln!(
                o,
                "faultline_service_state{{service=\"{}\",state=\"{st}\"}} {}",
                escape(&s.name),
                u8::from(s.state == st)
            );
        }
    }
    per(
        &mut o,
        "faultline_service_stale",
        "gauge",
        "1 while the service's state is held because the proxies' reports do not cover its window.",
        &|s| Some(u8::from(s.stale).to_string()),
    );
    head(&mut o, "faultline_proxy_reporting", "gauge", "1 while the proxy flushes within stale_after, else 0.");
    for p in &m.proxies {
        let _ = writeln!(o, "faultline_proxy_reporting{{proxy=\"{}\"}} {}", escape(&p.id), u8::from(p.reporting));
    }
    head(&mut o, "faultline_proxy_last_flush_timestamp_seconds", "gauge", "When the proxy's last flush was accepted.");
    for p in m.proxies.iter().filter(|p| p.last_flush_ms.is_some()) {
        let t = secs(p.last_flush_ms.unwrap_or(0));
        let _ = writeln!(o, "faultline_proxy_last_flush_timestamp_seconds{{proxy=\"{}\"}} {t}", escape(&p.id));
    }
    head(
        &mut o,
        "faultline_proxy_config_refusals",
        "gauge",
        "Faultline configurations the proxy's filter instances refuse (they pass traffic uncounted).",
    );
    for p in &m.proxies {
        let _ = writeln!(o, "faultline_proxy_config_refusals{{proxy=\"{}\"}} {}", escape(&p.id), p.refusals);
    }
    head(&mut o, "faultline_threshold_ratio", "gauge", "The 5xx-rate thresholds in force per service (0.05 = 5%).");
    for s in &m.services {
        if let Some(t) = &s.thresholds {
            for (level, bp) in [("warning", t.warning_bp), ("critical", t.critical_bp)] {
                let _ = writeln!(
                    o,
                    "faultline_threshold_ratio{{service=\"{}\",level=\"{level}\"}} {}",
                    escape(&s.name),
                    bp as f64 / 10_000.0
                );
            }
        }
    }
    per(
        &mut o,
        "faultline_min_requests",
        "gauge",
        "Minimum requests in the window for the rate to raise an alert.",
        &|s| s.thresholds.map(|t| t.min_requests.to_string()),
    );
    per(
        &mut o,
        "faultline_health_up",
        "gauge",
        "1 when the service's health check says UP, 0 when DOWN (absent without a check or result).",
        &|s| s.health_up.map(|u| u8::from(u).to_string()),
    );
    per(&mut o, "faultline_health_latency_seconds", "gauge", "Latency of the last health check.", &|s| {
        s.health_latency_ms.map(secs)
    });
    per(
        &mut o,
        "faultline_health_last_check_timestamp_seconds",
        "gauge",
        "When the last health check ran (unix seconds).",
        &|s| s.health_last_check_ms.map(secs),
    );

    head(
        &mut o,
        "faultline_deliveries_total",
        "counter",
        "Discord deliveries since start per webhook: result=\"sent\" (accepted) or \"failed\" \
         (any refused or failed attempt).",
    );
    for w in &m.webhooks {
        let _ = writeln!(
            o,
            "faultline_deliveries_total{{webhook=\"{0}\",result=\"sent\"}} {1}\n\
             faultline_deliveries_total{{webhook=\"{0}\",result=\"failed\"}} {2}",
            escape(&w.name),
            w.sent,
            w.failed
        );
    }
    head(&mut o, "faultline_outbox_depth", "gauge", "Alerts waiting in the outbox per webhook.");
    for w in &m.webhooks {
        let _ = writeln!(o, "faultline_outbox_depth{{webhook=\"{}\"}} {}", escape(&w.name), w.depth);
    }
    head(
        &mut o,
        "faultline_webhook_broken",
        "gauge",
        "1 while Discord refuses the webhook (401/403/404): alerts are kept, not delivered.",
    );
    for w in &m.webhooks {
        let _ = writeln!(
            o,
            "faultline_webhook_broken{{webhook=\"{}\"}} {}",
            escape(&w.name),
            u8::from(w.state == "broken")
        );
    }
    head(&mut o, "faultline_ingest_rejects_total", "counter", "Flushes refused since start, by reason.");
    for (reason, n) in &m.rejects {
        let _ = writeln!(o, "faultline_ingest_rejects_total{{reason=\"{reason}\"}} {n}");
    }
    head(
        &mut o,
        "faultline_flushes_total",
        "counter",
        "Flushes accepted since start, by result (applied, stale, baseline).",
    );
    for (result, n) in &m.flushes {
        let _ = writeln!(o, "faultline_flushes_total{{result=\"{result}\"}} {n}");
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view() -> Metrics {
        Metrics {
            version: "0.1.0".into(),
            started_ms: 1_700_000_000_123,
            window_ms: 300_000,
            services: vec![ServiceMetrics {
                name: "b\"e\\\n".into(),
                totals: Totals { requests: 1000, errors: 120, status_4xx: 7, no_response: 2 },
                window_requests: 500,
                window_errors: 60,
                state: "critical",
                stale: false,
                thresholds: Some(Thresholds { warning_bp: 500, critical_bp: 1000, min_requests: 100, clear_pct: 80 }),
                health_up: Some(false),
                health_latency_ms: Some(1234),
                health_last_check_ms: Some(5),
            }],
            proxies: vec![ProxyMetrics {
                id: "edge-1".into(),
                reporting: false,
                last_flush_ms: Some(9_000),
                refusals: 2,
            }],
            webhooks: vec![WebhookMetrics {
                name: "default".into(),
                sent: 3,
                failed: 2,
                depth: 1,
                state: "broken".into(),
            }],
            rejects: vec![("unauthorized", 4)],
            flushes: vec![("applied", 9)],
            database_ok: true,
        }
    }

    #[test]
    fn every_sample_is_announced_typed_and_escaped() {
        let text = render(&view());
        let name = r#"service="b\"e\\\n""#;
        for line in [
            format!("faultline_requests_total{{{name}}} 1000"),
            format!("faultline_responses_5xx_total{{{name}}} 120"),
            format!("faultline_service_state{{{name},state=\"critical\"}} 1"),
            format!("faultline_service_state{{{name},state=\"ok\"}} 0"),
            format!("faultline_threshold_ratio{{{name},level=\"warning\"}} 0.05"),
            format!("faultline_health_up{{{name}}} 0"),
            format!("faultline_health_latency_seconds{{{name}}} 1.234"),
            "faultline_deliveries_total{webhook=\"default\",result=\"failed\"} 2".to_string(),
            "faultline_outbox_depth{webhook=\"default\"} 1".to_string(),
            "faultline_webhook_broken{webhook=\"default\"} 1".to_string(),
            "faultline_ingest_rejects_total{reason=\"unauthorized\"} 4".to_string(),
            "faultline_start_time_seconds 1700000000.123".to_string(),
            format!("faultline_service_stale{{{name}}} 0"),
            "faultline_proxy_reporting{proxy=\"edge-1\"} 0".to_string(),
            "faultline_proxy_last_flush_timestamp_seconds{proxy=\"edge-1\"} 9.000".to_string(),
            "faultline_proxy_config_refusals{proxy=\"edge-1\"} 2".to_string(),
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
        }
        // Every sample's metric has a TYPE line before it, and only one.
        let mut typed = std::collections::BTreeSet::new();
        for l in text.lines() {
            if let Some(rest) = l.strip_prefix("# TYPE ") {
                assert!(typed.insert(rest.split(' ').next().unwrap().to_string()), "two TYPE lines for {rest}");
            } else if !l.starts_with('#') {
                let metric = l.split(['{', ' ']).next().unwrap();
                assert!(typed.contains(metric), "{metric} sampled before its TYPE");
            }
        }
    }

    #[test]
    fn services_without_checks_have_no_health_samples() {
        let mut v = view();
        v.services[0].health_up = None;
        v.services[0].health_latency_ms = None;
        let text = render(&v);
        assert!(!text.lines().any(|l| l.starts_with("faultline_health_up{")), "{text}");
    }
}
