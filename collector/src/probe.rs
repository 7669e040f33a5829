//! One health-check probe over HTTP(S): a GET with a timeout, classified into a
//! [`ProbeResult`] that says which way it failed.

use crate::config::HealthConfig;
use crate::decide::health::{Failure, ProbeResult};
use std::time::Instant;

/// Probes `cfg.url` once; `at_ms` is the wall-clock time the probe started.
pub async fn probe(client: &reqwest::Client, cfg: &HealthConfig, at_ms: u64) -> ProbeResult {
    let started = Instant::now();
    let result = client.get(&cfg.url).timeout(cfg.timeout).send().await;
    let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    match result {
        Ok(resp) => {
            let status = resp.status().as_u16();
            let failure = (!cfg.expect.accepts(status)).then_some(Failure::Status(status));
            ProbeResult { at_ms, latency_ms, failure, status: Some(status) }
        }
        Err(e) => ProbeResult { at_ms, latency_ms, failure: Some(classify(&e)), status: None },
    }
}

/// Names the way a request failed from the error and its sources.
pub fn classify(e: &reqwest::Error) -> Failure {
    if e.is_timeout() {
        return Failure::Timeout;
    }
    let mut chain = Vec::new();
    let mut src: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = src {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            match io.kind() {
                std::io::ErrorKind::ConnectionRefused => return Failure::Refused,
                std::io::ErrorKind::TimedOut => return Failure::Timeout,
                _ => {}
            }
        }
        chain.push(s.to_string());
        src = s.source();
    }
    let text = chain.last().cloned().unwrap_or_default();
    classify_text(&chain.join(": ").to_ascii_lowercase(), text)
}

fn classify_text(all: &str, last: String) -> Failure {
    if all.contains("connection refused") {
        Failure::Refused
    } else if all.contains("dns error") || all.contains("failed to lookup") || all.contains("name or service not known")
    {
        Failure::Dns(last)
    } else if ["tls", "certificate", "handshake", "corrupt message", "invalidcontenttype"]
        .iter()
        .any(|k| all.contains(k))
    {
        Failure::Tls(last)
    } else if all.contains("timed out") {
        Failure::Timeout
    } else {
        Failure::Connection(last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_classified() {
        assert_eq!(
            classify_text("error sending request: dns error: failed to lookup address", "x".into()),
            Failure::Dns("x".into())
        );
        assert_eq!(
            classify_text("client error (connect): received corrupt message of type invalidcontenttype", "y".into()),
            Failure::Tls("y".into())
        );
        assert_eq!(
            classify_text("tcp connect error: connection refused (os error 111)", String::new()),
            Failure::Refused
        );
        assert_eq!(classify_text("connection reset by peer", "z".into()), Failure::Connection("z".into()));
    }
}
