//! `cargo xtask bench latency` (SPEC T2): the time from a missile warning's publication at
//! KOR to its event on a JPN analyst's stream, directly (Korea–Japan GSOMIA), over TLS, two
//! real `gsomia serve` processes on loopback.
//!
//! KOR has a standing release rule (R7) for `dprk-missile` to JPN, so publishing is all KOR's
//! analyst does: the node decides, binds, seals, audits, queues and delivers; JPN checks,
//! re-marks, stores and acknowledges the envelope, and its stream sends the warning to the
//! analyst (a recorded read). Warnings are published open-loop at a fixed rate, so a slow
//! answer does not hold back the next: each latency is measured from the moment the warning
//! was due to be published, not from when the publisher got round to it.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::{Base, add_kim, gsomia, pair, run, serve};

/// The ids of the benchmark's warnings: this, then the warning's number in 12 digits.
const ID_PREFIX: &str = "x-gsomia-missile-warning--00000000-0000-4000-8000-";

/// The model case's warning, to be numbered.
fn template() -> Result<serde_json::Value> {
    let text = std::fs::read_to_string(
        crate::workspace().join("examples/model-case/items/kor-missile-warning.json"),
    )?;
    Ok(serde_json::from_str(&text)?)
}

/// The warning number in an SSE event's data, if it carries one of ours.
fn number_in(event: &str) -> Option<u64> {
    let at = event.find(ID_PREFIX)? + ID_PREFIX.len();
    event.get(at..at + 12)?.parse().ok()
}

pub(crate) fn bench(seconds: u64, rates: &[u64]) -> Result<()> {
    let bin = gsomia()?;
    let dir = std::env::temp_dir().join(format!("gsomia-bench-{}-latency", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    pair(&bin, &dir)?;
    let (kor_data, jpn_data) = (dir.join("KOR"), dir.join("JPN"));
    let kim = add_kim(&bin, &kor_data, "analyst,security_officer")?;
    let sato = jpn_analyst(&bin, &jpn_data)?;
    let (mut kor, kor_addr) = serve(&bin, &kor_data)?;
    let (mut jpn, jpn_addr) = serve(&bin, &jpn_data)?;
    let (kor_base, jpn_base) = (
        Base::of(&kor_data, &kor_addr)?,
        Base::of(&jpn_data, &jpn_addr)?,
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let result = rt.block_on(measure(&kor_base, &jpn_base, &kim, &sato, seconds, rates));
    for c in [&mut kor, &mut jpn] {
        c.kill()?;
        c.wait()?;
    }
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// A JPN analyst cleared to the equivalent of KOR's II, with the warnings' duty.
fn jpn_analyst(bin: &Path, data: &Path) -> Result<String> {
    let data = data.to_str().context("path")?;
    let token = run(
        bin,
        &[
            "user",
            "add",
            "--data",
            data,
            "--id",
            "sato",
            "--roles",
            "analyst",
            "--clearance",
            "GOKUHI",
            "--duties",
            "missile-warning",
        ],
    )?;
    Ok(token.lines().next().unwrap_or_default().trim().to_owned())
}

async fn measure(
    kor: &Base,
    jpn: &Base,
    kim: &str,
    sato: &str,
    seconds: u64,
    rates: &[u64],
) -> Result<()> {
    let http = kor.client()?;
    let auth = format!("Bearer {kim}");
    let headers = [
        ("authorization", auth.as_str()),
        ("content-type", "application/json"),
    ];
    let rule = r#"{"to": "JPN", "topics": ["dprk-missile"], "max_level": "II"}"#;
    let url = format!("{}/api/v1/release-rules", kor.url);
    let (s, b) = http
        .send("POST", &url, &headers, rule.as_bytes().to_vec())
        .await
        .map_err(anyhow::Error::msg)?;
    anyhow::ensure!(
        (200..300).contains(&s),
        "release rule: {s} {}",
        String::from_utf8_lossy(&b)
    );
    // The analyst's stream at JPN, read as it arrives.
    let due: Arc<Mutex<HashMap<u64, Instant>>> = Arc::default();
    let seen: Arc<Mutex<Vec<(u64, Duration)>>> = Arc::default();
    let stream = {
        let url = format!("{}/api/v1/stream?topics=dprk-missile", jpn.url);
        let auth = format!("Bearer {sato}");
        let resp = jpn
            .client()?
            .open(&url, &[("authorization", auth.as_str())])
            .await
            .map_err(anyhow::Error::msg)?;
        anyhow::ensure!(resp.status() == 200, "stream: {}", resp.status());
        let (due, seen) = (due.clone(), seen.clone());
        tokio::spawn(async move {
            use http_body_util::BodyExt;
            let mut body = resp.into_body();
            let mut text = String::new();
            while let Some(Ok(frame)) = body.frame().await {
                let Ok(data) = frame.into_data() else {
                    continue;
                };
                let now = Instant::now();
                text.push_str(&String::from_utf8_lossy(&data));
                while let Some(end) = text.find("\n\n") {
                    let event: String = text.drain(..end + 2).collect();
                    if let Some(n) = number_in(&event)
                        && let Some(at) = due.lock().map_or(None, |d| d.get(&n).copied())
                        && let Ok(mut s) = seen.lock()
                    {
                        s.push((n, now.saturating_duration_since(at)));
                    }
                }
            }
        })
    };
    println!(
        "latency KOR publish → JPN analyst's stream, direct (kor-jpn-gsomia), TLS, loopback, {seconds} s a rate"
    );
    println!("| warnings/s | published | on the stream | p50 ms | p99 ms | max ms | target p99 |");
    println!("|---|---|---|---|---|---|---|");
    let mut next = 0u64;
    for &rate in rates {
        let count = rate * seconds;
        let first = next;
        next += count;
        let errors = publish_at(kor, kim, rate, first..next, &due).await?;
        // Every warning on the stream, or 10 s more.
        let deadline = Instant::now() + Duration::from_secs(10);
        let got = loop {
            let got: Vec<Duration> = seen
                .lock()
                .map_err(|_| anyhow::anyhow!("lock"))?
                .iter()
                .filter(|(n, _)| (first..next).contains(n))
                .map(|(_, d)| *d)
                .collect();
            if got.len() as u64 >= count || Instant::now() > deadline {
                break got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let mut ms: Vec<f64> = got.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
        ms.sort_by(f64::total_cmp);
        let at = |q: f64| ms.get(((ms.len() as f64 * q).ceil() as usize).saturating_sub(1));
        let show = |v: Option<&f64>| v.map_or("-".to_owned(), |v| format!("{v:.1}"));
        println!(
            "| {rate} | {} | {} | {} | {} | {} | 50 |",
            count - errors,
            ms.len(),
            show(at(0.5)),
            show(at(0.99)),
            show(ms.last()),
        );
        if errors > 0 {
            bail!("{errors} publications failed at {rate} warnings/s");
        }
    }
    stream.abort();
    Ok(())
}

/// Publishes warnings `numbers` at `rate` a second, open-loop (each at its due time, however
/// long the ones before take), recording each due time in `due`; the number that failed.
async fn publish_at(
    kor: &Base,
    kim: &str,
    rate: u64,
    numbers: std::ops::Range<u64>,
    due: &Arc<Mutex<HashMap<u64, Instant>>>,
) -> Result<u64> {
    let start = Instant::now() + Duration::from_millis(100);
    let http = kor.client()?;
    let url = format!("{}/api/v1/items", kor.url);
    let mut warning = template()?;
    let mut tasks = vec![];
    for (k, n) in numbers.enumerate() {
        let at = start + Duration::from_secs_f64(k as f64 / rate as f64);
        warning["object"]["id"] = format!("{ID_PREFIX}{n:012}").into();
        let body = warning.to_string().into_bytes();
        let (http, url, due, auth) = (
            http.clone(),
            url.clone(),
            due.clone(),
            format!("Bearer {kim}"),
        );
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep_until(at.into()).await;
            if let Ok(mut d) = due.lock() {
                d.insert(n, at);
            }
            let headers = [
                ("authorization", auth.as_str()),
                ("content-type", "application/json"),
            ];
            matches!(http.send("POST", &url, &headers, body).await, Ok((201, _)))
        }));
    }
    let mut failed = 0;
    for t in tasks {
        if !t.await? {
            failed += 1;
        }
    }
    Ok(failed)
}
