use super::*;
use crate::config::Thresholds;
use crate::decide::alert::Level;
use crate::decide::coverage::Coverage;
use crate::decide::health::Health;
use crate::decide::incident::IncidentChange;
use crate::decide::notice::{End, IncidentEvent, PostItem, RouteLine};
use crate::decide::notify::Ack;

const TH: Thresholds = Thresholds { warning_bp: 500, critical_bp: 1000, min_requests: 100, clear_pct: 80 };
const CRIT: Condition = Condition { down: false, level: Level::Critical };
const AT: u64 = 1_764_540_300_000;

fn facts(service: &str, event: Event) -> Notice {
    Notice {
        service: service.into(),
        at_ms: AT,
        event,
        level: Level::Critical,
        health: Health::Up,
        window_ms: 300_000,
        requests: 500,
        errors: 62,
        thresholds: TH,
        top_routes: vec![RouteLine {
            route: format!("GET /{}/orders", "x".repeat(150)),
            count: 58,
            first_seen_ms: AT - 200_000,
            last_seen_ms: AT - 10_000,
        }],
        rate_still: None,
        last_probe: None,
        coverage: Some(Coverage::Full),
        down_since_ms: None,
        failures: 0,
        covers_ms: None,
        burst: None,
        last_failures: vec![],
    }
}

fn living(end: Option<End>) -> LivingEvent {
    LivingEvent {
        opened_ms: AT - 180_000,
        now: if end.is_some() { Condition::OK } else { CRIT },
        worst: Severity::Critical,
        ack: Some(Ack { by: "alice".into(), at_ms: AT - 60_000, severity: Severity::Critical }),
        mute: None,
        timeline: vec![
            Step::Change { at_ms: AT - 180_000, kind: "opened".into(), to: CRIT },
            Step::Acked { at_ms: AT - 60_000, by: "alice".into() },
        ],
        end,
        health: None,
    }
}

fn item(service: &str, change: IncidentChange) -> PostItem {
    let ev = IncidentEvent { change, opened_ms: AT - 180_000, health: None };
    PostItem { notice: facts(service, Event::Incident(ev)), living: living(None), unmuted: None }
}

fn chars(body: &Value) -> usize {
    body["embeds"].as_array().map(|es| es.iter().map(embed_chars).sum()).unwrap_or(0)
}

#[test]
fn the_living_embed_says_how_the_incident_stands() {
    let e = living_embed(&facts("be", Event::Test), &living(None), None, 7, LIMITS.embed_total);
    assert_eq!(e["title"], "🔴 be — CRITICAL: 12.4% of requests fail");
    let d = e["description"].as_str().unwrap();
    assert!(d.contains("Open for **3 min**") && d.contains("worst so far: CRITICAL"), "{d}");
    assert!(d.contains("Acknowledged by **alice**"), "{d}");
    let text = e.to_string();
    assert!(text.contains("opened: CRITICAL") && text.contains("acknowledged by alice"), "{text}");
    assert!(e["footer"]["text"].as_str().unwrap().ends_with("alert #7"));
    let end = End { at_ms: AT, lasted_ms: 180_000, from: CRIT, no_traffic: false };
    let e = living_embed(&facts("be", Event::Test), &living(Some(end)), None, 7, LIMITS.embed_total);
    assert_eq!(e["title"], "✅ be — RESOLVED after 3 min (was CRITICAL)");
    assert_eq!(e["color"], GREEN);
    assert!(e["description"].as_str().unwrap().contains("**Resolved**"));
}

#[test]
fn a_post_carries_at_most_ten_embeds_and_6000_characters_and_names_the_rest() {
    let items: Vec<PostItem> =
        (0..17).map(|i| item(&format!("svc{i:02}"), IncidentChange::Opened { to: CRIT })).collect();
    let p = PostEvent { items, digest: None };
    let cfgs = ServiceConfig {
        name: "svc00".into(),
        health: None,
        webhook: "default".into(),
        mention_roles: vec!["111".into()],
        mention_users: vec![],
        link: None,
        thresholds: TH,
        down_unreachable_bp: None,
    };
    let (body, opened) = post_body(&p, |s| (s == "svc00").then_some(&cfgs), &Links::new(), 3);
    let embeds = body["embeds"].as_array().unwrap();
    assert_eq!(embeds.len(), 10);
    assert!(chars(&body) <= 6000, "{}", chars(&body));
    let content = body["content"].as_str().unwrap();
    assert!(content.starts_with("<@&111> 10 incidents: ") || content.starts_with("<@&111> "), "{content}");
    assert!(content.contains("and 7 more: svc10 (CRITICAL), svc11 (CRITICAL)"), "{content}");
    assert!(content.chars().count() <= 2000);
    assert_eq!(body["allowed_mentions"], json!({"parse": [], "roles": ["111"], "users": []}));
    assert_eq!(opened.iter().filter(|o| o.is_some()).count(), 10, "each shown incident's living message is this one");
    assert_eq!(opened[10], None);
}

#[test]
fn a_change_of_an_incident_with_a_living_message_is_short_and_links_to_it() {
    let p = PostEvent { items: vec![item("be", IncidentChange::Worse { from: CRIT, to: CRIT })], digest: None };
    let mut links = Links::new();
    let link = jump_link("1", "2", "3");
    links.insert(("be".into(), AT - 180_000), Some(link.clone()));
    let (body, opened) = post_body(&p, |_| None, &links, 9);
    assert_eq!(opened, [None]);
    let e = &body["embeds"][0];
    assert_eq!(e["url"], "https://discord.com/channels/1/2/3");
    assert!(e["description"].as_str().unwrap().contains(&format!("]({link})")));
    assert!(e.get("fields").is_none(), "short: {e}");
}

#[test]
fn an_edit_replaces_its_embed_within_what_the_others_leave_and_pings_nobody() {
    let p = PostEvent {
        items: vec![item("be", IncidentChange::Opened { to: CRIT }), item("ai", IncidentChange::Opened { to: CRIT })],
        digest: None,
    };
    let (mut stored, _) = post_body(&p, |_| None, &Links::new(), 3);
    stored["allowed_mentions"] = json!({"parse": [], "roles": ["111"], "users": []});
    let end = End { at_ms: AT, lasted_ms: 180_000, from: CRIT, no_traffic: false };
    let edit = edit_body(Some(&stored), 1, &facts("ai", Event::Test), &living(Some(end)), None, 3);
    let embeds = edit["embeds"].as_array().unwrap();
    assert_eq!(embeds.len(), 2);
    assert_eq!(embeds[0], stored["embeds"][0], "the other incident's embed is kept");
    assert!(embeds[1]["title"].as_str().unwrap().contains("ai — RESOLVED"));
    assert!(chars(&edit) <= 6000);
    assert_eq!(edit["allowed_mentions"], json!({"parse": []}));
    assert!(edit["content"].as_str().unwrap().starts_with("<@&111> 2 incidents: "), "{}", edit["content"]);
    let silent = living_body(&facts("be", Event::Test), &living(None), None, 0);
    assert_eq!((silent["flags"].as_u64(), silent["allowed_mentions"].clone()), (Some(4096), json!({"parse": []})));
}
