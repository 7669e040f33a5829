use super::*;
use crate::decide::alert::{Level, Thresholds};
use crate::decide::engine::Snapshot;
use crate::decide::health::Health;
use crate::decide::incident::{Condition, Severity};
use crate::decide::notice::{Event, LivingEvent, Notice, PostEvent};
use crate::store::SERVICE_OWNER;

fn notice(service: &str, event: Event) -> Notice {
    Notice {
        service: service.into(),
        at_ms: 5,
        event,
        level: Level::Ok,
        health: Health::Unknown,
        window_ms: 1,
        requests: 0,
        errors: 0,
        thresholds: Thresholds { warning_bp: 500, critical_bp: 1000, min_requests: 100, clear_pct: 80 },
        top_routes: vec![],
        rate_still: None,
        last_probe: None,
        coverage: None,
        down_since_ms: None,
        failures: 0,
        covers_ms: None,
        burst: None,
        last_failures: vec![],
    }
}

fn post() -> Event {
    Event::Post(PostEvent { items: vec![], digest: None })
}

fn edit(service: &str, opened_ms: u64) -> Notice {
    let l = LivingEvent {
        opened_ms,
        now: Condition { down: false, level: Level::Critical },
        worst: Severity::Critical,
        ack: None,
        mute: None,
        timeline: vec![],
        end: None,
        health: None,
    };
    notice(service, Event::Living(l))
}

#[test]
fn edits_queue_apart_a_newer_one_replaces_a_waiting_one_and_they_take_no_alert_number() {
    let d = std::env::temp_dir().join(format!("faultline-store-act-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    let mut s = Store::open(&d).unwrap();
    let rows = vec![
        ("default".to_string(), notice("be", post())),
        ("default".to_string(), edit("be", 1)),
        ("default".to_string(), edit("be", 1)),
        ("default".to_string(), edit("be", 2)),
        ("default".to_string(), notice("ai", post())),
    ];
    let ids = s.commit(&Snapshot::default(), &rows, SERVICE_OWNER, 10).unwrap();
    assert_eq!(ids, [1, -1, -2, -3, 2], "alerts are numbered 1, 2 whatever edits come between");
    assert_eq!(s.depth().unwrap()["default"], 4, "two alerts, two edits (the first of be's incident replaced)");
    assert_eq!(s.next_pending("default", SERVICE_OWNER).unwrap().unwrap().id, 1);
    let e = s.next_edit("default", SERVICE_OWNER).unwrap().unwrap();
    assert_eq!(e.id, -2);
    s.bump_attempts(e.id).unwrap();
    assert_eq!(s.next_edit("default", SERVICE_OWNER).unwrap().unwrap().attempts, 1);
    s.finish(e.id, 11, Some("m"), "edited").unwrap();
    assert_eq!(s.next_edit("default", SERVICE_OWNER).unwrap().unwrap().id, -3);
    assert_eq!(s.history().alerts(None, 0, 10).unwrap().len(), 2, "edits are not alerts");
    assert_eq!(s.pending_webhooks(SERVICE_OWNER).unwrap(), ["default"]);

    let rec = LivingRecord { webhook: "default".into(), message_id: "42".into(), index: 1, alert_id: 7 };
    s.put_living("be", 1, Some(&rec), 12).unwrap();
    assert_eq!(s.living("be", 1).unwrap(), Some(rec));
    s.put_message_body("42", "default", &serde_json::json!({"content": "x"}), 12).unwrap();
    assert_eq!(s.message_body("42").unwrap().unwrap()["content"], "x");
    s.put_living("be", 1, None, 13).unwrap();
    assert_eq!(s.living("be", 1).unwrap(), None);
    let info = WebhookInfo { guild_id: "1".into(), channel_id: "2".into() };
    s.put_webhook_info("default", &info, 1).unwrap();
    assert_eq!(s.webhook_info("default").unwrap(), Some(info));
}

#[test]
fn a_grouped_post_is_in_the_history_of_each_of_its_services() {
    use crate::decide::incident::IncidentChange;
    use crate::decide::notice::{IncidentEvent, PostItem};
    let d = std::env::temp_dir().join(format!("faultline-store-act-group-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    let mut s = Store::open(&d).unwrap();
    let crit = Condition { down: false, level: Level::Critical };
    let item = |svc: &str| {
        let ev = IncidentEvent { change: IncidentChange::Opened { to: crit }, opened_ms: 1, health: None };
        let Event::Living(living) = edit(svc, 1).event else { unreachable!() };
        PostItem { notice: notice(svc, Event::Incident(ev)), living, unmuted: None }
    };
    let post = Event::Post(PostEvent { items: vec![item("be"), item("ai")], digest: None });
    let id = s.commit(&Snapshot::default(), &[("default".into(), notice("be", post))], SERVICE_OWNER, 10).unwrap()[0];
    s.finish(id, 11, Some("m1"), "delivered").unwrap();
    for svc in ["be", "ai"] {
        let got = s.history().alerts(Some(svc), 0, 10).unwrap();
        assert_eq!(got.len(), 1, "{svc}: {got:?}");
        assert_eq!(got[0].service, svc);
        assert!(got[0].title.starts_with(&format!("🔴 {svc} — CRITICAL")), "{got:?}");
    }
    assert!(s.history().alerts(Some("fe"), 0, 10).unwrap().is_empty());
    assert!(s.history().alerts(None, 0, 10).unwrap()[0].title.ends_with("(and 1 more)"));
}
