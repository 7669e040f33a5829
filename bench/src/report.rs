//! Markdown for BENCHMARKS.md from the measured results. Pure: results in, text out.

use crate::overhead::{OverheadResult, Ratios, VariantSummary};
use crate::stats::Spread;
use crate::variants::Variant;
use std::fmt::Write as _;

/// `median (min–max)` with `decimals` digits, or "–".
pub fn spread(s: Option<Spread>, decimals: usize) -> String {
    match s {
        Some(s) if s.n > 1 => format!("{:.d$} ({:.d$}–{:.d$})", s.median, s.min, s.max, d = decimals),
        Some(s) => format!("{:.d$}", s.median, d = decimals),
        None => "–".into(),
    }
}

/// A whole number with thousands separators ("30,543").
pub fn thousands(x: f64) -> String {
    let n = x.round() as i64;
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

fn spread_thousands(s: Option<Spread>) -> String {
    match s {
        Some(s) if s.n > 1 => format!("{} ({}–{})", thousands(s.median), thousands(s.min), thousands(s.max)),
        Some(s) => thousands(s.median),
        None => "–".into(),
    }
}

/// Whether `value` meets a target `<= limit` (or `>= limit` when `at_least`), as a word.
pub fn verdict(value: Option<f64>, limit: f64, at_least: bool) -> &'static str {
    match value {
        None => "not measured",
        Some(v) if (at_least && v >= limit) || (!at_least && v <= limit) => "**met**",
        Some(_) => "**missed**",
    }
}

/// The section of one overhead run.
pub fn overhead(r: &OverheadResult) -> String {
    let p = &r.plan;
    let mut t = String::new();
    let _ = writeln!(t, "### {}\n", p.name);
    let pin = match &p.envoy_cpus {
        Some(c) if c.contains('-') || c.contains(',') => format!("Envoy on CPUs {c}"),
        Some(c) => format!("Envoy pinned to CPU {c}"),
        None => "Envoy not pinned".into(),
    };
    let paths = match p.distinct_paths {
        Some(n) => format!("{} distinct paths (`bench/wrk/paths.lua`)", thousands(f64::from(n))),
        None => format!("one path (`GET {}`)", crate::overhead::PATH),
    };
    let _ = writeln!(
        t,
        "Envoy `--concurrency {}`, {pin}; wrk and the upstream on CPU {}. wrk `-t{} -c{}`, {} rounds × {} s \
         (each after a {} s warm-up), {paths}, {}% of responses 5xx. Upstream alone (wrk straight at it): {} req/s.\n",
        p.concurrency,
        r.load_cpus,
        p.wrk_threads,
        p.connections,
        p.rounds,
        p.measure.as_secs(),
        p.warmup.as_secs(),
        p.error_per_mille as f64 / 10.0,
        thousands(r.upstream_direct.rps()),
    );
    let _ = writeln!(
        t,
        "| Envoy with | req/s | p50 ms | p99 ms | p99.9 ms | Envoy CPU s / 100k req \
         | req/s vs (b) | CPU vs (b) | p99 vs (b) | p99.9 vs (b) | req/s vs (a) |"
    );
    let _ = writeln!(t, "|---|---|---|---|---|---|---|---|---|---|---|");
    for v in &r.summary {
        row(&mut t, v);
    }
    let _ = writeln!(
        t,
        "\nMedians over rounds, (min–max) across rounds; ratios are paired by round (same round, same minute)."
    );
    if let Some(c) = r.summary.iter().find(|s| s.variant == Variant::Faultline) {
        targets(&mut t, &c.vs_noop);
    }
    if let Some(f) = &r.faultline {
        let _ = writeln!(
            t,
            "- Faultline really counted: Envoy (c) sent {} responses in all, the collector counted {} \
             ({} 5xx) from {} flushes.",
            thousands(f.envoy_responses as f64),
            thousands(f.collector_responses as f64),
            thousands(f.collector_5xx as f64),
            thousands(f.flushes as f64)
        );
    }
    if let Some(b) = r.access_log_bytes_per_request {
        let _ = writeln!(t, "- (d) wrote {b:.0} bytes of JSON access log per request.");
    }
    let errors: u64 = r.samples.iter().map(|s| s.wrk.socket_errors()).sum();
    let _ = writeln!(t, "- Requests without an answer (wrk socket errors and timeouts) over all runs: {errors}.\n");
    t
}

fn row(t: &mut String, v: &VariantSummary) {
    let is_b = v.variant == Variant::Noop;
    let is_a = v.variant == Variant::NoWasm;
    let vs =
        |r: &Ratios, f: fn(&Ratios) -> Option<Spread>, base: bool| if base { "1".to_string() } else { spread(f(r), 3) };
    let _ = writeln!(
        t,
        "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
        v.label,
        spread_thousands(v.rps),
        spread(v.p50_ms, 2),
        spread(v.p99_ms, 2),
        spread(v.p999_ms, 2),
        spread(v.cpu_s_per_100k, 2),
        vs(&v.vs_noop, |r| r.rps, is_b),
        vs(&v.vs_noop, |r| r.cpu, is_b),
        vs(&v.vs_noop, |r| r.p99, is_b),
        vs(&v.vs_noop, |r| r.p999, is_b),
        vs(&v.vs_no_wasm, |r| r.rps, is_a),
    );
}

fn targets(t: &mut String, r: &Ratios) {
    let med = |s: Option<Spread>| s.map(|s| s.median);
    let _ = writeln!(
        t,
        "- Targets, (c) vs (b) (medians of paired ratios): throughput {} ≥ 0.98 {}; CPU per request {} ≤ 1.03 {}; \
         p99 {} ≤ 1.05 {}.",
        spread(r.rps, 3),
        verdict(med(r.rps), 0.98, true),
        spread(r.cpu, 3),
        verdict(med(r.cpu), 1.03, false),
        spread(r.p99, 3),
        verdict(med(r.p99), 1.05, false),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_well() {
        assert_eq!(thousands(30543.4), "30,543");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(1_000_000.0), "1,000,000");
        assert_eq!(thousands(-1234.0), "-1,234");
        let s = Spread { median: 0.9912, min: 0.97, max: 1.004, n: 7 };
        assert_eq!(spread(Some(s), 3), "0.991 (0.970–1.004)");
        assert_eq!(spread(Some(Spread { n: 1, ..s }), 2), "0.99");
        assert_eq!(spread(None, 2), "–");
    }

    #[test]
    fn verdicts() {
        assert_eq!(verdict(Some(0.99), 0.98, true), "**met**");
        assert_eq!(verdict(Some(0.97), 0.98, true), "**missed**");
        assert_eq!(verdict(Some(1.02), 1.03, false), "**met**");
        assert_eq!(verdict(Some(1.04), 1.03, false), "**missed**");
        assert_eq!(verdict(None, 1.0, true), "not measured");
    }
}
