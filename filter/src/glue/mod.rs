//! The proxy-wasm edge: root and HTTP contexts calling `proxy_wasm::hostcalls` directly
//! (the SDK's trait helpers unwrap host statuses, and a panic traps the VM for good).
//! Thin by design: every decision is made in the pure modules.

mod host;
mod stream;

use crate::config::{self, Config};
use crate::refusals::{self, Added};
use crate::{flusher, ids, lease, merge};
use host::{HostShared, header, log, now_ms};
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{BufferType, ContextType, LogLevel, MapType, Status};
use std::rc::Rc;
use std::time::Duration;
use stream::{State, Stream};

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|context_id| -> Box<dyn RootContext> { Box::new(Root::new(context_id)) });
}}

struct Root {
    context_id: u32,
    holder: u64,
    state: Rc<State>,
    booted: bool,
}

impl Root {
    fn new(context_id: u32) -> Self {
        Root {
            context_id,
            holder: ids::random_u64(u64::from(context_id) ^ now_ms()),
            state: Rc::new(State::default()),
            booted: false,
        }
    }

    fn merge(&self, config: &Config) {
        let report = {
            let mut tally = self.state.tally.borrow_mut();
            merge::merge_tally(&HostShared, &config.shm_zone, &mut tally, config.max_services)
        };
        for (name, e) in report.deferred {
            log(LogLevel::Warn, &format!("faultline: counts of \"{name}\" kept for the next tick: {e}"));
        }
    }

    fn tick(&mut self) {
        let Some(config) = self.state.config() else {
            return;
        };
        let now = now_ms();
        let zone = config.shm_zone.as_str();
        if !self.booted {
            let mut new_id = || ids::boot_id(now ^ u64::from(self.context_id));
            match lease::ensure_boot(&HostShared, zone, self.holder, now, config.flush_interval_ms, &mut new_id) {
                Ok(_) => self.booted = true,
                Err(e) => log(LogLevel::Warn, &format!("faultline: boot value: {e}")),
            }
        }
        self.merge(&config);
        let (Some(collector), Some(proxy_id)) = (&config.collector, &config.proxy_id) else {
            return;
        };
        let mut new_id = || ids::boot_id(now ^ u64::from(self.context_id));
        let lease = match lease::try_take(&HostShared, zone, self.holder, now, config.flush_interval_ms, &mut new_id) {
            Ok(Some(lease)) => lease,
            Ok(None) => return,
            Err(e) => {
                log(LogLevel::Warn, &format!("faultline: flush lease: {e}"));
                return;
            }
        };
        let flush = match flusher::build_flush(&HostShared, zone, proxy_id, &lease, now) {
            Ok(f) => f,
            Err(e) => {
                log(LogLevel::Warn, &format!("faultline: reading counters for flush {}: {e}", lease.seq));
                return;
            }
        };
        let services = flush.services.len();
        // The sampled requests leave shared data with this flush (a lost flush loses them, never a count).
        if let Err(e) = flusher::forget_sent(&HostShared, zone, &flush) {
            log(LogLevel::Warn, &format!("faultline: flush {}: exemplars kept for the next flush: {e}", lease.seq));
        }
        let body = match flusher::flush_body(flush) {
            Ok(b) => b,
            Err(e) => {
                log(LogLevel::Error, &format!("faultline: flush {} not sent: {e}", lease.seq));
                return;
            }
        };
        let bearer = format!("Bearer {}", collector.token);
        let headers = flusher::request_headers(collector, &bearer);
        let timeout = Duration::from_millis(collector.timeout_ms);
        match hostcalls::dispatch_http_call(&collector.upstream, headers, Some(&body), vec![], timeout) {
            Ok(token) => log(
                LogLevel::Debug,
                &format!(
                    "faultline: flush {} sent ({} bytes, {services} services, call {token})",
                    lease.seq,
                    body.len()
                ),
            ),
            Err(Status::BadArgument) => log(
                LogLevel::Error,
                &format!(
                    "faultline: flush {} not sent: the proxy does not know collector upstream \"{}\" (BadArgument)",
                    lease.seq, collector.upstream
                ),
            ),
            Err(s) => {
                log(LogLevel::Error, &format!("faultline: flush {} not sent: dispatch failed ({s:?})", lease.seq))
            }
        }
    }
}

/// Records a refused configuration in shared data, for whichever root context of the zone
/// flushes to carry it to the collector. A failure is logged and changes nothing else.
fn record_refusal(bytes: &[u8], reason: &str) {
    let Some(refused) = refusals::describe(bytes, reason) else {
        let why = "it names no zone this proxy is known to declare, so it is not sent to the collector";
        log(LogLevel::Warn, &format!("faultline: the refused configuration is only logged: {why}"));
        return;
    };
    let zone = refused.zone.as_str();
    match refusals::record(&HostShared, zone, &refused.refusal) {
        Ok(Added::New | Added::Known) => {}
        Ok(Added::Full) => log(
            LogLevel::Warn,
            &format!(
                "faultline: {} refusals already recorded in zone \"{zone}\": this one is not sent to the collector",
                refusals::MAX_REFUSALS
            ),
        ),
        Err(e) => log(
            LogLevel::Warn,
            &format!("faultline: the refusal could not be recorded for the collector in zone \"{zone}\": {e}"),
        ),
    }
}

impl Context for Root {
    fn on_http_call_response(&mut self, token_id: u32, num_headers: usize, body_size: usize, _num_trailers: usize) {
        if num_headers == 0 {
            let why = header(MapType::HttpCallResponseHeaders, ":dispatch_status")
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_else(|| "no response".into());
            log(
                LogLevel::Warn,
                &format!("faultline: flush call {token_id} failed: {why}; the next flush carries its counts"),
            );
            return;
        }
        let status = header(MapType::HttpCallResponseHeaders, ":status").unwrap_or_default();
        let status = String::from_utf8_lossy(&status);
        if status.starts_with('2') {
            log(LogLevel::Debug, &format!("faultline: flush call {token_id} answered {status}"));
            return;
        }
        // Never ask for an empty buffer: a host may answer with a status the SDK panics on.
        let body = if body_size == 0 {
            Vec::new()
        } else {
            hostcalls::get_buffer(BufferType::HttpCallResponseBody, 0, body_size.min(512))
                .ok()
                .flatten()
                .unwrap_or_default()
        };
        log(
            LogLevel::Warn,
            &format!(
                "faultline: collector answered flush call {token_id} with {status}: {}; \
                 the next flush carries its counts",
                String::from_utf8_lossy(&body).trim()
            ),
        );
    }

    fn on_done(&mut self) -> bool {
        // Last chance to hand this worker's counts to shared data.
        if let Some(config) = self.state.config() {
            self.merge(&config);
        }
        true
    }
}

impl RootContext for Root {
    fn on_vm_start(&mut self, _vm_configuration_size: usize) -> bool {
        true
    }

    fn on_configure(&mut self, plugin_configuration_size: usize) -> bool {
        // Reconfigured while running: counts taken under the old configuration are merged
        // under it first, so none is stranded in the tally (a refused new configuration
        // stops merging, and a VM shut down in that state would lose them).
        if let Some(old) = self.state.config() {
            self.merge(&old);
        }
        let read = if plugin_configuration_size == 0 {
            Ok(None) // Empty: refused by `config::parse`, without asking for an empty buffer.
        } else {
            hostcalls::get_buffer(BufferType::PluginConfiguration, 0, plugin_configuration_size)
        };
        let bytes = match read {
            Ok(b) => b.unwrap_or_default(),
            Err(s) => {
                let reason = format!("cannot read the configuration ({s:?})");
                log(LogLevel::Error, &format!("faultline: {reason}; passing traffic through uncounted"));
                *self.state.config.borrow_mut() = None;
                record_refusal(&[], &reason);
                return true;
            }
        };
        match config::parse(&bytes) {
            Ok(c) => {
                self.state.tally.borrow_mut().set_bounds(c.max_services, c.max_routes);
                if let Err(s) = hostcalls::set_tick_period(Duration::from_millis(c.merge_interval_ms)) {
                    log(LogLevel::Error, &format!("faultline: cannot set the tick period ({s:?})"));
                }
                let flushing = match &c.collector {
                    Some(col) => {
                        format!("flushing to \"{}\" {} every {} ms", col.upstream, col.path, c.flush_interval_ms)
                    }
                    None => "not flushing (no collector)".into(),
                };
                log(
                    LogLevel::Info,
                    &format!(
                        "faultline: counting in zone \"{}\", service \"{}\", merging every {} ms, {flushing}",
                        c.shm_zone,
                        c.service.as_deref().unwrap_or("<from the host>"),
                        c.merge_interval_ms
                    ),
                );
                *self.state.config.borrow_mut() = Some(Rc::new(c));
            }
            Err(e) => {
                log(
                    LogLevel::Error,
                    &format!("faultline: configuration refused: {e}; passing traffic through uncounted"),
                );
                *self.state.config.borrow_mut() = None;
                record_refusal(&bytes, &e.to_string());
            }
        }
        true
    }

    fn on_tick(&mut self) {
        self.tick();
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Stream::new(self.state.clone())))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}
