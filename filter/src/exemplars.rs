//! Exemplars: a small, bounded sample of a service's failing requests since the last flush.
//!
//! Per route the first and the last [`LAST_PER_ROUTE`] are kept, at most
//! [`MAX_PER_SERVICE`] per service; a full sample makes room by replacing the oldest
//! "last" entry of its busiest route, or, when every route is down to its first, the
//! oldest entry (the latest failures matter most). Entries are overwritten in place, so a warm sample
//! allocates nothing for a new request; every text is cut to its flush limit.

use crate::codec::{DecodeError, Reader, Writer, truncate};
use faultline_flush::limits;

/// Most exemplars kept per service (the flush's limit).
pub const MAX_PER_SERVICE: usize = limits::MAX_EXEMPLARS_PER_SERVICE;
/// The latest failing requests kept per route, besides its first.
pub const LAST_PER_ROUTE: usize = 3;

/// One failing request. Empty texts mean "not known"; `duration_ms` `u64::MAX` too.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Exemplar {
    /// When it was counted, unix ms.
    pub time_ms: u64,
    /// Request method.
    pub method: String,
    /// The normalized route key.
    pub route: String,
    /// The raw path without its query string (empty when `raw_path` is off).
    pub path: String,
    /// Response status.
    pub status: u16,
    /// Request id.
    pub request_id: String,
    /// Upstream address.
    pub upstream: String,
    /// Duration in the proxy, ms (`u64::MAX`: not known).
    pub duration_ms: u64,
    /// The proxy's own code details (Envoy).
    pub details: String,
}

/// Sets `to` to `from` cut to `max` bytes (at a char boundary), reusing `to`'s buffer.
pub fn set_text(to: &mut String, from: &str, max: usize) {
    to.clear();
    to.push_str(truncate(from, max));
}

/// Sets `to` to host bytes `raw` made flush-safe: UTF-8 (lossy), control characters as `_`, at most
/// `max` bytes; reuses `to`'s buffer.
pub fn set_clean(to: &mut String, raw: &[u8], max: usize) {
    to.clear();
    for c in String::from_utf8_lossy(raw).chars() {
        if to.len() + c.len_utf8() > max {
            break;
        }
        to.push(if c.is_control() { '_' } else { c });
    }
}

/// The path without its query string (nor fragment): query strings are never sent.
pub fn without_query(path: &[u8]) -> &[u8] {
    let end = path.iter().position(|b| *b == b'?' || *b == b'#').unwrap_or(path.len());
    path.get(..end).unwrap_or_default()
}

/// The nginx variable holding request header `name`: `x-request-id` -> `http_x_request_id`.
pub fn nginx_header_variable(name: &str) -> String {
    let mut v = String::with_capacity(5 + name.len());
    v.push_str("http_");
    v.extend(name.chars().map(|c| if c == '-' { '_' } else { c.to_ascii_lowercase() }));
    v
}

/// A duration property in milliseconds: Envoy's `request.duration` is an 8-byte little-endian
/// count of nanoseconds, nginx's `$request_time` seconds as text (`0.012`). `u64::MAX` when unknown.
pub fn duration_ms(raw: Option<&[u8]>) -> u64 {
    let Some(raw) = raw else { return u64::MAX };
    if let Ok(le) = <[u8; 8]>::try_from(raw) {
        return u64::try_from(i64::from_le_bytes(le)).map_or(u64::MAX, |ns| ns / 1_000_000);
    }
    let Some(text) = std::str::from_utf8(raw).ok().map(str::trim) else { return u64::MAX };
    let (secs, frac) = text.split_once('.').unwrap_or((text, ""));
    let (Ok(secs), true) = (secs.parse::<u64>(), frac.bytes().all(|b| b.is_ascii_digit())) else { return u64::MAX };
    let ms: u64 = frac.bytes().chain(std::iter::repeat(b'0')).take(3).fold(0, |n, b| n * 10 + u64::from(b - b'0'));
    secs.saturating_mul(1000).saturating_add(ms)
}

impl Exemplar {
    /// Copies `other` into `self`, reusing the buffers.
    fn assign(&mut self, other: &Exemplar) {
        self.time_ms = other.time_ms;
        set_text(&mut self.method, &other.method, limits::MAX_METHOD_LEN);
        set_text(&mut self.route, &other.route, limits::MAX_ROUTE_LEN);
        set_text(&mut self.path, &other.path, limits::MAX_EXEMPLAR_TEXT);
        self.status = other.status;
        set_text(&mut self.request_id, &other.request_id, limits::MAX_EXEMPLAR_TEXT);
        set_text(&mut self.upstream, &other.upstream, limits::MAX_EXEMPLAR_TEXT);
        self.duration_ms = other.duration_ms;
        set_text(&mut self.details, &other.details, limits::MAX_EXEMPLAR_TEXT);
    }

    fn encode(&self, w: &mut Writer) {
        w.u64(self.time_ms);
        for s in [&self.method, &self.route, &self.path] {
            w.str(s);
        }
        w.u16(self.status);
        for s in [&self.request_id, &self.upstream] {
            w.str(s);
        }
        w.u64(self.duration_ms);
        w.str(&self.details);
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let e = Exemplar {
            time_ms: r.u64()?,
            method: r.str()?.to_owned(),
            route: r.str()?.to_owned(),
            path: r.str()?.to_owned(),
            status: r.u16()?,
            request_id: r.str()?.to_owned(),
            upstream: r.str()?.to_owned(),
            duration_ms: r.u64()?,
            details: r.str()?.to_owned(),
        };
        let texts_ok = e.method.len() <= limits::MAX_METHOD_LEN
            && !e.route.is_empty()
            && e.route.len() <= limits::MAX_ROUTE_LEN
            && [&e.path, &e.request_id, &e.upstream, &e.details].iter().all(|s| s.len() <= limits::MAX_EXEMPLAR_TEXT);
        let clean = [&e.method, &e.route, &e.path, &e.request_id, &e.upstream, &e.details]
            .iter()
            .all(|s| !s.chars().any(char::is_control));
        if !texts_ok || !clean || !(500..=599).contains(&e.status) {
            return Err(DecodeError::Invalid("exemplar"));
        }
        Ok(e)
    }
}

/// A service's sample, bounded by [`MAX_PER_SERVICE`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Exemplars {
    list: Vec<Exemplar>,
}

impl Exemplars {
    /// Offers one failing request to the sample; it is kept if it is its route's first or among its
    /// latest. Allocates only while the sample grows.
    pub fn offer(&mut self, e: &Exemplar) {
        let same = self.list.iter().filter(|x| x.route == e.route).count();
        if same <= LAST_PER_ROUTE && self.list.len() < MAX_PER_SERVICE {
            self.list.push(Exemplar::default());
            if let Some(slot) = self.list.last_mut() {
                slot.assign(e);
            }
            return;
        }
        // Replace the oldest "last" entry: of this route when it has its share, else of the busiest route.
        let route = if same > LAST_PER_ROUTE { e.route.as_str() } else { self.busiest_route() };
        let oldest = || self.list.iter().enumerate().min_by_key(|(_, x)| x.time_ms).map(|(i, _)| i);
        if let Some(i) = self.oldest_replaceable(route).or_else(oldest)
            && let Some(slot) = self.list.get_mut(i)
            && slot.time_ms <= e.time_ms
        {
            slot.assign(e);
        }
    }

    /// The route with the most entries (ties: the first listed).
    fn busiest_route(&self) -> &str {
        let mut best: (&str, usize) = ("", 0);
        for x in &self.list {
            let n = self.list.iter().filter(|y| y.route == x.route).count();
            if n > best.1 {
                best = (x.route.as_str(), n);
            }
        }
        best.0
    }

    /// The index of the oldest entry of `route` other than its first, if it has more than one.
    fn oldest_replaceable(&self, route: &str) -> Option<usize> {
        let of_route = || self.list.iter().enumerate().filter(|(_, x)| x.route == route);
        let first = of_route().min_by_key(|(_, x)| x.time_ms).map(|(i, _)| i)?;
        of_route().filter(|(i, _)| *i != first).min_by_key(|(_, x)| x.time_ms).map(|(i, _)| i)
    }

    /// Offers every entry of `other`, oldest first.
    pub fn absorb(&mut self, other: &Exemplars) {
        for e in other.sorted() {
            self.offer(e);
        }
    }

    /// The entries, oldest first.
    pub fn sorted(&self) -> Vec<&Exemplar> {
        // Insertion, not a sort: at most 8 entries, and no sort code in the .wasm.
        let mut v: Vec<&Exemplar> = Vec::with_capacity(self.list.len());
        for e in &self.list {
            let at = v.iter().position(|x| x.time_ms > e.time_ms).unwrap_or(v.len());
            v.insert(at, e);
        }
        v
    }

    /// Drops the entries for which `sent` is true (they reached a flush).
    pub fn remove(&mut self, mut sent: impl FnMut(&Exemplar) -> bool) {
        self.list.retain(|x| !sent(x));
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Appends the sample (a count byte, then the entries).
    pub fn encode(&self, w: &mut Writer) {
        w.u8(u8::try_from(self.list.len()).unwrap_or(u8::MAX));
        for e in self.list.iter().take(usize::from(u8::MAX)) {
            e.encode(w);
        }
    }

    /// Reads a sample written by [`Exemplars::encode`].
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let n = usize::from(r.u8()?);
        if n == 0 || n > MAX_PER_SERVICE {
            return Err(DecodeError::Invalid("exemplar count"));
        }
        let mut list = Vec::with_capacity(n);
        for _ in 0..n {
            list.push(Exemplar::decode(r)?);
        }
        Ok(Exemplars { list })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(route: &str, t: u64) -> Exemplar {
        Exemplar {
            time_ms: t,
            method: "GET".into(),
            route: route.into(),
            status: 500,
            request_id: format!("id-{t}"),
            ..Exemplar::default()
        }
    }

    fn times(s: &Exemplars, route: &str) -> Vec<u64> {
        s.sorted().into_iter().filter(|x| x.route == route).map(|x| x.time_ms).collect()
    }

    #[test]
    fn keeps_the_first_and_the_last_three_of_a_route() {
        let mut s = Exemplars::default();
        for t in 1..=20 {
            s.offer(&ex("GET /a", t));
        }
        assert_eq!(times(&s, "GET /a"), vec![1, 18, 19, 20]);
    }

    #[test]
    fn stays_bounded_and_makes_room_for_new_routes() {
        let mut s = Exemplars::default();
        for t in 1..=10 {
            s.offer(&ex("GET /a", t));
        }
        for t in 11..=12 {
            s.offer(&ex("GET /b", t));
        }
        assert_eq!(times(&s, "GET /b"), vec![11, 12]);
        for i in 0..10_000u64 {
            s.offer(&ex(&format!("GET /p{i}"), 100 + i));
            assert!(s.len() <= MAX_PER_SERVICE);
        }
        assert_eq!(times(&s, "GET /p9999"), vec![10_099], "the latest is kept");
        assert_eq!(s.sorted().first().map(|x| x.time_ms), Some(10_092), "the 8 latest");
    }

    #[test]
    fn host_values_are_made_flush_safe() {
        let mut s = String::with_capacity(8);
        set_clean(&mut s, b"/a\n/\xff", 64);
        assert_eq!(s, "/a_/\u{fffd}");
        set_clean(&mut s, "éé".as_bytes(), 3);
        assert_eq!(s, "é");
        assert_eq!(without_query(b"/a/b?token=secret#x"), b"/a/b");
        assert_eq!(without_query(b"/a#frag"), b"/a");
        assert_eq!(nginx_header_variable("X-Request-Id"), "http_x_request_id");
        assert_eq!(duration_ms(Some(&12_345_678i64.to_le_bytes())), 12);
        assert_eq!(duration_ms(Some(&(-1i64).to_le_bytes())), u64::MAX);
        assert_eq!(duration_ms(Some(b"0.012")), 12);
        assert_eq!(duration_ms(Some(b"2.5")), 2500);
        assert_eq!(duration_ms(Some(b"3")), 3000);
        assert_eq!(duration_ms(Some(b"-")), u64::MAX);
        assert_eq!(duration_ms(Some(b"1.2a")), u64::MAX);
        assert_eq!(duration_ms(None), u64::MAX);
    }

    #[test]
    fn texts_are_cut_to_their_limits_and_round_trip() {
        let mut s = Exemplars::default();
        let mut long = ex("GET /a", 5);
        long.path = "é".repeat(500);
        long.upstream = "10.0.0.1:80".into();
        long.duration_ms = 12;
        s.offer(&long);
        let kept = s.sorted()[0].clone();
        assert!(kept.path.len() <= limits::MAX_EXEMPLAR_TEXT && kept.path.starts_with('é'));
        let mut w = Writer::with_capacity(64);
        s.encode(&mut w);
        let bytes = w.finish();
        assert_eq!(Exemplars::decode(&mut Reader::new(&bytes)), Ok(s));
        for len in 0..bytes.len() {
            assert!(Exemplars::decode(&mut Reader::new(&bytes[..len])).is_err());
        }
    }
}
