//! Faultline's test support: the pieces that tests and the demo share.
//!
//! - [`paths`]: where the build artifacts (the `.wasm`, binaries, Envoy) are.
//! - [`process`]: processes a test starts, logged and killed by PID on drop.
//! - [`envoy`]: the real Envoy on the shipped configuration (rendered ports/paths), its admin stats.
//! - [`discord`]: a local server speaking Discord's webhook API (limits, rate limit, scripted failures).
pub mod discord;
pub mod envoy;
pub mod paths;
pub mod process;
mod serve;
