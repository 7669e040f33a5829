//! A bounded table of failing routes: route key -> {count, first seen, last seen}.
//!
//! At most `max` named routes are kept; anything beyond is folded into one
//! [`faultline_flush::OTHER_ROUTE`] entry, so memory never grows with traffic.

/// Count and first/last time of one route's 5xx responses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteStat {
    /// 5xx responses seen.
    pub count: u64,
    /// First one, unix ms.
    pub first_ms: u64,
    /// Latest one, unix ms.
    pub last_ms: u64,
}

impl RouteStat {
    /// One response at `now_ms`.
    pub fn once(now_ms: u64) -> Self {
        RouteStat { count: 1, first_ms: now_ms, last_ms: now_ms }
    }

    /// Adds `other` into `self`: counts add, the time span widens.
    pub fn absorb(&mut self, other: &RouteStat) {
        self.count = self.count.saturating_add(other.count);
        self.first_ms = self.first_ms.min(other.first_ms);
        self.last_ms = self.last_ms.max(other.last_ms);
    }
}

/// Named routes (insertion order) plus the overflow entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouteTable {
    named: Vec<(String, RouteStat)>,
    other: Option<RouteStat>,
}

impl RouteTable {
    /// Counts one 5xx on `route` at `now_ms`, keeping at most `max` named routes.
    pub fn record(&mut self, route: &str, now_ms: u64, max: usize) {
        self.add(route, &RouteStat::once(now_ms), max);
    }

    /// Adds `stat` to `route` (or to the overflow entry when the table is full, or when
    /// `route` is the overflow route itself). Allocates only for a new named route.
    pub fn add(&mut self, route: &str, stat: &RouteStat, max: usize) {
        if route != faultline_flush::OTHER_ROUTE {
            if let Some((_, s)) = self.named.iter_mut().find(|(r, _)| r == route) {
                s.absorb(stat);
                return;
            }
            if self.named.len() < max {
                self.named.push((route.to_owned(), *stat));
                return;
            }
        }
        match &mut self.other {
            Some(o) => o.absorb(stat),
            None => self.other = Some(*stat),
        }
    }

    /// Adds every entry of `from` into `self` under the bound `max`.
    pub fn absorb(&mut self, from: &RouteTable, max: usize) {
        for (route, stat) in from.iter() {
            self.add(route, stat, max);
        }
    }

    /// Every entry, named routes first, then the overflow entry if any.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &RouteStat)> {
        self.named
            .iter()
            .map(|(r, s)| (r.as_str(), s))
            .chain(self.other.iter().map(|s| (faultline_flush::OTHER_ROUTE, s)))
    }

    /// Number of entries, the overflow entry included.
    pub fn len(&self) -> usize {
        self.named.len() + usize::from(self.other.is_some())
    }

    /// Whether the table has no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sum of all counts.
    pub fn total(&self) -> u64 {
        self.iter().fold(0u64, |acc, (_, s)| acc.saturating_add(s.count))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_widens_time_span() {
        let mut t = RouteTable::default();
        t.record("GET /a", 20, 4);
        t.record("GET /a", 10, 4);
        t.record("GET /a", 30, 4);
        let (r, s) = t.iter().next().unwrap();
        assert_eq!(r, "GET /a");
        assert_eq!(*s, RouteStat { count: 3, first_ms: 10, last_ms: 30 });
    }

    #[test]
    fn folds_beyond_the_bound_into_other() {
        let mut t = RouteTable::default();
        for i in 0..10_000u64 {
            t.record(&format!("GET /p{i}"), i, 32);
        }
        assert_eq!(t.len(), 33);
        assert_eq!(t.total(), 10_000);
        let (last, other) = t.iter().last().unwrap();
        assert_eq!(last, faultline_flush::OTHER_ROUTE);
        assert_eq!(*other, RouteStat { count: 10_000 - 32, first_ms: 32, last_ms: 9_999 });
        // A known route still counts under its own name when the table is full.
        t.record("GET /p0", 5, 32);
        assert_eq!(t.iter().next().unwrap().1.count, 2);
    }

    #[test]
    fn absorb_keeps_totals_and_bound() {
        let mut a = RouteTable::default();
        let mut b = RouteTable::default();
        b.record("GET /a0", 0, 3);
        for i in 0..5 {
            a.record(&format!("GET /a{i}"), 1, 3);
            b.record(&format!("GET /b{i}"), 2, 3);
        }
        a.absorb(&b, 3);
        assert_eq!(a.len(), 4);
        assert_eq!(a.total(), 11);
        assert_eq!(a.iter().next().unwrap().1, &RouteStat { count: 2, first_ms: 0, last_ms: 1 });
    }
}
