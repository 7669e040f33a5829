//! Runs the `wrk` load generator with the summary scripts in `bench/wrk/` and reads its result line.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// Marker of the line `bench/wrk/*.lua` print at the end of a run.
const MARKER: &str = "FAULTLINE_BENCH ";

/// What one wrk run measured (latencies in microseconds, closed loop: wrk's own numbers).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WrkResult {
    pub requests: u64,
    pub duration_us: u64,
    pub connect_errors: u64,
    pub read_errors: u64,
    pub write_errors: u64,
    /// Answers that were not 2xx/3xx (expected in the 5xx run).
    pub status_errors: u64,
    pub timeouts: u64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
}

impl WrkResult {
    /// Requests per second over the run.
    pub fn rps(&self) -> f64 {
        if self.duration_us == 0 { 0.0 } else { self.requests as f64 * 1e6 / self.duration_us as f64 }
    }

    /// Requests that got no answer at all.
    pub fn socket_errors(&self) -> u64 {
        self.connect_errors + self.read_errors + self.write_errors + self.timeouts
    }
}

/// Errors of a wrk run.
#[derive(Debug, thiserror::Error)]
pub enum WrkError {
    #[error("starting wrk: {0} (install it: apt-get install -y wrk; bench/run.sh does)")]
    Start(std::io::Error),
    #[error("wrk failed ({status}): {stderr}")]
    Failed { status: String, stderr: String },
    #[error("wrk printed no {MARKER:?} line (is the script bench/wrk/*.lua?): {0}")]
    NoResult(String),
    #[error("wrk's result line is not JSON ({0}): {1}")]
    Parse(serde_json::Error, String),
}

/// How to load a URL.
#[derive(Debug, Clone)]
pub struct Load {
    pub url: String,
    pub threads: u32,
    pub connections: u32,
    pub duration: Duration,
    /// `Some(n)`: cycle over n distinct paths (`bench/wrk/paths.lua`); `None`: the URL's path only.
    pub distinct_paths: Option<u32>,
}

/// The Lua scripts of `bench/wrk/`.
pub fn script(name: &str) -> PathBuf {
    faultline_tests::paths::workspace_root().join("bench/wrk").join(name)
}

/// Runs wrk to completion and returns its summary.
pub fn run(load: &Load) -> Result<WrkResult, WrkError> {
    let mut cmd = Command::new("wrk");
    cmd.arg(format!("-t{}", load.threads.max(1)))
        .arg(format!("-c{}", load.connections.max(load.threads.max(1))))
        .arg(format!("-d{}s", load.duration.as_secs().max(1)))
        .arg("--timeout")
        .arg("10s")
        .arg("--latency")
        .arg("-s");
    match load.distinct_paths {
        Some(n) => cmd.arg(script("paths.lua")).arg(&load.url).arg("--").arg(n.to_string()),
        None => cmd.arg(script("report.lua")).arg(&load.url),
    };
    let out = cmd.output().map_err(WrkError::Start)?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(WrkError::Failed {
            status: out.status.to_string(),
            stderr: format!("{}{}", String::from_utf8_lossy(&out.stderr), stdout),
        });
    }
    parse(&stdout)
}

/// Reads the result line out of wrk's output.
pub fn parse(stdout: &str) -> Result<WrkResult, WrkError> {
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix(MARKER))
        .ok_or_else(|| WrkError::NoResult(stdout.chars().take(2000).collect()))?;
    serde_json::from_str(line).map_err(|e| WrkError::Parse(e, line.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_marker_line_among_wrk_output() {
        let out = "Running 10s test @ http://127.0.0.1:1/\n  1 threads and 32 connections\n\
            FAULTLINE_BENCH {\"requests\":300000,\"duration_us\":10000000,\"connect_errors\":0,\"read_errors\":0,\
            \"write_errors\":0,\"status_errors\":5,\"timeouts\":1,\"p50_us\":900,\"p90_us\":1100,\"p99_us\":1300,\
            \"p999_us\":2500,\"max_us\":9000}\nRequests/sec: 30000.00\n";
        let r = parse(out).unwrap();
        assert_eq!(r.requests, 300_000);
        assert_eq!(r.rps(), 30_000.0);
        assert_eq!(r.p999_us, 2500);
        assert_eq!(r.socket_errors(), 1);
    }

    #[test]
    fn missing_or_broken_lines_are_errors() {
        assert!(matches!(parse("Requests/sec: 1\n"), Err(WrkError::NoResult(_))));
        assert!(matches!(parse("FAULTLINE_BENCH {\"requests\":1}\n"), Err(WrkError::Parse(..))));
    }

    #[test]
    fn scripts_exist() {
        assert!(script("report.lua").is_file());
        assert!(script("paths.lua").is_file());
    }
}
