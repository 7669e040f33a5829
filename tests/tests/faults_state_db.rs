//! The collector's state database on a small tmpfs that the test fills up (disk full), or made read-only
//! (`chattr +i` on the database and its WAL, which ext4 enforces even on open files):
//! the collector keeps alerting from memory (alerts raised while the database cannot be written still reach
//! Discord), says so loudly (an error log line and `/healthz`: `database_ok: false`, `degraded`), and catches
//! up once the database is writable again (alerts recorded as delivered without being sent twice, counts
//! persisted: a kill -9 right after loses nothing and repeats no alert). Needs root for `mount` and `chattr`
//! (the tests fail, saying so, without it).

#![cfg(test)]

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use faultline_tests::discord::{FakeDiscord, Reply};
use faultline_tests::faults::SimProxy;
use faultline_tests::process::{free_port, wait_until};
use faultline_tests::stack::{self, Collector, classify};
use serde_json::Value;

const TOKEN: &str = "fault-db-token-c0ffee";
const LONG: Duration = Duration::from_secs(60);

/// A tmpfs mounted for the test, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(at).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .output()
            .unwrap();
        assert!(out.status.success(), "mount -t tmpfs needs root: {}", String::from_utf8_lossy(&out.stderr));
        Tmpfs(at.to_path_buf())
    }

    /// Fills the filesystem with a file until it is full.
    fn fill(&self) -> PathBuf {
        let path = self.0.join("filler");
        let mut f = std::fs::File::create(&path).unwrap();
        let block = vec![0u8; 64 * 1024];
        while f.write_all(&block).is_ok() {}
        let _ = f.sync_all();
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn healthz(c: &Collector) -> Value {
    c.healthz().unwrap()
}

/// Flushes from the proxy every 100 ms for `secs`, `per_mille` of `service`'s answers 5xx (others clean).
fn traffic(p: &mut SimProxy, c: &Collector, service: &str, per_mille: u64, secs: u64) {
    for _ in 0..secs * 10 {
        for s in ["be", "ai"] {
            let bad = if s == service { per_mille * 50 / 1000 } else { 0 };
            p.count(s, 50, bad, &format!("GET /{s}/x"));
        }
        assert_eq!(p.send(c.addr()).unwrap(), 200);
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn titles(discord: &FakeDiscord) -> Vec<String> {
    discord.messages(1).iter().map(classify).collect()
}

fn wait_titles(discord: &FakeDiscord, c: &Collector, want: &[&str]) {
    let ok = wait_until(LONG, || (titles(discord) == want).then_some(()));
    assert!(ok.is_some(), "alerts {:?}, expected {want:?}\n{}", titles(discord), c.log());
}

fn check_totals(p: &SimProxy, c: &Collector) {
    let status = c.status().unwrap();
    for s in ["be", "ai"] {
        assert_eq!(stack::service_totals(&status, s), p.totals(s), "{s} totals");
    }
}

/// How the test takes the database's writes away, and gives them back.
enum Fault {
    /// A tmpfs filled to the last byte.
    DiskFull(Tmpfs),
    /// `chattr +i` on the database and its WAL (ext4 refuses writes even through open files; root only).
    ReadOnly(PathBuf),
}

impl Fault {
    fn state_dir(&self) -> &Path {
        match self {
            Fault::DiskFull(fs) => &fs.0,
            Fault::ReadOnly(dir) => dir,
        }
    }

    fn set(&self, on: bool) {
        match self {
            Fault::DiskFull(fs) if on => {
                fs.fill();
            }
            Fault::DiskFull(fs) => std::fs::remove_file(fs.0.join("filler")).unwrap(),
            Fault::ReadOnly(dir) => {
                for f in ["faultline.db", "faultline.db-wal"] {
                    let out =
                        Command::new("chattr").arg(if on { "+i" } else { "-i" }).arg(dir.join(f)).output().unwrap();
                    assert!(
                        out.status.success(),
                        "chattr {f} needs root on ext4: {}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                }
            }
        }
    }
}

impl Drop for Fault {
    fn drop(&mut self) {
        if let Fault::ReadOnly(dir) = self {
            for f in ["faultline.db", "faultline.db-wal"] {
                let _ = Command::new("chattr").arg("-i").arg(dir.join(f)).status();
            }
        }
    }
}

/// Normal → writes fail (ai starts failing, be recovers: both told from memory, loudly reported) → writes
/// work again (caught up: recorded as delivered, nothing sent twice) → kill -9 and restart (counts exact, no
/// alert repeated).
fn keeps_alerting_and_catches_up(name: &str, fault: impl FnOnce(&Path) -> Fault) {
    let discord = FakeDiscord::start().unwrap();
    let dir = Collector::workdir(name).unwrap();
    let fault = fault(&dir.join("state"));
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port().unwrap()));
    let toml = format!(
        "listen = \"{addr}\"\nstate_dir = \"{}\"\nwindow = \"4s\"\nbucket = \"1s\"\n\
         min_requests = 40\nreminder = \"0s\"\n\n\
         [[tokens]]\ntoken = \"{TOKEN}\"\n\n[notify.default]\ngroup_wait = \"0s\"\n\n[webhooks]\ndefault = \"{}\"\n\n\
         [delivery]\ntimeout = \"3s\"\nmax_backoff = \"1s\"\n",
        fault.state_dir().display(),
        discord.webhook_url(1, "db-hook")
    );
    let mut c = Collector::start(&dir, &toml, addr).unwrap();
    let mut p = SimProxy::new("edge-db", "boot-db", TOKEN);

    // Normal: be fails, pages, is recorded.
    traffic(&mut p, &c, "be", 200, 2);
    wait_titles(&discord, &c, &["be CRITICAL"]);
    c.wait_for_outbox_empty(LONG).unwrap();
    assert_eq!(healthz(&c)["database_ok"], true);

    // Writes fail while an alert is being delivered (Discord answers slowly): it is delivered but cannot be
    // recorded, and must not be sent again. Then ai goes on failing and be recovers: told from memory, loudly.
    discord.push_replies(1, [Reply::Slow(Duration::from_millis(2500))]);
    p.count("ai", 500, 100, "GET /ai/x");
    assert_eq!(p.send(c.addr()).unwrap(), 200);
    wait_until(LONG, || (healthz(&c)["outbox_depth"].as_u64() > Some(0)).then_some(())).unwrap();
    fault.set(true);
    traffic(&mut p, &c, "ai", 200, 6);
    let h = wait_until(LONG, || Some(healthz(&c)).filter(|h| h["database_ok"] == false))
        .expect("healthz never said the database is failing");
    assert_eq!(h["status"], "degraded", "{h}");
    assert!(h["database_error"].as_str().is_some_and(|e| !e.is_empty()), "{h}");
    wait_until(LONG, || titles(&discord).contains(&"ai CRITICAL".to_string()).then_some(())).unwrap_or_else(|| {
        panic!("no alert while the database cannot be written: {:?}\n{}", titles(&discord), c.log())
    });
    wait_until(LONG, || titles(&discord).contains(&"be RESOLVED".to_string()).then_some(())).unwrap_or_else(|| {
        panic!("be never resolved while the database cannot be written: {:?}\n{}", titles(&discord), c.log())
    });
    assert!(c.log().contains("STATE DATABASE NOT WRITABLE"), "loud log line\n{}", c.log());
    assert!(c.log().contains("delivered but not recorded yet"), "the slow delivery ended after the fault\n{}", c.log());
    let told = titles(&discord);
    let from_memory = discord
        .messages(1)
        .iter()
        .filter(|m| m.pointer("/embeds/0/footer/text").and_then(Value::as_str).is_some_and(|t| t.contains("not saved")))
        .count();
    assert!(from_memory >= 2, "the alerts of the outage say they are not saved: {from_memory}");

    // Writable again: the collector catches up (healthz ok, alerts recorded, nothing sent twice).
    fault.set(false);
    traffic(&mut p, &c, "ai", 200, 1);
    wait_until(LONG, || {
        Some(healthz(&c)).filter(|h| h["database_ok"] == true && h["outbox_depth"] == 0 && h["unsaved_alerts"] == 0)
    })
    .unwrap_or_else(|| panic!("never caught up: {}\n{}", healthz(&c), c.log()));
    assert!(c.log().contains("state database writable again"), "{}", c.log());
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(titles(&discord), told, "nothing sent twice after catching up");
    let (_, hist) = faultline_tests::envoy::http_get(addr, "/v1/history?since=1h&limit=100").unwrap();
    let hist: Value = serde_json::from_str(&hist).unwrap();
    let recorded = hist["alerts"].as_array().unwrap();
    assert_eq!(recorded.len(), told.len(), "every alert recorded once: {hist}");
    assert!(recorded.iter().all(|a| a["delivery"] == "delivered"), "{hist}");

    // A kill -9 now: the state caught up, so counts are exact and no alert is repeated.
    c.kill9();
    c.restart().unwrap();
    traffic(&mut p, &c, "ai", 200, 2);
    check_totals(&p, &c);
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(titles(&discord), told, "nothing repeated after catching up and a restart");
    eprintln!("{name}: alerts {told:?}, {from_memory} sent from memory");
}

#[test]
fn a_full_disk_keeps_alerting_from_memory_and_catches_up() {
    keeps_alerting_and_catches_up("faults-db-full", |state| Fault::DiskFull(Tmpfs::mount(state, "8m")));
}

#[test]
fn a_read_only_database_keeps_alerting_from_memory_and_catches_up() {
    keeps_alerting_and_catches_up("faults-db-ro", |state| Fault::ReadOnly(state.to_path_buf()));
}
