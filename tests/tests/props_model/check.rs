//! The check of one flush against the model.
//!
//! Exact when no bound can have folded anything in this boot: every service's counters and
//! route table equal the model's. When a `max_services` bound may have folded services into
//! "(other)" (more distinct services than the smallest bound of any merge), each counter
//! still sums exactly over the services, every named service holds at most its own counts,
//! and at most `max_services` services are named. Route tables: summing to the 5xx, at most
//! `max_routes` named + "other", named routes never above the model's count.
//!
//! A flush sent by a tick that ran *inside* another VM's merge (forced interleaving) may see
//! any whole services of that merge: `partial` holds them, and each service must then be
//! either without or with its part.

use std::collections::{BTreeMap, BTreeSet};

use faultline_flush::{Flush, OTHER_ROUTE, ServiceCounters};

use super::model::{Book, Counts, Model, OVERFLOW_SERVICE, add_book};

type Totals = (u64, u64, u64, u64);

fn totals(s: &ServiceCounters) -> Totals {
    (s.responses, s.status_4xx, s.status_5xx, s.no_response)
}

fn sum(it: impl Iterator<Item = Totals>) -> Totals {
    it.fold((0, 0, 0, 0), |a, t| (a.0 + t.0, a.1 + t.1, a.2 + t.2, a.3 + t.3))
}

impl Model {
    /// Checks one flush, dispatched after every merge the model has applied and no other
    /// (plus, with `partial`, any whole services of a merge in progress): same boot id, seq
    /// up, counters as the merged ones, bounded route tables.
    pub fn check_flush(&mut self, f: &Flush, partial: Option<&Book>) -> Result<(), String> {
        if f.proxy_id != "edge-1" || f.version != faultline_flush::VERSION {
            return Err(format!("proxy_id/version: {} {}", f.proxy_id, f.version));
        }
        match &self.boot.id {
            Some(id) if *id != f.boot_id => {
                return Err(format!("boot id {} within boot {id}", f.boot_id));
            }
            Some(_) => {}
            None if self.old_boots.contains(&f.boot_id) => {
                return Err(format!("boot id {} reused after a wipe", f.boot_id));
            }
            None => self.boot.id = Some(f.boot_id.clone()),
        }
        if let Some(last) = self.boot.last_seq
            && f.seq <= last
        {
            return Err(format!("seq {} after seq {last} in one boot", f.seq));
        }
        self.boot.last_seq = Some(f.seq);

        let nonempty = |b: &Book| -> BTreeMap<String, Counts> {
            b.iter().filter(|(_, c)| !c.is_empty()).map(|(s, c)| (s.clone(), c.clone())).collect()
        };
        let lo = nonempty(&self.boot.merged);
        let mut hi_book = self.boot.merged.clone();
        if let Some(p) = partial {
            add_book(&mut hi_book, p);
        }
        let hi = nonempty(&hi_book);
        let got: BTreeMap<&str, Totals> = f.services.iter().map(|s| (s.name.as_str(), totals(s))).collect();
        if got.len() != f.services.len() {
            return Err("a service appears twice".into());
        }
        let of = |b: &BTreeMap<String, Counts>, n: &str| b.get(n).map(Counts::totals).unwrap_or_default();
        let may_fold = hi.len() > self.boot.services_lo;
        if may_fold {
            let want_lo = sum(lo.values().map(Counts::totals));
            let want_hi = sum(hi.values().map(Counts::totals));
            let have = sum(got.values().copied());
            if !(within(want_lo, have) && within(have, want_hi)) {
                return Err(format!(
                    "flush seq {}: totals {have:?} over {got:?}, model {want_lo:?}..={want_hi:?} over {:?}",
                    f.seq,
                    hi.keys()
                ));
            }
            let named = got.keys().filter(|n| **n != OVERFLOW_SERVICE).count();
            if named > self.boot.services_hi {
                return Err(format!("{named} services named, bound {}", self.boot.services_hi));
            }
            for (name, t) in &got {
                if *name != OVERFLOW_SERVICE && !within(*t, of(&hi, name)) {
                    return Err(format!("{name}: {t:?} above the model's {:?}", of(&hi, name)));
                }
            }
        } else {
            let names: BTreeSet<&str> = got.keys().copied().chain(hi.keys().map(String::as_str)).collect();
            for name in names {
                let t = got.get(name).copied().unwrap_or_default();
                if t != of(&lo, name) && t != of(&hi, name) {
                    return Err(format!(
                        "flush seq {} counters {got:?}, model {:?}{}",
                        f.seq,
                        lo.iter().map(|(n, c)| (n, c.totals())).collect::<Vec<_>>(),
                        if partial.is_some() { " (+ a merge in progress)" } else { "" }
                    ));
                }
            }
        }
        self.boot.flushed = got.values().map(|t| t.0 + t.3).sum();
        let exact = partial.is_none() && !may_fold;
        for s in &f.services {
            self.check_routes(s, &hi, exact)?;
        }
        Ok(())
    }

    fn check_routes(&self, s: &ServiceCounters, merged: &BTreeMap<String, Counts>, exact: bool) -> Result<(), String> {
        let total: u64 = s.routes.iter().map(|r| r.count).sum();
        if total != s.status_5xx {
            return Err(format!("{}: routes sum to {total}, 5xx {}", s.name, s.status_5xx));
        }
        if s.routes.len() > self.boot.routes_hi + 1 {
            return Err(format!("{}: {} routes, bound {} + other", s.name, s.routes.len(), self.boot.routes_hi));
        }
        // Where this service's routes can come from: its own, or any folded service's.
        let own: Vec<&Counts> = if s.name == OVERFLOW_SERVICE {
            merged.values().collect()
        } else {
            merged.get(s.name.as_str()).into_iter().collect()
        };
        for r in &s.routes {
            if r.first_seen_ms > r.last_seen_ms {
                return Err(format!("{}: {:?} first after last", s.name, r.route));
            }
            if r.route == OTHER_ROUTE {
                continue;
            }
            let m: u64 = own.iter().filter_map(|c| c.routes.get(&r.route)).sum();
            if r.count > m {
                return Err(format!("{}: route {:?} has {}, model {m}", s.name, r.route, r.count));
            }
        }
        // No table could fold anything: the routes are exactly the model's.
        if let ([model], true) = (own.as_slice(), exact)
            && model.routes.len() <= self.boot.routes_lo
        {
            let got: BTreeMap<&str, u64> = s.routes.iter().map(|r| (r.route.as_str(), r.count)).collect();
            let want: BTreeMap<&str, u64> = model.routes.iter().map(|(r, n)| (r.as_str(), *n)).collect();
            if got != want {
                return Err(format!("{}: routes {got:?}, model {want:?}", s.name));
            }
        }
        Ok(())
    }
}

/// Every counter of `a` at most the same counter of `b`.
fn within(a: Totals, b: Totals) -> bool {
    a.0 <= b.0 && a.1 <= b.1 && a.2 <= b.2 && a.3 <= b.3
}
