//! A proxy-wasm HTTP filter that does nothing at all: Envoy still creates an HTTP context per request and
//! calls into the VM for every callback, so this measures the floor any wasm filter pays. The benchmarks
//! compare the Faultline filter against it (`bench/run.sh`, `BENCHMARKS.md`).
//!
//! With the plugin configuration `reads` it instead makes exactly the host calls the Faultline filter makes
//! for a response that is not a 5xx (`:status` and `xds.cluster_name` in the response phase) and nothing
//! else: a diagnostic that tells the cost of reading what Faultline needs from the cost of what Faultline
//! does with it. Any other configuration (or none) is the pure no-op.
//!
//! Build: `cargo build -p faultline-noop-filter --target wasm32-wasip1 --profile wasm`
//! (same profile as the Faultline filter) → `target/wasm32-wasip1/wasm/faultline_noop_filter.wasm`.

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, BufferType, ContextType, LogLevel, MapType};

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Warn);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(NoopRoot { reads: false }) });
}}

/// Accepts any plugin configuration and makes one [`Noop`] (or [`Reads`]) per request.
struct NoopRoot {
    reads: bool,
}

impl Context for NoopRoot {}

impl RootContext for NoopRoot {
    fn on_configure(&mut self, _plugin_configuration_size: usize) -> bool {
        let config = hostcalls::get_buffer(BufferType::PluginConfiguration, 0, usize::MAX).ok().flatten();
        self.reads = config.is_some_and(|c| c.trim_ascii() == b"reads");
        true
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        if self.reads { Some(Box::new(Reads)) } else { Some(Box::new(Noop)) }
    }
}

/// Every callback keeps its default: continue, read nothing, change nothing.
struct Noop;

impl Context for Noop {}

impl HttpContext for Noop {}

/// Reads what the Faultline filter reads per request, and throws it away.
struct Reads;

impl Context for Reads {}

impl HttpContext for Reads {
    fn on_http_response_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let status = hostcalls::get_map_value_bytes(MapType::HttpResponseHeaders, ":status");
        let cluster = hostcalls::get_property(vec!["xds", "cluster_name"]);
        let _ = std::hint::black_box((status, cluster));
        Action::Continue
    }
}
