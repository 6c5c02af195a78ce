//! TAXII 2.1 conformance with real clients: the Python suite in `conformance/taxii` (written
//! with `taxii2-client`, `stix2` and `stix2-validator`) against a real `gsomia serve`, and the
//! same suite against the OASIS reference server medallion, so that we know it tests the
//! standard and not our reading of it. The venv is made by `conformance/taxii/venv.sh` (which
//! `.ci/run` also calls); it needs `python3` and PyPI the first time.

use std::path::PathBuf;
use std::process::Command;

use super::{root, run};

/// The suite's venv python, made once for the tests that run at the same time.
fn python() -> PathBuf {
    static PYTHON: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    PYTHON.get_or_init(make_venv).clone()
}

fn make_venv() -> PathBuf {
    let venv = root().join("target/conformance-venv");
    let out = Command::new("bash")
        .arg("conformance/taxii/venv.sh")
        .arg(&venv)
        .current_dir(root())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "venv.sh failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    PathBuf::from(stdout.lines().last().unwrap().trim())
}

fn show(out: &std::process::Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn taxii_clients_work_against_gsomia_as_against_medallion() {
    let python = python();
    against_gsomia(&python, "sqlite", None);

    // The same suite against the OASIS reference server.
    let out = Command::new("bash")
        .arg("conformance/taxii/run-medallion.sh")
        .arg(&python)
        .arg("-q")
        .current_dir(root())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the suite failed against medallion:\n{}",
        show(&out)
    );
}

/// Issue 13: the same suite against a node whose store is PostgreSQL.
#[test]
fn taxii_clients_work_against_gsomia_on_postgres() {
    if let Some(url) = super::postgres_db("taxii") {
        against_gsomia(&python(), "postgres", Some(&url));
    }
}

/// The suite against a KOR node offering the `dprk-missile` collection, with a publisher who
/// may read it; the node's store in `database` when given.
fn against_gsomia(python: &std::path::Path, name: &str, database: Option<&str>) {
    let dir = std::env::temp_dir().join(format!("gsomia-taxii-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let data = dir.join("kor");
    let d = data.to_str().unwrap();
    super::init_kor(&data, database);
    let config = data.join("gsomia.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        format!("{text}taxii_topics = [\"dprk-missile\"]\n"),
    )
    .unwrap();
    let out = run(&[
        "user",
        "add",
        "--data",
        d,
        "--id",
        "kim",
        "--roles",
        "analyst,security_officer,authority",
        "--clearance",
        "II",
        "--duties",
        "missile-warning",
    ]);
    let token = out.lines().nth(1).unwrap().to_owned();
    let marking = std::fs::read_to_string(root().join("docs/stix/gsomia-marking.json")).unwrap();
    let (mut child, addr) = super::crash::start(&data);
    let out = Command::new(python)
        .args(["-m", "pytest", "test_taxii.py", "-c", "pytest.ini", "-q"])
        .current_dir(root().join("conformance/taxii"))
        .env("TAXII_DISCOVERY", format!("https://{addr}/taxii2/"))
        .env("TAXII_CA", data.join("tls.crt"))
        .env("TAXII_USER", "kim")
        .env("TAXII_PASSWORD", &token)
        .env("TAXII_SERVER", "gsomia")
        .env("TAXII_MARKING", &marking)
        .output()
        .unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        out.status.success(),
        "the suite failed against gsomia:\n{}",
        show(&out)
    );
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(
        summary.contains(" passed") && !summary.contains("xfail"),
        "{summary}"
    );

    // Every read and write the suite made is in the audit log, which still verifies.
    let out = run(&["audit", "verify", "--data", d]);
    assert!(out.starts_with("exit 0\n"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue 16: schemathesis (pinned, in the same venv) generates requests from the node's own
/// OpenAPI document and sends them, with an authority's token, to a real `gsomia serve`: no
/// answer may be a 5xx, and every status, content type and body must be one the document
/// describes. A fixed seed keeps the run the same in CI; a failure prints schemathesis's report
/// with a `curl` line per case.
#[test]
fn schemathesis_finds_no_5xx_and_no_answer_the_openapi_document_does_not_describe() {
    let python = python();
    let dir = std::env::temp_dir().join(format!("gsomia-schemathesis-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let data = dir.join("kor");
    super::init_kor(&data, None);
    let out = run(&[
        "user",
        "add",
        "--data",
        data.to_str().unwrap(),
        "--id",
        "kim",
        "--roles",
        "analyst,security_officer,authority,admin",
        "--clearance",
        "II",
        "--duties",
        "missile-warning",
    ]);
    let token = out.lines().nth(1).unwrap().to_owned();
    let (mut child, addr) = super::crash::start(&data);
    // Items held, so that the lists, the audit log and the log's entries and proofs answer with
    // something for their documented shapes to be checked against.
    for n in 0..3 {
        let (status, body) = super::crash::http(
            &addr,
            "POST",
            "/api/v1/items",
            &token,
            &super::crash::item(n),
        )
        .unwrap();
        assert_eq!(status, 201, "{body}");
    }
    let st = python.with_file_name("st");
    let out = Command::new(&st)
        .args([
            "run",
            &format!("https://{addr}/api/v1/openapi.json"),
            "--tls-verify",
            data.join("tls.crt").to_str().unwrap(),
            "-H",
            &format!("Authorization: Bearer {token}"),
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
            "--phases",
            "examples,fuzzing",
            "--max-examples",
            "25",
            "--seed",
            "16",
            "--generation-database",
            "none",
            "--workers",
            "2",
            "--exclude-path",
            "/api/v1/stream",
        ])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    let report = show(&out);
    assert!(
        out.status.success(),
        "schemathesis found answers the document does not describe:\n{report}"
    );
    assert!(report.contains("passed"), "{report}");
}
