//! `faultline-collector check-proxy`, the built binary on the shipped `nginx/nginx.conf` and `envoy/envoy.yaml`:
//! both pass, alone and against a matching collector configuration; broken copies fail naming the file, the line
//! and the key (an unknown key, a bad value, invalid JSON, and with `--config` an unknown service, an unknown
//! token, a `proxy_id` its token is not bound to). The token is never printed.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use faultline_tests::paths;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The token of the shipped proxy configs.
const TOKEN: &str = "change-me-edge-token";

/// A collector configuration that matches the shipped proxies: their token bound to `edge-1`, their services.
const MATCHING_TOML: &str = r#"
state_dir = "state"
[[tokens]]
token = "change-me-edge-token"
proxies = ["edge-1"]

[webhooks]
default = "https://discord.com/api/webhooks/000000000000000000/test-token"

[[services]]
name = "frontend"

[[services]]
name = "be"

[[services]]
name = "ai"
"#;

/// A fresh directory for one test under `target/test-logs/`.
fn dir(name: &str) -> PathBuf {
    let d = paths::target_dir().join("test-logs").join(format!("check-proxy-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn shipped(rel: &str) -> (PathBuf, String) {
    let path = paths::workspace_root().join(rel);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (path, text)
}

fn matching_toml(dir: &Path) -> PathBuf {
    let p = dir.join("faultline.toml");
    std::fs::write(&p, MATCHING_TOML).unwrap();
    p
}

struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

fn check(file: &Path, config: Option<&Path>) -> Run {
    let bin = paths::binary("faultline-collector").unwrap();
    let mut cmd = Command::new(bin);
    cmd.arg("check-proxy").arg(file);
    if let Some(c) = config {
        cmd.arg("--config").arg(c);
    }
    let out = cmd.output().unwrap();
    let run = Run {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(
        !run.stdout.contains(TOKEN) && !run.stderr.contains(TOKEN),
        "a token was printed:\n{}{}",
        run.stdout,
        run.stderr
    );
    run
}

/// The 1-based line of the first line of `text` containing `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines().position(|l| l.contains(needle)).unwrap_or_else(|| panic!("no line with {needle:?}")) + 1
}

/// The line of the first `proxy_wasm` line for `service` (the file's comments mention services too).
fn proxy_wasm_line(text: &str, service: &str) -> usize {
    let needle = format!("\"service\":\"{service}\"");
    text.lines().position(|l| l.contains("proxy_wasm") && l.contains(&needle)).expect("a proxy_wasm line") + 1
}

/// Writes `text` as `name` in `dir`, runs the check and expects it to fail with one message per entry of
/// `expected`, on stderr, in order: each `faultline-collector: file:line: ` and the given text (a prefix of the
/// message, whole when it ends the message).
fn refused(dir: &Path, name: &str, text: &str, config: Option<&Path>, expected: &[(usize, &str)]) -> Run {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    let run = check(&path, config);
    assert!(!run.ok, "{name} passed:\n{}", run.stdout);
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), expected.len(), "{}", run.stderr);
    for (got, (line, msg)) in lines.iter().zip(expected) {
        let want = format!("faultline-collector: {}:{line}: {msg}", path.display());
        assert!(got.starts_with(&want), "want {want}\n got {got}\n{}", run.stderr);
    }
    run
}

#[test]
fn the_shipped_nginx_conf_passes_alone_and_against_a_matching_collector() {
    let d = dir("nginx-ok");
    let (path, text) = shipped("nginx/nginx.conf");
    let toml = matching_toml(&d);
    for config in [None, Some(toml.as_path())] {
        let run = check(&path, config);
        assert!(run.ok, "{}{}", run.stdout, run.stderr);
        let file = path.display();
        assert!(run.stdout.starts_with(&format!("{file}: read as an nginx configuration (by its extension .conf)\n")));
        for (prefix, service) in [("/server/", "be"), ("/ai/", "ai"), ("/api/", "frontend"), ("/", "frontend")] {
            let line = proxy_wasm_line(&text, service);
            let line = if prefix == "/" { line_of(&text, "location / {") + 1 } else { line };
            let want = format!(
                "{file}:{line}: proxy_wasm faultline (location {prefix}): service \"{service}\", proxy_id \"edge-1\"\n"
            );
            assert!(run.stdout.contains(&want), "{want}in\n{}", run.stdout);
        }
        let last = run.stdout.lines().last().unwrap();
        assert!(last.starts_with("4 Faultline configurations OK ("), "{last}");
        assert_eq!(last.contains("checked against"), config.is_some(), "{last}");
    }
}

#[test]
fn the_shipped_envoy_yaml_passes_alone_and_against_a_matching_collector() {
    let d = dir("envoy-ok");
    let (path, text) = shipped("envoy/envoy.yaml");
    let toml = matching_toml(&d);
    for config in [None, Some(toml.as_path())] {
        let run = check(&path, config);
        assert!(run.ok, "{}{}", run.stdout, run.stderr);
        let file = path.display();
        assert!(run.stdout.starts_with(&format!("{file}: read as an Envoy configuration (by its extension .yaml)\n")));
        // The configuration's text starts on the line after `value: |`.
        let line = line_of(&text, "value: |") + 1;
        let want = format!(
            "{file}:{line}: envoy.filters.http.wasm faultline (listener edge): services \"be\", \"ai\", \"frontend\" \
             (route clusters), proxy_id \"edge-1\"\n"
        );
        assert!(run.stdout.contains(&want), "{want}in\n{}", run.stdout);
        assert!(run.stdout.ends_with(")\n") && run.stdout.contains("1 Faultline configuration OK ("), "{}", run.stdout);
    }
}

#[test]
fn a_broken_nginx_conf_is_refused_naming_file_line_and_key() {
    let d = dir("nginx-broken");
    let (_, shipped) = shipped("nginx/nginx.conf");
    let toml = matching_toml(&d);
    let (ai, be, api) =
        (proxy_wasm_line(&shipped, "ai"), proxy_wasm_line(&shipped, "be"), proxy_wasm_line(&shipped, "frontend"));
    let place = |loc: &str| format!("proxy_wasm faultline (location {loc})");

    let text = shipped.replace("\"service\":\"ai\",", "\"service\":\"ai\",\"colour\":\"red\",");
    refused(&d, "colour.conf", &text, None, &[(ai, &format!("{}: unknown key `colour`", place("/ai/")))]);

    let text = shipped.replacen("\"flush_interval_ms\":5000", "\"flush_interval_ms\":\"x\"", 1);
    let msg = format!("{}: `flush_interval_ms` must be a non-negative integer", place("/server/"));
    refused(&d, "value.conf", &text, None, &[(be, &msg)]);

    // The third line (/api/) loses its closing brace: not JSON.
    let api_line = shipped.lines().nth(api - 1).unwrap();
    let text = shipped.replacen(api_line, &api_line.replace("\"faultline\"}'", "\"faultline\"'"), 1);
    let msg = format!("{}: configuration is not valid JSON: ", place("/api/"));
    let run = refused(&d, "json.conf", &text, None, &[(api, &msg)]);
    assert!(run.stderr.contains("not valid JSON: expected ',' or '}' at byte"), "{}", run.stderr);

    // Against the collector: an unknown service, an unknown token, a proxy id the token is not bound to.
    let text = shipped.replace("\"service\":\"ai\"", "\"service\":\"payments\"");
    let alone = d.join("service-alone.conf");
    std::fs::write(&alone, &text).unwrap();
    assert!(check(&alone, None).ok, "without --config the services are not checked");
    let msg = format!(
        "{}: `service` \"payments\" is not a [[services]] name of {} (known: \"frontend\", \"be\", \"ai\")",
        place("/ai/"),
        toml.display()
    );
    refused(&d, "service.conf", &text, Some(&toml), &[(ai, &msg)]);

    let be_line = shipped.lines().nth(be - 1).unwrap();
    let text = shipped.replacen(be_line, &be_line.replace(TOKEN, "a-token-nobody-knows"), 1);
    let msg = format!(
        "{}: `collector.token` (****) is not one of the [[tokens]] of {}: the collector answers every flush 401",
        place("/server/"),
        toml.display()
    );
    let run = refused(&d, "token.conf", &text, Some(&toml), &[(be, &msg)]);
    assert!(!run.stderr.contains("a-token-nobody-knows"));

    let text = shipped.replace("\"proxy_id\":\"edge-1\"", "\"proxy_id\":\"edge-2\"");
    let msg = |loc: &str| {
        format!(
            "{}: `proxy_id` \"edge-2\" is not in `proxies` of the [[tokens]] entry its token matches (tokens[0] of \
             {}, proxies: \"edge-1\"): the collector answers every flush 403",
            place(loc),
            toml.display()
        )
    };
    let root = line_of(&shipped, "location / {") + 1;
    let expected = [(be, msg("/server/")), (ai, msg("/ai/")), (api, msg("/api/")), (root, msg("/"))];
    let expected: Vec<(usize, &str)> = expected.iter().map(|(l, m)| (*l, m.as_str())).collect();
    refused(&d, "proxy.conf", &text, Some(&toml), &expected);
}

#[test]
fn a_broken_envoy_yaml_is_refused_naming_file_line_and_key() {
    let d = dir("envoy-broken");
    let (_, shipped) = shipped("envoy/envoy.yaml");
    let toml = matching_toml(&d);
    let place = "envoy.filters.http.wasm faultline (listener edge)";
    let start = line_of(&shipped, "value: |") + 1;
    // A new line in the configuration's block, indented like its neighbours.
    let proxy_line = shipped.lines().find(|l| l.contains("\"proxy_id\": \"edge-1\",")).unwrap();
    let indent = &proxy_line[..proxy_line.find('"').unwrap()];
    let insert = |key_line: &str| shipped.replacen(proxy_line, &format!("{proxy_line}\n{indent}{key_line}"), 1);
    let inserted = line_of(&shipped, proxy_line) + 1;

    refused(
        &d,
        "colour.yaml",
        &insert("\"colour\": \"red\","),
        None,
        &[(inserted, &format!("{place}: unknown key `colour`"))],
    );

    let text = shipped.replacen("\"flush_interval_ms\": 5000", "\"flush_interval_ms\": \"x\"", 1);
    let msg = format!("{place}: `flush_interval_ms` must be a non-negative integer");
    refused(&d, "value.yaml", &text, None, &[(line_of(&shipped, "\"flush_interval_ms\""), &msg)]);

    // A trailing comma: not JSON, reported on the line of the byte the parser stopped at.
    let text = shipped.replacen("\"shm_zone\": \"faultline\"", "\"shm_zone\": \"faultline\",", 1);
    let msg = format!("{place}: configuration is not valid JSON: expected a string key at byte");
    let end = line_of(&shipped, "\"shm_zone\"") + 1;
    refused(&d, "json.yaml", &text, None, &[(end, &msg)]);
    assert!(start < end);

    // Against the collector. A service the collector does not know: a route's cluster...
    let text = shipped.replace("cluster: ai,", "cluster: payments,").replace("- name: ai\n", "- name: payments\n");
    assert_ne!(text, shipped);
    let msg = format!(
        "{place}: cluster `payments` (a route sends there; the filter counts it as service \"payments\", Envoy's \
         xds.cluster_name) is not a [[services]] name of {} (known: \"frontend\", \"be\", \"ai\")",
        toml.display()
    );
    refused(&d, "cluster.yaml", &text, Some(&toml), &[(line_of(&text, "cluster: payments"), &msg)]);
    // ...or the configuration's own `service`.
    let msg = format!(
        "{place}: `service` \"payments\" is not a [[services]] name of {} (known: \"frontend\", \"be\", \"ai\")",
        toml.display()
    );
    refused(&d, "service.yaml", &insert("\"service\": \"payments\","), Some(&toml), &[(inserted, &msg)]);

    let text = shipped.replacen(TOKEN, "a-token-nobody-knows", 1);
    let msg = format!(
        "{place}: `collector.token` (****) is not one of the [[tokens]] of {}: the collector answers every flush 401",
        toml.display()
    );
    let run = refused(&d, "token.yaml", &text, Some(&toml), &[(line_of(&text, "a-token-nobody-knows"), &msg)]);
    assert!(!run.stderr.contains("a-token-nobody-knows"));

    let text = shipped.replacen("\"proxy_id\": \"edge-1\"", "\"proxy_id\": \"edge-2\"", 1);
    let msg = format!(
        "{place}: `proxy_id` \"edge-2\" is not in `proxies` of the [[tokens]] entry its token matches (tokens[0] of \
         {}, proxies: \"edge-1\"): the collector answers every flush 403",
        toml.display()
    );
    refused(&d, "proxy.yaml", &text, Some(&toml), &[(line_of(&text, "edge-2"), &msg)]);

    // Not a proxy-side check of the collector, but one Envoy does not make either: the collector cluster exists.
    let text = shipped.replacen("\"upstream\": \"faultline_collector\"", "\"upstream\": \"faultline\"", 1);
    let msg = format!("{place}: `collector.upstream` \"faultline\" is not a cluster of this file");
    refused(&d, "upstream.yaml", &text, None, &[(line_of(&text, "\"upstream\": \"faultline\""), &msg)]);
}

#[test]
fn the_kind_is_said_and_a_file_without_faultline_is_refused() {
    let d = dir("kind");
    let (_, yaml) = shipped("envoy/envoy.yaml");
    let path = d.join("edge-proxy");
    std::fs::write(&path, &yaml).unwrap();
    let run = check(&path, None);
    assert!(run.ok, "{}", run.stderr);
    assert!(run.stdout.starts_with(&format!("{}: read as an Envoy configuration (by its content", path.display())));

    let path = d.join("plain.conf");
    std::fs::write(&path, "events {}\nhttp { server { listen 80; } }\n").unwrap();
    let run = check(&path, None);
    assert!(!run.ok);
    assert_eq!(
        run.stderr.trim_end(),
        format!(
            "faultline-collector: {}: no Faultline plugin configuration found (read as nginx by its extension .conf)",
            path.display()
        )
    );
}
