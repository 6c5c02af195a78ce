//! `cargo xtask bench instructions`: instruction counts of the CPU-bound paths, with
//! valgrind's callgrind, so that a change's effect shows through the machine's noise (timings
//! here move by a quarter from run to run; instruction counts by well under a percent).
//!
//! The benchmark makes two nodes with the `gsomia` binary (KOR and JPN, knowing each other and
//! the Korea–Japan agreement), then runs itself under callgrind once per path, with collection
//! on only inside [`measured`]: each path goes through the node's router in process (no socket,
//! no TLS), on one thread, pinned to one CPU (`taskset`) so that the work the node spreads over
//! the cores (`node::par_map`) runs on that thread and is counted. The store's writer thread
//! (the commit and its fsync) is not counted: what is counted is the request's own work.
//!
//! - `sign`: an Ed25519 signature over 1 KiB, the reference (publish signs once an item).
//! - `publish`: `POST /api/v1/items`, a 1 KiB STIX object each (decision, signature, sealing,
//!   audit entry).
//! - `receive`: `POST /federation/v1/inbox` at JPN, an envelope of 100 of KOR's items
//!   (signature and HPKE opening, 100 bindings verified, re-marking, storing, a signed reply).
//! - `taxii-page`: `GET /taxii2/api/collections/{id}/objects/?limit=100` at KOR, the first page
//!   of the analyst's collection of 1,000 objects (the read decided on each, decrypted,
//!   audited).
//! - `taxii-get`: `GET /taxii2/api/collections/{id}/objects/{object-id}/` at KOR, one object of
//!   that collection by id (the caller's token looked up, the read decided, decrypted,
//!   audited).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use axum::body::{Body, Bytes};
use axum::http::{Request, StatusCode};
use gsomia_node::node::Node;
use serde_json::{Value, json};
use tower::ServiceExt;

const TAXII: &str = "application/taxii+json;version=2.1";

/// Items in an envelope, and objects in a TAXII page.
const BATCH: u64 = 100;

/// The paths measured: name, how many times, what one is.
const CASES: [(&str, u64, &str); 5] = [
    ("sign", 200, "Ed25519 signature over 1 KiB (reference)"),
    ("publish", 200, "item published"),
    ("receive", 5, "envelope of 100 items received"),
    ("taxii-page", 20, "TAXII page of 100 objects"),
    ("taxii-get", 200, "TAXII object got by id"),
];

/// Everything counted runs inside this function (callgrind's `--toggle-collect`).
#[inline(never)]
fn measured<T>(f: impl FnOnce() -> T) -> T {
    f()
}

pub fn bench(args: &[String]) -> Result<()> {
    if let Some(i) = args.iter().position(|a| a == "--case") {
        let flag = |name: &str| {
            args.iter()
                .position(|a| a == name)
                .and_then(|i| args.get(i + 1))
                .with_context(|| format!("{name} is missing"))
        };
        let case = args.get(i + 1).context("--case")?;
        return run_case(
            case,
            Path::new(flag("--dir")?),
            flag("--token")?,
            flag("--n")?.parse()?,
        );
    }
    if Command::new("valgrind").arg("--version").output().is_err() {
        bail!("valgrind is not installed (apt-get install valgrind)");
    }
    let bin = crate::gsomia()?;
    let dir =
        std::env::temp_dir().join(format!("gsomia-bench-{}-instructions", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    crate::pair(&bin, &dir)?;
    let token = crate::add_kim(&bin, &dir.join("KOR"), "analyst,security_officer")?;
    let profiles = crate::workspace().join("target/instructions");
    std::fs::create_dir_all(&profiles)?;
    println!("| path | instructions per operation | operations counted |");
    println!("| --- | ---: | ---: |");
    for (case, n, what) in CASES {
        // Kept, for `callgrind_annotate target/instructions/callgrind.<path>`.
        let out = profiles.join(format!("callgrind.{case}"));
        // On one CPU, so that work the node spreads over the cores (`par_map`) runs on the
        // measured thread and is counted: callgrind collects only under `measured`'s frames.
        let status = Command::new("taskset")
            .args(["-c", "0", "valgrind"])
            .arg("--tool=callgrind")
            .arg(format!("--callgrind-out-file={}", out.display()))
            .arg("--toggle-collect=*instructions*measured*")
            .arg(std::env::current_exe()?)
            .args([
                "bench",
                "instructions",
                "--case",
                case,
                "--n",
                &n.to_string(),
            ])
            .arg("--dir")
            .arg(&dir)
            .args(["--token", &token])
            .output()?;
        if !status.status.success() {
            let err = String::from_utf8_lossy(&status.stderr);
            // Valgrind's own lines begin with `==`.
            let tail: Vec<&str> = err
                .lines()
                .filter(|l| !l.starts_with("=="))
                .rev()
                .take(20)
                .collect();
            bail!(
                "{case} under callgrind: {}\n{}",
                status.status,
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        let total = totals(&out)?;
        println!("| {case}: one {what} | {} | {n} |", total / n);
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// The instructions a callgrind output file counts (its `totals:` or `summary:` line).
fn totals(file: &PathBuf) -> Result<u64> {
    let text = std::fs::read_to_string(file)?;
    text.lines()
        .find_map(|l| {
            l.strip_prefix("totals:")
                .or_else(|| l.strip_prefix("summary:"))
        })
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .with_context(|| format!("no totals in {}", file.display()))
}

/// A request answered by a node's router (made once, as `serve` makes it).
async fn call(app: &axum::Router, req: Request<Body>) -> Result<(StatusCode, Value)> {
    let (status, body) = respond(app, req).await?;
    Ok((status, parsed(&body)))
}

/// The answer's status and body as it came: what is measured stops there (the caller's parse
/// of the body is not the node's work).
async fn respond(app: &axum::Router, req: Request<Body>) -> Result<(StatusCode, Bytes)> {
    let resp = app.clone().oneshot(req).await?;
    let status = resp.status();
    Ok((
        status,
        axum::body::to_bytes(resp.into_body(), usize::MAX).await?,
    ))
}

fn parsed(body: &[u8]) -> Value {
    serde_json::from_slice(body).unwrap_or(Value::Null)
}

fn post(uri: &str, token: Option<&str>, body: String) -> Request<Body> {
    let mut req = Request::post(uri).header("content-type", "application/json");
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    req.body(Body::from(body)).expect("a request")
}

fn get(uri: &str, token: &str) -> Request<Body> {
    Request::get(uri)
        .header("authorization", format!("Bearer {token}"))
        .header("accept", TAXII)
        .body(Body::empty())
        .expect("a request")
}

/// Publishes items `first..first + n` at `kor`, outside what is counted.
async fn publish(kor: &axum::Router, token: &str, first: u64, n: u64) -> Result<()> {
    for i in first..first + n {
        // On the analyst's duty too, so that their TAXII collection of it lists the item.
        let mut body: Value = serde_json::from_str(&crate::item(i))?;
        body["label"]["topics"] = json!(["dprk-missile", "missile-warning"]);
        let (s, b) = call(kor, post("/api/v1/items", Some(token), body.to_string())).await?;
        if s != StatusCode::CREATED {
            bail!("publish: {s} {b}");
        }
    }
    Ok(())
}

/// `n` envelopes of [`BATCH`] of KOR's items, sealed for JPN, numbered from the first.
fn envelopes(kor: &Node, jpn: &Node, n: u64) -> Result<Vec<String>> {
    use gsomia_crypto::envelope::{Header, PROTOCOL, seal};
    let record = kor
        .store()
        .parties()?
        .into_iter()
        .find(|p| p.code == jpn.party())
        .context("JPN's descriptor at KOR")?;
    let key: [u8; 32] = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        &record.keys.encryption,
    )?
    .try_into()
    .map_err(|_| anyhow::anyhow!("JPN's encryption key"))?;
    let mut out = vec![];
    for e in 0..n {
        let messages: Vec<Value> = (0..BATCH)
            .map(|k| {
                let seq = e * BATCH + k + 1;
                let file: Value = serde_json::from_str(&crate::item(2_000_000 + seq))?;
                let label: gsomia_core::Label = serde_json::from_value(file["label"].clone())?;
                let binding =
                    gsomia_crypto::sign_binding(&kor.keys().signing, &label, &file["object"])?
                        .to_base64();
                Ok(
                    json!({ "kind": "item", "seq": seq, "consents": [], "item": {
                    "label": file["label"], "object": file["object"], "binding": binding } }),
                )
            })
            .collect::<Result<_>>()?;
        let header = Header {
            protocol: PROTOCOL,
            from: kor.party(),
            to: jpn.party(),
            id: format!("instructions-{e}"),
            seq: (e * BATCH + 1, (e + 1) * BATCH),
            sent: kor.now_text(),
        };
        let payload = json!({ "messages": messages }).to_string();
        let env = seal(
            &kor.keys().signing,
            &key,
            header,
            payload.as_bytes(),
            &mut crate::XtaskRng,
        )?;
        out.push(serde_json::to_string(&env)?);
    }
    Ok(out)
}

/// The id of the analyst's TAXII collection of Korea's missile warning.
async fn collection(app: &axum::Router, token: &str) -> Result<String> {
    let (s, c) = call(app, get("/taxii2/api/collections/", token)).await?;
    c["collections"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["title"] == "KOR: missile-warning")
        .and_then(|c| c["id"].as_str())
        .map(str::to_owned)
        .with_context(|| format!("a readable collection: {s} {c}"))
}

/// One path, `n` times, inside [`measured`] (run under callgrind by [`bench`]); what it sets
/// up first is not counted.
fn run_case(case: &str, dir: &Path, token: &str, n: u64) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    if case == "sign" {
        use ed25519_dalek::Signer;
        let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
        let message = vec![0u8; 1024];
        measured(|| {
            for _ in 0..n {
                std::hint::black_box(key.sign(std::hint::black_box(&message)));
            }
        });
        return Ok(());
    }
    let clock = gsomia_node::node::system_clock();
    let kor = Node::open(&dir.join("KOR"), clock.clone())?;
    let app = gsomia_node::api::app(kor.clone());
    match case {
        "publish" => {
            let bodies: Vec<String> = (0..n).map(|i| crate::item(1_000_000 + i)).collect();
            let created = measured(|| {
                runtime.block_on(async {
                    let mut created = 0;
                    for body in bodies {
                        let (s, _) =
                            respond(&app, post("/api/v1/items", Some(token), body)).await?;
                        created += u64::from(s == StatusCode::CREATED);
                    }
                    anyhow::Ok(created)
                })
            })?;
            if created != n {
                bail!("publish: {created} of {n} created");
            }
        }
        "receive" => {
            let jpn = Node::open(&dir.join("JPN"), clock.clone())?;
            let jpn_app = gsomia_node::api::app(jpn.clone());
            let envs = envelopes(&kor, &jpn, n)?;
            let answers = measured(|| {
                runtime.block_on(async {
                    let mut answers = vec![];
                    for env in envs {
                        answers.push(
                            respond(&jpn_app, post("/federation/v1/inbox", None, env)).await?,
                        );
                    }
                    anyhow::Ok(answers)
                })
            })?;
            for (s, b) in answers {
                let b = parsed(&b);
                let refused = b["reply"]["refused"].as_array().map_or(0, Vec::len);
                if s != StatusCode::OK || refused > 0 {
                    bail!("receive: {s} {b}");
                }
            }
            if jpn.store().counts()?.items != n * BATCH {
                bail!("receive: not every item was stored");
            }
            jpn.close();
        }
        "taxii-get" => {
            const FIRST: u64 = 4_000_000;
            runtime.block_on(publish(&app, token, FIRST, n))?;
            let id = runtime.block_on(collection(&app, token))?;
            let uris: Vec<String> = (FIRST..FIRST + n)
                .map(|i| {
                    let object = format!("report--00000000-0000-4000-8000-{i:012}");
                    format!("/taxii2/api/collections/{id}/objects/{object}/")
                })
                .collect();
            let answers = measured(|| {
                runtime.block_on(async {
                    let mut answers = vec![];
                    for uri in &uris {
                        answers.push(respond(&app, get(uri, token)).await?);
                    }
                    anyhow::Ok(answers)
                })
            })?;
            for (s, b) in answers {
                let b = parsed(&b);
                let objects = b["objects"].as_array().map_or(0, Vec::len);
                // The object and the marking-definition it names.
                if s != StatusCode::OK || objects == 0 {
                    bail!("taxii get: {s}, {objects} objects");
                }
            }
        }
        "taxii-page" => {
            runtime.block_on(publish(&app, token, 3_000_000, 1000))?;
            let id = runtime.block_on(collection(&app, token))?;
            let uri = format!("/taxii2/api/collections/{id}/objects/?limit={BATCH}");
            let pages = measured(|| {
                runtime.block_on(async {
                    let mut pages = vec![];
                    for _ in 0..n {
                        pages.push(respond(&app, get(&uri, token)).await?);
                    }
                    anyhow::Ok(pages)
                })
            })?;
            for (s, b) in pages {
                let b = parsed(&b);
                let objects = b["objects"].as_array().map_or(0, Vec::len);
                if s != StatusCode::OK || objects as u64 != BATCH {
                    bail!("taxii page: {s}, {objects} objects");
                }
            }
        }
        other => bail!("no path `{other}`"),
    }
    kor.close();
    Ok(())
}
