//! `faultline-collector history` against the real service's database while it runs (a
//! read-only connection in WAL mode): the table, the text chart, the failing routes and the
//! alerts; per-minute counts survive a `kill -9` without being counted twice.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

mod collector_support;
mod status_support;

use collector_support::*;
use faultline_tests::process::wait_until;
use status_support::*;
use std::process::Command;

fn history(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(bin()).arg("history").args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn history_prints_table_chart_routes_and_alerts_while_the_service_runs() {
    let l = live("history-cli", "");
    l.settle(1);
    let config = l.c.config.to_str().unwrap();
    let (ok, out, err) = history(&["--config", config, "--service", "be", "--since", "1h"]);
    assert!(ok, "{err}");
    assert!(out.contains("be: ") && out.contains(" UTC, 1000 requests, 120 5xx (12.00%)"), "{out}");
    assert!(out.contains("WARNING from 5.00%, CRITICAL from 10.00%"), "{out}");
    let row = out
        .lines()
        .find(|l| l.contains("    1000 ") && l.ends_with("CRITICAL"))
        .unwrap_or_else(|| panic!("no table row: {out}"));
    assert!(row.contains("120") && row.contains("12.00%"), "{row}");
    let chart: Vec<&str> = out.lines().filter(|l| l.contains('%') && l.contains(" |")).collect();
    assert_eq!(chart.len(), 8, "an 8-row chart: {out}");
    assert!(chart.iter().filter(|l| l.contains('#')).count() >= 6, "12% of a 15% scale: {out}");
    assert!(out.contains(&format!("     100  {ORDERS}")) && out.contains(&format!("      20  {CART}")), "{out}");
    assert!(out.contains("be — CRITICAL: 12% of requests fail  [delivered at "), "{out}");
    assert!(!out.contains("ai:"), "only the service asked for");
    let failed = out.lines().skip_while(|l| *l != "last failing requests:").nth(1).unwrap_or_else(|| panic!("{out}"));
    assert!(failed.contains(&format!("500  {ORDERS}  id {FAILED_ID}-1  10.0.0.7:8080  31 ms")), "{out}");

    // Every service, by --state-dir (default thresholds), with the broken webhook's alert pending.
    let state = l.dir.join("state");
    let (ok, out, err) = history(&["--state-dir", state.to_str().unwrap(), "--since", "30m"]);
    assert!(ok, "{err}");
    for s in ["ai: ", "be: ", "db: ", "fe: "] {
        assert!(out.contains(s), "{s} missing: {out}");
    }
    assert!(out.contains("ai — WARNING: ") && out.contains("of requests fail  [pending"), "{out}");
    assert!(out.contains("db — DOWN: connection refused"), "{out}");

    let (ok, _, err) = history(&["--state-dir", l.dir.join("nowhere").to_str().unwrap()]);
    assert!(!ok && err.contains("no database here"), "{err}");
    let (ok, _, err) = history(&["--config", config, "--since", "soon"]);
    assert!(!ok && err.contains("--since"), "{err}");
}

#[test]
fn minutes_are_neither_lost_nor_doubled_by_a_kill_9() {
    let l = live("history-kill", "");
    l.settle(1);
    let Live { discord, c, dir } = l;
    let config = c.config.to_str().unwrap().to_string();
    let c = c.restart_after_kill9();
    let l = Live { discord, c, dir };
    l.post(2, 2);
    l.post(3, 3);
    // The restarted service goes on from the stored minute (and the ledger's baseline).
    let out = wait_until(LONG, || {
        let (_, out, _) = history(&["--config", &config, "--service", "be"]);
        out.contains("3000 requests, 360 5xx").then_some(out)
    })
    .unwrap_or_else(|| {
        panic!("history never showed 3000 requests: {}", history(&["--config", &config, "--service", "be"]).1)
    });
    assert!(out.contains(&format!("     300  {ORDERS}")), "{out}");
}
