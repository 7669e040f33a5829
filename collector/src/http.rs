//! Small HTTP helpers shared by the collector's endpoints (ingest and the read-only views):
//! JSON and text answers, query strings, bearer tokens. No state, no crate imports.

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, StatusCode};
use serde_json::json;

/// The answer type of every endpoint.
pub type Resp = Response<Full<Bytes>>;

pub fn reply(status: StatusCode, body: serde_json::Value) -> Resp {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = status;
    r.headers_mut().insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("application/json"));
    r
}

pub fn error(status: StatusCode, message: impl Into<String>) -> Resp {
    reply(status, json!({ "error": message.into() }))
}

pub fn text(status: StatusCode, content_type: &'static str, body: String) -> Resp {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static(content_type));
    r.headers_mut().insert(hyper::header::CACHE_CONTROL, hyper::header::HeaderValue::from_static("no-store"));
    r
}

/// Decodes `%XX` and `+` of a query component (invalid escapes are kept as written).
pub fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        let hex = |j: usize| b.get(j).and_then(|h| (*h as char).to_digit(16));
        match (c, hex(i + 1), hex(i + 2)) {
            (b'%', Some(hi), Some(lo)) => {
                out.push(u8::try_from(hi * 16 + lo).unwrap_or(b'?'));
                i += 3;
            }
            (b'+', _, _) => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The query string's parameters (the first of each name wins).
pub fn query_params(query: Option<&str>) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        out.entry(unescape(k)).or_insert_with(|| unescape(v));
    }
    out
}

/// The token of an `Authorization: Bearer TOKEN` header, if any.
pub fn bearer<B>(req: &Request<B>) -> Option<&str> {
    req.headers().get(hyper::header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Bearer ").map(str::trim)
}

#[cfg(test)]
mod tests {
    #[test]
    fn query_parameters_are_decoded() {
        let q = super::query_params(Some("since=1h&token=a%2Bb%3D%3D&x&service=my+svc&since=2h&bad=%zz"));
        assert_eq!(q["since"], "1h");
        assert_eq!(q["token"], "a+b==");
        assert_eq!(q["service"], "my svc");
        assert_eq!(q["x"], "");
        assert_eq!(q["bad"], "%zz");
        assert!(super::query_params(None).is_empty());
    }
}
