//! The desk's rows on Discord. A notifying post gets the jump links of its incidents' living messages (the
//! webhook's guild and channel fetched once with `GET /webhooks/{id}/{token}`, or the webhook URL's thread) and
//! records the living messages it creates; an edit PATCHes its incident's living message, or — when there is
//! none, or Discord lost it (404, code 10008) — posts a new one that notifies nobody and becomes the living one.
//! Everything else is sent as before.

use crate::clock::now_ms;
use crate::decide::notice::{Event, Notice};
use crate::message::{self, living};
use crate::state::Shared;
use crate::store::act::{LivingRecord, WebhookInfo};
use serde_json::Value;
use std::time::Duration;

/// What the row is, for what to record once Discord accepted it.
#[derive(Debug, Clone)]
pub enum Kind {
    /// A message of its own (proxy notices, tests, older rows).
    Plain,
    /// A notifying post: `(service, opened_ms, embed index)` of the incidents whose living message it becomes.
    Post { opened: Vec<(String, u64, usize)> },
    /// A living message: edited in place (`message_id`), or posted anew (`None`).
    Living { service: String, opened_ms: u64, message_id: Option<String>, index: usize, alert: i64, mentions: Value },
}

/// One request to make for a row.
#[derive(Debug, Clone)]
pub struct Plan {
    pub method: reqwest::Method,
    pub url: String,
    pub body: Value,
    pub kind: Kind,
}

impl Plan {
    /// Whether it edits or posts a living message (not an alert of its own: no delivery record).
    pub fn is_living(&self) -> bool {
        matches!(self.kind, Kind::Living { .. })
    }
}

/// The webhook URL's `thread_id`, if it posts into a thread.
fn thread_of(url: &str) -> Option<String> {
    let u = reqwest::Url::parse(url).ok()?;
    u.query_pairs().find(|(k, _)| k == "thread_id").map(|(_, v)| v.into_owned())
}

/// `…/webhooks/ID/TOKEN/messages/MESSAGE[?thread_id=…]`.
fn edit_url(url: &str, message_id: &str) -> String {
    let Ok(mut u) = reqwest::Url::parse(url) else { return url.to_string() };
    let thread = thread_of(url);
    let path = format!("{}/messages/{message_id}", u.path().trim_end_matches('/'));
    u.set_path(&path);
    u.set_query(thread.map(|t| format!("thread_id={t}")).as_deref());
    u.to_string()
}

/// `GET /webhooks/{id}/{token}`: the webhook's guild and channel. Errors never carry the URL.
async fn fetch_info(shared: &Shared, url: &str) -> Result<WebhookInfo, String> {
    let mut u = reqwest::Url::parse(url).map_err(|_| "bad webhook URL".to_string())?;
    u.set_query(None);
    let resp = shared
        .http
        .get(u)
        .timeout(shared.cfg.delivery.timeout)
        .send()
        .await
        .map_err(|e| e.without_url().to_string())?;
    let status = resp.status().as_u16();
    let v: Value = resp.json().await.map_err(|e| e.without_url().to_string())?;
    let field = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    match (status, field("guild_id"), field("channel_id")) {
        (200..=299, Some(guild_id), Some(channel_id)) => Ok(WebhookInfo { guild_id, channel_id }),
        (s, _, _) => Err(format!("GET webhook answered {s} without guild_id and channel_id")),
    }
}

/// The webhook's guild and channel: cached, else fetched (at most once a minute after a failure).
async fn info(shared: &Shared, webhook: &str, url: &str) -> Option<WebhookInfo> {
    let hook = webhook.to_string();
    let (known, failed) =
        shared.with_core(move |c| (c.living.info(&c.store, &hook), c.living.info_failed_ms.get(&hook).copied())).await;
    if known.is_some() {
        return known;
    }
    if failed.is_some_and(|f| now_ms().saturating_sub(f) < 60_000) {
        return None;
    }
    let hook = webhook.to_string();
    match fetch_info(shared, url).await {
        Ok(i) => {
            let got = i.clone();
            shared.with_core(move |c| c.living.set_info(&mut c.store, &hook, got)).await;
            Some(i)
        }
        Err(e) => {
            tracing::warn!(webhook = %webhook, "the webhook's channel is unknown (jump links left out): {e}");
            shared.with_core(move |c| c.living.info_failed_ms.insert(hook, now_ms())).await;
            None
        }
    }
}

/// The request for row `id` (0: held in memory) of `webhook` at `url`; `fallback` after a 400.
pub async fn plan(shared: &Shared, webhook: &str, url: &str, n: &Notice, id: i64, fallback: bool) -> Plan {
    let post = |body: Value, kind: Kind| Plan { method: reqwest::Method::POST, url: url.to_string(), body, kind };
    match &n.event {
        Event::Post(p) => {
            let keys: Vec<(String, u64)> =
                p.items.iter().map(|i| (i.notice.service.clone(), i.living.opened_ms)).collect();
            let recs = shared
                .with_core(move |c| {
                    keys.into_iter().map(|k| (c.living.record(&c.store, &k.0, k.1), k)).collect::<Vec<_>>()
                })
                .await;
            let info = if recs.iter().any(|(r, _)| r.is_some()) { info(shared, webhook, url).await } else { None };
            let thread = thread_of(url);
            let mut links = living::Links::new();
            for (rec, key) in recs {
                if let Some(r) = rec {
                    let link = info.as_ref().map(|i| {
                        living::jump_link(&i.guild_id, thread.as_deref().unwrap_or(&i.channel_id), &r.message_id)
                    });
                    links.insert(key, link);
                }
            }
            let (body, opened) = living::post_body(p, |s| shared.cfg.service(s), &links, id);
            let opened: Vec<(String, u64, usize)> = p
                .items
                .iter()
                .zip(opened)
                .filter_map(|(i, o)| o.map(|x| (i.notice.service.clone(), i.living.opened_ms, x)))
                .collect();
            let body = if fallback { message::fallback(n, id) } else { body };
            post(body, Kind::Post { opened })
        }
        Event::Living(l) => {
            let (service, opened_ms) = (n.service.clone(), l.opened_ms);
            let svc = shared.cfg.service(&service);
            let s = service.clone();
            let (rec, stored) = shared
                .with_core(move |c| {
                    let rec = c.living.record(&c.store, &s, opened_ms);
                    let stored = rec.as_ref().and_then(|r| c.living.body(&c.store, &r.message_id));
                    (rec, stored)
                })
                .await;
            match rec {
                Some(r) => {
                    let body = living::edit_body(stored.as_ref(), r.index, n, l, svc, r.alert_id);
                    let mentions = stored
                        .as_ref()
                        .and_then(|b| b.get("allowed_mentions").cloned())
                        .unwrap_or_else(|| serde_json::json!({"parse": []}));
                    Plan {
                        method: reqwest::Method::PATCH,
                        url: edit_url(url, &r.message_id),
                        body,
                        kind: Kind::Living {
                            service,
                            opened_ms,
                            message_id: Some(r.message_id),
                            index: r.index,
                            alert: r.alert_id,
                            mentions,
                        },
                    }
                }
                None => {
                    let body = living::living_body(n, l, svc, 0);
                    let mentions = serde_json::json!({"parse": []});
                    post(body, Kind::Living { service, opened_ms, message_id: None, index: 0, alert: 0, mentions })
                }
            }
        }
        _ => {
            let body = if fallback {
                message::fallback(n, id)
            } else {
                message::render(n, shared.cfg.service(&n.service), id)
            };
            post(body, Kind::Plain)
        }
    }
}

/// Discord accepted `plan` (the created message's id with `?wait=true`): records the living messages it
/// made or changed.
pub async fn delivered(shared: &Shared, webhook: &str, plan: &Plan, message_id: Option<String>, id: i64) {
    let (hook, body) = (webhook.to_string(), plan.body.clone());
    let kind = plan.kind.clone();
    shared
        .with_core(move |c| match kind {
            Kind::Plain => {}
            Kind::Post { opened } => {
                let Some(mid) = message_id else { return };
                for (service, opened_ms, index) in opened {
                    let rec = LivingRecord { webhook: hook.clone(), message_id: mid.clone(), index, alert_id: id };
                    c.living.set_record(&mut c.store, &service, opened_ms, Some(rec));
                }
                c.living.set_body(&mut c.store, &mid, &hook, body);
            }
            Kind::Living { service, opened_ms, message_id: edited, index, alert, mentions } => {
                // The body kept for the next edit: as sent, with the owners it named.
                let mut kept = body;
                if let Some(o) = kept.as_object_mut() {
                    o.insert("allowed_mentions".into(), mentions);
                }
                match (edited, message_id) {
                    (Some(mid), _) => c.living.set_body(&mut c.store, &mid, &hook, kept),
                    (None, Some(mid)) => {
                        let rec =
                            LivingRecord { webhook: hook.clone(), message_id: mid.clone(), index, alert_id: alert };
                        c.living.set_record(&mut c.store, &service, opened_ms, Some(rec));
                        c.living.set_body(&mut c.store, &mid, &hook, kept);
                    }
                    (None, None) => {}
                }
            }
        })
        .await;
}

/// Discord no longer has the living message `plan` edited (deleted in the channel): forgotten, so that the
/// next try posts a new one.
pub async fn lost(shared: &Shared, plan: &Plan) {
    if let Kind::Living { service, opened_ms, message_id: Some(mid), .. } = plan.kind.clone() {
        tracing::warn!(service = %service, "the living message {mid} is gone from Discord: posting a new one");
        shared.with_core(move |c| c.living.set_record(&mut c.store, &service, opened_ms, None)).await;
    }
}

/// A short pause after a lost message, so that a channel deleting every message is not hammered.
pub const LOST_PAUSE: Duration = Duration::from_millis(200);
