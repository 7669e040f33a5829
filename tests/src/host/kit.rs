//! Helpers for tests that drive the Faultline filter through the host: its configuration, a
//! collector that answers flushes, and lookups into the flushes it received.

use faultline_flush::{Flush, ServiceCounters};
use serde_json::{Value, json};

use super::HostError;
use super::calls::{HttpCall, Reply};
use super::proxy::Proxy;

/// Merge tick and flush interval the tests use (ms).
pub const MERGE_MS: u64 = 1_000;
pub const FLUSH_MS: u64 = 5_000;
/// The collector's bearer token in the tests' configuration.
pub const TOKEN: &str = "t0ken-never-logged";

/// A complete, valid filter configuration for the given host (Envoy: a cluster name;
/// nginx: `ip:port`), with `overrides` merged in at the top level (`null` removes a key).
pub fn config(envoy: bool, overrides: Value) -> String {
    let upstream = if envoy { "faultline_collector" } else { "127.0.0.1:9" };
    let mut base = json!({
        "proxy_id": "edge-1",
        "default_service": "unknown",
        "collector": {
            "upstream": upstream,
            "authority": "faultline-collector",
            "path": "/v1/flush",
            "token": TOKEN,
            "timeout_ms": 2000
        },
        "flush_interval_ms": FLUSH_MS,
        "merge_interval_ms": MERGE_MS,
        "max_routes": 32,
        "shm_zone": "faultline"
    });
    if let (Some(base), Value::Object(over)) = (base.as_object_mut(), overrides) {
        for (k, v) in over {
            if v.is_null() {
                base.remove(&k);
            } else {
                base.insert(k, v);
            }
        }
    }
    base.to_string()
}

/// A flush the filter sent, with the call that carried it.
#[derive(Debug, Clone)]
pub struct Sent {
    pub call: HttpCall,
    pub flush: Flush,
}

/// Parses a call's body as a flush (the collector's own parser: invalid is an error).
pub fn parse(call: &HttpCall) -> Result<Flush, String> {
    Flush::parse(&call.body).map_err(|e| format!("flush #{} from VM {} is invalid: {e}", call.seq, call.vm))
}

/// Runs the proxy for `ms` in steps of `step_ms`, answering every call as soon as it is made
/// with `reply(call)` (like a collector that answers at once). Returns the flushes received.
pub fn run(
    proxy: &Proxy,
    ms: u64,
    step_ms: u64,
    mut reply: impl FnMut(&HttpCall) -> Reply,
) -> Result<Vec<Sent>, String> {
    let mut sent = Vec::new();
    let mut elapsed = 0;
    while elapsed < ms {
        let step = step_ms.max(1).min(ms - elapsed);
        proxy.advance(step).map_err(err)?;
        elapsed += step;
        for call in proxy.pending_calls() {
            let flush = parse(&call)?;
            proxy.answer(call.seq, reply(&call)).map_err(err)?;
            sent.push(Sent { call, flush });
        }
    }
    Ok(sent)
}

/// [`run`] with a collector that accepts everything.
pub fn run_ok(proxy: &Proxy, ms: u64) -> Result<Vec<Sent>, String> {
    run(proxy, ms, 100, |_| Reply::status(200, b"{\"accepted\":true}"))
}

/// Lets every worker merge, then runs until at least one more flush was accepted; returns
/// the last one (cumulative, so it holds everything counted before).
pub fn settle(proxy: &Proxy) -> Result<Flush, String> {
    let sent = run_ok(proxy, MERGE_MS + FLUSH_MS + MERGE_MS)?;
    sent.last().map(|s| s.flush.clone()).ok_or_else(|| "no flush was sent in two intervals".to_string())
}

/// The counters of service `name` in a flush.
pub fn service<'a>(flush: &'a Flush, name: &str) -> Option<&'a ServiceCounters> {
    flush.services.iter().find(|s| s.name == name)
}

/// `(responses, status_4xx, status_5xx, no_response)` of a service, zeros if absent.
pub fn totals(flush: &Flush, name: &str) -> (u64, u64, u64, u64) {
    service(flush, name).map_or((0, 0, 0, 0), |s| (s.responses, s.status_4xx, s.status_5xx, s.no_response))
}

fn err(e: HostError) -> String {
    e.to_string()
}
