//! The filter's plugin configuration: JSON, validated key by key.
//!
//! Parsing walks a [`Json`] tree by hand (instead of a derived `Deserialize`) so that
//! every error names the key at fault, wrong types included, and the `.wasm` stays small.
//! The token is never echoed.
//! `docs/design.md` ("Filter configuration") is the contract this module implements.

use crate::json::{self, Json};
use std::fmt;
use thiserror::Error;

/// Longest proxy id or service name, in bytes (the flush format's limit).
pub const MAX_NAME_LEN: usize = faultline_flush::limits::MAX_NAME_LEN;
/// Largest `max_routes`: named routes plus `"other"` must fit the flush limit.
pub const MAX_ROUTES_LIMIT: u64 = (faultline_flush::limits::MAX_ROUTES - 1) as u64;
/// Largest `max_services`: services plus the overflow service must fit the flush limit.
pub const MAX_SERVICES_LIMIT: u64 = (faultline_flush::limits::MAX_SERVICES - 1) as u64;

/// A validated filter configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Name of this proxy in flushes; required when `collector` is set.
    pub proxy_id: Option<String>,
    /// Service of this route/location; overrides the host's cluster name.
    pub service: Option<String>,
    /// Service used when neither `service` nor the host names one.
    pub default_service: String,
    /// Where to flush; without it this root context only counts.
    pub collector: Option<Collector>,
    /// How often one worker flushes to the collector, in milliseconds.
    pub flush_interval_ms: u64,
    /// How often each worker merges its counts into shared data (the tick period).
    pub merge_interval_ms: u64,
    /// Most named failing routes kept per service; the rest fold into `"other"`.
    pub max_routes: usize,
    /// Most services kept; the rest fold into the overflow service.
    pub max_services: usize,
    /// Shared-data zone: every key is `<shm_zone>/<key>`.
    pub shm_zone: String,
}

/// Where and how flushes are sent.
#[derive(Clone, PartialEq, Eq)]
pub struct Collector {
    /// Envoy cluster name, or `ip:port` / `host:port` on nginx.
    pub upstream: String,
    /// `:authority` of the flush request (defaults to `upstream`).
    pub authority: String,
    /// Path of the flush request (defaults to `/v1/flush`).
    pub path: String,
    /// Bearer token; never logged.
    pub token: String,
    /// Timeout of the flush request, in milliseconds.
    pub timeout_ms: u64,
}

impl fmt::Debug for Collector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Collector")
            .field("upstream", &self.upstream)
            .field("authority", &self.authority)
            .field("path", &self.path)
            .field("token", &"<redacted>")
            .field("timeout_ms", &self.timeout_ms)
            .finish()
    }
}

/// Why a configuration was refused. The message names the key at fault and never
/// contains the token.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConfigError {
    /// No configuration at all (or only whitespace).
    #[error("configuration is empty: expected a JSON object")]
    Empty,
    /// Not JSON.
    #[error("configuration is not valid JSON: {0}")]
    Syntax(String),
    /// JSON, but not an object.
    #[error("configuration must be a JSON object")]
    NotObject,
    /// A key this version does not know.
    #[error("unknown key `{0}`")]
    UnknownKey(String),
    /// A key holding a value of the wrong JSON type.
    #[error("`{key}` must be {expected}")]
    WrongType {
        /// The key at fault (`collector.timeout_ms` for nested keys).
        key: String,
        /// What it must be.
        expected: &'static str,
    },
    /// A key holding a value out of range or malformed.
    #[error("`{key}` {reason}")]
    BadValue {
        /// The key at fault.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A required key is absent.
    #[error("`{0}` is required")]
    Missing(String),
}

impl ConfigError {
    /// The key at fault, when the error is about one key.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::UnknownKey(k) | ConfigError::Missing(k) => Some(k),
            ConfigError::WrongType { key, .. } | ConfigError::BadValue { key, .. } => Some(key),
            _ => None,
        }
    }
}

const TOP_KEYS: &[&str] = &[
    "proxy_id",
    "service",
    "default_service",
    "collector",
    "flush_interval_ms",
    "merge_interval_ms",
    "max_routes",
    "max_services",
    "shm_zone",
];
const COLLECTOR_KEYS: &[&str] = &["upstream", "authority", "path", "token", "timeout_ms"];

/// Parses and validates a plugin configuration (the bytes the proxy passes to
/// `on_configure`). Used by the filter and, natively, by tests that check proxy configs.
pub fn parse(bytes: &[u8]) -> Result<Config, ConfigError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ConfigError::Empty);
    }
    let value = json::parse(bytes).map_err(ConfigError::Syntax)?;
    let Json::Obj(map) = value else {
        return Err(ConfigError::NotObject);
    };
    check_keys(&map, TOP_KEYS, "")?;

    let proxy_id = opt_name(&map, "proxy_id")?;
    let service = opt_name(&map, "service")?;
    let default_service = opt_name(&map, "default_service")?.unwrap_or_else(|| "unknown".into());
    let flush_interval_ms = int(&map, "flush_interval_ms", 5000, 100, 3_600_000)?;
    let merge_interval_ms = int(&map, "merge_interval_ms", 1000, 10, 60_000)?;
    if merge_interval_ms > flush_interval_ms {
        return Err(ConfigError::BadValue {
            key: "merge_interval_ms".into(),
            reason: format!(
                "({merge_interval_ms}) must not exceed flush_interval_ms ({flush_interval_ms})"
            ),
        });
    }
    let max_routes = int(&map, "max_routes", 32, 1, MAX_ROUTES_LIMIT)?;
    let max_services = int(&map, "max_services", 64, 1, MAX_SERVICES_LIMIT)?;
    let shm_zone = opt_string(&map, "shm_zone")?.unwrap_or_else(|| "faultline".into());
    check_zone(&shm_zone)?;

    let collector = match get(&map, "collector") {
        None => None,
        Some(Json::Obj(c)) => Some(parse_collector(c)?),
        Some(_) => {
            return Err(ConfigError::WrongType {
                key: "collector".into(),
                expected: "an object",
            });
        }
    };
    if collector.is_some() && proxy_id.is_none() {
        return Err(ConfigError::Missing("proxy_id".into()));
    }
    Ok(Config {
        proxy_id,
        service,
        default_service,
        collector,
        flush_interval_ms,
        merge_interval_ms,
        // Bounded above by 255, so these conversions cannot truncate.
        max_routes: usize::try_from(max_routes).unwrap_or(1),
        max_services: usize::try_from(max_services).unwrap_or(1),
        shm_zone,
    })
}

fn parse_collector(map: &Map) -> Result<Collector, ConfigError> {
    check_keys(map, COLLECTOR_KEYS, "collector.")?;
    let upstream = opt_string(map, "collector.upstream")?
        .ok_or_else(|| ConfigError::Missing("collector.upstream".into()))?;
    check_header_value("collector.upstream", &upstream, 255, true)?;
    let authority = opt_string(map, "collector.authority")?.unwrap_or_else(|| upstream.clone());
    check_header_value("collector.authority", &authority, 255, true)?;
    let path =
        opt_string(map, "collector.path")?.unwrap_or_else(|| faultline_flush::INGEST_PATH.into());
    check_header_value("collector.path", &path, 1024, true)?;
    if !path.starts_with('/') {
        return Err(bad("collector.path", "must start with '/'"));
    }
    let token = opt_string(map, "collector.token")?
        .ok_or_else(|| ConfigError::Missing("collector.token".into()))?;
    // Checked without echoing the value.
    check_header_value("collector.token", &token, 4096, false)?;
    let timeout_ms = int(map, "collector.timeout_ms", 2000, 1, 60_000)?;
    Ok(Collector {
        upstream,
        authority,
        path,
        token,
        timeout_ms,
    })
}

/// Looks a key up by its full dotted name (`collector.token` -> `token` in `map`).
fn get<'a>(map: &'a Map, key: &str) -> Option<&'a Json> {
    let leaf = key.rsplit('.').next().unwrap_or(key);
    map.iter().find(|(k, _)| k == leaf).map(|(_, v)| v)
}

type Map = [(String, Json)];

fn check_keys(map: &Map, known: &[&str], prefix: &str) -> Result<(), ConfigError> {
    match map
        .iter()
        .map(|(k, _)| k)
        .find(|k| !known.contains(&k.as_str()))
    {
        Some(k) => Err(ConfigError::UnknownKey(format!("{prefix}{k}"))),
        None => Ok(()),
    }
}

fn opt_string(map: &Map, key: &str) -> Result<Option<String>, ConfigError> {
    match get(map, key) {
        None => Ok(None),
        Some(Json::Str(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ConfigError::WrongType {
            key: key.into(),
            expected: "a string",
        }),
    }
}

fn opt_name(map: &Map, key: &str) -> Result<Option<String>, ConfigError> {
    let Some(s) = opt_string(map, key)? else {
        return Ok(None);
    };
    if s.is_empty() {
        return Err(bad(key, "must not be empty"));
    }
    if s.len() > MAX_NAME_LEN {
        return Err(bad(key, &format!("is longer than {MAX_NAME_LEN} bytes")));
    }
    if s.chars().any(char::is_control) {
        return Err(bad(key, "must not contain control characters"));
    }
    Ok(Some(s))
}

fn int(map: &Map, key: &str, default: u64, min: u64, max: u64) -> Result<u64, ConfigError> {
    let Some(v) = get(map, key) else {
        return Ok(default);
    };
    let Json::Num(Some(n)) = *v else {
        return Err(ConfigError::WrongType {
            key: key.into(),
            expected: "a non-negative integer",
        });
    };
    if n < min || n > max {
        return Err(bad(
            key,
            &format!("is {n}, must be between {min} and {max}"),
        ));
    }
    Ok(n)
}

fn check_zone(zone: &str) -> Result<(), ConfigError> {
    if zone.is_empty() || zone.len() > 64 {
        return Err(bad("shm_zone", "must be 1 to 64 bytes long"));
    }
    if !zone.bytes().all(|b| b.is_ascii_graphic() && b != b'/') {
        return Err(bad(
            "shm_zone",
            "must be printable ASCII without '/' or spaces",
        ));
    }
    Ok(())
}

fn check_header_value(key: &str, v: &str, max: usize, no_spaces: bool) -> Result<(), ConfigError> {
    if v.is_empty() {
        return Err(bad(key, "must not be empty"));
    }
    if v.len() > max {
        return Err(bad(key, &format!("is longer than {max} bytes")));
    }
    if v.chars()
        .any(|c| c.is_control() || (no_spaces && c.is_whitespace()))
    {
        let what = if no_spaces {
            "must not contain spaces or control characters"
        } else {
            "must not contain control characters"
        };
        return Err(bad(key, what));
    }
    Ok(())
}

fn bad(key: &str, reason: &str) -> ConfigError {
    ConfigError::BadValue {
        key: key.into(),
        reason: reason.into(),
    }
}

#[cfg(test)]
mod tests {
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
        let c = parse(br#"{"proxy_id":"p","collector":{"upstream":"127.0.0.1:9","token":"t"}}"#)
            .unwrap();
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
        assert_eq!(
            err(r#"{"servcie":"be"}"#),
            ConfigError::UnknownKey("servcie".into())
        );
        let e = err(r#"{"proxy_id":"p","collector":{"upstream":"u","token":"t","retries":3}}"#);
        assert_eq!(e.key(), Some("collector.retries"));
    }

    #[test]
    fn wrong_types_are_named() {
        assert_eq!(err(r#"{"max_routes":"32"}"#).key(), Some("max_routes"));
        assert_eq!(err(r#"{"max_routes":3.5}"#).key(), Some("max_routes"));
        assert_eq!(
            err(r#"{"flush_interval_ms":-1}"#).key(),
            Some("flush_interval_ms")
        );
        assert_eq!(err(r#"{"service":7}"#).key(), Some("service"));
        assert_eq!(err(r#"{"collector":"x"}"#).key(), Some("collector"));
        let e =
            err(r#"{"proxy_id":"p","collector":{"upstream":"u","token":"t","timeout_ms":"2s"}}"#);
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
            (
                r#"{"proxy_id":"p","collector":{"upstream":"u","token":""}}"#,
                "collector.token",
            ),
            (
                r#"{"proxy_id":"p","collector":{"upstream":"u","token":"t","path":"v1"}}"#,
                "collector.path",
            ),
            (
                r#"{"proxy_id":"p","collector":{"upstream":"a b","token":"t"}}"#,
                "collector.upstream",
            ),
            (
                r#"{"proxy_id":"p","collector":{"upstream":"u","token":"t","timeout_ms":0}}"#,
                "collector.timeout_ms",
            ),
        ] {
            assert_eq!(err(json).key(), Some(key), "{json}");
        }
        let long = format!(r#"{{"service":"{}"}}"#, "s".repeat(129));
        assert_eq!(err(&long).key(), Some("service"));
    }

    #[test]
    fn collector_needs_token_upstream_and_proxy_id() {
        assert_eq!(
            err(r#"{"proxy_id":"p","collector":{"upstream":"u"}}"#),
            ConfigError::Missing("collector.token".into())
        );
        assert_eq!(
            err(r#"{"proxy_id":"p","collector":{"token":"t"}}"#),
            ConfigError::Missing("collector.upstream".into())
        );
        assert_eq!(
            err(r#"{"collector":{"upstream":"u","token":"t"}}"#),
            ConfigError::Missing("proxy_id".into())
        );
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
}
