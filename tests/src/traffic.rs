//! A traffic driver: sends requests through a base URL (usually the proxy) on K keep-alive
//! connections, at a fixed total rate or as fast as possible, for a count or a duration, and reports
//! exactly what was sent and what came back by status, with client-side failures counted apart. The
//! end-to-end tests compare these counts with the collector's.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;

/// One request to send: method and path (with query, if any).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub method: String,
    pub path: String,
}

impl Target {
    /// Parses "GET /server/users/1/orders" (a bare "/path" means GET).
    pub fn parse(spec: &str) -> Result<Target, String> {
        let spec = spec.trim();
        let (method, path) = match spec.split_once(' ') {
            Some((m, p)) => (m.trim().to_ascii_uppercase(), p.trim().to_string()),
            None => ("GET".to_string(), spec.to_string()),
        };
        if !path.starts_with('/') {
            return Err(format!("target {spec:?}: the path must start with '/'"));
        }
        hyper::Method::from_bytes(method.as_bytes()).map_err(|_| format!("target {spec:?}: bad method"))?;
        Ok(Target { method, path })
    }
}

/// Which request the n-th one (0-based) is.
#[derive(Clone)]
pub enum Targets {
    /// Request n is `list[n % len]` (repeat an entry to weight it).
    Cycle(Vec<Target>),
    /// Request n is `f(n)`.
    Generated(Arc<dyn Fn(u64) -> Target + Send + Sync>),
}

impl Targets {
    /// A cycle over specs like "GET /server/users/1/orders".
    pub fn cycle(specs: &[&str]) -> Result<Targets, String> {
        if specs.is_empty() {
            return Err("no targets".into());
        }
        Ok(Targets::Cycle(specs.iter().map(|s| Target::parse(s)).collect::<Result<_, _>>()?))
    }

    fn get(&self, n: u64) -> Target {
        match self {
            Targets::Cycle(list) => {
                let len = list.len().max(1) as u64;
                list.get((n % len) as usize).cloned().unwrap_or(Target { method: "GET".into(), path: "/".into() })
            }
            Targets::Generated(f) => f(n),
        }
    }
}

/// When the driver stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// After this many requests.
    Count(u64),
    /// After this long (with a rate: exactly rate × duration requests).
    For(Duration),
    /// When [`TrafficHandle::stop`] is called.
    WhenStopped,
}

/// What to send, where, how fast, and for how long.
#[derive(Clone)]
pub struct TrafficPlan {
    /// `http://127.0.0.1:PORT`
    pub base_url: String,
    pub targets: Targets,
    /// Concurrent keep-alive connections (at least 1).
    pub connections: usize,
    /// Total requests per second over all connections; `None` = as fast as possible.
    pub rate: Option<f64>,
    pub stop: Stop,
    /// Time allowed for one request (connect, answer and body).
    pub timeout: Duration,
    /// Extra headers on every request (e.g. a Host for the proxy's virtual host).
    pub headers: Vec<(String, String)>,
    /// Keep counts per "METHOD path" in the report (off for benchmarks with many distinct paths).
    pub count_paths: bool,
    /// Record each answered request's latency (send to end of body) for [`TrafficReport::latency`].
    pub record_latency: bool,
    /// Runtime threads of the driver (0 = one thread; more when the driver itself would limit a benchmark).
    pub threads: usize,
}

impl TrafficPlan {
    /// `count` requests cycling over `targets` on one connection, as fast as possible.
    pub fn new(base_url: &str, targets: Targets, stop: Stop) -> TrafficPlan {
        TrafficPlan {
            base_url: base_url.trim_end_matches('/').to_string(),
            targets,
            connections: 1,
            rate: None,
            stop,
            timeout: Duration::from_secs(30),
            headers: Vec::new(),
            count_paths: true,
            record_latency: false,
            threads: 0,
        }
    }
}

/// Exact counts of one run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrafficReport {
    /// Requests attempted (= answered + failed).
    pub sent: u64,
    /// Answers by status.
    pub by_status: BTreeMap<u16, u64>,
    /// Answers by "METHOD path" and status (when the plan counts paths).
    pub by_path: BTreeMap<String, BTreeMap<u16, u64>>,
    /// Requests that got no answer, by cause ("connect", "timeout", "io").
    pub failures: BTreeMap<String, u64>,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// Latencies of answered requests in microseconds, unordered (when the plan records them).
    pub latencies_us: Vec<u32>,
}

impl TrafficReport {
    /// Requests that got an HTTP answer.
    pub fn answered(&self) -> u64 {
        self.by_status.values().sum()
    }

    /// Answers with a 5xx status.
    pub fn server_errors(&self) -> u64 {
        self.by_status.range(500..600).map(|(_, n)| n).sum()
    }

    /// Requests that got no answer.
    pub fn failed(&self) -> u64 {
        self.failures.values().sum()
    }

    /// The `q`-quantile (0.0..=1.0, e.g. 0.99) of the recorded latencies (nearest rank).
    pub fn latency(&self, q: f64) -> Option<Duration> {
        let mut sorted = self.latencies_us.clone();
        sorted.sort_unstable();
        quantile(&sorted, q).map(|us| Duration::from_micros(u64::from(us)))
    }

    fn merge(&mut self, other: &TrafficReport) {
        self.sent += other.sent;
        self.latencies_us.extend_from_slice(&other.latencies_us);
        for (s, n) in &other.by_status {
            *self.by_status.entry(*s).or_default() += n;
        }
        for (p, statuses) in &other.by_path {
            let mine = self.by_path.entry(p.clone()).or_default();
            for (s, n) in statuses {
                *mine.entry(*s).or_default() += n;
            }
        }
        for (k, n) in &other.failures {
            *self.failures.entry(k.clone()).or_default() += n;
        }
    }
}

/// Runs `plan` to completion on its own thread and runtime (callable from sync or async code).
pub fn run(plan: &TrafficPlan) -> Result<TrafficReport, String> {
    if plan.stop == Stop::WhenStopped {
        return Err("Stop::WhenStopped needs spawn(), not run()".into());
    }
    spawn(plan)?.join()
}

/// Traffic running in the background.
pub struct TrafficHandle {
    stop: Arc<AtomicBool>,
    workers: Vec<Arc<Mutex<TrafficReport>>>,
    started: Instant,
    thread: Option<JoinHandle<Result<Duration, String>>>,
}

impl TrafficHandle {
    /// Counts so far.
    pub fn snapshot(&self) -> TrafficReport {
        let mut total = TrafficReport::default();
        for w in &self.workers {
            total.merge(&lock(w));
        }
        total.elapsed = self.started.elapsed();
        total
    }

    /// Stops sending (requests in flight finish) and returns the final counts.
    pub fn stop(mut self) -> Result<TrafficReport, String> {
        self.stop.store(true, Ordering::SeqCst);
        self.finish()
    }

    /// Waits for the plan's own end (a count or a duration).
    pub fn join(mut self) -> Result<TrafficReport, String> {
        self.finish()
    }

    fn finish(&mut self) -> Result<TrafficReport, String> {
        let elapsed = match self.thread.take().map(JoinHandle::join) {
            Some(Ok(result)) => result?,
            Some(Err(_)) => return Err("traffic thread panicked".into()),
            None => self.started.elapsed(),
        };
        let mut report = self.snapshot();
        report.elapsed = elapsed;
        Ok(report)
    }
}

impl Drop for TrafficHandle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn lock(m: &Mutex<TrafficReport>) -> MutexGuard<'_, TrafficReport> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Starts `plan` in the background.
pub fn spawn(plan: &TrafficPlan) -> Result<TrafficHandle, String> {
    let authority = plan
        .base_url
        .strip_prefix("http://")
        .ok_or_else(|| format!("base URL {:?} must start with http://", plan.base_url))?
        .trim_end_matches('/')
        .to_string();
    if authority.is_empty() || authority.contains('/') {
        return Err(format!("base URL {:?} must be http://HOST:PORT", plan.base_url));
    }
    if let Some(rate) = plan.rate
        && !(rate.is_finite() && rate > 0.0)
    {
        return Err(format!("rate {rate} must be a positive number of requests per second"));
    }
    let connections = plan.connections.max(1);
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..connections).map(|_| Arc::new(Mutex::new(TrafficReport::default()))).collect();
    let started = Instant::now();
    let shared = Arc::new(Run { plan: plan.clone(), authority, next: AtomicU64::new(0), stop: Arc::clone(&stop) });
    let reports = workers.clone();
    let thread = std::thread::Builder::new()
        .name("traffic".into())
        .spawn(move || -> Result<Duration, String> {
            let runtime = if shared.plan.threads == 0 {
                tokio::runtime::Builder::new_current_thread().enable_all().build()
            } else {
                tokio::runtime::Builder::new_multi_thread().worker_threads(shared.plan.threads).enable_all().build()
            }
            .map_err(|e| format!("tokio runtime: {e}"))?;
            runtime.block_on(async move {
                let addr = tokio::net::lookup_host(shared.authority.as_str())
                    .await
                    .map_err(|e| format!("resolving {}: {e}", shared.authority))?
                    .next()
                    .ok_or_else(|| format!("{} resolves to nothing", shared.authority))?;
                let begin = Instant::now();
                let tasks: Vec<_> = reports
                    .into_iter()
                    .map(|report| tokio::spawn(worker(Arc::clone(&shared), addr, begin, report)))
                    .collect();
                for t in tasks {
                    let _ = t.await;
                }
                Ok(begin.elapsed())
            })
        })
        .map_err(|e| format!("spawning traffic thread: {e}"))?;
    Ok(TrafficHandle { stop, workers, started, thread: Some(thread) })
}

struct Run {
    plan: TrafficPlan,
    authority: String,
    next: AtomicU64,
    stop: Arc<AtomicBool>,
}

impl Run {
    /// The next request's index and when to send it, or `None` when the run is over.
    fn next_slot(&self, begin: Instant) -> Option<(u64, Option<Instant>)> {
        if self.stop.load(Ordering::SeqCst) {
            return None;
        }
        let n = self.next.fetch_add(1, Ordering::SeqCst);
        let at = self.plan.rate.map(|rate| begin + Duration::from_secs_f64(n as f64 / rate));
        match self.plan.stop {
            Stop::Count(count) if n >= count => None,
            Stop::For(d) => {
                let when = at.unwrap_or_else(Instant::now);
                if when >= begin + d { None } else { Some((n, at)) }
            }
            _ => Some((n, at)),
        }
    }
}

async fn worker(run: Arc<Run>, addr: SocketAddr, begin: Instant, report: Arc<Mutex<TrafficReport>>) {
    let mut conn: Option<SendRequest<Full<Bytes>>> = None;
    while let Some((n, at)) = run.next_slot(begin) {
        if let Some(at) = at {
            tokio::time::sleep_until(at.into()).await;
            if run.stop.load(Ordering::SeqCst) {
                break;
            }
        }
        let target = run.plan.targets.get(n);
        let began = Instant::now();
        let outcome = tokio::time::timeout(run.plan.timeout, send(&run, addr, &mut conn, &target)).await;
        let took = began.elapsed();
        let mut r = lock(&report);
        r.sent += 1;
        match outcome {
            Ok(Ok(status)) => {
                if run.plan.record_latency {
                    r.latencies_us.push(u32::try_from(took.as_micros()).unwrap_or(u32::MAX));
                }
                *r.by_status.entry(status).or_default() += 1;
                if run.plan.count_paths {
                    let key = format!("{} {}", target.method, target.path);
                    *r.by_path.entry(key).or_default().entry(status).or_default() += 1;
                }
            }
            Ok(Err(cause)) => {
                conn = None;
                *r.failures.entry(cause.to_string()).or_default() += 1;
            }
            Err(_) => {
                conn = None;
                *r.failures.entry("timeout".into()).or_default() += 1;
            }
        }
    }
}

/// Sends one request on the worker's connection (opened or reopened as needed); returns the status
/// or the failure cause.
async fn send(
    run: &Run,
    addr: SocketAddr,
    conn: &mut Option<SendRequest<Full<Bytes>>>,
    target: &Target,
) -> Result<u16, &'static str> {
    // A kept-alive connection the server closed meanwhile is replaced before the request is written.
    let reusable = match conn.as_mut() {
        Some(c) => c.ready().await.is_ok(),
        None => false,
    };
    if !reusable {
        *conn = None;
        let mut fresh = connect(addr).await.ok_or("connect")?;
        fresh.ready().await.map_err(|_| "connect")?;
        *conn = Some(fresh);
    }
    let Some(sender) = conn.as_mut() else { return Err("connect") };
    let mut builder = hyper::Request::builder()
        .method(target.method.as_str())
        .uri(target.path.as_str())
        .header(hyper::header::HOST, run.authority.as_str());
    for (name, value) in &run.plan.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    let request = builder.body(Full::new(Bytes::new())).map_err(|_| "bad request")?;
    let response = sender.send_request(request).await.map_err(|_| "io")?;
    let status = response.status().as_u16();
    response.into_body().collect().await.map_err(|_| "io")?;
    Ok(status)
}

async fn connect(addr: SocketAddr) -> Option<SendRequest<Full<Bytes>>> {
    let stream = tokio::net::TcpStream::connect(addr).await.ok()?;
    let _ = stream.set_nodelay(true);
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.ok()?;
    tokio::spawn(connection);
    Some(sender)
}

/// Nearest-rank quantile of sorted values.
fn quantile(sorted: &[u32], q: f64) -> Option<u32> {
    if sorted.is_empty() || !(0.0..=1.0).contains(&q) {
        return None;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.saturating_sub(1)).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_quantiles() {
        let v: Vec<u32> = (1..=1000).collect();
        assert_eq!(quantile(&v, 0.5), Some(500));
        assert_eq!(quantile(&v, 0.99), Some(990));
        assert_eq!(quantile(&v, 0.999), Some(999));
        assert_eq!(quantile(&v, 1.0), Some(1000));
        assert_eq!(quantile(&v, 0.0), Some(1));
        assert_eq!(quantile(&[], 0.5), None);
        assert_eq!(quantile(&v, 1.5), None);
    }

    #[test]
    fn targets_parse_and_cycle() {
        let t = Targets::cycle(&["GET /a", "post /b?x=1", "/c"]).expect("parse");
        let got: Vec<Target> = (0..4).map(|n| t.get(n)).collect();
        assert_eq!(got[1], Target { method: "POST".into(), path: "/b?x=1".into() });
        assert_eq!(got[2], Target { method: "GET".into(), path: "/c".into() });
        assert_eq!(got[3], got[0]);
        assert!(Target::parse("GET a").is_err());
        assert!(Target::parse("G(T /a").is_err());
        assert!(Targets::cycle(&[]).is_err());
    }

    #[test]
    fn a_rate_for_a_duration_schedules_exactly_rate_times_duration() {
        let plan = TrafficPlan {
            rate: Some(50.0),
            ..TrafficPlan::new(
                "http://127.0.0.1:1",
                Targets::cycle(&["/"]).expect("t"),
                Stop::For(Duration::from_secs(2)),
            )
        };
        let run =
            Run { plan, authority: String::new(), next: AtomicU64::new(0), stop: Arc::new(AtomicBool::new(false)) };
        let begin = Instant::now();
        let mut slots = 0;
        while let Some((n, at)) = run.next_slot(begin) {
            assert_eq!(at, Some(begin + Duration::from_millis(20 * n)));
            slots += 1;
        }
        assert_eq!(slots, 100);
    }
}
