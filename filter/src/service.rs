//! Which service a response belongs to: the configured `service`, else the host's
//! cluster name (Envoy `xds.cluster_name`), else `default_service`.
//!
//! Host-given names are raw bytes: they are made valid flush names here (UTF-8, no
//! control characters, at most 128 bytes) so that one odd name can never make the
//! collector refuse a whole flush.

use crate::codec::truncate;
use crate::config::MAX_NAME_LEN;
use std::borrow::Cow;

/// Whether `s` is usable as a flush name as it is.
pub fn is_clean(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_NAME_LEN && !s.chars().any(char::is_control)
}

/// A host-given service name as a valid flush name, or `None` when it is empty.
/// Borrows when the name is already valid (the common case).
pub fn clean_name(raw: &[u8]) -> Option<Cow<'_, str>> {
    if raw.is_empty() {
        return None;
    }
    if let Ok(s) = std::str::from_utf8(raw)
        && is_clean(s)
    {
        return Some(Cow::Borrowed(s));
    }
    let lossy = String::from_utf8_lossy(raw);
    let cleaned: String = lossy
        .chars()
        .map(|c| if c.is_control() { '_' } else { c })
        .collect();
    Some(Cow::Owned(truncate(&cleaned, MAX_NAME_LEN).to_owned()))
}

/// Misses in a row, with no hit ever, after which the host is taken to have no
/// cluster names (nginx logs an error for every unknown property read).
pub const MISSES_BEFORE_GIVING_UP: u32 = 64;

/// Decides whether asking the host for the cluster name is still worth it.
#[derive(Debug, Default, Clone)]
pub struct ClusterNameProbe {
    hits: bool,
    misses: u32,
}

impl ClusterNameProbe {
    /// Whether to ask the host for this request.
    pub fn should_ask(&self) -> bool {
        self.hits || self.misses < MISSES_BEFORE_GIVING_UP
    }

    /// Records the answer; returns true exactly once, when the probe gives up (to log it).
    pub fn observe(&mut self, found: bool) -> bool {
        if found {
            self.hits = true;
            return false;
        }
        if self.hits {
            return false;
        }
        self.misses = self.misses.saturating_add(1);
        self.misses == MISSES_BEFORE_GIVING_UP
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleans_host_names() {
        assert_eq!(clean_name(b"be").as_deref(), Some("be"));
        assert!(matches!(clean_name(b"be"), Some(Cow::Borrowed(_))));
        assert_eq!(clean_name(b""), None);
        assert_eq!(clean_name(b"a\nb").as_deref(), Some("a_b"));
        assert_eq!(clean_name(b"a\xffb").as_deref(), Some("a\u{fffd}b"));
        let long = clean_name(&[b'x'; 300]).unwrap();
        assert_eq!(long.len(), MAX_NAME_LEN);
        let multi = "\u{e9}".repeat(100);
        let cut = clean_name(multi.as_bytes()).unwrap();
        assert!(cut.len() <= MAX_NAME_LEN && cut.chars().all(|c| c == '\u{e9}'));
    }

    #[test]
    fn gives_up_only_on_a_host_that_never_answers() {
        let mut p = ClusterNameProbe::default();
        let gave_up: Vec<bool> = (0..MISSES_BEFORE_GIVING_UP)
            .map(|_| p.observe(false))
            .collect();
        assert_eq!(gave_up.iter().filter(|g| **g).count(), 1);
        assert!(!p.should_ask());
        let mut p = ClusterNameProbe::default();
        p.observe(true);
        for _ in 0..1000 {
            p.observe(false);
        }
        assert!(p.should_ask(), "a host that ever answered is always asked");
    }
}
