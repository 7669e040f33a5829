//! Target `filter_config`: the filter's plugin configuration (`filter/src/config.rs`) and
//! the minimal JSON parser under it (`filter/src/json.rs`), on any bytes.
//!
//! Properties: never panics; the JSON parser agrees with serde_json (accepts exactly the
//! valid documents, except the duplicate keys and deep nesting it refuses on purpose, and
//! reads the same values); an accepted configuration satisfies every documented bound; an
//! error about a key names a key this version knows (or the unknown one), and no error or
//! `Debug` output ever contains the token.

use faultline_filter::config::{self, ConfigError, MAX_NAME_LEN, MAX_ROUTES_LIMIT, MAX_SERVICES_LIMIT};
use faultline_filter::json::{self, Json, MAX_DEPTH};
use serde_json::Value;

const KEYS: [&str; 14] = [
    "proxy_id",
    "service",
    "default_service",
    "collector",
    "flush_interval_ms",
    "merge_interval_ms",
    "max_routes",
    "max_services",
    "shm_zone",
    "collector.upstream",
    "collector.authority",
    "collector.path",
    "collector.token",
    "collector.timeout_ms",
];

pub fn check(data: &[u8]) {
    check_json(data);
    let parsed = config::parse(data);
    let token = token_of(data);
    match &parsed {
        Ok(c) => {
            for name in [&c.proxy_id, &c.service, &Some(c.default_service.clone())].into_iter().flatten() {
                assert!(
                    !name.is_empty() && name.len() <= MAX_NAME_LEN && !name.chars().any(char::is_control),
                    "bad name {name:?}"
                );
            }
            assert!((100..=3_600_000).contains(&c.flush_interval_ms));
            assert!((10..=60_000).contains(&c.merge_interval_ms) && c.merge_interval_ms <= c.flush_interval_ms);
            assert!((1..=MAX_ROUTES_LIMIT).contains(&(c.max_routes as u64)));
            assert!((1..=MAX_SERVICES_LIMIT).contains(&(c.max_services as u64)));
            assert!(
                !c.shm_zone.is_empty()
                    && c.shm_zone.len() <= 64
                    && c.shm_zone.bytes().all(|b| b.is_ascii_graphic() && b != b'/')
            );
            if let Some(col) = &c.collector {
                assert!(c.proxy_id.is_some(), "collector without proxy_id accepted");
                assert!(col.path.starts_with('/'));
                assert!((1..=60_000).contains(&col.timeout_ms));
                for v in [&col.upstream, &col.authority, &col.path] {
                    assert!(
                        !v.is_empty() && !v.chars().any(|ch| ch.is_control() || ch.is_whitespace()),
                        "bad header value {v:?}"
                    );
                }
                assert!(!col.token.is_empty() && !col.token.chars().any(char::is_control));
                assert_eq!(Some(&col.token), token.as_ref(), "token not the one written");
            }
            no_echo(&token, data, &format!("{c:?}"));
        }
        Err(e) => {
            let text = e.to_string();
            assert!(!text.is_empty());
            no_echo(&token, data, &format!("{text} {e:?}"));
            match e {
                // The key named is one written (top level, or under `collector`; a top-level
                // key may itself be spelled `collector.x`).
                ConfigError::UnknownKey(k) => {
                    let written = |key: &str| data.windows(key.len() + 2).any(|w| w == format!("\"{key}\"").as_bytes());
                    let leaf = k.strip_prefix("collector.").unwrap_or(k);
                    assert!(
                        data.contains(&b'\\') || written(k) || written(leaf),
                        "unknown key {k:?} is not in the input"
                    );
                }
                _ => {
                    if let Some(k) = e.key() {
                        assert!(KEYS.contains(&k), "error names key {k:?} this version does not have");
                    }
                }
            }
        }
    }
}

/// The `collector.token` string, read with serde_json (independently of the filter).
fn token_of(data: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(data).ok()?;
    v.get("collector")?.get("token")?.as_str().map(str::to_string)
}

/// What an operator sees of a parse: the error, or the configuration's `Debug`.
fn shown(data: &[u8]) -> String {
    match config::parse(data) {
        Ok(c) => format!("{c:?}"),
        Err(e) => format!("{e} {e:?}"),
    }
}

/// Fails when `text` shows the token because it was written as the token: the same input
/// with the token replaced (same length, other characters) no longer shows it. Only for
/// tokens of 8 characters or more, written once, without escapes.
fn no_echo(token: &Option<String>, data: &[u8], text: &str) {
    let Some(t) = token.as_deref().filter(|t| t.chars().count() >= 8 && text.contains(*t)) else {
        return;
    };
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    if src.matches(t).count() != 1 {
        return;
    }
    let other: String = t.chars().map(|ch| if ch == 'q' { 'x' } else { 'q' }).collect();
    let again = shown(src.replacen(t, &other, 1).as_bytes());
    assert!(again.contains(t), "token {t:?} shown: {text}");
}

/// The filter's JSON parser against serde_json.
fn check_json(data: &[u8]) {
    let ours = json::parse(data);
    let theirs = serde_json::from_slice::<Value>(data);
    match (&ours, &theirs) {
        (Ok(o), Ok(t)) => assert!(same(o, t), "filter JSON read {o:?}, serde_json {t:?}"),
        // serde_json refuses floats beyond f64 (`1e400`); JSON allows either, and the
        // filter never reads a float (such a value is a wrong type for every key).
        (Ok(_), Err(e)) if e.to_string().starts_with("number out of range") => {}
        (Ok(o), Err(e)) => panic!("filter JSON accepted what serde_json refuses ({e}): {o:?}"),
        (Err(e), Ok(_)) => assert!(
            e.contains("duplicate key") || (e.contains("nesting") && depth(data) > MAX_DEPTH),
            "filter JSON refused a valid document: {e}"
        ),
        (Err(e), Err(_)) => assert!(e.contains("byte") || e.contains("duplicate"), "error without a position: {e}"),
    }
}

/// Deepest bracket nesting outside strings (an upper bound is enough here).
fn depth(data: &[u8]) -> usize {
    let (mut d, mut max, mut in_str, mut esc) = (0usize, 0usize, false, false);
    for &b in data {
        match (in_str, esc, b) {
            (true, true, _) => esc = false,
            (true, false, b'\\') => esc = true,
            (true, false, b'"') => in_str = false,
            (false, _, b'"') => in_str = true,
            (false, _, b'[' | b'{') => {
                d += 1;
                max = max.max(d);
            }
            (false, _, b']' | b'}') => d = d.saturating_sub(1),
            _ => {}
        }
    }
    max
}

fn same(o: &Json, t: &Value) -> bool {
    match (o, t) {
        (Json::Null, Value::Null) => true,
        (Json::Bool(a), Value::Bool(b)) => a == b,
        (Json::Num(Some(n)), Value::Number(m)) => m.as_u64() == Some(*n),
        // Not a non-negative integer for us: anything but a u64 for serde_json, except
        // the spellings we refuse to read as one (`-0`, `1.0`, `1e2`).
        (Json::Num(None), Value::Number(_)) => true,
        (Json::Str(a), Value::String(b)) => a == b,
        (Json::Arr(a), Value::Array(b)) => a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y)),
        (Json::Obj(a), Value::Object(b)) => {
            a.len() == b.len() && a.iter().all(|(k, v)| b.get(k).is_some_and(|w| same(v, w)))
        }
        _ => false,
    }
}
