//! Target `discord_message`: the collector's Discord message builder
//! (`collector/src/message/`) on any alert content.
//!
//! Input: a notice (any event — incident changes, proxy watchdog notices, the older rate and health
//! events —, coverage, counts, window, thresholds, up to 64 top routes, a probe
//! with any failure text; names and routes of any size, huge ones included), the
//! service's configuration (up to 300 role and user ids, a link template) and the
//! outbox id. Properties: never panics; the full message and the plain fallback both
//! pass the same validation the local Discord server applies
//! (`tests/src/discord/validate.rs`, compiled in here unchanged); neither can ping
//! anyone but the configured owners (`parse` stays empty), and the test alert, a proxy's notice and a
//! RESOLVED ping nobody.

use super::input::Input;
use faultline_collector::config::ServiceConfig;
use faultline_collector::decide::alert::{Level, RateChange, Thresholds};
use faultline_collector::decide::coverage::Coverage;
use faultline_collector::decide::health::{Failure, Health, HealthChange, ProbeResult};
use faultline_collector::decide::incident::{Condition, IncidentChange, Severity};
use faultline_collector::decide::notice::{Burst, Event, FailedRequest, IncidentEvent, Notice, ProxyEvent, RouteLine};
use faultline_collector::decide::watchdog::{ConfigRefusal, ProxyChange};
use faultline_collector::message::{fallback, render};
use serde_json::Value;

#[allow(dead_code)]
#[path = "../../tests/src/discord/validate.rs"]
mod validate;

fn level(inp: &mut Input) -> Level {
    inp.pick(&[Level::Ok, Level::Warning, Level::Critical]).unwrap_or(Level::Ok)
}

fn failure(inp: &mut Input) -> Failure {
    match inp.byte() % 6 {
        0 => Failure::Status(inp.u16()),
        1 => Failure::Timeout,
        2 => Failure::Refused,
        3 => Failure::Tls(inp.string()),
        4 => Failure::Dns(inp.string()),
        _ => Failure::Connection(inp.string()),
    }
}

fn condition(inp: &mut Input) -> Condition {
    Condition { down: inp.bool(), level: level(inp) }
}

fn severity(inp: &mut Input) -> Severity {
    inp.pick(&[Severity::Ok, Severity::Warning, Severity::Critical, Severity::Down]).unwrap_or(Severity::Ok)
}

fn health_change(inp: &mut Input) -> Option<HealthChange> {
    match inp.byte() % 3 {
        0 => None,
        1 => Some(HealthChange::Down { failure: failure(inp), failures: u32::from(inp.u16()) }),
        _ => Some(HealthChange::Up { downtime_ms: inp.u64() }),
    }
}

fn incident(inp: &mut Input) -> Event {
    let change = match inp.byte() % 5 {
        0 => IncidentChange::Opened { to: condition(inp) },
        1 => IncidentChange::Worse { from: condition(inp), to: condition(inp) },
        2 => IncidentChange::Better { from: condition(inp), to: condition(inp) },
        3 => IncidentChange::Resolved {
            from: condition(inp),
            worst: severity(inp),
            lasted_ms: inp.u64(),
            no_traffic: inp.bool(),
        },
        _ => IncidentChange::Reminder { from: condition(inp), now: condition(inp), open_ms: inp.u64() },
    };
    Event::Incident(IncidentEvent { change, opened_ms: inp.u64(), health: health_change(inp) })
}

fn proxy(inp: &mut Input) -> Event {
    let change = match inp.byte() % 5 {
        0 => ProxyChange::Stopped { last_ms: inp.u64() },
        1 => ProxyChange::NotReporting { since_ms: inp.u64() },
        2 => ProxyChange::Resumed { silent_ms: inp.u64() },
        3 => ProxyChange::Refused {
            refusals: (0..inp.byte() % 20)
                .map(|_| ConfigRefusal { service: inp.bool().then(|| inp.string()), reason: inp.string() })
                .collect(),
        },
        _ => ProxyChange::Accepted,
    };
    Event::Proxy(ProxyEvent { proxy: inp.string(), change })
}

fn event(inp: &mut Input) -> Event {
    match inp.byte() % 16 {
        0 => Event::Rate(RateChange::Raised { to: level(inp) }),
        1 => Event::Rate(RateChange::Escalated { from: level(inp), to: level(inp) }),
        2 => Event::Rate(RateChange::DeEscalated { from: level(inp), to: level(inp) }),
        3 => Event::Rate(RateChange::Resolved { from: level(inp), lasted_ms: inp.u64(), no_data: inp.bool() }),
        4 => Event::Rate(RateChange::Reminder { level: level(inp), firing_ms: inp.u64() }),
        5 => Event::Health(HealthChange::Down { failure: failure(inp), failures: u32::from(inp.u16()) }),
        6 => Event::Health(HealthChange::Up { downtime_ms: inp.u64() }),
        7 => Event::Health(HealthChange::Reminder { failure: failure(inp), down_ms: inp.u64() }),
        8..=12 => incident(inp),
        13 | 14 => proxy(inp),
        _ => Event::Test,
    }
}

/// A Discord id as the configuration accepts them: 1 to 20 digits.
fn id(inp: &mut Input) -> String {
    let n = inp.u64();
    let digits = n.to_string();
    digits.chars().take(1 + usize::from(inp.byte() % 20)).collect()
}

fn ids(inp: &mut Input) -> Vec<String> {
    let n = if inp.byte() == 255 { inp.below(301) } else { usize::from(inp.byte() % 4) };
    (0..n).map(|_| id(inp)).collect()
}

fn notice(inp: &mut Input) -> Notice {
    // Names are never empty: the flush format and the configuration both refuse that.
    let service = Some(inp.string()).filter(|s| !s.is_empty()).unwrap_or_else(|| "s".into());
    let event = event(inp);
    let mut top_routes = Vec::new();
    for _ in 0..inp.byte() % 65 {
        top_routes.push(RouteLine {
            route: inp.string(),
            count: inp.u64(),
            first_seen_ms: inp.u64(),
            last_seen_ms: inp.u64(),
        });
    }
    Notice {
        service,
        at_ms: inp.u64(),
        event,
        level: level(inp),
        health: inp.pick(&[Health::Unknown, Health::Up, Health::Down]).unwrap_or(Health::Up),
        window_ms: inp.u64(),
        requests: inp.u64(),
        errors: inp.u64(),
        thresholds: Thresholds {
            warning_bp: inp.u64(),
            critical_bp: inp.u64(),
            min_requests: inp.u64(),
            clear_pct: inp.u64(),
        },
        top_routes,
        rate_still: inp.bool().then(|| level(inp)),
        last_probe: inp.bool().then(|| ProbeResult {
            at_ms: inp.u64(),
            latency_ms: inp.u64(),
            failure: inp.bool().then(|| failure(inp)),
            status: inp.bool().then(|| inp.u16()),
        }),
        coverage: match inp.byte() % 4 {
            0 => None,
            1 => Some(Coverage::Full),
            2 => Some(Coverage::Partial { from_ms: inp.u64() }),
            _ => Some(Coverage::Missing { last_ms: inp.bool().then(|| inp.u64()) }),
        },
        down_since_ms: inp.bool().then(|| inp.u64()),
        failures: u32::from(inp.u16()),
        covers_ms: inp.bool().then(|| inp.u64()),
        burst: inp.bool().then(|| Burst { requests: inp.u64(), errors: inp.u64(), window_ms: inp.u64() }),
        // Read last, so that the corpus made before it still means what it meant.
        last_failures: (0..inp.byte() % 12)
            .map(|_| FailedRequest {
                at_ms: inp.u64(),
                proxy: inp.string(),
                method: inp.string(),
                route: inp.string(),
                path: inp.bool().then(|| inp.string()),
                status: inp.u16(),
                request_id: inp.bool().then(|| inp.string()),
                upstream: inp.bool().then(|| inp.string()),
                duration_ms: inp.bool().then(|| inp.u64()),
                details: inp.bool().then(|| inp.string()),
            })
            .collect(),
    }
}

fn service_config(inp: &mut Input, name: &str) -> ServiceConfig {
    let link = inp.bool().then(|| {
        let mut l = String::from(if inp.bool() { "https://" } else { "http://" });
        for _ in 0..inp.byte() % 6 {
            l.push_str(&inp.string());
            l.push_str(inp.pick(&faultline_collector::config::LINK_PLACEHOLDERS).unwrap_or(""));
        }
        l
    });
    ServiceConfig {
        name: name.to_string(),
        health: None,
        webhook: "default".into(),
        mention_roles: ids(inp),
        mention_users: ids(inp),
        link,
        thresholds: Thresholds { warning_bp: 500, critical_bp: 1000, min_requests: 100, clear_pct: 80 },
        down_unreachable_bp: None,
    }
}

/// The body as Discord would get it, validated; and who it may ping.
fn check_body(body: &Value, svc: Option<&ServiceConfig>, test: bool) {
    let raw = serde_json::to_vec(body).unwrap_or_default();
    if let Err(r) = validate::validate(&raw) {
        panic!(
            "Discord would refuse this message ({}): {}\n{}",
            r.code,
            r.body,
            String::from_utf8_lossy(&raw).chars().take(4000).collect::<String>()
        );
    }
    let am = body.get("allowed_mentions").unwrap_or_else(|| panic!("no allowed_mentions: {body}"));
    assert_eq!(am.get("parse"), Some(&Value::Array(Vec::new())), "mentions parsed from text");
    for (list, configured) in [("roles", svc.map(|s| &s.mention_roles)), ("users", svc.map(|s| &s.mention_users))] {
        let named: Vec<&str> = am
            .get(list)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        assert!(!test || named.is_empty(), "a message that must ping nobody pings {list}");
        for n in named {
            assert!(configured.is_some_and(|c| c.iter().any(|x| x == n)), "pings {n}, not an owner");
        }
    }
}

pub fn check(data: &[u8]) {
    let mut inp = Input::new(data);
    let n = notice(&mut inp);
    let svc = inp.bool().then(|| service_config(&mut inp, &n.service));
    let id = i64::from_le_bytes(inp.u64().to_le_bytes());
    // Who must be pinged by nobody: the test alert, a proxy's notice, the end of an incident.
    let test = match &n.event {
        Event::Test | Event::Proxy(_) => true,
        Event::Incident(e) => matches!(e.change, IncidentChange::Resolved { .. }),
        _ => false,
    };
    check_body(&render(&n, svc.as_ref(), id), svc.as_ref(), test);
    check_body(&fallback(&n, id), None, test);
}
