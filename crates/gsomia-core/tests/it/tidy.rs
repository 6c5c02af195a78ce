//! Architecture invariants, checked on the sources (as rust-analyzer's `tidy` tests do).

use std::path::Path;

const PURE: [&str; 3] = ["gsomia-core", "gsomia-crypto", "gsomia-log"];

fn crate_dir(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(name)
}

/// The pure crates depend on no runtime, web framework, database or HTTP client.
#[test]
fn pure_crates_have_no_io_dependencies() {
    for name in PURE {
        let manifest = std::fs::read_to_string(crate_dir(name).join("Cargo.toml")).unwrap();
        let deps = manifest.split("[dependencies]").nth(1).unwrap();
        let deps = deps.split("\n[").next().unwrap();
        for banned in [
            "tokio",
            "axum",
            "hyper",
            "rusqlite",
            "sqlx",
            "postgres",
            "reqwest",
            "rand",
            "getrandom",
        ] {
            let found = deps.lines().any(|l| l.trim_start().starts_with(banned));
            assert!(
                !found,
                "{name} depends on {banned}: its code must stay free of I/O and randomness"
            );
        }
    }
}

/// Nor do their sources reach for the file system, the network or the clock.
#[test]
fn pure_crates_read_no_clock_files_or_network() {
    for name in PURE {
        let mut files = vec![];
        rust_files(&crate_dir(name).join("src"), &mut files);
        for path in files {
            let text = std::fs::read_to_string(&path).unwrap();
            for banned in [
                "std::fs",
                "std::net",
                "SystemTime",
                "Instant::now",
                "now_utc",
                "thread_rng",
                "OsRng",
            ] {
                assert!(!text.contains(banned), "{} uses {banned}", path.display());
            }
        }
    }
}

/// Only the store crate contains SQL; only the node crate knows HTTP.
#[test]
fn sql_only_in_the_store_and_http_only_in_the_node() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for entry in std::fs::read_dir(&crates).unwrap() {
        let dir = entry.unwrap().path();
        let name = dir.file_name().unwrap().to_str().unwrap().to_owned();
        let mut files = vec![dir.join("Cargo.toml")];
        rust_files(&dir.join("src"), &mut files);
        for path in files {
            let text = std::fs::read_to_string(&path).unwrap();
            if name != "gsomia-store" {
                for sql in ["rusqlite", "CREATE TABLE", "SELECT ", "INSERT INTO"] {
                    assert!(
                        !text.contains(sql),
                        "{} contains `{sql}`: SQL belongs in gsomia-store",
                        path.display()
                    );
                }
            }
            if name != "gsomia-node" {
                assert!(
                    !text.contains("axum"),
                    "{} uses axum: HTTP belongs in gsomia-node",
                    path.display()
                );
            }
        }
    }
}

/// Every file under `dir`, recursively.
fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries {
        let path = e.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// The node's interfaces only translate: no handler under `api/` formats an audit entry or
/// writes to the store; the service layer (`service/`) and the partner-facing modules do.
#[test]
fn node_interfaces_write_nothing_themselves() {
    let api = crate_dir("gsomia-node").join("src/api");
    for entry in std::fs::read_dir(&api).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        for banned in ["entry(", ".write(Batch", "Write::", "AuditDraft"] {
            assert!(
                !text.contains(banned),
                "{} uses `{banned}`: deciding and writing belong to the service layer",
                path.display()
            );
        }
    }
}

/// Every refusal the node gives names a rule of docs/RULES.md, which lists every rule id.
#[test]
fn every_rule_is_written_down_in_the_projects_own_docs() {
    let rules = std::fs::read_to_string(crate_dir("..").join("docs/RULES.md")).unwrap();
    for rule in gsomia_core::Rule::ALL {
        let id = rule.id();
        let named = rules.contains(&format!("**{id}**")) || rules.contains(&format!("**{id}b**"));
        assert!(named, "docs/RULES.md does not describe {id}");
    }
}
