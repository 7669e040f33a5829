//! Collector cost: a fleet of simulated proxies (`flushgen`) flushing to the real collector binary pinned to
//! one CPU. First the nominal load (100 proxies × 50 services × 20 routes every 5 s: 20 flushes/s): collector
//! CPU per flush, flush latency, peak RSS. Then the flush rate doubles step by step (the same fleet flushing
//! more often) until the collector falls behind; the largest rate it sustained is reported.

use crate::collector::{Collector, CollectorSpec, TOKEN};
use crate::flushgen::{Growth, SimProxy};
use crate::procfs;
use crate::stats::quantile;
use bytes::Bytes;
use faultline_tests::discord::FakeDiscord;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde::Serialize;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Settings of the collector benchmark.
#[derive(Debug, Clone, Serialize)]
pub struct LoadPlan {
    pub proxies: usize,
    pub services: usize,
    pub routes: usize,
    /// The filter's default flush interval.
    pub interval: Duration,
    /// How long the nominal load runs.
    pub nominal: Duration,
    /// Duration of each step of the rising rate.
    pub step: Duration,
    /// First rate of the ramp, flushes per second; doubled each step.
    pub ramp_from: f64,
    /// The ramp stops here even if the collector keeps up.
    pub ramp_max: f64,
    pub collector_cpus: String,
}

impl LoadPlan {
    /// Full (60 s nominal, 10 s steps: about 3 minutes) or quick (20 s, 5 s steps).
    pub fn new(quick: bool, collector_cpus: String) -> LoadPlan {
        LoadPlan {
            proxies: 100,
            services: 50,
            routes: 20,
            interval: Duration::from_secs(5),
            nominal: Duration::from_secs(if quick { 20 } else { 60 }),
            step: Duration::from_secs(if quick { 5 } else { 10 }),
            ramp_from: 40.0,
            ramp_max: 5120.0,
            collector_cpus,
        }
    }

    /// Flushes per second at the nominal load.
    pub fn nominal_rate(&self) -> f64 {
        self.proxies as f64 / self.interval.as_secs_f64()
    }
}

/// One load level, measured.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// Offered flushes per second.
    pub offered: f64,
    pub seconds: f64,
    pub sent: u64,
    /// Answered 200.
    pub accepted: u64,
    /// Any other answer or none.
    pub failed: u64,
    /// Accepted per second.
    pub achieved: f64,
    pub latency_p50_ms: f64,
    pub latency_p99_ms: f64,
    pub latency_max_ms: f64,
    /// How late the last flushes were sent against their schedule (a proxy waits for its previous answer).
    pub lateness_p99_ms: f64,
    /// Collector CPU over the step, as a share of one CPU.
    pub collector_cpu_share: f64,
    pub cpu_ms_per_flush: f64,
    /// This process's CPU share (the load generator), to show it was not the limit.
    pub generator_cpu_share: f64,
    /// Sustained: nothing failed, ≥ 97% of the offered rate accepted (over the wall time until the last
    /// answer), and sends on schedule (p99 less than 100 ms late): the collector is not building a backlog.
    pub kept_up: bool,
}

/// Everything the collector benchmark measured.
#[derive(Debug, Clone, Serialize)]
pub struct LoadResult {
    pub plan: LoadPlan,
    pub body_bytes: usize,
    pub decode: DecodeCost,
    pub nominal: Step,
    /// Collector CPU share with no flush arriving, right after the nominal load.
    pub idle_cpu_share: f64,
    /// Peak RSS (VmHWM) at the end of the nominal load.
    pub peak_rss_mib_nominal: f64,
    pub peak_rss_mib: f64,
    pub ramp: Vec<Step>,
    pub max_sustained: Option<f64>,
}

/// What decoding one flush body costs in this process, without any collector around it: the floor set by
/// the format itself (milliseconds per flush, median of repeated runs).
#[derive(Debug, Clone, Serialize)]
pub struct DecodeCost {
    /// `serde_json::from_slice::<Flush>` alone.
    pub json_ms: f64,
    /// `Flush::validate` alone (bounds, duplicates, sums).
    pub validate_ms: f64,
}

/// Times decoding and validating `body` (`rounds` batches of 20).
pub fn decode_cost(body: &[u8], rounds: usize) -> Result<DecodeCost, String> {
    let mut json = Vec::new();
    let mut validate = Vec::new();
    for _ in 0..rounds.max(1) {
        let start = Instant::now();
        let mut parsed = Vec::with_capacity(20);
        for _ in 0..20 {
            parsed.push(serde_json::from_slice::<faultline_flush::Flush>(body).map_err(|e| e.to_string())?);
        }
        json.push(start.elapsed().as_secs_f64() * 1000.0 / 20.0);
        let start = Instant::now();
        for f in &parsed {
            f.validate().map_err(|e| e.to_string())?;
        }
        validate.push(start.elapsed().as_secs_f64() * 1000.0 / 20.0);
    }
    let median = |v: &[f64]| crate::stats::Spread::of(v).map(|s| s.median).unwrap_or(f64::NAN);
    Ok(DecodeCost { json_ms: median(&json), validate_ms: median(&validate) })
}

/// Runs the collector benchmark (progress on stderr).
pub fn run(plan: &LoadPlan, workdir: &Path) -> Result<LoadResult, String> {
    let discord = FakeDiscord::start()?;
    let collector = Collector::start(
        &CollectorSpec {
            window: Duration::from_secs(300),
            bucket: Duration::from_secs(5),
            webhooks: vec![("default".into(), discord.webhook_url(1, "bench"))],
            services: Vec::new(),
            max_proxies: plan.proxies.max(64) * 2,
        },
        workdir,
    )?;
    procfs::pin(collector.pid(), &plan.collector_cpus).map_err(|e| e.to_string())?;
    let boot_ms = now_ms();
    let fleet: Vec<Arc<Mutex<SimProxy>>> = (0..plan.proxies)
        .map(|i| Arc::new(Mutex::new(SimProxy::new(i, plan.services, plan.routes, boot_ms, Growth::default()))))
        .collect();
    let sample = fleet.first().map(|p| lock(p).clone().next_body(boot_ms)).unwrap_or_default();
    let body_bytes = sample.len();
    let decode = decode_cost(&sample, 25)?;
    eprintln!(
        "[collector] decoding one flush here: JSON {:.3} ms + validation {:.3} ms",
        decode.json_ms, decode.validate_ms
    );
    eprintln!(
        "[collector] {} proxies x {} services x {} routes, {body_bytes} bytes per flush",
        plan.proxies, plan.services, plan.routes
    );

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    let nominal =
        runtime.block_on(step(&fleet, collector.addr(), collector.pid(), plan.nominal_rate(), plan.nominal))?;
    log_step("nominal", &nominal);
    let (_, peak_nominal) = procfs::rss(collector.pid()).map_err(|e| e.to_string())?;
    // What the collector spends with its state loaded and no flush arriving (the 1 s evaluation, health, ...).
    let idle_for = Duration::from_secs(5);
    // After the next 1 s tick has written what the last flushes changed.
    std::thread::sleep(Duration::from_millis(1500));
    let cpu0 = procfs::cpu_time(collector.pid()).map_err(|e| e.to_string())?;
    std::thread::sleep(idle_for);
    let idle = procfs::cpu_time(collector.pid()).map_err(|e| e.to_string())?.saturating_sub(cpu0);
    let idle_cpu_share = idle.as_secs_f64() / idle_for.as_secs_f64();
    eprintln!("[collector] idle with the nominal state loaded: {:.1}% of a core", idle_cpu_share * 100.0);
    let mut ramp = Vec::new();
    let mut rate = plan.ramp_from;
    let mut last_ok: Option<f64> = None;
    let mut first_bad: Option<f64> = None;
    while rate <= plan.ramp_max {
        let s = runtime.block_on(step(&fleet, collector.addr(), collector.pid(), rate, plan.step))?;
        log_step("ramp", &s);
        let ok = s.kept_up;
        ramp.push(s);
        if ok {
            last_ok = Some(rate);
            rate *= 2.0;
        } else {
            first_bad = Some(rate);
            break;
        }
        // Let the collector drain between steps.
        std::thread::sleep(Duration::from_secs(1));
    }
    // Two halvings of the gap between the last rate kept up with and the first that was not.
    for _ in 0..2 {
        let (Some(lo), Some(hi)) = (last_ok, first_bad) else { break };
        std::thread::sleep(Duration::from_secs(2));
        let mid = ((lo + hi) / 2.0).round();
        let s = runtime.block_on(step(&fleet, collector.addr(), collector.pid(), mid, plan.step))?;
        log_step("bisect", &s);
        if s.kept_up {
            last_ok = Some(mid)
        } else {
            first_bad = Some(mid)
        }
        ramp.push(s);
    }
    let (_, peak) = procfs::rss(collector.pid()).map_err(|e| e.to_string())?;
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    Ok(LoadResult {
        plan: plan.clone(),
        body_bytes,
        decode,
        nominal,
        peak_rss_mib_nominal: mib(peak_nominal),
        idle_cpu_share,
        peak_rss_mib: mib(peak),
        ramp,
        max_sustained: last_ok,
    })
}

fn log_step(what: &str, s: &Step) {
    eprintln!(
        "[collector] {what} {:.0}/s: achieved {:.1}/s, p99 {:.1} ms, CPU {:.0}% of a core, \
         {:.3} ms/flush, generator {:.0}%{}",
        s.offered,
        s.achieved,
        s.latency_p99_ms,
        s.collector_cpu_share * 100.0,
        s.cpu_ms_per_flush,
        s.generator_cpu_share * 100.0,
        if s.kept_up { "" } else { "  <- fell behind" }
    );
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

#[derive(Default)]
struct Tally {
    sent: u64,
    accepted: u64,
    failed: u64,
    latencies_ms: Vec<f64>,
    lateness_ms: Vec<f64>,
}

/// Offers `rate` flushes per second for `duration`: every proxy on its own keep-alive connection, sending at
/// evenly staggered times and waiting for each answer before its next flush.
async fn step(
    fleet: &[Arc<Mutex<SimProxy>>],
    addr: SocketAddr,
    pid: u32,
    rate: f64,
    duration: Duration,
) -> Result<Step, String> {
    let n = fleet.len().max(1);
    let every = Duration::from_secs_f64(n as f64 / rate);
    let begin = Instant::now() + Duration::from_millis(50);
    let end = begin + duration;
    let tally = Arc::new(Mutex::new(Tally::default()));
    let cpu0 = procfs::cpu_time(pid).map_err(|e| e.to_string())?;
    let me0 = procfs::cpu_time(std::process::id()).map_err(|e| e.to_string())?;
    let wall0 = begin;
    let mut tasks = Vec::new();
    for (i, proxy) in fleet.iter().enumerate() {
        let (proxy, tally) = (Arc::clone(proxy), Arc::clone(&tally));
        let first = begin + every.mul_f64(i as f64 / n as f64);
        tasks.push(tokio::spawn(async move {
            let mut conn: Option<SendRequest<Full<Bytes>>> = None;
            let mut k = 0u32;
            loop {
                let due = first + every * k;
                if due >= end {
                    break;
                }
                tokio::time::sleep_until(due.into()).await;
                let body = lock(&proxy).next_body(now_ms());
                let sent = Instant::now();
                let ok = post(&mut conn, addr, body).await;
                let took = sent.elapsed();
                let mut t = lock(&tally);
                t.sent += 1;
                t.lateness_ms.push(sent.duration_since(due).as_secs_f64() * 1000.0);
                if ok {
                    t.accepted += 1;
                    t.latencies_ms.push(took.as_secs_f64() * 1000.0);
                } else {
                    t.failed += 1;
                    conn = None;
                }
                k += 1;
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let wall = Instant::now().saturating_duration_since(wall0).as_secs_f64();
    let cpu = procfs::cpu_time(pid).map_err(|e| e.to_string())?.saturating_sub(cpu0).as_secs_f64();
    let me = procfs::cpu_time(std::process::id()).map_err(|e| e.to_string())?.saturating_sub(me0).as_secs_f64();
    let t = lock(&tally);
    let seconds = duration.as_secs_f64();
    // Over the wall time until the last answer: a backlog stretches it beyond the step.
    let achieved = t.accepted as f64 / wall.max(seconds);
    let q = |v: &[f64], x: f64| quantile(v, x).unwrap_or(f64::NAN);
    let p99 = q(&t.latencies_ms, 0.99);
    // A proxy sends its next flush only after the previous answer: late sends mean a growing backlog.
    let lateness_p99 = q(&t.lateness_ms, 0.99);
    let kept_up = t.failed == 0 && achieved >= 0.97 * rate && lateness_p99 < 100.0;
    Ok(Step {
        offered: rate,
        seconds,
        sent: t.sent,
        accepted: t.accepted,
        failed: t.failed,
        achieved,
        latency_p50_ms: q(&t.latencies_ms, 0.5),
        latency_p99_ms: p99,
        latency_max_ms: q(&t.latencies_ms, 1.0),
        lateness_p99_ms: lateness_p99,
        collector_cpu_share: cpu / wall,
        cpu_ms_per_flush: if t.accepted == 0 { f64::NAN } else { cpu * 1000.0 / t.accepted as f64 },
        generator_cpu_share: me / wall,
        kept_up,
    })
}

/// POSTs one flush on the proxy's connection (opened as needed); true when answered 200.
async fn post(conn: &mut Option<SendRequest<Full<Bytes>>>, addr: SocketAddr, body: Vec<u8>) -> bool {
    let reusable = match conn.as_mut() {
        Some(c) => c.ready().await.is_ok(),
        None => false,
    };
    if !reusable {
        *conn = connect(addr).await;
    }
    let Some(sender) = conn.as_mut() else { return false };
    let Ok(req) = hyper::Request::builder()
        .method("POST")
        .uri(faultline_flush::INGEST_PATH)
        .header(hyper::header::HOST, addr.to_string())
        .header(hyper::header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body)))
    else {
        return false;
    };
    let fut = async {
        let resp = sender.send_request(req).await.ok()?;
        let status = resp.status().as_u16();
        resp.into_body().collect().await.ok()?;
        Some(status)
    };
    matches!(tokio::time::timeout(Duration::from_secs(30), fut).await, Ok(Some(200)))
}

async fn connect(addr: SocketAddr) -> Option<SendRequest<Full<Bytes>>> {
    let stream = tokio::net::TcpStream::connect(addr).await.ok()?;
    let _ = stream.set_nodelay(true);
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.ok()?;
    tokio::spawn(connection);
    let mut sender = sender;
    sender.ready().await.ok()?;
    Some(sender)
}

/// The collector section of BENCHMARKS.md.
pub fn markdown(r: &LoadResult) -> String {
    use std::fmt::Write as _;
    let p = &r.plan;
    let n = &r.nominal;
    let mut t = String::new();
    let _ = writeln!(
        t,
        "{} simulated proxies × {} services × {} failing routes (each flush {} KiB of JSON, every counter grown), \
         to the release collector pinned to CPU {} (the generator runs on the other CPU); window 5 min, bucket 5 s.\n",
        p.proxies,
        p.services,
        p.routes,
        r.body_bytes / 1024,
        p.collector_cpus
    );
    let _ = writeln!(t, "| figure | measured | target |");
    let _ = writeln!(t, "|---|---|---|");
    let _ = writeln!(
        t,
        "| CPU per flush at {:.0} flushes/s (every {} s), over {} s, all collector threads \
         | **{:.3} ms** | < 1 ms: {} |",
        n.offered,
        p.interval.as_secs(),
        n.seconds,
        n.cpu_ms_per_flush,
        crate::report::verdict(Some(n.cpu_ms_per_flush), 1.0, false)
    );
    let _ = writeln!(
        t,
        "| the same, without the collector's idle CPU ({:.2}% of a core with that state and no flushes) | {:.3} ms | |",
        r.idle_cpu_share * 100.0,
        (n.cpu_ms_per_flush - r.idle_cpu_share * 1000.0 / n.offered).max(0.0)
    );
    let _ = writeln!(
        t,
        "| of which the format alone: `serde_json` decode + `Flush::validate` of one body, measured in-process \
         | {:.3} + {:.3} ms | |",
        r.decode.json_ms, r.decode.validate_ms
    );
    let _ = writeln!(t, "| flush answered in (p50 / p99) | {:.1} / {:.1} ms | |", n.latency_p50_ms, n.latency_p99_ms);
    let _ = writeln!(
        t,
        "| peak RSS (VmHWM) under the nominal load | **{:.1} MiB** | < 50 MiB: {} |",
        r.peak_rss_mib_nominal,
        crate::report::verdict(Some(r.peak_rss_mib_nominal), 50.0, false)
    );
    let _ = writeln!(
        t,
        "| peak RSS over the whole run (the ramp keeps up to {} flushes in flight) | {:.1} MiB | |",
        p.proxies, r.peak_rss_mib
    );
    let _ = writeln!(
        t,
        "| largest flush rate sustained on one CPU | **{}** | |",
        r.max_sustained
            .map(|x| format!(
                "{x:.0} flushes/s ({:.0}× the nominal load)",
                x / p.proxies as f64 * p.interval.as_secs_f64()
            ))
            .unwrap_or_else(|| "below the first step".into())
    );
    let _ = writeln!(
        t,
        "\nRising rate ({} s per step; \"kept up\" = no failure, ≥ 97% of the offered rate accepted over the time \
         to the last answer, and sends on schedule: p99 less than 100 ms late, a proxy waiting for its previous \
         answer):\n",
        p.step.as_secs()
    );
    let _ = writeln!(
        t,
        "| offered /s | accepted /s | p50 ms | p99 ms | late p99 ms \
         | collector CPU | CPU ms / flush | generator CPU | kept up |"
    );
    let _ = writeln!(t, "|---|---|---|---|---|---|---|---|---|");
    for s in &r.ramp {
        let _ = writeln!(
            t,
            "| {:.0} | {:.1} | {:.1} | {:.1} | {:.0} | {:.0}% | {:.3} | {:.0}% | {} |",
            s.offered,
            s.achieved,
            s.latency_p50_ms,
            s.latency_p99_ms,
            s.lateness_p99_ms,
            s.collector_cpu_share * 100.0,
            s.cpu_ms_per_flush,
            s.generator_cpu_share * 100.0,
            if s.kept_up { "yes" } else { "no" }
        );
    }
    t.push('\n');
    t
}
