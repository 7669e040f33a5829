//! The desk's tables: each open incident's desk state (`desk_incident`), each webhook's waiting notifications
//! (`desk_queue`), silences (`silence`), where each incident's living message is (`living`) and the body last
//! sent for it (`living_message`), the edits waiting to be made (`living_outbox`: a queue of its own, so that
//! edits never take an `alert #N` and are sent only when no alert of their webhook waits; their rows have
//! negative ids outside the store), and each webhook's guild and channel for jump links (`webhook_info`).

use super::{Store, StoreError};
use crate::decide::desk::{DeskChanges, Queue, Tracked};
use crate::decide::silence::Silence;
use rusqlite::{OptionalExtension, Transaction, params};
use serde::{Deserialize, Serialize};

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS desk_incident (service TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS desk_queue (webhook TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS silence (id INTEGER PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS living (service TEXT NOT NULL, opened_ms INTEGER NOT NULL, webhook TEXT NOT NULL, \
  message_id TEXT NOT NULL, idx INTEGER NOT NULL, alert_id INTEGER NOT NULL, updated_ms INTEGER NOT NULL, \
  PRIMARY KEY (service, opened_ms));
CREATE TABLE IF NOT EXISTS living_message (message_id TEXT PRIMARY KEY, webhook TEXT NOT NULL, body TEXT NOT NULL, \
  updated_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS living_outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, webhook TEXT NOT NULL, \
  owner TEXT NOT NULL, created_ms INTEGER NOT NULL, notice TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS living_outbox_by_webhook ON living_outbox (webhook, owner, id);
CREATE TABLE IF NOT EXISTS webhook_info (webhook TEXT PRIMARY KEY, guild_id TEXT NOT NULL, channel_id TEXT NOT NULL, \
  fetched_ms INTEGER NOT NULL);
";

/// Where an incident's living message is: its Discord id, its embed's index in it, and the alert that posted it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LivingRecord {
    pub webhook: String,
    pub message_id: String,
    pub index: usize,
    pub alert_id: i64,
}

/// A webhook's guild and channel (from `GET /webhooks/{id}/{token}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookInfo {
    pub guild_id: String,
    pub channel_id: String,
}

fn i(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Writes the desk's changes inside the snapshot's transaction.
pub(super) fn write_desk(tx: &Transaction<'_>, c: &DeskChanges) -> Result<(), StoreError> {
    for (service, t) in &c.incidents {
        match t {
            Some(t) => tx.execute(
                "INSERT INTO desk_incident (service, data) VALUES (?1, ?2) \
                 ON CONFLICT (service) DO UPDATE SET data = excluded.data",
                params![service, serde_json::to_string(t)?],
            )?,
            None => tx.execute("DELETE FROM desk_incident WHERE service = ?1", params![service])?,
        };
    }
    for (hook, q) in &c.queues {
        match q {
            Some(q) => tx.execute(
                "INSERT INTO desk_queue (webhook, data) VALUES (?1, ?2) \
                 ON CONFLICT (webhook) DO UPDATE SET data = excluded.data",
                params![hook, serde_json::to_string(q)?],
            )?,
            None => tx.execute("DELETE FROM desk_queue WHERE webhook = ?1", params![hook])?,
        };
    }
    for (id, s) in &c.silences {
        match s {
            Some(s) => tx.execute(
                "INSERT INTO silence (id, data) VALUES (?1, ?2) ON CONFLICT (id) DO UPDATE SET data = excluded.data",
                params![i(*id), serde_json::to_string(s)?],
            )?,
            None => tx.execute("DELETE FROM silence WHERE id = ?1", params![i(*id)])?,
        };
    }
    if let Some(id) = c.last_silence_id {
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('last_silence_id', ?1) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            params![id.to_string()],
        )?;
    }
    Ok(())
}

/// What [`Store::load_desk`] returns: incidents, queues, silences, the last silence id.
pub type LoadedDesk = (Vec<(String, Tracked)>, Vec<(String, Queue)>, Vec<Silence>, u64);

impl Store {
    /// The desk as persisted. Rows that no longer decode (an older layout) are skipped.
    pub fn load_desk(&self) -> Result<LoadedDesk, StoreError> {
        let pairs = |sql: &str| -> Result<Vec<(String, String)>, StoreError> {
            let mut st = self.conn.prepare(sql)?;
            let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
            Ok(rows.collect::<Result<_, _>>()?)
        };
        let incidents = pairs("SELECT service, data FROM desk_incident")?
            .into_iter()
            .filter_map(|(s, d)| serde_json::from_str(&d).ok().map(|t| (s, t)))
            .collect();
        let queues = pairs("SELECT webhook, data FROM desk_queue")?
            .into_iter()
            .filter_map(|(h, d)| serde_json::from_str(&d).ok().map(|q| (h, q)))
            .collect();
        let silences = pairs("SELECT CAST(id AS TEXT), data FROM silence ORDER BY id")?
            .into_iter()
            .filter_map(|(_, d)| serde_json::from_str(&d).ok())
            .collect();
        let last: Option<String> =
            self.conn.query_row("SELECT value FROM meta WHERE key = 'last_silence_id'", [], |r| r.get(0)).optional()?;
        Ok((incidents, queues, silences, last.and_then(|v| v.parse().ok()).unwrap_or(0)))
    }

    /// Where the living message of `service`'s incident opened at `opened_ms` is.
    pub fn living(&self, service: &str, opened_ms: u64) -> Result<Option<LivingRecord>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT webhook, message_id, idx, alert_id FROM living WHERE service = ?1 AND opened_ms = ?2",
                params![service, i(opened_ms)],
                |r| {
                    Ok(LivingRecord {
                        webhook: r.get(0)?,
                        message_id: r.get(1)?,
                        index: usize::try_from(r.get::<_, i64>(2)?).unwrap_or(0),
                        alert_id: r.get(3)?,
                    })
                },
            )
            .optional()?)
    }

    /// Records (or forgets, with `None`) where an incident's living message is.
    pub fn put_living(
        &mut self,
        service: &str,
        opened_ms: u64,
        rec: Option<&LivingRecord>,
        now_ms: u64,
    ) -> Result<(), StoreError> {
        match rec {
            Some(r) => self.conn.execute(
                "INSERT INTO living (service, opened_ms, webhook, message_id, idx, alert_id, updated_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (service, opened_ms) DO UPDATE SET \
                 webhook = excluded.webhook, message_id = excluded.message_id, idx = excluded.idx, \
                 alert_id = excluded.alert_id, updated_ms = excluded.updated_ms",
                params![service, i(opened_ms), r.webhook, r.message_id, i(r.index as u64), r.alert_id, i(now_ms)],
            )?,
            None => self
                .conn
                .execute("DELETE FROM living WHERE service = ?1 AND opened_ms = ?2", params![service, i(opened_ms)])?,
        };
        Ok(())
    }

    /// The body last sent for message `message_id`.
    pub fn message_body(&self, message_id: &str) -> Result<Option<serde_json::Value>, StoreError> {
        let body: Option<String> = self
            .conn
            .query_row("SELECT body FROM living_message WHERE message_id = ?1", params![message_id], |r| r.get(0))
            .optional()?;
        Ok(body.and_then(|b| serde_json::from_str(&b).ok()))
    }

    /// Records the body last sent for a message.
    pub fn put_message_body(
        &mut self,
        message_id: &str,
        webhook: &str,
        body: &serde_json::Value,
        now_ms: u64,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO living_message (message_id, webhook, body, updated_ms) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (message_id) DO UPDATE SET body = excluded.body, updated_ms = excluded.updated_ms",
            params![message_id, webhook, body.to_string(), i(now_ms)],
        )?;
        Ok(())
    }

    /// A webhook's guild and channel, if fetched before.
    pub fn webhook_info(&self, webhook: &str) -> Result<Option<WebhookInfo>, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT guild_id, channel_id FROM webhook_info WHERE webhook = ?1", params![webhook], |r| {
                Ok(WebhookInfo { guild_id: r.get(0)?, channel_id: r.get(1)? })
            })
            .optional()?)
    }

    /// Records a webhook's guild and channel.
    pub fn put_webhook_info(&mut self, webhook: &str, info: &WebhookInfo, now_ms: u64) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO webhook_info (webhook, guild_id, channel_id, fetched_ms) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (webhook) DO UPDATE SET guild_id = excluded.guild_id, channel_id = excluded.channel_id, \
             fetched_ms = excluded.fetched_ms",
            params![webhook, info.guild_id, info.channel_id, i(now_ms)],
        )?;
        Ok(())
    }
}

/// Forgets living messages not touched since `before_ms` (their incidents ended long ago).
pub(super) fn prune(conn: &rusqlite::Connection, before_ms: u64) -> Result<usize, StoreError> {
    let mut n = conn.execute("DELETE FROM living WHERE updated_ms < ?1", params![i(before_ms)])?;
    n += conn.execute("DELETE FROM living_message WHERE updated_ms < ?1", params![i(before_ms)])?;
    Ok(n)
}

/// Queues an edit (`notice` is an `Event::Living`) in the transaction; an older one of the same incident still
/// waiting is dropped (only the latest state is worth sending). Returns its id, negated.
pub(super) fn queue_edit(
    tx: &Transaction<'_>,
    hook: &str,
    owner: &str,
    n: &crate::decide::notice::Notice,
    opened_ms: u64,
    now_ms: u64,
) -> Result<i64, StoreError> {
    tx.prepare_cached(
        "DELETE FROM living_outbox WHERE webhook = ?1 AND owner = ?2 AND json_extract(notice, '$.service') = ?3 \
         AND json_extract(notice, '$.event.opened_ms') = ?4",
    )?
    .execute(params![hook, owner, n.service, i(opened_ms)])?;
    tx.prepare_cached("INSERT INTO living_outbox (webhook, owner, created_ms, notice) VALUES (?1, ?2, ?3, ?4)")?
        .execute(params![hook, owner, i(now_ms), serde_json::to_string(n)?])?;
    Ok(-tx.last_insert_rowid())
}

impl Store {
    /// The oldest edit waiting for `webhook` (its id negated); an undecodable one is dropped.
    pub fn next_edit(&mut self, webhook: &str, owner: &str) -> Result<Option<super::OutboxRow>, StoreError> {
        loop {
            let found: Option<(i64, String, i64)> = self
                .conn
                .query_row(
                    "SELECT id, notice, attempts FROM living_outbox WHERE webhook = ?1 AND owner = ?2 \
                     ORDER BY id LIMIT 1",
                    params![webhook, owner],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?;
            let Some((id, notice, attempts)) = found else { return Ok(None) };
            match serde_json::from_str(&notice) {
                Ok(notice) => {
                    return Ok(Some(super::OutboxRow {
                        id: -id,
                        webhook: webhook.to_string(),
                        notice,
                        fallback: false,
                        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
                    }));
                }
                Err(_) => {
                    self.conn.execute("DELETE FROM living_outbox WHERE id = ?1", params![id])?;
                }
            }
        }
    }

    /// Edits waiting, per webhook.
    pub fn edit_depth(&self, owner: &str) -> Result<Vec<(String, u64)>, StoreError> {
        let mut st =
            self.conn.prepare("SELECT webhook, COUNT(*) FROM living_outbox WHERE owner = ?1 GROUP BY webhook")?;
        let rows = st.query_map(params![owner], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (w, n) = row?;
            out.push((w, u64::try_from(n).unwrap_or(0)));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
