//! `test-alert`: a clearly marked test message through the real outbox and delivery path,
//! waiting for Discord's answer. Its row is owned by this run, so a running service never
//! sends it too.

use crate::clock::now_ms;
use crate::config::Config;
use crate::decide::engine::Snapshot;
use crate::decide::notice::Event;
use crate::deliver::{Verdict, backoff, body_for, send};
use crate::error::Error;
use crate::state::open;
use std::time::{Duration, Instant};

/// Sends the test alert for `service` (default: the first configured one); `Ok(description)` when
/// Discord accepted it.
pub async fn run(cfg: Config, service: Option<String>) -> Result<String, Error> {
    let service = match service {
        Some(s) if cfg.service(&s).is_none() => {
            return Err(Error::Other(format!("no service {s:?} in {}", cfg.file.display())));
        }
        Some(s) => s,
        None => cfg.services.first().map(|s| s.name.clone()).unwrap_or_else(|| "faultline".into()),
    };
    let shared = open(cfg)?;
    let hook = shared.cfg.webhook_for(&service).to_string();
    let url = shared
        .cfg
        .webhooks
        .get(&hook)
        .map(|w| w.url.clone())
        .ok_or_else(|| Error::Other(format!("no webhook {hook:?}")))?;
    let owner = format!("test:{}", std::process::id());
    let (svc, own) = (service.clone(), owner.clone());
    let hk = hook.clone();
    let id = shared
        .with_core(move |c| {
            let n = c.engine.notice(&svc, Event::Test, now_ms());
            c.store.commit(&Snapshot::default(), &[(hk, n)], &own, now_ms())
        })
        .await?
        .first()
        .copied()
        .ok_or_else(|| Error::Other("outbox insert returned no id".into()))?;
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut attempt = 0;
    let outcome = loop {
        let own = owner.clone();
        let h = hook.clone();
        let Some(row) = shared.with_core(move |c| c.store.next_pending(&h, &own)).await? else {
            break Err("the test row vanished from the outbox".to_string());
        };
        match send(&shared.http, &url, &body_for(&shared, &row), shared.cfg.delivery.timeout).await {
            Verdict::Delivered { message_id, .. } => {
                let mid = message_id.clone();
                shared.with_core(move |c| c.store.finish(id, now_ms(), mid.as_deref(), "delivered_test")).await?;
                break Ok(format!(
                    "test alert #{id} for {service} delivered to webhook {hook:?} (message id {})",
                    message_id.unwrap_or_else(|| "?".into())
                ));
            }
            Verdict::BadRequest(why) if !row.fallback => {
                eprintln!("Discord refused the message ({why}); sending the plain fallback");
                shared.with_core(move |c| c.store.mark_fallback(id)).await?;
            }
            Verdict::UnknownMessage => break Err(format!("webhook {hook:?} answered 404 Unknown Message")),
            Verdict::Broken(why) | Verdict::BadRequest(why) => {
                break Err(format!("webhook {hook:?} refused the test alert: {why}"));
            }
            Verdict::RateLimited(wait) if Instant::now() + wait < deadline => tokio::time::sleep(wait).await,
            Verdict::Transient(why) if Instant::now() < deadline => {
                let wait = backoff(attempt, Duration::from_secs(10));
                attempt += 1;
                eprintln!("delivery failed ({why}); retrying in {wait:?}");
                tokio::time::sleep(wait).await;
            }
            Verdict::RateLimited(_) | Verdict::Transient(_) => {
                break Err(format!("gave up after 60 s: webhook {hook:?} kept failing"));
            }
        }
    };
    if outcome.is_err() {
        shared.with_core(move |c| c.store.discard(id)).await?;
    }
    outcome.map_err(Error::Other)
}
