//! The proxy-wasm edge: root and HTTP contexts calling `proxy_wasm::hostcalls` directly
//! (the SDK's trait helpers unwrap host statuses, and a panic traps the VM for good).
//! Thin by design: every decision is made in the pure modules.

use crate::config::{self, Config};
use crate::counts::{self, StatusClass};
use crate::shared::{HostError, SetError, SharedData};
use crate::{flusher, ids, lease, merge, route, service, tally::Tally};
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, BufferType, ContextType, LogLevel, MapType, Status};
use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, UNIX_EPOCH};

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|context_id| -> Box<dyn RootContext> { Box::new(Root::new(context_id)) });
}}

fn log(level: LogLevel, msg: &str) {
    let _ = hostcalls::log(level, msg);
}

fn now_ms() -> u64 {
    hostcalls::get_current_time()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn header(map: MapType, name: &str) -> Option<Vec<u8>> {
    hostcalls::get_map_value_bytes(map, name).ok().flatten()
}

/// Shared data through the host.
struct HostShared;

impl SharedData for HostShared {
    fn get(&self, key: &str) -> Result<Option<(Vec<u8>, u32)>, HostError> {
        match hostcalls::get_shared_data(key) {
            Ok((Some(v), cas)) => Ok(Some((v, cas.unwrap_or(0)))),
            Ok((None, _)) => Ok(None),
            Err(s) => Err(HostError(s as u32)),
        }
    }

    fn set(&self, key: &str, value: &[u8], cas: u32) -> Result<(), SetError> {
        match hostcalls::set_shared_data(key, Some(value), Some(cas)) {
            Ok(()) => Ok(()),
            Err(Status::CasMismatch) => Err(SetError::CasMismatch),
            Err(s) => Err(SetError::Host(HostError(s as u32))),
        }
    }
}

/// What a root context shares with its HTTP contexts.
#[derive(Default)]
struct State {
    /// `None`: not configured or bad configuration, traffic passes uncounted.
    config: RefCell<Option<Rc<Config>>>,
    tally: RefCell<Tally>,
    /// Reused buffer for route keys (no allocation per 5xx once warm).
    route_buf: RefCell<String>,
    cluster_probe: RefCell<service::ClusterNameProbe>,
    odd_statuses: Cell<u64>,
}

impl State {
    fn config(&self) -> Option<Rc<Config>> {
        self.config.borrow().clone()
    }

    /// The response's service: config `service`, else the host's cluster name, else
    /// `default_service`.
    fn service<'c>(&self, config: &'c Config) -> Cow<'c, str> {
        if let Some(s) = &config.service {
            return Cow::Borrowed(s);
        }
        if self.cluster_probe.borrow().should_ask() {
            let found = match hostcalls::get_property(vec!["xds", "cluster_name"]) {
                Ok(Some(b)) if !b.is_empty() => Some(b),
                _ => None,
            };
            if self.cluster_probe.borrow_mut().observe(found.is_some()) {
                log(
                    LogLevel::Info,
                    &format!(
                        "faultline: the host gives no cluster name; counting under default_service \"{}\" (set \"service\" in the filter configuration)",
                        config.default_service
                    ),
                );
            }
            if let Some(bytes) = found {
                // Valid names (the normal case) are used without copying.
                let cleaned = match String::from_utf8(bytes) {
                    Ok(s) if service::is_clean(&s) => return Cow::Owned(s),
                    Ok(s) => service::clean_name(s.as_bytes()).map(Cow::into_owned),
                    Err(e) => service::clean_name(e.as_bytes()).map(Cow::into_owned),
                };
                if let Some(name) = cleaned {
                    return Cow::Owned(name);
                }
            }
        }
        Cow::Borrowed(&config.default_service)
    }
}

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
            merge::merge_tally(
                &HostShared,
                &config.shm_zone,
                &mut tally,
                config.max_services,
            )
        };
        for (name, e) in report.deferred {
            log(
                LogLevel::Warn,
                &format!("faultline: counts of \"{name}\" kept for the next tick: {e}"),
            );
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
            match lease::ensure_boot(
                &HostShared,
                zone,
                self.holder,
                now,
                config.flush_interval_ms,
                &mut new_id,
            ) {
                Ok(_) => self.booted = true,
                Err(e) => log(LogLevel::Warn, &format!("faultline: boot value: {e}")),
            }
        }
        self.merge(&config);
        let (Some(collector), Some(proxy_id)) = (&config.collector, &config.proxy_id) else {
            return;
        };
        let mut new_id = || ids::boot_id(now ^ u64::from(self.context_id));
        let lease = match lease::try_take(
            &HostShared,
            zone,
            self.holder,
            now,
            config.flush_interval_ms,
            &mut new_id,
        ) {
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
                log(
                    LogLevel::Warn,
                    &format!("faultline: reading counters for flush {}: {e}", lease.seq),
                );
                return;
            }
        };
        let services = flush.services.len();
        let body = match flusher::flush_body(flush) {
            Ok(b) => b,
            Err(e) => {
                log(
                    LogLevel::Error,
                    &format!("faultline: flush {} not sent: {e}", lease.seq),
                );
                return;
            }
        };
        let bearer = format!("Bearer {}", collector.token);
        let headers = flusher::request_headers(collector, &bearer);
        let timeout = Duration::from_millis(collector.timeout_ms);
        match hostcalls::dispatch_http_call(
            &collector.upstream,
            headers,
            Some(&body),
            vec![],
            timeout,
        ) {
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
            Err(s) => log(
                LogLevel::Error,
                &format!(
                    "faultline: flush {} not sent: dispatch failed ({s:?})",
                    lease.seq
                ),
            ),
        }
    }
}

impl Context for Root {
    fn on_http_call_response(
        &mut self,
        token_id: u32,
        num_headers: usize,
        body_size: usize,
        _num_trailers: usize,
    ) {
        if num_headers == 0 {
            let why = header(MapType::HttpCallResponseHeaders, ":dispatch_status")
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_else(|| "no response".into());
            log(
                LogLevel::Warn,
                &format!(
                    "faultline: flush call {token_id} failed: {why}; the next flush carries its counts"
                ),
            );
            return;
        }
        let status = header(MapType::HttpCallResponseHeaders, ":status").unwrap_or_default();
        let status = String::from_utf8_lossy(&status);
        if status.starts_with('2') {
            log(
                LogLevel::Debug,
                &format!("faultline: flush call {token_id} answered {status}"),
            );
            return;
        }
        let body = hostcalls::get_buffer(BufferType::HttpCallResponseBody, 0, body_size.min(512))
            .ok()
            .flatten()
            .unwrap_or_default();
        log(
            LogLevel::Warn,
            &format!(
                "faultline: collector answered flush call {token_id} with {status}: {}; the next flush carries its counts",
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
        let bytes = match hostcalls::get_buffer(
            BufferType::PluginConfiguration,
            0,
            plugin_configuration_size,
        ) {
            Ok(b) => b.unwrap_or_default(),
            Err(s) => {
                log(
                    LogLevel::Error,
                    &format!(
                        "faultline: cannot read the configuration ({s:?}); passing traffic through uncounted"
                    ),
                );
                *self.state.config.borrow_mut() = None;
                return true;
            }
        };
        match config::parse(&bytes) {
            Ok(c) => {
                self.state
                    .tally
                    .borrow_mut()
                    .set_bounds(c.max_services, c.max_routes);
                if let Err(s) =
                    hostcalls::set_tick_period(Duration::from_millis(c.merge_interval_ms))
                {
                    log(
                        LogLevel::Error,
                        &format!("faultline: cannot set the tick period ({s:?})"),
                    );
                }
                let flushing = match &c.collector {
                    Some(col) => format!(
                        "flushing to \"{}\" {} every {} ms",
                        col.upstream, col.path, c.flush_interval_ms
                    ),
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
                    &format!(
                        "faultline: configuration refused: {e}; passing traffic through uncounted"
                    ),
                );
                *self.state.config.borrow_mut() = None;
            }
        }
        true
    }

    fn on_tick(&mut self) {
        self.tick();
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Stream {
            state: self.state.clone(),
            saw_response: false,
            method: None,
            path: None,
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

/// One request/response.
struct Stream {
    state: Rc<State>,
    saw_response: bool,
    /// The request's `:method` and `:path`, kept from the request phase: Envoy forgets the request
    /// headers once `on_http_request_headers` returns (reading them later is BadArgument, which the
    /// SDK's hostcall turns into a panic that traps the VM), and a 5xx needs them for its route.
    method: Option<Vec<u8>>,
    path: Option<Vec<u8>>,
}

impl Context for Stream {}

impl Stream {
    /// Counts one response of class `class` for this stream's service.
    fn count(&self, config: &Config, class: StatusClass) {
        let service = self.state.service(config);
        match class {
            StatusClass::ServerError => {
                let mut buf = self.state.route_buf.borrow_mut();
                route::write_route(&mut buf, self.method.as_deref(), self.path.as_deref());
                self.state
                    .tally
                    .borrow_mut()
                    .response(&service, class, Some(&buf), now_ms());
            }
            StatusClass::Unknown => {
                let n = self.state.odd_statuses.get().wrapping_add(1);
                self.state.odd_statuses.set(n);
                if n.is_power_of_two() {
                    log(
                        LogLevel::Debug,
                        &format!("faultline: {n} responses with a missing or odd :status so far"),
                    );
                }
                self.state
                    .tally
                    .borrow_mut()
                    .response(&service, class, None, 0);
            }
            _ => self
                .state
                .tally
                .borrow_mut()
                .response(&service, class, None, 0),
        }
    }
}

impl HttpContext for Stream {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        if self.state.config().is_some() {
            self.method = header(MapType::HttpRequestHeaders, ":method");
            self.path = header(MapType::HttpRequestHeaders, ":path");
        }
        Action::Continue
    }

    fn on_http_response_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        if self.saw_response {
            return Action::Continue;
        }
        self.saw_response = true;
        if let Some(config) = self.state.config() {
            let status = header(MapType::HttpResponseHeaders, ":status");
            self.count(&config, counts::classify(status.as_deref()));
        }
        Action::Continue
    }

    /// The stream is done. Without response headers seen, the host's `response.code`
    /// tells a response the filter was not shown (counted as such) from a client that
    /// went away (no code, or nginx's 499): counted apart, not as a failure.
    fn on_log(&mut self) {
        if self.saw_response {
            return;
        }
        let Some(config) = self.state.config() else {
            return;
        };
        let code = hostcalls::get_property(vec!["response", "code"])
            .ok()
            .flatten()
            .and_then(|b| counts::code_from_property(&b))
            .filter(|c| *c != counts::CLIENT_CLOSED);
        match code {
            Some(c) => self.count(&config, counts::class_of(c)),
            None => {
                let service = self.state.service(&config);
                self.state.tally.borrow_mut().no_response(&service);
            }
        }
    }
}
