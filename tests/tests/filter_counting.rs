//! The real filter `.wasm` counting in the test host: exact sums across workers under CAS
//! races (forced interleavings and real threads, both hosts' rules), nginx key collisions,
//! status classes, requests with no response, and no shared-data calls per request.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use faultline_tests::host::kit::{self, MERGE_MS, config, settle, totals};
use faultline_tests::host::{Ending, Proxy, ProxyConfig, Request};
use serde_json::json;

fn start(envoy: bool, overrides: serde_json::Value, workers: usize) -> Proxy {
    let cfg = config(envoy, overrides);
    let pc = if envoy { ProxyConfig::envoy(&cfg) } else { ProxyConfig::nginx(&cfg) };
    let proxy = Proxy::start(pc.workers(workers)).unwrap_or_else(|e| panic!("starting the proxy: {e}"));
    assert!(proxy.started().iter().all(|s| s.vm_start && s.configure), "{:?}", proxy.started());
    proxy
}

/// Statuses cycled through by the sum tests, and what each adds to (responses, 4xx, 5xx).
const STATUSES: [u16; 6] = [200, 404, 503, 500, 302, 429];

fn class(status: u16) -> (u64, u64, u64) {
    (1, u64::from((400..500).contains(&status)), u64::from(status >= 500))
}

/// N workers x M requests, with another worker's request + tick forced between every third
/// shared-data read and write: every count must be in the final flush, exactly once.
fn sums_exactly_under_forced_races(envoy: bool, every: u64) {
    let proxy = start(envoy, json!({"service": "be"}), 4);
    let injected = Arc::new(AtomicU64::new(0));
    let counter = injected.clone();
    proxy.interfere_on_write(
        every,
        Box::new(move |vm| {
            vm.exchange(&Request::get("/race/7"), &Ending::status(502))?;
            counter.fetch_add(1, Ordering::SeqCst);
            vm.tick()
        }),
    );
    let mut expected = (0u64, 0u64, 0u64);
    let mut flushes = Vec::new();
    for round in 0..25u64 {
        for worker in 0..proxy.workers() {
            let status = STATUSES[(round as usize + worker) % STATUSES.len()];
            let out =
                proxy.exchange(worker, &Request::get(format!("/items/{round}")), &Ending::status(status)).unwrap();
            assert!(out.passed(), "{out:?}");
            let (r, c4, c5) = class(status);
            expected = (expected.0 + r, expected.1 + c4, expected.2 + c5);
        }
        flushes.extend(kit::run_ok(&proxy, MERGE_MS / 2).unwrap());
    }
    let fired = proxy.stop_interfering();
    assert!(fired > 0, "the interference never ran: the test proved nothing");
    let n = injected.load(Ordering::SeqCst);
    expected = (expected.0 + n, expected.1, expected.2 + n);
    let last = settle(&proxy).unwrap();
    let (responses, c4, c5, none) = totals(&last, "be");
    assert_eq!((responses, c4, c5, none), (expected.0, expected.1, expected.2, 0), "last flush: {last:?}");
    let routes: u64 = kit::service(&last, "be").unwrap().routes.iter().map(|r| r.count).sum();
    assert_eq!(routes, expected.2, "every 5xx is on a route");
    // Cumulative: no flush ever goes down, and seq only goes up.
    flushes.push(kit::Sent { call: proxy.answered_calls().last().unwrap().0.clone(), flush: last });
    for pair in flushes.windows(2) {
        let (a, b) = (&pair[0].flush, &pair[1].flush);
        assert!(b.seq > a.seq, "seq went from {} to {}", a.seq, b.seq);
        let (ta, tb) = (totals(a, "be"), totals(b, "be"));
        assert!(tb.0 >= ta.0 && tb.1 >= ta.1 && tb.2 >= ta.2, "counters went down: {ta:?} -> {tb:?}");
    }
    eprintln!(
        "{}: {} requests + {n} injected; interference ran {fired} times; store {:?}",
        if envoy { "envoy" } else { "nginx" },
        expected.0 - n,
        proxy.store_stats()
    );
    assert!(proxy.traps().is_empty(), "{:?}", proxy.traps());
}

#[test]
fn sums_exactly_under_forced_cas_races_envoy() {
    sums_exactly_under_forced_races(true, 3);
}

#[test]
fn sums_exactly_under_forced_cas_races_nginx() {
    sums_exactly_under_forced_races(false, 3);
}

/// Every write raced, from the very first: creating a key (boot, registry, service record)
/// must not overwrite what another worker created in between (Envoy's cas-0 trap).
#[test]
fn every_write_raced_from_the_first_key_creation() {
    sums_exactly_under_forced_races(true, 1);
    sums_exactly_under_forced_races(false, 1);
}

/// Workers on real OS threads, all handling requests and ticking at once over one store.
fn sums_exactly_with_threads(envoy: bool) {
    let proxy = start(envoy, json!({"service": "be"}), 4);
    let per_worker = 300u64;
    std::thread::scope(|s| {
        for worker in 0..proxy.workers() {
            let vm = proxy.vms()[worker].clone();
            s.spawn(move || {
                for i in 0..per_worker {
                    let mut vm = vm.lock().unwrap();
                    let status = if i % 3 == 0 { 503 } else { 200 };
                    vm.exchange(&Request::get(format!("/t/{i}")), &Ending::status(status)).unwrap();
                    if i % 10 == 0 {
                        vm.tick().unwrap();
                    }
                }
            });
        }
    });
    let last = settle(&proxy).unwrap();
    let total = per_worker * proxy.workers() as u64;
    let fives = per_worker.div_ceil(3) * proxy.workers() as u64;
    assert_eq!(totals(&last, "be"), (total, 0, fives, 0), "{last:?}");
    assert!(proxy.traps().is_empty(), "{:?}", proxy.traps());
}

#[test]
fn sums_exactly_with_concurrent_worker_threads_envoy() {
    sums_exactly_with_threads(true);
}

#[test]
fn sums_exactly_with_concurrent_worker_threads_nginx() {
    sums_exactly_with_threads(false);
}

#[test]
fn status_classes_and_requests_without_response() {
    for envoy in [true, false] {
        let proxy = start(envoy, json!({"service": "be"}), 2);
        let statuses = [200u16, 204, 301, 404, 429, 499, 500, 502, 503, 504, 599];
        for (i, s) in statuses.iter().enumerate() {
            proxy.exchange(i % 2, &Request::get("/c"), &Ending::status(*s)).unwrap();
        }
        for w in 0..2 {
            let out = proxy.exchange(w, &Request::get("/gone"), &Ending::NoResponse).unwrap();
            assert!(out.passed());
        }
        let last = settle(&proxy).unwrap();
        assert_eq!(totals(&last, "be"), (11, 3, 5, 2), "envoy={envoy}: {last:?}");
    }
}

/// ngx_wasm_module finds keys by a hash of the key alone: here a weak one (the byte sum), so
/// services whose names are anagrams share slots. The filter must notice (the key is in the
/// value) and probe further, keeping each service's counts apart and whole. On nginx the
/// service is set per `location` (its own root context), so each VM here runs the filter with
/// another `service`.
#[test]
fn nginx_key_collisions_keep_services_apart() {
    let names = ["abc", "bca", "cab", "be", "eb"];
    let byte_sum = |k: &[u8]| k.iter().map(|b| u64::from(*b)).sum::<u64>();
    let mut pc = ProxyConfig::nginx(&config(false, json!({}))).workers(names.len()).slot_hash(byte_sum);
    for (i, name) in names.iter().enumerate() {
        pc = pc.vm_plugin_config(i, &config(false, json!({ "service": name })));
    }
    let proxy = Proxy::start(pc).unwrap();
    for _ in 0..3 {
        for (i, _) in names.iter().enumerate() {
            for _ in 0..=i {
                proxy.exchange(i, &Request::get("/c/1"), &Ending::status(500)).unwrap();
            }
        }
        kit::run_ok(&proxy, MERGE_MS).unwrap();
    }
    let last = settle(&proxy).unwrap();
    for (i, name) in names.iter().enumerate() {
        let n = 3 * (i as u64 + 1);
        assert_eq!(totals(&last, name), (n, 0, n, 0), "service {name}: {last:?}");
    }
    let stats = proxy.store_stats();
    assert!(stats.collisions > 0, "no key ever collided: the test proved nothing ({stats:?})");
    assert!(proxy.traps().is_empty(), "{:?}", proxy.traps());
}

/// The request path never touches shared data: counting is per VM, merged on ticks.
#[test]
fn requests_alone_make_no_shared_data_calls() {
    for envoy in [true, false] {
        let proxy = start(envoy, json!({"service": "be"}), 2);
        kit::run_ok(&proxy, 2 * MERGE_MS).unwrap();
        let before = proxy.store_stats();
        for i in 0..500 {
            proxy.exchange(i % 2, &Request::get("/r/1"), &Ending::status(if i % 5 == 0 { 503 } else { 200 })).unwrap();
        }
        assert_eq!(proxy.store_stats(), before, "shared data used on the request path");
        assert_eq!(totals(&settle(&proxy).unwrap(), "be"), (500, 0, 100, 0));
    }
}

/// The reads the filter makes per response are its main cost (BENCHMARKS.md, variant (e)):
/// nothing in the request phase; `:status` and (without a configured service) the cluster
/// name for any response; a 5xx adds `request.method` / `request.path`, read in `on_log`
/// where Envoy still answers them, and whether the proxy could reach the upstream (Envoy's
/// `response.code_details`, nginx's `ngx.upstream_header_time`) and, for its exemplar, the request
/// id, upstream address and duration. After the first stream, which also reads `response.code` to
/// learn the host. With `exemplars` off a 5xx costs what it cost before them.
#[test]
fn reads_per_response_are_status_and_service_and_for_a_5xx_its_route() {
    use faultline_tests::host::Phase::{Log, ResponseHeaders};
    let read = |phase, what: &str| (phase, what.to_string());
    for envoy in [true, false] {
        let overrides = if envoy { json!({}) } else { json!({"service": "be"}) };
        let proxy = start(envoy, overrides, 1);
        let request = Request::get("/server/users/42/orders").cluster("be");
        proxy.exchange(0, &request, &Ending::status(200)).unwrap();
        let first = proxy.take_stream_reads();
        assert!(first.contains(&read(Log, "response.code")), "the first stream learns the host: {first:?}");

        let mut ok = vec![read(ResponseHeaders, ":status")];
        if envoy {
            ok.push(read(ResponseHeaders, "xds.cluster_name"));
        }
        proxy.exchange(0, &request, &Ending::status(200)).unwrap();
        assert_eq!(proxy.take_stream_reads(), ok, "a 200 (envoy: {envoy})");

        let mut failed = vec![read(ResponseHeaders, ":status")];
        if envoy {
            failed.push(read(Log, "xds.cluster_name"));
        }
        failed.push(read(Log, "request.method"));
        failed.push(read(Log, "request.path"));
        failed.push(read(Log, if envoy { "response.code_details" } else { "ngx.upstream_header_time" }));
        // The exemplar: request id, upstream, duration. Envoy only for now (nginx samples nothing: the sample
        // lost counts in the nginx mode's property test).
        let sampled: &[&str] = if envoy { &["request.id", "upstream.address", "request.duration"] } else { &[] };
        failed.extend(sampled.iter().map(|p| read(Log, p)));
        proxy.exchange(0, &request, &Ending::status(503)).unwrap();
        assert_eq!(proxy.take_stream_reads(), failed, "a 503 (envoy: {envoy})");
        if !envoy {
            proxy.exchange(0, &request.clone().header("x-request-id", "client-1"), &Ending::status(503)).unwrap();
            assert_eq!(proxy.take_stream_reads(), failed, "nginx reads no request id");
            proxy.exchange(0, &request, &Ending::status(200)).unwrap();
            assert_eq!(proxy.take_stream_reads(), ok, "a 200 after a 5xx");
        }

        let last = settle(&proxy).unwrap();
        let fives = if envoy { 1 } else { 2 };
        let all = if envoy { 3 } else { 5 };
        assert_eq!(totals(&last, "be"), (all, 0, fives, 0), "envoy: {envoy}");
        let be = last.services.iter().find(|s| s.name == "be").unwrap();
        let routes: Vec<&str> = be.routes.iter().map(|r| r.route.as_str()).collect();
        assert_eq!(routes, ["GET /server/users/:id/orders"], "envoy: {envoy}");
    }
}

/// A 5xx the proxy made because it could not reach the upstream is counted as `unreachable` too (the
/// collector's passive DOWN); one the upstream answered is not. What each host says: Envoy's
/// `response.code_details` (checked on Envoy 1.40: `via_upstream`, and for a refused connection
/// `upstream_reset_before_response_started{remote_connection_failure|…}`), nginx's
/// `ngx.upstream_header_time` (`0.002` when the upstream answered, `-` when none did).
#[test]
fn a_5xx_the_proxy_made_for_want_of_the_upstream_is_counted_unreachable() {
    for envoy in [true, false] {
        let overrides = if envoy { json!({}) } else { json!({"service": "be"}) };
        let proxy = start(envoy, overrides, 1);
        let request = Request::get("/server/items").cluster("be");
        proxy.exchange(0, &request, &Ending::status(200)).unwrap(); // learns the host
        let (prop, cut, answered) = if envoy {
            (
                "response.code_details",
                &b"upstream_reset_before_response_started{remote_connection_failure|delayed_connect_error:_Connection_refused}"[..],
                &b"via_upstream"[..],
            )
        } else {
            ("ngx.upstream_header_time", &b"-"[..], &b"0.002"[..])
        };
        for _ in 0..3 {
            proxy.exchange(0, &request.clone().property(prop, cut), &Ending::status(503)).unwrap();
        }
        proxy.exchange(0, &request.clone().property(prop, answered), &Ending::status(502)).unwrap();
        let last = settle(&proxy).unwrap();
        let be = last.services.iter().find(|s| s.name == "be").unwrap();
        assert_eq!((be.status_5xx, be.unreachable), (4, 3), "envoy: {envoy}");
    }
}

/// With `exemplars` off, a 5xx reads its route and reachability only.
#[test]
fn with_exemplars_off_a_5xx_reads_what_it_read_before_them() {
    use faultline_tests::host::Phase::{Log, ResponseHeaders};
    for envoy in [true, false] {
        let proxy = start(envoy, json!({"service": "be", "exemplars": false}), 1);
        let request = Request::get("/server/users/42/orders");
        proxy.exchange(0, &request, &Ending::status(200)).unwrap();
        proxy.take_stream_reads();
        proxy.exchange(0, &request, &Ending::status(503)).unwrap();
        let reach = if envoy { "response.code_details" } else { "ngx.upstream_header_time" };
        let expected: Vec<_> =
            [(ResponseHeaders, ":status"), (Log, "request.method"), (Log, "request.path"), (Log, reach)]
                .into_iter()
                .map(|(p, w)| (p, w.to_string()))
                .collect();
        assert_eq!(proxy.take_stream_reads(), expected, "envoy: {envoy}");
        let last = settle(&proxy).unwrap();
        assert!(kit::service(&last, "be").unwrap().exemplars.is_empty());
    }
}
