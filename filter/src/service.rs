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
    let cleaned: String = lossy.chars().map(|c| if c.is_control() { '_' } else { c }).collect();
    Some(Cow::Owned(truncate(&cleaned, MAX_NAME_LEN).to_owned()))
}

/// Which proxy the filter runs in, as far as naming services goes.
///
/// Envoy has cluster names (`xds.cluster_name`); nginx has none and logs an error for
/// every unknown property read, so it is not asked. The two are told apart by how they
/// encode the `response.code` property (checked facts): Envoy as an 8-byte little-endian
/// integer, nginx as text. Until a response code has been seen, the host is asked (a
/// wrong guess would silently misname Envoy's services; asking nginx only logs).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum HostKind {
    /// Not known yet: ask for the cluster name.
    #[default]
    Unknown,
    /// Integer properties are binary: cluster names exist.
    Envoy,
    /// Integer properties are text: no cluster names.
    Nginx,
}

impl HostKind {
    /// The host, from a `response.code` property value; `None` when it does not tell.
    pub fn from_response_code(raw: &[u8]) -> Option<HostKind> {
        if raw.len() == 8 {
            return Some(HostKind::Envoy);
        }
        if (1..=3).contains(&raw.len()) && raw.iter().all(u8::is_ascii_digit) {
            return Some(HostKind::Nginx);
        }
        None
    }

    /// Whether to ask this host for a cluster name.
    pub fn has_cluster_names(self) -> bool {
        self != HostKind::Nginx
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
    fn tells_hosts_apart_by_response_code_encoding() {
        assert_eq!(HostKind::from_response_code(&200i64.to_le_bytes()), Some(HostKind::Envoy));
        assert_eq!(HostKind::from_response_code(b"200"), Some(HostKind::Nginx));
        assert_eq!(HostKind::from_response_code(b"0"), Some(HostKind::Nginx));
        assert_eq!(HostKind::from_response_code(b""), None);
        assert_eq!(HostKind::from_response_code(b"2x0"), None);
        assert!(HostKind::Unknown.has_cluster_names());
        assert!(HostKind::Envoy.has_cluster_names());
        assert!(!HostKind::Nginx.has_cluster_names());
    }
}
