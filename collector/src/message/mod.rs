//! The Discord message for a notice: an embed coloured by severity with the rate and its
//! counts, the window, the top failing routes, the health check and the service link;
//! owners mentioned in `content` with an explicit `allowed_mentions`. Everything is
//! trimmed to Discord's limits, so a message never fails for its size. Pure.

mod headline;
pub mod living;
mod trim;

use crate::config::ServiceConfig;
use crate::decide::coverage::Coverage;
use crate::decide::health::{Health, HealthChange};
use crate::decide::incident::{IncidentChange, Severity};
use crate::decide::notice::{Event, IncidentEvent, Notice};
use crate::decide::watchdog::ProxyChange;
pub use headline::{Headline, headline};
use serde_json::{Value, json};
pub use trim::{LIMITS, cut, embed_chars, fit_embed, fit_embed_within};

/// `12.4%` (up to two decimals, no trailing zeros), or `-` without requests.
pub fn percent(errors: u64, requests: u64) -> String {
    if requests == 0 {
        return "-".into();
    }
    let hundredths = (u128::from(errors) * 10_000 + u128::from(requests) / 2) / u128::from(requests);
    let s = format!("{}.{:02}", hundredths / 100, hundredths % 100);
    format!("{}%", s.trim_end_matches('0').trim_end_matches('.'))
}

/// `5 min`, `30 s`, `2 h 5 min`: a short human duration.
pub fn span(ms: u64) -> String {
    let s = ms / 1000;
    if ms < 1000 {
        return format!("{ms} ms");
    }
    match s {
        0..60 => format!("{s} s"),
        60..3600 if s.is_multiple_of(60) => format!("{} min", s / 60),
        60..3600 => format!("{} min {} s", s / 60, s % 60),
        _ if (s % 3600) / 60 == 0 => format!("{} h", s / 3600),
        _ => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}

/// The headline of a notice (the message title), for history listings.
pub fn title(n: &Notice) -> String {
    headline(n).text
}

fn rate_line(n: &Notice) -> String {
    let full = n.coverage.is_none_or(|c| c.is_full());
    if n.requests == 0 && full {
        return format!("No data: no traffic in the last {} (every proxy reported).", span(n.window_ms));
    }
    if n.requests == 0 {
        return "No requests counted: the proxies' reports do not cover the window.".to_string();
    }
    let mut s = format!(
        "5xx rate **{} — {} of {} in {}**",
        percent(n.errors, n.requests),
        n.errors,
        n.requests,
        counted_span(n)
    );
    if n.requests < n.thresholds.min_requests {
        s.push_str(&format!(" (below the minimum of {} requests: the rate is not judged)", n.thresholds.min_requests));
    }
    s
}

/// What time the counts really cover: the window, or the flushes' own span when it differs by a second or
/// more (`in 28 s of reports` for a 30 s window whose flushes fell so).
fn counted_span(n: &Notice) -> String {
    match n.covers_ms {
        Some(c) if c.abs_diff(n.window_ms) >= 1_000 => format!("{} of reports", span(c)),
        _ => span(n.window_ms),
    }
}

fn bp(b: u64) -> String {
    percent(b, 10_000)
}

/// Fills a link template: `{service}`, `{from_ms}`, `{to_ms}`, `{from_s}`, `{to_s}` (the window), and from
/// the latest failing request `{request_id}`, `{route}`, `{path}` (percent-encoded; empty when unknown).
pub fn link(template: &str, n: &Notice) -> String {
    let from = n.at_ms.saturating_sub(n.window_ms);
    let last = n.last_failures.first();
    let part = |v: Option<&str>| encode_component(v.unwrap_or(""));
    template
        .replace("{service}", &n.service)
        .replace("{from_ms}", &from.to_string())
        .replace("{to_ms}", &n.at_ms.to_string())
        .replace("{from_s}", &(from / 1000).to_string())
        .replace("{to_s}", &(n.at_ms / 1000).to_string())
        .replace("{request_id}", &part(last.and_then(|f| f.request_id.as_deref())))
        .replace("{route}", &part(last.map(|f| f.route.as_str())))
        .replace("{path}", &part(last.and_then(|f| f.path.as_deref())))
}

/// `s` percent-encoded for a URL query or path segment (RFC 3986 unreserved characters kept).
fn encode_component(s: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// The "Last failing requests" field: when, route, status, request id (a code span, to copy), upstream,
/// duration, and what the proxy saw when it was not the upstream's answer. `None` without any.
fn failures_field(n: &Notice) -> Option<Value> {
    let code = |s: &str, max: usize| format!("`{}`", cut(&s.replace('`', "'"), max));
    let lines: Vec<String> = n
        .last_failures
        .iter()
        .map(|f| {
            let mut l = format!("<t:{}:T> {} **{}**", f.at_ms / 1000, code(&f.route, 120), f.status);
            if let Some(id) = &f.request_id {
                l.push_str(&format!(" · id {}", code(id, 100)));
            }
            if let Some(u) = &f.upstream {
                l.push_str(&format!(" · {}", cut(u, 60)));
            }
            if let Some(d) = f.duration_ms {
                l.push_str(&format!(" · {d} ms"));
            }
            if let Some(d) = f.details.as_deref().filter(|d| *d != "via_upstream") {
                l.push_str(&format!(" · {}", code(d, 80)));
            }
            l
        })
        .collect();
    (!lines.is_empty())
        .then(|| json!({"name": "Last failing requests", "value": trim::join_lines(&lines, LIMITS.field_value)}))
}

/// The embed timestamp; `None` past year 9999, which RFC 3339 cannot write (humantime's
/// `Display` then fails, and `to_string` would panic).
fn rfc3339(ms: u64) -> Option<String> {
    use std::fmt::Write as _;
    let t = std::time::UNIX_EPOCH.checked_add(std::time::Duration::from_millis(ms))?;
    let mut s = String::new();
    write!(s, "{}", humantime::format_rfc3339_seconds(t)).ok()?;
    Some(s)
}

/// The `content` line and `allowed_mentions` that notify the owners (mentions in embeds don't).
fn mentions(headline: &str, svc: Option<&ServiceConfig>, notify: bool) -> (String, Value) {
    let roles: Vec<&String> =
        svc.filter(|_| notify).map(|s| s.mention_roles.iter().take(100).collect()).unwrap_or_default();
    let users: Vec<&String> =
        svc.filter(|_| notify).map(|s| s.mention_users.iter().take(100).collect()).unwrap_or_default();
    let tags: Vec<String> =
        roles.iter().map(|r| format!("<@&{r}>")).chain(users.iter().map(|u| format!("<@{u}>"))).collect();
    let head = cut(headline, 400);
    let mut content = String::new();
    for t in &tags {
        if content.chars().count() + t.chars().count() + 1 + head.chars().count() > LIMITS.content {
            break;
        }
        content.push_str(t);
        content.push(' ');
    }
    content.push_str(&head);
    (cut(&content, LIMITS.content), json!({ "parse": [], "roles": roles, "users": users }))
}

/// What the channel must know beyond the headline: what changed under a DOWN, how the incident
/// stands, and a window the reports do not cover.
fn incident_lines(n: &Notice, e: &IncidentEvent) -> Vec<String> {
    let mut out = Vec::new();
    let after = e.change.after();
    if let Some(HealthChange::Up { downtime_ms }) = &e.health {
        out.push(format!("The health check passes again: UP after {} down.", span(*downtime_ms)));
    }
    if let Some(before) = e.change.before()
        && before.level != after.level
        && (before.down || after.down)
    {
        let said = if before.level > after.level { "fell" } else { "rose" };
        out.push(format!("Since the last message the 5xx rate {said} to {}.", after.level.name()));
    } else if after.down && after.level > crate::decide::alert::Level::Ok {
        out.push(format!("The 5xx rate is {} too.", after.level.name()));
    }
    match &e.change {
        IncidentChange::Resolved { lasted_ms, worst, .. } => out.push(format!(
            "The incident lasted {} (from <t:{}:f>; worst: {}).",
            span(*lasted_ms),
            e.opened_ms / 1000,
            worst.name()
        )),
        _ => out.push(format!(
            "Incident open since <t:{}:f> ({}).",
            e.opened_ms / 1000,
            span(n.at_ms.saturating_sub(e.opened_ms))
        )),
    }
    out
}

/// A sentence on a window the reports do not fully cover (nothing when they do).
fn coverage_line(c: Option<Coverage>) -> Option<String> {
    match c? {
        Coverage::Full => None,
        Coverage::Partial { from_ms } => Some(format!(
            "⚠️ The proxies' reports cover the window only since <t:{}:R>: the state can rise on what they \
             show, but is not lowered until they cover all of it.",
            from_ms / 1000
        )),
        Coverage::Missing { last_ms: Some(l) } => Some(format!(
            "⚠️ No proxy has reported since <t:{}:R>: the state is held, not judged, until reports come back.",
            l / 1000
        )),
        Coverage::Missing { last_ms: None } => Some("No proxy has reported this service yet.".to_string()),
    }
}

/// The "State" field: the worst state after the notice, marked when held for want of reports.
fn state_field(n: &Notice) -> String {
    let full = n.coverage.is_none_or(|c| c.is_full());
    let word = match &n.event {
        Event::Test => return "TEST".to_string(),
        Event::Proxy(_) => return "proxy".to_string(),
        Event::Incident(e) => e.change.after().severity(),
        _ if n.health == Health::Down => Severity::Down,
        _ => crate::decide::incident::Condition { down: false, level: n.level }.severity(),
    };
    match word {
        w if !full => format!("{} (held: reports incomplete)", w.name()),
        w if n.requests == 0 => format!("{} (no data)", w.name()),
        w => w.name().to_string(),
    }
}

/// The message about a proxy: what the watchdog saw, and for refusals each one.
fn proxy_render(n: &Notice, e: &crate::decide::notice::ProxyEvent, id: i64) -> Value {
    let h = headline(n);
    let desc = match &e.change {
        ProxyChange::Stopped { last_ms } => format!(
            "No flush from **{}** since <t:{}:R>. Its services are held, not judged, until it reports again: \
             check the proxy and its filter's log (`faultline:` lines).",
            e.proxy,
            last_ms / 1000
        ),
        ProxyChange::NotReporting { since_ms } => format!(
            "A token of the collector names **{}**, but no flush came from it since <t:{}:R>. Check that the \
             proxy runs with the Faultline filter and that its configuration was accepted.",
            e.proxy,
            since_ms / 1000
        ),
        ProxyChange::Resumed { .. } => format!(
            "**{}** flushes again; its services are judged again once its \
             reports cover their window.",
            e.proxy
        ),
        ProxyChange::Refused { refusals } => {
            let lines: Vec<String> = refusals
                .iter()
                .map(|r| format!("• {}: {}", r.service.as_deref().unwrap_or("(service not named)"), r.reason))
                .collect();
            format!(
                "A Faultline filter instance of **{}** refused its configuration and passes traffic uncounted:\n{}\n\
                 Run `faultline-collector check-proxy` on the proxy's configuration, fix it and reload.",
                e.proxy,
                lines.join("\n")
            )
        }
        ProxyChange::Accepted => format!("No filter instance of **{}** refuses its configuration now.", e.proxy),
    };
    let mut embed = json!({
        "title": h.text,
        "description": desc,
        "color": h.colour,
        // A flush's proxy id is never empty; a field value must not be.
        "fields": [{"name": "Proxy", "value": cut(if e.proxy.is_empty() { "?" } else { &e.proxy }, LIMITS.field_value), "inline": true}],
        "footer": {"text": footer(id)},
    });
    if let (Some(ts), Some(obj)) = (rfc3339(n.at_ms), embed.as_object_mut()) {
        obj.insert("timestamp".into(), Value::String(ts));
    }
    fit_embed(&mut embed);
    let content = cut(&h.text, LIMITS.content);
    json!({ "username": "Faultline", "content": content, "allowed_mentions": {"parse": []}, "embeds": [embed] })
}

/// The full message for outbox row `id`.
pub fn render(n: &Notice, svc: Option<&ServiceConfig>, id: i64) -> Value {
    if let Event::Proxy(e) = &n.event {
        return proxy_render(n, e, id);
    }
    let h = headline(n);
    let mut desc = rate_line(n);
    desc.push_str(&format!(
        "\nWARNING from {}, CRITICAL from {}.",
        bp(n.thresholds.warning_bp),
        bp(n.thresholds.critical_bp)
    ));
    if let Some(l) = n.rate_still {
        desc.push_str(&format!("\nThe 5xx-rate alert is still open: {}.", l.name()));
    }
    if let Event::Incident(e) = &n.event {
        for line in incident_lines(n, e) {
            desc.push('\n');
            desc.push_str(&line);
        }
    }
    if let Some(line) = coverage_line(n.coverage) {
        desc.push('\n');
        desc.push_str(&line);
    }
    let mut fields = vec![
        json!({"name": "Service", "value": cut(&n.service, LIMITS.field_value), "inline": true}),
        json!({"name": "State", "value": state_field(n), "inline": true}),
        json!({
            "name": "Window",
            "value": format!("last {}, to <t:{}:T>", span(n.window_ms), n.at_ms / 1000),
            "inline": true,
        }),
    ];
    let routes: Vec<String> = n
        .top_routes
        .iter()
        .map(|r| {
            format!(
                "`{}` — **{}** · first <t:{}:R> · last <t:{}:R>",
                cut(&r.route.replace('`', "'"), 200),
                r.count,
                r.first_seen_ms / 1000,
                r.last_seen_ms / 1000
            )
        })
        .collect();
    if !routes.is_empty() {
        fields.push(json!({"name": "Top failing routes", "value": trim::join_lines(&routes, LIMITS.field_value)}));
    }
    if let Some(f) = failures_field(n).filter(|_| n.errors > 0) {
        fields.push(f);
    }
    if let Some(p) = &n.last_probe {
        let v = match &p.failure {
            Some(f) => format!("failed: {f} · {} ms · <t:{}:R>", p.latency_ms, p.at_ms / 1000),
            None => format!("ok: status {} · {} ms · <t:{}:R>", p.status.unwrap_or(0), p.latency_ms, p.at_ms / 1000),
        };
        fields.push(json!({"name": "Health check", "value": v}));
    }
    let url = svc.and_then(|s| s.link.as_deref()).map(|t| link(t, n));
    if let Some(u) = &url {
        fields.push(json!({"name": "Link", "value": cut(u, LIMITS.field_value)}));
    }
    let mut embed = json!({
        "title": h.text,
        "description": desc,
        "color": h.colour,
        "fields": fields,
        "footer": {"text": footer(id)},
    });
    if let (Some(ts), Some(obj)) = (rfc3339(n.at_ms), embed.as_object_mut()) {
        obj.insert("timestamp".into(), Value::String(ts));
    }
    if let (Some(u), Some(obj)) =
        (url.filter(|u| u.len() <= 2000 && reqwest::Url::parse(u).is_ok()), embed.as_object_mut())
    {
        obj.insert("url".into(), Value::String(u));
    }
    fit_embed(&mut embed);
    let (content, allowed) = mentions(&h.text, svc, h.notify);
    json!({ "username": "Faultline", "content": content, "allowed_mentions": allowed, "embeds": [embed] })
}

/// The footer naming outbox row `id`; 0 for an alert sent from memory because the state database
/// could not be written (see `state::unsaved`).
fn footer(id: i64) -> String {
    if id > 0 {
        format!("Faultline · alert #{id}")
    } else {
        "Faultline · alert not saved: state database unwritable".to_string()
    }
}

/// The plain fallback sent once after Discord refused the full message (400): content only.
pub fn fallback(n: &Notice, id: i64) -> Value {
    let head = headline(n).text;
    let tag = if id > 0 { format!("alert #{id}") } else { "alert not saved".to_string() };
    let text = format!("[Faultline {tag}] {head}. {}", rate_line(n).replace("**", ""));
    json!({ "username": "Faultline", "content": cut(&text, LIMITS.content), "allowed_mentions": {"parse": []} })
}

#[cfg(test)]
mod tests;
