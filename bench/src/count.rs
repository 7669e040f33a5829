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
