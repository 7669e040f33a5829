//! Faultline's benchmarks (issue 5): the filter's cost against the proxy-wasm floor, the alert delay against
//! the window, and the collector's cost. `bench/run.sh` runs them; `BENCHMARKS.md` holds the figures.
//!
//! Pure parts (statistics, `/proc` parsing, wrk output, Envoy configuration variants, the true windowed rate,
//! simulated flushes, markdown) are unit-tested; the orchestration drives real processes on loopback.
pub mod alert;
pub mod collector;
pub mod count;
pub mod fast;
pub mod flushgen;
pub mod flushload;
pub mod overhead;
pub mod peer;
pub mod procfs;
pub mod report;
pub mod stats;
pub mod truth;
pub mod variants;
pub mod wrk;
