//! Alert delay, on the product's defaults (5-minute window, 5 s buckets, 5 s flushes, 1 s merges): steady
//! load through the real Envoy with the Faultline filter to service `be`; at t0 its 5xx rate steps from 0% to
//! 20%. The true 5-minute rate is computed from the answers the driver actually got (`truth`), and the delay
//! is when WARNING / CRITICAL reached the local Discord server after the true rate crossed 5% / 10%.
//! Meanwhile the health endpoints of `ai` (checked every 60 s) and `frontend` (every 10 s) die at their own
//! t0s, and the time to the DOWN message is measured, then they come back (time to UP).

use crate::collector::{Collector, CollectorSpec, ServiceEntry, TOKEN};
use crate::procfs;
use crate::stats::Spread;
use crate::truth::{self, Point};
use faultline_tests::discord::FakeDiscord;
use faultline_tests::envoy::{self, Envoy, Layout};
use faultline_tests::traffic::{self, Stop, Targets, TrafficPlan};
use faultline_tests::upstream::{Health, Upstream, UpstreamOptions};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

/// Webhook ids on the local Discord server: the 5xx alerts, and the health alerts (apart, so neither
/// queues behind the other).
const RATE_HOOK: u64 = 1;
const HEALTH_HOOK: u64 = 2;

/// Settings of the alert-delay run.
#[derive(Debug, Clone, Serialize)]
pub struct AlertPlan {
    /// Clean traffic before t0 (a full window: the steady state).
    pub warmup: Duration,
    /// Requests per second to `be`.
    pub rate: f64,
    /// 5xx per 1000 requests from t0.
    pub step_per_mille: u32,
    pub window: Duration,
    pub bucket: Duration,
    pub flush_interval_ms: u64,
    pub merge_interval_ms: u64,
    /// How long after t0 CRITICAL may take before the run gives up.
    pub critical_timeout: Duration,
    /// Health-check intervals measured: (service, interval).
    pub health: Vec<(String, Duration)>,
    pub health_timeout: Duration,
    /// At most this many trials per health-checked service.
    pub max_trials: usize,
    pub concurrency: u32,
}

impl AlertPlan {
    /// The full run (a 5-minute warm-up, ~8 minutes in all) or the quick one (60 s warm-up, ~2.5 minutes).
    pub fn new(quick: bool) -> AlertPlan {
        AlertPlan {
            warmup: Duration::from_secs(if quick { 60 } else { 300 }),
            rate: 200.0,
            step_per_mille: 200,
            window: Duration::from_secs(300),
            bucket: Duration::from_secs(5),
            flush_interval_ms: 5000,
            merge_interval_ms: 1000,
            critical_timeout: Duration::from_secs(360),
            health: vec![("ai".into(), Duration::from_secs(60)), ("frontend".into(), Duration::from_secs(10))],
            health_timeout: Duration::from_secs(2),
            max_trials: if quick { 3 } else { 12 },
            concurrency: 2,
        }
    }
}

/// One health trial: the endpoint died at its t0; DOWN (and later UP) arrived after these many seconds.
#[derive(Debug, Clone, Serialize)]
pub struct HealthTrial {
    pub down_after_s: Option<f64>,
    pub up_after_s: Option<f64>,
}

/// The trials of one health-checked service.
#[derive(Debug, Clone, Serialize)]
pub struct HealthResult {
    pub service: String,
    pub interval_s: f64,
    pub trials: Vec<HealthTrial>,
    pub down: Option<Spread>,
    pub up: Option<Spread>,
}

/// What the run measured; times in seconds after t0.
#[derive(Debug, Clone, Serialize)]
pub struct AlertResult {
    pub plan: AlertPlan,
    pub answered: u64,
    pub unanswered: u64,
    pub true_warning_s: Option<f64>,
    pub true_critical_s: Option<f64>,
    pub warning_at_s: Option<f64>,
    pub critical_at_s: Option<f64>,
    pub warning_delay_s: Option<f64>,
    pub critical_delay_s: Option<f64>,
    /// The true 5-minute (answers, rate) when CRITICAL arrived.
    pub true_at_critical: Option<(f64, f64)>,
    /// The rate line of the CRITICAL message, as the collector saw it.
    pub critical_description: Option<String>,
    pub health: Vec<HealthResult>,
}

/// `(service, kind)` of an alert message from its embed title ("🔴 be — escalated to CRITICAL (was WARNING)").
pub fn classify(message: &Value) -> Option<(String, &'static str)> {
    let title = message.pointer("/embeds/0/title").and_then(Value::as_str)?;
    let (head, what) = title.split_once(" — ")?;
    let service = head.split_whitespace().last()?.to_string();
    // The health check passing again ends a DOWN-only incident ("RESOLVED: UP after …") or says
    // "UP, still CRITICAL" when the rate keeps it open: both are the UP this benchmark times.
    let kind = if what.starts_with("DOWN") {
        "DOWN"
    } else if what.starts_with("UP") || what.starts_with("RESOLVED: UP") {
        "UP"
    } else if what.starts_with("RESOLVED") {
        "RESOLVED"
    } else if what.starts_with("still") || what.starts_with("de-escalated") {
        "other"
    } else if what.contains("CRITICAL") {
        "CRITICAL"
    } else if what.contains("WARNING") {
        "WARNING"
    } else {
        "other"
    };
    Some((service, kind))
}

/// Accepted messages of `hook` as (arrival, service, kind).
fn arrivals(discord: &FakeDiscord, hook: u64) -> Vec<(Instant, String, &'static str)> {
    discord
        .requests()
        .into_iter()
        .filter(|r| r.webhook_id == hook && (200..300).contains(&r.status))
        .filter_map(|r| classify(&r.body).map(|(s, k)| (r.at, s, k)))
        .collect()
}

enum TrialState {
    Idle { next_at: Instant },
    Dying { since: Instant },
    Reviving { since: Instant },
    Done,
}

/// A health-checked service going through die/revive trials.
struct Trials<'a> {
    service: String,
    interval: Duration,
    upstream: &'a Upstream,
    state: TrialState,
    trials: Vec<HealthTrial>,
    max: usize,
}

impl Trials<'_> {
    /// Advances on the messages seen so far; `more` says whether a new trial may start.
    fn tick(&mut self, now: Instant, seen: &[(Instant, String, &'static str)], more: bool) {
        let found = |kind: &str, after: Instant| {
            seen.iter().find(|(at, s, k)| *s == self.service && *k == kind && *at > after).map(|(at, _, _)| *at)
        };
        // A trial that gets no DOWN within two intervals and a half is recorded as missed.
        let give_up = self.interval * 5 / 2 + Duration::from_secs(30);
        match self.state {
            TrialState::Idle { next_at } if more && self.trials.len() < self.max && now >= next_at => {
                self.upstream.set_health(Health::Failing(503));
                self.state = TrialState::Dying { since: now };
            }
            TrialState::Idle { .. } if !more || self.trials.len() >= self.max => self.state = TrialState::Done,
            TrialState::Dying { since } => {
                let down = found("DOWN", since);
                if down.is_some() || now > since + give_up {
                    self.upstream.set_health(Health::Up);
                    self.trials.push(HealthTrial {
                        down_after_s: down.map(|d| d.duration_since(since).as_secs_f64()),
                        up_after_s: None,
                    });
                    self.state = TrialState::Reviving { since: now };
                }
            }
            TrialState::Reviving { since } => {
                let up = found("UP", since);
                if up.is_some() || now > since + give_up || !more {
                    if let (Some(last), Some(up)) = (self.trials.last_mut(), up) {
                        last.up_after_s = Some(up.duration_since(since).as_secs_f64());
                    }
                    // The next death lands at a different phase of the check schedule each time.
                    let k = self.trials.len() as f64;
                    let offset = self.interval.mul_f64((k * 0.618_034).fract()) + Duration::from_secs(1);
                    self.state = TrialState::Idle { next_at: now + offset };
                }
            }
            _ => {}
        }
    }

    fn busy(&self) -> bool {
        matches!(self.state, TrialState::Dying { .. })
    }

    fn result(&self) -> HealthResult {
        let down: Vec<f64> = self.trials.iter().filter_map(|t| t.down_after_s).collect();
        let up: Vec<f64> = self.trials.iter().filter_map(|t| t.up_after_s).collect();
        HealthResult {
            service: self.service.clone(),
            interval_s: self.interval.as_secs_f64(),
            trials: self.trials.clone(),
            down: Spread::of(&down),
            up: Spread::of(&up),
        }
    }
}

/// Runs the alert-delay measurement (progress on stderr).
pub fn run(plan: &AlertPlan, workdir: &Path) -> Result<AlertResult, String> {
    let services = [("frontend", "/api/health"), ("be", "/server/actuator/health"), ("ai", "/ai/health")];
    let mut upstreams = BTreeMap::new();
    for (name, health) in services {
        upstreams.insert(name.to_string(), Upstream::launch(UpstreamOptions::new(name, health))?);
    }
    let up = |n: &str| upstreams.get(n).ok_or_else(|| format!("no upstream {n}"));
    let discord = FakeDiscord::start()?;
    let spec = CollectorSpec {
        window: plan.window,
        bucket: plan.bucket,
        webhooks: vec![
            ("default".into(), discord.webhook_url(RATE_HOOK, "bench")),
            ("health".into(), discord.webhook_url(HEALTH_HOOK, "bench")),
        ],
        services: services
            .iter()
            .map(|(name, path)| -> Result<ServiceEntry, String> {
                let interval = plan.health.iter().find(|(s, _)| s == name).map(|(_, i)| *i);
                Ok(ServiceEntry {
                    name: (*name).into(),
                    health: match interval {
                        Some(i) => Some((format!("{}{path}", up(name)?.base_url()), i, plan.health_timeout)),
                        None => None,
                    },
                    webhook: interval.map(|_| "health".to_string()),
                })
            })
            .collect::<Result<_, _>>()?,
        max_proxies: 16,
    };
    let collector = Collector::start(&spec, workdir)?;
    // Not a throughput test: the proxy and the collector may use every CPU (this process is pinned to one).
    procfs::pin(collector.pid(), &procfs::all_cpus()).map_err(|e| e.to_string())?;
    let layout = Layout {
        listen_port: 0,
        admin_port: 0,
        services: upstreams.iter().map(|(n, u)| (n.clone(), u.addr())).collect(),
        collector: collector.addr(),
        wasm: faultline_tests::paths::filter_wasm()?,
        plugin: serde_json::json!({
            "proxy_id": "bench-edge",
            "collector": {"token": TOKEN},
            "flush_interval_ms": plan.flush_interval_ms,
            "merge_interval_ms": plan.merge_interval_ms,
        }),
    };
    let mut envoy = Envoy::start(&envoy::render(&envoy::shipped_config()?, &layout)?, plan.concurrency)?;
    procfs::pin(envoy.process().pid(), &procfs::all_cpus()).map_err(|e| e.to_string())?;

    let traffic = traffic::spawn(&TrafficPlan {
        connections: 4,
        rate: Some(plan.rate),
        count_paths: false,
        ..TrafficPlan::new(
            &envoy.url(""),
            Targets::cycle(&["GET /server/users/7/orders", "GET /server/ping", "POST /server/orders"])?,
            Stop::WhenStopped,
        )
    })?;
    let begin = Instant::now();
    let t0 = begin + plan.warmup;
    let mut stepped = false;
    let mut points = Vec::new();
    let mut trials: Vec<Trials> = Vec::new();
    for (i, (service, interval)) in plan.health.iter().enumerate() {
        trials.push(Trials {
            service: service.clone(),
            interval: *interval,
            upstream: up(service)?,
            // Start after the first checks have seen the service up.
            state: TrialState::Idle { next_at: begin + *interval + Duration::from_secs(5 + 3 * i as u64) },
            trials: Vec::new(),
            max: plan.max_trials,
        });
    }
    let mut critical: Option<Instant> = None;
    let mut warning: Option<Instant> = None;
    let mut last_log = begin;
    let finish_by = t0 + plan.critical_timeout;
    loop {
        let now = Instant::now();
        let snap = traffic.snapshot();
        points.push(Point {
            t: now.duration_since(begin).as_secs_f64(),
            answered: snap.answered(),
            errors: snap.server_errors(),
        });
        if !stepped && now >= t0 {
            up("be")?.fail(plan.step_per_mille, 500, &[])?;
            stepped = true;
            eprintln!("[alert] t0: be now fails {}‰ of requests", plan.step_per_mille);
        }
        let rate_msgs = arrivals(&discord, RATE_HOOK);
        let after_t0 =
            |kind: &str| rate_msgs.iter().find(|(at, s, k)| s == "be" && *k == kind && *at >= t0).map(|m| m.0);
        if stepped {
            warning = warning.or_else(|| after_t0("WARNING"));
            critical = critical.or_else(|| after_t0("CRITICAL"));
        }
        if let Some((at, s, k)) = rate_msgs.iter().find(|(at, _, _)| *at < t0) {
            return Err(format!(
                "an alert arrived before the step: {s} {k} at {:?} after start",
                at.duration_since(begin)
            ));
        }
        let more = critical.is_none() && now < finish_by;
        let health_msgs = arrivals(&discord, HEALTH_HOOK);
        for t in trials.iter_mut() {
            t.tick(now, &health_msgs, more);
        }
        if (critical.is_some() && !trials.iter().any(Trials::busy)) || now > finish_by + Duration::from_secs(180) {
            break;
        }
        if now.duration_since(last_log) >= Duration::from_secs(30) {
            last_log = now;
            let (r, n) = truth::rate_at(&points, now.duration_since(begin).as_secs_f64(), plan.window.as_secs_f64());
            let done: Vec<String> = trials.iter().map(|t| format!("{} {} trials", t.service, t.trials.len())).collect();
            eprintln!(
                "[alert] {:>4.0} s: true 5-min rate {:.2}% over {n:.0} answers; {}",
                now.duration_since(begin).as_secs_f64(),
                r * 100.0,
                done.join(", ")
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let report = traffic.stop()?;
    let t0_s = t0.duration_since(begin).as_secs_f64();
    let window = plan.window.as_secs_f64();
    let true_warning = truth::crossing(&points, window, 0.05, t0_s, 100.0);
    let true_critical = truth::crossing(&points, window, 0.10, t0_s, 100.0);
    let rel = |i: Option<Instant>| i.map(|i| i.duration_since(begin).as_secs_f64());
    let critical_s = rel(critical);
    let delay = |at: Option<f64>, truth: Option<f64>| match (at, truth) {
        (Some(a), Some(t)) => Some(a - t),
        _ => None,
    };
    let critical_description = discord
        .messages(RATE_HOOK)
        .iter()
        .find(|m| classify(m).is_some_and(|(_, k)| k == "CRITICAL"))
        .and_then(|m| m.pointer("/embeds/0/description").and_then(Value::as_str))
        .map(|d| d.lines().next().unwrap_or("").to_string());
    let result = AlertResult {
        plan: plan.clone(),
        answered: report.answered(),
        unanswered: report.failed(),
        true_warning_s: true_warning.map(|t| t - t0_s),
        true_critical_s: true_critical.map(|t| t - t0_s),
        warning_at_s: rel(warning).map(|t| t - t0_s),
        critical_at_s: critical_s.map(|t| t - t0_s),
        warning_delay_s: delay(rel(warning), true_warning),
        critical_delay_s: delay(critical_s, true_critical),
        true_at_critical: critical_s.map(|t| {
            let (r, n) = truth::rate_at(&points, t, window);
            (n, r)
        }),
        critical_description,
        health: trials.iter().map(Trials::result).collect(),
    };
    drop(envoy);
    if critical.is_none() {
        eprintln!(
            "[alert] no CRITICAL within {:?} after t0; collector log:\n{}",
            plan.critical_timeout,
            collector.log()
        );
    }
    Ok(result)
}

fn secs(x: Option<f64>) -> String {
    x.map(|v| format!("{v:.1} s")).unwrap_or_else(|| "–".into())
}

/// The alert-delay section of BENCHMARKS.md.
pub fn markdown(r: &AlertResult) -> String {
    use std::fmt::Write as _;
    let p = &r.plan;
    let mut t = String::new();
    let _ = writeln!(
        t,
        "Steady {:.0} req/s through Envoy (`--concurrency {}`, the Faultline filter with flush {} ms, merge {} ms) to \
         `be`; collector window {} s, bucket {} s, WARNING 5%, CRITICAL 10%, min 100 requests. {} s of clean \
         traffic, then at t0 `be` fails {}‰ of requests (500). {} answers, {} without an answer.\n",
        p.rate,
        p.concurrency,
        p.flush_interval_ms,
        p.merge_interval_ms,
        p.window.as_secs(),
        p.bucket.as_secs(),
        p.warmup.as_secs(),
        p.step_per_mille,
        crate::report::thousands(r.answered as f64),
        r.unanswered,
    );
    let _ = writeln!(
        t,
        "| alert | true 5-min rate crosses (after t0) | message on Discord (after t0) | delay after the true crossing |"
    );
    let _ = writeln!(t, "|---|---|---|---|");
    let _ = writeln!(
        t,
        "| WARNING (5%) | {} | {} | {} |",
        secs(r.true_warning_s),
        secs(r.warning_at_s),
        secs(r.warning_delay_s)
    );
    let _ = writeln!(
        t,
        "| CRITICAL (10%) | {} | {} | **{}** |",
        secs(r.true_critical_s),
        secs(r.critical_at_s),
        secs(r.critical_delay_s)
    );
    let limit = p.flush_interval_ms as f64 / 1000.0 + 1.0;
    let _ = writeln!(
        t,
        "\n- Target: CRITICAL ≤ one flush interval + 1 s ({limit:.0} s) after the true crossing: {}.",
        crate::report::verdict(r.critical_delay_s, limit, false)
    );
    if let Some((n, rate)) = r.true_at_critical {
        let _ = writeln!(
            t,
            "- When CRITICAL arrived, the true 5-minute rate was {:.2}% over {n:.0} answers.",
            rate * 100.0
        );
    }
    if let Some(d) = &r.critical_description {
        let _ = writeln!(t, "- The CRITICAL message said: \"{}\".", d.replace('*', ""));
    }
    let _ = writeln!(
        t,
        "\nHealth endpoint dies at t0 (answers 503) → DOWN on Discord; back at t1 → UP (timeout {} s):\n",
        p.health_timeout.as_secs()
    );
    let _ = writeln!(
        t,
        "| service | check interval | trials | DOWN after t0: median (min–max) | UP after t1: median (min–max) |"
    );
    let _ = writeln!(t, "|---|---|---|---|---|");
    for h in &r.health {
        let missed = h.trials.iter().filter(|x| x.down_after_s.is_none()).count();
        let _ = writeln!(
            t,
            "| {} | {:.0} s | {}{} | {} s | {} s |",
            h.service,
            h.interval_s,
            h.trials.len(),
            if missed > 0 { format!(" ({missed} without DOWN)") } else { String::new() },
            crate::report::spread(h.down, 1),
            crate::report::spread(h.up, 1),
        );
    }
    t.push('\n');
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn msg(title: &str) -> Value {
        json!({"embeds": [{"title": title}]})
    }

    #[test]
    fn classifies_the_collector_titles() {
        assert_eq!(classify(&msg("🟠 be — WARNING: 6% of requests fail")), Some(("be".into(), "WARNING")));
        let escalated = msg("🔴 be — escalated to CRITICAL: 12% of requests fail (was WARNING)");
        assert_eq!(classify(&escalated), Some(("be".into(), "CRITICAL")));
        assert_eq!(classify(&msg("🔴 be — CRITICAL: 12% of requests fail")), Some(("be".into(), "CRITICAL")));
        let lower = msg("🟠 be — de-escalated to WARNING: 6% of requests fail (was CRITICAL)");
        assert_eq!(classify(&lower), Some(("be".into(), "other")));
        assert_eq!(classify(&msg("🔴 ai — DOWN: status 503 (1 failed check)")), Some(("ai".into(), "DOWN")));
        assert_eq!(classify(&msg("✅ ai — RESOLVED: UP after 12 s down")), Some(("ai".into(), "UP")));
        assert_eq!(classify(&msg("🔴 ai — UP, still CRITICAL: 50% of requests fail")), Some(("ai".into(), "UP")));
        assert_eq!(classify(&msg("✅ be — RESOLVED after 3 min (was WARNING)")), Some(("be".into(), "RESOLVED")));
        assert_eq!(classify(&msg("🔴 ai — still DOWN (for 30 min): x")), Some(("ai".into(), "other")));
        assert_eq!(classify(&json!({"content": "x"})), None);
    }
}
