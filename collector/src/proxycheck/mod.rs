//! `check-proxy`: runs every Faultline plugin configuration of an nginx.conf or an envoy.yaml through the filter's
//! own validation ([`faultline_filter::config::parse`]) before a reload, because neither proxy does: `nginx -t`
//! and `envoy --mode validate` pass a configuration the filter will refuse at worker start (it then passes
//! traffic uncounted, and the alerts go quiet). With the collector's configuration it also checks what the
//! collector would refuse: an unknown token (401), a `proxy_id` its token is not bound to (403), and services
//! the collector does not know.
//!
//! Each problem names the file, the line and the key: the JSON key's own line when the configuration text maps
//! line for line onto the file (an nginx quoted string, a YAML `|` block), else the line the text starts on.
//! Tokens are never printed.

mod envoy;
pub mod nginx;
mod plugin;

pub use plugin::SyntaxError;
use plugin::{Found, HostServices, Scan, Skipped};

use crate::config::Config;
use crate::secret::ct_eq;
use faultline_filter::config::{self as filter, ConfigError as FilterError};
use std::fmt::{self, Write};
use std::path::Path;

/// Which proxy a file configures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// nginx with ngx_wasm_module: `proxy_wasm NAME 'CONFIG';` lines.
    Nginx,
    /// Envoy: `envoy.filters.http.wasm` filters with a `StringValue` configuration.
    Envoy,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Nginx => "nginx",
            Kind::Envoy => "Envoy",
        })
    }
}

/// A file that could not be checked at all.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// Not readable (or not UTF-8).
    #[error("{file}: cannot read: {source}")]
    Read { file: String, source: std::io::Error },
    /// Not an nginx configuration / not YAML, at `line`.
    #[error("{file}:{}: {kind} configuration: {}", .error.line, .error.message)]
    Syntax { file: String, kind: Kind, error: SyntaxError },
    /// Read, but without a single Faultline plugin configuration: most likely the wrong file.
    #[error("{file}: no Faultline plugin configuration found (read as {kind} {reason}){skipped}")]
    NothingFound { file: String, kind: Kind, reason: String, skipped: String },
}

/// One thing wrong with one plugin configuration: `file:line: place: message`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {place}: {message}")]
pub struct Problem {
    pub file: String,
    pub line: usize,
    /// `proxy_wasm faultline (location /ai/)`, `envoy.filters.http.wasm faultline (listener edge)`.
    pub place: String,
    /// The key at fault (`collector.token`, `service`, `cluster`), when there is one.
    pub key: Option<String>,
    pub message: String,
}

/// Where a configuration's services come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceSource {
    /// Its own `service` key.
    Service,
    /// Envoy: the clusters its routes send to (`xds.cluster_name`).
    Clusters,
    /// `default_service` (nginx without `service`; Envoy routes without a cluster).
    Default,
}

/// A configuration that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    pub line: usize,
    pub place: String,
    /// The services it counts under (several for Envoy: one per route cluster).
    pub services: Vec<String>,
    pub source: ServiceSource,
    /// Some of Envoy's route clusters are not in the file (RDS, `cluster_header`).
    pub more_clusters: bool,
    pub proxy_id: Option<String>,
    /// Whether it flushes (has a `collector`) or only counts.
    pub flushes: bool,
}

/// The outcome of checking one proxy file.
#[derive(Debug)]
pub struct Report {
    pub file: String,
    pub kind: Kind,
    /// How the kind was decided ("by its extension .conf").
    pub reason: String,
    /// The collector configuration checked against, if any.
    pub against: Option<String>,
    pub checked: Vec<Checked>,
    pub skipped: Vec<Skipped>,
    pub notes: Vec<String>,
    /// Configurations found (checked or refused).
    pub total: usize,
    pub problems: Vec<Problem>,
}

impl Report {
    /// What `check-proxy` prints on stdout: the kind taken, a line per configuration checked, skipped plugins,
    /// notes, a last line with the count. Never a token.
    pub fn summary(&self) -> String {
        let mut o = String::new();
        let file = &self.file;
        let _ = writeln!(o, "{file}: read as an {} configuration ({})", self.kind, self.reason);
        for c in &self.checked {
            let _ = writeln!(o, "{file}:{}: {}: {}", c.line, c.place, describe(c));
        }
        for s in &self.skipped {
            let _ = writeln!(o, "{file}:{}: skipped {}: not Faultline's", s.line, s.place);
        }
        for n in &self.notes {
            let _ = writeln!(o, "{file}: note: {n}");
        }
        let against = match &self.against {
            Some(c) => format!("tokens and services checked against {c}"),
            None => "tokens and services not checked: no --config".to_string(),
        };
        let refused = self.total - self.checked.len();
        let n = self.total;
        let s = if n == 1 { "" } else { "s" };
        if refused == 0 {
            let _ = writeln!(o, "{n} Faultline configuration{s} OK ({against})");
        } else {
            let _ = writeln!(o, "{refused} of {n} Faultline configuration{s} refused ({against})");
        }
        o
    }
}

fn quoted(names: &[String]) -> String {
    if names.is_empty() {
        return "none".into();
    }
    names.iter().map(|n| format!("{n:?}")).collect::<Vec<_>>().join(", ")
}

fn describe(c: &Checked) -> String {
    let s = if c.services.len() == 1 { "service" } else { "services" };
    let services = quoted(&c.services);
    let mut out = match c.source {
        ServiceSource::Service => format!("{s} {services}"),
        ServiceSource::Clusters => format!("{s} {services} (route clusters)"),
        ServiceSource::Default => format!("{s} {services} (default_service)"),
    };
    if c.more_clusters {
        out.push_str(" and clusters from RDS or cluster_header (not checked)");
    }
    match (&c.proxy_id, c.flushes) {
        (Some(p), true) => out.push_str(&format!(", proxy_id {p:?}")),
        (Some(p), false) => out.push_str(&format!(", proxy_id {p:?}, counts only (no collector)")),
        (None, _) => out.push_str(", no proxy_id, counts only (no collector)"),
    }
    out
}

/// Which proxy `src` configures: by the extension (`.conf` nginx; `.yaml`, `.yml`, `.json` Envoy), else by the
/// first line that is not a comment (`key:` or `{` is Envoy, anything else nginx). Returns the reason too.
pub fn detect(file: &str, src: &str) -> (Kind, String) {
    let ext = Path::new(file).extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some(e @ ("yaml" | "yml" | "json")) => return (Kind::Envoy, format!("by its extension .{e}")),
        Some("conf") => return (Kind::Nginx, "by its extension .conf".into()),
        _ => {}
    }
    let first = src.lines().map(str::trim).find(|l| !l.is_empty() && !l.starts_with('#') && *l != "---");
    match first {
        Some(l) if l.starts_with('{') || l.split_whitespace().next().is_some_and(|w| w.ends_with(':')) => {
            (Kind::Envoy, "by its content: YAML or JSON keys".into())
        }
        _ => (Kind::Nginx, "by its content: nginx directives".into()),
    }
}

/// Reads `path` and checks it (see [`check_text`]).
pub fn check_file(path: &Path, collector: Option<&Config>) -> Result<Report, CheckError> {
    let file = path.display().to_string();
    let src = std::fs::read_to_string(path).map_err(|source| CheckError::Read { file: file.clone(), source })?;
    check_text(&file, &src, collector)
}

/// Checks every Faultline plugin configuration of `src` (read from `file`): the filter's validation, Envoy's
/// `collector.upstream` against the file's clusters, and, with `collector`, tokens, proxy ids and services.
pub fn check_text(file: &str, src: &str, collector: Option<&Config>) -> Result<Report, CheckError> {
    let (kind, reason) = detect(file, src);
    let scanned: Result<Scan, SyntaxError> = match kind {
        Kind::Nginx => nginx::parse(src).map(|tree| nginx::scan(&tree)),
        Kind::Envoy => envoy::scan(src),
    };
    let scan = scanned.map_err(|error| CheckError::Syntax { file: file.to_string(), kind, error })?;
    if scan.found.is_empty() {
        let skipped = scan.skipped.iter().map(|s| format!("; line {}: {} is not Faultline's", s.line, s.place));
        let skipped = skipped.collect::<String>();
        return Err(CheckError::NothingFound { file: file.to_string(), kind, reason, skipped });
    }
    let lines: Vec<&str> = src.lines().collect();
    let mut report = Report {
        file: file.to_string(),
        kind,
        reason,
        against: collector.map(|c| c.file.display().to_string()),
        checked: Vec::new(),
        skipped: scan.skipped,
        notes: scan.notes,
        total: scan.found.len(),
        problems: Vec::new(),
    };
    for found in &scan.found {
        match judge(&Judge { file, lines: &lines, found, collector }) {
            Ok(c) => report.checked.push(c),
            Err(p) => report.problems.extend(p),
        }
    }
    Ok(report)
}

/// One configuration being judged, with what its messages need.
struct Judge<'a> {
    file: &'a str,
    lines: &'a [&'a str],
    found: &'a Found,
    collector: Option<&'a Config>,
}

impl Judge<'_> {
    fn text(&self) -> &str {
        self.found.text.as_deref().unwrap_or("")
    }

    fn problem(&self, line: usize, key: &str, message: impl Into<String>) -> Problem {
        Problem {
            file: self.file.to_string(),
            line,
            place: self.found.place.clone(),
            key: (!key.is_empty()).then(|| key.to_string()),
            message: message.into(),
        }
    }

    /// The line of JSON key `key` (dotted) of the configuration.
    fn line_of(&self, key: &str) -> usize {
        locate(self.lines, self.found.line, self.text(), key_offset(self.text(), key))
    }
}

fn judge(j: &Judge<'_>) -> Result<Checked, Vec<Problem>> {
    let f = j.found;
    if let Some((key, why)) = &f.problem {
        return Err(vec![j.problem(f.line, key, why.clone())]);
    }
    let text = j.text();
    let cfg = filter::parse(text.as_bytes()).map_err(|e| {
        let offset = match e.key() {
            Some(k) => key_offset(text, k),
            None => syntax_offset(&e),
        };
        vec![j.problem(locate(j.lines, f.line, text, offset), e.key().unwrap_or(""), e.to_string())]
    })?;

    // The services the filter will count under, each with the line and key a message would point at.
    let (services, source, more_clusters): (Vec<(String, usize, &str)>, ServiceSource, bool) =
        match (&cfg.service, &f.host_services) {
            (Some(s), _) => (vec![(s.clone(), j.line_of("service"), "service")], ServiceSource::Service, false),
            (None, HostServices::Clusters { clusters, dynamic, .. }) if !clusters.is_empty() => {
                let list = clusters.iter().map(|(c, l)| (c.clone(), *l, "cluster")).collect();
                (list, ServiceSource::Clusters, *dynamic)
            }
            (None, host) => {
                let more = matches!(host, HostServices::Clusters { dynamic: true, .. });
                let default = (cfg.default_service.clone(), j.line_of("default_service"), "default_service");
                (vec![default], ServiceSource::Default, more)
            }
        };

    let mut problems = Vec::new();
    if let (Some(c), HostServices::Clusters { defined: Some(defined), .. }) = (&cfg.collector, &f.host_services)
        && !defined.contains(&c.upstream)
    {
        problems.push(j.problem(
            j.line_of("collector.upstream"),
            "collector.upstream",
            format!(
                "`collector.upstream` {:?} is not a cluster of this file (clusters: {}): Envoy refuses every flush \
                 (BadArgument) and nothing reaches the collector",
                c.upstream,
                quoted(defined)
            ),
        ));
    }
    if let Some(col) = j.collector {
        problems.extend(against_collector(j, &cfg, col, &services));
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Checked {
        line: f.line,
        place: f.place.clone(),
        services: services.into_iter().map(|(s, _, _)| s).collect(),
        source,
        more_clusters,
        proxy_id: cfg.proxy_id.clone(),
        flushes: cfg.collector.is_some(),
    })
}

/// What the collector configured in `col` would refuse from this configuration.
fn against_collector(
    j: &Judge<'_>,
    cfg: &filter::Config,
    col: &Config,
    services: &[(String, usize, &str)],
) -> Vec<Problem> {
    let mut out = Vec::new();
    let toml = col.file.display().to_string();
    if let Some(c) = &cfg.collector {
        // Every entry compared, as ingest does; the token itself is never shown.
        let matched = col.tokens.iter().enumerate().fold(None, |hit, (i, t)| {
            if ct_eq(t.token.as_bytes(), c.token.as_bytes()) && hit.is_none() { Some((i, t)) } else { hit }
        });
        match matched {
            None => out.push(j.problem(
                j.line_of("collector.token"),
                "collector.token",
                format!(
                    "`collector.token` (****) is not one of the [[tokens]] of {toml}: the collector answers every \
                     flush 401"
                ),
            )),
            Some((i, t)) => {
                let proxy = cfg.proxy_id.as_deref().unwrap_or("");
                if let Some(allowed) = &t.proxies
                    && !allowed.iter().any(|p| p == proxy)
                {
                    out.push(j.problem(
                        j.line_of("proxy_id"),
                        "proxy_id",
                        format!(
                            "`proxy_id` {proxy:?} is not in `proxies` of the [[tokens]] entry its token matches \
                             (tokens[{i}] of {toml}, proxies: {}): the collector answers every flush 403",
                            quoted(allowed)
                        ),
                    ));
                }
            }
        }
    }
    let known: Vec<String> = col.services.iter().map(|s| s.name.clone()).collect();
    for (name, line, key) in services {
        if col.service(name).is_some() {
            continue;
        }
        let what = match *key {
            "cluster" => format!(
                "cluster `{name}` (a route sends there; the filter counts it as service {name:?}, Envoy's \
                 xds.cluster_name)"
            ),
            k => format!("`{k}` {name:?}"),
        };
        out.push(j.problem(
            *line,
            key,
            format!("{what} is not a [[services]] name of {toml} (known: {})", quoted(&known)),
        ));
    }
    out
}

/// Byte offset of the JSON key `dotted` (`collector.token`) in `text`: each segment as `"seg"` followed by `:`,
/// searched after the previous one; the deepest segment found (the parent, for a missing nested key).
fn key_offset(text: &str, dotted: &str) -> Option<usize> {
    let (mut from, mut found) = (0, None);
    for seg in dotted.split('.') {
        let pat = format!("\"{seg}\"");
        let mut i = from;
        let mut hit = None;
        while let Some(p) = text.get(i..).and_then(|t| t.find(&pat)) {
            let after = i + p + pat.len();
            if text.get(after..).is_some_and(|t| t.trim_start().starts_with(':')) {
                hit = Some(i + p);
                break;
            }
            i = after;
        }
        let Some(at) = hit else { break };
        found = Some(at);
        from = at + pat.len();
    }
    found
}

/// The byte a JSON syntax error points at: the filter's parser ends its message with "at byte N" (or "before
/// byte N"); its `ConfigError::Syntax` carries only that text.
fn syntax_offset(e: &FilterError) -> Option<usize> {
    let FilterError::Syntax(m) = e else { return None };
    let (_, tail) = m.rsplit_once("byte ")?;
    tail.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
}

/// The file line of byte `offset` of a configuration `text` that starts on line `start`: `start` plus the
/// newlines before `offset`, when that file line holds the text's line (the text maps line for line onto the
/// file: an nginx quoted string, a YAML `|` block); else (folded, escaped) `start`.
fn locate(lines: &[&str], start: usize, text: &str, offset: Option<usize>) -> usize {
    let Some(before) = offset.and_then(|o| text.as_bytes().get(..o)) else { return start };
    let n = before.iter().filter(|&&b| b == b'\n').count();
    if n == 0 {
        return start;
    }
    let wanted = text.split('\n').nth(n).unwrap_or("").trim();
    match lines.get(start + n - 1) {
        Some(l) if l.contains(wanted) => start + n,
        _ => start,
    }
}

#[cfg(test)]
mod tests;
