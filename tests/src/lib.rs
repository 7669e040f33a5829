//! Faultline's test support: the pieces that tests and the demo share.
//!
//! - [`paths`]: where the build artifacts (the `.wasm`, binaries, Envoy) are.
//! - [`process`]: processes a test starts, logged and killed by PID on drop.
//! - [`discord`]: a local server speaking Discord's webhook API (limits, rate limit, scripted failures).
//! - [`upstream`]: scripted upstream services (deterministic 5xx rates per route, health endpoint, stop/start).
//! - [`traffic`]: a traffic driver with exact counts of what was sent and answered.
//! - [`envoy`]: the real Envoy on the shipped configuration (rendered ports/paths), its admin stats.
//! - [`faults`]: helpers of the fault tests (simulated proxies, seeded RNG, RSS, a cuttable relay, secret grep).
//! - [`stack`]: the whole product on loopback (services, collector, Envoy, Discord server) for e2e tests and the demo.
pub mod discord;
pub mod envoy;
pub mod faults;
pub mod host;
pub mod paths;
pub mod process;
mod serve;
pub mod stack;
pub mod traffic;
pub mod upstream;
