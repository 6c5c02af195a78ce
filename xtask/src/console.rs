//! `cargo xtask bench console`: the console and search at scale (issue 12: the items page and
//! a search answer in p99 ≤ 50 ms with 1,000,000 items stored; start-up stays ≤ 5 s with the
//! index rebuilt then). The node is filled in process through the service layer (real
//! bindings, sealing and index), then `gsomia serve` is started on it: start-up to the first
//! answer, the index's rebuild, then each page asked 300 times in a row over HTTPS on one
//! keep-alive connection (the latency a browser sees on loopback, TLS included).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::{Base, gsomia, node, peak_rss_mib, percentile, run, serve};

/// Words the generated items are written with (a few common, most rare).
const WORDS: [&str; 24] = [
    "ballistic",
    "missile",
    "launch",
    "east",
    "sea",
    "wonsan",
    "apogee",
    "range",
    "trajectory",
    "submarine",
    "hwasong",
    "solid",
    "fuel",
    "transporter",
    "erector",
    "coastal",
    "radar",
    "telemetry",
    "impact",
    "zone",
    "exercise",
    "warning",
    "tracking",
    "sortie",
];

/// Item `n`: even ones reports, odd ones indicators whose pattern names one of 250,000
/// addresses (four items share each, for correlations).
fn body(n: u64, label: &Value, report: &Value) -> (gsomia_core::Label, Value) {
    let w = |k: u64| WORDS[((n.wrapping_mul(2654435761) >> k) % WORDS.len() as u64) as usize];
    let name = format!("{} {} {} site{}", w(3), w(7), w(11), n % 10_000);
    let description = format!(
        "{} {} near {} {}; {} {} {} observed.",
        w(13),
        w(17),
        w(19),
        w(23),
        w(5),
        w(9),
        w(21)
    );
    let mut object = report.clone();
    let ip = n / 4;
    if n.is_multiple_of(2) {
        object["id"] = format!("report--00000000-0000-4000-8000-{n:012}").into();
        object["name"] = name.into();
        object["description"] = description.into();
    } else {
        object = json!({
            "type": "indicator", "spec_version": "2.1",
            "id": format!("indicator--00000000-0000-4000-8000-{n:012}"),
            "created": "2019-07-25T01:00:00.000Z", "modified": "2019-07-25T01:00:00.000Z",
            "name": name, "description": description,
            "pattern": format!("[ipv4-addr:value = '10.{}.{}.{}']", ip >> 16 & 255, ip >> 8 & 255, ip & 255),
            "pattern_type": "stix", "valid_from": "2019-07-25T01:00:00Z",
        });
    }
    let label = serde_json::from_value(label.clone()).unwrap();
    (label, object)
}

/// Publishes `items` items through the service layer of the node in `data`, 64 at a time;
/// items per second.
fn fill(data: &Path, token: &str, items: u64) -> Result<f64> {
    let text = std::fs::read_to_string(
        crate::workspace().join("examples/model-case/items/kor-missile-report.json"),
    )?;
    let v: Value = serde_json::from_str(&text)?;
    let (label, report) = (Arc::new(v["label"].clone()), Arc::new(v["object"].clone()));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let node = gsomia_node::Node::open(data, gsomia_node::node::system_clock())?;
    // The index follows the publishes (its rebuild of the empty store ends at once).
    node.start_index();
    let user = node.user_by_token(token)?.context("the analyst")?;
    let started = Instant::now();
    let tasks = 64;
    rt.block_on(async {
        let mut handles = vec![];
        for t in 0..tasks {
            let (node, user, label, report) =
                (node.clone(), user.clone(), label.clone(), report.clone());
            handles.push(tokio::spawn(async move {
                let mut n = t;
                while n < items {
                    let (l, o) = body(n, &label, &report);
                    gsomia_node::service::items::publish(&node, &user, l, o)
                        .await
                        .map_err(|e| anyhow::anyhow!("item {n}: {}", e.message))?;
                    n += tasks;
                    if n % 100_000 < tasks {
                        eprint!(".");
                    }
                }
                anyhow::Ok(())
            }));
        }
        for h in handles {
            h.await??;
        }
        anyhow::Ok(())
    })?;
    eprintln!();
    let rate = items as f64 / started.elapsed().as_secs_f64();
    let (docs, terms) = node.index.size();
    println!(
        "filled: {items} items at {rate:.0}/s through the service layer; index: {docs} items, {terms} terms"
    );
    node.close();
    Ok(rate)
}

/// The console's session cookie for user `id` signed in with `token`.
async fn sign_in(
    http: &gsomia_node::client::Client,
    url: &str,
    id: &str,
    token: &str,
) -> Result<String> {
    let cookie_of = |h: &hyper::HeaderMap, name: &str| -> Option<String> {
        h.get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.starts_with(&format!("{name}=")))
            .and_then(|c| c.split(';').next())
            .map(str::to_owned)
    };
    let (_, h, _) = http
        .send_full("GET", &format!("{url}/console/signin"), &[], vec![])
        .await
        .map_err(anyhow::Error::msg)?;
    let signin = cookie_of(&h, "gsomia_signin").context("no sign-in cookie")?;
    let csrf = signin.trim_start_matches("gsomia_signin=");
    let form = format!("user={id}&token={token}&csrf={csrf}");
    let (status, h, _) = http
        .send_full(
            "POST",
            &format!("{url}/console/signin"),
            &[
                ("cookie", signin.as_str()),
                ("content-type", "application/x-www-form-urlencoded"),
            ],
            form.into_bytes(),
        )
        .await
        .map_err(anyhow::Error::msg)?;
    if status != 303 {
        bail!("sign-in answered {status}");
    }
    cookie_of(&h, "gsomia_session").context("no session cookie")
}

/// `n` requests of `path` in a row; p50 and p99 in ms, and the size of the last answer.
async fn latencies(
    http: &gsomia_node::client::Client,
    url: &str,
    path: &str,
    headers: &[(&str, &str)],
    n: usize,
) -> Result<(f64, f64, usize)> {
    let mut times = Vec::with_capacity(n);
    let mut size = 0;
    for _ in 0..n {
        let t = Instant::now();
        let (status, body) = http
            .send("GET", &format!("{url}{path}"), headers, vec![])
            .await
            .map_err(anyhow::Error::msg)?;
        times.push(t.elapsed());
        if status != 200 {
            bail!("{path}: {status} {}", String::from_utf8_lossy(&body));
        }
        size = body.len();
    }
    times.sort();
    Ok((percentile(&times, 0.5), percentile(&times, 0.99), size))
}

pub fn bench(items: u64) -> Result<()> {
    let bin = gsomia()?;
    let (data, token) = node(&bin, "console")?;
    let d = data.to_str().context("path")?;
    let nobody = run(
        &bin,
        &[
            "user",
            "add",
            "--data",
            d,
            "--id",
            "lee",
            "--roles",
            "analyst",
            "--clearance",
            "II",
            "--duties",
            "logistics",
        ],
    )?;
    fill(&data, &token, items)?;
    let started = Instant::now();
    let (mut child, addr) = serve(&bin, &data)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let base = Base::of(&data, &addr)?;
    let http = base.client()?;
    let url = base.url.clone();
    let auth = format!("Bearer {token}");
    let result = rt.block_on(async {
        let first = loop {
            if let Ok((200, _)) = http.send("GET", &format!("{url}/healthz"), &[], vec![]).await {
                break started.elapsed();
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        };
        let indexed = loop {
            let (s, _) = http
                .send("GET", &format!("{url}/api/v1/search?q=launch&limit=1"), &[("authorization", &auth)], vec![])
                .await
                .map_err(anyhow::Error::msg)?;
            if s == 200 {
                break started.elapsed();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        println!("start-up to the first answer on {items} items: {:.1} ms (target ≤ 5 s)", first.as_secs_f64() * 1000.0);
        println!("search index rebuilt (search answers) after {:.1} s", indexed.as_secs_f64());
        let session = sign_in(&http, &url, "kim", &token).await?;
        let lee = sign_in(&http, &url, "lee", nobody.trim()).await?;
        let cookie = [("cookie", session.as_str())];
        let bearer = [("authorization", auth.as_str())];
        println!("\n| request ({items} items stored) | p50 ms | p99 ms | answer bytes |\n|---|---|---|---|");
        let mut rows = vec![
            ("console: items page (50 rows)", "/console/items".to_owned(), &cookie[..]),
            ("console: items, level II added on one day", "/console/items?level=II&since=2019-07-25&until=2030-01-01".to_owned(), &cookie[..]),
            ("console: search, a common word (`ballistic`)", "/console/search?q=ballistic".to_owned(), &cookie[..]),
            ("console: search, two words", "/console/search?q=east+telemetry".to_owned(), &cookie[..]),
            ("console: search, a rare word (`site4242`, 100 items)", "/console/search?q=site4242".to_owned(), &cookie[..]),
            ("console: search, an observable value (4 items)", "/console/search?q=value:10.0.16.200".to_owned(), &cookie[..]),
            ("API: search, a common word", "/api/v1/search?q=ballistic".to_owned(), &bearer[..]),
        ];
        let lee_cookie = [("cookie", lee.as_str())];
        rows.push(("console: search by a user who may read none of the matches", "/console/search?q=ballistic".to_owned(), &lee_cookie[..]));
        for (what, path, headers) in rows {
            let (p50, p99, size) = latencies(&http, &url, &path, headers, 300).await?;
            println!("| {what} | {p50:.2} | {p99:.2} | {size} |");
        }
        anyhow::Ok(())
    });
    println!(
        "\npeak RSS of gsomia serve: {:.0} MiB",
        peak_rss_mib(child.id())
    );
    child.kill()?;
    child.wait()?;
    let _ = std::fs::remove_dir_all(data.parent().unwrap_or(&data));
    result
}
