//! The HTTP edge: `POST /v1/flush` (bearer token, constant-time compare, optional proxy
//! binding), `GET /healthz` and `GET /v1/status`. Thin: parsing, auth and status codes
//! here; decisions in the engine.

use crate::app::{Shared, now_ms};
use crate::status;
use bytes::Bytes;
use faultline_flush::{Flush, INGEST_PATH, limits::MAX_BODY_BYTES};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::json;
use std::sync::Arc;
use tokio::sync::watch;

type Resp = Response<Full<Bytes>>;

fn reply(status: StatusCode, body: serde_json::Value) -> Resp {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = status;
    r.headers_mut().insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("application/json"));
    r
}

fn error(status: StatusCode, message: impl Into<String>) -> Resp {
    reply(status, json!({ "error": message.into() }))
}

/// Compares without an early exit on the first differing byte.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        diff |= usize::from(a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0));
    }
    diff == 0
}

/// The token entry matching the request's bearer token (every token compared).
fn authorize<'a>(shared: &'a Shared, req: &Request<Incoming>) -> Option<&'a crate::config::IngestToken> {
    let given = req.headers().get(hyper::header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Bearer ")?.trim().as_bytes();
    let mut found = None;
    for t in &shared.cfg.tokens {
        if ct_eq(t.token.as_bytes(), given) && found.is_none() {
            found = Some(t);
        }
    }
    found
}

async fn flush(shared: Arc<Shared>, req: Request<Incoming>) -> Resp {
    let Some(token) = authorize(&shared, &req) else {
        return error(StatusCode::UNAUTHORIZED, "missing or wrong bearer token");
    };
    let allowed = token.proxies.clone();
    let declared = req.headers().get(hyper::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES) {
        return error(StatusCode::PAYLOAD_TOO_LARGE, format!("body larger than {MAX_BODY_BYTES} bytes"));
    }
    let body = match Limited::new(req.into_body(), MAX_BODY_BYTES).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => {
            return error(StatusCode::PAYLOAD_TOO_LARGE, format!("body larger than {MAX_BODY_BYTES} bytes"));
        }
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("reading body: {e}")),
    };
    let f = match Flush::parse(&body) {
        Ok(f) => f,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.0),
    };
    if let Some(list) = allowed
        && !list.iter().any(|p| p == &f.proxy_id)
    {
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
                    let wrote = if got.notices.is_empty() { Ok(vec![]) } else { c.commit(got.notices, now) };
                    Ok((got.result, wrote))
                }
                Err(refused) => Err(refused),
            }
        })
        .await;
    match result {
        Ok((outcome, wrote)) => {
            match wrote {
                Ok(hooks) => shared.wake_all(&hooks),
                Err(e) => tracing::error!("writing alert state failed (kept in memory, retried every second): {e}"),
            }
            reply(StatusCode::OK, json!({ "result": outcome }))
        }
        Err(r) => {
            if r.log {
                tracing::warn!("cap hit: {}", r.error);
            }
            error(StatusCode::SERVICE_UNAVAILABLE, r.error.to_string())
        }
    }
}

async fn route(shared: Arc<Shared>, req: Request<Incoming>) -> Resp {
    match (req.method(), req.uri().path()) {
        (&Method::POST, INGEST_PATH) => flush(shared, req).await,
        (&Method::GET, "/healthz") => {
            let h = status::healthz(&shared).await;
            reply(StatusCode::OK, h)
        }
        (&Method::GET, "/v1/status") => {
            let s = status::status(&shared).await;
            reply(StatusCode::OK, s)
        }
        (_, INGEST_PATH | "/healthz" | "/v1/status") => error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed"),
        _ => error(StatusCode::NOT_FOUND, "not found"),
    }
}

/// Serves HTTP/1.1 on `listener` until `stop`.
pub async fn serve(listener: tokio::net::TcpListener, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.wait_for(|s| *s) => return,
        };
        let (stream, _) = match accepted {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| {
                let shared = shared.clone();
                async move { Ok::<_, std::convert::Infallible>(route(shared, req).await) }
            });
            let conn = hyper::server::conn::http1::Builder::new().serve_connection(hyper_util::rt::TokioIo::new(stream), svc);
            if let Err(e) = conn.await {
                tracing::debug!("connection: {e}");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn constant_time_compare_is_equality() {
        assert!(super::ct_eq(b"secret-1", b"secret-1"));
        assert!(!super::ct_eq(b"secret-1", b"secret-2"));
        assert!(!super::ct_eq(b"secret", b"secret-1"));
        assert!(!super::ct_eq(b"", b"x"));
    }
}
