//! Where the build artifacts the tests drive live.
//!
//! `scripts/test.sh` builds them before `cargo test`; a missing one is a clear failure,
//! never a skipped test.

use std::path::PathBuf;

/// The workspace root (the parent of this crate's directory).
pub fn workspace_root() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.parent().map(PathBuf::from).unwrap_or(here)
}

/// The cargo target directory (`CARGO_TARGET_DIR` if set, else `<root>/target`).
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() { dir } else { workspace_root().join(dir) }
        }
        None => workspace_root().join("target"),
    }
}

/// The release filter: `target/wasm32-wasip1/wasm/faultline_filter.wasm`.
pub fn filter_wasm() -> Result<PathBuf, String> {
    existing(
        std::env::var_os("FAULTLINE_WASM")
            .map(PathBuf::from)
            .unwrap_or_else(|| target_dir().join("wasm32-wasip1/wasm/faultline_filter.wasm")),
        "the filter .wasm",
    )
}

/// A binary of this workspace built by `cargo build --workspace --bins` (debug profile,
/// or the profile named by `FAULTLINE_BIN_PROFILE`).
pub fn binary(name: &str) -> Result<PathBuf, String> {
    let profile = std::env::var("FAULTLINE_BIN_PROFILE").unwrap_or_else(|_| "debug".into());
    existing(target_dir().join(profile).join(name), name)
}

/// The real Envoy binary installed by `scripts/install-envoy.sh` (or `FAULTLINE_ENVOY`).
pub fn envoy() -> Result<PathBuf, String> {
    existing(
        std::env::var_os("FAULTLINE_ENVOY").map(PathBuf::from).unwrap_or_else(|| target_dir().join("envoy/bin/envoy")),
        "envoy",
    )
}

fn existing(path: PathBuf, what: &str) -> Result<PathBuf, String> {
    if path.exists() {
        Ok(path)
    } else {
        Err(format!(
            "{what} not found at {}: run scripts/test.sh, which builds and installs everything the tests need",
            path.display()
        ))
    }
}
