//! The ledger: per `(proxy_id, boot_id)`, the cumulative counters last accepted, turned
//! into deltas by each new flush (docs/flush-format.md, "Rules"). Pure: no I/O, time in.
//!
//! - `seq` not above the last accepted: stale or replayed, changes nothing.
//! - A counter below its baseline within the same boot (a forged or corrupt flush, or an
//!   nginx record evicted and re-created) is re-baselined and counts nothing: never a
//!   negative delta, never a spike, and the totals do not move.
//! - A new boot younger than the window is counted in full; an older one (state lost)
//!   is only a baseline.
//! - Caps: proxies (a new one beyond is refused) and boots per proxy (the least recently
//!   flushed boot is forgotten).

use faultline_flush::Flush;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Cumulative counters of one service as last accepted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceBase {
    pub responses: u64,
    pub status_4xx: u64,
    pub status_5xx: u64,
    pub no_response: u64,
    #[serde(default)]
    pub unreachable: u64,
    /// Route counters by [`route_key`], not by name: the ledger holds one baseline per
    /// proxy boot, so names would be stored once per proxy (100 proxies x 1,000 routes is
    /// 100,000 strings) and copied on every flush. Older databases stored `routes` by
    /// name; that field is ignored (their first flush after the upgrade re-baselines the
    /// routes: route counts of that one flush count in full, rates are unaffected).
    #[serde(default)]
    pub route_keys: BTreeMap<u64, u64>,
}

/// A route's key in the ledger: FNV-1a, 64 bits. Stable across builds and restarts
/// (persisted); two routes of one service colliding is about 1 in 10^13 at 1,000 routes.
pub fn route_key(route: &str) -> u64 {
    route.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
}

/// What the ledger knows of one boot of one proxy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Baseline {
    pub seq: u64,
    pub boot_ms: u64,
    /// Collector time of the last accepted flush (for evicting idle boots).
    pub seen_ms: u64,
    pub services: BTreeMap<String, ServiceBase>,
}

/// New counts for one service, from one flush (names borrowed from it: no copy per route).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceDelta<'f> {
    pub name: &'f str,
    pub responses: u64,
    pub status_4xx: u64,
    pub status_5xx: u64,
    pub no_response: u64,
    /// Of the new 5xx, those the proxy made because it could not reach the upstream.
    pub unreachable: u64,
    /// `(route, new 5xx, first_seen_ms, last_seen_ms)`.
    pub routes: Vec<(&'f str, u64, u64, u64)>,
}

/// What a flush did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome<'f> {
    /// Counted: the new counts per service (zero deltas included).
    Applied(Vec<ServiceDelta<'f>>),
    /// First flush of a boot older than the window: recorded as a baseline only.
    Baseline,
    /// `seq` not above the last accepted one: nothing changed.
    Stale { last_seq: u64 },
}

/// A flush the ledger refuses to take.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    #[error("too many proxies: {cap} already known; proxy {proxy_id:?} refused (raise limits.max_proxies)")]
    TooManyProxies { proxy_id: String, cap: usize },
}

/// Caps on what the ledger keeps.
#[derive(Debug, Clone, Copy)]
pub struct LedgerCaps {
    pub max_proxies: usize,
    pub max_boots_per_proxy: usize,
}

/// Baselines of every known proxy boot.
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    boots: BTreeMap<String, BTreeMap<String, Baseline>>,
    /// Keys written or removed since the last [`Ledger::take_changes`].
    changed: std::collections::BTreeSet<(String, String)>,
}

/// Ledger rows to upsert (`Some`) or delete (`None`).
pub type LedgerChanges = Vec<((String, String), Option<Baseline>)>;

/// New counts between two cumulative values; a counter that went backwards counts nothing
/// (its new value becomes the baseline for the next flush).
fn delta(new: u64, old: u64) -> u64 {
    new.saturating_sub(old)
}

impl Ledger {
    /// A ledger restored from persisted baselines.
    pub fn restore(rows: impl IntoIterator<Item = ((String, String), Baseline)>) -> Ledger {
        let mut l = Ledger::default();
        for ((p, b), base) in rows {
            l.boots.entry(p).or_default().insert(b, base);
        }
        l
    }

    /// Collector time of the last flush accepted from this boot of this proxy.
    pub fn seen_ms(&self, proxy_id: &str, boot_id: &str) -> Option<u64> {
        self.boots.get(proxy_id)?.get(boot_id).map(|b| b.seen_ms)
    }

    /// Number of known proxies.
    pub fn proxies(&self) -> usize {
        self.boots.len()
    }

    /// Applies a validated flush received at `now_ms`. All or nothing.
    pub fn apply<'f>(
        &mut self,
        f: &'f Flush,
        now_ms: u64,
        window_ms: u64,
        caps: LedgerCaps,
    ) -> Result<Outcome<'f>, LedgerError> {
        if !self.boots.contains_key(&f.proxy_id) && self.boots.len() >= caps.max_proxies {
            return Err(LedgerError::TooManyProxies { proxy_id: f.proxy_id.clone(), cap: caps.max_proxies });
        }
        let boots = self.boots.entry(f.proxy_id.clone()).or_default();
        let key = (f.proxy_id.clone(), f.boot_id.clone());
        if let Some(b) = boots.get(&f.boot_id)
            && f.seq <= b.seq
        {
            return Ok(Outcome::Stale { last_seq: b.seq });
        }
        let fresh = !boots.contains_key(&f.boot_id);
        let young = f.sent_ms.saturating_sub(f.boot_ms) < window_ms;
        // Updated in place: nothing below can fail, so the flush is applied all or nothing.
        let mut next = boots.remove(&f.boot_id).unwrap_or_default();
        next.seq = f.seq;
        next.boot_ms = f.boot_ms;
        next.seen_ms = now_ms;
        let mut deltas = Vec::with_capacity(f.services.len());
        for s in &f.services {
            if !next.services.contains_key(&s.name) {
                next.services.insert(s.name.clone(), ServiceBase::default());
            }
            let Some(base) = next.services.get_mut(&s.name) else { continue };
            let mut d = ServiceDelta {
                name: &s.name,
                responses: delta(s.responses, base.responses),
                status_4xx: delta(s.status_4xx, base.status_4xx),
                status_5xx: delta(s.status_5xx, base.status_5xx),
                no_response: delta(s.no_response, base.no_response),
                unreachable: delta(s.unreachable, base.unreachable),
                routes: Vec::new(),
            };
            base.unreachable = s.unreachable;
            (base.responses, base.status_4xx, base.status_5xx, base.no_response) =
                (s.responses, s.status_4xx, s.status_5xx, s.no_response);
            // The route baseline becomes exactly this flush's routes (docs/flush-format.md).
            let mut routes = BTreeMap::new();
            for r in &s.routes {
                let key = route_key(&r.route);
                let n = delta(r.count, base.route_keys.get(&key).copied().unwrap_or(0));
                if n > 0 {
                    d.routes.push((&r.route, n, r.first_seen_ms, r.last_seen_ms));
                }
                routes.insert(key, r.count);
            }
            base.route_keys = routes;
            deltas.push(d);
        }
        boots.insert(f.boot_id.clone(), next);
        self.changed.insert(key);
        if fresh {
            self.evict_boots(&f.proxy_id, &f.boot_id, caps.max_boots_per_proxy);
            if !young {
                return Ok(Outcome::Baseline);
            }
        }
        Ok(Outcome::Applied(deltas))
    }

    fn evict_boots(&mut self, proxy: &str, keep: &str, max: usize) {
        let Some(boots) = self.boots.get_mut(proxy) else { return };
        while boots.len() > max.max(1) {
            let oldest = boots
                .iter()
                .filter(|(id, _)| id.as_str() != keep)
                .min_by_key(|(_, b)| b.seen_ms)
                .map(|(id, _)| id.clone());
            let Some(id) = oldest else { break };
            boots.remove(&id);
            self.changed.insert((proxy.to_string(), id));
        }
    }

    /// Rows changed since the last call, for the snapshot.
    pub fn take_changes(&mut self) -> LedgerChanges {
        std::mem::take(&mut self.changed)
            .into_iter()
            .map(|(p, b)| {
                let row = self.boots.get(&p).and_then(|m| m.get(&b)).cloned();
                ((p, b), row)
            })
            .collect()
    }

    /// Marks every row changed (after a failed snapshot write).
    pub fn mark_all_changed(&mut self, keys: impl IntoIterator<Item = (String, String)>) {
        self.changed.extend(keys);
    }
}

#[cfg(test)]
mod tests;
