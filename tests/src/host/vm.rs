//! One VM: a wasmtime instance of the filter with its own store, as one proxy worker (or
//! Envoy's main thread) runs it. Drives the proxy-wasm callbacks and turns any trap into an
//! error that carries the wasm backtrace; after a trap the VM is dead, as on a real proxy.

use std::collections::BTreeMap;

use wasmtime::{Engine, Instance, Linker, Module, Store, TypedFunc, WasmParams, WasmResults};

use super::HostError;
use super::abi::Action;
use super::calls::{Delivery, HttpCall};
use super::state::{HostState, Mode, Phase, Stream, TickSchedule, lock};
use super::stream::{Ending, Request, StreamOutcome};

mod lifecycle;

/// `proxy_on_http_call_response(context, token, headers, body_size, trailers)`.
type CallResponseFn = TypedFunc<(i32, i32, i32, i32, i32), ()>;

struct Exports {
    on_context_create: Option<TypedFunc<(i32, i32), ()>>,
    on_vm_start: Option<TypedFunc<(i32, i32), i32>>,
    on_configure: Option<TypedFunc<(i32, i32), i32>>,
    on_tick: Option<TypedFunc<i32, ()>>,
    on_request_headers: Option<TypedFunc<(i32, i32, i32), i32>>,
    on_response_headers: Option<TypedFunc<(i32, i32, i32), i32>>,
    on_done: Option<TypedFunc<i32, i32>>,
    on_log: Option<TypedFunc<i32, ()>>,
    on_delete: Option<TypedFunc<i32, ()>>,
    on_http_call_response: Option<CallResponseFn>,
}

/// What `proxy_on_vm_start` and `proxy_on_configure` returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Started {
    pub vm_start: bool,
    pub configure: bool,
}

/// One instance of the filter.
pub struct Vm {
    index: usize,
    main_thread: bool,
    store: Store<HostState>,
    exports: Exports,
    init: Option<TypedFunc<(), ()>>,
    dead: Option<String>,
    /// Fuel (about one unit per wasm instruction) burnt per callback since the last [`Vm::take_fuel`].
    fuel: BTreeMap<&'static str, u64>,
}

/// The key of [`Vm::take_fuel`] for the fuel the callbacks' host calls burnt in `proxy_on_memory_allocate`
/// (already counted in each callback's own figure).
pub const ALLOCATIONS: &str = "(of which proxy_on_memory_allocate)";

/// Fuel a VM starts with: far more than any test burns, so that running out never traps.
const FUEL: u64 = 1 << 62;

impl Vm {
    /// Instantiates the module (nothing of the filter runs yet: see [`Vm::start`]).
    pub(crate) fn new(
        engine: &Engine,
        module: &Module,
        linker: &Linker<HostState>,
        state: HostState,
        main_thread: bool,
    ) -> Result<Vm, HostError> {
        let index = state.vm;
        let inst_err = |e: wasmtime::Error| HostError::Instantiate { vm: index, detail: format!("{e:?}") };
        let mut store = Store::new(engine, state);
        store.set_fuel(FUEL).map_err(inst_err)?;
        let instance = linker.instantiate(&mut store, module).map_err(inst_err)?;
        if instance.get_func(&mut store, "proxy_abi_version_0_2_1").is_none() {
            return Err(HostError::Abi("the module does not export proxy_abi_version_0_2_1".into()));
        }
        let memory = instance
            .get_memory(&mut store, "memory")
            .ok_or_else(|| HostError::Abi("the module exports no memory".into()))?;
        let alloc = typed::<i32, i32>(&instance, &mut store, "proxy_on_memory_allocate")?
            .ok_or_else(|| HostError::Abi("the module exports no proxy_on_memory_allocate".into()))?;
        store.data_mut().memory = Some(memory);
        store.data_mut().alloc = Some(alloc);
        let init = match typed::<(), ()>(&instance, &mut store, "_initialize")? {
            Some(f) => Some(f),
            None => typed::<(), ()>(&instance, &mut store, "_start")?,
        };
        let exports = Exports {
            on_context_create: typed(&instance, &mut store, "proxy_on_context_create")?,
            on_vm_start: typed(&instance, &mut store, "proxy_on_vm_start")?,
            on_configure: typed(&instance, &mut store, "proxy_on_configure")?,
            on_tick: typed(&instance, &mut store, "proxy_on_tick")?,
            on_request_headers: typed(&instance, &mut store, "proxy_on_request_headers")?,
            on_response_headers: typed(&instance, &mut store, "proxy_on_response_headers")?,
            on_done: typed(&instance, &mut store, "proxy_on_done")?,
            on_log: typed(&instance, &mut store, "proxy_on_log")?,
            on_delete: typed(&instance, &mut store, "proxy_on_delete")?,
            on_http_call_response: typed(&instance, &mut store, "proxy_on_http_call_response")?,
        };
        Ok(Vm { index, main_thread, store, exports, init, dead: None, fuel: BTreeMap::new() })
    }

    /// Runs the module's initializer, creates the root context, then `proxy_on_vm_start` and
    /// `proxy_on_configure` with the plugin configuration.
    pub fn start(&mut self) -> Result<Started, HostError> {
        let root = self.store.data().root_id as i32;
        self.run("_initialize", self.init.clone(), (), Phase::Idle, root as u32)?;
        self.run(
            "proxy_on_context_create",
            self.exports.on_context_create.clone(),
            (root, 0),
            Phase::Idle,
            root as u32,
        )?;
        let vm_size = self.store.data().vm_config.len() as i32;
        let vm_start = self.run(
            "proxy_on_vm_start",
            self.exports.on_vm_start.clone(),
            (root, vm_size),
            Phase::VmStart,
            root as u32,
        )?;
        let cfg_size = self.store.data().plugin_config.len() as i32;
        let configure = self.run(
            "proxy_on_configure",
            self.exports.on_configure.clone(),
            (root, cfg_size),
            Phase::Configure,
            root as u32,
        )?;
        Ok(Started { vm_start: vm_start.is_none_or(|r| r != 0), configure: configure.is_none_or(|r| r != 0) })
    }

    /// Index of this VM in its proxy.
    pub fn index(&self) -> usize {
        self.index
    }

    /// Whether this is Envoy's main-thread root context (ticks, never sees requests).
    pub fn is_main_thread(&self) -> bool {
        self.main_thread
    }

    /// The root context's tick schedule, if it asked for ticks.
    pub fn tick_schedule(&self) -> Option<TickSchedule> {
        self.store.data().tick
    }

    /// Bytes of linear memory the guest has grown to.
    pub fn memory_bytes(&self) -> usize {
        self.store.data().memory.map(|m| m.data_size(&self.store)).unwrap_or(0)
    }

    /// Takes the fuel burnt per callback (`proxy_on_log`, ...) since the last call: wasm instructions the
    /// guest ran, including its allocations for host calls made inside the callback (also under
    /// [`ALLOCATIONS`]).
    pub fn take_fuel(&mut self) -> BTreeMap<&'static str, u64> {
        std::mem::take(&mut self.fuel)
    }

    /// Leaves the VM `fuel` to burn: the instruction after that traps, with the wasm backtrace of where it
    /// was (a profiler by fuel: [`super::cost::profile`]). The VM is dead after that trap.
    pub fn limit_fuel(&mut self, fuel: u64) {
        let _ = self.store.set_fuel(fuel);
    }

    /// The first trap of this VM, if it died.
    pub fn trap(&self) -> Option<&str> {
        self.dead.as_deref()
    }

    /// Calls `proxy_on_tick` on the root context now (whatever its schedule).
    pub fn tick(&mut self) -> Result<(), HostError> {
        let root = self.store.data().root_id;
        if self.dead.is_none() {
            self.store.data().shared.record_tick(self.index);
        }
        self.run("proxy_on_tick", self.exports.on_tick.clone(), root as i32, Phase::Tick, root).map(|_| ())
    }

    /// Calls `proxy_on_tick` for a scheduled tick due at `due_ms` and re-arms the schedule.
    pub(crate) fn scheduled_tick(&mut self, due_ms: u64) -> Result<(), HostError> {
        let before = self.store.data().tick;
        self.tick()?;
        let s = self.store.data_mut();
        if s.tick == before
            && let Some(t) = s.tick.as_mut()
        {
            t.next_due_ms = due_ms.saturating_add(t.period_ms);
        }
        Ok(())
    }

    /// Runs one whole HTTP stream through the filter: context create, request headers, the
    /// response headers (unless there is no response), done, log, delete.
    pub fn exchange(&mut self, request: &Request, ending: &Ending) -> Result<StreamOutcome, HostError> {
        let (id, root, mode) = {
            let s = self.store.data_mut();
            let id = s.next_context_id;
            s.next_context_id = s.next_context_id.wrapping_add(1).max(2);
            let mut stream = Stream { request_headers: request.headers.clone(), ..Stream::default() };
            match (&s.shared.mode, &request.cluster) {
                (Mode::Envoy { .. }, Some(cluster)) => {
                    let name = cluster.clone().into_bytes();
                    stream.properties.insert("xds.cluster_name".into(), name);
                }
                (Mode::Envoy { .. }, None) => {}
                // nginx variables exist in request contexts only; `$pid` always does.
                (Mode::Nginx { .. }, _) => {
                    let pid = (40_000 + s.vm).to_string().into_bytes();
                    stream.properties.insert("ngx.pid".into(), pid);
                }
            }
            // Both hosts answer `request.method` / `request.path` in every phase (Envoy from
            // the stream's request headers, nginx from `$request_method` / `$request_uri`).
            for (header, property) in [(":method", "request.method"), (":path", "request.path")] {
                if let Some((_, v)) = request.headers.iter().find(|(k, _)| k == header.as_bytes()) {
                    stream.properties.insert(property.into(), v.clone());
                }
            }
            request_id_properties(&s.shared.mode, request, id, &mut stream.properties);
            stream.properties.extend(request.properties.iter().cloned());
            s.streams.insert(id, stream);
            (id, s.root_id, s.shared.mode.clone())
        };
        let result = self.drive_stream(id, root, request, ending, &mode);
        self.store.data_mut().streams.remove(&id);
        result
    }

    fn drive_stream(
        &mut self,
        id: u32,
        root: u32,
        request: &Request,
        ending: &Ending,
        mode: &Mode,
    ) -> Result<StreamOutcome, HostError> {
        let ctx = id as i32;
        self.run(
            "proxy_on_context_create",
            self.exports.on_context_create.clone(),
            (ctx, root as i32),
            Phase::Stream,
            id,
        )?;
        let n = request.headers.len() as i32;
        let request_action = self
            .run(
                "proxy_on_request_headers",
                self.exports.on_request_headers.clone(),
                (ctx, n, 1),
                Phase::RequestHeaders,
                id,
            )?
            .map_or(Action::Continue, Action::from_code);
        let mut response_action = None;
        if let Ending::Respond(response) = ending {
            if let Some(stream) = self.store.data_mut().streams.get_mut(&id) {
                stream.response_headers = Some(response.headers.clone());
                if let Some(code) = response.code_property(mode) {
                    stream.properties.entry("response.code".into()).or_insert(code);
                }
            }
            // nginx never reports end-of-stream in the header phase.
            let eos = i32::from(mode.is_envoy());
            let n = response.headers.len() as i32;
            response_action = Some(
                self.run(
                    "proxy_on_response_headers",
                    self.exports.on_response_headers.clone(),
                    (ctx, n, eos),
                    Phase::ResponseHeaders,
                    id,
                )?
                .map_or(Action::Continue, Action::from_code),
            );
        }
        self.run("proxy_on_done", self.exports.on_done.clone(), ctx, Phase::Stream, id)?;
        self.run("proxy_on_log", self.exports.on_log.clone(), ctx, Phase::Log, id)?;
        self.run("proxy_on_delete", self.exports.on_delete.clone(), ctx, Phase::Stream, id)?;
        let local_response = self.store.data().streams.get(&id).and_then(|s| s.local_response);
        Ok(StreamOutcome { request: request_action, response: response_action, local_response })
    }

    /// Delivers the answer to an HTTP call this VM dispatched.
    pub(crate) fn deliver(&mut self, call: &HttpCall, delivery: Delivery) -> Result<(), HostError> {
        let n = delivery.num_headers as i32;
        let body = delivery.body.len() as i32;
        self.store.data_mut().delivery = Some(delivery);
        let ctx = call.context_id;
        let result = self.run(
            "proxy_on_http_call_response",
            self.exports.on_http_call_response.clone(),
            (ctx as i32, call.token as i32, n, body, 0),
            Phase::CallResponse,
            ctx,
        );
        self.store.data_mut().delivery = None;
        result.map(|_| ())
    }

    /// Sets a proxy-level property (readable from the root context too).
    pub fn set_property(&mut self, path: &str, value: impl AsRef<[u8]>) {
        self.store.data_mut().properties.insert(path.to_string(), value.as_ref().to_vec());
    }

    fn run<P: WasmParams, R: WasmResults>(
        &mut self,
        name: &'static str,
        func: Option<TypedFunc<P, R>>,
        params: P,
        phase: Phase,
        effective: u32,
    ) -> Result<Option<R>, HostError> {
        if let Some(first) = &self.dead {
            return Err(HostError::Dead { vm: self.index, first: first.clone() });
        }
        let Some(func) = func else { return Ok(None) };
        let saved = {
            let s = self.store.data_mut();
            let saved = (s.phase, s.effective);
            s.phase = phase;
            s.effective = effective;
            saved
        };
        let before = self.store.get_fuel().unwrap_or(0);
        let result = func.call(&mut self.store, params);
        let burnt = before.saturating_sub(self.store.get_fuel().unwrap_or(before));
        *self.fuel.entry(name).or_default() += burnt;
        let s = self.store.data_mut();
        let alloc = std::mem::take(&mut s.alloc_fuel);
        if alloc > 0 {
            *self.fuel.entry(ALLOCATIONS).or_default() += alloc;
        }
        (s.phase, s.effective) = saved;
        match result {
            Ok(r) => Ok(Some(r)),
            Err(e) => {
                let detail = format!("{e:?}");
                self.dead = Some(format!("{name}: {detail}"));
                lock(&s.shared.traps).push(format!("VM {} in {name}: {detail}", self.index));
                Err(HostError::Trap { vm: self.index, callback: name, detail })
            }
        }
    }
}

fn typed<P: WasmParams, R: WasmResults>(
    instance: &Instance,
    store: &mut Store<HostState>,
    name: &str,
) -> Result<Option<TypedFunc<P, R>>, HostError> {
    match instance.get_func(&mut *store, name) {
        None => Ok(None),
        Some(f) => f
            .typed::<P, R>(&*store)
            .map(Some)
            .map_err(|e| HostError::Abi(format!("export {name} has the wrong signature: {e}"))),
    }
}

/// The request id and request-header properties each host answers (in every phase the host answers
/// `request.*` in; nginx's `ngx.*` in every phase):
/// - Envoy: `request.id` is the `x-request-id` header, which Envoy generates (a UUID) when the client sent
///   none; `request.headers.<name>` is any request header.
/// - nginx: `ngx.request_id` is `$request_id` (32 hex digits, new per request); `ngx.http_<name>` is
///   `$http_<name>`, the client's header (absent when it sent none).
fn request_id_properties(
    mode: &Mode,
    request: &Request,
    id: u32,
    props: &mut std::collections::HashMap<String, Vec<u8>>,
) {
    let headers = request.headers.iter().filter(|(k, _)| !k.starts_with(b":"));
    match mode {
        Mode::Envoy { .. } => {
            for (k, v) in headers {
                props.insert(format!("request.headers.{}", String::from_utf8_lossy(k).to_lowercase()), v.clone());
            }
            let given = props.get("request.headers.x-request-id").cloned();
            let made = || format!("00000000-0000-4000-8000-{id:012x}").into_bytes();
            props.insert("request.id".into(), given.unwrap_or_else(made));
        }
        Mode::Nginx { .. } => {
            for (k, v) in headers {
                let name = String::from_utf8_lossy(k).to_lowercase().replace('-', "_");
                props.insert(format!("ngx.http_{name}"), v.clone());
            }
            props.insert(
                "ngx.request_id".into(),
                format!("{:032x}", 0x268f_ad66_u64 << 32 | u64::from(id)).into_bytes(),
            );
        }
    }
}
