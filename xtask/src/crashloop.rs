//! `cargo xtask crashloop [--minutes 10] [--seed 1] [--clients 8]`: a KOR–JPN pair of real
//! `gsomia serve` processes; `clients` publishers at KOR publish and release to JPN without
//! pause while a seeded killer sends SIGKILL to one side or the other every 2 to 10 seconds and
//! starts it again after up to 2 seconds. Then the killing stops, KOR's outbox drains, and:
//! every publication KOR acknowledged (201) is held at KOR; every release it acknowledged (202)
//! is held at JPN exactly once, and JPN received them in the order KOR queued them; both audit
//! logs verify (`gsomia audit verify`). Any miss fails the run.

use std::path::Path;
use std::process::Child;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use gsomia_store::Store as _;

use super::{Base, add_kim, gsomia, item, pair, run as gsomia_run, serve};

/// A side of the pair: its data folder, the running process if up, its address.
struct Side {
    name: &'static str,
    data: std::path::PathBuf,
    child: Option<Child>,
    addr: String,
}

impl Side {
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn start(&mut self, bin: &Path) -> Result<()> {
        let (child, addr) = serve(bin, &self.data)?;
        self.child = Some(child);
        self.addr = addr;
        Ok(())
    }
}

/// Runs the loop for `minutes`; prints what it did and checked.
pub fn run(minutes: f64, seed: u64, clients: u64) -> Result<()> {
    let bin = gsomia()?;
    let dir = std::env::temp_dir().join(format!("gsomia-crashloop-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    pair(&bin, &dir)?;
    let token = add_kim(&bin, &dir.join("KOR"), "analyst,security_officer")?;
    let sides = [("KOR", dir.join("KOR")), ("JPN", dir.join("JPN"))].map(|(name, data)| {
        Arc::new(Mutex::new(Side {
            name,
            data,
            child: None,
            addr: String::new(),
        }))
    });
    for s in &sides {
        s.lock().unwrap().start(&bin)?;
    }
    let kor_data = dir.join("KOR");
    let base = Base::of(&kor_data, &sides[0].lock().unwrap().addr)?;
    let stop = Arc::new(AtomicBool::new(false));
    let next = Arc::new(AtomicU64::new(0));
    let published = Arc::new(Mutex::new(vec![]));
    let released = Arc::new(Mutex::new(vec![]));
    let failed = Arc::new(AtomicU64::new(0));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let load: Vec<_> = (0..clients)
        .map(|_| {
            let (base, token, stop, next) =
                (base.clone(), token.clone(), stop.clone(), next.clone());
            let (published, released, failed) =
                (published.clone(), released.clone(), failed.clone());
            rt.spawn(async move {
                let auth = format!("Bearer {token}");
                let headers = [
                    ("authorization", auth.as_str()),
                    ("content-type", "application/json"),
                ];
                while !stop.load(Ordering::Relaxed) {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    let id = format!("report--00000000-0000-4000-8000-{n:012}");
                    // A client of its own each time: a killed server leaves no pooled
                    // connection behind.
                    let Ok(http) = base.client() else { continue };
                    let url = format!("{}/api/v1/items", base.url);
                    match http
                        .send("POST", &url, &headers, item(n).into_bytes())
                        .await
                    {
                        Ok((201, _)) => published.lock().unwrap().push(id.clone()),
                        _ => {
                            failed.fetch_add(1, Ordering::Relaxed);
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    }
                    let url = format!("{}/api/v1/items/{id}/release", base.url);
                    match http
                        .send("POST", &url, &headers, br#"{"to":"JPN"}"#.to_vec())
                        .await
                    {
                        Ok((202, _)) => released.lock().unwrap().push(id),
                        _ => {
                            failed.fetch_add(1, Ordering::Relaxed);
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    }
                }
            })
        })
        .collect();
    let mut rng = gsomia_sim::Rng::new(seed);
    let deadline = Instant::now() + Duration::from_secs_f64(minutes * 60.0);
    let mut kills = [0u64; 2];
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(2_000 + rng.below(8_000)));
        let which = rng.below(2) as usize;
        let mut side = sides[which].lock().unwrap();
        side.kill();
        kills[which] += 1;
        std::thread::sleep(Duration::from_millis(rng.below(2_000)));
        side.start(&bin)
            .with_context(|| format!("{} did not start again", side.name))?;
    }
    stop.store(true, Ordering::Relaxed);
    rt.block_on(async {
        for t in load {
            let _ = t.await;
        }
    });
    // Drain: KOR's outbox to JPN empties.
    let jpn: gsomia_core::PartyCode = "JPN".parse()?;
    let kor_store = gsomia_store::SqliteStore::open(kor_data.join("gsomia.db"))?;
    let drained = Instant::now() + Duration::from_secs(300);
    while !kor_store.outbox_pending(jpn, 1)?.is_empty() {
        ensure!(
            Instant::now() < drained,
            "KOR's outbox to JPN did not drain"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Let the last reply settle, then stop both and check.
    for s in &sides {
        s.lock().unwrap().kill();
    }
    let published = published.lock().unwrap().clone();
    let released = released.lock().unwrap().clone();
    let kor_held: std::collections::HashSet<String> = kor_store
        .items_after(0, usize::MAX)?
        .into_iter()
        .map(|i| i.id.to_string())
        .collect();
    let lost: Vec<_> = published
        .iter()
        .filter(|id| !kor_held.contains(*id))
        .collect();
    ensure!(
        lost.is_empty(),
        "KOR lost acknowledged publications: {lost:?}"
    );
    drop(kor_store);
    let jpn_store = gsomia_store::SqliteStore::open(dir.join("JPN/gsomia.db"))?;
    let jpn_held: Vec<String> = jpn_store
        .items_after(0, usize::MAX)?
        .into_iter()
        .map(|i| i.id.to_string())
        .collect();
    held_once(&jpn_held, &released)?;
    // In order: JPN's items come in the order KOR queued their releases.
    let kor_order = queue_order(&dir.join("KOR/gsomia.db"))?;
    let place: std::collections::HashMap<&String, usize> = kor_order
        .iter()
        .enumerate()
        .map(|(i, id)| (id, i))
        .collect();
    let positions: Vec<usize> = jpn_held
        .iter()
        .filter_map(|id| place.get(id).copied())
        .collect();
    ensure!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "JPN received items out of KOR's order"
    );
    drop(jpn_store);
    verify_logs(&bin, &dir)?;
    println!(
        "| minutes | seed | clients | SIGKILLs KOR / JPN | publications acknowledged | releases acknowledged | requests refused while down | held at JPN | lost | twice | out of order | logs |"
    );
    println!("|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---|");
    println!(
        "| {minutes} | {seed} | {clients} | {} / {} | {} | {} | {} | {} | 0 | 0 | 0 | both verify |",
        kills[0],
        kills[1],
        published.len(),
        released.len(),
        failed.load(Ordering::Relaxed),
        jpn_held.len()
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// JPN holds each item of `held` once, and every acknowledged release of `released`.
pub(crate) fn held_once(held: &[String], released: &[String]) -> Result<()> {
    let unique: std::collections::HashSet<&String> = held.iter().collect();
    ensure!(unique.len() == held.len(), "JPN holds an item twice");
    let missing: Vec<_> = released.iter().filter(|id| !unique.contains(id)).collect();
    ensure!(
        missing.is_empty(),
        "{} acknowledged releases never reached JPN: {missing:?}",
        missing.len()
    );
    Ok(())
}

/// `gsomia audit verify` of KOR's and JPN's logs in `dir`: the first line of each report.
pub(crate) fn verify_logs(bin: &Path, dir: &Path) -> Result<Vec<String>> {
    let mut reports = vec![];
    for party in ["KOR", "JPN"] {
        let data = dir.join(party);
        let out = gsomia_run(
            bin,
            &["audit", "verify", "--data", data.to_str().context("path")?],
        )?;
        if !out.contains("entries verified") {
            bail!("{party}'s log: {out}");
        }
        reports.push(format!(
            "{party}: {}",
            out.lines().next().unwrap_or_default()
        ));
    }
    Ok(reports)
}

/// The ids of the items KOR released to JPN, in the order it queued them: its allowed
/// `item.release` entries, each committed with its outbox message.
fn queue_order(db: &Path) -> Result<Vec<String>> {
    let store = gsomia_store::SqliteStore::open(db)?;
    let entries = store.audit_after(0, usize::MAX)?;
    Ok(entries
        .iter()
        .filter_map(|e| {
            let b = e.parse()?;
            (b.action == "item.release" && b.decision == gsomia_store::Verdict::Allow)
                .then_some(b.subject)
        })
        .collect())
}
