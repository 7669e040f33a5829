//! Ids: random boot ids and root-context (lease holder) ids.
//!
//! Randomness comes from the OS (WASI `random_get` in the proxy) through `getrandom`,
//! which is far smaller in the `.wasm` than std's `RandomState`. Should it fail, the
//! id falls back to the caller's salt (the host clock in ns and the context id) mixed
//! by splitmix64: still unique per start of one proxy, which is all a boot id needs.

/// A random 64-bit number (`salt` is mixed in, and used alone if the OS has no randomness).
pub fn random_u64(salt: u64) -> u64 {
    let os = getrandom::u64().unwrap_or(0);
    mix(salt ^ os)
}

/// splitmix64's finalizer: a bijective scramble of 64 bits.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A random boot id: 32 lowercase hex digits (128 bits).
pub fn boot_id(salt: u64) -> String {
    format!("{:016x}{:016x}", random_u64(salt), random_u64(mix(salt)))
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
        assert_ne!(a, b, "OS randomness makes equal salts differ");
        assert_ne!(mix(1), mix(2));
    }
}
