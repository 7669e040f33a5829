//! Route normalization: turns a request's `:method` and `:path` into a bounded route key
//! such as `GET /server/users/:id/orders`.
//!
//! The query and fragment are dropped; segments that look like identifiers (numbers,
//! UUIDs, hex, long opaque tokens) become `:id`, so that one API is one route whatever
//! the ids. Input is raw bytes (headers need not be UTF-8); the output is always valid
//! UTF-8 without control characters and at most [`MAX_ROUTE_LEN`] bytes.

/// Longest route key, the flush format's limit.
pub const MAX_ROUTE_LEN: usize = faultline_flush::limits::MAX_ROUTE_LEN;
/// Most path segments kept; the rest become [`TRUNCATED`].
pub const MAX_SEGMENTS: usize = 24;
/// A segment longer than this is never a route name: it becomes `:id`.
pub const MAX_SEGMENT_LEN: usize = 64;
/// What replaces an identifier-like segment.
pub const ID: &str = ":id";
/// Appended when the path had more segments or bytes than kept.
pub const TRUNCATED: &str = "/...";
/// The route path when the request had no `:path`.
pub const NO_PATH: &str = "(none)";
/// The route path when `:path` is neither origin-form (`/...`), absolute-form nor `*`.
pub const INVALID_PATH: &str = "(invalid)";

const METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"];

/// The method as a route prefix: a standard method (case-insensitively), else `"OTHER"`,
/// so odd or hostile methods cannot create routes.
pub fn method(raw: Option<&[u8]>) -> &'static str {
    let Some(raw) = raw else { return "OTHER" };
    METHODS.iter().find(|m| m.as_bytes().eq_ignore_ascii_case(raw)).copied().unwrap_or("OTHER")
}

/// Writes the route key of a request into `out` (cleared first; reused to avoid
/// allocating per request).
pub fn write_route(out: &mut String, raw_method: Option<&[u8]>, raw_path: Option<&[u8]>) {
    out.clear();
    out.push_str(method(raw_method));
    out.push(' ');
    // An empty value is no path: hosts differ in whether they return "" or nothing.
    let Some(path) = raw_path.filter(|p| !p.is_empty()) else {
        out.push_str(NO_PATH);
        return;
    };
    let path = strip_query(path);
    let path = strip_scheme_authority(path);
    if path == b"*" {
        out.push('*');
        return;
    }
    if path.first() != Some(&b'/') {
        out.push_str(INVALID_PATH);
        return;
    }
    let budget = MAX_ROUTE_LEN - TRUNCATED.len();
    let mut wrote_any = false;
    for (n, seg) in path.split(|&b| b == b'/').filter(|s| !s.is_empty()).enumerate() {
        let piece = segment(seg);
        if n == MAX_SEGMENTS || out.len() + 1 + piece.len() > budget {
            out.push_str(TRUNCATED);
            return;
        }
        out.push('/');
        out.push_str(piece);
        wrote_any = true;
    }
    // The root, or a trailing slash.
    if !wrote_any || path.ends_with(b"/") {
        out.push('/');
    }
}

/// The route key of a request as a new string.
pub fn route(raw_method: Option<&[u8]>, raw_path: Option<&[u8]>) -> String {
    let mut out = String::with_capacity(64);
    write_route(&mut out, raw_method, raw_path);
    out
}

fn strip_query(path: &[u8]) -> &[u8] {
    match path.iter().position(|&b| b == b'?' || b == b'#') {
        Some(i) => path.get(..i).unwrap_or(path),
        None => path,
    }
}

/// `http://host/a` -> `/a`; anything else unchanged.
fn strip_scheme_authority(path: &[u8]) -> &[u8] {
    for scheme in [&b"http://"[..], b"https://"] {
        if path.len() >= scheme.len() && path.get(..scheme.len()).is_some_and(|p| p.eq_ignore_ascii_case(scheme)) {
            let rest = path.get(scheme.len()..).unwrap_or(&[]);
            return match rest.iter().position(|&b| b == b'/') {
                Some(i) => rest.get(i..).unwrap_or(b"/"),
                None => b"/",
            };
        }
    }
    path
}

/// One path segment as it appears in the route: itself, or [`ID`].
fn segment(seg: &[u8]) -> &str {
    if seg.len() > MAX_SEGMENT_LEN {
        return ID;
    }
    let Ok(s) = std::str::from_utf8(seg) else {
        return ID;
    };
    if s.chars().any(char::is_control) || is_identifier(seg) {
        return ID;
    }
    s
}

/// Whether a segment looks like an identifier rather than a route name.
pub fn is_identifier(seg: &[u8]) -> bool {
    is_numeric(seg) || is_uuid(seg) || is_hex_id(seg) || is_opaque_token(seg)
}

fn is_numeric(seg: &[u8]) -> bool {
    !seg.is_empty() && seg.iter().all(u8::is_ascii_digit)
}

fn is_uuid(seg: &[u8]) -> bool {
    seg.len() == 36
        && seg.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

/// At least 8 hex digits with at least one decimal digit (so `deadbeef`-like words stay).
fn is_hex_id(seg: &[u8]) -> bool {
    seg.len() >= 8 && seg.iter().all(u8::is_ascii_hexdigit) && seg.iter().any(u8::is_ascii_digit)
}

/// Long tokens (API keys, JWT parts, base64 ids): at least 20 bytes of base64/url-safe
/// characters where some `-`/`_`/`.`-separated part mixes letters and digits, or which
/// carries base64 markers (`+`, `=`, `~`). Long slugs of words (`how-to-install-nginx`)
/// stay route names.
fn is_opaque_token(seg: &[u8]) -> bool {
    if seg.len() < 20 {
        return false;
    }
    let token_char = |b: &u8| b.is_ascii_alphanumeric() || b"-_.~+=%".contains(b);
    if !seg.iter().all(token_char) {
        return false;
    }
    if seg.iter().any(|b| b"+=~".contains(b)) {
        return true;
    }
    seg.split(|b| b"-_.%".contains(b))
        .any(|part| part.iter().any(u8::is_ascii_alphabetic) && part.iter().any(u8::is_ascii_digit))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(method: &str, path: &str) -> String {
        route(Some(method.as_bytes()), Some(path.as_bytes()))
    }

    #[test]
    fn the_documented_example() {
        assert_eq!(r("GET", "/server/users/42/orders"), "GET /server/users/:id/orders");
    }

    #[test]
    fn ids_become_placeholders() {
        assert_eq!(r("GET", "/u/550e8400-e29b-41d4-a716-446655440000"), "GET /u/:id");
        assert_eq!(r("GET", "/u/550E8400-E29B-41D4-A716-446655440000/x"), "GET /u/:id/x");
        assert_eq!(r("GET", "/c/5f0c2a9e7b1d4c38"), "GET /c/:id");
        assert_eq!(r("GET", "/c/deadbeef"), "GET /c/deadbeef");
        assert_eq!(r("GET", "/c/a1b2c3"), "GET /c/a1b2c3");
        assert_eq!(r("GET", "/t/eyJhbGciOiJIUzI1NiJ9xyz"), "GET /t/:id");
        assert_eq!(r("GET", "/t/sk_live_4eC39HqLyjWDarjtT1zdp7dc"), "GET /t/:id");
        assert_eq!(r("GET", "/t/aGVsbG8gd29ybGQgaGVsbG8="), "GET /t/:id");
        assert_eq!(r("GET", "/blog/how-to-install-nginx-on-linux"), "GET /blog/how-to-install-nginx-on-linux");
        assert_eq!(r("GET", "/api/v2/items/7"), "GET /api/v2/items/:id");
        assert_eq!(r("GET", &format!("/x/{}", "a".repeat(65))), "GET /x/:id");
    }

    #[test]
    fn query_fragment_and_slashes() {
        assert_eq!(r("GET", "/a/b?id=42&x=/y"), "GET /a/b");
        assert_eq!(r("GET", "/a#frag"), "GET /a");
        assert_eq!(r("GET", "/"), "GET /");
        assert_eq!(r("GET", "?q=1"), "GET (invalid)");
        assert_eq!(r("GET", "//a///b/"), "GET /a/b/");
        assert_eq!(r("GET", "http://host:8080/a/1?x"), "GET /a/:id");
        assert_eq!(r("GET", "HTTPS://host"), "GET /");
        assert_eq!(r("OPTIONS", "*"), "OPTIONS *");
        assert_eq!(r("GET", "relative/path"), "GET (invalid)");
        assert_eq!(route(Some(b"GET"), None), "GET (none)");
    }

    #[test]
    fn methods_are_uppercased_or_other() {
        assert_eq!(r("get", "/a"), "GET /a");
        assert_eq!(r("Patch", "/a"), "PATCH /a");
        assert_eq!(r("BREW", "/a"), "OTHER /a");
        assert_eq!(r("", "/a"), "OTHER /a");
        assert_eq!(route(Some(&[0xff, 0x00]), Some(b"/a")), "OTHER /a");
        assert_eq!(route(None, Some(b"/a")), "OTHER /a");
    }

    #[test]
    fn huge_paths_are_capped() {
        let many = "/seg".repeat(1000);
        let out = r("DELETE", &many);
        assert!(out.len() <= MAX_ROUTE_LEN, "{}", out.len());
        assert!(out.ends_with(TRUNCATED));
        assert_eq!(out.matches("/seg").count(), MAX_SEGMENTS);
        let wide = format!("/{}", "abcdefghij/".repeat(40).replace("j/", "j/k"));
        let out = r("CONNECT", &wide);
        assert!(out.len() <= MAX_ROUTE_LEN);
        let huge = format!("/{}", "a".repeat(1 << 20));
        assert_eq!(r("GET", &huge), "GET /:id");
    }

    #[test]
    fn non_utf8_and_control_bytes_are_safe() {
        assert_eq!(route(Some(b"GET"), Some(b"/a/\xff\xfe/b")), "GET /a/:id/b");
        assert_eq!(route(Some(b"GET"), Some(b"/a/x\x01y")), "GET /a/:id");
        assert_eq!(r("GET", "/caf\u{e9}/menu"), "GET /caf\u{e9}/menu");
        let out = route(Some(b"GET"), Some(&[b'/', 0xc3]));
        assert_eq!(out, "GET /:id");
    }

    #[test]
    fn every_output_is_bounded_and_clean() {
        // A cheap deterministic generator of hostile paths.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut buf = String::new();
        for _ in 0..2000 {
            let mut path = vec![b'/'];
            for _ in 0..(x % 600) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                path.push((x & 0xff) as u8);
            }
            write_route(&mut buf, Some(b"get"), Some(&path));
            assert!(buf.len() <= MAX_ROUTE_LEN);
            assert!(!buf.chars().any(char::is_control));
            assert!(buf.starts_with("GET "));
        }
    }
}
