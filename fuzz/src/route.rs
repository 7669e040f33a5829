//! Target `route`: the filter's route normalizer (`filter/src/route.rs`) on any bytes.
//!
//! Input: byte 0 picks which of method/path are present and the method's length; the
//! method follows, the rest is the path. Properties: never panics; the key is at most
//! `MAX_ROUTE_LEN` bytes, has no control characters, starts with a known method; it is
//! a fixed point (normalizing its own path again gives it back); the query/fragment and
//! an absolute-form `http://host` prefix change nothing; `write_route` into a reused
//! buffer equals `route`.

use faultline_filter::route::{self, MAX_ROUTE_LEN, MAX_SEGMENTS};

const METHODS: [&str; 10] = ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "OTHER"];

pub fn check(data: &[u8]) {
    let Some((&head, rest)) = data.split_first() else {
        return;
    };
    let mlen = usize::from(head & 0x0f).min(rest.len());
    let (m, p) = rest.split_at(mlen);
    let method = (head & 0x10 == 0).then_some(m);
    let path = (head & 0x20 == 0).then_some(p);

    let key = route::route(method, path);
    let mut reused = String::from("previous contents that must be cleared");
    route::write_route(&mut reused, method, path);
    assert_eq!(reused, key, "write_route and route disagree");

    assert!(key.len() <= MAX_ROUTE_LEN, "route longer than {MAX_ROUTE_LEN}: {key:?}");
    assert!(!key.chars().any(char::is_control), "control character in {key:?}");
    let (meth, rpath) = key.split_once(' ').unwrap_or_else(|| panic!("no method in {key:?}"));
    assert!(METHODS.contains(&meth), "unknown method {meth:?} in {key:?}");
    assert_eq!(meth, route::method(method));
    assert!(key.matches('/').count() <= MAX_SEGMENTS + 1, "too many segments in {key:?}");

    // The normalized path is a fixed point.
    if rpath.starts_with('/') || rpath == "*" {
        let again = route::route(Some(meth.as_bytes()), Some(rpath.as_bytes()));
        assert_eq!(again, key, "not idempotent");
    }

    // An empty path is no path (hosts differ in returning "" or nothing).
    let Some(p) = path.filter(|p| !p.is_empty()) else {
        assert!(key.ends_with(route::NO_PATH), "no path gave {key:?}");
        return;
    };
    // Query and fragment are dropped, whatever they hold.
    if !p.contains(&b'?') && !p.contains(&b'#') {
        for tail in [&b"?id=42&x=/a/b"[..], b"#frag/ment", b"?", b"#"] {
            let with = [p, tail].concat();
            assert_eq!(route::route(method, Some(&with)), key, "query/fragment changed the route");
        }
    }
    // `http://host/path` is the same route as `/path`.
    if p.first() == Some(&b'/') {
        let abs = [&b"http://example.com:8080"[..], p].concat();
        assert_eq!(route::route(method, Some(&abs)), key, "absolute form changed the route");
    }
}
