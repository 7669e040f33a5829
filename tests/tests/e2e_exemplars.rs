//! End to end, on the real Envoy: the failing request itself (issue 13). Requests carry known
//! `x-request-id` values; be's upstream answers 500 on one route, and ai's upstream is stopped (Envoy
//! cannot connect and answers 503 itself). The CRITICAL message lists ids that were among the failing
//! requests, with their routes and statuses, and none of the successful ones; `/v1/status` carries what
//! Envoy said about each (upstream address, duration, response code details).

// cfg(test) on the whole file lets clippy's allow-{unwrap,panic,indexing}-in-tests cover the helpers.
#![cfg(test)]

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use faultline_tests::process::wait_until;
use faultline_tests::stack::{self, Stack, StackOptions};

const TIMEOUT: Duration = Duration::from_secs(30);
const ROUTE: &str = "GET /server/users/:id/orders";

/// One request through Envoy with this `x-request-id`; the status Envoy answered.
fn send(envoy: SocketAddr, method: &str, path: &str, id: &str) -> u16 {
    send_with(envoy, method, path, &format!("x-request-id: {id}\r\n"))
}

/// One request through Envoy with these header lines; the status Envoy answered.
fn send_with(envoy: SocketAddr, method: &str, path: &str, headers: &str) -> u16 {
    let mut s = TcpStream::connect(envoy).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let req = format!("{method} {path} HTTP/1.1\r\nHost: app\r\n{headers}Connection: close\r\n\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer);
    text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0)
}

fn ids_in(text: &str) -> BTreeSet<String> {
    text.split('`')
        .filter(|p| p.starts_with("ok-") || p.starts_with("fail-") || p.starts_with("refused-"))
        .map(String::from)
        .collect()
}

#[test]
fn the_critical_message_lists_the_failing_requests_ids() {
    let options = StackOptions { group_wait: Some(Duration::ZERO), ..StackOptions::default() };
    let mut stack = Stack::start(options).unwrap();
    let envoy = stack.envoy.listen_addr();
    stack.service("be").unwrap().fail(1000, 500, &[ROUTE]).unwrap();
    stack.service_mut("ai").unwrap().stop();
    let (mut failing, mut ok) = (BTreeSet::new(), BTreeSet::new());
    for i in 0..150 {
        if i % 3 == 0 {
            let id = format!("fail-{i}");
            assert_eq!(send(envoy, "GET", &format!("/server/users/{i}/orders?token=secret"), &id), 500);
            failing.insert(id);
        } else {
            let id = format!("ok-{i}");
            assert_eq!(send(envoy, "GET", &format!("/server/items/{i}"), &id), 200);
            ok.insert(id);
        }
        if i % 10 == 0 {
            let id = format!("refused-{i}");
            assert_eq!(send(envoy, "POST", "/ai/chat", &id), 503, "Envoy's own 503: ai is stopped");
            failing.insert(id);
        }
    }
    let critical = wait_until(TIMEOUT, || stack.messages().into_iter().find(|m| stack::classify(m) == "be CRITICAL"))
        .unwrap_or_else(|| panic!("no be CRITICAL: {:?}", stack.alerts()));
    let listed = stack::field(&critical, "Last failing requests");
    eprintln!("be CRITICAL, Last failing requests:\n{listed}");
    let ids = ids_in(&listed);
    assert!(!ids.is_empty(), "{listed}");
    assert!(ids.iter().all(|id| id.starts_with("fail-") && failing.contains(id)), "{ids:?}");
    assert!(ok.iter().all(|id| !listed.contains(id.as_str())), "a successful request listed: {listed}");
    assert!(listed.lines().all(|l| l.contains(ROUTE) && l.contains("**500**") && l.starts_with("<t:")), "{listed}");

    // What Envoy said about each, as the collector keeps it.
    let be = stack::service_status(&stack.collector.status().unwrap(), "be").unwrap();
    let last = &be["last_failures"][0];
    eprintln!("be last failure: {last}");
    let be_addr = stack.service("be").unwrap().addr().to_string();
    assert_eq!(last["upstream"], be_addr.as_str(), "{last}");
    assert_eq!(last["details"], "via_upstream");
    assert!(last["duration_ms"].as_u64().is_some(), "{last}");
    assert!(last["path"].as_str().unwrap().starts_with("/server/users/"), "{last}");
    assert!(!last["path"].as_str().unwrap().contains('?'), "no query string: {last}");

    // A failing request without an id: Envoy made one (a UUID), forwarded it, and the filter read that one.
    let raw = TcpStream::connect(envoy).and_then(|mut s| {
        s.write_all(b"GET /server/users/7/orders HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n")?;
        let mut out = String::new();
        s.read_to_string(&mut out).map(|_| out)
    });
    assert!(raw.unwrap().starts_with("HTTP/1.1 500"));
    let made = wait_until(TIMEOUT, || {
        let be = stack::service_status(&stack.collector.status().ok()?, "be")?;
        let id = be["last_failures"][0]["request_id"].as_str()?.to_string();
        (!id.starts_with("fail-")).then_some(id)
    })
    .unwrap_or_else(|| panic!("the id-less failure never reached the collector"));
    eprintln!("Envoy's own request id: {made}");
    let uuid = made.split('-').map(str::len).collect::<Vec<_>>() == [8, 4, 4, 4, 12];
    assert!(uuid && made.bytes().all(|b| b == b'-' || b.is_ascii_hexdigit()), "{made}");

    // ai: Envoy could not connect; its ids, and the proxy's reason, reach the collector too.
    let refused = wait_until(TIMEOUT, || {
        let ai = stack::service_status(&stack.collector.status().ok()?, "ai")?;
        let list = ai["last_failures"].as_array().filter(|l| !l.is_empty())?.clone();
        Some(list)
    })
    .unwrap_or_else(|| panic!("ai's failures never reached the collector"));
    eprintln!("ai last failure: {}", refused[0]);
    for f in &refused {
        let id = f["request_id"].as_str().unwrap();
        assert!(id.starts_with("refused-") && failing.contains(id), "{f}");
        assert_eq!((f["route"].as_str(), f["status"].as_u64()), (Some("POST /ai/chat"), Some(503)), "{f}");
        assert!(f["details"].as_str().unwrap().starts_with("upstream_reset_before_response_started"), "{f}");
    }
}

/// With `request_id_header` set, Envoy's `request.headers.<name>` is read (checked here on Envoy 1.40).
#[test]
fn a_configured_request_id_header_is_read_from_envoy() {
    let options = StackOptions {
        plugin_extra: serde_json::json!({"request_id_header": "x-correlation-id"}),
        ..StackOptions::default()
    };
    let stack = Stack::start(options).unwrap();
    let envoy = stack.envoy.listen_addr();
    stack.service("be").unwrap().fail(1000, 502, &[ROUTE]).unwrap();
    for i in 0..5 {
        let headers = format!("x-correlation-id: corr-{i}\r\nx-request-id: other-{i}\r\n");
        assert_eq!(send_with(envoy, "GET", &format!("/server/users/{i}/orders"), &headers), 502);
    }
    let ids = wait_until(TIMEOUT, || {
        let be = stack::service_status(&stack.collector.status().ok()?, "be")?;
        // Per route the first and the last 3 of a flush interval: 4 or 5 of the 5.
        let list = be["last_failures"].as_array().filter(|l| l.len() >= 4)?.clone();
        Some(list.iter().map(|f| f["request_id"].as_str().unwrap_or("").to_string()).collect::<BTreeSet<_>>())
    })
    .unwrap_or_else(|| panic!("be's failures never reached the collector"));
    eprintln!("request ids from x-correlation-id: {ids:?}");
    let expected: BTreeSet<String> = (0..5).map(|i| format!("corr-{i}")).collect();
    assert!(ids.is_subset(&expected), "{ids:?}");
}
