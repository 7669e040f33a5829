//! How each webhook's deliveries are going (written by the delivery loops, read by `/healthz`,
//! `/metrics` and the status page).

use serde::Serialize;

/// How one webhook's deliveries are going, for /healthz.
#[derive(Debug, Clone, Default, Serialize)]
pub struct WebhookStatus {
    /// "ok", "retrying", "rate_limited" or "broken".
    pub state: &'static str,
    pub last_error: Option<String>,
    pub since_ms: u64,
    pub delivered: u64,
    /// Attempts that Discord refused or that failed (429, 4xx, 5xx, network), since start.
    pub failed: u64,
}
