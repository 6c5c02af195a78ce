//! Issue 13: the loss of the database server. A PostgreSQL primary and a synchronous standby
//! of the test's own (`initdb`, `pg_basebackup`, `pg_ctl` in a temporary folder); two
//! `gsomia serve` processes of one node (two copies of its data folder, as on two machines)
//! whose `database_url` names both servers with `target_session_attrs=read-write`. Under
//! publish load the primary is killed (`pg_ctl stop -m immediate`) and the standby promoted:
//! the nodes go on on the new primary by themselves, every publish they acknowledged is there,
//! the log verifies, and every checkpoint issued before the failover is consistent with it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gsomia_store::{PostgresStore, Store, verify_chain};

use super::crash::{free_port, http, start};
use super::{M, root, run};

/// A PostgreSQL program: from the server's own folder where it is not on the `PATH`.
fn program(name: &str) -> PathBuf {
    for version in ["17", "16", "15"] {
        let p = Path::new("/usr/lib/postgresql")
            .join(version)
            .join("bin")
            .join(name);
        if p.exists() {
            return p;
        }
    }
    PathBuf::from(name)
}

/// Runs a PostgreSQL program, as the `postgres` user when the test runs as root (the server
/// refuses root).
fn pg(name: &str, args: &[&str]) -> Output {
    let out = pg_command(name)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(
        out.status.success(),
        "{name} {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn pg_command(name: &str) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program(name));
        c
    } else {
        Command::new(program(name))
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

/// The two servers; stopped when dropped, also when the test fails.
struct Servers {
    dir: PathBuf,
}

impl Servers {
    fn data(&self, name: &str) -> String {
        self.dir.join(name).to_str().unwrap().to_owned()
    }

    fn start(&self, name: &str, port: u16, extra: &str) {
        let options = format!(
            "-c listen_addresses=127.0.0.1 -c port={port} -k {} {extra}",
            self.dir.display()
        );
        let log = self.dir.join(format!("{name}.log"));
        pg(
            "pg_ctl",
            &[
                "-D",
                &self.data(name),
                "-l",
                log.to_str().unwrap(),
                "-w",
                "-o",
                &options,
                "start",
            ],
        );
    }
}

impl Drop for Servers {
    fn drop(&mut self) {
        for name in ["primary", "standby"] {
            let data = self.data(name);
            if Path::new(&data).join("postmaster.pid").exists() {
                let _ = pg_command("pg_ctl")
                    .args(["-D", &data, "-m", "immediate", "stop"])
                    .output();
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One query on the server at `port` (on a thread of its own: the client runs a runtime).
fn query(port: u16, db: &str, sql: &str) -> Result<Vec<String>, postgres::Error> {
    let url = format!("postgres://root@127.0.0.1:{port}/{db}");
    let sql = sql.to_owned();
    std::thread::spawn(move || {
        let mut c = postgres::Client::connect(&url, postgres::NoTls)?;
        let rows = c.simple_query(&sql)?;
        Ok(rows
            .iter()
            .filter_map(|m| match m {
                postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_owned),
                _ => None,
            })
            .collect())
    })
    .join()
    .unwrap()
}

/// A data folder as a second machine has it: the same keys, certificate and configuration.
fn copy_folder(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_folder(&e.path(), &target);
        } else if e.file_name() != "gsomia.lock" {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

fn item(n: usize) -> String {
    let v: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join(M).join("items/kor-missile-report.json")).unwrap(),
    )
    .unwrap();
    let mut object = v["object"].clone();
    object["id"] = format!("report--00000000-0000-4000-9000-{n:012}").into();
    serde_json::json!({ "label": v["label"], "object": object }).to_string()
}

fn wait_for(what: &str, seconds: u64, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_primary_dies_under_load_the_standby_is_promoted_and_nothing_acknowledged_is_lost() {
    if Command::new(program("initdb"))
        .arg("--version")
        .output()
        .is_err()
    {
        assert!(
            std::env::var("CI").is_err(),
            "PostgreSQL's initdb is needed under CI"
        );
        eprintln!("skipped: no initdb");
        return;
    }
    let dir = std::env::temp_dir().join(format!("gsomia-failover-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    if is_root() {
        let out = Command::new("chown")
            .arg("postgres")
            .arg(&dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "chown postgres");
    }
    let servers = Servers { dir: dir.clone() };
    let (p1, p2) = (free_port(), free_port());

    // The primary: commits wait for the standby named `standby` to have them on disk.
    pg(
        "initdb",
        &["-D", &servers.data("primary"), "-U", "root", "--auth=trust"],
    );
    servers.start("primary", p1, "-c synchronous_standby_names=standby");
    // The standby, from a base backup, streaming from the primary.
    let p1s = p1.to_string();
    pg(
        "pg_basebackup",
        &[
            "-h",
            "127.0.0.1",
            "-p",
            &p1s,
            "-U",
            "root",
            "-D",
            &servers.data("standby"),
            "-X",
            "stream",
            "-R",
        ],
    );
    let auto = dir.join("standby/postgresql.auto.conf");
    let conf = std::fs::read_to_string(&auto).unwrap();
    std::fs::write(
        &auto,
        format!(
            "{conf}primary_conninfo = 'host=127.0.0.1 port={p1} user=root application_name=standby'\n"
        ),
    )
    .unwrap();
    servers.start("standby", p2, "");
    wait_for("the standby to be synchronous", 30, || {
        query(
            p1,
            "postgres",
            "SELECT sync_state FROM pg_stat_replication WHERE application_name = 'standby'",
        )
        .is_ok_and(|rows| rows == ["sync"])
    });
    query(p1, "postgres", "CREATE DATABASE gsomia").unwrap();

    // One node, KOR, on both servers: whichever takes writes.
    let url = format!(
        "postgres://root@127.0.0.1:{p1},127.0.0.1:{p2}/gsomia?target_session_attrs=read-write"
    );
    let data = dir.join("kor-a");
    let d = data.to_str().unwrap();
    super::init_kor(&data, Some(&url));
    let token = super::token(&data, "kim", "analyst,security_officer", "II");
    super::fast_checkpoints(&data);
    let data_b = dir.join("kor-b");
    copy_folder(&data, &data_b);
    let (a, addr_a) = start(&data);
    let (b, addr_b) = start(&data_b);

    // Four clients a process publish; the checkpoints either issues are collected.
    let stop = Arc::new(AtomicBool::new(false));
    let acked: Arc<Mutex<Vec<usize>>> = Arc::default();
    let refused = Arc::new(Mutex::new(0usize));
    let checkpoints: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut threads = Vec::new();
    for (p, addr) in [&addr_a, &addr_b].into_iter().enumerate() {
        for c in 0..4 {
            let (addr, token, acked, refused, stop) = (
                addr.clone(),
                token.clone(),
                acked.clone(),
                refused.clone(),
                stop.clone(),
            );
            let first = (p * 4 + c) * 1_000_000;
            threads.push(std::thread::spawn(move || {
                for n in first.. {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    match http(&addr, "POST", "/api/v1/items", &token, &item(n)) {
                        Ok((201, _)) => acked.lock().unwrap().push(n),
                        // The database is away: not acknowledged, and said so.
                        Ok((503, body)) if body.contains("\"unavailable\"") => {
                            *refused.lock().unwrap() += 1;
                            std::thread::sleep(Duration::from_millis(20));
                        }
                        Ok((status, body)) => panic!("publish {n}: {status} {body}"),
                        Err(e) => panic!("publish {n}: the node did not answer: {e}"),
                    }
                }
            }));
        }
        let (addr, token, checkpoints, stop) = (
            addr.clone(),
            token.clone(),
            checkpoints.clone(),
            stop.clone(),
        );
        threads.push(std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if let Ok((200, note)) = http(&addr, "GET", "/api/v1/log/checkpoint", &token, "") {
                    checkpoints.lock().unwrap().push(note);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }));
    }
    let count = || acked.lock().unwrap().len();
    wait_for("200 publishes on the primary", 60, || count() >= 200);

    // The primary dies mid-stream; the standby is promoted.
    pg(
        "pg_ctl",
        &["-D", &servers.data("primary"), "-m", "immediate", "stop"],
    );
    let at_kill = count();
    // The process lives on without its database, and its liveness probe says so.
    let (status, body) = http(&addr_a, "GET", "/healthz", &token, "").unwrap();
    assert_eq!((status, body.as_str()), (200, "ok"));
    std::thread::sleep(Duration::from_millis(500));
    pg("pg_ctl", &["-D", &servers.data("standby"), "-w", "promote"]);
    let promoted = count();
    // The nodes go on by themselves on the new primary.
    wait_for("100 publishes on the promoted standby", 60, || {
        count() >= promoted + 100
    });
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        *refused.lock().unwrap() > 0,
        "no publish was refused while no server took writes"
    );
    eprintln!(
        "failover: {at_kill} acknowledged before the kill, {} in all, {} refused meanwhile",
        acked.len(),
        refused.lock().unwrap()
    );

    // Everything acknowledged is there, read at either process.
    for (i, n) in acked.iter().enumerate() {
        let id = format!("report--00000000-0000-4000-9000-{n:012}");
        let addr = if i % 2 == 0 { &addr_a } else { &addr_b };
        let (status, body) = http(addr, "GET", &format!("/api/v1/items/{id}"), &token, "").unwrap();
        assert_eq!(status, 200, "{id} was acknowledged but is lost: {body}");
    }
    // Every checkpoint seen, before the failover or after, is consistent with the log now.
    let vkey = run(&["audit", "key", "--data", d]);
    let vkey = vkey.lines().nth(1).unwrap().to_owned();
    let verifier = gsomia_log::LogVerifier::from_vkey(&vkey).unwrap();
    let issue = http(&addr_a, "POST", "/api/v1/log/checkpoint", &token, "").unwrap();
    assert_eq!(issue.0, 200, "{}", issue.1);
    let now = gsomia_log::SignedCheckpoint::open(&issue.1, &verifier).unwrap();
    let seen = checkpoints.lock().unwrap().clone();
    assert!(!seen.is_empty(), "no checkpoint was seen under load");
    for note in &seen {
        let before = gsomia_log::SignedCheckpoint::open(note, &verifier).unwrap();
        let path = format!(
            "/api/v1/log/proof/consistency?old={}&new={}",
            before.size, now.size
        );
        let (status, proof) = http(&addr_b, "GET", &path, &token, "").unwrap();
        assert_eq!(status, 200, "{proof}");
        let proof: gsomia_log::ConsistencyProof = serde_json::from_str(&proof).unwrap();
        proof.verify(&before.root, &now.root).unwrap_or_else(|e| {
            panic!(
                "checkpoint of size {} is not consistent with the log after the failover: {e}",
                before.size
            )
        });
    }
    drop((a, b));
    // The log verifies offline, read from the promoted server alone.
    let out = Command::new(env!("CARGO_BIN_EXE_gsomia"))
        .args(["audit", "verify", "--data", d])
        .env(
            "GSOMIA_DATABASE_URL",
            format!("postgres://root@127.0.0.1:{p2}/gsomia"),
        )
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("signed checkpoints match"),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let store = PostgresStore::open(&format!("postgres://root@127.0.0.1:{p2}/gsomia")).unwrap();
    let audit = store.audit_after(0, usize::MAX).unwrap();
    assert_eq!(verify_chain(&audit), Ok(audit.len() as u64));
    assert!(store.counts().unwrap().items >= acked.len() as u64);
    drop(store);
    drop(servers);
}
