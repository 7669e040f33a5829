//! Target `collector_config`: the collector's TOML configuration loader
//! (`collector/src/config/`), on any UTF-8 text.
//!
//! Properties: never panics; a refusal names the file and a line of the text (1 to the
//! number of lines) and says why; an accepted configuration satisfies every rule the
//! loader states (bucket divides the window, thresholds in range and ordered, references
//! resolve, ids are Discord ids, health intervals can be scheduled); neither errors,
//! `Debug` nor the masked effective configuration contain an ingest token or a webhook
//! token; the masked configuration is valid TOML.

use faultline_collector::config::{Config, DEFAULT_WEBHOOK};
use std::path::Path;
use std::time::{Duration, Instant};

const FILE: &str = "/etc/faultline/faultline.toml";

pub fn check(data: &[u8]) {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    let secrets = secrets(src);
    match Config::parse(Path::new(FILE), src) {
        Err(e) => {
            let lines = src.split('\n').count();
            assert!(e.line >= 1 && e.line <= lines, "line {} outside 1..={lines}: {e}", e.line);
            assert_eq!(e.file, FILE);
            assert!(!e.message.trim().is_empty(), "error without a reason: {e}");
            no_echo(src, &secrets, &format!("{e} {e:?}"));
        }
        Ok(c) => {
            check_config(&c);
            no_echo(src, &secrets, &format!("{} {c:?}", c.masked_toml()));
            if let Err(e) = c.masked_toml().parse::<toml::Table>() {
                panic!("masked configuration is not TOML ({e}):\n{}", c.masked_toml());
            }
        }
    }
}

/// What an operator sees of a load: the error, or the masked configuration and `Debug`.
fn shown(r: &Result<Config, faultline_collector::config::ConfigError>) -> String {
    match r {
        Ok(c) => format!("{} {c:?}", c.masked_toml()),
        Err(e) => format!("{e} {e:?}"),
    }
}

/// Fails when `text` shows a secret because it was written as one: the same text with
/// that secret replaced (same length, other characters) no longer shows it.
fn no_echo(src: &str, secrets: &[String], text: &str) {
    for s in secrets.iter().filter(|s| text.contains(s.as_str())) {
        let other: String = s.chars().map(|ch| if ch == 'q' { 'x' } else { 'q' }).collect();
        let alt = src.replacen(s.as_str(), &other, 1);
        let again = shown(&Config::parse(Path::new(FILE), &alt));
        assert!(again.contains(s.as_str()), "secret {s:?} shown:\n{text}");
    }
}

/// A health check runs on a tokio `interval`, which adds the period to an `Instant`.
fn schedulable(d: Duration, what: &str) {
    assert!(Instant::now().checked_add(d).is_some(), "{what} = {d:?} cannot be scheduled");
}

fn check_config(c: &Config) {
    assert!(!c.bucket.is_zero() && c.bucket <= c.window, "bucket {:?} above window {:?}", c.bucket, c.window);
    assert_eq!(
        c.window.as_millis() % c.bucket.as_millis(),
        0,
        "bucket {:?} does not divide window {:?}",
        c.bucket,
        c.window
    );
    assert!(c.window.as_millis() / c.bucket.as_millis() <= 10_000);
    // At shutdown the app waits `delivery.timeout` + 2 s (app.rs: Duration + Duration).
    assert!(
        c.delivery.timeout.checked_add(Duration::from_secs(2)).is_some(),
        "delivery.timeout {:?} overflows",
        c.delivery.timeout
    );
    let th = [c.defaults].into_iter().chain(c.services.iter().map(|s| s.thresholds));
    for t in th {
        assert!(t.warning_bp >= 1, "warning threshold of 0 (every request would warn): {t:?}");
        assert!(t.warning_bp < t.critical_bp && t.critical_bp <= 10_000, "{t:?}");
        assert!((1..=100).contains(&t.clear_pct), "{t:?}");
    }
    assert!(c.top_routes >= 1);
    assert!(
        c.limits.max_proxies >= 1
            && c.limits.max_boots_per_proxy >= 1
            && c.limits.max_services >= 1
            && c.limits.max_routes >= 1
    );
    assert!(!c.tokens.is_empty() && c.tokens.iter().all(|t| t.token.len() >= 8));
    assert!(c.webhooks.contains_key(DEFAULT_WEBHOOK));
    for w in c.webhooks.values() {
        assert!(w.url.contains("/api/v10/webhooks/") && w.url.ends_with("?wait=true"), "{}", w.masked);
        assert!(w.masked.ends_with("/****"), "{}", w.masked);
    }
    for (i, s) in c.services.iter().enumerate() {
        assert!(!s.name.is_empty() && s.name.len() <= 128 && !s.name.chars().any(char::is_control));
        assert!(!c.services.iter().skip(i + 1).any(|o| o.name == s.name), "duplicate service {:?}", s.name);
        assert!(c.webhooks.contains_key(&s.webhook));
        for id in s.mention_roles.iter().chain(&s.mention_users) {
            assert!(!id.is_empty() && id.len() <= 20 && id.bytes().all(|b| b.is_ascii_digit()), "{id:?}");
        }
        if let Some(h) = &s.health {
            assert!(h.url.starts_with("http://") || h.url.starts_with("https://"));
            assert!(h.timeout < h.interval && !h.timeout.is_zero());
            schedulable(h.interval, "interval");
            assert!(!h.expect.0.is_empty() && h.expect.0.iter().all(|(lo, hi)| 100 <= *lo && lo <= hi && *hi <= 599));
            assert!(h.failures_before_down >= 1 && h.successes_before_up >= 1);
        }
        if let Some(l) = &s.link {
            assert!(l.starts_with("http://") || l.starts_with("https://"));
        }
    }
}

/// The secrets written in `src`, when they are distinctive enough that seeing them in
/// output can mean an echo: ingest tokens (strings at `token` under `tokens`) and webhook
/// tokens (the segment after the id of a URL under `webhooks`), at least 8 characters
/// and written once.
fn secrets(src: &str) -> Vec<String> {
    let Ok(table) = src.parse::<toml::Table>() else {
        return Vec::new();
    };
    let mut found = Vec::new();
    walk(&toml::Value::Table(table), &[], &mut found);
    found.retain(|s| s.chars().count() >= 8 && src.matches(s.as_str()).count() == 1);
    found
}

fn walk(v: &toml::Value, path: &[&str], out: &mut Vec<String>) {
    match v {
        toml::Value::String(s) => {
            if path.first() == Some(&"tokens") && path.last() == Some(&"token") {
                out.push(s.clone());
            }
            if path.first() == Some(&"webhooks")
                && let Some(t) = webhook_token(s)
            {
                out.push(t.to_string());
            }
        }
        toml::Value::Array(items) => items.iter().for_each(|i| walk(i, path, out)),
        toml::Value::Table(t) => t.iter().for_each(|(k, v)| walk(v, &[path, &[k.as_str()]].concat(), out)),
        _ => {}
    }
}

/// `TOKEN` in `.../webhooks/ID/TOKEN[?...]`.
fn webhook_token(s: &str) -> Option<&str> {
    let path = s.split(['?', '#']).next()?;
    let mut segs = path.split('/').skip_while(|p| *p != "webhooks").skip(2);
    segs.next().filter(|t| !t.is_empty())
}
