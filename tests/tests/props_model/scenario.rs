//! What the property tests throw at the filter, as compact specs (so a failing case prints
//! readably and shrinks well) and the proptest strategies that generate them.

use faultline_tests::host::Exit;
use faultline_tests::host::kit::TOKEN;
use proptest::prelude::*;
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
        let upstream = if envoy {
            "faultline_collector"
        } else {
            "127.0.0.1:9"
        };
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
            Cfg::Invalid(BadCfg::NoToken) => {
                with("collector", json!({"upstream": upstream, "authority": "x"}))
            }
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

fn service() -> impl Strategy<Value = Option<&'static str>> {
    prop_oneof![
        2 => Just(None),
        3 => (0..SERVICES.len()).prop_map(|i| SERVICES.get(i).copied()),
    ]
}

pub fn valid_cfg() -> impl Strategy<Value = ValidCfg> {
    (
        service(),
        prop_oneof![Just("unknown"), Just("fallback")],
        prop_oneof![Just(1usize), Just(2), Just(3), Just(32)],
        prop_oneof![8 => Just(64usize), 1 => Just(1), 1 => Just(2)],
        prop_oneof![Just(100u64), Just(250), Just(1_000)],
        prop_oneof![Just(1_000u64), Just(2_000), Just(5_000)],
        prop::bool::weighted(0.9),
    )
        .prop_map(
            |(
                service,
                default_service,
                max_routes,
                max_services,
                merge_ms,
                flush_ms,
                collector,
            )| {
                ValidCfg {
                    service,
                    default_service,
                    max_routes,
                    max_services,
                    merge_ms,
                    flush_ms,
                    collector,
                }
            },
        )
}

pub fn cfg() -> impl Strategy<Value = Cfg> {
    prop_oneof![
        4 => valid_cfg().prop_map(Cfg::Valid),
        1 => prop_oneof![
            Just(BadCfg::UnknownKey),
            Just(BadCfg::WrongType),
            Just(BadCfg::Empty),
            Just(BadCfg::NotJson),
            Just(BadCfg::MaxRoutesZero),
            Just(BadCfg::MergeAboveFlush),
            Just(BadCfg::NoToken),
        ]
        .prop_map(Cfg::Invalid),
    ]
}

fn method() -> impl Strategy<Value = Option<Vec<u8>>> {
    prop_oneof![
        6 => Just(Some(b"GET".to_vec())),
        2 => Just(Some(b"POST".to_vec())),
        1 => Just(Some(b"delete".to_vec())),
        1 => Just(Some(b"BREW".to_vec())),
        1 => Just(Some(Vec::new())),
        1 => Just(Some(vec![0xff, b'G', 0x00])),
        1 => Just(None),
    ]
}

fn path() -> impl Strategy<Value = PathSpec> {
    prop_oneof![
        6 => any::<u32>().prop_map(PathSpec::Users),
        5 => (any::<u8>(), any::<u32>()).prop_map(|(w, n)| PathSpec::Api(w, n)),
        4 => "[g-k]{1,2}".prop_map(PathSpec::Letters),
        2 => prop::collection::vec(any::<u8>(), 0..12).prop_map(PathSpec::Raw),
        1 => (16_384usize..100_000).prop_map(PathSpec::Huge),
        1 => (16_384usize..100_000).prop_map(PathSpec::HugeQuery),
        1 => Just(PathSpec::Raw(b"*".to_vec())),
        1 => Just(PathSpec::Missing),
    ]
}

fn cluster() -> impl Strategy<Value = Option<Vec<u8>>> {
    prop_oneof![
        4 => Just(Some(b"be".to_vec())),
        3 => Just(Some(b"fe".to_vec())),
        2 => Just(Some(b"ai".to_vec())),
        1 => Just(Some(Vec::new())),
        1 => Just(Some(b"b\xffe\n".to_vec())),
        1 => Just(Some(vec![b'c'; 300])),
        2 => Just(None),
    ]
}

fn header() -> impl Strategy<Value = HeaderSpec> {
    prop_oneof![
        (1usize..70_000).prop_map(HeaderSpec::Big),
        (
            prop::collection::vec(any::<u8>(), 0..8),
            prop::collection::vec(any::<u8>(), 0..16)
        )
            .prop_map(|(k, v)| HeaderSpec::Binary(k, v)),
    ]
}

fn status() -> impl Strategy<Value = Option<Vec<u8>>> {
    let code = |c: u16| Just(Some(c.to_string().into_bytes()));
    prop_oneof![
        8 => code(200),
        1 => code(204),
        1 => code(301),
        3 => code(404),
        1 => code(429),
        1 => code(499),
        3 => code(500),
        2 => code(502),
        4 => code(503),
        1 => code(504),
        2 => (100u16..1000).prop_map(|c| Some(c.to_string().into_bytes())),
        1 => prop::collection::vec(any::<u8>(), 0..5).prop_map(Some),
        1 => prop_oneof![
            Just(b"abc".to_vec()),
            Just(b"5000".to_vec()),
            Just(b" 500".to_vec()),
            Just(b"050".to_vec()),
            Just(b"5x0".to_vec()),
            Just(b"+50".to_vec()),
            Just(vec![0xff, b'5', b'0']),
        ]
        .prop_map(Some),
        1 => Just(None),
    ]
}

fn end() -> impl Strategy<Value = EndSpec> {
    prop_oneof![
        12 => status().prop_map(EndSpec::Respond),
        2 => Just(EndSpec::NoResponse(None)),
        1 => prop_oneof![
            Just(499i64),
            Just(503),
            Just(502),
            Just(200),
            Just(404),
            Just(0),
            Just(-1),
            Just(5_000),
            Just(12_345_678),
        ]
        .prop_map(|c| EndSpec::NoResponse(Some(c))),
    ]
}

pub fn req() -> impl Strategy<Value = Req> {
    (
        0usize..8,
        method(),
        path(),
        cluster(),
        prop::collection::vec(header(), 0..3),
        end(),
        prop_oneof![4 => Just(1u8), 1 => 2u8..40],
    )
        .prop_map(|(worker, method, path, cluster, headers, end, times)| Req {
            worker,
            method,
            path,
            cluster,
            headers,
            end,
            times,
        })
}

fn answer() -> impl Strategy<Value = Answer> {
    prop_oneof![
        4 => Just(Answer::Accept),
        1 => Just(Answer::Status(503)),
        1 => Just(Answer::Status(500)),
        1 => Just(Answer::Status(400)),
        1 => Just(Answer::Status(401)),
        1 => Just(Answer::Refused),
        1 => Just(Answer::Reset),
        2 => Just(Answer::Silent),
    ]
}

fn exit() -> impl Strategy<Value = Exit> {
    prop_oneof![3 => Just(Exit::Graceful), 1 => Just(Exit::Abrupt)]
}

pub fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        50 => req().prop_map(Op::Request),
        16 => (1u64..3_000).prop_map(Op::Advance),
        5 => answer().prop_map(Op::Collector),
        1 => prop_oneof![Just(20_000u64), Just(120_000), Just(600_000)].prop_map(Op::Jump),
        2 => prop_oneof![
            Just(3_600_000i64),
            Just(30 * 86_400_000),
            Just(-4_000),
            Just(-3_600_000),
        ]
        .prop_map(Op::WallStep),
        4 => (0usize..8, cfg()).prop_map(|(vm, c)| Op::Reconfigure(vm, c)),
        4 => (0usize..8, exit(), prop::option::weighted(0.5, cfg()))
            .prop_map(|(vm, e, c)| Op::Restart(vm, e, c)),
        1 => Just(Op::Wipe),
        2 => Just(Op::Settle),
        3 => prop_oneof![1 => Just(None), 3 => (1u64..=3).prop_map(Some)].prop_map(Op::Race),
    ]
}

/// A proxy of 1 to 3 workers (Envoy: maybe with its main-thread ticker), each VM with a
/// valid configuration (nginx: a service per VM, as per `location`), and up to `max_ops`
/// steps.
pub fn scenario(envoy: bool, max_ops: usize) -> impl Strategy<Value = Scenario> {
    (
        1usize..=3,
        any::<bool>(),
        prop::collection::vec(valid_cfg(), 4),
        prop::collection::vec(op(), 1..max_ops),
    )
        .prop_map(move |(workers, main, cfgs, ops)| {
            let main_thread_ticker = envoy && main;
            let vms = workers + usize::from(main_thread_ticker);
            // Envoy runs one plugin configuration on every worker; nginx's may differ per
            // `location`. VM 0 always flushes, so that a flush happens at all.
            let configs = cfgs
                .iter()
                .take(vms)
                .enumerate()
                .map(|(i, c)| {
                    let mut c = if envoy { cfgs.first().unwrap_or(c) } else { c }.clone();
                    c.collector |= envoy || i == 0;
                    Cfg::Valid(c)
                })
                .collect();
            Scenario {
                envoy,
                workers,
                main_thread_ticker,
                configs,
                ops,
            }
        })
}
