//! `cargo xtask bench taxii`: gsomia next to two Python TAXII 2.1 servers (medallion 3.0.0 and
//! OpenTAXII 0.9.3, started by `bench/taxii-peers`) on the same data and the same client. Each
//! peer is loaded in cumulative steps (to 1,000 objects, measure; to 10,000, measure; ...) with
//! envelopes of 100 STIX 2.1 indicators of about 1 KiB, and measured at each size: POST rate,
//! a full page walk (limit=100), GET by id, 8 concurrent walkers, and peak RSS. One peer runs at
//! a time; a peer that cannot finish a size within the deadline is stopped there.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail, ensure};
use base64::Engine;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, StatusCode, header};
use hyper_util::rt::TokioIo;
use serde_json::Value;

use super::{cpu_seconds, free_port, peak_rss_mib, percentile, workspace};

/// The TAXII media type, exactly (both Python peers compare it strictly).
const MEDIA: &str = "application/taxii+json;version=2.1";
/// gsomia's classification marking, sent in every envelope to every peer.
const MARKING_ID: &str = "marking-definition--0b6f4b3e-6f1e-4a3c-9b8f-2f3c1d2e4a5b";
const MARKING: &str = r#"{"type":"marking-definition","spec_version":"2.1","id":"marking-definition--0b6f4b3e-6f1e-4a3c-9b8f-2f3c1d2e4a5b","created":"2019-07-25T00:00:00.000Z","name":"KOR II (dprk-missile, missile-warning)","extensions":{"extension-definition--420947b7-41ca-42a7-ba55-53cdc95fd69f":{"extension_type":"property-extension","originator":"KOR","level":"II","topics":["dprk-missile"],"purpose":"missile-warning","created":"2019-07-25T00:00:00Z"}}}"#;
/// Indicators per envelope (plus the marking).
const PER_ENVELOPE: u64 = 100;
/// Size of one serialised indicator.
const OBJECT_BYTES: usize = 1024;
/// Concurrent posters, for every peer.
const POSTERS: usize = 8;
/// Concurrent walkers in measure 4.
const WALKERS: usize = 8;
/// `limit` of a page.
const PAGE: u64 = 100;
/// GET by id: this many clients at once.
const GET_CLIENTS: usize = 8;
/// GET by id: this many requests, or for at most `GET_SECONDS`, whichever comes first.
const GETS: usize = 8000;
const GET_SECONDS: u64 = 30;

/// `cargo xtask bench taxii [--sizes ..] [--peers ..] [--deadline-secs ..]`.
pub fn bench(sizes: &str, peers: &str, deadline_secs: u64) -> Result<()> {
    let sizes: Vec<u64> = sizes
        .split(',')
        .map(|s| s.trim().replace('_', "").parse::<u64>())
        .collect::<Result<_, _>>()
        .context("--sizes: a comma-separated list of numbers")?;
    ensure!(
        !sizes.is_empty() && sizes[0] > 0 && sizes.windows(2).all(|w| w[0] < w[1]),
        "--sizes must be increasing and positive (the loads are cumulative)"
    );
    let peers: Vec<Peer> = peers
        .split(',')
        .map(|p| match p.trim() {
            "gsomia" => Ok(Peer::Gsomia),
            "gsomia-http" => Ok(Peer::GsomiaHttp),
            "medallion" => Ok(Peer::Medallion),
            "opentaxii" => Ok(Peer::OpenTaxii),
            other => Err(anyhow!(
                "--peers: unknown peer `{other}` (gsomia, gsomia-http, medallion, opentaxii)"
            )),
        })
        .collect::<Result<_>>()?;
    let deadline = Duration::from_secs(deadline_secs);

    print_header(&sizes, &peers, deadline_secs);
    let (root, rt) = workplace("taxii")?;

    let mut results: Vec<(Peer, Vec<Row>, Duration)> = vec![];
    for &peer in &peers {
        let started = Instant::now();
        eprintln!("== {}: starting", peer.name());
        let (server, target) = match peer.start(&root) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("== {}: did not start: {e:#}", peer.name());
                let row = Row {
                    post: Cell::Failed(format!("did not start: {e:#}")),
                    ..Row::default()
                };
                let mut rows = vec![row];
                rows.resize_with(sizes.len(), || Row::skipped("not started"));
                results.push((peer, rows, started.elapsed()));
                continue;
            }
        };
        let target = Arc::new(target);
        let mut rows = vec![];
        let mut loaded = 0u64;
        let mut ids: Vec<u128> = vec![];
        let mut stopped: Option<u64> = None;
        for &size in &sizes {
            if let Some(at) = stopped {
                rows.push(Row::skipped(&format!(
                    "skipped (stopped in the {} step)",
                    thousands(at)
                )));
                continue;
            }
            let label = format!("{} {}", peer.name(), thousands(size));
            // The envelopes are made before the clock starts (~1 KiB of memory an object).
            let envelopes = Arc::new(prepare(loaded, size, target.marking)?);
            let step_start = Instant::now();
            let (mut row, stop) = rt.block_on(step(
                &label,
                &target,
                envelopes,
                size,
                &mut ids,
                step_start + deadline,
            ));
            row.secs = step_start.elapsed().as_secs_f64();
            // 5. Peak RSS (so far: VmHWM), whatever happened in the step.
            let rss = server_peak_rss(server.pid());
            if rss > 0.0 {
                row.rss = Cell::Value(rss, 0);
                row.rss_parts = rss_parts(server.pid());
            }
            eprintln!("== {label}: {}", row.summary());
            loaded = ids.len() as u64;
            rows.push(row);
            if stop {
                stopped = Some(size);
            }
        }
        drop(server);
        eprintln!(
            "== {}: done in {:.0} s",
            peer.name(),
            started.elapsed().as_secs_f64()
        );
        results.push((peer, rows, started.elapsed()));
    }
    drop(rt);
    let _ = std::fs::remove_dir_all(root);
    print_results(&sizes, &results);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Peers.

#[derive(Clone, Copy, PartialEq, Eq)]
enum Peer {
    /// Over HTTPS (TLS 1.3), as it serves by default.
    Gsomia,
    /// Over plain HTTP on loopback (`insecure_http`): what TLS costs, side by side.
    GsomiaHttp,
    Medallion,
    OpenTaxii,
}

impl Peer {
    fn name(self) -> &'static str {
        match self {
            Peer::Gsomia => "gsomia",
            Peer::GsomiaHttp => "gsomia (plain HTTP)",
            Peer::Medallion => "medallion",
            Peer::OpenTaxii => "OpenTAXII",
        }
    }

    fn start(self, root: &Path) -> Result<(Server, Target)> {
        match self {
            Peer::Gsomia => start_gsomia(root, true),
            Peer::GsomiaHttp => start_gsomia(root, false),
            Peer::Medallion => start_python("start-medallion.sh", &root.join("medallion")),
            Peer::OpenTaxii => start_python("start-opentaxii.sh", &root.join("opentaxii")),
        }
    }
}

/// Where and how to reach a collection.
struct Target {
    /// `127.0.0.1:PORT`.
    addr: String,
    /// For HTTPS: a pooled client pinned to the server's key (it keeps connections).
    tls: Option<gsomia_node::client::Client>,
    /// Path of the collection's `objects/` endpoint (with the trailing slash).
    objects: String,
    /// Value of the `Authorization` header.
    auth: String,
    /// gsomia keeps connections; the Python peers close each one (`Connection: close`).
    keep_alive: bool,
    /// Whether envelopes carry the marking-definition (OpenTAXII 0.9.3 cannot store one).
    marking: bool,
}

/// A running server, stopped (and its files removed) on drop.
enum Server {
    Gsomia { child: Child, dir: PathBuf },
    Python { pid: u32, dir: PathBuf },
}

impl Server {
    fn pid(&self) -> u32 {
        match self {
            Server::Gsomia { child, .. } => child.id(),
            Server::Python { pid, .. } => *pid,
        }
    }
}

/// A fresh temporary folder for the servers of `name` (removed with them on Ctrl-C), and the
/// load generator's runtime (two workers: the machine's two cores are shared).
fn workplace(name: &str) -> Result<(PathBuf, tokio::runtime::Runtime)> {
    let root = std::env::temp_dir().join(format!("gsomia-bench-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root)?;
    stop_servers_on_interrupt(root.clone());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    Ok((root, rt))
}

/// The servers running now, for Ctrl-C (the Python peers run in their own session and would
/// outlive the benchmark).
static RUNNING: std::sync::Mutex<Vec<u32>> = std::sync::Mutex::new(Vec::new());

fn running() -> std::sync::MutexGuard<'static, Vec<u32>> {
    RUNNING.lock().unwrap_or_else(|e| e.into_inner())
}

/// On Ctrl-C: KILL the running servers and their children, remove `root`, exit 130.
fn stop_servers_on_interrupt(root: PathBuf) {
    std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        if rt.block_on(tokio::signal::ctrl_c()).is_ok() {
            for pid in running().iter() {
                for p in process_tree(*pid) {
                    let _ = Command::new("kill")
                        .args(["-KILL", &p.to_string()])
                        .status();
                }
            }
            let _ = std::fs::remove_dir_all(root);
            eprintln!("interrupted: servers stopped");
            std::process::exit(130);
        }
    });
}

impl Drop for Server {
    fn drop(&mut self) {
        let pid = self.pid();
        running().retain(|p| *p != pid);
        match self {
            Server::Gsomia { child, dir } => {
                let _ = child.kill();
                let _ = child.wait();
                let _ = std::fs::remove_dir_all(dir);
            }
            Server::Python { pid, dir } => {
                // TERM the server (gunicorn: the master, which stops its workers); KILL what is
                // left after 40 s (gunicorn's graceful timeout is 30 s).
                let tree = process_tree(*pid);
                let _ = Command::new("kill").arg(pid.to_string()).status();
                let until = Instant::now() + Duration::from_secs(40);
                while tree.iter().any(|p| alive(*p)) && Instant::now() < until {
                    std::thread::sleep(Duration::from_millis(100));
                }
                for p in tree.iter().filter(|p| alive(**p)) {
                    let _ = Command::new("kill")
                        .args(["-KILL", &p.to_string()])
                        .status();
                }
                let _ = std::fs::remove_dir_all(dir);
            }
        }
    }
}

/// A fresh KOR node offering the `dprk-missile` collection, with kim as analyst, security
/// officer and authority (who may publish), served from the release binary.
fn start_gsomia(root: &Path, tls: bool) -> Result<(Server, Target)> {
    let bin = super::gsomia()?;
    let data = root.join(if tls { "gsomia" } else { "gsomia-http" });
    let token = init_gsomia(&bin, &data, tls, None)?;
    let (child, addr) = super::serve(&bin, &data)?;
    running().push(child.id());
    let server = Server::Gsomia { child, dir: data };
    let target = target_of(&server, &addr, &token, tls)?;
    Ok((server, target))
}

/// `gsomia init` of that node in `data` (its store in `database` if given), offering the
/// `dprk-missile` collection; kim's token.
fn init_gsomia(bin: &Path, data: &Path, tls: bool, database: Option<&str>) -> Result<String> {
    let token = super::init_node(bin, data, database, "analyst,security_officer,authority")?;
    let config = data.join("gsomia.toml");
    let text = std::fs::read_to_string(&config)?;
    let plain = if tls { "" } else { "insecure_http = true\n" };
    std::fs::write(
        config,
        format!("{text}taxii_topics = [\"dprk-missile\"]\n{plain}"),
    )?;
    Ok(token)
}

/// How to reach the writable collection of the gsomia `server` listening at `addr`.
fn target_of(server: &Server, addr: &str, token: &str, tls: bool) -> Result<Target> {
    let Server::Gsomia { dir, .. } = server else {
        bail!("not a gsomia server");
    };
    let client = if tls {
        Some(super::client_of(dir)?)
    } else {
        None
    };
    let mut target = Target {
        tls: client,
        addr: addr.to_owned(),
        objects: String::new(),
        auth: format!("Bearer {token}"),
        keep_alive: true,
        marking: true,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let collections = rt.block_on(async {
        let mut http = Http::default();
        let (status, body) = http
            .send(&target, Method::GET, "/taxii2/api/collections/", None)
            .await?;
        ensure!(
            status == StatusCode::OK,
            "GET collections: {status} {}",
            text_of(&body)
        );
        anyhow::Ok(serde_json::from_slice::<Value>(&body)?)
    })?;
    let writable: Vec<&Value> = collections["collections"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["can_write"] == true)
        .collect();
    let id = match writable.as_slice() {
        [c] => c["id"].as_str().context("collection id")?,
        _ => bail!("expected one writable collection, got {collections}"),
    };
    target.objects = format!("/taxii2/api/collections/{id}/objects/");
    Ok(target)
}

/// A Python peer from `bench/taxii-peers` (its venv under `target/taxii-peers-venv`).
fn start_python(script: &str, dir: &Path) -> Result<(Server, Target)> {
    let peers = workspace().join("bench/taxii-peers");
    let venv = workspace().join("target/taxii-peers-venv");
    let out = Command::new("bash")
        .arg(peers.join("venv.sh"))
        .arg(venv)
        .output()?;
    ensure!(
        out.status.success(),
        "venv.sh failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let py = String::from_utf8(out.stdout)?
        .lines()
        .last()
        .context("venv.sh printed nothing")?
        .trim()
        .to_owned();
    let port = free_port()?;
    let out = Command::new("bash")
        .arg(peers.join(script))
        .arg(py)
        .arg(port.to_string())
        .arg(dir)
        .output()?;
    ensure!(
        out.status.success(),
        "{script} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = String::from_utf8(out.stdout)?;
    let info: Value = serde_json::from_str(line.lines().last().context("no JSON line")?)
        .with_context(|| format!("{script} printed {line}"))?;
    let pid = u32::try_from(info["pid"].as_u64().context("pid")?)?;
    running().push(pid);
    let server = Server::Python {
        pid,
        dir: dir.to_owned(),
    };
    let api_root = info["api_root"].as_str().context("api_root")?;
    let rest = api_root
        .strip_prefix("http://")
        .context("api_root is not http://")?;
    let (addr, path) = rest.split_at(rest.find('/').context("api_root has no path")?);
    let auth = match info["auth"].as_str() {
        Some("bearer") => format!("Bearer {}", info["token"].as_str().context("token")?),
        _ => format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!(
                "{}:{}",
                info["user"].as_str().context("user")?,
                info["password"].as_str().context("password")?
            ))
        ),
    };
    let target = Target {
        tls: None,
        addr: addr.to_owned(),
        objects: format!(
            "{path}collections/{}/objects/",
            info["collection"].as_str().context("collection")?
        ),
        auth,
        keep_alive: false,
        // OpenTAXII 0.9.3 answers 500 to an envelope holding a marking-definition (it reads
        // `modified`, which marking definitions do not have: KeyError). Its envelopes carry the
        // indicators only, which still name the marking in `object_marking_refs`.
        marking: info["server"] != "opentaxii",
    };
    Ok((server, target))
}

/// The process and all its descendants (from /proc).
fn process_tree(root: u32) -> Vec<u32> {
    let mut parents: Vec<(u32, u32)> = vec![];
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let rest = stat.rsplit(')').next().unwrap_or_default();
            if let Some(ppid) = rest.split_whitespace().nth(1).and_then(|p| p.parse().ok()) {
                parents.push((pid, ppid));
            }
        }
    }
    let mut tree = vec![root];
    let mut i = 0;
    while i < tree.len() {
        let p = tree[i];
        tree.extend(parents.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
        i += 1;
    }
    tree
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            let state = s
                .rsplit(')')
                .next()
                .unwrap_or_default()
                .split_whitespace()
                .next();
            state != Some("Z") && state != Some("X")
        })
        .unwrap_or(false)
}

/// Peak RSS of a server: VmHWM summed over the process and its descendants (for gunicorn, the
/// master and its workers).
fn server_peak_rss(pid: u32) -> f64 {
    process_tree(pid).into_iter().map(peak_rss_mib).sum()
}

/// Each process's VmHWM, when the server is more than one process.
fn rss_parts(pid: u32) -> String {
    let tree = process_tree(pid);
    if tree.len() < 2 {
        return String::new();
    }
    tree.iter()
        .map(|p| format!("{:.0}", peak_rss_mib(*p)))
        .collect::<Vec<_>>()
        .join(" + ")
}

// ---------------------------------------------------------------------------------------------
// HTTP.

/// One client: a kept connection for gsomia, a new connection per request for the peers.
#[derive(Default)]
struct Http {
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl Http {
    async fn send(
        &mut self,
        t: &Target,
        method: Method,
        path: &str,
        body: Option<Bytes>,
    ) -> Result<(StatusCode, Bytes)> {
        if let Some(client) = &t.tls {
            let url = format!("https://{}{path}", t.addr);
            let mut headers = vec![("accept", MEDIA), ("authorization", t.auth.as_str())];
            if body.is_some() {
                headers.push(("content-type", MEDIA));
            }
            let (status, body) = client
                .send(
                    method.as_str(),
                    &url,
                    &headers,
                    body.map(|b| b.to_vec()).unwrap_or_default(),
                )
                .await
                .map_err(|e| anyhow!("{method} {path}: {e}"))?;
            return Ok((StatusCode::from_u16(status)?, Bytes::from(body)));
        }
        let mut kept = self.sender.take();
        if let Some(s) = &mut kept
            && s.ready().await.is_err()
        {
            kept = None;
        }
        let mut sender = match kept {
            Some(s) => s,
            None => {
                let stream = tokio::net::TcpStream::connect(&t.addr)
                    .await
                    .with_context(|| format!("connect {}", t.addr))?;
                stream.set_nodelay(true)?;
                let (sender, conn) =
                    hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
                tokio::spawn(async move {
                    let _ = conn.await;
                });
                sender
            }
        };
        let mut req = hyper::Request::builder()
            .method(method.clone())
            .uri(path)
            .header(header::HOST, &t.addr)
            .header(header::ACCEPT, MEDIA)
            .header(header::AUTHORIZATION, &t.auth);
        if !t.keep_alive {
            req = req.header(header::CONNECTION, "close");
        }
        let req = match body {
            Some(b) => req.header(header::CONTENT_TYPE, MEDIA).body(Full::new(b))?,
            None => req.body(Full::new(Bytes::new()))?,
        };
        let resp = sender
            .send_request(req)
            .await
            .with_context(|| format!("{method} {path}"))?;
        let status = resp.status();
        let body = resp
            .into_body()
            .collect()
            .await
            .with_context(|| format!("{method} {path}: body"))?
            .to_bytes();
        if t.keep_alive {
            self.sender = Some(sender);
        }
        Ok((status, body))
    }
}

fn text_of(body: &[u8]) -> String {
    let t = String::from_utf8_lossy(body);
    let t = t.trim();
    match t.char_indices().nth(300) {
        Some((i, _)) => format!("{}…", &t[..i]),
        None => t.to_owned(),
    }
}

/// Percent-encodes a query value (everything but the unreserved characters).
fn encode(v: &str) -> String {
    let mut out = String::with_capacity(v.len() * 3);
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Data.

fn uuid_text(u: u128) -> String {
    let x = format!("{u:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &x[..8],
        &x[8..12],
        &x[12..16],
        &x[16..20],
        &x[20..]
    )
}

/// A UUID in its 8-4-4-4-12 text form.
fn parse_uuid(text: &str) -> Option<u128> {
    let b = text.as_bytes();
    if b.len() != 36 {
        return None;
    }
    let mut u = 0u128;
    for (i, c) in b.iter().enumerate() {
        if matches!(i, 8 | 13 | 18 | 23) {
            if *c != b'-' {
                return None;
            }
            continue;
        }
        u = (u << 4) | u128::from(char::from(*c).to_digit(16)?);
    }
    Some(u)
}

/// Fresh random version-4 UUIDs.
fn uuids(n: usize) -> Result<Vec<u128>> {
    let mut bytes = vec![0u8; n * 16];
    getrandom::fill(&mut bytes).map_err(|e| anyhow!("getrandom: {e}"))?;
    Ok(bytes
        .chunks_exact(16)
        .map(|c| {
            let mut b: [u8; 16] = c.try_into().unwrap_or_default();
            b[6] = (b[6] & 0x0f) | 0x40;
            b[8] = (b[8] & 0x3f) | 0x80;
            u128::from_be_bytes(b)
        })
        .collect())
}

/// Indicator number `n`: about `OBJECT_BYTES` of JSON, timestamps with milliseconds.
fn indicator(n: u64, id: u128) -> String {
    let ts = format!(
        "2026-11-01T{:02}:{:02}:{:02}.{:03}Z",
        (n / 3_600_000) % 24,
        (n / 60_000) % 60,
        (n / 1000) % 60,
        n % 1000
    );
    let head = format!(
        r#"{{"type":"indicator","spec_version":"2.1","id":"indicator--{}","created":"{ts}","modified":"{ts}","name":"bench indicator {n}","description":"Synthetic indicator {n} for the gsomia TAXII 2.1 side-by-side benchmark, not threat intelligence. "#,
        uuid_text(id)
    );
    let tail = format!(
        r#"","indicator_types":["malicious-activity"],"pattern":"[ipv4-addr:value = '198.51.100.{}']","pattern_type":"stix","valid_from":"{ts}","object_marking_refs":["{MARKING_ID}"]}}"#,
        n % 256
    );
    let pad = OBJECT_BYTES.saturating_sub(head.len() + tail.len());
    let mut o = head;
    o.extend("lorem ipsum dolor sit amet ".chars().cycle().take(pad));
    o.push_str(&tail);
    o
}

/// An envelope: the marking (if `marking`) and indicators `first..first + count`.
fn envelope(first: u64, count: u64, marking: bool) -> Result<(Bytes, Vec<u128>)> {
    let ids = uuids(usize::try_from(count)?)?;
    let mut body = String::with_capacity((OBJECT_BYTES + 2) * ids.len() + 1024);
    body.push_str(r#"{"objects":["#);
    if marking {
        body.push_str(MARKING);
    }
    for (i, id) in ids.iter().enumerate() {
        if marking || i > 0 {
            body.push(',');
        }
        body.push_str(&indicator(first + i as u64, *id));
    }
    body.push_str("]}");
    Ok((Bytes::from(body), ids))
}

/// The status of a POST: complete, every indicator a success, any failure only the marking.
fn check_status(status: StatusCode, body: &[u8], ids: &[u128], marking: bool) -> Result<()> {
    ensure!(
        status == StatusCode::ACCEPTED,
        "POST: {status} {}",
        text_of(body)
    );
    let v: Value = serde_json::from_slice(body).context("POST: status is not JSON")?;
    ensure!(
        v["status"] == "complete",
        "POST: status not complete: {}",
        text_of(body)
    );
    let failures = v["failures"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    if let Some(f) = failures.iter().find(|f| f["id"] != MARKING_ID) {
        bail!("POST: failure {f}");
    }
    let successes = v["success_count"]
        .as_u64()
        .context("POST: no success_count")?;
    let total = ids.len() as u64 + u64::from(marking);
    ensure!(
        successes + failures.len() as u64 == total && successes >= ids.len() as u64,
        "POST: success_count {successes}, {} failures, of {total}: {}",
        failures.len(),
        text_of(body)
    );
    if let Some(list) = v["successes"].as_array() {
        let ok: HashSet<&str> = list.iter().filter_map(|s| s["id"].as_str()).collect();
        for id in ids {
            let id = format!("indicator--{}", uuid_text(*id));
            ensure!(
                ok.contains(id.as_str()),
                "POST: {id} not among the successes"
            );
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Reading pages.

/// What a walk needs of a page, read in one pass without building a JSON tree (a `Value` of a
/// 100-object page costs the client ~4 µs an object, a tenth of gsomia's own time): `more`,
/// `next`, and each object's `type` and `id`, handed to `each`. Strict: anything that is not
/// JSON is an error.
fn skim_page(
    body: &[u8],
    mut each: impl FnMut(&str, &str) -> Result<()>,
) -> Result<(bool, Option<String>)> {
    let mut p = Skim { b: body, i: 0 };
    let (mut more, mut next) = (false, None);
    p.eat(b'{')?;
    if p.peek() == Some(b'}') {
        p.i += 1;
    } else {
        loop {
            let key = p.string()?;
            p.eat(b':')?;
            match &*key {
                "more" => more = p.boolean()?,
                "next" => {
                    next = Some(if p.peek() == Some(b'"') {
                        p.string()?.into_owned()
                    } else {
                        let start = p.i;
                        p.skip_value()?;
                        String::from_utf8_lossy(&body[start..p.i]).trim().to_owned()
                    })
                }
                "objects" => {
                    p.eat(b'[')?;
                    if p.peek() == Some(b']') {
                        p.i += 1;
                    } else {
                        loop {
                            p.object(&mut each)?;
                            if p.end(b']')? {
                                break;
                            }
                        }
                    }
                }
                _ => p.skip_value()?,
            }
            if p.end(b'}')? {
                break;
            }
        }
    }
    ensure!(p.peek().is_none(), "bytes after the JSON at {}", p.i);
    Ok((more, next))
}

/// A cursor over JSON bytes.
struct Skim<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Skim<'a> {
    /// The next byte that is not white space.
    fn peek(&mut self) -> Option<u8> {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.i) {
            self.i += 1;
        }
        self.b.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> Result<()> {
        ensure!(
            self.peek() == Some(c),
            "expected `{}` at byte {}",
            char::from(c),
            self.i
        );
        self.i += 1;
        Ok(())
    }

    /// After a member or element: true at the closing `close`, false after a comma.
    fn end(&mut self, close: u8) -> Result<bool> {
        match self.peek() {
            Some(b',') => {
                self.i += 1;
                Ok(false)
            }
            Some(c) if c == close => {
                self.i += 1;
                Ok(true)
            }
            _ => bail!("expected `,` or `{}` at byte {}", char::from(close), self.i),
        }
    }

    fn boolean(&mut self) -> Result<bool> {
        self.peek();
        let rest = &self.b[self.i..];
        if rest.starts_with(b"true") {
            self.i += 4;
            Ok(true)
        } else if rest.starts_with(b"false") {
            self.i += 5;
            Ok(false)
        } else {
            bail!("expected a boolean at byte {}", self.i)
        }
    }

    /// A string, borrowed when it has no escapes.
    fn string(&mut self) -> Result<std::borrow::Cow<'a, str>> {
        self.eat(b'"')?;
        let start = self.i;
        loop {
            match self.b.get(self.i) {
                None => bail!("unterminated string"),
                Some(b'"') => {
                    let s = std::str::from_utf8(&self.b[start..self.i])?;
                    self.i += 1;
                    return Ok(std::borrow::Cow::Borrowed(s));
                }
                Some(b'\\') => break,
                Some(_) => self.i += 1,
            }
        }
        let mut out = self.b[start..self.i].to_vec();
        loop {
            match self.b.get(self.i) {
                None => bail!("unterminated string"),
                Some(b'"') => {
                    self.i += 1;
                    return Ok(std::borrow::Cow::Owned(String::from_utf8(out)?));
                }
                Some(b'\\') => {
                    let e = self.b.get(self.i + 1).copied();
                    self.i += 2;
                    let c = match e {
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        Some(b'u') => {
                            let mut code = self.hex4()?;
                            if (0xd800..0xdc00).contains(&code)
                                && self.b[self.i..].starts_with(b"\\u")
                            {
                                self.i += 2;
                                let low = self.hex4()?;
                                code = 0x10000
                                    + ((code - 0xd800) << 10)
                                    + (low.wrapping_sub(0xdc00) & 0x3ff);
                            }
                            char::from_u32(code).context("bad \\u escape")?
                        }
                        _ => bail!("bad escape at byte {}", self.i),
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
                Some(c) => {
                    out.push(*c);
                    self.i += 1;
                }
            }
        }
    }

    fn hex4(&mut self) -> Result<u32> {
        let h = self.b.get(self.i..self.i + 4).context("short \\u escape")?;
        self.i += 4;
        Ok(u32::from_str_radix(std::str::from_utf8(h)?, 16)?)
    }

    /// Any value, skipped.
    fn skip_value(&mut self) -> Result<()> {
        match self.peek() {
            Some(b'"') => {
                self.i += 1;
                loop {
                    match self.b.get(self.i) {
                        None => bail!("unterminated string"),
                        Some(b'"') => break,
                        Some(b'\\') => self.i += 2,
                        Some(_) => self.i += 1,
                    }
                }
                self.i += 1;
            }
            Some(b'{') => {
                self.i += 1;
                if self.peek() == Some(b'}') {
                    self.i += 1;
                    return Ok(());
                }
                loop {
                    self.string()?;
                    self.eat(b':')?;
                    self.skip_value()?;
                    if self.end(b'}')? {
                        break;
                    }
                }
            }
            Some(b'[') => {
                self.i += 1;
                if self.peek() == Some(b']') {
                    self.i += 1;
                    return Ok(());
                }
                loop {
                    self.skip_value()?;
                    if self.end(b']')? {
                        break;
                    }
                }
            }
            Some(b'-' | b'0'..=b'9' | b't' | b'f' | b'n') => {
                let start = self.i;
                while let Some(b'-' | b'+' | b'.' | b'0'..=b'9' | b'a'..=b'z' | b'E') =
                    self.b.get(self.i)
                {
                    self.i += 1;
                }
                let word = &self.b[start..self.i];
                ensure!(
                    matches!(word, b"true" | b"false" | b"null")
                        || std::str::from_utf8(word)?.parse::<f64>().is_ok(),
                    "bad value at byte {start}"
                );
            }
            _ => bail!("expected a value at byte {}", self.i),
        }
        Ok(())
    }

    /// An object of the `objects` list: its `type` and `id` to `each`.
    fn object(&mut self, each: &mut impl FnMut(&str, &str) -> Result<()>) -> Result<()> {
        self.eat(b'{')?;
        let (mut kind, mut id) = (None, None);
        if self.peek() == Some(b'}') {
            self.i += 1;
        } else {
            loop {
                let key = self.string()?;
                self.eat(b':')?;
                match &*key {
                    "type" if self.peek() == Some(b'"') => kind = Some(self.string()?),
                    "id" if self.peek() == Some(b'"') => id = Some(self.string()?),
                    _ => self.skip_value()?,
                }
                if self.end(b'}')? {
                    break;
                }
            }
        }
        each(kind.as_deref().unwrap_or(""), id.as_deref().unwrap_or(""))
    }
}

// ---------------------------------------------------------------------------------------------
// Measures.

/// The envelopes of indicators `from..to`, with their ids.
fn prepare(from: u64, to: u64, marking: bool) -> Result<Vec<(Bytes, Vec<u128>)>> {
    (from..to)
        .step_by(PER_ENVELOPE as usize)
        .map(|first| envelope(first, PER_ENVELOPE.min(to - first), marking))
        .collect()
}

/// POSTs the envelopes from `POSTERS` connections; the ids stored.
async fn load(
    t: Arc<Target>,
    envelopes: Arc<Vec<(Bytes, Vec<u128>)>>,
    progress: Arc<AtomicU64>,
) -> Result<Vec<u128>> {
    let next = Arc::new(AtomicUsize::new(0));
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..POSTERS {
        let (t, next, progress, envelopes) =
            (t.clone(), next.clone(), progress.clone(), envelopes.clone());
        set.spawn(async move {
            let mut http = Http::default();
            let mut stored = vec![];
            while let Some((body, ids)) = envelopes.get(next.fetch_add(1, Ordering::Relaxed)) {
                let (status, reply) = http
                    .send(&t, Method::POST, &t.objects, Some(body.clone()))
                    .await?;
                check_status(status, &reply, ids, t.marking)?;
                progress.fetch_add(ids.len() as u64, Ordering::Relaxed);
                stored.extend_from_slice(ids);
            }
            anyhow::Ok(stored)
        });
    }
    let mut all = vec![];
    while let Some(r) = set.join_next().await {
        all.extend(r??);
    }
    Ok(all)
}

struct Walked {
    first_page: Duration,
}

/// A full walk of the collection, `limit=100`, following `next`: exactly `expected` distinct
/// indicators (and the marking, which the peers list as an object of the collection).
async fn walk(t: Arc<Target>, expected: u64, progress: Arc<AtomicU64>) -> Result<Walked> {
    let mut http = Http::default();
    let mut next: Option<String> = None;
    let mut seen: HashSet<u128> = HashSet::with_capacity(usize::try_from(expected)?);
    let mut first_page = None;
    let mut markings = 0;
    let max_pages = expected / PAGE + 10;
    for page in 0.. {
        ensure!(page <= max_pages, "more than {max_pages} pages");
        let path = match &next {
            None => format!("{}?limit={PAGE}", t.objects),
            Some(n) => format!("{}?limit={PAGE}&next={}", t.objects, encode(n)),
        };
        let started = Instant::now();
        let (status, body) = http.send(&t, Method::GET, &path, None).await?;
        ensure!(
            status == StatusCode::OK,
            "page {} (after {} objects): {status} {}",
            page + 1,
            seen.len(),
            text_of(&body)
        );
        first_page.get_or_insert(started.elapsed());
        let mut n = 0;
        let (more, after) = skim_page(&body, |kind, id| {
            match (kind, id.strip_prefix("indicator--")) {
                ("indicator", Some(u)) => {
                    let u = parse_uuid(u).with_context(|| format!("bad id {id}"))?;
                    ensure!(seen.insert(u), "{id} listed twice");
                    n += 1;
                }
                ("marking-definition", _) if id == MARKING_ID => markings += 1,
                _ => bail!("unexpected object: type `{kind}`, id `{id}`"),
            }
            Ok(())
        })
        .with_context(|| format!("page {}: {}", page + 1, text_of(&body)))?;
        progress.fetch_add(n, Ordering::Relaxed);
        if !more {
            break;
        }
        next = Some(after.context("more is true without next")?);
    }
    ensure!(
        seen.len() as u64 == expected && markings <= 1,
        "walked {} indicators (expected {expected}) and {markings} markings",
        seen.len()
    );
    Ok(Walked {
        first_page: first_page.unwrap_or_default(),
    })
}

/// GETs random ids one at a time, until `most` requests (of all clients) or `until`;
/// latencies.
async fn get_by_id(
    t: Arc<Target>,
    ids: Arc<Vec<u128>>,
    most: usize,
    until: Instant,
    latencies: Arc<std::sync::Mutex<Vec<Duration>>>,
    progress: Arc<AtomicU64>,
) -> Result<()> {
    ensure!(!ids.is_empty(), "no ids");
    let mut http = Http::default();
    let mut seed = [0u8; 8];
    getrandom::fill(&mut seed).map_err(|e| anyhow!("getrandom: {e}"))?;
    let mut x = u64::from_le_bytes(seed) | 1;
    while (progress.load(Ordering::Relaxed) as usize) < most && Instant::now() < until {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let id = format!(
            "indicator--{}",
            uuid_text(ids[(x % ids.len() as u64) as usize])
        );
        let path = format!("{}{id}/", t.objects);
        let started = Instant::now();
        let (status, body) = http.send(&t, Method::GET, &path, None).await?;
        let took = started.elapsed();
        latencies
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(took);
        progress.fetch_add(1, Ordering::Relaxed);
        ensure!(
            status == StatusCode::OK,
            "GET {id}: {status} {}",
            text_of(&body)
        );
        let v: Value = serde_json::from_slice(&body).context("not JSON")?;
        ensure!(
            v["objects"][0]["id"] == id.as_str(),
            "GET {id}: got {}",
            text_of(&body)
        );
    }
    Ok(())
}

/// `WALKERS` full walks at once.
async fn walkers(t: Arc<Target>, expected: u64, progress: Arc<AtomicU64>) -> Result<()> {
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..WALKERS {
        set.spawn(walk(t.clone(), expected, progress.clone()));
    }
    while let Some(r) = set.join_next().await {
        r??;
    }
    Ok(())
}

/// Runs `f` until `deadline` (None if it did not finish), printing progress every 30 s.
async fn timed<T>(
    label: &str,
    what: &str,
    deadline: Instant,
    progress: &AtomicU64,
    f: impl Future<Output = Result<T>>,
) -> Option<Result<T>> {
    let started = Instant::now();
    let f = tokio::time::timeout_at(tokio::time::Instant::from_std(deadline), f);
    tokio::pin!(f);
    let mut tick = tokio::time::interval(Duration::from_secs(30));
    tick.tick().await;
    loop {
        tokio::select! {
            r = &mut f => return r.ok(),
            _ = tick.tick() => eprintln!(
                "   {label} {what}: {} after {:.0} s",
                thousands(progress.load(Ordering::Relaxed)),
                started.elapsed().as_secs_f64()
            ),
        }
    }
}

/// One size of one peer: load from `ids.len()` to `size` (the envelopes), then the measures.
async fn step(
    label: &str,
    t: &Arc<Target>,
    envelopes: Arc<Vec<(Bytes, Vec<u128>)>>,
    size: u64,
    ids: &mut Vec<u128>,
    deadline: Instant,
) -> (Row, bool) {
    let loaded = ids.len() as u64;
    let step_start = Instant::now();
    let mut row = Row::default();
    let secs = || step_start.elapsed().as_secs_f64();
    let own = || cpu_seconds("self");

    // 1. POST.
    let progress = Arc::new(AtomicU64::new(0));
    let (cpu, started) = (own(), Instant::now());
    match timed(
        label,
        "POST, objects stored",
        deadline,
        &progress,
        load(t.clone(), envelopes, progress.clone()),
    )
    .await
    {
        None => {
            row.post = Cell::Text(format!(
                "stopped at {} objects after {:.0} s",
                thousands(loaded + progress.load(Ordering::Relaxed)),
                secs()
            ));
            return (row, true);
        }
        Some(Err(e)) => {
            row.post = Cell::Failed(format!(
                "{e:#} (after {} objects)",
                thousands(loaded + progress.load(Ordering::Relaxed))
            ));
            return (row, true);
        }
        Some(Ok(new)) => {
            let secs = started.elapsed().as_secs_f64();
            row.post = Cell::Value(new.len() as f64 / secs, 0);
            row.cpu.push(("POST", (own() - cpu) / secs));
            ids.extend(new);
        }
    }
    eprintln!("   {label} POST: {} objects/s", row.post);

    // 2. One walk.
    let progress = Arc::new(AtomicU64::new(0));
    let (cpu, started) = (own(), Instant::now());
    match timed(
        label,
        "walk, objects",
        deadline,
        &progress,
        walk(t.clone(), size, progress.clone()),
    )
    .await
    {
        None => {
            row.walk = Cell::Text(format!(
                "stopped after {:.0} s: {} of {} objects walked",
                secs(),
                thousands(progress.load(Ordering::Relaxed)),
                thousands(size)
            ));
            return (row, true);
        }
        Some(Err(e)) => row.walk = Cell::Failed(format!("{e:#}")),
        Some(Ok(w)) => {
            let secs = started.elapsed().as_secs_f64();
            row.walk = Cell::Value(size as f64 / secs, 0);
            row.first_ms = Cell::Value(w.first_page.as_secs_f64() * 1000.0, 1);
            row.cpu.push(("walk", (own() - cpu) / secs));
        }
    }
    eprintln!("   {label} walk: {} objects/s", row.walk);

    // 3. GET by id.
    let until = (Instant::now() + Duration::from_secs(GET_SECONDS)).min(deadline);
    let progress = Arc::new(AtomicU64::new(0));
    let (cpu, started) = (own(), Instant::now());
    let all = Arc::new(ids.clone());
    let latencies = Arc::new(std::sync::Mutex::new(Vec::with_capacity(GETS)));
    let outcome = timed(label, "GET by id, requests", deadline, &progress, async {
        // GET_CLIENTS clients at once, each on its own connection.
        let tasks: Vec<_> = (0..GET_CLIENTS)
            .map(|_| {
                tokio::spawn(get_by_id(
                    t.clone(),
                    all.clone(),
                    GETS,
                    until,
                    latencies.clone(),
                    progress.clone(),
                ))
            })
            .collect();
        for task in tasks {
            task.await.map_err(|e| anyhow!("GET client: {e}"))??;
        }
        anyhow::Ok(())
    })
    .await;
    // The requests answered count even when the deadline cut the last one short.
    let mut l = std::mem::take(&mut *latencies.lock().unwrap_or_else(|e| e.into_inner()));
    let elapsed = started.elapsed().as_secs_f64();
    if let Some(Err(e)) = outcome {
        row.get = Cell::Failed(format!("{e:#}"));
    } else if l.is_empty() {
        row.get = Cell::Text(format!(
            "stopped after {:.0} s: no request answered",
            secs()
        ));
    } else {
        let rate = l.len() as f64 / elapsed;
        row.get = Cell::Value(rate, if rate < 10.0 { 2 } else { 0 });
        l.sort();
        row.p50 = Cell::Value(percentile(&l, 0.5), 2);
        row.p99 = Cell::Value(percentile(&l, 0.99), 2);
        row.gets = l.len();
        row.get_max_ms = percentile(&l, 1.0);
        row.cpu.push(("GET", (own() - cpu) / elapsed));
    }
    eprintln!(
        "   {label} GET by id: {} req/s ({} requests)",
        row.get, row.gets
    );
    if Instant::now() >= deadline {
        row.walkers = Cell::Text(format!(
            "stopped after {:.0} s: no time left for the walkers",
            secs()
        ));
        return (row, true);
    }

    // 4. Walkers.
    let progress = Arc::new(AtomicU64::new(0));
    let (cpu, started) = (own(), Instant::now());
    match timed(
        label,
        "8 walkers, objects (all walkers)",
        deadline,
        &progress,
        walkers(t.clone(), size, progress.clone()),
    )
    .await
    {
        None => {
            row.walkers = Cell::Text(format!(
                "stopped after {:.0} s: {} of {} objects walked",
                secs(),
                thousands(progress.load(Ordering::Relaxed)),
                thousands(WALKERS as u64 * size)
            ));
            return (row, true);
        }
        Some(Err(e)) => row.walkers = Cell::Failed(format!("{e:#}")),
        Some(Ok(())) => {
            let secs = started.elapsed().as_secs_f64();
            row.walkers = Cell::Value((WALKERS as u64 * size) as f64 / secs, 0);
            row.cpu.push(("8 walkers", (own() - cpu) / secs));
        }
    }

    (row, false)
}

// ---------------------------------------------------------------------------------------------
// On each store (issue 13).

/// TAXII on each of `stores` (a name, a PostgreSQL URL or none for SQLite, and how many `serve`
/// processes of one node share it): `objects` indicators POSTed (envelopes of 100, `POSTERS`
/// connections a process), `WALKERS` full walks spread over the processes, then GET by id from
/// `GET_CLIENTS` connections a process for `seconds`; each with the audit log's growth, the
/// sequencer's entries/s (every read is an audit entry too).
pub fn on_stores(
    stores: &[(String, Option<String>, usize)],
    objects: u64,
    seconds: u64,
) -> Result<()> {
    let bin = super::gsomia()?;
    let (root, rt) = workplace("taxii-stores")?;
    let envelopes = Arc::new(prepare(0, objects, true)?);
    println!(
        "\nTAXII over HTTPS, {} indicators POSTed ({POSTERS} posters a process), {WALKERS} \
         walkers over the processes, GET by id ({GET_CLIENTS} clients a process, {seconds} s); \
         audit entries/s is the sequencer's rate during each measure",
        thousands(objects)
    );
    println!(
        "| store | serve processes | POST objects/s | entries/s | walk objects/s (all walkers) | \
         entries/s | GET by id req/s | p50 ms | p99 ms | entries/s |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for (k, (name, database, n)) in stores.iter().enumerate() {
        let data = root.join(format!("node{k}"));
        let token = init_gsomia(&bin, &data, true, database.as_deref())?;
        let mut servers = vec![];
        let mut targets = vec![];
        for p in 0..*n {
            // Each process its own copy of the folder, as on its own machine.
            let folder = root.join(format!("node{k}-{p}"));
            let status = Command::new("cp")
                .args([
                    "-a",
                    data.to_str().context("path")?,
                    folder.to_str().context("path")?,
                ])
                .status()?;
            ensure!(status.success(), "cp failed");
            let (child, addr) = super::serve(&bin, &folder)?;
            running().push(child.id());
            let server = Server::Gsomia { child, dir: folder };
            targets.push(Arc::new(target_of(&server, &addr, &token, true)?));
            servers.push(server);
        }
        // The log the processes append to: the database, or the one process's SQLite file.
        let log: Box<dyn gsomia_store::Store> = match database {
            Some(url) => Box::new(gsomia_store::PostgresStore::open(url)?),
            None => {
                ensure!(*n == 1, "SQLite serves one process");
                let file = root.join(format!("node{k}-0")).join("gsomia.db");
                Box::new(gsomia_store::SqliteStore::open(file)?)
            }
        };
        let size = || log.log_size().unwrap_or(0);
        let row = rt.block_on(async {
            // POST: the envelopes dealt out to the processes.
            let (before, started) = (size(), Instant::now());
            let mut set = tokio::task::JoinSet::new();
            for (i, t) in targets.iter().enumerate() {
                let mine: Vec<_> = envelopes
                    .iter()
                    .skip(i)
                    .step_by(targets.len())
                    .cloned()
                    .collect();
                set.spawn(load(t.clone(), Arc::new(mine), Arc::new(AtomicU64::new(0))));
            }
            let mut ids = vec![];
            while let Some(r) = set.join_next().await {
                ids.extend(r??);
            }
            let secs = started.elapsed().as_secs_f64();
            let post = (ids.len() as f64 / secs, (size() - before) as f64 / secs);
            // Walks, spread over the processes.
            let (before, started) = (size(), Instant::now());
            let mut set = tokio::task::JoinSet::new();
            for w in 0..WALKERS {
                let t = targets[w % targets.len()].clone();
                set.spawn(walk(t, objects, Arc::new(AtomicU64::new(0))));
            }
            while let Some(r) = set.join_next().await {
                r??;
            }
            let secs = started.elapsed().as_secs_f64();
            let walked = (
                (WALKERS as u64 * objects) as f64 / secs,
                (size() - before) as f64 / secs,
            );
            // GET by id.
            let (before, started) = (size(), Instant::now());
            let until = started + Duration::from_secs(seconds);
            let ids = Arc::new(ids);
            let latencies = Arc::new(std::sync::Mutex::new(Vec::new()));
            let mut set = tokio::task::JoinSet::new();
            for t in &targets {
                for _ in 0..GET_CLIENTS {
                    set.spawn(get_by_id(
                        t.clone(),
                        ids.clone(),
                        usize::MAX,
                        until,
                        latencies.clone(),
                        Arc::new(AtomicU64::new(0)),
                    ));
                }
            }
            while let Some(r) = set.join_next().await {
                r??;
            }
            let secs = started.elapsed().as_secs_f64();
            let mut l = std::mem::take(&mut *latencies.lock().unwrap_or_else(|e| e.into_inner()));
            l.sort();
            let got = (
                l.len() as f64 / secs,
                percentile(&l, 0.5),
                percentile(&l, 0.99),
                (size() - before) as f64 / secs,
            );
            anyhow::Ok((post, walked, got))
        })?;
        let ((post, post_e), (walk, walk_e), (get, p50, p99, get_e)) = row;
        println!(
            "| {name} | {n} | {} | {} | {} | {} | {} | {p50:.2} | {p99:.2} | {} |",
            thousands(post as u64),
            thousands(post_e as u64),
            thousands(walk as u64),
            thousands(walk_e as u64),
            thousands(get as u64),
            thousands(get_e as u64),
        );
        drop(log);
        drop(servers);
    }
    drop(rt);
    let _ = std::fs::remove_dir_all(root);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Results.

#[derive(Default, Clone)]
enum Cell {
    #[default]
    NotRun,
    Value(f64, usize),
    Text(String),
    Failed(String),
}

impl Cell {
    fn value(&self) -> Option<f64> {
        match self {
            Cell::Value(v, _) => Some(*v),
            _ => None,
        }
    }
}

impl std::fmt::Display for Cell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Cell::NotRun => write!(f, "—"),
            Cell::Value(v, 0) => write!(f, "{}", thousands(v.round() as u64)),
            Cell::Value(v, d) => write!(f, "{v:.d$}"),
            Cell::Text(t) => write!(f, "{t}"),
            Cell::Failed(e) => write!(
                f,
                "failed: {}",
                e.split_whitespace().collect::<Vec<_>>().join(" ")
            ),
        }
    }
}

#[derive(Default, Clone)]
struct Row {
    post: Cell,
    walk: Cell,
    first_ms: Cell,
    get: Cell,
    p50: Cell,
    p99: Cell,
    walkers: Cell,
    rss: Cell,
    gets: usize,
    get_max_ms: f64,
    secs: f64,
    /// VmHWM per process (MiB) of a multi-process server.
    rss_parts: String,
    /// The load generator's CPU (share of one core) during each measure.
    cpu: Vec<(&'static str, f64)>,
}

impl Row {
    fn skipped(why: &str) -> Row {
        Row {
            post: Cell::Text(why.to_owned()),
            ..Row::default()
        }
    }

    fn cells(&self) -> [&Cell; 8] {
        [
            &self.post,
            &self.walk,
            &self.first_ms,
            &self.get,
            &self.p50,
            &self.p99,
            &self.walkers,
            &self.rss,
        ]
    }

    fn summary(&self) -> String {
        let names = [
            "POST/s",
            "walk/s",
            "first ms",
            "GET/s",
            "p50",
            "p99",
            "8 walkers/s",
            "RSS MiB",
        ];
        names
            .iter()
            .zip(self.cells())
            .map(|(n, c)| format!("{n} {c}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn print_header(sizes: &[u64], peers: &[Peer], deadline_secs: u64) {
    let args: Vec<String> = std::env::args().skip(1).collect();
    println!("# TAXII 2.1 side by side\n");
    println!("command: `cargo xtask {}`", args.join(" "));
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0 / 1024.0);
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split(':').nth(1))
        .unwrap_or("?")
        .trim()
        .to_owned();
    let nproc = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "machine: nproc {nproc}, memory {mem:.1} GiB, {model}, Linux {}, load average at start {}",
        kernel.trim(),
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    let commit = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(workspace())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let dirty = Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=no"])
        .current_dir(workspace())
        .output()
        .map(|o| !o.stdout.is_empty())
        .unwrap_or(false);
    println!(
        "gsomia: release build of {commit}{}",
        if dirty {
            " with uncommitted changes"
        } else {
            ""
        }
    );
    println!(
        "sizes {} (cumulative), peers {}, deadline {deadline_secs} s per peer and size\n",
        sizes
            .iter()
            .map(|s| thousands(*s))
            .collect::<Vec<_>>()
            .join(", "),
        peers
            .iter()
            .map(|p| p.name())
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "- peers: gsomia (SQLite, durable; every read and write audited), medallion 3.0.0 (memory \
         backend, Werkzeug threaded dev server, 1 process), OpenTAXII 0.9.3 (SQLite, gunicorn \
         {} sync workers), all on 127.0.0.1, one at a time, fresh storage each\n\
         - data: STIX 2.1 indicators of {OBJECT_BYTES} bytes with fresh uuid4 ids, envelopes of \
         1 marking-definition + {PER_ENVELOPE} indicators (~103 KB), the same generator for every \
         peer; OpenTAXII gets the indicators without the marking-definition (0.9.3 answers 500 to \
         a marking-definition: it reads `modified`, which markings do not have)\n\
         - client: Rust (hyper, tokio 2 threads); gsomia over kept connections, the Python peers \
         with one connection per request (they answer `Connection: close`); gsomia and OpenTAXII \
         with a bearer token, medallion with HTTP Basic\n\
         - POST: {POSTERS} concurrent posters for every peer, each status checked (202, complete, \
         every indicator a success); objects/s over the whole load of the step (envelopes made \
         before the clock starts)\n\
         - walk: limit={PAGE} following `next` until `more` is false, every indicator counted once \
         (the peers also list the marking-definition; gsomia does not); first page ms is that \
         walk's first request\n\
         - GET by id: {GET_CLIENTS} clients at once, random loaded ids, {GETS} requests or \
         {GET_SECONDS} s, whichever comes first\n\
         - 8 walkers: {WALKERS} full walks at once, aggregate objects/s\n\
         - peak RSS: VmHWM of the server process summed with its descendants' (OpenTAXII: \
         gunicorn master + workers), read at the end of each step (so: peak so far)\n",
        std::env::var("OPENTAXII_WORKERS").unwrap_or_else(|_| "2".into())
    );
}

fn print_results(sizes: &[u64], results: &[(Peer, Vec<Row>, Duration)]) {
    for (i, size) in sizes.iter().enumerate() {
        println!("## {} objects\n", thousands(*size));
        println!(
            "| peer | POST objects/s | walk objects/s | first page ms | GET by id req/s | p50 ms | p99 ms | 8 walkers objects/s | peak RSS MiB |"
        );
        println!("|---|---|---|---|---|---|---|---|---|");
        let mut notes = vec![];
        for (peer, rows, _) in results {
            let row = &rows[i];
            let cells: Vec<String> = row
                .cells()
                .iter()
                .map(|c| match c {
                    Cell::Failed(_) => {
                        notes.push(format!("{}: {c}", peer.name()));
                        format!("failed [{}]", notes.len())
                    }
                    _ => c.to_string().replace('|', "\\|"),
                })
                .collect();
            println!("| {} | {} |", peer.name(), cells.join(" | "));
        }
        println!();
        for (n, note) in notes.iter().enumerate() {
            println!("[{}] {note}\n", n + 1);
        }
        for (peer, rows, _) in results {
            let row = &rows[i];
            if row.secs == 0.0 {
                continue;
            }
            let cpu: Vec<String> = row
                .cpu
                .iter()
                .map(|(m, c)| format!("{m} {:.0}%", c * 100.0))
                .collect();
            let parts = if row.rss_parts.is_empty() {
                String::new()
            } else {
                format!(
                    "; peak RSS per process (MiB, master first): {}",
                    row.rss_parts
                )
            };
            let gets = if row.gets > 0 {
                format!(
                    "; {} GETs by id (slowest {:.1} ms)",
                    row.gets, row.get_max_ms
                )
            } else {
                String::new()
            };
            println!(
                "- {}: step took {:.1} s{gets}; load generator CPU (% of one core): {}{parts}",
                peer.name(),
                row.secs,
                cpu.join(", ")
            );
        }
        println!();
    }

    let gsomia = results.iter().find(|(p, _, _)| *p == Peer::Gsomia);
    let names = [
        "POST objects/s",
        "walk objects/s",
        "first page ms",
        "GET req/s",
        "p50 ms",
        "p99 ms",
        "8 walkers objects/s",
        "peak RSS MiB",
    ];
    if let Some((_, g, _)) = gsomia {
        let others: Vec<_> = results
            .iter()
            .filter(|(p, _, _)| *p != Peer::Gsomia)
            .collect();
        if !others.is_empty() {
            println!("## Ratios gsomia / peer\n");
            println!(
                "Above 1 is gsomia ahead for the rates; for ms and MiB, below 1 is gsomia lower.\n"
            );
            println!("| size | gsomia / | {} |", names.join(" | "));
            println!("|---|---|{}", "---|".repeat(names.len()));
            for (i, size) in sizes.iter().enumerate() {
                for (peer, rows, _) in &others {
                    let ratios: Vec<String> = g[i]
                        .cells()
                        .iter()
                        .zip(rows[i].cells())
                        .map(|(a, b)| match (a.value(), b.value()) {
                            (Some(a), Some(b)) if a > 0.0 && b > 0.0 => {
                                let r = a / b;
                                // Three significant digits, at most.
                                let d = (2.0 - r.log10().floor()).clamp(0.0, 6.0) as usize;
                                format!("{r:.d$}")
                            }
                            _ => "—".into(),
                        })
                        .collect();
                    println!(
                        "| {} | {} | {} |",
                        thousands(*size),
                        peer.name(),
                        ratios.join(" | ")
                    );
                }
            }
            println!();
        }
        let measured: Vec<(u64, &Row)> = sizes
            .iter()
            .zip(g)
            .filter(|(_, r)| r.post.value().is_some())
            .map(|(s, r)| (*s, r))
            .collect();
        if let (Some((s0, r0)), Some((s1, r1))) = (measured.first(), measured.last())
            && s0 != s1
        {
            println!(
                "## gsomia: cost per object, {} → {}\n",
                thousands(*s0),
                thousands(*s1)
            );
            println!(
                "| measure | µs/object at {} | µs/object at {} | growth |",
                thousands(*s0),
                thousands(*s1)
            );
            println!("|---|---|---|---|");
            for (name, a, b) in [
                ("POST", r0.post.value(), r1.post.value()),
                ("walk", r0.walk.value(), r1.walk.value()),
                (
                    "8 walkers (aggregate)",
                    r0.walkers.value(),
                    r1.walkers.value(),
                ),
            ] {
                if let (Some(a), Some(b)) = (a, b) {
                    let (a, b) = (1e6 / a, 1e6 / b);
                    println!("| {name} | {a:.1} | {b:.1} | ×{:.2} |", b / a);
                }
            }
            println!();
        }
    }
    println!(
        "wall time per peer: {}",
        results
            .iter()
            .map(|(p, _, d)| format!("{} {:.0} s", p.name(), d.as_secs_f64()))
            .collect::<Vec<_>>()
            .join(", ")
    );
}
