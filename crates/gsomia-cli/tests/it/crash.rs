//! Crash safety (rule 4): a real `gsomia serve` process, clients publishing concurrently, a
//! SIGKILL mid-stream; after a restart every item whose publish was acknowledged is there and
//! readable, and the audit chain verifies. Several kill points.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gsomia_store::{PostgresStore, SqliteStore, Store, verify_chain};

use super::{M, root, run, stdout_of};

/// One HTTPS request to the node started at `addr` (pinned to its certificate key), on a
/// connection of its own; the status and body. (A pooled client would keep connections whose
/// tasks belong to the runtime of an earlier call, gone by the next.)
pub(super) fn http(
    addr: &str,
    method: &str,
    path: &str,
    token: &str,
    body: &str,
) -> std::io::Result<(u16, String)> {
    let pin = PINS
        .lock()
        .unwrap()
        .get(addr)
        .copied()
        .unwrap_or_else(|| panic!("no node was started at {addr}"));
    let client = gsomia_node::client::Client::new(Some(pin)).map_err(std::io::Error::other)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let auth = format!("Bearer {token}");
    let headers = [
        ("authorization", auth.as_str()),
        ("content-type", "application/json"),
    ];
    let url = format!("https://{addr}{path}");
    let (status, body) = runtime
        .block_on(client.send(method, &url, &headers, body.as_bytes().to_vec()))
        .map_err(std::io::Error::other)?;
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// The certificate key of each node started, by address.
static PINS: std::sync::LazyLock<Mutex<std::collections::HashMap<String, gsomia_node::tls::Pin>>> =
    std::sync::LazyLock::new(Default::default);

/// A client pinned to the certificate key of the node in `data`.
pub(super) fn client_of(data: &Path) -> gsomia_node::client::Client {
    let pem = std::fs::read(data.join("tls.crt")).unwrap();
    use rustls_pki_types::pem::PemObject;
    let der = rustls_pki_types::CertificateDer::from_pem_slice(&pem).unwrap();
    let pin = gsomia_node::tls::CertInfo::of(&der).unwrap().pin;
    gsomia_node::client::Client::new(Some(pin)).unwrap()
}

/// A running `gsomia serve`, killed when dropped, so that a failing test leaves no server
/// behind (an explicit `kill` and `wait` work on it as on the child).
pub(super) struct Serving(Child);

impl std::ops::Deref for Serving {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Serving {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `gsomia serve` and waits (bounded) for its "listening" line; the server and its
/// address.
pub(super) fn start(data: &Path) -> (Serving, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_gsomia"))
        .args(["serve", "--data", data.to_str().unwrap()])
        .env("NO_COLOR", "1")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        let Some(Ok(line)) = lines.next() else { break };
        if let Some(rest) = line.split("addr=").nth(1) {
            let addr = rest
                .split_whitespace()
                .next()
                .unwrap()
                .trim_matches('"')
                .to_owned();
            let pin = client_of(data).pin().unwrap();
            PINS.lock().unwrap().insert(addr.clone(), pin);
            // Keep draining the pipe so the server never blocks on a full stdout; its errors go
            // to the test's output, to be seen when it fails.
            std::thread::spawn(move || {
                for line in lines.by_ref().map_while(Result::ok) {
                    if line.contains("ERROR") {
                        eprintln!("gsomia serve: {line}");
                    }
                }
            });
            return (Serving(child), addr);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("gsomia serve did not start");
}

pub(super) fn item(n: usize) -> String {
    let v: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join(M).join("items/kor-missile-report.json")).unwrap(),
    )
    .unwrap();
    let mut object = v["object"].clone();
    object["id"] = format!("report--00000000-0000-4000-8000-{n:012}").into();
    serde_json::json!({ "label": v["label"], "object": object }).to_string()
}

#[test]
fn acknowledged_publishes_survive_sigkill() {
    survives_sigkill("sqlite", None);
}

/// The same on PostgreSQL (issue 13): the process dies, the server does not; what it
/// acknowledged was committed there (`synchronous_commit = on`). The loss of the server
/// itself is the failover test's.
#[test]
fn acknowledged_publishes_survive_sigkill_on_postgres() {
    if let Some(url) = super::postgres_db("crash") {
        survives_sigkill("postgres", Some(&url));
    }
}

fn survives_sigkill(name: &str, database: Option<&str>) {
    let dir = std::env::temp_dir().join(format!("gsomia-crash-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let data = dir.join("kor");
    let d = data.to_str().unwrap();
    super::init_kor(&data, database);
    let token = super::token(&data, "kim", "analyst", "II");
    super::fast_checkpoints(&data);
    let acked: Arc<Mutex<Vec<usize>>> = Arc::default();
    let checkpoints: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut next = 0;
    for kill_after in [40, 120, 250] {
        let (mut child, addr) = start(&data);
        let stop = Arc::new(AtomicBool::new(false));
        let watcher = {
            let (addr, token, checkpoints, stop) = (
                addr.clone(),
                token.clone(),
                checkpoints.clone(),
                stop.clone(),
            );
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match http(&addr, "GET", "/api/v1/log/checkpoint", &token, "") {
                        Ok((200, note)) => checkpoints.lock().unwrap().push(note),
                        _ => break,
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
            })
        };
        let clients: Vec<_> = (0..8)
            .map(|c| {
                let (addr, token, acked, stop) =
                    (addr.clone(), token.clone(), acked.clone(), stop.clone());
                let first = next + c * 100_000;
                std::thread::spawn(move || {
                    for n in first..first + 100_000 {
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                        match http(&addr, "POST", "/api/v1/items", &token, &item(n)) {
                            Ok((201, _)) => acked.lock().unwrap().push(n),
                            // The server died mid-request: not acknowledged.
                            Ok((0, _)) | Err(_) => break,
                            Ok((status, body)) => panic!("publish {n}: {status} {body}"),
                        }
                    }
                })
            })
            .collect();
        // Killed once it acknowledged `kill_after` in all and issued a checkpoint of its own
        // (on PostgreSQL, once the killed process's lease lapsed).
        let distinct = || {
            let seen = checkpoints.lock().unwrap();
            seen.iter().collect::<std::collections::HashSet<_>>().len()
        };
        let before = distinct();
        let deadline = Instant::now() + Duration::from_secs(60);
        while (acked.lock().unwrap().len() < kill_after || distinct() == before)
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        stop.store(true, Ordering::Relaxed);
        for c in clients {
            c.join().unwrap();
        }
        watcher.join().unwrap();
        next += 1_000_000;
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= 250,
        "only {} publishes were acknowledged",
        acked.len()
    );
    // Restart: everything acknowledged is there and readable.
    let (mut child, addr) = start(&data);
    for n in &acked {
        let id = format!("report--00000000-0000-4000-8000-{n:012}");
        let (status, body) =
            http(&addr, "GET", &format!("/api/v1/items/{id}"), &token, "").unwrap();
        assert_eq!(
            status, 200,
            "{id} was acknowledged but is not readable: {body}"
        );
    }
    // Every checkpoint issued before a crash is consistent with the log after it.
    let vkey = run(&["audit", "key", "--data", d]);
    let vkey = vkey.lines().nth(1).unwrap().to_owned();
    let verifier = gsomia_log::LogVerifier::from_vkey(&vkey).unwrap();
    let (_, now) = http(&addr, "GET", "/api/v1/log/checkpoint", &token, "").unwrap();
    let now = gsomia_log::SignedCheckpoint::open(&now, &verifier).unwrap();
    let seen = checkpoints.lock().unwrap().clone();
    let sizes: std::collections::BTreeSet<u64> = seen
        .iter()
        .map(|note| {
            gsomia_log::SignedCheckpoint::open(note, &verifier)
                .unwrap()
                .size
        })
        .collect();
    assert!(
        sizes.len() >= 3,
        "only {} distinct checkpoints were seen under load",
        sizes.len()
    );
    for note in &seen {
        let before = gsomia_log::SignedCheckpoint::open(note, &verifier).unwrap();
        let path = format!(
            "/api/v1/log/proof/consistency?old={}&new={}",
            before.size, now.size
        );
        let (status, proof) = http(&addr, "GET", &path, &token, "").unwrap();
        assert_eq!(status, 200, "{proof}");
        let proof: gsomia_log::ConsistencyProof = serde_json::from_str(&proof).unwrap();
        proof.verify(&before.root, &now.root).unwrap_or_else(|e| {
            panic!(
                "checkpoint of size {} is not consistent with the log after the crashes: {e}",
                before.size
            )
        });
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // And the whole log verifies offline.
    let out = run(&["audit", "verify", "--data", d]);
    assert!(
        out.starts_with("exit 0\n") && out.contains("signed checkpoints match"),
        "{out}"
    );
    let store: Box<dyn Store> = match database {
        Some(url) => Box::new(PostgresStore::open(url).unwrap()),
        None => Box::new(SqliteStore::open(data.join("gsomia.db")).unwrap()),
    };
    let audit = store.audit_after(0, usize::MAX).unwrap();
    assert_eq!(verify_chain(&audit), Ok(audit.len() as u64));
    assert!(store.counts().unwrap().items >= acked.len() as u64);
    drop(store);
    if database.is_some() {
        // `prove`, `check-proof` and `checkpoints` read a SQLite file (they say so).
        let _ = std::fs::remove_dir_all(&dir);
        return;
    }

    // A proof by hand: `prove` prints it, `check-proof` checks it with nothing but the key.
    let bundle = run(&["audit", "prove", "--data", d, "--entry", "3"]);
    assert!(bundle.starts_with("exit 0\n"), "{bundle}");
    let file = dir.join("proof.json");
    std::fs::write(&file, bundle.strip_prefix("exit 0\n").unwrap()).unwrap();
    let f = file.to_str().unwrap();
    let out = run(&["audit", "check-proof", "--key", &vkey, f]);
    assert!(
        out.starts_with("exit 0\nverified: entry 3 is in gsomia/KOR's log"),
        "{out}"
    );
    // The signing key as the node's descriptor carries it works as well.
    let descriptor: serde_json::Value =
        serde_json::from_str(&super::stdout_of(&["party", "export", "--data", d])).unwrap();
    let signing = descriptor["keys"]["signing"].as_str().unwrap();
    let out = run(&["audit", "check-proof", "--key", signing, f]);
    assert!(
        out.starts_with("exit 0\nverified: entry 3 is in gsomia/KOR's log"),
        "{out}"
    );
    let mut forged: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let body = forged["entry"]["body"]
        .as_str()
        .unwrap()
        .replace("kim", "lee");
    forged["entry"]["body"] = body.into();
    std::fs::write(&file, forged.to_string()).unwrap();
    let out = run(&["audit", "check-proof", "--key", &vkey, f]);
    assert!(
        out.starts_with("exit 1\nNOT VERIFIED: entry 3 as given is not in"),
        "{out}"
    );
    let out = run(&["audit", "check-proof", "--key", "gsomia/KOR+00+AAAA", f]);
    assert!(
        out.starts_with("exit 2\n") && out.contains("--key"),
        "{out}"
    );
    // `audit checkpoints` lists the sizes `prove --old` takes.
    let listed = super::stdout_of(&["audit", "checkpoints", "--data", d]);
    let listed_sizes: Vec<u64> = listed
        .lines()
        .map(|l| l.split('\t').next().unwrap().parse().unwrap())
        .collect();
    assert!(sizes.iter().all(|s| listed_sizes.contains(s)), "{listed}");
    let first = listed_sizes[0].to_string();
    let consistency = run(&["audit", "prove", "--data", d, "--old", &first]);
    let out = if consistency.starts_with("exit 0\n") {
        std::fs::write(&file, consistency.strip_prefix("exit 0\n").unwrap()).unwrap();
        run(&["audit", "check-proof", "--key", &vkey, f])
    } else {
        consistency
    };
    assert!(
        out.starts_with("exit 0\nverified: gsomia/KOR's log of"),
        "{out}"
    );
}

/// A free port on 127.0.0.1, so that a node restarts on the address its partner knows.
pub(super) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn delivery_survives_sigkill_of_either_side_exactly_once_in_order() {
    let dir = std::env::temp_dir().join(format!("gsomia-crash-fed-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (kor, jpn) = (dir.join("kor"), dir.join("jpn"));
    for (data, party) in [(&kor, "KOR"), (&jpn, "JPN")] {
        let port = free_port();
        let out = run(&[
            "init",
            "--data",
            data.to_str().unwrap(),
            "--party",
            party,
            "--scheme",
            &format!("{M}/schemes/{party}.json"),
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--endpoint",
            &format!("https://127.0.0.1:{port}"),
        ]);
        assert!(out.starts_with("exit 0"), "{out}");
    }
    for (here, there) in [(&kor, &jpn), (&jpn, &kor)] {
        let desc = stdout_of(&["party", "export", "--data", there.to_str().unwrap()]);
        let file = dir.join("descriptor.json");
        std::fs::write(&file, desc).unwrap();
        assert_eq!(
            run(&[
                "party",
                "import",
                "--data",
                here.to_str().unwrap(),
                file.to_str().unwrap()
            ]),
            "exit 0\n"
        );
        let agreement = format!("{M}/agreements/kor-jpn-gsomia.json");
        assert_eq!(
            run(&[
                "agreement",
                "import",
                "--data",
                here.to_str().unwrap(),
                &agreement
            ]),
            "exit 0\n"
        );
    }
    let out = run(&[
        "user",
        "add",
        "--data",
        kor.to_str().unwrap(),
        "--id",
        "kim",
        "--roles",
        "analyst,security_officer",
        "--clearance",
        "II",
        "--duties",
        "missile-warning",
    ]);
    let token = out.lines().nth(1).unwrap().to_owned();
    let (mut k, k_addr) = start(&kor);
    let (mut j, _) = start(&jpn);
    let total = 300;
    let ids: Vec<String> = (0..total)
        .map(|n| format!("report--00000000-0000-4000-8000-{n:012}"))
        .collect();
    let received = || -> u64 {
        SqliteStore::open(jpn.join("gsomia.db"))
            .map(|s| s.counts().unwrap().items)
            .unwrap_or(0)
    };
    let mut killed_jpn = false;
    let mut killed_kor = false;
    for (n, id) in ids.iter().enumerate() {
        assert_eq!(
            http(&k_addr, "POST", "/api/v1/items", &token, &item(n))
                .unwrap()
                .0,
            201
        );
        let (s, b) = http(
            &k_addr,
            "POST",
            &format!("/api/v1/items/{id}/release"),
            &token,
            r#"{"to":"JPN"}"#,
        )
        .unwrap();
        assert_eq!(s, 202, "{b}");
        // Kill JPN once some items have arrived, then KOR a little later; restart each.
        if !killed_jpn && n >= 100 && received() > 0 {
            j.kill().unwrap();
            j.wait().unwrap();
            j = start(&jpn).0;
            killed_jpn = true;
        }
        if !killed_kor && n == 200 {
            k.kill().unwrap();
            k.wait().unwrap();
            let (nk, _) = start(&kor);
            k = nk;
            killed_kor = true;
        }
    }
    assert!(killed_jpn && killed_kor);
    let deadline = Instant::now() + Duration::from_secs(60);
    while received() < total as u64 {
        assert!(
            Instant::now() < deadline,
            "only {} of {total} arrived",
            received()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Let a resent envelope, if any, land too, then check exactly once and in order.
    let kor_store = SqliteStore::open(kor.join("gsomia.db")).unwrap();
    while !kor_store
        .outbox_pending("JPN".parse().unwrap(), 1)
        .unwrap()
        .is_empty()
    {
        assert!(Instant::now() < deadline, "KOR's outbox never drained");
        std::thread::sleep(Duration::from_millis(20));
    }
    let store = SqliteStore::open(jpn.join("gsomia.db")).unwrap();
    let held: Vec<String> = store
        .items_after(0, 10_000)
        .unwrap()
        .into_iter()
        .map(|i| i.id.to_string())
        .collect();
    assert_eq!(held, ids, "every item exactly once, in order");
    let audit = store.audit_after(0, usize::MAX).unwrap();
    assert_eq!(verify_chain(&audit), Ok(audit.len() as u64));
    let receives = audit
        .iter()
        .filter(|e| e.parse().unwrap().action == "item.receive")
        .count();
    assert_eq!(receives, total);
    for mut c in [k, j] {
        c.kill().unwrap();
        c.wait().unwrap();
    }
}

/// The shell's administration beside a running node (issue 11's first finding): `user add` while
/// `gsomia serve` runs used to break every later audited request (a second writer's entry took
/// the number the server's writer meant to use). Now the new user's token works at once, the
/// server's own writes go on, the log verifies; and a second `serve` on the same data folder is
/// refused with a clear message.
#[test]
fn administration_beside_a_running_node_and_one_server_per_folder() {
    let dir = std::env::temp_dir().join(format!("gsomia-beside-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let data = dir.join("kor");
    let d = data.to_str().unwrap();
    super::init_kor(&data, None);
    let add = |id: &str| {
        let out = run(&[
            "user",
            "add",
            "--data",
            d,
            "--id",
            id,
            "--roles",
            "analyst",
            "--clearance",
            "II",
            "--duties",
            "missile-warning",
        ]);
        assert!(out.starts_with("exit 0"), "{out}");
        out.lines().nth(1).unwrap().to_owned()
    };
    let kim = add("kim");
    let (mut child, addr) = start(&data);
    let (s, b) = http(&addr, "POST", "/api/v1/items", &kim, &item(1)).unwrap();
    assert_eq!(s, 201, "{b}");
    // Beside the running server.
    let lee = add("lee");
    for (n, token) in [(2, &lee), (3, &kim), (4, &lee)] {
        let (s, b) = http(&addr, "POST", "/api/v1/items", token, &item(n)).unwrap();
        assert_eq!(s, 201, "{b}");
    }
    // A second server on the same folder: refused at once (bounded: killed after 10 s if not).
    let mut second = Command::new(env!("CARGO_BIN_EXE_gsomia"))
        .args(["serve", "--data", d])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = second.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = second.kill();
            let _ = second.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut said = String::new();
    second
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut said)
        .unwrap();
    assert_eq!(status.and_then(|s| s.code()), Some(2), "{said}");
    assert!(said.contains("another `gsomia serve` is running"), "{said}");
    let _ = child.kill();
    let _ = child.wait();
    let store = SqliteStore::open(data.join("gsomia.db")).unwrap();
    let entries = store.audit_after(0, 10_000).unwrap();
    assert_eq!(verify_chain(&entries), Ok(entries.len() as u64));
    assert_eq!(store.counts().unwrap().items, 4);
    store.close();
    let out = run(&["audit", "verify", "--data", d]);
    assert!(out.starts_with("exit 0"), "{out}");
    let status: serde_json::Value =
        serde_json::from_str(&super::stdout_of(&["status", "--data", d])).unwrap();
    assert_eq!(status["party"], "KOR");
    assert!(status["log_size"].as_u64().unwrap() >= 6, "{status}");
    assert_eq!(status["partners"], serde_json::json!([]));
}
