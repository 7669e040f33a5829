//! Measures the collector's cost per flush at 50 services x 20 failing routes (issue 5's budget:
//! under 1 ms of CPU): parse + validate, ledger + windows + alert evaluation, and the SQLite
//! snapshot (here written after EVERY flush, the worst case; the service writes at most once a
//! second). Run: `cargo run --release -p faultline-collector --example flush_cost`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use faultline_collector::config::Config;
use faultline_collector::decide::engine::Engine;
use faultline_collector::store::{SERVICE_OWNER, Store};
use faultline_flush::{Flush, RouteCounters, ServiceCounters, VERSION};
use std::sync::Arc;

/// CPU time of this thread, nanoseconds (Linux schedstat).
fn cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

fn flush(seq: u64) -> Vec<u8> {
    let services = (0..50)
        .map(|s| ServiceCounters {
            name: format!("service-{s}"),
            responses: seq * 1000,
            status_4xx: seq * 10,
            status_5xx: seq * 40,
            no_response: seq,
            unreachable: 0,
            exemplars: vec![],
            routes: (0..20)
                .map(|r| RouteCounters {
                    route: format!("GET /api/v1/resource-{r}/:id/items"),
                    count: seq * 2,
                    first_seen_ms: 1,
                    last_seen_ms: seq * 5000,
                })
                .collect(),
        })
        .collect();
    Flush {
        version: VERSION,
        proxy_id: "edge-1".into(),
        boot_id: "boot".into(),
        boot_ms: 0,
        seq,
        sent_ms: 1000,
        services,
        refusals: vec![],
    }
    .to_json()
}

fn main() {
    let dir = std::env::temp_dir().join(format!("faultline-flush-cost-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut src = format!(
        "state_dir = \"{}\"\nmin_requests = 1000000000\n[[tokens]]\ntoken = \"xxxxxxxxxx\"\n\
         [webhooks]\ndefault = \"https://discord.com/api/webhooks/1/t\"\n",
        dir.display()
    );
    for s in 0..50 {
        src.push_str(&format!("[[services]]\nname = \"service-{s}\"\n"));
    }
    let cfg = Arc::new(Config::parse(std::path::Path::new("bench.toml"), &src).unwrap());
    let mut store = Store::open(&dir).unwrap();
    let mut engine = Engine::restore(cfg, 0, vec![], vec![], Default::default());
    let n = 300u64;
    let bodies: Vec<Vec<u8>> = (1..=n).map(flush).collect();
    println!("flush body: {} bytes (50 services x 20 routes)", bodies[0].len());
    let (mut parse, mut ingest, mut snap) = (0u64, 0u64, 0u64);
    let wall = std::time::Instant::now();
    for (i, body) in bodies.iter().enumerate() {
        let now = 1_000_000 + i as u64 * 5_000; // one flush every 5 s of collector time
        let c0 = cpu_ns();
        let f = Flush::parse(body).unwrap();
        let c1 = cpu_ns();
        let got = engine.ingest(&f, now).unwrap();
        engine.tick(now);
        let c2 = cpu_ns();
        let s = engine.take_snapshot(now);
        store.commit(&s, &[], SERVICE_OWNER, now).unwrap();
        let c3 = cpu_ns();
        assert_eq!(got.result, "applied");
        if i >= 60 {
            // Steady state: the 5-minute window is full (60 buckets per service).
            parse += c1 - c0;
            ingest += c2 - c1;
            snap += c3 - c2;
        }
    }
    let m = (n - 60) as f64 * 1000.0;
    println!(
        "CPU per flush (steady state, {} flushes): parse {:.3} ms, ingest+evaluate {:.3} ms, \
         snapshot write {:.3} ms, total {:.3} ms",
        n - 60,
        parse as f64 / m / 1000.0,
        ingest as f64 / m / 1000.0,
        snap as f64 / m / 1000.0,
        (parse + ingest + snap) as f64 / m / 1000.0
    );
    println!("wall for all {n} flushes incl. fsyncs: {:?}", wall.elapsed());
    let _ = std::fs::remove_dir_all(&dir);
}
