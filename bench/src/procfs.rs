//! What the benchmarks read about a process from `/proc`: CPU time (utime + stime of all its threads) and
//! memory (current and peak RSS), and pinning a running process to CPUs with `taskset`.

use std::process::Command;
use std::time::Duration;

/// Errors reading or changing a process.
#[derive(Debug, thiserror::Error)]
pub enum ProcError {
    #[error("reading {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{path}: unexpected format ({what})")]
    Format { path: String, what: &'static str },
    #[error("running {cmd}: {why}")]
    Command { cmd: String, why: String },
}

/// CPU time a process used so far (user + system, every thread, as the kernel accounts it).
pub fn cpu_time(pid: u32) -> Result<Duration, ProcError> {
    let path = format!("/proc/{pid}/stat");
    let text = std::fs::read_to_string(&path).map_err(|source| ProcError::Read { path: path.clone(), source })?;
    let ticks = parse_stat_ticks(&text).ok_or(ProcError::Format { path, what: "no utime/stime" })?;
    Ok(ticks_to_duration(ticks, clock_ticks()))
}

/// utime + stime, in clock ticks, from the text of `/proc/<pid>/stat`. The command name (field 2) may hold
/// spaces and parentheses, so fields are counted after its last `)`.
pub fn parse_stat_ticks(stat: &str) -> Option<u64> {
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state is field 3, utime field 14, stime field 15 (man 5 proc).
    let utime: u64 = fields.get(14 - 3)?.parse().ok()?;
    let stime: u64 = fields.get(15 - 3)?.parse().ok()?;
    Some(utime + stime)
}

fn ticks_to_duration(ticks: u64, per_second: u64) -> Duration {
    let per_second = per_second.max(1);
    Duration::from_nanos(ticks.saturating_mul(1_000_000_000 / per_second))
}

/// The kernel's clock ticks per second (`getconf CLK_TCK`; 100 on every Linux this runs on if that fails).
pub fn clock_ticks() -> u64 {
    static TICKS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100)
    })
}

/// Resident memory of a process: (current, peak), in bytes.
pub fn rss(pid: u32) -> Result<(u64, u64), ProcError> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).map_err(|source| ProcError::Read { path: path.clone(), source })?;
    let now = status_kib(&text, "VmRSS:").ok_or(ProcError::Format { path: path.clone(), what: "no VmRSS" })?;
    let peak = status_kib(&text, "VmHWM:").ok_or(ProcError::Format { path, what: "no VmHWM" })?;
    Ok((now * 1024, peak * 1024))
}

/// A `kB` value of `/proc/<pid>/status` (e.g. `VmHWM:   12345 kB`).
pub fn status_kib(status: &str, key: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with(key))?;
    line.get(key.len()..)?.split_whitespace().next()?.parse().ok()
}

/// Pins every thread of a running process to `cpus` (a `taskset` list such as "0" or "0-1").
pub fn pin(pid: u32, cpus: &str) -> Result<(), ProcError> {
    let cmd = format!("taskset -a -p -c {cpus} {pid}");
    let out = Command::new("taskset")
        .args(["-a", "-p", "-c", cpus, &pid.to_string()])
        .output()
        .map_err(|e| ProcError::Command { cmd: cmd.clone(), why: e.to_string() })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(ProcError::Command { cmd, why: String::from_utf8_lossy(&out.stderr).trim().to_string() })
    }
}

/// Every online CPU of the machine as a `taskset` list ("0-1"), whatever this process is pinned to.
pub fn all_cpus() -> String {
    std::fs::read_to_string("/sys/devices/system/cpu/online")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "0".into())
}

/// The CPUs this process may run on, as `taskset` prints them (e.g. "1" or "0,1").
pub fn own_cpus() -> String {
    Command::new("taskset")
        .args(["-c", "-p", &std::process::id().to_string()])
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).rsplit(':').next().map(|s| s.trim().to_string()))
        .unwrap_or_else(|| "?".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_name() {
        // A command name with spaces and a ')' inside must not shift the fields.
        let stat = "4242 (we ird) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 3 0 100 1000 50";
        assert_eq!(parse_stat_ticks(stat), Some(325));
        assert_eq!(parse_stat_ticks("garbage"), None);
        assert_eq!(parse_stat_ticks("1 (x) S 1 2"), None);
    }

    #[test]
    fn ticks_become_time() {
        assert_eq!(ticks_to_duration(250, 100), Duration::from_millis(2500));
        assert_eq!(ticks_to_duration(3, 0), Duration::from_secs(3));
    }

    #[test]
    fn status_values_in_kib() {
        let s = "Name:\tx\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\n";
        assert_eq!(status_kib(s, "VmHWM:"), Some(20480));
        assert_eq!(status_kib(s, "VmRSS:"), Some(10240));
        assert_eq!(status_kib(s, "VmSwap:"), None);
    }

    #[test]
    fn all_cpus_ignores_this_process_affinity() {
        let all = all_cpus();
        assert!(all.starts_with('0'), "{all}");
        let n = std::fs::read_to_string("/proc/cpuinfo").unwrap().matches("processor\t:").count();
        if n > 1 {
            assert!(all.contains('-') || all.contains(','), "{all} for {n} CPUs");
        }
    }

    #[test]
    fn reads_this_process() {
        let pid = std::process::id();
        let spent: u64 = (0..2_000_000u64).map(|i| i.wrapping_mul(i) % 7).sum();
        assert!(spent > 0);
        assert!(cpu_time(pid).is_ok());
        let (now, peak) = rss(pid).unwrap();
        assert!(now > 0 && peak >= now);
        assert!(cpu_time(u32::MAX).is_err());
    }
}
