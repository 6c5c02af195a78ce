//! `cargo xtask fuzz [--minutes N] [--targets a,b]`: builds the libFuzzer targets of `fuzz/`
//! (cargo-fuzz on the nightly toolchain, installed if missing) and runs each for its share of
//! N minutes over the kept corpus (`fuzz/corpus/<target>/`, read only) and a working one
//! (`target/fuzz/corpus/<target>/`, where libFuzzer keeps what it finds). Prints executions
//! per target; a crash stops the run and leaves its input in `target/fuzz/artifacts/<target>/`
//! to be fixed and kept in the corpus as a regression.
//!
//! Built with `-s none` (no sanitizer: the project forbids `unsafe`, so AddressSanitizer would
//! only slow the search; libFuzzer's coverage stays) and `-a` (debug assertions: an integer
//! overflow panics instead of wrapping unseen).

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};

const TARGETS: [&str; 16] = [
    "scheme",
    "agreement",
    "item",
    "label",
    "consent",
    "records",
    "warning",
    "canonical",
    "envelope",
    "checkpoint",
    "proof",
    "message",
    "reply",
    "taxii_query",
    "taxii_post",
    "inbox",
];

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

/// Runs the targets named in `only` (all if empty) for `minutes` in all.
pub fn run(minutes: f64, only: &[String]) -> Result<()> {
    let targets: Vec<&str> = TARGETS
        .into_iter()
        .filter(|t| only.is_empty() || only.iter().any(|o| o == t))
        .collect();
    if targets.is_empty() {
        bail!("no such target: the targets are {}", TARGETS.join(", "));
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let has_fuzz = Command::new("cargo")
        .args(["+nightly", "fuzz", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_fuzz {
        let ok = cargo()
            .args(["install", "cargo-fuzz", "--locked"])
            .status()?
            .success();
        if !ok {
            bail!("cargo install cargo-fuzz failed");
        }
    }
    let fuzz = |args: &[&str]| {
        let mut c = Command::new("cargo");
        c.current_dir(&root).args(["+nightly", "fuzz"]).args(args);
        c
    };
    let built = fuzz(&["build", "-s", "none", "-a"]).status()?.success();
    if !built {
        bail!("cargo +nightly fuzz build failed (is the nightly toolchain installed?)");
    }
    let seconds = ((minutes * 60.0) / targets.len() as f64).max(1.0) as u64;
    // The rate is libFuzzer's own (its `average_exec_per_sec`): the wall time around it also
    // holds cargo's check of the build, which may wait for another cargo's lock.
    println!("| target | seconds (wall) | executions | per second (libFuzzer) | result |");
    println!("|---|---:|---:|---:|---|");
    let mut crashed = vec![];
    for t in targets {
        let work = root.join("target/fuzz/corpus").join(t);
        let artifacts = root.join("target/fuzz/artifacts").join(t);
        std::fs::create_dir_all(&work)?;
        std::fs::create_dir_all(&artifacts)?;
        let kept = root.join("fuzz/corpus").join(t);
        let started = Instant::now();
        let out = fuzz(&["run", "-s", "none", "-a", t])
            .arg(&work)
            .arg(&kept)
            .arg("--")
            .arg(format!("-max_total_time={seconds}"))
            .arg(format!("-artifact_prefix={}/", artifacts.display()))
            .arg("-print_final_stats=1")
            .output()
            .with_context(|| format!("running {t}"))?;
        let took = started.elapsed().as_secs_f64();
        let log = String::from_utf8_lossy(&out.stderr);
        let executions: u64 = log
            .lines()
            .find_map(|l| l.strip_prefix("stat::number_of_executed_units:"))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0);
        let rate: u64 = log
            .lines()
            .find_map(|l| l.strip_prefix("stat::average_exec_per_sec:"))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0);
        let result = if out.status.success() {
            "no crash".to_owned()
        } else {
            crashed.push(t);
            let tail: Vec<&str> = log.lines().rev().take(30).collect();
            eprintln!(
                "{t}:\n{}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
            format!("CRASH (see {})", artifacts.display())
        };
        println!("| {t} | {took:.0} | {executions} | {rate} | {result} |");
    }
    if !crashed.is_empty() {
        bail!("crashed: {}", crashed.join(", "));
    }
    Ok(())
}
