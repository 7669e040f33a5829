//! Secrets: compared in constant time (ingest tokens, the status token). Below every user of it,
//! so that `config` and the HTTP edges share it without importing each other.

/// Compares without an early exit on the first differing byte.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        diff |= usize::from(a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0));
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    #[test]
    fn constant_time_compare_is_equality() {
        assert!(super::ct_eq(b"secret-1", b"secret-1"));
        assert!(!super::ct_eq(b"secret-1", b"secret-2"));
        assert!(!super::ct_eq(b"secret", b"secret-1"));
        assert!(!super::ct_eq(b"", b"x"));
    }
}
