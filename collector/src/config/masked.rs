//! The effective configuration, printed by `check-config`: every default filled in,
//! every secret (ingest tokens, webhook tokens) masked.

use super::{Config, fmt_d};
use std::fmt::Write;

fn pct(bp: u64) -> String {
    format!("{}.{:02}", bp / 100, bp % 100)
}

fn q(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

pub fn render(c: &Config) -> String {
    let mut o = String::new();
    let d = &c.defaults;
    let _ = writeln!(o, "# effective configuration of {} (secrets masked)", c.file.display());
    let _ = writeln!(o, "listen = {}", q(&c.listen.to_string()));
    let _ = writeln!(o, "state_dir = {}", q(&c.state_dir.display().to_string()));
    let _ = writeln!(o, "window = {}", q(&fmt_d(c.window)));
    let _ = writeln!(o, "bucket = {}", q(&fmt_d(c.bucket)));
    let _ = writeln!(o, "warning = {}  # percent", pct(d.warning_bp));
    let _ = writeln!(o, "critical = {}  # percent", pct(d.critical_bp));
    let _ = writeln!(o, "min_requests = {}", d.min_requests);
    let _ = writeln!(o, "clear_below = {}  # percent of a threshold", d.clear_pct);
    let _ = writeln!(o, "reminder = {}", q(&fmt_d(c.reminder)));
    let _ = writeln!(o, "stale_after = {}", q(&fmt_d(c.stale_after)));
    let _ = writeln!(o, "fast_window = {}", q(&fmt_d(c.fast.window)));
    let _ = writeln!(o, "fast_critical = {}  # percent", pct(c.fast.critical_bp));
    let _ = writeln!(o, "fast_min_requests = {}", c.fast.min_requests);
    let _ = writeln!(o, "top_routes = {}", c.top_routes);
    if c.status_token.is_some() {
        let _ = writeln!(o, "status_token = \"****\"");
    }
    if c.operator_token.is_some() {
        let _ = writeln!(o, "operator_token = \"****\"");
    }
    for t in &c.tokens {
        let _ = writeln!(o, "\n[[tokens]]\ntoken = \"****\"");
        if let Some(p) = &t.proxies {
            let list: Vec<String> = p.iter().map(|s| q(s)).collect();
            let _ = writeln!(o, "proxies = [{}]", list.join(", "));
        }
    }
    let _ = writeln!(o, "\n[webhooks]");
    for (name, w) in &c.webhooks {
        let _ = writeln!(o, "{} = {}", q(name), q(&w.masked));
    }
    let l = &c.limits;
    let _ = writeln!(
        o,
        "\n[limits]\nmax_proxies = {}\nmax_boots_per_proxy = {}\nmax_services = {}\nmax_routes = {}",
        l.max_proxies, l.max_boots_per_proxy, l.max_services, l.max_routes
    );
    let dl = &c.delivery;
    let _ = writeln!(
        o,
        "\n[delivery]\ntimeout = {}\nmax_backoff = {}\nbroken_retry = {}",
        q(&fmt_d(dl.timeout)),
        q(&fmt_d(dl.max_backoff)),
        q(&fmt_d(dl.broken_retry))
    );
    let _ =
        writeln!(o, "\n[history]\nretention = {}\nmax_rows = {}", q(&fmt_d(c.history.retention)), c.history.max_rows);
    act(c, &mut o);
    for s in &c.services {
        let _ = writeln!(o, "\n[[services]]\nname = {}", q(&s.name));
        if let Some(h) = &s.health {
            let ranges: Vec<String> =
                h.expect.0.iter().map(|(a, b)| if a == b { a.to_string() } else { format!("{a}-{b}") }).collect();
            let _ = writeln!(
                o,
                "health_url = {}\ninterval = {}\ntimeout = {}",
                q(&h.url),
                q(&fmt_d(h.interval)),
                q(&fmt_d(h.timeout))
            );
            // Written back in a form `expect_status` accepts: "2xx", 200, or [200, 204].
            let value = match h.expect.0.as_slice() {
                [(lo, hi)] if lo % 100 == 0 && *hi == lo + 99 => q(&format!("{}xx", lo / 100)),
                [(lo, hi)] if lo == hi => lo.to_string(),
                many => format!("[{}]", many.iter().map(|(lo, _)| lo.to_string()).collect::<Vec<_>>().join(", ")),
            };
            let _ = writeln!(o, "expect_status = {value}  # accepted: {}", ranges.join(", "));
            let _ = writeln!(
                o,
                "failures_before_down = {}\nsuccesses_before_up = {}",
                h.failures_before_down, h.successes_before_up
            );
        } else {
            let _ = writeln!(o, "# no health check");
        }
        let _ = writeln!(o, "webhook = {}", q(&s.webhook));
        let roles: Vec<String> = s.mention_roles.iter().map(|r| q(r)).collect();
        let users: Vec<String> = s.mention_users.iter().map(|r| q(r)).collect();
        let _ = writeln!(o, "mention_roles = [{}]\nmention_users = [{}]", roles.join(", "), users.join(", "));
        if let Some(l) = &s.link {
            let _ = writeln!(o, "link = {}", q(l));
        }
        let t = &s.thresholds;
        let _ = writeln!(
            o,
            "warning = {}\ncritical = {}\nmin_requests = {}",
            pct(t.warning_bp),
            pct(t.critical_bp),
            t.min_requests
        );
    }
    o
}

/// `[notify.NAME]` of every webhook (defaults filled in) and the `[[maintenance]]` windows.
fn act(c: &Config, o: &mut String) {
    use super::MaintenanceWhen;
    for name in c.webhooks.keys() {
        let n = c.notify_for(name);
        let _ = writeln!(o, "\n[notify.{}]\ngroup_wait = {}", q(name), q(&fmt_d(n.group_wait)));
        let _ = writeln!(o, "urgent_wait = {}", q(&fmt_d(n.urgent_wait)));
        if let Some(h) = &n.quiet_hours {
            let _ = writeln!(
                o,
                "quiet_hours = {{ start = {}, end = {}, time_zone = {} }}",
                q(&h.start.to_string()),
                q(&h.end.to_string()),
                q(&h.zone.name)
            );
        }
    }
    for m in &c.maintenance {
        let _ = writeln!(o, "\n[[maintenance]]\nname = {}", q(&m.name));
        if !m.services.is_empty() {
            let list: Vec<String> = m.services.iter().map(|s| q(s)).collect();
            let _ = writeln!(o, "services = [{}]", list.join(", "));
        }
        match &m.when {
            MaintenanceWhen::Weekly { days, start, duration, zone } => {
                let list: Vec<String> = super::weekday_names(days).into_iter().map(q).collect();
                let _ = writeln!(
                    o,
                    "weekdays = [{}]\nstart = {}\nduration = {}\ntime_zone = {}",
                    list.join(", "),
                    q(&start.to_string()),
                    q(&fmt_d(*duration)),
                    q(&zone.name)
                );
            }
            MaintenanceWhen::Once { from_ms, until_ms } => {
                let t = |ms: u64| {
                    jiff::Timestamp::from_millisecond(i64::try_from(ms).unwrap_or(i64::MAX))
                        .map(|t| t.to_string())
                        .unwrap_or_default()
                };
                let _ = writeln!(o, "from = {}\nuntil = {}", q(&t(*from_ms)), q(&t(*until_ms)));
            }
        }
    }
}
