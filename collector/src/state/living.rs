//! Where each incident's living message is, the body last sent for each, and each webhook's guild and
//! channel: kept in memory for this run (so that a state database that cannot be written never makes an
//! edit post a second living message) and written through to the store when it can be.

use crate::clock::now_ms;
use crate::store::Store;
use crate::store::act::{LivingRecord, WebhookInfo};
use serde_json::Value;
use std::collections::BTreeMap;

/// At most this many entries of each kind are kept in memory (the store has them all).
const CACHED: usize = 4096;

/// The in-memory side of the living messages.
#[derive(Debug, Default)]
pub struct LivingBook {
    records: BTreeMap<(String, u64), Option<LivingRecord>>,
    bodies: BTreeMap<String, Value>,
    info: BTreeMap<String, WebhookInfo>,
    /// When fetching a webhook's info last failed (tried again a minute later).
    pub info_failed_ms: BTreeMap<String, u64>,
}

fn bound<K: Ord, V>(m: &mut BTreeMap<K, V>) {
    if m.len() > CACHED {
        m.clear();
    }
}

impl LivingBook {
    /// Where the living message of `service`'s incident opened at `opened_ms` is, if it has one.
    pub fn record(&mut self, store: &Store, service: &str, opened_ms: u64) -> Option<LivingRecord> {
        let key = (service.to_string(), opened_ms);
        if let Some(r) = self.records.get(&key) {
            return r.clone();
        }
        let r = store.living(service, opened_ms).unwrap_or_else(|e| {
            tracing::error!("reading a living message's record failed: {e}");
            None
        });
        bound(&mut self.records);
        self.records.insert(key, r.clone());
        r
    }

    /// Records (or forgets) where an incident's living message is.
    pub fn set_record(&mut self, store: &mut Store, service: &str, opened_ms: u64, rec: Option<LivingRecord>) {
        if let Err(e) = store.put_living(service, opened_ms, rec.as_ref(), now_ms()) {
            tracing::error!("recording a living message failed (kept in memory): {e}");
        }
        bound(&mut self.records);
        self.records.insert((service.to_string(), opened_ms), rec);
    }

    /// The body last sent for message `message_id`.
    pub fn body(&mut self, store: &Store, message_id: &str) -> Option<Value> {
        if let Some(b) = self.bodies.get(message_id) {
            return Some(b.clone());
        }
        store.message_body(message_id).ok().flatten()
    }

    /// Records the body last sent for a message.
    pub fn set_body(&mut self, store: &mut Store, message_id: &str, webhook: &str, body: Value) {
        if let Err(e) = store.put_message_body(message_id, webhook, &body, now_ms()) {
            tracing::error!("recording a living message's body failed (kept in memory): {e}");
        }
        bound(&mut self.bodies);
        self.bodies.insert(message_id.to_string(), body);
    }

    /// A webhook's guild and channel, if known.
    pub fn info(&mut self, store: &Store, webhook: &str) -> Option<WebhookInfo> {
        if let Some(i) = self.info.get(webhook) {
            return Some(i.clone());
        }
        let i = store.webhook_info(webhook).ok().flatten()?;
        self.info.insert(webhook.to_string(), i.clone());
        Some(i)
    }

    /// Records a webhook's guild and channel.
    pub fn set_info(&mut self, store: &mut Store, webhook: &str, info: WebhookInfo) {
        if let Err(e) = store.put_webhook_info(webhook, &info, now_ms()) {
            tracing::error!("recording a webhook's channel failed (kept in memory): {e}");
        }
        self.info_failed_ms.remove(webhook);
        self.info.insert(webhook.to_string(), info);
    }
}
