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
    let d = data.to_str().unwrap();
    let out = run(&[
        "init",
        "--data",
        d,
        "--party",
        "KOR",
        "--scheme",
        &format!("{M}/schemes/KOR.json"),
        "--listen",
        "127.0.0.1:0",
    ]);
    assert!(out.starts_with("exit 0"), "{out}");
    let out = run(&[
        "user",
        "add",
        "--data",
        d,
        "--id",
        "kim",
        "--roles",
        "analyst,security_officer,admin",
        "--clearance",
        "II",
        "--duties",
        "missile-warning",
    ]);
    let token = out.lines().nth(1).unwrap().trim().to_owned();
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
    let first = rx.recv_timeout(Duration::from_secs(20)).unwrap();
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
