//! Filter overhead: one fast local upstream, four Envoys (no wasm, no-op wasm, Faultline, JSON access log)
//! started side by side on the same configuration, loaded in interleaved rounds (A B C D A B C D ...) by wrk.
//! Per run: requests/s, p50/p99/p99.9 latency and Envoy CPU seconds per 100k requests (utime + stime of the
//! Envoy process before and after). Envoy is pinned to its own CPUs where the machine allows it.

use crate::collector::{Collector, CollectorSpec, ServiceEntry, TOKEN};
use crate::procfs;
use crate::stats::{Spread, paired_ratios};
use crate::variants::{self, Variant};
use crate::wrk::{self, Load, WrkResult};
use faultline_tests::discord::FakeDiscord;
use faultline_tests::envoy::{self, Envoy, Layout, http_get};
use faultline_tests::process::wait_until;
use faultline_tests::traffic::{self, Stop, Targets, TrafficPlan};
use faultline_tests::upstream::{Upstream, UpstreamOptions};
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The path of the single-path runs (the `be` service, behind `/server/`).
pub const PATH: &str = "/server/users/7/orders";

/// One overhead run: which Envoy, what load, how many rounds.
#[derive(Debug, Clone, Serialize)]
pub struct OverheadPlan {
    /// Name in the report ("1 worker", "2 workers", "1 worker, 50% 5xx over 1,000 paths").
    pub name: String,
    pub concurrency: u32,
    pub rounds: u32,
    pub warmup: Duration,
    pub measure: Duration,
    pub connections: u32,
    pub wrk_threads: u32,
    /// `Some(n)`: requests cycle over n distinct paths.
    pub distinct_paths: Option<u32>,
    /// Failures per 1000 requests at the upstream (500s).
    pub error_per_mille: u32,
    /// CPUs Envoy is pinned to (`taskset` list); None: not pinned.
    pub envoy_cpus: Option<String>,
    /// Upstream runtime threads (0: one).
    pub upstream_workers: usize,
    /// The configurations compared, in round order.
    pub variants: Vec<Variant>,
}

/// One measured (round, variant).
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    pub round: u32,
    pub variant: Variant,
    pub wrk: WrkResult,
    pub rps: f64,
    /// Envoy CPU (all threads) during the measured run.
    pub cpu_s: f64,
    pub cpu_s_per_100k: f64,
}

/// Ratios of one variant against a baseline, paired by round.
#[derive(Debug, Clone, Serialize)]
pub struct Ratios {
    pub rps: Option<Spread>,
    pub cpu: Option<Spread>,
    pub p50: Option<Spread>,
    pub p99: Option<Spread>,
    pub p999: Option<Spread>,
}

/// A variant's figures over all rounds.
#[derive(Debug, Clone, Serialize)]
pub struct VariantSummary {
    pub variant: Variant,
    pub label: String,
    pub rps: Option<Spread>,
    pub p50_ms: Option<Spread>,
    pub p99_ms: Option<Spread>,
    pub p999_ms: Option<Spread>,
    pub cpu_s_per_100k: Option<Spread>,
    pub vs_noop: Ratios,
    pub vs_no_wasm: Ratios,
}

/// Evidence that the Faultline Envoy really counted and flushed during the run.
#[derive(Debug, Clone, Serialize)]
pub struct FaultlineCheck {
    /// Responses Envoy (c) sent on the edge listener since it started.
    pub envoy_responses: u64,
    /// Responses the collector counted for the service (all flushed in).
    pub collector_responses: u64,
    pub collector_5xx: u64,
    /// Flush calls Envoy (c) made to the collector's cluster.
    pub flushes: u64,
}

/// Everything an overhead run measured.
#[derive(Debug, Clone, Serialize)]
pub struct OverheadResult {
    pub plan: OverheadPlan,
    pub load_cpus: String,
    /// wrk straight at the upstream, same connections: the ceiling the proxy is compared under.
    pub upstream_direct: WrkResult,
    pub samples: Vec<Sample>,
    pub summary: Vec<VariantSummary>,
    pub faultline: Option<FaultlineCheck>,
    /// Bytes one request adds to (d)'s access log.
    pub access_log_bytes_per_request: Option<f64>,
}

/// Files the run needs.
#[derive(Debug, Clone)]
pub struct Artifacts {
    pub faultline_wasm: PathBuf,
    pub noop_wasm: PathBuf,
    pub workdir: PathBuf,
}

/// Runs one overhead plan; progress goes to stderr.
pub fn run(plan: &OverheadPlan, artifacts: &Artifacts) -> Result<OverheadResult, String> {
    let mut up_opts = UpstreamOptions::new("be", "/server/actuator/health");
    up_opts.count_routes = false;
    up_opts.workers = plan.upstream_workers;
    let upstream = Upstream::launch(up_opts)?;
    if plan.error_per_mille > 0 {
        upstream.fail(plan.error_per_mille, 500, &[])?;
    }
    let load = |url: String, duration: Duration| Load {
        url,
        threads: plan.wrk_threads,
        connections: plan.connections,
        duration,
        distinct_paths: plan.distinct_paths,
    };
    eprintln!("[overhead {}] upstream alone", plan.name);
    let upstream_direct =
        wrk::run(&load(format!("{}{PATH}", upstream.base_url()), plan.measure.min(Duration::from_secs(5))))
            .map_err(|e| e.to_string())?;
    eprintln!("[overhead {}] upstream alone: {:.0} req/s", plan.name, upstream_direct.rps());

    let discord = FakeDiscord::start()?;
    let collector = Collector::start(
        &CollectorSpec {
            window: Duration::from_secs(300),
            bucket: Duration::from_secs(5),
            webhooks: vec![("default".into(), discord.webhook_url(1, "bench"))],
            services: ["frontend", "be", "ai"]
                .iter()
                .map(|n| ServiceEntry { name: (*n).into(), health: None, webhook: None })
                .collect(),
            max_proxies: 16,
        },
        &artifacts.workdir,
    )?;
    let rendered = render(upstream.addr(), collector.addr(), &artifacts.faultline_wasm)?;
    let access_log = artifacts.workdir.join(format!("access-{}.log", std::process::id()));
    let mut envoys = BTreeMap::new();
    for &v in &plan.variants {
        let config = variants::config(&rendered, v, &artifacts.noop_wasm, &access_log)?;
        let mut e = Envoy::start(&config, plan.concurrency)?;
        let pid = e.process().pid();
        if let Some(cpus) = &plan.envoy_cpus {
            procfs::pin(pid, cpus).map_err(|e| e.to_string())?;
        }
        let (code, _) = http_get(e.listen_addr(), PATH)?;
        if code != 200 && !(plan.error_per_mille > 0 && code == 500) {
            return Err(format!("Envoy ({}) answered {code} to GET {PATH} through the upstream", v.letter()));
        }
        envoys.insert(v.letter(), (pid, e));
    }
    let mut samples = Vec::new();
    for round in 1..=plan.rounds {
        for &v in &plan.variants {
            let (pid, e) = envoys.get(&v.letter()).ok_or("missing Envoy")?;
            let (pid, url) = (*pid, e.url(PATH));
            wrk::run(&load(url.clone(), plan.warmup)).map_err(|e| e.to_string())?;
            let cpu0 = procfs::cpu_time(pid).map_err(|e| e.to_string())?;
            let result = wrk::run(&load(url, plan.measure)).map_err(|e| e.to_string())?;
            let cpu1 = procfs::cpu_time(pid).map_err(|e| e.to_string())?;
            let cpu_s = cpu1.saturating_sub(cpu0).as_secs_f64();
            let rps = result.rps();
            let per_100k = if result.requests == 0 { f64::NAN } else { cpu_s * 100_000.0 / result.requests as f64 };
            eprintln!(
                "[overhead {}] round {round} ({}): {rps:.0} req/s, p99 {:.2} ms, \
                 {per_100k:.2} CPU s/100k, socket errors {}",
                plan.name,
                v.letter(),
                result.p99_us as f64 / 1000.0,
                result.socket_errors()
            );
            samples.push(Sample { round, variant: v, wrk: result, rps, cpu_s, cpu_s_per_100k: per_100k });
            if v == Variant::AccessLog {
                truncate(&access_log)?;
            }
        }
    }

    let faultline = match envoys.get(&'c') {
        Some((_, e)) => Some(check_faultline(e, &collector)?),
        None => None,
    };
    let access_log_bytes_per_request = match envoys.get(&'d') {
        Some((_, e)) => Some(log_bytes_per_request(e, &access_log)?),
        None => None,
    };
    let _ = std::fs::remove_file(&access_log);
    Ok(OverheadResult {
        plan: plan.clone(),
        load_cpus: procfs::own_cpus(),
        upstream_direct,
        summary: summarize(&samples),
        samples,
        faultline,
        access_log_bytes_per_request,
    })
}

/// The shipped configuration on loopback: every service cluster to the one upstream, the filter flushing
/// to the collector every 5 s (the defaults).
fn render(upstream: SocketAddr, collector: SocketAddr, wasm: &Path) -> Result<serde_json::Value, String> {
    let layout = Layout {
        listen_port: 0,
        admin_port: 0,
        services: envoy::SERVICES.iter().map(|s| ((*s).to_string(), upstream)).collect(),
        collector,
        wasm: wasm.to_path_buf(),
        plugin: serde_json::json!({"proxy_id": "bench-edge", "collector": {"token": TOKEN}}),
    };
    envoy::render(&envoy::shipped_config()?, &layout)
}

fn truncate(path: &Path) -> Result<(), String> {
    match std::fs::OpenOptions::new().write(true).open(path) {
        Ok(f) => f.set_len(0).map_err(|e| format!("truncating {}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// Waits until the collector has counted every response Envoy (c) sent since it started (a flush every 5 s).
fn check_faultline(e: &Envoy, collector: &Collector) -> Result<FaultlineCheck, String> {
    let sent = e.stat("http.edge.downstream_rq_completed")?;
    let mut seen = (0, 0);
    let _ = wait_until(Duration::from_secs(30), || {
        seen = collector.totals("be").ok()?;
        (seen.0 >= sent).then_some(())
    });
    let flushes = e.stat("cluster.faultline_collector.upstream_rq_completed")?;
    eprintln!(
        "[overhead] Faultline check: Envoy sent {sent}, collector counted {} (5xx {}), {flushes} flushes",
        seen.0, seen.1
    );
    Ok(FaultlineCheck { envoy_responses: sent, collector_responses: seen.0, collector_5xx: seen.1, flushes })
}

/// Sends 2,000 requests through Envoy (d) and measures how much its access log grew per request.
fn log_bytes_per_request(e: &Envoy, log: &Path) -> Result<f64, String> {
    truncate(log)?;
    let n = 2000u64;
    let plan = TrafficPlan {
        connections: 4,
        count_paths: false,
        ..TrafficPlan::new(&e.url(""), Targets::cycle(&[PATH])?, Stop::Count(n))
    };
    traffic::run(&plan)?;
    // Envoy writes its access log from a buffer flushed every second: wait until the file stops growing.
    let mut last = 0;
    let size = wait_until(Duration::from_secs(15), || {
        std::thread::sleep(Duration::from_millis(1200));
        let now = std::fs::metadata(log).map(|m| m.len()).unwrap_or(0);
        let stable = now > 0 && now == last;
        last = now;
        stable.then_some(now)
    })
    .ok_or("the access log did not settle")?;
    Ok(size as f64 / n as f64)
}

/// Per-variant medians and spreads, and ratios paired by round against (b) and (a).
pub fn summarize(samples: &[Sample]) -> Vec<VariantSummary> {
    let series = |v: Variant, f: &dyn Fn(&Sample) -> f64| -> Vec<f64> {
        let mut by_round: Vec<&Sample> = samples.iter().filter(|s| s.variant == v).collect();
        by_round.sort_by_key(|s| s.round);
        by_round.into_iter().map(f).collect()
    };
    let rps = |s: &Sample| s.rps;
    let cpu = |s: &Sample| s.cpu_s_per_100k;
    let p50 = |s: &Sample| s.wrk.p50_us as f64 / 1000.0;
    let p99 = |s: &Sample| s.wrk.p99_us as f64 / 1000.0;
    let p999 = |s: &Sample| s.wrk.p999_us as f64 / 1000.0;
    let ratios = |v: Variant, base: Variant| Ratios {
        rps: Spread::of(&paired_ratios(&series(v, &rps), &series(base, &rps))),
        cpu: Spread::of(&paired_ratios(&series(v, &cpu), &series(base, &cpu))),
        p50: Spread::of(&paired_ratios(&series(v, &p50), &series(base, &p50))),
        p99: Spread::of(&paired_ratios(&series(v, &p99), &series(base, &p99))),
        p999: Spread::of(&paired_ratios(&series(v, &p999), &series(base, &p999))),
    };
    Variant::WITH_READS
        .iter()
        .filter(|v| samples.iter().any(|s| s.variant == **v))
        .map(|&v| VariantSummary {
            variant: v,
            label: v.label().into(),
            rps: Spread::of(&series(v, &rps)),
            p50_ms: Spread::of(&series(v, &p50)),
            p99_ms: Spread::of(&series(v, &p99)),
            p999_ms: Spread::of(&series(v, &p999)),
            cpu_s_per_100k: Spread::of(&series(v, &cpu)),
            vs_noop: ratios(v, Variant::Noop),
            vs_no_wasm: ratios(v, Variant::NoWasm),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(round: u32, variant: Variant, rps: f64, cpu: f64, p99_us: u64) -> Sample {
        let wrk = WrkResult {
            requests: rps as u64 * 10,
            duration_us: 10_000_000,
            connect_errors: 0,
            read_errors: 0,
            write_errors: 0,
            status_errors: 0,
            timeouts: 0,
            p50_us: p99_us / 2,
            p90_us: p99_us,
            p99_us,
            p999_us: p99_us * 2,
            max_us: p99_us * 3,
        };
        Sample { round, variant, wrk, rps, cpu_s: 0.0, cpu_s_per_100k: cpu }
    }

    #[test]
    fn ratios_are_paired_by_round() {
        // Round 2 is a slow round for everyone: paired ratios stay at 0.95 and 1.1.
        let samples = vec![
            sample(1, Variant::Noop, 30_000.0, 3.0, 1000),
            sample(1, Variant::Faultline, 28_500.0, 3.3, 1100),
            sample(2, Variant::Noop, 20_000.0, 3.0, 2000),
            sample(2, Variant::Faultline, 19_000.0, 3.3, 2200),
        ];
        let summary = summarize(&samples);
        assert_eq!(summary.len(), 2);
        let c = summary.iter().find(|s| s.variant == Variant::Faultline).unwrap();
        let rps = c.vs_noop.rps.unwrap();
        assert!((rps.min - 0.95).abs() < 1e-9 && (rps.max - 0.95).abs() < 1e-9);
        assert!((c.vs_noop.cpu.unwrap().median - 1.1).abs() < 1e-9);
        assert!((c.vs_noop.p99.unwrap().median - 1.1).abs() < 1e-9);
        assert_eq!(c.rps.unwrap().median, 23_750.0);
        assert!(c.vs_no_wasm.rps.is_none(), "no (a) samples: no ratio");
    }
}
