//! The flush body as JSON, written by hand to keep the `.wasm` small: byte-for-byte what
//! `faultline_flush::Flush::to_json` produces (a unit test holds it to that), so the
//! shared types still define the format.

use faultline_flush::Flush;
use std::fmt::Write as _;

/// Appends `s` as a JSON string, escaped as serde_json does.
pub fn write_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn field(out: &mut String, name: &str, n: u64) {
    let _ = write!(out, "\"{name}\":{n}");
}

fn write_exemplar(out: &mut String, e: &faultline_flush::Exemplar) {
    let _ = write!(out, "{{\"time_ms\":{},\"method\":", e.time_ms);
    write_str(out, &e.method);
    out.push_str(",\"route\":");
    write_str(out, &e.route);
    if let Some(p) = &e.path {
        out.push_str(",\"path\":");
        write_str(out, p);
    }
    let _ = write!(out, ",\"status\":{}", e.status);
    for (name, v) in [("request_id", &e.request_id), ("upstream", &e.upstream)] {
        if let Some(v) = v {
            let _ = write!(out, ",\"{name}\":");
            write_str(out, v);
        }
    }
    if let Some(d) = e.duration_ms {
        out.push(',');
        field(out, "duration_ms", d);
    }
    if let Some(v) = &e.details {
        out.push_str(",\"details\":");
        write_str(out, v);
    }
    out.push('}');
}

/// The flush as its JSON body (identical to `Flush::to_json`).
pub fn write_flush(f: &Flush) -> Vec<u8> {
    let mut out = String::with_capacity(256 + f.services.len() * 512);
    let _ = write!(out, "{{\"version\":{},\"proxy_id\":", f.version);
    write_str(&mut out, &f.proxy_id);
    out.push_str(",\"boot_id\":");
    write_str(&mut out, &f.boot_id);
    out.push(',');
    field(&mut out, "boot_ms", f.boot_ms);
    out.push(',');
    field(&mut out, "seq", f.seq);
    out.push(',');
    field(&mut out, "sent_ms", f.sent_ms);
    out.push_str(",\"services\":[");
    for (i, s) in f.services.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"name\":");
        write_str(&mut out, &s.name);
        for (name, n) in [
            ("responses", s.responses),
            ("status_4xx", s.status_4xx),
            ("status_5xx", s.status_5xx),
            ("no_response", s.no_response),
        ] {
            out.push(',');
            field(&mut out, name, n);
        }
        // Absent when 0, as serde skips it.
        if s.unreachable > 0 {
            out.push(',');
            field(&mut out, "unreachable", s.unreachable);
        }
        out.push_str(",\"routes\":[");
        for (j, r) in s.routes.iter().enumerate() {
            if j > 0 {
                out.push(',');
            }
            out.push_str("{\"route\":");
            write_str(&mut out, &r.route);
            for (name, n) in [("count", r.count), ("first_seen_ms", r.first_seen_ms), ("last_seen_ms", r.last_seen_ms)]
            {
                out.push(',');
                field(&mut out, name, n);
            }
            out.push('}');
        }
        out.push(']');
        // Absent when empty, as serde skips it.
        if !s.exemplars.is_empty() {
            out.push_str(",\"exemplars\":[");
            for (j, e) in s.exemplars.iter().enumerate() {
                if j > 0 {
                    out.push(',');
                }
                write_exemplar(&mut out, e);
            }
            out.push(']');
        }
        out.push('}');
    }
    out.push(']');
    // Absent when empty, as serde skips it.
    if !f.refusals.is_empty() {
        out.push_str(",\"refusals\":[");
        for (i, r) in f.refusals.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push('{');
            if let Some(service) = &r.service {
                out.push_str("\"service\":");
                write_str(&mut out, service);
                out.push(',');
            }
            out.push_str("\"reason\":");
            write_str(&mut out, &r.reason);
            out.push('}');
        }
        out.push(']');
    }
    out.push('}');
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use faultline_flush::{Exemplar, Refusal, RouteCounters, ServiceCounters, VERSION};

    #[test]
    fn writes_flushes_exactly_as_serde_does() {
        let f = Flush {
            version: VERSION,
            proxy_id: "edge \"1\" \\ é".into(),
            boot_id: "00ff".into(),
            boot_ms: u64::MAX,
            seq: 0,
            sent_ms: 17,
            services: vec![
                ServiceCounters {
                    name: "be\u{7f}\u{2028}".into(),
                    responses: 10,
                    status_4xx: 1,
                    status_5xx: 2,
                    no_response: 3,
                    unreachable: 0,
                    routes: vec![
                        RouteCounters { route: "GET /a/:id".into(), count: 1, first_seen_ms: 1, last_seen_ms: 2 },
                        RouteCounters { route: "other".into(), count: 1, first_seen_ms: 3, last_seen_ms: 3 },
                    ],
                    exemplars: vec![
                        Exemplar {
                            time_ms: 9,
                            method: "GET".into(),
                            route: "GET /a/:id".into(),
                            path: Some("/a/\"7\"".into()),
                            status: 503,
                            request_id: Some("r-1".into()),
                            upstream: Some("127.0.0.1:80".into()),
                            duration_ms: Some(0),
                            details: Some("via_upstream".into()),
                        },
                        Exemplar {
                            time_ms: 1,
                            method: "-".into(),
                            route: "other".into(),
                            status: 500,
                            ..Default::default()
                        },
                    ],
                },
                ServiceCounters { name: "x\u{1}\u{1f}\u{8}\u{c}\r".into(), ..ServiceCounters::default() },
            ],
            refusals: vec![],
        };
        assert_eq!(String::from_utf8(write_flush(&f)).unwrap(), String::from_utf8(f.to_json()).unwrap());
        let refused = Flush {
            refusals: vec![
                Refusal { service: Some("ai \"x\"".into()), reason: "unknown key `colour` \\ é".into() },
                Refusal { service: None, reason: "configuration is empty: expected a JSON object".into() },
            ],
            ..f.clone()
        };
        assert_eq!(String::from_utf8(write_flush(&refused)).unwrap(), String::from_utf8(refused.to_json()).unwrap());
        let empty = Flush { services: vec![], ..refused };
        assert_eq!(write_flush(&empty), empty.to_json());
        let empty = Flush { services: vec![], ..f };
        assert_eq!(write_flush(&empty), empty.to_json());
    }
}
