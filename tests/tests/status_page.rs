//! The status page's HTTP side on the real collector: `GET /` is one self-contained HTML page,
//! `/v1/status` and `/v1/history` carry what it draws (states, thresholds, per-minute series,
//! failing routes, incidents, alerts with their delivery state), and a `status_token` guards
//! them all (bearer or `?token=`) while `/healthz` and ingest stay as they were.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

mod collector_support;
mod status_support;

use collector_support::*;
use status_support::*;

#[test]
fn status_and_history_json_describe_live_data() {
    let l = live("status-json", "");
    l.settle(1);
    let c = &l.c;
    let (code, head, body) = get_raw(c.addr, "/", "");
    assert_eq!(code, 200);
    assert!(head.contains("content-type: text/html; charset=utf-8"), "{head}");
    assert!(
        body.starts_with("<!doctype html>") && body.contains("/v1/history?since=1h") && !body.contains("https://"),
        "self-contained page"
    );

    let be = c.service("be");
    assert_eq!(
        (be["state"].as_str(), be["window"]["requests"].as_u64(), be["window"]["errors"].as_u64()),
        (Some("critical"), Some(1000), Some(120))
    );
    assert_eq!(
        (
            be["thresholds"]["warning"].as_f64(),
            be["thresholds"]["critical"].as_f64(),
            be["thresholds"]["min_requests"].as_u64()
        ),
        (Some(0.05), Some(0.1), Some(10))
    );
    assert_eq!(be["top_routes"][0]["route"], ORDERS);
    let last = &be["last_failures"][0];
    assert_eq!(last["request_id"], format!("{FAILED_ID}-1"), "{be}");
    assert_eq!((last["route"].as_str(), last["status"].as_u64()), (Some(ORDERS), Some(500)));
    assert_eq!((last["upstream"].as_str(), last["duration_ms"].as_u64()), (Some("10.0.0.7:8080"), Some(31)));
    assert_eq!(be["incident"]["level"], "critical");
    assert!(be["health"]["latency_ms"].is_u64() && be["health"]["ok"] == true);
    assert_eq!(c.service("db")["health"]["detail"], "connection refused");
    assert_eq!(c.service("fe")["state"], "ok");

    let (code, h) = c.get("/v1/history?since=1h");
    assert_eq!(code, 200, "{h}");
    assert_eq!(h["minute_ms"], 60_000);
    assert_eq!(h["retention_ms"], 7 * 86_400_000u64, "default retention: 7 days");
    let minutes = h["services"]["be"]["minutes"].as_array().unwrap();
    assert!(minutes.iter().all(|m| m["start_ms"].as_u64().unwrap() % 60_000 == 0));
    assert_eq!(minutes.iter().map(|m| m["errors"].as_u64().unwrap()).sum::<u64>(), 120);
    let routes = h["services"]["be"]["routes"].as_array().unwrap();
    assert_eq!((routes[0]["route"].as_str(), routes[0]["count"].as_u64()), (Some(ORDERS), Some(100)));
    assert_eq!((routes[1]["route"].as_str(), routes[1]["count"].as_u64()), (Some(CART), Some(20)));
    assert!(routes[0]["first_seen_ms"].as_u64() < routes[0]["last_seen_ms"].as_u64());
    // The timeline of the top failing routes: their 5xx per minute.
    let timeline = &h["services"]["be"]["route_minutes"];
    let orders: u64 = timeline[ORDERS].as_array().unwrap().iter().map(|m| m["count"].as_u64().unwrap()).sum();
    assert_eq!(orders, 100, "{timeline}");
    assert!(timeline[CART].as_array().unwrap().iter().all(|m| m["start_ms"].as_u64().unwrap() % 60_000 == 0));
    let alerts = h["alerts"].as_array().unwrap();
    let of = |s: &str| alerts.iter().find(|a| a["service"] == s).unwrap_or_else(|| panic!("no alert for {s}: {h}"));
    assert_eq!(
        (of("be")["delivery"].as_str(), of("be")["outcome"].as_str(), of("be")["title"].as_str()),
        (Some("delivered"), Some("delivered"), Some("🔴 be — CRITICAL: 12% of requests fail"))
    );
    assert!(of("be")["message_id"].is_string());
    assert_eq!((of("ai")["delivery"].as_str(), of("ai")["webhook"].as_str()), (Some("webhook_broken"), Some("ops")));
    // db went DOWN: its alert is in the history too.
    assert!(of("db")["title"].as_str().unwrap().contains("DOWN: connection refused"), "{h}");
    // Filters and bad queries.
    let (_, only) = c.get("/v1/history?since=10m&service=ai&limit=1");
    assert_eq!(only["services"].as_object().unwrap().keys().collect::<Vec<_>>(), vec!["ai"]);
    assert_eq!(only["alerts"].as_array().unwrap().len(), 1);
    let (code, e) = c.get("/v1/history?since=yesterday");
    assert_eq!(code, 400, "{e}");
    assert!(e["error"].as_str().unwrap().contains("since"));
    let (code, _) = c.post("/v1/history", None, b"");
    assert_eq!(code, 405);

    // A second flush: the same minute (or the next) holds the new counts, nothing doubled.
    l.post(2, 2);
    l.settle(2);
}

#[test]
fn a_status_token_guards_the_page_json_and_metrics() {
    let l = live("status-token", "status_token = \"page-token-1\"");
    let c = &l.c;
    for path in ["/", "/v1/status", "/v1/history", "/metrics"] {
        let (code, head, _) = get_raw(c.addr, path, "");
        assert_eq!(code, 401, "{path} without a token");
        assert!(head.contains("www-authenticate: bearer"), "{head}");
        assert_eq!(
            get_raw(c.addr, path, "Authorization: Bearer wrong-token-1\r\n").0,
            401,
            "{path} with a wrong token"
        );
        assert_eq!(
            get_raw(c.addr, path, &format!("Authorization: Bearer {TOKEN}\r\n")).0,
            401,
            "{path}: an ingest token is not the status token"
        );
        assert_eq!(
            get_raw(c.addr, path, "Authorization: Bearer page-token-1\r\n").0,
            200,
            "{path} with the bearer token"
        );
        let sep = if path.contains('?') { '&' } else { '?' };
        assert_eq!(get_raw(c.addr, &format!("{path}{sep}token=page-token-1"), "").0, 200, "{path} with ?token=");
    }
    let (_, _, body) = get_raw(c.addr, "/", "");
    assert!(body.contains("?token="), "the 401 page says how to pass the token: {body}");
    assert_eq!(c.get("/healthz").0, 200, "/healthz stays open (liveness)");
    assert_eq!(
        c.post_flush(&flush_of("edge-1", "boot-1", 9, &[("be", 5000, 0, &[])])).0,
        200,
        "ingest keeps its own token"
    );
}
