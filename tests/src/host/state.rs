//! State the host keeps: per proxy (shared by every VM: clock, shared data, logs, calls,
//! metrics) and per VM (contexts, streams, buffers of the callback in progress).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use wasmtime::{Memory, TypedFunc};

use super::abi::{HeaderPairs, LogLevel};
use super::calls::{Delivery, HttpCall, Reply};
use super::shared::SharedStore;
use super::vm::Vm;

/// Which proxy the host imitates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Envoy 1.40: integer properties as 8-byte LE i64, `xds.cluster_name`, cpp-host CAS rules,
    /// `proxy_http_call` to these cluster names only (others: BadArgument).
    Envoy { clusters: Vec<String> },
    /// nginx + ngx_wasm_module: string properties, no cluster name (`cluster_name` logs an
    /// error), strict CAS, shared-data keys in these declared `shm_kv` zones.
    Nginx { zones: Vec<String> },
}

impl Mode {
    pub fn is_envoy(&self) -> bool {
        matches!(self, Mode::Envoy { .. })
    }
}

/// Where a log line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The filter's `proxy_log`.
    Plugin,
    /// The proxy itself (e.g. nginx's "property not supported").
    Host,
    /// The guest's WASI stdout/stderr.
    Stdio,
}

/// One line of the proxy's log.
#[derive(Debug, Clone)]
pub struct LogLine {
    pub vm: usize,
    pub level: LogLevel,
    pub origin: Origin,
    pub text: String,
}

/// A metric defined with `proxy_define_metric`.
#[derive(Debug, Clone)]
pub struct Metric {
    pub name: String,
    pub kind: super::abi::MetricType,
    pub value: u64,
}

/// Something to run on another worker in the middle of a shared-data write, to force the
/// interleavings real workers produce.
pub type Interference = Box<dyn FnMut(&mut Vm) -> Result<(), super::HostError> + Send>;

/// One `proxy_on_tick` the host ran: the `ordinal`-th tick of the proxy (from 1), on VM `vm`,
/// at `at_ms` on the proxy's monotonic clock. Calls dispatched during it carry its ordinal
/// ([`super::HttpCall::tick_ordinal`]), which orders flushes against every VM's merges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TickEvent {
    pub ordinal: u64,
    pub vm: usize,
    pub at_ms: u64,
    /// Run as interference, inside another VM's shared-data write (that VM's callback
    /// was still in progress).
    pub nested: bool,
}

pub(crate) struct Interferer {
    pub every: u64,
    pub seen: u64,
    pub fired: u64,
    pub action: Interference,
}

/// State of the whole proxy, shared by its VMs.
pub struct ProxyShared {
    pub mode: Mode,
    clock_ns: AtomicU64,
    /// Wall clock minus the monotonic clock (ms): a step of the system clock (NTP, a VM
    /// resumed) moves what the filter reads as the time, not when its ticks fire.
    wall_offset_ms: AtomicI64,
    pub store: Mutex<SharedStore>,
    pub logs: Mutex<Vec<LogLine>>,
    pub pending_calls: Mutex<Vec<HttpCall>>,
    pub answered_calls: Mutex<Vec<(HttpCall, Reply)>>,
    pub metrics: Mutex<Vec<Metric>>,
    pub traps: Mutex<Vec<String>>,
    /// Every call ever dispatched, in dispatch order (whatever became of it).
    pub dispatched_calls: Mutex<Vec<HttpCall>>,
    /// Calls whose VM was shut down or replaced before an answer: never delivered.
    pub cancelled_calls: Mutex<Vec<HttpCall>>,
    pub(crate) ticks: AtomicU64,
    pub tick_log: Mutex<Vec<TickEvent>>,
    /// Every header-map value and property the filter read in a stream context: each read
    /// is a round trip across the VM boundary, the filter's main cost per request.
    pub stream_reads: Mutex<Vec<(Phase, String)>>,
    pub(crate) interferer: Mutex<Option<Interferer>>,
    pub(crate) interfering: AtomicBool,
    pub(crate) vms: Mutex<Vec<Weak<Mutex<Vm>>>>,
    call_seq: AtomicU64,
}

impl ProxyShared {
    pub fn new(mode: Mode, store: SharedStore, start_ms: u64) -> ProxyShared {
        ProxyShared {
            mode,
            clock_ns: AtomicU64::new(start_ms.saturating_mul(1_000_000)),
            wall_offset_ms: AtomicI64::new(0),
            store: Mutex::new(store),
            logs: Mutex::new(Vec::new()),
            pending_calls: Mutex::new(Vec::new()),
            answered_calls: Mutex::new(Vec::new()),
            metrics: Mutex::new(Vec::new()),
            traps: Mutex::new(Vec::new()),
            dispatched_calls: Mutex::new(Vec::new()),
            cancelled_calls: Mutex::new(Vec::new()),
            ticks: AtomicU64::new(0),
            tick_log: Mutex::new(Vec::new()),
            stream_reads: Mutex::new(Vec::new()),
            interferer: Mutex::new(None),
            interfering: AtomicBool::new(false),
            vms: Mutex::new(Vec::new()),
            call_seq: AtomicU64::new(1),
        }
    }

    pub fn now_ns(&self) -> u64 {
        self.clock_ns.load(Ordering::SeqCst)
    }

    pub fn now_ms(&self) -> u64 {
        self.now_ns() / 1_000_000
    }

    /// The wall clock the filter reads (`proxy_get_current_time_nanoseconds`, WASI realtime):
    /// the monotonic clock plus any step made with [`ProxyShared::step_wall_clock`].
    pub fn wall_now_ns(&self) -> u64 {
        let offset_ms = self.wall_offset_ms.load(Ordering::SeqCst);
        self.now_ns().saturating_add_signed(offset_ms.saturating_mul(1_000_000))
    }

    /// Steps the wall clock by `delta_ms` (either way); ticks and timeouts keep their pace.
    pub fn step_wall_clock(&self, delta_ms: i64) {
        self.wall_offset_ms.fetch_add(delta_ms, Ordering::SeqCst);
    }

    /// Ticks run so far on this proxy (the ordinal of the latest).
    pub fn ticks(&self) -> u64 {
        self.ticks.load(Ordering::SeqCst)
    }

    /// Records the start of a tick of VM `vm`; returns its ordinal.
    pub(crate) fn record_tick(&self, vm: usize) -> u64 {
        let ordinal = self.ticks.fetch_add(1, Ordering::SeqCst) + 1;
        lock(&self.tick_log).push(TickEvent {
            ordinal,
            vm,
            at_ms: self.now_ms(),
            nested: self.interfering.load(Ordering::SeqCst),
        });
        ordinal
    }

    /// Moves the clock; it never goes backwards.
    pub fn set_now_ms(&self, ms: u64) {
        self.clock_ns.fetch_max(ms.saturating_mul(1_000_000), Ordering::SeqCst);
    }

    pub fn next_call_seq(&self) -> u64 {
        self.call_seq.fetch_add(1, Ordering::SeqCst)
    }

    pub fn log(&self, vm: usize, level: LogLevel, origin: Origin, text: String) {
        lock(&self.logs).push(LogLine { vm, level, origin, text });
    }
}

/// Locks a mutex, recovering the data if another thread panicked while holding it (a test
/// failure elsewhere must not turn into a second, confusing one here).
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// One HTTP stream (request) a VM is handling.
#[derive(Debug, Clone, Default)]
pub struct Stream {
    pub request_headers: HeaderPairs,
    pub response_headers: Option<HeaderPairs>,
    pub properties: HashMap<String, Vec<u8>>,
    /// `proxy_send_local_response` status, if the filter sent one.
    pub local_response: Option<u32>,
}

/// When a VM's root context wants its next `on_tick`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TickSchedule {
    pub period_ms: u64,
    pub next_due_ms: u64,
}

/// Which callback the VM is in (some buffers and maps exist only there).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Phase {
    #[default]
    Idle,
    VmStart,
    Configure,
    /// A stream callback other than the header phases (create, done, delete).
    Stream,
    RequestHeaders,
    ResponseHeaders,
    Log,
    CallResponse,
    Tick,
}

/// Per-VM host state (the data of its wasmtime `Store`).
pub struct HostState {
    pub vm: usize,
    pub shared: Arc<ProxyShared>,
    pub plugin_config: Vec<u8>,
    pub vm_config: Vec<u8>,
    pub root_id: u32,
    pub next_context_id: u32,
    pub effective: u32,
    pub phase: Phase,
    pub streams: HashMap<u32, Stream>,
    pub delivery: Option<Delivery>,
    pub tick: Option<TickSchedule>,
    pub next_token: u32,
    pub memory: Option<Memory>,
    pub alloc: Option<TypedFunc<i32, i32>>,
    /// Fuel burnt in `proxy_on_memory_allocate` for host calls during the current callback.
    pub alloc_fuel: u64,
    pub rng: u64,
    /// Proxy-level properties (readable from root contexts too).
    pub properties: HashMap<String, Vec<u8>>,
}

impl HostState {
    pub fn new(vm: usize, shared: Arc<ProxyShared>, plugin_config: Vec<u8>, vm_config: Vec<u8>) -> HostState {
        // Every VM ever created gets its own random stream (a reloaded proxy's new VMs must not
        // repeat the old ones' "random" boot ids).
        static SEEDS: AtomicU64 = AtomicU64::new(0x9e37_79b9_7f4a_7c15);
        let seed = SEEDS.fetch_add(0x6a09_e667_f3bc_c909, Ordering::Relaxed) | 1;
        HostState {
            vm,
            shared,
            plugin_config,
            vm_config,
            root_id: 1,
            next_context_id: 2,
            effective: 1,
            phase: Phase::Idle,
            streams: HashMap::new(),
            delivery: None,
            tick: None,
            next_token: 1,
            memory: None,
            alloc: None,
            alloc_fuel: 0,
            rng: seed,
            properties: HashMap::new(),
        }
    }

    /// The stream of the effective context, if it is one.
    pub fn stream(&self) -> Option<&Stream> {
        self.streams.get(&self.effective)
    }

    pub fn stream_mut(&mut self) -> Option<&mut Stream> {
        self.streams.get_mut(&self.effective)
    }

    pub fn log(&self, level: LogLevel, origin: Origin, text: String) {
        self.shared.log(self.vm, level, origin, text);
    }

    /// Notes a read made from a stream context (see [`ProxyShared::stream_reads`]).
    pub fn note_read(&self, what: String) {
        if self.stream().is_some() {
            lock(&self.shared.stream_reads).push((self.phase, what));
        }
    }

    /// xorshift64*: deterministic per VM, different between VMs.
    pub fn next_random(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}
