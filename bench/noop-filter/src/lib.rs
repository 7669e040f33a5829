//! A proxy-wasm HTTP filter that does nothing at all: Envoy still creates an HTTP context per request and
//! calls into the VM for every callback, so this measures the floor any wasm filter pays. The benchmarks
//! compare the Faultline filter against it (`bench/run.sh`, `BENCHMARKS.md`).
//!
//! Build: `cargo build -p faultline-noop-filter --target wasm32-wasip1 --profile wasm`
//! (same profile as the Faultline filter) → `target/wasm32-wasip1/wasm/faultline_noop_filter.wasm`.

use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{ContextType, LogLevel};

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Warn);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(NoopRoot) });
}}

/// Accepts any plugin configuration and makes one [`Noop`] per request.
struct NoopRoot;

impl Context for NoopRoot {}

impl RootContext for NoopRoot {
    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Noop))
    }
}

/// Every callback keeps its default: continue, read nothing, change nothing.
struct Noop;

impl Context for Noop {}

impl HttpContext for Noop {}
