//! A proxy: several VMs (workers, plus Envoy's main-thread ticker if asked) over one shared
//! store and one controlled clock. Time moves only when the test advances it; ticks and call
//! timeouts then fire in time order.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;

use wasmtime::{Config, Engine, Linker, Module};

use super::HostError;
use super::calls::{Delivery, HttpCall, Reply};
use super::shared::{SharedStore, SlotHash, StoreRules, StoreStats};
use super::state::{HostState, Interference, Interferer, LogLine, Metric, Mode, Phase, ProxyShared, lock};
use super::stream::{Ending, Request, StreamOutcome};
use super::vm::{Started, Vm};

mod lifecycle;
pub use lifecycle::Exit;

/// 2025-12-01T00:00:00Z: where every proxy clock starts unless told otherwise.
pub const DEFAULT_START_MS: u64 = 1_764_547_200_000;

/// How to build a [`Proxy`].
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    pub mode: Mode,
    pub workers: usize,
    /// Envoy: also run the main thread's root context, which ticks but sees no requests.
    pub main_thread_ticker: bool,
    pub plugin_config: Vec<u8>,
    pub vm_config: Vec<u8>,
    pub start_ms: u64,
    /// The `.wasm` to load; default: the release filter (`faultline_tests::paths::filter_wasm`).
    pub wasm: Option<PathBuf>,
    /// nginx: look shared-data keys up by this hash alone, as ngx_wasm_module's CRC32 lookup
    /// does, so that keys with equal hashes collide (a weak hash forces collisions).
    pub slot_hash: Option<SlotHash>,
    /// Plugin configurations that replace `plugin_config` for some VMs (by index): nginx's
    /// per-`location` configurations, each in its own root context.
    pub vm_plugin_configs: Vec<(usize, Vec<u8>)>,
}

impl ProxyConfig {
    /// Envoy 1.40 with two workers and one known cluster, `faultline_collector`.
    pub fn envoy(plugin_config: &str) -> ProxyConfig {
        ProxyConfig {
            mode: Mode::Envoy { clusters: vec!["faultline_collector".into()] },
            workers: 2,
            main_thread_ticker: false,
            plugin_config: plugin_config.as_bytes().to_vec(),
            vm_config: Vec::new(),
            start_ms: DEFAULT_START_MS,
            wasm: None,
            slot_hash: None,
            vm_plugin_configs: Vec::new(),
        }
    }

    /// nginx + ngx_wasm_module with two workers and `shm_kv faultline` declared.
    pub fn nginx(plugin_config: &str) -> ProxyConfig {
        ProxyConfig { mode: Mode::Nginx { zones: vec!["faultline".into()] }, ..ProxyConfig::envoy(plugin_config) }
    }

    pub fn workers(mut self, n: usize) -> ProxyConfig {
        self.workers = n;
        self
    }

    pub fn main_thread_ticker(mut self, on: bool) -> ProxyConfig {
        self.main_thread_ticker = on;
        self
    }

    pub fn wasm(mut self, path: impl Into<PathBuf>) -> ProxyConfig {
        self.wasm = Some(path.into());
        self
    }

    /// Runs VM `vm` with this plugin configuration instead of the common one.
    pub fn vm_plugin_config(mut self, vm: usize, plugin_config: &str) -> ProxyConfig {
        self.vm_plugin_configs.push((vm, plugin_config.as_bytes().to_vec()));
        self
    }

    pub fn slot_hash(mut self, hash: SlotHash) -> ProxyConfig {
        self.slot_hash = Some(hash);
        self
    }

    pub fn mode(mut self, mode: Mode) -> ProxyConfig {
        self.mode = mode;
        self
    }
}

/// A running proxy.
pub struct Proxy {
    config: ProxyConfig,
    shared: Arc<ProxyShared>,
    engine: Engine,
    module: Module,
    linker: Linker<HostState>,
    vms: Vec<Arc<Mutex<Vm>>>,
    started: Vec<Started>,
    unimplemented: Vec<String>,
}

impl Proxy {
    /// Loads the module, creates every VM and starts each (vm_start, configure).
    pub fn start(config: ProxyConfig) -> Result<Proxy, HostError> {
        let path = match &config.wasm {
            Some(p) => p.clone(),
            None => crate::paths::filter_wasm().map_err(HostError::Artifact)?,
        };
        let (engine, module) = compiled(&path)?;

        let rules = match &config.mode {
            Mode::Envoy { .. } => StoreRules::Envoy,
            Mode::Nginx { zones } => StoreRules::Nginx { zones: zones.clone() },
        };
        let shared = Arc::new(ProxyShared::new(
            config.mode.clone(),
            SharedStore::new(rules).with_slot_hash(config.slot_hash),
            config.start_ms,
        ));
        let probe = HostState::new(0, shared.clone(), Vec::new(), Vec::new());
        let (linker, unimplemented) = super::imports::linker(&engine, &module, &config.mode, probe)
            .map_err(|e| HostError::Instantiate { vm: 0, detail: format!("{e:?}") })?;
        let mut proxy =
            Proxy { config, shared, engine, module, linker, vms: Vec::new(), started: Vec::new(), unimplemented };
        proxy.spawn_vms()?;
        Ok(proxy)
    }

    fn spawn_vms(&mut self) -> Result<(), HostError> {
        let extra = usize::from(self.config.main_thread_ticker && self.config.mode.is_envoy());
        let mut vms = Vec::new();
        for i in 0..self.config.workers + extra {
            vms.push(Arc::new(Mutex::new(self.new_vm(i)?)));
        }
        *lock(&self.shared.vms) = vms.iter().map(Arc::downgrade).collect();
        self.vms = vms;
        self.started = Vec::new();
        for vm in &self.vms {
            let started = lock(vm).start()?;
            self.started.push(started);
        }
        Ok(())
    }

    /// A new, not yet started VM at index `i`, with the latest plugin configuration given
    /// for it (or the common one).
    fn new_vm(&self, i: usize) -> Result<Vm, HostError> {
        let plugin_config = match self.config.vm_plugin_configs.iter().rev().find(|(vm, _)| *vm == i) {
            Some((_, cfg)) => cfg.clone(),
            None => self.config.plugin_config.clone(),
        };
        let state = HostState::new(i, self.shared.clone(), plugin_config, self.config.vm_config.clone());
        let main = i >= self.config.workers;
        Vm::new(&self.engine, &self.module, &self.linker, state, main)
    }

    /// `nginx -s reload` (or a restart): shared memory is wiped and every VM is new; calls in
    /// flight are never answered ([`Proxy::cancelled_calls`]).
    pub fn reload(&mut self) -> Result<(), HostError> {
        lock(&self.shared.store).wipe();
        let dropped: Vec<_> = lock(&self.shared.pending_calls).drain(..).collect();
        lock(&self.shared.cancelled_calls).extend(dropped);
        self.spawn_vms()
    }

    /// Imports of the module the host does not implement (`module::name`; calling one traps).
    pub fn unimplemented_imports(&self) -> &[String] {
        &self.unimplemented
    }

    /// What each VM's vm_start / configure returned.
    pub fn started(&self) -> &[Started] {
        &self.started
    }

    pub fn mode(&self) -> &Mode {
        &self.config.mode
    }

    /// Number of workers (VMs that see requests).
    pub fn workers(&self) -> usize {
        self.config.workers
    }

    /// Every VM, workers first, then Envoy's main-thread ticker if any.
    pub fn vms(&self) -> &[Arc<Mutex<Vm>>] {
        &self.vms
    }

    /// Runs `f` on VM `i`.
    pub fn with_vm<R>(&self, i: usize, f: impl FnOnce(&mut Vm) -> R) -> Result<R, HostError> {
        let vm = self.vms.get(i).ok_or(HostError::NoSuchVm(i))?;
        Ok(f(&mut lock(vm)))
    }

    /// Runs one stream on worker `worker`.
    pub fn exchange(&self, worker: usize, request: &Request, ending: &Ending) -> Result<StreamOutcome, HostError> {
        if worker >= self.config.workers {
            return Err(HostError::NoSuchVm(worker));
        }
        self.with_vm(worker, |vm| vm.exchange(request, ending))?
    }

    pub fn now_ms(&self) -> u64 {
        self.shared.now_ms()
    }

    /// Moves the clock `ms` forward, firing every tick and call timeout that falls due, in
    /// time order (timeouts before ticks at the same instant, then by VM index).
    pub fn advance(&self, ms: u64) -> Result<(), HostError> {
        let target = self.now_ms().saturating_add(ms);
        for _ in 0..1_000_000 {
            let tick = self
                .vms
                .iter()
                .enumerate()
                .filter_map(|(i, vm)| lock(vm).tick_schedule().map(|t| (t.next_due_ms, i)))
                .filter(|(due, _)| *due <= target)
                .min();
            let timeout = lock(&self.shared.pending_calls)
                .iter()
                .map(|c| (c.deadline_ms(), c.seq))
                .filter(|(due, _)| *due <= target)
                .min();
            match (tick, timeout) {
                (None, None) => {
                    self.shared.set_now_ms(target);
                    return Ok(());
                }
                (Some((tick_due, _)), Some((due, seq))) if due <= tick_due => self.fire_timeout(due, seq)?,
                (None, Some((due, seq))) => self.fire_timeout(due, seq)?,
                (Some((due, i)), _) => {
                    self.shared.set_now_ms(due);
                    self.with_vm(i, |vm| vm.scheduled_tick(due))??;
                }
            }
        }
        Err(HostError::Runaway)
    }

    fn fire_timeout(&self, due: u64, seq: u64) -> Result<(), HostError> {
        self.shared.set_now_ms(due);
        self.answer(seq, Reply::Timeout)
    }

    /// Calls dispatched and not answered yet, oldest first.
    pub fn pending_calls(&self) -> Vec<HttpCall> {
        lock(&self.shared.pending_calls).clone()
    }

    /// Every call answered so far, with its answer, oldest first.
    pub fn answered_calls(&self) -> Vec<(HttpCall, Reply)> {
        lock(&self.shared.answered_calls).clone()
    }

    /// Answers a pending call the way this proxy would deliver `reply`.
    pub fn answer(&self, seq: u64, reply: Reply) -> Result<(), HostError> {
        let call = {
            let mut pending = lock(&self.shared.pending_calls);
            let at = pending.iter().position(|c| c.seq == seq).ok_or(HostError::NoSuchCall(seq))?;
            pending.remove(at)
        };
        let delivery = match self.config.mode {
            Mode::Envoy { .. } => Delivery::envoy(&reply),
            Mode::Nginx { .. } => Delivery::nginx(&reply),
        };
        lock(&self.shared.answered_calls).push((call.clone(), reply));
        self.with_vm(call.vm, |vm| vm.deliver(&call, delivery))?
    }

    /// Answers every pending call with `reply(call)`; returns the calls answered.
    pub fn answer_all(&self, reply: impl Fn(&HttpCall) -> Reply) -> Result<Vec<HttpCall>, HostError> {
        let calls = self.pending_calls();
        for call in &calls {
            self.answer(call.seq, reply(call))?;
        }
        Ok(calls)
    }

    /// Every log line so far.
    pub fn logs(&self) -> Vec<LogLine> {
        lock(&self.shared.logs).clone()
    }

    /// Takes the fuel (wasm instructions) VM `i` burnt per callback since the last call.
    pub fn take_fuel(&self, i: usize) -> Result<BTreeMap<&'static str, u64>, HostError> {
        self.with_vm(i, Vm::take_fuel)
    }

    /// Takes the reads made from stream contexts so far: `(phase, header or property)`.
    pub fn take_stream_reads(&self) -> Vec<(Phase, String)> {
        std::mem::take(&mut *lock(&self.shared.stream_reads))
    }

    /// Every trap so far (each also failed the call that hit it).
    pub fn traps(&self) -> Vec<String> {
        lock(&self.shared.traps).clone()
    }

    pub fn store_stats(&self) -> StoreStats {
        lock(&self.shared.store).stats()
    }

    /// Keys in shared data (a test's view: proxies cannot list them).
    pub fn store_keys(&self) -> Vec<String> {
        lock(&self.shared.store).keys().iter().map(|k| String::from_utf8_lossy(k).into_owned()).collect()
    }

    /// Bytes held in shared data.
    pub fn store_bytes(&self) -> usize {
        lock(&self.shared.store).bytes()
    }

    pub fn metrics(&self) -> Vec<Metric> {
        lock(&self.shared.metrics).clone()
    }

    /// From now on, every `every`-th shared-data write pauses before it applies while
    /// `action` runs on another worker (the next one that is idle).
    pub fn interfere_on_write(&self, every: u64, action: Interference) {
        *lock(&self.shared.interferer) = Some(Interferer { every, seen: 0, fired: 0, action });
    }

    /// Stops interfering; returns how many times the interference ran.
    pub fn stop_interfering(&self) -> u64 {
        lock(&self.shared.interferer).take().map_or(0, |i| i.fired)
    }
}

/// Compiles each `.wasm` once per test process (the same file, unchanged, is reused).
fn compiled(path: &Path) -> Result<(Engine, Module), HostError> {
    type Cache = Mutex<HashMap<(PathBuf, Option<SystemTime>), (Engine, Module)>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
    let key = (path.to_path_buf(), modified);
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    if let Some(hit) = lock(cache).get(&key) {
        return Ok(hit.clone());
    }
    let compile_err =
        |e: wasmtime::Error| HostError::Compile { path: path.display().to_string(), detail: format!("{e:?}") };
    let mut config = Config::new();
    config.wasm_backtrace_max_frames(std::num::NonZeroUsize::new(64));
    // Fuel counts the guest's instructions per callback (`Vm::take_fuel`): a cost no timing noise hides.
    config.consume_fuel(true);
    let engine = Engine::new(&config).map_err(compile_err)?;
    let bytes = std::fs::read(path).map_err(|e| HostError::Artifact(format!("{}: {e}", path.display())))?;
    let module = Module::new(&engine, &bytes).map_err(compile_err)?;
    lock(cache).insert(key, (engine.clone(), module.clone()));
    Ok((engine, module))
}
