//! Refused configurations, carried by the flush.
//!
//! A root context whose configuration is refused passes its traffic uncounted and logs why,
//! but it has no collector to tell. On nginx each `proxy_wasm` line is its own root
//! context, so another line of the same proxy may flush: the refused one records
//! `(service, reason)` in shared data at `<zone>/refusals` and whichever root context of the
//! zone flushes carries the list ([`faultline_flush::Refusal`]). The list is bounded
//! ([`MAX_REFUSALS`]) and de-duplicated (every worker refuses the same line the same way).
//! Like every value here it lives as long as the shared data (an nginx reload wipes it).
//!
//! The zone and service come from the refused bytes when they are a JSON object: its `shm_zone` if
//! it holds a valid one, the default zone if it has none (a fixed version of the line would use that
//! zone too), and its `service` if valid. Bytes that are not a JSON object, or a `shm_zone` that is
//! not valid, cannot say which zone the proxy declared: nginx traps on an undeclared zone, so such a
//! refusal is only logged, never written.

use crate::codec::{DecodeError, truncate};
use crate::config::{DEFAULT_ZONE, is_valid_zone};
use crate::json::{self, Json};
use crate::merge::{MAX_ATTEMPTS, decode_keyed};
use crate::record::{self, KIND_REFUSALS, refusals_key};
use crate::service::is_clean;
use crate::shared::{HostError, SetError, SharedData, Slot, insert_if_absent, locate};
use faultline_flush::{Refusal, limits};
use thiserror::Error;

/// Most refusals kept (the flush format's limit); later distinct ones are only logged.
pub const MAX_REFUSALS: usize = limits::MAX_REFUSALS;
/// Longest reason kept, in bytes (the flush format's limit).
pub const MAX_REASON_LEN: usize = limits::MAX_REASON_LEN;

/// The refusals of one zone, as kept in shared data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusals {
    /// The key this value lives under.
    pub key: String,
    /// Distinct refusals, oldest first, at most [`MAX_REFUSALS`].
    pub entries: Vec<Refusal>,
}

impl Refusals {
    /// Encodes the list: the envelope, a count, then per entry a service flag, the service
    /// if any, and the reason.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = record::header(KIND_REFUSALS, &self.key);
        // At most MAX_REFUSALS entries are ever added.
        w.u8(u8::try_from(self.entries.len()).unwrap_or(u8::MAX));
        for r in &self.entries {
            match &r.service {
                Some(s) => {
                    w.u8(1);
                    w.str(s);
                }
                None => w.u8(0),
            }
            w.str(&r.reason);
        }
        w.finish()
    }

    /// Decodes and checks the list: bounded, unique, every entry valid in a flush.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let (key, mut r) = record::open(bytes, KIND_REFUSALS)?;
        let n = usize::from(r.u8()?);
        if n > MAX_REFUSALS {
            return Err(DecodeError::Invalid("too many refusals"));
        }
        let mut entries: Vec<Refusal> = Vec::with_capacity(n);
        for _ in 0..n {
            let service = match r.u8()? {
                0 => None,
                1 => {
                    let s = r.str()?;
                    record::check_name(s, limits::MAX_NAME_LEN)?;
                    Some(s.to_owned())
                }
                _ => return Err(DecodeError::Invalid("service flag")),
            };
            let reason = r.str()?;
            record::check_name(reason, MAX_REASON_LEN)?;
            let refusal = Refusal { service, reason: reason.to_owned() };
            if entries.contains(&refusal) {
                return Err(DecodeError::Invalid("duplicate refusal"));
            }
            entries.push(refusal);
        }
        r.end()?;
        Ok(Refusals { key, entries })
    }

    /// Adds `refusal` unless it is known or the list is full.
    pub fn add(&mut self, refusal: &Refusal) -> Added {
        if self.entries.contains(refusal) {
            Added::Known
        } else if self.entries.len() >= MAX_REFUSALS {
            Added::Full
        } else {
            self.entries.push(refusal.clone());
            Added::New
        }
    }
}

/// What recording a refusal did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    /// It is in the list now.
    New,
    /// It was there already (another worker, or an earlier configure, refused the same).
    Known,
    /// The list holds [`MAX_REFUSALS`] others: it is only logged.
    Full,
}

/// A refused configuration: where to record it and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// The configuration's `shm_zone` if it could be read, else the default zone.
    pub zone: String,
    /// Its `service` if it could be read, and the reason made valid for a flush.
    pub refusal: Refusal,
}

/// What the refused configuration `bytes` reveal, with `reason` (the error as logged); `None` when
/// they cannot say which zone to record it in (see the module doc).
pub fn describe(bytes: &[u8], reason: &str) -> Option<Refused> {
    // Empty or not a JSON object: nothing to read. Otherwise the rest may be as wrong as it likes.
    let Ok(Json::Obj(map)) = json::parse(bytes) else { return None };
    let value = |key: &str| map.iter().find(|(k, _)| k == key).map(|(_, v)| v);
    let text = |key: &str| match value(key) {
        Some(Json::Str(s)) => Some(s.as_str()),
        _ => None,
    };
    let zone = match value("shm_zone") {
        None => DEFAULT_ZONE.to_owned(),
        Some(_) => text("shm_zone").filter(|z| is_valid_zone(z))?.to_owned(),
    };
    let service = text("service").filter(|s| is_clean(s)).map(str::to_owned);
    Some(Refused { zone, refusal: Refusal { service, reason: clean_reason(reason) } })
}

/// `reason` as a valid flush reason: control characters replaced by `_`, cut to
/// [`MAX_REASON_LEN`] bytes at a char boundary, never empty.
pub fn clean_reason(reason: &str) -> String {
    let cleaned: String = reason.chars().map(|c| if c.is_control() { '_' } else { c }).collect();
    let cut = truncate(&cleaned, MAX_REASON_LEN);
    if cut.is_empty() { "configuration refused".to_owned() } else { cut.to_owned() }
}

/// Why a refusal could not be recorded (it is still logged).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RecordError {
    /// Every probe key holds another value (collisions, foreign data).
    #[error("no free shared-data key for the refusals")]
    NoSlot,
    /// Other root contexts kept winning the CAS race.
    #[error("lost the CAS race {MAX_ATTEMPTS} times")]
    Contended,
    /// The host failed a call.
    #[error(transparent)]
    Host(#[from] HostError),
}

/// Finds the refusals of `zone`.
pub fn find<S: SharedData + ?Sized>(store: &S, zone: &str) -> Result<Slot<Refusals>, HostError> {
    locate(store, |p| refusals_key(zone, p), |key, bytes| decode_keyed(Refusals::decode(bytes), key, |r| &r.key))
}

/// The refusals of `zone` for a flush (none when nothing was recorded).
pub fn read<S: SharedData + ?Sized>(store: &S, zone: &str) -> Result<Vec<Refusal>, HostError> {
    Ok(match find(store, zone)? {
        Slot::Found { value, .. } => value.entries,
        Slot::Free { .. } | Slot::Taken => Vec::new(),
    })
}

/// Adds `refusal` to the refusals of `zone`: read, add, write with the cas read (a lost
/// race is retried); a missing list is created with an insert-if-absent, right on both hosts.
pub fn record<S: SharedData + ?Sized>(store: &S, zone: &str, refusal: &Refusal) -> Result<Added, RecordError> {
    for _ in 0..MAX_ATTEMPTS {
        match find(store, zone)? {
            Slot::Found { key, mut value, cas } => {
                let added = value.add(refusal);
                if added != Added::New {
                    return Ok(added);
                }
                match store.set(&key, &value.encode(), cas) {
                    Ok(()) => return Ok(Added::New),
                    Err(SetError::CasMismatch) => continue,
                    Err(SetError::Host(e)) => return Err(e.into()),
                }
            }
            Slot::Free { key } => {
                let list = Refusals { key, entries: vec![refusal.clone()] };
                if insert_if_absent(store, &list.key, &list.encode())? {
                    return Ok(Added::New);
                }
            }
            Slot::Taken => return Err(RecordError::NoSlot),
        }
    }
    Err(RecordError::Contended)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::boot_key;
    use crate::shared::memory::{CasRules, MemoryShared};
    use std::rc::Rc;

    fn refusal(service: Option<&str>, reason: &str) -> Refusal {
        Refusal { service: service.map(Into::into), reason: reason.into() }
    }

    #[test]
    fn describe_reads_zone_and_service_leniently() {
        let r = describe(br#"{"service":"ai","shm_zone":"edge","colour":"red"}"#, "unknown key `colour`");
        assert_eq!(r, Some(Refused { zone: "edge".into(), refusal: refusal(Some("ai"), "unknown key `colour`") }));
        let r = describe(br#" {"service":"ai","flush_interval_ms":"x"} "#, "bad").unwrap();
        assert_eq!((r.zone.as_str(), r.refusal.service.as_deref()), ("faultline", Some("ai")), "no zone: the default");
        // Not a JSON object: which zone the proxy declared is unknown, and nginx traps on an undeclared one.
        for bytes in [&b""[..], b"   ", b"{\"service\":", b"[\"service\",\"ai\"]", b"null"] {
            assert_eq!(describe(bytes, "x"), None, "{bytes:?}");
        }
        assert_eq!(describe(br#"{"service":"ai","service":"be"}"#, "x"), None, "duplicate keys: not an object");
        // An invalid zone is not guessed; an invalid service is left out.
        for bytes in [r#"{"shm_zone":"a/b"}"#, r#"{"shm_zone":""}"#, r#"{"shm_zone":["edge"]}"#] {
            assert_eq!(describe(bytes.as_bytes(), "x"), None, "{bytes}");
        }
        let long = "s".repeat(129);
        for bytes in [format!(r#"{{"service":"{long}"}}"#), r#"{"service":"a\nb"}"#.into(), r#"{"service":7}"#.into()] {
            assert_eq!(describe(bytes.as_bytes(), "x").unwrap().refusal.service, None, "{bytes}");
        }
    }

    #[test]
    fn reasons_are_made_valid() {
        assert_eq!(clean_reason("unknown key `a\nb`\u{7f}"), "unknown key `a_b`_");
        assert_eq!(clean_reason(""), "configuration refused");
        let long = format!("{}é", "x".repeat(MAX_REASON_LEN - 1));
        assert_eq!(clean_reason(&long), "x".repeat(MAX_REASON_LEN - 1), "cut at a char boundary");
        assert_eq!(clean_reason(&"é".repeat(200)).len(), MAX_REASON_LEN);
    }

    #[test]
    fn lists_round_trip_and_garbage_is_an_error() {
        let list = Refusals {
            key: refusals_key("z", 0),
            entries: vec![refusal(Some("ai"), "unknown key `colour`"), refusal(None, "configuration is empty")],
        };
        let good = list.encode();
        assert_eq!(Refusals::decode(&good), Ok(list.clone()));
        let empty = Refusals { key: refusals_key("z", 1), entries: vec![] };
        assert_eq!(Refusals::decode(&empty.encode()), Ok(empty));
        for len in 0..good.len() {
            assert!(Refusals::decode(&good[..len]).is_err());
        }
        for i in 0..good.len() {
            for b in [0u8, 1, 2, 0x0a, 0x7f, 0xff] {
                let mut bad = good.clone();
                bad[i] = b;
                if let Ok(r) = Refusals::decode(&bad) {
                    assert!(r.entries.len() <= MAX_REFUSALS);
                    assert!(r.entries.iter().all(|e| !e.reason.is_empty() && !e.reason.contains('\n')));
                }
            }
        }
        let dup = Refusals { key: "k".into(), entries: vec![refusal(None, "r"), refusal(None, "r")] };
        assert_eq!(Refusals::decode(&dup.encode()), Err(DecodeError::Invalid("duplicate refusal")));
        let many = Refusals { key: "k".into(), entries: (0..17).map(|i| refusal(None, &format!("r{i}"))).collect() };
        assert_eq!(Refusals::decode(&many.encode()), Err(DecodeError::Invalid("too many refusals")));
        let bad_reason = Refusals { key: "k".into(), entries: vec![refusal(Some("ai"), "a\tb")] };
        assert!(Refusals::decode(&bad_reason.encode()).is_err());
        // Another kind of value (a collision on nginx) is not a list of refusals.
        let boot = crate::record::BootLease {
            key: boot_key("z", 0),
            boot_id: "b".into(),
            boot_ms: 0,
            holder: 0,
            next_due_ms: 0,
            seq: 0,
        };
        assert!(matches!(Refusals::decode(&boot.encode()), Err(DecodeError::WrongKind { .. })));
    }

    #[test]
    fn records_are_bounded_and_deduplicated_on_both_hosts() {
        for rules in [CasRules::Envoy, CasRules::Nginx] {
            let s = MemoryShared::new(rules);
            assert_eq!(read(&s, "z"), Ok(vec![]), "{rules:?}");
            let ai = refusal(Some("ai"), "unknown key `colour`");
            assert_eq!(record(&s, "z", &ai), Ok(Added::New), "{rules:?}");
            assert_eq!(record(&s, "z", &ai), Ok(Added::Known), "{rules:?}");
            for i in 0..20 {
                let r = refusal(None, &format!("reason {i}"));
                let want = if i < MAX_REFUSALS - 1 { Added::New } else { Added::Full };
                assert_eq!(record(&s, "z", &r), Ok(want), "{rules:?} #{i}");
            }
            let got = read(&s, "z").unwrap();
            assert_eq!(got.len(), MAX_REFUSALS, "{rules:?}");
            assert_eq!(got.first(), Some(&ai), "oldest first");
            assert_eq!(read(&s, "other"), Ok(vec![]), "zones are apart");
        }
    }

    #[test]
    fn racing_recorders_lose_nothing() {
        // Each write is raced by another root context recording its own refusal first
        // (Envoy's cas-0 write on a missing key would drop one of them).
        for rules in [CasRules::Envoy, CasRules::Nginx] {
            let s = Rc::new(MemoryShared::new(rules));
            let weak = Rc::downgrade(&s);
            let racer = std::cell::Cell::new(0);
            s.set_before_set(move || {
                let n = racer.get();
                if n < 3
                    && let Some(s) = weak.upgrade()
                {
                    racer.set(n + 1);
                    let _ = record(&*s, "z", &refusal(Some("racer"), &format!("r{n}")));
                }
            });
            assert_eq!(record(&*s, "z", &refusal(Some("ai"), "mine")), Ok(Added::New), "{rules:?}");
            *s.before_set_slot() = None;
            let got = read(&*s, "z").unwrap();
            assert_eq!(got.len(), 4, "{rules:?}: {got:?}");
            assert!(got.contains(&refusal(Some("ai"), "mine")));
        }
    }

    #[test]
    fn colliding_values_are_kept_and_host_errors_reported() {
        // nginx finds keys by a hash: here every key shares one slot, held by a boot value.
        let s = MemoryShared::with_slots(CasRules::Nginx, |k| k.trim_end_matches(|c: char| c != '/').to_owned());
        let boot = crate::record::BootLease {
            key: boot_key("z", 0),
            boot_id: "b".into(),
            boot_ms: 0,
            holder: 0,
            next_due_ms: 0,
            seq: 0,
        };
        s.set(&boot.key, &boot.encode(), 0).unwrap();
        assert_eq!(record(&s, "z", &refusal(None, "r")), Err(RecordError::NoSlot));
        assert_eq!(s.get(&boot.key).unwrap().unwrap().0, boot.encode(), "the colliding value is untouched");
        assert_eq!(read(&s, "z"), Ok(vec![]));
        let s = MemoryShared::new(CasRules::Envoy);
        s.set_failing(true);
        assert!(matches!(record(&s, "z", &refusal(None, "r")), Err(RecordError::Host(_))));
        assert!(read(&s, "z").is_err());
    }
}
