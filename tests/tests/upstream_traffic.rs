//! Scripted upstreams driven by the traffic driver: exact deterministic failure counts, route
//! filters, the health endpoint, stop/start on the same port, and client-side failures counted apart.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::collections::BTreeMap;
use std::net::TcpStream;
use std::time::Duration;

use faultline_tests::process::wait_until;
use faultline_tests::traffic::{self, Stop, Targets, TrafficPlan};
use faultline_tests::upstream::{Health, Upstream, UpstreamOptions};

fn upstream(name: &str) -> Upstream {
    Upstream::launch(UpstreamOptions::new(name, "/actuator/health")).expect("upstream")
}

fn plan(u: &Upstream, specs: &[&str], stop: Stop) -> TrafficPlan {
    TrafficPlan::new(&u.base_url(), Targets::cycle(specs).expect("targets"), stop)
}

#[test]
fn twelve_percent_fail_exactly_and_only_on_the_named_route() {
    let be = upstream("be");
    be.fail(120, 502, &["GET /server/users/:id/orders"]).expect("fail");
    let p = TrafficPlan {
        connections: 4,
        ..plan(
            &be,
            &["GET /server/users/7/orders", "GET /server/users/7/profile", "POST /server/users/8/orders"],
            Stop::Count(1500),
        )
    };
    let report = traffic::run(&p).expect("run");
    assert_eq!(report.sent, 1500);
    assert_eq!(report.failed(), 0, "{:?}", report.failures);
    assert_eq!(report.by_status, BTreeMap::from([(200, 1440), (502, 60)]));
    assert_eq!(report.by_path["GET /server/users/7/orders"], BTreeMap::from([(200, 440), (502, 60)]));
    assert_eq!(report.by_path["GET /server/users/7/profile"], BTreeMap::from([(200, 500)]));
    assert_eq!(
        report.by_path["POST /server/users/8/orders"],
        BTreeMap::from([(200, 500)]),
        "the method is part of the route"
    );

    let served = be.served();
    assert_eq!(served.by_status, report.by_status, "server and client agree");
    assert_eq!(served.total(), 1500);
    assert_eq!(served.errors(), 60);
    assert_eq!(served.by_route["GET /server/users/7/orders"][&502], 60);
    assert!(served.health.is_empty());
}

#[test]
fn a_new_rate_starts_a_fresh_exact_sequence_on_every_path() {
    let ai = upstream("ai");
    ai.fail(70, 503, &[]).expect("fail");
    let report =
        traffic::run(&TrafficPlan { connections: 3, ..plan(&ai, &["/ai/chat", "/ai/embed"], Stop::Count(2000)) })
            .expect("run");
    assert_eq!(report.by_status, BTreeMap::from([(200, 1860), (503, 140)]));

    ai.fail(0, 500, &[]).expect("fail");
    ai.reset_served();
    let report = traffic::run(&plan(&ai, &["/ai/chat"], Stop::Count(300))).expect("run");
    assert_eq!(report.by_status, BTreeMap::from([(200, 300)]));
    assert_eq!(ai.served().total(), 300);

    assert!(ai.fail(1001, 500, &[]).is_err());
    assert!(ai.fail(10, 42, &[]).is_err());
    assert!(ai.fail(10, 500, &["no-slash"]).is_err());
}

#[test]
fn health_endpoint_up_failing_and_hanging() {
    let fe = upstream("fe");
    fe.fail(1000, 500, &[]).expect("fail");
    let check = |timeout: Duration| {
        traffic::run(&TrafficPlan { timeout, ..plan(&fe, &["/actuator/health"], Stop::Count(1)) }).expect("run")
    };
    assert_eq!(
        check(Duration::from_secs(30)).by_status,
        BTreeMap::from([(200, 1)]),
        "health is not subject to the failure plan"
    );
    fe.set_health(Health::Failing(503));
    assert_eq!(check(Duration::from_secs(30)).by_status, BTreeMap::from([(503, 1)]));
    fe.set_health(Health::Hang);
    let hung = check(Duration::from_millis(300));
    assert_eq!((hung.answered(), hung.failures.get("timeout").copied()), (0, Some(1)));
    fe.set_health(Health::Up);
    assert_eq!(check(Duration::from_secs(30)).by_status, BTreeMap::from([(200, 1)]));
    assert_eq!(fe.served().health, BTreeMap::from([(0, 1), (200, 2), (503, 1)]));
    assert_eq!(fe.served().total(), 0);
}

#[test]
fn stopped_upstream_refuses_connections_and_restarts_on_the_same_port() {
    let mut be = upstream("be");
    let addr = be.addr();
    // Keep-alive traffic running across the outage.
    let live = traffic::spawn(&TrafficPlan { rate: Some(100.0), ..plan(&be, &["/server/ping"], Stop::WhenStopped) })
        .expect("spawn");
    wait_until(Duration::from_secs(60), || (live.snapshot().answered() >= 20).then_some(())).expect("traffic flows");

    be.stop();
    assert!(!be.is_running());
    assert!(TcpStream::connect(addr).is_err(), "a stopped upstream refuses connections");
    let during = live.snapshot().failed();
    wait_until(Duration::from_secs(60), || (live.snapshot().failed() >= during + 5).then_some(()))
        .expect("failures while stopped");

    be.start().expect("restart");
    assert_eq!(be.addr(), addr);
    let answered = live.snapshot().answered();
    wait_until(Duration::from_secs(60), || (live.snapshot().answered() >= answered + 20).then_some(()))
        .expect("traffic recovers");
    let report = live.stop().expect("stop");

    assert_eq!(report.sent, report.answered() + report.failed());
    assert!(report.failures.get("connect").copied().unwrap_or(0) >= 5, "{:?}", report.failures);
    // A request in flight at the stop (or one whose answer came after the client's timeout, on a loaded
    // machine) may be counted by the server without its answer arriving.
    let served = be.served().total();
    let lost: u64 = ["io", "timeout"].iter().map(|k| report.failures.get(*k).copied().unwrap_or(0)).sum();
    assert!(served >= report.answered() && served <= report.answered() + lost, "served {served}, {report:?}");
}

#[test]
fn a_rate_for_a_duration_sends_exactly_rate_times_duration() {
    let be = upstream("be");
    let p =
        TrafficPlan { rate: Some(40.0), connections: 2, ..plan(&be, &["/a", "/b"], Stop::For(Duration::from_secs(1))) };
    let report = traffic::run(&p).expect("run");
    assert_eq!(report.sent, 40);
    assert_eq!(report.by_status, BTreeMap::from([(200, 40)]));
    assert_eq!(report.by_path["GET /a"][&200], 20);
}

#[test]
fn nothing_listening_is_a_client_failure_not_an_answer() {
    let mut gone = upstream("gone");
    gone.stop();
    let report = traffic::run(&TrafficPlan { connections: 2, ..plan(&gone, &["/x"], Stop::Count(10)) }).expect("run");
    assert_eq!(report.sent, 10);
    assert_eq!(report.answered(), 0);
    assert_eq!(report.failures, BTreeMap::from([("connect".to_string(), 10)]));
    assert!(traffic::run(&TrafficPlan::new("https://x", Targets::cycle(&["/"]).expect("t"), Stop::Count(1))).is_err());
    assert!(traffic::run(&plan(&gone, &["/"], Stop::WhenStopped)).is_err());
}

#[test]
fn latencies_are_recorded_per_answer_on_a_multi_threaded_driver() {
    let be = upstream("be");
    be.set_health(Health::Slow(Duration::from_millis(50)));
    let p = TrafficPlan {
        connections: 4,
        threads: 2,
        record_latency: true,
        ..plan(&be, &["/x", "/x", "/x", "/actuator/health"], Stop::Count(400))
    };
    let report = traffic::run(&p).expect("run");
    assert_eq!(report.by_status, BTreeMap::from([(200, 400)]));
    assert_eq!(report.latencies_us.len(), 400);
    let (p50, p99, max) =
        (report.latency(0.5).expect("p50"), report.latency(0.99).expect("p99"), report.latency(1.0).expect("max"));
    assert!(p50 <= p99 && p99 <= max);
    // A quarter of the requests went to the health endpoint that takes 50 ms: the slowest quarter is that slow.
    assert!(report.latency(0.76).expect("q76") >= Duration::from_millis(50), "{report:?}");
    assert!(traffic::run(&TrafficPlan { record_latency: false, ..p }).expect("run").latencies_us.is_empty());
}
