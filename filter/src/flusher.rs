//! Building the flush: the registry and every service record read from shared data,
//! stamped with the boot and the lease's sequence number, with the zone's refused
//! configurations, as a valid [`faultline_flush::Flush`] body no larger than the collector
//! accepts.

use crate::config::Collector;
use crate::exemplars::Exemplar;
use crate::merge::MAX_ATTEMPTS;
use crate::merge::{find_record, find_registry};
use crate::record::BootLease;
use crate::refusals;
use crate::shared::SetError;
use crate::shared::{HostError, SharedData, Slot};
use faultline_flush::{Flush, Invalid, RouteCounters, ServiceCounters, VERSION, limits};

/// Reads every registered service's cumulative counters, and the refused configurations
/// recorded in the zone, into a flush.
pub fn build_flush<S: SharedData + ?Sized>(
    store: &S,
    zone: &str,
    proxy_id: &str,
    lease: &BootLease,
    now_ms: u64,
) -> Result<Flush, HostError> {
    let names = match find_registry(store, zone)? {
        Slot::Found { value, .. } => value.names,
        Slot::Free { .. } | Slot::Taken => Vec::new(),
    };
    let mut services = Vec::with_capacity(names.len());
    let mut room = limits::MAX_EXEMPLARS;
    for name in names.iter().take(limits::MAX_SERVICES) {
        // A registered service whose record is not written yet (or was evicted) is skipped.
        if let Slot::Found { value, .. } = find_record(store, zone, name)? {
            let c = value.counts;
            let exemplars: Vec<faultline_flush::Exemplar> =
                c.exemplars.sorted().into_iter().rev().take(room).rev().map(flush_exemplar).collect();
            room = room.saturating_sub(exemplars.len());
            services.push(ServiceCounters {
                name: value.name,
                responses: c.responses,
                status_4xx: c.status_4xx,
                status_5xx: c.status_5xx,
                no_response: c.no_response,
                unreachable: c.unreachable,
                routes: c
                    .routes
                    .iter()
                    .map(|(route, s)| RouteCounters {
                        route: route.to_owned(),
                        count: s.count,
                        first_seen_ms: s.first_ms,
                        last_seen_ms: s.last_ms,
                    })
                    .collect(),
                exemplars,
            });
        }
    }
    Ok(Flush {
        version: VERSION,
        proxy_id: proxy_id.to_owned(),
        boot_id: lease.boot_id.clone(),
        boot_ms: lease.boot_ms,
        seq: lease.seq,
        sent_ms: now_ms,
        services,
        refusals: refusals::read(store, zone)?,
    })
}

/// A sampled failing request as the flush carries it (empty texts left out).
fn flush_exemplar(e: &Exemplar) -> faultline_flush::Exemplar {
    let text = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    faultline_flush::Exemplar {
        time_ms: e.time_ms,
        method: if e.method.is_empty() { "-".to_owned() } else { e.method.clone() },
        route: e.route.clone(),
        path: text(&e.path),
        status: e.status,
        request_id: text(&e.request_id),
        upstream: text(&e.upstream),
        duration_ms: (e.duration_ms != u64::MAX).then_some(e.duration_ms),
        details: text(&e.details),
    }
}

/// Removes the exemplars `flush` carries from the zone's records (the next flush carries only newer
/// ones). A record that keeps changing under it keeps them: the collector drops repeated exemplars.
pub fn forget_sent<S: SharedData + ?Sized>(store: &S, zone: &str, flush: &Flush) -> Result<(), HostError> {
    for s in flush.services.iter().filter(|s| !s.exemplars.is_empty()) {
        for _ in 0..MAX_ATTEMPTS {
            let Slot::Found { key, mut value, cas } = find_record(store, zone, &s.name)? else { break };
            let before = value.counts.exemplars.len();
            value.counts.exemplars.remove(|e| {
                s.exemplars.iter().any(|x| {
                    x.time_ms == e.time_ms
                        && x.route == e.route
                        && x.request_id.as_deref().unwrap_or("") == e.request_id
                })
            });
            if value.counts.exemplars.len() == before {
                break;
            }
            match store.set(&key, &value.encode(), cas) {
                Ok(()) | Err(SetError::Host(_)) => break,
                Err(SetError::CasMismatch) => continue,
            }
        }
    }
    Ok(())
}

/// The JSON body of `flush`. If it is larger than the collector accepts, each service
/// keeps only its most frequent routes (halving until it fits); counters are never cut.
///
/// Not re-validated here: every part is valid by construction (names checked by the
/// config and by record decoding, counters checked for consistency when decoded,
/// registry names unique, at most `MAX_SERVICES` services, refusals bounded and checked
/// when decoded); unit tests parse the result with the collector's parser.
pub fn flush_body(mut flush: Flush) -> Result<Vec<u8>, Invalid> {
    let mut keep = limits::MAX_ROUTES;
    loop {
        let body = crate::flush_json::write_flush(&flush);
        if body.len() <= limits::MAX_BODY_BYTES {
            return Ok(body);
        }
        if keep == 0 {
            return Err(Invalid(format!("flush of {} bytes does not fit", body.len())));
        }
        keep /= 2;
        for s in &mut flush.services {
            s.exemplars.clear(); // Samples go before any route does.
            // Drop the least frequent routes (no sort: keeps the .wasm small).
            while s.routes.len() > keep {
                let least = s.routes.iter().enumerate().min_by_key(|(_, r)| r.count).map(|(i, _)| i);
                if let Some(i) = least {
                    s.routes.remove(i);
                }
            }
        }
    }
}

/// The headers of the flush request. `bearer` is `"Bearer <token>"`.
pub fn request_headers<'a>(c: &'a Collector, bearer: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        (":method", "POST"),
        (":path", c.path.as_str()),
        (":authority", c.authority.as_str()),
        ("authorization", bearer),
        ("content-type", "application/json"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::counts::StatusClass;
    use crate::lease::ensure_boot;
    use crate::merge::merge_tally;
    use crate::shared::memory::{CasRules, MemoryShared};
    use crate::tally::Tally;

    #[test]
    fn a_flush_carries_every_registered_service() {
        let s = MemoryShared::new(CasRules::Nginx);
        let boot = ensure_boot(&s, "z", 1, 1000, 5000, &mut || "b00t".into()).unwrap();
        let mut t = Tally::new(64, 32);
        t.response("be", StatusClass::ServerError, Some("GET /server/users/:id/orders"), 1500);
        t.response("be", StatusClass::Other, None, 1500);
        t.response("fe", StatusClass::ClientError, None, 1600);
        t.no_response("fe");
        merge_tally(&s, "z", &mut t, 64);
        let f = build_flush(&s, "z", "edge-1", &boot, 2000).unwrap();
        assert_eq!(
            (f.proxy_id.as_str(), f.boot_id.as_str(), f.boot_ms, f.seq, f.sent_ms),
            ("edge-1", "b00t", 1000, 0, 2000)
        );
        assert_eq!(f.services.len(), 2);
        let be = &f.services[0];
        assert_eq!((be.name.as_str(), be.responses, be.status_5xx), ("be", 2, 1));
        assert_eq!(be.routes[0].route, "GET /server/users/:id/orders");
        assert_eq!((be.routes[0].first_seen_ms, be.routes[0].last_seen_ms), (1500, 1500));
        let fe = &f.services[1];
        assert_eq!((fe.responses, fe.status_4xx, fe.no_response), (1, 1, 1));
        let body = flush_body(f.clone()).unwrap();
        assert_eq!(Flush::parse(&body), Ok(f));
    }

    #[test]
    fn a_flush_carries_the_zones_refusals() {
        for rules in [CasRules::Envoy, CasRules::Nginx] {
            let s = MemoryShared::new(rules);
            let boot = ensure_boot(&s, "z", 1, 0, 5000, &mut || "b".into()).unwrap();
            assert!(build_flush(&s, "z", "p", &boot, 1).unwrap().refusals.is_empty());
            let refused =
                refusals::describe(br#"{"service":"ai","shm_zone":"z","colour":1}"#, "unknown key `colour`").unwrap();
            refusals::record(&s, &refused.zone, &refused.refusal).unwrap();
            let elsewhere = refusals::describe(br#"{"shm_zone":"y","colour":1}"#, "unknown key `colour`").unwrap();
            refusals::record(&s, &elsewhere.zone, &elsewhere.refusal).unwrap();
            let f = build_flush(&s, "z", "p", &boot, 1).unwrap();
            assert_eq!(f.refusals, vec![refused.refusal], "{rules:?}");
            assert_eq!(Flush::parse(&flush_body(f.clone()).unwrap()), Ok(f));
        }
    }

    #[test]
    fn a_flush_carries_the_sampled_failures_once() {
        for rules in [CasRules::Envoy, CasRules::Nginx] {
            let s = MemoryShared::new(rules);
            let boot = ensure_boot(&s, "z", 1, 0, 5000, &mut || "b".into()).unwrap();
            let mut t = Tally::new(64, 32);
            for i in 0..3u64 {
                t.response("be", StatusClass::ServerError, Some("GET /a"), 10 + i);
                let e = Exemplar {
                    time_ms: 10 + i,
                    method: "GET".into(),
                    route: "GET /a".into(),
                    status: 502,
                    request_id: format!("r{i}"),
                    duration_ms: u64::MAX,
                    ..Exemplar::default()
                };
                t.exemplar("be", &e);
            }
            merge_tally(&s, "z", &mut t, 64);
            let f = build_flush(&s, "z", "p", &boot, 20).unwrap();
            let ids: Vec<_> = f.services[0].exemplars.iter().map(|e| e.request_id.clone().unwrap()).collect();
            assert_eq!(ids, ["r0", "r1", "r2"], "{rules:?}");
            assert_eq!(f.services[0].exemplars[0].duration_ms, None);
            assert_eq!(Flush::parse(&flush_body(f.clone()).unwrap()), Ok(f.clone()));
            forget_sent(&s, "z", &f).unwrap();
            let again = build_flush(&s, "z", "p", &boot, 30).unwrap();
            assert!(again.services[0].exemplars.is_empty(), "{rules:?}");
            assert_eq!(again.services[0].status_5xx, 3, "the counts stay");
        }
    }

    #[test]
    fn an_empty_store_flushes_no_services() {
        let s = MemoryShared::new(CasRules::Envoy);
        let boot = ensure_boot(&s, "z", 1, 0, 5000, &mut || "b".into()).unwrap();
        let f = build_flush(&s, "z", "p", &boot, 1).unwrap();
        assert!(f.services.is_empty());
        assert!(flush_body(f).is_ok());
    }

    #[test]
    fn oversized_flushes_keep_counters_and_top_routes() {
        let route = |i: usize| RouteCounters {
            route: format!("GET /{}/{i}", "x".repeat(200)),
            count: i as u64,
            first_seen_ms: 0,
            last_seen_ms: 0,
        };
        let services = (0..40)
            .map(|s| ServiceCounters {
                name: format!("svc{s}"),
                responses: 1_000_000,
                status_5xx: 100_000,
                routes: (0..200).map(route).collect(),
                ..ServiceCounters::default()
            })
            .collect();
        let f = Flush {
            version: VERSION,
            proxy_id: "p".into(),
            boot_id: "b".into(),
            boot_ms: 0,
            seq: 1,
            sent_ms: 0,
            services,
            refusals: vec![],
        };
        assert!(f.to_json().len() > limits::MAX_BODY_BYTES);
        let parsed = Flush::parse(&flush_body(f).unwrap()).unwrap();
        assert_eq!(parsed.services.len(), 40);
        assert!(parsed.services.iter().all(|s| s.responses == 1_000_000 && s.status_5xx == 100_000));
        let top = &parsed.services[0].routes;
        assert!(!top.is_empty() && top.len() < 200);
        let cut = 200 - top.len() as u64;
        assert!(top.iter().all(|r| r.count >= cut), "only the most frequent routes are kept");
    }
}
