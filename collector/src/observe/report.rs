//! The `history` and `rules` commands: thin glue between the configuration, the database
//! (read-only, safe while the service runs) and the pure renderers.

use crate::config::{Config, FastBurn};
use crate::decide::alert::Thresholds;
use crate::store::history::History;
use crate::store::{Store, StoreError};
use std::path::Path;
use std::time::Duration;

/// Where to read, and with which thresholds (the configuration's, or the built-in defaults).
pub struct Source<'a> {
    pub state_dir: &'a Path,
    pub config: Option<&'a Config>,
}

fn defaults() -> Thresholds {
    Thresholds { warning_bp: 500, critical_bp: 1000, min_requests: 100, clear_pct: 80 }
}

/// The `history` report of `service` (or of every service in the period) over the last `since`.
pub fn history(src: &Source<'_>, service: Option<&str>, since: Duration, now_ms: u64) -> Result<String, StoreError> {
    let conn = Store::open_read_only(src.state_dir)?;
    let h = History(&conn);
    let from = now_ms.saturating_sub(u64::try_from(since.as_millis()).unwrap_or(u64::MAX));
    let minutes = h.minutes(service, from)?;
    let routes = h.routes(service, from, 10)?;
    let alerts = h.alerts(service, from, 50)?;
    let mut names: Vec<String> = match service {
        Some(s) => vec![s.to_string()],
        None => minutes.iter().map(|m| m.service.clone()).chain(alerts.iter().map(|a| a.service.clone())).collect(),
    };
    names.sort();
    names.dedup();
    if names.is_empty() {
        return Ok(format!("no history since {} UTC\n", crate::observe::history_text::utc(from)));
    }
    let th = |n: &str| src.config.map(|c| c.thresholds(n)).unwrap_or_else(defaults);
    let failed = h.last_failures(service)?;
    let failures_of = |n: &str| {
        let list = failed.iter().find(|(name, _)| name == n).map(|(_, l)| l.as_slice()).unwrap_or_default();
        let recent: Vec<_> = list.iter().filter(|f| f.at_ms >= from).cloned().collect();
        crate::observe::history_text::failures(&recent)
    };
    let parts: Vec<String> = names
        .iter()
        .map(|n| {
            let mut text = crate::observe::history_text::render(n, from, now_ms, &minutes, &routes, &alerts, th(n));
            let failures = failures_of(n);
            if !failures.is_empty() {
                text.push('\n');
                text.push_str(&failures);
            }
            text
        })
        .collect();
    Ok(parts.join("\n"))
}

/// The Prometheus rules for `config` (or the defaults), over `window` (default: the config's).
pub fn rules(config: Option<&Config>, window: Option<Duration>) -> String {
    let window = window.or(config.map(|c| c.window)).unwrap_or(Duration::from_secs(300));
    let defaults = config.map(|c| c.defaults).unwrap_or_else(defaults);
    let services: Vec<(String, Thresholds)> =
        config.map(|c| c.services.iter().map(|s| (s.name.clone(), s.thresholds)).collect()).unwrap_or_default();
    let fast = config.map(|c| c.fast).unwrap_or(FastBurn {
        window: Duration::from_secs(10),
        critical_bp: 5_000,
        min_requests: 20,
    });
    crate::observe::rules::render(defaults, &services, window, fast)
}
