//! Outgoing `proxy_http_call`s: recorded when the filter dispatches them, answered later by the
//! test (or by the proxy's own timeout), in the way each proxy answers.

use super::abi::HeaderPairs;

/// One dispatched HTTP call, as the proxy saw it.
#[derive(Debug, Clone)]
pub struct HttpCall {
    /// Host-wide sequence number (order of dispatch).
    pub seq: u64,
    /// Index of the VM that dispatched it.
    pub vm: usize,
    /// Context the response is delivered to.
    pub context_id: u32,
    /// Token the guest got back.
    pub token: u32,
    /// Envoy cluster name or nginx `host:port`.
    pub upstream: String,
    pub headers: HeaderPairs,
    pub body: Vec<u8>,
    pub timeout_ms: u32,
    /// Proxy clock when dispatched, in ms.
    pub dispatched_ms: u64,
    /// Ordinal of the tick in progress (or last run) when dispatched: the call saw every
    /// merge of ticks up to this one ([`super::state::TickEvent`]).
    pub tick_ordinal: u64,
}

impl HttpCall {
    /// The first value of a header, lossily as text.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
    }

    /// When the proxy gives up on the call (ms on the proxy clock).
    pub fn deadline_ms(&self) -> u64 {
        self.dispatched_ms.saturating_add(u64::from(self.timeout_ms))
    }
}

/// How a call ends.
#[derive(Debug, Clone)]
pub enum Reply {
    /// The upstream answered.
    Response { status: u16, headers: HeaderPairs, body: Vec<u8> },
    /// Nothing listens at the upstream (connection refused).
    Refused,
    /// The upstream did not answer within the call's timeout.
    Timeout,
    /// The connection broke after it was made.
    Reset,
}

impl Reply {
    /// A response with a status and body and no other headers.
    pub fn status(status: u16, body: &[u8]) -> Reply {
        Reply::Response { status, headers: Vec::new(), body: body.to_vec() }
    }
}

/// What the guest receives in `proxy_on_http_call_response`.
#[derive(Debug, Clone, Default)]
pub struct Delivery {
    pub headers: HeaderPairs,
    /// `num_headers` passed to the callback (nginx passes 0 for a failed dispatch even though
    /// its `:dispatch_status` pseudo-header can be read).
    pub num_headers: usize,
    pub body: Vec<u8>,
}

/// Envoy's body for a call to a cluster with nothing listening.
pub const ENVOY_CONNECT_FAILURE_BODY: &[u8] =
    b"upstream connect error or disconnect/reset before headers. reset reason: connection failure";
/// Envoy's body when a call times out.
pub const ENVOY_TIMEOUT_BODY: &[u8] = b"upstream request timeout";

impl Delivery {
    /// Envoy: failures arrive as Envoy's own local replies (503 connect failure, 504 timeout);
    /// a reset after headers were requested arrives with no headers at all.
    pub fn envoy(reply: &Reply) -> Delivery {
        match reply {
            Reply::Response { status, headers, body } => Delivery::response(*status, headers, body),
            Reply::Refused => Delivery::local(503, ENVOY_CONNECT_FAILURE_BODY),
            Reply::Timeout => Delivery::local(504, ENVOY_TIMEOUT_BODY),
            Reply::Reset => Delivery::default(),
        }
    }

    /// nginx (ngx_wasm_module): a failed dispatch arrives with zero headers and a
    /// `:dispatch_status` pseudo-header saying why.
    pub fn nginx(reply: &Reply) -> Delivery {
        let failed = |why: &str| Delivery {
            headers: vec![(b":dispatch_status".to_vec(), why.as_bytes().to_vec())],
            num_headers: 0,
            body: Vec::new(),
        };
        match reply {
            Reply::Response { status, headers, body } => Delivery::response(*status, headers, body),
            Reply::Refused => failed("broken connection"),
            Reply::Timeout => failed("timeout"),
            Reply::Reset => failed("broken connection"),
        }
    }

    fn response(status: u16, headers: &HeaderPairs, body: &[u8]) -> Delivery {
        let mut all = vec![(b":status".to_vec(), status.to_string().into_bytes())];
        all.extend(headers.iter().cloned());
        all.push((b"content-length".to_vec(), body.len().to_string().into_bytes()));
        Delivery { num_headers: all.len(), headers: all, body: body.to_vec() }
    }

    fn local(status: u16, body: &[u8]) -> Delivery {
        Delivery::response(status, &vec![(b"content-type".to_vec(), b"text/plain".to_vec())], body)
    }
}
