//! `fast_window`, `fast_critical`, `fast_min_requests`: the fast burn. A second, short window that pages
//! CRITICAL at once when nearly everything fails, so that a total outage does not wait for 10 % of five
//! minutes to fail (about 30 s plus a flush).
//!
//! Defaults, and why: a 10 s window is two of the filter's 5 s flushes, so the first flush after a total
//! outage begins (the one before it clean) already shows 50 %: paged about one flush after the onset. 50 %
//! is five times the CRITICAL threshold: only a near-total outage reaches it, a 2 s blip at 100 % is 20 %
//! of 10 s. 20 requests keep a handful of failures on a quiet service from paging.

use super::raw::RawConfig;
use super::{ConfigError, Ctx, fmt_d};
use std::time::Duration;

/// The fast burn; `window` zero is off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FastBurn {
    pub window: Duration,
    /// Pages CRITICAL when 5xx reach this share of the fast window's requests, in basis points.
    pub critical_bp: u64,
    /// Fewer requests in the fast window than this never page from it.
    pub min_requests: u64,
}

impl FastBurn {
    /// Whether the fast burn is on.
    pub fn enabled(&self) -> bool {
        !self.window.is_zero()
    }
}

impl Ctx<'_> {
    pub(super) fn fast_burn(
        &self,
        raw: &RawConfig,
        window: Duration,
        bucket: Duration,
        critical_bp: u64,
    ) -> Result<FastBurn, ConfigError> {
        let fast = match &raw.fast_window {
            Some(v) if v.get_ref().trim() == "0s" || v.get_ref().trim() == "0" => Duration::ZERO,
            _ => self.duration(&raw.fast_window, "fast_window", Duration::from_secs(10).min(window))?,
        };
        let at = raw.fast_window.as_ref().map(|v| v.span().start).unwrap_or(0);
        if !fast.is_zero() && (fast < bucket || fast > window || fast.as_millis() % bucket.as_millis().max(1) != 0) {
            let msg = format!(
                "{} must be a multiple of the bucket ({}) and at most the window ({}); \"0s\" turns it off",
                fmt_d(fast),
                fmt_d(bucket),
                fmt_d(window)
            );
            return Err(self.err_at(at, "fast_window", msg));
        }
        let critical = self.percent(&raw.fast_critical, "fast_critical", 5_000)?;
        if critical <= critical_bp {
            let at = raw.fast_critical.as_ref().map(|v| v.span().start).unwrap_or(0);
            return Err(self.err_at(at, "fast_critical", "must be above critical (it pages only near-total outages)"));
        }
        let min_requests = self.positive(&raw.fast_min_requests, "fast_min_requests", 20)?;
        Ok(FastBurn { window: fast, critical_bp: critical, min_requests })
    }
}
