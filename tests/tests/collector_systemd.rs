//! The shipped systemd unit and example configuration: `systemd-analyze verify` accepts the
//! unit where systemd-analyze exists (pointed at the built binary); its hardening and
//! state directory are checked structurally everywhere; the example config validates.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

mod collector_support;

use collector_support::*;
use std::process::Command;

fn unit() -> String {
    std::fs::read_to_string(
        faultline_tests::paths::workspace_root().join("collector/systemd/faultline-collector.service"),
    )
    .unwrap()
}

#[test]
fn the_unit_has_its_own_user_state_directory_and_hardening() {
    let u = unit();
    let has = |line: &str| u.lines().any(|l| l.trim() == line);
    for line in [
        "[Unit]",
        "[Service]",
        "[Install]",
        "DynamicUser=yes",
        "StateDirectory=faultline-collector",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "KillSignal=SIGTERM",
        "WantedBy=multi-user.target",
    ] {
        assert!(has(line), "the unit lacks {line:?}");
    }
    assert!(u.lines().any(|l| l.starts_with("ExecStart=/usr/local/bin/faultline-collector run --config ")));
    assert!(u.lines().any(|l| l.starts_with("ExecStartPre=/usr/local/bin/faultline-collector check-config ")));
    // The example config's state_dir is the unit's StateDirectory.
    let example =
        std::fs::read_to_string(faultline_tests::paths::workspace_root().join("collector/faultline.example.toml"))
            .unwrap();
    assert!(example.contains("state_dir = \"/var/lib/faultline-collector\""));
}

#[test]
fn systemd_analyze_verify_accepts_the_unit_where_available() {
    let available =
        Command::new("systemd-analyze").arg("--version").output().map(|o| o.status.success()).unwrap_or(false);
    if !available {
        // No systemd-analyze in this container: the structural test above is the check.
        the_unit_has_its_own_user_state_directory_and_hardening();
        return;
    }
    let dir = scratch("systemd");
    let rendered = unit().replace("/usr/local/bin/faultline-collector", &bin().display().to_string());
    let path = dir.join("faultline-collector.service");
    std::fs::write(&path, rendered).unwrap();
    let out = Command::new("systemd-analyze").arg("verify").arg(&path).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "systemd-analyze verify: {err}");
    assert!(!err.contains("faultline-collector.service:"), "warnings about the unit: {err}");
}

#[test]
fn the_example_config_is_valid() {
    let path = faultline_tests::paths::workspace_root().join("collector/faultline.example.toml");
    let out = Command::new(bin()).arg("check-config").arg(&path).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    for s in ["name = \"frontend\"", "name = \"be\"", "name = \"ai\"", "/actuator/health", "127.0.0.1:8000/health"] {
        assert!(text.contains(s), "{s} missing from {text}");
    }
    assert!(!text.contains("replace-with-the-webhook-token") && !text.contains("change-me-edge-token"));
}
