use crate::config::{Config, ConfigError, MaintenanceWhen};
use std::path::Path;
use std::time::Duration;

const BASE: &str = "state_dir = \"/tmp/x\"\n[[tokens]]\ntoken = \"secret-token-1\"\n\
    [webhooks]\ndefault = \"https://discord.com/api/webhooks/123/tok-abc\"\n\
    ops = \"https://discord.com/api/webhooks/456/tok-def?thread_id=789\"\n\
    [[services]]\nname = \"be\"\n";

fn parse(extra: &str) -> Result<Config, ConfigError> {
    Config::parse(Path::new("faultline.toml"), &format!("{BASE}{extra}"))
}

fn err(extra: &str) -> String {
    parse(extra).unwrap_err().to_string()
}

#[test]
fn defaults_group_for_10_s_without_quiet_hours_or_maintenance() {
    let c = parse("").unwrap();
    let n = c.notify_for("default");
    assert_eq!((n.group_wait, n.quiet_hours.is_none()), (Duration::from_secs(10), true));
    assert!(c.maintenance.is_empty() && c.operator_token.is_none());
    assert!(!c.operator_token_matches(""), "no operator token: nothing opens the API");
    assert!(c.webhooks["ops"].url.ends_with("/api/v10/webhooks/456/tok-def?wait=true&thread_id=789"));
}

#[test]
fn notify_and_maintenance_are_read() {
    let c = parse(
        "[notify.ops]\ngroup_wait = \"0s\"\n\
         quiet_hours = { start = \"22:00\", end = \"07:30\", time_zone = \"Europe/Berlin\" }\n\
         [[maintenance]]\nname = \"backup\"\nservices = [\"be\"]\nweekdays = [\"sat\", \"Sunday\"]\nstart = \"02:00\"\n\
         duration = \"2h\"\ntime_zone = \"UTC\"\n\
         [[maintenance]]\nfrom = \"2025-12-01T22:00:00Z\"\nuntil = \"2025-12-02T01:00:00+01:00\"\n",
    )
    .unwrap();
    let ops = c.notify_for("ops");
    assert_eq!(ops.group_wait, Duration::ZERO);
    let q = ops.quiet_hours.unwrap();
    assert_eq!(
        (q.start.to_string(), q.end.to_string(), q.zone.name.as_str()),
        ("22:00".into(), "07:30".into(), "Europe/Berlin")
    );
    assert_eq!(c.maintenance.len(), 2);
    match &c.maintenance[0].when {
        MaintenanceWhen::Weekly { days, duration, .. } => {
            assert_eq!(*days, [false, false, false, false, false, true, true]);
            assert_eq!(*duration, Duration::from_secs(7200));
        }
        other => panic!("{other:?}"),
    }
    assert!(c.maintenance[0].covers("be") && !c.maintenance[0].covers("ai"));
    assert!(c.maintenance[1].covers("anything"));
    assert!(matches!(
        c.maintenance[1].when,
        MaintenanceWhen::Once { from_ms: 1_764_626_400_000, until_ms: 1_764_633_600_000 }
    ));
    let shown = c.masked_toml();
    assert!(shown.contains("[notify.\"ops\"]\ngroup_wait = \"0s\""), "{shown}");
    assert!(shown.contains("weekdays = [\"sat\", \"sun\"]"), "{shown}");
    assert!(shown.contains("from = \"2025-12-01T22:00:00Z\""), "{shown}");
}

#[test]
fn bad_values_name_file_line_and_key() {
    assert_eq!(
        err("[notify.nope]\ngroup_wait = \"1s\"\n"),
        "faultline.toml:10: notify.nope: no webhook \"nope\" in [webhooks]"
    );
    assert!(
        err("[notify.default]\ngroup_wait = \"11m\"\n").starts_with("faultline.toml:10: notify.default.group_wait:")
    );
    let e = err("[notify.default]\nquiet_hours = { start = \"25:00\", end = \"07:00\", time_zone = \"UTC\" }\n");
    assert!(
        e.starts_with("faultline.toml:10: notify.default.quiet_hours.start: \"25:00\" is not a time of day"),
        "{e}"
    );
    let e =
        err("[notify.default]\nquiet_hours = { start = \"22:00\", end = \"07:00\", time_zone = \"Mars/Olympus\" }\n");
    assert!(e.contains("notify.default.quiet_hours.time_zone: \"Mars/Olympus\" is not an IANA time zone"), "{e}");
    let e = err("[[maintenance]]\nweekdays = [\"sat\"]\nstart = \"02:00\"\nduration = \"-1h\"\ntime_zone = \"UTC\"\n");
    assert!(e.starts_with("faultline.toml:12: maintenance[0].duration:"), "{e}");
    let e =
        err("[[maintenance]]\nweekdays = [\"caturday\"]\nstart = \"02:00\"\nduration = \"1h\"\ntime_zone = \"UTC\"\n");
    assert!(e.contains("maintenance[0].weekdays: \"caturday\" is not a weekday"), "{e}");
    let e = err("[[maintenance]]\nfrom = \"2025-12-02T00:00:00Z\"\nuntil = \"2025-12-01T00:00:00Z\"\n");
    assert_eq!(e, "faultline.toml:11: maintenance[0].until: must be after from");
    let e = err("[[maintenance]]\nfrom = \"2025-12-02 00:00\"\nuntil = \"2025-12-03T00:00:00Z\"\n");
    assert!(
        e.starts_with("faultline.toml:10: maintenance[0].from: \"2025-12-02 00:00\" is not an RFC 3339 time"),
        "{e}"
    );
    let e = err(
        "[[maintenance]]\nservices = [\"ghost\"]\nfrom = \"2025-12-02T00:00:00Z\"\nuntil = \"2025-12-03T00:00:00Z\"\n",
    );
    assert!(e.contains("maintenance[0].services: no service \"ghost\""), "{e}");
    let e = err("[[maintenance]]\nname = \"half\"\nweekdays = [\"sat\"]\nfrom = \"2025-12-02T00:00:00Z\"\n");
    assert!(e.contains("maintenance[0]: either a weekly window"), "{e}");
    let e = err("[[maintenance]]\nname = \"nothing\"\n");
    assert!(e.contains("maintenance[0]: needs weekdays"), "{e}");
}

#[test]
fn the_operator_token_is_long_and_its_own() {
    let e = Config::parse(Path::new("f.toml"), &format!("operator_token = \"short\"\n{BASE}")).unwrap_err();
    assert_eq!((e.line, e.key.as_str()), (1, "operator_token"));
    let e = Config::parse(
        Path::new("f.toml"),
        &format!("operator_token = \"secret-token-1-long\"\nstatus_token = \"secret-token-1-long\"\n{BASE}"),
    )
    .unwrap_err();
    assert!(e.message.contains("must differ"), "{e}");
    let c = Config::parse(Path::new("f.toml"), &format!("operator_token = \"operator-token-0001\"\n{BASE}")).unwrap();
    assert!(c.operator_token_matches("operator-token-0001") && !c.operator_token_matches("secret-token-1"));
    assert!(c.masked_toml().contains("operator_token = \"****\"") && !c.masked_toml().contains("operator-token-0001"));
}
