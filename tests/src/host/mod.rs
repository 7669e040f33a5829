//! A proxy-wasm host (ABI 0.2.1) on wasmtime that runs the real compiled filter the way Envoy
//! 1.40 or nginx + ngx_wasm_module does: several worker VMs over one shared-data store with
//! that proxy's CAS rules and property encodings, a controlled clock driving ticks, HTTP calls
//! the test answers (or lets time out), and every trap surfaced as an error.
//!
//! - [`abi`]: status codes, enums, the map encoding.
//! - [`shared`]: shared data with Envoy's and nginx's CAS rules.
//! - [`calls`]: dispatched HTTP calls and how each proxy delivers their answers.
//! - [`stream`]: scripted requests and responses.
//! - [`cost`]: wasm instructions (fuel) per stream and callback.
//! - [`vm`]: one instance of the filter; [`proxy`]: several over one store.
//! - `imports`, `maps`, `dispatch`, `wasi`, `memory`, `state`: the host functions.

pub mod abi;
pub mod calls;
pub mod cost;
mod dispatch;
mod imports;
pub mod kit;
mod maps;
mod memory;
pub mod proxy;
pub mod shared;
pub mod state;
pub mod stream;
pub mod vm;
mod wasi;

pub use abi::{Action, LogLevel};
pub use calls::{HttpCall, Reply};
pub use proxy::{Exit, Proxy, ProxyConfig};
pub use state::{LogLine, Mode, Origin, Phase, TickEvent};
pub use stream::{Ending, Request, Response, StreamOutcome};
pub use vm::{Started, Vm};

/// Why the host could not run the filter, or the filter failed.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("{0}")]
    Artifact(String),
    #[error("compiling {path}: {detail}")]
    Compile { path: String, detail: String },
    #[error("instantiating VM {vm}: {detail}")]
    Instantiate { vm: usize, detail: String },
    #[error("not a proxy-wasm 0.2.1 filter: {0}")]
    Abi(String),
    #[error("VM {vm} trapped in {callback}: {detail}")]
    Trap { vm: usize, callback: &'static str, detail: String },
    #[error("VM {vm} is dead since an earlier trap ({first})")]
    Dead { vm: usize, first: String },
    #[error("no VM {0}")]
    NoSuchVm(usize),
    #[error("no pending HTTP call #{0}")]
    NoSuchCall(u64),
    #[error("a million ticks and timeouts within one advance: the schedule runs away")]
    Runaway,
}
