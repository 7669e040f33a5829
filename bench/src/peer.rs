//! Variant (f), what a team would build instead of Faultline (issue 15): Envoy writing a JSON access log to a
//! file, mtail turning it into request and 5xx counters per service, the real Prometheus scraping mtail and
//! evaluating the same two-tier rules, the real Alertmanager sending to Discord. Against (c): Envoy with the
//! Faultline filter and the collector. Both stacks run at once on the same upstream with the same load (one
//! traffic driver each, same rate), so their CPU is measured over the same minutes; after a full window of clean
//! traffic the upstream fails 20% of requests, and each stack's CRITICAL is timed from its own true crossing.

use crate::collector::{Collector, CollectorSpec, ServiceEntry, TOKEN};
use crate::procfs;
use crate::truth::{self, Point};
use crate::variants::{self, Variant};
use faultline_tests::discord::FakeDiscord;
use faultline_tests::envoy::{self, Envoy, Layout};
use faultline_tests::process::{Proc, free_port, wait_for_listen};
use faultline_tests::traffic::{self, Stop, Targets, TrafficPlan};
use faultline_tests::upstream::{Upstream, UpstreamOptions};
use serde::Serialize;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const FAULTLINE_HOOK: u64 = 1;
const PIPELINE_HOOK: u64 = 2;

/// The mtail program: requests and 5xx per service (Envoy's upstream cluster) from the JSON access log.
pub const MTAIL_PROGRAM: &str = r#"# Written by faultline-bench (variant f): requests and 5xx per service.
counter peer_requests_total by service
counter peer_errors_total by service

/"cluster":"(?P<service>[^"]+)"/ {
  peer_requests_total[$service]++
  /"status":5\d\d[,}]/ {
    peer_errors_total[$service]++
  }
}
"#;

/// The two tiers of Faultline's defaults as Prometheus rules over the same 5-minute window, `for: 0s`.
pub fn rules() -> String {
    let ratio = "sum by (service) (rate(peer_errors_total[5m])) / sum by (service) (rate(peer_requests_total[5m]))";
    format!(
        "groups:\n  - name: peer\n    rules:\n\
         \x20     - alert: PeerErrorRateCritical\n        expr: {ratio} >= 0.10\n        for: 0s\n\
         \x20       labels: {{severity: critical}}\n\
         \x20     - alert: PeerErrorRateWarning\n        expr: {ratio} >= 0.05 < 0.10\n        for: 0s\n\
         \x20       labels: {{severity: warning}}\n"
    )
}

/// Settings of the comparison.
#[derive(Debug, Clone, Serialize)]
pub struct PeerPlan {
    pub warmup: Duration,
    /// Requests per second through each stack.
    pub rate: f64,
    pub step_per_mille: u32,
    pub scrape_interval: Duration,
    pub evaluation_interval: Duration,
    pub group_wait: Duration,
    pub window: Duration,
    pub bucket: Duration,
    pub flush_interval_ms: u64,
    pub merge_interval_ms: u64,
    pub critical_timeout: Duration,
}

impl PeerPlan {
    /// Full: a 5-minute warm-up (~10 min in all); quick: 60 s.
    pub fn new(quick: bool) -> PeerPlan {
        PeerPlan {
            warmup: Duration::from_secs(if quick { 60 } else { 300 }),
            rate: 200.0,
            step_per_mille: 200,
            scrape_interval: Duration::from_secs(15),
            evaluation_interval: Duration::from_secs(15),
            group_wait: Duration::from_secs(30),
            window: Duration::from_secs(300),
            bucket: Duration::from_secs(5),
            flush_interval_ms: 5000,
            merge_interval_ms: 1000,
            critical_timeout: Duration::from_secs(420),
        }
    }
}

/// One process's share: CPU over the measured span per 100k requests of its stack, and memory.
#[derive(Debug, Clone, Serialize)]
pub struct Part {
    pub stack: &'static str,
    pub name: &'static str,
    pub cpu_s_per_100k: f64,
    pub rss_mib: f64,
    pub peak_rss_mib: f64,
}

/// What the comparison measured.
#[derive(Debug, Clone, Serialize)]
pub struct PeerResult {
    pub plan: PeerPlan,
    /// Seconds of clean traffic CPU was measured over, and the requests each stack answered in it.
    pub measured_s: f64,
    pub requests: (u64, u64),
    pub parts: Vec<Part>,
    /// (true crossing of 10% after t0, CRITICAL message after t0) for Faultline and for the pipeline.
    pub faultline: (Option<f64>, Option<f64>),
    pub pipeline: (Option<f64>, Option<f64>),
    pub pipeline_title: Option<String>,
    pub unanswered: u64,
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

fn spawn(name: &str, cmd: Command, port: u16) -> Result<Proc, String> {
    let p = Proc::spawn(name, cmd)?;
    wait_for_listen(addr(port), Duration::from_secs(60)).map_err(|e| format!("{name}: {e}\n{}", p.log()))?;
    Ok(p)
}

/// Titles of the accepted messages of `hook`, with their arrival.
fn titles(discord: &FakeDiscord, hook: u64) -> Vec<(Instant, String)> {
    discord
        .requests()
        .into_iter()
        .filter(|r| r.webhook_id == hook && (200..300).contains(&r.status))
        .flat_map(|r| {
            let at = r.at;
            let mut t: Vec<String> = r
                .body
                .get("embeds")
                .and_then(Value::as_array)
                .map(|e| e.iter().filter_map(|x| x.get("title").and_then(Value::as_str).map(str::to_string)).collect())
                .unwrap_or_default();
            if let Some(c) = r.body.get("content").and_then(Value::as_str) {
                t.push(c.to_string());
            }
            t.into_iter().map(move |x| (at, x))
        })
        .collect()
}

/// Runs the comparison (progress on stderr).
pub fn run(plan: &PeerPlan, workdir: &Path) -> Result<PeerResult, String> {
    let dir = workdir.join(format!("peer-{}", free_port()?));
    std::fs::create_dir_all(dir.join("progs")).map_err(|e| format!("{}: {e}", dir.display()))?;
    // Absolute: Prometheus resolves `rule_files` against its configuration's directory.
    let dir = std::fs::canonicalize(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let upstream = Upstream::launch(UpstreamOptions::new("be", "/server/actuator/health"))?;
    let discord = FakeDiscord::start()?;
    let spec = CollectorSpec {
        window: plan.window,
        bucket: plan.bucket,
        webhooks: vec![("default".into(), discord.webhook_url(FAULTLINE_HOOK, "bench"))],
        services: vec![ServiceEntry { name: "be".into(), health: None, webhook: None }],
        max_proxies: 16,
    };
    let collector = Collector::start(&spec, workdir)?;
    let layout = Layout {
        listen_port: 0,
        admin_port: 0,
        services: [("be".to_string(), upstream.addr())].into_iter().collect(),
        collector: collector.addr(),
        wasm: faultline_tests::paths::filter_wasm()?,
        plugin: json!({
            "proxy_id": "bench-edge",
            "collector": {"token": TOKEN},
            "flush_interval_ms": plan.flush_interval_ms,
            "merge_interval_ms": plan.merge_interval_ms,
        }),
    };
    let rendered = envoy::render(&envoy::shipped_config()?, &layout)?;
    let mut envoy_c = Envoy::start(&rendered, 2)?;
    let log = dir.join("access.log");
    let f_doc = variants::config(&rendered, Variant::AccessLog, Path::new("/nonexistent.wasm"), &log)?;
    let mut envoy_f = Envoy::start(&f_doc, 2)?;

    let prog = dir.join("progs/peer.mtail");
    write(&prog, MTAIL_PROGRAM)?;
    let mport = free_port()?;
    let mut cmd = Command::new("mtail");
    cmd.arg("-progs").arg(dir.join("progs")).arg("-logs").arg(&log);
    cmd.arg("-address").arg("127.0.0.1").arg("-port").arg(mport.to_string()).arg("-logtostderr");
    let mtail = spawn("mtail", cmd, mport)?;

    let aport = free_port()?;
    let am_cfg = format!(
        "route:\n  receiver: discord\n  group_by: [alertname, service]\n  group_wait: {}s\n  group_interval: 5m\n\
         \x20 repeat_interval: 4h\nreceivers:\n  - name: discord\n    discord_configs:\n      - webhook_url: \"{}\"\n",
        plan.group_wait.as_secs(),
        discord.webhook_url(PIPELINE_HOOK, "bench")
    );
    write(&dir.join("alertmanager.yml"), &am_cfg)?;
    let mut cmd = Command::new("prometheus-alertmanager");
    cmd.arg(format!("--config.file={}", dir.join("alertmanager.yml").display()))
        .arg(format!("--storage.path={}", dir.join("am-data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{aport}"))
        .arg("--cluster.listen-address=");
    let alertmanager = spawn("alertmanager", cmd, aport)?;

    write(&dir.join("rules.yml"), &rules())?;
    let pport = free_port()?;
    let prom_cfg = format!(
        "global:\n  scrape_interval: {}s\n  evaluation_interval: {}s\nrule_files:\n  - {}\n\
         alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: [\"127.0.0.1:{aport}\"]\n\
         scrape_configs:\n  - job_name: mtail\n    static_configs:\n      - targets: [\"127.0.0.1:{mport}\"]\n",
        plan.scrape_interval.as_secs(),
        plan.evaluation_interval.as_secs(),
        dir.join("rules.yml").display()
    );
    write(&dir.join("prometheus.yml"), &prom_cfg)?;
    let mut cmd = Command::new("prometheus");
    cmd.arg(format!("--config.file={}", dir.join("prometheus.yml").display()))
        .arg(format!("--storage.tsdb.path={}", dir.join("prom-data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{pport}"));
    let prometheus = spawn("prometheus", cmd, pport)?;

    let targets = Targets::cycle(&["GET /server/users/7/orders", "GET /server/ping", "POST /server/orders"])?;
    let drive = |url: String| {
        traffic::spawn(&TrafficPlan {
            connections: 4,
            rate: Some(plan.rate),
            count_paths: false,
            ..TrafficPlan::new(&url, targets.clone(), Stop::WhenStopped)
        })
    };
    let driver_c = drive(envoy_c.url(""))?;
    let driver_f = drive(envoy_f.url(""))?;
    let begin = Instant::now();
    let t0 = begin + plan.warmup;
    // CPU is measured over the clean traffic, after 20 s for everything to settle.
    let cpu_from = begin + Duration::from_secs(20).min(plan.warmup / 3);
    let pids = [
        ("(c) Faultline", "Envoy + filter", envoy_c.process().pid()),
        ("(c) Faultline", "collector", collector.pid()),
        ("(f) pipeline", "Envoy + JSON access log", envoy_f.process().pid()),
        ("(f) pipeline", "mtail", mtail.pid()),
        ("(f) pipeline", "Prometheus", prometheus.pid()),
        ("(f) pipeline", "Alertmanager", alertmanager.pid()),
    ];
    let cpu =
        || pids.iter().map(|(_, _, p)| procfs::cpu_time(*p).map_err(|e| e.to_string())).collect::<Result<Vec<_>, _>>();
    let (mut cpu0, mut req0) = (None, (0, 0));
    let mut parts = Vec::new();
    let mut measured_s = 0.0;
    let mut requests = (0, 0);
    let (mut pc, mut pf) = (Vec::new(), Vec::new());
    let (mut crit_c, mut crit_f, mut title_f) = (None, None, None);
    let mut stepped = false;
    let mut last_log = begin;
    loop {
        let now = Instant::now();
        let (sc, sf) = (driver_c.snapshot(), driver_f.snapshot());
        let t = now.duration_since(begin).as_secs_f64();
        pc.push(Point { t, answered: sc.answered(), errors: sc.server_errors() });
        pf.push(Point { t, answered: sf.answered(), errors: sf.server_errors() });
        if cpu0.is_none() && now >= cpu_from {
            cpu0 = Some((now, cpu()?));
            req0 = (sc.answered(), sf.answered());
        }
        if !stepped && now >= t0 {
            if let Some((from, before)) = &cpu0 {
                let after = cpu()?;
                measured_s = now.duration_since(*from).as_secs_f64();
                requests = (sc.answered().saturating_sub(req0.0), sf.answered().saturating_sub(req0.1));
                for (((stack, name, pid), b), a) in pids.iter().zip(before).zip(&after) {
                    let n = if stack.starts_with("(c)") { requests.0 } else { requests.1 };
                    let (rss, peak) = procfs::rss(*pid).map_err(|e| e.to_string())?;
                    parts.push(Part {
                        stack,
                        name,
                        cpu_s_per_100k: a.saturating_sub(*b).as_secs_f64() / (n.max(1) as f64) * 100_000.0,
                        rss_mib: rss as f64 / 1_048_576.0,
                        peak_rss_mib: peak as f64 / 1_048_576.0,
                    });
                }
            }
            upstream.fail(plan.step_per_mille, 500, &[])?;
            stepped = true;
            eprintln!("[peer] t0: be fails {}‰ of requests", plan.step_per_mille);
        }
        if stepped {
            let fl = titles(&discord, FAULTLINE_HOOK);
            crit_c = crit_c.or_else(|| {
                fl.iter()
                    .find(|(at, x)| *at >= t0 && x.contains("CRITICAL") && x.contains("be"))
                    .map(|(at, _)| at.duration_since(t0).as_secs_f64())
            });
            let am = titles(&discord, PIPELINE_HOOK);
            if crit_f.is_none()
                && let Some((at, x)) = am.iter().find(|(at, x)| *at >= t0 && x.contains("PeerErrorRateCritical"))
            {
                crit_f = Some(at.duration_since(t0).as_secs_f64());
                title_f = Some(x.clone());
            }
        }
        if (crit_c.is_some() && crit_f.is_some()) || now > t0 + plan.critical_timeout {
            break;
        }
        if now.duration_since(last_log) >= Duration::from_secs(30) {
            last_log = now;
            let w = plan.window.as_secs_f64();
            let (rc, _) = truth::rate_at(&pc, t, w);
            let (rf, _) = truth::rate_at(&pf, t, w);
            eprintln!("[peer] {t:>4.0} s: true 5-min rate (c) {:.2}%, (f) {:.2}%", rc * 100.0, rf * 100.0);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let unanswered = driver_c.stop()?.failed() + driver_f.stop()?.failed();
    let t0_s = t0.duration_since(begin).as_secs_f64();
    let w = plan.window.as_secs_f64();
    let cross = |p: &[Point]| truth::crossing(p, w, 0.10, t0_s, 100.0).map(|t| t - t0_s);
    if crit_f.is_none() {
        eprintln!("[peer] no CRITICAL from the pipeline; Alertmanager log:\n{}", alertmanager.log());
        eprintln!("[peer] mtail log:\n{}", mtail.log());
    }
    Ok(PeerResult {
        plan: plan.clone(),
        measured_s,
        requests,
        parts,
        faultline: (cross(&pc), crit_c),
        pipeline: (cross(&pf), crit_f),
        pipeline_title: title_f,
        unanswered,
    })
}

/// The peer section of BENCHMARKS.md.
pub fn markdown(r: &PeerResult) -> String {
    use std::fmt::Write as _;
    let p = &r.plan;
    let mut t = String::new();
    let _ = writeln!(
        t,
        "Both stacks at once, {:.0} req/s each to the same upstream `be`, Envoy `--concurrency 2` each. (f): \
         scrape and evaluation every {} s, `for: 0s`, Alertmanager `group_wait` {} s; (c): flush {} ms, window {} s. \
         CPU over {:.0} s of clean traffic ({} and {} requests), memory at t0.\n",
        p.rate,
        p.scrape_interval.as_secs(),
        p.group_wait.as_secs(),
        p.flush_interval_ms,
        p.window.as_secs(),
        r.measured_s,
        crate::report::thousands(r.requests.0 as f64),
        crate::report::thousands(r.requests.1 as f64),
    );
    let _ = writeln!(t, "| stack | part | CPU s / 100k requests | RSS MiB | peak RSS MiB |");
    let _ = writeln!(t, "|---|---|---:|---:|---:|");
    for x in &r.parts {
        let _ = writeln!(
            t,
            "| {} | {} | {:.2} | {:.1} | {:.1} |",
            x.stack, x.name, x.cpu_s_per_100k, x.rss_mib, x.peak_rss_mib
        );
    }
    let sum = |stack: &str, names: &[&str]| -> f64 {
        r.parts.iter().filter(|x| x.stack == stack && names.contains(&x.name)).map(|x| x.cpu_s_per_100k).sum()
    };
    let c = sum("(c) Faultline", &["Envoy + filter", "collector"]);
    let f = sum("(f) pipeline", &["Envoy + JSON access log", "mtail"]);
    let fa = f + sum("(f) pipeline", &["Prometheus", "Alertmanager"]);
    let _ = writeln!(
        t,
        "\n- CPU per 100k requests: proxy + collector **{c:.2} s**; proxy + mtail **{f:.2} s** ({:.2}x), with \
         Prometheus and Alertmanager {fa:.2} s ({:.2}x).",
        f / c.max(1e-9),
        fa / c.max(1e-9)
    );
    let d = |x: (Option<f64>, Option<f64>)| match x {
        (Some(c), Some(a)) => Some(a - c),
        _ => None,
    };
    let s = |v: Option<f64>| v.map_or("–".into(), |v| format!("{v:.1} s"));
    let _ =
        writeln!(t, "\n| stack | true 5-min rate crosses 10% (after t0) | CRITICAL on Discord (after t0) | delay |");
    let _ = writeln!(t, "|---|---|---|---|");
    let _ = writeln!(t, "| (c) Faultline | {} | {} | **{}** |", s(r.faultline.0), s(r.faultline.1), s(d(r.faultline)));
    let _ = writeln!(t, "| (f) pipeline | {} | {} | **{}** |", s(r.pipeline.0), s(r.pipeline.1), s(d(r.pipeline)));
    match (d(r.faultline), d(r.pipeline)) {
        // Faultline counts at the proxy, a little before the client has its answer: a ratio to ~0 says nothing.
        (Some(a), Some(b)) if a < 0.5 => {
            let _ = writeln!(
                t,
                "\n- Faultline paged within 0.5 s of the true crossing ({a:.1} s), the pipeline {b:.1} s after it."
            );
        }
        (Some(a), Some(b)) => {
            let _ = writeln!(t, "\n- The pipeline paged {:.1}x later after the true crossing.", b / a);
        }
        _ => {}
    }
    if let Some(x) = &r.pipeline_title {
        let _ = writeln!(t, "- Alertmanager's message: \"{x}\".");
    }
    let _ = writeln!(t, "- Requests without an answer: {}.", r.unanswered);
    t.push('\n');
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rules_are_the_two_tiers_over_five_minutes() {
        let r = rules();
        assert!(r.contains("alert: PeerErrorRateCritical\n        expr: sum by (service)"));
        assert!(r.contains("[5m])) >= 0.10\n        for: 0s"));
        assert!(r.contains(">= 0.05 < 0.10"));
        assert_eq!(r.matches("- alert:").count(), 2);
    }
}
