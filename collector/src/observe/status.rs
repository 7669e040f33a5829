//! The JSON of `GET /v1/status` and `GET /healthz` (documented in docs/collector.md;
//! the end-to-end tests and the status page rely on these field names).

use crate::clock::now_ms;
use crate::decide::engine::{ServiceState, top_routes};
use crate::decide::health::Health;
use crate::state::Shared;
use serde_json::{Value, json};

/// The state shown for a service: `down` (health check), `no_data` (empty window, nothing
/// firing), else its rate level (`ok`, `warning`, `critical`).
pub fn state_of(s: &ServiceState, window_requests: u64) -> &'static str {
    if s.health.health == Health::Down {
        "down"
    } else if window_requests == 0 && !s.rate.firing() {
        "no_data"
    } else {
        match s.rate.level {
            crate::decide::alert::Level::Ok => "ok",
            crate::decide::alert::Level::Warning => "warning",
            crate::decide::alert::Level::Critical => "critical",
        }
    }
}

fn service_json(shared: &Shared, name: &str, s: &ServiceState, now: u64) -> Value {
    let cfg = &shared.cfg;
    let t = s.window.totals(now);
    let down = s.health.health == Health::Down;
    let state = state_of(s, t.requests);
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
    let incident =
        s.rate.opened_ms.map(|o| json!({"opened_ms": o, "level": s.rate.level, "announced": s.rate.announced}));
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
        "health": health,
        "incident": incident,
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
    let services = shared
        .with_core(|c| c.engine.services().iter().map(|(n, s)| service_json(shared, n, s, now)).collect::<Vec<_>>())
        .await;
    json!({
        "version": env!("CARGO_PKG_VERSION"),
        "now_ms": now,
        "started_ms": shared.started_ms,
        "first_start_ms": shared.first_start_ms,
        "window_ms": u64::try_from(shared.cfg.window.as_millis()).unwrap_or(u64::MAX),
        "services": services,
    })
}

/// `GET /healthz`: alive, how deliveries are going, and whether the state database takes writes
/// (`database_ok: false`, `database_error`, `unsaved_alerts` while alerts go out from memory).
pub async fn healthz(shared: &Shared) -> Value {
    let (depth, trouble, unsaved) =
        shared.with_core(|c| (c.store.depth(), c.unsaved.trouble.clone(), c.unsaved.undelivered())).await;
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
        "outbox_depth": total + unsaved as u64,
        "outbox": per,
        "webhooks": hooks,
    })
}
