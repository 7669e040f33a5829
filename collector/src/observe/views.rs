//! The read-only views behind the status page and Prometheus: `GET /v1/history` (per-minute
//! series, failing routes and alerts with their delivery state, read on the read-only
//! connection) and the view `GET /metrics` renders. Counting refused flushes is atomic, so
//! the ingest path pays one relaxed increment.

use crate::clock::now_ms;
use crate::observe::metrics::{Metrics, ProxyMetrics, ServiceMetrics, WebhookMetrics};
use crate::state::Shared;
use crate::store::StoreError;
use crate::store::history::{AlertRecord, History};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// What the page says about an alert's delivery: `delivered`, `retrying`, `rate_limited`,
/// `webhook_broken`, `queued` (pending, nothing failed yet), `refused` (Discord refused even the
/// fallback) or `dropped` (undecodable).
pub fn delivery_state(a: &AlertRecord, webhook_state: Option<&str>) -> &'static str {
    match a.outcome.as_str() {
        "delivered" | "delivered_fallback" => "delivered",
        "refused" => "refused",
        "pending" => match webhook_state {
            Some("broken") => "webhook_broken",
            Some("rate_limited") => "rate_limited",
            Some("retrying") => "retrying",
            _ if a.attempts > 0 => "retrying",
            _ => "queued",
        },
        _ => "dropped",
    }
}

/// The query of `GET /v1/history`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryQuery {
    pub since_ms: u64,
    pub service: Option<String>,
    pub limit: usize,
}

/// Parses `since` (a duration like `1h`, at most the retention; default 1h), `service` and
/// `limit` (alerts, default 50, at most 1000).
pub fn parse_query(params: &BTreeMap<String, String>, retention_ms: u64) -> Result<HistoryQuery, String> {
    let since_ms = match params.get("since") {
        None => 3_600_000,
        Some(s) => {
            let d = humantime::parse_duration(s)
                .map_err(|e| format!("since: {s:?} is not a duration like \"1h\" or \"30m\": {e}"))?;
            u64::try_from(d.as_millis()).unwrap_or(u64::MAX).min(retention_ms)
        }
    };
    let limit = match params.get("limit") {
        None => 50,
        Some(l) => l.parse::<usize>().map_err(|_| format!("limit: {l:?} is not a number"))?.clamp(1, 1000),
    };
    Ok(HistoryQuery { since_ms, service: params.get("service").cloned(), limit })
}

/// `GET /v1/history`: per service its minutes and failing routes since `since`, and the alerts.
pub fn history_json(shared: &Shared, q: &HistoryQuery) -> Result<Value, StoreError> {
    let now = now_ms();
    let from = now.saturating_sub(q.since_ms);
    let hooks: BTreeMap<String, String> = shared
        .webhooks
        .lock()
        .map(|h| h.iter().map(|(k, v)| (k.clone(), v.state.to_string())).collect())
        .unwrap_or_default();
    let (minutes, routes, timeline, alerts) = tokio::task::block_in_place(|| {
        let conn = shared.reader.lock().unwrap_or_else(|p| p.into_inner());
        let h = History(&conn);
        let svc = q.service.as_deref();
        let routes = h.routes(svc, from, shared.cfg.top_routes.max(5))?;
        // The timeline of the top failing routes (at most 5 per service): which API broke when.
        let mut top: Vec<_> = Vec::new();
        for r in &routes {
            if top.iter().filter(|t: &&crate::store::history::RouteTotal| t.service == r.service).count() < 5 {
                top.push(r.clone());
            }
        }
        let timeline = h.route_minutes(&top, from)?;
        Ok::<_, StoreError>((h.minutes(svc, from)?, routes, timeline, h.alerts(svc, from, q.limit)?))
    })?;
    let mut per: BTreeMap<String, (Vec<Value>, Vec<Value>)> = BTreeMap::new();
    let mut lines: BTreeMap<String, BTreeMap<String, Vec<Value>>> = BTreeMap::new();
    for m in timeline {
        let minutes = lines.entry(m.service).or_default().entry(m.route).or_default();
        minutes.push(json!({"start_ms": m.start_ms, "count": m.count}));
    }
    for m in minutes {
        per.entry(m.service.clone())
            .or_default()
            .0
            .push(json!({"start_ms": m.start_ms, "requests": m.requests, "errors": m.errors}));
    }
    for r in routes {
        let line = json!({
            "route": r.route,
            "count": r.count,
            "first_seen_ms": r.first_seen_ms,
            "last_seen_ms": r.last_seen_ms,
        });
        per.entry(r.service.clone()).or_default().1.push(line);
    }
    let services: BTreeMap<String, Value> = per
        .into_iter()
        .map(|(k, (m, r))| {
            let timeline = lines.remove(&k).unwrap_or_default();
            (k, json!({"minutes": m, "routes": r, "route_minutes": timeline}))
        })
        .collect();
    let alerts: Vec<Value> = alerts
        .iter()
        .map(|a| {
            json!({
                "id": a.id, "service": a.service, "webhook": a.webhook, "title": a.title, "created_ms": a.created_ms,
                "outcome": a.outcome, "sent_ms": a.sent_ms, "attempts": a.attempts, "message_id": a.message_id,
                "delivery": delivery_state(a, hooks.get(&a.webhook).map(String::as_str)),
            })
        })
        .collect();
    Ok(json!({
        "now_ms": now,
        "since_ms": from,
        "minute_ms": crate::decide::minutes::MINUTE_MS,
        "retention_ms": u64::try_from(shared.cfg.history.retention.as_millis()).unwrap_or(u64::MAX),
        "services": services,
        "alerts": alerts,
    }))
}

/// The view `GET /metrics` renders.
pub async fn metrics_view(shared: &Shared) -> Metrics {
    let now = now_ms();
    let cfg = shared.cfg.clone();
    let (services, proxies, depth, writable) = shared
        .with_core(|c| {
            let services: Vec<ServiceMetrics> = c
                .engine
                .services()
                .iter()
                .map(|(name, s)| {
                    let (requests, errors) = s.window.counts(now);
                    let coverage = c.engine.coverage(name, now);
                    let last = s.health.last.as_ref();
                    ServiceMetrics {
                        name: name.clone(),
                        totals: s.totals.clone(),
                        window_requests: requests,
                        window_errors: errors,
                        state: crate::observe::status::state_of(s, requests, coverage),
                        stale: crate::observe::status::stale(coverage),
                        thresholds: Some(cfg.thresholds(name)),
                        health_up: match s.health.health {
                            crate::decide::health::Health::Up => Some(true),
                            crate::decide::health::Health::Down => Some(false),
                            crate::decide::health::Health::Unknown => None,
                        },
                        health_latency_ms: last.map(|p| p.latency_ms),
                        health_last_check_ms: last.map(|p| p.at_ms),
                    }
                })
                .collect();
            let stale_after = c.engine.stale_after_ms();
            let proxies: Vec<ProxyMetrics> = c
                .engine
                .proxies()
                .iter()
                .map(|(id, p)| ProxyMetrics {
                    id: id.clone(),
                    reporting: p.reporting(now, stale_after),
                    last_flush_ms: p.reports.map(|r| r.last_ms),
                    refusals: p.refusals.len(),
                })
                .collect();
            (services, proxies, c.store.depth(), c.unsaved.trouble.is_none())
        })
        .await;
    // Not ok while reads fail or while writes fail (alerts then go out from memory, see `unsaved`).
    let database_ok = depth.is_ok() && writable;
    let depth = depth.unwrap_or_default();
    let hooks = shared.webhooks.lock().map(|h| h.clone()).unwrap_or_default();
    let webhooks = cfg
        .webhooks
        .keys()
        .map(|name| {
            let st = hooks.get(name).cloned().unwrap_or_default();
            WebhookMetrics {
                name: name.clone(),
                sent: st.delivered,
                failed: st.failed,
                depth: depth.get(name).copied().unwrap_or(0),
                state: st.state.to_string(),
            }
        })
        .collect();
    Metrics {
        version: env!("CARGO_PKG_VERSION").to_string(),
        started_ms: shared.started_ms,
        window_ms: u64::try_from(cfg.window.as_millis()).unwrap_or(u64::MAX),
        services,
        proxies,
        webhooks,
        rejects: shared.stats.rejects(),
        flushes: shared.stats.results(),
        database_ok,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(outcome: &str, attempts: u64) -> AlertRecord {
        AlertRecord {
            id: 1,
            service: "be".into(),
            webhook: "default".into(),
            title: "t".into(),
            created_ms: 0,
            outcome: outcome.into(),
            sent_ms: None,
            attempts,
            message_id: None,
        }
    }

    #[test]
    fn delivery_states_are_named_for_people() {
        assert_eq!(delivery_state(&alert("delivered", 3), Some("broken")), "delivered");
        assert_eq!(delivery_state(&alert("delivered_fallback", 0), None), "delivered");
        assert_eq!(delivery_state(&alert("pending", 0), Some("broken")), "webhook_broken");
        assert_eq!(delivery_state(&alert("pending", 0), Some("retrying")), "retrying");
        assert_eq!(delivery_state(&alert("pending", 2), Some("ok")), "retrying");
        assert_eq!(delivery_state(&alert("pending", 0), Some("ok")), "queued");
        assert_eq!(delivery_state(&alert("refused", 1), None), "refused");
        assert_eq!(delivery_state(&alert("undecodable: x", 0), None), "dropped");
    }

    #[test]
    fn history_queries_are_checked() {
        let p =
            |kv: &[(&str, &str)]| kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>();
        assert_eq!(
            parse_query(&p(&[]), 7 * 86_400_000).unwrap(),
            HistoryQuery { since_ms: 3_600_000, service: None, limit: 50 }
        );
        let q = parse_query(&p(&[("since", "30d"), ("service", "be"), ("limit", "5000")]), 86_400_000).unwrap();
        assert_eq!(q, HistoryQuery { since_ms: 86_400_000, service: Some("be".into()), limit: 1000 });
        assert!(parse_query(&p(&[("since", "soon")]), 1).unwrap_err().contains("since"));
        assert!(parse_query(&p(&[("limit", "-1")]), 1).unwrap_err().contains("limit"));
    }
}
