//! `cargo xtask bench stores`: publish over HTTPS on SQLite (one process, the embedded default)
//! and on PostgreSQL with 1, 2, … `gsomia serve` processes sharing one database (issue 13:
//! two processes on PostgreSQL should publish faster than one on SQLite), side by side in the
//! same run, with the same clients; then TAXII (POST, walks, GET by id) on the same stores,
//! with the sequencer's audit entries/s. The PostgreSQL server is the machine's
//! (`GSOMIA_BENCH_POSTGRES`, by default `postgres://root@127.0.0.1:5432/test`), on the same two
//! cores as the node and the load generator.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::{Base, client, gsomia, item, percentile, serve};

/// A fresh KOR node in `dir` (on `database` if given) with one analyst; its folder and token.
fn node(bin: &Path, dir: &Path, database: Option<&str>) -> Result<(PathBuf, String)> {
    let _ = std::fs::remove_dir_all(dir);
    let data = dir.join("kor");
    let token = crate::init_node(bin, &data, database, "analyst")?;
    Ok((data, token))
}

/// A new, empty database on the benchmark's PostgreSQL server; its URL.
pub(crate) fn database(name: &str) -> Result<String> {
    let admin = std::env::var("GSOMIA_BENCH_POSTGRES")
        .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/test".into());
    gsomia_store::scratch_database(&admin, &format!("bench_{name}"))
        .with_context(|| format!("PostgreSQL at {admin}"))
}

/// `clients` publishers spread over `bases` for `seconds`: items/s, p50 and p99 ms, errors.
fn round(
    rt: &tokio::runtime::Runtime,
    bases: &[Base],
    token: &str,
    first: u64,
    clients: u64,
    seconds: u64,
) -> Result<(f64, f64, f64, u64)> {
    let bodies = Arc::new(vec![item(0)]);
    let until = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let results = rt.block_on(async {
        let tasks: Vec<_> = (0..clients)
            .map(|i| {
                let base = bases[(i as usize) % bases.len()].clone();
                tokio::spawn(client(
                    base,
                    token.to_owned(),
                    first + i * 1_000_000,
                    until,
                    bodies.clone(),
                    1,
                ))
            })
            .collect();
        let mut all = Vec::new();
        for t in tasks {
            all.push(t.await??);
        }
        anyhow::Ok(all)
    })?;
    let elapsed = started.elapsed().as_secs_f64();
    let mut latencies = Vec::new();
    let mut errors = 0;
    for (l, e) in results {
        latencies.extend(l);
        errors += e;
    }
    latencies.sort();
    Ok((
        latencies.len() as f64 / elapsed,
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        errors,
    ))
}

pub fn bench(seconds: u64, clients: u64, processes: &[usize], taxii_objects: u64) -> Result<()> {
    let bin = gsomia()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let tmp = std::env::temp_dir().join(format!("gsomia-bench-{}-stores", std::process::id()));
    println!(
        "publish over HTTPS on loopback, 1 KiB STIX objects, {clients} clients, {seconds} s per row, durable commits"
    );
    println!("| store | serve processes | items/s | p50 ms | p99 ms | errors | ratio to SQLite |");
    println!("|---|---|---|---|---|---|---|");
    // SQLite, the reference of the same run.
    let (data, token) = node(&bin, &tmp.join("sqlite"), None)?;
    let (mut child, addr) = serve(&bin, &data)?;
    let bases = vec![Base::of(&data, &addr)?];
    let (sqlite, p50, p99, errors) = round(&rt, &bases, &token, 1_000_000_000, clients, seconds)?;
    println!("| SQLite | 1 | {sqlite:.0} | {p50:.2} | {p99:.2} | {errors} | 1.00 |");
    child.kill()?;
    child.wait()?;
    for (k, &n) in processes.iter().enumerate() {
        let url = database(&format!("p{n}"))?;
        let (data, token) = node(&bin, &tmp.join(format!("pg{n}")), Some(&url))?;
        // Each process its own copy of the folder (keys, certificate, configuration).
        let mut children = vec![];
        let mut bases = vec![];
        for p in 0..n {
            let folder = tmp.join(format!("pg{n}-{p}"));
            let _ = std::fs::remove_dir_all(&folder);
            let status = std::process::Command::new("cp")
                .args([
                    "-a",
                    data.to_str().context("path")?,
                    folder.to_str().context("path")?,
                ])
                .status()?;
            anyhow::ensure!(status.success(), "cp failed");
            let (child, addr) = serve(&bin, &folder)?;
            bases.push(Base::of(&folder, &addr)?);
            children.push(child);
        }
        let first = 2_000_000_000 + k as u64 * 100_000_000;
        let (rate, p50, p99, errors) = round(&rt, &bases, &token, first, clients, seconds)?;
        println!(
            "| PostgreSQL | {n} | {rate:.0} | {p50:.2} | {p99:.2} | {errors} | {:.2} |",
            rate / sqlite
        );
        for mut c in children {
            c.kill()?;
            c.wait()?;
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);
    // TAXII on the same stores.
    let mut stores = vec![("SQLite".to_owned(), None, 1)];
    for &n in processes {
        stores.push((
            "PostgreSQL".to_owned(),
            Some(database(&format!("taxii{n}"))?),
            n,
        ));
    }
    crate::taxii::on_stores(&stores, taxii_objects, seconds)
}
