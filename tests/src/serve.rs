//! A small HTTP/1.1 server on its own thread and tokio runtime, shared by the Discord-compatible
//! server and the scripted upstreams. Dropping (or [`ServerThread::stop`]) shuts the runtime down,
//! which closes the listener and every open connection at once, like a process that exits.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::thread::JoinHandle;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::sync::oneshot;

/// The response type every handler returns.
pub type Reply = Response<Full<Bytes>>;

/// A running server; stopped on drop.
pub struct ServerThread {
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl ServerThread {
    /// Binds `bind` (port 0 for any) and serves each request with `handler` on a runtime with
    /// `workers` threads (0 = a current-thread runtime).
    pub fn start<H, F>(name: &str, bind: SocketAddr, workers: usize, handler: H) -> Result<ServerThread, String>
    where
        H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
        F: Future<Output = Reply> + Send + 'static,
    {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<SocketAddr, String>>();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let thread_name = format!("{name}-server");
        let thread = std::thread::Builder::new()
            .name(thread_name)
            .spawn(move || {
                let runtime = if workers == 0 {
                    tokio::runtime::Builder::new_current_thread().enable_all().build()
                } else {
                    tokio::runtime::Builder::new_multi_thread().worker_threads(workers).enable_all().build()
                };
                let runtime = match runtime {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(format!("tokio runtime: {e}")));
                        return;
                    }
                };
                runtime.block_on(async move {
                    let listener = match tokio::net::TcpListener::bind(bind).await {
                        Ok(l) => l,
                        Err(e) => {
                            let _ = ready_tx.send(Err(format!("binding {bind}: {e}")));
                            return;
                        }
                    };
                    let local = listener.local_addr().map_err(|e| e.to_string());
                    let _ = ready_tx.send(local);
                    tokio::select! {
                        _ = stop_rx => {}
                        _ = accept_loop(listener, handler) => {}
                    }
                });
                // Shutting the runtime down drops every connection task: their sockets close now.
                runtime.shutdown_timeout(std::time::Duration::from_secs(2));
            })
            .map_err(|e| format!("spawning {name} thread: {e}"))?;
        match ready_rx.recv() {
            Ok(Ok(addr)) => Ok(ServerThread { addr, shutdown: Some(stop_tx), thread: Some(thread) }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(format!("{name}: {e}"))
            }
            Err(_) => {
                let _ = thread.join();
                Err(format!("{name}: server thread ended before binding"))
            }
        }
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops the server: the listener and all connections are closed when this returns.
    pub fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for ServerThread {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn accept_loop<H, F>(listener: tokio::net::TcpListener, handler: H)
where
    H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Reply> + Send + 'static,
{
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(_) => {
                // Out of file descriptors or similar: back off briefly instead of spinning.
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let handler = handler.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| {
                let fut = handler(req);
                async move { Ok::<_, Infallible>(fut.await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

/// A response with `status`, a JSON body and the given extra headers.
pub fn json_reply(status: u16, body: &serde_json::Value, headers: &[(&str, String)]) -> Reply {
    let mut resp = Response::new(Full::new(Bytes::from(body.to_string())));
    *resp.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    add_header(&mut resp, "content-type", "application/json");
    for (name, value) in headers {
        add_header(&mut resp, name, value);
    }
    resp
}

fn add_header(resp: &mut Reply, name: &str, value: &str) {
    if let (Ok(n), Ok(v)) =
        (hyper::header::HeaderName::from_bytes(name.as_bytes()), hyper::header::HeaderValue::from_str(value))
    {
        resp.headers_mut().insert(n, v);
    }
}
