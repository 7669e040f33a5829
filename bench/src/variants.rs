//! The four Envoy configurations the overhead benchmark compares, made from the shipped `envoy/envoy.yaml`
//! (already rendered for loopback by `faultline_tests::envoy::render`) so that everything else is identical:
//! (a) no wasm filter, (b) the no-op wasm filter, (c) the Faultline filter, (d) no wasm filter and a JSON
//! access log to a file. Pure transformations of the parsed document.

use serde::Serialize;
use serde_json::{Value, json};
use std::path::Path;

/// One of the compared configurations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Variant {
    /// (a) Envoy without any wasm filter.
    NoWasm,
    /// (b) The no-op proxy-wasm filter (`bench/noop-filter`): the floor any wasm filter pays.
    Noop,
    /// (c) The Faultline filter, flushing to a running collector.
    Faultline,
    /// (d) No wasm filter; a JSON access log line per request written to a file.
    AccessLog,
    /// (e) Diagnostic: the no-op filter making the host calls Faultline makes per request, nothing else.
    Reads,
}

impl Variant {
    /// The four, in the order each round runs them.
    pub const ALL: [Variant; 4] = [Variant::NoWasm, Variant::Noop, Variant::Faultline, Variant::AccessLog];
    /// The four and the diagnostic (e).
    pub const WITH_READS: [Variant; 5] =
        [Variant::NoWasm, Variant::Noop, Variant::Faultline, Variant::AccessLog, Variant::Reads];

    /// The letter of the list.
    pub fn letter(self) -> char {
        match self {
            Variant::NoWasm => 'a',
            Variant::Noop => 'b',
            Variant::Faultline => 'c',
            Variant::AccessLog => 'd',
            Variant::Reads => 'e',
        }
    }

    /// A short description for tables.
    pub fn label(self) -> &'static str {
        match self {
            Variant::NoWasm => "(a) no wasm filter",
            Variant::Noop => "(b) no-op wasm filter",
            Variant::Faultline => "(c) Faultline filter",
            Variant::AccessLog => "(d) JSON access log, no wasm",
            Variant::Reads => "(e) no-op filter + Faultline's 2 host reads",
        }
    }
}

/// The fields of the access log of (d): what a log-based pipeline needs to tell which service and API fail.
pub fn access_log_format() -> Value {
    json!({
        "time": "%START_TIME%",
        "method": "%REQ(:METHOD)%",
        "path": "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%",
        "protocol": "%PROTOCOL%",
        "status": "%RESPONSE_CODE%",
        "flags": "%RESPONSE_FLAGS%",
        "bytes_in": "%BYTES_RECEIVED%",
        "bytes_out": "%BYTES_SENT%",
        "duration_ms": "%DURATION%",
        "cluster": "%UPSTREAM_CLUSTER%",
        "upstream": "%UPSTREAM_HOST%",
        "request_id": "%REQ(X-REQUEST-ID)%"
    })
}

/// `rendered` (the shipped configuration with the Faultline filter) changed into `variant`.
/// `noop_wasm` is the no-op filter's file, `access_log` where (d) writes.
pub fn config(rendered: &Value, variant: Variant, noop_wasm: &Path, access_log: &Path) -> Result<Value, String> {
    let mut doc = rendered.clone();
    match variant {
        Variant::Faultline => {
            wasm_filter_index(&mut doc)?;
        }
        Variant::Noop | Variant::Reads => {
            let i = wasm_filter_index(&mut doc)?;
            let filters = http_filters_mut(&mut doc)?;
            let wasm = filters
                .get_mut(i)
                .and_then(|f| f.pointer_mut("/typed_config/config"))
                .ok_or("wasm filter: no config")?;
            let filename = wasm
                .pointer_mut("/vm_config/code/local/filename")
                .ok_or("wasm filter: no vm_config.code.local.filename")?;
            *filename = Value::String(noop_wasm.display().to_string());
            if variant == Variant::Reads {
                // The no-op filter's switch (bench/noop-filter): make Faultline's per-request host calls.
                let value = wasm.pointer_mut("/configuration/value").ok_or("wasm filter: no configuration.value")?;
                *value = Value::String("reads".into());
            }
        }
        Variant::NoWasm | Variant::AccessLog => {
            let i = wasm_filter_index(&mut doc)?;
            http_filters_mut(&mut doc)?.remove(i);
        }
    }
    if variant == Variant::AccessLog {
        let hcm = hcm_mut(&mut doc)?.as_object_mut().ok_or("http_connection_manager typed_config is not an object")?;
        hcm.insert(
            "access_log".into(),
            json!([{
                "name": "envoy.access_loggers.file",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
                    "path": access_log.display().to_string(),
                    "log_format": { "json_format": access_log_format() }
                }
            }]),
        );
    }
    Ok(doc)
}

/// The `typed_config` of the edge listener's HTTP connection manager.
fn hcm_mut(doc: &mut Value) -> Result<&mut Value, String> {
    let listeners = doc
        .pointer_mut("/static_resources/listeners")
        .and_then(Value::as_array_mut)
        .ok_or("no static_resources.listeners")?;
    let edge = listeners
        .iter_mut()
        .find(|l| l.get("name").and_then(Value::as_str) == Some(faultline_tests::envoy::LISTENER))
        .ok_or("no listener named edge")?;
    let chains =
        edge.get_mut("filter_chains").and_then(Value::as_array_mut).ok_or("listener edge: no filter_chains")?;
    for chain in chains {
        let Some(filters) = chain.get_mut("filters").and_then(Value::as_array_mut) else { continue };
        for f in filters {
            if f.get("name").and_then(Value::as_str) == Some("envoy.filters.network.http_connection_manager") {
                return f.get_mut("typed_config").ok_or_else(|| "http_connection_manager: no typed_config".to_string());
            }
        }
    }
    Err("listener edge has no http_connection_manager".into())
}

fn http_filters_mut(doc: &mut Value) -> Result<&mut Vec<Value>, String> {
    hcm_mut(doc)?
        .get_mut("http_filters")
        .and_then(Value::as_array_mut)
        .ok_or_else(|| "http_connection_manager: no http_filters".to_string())
}

fn wasm_filter_index(doc: &mut Value) -> Result<usize, String> {
    http_filters_mut(doc)?
        .iter()
        .position(|f| f.get("name").and_then(Value::as_str) == Some("envoy.filters.http.wasm"))
        .ok_or_else(|| "the edge listener has no envoy.filters.http.wasm filter".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped() -> Value {
        faultline_tests::envoy::shipped_config().unwrap()
    }

    fn filter_names(doc: &Value) -> Vec<String> {
        let mut d = doc.clone();
        http_filters_mut(&mut d)
            .unwrap()
            .iter()
            .map(|f| f.get("name").and_then(Value::as_str).unwrap_or("").to_string())
            .collect()
    }

    #[test]
    fn each_variant_changes_only_its_part() {
        let base = shipped();
        let (noop, log) = (Path::new("/x/noop.wasm"), Path::new("/x/access.log"));
        let a = config(&base, Variant::NoWasm, noop, log).unwrap();
        assert_eq!(filter_names(&a), vec!["envoy.filters.http.router"]);
        let b = config(&base, Variant::Noop, noop, log).unwrap();
        assert_eq!(filter_names(&b), filter_names(&base));
        let text = b.to_string();
        assert!(text.contains("/x/noop.wasm"));
        let e = config(&base, Variant::Reads, noop, log).unwrap();
        assert!(e.to_string().contains("/x/noop.wasm") && e.to_string().contains("\"value\":\"reads\""));
        assert!(!b.to_string().contains("\"value\":\"reads\""));
        let c = config(&base, Variant::Faultline, noop, log).unwrap();
        assert_eq!(c, base);
        let d = config(&base, Variant::AccessLog, noop, log).unwrap();
        assert_eq!(filter_names(&d), vec!["envoy.filters.http.router"]);
        let mut d2 = d.clone();
        let logged = hcm_mut(&mut d2).unwrap().pointer("/access_log/0/typed_config/path").cloned();
        assert_eq!(logged, Some(Value::String("/x/access.log".into())));
        // Everything outside the HTTP filters and the access log is the same document.
        assert_eq!(a.pointer("/static_resources/clusters"), base.pointer("/static_resources/clusters"));
    }

    #[test]
    fn a_config_without_the_wasm_filter_is_refused() {
        let a = config(&shipped(), Variant::NoWasm, Path::new("n"), Path::new("l")).unwrap();
        assert!(
            config(&a, Variant::Noop, Path::new("n"), Path::new("l"))
                .unwrap_err()
                .contains("no envoy.filters.http.wasm")
        );
    }
}
