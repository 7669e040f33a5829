//! The collector's state on disk: one SQLite database (`faultline.db` in the state
//! directory, WAL mode so that a reader process can read while the service writes).
//! Holds the ledger baselines, each service's window/totals/alert state, and the outbox.
//! A snapshot and the notices it produced are written in ONE transaction, before anything
//! is sent.

use crate::decide::engine::{ServiceState, Snapshot};
use crate::decide::ledger::Baseline;
use crate::decide::minutes::{Minute, minute_of};
use crate::decide::notice::Notice;
use crate::decide::watchdog::ProxyState;
use crate::decide::window::Bucket;
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A failure of the state database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("state directory {path}: {source}")]
    Dir { path: PathBuf, source: std::io::Error },
    #[error("state database: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("state database holds unreadable data: {0}")]
    Decode(#[from] serde_json::Error),
}

/// One alert waiting in the outbox.
#[derive(Debug, Clone)]
pub struct OutboxRow {
    pub id: i64,
    pub webhook: String,
    pub notice: Notice,
    /// Discord refused the full message (400): the plain fallback is due.
    pub fallback: bool,
    pub attempts: u32,
}

/// What [`Store::load`] returns: baselines, service rows, window buckets per service.
pub type Loaded = (Vec<((String, String), Baseline)>, Vec<(String, ServiceState)>, BTreeMap<String, Vec<Bucket>>);

/// Whose rows a delivery loop takes: the service's, or one `test-alert` run's.
pub const SERVICE_OWNER: &str = "service";

/// The open database.
pub struct Store {
    conn: Connection,
    /// Whether `synchronous=FULL` is in force (else NORMAL).
    full_sync: bool,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS baseline (proxy_id TEXT NOT NULL, boot_id TEXT NOT NULL, data TEXT NOT NULL, \
  PRIMARY KEY (proxy_id, boot_id));
CREATE TABLE IF NOT EXISTS service (name TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS proxy (proxy_id TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS bucket (service TEXT NOT NULL, start_ms INTEGER NOT NULL, data TEXT NOT NULL, \
  PRIMARY KEY (service, start_ms));
CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, webhook TEXT NOT NULL, owner TEXT NOT NULL,
  created_ms INTEGER NOT NULL, notice TEXT NOT NULL, \
  fallback INTEGER NOT NULL DEFAULT 0, attempts INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS outbox_by_webhook ON outbox (webhook, owner, id);
CREATE TABLE IF NOT EXISTS sent (id INTEGER PRIMARY KEY, webhook TEXT NOT NULL, \
  service TEXT NOT NULL, created_ms INTEGER NOT NULL,
  sent_ms INTEGER NOT NULL, message_id TEXT, outcome TEXT NOT NULL, notice TEXT NOT NULL);
";

pub mod act;
pub mod history;

/// Delivered or abandoned alerts kept for history (issue 6); older ones are pruned.
const SENT_KEPT: i64 = 10_000;

impl Store {
    /// Opens (creating if needed) `faultline.db` in `dir`.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Dir { path: dir.to_path_buf(), source })?;
        let conn = Connection::open(dir.join("faultline.db"))?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.execute_batch(SCHEMA)?;
        let has_attempts: i64 =
            conn.query_row("SELECT COUNT(*) FROM pragma_table_info('sent') WHERE name = 'attempts'", [], |r| r.get(0))?;
        if has_attempts == 0 {
            // Databases written before the history feature: keep the delivery attempts too.
            conn.execute_batch("ALTER TABLE sent ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0")?;
        }
        conn.execute_batch(history::SCHEMA)?;
        conn.execute_batch(act::SCHEMA)?;
        Ok(Store { conn, full_sync: true })
    }

    /// Opens `faultline.db` in `dir` read-only (the `history` command, the status page's reads):
    /// in WAL mode it reads a consistent state while the service writes, and never blocks it.
    pub fn open_read_only(dir: &Path) -> Result<Connection, StoreError> {
        let path = dir.join("faultline.db");
        if !path.exists() {
            return Err(StoreError::Dir {
                path,
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "no database here (has the collector run with this state_dir?)",
                ),
            });
        }
        let conn = Connection::open_with_flags(
            &path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        Ok(conn)
    }

    /// The history on the service's own connection.
    pub fn history(&self) -> history::History<'_> {
        history::History(&self.conn)
    }

    /// Minutes still open at `now_ms` (the current one), to resume counting after a restart.
    pub fn open_minutes(&self, now_ms: u64) -> Result<Vec<Minute>, StoreError> {
        let start = minute_of(now_ms);
        let mut out: Vec<Minute> = self
            .history()
            .minutes(None, start)?
            .into_iter()
            .map(|m| Minute {
                service: m.service,
                start_ms: m.start_ms,
                requests: m.requests,
                errors: m.errors,
                routes: Default::default(),
                dirty: false,
            })
            .collect();
        let mut st = self.conn.prepare(
            "SELECT service, start_ms, route, count, first_seen_ms, last_seen_ms FROM minute_route \
             WHERE start_ms >= ?1",
        )?;
        let rows = st.query_map(params![start as i64], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, i64>(5)?,
            ))
        })?;
        for row in rows {
            let (svc, at, route, n, first, last) = row?;
            if let Some(m) = out.iter_mut().find(|m| m.service == svc && m.start_ms as i64 == at) {
                let c = crate::decide::minutes::RouteMinute {
                    count: n.max(0) as u64,
                    first_seen_ms: first.max(0) as u64,
                    last_seen_ms: last.max(0) as u64,
                    dirty: false,
                };
                m.routes.insert(route, c);
            }
        }
        Ok(out)
    }

    /// Deletes history older than `before_ms` and beyond `max_rows` rows per table.
    pub fn prune_history(&mut self, before_ms: u64, max_rows: u64) -> Result<usize, StoreError> {
        Ok(history::prune(&self.conn, before_ms, max_rows)? + act::prune(&self.conn, before_ms)?)
    }

    /// Alerts and delivery records are synced to disk at commit (FULL). A snapshot without alerts
    /// may use NORMAL: in WAL mode a power loss can only lose the latest snapshots, never make them
    /// inconsistent, and an older consistent snapshot is exact (the next flush carries the rest).
    fn sync(&mut self, full: bool) -> Result<(), StoreError> {
        if self.full_sync != full {
            self.conn.pragma_update(None, "synchronous", if full { "FULL" } else { "NORMAL" })?;
            self.full_sync = full;
        }
        Ok(())
    }

    /// When the collector first started on this state (set now if never).
    pub fn first_start_ms(&self, now_ms: u64) -> Result<u64, StoreError> {
        self.conn.execute(
            "INSERT OR IGNORE INTO meta (key, value) VALUES ('first_start_ms', ?1)",
            params![now_ms.to_string()],
        )?;
        let v: String = self.conn.query_row("SELECT value FROM meta WHERE key = 'first_start_ms'", [], |r| r.get(0))?;
        Ok(v.parse().unwrap_or(now_ms))
    }

    /// Everything persisted: baselines, service states and their window buckets.
    pub fn load(&self) -> Result<Loaded, StoreError> {
        let mut st = self.conn.prepare("SELECT proxy_id, boot_id, data FROM baseline")?;
        let rows =
            st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?)))?;
        let mut baselines = Vec::new();
        for row in rows {
            let (p, b, data) = row?;
            baselines.push(((p, b), serde_json::from_str(&data)?));
        }
        let services = self.keyed("SELECT name, data FROM service")?;
        let mut buckets: BTreeMap<String, Vec<Bucket>> = BTreeMap::new();
        for (n, b) in self.keyed("SELECT service, data FROM bucket ORDER BY service, start_ms")? {
            buckets.entry(n).or_default().push(b);
        }
        Ok((baselines, services, buckets))
    }

    /// What is known of every proxy: its reports and what the watchdog said about it.
    pub fn load_proxies(&self) -> Result<Vec<(String, ProxyState)>, StoreError> {
        self.keyed("SELECT proxy_id, data FROM proxy")
    }

    /// The rows of a `key, JSON data` query, decoded.
    fn keyed<T: serde::de::DeserializeOwned>(&self, sql: &str) -> Result<Vec<(String, T)>, StoreError> {
        let mut st = self.conn.prepare(sql)?;
        let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (key, data) = row?;
            out.push((key, serde_json::from_str(&data)?));
        }
        Ok(out)
    }

    /// Writes a snapshot and the notices it produced (each to its webhook) in one transaction;
    /// returns the outbox ids.
    pub fn commit(
        &mut self,
        snap: &Snapshot,
        notices: &[(String, Notice)],
        owner: &str,
        now_ms: u64,
    ) -> Result<Vec<i64>, StoreError> {
        self.commit_with(snap, None, notices, owner, now_ms)
    }

    /// [`Store::commit`] with the desk's changes in the same transaction. A new edit of an incident's living
    /// message replaces the ones still waiting (only the latest state is worth sending).
    pub fn commit_with(
        &mut self,
        snap: &Snapshot,
        desk: Option<&crate::decide::desk::DeskChanges>,
        notices: &[(String, Notice)],
        owner: &str,
        now_ms: u64,
    ) -> Result<Vec<i64>, StoreError> {
        self.sync(!notices.is_empty())?;
        let tx = self.conn.transaction()?;
        if let Some(d) = desk {
            act::write_desk(&tx, d)?;
        }
        {
            let mut up = tx.prepare_cached(
                "INSERT INTO baseline (proxy_id, boot_id, data) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (proxy_id, boot_id) DO UPDATE SET data = excluded.data",
            )?;
            let mut del = tx.prepare_cached("DELETE FROM baseline WHERE proxy_id = ?1 AND boot_id = ?2")?;
            for ((p, b), row) in &snap.ledger {
                match row {
                    Some(base) => up.execute(params![p, b, serde_json::to_string(base)?])?,
                    None => del.execute(params![p, b])?,
                };
            }
            let mut svc = tx.prepare_cached(
                "INSERT INTO service (name, data) VALUES (?1, ?2) \
                 ON CONFLICT (name) DO UPDATE SET data = excluded.data",
            )?;
            for (name, state) in &snap.services {
                svc.execute(params![name, serde_json::to_string(state)?])?;
            }
            let mut bucket = tx.prepare_cached(
                "INSERT INTO bucket (service, start_ms, data) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (service, start_ms) DO UPDATE SET data = excluded.data",
            )?;
            for (name, b) in &snap.buckets {
                bucket.execute(params![name, b.start_ms as i64, serde_json::to_string(b)?])?;
            }
            let mut proxy = tx.prepare_cached(
                "INSERT INTO proxy (proxy_id, data) VALUES (?1, ?2) \
                 ON CONFLICT (proxy_id) DO UPDATE SET data = excluded.data",
            )?;
            for (id, p) in &snap.proxies {
                proxy.execute(params![id, serde_json::to_string(p)?])?;
            }
            let mut expire = tx.prepare_cached("DELETE FROM bucket WHERE service = ?1 AND start_ms < ?2")?;
            for (name, before) in &snap.expire_before {
                expire.execute(params![name, *before as i64])?;
            }
        }
        history::write_minutes(&tx, &snap.minutes)?;
        let mut ids = Vec::with_capacity(notices.len());
        {
            let mut ins =
                tx.prepare_cached("INSERT INTO outbox (webhook, owner, created_ms, notice) VALUES (?1, ?2, ?3, ?4)")?;
            for (hook, n) in notices {
                if let crate::decide::notice::Event::Living(l) = &n.event {
                    ids.push(act::queue_edit(&tx, hook, owner, n, l.opened_ms, now_ms)?);
                    continue;
                }
                ins.execute(params![hook, owner, now_ms as i64, serde_json::to_string(n)?])?;
                ids.push(tx.last_insert_rowid());
            }
        }
        tx.commit()?;
        Ok(ids)
    }

    fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(i64, String, String, bool, u32)> {
        Ok((
            r.get(0)?,
            r.get(1)?,
            r.get(2)?,
            r.get::<_, i64>(3)? != 0,
            r.get::<_, i64>(4)?.try_into().unwrap_or(u32::MAX),
        ))
    }

    /// The oldest undelivered alert of `owner` for `webhook`. A row that cannot be decoded is
    /// moved out of the way (kept in `sent` as "undecodable") so it cannot block the queue.
    pub fn next_pending(&mut self, webhook: &str, owner: &str) -> Result<Option<OutboxRow>, StoreError> {
        loop {
            let found = self
                .conn
                .query_row(
                    "SELECT id, webhook, notice, fallback, attempts FROM outbox \
                     WHERE webhook = ?1 AND owner = ?2 ORDER BY id LIMIT 1",
                    params![webhook, owner],
                    Store::row,
                )
                .optional()?;
            let Some((id, webhook, notice, fallback, attempts)) = found else { return Ok(None) };
            match serde_json::from_str::<Notice>(&notice) {
                Ok(notice) => return Ok(Some(OutboxRow { id, webhook, notice, fallback, attempts })),
                Err(e) => self.finish(id, 0, None, &format!("undecodable: {e}"))?,
            }
        }
    }

    /// Webhook names that have rows of `owner` waiting.
    pub fn pending_webhooks(&self, owner: &str) -> Result<Vec<String>, StoreError> {
        let mut st = self.conn.prepare(
            "SELECT webhook FROM outbox WHERE owner = ?1 UNION SELECT webhook FROM living_outbox WHERE owner = ?1",
        )?;
        let rows = st.query_map(params![owner], |r| r.get::<_, String>(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Moves a row from the outbox to the `sent` history with its outcome ("delivered", ...).
    /// An edit (negative id) leaves no record: it is removed.
    pub fn finish(&mut self, id: i64, now_ms: u64, message_id: Option<&str>, outcome: &str) -> Result<(), StoreError> {
        if id < 0 {
            return self.discard(id);
        }
        self.sync(true)?;
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT OR REPLACE INTO sent (id, webhook, service, created_ms, sent_ms, \
             message_id, outcome, notice, attempts)
             SELECT id, webhook, CASE WHEN json_valid(notice) THEN COALESCE(json_extract(notice, '$.service'), '?') \
             ELSE '?' END, created_ms, ?2, ?3, ?4, notice, attempts FROM outbox WHERE id = ?1",
            params![id, now_ms as i64, message_id, outcome],
        )?;
        tx.execute("DELETE FROM outbox WHERE id = ?1", params![id])?;
        tx.execute("DELETE FROM sent WHERE id <= (SELECT MAX(id) FROM sent) - ?1", params![SENT_KEPT])?;
        tx.commit()?;
        Ok(())
    }

    /// Records that the full message was refused and the fallback is due (edits have none).
    pub fn mark_fallback(&mut self, id: i64) -> Result<(), StoreError> {
        self.conn.execute("UPDATE outbox SET fallback = 1 WHERE id = ?1", params![id])?;
        Ok(())
    }

    /// Counts a failed attempt.
    pub fn bump_attempts(&mut self, id: i64) -> Result<(), StoreError> {
        let sql = if id < 0 {
            "UPDATE living_outbox SET attempts = attempts + 1 WHERE id = -?1"
        } else {
            "UPDATE outbox SET attempts = attempts + 1 WHERE id = ?1"
        };
        self.conn.execute(sql, params![id])?;
        Ok(())
    }

    /// Removes a row without sending it (a `test-alert` that gave up).
    pub fn discard(&mut self, id: i64) -> Result<(), StoreError> {
        let sql = if id < 0 { "DELETE FROM living_outbox WHERE id = -?1" } else { "DELETE FROM outbox WHERE id = ?1" };
        self.conn.execute(sql, params![id])?;
        Ok(())
    }

    /// Undelivered service alerts and edits per webhook.
    pub fn depth(&self) -> Result<BTreeMap<String, u64>, StoreError> {
        let mut st = self.conn.prepare("SELECT webhook, COUNT(*) FROM outbox WHERE owner = ?1 GROUP BY webhook")?;
        let rows = st.query_map(params![SERVICE_OWNER], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
        let mut out = BTreeMap::new();
        for row in rows {
            let (w, n) = row?;
            out.insert(w, u64::try_from(n).unwrap_or(0));
        }
        for (w, n) in self.edit_depth(SERVICE_OWNER)? {
            *out.entry(w).or_insert(0) += n;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
