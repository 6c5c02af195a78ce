//! TAXII 2.1 conformance with real clients: the Python suite in `conformance/taxii` (written
//! with `taxii2-client`, `stix2` and `stix2-validator`) against a real `gsomia serve`, and the
//! same suite against the OASIS reference server medallion, so that we know it tests the
//! standard and not our reading of it. The venv is made by `conformance/taxii/venv.sh` (which
//! `.ci/run` also calls); it needs `python3` and PyPI the first time.

use std::path::PathBuf;
use std::process::Command;

use serde_json::{Value, json};

use super::{M, root, run, stdout_of};

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
    partners(&dir, &data);
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
    seed(&addr, &token);
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

/// The partners of the node in `data` (KOR), known from their descriptors as `gsomia party
/// import` takes them (nodes made in `dir` for that, never started), with the KOR–JPN and
/// USA–KOR agreements: what release rules, letters, assurances, visits and standing consents
/// need. No partner runs, so what they would send (items, consent requests, checkpoints to
/// witness) is not there.
fn partners(dir: &std::path::Path, data: &std::path::Path) {
    let kor = data.to_str().unwrap();
    for party in ["JPN", "USA"] {
        let other = dir.join(party);
        let scheme = format!("{M}/schemes/{party}.json");
        let out = run(&[
            "init",
            "--data",
            other.to_str().unwrap(),
            "--party",
            party,
            "--scheme",
            &scheme,
        ]);
        assert!(out.starts_with("exit 0"), "{out}");
        let descriptor = stdout_of(&["party", "export", "--data", other.to_str().unwrap()]);
        let file = dir.join(format!("{party}.json"));
        std::fs::write(&file, descriptor).unwrap();
        let out = run(&["party", "import", "--data", kor, file.to_str().unwrap()]);
        assert_eq!(out, "exit 0\n");
    }
    for agreement in ["kor-jpn-gsomia", "usa-kor-gsomia"] {
        let file = format!("{M}/agreements/{agreement}.json");
        assert_eq!(
            run(&["agreement", "import", "--data", kor, &file]),
            "exit 0\n"
        );
    }
}

/// What the node at `addr` holds before schemathesis runs, made over the API with `token`'s
/// user, so that the lists and the routes whose parameters the document gives an example of
/// (`kor-jpn-gsomia`, `indicator--8e2e2d2b-…`, `people`, `missile`) answer with something for
/// their documented shapes to be checked against: a standing release rule, which releases the
/// items published after it; items (reports, and two indicators sharing an observable value, so
/// each has a related item); a pending agreement; letters; an assurance and a visit asked under
/// it; a facility, inspected; standing consents, one revoked; an incident and its result.
fn seed(addr: &str, token: &str) {
    let post = |path: &str, body: Value| -> Value {
        let (status, answer) =
            super::crash::http(addr, "POST", path, token, &body.to_string()).unwrap();
        assert!((200..300).contains(&status), "{path}: {status} {answer}");
        serde_json::from_str(&answer).unwrap()
    };
    let rule = json!({ "to": "JPN", "topics": ["dprk-missile"], "max_level": "II" });
    post("/api/v1/release-rules", rule);
    for n in 0..3 {
        post(
            "/api/v1/items",
            serde_json::from_str(&super::crash::item(n)).unwrap(),
        );
    }
    let report: Value = serde_json::from_str(&super::crash::item(0)).unwrap();
    let indicators = [
        (
            "8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
            "Missile test site command server",
        ),
        (
            "26ffb872-1dd9-446e-b6f5-d58527e5b5d2",
            "Missile telemetry relay",
        ),
    ];
    for (uuid, name) in indicators {
        let object = json!({
            "type": "indicator", "spec_version": "2.1", "id": format!("indicator--{uuid}"),
            "created": "2019-07-25T00:30:00.000Z", "modified": "2019-07-25T00:30:00.000Z",
            "name": name, "pattern": "[ipv4-addr:value = '198.51.100.7']",
            "pattern_type": "stix", "valid_from": "2019-07-25T00:30:00Z",
        });
        let published = post(
            "/api/v1/items",
            json!({ "label": report["label"], "object": object }),
        );
        assert_eq!(published["released"][0]["to"], "JPN", "{published}");
    }
    let file = root().join(M).join("agreements/kor-jpn-gsomia.json");
    let mut proposal: Value =
        serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    proposal["id"] = "kor-jpn-successor".into();
    proposal["events"] = json!([]);
    post("/api/v1/agreements", proposal);
    let letters = "/api/v1/agreements/kor-jpn-gsomia/letters";
    let notice =
        json!({ "kind": "law_notice", "text": "A new secrecy law", "effective": "2099-01-01" });
    post(letters, notice);
    post(
        letters,
        json!({ "kind": "dispute", "text": "Marking of derived items" }),
    );
    let assurance = json!({
        "to": "JPN", "agreement": "kor-jpn-gsomia", "recipient": "Park Ji-won", "level": "II",
        "purpose": "liaison", "until": "2099-12-31",
    });
    let given = post("/api/v1/assurances", assurance);
    let visit = json!({
        "agreement": "kor-jpn-gsomia", "host": "JPN", "visitor": "Park Ji-won",
        "assurance": given["assurance"]["id"], "facility": "MOD Ichigaya",
        "from": "2099-01-10", "until": "2099-01-12", "level": "GOKUHI",
        "topics": ["dprk-missile"], "purpose": "A liaison visit",
    });
    post("/api/v1/visits", visit);
    let facility = json!({
        "id": "hanwha-1", "name": "Hanwha plant 1", "clearance": "II", "responsible": "Lee Min-ho",
    });
    post("/api/v1/facilities", facility);
    post("/api/v1/facilities/hanwha-1/inspections", json!({}));
    for (holder, to) in [("JPN", "USA"), ("USA", "JPN")] {
        let standing = json!({
            "holder": holder, "to": to, "topic": "dprk-missile", "purpose": "missile-warning",
            "until": "2099-12-31",
        });
        let given = post("/api/v1/consents/standing", standing);
        if holder == "USA" {
            let id = given["consent"]["id"].as_str().unwrap();
            post(&format!("/api/v1/consents/{id}/revoke"), json!({}));
        }
    }
    let incident = json!({
        "item": "indicator--26ffb872-1dd9-446e-b6f5-d58527e5b5d2", "kind": "possible_compromise",
        "description": "A printout left on a desk",
    });
    let reported = post("/api/v1/incidents", incident);
    let id = &reported["incident"]["id"];
    let result = json!({ "result": "Nobody read it", "measures": "Clear-desk training" });
    post(&format!("/api/v1/incidents/{id}/result"), result);
}
