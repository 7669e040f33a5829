//! The messages of the desk (`decide::desk`): an incident's *living* embed (how it stands now: state, rate,
//! duration, failing routes, health check, acknowledgement, silence, timeline, resolution), the short
//! notifying embed of a change (its headline and a jump link to the living message), and the bodies that
//! carry them — a notifying post (one embed per incident, ≤ 10 embeds and ≤ 6000 characters in all, the rest
//! in a summary line; owners mentioned in `content`), an edit of a living message (one embed replaced, nobody
//! pinged), and a new living message that notifies nobody. Pure.

use super::headline::{GREEN, GREY, headline, living_headline};
use super::{LIMITS, coverage_line, cut, embed_chars, fit_embed_within, link, rate_line, rfc3339, span};
use crate::config::ServiceConfig;
use crate::decide::incident::{Condition, Severity};
use crate::decide::notice::{Event, LivingEvent, Notice, PostEvent, Step};
use crate::decide::notify::Mute;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Discord's `SUPPRESS_NOTIFICATIONS` message flag: no push or desktop notification.
pub const SUPPRESS_NOTIFICATIONS: u64 = 1 << 12;
/// Embeds per message.
pub const MAX_EMBEDS: usize = 10;

/// Where each incident's living message is: `(service, opened_ms)` → its jump link (`None`: it exists, its
/// link is not known yet). An incident missing from it has none.
pub type Links = BTreeMap<(String, u64), Option<String>>;

/// `https://discord.com/channels/GUILD/CHANNEL/MESSAGE`.
pub fn jump_link(guild: &str, channel: &str, message: &str) -> String {
    format!("https://discord.com/channels/{guild}/{channel}/{message}")
}

fn mute_line(m: &Mute) -> String {
    match m {
        Mute::Silence { id, until_ms, reason, by } => {
            let by = by.as_deref().map(|b| format!(", by {b}")).unwrap_or_default();
            let why = if reason.is_empty() { String::new() } else { format!(": {reason}") };
            format!("🔕 Silenced until <t:{}:f> (silence #{id}{by}{why}): changes notify nobody.", until_ms / 1000)
        }
        Mute::Maintenance { name, until_ms } => {
            format!("🔧 Maintenance \"{name}\" until <t:{}:f>: changes notify nobody.", until_ms / 1000)
        }
    }
}

fn step_line(s: &Step) -> String {
    let t = s.at_ms() / 1000;
    match s {
        Step::Change { kind, to, .. } => {
            let state = to.severity().name();
            match kind.as_str() {
                "opened" => format!("<t:{t}:T> opened: {state}"),
                "worse" => format!("<t:{t}:T> worse: {state}"),
                "better" if to.severity() < Severity::Down && !to.down => format!("<t:{t}:T> better: {state}"),
                "resolved" => format!("<t:{t}:T> RESOLVED"),
                "reminder" => format!("<t:{t}:T> still {state}"),
                _ => format!("<t:{t}:T> {state}"),
            }
        }
        Step::Acked { by, .. } => format!("<t:{t}:T> acknowledged by {}", cut(by, 100)),
        Step::Muted { why: Mute::Silence { id, .. }, .. } => format!("<t:{t}:T> silenced (#{id})"),
        Step::Muted { why: Mute::Maintenance { name, .. }, .. } => {
            format!("<t:{t}:T> maintenance \"{}\"", cut(name, 100))
        }
        Step::Unmuted { .. } => format!("<t:{t}:T> notifications on again"),
    }
}

fn footer(service: &str, alert: i64) -> String {
    if alert > 0 {
        format!("Faultline · incident of {service} · alert #{alert}")
    } else {
        format!("Faultline · incident of {service}")
    }
}

/// The living embed of an incident (facts from `n`), at most `budget` characters.
pub fn living_embed(n: &Notice, l: &LivingEvent, svc: Option<&ServiceConfig>, alert: i64, budget: usize) -> Value {
    let h = living_headline(n, l);
    let mut desc = vec![rate_line(n)];
    desc.push(format!(
        "WARNING from {}, CRITICAL from {}.",
        super::bp(n.thresholds.warning_bp),
        super::bp(n.thresholds.critical_bp)
    ));
    match &l.end {
        Some(e) => desc.push(format!(
            "**Resolved** <t:{}:f>: the incident lasted {} (from <t:{}:f>; worst: {}).",
            e.at_ms / 1000,
            span(e.lasted_ms),
            l.opened_ms / 1000,
            l.worst.name()
        )),
        None => desc.push(format!(
            "Open for **{}** (since <t:{}:f>); worst so far: {}.",
            span(n.at_ms.saturating_sub(l.opened_ms)),
            l.opened_ms / 1000,
            l.worst.name()
        )),
    }
    if let Some(a) = &l.ack {
        let by = cut(&a.by, 100);
        if l.end.is_some() || a.covers(l.now.severity()) {
            desc.push(format!("✅ Acknowledged by **{by}** at <t:{}:f>: no reminders.", a.at_ms / 1000));
        } else {
            desc.push(format!(
                "Acknowledged by **{by}** at <t:{}:f> while {}; it got worse since.",
                a.at_ms / 1000,
                a.severity.name()
            ));
        }
    }
    if let (Some(m), None) = (&l.mute, &l.end) {
        desc.push(mute_line(m));
    }
    if let (Some(line), None) = (coverage_line(n.coverage), &l.end) {
        desc.push(line);
    }
    let state = if l.end.is_some() { "RESOLVED".to_string() } else { l.now.severity().name().to_string() };
    let mut fields = vec![
        json!({"name": "Service", "value": cut(&n.service, LIMITS.field_value), "inline": true}),
        json!({"name": "State", "value": state, "inline": true}),
        json!({"name": "Worst", "value": l.worst.name(), "inline": true}),
    ];
    let routes: Vec<String> = n
        .top_routes
        .iter()
        .map(|r| {
            format!(
                "`{}` — **{}** · last <t:{}:R>",
                cut(&r.route.replace('`', "'"), 200),
                r.count,
                r.last_seen_ms / 1000
            )
        })
        .collect();
    if !routes.is_empty() && l.end.is_none() {
        fields.push(json!({"name": "Failing routes", "value": super::trim::join_lines(&routes, LIMITS.field_value)}));
    }
    if let Some(f) = super::failures_field(n).filter(|_| l.end.is_none() && n.errors > 0) {
        fields.push(f);
    }
    if let Some(p) = &n.last_probe {
        let v = match &p.failure {
            Some(f) => format!("failed: {f} · {} ms · <t:{}:R>", p.latency_ms, p.at_ms / 1000),
            None => format!("ok: status {} · {} ms · <t:{}:R>", p.status.unwrap_or(0), p.latency_ms, p.at_ms / 1000),
        };
        fields.push(json!({"name": "Health check", "value": v}));
    }
    let steps: Vec<String> = l.timeline.iter().map(step_line).collect();
    if !steps.is_empty() {
        fields.push(json!({"name": "Timeline", "value": super::trim::join_lines(&steps, LIMITS.field_value)}));
    }
    let url = svc.and_then(|s| s.link.as_deref()).map(|t| link(t, n));
    if let Some(u) = &url {
        fields.push(json!({"name": "Link", "value": cut(u, LIMITS.field_value)}));
    }
    let colour = if l.end.is_some() && h.colour != GREY { GREEN } else { h.colour };
    let mut embed = json!({
        "title": h.text,
        "description": desc.join("\n"),
        "color": colour,
        "fields": fields,
        "footer": {"text": footer(&n.service, alert)},
    });
    if let (Some(ts), Some(obj)) = (rfc3339(n.at_ms), embed.as_object_mut()) {
        obj.insert("timestamp".into(), Value::String(ts));
    }
    fit_embed_within(&mut embed, budget);
    embed
}

/// The short embed of a change whose incident already has a living message (`link` to it, when known).
pub fn notify_embed(n: &Notice, unmuted: Option<&Mute>, link: Option<&str>, id: i64, budget: usize) -> Value {
    let h = headline(n);
    let mut desc = vec![rate_line(n)];
    if let Event::Incident(e) = &n.event {
        desc.extend(super::incident_lines(n, e));
    }
    if let Some(m) = unmuted {
        let what = match m {
            Mute::Silence { id, .. } => format!("Silence #{id} ended"),
            Mute::Maintenance { name, .. } => format!("Maintenance \"{name}\" ended"),
        };
        desc.push(format!("{what}; the incident changed under it and is still open."));
    }
    match link {
        Some(l) => desc.push(format!("→ [The incident's living message]({l})")),
        None => desc.push("→ The incident's living message is above in this channel.".to_string()),
    }
    let mut embed = json!({
        "title": h.text,
        "description": desc.join("\n"),
        "color": h.colour,
        "footer": {"text": super::footer(id)},
    });
    if let Some(obj) = embed.as_object_mut() {
        if let Some(ts) = rfc3339(n.at_ms) {
            obj.insert("timestamp".into(), Value::String(ts));
        }
        if let Some(l) = link.filter(|l| l.len() <= 2000) {
            obj.insert("url".into(), Value::String(l.to_string()));
        }
    }
    fit_embed_within(&mut embed, budget);
    embed
}

fn mention_tags(roles: &[String], users: &[String]) -> String {
    roles.iter().map(|r| format!("<@&{r}> ")).chain(users.iter().map(|u| format!("<@{u}> "))).collect()
}

/// A notifying post (outbox row `id`): the body, and for each item the index of its living embed when this
/// message becomes that incident's living message (it had none). `svc` gives a service's configuration.
pub fn post_body<'c>(
    p: &PostEvent,
    svc: impl Fn(&str) -> Option<&'c ServiceConfig>,
    links: &Links,
    id: i64,
) -> (Value, Vec<Option<usize>>) {
    // The configured services first (a flood of unknown names never pushes a real page into the summary),
    // then the worst, so that the incidents that matter most get the embeds.
    let mut order: Vec<usize> = (0..p.items.len()).collect();
    let rank = |i: usize| {
        p.items.get(i).map(|it| (svc(&it.notice.service).is_some(), after(&it.notice))).unwrap_or((false, Severity::Ok))
    };
    order.sort_by_key(|i| std::cmp::Reverse(rank(*i)));
    let shown = order.len().min(MAX_EMBEDS);
    let budget = LIMITS.embed_total.checked_div(shown).unwrap_or(LIMITS.embed_total);
    let mut embeds = Vec::new();
    let mut opened = vec![None; p.items.len()];
    let (mut roles, mut users): (Vec<String>, Vec<String>) = (Vec::new(), Vec::new());
    let mut heads = Vec::new();
    for &i in order.iter().take(shown) {
        let Some(item) = p.items.get(i) else { continue };
        let s = svc(&item.notice.service);
        let key = (item.notice.service.clone(), item.living.opened_ms);
        let embed = match links.get(&key) {
            Some(l) => notify_embed(&item.notice, item.unmuted.as_ref(), l.as_deref(), id, budget),
            None => {
                if let Some(o) = opened.get_mut(i) {
                    *o = Some(embeds.len());
                }
                living_embed(&item.notice, &item.living, s, id, budget)
            }
        };
        let h = headline(&item.notice);
        heads.push(h.text);
        embeds.push(embed);
        // Owners are pinged for what is wrong (an ending pings nobody).
        if let Some(s) = s.filter(|_| h.notify) {
            roles.extend(s.mention_roles.iter().cloned());
            users.extend(s.mention_users.iter().cloned());
        }
    }
    // Owners of the summarized ones are told too: the summary names their service.
    let rest: Vec<String> = order
        .iter()
        .skip(shown)
        .filter_map(|i| p.items.get(*i))
        .map(|it| {
            if let Some(s) = svc(&it.notice.service).filter(|_| headline(&it.notice).notify) {
                roles.extend(s.mention_roles.iter().cloned());
                users.extend(s.mention_users.iter().cloned());
            }
            format!("{} ({})", it.notice.service, after(&it.notice).name())
        })
        .collect();
    for l in [&mut roles, &mut users] {
        l.sort();
        l.dedup();
        l.truncate(100);
    }
    let mut text = match (&p.digest, heads.len()) {
        (Some(_), _) => format!("🌙 Quiet hours are over. {}", heads.join(" · ")),
        (None, 1) => heads.join(""),
        (None, k) => format!("{k} incidents: {}", heads.join(" · ")),
    };
    if let Some(d) = &p.digest
        && !d.ended.is_empty()
    {
        let lines: Vec<String> = d
            .ended
            .iter()
            .map(|e| {
                format!(
                    "{} ({} for {}, from <t:{}:t>)",
                    e.service,
                    e.worst.name(),
                    span(e.lasted_ms),
                    e.opened_ms / 1000
                )
            })
            .collect();
        text.push_str(&format!("\nEnded during the quiet hours (not notified): {}", lines.join(", ")));
    }
    let tags = mention_tags(&roles, &users);
    let room = LIMITS.content.saturating_sub(tags.chars().count());
    let summary =
        if rest.is_empty() { String::new() } else { format!("\nand {} more: {}", rest.len(), rest.join(", ")) };
    let head_room = room.saturating_sub(summary.chars().count().min(room / 2));
    let mut content = format!("{tags}{}", cut(&text, head_room));
    content.push_str(&cut(&summary, LIMITS.content.saturating_sub(content.chars().count())));
    let body = json!({
        "username": "Faultline",
        "content": cut(&content, LIMITS.content),
        "allowed_mentions": {"parse": [], "roles": roles, "users": users},
        "embeds": embeds,
    });
    (body, opened)
}

fn after(n: &Notice) -> Severity {
    match &n.event {
        Event::Incident(e) => e.change.after().severity(),
        _ => Condition { down: false, level: n.level }.severity(),
    }
}

/// A new living message that notifies nobody (for a muted or held incident, or one whose message Discord lost).
pub fn living_body(n: &Notice, l: &LivingEvent, svc: Option<&ServiceConfig>, alert: i64) -> Value {
    let embed = living_embed(n, l, svc, alert, LIMITS.embed_total);
    let title = embed.get("title").and_then(Value::as_str).unwrap_or("").to_string();
    json!({
        "username": "Faultline",
        "content": cut(&title, LIMITS.content),
        "allowed_mentions": {"parse": []},
        "embeds": [embed],
        "flags": SUPPRESS_NOTIFICATIONS,
    })
}

/// The edit of a living message: `stored` (the body last sent for it, when known) with embed `index` replaced
/// by the incident's living embed, within what the other embeds leave of the 6000; its content follows the
/// titles (mention tags kept as text: an edit pings nobody).
pub fn edit_body(
    stored: Option<&Value>,
    index: usize,
    n: &Notice,
    l: &LivingEvent,
    svc: Option<&ServiceConfig>,
    alert: i64,
) -> Value {
    let mut embeds: Vec<Value> =
        stored.and_then(|b| b.get("embeds")).and_then(Value::as_array).cloned().unwrap_or_default();
    let index = index.min(embeds.len());
    let others: usize = embeds.iter().enumerate().filter(|(i, _)| *i != index).map(|(_, e)| embed_chars(e)).sum();
    let embed = living_embed(n, l, svc, alert, LIMITS.embed_total.saturating_sub(others).max(300));
    match embeds.get_mut(index) {
        Some(slot) => *slot = embed,
        None => embeds.push(embed),
    }
    let ids = |k: &str| -> Vec<String> {
        stored
            .and_then(|b| b.pointer(&format!("/allowed_mentions/{k}")))
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
            .unwrap_or_default()
    };
    let tags = mention_tags(&ids("roles"), &ids("users"));
    let titles: Vec<&str> = embeds.iter().filter_map(|e| e.get("title").and_then(Value::as_str)).collect();
    let text = if titles.len() == 1 {
        titles.join("")
    } else {
        format!("{} incidents: {}", titles.len(), titles.join(" · "))
    };
    let content = format!("{tags}{}", cut(&text, LIMITS.content.saturating_sub(tags.chars().count())));
    json!({
        "content": cut(&content, LIMITS.content),
        "allowed_mentions": {"parse": []},
        "embeds": embeds,
    })
}

#[cfg(test)]
mod tests;
