use super::*;

const FULL: &str = r#"{
  "proxy_id": "edge-1", "service": "be", "default_service": "unknown",
  "collector": {"upstream": "faultline_collector", "authority": "faultline-collector",
                "path": "/v1/flush", "token": "s3cret-token", "timeout_ms": 2000},
  "flush_interval_ms": 5000, "merge_interval_ms": 1000, "max_routes": 32,
  "max_services": 64, "shm_zone": "faultline"}"#;

fn err(json: &str) -> ConfigError {
    parse(json.as_bytes()).unwrap_err()
}

#[test]
fn parses_the_documented_example() {
    let c = parse(FULL.as_bytes()).unwrap();
    assert_eq!(c.proxy_id.as_deref(), Some("edge-1"));
    assert_eq!(c.service.as_deref(), Some("be"));
    let col = c.collector.unwrap();
    assert_eq!(col.upstream, "faultline_collector");
    assert_eq!(col.authority, "faultline-collector");
    assert_eq!(col.token, "s3cret-token");
    assert_eq!((c.max_routes, c.max_services), (32, 64));
}

#[test]
fn defaults_fill_an_empty_object() {
    let c = parse(b"{}").unwrap();
    assert_eq!(c.default_service, "unknown");
    assert_eq!(c.shm_zone, "faultline");
    assert_eq!((c.flush_interval_ms, c.merge_interval_ms), (5000, 1000));
    assert_eq!((c.max_routes, c.max_services), (32, 64));
    assert!(c.collector.is_none() && c.service.is_none() && c.proxy_id.is_none());
    let c = parse(br#"{"proxy_id":"p","collector":{"upstream":"127.0.0.1:9","token":"t"}}"#).unwrap();
    let col = c.collector.unwrap();
    assert_eq!(col.authority, "127.0.0.1:9");
    assert_eq!(col.path, "/v1/flush");
    assert_eq!(col.timeout_ms, 2000);
}

#[test]
fn empty_and_non_objects_are_refused() {
    assert_eq!(parse(b""), Err(ConfigError::Empty));
    assert_eq!(parse(b"  \n"), Err(ConfigError::Empty));
    assert_eq!(parse(b"[]"), Err(ConfigError::NotObject));
    assert!(matches!(parse(b"{\"a\""), Err(ConfigError::Syntax(_))));
    assert!(matches!(parse(&[0xff, 0xfe]), Err(ConfigError::Syntax(_))));
}

#[test]
fn unknown_keys_are_named() {
    assert_eq!(err(r#"{"servcie":"be"}"#), ConfigError::UnknownKey("servcie".into()));
    let e = err(r#"{"proxy_id":"p","collector":{"upstream":"u","token":"t","retries":3}}"#);
    assert_eq!(e.key(), Some("collector.retries"));
}

#[test]
fn wrong_types_are_named() {
    assert_eq!(err(r#"{"max_routes":"32"}"#).key(), Some("max_routes"));
    assert_eq!(err(r#"{"max_routes":3.5}"#).key(), Some("max_routes"));
    assert_eq!(err(r#"{"flush_interval_ms":-1}"#).key(), Some("flush_interval_ms"));
    assert_eq!(err(r#"{"service":7}"#).key(), Some("service"));
    assert_eq!(err(r#"{"collector":"x"}"#).key(), Some("collector"));
    let e = err(r#"{"proxy_id":"p","collector":{"upstream":"u","token":"t","timeout_ms":"2s"}}"#);
    assert_eq!(e.key(), Some("collector.timeout_ms"));
    assert!(e.to_string().contains("collector.timeout_ms"));
}

#[test]
fn bad_values_are_named() {
    for (json, key) in [
        (r#"{"max_routes":0}"#, "max_routes"),
        (r#"{"max_routes":256}"#, "max_routes"),
        (r#"{"max_services":0}"#, "max_services"),
        (r#"{"flush_interval_ms":0}"#, "flush_interval_ms"),
        (r#"{"merge_interval_ms":0}"#, "merge_interval_ms"),
        (r#"{"merge_interval_ms":6000}"#, "merge_interval_ms"),
        (r#"{"service":""}"#, "service"),
        (r#"{"default_service":"a\u0001b"}"#, "default_service"),
        (r#"{"shm_zone":"a/b"}"#, "shm_zone"),
        (r#"{"shm_zone":""}"#, "shm_zone"),
        (r#"{"proxy_id":"p","collector":{"upstream":"u","token":""}}"#, "collector.token"),
        (r#"{"proxy_id":"p","collector":{"upstream":"u","token":"t","path":"v1"}}"#, "collector.path"),
        (r#"{"proxy_id":"p","collector":{"upstream":"a b","token":"t"}}"#, "collector.upstream"),
        (r#"{"proxy_id":"p","collector":{"upstream":"u","token":"t","timeout_ms":0}}"#, "collector.timeout_ms"),
    ] {
        assert_eq!(err(json).key(), Some(key), "{json}");
    }
    let long = format!(r#"{{"service":"{}"}}"#, "s".repeat(129));
    assert_eq!(err(&long).key(), Some("service"));
}

#[test]
fn collector_needs_token_upstream_and_proxy_id() {
    assert_eq!(err(r#"{"proxy_id":"p","collector":{"upstream":"u"}}"#), ConfigError::Missing("collector.token".into()));
    assert_eq!(err(r#"{"proxy_id":"p","collector":{"token":"t"}}"#), ConfigError::Missing("collector.upstream".into()));
    assert_eq!(err(r#"{"collector":{"upstream":"u","token":"t"}}"#), ConfigError::Missing("proxy_id".into()));
}

#[test]
fn the_token_is_never_echoed() {
    let secret = "tok\u{0007}en-SECRET";
    let json = format!(
        r#"{{"proxy_id":"p","collector":{{"upstream":"u","token":{}}}}}"#,
        serde_json::to_string(secret).unwrap()
    );
    let e = err(&json);
    assert_eq!(e.key(), Some("collector.token"));
    assert!(!e.to_string().contains("SECRET"));
    let ok = parse(FULL.as_bytes()).unwrap();
    assert!(!format!("{ok:?}").contains("s3cret"));
}

#[test]
fn exemplar_keys_have_defaults_and_are_checked() {
    let c = parse(b"{}").unwrap();
    assert!(c.exemplars && c.raw_path);
    assert_eq!(c.request_id_header, "x-request-id");
    let c = parse(br#"{"exemplars":false,"raw_path":false,"request_id_header":"x-correlation-id"}"#).unwrap();
    assert!(!c.exemplars && !c.raw_path);
    assert_eq!(c.request_id_header, "x-correlation-id");
    assert_eq!(err(r#"{"raw_path":"no"}"#).key(), Some("raw_path"));
    assert_eq!(err(r#"{"request_id_header":"X-Request-ID"}"#).key(), Some("request_id_header"));
    assert_eq!(err(r#"{"request_id_header":""}"#).key(), Some("request_id_header"));
}
