//! The headline of every notice: its title, colour, and whether it reaches the service's owners.
//! For an incident all three follow the service's worst state *after* the change, said in terms the
//! channel can follow from its previous message. Pure.

use super::{percent, span};
use crate::decide::alert::{Level, RateChange};
use crate::decide::health::{Failure, HealthChange};
use crate::decide::incident::{Condition, IncidentChange, Severity};
use crate::decide::notice::{Event, IncidentEvent, LivingEvent, Notice, PostEvent, ProxyEvent};
use crate::decide::watchdog::ProxyChange;

pub(super) const RED: u32 = 0xE0_2B_2B;
pub(super) const ORANGE: u32 = 0xF0_A0_20;
pub(super) const GREEN: u32 = 0x2E_B6_7D;
pub(super) const GREY: u32 = 0x95_A5_A6;
pub(super) const BLUE: u32 = 0x3B_82_F6;

/// Title, embed colour, and whether the owners are mentioned.
pub struct Headline {
    pub text: String,
    pub colour: u32,
    pub notify: bool,
}

fn level_look(l: Level) -> (&'static str, u32) {
    match l {
        Level::Critical => ("🔴", RED),
        Level::Warning => ("🟠", ORANGE),
        Level::Ok => ("✅", GREEN),
    }
}

fn severity_look(s: Severity) -> (&'static str, u32) {
    match s {
        Severity::Down | Severity::Critical => ("🔴", RED),
        Severity::Warning => ("🟠", ORANGE),
        Severity::Ok => ("✅", GREEN),
    }
}

/// `12% of requests fail`, or what stands for it when the window holds no requests; when the fast burn
/// fires, its short window's share (`98% of requests fail in the last 10 s`): that is the news.
pub fn failing(n: &Notice) -> String {
    if let Some(b) = n.burst {
        return format!("{} of requests fail in the last {}", percent(b.errors, b.requests), span(b.window_ms));
    }
    if n.requests == 0 {
        "no requests in the window".into()
    } else {
        format!("{} of requests fail", percent(n.errors, n.requests))
    }
}

/// `connection refused (2 failed checks)` for a DOWN notice.
fn down_reason(n: &Notice, e: &IncidentEvent) -> String {
    let (failure, failures) = match &e.health {
        Some(HealthChange::Down { failure, failures }) => (Some(failure.clone()), *failures),
        _ => (n.last_probe.as_ref().and_then(|p| p.failure.clone()), n.failures),
    };
    let failure = failure.unwrap_or(Failure::Timeout);
    match failures {
        0 => failure.to_string(),
        1 => format!("{failure} (1 failed check)"),
        k => format!("{failure} ({k} failed checks)"),
    }
}

/// The headline of a notice.
pub fn headline(n: &Notice) -> Headline {
    let svc = &n.service;
    let plain = |text: String, colour: u32| Headline { text, colour, notify: true };
    match &n.event {
        Event::Incident(e) => incident(n, e),
        Event::Proxy(p) => proxy(n, p),
        Event::Post(p) => post_headline(n, p),
        Event::Living(l) => living_headline(n, l),
        Event::Test => Headline {
            text: format!("🧪 TEST — Faultline test alert for {svc}: nothing is wrong"),
            colour: BLUE,
            notify: false,
        },
        Event::Rate(RateChange::Raised { to }) => {
            plain(format!("{} {svc} — {} raised", level_look(*to).0, to.name()), level_look(*to).1)
        }
        Event::Rate(RateChange::Escalated { from, to }) => plain(
            format!("{} {svc} — escalated to {} (was {})", level_look(*to).0, to.name(), from.name()),
            level_look(*to).1,
        ),
        Event::Rate(RateChange::DeEscalated { from, to }) => plain(
            format!("{} {svc} — de-escalated to {} (was {})", level_look(*to).0, to.name(), from.name()),
            level_look(*to).1,
        ),
        Event::Rate(RateChange::Resolved { from, lasted_ms, no_data: false }) => {
            plain(format!("✅ {svc} — RESOLVED after {} (was {})", span(*lasted_ms), from.name()), GREEN)
        }
        Event::Rate(RateChange::Resolved { from, lasted_ms, no_data: true }) => plain(
            format!(
                "⚪ {svc} — RESOLVED: no data, no traffic in {} (was {} for {})",
                span(n.window_ms),
                from.name(),
                span(*lasted_ms)
            ),
            GREY,
        ),
        Event::Rate(RateChange::Reminder { level, firing_ms }) => plain(
            format!("{} {svc} — still {} (for {})", level_look(*level).0, level.name(), span(*firing_ms)),
            level_look(*level).1,
        ),
        Event::Health(HealthChange::Down { failure, failures }) => plain(
            format!("🔴 {svc} — DOWN: {failure} ({failures} failed check{})", if *failures == 1 { "" } else { "s" }),
            RED,
        ),
        Event::Health(HealthChange::Up { downtime_ms }) => {
            plain(format!("✅ {svc} — UP after {} down", span(*downtime_ms)), GREEN)
        }
        Event::Health(HealthChange::Reminder { failure, down_ms }) => {
            plain(format!("🔴 {svc} — still DOWN (for {}): {failure}", span(*down_ms)), RED)
        }
    }
}

fn incident(n: &Notice, e: &IncidentEvent) -> Headline {
    let svc = &n.service;
    let after = e.change.after();
    let (emoji, colour) = severity_look(after.severity());
    let level = after.level.name();
    let text = match &e.change {
        IncidentChange::Opened { to } if to.down => format!("{emoji} {svc} — DOWN: {}", down_reason(n, e)),
        IncidentChange::Opened { .. } => format!("{emoji} {svc} — {level}: {}", failing(n)),
        IncidentChange::Worse { from, to } if to.down => {
            format!("{emoji} {svc} — DOWN: {} (was {})", down_reason(n, e), from.severity().name())
        }
        IncidentChange::Worse { from, .. } => {
            format!("{emoji} {svc} — escalated to {level}: {} (was {})", failing(n), from.severity().name())
        }
        IncidentChange::Better { from, .. } if from.down => {
            format!("{emoji} {svc} — UP, still {level}: {}", failing(n))
        }
        IncidentChange::Better { from, .. } => {
            format!("{emoji} {svc} — de-escalated to {level}: {} (was {})", failing(n), from.severity().name())
        }
        IncidentChange::Resolved { from, .. } if from.down => match &e.health {
            Some(HealthChange::Up { downtime_ms }) => {
                format!("✅ {svc} — RESOLVED: UP after {} down", span(*downtime_ms))
            }
            _ => format!("✅ {svc} — RESOLVED: UP (was DOWN)"),
        },
        IncidentChange::Resolved { from, worst, no_traffic: true, .. } => format!(
            "⚪ {svc} — RESOLVED: no traffic in {} (was {}{})",
            span(n.window_ms),
            from.severity().name(),
            worse_than(*worst, *from)
        ),
        IncidentChange::Resolved { from, worst, lasted_ms, .. } => format!(
            "✅ {svc} — RESOLVED after {} (was {}{})",
            span(*lasted_ms),
            from.severity().name(),
            worse_than(*worst, *from)
        ),
        IncidentChange::Reminder { now, .. } if now.down => {
            let down_for = n.down_since_ms.map(|d| n.at_ms.saturating_sub(d)).unwrap_or(0);
            format!("{emoji} {svc} — still DOWN (for {}): {}", span(down_for), down_reason(n, e))
        }
        IncidentChange::Reminder { open_ms, .. } => {
            format!("{emoji} {svc} — still {level} (for {}): {}", span(*open_ms), failing(n))
        }
    };
    let grey = matches!(e.change, IncidentChange::Resolved { no_traffic: true, .. });
    Headline { text, colour: if grey { GREY } else { colour }, notify: after != Condition::OK }
}

/// `, worst DOWN` when the incident was worse at some point than when it ended.
fn worse_than(worst: Severity, last: Condition) -> String {
    if worst > last.severity() { format!(", worst {}", worst.name()) } else { String::new() }
}

fn proxy(n: &Notice, p: &ProxyEvent) -> Headline {
    let id = &p.proxy;
    let (text, colour) = match &p.change {
        ProxyChange::Stopped { last_ms } => {
            (format!("⚠️ {id} stopped reporting (last flush {} ago)", span(n.at_ms.saturating_sub(*last_ms))), ORANGE)
        }
        ProxyChange::NotReporting { since_ms } => (
            format!(
                "⚠️ {id} is not reporting (no flush in the {} since the collector started)",
                span(n.at_ms.saturating_sub(*since_ms))
            ),
            ORANGE,
        ),
        ProxyChange::Resumed { silent_ms } => (format!("✅ {id} reporting again after {}", span(*silent_ms)), GREEN),
        ProxyChange::Refused { refusals } => {
            let first = refusals.first();
            let whose = first.and_then(|r| r.service.as_deref()).unwrap_or("an unnamed service");
            let why = first.map(|r| r.reason.as_str()).unwrap_or("");
            let more = match refusals.len() {
                0 | 1 => String::new(),
                k => format!(" (and {} more)", k - 1),
            };
            (format!("⚠️ {id}: Faultline configuration refused for {whose}: {why}{more}"), ORANGE)
        }
        ProxyChange::Accepted => (format!("✅ {id}: every Faultline configuration accepted again"), GREEN),
    };
    Headline { text, colour, notify: false }
}

/// The change that describes the incident as it stands (for its title).
fn standing(l: &LivingEvent) -> IncidentChange {
    match &l.end {
        Some(e) => {
            IncidentChange::Resolved { from: e.from, worst: l.worst, lasted_ms: e.lasted_ms, no_traffic: e.no_traffic }
        }
        None => IncidentChange::Opened { to: l.now },
    }
}

/// The living embed's headline: the incident as it stands now.
pub fn living_headline(n: &Notice, l: &LivingEvent) -> Headline {
    let ev = IncidentEvent { change: standing(l), opened_ms: l.opened_ms, health: l.health.clone() };
    let facts = Notice { event: Event::Incident(ev), ..n.clone() };
    let mut h = headline(&facts);
    h.notify = false;
    h
}

/// A post's headline: its first incident's, with how many more it carries.
pub fn post_headline(_n: &Notice, p: &PostEvent) -> Headline {
    let Some(first) = p.items.first() else {
        let ended = p.digest.as_ref().map(|d| d.ended.len()).unwrap_or(0);
        let text = format!("🌙 Quiet hours are over: {ended} held incident(s) ended meanwhile");
        return Headline { text, colour: GREY, notify: false };
    };
    let mut h = headline(&first.notice);
    if p.items.len() > 1 {
        h.text = format!("{} (and {} more)", h.text, p.items.len() - 1);
    }
    if p.digest.is_some() {
        h.text = format!("🌙 {}", h.text);
    }
    h
}
