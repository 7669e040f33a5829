//! Delivery of the outbox to Discord: one loop per webhook, in order, a row removed only
//! when Discord accepted it (2xx). 429 waits what Discord says; 5xx, network errors and
//! timeouts back off with jitter; 400 sends a plain fallback once; 401/403/404 mark the
//! webhook broken (alerts kept, reported on /healthz, retried only every `broken_retry`).
//! Webhook URLs hold a secret token: they are never logged (errors are stripped of them).

pub mod act;
mod discord;
pub mod test_alert;

pub use discord::{Verdict, backoff, judge, send, send_with};

use crate::clock::now_ms;
use crate::message;
use crate::state::Shared;
use crate::state::unsaved::UnsavedAlert;
use crate::store::OutboxRow;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// The row's body: the full message, or the plain fallback after a 400.
pub fn body_for(shared: &Shared, row: &OutboxRow) -> serde_json::Value {
    if row.fallback {
        message::fallback(&row.notice, row.id)
    } else {
        message::render(&row.notice, shared.cfg.service(&row.notice.service), row.id)
    }
}

fn set_status(shared: &Shared, name: &str, state: &'static str, err: Option<String>, delivered: bool) {
    let mut all = shared.webhooks.lock().unwrap_or_else(|p| p.into_inner());
    let s = all.entry(name.to_string()).or_default();
    if s.state != state {
        s.since_ms = now_ms();
    }
    s.state = state;
    if delivered {
        s.delivered += 1;
    } else if err.is_some() {
        s.failed += 1;
    }
    if err.is_some() || state == "ok" {
        s.last_error = err;
    }
}

fn count_failure(shared: &Shared, name: &str) {
    let mut all = shared.webhooks.lock().unwrap_or_else(|p| p.into_inner());
    all.entry(name.to_string()).or_default().failed += 1;
}

async fn pause(d: Duration, stop: &mut watch::Receiver<bool>) {
    tokio::select! {
        _ = tokio::time::sleep(d) => {}
        _ = stop.wait_for(|s| *s) => {}
    }
}

/// What a delivery loop is sending: an outbox row, or an alert held in memory while the state
/// database cannot be written (see [`crate::state::unsaved`]).
enum Job {
    Saved(OutboxRow),
    Unsaved(UnsavedAlert),
}

/// The next job of webhook `name`: its oldest outbox row, else its oldest alert held in memory.
async fn next_job(shared: &Shared, name: &str) -> Option<Job> {
    let n = name.to_string();
    let row = shared.with_core(move |c| c.next_row(&n)).await;
    match row {
        Ok(Some(row)) => return Some(Job::Saved(row)),
        Ok(None) => {}
        Err(e) => tracing::error!(webhook = %name, "reading the outbox failed: {e}"),
    }
    let n = name.to_string();
    shared.with_core(move |c| c.unsaved.take_next(&n)).await.map(Job::Unsaved)
}

/// Delivers `name`'s outbox rows (and alerts held in memory) until `stop`.
pub async fn worker(shared: Arc<Shared>, name: String, mut stop: watch::Receiver<bool>) {
    let wake = shared.wake(&name);
    let mut attempt = 0u32;
    let Some(url) = shared.cfg.webhooks.get(&name).map(|w| w.url.clone()) else { return };
    set_status(&shared, &name, "ok", None, false);
    while !*stop.borrow() {
        let Some(job) = next_job(&shared, &name).await else {
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(5)) => {}
                _ = stop.wait_for(|s| *s) => {}
            }
            continue;
        };
        let (notice, fallback, id, key) = match &job {
            Job::Saved(row) => (&row.notice, row.fallback, row.id, None),
            Job::Unsaved(a) => (&a.notice, a.fallback, 0, Some(a.key)),
        };
        let service = notice.service.clone();
        let plan = act::plan(&shared, &name, &url, notice, id, fallback).await;
        let verdict =
            send_with(&shared.http, plan.method.clone(), &plan.url, &plan.body, shared.cfg.delivery.timeout).await;
        // A memory alert not delivered this time waits again (with the fallback next after a 400).
        let release = |fallback_next: bool| {
            let shared = shared.clone();
            async move {
                if let Some(k) = key {
                    shared.with_core(move |c| c.unsaved.retry(k, fallback_next)).await;
                }
            }
        };
        match verdict {
            Verdict::Delivered { message_id, pause: wait } => {
                attempt = 0;
                // The webhook is healthy from Discord's answer on, before the row is removed:
                // /healthz never shows an empty outbox beside a stale "retrying".
                set_status(&shared, &name, "ok", None, true);
                act::delivered(&shared, &name, &plan, message_id.clone(), id).await;
                let outcome = if plan.is_living() {
                    "edited"
                } else if fallback {
                    "delivered_fallback"
                } else {
                    "delivered"
                };
                let r = match key {
                    Some(k) => {
                        shared.with_core(move |c| c.unsaved.done(k, now_ms(), message_id, outcome)).await;
                        Ok(())
                    }
                    // An edit is no alert of its own: it leaves no delivery record.
                    None if plan.is_living() => shared.with_core(move |c| c.store.discard(id)).await,
                    None => shared.with_core(move |c| c.delivered(id, now_ms(), message_id, outcome)).await,
                };
                if let Err(e) = r {
                    tracing::error!(
                        webhook = %name,
                        alert = id,
                        "alert delivered but not recorded yet (kept in memory, never sent again): {e}"
                    );
                }
                tracing::info!(webhook = %name, alert = id, service = %service, "alert delivered");
                if let Some(w) = wait {
                    pause(w, &mut stop).await;
                }
            }
            Verdict::RateLimited(wait) => {
                release(false).await;
                tracing::warn!(webhook = %name, alert = id, "Discord rate limit: waiting {wait:?}");
                set_status(&shared, &name, "rate_limited", Some(format!("429: waiting {wait:?}")), false);
                pause(wait, &mut stop).await;
            }
            Verdict::UnknownMessage => {
                act::lost(&shared, &plan).await;
                release(false).await;
                pause(act::LOST_PAUSE, &mut stop).await;
            }
            Verdict::BadRequest(why) if plan.is_living() => {
                tracing::warn!(webhook = %name, service = %service, "Discord refused a living message's edit ({why}): skipped");
                count_failure(&shared, &name);
                match key {
                    Some(k) => shared.with_core(move |c| c.unsaved.done(k, now_ms(), None, "refused")).await,
                    None => {
                        let _ = shared.with_core(move |c| c.store.discard(id)).await;
                    }
                }
            }
            Verdict::BadRequest(why) if !fallback => {
                tracing::warn!(
                    webhook = %name,
                    alert = id,
                    "Discord refused the message ({why}): sending the plain fallback"
                );
                count_failure(&shared, &name);
                match key {
                    Some(_) => release(true).await,
                    None => {
                        let _ = shared.with_core(move |c| c.store.mark_fallback(id)).await;
                    }
                }
            }
            Verdict::BadRequest(why) => {
                tracing::error!(
                    webhook = %name,
                    alert = id,
                    "Discord refused the fallback too ({why}): alert dropped, kept in history"
                );
                count_failure(&shared, &name);
                match key {
                    Some(k) => shared.with_core(move |c| c.unsaved.done(k, now_ms(), None, "refused")).await,
                    None => {
                        let _ = shared.with_core(move |c| c.delivered(id, now_ms(), None, "refused")).await;
                    }
                }
            }
            Verdict::Broken(why) => {
                release(false).await;
                let pending =
                    shared.with_core(|c| c.store.depth()).await.ok().and_then(|d| d.get(&name).copied()).unwrap_or(0);
                tracing::error!(
                    webhook = %name,
                    "WEBHOOK BROKEN: Discord answered {why}; {pending} alert(s) kept in the outbox. \
                     Fix webhooks.{name} in the config and restart; next try in {:?}",
                    shared.cfg.delivery.broken_retry
                );
                set_status(&shared, &name, "broken", Some(why), false);
                pause(shared.cfg.delivery.broken_retry, &mut stop).await;
            }
            Verdict::Transient(why) => {
                release(false).await;
                let wait = backoff(attempt, shared.cfg.delivery.max_backoff);
                attempt = attempt.saturating_add(1);
                tracing::warn!(webhook = %name, alert = id, "delivery failed ({why}): retrying in {wait:?}");
                if key.is_none() {
                    let _ = shared.with_core(move |c| c.store.bump_attempts(id)).await;
                }
                set_status(&shared, &name, "retrying", Some(why), false);
                pause(wait, &mut stop).await;
            }
        }
    }
}
