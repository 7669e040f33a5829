use super::*;

const COLLECTOR: &str = r#"
[[tokens]]
token = "token-01"
proxies = ["edge-1"]

[[tokens]]
token = "any-proxy-token"

[webhooks]
default = "https://discord.com/api/webhooks/123/tok-abc"

[[services]]
name = "be"

[[services]]
name = "ai"
"#;

fn collector() -> Config {
    Config::parse(Path::new("faultline.toml"), COLLECTOR).unwrap()
}

const NGINX: &str = r#"wasm { module faultline /opt/faultline_filter.wasm; shm_kv faultline 1m; }
http {
    server {
        location /server/ {
proxy_wasm faultline '{"proxy_id":"edge-1","service":"be","collector":{"upstream":"127.0.0.1:1","token":"token-01"}}';
        }
        location /ai/ {
            proxy_wasm faultline '{
                "proxy_id": "edge-1",
                "service": "ai",
                "collector": {"upstream": "127.0.0.1:7070", "token": "token-01"}
            }';
        }
    }
}
"#;

fn nginx(src: &str, col: Option<&Config>) -> Report {
    check_text("nginx.conf", src, col).unwrap()
}

#[test]
fn the_shape_passes_with_and_without_the_collector() {
    for col in [None, Some(&collector())] {
        let r = nginx(NGINX, col);
        assert!(r.problems.is_empty(), "{:?}", r.problems);
        assert_eq!(r.checked.len(), 2);
        let s = r.summary();
        assert!(s.starts_with("nginx.conf: read as an nginx configuration (by its extension .conf)\n"), "{s}");
        assert!(
            s.contains("nginx.conf:5: proxy_wasm faultline (location /server/): service \"be\", proxy_id \"edge-1\"")
        );
        assert!(s.contains("nginx.conf:8: proxy_wasm faultline (location /ai/): service \"ai\""), "{s}");
        assert!(
            s.ends_with("2 Faultline configurations OK (tokens and services checked against faultline.toml)\n")
                || col.is_none()
        );
        assert!(!s.contains("token-01"), "{s}");
    }
}

#[test]
fn a_key_in_a_multi_line_configuration_is_reported_on_its_own_line() {
    let r = nginx(&NGINX.replace("\"service\": \"ai\",", "\"service\": \"ai\", \"colour\": 1,"), None);
    assert_eq!(r.problems.len(), 1);
    assert_eq!(r.problems[0].to_string(), "nginx.conf:10: proxy_wasm faultline (location /ai/): unknown key `colour`");
    assert_eq!(r.problems[0].key.as_deref(), Some("colour"));
    // A syntax error points at its byte's line, too.
    let r = nginx(&NGINX.replace("\"service\": \"ai\",", "\"service\": \"ai\" ,,"), None);
    assert_eq!(r.problems[0].line, 10, "{}", r.problems[0]);
    assert!(r.problems[0].message.contains("not valid JSON"), "{}", r.problems[0]);
}

#[test]
fn the_collector_refuses_unknown_tokens_foreign_proxies_and_unknown_services() {
    let col = collector();
    let r = nginx(&NGINX.replacen("token-01", "wrong-token-9", 1), Some(&col));
    assert_eq!(r.problems.len(), 1);
    let p = &r.problems[0];
    assert_eq!((p.line, p.key.as_deref()), (5, Some("collector.token")));
    assert!(p.message.contains("not one of the [[tokens]] of faultline.toml") && !p.message.contains("wrong"));

    let r = nginx(&NGINX.replacen("edge-1", "edge-9", 1), Some(&col));
    assert_eq!(r.problems[0].key.as_deref(), Some("proxy_id"));
    assert!(r.problems[0].message.contains("\"edge-9\" is not in `proxies`"), "{}", r.problems[0]);
    // The unbound token may flush for any proxy.
    let any = NGINX.replacen("edge-1", "edge-9", 1).replacen("token-01", "any-proxy-token", 1);
    assert!(nginx(&any, Some(&col)).problems.is_empty());

    let r = nginx(&NGINX.replace("\"service\": \"ai\"", "\"service\": \"payments\""), Some(&col));
    assert_eq!(r.problems.len(), 1);
    assert_eq!(
        r.problems[0].to_string(),
        "nginx.conf:10: proxy_wasm faultline (location /ai/): `service` \"payments\" is not a [[services]] name of \
         faultline.toml (known: \"be\", \"ai\")"
    );
}

#[test]
fn nginx_without_service_counts_as_default_service() {
    let src = NGINX.replace("\"service\":\"be\",", "");
    let r = nginx(&src, None);
    assert!(r.summary().contains("service \"unknown\" (default_service)"), "{}", r.summary());
    let r = nginx(&src, Some(&collector()));
    assert_eq!(r.problems[0].key.as_deref(), Some("default_service"));
}

const ENVOY: &str = r#"static_resources:
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
                        - route: { cluster: ai }
                http_filters:
                  - name: envoy.filters.http.wasm
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm
                      config:
                        name: faultline
                        configuration:
                          "@type": type.googleapis.com/google.protobuf.StringValue
                          value: |
                            {
                              "proxy_id": "edge-1",
                              "collector": {
                                "upstream": "faultline_collector",
                                "token": "token-01"
                              }
                            }
  clusters:
    - name: be
    - name: ai
    - name: faultline_collector
"#;

fn envoy(src: &str, col: Option<&Config>) -> Report {
    check_text("envoy.yaml", src, col).unwrap()
}

#[test]
fn envoy_services_are_the_route_clusters() {
    let r = envoy(ENVOY, Some(&collector()));
    assert!(r.problems.is_empty(), "{:?}", r.problems);
    let s = r.summary();
    assert!(
        s.contains(
            "envoy.yaml:23: envoy.filters.http.wasm faultline (listener edge): services \"be\", \"ai\" (route \
             clusters), proxy_id \"edge-1\""
        ),
        "{s}"
    );
    let r = envoy(
        &ENVOY.replace("cluster: ai", "cluster: payments").replace("name: ai", "name: payments"),
        Some(&collector()),
    );
    assert_eq!(r.problems.len(), 1);
    let p = &r.problems[0];
    assert_eq!((p.line, p.key.as_deref()), (13, Some("cluster")), "{p}");
    assert!(p.message.starts_with("cluster `payments` (a route sends there"), "{p}");
    assert!(p.message.ends_with("(known: \"be\", \"ai\")"), "{p}");
}

#[test]
fn envoy_keys_are_located_in_the_block_and_the_upstream_must_be_a_cluster() {
    let r = envoy(&ENVOY.replace("\"token\": \"token-01\"", "\"token\": \"token-01\", \"colour\": 1"), None);
    assert_eq!(
        r.problems[0].to_string(),
        "envoy.yaml:27: envoy.filters.http.wasm faultline (listener edge): unknown key `collector.colour`"
    );
    let r = envoy(&ENVOY.replace("\"upstream\": \"faultline_collector\"", "\"upstream\": \"collector\""), None);
    assert_eq!(r.problems[0].line, 26);
    assert!(r.problems[0].message.contains("`collector.upstream` \"collector\" is not a cluster of this file"));
    let r = envoy(&ENVOY.replace("google.protobuf.StringValue", "google.protobuf.Struct"), None);
    assert_eq!((r.problems[0].line, r.problems[0].key.as_deref()), (21, Some("configuration")));
}

#[test]
fn a_file_without_faultline_is_an_error_and_syntax_errors_have_lines() {
    let e = check_text("x.conf", "http { proxy_wasm other '{}'; }", None).unwrap_err();
    assert!(e.to_string().starts_with("x.conf: no Faultline plugin configuration found"), "{e}");
    assert!(e.to_string().contains("proxy_wasm other (http) is not Faultline's"), "{e}");
    let e = check_text("x.conf", "http {\n proxy_wasm faultline '{}';\n", None).unwrap_err();
    assert_eq!(e.to_string(), "x.conf:2: nginx configuration: unexpected end of file inside a block");
}

#[test]
fn the_kind_comes_from_the_extension_else_the_content() {
    assert_eq!(detect("a/nginx.conf", "").0, Kind::Nginx);
    assert_eq!(detect("envoy.yml", "").0, Kind::Envoy);
    assert_eq!(detect("edge", "# c\n\nadmin:\n  x: 1\n").0, Kind::Envoy);
    assert_eq!(detect("edge", "{\"admin\": {}}").0, Kind::Envoy);
    assert_eq!(detect("edge", "# c\nworker_processes 2;\n").0, Kind::Nginx);
}

#[test]
fn offsets_and_lines() {
    let t = "{\n \"collector\": {\n  \"token\": 1,\n  \"x\": \"token\"\n }\n}";
    assert_eq!(key_offset(t, "collector.token"), t.find("\"token\""));
    assert_eq!(key_offset(t, "collector.missing"), t.find("\"collector\""));
    assert_eq!(key_offset(t, "missing"), None);
    assert_eq!(syntax_offset(&FilterError::Syntax("expected ':' at byte 12".into())), Some(12));
    assert_eq!(syntax_offset(&FilterError::Syntax("duplicate key `a` before byte 7".into())), Some(7));
    assert_eq!(syntax_offset(&FilterError::Empty), None);
    let lines = ["x '{", " \"collector\": {", "  \"token\": 1,"];
    assert_eq!(locate(&lines, 1, t, key_offset(t, "collector.token")), 3);
    // A text that does not map onto the file (folded) stays on its first line.
    assert_eq!(locate(&["x"; 3], 1, t, key_offset(t, "collector.token")), 1);
}
