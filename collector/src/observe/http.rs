//! The read-only views' HTTP handler: `GET /` (status page), `GET /v1/status`, `GET /v1/history` and
//! `GET /metrics` — open on a loopback listener without `status_token`, else they need the token as
//! `Authorization: Bearer` or `?token=`.

use crate::http::{Resp, error, query_params, reply, text};
use crate::state::Shared;
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use std::sync::Arc;

/// The paths served by [`view`].
pub const VIEWS: [&str; 4] = ["/", "/v1/status", "/v1/history", "/metrics"];

/// Whether the request may read the status views (see the module doc).
fn may_read(shared: &Shared, req: &Request<Incoming>) -> bool {
    if shared.cfg.status_open() {
        return true;
    }
    let given =
        crate::http::bearer(req).map(str::to_string).or_else(|| query_params(req.uri().query()).remove("token"));
    given.is_some_and(|t| shared.cfg.status_token_matches(&t))
}

/// Answers one read-only view, or 401 without the right token.
pub async fn view(shared: Arc<Shared>, req: Request<Incoming>) -> Resp {
    let path = req.uri().path();
    if !may_read(&shared, &req) {
        let mut r = if path == "/" {
            let body = "This Faultline status page needs a token: open it as /?token=YOUR_STATUS_TOKEN \
                        (the collector's status_token).\n"
                .to_string();
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
        "/" => text(StatusCode::OK, "text/html; charset=utf-8", super::page::page()),
        "/metrics" => {
            let m = super::views::metrics_view(&shared).await;
            text(StatusCode::OK, super::metrics::CONTENT_TYPE, super::metrics::render(&m))
        }
        "/v1/history" => {
            let retention = u64::try_from(shared.cfg.history.retention.as_millis()).unwrap_or(u64::MAX);
            let q = match super::views::parse_query(&query_params(req.uri().query()), retention) {
                Ok(q) => q,
                Err(e) => return error(StatusCode::BAD_REQUEST, e),
            };
            match super::views::history_json(&shared, &q) {
                Ok(v) => reply(StatusCode::OK, v),
                Err(e) => {
                    tracing::error!("reading history failed: {e}");
                    error(StatusCode::INTERNAL_SERVER_ERROR, "reading history failed")
                }
            }
        }
        _ => reply(StatusCode::OK, super::status::status(&shared).await),
    }
}
