//! The operator API: silences (`GET`/`POST /v1/silences`, `DELETE /v1/silences/ID`) and acknowledgements
//! (`POST /v1/ack`), for `faultline-collector silence …` / `ack …` and scripts. It needs the configuration's
//! `operator_token` as `Authorization: Bearer` (compared in constant time; never the ingest or status token);
//! without one configured it is off. Bad input is a 400 with a JSON error and changes nothing. Thin: the desk
//! decides (`decide::desk`), this parses and answers.

pub mod client;

use crate::clock::now_ms;
use crate::decide::silence::{NewSilence, Silence};
use crate::http::{Resp, error, reply};
use crate::state::Shared;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use serde_json::{Value, json};
use std::sync::Arc;

/// The paths served here (`/v1/silences/ID` too).
pub const SILENCES: &str = "/v1/silences";
pub const ACK: &str = "/v1/ack";

/// Whether `path` is one of the operator API's.
pub fn serves(path: &str) -> bool {
    path == SILENCES || path == ACK || path.strip_prefix(SILENCES).is_some_and(|r| r.starts_with('/'))
}

/// A silence as the API shows it.
pub fn silence_json(s: &Silence, now_ms: u64) -> Value {
    json!({
        "id": s.id,
        "service": s.service,
        "route": s.route,
        "from_ms": s.from_ms,
        "until_ms": s.until_ms,
        "reason": s.reason,
        "by": s.by,
        "active": s.active(now_ms),
    })
}

async fn body<T: serde::de::DeserializeOwned>(req: Request<Incoming>) -> Result<T, Resp> {
    let bytes = Limited::new(req.into_body(), 64 * 1024)
        .collect()
        .await
        .map_err(|e| error(StatusCode::BAD_REQUEST, format!("reading body: {e}")))?
        .to_bytes();
    serde_json::from_slice(&bytes).map_err(|e| error(StatusCode::BAD_REQUEST, format!("bad JSON body: {e}")))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct AckBody {
    service: String,
    by: Option<String>,
}

/// Answers one request of the operator API.
pub async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Resp {
    if shared.cfg.operator_token.is_none() {
        return error(StatusCode::FORBIDDEN, "the operator API is off: set operator_token in the configuration");
    }
    if !crate::http::bearer(&req).is_some_and(|t| shared.cfg.operator_token_matches(t)) {
        let mut r = error(StatusCode::UNAUTHORIZED, "this API needs the operator token (Authorization: Bearer)");
        r.headers_mut().insert(
            hyper::header::WWW_AUTHENTICATE,
            hyper::header::HeaderValue::from_static("Bearer realm=\"faultline\""),
        );
        return r;
    }
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    let failed = |e: crate::store::StoreError| {
        tracing::error!("operator API: writing state failed: {e}");
        error(StatusCode::INTERNAL_SERVER_ERROR, format!("writing state failed: {e}"))
    };
    match (method, path.as_str()) {
        (Method::GET, SILENCES) => {
            let now = now_ms();
            let list: Vec<Value> =
                shared.with_core(|c| c.desk.silences().values().map(|s| silence_json(s, now)).collect()).await;
            reply(StatusCode::OK, json!({ "now_ms": now, "silences": list }))
        }
        (Method::POST, SILENCES) => {
            let new: NewSilence = match body(req).await {
                Ok(b) => b,
                Err(r) => return r,
            };
            let now = now_ms();
            match shared.with_core(move |c| c.add_silence(&new, now)).await {
                Ok(Ok(s)) => {
                    tracing::info!(
                        silence = s.id,
                        "silence added: {:?} {:?} until {} ({})",
                        s.service,
                        s.route,
                        s.until_ms,
                        s.reason
                    );
                    reply(StatusCode::CREATED, json!({ "silence": silence_json(&s, now) }))
                }
                Ok(Err(why)) => error(StatusCode::BAD_REQUEST, why),
                Err(e) => failed(e),
            }
        }
        (Method::DELETE, p) if p.starts_with("/v1/silences/") => {
            let Ok(id) = p.trim_start_matches("/v1/silences/").parse::<u64>() else {
                return error(StatusCode::BAD_REQUEST, "a silence is removed by its number: DELETE /v1/silences/ID");
            };
            let now = now_ms();
            match shared.with_core(move |c| c.remove_silence(id, now)).await {
                Ok(Ok(s)) => {
                    tracing::info!(silence = s.id, "silence removed");
                    reply(StatusCode::OK, json!({ "removed": silence_json(&s, now) }))
                }
                Ok(Err(why)) => error(StatusCode::NOT_FOUND, why),
                Err(e) => failed(e),
            }
        }
        (Method::POST, ACK) => {
            let b: AckBody = match body(req).await {
                Ok(b) => b,
                Err(r) => return r,
            };
            let by = b.by.unwrap_or_else(|| "operator".into());
            let now = now_ms();
            let service = b.service.clone();
            match shared.with_core(move |c| c.ack(&b.service, &by, now)).await {
                Ok(Ok(a)) => {
                    shared.wake_all(&[shared.cfg.webhook_for(&service).to_string()]);
                    tracing::info!(service = %service, "incident acknowledged by {}", a.by);
                    reply(
                        StatusCode::OK,
                        json!({"acknowledged": {
                            "service": service, "by": a.by, "at_ms": a.at_ms, "severity": a.severity,
                        }}),
                    )
                }
                Ok(Err(why)) => error(StatusCode::BAD_REQUEST, why),
                Err(e) => failed(e),
            }
        }
        _ => error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed"),
    }
}
