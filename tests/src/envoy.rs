//! The real Envoy, for the end-to-end tests and the demo.
//!
//! The configuration Envoy runs is always the shipped `envoy/envoy.yaml`, changed only where a test must:
//! ports and addresses (loopback, port 0 where possible), the `.wasm` path and chosen keys of the plugin
//! configuration (short flush interval, token). [`render`] makes those changes on the parsed document and
//! fails if the shipped file no longer has what it expects, so the tests notice when the file drifts.
//!
//! [`Envoy`] starts the binary with `--disable-hot-restart` (no shared-memory segment to collide with other
//! Envoys on the machine), waits for `/ready` on its loopback admin port, reads admin stats, and is killed by
//! PID when dropped (see [`crate::process::Proc`]).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::process::{Proc, wait_until};

/// Name of the edge listener in the shipped configuration.
pub const LISTENER: &str = "edge";
/// Name of the collector's cluster in the shipped configuration.
pub const COLLECTOR_CLUSTER: &str = "faultline_collector";
/// The service clusters of the shipped configuration (the names alerts show).
pub const SERVICES: [&str; 3] = ["frontend", "be", "ai"];

/// How long Envoy may take to become ready (a first v8 compile on a loaded 2-core machine included).
pub const READY_TIMEOUT: Duration = Duration::from_secs(60);

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
    let admin = doc
        .pointer_mut("/admin/address/socket_address")
        .ok_or("no admin.address.socket_address")?;
    set_socket(admin, "127.0.0.1", layout.admin_port)?;

    let listener = named_mut(&mut doc, "/static_resources/listeners", LISTENER)?;
    let socket = listener
        .pointer_mut("/address/socket_address")
        .ok_or("listener edge: no address.socket_address")?;
    set_socket(socket, "127.0.0.1", layout.listen_port)?;

    for (cluster, addr) in &layout.services {
        set_cluster_endpoint(&mut doc, cluster, *addr)?;
    }
    set_cluster_endpoint(&mut doc, COLLECTOR_CLUSTER, layout.collector)?;

    let wasm = wasm_plugin_mut(&mut doc)?;
    let filename = wasm
        .pointer_mut("/vm_config/code/local/filename")
        .ok_or("wasm filter: no vm_config.code.local.filename")?;
    *filename = Value::String(layout.wasm.display().to_string());
    let value = wasm
        .pointer_mut("/configuration/value")
        .ok_or("wasm filter: no configuration.value (StringValue)")?;
    let mut plugin = plugin_config_of(value)?;
    merge(&mut plugin, &layout.plugin);
    *value = Value::String(plugin.to_string());
    Ok(doc)
}

/// The plugin configuration (JSON) of the Faultline wasm filter in `doc`.
pub fn plugin_config(doc: &Value) -> Result<Value, String> {
    let mut doc = doc.clone();
    let wasm = wasm_plugin_mut(&mut doc)?;
    let value = wasm
        .pointer_mut("/configuration/value")
        .ok_or("wasm filter: no configuration.value (StringValue)")?;
    plugin_config_of(value)
}

fn plugin_config_of(value: &Value) -> Result<Value, String> {
    let text = value.as_str().ok_or("wasm filter: configuration.value is not a string")?;
    let plugin: Value =
        serde_json::from_str(text).map_err(|e| format!("plugin configuration is not JSON: {e}"))?;
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
            let Some(http) =
                filter.pointer_mut("/typed_config/http_filters").and_then(Value::as_array_mut)
            else {
                continue;
            };
            for f in http {
                if f.get("name").and_then(Value::as_str) == Some("envoy.filters.http.wasm") {
                    return f.pointer_mut("/typed_config/config").ok_or_else(|| {
                        "envoy.filters.http.wasm has no typed_config.config".to_string()
                    });
                }
            }
        }
    }
    Err("listener edge has no envoy.filters.http.wasm filter".into())
}

fn named_mut<'a>(doc: &'a mut Value, list: &str, name: &str) -> Result<&'a mut Value, String> {
    doc.pointer_mut(list)
        .and_then(Value::as_array_mut)
        .and_then(|items| {
            items.iter_mut().find(|i| i.get("name").and_then(Value::as_str) == Some(name))
        })
        .ok_or_else(|| format!("{list}: nothing named {name:?}"))
}

fn set_cluster_endpoint(doc: &mut Value, cluster: &str, addr: SocketAddr) -> Result<(), String> {
    let c = named_mut(doc, "/static_resources/clusters", cluster)?;
    let socket = c
        .pointer_mut("/load_assignment/endpoints/0/lb_endpoints/0/endpoint/address/socket_address")
        .ok_or_else(|| format!("cluster {cluster}: no endpoint socket_address"))?;
    set_socket(socket, &addr.ip().to_string(), addr.port())
}

fn set_socket(socket: &mut Value, address: &str, port: u16) -> Result<(), String> {
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
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
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

/// A running Envoy: its process, admin address and edge listener address.
pub struct Envoy {
    proc: Proc,
    admin: SocketAddr,
    listen: SocketAddr,
    config: Value,
    concurrency: u32,
}

impl Envoy {
    /// Starts Envoy on `config` with `concurrency` worker threads and waits until `/ready` says LIVE.
    pub fn start(config: &Value, concurrency: u32) -> Result<Envoy, String> {
        let envoy = crate::paths::envoy()?;
        let path = write_config("envoy", config)?;
        let admin_file = path.with_extension("admin");
        let _ = std::fs::remove_file(&admin_file);
        let mut cmd = Command::new(envoy);
        cmd.arg("-c")
            .arg(&path)
            .arg("--admin-address-path")
            .arg(&admin_file)
            .args(["--concurrency", &concurrency.to_string(), "--disable-hot-restart"])
            .args(["-l", "info", "--component-log-level", "wasm:debug"]);
        let mut proc = Proc::spawn("envoy", cmd)?;
        let admin = wait_until(READY_TIMEOUT, || {
            if proc.has_exited() {
                return Some(Err(format!("envoy exited while starting; its log:\n{}", proc.log())));
            }
            let text = std::fs::read_to_string(&admin_file).ok()?;
            text.trim().parse::<SocketAddr>().ok().map(Ok)
        })
        .ok_or_else(|| format!("envoy wrote no admin address in {READY_TIMEOUT:?}; log:\n{}", proc.log()))??;
        let ready = wait_until(READY_TIMEOUT, || {
            if proc.has_exited() {
                return Some(Err(format!("envoy exited while starting; its log:\n{}", proc.log())));
            }
            match http_get(admin, "/ready") {
                Ok((200, body)) if body.trim() == "LIVE" => Some(Ok(())),
                _ => None,
            }
        });
        ready.ok_or_else(|| format!("envoy not ready after {READY_TIMEOUT:?}; log:\n{}", proc.log()))??;
        let listen = listener_addr(admin, LISTENER)?;
        Ok(Envoy { proc, admin, listen, config: config.clone(), concurrency })
    }

    /// Address clients send requests to.
    pub fn listen_addr(&self) -> SocketAddr {
        self.listen
    }

    /// Address of the admin interface (loopback).
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin
    }

    /// `http://127.0.0.1:PORT{path}` on the edge listener.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.listen)
    }

    /// The process (PID, log, signals).
    pub fn process(&mut self) -> &mut Proc {
        &mut self.proc
    }

    /// Everything Envoy logged so far.
    pub fn log(&self) -> String {
        self.proc.log()
    }

    /// Every counter and gauge the admin interface reports (`/stats`, histograms left out).
    pub fn stats(&self) -> Result<BTreeMap<String, u64>, String> {
        let (status, body) = http_get(self.admin, "/stats")?;
        if status != 200 {
            return Err(format!("GET /stats: {status}"));
        }
        Ok(parse_stats(&body))
    }

    /// One counter or gauge, 0 when Envoy has not created it (yet).
    pub fn stat(&self, name: &str) -> Result<u64, String> {
        Ok(self.stats()?.get(name).copied().unwrap_or(0))
    }

    /// Connections each worker accepted on the edge listener, by worker index.
    pub fn worker_connections(&self) -> Result<Vec<u64>, String> {
        let stats = self.stats()?;
        let mut per_worker = vec![0; self.concurrency as usize];
        // `listener.<configured address>_<configured port>.worker_<i>.downstream_cx_total`; the edge listener is
        // the only one besides the admin's (`listener.admin.*`).
        for (name, value) in &stats {
            let Some(rest) = name.strip_prefix("listener.") else { continue };
            if rest.starts_with("admin.") {
                continue;
            }
            let Some((_, rest)) = rest.split_once(".worker_") else { continue };
            let Some((index, "downstream_cx_total")) = rest.split_once('.') else { continue };
            if let Some(slot) = index.parse::<usize>().ok().and_then(|i| per_worker.get_mut(i)) {
                *slot = *value;
            }
        }
        Ok(per_worker)
    }

    /// Stops this Envoy (SIGTERM, then SIGKILL) and starts a new one on the same configuration and the same
    /// listener port: a proxy restart, which gives the filter a new boot.
    pub fn restart(&mut self) -> Result<(), String> {
        let mut config = self.config.clone();
        let socket = named_mut(&mut config, "/static_resources/listeners", LISTENER)?
            .pointer_mut("/address/socket_address")
            .ok_or("listener edge: no address.socket_address")?;
        set_socket(socket, "127.0.0.1", self.listen.port())?;
        self.proc.stop(Duration::from_secs(10));
        let fresh = Envoy::start(&config, self.concurrency)?;
        *self = fresh;
        Ok(())
    }

    /// SIGTERM and wait for the exit (SIGKILL after `grace`).
    pub fn stop(&mut self, grace: Duration) {
        self.proc.stop(grace);
    }
}

/// The address a named listener is bound to, from the admin interface.
fn listener_addr(admin: SocketAddr, name: &str) -> Result<SocketAddr, String> {
    let (status, body) = http_get(admin, "/listeners?format=json")?;
    if status != 200 {
        return Err(format!("GET /listeners: {status}"));
    }
    let doc: Value = serde_json::from_str(&body).map_err(|e| format!("/listeners: {e}"))?;
    let statuses = doc.get("listener_statuses").and_then(Value::as_array).ok_or("/listeners: no listener_statuses")?;
    for l in statuses {
        if l.get("name").and_then(Value::as_str) != Some(name) {
            continue;
        }
        let sock = l.pointer("/local_address/socket_address").ok_or("/listeners: no local_address")?;
        let ip = sock.get("address").and_then(Value::as_str).ok_or("/listeners: no address")?;
        let port = sock.get("port_value").and_then(Value::as_u64).ok_or("/listeners: no port_value")?;
        return format!("{ip}:{port}").parse().map_err(|e| format!("/listeners: {e}"));
    }
    Err(format!("/listeners: no listener named {name}"))
}

/// Parses Envoy's text stats (`name: value` per line); histogram lines are left out.
pub fn parse_stats(body: &str) -> BTreeMap<String, u64> {
    body.lines()
        .filter_map(|line| {
            let (name, value) = line.rsplit_once(": ")?;
            Some((name.to_string(), value.trim().parse().ok()?))
        })
        .collect()
}

/// A minimal blocking HTTP/1.1 GET (one request per connection) for admin and status endpoints.
pub fn http_get(addr: SocketAddr, path: &str) -> Result<(u16, String), String> {
    http_request(addr, "GET", path, &[], b"")
}

/// A minimal blocking HTTP/1.1 request: `Connection: close`, the body read to the end.
pub fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<(u16, String), String> {
    let timeout = Duration::from_secs(10);
    let mut stream =
        TcpStream::connect_timeout(&addr, timeout).map_err(|e| format!("connect {addr}: {e}"))?;
    stream.set_read_timeout(Some(timeout)).map_err(|e| e.to_string())?;
    stream.set_write_timeout(Some(timeout)).map_err(|e| e.to_string())?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).map_err(|e| format!("{method} {path}: {e}"))?;
    stream.write_all(body).map_err(|e| format!("{method} {path}: {e}"))?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).map_err(|e| format!("{method} {path}: {e}"))?;
    parse_response(&raw).map_err(|e| format!("{method} {path} on {addr}: {e}"))
}

fn parse_response(raw: &[u8]) -> Result<(u16, String), String> {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").ok_or("no end of headers")?;
    let head = String::from_utf8_lossy(raw.get(..split).unwrap_or_default());
    let body = raw.get(split + 4..).unwrap_or_default();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line in {head:?}"))?;
    let chunked = head.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    let body = if chunked { dechunk(body)? } else { body.to_vec() };
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

fn dechunk(mut body: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let eol = body.windows(2).position(|w| w == b"\r\n").ok_or("bad chunk")?;
        let size_text = String::from_utf8_lossy(body.get(..eol).unwrap_or_default()).into_owned();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|e| format!("bad chunk size {size_text:?}: {e}"))?;
        body = body.get(eol + 2..).ok_or("bad chunk")?;
        if size == 0 {
            return Ok(out);
        }
        out.extend_from_slice(body.get(..size).ok_or("short chunk")?);
        body = body.get(size + 2..).ok_or("short chunk")?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> Layout {
        Layout {
            listen_port: 0,
            admin_port: 0,
            services: [("be".to_string(), "127.0.0.1:4001".parse().unwrap())].into_iter().collect(),
            collector: "127.0.0.1:4002".parse().unwrap(),
            wasm: PathBuf::from("/x/f.wasm"),
            plugin: serde_json::json!({"flush_interval_ms": 1000, "collector": {"token": "t"}}),
        }
    }

    #[test]
    fn render_changes_only_ports_paths_and_given_plugin_keys() {
        let shipped = shipped_config().unwrap();
        let out = render(&shipped, &layout()).unwrap();
        let be = out.pointer("/static_resources/clusters").unwrap().as_array().unwrap();
        let be = be.iter().find(|c| c["name"] == "be").unwrap();
        let sock = be.pointer("/load_assignment/endpoints/0/lb_endpoints/0/endpoint/address/socket_address").unwrap();
        assert_eq!(sock["port_value"], 4001);
        let plugin = plugin_config(&out).unwrap();
        let before = plugin_config(&shipped).unwrap();
        assert_eq!(plugin["flush_interval_ms"], 1000);
        assert_eq!(plugin["collector"]["token"], "t");
        // Keys not patched keep their shipped values.
        assert_eq!(plugin["collector"]["upstream"], before["collector"]["upstream"]);
        assert_eq!(plugin["proxy_id"], before["proxy_id"]);
        assert_eq!(out["admin"]["address"]["socket_address"]["address"], "127.0.0.1");
    }

    #[test]
    fn render_names_what_is_missing() {
        let shipped = shipped_config().unwrap();
        let mut l = layout();
        l.services.insert("nope".into(), "127.0.0.1:1".parse().unwrap());
        assert!(render(&shipped, &l).unwrap_err().contains("nope"));
    }

    #[test]
    fn parses_stats_and_chunked_bodies() {
        let s = parse_stats("a.b: 3\nc: 4\nh: P0(nan,1) P25(nan,2)\n");
        assert_eq!(s.len(), 2);
        assert_eq!(s["a.b"], 3);
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        assert_eq!(parse_response(raw).unwrap(), (200, "abcde".to_string()));
    }
}
