//! A local server speaking Discord's webhook API (v10): the stand-in for Discord in every test and in
//! the demo. It enforces Discord's documented body limits ([`validate`]) and its per-webhook rate limit
//! ([`ratelimit`]), and plays scripted failures ([`Reply`]) so a client's retry logic can be tested.
//! Runs on its own thread and tokio runtime, bound to 127.0.0.1; stopped when dropped.

pub mod messages;
pub mod ratelimit;
pub mod render;
pub mod validate;

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http_body_util::{BodyExt, Limited};
use hyper::Method;
use hyper::body::Incoming;
use serde_json::{Value, json};

use crate::serve::{self, ServerThread, json_reply};
use ratelimit::{Bucket, Decision, RateLimit};

/// Largest request body read (Discord's own limit for JSON bodies is far above any alert).
const MAX_BODY: usize = 8 << 20;
/// Discord's epoch for snowflakes (2015-01-01T00:00:00Z) in Unix milliseconds.
const DISCORD_EPOCH_MS: u128 = 1_420_070_400_000;

/// A scripted answer; a webhook's scripted answers are consumed in order before default behaviour.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// 429 with Discord's JSON body, `Retry-After` and `X-RateLimit-*` headers.
    RateLimited { retry_after: f64, global: bool },
    /// This status (e.g. 500, 502) with a JSON error body.
    Status(u16),
    /// 404 `{"message":"Unknown Webhook","code":10015}`.
    UnknownWebhook,
    /// 401 `{"message":"Invalid Webhook Token","code":50027}`.
    InvalidToken,
    /// Answer normally after the delay.
    Slow(Duration),
    /// Accept the request and never answer (the client must time out).
    Hang,
}

/// One request the server received, accepted or not.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// When it arrived.
    pub at: Instant,
    /// The webhook id from the path (0 when the path names none).
    pub webhook_id: u64,
    /// The status answered (0 for a [`Reply::Hang`] that was never answered).
    pub status: u16,
    /// The JSON body (a string holding the raw text when it was not JSON; null when empty).
    pub body: Value,
    /// The query string, without `?`.
    pub query: String,
    /// HTTP method.
    pub method: String,
    /// Request path.
    pub path: String,
}

/// Settings of a [`FakeDiscord`].
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Where to listen (127.0.0.1:0 by default).
    pub bind: SocketAddr,
    /// The per-webhook rate limit (Discord's observed 5 per 2 s by default).
    pub rate_limit: RateLimit,
}

impl Default for Options {
    fn default() -> Self {
        Options { bind: SocketAddr::from(([127, 0, 0, 1], 0)), rate_limit: RateLimit::default() }
    }
}

#[derive(Default)]
struct State {
    scripts: HashMap<u64, VecDeque<Reply>>,
    deleted: HashSet<u64>,
    messages: Vec<(u64, Value)>,
    requests: Vec<Request>,
    buckets: HashMap<u64, Bucket>,
    sequence: u64,
    subscribers: Vec<mpsc::Sender<(u64, Value)>>,
    stored: Vec<messages::Stored>,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    rule: RateLimit,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The Discord-compatible server. Synchronous API for tests.
pub struct FakeDiscord {
    shared: Arc<Shared>,
    server: ServerThread,
}

impl FakeDiscord {
    /// Starts a server on 127.0.0.1 with an OS-chosen port and Discord's default limits.
    pub fn start() -> Result<FakeDiscord, String> {
        Self::start_with(Options::default())
    }

    /// Starts a server with explicit settings.
    pub fn start_with(options: Options) -> Result<FakeDiscord, String> {
        let shared =
            Arc::new(Shared { state: Mutex::new(State::default()), changed: Condvar::new(), rule: options.rate_limit });
        let for_server = Arc::clone(&shared);
        let server =
            ServerThread::start("fake-discord", options.bind, 0, move |req| handle(Arc::clone(&for_server), req))?;
        Ok(FakeDiscord { shared, server })
    }

    /// `http://127.0.0.1:PORT`
    pub fn base_url(&self) -> String {
        format!("http://{}", self.server.addr())
    }

    /// Every message webhook `id` created (deleted ones too), with its versions, in creation order.
    pub fn stored(&self, id: u64) -> Vec<messages::Stored> {
        self.shared.lock().stored.iter().filter(|m| m.webhook_id == id).cloned().collect()
    }

    /// The versions of message `message_id` (as posted, then after each edit); empty when unknown.
    pub fn versions(&self, message_id: &str) -> Vec<Value> {
        self.shared.lock().stored.iter().find(|m| m.id == message_id).map(|m| m.versions.clone()).unwrap_or_default()
    }

    /// Message `message_id` as it reads now.
    pub fn current(&self, message_id: &str) -> Option<Value> {
        self.shared.lock().stored.iter().find(|m| m.id == message_id && !m.deleted).map(|m| m.current().clone())
    }

    /// Deletes message `message_id`, as a user in the channel would: its edits get 404 (code 10008).
    pub fn delete_message(&self, message_id: &str) -> bool {
        let mut state = self.shared.lock();
        let found = state.stored.iter_mut().find(|m| m.id == message_id && !m.deleted);
        found.map(|m| m.deleted = true).is_some()
    }

    /// Waits until `pred` holds for webhook `id`'s stored messages; returns them. `pred` runs under the
    /// server's lock: it must not call the server.
    pub fn wait_for_stored(
        &self,
        id: u64,
        timeout: Duration,
        pred: impl Fn(&[messages::Stored]) -> bool,
    ) -> Result<Vec<messages::Stored>, String> {
        let deadline = Instant::now() + timeout;
        let mut state = self.shared.lock();
        loop {
            let got: Vec<messages::Stored> = state.stored.iter().filter(|m| m.webhook_id == id).cloned().collect();
            if pred(&got) {
                return Ok(got);
            }
            let now = Instant::now();
            if now >= deadline {
                let titles: Vec<String> = got
                    .iter()
                    .map(|m| m.current().pointer("/embeds/0/title").and_then(Value::as_str).unwrap_or("").to_string())
                    .collect();
                return Err(format!("webhook {id}: condition not met within {timeout:?}; messages now: {titles:?}"));
            }
            state = match self.shared.changed.wait_timeout(state, deadline - now) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }

    /// `{base}/api/v10/webhooks/{id}/{token}`
    pub fn webhook_url(&self, id: u64, token: &str) -> String {
        format!("{}/api/v10/webhooks/{id}/{token}", self.base_url())
    }

    /// Queues scripted answers for webhook `id`.
    pub fn push_replies(&self, id: u64, replies: impl IntoIterator<Item = Reply>) {
        self.shared.lock().scripts.entry(id).or_default().extend(replies);
    }

    /// From now on every request to webhook `id` gets 404 with code 10015.
    pub fn delete_webhook(&self, id: u64) {
        self.shared.lock().deleted.insert(id);
    }

    /// Accepted message bodies of webhook `id`, in arrival order.
    pub fn messages(&self, id: u64) -> Vec<Value> {
        self.shared.lock().messages.iter().filter(|(w, _)| *w == id).map(|(_, m)| m.clone()).collect()
    }

    /// Every accepted message with its webhook id, in arrival order.
    pub fn all_messages(&self) -> Vec<(u64, Value)> {
        self.shared.lock().messages.clone()
    }

    /// Every request received, accepted or not, in the order they were answered.
    pub fn requests(&self) -> Vec<Request> {
        self.shared.lock().requests.clone()
    }

    /// A channel that receives every accepted message as it arrives (for the sink's live output).
    pub fn subscribe(&self) -> mpsc::Receiver<(u64, Value)> {
        let (tx, rx) = mpsc::channel();
        self.shared.lock().subscribers.push(tx);
        rx
    }

    /// Waits until webhook `id` has at least `n` accepted messages; returns all of them.
    pub fn wait_for_messages(&self, id: u64, n: usize, timeout: Duration) -> Result<Vec<Value>, String> {
        let deadline = Instant::now() + timeout;
        let mut state = self.shared.lock();
        loop {
            let got: Vec<Value> = state.messages.iter().filter(|(w, _)| *w == id).map(|(_, m)| m.clone()).collect();
            if got.len() >= n {
                return Ok(got);
            }
            let now = Instant::now();
            if now >= deadline {
                let statuses: Vec<u16> =
                    state.requests.iter().filter(|r| r.webhook_id == id).map(|r| r.status).collect();
                return Err(format!(
                    "webhook {id}: wanted {n} messages within {timeout:?}, got {}: {got:?} \
                     (answer statuses: {statuses:?})",
                    got.len()
                ));
            }
            state = match self.shared.changed.wait_timeout(state, deadline - now) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }
}

/// Where a request is going.
#[derive(Debug, PartialEq)]
enum Route {
    /// `/api/v10/webhooks/{id}/{token}`
    Webhook(u64),
    /// `/api/v10/webhooks/{id}/{token}/messages/{message_id}`
    Message(u64, String),
    /// Any other path; the webhook id if one can be read (e.g. an unversioned path).
    Other(u64),
}

fn route(path: &str) -> Route {
    let parts: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    match parts.as_slice() {
        ["", "api", "v10", "webhooks", id, token] if !token.is_empty() => match id.parse() {
            Ok(id) => Route::Webhook(id),
            Err(_) => Route::Other(0),
        },
        ["", "api", "v10", "webhooks", id, token, "messages", mid] if !token.is_empty() && !mid.is_empty() => {
            match id.parse() {
                Ok(id) => Route::Message(id, (*mid).to_string()),
                Err(_) => Route::Other(0),
            }
        }
        [.., "webhooks", id, _] => Route::Other(id.parse().unwrap_or(0)),
        _ => Route::Other(0),
    }
}

async fn handle(shared: Arc<Shared>, req: hyper::Request<Incoming>) -> serve::Reply {
    let at = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let is_json = req
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("application/json"));
    let raw = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            let mut rec =
                Request { at, webhook_id: 0, status: 413, body: Value::Null, query, method: method.to_string(), path };
            rec.webhook_id = match route(&rec.path) {
                Route::Webhook(id) | Route::Message(id, _) | Route::Other(id) => id,
            };
            shared.lock().requests.push(rec);
            return json_reply(413, &json!({"message": "Request entity too large", "code": 40005}), &[]);
        }
    };
    let body = if raw.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&raw).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&raw).into_owned()))
    };
    let (id, message) = match route(&path) {
        Route::Webhook(id) => (id, None),
        Route::Message(id, m) => (id, Some(m)),
        Route::Other(id) => {
            let rec = Request { at, webhook_id: id, status: 404, body, query, method: method.to_string(), path };
            shared.lock().requests.push(rec);
            return json_reply(404, &json!({"message": "404: Not Found", "code": 0}), &[]);
        }
    };
    let mut rec = Request { at, webhook_id: id, status: 0, body, query, method: method.to_string(), path };

    let scripted = {
        let mut state = shared.lock();
        if state.deleted.contains(&id) { None } else { state.scripts.get_mut(&id).and_then(VecDeque::pop_front) }
    };
    let reply = match scripted {
        Some(Reply::Hang) => {
            shared.lock().requests.push(rec);
            shared.changed.notify_all();
            return std::future::pending().await;
        }
        Some(Reply::Slow(delay)) => {
            tokio::time::sleep(delay).await;
            default_answer(&shared, id, message.as_deref(), &method, is_json, &raw, &mut rec)
        }
        Some(other) => scripted_answer(&shared, id, &other),
        None => default_answer(&shared, id, message.as_deref(), &method, is_json, &raw, &mut rec),
    };
    rec.status = reply.status().as_u16();
    shared.lock().requests.push(rec);
    shared.changed.notify_all();
    reply
}

fn scripted_answer(shared: &Shared, id: u64, reply: &Reply) -> serve::Reply {
    let now = Instant::now();
    let decision = shared.lock().buckets.entry(id).or_default().peek(shared.rule, now);
    let headers = rate_headers(id, &decision);
    match reply {
        Reply::RateLimited { retry_after, global } => {
            let wait = Duration::from_secs_f64(retry_after.max(0.0));
            let limited = Decision { allowed: false, remaining: 0, reset_after: wait, ..decision };
            too_many_requests(id, &limited, *global)
        }
        Reply::Status(status) => {
            let reason =
                hyper::StatusCode::from_u16(*status).ok().and_then(|s| s.canonical_reason()).unwrap_or("Error");
            json_reply(*status, &json!({"message": format!("{status}: {reason}"), "code": 0}), &headers)
        }
        Reply::UnknownWebhook => unknown_webhook(&headers),
        Reply::InvalidToken => json_reply(401, &json!({"message": "Invalid Webhook Token", "code": 50027}), &headers),
        // Handled by the caller; answered normally if they ever get here.
        Reply::Slow(_) | Reply::Hang => {
            json_reply(500, &json!({"message": "500: Internal Server Error", "code": 0}), &headers)
        }
    }
}

fn unknown_webhook(headers: &[(&str, String)]) -> serve::Reply {
    json_reply(404, &json!({"message": "Unknown Webhook", "code": 10015}), headers)
}

/// Discord's behaviour when nothing is scripted.
fn default_answer(
    shared: &Shared,
    id: u64,
    message: Option<&str>,
    method: &Method,
    is_json: bool,
    raw: &[u8],
    rec: &mut Request,
) -> serve::Reply {
    let now = Instant::now();
    let mut state = shared.lock();
    if state.deleted.contains(&id) {
        return unknown_webhook(&[]);
    }
    if let Some(mid) = message {
        return message_answer(shared, &mut state, id, mid, method, is_json, raw, rec);
    }
    if *method == Method::GET {
        let decision = state.buckets.entry(id).or_default().peek(shared.rule, now);
        let hook = json!({"id": id.to_string(), "type": 1, "name": "Faultline test webhook",
            "channel_id": "1000000000000000001", "guild_id": "1000000000000000002", "application_id": null});
        return json_reply(200, &hook, &rate_headers(id, &decision));
    }
    if *method != Method::POST {
        return json_reply(405, &json!({"message": "405: Method Not Allowed", "code": 0}), &[]);
    }
    let decision = state.buckets.entry(id).or_default().take(shared.rule, now);
    if !decision.allowed {
        return too_many_requests(id, &decision, false);
    }
    let headers = rate_headers(id, &decision);
    if !is_json {
        // Discord cannot read a body that is not declared JSON: to it the message is empty.
        return json_reply(400, &json!({"message": "Cannot send an empty message", "code": 50006}), &headers);
    }
    let message = match validate::validate(raw) {
        Ok(message) => message,
        Err(rejection) => return json_reply(400, &rejection.body, &headers),
    };
    rec.body = message.clone();
    state.sequence += 1;
    let created = created_message(id, state.sequence, &message);
    let stored = messages::Stored {
        id: created.get("id").and_then(Value::as_str).unwrap_or("").to_string(),
        webhook_id: id,
        thread_id: messages::thread_of(&rec.query),
        versions: vec![message.clone()],
        deleted: false,
    };
    state.stored.push(stored);
    state.messages.push((id, message.clone()));
    state.subscribers.retain(|tx| tx.send((id, message.clone())).is_ok());
    drop(state);
    if wants_wait(&rec.query) {
        json_reply(200, &created, &headers)
    } else {
        let mut reply = json_reply(204, &Value::Null, &headers);
        *reply.body_mut() = http_body_util::Full::new(bytes::Bytes::new());
        reply.headers_mut().remove(hyper::header::CONTENT_TYPE);
        reply
    }
}

/// `GET`, `PATCH` or `DELETE` of one message the webhook created. A `PATCH` counts against the webhook's rate
/// limit like a send, is validated as a whole message, and is kept as the message's next version.
#[allow(clippy::too_many_arguments)]
fn message_answer(
    shared: &Shared,
    state: &mut MutexGuard<'_, State>,
    id: u64,
    mid: &str,
    method: &Method,
    is_json: bool,
    raw: &[u8],
    rec: &mut Request,
) -> serve::Reply {
    let now = Instant::now();
    let decision = if *method == Method::GET {
        state.buckets.entry(id).or_default().peek(shared.rule, now)
    } else {
        state.buckets.entry(id).or_default().take(shared.rule, now)
    };
    if !decision.allowed {
        return too_many_requests(id, &decision, false);
    }
    let headers = rate_headers(id, &decision);
    let Some(pos) = state.stored.iter().position(|m| m.id == mid && m.webhook_id == id && !m.deleted) else {
        return json_reply(404, &messages::unknown_message(), &headers);
    };
    let seq = state.sequence;
    match *method {
        Method::GET => {
            let m = state.stored.get(pos).map(|m| m.current().clone()).unwrap_or(Value::Null);
            json_reply(200, &with_id(created_message(id, seq, &m), mid), &headers)
        }
        Method::DELETE => {
            if let Some(m) = state.stored.get_mut(pos) {
                m.deleted = true;
            }
            let mut reply = json_reply(204, &Value::Null, &headers);
            *reply.body_mut() = http_body_util::Full::new(bytes::Bytes::new());
            reply
        }
        Method::PATCH if !is_json => {
            json_reply(400, &json!({"message": "Cannot send an empty message", "code": 50006}), &headers)
        }
        Method::PATCH => {
            let current = state.stored.get(pos).map(|m| m.current().clone()).unwrap_or(Value::Null);
            match messages::edited(&current, raw) {
                Ok(next) => {
                    rec.body = next.clone();
                    if let Some(m) = state.stored.get_mut(pos) {
                        m.versions.push(next.clone());
                    }
                    let mut answer = with_id(created_message(id, seq, &next), mid);
                    if let Some(o) = answer.as_object_mut() {
                        o.insert(
                            "edited_timestamp".into(),
                            Value::String(iso8601(SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default())),
                        );
                    }
                    json_reply(200, &answer, &headers)
                }
                Err(rejection) => json_reply(400, &rejection.body, &headers),
            }
        }
        _ => json_reply(405, &json!({"message": "405: Method Not Allowed", "code": 0}), &headers),
    }
}

fn with_id(mut m: Value, id: &str) -> Value {
    if let Some(o) = m.as_object_mut() {
        o.insert("id".into(), Value::String(id.to_string()));
    }
    m
}

fn wants_wait(query: &str) -> bool {
    query.split('&').any(|pair| matches!(pair, "wait=true" | "wait=True" | "wait=1"))
}

fn too_many_requests(id: u64, decision: &Decision, global: bool) -> serve::Reply {
    let secs = decision.reset_after.as_secs_f64();
    let retry_after = (secs * 1000.0).ceil() / 1000.0;
    let mut headers = rate_headers(id, decision);
    headers.push(("retry-after", format!("{}", secs.ceil().max(1.0) as u64)));
    headers.push(("x-ratelimit-scope", if global { "global" } else { "user" }.to_string()));
    if global {
        headers.push(("x-ratelimit-global", "true".to_string()));
    }
    json_reply(
        429,
        &json!({"message": "You are being rate limited.", "retry_after": retry_after, "global": global}),
        &headers,
    )
}

fn rate_headers(id: u64, d: &Decision) -> Vec<(&'static str, String)> {
    let reset_at = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default() + d.reset_after;
    vec![
        ("x-ratelimit-limit", d.limit.to_string()),
        ("x-ratelimit-remaining", d.remaining.to_string()),
        ("x-ratelimit-reset", format!("{:.3}", reset_at.as_secs_f64())),
        ("x-ratelimit-reset-after", format!("{:.3}", d.reset_after.as_secs_f64())),
        ("x-ratelimit-bucket", format!("{:016x}", id.wrapping_mul(0x9E37_79B9_7F4A_7C15))),
    ]
}

/// The message object Discord returns with `?wait=true`.
fn created_message(webhook_id: u64, sequence: u64, body: &Value) -> Value {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let snowflake = (((now.as_millis().saturating_sub(DISCORD_EPOCH_MS)) as u64) << 22) | (sequence & 0x3F_FFFF);
    json!({
        "id": snowflake.to_string(),
        "type": 0,
        "channel_id": "1000000000000000001",
        "webhook_id": webhook_id.to_string(),
        "author": {
            "id": webhook_id.to_string(),
            "username": body.get("username").and_then(Value::as_str).unwrap_or("Faultline"),
            "bot": true,
        },
        "content": body.get("content").and_then(Value::as_str).unwrap_or(""),
        "embeds": body.get("embeds").cloned().unwrap_or_else(|| json!([])),
        "attachments": [],
        "mentions": [],
        "mention_roles": [],
        "pinned": false,
        "tts": false,
        "flags": body.get("flags").cloned().unwrap_or(json!(0)),
        "timestamp": iso8601(now),
    })
}

/// `2025-01-02T03:04:05.678000+00:00`, Discord's timestamp format.
pub fn iso8601(since_epoch: Duration) -> String {
    let secs = since_epoch.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}+00:00",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since_epoch.subsec_micros()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(route("/api/v10/webhooks/123/tok"), Route::Webhook(123));
        assert_eq!(route("/api/v10/webhooks/123/tok/"), Route::Webhook(123));
        assert_eq!(route("/api/v10/webhooks/123/tok/messages/9"), Route::Message(123, "9".into()));
        assert_eq!(route("/api/webhooks/123/tok"), Route::Other(123));
        assert_eq!(route("/api/v9/webhooks/77/tok"), Route::Other(77));
        assert_eq!(route("/api/v10/webhooks/abc/tok"), Route::Other(0));
        assert_eq!(route("/"), Route::Other(0));
    }

    #[test]
    fn timestamps() {
        assert_eq!(iso8601(Duration::from_secs(0)), "1970-01-01T00:00:00.000000+00:00");
        assert_eq!(iso8601(Duration::from_millis(1_709_251_199_500)), "2024-02-29T23:59:59.500000+00:00");
    }
}
