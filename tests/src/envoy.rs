//! The real Envoy, for the end-to-end tests and the demo.
//!
//! The configuration Envoy runs is always the shipped `envoy/envoy.yaml`, changed only where a test must:
//! ports and addresses (loopback, port 0 where possible), the `.wasm` path and chosen keys of the plugin
//! configuration (short flush interval, token). [`render()`] makes those changes on the parsed document and
//! fails if the shipped file no longer has what it expects, so the tests notice when the file drifts.
//!
//! [`Envoy`] starts the binary with `--disable-hot-restart` (no shared-memory segment to collide with other
//! Envoys on the machine), waits for `/ready` on its loopback admin port, reads admin stats, and is killed by
//! PID when dropped (see [`crate::process::Proc`]).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::process::{Proc, wait_until};

mod http;
mod render;

pub use http::{http_get, http_request};
pub use render::{
    Layout, merge, plugin_config, plugin_patch, render, shipped_config, shipped_path, validate, write_config,
};
use render::{named_mut, set_socket};

/// Name of the edge listener in the shipped configuration.
pub const LISTENER: &str = "edge";
/// Name of the collector's cluster in the shipped configuration.
pub const COLLECTOR_CLUSTER: &str = "faultline_collector";
/// The service clusters of the shipped configuration (the names alerts show).
pub const SERVICES: [&str; 3] = ["frontend", "be", "ai"];

/// How long Envoy may take to become ready (a first v8 compile on a loaded 2-core machine included).
pub const READY_TIMEOUT: Duration = Duration::from_secs(60);

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

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

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
    fn parses_stats() {
        let s = parse_stats("a.b: 3\nc: 4\nh: P0(nan,1) P25(nan,2)\n");
        assert_eq!(s.len(), 2);
        assert_eq!(s["a.b"], 3);
    }
}
