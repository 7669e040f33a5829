//! The collector's one HTTP listener: accepts connections and routes each request to its edge
//! ([`crate::ingest`] for flushes, [`crate::observe`] for `/healthz` and the read-only views, [`crate::operate`]
//! for silences and acknowledgements).

use crate::http::{Resp, error, reply};
use crate::observe::http::{VIEWS, view};
use crate::state::Shared;
use faultline_flush::INGEST_PATH;
use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use std::sync::Arc;
use tokio::sync::watch;

async fn route(shared: Arc<Shared>, req: Request<Incoming>) -> Resp {
    let path = req.uri().path();
    match (req.method(), path) {
        (&Method::POST, INGEST_PATH) => crate::ingest::flush(shared, req).await,
        (&Method::GET, "/healthz") => {
            let h = crate::observe::status::healthz(&shared).await;
            reply(StatusCode::OK, h)
        }
        (&Method::GET, p) if VIEWS.contains(&p) => view(shared, req).await,
        (_, p) if crate::operate::serves(p) => crate::operate::handle(shared, req).await,
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
