//! Wiring: the 1 s evaluation timer, health-check loops, delivery workers and the HTTP server,
//! started by [`run`] on the shared state and stopped gracefully on SIGTERM/SIGINT. Nothing but the
//! binary imports this module.

mod http;

use crate::clock::now_ms;
use crate::config::Config;
use crate::deliver;
use crate::error::Error;
use crate::probe;
use crate::state::{Shared, open};
use crate::store::SERVICE_OWNER;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

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
            if now.saturating_sub(last_prune_ms) >= 60_000 {
                last_prune_ms = now;
                let before = now.saturating_sub(u64::try_from(history.retention.as_millis()).unwrap_or(u64::MAX));
                match c.store.prune_history(before, history.max_rows) {
                    Ok(n) if n > 0 => tracing::debug!("history: pruned {n} rows"),
                    Ok(_) => {}
                    Err(e) => tracing::error!("pruning history failed: {e}"),
                }
            }
            (c.tick(now), c.engine.take_probe_requests())
        });
        let (r, probes) = r.await;
        shared.wake_probes(&probes);
        match r {
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
    let now_please = shared.probe_waker(&name);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            // A DOWN seen from the proxy: confirm it now, then keep the usual schedule.
            _ = now_please.notified() => every.reset(),
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
        tracing::error!(
            webhook = %hook,
            "alerts are waiting for webhook {hook:?}, which is no longer configured: add it back to deliver them"
        );
    }
    for name in shared.cfg.webhooks.keys() {
        workers.spawn(deliver::worker(shared.clone(), name.clone(), stop.clone()));
    }
    tasks.spawn(http::serve(listener, shared.clone(), stop.clone()));
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
            "stopping with the state database still not writable: {unsaved} alert(s) \
             and the latest counts were never saved"
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
