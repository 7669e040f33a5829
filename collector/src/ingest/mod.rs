//! Ingest: `POST /v1/flush` — the bearer token (constant-time compare, optional proxy binding), the
//! body limit, the flush's parse and validation, then the engine. Thin: parsing, auth and status codes
//! here; decisions in [`crate::decide`].

use crate::clock::now_ms;
use crate::http::{Resp, error, reply};
use crate::secret::ct_eq;
use crate::state::{Reject, Shared};
use faultline_flush::{Flush, limits::MAX_BODY_BYTES};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde_json::json;
use std::sync::Arc;

/// The token entry matching the request's bearer token (every token compared).
fn authorize<'a>(shared: &'a Shared, req: &Request<Incoming>) -> Option<&'a crate::config::IngestToken> {
    let given = crate::http::bearer(req)?.as_bytes();
    let mut found = None;
    for t in &shared.cfg.tokens {
        if ct_eq(t.token.as_bytes(), given) && found.is_none() {
            found = Some(t);
        }
    }
    found
}

/// `POST /v1/flush`: one flush, answered 200 (applied, baseline or stale), 400, 401, 403, 413 or 503.
pub async fn flush(shared: Arc<Shared>, req: Request<Incoming>) -> Resp {
    let Some(token) = authorize(&shared, &req) else {
        shared.stats.reject(Reject::Unauthorized);
        return error(StatusCode::UNAUTHORIZED, "missing or wrong bearer token");
    };
    let allowed = token.proxies.clone();
    let declared = req
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES) {
        shared.stats.reject(Reject::TooLarge);
        return error(StatusCode::PAYLOAD_TOO_LARGE, format!("body larger than {MAX_BODY_BYTES} bytes"));
    }
    let body = match Limited::new(req.into_body(), MAX_BODY_BYTES).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => {
            shared.stats.reject(Reject::TooLarge);
            return error(StatusCode::PAYLOAD_TOO_LARGE, format!("body larger than {MAX_BODY_BYTES} bytes"));
        }
        Err(e) => {
            shared.stats.reject(Reject::Malformed);
            return error(StatusCode::BAD_REQUEST, format!("reading body: {e}"));
        }
    };
    let f = match Flush::parse(&body) {
        Ok(f) => f,
        Err(e) => {
            shared.stats.reject(Reject::Malformed);
            return error(StatusCode::BAD_REQUEST, e.0);
        }
    };
    if let Some(list) = allowed
        && !list.iter().any(|p| p == &f.proxy_id)
    {
        shared.stats.reject(Reject::Forbidden);
        return error(StatusCode::FORBIDDEN, format!("this token may not flush for proxy {:?}", f.proxy_id));
    }
    let result = shared
        .with_core(move |c| {
            let now = now_ms();
            match c.engine.ingest(&f, now) {
                Ok(got) => {
                    for cap in &got.caps {
                        tracing::warn!("cap hit: {}", cap.0);
                    }
                    if let Some(gap) = got.late_ms {
                        tracing::warn!(
                            proxy = %f.proxy_id,
                            "first flush from proxy {:?} in {} s (more than the window): its counts are added \
                             to the totals and history, not to the window (they happened too long ago to page on)",
                            f.proxy_id,
                            gap / 1000
                        );
                    }
                    let wrote = if got.notices.is_empty() { Ok(vec![]) } else { c.commit(got.notices, now) };
                    Ok((got.result, wrote, c.engine.take_probe_requests()))
                }
                Err(refused) => Err(refused),
            }
        })
        .await;
    match result {
        Ok((outcome, wrote, probes)) => {
            shared.stats.accepted(outcome);
            shared.wake_probes(&probes);
            match wrote {
                Ok(hooks) => shared.wake_all(&hooks),
                Err(e) => tracing::error!("writing alert state failed (kept in memory, retried every second): {e}"),
            }
            reply(StatusCode::OK, json!({ "result": outcome }))
        }
        Err(r) => {
            shared.stats.reject(Reject::OverCapacity);
            if r.log {
                tracing::warn!("cap hit: {}", r.error);
            }
            error(StatusCode::SERVICE_UNAVAILABLE, r.error.to_string())
        }
    }
}
