//! What `faultline-collector history` prints: per service a table of the 5xx rate per minute
//! (or per group of minutes over long periods), a small text chart of the rate with the two
//! thresholds, the failing routes and the alerts of the period. Pure: rows in, text out.

use crate::decide::alert::Thresholds;
use crate::decide::minutes::MINUTE_MS;
use crate::store::history::{AlertRecord, MinuteRow, RouteTotal};
use std::fmt::Write;

/// Columns of the chart and most rows of the table (one more when the period is not aligned to minutes).
pub const COLUMNS: u64 = 60;
const CHART_ROWS: usize = 8;

/// UTC time of `ms` as `YYYY-MM-DD HH:MM`.
pub fn utc(ms: u64) -> String {
    let t = std::time::UNIX_EPOCH.checked_add(std::time::Duration::from_millis(ms));
    let mut s = String::new();
    if let Some(t) = t {
        let _ = write!(s, "{}", humantime::format_rfc3339_seconds(t));
    }
    s.get(..16).map(|p| p.replace('T', " ")).unwrap_or(s)
}

fn rate(errors: u64, requests: u64) -> Option<f64> {
    (requests > 0).then(|| errors as f64 / requests as f64)
}

fn pct(r: Option<f64>) -> String {
    r.map(|r| format!("{:.2}%", r * 100.0)).unwrap_or_else(|| "-".into())
}

/// Groups of minutes covering `[since_ms, now_ms]`: at most [`COLUMNS`], each `step` long.
fn groups(minutes: &[&MinuteRow], since_ms: u64, now_ms: u64) -> (u64, Vec<(u64, u64, u64)>) {
    let first = since_ms - since_ms % MINUTE_MS;
    let span = now_ms.saturating_sub(first) / MINUTE_MS + 1;
    let per = span.div_ceil(COLUMNS + 1).max(1);
    let step = per * MINUTE_MS;
    let n = span.div_ceil(per);
    let mut out: Vec<(u64, u64, u64)> = (0..n).map(|i| (first + i * step, 0, 0)).collect();
    for m in minutes {
        let i = usize::try_from(m.start_ms.saturating_sub(first) / step).unwrap_or(usize::MAX);
        if let Some(g) = out.get_mut(i) {
            g.1 += m.requests;
            g.2 += m.errors;
        }
    }
    (step, out)
}

/// The "last failing requests" lines of a service: UTC time, route, status, request id, upstream, duration.
pub fn failures(list: &[crate::decide::notice::FailedRequest]) -> String {
    let mut o = String::new();
    if list.is_empty() {
        return o;
    }
    let _ = writeln!(o, "last failing requests:");
    for f in list {
        let _ = write!(o, "  {}  {}  {}", utc_seconds(f.at_ms), f.status, f.route);
        if let Some(id) = &f.request_id {
            let _ = write!(o, "  id {id}");
        }
        if let Some(u) = &f.upstream {
            let _ = write!(o, "  {u}");
        }
        if let Some(d) = f.duration_ms {
            let _ = write!(o, "  {d} ms");
        }
        o.push('\n');
    }
    o
}

/// UTC time of `ms` as `YYYY-MM-DD HH:MM:SS`.
fn utc_seconds(ms: u64) -> String {
    let t = std::time::UNIX_EPOCH.checked_add(std::time::Duration::from_millis(ms));
    let mut s = String::new();
    if let Some(t) = t {
        let _ = write!(s, "{}", humantime::format_rfc3339_seconds(t));
    }
    s.get(..19).map(|p| p.replace('T', " ")).unwrap_or(s)
}

/// The history of `service` since `since_ms` at `now_ms`.
pub fn render(
    service: &str,
    since_ms: u64,
    now_ms: u64,
    minutes: &[MinuteRow],
    routes: &[RouteTotal],
    alerts: &[AlertRecord],
    th: Thresholds,
) -> String {
    let mine: Vec<&MinuteRow> = minutes.iter().filter(|m| m.service == service).collect();
    let (step, cols) = groups(&mine, since_ms, now_ms);
    let mut o = String::new();
    let (req, err) = mine.iter().fold((0, 0), |(r, e), m| (r + m.requests, e + m.errors));
    let _ = writeln!(
        o,
        "{service}: {} to {} UTC, {req} requests, {err} 5xx ({})",
        utc(since_ms),
        utc(now_ms),
        pct(rate(err, req))
    );
    let _ = writeln!(
        o,
        "WARNING from {}, CRITICAL from {}\n",
        pct(Some(th.warning_bp as f64 / 1e4)),
        pct(Some(th.critical_bp as f64 / 1e4))
    );
    let _ = writeln!(
        o,
        "{:<16}  {:>10}  {:>8}  {:>8}",
        if step == MINUTE_MS { "minute (UTC)" } else { "from (UTC)" },
        "requests",
        "5xx",
        "rate"
    );
    for (start, r, e) in cols.iter().filter(|c| c.1 > 0 || c.2 > 0) {
        let mark = match rate(*e, *r) {
            Some(x) if x * 1e4 >= th.critical_bp as f64 => "  CRITICAL",
            Some(x) if x * 1e4 >= th.warning_bp as f64 => "  WARNING",
            _ => "",
        };
        let _ = writeln!(o, "{:<16}  {r:>10}  {e:>8}  {:>8}{mark}", utc(*start), pct(rate(*e, *r)));
    }
    if req == 0 {
        let _ = writeln!(o, "(no data in this period)");
    }
    // The chart: one column per group, rows from the top rate down; thresholds drawn as - and =.
    let top = cols.iter().filter_map(|c| rate(c.2, c.1)).fold(th.critical_bp as f64 / 1e4 * 1.5, f64::max).min(1.0);
    let _ = writeln!(o, "\n5xx rate, {} per column (# rate, = critical, - warning):", crate::message::span(step));
    for row in (0..CHART_ROWS).rev() {
        let lo = top * row as f64 / CHART_ROWS as f64;
        let hi = top * (row + 1) as f64 / CHART_ROWS as f64;
        let within = |bp: u64| {
            let v = bp as f64 / 1e4;
            v >= lo && v < hi
        };
        let line: String = cols
            .iter()
            .map(|c| match rate(c.2, c.1) {
                Some(x) if x > lo || (row == 0 && x > 0.0) => '#',
                _ if within(th.critical_bp) => '=',
                _ if within(th.warning_bp) => '-',
                _ => ' ',
            })
            .collect();
        let _ = writeln!(o, "{:>7} |{line}", pct(Some(hi)));
    }
    let _ = writeln!(o, "        +{}", "-".repeat(cols.len()));
    let _ = writeln!(
        o,
        "         {:<w$}{}",
        utc(since_ms).get(11..).unwrap_or(""),
        utc(now_ms).get(11..).unwrap_or(""),
        w = cols.len().saturating_sub(5)
    );
    let mine_routes: Vec<&RouteTotal> = routes.iter().filter(|r| r.service == service).collect();
    if !mine_routes.is_empty() {
        let _ = writeln!(o, "\nfailing routes:");
        for r in mine_routes {
            let _ = writeln!(
                o,
                "  {:>8}  {}  (first {}, last {})",
                r.count,
                r.route,
                utc(r.first_seen_ms),
                utc(r.last_seen_ms)
            );
        }
    }
    let mine_alerts: Vec<&AlertRecord> = alerts.iter().filter(|a| a.service == service).collect();
    let _ = writeln!(o, "\nalerts{}", if mine_alerts.is_empty() { ": none" } else { ":" });
    for a in mine_alerts {
        let sent = a.sent_ms.map(|s| format!(" at {}", utc(s))).unwrap_or_default();
        let _ = writeln!(
            o,
            "  {}  #{} {}  [{}{sent}, {} failed attempt(s)]",
            utc(a.created_ms),
            a.id,
            a.title,
            a.outcome,
            a.attempts
        );
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(start_ms: u64, requests: u64, errors: u64) -> MinuteRow {
        MinuteRow { service: "be".into(), start_ms, requests, errors }
    }

    const T0: u64 = 1_764_540_000_000; // 2025-11-30 22:00 UTC

    #[test]
    fn table_chart_routes_and_alerts() {
        let th = Thresholds { warning_bp: 500, critical_bp: 1000, min_requests: 100, clear_pct: 80 };
        let rows = [
            m(T0, 1000, 10),
            m(T0 + 60_000, 1000, 70),
            m(T0 + 120_000, 1000, 150),
            MinuteRow { service: "ai".into(), ..m(T0, 5, 5) },
        ];
        let routes = [RouteTotal {
            service: "be".into(),
            route: "GET /server/users/:id/orders".into(),
            count: 200,
            first_seen_ms: T0,
            last_seen_ms: T0 + 150_000,
        }];
        let alerts = [AlertRecord {
            id: 7,
            service: "be".into(),
            webhook: "default".into(),
            title: "🔴 be — CRITICAL raised".into(),
            created_ms: T0 + 150_000,
            outcome: "delivered".into(),
            sent_ms: Some(T0 + 151_000),
            attempts: 0,
            message_id: Some("1".into()),
        }];
        let text = render("be", T0, T0 + 3_599_999, &rows, &routes, &alerts, th);
        assert!(
            text.contains("be: 2025-11-30 22:00 to 2025-11-30 22:59 UTC, 3000 requests, 230 5xx (7.67%)"),
            "{text}"
        );
        assert!(text.contains("2025-11-30 22:00        1000        10     1.00%\n"), "{text}");
        assert!(text.contains("2025-11-30 22:01        1000        70     7.00%  WARNING"), "{text}");
        assert!(text.contains("2025-11-30 22:02        1000       150    15.00%  CRITICAL"), "{text}");
        assert!(
            text.contains("GET /server/users/:id/orders")
                && text.contains("#7 🔴 be — CRITICAL raised  [delivered at 2025-11-30 22:02"),
            "{text}"
        );
        let chart: Vec<&str> = text.lines().filter(|l| l.contains(" |")).collect();
        assert_eq!(chart.len(), 8, "{text}");
        // 15% is the top of the scale: the third column is full, the first only at the bottom.
        assert!(chart.iter().all(|l| l.split('|').nth(1).unwrap().chars().nth(2) == Some('#')), "{text}");
        assert_eq!(chart.iter().filter(|l| l.split('|').nth(1).unwrap().starts_with('#')).count(), 1, "{text}");
        assert!(
            chart.iter().any(|l| l.contains("===")) && chart.iter().any(|l| l.contains("---")),
            "thresholds drawn: {text}"
        );
    }

    #[test]
    fn long_periods_are_grouped_into_at_most_sixty_columns() {
        let th = Thresholds { warning_bp: 500, critical_bp: 1000, min_requests: 100, clear_pct: 80 };
        let rows: Vec<MinuteRow> = (0..1440).map(|i| m(T0 + i * 60_000, 10, 1)).collect();
        let text = render("be", T0, T0 + 86_400_000 - 1, &rows, &[], &[], th);
        let table: Vec<&str> = text.lines().filter(|l| l.starts_with("2025-")).collect();
        assert_eq!(table.len(), 60, "{text}");
        assert!(table[0].contains("240") && table[0].contains("10.00%"), "24 minutes per row: {}", table[0]);
        assert!(render("be", T0, T0 + 60_000, &[], &[], &[], th).contains("(no data in this period)"));
    }

    #[test]
    fn the_last_failing_requests_are_listed_with_their_ids() {
        assert_eq!(failures(&[]), "");
        let f = crate::decide::notice::FailedRequest {
            at_ms: T0 + 61_500,
            proxy: "edge-1".into(),
            method: "GET".into(),
            route: "GET /a/:id".into(),
            status: 502,
            request_id: Some("r-1".into()),
            upstream: Some("10.0.0.7:8080".into()),
            duration_ms: Some(31),
            ..Default::default()
        };
        let g =
            crate::decide::notice::FailedRequest { request_id: None, upstream: None, duration_ms: None, ..f.clone() };
        assert_eq!(
            failures(&[f, g]),
            "last failing requests:\n  2025-11-30 22:01:01  502  GET /a/:id  id r-1  10.0.0.7:8080  31 ms\n  \
             2025-11-30 22:01:01  502  GET /a/:id\n"
        );
    }
}
