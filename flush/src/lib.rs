//! The flush: the one message the Faultline filter sends to the collector.
//!
//! A flush carries **cumulative** counters since the proxy's boot (`boot_id`), never
//! deltas, so that a lost, repeated or reordered flush can neither lose nor double-count
//! anything: the collector subtracts the last counters it accepted for the same
//! `(proxy_id, boot_id)`, and ignores a flush whose `seq` it has already seen.
//!
//! The format is JSON, versioned by [`VERSION`]; `docs/flush-format.md` is its
//! prose description. Both sides use these types so they cannot drift apart.
#![forbid(unsafe_code)]

use serde::{Deserialize, Serialize};

/// Version of the flush format this crate writes: 2 adds `services[].exemplars`.
pub const VERSION: u32 = 2;

/// The oldest version the collector still accepts (a version 1 flush carries no exemplars).
pub const OLDEST_VERSION: u32 = 1;

/// HTTP path the collector accepts flushes on (versioned with the format).
pub const INGEST_PATH: &str = "/v1/flush";

/// The route name that collects every failing route beyond a service's route bound.
pub const OTHER_ROUTE: &str = "other";

/// Upper bounds a well-formed flush respects; the collector rejects anything larger.
pub mod limits {
    /// Longest proxy id, boot id or service name, in bytes.
    pub const MAX_NAME_LEN: usize = 128;
    /// Longest route key (`"GET /a/:id"`), in bytes.
    pub const MAX_ROUTE_LEN: usize = 256;
    /// Most services in one flush.
    pub const MAX_SERVICES: usize = 256;
    /// Most routes per service in one flush (the filter's bound is configurable below it).
    pub const MAX_ROUTES: usize = 256;
    /// Largest flush body the collector reads, in bytes.
    pub const MAX_BODY_BYTES: usize = 1024 * 1024;
    /// Most refused filter configurations in one flush.
    pub const MAX_REFUSALS: usize = 16;
    /// Longest reason of a refusal, in bytes.
    pub const MAX_REASON_LEN: usize = 300;
    /// Most exemplars (failing requests) per service in one flush.
    pub const MAX_EXEMPLARS_PER_SERVICE: usize = 8;
    /// Most exemplars in one flush, all services together.
    pub const MAX_EXEMPLARS: usize = 128;
    /// Longest method of an exemplar, in bytes.
    pub const MAX_METHOD_LEN: usize = 16;
    /// Longest raw path (no query string), request id, upstream address or code details, in bytes.
    pub const MAX_EXEMPLAR_TEXT: usize = 256;
}

/// One flush from one proxy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Flush {
    /// Format version, always [`VERSION`] for this crate.
    pub version: u32,
    /// Operator-chosen name of the proxy (filter config `proxy_id`).
    pub proxy_id: String,
    /// Random id of this boot of the proxy's shared memory; new after a restart or an nginx reload.
    pub boot_id: String,
    /// When this boot started, unix milliseconds on the proxy's clock.
    pub boot_ms: u64,
    /// Flush sequence number within the boot, strictly increasing.
    pub seq: u64,
    /// When the flush was built, unix milliseconds on the proxy's clock.
    pub sent_ms: u64,
    /// Per-service counters, cumulative since `boot_ms`.
    pub services: Vec<ServiceCounters>,
    /// Filter configurations of this proxy that were refused (since the boot), so that a
    /// typo in one of them is announced instead of leaving its service silently uncounted.
    /// Absent when empty: a flush without refusals is exactly what it was before the field.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refusals: Vec<Refusal>,
}

/// A filter configuration the proxy refused (its traffic passes uncounted).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Refusal {
    /// The refused configuration's `service`, if it could be read from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// Why it was refused, as the filter logged it (e.g. "unknown key `colour`").
    pub reason: String,
}

/// Cumulative counters of one upstream service behind the proxy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceCounters {
    /// Service name (filter config, else the proxy's cluster name, else the default).
    pub name: String,
    /// Responses sent to clients for this service, of any status, proxy-made ones included.
    pub responses: u64,
    /// Responses with a 4xx status.
    pub status_4xx: u64,
    /// Responses with a 5xx status (an unreachable upstream's 502/503/504 included).
    pub status_5xx: u64,
    /// Requests that ended with no response at all (the client went away); not failures.
    pub no_response: u64,
    /// Of `status_5xx`, those the proxy made itself because it could not reach the upstream (connection
    /// refused or reset, connect timeout, no healthy host): the proxy's own view of a service DOWN.
    /// Absent (0) from filters before it.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub unreachable: u64,
    /// 5xx responses by normalized route, bounded; overflow folded into [`OTHER_ROUTE`].
    #[serde(default)]
    pub routes: Vec<RouteCounters>,
    /// A sample of the 5xx responses since the previous flush (version 2); absent when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exemplars: Vec<Exemplar>,
}

/// One failing request, as the proxy saw it: what a developer searches the backend's logs with.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exemplar {
    /// When the response was counted, unix milliseconds (proxy clock).
    pub time_ms: u64,
    /// The request method (`GET`).
    pub method: String,
    /// The normalized route key, as in `routes[]` (`GET /users/:id`), or [`OTHER_ROUTE`].
    pub route: String,
    /// The raw path without its query string; absent when the filter's `raw_path` is off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The response status, 500..=599.
    pub status: u16,
    /// The request id the backend saw (Envoy `x-request-id`, nginx `$request_id` or the configured header).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The upstream host the proxy sent the request to (`10.0.0.7:8080`), when it got that far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<String>,
    /// How long the request took in the proxy, milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// What the proxy itself saw (Envoy's `response.code_details`: `via_upstream`, `upstream_reset_...`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
}

/// Cumulative 5xx count of one normalized route (`"GET /server/users/:id/orders"`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteCounters {
    /// `METHOD /normalized/path`, or [`OTHER_ROUTE`].
    pub route: String,
    /// 5xx responses on this route since the boot.
    pub count: u64,
    /// First 5xx on this route, unix milliseconds (proxy clock).
    pub first_seen_ms: u64,
    /// Latest 5xx on this route, unix milliseconds (proxy clock).
    pub last_seen_ms: u64,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// Why a flush is not acceptable; the message names the field at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid(pub String);

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Invalid {}

impl Flush {
    /// Parses and validates a flush body. Nothing about a rejected body is half-used:
    /// the caller gets either a complete, valid flush or the reason.
    pub fn parse(body: &[u8]) -> Result<Flush, Invalid> {
        if body.len() > limits::MAX_BODY_BYTES {
            return Err(Invalid(format!("body is {} bytes, more than {}", body.len(), limits::MAX_BODY_BYTES)));
        }
        let flush: Flush = serde_json::from_slice(body).map_err(|e| Invalid(format!("malformed flush: {e}")))?;
        flush.validate()?;
        Ok(flush)
    }

    /// Serializes the flush to its JSON body.
    pub fn to_json(&self) -> Vec<u8> {
        // Serializing plain structs of strings and integers cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Checks the invariants serde cannot: version, bounds, non-empty and unique names,
    /// and counters that are consistent with each other.
    pub fn validate(&self) -> Result<(), Invalid> {
        if !(OLDEST_VERSION..=VERSION).contains(&self.version) {
            return Err(Invalid(format!(
                "version {} is not supported (expected {OLDEST_VERSION} to {VERSION})",
                self.version
            )));
        }
        check_name(&self.proxy_id, limits::MAX_NAME_LEN).map_err(|e| e.at("proxy_id"))?;
        check_name(&self.boot_id, limits::MAX_NAME_LEN).map_err(|e| e.at("boot_id"))?;
        if self.services.len() > limits::MAX_SERVICES {
            return Err(Invalid(format!(
                "services: {} entries, more than {}",
                self.services.len(),
                limits::MAX_SERVICES
            )));
        }
        let mut names = std::collections::HashSet::with_capacity(self.services.len());
        for (i, s) in self.services.iter().enumerate() {
            // Field paths are only formatted when something is wrong: a valid flush
            // (the normal case, every few seconds per proxy) allocates nothing here.
            let at = || format!("services[{i}]");
            check_name(&s.name, limits::MAX_NAME_LEN).map_err(|e| e.at(&format!("{}.name", at())))?;
            if !names.insert(s.name.as_str()) {
                return Err(Invalid(format!("{}.name: duplicate service {:?}", at(), s.name)));
            }
            s.validate(&at)?;
            if !s.exemplars.is_empty() && self.version < 2 {
                return Err(Invalid(format!("{}.exemplars: needs version 2 (this flush is {})", at(), self.version)));
            }
        }
        let exemplars: usize = self.services.iter().map(|s| s.exemplars.len()).sum();
        if exemplars > limits::MAX_EXEMPLARS {
            return Err(Invalid(format!("exemplars: {exemplars} in the flush, more than {}", limits::MAX_EXEMPLARS)));
        }
        if self.refusals.len() > limits::MAX_REFUSALS {
            return Err(Invalid(format!(
                "refusals: {} entries, more than {}",
                self.refusals.len(),
                limits::MAX_REFUSALS
            )));
        }
        for (i, r) in self.refusals.iter().enumerate() {
            if let Some(service) = &r.service {
                check_name(service, limits::MAX_NAME_LEN).map_err(|e| e.at(&format!("refusals[{i}].service")))?;
            }
            check_name(&r.reason, limits::MAX_REASON_LEN).map_err(|e| e.at(&format!("refusals[{i}].reason")))?;
        }
        Ok(())
    }
}

impl ServiceCounters {
    fn validate(&self, at: &impl Fn() -> String) -> Result<(), Invalid> {
        if self.unreachable > self.status_5xx {
            return Err(Invalid(format!("{}: unreachable exceeds status_5xx ({})", at(), self.status_5xx)));
        }
        let classified = self.status_4xx.checked_add(self.status_5xx);
        if classified.is_none_or(|c| c > self.responses) {
            return Err(Invalid(format!("{}: status_4xx + status_5xx exceed responses ({})", at(), self.responses)));
        }
        if self.routes.len() > limits::MAX_ROUTES {
            return Err(Invalid(format!(
                "{}.routes: {} entries, more than {}",
                at(),
                self.routes.len(),
                limits::MAX_ROUTES
            )));
        }
        let mut seen = std::collections::HashSet::with_capacity(self.routes.len());
        let mut sum: u64 = 0;
        for (j, r) in self.routes.iter().enumerate() {
            let rat = || format!("{}.routes[{j}]", at());
            check_name(&r.route, limits::MAX_ROUTE_LEN).map_err(|e| e.at(&format!("{}.route", rat())))?;
            if !seen.insert(r.route.as_str()) {
                return Err(Invalid(format!("{}.route: duplicate route {:?}", rat(), r.route)));
            }
            if r.first_seen_ms > r.last_seen_ms {
                return Err(Invalid(format!("{}: first_seen_ms is after last_seen_ms", rat())));
            }
            sum = sum.saturating_add(r.count);
        }
        if sum > self.status_5xx {
            return Err(Invalid(format!(
                "{}.routes: route counts ({sum}) exceed status_5xx ({})",
                at(),
                self.status_5xx
            )));
        }
        if self.exemplars.len() > limits::MAX_EXEMPLARS_PER_SERVICE {
            return Err(Invalid(format!(
                "{}.exemplars: {} entries, more than {}",
                at(),
                self.exemplars.len(),
                limits::MAX_EXEMPLARS_PER_SERVICE
            )));
        }
        if self.exemplars.len() as u64 > self.status_5xx {
            return Err(Invalid(format!("{}.exemplars: more than status_5xx ({})", at(), self.status_5xx)));
        }
        for (j, e) in self.exemplars.iter().enumerate() {
            e.validate(&|| format!("{}.exemplars[{j}]", at()))?;
        }
        Ok(())
    }
}

impl Exemplar {
    fn validate(&self, at: &impl Fn() -> String) -> Result<(), Invalid> {
        let field = |name: &str| format!("{}.{name}", at());
        check_name(&self.method, limits::MAX_METHOD_LEN).map_err(|e| e.at(&field("method")))?;
        check_name(&self.route, limits::MAX_ROUTE_LEN).map_err(|e| e.at(&field("route")))?;
        if !(500..=599).contains(&self.status) {
            return Err(Invalid(format!("{}: is {}, must be 500 to 599", field("status"), self.status)));
        }
        let texts = [("path", &self.path), ("request_id", &self.request_id), ("upstream", &self.upstream)];
        for (name, v) in texts.into_iter().chain([("details", &self.details)]) {
            if let Some(v) = v {
                check_name(v, limits::MAX_EXEMPLAR_TEXT).map_err(|e| e.at(&field(name)))?;
            }
        }
        if self.path.as_deref().is_some_and(|p| p.contains('?')) {
            return Err(Invalid(format!("{}: must not carry a query string", field("path"))));
        }
        Ok(())
    }
}

/// What is wrong with a name, before the field it belongs to is known.
enum BadName {
    Empty,
    TooLong(usize),
    Control,
}

impl BadName {
    fn at(self, field: &str) -> Invalid {
        Invalid(match self {
            BadName::Empty => format!("{field}: must not be empty"),
            BadName::TooLong(max) => format!("{field}: longer than {max} bytes"),
            BadName::Control => format!("{field}: contains control characters"),
        })
    }
}

fn check_name(value: &str, max: usize) -> Result<(), BadName> {
    if value.is_empty() {
        return Err(BadName::Empty);
    }
    if value.len() > max {
        return Err(BadName::TooLong(max));
    }
    if value.chars().any(char::is_control) {
        return Err(BadName::Control);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Flush {
        Flush {
            version: VERSION,
            proxy_id: "edge-1".into(),
            boot_id: "5f0c2a9e7b1d4c38".into(),
            boot_ms: 1_764_540_000_000,
            seq: 3,
            sent_ms: 1_764_540_015_000,
            services: vec![ServiceCounters {
                name: "be".into(),
                responses: 500,
                status_4xx: 10,
                status_5xx: 62,
                no_response: 1,
                unreachable: 0,
                exemplars: vec![],
                routes: vec![RouteCounters {
                    route: "GET /server/users/:id/orders".into(),
                    count: 60,
                    first_seen_ms: 1_764_540_001_000,
                    last_seen_ms: 1_764_540_014_000,
                }],
            }],
            refusals: vec![],
        }
    }

    fn refusal(service: Option<&str>, reason: &str) -> Refusal {
        Refusal { service: service.map(Into::into), reason: reason.into() }
    }

    #[test]
    fn round_trips_through_json() {
        let f = sample();
        assert_eq!(Flush::parse(&f.to_json()), Ok(f));
    }

    #[test]
    fn rejects_unknown_fields_and_versions() {
        let body =
            br#"{"version":1,"proxy_id":"p","boot_id":"b","boot_ms":0,"seq":0,"sent_ms":0,"services":[],"extra":1}"#;
        assert!(Flush::parse(body).unwrap_err().0.contains("extra"));
        let mut f = sample();
        f.version = 3;
        assert_eq!(f.validate().unwrap_err().0, "version 3 is not supported (expected 1 to 2)");
        f.version = 0;
        assert!(f.validate().is_err());
    }

    fn exemplar(t: u64) -> Exemplar {
        Exemplar {
            time_ms: t,
            method: "GET".into(),
            route: "GET /server/users/:id/orders".into(),
            path: Some("/server/users/42/orders".into()),
            status: 502,
            request_id: Some(format!("req-{t}")),
            upstream: Some("10.0.0.7:8080".into()),
            duration_ms: Some(12),
            details: Some("via_upstream".into()),
        }
    }

    #[test]
    fn version_1_is_still_accepted_without_exemplars() {
        let v1 = br#"{"version":1,"proxy_id":"p","boot_id":"b","boot_ms":0,"seq":0,"sent_ms":0,"services":[
            {"name":"be","responses":3,"status_4xx":0,"status_5xx":1,"no_response":0,"routes":[]}]}"#;
        let f = Flush::parse(v1).unwrap();
        assert_eq!((f.version, f.services[0].exemplars.len()), (1, 0));
        let mut f = sample();
        f.version = 1;
        f.services[0].exemplars = vec![exemplar(1)];
        assert_eq!(f.validate().unwrap_err().0, "services[0].exemplars: needs version 2 (this flush is 1)");
    }

    #[test]
    fn exemplars_round_trip_and_are_omitted_when_empty() {
        assert!(!String::from_utf8(sample().to_json()).unwrap().contains("exemplars"));
        let mut f = sample();
        f.services[0].exemplars = vec![exemplar(1), Exemplar { path: None, details: None, ..exemplar(2) }];
        assert_eq!(Flush::parse(&f.to_json()), Ok(f));
    }

    #[test]
    fn rejects_exemplars_beyond_the_limits() {
        let mut f = sample();
        f.services[0].exemplars = (0..=limits::MAX_EXEMPLARS_PER_SERVICE as u64).map(exemplar).collect();
        assert_eq!(f.validate().unwrap_err().0, "services[0].exemplars: 9 entries, more than 8");
        let mut f = sample();
        f.services = (0..20)
            .map(|i| ServiceCounters {
                name: format!("s{i}"),
                responses: 10,
                status_5xx: 10,
                exemplars: (0..7).map(exemplar).collect(),
                ..ServiceCounters::default()
            })
            .collect();
        assert_eq!(f.validate().unwrap_err().0, "exemplars: 140 in the flush, more than 128");
        let one = |e: Exemplar| {
            let mut f = sample();
            f.services[0].exemplars = vec![e];
            f.validate().map_err(|e| e.0)
        };
        assert_eq!(one(exemplar(1)), Ok(()));
        assert_eq!(
            one(Exemplar { status: 404, ..exemplar(1) }),
            Err("services[0].exemplars[0].status: is 404, must be 500 to 599".into())
        );
        assert_eq!(
            one(Exemplar { path: Some("/a?q=1".into()), ..exemplar(1) }),
            Err("services[0].exemplars[0].path: must not carry a query string".into())
        );
        assert_eq!(
            one(Exemplar { request_id: Some("x".repeat(257)), ..exemplar(1) }),
            Err("services[0].exemplars[0].request_id: longer than 256 bytes".into())
        );
        assert_eq!(
            one(Exemplar { route: String::new(), ..exemplar(1) }),
            Err("services[0].exemplars[0].route: must not be empty".into())
        );
        assert_eq!(
            one(Exemplar { upstream: Some("a\nb".into()), ..exemplar(1) }),
            Err("services[0].exemplars[0].upstream: contains control characters".into())
        );
        let unknown = br#"{"version":2,"proxy_id":"p","boot_id":"b","boot_ms":0,"seq":0,"sent_ms":0,"services":[
            {"name":"be","responses":3,"status_4xx":0,"status_5xx":1,"no_response":0,"routes":[],
             "exemplars":[{"time_ms":1,"method":"GET","route":"GET /a","status":500,"query":"q=1"}]}]}"#;
        assert!(Flush::parse(unknown).unwrap_err().0.contains("unknown field `query`"));
    }

    #[test]
    fn rejects_inconsistent_counters() {
        let mut f = sample();
        f.services[0].status_5xx = 600;
        assert!(f.validate().unwrap_err().0.contains("exceed responses"));
        let mut f = sample();
        f.services[0].routes[0].count = 63;
        assert!(f.validate().unwrap_err().0.contains("route counts"));
        let mut f = sample();
        f.services.push(f.services[0].clone());
        assert!(f.validate().unwrap_err().0.contains("duplicate service"));
        let mut f = sample();
        f.services[0].status_4xx = u64::MAX;
        assert!(f.validate().is_err());
    }

    #[test]
    fn rejects_empty_names_and_oversized_bodies() {
        let mut f = sample();
        f.proxy_id.clear();
        assert!(f.validate().unwrap_err().0.starts_with("proxy_id"));
        let big = vec![b' '; limits::MAX_BODY_BYTES + 1];
        assert!(Flush::parse(&big).unwrap_err().0.contains("more than"));
        assert!(Flush::parse(b"{").unwrap_err().0.starts_with("malformed"));
    }

    #[test]
    fn refusals_are_omitted_when_empty_and_round_trip_otherwise() {
        let f = sample();
        assert!(!String::from_utf8(f.to_json()).unwrap().contains("refusals"), "a flush without refusals is unchanged");
        let mut f = sample();
        f.refusals = vec![refusal(Some("ai"), "unknown key `colour`"), refusal(None, "configuration is empty")];
        let json = String::from_utf8(f.to_json()).unwrap();
        assert!(json.ends_with(
            r#","refusals":[{"service":"ai","reason":"unknown key `colour`"},{"reason":"configuration is empty"}]}"#
        ));
        assert_eq!(Flush::parse(json.as_bytes()), Ok(f));
        // `null` is read as no service as well.
        let body = br#"{"version":1,"proxy_id":"p","boot_id":"b","boot_ms":0,"seq":0,"sent_ms":0,"services":[],
            "refusals":[{"service":null,"reason":"r"}]}"#;
        assert_eq!(Flush::parse(body).unwrap().refusals, vec![refusal(None, "r")]);
    }

    #[test]
    fn rejects_refusals_out_of_bounds() {
        let mut f = sample();
        f.refusals = (0..=limits::MAX_REFUSALS).map(|i| refusal(None, &format!("reason {i}"))).collect();
        assert_eq!(f.validate().unwrap_err().0, "refusals: 17 entries, more than 16");
        f.refusals.pop();
        assert_eq!(f.validate(), Ok(()));

        let mut f = sample();
        f.refusals = vec![refusal(Some("ai"), "ok"), refusal(None, &"x".repeat(limits::MAX_REASON_LEN + 1))];
        assert_eq!(f.validate().unwrap_err().0, "refusals[1].reason: longer than 300 bytes");
        f.refusals[1].reason = "é".repeat(limits::MAX_REASON_LEN / 2);
        assert_eq!(f.validate(), Ok(()), "300 bytes is the limit");
        f.refusals[1].reason.clear();
        assert_eq!(f.validate().unwrap_err().0, "refusals[1].reason: must not be empty");
        f.refusals[1].reason = "line\nbreak".into();
        assert_eq!(f.validate().unwrap_err().0, "refusals[1].reason: contains control characters");

        let mut f = sample();
        for (service, what) in [
            (String::new(), "must not be empty"),
            ("s".repeat(limits::MAX_NAME_LEN + 1), "longer than 128 bytes"),
            ("a\u{7f}".into(), "contains control characters"),
        ] {
            f.refusals = vec![refusal(Some(&service), "r")];
            assert_eq!(f.validate().unwrap_err().0, format!("refusals[0].service: {what}"));
        }
    }

    #[test]
    fn rejects_unknown_fields_in_a_refusal() {
        let body = br#"{"version":1,"proxy_id":"p","boot_id":"b","boot_ms":0,"seq":0,"sent_ms":0,"services":[],
            "refusals":[{"reason":"r","colour":"red"}]}"#;
        let e = Flush::parse(body).unwrap_err().0;
        assert!(e.contains("unknown field `colour`"), "{e}");
        let no_reason = br#"{"version":1,"proxy_id":"p","boot_id":"b","boot_ms":0,"seq":0,"sent_ms":0,"services":[],
            "refusals":[{"service":"ai"}]}"#;
        assert!(Flush::parse(no_reason).unwrap_err().0.contains("missing field `reason`"));
        // Parsing applies the limits too (what the collector answers 400 with).
        let many: Vec<String> = (0..17).map(|i| format!(r#"{{"reason":"r{i}"}}"#)).collect();
        let head = r#"{"version":1,"proxy_id":"p","boot_id":"b","boot_ms":0,"seq":0,"sent_ms":0,"services":[]"#;
        let body = format!(r#"{head},"refusals":[{}]}}"#, many.join(","));
        assert!(Flush::parse(body.as_bytes()).unwrap_err().0.starts_with("refusals: 17 entries"));
    }
}
