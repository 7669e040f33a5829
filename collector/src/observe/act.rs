//! What `/v1/status` and the status page show of the desk: per incident its acknowledgement and its mute
//! (silence or maintenance), and the silences and maintenance windows in force or coming.

use crate::config::Config;
use crate::decide::desk::Desk;
use crate::decide::notify::Mute;
use crate::decide::schedule;
use serde_json::{Value, json};

fn mute_json(m: &Mute) -> Value {
    match m {
        Mute::Silence { id, until_ms, reason, by } => {
            json!({"kind": "silence", "id": id, "until_ms": until_ms, "reason": reason, "by": by})
        }
        Mute::Maintenance { name, until_ms } => json!({"kind": "maintenance", "name": name, "until_ms": until_ms}),
    }
}

/// Adds to each service of `/v1/status` `muted` (the silence or maintenance over it now, or null) and to its
/// incident `acknowledged` (`{by, at_ms, severity}` or null).
pub fn decorate(services: &mut [Value], desk: &Desk, cfg: &Config, now_ms: u64) {
    for s in services.iter_mut() {
        let name = s.get("name").and_then(Value::as_str).unwrap_or("").to_string();
        let down = s.get("state").and_then(Value::as_str) == Some("down");
        let routes: Vec<String> = s
            .get("top_routes")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|r| r.get("route").and_then(Value::as_str).map(str::to_string)).collect())
            .unwrap_or_default();
        let refs: Vec<&str> = routes.iter().map(String::as_str).collect();
        let muted = desk.mute_for(cfg, &name, down, &refs, now_ms).map(|m| mute_json(&m));
        let ack = desk
            .incident(&name)
            .and_then(|t| t.ack.as_ref())
            .map(|a| json!({"by": a.by, "at_ms": a.at_ms, "severity": a.severity}));
        if let Some(o) = s.as_object_mut() {
            o.insert("muted".into(), muted.unwrap_or(Value::Null));
            if let Some(inc) = o.get_mut("incident").and_then(Value::as_object_mut) {
                inc.insert("acknowledged".into(), ack.unwrap_or(Value::Null));
            }
        }
    }
}

/// `silences` (every one the desk keeps, with `active`) and `maintenance` (each window, open now until
/// `until_ms`, or its next start).
pub fn listing(desk: &Desk, cfg: &Config, now_ms: u64) -> (Value, Value) {
    let silences: Vec<Value> = desk
        .silences()
        .values()
        .map(|s| {
            json!({"id": s.id, "service": s.service, "route": s.route, "from_ms": s.from_ms, "until_ms": s.until_ms,
                   "reason": s.reason, "by": s.by, "active": s.active(now_ms)})
        })
        .collect();
    let maintenance: Vec<Value> = cfg
        .maintenance
        .iter()
        .map(|m| {
            let until = schedule::maintenance_until(m, now_ms);
            json!({"name": m.name, "services": m.services, "active": until.is_some(), "until_ms": until,
                   "next_ms": if until.is_some() { None } else { schedule::maintenance_next(m, now_ms) }})
        })
        .collect();
    (Value::Array(silences), Value::Array(maintenance))
}

/// Notifications waiting in group waits, and held for quiet hours (per incident).
pub fn waiting(desk: &Desk) -> (u64, u64) {
    desk.queues().values().fold((0, 0), |(g, h), q| {
        let grouped = q.group.as_ref().map(|g| g.items.len()).unwrap_or(0);
        (g + grouped as u64, h + q.held.len() as u64)
    })
}
