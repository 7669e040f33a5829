//! Delivery of the outbox to Discord: one loop per webhook, in order, a row removed only
//! when Discord accepted it (2xx). 429 waits what Discord says; 5xx, network errors and
//! timeouts back off with jitter; 400 sends a plain fallback once; 401/403/404 mark the
//! webhook broken (alerts kept, reported on /healthz, retried only every `broken_retry`).
//! Webhook URLs hold a secret token: they are never logged (errors are stripped of them).

use crate::app::{Shared, now_ms};
use crate::message;
use crate::store::OutboxRow;
use crate::unsaved::UnsavedAlert;
use serde::Serialize;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// What Discord's answer means for the row.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Accepted; `pause` when the bucket is empty (`X-RateLimit-Remaining: 0`).
    Delivered {
        message_id: Option<String>,
        pause: Option<Duration>,
    },
    RateLimited(Duration),
    BadRequest(String),
    Broken(String),
    Transient(String),
}

fn secs(v: f64) -> Duration {
    Duration::from_secs_f64(if v.is_finite() { v.clamp(0.05, 900.0) } else { 1.0 })
}

/// Judges an answer from its status, the rate-limit headers (`remaining`, `reset_after`,
/// `retry_after`) and its body.
pub fn judge(
    status: u16,
    remaining: Option<u64>,
    reset_after: Option<f64>,
    retry_after: Option<f64>,
    body: &str,
) -> Verdict {
    let json: serde_json::Value = serde_json::from_str(body).unwrap_or(serde_json::Value::Null);
    let said = || {
        let msg = json.get("message").and_then(|m| m.as_str()).unwrap_or("");
        let code = json.get("code").map(|c| format!(" (code {c})")).unwrap_or_default();
        message::cut(&format!("{status} {msg}{code}"), 300)
    };
    match status {
        200..=299 => Verdict::Delivered {
            message_id: json.get("id").and_then(|v| v.as_str()).map(str::to_string),
            pause: (remaining == Some(0)).then(|| secs(reset_after.unwrap_or(1.0))),
        },
        429 => Verdict::RateLimited(secs(
            json.get("retry_after").and_then(|v| v.as_f64()).or(reset_after).or(retry_after).unwrap_or(1.0),
        )),
        400 => Verdict::BadRequest(said()),
        401 | 403 | 404 => Verdict::Broken(said()),
        _ => Verdict::Transient(said()),
    }
}

/// Exponential backoff from 1 s, capped, with jitter (50–100% of the step).
pub fn backoff(attempt: u32, cap: Duration) -> Duration {
    let step = Duration::from_secs(1).saturating_mul(1u32 << attempt.min(16)).min(cap);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(attempt);
    let jitter = 0.5 + (h.finish() % 1000) as f64 / 2000.0;
    step.mul_f64(jitter)
}

/// An error and its sources on one line (the URL already stripped by the caller).
fn chain(e: reqwest::Error) -> String {
    let timeout = e.is_timeout();
    let mut parts = vec![e.to_string()];
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        parts.push(s.to_string());
        src = s.source();
    }
    parts.dedup();
    let text = parts.join(": ");
    if timeout { format!("timeout: {text}") } else { text }
}

/// POSTs one message and judges the answer. Errors never carry the URL.
pub async fn send(client: &reqwest::Client, url: &str, body: &serde_json::Value, timeout: Duration) -> Verdict {
    let resp = match client.post(url).timeout(timeout).json(body).send().await {
        Ok(r) => r,
        Err(e) => return Verdict::Transient(chain(e.without_url())),
    };
    let h = resp.headers();
    let num = |k: &str| h.get(k).and_then(|v| v.to_str().ok()).and_then(|s| s.trim().parse::<f64>().ok());
    let remaining = num("x-ratelimit-remaining").map(|v| v as u64);
    let (reset_after, retry_after) = (num("x-ratelimit-reset-after"), num("retry-after"));
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    judge(status, remaining, reset_after, retry_after, &text)
}

/// How one webhook's deliveries are going, for /healthz.
#[derive(Debug, Clone, Default, Serialize)]
pub struct WebhookStatus {
    /// "ok", "retrying", "rate_limited" or "broken".
    pub state: &'static str,
    pub last_error: Option<String>,
    pub since_ms: u64,
    pub delivered: u64,
    /// Attempts that Discord refused or that failed (429, 4xx, 5xx, network), since start.
    pub failed: u64,
}

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
/// database cannot be written (see [`crate::unsaved`]).
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
        let (body, fallback, id, service, key) = match &job {
            Job::Saved(row) => (body_for(&shared, row), row.fallback, row.id, row.notice.service.clone(), None),
            Job::Unsaved(a) => {
                let body = if a.fallback {
                    message::fallback(&a.notice, 0)
                } else {
                    message::render(&a.notice, shared.cfg.service(&a.notice.service), 0)
                };
                (body, a.fallback, 0, a.notice.service.clone(), Some(a.key))
            }
        };
        let verdict = send(&shared.http, &url, &body, shared.cfg.delivery.timeout).await;
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
                let outcome = if fallback { "delivered_fallback" } else { "delivered" };
                let r = match key {
                    Some(k) => {
                        shared.with_core(move |c| c.unsaved.done(k, now_ms(), message_id, outcome)).await;
                        Ok(())
                    }
                    None => shared.with_core(move |c| c.delivered(id, now_ms(), message_id, outcome)).await,
                };
                if let Err(e) = r {
                    tracing::error!(webhook = %name, alert = id, "alert delivered but not recorded yet (kept in memory, never sent again): {e}");
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
            Verdict::BadRequest(why) if !fallback => {
                tracing::warn!(webhook = %name, alert = id, "Discord refused the message ({why}): sending the plain fallback");
                count_failure(&shared, &name);
                match key {
                    Some(_) => release(true).await,
                    None => {
                        let _ = shared.with_core(move |c| c.store.mark_fallback(id)).await;
                    }
                }
            }
            Verdict::BadRequest(why) => {
                tracing::error!(webhook = %name, alert = id, "Discord refused the fallback too ({why}): alert dropped, kept in history");
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
                    "WEBHOOK BROKEN: Discord answered {why}; {pending} alert(s) kept in the outbox. Fix webhooks.{name} in the config and restart; next try in {:?}",
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_judged() {
        assert_eq!(
            judge(200, Some(3), Some(1.0), None, r#"{"id":"42"}"#),
            Verdict::Delivered { message_id: Some("42".into()), pause: None }
        );
        assert_eq!(
            judge(204, Some(0), Some(1.5), None, ""),
            Verdict::Delivered { message_id: None, pause: Some(Duration::from_millis(1500)) }
        );
        assert_eq!(
            judge(429, Some(0), Some(9.0), Some(9.0), r#"{"retry_after":0.25,"global":false}"#),
            Verdict::RateLimited(Duration::from_millis(250))
        );
        assert_eq!(judge(429, None, Some(2.0), None, "{}"), Verdict::RateLimited(Duration::from_secs(2)));
        assert_eq!(judge(429, None, None, Some(3.0), "nonsense"), Verdict::RateLimited(Duration::from_secs(3)));
        assert!(
            matches!(judge(400, None, None, None, r#"{"message":"Invalid Form Body","code":50035}"#), Verdict::BadRequest(m) if m.contains("50035"))
        );
        assert!(
            matches!(judge(404, None, None, None, r#"{"message":"Unknown Webhook","code":10015}"#), Verdict::Broken(m) if m.contains("Unknown Webhook"))
        );
        assert!(matches!(judge(401, None, None, None, ""), Verdict::Broken(_)));
        assert!(matches!(judge(502, None, None, None, "<html>"), Verdict::Transient(_)));
        assert_eq!(
            judge(429, None, None, None, r#"{"retry_after":1e9}"#),
            Verdict::RateLimited(Duration::from_secs(900)),
            "capped"
        );
    }

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        let cap = Duration::from_secs(60);
        for a in 0..20 {
            let b = backoff(a, cap);
            let step = Duration::from_secs(1 << a.min(16)).min(cap);
            assert!(b >= step / 2 && b <= step, "attempt {a}: {b:?}");
        }
    }
}
