//! The real collector keeping an incident's living message on FakeDiscord: posted with `?wait=true`, edited in
//! place with PATCH (in the webhook's thread), a 429 on an edit waited out, a deleted message (404, code
//! 10008) replaced by a new one that notifies nobody and is edited from then on, across a `kill -9`.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

mod collector_support;

use collector_support::*;
use faultline_tests::discord::{FakeDiscord, Reply};
use faultline_tests::process::wait_until;
use serde_json::Value;
use std::time::Duration;

fn title(v: &Value) -> String {
    v["embeds"][0]["title"].as_str().unwrap_or("").to_string()
}

/// A proxy flushing `be` every 300 ms until `done` holds: `per` (responses, 5xx) added each time.
struct Proxy {
    seq: u64,
    counts: (u64, u64),
}

impl Proxy {
    fn drive<T>(&mut self, c: &Collector, per: (u64, u64), what: &str, mut done: impl FnMut() -> Option<T>) -> T {
        wait_until(LONG, || {
            self.seq += 1;
            self.counts = (self.counts.0 + per.0, self.counts.1 + per.1);
            c.post_flush(&flush("b", self.seq, "be", self.counts.0, self.counts.1, &[]));
            std::thread::sleep(Duration::from_millis(300));
            done()
        })
        .unwrap_or_else(|| panic!("{what} never happened\n{}", c.proc.log()))
    }
}

#[test]
fn the_living_message_is_edited_in_its_thread_survives_a_429_a_deletion_and_a_restart() {
    let discord = FakeDiscord::start().unwrap();
    let dir = scratch("living");
    let hook = format!("{}?thread_id=555", discord.webhook_url(1, "tok"));
    let c = Collector::start(&dir, &config_head(port(), &dir.join("state"), &hook, ""));
    let mut p = Proxy { seq: 0, counts: (0, 0) };
    p.drive(&c, (10, 2), "CRITICAL", || (discord.messages(1).len() == 1).then_some(()));
    let first = discord.messages(1);
    assert_eq!(title(&first[0]), "🔴 be — CRITICAL: 20% of requests fail");
    let posted = discord.requests().into_iter().find(|r| r.method == "POST").unwrap();
    assert!(posted.query.contains("wait=true") && posted.query.contains("thread_id=555"), "{}", posted.query);
    let id = discord.stored(1)[0].id.clone();
    // The reports come to cover the window (a partial window cannot lower a level).
    let until = std::time::Instant::now() + Duration::from_secs(11);
    p.drive(&c, (10, 2), "a covered window", || (std::time::Instant::now() > until).then_some(()));

    // Better (WARNING): an edit, not a message; a 429 first is waited out.
    discord.push_replies(1, [Reply::RateLimited { retry_after: 0.5, global: false }]);
    let edited = p.drive(&c, (10, 0), "the edit to WARNING", || {
        discord.versions(&id).into_iter().find(|m| title(m).starts_with("🟠 be — WARNING: "))
    });
    assert!(edited["embeds"][0]["fields"].to_string().contains("better: WARNING"), "{edited}");
    let patches: Vec<_> = discord.requests().into_iter().filter(|r| r.method == "PATCH").collect();
    assert_eq!(patches.iter().map(|r| r.status).take(2).collect::<Vec<_>>(), [429, 200]);
    assert!(patches.iter().all(|r| r.path.ends_with(&format!("/messages/{id}")) && r.query == "thread_id=555"));
    assert_eq!(discord.messages(1).len(), 1, "an edit is no message");

    // Someone deletes it; the next change is worse (a notification) and its edit finds no message: a new living
    // message, posted without notifying anyone, takes over.
    assert!(discord.delete_message(&id));
    let living = p.drive(&c, (10, 10), "a new living message", || {
        discord.stored(1).into_iter().find(|m| m.id != id && m.current()["flags"].as_u64() == Some(4096))
    });
    assert_eq!(living.current()["allowed_mentions"], serde_json::json!({"parse": []}));
    let lost: Vec<_> = discord.requests().into_iter().filter(|r| r.method == "PATCH" && r.status == 404).collect();
    assert_eq!(lost.len(), 1, "one 404, then a new message");
    assert_eq!(c.healthz()["webhooks"]["default"]["state"], "ok", "a lost message is not a broken webhook");
    let notes: Vec<String> = discord.messages(1).iter().map(title).collect();
    assert!(notes.iter().any(|t| t.starts_with("🔴 be — escalated to CRITICAL: ")), "{notes:?}");

    // kill -9, restart: the edits go on in the new living message; the end is its final text.
    wait_until(LONG, || Some(()).filter(|_| c.healthz()["outbox_depth"] == 0)).unwrap();
    let c = c.restart_after_kill9();
    p.drive(&c, (10, 0), "resolved in place", || {
        discord.current(&living.id).filter(|m| title(m).starts_with("✅ be — RESOLVED")).map(|_| ())
    });
    let end = discord.current(&living.id).unwrap();
    assert!(end["embeds"][0]["description"].as_str().unwrap().contains("**Resolved**"), "{end}");
    assert!(discord.versions(&id).len() >= 2 && discord.current(&id).is_none());
}
