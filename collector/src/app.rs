//! Wiring: the shared state, the 1 s evaluation timer, health-check loops, delivery
//! workers and the HTTP server, started by `run` and stopped gracefully on SIGTERM/SIGINT.

use crate::config::Config;
use crate::delivery::{self, WebhookStatus};
use crate::engine::Engine;
use crate::health::probe;
use crate::notice::Notice;
use crate::store::{SERVICE_OWNER, Store, StoreError};
use crate::unsaved::{self, LogNow, Unsaved};
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
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Engine and store, changed together under one lock so that a state change and its
/// outbox row are written in one transaction, in order.
pub struct Core {
    pub engine: Engine,
    pub store: Store,
    /// Alerts not yet written (only while writes fail): delivered from memory meanwhile.
    pub unsaved: Unsaved,
    /// Outbox rows Discord accepted whose record failed: never sent again, recorded when possible.
    unrecorded: Vec<(i64, u64, Option<String>, &'static str)>,
}

impl Core {
    /// A core on a restored engine and its store.
    pub fn new(engine: Engine, store: Store) -> Core {
        Core { engine, store, unsaved: Unsaved::default(), unrecorded: Vec::new() }
    }

    /// Queues notices and writes them with the changed state now. Returns the webhooks to wake.
    /// A failed write keeps everything in memory (retried by the next call, every second from the
    /// ticker), is logged loudly, and wakes the webhooks so that the alerts go out from memory.
    pub fn commit(&mut self, notices: Vec<Notice>, now: u64) -> Result<Vec<String>, StoreError> {
        for n in notices {
            let hook = self.engine.config().webhook_for(&n.service).to_string();
            self.unsaved.push(hook, n);
        }
        self.record_unrecorded(now);
        if self.unsaved.sending() {
            // Its outcome decides whether it goes to the outbox or the history: written next time.
            return Ok(vec![]);
        }
        let snap = self.engine.take_snapshot(now);
        let alerts = self.unsaved.to_write();
        if snap.is_empty() && alerts.is_empty() {
            return Ok(vec![]);
        }
        let rows: Vec<(String, Notice)> = alerts.iter().map(|a| (a.webhook.clone(), a.notice.clone())).collect();
        let done: Vec<Option<(u64, Option<String>, &'static str)>> = alerts
            .iter()
            .map(|a| match &a.delivery {
                unsaved::Delivery::Done { sent_ms, message_id, outcome } => {
                    Some((*sent_ms, message_id.clone(), *outcome))
                }
                _ => None,
            })
            .collect();
        let waiting: Vec<String> =
            alerts.iter().filter(|a| a.delivery == unsaved::Delivery::Waiting).map(|a| a.webhook.clone()).collect();
        let fallback: Vec<bool> = alerts.iter().map(|a| a.fallback).collect();
        match self.store.commit(&snap, &rows, SERVICE_OWNER, now) {
            Ok(ids) => {
                self.unsaved.written(rows.len());
                for ((id, d), fb) in ids.iter().zip(done).zip(fallback) {
                    match d {
                        // Sent from memory: straight into the history, never into the queue again.
                        Some((sent_ms, message_id, outcome))
                            if self.store.finish(*id, sent_ms, message_id.as_deref(), outcome).is_err() =>
                        {
                            self.unrecorded.push((*id, sent_ms, message_id, outcome));
                        }
                        Some(_) => {}
                        None if fb => {
                            let _ = self.store.mark_fallback(*id);
                        }
                        None => {}
                    }
                }
                if let LogNow::Recovered { for_ms } = self.unsaved.succeeded(now) {
                    tracing::warn!(
                        "state database writable again after {} s: {} alert(s) and the state kept in memory are saved",
                        for_ms / 1000,
                        rows.len()
                    );
                }
                let mut hooks = waiting;
                hooks.dedup();
                Ok(hooks)
            }
            Err(e) => {
                self.engine.restore_snapshot(snap);
                if let LogNow::Failing { for_ms } = self.unsaved.failed(e.to_string(), now) {
                    tracing::error!(
                        "STATE DATABASE NOT WRITABLE for {} s ({e}): alerting from memory ({} alert(s) not saved); counts and alert state are kept in memory and saved when it is writable again, but lost if the collector stops before then",
                        for_ms / 1000,
                        self.unsaved.len()
                    );
                }
                Ok(self.unsaved.waiting_webhooks())
            }
        }
    }

    /// The next outbox row of `webhook` to send: the oldest one of a configured service, else the oldest
    /// (each service's alerts stay in order; alerts of services nobody listed, e.g. a flood of unknown
    /// names from one proxy, never hold up the pages of the services the team configured). Rows Discord
    /// already accepted but that could not be recorded yet are skipped.
    pub fn next_row(&mut self, webhook: &str) -> Result<Option<crate::store::OutboxRow>, StoreError> {
        let skip: Vec<i64> = self.unrecorded.iter().map(|r| r.0).collect();
        let cfg = self.engine.config();
        let found = {
            let conn = self.store.history().0;
            let mut st = conn.prepare_cached(
                "SELECT id, CASE WHEN json_valid(notice) THEN COALESCE(json_extract(notice, '$.service'), '') ELSE '' END
                 FROM outbox WHERE webhook = ?1 AND owner = ?2 ORDER BY id",
            )?;
            let mut rows = st.query(rusqlite::params![webhook, SERVICE_OWNER])?;
            let (mut oldest, mut chosen) = (None, None);
            while let Some(r) = rows.next()? {
                let id: i64 = r.get(0)?;
                if skip.contains(&id) {
                    continue;
                }
                oldest = oldest.or(Some(id));
                let service: String = r.get(1).unwrap_or_default();
                if cfg.service(&service).is_some() {
                    chosen = Some(id);
                    break;
                }
            }
            drop(rows);
            let Some(id) = chosen.or(oldest) else { return Ok(None) };
            let row = conn.query_row(
                "SELECT notice, fallback, attempts FROM outbox WHERE id = ?1",
                rusqlite::params![id],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? != 0, r.get::<_, i64>(2)?)),
            )?;
            (id, row)
        };
        let (id, row) = found;
        match serde_json::from_str::<Notice>(&row.0) {
            Ok(notice) => Ok(Some(crate::store::OutboxRow {
                id,
                webhook: webhook.to_string(),
                notice,
                fallback: row.1,
                attempts: u32::try_from(row.2).unwrap_or(u32::MAX),
            })),
            // An undecodable row: the store moves it out of the way (it is then the oldest).
            Err(_) => self.store.next_pending(webhook, SERVICE_OWNER),
        }
    }

    /// Discord accepted outbox row `id`: recorded now, or kept to be recorded (and never sent again).
    pub fn delivered(
        &mut self,
        id: i64,
        now: u64,
        message_id: Option<String>,
        outcome: &'static str,
    ) -> Result<(), StoreError> {
        self.store
            .finish(id, now, message_id.as_deref(), outcome)
            .inspect_err(|_| self.unrecorded.push((id, now, message_id, outcome)))
    }

    fn record_unrecorded(&mut self, _now: u64) {
        let mut left = Vec::new();
        for (id, at, mid, outcome) in std::mem::take(&mut self.unrecorded) {
            if self.store.finish(id, at, mid.as_deref(), outcome).is_err() {
                left.push((id, at, mid, outcome));
            }
        }
        self.unrecorded = left;
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
        core: Arc::new(Mutex::new(Core::new(engine, store))),
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
    let listener =
        tokio::net::TcpListener::bind(listen).await.map_err(|source| Error::Listen { addr: listen, source })?;
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
    let unsaved = shared.with_core(|c| c.commit(vec![], now_ms()).map(|_| c.unsaved.len())).await?;
    if unsaved > 0 {
        tracing::error!(
            "stopping with the state database still not writable: {unsaved} alert(s) and the latest counts were never saved"
        );
    }
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
