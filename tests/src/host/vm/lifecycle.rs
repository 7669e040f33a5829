//! A running VM reconfigured or shut down, as a proxy does when its configuration changes.

use super::super::HostError;
use super::super::state::Phase;
use super::Vm;

impl Vm {
    /// Calls `proxy_on_configure` again with a new plugin configuration, as a proxy does when
    /// it reconfigures a running root context; returns what the filter answered.
    pub fn configure(&mut self, plugin_config: &[u8]) -> Result<bool, HostError> {
        let root = self.store.data().root_id;
        self.store.data_mut().plugin_config = plugin_config.to_vec();
        let size = plugin_config.len() as i32;
        let configured = self.run(
            "proxy_on_configure",
            self.exports.on_configure.clone(),
            (root as i32, size),
            Phase::Configure,
            root,
        )?;
        Ok(configured.is_none_or(|r| r != 0))
    }

    /// Shuts the root context down the way proxy-wasm-cpp-host's `startShutdown` does when a
    /// plugin is removed (Envoy reconfiguring, a worker exiting): `proxy_on_done`, then
    /// `proxy_on_delete` if the filter said it is done. Returns what `proxy_on_done` answered.
    pub fn shutdown(&mut self) -> Result<bool, HostError> {
        let root = self.store.data().root_id;
        let done = self
            .run("proxy_on_done", self.exports.on_done.clone(), root as i32, Phase::Idle, root)?
            .is_none_or(|r| r != 0);
        if done {
            self.run("proxy_on_delete", self.exports.on_delete.clone(), root as i32, Phase::Idle, root)?;
        }
        Ok(done)
    }
}
