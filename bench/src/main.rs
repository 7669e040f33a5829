//! `faultline-bench`: the benchmarks of issue 5. `bench/run.sh` builds everything, pins this process to the
//! load CPU and runs the three parts; each writes `<out>/<part>.json` (every figure) and `<out>/<part>.md`
//! (its section of BENCHMARKS.md).

use clap::{Parser, Subcommand};
use faultline_bench::variants::Variant;
use faultline_bench::{alert, count, fast, flushload, overhead, peer, report};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(name = "faultline-bench", about = "Faultline's benchmarks (run them with bench/run.sh)")]
struct Cli {
    #[command(subcommand)]
    part: Part,
}

#[derive(Subcommand)]
enum Part {
    /// Filter overhead: Envoy with no wasm / a no-op wasm filter / Faultline / a JSON access log.
    Overhead {
        /// Where results go.
        #[arg(long)]
        out: PathBuf,
        /// Few short rounds: checks the setup in minutes, figures are rough.
        #[arg(long)]
        quick: bool,
        /// Rounds per run (default 7, and 15 for the 1-worker run c1; 3 with --quick).
        #[arg(long)]
        rounds: Option<u32>,
        /// Seconds measured per round and configuration (default 10; 4 with --quick).
        #[arg(long)]
        seconds: Option<u64>,
        /// CPUs Envoy is pinned to with one worker (`taskset` list); the load runs where this process runs.
        #[arg(long, default_value = "0")]
        envoy_cpus: String,
        /// Which runs: any of c1 (1 worker), c2 (2 workers), errors (1 worker, 50% 5xx over 1,000 paths).
        #[arg(long, value_delimiter = ',', default_value = "c1,c2,errors")]
        runs: Vec<String>,
        /// Also run (e), the no-op filter making Faultline's per-request host calls (a diagnostic).
        #[arg(long)]
        with_reads: bool,
    },
    /// Alert delay: 5xx step 0% -> 20% against the true 5-minute rate; health endpoint death -> DOWN.
    Alert {
        #[arg(long)]
        out: PathBuf,
        /// Shorter warm-up (60 s instead of the 5-minute window) and fewer health trials.
        #[arg(long)]
        quick: bool,
    },
    /// Time to page on the product defaults: (i) 100% 503, (ii) upstream stopped, (iii) 20% gradual.
    Fast {
        #[arg(long)]
        out: PathBuf,
        /// A 60 s warm-up instead of the 5-minute window, fewer rounds.
        #[arg(long)]
        quick: bool,
        /// Rounds of (i) and of (ii) each (default 5; 2 with --quick).
        #[arg(long)]
        rounds: Option<usize>,
    },
    /// Soak: 3% 5xx with 50% bursts and an upstream restart, on the product defaults; nothing may be sent.
    Soak {
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 30)]
        minutes: u64,
        /// Accepted for bench/run.sh; the duration is --minutes.
        #[arg(long)]
        quick: bool,
    },
    /// Variant (f), the log pipeline (Envoy JSON log, mtail, Prometheus, Alertmanager) against (c) Faultline.
    Peer {
        #[arg(long)]
        out: PathBuf,
        /// A 60 s warm-up instead of the 5-minute window.
        #[arg(long)]
        quick: bool,
    },
    /// Wasm instructions per response and callback (wasmtime fuel) for (b), (e) and (c).
    Count {
        #[arg(long)]
        out: PathBuf,
        /// Accepted for bench/run.sh; the count takes seconds either way.
        #[arg(long)]
        quick: bool,
        /// Also profile by fuel: a build of the filter with its name section (see `cost::profile`).
        #[arg(long)]
        profile_wasm: Option<PathBuf>,
    },
    /// Collector cost: 100 proxies x 50 services x 20 routes flushing every 5 s, then a rising flush rate.
    Collector {
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        quick: bool,
        /// CPU the collector is pinned to (`taskset` list).
        #[arg(long, default_value = "0")]
        collector_cpus: String,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("faultline-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<(), String> {
    match cli.part {
        Part::Overhead { out, quick, rounds, seconds, envoy_cpus, runs, with_reads } => {
            let artifacts = overhead::Artifacts {
                faultline_wasm: faultline_tests::paths::filter_wasm()?,
                noop_wasm: noop_wasm()?,
                workdir: workdir(&out)?,
            };
            // The 1-worker run is the one the targets are judged on: 15 rounds, so that the paired ratios'
            // spread is worth reading on a noisy machine (issue 15).
            let c1_rounds = rounds.unwrap_or(if quick { 3 } else { 15 });
            let rounds = rounds.unwrap_or(if quick { 3 } else { 7 });
            let measure = Duration::from_secs(seconds.unwrap_or(if quick { 4 } else { 10 }));
            let warmup = Duration::from_secs(if quick { 1 } else { 2 });
            let base = overhead::OverheadPlan {
                name: String::new(),
                concurrency: 1,
                rounds,
                warmup,
                measure,
                connections: 32,
                wrk_threads: 1,
                distinct_paths: None,
                error_per_mille: 0,
                envoy_cpus: Some(envoy_cpus.clone()),
                upstream_workers: 0,
                variants: if with_reads { Variant::WITH_READS.to_vec() } else { Variant::ALL.to_vec() },
            };
            let mut plans = Vec::new();
            for r in &runs {
                plans.push(match r.as_str() {
                    "c1" => overhead::OverheadPlan { name: "1 worker".into(), rounds: c1_rounds, ..base.clone() },
                    // Two workers need both CPUs: Envoy may use all of them (it would otherwise inherit this
                    // process's CPU), and nothing is left to pin the load away from.
                    "c2" => overhead::OverheadPlan {
                        name: "2 workers".into(),
                        concurrency: 2,
                        wrk_threads: 2,
                        envoy_cpus: Some(faultline_bench::procfs::all_cpus()),
                        upstream_workers: 2,
                        ..base.clone()
                    },
                    "errors" => overhead::OverheadPlan {
                        name: "1 worker, 50% 5xx over 1,000 distinct paths".into(),
                        distinct_paths: Some(1000),
                        error_per_mille: 500,
                        rounds: rounds.min(5),
                        ..base.clone()
                    },
                    other => return Err(format!("unknown run {other:?} (c1, c2, errors)")),
                });
            }
            let mut results = Vec::new();
            let mut md = String::new();
            for plan in &plans {
                let r = overhead::run(plan, &artifacts)?;
                md.push_str(&report::overhead(&r));
                results.push(r);
                // Written after every run, so a later failure keeps what was measured.
                write(&out, "overhead", &results, &md)?;
            }
            Ok(())
        }
        Part::Alert { out, quick } => {
            let r = alert::run(&alert::AlertPlan::new(quick), &workdir(&out)?)?;
            write(&out, "alert", &r, &alert::markdown(&r))
        }
        Part::Fast { out, quick, rounds } => {
            let mut plan = fast::FastPlan::new(quick);
            if let Some(r) = rounds {
                plan.rounds = r.max(1);
            }
            let r = fast::run(&plan, &workdir(&out)?)?;
            write(&out, "fast", &r, &fast::markdown(&r))
        }
        Part::Soak { out, minutes, quick: _ } => {
            let r = fast::soak(&fast::SoakPlan::new(minutes), &workdir(&out)?)?;
            write(&out, "soak", &r, &fast::soak_markdown(&r))
        }
        Part::Peer { out, quick } => {
            let r = peer::run(&peer::PeerPlan::new(quick), &workdir(&out)?)?;
            write(&out, "peer", &r, &peer::markdown(&r))
        }
        Part::Count { out, quick: _, profile_wasm } => {
            let (json, mut md) = count::run()?;
            if let Some(wasm) = profile_wasm {
                md.push_str(&count::profile(&wasm, 10)?);
            }
            write(&out, "count", &json, &md)
        }
        Part::Collector { out, quick, collector_cpus } => {
            let r = flushload::run(&flushload::LoadPlan::new(quick, collector_cpus), &workdir(&out)?)?;
            write(&out, "collector", &r, &flushload::markdown(&r))
        }
    }
}

fn noop_wasm() -> Result<PathBuf, String> {
    faultline_tests::host::cost::noop_wasm()
}

fn workdir(out: &Path) -> Result<PathBuf, String> {
    let dir = out.join("work");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(dir)
}

fn write<T: Serialize>(out: &Path, name: &str, value: &T, md: &str) -> Result<(), String> {
    let json = serde_json::to_string_pretty(value).map_err(|e| e.to_string())?;
    for (file, text) in [(format!("{name}.json"), json.as_str()), (format!("{name}.md"), md)] {
        let path = out.join(file);
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    eprintln!("[{name}] results in {}", out.join(format!("{name}.md")).display());
    Ok(())
}
