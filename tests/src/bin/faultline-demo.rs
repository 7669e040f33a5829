//! `faultline-demo [--quick]`: Faultline working, live, on loopback. Starts three simulated services (frontend,
//! be, ai), the collector, the real Envoy with the Faultline filter, and a local Discord-compatible server that
//! prints each alert (or sends them to a real channel when `DISCORD_WEBHOOK_URL` is set), drives traffic through
//! Envoy and walks through: normal -> be at 7% 5xx (WARNING) -> 15% (CRITICAL, failing routes named) -> recovery
//! (RESOLVED) -> ai stopped (DOWN, its rate CRITICAL under it) -> ai back ("UP, still CRITICAL", its living
//! message too) -> RESOLVED. Everything it starts is stopped at the end, also on Ctrl-C.
//! Run it through `scripts/demo.sh`, which builds what it needs first.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use faultline_tests::discord::render;
use faultline_tests::stack::{self, Stack, StackOptions};
use faultline_tests::traffic::{self, Stop, Targets, TrafficPlan};

const USAGE: &str = "usage: faultline-demo [--quick]\n\
  Runs Envoy + the Faultline filter + the collector + 3 simulated services on 127.0.0.1 and shows the alerts.\n\
  --quick   shorter window and pauses (a smoke run of about a minute, for CI)\n\
  DISCORD_WEBHOOK_URL=https://discord.com/api/webhooks/ID/TOKEN sends the alerts to that channel instead.";

/// What the demo drives through Envoy: every route of the team's layout, be's three APIs weighted alike.
const TARGETS: [&str; 7] = [
    "GET /",
    "GET /api/session",
    "GET /server/users/42/orders",
    "POST /server/cart",
    "GET /server/items/17",
    "POST /ai/chat",
    "GET /server/users/7/orders",
];
/// The be routes that fail: half of be's traffic, so a per-mille of 2p on them is p overall.
const FAILING: [&str; 2] = ["GET /server/users/:id/orders", "POST /server/cart"];

struct Pace {
    options: StackOptions,
    normal: Duration,
    hold_down: Duration,
    rate: f64,
    step_timeout: Duration,
}

fn pace(quick: bool) -> Pace {
    let base = StackOptions {
        health_checked: vec!["frontend".into(), "be".into(), "ai".into()],
        webhook_url: std::env::var("DISCORD_WEBHOOK_URL").ok().filter(|u| !u.trim().is_empty()),
        ..StackOptions::default()
    };
    if quick {
        Pace {
            options: StackOptions {
                window: Duration::from_secs(15),
                health_interval: Duration::from_millis(500),
                health_timeout: Duration::from_millis(400),
                min_requests: 50,
                ..base
            },
            normal: Duration::from_secs(4),
            hold_down: Duration::from_secs(3),
            rate: 100.0,
            step_timeout: Duration::from_secs(120),
        }
    } else {
        Pace {
            options: StackOptions {
                window: Duration::from_secs(30),
                health_interval: Duration::from_secs(1),
                health_timeout: Duration::from_millis(800),
                min_requests: 100,
                ..base
            },
            normal: Duration::from_secs(15),
            hold_down: Duration::from_secs(8),
            rate: 120.0,
            step_timeout: Duration::from_secs(240),
        }
    }
}

fn main() {
    let mut quick = false;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--quick" => quick = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return;
            }
            other => {
                eprintln!("faultline-demo: unknown argument {other:?}\n{USAGE}");
                std::process::exit(2);
            }
        }
    }
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    if let Err(e) = ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst)) {
        eprintln!("faultline-demo: cannot catch Ctrl-C ({e}); stopping it may leave processes behind");
    }
    let started = Instant::now();
    let result = run(&pace(quick), &stop, started);
    // The stack (Envoy, collector, services, Discord server) was dropped inside run(): all stopped by now.
    match result {
        Ok(()) => say(started, "demo finished; everything it started is stopped."),
        Err(e) if stop.load(Ordering::SeqCst) => {
            say(started, &format!("interrupted: {e}; everything the demo started is stopped."));
            std::process::exit(130);
        }
        Err(e) => {
            eprintln!("faultline-demo: {e}");
            std::process::exit(1);
        }
    }
}

fn say(started: Instant, text: &str) {
    let t = started.elapsed().as_secs();
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "[{:02}:{:02}] {text}", t / 60, t % 60);
    let _ = out.flush();
}

fn run(p: &Pace, stop: &AtomicBool, started: Instant) -> Result<(), String> {
    let o = &p.options;
    say(
        started,
        "Faultline demo: Envoy 1.40 + the Faultline filter + the collector + 3 simulated services, all on 127.0.0.1.",
    );
    say(
        started,
        &format!(
            "Shortened for the demo: a {} s window (the product's default is 5 min), flushes every {} ms (5 s), \
             health checks every {} ms (60 s), at least {} requests before a rate counts.",
            o.window.as_secs(),
            o.flush_interval_ms,
            o.health_interval.as_millis(),
            o.min_requests
        ),
    );
    let mut stack = Stack::start(o.clone())?;
    say(
        started,
        &format!(
            "Envoy listening on {} (try: curl {}/server/users/1/orders)",
            stack.envoy.url(""),
            stack.envoy.url("")
        ),
    );
    say(
        started,
        &format!(
            "status page: open http://{}/ in a browser to watch it change (JSON: /v1/status)",
            stack.collector.addr()
        ),
    );
    let live = match &stack.discord {
        Some(d) => {
            say(started, "alerts go to a local Discord-compatible server and are printed below as they arrive.");
            let messages = d.subscribe();
            let colour = std::io::stdout().is_terminal();
            Some(std::thread::spawn(move || {
                for (webhook, message) in messages {
                    let received = format!("{} s into the demo", started.elapsed().as_secs());
                    let mut out = std::io::stdout().lock();
                    let _ = writeln!(out, "\n{}\n", render::render(webhook, &message, &received, colour));
                    let _ = out.flush();
                }
            }))
        }
        None => {
            say(started, "alerts go to the Discord channel of DISCORD_WEBHOOK_URL: watch it.");
            None
        }
    };

    let mut plan = TrafficPlan::new(&stack.envoy.url(""), Targets::cycle(&TARGETS)?, Stop::WhenStopped);
    plan.connections = 8;
    plan.rate = Some(p.rate);
    let load = traffic::spawn(&plan)?;
    say(started, &format!("sending {} requests/s through Envoy to all three services.", p.rate));

    say(started, "1/6 normal traffic: no errors, nothing to say.");
    pause(p.normal, stop)?;
    show(&stack, started);

    say(started, "2/6 be starts failing: 7% of its requests answer 503 (on two of its routes).");
    set_be(&stack, 70)?;
    wait_state(&stack, "be", |s| text(s, "/level") == "warning", "WARNING", p, stop, started)?;

    say(started, "3/6 it gets worse: 15% of be's requests fail.");
    set_be(&stack, 150)?;
    wait_state(&stack, "be", |s| text(s, "/level") == "critical", "CRITICAL", p, stop, started)?;
    say(started, "    The CRITICAL message is short and links to be's living message, edited in place:");
    show_living(&stack, "be", started);

    say(started, "4/6 be is fixed: 0% errors. The rate drains out of the window (via WARNING, with hysteresis).");
    set_be(&stack, 0)?;
    wait_state(&stack, "be", |s| text(s, "/level") == "ok", "RESOLVED", p, stop, started)?;

    say(started, "5/6 the AI service (FastAPI) crashes: it refuses connections; clients get Envoy's 503s.");
    stack.service_mut("ai")?.stop();
    wait_state(&stack, "ai", |s| text(s, "/state") == "down", "DOWN", p, stop, started)?;
    say(started, "    ai is DOWN. Envoy's 503s for it push its 5xx rate to CRITICAL: not paged on top of DOWN,");
    say(started, "    one incident per service; the channel will hear of it in the next message it gets.");
    wait_state(&stack, "ai", |s| text(s, "/level") == "critical", "CRITICAL (under DOWN)", p, stop, started)?;
    pause(p.hold_down, stop)?;
    show(&stack, started);

    say(started, "6/6 ai is restarted.");
    stack.service_mut("ai")?.start()?;
    wait_state(&stack, "ai", |s| text(s, "/state") != "down", "UP", p, stop, started)?;
    say(started, "    ai is UP, but the 503s its clients got are still in the window: \"UP, still CRITICAL\", red,");
    say(started, "    with its owners mentioned — never a green UP while the incident is open. ai's living message:");
    show_living(&stack, "ai", started);
    say(started, "    As they drain out, the living message follows (CRITICAL -> WARNING); RESOLVED ends the whole");
    say(started, "    incident, told once, timed from its first message.");
    wait_state(&stack, "ai", |s| text(s, "/level") == "ok", "RESOLVED", p, stop, started)?;
    let report = load.stop()?;
    stack.collector.wait_for_outbox_empty(p.step_timeout).map_err(|e| format!("delivering the last alerts: {e}"))?;
    show(&stack, started);
    say(
        started,
        &format!(
            "traffic sent through Envoy: {} requests, {} answered with a 5xx; alerts delivered: {}.",
            report.sent,
            report.server_errors(),
            if stack.discord.is_some() { stack.alerts().len().to_string() } else { "see your channel".into() }
        ),
    );
    // Stopping the Discord server ends the printing thread; it is not waited for.
    drop(stack);
    drop(live);
    Ok(())
}

fn set_be(stack: &Stack, per_mille_overall: u32) -> Result<(), String> {
    stack.service("be")?.fail(per_mille_overall * 2, 503, &FAILING)
}

/// Sleeps `d`, a little at a time, returning early with an error on Ctrl-C.
fn pause(d: Duration, stop: &AtomicBool) -> Result<(), String> {
    let until = Instant::now() + d;
    while Instant::now() < until {
        if stop.load(Ordering::SeqCst) {
            return Err("stopped by Ctrl-C or SIGTERM".into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// Waits until the collector shows `service` in the awaited state (and its alert is delivered), printing a
/// status line every few seconds meanwhile.
fn wait_state(
    stack: &Stack,
    service: &str,
    reached: impl Fn(&serde_json::Value) -> bool,
    what: &str,
    p: &Pace,
    stop: &AtomicBool,
    started: Instant,
) -> Result<(), String> {
    let deadline = Instant::now() + p.step_timeout;
    let mut next_line = Instant::now() + Duration::from_secs(5);
    loop {
        if stop.load(Ordering::SeqCst) {
            return Err("stopped by Ctrl-C or SIGTERM".into());
        }
        let status = stack.collector.status();
        if let Ok(s) = &status
            && stack::service_status(s, service).is_some_and(|s| reached(&s))
        {
            // Let the alert reach Discord before moving on.
            stack.collector.wait_for_outbox_empty(p.step_timeout)?;
            pause(Duration::from_millis(500), stop)?;
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!("{service} did not reach {what} in {:?}; status: {status:?}", p.step_timeout));
        }
        if Instant::now() >= next_line {
            show(stack, started);
            next_line = Instant::now() + Duration::from_secs(5);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Prints `service`'s living message as it reads now (edits are not new messages: the live printer does not
/// see them).
fn show_living(stack: &Stack, service: &str, started: Instant) {
    let Some(m) = stack.living(service) else { return };
    let received = format!("{} s into the demo, edited in place", started.elapsed().as_secs());
    let colour = std::io::stdout().is_terminal();
    println!("\n{}\n", render::render(m.webhook_id, m.current(), &received, colour));
}

/// One line per service from the collector's status: state, window rate and volume.
fn show(stack: &Stack, started: Instant) {
    let Ok(status) = stack.collector.status() else { return };
    let parts: Vec<String> = stack::SERVICES
        .iter()
        .filter_map(|(name, _, _)| stack::service_status(&status, name))
        .map(|s| {
            let requests = s.pointer("/window/requests").and_then(serde_json::Value::as_u64).unwrap_or(0);
            let errors = s.pointer("/window/errors").and_then(serde_json::Value::as_u64).unwrap_or(0);
            let rate = if requests > 0 { 100.0 * errors as f64 / requests as f64 } else { 0.0 };
            format!("{} {} {:.1}% ({errors}/{requests})", text(&s, "/name"), text(&s, "/state").to_uppercase(), rate)
        })
        .collect();
    say(started, &format!("    status: {}", parts.join(" | ")));
}

/// A string field of a status entry ("" when absent).
fn text<'a>(s: &'a serde_json::Value, pointer: &str) -> &'a str {
    s.pointer(pointer).and_then(serde_json::Value::as_str).unwrap_or("")
}
