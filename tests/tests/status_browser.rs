//! The status page in a real browser: Debian's chromium (headless) loads it from a running
//! collector with live data in every state, runs its script, and the DOM it leaves shows the
//! states, the numbers, the failing routes, the alerts' delivery and a drawn chart. A
//! screenshot is kept at target/artifacts/status-page.png (docs/status-page.png is a copy).
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

mod collector_support;
mod status_support;

use faultline_tests::process::wait_until;
use status_support::*;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Runs headless chromium on `url` with `mode` (`--dump-dom` or `--screenshot=...`) and a new
/// empty profile; returns its stdout. Killed by its PID if it hangs.
fn chromium(url: &str, mode: &[String], profile: &Path) -> String {
    std::fs::create_dir_all(profile).unwrap();
    let out_path = profile.with_extension("out");
    let mut child = Command::new(tool("chromium"))
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--virtual-time-budget=5000")
        .args(mode)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(profile.with_extension("err")).unwrap())
        .spawn()
        .unwrap();
    let done = wait_until(Duration::from_secs(120), || child.try_wait().unwrap());
    if done.is_none() {
        let _ = child.kill();
        let _ = child.wait();
        panic!("chromium did not finish in 120 s; stderr in {}", profile.with_extension("err").display());
    }
    std::fs::read_to_string(&out_path).unwrap()
}

/// The `<section class="svc">` of `service` in the rendered DOM (the script's own text removed).
fn card<'a>(dom: &'a str, service: &str) -> &'a str {
    let marker = format!("<section class=\"svc\" data-service=\"{service}\"");
    let at = dom.find(&marker).unwrap_or_else(|| panic!("no card for {service} in the DOM:\n{dom}"));
    let rest = &dom[at..];
    &rest[..rest.find("</section>").unwrap()]
}

#[test]
fn chromium_renders_states_numbers_routes_alerts_and_the_chart() {
    let l = live("status-browser", "");
    l.settle(1);
    let url = format!("http://{}/", l.c.addr);
    // A browser start on a loaded machine may end its time budget before the first answer:
    // up to three runs, each with a new empty profile, until the script has drawn the page.
    let mut dom = String::new();
    for attempt in 0..3 {
        let raw = chromium(&url, &["--dump-dom".to_string()], &l.dir.join(format!("chromium-dom-{attempt}")));
        dom = match (raw.find("<script>"), raw.rfind("</script>")) {
            (Some(a), Some(b)) => format!("{}{}", &raw[..a], &raw[b..]),
            _ => raw,
        };
        if dom.contains("data-loaded=\"yes\"") {
            break;
        }
    }
    assert!(dom.contains("data-loaded=\"yes\""), "the script ran and loaded the JSON:\n{dom}");

    let be = card(&dom, "be");
    assert!(be.contains("data-state=\"critical\"") && be.contains(">CRITICAL</span>"), "{be}");
    assert!(
        be.contains("<b class=\"rate\">12.0%</b>")
            && be.contains("<b class=\"errors\">120</b>")
            && be.contains("<b class=\"requests\">1000</b>"),
        "{be}"
    );
    assert!(
        be.contains(ORDERS) && be.contains("<td class=\"num count\">100</td>") && be.contains(CART),
        "failing routes with counts: {be}"
    );
    assert!(be.contains("first seen") && be.contains("s ago</td>"), "{be}");
    assert!(
        be.contains("data-health=\"up\"") && be.contains("<b class=\"health-result\">ok</b>") && be.contains(" ms</b>"),
        "health check latency and result: {be}"
    );
    assert!(be.contains("incident open for <b class=\"incident-duration\">"), "open incident with its duration: {be}");
    // The chart: volume bars, the rate line with its points at 12%, both thresholds.
    let path = be.split("class=\"rate-line\" d=\"").nth(1).unwrap_or_else(|| panic!("no rate line: {be}"));
    let d = &path[..path.find('"').unwrap()];
    assert!(d.starts_with('M') && d.split(['M', 'L']).filter(|p| !p.trim().is_empty()).count() >= 1, "{d}");
    assert!(be.contains("data-rate=\"0.1200\""), "a point at 12%: {be}");
    // Which API broke when: the per-route timeline, one row per failing route, its 5xx per minute.
    assert!(be.contains("class=\"route-timeline\""), "the per-route timeline: {be}");
    let cell = |route: &str| format!("data-route=\"{route}\" data-count=\"");
    assert!(be.contains(&cell(ORDERS)) && be.contains(&cell(CART)), "a row per failing route: {be}");
    assert!(be.contains("class=\"vol\" data-requests=\"1000\""), "the volume bar: {be}");
    // The last failing requests: the id to search the backend's logs for, with route, status, upstream, duration.
    let id = format!("{FAILED_ID}-1");
    assert!(be.contains(&format!("data-request-id=\"{id}\"")) && be.contains(&format!("<code>{id}</code>")), "{be}");
    assert!(be.contains("10.0.0.7:8080") && be.contains("31 ms") && be.contains(">500</td>"), "{be}");
    assert!(
        be.contains("class=\"th-warning\"")
            && be.contains("class=\"th-critical\"")
            && be.contains(">5.00%</text>")
            && be.contains(">10.0%</text>"),
        "{be}"
    );

    let ai = card(&dom, "ai");
    assert!(
        ai.contains("data-state=\"warning\"") && ai.contains("<b class=\"rate\">7.00%</b>") && ai.contains(PREDICT),
        "{ai}"
    );
    let db = card(&dom, "db");
    assert!(
        db.contains("data-state=\"down\"") && db.contains(">DOWN</span>") && db.contains("connection refused"),
        "{db}"
    );
    let fe = card(&dom, "fe");
    assert!(
        fe.contains("data-state=\"ok\"") && fe.contains("no 5xx in the window") && fe.contains("not configured"),
        "{fe}"
    );
    // Cards are ordered by severity: DOWN, CRITICAL, WARNING, OK.
    let pos = |s: &str| dom.find(&format!("data-service=\"{s}\"")).unwrap();
    assert!(pos("db") < pos("be") && pos("be") < pos("ai") && pos("ai") < pos("fe"));

    // Recent alerts with their delivery state.
    assert!(dom.contains("<tr class=\"alert\" data-delivery=\"delivered\">"), "{dom}");
    assert!(dom.contains("data-delivery=\"webhook_broken\"") && dom.contains(">webhook broken</span>"), "{dom}");
    assert!(dom.contains("be — CRITICAL: 12% of requests fail"), "{dom}");

    // The screenshot, kept as an artifact of the run.
    let artifacts = faultline_tests::paths::target_dir().join("artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let png = artifacts.join("status-page.png");
    let _ = std::fs::remove_file(&png);
    chromium(
        &url,
        &[format!("--screenshot={}", png.display()), "--window-size=1280,1600".to_string()],
        &l.dir.join("chromium-shot"),
    );
    let bytes = std::fs::read(&png).unwrap_or_else(|e| panic!("no screenshot at {}: {e}", png.display()));
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n") && bytes.len() > 20_000, "a real PNG ({} bytes)", bytes.len());
}
