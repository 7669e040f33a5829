//! Shared by the fault tests (`tests/tests/faults_*.rs`): simulated proxies that flush like the filter
//! (cumulative counters, a strictly increasing `seq`, the same counters again after a failed flush), a
//! seeded RNG so a failing run can be replayed, env-var knobs for the long runs, RSS from `/proc`, alert ids
//! from Discord messages, a TCP relay that can be cut (an unreachable collector) and a secret grep over the
//! logs a test process wrote.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use faultline_flush::{Flush, RouteCounters, ServiceCounters, VERSION};
use serde_json::Value;

use crate::envoy::http_request;

/// A knob of a long run: the env var `name` as a number, else `default` (CI runs the default).
pub fn knob(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok()).unwrap_or(default)
}

/// Unix milliseconds now.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// SplitMix64: small, seeded, good enough to pick kill points and traffic mixes reproducibly.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `FAULTLINE_FAULT_SEED`, else from `default`; the seed is returned to be printed.
    pub fn from_env(default: u64) -> (Rng, u64) {
        let seed = knob("FAULTLINE_FAULT_SEED", default);
        (Rng(seed), seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }

    /// A duration in `lo..hi`.
    pub fn between(&mut self, lo: Duration, hi: Duration) -> Duration {
        let span = u64::try_from(hi.saturating_sub(lo).as_millis()).unwrap_or(0);
        lo + Duration::from_millis(self.below(span.max(1)))
    }
}

/// Resident memory of process `pid` in KiB (`VmRSS` of `/proc/PID/status`).
pub fn rss_kib(pid: u32) -> Result<u64, String> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    text.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("{path}: no VmRSS"))
}

/// POSTs a flush body to `addr` with an optional bearer token: the status and body.
pub fn post_flush(addr: SocketAddr, token: Option<&str>, body: &[u8]) -> Result<(u16, String), String> {
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![("Content-Type", "application/json")];
    if let Some(a) = &auth {
        headers.push(("Authorization", a.as_str()));
    }
    http_request(addr, "POST", faultline_flush::INGEST_PATH, &headers, body)
}

/// A proxy simulated by the test: cumulative counters per service since its boot, flushed like the filter
/// flushes them (every flush carries everything since the boot, with the next `seq`).
#[derive(Debug, Clone)]
pub struct SimProxy {
    /// Its `proxy_id`.
    pub proxy_id: String,
    /// Its `boot_id`.
    pub boot_id: String,
    /// When its boot started (unix ms).
    pub boot_ms: u64,
    /// The last `seq` it used.
    pub seq: u64,
    /// Its ingest token.
    pub token: String,
    /// Cumulative counters by service.
    pub services: BTreeMap<String, ServiceCounters>,
}

impl SimProxy {
    /// A proxy booted now.
    pub fn new(proxy_id: &str, boot_id: &str, token: &str) -> SimProxy {
        SimProxy {
            proxy_id: proxy_id.into(),
            boot_id: boot_id.into(),
            boot_ms: now_ms(),
            seq: 0,
            token: token.into(),
            services: BTreeMap::new(),
        }
    }

    /// Counts `responses` answers of `service`, `errors` of them 5xx, all on `route` (when there are any).
    pub fn count(&mut self, service: &str, responses: u64, errors: u64, route: &str) {
        let now = now_ms();
        let s = self
            .services
            .entry(service.to_string())
            .or_insert_with(|| ServiceCounters { name: service.to_string(), ..ServiceCounters::default() });
        s.responses += responses;
        s.status_5xx += errors.min(responses);
        if errors > 0 {
            match s.routes.iter_mut().find(|r| r.route == route) {
                Some(r) => {
                    r.count += errors.min(responses);
                    r.last_seen_ms = now;
                }
                None => s.routes.push(RouteCounters {
                    route: route.to_string(),
                    count: errors.min(responses),
                    first_seen_ms: now,
                    last_seen_ms: now,
                }),
            }
        }
    }

    /// The next flush (takes the next `seq`).
    pub fn next_flush(&mut self) -> Flush {
        self.seq += 1;
        Flush {
            version: VERSION,
            proxy_id: self.proxy_id.clone(),
            boot_id: self.boot_id.clone(),
            boot_ms: self.boot_ms,
            seq: self.seq,
            sent_ms: now_ms(),
            services: self.services.values().cloned().collect(),
            refusals: vec![],
        }
    }

    /// Sends the next flush to `addr`: the answer's status, or the error (connection refused while the
    /// collector is down). The counters stay: the next flush carries them again.
    pub fn send(&mut self, addr: SocketAddr) -> Result<u16, String> {
        let f = self.next_flush();
        let token = self.token.clone();
        post_flush(addr, Some(&token), &f.to_json()).map(|(code, _)| code)
    }

    /// Cumulative (responses, 5xx) of `service`.
    pub fn totals(&self, service: &str) -> (u64, u64) {
        self.services.get(service).map(|s| (s.responses, s.status_5xx)).unwrap_or((0, 0))
    }
}

/// The `alert #N` of a Discord message (embed footer, or the plain fallback's content).
pub fn alert_id(message: &Value) -> Option<u64> {
    let text = message
        .pointer("/embeds/0/footer/text")
        .and_then(Value::as_str)
        .or_else(|| message.get("content").and_then(Value::as_str))?;
    let rest = text.split("alert #").nth(1)?;
    rest.chars().take_while(char::is_ascii_digit).collect::<String>().parse().ok()
}

/// Every log file this test process's children wrote (`target/test-logs/*-<pid>-*.log`, and the collector
/// work directories' files of the same process).
pub fn logs_of_this_process() -> Vec<PathBuf> {
    let dir = crate::paths::target_dir().join("test-logs");
    let mark = format!("-{}-", std::process::id());
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(&dir) else { return out };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.contains(&mark) && name.ends_with(".log") {
            out.push(e.path());
        }
    }
    out.sort();
    out
}

/// Where a secret appears: (file, line).
pub fn grep_secrets(files: &[PathBuf], secrets: &[&str]) -> Vec<(PathBuf, String)> {
    let mut hits = Vec::new();
    for f in files {
        let mut bytes = Vec::new();
        if std::fs::File::open(f).and_then(|mut h| h.read_to_end(&mut bytes)).is_err() {
            continue;
        }
        let text = String::from_utf8_lossy(&bytes);
        for line in text.lines() {
            if secrets.iter().any(|s| line.contains(s)) {
                hits.push((f.clone(), line.chars().take(300).collect()));
            }
        }
    }
    hits
}

/// A TCP relay on 127.0.0.1 in front of `target` that can be cut: while cut its port refuses connections
/// and every relayed connection is closed, as for a collector that cannot be reached. Stops when dropped.
pub struct Relay {
    addr: SocketAddr,
    cut: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

type Conns = Arc<Mutex<Vec<TcpStream>>>;

impl Relay {
    /// Listens on a free port of 127.0.0.1 and relays every connection to `target`.
    pub fn start(target: SocketAddr) -> Result<Relay, String> {
        let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let (cut, stop) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
        let (c, s) = (cut.clone(), stop.clone());
        let thread = std::thread::spawn(move || relay_loop(Some(listener), addr, target, &c, &s));
        Ok(Relay { addr, cut, stop, thread: Some(thread) })
    }

    /// Where it listens (give this to the proxy as the collector's address).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Cuts (true) or restores (false) the path to the target.
    pub fn set_cut(&self, cut: bool) {
        self.cut.store(cut, Ordering::SeqCst);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn relay_loop(
    mut listener: Option<TcpListener>,
    addr: SocketAddr,
    target: SocketAddr,
    cut: &AtomicBool,
    stop: &AtomicBool,
) {
    let conns: Conns = Arc::default();
    while !stop.load(Ordering::SeqCst) {
        if cut.load(Ordering::SeqCst) {
            if listener.take().is_some() {
                for c in conns.lock().map(|mut v| std::mem::take(&mut *v)).unwrap_or_default() {
                    let _ = c.shutdown(Shutdown::Both);
                }
            }
            std::thread::sleep(Duration::from_millis(10));
            continue;
        }
        if listener.is_none() {
            listener = TcpListener::bind(addr).ok();
            if let Some(l) = &listener {
                let _ = l.set_nonblocking(true);
            }
        }
        let Some(l) = &listener else {
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        let _ = l.set_nonblocking(true);
        match l.accept() {
            Ok((client, _)) => {
                let _ = client.set_nonblocking(false);
                if let Ok(server) = TcpStream::connect_timeout(&target, Duration::from_secs(2)) {
                    pipe(client, server, &conns);
                }
            }
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
    for c in conns.lock().map(|mut v| std::mem::take(&mut *v)).unwrap_or_default() {
        let _ = c.shutdown(Shutdown::Both);
    }
}

fn pipe(client: TcpStream, server: TcpStream, conns: &Conns) {
    let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) else { return };
    if let Ok(mut v) = conns.lock() {
        v.retain(|s| s.peer_addr().is_ok());
        if let (Ok(a), Ok(b)) = (client.try_clone(), server.try_clone()) {
            v.push(a);
            v.push(b);
        }
    }
    std::thread::spawn(move || copy(client, s2));
    std::thread::spawn(move || copy(server, c2));
}

fn copy(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(buf.get(..n).unwrap_or_default()).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

/// What the alerts a webhook received say about delivery, from their `alert #N` ids: ids missing from
/// `1..=max_id`, ids received more than once, and, per service in id order, any alert that announces the
/// state its service was already in (the same change announced twice under two ids) or ends what was not open.
#[derive(Debug, Clone, Default)]
pub struct AlertAudit {
    /// Distinct alert ids received.
    pub unique: usize,
    /// The highest id received.
    pub max_id: u64,
    /// Ids below `max_id` never received.
    pub missing: Vec<u64>,
    /// Messages received again with an id already received (at-least-once resends).
    pub duplicates: u64,
    /// Messages without an alert id.
    pub unnumbered: usize,
    /// Alerts inconsistent with the state before them, explained.
    pub inconsistent: Vec<String>,
    /// Per service, its alerts in id order, classified (see [`crate::stack::classify`]).
    pub by_service: BTreeMap<String, Vec<String>>,
}

/// Audits the messages one webhook received (in arrival order).
pub fn audit(messages: &[Value]) -> AlertAudit {
    let mut a = AlertAudit::default();
    let mut by_id: BTreeMap<u64, String> = BTreeMap::new();
    for m in messages {
        match alert_id(m) {
            Some(id) => {
                if by_id.insert(id, crate::stack::classify(m)).is_some() {
                    a.duplicates += 1;
                }
            }
            None => a.unnumbered += 1,
        }
    }
    a.unique = by_id.len();
    a.max_id = by_id.keys().next_back().copied().unwrap_or(0);
    a.missing = (1..=a.max_id).filter(|id| !by_id.contains_key(id)).collect();
    // What the channel was told of each service: its incident's state (OK, WARNING, CRITICAL, DOWN).
    let mut told: BTreeMap<String, &str> = BTreeMap::new();
    for (id, what) in &by_id {
        let (service, kind) = what.split_once(' ').unwrap_or((what.as_str(), ""));
        a.by_service.entry(service.to_string()).or_default().push(kind.to_string());
        if crate::stack::is_proxy_kind(kind) {
            continue;
        }
        let before = told.get(service).copied().unwrap_or("OK");
        let mut bad = |why: &str| a.inconsistent.push(format!("alert #{id} {what:?}: {why}"));
        let after = match kind {
            "DOWN" if before == "DOWN" => {
                bad("its service was already DOWN");
                "DOWN"
            }
            "DOWN" => "DOWN",
            "UP, still CRITICAL" | "UP, still WARNING" => {
                if before != "DOWN" {
                    bad("UP when it was not DOWN");
                }
                if kind.ends_with("CRITICAL") { "CRITICAL" } else { "WARNING" }
            }
            "RESOLVED" => {
                if before == "OK" {
                    bad("nothing was open");
                }
                "OK"
            }
            "WARNING (de-escalated)" => {
                if before != "CRITICAL" {
                    bad("de-escalated from a CRITICAL the channel was not told");
                }
                "WARNING"
            }
            "WARNING" | "CRITICAL" => {
                if before == kind {
                    bad("already at that level (announced twice)");
                } else if before == "DOWN" {
                    bad("a rate level while DOWN (it waits for the next message)");
                } else if kind == "WARNING" && before == "CRITICAL" {
                    bad("raised while CRITICAL");
                }
                kind
            }
            k if k.starts_with("still ") => {
                if before == "OK" {
                    bad("a reminder of nothing open");
                }
                before
            }
            _ => before,
        };
        told.insert(service.to_string(), after);
    }
    a
}

/// Each embed of a message classified (see [`crate::stack::classify`]).
pub fn kinds(message: &Value) -> Vec<String> {
    let embeds = message.get("embeds").and_then(Value::as_array).cloned().unwrap_or_default();
    if embeds.is_empty() {
        return vec![crate::stack::classify(message)];
    }
    embeds.into_iter().map(|e| crate::stack::classify(&serde_json::json!({ "embeds": [e] }))).collect()
}

/// [`audit`] of what webhook `webhook` of `discord` showed its channel, in arrival order: every notifying
/// message (each of its embeds checked against the last one notified for its service) and every edit of a
/// living message or living message posted silently (they show a state without announcing a change: never
/// checked, but a state they showed since the last notification makes the next one a change again; an edit
/// may come before the notification of the same change, which waits for its group). Ids come from the
/// notifying messages only.
pub fn audit_channel(discord: &crate::discord::FakeDiscord, webhook: u64) -> AlertAudit {
    let mut a = AlertAudit::default();
    let mut ids: BTreeMap<u64, ()> = BTreeMap::new();
    // Per service: the state its last notification said, and whether an edit showed another one since.
    let mut told: BTreeMap<String, (String, bool)> = BTreeMap::new();
    let state = |kind: &str, before: &str| -> String {
        match kind {
            "RESOLVED" => "OK".into(),
            "DOWN" | "WARNING" | "CRITICAL" => kind.into(),
            k if k.starts_with("UP, still ") => k.trim_start_matches("UP, still ").into(),
            "WARNING (de-escalated)" => "WARNING".into(),
            _ => before.into(),
        }
    };
    for r in discord.requests().into_iter().filter(|r| r.webhook_id == webhook && (200..300).contains(&r.status)) {
        if r.method != "POST" && r.method != "PATCH" {
            continue;
        }
        let silent = r.body.get("flags").and_then(Value::as_u64).is_some_and(|f| f & (1 << 12) != 0);
        let edit = r.method == "PATCH" || silent;
        if !edit {
            match alert_id(&r.body) {
                Some(id) if ids.insert(id, ()).is_some() => a.duplicates += 1,
                Some(_) => {}
                None => a.unnumbered += 1,
            }
        }
        for what in kinds(&r.body) {
            let (service, kind) = what.split_once(' ').unwrap_or((what.as_str(), ""));
            if crate::stack::is_proxy_kind(kind) {
                if !edit {
                    a.by_service.entry(service.to_string()).or_default().push(kind.to_string());
                }
                continue;
            }
            let (posted, moved) = told.get(service).cloned().unwrap_or_else(|| ("OK".into(), false));
            if edit {
                let shown = state(kind, &posted);
                told.insert(service.to_string(), (posted.clone(), moved || shown != posted));
                continue;
            }
            a.by_service.entry(service.to_string()).or_default().push(kind.to_string());
            let mut bad = |why: &str| a.inconsistent.push(format!("{what:?} (last told {posted}): {why}"));
            match kind {
                "DOWN" if posted == "DOWN" && !moved => bad("its service was already DOWN"),
                "RESOLVED" if posted == "OK" => bad("nothing was open"),
                "WARNING" | "CRITICAL" if posted == kind && !moved => bad("already at that level (announced twice)"),
                "WARNING" if posted == "CRITICAL" && !moved => bad("raised while CRITICAL"),
                k if k.starts_with("still ") && posted == "OK" => bad("a reminder of nothing open"),
                _ => {}
            }
            told.insert(service.to_string(), (state(kind, &posted), false));
        }
    }
    a.unique = ids.len();
    a.max_id = ids.keys().next_back().copied().unwrap_or(0);
    a.missing = (1..=a.max_id).filter(|id| !ids.contains_key(id)).collect();
    a
}
