//! Two ministries, two machines: KOR and JPN in two network namespaces joined by a veth pair,
//! as two hosts on a network would be, each node listening on its own address only. They
//! exchange descriptors (keys, endpoint, TLS pin), and an item crosses over TLS. Skipped, with
//! a message, where network namespaces can not be made (no root, no `ip`).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{M, run, stdout_of, token};

/// Runs `ip` with `args`; whether it succeeded.
fn ip(args: &[&str]) -> bool {
    Command::new("ip")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The namespaces, removed (and their processes stopped) on drop.
struct Hosts {
    names: [String; 2],
    children: Vec<Child>,
}

impl Drop for Hosts {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        for n in &self.names {
            ip(&["netns", "del", n]);
        }
    }
}

/// `curl` run inside namespace `ns`: its exit status and output.
fn curl_in(ns: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new("ip")
        .args(["netns", "exec", ns, "curl", "-sS", "--max-time", "5"])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn two_ministries_on_two_hosts_deliver_over_pinned_tls() {
    let pid = std::process::id();
    let names = [format!("gsomia-{pid}-kor"), format!("gsomia-{pid}-jpn")];
    if !ip(&["netns", "add", &names[0]]) {
        eprintln!("skipped: network namespaces can not be made here (needs root and `ip`)");
        return;
    }
    if Command::new("curl").arg("--version").output().is_err() {
        ip(&["netns", "del", &names[0]]);
        eprintln!("skipped: no curl");
        return;
    }
    let mut hosts = Hosts {
        names: names.clone(),
        children: vec![],
    };
    assert!(ip(&["netns", "add", &names[1]]));
    // A /30 of its own per run, so that runs at once do not meet.
    let net = format!("10.{}.{}", 200 + pid % 50, (pid / 50) % 250);
    let (a, b) = (format!("{net}.1"), format!("{net}.2"));
    let (va, vb) = (
        format!("gsk{}", pid % 100_000),
        format!("gsj{}", pid % 100_000),
    );
    assert!(ip(&[
        "link", "add", &va, "type", "veth", "peer", "name", &vb
    ]));
    assert!(ip(&["link", "set", &va, "netns", &names[0]]));
    assert!(ip(&["link", "set", &vb, "netns", &names[1]]));
    for (ns, dev, addr) in [(&names[0], &va, &a), (&names[1], &vb, &b)] {
        assert!(ip(&[
            "-n",
            ns,
            "addr",
            "add",
            &format!("{addr}/30"),
            "dev",
            dev
        ]));
        assert!(ip(&["-n", ns, "link", "set", dev, "up"]));
        assert!(ip(&["-n", ns, "link", "set", "lo", "up"]));
    }

    // Each officer makes a node listening on its host's address.
    let dir = std::env::temp_dir().join(format!("gsomia-netns-{pid}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (kor, jpn) = (dir.join("kor"), dir.join("jpn"));
    for (data, party, addr) in [(&kor, "KOR", &a), (&jpn, "JPN", &b)] {
        let out = run(&[
            "init",
            "--data",
            data.to_str().unwrap(),
            "--party",
            party,
            "--scheme",
            &format!("{M}/schemes/{party}.json"),
            "--listen",
            &format!("{addr}:7443"),
            "--endpoint",
            &format!("https://{addr}:7443"),
        ]);
        assert!(out.starts_with("exit 0"), "{out}");
    }
    // They exchange descriptors (keys, endpoint, TLS pin) and import the agreement.
    for (here, there) in [(&kor, &jpn), (&jpn, &kor)] {
        let json = stdout_of(&["party", "export", "--data", there.to_str().unwrap()]);
        let file = dir.join("descriptor.json");
        std::fs::write(&file, json).unwrap();
        let out = run(&[
            "party",
            "import",
            "--data",
            here.to_str().unwrap(),
            file.to_str().unwrap(),
        ]);
        assert!(out.starts_with("exit 0"), "{out}");
        let out = run(&[
            "agreement",
            "import",
            "--data",
            here.to_str().unwrap(),
            &format!("{M}/agreements/kor-jpn-gsomia.json"),
        ]);
        assert!(out.starts_with("exit 0"), "{out}");
    }
    let kim = token(&kor, "kim", "analyst,security_officer", "II");
    let sato = token(&jpn, "sato", "analyst", "GOKUHI");
    for (ns, data) in [(&names[0], &kor), (&names[1], &jpn)] {
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                ns,
                env!("CARGO_BIN_EXE_gsomia"),
                "serve",
                "--data",
            ])
            .arg(data)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        hosts.children.push(child);
    }

    // The officer at KOR checks the link to JPN's node, by JPN's pinned key.
    let jpn_pin = {
        let json = stdout_of(&["party", "export", "--data", jpn.to_str().unwrap()]);
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        v["tls_pin"].as_str().unwrap().to_owned()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let jpn_health = format!("https://{b}:7443/healthz");
    loop {
        let (ok, out) = curl_in(&names[0], &["-k", "--pinnedpubkey", &jpn_pin, &jpn_health]);
        if ok && out == "ok" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "JPN's node never answered: {out}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Plain HTTP across the network gets no answer.
    let (ok, _) = curl_in(&names[0], &[&format!("http://{b}:7443/healthz")]);
    assert!(!ok, "JPN's node answered plain HTTP");

    // KOR publishes and releases; JPN reads it, re-marked GOKUHI.
    let item: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(super::root().join(M).join("items/kor-missile-report.json"))
            .unwrap(),
    )
    .unwrap();
    let body = serde_json::json!({ "label": item["label"], "object": item["object"] });
    let id = item["object"]["id"].as_str().unwrap();
    let kor_cert = kor.join("tls.crt");
    let api = format!("https://{a}:7443/api/v1");
    let auth = format!("Authorization: Bearer {kim}");
    let post = |path: &str, body: &str| {
        let (ok, out) = curl_in(
            &names[0],
            &[
                "--fail-with-body",
                "--cacert",
                kor_cert.to_str().unwrap(),
                "-H",
                &auth,
                "-H",
                "Content-Type: application/json",
                "-d",
                body,
                &format!("{api}{path}"),
            ],
        );
        assert!(ok, "POST {path}: {out}");
    };
    post("/items", &body.to_string());
    post(&format!("/items/{id}/release"), r#"{"to": "JPN"}"#);
    let jpn_cert = jpn.join("tls.crt");
    let read = format!("https://{b}:7443/api/v1/items/{id}");
    let sato_auth = format!("Authorization: Bearer {sato}");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (ok, out) = curl_in(
            &names[1],
            &[
                "--fail-with-body",
                "--cacert",
                jpn_cert.to_str().unwrap(),
                "-H",
                &sato_auth,
                &read,
            ],
        );
        if ok {
            let v: serde_json::Value = serde_json::from_str(&out).unwrap();
            assert_eq!(v["marking"]["level"], "GOKUHI", "{v}");
            assert_eq!(v["custody"][0]["from"], "KOR", "{v}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the item never reached JPN: {out}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(hosts);
    let _ = std::fs::remove_dir_all(&dir);
}
