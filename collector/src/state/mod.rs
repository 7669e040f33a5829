//! The state every task shares: the configuration, the [`Core`] (engine + store) behind one lock,
//! delivery status per webhook, ingest counters, and the wakers of the delivery loops. Below every
//! edge (ingest, deliver, probe, observe), above the store and the pure core: edges reach the engine
//! and the store only through it.

mod core;
pub mod living;
mod stats;
pub mod unsaved;
mod webhooks;

pub use core::Core;
pub use stats::{IngestStats, Reject};
pub use webhooks::WebhookStatus;

use crate::clock::now_ms;
use crate::config::Config;
use crate::decide::engine::Engine;
use crate::decide::notice::Notice;
use crate::error::Error;
use crate::store::Store;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

/// What every task shares.
pub struct Shared {
    pub cfg: Arc<Config>,
    pub core: Arc<Mutex<Core>>,
    pub webhooks: Mutex<BTreeMap<String, WebhookStatus>>,
    wakers: BTreeMap<String, Arc<Notify>>,
    /// Per health-checked service: wakes its check at once (a DOWN seen from the proxy, to confirm).
    probes: BTreeMap<String, Arc<Notify>>,
    pub http: reqwest::Client,
    pub started_ms: u64,
    pub first_start_ms: u64,
    /// Flushes accepted and refused since start, for `/metrics`.
    pub stats: crate::state::IngestStats,
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

    /// The notifier that runs service `name`'s health check at once.
    pub fn probe_waker(&self, name: &str) -> Arc<Notify> {
        self.probes.get(name).cloned().unwrap_or_default()
    }

    /// Runs the health checks of `services` at once.
    pub fn wake_probes(&self, services: &[String]) {
        for s in services {
            if let Some(w) = self.probes.get(s) {
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
    engine.resume_proxies(store.load_proxies()?);
    let (incidents, queues, silences, last_silence) = store.load_desk()?;
    let desk = crate::decide::desk::Desk::restore(incidents, queues, silences, last_silence);
    let reader = Mutex::new(Store::open_read_only(&cfg.state_dir)?);
    let http = reqwest::Client::builder()
        .user_agent(concat!("faultline-collector/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Error::Other(format!("HTTP client: {e}")))?;
    let wakers = cfg.webhooks.keys().map(|k| (k.clone(), Arc::new(Notify::new()))).collect();
    let probes = cfg.services.iter().map(|s| (s.name.clone(), Arc::new(Notify::new()))).collect();
    Ok(Arc::new(Shared {
        core: Arc::new(Mutex::new(Core::new(engine, store, desk))),
        webhooks: Mutex::new(BTreeMap::new()),
        wakers,
        probes,
        http,
        started_ms: now,
        first_start_ms,
        stats: Default::default(),
        reader,
        cfg,
    }))
}
