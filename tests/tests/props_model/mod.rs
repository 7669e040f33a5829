//! The property tests' scenario generator, model and driver (see `filter_props.rs`).

pub mod check;
pub mod model;
pub mod run;
pub mod scenario;
pub mod stats;
pub mod strategies;
