//! Silences: an operator's "don't page about this until then" — a service, a route pattern, or both,
//! for a duration or until an instant. Validated here (an unknown service, a negative duration or an
//! end in the past is refused with a sentence), matched against an incident at an instant. Pure.

use serde::{Deserialize, Serialize};

/// The longest silence: a year.
pub const MAX_SILENCE_MS: u64 = 366 * 24 * 3_600_000;

/// One silence (persisted; `id` is its handle for `silence remove`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Silence {
    pub id: u64,
    /// The service it covers; `None`: every service (then `route` is set).
    pub service: Option<String>,
    /// A route pattern (`*` matches any run of characters): the silence covers a rate incident only while
    /// every failing route it names matches (a DOWN is never about routes).
    pub route: Option<String>,
    pub from_ms: u64,
    pub until_ms: u64,
    pub reason: String,
    pub by: Option<String>,
}

/// A silence as asked for (the API's JSON, the CLI's flags), not yet validated.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSilence {
    pub service: Option<String>,
    pub route: Option<String>,
    /// A duration like "1h" from now.
    #[serde(rename = "for")]
    pub for_: Option<String>,
    /// An RFC 3339 instant.
    pub until: Option<String>,
    #[serde(default)]
    pub reason: String,
    pub by: Option<String>,
}

fn text(what: &str, v: &str, max: usize) -> Result<(), String> {
    if v.chars().count() > max || v.chars().any(char::is_control) {
        return Err(format!("{what}: at most {max} characters, without control characters"));
    }
    Ok(())
}

impl NewSilence {
    /// The silence this asks for at `now_ms`, numbered `id`; `known` says whether a service exists.
    pub fn validate(&self, id: u64, now_ms: u64, known: impl Fn(&str) -> bool) -> Result<Silence, String> {
        let service = self.service.as_deref().map(str::trim).filter(|s| !s.is_empty());
        let route = self.route.as_deref().map(str::trim).filter(|s| !s.is_empty());
        if service.is_none() && route.is_none() {
            return Err("name a service, a route pattern, or both".into());
        }
        if let Some(s) = service
            && !known(s)
        {
            return Err(format!("unknown service {s:?} (not configured and never reported)"));
        }
        if let Some(r) = route {
            text("route", r, 256)?;
        }
        text("reason", &self.reason, 500)?;
        if let Some(b) = &self.by {
            text("by", b, 100)?;
        }
        let until_ms = match (self.for_.as_deref(), self.until.as_deref()) {
            (Some(_), Some(_)) => return Err("give either for (a duration) or until (an instant), not both".into()),
            (None, None) => return Err("give for (a duration like \"1h\") or until (an RFC 3339 instant)".into()),
            (Some(f), None) => {
                let f = f.trim();
                if f.starts_with('-') {
                    return Err(format!("for: {f:?} is negative: a silence lasts a positive duration"));
                }
                let d = humantime::parse_duration(f)
                    .map_err(|e| format!("for: {f:?} is not a duration like \"1h\" or \"30m\": {e}"))?;
                let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
                if ms == 0 {
                    return Err("for: must be above zero".into());
                }
                if ms > MAX_SILENCE_MS {
                    return Err("for: at most a year".into());
                }
                now_ms.saturating_add(ms)
            }
            (None, Some(u)) => {
                let t = crate::config::parse_instant(u).map_err(|e| format!("until: {e}"))?;
                if t <= now_ms {
                    return Err(format!("until: {u:?} is not in the future"));
                }
                if t - now_ms > MAX_SILENCE_MS {
                    return Err("until: at most a year from now".into());
                }
                t
            }
        };
        Ok(Silence {
            id,
            service: service.map(str::to_string),
            route: route.map(str::to_string),
            from_ms: now_ms,
            until_ms,
            reason: self.reason.trim().to_string(),
            by: self.by.as_deref().map(str::trim).filter(|b| !b.is_empty()).map(str::to_string),
        })
    }
}

/// Whether `text` matches `pattern`, where `*` stands for any run of characters (also none).
pub fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let (Some(first), Some(last)) = (parts.first(), parts.last()) else { return false };
    if parts.len() == 1 {
        return pattern == text;
    }
    let Some(mut rest) = text.strip_prefix(first) else { return false };
    let middle = parts.get(1..parts.len() - 1).unwrap_or(&[]);
    for p in middle {
        match rest.find(p) {
            Some(i) => rest = rest.get(i + p.len()..).unwrap_or(""),
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

impl Silence {
    /// Whether it is in force at `now_ms`.
    pub fn active(&self, now_ms: u64) -> bool {
        self.from_ms <= now_ms && now_ms < self.until_ms
    }

    /// Whether it covers an incident of `service` that is `down` or failing on `routes`, at `now_ms`.
    pub fn covers(&self, service: &str, down: bool, routes: &[&str], now_ms: u64) -> bool {
        if !self.active(now_ms) || self.service.as_deref().is_some_and(|s| s != service) {
            return false;
        }
        match &self.route {
            None => true,
            Some(p) => !down && !routes.is_empty() && routes.iter().all(|r| glob(p, r)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(service: Option<&str>, for_: Option<&str>, until: Option<&str>) -> NewSilence {
        NewSilence {
            service: service.map(Into::into),
            for_: for_.map(Into::into),
            until: until.map(Into::into),
            reason: "deploy".into(),
            ..NewSilence::default()
        }
    }

    #[test]
    fn bad_requests_are_refused_with_a_sentence() {
        let known = |s: &str| s == "be";
        let now = 1_764_000_000_000;
        let err = |n: NewSilence| n.validate(1, now, known).unwrap_err();
        assert!(err(new(Some("ghost"), Some("1h"), None)).contains("unknown service \"ghost\""));
        assert!(err(new(Some("be"), Some("-1h"), None)).contains("negative"));
        assert!(err(new(Some("be"), Some("0s"), None)).contains("above zero"));
        assert!(err(new(Some("be"), Some("soon"), None)).contains("not a duration"));
        assert!(err(new(Some("be"), Some("1h"), Some("2030-01-01T00:00:00Z"))).contains("not both"));
        assert!(err(new(Some("be"), None, None)).contains("give for"));
        assert!(err(new(Some("be"), None, Some("2020-01-01T00:00:00Z"))).contains("not in the future"));
        assert!(err(new(Some("be"), None, Some("tomorrow"))).contains("RFC 3339"));
        assert!(err(new(None, Some("1h"), None)).contains("name a service"));
        let s = new(Some("be"), Some("1h"), None).validate(7, now, known).unwrap();
        assert_eq!((s.id, s.from_ms, s.until_ms, s.reason.as_str()), (7, now, now + 3_600_000, "deploy"));
    }

    #[test]
    fn route_patterns_cover_a_rate_incident_only_when_every_failing_route_matches() {
        assert!(glob("GET /server/*", "GET /server/items") && glob("*", "") && glob("a*c*e", "abcde"));
        assert!(!glob("GET /server/*", "POST /server/items") && !glob("a*c", "ab") && glob("x", "x"));
        let s = Silence {
            id: 1,
            service: Some("be".into()),
            route: Some("GET /reports/*".into()),
            from_ms: 0,
            until_ms: 100,
            reason: String::new(),
            by: None,
        };
        assert!(s.covers("be", false, &["GET /reports/a", "GET /reports/b"], 50));
        assert!(!s.covers("be", false, &["GET /reports/a", "GET /items"], 50), "another route fails too");
        assert!(!s.covers("be", true, &["GET /reports/a"], 50), "a DOWN is not about routes");
        assert!(!s.covers("ai", false, &["GET /reports/a"], 50) && !s.covers("be", false, &["GET /reports/a"], 100));
    }
}
