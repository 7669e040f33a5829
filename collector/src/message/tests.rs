use super::*;
use crate::decide::alert::Thresholds;
use crate::decide::health::{Failure, ProbeResult};
use crate::decide::notice::RouteLine;

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
