//! Whether a 5xx was the upstream's or the proxy's own because it could not reach the upstream
//! (connection refused or reset, connect timeout, no healthy host): the proxy's view of a service
//! DOWN. Asked only for a 5xx, one property read, chosen by host:
//!
//! - Envoy, `response.code_details`: `via_upstream` when the upstream answered; a refused connection is
//!   `upstream_reset_before_response_started{remote_connection_failure|delayed_connect_error:_Connection_refused}`
//!   (checked on Envoy 1.40), no healthy host `no_healthy_upstream`.
//! - nginx, `ngx.upstream_header_time`: the upstream's header time when it answered (`0.002`), `-` when
//!   no upstream sent a response header (refused, reset, timed out: nginx's own 502/504), empty when the
//!   location has no upstream (`return 503`: the proxy's answer, not an unreachable service). With
//!   retries the last attempt counts (`0.001, -`).

use crate::service::HostKind;

/// The property to read for a 5xx on this host, if it tells.
pub fn property(kind: HostKind) -> Option<&'static [&'static str]> {
    match kind {
        HostKind::Envoy => Some(&["response", "code_details"]),
        HostKind::Nginx => Some(&["ngx", "upstream_header_time"]),
        HostKind::Unknown => None,
    }
}

/// Whether the property's value says the proxy could not reach the upstream.
pub fn unreachable(kind: HostKind, raw: Option<&[u8]>) -> bool {
    let Some(raw) = raw else { return false };
    match kind {
        HostKind::Envoy => raw.starts_with(b"upstream_reset_before_response_started") || raw == b"no_healthy_upstream",
        HostKind::Nginx => raw.rsplit(|b| *b == b',').next().is_some_and(|last| last.trim_ascii() == b"-"),
        HostKind::Unknown => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envoy_says_it_in_its_code_details() {
        let refused = b"upstream_reset_before_response_started{remote_connection_failure|delayed_connect_error:_Connection_refused}";
        assert!(unreachable(HostKind::Envoy, Some(refused)));
        assert!(unreachable(HostKind::Envoy, Some(b"no_healthy_upstream")));
        assert!(!unreachable(HostKind::Envoy, Some(b"via_upstream")), "the upstream answered 503 itself");
        assert!(!unreachable(HostKind::Envoy, Some(b"direct_response")));
        assert!(!unreachable(HostKind::Envoy, None));
    }

    #[test]
    fn nginx_says_it_in_the_upstream_header_time() {
        assert!(unreachable(HostKind::Nginx, Some(b"-")));
        assert!(unreachable(HostKind::Nginx, Some(b"0.001, -")), "the last attempt counts");
        assert!(!unreachable(HostKind::Nginx, Some(b"0.002")), "the upstream answered 502 itself");
        assert!(!unreachable(HostKind::Nginx, Some(b"")), "no upstream: `return 503`");
        assert!(!unreachable(HostKind::Nginx, None));
        assert!(!unreachable(HostKind::Unknown, Some(b"-")));
        assert_eq!(property(HostKind::Unknown), None);
    }
}
