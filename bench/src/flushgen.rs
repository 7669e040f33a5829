//! Simulated proxies for the collector benchmark: each keeps cumulative counters for N services with R failing
//! routes and produces the next flush (seq + 1, counters grown) the way the filter would. Pure: time is passed in.

use faultline_flush::{Flush, RouteCounters, ServiceCounters, VERSION};

/// What every simulated flush adds per service: responses, 4xx, and 5xx spread evenly over the routes
/// (2% 5xx: below the default WARNING, so the run measures ingestion, not alerting).
#[derive(Debug, Clone, Copy)]
pub struct Growth {
    pub responses: u64,
    pub status_4xx: u64,
    /// 5xx added to each route (so a service's 5xx grows by `routes × this`).
    pub per_route_5xx: u64,
}

impl Default for Growth {
    fn default() -> Self {
        Growth { responses: 1000, status_4xx: 10, per_route_5xx: 1 }
    }
}

/// One simulated proxy.
#[derive(Debug, Clone)]
pub struct SimProxy {
    flush: Flush,
    growth: Growth,
}

impl SimProxy {
    /// Proxy number `index` of a fleet, booted at `boot_ms`, with `services` services of `routes` routes.
    pub fn new(index: usize, services: usize, routes: usize, boot_ms: u64, growth: Growth) -> SimProxy {
        let services = (0..services)
            .map(|s| ServiceCounters {
                name: format!("svc-{s:02}"),
                routes: (0..routes)
                    .map(|r| RouteCounters {
                        route: format!("GET /api/v1/resource{r:02}/:id/items"),
                        count: 0,
                        first_seen_ms: boot_ms,
                        last_seen_ms: boot_ms,
                    })
                    .collect(),
                ..ServiceCounters::default()
            })
            .collect();
        SimProxy {
            flush: Flush {
                version: VERSION,
                proxy_id: format!("bench-proxy-{index:03}"),
                boot_id: format!("{:016x}", 0x5eed_0000_0000_0000u64 ^ (index as u64) ^ (boot_ms << 8)),
                boot_ms,
                seq: 0,
                sent_ms: boot_ms,
                services,
                refusals: vec![],
            },
            growth,
        }
    }

    /// The next flush's body at `now_ms`: every counter grown by one flush interval's worth of traffic.
    pub fn next_body(&mut self, now_ms: u64) -> Vec<u8> {
        let g = self.growth;
        let f = &mut self.flush;
        f.seq += 1;
        f.sent_ms = now_ms.max(f.boot_ms);
        for s in &mut f.services {
            s.responses += g.responses;
            s.status_4xx += g.status_4xx;
            for r in &mut s.routes {
                r.count += g.per_route_5xx;
                r.last_seen_ms = f.sent_ms;
                s.status_5xx += g.per_route_5xx;
            }
        }
        f.to_json()
    }

    /// The flush as last produced.
    pub fn flush(&self) -> &Flush {
        &self.flush
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flushes_are_valid_cumulative_and_sequenced() {
        let mut p = SimProxy::new(7, 50, 20, 1_700_000_000_000, Growth::default());
        let first = Flush::parse(&p.next_body(1_700_000_005_000)).unwrap();
        let second = Flush::parse(&p.next_body(1_700_000_010_000)).unwrap();
        assert_eq!(first.proxy_id, "bench-proxy-007");
        assert_eq!((first.seq, second.seq), (1, 2));
        assert_eq!(first.boot_id, second.boot_id);
        assert_eq!(second.services.len(), 50);
        let s = &second.services[3];
        assert_eq!((s.responses, s.status_4xx, s.status_5xx), (2000, 20, 40));
        assert_eq!(s.routes.len(), 20);
        assert_eq!(s.routes.iter().map(|r| r.count).sum::<u64>(), s.status_5xx);
        assert_eq!(s.routes[0].last_seen_ms, 1_700_000_010_000);
        assert_eq!(p.flush(), &second);
    }

    #[test]
    fn proxies_have_distinct_ids_and_the_rate_stays_below_warning() {
        let a = SimProxy::new(1, 2, 2, 5, Growth::default());
        let b = SimProxy::new(2, 2, 2, 5, Growth::default());
        assert_ne!(a.flush().proxy_id, b.flush().proxy_id);
        assert_ne!(a.flush().boot_id, b.flush().boot_id);
        let mut big = SimProxy::new(0, 50, 20, 0, Growth::default());
        let f = Flush::parse(&big.next_body(1)).unwrap();
        let s = &f.services[0];
        assert!(s.status_5xx * 100 / s.responses < 5);
    }
}
