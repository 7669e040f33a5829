//! The values the filter keeps in shared data, and their binary encoding.
//!
//! Every value starts with an envelope: magic `FL`, format version, kind, and **the key
//! it was written under**. ngx_wasm_module finds keys by a CRC32 of the key alone, so
//! two keys can share a slot; reading a value whose embedded key (or service name) is
//! not the one asked for reveals such a collision, and the caller probes another key
//! (see [`crate::shared::locate`]). Decoding garbage is an error, never a panic.

use crate::codec::{DecodeError, Reader, Writer};
use crate::counts::ServiceCounts;
use crate::routes::RouteStat;
use faultline_flush::limits;

const MAGIC: [u8; 2] = *b"FL";
const VERSION: u8 = 1;

/// Kind byte of a [`ServiceRecord`].
pub const KIND_SERVICE: u8 = 1;
/// Kind byte of a [`Registry`].
pub const KIND_REGISTRY: u8 = 2;
/// Kind byte of a [`BootLease`].
pub const KIND_BOOT: u8 = 3;
/// Kind byte of the refused configurations ([`crate::refusals::Refusals`]).
pub const KIND_REFUSALS: u8 = 4;

/// How many keys are tried for one logical value before giving up (collisions).
pub const PROBES: usize = 4;

/// The shared-data key of probe `probe` of a service's record: `<zone>/svc/<name>`,
/// then `<zone>/svc~1/<name>`, ... (the probe number sits where no name can put it).
pub fn service_key(zone: &str, name: &str, probe: usize) -> String {
    if probe == 0 { format!("{zone}/svc/{name}") } else { format!("{zone}/svc~{probe}/{name}") }
}

/// The key of probe `probe` of the service registry: `<zone>/registry`, `<zone>/registry~1`...
pub fn registry_key(zone: &str, probe: usize) -> String {
    fixed_key(zone, "registry", probe)
}

/// The key of probe `probe` of the boot/lease value: `<zone>/boot`, `<zone>/boot~1`...
pub fn boot_key(zone: &str, probe: usize) -> String {
    fixed_key(zone, "boot", probe)
}

/// The key of probe `probe` of the refused configurations: `<zone>/refusals`, `<zone>/refusals~1`...
pub fn refusals_key(zone: &str, probe: usize) -> String {
    fixed_key(zone, "refusals", probe)
}

fn fixed_key(zone: &str, name: &str, probe: usize) -> String {
    if probe == 0 { format!("{zone}/{name}") } else { format!("{zone}/{name}~{probe}") }
}

/// A writer holding the envelope of a value of `kind` written under `key`.
pub(crate) fn header(kind: u8, key: &str) -> Writer {
    let mut w = Writer::with_capacity(64);
    w.u8(MAGIC[0]);
    w.u8(MAGIC[1]);
    w.u8(VERSION);
    w.u8(kind);
    w.str(key);
    w
}

/// Reads the envelope; returns the embedded key and a reader positioned after it.
pub(crate) fn open(bytes: &[u8], kind: u8) -> Result<(String, Reader<'_>), DecodeError> {
    let mut r = Reader::new(bytes);
    if [r.u8()?, r.u8()?] != MAGIC || r.u8()? != VERSION {
        return Err(DecodeError::BadMagic);
    }
    let found = r.u8()?;
    if found != kind {
        return Err(DecodeError::WrongKind { expected: kind, found });
    }
    let key = r.str()?.to_owned();
    Ok((key, r))
}

/// A name (or text) that is 1..=`max` bytes without control characters.
pub(crate) fn check_name(s: &str, max: usize) -> Result<(), DecodeError> {
    if s.is_empty() || s.len() > max || s.chars().any(char::is_control) {
        return Err(DecodeError::Invalid("name"));
    }
    Ok(())
}

/// Cumulative counters of one service since the boot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceRecord {
    /// The key this record lives under.
    pub key: String,
    /// The service name.
    pub name: String,
    /// The counters.
    pub counts: ServiceCounts,
}

impl ServiceRecord {
    /// Encodes the record.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = header(KIND_SERVICE, &self.key);
        w.str(&self.name);
        let c = &self.counts;
        for v in [c.responses, c.status_4xx, c.status_5xx, c.no_response] {
            w.u64(v);
        }
        // At most MAX_ROUTES entries are ever kept (config bound), so this fits u16.
        w.u16(u16::try_from(c.routes.len()).unwrap_or(u16::MAX));
        for (route, s) in c.routes.iter() {
            w.str(route);
            w.u64(s.count);
            w.u64(s.first_ms);
            w.u64(s.last_ms);
        }
        // Written after the routes, and only when not zero: a record of a filter before it reads the same,
        // and it reads records written before it (nothing after the routes: zero). The exemplars follow,
        // only when there are some (after the unreachable count, then always written).
        if c.unreachable > 0 || !c.exemplars.is_empty() {
            w.u64(c.unreachable);
        }
        if !c.exemplars.is_empty() {
            c.exemplars.encode(&mut w);
        }
        w.finish()
    }

    /// Decodes and checks a record: consistent counters, bounded and well-formed routes.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let (key, mut r) = open(bytes, KIND_SERVICE)?;
        let name = r.str()?.to_owned();
        check_name(&name, limits::MAX_NAME_LEN)?;
        let mut counts = ServiceCounts {
            responses: r.u64()?,
            status_4xx: r.u64()?,
            status_5xx: r.u64()?,
            no_response: r.u64()?,
            ..ServiceCounts::default()
        };
        let n = usize::from(r.u16()?);
        if n > limits::MAX_ROUTES {
            return Err(DecodeError::Invalid("too many routes"));
        }
        for _ in 0..n {
            let route = r.str()?;
            check_name(route, limits::MAX_ROUTE_LEN)?;
            let stat = RouteStat { count: r.u64()?, first_ms: r.u64()?, last_ms: r.u64()? };
            if stat.first_ms > stat.last_ms {
                return Err(DecodeError::Invalid("route time span"));
            }
            let before = counts.routes.len();
            counts.routes.add(route, &stat, usize::MAX);
            if counts.routes.len() == before {
                return Err(DecodeError::Invalid("duplicate route"));
            }
        }
        if !r.is_empty() {
            counts.unreachable = r.u64()?;
        }
        if !r.is_empty() {
            counts.exemplars = crate::exemplars::Exemplars::decode(&mut r)?;
        }
        r.end()?;
        if !counts.is_consistent() {
            return Err(DecodeError::Invalid("inconsistent counters"));
        }
        Ok(ServiceRecord { key, name, counts })
    }
}

/// The names of every service with a record (shared data cannot be listed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registry {
    /// The key this registry lives under.
    pub key: String,
    /// Service names, in registration order.
    pub names: Vec<String>,
}

impl Registry {
    /// Encodes the registry.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = header(KIND_REGISTRY, &self.key);
        w.u16(u16::try_from(self.names.len()).unwrap_or(u16::MAX));
        for n in &self.names {
            w.str(n);
        }
        w.finish()
    }

    /// Decodes and checks a registry (bounded, valid and unique names).
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let (key, mut r) = open(bytes, KIND_REGISTRY)?;
        let n = usize::from(r.u16()?);
        if n > limits::MAX_SERVICES {
            return Err(DecodeError::Invalid("too many services"));
        }
        let mut names: Vec<String> = Vec::with_capacity(n);
        for _ in 0..n {
            let name = r.str()?;
            check_name(name, limits::MAX_NAME_LEN)?;
            if names.iter().any(|x| x == name) {
                return Err(DecodeError::Invalid("duplicate service"));
            }
            names.push(name.to_owned());
        }
        r.end()?;
        Ok(Registry { key, names })
    }
}

/// The proxy's boot (random id, start time) and the flush lease, kept in one value so
/// that the flush sequence can never restart under the same boot id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootLease {
    /// The key this value lives under.
    pub key: String,
    /// Random id of this boot of the shared memory.
    pub boot_id: String,
    /// When the boot began, unix ms.
    pub boot_ms: u64,
    /// Root context that took the lease last (diagnostics).
    pub holder: u64,
    /// When the next flush is due, unix ms.
    pub next_due_ms: u64,
    /// Number of the last flush lease taken in this boot.
    pub seq: u64,
}

impl BootLease {
    /// Encodes the value.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = header(KIND_BOOT, &self.key);
        w.str(&self.boot_id);
        for v in [self.boot_ms, self.holder, self.next_due_ms, self.seq] {
            w.u64(v);
        }
        w.finish()
    }

    /// Decodes and checks the value.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let (key, mut r) = open(bytes, KIND_BOOT)?;
        let boot_id = r.str()?.to_owned();
        check_name(&boot_id, limits::MAX_NAME_LEN)?;
        let v = BootLease { key, boot_id, boot_ms: r.u64()?, holder: r.u64()?, next_due_ms: r.u64()?, seq: r.u64()? };
        r.end()?;
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::counts::StatusClass;

    fn record() -> ServiceRecord {
        let mut counts = ServiceCounts::default();
        counts.response(StatusClass::Other, None, 1, 2);
        counts.response(StatusClass::ClientError, None, 1, 2);
        for (i, r) in ["GET /a", "POST /b/:id", "PUT /c", "GET /d"].iter().enumerate() {
            counts.response(StatusClass::ServerError, Some(r), 10 + i as u64, 2);
        }
        counts.no_response();
        ServiceRecord { key: service_key("z", "be", 0), name: "be".into(), counts }
    }

    #[test]
    fn records_round_trip() {
        let r = record();
        assert_eq!(r.counts.routes.len(), 3, "2 named + other");
        assert_eq!(ServiceRecord::decode(&r.encode()), Ok(r));
        let reg = Registry { key: registry_key("z", 1), names: vec!["be".into(), "fe".into()] };
        assert_eq!(Registry::decode(&reg.encode()), Ok(reg));
        let boot =
            BootLease { key: boot_key("z", 0), boot_id: "00ff".into(), boot_ms: 5, holder: 9, next_due_ms: 10, seq: 3 };
        assert_eq!(BootLease::decode(&boot.encode()), Ok(boot));
    }

    #[test]
    fn keys_embed_the_probe_where_names_cannot() {
        assert_eq!(service_key("faultline", "be", 0), "faultline/svc/be");
        assert_eq!(service_key("faultline", "be", 2), "faultline/svc~2/be");
        assert_ne!(service_key("z", "a~1", 0), service_key("z", "a", 1));
        assert_eq!(registry_key("z", 0), "z/registry");
        assert_eq!(boot_key("z", 3), "z/boot~3");
        assert_eq!((refusals_key("z", 0).as_str(), refusals_key("z", 1).as_str()), ("z/refusals", "z/refusals~1"));
    }

    #[test]
    fn garbage_is_an_error() {
        let good = record().encode();
        assert!(ServiceRecord::decode(&[]).is_err());
        assert!(ServiceRecord::decode(b"hello world").is_err());
        assert_eq!(
            Registry::decode(&good),
            Err(DecodeError::WrongKind { expected: KIND_REGISTRY, found: KIND_SERVICE })
        );
        // Every truncation and every single-byte corruption decodes to an error or to
        // a record that is still consistent; none panics.
        for len in 0..good.len() {
            assert!(ServiceRecord::decode(&good[..len]).is_err());
        }
        for i in 0..good.len() {
            for b in [0u8, 1, 0x7f, 0xff] {
                let mut bad = good.clone();
                bad[i] = b;
                if let Ok(r) = ServiceRecord::decode(&bad) {
                    assert!(r.counts.is_consistent());
                }
            }
        }
        let mut extra = good.clone();
        extra.push(0);
        assert_eq!(ServiceRecord::decode(&extra), Err(DecodeError::Truncated), "a cut-off unreachable count");
        extra.extend([0u8; 8]);
        assert_eq!(ServiceRecord::decode(&extra), Err(DecodeError::Invalid("exemplar count")), "never written empty");
    }

    #[test]
    fn the_unreachable_count_is_kept_and_an_older_record_reads_as_zero() {
        let mut r = record();
        let older = r.encode();
        assert_eq!(ServiceRecord::decode(&older).unwrap().counts.unreachable, 0);
        r.counts.unreachable = r.counts.status_5xx;
        assert_eq!(ServiceRecord::decode(&r.encode()), Ok(r.clone()));
        r.counts.unreachable = r.counts.status_5xx + 1;
        assert_eq!(ServiceRecord::decode(&r.encode()), Err(DecodeError::Invalid("inconsistent counters")));
    }

    #[test]
    fn exemplars_round_trip_after_the_unreachable_count() {
        let mut r = record();
        let e = crate::exemplars::Exemplar {
            time_ms: 12,
            method: "GET".into(),
            route: "GET /a".into(),
            status: 503,
            request_id: "r-1".into(),
            duration_ms: u64::MAX,
            ..Default::default()
        };
        r.counts.exemplar(&e);
        assert_eq!(ServiceRecord::decode(&r.encode()), Ok(r.clone()));
        r.counts.unreachable = 1;
        assert_eq!(ServiceRecord::decode(&r.encode()), Ok(r));
    }

    #[test]
    fn inconsistent_counters_are_refused() {
        let mut r = record();
        r.counts.status_5xx = 1;
        assert_eq!(ServiceRecord::decode(&r.encode()), Err(DecodeError::Invalid("inconsistent counters")));
        let dup = Registry { key: "k".into(), names: vec!["a".into(), "a".into()] };
        assert!(Registry::decode(&dup.encode()).is_err());
    }
}
