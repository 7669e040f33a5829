use super::*;
use crate::counts::StatusClass;
use crate::shared::memory::{CasRules, MemoryShared};
use std::cell::{Cell, RefCell};
use std::rc::Rc;

const Z: &str = "faultline";

fn record(store: &MemoryShared, name: &str) -> ServiceRecord {
    match find_record(store, Z, name).unwrap() {
        Slot::Found { value, .. } => value,
        other => panic!("{name}: {other:?}"),
    }
}

fn registry(store: &MemoryShared) -> Vec<String> {
    match find_registry(store, Z).unwrap() {
        Slot::Found { value, .. } => value.names,
        other => panic!("registry: {other:?}"),
    }
}

#[test]
fn merges_a_tally_and_empties_it() {
    for rules in [CasRules::Envoy, CasRules::Nginx] {
        let store = MemoryShared::new(rules);
        let mut t = Tally::new(64, 32);
        t.response("be", StatusClass::Other, None, 1);
        t.response("be", StatusClass::ServerError, Some("GET /a"), 2);
        t.no_response("fe");
        let report = merge_tally(&store, Z, &mut t, 64);
        assert_eq!(report.merged, 2, "{rules:?}");
        assert!(report.deferred.is_empty());
        assert!(t.is_empty());
        t.response("be", StatusClass::ServerError, Some("GET /a"), 3);
        merge_tally(&store, Z, &mut t, 64);
        let be = record(&store, "be");
        assert_eq!((be.counts.responses, be.counts.status_5xx), (3, 2));
        let (route, stat) = be.counts.routes.iter().next().unwrap();
        assert_eq!((route, stat.count, stat.first_ms, stat.last_ms), ("GET /a", 2, 2, 3));
        assert_eq!(record(&store, "fe").counts.no_response, 1);
        assert_eq!(registry(&store), vec!["be", "fe"]);
    }
}

/// N simulated workers count M responses each; merges interleave at every write (a
/// worker's CAS is raced by another worker's whole merge). The sums must be exact.
fn race(rules: CasRules, workers: usize, per_worker: u64, seed: u64) {
    let store = Rc::new(MemoryShared::new(rules));
    let vms: Rc<Vec<RefCell<Tally>>> = Rc::new((0..workers).map(|_| RefCell::new(Tally::new(64, 4))).collect());
    let rng = Rc::new(Cell::new(seed | 1));
    let next = {
        let rng = rng.clone();
        move || {
            let mut x = rng.get();
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            rng.set(x);
            x
        }
    };
    {
        let weak = Rc::downgrade(&store);
        let vms = vms.clone();
        let next = next.clone();
        store.set_before_set(move || {
            let Some(store) = weak.upgrade() else { return };
            let r = next();
            if r % 3 == 0 {
                return;
            }
            let j = (r >> 8) as usize % vms.len();
            if let Ok(mut t) = vms[j].try_borrow_mut() {
                merge_tally(&*store, Z, &mut t, 64);
            }
        });
    }
    let routes = ["GET /a", "GET /b", "POST /c", "PUT /d", "GET /e", "GET /f"];
    for i in 0..per_worker {
        for (w, vm) in vms.iter().enumerate() {
            let r = next();
            let svc = ["be", "fe", "api"][(r % 3) as usize];
            let mut t = vm.borrow_mut();
            if r % 5 == 0 {
                t.response(svc, StatusClass::ServerError, Some(routes[(r >> 4) as usize % routes.len()]), i);
            } else if r % 7 == 0 {
                t.no_response(svc);
            } else {
                t.response(svc, StatusClass::Other, None, i);
            }
            drop(t);
            if (i + w as u64).is_multiple_of(10) {
                let mut t = vm.borrow_mut();
                merge_tally(&*store, Z, &mut t, 64);
            }
        }
    }
    // Drain without interference: whatever was deferred must still be there.
    *store.before_set_slot() = None;
    for vm in vms.iter() {
        let report = merge_tally(&*store, Z, &mut vm.borrow_mut(), 64);
        assert!(report.deferred.is_empty(), "{:?}", report.deferred);
        assert!(vm.borrow().is_empty());
    }
    let mut total = 0;
    for svc in ["be", "fe", "api"] {
        let c = record(&store, svc).counts;
        total += c.responses + c.no_response;
        assert_eq!(c.routes.total(), c.status_5xx, "{svc}");
        assert!(c.routes.len() <= 5, "4 named + other");
    }
    assert_eq!(total, workers as u64 * per_worker, "{rules:?}");
    assert!(store.mismatches() > 0, "the test must actually race");
}

#[test]
fn racing_workers_sum_exactly_on_envoy() {
    race(CasRules::Envoy, 4, 500, 0x1234_5678);
    race(CasRules::Envoy, 8, 200, 42);
}

#[test]
fn racing_workers_sum_exactly_on_nginx() {
    race(CasRules::Nginx, 4, 500, 0x1234_5678);
    race(CasRules::Nginx, 8, 200, 42);
}

#[test]
fn a_lost_merge_keeps_its_counts_for_the_next_tick() {
    let store = Rc::new(MemoryShared::new(CasRules::Nginx));
    let mut t = Tally::new(64, 32);
    t.response("be", StatusClass::Other, None, 0);
    merge_tally(&*store, Z, &mut t, 64);
    // Another writer changes the record before each of our writes: every CAS loses.
    let weak = Rc::downgrade(&store);
    store.set_before_set(move || {
        let s = weak.upgrade().unwrap();
        let mut other = ServiceCounts::default();
        other.response(StatusClass::Other, None, 0, 32);
        merge_service(&*s, Z, "be", &other, 64, 32).unwrap();
    });
    t.response("be", StatusClass::ServerError, Some("GET /x"), 5);
    let report = merge_tally(&*store, Z, &mut t, 64);
    assert_eq!(report.deferred, vec![("be".to_owned(), MergeError::Contended)]);
    assert_eq!(t.services().next().unwrap().1.status_5xx, 1, "counts stay in the tally");
    *store.before_set_slot() = None;
    let report = merge_tally(&*store, Z, &mut t, 64);
    assert_eq!(report.merged, 1);
    let be = record(&store, "be").counts;
    assert_eq!(be.responses, 1 + MAX_ATTEMPTS as u64 + 1);
    assert_eq!(be.status_5xx, 1);
}

#[test]
fn colliding_keys_get_their_own_probe() {
    // Every service key of probe 0 shares one slot, as a CRC32 collision would make them.
    let store = MemoryShared::with_slots(CasRules::Nginx, |k| {
        if k.starts_with("faultline/svc/") { "faultline/svc/*".to_owned() } else { k.to_owned() }
    });
    let mut t = Tally::new(64, 32);
    for (svc, n) in [("a", 3), ("b", 5), ("c", 7)] {
        for _ in 0..n {
            t.response(svc, StatusClass::Other, None, 0);
        }
    }
    assert_eq!(merge_tally(&store, Z, &mut t, 64).merged, 3);
    t.response("b", StatusClass::Other, None, 0);
    merge_tally(&store, Z, &mut t, 64);
    assert_eq!(record(&store, "a").counts.responses, 3);
    assert_eq!(record(&store, "b").counts.responses, 6);
    assert_eq!(record(&store, "c").counts.responses, 7);
    assert_eq!(record(&store, "b").key, "faultline/svc~1/b");
}

#[test]
fn a_full_registry_folds_new_services_into_overflow() {
    let store = MemoryShared::new(CasRules::Envoy);
    let mut t = Tally::new(64, 32);
    for svc in ["a", "b", "c", "d"] {
        t.response(svc, StatusClass::Other, None, 0);
    }
    merge_tally(&store, Z, &mut t, 2);
    assert_eq!(registry(&store), vec!["a", "b", OVERFLOW_SERVICE]);
    assert_eq!(record(&store, OVERFLOW_SERVICE).counts.responses, 2);
}

#[test]
fn foreign_values_on_every_probe_fold_into_overflow() {
    let store = MemoryShared::new(CasRules::Nginx);
    for p in 0..crate::record::PROBES {
        store.set(&service_key(Z, "be", p), b"not ours", 0).unwrap();
    }
    let mut t = Tally::new(64, 32);
    t.response("be", StatusClass::ServerError, Some("GET /"), 0);
    assert_eq!(merge_tally(&store, Z, &mut t, 64).merged, 1);
    assert_eq!(record(&store, OVERFLOW_SERVICE).counts.status_5xx, 1);
}

#[test]
fn host_errors_keep_counts_for_the_next_tick() {
    let store = MemoryShared::new(CasRules::Envoy);
    let mut t = Tally::new(64, 32);
    t.response("be", StatusClass::ServerError, Some("GET /a"), 1);
    store.set_failing(true);
    let report = merge_tally(&store, Z, &mut t, 64);
    assert_eq!(report.merged, 0);
    assert!(matches!(report.deferred.as_slice(), [(name, MergeError::Host(_))] if name == "be"));
    assert_eq!(t.services().next().unwrap().1.status_5xx, 1);
    store.set_failing(false);
    t.response("be", StatusClass::Other, None, 2);
    assert_eq!(merge_tally(&store, Z, &mut t, 64).merged, 1);
    let be = record(&store, "be").counts;
    assert_eq!((be.responses, be.status_5xx, be.routes.total()), (2, 1, 1));
}

#[test]
fn a_wipe_restarts_counters_from_what_comes_next() {
    let store = MemoryShared::new(CasRules::Nginx);
    let mut t = Tally::new(64, 32);
    for _ in 0..5 {
        t.response("be", StatusClass::Other, None, 0);
    }
    merge_tally(&store, Z, &mut t, 64);
    store.wipe();
    t.response("be", StatusClass::Other, None, 0);
    assert_eq!(merge_tally(&store, Z, &mut t, 64).merged, 1);
    assert_eq!(record(&store, "be").counts.responses, 1);
    assert_eq!(registry(&store), vec!["be"]);
}
