//! Measures the filter's pure hot path natively (not the wasm runtime, not the host calls):
//! classifying and counting a response, normalizing a 5xx route, merging a tally into an
//! in-memory shared store, and memory with 10,000 distinct failing paths.
//!
//! `cargo run --release -p faultline-filter --example hotpath`

use faultline_filter::counts::{StatusClass, classify};
use faultline_filter::merge::merge_tally;
use faultline_filter::route::write_route;
use faultline_filter::shared::memory::{CasRules, MemoryShared};
use faultline_filter::tally::Tally;
use std::hint::black_box;
use std::time::Instant;

fn per_op(label: &str, n: u64, f: impl FnMut(u64)) {
    let mut f = f;
    let t = Instant::now();
    for i in 0..n {
        f(i);
    }
    let ns = t.elapsed().as_nanos() as f64 / n as f64;
    println!("{label:<52} {ns:>9.1} ns/op");
}

fn main() {
    let n = 2_000_000;
    let mut tally = Tally::new(64, 32);
    per_op("count a 200 (classify + tally)", n, |_| {
        let class = classify(black_box(Some(b"200".as_slice())));
        tally.response(black_box("be"), class, None, 0);
    });
    let mut buf = String::new();
    per_op("count a 503 (classify + normalize route + tally)", n, |i| {
        let class = classify(black_box(Some(b"503".as_slice())));
        let path = if i % 2 == 0 { "/server/users/42/orders?x=1" } else { "/api/items/0a1b2c3d4e5f6789" };
        write_route(&mut buf, Some(b"GET"), Some(path.as_bytes()));
        tally.response("be", class, Some(&buf), i);
    });
    let store = MemoryShared::new(CasRules::Nginx);
    let merges = 20_000;
    let mut t = Tally::new(64, 32);
    per_op("merge tick: 3 services, 4 routes each", merges, |i| {
        for svc in ["be", "fe", "api"] {
            t.response(svc, StatusClass::Other, None, i);
            for r in ["GET /a", "GET /b/:id", "POST /c", "PUT /d"] {
                t.response(svc, StatusClass::ServerError, Some(r), i);
            }
        }
        merge_tally(&store, "faultline", &mut t, 64);
    });
    let mut t = Tally::new(64, 32);
    for i in 0..10_000u64 {
        write_route(&mut buf, Some(b"GET"), Some(format!("/p{i}/x").as_bytes()));
        t.response("be", StatusClass::ServerError, Some(&buf), i);
    }
    let kept: usize = t.services().map(|(_, c)| c.routes.len()).sum();
    println!("10,000 distinct failing paths: {kept} route entries kept (32 + other)");
    println!("(routes /pN/x: 'pN' are names, not ids: each is a distinct route)");
}
