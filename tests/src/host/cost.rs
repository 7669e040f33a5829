//! What a response costs a filter in wasm instructions (wasmtime fuel), per callback: a count that is
//! the same on every run, where CPU time on a shared machine moves by ±10%. Used by
//! `tests/tests/filter_cost.rs` (a bound) and `faultline-bench count` (the table in BENCHMARKS.md).

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::HostError;
use super::proxy::Proxy;
use super::stream::{Ending, Request};
pub use super::vm::ALLOCATIONS;

/// The callbacks of one HTTP stream, in the order the host runs them.
pub const STREAM_CALLBACKS: [&str; 6] = [
    "proxy_on_context_create",
    "proxy_on_request_headers",
    "proxy_on_response_headers",
    "proxy_on_done",
    "proxy_on_log",
    "proxy_on_delete",
];

/// Fuel per callback of one stream, and its sum.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StreamCost {
    pub per_callback: BTreeMap<&'static str, u64>,
}

impl StreamCost {
    /// Fuel of `callback` (0 if the filter does not export it or it ran no instruction).
    pub fn of(&self, callback: &str) -> u64 {
        self.per_callback.get(callback).copied().unwrap_or(0)
    }

    /// Fuel of the whole stream.
    pub fn total(&self) -> u64 {
        self.per_callback.iter().filter(|(k, _)| **k != ALLOCATIONS).map(|(_, v)| v).sum()
    }

    /// Fuel the guest burnt allocating buffers for values the host handed it (part of [`StreamCost::total`]).
    pub fn allocations(&self) -> u64 {
        self.of(ALLOCATIONS)
    }
}

/// Runs `warmup` streams on worker 0 (first-stream work: learning the host, first allocations), then
/// `n` more, and returns the fuel per stream of those `n`, per callback (rounded down). Errors if two
/// of the `n` streams cost differently: the figure would then depend on `n`.
pub fn per_stream(
    proxy: &Proxy,
    request: &Request,
    ending: &Ending,
    warmup: usize,
    n: usize,
) -> Result<StreamCost, String> {
    for _ in 0..warmup {
        proxy.exchange(0, request, ending).map_err(err)?;
    }
    proxy.take_fuel(0).map_err(err)?;
    let mut first: Option<StreamCost> = None;
    let mut sum: BTreeMap<&'static str, u64> = BTreeMap::new();
    for i in 0..n.max(1) {
        proxy.exchange(0, request, ending).map_err(err)?;
        let cost = StreamCost { per_callback: proxy.take_fuel(0).map_err(err)? };
        for (k, v) in &cost.per_callback {
            *sum.entry(k).or_default() += v;
        }
        match &first {
            None => first = Some(cost),
            Some(f) if f.total() != cost.total() => {
                return Err(format!("stream {i} cost {} instructions, the first {}", cost.total(), f.total()));
            }
            Some(_) => {}
        }
    }
    let runs = n.max(1) as u64;
    Ok(StreamCost { per_callback: sum.into_iter().map(|(k, v)| (k, v / runs)).collect() })
}

/// The no-op filter of the benchmarks (`bench/noop-filter`, built by `scripts/build.sh`).
pub fn noop_wasm() -> Result<PathBuf, String> {
    let p = crate::paths::target_dir().join("wasm32-wasip1/wasm/faultline_noop_filter.wasm");
    if p.is_file() {
        Ok(p)
    } else {
        Err(format!(
            "{} not found: build it with cargo build -p faultline-noop-filter --target wasm32-wasip1 --profile wasm \
             (scripts/build.sh does)",
            p.display()
        ))
    }
}

fn err(e: HostError) -> String {
    e.to_string()
}
