//! [`Core`]: the engine and the store behind one lock, so that a state change and its outbox row are
//! written in one transaction, in order; alerts are kept in memory while the database cannot be written.

use super::living::LivingBook;
use super::unsaved::{self, LogNow, Unsaved};
use crate::decide::desk::{Desk, Rows};
use crate::decide::engine::Engine;
use crate::decide::notice::Notice;
use crate::decide::notify::Ack;
use crate::decide::silence::{NewSilence, Silence};
use crate::store::{SERVICE_OWNER, Store, StoreError};

/// Engine and store, changed together under one lock so that a state change and its
/// outbox row are written in one transaction, in order.
pub struct Core {
    pub engine: Engine,
    pub store: Store,
    /// What the channel is told about each incident: living messages, groups, silences, acknowledgements.
    pub desk: Desk,
    /// Where the living messages are (memory, written through to the store).
    pub living: LivingBook,
    /// Alerts not yet written (only while writes fail): delivered from memory meanwhile.
    pub unsaved: Unsaved,
    /// Outbox rows Discord accepted whose record failed: never sent again, recorded when possible.
    unrecorded: Vec<(i64, u64, Option<String>, &'static str)>,
}

impl Core {
    /// A core on a restored engine and its store.
    pub fn new(engine: Engine, store: Store, desk: Desk) -> Core {
        Core { engine, store, desk, living: LivingBook::default(), unsaved: Unsaved::default(), unrecorded: Vec::new() }
    }

    /// Queues the engine's notices (through the desk) and writes them with the changed state now. Returns the
    /// webhooks to wake. A failed write keeps everything in memory (retried by the next call, every second
    /// from the ticker), is logged loudly, and wakes the webhooks so that the alerts go out from memory.
    pub fn commit(&mut self, notices: Vec<Notice>, now: u64) -> Result<Vec<String>, StoreError> {
        let rows = self.desk.route(self.engine.config(), &self.engine, notices, now);
        self.commit_rows(rows, now)
    }

    /// The 1 s timer: the engine re-judges every service, the desk sends due groups, digests and edits.
    pub fn tick(&mut self, now: u64) -> Result<Vec<String>, StoreError> {
        let notices = self.engine.tick(now);
        let mut rows = self.desk.route(self.engine.config(), &self.engine, notices, now);
        rows.extend(self.desk.tick(self.engine.config(), &self.engine, now));
        self.commit_rows(rows, now)
    }

    /// `ack SERVICE --by NAME`: `Ok(Err(why))` when refused (nothing changed).
    pub fn ack(&mut self, service: &str, by: &str, now: u64) -> Result<Result<Ack, String>, StoreError> {
        match self.desk.ack(&self.engine, service, by, now) {
            Ok((ack, rows)) => self.commit_rows(rows, now).map(|_| Ok(ack)),
            Err(why) => Ok(Err(why)),
        }
    }

    /// Adds a silence: `Ok(Err(why))` when refused (nothing changed).
    pub fn add_silence(&mut self, new: &NewSilence, now: u64) -> Result<Result<Silence, String>, StoreError> {
        let (cfg, services) = (self.engine.config(), self.engine.services());
        let known = |s: &str| cfg.service(s).is_some() || services.contains_key(s);
        match self.desk.add_silence(new, now, known) {
            Ok(s) => self.commit_rows(Rows::new(), now).map(|_| Ok(s)),
            Err(why) => Ok(Err(why)),
        }
    }

    /// Ends silence `id`: `Ok(Err(why))` when there is none.
    pub fn remove_silence(&mut self, id: u64, now: u64) -> Result<Result<Silence, String>, StoreError> {
        match self.desk.remove_silence(id) {
            Ok(s) => self.commit_rows(Rows::new(), now).map(|_| Ok(s)),
            Err(why) => Ok(Err(why)),
        }
    }

    fn commit_rows(&mut self, rows: Rows, now: u64) -> Result<Vec<String>, StoreError> {
        for (hook, n) in rows {
            self.unsaved.push(hook, n);
        }
        self.record_unrecorded(now);
        if self.unsaved.sending() {
            // Its outcome decides whether it goes to the outbox or the history: written next time.
            return Ok(vec![]);
        }
        let snap = self.engine.take_snapshot(now);
        let desk = self.desk.take_changes();
        let alerts = self.unsaved.to_write();
        if snap.is_empty() && alerts.is_empty() && desk.is_empty() {
            return Ok(vec![]);
        }
        let rows: Vec<(String, Notice)> = alerts.iter().map(|a| (a.webhook.clone(), a.notice.clone())).collect();
        let done: Vec<Option<(u64, Option<String>, &'static str)>> = alerts
            .iter()
            .map(|a| match &a.delivery {
                unsaved::Delivery::Done { sent_ms, message_id, outcome } => {
                    Some((*sent_ms, message_id.clone(), *outcome))
                }
                _ => None,
            })
            .collect();
        let waiting: Vec<String> =
            alerts.iter().filter(|a| a.delivery == unsaved::Delivery::Waiting).map(|a| a.webhook.clone()).collect();
        let fallback: Vec<bool> = alerts.iter().map(|a| a.fallback).collect();
        match self.store.commit_with(&snap, Some(&desk), &rows, SERVICE_OWNER, now) {
            Ok(ids) => {
                self.unsaved.written(rows.len());
                for ((id, d), fb) in ids.iter().zip(done).zip(fallback) {
                    match d {
                        // Sent from memory: straight into the history, never into the queue again.
                        Some((sent_ms, message_id, outcome))
                            if self.store.finish(*id, sent_ms, message_id.as_deref(), outcome).is_err() =>
                        {
                            self.unrecorded.push((*id, sent_ms, message_id, outcome));
                        }
                        Some(_) => {}
                        None if fb => {
                            let _ = self.store.mark_fallback(*id);
                        }
                        None => {}
                    }
                }
                if let LogNow::Recovered { for_ms } = self.unsaved.succeeded(now) {
                    tracing::warn!(
                        "state database writable again after {} s: {} alert(s) and the state kept in memory are saved",
                        for_ms / 1000,
                        rows.len()
                    );
                }
                let mut hooks = waiting;
                hooks.dedup();
                Ok(hooks)
            }
            Err(e) => {
                self.engine.restore_snapshot(snap);
                self.desk.restore_changes(desk);
                if let LogNow::Failing { for_ms } = self.unsaved.failed(e.to_string(), now) {
                    tracing::error!(
                        "STATE DATABASE NOT WRITABLE for {} s ({e}): alerting from memory ({} alert(s) not saved); \
                         counts and alert state are kept in memory and saved when it is writable again, \
                         but lost if the collector stops before then",
                        for_ms / 1000,
                        self.unsaved.len()
                    );
                }
                Ok(self.unsaved.waiting_webhooks())
            }
        }
    }

    /// The next outbox row of `webhook` to send: the oldest one of a configured service (or about a proxy),
    /// else the oldest
    /// (each service's alerts stay in order; alerts of services nobody listed, e.g. a flood of unknown
    /// names from one proxy, never hold up the pages of the services the team configured). Rows Discord
    /// already accepted but that could not be recorded yet are skipped.
    pub fn next_row(&mut self, webhook: &str) -> Result<Option<crate::store::OutboxRow>, StoreError> {
        let skip: Vec<i64> = self.unrecorded.iter().map(|r| r.0).collect();
        let cfg = self.engine.config();
        let found = {
            let conn = self.store.history().0;
            let mut st = conn.prepare_cached(
                "SELECT id, CASE WHEN json_valid(notice) THEN COALESCE(json_extract(notice, '$.service'), '') \
                 ELSE '' END, CASE WHEN json_valid(notice) THEN json_extract(notice, '$.event.type') END
                 FROM outbox WHERE webhook = ?1 AND owner = ?2 ORDER BY id",
            )?;
            let mut rows = st.query(rusqlite::params![webhook, SERVICE_OWNER])?;
            let (mut oldest, mut chosen) = (None, None);
            while let Some(r) = rows.next()? {
                let id: i64 = r.get(0)?;
                if skip.contains(&id) {
                    continue;
                }
                oldest = oldest.or(Some(id));
                let service: String = r.get(1).unwrap_or_default();
                let kind: Option<String> = r.get(2).unwrap_or_default();
                // A proxy that stopped counting matters as much as a configured service's page.
                if cfg.service(&service).is_some() || kind.as_deref() == Some("proxy") {
                    chosen = Some(id);
                    break;
                }
            }
            drop(rows);
            let Some(id) = chosen.or(oldest) else {
                drop(st);
                // Edits of living messages go when no alert of the webhook waits.
                return self.store.next_edit(webhook, SERVICE_OWNER);
            };
            let row = conn.query_row(
                "SELECT notice, fallback, attempts FROM outbox WHERE id = ?1",
                rusqlite::params![id],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? != 0, r.get::<_, i64>(2)?)),
            )?;
            (id, row)
        };
        let (id, row) = found;
        match serde_json::from_str::<Notice>(&row.0) {
            Ok(notice) => Ok(Some(crate::store::OutboxRow {
                id,
                webhook: webhook.to_string(),
                notice,
                fallback: row.1,
                attempts: u32::try_from(row.2).unwrap_or(u32::MAX),
            })),
            // An undecodable row: the store moves it out of the way (it is then the oldest).
            Err(_) => self.store.next_pending(webhook, SERVICE_OWNER),
        }
    }

    /// Discord accepted outbox row `id`: recorded now, or kept to be recorded (and never sent again).
    pub fn delivered(
        &mut self,
        id: i64,
        now: u64,
        message_id: Option<String>,
        outcome: &'static str,
    ) -> Result<(), StoreError> {
        self.store
            .finish(id, now, message_id.as_deref(), outcome)
            .inspect_err(|_| self.unrecorded.push((id, now, message_id, outcome)))
    }

    fn record_unrecorded(&mut self, _now: u64) {
        let mut left = Vec::new();
        for (id, at, mid, outcome) in std::mem::take(&mut self.unrecorded) {
            if self.store.finish(id, at, mid.as_deref(), outcome).is_err() {
                left.push((id, at, mid, outcome));
            }
        }
        self.unrecorded = left;
    }
}
