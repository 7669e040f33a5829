//! One request to Discord's webhook API and what its answer means: 2xx delivered (with the message id
//! of `?wait=true`), 429 with its `retry_after`, 400 refused, 401/403/404 broken, anything else
//! transient. Errors never carry the URL (it holds the webhook's token).

use crate::message;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

/// What Discord's answer means for the row.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Accepted; `pause` when the bucket is empty (`X-RateLimit-Remaining: 0`).
    Delivered {
        message_id: Option<String>,
        pause: Option<Duration>,
    },
    RateLimited(Duration),
    BadRequest(String),
    Broken(String),
    Transient(String),
    /// 404 with code 10008 (an edit of a message that was deleted): the webhook is fine.
    UnknownMessage,
}

fn secs(v: f64) -> Duration {
    Duration::from_secs_f64(if v.is_finite() { v.clamp(0.05, 900.0) } else { 1.0 })
}

/// Judges an answer from its status, the rate-limit headers (`remaining`, `reset_after`,
/// `retry_after`) and its body.
pub fn judge(
    status: u16,
    remaining: Option<u64>,
    reset_after: Option<f64>,
    retry_after: Option<f64>,
    body: &str,
) -> Verdict {
    let json: serde_json::Value = serde_json::from_str(body).unwrap_or(serde_json::Value::Null);
    let said = || {
        let msg = json.get("message").and_then(|m| m.as_str()).unwrap_or("");
        let code = json.get("code").map(|c| format!(" (code {c})")).unwrap_or_default();
        message::cut(&format!("{status} {msg}{code}"), 300)
    };
    match status {
        200..=299 => Verdict::Delivered {
            message_id: json.get("id").and_then(|v| v.as_str()).map(str::to_string),
            pause: (remaining == Some(0)).then(|| secs(reset_after.unwrap_or(1.0))),
        },
        429 => Verdict::RateLimited(secs(
            json.get("retry_after").and_then(|v| v.as_f64()).or(reset_after).or(retry_after).unwrap_or(1.0),
        )),
        400 => Verdict::BadRequest(said()),
        404 if json.get("code").and_then(serde_json::Value::as_u64) == Some(10008) => Verdict::UnknownMessage,
        401 | 403 | 404 => Verdict::Broken(said()),
        _ => Verdict::Transient(said()),
    }
}

/// Exponential backoff from 1 s, capped, with jitter (50–100% of the step).
pub fn backoff(attempt: u32, cap: Duration) -> Duration {
    let step = Duration::from_secs(1).saturating_mul(1u32 << attempt.min(16)).min(cap);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(attempt);
    let jitter = 0.5 + (h.finish() % 1000) as f64 / 2000.0;
    step.mul_f64(jitter)
}

/// An error and its sources on one line (the URL already stripped by the caller).
fn chain(e: reqwest::Error) -> String {
    let timeout = e.is_timeout();
    let mut parts = vec![e.to_string()];
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        parts.push(s.to_string());
        src = s.source();
    }
    parts.dedup();
    let text = parts.join(": ");
    if timeout { format!("timeout: {text}") } else { text }
}

/// POSTs one message and judges the answer. Errors never carry the URL.
pub async fn send(client: &reqwest::Client, url: &str, body: &serde_json::Value, timeout: Duration) -> Verdict {
    send_with(client, reqwest::Method::POST, url, body, timeout).await
}

/// One request (`POST` a message, `PATCH` an edit) and its verdict. Errors never carry the URL.
pub async fn send_with(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    body: &serde_json::Value,
    timeout: Duration,
) -> Verdict {
    let resp = match client.request(method, url).timeout(timeout).json(body).send().await {
        Ok(r) => r,
        Err(e) => return Verdict::Transient(chain(e.without_url())),
    };
    let h = resp.headers();
    let num = |k: &str| h.get(k).and_then(|v| v.to_str().ok()).and_then(|s| s.trim().parse::<f64>().ok());
    let remaining = num("x-ratelimit-remaining").map(|v| v as u64);
    let (reset_after, retry_after) = (num("x-ratelimit-reset-after"), num("retry-after"));
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    judge(status, remaining, reset_after, retry_after, &text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_judged() {
        assert_eq!(
            judge(200, Some(3), Some(1.0), None, r#"{"id":"42"}"#),
            Verdict::Delivered { message_id: Some("42".into()), pause: None }
        );
        assert_eq!(
            judge(204, Some(0), Some(1.5), None, ""),
            Verdict::Delivered { message_id: None, pause: Some(Duration::from_millis(1500)) }
        );
        assert_eq!(
            judge(429, Some(0), Some(9.0), Some(9.0), r#"{"retry_after":0.25,"global":false}"#),
            Verdict::RateLimited(Duration::from_millis(250))
        );
        assert_eq!(judge(429, None, Some(2.0), None, "{}"), Verdict::RateLimited(Duration::from_secs(2)));
        assert_eq!(judge(429, None, None, Some(3.0), "nonsense"), Verdict::RateLimited(Duration::from_secs(3)));
        assert!(matches!(
            judge(400, None, None, None, r#"{"message":"Invalid Form Body","code":50035}"#),
            Verdict::BadRequest(m) if m.contains("50035")
        ));
        assert!(matches!(
            judge(404, None, None, None, r#"{"message":"Unknown Webhook","code":10015}"#),
            Verdict::Broken(m) if m.contains("Unknown Webhook")
        ));
        assert!(matches!(judge(401, None, None, None, ""), Verdict::Broken(_)));
        assert_eq!(
            judge(404, None, None, None, r#"{"message":"Unknown Message","code":10008}"#),
            Verdict::UnknownMessage
        );
        assert!(matches!(judge(502, None, None, None, "<html>"), Verdict::Transient(_)));
        assert_eq!(
            judge(429, None, None, None, r#"{"retry_after":1e9}"#),
            Verdict::RateLimited(Duration::from_secs(900)),
            "capped"
        );
    }

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        let cap = Duration::from_secs(60);
        for a in 0..20 {
            let b = backoff(a, cap);
            let step = Duration::from_secs(1 << a.min(16)).min(cap);
            assert!(b >= step / 2 && b <= step, "attempt {a}: {b:?}");
        }
    }
}
