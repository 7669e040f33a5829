//! Alerts the state database could not take (disk full, read-only, I/O errors): kept in memory in order,
//! delivered from memory while the database cannot be written, and written once it can — undelivered ones
//! to the outbox, delivered ones straight into the delivery history — so an unwritable database never
//! silences an alert and never makes one be sent twice. Also the database's trouble, for `/healthz` and the
//! loud log. Pure: no I/O, time as an argument.

use crate::decide::notice::Notice;

/// At most this many alerts are kept in memory; beyond, the oldest delivered ones lose their history record.
pub const MAX_UNSAVED: usize = 10_000;

/// Where an unsaved alert's delivery stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Not sent yet (or to be sent again).
    Waiting,
    /// A delivery worker is sending it now.
    Sending,
    /// Discord answered: `outcome` as in the `sent` table ("delivered", "delivered_fallback", "refused").
    Done { sent_ms: u64, message_id: Option<String>, outcome: &'static str },
}

/// One alert not yet in the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsavedAlert {
    pub key: u64,
    pub webhook: String,
    pub notice: Notice,
    /// Discord refused the full message (400): the plain fallback is due.
    pub fallback: bool,
    pub delivery: Delivery,
}

/// What the database's trouble looks like now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trouble {
    pub since_ms: u64,
    pub error: String,
    pub last_logged_ms: u64,
}

/// The in-memory outbox of alerts not yet saved, and the database's trouble.
#[derive(Debug, Default)]
pub struct Unsaved {
    next_key: u64,
    alerts: Vec<UnsavedAlert>,
    /// Set while writes fail.
    pub trouble: Option<Trouble>,
    /// Records dropped because of [`MAX_UNSAVED`] since start.
    pub dropped: u64,
}

/// What a failed or succeeded write means for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogNow {
    /// The first failure, or a reminder (every minute while it lasts).
    Failing {
        for_ms: u64,
    },
    /// Writable again after `for_ms`.
    Recovered {
        for_ms: u64,
    },
    Quiet,
}

impl Unsaved {
    /// Queues an alert for `webhook`.
    pub fn push(&mut self, webhook: String, notice: Notice) {
        self.next_key += 1;
        self.alerts.push(UnsavedAlert {
            key: self.next_key,
            webhook,
            notice,
            fallback: false,
            delivery: Delivery::Waiting,
        });
        if self.alerts.len() > MAX_UNSAVED
            && let Some(i) = self.alerts.iter().position(|a| matches!(a.delivery, Delivery::Done { .. }))
        {
            self.alerts.remove(i);
            self.dropped += 1;
        }
    }

    /// Alerts held in memory.
    pub fn len(&self) -> usize {
        self.alerts.len()
    }

    /// Alerts held in memory that Discord has not accepted yet.
    pub fn undelivered(&self) -> usize {
        self.alerts.iter().filter(|a| !matches!(a.delivery, Delivery::Done { .. })).count()
    }

    /// Whether none are held.
    pub fn is_empty(&self) -> bool {
        self.alerts.is_empty()
    }

    /// Whether a delivery of one is in flight (then nothing is written: its outcome decides where it goes).
    pub fn sending(&self) -> bool {
        self.alerts.iter().any(|a| a.delivery == Delivery::Sending)
    }

    /// The oldest waiting alert of `webhook`, marked as being sent.
    pub fn take_next(&mut self, webhook: &str) -> Option<UnsavedAlert> {
        let a = self.alerts.iter_mut().find(|a| a.webhook == webhook && a.delivery == Delivery::Waiting)?;
        a.delivery = Delivery::Sending;
        Some(a.clone())
    }

    /// Discord answered for alert `key` (`outcome` as in the `sent` table).
    pub fn done(&mut self, key: u64, sent_ms: u64, message_id: Option<String>, outcome: &'static str) {
        if let Some(a) = self.alerts.iter_mut().find(|a| a.key == key) {
            a.delivery = Delivery::Done { sent_ms, message_id, outcome };
        }
    }

    /// Alert `key` was not delivered: waiting again (with the plain fallback next when `fallback`).
    pub fn retry(&mut self, key: u64, fallback: bool) {
        if let Some(a) = self.alerts.iter_mut().find(|a| a.key == key) {
            a.delivery = Delivery::Waiting;
            a.fallback |= fallback;
        }
    }

    /// The alerts to write now, in order (none while one is being sent).
    pub fn to_write(&self) -> &[UnsavedAlert] {
        if self.sending() { &[] } else { &self.alerts }
    }

    /// Forgets the first `n` alerts (written).
    pub fn written(&mut self, n: usize) {
        self.alerts.drain(..n.min(self.alerts.len()));
    }

    /// Webhooks with alerts waiting in memory.
    pub fn waiting_webhooks(&self) -> Vec<String> {
        let mut hooks: Vec<String> =
            self.alerts.iter().filter(|a| a.delivery == Delivery::Waiting).map(|a| a.webhook.clone()).collect();
        hooks.sort();
        hooks.dedup();
        hooks
    }

    /// A write failed at `now_ms` with `error`: whether to log it now.
    pub fn failed(&mut self, error: String, now_ms: u64) -> LogNow {
        match &mut self.trouble {
            None => {
                self.trouble = Some(Trouble { since_ms: now_ms, error, last_logged_ms: now_ms });
                LogNow::Failing { for_ms: 0 }
            }
            Some(t) => {
                t.error = error;
                if now_ms.saturating_sub(t.last_logged_ms) >= 60_000 {
                    t.last_logged_ms = now_ms;
                    LogNow::Failing { for_ms: now_ms.saturating_sub(t.since_ms) }
                } else {
                    LogNow::Quiet
                }
            }
        }
    }

    /// A write succeeded at `now_ms`.
    pub fn succeeded(&mut self, now_ms: u64) -> LogNow {
        match self.trouble.take() {
            Some(t) => LogNow::Recovered { for_ms: now_ms.saturating_sub(t.since_ms) },
            None => LogNow::Quiet,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::alert::{Level, RateChange, Thresholds};
    use crate::decide::health::Health;
    use crate::decide::notice::Event;

    fn notice(service: &str) -> Notice {
        Notice {
            service: service.into(),
            at_ms: 1,
            event: Event::Rate(RateChange::Raised { to: Level::Critical }),
            level: Level::Critical,
            health: Health::Unknown,
            window_ms: 1000,
            requests: 100,
            errors: 20,
            thresholds: Thresholds { warning_bp: 500, critical_bp: 1000, min_requests: 10, clear_pct: 80 },
            top_routes: vec![],
            rate_still: None,
            last_probe: None,
            coverage: None,
            down_since_ms: None,
            failures: 0,
            covers_ms: None,
            burst: None,
            last_failures: vec![],
        }
    }

    #[test]
    fn alerts_go_out_in_order_per_webhook_and_are_written_once_settled() {
        let mut u = Unsaved::default();
        u.push("a".into(), notice("be"));
        u.push("b".into(), notice("ai"));
        u.push("a".into(), notice("fe"));
        assert_eq!(u.waiting_webhooks(), vec!["a".to_string(), "b".to_string()]);
        let first = u.take_next("a").unwrap();
        assert_eq!(first.notice.service, "be");
        assert!(u.sending() && u.to_write().is_empty(), "nothing is written while a delivery is in flight");
        assert_eq!(u.take_next("a").unwrap().notice.service, "fe", "the next one of the same webhook");
        u.retry(first.key, true);
        u.done(3, 7, Some("m".into()), "delivered");
        let b = u.take_next("b").unwrap();
        u.done(b.key, 8, None, "delivered");
        let w = u.to_write();
        assert_eq!(w.len(), 3);
        assert_eq!((w[0].delivery.clone(), w[0].fallback), (Delivery::Waiting, true));
        assert!(matches!(w[2].delivery, Delivery::Done { sent_ms: 7, .. }));
        assert_eq!(u.take_next("a").unwrap().key, first.key, "retried first, with its fallback");
        u.retry(first.key, false);
        u.written(3);
        assert!(u.is_empty());
    }

    #[test]
    fn trouble_is_logged_first_then_every_minute_then_recovery() {
        let mut u = Unsaved::default();
        assert_eq!(u.failed("disk full".into(), 1_000), LogNow::Failing { for_ms: 0 });
        assert_eq!(u.failed("disk full".into(), 2_000), LogNow::Quiet);
        assert_eq!(u.failed("read-only".into(), 61_000), LogNow::Failing { for_ms: 60_000 });
        assert_eq!(u.trouble.as_ref().map(|t| t.error.as_str()), Some("read-only"));
        assert_eq!(u.succeeded(70_000), LogNow::Recovered { for_ms: 69_000 });
        assert_eq!(u.succeeded(71_000), LogNow::Quiet);
    }

    #[test]
    fn memory_is_bounded_by_dropping_the_oldest_delivered_records() {
        let mut u = Unsaved::default();
        for _ in 0..MAX_UNSAVED {
            u.push("a".into(), notice("be"));
        }
        let a = u.take_next("a").unwrap();
        u.done(a.key, 1, None, "delivered");
        u.push("a".into(), notice("ai"));
        assert_eq!((u.len(), u.dropped), (MAX_UNSAVED, 1));
        assert!(u.alerts.iter().all(|x| x.key != a.key), "the delivered one went, not a waiting one");
    }
}
