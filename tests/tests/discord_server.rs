//! The Discord-compatible server, driven over real HTTP with a deliberately simple client
//! (one request per connection, std only) so these tests do not depend on the code under test.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use faultline_tests::discord::ratelimit::RateLimit;
use faultline_tests::discord::{FakeDiscord, Options, Reply};
use serde_json::{Value, json};

struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }
}

/// One HTTP/1.1 request with `Connection: close`; `timeout` bounds the wait for the answer.
fn send(
    base: &str,
    method: &str,
    path: &str,
    content_type: &str,
    body: &str,
    timeout: Duration,
) -> std::io::Result<Answer> {
    let addr = base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(timeout))?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {content_type}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body.as_bytes())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines.next().and_then(|l| l.split(' ').nth(1)).and_then(|s| s.parse().ok()).unwrap_or(0);
    let headers =
        lines.filter_map(|l| l.split_once(':')).map(|(n, v)| (n.trim().to_string(), v.trim().to_string())).collect();
    Ok(Answer { status, headers, body: body.to_string() })
}

fn post(d: &FakeDiscord, id: u64, query: &str, body: &Value) -> Answer {
    let path = format!("/api/v10/webhooks/{id}/secret-token{query}");
    send(&d.base_url(), "POST", &path, "application/json", &body.to_string(), Duration::from_secs(30)).expect("request")
}

/// A server whose rate limit cannot interfere with tests about something else.
fn unlimited() -> FakeDiscord {
    FakeDiscord::start_with(Options {
        rate_limit: RateLimit { limit: 10_000, window: Duration::from_secs(2) },
        ..Options::default()
    })
    .expect("start")
}

#[test]
fn accepts_a_message_with_204_and_with_wait_true_returns_the_created_message() {
    let d = FakeDiscord::start().expect("start");
    assert!(d.webhook_url(7, "tok").starts_with(&d.base_url()));
    assert!(d.webhook_url(7, "tok").ends_with("/api/v10/webhooks/7/tok"));

    let first = post(&d, 7, "", &json!({"content": "hello"}));
    assert_eq!(first.status, 204, "{}", first.body);
    assert!(first.body.is_empty());
    for h in [
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-reset",
        "x-ratelimit-reset-after",
        "x-ratelimit-bucket",
    ] {
        assert!(first.header(h).is_some(), "missing {h}: {:?}", first.headers);
    }
    assert_eq!(first.header("x-ratelimit-limit"), Some("5"));
    assert_eq!(first.header("x-ratelimit-remaining"), Some("4"));

    let embed =
        json!({"embeds": [{"title": "CRITICAL be", "color": 0xE74C3C, "fields": [{"name": "rate", "value": "12%"}]}]});
    let second = post(&d, 7, "?wait=true", &embed);
    assert_eq!(second.status, 200, "{}", second.body);
    let created = second.json();
    let id = created["id"].as_str().expect("id is a string");
    assert!(!id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()), "snowflake id: {id}");
    assert_eq!(created["embeds"], embed["embeds"]);
    assert_eq!(created["webhook_id"], "7");

    assert_eq!(d.messages(7), vec![json!({"content": "hello"}), embed.clone()]);
    assert_eq!(d.messages(8), Vec::<Value>::new());
    assert_eq!(d.all_messages().len(), 2);
    let reqs = d.requests();
    assert_eq!(reqs.iter().map(|r| r.status).collect::<Vec<_>>(), vec![204, 200]);
    assert_eq!(reqs[1].query, "wait=true");
    assert_eq!(reqs[1].webhook_id, 7);
}

#[test]
fn refuses_bodies_that_break_discord_rules_and_keeps_nothing() {
    let d = unlimited();
    let cases = [
        (json!({"content": "x".repeat(2001)}).to_string(), 50035),
        (json!({"embeds": [{"title": "t".repeat(257)}]}).to_string(), 50035),
        (json!({"embeds": [{"description": "d".repeat(4097)}]}).to_string(), 50035),
        (json!({"embeds": [{"fields": vec![json!({"name": "n", "value": "v"}); 26]}]}).to_string(), 50035),
        (json!({"embeds": [{"description": "d".repeat(3000)}, {"description": "d".repeat(3001)}]}).to_string(), 50035),
        (json!({"content": "x", "allowed_mentions": {"parse": ["roles"], "roles": ["1"]}}).to_string(), 50035),
        (json!({"username": "only a name"}).to_string(), 50006),
        ("{\"content\": ".to_string(), 50109),
    ];
    for (body, code) in &cases {
        let a = send(&d.base_url(), "POST", "/api/v10/webhooks/1/t", "application/json", body, Duration::from_secs(30))
            .expect("request");
        assert_eq!(a.status, 400, "{body}");
        assert_eq!(a.json()["code"], *code, "{body}: {}", a.body);
    }
    let plain = send(
        &d.base_url(),
        "POST",
        "/api/v10/webhooks/1/t",
        "text/plain",
        r#"{"content":"x"}"#,
        Duration::from_secs(30),
    )
    .expect("request");
    assert_eq!(plain.status, 400);
    assert!(d.messages(1).is_empty());
    assert_eq!(d.requests().len(), cases.len() + 1);
    assert!(d.requests().iter().all(|r| r.status == 400));
}

#[test]
fn sixth_request_within_two_seconds_is_rate_limited_and_retry_after_is_enough() {
    let d = FakeDiscord::start().expect("start");
    let msg = json!({"content": "burst"});
    // On a loaded machine six requests may, rarely, straddle a window: then the burst is repeated in a fresh one.
    for attempt in 0..5 {
        let answers: Vec<Answer> = (0..6).map(|_| post(&d, 42, "", &msg)).collect();
        let reqs = d.requests();
        let burst = &reqs[reqs.len() - 6..];
        if burst[5].at.duration_since(burst[0].at) >= Duration::from_millis(1900) {
            std::thread::sleep(Duration::from_millis(2100));
            assert!(attempt < 4, "could not send 6 requests within 2 s in 5 attempts");
            continue;
        }
        let statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
        assert_eq!(statuses, vec![204, 204, 204, 204, 204, 429]);
        let limited = &answers[5];
        let body = limited.json();
        assert_eq!(body["message"], "You are being rate limited.");
        assert_eq!(body["global"], false);
        let retry_after = body["retry_after"].as_f64().expect("retry_after is a number of seconds");
        assert!(retry_after > 0.0 && retry_after <= 2.0, "retry_after {retry_after}");
        let header: u64 = limited.header("retry-after").expect("Retry-After").parse().expect("integer seconds");
        assert!((1..=2).contains(&header));
        assert_eq!(limited.header("x-ratelimit-remaining"), Some("0"));
        let reset_after: f64 = limited.header("x-ratelimit-reset-after").expect("reset-after").parse().expect("float");
        assert!((reset_after - retry_after).abs() < 0.01);

        std::thread::sleep(Duration::from_secs_f64(retry_after));
        let after = post(&d, 42, "", &msg);
        assert_eq!(after.status, 204, "waiting retry_after must be enough: {}", after.body);
        // Another webhook has its own bucket.
        assert_eq!(post(&d, 43, "", &msg).status, 204);
        return;
    }
}

#[test]
fn scripted_replies_are_played_in_order_per_webhook_then_default() {
    let d = unlimited();
    d.push_replies(
        5,
        [
            Reply::RateLimited { retry_after: 1.25, global: true },
            Reply::Status(502),
            Reply::UnknownWebhook,
            Reply::InvalidToken,
            Reply::Status(500),
        ],
    );
    let msg = json!({"content": "x"});
    // Webhook 6 is unaffected by webhook 5's script.
    assert_eq!(post(&d, 6, "", &msg).status, 204);

    let a = post(&d, 5, "", &msg);
    assert_eq!(a.status, 429);
    assert_eq!(a.json()["retry_after"], 1.25);
    assert_eq!(a.json()["global"], true);
    assert_eq!(a.header("retry-after"), Some("2"));
    assert_eq!(a.header("x-ratelimit-global"), Some("true"));
    assert_eq!(a.header("x-ratelimit-reset-after"), Some("1.250"));

    let a = post(&d, 5, "", &msg);
    assert_eq!(a.status, 502);
    assert!(a.json()["message"].is_string());
    let a = post(&d, 5, "", &msg);
    assert_eq!((a.status, a.json()["code"].clone()), (404, json!(10015)));
    assert_eq!(a.json()["message"], "Unknown Webhook");
    let a = post(&d, 5, "", &msg);
    assert_eq!((a.status, a.json()["code"].clone()), (401, json!(50027)));
    assert_eq!(post(&d, 5, "", &msg).status, 500);
    assert_eq!(post(&d, 5, "?wait=true", &msg).status, 200);
    assert_eq!(d.messages(5), vec![msg.clone()]);
    let statuses: Vec<u16> = d.requests().iter().filter(|r| r.webhook_id == 5).map(|r| r.status).collect();
    assert_eq!(statuses, vec![429, 502, 404, 401, 500, 200]);
}

#[test]
fn slow_answers_after_the_delay_and_hang_never_answers() {
    let d = unlimited();
    d.push_replies(9, [Reply::Slow(Duration::from_millis(600)), Reply::Hang]);
    let msg = json!({"content": "slow"});
    let t = Instant::now();
    assert_eq!(post(&d, 9, "", &msg).status, 204);
    assert!(t.elapsed() >= Duration::from_millis(600));
    assert_eq!(d.messages(9).len(), 1);

    let hung = send(
        &d.base_url(),
        "POST",
        "/api/v10/webhooks/9/t",
        "application/json",
        &msg.to_string(),
        Duration::from_millis(800),
    );
    let err = hung.err().expect("a hung request must time out on the client");
    assert!(matches!(err.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut), "{err}");
    assert_eq!(d.messages(9).len(), 1, "a hung request is not a delivered message");
    assert_eq!(d.requests().last().map(|r| r.status), Some(0));
    // The script is used up: back to normal.
    assert_eq!(post(&d, 9, "", &msg).status, 204);
}

#[test]
fn deleted_webhook_answers_404_10015_from_then_on() {
    let d = unlimited();
    let msg = json!({"content": "x"});
    assert_eq!(post(&d, 3, "", &msg).status, 204);
    d.push_replies(3, [Reply::Status(500)]);
    d.delete_webhook(3);
    for _ in 0..3 {
        let a = post(&d, 3, "?wait=true", &msg);
        assert_eq!(a.status, 404);
        assert_eq!(a.json()["code"], 10015);
    }
    assert_eq!(d.messages(3).len(), 1);
    assert_eq!(post(&d, 4, "", &msg).status, 204);
}

#[test]
fn unversioned_and_unknown_paths_are_404_and_recorded() {
    let d = unlimited();
    let body = json!({"content": "x"}).to_string();
    let a = send(&d.base_url(), "POST", "/api/webhooks/11/tok", "application/json", &body, Duration::from_secs(30))
        .expect("request");
    assert_eq!(a.status, 404);
    let a = send(&d.base_url(), "POST", "/nothing/here", "application/json", &body, Duration::from_secs(30))
        .expect("request");
    assert_eq!(a.status, 404);
    assert!(d.all_messages().is_empty());
    let reqs = d.requests();
    assert_eq!((reqs[0].webhook_id, reqs[0].status, reqs[0].path.as_str()), (11, 404, "/api/webhooks/11/tok"));
    assert_eq!(reqs[1].webhook_id, 0);
}

#[test]
fn wait_for_messages_returns_when_enough_arrived_or_fails_with_what_came() {
    let d = unlimited();
    let url = d.base_url();
    let sender = std::thread::spawn(move || {
        for i in 0..3 {
            std::thread::sleep(Duration::from_millis(100));
            let body = json!({"content": format!("m{i}")}).to_string();
            send(&url, "POST", "/api/v10/webhooks/21/t", "application/json", &body, Duration::from_secs(30))
                .expect("request");
        }
    });
    let got = d.wait_for_messages(21, 3, Duration::from_secs(60)).expect("three messages");
    assert_eq!(got.iter().map(|m| m["content"].as_str().unwrap_or("")).collect::<Vec<_>>(), vec!["m0", "m1", "m2"]);
    sender.join().expect("sender");
    let err = d.wait_for_messages(21, 4, Duration::from_millis(200)).expect_err("only three");
    assert!(err.contains("got 3"), "{err}");
}

#[test]
fn subscribers_see_each_accepted_message() {
    let d = unlimited();
    let rx = d.subscribe();
    post(&d, 30, "", &json!({"content": "bad", "embeds": [{"title": "t".repeat(300)}]}));
    post(&d, 30, "", &json!({"content": "good"}));
    let (id, msg) = rx.recv_timeout(Duration::from_secs(30)).expect("one message");
    assert_eq!((id, msg), (30, json!({"content": "good"})));
    assert!(rx.try_recv().is_err());
}

#[test]
fn stops_when_dropped() {
    let d = FakeDiscord::start().expect("start");
    let base = d.base_url();
    drop(d);
    let refused = send(&base, "POST", "/api/v10/webhooks/1/t", "application/json", "{}", Duration::from_secs(5));
    assert!(refused.is_err(), "the port must be closed after drop");
}

fn request(d: &FakeDiscord, method: &str, path: &str, body: &Value) -> Answer {
    send(&d.base_url(), method, path, "application/json", &body.to_string(), Duration::from_secs(30)).expect("request")
}

#[test]
fn get_webhook_names_its_guild_and_channel_and_patch_edits_a_message_keeping_each_version() {
    let d = unlimited();
    let info = request(&d, "GET", "/api/v10/webhooks/7/tok", &Value::Null);
    assert_eq!(info.status, 200);
    let info = info.json();
    assert!(info["guild_id"].as_str().is_some_and(|g| !g.is_empty()) && info["channel_id"].is_string(), "{info}");
    let first = json!({"content": "<@&1> be CRITICAL", "embeds": [{"title": "be CRITICAL"}],
                       "allowed_mentions": {"parse": [], "roles": ["1"]}});
    let created = post(&d, 7, "?wait=true", &first).json();
    let id = created["id"].as_str().unwrap().to_string();
    let path = format!("/api/v10/webhooks/7/tok/messages/{id}");
    let edit = json!({"embeds": [{"title": "be RESOLVED", "color": 0x2E_B6_7D}], "allowed_mentions": {"parse": []}});
    let a = request(&d, "PATCH", &path, &edit);
    assert_eq!(a.status, 200, "{}", a.body);
    let answer = a.json();
    assert_eq!(
        (answer["id"].as_str(), answer["embeds"][0]["title"].as_str()),
        (Some(id.as_str()), Some("be RESOLVED"))
    );
    assert_eq!(answer["content"], "<@&1> be CRITICAL", "members an edit does not name are kept");
    assert!(answer["edited_timestamp"].is_string());
    let versions = d.versions(&id);
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[0], first);
    assert_eq!(d.current(&id).unwrap()["embeds"][0]["title"], "be RESOLVED");
    assert_eq!(d.messages(7), vec![first], "an edit is not a new message");
    let got = request(&d, "GET", &path, &Value::Null);
    assert_eq!((got.status, got.json()["embeds"][0]["title"].clone()), (200, json!("be RESOLVED")));
}

#[test]
fn an_edit_is_validated_like_a_message_and_an_unknown_or_deleted_message_is_404_10008() {
    let d = unlimited();
    let id = post(&d, 8, "?wait=true", &json!({"content": "x"})).json()["id"].as_str().unwrap().to_string();
    let path = format!("/api/v10/webhooks/8/tok/messages/{id}");
    for (body, code) in [
        (json!({"content": "x".repeat(2001)}), 50035),
        (json!({"embeds": [{"title": "t".repeat(257)}]}), 50035),
        (json!({"embeds": vec![json!({"title": "x"}); 11]}), 50035),
        (json!({"embeds": [{"description": "d".repeat(3000)}, {"description": "d".repeat(3001)}]}), 50035),
        (json!({"content": ""}), 50006),
        (json!({"flags": 8}), 50035),
    ] {
        let a = request(&d, "PATCH", &path, &body);
        assert_eq!((a.status, a.json()["code"].clone()), (400, json!(code)), "{body}");
    }
    let bad =
        send(&d.base_url(), "PATCH", &path, "application/json", "{\"content\": ", Duration::from_secs(30)).unwrap();
    assert_eq!((bad.status, bad.json()["code"].clone()), (400, json!(50109)));
    assert_eq!(d.versions(&id).len(), 1, "a refused edit changes nothing");
    let a = request(&d, "PATCH", "/api/v10/webhooks/8/tok/messages/123456", &json!({"content": "y"}));
    assert_eq!(
        (a.status, a.json()["code"].clone(), a.json()["message"].clone()),
        (404, json!(10008), json!("Unknown Message"))
    );
    let a = request(&d, "PATCH", &format!("/api/v10/webhooks/9/tok/messages/{id}"), &json!({"content": "y"}));
    assert_eq!(a.status, 404, "another webhook's message is unknown to it");
    assert!(d.delete_message(&id));
    let a = request(&d, "PATCH", &path, &json!({"content": "y"}));
    assert_eq!((a.status, a.json()["code"].clone()), (404, json!(10008)));
    let id2 = post(&d, 8, "?wait=true", &json!({"content": "z"})).json()["id"].as_str().unwrap().to_string();
    assert_eq!(request(&d, "DELETE", &format!("/api/v10/webhooks/8/tok/messages/{id2}"), &Value::Null).status, 204);
    assert!(d.current(&id2).is_none());
    d.delete_webhook(8);
    let a = request(&d, "PATCH", &path, &json!({"content": "y"}));
    assert_eq!((a.status, a.json()["code"].clone()), (404, json!(10015)), "a deleted webhook first");
}

#[test]
fn edits_count_against_the_webhooks_rate_limit() {
    let d = FakeDiscord::start_with(Options {
        rate_limit: RateLimit { limit: 3, window: Duration::from_secs(30) },
        ..Options::default()
    })
    .expect("start");
    let id = post(&d, 4, "?wait=true", &json!({"content": "x"})).json()["id"].as_str().unwrap().to_string();
    let path = format!("/api/v10/webhooks/4/tok/messages/{id}");
    assert_eq!(request(&d, "PATCH", &path, &json!({"content": "y"})).status, 200);
    assert_eq!(request(&d, "PATCH", &path, &json!({"content": "z"})).status, 200);
    let limited = request(&d, "PATCH", &path, &json!({"content": "w"}));
    assert_eq!(limited.status, 429, "post + 2 edits used the 3 of the window");
    assert!(limited.json()["retry_after"].as_f64().unwrap() > 0.0);
    assert_eq!(post(&d, 4, "", &json!({"content": "v"})).status, 429, "and a send waits too");
    assert_eq!(request(&d, "GET", "/api/v10/webhooks/4/tok", &Value::Null).status, 200, "GET webhook does not count");
    assert_eq!(d.current(&id).unwrap()["content"], "z");
    d.push_replies(4, [Reply::Status(502)]);
    let d2 = unlimited();
    let id = post(&d2, 5, "?wait=true", &json!({"content": "x"})).json()["id"].as_str().unwrap().to_string();
    d2.push_replies(5, [Reply::RateLimited { retry_after: 0.5, global: false }]);
    let p = format!("/api/v10/webhooks/5/tok/messages/{id}");
    assert_eq!(request(&d2, "PATCH", &p, &json!({"content": "y"})).status, 429, "scripted answers apply to edits");
    assert_eq!(request(&d2, "PATCH", &p, &json!({"content": "y"})).status, 200);
}
