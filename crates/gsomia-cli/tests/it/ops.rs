//! Running a node as an operator does: JSON logs whose lines carry the request id, the
//! systemd unit, backup and restore while serving.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use super::{M, root, run};

/// A fresh KOR node in `dir` with an analyst; its data directory and the analyst's token.
pub(super) fn kor(dir: &Path) -> (PathBuf, String) {
    let _ = std::fs::remove_dir_all(dir);
    let data = dir.join("kor");
    super::init_kor(&data, None);
    let token = super::token(&data, "kim", "analyst,security_officer,admin", "II");
    (data, token)
}

/// `gsomia serve --log-format json` on `data`: the child, its address, and its log lines.
fn serve_json(data: &Path) -> (Child, String, Receiver<serde_json::Value>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_gsomia"))
        .args([
            "serve",
            "--data",
            data.to_str().unwrap(),
            "--log-format",
            "json",
        ])
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let value: serde_json::Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("a log line is not JSON ({e}): {line}"));
            if tx.send(value).is_err() {
                break;
            }
        }
    });
    // The "listening" line (others, such as the search index's, may come first).
    let deadline = Instant::now() + Duration::from_secs(20);
    let first = loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap();
        if line["fields"]["addr"].is_string() {
            break line;
        }
    };
    let addr = first["fields"]["addr"].as_str().unwrap().to_owned();
    assert!(
        first["fields"]["tls_pin"]
            .as_str()
            .is_some_and(|p| p.starts_with("sha256//")),
        "{first}"
    );
    (child, addr, rx)
}

#[test]
fn serve_logs_json_lines_that_carry_each_request_id() {
    let dir = std::env::temp_dir().join(format!("gsomia-jsonlog-{}", std::process::id()));
    let (data, token) = kor(&dir);
    let (mut child, addr, lines) = serve_json(&data);
    let client = super::crash::client_of(&data);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let auth = format!("Bearer {token}");
    let (status, _) = runtime
        .block_on(client.send(
            "GET",
            &format!("https://{addr}/api/v1/items/report--00000000-0000-4000-8000-000000000000"),
            &[("authorization", &auth)],
            vec![],
        ))
        .unwrap();
    assert_eq!(status, 404);
    let deadline = Instant::now() + Duration::from_secs(10);
    let line = loop {
        let line = lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("no access log line");
        if line["fields"]["message"] == "request" {
            break line;
        }
    };
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(line["fields"]["status"], 404, "{line}");
    let id = line["span"]["id"].as_str().unwrap();
    // The audit entry of that refused read names the same request.
    use gsomia_store::Store;
    let store = gsomia_store::SqliteStore::open(data.join("gsomia.db")).unwrap();
    let entries = store.audit_after(0, usize::MAX).unwrap();
    store.close();
    assert!(
        entries
            .iter()
            .any(|e| e.body.contains(&format!("\"request\":\"{id}\""))),
        "no audit entry names request {id}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_systemd_unit_is_hardened_and_runs_serve_with_json_logs() {
    let unit = std::fs::read_to_string(root().join("deploy/gsomia.service")).unwrap();
    for line in [
        "User=gsomia",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ReadWritePaths=/var/lib/gsomia",
        "UMask=0077",
        "CapabilityBoundingSet=",
    ] {
        assert!(unit.lines().any(|l| l == line), "no `{line}` in the unit");
    }
    let exec = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .unwrap();
    // The command line it runs is one this binary takes.
    let args: Vec<&str> = exec.split_whitespace().skip(1).collect();
    let out = Command::new(env!("CARGO_BIN_EXE_gsomia"))
        .args(&args)
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success(), "{exec}: {:?}", out);
    // Where systemd-analyze is installed, it checks the unit too (the binary path replaced).
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        let dir = std::env::temp_dir().join(format!("gsomia-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let copy = dir.join("gsomia.service");
        std::fs::write(
            &copy,
            unit.replace("/usr/local/bin/gsomia", env!("CARGO_BIN_EXE_gsomia")),
        )
        .unwrap();
        let out = Command::new("systemd-analyze")
            .args(["verify", copy.to_str().unwrap()])
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&out.stderr);
        // A complaint about one of the unit's lines names it: `gsomia.service:12: Unknown key`.
        let complaints: Vec<&str> = said
            .lines()
            .filter(|l| l.contains("gsomia.service:"))
            .collect();
        assert!(complaints.is_empty(), "{said}");
        let _ = std::fs::remove_dir_all(&dir);
    } else {
        eprintln!("systemd-analyze is not installed: the unit's syntax is not checked here");
    }
}

/// `gsomia` with `args` and the backup passphrase in the environment: the exit code, stdout
/// and stderr.
fn gsomia_with_passphrase(args: &[&str], passphrase: &str) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_gsomia"))
        .args(args)
        .env("GSOMIA_BACKUP_PASSPHRASE", passphrase)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const PASS: &str = "a passphrase for the backup";

#[test]
fn backup_while_serving_restores_a_verified_node_and_bad_backups_change_nothing() {
    let dir = std::env::temp_dir().join(format!("gsomia-backup-{}", std::process::id()));
    let (data, token) = kor(&dir);
    let (mut child, addr) = super::crash::start(&data);
    // Publishers go on while the backup is taken.
    let acknowledged = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let publisher = {
        let (addr, token, acknowledged, stop) = (
            addr.clone(),
            token.clone(),
            acknowledged.clone(),
            stop.clone(),
        );
        let item =
            std::fs::read_to_string(root().join(M).join("items/kor-missile-report.json")).unwrap();
        std::thread::spawn(move || {
            let v: serde_json::Value = serde_json::from_str(&item).unwrap();
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && n < 2000 {
                let id = format!("report--00000000-0000-4000-8000-{n:012}");
                let mut object = v["object"].clone();
                object["id"] = id.clone().into();
                let body = serde_json::json!({ "label": v["label"], "object": object });
                let (s, _) =
                    super::crash::http(&addr, "POST", "/api/v1/items", &token, &body.to_string())
                        .unwrap();
                assert_eq!(s, 201);
                acknowledged.lock().unwrap().push(id);
                n += 1;
            }
        })
    };
    while acknowledged.lock().unwrap().len() < 20 {
        std::thread::sleep(Duration::from_millis(10));
    }
    let before_backup = acknowledged.lock().unwrap().clone();
    let file = dir.join("kor.gsomia-backup");
    let f = file.to_str().unwrap();
    let d = data.to_str().unwrap();
    let (code, out, err) = gsomia_with_passphrase(&["backup", "--data", d, "--to", f], PASS);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("gsomia.db") && out.contains("keys/master.key"),
        "{out}"
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    publisher.join().unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // Never over an existing file.
    let (code, _, err) = gsomia_with_passphrase(&["backup", "--data", d, "--to", f], PASS);
    assert_eq!(code, 2);
    assert!(err.contains("never written over"), "{err}");

    // Restored: the log verifies, every publish acknowledged before the backup began is there.
    let restored = dir.join("restored");
    let r = restored.to_str().unwrap();
    let (code, out, err) = gsomia_with_passphrase(&["restore", "--from", f, "--data", r], PASS);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("entries verified"), "{out}");
    {
        use gsomia_store::Store;
        let store = gsomia_store::SqliteStore::open(restored.join("gsomia.db")).unwrap();
        for id in &before_backup {
            assert!(
                store.item(&id.parse().unwrap(), None).unwrap().is_some(),
                "{id} is missing"
            );
        }
        store.close();
    }
    // The restored node serves, with the same keys.
    let (mut child, addr) = super::crash::start(&restored);
    let id = &before_backup[0];
    let (s, body) =
        super::crash::http(&addr, "GET", &format!("/api/v1/items/{id}"), &token, "").unwrap();
    assert_eq!(s, 200, "{body}");
    child.kill().unwrap();
    child.wait().unwrap();

    // Bad backups: each named, exit 2, and no folder left behind.
    let fail = |args: &[&str], pass: &str, expect: &str| {
        let target = dir.join("never");
        let mut all = args.to_vec();
        let t = target.to_str().unwrap().to_owned();
        all.extend(["--data", &t]);
        let (code, out, err) = gsomia_with_passphrase(&all, pass);
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert!(
            err.contains(expect),
            "{args:?}: expected `{expect}` in: {err}"
        );
        assert!(!target.exists(), "{args:?} left {}", target.display());
        assert!(
            !dir.join("never.restoring").exists(),
            "{args:?} left its staging folder"
        );
    };
    fail(
        &["restore", "--from", f],
        "another passphrase entirely",
        "the passphrase does not open this backup",
    );
    let bytes = std::fs::read(&file).unwrap();
    let cut = dir.join("cut.gsomia-backup");
    std::fs::write(&cut, &bytes[..bytes.len() - 100]).unwrap();
    fail(
        &["restore", "--from", cut.to_str().unwrap()],
        PASS,
        "truncated",
    );
    let mut flipped = bytes.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 1;
    let altered = dir.join("altered.gsomia-backup");
    std::fs::write(&altered, &flipped).unwrap();
    fail(
        &["restore", "--from", altered.to_str().unwrap()],
        PASS,
        "does not authenticate",
    );
    fail(&["restore", "--from", d], PASS, "not a gsomia backup");
    // Sealed to a recipient's key: opened by that key only.
    let key = dir.join("identity.key");
    let (code, public, _) =
        gsomia_with_passphrase(&["backup-key", "--out", key.to_str().unwrap()], "");
    assert_eq!(code, 0);
    let other = dir.join("other.key");
    gsomia_with_passphrase(&["backup-key", "--out", other.to_str().unwrap()], "");
    let sealed = dir.join("to-key.gsomia-backup");
    let s = sealed.to_str().unwrap();
    let (code, out, err) = gsomia_with_passphrase(
        &[
            "backup",
            "--data",
            d,
            "--to",
            s,
            "--recipient",
            public.trim(),
        ],
        "",
    );
    assert_eq!(code, 0, "{out}{err}");
    fail(
        &[
            "restore",
            "--from",
            s,
            "--identity",
            other.to_str().unwrap(),
        ],
        "",
        "sealed to another key",
    );
    fail(&["restore", "--from", s], PASS, "sealed to a recipient key");
    let by_key = dir.join("by-key");
    let (code, out, err) = gsomia_with_passphrase(
        &[
            "restore",
            "--from",
            s,
            "--identity",
            key.to_str().unwrap(),
            "--data",
            by_key.to_str().unwrap(),
        ],
        "",
    );
    assert_eq!(code, 0, "{out}{err}");
    // Into a folder that holds something: refused.
    let (code, _, err) = gsomia_with_passphrase(&["restore", "--from", f, "--data", r], PASS);
    assert_eq!(code, 2);
    assert!(err.contains("not empty"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn keys_rotate_with_the_node_stopped_and_its_log_still_verifies() {
    let dir = std::env::temp_dir().join(format!("gsomia-rotate-{}", std::process::id()));
    let (data, token) = kor(&dir);
    let d = data.to_str().unwrap();
    // A checkpoint signed with the first key.
    let (mut child, addr) = super::crash::start(&data);
    let (s, body) =
        super::crash::http(&addr, "POST", "/api/v1/log/checkpoint", &token, "").unwrap();
    assert_eq!(s, 200, "{body}");
    // Not while it serves.
    let out = run(&["keys", "rotate", "--data", d]);
    assert!(
        out.starts_with("exit 2") && out.contains("keys are rotated with the node stopped"),
        "{out}"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let before: serde_json::Value =
        serde_json::from_str(&super::stdout_of(&["party", "export", "--data", d])).unwrap();
    let out = run(&["keys", "rotate", "--data", d]);
    assert!(out.starts_with("exit 0"), "{out}");
    assert!(out.contains("keys rotated: fingerprint"), "{out}");
    assert!(out.contains("no partner to notify"), "{out}");
    let after: serde_json::Value =
        serde_json::from_str(&super::stdout_of(&["party", "export", "--data", d])).unwrap();
    assert_ne!(after["keys"], before["keys"]);
    assert_ne!(after["tls_pin"], before["tls_pin"]);
    assert_eq!(after["previous_keys"][0], before["keys"]);
    assert!(data.join("keys/previous/1-signing.key").exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for f in [
            "keys/previous/1-signing.key",
            "keys/signing.key",
            "keys/tls.key",
        ] {
            let mode = std::fs::metadata(data.join(f))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{f}");
        }
    }
    // The checkpoint signed with the old key still verifies; the node serves with the new.
    let out = run(&["audit", "verify", "--data", d]);
    assert!(
        out.starts_with("exit 0") && out.contains("1 signed checkpoints match"),
        "{out}"
    );
    let (mut child, addr) = super::crash::start(&data);
    let (s, body) = super::crash::http(&addr, "GET", "/api/v1/node", &token, "").unwrap();
    assert_eq!(s, 200, "{body}");
    let node: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(node["keys"], after["keys"]);
    child.kill().unwrap();
    child.wait().unwrap();
    // A rotation a crash interrupted before its commit is abandoned at the next start: staged
    // keys alone change nothing.
    std::fs::write(
        data.join("keys/signing.key.new"),
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
    )
    .unwrap();
    let out = run(&["status", "--data", d]);
    assert!(out.starts_with("exit 0"), "{out}");
    assert!(!data.join("keys/signing.key.new").exists());
    let again: serde_json::Value =
        serde_json::from_str(&super::stdout_of(&["party", "export", "--data", d])).unwrap();
    assert_eq!(again["keys"], after["keys"]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn user_passwd_sets_a_console_passphrase_from_the_environment_never_the_command_line() {
    let dir = std::env::temp_dir().join(format!("gsomia-passwd-{}", std::process::id()));
    let (data, _) = kor(&dir);
    let d = data.to_str().unwrap();
    let passwd = |pass: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_gsomia"));
        cmd.args(["user", "passwd", "--data", d, "--id", "kim"])
            .env_remove("GSOMIA_PASSPHRASE");
        if let Some(p) = pass {
            cmd.env("GSOMIA_PASSPHRASE", p);
        }
        let out = cmd.output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    let (code, said) = passwd(None);
    assert_eq!(code, 2, "{said}");
    assert!(said.contains("GSOMIA_PASSPHRASE"), "{said}");
    let (code, said) = passwd(Some("short"));
    assert_eq!(code, 2, "{said}");
    assert!(said.contains("12 characters"), "{said}");
    let (code, said) = passwd(Some("correct horse battery staple"));
    assert_eq!(code, 0, "{said}");
    assert!(!said.contains("horse"), "{said}");
    use gsomia_store::Store;
    let store = gsomia_store::SqliteStore::open(data.join("gsomia.db")).unwrap();
    let phc = store.passphrase("kim").unwrap().unwrap();
    store.close();
    assert!(phc.starts_with("$argon2id$"), "{phc}");
    assert!(gsomia_crypto::passphrase::verify(
        "correct horse battery staple",
        &phc
    ));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue 13: a stopped SQLite node is copied into PostgreSQL: every row, its numbers kept, the
/// audit log verified there with the checkpoint it signed; a second copy into the same
/// database is refused; the log then verifies through `GSOMIA_DATABASE_URL` as well.
#[test]
fn a_node_moves_from_sqlite_to_postgres_and_its_log_and_checkpoints_still_verify() {
    let dir = std::env::temp_dir().join(format!("gsomia-store-copy-{}", std::process::id()));
    let (data, token) = kor(&dir);
    let d = data.to_str().unwrap();
    let (mut child, addr) = super::crash::start(&data);
    let report =
        std::fs::read_to_string(root().join(M).join("items/kor-missile-report.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&report).unwrap();
    let body = serde_json::json!({"label": v["label"], "object": v["object"]}).to_string();
    let (s, b) = super::crash::http(&addr, "POST", "/api/v1/items", &token, &body).unwrap();
    assert_eq!(s, 201, "{b}");
    let (s, b) = super::crash::http(&addr, "POST", "/api/v1/log/checkpoint", &token, "").unwrap();
    assert_eq!(s, 200, "{b}");
    child.kill().unwrap();
    child.wait().unwrap();
    let Some(url) = super::postgres_db("copy") else {
        return;
    };
    // The node is stopped: the copy, then the log verified in PostgreSQL.
    let out = run(&["store", "copy", "--from", d, "--to", &url]);
    assert!(out.starts_with("exit 0"), "{out}");
    assert!(out.contains("copied") && out.contains("items 1"), "{out}");
    assert!(
        out.contains("entries verified") && out.contains("signed checkpoints match"),
        "{out}"
    );
    assert!(
        !out.contains("signed checkpoints match") || !out.contains(" 0 signed"),
        "{out}"
    );
    // Not twice into the same database.
    let again = run(&["store", "copy", "--from", d, "--to", &url]);
    assert!(
        again.starts_with("exit 2") && again.contains("already holds a node"),
        "{again}"
    );
    // The node's own commands read the copy when pointed at it.
    let verify = |env: Option<&str>| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_gsomia"));
        c.args(["audit", "verify", "--data", d]);
        if let Some(u) = env {
            c.env("GSOMIA_DATABASE_URL", u);
        }
        let o = c.output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let text = String::from_utf8_lossy(&o.stdout).into_owned();
        text.lines().next().unwrap_or_default().to_owned()
    };
    assert_eq!(
        verify(None),
        verify(Some(&url)),
        "the same entries and checkpoints"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
