//! Faultline's test support: the pieces that tests and the demo share.
//!
//! - [`paths`]: where the build artifacts (the `.wasm`, binaries, Envoy) are.
//! - [`process`]: processes a test starts, logged and killed by PID on drop.
pub mod paths;
pub mod process;
