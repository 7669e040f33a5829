//! The collector binary as the benchmarks run it: a TOML file of our own (window, tokens, services, limits),
//! a fresh state directory, started and waited for on `/healthz`, killed by PID when dropped.

use faultline_tests::envoy::http_get;
use faultline_tests::process::{Proc, free_port, wait_until};
use serde_json::Value;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The ingest token of every benchmark (a benchmark secret, on loopback only).
pub const TOKEN: &str = "bench-ingest-token-0001";

/// One `[[services]]` entry.
#[derive(Debug, Clone)]
pub struct ServiceEntry {
    pub name: String,
    /// `(url, interval, timeout)` of its health check.
    pub health: Option<(String, Duration, Duration)>,
    /// Name of its webhook in `[webhooks]` (None: the default one).
    pub webhook: Option<String>,
}

/// What the benchmark's collector configuration says.
#[derive(Debug, Clone)]
pub struct CollectorSpec {
    pub window: Duration,
    pub bucket: Duration,
    /// Webhook name to URL; must hold "default".
    pub webhooks: Vec<(String, String)>,
    pub services: Vec<ServiceEntry>,
    pub max_proxies: usize,
}

/// The TOML text of `spec` for a collector listening on `listen` with its state in `state_dir`.
pub fn toml(spec: &CollectorSpec, listen: SocketAddr, state_dir: &Path) -> String {
    let mut t = String::new();
    let _ = writeln!(t, "# Written by faultline-bench.");
    let _ = writeln!(t, "listen = \"{listen}\"");
    let _ = writeln!(t, "state_dir = \"{}\"", state_dir.display());
    let _ = writeln!(t, "window = \"{}ms\"", spec.window.as_millis());
    let _ = writeln!(t, "bucket = \"{}ms\"", spec.bucket.as_millis());
    let _ = writeln!(t, "reminder = \"0s\"\n");
    let _ = writeln!(t, "[[tokens]]\ntoken = \"{TOKEN}\"\n");
    let _ = writeln!(t, "[webhooks]");
    for (name, url) in &spec.webhooks {
        let _ = writeln!(t, "{name} = \"{url}\"");
    }
    let _ = writeln!(t, "\n[limits]\nmax_proxies = {}\n", spec.max_proxies);
    for s in &spec.services {
        let _ = writeln!(t, "[[services]]\nname = \"{}\"", s.name);
        if let Some(w) = &s.webhook {
            let _ = writeln!(t, "webhook = \"{w}\"");
        }
        if let Some((url, interval, timeout)) = &s.health {
            let _ = writeln!(t, "health_url = \"{url}\"");
            let _ = writeln!(t, "interval = \"{}ms\"", interval.as_millis());
            let _ = writeln!(t, "timeout = \"{}ms\"", timeout.as_millis());
        }
        t.push('\n');
    }
    t
}

/// A running collector.
pub struct Collector {
    proc: Proc,
    addr: SocketAddr,
}

impl Collector {
    /// Writes the configuration under `workdir`, starts the binary (the profile `FAULTLINE_BIN_PROFILE`
    /// names; `bench/run.sh` sets release) and waits until `/healthz` answers.
    pub fn start(spec: &CollectorSpec, workdir: &Path) -> Result<Collector, String> {
        let dir = workdir.join(format!("collector-{}", free_port()?));
        let state = dir.join("state");
        std::fs::create_dir_all(&state).map_err(|e| format!("{}: {e}", state.display()))?;
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()?));
        let config: PathBuf = dir.join("faultline.toml");
        std::fs::write(&config, toml(spec, addr, &state)).map_err(|e| format!("{}: {e}", config.display()))?;
        let bin = faultline_tests::paths::binary("faultline-collector")?;
        let mut cmd = Command::new(bin);
        cmd.arg("run").arg("--config").arg(&config).env("FAULTLINE_LOG", "warn");
        let mut proc = Proc::spawn("bench-collector", cmd)?;
        let ready = wait_until(Duration::from_secs(60), || {
            if proc.has_exited() {
                return Some(Err(format!("the collector exited while starting; its log:\n{}", proc.log())));
            }
            http_get(addr, "/healthz").ok().map(|_| Ok(()))
        });
        ready.ok_or_else(|| format!("the collector did not answer on {addr} within 60 s; log:\n{}", proc.log()))??;
        Ok(Collector { proc, addr })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn pid(&self) -> u32 {
        self.proc.pid()
    }

    pub fn log(&self) -> String {
        self.proc.log()
    }

    /// `GET /v1/status`.
    pub fn status(&self) -> Result<Value, String> {
        let (code, body) = http_get(self.addr, "/v1/status")?;
        if code != 200 {
            return Err(format!("GET /v1/status: {code} {body}"));
        }
        serde_json::from_str(&body).map_err(|e| format!("/v1/status is not JSON ({e})"))
    }

    /// A service's totals since the collector started: (responses, 5xx).
    pub fn totals(&self, service: &str) -> Result<(u64, u64), String> {
        let status = self.status()?;
        let entry = status
            .get("services")
            .and_then(Value::as_array)
            .and_then(|l| l.iter().find(|s| s.get("name").and_then(Value::as_str) == Some(service)));
        let count = |k: &str| entry.and_then(|s| s.pointer(k)).and_then(Value::as_u64).unwrap_or(0);
        Ok((count("/totals/requests"), count("/totals/errors")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_names_every_part() {
        let spec = CollectorSpec {
            window: Duration::from_secs(300),
            bucket: Duration::from_secs(5),
            webhooks: vec![("default".into(), "http://127.0.0.1:9/api/v10/webhooks/1/t".into())],
            services: vec![
                ServiceEntry { name: "be".into(), health: None, webhook: None },
                ServiceEntry {
                    name: "ai".into(),
                    health: Some(("http://127.0.0.1:8/h".into(), Duration::from_secs(60), Duration::from_secs(5))),
                    webhook: Some("health".into()),
                },
            ],
            max_proxies: 128,
        };
        let t = toml(&spec, "127.0.0.1:7070".parse().unwrap(), Path::new("/tmp/s"));
        for want in [
            "window = \"300000ms\"",
            "bucket = \"5000ms\"",
            "max_proxies = 128",
            "name = \"ai\"\nwebhook = \"health\"\nhealth_url = \"http://127.0.0.1:8/h\"\ninterval = \"60000ms\"",
            "token = \"bench-ingest-token-0001\"",
        ] {
            assert!(t.contains(want), "{want:?} missing from\n{t}");
        }
    }
}
