//! The desk: what the channel is told about each open incident, beside the engine that judges it. The engine's
//! incident notices come in with `now`; outbox rows come out — edits of each incident's living message (at every
//! change and every minute while open) and notifying posts (grouped per webhook within its group wait, held in
//! quiet hours, withheld under silences and maintenance, reminders stopped by an acknowledgement). Silences and
//! acknowledgements are kept here. Pure: time and the engine's state come in; persisted through
//! [`Desk::take_changes`] in the same transaction as the rows.

use crate::config::Config;
use crate::decide::engine::Engine;
use crate::decide::incident::{Condition, IncidentChange, Severity};
use crate::decide::notice::{Digest, End, Event, IncidentEvent, LivingEvent, Notice, PostEvent, PostItem, Step};
use crate::decide::notify::{self, Ack, Action, Ended, Group, Item, Mute};
use crate::decide::schedule;
use crate::decide::silence::{NewSilence, Silence};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The living message is edited at least this often while the incident is open.
pub const EDIT_EVERY_MS: u64 = 60_000;
/// Timeline entries kept per incident (the first and the latest).
pub const TIMELINE_MAX: usize = 16;
/// Ended silences are listed this long, then forgotten.
pub const SILENCE_KEPT_MS: u64 = 24 * 3_600_000;

/// One open incident as the desk keeps it (persisted per service).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tracked {
    pub opened_ms: u64,
    pub webhook: String,
    pub now: Condition,
    pub worst: Severity,
    pub ack: Option<Ack>,
    pub mute: Option<Mute>,
    /// The first change a mute withheld: announced when the mute ends, if still open.
    pub owed: Option<IncidentChange>,
    pub timeline: Vec<Step>,
    /// Whether its living message was asked for (a post or an edit is in the outbox or went out).
    pub living: bool,
    pub last_edit_ms: u64,
    /// Set once it ended.
    pub end: Option<End>,
    /// Ended while a notification of it still waits in a group: forgotten once that is sent.
    #[serde(default)]
    pub done: bool,
}

/// One webhook's waiting notifications (persisted per webhook).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Queue {
    pub group: Option<Group>,
    /// Held by quiet hours, one per incident.
    pub held: Vec<Item>,
    /// Held incidents that ended before the digest.
    pub ended: Vec<Ended>,
}

impl Queue {
    fn is_empty(&self) -> bool {
        self.group.is_none() && self.held.is_empty() && self.ended.is_empty()
    }
}

/// What changed since the last [`Desk::take_changes`] (`None`: deleted).
#[derive(Debug, Default)]
pub struct DeskChanges {
    pub incidents: Vec<(String, Option<Tracked>)>,
    pub queues: Vec<(String, Option<Queue>)>,
    pub silences: Vec<(u64, Option<Silence>)>,
    /// The last silence id given, when it changed.
    pub last_silence_id: Option<u64>,
}

impl DeskChanges {
    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.incidents.is_empty()
            && self.queues.is_empty()
            && self.silences.is_empty()
            && self.last_silence_id.is_none()
    }
}

/// Outbox rows: (webhook, notice).
pub type Rows = Vec<(String, Notice)>;

/// The desk.
#[derive(Debug, Default)]
pub struct Desk {
    incidents: BTreeMap<String, Tracked>,
    queues: BTreeMap<String, Queue>,
    silences: BTreeMap<u64, Silence>,
    dirty_incidents: BTreeSet<String>,
    dirty_queues: BTreeSet<String>,
    dirty_silences: BTreeSet<u64>,
    /// The last silence id given (ids are never reused).
    last_silence_id: u64,
    last_silence_dirty: bool,
}

/// `hook`'s group wait and its cap for CRITICAL/DOWN, in ms.
fn waits(cfg: &Config, hook: &str) -> (u64, u64) {
    let n = cfg.notify_for(hook);
    let ms = |d: std::time::Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    (ms(n.group_wait), ms(n.urgent_wait))
}

fn kind(c: &IncidentChange) -> &'static str {
    match c {
        IncidentChange::Opened { .. } => "opened",
        IncidentChange::Worse { .. } => "worse",
        IncidentChange::Better { .. } => "better",
        IncidentChange::Resolved { .. } => "resolved",
        IncidentChange::Reminder { .. } => "reminder",
    }
}

fn push_step(t: &mut Tracked, step: Step) {
    t.timeline.push(step);
    if t.timeline.len() > TIMELINE_MAX {
        // Keep the opening; drop the oldest after it.
        t.timeline.remove(1);
    }
}

/// The service's condition in the engine now (OK when unknown).
fn condition(engine: &Engine, service: &str) -> Condition {
    engine
        .services()
        .get(service)
        .map(|s| Condition { down: s.health.is_down(), level: s.rate.level })
        .unwrap_or(Condition::OK)
}

impl Desk {
    /// A desk restored from what was persisted.
    pub fn restore(
        incidents: Vec<(String, Tracked)>,
        queues: Vec<(String, Queue)>,
        silences: Vec<Silence>,
        last_silence_id: u64,
    ) -> Desk {
        let last_silence_id = silences.iter().map(|s| s.id).max().unwrap_or(0).max(last_silence_id);
        Desk {
            last_silence_id,
            incidents: incidents.into_iter().collect(),
            queues: queues.into_iter().collect(),
            silences: silences.into_iter().map(|s| (s.id, s)).collect(),
            ..Desk::default()
        }
    }

    /// The open incident of `service`, as the desk keeps it.
    pub fn incident(&self, service: &str) -> Option<&Tracked> {
        self.incidents.get(service).filter(|t| t.end.is_none())
    }

    /// Every silence, active or not yet forgotten, by id.
    pub fn silences(&self) -> &BTreeMap<u64, Silence> {
        &self.silences
    }

    /// Waiting notifications per webhook.
    pub fn queues(&self) -> &BTreeMap<String, Queue> {
        &self.queues
    }

    fn touch(&mut self, service: &str) {
        if !self.dirty_incidents.contains(service) {
            self.dirty_incidents.insert(service.to_string());
        }
    }

    fn touch_queue(&mut self, webhook: &str) {
        if !self.dirty_queues.contains(webhook) {
            self.dirty_queues.insert(webhook.to_string());
        }
    }

    /// The mute on an incident of `service` at `now_ms`: an active silence covering it, else an open
    /// maintenance window covering the service.
    pub fn mute_for(&self, cfg: &Config, service: &str, down: bool, routes: &[&str], now_ms: u64) -> Option<Mute> {
        if let Some(s) = self.silences.values().find(|s| s.covers(service, down, routes, now_ms)) {
            return Some(Mute::Silence { id: s.id, until_ms: s.until_ms, reason: s.reason.clone(), by: s.by.clone() });
        }
        cfg.maintenance.iter().filter(|m| m.covers(service)).find_map(|m| {
            schedule::maintenance_until(m, now_ms).map(|until_ms| Mute::Maintenance { name: m.name.clone(), until_ms })
        })
    }

    fn mute_now(&self, cfg: &Config, engine: &Engine, service: &str, now_ms: u64) -> Option<Mute> {
        let n = engine.notice(service, Event::Test, now_ms);
        let routes: Vec<&str> = n.top_routes.iter().map(|r| r.route.as_str()).collect();
        self.mute_for(cfg, service, condition(engine, service).down, &routes, now_ms)
    }

    fn quiet(cfg: &Config, webhook: &str, now_ms: u64) -> bool {
        cfg.notify_for(webhook).quiet_hours.as_ref().is_some_and(|q| schedule::quiet_until(q, now_ms).is_some())
    }

    fn pending(&self, webhook: &str, service: &str, opened_ms: u64) -> bool {
        self.queues
            .get(webhook)
            .and_then(|q| q.group.as_ref())
            .is_some_and(|g| g.items.iter().any(|i| i.service == service && i.opened_ms == opened_ms))
    }

    /// The living message's state of `service`'s incident.
    fn living_event(t: &Tracked, health: Option<crate::decide::health::HealthChange>) -> LivingEvent {
        LivingEvent {
            opened_ms: t.opened_ms,
            now: if t.end.is_some() { Condition::OK } else { t.now },
            worst: t.worst,
            ack: t.ack.clone(),
            mute: t.mute.clone(),
            timeline: t.timeline.clone(),
            end: t.end.clone(),
            health,
        }
    }

    /// An edit row for `service`'s living message (which it creates, silently, when there is none).
    fn edit(
        &mut self,
        engine: &Engine,
        service: &str,
        health: Option<crate::decide::health::HealthChange>,
        now_ms: u64,
    ) -> Option<(String, Notice)> {
        let t = self.incidents.get_mut(service)?;
        t.living = true;
        t.last_edit_ms = now_ms;
        let ev = Desk::living_event(t, health);
        let hook = t.webhook.clone();
        self.touch(service);
        Some((hook, engine.notice(service, Event::Living(ev), now_ms)))
    }

    /// Routes the engine's notices at `now_ms`: incident changes through the desk, anything else (proxies,
    /// tests) to its webhook as before.
    pub fn route(&mut self, cfg: &Config, engine: &Engine, notices: Vec<Notice>, now_ms: u64) -> Rows {
        let mut rows = Rows::new();
        for n in notices {
            match &n.event {
                Event::Incident(e) => {
                    let e = e.clone();
                    rows.extend(self.change(cfg, engine, &n, e, now_ms));
                }
                _ => {
                    let hook = if n.is_proxy() { "default" } else { cfg.webhook_for(&n.service) }.to_string();
                    rows.push((hook, n));
                }
            }
        }
        rows
    }

    fn change(&mut self, cfg: &Config, engine: &Engine, n: &Notice, e: IncidentEvent, now_ms: u64) -> Rows {
        let service = n.service.clone();
        let hook = cfg.webhook_for(&service).to_string();
        let mut rows = Rows::new();
        let fresh = match self.incidents.get(&service) {
            None => true,
            Some(t) => t.opened_ms != e.opened_ms || t.end.is_some(),
        };
        if fresh {
            self.incidents.insert(
                service.clone(),
                Tracked {
                    opened_ms: e.opened_ms,
                    webhook: hook.clone(),
                    now: e.change.after(),
                    worst: e.change.after().severity(),
                    ack: None,
                    mute: None,
                    owed: None,
                    timeline: Vec::new(),
                    living: false,
                    last_edit_ms: now_ms,
                    end: None,
                    done: false,
                },
            );
        }
        let routes: Vec<&str> = n.top_routes.iter().map(|r| r.route.as_str()).collect();
        let after = e.change.after();
        let mute = self.mute_for(cfg, &service, after.down, &routes, now_ms);
        let quiet = Desk::quiet(cfg, &hook, now_ms);
        self.touch(&service);
        let Some(t) = self.incidents.get_mut(&service) else { return rows };
        if t.mute != mute {
            match &mute {
                Some(m) => push_step(t, Step::Muted { at_ms: now_ms, why: m.clone() }),
                None => push_step(t, Step::Unmuted { at_ms: now_ms }),
            }
            t.mute = mute.clone();
        }
        push_step(t, Step::Change { at_ms: now_ms, kind: kind(&e.change).into(), to: after });
        t.now = after;
        t.worst = t.worst.max(after.severity());
        if let IncidentChange::Resolved { from, worst, lasted_ms, no_traffic } = &e.change {
            t.worst = t.worst.max(*worst);
            t.end = Some(End { at_ms: now_ms, lasted_ms: *lasted_ms, from: *from, no_traffic: *no_traffic });
        }
        let was_living = t.living;
        let acked = t.ack.as_ref().is_some_and(|a| a.covers(after.severity()));
        let action = notify::act(&e.change, acked, mute.is_some(), quiet);
        let item = Item {
            service: service.clone(),
            opened_ms: e.opened_ms,
            first: e.change.clone(),
            latest: e.change.clone(),
            health: e.health.clone(),
            unmuted: None,
            at_ms: now_ms,
        };
        match action {
            Action::Notify => {
                let owed = t.owed.take();
                let mut item = item;
                if let Some(first) = owed {
                    item.first = first;
                }
                let q = self.queues.entry(hook.clone()).or_default();
                if let Some(pos) = q.held.iter().position(|h| h.service == service && h.opened_ms == e.opened_ms) {
                    let held = q.held.remove(pos);
                    item.first = held.first;
                }
                self.touch_queue(&hook);
                rows.extend(self.enqueue(cfg, engine, &hook, item, now_ms));
            }
            Action::Hold => {
                let q = self.queues.entry(hook.clone()).or_default();
                match q.held.iter_mut().find(|h| h.service == service && h.opened_ms == e.opened_ms) {
                    Some(h) => h.update(e.change.clone(), e.health.clone()),
                    None => q.held.push(item),
                }
                self.touch_queue(&hook);
            }
            Action::Withhold => {
                if t.owed.is_none() {
                    t.owed = Some(e.change.clone());
                }
            }
            Action::EditOnly => {}
        }
        if action != Action::Notify {
            // A later change of an incident waiting in a group or held: folded into it.
            let q = self.queues.entry(hook.clone()).or_default();
            let mut touched = false;
            if let Some(g) = q.group.as_mut() {
                for i in g.items.iter_mut().filter(|i| i.service == service && i.opened_ms == e.opened_ms) {
                    i.update(e.change.clone(), e.health.clone());
                    touched = true;
                }
            }
            if action != Action::Hold {
                for h in q.held.iter_mut().filter(|h| h.service == service && h.opened_ms == e.opened_ms) {
                    h.update(e.change.clone(), e.health.clone());
                    touched = true;
                }
            }
            if touched {
                self.touch_queue(&hook);
            }
        }
        // The living message shows every change, unless its first message still waits in a group.
        // (A post sent at once above carries the living state itself.)
        let waiting = self.pending(&hook, &service, e.opened_ms);
        if was_living || (!waiting && action != Action::Notify) {
            rows.extend(self.edit(engine, &service, e.health.clone(), now_ms));
        }
        if matches!(e.change, IncidentChange::Resolved { .. }) {
            if self.pending(&hook, &service, e.opened_ms) {
                if let Some(t) = self.incidents.get_mut(&service) {
                    t.done = true;
                }
            } else {
                self.incidents.remove(&service);
            }
        }
        rows
    }

    /// Adds an item to `hook`'s group (sending a due group first); sends it at once without a group wait.
    fn enqueue(&mut self, cfg: &Config, engine: &Engine, hook: &str, item: Item, now_ms: u64) -> Rows {
        let (wait, urgent) = waits(cfg, hook);
        let mut rows = Rows::new();
        let due = self.queues.get(hook).and_then(|q| q.group.as_ref()).is_some_and(|g| g.due(now_ms, wait, urgent));
        if due {
            rows.extend(self.flush(cfg, engine, hook, now_ms));
        }
        let q = self.queues.entry(hook.to_string()).or_default();
        q.group.get_or_insert_with(|| Group { first_ms: now_ms, items: Vec::new(), urgent_ms: None }).add(item);
        self.touch_queue(hook);
        if wait == 0 {
            rows.extend(self.flush(cfg, engine, hook, now_ms));
        }
        rows
    }

    /// Sends `hook`'s group now: one post with an item per incident whose net change notifies.
    fn flush(&mut self, cfg: &Config, engine: &Engine, hook: &str, now_ms: u64) -> Rows {
        let Some(group) = self.queues.get_mut(hook).and_then(|q| q.group.take()) else { return Rows::new() };
        self.touch_queue(hook);
        let mut items = Vec::new();
        let mut rows = Rows::new();
        for i in group.items {
            let change = notify::fold(&i.first, &i.latest);
            let Some(t) = self.incidents.get(&i.service).filter(|t| t.opened_ms == i.opened_ms).cloned() else {
                continue;
            };
            // Muted since it was grouped (a silence added meanwhile): withheld, owed when the mute ends.
            let mute = if t.end.is_some() { None } else { self.mute_now(cfg, engine, &i.service, now_ms) };
            if let Some(m) = mute {
                if let Some(tr) = self.incidents.get_mut(&i.service) {
                    tr.owed = tr.owed.clone().or(Some(i.first.clone()));
                    if tr.mute.is_none() {
                        push_step(tr, Step::Muted { at_ms: now_ms, why: m.clone() });
                    }
                    tr.mute = Some(m);
                }
                self.touch(&i.service);
                rows.extend(self.edit(engine, &i.service, i.health.clone(), now_ms));
                continue;
            }
            let Some(change) = change else {
                // Undone within the wait: nothing to notify; an incident without a living message gets one.
                if !t.living {
                    rows.extend(self.edit(engine, &i.service, i.health.clone(), now_ms));
                }
                continue;
            };
            let ev = IncidentEvent { change, opened_ms: i.opened_ms, health: i.health.clone() };
            let notice = engine.notice(&i.service, Event::Incident(ev), now_ms);
            items.push(PostItem { notice, living: Desk::living_event(&t, i.health.clone()), unmuted: i.unmuted });
            if let Some(t) = self.incidents.get_mut(&i.service) {
                t.living = true;
                t.last_edit_ms = now_ms;
            }
            self.touch(&i.service);
        }
        // Incidents that ended while their notification waited are done now.
        let done: Vec<String> = self.incidents.iter().filter(|(_, t)| t.done).map(|(s, _)| s.clone()).collect();
        for s in done {
            let opened = self.incidents.get(&s).map(|t| t.opened_ms).unwrap_or(0);
            if !self.pending(hook, &s, opened) {
                self.incidents.remove(&s);
                self.touch(&s);
            }
        }
        if let Some(first) = items.first() {
            let svc = first.notice.service.clone();
            rows.push((hook.to_string(), engine.notice(&svc, Event::Post(PostEvent { items, digest: None }), now_ms)));
        }
        rows
    }

    /// The 1 s timer at `now_ms`: groups come due, quiet hours end (the digest), mutes end (announced once),
    /// living messages are refreshed every minute, silences expire.
    pub fn tick(&mut self, cfg: &Config, engine: &Engine, now_ms: u64) -> Rows {
        let mut rows = Rows::new();
        let hooks: Vec<String> = self.queues.keys().cloned().collect();
        for hook in &hooks {
            let (wait, urgent) = waits(cfg, hook);
            if self.queues.get(hook).and_then(|q| q.group.as_ref()).is_some_and(|g| g.due(now_ms, wait, urgent)) {
                rows.extend(self.flush(cfg, engine, hook, now_ms));
            }
            if !Desk::quiet(cfg, hook, now_ms) {
                rows.extend(self.digest(engine, hook, now_ms));
            }
            if self.queues.get(hook).is_some_and(Queue::is_empty) {
                self.queues.remove(hook);
                self.touch_queue(hook);
            }
        }
        let services: Vec<String> = self.incidents.keys().cloned().collect();
        for service in services {
            let Some(t) = self.incidents.get(&service).cloned() else { continue };
            if t.end.is_some() {
                continue;
            }
            // The engine's incident is the truth: one it no longer has (state restored apart) is dropped.
            let open = engine.services().get(&service).and_then(|s| s.incident.as_ref()).map(|i| i.opened_ms);
            if open != Some(t.opened_ms) {
                self.incidents.remove(&service);
                self.touch(&service);
                continue;
            }
            let mute = self.mute_now(cfg, engine, &service, now_ms);
            let mut edit = t.living && now_ms.saturating_sub(t.last_edit_ms) >= EDIT_EVERY_MS;
            if mute != t.mute {
                edit = true;
                let owed = if mute.is_none() { t.owed.clone() } else { None };
                if let Some(tr) = self.incidents.get_mut(&service) {
                    push_step(
                        tr,
                        mute.clone().map_or(Step::Unmuted { at_ms: now_ms }, |m| Step::Muted { at_ms: now_ms, why: m }),
                    );
                    if mute.is_none() {
                        tr.owed = None;
                    }
                    tr.mute = mute.clone();
                    tr.now = condition(engine, &service);
                }
                self.touch(&service);
                if let (Some(first), Some(why)) = (owed, t.mute.clone()) {
                    rows.extend(self.announce(cfg, engine, &service, first, why, now_ms));
                }
            }
            if edit && (t.living || !self.pending(&t.webhook, &service, t.opened_ms)) {
                rows.extend(self.edit(engine, &service, None, now_ms));
            }
        }
        let forget: Vec<u64> = self
            .silences
            .values()
            .filter(|s| now_ms.saturating_sub(s.until_ms) > SILENCE_KEPT_MS && s.until_ms <= now_ms)
            .map(|s| s.id)
            .collect();
        for id in forget {
            self.silences.remove(&id);
            self.dirty_silences.insert(id);
        }
        rows
    }

    /// A mute ended on an open incident a change of which it withheld: told once, in its state now.
    fn announce(
        &mut self,
        cfg: &Config,
        engine: &Engine,
        service: &str,
        first: IncidentChange,
        why: Mute,
        now_ms: u64,
    ) -> Rows {
        let Some(t) = self.incidents.get(service).cloned() else { return Rows::new() };
        let now = condition(engine, service);
        let from = first.before().unwrap_or(now);
        let latest = IncidentChange::Reminder { from, now, open_ms: now_ms.saturating_sub(t.opened_ms) };
        let item = Item {
            service: service.to_string(),
            opened_ms: t.opened_ms,
            first,
            latest: latest.clone(),
            health: None,
            unmuted: Some(why),
            at_ms: now_ms,
        };
        if Desk::quiet(cfg, &t.webhook, now_ms) && notify::warning_only(&latest) {
            let q = self.queues.entry(t.webhook.clone()).or_default();
            q.held.push(item);
            self.touch_queue(&t.webhook);
            return Rows::new();
        }
        self.enqueue(cfg, engine, &t.webhook, item, now_ms)
    }

    /// Quiet hours are over for `hook`: one post with what they held (still open), and a line for each held
    /// incident that ended meanwhile.
    fn digest(&mut self, engine: &Engine, hook: &str, now_ms: u64) -> Rows {
        let Some(q) = self.queues.get_mut(hook) else { return Rows::new() };
        if q.held.is_empty() && q.ended.is_empty() {
            return Rows::new();
        }
        let held = std::mem::take(&mut q.held);
        let mut ended = std::mem::take(&mut q.ended);
        self.touch_queue(hook);
        let mut items = Vec::new();
        for h in held {
            if let IncidentChange::Resolved { worst, lasted_ms, .. } = &h.latest {
                ended.push(Ended {
                    service: h.service.clone(),
                    opened_ms: h.opened_ms,
                    worst: *worst,
                    lasted_ms: *lasted_ms,
                });
                continue;
            }
            let Some(t) = self.incidents.get(&h.service).filter(|t| t.opened_ms == h.opened_ms).cloned() else {
                continue;
            };
            let Some(change) = notify::fold(&h.first, &h.latest) else { continue };
            let ev = IncidentEvent { change, opened_ms: h.opened_ms, health: h.health.clone() };
            let notice = engine.notice(&h.service, Event::Incident(ev), now_ms);
            items.push(PostItem { notice, living: Desk::living_event(&t, h.health.clone()), unmuted: h.unmuted });
        }
        if items.is_empty() && ended.is_empty() {
            return Rows::new();
        }
        let svc = items.first().map(|i| i.notice.service.clone()).or_else(|| ended.first().map(|e| e.service.clone()));
        let svc = svc.unwrap_or_default();
        let post = PostEvent { items, digest: Some(Digest { ended }) };
        vec![(hook.to_string(), engine.notice(&svc, Event::Post(post), now_ms))]
    }

    /// `ack SERVICE --by NAME` at `now_ms`: reminders stop while the incident gets no worse; its living
    /// message says so. Refused for a service without an open incident.
    pub fn ack(&mut self, engine: &Engine, service: &str, by: &str, now_ms: u64) -> Result<(Ack, Rows), String> {
        let by = by.trim();
        if by.is_empty() || by.chars().count() > 100 || by.chars().any(char::is_control) {
            return Err("by: 1 to 100 characters, without control characters".into());
        }
        if !engine.services().contains_key(service) {
            return Err(format!("unknown service {service:?} (not configured and never reported)"));
        }
        let Some(t) = self.incidents.get_mut(service).filter(|t| t.end.is_none()) else {
            return Err(format!("{service} has no open incident to acknowledge"));
        };
        let ack = Ack { by: by.to_string(), at_ms: now_ms, severity: t.now.severity() };
        t.ack = Some(ack.clone());
        push_step(t, Step::Acked { at_ms: now_ms, by: ack.by.clone() });
        let pending = t.living;
        self.touch(service);
        let rows = if pending { self.edit(engine, service, None, now_ms).into_iter().collect() } else { Rows::new() };
        Ok((ack, rows))
    }

    /// Adds a silence at `now_ms`; `known` says whether a service exists. Open incidents it covers show it at
    /// the next tick.
    pub fn add_silence(
        &mut self,
        new: &NewSilence,
        now_ms: u64,
        known: impl Fn(&str) -> bool,
    ) -> Result<Silence, String> {
        let id = self.last_silence_id + 1;
        let s = new.validate(id, now_ms, known)?;
        self.last_silence_id = id;
        self.last_silence_dirty = true;
        self.silences.insert(id, s.clone());
        self.dirty_silences.insert(id);
        Ok(s)
    }

    /// Ends silence `id` now (it is forgotten); `Err` when there is no such silence.
    pub fn remove_silence(&mut self, id: u64) -> Result<Silence, String> {
        let s = self.silences.remove(&id).ok_or_else(|| format!("no silence #{id}"))?;
        self.dirty_silences.insert(id);
        Ok(s)
    }

    /// Hands what changed to the store.
    pub fn take_changes(&mut self) -> DeskChanges {
        DeskChanges {
            incidents: std::mem::take(&mut self.dirty_incidents)
                .into_iter()
                .map(|s| {
                    let t = self.incidents.get(&s).cloned();
                    (s, t)
                })
                .collect(),
            queues: std::mem::take(&mut self.dirty_queues)
                .into_iter()
                .map(|h| {
                    let q = self.queues.get(&h).cloned();
                    (h, q)
                })
                .collect(),
            silences: std::mem::take(&mut self.dirty_silences)
                .into_iter()
                .map(|id| (id, self.silences.get(&id).cloned()))
                .collect(),
            last_silence_id: std::mem::take(&mut self.last_silence_dirty).then_some(self.last_silence_id),
        }
    }

    /// Changes that could not be written: written with the next ones.
    pub fn restore_changes(&mut self, c: DeskChanges) {
        self.dirty_incidents.extend(c.incidents.into_iter().map(|(s, _)| s));
        self.dirty_queues.extend(c.queues.into_iter().map(|(h, _)| h));
        self.dirty_silences.extend(c.silences.into_iter().map(|(id, _)| id));
        self.last_silence_dirty |= c.last_silence_id.is_some();
    }
}

#[cfg(test)]
mod tests;
