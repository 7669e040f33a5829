//! The boot and the flush lease: who flushes, and under which boot id and sequence.
//!
//! One shared value, [`BootLease`] at `<zone>/boot`, holds both. The first worker to
//! tick creates it (insert-if-absent) with a random boot id; when it is missing later
//! (an nginx reload wiped shared memory) a new boot begins. On each tick a worker with a
//! collector whose `now >= next_due_ms` tries to CAS it to
//! `{holder: me, next_due_ms: now + flush_interval, seq: seq + 1}`; exactly one wins and
//! flushes with that `seq`. Keeping the sequence in the same value as the boot id means
//! the sequence can never restart under an old boot id (the collector would then ignore
//! every flush as stale).

use crate::merge::{MAX_ATTEMPTS, decode_keyed};
use crate::record::{BootLease, boot_key};
use crate::shared::{HostError, SetError, SharedData, Slot, insert_if_absent, locate};
use thiserror::Error;

/// Why the boot value could not be read or created.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LeaseError {
    /// Every probe key holds another value.
    #[error("no free shared-data key for the boot value")]
    NoSlot,
    /// Kept losing the race to create it (each loss means it exists: read it next tick).
    #[error("boot value contended")]
    Contended,
    /// The host failed a call.
    #[error(transparent)]
    Host(#[from] HostError),
}

/// Finds the boot value.
pub fn find_boot<S: SharedData + ?Sized>(store: &S, zone: &str) -> Result<Slot<BootLease>, HostError> {
    locate(store, |p| boot_key(zone, p), |key, bytes| decode_keyed(BootLease::decode(bytes), key, |b| &b.key))
}

/// Returns the current boot, creating it (a new boot, first flush due one interval
/// later) when it is missing. `new_boot_id` is called only to create one.
pub fn ensure_boot<S: SharedData + ?Sized>(
    store: &S,
    zone: &str,
    holder: u64,
    now_ms: u64,
    flush_interval_ms: u64,
    new_boot_id: &mut dyn FnMut() -> String,
) -> Result<BootLease, LeaseError> {
    for _ in 0..MAX_ATTEMPTS {
        match find_boot(store, zone)? {
            Slot::Found { value, .. } => return Ok(value),
            Slot::Free { key } => {
                let boot = BootLease {
                    key,
                    boot_id: new_boot_id(),
                    boot_ms: now_ms,
                    holder,
                    next_due_ms: now_ms.saturating_add(flush_interval_ms),
                    seq: 0,
                };
                if insert_if_absent(store, &boot.key, &boot.encode())? {
                    return Ok(boot);
                }
            }
            Slot::Taken => return Err(LeaseError::NoSlot),
        }
    }
    Err(LeaseError::Contended)
}

/// Whether a flush is due: the due time passed, or it lies implausibly far ahead (the
/// clock stepped back), which would otherwise stop flushing.
pub fn is_due(lease: &BootLease, now_ms: u64, flush_interval_ms: u64) -> bool {
    now_ms >= lease.next_due_ms || lease.next_due_ms > now_ms.saturating_add(flush_interval_ms.saturating_mul(2))
}

/// Tries to take the flush lease. `Some(lease)`: this worker won and must flush with
/// `lease.seq`; `None`: not due, or another worker won.
pub fn try_take<S: SharedData + ?Sized>(
    store: &S,
    zone: &str,
    holder: u64,
    now_ms: u64,
    flush_interval_ms: u64,
    new_boot_id: &mut dyn FnMut() -> String,
) -> Result<Option<BootLease>, LeaseError> {
    match find_boot(store, zone)? {
        Slot::Found { key, value, cas } => {
            if !is_due(&value, now_ms, flush_interval_ms) {
                return Ok(None);
            }
            let next = BootLease {
                key,
                holder,
                next_due_ms: now_ms.saturating_add(flush_interval_ms),
                seq: value.seq.saturating_add(1),
                ..value
            };
            match store.set(&next.key, &next.encode(), cas) {
                Ok(()) => Ok(Some(next)),
                Err(SetError::CasMismatch) => Ok(None),
                Err(SetError::Host(e)) => Err(e.into()),
            }
        }
        Slot::Free { .. } => {
            ensure_boot(store, zone, holder, now_ms, flush_interval_ms, new_boot_id)?;
            Ok(None)
        }
        Slot::Taken => Err(LeaseError::NoSlot),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shared::memory::{CasRules, MemoryShared};
    use std::cell::RefCell;
    use std::rc::Rc;

    const Z: &str = "faultline";

    fn ids() -> impl FnMut() -> String {
        let mut n = 0;
        move || {
            n += 1;
            format!("boot{n}")
        }
    }

    #[test]
    fn first_worker_creates_the_boot_others_read_it() {
        for rules in [CasRules::Envoy, CasRules::Nginx] {
            let s = MemoryShared::new(rules);
            let mut id = ids();
            let a = ensure_boot(&s, Z, 1, 1000, 5000, &mut id).unwrap();
            let b = ensure_boot(&s, Z, 2, 2000, 5000, &mut id).unwrap();
            assert_eq!(a, b, "{rules:?}");
            assert_eq!((a.boot_id.as_str(), a.boot_ms, a.next_due_ms, a.seq), ("boot1", 1000, 6000, 0));
        }
    }

    #[test]
    fn exactly_one_worker_takes_each_lease() {
        for rules in [CasRules::Envoy, CasRules::Nginx] {
            let s = MemoryShared::new(rules);
            let mut id = ids();
            ensure_boot(&s, Z, 0, 0, 5000, &mut id).unwrap();
            let mut seqs = Vec::new();
            // 3 tickers (Envoy: 2 workers and the main thread), ticking every 1 s for 60 s.
            for now in (0..=60_000).step_by(1000) {
                for holder in 1..=3 {
                    if let Some(l) = try_take(&s, Z, holder, now, 5000, &mut id).unwrap() {
                        assert_eq!(l.holder, holder);
                        seqs.push((now, l.seq));
                    }
                }
            }
            let expect: Vec<_> = (1..=12).map(|i| (i * 5000, i)).collect();
            assert_eq!(seqs, expect, "{rules:?}");
        }
    }

    #[test]
    fn racing_takers_have_one_winner() {
        // Each worker reads the due lease; the others' attempts happen between its read
        // and its write.
        let s = Rc::new(MemoryShared::new(CasRules::Envoy));
        let mut id = ids();
        ensure_boot(&*s, Z, 0, 0, 5000, &mut id).unwrap();
        let wins = Rc::new(RefCell::new(Vec::new()));
        let (weak, w2) = (Rc::downgrade(&s), wins.clone());
        s.set_before_set(move || {
            let s = weak.upgrade().unwrap();
            for holder in 10..13 {
                if let Some(l) = try_take(&*s, Z, holder, 6000, 5000, &mut || "x".into()).unwrap() {
                    w2.borrow_mut().push(l.holder);
                }
            }
        });
        let mine = try_take(&*s, Z, 1, 6000, 5000, &mut id).unwrap();
        assert!(mine.is_none(), "a racer took it first");
        assert_eq!(*wins.borrow(), vec![10]);
    }

    #[test]
    fn a_wiped_store_begins_a_new_boot() {
        let s = MemoryShared::new(CasRules::Nginx);
        let mut id = ids();
        ensure_boot(&s, Z, 0, 0, 5000, &mut id).unwrap();
        assert_eq!(try_take(&s, Z, 1, 5000, 5000, &mut id).unwrap().unwrap().seq, 1);
        s.wipe();
        assert_eq!(try_take(&s, Z, 1, 7000, 5000, &mut id).unwrap(), None);
        let boot = ensure_boot(&s, Z, 1, 8000, 5000, &mut id).unwrap();
        assert_eq!((boot.boot_id.as_str(), boot.boot_ms, boot.seq), ("boot2", 7000, 0));
        assert_eq!(try_take(&s, Z, 1, 12_000, 5000, &mut id).unwrap().unwrap().seq, 1);
    }

    #[test]
    fn host_errors_are_errors_not_wins() {
        let s = MemoryShared::new(CasRules::Envoy);
        let mut id = ids();
        ensure_boot(&s, Z, 0, 0, 5000, &mut id).unwrap();
        s.set_failing(true);
        assert!(matches!(try_take(&s, Z, 1, 9000, 5000, &mut id), Err(LeaseError::Host(_))));
        assert!(matches!(ensure_boot(&s, Z, 1, 9000, 5000, &mut id), Err(LeaseError::Host(_))));
        s.set_failing(false);
        assert_eq!(try_take(&s, Z, 1, 9000, 5000, &mut id).unwrap().unwrap().seq, 1);
    }

    #[test]
    fn a_clock_step_back_does_not_stop_flushing() {
        let s = MemoryShared::new(CasRules::Envoy);
        let mut id = ids();
        ensure_boot(&s, Z, 0, 1_000_000, 5000, &mut id).unwrap();
        // The clock went back 10 minutes: the due time is far ahead.
        assert!(try_take(&s, Z, 1, 400_000, 5000, &mut id).unwrap().is_some());
        assert!(try_take(&s, Z, 1, 401_000, 5000, &mut id).unwrap().is_none());
    }
}
