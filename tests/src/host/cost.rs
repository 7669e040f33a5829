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

/// Runs `warmup` streams on worker 0 (first-stream work: learning the host, first allocations, filling the
/// exemplar sample of the route), then
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

/// The stream Faultline's filter sees on Envoy in the benchmarks: `be`'s cluster, a route with an id, an
/// answer from the upstream itself.
pub fn bench_request() -> Request {
    Request::get("/server/users/42/orders").cluster("be").property("response.code_details", "via_upstream")
}

/// The columns of the table: the no-op filter (b), its `reads` switch (e) and Faultline (c, on Envoy, the
/// service from the cluster name; with and without exemplars), each for a 200 and a 503, on one worker after
/// ten warm-up streams.
pub fn columns() -> Result<Vec<(String, StreamCost)>, String> {
    use super::proxy::ProxyConfig;
    let faultline = ProxyConfig::envoy(&super::kit::config(true, serde_json::json!({})));
    let bare = ProxyConfig::envoy(&super::kit::config(true, serde_json::json!({ "exemplars": false })));
    let noop = ProxyConfig::envoy("").wasm(noop_wasm()?);
    let reads = ProxyConfig::envoy("reads").wasm(noop_wasm()?);
    let mut out = Vec::new();
    let filters =
        [("(b) no-op", noop), ("(e) 2 reads", reads), ("(c) Faultline", faultline), ("(c) no exemplars", bare)];
    for (name, pc) in filters {
        for status in [200u16, 503] {
            let proxy = Proxy::start(pc.clone().workers(1)).map_err(err)?;
            if !proxy.started().iter().all(|s| s.vm_start && s.configure) {
                return Err(format!("{name} refused its configuration: {:?}", proxy.started()));
            }
            let cost = per_stream(&proxy, &bench_request(), &Ending::status(status), 10, 20)?;
            if !proxy.traps().is_empty() {
                return Err(format!("{name} trapped: {:?}", proxy.traps()));
            }
            out.push((format!("{name} {status}"), cost));
        }
    }
    Ok(out)
}

/// A markdown table: one row per callback, the total, and the allocations inside; one column per filter.
pub fn table(columns: &[(String, StreamCost)]) -> String {
    let mut t = String::from("| callback |");
    for (name, _) in columns {
        t.push_str(&format!(" {name} |"));
    }
    t.push_str("\n|---|");
    t.push_str(&"---:|".repeat(columns.len()));
    for cb in STREAM_CALLBACKS.iter().copied().chain(["**total**", ALLOCATIONS]) {
        t.push_str(&format!("\n| {cb} |"));
        for (_, c) in columns {
            let n = match cb {
                "**total**" => format!("**{}**", c.total()),
                _ => c.of(cb).to_string(),
            };
            t.push_str(&format!(" {n} |"));
        }
    }
    t.push('\n');
    t
}

/// Where the instructions of one stream go, by wasm function: the stream is run again and again on a fresh
/// VM left `n` instructions of fuel (n = 0, step, 2·step, …), and the backtrace of the out-of-fuel trap names
/// the function running at instruction n. Returns `(function, self, inclusive)` instruction estimates, most
/// inclusive first. Names need a `.wasm` with its name section (the `wasm` profile strips it: build with
/// `--config profile.wasm.strip=false` into another target directory).
pub fn profile(
    start: &dyn Fn() -> Result<Proxy, String>,
    request: &Request,
    ending: &Ending,
    step: u64,
) -> Result<Vec<(String, u64, u64)>, String> {
    use std::collections::{BTreeSet, HashMap};
    let step = step.max(1);
    let mut own: HashMap<String, u64> = HashMap::new();
    let mut inclusive: HashMap<String, u64> = HashMap::new();
    for k in 0..1_000_000u64 {
        let proxy = start()?;
        for _ in 0..3 {
            proxy.exchange(0, request, ending).map_err(err)?;
        }
        proxy.with_vm(0, |vm| vm.limit_fuel(k * step)).map_err(err)?;
        let detail = match proxy.exchange(0, request, ending) {
            Ok(_) => break,
            Err(HostError::Trap { detail, .. }) => detail,
            Err(e) => return Err(e.to_string()),
        };
        let frames: Vec<String> =
            detail.lines().filter_map(|l| l.split_once(" - ").map(|(_, f)| f.trim().to_string())).collect();
        let top = frames.first().cloned().unwrap_or_else(|| "(host)".into());
        *own.entry(top).or_default() += step;
        for f in frames.into_iter().collect::<BTreeSet<_>>() {
            *inclusive.entry(f).or_default() += step;
        }
    }
    let mut rows: Vec<(String, u64, u64)> = inclusive
        .into_iter()
        .map(|(f, n)| (own.get(&f).copied().unwrap_or(0), f, n))
        .map(|(o, f, n)| (f, o, n))
        .collect();
    rows.sort_by(|a, b| b.2.cmp(&a.2).then(b.1.cmp(&a.1)));
    Ok(rows)
}
