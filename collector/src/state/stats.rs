//! Flushes accepted and refused since start, for `/metrics`: atomic counters, so the ingest path
//! pays one relaxed increment.

use std::sync::atomic::{AtomicU64, Ordering};

/// Why a flush was refused (the `reason` label of `faultline_ingest_rejects_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reject {
    Unauthorized,
    Forbidden,
    TooLarge,
    Malformed,
    OverCapacity,
}

const REJECTS: [(Reject, &str); 5] = [
    (Reject::Unauthorized, "unauthorized"),
    (Reject::Forbidden, "forbidden"),
    (Reject::TooLarge, "too_large"),
    (Reject::Malformed, "malformed"),
    (Reject::OverCapacity, "over_capacity"),
];

const RESULTS: [&str; 3] = ["applied", "stale", "baseline"];

/// Flushes accepted (by result) and refused (by reason) since start.
#[derive(Debug, Default)]
pub struct IngestStats {
    rejects: [AtomicU64; 5],
    results: [AtomicU64; 3],
}

impl IngestStats {
    /// Counts a refused flush.
    pub fn reject(&self, why: Reject) {
        if let Some(c) = REJECTS.iter().position(|(r, _)| *r == why).and_then(|i| self.rejects.get(i)) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts an accepted flush by its result ("applied", "stale", "baseline").
    pub fn accepted(&self, result: &str) {
        if let Some(c) = RESULTS.iter().position(|r| *r == result).and_then(|i| self.results.get(i)) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn rejects(&self) -> Vec<(&'static str, u64)> {
        REJECTS.iter().zip(&self.rejects).map(|((_, name), c)| (*name, c.load(Ordering::Relaxed))).collect()
    }

    pub fn results(&self) -> Vec<(&'static str, u64)> {
        RESULTS.iter().zip(&self.results).map(|(name, c)| (*name, c.load(Ordering::Relaxed))).collect()
    }
}
