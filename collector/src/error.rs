//! The one error type at the collector's edge: what the binary prints when a command fails. Inside,
//! each layer keeps its own typed error ([`crate::config::ConfigError`], [`crate::store::StoreError`]).

use crate::store::StoreError;

/// The error at the collector's edge.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("listening on {addr}: {source}")]
    Listen { addr: std::net::SocketAddr, source: std::io::Error },
    #[error("{0}")]
    Other(String),
}
