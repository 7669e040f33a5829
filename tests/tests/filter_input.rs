//! Odd traffic through the real filter `.wasm`: missing or non-numeric `:status`, huge paths,
//! non-UTF-8 headers, and 10,000 distinct failing paths (routes and memory stay bounded).
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use faultline_tests::host::kit::{self, config, settle, totals};
use faultline_tests::host::{Ending, Proxy, ProxyConfig, Request, Response};
use serde_json::json;

fn start(envoy: bool, overrides: serde_json::Value, workers: usize) -> Proxy {
    let cfg = config(envoy, overrides);
    let pc = if envoy { ProxyConfig::envoy(&cfg) } else { ProxyConfig::nginx(&cfg) };
    Proxy::start(pc.workers(workers)).unwrap_or_else(|e| panic!("starting the proxy: {e}"))
}

#[test]
fn missing_or_non_numeric_status_is_a_response_of_no_class() {
    for envoy in [true, false] {
        let proxy = start(envoy, json!({"service": "be"}), 1);
        let odd = [
            Response::without_status(),
            Response::raw_status("abc"),
            Response::raw_status("5xx"),
            Response::raw_status(""),
            Response::raw_status("5000"),
            Response::raw_status(vec![0xff, 0x35, 0x30]),
        ];
        for r in &odd {
            let out = proxy.exchange(0, &Request::get("/odd"), &Ending::Respond(r.clone())).unwrap();
            assert!(out.passed(), "{out:?}");
        }
        proxy.exchange(0, &Request::get("/odd"), &Ending::status(500)).unwrap();
        let last = settle(&proxy).unwrap();
        assert_eq!(totals(&last, "be"), (odd.len() as u64 + 1, 0, 1, 0), "envoy={envoy}: {last:?}");
        assert!(proxy.traps().is_empty(), "{:?}", proxy.traps());
    }
}

#[test]
fn huge_paths_and_non_utf8_headers_pass_and_make_valid_routes() {
    for envoy in [true, false] {
        let proxy = start(envoy, json!({"service": "be"}), 2);
        let huge = format!("/{}", "segment/".repeat(16 * 1024));
        let mut binary = b"/bin/".to_vec();
        binary.extend_from_slice(&[0xff, 0xfe, 0x80, b'/', 0x00, 0x07, b'x']);
        let requests = [
            Request::get(&huge),
            Request::get(format!("/q?{}", "x".repeat(100_000))),
            Request::get(&binary),
            Request::new("G\u{0}ET", "/m").header("x-bin", [0xc3, 0x28, 0xa0, 0xa1]),
            Request::get("/a").without_header(":path").without_header(":method"),
            Request::get("no-slash"),
            Request::get("*"),
            Request::new("BREW", "/coffee/pot"),
        ];
        for (i, r) in requests.iter().enumerate() {
            let out = proxy.exchange(i % 2, r, &Ending::status(503)).unwrap();
            assert!(out.passed(), "request {i}: {out:?}");
        }
        // `settle` parses each flush with the collector's validator: every route is valid UTF-8
        // without control characters and within the length limit.
        let last = settle(&proxy).unwrap();
        let svc = kit::service(&last, "be").unwrap();
        assert_eq!((svc.responses, svc.status_5xx), (requests.len() as u64, requests.len() as u64));
        assert_eq!(svc.routes.iter().map(|r| r.count).sum::<u64>(), requests.len() as u64);
        assert!(svc.routes.iter().all(|r| r.route.len() <= 256 && !r.route.chars().any(char::is_control)));
        assert!(proxy.traps().is_empty(), "{:?}", proxy.traps());
    }
}

/// A path segment no normalization rule turns into `:id` (letters g-z only, short).
fn word(mut n: u64) -> String {
    let mut s = String::new();
    loop {
        s.push(char::from(b'g' + (n % 20) as u8));
        n /= 20;
        if n == 0 {
            return s;
        }
    }
}

#[test]
fn ten_thousand_distinct_failing_paths_stay_bounded() {
    for envoy in [true, false] {
        let proxy = start(envoy, json!({"service": "be", "max_routes": 32}), 2);
        let tail = "/some/long/constant/tail/that/makes/every/path/weigh/more/than/a/route/key/should".repeat(2);
        let send = |from: u64, to: u64| {
            for i in from..to {
                let path = format!("/items/{}{tail}", word(i));
                proxy.exchange((i % 2) as usize, &Request::get(path), &Ending::status(500)).unwrap();
                if i % 500 == 0 {
                    proxy.advance(kit::MERGE_MS).unwrap();
                    proxy.answer_all(|_| faultline_tests::host::Reply::status(200, b"ok")).unwrap();
                }
            }
        };
        send(0, 1_000);
        let first = settle(&proxy).unwrap();
        let memory_1k: usize = proxy.vms().iter().map(|vm| vm.lock().unwrap().memory_bytes()).sum();
        let store_1k = proxy.store_bytes();
        send(1_000, 10_000);
        let last = settle(&proxy).unwrap();
        let memory_10k: usize = proxy.vms().iter().map(|vm| vm.lock().unwrap().memory_bytes()).sum();
        let store_10k = proxy.store_bytes();

        let svc = kit::service(&last, "be").unwrap();
        assert_eq!(svc.status_5xx, 10_000);
        assert_eq!(svc.routes.iter().map(|r| r.count).sum::<u64>(), 10_000, "every 5xx is on a route or other");
        assert!(svc.routes.len() <= 33, "{} routes for max_routes 32", svc.routes.len());
        let other = svc.routes.iter().find(|r| r.route == "other").expect("overflow goes to \"other\"");
        assert!(other.count >= 10_000 - 32 * 2, "other holds the overflow: {}", other.count);
        assert_eq!(kit::service(&first, "be").unwrap().routes.len(), svc.routes.len());
        // 9,000 more distinct ~330-byte paths (3 MB) must not be kept anywhere.
        eprintln!(
            "envoy={envoy}: guest memory {memory_1k} -> {memory_10k} bytes, shared data {store_1k} -> {store_10k} bytes"
        );
        assert!(memory_10k <= memory_1k + 512 * 1024, "guest memory grew {memory_1k} -> {memory_10k}");
        assert!(store_10k <= store_1k + 4096, "shared data grew {store_1k} -> {store_10k}");
        assert!(proxy.traps().is_empty(), "{:?}", proxy.traps());
    }
}

/// Stream contexts are created and deleted per request: 20,000 more of them (5xx, 2xx and
/// no response, through merges and flushes) must not grow the guest's memory.
#[test]
fn many_streams_leave_no_memory_behind() {
    for envoy in [true, false] {
        let proxy = start(envoy, json!({"service": "be"}), 1);
        let run = |n: u64| {
            for i in 0..n {
                let ending = match i % 3 {
                    0 => Ending::status(503),
                    1 => Ending::status(200),
                    _ => Ending::NoResponse,
                };
                proxy.exchange(0, &Request::get(format!("/users/{i}/orders")), &ending).unwrap();
                if i % 1000 == 0 {
                    kit::run_ok(&proxy, kit::MERGE_MS).unwrap();
                }
            }
        };
        run(2_000);
        let warm = proxy.vms()[0].lock().unwrap().memory_bytes();
        run(20_000);
        let after = proxy.vms()[0].lock().unwrap().memory_bytes();
        eprintln!("envoy={envoy}: guest memory {warm} -> {after} bytes over 20,000 streams");
        assert!(after <= warm + 64 * 1024, "guest memory grew {warm} -> {after}");
        // Per run of n: i % 3 == 0 (503) n.div_ceil(3) times, == 2 (no response) n / 3 times.
        let fives = 2_000u64.div_ceil(3) + 20_000u64.div_ceil(3);
        let gone = 2_000 / 3 + 20_000 / 3;
        let expected = (22_000 - gone, 0, fives, gone);
        assert_eq!(totals(&settle(&proxy).unwrap(), "be"), expected);
    }
}
