//! The filter's cost per response in wasm instructions (wasmtime fuel), per callback: a count, the same on
//! every run, where the benchmarks' CPU times move by ±10% on a shared machine (issue 15). Beside it, the
//! no-op filter of the benchmarks (b) and its `reads` switch (e), which makes only Faultline's two host reads.
//! The table is printed here and by `bench/run.sh --only count` (BENCHMARKS.md).
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use faultline_tests::host::cost;

/// Bound on the Faultline filter's instructions for a 2xx on Envoy (service from the cluster name): 15% above
/// the 4,432 measured when it was set (2026-12-08). A change that makes every response cost more fails here;
/// raise it only with the new count and the reason in BENCHMARKS.md.
const MAX_2XX: u64 = 5_100;

#[test]
fn instructions_per_response_per_callback() {
    let columns = cost::columns().unwrap();
    eprintln!("wasm instructions (fuel) per response:\n{}", cost::table(&columns));
    let total = |name: &str| columns.iter().find(|(n, _)| n == name).map(|(_, c)| c.total()).unwrap();
    let (b, e, c2, c5) =
        (total("(b) no-op 200"), total("(e) 2 reads 200"), total("(c) Faultline 200"), total("(c) Faultline 503"));
    assert!(b > 0, "the no-op filter ran no instruction: fuel is not counted");
    assert_eq!(b, total("(b) no-op 503"), "the no-op filter does the same for any status");
    assert!(e > b, "(e) makes two reads more than (b): {e} vs {b}");
    assert!(c2 > e, "Faultline counts on top of its two reads: {c2} vs {e}");
    assert!(c5 > c2, "a 5xx also reads and normalizes its route: {c5} vs {c2}");
    let (bare2, bare5) = (total("(c) no exemplars 200"), total("(c) no exemplars 503"));
    assert!(bare5 < c5, "sampling a failing request costs instructions on a 5xx: {bare5} vs {c5}");
    assert!(bare2 <= c2 + 64 && c2 <= bare2 + 64, "exemplars cost a 2xx nothing: {bare2} vs {c2}");
    assert!(c2 <= MAX_2XX, "a 2xx costs the Faultline filter {c2} wasm instructions, over the bound of {MAX_2XX}");
}
