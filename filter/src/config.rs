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
/// The shared-data zone when `shm_zone` is not given.
pub const DEFAULT_ZONE: &str = "faultline";

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
    /// Whether 5xx responses are sampled as exemplars (request id, upstream, duration...).
    pub exemplars: bool,
    /// Whether exemplars carry the raw path (never its query string); off: the route only.
    pub raw_path: bool,
    /// The request header whose value is an exemplar's request id (lowercase).
    pub request_id_header: String,
}

/// The request-id header when `request_id_header` is not given (Envoy's own).
pub const DEFAULT_REQUEST_ID_HEADER: &str = "x-request-id";

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
    "exemplars",
    "raw_path",
    "request_id_header",
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
            reason: format!("({merge_interval_ms}) must not exceed flush_interval_ms ({flush_interval_ms})"),
        });
    }
    let max_routes = int(&map, "max_routes", 32, 1, MAX_ROUTES_LIMIT)?;
    let max_services = int(&map, "max_services", 64, 1, MAX_SERVICES_LIMIT)?;
    let shm_zone = opt_string(&map, "shm_zone")?.unwrap_or_else(|| DEFAULT_ZONE.into());
    check_zone(&shm_zone)?;
    let exemplars = opt_bool(&map, "exemplars")?.unwrap_or(true);
    let raw_path = opt_bool(&map, "raw_path")?.unwrap_or(true);
    let request_id_header = opt_string(&map, "request_id_header")?.unwrap_or_else(|| DEFAULT_REQUEST_ID_HEADER.into());
    let token = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_';
    if request_id_header.is_empty() || request_id_header.len() > 64 || !request_id_header.bytes().all(token) {
        return Err(bad("request_id_header", "must be 1 to 64 bytes of lowercase letters, digits, '-' or '_'"));
    }

    let collector = match get(&map, "collector") {
        None => None,
        Some(Json::Obj(c)) => Some(parse_collector(c)?),
        Some(_) => {
            return Err(ConfigError::WrongType { key: "collector".into(), expected: "an object" });
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
        exemplars,
        raw_path,
        request_id_header,
    })
}

fn parse_collector(map: &Map) -> Result<Collector, ConfigError> {
    check_keys(map, COLLECTOR_KEYS, "collector.")?;
    let upstream =
        opt_string(map, "collector.upstream")?.ok_or_else(|| ConfigError::Missing("collector.upstream".into()))?;
    check_header_value("collector.upstream", &upstream, 255, true)?;
    let authority = opt_string(map, "collector.authority")?.unwrap_or_else(|| upstream.clone());
    check_header_value("collector.authority", &authority, 255, true)?;
    let path = opt_string(map, "collector.path")?.unwrap_or_else(|| faultline_flush::INGEST_PATH.into());
    check_header_value("collector.path", &path, 1024, true)?;
    if !path.starts_with('/') {
        return Err(bad("collector.path", "must start with '/'"));
    }
    let token = opt_string(map, "collector.token")?.ok_or_else(|| ConfigError::Missing("collector.token".into()))?;
    // Checked without echoing the value.
    check_header_value("collector.token", &token, 4096, false)?;
    let timeout_ms = int(map, "collector.timeout_ms", 2000, 1, 60_000)?;
    Ok(Collector { upstream, authority, path, token, timeout_ms })
}

/// Looks a key up by its full dotted name (`collector.token` -> `token` in `map`).
fn get<'a>(map: &'a Map, key: &str) -> Option<&'a Json> {
    let leaf = key.rsplit('.').next().unwrap_or(key);
    map.iter().find(|(k, _)| k == leaf).map(|(_, v)| v)
}

type Map = [(String, Json)];

fn check_keys(map: &Map, known: &[&str], prefix: &str) -> Result<(), ConfigError> {
    match map.iter().map(|(k, _)| k).find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(ConfigError::UnknownKey(format!("{prefix}{k}"))),
        None => Ok(()),
    }
}

fn opt_string(map: &Map, key: &str) -> Result<Option<String>, ConfigError> {
    match get(map, key) {
        None => Ok(None),
        Some(Json::Str(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ConfigError::WrongType { key: key.into(), expected: "a string" }),
    }
}

fn opt_bool(map: &Map, key: &str) -> Result<Option<bool>, ConfigError> {
    match get(map, key) {
        None => Ok(None),
        Some(Json::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(ConfigError::WrongType { key: key.into(), expected: "true or false" }),
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
        return Err(ConfigError::WrongType { key: key.into(), expected: "a non-negative integer" });
    };
    if n < min || n > max {
        return Err(bad(key, &format!("is {n}, must be between {min} and {max}")));
    }
    Ok(n)
}

fn check_zone(zone: &str) -> Result<(), ConfigError> {
    if zone.is_empty() || zone.len() > 64 {
        return Err(bad("shm_zone", "must be 1 to 64 bytes long"));
    }
    if !is_valid_zone(zone) {
        return Err(bad("shm_zone", "must be printable ASCII without '/' or spaces"));
    }
    Ok(())
}

/// Whether `zone` is a valid `shm_zone`: 1 to 64 bytes of printable ASCII without '/'.
pub fn is_valid_zone(zone: &str) -> bool {
    (1..=64).contains(&zone.len()) && zone.bytes().all(|b| b.is_ascii_graphic() && b != b'/')
}

fn check_header_value(key: &str, v: &str, max: usize, no_spaces: bool) -> Result<(), ConfigError> {
    if v.is_empty() {
        return Err(bad(key, "must not be empty"));
    }
    if v.len() > max {
        return Err(bad(key, &format!("is longer than {max} bytes")));
    }
    if v.chars().any(|c| c.is_control() || (no_spaces && c.is_whitespace())) {
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
    ConfigError::BadValue { key: key.into(), reason: reason.into() }
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
