//! What a proxy file yields before validation: each plugin configuration with where it sits. Shared by the nginx
//! and Envoy readers, so that neither imports the other nor the checks above them.

use thiserror::Error;

/// A proxy file its reader cannot make sense of (unbalanced braces, a broken quote, YAML that does not scan).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("line {line}: {message}")]
pub struct SyntaxError {
    /// 1-based line the reader stopped at.
    pub line: usize,
    /// What is wrong there.
    pub message: String,
}

/// One Faultline plugin configuration found in a proxy file, as the host will hand it to the filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// Line the configuration text starts on (the `proxy_wasm` line; the first line of Envoy's `value`).
    pub line: usize,
    /// Where it is, for messages: `proxy_wasm faultline (location /ai/)`.
    pub place: String,
    /// The configuration text, quotes and escapes resolved; `None` when the file gives no text the host would pass
    /// (`problem` says why).
    pub text: Option<String>,
    /// Why the file cannot hold a valid configuration here, whatever the text (Envoy: `configuration` not a
    /// `StringValue`); reported at `line`.
    pub problem: Option<(String, String)>,
    /// The services the host names when the configuration has none.
    pub host_services: HostServices,
}

/// What the filter counts under when its configuration names no `service`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostServices {
    /// nginx: no cluster name to read, so everything counts as `default_service`.
    DefaultService,
    /// Envoy: `xds.cluster_name` of each route's cluster, with the line of the route's `cluster`; `dynamic` when
    /// some routes come from RDS or a `cluster_header` (unknowable from the file).
    Clusters {
        /// Each cluster the routes send to, once, with the line of its first `cluster:`.
        clusters: Vec<(String, usize)>,
        /// Some routes' clusters cannot be known from the file.
        dynamic: bool,
        /// The clusters the file defines (`static_resources.clusters`), unless CDS may add more.
        defined: Option<Vec<String>>,
    },
}

/// A wasm plugin that is not Faultline's (another filter's configuration is not ours to judge): listed, not
/// checked, so that nothing is skipped silently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// Line of the directive or filter.
    pub line: usize,
    /// What it is.
    pub place: String,
}

/// What a reader found in a file.
#[derive(Debug, Default)]
pub struct Scan {
    /// Faultline's plugin configurations, in file order.
    pub found: Vec<Found>,
    /// Other wasm plugins.
    pub skipped: Vec<Skipped>,
    /// Things the check could not look into (nginx `include`, Envoy RDS), said on the report.
    pub notes: Vec<String>,
}

/// Whether a module / plugin name or a `.wasm` path is Faultline's: the shipped configs and docs name it so
/// (`faultline`, `faultline_filter.wasm`); a proxy may run other wasm filters whose configuration is not ours.
pub fn is_faultline(names: &[&str]) -> bool {
    names.iter().any(|n| n.to_ascii_lowercase().contains("faultline"))
}
