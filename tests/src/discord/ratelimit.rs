//! Discord's per-webhook rate limit as observed: a fixed window (by default 5 requests per 2 s) that
//! starts with the first request after the previous window ended. Pure: time comes in as `now`.

use std::time::{Duration, Instant};

/// Rate-limit settings of one server.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Requests allowed per window.
    pub limit: u32,
    /// Window length.
    pub window: Duration,
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit { limit: 5, window: Duration::from_secs(2) }
    }
}

/// What the bucket says about one request, and what to put in the X-RateLimit-* headers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decision {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Time until the window resets.
    pub reset_after: Duration,
}

/// One webhook's bucket.
#[derive(Debug, Clone, Default)]
pub struct Bucket {
    window_start: Option<Instant>,
    used: u32,
}

impl Bucket {
    /// Counts a request at `now` if the window has room; a refused request does not count.
    pub fn take(&mut self, rule: RateLimit, now: Instant) -> Decision {
        let start = self.current_window(rule, now);
        let reset_after = (start + rule.window).saturating_duration_since(now);
        if self.used >= rule.limit {
            return Decision { allowed: false, limit: rule.limit, remaining: 0, reset_after };
        }
        self.used += 1;
        Decision { allowed: true, limit: rule.limit, remaining: rule.limit - self.used, reset_after }
    }

    /// The headers' view at `now` without counting a request (for scripted answers).
    pub fn peek(&mut self, rule: RateLimit, now: Instant) -> Decision {
        let start = self.current_window(rule, now);
        Decision {
            allowed: self.used < rule.limit,
            limit: rule.limit,
            remaining: rule.limit.saturating_sub(self.used),
            reset_after: (start + rule.window).saturating_duration_since(now),
        }
    }

    fn current_window(&mut self, rule: RateLimit, now: Instant) -> Instant {
        match self.window_start {
            Some(start) if now < start + rule.window => start,
            _ => {
                self.window_start = Some(now);
                self.used = 0;
                now
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sixth_request_in_the_window_is_refused_until_it_ends() {
        let rule = RateLimit::default();
        let t0 = Instant::now();
        let mut b = Bucket::default();
        for i in 0..5u32 {
            let d = b.take(rule, t0 + Duration::from_millis(100 * u64::from(i)));
            assert!(d.allowed);
            assert_eq!(d.remaining, 4 - i);
        }
        let d = b.take(rule, t0 + Duration::from_millis(1500));
        assert!(!d.allowed);
        assert_eq!(d.remaining, 0);
        assert_eq!(d.reset_after, Duration::from_millis(500));
        // Refused requests do not extend or consume the window.
        assert!(!b.take(rule, t0 + Duration::from_millis(1999)).allowed);
        let d = b.take(rule, t0 + Duration::from_secs(2));
        assert!(d.allowed);
        assert_eq!(d.remaining, 4);
        assert_eq!(d.reset_after, Duration::from_secs(2));
    }

    #[test]
    fn peek_does_not_count() {
        let rule = RateLimit { limit: 1, window: Duration::from_secs(1) };
        let t0 = Instant::now();
        let mut b = Bucket::default();
        assert_eq!(b.peek(rule, t0).remaining, 1);
        assert!(b.take(rule, t0).allowed);
        assert!(!b.peek(rule, t0).allowed);
    }
}
