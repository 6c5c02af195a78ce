//! `cargo xtask bench latency [--hub]` (T2): the time from a missile warning's publication at
//! KOR to its event on a JPN analyst's stream, over TLS, real `gsomia serve` processes on
//! loopback: directly (two, under the Korea–Japan GSOMIA), or with `--hub` through the USA
//! (three, the 2023 trilateral mechanism).
//!
//! Directly, KOR has a standing release rule (R7) for `dprk-missile` to JPN, so publishing is
//! all KOR's analyst does: the node decides, binds, seals, audits, queues and delivers; JPN
//! checks, re-marks, stores and acknowledges the envelope, and its stream sends the warning to
//! the analyst (a recorded read). Through the hub, KOR's rule sends to the USA, KOR's authority
//! has given the USA a standing consent (R4b) for `dprk-missile` to JPN, and the USA's rule
//! passes each warning on as it arrives: the same work twice, and the consent checked at both. Warnings are published open-loop at a fixed rate, so a slow
//! answer does not hold back the next: each latency is measured from the moment the warning
//! was due to be published, not from when the publisher got round to it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

use crate::{Base, add_kim, add_user, gsomia, model, serve};

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

pub(crate) fn bench(hub: bool, seconds: u64, rates: &[u64]) -> Result<()> {
    let bin = gsomia()?;
    let dir = std::env::temp_dir().join(format!("gsomia-bench-{}-latency", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let parties: &[&str] = match hub {
        true => &["KOR", "JPN", "USA"],
        false => &["KOR", "JPN"],
    };
    model(&bin, &dir, parties)?;
    let data = |p: &str| dir.join(p);
    let kim = add_kim(&bin, &data("KOR"), "analyst,security_officer")?;
    let sato = add_user(&bin, &data("JPN"), "sato", "analyst", "GOKUHI")?;
    let mut route = vec![];
    if hub {
        // KOR's authority gives the standing consent; USA's officer sets the hub's rule.
        let moon = add_user(&bin, &data("KOR"), "moon", "authority", "I")?;
        let smith = add_user(&bin, &data("USA"), "smith", "security_officer", "SECRET")?;
        route.push(Step::Rule("KOR", kim.clone(), "USA", "II"));
        route.push(Step::Standing(moon, smith.clone()));
        route.push(Step::Rule("USA", smith, "JPN", "SECRET"));
    } else {
        route.push(Step::Rule("KOR", kim.clone(), "JPN", "II"));
    }
    let mut children = vec![];
    let mut bases = HashMap::new();
    for p in parties {
        let (child, addr) = serve(&bin, &data(p))?;
        children.push(child);
        bases.insert(*p, Base::of(&data(p), &addr)?);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let result = rt.block_on(async {
        for step in &route {
            step.take(&bases).await?;
        }
        let (kor, jpn) = (&bases["KOR"], &bases["JPN"]);
        measure(kor, jpn, hub, &kim, &sato, seconds, rates).await
    });
    for c in &mut children {
        c.kill()?;
        c.wait()?;
    }
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// What the route needs before the warnings are published.
enum Step {
    /// At a party, by a user (token): a standing release rule (R7) of `dprk-missile` items up
    /// to a level, to a party.
    Rule(&'static str, String, &'static str, &'static str),
    /// KOR's authority (token): a standing consent (R4b) for the USA to pass KOR's
    /// `dprk-missile` warnings on to JPN; then a USA officer (token) waits until the USA holds
    /// it.
    Standing(String, String),
}

impl Step {
    async fn take(&self, bases: &HashMap<&str, Base>) -> Result<()> {
        let (at, token, path, body) = match self {
            Step::Rule(at, token, to, max) => (
                *at,
                token,
                "/api/v1/release-rules",
                serde_json::json!({ "to": to, "topics": ["dprk-missile"], "max_level": max }),
            ),
            Step::Standing(token, _) => (
                "KOR",
                token,
                "/api/v1/consents/standing",
                serde_json::json!({ "holder": "USA", "to": "JPN", "topic": "dprk-missile",
                                    "purpose": "missile-warning", "until": "2099-12-31" }),
            ),
        };
        let base = &bases[at];
        let auth = format!("Bearer {token}");
        let headers = [
            ("authorization", auth.as_str()),
            ("content-type", "application/json"),
        ];
        let url = format!("{}{path}", base.url);
        let (s, b) = base
            .client()?
            .send("POST", &url, &headers, body.to_string().into_bytes())
            .await
            .map_err(anyhow::Error::msg)?;
        anyhow::ensure!(
            (200..300).contains(&s),
            "{path} at {at}: {s} {}",
            String::from_utf8_lossy(&b)
        );
        if let Step::Standing(_, officer) = self {
            // The consent reaches the USA by federation.
            let usa = &bases["USA"];
            let url = format!("{}/api/v1/consents", usa.url);
            let auth = format!("Bearer {officer}");
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let (_, b) = usa
                    .client()?
                    .send("GET", &url, &[("authorization", auth.as_str())], vec![])
                    .await
                    .map_err(anyhow::Error::msg)?;
                let held: serde_json::Value = serde_json::from_slice(&b)?;
                if held["consents"].as_array().is_some_and(|c| !c.is_empty()) {
                    break;
                }
                anyhow::ensure!(Instant::now() < deadline, "no standing consent at USA");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        Ok(())
    }
}

async fn measure(
    kor: &Base,
    jpn: &Base,
    hub: bool,
    kim: &str,
    sato: &str,
    seconds: u64,
    rates: &[u64],
) -> Result<()> {
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
            let mut events = gsomia_node::client::Events::of(resp);
            while let Some(event) = events.next().await {
                let now = Instant::now();
                if let Some(n) = number_in(&event)
                    && let Some(at) = due.lock().map_or(None, |d| d.get(&n).copied())
                    && let Ok(mut s) = seen.lock()
                {
                    s.push((n, now.saturating_duration_since(at)));
                }
            }
        })
    };
    let (route, target) = match hub {
        true => ("through the USA hub under KOR's standing consent", 100),
        false => ("direct (kor-jpn-gsomia)", 50),
    };
    println!(
        "latency KOR publish → JPN analyst's stream, {route}, TLS, loopback, {seconds} s a rate"
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
            "| {rate} | {} | {} | {} | {} | {} | {target} |",
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
