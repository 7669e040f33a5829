//! Merging a worker's tally into the cumulative service records in shared data.
//!
//! Each service is a read-modify-write with CAS: a lost race is retried a bounded number
//! of times; a service whose merge fails stays in the tally, whole, for the next tick.
//! A service's counts leave the tally only once a write holding them succeeded, so
//! counts are never dropped nor doubled. New services are added to the registry before
//! their record is created (the flusher lists services through the registry).

use crate::codec::DecodeError;
use crate::counts::ServiceCounts;
use crate::record::{Registry, ServiceRecord, registry_key, service_key};
use crate::shared::{HostError, SetError, SharedData, Slot, insert_if_absent, locate};
use crate::tally::{OVERFLOW_SERVICE, Tally};
use thiserror::Error;

/// Reads and CAS writes tried for one value in one tick before giving up until the next.
pub const MAX_ATTEMPTS: usize = 8;

/// Why one service's counts could not be merged this tick (they stay in the tally).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MergeError {
    /// Other workers kept winning the CAS race.
    #[error("lost the CAS race {MAX_ATTEMPTS} times")]
    Contended,
    /// Every probe key is held by another value (collisions, foreign data).
    #[error("no free shared-data key")]
    NoSlot,
    /// The host failed a call.
    #[error(transparent)]
    Host(#[from] HostError),
}

/// What one merge did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MergeReport {
    /// Services whose counts reached shared data.
    pub merged: usize,
    /// Services whose counts stay for the next tick, with the reason.
    pub deferred: Vec<(String, MergeError)>,
}

/// Merges every service of `tally` into shared data under `zone`; merged services leave
/// the tally, the others stay. `max_services` bounds the registry.
pub fn merge_tally<S: SharedData + ?Sized>(
    store: &S,
    zone: &str,
    tally: &mut Tally,
    max_services: usize,
) -> MergeReport {
    let mut report = MergeReport::default();
    let max_routes = tally.max_routes();
    tally.retain(|name, counts| {
        if counts.is_empty() {
            return false;
        }
        match merge_service(store, zone, name, counts, max_services, max_routes) {
            Ok(()) => {
                report.merged += 1;
                false
            }
            Err(e) => {
                report.deferred.push((name.to_owned(), e));
                true
            }
        }
    });
    report
}

/// Adds `counts` to the record of `name` (or of the overflow service, when the registry
/// is full or no key is free for `name`).
pub fn merge_service<S: SharedData + ?Sized>(
    store: &S,
    zone: &str,
    name: &str,
    counts: &ServiceCounts,
    max_services: usize,
    max_routes: usize,
) -> Result<(), MergeError> {
    let mut target = name;
    for _ in 0..MAX_ATTEMPTS {
        match find_record(store, zone, target)? {
            Slot::Found { key, mut value, cas } => {
                value.counts.absorb(counts, max_routes);
                match store.set(&key, &value.encode(), cas) {
                    Ok(()) => return Ok(()),
                    Err(SetError::CasMismatch) => continue,
                    Err(SetError::Host(e)) => return Err(e.into()),
                }
            }
            Slot::Free { key } => {
                if !register(store, zone, target, max_services)? {
                    target = OVERFLOW_SERVICE;
                    continue;
                }
                let mut fresh = ServiceCounts::default();
                fresh.absorb(counts, max_routes);
                let record = ServiceRecord { key, name: target.to_owned(), counts: fresh };
                if insert_if_absent(store, &record.key, &record.encode())? {
                    return Ok(());
                }
            }
            Slot::Taken if target != OVERFLOW_SERVICE => target = OVERFLOW_SERVICE,
            Slot::Taken => return Err(MergeError::NoSlot),
        }
    }
    Err(MergeError::Contended)
}

/// Finds the record of service `name`.
pub fn find_record<S: SharedData + ?Sized>(
    store: &S,
    zone: &str,
    name: &str,
) -> Result<Slot<ServiceRecord>, HostError> {
    locate(
        store,
        |p| service_key(zone, name, p),
        |key, bytes| ServiceRecord::decode(bytes).ok().filter(|r| r.key == key && r.name == name),
    )
}

/// Finds the service registry.
pub fn find_registry<S: SharedData + ?Sized>(store: &S, zone: &str) -> Result<Slot<Registry>, HostError> {
    locate(store, |p| registry_key(zone, p), |key, bytes| decode_keyed(Registry::decode(bytes), key, |r| &r.key))
}

/// The decoded value if it decoded and was written under `key`.
pub fn decode_keyed<T>(decoded: Result<T, DecodeError>, key: &str, key_of: impl Fn(&T) -> &str) -> Option<T> {
    decoded.ok().filter(|v| key_of(v) == key)
}

/// Adds `name` to the registry; false when the registry is full (`max_services` names
/// besides the overflow service, which always fits).
pub fn register<S: SharedData + ?Sized>(
    store: &S,
    zone: &str,
    name: &str,
    max_services: usize,
) -> Result<bool, MergeError> {
    for _ in 0..MAX_ATTEMPTS {
        match find_registry(store, zone)? {
            Slot::Found { key, mut value, cas } => {
                if value.names.iter().any(|n| n == name) {
                    return Ok(true);
                }
                let named = value.names.iter().filter(|n| *n != OVERFLOW_SERVICE).count();
                if name != OVERFLOW_SERVICE && named >= max_services {
                    return Ok(false);
                }
                value.names.push(name.to_owned());
                match store.set(&key, &value.encode(), cas) {
                    Ok(()) => return Ok(true),
                    Err(SetError::CasMismatch) => continue,
                    Err(SetError::Host(e)) => return Err(e.into()),
                }
            }
            Slot::Free { key } => {
                let registry = Registry { key, names: vec![name.to_owned()] };
                if insert_if_absent(store, &registry.key, &registry.encode())? {
                    return Ok(true);
                }
            }
            Slot::Taken => return Err(MergeError::NoSlot),
        }
    }
    Err(MergeError::Contended)
}

#[cfg(test)]
#[path = "merge_tests.rs"]
mod tests;
