//! `cargo xtask bench publish|store|memory`: whole-system benchmarks that print a table and the
//! ratio to a reference measured in the same run. Figures go to BENCHMARKS.md with the command.

#![allow(clippy::unwrap_used, clippy::expect_used)] // A benchmark that fails should fail loudly.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use ed25519_dalek::{Signer, SigningKey};
use gsomia_node::client::Client;
use gsomia_store::Store as _;

mod console;
mod crashloop;
mod fuzz;
mod instructions;
mod latency;
mod load;
mod pgclient;
mod stores;
mod taxii;

/// The `gsomia` binary's allocator (see gsomia-cli), for the paths measured in process.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str, default: &str| -> String {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
            .unwrap_or_else(|| default.to_owned())
    };
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["crashloop", ..] => crashloop::run(
            flag("--minutes", "10").parse()?,
            flag("--seed", "1").parse()?,
            flag("--clients", "8").parse()?,
        ),
        ["simulate", ..] => simulate(
            flag("--world", "model-case")
                .parse()
                .map_err(|e: String| anyhow::anyhow!(e))?,
            flag("--seed", "1").parse()?,
            flag("--seeds", "1").parse()?,
            flag("--steps", "10000").parse()?,
        ),
        ["fuzz", ..] => fuzz::run(
            flag("--minutes", "30").parse()?,
            &flag("--targets", "")
                .split(',')
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect::<Vec<_>>(),
        ),
        ["bench", "publish", ..] => publish(
            flag("--seconds", "20").parse()?,
            flag("--clients", "16,32,64")
                .split(',')
                .map(|c| c.parse())
                .collect::<Result<_, _>>()?,
            args.iter().any(|a| a == "--without-merkle-log"),
            flag("--batch", "100").parse()?,
            flag("--batch-clients", "4,8")
                .split(',')
                .filter(|c| !c.is_empty())
                .map(|c| c.parse())
                .collect::<Result<_, _>>()?,
        ),
        ["bench", "load", ..] => load::run(
            flag("--minutes", "10").parse()?,
            flag("--steady-minutes", "0").parse()?,
            flag("--clients", "1000").parse()?,
            flag("--think-ms", "1000").parse()?,
        ),
        ["bench", "log", ..] => log(flag("--entries", "10000000").parse()?),
        ["bench", "store", ..] => store(flag("--items", "200000").parse()?),
        ["bench", "memory", ..] => memory(flag("--items", "1000000").parse()?),
        ["bench", "console", ..] => console::bench(flag("--items", "1000000").parse()?),
        ["bench", "stores", ..] => stores::bench(
            flag("--seconds", "10").parse()?,
            flag("--clients", "32").parse()?,
            &flag("--processes", "1,2,4")
                .split(',')
                .map(|c| c.parse())
                .collect::<Result<Vec<usize>, _>>()?,
            flag("--taxii-objects", "20000").parse()?,
        ),
        ["bench", "cedar", ..] => cedar(),
        ["bench", "instructions", ..] => instructions::bench(&args),
        ["bench", "pg-client", ..] => pgclient::bench(
            flag("--seconds", "5").parse()?,
            flag("--tasks", "32").parse()?,
            flag("--items", "10000").parse()?,
        ),
        ["bench", "federation", ..] => federation(flag("--items", "100000").parse()?),
        ["bench", "latency", ..] => latency::bench(
            args.iter().any(|a| a == "--hub"),
            flag("--seconds", "20").parse()?,
            &flag("--rates", "1,1000")
                .split(',')
                .map(|c| c.parse())
                .collect::<Result<Vec<u64>, _>>()?,
        ),
        ["bench", "tls", ..] => tls(
            flag("--seconds", "10").parse()?,
            flag("--clients", "32").parse()?,
        ),
        ["bench", "taxii", ..] => taxii::bench(
            &flag("--sizes", "1000,10000,100000,1000000"),
            &flag("--peers", "gsomia,medallion,opentaxii"),
            flag("--deadline-secs", "600").parse()?,
        ),
        _ => {
            eprintln!(
                "usage: cargo xtask bench publish [--seconds 20] [--clients 16,32,64] [--batch 100] [--batch-clients 4,8]\n\
                 \x20      cargo xtask bench publish --without-merkle-log [--seconds 20] [--clients 32]\n\
                 \x20      cargo xtask bench load [--minutes 10] [--steady-minutes 0] [--clients 1000] [--think-ms 1000]\n\
                 \x20      cargo xtask bench log [--entries 10000000]\n\
                 \x20      cargo xtask bench store [--items 200000]\n\
                 \x20      cargo xtask bench memory [--items 1000000]\n\
                 \x20      cargo xtask bench console [--items 1000000]\n\
                 \x20      cargo xtask bench stores [--seconds 10] [--clients 32] [--processes 1,2,4] [--taxii-objects 20000]\n\
                 \x20      cargo xtask bench instructions\n\
                 \x20      cargo xtask bench cedar\n\
                 \x20      cargo xtask bench pg-client [--seconds 5] [--tasks 32] [--items 10000]\n\
                 \x20      cargo xtask bench federation [--items 100000]\n\
                 \x20      cargo xtask bench latency [--hub] [--seconds 20] [--rates 1,1000]\n\
                 \x20      cargo xtask bench tls [--seconds 10] [--clients 32]\n\
                 \x20      cargo xtask crashloop [--minutes 10] [--seed 1] [--clients 8]\n\
                 \x20      cargo xtask simulate [--world model-case|five] [--seed 1] [--seeds 1] [--steps 10000]\n\
                 \x20      cargo xtask fuzz [--minutes 30] [--targets scheme,inbox,…]\n\
                 \x20      cargo xtask bench taxii [--sizes 1000,10000,100000,1000000] [--peers gsomia,medallion,opentaxii] [--deadline-secs 600]"
            );
            std::process::exit(2);
        }
    }
}

pub(crate) fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Builds the release binary and returns its path.
pub(crate) fn gsomia() -> Result<PathBuf> {
    build(&[], "gsomia")
}

/// Builds the release binary with `extra` cargo arguments, copied to `target/release/{name}`.
fn build(extra: &[&str], name: &str) -> Result<PathBuf> {
    let mut cargo = Command::new(env!("CARGO"));
    // What `cargo run` set for this process is not passed on: ring's build script reruns when
    // CARGO_MANIFEST_DIR changes, and would be rebuilt here and again by the next `cargo xtask`.
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if [
            "CARGO_PKG_",
            "CARGO_MANIFEST_",
            "CARGO_BIN_",
            "CARGO_CRATE_",
            "CARGO_PRIMARY_",
        ]
        .iter()
        .any(|p| key.starts_with(p))
        {
            cargo.env_remove(&*key);
        }
    }
    let status = cargo
        .args(["build", "--release", "-q", "-p", "gsomia-cli"])
        .args(extra)
        .current_dir(workspace())
        .status()?;
    if !status.success() {
        bail!("cargo build failed");
    }
    let built = workspace().join("target/release/gsomia");
    let copy = workspace().join("target/release").join(name);
    if copy != built {
        std::fs::copy(&built, &copy)?;
    }
    Ok(copy)
}

pub(crate) fn run(bin: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new(bin).args(args).output()?;
    if !out.status.success() {
        bail!("gsomia {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8(out.stdout)?)
}

/// A fresh KOR node with one analyst; its data directory and the analyst's token.
fn node(bin: &Path, name: &str) -> Result<(PathBuf, String)> {
    node_serving(bin, name, true)
}

/// [`node`], serving HTTPS (`tls`) or plain HTTP on loopback.
fn node_serving(bin: &Path, name: &str, tls: bool) -> Result<(PathBuf, String)> {
    let dir = std::env::temp_dir().join(format!("gsomia-bench-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let data = dir.join("kor");
    let token = init_node(bin, &data, None, "analyst")?;
    if !tls {
        let config = data.join("gsomia.toml");
        let text = std::fs::read_to_string(&config)?;
        std::fs::write(config, format!("{text}insecure_http = true\n"))?;
    }
    Ok((data, token))
}

/// `gsomia init` of a KOR node in `data` listening on a free loopback port (its state in
/// `database` if given, else the SQLite file), with kim, cleared II for missile warning, in
/// `roles`; kim's token.
fn init_node(bin: &Path, data: &Path, database: Option<&str>, roles: &str) -> Result<String> {
    let scheme = workspace().join("examples/model-case/schemes/KOR.json");
    let d = data.to_str().context("path")?;
    let mut args = vec![
        "init",
        "--data",
        d,
        "--party",
        "KOR",
        "--scheme",
        scheme.to_str().context("path")?,
        "--listen",
        "127.0.0.1:0",
    ];
    if let Some(url) = database {
        args.extend(["--database", url]);
    }
    run(bin, &args)?;
    add_kim(bin, data, roles)
}

/// Adds `kim` (cleared II, on missile warning, with `roles`) to the node in `data`; the token.
pub(crate) fn add_kim(bin: &Path, data: &Path, roles: &str) -> Result<String> {
    add_user(bin, data, "kim", roles, "II")
}

/// Adds user `id` with `roles` and `clearance` and the duty `missile-warning` to the node in
/// `data`; their token.
pub(crate) fn add_user(
    bin: &Path,
    data: &Path,
    id: &str,
    roles: &str,
    clearance: &str,
) -> Result<String> {
    let token = run(
        bin,
        &[
            "user",
            "add",
            "--data",
            data.to_str().context("path")?,
            "--id",
            id,
            "--roles",
            roles,
            "--clearance",
            clearance,
            "--duties",
            "missile-warning",
        ],
    )?;
    Ok(token.lines().next().unwrap_or_default().trim().to_owned())
}

/// A pooled client pinned to the certificate key of the node in `data`.
fn client_of(data: &Path) -> Result<Client> {
    let pem = std::fs::read(data.join("tls.crt"))?;
    let der = gsomia_node::tls::first_certificate(&pem).map_err(anyhow::Error::msg)?;
    let pin = gsomia_node::tls::CertInfo::of(&der)
        .map_err(anyhow::Error::msg)?
        .pin;
    Client::new(Some(pin)).map_err(anyhow::Error::msg)
}

/// Where a node serves and how to reach it: its base URL and the pin of its key (none for
/// plain HTTP).
#[derive(Clone)]
pub(crate) struct Base {
    pub(crate) url: String,
    pin: Option<gsomia_node::tls::Pin>,
}

impl Base {
    pub(crate) fn of(data: &Path, addr: &str) -> Result<Base> {
        let (config, _) = gsomia_node::data::load(data).map_err(|e| anyhow::anyhow!("{e}"))?;
        if config.insecure_http {
            return Ok(Base {
                url: format!("http://{addr}"),
                pin: None,
            });
        }
        Ok(Base {
            url: format!("https://{addr}"),
            pin: client_of(data)?.pin(),
        })
    }

    /// A new client, with its own pool.
    pub(crate) fn client(&self) -> Result<Client> {
        Client::new(self.pin).map_err(anyhow::Error::msg)
    }
}

/// Starts `gsomia serve`; the child and its address.
pub(crate) fn serve(bin: &Path, data: &Path) -> Result<(Child, String)> {
    let mut child = Command::new(bin)
        .args(["serve", "--data", data.to_str().context("path")?])
        .env("RUST_LOG", "warn,gsomia=info")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let mut lines = BufReader::new(child.stdout.take().context("stdout")?).lines();
    for line in lines.by_ref() {
        let line = line?;
        if let Some(rest) = line.split("addr=").nth(1) {
            let addr = rest
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned();
            // The server's warnings and errors are the benchmark's too: a stall shows its reason.
            std::thread::spawn(move || {
                for line in lines.map_while(Result::ok) {
                    if line.contains(" WARN ") || line.contains("ERROR") {
                        eprintln!("{line}");
                    }
                }
            });
            return Ok((child, addr));
        }
    }
    bail!("gsomia serve did not start")
}

/// Peak resident memory of a process, in MiB.
fn peak_rss_mib(pid: u32) -> f64 {
    memory_mib(pid, "VmHWM:")
}

/// A memory `field` of a process (`VmRSS:`, `VmHWM:`) from /proc, in MiB.
pub(crate) fn memory_mib(pid: u32, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// CPU seconds (user + system) a process has used, from /proc (clock ticks of 1/100 s).
fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit(')').next().unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// A publish body of about 1 KiB, with a unique id.
pub(crate) fn item(n: u64) -> String {
    let text = std::fs::read_to_string(
        workspace().join("examples/model-case/items/kor-missile-report.json"),
    )
    .unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut object = v["object"].clone();
    object["id"] = format!("report--00000000-0000-4000-8000-{n:012}").into();
    let pad = 1024usize.saturating_sub(object.to_string().len());
    object["x_gsomia_padding"] = "x".repeat(pad).into();
    serde_json::json!({ "label": v["label"], "object": object }).to_string()
}

/// Ed25519 signatures per second on one core, over 1 KiB messages: the reference for publish.
fn sign_rate() -> f64 {
    let key = SigningKey::from_bytes(&[7; 32]);
    let msg = vec![0u8; 1024];
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < Duration::from_secs(2) {
        for _ in 0..100 {
            std::hint::black_box(key.sign(std::hint::black_box(&msg)));
        }
        n += 100;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

/// One client: a keep-alive connection publishing until the deadline. Latencies of the 201s.
/// One publisher until `until`: a request at a time, each of one item (`batch` 1,
/// `POST /api/v1/items`) or of `batch` items (`POST /api/v1/items/batch`). The latency of each
/// request whose items were all created, and the requests that were not.
async fn client(
    base: Base,
    token: String,
    first: u64,
    until: Instant,
    bodies: Arc<Vec<String>>,
    batch: u64,
) -> Result<(Vec<Duration>, u64)> {
    let http = base.client()?;
    let url = if batch > 1 {
        format!("{}/api/v1/items/batch", base.url)
    } else {
        format!("{}/api/v1/items", base.url)
    };
    let auth = format!("Bearer {token}");
    let headers = [
        ("authorization", auth.as_str()),
        ("content-type", "application/json"),
    ];
    let mut latencies = Vec::new();
    let mut errors = 0;
    let mut n = first;
    let one = |n: u64| {
        bodies[(n % bodies.len() as u64) as usize].replace("000000000000\"", &format!("{n:012}\""))
    };
    while Instant::now() < until {
        let body = if batch > 1 {
            let items: Vec<String> = (n..n + batch).map(one).collect();
            format!("{{\"items\":[{}]}}", items.join(","))
        } else {
            one(n)
        };
        let t = Instant::now();
        let (status, answer) = http
            .send("POST", &url, &headers, body.into_bytes())
            .await
            .map_err(anyhow::Error::msg)?;
        let created = match batch {
            1 => status == 201,
            _ => {
                status == 200
                    && serde_json::from_slice::<serde_json::Value>(&answer)
                        .is_ok_and(|a| a["created"] == batch)
            }
        };
        if created {
            latencies.push(t.elapsed());
        } else {
            errors += 1;
        }
        n += batch;
    }
    Ok((latencies, errors))
}

/// Publish over HTTPS: a row for each count of `clients` sending one item a request, then one
/// for each of `batch_clients` sending `batch` items a request (`POST /api/v1/items/batch`).
fn publish(
    seconds: u64,
    clients: Vec<u64>,
    compare: bool,
    batch: u64,
    batch_clients: Vec<u64>,
) -> Result<()> {
    if compare {
        return publish_without_merkle_log(seconds, clients);
    }
    let bin = gsomia()?;
    let (data, token) = node(&bin, "publish")?;
    let reference = sign_rate();
    let (mut child, addr) = serve(&bin, &data)?;
    let base = Base::of(&data, &addr)?;
    let bodies = Arc::new(vec![item(0)]);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    println!(
        "publish over HTTP on loopback, 1 KiB STIX objects, {seconds} s per row, durable (synchronous = FULL)"
    );
    println!("reference: Ed25519 sign, 1 KiB, one core: {reference:.0}/s");
    println!(
        "| clients | items a request | items/s | p50 ms a request | p99 ms a request | errors | ratio to reference | server CPU µs/item | load generator CPU |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let server = child.id().to_string();
    let rows: Vec<(u64, u64)> = clients
        .iter()
        .map(|c| (*c, 1))
        .chain(batch_clients.iter().map(|c| (*c, batch)))
        .collect();
    for (round, (c, batch)) in rows.iter().enumerate() {
        let until = Instant::now() + Duration::from_secs(seconds);
        let started = Instant::now();
        let (server_cpu, own_cpu) = (cpu_seconds(&server), cpu_seconds("self"));
        let results = rt.block_on(async {
            let tasks: Vec<_> = (0..*c)
                .map(|i| {
                    let first = (round as u64 + 1) * 100_000_000 + i * 1_000_000;
                    tokio::spawn(client(
                        base.clone(),
                        token.clone(),
                        first,
                        until,
                        bodies.clone(),
                        *batch,
                    ))
                })
                .collect();
            let mut all = Vec::new();
            for t in tasks {
                all.push(t.await?);
            }
            anyhow::Ok(all)
        })?;
        let elapsed = started.elapsed().as_secs_f64();
        let mut latencies = Vec::new();
        let mut errors = 0;
        for r in results {
            let (l, e) = r?;
            latencies.extend(l);
            errors += e;
        }
        latencies.sort();
        let items = latencies.len() as u64 * batch;
        let rate = items as f64 / elapsed;
        let server_us = (cpu_seconds(&server) - server_cpu) / items.max(1) as f64 * 1e6;
        let generator = (cpu_seconds("self") - own_cpu) / elapsed;
        println!(
            "| {c} | {batch} | {rate:.0} | {:.2} | {:.2} | {errors} | {:.2} | {server_us:.0} | {:.0}% of a core |",
            percentile(&latencies, 0.5),
            percentile(&latencies, 0.99),
            rate / reference,
            generator * 100.0
        );
    }
    println!(
        "peak RSS of gsomia serve: {:.1} MiB",
        peak_rss_mib(child.id())
    );
    child.kill()?;
    child.wait()?;
    Ok(())
}

/// One round of `clients` publishers for `seconds`; items per second.
fn publish_round(
    rt: &tokio::runtime::Runtime,
    base: &Base,
    token: &str,
    first: u64,
    clients: u64,
    seconds: u64,
) -> Result<f64> {
    let bodies = Arc::new(vec![item(0)]);
    let until = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let results = rt.block_on(async {
        let tasks: Vec<_> = (0..clients)
            .map(|i| {
                tokio::spawn(client(
                    base.clone(),
                    token.to_owned(),
                    first + i * 1_000_000,
                    until,
                    bodies.clone(),
                    1,
                ))
            })
            .collect();
        let mut ok = 0;
        for t in tasks {
            let (latencies, errors) = t.await??;
            if errors > 0 {
                bail!("{errors} publishes failed");
            }
            ok += latencies.len();
        }
        anyhow::Ok(ok)
    })?;
    Ok(results as f64 / started.elapsed().as_secs_f64())
}

/// The publish benchmark with and without the Merkle log (issue 5: the log may cost at most
/// 10% of publish throughput). Two release builds, each on a fresh node; rounds alternate
/// between them so that the machine's drift falls on both.
fn publish_without_merkle_log(seconds: u64, clients: Vec<u64>) -> Result<()> {
    let without = build(
        &["--features", "gsomia-store/benchmark-without-merkle-log"],
        "gsomia-without-merkle-log",
    )?;
    let with = gsomia()?;
    let (data_with, token_with) = node(&with, "publish-merkle")?;
    let (data_without, token_without) = node(&with, "publish-no-merkle")?;
    let (mut a, addr_with) = serve(&with, &data_with)?;
    let (mut b, addr_without) = serve(&without, &data_without)?;
    let (addr_with, addr_without) = (
        Base::of(&data_with, &addr_with)?,
        Base::of(&data_without, &addr_without)?,
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    println!(
        "publish over HTTP with and without the Merkle log, {seconds} s per round, rounds alternating"
    );
    println!("| clients | round | with Merkle log items/s | without items/s | cost of the log |");
    println!("|---|---|---|---|---|");
    let mut first = 1_000_000_000;
    for c in clients {
        for round in 1..=3 {
            let r_with = publish_round(&rt, &addr_with, &token_with, first, c, seconds)?;
            let r_without = publish_round(&rt, &addr_without, &token_without, first, c, seconds)?;
            first += 100_000_000;
            println!(
                "| {c} | {round} | {r_with:.0} | {r_without:.0} | {:.1}% |",
                (1.0 - r_with / r_without) * 100.0
            );
        }
    }
    for child in [&mut a, &mut b] {
        child.kill()?;
        child.wait()?;
    }
    Ok(())
}

/// The Merkle log in the store at `entries` entries: appends (audit entries only, durable group
/// commit), proofs read from SQLite (median and p99), and `audit verify`'s rate against the
/// machine's raw SHA-256 rate over the same bytes, measured in the same run.
fn log(entries: u64) -> Result<()> {
    use gsomia_log::{ConsistencyProof, InclusionProof};
    use gsomia_store::{Batch, LogHashes, Store};
    let dir = std::env::temp_dir().join(format!("gsomia-bench-{}-log", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("gsomia.db");
    let store = Arc::new(gsomia_store::SqliteStore::open(&path)?);
    let started = Instant::now();
    let per_batch = 1000u64;
    let (tx, rx) = std::sync::mpsc::channel();
    let mut in_flight = 0;
    for b in 0..entries.div_ceil(per_batch) {
        let audit = (b * per_batch..((b + 1) * per_batch).min(entries))
            .map(|n| draft(&format!("report--00000000-0000-4000-8000-{n:012}")))
            .collect();
        let tx = tx.clone();
        store.submit(
            Batch {
                writes: vec![],
                audit,
            },
            Box::new(move |r| tx.send(r.is_ok()).unwrap()),
        );
        in_flight += 1;
        if in_flight == 16 {
            assert!(rx.recv()?);
            in_flight -= 1;
        }
    }
    for _ in 0..in_flight {
        assert!(rx.recv()?);
    }
    let fill = started.elapsed().as_secs_f64();
    println!(
        "{entries} audit entries (~250 bytes each) appended with their Merkle hashes: {:.0} entries/s",
        entries as f64 / fill
    );

    let size = store.log_size()?;
    let samples = 2000u64;
    let times = |f: &dyn Fn(u64)| {
        let mut t: Vec<Duration> = (0..samples)
            .map(|i| {
                let start = Instant::now();
                f(i);
                start.elapsed()
            })
            .collect();
        t.sort();
        (percentile(&t, 0.5) * 1000.0, percentile(&t, 0.99) * 1000.0)
    };
    let hashes = LogHashes(&*store);
    let step = 7_919_993 % size.max(1);
    println!(
        "| proof at {size} entries, from SQLite, random positions | median µs | p99 µs | target |"
    );
    println!("|---|---|---|---|");
    // The store keeps the upper levels of the tree in memory once read: the first pass starts
    // with nothing cached (a node just started), the second is a node that has been serving.
    for pass in ["first pass", "second pass"] {
        let (inc50, inc99) = times(&|i| {
            InclusionProof::make((i * step + 13) % size, size, &hashes).unwrap();
        });
        let (con50, con99) = times(&|i| {
            ConsistencyProof::make((i * step + 13) % (size - 1) + 1, size, &hashes).unwrap();
        });
        println!("| inclusion, {pass} | {inc50:.1} | {inc99:.1} | ≤ 20 µs median |");
        println!("| consistency, {pass} | {con50:.1} | {con99:.1} | ≤ 20 µs median |");
    }
    store.close();
    drop(store);

    // `audit verify` (what the command runs), then SHA-256 over the bytes it hashes.
    let file = gsomia_store::verify::LogFile::open(&path).map_err(|e| anyhow::anyhow!("{e}"))?;
    let started = Instant::now();
    let verified = file
        .verify(|_| bail_text(), |_, _| {})
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let verify_rate = verified.entries as f64 / started.elapsed().as_secs_f64();
    let sample = gsomia_store::AuditEntry::chain(
        1,
        gsomia_store::audit::GENESIS,
        draft("report--00000000-0000-4000-8000-000000000001").body(),
    );
    // Per entry: the chain hash (context, number and previous hash, then the body), the leaf
    // hash (0x00 and the body) and, on average, one node hash (65 bytes).
    let chain_input =
        format!("gsomia-audit-v1\n{}\n{}\n", 5_000_000, sample.hash).len() + sample.body.len();
    let per_entry = chain_input + 1 + sample.body.len() + 65;
    let raw = sha256_rate(per_entry);
    println!(
        "| audit verify | entries/s | raw SHA-256 over the same bytes, entries/s | ratio | target |"
    );
    println!("|---|---|---|---|---|");
    println!(
        "| {} entries | {verify_rate:.0} | {raw:.0} | {:.2} | ≥ 1,000,000 entries/s |",
        verified.entries,
        verify_rate / raw
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn bail_text() -> Result<(u64, gsomia_log::Hash), String> {
    Err("the benchmark issues no checkpoints".into())
}

/// How many entries of `bytes_per_entry` bytes SHA-256 hashes per second on one core (three
/// hashes per entry, as verify does: the sizes differ, the total is the same).
fn sha256_rate(bytes_per_entry: usize) -> f64 {
    use sha2::{Digest, Sha256};
    let buf = vec![0x5au8; bytes_per_entry];
    let n = 2_000_000u64;
    let started = Instant::now();
    let mut acc = 0u8;
    for i in 0..n {
        let mut h = Sha256::new();
        h.update(&buf[..bytes_per_entry / 3]);
        let a = h.finalize();
        let mut h = Sha256::new();
        h.update(&buf[bytes_per_entry / 3..2 * bytes_per_entry / 3]);
        let b = h.finalize();
        let mut h = Sha256::new();
        h.update(&buf[2 * bytes_per_entry / 3..]);
        h.update(i.to_le_bytes());
        let c = h.finalize();
        acc ^= a[0] ^ b[0] ^ c[0];
    }
    std::hint::black_box(acc);
    n as f64 / started.elapsed().as_secs_f64()
}

/// A stored item of about 1 KiB, as publish makes it (sealed content included).
fn stored(n: u64, label: &gsomia_core::Label, content: &[u8]) -> gsomia_store::StoredItem {
    gsomia_store::StoredItem {
        seq: 0,
        id: format!("report--00000000-0000-4000-8000-{n:012}")
            .parse()
            .expect("a STIX id"),
        modified: "2019-07-25T00:30:00.000Z".into(),
        stix_type: "report".into(),
        label: label.clone(),
        marking: None,
        custody: vec![],
        binding: "A".repeat(88),
        wrapped_key: Some(vec![1; 60]),
        content: Some(content.to_vec()),
        added: "2019-07-25T00:30:00Z".into(),
        destroyed: None,
    }
}

fn draft(id: &str) -> gsomia_store::AuditDraft {
    gsomia_store::AuditDraft {
        at: "2019-07-25T00:30:00Z".into(),
        actor: "kim".into(),
        action: "item.publish".into(),
        subject: id.into(),
        decision: gsomia_store::Verdict::Allow,
        rule: None,
        detail: serde_json::json!({ "version": "2019-07-25T00:30:00.000Z", "level": "II" }),
    }
}

/// Fills a store with `items` items from 8 threads; items per second.
pub(crate) fn fill<S: gsomia_store::Store + 'static>(
    store: &Arc<S>,
    first: u64,
    items: u64,
) -> f64 {
    use gsomia_store::{Batch, Write};
    let body: serde_json::Value = serde_json::from_str(&item(0)).unwrap();
    let label: gsomia_core::Label = serde_json::from_value(body["label"].clone()).unwrap();
    let content = Arc::new(vec![0u8; 1024 + 28]);
    let label = Arc::new(label);
    let threads = 8;
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (store, label, content) = (store.clone(), label.clone(), content.clone());
            std::thread::spawn(move || {
                // Keep up to 64 batches in flight per thread, as concurrent requests would.
                let (tx, rx) = std::sync::mpsc::channel();
                let mut in_flight = 0;
                for n in (first + t..first + items).step_by(threads as usize) {
                    let s = stored(n, &label, &content);
                    let batch = Batch {
                        audit: vec![draft(&s.id)],
                        writes: vec![Write::PutItem(Box::new(s))],
                    };
                    let tx = tx.clone();
                    store.submit(batch, Box::new(move |r| tx.send(r.is_ok()).unwrap()));
                    in_flight += 1;
                    if in_flight == 64 {
                        assert!(rx.recv().unwrap());
                        in_flight -= 1;
                    }
                }
                for _ in 0..in_flight {
                    assert!(rx.recv().unwrap());
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    items as f64 / start.elapsed().as_secs_f64()
}

/// gsomia's read decision against Cedar's (`bench/cedar`, outside the workspace so that
/// `cargo test` does not compile Cedar): builds and runs it in release.
fn cedar() -> Result<()> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench/cedar/Cargo.toml");
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["run", "--release", "--locked", "--manifest-path"])
        .arg(&manifest)
        .status()
        .context("running cargo")?;
    if !status.success() {
        bail!("the Cedar comparison failed: {status}");
    }
    Ok(())
}

fn store(items: u64) -> Result<()> {
    let dir = std::env::temp_dir().join(format!("gsomia-bench-{}-store", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let store = Arc::new(gsomia_store::SqliteStore::open(dir.join("gsomia.db"))?);
    let rate = fill(&store, 0, items);
    println!(
        "store alone, in process: {items} items (1 KiB sealed content + audit entry each), 8 threads, durable group commit"
    );
    println!("| items | items/s | target |\n|---|---|---|\n| {items} | {rate:.0} | 50,000 |");
    store.close();
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn memory(items: u64) -> Result<()> {
    let bin = gsomia()?;
    let (data, token) = node(&bin, "memory")?;
    {
        let store = Arc::new(gsomia_store::SqliteStore::open(data.join("gsomia.db"))?);
        let rate = fill(&store, 0, items);
        println!("filled {items} items at {rate:.0}/s");
        store.close();
    }
    let started = Instant::now();
    let (mut child, addr) = serve(&bin, &data)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let base = Base::of(&data, &addr)?;
    let http = base.client()?;
    let first = rt.block_on(async {
        loop {
            let healthz = format!("{}/healthz", base.url);
            if let Ok((200, _)) = http.send("GET", &healthz, &[], vec![]).await {
                return anyhow::Ok(started.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })?;
    // Some work on the full database: publishes and a page of the listing.
    let bodies = Arc::new(vec![item(0)]);
    let until = Instant::now() + Duration::from_secs(5);
    let done = rt.block_on(client(base, token, 900_000_000_000, until, bodies, 1))?;
    println!(
        "startup to first answered request on {items} items: {:.1} ms (target 100 ms)",
        first.as_secs_f64() * 1000.0
    );
    println!(
        "publishes on the full database (1 client, 5 s): {} ok, {} errors",
        done.0.len(),
        done.1
    );
    println!(
        "peak RSS of gsomia serve: {:.1} MiB (target 100 MB)",
        peak_rss_mib(child.id())
    );
    child.kill()?;
    child.wait()?;
    Ok(())
}

/// What TLS costs (issue 11: at most 15% of publish throughput with keep-alive): the same
/// build serving HTTPS and plain HTTP on loopback, publish rounds alternating between them;
/// then new connections per second (a TLS 1.3 handshake and one request each) on both.
fn tls(seconds: u64, clients: u64) -> Result<()> {
    let bin = gsomia()?;
    let (data_tls, token_tls) = node_serving(&bin, "tls", true)?;
    let (data_plain, token_plain) = node_serving(&bin, "plain", false)?;
    let (mut a, addr_tls) = serve(&bin, &data_tls)?;
    let (mut b, addr_plain) = serve(&bin, &data_plain)?;
    let (tls, plain) = (
        Base::of(&data_tls, &addr_tls)?,
        Base::of(&data_plain, &addr_plain)?,
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    println!(
        "publish over HTTPS (TLS 1.3, keep-alive) and plain HTTP on loopback, {clients} clients, \
         {seconds} s per round, rounds alternating"
    );
    println!("| round | HTTPS items/s | plain HTTP items/s | cost of TLS |");
    println!("|---|---|---|---|");
    let mut first = 1_000_000_000;
    let (mut sum_tls, mut sum_plain) = (0.0, 0.0);
    for round in 1..=3 {
        let r_tls = publish_round(&rt, &tls, &token_tls, first, clients, seconds)?;
        let r_plain = publish_round(&rt, &plain, &token_plain, first, clients, seconds)?;
        first += 100_000_000;
        sum_tls += r_tls;
        sum_plain += r_plain;
        println!(
            "| {round} | {r_tls:.0} | {r_plain:.0} | {:.1}% |",
            (1.0 - r_tls / r_plain) * 100.0
        );
    }
    println!(
        "| all | {:.0} | {:.0} | {:.1}% |",
        sum_tls / 3.0,
        sum_plain / 3.0,
        (1.0 - sum_tls / sum_plain) * 100.0
    );
    println!();
    println!("new connections, each one GET /healthz, 8 at a time, {seconds} s:");
    println!("| transport | connections/s |");
    println!("|---|---|");
    for (name, base) in [("HTTPS (TLS 1.3 handshake)", &tls), ("plain HTTP", &plain)] {
        let until = Instant::now() + Duration::from_secs(seconds);
        let started = Instant::now();
        let done = rt.block_on(async {
            let tasks: Vec<_> = (0..8)
                .map(|_| {
                    let base = base.clone();
                    tokio::spawn(async move {
                        let mut n = 0u64;
                        let url = format!("{}/healthz", base.url);
                        while Instant::now() < until {
                            // A new client has an empty pool: a new connection.
                            let (s, _) = base
                                .client()?
                                .send("GET", &url, &[], vec![])
                                .await
                                .map_err(anyhow::Error::msg)?;
                            anyhow::ensure!(s == 200, "healthz: {s}");
                            n += 1;
                        }
                        anyhow::Ok(n)
                    })
                })
                .collect();
            let mut n = 0;
            for t in tasks {
                n += t.await??;
            }
            anyhow::Ok(n)
        })?;
        println!(
            "| {name} | {:.0} |",
            done as f64 / started.elapsed().as_secs_f64()
        );
    }
    for child in [&mut a, &mut b] {
        child.kill()?;
        child.wait()?;
    }
    Ok(())
}

/// A free port on 127.0.0.1 (bound, then released).
fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// The crypto of delivering `n` items in envelopes of `batch`, alone: the sender's HPKE seal and
/// signature, the receiver's signature check and HPKE open, the originator's binding checked and
/// a receipt signed per item, or (`one_signature`) the receipts signed as the node signs them
/// now, once an envelope over their Merkle root. Items per second.
fn crypto_rate(n: usize, batch: usize, one_signature: bool) -> Result<f64> {
    use gsomia_crypto::envelope::{self, Header};
    let kor = gsomia_crypto::NodeKeys::from_seeds([1; 32], [2; 32], [3; 32]);
    let jpn_public: [u8; 32] = {
        use base64::Engine;
        let jpn = gsomia_crypto::NodeKeys::from_seeds([4; 32], [5; 32], [6; 32]);
        base64::engine::general_purpose::STANDARD
            .decode(jpn.public().encryption)?
            .try_into()
            .map_err(|_| anyhow::anyhow!("key"))?
    };
    let body: serde_json::Value = serde_json::from_str(&item(1))?;
    let label: gsomia_core::Label = serde_json::from_value(body["label"].clone())?;
    let binding = gsomia_crypto::sign_binding(&kor.signing, &label, &body["object"])?;
    let file = serde_json::json!({ "label": body["label"], "object": body["object"], "binding": binding.to_base64() });
    let items: Vec<serde_json::Value> = (0..batch)
        .map(|_| serde_json::json!({ "seq": 1, "kind": "item", "item": file.clone() }))
        .collect();
    let payload = serde_json::to_vec(&serde_json::json!({ "messages": items }))?;
    let checked =
        gsomia_core::Item::from_json(&file.to_string()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let receipt: gsomia_core::Receipt = serde_json::from_value(serde_json::json!({
        "item": "report--00000000-0000-4000-8000-000000000001", "version": "2019-07-25T00:00:00.000Z",
        "party": "JPN", "marking": { "party": "JPN", "level": "HI", "originator": "KOR" },
        "agreement": "kor-jpn-gsomia", "received": "2019-07-25T00:00:00Z",
    }))?;
    let mut rng = XtaskRng;
    let start = Instant::now();
    let mut done = 0;
    while done < n {
        let header = Header {
            protocol: gsomia_crypto::envelope::PROTOCOL,
            from: "KOR".parse()?,
            to: "JPN".parse()?,
            id: "x".into(),
            seq: (1, 1),
            sent: "2019-07-25T00:00:00Z".into(),
        };
        let env = envelope::seal(&kor.signing, &jpn_public, header, &payload, &mut rng)?;
        let opened = envelope::open(&env, &kor.signing.verifying_key(), "JPN".parse()?, &[5; 32])?;
        std::hint::black_box(opened);
        for _ in 0..batch {
            gsomia_crypto::verify_binding(&kor.signing.verifying_key(), &checked)?;
            if !one_signature {
                std::hint::black_box(gsomia_crypto::statement::sign(
                    &kor.signing,
                    "receipt",
                    &serde_json::to_value(&receipt)?,
                ));
            }
        }
        if one_signature {
            std::hint::black_box(gsomia_node::protocol::sign_receipts(
                &kor.signing,
                vec![receipt.clone(); batch],
            ));
        }
        done += batch;
    }
    Ok(done as f64 / start.elapsed().as_secs_f64())
}

/// The OS generator, for the envelope benchmark.
pub(crate) struct XtaskRng;

impl gsomia_crypto::envelope::RngCore for XtaskRng {
    fn next_u32(&mut self) -> u32 {
        self.next_u64() as u32
    }
    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.fill_bytes(&mut b);
        u64::from_le_bytes(b)
    }
    fn fill_bytes(&mut self, dst: &mut [u8]) {
        getrandom::fill(dst).expect("the OS generator");
    }
}

impl gsomia_crypto::envelope::CryptoRng for XtaskRng {}

/// KOR and JPN, initialised in `dir`, knowing each other, under the Korea–Japan GSOMIA.
pub(crate) fn pair(bin: &Path, dir: &Path) -> Result<()> {
    model(bin, dir, &["KOR", "JPN"])
}

/// `parties` of the model case initialised in `dir/<party>` (each listening on a free port),
/// each knowing the others, each with the model case's agreements among them.
pub(crate) fn model(bin: &Path, dir: &Path, parties: &[&str]) -> Result<()> {
    let schemes = workspace().join("examples/model-case/schemes");
    let path = |p: &Path| p.to_str().context("path").map(str::to_owned);
    for p in parties {
        let port = free_port()?;
        let scheme = schemes.join(format!("{p}.json"));
        run(
            bin,
            &[
                "init",
                "--data",
                &path(&dir.join(p))?,
                "--party",
                p,
                "--scheme",
                &path(&scheme)?,
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--endpoint",
                &format!("https://127.0.0.1:{port}"),
            ],
        )?;
    }
    for q in parties {
        let desc = run(bin, &["party", "export", "--data", &path(&dir.join(q))?])?;
        let file = dir.join(format!("{q}.json"));
        std::fs::write(&file, desc)?;
        for p in parties.iter().filter(|p| *p != q) {
            run(
                bin,
                &[
                    "party",
                    "import",
                    "--data",
                    &path(&dir.join(p))?,
                    &path(&file)?,
                ],
            )?;
        }
    }
    let agreements = workspace().join("examples/model-case/agreements");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&agreements)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    files.sort();
    for file in files {
        let a: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&file)?)?;
        let named: Vec<&str> = a["parties"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p.as_str())
            .collect();
        if !named.iter().all(|p| parties.contains(p)) {
            continue;
        }
        for p in named {
            run(
                bin,
                &[
                    "agreement",
                    "import",
                    "--data",
                    &path(&dir.join(p))?,
                    &path(&file)?,
                ],
            )?;
        }
    }
    Ok(())
}

/// KOR releases `items` items to JPN while JPN is down; JPN starts; the time until every item
/// is received, checked, marked, stored and acknowledged is the catch-up, and the rate of it the
/// node-to-node throughput.
fn federation(items: u64) -> Result<()> {
    let bin = gsomia()?;
    let dir = std::env::temp_dir().join(format!("gsomia-bench-{}-federation", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    pair(&bin, &dir)?;
    let kor_data = dir.join("KOR");
    let token = add_kim(&bin, &kor_data, "analyst,security_officer")?;
    let (mut kor, kor_addr) = serve(&bin, &kor_data)?;
    let kor_base = Base::of(&kor_data, &kor_addr)?;
    // JPN is down: publish and release everything at KOR.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let queued = Instant::now();
    rt.block_on(async {
        let tasks: Vec<_> = (0..32u64)
            .map(|c| {
                let (base, token) = (kor_base.clone(), token.clone());
                tokio::spawn(async move {
                    let http = base.client()?;
                    let auth = format!("Bearer {token}");
                    let headers = [
                        ("authorization", auth.as_str()),
                        ("content-type", "application/json"),
                    ];
                    for n in (c..items).step_by(32) {
                        let id = format!("report--00000000-0000-4000-8000-{n:012}");
                        let url = format!("{}/api/v1/items", base.url);
                        let (s, b) = http
                            .send("POST", &url, &headers, item(n).into_bytes())
                            .await
                            .map_err(|e| anyhow::anyhow!(e))?;
                        anyhow::ensure!(s == 201, "publish: {s} {}", String::from_utf8_lossy(&b));
                        let url = format!("{}/api/v1/items/{id}/release", base.url);
                        let (s, b) = http
                            .send("POST", &url, &headers, br#"{"to":"JPN"}"#.to_vec())
                            .await
                            .map_err(|e| anyhow::anyhow!(e))?;
                        anyhow::ensure!(s == 202, "release: {s} {}", String::from_utf8_lossy(&b));
                    }
                    anyhow::Ok(())
                })
            })
            .collect();
        for t in tasks {
            t.await??;
        }
        anyhow::Ok(())
    })?;
    let queue_secs = queued.elapsed().as_secs_f64();
    // JPN comes up; time until KOR's outbox is empty (every signed reply checked).
    let started = Instant::now();
    let (mut jpn, _) = serve(&bin, &dir.join("JPN"))?;
    let kor_store = gsomia_store::SqliteStore::open(kor_data.join("gsomia.db"))?;
    let deadline = Instant::now() + Duration::from_secs(600);
    let jpn_code: gsomia_core::PartyCode = "JPN".parse()?;
    // KOR may be waiting out its backoff (up to 30 s) when JPN comes up: the rate is timed
    // from the first envelope acknowledged, which moves the first pending message on.
    let first_pending = || -> Result<Option<u64>> {
        use gsomia_store::Store;
        Ok(kor_store
            .outbox_pending(jpn_code, 1)?
            .first()
            .map(|m| m.seq))
    };
    let queued_first = first_pending()?.context("nothing queued")?;
    let mut moving: Option<(Instant, u64)> = None;
    loop {
        let first = first_pending()?;
        if moving.is_none() && first != Some(queued_first) {
            let done = first.map_or(items, |f| f - queued_first);
            moving = Some((Instant::now(), done));
        }
        if first.is_none() {
            break;
        }
        if Instant::now() > deadline {
            bail!("JPN did not catch up in 10 minutes");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let catch_up = started.elapsed().as_secs_f64();
    let (moved_at, done_then) = moving.context("the outbox never moved")?;
    let moving_secs = moved_at.elapsed().as_secs_f64();
    let rate = (items - done_then) as f64 / moving_secs;
    let waited = catch_up - moving_secs;
    let jpn_store = gsomia_store::SqliteStore::open(dir.join("JPN").join("gsomia.db"))?;
    let received = {
        use gsomia_store::Store;
        jpn_store.counts()?.items
    };
    let reference = crypto_rate(4000, 200, false)?;
    let as_now = crypto_rate(4000, 200, true)?;
    let unbatched = crypto_rate(1000, 1, false)?;
    let local = items as f64 / queue_secs;
    println!(
        "federation KOR → JPN on loopback, {items} items of 1 KiB queued while JPN was down (queued in {queue_secs:.1} s)"
    );
    println!("| measure | figure |\n|---|---|");
    println!("| catch-up: JPN start to KOR's outbox empty | {catch_up:.1} s |");
    println!("| of which KOR's backoff and the first round | {waited:.1} s |");
    println!("| items received, checked, marked, stored and acknowledged | {received} |");
    println!(
        "| node-to-node rate, first acknowledgement to outbox empty | {rate:.0} items/s (target 10,000) |"
    );
    println!(
        "| reference: crypto alone, same batching (seal+sign, verify+open, binding verify, receipt sign) | {reference:.0} items/s |"
    );
    println!("| ratio | {:.2} |", rate / reference);
    println!(
        "| the same crypto with the receipts signed once an envelope, as the node does | {as_now:.0} items/s (ratio {:.2}) |",
        rate / as_now
    );
    println!("| the same crypto with one item per envelope | {unbatched:.0} items/s |");
    println!(
        "| KOR's local rate while queueing (publish and release, 32 clients) | {local:.0} items/s (ratio {:.2}) |",
        rate / local
    );
    for c in [&mut kor, &mut jpn] {
        c.kill()?;
        c.wait()?;
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// `cargo xtask simulate`: seeds `seed..seed+seeds` of the deterministic simulation
/// (`gsomia-sim`), `steps` steps each; a broken invariant names its seed and step, and the same
/// command with that seed replays it exactly.
fn simulate(world: gsomia_sim::World, seed: u64, seeds: u64, steps: u64) -> Result<()> {
    println!(
        "| seed | steps | published | released | refused | reclassified | delivered | faults | restarts | replays and forgeries | rewritten by a member | checkpoints | received | steps/s |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for s in seed..seed + seeds {
        let started = Instant::now();
        let mut last = started;
        let r = gsomia_sim::run_with(world, s, steps, |r| {
            eprintln!(
                "seed {s}: {} steps, {:.0} steps/s, the last 10,000 at {:.0}/s",
                r.steps,
                r.steps as f64 / started.elapsed().as_secs_f64(),
                10_000.0 / last.elapsed().as_secs_f64()
            );
            last = Instant::now();
        })
        .map_err(|e| {
            anyhow::anyhow!(
                "seed {s}: {e} (replay: cargo xtask simulate --world {} --seed {s} --steps {steps})",
                world.name()
            )
        })?;
        let rate = r.steps as f64 / started.elapsed().as_secs_f64();
        println!(
            "| {s} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {rate:.0} |",
            r.steps,
            r.published,
            r.released,
            r.refused,
            r.reclassified,
            r.delivered,
            r.faults,
            r.restarts,
            r.replays,
            r.tampered,
            r.checkpoints,
            r.received
        );
    }
    Ok(())
}
