use super::*;

const OK: &str = r#"
state_dir = "/tmp/x"
[[tokens]]
token = "secret-token-1"
proxies = ["edge-1"]

[webhooks]
default = "https://discord.com/api/webhooks/123/tok-abc"
be = "https://discord.com/api/webhooks/456/tok-def"

[[services]]
name = "frontend"
health_url = "http://127.0.0.1:3000/"

[[services]]
name = "be"
health_url = "http://127.0.0.1:8080/actuator/health"
interval = "5s"
timeout = "10s"
webhook = "be"
"#;

fn parse(src: &str) -> Result<Config, ConfigError> {
    Config::parse(Path::new("faultline.toml"), src)
}

#[test]
fn timeout_not_below_interval_names_file_line_and_key() {
    let e = parse(OK).unwrap_err();
    assert_eq!(e.to_string(), "faultline.toml:19: services[1].timeout: 10s must be below the interval (5s)");
}

#[test]
fn defaults_are_the_issues() {
    let c = parse(&OK.replace("timeout = \"10s\"", "timeout = \"2s\"")).unwrap();
    assert_eq!(c.listen.to_string(), "127.0.0.1:7070");
    assert_eq!(c.window, Duration::from_secs(300));
    assert_eq!(c.bucket, Duration::from_secs(5));
    assert_eq!((c.defaults.warning_bp, c.defaults.critical_bp, c.defaults.min_requests), (500, 1000, 100));
    assert_eq!(c.reminder, Duration::from_secs(1800));
    let fe = c.service("frontend").unwrap();
    let h = fe.health.as_ref().unwrap();
    assert_eq!((h.interval, h.timeout), (Duration::from_secs(60), Duration::from_secs(5)));
    assert_eq!((h.failures_before_down, h.successes_before_up), (1, 1));
    assert!(h.expect.accepts(204) && !h.expect.accepts(301));
    assert_eq!(fe.webhook, "default");
    assert_eq!(c.webhook_for("be"), "be");
    assert_eq!(c.webhook_for("not-configured"), "default");
}

#[test]
fn unknown_keys_and_bad_types_are_located() {
    let e = parse(&OK.replace("name = \"frontend\"", "name = \"frontend\"\ncolour = 1")).unwrap_err();
    assert_eq!((e.line, e.key.as_str()), (13, "services[0].colour"));
    assert!(e.message.contains("unknown field"), "{e}");
    let e = parse(&OK.replace("interval = \"5s\"", "interval = 5")).unwrap_err();
    assert_eq!((e.line, e.key.as_str()), (18, "services[1].interval"), "{e}");
    let e = parse(&OK.replace("interval = \"5s\"", "interval = \"soon\"")).unwrap_err();
    assert!(e.to_string().starts_with("faultline.toml:18: services[1].interval: \"soon\" is not a duration"), "{e}");
}

#[test]
fn thresholds_and_references_are_checked() {
    let fixed = OK.replace("timeout = \"10s\"", "timeout = \"2s\"");
    let e = parse(&fixed.replace("webhook = \"be\"", "webhook = \"ops\"")).unwrap_err();
    assert_eq!(e.key, "services[1].webhook");
    let e = parse(&fixed.replace("webhook = \"be\"", "warning = 12\ncritical = 10")).unwrap_err();
    assert_eq!(e.key, "services[1].warning");
    let e = parse(&format!("warning = 0\n{fixed}")).unwrap_err();
    assert_eq!((e.line, e.key.as_str()), (1, "warning"));
    let c = parse(&format!("warning = 4.99\ncritical = 9.99\n{fixed}")).unwrap();
    assert_eq!((c.defaults.warning_bp, c.defaults.critical_bp), (499, 999));
    let e =
        parse(&fixed.replace("[[tokens]]\ntoken = \"secret-token-1\"", "[[tokens]]\ntoken = \"short\"")).unwrap_err();
    assert_eq!(e.key, "tokens[0].token");
    let e = parse(&format!("window = \"5m\"\nbucket = \"7s\"\n{fixed}")).unwrap_err();
    assert_eq!((e.line, e.key.as_str()), (2, "bucket"));
    let e = parse(&format!("window = \"3s\"\n{fixed}")).unwrap_err();
    assert_eq!((e.line, e.key.as_str()), (1, "window"), "the default 5 s bucket is above a 3 s window");
    let e = parse(&format!("warning = 0.001\n{fixed}")).unwrap_err();
    assert!(e.message.contains("0.01"), "{e}");
    assert!(parse(&format!("clear_below = 0.3\n{fixed}")).is_err());
    let e = parse(&format!("reminder = \"100000000y\"\n{fixed}")).unwrap_err();
    assert_eq!(e.key, "reminder");
    // The fast burn: a multiple of the bucket within the window, above CRITICAL; "0s" turns it off.
    let e = parse(&format!("window = \"5m\"\nfast_window = \"7s\"\n{fixed}")).unwrap_err();
    assert_eq!((e.line, e.key.as_str()), (2, "fast_window"), "{e}");
    let e = parse(&format!("fast_critical = 10\n{fixed}")).unwrap_err();
    assert_eq!((e.line, e.key.as_str()), (1, "fast_critical"), "{e}");
    assert!(!parse(&format!("fast_window = \"0s\"\n{fixed}")).unwrap().fast.enabled());
    let d = parse(&fixed).unwrap().fast;
    assert_eq!((d.window, d.critical_bp, d.min_requests), (Duration::from_secs(10), 5_000, 20));
    // The passive DOWN: defaults, off with 0, per service, its span checked like the fast window.
    let c = parse(&fixed).unwrap();
    let p = c.passive_down;
    assert_eq!((p.share_bp, p.min, p.span), (8_000, 10, Duration::from_secs(10)));
    assert!(!parse(&format!("down_unreachable = 0\n{fixed}")).unwrap().passive_down.enabled());
    let e = parse(&format!("down_span = \"3s\"\n{fixed}")).unwrap_err();
    assert_eq!((e.line, e.key.as_str()), (1, "down_span"), "{e}");
    let own = fixed.replace(
        "health_url = \"http://127.0.0.1:3000/\"",
        "health_url = \"http://127.0.0.1:3000/\"\ndown_unreachable = 0",
    );
    let c = parse(&own).unwrap();
    let name = c.services[0].name.clone();
    assert!(!c.passive_down(&name).enabled() && c.passive_down("other").enabled(), "per service");
    let e = parse(&fixed.replace(
        "health_url = \"http://127.0.0.1:3000/\"",
        "health_url = \"http://127.0.0.1:3000/\"\nlink = \"https://x/{nope}\"",
    ))
    .unwrap_err();
    assert!(e.message.contains("{nope}"), "{e}");
    let requests = fixed.replace(
        "health_url = \"http://127.0.0.1:3000/\"",
        "health_url = \"http://127.0.0.1:3000/\"\nlink = \"https://x/?q={request_id}&r={route}&p={path}\"",
    );
    assert!(parse(&requests).unwrap().services[0].link.as_deref().unwrap().contains("{request_id}"));
    let e = parse(&fixed.replace(
        "health_url = \"http://127.0.0.1:3000/\"",
        "health_url = \"http://127.0.0.1:3000/\"\nexpect_status = \"7xx\"",
    ))
    .unwrap_err();
    assert_eq!(e.key, "services[0].expect_status");
    let e = parse(&fixed.replace("[webhooks]\ndefault", "[webhooks]\nother")).unwrap_err();
    assert_eq!(e.key, "webhooks.default");
}

#[test]
fn webhooks_go_to_v10_with_wait_and_are_masked() {
    let w = normalize_webhook("https://discord.com/api/webhooks/123/tok-abc").unwrap();
    assert_eq!(w.url, "https://discord.com/api/v10/webhooks/123/tok-abc?wait=true");
    assert_eq!(w.masked, "https://discord.com/api/v10/webhooks/123/****");
    let w = normalize_webhook("http://127.0.0.1:9/api/v9/webhooks/5/t").unwrap();
    assert_eq!(w.url, "http://127.0.0.1:9/api/v10/webhooks/5/t?wait=true");
    assert!(normalize_webhook("https://example.com/hook").is_err());
    assert!(normalize_webhook("https://discord.com/api/webhooks/abc/t").is_err());
}

#[test]
fn effective_config_masks_secrets() {
    let c = parse(&OK.replace("timeout = \"10s\"", "timeout = \"2s\"")).unwrap();
    let out = c.masked_toml();
    assert!(!out.contains("secret-token-1") && !out.contains("tok-abc") && !out.contains("tok-def"), "{out}");
    assert!(out.contains("webhooks/123/****") && out.contains("token = \"****\""), "{out}");
    assert!(out.contains("interval = \"1m\""), "{out}");
    assert!(!format!("{c:?}").contains("tok-abc"));
}

#[test]
fn status_token_and_history_have_defaults_and_are_checked() {
    let fixed = OK.replace("timeout = \"10s\"", "timeout = \"2s\"");
    let c = parse(&fixed).unwrap();
    assert_eq!(c.history, HistoryConfig { retention: Duration::from_secs(7 * 86_400), max_rows: DEFAULT_MAX_ROWS });
    assert!(c.status_open(), "loopback without status_token: open");
    assert!(!c.status_token_matches("secret-token-1") || c.status_token.is_none());
    let c = parse(&format!("listen = \"0.0.0.0:7070\"\n{fixed}")).unwrap();
    assert!(!c.status_open(), "beyond loopback a token is needed");
    assert!(
        c.status_token_matches("secret-token-1") && !c.status_token_matches("secret-token-2"),
        "any ingest token without status_token"
    );
    let c =
        parse(&format!("status_token = \"page-token-9\"\n{fixed}\n[history]\nretention = \"2d\"\nmax_rows = 5000\n"))
            .unwrap();
    assert!(!c.status_open(), "a configured status_token is always required");
    assert!(c.status_token_matches("page-token-9") && !c.status_token_matches("secret-token-1"));
    assert_eq!(c.history, HistoryConfig { retention: Duration::from_secs(2 * 86_400), max_rows: 5000 });
    let out = c.masked_toml();
    assert!(
        !out.contains("page-token-9")
            && out.contains("status_token = \"****\"")
            && out.contains("retention = \"2days\""),
        "{out}"
    );
    assert!(!format!("{c:?}").contains("page-token-9"));
    // The effective configuration reads back as the same configuration (secrets re-entered).
    let back = parse(&out.replace("\"****\"", "\"re-entered-token\"").replace("/****\"", "/re-entered\"")).unwrap();
    assert_eq!(back.masked_toml(), out);
    let c204 = parse(&fixed.replace(
        "health_url = \"http://127.0.0.1:3000/\"",
        "health_url = \"http://127.0.0.1:3000/\"\nexpect_status = [200, 204]",
    ))
    .unwrap();
    assert!(c204.masked_toml().contains("expect_status = [200, 204]"), "{}", c204.masked_toml());
    let e = parse(&format!("status_token = \"short\"\n{fixed}")).unwrap_err();
    assert_eq!((e.line, e.key.as_str()), (1, "status_token"));
    let e = parse(&format!("{fixed}\n[history]\nretention = \"30s\"\n")).unwrap_err();
    assert_eq!(e.key, "history.retention");
    let e = parse(&format!("{fixed}\n[history]\nmax_rows = 10\n")).unwrap_err();
    assert_eq!(e.key, "history.max_rows");
}
