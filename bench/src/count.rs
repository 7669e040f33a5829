//! Wasm instructions per response (wasmtime fuel in the test host, `faultline_tests::host::cost`): the filter
//! cost that the machine's noise cannot hide, per callback, for (b), (e) and (c), a 200 and a 503.

use faultline_tests::host::cost;

/// Instructions per callback of each column, as (column, [(callback, count)]).
pub type Counts = Vec<(String, Vec<(String, u64)>)>;

/// The count section of BENCHMARKS.md, and the counts.
pub fn run() -> Result<(Counts, String), String> {
    let columns = cost::columns()?;
    let md = format!(
        "Envoy mode of the test host (`tests/src/host`, wasmtime fuel: about one unit per wasm instruction), one \
         worker, `GET /server/users/42/orders` to cluster `be`, three warm-up streams then the mean of 20 \
         (all equal). Instructions per response, per callback; allocations are the guest's \
         `proxy_on_memory_allocate` for values the host hands it (inside the callbacks' figures).\n\n{}\n",
        cost::table(&columns)
    );
    let json = columns
        .into_iter()
        .map(|(n, c)| (n, c.per_callback.into_iter().map(|(k, v)| (k.to_string(), v)).collect()))
        .collect();
    Ok((json, md))
}

/// The per-function breakdown of Faultline's filter for a 200 and a 503 ([`cost::profile`]), as markdown:
/// `wasm` is a build of the filter that keeps its name section.
pub fn profile(wasm: &std::path::Path, step: u64) -> Result<String, String> {
    use faultline_tests::host::{Ending, Proxy, ProxyConfig};
    let cfg = faultline_tests::host::kit::config(true, serde_json::json!({}));
    let start = || Proxy::start(ProxyConfig::envoy(&cfg).workers(1).wasm(wasm)).map_err(|e| e.to_string());
    let mut md = format!(
        "Where Faultline's instructions go (`{}`, one sample every {step} instructions; self = the function \
         itself, inclusive = with what it calls; the 25 largest inclusive):\n",
        wasm.display()
    );
    for status in [200u16, 503] {
        let rows = cost::profile(&start, &cost::bench_request(), &Ending::status(status), step)?;
        md.push_str(&format!("\n{status}:\n\n| function | self | inclusive |\n|---|---:|---:|\n"));
        for (f, own, all) in rows.iter().take(25) {
            let name = f.strip_prefix("faultline_filter.wasm!").unwrap_or(f);
            // Symbol hashes (`::h0123456789abcdef`) only make the table wider.
            let name = match name.rsplit_once("::h") {
                Some((head, hash)) if hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => head,
                _ => name,
            };
            md.push_str(&format!("| `{name}` | {own} | {all} |\n"));
        }
    }
    Ok(md)
}
