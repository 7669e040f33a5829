//! Fast detection. `fast_window`, `fast_critical`, `fast_min_requests`: the fast burn, a second, short
//! window that pages CRITICAL at once when nearly everything fails, so that a total outage does not wait
//! for 10 % of five minutes to fail (about 30 s plus a flush). `down_unreachable`, `down_unreachable_min`,
//! `down_span` (per service too): the passive DOWN, from the proxy's own view — the service is DOWN when
//! most of its responses over a short span were made by the proxy because it could not reach it.
//!
//! Defaults, and why: a 10 s window is two of the filter's 5 s flushes, so the first flush after a total
//! outage begins (the one before it clean) already shows 50 %: paged about one flush after the onset. 50 %
//! is five times the CRITICAL threshold: only a near-total outage reaches it, a 2 s blip at 100 % is 20 %
//! of 10 s. 20 requests keep a handful of failures on a quiet service from paging.

use super::raw::RawConfig;
use super::{ConfigError, Ctx, fmt_d};
use std::time::Duration;

/// The passive DOWN; `share_bp` zero is off.
///
/// Defaults, and why: over 10 s (two 5 s flushes), 80 % of the responses made by the proxy for want of
/// the upstream, at least 10 of them. A deploy that restarts the upstream for 2 s makes at most 20 % of
/// the span unreachable: the span is the grace (`down_span`); a single refused connection is below the
/// minimum. A health check is run at once to confirm; UP needs it to pass (without a check: reachable
/// responses again).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PassiveDown {
    pub share_bp: u64,
    pub min: u64,
    pub span: Duration,
}

impl PassiveDown {
    /// Whether the passive DOWN is on.
    pub fn enabled(&self) -> bool {
        self.share_bp > 0 && !self.span.is_zero()
    }
}

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

    pub(super) fn passive_down(
        &self,
        raw: &RawConfig,
        window: Duration,
        bucket: Duration,
    ) -> Result<PassiveDown, ConfigError> {
        let share_bp = self.share(&raw.down_unreachable, "down_unreachable", 8_000)?;
        let min = self.positive(&raw.down_unreachable_min, "down_unreachable_min", 10)?;
        let span = self.duration(&raw.down_span, "down_span", Duration::from_secs(10).min(window))?;
        if span < bucket || span > window || span.as_millis() % bucket.as_millis().max(1) != 0 {
            let at = raw.down_span.as_ref().map(|v| v.span().start).unwrap_or(0);
            let msg = format!(
                "{} must be a multiple of the bucket ({}) and at most the window ({})",
                fmt_d(span),
                fmt_d(bucket),
                fmt_d(window)
            );
            return Err(self.err_at(at, "down_span", msg));
        }
        Ok(PassiveDown { share_bp, min, span })
    }

    /// A percentage in basis points where 0 turns the feature off.
    pub(super) fn share(&self, v: &Option<toml::Spanned<f64>>, key: &str, default_bp: u64) -> Result<u64, ConfigError> {
        match v {
            Some(s) if *s.get_ref() == 0.0 => Ok(0),
            _ => self.percent(v, key, default_bp),
        }
    }
}
