//! Replays every committed fuzz corpus (`fuzz/corpus/<target>/`) and every saved finding
//! (`fuzz/regressions/<target>/`) through the fuzz targets' own checks, on stable Rust, so
//! the normal test run re-checks in seconds what the fuzzers established in hours. The
//! checks are `fuzz/src/` compiled in unchanged; see FUZZING.md.

#[allow(dead_code)]
#[path = "../../fuzz/src/lib.rs"]
mod checks;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.is_file()).collect(),
        Err(_) => Vec::new(),
    };
    out.sort();
    out
}

/// Runs `check` on every file of `dir`; returns how many ran and the failures.
fn replay(dir: &Path, check: checks::Check) -> (usize, Vec<String>) {
    let mut failed = Vec::new();
    let all = files(dir);
    for f in &all {
        let data = match std::fs::read(f) {
            Ok(d) => d,
            Err(e) => {
                failed.push(format!("{}: cannot read: {e}", f.display()));
                continue;
            }
        };
        if let Err(p) = catch_unwind(AssertUnwindSafe(|| check(&data))) {
            let why = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failed.push(format!("{}: {}", f.display(), why.chars().take(600).collect::<String>()));
        }
    }
    (all.len(), failed)
}

#[test]
fn every_corpus_and_finding_still_passes() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut failures = Vec::new();
    for (name, check) in checks::TARGETS {
        let (n, mut failed) = replay(&root.join("corpus").join(name), check);
        assert!(n >= 5, "corpus of {name} has {n} files: the replay would prove nothing");
        failures.append(&mut failed);
        let (r, mut failed) = replay(&root.join("regressions").join(name), check);
        failures.append(&mut failed);
        eprintln!("{name}: {n} corpus files, {r} findings replayed");
    }
    assert!(failures.is_empty(), "{} input(s) fail:\n{}", failures.len(), failures.join("\n"));
}
