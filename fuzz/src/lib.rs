//! The properties Faultline's parsers must hold on any input, one module per fuzz target.
//! Each `check(data)` panics (the fuzzer's signal) when a property fails; it returns
//! normally on input that is merely refused. Used by the libFuzzer targets in
//! `fuzz_targets/` and, unchanged, by `tests/tests/fuzz_corpus.rs`, which replays the
//! committed corpora on stable Rust.
// Failing loudly is what a check is for (the workspace denies panics in product code).
#![allow(clippy::panic)]

pub mod collector_config;
pub mod filter_config;
pub mod flush;
pub mod input;
pub mod ledger;
pub mod message;
pub mod route;

/// A property check: returns on any input that holds, panics on one that does not.
pub type Check = fn(&[u8]);

/// Every fuzz target: its name (the corpus directory) and its check.
pub const TARGETS: [(&str, Check); 6] = [
    ("flush_parse", flush::check),
    ("ledger", ledger::check),
    ("collector_config", collector_config::check),
    ("filter_config", filter_config::check),
    ("route", route::check),
    ("discord_message", message::check),
];
