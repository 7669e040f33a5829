//! The JSON of `GET /v1/status` and `GET /healthz` (documented in docs/collector.md;
//! the end-to-end tests and the status page rely on these field names).

use crate::clock::now_ms;
use crate::decide::alert::Level;
use crate::decide::coverage::Coverage;
use crate::decide::engine::{ServiceState, top_routes};
use crate::decide::health::Health;
use crate::decide::watchdog::ProxyState;
use crate::state::Shared;
use serde_json::{Value, json};

/// The state shown for a service: `down` (health check), its rate level when above OK (`warning`,
/// `critical`), `no_data` (the proxies reported no traffic for the whole window, or none ever
/// reported it), else `ok`. A window the reports do not cover never reads as `no_data`: see
/// [`stale`].
pub fn state_of(s: &ServiceState, window_requests: u64, coverage: Coverage) -> &'static str {
    if s.health.health == Health::Down {
        return "down";
    }
    match s.rate.level {
        Level::Critical => "critical",
        Level::Warning => "warning",
        Level::Ok if coverage == Coverage::Missing { last_ms: None } => "no_data",
        Level::Ok if window_requests == 0 && coverage.is_full() => "no_data",
        Level::Ok => "ok",
    }
}

/// Whether the service's state is held for want of reports (shown as stale): it has been reported
/// before, and the reports do not cover its window now.
pub fn stale(coverage: Coverage) -> bool {
    !coverage.is_full() && coverage != Coverage::Missing { last_ms: None }
}

fn service_json(shared: &Shared, name: &str, s: &ServiceState, coverage: Coverage, now: u64) -> Value {
    let cfg = &shared.cfg;
    let t = s.window.totals(now);
    let down = s.health.health == Health::Down;
    let state = state_of(s, t.requests, coverage);
    let th = cfg.thresholds(name);
    let since = if down { s.health.down_since_ms.unwrap_or(s.rate.since_ms) } else { s.rate.since_ms };
    let rate = (t.requests > 0).then(|| t.errors as f64 / t.requests as f64);
    let health = s.health.last.as_ref().map(|p| {
        json!({
            "status": s.health.health,
            "last_check_ms": p.at_ms,
            "ok": p.failure.is_none(),
            "detail": p.failure.as_ref().map(|f| f.to_string()).unwrap_or_else(|| "ok".into()),
            "http_status": p.status,
            "latency_ms": p.latency_ms,
            "down_since_ms": s.health.down_since_ms,
        })
    });
    let incident = s.incident.as_ref().map(|i| {
        json!({
            "opened_ms": i.opened_ms,
            "state": i.told.severity(),
            "level": i.told.level,
            "down": i.told.down,
            "worst": i.worst,
            "last_notice_ms": i.last_notice_ms,
        })
    });
    json!({
        "name": name,
        "configured": cfg.service(name).is_some(),
        "state": state,
        "level": s.rate.level,
        "since_ms": since,
        "rate": rate,
        "window": {
            "window_ms": u64::try_from(cfg.window.as_millis()).unwrap_or(u64::MAX),
            "requests": t.requests,
            "errors": t.errors,
        },
        "totals": s.totals,
        "top_routes": top_routes(&t.routes, &s.routes, cfg.top_routes),
        "last_failures": s.last_failures,
        "health": health,
        "incident": incident,
        "stale": stale(coverage),
        "coverage": coverage,
        "proxies": s.proxies,
        "thresholds": {
            "warning": th.warning_bp as f64 / 10_000.0,
            "critical": th.critical_bp as f64 / 10_000.0,
            "min_requests": th.min_requests,
        },
    })
}

/// `GET /v1/status`.
pub async fn status(shared: &Shared) -> Value {
    let now = now_ms();
    let (services, proxies, (silences, maintenance)) = shared
        .with_core(|c| {
            let e = &c.engine;
            let mut services: Vec<Value> =
                e.services().iter().map(|(n, s)| service_json(shared, n, s, e.coverage(n, now), now)).collect();
            super::act::decorate(&mut services, &c.desk, &shared.cfg, now);
            let stale_after = e.stale_after_ms();
            let proxies: Vec<Value> = e.proxies().iter().map(|(id, p)| proxy_json(id, p, stale_after, now)).collect();
            (services, proxies, super::act::listing(&c.desk, &shared.cfg, now))
        })
        .await;
    json!({
        "version": env!("CARGO_PKG_VERSION"),
        "now_ms": now,
        "started_ms": shared.started_ms,
        "first_start_ms": shared.first_start_ms,
        "window_ms": u64::try_from(shared.cfg.window.as_millis()).unwrap_or(u64::MAX),
        "services": services,
        "proxies": proxies,
        "silences": silences,
        "maintenance": maintenance,
    })
}

/// A proxy as `/v1/status` shows it: `reporting`, `stopped` (flushed before, silent for longer than
/// `stale_after`) or `never` (named by a token, never flushed); its refused configurations.
pub fn proxy_state(p: &ProxyState, stale_after_ms: u64, now_ms: u64) -> &'static str {
    match p.reports {
        None => "never",
        Some(_) if p.reporting(now_ms, stale_after_ms) => "reporting",
        Some(_) => "stopped",
    }
}

fn proxy_json(id: &str, p: &ProxyState, stale_after_ms: u64, now_ms: u64) -> Value {
    json!({
        "id": id,
        "state": proxy_state(p, stale_after_ms, now_ms),
        "first_flush_ms": p.reports.map(|r| r.first_ms),
        "last_flush_ms": p.reports.map(|r| r.last_ms),
        "covered_since_ms": p.reports.map(|r| r.since_ms),
        "refusals": p.refusals,
    })
}

/// `GET /healthz`: alive, how deliveries are going, and whether the state database takes writes
/// (`database_ok: false`, `database_error`, `unsaved_alerts` while alerts go out from memory).
pub async fn healthz(shared: &Shared) -> Value {
    let (depth, trouble, unsaved, (grouped, held)) = shared
        .with_core(|c| {
            (c.store.depth(), c.unsaved.trouble.clone(), c.unsaved.undelivered(), super::act::waiting(&c.desk))
        })
        .await;
    let hooks = shared.webhooks.lock().map(|h| h.clone()).unwrap_or_default();
    let failing = hooks.values().any(|h| h.state != "ok");
    let (total, per, read_ok) = match depth {
        Ok(d) => (d.values().sum::<u64>(), d, true),
        Err(e) => {
            tracing::error!("healthz: reading the outbox failed: {e}");
            (0, Default::default(), false)
        }
    };
    let db_ok = read_ok && trouble.is_none();
    json!({
        "status": if failing || !db_ok { "degraded" } else { "ok" },
        "alive": true,
        "database_ok": db_ok,
        "database_error": trouble.as_ref().map(|t| t.error.clone()),
        "database_failing_since_ms": trouble.as_ref().map(|t| t.since_ms),
        "unsaved_alerts": unsaved,
        "uptime_ms": now_ms().saturating_sub(shared.started_ms),
        // Alerts waiting: in the outbox, in memory, and in a group wait (held for quiet hours: apart).
        "outbox_depth": total + unsaved as u64 + grouped,
        "grouping": grouped,
        "held_for_quiet_hours": held,
        "outbox": per,
        "webhooks": hooks,
    })
}
