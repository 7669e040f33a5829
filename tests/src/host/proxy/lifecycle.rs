//! A proxy's VMs coming and going while it runs, and its wall clock stepping: what Envoy does
//! on reconfiguration (a new root context or VM, the old one shut down), what a crashed nginx
//! worker leads to (a new VM over the same shared memory), and an NTP step.

use std::sync::{Arc, Mutex};

use super::super::HostError;
use super::super::calls::HttpCall;
use super::super::state::{TickEvent, lock};
use super::super::vm::Started;
use super::Proxy;

/// How a VM goes away before its replacement starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// The proxy shuts the root context down first (`proxy_on_done`, then
    /// `proxy_on_delete`), as proxy-wasm-cpp-host does when a plugin is removed.
    Graceful,
    /// The VM is gone without a callback (a worker process killed or crashed).
    Abrupt,
}

impl Proxy {
    /// Replaces VM `i` with a new instance over the same shared store (and clock, logs,
    /// calls), started with `plugin_config` if given (it also becomes VM `i`'s configuration
    /// for a later [`Proxy::reload`]), else its latest one. Calls the old VM dispatched are
    /// cancelled: no proxy delivers an answer to a VM that is gone.
    pub fn restart_vm(&mut self, i: usize, exit: Exit, plugin_config: Option<&str>) -> Result<Started, HostError> {
        let old = self.vms.get(i).cloned().ok_or(HostError::NoSuchVm(i))?;
        let shutdown = match exit {
            Exit::Graceful => lock(&old).shutdown().map(|_| ()),
            Exit::Abrupt => Ok(()),
        };
        self.cancel_calls_of(i);
        shutdown?;
        if let Some(cfg) = plugin_config {
            self.config.vm_plugin_configs.push((i, cfg.as_bytes().to_vec()));
        }
        let vm = Arc::new(Mutex::new(self.new_vm(i)?));
        if let Some(slot) = self.vms.get_mut(i) {
            *slot = vm.clone();
        }
        if let Some(weak) = lock(&self.shared.vms).get_mut(i) {
            *weak = Arc::downgrade(&vm);
        }
        let started = lock(&vm).start()?;
        if let Some(slot) = self.started.get_mut(i) {
            *slot = started;
        }
        Ok(started)
    }

    /// Calls `proxy_on_configure` again on VM `i` with a new plugin configuration (kept for
    /// a later [`Proxy::reload`]); returns what the filter answered.
    pub fn reconfigure_vm(&mut self, i: usize, plugin_config: &str) -> Result<bool, HostError> {
        if i >= self.vms.len() {
            return Err(HostError::NoSuchVm(i));
        }
        self.config.vm_plugin_configs.push((i, plugin_config.as_bytes().to_vec()));
        self.with_vm(i, |vm| vm.configure(plugin_config.as_bytes()))?
    }

    /// Steps the wall clock the filter reads by `delta_ms` (forward or back); ticks and call
    /// timeouts keep their pace on the monotonic clock.
    pub fn step_wall_clock(&self, delta_ms: i64) {
        self.shared.step_wall_clock(delta_ms);
    }

    /// The wall clock the filter reads, in ms.
    pub fn wall_now_ms(&self) -> u64 {
        self.shared.wall_now_ns() / 1_000_000
    }

    /// Every tick run so far, in order (ordinals 1, 2, ...).
    pub fn tick_log(&self) -> Vec<TickEvent> {
        lock(&self.shared.tick_log).clone()
    }

    /// Ticks with an ordinal above `after`, in order.
    pub fn ticks_after(&self, after: u64) -> Vec<TickEvent> {
        let log = lock(&self.shared.tick_log);
        let from = log.partition_point(|t| t.ordinal <= after);
        log.get(from..).map(<[TickEvent]>::to_vec).unwrap_or_default()
    }

    /// Calls dispatched after call number `after` ([`HttpCall::seq`]), in dispatch order,
    /// whatever became of them (pending, answered, timed out, cancelled).
    pub fn calls_after(&self, after: u64) -> Vec<HttpCall> {
        let log = lock(&self.shared.dispatched_calls);
        let from = log.partition_point(|c| c.seq <= after);
        log.get(from..).map(<[HttpCall]>::to_vec).unwrap_or_default()
    }

    /// Calls never answered because their VM went away (restart, reload), oldest first.
    pub fn cancelled_calls(&self) -> Vec<HttpCall> {
        lock(&self.shared.cancelled_calls).clone()
    }

    fn cancel_calls_of(&self, vm: usize) {
        let mut pending = lock(&self.shared.pending_calls);
        let (gone, kept): (Vec<HttpCall>, Vec<HttpCall>) = pending.drain(..).partition(|c| c.vm == vm);
        *pending = kept;
        lock(&self.shared.cancelled_calls).extend(gone);
    }
}
