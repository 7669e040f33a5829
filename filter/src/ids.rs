//! Random ids: boot ids and root-context (lease holder) ids.
//!
//! Randomness comes from std's `RandomState`, seeded by the OS (WASI `random_get` in the
//! proxy), mixed with a caller salt such as the current time.

use std::hash::{BuildHasher, Hasher};

/// A random 64-bit number.
pub fn random_u64(salt: u64) -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(salt);
    h.finish()
}

/// A random boot id: 32 lowercase hex digits (128 bits).
pub fn boot_id(salt: u64) -> String {
    format!("{:016x}{:016x}", random_u64(salt), random_u64(salt.rotate_left(32) ^ 0x9e37_79b9_7f4a_7c15))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boot_ids_are_hex_and_differ() {
        let a = boot_id(1);
        let b = boot_id(1);
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
