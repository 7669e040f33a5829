//! The true sliding-window 5xx rate, from what the traffic driver actually got back: cumulative counts sampled
//! over time, so the rate over `(T - window, T]` is a difference of two (interpolated) samples. The alert
//! delay is measured from the moment this true rate crosses the threshold. Pure.

use serde::Serialize;

/// Cumulative answers and 5xx at `t` seconds since the traffic started.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Point {
    pub t: f64,
    pub answered: u64,
    pub errors: u64,
}

/// Cumulative (answered, errors) at time `t`, linearly interpolated between samples; before the first
/// sample, the first sample's counts (the driver starts from zero).
pub fn counts_at(points: &[Point], t: f64) -> (f64, f64) {
    let Some(first) = points.first() else { return (0.0, 0.0) };
    if t <= first.t {
        return (first.answered as f64, first.errors as f64);
    }
    // First sample at or after t.
    let i = points.partition_point(|p| p.t < t);
    match (points.get(i.wrapping_sub(1)), points.get(i)) {
        (Some(a), Some(b)) if b.t > a.t => {
            let f = (t - a.t) / (b.t - a.t);
            (lerp(a.answered, b.answered, f), lerp(a.errors, b.errors, f))
        }
        (_, Some(b)) => (b.answered as f64, b.errors as f64),
        (Some(a), None) => (a.answered as f64, a.errors as f64),
        (None, None) => (0.0, 0.0),
    }
}

fn lerp(a: u64, b: u64, f: f64) -> f64 {
    a as f64 + (b as f64 - a as f64) * f
}

/// The true rate over `(t - window, t]`, with the number of answers it is over.
pub fn rate_at(points: &[Point], t: f64, window: f64) -> (f64, f64) {
    let (n1, e1) = counts_at(points, t);
    let (n0, e0) = counts_at(points, t - window);
    let n = n1 - n0;
    if n <= 0.0 { (0.0, 0.0) } else { ((e1 - e0) / n, n) }
}

/// The first time at or after `from` when the true rate over `window` reaches `threshold` over at least
/// `min_requests` answers, refined by interpolating between the two samples around the crossing.
pub fn crossing(points: &[Point], window: f64, threshold: f64, from: f64, min_requests: f64) -> Option<f64> {
    let mut prev: Option<(f64, f64)> = None;
    for p in points.iter().filter(|p| p.t >= from) {
        let (r, n) = rate_at(points, p.t, window);
        if r >= threshold && n >= min_requests {
            return Some(match prev {
                Some((t0, r0)) if r > r0 => t0 + (threshold - r0) / (r - r0) * (p.t - t0),
                _ => p.t,
            });
        }
        prev = Some((p.t, r));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 100 answers per second; from `step` on, `pct`% of them are 5xx; sampled every 0.1 s.
    fn steady(seconds: f64, step: f64, pct: u64) -> Vec<Point> {
        let mut points = Vec::new();
        let (mut n, mut e) = (0u64, 0u64);
        let mut k = 0u64;
        while (k as f64) * 0.1 <= seconds {
            let t = k as f64 * 0.1;
            if k > 0 {
                n += 10;
                if t > step {
                    e += 10 * pct / 100;
                }
            }
            points.push(Point { t, answered: n, errors: e });
            k += 1;
        }
        points
    }

    #[test]
    fn interpolates_counts() {
        let p = vec![Point { t: 0.0, answered: 0, errors: 0 }, Point { t: 1.0, answered: 100, errors: 10 }];
        assert_eq!(counts_at(&p, 0.5), (50.0, 5.0));
        assert_eq!(counts_at(&p, -3.0), (0.0, 0.0));
        assert_eq!(counts_at(&p, 7.0), (100.0, 10.0));
        assert_eq!(counts_at(&[], 1.0), (0.0, 0.0));
    }

    #[test]
    fn a_step_to_20_percent_crosses_10_percent_after_half_a_full_window() {
        // 300 s of clean traffic, then 20%: the 300 s rate is 0.2 * s / 300 after s seconds, 10% at s = 150.
        let points = steady(600.0, 300.0, 20);
        let t = crossing(&points, 300.0, 0.10, 300.0, 100.0).unwrap();
        assert!((t - 450.0).abs() < 0.2, "{t}");
        let w = crossing(&points, 300.0, 0.05, 300.0, 100.0).unwrap();
        assert!((w - 375.0).abs() < 0.2, "{w}");
        let (r, n) = rate_at(&points, 450.0, 300.0);
        assert!((r - 0.10).abs() < 0.001 && (n - 30_000.0).abs() < 1.0);
    }

    #[test]
    fn a_short_history_crosses_sooner() {
        // Only 60 s of clean traffic before the step: 0.2 s / (60 + s) = 0.1 at s = 60.
        let points = steady(200.0, 60.0, 20);
        let t = crossing(&points, 300.0, 0.10, 60.0, 100.0).unwrap();
        assert!((t - 120.0).abs() < 0.2, "{t}");
    }

    #[test]
    fn no_crossing_below_threshold_or_minimum() {
        let points = steady(400.0, 100.0, 5);
        assert_eq!(crossing(&points, 300.0, 0.10, 100.0, 100.0), None);
        let points = steady(5.0, 0.0, 50);
        assert_eq!(crossing(&points, 300.0, 0.10, 0.0, 1_000.0), None);
    }
}
