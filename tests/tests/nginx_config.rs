//! The shipped `nginx/nginx.conf`, checked without an nginx: nginx with Kong's ngx_wasm_module is in no package
//! registry, so this test parses the file with the collector's nginx reader (`faultline_collector::proxycheck::nginx`,
//! the tokenizer `check-proxy` uses: it honours nginx's quotes and comments) and runs every `proxy_wasm`
//! configuration in it through the filter's own validation (`faultline_filter::config`).

// cfg(test) on the whole file lets clippy's allow-{unwrap,panic,indexing}-in-tests cover the helpers.
#![cfg(test)]

use std::collections::BTreeMap;
use std::net::SocketAddr;

use faultline_collector::proxycheck::nginx::{self, Directive};
use faultline_filter::config::{self, ConfigError};

/// The collector's nginx reader (`faultline-collector check-proxy` uses the same), its error as text.
fn parse(src: &str) -> Result<Vec<Directive>, String> {
    nginx::parse(src).map_err(|e| e.to_string())
}

fn children<'a>(dirs: &'a [Directive], name: &str) -> Vec<&'a Directive> {
    dirs.iter().filter(|d| d.name == name).collect()
}

fn only<'a>(dirs: &'a [Directive], name: &str) -> &'a Directive {
    let found = children(dirs, name);
    assert_eq!(found.len(), 1, "expected exactly one `{name}`, found {}", found.len());
    found[0]
}

fn block(d: &Directive) -> &[Directive] {
    d.block.as_deref().unwrap_or_else(|| panic!("line {}: `{}` has no block", d.line, d.name))
}

/// Every directive of the tree, depth first.
fn walk(dirs: &[Directive]) -> Vec<&Directive> {
    let mut out = Vec::new();
    for d in dirs {
        out.push(d);
        if let Some(b) = &d.block {
            out.extend(walk(b));
        }
    }
    out
}

/// Every `proxy_wasm` line of `tree`.
fn proxy_wasm_lines(tree: &[Directive]) -> Vec<&Directive> {
    walk(tree).into_iter().filter(|d| d.name == "proxy_wasm").collect()
}

fn shipped() -> String {
    let path = faultline_tests::paths::workspace_root().join("nginx/nginx.conf");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The services of the team's layout, by location prefix, and the port of each service.
const LAYOUT: [(&str, &str, u16); 4] =
    [("/server/", "be", 8080), ("/ai/", "ai", 8000), ("/api/", "frontend", 3000), ("/", "frontend", 3000)];

#[test]
fn the_wasm_block_loads_the_filter_and_declares_its_zone() {
    let tree = parse(&shipped()).unwrap();
    let wasm = only(&tree, "wasm");
    let module = only(block(wasm), "module");
    assert_eq!(module.args.len(), 2, "module NAME PATH");
    assert_eq!(module.args[0], "faultline");
    assert!(module.args[1].ends_with("/faultline_filter.wasm"), "module path {}", module.args[1]);
    let zones: Vec<&str> = children(block(wasm), "shm_kv").iter().map(|d| d.args[0].as_str()).collect();
    assert!(zones.contains(&"faultline"), "shm_kv faultline is declared: {zones:?}");
    // eviction=none would make a full zone trap the filter.
    for d in children(block(wasm), "shm_kv") {
        assert!(!d.args.iter().any(|a| a == "eviction=none"), "line {}: eviction=none traps when full", d.line);
    }
    // The module rejects resolver_add inside wasm{}; it belongs in http{}.
    assert!(children(block(wasm), "resolver_add").is_empty());
}

#[test]
fn every_location_has_the_filter_and_the_team_layout() {
    let tree = parse(&shipped()).unwrap();
    let http = block(only(&tree, "http"));
    let upstreams: BTreeMap<String, Vec<String>> = children(http, "upstream")
        .iter()
        .map(|u| (u.args[0].clone(), children(block(u), "server").iter().map(|s| s.args[0].clone()).collect()))
        .collect();
    let server = block(only(http, "server"));
    let locations = children(server, "location");
    assert_eq!(locations.len(), LAYOUT.len(), "one location per route of the layout");
    for (prefix, service, port) in LAYOUT {
        let loc = locations.iter().find(|l| l.args == [prefix]).unwrap_or_else(|| panic!("no `location {prefix}`"));
        let body = block(loc);
        let pass = only(body, "proxy_pass");
        let upstream = pass.args[0].strip_prefix("http://").expect("proxy_pass http://upstream");
        let servers = upstreams.get(upstream).unwrap_or_else(|| panic!("no `upstream {upstream}`"));
        assert_eq!(servers, &[format!("127.0.0.1:{port}")], "location {prefix} reaches {service} on :{port}");
        let wasm = only(body, "proxy_wasm");
        let cfg = config::parse(wasm.args[1].as_bytes()).unwrap();
        assert_eq!(cfg.service.as_deref(), Some(service), "location {prefix} counts as {service}");
    }
}

#[test]
fn every_proxy_wasm_configuration_passes_the_filters_validation() {
    let tree = parse(&shipped()).unwrap();
    let wasm = only(&tree, "wasm");
    let modules: Vec<&str> = children(block(wasm), "module").iter().map(|m| m.args[0].as_str()).collect();
    let zones: Vec<&str> = children(block(wasm), "shm_kv").iter().map(|d| d.args[0].as_str()).collect();
    let http = block(only(&tree, "http"));
    let has_resolver = !children(http, "resolver_add").is_empty();

    let lines = proxy_wasm_lines(&tree);
    assert!(!lines.is_empty(), "the shipped file has proxy_wasm lines");
    let mut proxy_ids = Vec::new();
    for d in lines {
        assert_eq!(d.args.len(), 2, "line {}: proxy_wasm NAME 'CONFIG'", d.line);
        assert!(modules.contains(&d.args[0].as_str()), "line {}: module {} is declared", d.line, d.args[0]);
        let cfg = config::parse(d.args[1].as_bytes())
            .unwrap_or_else(|e| panic!("line {}: the filter refuses its configuration: {e}", d.line));
        // nginx has no cluster name: each location must name its service.
        assert!(cfg.service.is_some(), "line {}: no \"service\"", d.line);
        assert!(zones.contains(&cfg.shm_zone.as_str()), "line {}: zone {} has no shm_kv", d.line, cfg.shm_zone);
        let collector = cfg.collector.as_ref().unwrap_or_else(|| panic!("line {}: no collector", d.line));
        if collector.upstream.parse::<SocketAddr>().is_err() {
            assert!(
                has_resolver,
                "line {}: collector {} is a host name but http{{}} has no resolver_add",
                d.line, collector.upstream
            );
        }
        proxy_ids.push(cfg.proxy_id.clone());
    }
    // One proxy, one id: every line flushes the same shared counters.
    proxy_ids.dedup();
    assert_eq!(proxy_ids.len(), 1, "all proxy_wasm lines share one proxy_id: {proxy_ids:?}");
}

#[test]
fn a_typo_in_a_filter_configuration_fails_validation() {
    let shipped = shipped();
    // Edit the configuration of the /server/ location only (comments mention "service" too).
    let line = shipped
        .lines()
        .find(|l| l.contains("proxy_wasm") && l.contains("\"service\":\"be\""))
        .expect("a proxy_wasm line for be");
    let text = shipped.replacen(line, &line.replace("\"service\":", "\"servcie\":"), 1);
    assert_ne!(text, shipped);
    let tree = parse(&text).unwrap();
    let results: Vec<Result<config::Config, ConfigError>> =
        proxy_wasm_lines(&tree).iter().map(|d| config::parse(d.args[1].as_bytes())).collect();
    let refused: Vec<&ConfigError> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert_eq!(refused.len(), 1, "exactly the edited line is refused");
    assert_eq!(refused[0], &ConfigError::UnknownKey("servcie".into()));
    assert_eq!(refused[0].key(), Some("servcie"));

    let text = shipped.replacen("\"flush_interval_ms\":5000", "\"flush_interval_ms\":\"5s\"", 1);
    assert_ne!(text, shipped);
    let tree = parse(&text).unwrap();
    let err = proxy_wasm_lines(&tree)
        .iter()
        .find_map(|d| config::parse(d.args[1].as_bytes()).err())
        .expect("a string interval is refused");
    assert_eq!(err.key(), Some("flush_interval_ms"));
}

#[test]
fn a_stock_nginx_loads_the_module_with_the_commented_first_line() {
    let shipped = shipped();
    let first = shipped.lines().next().unwrap();
    let line = first.strip_prefix("# ").expect("the first line is a comment");
    assert!(line.starts_with("load_module ") && line.ends_with("/ngx_wasmx_module.so;"), "{first}");
    // Uncommented, it is the file's first directive (nginx requires load_module before the rest).
    let tree = parse(&shipped.replacen(first, line, 1)).unwrap();
    assert_eq!((tree[0].name.as_str(), tree[0].line), ("load_module", 1));
    assert!(parse(&shipped).unwrap().iter().all(|d| d.name != "load_module"), "shipped commented");
}

#[test]
fn the_services_get_nginx_request_id() {
    let tree = parse(&shipped()).unwrap();
    let http = block(only(&tree, "http"));
    let headers: Vec<&[String]> = children(http, "proxy_set_header").iter().map(|d| d.args.as_slice()).collect();
    assert!(headers.contains(&&["X-Request-ID".to_string(), "$edge_request_id".to_string()][..]), "{headers:?}");
    // The client's id when it sent one, else nginx's: what the filter reads for its exemplars.
    let map = only(http, "map");
    assert_eq!(map.args, ["$http_x_request_id", "$edge_request_id"]);
    let entries: Vec<(&str, &[String])> = block(map).iter().map(|d| (d.name.as_str(), d.args.as_slice())).collect();
    assert_eq!(entries.len(), 2, "{entries:?}");
    assert_eq!(entries[0], ("default", &["$http_x_request_id".to_string()][..]));
    assert_eq!(entries[1].1, ["$request_id"], "{entries:?}");
    // nginx inherits proxy_set_header only into blocks that set none of their own.
    for d in walk(&tree).into_iter().filter(|d| d.name == "location") {
        assert!(children(block(d), "proxy_set_header").is_empty(), "line {}: location sets its own headers", d.line);
    }
}
