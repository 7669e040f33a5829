//! The request path: per-stream counting into the root context's tally.

use super::host::{header, log, now_ms, property};
use crate::config::Config;
use crate::counts::{self, StatusClass};
use crate::exemplars::{self, Exemplar, set_clean, set_text};
use crate::service::{self, HostKind};
use crate::{reach, route, tally::Tally};
use faultline_flush::limits;
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::{Action, LogLevel, MapType};
use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::rc::Rc;

/// What a root context shares with its HTTP contexts.
#[derive(Default)]
pub(super) struct State {
    /// `None`: not configured or bad configuration, traffic passes uncounted.
    pub(super) config: RefCell<Option<Rc<Config>>>,
    pub(super) tally: RefCell<Tally>,
    /// Reused buffer for route keys (no allocation per 5xx once warm).
    route_buf: RefCell<String>,
    /// Reused buffer for the failing request being sampled.
    exemplar_buf: RefCell<Exemplar>,
    /// nginx's variable for the request-id header (`http_x_request_id`), made once per header name.
    id_variable: RefCell<(String, String)>,
    /// Which proxy this is, learnt from the first `response.code` seen.
    host: Cell<HostKind>,
    odd_statuses: Cell<u64>,
}

impl State {
    pub(super) fn config(&self) -> Option<Rc<Config>> {
        self.config.borrow().clone()
    }

    /// The response's service: config `service`, else the host's cluster name, else
    /// `default_service`.
    fn service<'c>(&self, config: &'c Config) -> Cow<'c, str> {
        if let Some(s) = &config.service {
            return Cow::Borrowed(s);
        }
        if self.host.get().has_cluster_names() {
            let found = match hostcalls::get_property(vec!["xds", "cluster_name"]) {
                Ok(Some(b)) if !b.is_empty() => Some(b),
                _ => None,
            };
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

    /// Learns the host kind from a `response.code` value, once.
    fn learn_host(&self, config: &Config, response_code: Option<&[u8]>) {
        let Some(kind) = response_code.and_then(HostKind::from_response_code) else {
            return;
        };
        self.host.set(kind);
        if kind == HostKind::Nginx && config.service.is_none() {
            log(
                LogLevel::Info,
                &format!(
                    "faultline: nginx has no cluster names: responses count under default_service \"{}\" \
                     unless \"service\" is set for the location",
                    config.default_service
                ),
            );
        }
    }
}

/// One request/response.
///
/// Nothing is read in the request phase: every host read is a round trip through the VM
/// boundary, and the benchmarks showed reading `:method` and `:path` on every request to
/// be most of the filter's cost over a no-op filter. Only a 5xx needs them, for its route:
/// it is counted in `on_log`, from the `request.method` / `request.path` properties.
/// Envoy answers those in the request and log phases only (it forgets the request
/// headers once `on_http_request_headers` returns: reading the header map later is
/// BadArgument, which the SDK's hostcall turns into a panic that traps the VM); nginx
/// answers them in every phase.
pub(super) struct Stream {
    state: Rc<State>,
    saw_response: bool,
    /// A 5xx seen in the response headers (its status), counted (with its route) in `on_log`.
    server_error: Option<u16>,
}

impl Context for Stream {}

impl Stream {
    pub(super) fn new(state: Rc<State>) -> Self {
        Stream { state, saw_response: false, server_error: None }
    }

    /// Counts one response of class `class` (status `status`, 0 when unknown) for this stream's service.
    fn count(&self, config: &Config, class: StatusClass, status: u16) {
        let service = self.state.service(config);
        match class {
            StatusClass::ServerError => {
                let method = property(&["request", "method"]);
                let path = property(&["request", "path"]);
                let kind = self.state.host.get();
                let said = reach::property(kind).and_then(property);
                let cut = reach::unreachable(kind, said.as_deref());
                let mut buf = self.state.route_buf.borrow_mut();
                route::write_route(&mut buf, method.as_deref(), path.as_deref());
                let now = now_ms();
                let mut tally = self.state.tally.borrow_mut();
                tally.response(&service, class, Some(&buf), now);
                if cut {
                    tally.unreachable(&service);
                }
                // Envoy only for now: on nginx the sample lost counts in the nginx mode's property test
                // (two root contexts, interleaved merges), and counting exactly comes first.
                if config.exemplars && kind == HostKind::Envoy {
                    let mut e = self.state.exemplar_buf.borrow_mut();
                    e.time_ms = now;
                    e.status = if (500..=599).contains(&status) { status } else { 500 };
                    set_clean(&mut e.method, method.as_deref().unwrap_or(b"-"), limits::MAX_METHOD_LEN);
                    set_text(&mut e.route, &buf, limits::MAX_ROUTE_LEN);
                    let raw = path.as_deref().filter(|_| config.raw_path).map(exemplars::without_query);
                    set_clean(&mut e.path, raw.unwrap_or_default(), limits::MAX_EXEMPLAR_TEXT);
                    let details = if kind == HostKind::Envoy { said.as_deref() } else { None };
                    set_clean(&mut e.details, details.unwrap_or_default(), limits::MAX_EXEMPLAR_TEXT);
                    let facts = {
                        let mut v = self.state.id_variable.borrow_mut();
                        if v.0 != config.request_id_header {
                            v.1 = exemplars::nginx_header_variable(&config.request_id_header);
                            v.0.clone_from(&config.request_id_header);
                        }
                        request_facts(kind, &config.request_id_header, &v.1)
                    };
                    set_clean(
                        &mut e.request_id,
                        facts.request_id.as_deref().unwrap_or_default(),
                        limits::MAX_EXEMPLAR_TEXT,
                    );
                    set_clean(
                        &mut e.upstream,
                        facts.upstream.as_deref().unwrap_or_default(),
                        limits::MAX_EXEMPLAR_TEXT,
                    );
                    e.duration_ms = exemplars::duration_ms(facts.duration.as_deref());
                    tally.exemplar(&service, &e);
                }
            }
            StatusClass::Unknown => {
                let n = self.state.odd_statuses.get().wrapping_add(1);
                self.state.odd_statuses.set(n);
                if n.is_power_of_two() {
                    log(LogLevel::Debug, &format!("faultline: {n} responses with a missing or odd :status so far"));
                }
                self.state.tally.borrow_mut().response(&service, class, None, 0);
            }
            _ => self.state.tally.borrow_mut().response(&service, class, None, 0),
        }
    }
}

/// What the host says about a failing request, beyond its route and status.
struct Facts {
    request_id: Option<Vec<u8>>,
    upstream: Option<Vec<u8>>,
    duration: Option<Vec<u8>>,
}

/// Reads the request id, upstream address and duration, asked only for a 5xx in `on_log`. Envoy:
/// `request.id` (or `request.headers.<header>`), `upstream.address`, `request.duration`; nginx:
/// `ngx.http_<header>` else `ngx.request_id`, `ngx.upstream_addr`, `ngx.request_time`. Nothing is
/// asked of a host not known yet (nginx logs an error for every Envoy-only property).
fn request_facts(kind: HostKind, header: &str, nginx_variable: &str) -> Facts {
    let some = |v: Option<Vec<u8>>| v.filter(|b| !b.is_empty());
    match kind {
        HostKind::Envoy => {
            let request_id = if header == crate::config::DEFAULT_REQUEST_ID_HEADER {
                some(property(&["request", "id"]))
            } else {
                some(property(&["request", "headers", header]))
            };
            Facts {
                request_id,
                upstream: some(property(&["upstream", "address"])),
                duration: some(property(&["request", "duration"])),
            }
        }
        HostKind::Nginx => {
            let request_id =
                some(property(&["ngx", nginx_variable])).or_else(|| some(property(&["ngx", "request_id"])));
            Facts {
                request_id,
                upstream: some(property(&["ngx", "upstream_addr"])).filter(|b| b != b"-"),
                duration: some(property(&["ngx", "request_time"])),
            }
        }
        HostKind::Unknown => Facts { request_id: None, upstream: None, duration: None },
    }
}

impl HttpContext for Stream {
    fn on_http_response_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        if self.saw_response {
            return Action::Continue;
        }
        self.saw_response = true;
        if let Some(config) = self.state.config() {
            let status = header(MapType::HttpResponseHeaders, ":status");
            match counts::classify(status.as_deref()) {
                StatusClass::ServerError => {
                    let code = status.as_deref().and_then(counts::code_from_property).unwrap_or(500);
                    self.server_error = Some(code);
                }
                class => self.count(&config, class, 0),
            }
        }
        Action::Continue
    }

    /// The stream is done. A 5xx seen in the response headers is counted now, with its
    /// route. Without response headers seen, the host's `response.code` tells a response
    /// the filter was not shown (counted as such) from a client that went away (no code,
    /// or nginx's 499): counted apart, not as a failure. Until the host kind is known,
    /// `response.code` is also read to learn it (see [`HostKind`]).
    fn on_log(&mut self) {
        let Some(config) = self.state.config() else {
            return;
        };
        let learning = self.state.host.get() == HostKind::Unknown;
        // Learnt before a 5xx is counted, so that the first one already reads what its host answers.
        let raw = if learning || !self.saw_response {
            hostcalls::get_property(vec!["response", "code"]).ok().flatten()
        } else {
            None
        };
        if learning {
            self.state.learn_host(&config, raw.as_deref());
        }
        if let Some(status) = self.server_error.take() {
            self.count(&config, StatusClass::ServerError, status);
        }
        if self.saw_response {
            return;
        }
        let code = raw.as_deref().and_then(counts::code_from_property).filter(|c| *c != counts::CLIENT_CLOSED);
        match code {
            Some(c) => self.count(&config, counts::class_of(c), c),
            None => {
                let service = self.state.service(&config);
                self.state.tally.borrow_mut().no_response(&service);
            }
        }
    }
}
