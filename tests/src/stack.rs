//! The whole product on loopback, for the end-to-end tests and the demo: three scripted services, the
//! collector binary, the real Envoy with the release filter, and a Discord-compatible server (or a real
//! webhook). Every process is started by [`Stack::start`] and killed by PID when the stack drops.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::discord::FakeDiscord;
use crate::envoy::{self, Envoy, Layout, http_get};
use crate::process::{Proc, free_port, wait_until};
use crate::upstream::{Upstream, UpstreamOptions};

/// The services of the team's layout: cluster name, health path, route prefix through Envoy.
pub const SERVICES: [(&str, &str, &str); 3] =
    [("frontend", "/api/health", "/api/"), ("be", "/server/actuator/health", "/server/"), ("ai", "/ai/health", "/ai/")];

/// The ingest token the stack's collector and filter share (a test secret).
pub const TOKEN: &str = "e2e-ingest-token-0001";

/// The operator token of the stack's collector (silences, acknowledgements; a test secret).
pub const OPERATOR_TOKEN: &str = "e2e-operator-token-0001";

/// How long the collector may take to answer `/healthz` after start.
pub const COLLECTOR_READY: Duration = Duration::from_secs(60);

/// Timings and thresholds of a stack; short ones make a test or demo last minutes, not hours.
#[derive(Debug, Clone)]
pub struct StackOptions {
    /// The collector's window (the product's default is 5 min).
    pub window: Duration,
    /// The window's bucket (default 5 s).
    pub bucket: Duration,
    /// The filter's flush interval, in ms (default 5000).
    pub flush_interval_ms: u64,
    /// The filter's merge interval, in ms (default 1000).
    pub merge_interval_ms: u64,
    /// Health-check interval of the services that have one (default 60 s).
    pub health_interval: Duration,
    /// Health-check timeout (below the interval).
    pub health_timeout: Duration,
    /// Minimum requests in the window before a rate counts.
    pub min_requests: u64,
    /// Services whose health is checked by the collector.
    pub health_checked: Vec<String>,
    /// Envoy worker threads.
    pub concurrency: u32,
    /// A real Discord webhook URL; `None` starts a local [`FakeDiscord`].
    pub webhook_url: Option<String>,
    /// Discord role ids every service mentions (its owners); none by default.
    pub mention_roles: Vec<String>,
    /// The default webhook's group wait; `None`: the collector's default (10 s).
    pub group_wait: Option<Duration>,
    /// More filter configuration keys (`{"request_id_header": "x-correlation-id"}`); `null` for none.
    pub plugin_extra: serde_json::Value,
    /// The default webhook's urgent wait (CRITICAL/DOWN); `None`: the collector's default (1 s).
    pub urgent_wait: Option<Duration>,
}

impl Default for StackOptions {
    fn default() -> Self {
        StackOptions {
            window: Duration::from_secs(20),
            bucket: Duration::from_secs(1),
            flush_interval_ms: 1000,
            merge_interval_ms: 250,
            health_interval: Duration::from_secs(1),
            health_timeout: Duration::from_millis(800),
            min_requests: 100,
            health_checked: Vec::new(),
            concurrency: 2,
            webhook_url: None,
            mention_roles: Vec::new(),
            group_wait: None,
            plugin_extra: serde_json::Value::Null,
            urgent_wait: None,
        }
    }
}

/// The webhook id the stack's alerts go to on the local Discord server.
pub const WEBHOOK_ID: u64 = 1;

/// The collector configuration (TOML) of a stack.
pub fn collector_toml(
    opts: &StackOptions,
    listen: SocketAddr,
    state_dir: &Path,
    webhook: &str,
    health: &BTreeMap<String, String>,
) -> String {
    let mut t = String::new();
    t.push_str("# Written by faultline-tests: windows and intervals shortened for a run of minutes.\n");
    t.push_str(&format!("listen = \"{listen}\"\n"));
    t.push_str(&format!("state_dir = \"{}\"\n", state_dir.display()));
    t.push_str(&format!("window = \"{}ms\"\n", opts.window.as_millis()));
    t.push_str(&format!("bucket = \"{}ms\"\n", opts.bucket.as_millis()));
    t.push_str(&format!("min_requests = {}\n", opts.min_requests));
    t.push_str("reminder = \"0s\"\n");
    t.push_str(&format!("operator_token = \"{OPERATOR_TOKEN}\"\n\n"));
    t.push_str(&format!("[[tokens]]\ntoken = \"{TOKEN}\"\n\n"));
    if opts.group_wait.is_some() || opts.urgent_wait.is_some() {
        t.push_str("[notify.default]\n");
        for (key, d) in [("group_wait", opts.group_wait), ("urgent_wait", opts.urgent_wait)] {
            if let Some(d) = d {
                t.push_str(&format!("{key} = \"{}ms\"\n", d.as_millis()));
            }
        }
        t.push('\n');
    }
    t.push_str(&format!("[webhooks]\ndefault = \"{webhook}\"\n\n"));
    t.push_str("[delivery]\ntimeout = \"5s\"\nmax_backoff = \"2s\"\n\n");
    for (name, _, _) in SERVICES {
        t.push_str(&format!("[[services]]\nname = \"{name}\"\n"));
        if !opts.mention_roles.is_empty() {
            let roles: Vec<String> = opts.mention_roles.iter().map(|r| format!("\"{r}\"")).collect();
            t.push_str(&format!("mention_roles = [{}]\n", roles.join(", ")));
        }
        if let Some(url) = health.get(name) {
            t.push_str(&format!("health_url = \"{url}\"\n"));
            t.push_str(&format!("interval = \"{}ms\"\n", opts.health_interval.as_millis()));
            t.push_str(&format!("timeout = \"{}ms\"\n", opts.health_timeout.as_millis()));
        }
        t.push('\n');
    }
    t
}

/// The collector binary, run on a configuration file with its own state directory.
pub struct Collector {
    proc: Option<Proc>,
    addr: SocketAddr,
    config: PathBuf,
}

impl Collector {
    /// A fresh directory for a collector's configuration and state under `target/test-logs/`.
    pub fn workdir(name: &str) -> Result<PathBuf, String> {
        let stamp =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        let dir = crate::paths::target_dir().join("test-logs").join(format!("{name}-{}-{stamp}", std::process::id()));
        std::fs::create_dir_all(dir.join("state")).map_err(|e| format!("{}: {e}", dir.display()))?;
        Ok(dir)
    }

    /// Writes `toml` to `dir/faultline.toml`, starts `faultline-collector run` on it and waits for `/healthz`.
    pub fn start(dir: &Path, toml: &str, addr: SocketAddr) -> Result<Collector, String> {
        let config = dir.join("faultline.toml");
        std::fs::write(&config, toml).map_err(|e| format!("{}: {e}", config.display()))?;
        let mut c = Collector { proc: None, addr, config };
        c.restart()?;
        Ok(c)
    }

    /// Starts the collector again on the same configuration, port and state (after [`Collector::kill9`]).
    pub fn restart(&mut self) -> Result<(), String> {
        if let Some(mut p) = self.proc.take() {
            p.kill9();
        }
        let bin = crate::paths::binary("faultline-collector")?;
        let mut cmd = Command::new(bin);
        cmd.arg("run").arg("--config").arg(&self.config);
        cmd.env("RUST_LOG", "info");
        let mut proc = Proc::spawn("collector", cmd)?;
        let addr = self.addr;
        let ready = wait_until(COLLECTOR_READY, || {
            if proc.has_exited() {
                return Some(Err(format!("the collector exited while starting; its log:\n{}", proc.log())));
            }
            match http_get(addr, "/healthz") {
                Ok(_) => Some(Ok(())),
                Err(_) => None,
            }
        });
        let result = ready.ok_or_else(|| {
            format!("collector not answering on {addr} after {COLLECTOR_READY:?}; log:\n{}", proc.log())
        });
        self.proc = Some(proc);
        result?
    }

    /// SIGKILL: no chance to flush or say goodbye.
    pub fn kill9(&mut self) {
        if let Some(p) = self.proc.as_mut() {
            p.kill9();
        }
    }

    /// The running process's id (0 when it is not running), e.g. to read its memory from /proc.
    pub fn pid(&self) -> u32 {
        self.proc.as_ref().map(Proc::pid).unwrap_or(0)
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its configuration file.
    pub fn config_path(&self) -> &Path {
        &self.config
    }

    /// What it logged (all runs are in separate files; this is the current run).
    pub fn log(&self) -> String {
        self.proc.as_ref().map(Proc::log).unwrap_or_default()
    }

    /// `GET /healthz` as JSON.
    pub fn healthz(&self) -> Result<Value, String> {
        let (code, body) = http_get(self.addr, "/healthz")?;
        if code != 200 {
            return Err(format!("GET /healthz: {code} {body}"));
        }
        serde_json::from_str(&body).map_err(|e| format!("/healthz is not JSON ({e}): {body}"))
    }

    /// Waits until every alert has been delivered and recorded (`/healthz` outbox depth 0).
    pub fn wait_for_outbox_empty(&self, timeout: Duration) -> Result<(), String> {
        wait_until(timeout, || {
            let h = self.healthz().ok()?;
            (h.get("outbox_depth").and_then(Value::as_u64) == Some(0)).then_some(())
        })
        .ok_or_else(|| format!("the collector's outbox is not empty after {timeout:?}"))
    }

    /// `GET /v1/status` as JSON.
    pub fn status(&self) -> Result<Value, String> {
        let (code, body) = http_get(self.addr, "/v1/status")?;
        if code != 200 {
            return Err(format!("GET /v1/status: {code} {body}"));
        }
        serde_json::from_str(&body).map_err(|e| format!("/v1/status is not JSON ({e}): {body}"))
    }
}

/// Everything, running.
pub struct Stack {
    /// The local Discord server (None when alerts go to a real webhook).
    pub discord: Option<FakeDiscord>,
    /// The three services by name.
    pub services: BTreeMap<String, Upstream>,
    /// The collector.
    pub collector: Collector,
    /// The real Envoy.
    pub envoy: Envoy,
    /// The options it was started with.
    pub options: StackOptions,
}

impl Stack {
    /// Starts services, Discord server, collector and Envoy (in that order), each ready before the next.
    pub fn start(options: StackOptions) -> Result<Stack, String> {
        let wasm = crate::paths::filter_wasm()?;
        let mut services = BTreeMap::new();
        let mut health = BTreeMap::new();
        for (name, health_path, _) in SERVICES {
            let up = Upstream::launch(UpstreamOptions::new(name, health_path))?;
            if options.health_checked.iter().any(|s| s == name) {
                health.insert(name.to_string(), format!("{}{health_path}", up.base_url()));
            }
            services.insert(name.to_string(), up);
        }
        let (discord, webhook) = match &options.webhook_url {
            Some(url) => (None, url.clone()),
            None => {
                let d = FakeDiscord::start()?;
                let url = d.webhook_url(WEBHOOK_ID, "e2e-webhook-token");
                (Some(d), url)
            }
        };
        let dir = Collector::workdir("collector")?;
        let listen = SocketAddr::from(([127, 0, 0, 1], free_port()?));
        let toml = collector_toml(&options, listen, &dir.join("state"), &webhook, &health);
        let collector = Collector::start(&dir, &toml, listen)?;

        let layout = Layout {
            listen_port: 0,
            admin_port: 0,
            services: services.iter().map(|(n, u)| (n.clone(), u.addr())).collect(),
            collector: listen,
            wasm,
            plugin: {
                let mut plugin = serde_json::json!({
                    "proxy_id": "e2e-edge",
                    "collector": {"token": TOKEN},
                    "flush_interval_ms": options.flush_interval_ms,
                    "merge_interval_ms": options.merge_interval_ms,
                });
                if let (Some(p), Some(extra)) = (plugin.as_object_mut(), options.plugin_extra.as_object()) {
                    p.extend(extra.clone());
                }
                plugin
            },
        };
        let config = envoy::render(&envoy::shipped_config()?, &layout)?;
        let envoy = Envoy::start(&config, options.concurrency)?;
        Ok(Stack { discord, services, collector, envoy, options })
    }

    /// The service called `name` (one of [`SERVICES`]).
    pub fn service(&self, name: &str) -> Result<&Upstream, String> {
        self.services.get(name).ok_or_else(|| format!("no service {name}"))
    }

    /// The service called `name`, to stop or start it.
    pub fn service_mut(&mut self, name: &str) -> Result<&mut Upstream, String> {
        self.services.get_mut(name).ok_or_else(|| format!("no service {name}"))
    }
}

/// A short, stable name for an alert message, from its embed title (or content for a fallback):
/// `"be WARNING"`, `"be CRITICAL"`, `"be WARNING (de-escalated)"`, `"be RESOLVED"`, `"ai DOWN"`,
/// `"ai UP, still CRITICAL"`, `"edge-1 stopped reporting"` (see [`classify_proxy`]),
/// `"be still CRITICAL"` (a reminder), `"TEST"`; anything else is returned whole.
pub fn classify(message: &Value) -> String {
    let title = message
        .pointer("/embeds/0/title")
        .and_then(Value::as_str)
        .or_else(|| message.get("content").and_then(Value::as_str))
        .unwrap_or("");
    if let Some(p) = classify_proxy(title) {
        return p;
    }
    // Titles are "<emoji> <service> — <what>".
    let Some((head, what)) = title.split_once(" — ") else { return title.to_string() };
    if head.contains("TEST") {
        return "TEST".into();
    }
    let service = head.split_whitespace().last().unwrap_or("");
    let level = |w: &str| if w.contains("CRITICAL") { "CRITICAL" } else { "WARNING" };
    let kind = if what.starts_with("still DOWN") {
        "still DOWN".to_string()
    } else if what.starts_with("still ") {
        format!("still {}", level(what.split(':').next().unwrap_or(what)))
    } else if what.starts_with("DOWN") {
        "DOWN".into()
    } else if let Some(rest) = what.strip_prefix("UP, still ") {
        format!("UP, still {}", level(rest.split(':').next().unwrap_or(rest)))
    } else if what.starts_with("UP") {
        "UP".into()
    } else if what.starts_with("RESOLVED") {
        "RESOLVED".into()
    } else if let Some(rest) = what.strip_prefix("de-escalated to ") {
        format!("{} (de-escalated)", level(rest.split([':', '(']).next().unwrap_or(rest)))
    } else if let Some(rest) = what.strip_prefix("escalated to ") {
        level(rest.split([':', '(']).next().unwrap_or(rest)).to_string()
    } else if what.ends_with("raised") || what.starts_with("CRITICAL:") || what.starts_with("WARNING:") {
        level(what.split(':').next().unwrap_or(what)).to_string()
    } else {
        return title.to_string();
    };
    format!("{service} {kind}")
}

/// The kinds [`classify`] gives a proxy's notices.
pub fn is_proxy_kind(kind: &str) -> bool {
    ["stopped reporting", "reporting again", "not reporting", "accepted"].contains(&kind) || kind.starts_with("refused")
}

/// `edge-1 stopped reporting`, `edge-1 reporting again`, `edge-1 not reporting`, `edge-1 refused ai`,
/// `edge-1 accepted` for the watchdog's titles.
fn classify_proxy(title: &str) -> Option<String> {
    let rest = title.strip_prefix("⚠️ ").or_else(|| title.strip_prefix("✅ "))?;
    let (id, what) = rest.split_once(' ')?;
    let id = id.trim_end_matches(':');
    let kind = if what.starts_with("stopped reporting") {
        "stopped reporting".to_string()
    } else if what.starts_with("reporting again") {
        "reporting again".to_string()
    } else if what.starts_with("is not reporting") {
        "not reporting".to_string()
    } else if let Some(r) = what.strip_prefix("Faultline configuration refused for ") {
        format!("refused {}", r.split(':').next().unwrap_or(r))
    } else if what.starts_with("every Faultline configuration accepted") {
        "accepted".to_string()
    } else {
        return None;
    };
    Some(format!("{id} {kind}"))
}

/// The text of the "Top failing routes" field of an alert message (empty when it has none).
pub fn top_routes_field(message: &Value) -> String {
    field(message, "Top failing routes")
}

/// The text of field `name` of a message's first embed (empty when it has none), e.g. a living message's
/// "Failing routes" or "Timeline".
pub fn field(message: &Value, name: &str) -> String {
    message
        .pointer("/embeds/0/fields")
        .and_then(Value::as_array)
        .and_then(|fields| fields.iter().find(|f| f.get("name").and_then(Value::as_str) == Some(name)))
        .and_then(|f| f.get("value").and_then(Value::as_str))
        .unwrap_or("")
        .to_string()
}

/// A service's entry in `GET /v1/status`.
pub fn service_status(status: &Value, name: &str) -> Option<Value> {
    status.get("services")?.as_array()?.iter().find(|s| s.get("name").and_then(Value::as_str) == Some(name)).cloned()
}

/// A service's totals since the collector's first start: (responses, 5xx).
pub fn service_totals(status: &Value, name: &str) -> (u64, u64) {
    let Some(s) = service_status(status, name) else { return (0, 0) };
    let count = |key: &str| s.pointer(key).and_then(Value::as_u64).unwrap_or(0);
    (count("/totals/requests"), count("/totals/errors"))
}

impl Stack {
    /// Alert messages received so far on the local Discord server, classified (see [`classify`]).
    pub fn alerts(&self) -> Vec<String> {
        self.messages().iter().map(classify).collect()
    }

    /// The living message of `service`'s latest incident (the latest message holding its living embed, by
    /// the footer "incident of SERVICE"), with its versions.
    pub fn living(&self, service: &str) -> Option<crate::discord::messages::Stored> {
        let tag = format!("incident of {service}");
        let holds = |v: &Value| {
            v.get("embeds").and_then(Value::as_array).is_some_and(|es| {
                es.iter().any(|e| e.pointer("/footer/text").and_then(Value::as_str).is_some_and(|f| f.contains(&tag)))
            })
        };
        let d = self.discord.as_ref()?;
        d.stored(WEBHOOK_ID).into_iter().rev().find(|m| !m.deleted && holds(m.current()))
    }

    /// The title of `service`'s embed in its living message as it reads now ("" when there is none).
    pub fn living_title(&self, service: &str) -> String {
        let tag = format!("incident of {service}");
        self.living(service)
            .and_then(|m| {
                m.current().get("embeds").and_then(Value::as_array).and_then(|es| {
                    es.iter()
                        .find(|e| e.pointer("/footer/text").and_then(Value::as_str).is_some_and(|f| f.contains(&tag)))
                        .and_then(|e| e.get("title").and_then(Value::as_str).map(str::to_string))
                })
            })
            .unwrap_or_default()
    }

    /// Alert messages received so far (accepted bodies, arrival order).
    pub fn messages(&self) -> Vec<Value> {
        self.discord.as_ref().map(|d| d.messages(WEBHOOK_ID)).unwrap_or_default()
    }

    /// Waits until `n` alert messages have arrived; returns them classified.
    pub fn wait_for_alerts(&self, n: usize, timeout: Duration) -> Result<Vec<String>, String> {
        let discord = self.discord.as_ref().ok_or("alerts go to a real webhook: nothing to wait for")?;
        discord
            .wait_for_messages(WEBHOOK_ID, n, timeout)
            .map(|m| m.iter().map(classify).collect())
            .map_err(|e| format!("{e}; alerts so far: {:?}", self.alerts()))
    }

    /// Waits until the collector's totals for `service` are exactly (`responses`, `errors`), and fails
    /// (with what it saw) if they are not after `timeout` — or if they ever go above.
    pub fn wait_for_totals(&self, service: &str, responses: u64, errors: u64, timeout: Duration) -> Result<(), String> {
        let mut last = (0, 0);
        let reached = wait_until(timeout, || {
            let status = self.collector.status().ok()?;
            last = service_totals(&status, service);
            if last.0 > responses || last.1 > errors {
                return Some(Err(format!(
                    "{service}: collector counted {last:?}, more than the ({responses}, {errors}) sent"
                )));
            }
            (last == (responses, errors)).then_some(Ok(()))
        });
        reached.unwrap_or_else(|| {
            Err(format!("{service}: collector totals {last:?} after {timeout:?}, expected ({responses}, {errors})"))
        })
    }
}
