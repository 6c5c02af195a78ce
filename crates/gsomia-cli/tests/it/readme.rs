//! The README's own commands, run as written: two nodes on this machine deliver an item from
//! Korea to Japan over TLS, the audit log proves it, and curl checks the nodes by certificate
//! and by pinned key.

use std::process::Command;

use super::root;

/// The `sh` blocks of the README's sections named `sections`, in the README's order.
fn blocks(readme: &str, sections: &[&str]) -> String {
    let mut script = String::new();
    let mut section = "";
    let mut in_block = false;
    for line in readme.lines() {
        if let Some(title) = line.strip_prefix("## ") {
            section = title;
        } else if line == "```sh" {
            in_block = sections.contains(&section);
        } else if line == "```" {
            in_block = false;
        } else if in_block {
            script.push_str(line);
            script.push('\n');
        }
    }
    script
}

#[test]
fn the_readme_flow_delivers_from_kor_to_jpn_over_tls() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let commands = blocks(
        &readme,
        &[
            "Running a node",
            "The verifiable audit log",
            "TLS and pinned keys",
        ],
    );
    assert!(
        commands.contains("gsomia serve --data kor") && commands.contains("--pinnedpubkey"),
        "the README's sections moved:\n{commands}"
    );
    let dir = std::env::temp_dir().join(format!("gsomia-readme-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::os::unix::fs::symlink(root().join("examples"), dir.join("examples")).unwrap();
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_gsomia"))
        .parent()
        .unwrap()
        .to_owned();
    // What a person does by waiting a moment, curl does by retrying: the servers start and
    // deliver while the commands run. Every curl must end in a 2xx answer.
    let script = format!(
        "set -euo pipefail\n\
         curl() {{ command curl --fail-with-body -sS --retry 20 --retry-delay 1 \
           --retry-all-errors \"$@\"; echo; }}\n\
         trap 'kill $(jobs -p) 2>/dev/null || true; wait || true' EXIT\n\
         {commands}\n\
         # A wrong pin, and plain HTTP to the HTTPS port, get nothing.\n\
         if command curl -sS -k --pinnedpubkey 'sha256//{wrong}' https://127.0.0.1:7443/healthz; \
           then echo 'WRONG PIN ACCEPTED'; exit 1; fi\n\
         if command curl -sS http://127.0.0.1:7443/healthz; \
           then echo 'PLAIN HTTP ANSWERED'; exit 1; fi\n\
         echo README-FLOW-DONE\n",
        wrong = "A".repeat(43) + "="
    );
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(&dir)
        .env(
            "PATH",
            format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()),
        )
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("README-FLOW-DONE"),
        "the README's flow failed:\n{stdout}\n{stderr}"
    );
    // Japan holds Korea's report, re-marked in its own scheme.
    assert!(
        stdout.contains("\"GOKUHI\""),
        "no GOKUHI read at JPN:\n{stdout}"
    );
    assert!(stdout.contains("verified"), "{stdout}");
    assert!(
        stderr.contains("SSL: certificate subject name")
            || stderr.contains("pinned")
            || stderr.contains("(90)"),
        "curl did not name the pin mismatch:\n{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
