//! The shipped configuration, parsed and changed only where a run must: ports and addresses, the `.wasm`
//! path and chosen keys of the plugin configuration. Fails, naming what is missing, when the file drifts.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Map, Value};

use super::{COLLECTOR_CLUSTER, LISTENER};

/// The shipped `envoy/envoy.yaml`.
pub fn shipped_path() -> PathBuf {
    crate::paths::workspace_root().join("envoy/envoy.yaml")
}

/// Parses the shipped configuration into a JSON document (YAML is read as JSON values).
pub fn shipped_config() -> Result<Value, String> {
    let path = shipped_path();
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_yaml_ng::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// What a run changes in the shipped configuration: every port, address and path it names.
#[derive(Debug, Clone)]
pub struct Layout {
    /// Port of the edge listener on 127.0.0.1 (0: any free one, see [`Envoy::listen_addr`]).
    pub listen_port: u16,
    /// Port of the admin interface on 127.0.0.1 (0: any free one).
    pub admin_port: u16,
    /// Where each service cluster sends its requests, by cluster name.
    pub services: BTreeMap<String, SocketAddr>,
    /// Where the collector listens.
    pub collector: SocketAddr,
    /// The filter's `.wasm`.
    pub wasm: PathBuf,
    /// Merged into the plugin configuration (objects key by key, anything else replaced).
    pub plugin: Value,
}

/// The shipped configuration with the ports, paths and plugin keys of `layout`.
///
/// Fails, naming what is missing, when the shipped file lacks the listener, a cluster or the wasm filter
/// this expects, or when its plugin configuration is not a JSON object.
pub fn render(shipped: &Value, layout: &Layout) -> Result<Value, String> {
    let mut doc = shipped.clone();
    let admin = doc.pointer_mut("/admin/address/socket_address").ok_or("no admin.address.socket_address")?;
    set_socket(admin, "127.0.0.1", layout.admin_port)?;

    let listener = named_mut(&mut doc, "/static_resources/listeners", LISTENER)?;
    let socket = listener.pointer_mut("/address/socket_address").ok_or("listener edge: no address.socket_address")?;
    set_socket(socket, "127.0.0.1", layout.listen_port)?;

    for (cluster, addr) in &layout.services {
        set_cluster_endpoint(&mut doc, cluster, *addr)?;
    }
    set_cluster_endpoint(&mut doc, COLLECTOR_CLUSTER, layout.collector)?;

    let wasm = wasm_plugin_mut(&mut doc)?;
    let filename =
        wasm.pointer_mut("/vm_config/code/local/filename").ok_or("wasm filter: no vm_config.code.local.filename")?;
    *filename = Value::String(layout.wasm.display().to_string());
    let value = wasm.pointer_mut("/configuration/value").ok_or("wasm filter: no configuration.value (StringValue)")?;
    let mut plugin = plugin_config_of(value)?;
    merge(&mut plugin, &layout.plugin);
    *value = Value::String(plugin.to_string());
    Ok(doc)
}

/// The plugin configuration (JSON) of the Faultline wasm filter in `doc`.
pub fn plugin_config(doc: &Value) -> Result<Value, String> {
    let mut doc = doc.clone();
    let wasm = wasm_plugin_mut(&mut doc)?;
    let value = wasm.pointer_mut("/configuration/value").ok_or("wasm filter: no configuration.value (StringValue)")?;
    plugin_config_of(value)
}

fn plugin_config_of(value: &Value) -> Result<Value, String> {
    let text = value.as_str().ok_or("wasm filter: configuration.value is not a string")?;
    let plugin: Value = serde_json::from_str(text).map_err(|e| format!("plugin configuration is not JSON: {e}"))?;
    if plugin.is_object() { Ok(plugin) } else { Err("plugin configuration is not a JSON object".into()) }
}

/// The `config` of the `envoy.filters.http.wasm` entry in the edge listener's HTTP filters.
fn wasm_plugin_mut(doc: &mut Value) -> Result<&mut Value, String> {
    let listener = named_mut(doc, "/static_resources/listeners", LISTENER)?;
    let chains = listener
        .pointer_mut("/filter_chains")
        .and_then(Value::as_array_mut)
        .ok_or("listener edge: no filter_chains")?;
    for chain in chains {
        let Some(filters) = chain.get_mut("filters").and_then(Value::as_array_mut) else { continue };
        for filter in filters {
            let Some(http) = filter.pointer_mut("/typed_config/http_filters").and_then(Value::as_array_mut) else {
                continue;
            };
            for f in http {
                if f.get("name").and_then(Value::as_str) == Some("envoy.filters.http.wasm") {
                    return f
                        .pointer_mut("/typed_config/config")
                        .ok_or_else(|| "envoy.filters.http.wasm has no typed_config.config".to_string());
                }
            }
        }
    }
    Err("listener edge has no envoy.filters.http.wasm filter".into())
}

pub(super) fn named_mut<'a>(doc: &'a mut Value, list: &str, name: &str) -> Result<&'a mut Value, String> {
    doc.pointer_mut(list)
        .and_then(Value::as_array_mut)
        .and_then(|items| items.iter_mut().find(|i| i.get("name").and_then(Value::as_str) == Some(name)))
        .ok_or_else(|| format!("{list}: nothing named {name:?}"))
}

fn set_cluster_endpoint(doc: &mut Value, cluster: &str, addr: SocketAddr) -> Result<(), String> {
    let c = named_mut(doc, "/static_resources/clusters", cluster)?;
    let socket = c
        .pointer_mut("/load_assignment/endpoints/0/lb_endpoints/0/endpoint/address/socket_address")
        .ok_or_else(|| format!("cluster {cluster}: no endpoint socket_address"))?;
    set_socket(socket, &addr.ip().to_string(), addr.port())
}

pub(super) fn set_socket(socket: &mut Value, address: &str, port: u16) -> Result<(), String> {
    let obj = socket.as_object_mut().ok_or("socket_address is not an object")?;
    obj.insert("address".into(), Value::String(address.into()));
    obj.insert("port_value".into(), Value::from(port));
    Ok(())
}

/// Merges `patch` into `base`: objects key by key (recursively), anything else replaced.
pub fn merge(base: &mut Value, patch: &Value) {
    match (base, patch) {
        (Value::Object(b), Value::Object(p)) => {
            for (k, v) in p {
                match b.get_mut(k) {
                    Some(existing) => merge(existing, v),
                    None => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (b, p) => *b = p.clone(),
    }
}

/// Writes `doc` as a config file Envoy reads (JSON is valid YAML) under `target/test-logs/`.
pub fn write_config(name: &str, doc: &Value) -> Result<PathBuf, String> {
    let dir = crate::paths::target_dir().join("test-logs");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let path = dir.join(format!("{name}-{}-{stamp}.yaml", std::process::id()));
    let text = serde_json::to_string_pretty(doc).map_err(|e| e.to_string())?;
    std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}

/// Runs `envoy --mode validate -c path`; on failure, the error holds Envoy's own words.
pub fn validate(path: &Path) -> Result<(), String> {
    let envoy = crate::paths::envoy()?;
    let out = Command::new(&envoy)
        .args(["--mode", "validate", "--disable-hot-restart", "-l", "warning", "-c"])
        .arg(path)
        .output()
        .map_err(|e| format!("running {}: {e}", envoy.display()))?;
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("envoy --mode validate -c {} failed: {text}", path.display()))
    }
}

/// Keys of the plugin configuration as an object, for building [`Layout::plugin`].
pub fn plugin_patch(pairs: &[(&str, Value)]) -> Value {
    let mut m = Map::new();
    for (k, v) in pairs {
        m.insert((*k).to_string(), v.clone());
    }
    Value::Object(m)
}
