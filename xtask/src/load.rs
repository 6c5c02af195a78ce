//! `cargo xtask bench load [--minutes 10] [--steady-minutes 0] [--clients 1000] [--think-ms
//! 1000]`: one KOR node
//! (serving HTTPS, the SQLite default) under `clients` concurrent clients for `minutes`, each on
//! its own keep-alive connection, each pausing a random 0 to 2 × `think-ms` between requests:
//! four in ten publish an item, three in ten read one already published, two in ten walk the
//! TAXII collection a page of 100 at a time, one in ten releases a published item to JPN (a
//! second node on the same machine, which receives the stream). Every answer other than the
//! expected one is an error; the run fails on any. It prints, per route, the requests, errors,
//! rate and p50/p99/max latency; each minute, the items KOR holds and both nodes' resident
//! memory (KOR's search index is in memory, so its memory follows what it holds). Then, for
//! `steady-minutes`, the same clients with what KOR holds kept constant: the publishers read
//! instead and the releasers stop once all is released, so that memory under load is seen
//! apart from memory for what is held. Then, with
//! the load stopped and KOR's outbox to JPN drained, that JPN holds every acknowledged release
//! exactly once and that both audit logs verify (`gsomia audit verify`).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use gsomia_store::Store as _;

use super::{Base, add_kim, gsomia, item, pair, percentile, serve};

/// The routes the clients use, in the order the table lists them.
const ROUTES: [&str; 4] = [
    "POST /api/v1/items",
    "GET /api/v1/items/{id}",
    "GET /taxii2/…/objects/?limit=100",
    "POST /api/v1/items/{id}/release",
];

/// What every client shares: the numbers published (for readers), the ones not yet released
/// (for releasers), the ids released, and per route the latencies and errors.
#[derive(Default)]
struct Shared {
    next: AtomicU64,
    published: Mutex<Vec<u64>>,
    to_release: Mutex<VecDeque<u64>>,
    released: Mutex<Vec<String>>,
    latencies: [Mutex<Vec<Duration>>; 4],
    errors: [AtomicU64; 4],
    first_errors: Mutex<Vec<String>>,
    /// The steady phase: nothing more is published.
    steady: AtomicBool,
    /// A publish body whose number is `000000000000`.
    template: String,
}

impl Shared {
    fn body(&self, n: u64) -> Vec<u8> {
        self.template
            .replace("000000000000\"", &format!("{n:012}\""))
            .into_bytes()
    }

    fn record(&self, route: usize, took: Duration, outcome: Result<(), String>) {
        match outcome {
            Ok(()) => self.latencies[route].lock().unwrap().push(took),
            Err(e) => {
                self.errors[route].fetch_add(1, Ordering::Relaxed);
                let mut first = self.first_errors.lock().unwrap();
                if first.len() < 10 {
                    first.push(format!("{}: {e}", ROUTES[route]));
                }
            }
        }
    }
}

/// A client's connection and what it needs to ask.
struct Asker {
    http: gsomia_node::client::Client,
    base: String,
    auth: String,
    objects: String,
}

impl Asker {
    async fn send(&self, method: &str, path: &str, body: Vec<u8>) -> Result<(u16, Vec<u8>)> {
        let headers = [
            ("authorization", self.auth.as_str()),
            ("content-type", "application/json"),
            ("accept", "application/taxii+json;version=2.1"),
        ];
        let url = format!("{}{path}", self.base);
        self.http
            .send(method, &url, &headers, body)
            .await
            .map_err(anyhow::Error::msg)
    }
}

fn id_of(n: u64) -> String {
    format!("report--00000000-0000-4000-8000-{n:012}")
}

fn expect(status: u16, want: u16, body: &[u8]) -> Result<(), String> {
    if status == want {
        Ok(())
    } else {
        Err(format!(
            "{status} (expected {want}): {}",
            String::from_utf8_lossy(&body[..body.len().min(300)])
        ))
    }
}

/// One client of `role` (0–3 publish, 4–6 read, 7–8 walk TAXII, 9 release) until `stop`; in
/// the steady phase the publishers read.
async fn client(
    role: u64,
    asker: Asker,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    think_ms: u64,
    seed: u64,
) {
    let mut rng = gsomia_sim::Rng::new(seed);
    let mut next_page: Option<String> = None;
    while !stop.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(rng.below(2 * think_ms + 1))).await;
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let started = Instant::now();
        let steady = shared.steady.load(Ordering::Relaxed);
        let (route, outcome) = match role {
            0..=3 if !steady => {
                let n = shared.next.fetch_add(1, Ordering::Relaxed);
                let outcome = match asker.send("POST", "/api/v1/items", shared.body(n)).await {
                    Ok((status, body)) => expect(status, 201, &body),
                    Err(e) => Err(format!("{e:#}")),
                };
                if outcome.is_ok() {
                    shared.published.lock().unwrap().push(n);
                    shared.to_release.lock().unwrap().push_back(n);
                }
                (0, outcome)
            }
            0..=6 => {
                let n = {
                    let published = shared.published.lock().unwrap();
                    published[rng.below(published.len() as u64) as usize]
                };
                let path = format!("/api/v1/items/{}", id_of(n));
                let outcome = match asker.send("GET", &path, vec![]).await {
                    Ok((status, body)) => expect(status, 200, &body),
                    Err(e) => Err(format!("{e:#}")),
                };
                (1, outcome)
            }
            7 | 8 => {
                let path = match &next_page {
                    None => format!("{}?limit=100", asker.objects),
                    Some(n) => format!("{}?limit=100&next={n}", asker.objects),
                };
                let outcome = match asker.send("GET", &path, vec![]).await {
                    Ok((200, body)) => match serde_json::from_slice::<serde_json::Value>(&body) {
                        Ok(page) => {
                            next_page = if page["more"] == true {
                                page["next"].as_str().map(str::to_owned)
                            } else {
                                None
                            };
                            Ok(())
                        }
                        Err(e) => Err(format!("a page that is not JSON: {e}")),
                    },
                    Ok((status, body)) => expect(status, 200, &body),
                    Err(e) => Err(format!("{e:#}")),
                };
                (2, outcome)
            }
            _ => {
                let Some(n) = shared.to_release.lock().unwrap().pop_front() else {
                    continue;
                };
                let path = format!("/api/v1/items/{}/release", id_of(n));
                let outcome = match asker.send("POST", &path, br#"{"to":"JPN"}"#.to_vec()).await {
                    Ok((status, body)) => expect(status, 202, &body),
                    Err(e) => Err(format!("{e:#}")),
                };
                if outcome.is_ok() {
                    shared.released.lock().unwrap().push(id_of(n));
                }
                (3, outcome)
            }
        };
        shared.record(route, started.elapsed(), outcome);
    }
}

/// Resident memory of a process now, in MiB.
fn rss_mib(pid: u32) -> f64 {
    super::memory_mib(pid, "VmRSS:")
}

/// Runs the load; prints the tables; fails on any error or check missed.
pub fn run(minutes: f64, steady_minutes: f64, clients: u64, think_ms: u64) -> Result<()> {
    let bin = gsomia()?;
    let dir = std::env::temp_dir().join(format!("gsomia-bench-load-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    pair(&bin, &dir)?;
    let kor_data = dir.join("KOR");
    let config = kor_data.join("gsomia.toml");
    let text = std::fs::read_to_string(&config)?;
    std::fs::write(
        &config,
        format!("{text}taxii_topics = [\"dprk-missile\"]\n"),
    )?;
    let token = add_kim(&bin, &kor_data, "analyst,security_officer")?;
    let (mut kor, kor_addr) = serve(&bin, &kor_data)?;
    let (mut jpn, _) = serve(&bin, &dir.join("JPN"))?;
    let base = Base::of(&kor_data, &kor_addr)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let shared = Arc::new(Shared {
        template: item(0),
        ..Shared::default()
    });
    let asker = |base: &Base| -> Result<Asker> {
        Ok(Asker {
            http: base.client()?,
            base: base.url.clone(),
            auth: format!("Bearer {token}"),
            objects: String::new(),
        })
    };
    // The TAXII collection, and 1,000 items for the first readers and walkers.
    let objects = rt.block_on(async {
        let a = asker(&base)?;
        let (status, body) = a.send("GET", "/taxii2/api/collections/", vec![]).await?;
        ensure!(status == 200, "GET collections: {status}");
        let v: serde_json::Value = serde_json::from_slice(&body)?;
        let id = v["collections"][0]["id"]
            .as_str()
            .context("no TAXII collection")?
            .to_owned();
        for n in 0..1_000 {
            let (status, body) = a
                .send("POST", "/api/v1/items", item(n).into_bytes())
                .await?;
            ensure!(
                status == 201,
                "seeding: {status} {}",
                String::from_utf8_lossy(&body)
            );
            shared.published.lock().unwrap().push(n);
        }
        anyhow::Ok(format!("/taxii2/api/collections/{id}/objects/"))
    })?;
    shared.next.store(1_000, Ordering::Relaxed);
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for i in 0..clients {
        let mut a = asker(&base)?;
        a.objects.clone_from(&objects);
        tasks.push(rt.spawn(client(
            i % 10,
            a,
            shared.clone(),
            stop.clone(),
            think_ms,
            i + 1,
        )));
    }
    println!(
        "load: {clients} clients, {think_ms} ms mean pause, {minutes} minutes, then \
         {steady_minutes} with the items held constant"
    );
    let started = Instant::now();
    let steady_from = started + Duration::from_secs_f64(minutes * 60.0);
    let deadline = steady_from + Duration::from_secs_f64(steady_minutes * 60.0);
    let held = || shared.published.lock().unwrap().len();
    let mut memory = vec![(0.0, held(), rss_mib(kor.id()), rss_mib(jpn.id()))];
    while Instant::now() < deadline {
        let now = Instant::now();
        let next = if now < steady_from {
            steady_from
        } else {
            deadline
        };
        std::thread::sleep(Duration::from_secs(60).min(next - now));
        if Instant::now() >= steady_from && !shared.steady.swap(true, Ordering::Relaxed) {
            eprintln!("  steady: nothing more is published");
        }
        let at = started.elapsed().as_secs_f64() / 60.0;
        let sample = (at, held(), rss_mib(kor.id()), rss_mib(jpn.id()));
        let done: usize = shared
            .latencies
            .iter()
            .map(|l| l.lock().unwrap().len())
            .sum();
        let errors: u64 = shared
            .errors
            .iter()
            .map(|e| e.load(Ordering::Relaxed))
            .sum();
        eprintln!(
            "  {at:.1} min: {done} requests, {errors} errors, {} items, KOR {:.0} MiB, JPN {:.0} MiB",
            sample.1, sample.2, sample.3
        );
        memory.push(sample);
    }
    stop.store(true, Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    rt.block_on(async {
        for t in tasks {
            let _ = t.await;
        }
    });
    println!("| route | requests | errors | per second | p50 ms | p99 ms | max ms |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (r, name) in ROUTES.iter().enumerate() {
        let mut l = std::mem::take(&mut *shared.latencies[r].lock().unwrap());
        l.sort();
        println!(
            "| `{name}` | {} | {} | {:.0} | {:.1} | {:.1} | {:.1} |",
            l.len(),
            shared.errors[r].load(Ordering::Relaxed),
            l.len() as f64 / elapsed,
            percentile(&l, 0.50),
            percentile(&l, 0.99),
            percentile(&l, 1.0),
        );
    }
    println!();
    // The search index is in memory (`gsomia_node::search`): KOR's memory follows the items
    // it holds; what must not grow is the rest, per item held.
    println!("| minute | items held at KOR | KOR resident MiB | JPN resident MiB |");
    println!("|---:|---:|---:|---:|");
    for (at, items, k, j) in &memory {
        let steady = if *at > minutes + 0.01 {
            " (steady)"
        } else {
            ""
        };
        println!("| {at:.1}{steady} | {items} | {k:.0} | {j:.0} |");
    }
    let errors: u64 = shared
        .errors
        .iter()
        .map(|e| e.load(Ordering::Relaxed))
        .sum();
    let first = shared.first_errors.lock().unwrap().clone();
    ensure!(errors == 0, "{errors} errors; the first: {first:#?}");
    // Drain KOR's outbox to JPN, stop both, check what JPN holds and both logs.
    let jpn_code: gsomia_core::PartyCode = "JPN".parse()?;
    let kor_store = gsomia_store::SqliteStore::open(kor_data.join("gsomia.db"))?;
    let drained = Instant::now() + Duration::from_secs(600);
    let drain_started = Instant::now();
    while !kor_store.outbox_pending(jpn_code, 1)?.is_empty() {
        ensure!(
            Instant::now() < drained,
            "KOR's outbox to JPN did not drain"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let drain = drain_started.elapsed().as_secs_f64();
    drop(kor_store);
    for child in [&mut kor, &mut jpn] {
        let _ = child.kill();
        let _ = child.wait();
    }
    let released = shared.released.lock().unwrap().clone();
    let jpn_store = gsomia_store::SqliteStore::open(dir.join("JPN/gsomia.db"))?;
    let held: Vec<String> = jpn_store
        .items_after(0, usize::MAX)?
        .into_iter()
        .map(|i| i.id.to_string())
        .collect();
    drop(jpn_store);
    super::crashloop::held_once(&held, &released)?;
    for report in super::crashloop::verify_logs(&bin, &dir)? {
        println!("{report}");
    }
    println!(
        "0 errors; {} releases acknowledged, all held at JPN once ({drain:.1} s to drain after the load); both logs verify",
        released.len()
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
