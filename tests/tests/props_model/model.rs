//! The model: what the filter must have counted, computed from the scenario alone, and the
//! check of every flush against it.
//!
//! Per VM, counts wait in its tally (`pending`) until that VM merges: on each of its ticks
//! with a valid configuration, when it is reconfigured (under the old configuration), and
//! when it is shut down gracefully. Merged counts belong to the current boot (shared memory);
//! a wipe starts a new boot. A VM that dies abruptly loses exactly its pending counts: that is
//! the only loss the model allows, and it is counted (`lost`). The route *normalization* is the
//! filter's own (`faultline_filter::route`, unit-tested and fuzzed apart); everything else
//! (status classes, service names, bounds, merge points) is stated here independently.

use std::collections::BTreeMap;

use faultline_tests::host::Exit;

use super::scenario::{EndSpec, Req, ValidCfg};

/// Counters of one service.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    pub responses: u64,
    pub status_4xx: u64,
    pub status_5xx: u64,
    pub no_response: u64,
    /// 5xx by route, unbounded (the filter keeps at most `max_routes` of them named).
    pub routes: BTreeMap<String, u64>,
}

impl Counts {
    fn add(&mut self, o: &Counts) {
        self.responses += o.responses;
        self.status_4xx += o.status_4xx;
        self.status_5xx += o.status_5xx;
        self.no_response += o.no_response;
        for (r, n) in &o.routes {
            *self.routes.entry(r.clone()).or_default() += n;
        }
    }

    pub fn totals(&self) -> (u64, u64, u64, u64) {
        (self.responses, self.status_4xx, self.status_5xx, self.no_response)
    }

    pub fn is_empty(&self) -> bool {
        self.responses == 0 && self.no_response == 0
    }
}

/// Service name -> counters.
pub type Book = BTreeMap<String, Counts>;

pub fn add_book(into: &mut Book, from: &Book) {
    for (s, c) in from {
        into.entry(s.clone()).or_default().add(c);
    }
}

/// Sum of every service's counters.
pub fn book_totals(book: &Book) -> (u64, u64, u64, u64) {
    book.values().fold((0, 0, 0, 0), |a, c| {
        let t = c.totals();
        (a.0 + t.0, a.1 + t.1, a.2 + t.2, a.3 + t.3)
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Other,
    Client,
    Server,
    Unknown,
}

/// A `:status` header: a class only when it is exactly three ASCII digits, the first not 0.
fn status_class(raw: Option<&[u8]>) -> Class {
    match raw {
        Some([a, b, c]) if a.is_ascii_digit() && *a != b'0' && b.is_ascii_digit() && c.is_ascii_digit() => match a {
            b'4' => Class::Client,
            b'5' => Class::Server,
            _ => Class::Other,
        },
        _ => Class::Unknown,
    }
}

/// A stream with no response headers: a real `response.code` (100..=999, not nginx's 499
/// "client closed request") is a response of that class; anything else is no response.
fn code_class(code: Option<i64>) -> Option<Class> {
    let c = code.filter(|c| (100..=999).contains(c) && *c != 499)?;
    Some(match c / 100 {
        4 => Class::Client,
        5 => Class::Server,
        _ => Class::Other,
    })
}

/// A host-given name as a flush name: empty -> none; else lossy UTF-8, control characters
/// -> `_`, cut to 128 bytes on a character boundary.
fn host_name(raw: &[u8]) -> Option<String> {
    if raw.is_empty() {
        return None;
    }
    let mut s: String = String::from_utf8_lossy(raw).chars().map(|c| if c.is_control() { '_' } else { c }).collect();
    let mut end = s.len().min(128);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
    Some(s)
}

/// The service that takes the counts of services beyond `max_services`.
pub const OVERFLOW_SERVICE: &str = "(other)";

/// One VM as the model sees it.
#[derive(Debug, Clone)]
pub struct VmModel {
    /// `None`: refused configuration, traffic passes uncounted.
    pub cfg: Option<ValidCfg>,
    /// Counted, not merged yet.
    pub pending: Book,
}

/// One boot (one life of shared memory).
#[derive(Debug, Clone)]
pub struct Boot {
    pub merged: Book,
    pub id: Option<String>,
    pub last_seq: Option<u64>,
    /// Largest and smallest `max_routes` of any merge that carried counts in this boot.
    pub routes_hi: usize,
    pub routes_lo: usize,
    /// The same for `max_services`.
    pub services_hi: usize,
    pub services_lo: usize,
    /// Responses + no-responses in the last flush checked.
    pub flushed: u64,
}

impl Boot {
    fn new() -> Boot {
        Boot {
            merged: Book::new(),
            id: None,
            last_seq: None,
            routes_hi: 0,
            routes_lo: usize::MAX,
            services_hi: 0,
            services_lo: usize::MAX,
            flushed: 0,
        }
    }
}

/// The whole proxy as the model sees it.
#[derive(Debug, Clone)]
pub struct Model {
    pub envoy: bool,
    pub vms: Vec<VmModel>,
    pub boot: Boot,
    /// Boot ids seen before the current boot.
    pub old_boots: Vec<String>,
    /// Counts lost with VMs that died abruptly (their tally since their last merge).
    pub lost: Book,
    /// Responses and no-responses counted in wiped boots but in none of their flushes
    /// (merged after the last flush, or still in a tally): what a wipe costs.
    pub unflushed_at_wipe: u64,
}

impl Model {
    pub fn new(envoy: bool, cfgs: Vec<Option<ValidCfg>>) -> Model {
        Model {
            envoy,
            vms: cfgs.into_iter().map(|cfg| VmModel { cfg, pending: Book::new() }).collect(),
            boot: Boot::new(),
            old_boots: Vec::new(),
            lost: Book::new(),
            unflushed_at_wipe: 0,
        }
    }

    /// One stream on VM `vm`.
    pub fn count(&mut self, vm: usize, req: &Req) {
        let envoy = self.envoy;
        let Some(v) = self.vms.get_mut(vm) else {
            return;
        };
        let Some(cfg) = &v.cfg else { return };
        let service = match (cfg.service, &req.cluster) {
            (Some(s), _) => s.to_string(),
            (None, Some(raw)) if envoy => host_name(raw).unwrap_or_else(|| cfg.default_service.to_string()),
            (None, _) => cfg.default_service.to_string(),
        };
        let class = match &req.end {
            EndSpec::Respond(status) => Some(status_class(status.as_deref())),
            EndSpec::NoResponse(code) => code_class(*code),
        };
        let c = v.pending.entry(service).or_default();
        match class {
            None => c.no_response += 1,
            Some(class) => {
                c.responses += 1;
                match class {
                    Class::Client => c.status_4xx += 1,
                    Class::Server => {
                        c.status_5xx += 1;
                        let path = req.path.bytes();
                        let route = faultline_filter::route::route(req.method.as_deref(), path.as_deref());
                        *c.routes.entry(route).or_default() += 1;
                    }
                    Class::Other | Class::Unknown => {}
                }
            }
        }
    }

    /// VM `vm` merges its tally (if its configuration is valid); true if it held counts.
    pub fn merge(&mut self, vm: usize) -> bool {
        let Some(v) = self.vms.get_mut(vm) else {
            return false;
        };
        let Some(cfg) = &v.cfg else { return false };
        if v.pending.values().all(Counts::is_empty) {
            return false;
        }
        let b = &mut self.boot;
        b.routes_hi = b.routes_hi.max(cfg.max_routes);
        b.routes_lo = b.routes_lo.min(cfg.max_routes);
        b.services_hi = b.services_hi.max(cfg.max_services);
        b.services_lo = b.services_lo.min(cfg.max_services);
        add_book(&mut self.boot.merged, &v.pending);
        v.pending.clear();
        true
    }

    /// What VM `vm` would merge now (nothing with a refused configuration).
    pub fn pending_of(&self, vm: usize) -> Book {
        match self.vms.get(vm) {
            Some(v) if v.cfg.is_some() => v.pending.clone(),
            _ => Book::new(),
        }
    }

    /// Takes VM `vm`'s bounds into the boot's before its merge completes (a flush may see
    /// part of it).
    pub fn widen_bounds(&mut self, vm: usize) {
        let Some(cfg) = self.vms.get(vm).and_then(|v| v.cfg.clone()) else {
            return;
        };
        if self.pending_of(vm).values().all(Counts::is_empty) {
            return;
        }
        let b = &mut self.boot;
        b.routes_hi = b.routes_hi.max(cfg.max_routes);
        b.routes_lo = b.routes_lo.min(cfg.max_routes);
        b.services_hi = b.services_hi.max(cfg.max_services);
        b.services_lo = b.services_lo.min(cfg.max_services);
    }

    /// `proxy_on_configure` again: the tally taken under the old configuration is merged
    /// under it, then the new one applies.
    pub fn reconfigure(&mut self, vm: usize, cfg: Option<ValidCfg>) {
        let _ = self.merge(vm);
        if let Some(v) = self.vms.get_mut(vm) {
            v.cfg = cfg;
        }
    }

    /// VM `vm` replaced: a graceful exit merges first, an abrupt one loses the tally.
    pub fn restart(&mut self, vm: usize, exit: Exit, cfg: Option<Option<ValidCfg>>) {
        if exit == Exit::Graceful {
            let _ = self.merge(vm);
        }
        if let Some(v) = self.vms.get_mut(vm) {
            // What is left (all of it when abrupt) is gone with the VM.
            add_book(&mut self.lost, &v.pending);
            v.pending.clear();
            if let Some(cfg) = cfg {
                v.cfg = cfg;
            }
        }
    }

    /// Shared memory wiped, every VM new: a new boot from zero.
    pub fn wipe(&mut self) {
        if let Some(id) = self.boot.id.take() {
            self.old_boots.push(id);
        }
        let mut counted = self.boot.merged.clone();
        for v in &mut self.vms {
            add_book(&mut counted, &v.pending);
            v.pending.clear();
        }
        let (responses, _, _, none) = book_totals(&counted);
        self.unflushed_at_wipe += responses + none - self.boot.flushed;
        self.boot = Boot::new();
    }

    /// Whether every VM's tally is empty (everything counted is in shared data).
    pub fn all_merged(&self) -> bool {
        self.vms.iter().all(|v| v.pending.values().all(Counts::is_empty))
    }
}
