//! Scripted upstream services for end-to-end tests, the demo and benchmarks: an HTTP/1.1 server on
//! 127.0.0.1 answering any path, whose 5xx rate, failing routes and health endpoint a test changes at
//! runtime. Failures are deterministic: with a rate of r per mille, the k-th matching request fails
//! iff floor(k·r/1000) > floor((k-1)·r/1000), so any run of 1000 matching requests has exactly r
//! failures. [`Upstream::stop`] and [`Upstream::start`] keep the port, so a stopped service refuses
//! connections exactly like a crashed one.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Response, StatusCode};

use crate::serve::{self, ServerThread};

/// A route filter for injected failures: an optional method and a path pattern matched segment by
/// segment as a prefix, where a `:name` segment matches any one segment
/// ("GET /server/users/:id/orders", "/ai/").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch {
    method: Option<String>,
    segments: Vec<String>,
}

impl RouteMatch {
    /// Parses "METHOD /path/pattern" or "/path/pattern".
    pub fn parse(spec: &str) -> Result<RouteMatch, String> {
        let spec = spec.trim();
        let (method, path) = match spec.split_once(' ') {
            Some((m, p)) => (Some(m.trim().to_ascii_uppercase()), p.trim()),
            None => (None, spec),
        };
        if !path.starts_with('/') {
            return Err(format!("route pattern {spec:?} must start with '/' (optionally after a method)"));
        }
        Ok(RouteMatch { method, segments: segments(path).map(str::to_string).collect() })
    }

    /// Whether a request with `method` and `path` (no query) is matched.
    pub fn matches(&self, method: &str, path: &str) -> bool {
        if self.method.as_deref().is_some_and(|m| !m.eq_ignore_ascii_case(method)) {
            return false;
        }
        let mut actual = segments(path);
        self.segments.iter().all(|want| match actual.next() {
            Some(got) => want.starts_with(':') || want == got,
            None => false,
        })
    }
}

fn segments(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|s| !s.is_empty())
}

/// Which requests fail, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailurePlan {
    /// Failures per 1000 matching requests (0..=1000).
    pub per_mille: u32,
    /// The status of a failed request (e.g. 500, 502, 503).
    pub status: u16,
    /// Only requests matching one of these can fail; empty = every request except the health path.
    pub only: Vec<RouteMatch>,
}

impl Default for FailurePlan {
    fn default() -> Self {
        FailurePlan { per_mille: 0, status: 500, only: Vec::new() }
    }
}

impl FailurePlan {
    /// Whether the `k`-th (1-based) matching request fails.
    pub fn fails(&self, k: u64) -> bool {
        let r = u64::from(self.per_mille.min(1000));
        k > 0 && k * r / 1000 > (k - 1) * r / 1000
    }

    fn applies(&self, method: &str, path: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|m| m.matches(method, path))
    }
}

/// How the health endpoint answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// 200 `{"status":"UP"}`.
    Up,
    /// This status with `{"status":"DOWN"}`.
    Failing(u16),
    /// Accepts and never answers.
    Hang,
    /// 200 after the delay.
    Slow(Duration),
}

/// What the upstream answered so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Served {
    /// Requests other than health checks, by status.
    pub by_status: BTreeMap<u16, u64>,
    /// Health-endpoint requests, by status (a hung one is counted when it arrives, as 0).
    pub health: BTreeMap<u16, u64>,
    /// Requests other than health checks by "METHOD path" and status.
    pub by_route: BTreeMap<String, BTreeMap<u16, u64>>,
}

impl Served {
    /// All non-health requests.
    pub fn total(&self) -> u64 {
        self.by_status.values().sum()
    }

    /// Non-health requests answered with a 5xx.
    pub fn errors(&self) -> u64 {
        self.by_status.range(500..600).map(|(_, n)| n).sum()
    }
}

/// Settings of an [`Upstream`].
#[derive(Debug, Clone)]
pub struct UpstreamOptions {
    /// Name, sent back in the `x-upstream` header (e.g. "be").
    pub name: String,
    /// Port on 127.0.0.1; 0 picks a free one (kept across stop/start).
    pub port: u16,
    /// Path of the health endpoint.
    pub health_path: String,
    /// Runtime worker threads (0 = one thread, the cheapest).
    pub workers: usize,
    /// Count requests per route in [`Served::by_route`] (off saves work in benchmarks).
    pub count_routes: bool,
}

impl UpstreamOptions {
    /// An upstream called `name` with its health endpoint at `health_path`, on a free port.
    pub fn new(name: &str, health_path: &str) -> UpstreamOptions {
        UpstreamOptions { name: name.into(), port: 0, health_path: health_path.into(), workers: 0, count_routes: true }
    }
}

struct Control {
    plan: FailurePlan,
    matched: u64,
    health: Health,
    served: Served,
}

struct Shared {
    control: Mutex<Control>,
    health_path: String,
    name: HeaderValue,
    count_routes: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Control> {
        self.control.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A scripted upstream service; stopped when dropped.
pub struct Upstream {
    shared: Arc<Shared>,
    addr: SocketAddr,
    workers: usize,
    server: Option<ServerThread>,
}

impl Upstream {
    /// Starts an upstream.
    pub fn launch(options: UpstreamOptions) -> Result<Upstream, String> {
        let name = HeaderValue::from_str(&options.name).map_err(|_| format!("bad upstream name {:?}", options.name))?;
        let shared = Arc::new(Shared {
            control: Mutex::new(Control {
                plan: FailurePlan::default(),
                matched: 0,
                health: Health::Up,
                served: Served::default(),
            }),
            health_path: options.health_path,
            name,
            count_routes: options.count_routes,
        });
        let addr = SocketAddr::from(([127, 0, 0, 1], options.port));
        let mut upstream = Upstream { shared, addr, workers: options.workers, server: None };
        upstream.start()?;
        Ok(upstream)
    }

    /// (Re)starts serving on the same port. A no-op when running.
    pub fn start(&mut self) -> Result<(), String> {
        if self.server.is_some() {
            return Ok(());
        }
        let shared = Arc::clone(&self.shared);
        let server =
            ServerThread::start("upstream", self.addr, self.workers, move |req| handle(Arc::clone(&shared), req))?;
        self.addr = server.addr();
        self.server = Some(server);
        Ok(())
    }

    /// Stops serving: open connections are closed and new ones refused until [`Upstream::start`].
    pub fn stop(&mut self) {
        if let Some(mut server) = self.server.take() {
            server.stop();
        }
    }

    /// Whether it is serving.
    pub fn is_running(&self) -> bool {
        self.server.is_some()
    }

    /// The listening address (also while stopped).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://127.0.0.1:PORT`
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Replaces the failure plan; the deterministic sequence starts over.
    pub fn set_failures(&self, plan: FailurePlan) {
        let mut control = self.shared.lock();
        control.plan = plan;
        control.matched = 0;
    }

    /// Makes `per_mille` of all requests (or of those matching `only`, e.g. "GET /server/users/:id/orders")
    /// fail with `status`.
    pub fn fail(&self, per_mille: u32, status: u16, only: &[&str]) -> Result<(), String> {
        let only = only.iter().map(|s| RouteMatch::parse(s)).collect::<Result<Vec<_>, _>>()?;
        if per_mille > 1000 {
            return Err(format!("failure rate {per_mille} per mille is above 1000"));
        }
        if !(100..=599).contains(&status) {
            return Err(format!("status {status} is not an HTTP status"));
        }
        self.set_failures(FailurePlan { per_mille, status, only });
        Ok(())
    }

    /// Sets how the health endpoint answers.
    pub fn set_health(&self, health: Health) {
        self.shared.lock().health = health;
    }

    /// What it answered so far.
    pub fn served(&self) -> Served {
        self.shared.lock().served.clone()
    }

    /// Forgets what it answered so far.
    pub fn reset_served(&self) {
        self.shared.lock().served = Served::default();
    }
}

const OK_BODY: &[u8] = b"ok\n";
const ERROR_BODY: &[u8] = b"{\"error\":\"injected failure\"}\n";

async fn handle(shared: Arc<Shared>, req: hyper::Request<hyper::body::Incoming>) -> serve::Reply {
    let path = req.uri().path();
    if path == shared.health_path {
        let health = {
            let mut control = shared.lock();
            let health = control.health;
            let status = match health {
                Health::Up | Health::Slow(_) => 200,
                Health::Failing(s) => s,
                Health::Hang => 0,
            };
            *control.served.health.entry(status).or_default() += 1;
            health
        };
        return match health {
            Health::Up => reply(&shared, 200, b"{\"status\":\"UP\"}", "application/json"),
            Health::Failing(status) => reply(&shared, status, b"{\"status\":\"DOWN\"}", "application/json"),
            Health::Slow(delay) => {
                tokio::time::sleep(delay).await;
                reply(&shared, 200, b"{\"status\":\"UP\"}", "application/json")
            }
            Health::Hang => std::future::pending().await,
        };
    }
    let method = req.method().as_str();
    let status = {
        let mut control = shared.lock();
        let status = if control.plan.per_mille > 0 && control.plan.applies(method, path) {
            control.matched += 1;
            if control.plan.fails(control.matched) { control.plan.status } else { 200 }
        } else {
            200
        };
        *control.served.by_status.entry(status).or_default() += 1;
        if shared.count_routes {
            let key = format!("{method} {path}");
            *control.served.by_route.entry(key).or_default().entry(status).or_default() += 1;
        }
        status
    };
    if status == 200 {
        reply(&shared, 200, OK_BODY, "text/plain")
    } else {
        reply(&shared, status, ERROR_BODY, "application/json")
    }
}

fn reply(shared: &Shared, status: u16, body: &'static [u8], content_type: &'static str) -> serve::Reply {
    let mut resp = Response::new(Full::new(Bytes::from_static(body)));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp.headers_mut().insert("x-upstream", shared.name.clone());
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_exact_per_thousand_and_evenly_spread() {
        for r in [0, 1, 30, 70, 120, 150, 999, 1000] {
            let plan = FailurePlan { per_mille: r, ..FailurePlan::default() };
            let fails = (1..=1000).filter(|&k| plan.fails(k)).count() as u32;
            assert_eq!(fails, r, "rate {r}");
            // Any 100 consecutive requests hold r/10 failures, give or take one.
            for start in [1u64, 250, 901] {
                let n = (start..start + 100).filter(|&k| plan.fails(k)).count() as i64;
                assert!((n - i64::from(r) / 10).abs() <= 1, "rate {r} from {start}: {n}");
            }
        }
        let seven = FailurePlan { per_mille: 70, ..FailurePlan::default() };
        assert_eq!((1..=200).filter(|&k| seven.fails(k)).count(), 14);
        assert!(!seven.fails(0));
    }

    #[test]
    fn route_patterns() {
        let orders = RouteMatch::parse("GET /server/users/:id/orders").expect("parse");
        assert!(orders.matches("GET", "/server/users/42/orders"));
        assert!(orders.matches("get", "/server/users/42/orders/7"));
        assert!(!orders.matches("POST", "/server/users/42/orders"));
        assert!(!orders.matches("GET", "/server/users/42"));
        assert!(!orders.matches("GET", "/server/items/42/orders"));
        let ai = RouteMatch::parse("/ai/").expect("parse");
        assert!(ai.matches("POST", "/ai/chat"));
        assert!(ai.matches("GET", "/ai"));
        assert!(!ai.matches("GET", "/api/x"));
        assert!(RouteMatch::parse("server/x").is_err());
        let plan = FailurePlan { per_mille: 1000, status: 503, only: vec![ai] };
        assert!(plan.applies("GET", "/ai/x") && !plan.applies("GET", "/server/x"));
    }
}
