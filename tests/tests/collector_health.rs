//! The real collector's health checks against targets on 127.0.0.1 that fail in each way:
//! DOWN says which (status, refused, timeout, TLS), UP says how long it was down, and a DOWN
//! service does not also page for its 5xx rate.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

mod collector_support;

use collector_support::*;
use faultline_tests::discord::FakeDiscord;
use faultline_tests::upstream::{Health, Upstream, UpstreamOptions};
use std::net::TcpListener;

fn service(name: &str, url: &str, extra: &str) -> String {
    format!(
        "\n[[services]]\nname = \"{name}\"\nhealth_url = \"{url}\"\ninterval = \"1s\"\ntimeout = \"500ms\"\n{extra}\n"
    )
}

#[test]
fn down_says_which_failure_and_up_says_the_downtime() {
    let discord = FakeDiscord::start().unwrap();
    let dir = scratch("health");
    let be = Upstream::launch(UpstreamOptions::new("be", "/actuator/health")).unwrap();
    be.set_health(Health::Failing(503));
    let ai = Upstream::launch(UpstreamOptions::new("ai", "/health")).unwrap();
    ai.set_health(Health::Hang);
    let refused = port(); // nothing listens there
    // A plain-HTTP listener spoken to over https: the TLS handshake fails.
    let plain = TcpListener::bind("127.0.0.1:0").unwrap();
    let plain_port = plain.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in plain.incoming().flatten() {
            use std::io::Write;
            let mut s = s;
            let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
        }
    });
    let mut cfg = config_head(port(), &dir.join("state"), &discord.webhook_url(1, "t1"), "");
    cfg += "hooks_placeholder = 0\n";
    cfg = cfg.replace("hooks_placeholder = 0\n", &format!("frontend = \"{}\"\n", discord.webhook_url(2, "t2")));
    cfg += &service(
        "be",
        &format!("{}/actuator/health", be.base_url()),
        "failures_before_down = 2\nsuccesses_before_up = 2",
    );
    cfg += &service("ai", &format!("{}/health", ai.base_url()), "");
    cfg += &service("gone", &format!("http://127.0.0.1:{refused}/"), "");
    cfg += &service("frontend", &format!("https://127.0.0.1:{plain_port}/"), "webhook = \"frontend\"");
    let c = Collector::start(&dir, &cfg);

    let msgs = discord.wait_for_messages(1, 3, LONG).unwrap();
    let mut t = titles(&msgs);
    t.sort();
    assert_eq!(
        t,
        vec![
            "🔴 ai — DOWN: timeout (1 failed check)",
            "🔴 be — DOWN: status 503 (2 failed checks)",
            "🔴 gone — DOWN: connection refused (1 failed check)"
        ]
    );
    let fe = discord.wait_for_messages(2, 1, LONG).unwrap();
    assert!(titles(&fe)[0].starts_with("🔴 frontend — DOWN: TLS error"), "{:?}", titles(&fe));
    let s = c.wait_service("be", "down", |s| s["state"] == "down");
    assert_eq!(s["health"]["detail"], "status 503");

    // be recovers: UP after two successes, with the downtime; nothing else was wrong, so that ends it.
    be.set_health(Health::Up);
    let msgs = discord.wait_for_messages(1, 4, LONG).unwrap();
    let up = titles(&msgs)
        .into_iter()
        .find(|t| t.starts_with("✅ be — RESOLVED: UP after"))
        .unwrap_or_else(|| panic!("{:?}", titles(&msgs)));
    assert!(up.ends_with(" s down"), "{up}");
    c.wait_service("be", "up", |s| s["health"]["status"] == "up");
}

#[test]
fn a_down_service_does_not_page_for_its_5xx_rate() {
    let discord = FakeDiscord::start().unwrap();
    let dir = scratch("suppress");
    let refused = port();
    let cfg = config_head(port(), &dir.join("state"), &discord.webhook_url(1, "t"), "")
        + &service("be", &format!("http://127.0.0.1:{refused}/"), "");
    let c = Collector::start(&dir, &cfg);
    discord.wait_for_messages(1, 1, LONG).unwrap();
    // The proxy answers 502 for everything while the upstream is down.
    assert_eq!(c.post_flush(&flush("b", 1, "be", 200, 200, &[("GET /x", 200)])).0, 200);
    c.wait_service("be", "rate evaluated", |s| s["level"] == "critical");
    std::thread::sleep(std::time::Duration::from_secs(2));
    let msgs = discord.messages(1);
    assert_eq!(titles(&msgs), vec!["🔴 be — DOWN: connection refused (1 failed check)"], "no rate page while DOWN");
    // One incident, DOWN; the rate under it is the service's, not yet told (it waits for the next message).
    let s = c.service("be");
    assert_eq!((s["incident"]["state"].as_str(), s["incident"]["level"].as_str()), (Some("down"), Some("ok")), "{s}");
}
