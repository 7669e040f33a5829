//! Proxy-wasm shared data with each host's real CAS rules.
//!
//! - Envoy (proxy-wasm-cpp-host `SharedData`): one process-wide counter hands out CAS values
//!   (never 0). A set on an existing key with `cas == 0` is unconditional; with any other cas it
//!   must match. A set on a missing key always inserts, whatever the cas (so "insert if absent"
//!   is a set with cas `u32::MAX`). Values cannot be deleted; a missing key reads NotFound.
//! - nginx (ngx_wasm_module `shm_kv`): keys are `zone/key`; a key whose zone is not declared
//!   falls back to zone `*`, and if that is not declared either the host traps. Each key has its
//!   own CAS, starting at 1 on insert and incremented by every write. A set must carry the
//!   current cas exactly, and 0 only for a missing key. A NULL value pointer deletes.

use std::collections::HashMap;

use super::abi::Status;

/// Which proxy's shared-data rules to apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreRules {
    Envoy,
    /// nginx with these `shm_kv` zones declared (`"*"` for the default zone).
    Nginx {
        zones: Vec<String>,
    },
}

/// Why a shared-data call is a trap rather than a status (nginx with no zone for the key).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("shared data key {key:?}: no shm_kv zone declared for it (nor `*`): nginx traps")]
pub struct NoZone {
    pub key: String,
}

#[derive(Debug, Clone)]
struct Entry {
    /// The key last written to this slot (with a slot hash, not always the key looked up).
    key: Vec<u8>,
    value: Vec<u8>,
    cas: u32,
}

/// How keys map to slots when emulating ngx_wasm_module's lookup by a hash of the key alone:
/// keys with the same hash share one slot (a reader gets whatever the other key wrote).
pub type SlotHash = fn(&[u8]) -> u64;

/// Counts of what happened to the store, for tests that want to prove races happened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStats {
    pub gets: u64,
    pub sets: u64,
    pub cas_mismatches: u64,
    pub deletes: u64,
    /// Gets and sets that found another key in the slot (only with a slot hash).
    pub collisions: u64,
}

/// The shared key-value store of one proxy (all its workers' VMs see the same one).
#[derive(Debug)]
pub struct SharedStore {
    rules: StoreRules,
    entries: HashMap<Vec<u8>, Entry>,
    next_cas: u32,
    stats: StoreStats,
    slot_hash: Option<SlotHash>,
}

impl SharedStore {
    pub fn new(rules: StoreRules) -> SharedStore {
        SharedStore { rules, entries: HashMap::new(), next_cas: 1, stats: StoreStats::default(), slot_hash: None }
    }

    /// Makes keys share slots by `hash` (to force the collisions a CRC32 lookup allows).
    pub fn with_slot_hash(mut self, hash: Option<SlotHash>) -> SharedStore {
        self.slot_hash = hash;
        self
    }

    fn count_collision(&mut self, key: &[u8]) {
        if self.entries.get(&self.slot(key)).is_some_and(|e| e.key != key) {
            self.stats.collisions += 1;
        }
    }

    fn slot(&self, key: &[u8]) -> Vec<u8> {
        match self.slot_hash {
            Some(hash) => hash(key).to_le_bytes().to_vec(),
            None => key.to_vec(),
        }
    }

    pub fn rules(&self) -> &StoreRules {
        &self.rules
    }

    pub fn stats(&self) -> StoreStats {
        self.stats
    }

    /// Reads a key: its value and cas, or NotFound.
    pub fn get(&mut self, key: &[u8]) -> Result<Result<(Vec<u8>, u32), Status>, NoZone> {
        self.check_zone(key)?;
        self.stats.gets += 1;
        self.count_collision(key);
        Ok(match self.entries.get(&self.slot(key)) {
            Some(e) => Ok((e.value.clone(), e.cas)),
            None => Err(Status::NotFound),
        })
    }

    /// Writes (or with `value == None` on nginx, deletes) a key under the host's CAS rules.
    pub fn set(&mut self, key: &[u8], value: Option<&[u8]>, cas: u32) -> Result<Status, NoZone> {
        self.check_zone(key)?;
        self.stats.sets += 1;
        self.count_collision(key);
        let status = match &self.rules {
            StoreRules::Envoy => self.set_envoy(key, value.unwrap_or_default(), cas),
            StoreRules::Nginx { .. } => self.set_nginx(key, value, cas),
        };
        if status == Status::CasMismatch {
            self.stats.cas_mismatches += 1;
        }
        Ok(status)
    }

    /// Bumps a key's cas without changing its value, as a concurrent writer of the same value
    /// would; returns false if the key does not exist.
    pub fn touch(&mut self, key: &[u8]) -> bool {
        let next = match self.rules {
            StoreRules::Envoy => Some(self.take_cas()),
            StoreRules::Nginx { .. } => None,
        };
        let slot = self.slot(key);
        match self.entries.get_mut(&slot) {
            Some(e) => {
                e.cas = next.unwrap_or_else(|| e.cas.wrapping_add(1).max(1));
                true
            }
            None => false,
        }
    }

    /// Every key currently stored (a test's view; proxies cannot list keys).
    pub fn keys(&self) -> Vec<Vec<u8>> {
        let mut keys: Vec<_> = self.entries.values().map(|e| e.key.clone()).collect();
        keys.sort();
        keys
    }

    /// Total bytes held by keys and values.
    pub fn bytes(&self) -> usize {
        self.entries.values().map(|e| e.key.len() + e.value.len()).sum()
    }

    /// Drops everything, as `nginx -s reload` or a proxy restart does.
    pub fn wipe(&mut self) {
        self.entries.clear();
    }

    fn set_envoy(&mut self, key: &[u8], value: &[u8], cas: u32) -> Status {
        let next = self.take_cas();
        let slot = self.slot(key);
        match self.entries.get_mut(&slot) {
            Some(e) => {
                if cas != 0 && cas != e.cas {
                    return Status::CasMismatch;
                }
                e.key = key.to_vec();
                e.value = value.to_vec();
                e.cas = next;
            }
            None => {
                let entry = Entry { key: key.to_vec(), value: value.to_vec(), cas: next };
                self.entries.insert(slot, entry);
            }
        }
        Status::Ok
    }

    fn set_nginx(&mut self, key: &[u8], value: Option<&[u8]>, cas: u32) -> Status {
        let slot = self.slot(key);
        let current = self.entries.get(&slot).map(|e| e.cas).unwrap_or(0);
        if cas != current {
            return Status::CasMismatch;
        }
        match value {
            None => {
                if self.entries.remove(&slot).is_some() {
                    self.stats.deletes += 1;
                    Status::Ok
                } else {
                    // ngx_wasm_module reports "not written" for deleting a missing key.
                    Status::CasMismatch
                }
            }
            Some(value) => {
                let entry = self.entries.entry(slot).or_insert(Entry { key: Vec::new(), value: Vec::new(), cas: 0 });
                entry.key = key.to_vec();
                entry.value = value.to_vec();
                entry.cas = entry.cas.wrapping_add(1);
                Status::Ok
            }
        }
    }

    fn take_cas(&mut self) -> u32 {
        let cas = self.next_cas;
        self.next_cas = self.next_cas.wrapping_add(1).max(1);
        cas
    }

    fn check_zone(&self, key: &[u8]) -> Result<(), NoZone> {
        let StoreRules::Nginx { zones } = &self.rules else {
            return Ok(());
        };
        let declared = |z: &[u8]| zones.iter().any(|d| d.as_bytes() == z);
        let zone_ok =
            key.iter().position(|b| *b == b'/').filter(|at| *at > 0).and_then(|at| key.get(..at)).is_some_and(declared);
        if zone_ok || declared(b"*") { Ok(()) } else { Err(NoZone { key: String::from_utf8_lossy(key).into_owned() }) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nginx() -> SharedStore {
        SharedStore::new(StoreRules::Nginx { zones: vec!["faultline".into()] })
    }

    #[test]
    fn envoy_cas_zero_is_unconditional_and_missing_keys_always_insert() {
        let mut s = SharedStore::new(StoreRules::Envoy);
        assert_eq!(s.get(b"k").unwrap(), Err(Status::NotFound));
        assert_eq!(s.set(b"k", Some(b"1"), u32::MAX).unwrap(), Status::Ok);
        let (_, cas) = s.get(b"k").unwrap().unwrap();
        assert_ne!(cas, 0);
        assert_eq!(s.set(b"k", Some(b"2"), u32::MAX).unwrap(), Status::CasMismatch);
        assert_eq!(s.set(b"k", Some(b"3"), 0).unwrap(), Status::Ok);
        assert_eq!(s.set(b"k", Some(b"4"), cas).unwrap(), Status::CasMismatch);
        let (v, cas2) = s.get(b"k").unwrap().unwrap();
        assert_eq!(v, b"3");
        assert_eq!(s.set(b"k", Some(b"5"), cas2).unwrap(), Status::Ok);
        assert_eq!(s.stats().cas_mismatches, 2);
    }

    #[test]
    fn nginx_cas_is_strict_and_none_deletes() {
        let mut s = nginx();
        assert_eq!(s.set(b"faultline/k", Some(b"1"), 7).unwrap(), Status::CasMismatch);
        assert_eq!(s.set(b"faultline/k", Some(b"1"), 0).unwrap(), Status::Ok);
        let (_, cas) = s.get(b"faultline/k").unwrap().unwrap();
        assert_eq!(cas, 1);
        assert_eq!(s.set(b"faultline/k", Some(b"2"), 0).unwrap(), Status::CasMismatch);
        assert_eq!(s.set(b"faultline/k", Some(b"2"), 1).unwrap(), Status::Ok);
        assert_eq!(s.set(b"faultline/k", None, 2).unwrap(), Status::Ok);
        assert_eq!(s.get(b"faultline/k").unwrap(), Err(Status::NotFound));
    }

    #[test]
    fn nginx_undeclared_zone_traps_unless_star_is_declared() {
        let mut s = nginx();
        assert!(s.get(b"other/k").is_err());
        assert!(s.set(b"nozone", Some(b"x"), 0).is_err());
        let mut star = SharedStore::new(StoreRules::Nginx { zones: vec!["*".into()] });
        assert_eq!(star.set(b"nozone", Some(b"x"), 0).unwrap(), Status::Ok);
    }

    #[test]
    fn keys_sharing_a_slot_see_each_other() {
        let mut s = nginx().with_slot_hash(Some(|k: &[u8]| k.len() as u64));
        assert_eq!(s.set(b"faultline/a", Some(b"A"), 0).unwrap(), Status::Ok);
        let (v, cas) = s.get(b"faultline/b").unwrap().unwrap();
        assert_eq!((v.as_slice(), cas), (&b"A"[..], 1));
        assert_eq!(s.set(b"faultline/b", Some(b"B"), 0).unwrap(), Status::CasMismatch);
        assert_eq!(s.get(b"faultline/bb").unwrap(), Err(Status::NotFound));
    }

    #[test]
    fn touch_forces_the_next_cas_write_to_fail() {
        for mut s in [SharedStore::new(StoreRules::Envoy), nginx()] {
            assert_eq!(s.set(b"faultline/k", Some(b"1"), 0).unwrap(), Status::Ok);
            let (_, cas) = s.get(b"faultline/k").unwrap().unwrap();
            assert!(s.touch(b"faultline/k"));
            assert_eq!(s.set(b"faultline/k", Some(b"2"), cas).unwrap(), Status::CasMismatch);
        }
    }
}
