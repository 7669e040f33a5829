//! Time to page on the product's defaults (issue 14): window 5 min, bucket 5 s, flush 5 s, merge 1 s, health
//! checks every 60 s, the default group and urgent waits. Many services behind one Envoy, each with its own
//! upstream, traffic driver and webhook (so that no page waits in another service's group): after a full
//! window of clean traffic, one service at a time (i) answers 503 to everything, or (ii) has its upstream
//! stopped (connection refused), and the time from that onset to its first CRITICAL or DOWN on the Discord
//! server is measured; (iii) services whose 5xx rate steps to 20%, timed from the true 5-minute crossing of 10%.
//! The soak: 3% 5xx with bursts and an upstream restart, during which nothing may be sent.

use crate::collector::{Collector, CollectorSpec, ServiceEntry, TOKEN};
use crate::procfs;
use crate::stats::Spread;
use crate::truth::{self, Point};
use faultline_tests::discord::FakeDiscord;
use faultline_tests::envoy::{self, Envoy, Layout};
use faultline_tests::traffic::{self, Stop, Targets, TrafficHandle, TrafficPlan};
use faultline_tests::upstream::{Health, Upstream, UpstreamOptions};
use serde::Serialize;
use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, Instant};

/// How a round's service fails at its onset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Onset {
    /// (i) The upstream answers 503 to every request (and its health endpoint too).
    Total503,
    /// (ii) The upstream process stops listening: Envoy's connections are refused.
    Stopped,
    /// (iii) 20% of requests fail (500): timed from the true 5-minute crossing of 10%.
    Gradual,
}

impl Onset {
    fn label(self) -> &'static str {
        match self {
            Onset::Total503 => "(i) 100% 503 from the upstream",
            Onset::Stopped => "(ii) upstream stopped (connection refused)",
            Onset::Gradual => "(iii) 20% 5xx, after the true crossing of 10%",
        }
    }
}

/// Settings of the time-to-page run.
#[derive(Debug, Clone, Serialize)]
pub struct FastPlan {
    pub warmup: Duration,
    /// Requests per second to each service.
    pub rate_per_service: f64,
    /// Rounds of (i) and of (ii) each.
    pub rounds: usize,
    /// Rounds of (iii).
    pub gradual_rounds: usize,
    /// Seconds between two onsets of (i)/(ii).
    pub spacing: Duration,
    pub window: Duration,
    pub bucket: Duration,
    pub flush_interval_ms: u64,
    pub merge_interval_ms: u64,
    pub health_interval: Duration,
    pub health_timeout: Duration,
    pub gradual_per_mille: u32,
}

impl FastPlan {
    /// Full: a 5-minute warm-up, 5 rounds of (i) and (ii), 3 of (iii) (~10 min); quick: 60 s, 2, 1.
    pub fn new(quick: bool) -> FastPlan {
        FastPlan {
            warmup: Duration::from_secs(if quick { 60 } else { 300 }),
            rate_per_service: 40.0,
            rounds: if quick { 2 } else { 5 },
            gradual_rounds: if quick { 1 } else { 3 },
            spacing: Duration::from_secs(17),
            window: Duration::from_secs(300),
            bucket: Duration::from_secs(5),
            flush_interval_ms: 5000,
            merge_interval_ms: 1000,
            health_interval: Duration::from_secs(60),
            health_timeout: Duration::from_secs(5),
            gradual_per_mille: 200,
        }
    }
}

/// One measured round.
#[derive(Debug, Clone, Serialize)]
pub struct Round {
    pub onset: Onset,
    pub service: String,
    /// Seconds after the start of traffic.
    pub onset_at_s: f64,
    /// First CRITICAL or DOWN of the service, seconds after the onset.
    pub paged_after_s: Option<f64>,
    /// (iii): the true 5-minute rate crossed 10%, seconds after the onset.
    pub true_crossing_after_s: Option<f64>,
    /// The figure of the round: after the onset for (i)/(ii), after the true crossing for (iii).
    pub delay_s: Option<f64>,
    /// The page's embed title.
    pub title: Option<String>,
}

/// What the time-to-page run measured.
#[derive(Debug, Clone, Serialize)]
pub struct FastResult {
    pub plan: FastPlan,
    pub rounds: Vec<Round>,
    /// Per case: median / min / max of the delays.
    pub summary: Vec<(Onset, Option<Spread>, usize)>,
    /// Messages any service got before its own onset (must be none).
    pub early_messages: Vec<String>,
    pub answered: u64,
    pub unanswered: u64,
}

/// Upstreams, Envoy, collector, Discord server and one traffic driver per service; everything is stopped
/// (by PID, for the processes) when dropped.
struct Bench {
    upstreams: Vec<Upstream>,
    drivers: Vec<TrafficHandle>,
    discord: FakeDiscord,
    _collector: Collector,
    _envoy: Envoy,
    begin: Instant,
}

/// Webhook id of the `i`-th service on the local Discord server.
fn hook(i: usize) -> u64 {
    i as u64 + 1
}

impl Bench {
    fn start(names: &[String], plan: &FastPlan, rate: &[f64], workdir: &Path) -> Result<Bench, String> {
        let mut upstreams = Vec::new();
        for n in names {
            upstreams.push(Upstream::launch(UpstreamOptions::new(n, &format!("/{n}/health")))?);
        }
        let discord = FakeDiscord::start()?;
        let mut webhooks = vec![("default".to_string(), discord.webhook_url(1_000, "bench"))];
        let mut services = Vec::new();
        for (i, (n, u)) in names.iter().zip(&upstreams).enumerate() {
            webhooks.push((format!("w{i}"), discord.webhook_url(hook(i), "bench")));
            services.push(ServiceEntry {
                name: n.clone(),
                health: Some((format!("{}/{n}/health", u.base_url()), plan.health_interval, plan.health_timeout)),
                webhook: Some(format!("w{i}")),
            });
        }
        let spec = CollectorSpec { window: plan.window, bucket: plan.bucket, webhooks, services, max_proxies: 16 };
        let collector = Collector::start(&spec, workdir)?;
        procfs::pin(collector.pid(), &procfs::all_cpus()).map_err(|e| e.to_string())?;
        let layout = Layout {
            listen_port: 0,
            admin_port: 0,
            services: names.iter().cloned().zip(upstreams.iter().map(Upstream::addr)).collect(),
            collector: collector.addr(),
            wasm: faultline_tests::paths::filter_wasm()?,
            plugin: json!({
                "proxy_id": "bench-edge",
                "collector": {"token": TOKEN},
                "flush_interval_ms": plan.flush_interval_ms,
                "merge_interval_ms": plan.merge_interval_ms,
            }),
        };
        let doc = with_services(&envoy::shipped_config()?, names)?;
        let mut envoy = Envoy::start(&envoy::render(&doc, &layout)?, 2)?;
        procfs::pin(envoy.process().pid(), &procfs::all_cpus()).map_err(|e| e.to_string())?;
        let mut drivers = Vec::new();
        for (n, r) in names.iter().zip(rate) {
            let targets = Targets::cycle(&[&format!("GET /{n}/users/7/orders"), &format!("POST /{n}/orders")])?;
            drivers.push(traffic::spawn(&TrafficPlan {
                connections: 2,
                rate: Some(*r),
                count_paths: false,
                timeout: Duration::from_secs(10),
                ..TrafficPlan::new(&envoy.url(""), targets, Stop::WhenStopped)
            })?);
        }
        Ok(Bench { upstreams, drivers, discord, _collector: collector, _envoy: envoy, begin: Instant::now() })
    }

    /// Accepted messages of service `i` as (arrival, every embed title).
    fn messages(&self, i: usize) -> Vec<(Instant, Vec<String>)> {
        self.discord
            .requests()
            .into_iter()
            .filter(|r| r.webhook_id == hook(i) && (200..300).contains(&r.status))
            .map(|r| (r.at, titles(&r.body)))
            .collect()
    }

    fn secs(&self, at: Instant) -> f64 {
        at.duration_since(self.begin).as_secs_f64()
    }

    fn stop_traffic(self) -> Result<(u64, u64), String> {
        let (mut answered, mut failed) = (0, 0);
        for d in self.drivers {
            let r = d.stop()?;
            answered += r.answered();
            failed += r.failed();
        }
        Ok((answered, failed))
    }
}

/// Every embed title of a webhook message.
fn titles(body: &Value) -> Vec<String> {
    body.get("embeds")
        .and_then(Value::as_array)
        .map(|e| e.iter().filter_map(|x| x.get("title").and_then(Value::as_str).map(str::to_string)).collect())
        .unwrap_or_default()
}

/// Whether `title` pages `service` CRITICAL or DOWN (a WARNING, an UP or an ending does not).
pub fn pages(title: &str, service: &str) -> bool {
    let msg = json!({"embeds": [{"title": title}]});
    crate::alert::classify(&msg).is_some_and(|(s, k)| s == service && (k == "CRITICAL" || k == "DOWN"))
}

/// The shipped configuration with a cluster (a copy of `be`'s) and a `/<name>/` route for each new name.
pub fn with_services(shipped: &Value, names: &[String]) -> Result<Value, String> {
    let mut doc = shipped.clone();
    let clusters = doc.pointer_mut("/static_resources/clusters").and_then(Value::as_array_mut).ok_or("no clusters")?;
    let be = clusters.iter().find(|c| c["name"] == "be").cloned().ok_or("no cluster be")?;
    let new: Vec<&String> = names.iter().filter(|n| !clusters.iter().any(|c| c["name"] == n.as_str())).collect();
    for n in &new {
        let mut c = be.clone();
        let obj = c.as_object_mut().ok_or("cluster be is not an object")?;
        obj.insert("name".into(), Value::String((*n).clone()));
        if let Some(l) = obj.get_mut("load_assignment").and_then(Value::as_object_mut) {
            l.insert("cluster_name".into(), Value::String((*n).clone()));
        }
        clusters.push(c);
    }
    let routes = find_routes(&mut doc).ok_or("no virtual host routes on the edge listener")?;
    for n in new.iter().rev() {
        routes.insert(0, json!({"match": {"prefix": format!("/{n}/")}, "route": {"cluster": n, "timeout": "60s"}}));
    }
    Ok(doc)
}

fn find_routes(v: &mut Value) -> Option<&mut Vec<Value>> {
    match v {
        Value::Object(o) => {
            if o.contains_key("virtual_hosts") {
                return o.get_mut("virtual_hosts")?.pointer_mut("/0/routes")?.as_array_mut();
            }
            o.values_mut().find_map(find_routes)
        }
        Value::Array(a) => a.iter_mut().find_map(find_routes),
        _ => None,
    }
}

/// Runs the time-to-page rounds (progress on stderr).
pub fn run(plan: &FastPlan, workdir: &Path) -> Result<FastResult, String> {
    let mut cases = Vec::new();
    for k in 0..plan.rounds {
        cases.push((Onset::Total503, format!("outage{}", 2 * k + 1)));
        cases.push((Onset::Stopped, format!("refused{}", 2 * k + 2)));
    }
    for k in 0..plan.gradual_rounds {
        cases.push((Onset::Gradual, format!("gradual{}", k + 1)));
    }
    let names: Vec<String> = cases.iter().map(|(_, n)| n.clone()).collect();
    let rates = vec![plan.rate_per_service; names.len()];
    let mut bench = Bench::start(&names, plan, &rates, workdir)?;
    let t0 = bench.begin + plan.warmup;
    // Onsets: the gradual ones first (their CRITICAL takes minutes), then (i)/(ii) one at a time, spaced so
    // that each lands at another phase of the flush and health schedules.
    let mut onsets = Vec::new();
    let (mut fast_k, mut grad_k) = (0u32, 0u32);
    for (onset, _) in &cases {
        onsets.push(match onset {
            Onset::Gradual => {
                grad_k += 1;
                t0 + Duration::from_millis(u64::from(grad_k - 1) * 7_300)
            }
            _ => {
                fast_k += 1;
                t0 + Duration::from_secs(3) + plan.spacing * fast_k
            }
        });
    }
    let mut rounds: Vec<Option<Round>> = vec![None; cases.len()];
    let mut started = vec![false; cases.len()];
    let mut points: Vec<Vec<Point>> = vec![Vec::new(); cases.len()];
    let mut early = Vec::new();
    let last_onset = onsets.iter().max().copied().unwrap_or(t0);
    let give_up = last_onset + Duration::from_secs(420);
    let mut last_log = Instant::now();
    loop {
        let now = Instant::now();
        for (i, (onset, name)) in cases.iter().enumerate() {
            if *onset == Onset::Gradual {
                let s = bench.drivers.get(i).ok_or("no driver")?.snapshot();
                points.get_mut(i).ok_or("no points")?.push(Point {
                    t: bench.secs(now),
                    answered: s.answered(),
                    errors: s.server_errors(),
                });
            }
            let at = *onsets.get(i).ok_or("no onset")?;
            let msgs = bench.messages(i);
            if !started.get(i).copied().unwrap_or(true) {
                if now >= at {
                    for (m, t) in msgs.iter().filter(|(m, _)| *m < at) {
                        early.push(format!("{name} at {:.1} s: {}", bench.secs(*m), t.join(" | ")));
                    }
                    let up = bench.upstreams.get_mut(i).ok_or("no upstream")?;
                    match onset {
                        Onset::Total503 => {
                            up.fail(1000, 503, &[])?;
                            up.set_health(Health::Failing(503));
                        }
                        Onset::Stopped => up.stop(),
                        Onset::Gradual => up.fail(plan.gradual_per_mille, 500, &[])?,
                    }
                    if let Some(s) = started.get_mut(i) {
                        *s = true;
                    }
                    eprintln!("[fast] {:>5.1} s: {name}: {}", bench.secs(now), onset.label());
                }
                continue;
            }
            if rounds.get(i).is_some_and(Option::is_some) {
                continue;
            }
            let page = msgs
                .iter()
                .find_map(|(m, t)| t.iter().find(|t| pages(t, name)).filter(|_| *m >= at).map(|t| (*m, t.clone())));
            let timeout = if *onset == Onset::Gradual { Duration::from_secs(400) } else { Duration::from_secs(120) };
            if page.is_none() && now < at + timeout {
                continue;
            }
            let paged = page.as_ref().map(|(m, _)| m.duration_since(at).as_secs_f64());
            let crossing = (*onset == Onset::Gradual)
                .then(|| {
                    let p = points.get(i)?;
                    truth::crossing(p, plan.window.as_secs_f64(), 0.10, bench.secs(at), 100.0)
                })
                .flatten()
                .map(|t| t - bench.secs(at))
                // Paged before the traffic record reached the crossing (the collector's window of 5 s buckets
                // spans 295-300 s, so it may cross up to 2.5 s early): the step's exact crossing, after clean
                // traffic at a steady rate, is window × 10% / the step's share.
                .or_else(|| {
                    (*onset == Onset::Gradual && paged.is_some())
                        .then(|| plan.window.as_secs_f64() * 100.0 / f64::from(plan.gradual_per_mille.max(1)))
                });
            let delay = match onset {
                Onset::Gradual => paged.zip(crossing).map(|(p, c)| p - c),
                _ => paged,
            };
            eprintln!("[fast] {name}: paged {paged:?} s after the onset; delay {delay:?} s");
            if let Some(r) = rounds.get_mut(i) {
                *r = Some(Round {
                    onset: *onset,
                    service: name.clone(),
                    onset_at_s: bench.secs(at),
                    paged_after_s: paged,
                    true_crossing_after_s: crossing,
                    delay_s: delay,
                    title: page.map(|(_, t)| t),
                });
            }
        }
        if rounds.iter().all(Option::is_some) || now > give_up {
            break;
        }
        if now.duration_since(last_log) >= Duration::from_secs(30) {
            last_log = now;
            let done = rounds.iter().filter(|r| r.is_some()).count();
            eprintln!("[fast] {:>5.0} s: {done} of {} rounds done", bench.secs(now), cases.len());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let (answered, unanswered) = bench.stop_traffic()?;
    let rounds: Vec<Round> = rounds.into_iter().flatten().collect();
    let summary = [Onset::Total503, Onset::Stopped, Onset::Gradual]
        .into_iter()
        .map(|o| {
            let of: Vec<&Round> = rounds.iter().filter(|r| r.onset == o).collect();
            let delays: Vec<f64> = of.iter().filter_map(|r| r.delay_s).collect();
            (o, Spread::of(&delays), of.len())
        })
        .collect();
    Ok(FastResult { plan: plan.clone(), rounds, summary, early_messages: early, answered, unanswered })
}

/// The time-to-page section of BENCHMARKS.md.
pub fn markdown(r: &FastResult) -> String {
    use std::fmt::Write as _;
    let p = &r.plan;
    let mut t = String::new();
    let _ = writeln!(
        t,
        "Product defaults: window {} s, bucket {} s, flush {} ms, merge {} ms, health checks every {} s (timeout \
         {} s), default group and urgent waits; Envoy `--concurrency 2`. {} services, each with its own upstream, \
         {:.0} req/s and webhook; {} s of clean traffic first. {} answers, {} without an answer.\n",
        p.window.as_secs(),
        p.bucket.as_secs(),
        p.flush_interval_ms,
        p.merge_interval_ms,
        p.health_interval.as_secs(),
        p.health_timeout.as_secs(),
        r.rounds.len(),
        p.rate_per_service,
        p.warmup.as_secs(),
        crate::report::thousands(r.answered as f64),
        r.unanswered,
    );
    let _ = writeln!(t, "| case | rounds | first CRITICAL or DOWN: median (min–max) | max | target |");
    let _ = writeln!(t, "|---|---|---|---|---|");
    for (onset, spread, n) in &r.summary {
        let limit = if *onset == Onset::Gradual { 6.0 } else { 10.0 };
        let missed = n - spread.map_or(0, |s| s.n);
        let _ = writeln!(
            t,
            "| {} | {n}{} | {} s | {} | ≤ {limit:.0} s: {} |",
            onset.label(),
            if missed > 0 { format!(" ({missed} without a page)") } else { String::new() },
            crate::report::spread(*spread, 1),
            spread.map_or("–".into(), |s| format!("{:.1} s", s.max)),
            if missed > 0 { "**missed**" } else { crate::report::verdict(spread.map(|s| s.max), limit, false) },
        );
    }
    let _ = writeln!(t, "\nEach round (seconds; the page's title):\n");
    for x in &r.rounds {
        let f = |v: Option<f64>| v.map_or("–".into(), |v| format!("{v:.1}"));
        let _ = writeln!(
            t,
            "- {} `{}`: onset at {:.1}, paged after {}{}: {}",
            x.onset.label(),
            x.service,
            x.onset_at_s,
            f(x.paged_after_s),
            x.true_crossing_after_s.map_or(String::new(), |c| format!(" (true crossing after {c:.1})")),
            x.title.as_deref().unwrap_or("no page"),
        );
    }
    if r.early_messages.is_empty() {
        let _ = writeln!(t, "\n- No service got a message before its onset.");
    } else {
        let _ = writeln!(t, "\n- Messages before the onset (false pages): {}", r.early_messages.join("; "));
    }
    t.push('\n');
    t
}

/// Settings of the soak.
#[derive(Debug, Clone, Serialize)]
pub struct SoakPlan {
    pub duration: Duration,
    /// Requests per second to `payments` (the failing one; a quarter of it to `search`, clean).
    pub rate: f64,
    pub base_per_mille: u32,
    pub burst_per_mille: u32,
    pub burst: Duration,
    pub burst_every: Duration,
    /// How long the upstream of `payments` is stopped, once, half way through.
    pub restart: Duration,
    pub fast: FastPlan,
}

impl SoakPlan {
    pub fn new(minutes: u64) -> SoakPlan {
        SoakPlan {
            duration: Duration::from_secs(minutes.max(1) * 60),
            rate: 200.0,
            base_per_mille: 30,
            burst_per_mille: 500,
            burst: Duration::from_secs(2),
            burst_every: Duration::from_secs(180),
            restart: Duration::from_secs(2),
            fast: FastPlan::new(false),
        }
    }
}

/// What the soak saw.
#[derive(Debug, Clone, Serialize)]
pub struct SoakResult {
    pub plan: SoakPlan,
    /// Seconds after the start of each burst, and of the restart.
    pub bursts_at_s: Vec<f64>,
    pub restart_at_s: Option<f64>,
    /// Every message sent (must be none): seconds after the start and titles.
    pub messages: Vec<(f64, String)>,
    pub answered: u64,
    pub unanswered: u64,
    pub true_rate: f64,
}

/// Runs the soak: `payments` at 3% 5xx, bursts of 50% for 2 s every 3 minutes, one 2 s restart of its
/// upstream half way; `search` clean. Nothing may page. (New names: the shipped `be` and `ai` keep their
/// routes, which would not reach these upstreams.)
pub fn soak(plan: &SoakPlan, workdir: &Path) -> Result<SoakResult, String> {
    let names = vec!["payments".to_string(), "search".to_string()];
    let mut bench = Bench::start(&names, &plan.fast, &[plan.rate, plan.rate / 4.0], workdir)?;
    let begin = bench.begin;
    let be = bench.upstreams.first_mut().ok_or("no upstream")?;
    be.fail(plan.base_per_mille, 500, &[])?;
    let end = begin + plan.duration;
    let restart_at = begin + plan.duration / 2 + Duration::from_secs(30);
    let mut next_burst = begin + plan.burst_every;
    let mut bursts = Vec::new();
    let mut restarted = None;
    let mut last_log = begin;
    while Instant::now() < end {
        let now = Instant::now();
        let be = bench.upstreams.first_mut().ok_or("no upstream")?;
        if now >= next_burst && now + plan.burst < end {
            be.fail(plan.burst_per_mille, 500, &[])?;
            std::thread::sleep(plan.burst);
            be.fail(plan.base_per_mille, 500, &[])?;
            bursts.push(now.duration_since(begin).as_secs_f64());
            eprintln!(
                "[soak] {:>5.0} s: a {:?} burst at {}‰",
                now.duration_since(begin).as_secs_f64(),
                plan.burst,
                plan.burst_per_mille
            );
            next_burst += plan.burst_every;
        }
        if restarted.is_none() && now >= restart_at {
            be.stop();
            std::thread::sleep(plan.restart);
            be.start()?;
            restarted = Some(now.duration_since(begin).as_secs_f64());
            eprintln!(
                "[soak] {:>5.0} s: payments' upstream restarted ({:?} down)",
                restarted.unwrap_or(0.0),
                plan.restart
            );
        }
        if now.duration_since(last_log) >= Duration::from_secs(60) {
            last_log = now;
            let sent = (0..names.len()).map(|i| bench.messages(i).len()).sum::<usize>();
            eprintln!("[soak] {:>5.0} s: {sent} messages so far", now.duration_since(begin).as_secs_f64());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let mut messages = Vec::new();
    for i in 0..names.len() {
        for (at, t) in bench.messages(i) {
            messages.push((bench.secs(at), t.join(" | ")));
        }
    }
    for r in bench.discord.requests().into_iter().filter(|r| r.webhook_id == 1_000) {
        messages.push((bench.secs(r.at), titles(&r.body).join(" | ")));
    }
    let be_report = bench.drivers.first().ok_or("no driver")?.snapshot();
    let true_rate = be_report.server_errors() as f64 / be_report.answered().max(1) as f64;
    let (answered, unanswered) = bench.stop_traffic()?;
    Ok(SoakResult {
        plan: plan.clone(),
        bursts_at_s: bursts,
        restart_at_s: restarted,
        messages,
        answered,
        unanswered,
        true_rate,
    })
}

/// The soak section of BENCHMARKS.md.
pub fn soak_markdown(r: &SoakResult) -> String {
    use std::fmt::Write as _;
    let p = &r.plan;
    let mut t = String::new();
    let _ = writeln!(
        t,
        "{} min on the product defaults (as above): `payments` at {:.0} req/s with {}‰ 5xx (500), bursts of {}‰ \
         for {} s every {} s ({} bursts), its upstream stopped for {} s once (at {}); `search` clean at {:.0} req/s. \
         {} answers ({:.2}% of payments' answers 5xx), {} without an answer.\n",
        p.duration.as_secs() / 60,
        p.rate,
        p.base_per_mille,
        p.burst_per_mille,
        p.burst.as_secs(),
        p.burst_every.as_secs(),
        r.bursts_at_s.len(),
        p.restart.as_secs(),
        r.restart_at_s.map_or("–".into(), |s| format!("{s:.0} s")),
        p.rate / 4.0,
        crate::report::thousands(r.answered as f64),
        r.true_rate * 100.0,
        r.unanswered,
    );
    if r.messages.is_empty() {
        let _ = writeln!(t, "- Messages sent: **none** (target: none): **met**.");
    } else {
        let _ = writeln!(t, "- Messages sent: **{}** (target: none): **missed**:", r.messages.len());
        for (at, title) in &r.messages {
            let _ = writeln!(t, "  - at {at:.0} s: {title}");
        }
    }
    t.push('\n');
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_is_critical_or_down_of_that_service() {
        assert!(pages("🔴 outage1 — CRITICAL: 100% of requests fail in the last 10 s", "outage1"));
        assert!(pages("🔴 refused2 — DOWN: the proxy cannot reach it: 48 of 50 requests in 10 s", "refused2"));
        assert!(!pages("🔴 refused2 — DOWN: the proxy cannot reach it", "refused4"));
        assert!(!pages("🟠 gradual1 — WARNING: 6% of requests fail", "gradual1"));
        assert!(!pages("✅ outage1 — RESOLVED: UP after 12 s down", "outage1"));
    }

    #[test]
    fn new_services_get_a_cluster_and_a_route_first() {
        let doc = with_services(&envoy::shipped_config().unwrap(), &["be".into(), "outage1".into()]).unwrap();
        let clusters = doc.pointer("/static_resources/clusters").and_then(Value::as_array).unwrap();
        assert_eq!(clusters.iter().filter(|c| c["name"] == "outage1").count(), 1);
        assert_eq!(clusters.iter().filter(|c| c["name"] == "be").count(), 1);
        let mut d = doc.clone();
        let routes = find_routes(&mut d).unwrap();
        assert_eq!(routes[0]["match"]["prefix"], "/outage1/");
        assert_eq!(routes[0]["route"]["cluster"], "outage1");
        assert_eq!(routes.iter().filter(|r| r["route"]["cluster"] == "be").count(), 1);
    }
}
