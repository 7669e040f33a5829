//! The Discord message for a notice: an embed coloured by severity with the rate and its
//! counts, the window, the top failing routes, the health check and the service link;
//! owners mentioned in `content` with an explicit `allowed_mentions`. Everything is
//! trimmed to Discord's limits, so a message never fails for its size. Pure.

mod trim;

use crate::config::ServiceConfig;
use crate::decide::alert::{Level, RateChange};
use crate::decide::health::{Health, HealthChange};
use crate::decide::notice::{Event, Notice};
use serde_json::{Value, json};
pub use trim::{LIMITS, cut, embed_chars, fit_embed};

const RED: u32 = 0xE0_2B_2B;
const ORANGE: u32 = 0xF0_A0_20;
const GREEN: u32 = 0x2E_B6_7D;
const GREY: u32 = 0x95_A5_A6;
const BLUE: u32 = 0x3B_82_F6;

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

fn level_look(l: Level) -> (&'static str, u32) {
    match l {
        Level::Critical => ("🔴", RED),
        Level::Warning => ("🟠", ORANGE),
        Level::Ok => ("✅", GREEN),
    }
}

/// The headline of a notice (the message title), for history listings.
pub fn title(n: &Notice) -> String {
    headline(n).0
}

/// Title emoji, headline and colour of a notice.
fn headline(n: &Notice) -> (String, u32) {
    let svc = &n.service;
    let (text, colour) = match &n.event {
        Event::Rate(RateChange::Raised { to }) => {
            (format!("{} {svc} — {} raised", level_look(*to).0, to.name()), level_look(*to).1)
        }
        Event::Rate(RateChange::Escalated { from, to }) => (
            format!("{} {svc} — escalated to {} (was {})", level_look(*to).0, to.name(), from.name()),
            level_look(*to).1,
        ),
        Event::Rate(RateChange::DeEscalated { from, to }) => (
            format!("{} {svc} — de-escalated to {} (was {})", level_look(*to).0, to.name(), from.name()),
            level_look(*to).1,
        ),
        Event::Rate(RateChange::Resolved { from, lasted_ms, no_data: false }) => {
            (format!("✅ {svc} — RESOLVED after {} (was {})", span(*lasted_ms), from.name()), GREEN)
        }
        Event::Rate(RateChange::Resolved { from, lasted_ms, no_data: true }) => (
            format!(
                "⚪ {svc} — RESOLVED: no data, no traffic in {} (was {} for {})",
                span(n.window_ms),
                from.name(),
                span(*lasted_ms)
            ),
            GREY,
        ),
        Event::Rate(RateChange::Reminder { level, firing_ms }) => (
            format!("{} {svc} — still {} (for {})", level_look(*level).0, level.name(), span(*firing_ms)),
            level_look(*level).1,
        ),
        Event::Health(HealthChange::Down { failure, failures }) => (
            format!(
                "🔴 {svc} — DOWN: {failure} \
                 ({failures} failed check{})",
                if *failures == 1 { "" } else { "s" }
            ),
            RED,
        ),
        Event::Health(HealthChange::Up { downtime_ms }) => {
            (format!("✅ {svc} — UP after {} down", span(*downtime_ms)), GREEN)
        }
        Event::Health(HealthChange::Reminder { failure, down_ms }) => {
            (format!("🔴 {svc} — still DOWN (for {}): {failure}", span(*down_ms)), RED)
        }
        Event::Test => (format!("🧪 TEST — Faultline test alert for {svc}: nothing is wrong"), BLUE),
    };
    (text, colour)
}

fn rate_line(n: &Notice) -> String {
    if n.requests == 0 {
        return format!("No data: no traffic in the last {}.", span(n.window_ms));
    }
    let mut s = format!(
        "5xx rate **{} — {} of {} in {}**",
        percent(n.errors, n.requests),
        n.errors,
        n.requests,
        span(n.window_ms)
    );
    if n.requests < n.thresholds.min_requests {
        s.push_str(&format!(" (below the minimum of {} requests: the rate is not judged)", n.thresholds.min_requests));
    }
    s
}

fn bp(b: u64) -> String {
    percent(b, 10_000)
}

/// Fills a link template: `{service}`, `{from_ms}`, `{to_ms}`, `{from_s}`, `{to_s}` (the window).
pub fn link(template: &str, n: &Notice) -> String {
    let from = n.at_ms.saturating_sub(n.window_ms);
    template
        .replace("{service}", &n.service)
        .replace("{from_ms}", &from.to_string())
        .replace("{to_ms}", &n.at_ms.to_string())
        .replace("{from_s}", &(from / 1000).to_string())
        .replace("{to_s}", &(n.at_ms / 1000).to_string())
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

/// The full message for outbox row `id`.
pub fn render(n: &Notice, svc: Option<&ServiceConfig>, id: i64) -> Value {
    let (head, colour) = headline(n);
    let mut desc = rate_line(n);
    desc.push_str(&format!(
        "\nWARNING from {}, CRITICAL from {}.",
        bp(n.thresholds.warning_bp),
        bp(n.thresholds.critical_bp)
    ));
    if let Some(l) = n.rate_still {
        desc.push_str(&format!("\nThe 5xx-rate alert is still open: {}.", l.name()));
    }
    let state = match (n.health, &n.event) {
        (_, Event::Test) => "TEST".to_string(),
        (Health::Down, _) => "DOWN".to_string(),
        _ if n.requests == 0 => format!("{} (no data)", n.level.name()),
        _ => n.level.name().to_string(),
    };
    let mut fields = vec![
        json!({"name": "Service", "value": cut(&n.service, LIMITS.field_value), "inline": true}),
        json!({"name": "State", "value": state, "inline": true}),
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
        "title": head,
        "description": desc,
        "color": colour,
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
    let (content, allowed) = mentions(&head, svc, !matches!(n.event, Event::Test));
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
    let (head, _) = headline(n);
    let tag = if id > 0 { format!("alert #{id}") } else { "alert not saved".to_string() };
    let text = format!("[Faultline {tag}] {head}. {}", rate_line(n).replace("**", ""));
    json!({ "username": "Faultline", "content": cut(&text, LIMITS.content), "allowed_mentions": {"parse": []} })
}

#[cfg(test)]
mod tests;
