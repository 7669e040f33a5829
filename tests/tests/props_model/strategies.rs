//! The proptest strategies that draw scenarios (weights: mostly ordinary traffic, with
//! every kind of fault often enough to meet each other within one case).

use faultline_tests::host::Exit;
use proptest::prelude::*;

use super::scenario::{Answer, BadCfg, Cfg, EndSpec, HeaderSpec, Op, PathSpec, Req, SERVICES, Scenario, ValidCfg};

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
        .prop_map(|(service, default_service, max_routes, max_services, merge_ms, flush_ms, collector)| ValidCfg {
            service,
            default_service,
            max_routes,
            max_services,
            merge_ms,
            flush_ms,
            collector,
        })
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
        (prop::collection::vec(any::<u8>(), 0..8), prop::collection::vec(any::<u8>(), 0..16))
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
    (1usize..=3, any::<bool>(), prop::collection::vec(valid_cfg(), 4), prop::collection::vec(op(), 1..max_ops))
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
            Scenario { envoy, workers, main_thread_ticker, configs, ops }
        })
}
