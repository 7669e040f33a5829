use super::headline::{GREEN, GREY, ORANGE, RED};
use super::*;
use crate::decide::alert::{Level, RateChange, Thresholds};
use crate::decide::health::{Failure, ProbeResult};
use crate::decide::incident::Condition;
use crate::decide::notice::ProxyEvent;
use crate::decide::notice::RouteLine;
use crate::decide::watchdog::ConfigRefusal;

const TH: Thresholds = Thresholds { warning_bp: 500, critical_bp: 1000, min_requests: 100, clear_pct: 80 };

fn notice(event: Event) -> Notice {
    Notice {
        service: "be".into(),
        at_ms: 1_764_540_300_000,
        event,
        level: Level::Critical,
        health: Health::Up,
        window_ms: 300_000,
        requests: 500,
        errors: 62,
        thresholds: TH,
        top_routes: vec![RouteLine {
            route: "GET /server/users/:id/orders".into(),
            count: 58,
            first_seen_ms: 1_764_540_031_002,
            last_seen_ms: 1_764_540_284_410,
        }],
        rate_still: None,
        last_probe: Some(ProbeResult { at_ms: 1_764_540_290_000, latency_ms: 12, failure: None, status: Some(200) }),
        coverage: Some(Coverage::Full),
        down_since_ms: None,
        failures: 0,
        covers_ms: None,
        burst: None,
        last_failures: vec![],
    }
}

fn svc() -> ServiceConfig {
    ServiceConfig {
        name: "be".into(),
        health: None,
        webhook: "default".into(),
        mention_roles: vec!["111".into()],
        mention_users: vec!["222".into()],
        link: Some("https://logs.example.com/?q={service}&from={from_s}&to={to_s}".into()),
        thresholds: TH,
        down_unreachable_bp: None,
    }
}

fn check_limits(m: &Value) {
    let content = m["content"].as_str().unwrap_or("");
    assert!(content.chars().count() <= LIMITS.content);
    if let Some(embeds) = m["embeds"].as_array() {
        assert!(embeds.len() <= 10);
        for e in embeds {
            assert!(e["title"].as_str().unwrap().chars().count() <= LIMITS.title);
            assert!(e["description"].as_str().unwrap().chars().count() <= LIMITS.description);
            let fields = e["fields"].as_array().unwrap();
            assert!(fields.len() <= LIMITS.fields);
            for f in fields {
                assert!(f["name"].as_str().unwrap().chars().count() <= LIMITS.field_name);
                assert!(f["value"].as_str().unwrap().chars().count() <= LIMITS.field_value);
                assert!(!f["value"].as_str().unwrap().is_empty());
            }
            assert!(e["footer"]["text"].as_str().unwrap().chars().count() <= LIMITS.footer);
            assert!(embed_chars(e) <= LIMITS.embed_total, "{}", embed_chars(e));
        }
    }
}

#[test]
fn a_raised_alert_says_rate_counts_window_routes_link_and_mentions() {
    let m = render(&notice(Event::Rate(RateChange::Raised { to: Level::Critical })), Some(&svc()), 7);
    let e = &m["embeds"][0];
    assert_eq!(e["title"], "🔴 be — CRITICAL raised");
    assert_eq!(e["color"], RED);
    assert!(e["description"].as_str().unwrap().contains("12.4% — 62 of 500 in 5 min"));
    let routes = e["fields"].as_array().unwrap().iter().find(|f| f["name"] == "Top failing routes").unwrap();
    assert_eq!(
        routes["value"],
        "`GET /server/users/:id/orders` — **58** · first <t:1764540031:R> · last <t:1764540284:R>"
    );
    assert_eq!(e["url"], "https://logs.example.com/?q=be&from=1764540000&to=1764540300");
    assert_eq!(e["footer"]["text"], "Faultline · alert #7");
    assert_eq!(e["timestamp"], "2025-11-30T22:05:00Z");
    assert_eq!(m["content"], "<@&111> <@222> 🔴 be — CRITICAL raised");
    assert_eq!(m["allowed_mentions"], json!({"parse": [], "roles": ["111"], "users": ["222"]}));
    check_limits(&m);
}

#[test]
fn colours_and_words_by_severity_and_event() {
    let r = |ev| render(&notice(ev), None, 1)["embeds"][0].clone();
    assert_eq!(r(Event::Rate(RateChange::Raised { to: Level::Warning }))["color"], ORANGE);
    let e = r(Event::Rate(RateChange::Resolved { from: Level::Critical, lasted_ms: 720_000, no_data: false }));
    assert_eq!(
        (e["title"].as_str().unwrap(), e["color"].as_u64()),
        ("✅ be — RESOLVED after 12 min (was CRITICAL)", Some(u64::from(GREEN)))
    );
    let e = r(Event::Rate(RateChange::Resolved { from: Level::Warning, lasted_ms: 60_000, no_data: true }));
    assert!(e["title"].as_str().unwrap().contains("no data"), "{e}");
    let e = r(Event::Health(HealthChange::Down { failure: Failure::Status(503), failures: 3 }));
    assert_eq!(e["title"], "🔴 be — DOWN: status 503 (3 failed checks)");
    let e = r(Event::Health(HealthChange::Up { downtime_ms: 3_780_000 }));
    assert_eq!(e["title"], "✅ be — UP after 1 h 3 min down");
    let t = render(&notice(Event::Test), Some(&svc()), 1);
    assert!(t["embeds"][0]["title"].as_str().unwrap().starts_with("🧪 TEST"));
    assert_eq!(t["allowed_mentions"]["roles"], json!([]), "a test pings nobody");
}

#[test]
fn percent_and_span_formats() {
    assert_eq!(percent(62, 500), "12.4%");
    assert_eq!(percent(499, 10_000), "4.99%");
    assert_eq!(percent(5, 100), "5%");
    assert_eq!(percent(1, 3), "33.33%");
    assert_eq!(percent(0, 0), "-");
    assert_eq!(
        (span(30_000), span(300_000), span(90_000), span(7_200_000)),
        ("30 s".into(), "5 min".into(), "1 min 30 s".into(), "2 h".into())
    );
    assert_eq!(span(340), "340 ms");
}

#[test]
fn huge_inputs_are_trimmed_to_every_discord_limit() {
    let mut n =
        notice(Event::Health(HealthChange::Down { failure: Failure::Connection("x".repeat(5000)), failures: 1 }));
    n.service = "s".repeat(5000);
    n.top_routes = (0..1000)
        .map(|i| RouteLine {
            route: format!("GET /{}{i}", "r".repeat(300)),
            count: 1000 - i,
            first_seen_ms: 0,
            last_seen_ms: 0,
        })
        .collect();
    n.last_probe =
        Some(ProbeResult { at_ms: 0, latency_ms: 1, failure: Some(Failure::Tls("t".repeat(9000))), status: None });
    let mut s = svc();
    s.mention_roles = (0..500).map(|i| format!("{}", 10_000_000_000_000_000u64 + i)).collect();
    s.mention_users = s.mention_roles.clone();
    s.link = Some(format!("https://x/{}", "l".repeat(10_000)));
    let m = render(&n, Some(&s), i64::MAX);
    check_limits(&m);
    assert_eq!(m["allowed_mentions"]["roles"].as_array().unwrap().len(), 100);
    assert!(m["embeds"][0].get("url").is_none(), "an over-long link is not the embed url");
    let routes = m["embeds"][0]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "Top failing routes")
        .unwrap()["value"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(routes.contains("more"), "{routes}");
    let f = fallback(&n, 3);
    assert!(f["content"].as_str().unwrap().chars().count() <= LIMITS.content);
    assert!(f.get("embeds").is_none());
    // Many long fields: the total of 6000 is enforced too.
    let mut e = json!({"title": "t".repeat(300), "description": "d".repeat(5000), "footer": {"text": "f".repeat(3000)},
        "fields": (0..40).map(|_| json!({"name": "n".repeat(300), "value": "v".repeat(2000)})).collect::<Vec<_>>()});
    fit_embed(&mut e);
    check_limits(&json!({"content": "", "embeds": [e]}));
}

#[test]
fn below_minimum_volume_and_no_data_are_said() {
    let mut n = notice(Event::Rate(RateChange::Reminder { level: Level::Critical, firing_ms: 1_800_000 }));
    n.requests = 50;
    n.errors = 10;
    let d = render(&n, None, 1)["embeds"][0]["description"].as_str().unwrap().to_string();
    assert!(d.contains("below the minimum of 100 requests"), "{d}");
    n.requests = 0;
    n.errors = 0;
    let m = render(&n, None, 1);
    assert!(m["embeds"][0]["description"].as_str().unwrap().starts_with("No data"));
    assert_eq!(m["embeds"][0]["fields"][1]["value"], "CRITICAL (no data)");
}

#[test]
fn a_time_past_year_9999_renders_without_timestamp_instead_of_panicking() {
    // Found by fuzzing (FUZZING.md): humantime cannot write such a date and to_string panicked.
    let mut n = notice(Event::Rate(RateChange::Raised { to: Level::Critical }));
    n.at_ms = u64::MAX;
    let m = render(&n, Some(&svc()), 1);
    assert!(m["embeds"][0].get("timestamp").is_none());
    check_limits(&m);
    n.at_ms = 253_402_300_799_000; // the last second of year 9999 still has one
    assert_eq!(render(&n, None, 1)["embeds"][0]["timestamp"], "9999-12-31T23:59:59Z");
}

const OPENED: u64 = 1_764_540_000_000;
const CRIT: Condition = Condition { down: false, level: Level::Critical };
const DOWN: Condition = Condition { down: true, level: Level::Ok };

fn incident(change: IncidentChange, health: Option<HealthChange>) -> Notice {
    notice(Event::Incident(IncidentEvent { change, opened_ms: OPENED, health }))
}

fn title_colour_content(m: &Value) -> (String, u64, String) {
    let e = &m["embeds"][0];
    (e["title"].as_str().unwrap().into(), e["color"].as_u64().unwrap(), m["content"].as_str().unwrap().into())
}

#[test]
fn up_while_the_rate_is_critical_is_red_and_pages_the_owners() {
    let n = incident(IncidentChange::Better { from: DOWN, to: CRIT }, Some(HealthChange::Up { downtime_ms: 10_000 }));
    let m = render(&n, Some(&svc()), 9);
    let (title, colour, content) = title_colour_content(&m);
    assert_eq!(title, "🔴 be — UP, still CRITICAL: 12.4% of requests fail");
    assert_eq!(colour, u64::from(RED));
    assert_eq!(content, format!("<@&111> <@222> {title}"));
    let d = m["embeds"][0]["description"].as_str().unwrap();
    assert!(d.contains("UP after 10 s down"), "{d}");
    assert!(d.contains("Since the last message the 5xx rate rose to CRITICAL."), "{d}");
    assert!(d.contains("Incident open since <t:1764540000:f> (5 min)"), "{d}");
    assert_eq!(m["embeds"][0]["fields"][1]["value"], "CRITICAL");
    check_limits(&m);
}

#[test]
fn every_incident_change_has_the_title_colour_and_mentions_of_its_state_after() {
    let warn = Condition { down: false, level: Level::Warning };
    let down_crit = Condition { down: true, level: Level::Critical };
    let refused = HealthChange::Down { failure: Failure::Refused, failures: 2 };
    let cases: Vec<(IncidentChange, Option<HealthChange>, &str, u32, bool)> = vec![
        (IncidentChange::Opened { to: warn }, None, "🟠 be — WARNING: 12.4% of requests fail", ORANGE, true),
        (
            IncidentChange::Opened { to: down_crit },
            Some(refused.clone()),
            "🔴 be — DOWN: connection refused (2 failed checks)",
            RED,
            true,
        ),
        (
            IncidentChange::Worse { from: warn, to: CRIT },
            None,
            "🔴 be — escalated to CRITICAL: 12.4% of requests fail (was WARNING)",
            RED,
            true,
        ),
        (
            IncidentChange::Worse { from: CRIT, to: down_crit },
            Some(refused),
            "🔴 be — DOWN: connection refused (2 failed checks) (was CRITICAL)",
            RED,
            true,
        ),
        (
            IncidentChange::Better { from: CRIT, to: warn },
            None,
            "🟠 be — de-escalated to WARNING: 12.4% of requests fail (was CRITICAL)",
            ORANGE,
            true,
        ),
        (
            IncidentChange::Resolved { from: warn, worst: Severity::Down, lasted_ms: 600_000, no_traffic: false },
            None,
            "✅ be — RESOLVED after 10 min (was WARNING, worst DOWN)",
            GREEN,
            false,
        ),
        (
            IncidentChange::Resolved { from: DOWN, worst: Severity::Down, lasted_ms: 30_000, no_traffic: false },
            Some(HealthChange::Up { downtime_ms: 30_000 }),
            "✅ be — RESOLVED: UP after 30 s down",
            GREEN,
            false,
        ),
        (
            IncidentChange::Resolved { from: CRIT, worst: Severity::Critical, lasted_ms: 1, no_traffic: true },
            None,
            "⚪ be — RESOLVED: no traffic in 5 min (was CRITICAL)",
            GREY,
            false,
        ),
        (
            IncidentChange::Reminder { from: CRIT, now: CRIT, open_ms: 1_800_000 },
            None,
            "🔴 be — still CRITICAL (for 30 min): 12.4% of requests fail",
            RED,
            true,
        ),
    ];
    for (change, health, want, colour, pages) in cases {
        let m = render(&incident(change.clone(), health), Some(&svc()), 1);
        let (title, c, content) = title_colour_content(&m);
        assert_eq!(title, want, "{change:?}");
        assert_eq!(c, u64::from(colour), "{change:?}");
        assert_eq!(content.starts_with("<@&111> <@222> "), pages, "{change:?}: {content}");
        assert_eq!(m["allowed_mentions"]["roles"].as_array().unwrap().is_empty(), !pages);
        check_limits(&m);
    }
}

#[test]
fn a_down_reminder_folds_in_the_rate_change_it_hid() {
    let mut n = incident(
        IncidentChange::Reminder { from: DOWN, now: Condition { down: true, level: Level::Critical }, open_ms: 1 },
        None,
    );
    n.down_since_ms = Some(n.at_ms - 1_800_000);
    n.last_probe = Some(ProbeResult { at_ms: n.at_ms, latency_ms: 1, failure: Some(Failure::Timeout), status: None });
    n.failures = 30;
    let m = render(&n, Some(&svc()), 1);
    assert_eq!(m["embeds"][0]["title"], "🔴 be — still DOWN (for 30 min): timeout (30 failed checks)");
    let d = m["embeds"][0]["description"].as_str().unwrap();
    assert!(d.contains("Since the last message the 5xx rate rose to CRITICAL."), "{d}");
}

#[test]
fn a_window_the_reports_do_not_cover_is_said_and_never_called_no_traffic() {
    let mut n = incident(IncidentChange::Reminder { from: CRIT, now: CRIT, open_ms: 1 }, None);
    (n.requests, n.errors) = (0, 0);
    n.coverage = Some(Coverage::Missing { last_ms: Some(1_764_540_000_000) });
    let m = render(&n, None, 1);
    let d = m["embeds"][0]["description"].as_str().unwrap();
    assert!(!d.contains("no traffic"), "{d}");
    assert!(d.contains("No proxy has reported since <t:1764540000:R>: the state is held"), "{d}");
    assert_eq!(m["embeds"][0]["fields"][1]["value"], "CRITICAL (held: reports incomplete)");
    n.coverage = Some(Coverage::Partial { from_ms: 1_764_540_200_000 });
    let d = render(&n, None, 1)["embeds"][0]["description"].as_str().unwrap().to_string();
    assert!(d.contains("cover the window only since <t:1764540200:R>"), "{d}");
}

#[test]
fn proxy_notices_say_what_the_watchdog_saw_and_page_nobody() {
    let proxy = |change| {
        let mut n = notice(Event::Proxy(ProxyEvent { proxy: "edge-1".into(), change }));
        n.service = "edge-1".into();
        render(&n, Some(&svc()), 4)
    };
    let at = 1_764_540_300_000u64;
    let m = proxy(ProxyChange::Stopped { last_ms: at - 65_000 });
    assert_eq!(m["embeds"][0]["title"], "⚠️ edge-1 stopped reporting (last flush 1 min 5 s ago)");
    assert_eq!(m["allowed_mentions"], json!({"parse": []}));
    let m = proxy(ProxyChange::Resumed { silent_ms: 180_000 });
    assert_eq!(m["embeds"][0]["title"], "✅ edge-1 reporting again after 3 min");
    let colour = ConfigRefusal { service: Some("ai".into()), reason: "unknown key `colour`".into() };
    let other = ConfigRefusal { service: None, reason: "not JSON".into() };
    let m = proxy(ProxyChange::Refused { refusals: vec![colour, other] });
    assert_eq!(
        m["embeds"][0]["title"],
        "⚠️ edge-1: Faultline configuration refused for ai: unknown key `colour` (and 1 more)"
    );
    let d = m["embeds"][0]["description"].as_str().unwrap();
    assert!(d.contains("• ai: unknown key `colour`") && d.contains("• (service not named): not JSON"), "{d}");
    let m = proxy(ProxyChange::NotReporting { since_ms: at - 60_000 });
    assert_eq!(
        m["embeds"][0]["title"],
        "⚠️ edge-1 is not reporting (no flush in the 1 min since the collector started)"
    );
    check_limits(&m);
}

fn failed(at_ms: u64, id: &str) -> crate::decide::notice::FailedRequest {
    crate::decide::notice::FailedRequest {
        at_ms,
        proxy: "edge-1".into(),
        method: "GET".into(),
        route: "GET /server/users/:id/orders".into(),
        path: Some("/server/users/42/orders".into()),
        status: 503,
        request_id: Some(id.into()),
        upstream: Some("10.0.0.7:8080".into()),
        duration_ms: Some(12),
        details: Some("via_upstream".into()),
    }
}

fn field<'a>(m: &'a Value, name: &str) -> Option<&'a str> {
    m["embeds"][0]["fields"].as_array().unwrap().iter().find(|f| f["name"] == name).and_then(|f| f["value"].as_str())
}

#[test]
fn the_last_failing_requests_are_listed_with_copyable_ids() {
    let mut n = notice(Event::Rate(RateChange::Raised { to: Level::Critical }));
    n.last_failures = vec![
        failed(1_764_540_290_500, "268fad66e4ef9e75b5d6519bb5e7a2dc"),
        crate::decide::notice::FailedRequest {
            request_id: Some("a`b".into()),
            upstream: None,
            duration_ms: None,
            details: Some("upstream_reset_before_response_started{remote_connection_failure}".into()),
            status: 502,
            ..failed(1_764_540_280_000, "x")
        },
    ];
    let m = render(&n, Some(&svc()), 7);
    assert_eq!(
        field(&m, "Last failing requests").unwrap(),
        "<t:1764540290:T> `GET /server/users/:id/orders` **503** · id `268fad66e4ef9e75b5d6519bb5e7a2dc` · \
         10.0.0.7:8080 · 12 ms\n\
         <t:1764540280:T> `GET /server/users/:id/orders` **502** · id `a'b` · \
         `upstream_reset_before_response_started{remote_connection_failure}`"
    );
    check_limits(&m);
    n.last_failures.clear();
    assert!(field(&render(&n, None, 7), "Last failing requests").is_none());
}

#[test]
fn many_long_failing_requests_stay_within_discords_limits() {
    let mut n = notice(Event::Rate(RateChange::Raised { to: Level::Critical }));
    n.last_failures = (0..10)
        .map(|i| crate::decide::notice::FailedRequest {
            route: format!("GET /{}", "r".repeat(300)),
            upstream: Some("u".repeat(300)),
            ..failed(i, &"i".repeat(256))
        })
        .collect();
    let m = render(&n, Some(&svc()), 7);
    check_limits(&m);
    let v = field(&m, "Last failing requests").unwrap();
    assert!(v.chars().count() <= LIMITS.field_value && v.contains("more"), "{v}");
}

#[test]
fn the_link_template_takes_the_latest_failing_request() {
    let mut n = notice(Event::Rate(RateChange::Raised { to: Level::Critical }));
    let t = "https://logs.example.com/search?q={request_id}&route={route}&path={path}&s={service}";
    assert_eq!(link(t, &n), "https://logs.example.com/search?q=&route=&path=&s=be", "nothing known: empty");
    n.last_failures = vec![failed(2, "id 1&x"), failed(1, "older")];
    assert_eq!(
        link(t, &n),
        "https://logs.example.com/search?q=id%201%26x&route=GET%20%2Fserver%2Fusers%2F%3Aid%2Forders\
         &path=%2Fserver%2Fusers%2F42%2Forders&s=be"
    );
}
