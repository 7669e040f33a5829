//! Target `flush_parse`: the flush body parser (`faultline_flush::Flush::parse`) on any
//! bytes, then the collector's ledger on what it accepts.
//!
//! Input: up to 16 bodies separated by NUL (which valid JSON never holds unescaped).
//! Properties: never panics; a refusal says why; an accepted flush passes `validate`,
//! round-trips through `to_json`, and the filter's hand-written writer
//! (`faultline_filter::flush_json::write_flush`) produces byte-identical JSON; the accepted
//! flushes, applied in order, keep the ledger consistent with the model in
//! [`super::ledger::Harness`].

use super::ledger::Harness;
use faultline_collector::decide::ledger::LedgerCaps;
use faultline_flush::Flush;

pub fn check(data: &[u8]) {
    let mut h = Harness::new(300_000, LedgerCaps { max_proxies: 4, max_boots_per_proxy: 2 });
    let mut now = 1_764_540_000_000u64;
    for body in data.split(|b| *b == 0).take(16) {
        now += 5_000;
        let f = match Flush::parse(body) {
            Ok(f) => f,
            Err(e) => {
                assert!(!e.0.is_empty(), "refused without a reason");
                continue;
            }
        };
        assert_eq!(f.validate(), Ok(()));
        let json = f.to_json();
        assert_eq!(
            String::from_utf8_lossy(&faultline_filter::flush_json::write_flush(&f)),
            String::from_utf8_lossy(&json),
            "the filter writes this flush differently"
        );
        assert_eq!(Flush::parse(&json).as_ref(), Ok(&f), "to_json does not round-trip");
        h.apply(&f, now);
    }
    h.check_restore();
}
