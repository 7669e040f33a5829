//! The HTTP edge: `POST /v1/flush` (bearer token, constant-time compare, optional proxy
//! binding), `GET /healthz`, and the read-only views `GET /` (status page), `GET /v1/status`,
//! `GET /v1/history` and `GET /metrics` (open on a loopback listener without `status_token`,
//! else they need the token as `Authorization: Bearer` or `?token=`). Thin: parsing, auth
//! and status codes here; decisions in the engine.

use crate::app::{Shared, now_ms};
use crate::observe::Reject;
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

fn text(status: StatusCode, content_type: &'static str, body: String) -> Resp {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static(content_type));
    r.headers_mut().insert(hyper::header::CACHE_CONTROL, hyper::header::HeaderValue::from_static("no-store"));
    r
}

/// Decodes `%XX` and `+` of a query component (invalid escapes are kept as written).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        let hex = |j: usize| b.get(j).and_then(|h| (*h as char).to_digit(16));
        match (c, hex(i + 1), hex(i + 2)) {
            (b'%', Some(hi), Some(lo)) => {
                out.push(u8::try_from(hi * 16 + lo).unwrap_or(b'?'));
                i += 3;
            }
            (b'+', _, _) => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The query string's parameters (the first of each name wins).
pub fn query_params(query: Option<&str>) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        out.entry(unescape(k)).or_insert_with(|| unescape(v));
    }
    out
}

/// Whether the request may read the status views (see the module doc).
fn may_read(shared: &Shared, req: &Request<Incoming>) -> bool {
    if shared.cfg.status_open() {
        return true;
    }
    let bearer = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_string());
    let given = bearer.or_else(|| query_params(req.uri().query()).remove("token"));
    given.is_some_and(|t| shared.cfg.status_token_matches(&t))
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
    let given =
        req.headers().get(hyper::header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Bearer ")?.trim().as_bytes();
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
                        tracing::warn!(proxy = %f.proxy_id, "first flush from proxy {:?} in {} s (more than the window): its counts are added to the totals and history, not to the window (they happened too long ago to page on)", f.proxy_id, gap / 1000);
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
            shared.stats.accepted(outcome);
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

const VIEWS: [&str; 4] = ["/", "/v1/status", "/v1/history", "/metrics"];

async fn view(shared: Arc<Shared>, req: Request<Incoming>) -> Resp {
    let path = req.uri().path();
    if !may_read(&shared, &req) {
        let mut r = if path == "/" {
            let body = "This Faultline status page needs a token: open it as /?token=YOUR_STATUS_TOKEN (the collector's status_token).\n".to_string();
            text(StatusCode::UNAUTHORIZED, "text/plain; charset=utf-8", body)
        } else {
            error(StatusCode::UNAUTHORIZED, "this view needs the status token (Authorization: Bearer, or ?token=)")
        };
        r.headers_mut().insert(
            hyper::header::WWW_AUTHENTICATE,
            hyper::header::HeaderValue::from_static("Bearer realm=\"faultline\""),
        );
        return r;
    }
    match path {
        "/" => text(StatusCode::OK, "text/html; charset=utf-8", crate::status_page::page()),
        "/metrics" => {
            let m = crate::observe::metrics_view(&shared).await;
            text(StatusCode::OK, crate::metrics::CONTENT_TYPE, crate::metrics::render(&m))
        }
        "/v1/history" => {
            let retention = u64::try_from(shared.cfg.history.retention.as_millis()).unwrap_or(u64::MAX);
            let q = match crate::observe::parse_query(&query_params(req.uri().query()), retention) {
                Ok(q) => q,
                Err(e) => return error(StatusCode::BAD_REQUEST, e),
            };
            match crate::observe::history_json(&shared, &q) {
                Ok(v) => reply(StatusCode::OK, v),
                Err(e) => {
                    tracing::error!("reading history failed: {e}");
                    error(StatusCode::INTERNAL_SERVER_ERROR, "reading history failed")
                }
            }
        }
        _ => reply(StatusCode::OK, status::status(&shared).await),
    }
}

async fn route(shared: Arc<Shared>, req: Request<Incoming>) -> Resp {
    let path = req.uri().path();
    match (req.method(), path) {
        (&Method::POST, INGEST_PATH) => flush(shared, req).await,
        (&Method::GET, "/healthz") => {
            let h = status::healthz(&shared).await;
            reply(StatusCode::OK, h)
        }
        (&Method::GET, p) if VIEWS.contains(&p) => view(shared, req).await,
        (_, p) if p == INGEST_PATH || p == "/healthz" || VIEWS.contains(&p) => {
            error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
        }
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
            let conn =
                hyper::server::conn::http1::Builder::new().serve_connection(hyper_util::rt::TokioIo::new(stream), svc);
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

    #[test]
    fn query_parameters_are_decoded() {
        let q = super::query_params(Some("since=1h&token=a%2Bb%3D%3D&x&service=my+svc&since=2h&bad=%zz"));
        assert_eq!(q["since"], "1h");
        assert_eq!(q["token"], "a+b==");
        assert_eq!(q["service"], "my svc");
        assert_eq!(q["x"], "");
        assert_eq!(q["bad"], "%zz");
        assert!(super::query_params(None).is_empty());
    }
}
