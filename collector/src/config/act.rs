//! What the collector does about an incident beyond judging it: `operator_token` (the silences and
//! acknowledgement API), `[notify.WEBHOOK]` (group wait, quiet hours) and `[[maintenance]]` windows.
//! Data and validation only; evaluating a window or quiet hours at an instant is `decide::schedule`.

use super::raw::{RawConfig, RawMaintenance, RawQuiet};
use super::{ConfigError, Ctx, Webhook};
use std::collections::BTreeMap;
use std::time::Duration;
use toml::Spanned;

/// The group wait of a webhook that sets none.
pub const DEFAULT_GROUP_WAIT: Duration = Duration::from_secs(10);
/// How long a group holding a change to CRITICAL or DOWN waits at most after that change: services that a
/// shared dependency breaks reach the collector in the same flush (and go out together); a total outage is on
/// Discord within 10 s on the defaults (with 3 s it took up to 10.7 s: BENCHMARKS.md, time to page).
pub const DEFAULT_URGENT_WAIT: Duration = Duration::from_secs(1);

/// A time of day on a local clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalTime {
    pub hour: i8,
    pub minute: i8,
}

impl std::fmt::Display for LocalTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:02}:{:02}", self.hour, self.minute)
    }
}

/// A named IANA time zone, resolved.
#[derive(Debug, Clone)]
pub struct Zone {
    pub name: String,
    pub tz: jiff::tz::TimeZone,
}

/// Quiet hours of a webhook: from `start` to `end` local time (over midnight when `end` is earlier).
#[derive(Debug, Clone)]
pub struct QuietHours {
    pub start: LocalTime,
    pub end: LocalTime,
    pub zone: Zone,
}

/// How a webhook's channel is told: how long changes wait to be grouped, and its quiet hours.
#[derive(Debug, Clone)]
pub struct NotifyConfig {
    /// Changes within this time of a group's first go out as one message; zero sends each at once.
    pub group_wait: Duration,
    /// The group wait of a group holding a change to CRITICAL or DOWN (never above `group_wait`).
    pub urgent_wait: Duration,
    pub quiet_hours: Option<QuietHours>,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig { group_wait: DEFAULT_GROUP_WAIT, urgent_wait: DEFAULT_URGENT_WAIT, quiet_hours: None }
    }
}

/// When a maintenance window is open.
#[derive(Debug, Clone)]
pub enum MaintenanceWhen {
    /// Every listed weekday (`days[0]` Monday … `days[6]` Sunday) from `start` local time, for `duration`.
    Weekly { days: [bool; 7], start: LocalTime, duration: Duration, zone: Zone },
    /// Once, from `from_ms` to `until_ms` (unix ms).
    Once { from_ms: u64, until_ms: u64 },
}

/// One `[[maintenance]]` entry: during it the services' incidents are tracked but notify nobody.
#[derive(Debug, Clone)]
pub struct Maintenance {
    pub name: String,
    /// The services it covers; empty: every service.
    pub services: Vec<String>,
    pub when: MaintenanceWhen,
}

impl Maintenance {
    /// Whether it covers `service`.
    pub fn covers(&self, service: &str) -> bool {
        self.services.is_empty() || self.services.iter().any(|s| s == service)
    }
}

/// The token of the operator API (silences, acknowledgements); never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct OperatorToken(pub String);

impl std::fmt::Debug for OperatorToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OperatorToken(****)")
    }
}

/// `HH:MM` (24 h).
pub fn parse_local_time(s: &str) -> Result<LocalTime, String> {
    let bad = || format!("{s:?} is not a time of day like \"22:00\" (24 h, HH:MM)");
    let (h, m) = s.trim().split_once(':').ok_or_else(bad)?;
    let (hour, minute) = (h.parse::<i8>().map_err(|_| bad())?, m.parse::<i8>().map_err(|_| bad())?);
    if h.len() != 2 || m.len() != 2 || !(0..24).contains(&hour) || !(0..60).contains(&minute) {
        return Err(bad());
    }
    Ok(LocalTime { hour, minute })
}

/// A named IANA time zone (`Europe/Berlin`, `UTC`).
pub fn parse_zone(s: &str) -> Result<Zone, String> {
    let name = s.trim();
    if name.is_empty() {
        return Err("must name an IANA time zone like \"Europe/Berlin\" or \"UTC\"".into());
    }
    jiff::tz::TimeZone::get(name)
        .map(|tz| Zone { name: name.to_string(), tz })
        .map_err(|_| format!("{name:?} is not an IANA time zone name (like \"Europe/Berlin\", \"UTC\")"))
}

/// An RFC 3339 instant with its offset (`2025-12-01T22:00:00Z`, `…+01:00`), as unix ms.
pub fn parse_instant(s: &str) -> Result<u64, String> {
    let t: jiff::Timestamp = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not an RFC 3339 time with an offset, like \"2025-12-01T22:00:00Z\""))?;
    u64::try_from(t.as_millisecond()).map_err(|_| format!("{s:?} is before 1970"))
}

const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn weekday(s: &str) -> Option<usize> {
    let l = s.trim().to_ascii_lowercase();
    let full = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];
    WEEKDAYS.iter().position(|d| *d == l).or_else(|| full.iter().position(|d| *d == l))
}

/// Weekday names of a weekly window, for printing.
pub fn weekday_names(days: &[bool; 7]) -> Vec<&'static str> {
    WEEKDAYS.iter().zip(days).filter(|(_, on)| **on).map(|(d, _)| *d).collect()
}

impl Ctx<'_> {
    fn text<'v>(&self, v: &'v Option<Spanned<String>>) -> Option<(&'v Spanned<String>, &'v str)> {
        v.as_ref().map(|s| (s, s.get_ref().as_str()))
    }

    pub(super) fn operator_token(
        &self,
        raw: &RawConfig,
        others: &[&str],
    ) -> Result<Option<OperatorToken>, ConfigError> {
        let Some(t) = &raw.operator_token else { return Ok(None) };
        let v = t.get_ref();
        if v.len() < 16 || v.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(self.err(
                t,
                "operator_token",
                "must be at least 16 characters, without spaces or control characters",
            ));
        }
        if others.iter().any(|o| crate::secret::ct_eq(o.as_bytes(), v.as_bytes())) {
            return Err(self.err(t, "operator_token", "must differ from the status token and every ingest token"));
        }
        Ok(Some(OperatorToken(v.clone())))
    }

    pub(super) fn notify(
        &self,
        raw: &RawConfig,
        webhooks: &BTreeMap<String, Webhook>,
    ) -> Result<BTreeMap<String, NotifyConfig>, ConfigError> {
        let mut out = BTreeMap::new();
        for (name, n) in &raw.notify {
            let at = format!("notify.{name}");
            if !webhooks.contains_key(name) {
                let span = n.group_wait.as_ref().map(|g| g.span().start).unwrap_or(0);
                return Err(self.err_at(span, &at, format!("no webhook {name:?} in [webhooks]")));
            }
            let group_wait = match &n.group_wait {
                None => DEFAULT_GROUP_WAIT,
                Some(g) => {
                    let d = humantime::parse_duration(g.get_ref().trim()).map_err(|e| {
                        self.err(
                            g,
                            &format!("{at}.group_wait"),
                            format!("{:?} is not a duration like \"10s\": {e}", g.get_ref()),
                        )
                    })?;
                    if d > Duration::from_secs(600) {
                        return Err(self.err(
                            g,
                            &format!("{at}.group_wait"),
                            "must be at most 10m (\"0s\" turns grouping off)",
                        ));
                    }
                    d
                }
            };
            let quiet_hours =
                n.quiet_hours.as_ref().map(|q| self.quiet(q, &format!("{at}.quiet_hours"))).transpose()?;
            let urgent_wait = match &n.urgent_wait {
                None => DEFAULT_URGENT_WAIT,
                Some(u) => humantime::parse_duration(u.get_ref().trim()).map_err(|e| {
                    self.err(
                        u,
                        &format!("{at}.urgent_wait"),
                        format!("{:?} is not a duration like \"3s\": {e}", u.get_ref()),
                    )
                })?,
            };
            let urgent_wait = urgent_wait.min(group_wait);
            out.insert(name.clone(), NotifyConfig { group_wait, urgent_wait, quiet_hours });
        }
        Ok(out)
    }

    fn quiet(&self, q: &RawQuiet, at: &str) -> Result<QuietHours, ConfigError> {
        let start = parse_local_time(q.start.get_ref()).map_err(|m| self.err(&q.start, &format!("{at}.start"), m))?;
        let end = parse_local_time(q.end.get_ref()).map_err(|m| self.err(&q.end, &format!("{at}.end"), m))?;
        if start == end {
            return Err(self.err(&q.end, &format!("{at}.end"), "must differ from start (the hours would be empty)"));
        }
        let zone =
            parse_zone(q.time_zone.get_ref()).map_err(|m| self.err(&q.time_zone, &format!("{at}.time_zone"), m))?;
        Ok(QuietHours { start, end, zone })
    }

    pub(super) fn maintenance(&self, raw: &RawConfig, services: &[String]) -> Result<Vec<Maintenance>, ConfigError> {
        raw.maintenance.iter().enumerate().map(|(i, m)| self.one_maintenance(i, m, services)).collect()
    }

    fn one_maintenance(
        &self,
        i: usize,
        m: &Spanned<RawMaintenance>,
        known: &[String],
    ) -> Result<Maintenance, ConfigError> {
        let at = format!("maintenance[{i}]");
        let key = |k: &str| format!("{at}.{k}");
        let r = m.get_ref();
        let whole = m.span().start;
        let name = match self.text(&r.name) {
            Some((s, n)) if n.trim().is_empty() || n.chars().count() > 100 => {
                return Err(self.err(s, &key("name"), "must be 1 to 100 characters"));
            }
            Some((_, n)) => n.trim().to_string(),
            None => format!("maintenance #{}", i + 1),
        };
        let mut services = Vec::new();
        if let Some(list) = &r.services {
            for s in list.get_ref() {
                if !known.iter().any(|k| k == s) {
                    return Err(self.err(list, &key("services"), format!("no service {s:?} in [[services]]")));
                }
                services.push(s.clone());
            }
            if services.is_empty() {
                return Err(self.err(list, &key("services"), "must list a service (leave it out for every service)"));
            }
        }
        let weekly = [r.weekdays.is_some(), r.start.is_some(), r.duration.is_some(), r.time_zone.is_some()];
        let once = [r.from.is_some(), r.until.is_some()];
        let when = match (weekly.iter().any(|x| *x), once.iter().any(|x| *x)) {
            (true, true) => {
                return Err(self.err_at(
                    whole,
                    &at,
                    "either a weekly window (weekdays, start, duration, time_zone) or a one-off (from, until), \
                     not both",
                ));
            }
            (false, false) => {
                return Err(self.err_at(
                    whole,
                    &at,
                    "needs weekdays, start, duration and time_zone (weekly), or from and until (one-off)",
                ));
            }
            (false, true) => {
                let (Some(from), Some(until)) = (&r.from, &r.until) else {
                    return Err(self.err_at(whole, &at, "a one-off window needs both from and until"));
                };
                let from_ms = parse_instant(from.get_ref()).map_err(|e| self.err(from, &key("from"), e))?;
                let until_ms = parse_instant(until.get_ref()).map_err(|e| self.err(until, &key("until"), e))?;
                if until_ms <= from_ms {
                    return Err(self.err(until, &key("until"), "must be after from"));
                }
                if until_ms - from_ms > 366 * 24 * 3_600_000 {
                    return Err(self.err(until, &key("until"), "the window is longer than a year"));
                }
                MaintenanceWhen::Once { from_ms, until_ms }
            }
            (true, false) => {
                let (Some(days), Some(start), Some(duration), Some(tz)) =
                    (&r.weekdays, &r.start, &r.duration, &r.time_zone)
                else {
                    return Err(self.err_at(
                        whole,
                        &at,
                        "a weekly window needs weekdays, start, duration and time_zone",
                    ));
                };
                let mut set = [false; 7];
                for d in days.get_ref() {
                    let Some(n) = weekday(d) else {
                        return Err(self.err(days, &key("weekdays"), format!("{d:?} is not a weekday (mon … sun)")));
                    };
                    if let Some(day) = set.get_mut(n) {
                        *day = true;
                    }
                }
                if !set.iter().any(|x| *x) {
                    return Err(self.err(days, &key("weekdays"), "must list at least one weekday"));
                }
                let start_t = parse_local_time(start.get_ref()).map_err(|e| self.err(start, &key("start"), e))?;
                let d = humantime::parse_duration(duration.get_ref().trim()).map_err(|e| {
                    self.err(
                        duration,
                        &key("duration"),
                        format!("{:?} is not a duration like \"2h\": {e}", duration.get_ref()),
                    )
                })?;
                if d.is_zero() || d > Duration::from_secs(7 * 24 * 3600) {
                    return Err(self.err(duration, &key("duration"), "must be above zero and at most 7 days"));
                }
                let zone = parse_zone(tz.get_ref()).map_err(|e| self.err(tz, &key("time_zone"), e))?;
                MaintenanceWhen::Weekly { days: set, start: start_t, duration: d, zone }
            }
        };
        Ok(Maintenance { name, services, when })
    }
}

#[cfg(test)]
mod tests;
