//! `gsomia demo`: the Japan–ROK GSOMIA from 2016 to 2023 and the trilateral arrangement, played
//! by three real nodes (KOR, JPN, USA) on 127.0.0.1 with a simulated clock, twice: as it
//! happened (notice, suspension, withdrawal, and on 2023-12-19 the real-time missile-warning
//! mechanism through the USA hub, its end-to-end time measured) and without the 2019-11-22
//! suspension.
//!
//! Everything goes through the nodes' HTTP APIs and their federation: releases, receipts,
//! agreement events, consent, incident reports. Temporary data directories are removed at the
//! end unless `--keep` leaves the first branch's nodes running.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use gsomia_core::{AgreementFile, Scheme, User};
use gsomia_node::client;
use gsomia_node::{InitOptions, Node};
use gsomia_store::PartyRecord;
use serde_json::{Value, json};
use time::OffsetDateTime;

const SCHEMES: [(&str, &str); 3] = [
    (
        "KOR",
        include_str!("../../../examples/model-case/schemes/KOR.json"),
    ),
    (
        "JPN",
        include_str!("../../../examples/model-case/schemes/JPN.json"),
    ),
    (
        "USA",
        include_str!("../../../examples/model-case/schemes/USA.json"),
    ),
];
const AGREEMENTS: [&str; 4] = [
    include_str!("../../../examples/model-case/agreements/kor-jpn-gsomia.json"),
    include_str!("../../../examples/model-case/agreements/tisa.json"),
    include_str!("../../../examples/model-case/agreements/usa-jpn-gsomia.json"),
    include_str!("../../../examples/model-case/agreements/usa-kor-gsomia.json"),
];
const REPORT: &str = include_str!("../../../examples/model-case/items/kor-missile-report.json");
const WARNING: &str = include_str!("../../../examples/model-case/items/kor-missile-warning.json");
const WONSAN: &str = "report--6b1c2f5e-3f0a-4d7e-9a1b-2c3d4e5f6a7b";
const KN25: &str = "report--2c9a7a1e-5b3f-4c8e-9d21-7f3b1e0c4a55";

struct Running {
    node: Arc<Node>,
    url: String,
    /// Pinned to the node's certificate key.
    client: client::Client,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

struct Demo {
    now: Arc<Mutex<OffsetDateTime>>,
    nodes: HashMap<&'static str, Running>,
    tokens: HashMap<&'static str, String>,
}

fn day(d: &str) -> Result<OffsetDateTime> {
    let date = time::Date::parse(
        d,
        &time::macros::format_description!("[year]-[month]-[day]"),
    )?;
    Ok(date.with_hms(9, 0, 0)?.assume_utc())
}

impl Demo {
    fn set(&self, d: &str) -> Result<()> {
        *self.now.lock().map_err(|_| anyhow!("clock"))? = day(d)?;
        Ok(())
    }

    fn node(&self, p: &str) -> &Arc<Node> {
        &self.nodes[p].node
    }

    async fn call(
        &self,
        party: &str,
        user: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<(u16, Value)> {
        let url = format!("{}{path}", self.nodes[party].url);
        self.nodes[party]
            .client
            .json(
                method,
                &url,
                self.tokens.get(user).map(String::as_str),
                body.as_ref(),
            )
            .await
            .map_err(|e| anyhow!("{party} {method} {path}: {e}"))
    }

    /// Waits (at most 30 s, for a loaded machine) until `check` holds: what federation delivers
    /// arrives quickly.
    async fn wait(&self, what: &str, check: impl Fn(&Demo) -> bool) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !check(self) {
            if Instant::now() > deadline {
                bail!("timed out waiting for {what}");
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Ok(())
    }

    fn state(&self, party: &str, on: &str) -> String {
        let world = self.node(party).world();
        let Some(a) = world.agreement("kor-jpn-gsomia") else {
            return "unknown".into();
        };
        let s = a.state_at(
            on.parse()
                .unwrap_or_else(|_| unreachable!("a constant date")),
        );
        match (s.state, s.terminates_on) {
            (gsomia_core::State::Terminated, Some(t)) => format!("terminated on {t}"),
            (state, Some(t)) => format!("{state}, terminates on {t}"),
            (state, None) => state.to_string(),
        }
    }

    async fn stop(self) -> Result<()> {
        for (_, r) in self.nodes {
            let _ = r.stop.send(());
            r.task.await??;
        }
        Ok(())
    }
}

fn say(d: &str, text: impl AsRef<str>) {
    println!("{d}  {}", text.as_ref());
}

fn item(id: &str, name: &str, created: &str) -> Value {
    let mut v: Value = serde_json::from_str(REPORT).unwrap_or_default();
    v["object"]["id"] = id.into();
    v["object"]["name"] = name.into();
    for k in ["created", "modified", "published"] {
        v["object"][k] = format!("{created}T00:30:00.000Z").into();
    }
    v["label"]["created"] = format!("{created}T00:30:00Z").into();
    json!({ "label": v["label"], "object": v["object"] })
}

/// Starts KOR, JPN and USA on 127.0.0.1 with the model case; the suspension and later events
/// are played, not imported.
async fn setup(dir: &Path) -> Result<Demo> {
    let now = Arc::new(Mutex::new(day("2016-11-23")?));
    let mut nodes = HashMap::new();
    let stamp = "2016-11-23T00:00:00Z";
    for (party, scheme) in SCHEMES {
        let data = dir.join(party);
        let scheme = Scheme::from_json(scheme).map_err(|e| anyhow!("{party} scheme: {e}"))?;
        let opts = InitOptions {
            party: party.parse()?,
            scheme,
            name: None,
            listen: "127.0.0.1:0".into(),
            endpoint: None,
            database_url: None,
        };
        gsomia_node::init(&data, opts, stamp).map_err(|e| anyhow!("{e}"))?;
        let clock_now = now.clone();
        let clock: gsomia_node::Clock =
            Arc::new(move || *clock_now.lock().unwrap_or_else(|p| p.into_inner()));
        let node = Node::open(&data, clock).map_err(|e| anyhow!("{e}"))?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("https://{}", listener.local_addr()?);
        let pin = node.tls().map(|t| t.info.pin);
        let client = client::Client::new(pin).map_err(|e| anyhow!("{e}"))?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(gsomia_node::serve(node.clone(), listener, async {
            let _ = stopped.await;
        }));
        nodes.insert(
            party,
            Running {
                node,
                url,
                client,
                stop,
                task,
            },
        );
    }
    for (p, r) in &nodes {
        for (q, other) in &nodes {
            if p != q {
                let d = PartyRecord {
                    endpoint: Some(other.url.clone()),
                    ..other.node.descriptor().map_err(|e| anyhow!("{e}"))?
                };
                r.node.import_party(d).map_err(|e| anyhow!("{e}"))?;
            }
        }
        for text in AGREEMENTS {
            let mut a: AgreementFile = serde_json::from_str(text)?;
            if !a.parties.contains(&p.parse()?) {
                continue;
            }
            if a.id.as_str() == "kor-jpn-gsomia" {
                a.events.truncate(2); // the 2019 and 2023 events are played below
            }
            r.node.import_agreement(a).map_err(|e| anyhow!("{e}"))?;
        }
    }
    let users = [
        ("kim", "KOR", json!(["analyst", "security_officer"]), "II"),
        ("moon", "KOR", json!(["authority"]), "I"),
        ("sato", "JPN", json!(["analyst"]), "GOKUHI"),
        ("smith", "USA", json!(["security_officer"]), "SECRET"),
    ];
    let mut tokens = HashMap::new();
    for (id, party, roles, clearance) in users {
        let u: User = serde_json::from_value(
            json!({"id": id, "party": party, "roles": roles, "clearance": clearance, "duties": ["missile-warning"]}),
        )?;
        tokens.insert(
            id,
            nodes[party].node.add_user(u).map_err(|e| anyhow!("{e}"))?,
        );
    }
    Ok(Demo { now, nodes, tokens })
}

fn refusal(b: &Value) -> String {
    format!(
        "refused, {}: {}",
        b["error"]["rule"].as_str().unwrap_or("?"),
        b["error"]["message"].as_str().unwrap_or("")
    )
}

/// Releases `id` from `party` to `to` and, if allowed, waits for the receipt.
async fn release(
    d: &Demo,
    on: &str,
    party: &'static str,
    user: &str,
    id: &str,
    to: &'static str,
) -> Result<bool> {
    let (s, b) = d
        .call(
            party,
            user,
            "POST",
            &format!("/api/v1/items/{id}/release"),
            Some(json!({ "to": to })),
        )
        .await?;
    if s != 202 {
        say(on, format!("{party} → {to}: {}", refusal(&b)));
        return Ok(false);
    }
    say(
        on,
        format!(
            "{party} → {to}: allowed under `{}`; {to} will mark it {}",
            b["agreement"].as_str().unwrap_or(""),
            b["marking"]["level"].as_str().unwrap_or("")
        ),
    );
    let item: gsomia_core::ItemId = id.parse()?;
    d.wait("the receipt", |d| {
        d.node(party)
            .store()
            .receipts(&item)
            .unwrap_or_default()
            .iter()
            .any(|r| r.receipt.party.as_str() == to)
    })
    .await?;
    let held = d
        .node(to)
        .store()
        .item(&item, None)?
        .context("received item")?;
    let m = held.marking.context("marking")?;
    let chain: Vec<String> = held
        .custody
        .iter()
        .map(|h| format!("{}→{} ({})", h.from, h.to, h.agreement))
        .collect();
    say(
        on,
        format!(
            "{to} received it: marked {} with {} as originator; custody {}; signed receipt back at {party}",
            m.level,
            m.originator,
            chain.join(", ")
        ),
    );
    Ok(true)
}

async fn event(d: &Demo, on: &str, kind: &str, expect_events: usize) -> Result<()> {
    let (s, b) = d
        .call(
            "KOR",
            "moon",
            "POST",
            "/api/v1/agreements/kor-jpn-gsomia/events",
            Some(json!({ "type": kind })),
        )
        .await?;
    if s != 201 {
        bail!("KOR {kind}: {b}");
    }
    d.wait("the event at JPN", |d| {
        d.node("JPN")
            .world()
            .agreement("kor-jpn-gsomia")
            .is_some_and(|a| a.events().len() == expect_events)
    })
    .await?;
    say(
        on,
        format!(
            "KOR: {kind}. The GSOMIA is now, at KOR: {}; at JPN: {}",
            d.state("KOR", on),
            d.state("JPN", on)
        ),
    );
    Ok(())
}

async fn publish(d: &Demo, on: &str, id: &str, name: &str) -> Result<()> {
    let (s, b) = d
        .call(
            "KOR",
            "kim",
            "POST",
            "/api/v1/items",
            Some(item(id, name, on)),
        )
        .await?;
    if s != 201 {
        bail!("publish: {b}");
    }
    say(
        on,
        format!(
            "KOR publishes \"{name}\" at II (군사II급비밀), DPRK missile topic; the binding is signed by KOR"
        ),
    );
    Ok(())
}

/// KOR → USA, then USA asks KOR's consent and passes it on to JPN.
async fn through_the_hub(d: &Demo, on: &str, id: &str) -> Result<()> {
    release(d, on, "KOR", "kim", id, "USA").await?;
    release(d, on, "USA", "smith", id, "JPN").await?;
    let ask = json!({ "item": id, "to": "JPN", "until": "2020-11-30" });
    let (s, b) = d
        .call(
            "USA",
            "smith",
            "POST",
            "/api/v1/consents/requests",
            Some(ask),
        )
        .await?;
    if s != 202 {
        bail!("consent request: {b}");
    }
    say(on, "USA asks KOR for written consent to pass it to JPN");
    d.wait("the request at KOR", |d| {
        !d.node("KOR")
            .store()
            .consent_requests()
            .unwrap_or_default()
            .is_empty()
    })
    .await?;
    let req = d
        .node("KOR")
        .store()
        .consent_requests()?
        .last()
        .map(|r| r.id)
        .context("request")?;
    let (s, b) = d
        .call(
            "KOR",
            "moon",
            "POST",
            &format!("/api/v1/consents/requests/{req}/answer"),
            Some(json!({"approve": true})),
        )
        .await?;
    if s != 200 {
        bail!("consent: {b}");
    }
    // Held in the world USA decides on (reloaded just after the consent is stored).
    d.wait("the consent at USA", |d| {
        !d.node("USA").world().consents().is_empty()
    })
    .await?;
    say(
        on,
        "KOR's authority consents, signed with KOR's key; USA holds it",
    );
    release(d, on, "USA", "smith", id, "JPN").await?;
    Ok(())
}

async fn read_at_japan(d: &Demo, on: &str, id: &str) -> Result<()> {
    let (s, b) = d
        .call("JPN", "sato", "GET", &format!("/api/v1/items/{id}"), None)
        .await?;
    if s == 200 {
        say(
            on,
            format!(
                "JPN: Sato (cleared GOKUHI, duty missile-warning) reads it: allowed ({})",
                b["marking"]["level"].as_str().unwrap_or("")
            ),
        );
    } else {
        say(on, format!("JPN: Sato reads it: {}", refusal(&b)));
    }
    Ok(())
}

async fn history(d: &Demo) -> Result<()> {
    println!("== As it happened ==");
    d.set("2016-11-23")?;
    say(
        "2016-11-23",
        format!(
            "The GSOMIA is signed by both and enters into force: {}",
            d.state("KOR", "2016-11-23")
        ),
    );
    d.set("2019-07-25")?;
    publish(
        d,
        "2019-07-25",
        WONSAN,
        "Two short-range ballistic missiles launched near Wonsan",
    )
    .await?;
    release(d, "2019-07-25", "KOR", "kim", WONSAN, "JPN").await?;
    d.set("2019-08-23")?;
    event(d, "2019-08-23", "notice", 3).await?;
    d.set("2019-11-22")?;
    event(d, "2019-11-22", "suspend", 4).await?;
    d.set("2019-11-28")?;
    publish(
        d,
        "2019-11-28",
        KN25,
        "Super-large multiple rocket launcher test, two projectiles",
    )
    .await?;
    through_the_hub(d, "2019-11-28", KN25).await?;
    d.set("2019-12-02")?;
    let report = json!({ "item": WONSAN, "kind": "possible_compromise", "description": "a briefing copy was left in a meeting room" });
    let (s, b) = d
        .call("JPN", "sato", "POST", "/api/v1/incidents", Some(report))
        .await?;
    if s != 201 {
        bail!("incident: {b}");
    }
    d.wait("the report at KOR", |d| {
        d.node("KOR")
            .store()
            .audit_after(0, 100_000)
            .unwrap_or_default()
            .iter()
            .any(|e| e.parse().is_some_and(|x| x.action == "incident.received"))
    })
    .await?;
    say(
        "2019-12-02",
        "JPN reports a possible compromise of the Wonsan report; the report reaches KOR, the originator (P6)",
    );
    custody(d, "2019-12-02").await?;
    d.set("2023-03-21")?;
    event(d, "2023-03-21", "withdraw", 5).await?;
    d.set("2023-12-19")?;
    realtime(d, "2023-12-19").await?;
    Ok(())
}

/// The 2023 trilateral real-time mechanism (R4b, T1): KOR gives USA a standing consent for its
/// `dprk-missile` warnings to JPN; KOR's and USA's standing release rules pass each warning on
/// as it is published; a JPN analyst's stream receives it through the hub. Prints the measured
/// time from publication to the event.
async fn realtime(d: &Demo, on: &str) -> Result<()> {
    for (party, user, to, max) in [
        ("KOR", "kim", "USA", "II"),
        ("USA", "smith", "JPN", "SECRET"),
    ] {
        let rule = json!({ "to": to, "topics": ["dprk-missile"], "max_level": max });
        let (s, b) = d
            .call(party, user, "POST", "/api/v1/release-rules", Some(rule))
            .await?;
        if s != 201 {
            bail!("release rule at {party}: {b}");
        }
    }
    say(
        on,
        "KOR and USA set standing release rules: KOR's dprk-missile items to USA, USA's to JPN",
    );
    let standing = json!({ "holder": "USA", "to": "JPN", "topic": "dprk-missile",
                           "purpose": "missile-warning", "until": "2024-12-31" });
    let (s, b) = d
        .call(
            "KOR",
            "moon",
            "POST",
            "/api/v1/consents/standing",
            Some(standing),
        )
        .await?;
    if s != 201 {
        bail!("standing consent: {b}");
    }
    let id = b["consent"]["id"]
        .as_str()
        .context("consent id")?
        .to_owned();
    d.wait("the standing consent at USA", |d| {
        d.node("USA").world().consent(&id).is_some()
    })
    .await?;
    say(
        on,
        format!(
            "KOR's authority gives USA a standing consent ({id}): every dprk-missile item for \
             missile-warning may go on to JPN until 2024-12-31, without asking per item (R4b)"
        ),
    );
    let r = &d.nodes["JPN"];
    let auth = format!("Bearer {}", d.tokens["sato"]);
    let url = format!("{}/api/v1/stream?topics=dprk-missile", r.url);
    let resp = r
        .client
        .open(&url, &[("authorization", auth.as_str())])
        .await
        .map_err(|e| anyhow!("JPN stream: {e}"))?;
    if resp.status() != 200 {
        bail!("JPN stream: {}", resp.status());
    }
    let mut events = client::Events::of(resp);
    say(on, "JPN: Sato opens a stream of dprk-missile items (T1)");
    let warning: Value = serde_json::from_str(WARNING)?;
    let warning_id = warning["object"]["id"].as_str().context("warning id")?;
    let started = Instant::now();
    let (s, b) = d
        .call(
            "KOR",
            "kim",
            "POST",
            "/api/v1/items",
            Some(json!({ "label": warning["label"], "object": warning["object"] })),
        )
        .await?;
    if s != 201 {
        bail!("warning: {b}");
    }
    let arrived = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(event) = events.next().await {
            if event.contains(warning_id) {
                return Some(event);
            }
        }
        None
    })
    .await
    .ok()
    .flatten()
    .context("the warning on JPN's stream")?;
    let elapsed = started.elapsed();
    let data: Value = arrived
        .lines()
        .find_map(|l| l.strip_prefix("data:"))
        .map(|l| serde_json::from_str(l.trim()))
        .transpose()?
        .unwrap_or_default();
    say(
        on,
        format!(
            "KOR publishes a missile warning (launch point, track, predicted impact); it reaches \
             Sato's stream through the USA hub in {:.1} ms, marked {} at JPN, custody {}",
            elapsed.as_secs_f64() * 1000.0,
            data["marking"]["level"].as_str().unwrap_or("?"),
            data["custody"]
                .as_array()
                .map(|hops| {
                    hops.iter()
                        .map(|h| {
                            format!(
                                "{}→{}",
                                h["from"].as_str().unwrap_or("?"),
                                h["to"].as_str().unwrap_or("?")
                            )
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default()
        ),
    );
    Ok(())
}

/// KOR and JPN witness each other's audit logs; then KOR, the originator, asks JPN for every
/// entry about the Wonsan report and checks each against JPN's checkpoint (SPEC §8).
async fn custody(d: &Demo, on: &str) -> Result<()> {
    for p in ["JPN", "KOR"] {
        gsomia_node::transparency::tick(d.node(p))
            .await
            .map_err(|e| anyhow!("checkpoint at {p}: {}", e.message))?;
    }
    let (size, _) = d
        .node("KOR")
        .store()
        .witnessed_latest("JPN".parse()?)?
        .context("KOR has witnessed no checkpoint of JPN's log")?;
    say(
        on,
        format!(
            "KOR and JPN witness each other's audit logs: KOR checked and cosigned JPN's checkpoint of {size} entries"
        ),
    );
    let path = format!("/api/v1/items/{WONSAN}/custody?holder=JPN");
    let (s, b) = d.call("KOR", "kim", "GET", &path, None).await?;
    if s != 200 {
        bail!("custody: {b}");
    }
    let entries: Vec<String> = b["entries"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            let x = &e["entry"];
            format!(
                "entry {} {} by {} ({})",
                e["seq"],
                x["action"].as_str().unwrap_or(""),
                x["actor"].as_str().unwrap_or(""),
                x["decision"].as_str().unwrap_or("")
            )
        })
        .collect();
    say(
        on,
        format!(
            "KOR asks JPN what it did with the Wonsan report: {} entries, each proven in JPN's signed checkpoint: {}",
            entries.len(),
            entries.join("; ")
        ),
    );
    Ok(())
}

async fn counterfactual(d: &Demo) -> Result<()> {
    println!();
    println!("== Without the 2019-11-22 suspension ==");
    d.set("2019-07-25")?;
    publish(
        d,
        "2019-07-25",
        WONSAN,
        "Two short-range ballistic missiles launched near Wonsan",
    )
    .await?;
    release(d, "2019-07-25", "KOR", "kim", WONSAN, "JPN").await?;
    d.set("2019-08-23")?;
    event(d, "2019-08-23", "notice", 3).await?;
    d.set("2019-11-23")?;
    say(
        "2019-11-23",
        format!(
            "The GSOMIA at KOR: {}; at JPN: {}",
            d.state("KOR", "2019-11-23"),
            d.state("JPN", "2019-11-23")
        ),
    );
    publish(
        d,
        "2019-11-23",
        KN25,
        "Super-large multiple rocket launcher test, two projectiles",
    )
    .await?;
    release(d, "2019-11-23", "KOR", "kim", KN25, "JPN").await?;
    read_at_japan(d, "2019-11-23", WONSAN).await?;
    through_the_hub(d, "2019-11-23", KN25).await?;
    Ok(())
}

pub fn demo(keep: bool) -> Result<ExitCode> {
    let started = Instant::now();
    let base: PathBuf = std::env::temp_dir().join(format!("gsomia-demo-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let result = runtime.block_on(async {
        let d = setup(&base.join("history")).await?;
        history(&d).await?;
        if keep {
            println!();
            println!("The three nodes of the first branch stay up (Ctrl-C to stop):");
            for (p, r) in &d.nodes {
                println!("  {p}: {}", r.url);
            }
            let cacert = |p: &str| base.join("history").join(p).join("tls.crt");
            println!(
                "  curl --cacert {} -H \"Authorization: Bearer {}\" {}/api/v1/items",
                cacert("KOR").display(),
                d.tokens["kim"],
                d.nodes["KOR"].url
            );
            println!(
                "  curl --cacert {} -H \"Authorization: Bearer {}\" {}/api/v1/audit",
                cacert("KOR").display(),
                d.tokens["kim"],
                d.nodes["KOR"].url
            );
            println!(
                "  curl --cacert {} -H \"Authorization: Bearer {}\" {}/api/v1/items/{WONSAN}",
                cacert("JPN").display(),
                d.tokens["sato"],
                d.nodes["JPN"].url
            );
            println!("  data: {}", base.display());
            let _ = tokio::signal::ctrl_c().await;
        }
        d.stop().await?;
        let d = setup(&base.join("counterfactual")).await?;
        counterfactual(&d).await?;
        d.stop().await
    });
    let _ = std::fs::remove_dir_all(&base);
    result?;
    println!();
    println!(
        "Done in {:.1} s; nothing left running.",
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}
