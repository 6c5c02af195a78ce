//! Deterministic simulation of the model case's three nodes (KOR, JPN, USA), each a real node
//! (SQLite in a temporary folder, its router and federation code in process), driven by a
//! seeded scheduler one step at a time on one thread. The nodes talk through [`Net`], which a
//! node uses in place of HTTP ([`gsomia_node::Network`]): it loses requests and replies,
//! duplicates requests, keeps old ones to replay later, and cuts pairs apart. Steps publish and
//! release items, deliver, crash and restart a node (close and open it again: what was
//! acknowledged is on disk, what was in flight is lost with the reply), jump the clock, give
//! notice of termination (the KOR–JPN GSOMIA ends 90 days later, with envelopes in flight),
//! issue a checkpoint and have the partners witness it (C2SP `add-checkpoint`, through the same
//! faulty network), replay old envelopes and checkpoints, and forge an envelope as a hostile
//! partner would.
//!
//! Why our own harness and not `turmoil` or `madsim`: the node's clock is already injected,
//! its only network call is [`gsomia_node::Node::post_to`] (one hook replaces it), and its
//! store is a file that survives a close; a step is awaited to its end before the next is
//! drawn, and the network holds one request at a time, so the seed alone decides every
//! outcome without a simulated runtime. The cost: inside a step, the node's own threads run as
//! they do in production (their order does not change what a step commits).
//!
//! Invariants, after every step: each pair's acknowledged messages were applied by the
//! receiver and the receiver applied none that was not sent (exactly once, in order: the
//! sequence numbers as the run saw them queued, checked against the store's own every 1,000
//! steps); after a restart, the last 64 publications the node acknowledged and 16 drawn from
//! all of them are held; a forged envelope is refused and changes nothing; an envelope
//! replayed after it was applied changes nothing. Every 50 steps, over what was stored since
//! the last check: no item is held by a party that received it outside an agreement in force
//! on that day; no item version was received twice; the latest checkpoint each node issued and
//! the latest it witnessed of each partner are signed and have the root that log has at that
//! size; no node holds evidence of a rewritten log. Every 10,000 steps and at the end: every
//! node's audit log's hash chain verifies and every publication it ever acknowledged is held.
//! At the end, with faults off, every outbox drains (nothing grows without bound).
//!
//! A step costs the same late in a run as early: no per-step check reads more than what
//! changed since the last (the full checks are every 10,000 steps).
//!
//! Not modelled: a crash inside a commit (SQLite's atomic commit is trusted; a crash between
//! the receiver's commit and the sender's is the lost reply); a partner that signs two
//! checkpoints that can not both be true (the federation tests do that, H6).

#![allow(clippy::unwrap_used, clippy::expect_used)] // A simulation that breaks should say so.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use gsomia_core::{AgreementFile, PartyCode, Scheme, User};
use gsomia_node::transparency::{self, SIGNATURE_HEADER, Witnessed};
use gsomia_node::{InitOptions, Network, Node};
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
const AGREEMENTS: [&str; 3] = [
    include_str!("../../../examples/model-case/agreements/kor-jpn-gsomia.json"),
    include_str!("../../../examples/model-case/agreements/usa-jpn-gsomia.json"),
    include_str!("../../../examples/model-case/agreements/usa-kor-gsomia.json"),
];
/// Each party's level for what it publishes: one every agreement of its has an equivalent for.
const LEVELS: [&str; 3] = ["II", "GOKUHI", "SECRET"];

/// SplitMix64: small, fast, and the same sequence for the same seed everywhere.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// The generator for `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next number.
    pub fn draw(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number below `n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.draw() % n.max(1)
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// What a run did.
#[derive(Debug, Default, Clone)]
pub struct Report {
    /// Steps taken.
    pub steps: u64,
    /// Items published (acknowledged).
    pub published: u64,
    /// Releases queued.
    pub released: u64,
    /// Releases refused (no agreement in force, R1).
    pub refused: u64,
    /// Delivery rounds that delivered something.
    pub delivered: u64,
    /// Requests lost, replies lost, envelopes duplicated, kept for replay.
    pub faults: u64,
    /// Restarts.
    pub restarts: u64,
    /// Old envelopes replayed, forged ones sent.
    pub replays: u64,
    /// Items received across the nodes at the end.
    pub received: u64,
    /// Checkpoint rounds: a checkpoint issued and sent to partners to witness.
    pub checkpoints: u64,
    /// Cosignatures the nodes hold for their checkpoints at the end.
    pub cosigned: u64,
}

/// The faults the network injects, and what it keeps.
struct Faults {
    rng: Rng,
    /// Off while the run drains at the end.
    on: bool,
    /// Pairs cut apart (either way).
    cut: Vec<(PartyCode, PartyCode)>,
    /// Requests kept to be replayed: the receiver, the route, the body.
    kept: Vec<(PartyCode, Route, Vec<u8>)>,
    count: u64,
}

/// The simulated network between the nodes.
pub struct Net {
    nodes: Mutex<HashMap<PartyCode, Arc<Node>>>,
    faults: Mutex<Faults>,
    /// One envelope on the network at a time: the seed decides the order of everything.
    one: tokio::sync::Mutex<()>,
}

impl Net {
    fn node(&self, party: PartyCode) -> Option<Arc<Node>> {
        self.nodes.lock().unwrap().get(&party).cloned()
    }
}

/// The federation routes a node posts to.
#[derive(Clone)]
enum Route {
    Inbox,
    /// A checkpoint to witness, with the log's node's signature header.
    AddCheckpoint(Option<String>),
}

impl Route {
    /// `body` arrives at `node` as its HTTP route takes it: the status and the answer.
    async fn arrive(&self, node: &Node, body: &[u8]) -> (u16, Vec<u8>) {
        let Route::AddCheckpoint(signature) = self else {
            return arrive(node, body).await;
        };
        let Ok(text) = std::str::from_utf8(body) else {
            return (400, b"not UTF-8".to_vec());
        };
        match transparency::add_checkpoint(node, text, signature.as_deref()).await {
            Ok(Witnessed::Cosigned(line)) => (200, line.into_bytes()),
            Ok(Witnessed::Conflict(size)) => (409, size.to_string().into_bytes()),
            Err(e) => (e.status.as_u16(), e.message.into_bytes()),
        }
    }
}

/// Delivers `body` to `node`'s inbox as its HTTP route does: the status and the answer.
async fn arrive(node: &Node, body: &[u8]) -> (u16, Vec<u8>) {
    let env = match serde_json::from_slice(body) {
        Ok(e) => e,
        Err(e) => return (400, e.to_string().into_bytes()),
    };
    match gsomia_node::federation::receive(node, env).await {
        Ok(v) => (200, serde_json::to_vec(&v).unwrap()),
        Err(e) => (e.status.as_u16(), e.message.into_bytes()),
    }
}

impl Network for Net {
    fn post(
        &self,
        from: PartyCode,
        to: PartyCode,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> std::pin::Pin<Box<dyn Future<Output = gsomia_node::node::Answer> + Send + '_>> {
        let route = match path {
            "/federation/v1/inbox" => Some(Route::Inbox),
            "/federation/v1/add-checkpoint" => Some(Route::AddCheckpoint(
                headers
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(SIGNATURE_HEADER))
                    .map(|(_, v)| (*v).to_owned()),
            )),
            _ => None,
        };
        Box::pin(async move {
            let _one = self.one.lock().await;
            // Every draw before the first await: the seed alone orders them.
            let (lose, duplicate, _, lose_reply, cut) = {
                let mut f = self.faults.lock().unwrap();
                let on = f.on;
                let draws = (
                    on && f.rng.chance(10),
                    on && f.rng.chance(5),
                    on && f.rng.chance(10),
                    on && f.rng.chance(10),
                    f.cut.contains(&(from, to)) || f.cut.contains(&(to, from)),
                );
                f.count += u64::from(draws.0) + u64::from(draws.1) + u64::from(draws.2);
                f.count += u64::from(draws.3);
                if let (true, Some(route)) = (draws.2, &route) {
                    f.kept.push((to, route.clone(), body.clone()));
                    if f.kept.len() > 64 {
                        f.kept.remove(0);
                    }
                }
                draws
            };
            let node = self.node(to).filter(|_| !cut && !lose);
            let (Some(node), Some(route)) = (node, route) else {
                return Err(format!("{to} is not reachable"));
            };
            let mut answer = route.arrive(&node, &body).await;
            if duplicate {
                answer = route.arrive(&node, &body).await;
            }
            if lose_reply {
                return Err(format!("{to}'s reply was lost"));
            }
            Ok(answer)
        })
    }
}

/// A node of the run and what it was told.
struct Slot {
    party: PartyCode,
    dir: PathBuf,
    node: Arc<Node>,
    officer: String,
    authority: String,
    /// Items whose publication it acknowledged.
    published: Vec<String>,
}

struct Sim {
    rng: Rng,
    now: Arc<Mutex<OffsetDateTime>>,
    slots: Vec<Slot>,
    net: Arc<Net>,
    report: Report,
    noticed: bool,
    root: PathBuf,
    /// Per ordered pair (`a * 3 + b`), the outbox sequence numbers `a` was seen to queue for
    /// `b`.
    queued: Vec<std::collections::BTreeSet<u64>>,
    /// Per node, the last item row checked and the item versions received so far.
    checked: Vec<(i64, std::collections::HashSet<(String, String)>)>,
}

fn clock(now: &Arc<Mutex<OffsetDateTime>>) -> gsomia_node::Clock {
    let now = now.clone();
    Arc::new(move || *now.lock().unwrap())
}

async fn call(node: &Arc<Node>, method: &str, uri: &str, token: &str, body: Value) -> (u16, Value) {
    let auth = format!("Bearer {token}");
    let headers = [
        ("authorization", auth.as_str()),
        ("content-type", "application/json"),
    ];
    let body = body.to_string().into_bytes();
    let (status, bytes) = gsomia_node::api::call(node.clone(), method, uri, &headers, body)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// Runs `steps` steps from `seed`; the report, or the first invariant broken (with the step).
pub fn run(seed: u64, steps: u64) -> Result<Report, String> {
    run_with(seed, steps, |_| {})
}

/// [`run`], telling `progress` the report every 10,000 steps.
pub fn run_with(seed: u64, steps: u64, progress: impl FnMut(&Report)) -> Result<Report, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        let mut sim = Sim::new(seed).await;
        let result = sim.go(steps, progress).await;
        for s in &sim.slots {
            s.node.close();
        }
        let _ = std::fs::remove_dir_all(&sim.root);
        result.map(|()| sim.report.clone())
    })
}

impl Sim {
    async fn new(seed: u64) -> Sim {
        let root = std::env::temp_dir().join(format!(
            "gsomia-sim-{}-{seed}-{}",
            std::process::id(),
            OffsetDateTime::now_utc().unix_timestamp_nanos()
        ));
        let now = Arc::new(Mutex::new(time::macros::datetime!(2019-07-25 00:00 UTC)));
        let net = Arc::new(Net {
            nodes: Mutex::new(HashMap::new()),
            faults: Mutex::new(Faults {
                rng: Rng::new(seed ^ 0x5EED),
                on: true,
                cut: vec![],
                kept: vec![],
                count: 0,
            }),
            one: tokio::sync::Mutex::new(()),
        });
        let mut slots = vec![];
        for (party, scheme) in SCHEMES {
            let dir = root.join(party);
            let opts = InitOptions {
                party: party.parse().unwrap(),
                scheme: Scheme::from_json(scheme).unwrap(),
                name: None,
                listen: "127.0.0.1:0".into(),
                endpoint: Some(format!("http://127.0.0.1:9/{party}")),
                database_url: None,
            };
            gsomia_node::init(&dir, opts, "2019-01-01T00:00:00Z").unwrap();
            let node = Node::open(&dir, clock(&now)).unwrap();
            let add = |id: &str, roles: Value, level: &str| {
                let u: User = serde_json::from_value(json!({
                    "id": id, "party": party, "roles": roles, "clearance": level,
                    "duties": ["missile-warning"],
                }))
                .unwrap();
                node.add_user(u).unwrap()
            };
            let top = node
                .world()
                .scheme(node.party())
                .unwrap()
                .levels()
                .iter()
                .max_by_key(|l| l.rank)
                .unwrap()
                .id
                .to_string();
            let officer = add("officer", json!(["analyst", "security_officer"]), &top);
            let authority = add("authority", json!(["authority"]), &top);
            slots.push(Slot {
                party: node.party(),
                dir,
                node,
                officer,
                authority,
                published: vec![],
            });
        }
        for a in 0..slots.len() {
            for b in 0..slots.len() {
                if a != b {
                    let d = slots[b].node.descriptor().unwrap();
                    slots[a].node.import_party(d).unwrap();
                }
            }
        }
        for text in AGREEMENTS {
            let mut file: Value = serde_json::from_str(text).unwrap();
            // As signed: what happens after is the run's to decide.
            file["events"]
                .as_array_mut()
                .unwrap()
                .retain(|e| e["type"] == "signed");
            let file: AgreementFile = serde_json::from_value(file).unwrap();
            for s in &slots {
                if file.parties.contains(&s.party) {
                    s.node.import_agreement(file.clone()).unwrap();
                }
            }
        }
        for s in &slots {
            s.node.set_network(net.clone());
            net.nodes.lock().unwrap().insert(s.party, s.node.clone());
        }
        Sim {
            rng: Rng::new(seed),
            now,
            slots,
            net,
            report: Report::default(),
            noticed: false,
            root,
            queued: vec![std::collections::BTreeSet::new(); 9],
            checked: vec![(0, std::collections::HashSet::new()); 3],
        }
    }

    async fn go(&mut self, steps: u64, mut progress: impl FnMut(&Report)) -> Result<(), String> {
        for step in 1..=steps {
            self.step(step)
                .await
                .map_err(|e| format!("step {step}: {e}"))?;
            self.check_marks(step % 1_000 == 0)
                .map_err(|e| format!("step {step}: {e}"))?;
            if step % 50 == 0 {
                self.check_holdings(step % 10_000 == 0)
                    .map_err(|e| format!("step {step}: {e}"))?;
            }
            self.report.steps = step;
            if step % 10_000 == 0 {
                progress(&self.report);
            }
        }
        // Faults off, partitions healed: everything queued is delivered.
        {
            let mut f = self.net.faults.lock().unwrap();
            f.on = false;
            f.cut.clear();
        }
        for _ in 0..20 {
            let mut any = false;
            for a in 0..self.slots.len() {
                for b in 0..self.slots.len() {
                    if a != b {
                        let node = self.slots[a].node.clone();
                        any |= gsomia_node::federation::deliver_once(&node, self.slots[b].party)
                            .await
                            .unwrap_or(false);
                        // What the delivery made the receiver queue is seen before it is sent.
                        self.check_marks(false)?;
                    }
                }
            }
            if !any {
                break;
            }
        }
        for s in &self.slots {
            let pending = s.node.store().peers_pending().unwrap();
            if !pending.is_empty() {
                return Err(format!(
                    "at the end, {} still has messages for {pending:?}",
                    s.party
                ));
            }
        }
        self.check_marks(true)?;
        self.check_holdings(true)?;
        self.report.faults = self.net.faults.lock().unwrap().count;
        for s in &self.slots {
            let store = s.node.store();
            for (size, _) in store.checkpoints().map_err(|e| e.to_string())? {
                self.report.cosigned +=
                    store.cosignatures(size).map_err(|e| e.to_string())?.len() as u64;
            }
        }
        Ok(())
    }

    async fn step(&mut self, step: u64) -> Result<(), String> {
        let n = self.rng.below(self.slots.len() as u64) as usize;
        let other =
            (n + 1 + self.rng.below(self.slots.len() as u64 - 1) as usize) % self.slots.len();
        match self.rng.below(100) {
            0..30 => self.publish(n, other, step).await,
            30..70 => {
                let (node, peer) = (self.slots[n].node.clone(), self.slots[other].party);
                if gsomia_node::federation::deliver_once(&node, peer)
                    .await
                    .unwrap_or(false)
                {
                    self.report.delivered += 1;
                }
                Ok(())
            }
            70..76 => self.restart(n),
            76..84 => {
                let days = 1 + self.rng.below(20) as i64;
                *self.now.lock().unwrap() += time::Duration::days(days);
                Ok(())
            }
            84..86 if !self.noticed => self.notice().await,
            86..92 => self.replay().await,
            92..95 => {
                let pair = (self.slots[n].party, self.slots[other].party);
                let mut f = self.net.faults.lock().unwrap();
                match f.cut.iter().position(|c| *c == pair) {
                    Some(i) => {
                        f.cut.remove(i);
                    }
                    None => f.cut.push(pair),
                }
                Ok(())
            }
            95..98 => self.forge(n, other).await,
            _ => {
                // A checkpoint, and its partners asked to witness it (through the network).
                let node = self.slots[n].node.clone();
                self.report.checkpoints += 1;
                transparency::tick(&node)
                    .await
                    .map_err(|e| format!("{}'s checkpoint: {}", node.party(), e.message))
            }
        }
    }

    /// Publishes an item at node `n` and releases it to `to`.
    async fn publish(&mut self, n: usize, to: usize, step: u64) -> Result<(), String> {
        let s = &self.slots[n];
        let party = s.party;
        let level = LEVELS[n];
        let id = format!(
            "report--00000000-0000-4000-8000-{:06x}{:06x}",
            n,
            step % 0xff_ffff
        );
        let now = (*self.now.lock().unwrap())
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap();
        let others: Vec<PartyCode> = self
            .slots
            .iter()
            .map(|s| s.party)
            .filter(|p| *p != party)
            .collect();
        let item = json!({
            "label": { "originator": party, "level": level, "topics": ["dprk-missile"],
                       "purpose": "missile-warning", "releasable_to": others, "caveats": [],
                       "grading": "B2", "created": now },
            "object": { "type": "report", "spec_version": "2.1", "id": id, "created": now,
                        "modified": now, "name": format!("warning {step}"), "published": now,
                        "report_types": ["threat-report"], "object_refs": [id] },
        });
        let (status, body) = call(&s.node, "POST", "/api/v1/items", &s.officer, item).await;
        if status != 201 {
            return Err(format!("{party} did not publish `{id}`: {status} {body}"));
        }
        self.slots[n].published.push(id.clone());
        self.report.published += 1;
        let peer = self.slots[to].party;
        let (status, body) = call(
            &self.slots[n].node,
            "POST",
            &format!("/api/v1/items/{id}/release"),
            &self.slots[n].officer,
            json!({ "to": peer }),
        )
        .await;
        match status {
            202 => self.report.released += 1,
            403 => self.report.refused += 1,
            _ => {
                return Err(format!(
                    "{party}'s release of `{id}` to {peer}: {status} {body}"
                ));
            }
        }
        Ok(())
    }

    /// Node `n` crashes and starts again: the publications it acknowledged last (where a lost
    /// write would show first) and a few drawn from all of them are there; every one is
    /// checked every 10,000 steps ([`Sim::check_holdings`]), so a step's cost does not grow with
    /// the run.
    fn restart(&mut self, n: usize) -> Result<(), String> {
        let s = &mut self.slots[n];
        s.node.close();
        let node = Node::open(&s.dir, clock(&self.now)).map_err(|e| e.to_string())?;
        node.set_network(self.net.clone());
        self.net.nodes.lock().unwrap().insert(s.party, node.clone());
        s.node = node;
        let last = s.published.len().saturating_sub(64);
        let drawn: Vec<usize> = (0..16)
            .map(|_| self.rng.below(s.published.len() as u64) as usize)
            .filter(|i| *i < s.published.len())
            .collect();
        let ids = s.published[last..]
            .iter()
            .chain(drawn.iter().map(|i| &s.published[*i]));
        held(s, ids)?;
        self.report.restarts += 1;
        Ok(())
    }

    /// KOR's authority gives notice of termination of the KOR–JPN GSOMIA today: it ends 90
    /// days later, while envelopes are in flight.
    async fn notice(&mut self) -> Result<(), String> {
        let kor = &self.slots[0];
        let (status, body) = call(
            &kor.node,
            "POST",
            "/api/v1/agreements/kor-jpn-gsomia/events",
            &kor.authority,
            json!({ "type": "notice" }),
        )
        .await;
        if status != 201 {
            return Err(format!("KOR's notice: {status} {body}"));
        }
        self.noticed = true;
        Ok(())
    }

    /// A request the network kept arrives again, long after: an envelope changes nothing
    /// twice; a checkpoint already witnessed (or older than the one held) is stale, not evidence
    /// of a rewritten log (H6: the next check finds no evidence held).
    async fn replay(&mut self) -> Result<(), String> {
        let kept = {
            let mut f = self.net.faults.lock().unwrap();
            let i = self.rng.below(f.kept.len().max(1) as u64) as usize;
            (i < f.kept.len()).then(|| f.kept.swap_remove(i))
        };
        let Some((to, route, body)) = kept else {
            return Ok(());
        };
        let Some(node) = self.net.node(to) else {
            return Ok(());
        };
        if let Route::AddCheckpoint(_) = route {
            let (status, answer) = route.arrive(&node, &body).await;
            if status >= 500 {
                let answer = String::from_utf8_lossy(&answer);
                return Err(format!(
                    "{to} answered a replayed checkpoint {status}: {answer}"
                ));
            }
            self.report.replays += 1;
            return Ok(());
        }
        let env: gsomia_crypto::envelope::Envelope = serde_json::from_slice(&body).unwrap();
        let from = env.header.from;
        let store = node.store();
        // The items stored since the last holdings check: a count that costs the same late in
        // a run (`counts` scans the table).
        let cursor = self
            .slots
            .iter()
            .zip(&self.checked)
            .find(|(s, _)| s.party == to)
            .map_or(0, |(_, (cursor, _))| *cursor);
        let recent = || -> Result<usize, String> {
            Ok(store
                .items_after(cursor, usize::MAX)
                .map_err(|e| e.to_string())?
                .len())
        };
        let mark = store.inbox_mark(from).map_err(|e| e.to_string())?;
        let items = recent()?;
        let (_, last) = env.header.seq;
        let (status, _) = arrive(&node, &body).await;
        let mark_after = store.inbox_mark(from).map_err(|e| e.to_string())?;
        let items_after = recent()?;
        if last <= mark && (mark_after != mark || items_after != items) {
            return Err(format!(
                "an envelope {to} had applied (through {last}) applied again: answered {status}"
            ));
        }
        if mark_after != mark && mark_after != last {
            return Err(format!(
                "a late envelope moved {to}'s mark from {mark} to {mark_after}, not {last}"
            ));
        }
        self.report.replays += 1;
        Ok(())
    }

    /// A hostile partner sends `to` an envelope in `from`'s name signed with a key of its own:
    /// refused, and nothing changes.
    async fn forge(&mut self, from: usize, to: usize) -> Result<(), String> {
        use gsomia_crypto::envelope::{Header, PROTOCOL, seal};
        let (victim, party) = (self.slots[to].node.clone(), self.slots[from].party);
        let key = gsomia_crypto::SigningKey::from_bytes(&[self.rng.below(250) as u8 + 1; 32]);
        let first = victim
            .store()
            .inbox_mark(party)
            .map_err(|e| e.to_string())?
            + 1;
        let header = Header {
            protocol: PROTOCOL,
            from: party,
            to: victim.party(),
            id: format!("forged-{first}"),
            seq: (first, first),
            sent: "2019-07-25T00:00:00Z".into(),
        };
        let payload = json!({ "messages": [{ "seq": first, "kind": "withdrawn",
                                             "payload": { "id": "report--00000000-0000-4000-8000-000000000000" } }] });
        let public = x25519(&victim);
        let env = seal(
            &key,
            &public,
            header,
            payload.to_string().as_bytes(),
            &mut gsomia_node::federation::OsRng,
        )
        .map_err(|e| e.to_string())?;
        let body = serde_json::to_vec(&env).unwrap();
        let (status, _) = arrive(&victim, &body).await;
        if status < 400 {
            return Err(format!(
                "{}'s forged envelope was taken by {}",
                party,
                victim.party()
            ));
        }
        if victim
            .store()
            .inbox_mark(party)
            .map_err(|e| e.to_string())?
            != first - 1
        {
            return Err("a forged envelope moved the inbox mark".into());
        }
        self.report.replays += 1;
        Ok(())
    }

    /// Exactly once, in order: for each pair, what the sender knows was acknowledged the
    /// receiver applied, and the receiver applied nothing the sender did not queue.
    fn check_marks(&mut self, against_store: bool) -> Result<(), String> {
        let n = self.slots.len();
        for (ai, a) in self.slots.iter().enumerate() {
            let deliveries = if against_store {
                a.node.store().delivery().map_err(|e| e.to_string())?
            } else {
                vec![]
            };
            for (bi, b) in self.slots.iter().enumerate().filter(|(bi, _)| *bi != ai) {
                // Every message is seen pending before it can be delivered (an enqueue and its
                // delivery never share a step), so the pending lists name every sequence number.
                let pending = a
                    .node
                    .store()
                    .outbox_pending(b.party, 1_000_000)
                    .map_err(|e| e.to_string())?;
                let seen = &mut self.queued[ai * n + bi];
                seen.extend(pending.iter().map(|m| m.seq));
                let queued = seen.last().copied().unwrap_or(0);
                let acked = match pending.first() {
                    Some(m) => seen.range(..m.seq).next_back().copied().unwrap_or(0),
                    None => queued,
                };
                if let Some(d) = deliveries.iter().find(|d| d.peer == b.party)
                    && (d.acknowledged_through, d.queued_through) != (acked, queued)
                {
                    return Err(format!(
                        "{}→{}: the store says acknowledged through {}, queued through {}; the \
                         run saw {acked} and {queued}",
                        a.party, b.party, d.acknowledged_through, d.queued_through
                    ));
                }
                let applied = b
                    .node
                    .store()
                    .inbox_mark(a.party)
                    .map_err(|e| e.to_string())?;
                if applied < acked || applied > queued {
                    return Err(format!(
                        "{}→{}: acknowledged through {acked}, queued through {queued}, but \
                         applied through {applied}",
                        a.party, b.party
                    ));
                }
            }
        }
        Ok(())
    }

    /// No item held from a partner that came outside an agreement in force on the day it came,
    /// none received twice (the items stored since the last check); with `logs`, every audit
    /// log's hash chain verifies from its first entry and every publication the node
    /// acknowledged is held.
    fn check_holdings(&mut self, logs: bool) -> Result<(), String> {
        for (s, (cursor, seen)) in self.slots.iter().zip(self.checked.iter_mut()) {
            let world = s.node.world();
            let items = s
                .node
                .store()
                .items_after(*cursor, usize::MAX)
                .map_err(|e| e.to_string())?;
            *cursor = items.last().map_or(*cursor, |i| i.seq);
            for item in items.iter().filter(|i| i.label.originator != s.party) {
                if !seen.insert((item.id.to_string(), item.modified.clone())) {
                    return Err(format!("{} holds `{}` twice", s.party, item.id));
                }
                let Some(hop) = item.custody.last() else {
                    return Err(format!("{} holds `{}` with no custody", s.party, item.id));
                };
                let day: gsomia_core::Date =
                    hop.at.as_str()[..10].parse().map_err(|_| "bad hop day")?;
                let in_force = world.agreement(hop.agreement.as_str()).is_some_and(|a| {
                    a.names(hop.from) && a.names(s.party) && a.state_at(day).state.in_force()
                });
                if !in_force {
                    return Err(format!(
                        "{} received `{}` from {} on {day} outside an agreement in force",
                        s.party, item.id, hop.from
                    ));
                }
                self.report.received += 1;
            }
            witnessed(s, &self.slots)?;
            if !logs {
                continue;
            }
            held(s, &s.published)?;
            let entries = s
                .node
                .store()
                .audit_after(0, usize::MAX)
                .map_err(|e| e.to_string())?;
            if let Err(at) = gsomia_store::verify_chain(&entries) {
                return Err(format!("{}'s audit chain breaks at entry {at}", s.party));
            }
        }
        Ok(())
    }
}

/// The logs `witness` witnessed are consistent with what their nodes hold: the latest
/// checkpoint it holds of each partner's log is signed by that partner and has the root of
/// that partner's log at its size; so has the latest checkpoint `witness` issued; and it holds
/// no evidence of a rewritten log (no node here rewrites its log).
fn witnessed(witness: &Slot, slots: &[Slot]) -> Result<(), String> {
    let err = |e: gsomia_node::error::ApiError| e.message;
    let store = witness.node.store();
    if let Some(evidence) = store.evidence().map_err(|e| e.to_string())?.first() {
        return Err(format!("{} holds evidence: {evidence:?}", witness.party));
    }
    // The root of `slot`'s log at `size`, which it must have reached.
    let root_of = |slot: &Slot, size: u64| -> Result<gsomia_log::Hash, String> {
        let logged = slot.node.store().log_size().map_err(|e| e.to_string())?;
        if size > logged {
            return Err(format!(
                "a checkpoint of {}'s log has {size} entries; the log {logged}",
                slot.party
            ));
        }
        transparency::root_at(&slot.node, size).map_err(err)
    };
    if let Some((size, note)) = store.checkpoint_latest().map_err(|e| e.to_string())? {
        let own = transparency::own_verifier(&witness.node);
        let c = gsomia_log::SignedCheckpoint::open(&note, &own)
            .map_err(|e| format!("{}'s own checkpoint: {e}", witness.party))?;
        if c.size != size || root_of(witness, size)? != c.root {
            return Err(format!(
                "{}'s checkpoint of size {size} does not have its log's root",
                witness.party
            ));
        }
    }
    for slot in slots.iter().filter(|s| s.party != witness.party) {
        let Some((size, note)) = store
            .witnessed_latest(slot.party)
            .map_err(|e| e.to_string())?
        else {
            continue;
        };
        let record = store
            .parties()
            .map_err(|e| e.to_string())?
            .into_iter()
            .find(|r| r.code == slot.party)
            .ok_or("a witnessed log of an unknown party")?;
        let c = transparency::open_stored(&note, &record)?;
        if c.size != size || root_of(slot, size)? != c.root {
            return Err(format!(
                "{} witnessed {}'s log at size {size} with a root its log does not have",
                witness.party, slot.party
            ));
        }
    }
    Ok(())
}

/// Every publication of `ids` is held by `slot`'s node.
fn held<'a>(slot: &Slot, ids: impl IntoIterator<Item = &'a String>) -> Result<(), String> {
    for id in ids {
        let item = slot
            .node
            .store()
            .item(&id.parse().unwrap(), None)
            .map_err(|e| e.to_string())?;
        if item.is_none() {
            return Err(format!(
                "{} lost `{id}`, acknowledged before it restarted",
                slot.party
            ));
        }
    }
    Ok(())
}

fn x25519(node: &Node) -> [u8; 32] {
    x25519_dalek::PublicKey::from(&node.keys().encryption).to_bytes()
}
