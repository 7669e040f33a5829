//! What a test scripts for one HTTP stream: the request (headers, properties, cluster) and how
//! it ends (a response's headers, or no response at all), and what the filter answered.

use super::abi::{Action, HeaderPairs};
use super::state::Mode;

/// A request as the proxy hands it to the filter.
#[derive(Debug, Clone)]
pub struct Request {
    pub headers: HeaderPairs,
    /// Envoy's `xds.cluster_name` (nginx has none and ignores it).
    pub cluster: Option<String>,
    /// Extra properties (`"ngx.upstream_status"`, ...), raw bytes, overriding the defaults.
    pub properties: Vec<(String, Vec<u8>)>,
}

impl Request {
    /// A request with `:method`, `:path` (raw bytes), `:authority` and `:scheme`.
    pub fn new(method: &str, path: impl AsRef<[u8]>) -> Request {
        Request {
            headers: vec![
                (b":method".to_vec(), method.as_bytes().to_vec()),
                (b":path".to_vec(), path.as_ref().to_vec()),
                (b":authority".to_vec(), b"app.example".to_vec()),
                (b":scheme".to_vec(), b"http".to_vec()),
            ],
            cluster: None,
            properties: Vec::new(),
        }
    }

    pub fn get(path: impl AsRef<[u8]>) -> Request {
        Request::new("GET", path)
    }

    pub fn header(mut self, name: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Request {
        self.headers.push((name.as_ref().to_vec(), value.as_ref().to_vec()));
        self
    }

    pub fn without_header(mut self, name: &str) -> Request {
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name.as_bytes()));
        self
    }

    pub fn cluster(mut self, name: &str) -> Request {
        self.cluster = Some(name.to_string());
        self
    }

    pub fn property(mut self, path: &str, value: impl AsRef<[u8]>) -> Request {
        self.properties.push((path.to_string(), value.as_ref().to_vec()));
        self
    }
}

/// A response's headers as the filter sees them in `on_http_response_headers`.
#[derive(Debug, Clone)]
pub struct Response {
    pub headers: HeaderPairs,
}

impl Response {
    /// A response with this `:status`.
    pub fn status(code: u16) -> Response {
        Response::raw_status(code.to_string())
    }

    /// A response whose `:status` is these exact bytes (possibly not a number).
    pub fn raw_status(status: impl AsRef<[u8]>) -> Response {
        Response { headers: vec![(b":status".to_vec(), status.as_ref().to_vec())] }
    }

    /// A response with no `:status` at all.
    pub fn without_status() -> Response {
        Response { headers: Vec::new() }
    }

    pub fn header(mut self, name: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Response {
        self.headers.push((name.as_ref().to_vec(), value.as_ref().to_vec()));
        self
    }

    /// The status as a number, if `:status` is one.
    pub fn code(&self) -> Option<i64> {
        let (_, v) = self.headers.iter().find(|(k, _)| k.as_slice() == b":status")?;
        std::str::from_utf8(v).ok()?.parse().ok()
    }

    /// The `response.code` property as this proxy encodes it (Envoy: 8-byte LE i64; nginx: text).
    pub fn code_property(&self, mode: &Mode) -> Option<Vec<u8>> {
        let code = self.code()?;
        Some(match mode {
            Mode::Envoy { .. } => code.to_le_bytes().to_vec(),
            Mode::Nginx { .. } => code.to_string().into_bytes(),
        })
    }
}

/// How a stream ends.
#[derive(Debug, Clone)]
pub enum Ending {
    /// The proxy sends this response (from the upstream or made by the proxy itself).
    Respond(Response),
    /// The client goes away before any response.
    NoResponse,
}

impl Ending {
    pub fn status(code: u16) -> Ending {
        Ending::Respond(Response::status(code))
    }
}

/// What the filter did with one stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamOutcome {
    pub request: Action,
    pub response: Option<Action>,
    /// Status of a `proxy_send_local_response`, if the filter sent one.
    pub local_response: Option<u32>,
}

impl StreamOutcome {
    /// Whether the filter let the traffic through untouched.
    pub fn passed(&self) -> bool {
        self.request == Action::Continue
            && self.response.is_none_or(|a| a == Action::Continue)
            && self.local_response.is_none()
    }
}
