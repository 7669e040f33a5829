//! What the property tests throw at the filter, as compact specs: a failing case prints
//! readably and shrinks well. The strategies that draw them are in `strategies.rs`.

use faultline_tests::host::Exit;
use faultline_tests::host::kit::TOKEN;
use serde_json::{Value, json};

/// Service names a configuration can set (nginx sets one per `location`).
pub const SERVICES: [&str; 3] = ["be", "fe", "ai"];

/// A valid filter configuration (every one counts in zone `faultline` as proxy `edge-1`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidCfg {
    pub service: Option<&'static str>,
    pub default_service: &'static str,
    pub max_routes: usize,
    pub max_services: usize,
    pub merge_ms: u64,
    pub flush_ms: u64,
    /// Without a collector the VM counts and merges but never flushes.
    pub collector: bool,
}

impl ValidCfg {
    /// The configuration every proxy starts from when nothing else is drawn.
    pub fn base(service: Option<&'static str>) -> ValidCfg {
        ValidCfg {
            service,
            default_service: "unknown",
            max_routes: 32,
            max_services: 64,
            merge_ms: 250,
            flush_ms: 1_000,
            collector: true,
        }
    }
}

/// A configuration the filter must refuse (then it passes traffic uncounted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadCfg {
    UnknownKey,
    WrongType,
    Empty,
    NotJson,
    MaxRoutesZero,
    MergeAboveFlush,
    NoToken,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cfg {
    Valid(ValidCfg),
    Invalid(BadCfg),
}

impl Cfg {
    pub fn valid(&self) -> Option<&ValidCfg> {
        match self {
            Cfg::Valid(v) => Some(v),
            Cfg::Invalid(_) => None,
        }
    }

    /// The plugin configuration text for this host.
    pub fn render(&self, envoy: bool) -> String {
        let upstream = if envoy { "faultline_collector" } else { "127.0.0.1:9" };
        let collector = json!({
            "upstream": upstream,
            "authority": "faultline-collector",
            "token": TOKEN,
            "timeout_ms": 2000
        });
        let base = |v: &ValidCfg| {
            let mut c = json!({
                "proxy_id": "edge-1",
                "default_service": v.default_service,
                "flush_interval_ms": v.flush_ms,
                "merge_interval_ms": v.merge_ms,
                "max_routes": v.max_routes,
                "max_services": v.max_services,
                "shm_zone": "faultline"
            });
            if let Some(obj) = c.as_object_mut() {
                if let Some(s) = v.service {
                    obj.insert("service".into(), json!(s));
                }
                if v.collector {
                    obj.insert("collector".into(), collector.clone());
                }
            }
            c
        };
        let with = |key: &str, value: Value| {
            let mut c = base(&ValidCfg::base(Some("be")));
            if let Some(obj) = c.as_object_mut() {
                obj.insert(key.into(), value);
            }
            c.to_string()
        };
        match self {
            Cfg::Valid(v) => base(v).to_string(),
            Cfg::Invalid(BadCfg::UnknownKey) => with("max_route", json!(4)),
            Cfg::Invalid(BadCfg::WrongType) => with("max_routes", json!("32")),
            Cfg::Invalid(BadCfg::Empty) => String::new(),
            Cfg::Invalid(BadCfg::NotJson) => "{\"proxy_id\": \"edge-1\",".into(),
            Cfg::Invalid(BadCfg::MaxRoutesZero) => with("max_routes", json!(0)),
            Cfg::Invalid(BadCfg::MergeAboveFlush) => with("merge_interval_ms", json!(5_000)),
            Cfg::Invalid(BadCfg::NoToken) => with("collector", json!({"upstream": upstream, "authority": "x"})),
        }
    }
}

/// A request path, materialized at run time ([`PathSpec::bytes`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathSpec {
    /// `/users/<n>/orders`: one route whatever `n`.
    Users(u32),
    /// `/api/<word>?q=<n>`: a handful of routes.
    Api(u8, u32),
    /// `/x/<letters>`: as many routes as letter strings (fills any route table).
    Letters(String),
    /// Arbitrary short bytes (non-UTF-8, control characters, no leading slash...).
    Raw(Vec<u8>),
    /// `/seg/seg/...` of this many bytes (far past every route bound).
    Huge(usize),
    /// `/q?xxxx...` with a query of this many bytes.
    HugeQuery(usize),
    /// No `:path` header at all.
    Missing,
}

const WORDS: [&str; 5] = ["health", "items", "login", "search", "cart"];

impl PathSpec {
    pub fn bytes(&self) -> Option<Vec<u8>> {
        Some(match self {
            PathSpec::Users(n) => format!("/users/{n}/orders").into_bytes(),
            PathSpec::Api(w, n) => {
                let word = WORDS.get(usize::from(*w) % WORDS.len()).unwrap_or(&"x");
                format!("/api/{word}?q={n}").into_bytes()
            }
            PathSpec::Letters(l) => format!("/x/{l}").into_bytes(),
            PathSpec::Raw(b) => b.clone(),
            PathSpec::Huge(n) => {
                let mut p = "/seg".repeat(n / 4 + 1).into_bytes();
                p.truncate((*n).max(1));
                p
            }
            PathSpec::HugeQuery(n) => {
                let mut p = b"/q?".to_vec();
                p.resize(n + 3, b'x');
                p
            }
            PathSpec::Missing => return None,
        })
    }
}

/// An extra request header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderSpec {
    /// `x-big` with a value of this many bytes.
    Big(usize),
    /// Arbitrary bytes as name and value.
    Binary(Vec<u8>, Vec<u8>),
}

impl HeaderSpec {
    pub fn pair(&self) -> (Vec<u8>, Vec<u8>) {
        match self {
            HeaderSpec::Big(n) => (b"x-big".to_vec(), vec![b'a'; *n]),
            HeaderSpec::Binary(k, v) => (k.clone(), v.clone()),
        }
    }
}

/// How a stream ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndSpec {
    /// A response whose `:status` header is these bytes (`None`: no `:status`).
    Respond(Option<Vec<u8>>),
    /// No response headers; the host's `response.code` is this number (`None`: absent),
    /// encoded as the host does (Envoy 8-byte LE, nginx text).
    NoResponse(Option<i64>),
}

/// One request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Req {
    /// Raw index of the worker (taken modulo the number of workers).
    pub worker: usize,
    /// `:method` bytes (`None`: no `:method`).
    pub method: Option<Vec<u8>>,
    pub path: PathSpec,
    /// Envoy's `xds.cluster_name` bytes (ignored on nginx, which has none).
    pub cluster: Option<Vec<u8>>,
    pub headers: Vec<HeaderSpec>,
    pub end: EndSpec,
    /// Sent this many times in a row.
    pub times: u8,
}

/// How the collector answers flushes from now on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Accept,
    Status(u16),
    Refused,
    Reset,
    /// Never answers: the proxy times the call out.
    Silent,
}

/// One step of a scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Request(Req),
    /// Time passes (ms), in steps of at most 100 ms, answering calls as they come.
    Advance(u64),
    Collector(Answer),
    /// A long stretch (ms) in one go: every tick runs, every call times out.
    Jump(u64),
    /// The wall clock steps (ms, either way); ticks keep their pace.
    WallStep(i64),
    /// `proxy_on_configure` again on a VM (raw index, modulo the VMs).
    Reconfigure(usize, Cfg),
    /// A VM replaced by a new one over the same shared data, with a new configuration or
    /// its last one.
    Restart(usize, Exit, Option<Cfg>),
    /// Shared memory wiped and every VM new (`nginx -s reload`, a proxy restart).
    Wipe,
    /// Run until everything counted is merged and flushed; the flush must equal the model.
    Settle,
    /// From now on, every n-th shared-data write pauses while another VM ticks (`None`:
    /// no more).
    Race(Option<u64>),
}

/// A whole run: the proxy and what happens to it.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub envoy: bool,
    pub workers: usize,
    pub main_thread_ticker: bool,
    /// Configuration of each VM (workers, then Envoy's main thread).
    pub configs: Vec<Cfg>,
    pub ops: Vec<Op>,
}
