//! What the property tests did, summed over cases (printed, and recorded in FUZZING.md).

/// What a run did (summed over cases for the record).
#[derive(Debug, Default, Clone)]
pub struct Stats {
    pub cases: u64,
    pub ops: u64,
    pub streams: u64,
    pub flushes_checked: u64,
    /// Flushes holding the overflow service "(other)" (a `max_services` bound folded).
    pub flushes_with_overflow: u64,
    /// Ticks run inside another VM's shared-data write, and flushes they sent.
    pub interferences: u64,
    pub nested_ticks: u64,
    pub flushes_mid_merge: u64,
    pub settles: u64,
    pub ticks: u64,
    pub restarts_graceful: u64,
    pub restarts_abrupt: u64,
    pub reconfigures: u64,
    pub wipes: u64,
    /// Responses + no-responses lost with abruptly dropped VMs (the model's exact bound).
    pub lost_abrupt: u64,
    /// Responses + no-responses of wiped boots that no flush of theirs carried.
    pub unflushed_at_wipe: u64,
    pub simulated_ms: u64,
}

impl Stats {
    pub fn add(&mut self, o: &Stats) {
        self.cases += o.cases;
        self.ops += o.ops;
        self.streams += o.streams;
        self.flushes_checked += o.flushes_checked;
        self.flushes_with_overflow += o.flushes_with_overflow;
        self.interferences += o.interferences;
        self.nested_ticks += o.nested_ticks;
        self.flushes_mid_merge += o.flushes_mid_merge;
        self.settles += o.settles;
        self.ticks += o.ticks;
        self.restarts_graceful += o.restarts_graceful;
        self.restarts_abrupt += o.restarts_abrupt;
        self.reconfigures += o.reconfigures;
        self.wipes += o.wipes;
        self.lost_abrupt += o.lost_abrupt;
        self.unflushed_at_wipe += o.unflushed_at_wipe;
        self.simulated_ms += o.simulated_ms;
    }
}
