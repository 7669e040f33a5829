//! The collector's configuration: one TOML file, validated as a whole. Every rejected
//! value is reported as `file:line: key: why`, and defaults are those of issue 3.

mod act;
mod fast;
mod history;
mod locate;
mod raw;
mod values;

pub use act::{
    DEFAULT_GROUP_WAIT, LocalTime, Maintenance, MaintenanceWhen, NotifyConfig, OperatorToken, QuietHours, Zone,
    parse_instant, parse_local_time, parse_zone, weekday_names,
};
pub use fast::{FastBurn, PassiveDown};
pub use history::{DEFAULT_MAX_ROWS, DEFAULT_RETENTION, HistoryConfig, StatusToken};
pub use values::normalize_webhook;
use values::{check_link, parse_expect};

use raw::{RawConfig, RawService};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::Spanned;

/// Thresholds in basis points (1/100 of a percent) so that comparisons at 5.00% are exact. What the
/// rate is judged against (the judging is in `decide::alert`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Thresholds {
    pub warning_bp: u64,
    pub critical_bp: u64,
    pub min_requests: u64,
    /// A level clears below this percentage of its threshold.
    pub clear_pct: u64,
}

/// A configuration the collector cannot run with, located in its file.
#[derive(Debug, thiserror::Error)]
#[error("{file}:{line}: {key}: {message}")]
pub struct ConfigError {
    pub file: String,
    pub line: usize,
    pub key: String,
    pub message: String,
}

/// An ingest token; `proxies` limits which `proxy_id`s it may flush for.
#[derive(Clone)]
pub struct IngestToken {
    pub token: String,
    pub proxies: Option<Vec<String>>,
}

/// A Discord webhook: the URL to POST (`/api/v10/...?wait=true`, secret) and a masked form to show.
#[derive(Clone)]
pub struct Webhook {
    pub url: String,
    pub masked: String,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.masked)
    }
}

/// Which health-check statuses count as success.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectStatus(pub Vec<(u16, u16)>);

impl ExpectStatus {
    /// Whether `status` is an expected answer.
    pub fn accepts(&self, status: u16) -> bool {
        self.0.iter().any(|(lo, hi)| (*lo..=*hi).contains(&status))
    }
}

/// One service's health check.
#[derive(Debug, Clone)]
pub struct HealthConfig {
    pub url: String,
    pub interval: Duration,
    pub timeout: Duration,
    pub expect: ExpectStatus,
    pub failures_before_down: u32,
    pub successes_before_up: u32,
}

/// One configured service.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    pub name: String,
    pub health: Option<HealthConfig>,
    pub webhook: String,
    pub mention_roles: Vec<String>,
    pub mention_users: Vec<String>,
    pub link: Option<String>,
    pub thresholds: Thresholds,
    /// Its own `down_unreachable` (basis points; 0 off), else the global one.
    pub down_unreachable_bp: Option<u64>,
}

/// Caps that bound the collector's memory whatever proxies send.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_proxies: usize,
    pub max_boots_per_proxy: usize,
    pub max_services: usize,
    pub max_routes: usize,
}

/// How Discord deliveries are retried.
#[derive(Debug, Clone, Copy)]
pub struct DeliveryConfig {
    pub timeout: Duration,
    pub max_backoff: Duration,
    pub broken_retry: Duration,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub file: PathBuf,
    pub listen: SocketAddr,
    pub state_dir: PathBuf,
    pub window: Duration,
    pub bucket: Duration,
    pub defaults: Thresholds,
    pub reminder: Duration,
    /// A proxy silent for longer is said to have stopped reporting, and the services it serves are
    /// held (not judged downward) until reports cover their window again.
    pub stale_after: Duration,
    /// The short window that pages CRITICAL at once when nearly everything fails.
    pub fast: FastBurn,
    /// DOWN from the proxy's own view, for services without their own setting.
    pub passive_down: PassiveDown,
    pub top_routes: usize,
    pub tokens: Vec<IngestToken>,
    pub webhooks: BTreeMap<String, Webhook>,
    pub limits: Limits,
    pub delivery: DeliveryConfig,
    pub services: Vec<ServiceConfig>,
    /// Required to read the status page and its JSON when set (see `Config::status_open`).
    pub status_token: Option<StatusToken>,
    pub history: HistoryConfig,
    /// Required by the operator API (silences, acknowledgements); without it that API is off.
    pub operator_token: Option<OperatorToken>,
    /// Per webhook: group wait and quiet hours (webhooks not listed get the defaults).
    pub notify: BTreeMap<String, NotifyConfig>,
    /// Maintenance windows: incidents tracked, nobody notified.
    pub maintenance: Vec<Maintenance>,
}

impl std::fmt::Debug for IngestToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IngestToken(****, proxies: {:?})", self.proxies)
    }
}

/// The webhook name services use when they name none.
pub const DEFAULT_WEBHOOK: &str = "default";
/// Placeholders a `link` template may use.
pub const LINK_PLACEHOLDERS: [&str; 8] =
    ["{service}", "{from_ms}", "{to_ms}", "{from_s}", "{to_s}", "{request_id}", "{route}", "{path}"];

impl Config {
    /// Reads and validates the file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let src = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.display().to_string(),
            line: 0,
            key: "-".into(),
            message: format!("cannot read: {e}"),
        })?;
        Config::parse(path, &src)
    }

    /// Validates `src` as if read from `path`.
    pub fn parse(path: &Path, src: &str) -> Result<Config, ConfigError> {
        let ctx = Ctx { file: path.display().to_string(), src };
        let raw: RawConfig = toml::from_str(src).map_err(|e| {
            let off = e.span().map(|s| s.start).unwrap_or(0);
            ctx.err_at(off, &locate::key_at(src, off), e.message().trim())
        })?;
        ctx.build(path, raw)
    }

    /// The passive DOWN in force for `name` (its own share, the global minimum and span).
    pub fn passive_down(&self, name: &str) -> PassiveDown {
        let own = self.service(name).and_then(|s| s.down_unreachable_bp);
        PassiveDown { share_bp: own.unwrap_or(self.passive_down.share_bp), ..self.passive_down }
    }

    /// The configuration of service `name`, if configured.
    pub fn service(&self, name: &str) -> Option<&ServiceConfig> {
        self.services.iter().find(|s| s.name == name)
    }

    /// Thresholds for `name` (its own, or the global defaults for an unconfigured service).
    pub fn thresholds(&self, name: &str) -> Thresholds {
        self.service(name).map(|s| s.thresholds).unwrap_or(self.defaults)
    }

    /// Name of the webhook alerts for `service` go to.
    pub fn webhook_for(&self, service: &str) -> &str {
        self.service(service).map(|s| s.webhook.as_str()).unwrap_or(DEFAULT_WEBHOOK)
    }

    /// Whether the status page, its JSON and `/metrics` are readable without a token: only on
    /// a loopback listener with no `status_token` configured.
    pub fn status_open(&self) -> bool {
        self.status_token.is_none() && self.listen.ip().is_loopback()
    }

    /// Whether `given` opens the status page: the `status_token` if one is set, else (beyond
    /// loopback) any ingest token. Every candidate is compared in constant time.
    pub fn status_token_matches(&self, given: &str) -> bool {
        let eq = |t: &str| crate::secret::ct_eq(t.as_bytes(), given.as_bytes());
        match &self.status_token {
            Some(t) => eq(&t.0),
            None => self.tokens.iter().fold(false, |hit, t| eq(&t.token) | hit),
        }
    }

    /// How webhook `name` is notified (its `[notify.NAME]`, else the defaults).
    pub fn notify_for(&self, name: &str) -> NotifyConfig {
        self.notify.get(name).cloned().unwrap_or_default()
    }

    /// Whether `given` is the operator token (constant time; never without one configured).
    pub fn operator_token_matches(&self, given: &str) -> bool {
        self.operator_token.as_ref().is_some_and(|t| crate::secret::ct_eq(t.0.as_bytes(), given.as_bytes()))
    }

    /// The effective configuration as TOML, with every secret masked.
    pub fn masked_toml(&self) -> String {
        masked::render(self)
    }
}

struct Ctx<'a> {
    file: String,
    src: &'a str,
}

impl Ctx<'_> {
    fn err_at(&self, offset: usize, key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError {
            file: self.file.clone(),
            line: locate::line_of(self.src, offset),
            key: key.to_string(),
            message: message.into(),
        }
    }

    fn err<T>(&self, v: &Spanned<T>, key: &str, message: impl Into<String>) -> ConfigError {
        self.err_at(v.span().start, key, message)
    }

    fn duration(&self, v: &Option<Spanned<String>>, key: &str, default: Duration) -> Result<Duration, ConfigError> {
        let Some(v) = v else { return Ok(default) };
        let d = humantime::parse_duration(v.get_ref().trim()).map_err(|e| {
            self.err(v, key, format!("{:?} is not a duration like \"60s\" or \"5m\": {e}", v.get_ref()))
        })?;
        if d.is_zero() && key != "reminder" {
            return Err(self.err(v, key, "must be above zero"));
        }
        if d > Duration::from_secs(366 * 24 * 3600) {
            return Err(self.err(v, key, format!("{:?} is longer than a year", v.get_ref())));
        }
        Ok(d)
    }

    fn percent(&self, v: &Option<Spanned<f64>>, key: &str, default_bp: u64) -> Result<u64, ConfigError> {
        let Some(v) = v else { return Ok(default_bp) };
        let p = *v.get_ref();
        if !(p > 0.0 && p <= 100.0) {
            return Err(self.err(v, key, format!("{p} must be a percentage above 0 and at most 100")));
        }
        // Basis points (hundredths of a percent): integer comparisons are exact at the edges.
        let bp = (p * 100.0).round() as u64;
        if bp == 0 {
            return Err(self.err(v, key, format!("{p} is below the smallest threshold, 0.01")));
        }
        Ok(bp)
    }

    fn positive<T: Copy + Into<u64>>(&self, v: &Option<Spanned<T>>, key: &str, default: T) -> Result<T, ConfigError> {
        match v {
            Some(s) if (*s.get_ref()).into() == 0 => Err(self.err(s, key, "must be at least 1")),
            Some(s) => Ok(*s.get_ref()),
            None => Ok(default),
        }
    }

    fn build(&self, path: &Path, raw: RawConfig) -> Result<Config, ConfigError> {
        let listen = match &raw.listen {
            Some(v) => v.get_ref().parse().map_err(|_| {
                self.err(v, "listen", format!("{:?} is not an address like \"127.0.0.1:7070\"", v.get_ref()))
            })?,
            None => SocketAddr::from(([127, 0, 0, 1], 7070)),
        };
        let state_dir = match &raw.state_dir {
            Some(v) if v.get_ref().is_empty() => return Err(self.err(v, "state_dir", "must not be empty")),
            Some(v) => {
                let p = PathBuf::from(v.get_ref());
                if p.is_relative() { path.parent().unwrap_or(Path::new(".")).join(p) } else { p }
            }
            None => PathBuf::from("/var/lib/faultline-collector"),
        };
        let window = self.duration(&raw.window, "window", Duration::from_secs(300))?;
        let bucket = self.duration(&raw.bucket, "bucket", Duration::from_secs(5))?;
        if bucket > window || window.as_millis() % bucket.as_millis().max(1) != 0 {
            let (at, key) = match (&raw.bucket, &raw.window) {
                (Some(b), _) => (b.span().start, "bucket"),
                (None, Some(w)) => (w.span().start, "window"),
                (None, None) => (0, "bucket"),
            };
            return Err(self.err_at(
                at,
                key,
                format!("the bucket ({}) must divide the window ({})", fmt_d(bucket), fmt_d(window)),
            ));
        }
        if window.as_millis() / bucket.as_millis().max(1) > 10_000 {
            return Err(self.err_at(0, "bucket", "more than 10000 buckets per window"));
        }
        let clear_pct = match &raw.clear_below {
            Some(v) if !(*v.get_ref() >= 1.0 && *v.get_ref() <= 100.0) => {
                return Err(self.err(v, "clear_below", "must be a percentage from 1 to 100"));
            }
            Some(v) => v.get_ref().round() as u64,
            None => 80,
        };
        let defaults = Thresholds {
            warning_bp: self.percent(&raw.warning, "warning", 500)?,
            critical_bp: self.percent(&raw.critical, "critical", 1000)?,
            min_requests: raw.min_requests.as_ref().map(|v| *v.get_ref()).unwrap_or(100),
            clear_pct,
        };
        if defaults.warning_bp >= defaults.critical_bp {
            let at = raw.warning.as_ref().map(|v| v.span().start).unwrap_or(0);
            return Err(self.err_at(at, "warning", "must be below critical"));
        }
        let reminder = self.duration(&raw.reminder, "reminder", Duration::from_secs(1800))?;
        let stale_after = self.duration(&raw.stale_after, "stale_after", Duration::from_secs(60))?;
        let fast = self.fast_burn(&raw, window, bucket, defaults.critical_bp)?;
        let passive_down = self.passive_down(&raw, window, bucket)?;
        let top_routes = self.positive(
            &raw.top_routes.as_ref().map(|v| Spanned::new(v.span(), *v.get_ref() as u64)),
            "top_routes",
            5,
        )? as usize;

        if raw.tokens.is_empty() {
            return Err(self.err_at(
                0,
                "tokens",
                "at least one [[tokens]] entry is required (flushes are authenticated)",
            ));
        }
        let mut tokens = Vec::new();
        for (i, t) in raw.tokens.iter().enumerate() {
            if t.token.get_ref().len() < 8 {
                return Err(self.err(&t.token, &format!("tokens[{i}].token"), "must be at least 8 characters"));
            }
            tokens.push(IngestToken { token: t.token.get_ref().clone(), proxies: t.proxies.clone() });
        }

        let mut webhooks = BTreeMap::new();
        for (name, v) in &raw.webhooks {
            let hook = normalize_webhook(v.get_ref()).map_err(|m| self.err(v, &format!("webhooks.{name}"), m))?;
            webhooks.insert(name.clone(), hook);
        }

        let limits = Limits {
            max_proxies: self.positive(
                &raw.limits.max_proxies.as_ref().map(|v| Spanned::new(v.span(), *v.get_ref() as u64)),
                "limits.max_proxies",
                64,
            )? as usize,
            max_boots_per_proxy: self.positive(
                &raw.limits.max_boots_per_proxy.as_ref().map(|v| Spanned::new(v.span(), *v.get_ref() as u64)),
                "limits.max_boots_per_proxy",
                4,
            )? as usize,
            max_services: self.positive(
                &raw.limits.max_services.as_ref().map(|v| Spanned::new(v.span(), *v.get_ref() as u64)),
                "limits.max_services",
                128,
            )? as usize,
            max_routes: self.positive(
                &raw.limits.max_routes.as_ref().map(|v| Spanned::new(v.span(), *v.get_ref() as u64)),
                "limits.max_routes",
                200,
            )? as usize,
        };
        let delivery = DeliveryConfig {
            timeout: self.duration(&raw.delivery.timeout, "delivery.timeout", Duration::from_secs(10))?,
            max_backoff: self.duration(&raw.delivery.max_backoff, "delivery.max_backoff", Duration::from_secs(60))?,
            broken_retry: self.duration(
                &raw.delivery.broken_retry,
                "delivery.broken_retry",
                Duration::from_secs(600),
            )?,
        };

        let mut services: Vec<ServiceConfig> = Vec::new();
        for (i, s) in raw.services.iter().enumerate() {
            let svc = self.service(i, s, defaults, &webhooks)?;
            if services.iter().any(|o| o.name == svc.name) {
                return Err(self.err(
                    &s.name,
                    &format!("services[{i}].name"),
                    format!("duplicate service {:?}", svc.name),
                ));
            }
            services.push(svc);
        }
        if !webhooks.contains_key(DEFAULT_WEBHOOK) {
            // Unconfigured services (and the test alert) fall back to the default webhook.
            return Err(self.err_at(0, "webhooks.default", "required: alerts for services not listed here go to it"));
        }
        let status_token = self.status_token(&raw)?;
        let history = self.history(&raw)?;
        let mut secrets: Vec<&str> = tokens.iter().map(|t| t.token.as_str()).collect();
        secrets.extend(status_token.as_ref().map(|t| t.0.as_str()));
        let operator_token = self.operator_token(&raw, &secrets)?;
        let notify = self.notify(&raw, &webhooks)?;
        let names: Vec<String> = services.iter().map(|s| s.name.clone()).collect();
        let maintenance = self.maintenance(&raw, &names)?;
        Ok(Config {
            file: path.to_path_buf(),
            listen,
            state_dir,
            window,
            bucket,
            defaults,
            reminder,
            stale_after,
            fast,
            passive_down,
            top_routes,
            tokens,
            webhooks,
            limits,
            delivery,
            services,
            status_token,
            history,
            operator_token,
            notify,
            maintenance,
        })
    }

    fn service(
        &self,
        i: usize,
        s: &RawService,
        defaults: Thresholds,
        webhooks: &BTreeMap<String, Webhook>,
    ) -> Result<ServiceConfig, ConfigError> {
        let at = format!("services[{i}]");
        let name = s.name.get_ref().clone();
        if name.is_empty() || name.len() > faultline_flush::limits::MAX_NAME_LEN || name.chars().any(char::is_control) {
            return Err(self.err(&s.name, &format!("{at}.name"), "must be 1 to 128 bytes without control characters"));
        }
        let health = match &s.health_url {
            None => None,
            Some(u) => {
                let url = reqwest::Url::parse(u.get_ref()).map_err(|e| {
                    self.err(u, &format!("{at}.health_url"), format!("{:?} is not a URL: {e}", u.get_ref()))
                })?;
                if !matches!(url.scheme(), "http" | "https") {
                    return Err(self.err(u, &format!("{at}.health_url"), "must be an http:// or https:// URL"));
                }
                let interval = self.duration(&s.interval, &format!("{at}.interval"), Duration::from_secs(60))?;
                let timeout = self.duration(&s.timeout, &format!("{at}.timeout"), Duration::from_secs(5))?;
                if timeout >= interval {
                    let span = s
                        .timeout
                        .as_ref()
                        .map(|t| t.span().start)
                        .or(s.interval.as_ref().map(|t| t.span().start))
                        .unwrap_or(s.name.span().start);
                    return Err(self.err_at(
                        span,
                        &format!("{at}.timeout"),
                        format!("{} must be below the interval ({})", fmt_d(timeout), fmt_d(interval)),
                    ));
                }
                let expect = match &s.expect_status {
                    None => ExpectStatus(vec![(200, 299)]),
                    Some(e) => parse_expect(e.get_ref()).map_err(|m| self.err(e, &format!("{at}.expect_status"), m))?,
                };
                Some(HealthConfig {
                    url: url.to_string(),
                    interval,
                    timeout,
                    expect,
                    failures_before_down: self.positive(
                        &s.failures_before_down,
                        &format!("{at}.failures_before_down"),
                        1,
                    )?,
                    successes_before_up: self.positive(
                        &s.successes_before_up,
                        &format!("{at}.successes_before_up"),
                        1,
                    )?,
                })
            }
        };
        if health.is_none() {
            for (v, k) in [(&s.interval, "interval"), (&s.timeout, "timeout")] {
                if let Some(v) = v {
                    return Err(self.err(v, &format!("{at}.{k}"), "needs health_url"));
                }
            }
        }
        let webhook = match &s.webhook {
            Some(w) if !webhooks.contains_key(w.get_ref()) => {
                return Err(self.err(
                    w,
                    &format!("{at}.webhook"),
                    format!("no webhook {:?} in [webhooks]", w.get_ref()),
                ));
            }
            Some(w) => w.get_ref().clone(),
            None => DEFAULT_WEBHOOK.to_string(),
        };
        for (list, k) in [(&s.mention_roles, "mention_roles"), (&s.mention_users, "mention_users")] {
            if let Some(bad) =
                list.iter().find(|id| id.is_empty() || id.len() > 20 || !id.bytes().all(|b| b.is_ascii_digit()))
            {
                return Err(self.err(
                    &s.name,
                    &format!("{at}.{k}"),
                    format!("{bad:?} is not a Discord id (digits only)"),
                ));
            }
        }
        if let Some(l) = &s.link {
            check_link(l.get_ref()).map_err(|m| self.err(l, &format!("{at}.link"), m))?;
        }
        let thresholds = Thresholds {
            warning_bp: self.percent(&s.warning, &format!("{at}.warning"), defaults.warning_bp)?,
            critical_bp: self.percent(&s.critical, &format!("{at}.critical"), defaults.critical_bp)?,
            min_requests: s.min_requests.as_ref().map(|v| *v.get_ref()).unwrap_or(defaults.min_requests),
            clear_pct: defaults.clear_pct,
        };
        if thresholds.warning_bp >= thresholds.critical_bp {
            let span =
                s.warning.as_ref().or(s.critical.as_ref()).map(|v| v.span().start).unwrap_or(s.name.span().start);
            return Err(self.err_at(span, &format!("{at}.warning"), "must be below critical"));
        }
        Ok(ServiceConfig {
            name,
            health,
            webhook,
            mention_roles: s.mention_roles.clone(),
            mention_users: s.mention_users.clone(),
            link: s.link.as_ref().map(|l| l.get_ref().clone()),
            thresholds,
            down_unreachable_bp: s
                .down_unreachable
                .as_ref()
                .map(|_| self.share(&s.down_unreachable, &format!("{at}.down_unreachable"), 0))
                .transpose()?,
        })
    }
}

fn fmt_d(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

mod masked;

#[cfg(test)]
mod tests;
