//! A worker's own counts since its last merge: service -> [`ServiceCounts`].
//!
//! Counting into this per-VM tally costs no shared-data call on the request path; the
//! tick merges it into shared data. Bounded: at most `max_services` services (others
//! fold into [`OVERFLOW_SERVICE`]) and `max_routes` routes each.

use crate::counts::{ServiceCounts, StatusClass};
use crate::exemplars::Exemplar;

/// The service that collects counts of services beyond the bound.
pub const OVERFLOW_SERVICE: &str = "(other)";

/// Per-VM counts, emptied service by service as merges succeed.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    services: Vec<(String, ServiceCounts)>,
    max_services: usize,
    max_routes: usize,
}

impl Tally {
    /// An empty tally with the given bounds.
    pub fn new(max_services: usize, max_routes: usize) -> Self {
        Tally { services: Vec::new(), max_services: max_services.max(1), max_routes: max_routes.max(1) }
    }

    /// Changes the bounds (a new configuration); counts already taken are kept.
    pub fn set_bounds(&mut self, max_services: usize, max_routes: usize) {
        self.max_services = max_services.max(1);
        self.max_routes = max_routes.max(1);
    }

    /// Counts one response for `service`; `route` matters for 5xx only.
    pub fn response(&mut self, service: &str, class: StatusClass, route: Option<&str>, now_ms: u64) {
        let max_routes = self.max_routes;
        if let Some(c) = self.entry(service) {
            c.response(class, route, now_ms, max_routes);
        }
    }

    /// Marks one 5xx of `service` (counted just before) as the proxy's own for want of the upstream.
    pub fn unreachable(&mut self, service: &str) {
        if let Some(c) = self.entry(service) {
            c.unreachable();
        }
    }

    /// Offers one failing request of `service` (counted just before) to its sample.
    pub fn exemplar(&mut self, service: &str, e: &Exemplar) {
        if let Some(c) = self.entry(service) {
            c.exemplar(e);
        }
    }

    /// Counts one request of `service` that ended without a response.
    pub fn no_response(&mut self, service: &str) {
        if let Some(c) = self.entry(service) {
            c.no_response();
        }
    }

    /// The counts of `service` (or of the overflow service when the tally is full),
    /// created if needed: allocates only for a new service. Always `Some`.
    fn entry(&mut self, service: &str) -> Option<&mut ServiceCounts> {
        let find = |s: &Self, name: &str| s.services.iter().position(|(n, _)| n == name);
        let full = self.services.len() >= self.max_services;
        let idx = match find(self, service) {
            Some(i) => i,
            None => {
                let name = if full { OVERFLOW_SERVICE } else { service };
                match find(self, name) {
                    Some(i) => i,
                    None => {
                        self.services.push((name.to_owned(), ServiceCounts::default()));
                        self.services.len() - 1
                    }
                }
            }
        };
        self.services.get_mut(idx).map(|(_, c)| c)
    }

    /// Services with counts, in first-seen order.
    pub fn services(&self) -> impl Iterator<Item = (&str, &ServiceCounts)> {
        self.services.iter().map(|(n, c)| (n.as_str(), c))
    }

    /// Keeps only the services for which `keep` returns true (used to drop merged ones).
    pub fn retain(&mut self, mut keep: impl FnMut(&str, &ServiceCounts) -> bool) {
        self.services.retain(|(n, c)| keep(n, c));
    }

    /// Whether nothing is waiting to be merged.
    pub fn is_empty(&self) -> bool {
        self.services.iter().all(|(_, c)| c.is_empty())
    }

    /// The route bound this tally applies.
    pub fn max_routes(&self) -> usize {
        self.max_routes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_service() {
        let mut t = Tally::new(4, 8);
        t.response("be", StatusClass::Other, None, 1);
        t.response("be", StatusClass::ServerError, Some("GET /a"), 2);
        t.response("fe", StatusClass::ClientError, None, 3);
        t.no_response("fe");
        let all: Vec<_> = t.services().map(|(n, c)| (n, c.responses, c.status_5xx, c.no_response)).collect();
        assert_eq!(all, vec![("be", 2, 1, 0), ("fe", 1, 0, 1)]);
    }

    #[test]
    fn services_beyond_the_bound_fold_into_overflow() {
        let mut t = Tally::new(3, 8);
        for i in 0..100 {
            t.response(&format!("svc{i}"), StatusClass::Other, None, 0);
        }
        let names: Vec<_> = t.services().map(|(n, _)| n.to_owned()).collect();
        assert_eq!(names, vec!["svc0", "svc1", "svc2", OVERFLOW_SERVICE]);
        let total: u64 = t.services().map(|(_, c)| c.responses).sum();
        assert_eq!(total, 100);
        // Known services keep counting under their own name.
        t.response("svc1", StatusClass::Other, None, 0);
        assert_eq!(t.services().nth(1).unwrap().1.responses, 2);
    }

    #[test]
    fn retain_drops_merged_services() {
        let mut t = Tally::new(4, 8);
        t.response("a", StatusClass::Other, None, 0);
        t.response("b", StatusClass::Other, None, 0);
        t.retain(|n, _| n == "b");
        assert_eq!(t.services().count(), 1);
        assert!(!t.is_empty());
        t.retain(|_, _| false);
        assert!(t.is_empty());
    }
}
