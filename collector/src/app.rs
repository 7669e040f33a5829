//! Wiring: the shared state, the 1 s evaluation timer, health-check loops, delivery
//! workers and the HTTP server, started by `run` and stopped gracefully on SIGTERM/SIGINT.

use crate::config::Config;
use crate::delivery::{self, WebhookStatus};
use crate::engine::Engine;
use crate::health::probe;
use crate::notice::Notice;
use crate::store::{SERVICE_OWNER, Store, StoreError};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, watch};

/// The error at the collector's edge.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("listening on {addr}: {source}")]
    Listen { addr: std::net::SocketAddr, source: std::io::Error },
    #[error("{0}")]
    Other(String),
}

/// Wall-clock unix milliseconds.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)).unwrap_or(0)
}

/// Engine and store, changed together under one lock so that a state change and its
/// outbox row are written in one transaction, in order.
pub struct Core {
    pub engine: Engine,
    pub store: Store,
    /// Notices not yet written (only after a failed write); never sent before written.
    pending: Vec<Notice>,
}

impl Core {
    /// Queues notices and writes them with the changed state now. Returns the webhooks to wake.
    pub fn commit(&mut self, notices: Vec<Notice>, now: u64) -> Result<Vec<String>, StoreError> {
        self.pending.extend(notices);
        let snap = self.engine.take_snapshot(now);
        if snap.is_empty() && self.pending.is_empty() {
            return Ok(vec![]);
        }
        let cfg = self.engine.config();
        let rows: Vec<(String, Notice)> = self.pending.iter().map(|n| (cfg.webhook_for(&n.service).to_string(), n.clone())).collect();
        match self.store.commit(&snap, &rows, SERVICE_OWNER, now) {
            Ok(_) => {
                self.pending.clear();
                let mut hooks: Vec<String> = rows.into_iter().map(|(h, _)| h).collect();
                hooks.dedup();
                Ok(hooks)
            }
            Err(e) => {
                self.engine.restore_snapshot(snap);
                Err(e)
            }
        }
    }
}

/// What every task shares.
pub struct Shared {
    pub cfg: Arc<Config>,
    pub core: Arc<Mutex<Core>>,
    pub webhooks: Mutex<BTreeMap<String, WebhookStatus>>,
    wakers: BTreeMap<String, Arc<Notify>>,
    pub http: reqwest::Client,
    pub started_ms: u64,
    pub first_start_ms: u64,
    /// Flushes accepted and refused since start, for `/metrics`.
    pub stats: crate::observe::IngestStats,
    /// A read-only connection for the status page's history: its reads never wait for the core.
    pub reader: Mutex<rusqlite::Connection>,
}

impl Shared {
    /// Runs `f` on the core; SQLite work is moved off the async worker (`block_in_place`).
    pub async fn with_core<R>(&self, f: impl FnOnce(&mut Core) -> R) -> R {
        tokio::task::block_in_place(|| {
            let mut guard = self.core.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut guard)
        })
    }

    /// The notifier of webhook `name`'s worker.
    pub fn wake(&self, name: &str) -> Arc<Notify> {
        self.wakers.get(name).cloned().unwrap_or_default()
    }

    /// Wakes the workers of `hooks`.
    pub fn wake_all(&self, hooks: &[String]) {
        for h in hooks {
            if let Some(w) = self.wakers.get(h) {
                w.notify_one();
            }
        }
    }

    /// Writes notices (and the changed state) then wakes their webhooks; logs a failed write.
    pub async fn commit(&self, notices: Vec<Notice>) {
        match self.with_core(move |c| c.commit(notices, now_ms())).await {
            Ok(hooks) => self.wake_all(&hooks),
            Err(e) => tracing::error!("writing state failed (kept in memory, retried every second): {e}"),
        }
    }
}

/// Opens the store and builds the shared state.
pub fn open(cfg: Config) -> Result<Arc<Shared>, Error> {
    let cfg = Arc::new(cfg);
    let store = Store::open(&cfg.state_dir)?;
    let now = now_ms();
    let first_start_ms = store.first_start_ms(now)?;
    let (baselines, services, buckets) = store.load()?;
    let mut engine = Engine::restore(cfg.clone(), now, baselines, services, buckets);
    engine.resume_minutes(store.open_minutes(now)?);
    let reader = Mutex::new(Store::open_read_only(&cfg.state_dir)?);
    let http = reqwest::Client::builder()
        .user_agent(concat!("faultline-collector/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Error::Other(format!("HTTP client: {e}")))?;
    let wakers = cfg.webhooks.keys().map(|k| (k.clone(), Arc::new(Notify::new()))).collect();
    Ok(Arc::new(Shared {
        core: Arc::new(Mutex::new(Core { engine, store, pending: Vec::new() })),
        webhooks: Mutex::new(BTreeMap::new()),
        wakers,
        http,
        started_ms: now,
        first_start_ms,
        stats: Default::default(),
        reader,
        cfg,
    }))
}

async fn ticker(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut every = tokio::time::interval(Duration::from_secs(1));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_prune_ms = 0u64;
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        let history = shared.cfg.history;
        let r = shared.with_core(|c| {
            let now = now_ms();
            let notices = c.engine.tick(now);
            if now.saturating_sub(last_prune_ms) >= 60_000 {
                last_prune_ms = now;
                let before = now.saturating_sub(u64::try_from(history.retention.as_millis()).unwrap_or(u64::MAX));
                match c.store.prune_history(before, history.max_rows) {
                    Ok(n) if n > 0 => tracing::debug!("history: pruned {n} rows"),
                    Ok(_) => {}
                    Err(e) => tracing::error!("pruning history failed: {e}"),
                }
            }
            c.commit(notices, now)
        });
        match r.await {
            Ok(hooks) => shared.wake_all(&hooks),
            Err(e) => tracing::error!("writing state failed (kept in memory, retried every second): {e}"),
        }
    }
}

async fn health_loop(shared: Arc<Shared>, name: String, mut stop: watch::Receiver<bool>) {
    let Some(hc) = shared.cfg.service(&name).and_then(|s| s.health.clone()) else { return };
    // A fresh connection per check, never a pooled one: a check then proves the service still
    // accepts connections, and a stopped service reads "connection refused", not "reset".
    let client = match reqwest::Client::builder()
        .user_agent(concat!("faultline-collector/", env!("CARGO_PKG_VERSION")))
        .pool_max_idle_per_host(0)
        .build()
    {
        Ok(client) => client,
        Err(e) => {
            tracing::error!(service = %name, "health checks disabled: HTTP client: {e}");
            return;
        }
    };
    let mut every = tokio::time::interval(hc.interval);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        let result = probe::probe(&client, &hc, now_ms()).await;
        if let Some(f) = &result.failure {
            tracing::debug!(service = %name, "health check failed: {f}");
        }
        let n = name.clone();
        let notice = shared.with_core(move |c| c.engine.probe(&n, result)).await;
        if let Some(notice) = notice {
            tracing::warn!(service = %name, "health: {:?}", notice.event);
            shared.commit(vec![notice]).await;
        }
    }
}

/// Runs the collector until SIGTERM or SIGINT.
pub async fn run(cfg: Config) -> Result<(), Error> {
    let listen = cfg.listen;
    let listener = tokio::net::TcpListener::bind(listen).await.map_err(|source| Error::Listen { addr: listen, source })?;
    let shared = open(cfg)?;
    let (stop_tx, stop) = watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    let mut workers = tokio::task::JoinSet::new();
    tasks.spawn(ticker(shared.clone(), stop.clone()));
    for s in &shared.cfg.services {
        if s.health.is_some() {
            tasks.spawn(health_loop(shared.clone(), s.name.clone(), stop.clone()));
        }
    }
    let stranded = shared.with_core(|c| c.store.pending_webhooks(SERVICE_OWNER)).await?;
    for hook in stranded.iter().filter(|h| !shared.cfg.webhooks.contains_key(*h)) {
        tracing::error!(webhook = %hook, "alerts are waiting for webhook {hook:?}, which is no longer configured: add it back to deliver them");
    }
    for name in shared.cfg.webhooks.keys() {
        workers.spawn(delivery::worker(shared.clone(), name.clone(), stop.clone()));
    }
    tasks.spawn(crate::server::serve(listener, shared.clone(), stop.clone()));
    tracing::info!(listen = %listen, state_dir = %shared.cfg.state_dir.display(), "faultline-collector running");
    shutdown_signal().await;
    tracing::info!("shutting down: finishing in-flight deliveries and writing a final snapshot");
    let _ = stop_tx.send(true);
    while tasks.join_next().await.is_some() {}
    let grace = shared.cfg.delivery.timeout + Duration::from_secs(2);
    let _ = tokio::time::timeout(grace, async { while workers.join_next().await.is_some() {} }).await;
    shared.with_core(|c| c.commit(vec![], now_ms())).await?;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
