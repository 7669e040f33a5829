//! History in the database: per-minute aggregates per service and failing route (written with
//! each snapshot, pruned by age and row count) and every alert with its delivery record (the
//! outbox while pending, `sent` once delivered or given up). Reads work on any connection,
//! including the read-only one of the `history` command while the service runs (WAL).

use super::StoreError;
use crate::decide::minutes::Minute;
use crate::decide::notice::Notice;
use crate::message;
use rusqlite::{Connection, Transaction, params};
use serde::Serialize;

/// Keyed by time first: writes go to the end of the tree, pruning and "since" reads are range scans,
/// and no second index has to be kept up to date on every write.
pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS minute (start_ms INTEGER NOT NULL, service TEXT NOT NULL, \
  requests INTEGER NOT NULL, errors INTEGER NOT NULL,
  PRIMARY KEY (start_ms, service)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS minute_route (start_ms INTEGER NOT NULL, service TEXT NOT NULL, \
  route TEXT NOT NULL, count INTEGER NOT NULL,
  first_seen_ms INTEGER NOT NULL, last_seen_ms INTEGER NOT NULL, PRIMARY KEY (start_ms, service, route)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS sent_by_time ON sent (sent_ms);
";

fn i(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn u(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// Upserts whole minutes (the engine hands out cumulative minutes, so a rewrite adds nothing twice).
pub(super) fn write_minutes(tx: &Transaction<'_>, minutes: &[Minute]) -> Result<(), StoreError> {
    let mut m = tx.prepare_cached(
        "INSERT INTO minute (service, start_ms, requests, errors) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (start_ms, service) DO UPDATE SET requests = excluded.requests, errors = excluded.errors",
    )?;
    let mut r = tx.prepare_cached(
        "INSERT INTO minute_route (service, start_ms, route, count, first_seen_ms, last_seen_ms) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (start_ms, service, route) DO UPDATE SET count = excluded.count, \
         first_seen_ms = excluded.first_seen_ms, last_seen_ms = excluded.last_seen_ms",
    )?;
    for x in minutes {
        m.execute(params![x.service, i(x.start_ms), i(x.requests), i(x.errors)])?;
        for (route, c) in &x.routes {
            r.execute(params![x.service, i(x.start_ms), route, i(c.count), i(c.first_seen_ms), i(c.last_seen_ms)])?;
        }
    }
    Ok(())
}

/// Deletes history older than `before_ms`, then the oldest minutes beyond `max_rows` rows per
/// table. Returns the rows deleted.
pub(super) fn prune(conn: &Connection, before_ms: u64, max_rows: u64) -> Result<usize, StoreError> {
    let mut n = 0;
    for table in ["minute", "minute_route"] {
        n += conn.execute(&format!("DELETE FROM {table} WHERE start_ms < ?1"), params![i(before_ms)])?;
        let rows: i64 = conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))?;
        if u(rows) > max_rows {
            // Whole minutes go, oldest first, until at most max_rows rows are left.
            let cut: Option<i64> = conn.query_row(
                &format!("SELECT start_ms FROM {table} ORDER BY start_ms DESC LIMIT 1 OFFSET ?1"),
                params![i(max_rows)],
                |r| r.get(0),
            )?;
            if let Some(cut) = cut {
                n += conn.execute(&format!("DELETE FROM {table} WHERE start_ms <= ?1"), params![cut])?;
            }
        }
    }
    n += conn.execute("DELETE FROM sent WHERE sent_ms < ?1", params![i(before_ms)])?;
    Ok(n)
}

/// One service's counts in one minute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MinuteRow {
    pub service: String,
    pub start_ms: u64,
    pub requests: u64,
    pub errors: u64,
}

/// A failing route's 5xx over a period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RouteTotal {
    pub service: String,
    pub route: String,
    pub count: u64,
    pub first_seen_ms: u64,
    pub last_seen_ms: u64,
}

/// A failing route's 5xx in one minute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RouteMinuteRow {
    pub service: String,
    pub route: String,
    pub start_ms: u64,
    pub count: u64,
}

/// An alert and what became of its delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AlertRecord {
    /// The outbox id (the `alert #N` of the message footer).
    pub id: i64,
    pub service: String,
    pub webhook: String,
    pub title: String,
    pub created_ms: u64,
    /// `pending` while in the outbox; else `delivered`, `delivered_fallback`, `refused`, `undecodable`.
    pub outcome: String,
    pub sent_ms: Option<u64>,
    pub attempts: u64,
    pub message_id: Option<String>,
}

/// Read access to the history on one connection.
pub struct History<'a>(pub &'a Connection);

impl History<'_> {
    /// Minutes since `since_ms` (of `service`, or all), oldest first.
    pub fn minutes(&self, service: Option<&str>, since_ms: u64) -> Result<Vec<MinuteRow>, StoreError> {
        let mut st = self.0.prepare_cached(
            "SELECT service, start_ms, requests, errors FROM minute \
             WHERE start_ms >= ?1 AND (?2 IS NULL OR service = ?2) ORDER BY service, start_ms",
        )?;
        let rows = st.query_map(params![i(since_ms), service], |r| {
            Ok(MinuteRow { service: r.get(0)?, start_ms: u(r.get(1)?), requests: u(r.get(2)?), errors: u(r.get(3)?) })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The last failing requests the proxies sampled, per service (of `service`, or all), newest first.
    pub fn last_failures(
        &self,
        service: Option<&str>,
    ) -> Result<Vec<(String, Vec<crate::decide::notice::FailedRequest>)>, StoreError> {
        let mut st = self.0.prepare_cached("SELECT name, data FROM service WHERE ?1 IS NULL OR name = ?1")?;
        let rows = st.query_map(params![service], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (name, data) = row?;
            let state: crate::decide::engine::ServiceState = serde_json::from_str(&data)?;
            out.push((name, state.last_failures));
        }
        Ok(out)
    }

    /// Failing routes since `since_ms`, most 5xx first, at most `limit` per service.
    pub fn routes(&self, service: Option<&str>, since_ms: u64, limit: usize) -> Result<Vec<RouteTotal>, StoreError> {
        let mut st = self.0.prepare_cached(
            "SELECT service, route, SUM(count) AS n, MIN(first_seen_ms), MAX(last_seen_ms) FROM minute_route
             WHERE start_ms >= ?1 AND (?2 IS NULL OR service = ?2) GROUP BY service, route \
             ORDER BY service, n DESC, route",
        )?;
        let rows = st.query_map(params![i(since_ms), service], |r| {
            Ok(RouteTotal {
                service: r.get(0)?,
                route: r.get(1)?,
                count: u(r.get(2)?),
                first_seen_ms: u(r.get(3)?),
                last_seen_ms: u(r.get(4)?),
            })
        })?;
        let mut out: Vec<RouteTotal> = Vec::new();
        let mut per = 0;
        for row in rows {
            let row = row?;
            per = if out.last().is_some_and(|l| l.service == row.service) { per + 1 } else { 1 };
            if per <= limit {
                out.push(row);
            }
        }
        Ok(out)
    }

    /// Per minute since `since_ms`, the 5xx of each route in `routes` (per service): "which API broke
    /// when" as a timeline. Oldest first.
    pub fn route_minutes(&self, routes: &[RouteTotal], since_ms: u64) -> Result<Vec<RouteMinuteRow>, StoreError> {
        let mut st = self.0.prepare_cached(
            "SELECT start_ms, count FROM minute_route WHERE start_ms >= ?1 AND service = ?2 AND route = ?3 \
             ORDER BY start_ms",
        )?;
        let mut out = Vec::new();
        for r in routes {
            let rows = st.query_map(params![i(since_ms), r.service, r.route], |x| Ok((u(x.get(0)?), u(x.get(1)?))))?;
            for row in rows {
                let (start_ms, count) = row?;
                out.push(RouteMinuteRow { service: r.service.clone(), route: r.route.clone(), start_ms, count });
            }
        }
        Ok(out)
    }

    /// Alerts created since `since_ms` (of `service`, or all), newest first, at most `limit`:
    /// pending ones from the outbox, finished ones from `sent`.
    pub fn alerts(&self, service: Option<&str>, since_ms: u64, limit: usize) -> Result<Vec<AlertRecord>, StoreError> {
        let mut st = self.0.prepare_cached(
            "SELECT id, webhook, notice, created_ms, 'pending', NULL, attempts, NULL FROM outbox
               WHERE owner = 'service' AND created_ms >= ?1
             UNION ALL
             SELECT id, webhook, notice, created_ms, outcome, sent_ms, attempts, message_id FROM sent
               WHERE created_ms >= ?1 AND (?2 IS NULL OR service = ?2 \
                 OR (json_valid(notice) AND json_extract(notice, '$.event.type') = 'post'))
             ORDER BY id DESC",
        )?;
        let rows = st.query_map(params![i(since_ms), service], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                u(r.get(3)?),
                r.get::<_, String>(4)?,
                r.get::<_, Option<i64>>(5)?.map(u),
                u(r.get(6)?),
                r.get::<_, Option<String>>(7)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, webhook, notice, created_ms, outcome, sent_ms, attempts, message_id) = row?;
            let (svc, title) = match serde_json::from_str::<Notice>(&notice) {
                // Tests and edits of living messages are not alerts.
                Ok(Notice {
                    event: crate::decide::notice::Event::Test | crate::decide::notice::Event::Living(_),
                    ..
                }) => {
                    continue;
                }
                // A grouped post is each of its services' alert: listed under the one asked for, with its line.
                Ok(Notice { event: crate::decide::notice::Event::Post(p), .. })
                    if service.is_some_and(|s| p.items.iter().any(|i| i.notice.service == s)) =>
                {
                    let s = service.unwrap_or_default();
                    let item = p.items.iter().find(|i| i.notice.service == s);
                    (s.to_string(), item.map(|i| message::title(&i.notice)).unwrap_or_default())
                }
                Ok(n) => (n.service.clone(), message::title(&n)),
                Err(_) => ("?".to_string(), "(undecodable alert)".to_string()),
            };
            if service.is_some_and(|s| s != svc) {
                continue;
            }
            out.push(AlertRecord {
                id,
                service: svc,
                webhook,
                title,
                created_ms,
                outcome,
                sent_ms,
                attempts,
                message_id,
            });
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }
}
