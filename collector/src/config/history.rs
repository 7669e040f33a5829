//! `status_token` and `[history]`: who may read the status page and its JSON, and how long
//! (and how much) history the database keeps.

use super::raw::RawConfig;
use super::{ConfigError, Ctx};
use std::time::Duration;

/// How long per-minute aggregates and alert records are kept, and the row cap of each
/// history table (oldest minutes deleted first), which bounds the database's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryConfig {
    pub retention: Duration,
    pub max_rows: u64,
}

/// The token the status page, `/v1/status`, `/v1/history` and `/metrics` require (never printed).
#[derive(Clone, PartialEq, Eq)]
pub struct StatusToken(pub String);

impl std::fmt::Debug for StatusToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StatusToken(****)")
    }
}

/// Default retention: 7 days.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);
/// Default row cap per history table.
pub const DEFAULT_MAX_ROWS: u64 = 1_000_000;

impl Ctx<'_> {
    pub(super) fn history(&self, raw: &RawConfig) -> Result<HistoryConfig, ConfigError> {
        let retention = self.duration(&raw.history.retention, "history.retention", DEFAULT_RETENTION)?;
        if retention < Duration::from_secs(60) {
            let at = raw.history.retention.as_ref().map(|v| v.span().start).unwrap_or(0);
            return Err(self.err_at(at, "history.retention", "must be at least 1m (history is kept per minute)"));
        }
        let max_rows = match &raw.history.max_rows {
            Some(v) if *v.get_ref() < 1_000 => return Err(self.err(v, "history.max_rows", "must be at least 1000")),
            Some(v) => *v.get_ref(),
            None => DEFAULT_MAX_ROWS,
        };
        Ok(HistoryConfig { retention, max_rows })
    }

    pub(super) fn status_token(&self, raw: &RawConfig) -> Result<Option<StatusToken>, ConfigError> {
        match &raw.status_token {
            Some(t) if t.get_ref().len() < 8 || t.get_ref().chars().any(|c| c.is_control() || c.is_whitespace()) => {
                Err(self.err(t, "status_token", "must be at least 8 characters, without spaces or control characters"))
            }
            Some(t) => Ok(Some(StatusToken(t.get_ref().clone()))),
            None => Ok(None),
        }
    }
}
