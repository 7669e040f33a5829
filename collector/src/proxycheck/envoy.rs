//! An Envoy bootstrap (YAML or JSON) → the Faultline wasm filters in it, each with its plugin configuration, the
//! line that configuration starts on and the clusters its routes send to.
//!
//! YAML is read with `saphyr` (pure Rust, maintained successor of yaml-rust/yaml-rust2, YAML 1.2, JSON too):
//! its `MarkedYaml` nodes carry the line of every value, which is what the messages need (`serde_yaml_ng`, used by
//! the tests, gives positions for errors only). Anchors and aliases are not resolved: a filter reached only
//! through an alias is not seen. Built without its `encoding` feature: input is already UTF-8 text.

use super::plugin::{Found, HostServices, Scan, Skipped, SyntaxError, is_faultline};
use saphyr::{LoadableYamlNode, MarkedYaml};

const HCM_TYPE: &str =
    "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
const HCM_NAME: &str = "envoy.filters.network.http_connection_manager";
const WASM_TYPE: &str = "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm";
const WASM_NAME: &str = "envoy.filters.http.wasm";
const STRING_VALUE: &str = "type.googleapis.com/google.protobuf.StringValue";

type Node<'a> = MarkedYaml<'a>;

fn get<'a, 'b>(n: &'b Node<'a>, key: &str) -> Option<&'b Node<'a>> {
    n.data.as_mapping_get(key)
}

fn str_at<'b>(n: &'b Node<'_>, key: &str) -> Option<&'b str> {
    get(n, key).and_then(|v| v.data.as_str())
}

/// The items of a sequence at `key` (none if absent or not a sequence).
fn items<'a, 'b>(n: &'b Node<'a>, key: &str) -> &'b [Node<'a>] {
    get(n, key).and_then(|v| v.data.as_vec()).map_or(&[], Vec::as_slice)
}

fn line(n: &Node<'_>) -> usize {
    n.span.start.line()
}

/// Reads `src` and finds every Envoy wasm filter of every HTTP connection manager of every static listener.
pub fn scan(src: &str) -> Result<Scan, SyntaxError> {
    let docs = Node::load_from_str(src)
        .map_err(|e| SyntaxError { line: e.marker().line(), message: format!("not YAML: {}", e.info()) })?;
    let mut scan = Scan::default();
    let Some(root) = docs.first() else { return Ok(scan) };
    let Some(statics) = get(root, "static_resources") else {
        scan.notes.push("no static_resources: listeners from LDS are not in this file".into());
        return Ok(scan);
    };
    let cds = get(root, "dynamic_resources").is_some_and(|d| get(d, "cds_config").is_some());
    let defined: Option<Vec<String>> = (!cds)
        .then(|| items(statics, "clusters").iter().filter_map(|c| str_at(c, "name")).map(str::to_string).collect());
    for (li, listener) in items(statics, "listeners").iter().enumerate() {
        let lname = str_at(listener, "name").map_or_else(|| format!("#{li}"), str::to_string);
        let chains = items(listener, "filter_chains");
        let mut all: Vec<(String, &Node<'_>)> = chains
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let at = if chains.len() == 1 {
                    format!("listener {lname}")
                } else {
                    format!("listener {lname}, chain {i}")
                };
                (at, c)
            })
            .collect();
        if let Some(d) = get(listener, "default_filter_chain") {
            all.push((format!("listener {lname}, default chain"), d));
        }
        for (at, chain) in all {
            for f in items(chain, "filters") {
                let Some(hcm) = get(f, "typed_config") else { continue };
                if str_at(hcm, "@type") != Some(HCM_TYPE) && str_at(f, "name") != Some(HCM_NAME) {
                    continue;
                }
                connection_manager(hcm, &at, defined.as_ref(), &mut scan);
            }
        }
    }
    Ok(scan)
}

/// The clusters an HTTP connection manager's routes send to (once each, with the line of the first), and whether
/// some cannot be known from the file (RDS, `cluster_header`).
fn route_clusters(hcm: &Node<'_>) -> (Vec<(String, usize)>, bool) {
    let mut out: Vec<(String, usize)> = Vec::new();
    let mut dynamic = get(hcm, "rds").is_some();
    let mut add = |n: Option<&Node<'_>>| {
        if let Some((name, at)) = n.and_then(|n| Some((n.data.as_str()?, line(n))))
            && !out.iter().any(|(c, _)| c == name)
        {
            out.push((name.to_string(), at));
        }
    };
    let Some(rc) = get(hcm, "route_config") else { return (out, dynamic) };
    for vh in items(rc, "virtual_hosts") {
        for r in items(vh, "routes") {
            let Some(action) = get(r, "route") else { continue };
            add(get(action, "cluster"));
            if let Some(w) = get(action, "weighted_clusters") {
                for c in items(w, "clusters") {
                    add(get(c, "name"));
                }
            }
            dynamic |= get(action, "cluster_header").is_some();
        }
    }
    (out, dynamic)
}

fn connection_manager(hcm: &Node<'_>, at: &str, defined: Option<&Vec<String>>, scan: &mut Scan) {
    let (clusters, dynamic) = route_clusters(hcm);
    if dynamic {
        scan.notes.push(format!("line {}: {at}: some routes come from RDS or a cluster_header", line(hcm)));
    }
    for hf in items(hcm, "http_filters") {
        let name = str_at(hf, "name").unwrap_or("");
        let Some(tc) = get(hf, "typed_config") else {
            if name == WASM_NAME {
                let place = format!("{name} ({at}): no typed_config (ECDS?)");
                scan.skipped.push(Skipped { line: line(hf), place });
            }
            continue;
        };
        if str_at(tc, "@type") != Some(WASM_TYPE) {
            continue;
        }
        let config = get(tc, "config");
        let plugin = config.and_then(|c| str_at(c, "name")).unwrap_or("");
        let names = [
            plugin,
            config.and_then(|c| str_at(c, "root_id")).unwrap_or(""),
            config.and_then(|c| get(c, "vm_config")).and_then(|v| str_at(v, "vm_id")).unwrap_or(""),
            config
                .and_then(|c| get(c, "vm_config"))
                .and_then(|v| get(v, "code"))
                .and_then(|c| get(c, "local"))
                .and_then(|l| str_at(l, "filename"))
                .unwrap_or(""),
        ];
        let place = format!("{name} {plugin} ({at})");
        if !is_faultline(&names) {
            scan.skipped.push(Skipped { line: line(hf), place });
            continue;
        }
        let host_services = HostServices::Clusters { clusters: clusters.clone(), dynamic, defined: defined.cloned() };
        scan.found.push(plugin_config(config.unwrap_or(tc), place, host_services));
    }
}

/// The `configuration` of a wasm filter's `config`: a `StringValue` whose `value` is the filter's JSON.
fn plugin_config(config: &Node<'_>, place: String, host_services: HostServices) -> Found {
    let found =
        |line, text, problem| Found { line, place: place.clone(), text, problem, host_services: host_services.clone() };
    let Some(c) = get(config, "configuration") else {
        // No configuration: the filter is handed an empty one, which it refuses.
        return found(line(config), Some(String::new()), None);
    };
    match str_at(c, "@type") {
        Some(STRING_VALUE) => {}
        other => {
            let why = format!("`@type` is {other:?}: the filter reads a {STRING_VALUE} holding its JSON");
            return found(line(c), None, Some(("configuration".into(), why)));
        }
    }
    match get(c, "value") {
        Some(v) => match v.data.as_str() {
            Some(text) => found(line(v), Some(text.to_string()), None),
            None => {
                let why = "must be a string holding the JSON (quote it, or use a `|` block)".to_string();
                found(line(v), None, Some(("configuration.value".into(), why)))
            }
        },
        None => found(line(c), Some(String::new()), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: &str = r#"static_resources:
  listeners:
    - name: edge
      filter_chains:
        - filters:
            - name: envoy.filters.network.http_connection_manager
              typed_config:
                # No "@type": the filter's name alone marks a connection manager.
                route_config:
                  virtual_hosts:
                    - routes:
                        - route: { cluster: be }
                        - route:
                            weighted_clusters: { clusters: [{ name: ai }, { name: be }] }
                http_filters:
                  - name: envoy.filters.http.wasm
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm
                      config:
                        name: faultline
                        configuration:
                          "@type": type.googleapis.com/google.protobuf.StringValue
                          value: |
                            {"proxy_id": "p"}
                  - name: other
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm
                      config: { name: other, configuration: { value: "x" } }
  clusters:
    - name: be
"#;

    #[test]
    fn finds_the_faultline_filter_its_value_line_and_route_clusters() {
        let scan = scan(SRC).unwrap();
        assert_eq!(scan.found.len(), 1, "{scan:?}");
        let f = &scan.found[0];
        assert_eq!(f.line, 24);
        assert_eq!(f.text.as_deref(), Some("{\"proxy_id\": \"p\"}\n"));
        assert_eq!(f.place, "envoy.filters.http.wasm faultline (listener edge)");
        let HostServices::Clusters { clusters, dynamic, defined } = &f.host_services else { panic!() };
        assert_eq!(clusters, &[("be".to_string(), 12), ("ai".to_string(), 14)]);
        assert!(!dynamic);
        assert_eq!(defined.as_deref(), Some(&["be".to_string()][..]));
        assert_eq!(scan.skipped.len(), 1);
    }

    #[test]
    fn a_yaml_error_has_its_line() {
        let e = scan("a:\n  b: [1\nc: 2\n").unwrap_err();
        assert!(e.line >= 2 && e.message.starts_with("not YAML"), "{e:?}");
    }
}
