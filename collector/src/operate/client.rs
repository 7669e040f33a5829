//! `faultline-collector silence …` and `ack …`: the operator API of the running collector, at the configuration's
//! `listen` address (a wildcard address is reached on loopback) with its `operator_token`. Every refusal comes
//! back as the API's sentence.

use crate::config::Config;
use serde_json::{Value, json};
use std::time::Duration;

/// What `silence add` asks for.
#[derive(Debug, Clone, Default)]
pub struct AddSilence {
    pub service: Option<String>,
    pub route: Option<String>,
    pub for_: Option<String>,
    pub until: Option<String>,
    pub reason: String,
    pub by: Option<String>,
}

fn base(cfg: &Config) -> String {
    let mut addr = cfg.listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(if addr.is_ipv4() { [127, 0, 0, 1].into() } else { std::net::Ipv6Addr::LOCALHOST.into() });
    }
    format!("http://{addr}")
}

async fn call(cfg: &Config, method: reqwest::Method, path: &str, body: Option<Value>) -> Result<Value, String> {
    let token = cfg
        .operator_token
        .as_ref()
        .ok_or_else(|| format!("no operator_token in {}: the operator API is off", cfg.file.display()))?;
    let client =
        reqwest::Client::builder().timeout(Duration::from_secs(10)).build().map_err(|e| format!("HTTP client: {e}"))?;
    let url = format!("{}{path}", base(cfg));
    let mut req = client.request(method, &url).bearer_auth(&token.0);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.map_err(|e| format!("the collector at {} does not answer: {e}", base(cfg)))?;
    let status = resp.status();
    let v: Value = resp.json().await.unwrap_or(Value::Null);
    if status.is_success() {
        Ok(v)
    } else {
        let why = v.get("error").and_then(Value::as_str).unwrap_or("no reason given").to_string();
        Err(format!("{}: {why}", status.as_u16()))
    }
}

/// Member `k` of a JSON object (null when absent).
fn at<'a>(v: &'a Value, k: &str) -> &'a Value {
    v.get(k).unwrap_or(&Value::Null)
}

fn when(ms: u64) -> String {
    jiff::Timestamp::from_millisecond(i64::try_from(ms).unwrap_or(i64::MAX))
        .map(|t| t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|_| ms.to_string())
}

/// One silence as a line.
pub fn line(s: &Value) -> String {
    let what = match (at(s, "service").as_str(), at(s, "route").as_str()) {
        (Some(svc), Some(r)) => format!("{svc}, routes {r:?}"),
        (Some(svc), None) => svc.to_string(),
        (None, Some(r)) => format!("every service, routes {r:?}"),
        (None, None) => "everything".to_string(),
    };
    let state = if at(s, "active").as_bool() == Some(true) { "until" } else { "ended" };
    let mut out = format!("#{} {what} {state} {}", at(s, "id"), when(at(s, "until_ms").as_u64().unwrap_or(0)));
    if let Some(r) = at(s, "reason").as_str().filter(|r| !r.is_empty()) {
        out.push_str(&format!(" — {r}"));
    }
    if let Some(b) = at(s, "by").as_str() {
        out.push_str(&format!(" (by {b})"));
    }
    out
}

/// `silence add`: the new silence, as a line.
pub async fn add(cfg: &Config, a: AddSilence) -> Result<String, String> {
    let body = json!({
        "service": a.service, "route": a.route, "for": a.for_, "until": a.until, "reason": a.reason, "by": a.by,
    });
    let v = call(cfg, reqwest::Method::POST, super::SILENCES, Some(body)).await?;
    Ok(format!("silence {}", line(at(&v, "silence"))))
}

/// `silence list`: one line per silence.
pub async fn list(cfg: &Config) -> Result<String, String> {
    let v = call(cfg, reqwest::Method::GET, super::SILENCES, None).await?;
    let lines: Vec<String> = at(&v, "silences").as_array().map(|a| a.iter().map(line).collect()).unwrap_or_default();
    Ok(if lines.is_empty() { "no silences".to_string() } else { lines.join("\n") })
}

/// `silence remove ID`.
pub async fn remove(cfg: &Config, id: u64) -> Result<String, String> {
    let v = call(cfg, reqwest::Method::DELETE, &format!("{}/{id}", super::SILENCES), None).await?;
    Ok(format!("removed silence {}", line(at(&v, "removed"))))
}

/// `ack SERVICE --by NAME`.
pub async fn ack(cfg: &Config, service: &str, by: Option<String>) -> Result<String, String> {
    let v = call(cfg, reqwest::Method::POST, super::ACK, Some(json!({"service": service, "by": by}))).await?;
    let a = at(&v, "acknowledged");
    Ok(format!(
        "{}'s incident acknowledged by {} at {} (reminders stop until it gets worse than {})",
        service,
        at(a, "by").as_str().unwrap_or("?"),
        when(at(a, "at_ms").as_u64().unwrap_or(0)),
        at(a, "severity").as_str().unwrap_or("?").to_uppercase()
    ))
}
