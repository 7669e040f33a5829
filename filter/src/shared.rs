//! Proxy-wasm shared data as a small trait, so the merge, lease and flush logic is pure
//! and testable; the filter implements it over `proxy_wasm::hostcalls`, tests over
//! [`memory::MemoryShared`], which follows either host's CAS rules.
//!
//! The two hosts differ on CAS (checked facts, docs in `/work/shared/reference`):
//! - Envoy: cas 0 is an unconditional write; a missing key is written whatever the cas,
//!   so "insert if absent" is a set with cas `u32::MAX` (fails if the key exists).
//! - nginx (ngx_wasm_module): the current cas is required; 0 only inserts a missing key.
//!
//! [`insert_if_absent`] works on both without knowing which host it runs on.

use crate::record::PROBES;
use thiserror::Error;

pub mod memory;

/// The host refused a shared-data call (a status other than a CAS mismatch).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("shared data call failed with host status {0}")]
pub struct HostError(pub u32);

/// Why a set did not write.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SetError {
    /// Someone else wrote the key since it was read: read again and retry.
    #[error("cas mismatch")]
    CasMismatch,
    /// The host failed the call.
    #[error(transparent)]
    Host(#[from] HostError),
}

/// Get and set-with-CAS over the proxy's shared key/value store.
pub trait SharedData {
    /// The value and its cas, or `None` when the key is missing.
    fn get(&self, key: &str) -> Result<Option<(Vec<u8>, u32)>, HostError>;
    /// Writes `value` if the key's cas is still `cas` (host rules apply; see module docs).
    fn set(&self, key: &str, value: &[u8], cas: u32) -> Result<(), SetError>;
}

/// Writes `value` under `key` only if the key is missing, on either host. Returns
/// whether it wrote (false: someone else created the key first).
///
/// A set with cas `u32::MAX` inserts a missing key on Envoy and fails on an existing
/// one; on nginx it fails on a missing key, which a second read tells apart, and the
/// strict cas 0 then inserts.
pub fn insert_if_absent<S: SharedData + ?Sized>(store: &S, key: &str, value: &[u8]) -> Result<bool, HostError> {
    match store.set(key, value, u32::MAX) {
        Ok(()) => return Ok(true),
        Err(SetError::Host(e)) => return Err(e),
        Err(SetError::CasMismatch) => {}
    }
    if store.get(key)?.is_some() {
        return Ok(false);
    }
    match store.set(key, value, 0) {
        Ok(()) => Ok(true),
        Err(SetError::CasMismatch) => Ok(false),
        Err(SetError::Host(e)) => Err(e),
    }
}

/// Where a logical value lives among its probe keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Slot<T> {
    /// Found under `key` with this `cas`.
    Found {
        /// The probe key holding it.
        key: String,
        /// The decoded value.
        value: T,
        /// Its cas, for the next write.
        cas: u32,
    },
    /// Not found; `key` is the first probe key that is free.
    Free {
        /// Where to insert it.
        key: String,
    },
    /// Every probe key holds something else (collisions or foreign values).
    Taken,
}

/// Finds a value among its probe keys: `key_of(0..PROBES)`. `matches(key, bytes)`
/// decodes a stored value and returns it only if it is the value sought (kind, embedded
/// key and name match). Probing goes on past a free key, so a value still found after
/// an earlier probe key was evicted is not created twice.
pub fn locate<S, T>(
    store: &S,
    key_of: impl Fn(usize) -> String,
    matches: impl Fn(&str, &[u8]) -> Option<T>,
) -> Result<Slot<T>, HostError>
where
    S: SharedData + ?Sized,
{
    let mut free = None;
    for probe in 0..PROBES {
        let key = key_of(probe);
        match store.get(&key)? {
            Some((bytes, cas)) => {
                if let Some(value) = matches(&key, &bytes) {
                    return Ok(Slot::Found { key, value, cas });
                }
            }
            None => {
                if free.is_none() {
                    free = Some(key);
                }
            }
        }
    }
    Ok(match free {
        Some(key) => Slot::Free { key },
        None => Slot::Taken,
    })
}

#[cfg(test)]
mod tests {
    use super::memory::{CasRules, MemoryShared};
    use super::*;

    #[test]
    fn insert_if_absent_on_both_hosts() {
        for rules in [CasRules::Envoy, CasRules::Nginx] {
            let s = MemoryShared::new(rules);
            assert_eq!(insert_if_absent(&s, "z/k", b"one"), Ok(true), "{rules:?}");
            assert_eq!(insert_if_absent(&s, "z/k", b"two"), Ok(false), "{rules:?}");
            assert_eq!(s.get("z/k").unwrap().unwrap().0, b"one");
        }
    }

    #[test]
    fn locate_probes_past_foreign_values() {
        let s = MemoryShared::new(CasRules::Nginx);
        let key_of = |p: usize| format!("z/k{p}");
        let want = |_: &str, b: &[u8]| (b == b"mine").then_some(());
        assert_eq!(locate(&s, key_of, want), Ok(Slot::Free { key: "z/k0".into() }));
        s.set("z/k0", b"theirs", 0).unwrap();
        assert_eq!(locate(&s, key_of, want), Ok(Slot::Free { key: "z/k1".into() }));
        s.set("z/k2", b"mine", 0).unwrap();
        assert!(matches!(locate(&s, key_of, want), Ok(Slot::Found { key, .. }) if key == "z/k2"));
        for p in 0..PROBES {
            let _ = insert_if_absent(&s, &key_of(p), b"theirs");
        }
        s.set("z/k2", b"theirs", s.get("z/k2").unwrap().unwrap().1).unwrap();
        assert_eq!(locate(&s, key_of, want), Ok(Slot::Taken));
    }
}
