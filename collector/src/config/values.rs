//! Checks of single values: expected health-check statuses, link templates, Discord webhook URLs.

use super::raw::RawExpect;
use super::{ExpectStatus, LINK_PLACEHOLDERS, Webhook};

pub(super) fn parse_expect(e: &RawExpect) -> Result<ExpectStatus, String> {
    let code = |c: i64| -> Result<(u16, u16), String> {
        if (100..=599).contains(&c) { Ok((c as u16, c as u16)) } else { Err(format!("{c} is not an HTTP status")) }
    };
    match e {
        RawExpect::Code(c) => Ok(ExpectStatus(vec![code(*c)?])),
        RawExpect::Codes(cs) if cs.is_empty() => Err("must list at least one status".into()),
        RawExpect::Codes(cs) => Ok(ExpectStatus(cs.iter().map(|c| code(*c)).collect::<Result<_, _>>()?)),
        RawExpect::Text(t) => {
            let t = t.trim().to_ascii_lowercase();
            match t.as_bytes() {
                [d @ b'1'..=b'5', b'x', b'x'] => {
                    let lo = u16::from(d - b'0') * 100;
                    Ok(ExpectStatus(vec![(lo, lo + 99)]))
                }
                _ => t
                    .parse::<i64>()
                    .map_err(|_| format!("{t:?} is not a status like \"2xx\" or 200"))
                    .and_then(|c| Ok(ExpectStatus(vec![code(c)?]))),
            }
        }
    }
}

pub(super) fn check_link(t: &str) -> Result<(), String> {
    let mut rest = t;
    while let Some(open) = rest.find('{') {
        let tail = rest.get(open..).unwrap_or("");
        let close = tail.find('}').ok_or("unclosed '{' in template")?;
        let ph = tail.get(..=close).unwrap_or("");
        if !LINK_PLACEHOLDERS.contains(&ph) {
            return Err(format!("unknown placeholder {ph}; use {}", LINK_PLACEHOLDERS.join(", ")));
        }
        rest = tail.get(close + 1..).unwrap_or("");
    }
    if !(t.starts_with("https://") || t.starts_with("http://")) {
        return Err("must start with http:// or https://".into());
    }
    Ok(())
}

/// Checks a Discord webhook URL and rewrites it to the versioned API (`/api/v10/webhooks/ID/TOKEN?wait=true`):
/// an unversioned URL, as Discord shows them, would be served by the old v6 API.
pub fn normalize_webhook(raw: &str) -> Result<Webhook, String> {
    let bad = || "is not a Discord webhook URL like https://discord.com/api/webhooks/ID/TOKEN".to_string();
    let mut url = reqwest::Url::parse(raw.trim()).map_err(|_| bad())?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad());
    }
    let segs: Vec<String> = url.path_segments().map(|s| s.map(str::to_string).collect()).unwrap_or_default();
    let at = segs.iter().position(|s| s == "webhooks").ok_or_else(bad)?;
    let (Some(id), Some(token)) = (segs.get(at + 1), segs.get(at + 2)) else { return Err(bad()) };
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) || token.is_empty() || segs.len() > at + 3 {
        return Err(bad());
    }
    let prefix: Vec<&str> = segs.iter().take(at).map(String::as_str).collect();
    let base: Vec<&str> = match prefix.as_slice() {
        [pre @ .., "api"] | [pre @ .., "api", _] => pre.to_vec(),
        _ => return Err(bad()),
    };
    // A webhook of a thread keeps its `thread_id` (messages go to, and are edited in, that thread).
    let thread = url.query_pairs().find(|(k, _)| k == "thread_id").map(|(_, v)| v.into_owned());
    if thread.as_deref().is_some_and(|t| t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit())) {
        return Err("thread_id must be a Discord id (digits)".to_string());
    }
    let mut path = base.join("/");
    path.push_str(&format!("/api/v10/webhooks/{id}/{token}"));
    url.set_path(&path);
    match &thread {
        Some(t) => url.set_query(Some(&format!("wait=true&thread_id={t}"))),
        None => url.set_query(Some("wait=true")),
    }
    url.set_fragment(None);
    let mut shown = url.clone();
    shown.set_query(None);
    shown.set_path(&format!("{}/api/v10/webhooks/{id}/****", base.join("/")));
    Ok(Webhook { url: url.to_string(), masked: shown.to_string() })
}
