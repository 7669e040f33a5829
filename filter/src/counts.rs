//! Counters of one service, and how one response is classified into them.
//!
//! The same [`ServiceCounts`] is used for a worker's short-lived tally and for the
//! cumulative record in shared data; merging one into the other is [`ServiceCounts::absorb`].

use crate::exemplars::{Exemplar, Exemplars};
use crate::routes::RouteTable;

/// What a response's `:status` says about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusClass {
    /// 1xx, 2xx, 3xx (and 6xx–9xx): counted as a response only.
    Other,
    /// 4xx.
    ClientError,
    /// 5xx: a failure of the service, counted with its route.
    ServerError,
    /// Missing or not a three-digit number: counted as a response of unknown class.
    Unknown,
}

/// Classifies a raw `:status` header value.
pub fn classify(raw: Option<&[u8]>) -> StatusClass {
    match raw {
        Some([a @ b'1'..=b'9', b, c]) if b.is_ascii_digit() && c.is_ascii_digit() => match a {
            b'4' => StatusClass::ClientError,
            b'5' => StatusClass::ServerError,
            _ => StatusClass::Other,
        },
        _ => StatusClass::Unknown,
    }
}

/// The status code in a host's `response.code` property: Envoy encodes it as an 8-byte
/// little-endian integer, nginx as text. `None` unless it is a real status (100..=999).
pub fn code_from_property(raw: &[u8]) -> Option<u16> {
    let code = match <[u8; 8]>::try_from(raw) {
        Ok(le) => i64::from_le_bytes(le),
        Err(_) => std::str::from_utf8(raw).ok()?.trim().parse::<i64>().ok()?,
    };
    u16::try_from(code).ok().filter(|c| (100..=999).contains(c))
}

/// The class of a numeric status code.
pub fn class_of(code: u16) -> StatusClass {
    match code / 100 {
        4 => StatusClass::ClientError,
        5 => StatusClass::ServerError,
        1..=9 => StatusClass::Other,
        _ => StatusClass::Unknown,
    }
}

/// nginx's "client closed request": logged as a status, never sent to anyone.
pub const CLIENT_CLOSED: u16 = 499;

/// Cumulative (or, in a tally, since the last merge) counters of one service.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceCounts {
    /// Responses of any status.
    pub responses: u64,
    /// 4xx responses.
    pub status_4xx: u64,
    /// 5xx responses.
    pub status_5xx: u64,
    /// Requests that ended without a response.
    pub no_response: u64,
    /// Of the 5xx, those the proxy made because it could not reach the upstream ([`crate::reach`]).
    pub unreachable: u64,
    /// 5xx responses by route, bounded.
    pub routes: RouteTable,
    /// A sample of the 5xx since the last flush (not cumulative: the flusher takes them).
    pub exemplars: Exemplars,
}

impl ServiceCounts {
    /// Counts one response. `route` is needed (and only computed by callers) for 5xx.
    pub fn response(&mut self, class: StatusClass, route: Option<&str>, now_ms: u64, max_routes: usize) {
        self.responses = self.responses.saturating_add(1);
        match class {
            StatusClass::ClientError => self.status_4xx = self.status_4xx.saturating_add(1),
            StatusClass::ServerError => {
                self.status_5xx = self.status_5xx.saturating_add(1);
                let route = route.unwrap_or(faultline_flush::OTHER_ROUTE);
                self.routes.record(route, now_ms, max_routes);
            }
            StatusClass::Other | StatusClass::Unknown => {}
        }
    }

    /// Counts one request that ended with no response.
    pub fn no_response(&mut self) {
        self.no_response = self.no_response.saturating_add(1);
    }

    /// Marks one of the 5xx counted as the proxy's own for want of the upstream.
    pub fn unreachable(&mut self) {
        self.unreachable = self.unreachable.saturating_add(1);
    }

    /// Adds `other` into `self`, keeping at most `max_routes` named routes.
    pub fn absorb(&mut self, other: &ServiceCounts, max_routes: usize) {
        self.responses = self.responses.saturating_add(other.responses);
        self.status_4xx = self.status_4xx.saturating_add(other.status_4xx);
        self.status_5xx = self.status_5xx.saturating_add(other.status_5xx);
        self.no_response = self.no_response.saturating_add(other.no_response);
        self.unreachable = self.unreachable.saturating_add(other.unreachable);
        self.routes.absorb(&other.routes, max_routes);
        self.exemplars.absorb(&other.exemplars);
    }

    /// Offers one failing request (already counted) to the sample.
    pub fn exemplar(&mut self, e: &Exemplar) {
        self.exemplars.offer(e);
    }

    /// Whether nothing was counted.
    pub fn is_empty(&self) -> bool {
        self.responses == 0 && self.no_response == 0
    }

    /// Whether the counters are consistent: classes within responses, routes within 5xx.
    pub fn is_consistent(&self) -> bool {
        self.status_4xx.checked_add(self.status_5xx).is_some_and(|c| c <= self.responses)
            && self.routes.total() <= self.status_5xx
            && self.unreachable <= self.status_5xx
            && self.exemplars.len() as u64 <= self.status_5xx
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_statuses() {
        assert_eq!(classify(Some(b"200")), StatusClass::Other);
        assert_eq!(classify(Some(b"404")), StatusClass::ClientError);
        assert_eq!(classify(Some(b"503")), StatusClass::ServerError);
        assert_eq!(classify(Some(b"101")), StatusClass::Other);
        assert_eq!(classify(None), StatusClass::Unknown);
        assert_eq!(classify(Some(b"")), StatusClass::Unknown);
        assert_eq!(classify(Some(b"5xx")), StatusClass::Unknown);
        assert_eq!(classify(Some(b"5000")), StatusClass::Unknown);
        assert_eq!(classify(Some(b"050")), StatusClass::Unknown);
        assert_eq!(classify(Some(b" 500")), StatusClass::Unknown);
        assert_eq!(classify(Some(&[0xff, 0xfe, 0xfd])), StatusClass::Unknown);
    }

    #[test]
    fn reads_response_code_properties_of_both_hosts() {
        assert_eq!(code_from_property(&503i64.to_le_bytes()), Some(503));
        assert_eq!(code_from_property(b"502"), Some(502));
        assert_eq!(code_from_property(&0i64.to_le_bytes()), None);
        assert_eq!(code_from_property(&(-1i64).to_le_bytes()), None);
        assert_eq!(code_from_property(b""), None);
        assert_eq!(code_from_property(b"abc"), None);
        assert_eq!(code_from_property(b"0"), None);
        assert_eq!(class_of(404), StatusClass::ClientError);
        assert_eq!(class_of(504), StatusClass::ServerError);
        assert_eq!(class_of(204), StatusClass::Other);
    }

    #[test]
    fn counts_by_class_and_route() {
        let mut c = ServiceCounts::default();
        c.response(StatusClass::Other, None, 1, 32);
        c.response(StatusClass::ClientError, None, 2, 32);
        c.response(StatusClass::ServerError, Some("GET /a"), 3, 32);
        c.response(StatusClass::ServerError, None, 4, 32);
        c.response(StatusClass::Unknown, None, 5, 32);
        c.no_response();
        assert_eq!((c.responses, c.status_4xx, c.status_5xx, c.no_response), (5, 1, 2, 1));
        assert_eq!(c.routes.total(), 2);
        assert!(c.is_consistent());
        let mut d = ServiceCounts::default();
        d.absorb(&c, 32);
        d.absorb(&c, 32);
        assert_eq!((d.responses, d.status_5xx, d.routes.total()), (10, 4, 4));
        assert!(d.is_consistent());
    }
}
