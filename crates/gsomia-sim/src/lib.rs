//! Deterministic simulation of several nodes, each a real node (SQLite in a temporary folder,
//! its router and federation code in process), driven by a seeded scheduler one step at a time
//! on one thread. Two worlds ([`World`]): the model case's three nodes (KOR, JPN, USA), and
//! five (with AUS and GBR) under nine agreements, one of whose members (GBR) is hostile. The
//! nodes talk through [`Net`], which a node uses in place of HTTP ([`gsomia_node::Network`]):
//! it loses requests and replies, duplicates requests, keeps old ones to replay later, and cuts
//! pairs apart. Steps publish and release items, reclassify them (M4: the notices cross the
//! same network), deliver, crash and restart a node (close and open it again: what was
//! acknowledged is on disk, what was in flight is lost with the reply), jump the clock, give
//! notice of termination (the KOR–JPN GSOMIA ends 90 days later, with envelopes in flight),
//! issue a checkpoint and have the partners witness it (C2SP `add-checkpoint`, through the same
//! faulty network), replay old envelopes and checkpoints, and forge an envelope in a partner's
//! name. In the larger world the hostile member also rewrites half the envelopes it sends,
//! signed with its real key and numbered as its outbox numbers them: an item's content changed
//! under its originator's binding, a marking below the signed label, the receiver's own items
//! claimed, reclassified or passed back, its own old reclassification notices sent again.
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
//! replayed after it was applied changes nothing; after a rewritten envelope, the receiver's
//! own items it named are as the receiver published them, and a notice sent again did not take
//! a label back. Every 50 steps, over what was stored since the last check and the items
//! reclassified last: every item held is as its originator made it (the binding is the
//! originator's signature of the label and object, checked by signing again apart from the
//! node's own check; the label is one the originator signed; the marking is at the holder's
//! level of the same rank; a holder's revision never goes back); no item is held by a party
//! that received it outside an agreement in force on that day; no item version was received
//! twice; the latest checkpoint each node issued and the latest it witnessed of each partner
//! are signed and have the root that log has at that size; no node holds evidence of a
//! rewritten log. Every 10,000 steps and at the end: every node's audit log's hash chain
//! verifies and every publication it ever acknowledged is held. At the end, with faults off,
//! every outbox drains (nothing grows without bound).
//!
//! A step costs the same late in a run as early: no per-step check reads more than what
//! changed since the last (the full checks are every 10,000 steps).
//!
//! Not modelled: a crash inside a commit (SQLite's atomic commit is trusted; a crash between
//! the receiver's commit and the sender's is the lost reply); a partner that signs two
//! checkpoints that can not both be true (the federation tests do that, H6); onward release
//! through a hub (R4 consents), so a hub lowering a partner's item (H3) is left to the node's
//! tests (`h3_a_hub_can_not_lower_the_level_the_originator_signed`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // A simulation that breaks should say so.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use gsomia_core::{AgreementFile, PartyCode, Scheme, User};
use gsomia_node::transparency::{self, SIGNATURE_HEADER, Witnessed};
use gsomia_node::{InitOptions, Network, Node};
use serde_json::{Value, json};
use time::OffsetDateTime;

const SCHEMES: [(&str, &str); 5] = [
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
    (
        "AUS",
        r#"{ "party": "AUS", "name": "Commonwealth of Australia", "levels": [
            { "id": "PROTECTED", "name": "PROTECTED", "rank": 1 },
            { "id": "SECRET", "name": "SECRET", "rank": 2 },
            { "id": "TOP_SECRET", "name": "TOP SECRET", "rank": 3 } ] }"#,
    ),
    (
        "GBR",
        r#"{ "party": "GBR", "name": "United Kingdom", "levels": [
            { "id": "CONFIDENTIAL", "name": "CONFIDENTIAL", "rank": 1 },
            { "id": "SECRET", "name": "SECRET", "rank": 2 },
            { "id": "TOP_SECRET", "name": "TOP SECRET", "rank": 3 } ] }"#,
    ),
];
const AGREEMENTS: [&str; 3] = [
    include_str!("../../../examples/model-case/agreements/kor-jpn-gsomia.json"),
    include_str!("../../../examples/model-case/agreements/usa-jpn-gsomia.json"),
    include_str!("../../../examples/model-case/agreements/usa-kor-gsomia.json"),
];
/// The larger world's agreements beyond the model case's: every pair of the five but GBR–KOR,
/// so that releases between those two are refused (R1) all along.
const MORE_AGREEMENTS: [(&str, &str); 6] = [
    ("AUS", "USA"),
    ("GBR", "USA"),
    ("AUS", "GBR"),
    ("AUS", "JPN"),
    ("GBR", "JPN"),
    ("AUS", "KOR"),
];
/// Each party's level for what it publishes: its level of the common SECRET (rank 2), which
/// every agreement of its has an equivalent for. Every item a party receives is marked at its
/// own rank-2 level (M2), which the run checks (H3).
const LEVELS: [&str; 5] = ["II", "GOKUHI", "SECRET", "SECRET", "SECRET"];

/// Which world a run simulates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum World {
    /// The model case: KOR, JPN and USA and their three GSOMIAs. Every node is honest; a
    /// stranger forges envelopes in a partner's name.
    ModelCase,
    /// Five parties (the model case, AUS and GBR) under nine agreements (every pair but
    /// GBR–KOR; the six beyond the model case are made up for the run). GBR is a member in good
    /// standing that is hostile (SPEC H1–H4): it rewrites the envelopes it sends, signed with
    /// its real key, to change an item under its originator's binding, lower a marking, claim
    /// or reclassify the receiver's own items, and pass the receiver's own items back to it.
    Five,
}

impl std::str::FromStr for World {
    type Err = String;
    fn from_str(s: &str) -> Result<World, String> {
        match s {
            "model-case" => Ok(World::ModelCase),
            "five" => Ok(World::Five),
            _ => Err(format!("unknown world `{s}`: model-case or five")),
        }
    }
}

impl World {
    /// Its name, as `cargo xtask simulate --world` takes it.
    pub fn name(self) -> &'static str {
        match self {
            World::ModelCase => "model-case",
            World::Five => "five",
        }
    }

    /// The parties' schemes, in slot order (KOR first: its authority gives the notice).
    fn schemes(self) -> &'static [(&'static str, &'static str)] {
        match self {
            World::ModelCase => &SCHEMES[..3],
            World::Five => &SCHEMES,
        }
    }

    /// The hostile member, if any.
    fn hostile(self) -> Option<PartyCode> {
        match self {
            World::ModelCase => None,
            World::Five => Some("GBR".parse().unwrap()),
        }
    }

    /// The agreements, as signed.
    fn agreements(self, schemes: &[Scheme]) -> Vec<Value> {
        let mut all: Vec<Value> = AGREEMENTS
            .iter()
            .map(|t| serde_json::from_str(t).unwrap())
            .collect();
        if self == World::Five {
            all.extend(MORE_AGREEMENTS.iter().map(|(a, b)| made_up(schemes, a, b)));
        }
        all
    }
}

/// An agreement between `a` and `b` in force since 2012, equating their levels rank for rank.
fn made_up(schemes: &[Scheme], a: &str, b: &str) -> Value {
    let ids = |party: &str, rank: u16| -> Vec<String> {
        schemes
            .iter()
            .find(|s| s.party().as_str() == party)
            .unwrap()
            .levels()
            .iter()
            .filter(|l| l.rank == rank)
            .map(|l| l.id.to_string())
            .collect()
    };
    let rows: Vec<Value> = [(3, "TOP SECRET"), (2, "SECRET"), (1, "CONFIDENTIAL")]
        .iter()
        .map(|(rank, common)| json!({ "common": common, "levels": { a: ids(a, *rank), b: ids(b, *rank) } }))
        .collect();
    json!({
        "id": format!("{}-{}-sim", a.to_lowercase(), b.to_lowercase()),
        "title": format!("Security agreement between {a} and {b} (made up for the simulation)"),
        "parties": [a, b],
        "equivalence": rows,
        "terms": { "initial_years": null, "notice_days": 90, "report_destruction": false },
        "events": [
            { "type": "signed", "by": a, "on": "2012-05-17" },
            { "type": "signed", "by": b, "on": "2012-05-17" },
        ],
    })
}

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
    /// Messages the hostile member rewrote in envelopes it sent ([`World::Five`]).
    pub tampered: u64,
    /// Items their originator reclassified (M4).
    pub reclassified: u64,
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
    /// Each party's latest publications (the hostile member's targets).
    own: HashMap<PartyCode, Vec<String>>,
    /// What the hostile member did, at which receiver, for the run to check; the latest 64
    /// are checked again every 50 steps (a replayed envelope may carry them later).
    tampered: Vec<(PartyCode, Tamper)>,
    /// Those not yet checked after their step.
    fresh: usize,
    tampers: u64,
    /// The reclassification notices the hostile member sent, and to whom: sent again later,
    /// when they may be stale.
    notices: Vec<(PartyCode, Value)>,
}

/// How the hostile member rewrote a message it sent; each must change nothing the receiver
/// holds but what an honest message would.
#[derive(Debug, Clone)]
enum Tamper {
    /// An item's object changed under its originator's binding (M1, H2).
    Content,
    /// Its own item carrying a marking at its lowest level, below its signed label, as a hub
    /// would mark a copy (refused: an originator holds its item under its label, M1; a hub
    /// lowering a partner's item, H3, needs onward release, which no run does).
    Lower,
    /// The receiver's own item id claimed as the hostile member's item, version `version`,
    /// bound with its own key (H1).
    Claim { id: String, version: String },
    /// The receiver's own item reclassified at its lowest level under the hostile member's
    /// signature (H1, H2).
    Reclassify { id: String },
    /// The receiver's own item, as the hostile member holds it, passed back to it (H1, H4).
    Back { id: String },
    /// A reclassification notice it sent the receiver earlier, sent again, when the receiver
    /// held `id` at `revision`: an old label is never applied again (M4).
    Stale { id: String, revision: u32 },
}

/// The simulated network between the nodes.
pub struct Net {
    nodes: Mutex<HashMap<PartyCode, Arc<Node>>>,
    /// The member that rewrites what it sends.
    hostile: Option<PartyCode>,
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
            let (sender, receiver) = (self.node(from), self.node(to));
            let mut body = body;
            // Every draw before the first await: the seed alone orders them.
            let (lose, duplicate, _, lose_reply, cut) = {
                let mut f = self.faults.lock().unwrap();
                if let (true, Some(Route::Inbox), Some(sender), Some(receiver)) =
                    (self.hostile == Some(from), &route, &sender, &receiver)
                    && f.on
                    && let Some((rewritten, tamper)) = tamper(&mut f, sender, receiver, &body)
                {
                    body = rewritten;
                    f.tampered.push((to, tamper));
                    f.fresh += 1;
                    f.tampers += 1;
                }
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

/// The hostile member `from` opens the envelope it is sending `to` (the run holds every key),
/// rewrites one of its messages, and seals and signs it again with its own real key, header and
/// numbers unchanged: what it sends instead and what it did, or `None` where the drawn rewrite
/// has nothing to work on.
fn tamper(f: &mut Faults, from: &Node, to: &Node, body: &[u8]) -> Option<(Vec<u8>, Tamper)> {
    use gsomia_crypto::envelope::{Envelope, open, seal};
    let env: Envelope = serde_json::from_slice(body).ok()?;
    let plain = open(
        &env,
        &from.keys().signing.verifying_key(),
        to.party(),
        &to.keys().encryption.to_bytes(),
    )
    .ok()?
    .into_inner();
    let mut payload: Value = serde_json::from_slice(&plain).ok()?;
    let messages = payload["messages"].as_array_mut()?;
    for m in messages.iter().filter(|m| m["kind"] == "reclassification") {
        f.notices.push((to.party(), m.clone()));
        if f.notices.len() > 64 {
            f.notices.remove(0);
        }
    }
    if !f.rng.chance(50) {
        return None;
    }
    let i = f.rng.below(messages.len() as u64) as usize;
    let m = &mut messages[i];
    let own: Vec<String> = f.own.get(&to.party()).cloned().unwrap_or_default();
    let target = (!own.is_empty()).then(|| own[f.rng.below(own.len() as u64) as usize].clone());
    let lowest = |node: &Node| {
        let scheme = node.world();
        let scheme = scheme.scheme(node.party()).unwrap();
        scheme
            .levels()
            .iter()
            .min_by_key(|l| l.rank)
            .unwrap()
            .id
            .to_string()
    };
    let is_item = m["kind"] == "item";
    let sent: Vec<Value> = f
        .notices
        .iter()
        .filter(|(p, _)| *p == to.party())
        .map(|(_, m)| m.clone())
        .collect();
    let tamper = match f.rng.below(7) {
        0 if is_item => {
            m["item"]["object"]["name"] = format!("rewritten by {}", from.party()).into();
            Tamper::Content
        }
        1 if is_item => {
            let party = from.party();
            m["item"]["marking"] =
                json!({ "party": party, "level": lowest(from), "originator": party });
            Tamper::Lower
        }
        2 if is_item => {
            let id = target?;
            let label: gsomia_core::Label =
                serde_json::from_value(m["item"]["label"].clone()).ok()?;
            let object = &mut m["item"]["object"];
            object["id"] = id.clone().into();
            object["object_refs"] = json!([id]);
            let version = object["modified"].as_str()?.to_owned();
            let binding = gsomia_crypto::sign_binding(&from.keys().signing, &label, object).ok()?;
            m["item"]["binding"] = binding.to_base64().into();
            Tamper::Claim { id, version }
        }
        3 => {
            let id = target?;
            let stored = to.store().item(&id.parse().ok()?, None).ok()??;
            let item = gsomia_node::service::items::unseal(to, &stored).ok()??;
            let mut label = stored.label.clone();
            label.level = lowest(to).parse().ok()?;
            label.revision += 1;
            let binding =
                gsomia_crypto::sign_binding(&from.keys().signing, &label, item.object()).ok()?;
            *m = json!({ "seq": m["seq"], "kind": "reclassification",
                         "payload": { "id": id, "label": label, "binding": binding.to_base64() } });
            Tamper::Reclassify { id }
        }
        4 => {
            let id = target?;
            let stored = from.store().item(&id.parse().ok()?, None).ok()??;
            let object = gsomia_node::service::items::unseal_object(from, &stored).ok()??;
            *m = json!({ "seq": m["seq"], "kind": "item", "item": {
                "label": stored.label, "object": object, "binding": stored.binding,
                "marking": stored.marking, "custody": stored.custody } });
            Tamper::Back { id }
        }
        5 | 6 if !sent.is_empty() => {
            // One older than the label held, where there is one: a replay.
            let held = |notice: &Value| {
                let id = notice["payload"]["id"].as_str()?.parse().ok()?;
                Some(to.store().item(&id, None).ok()??.label)
            };
            let stale: Vec<&Value> = sent
                .iter()
                .filter(|n| {
                    held(n).is_some_and(|l| n["payload"]["label"]["revision"] != l.revision)
                })
                .collect();
            let pool = if stale.is_empty() {
                sent.iter().collect()
            } else {
                stale
            };
            let mut old = pool[f.rng.below(pool.len() as u64) as usize].clone();
            let id = old["payload"]["id"].as_str()?.to_owned();
            let held = held(&old)?;
            old["seq"] = m["seq"].clone();
            *m = old;
            Tamper::Stale {
                id,
                revision: held.revision,
            }
        }
        _ => return None,
    };
    let payload = serde_json::to_vec(&payload).ok()?;
    let public = x25519(to);
    let env = seal(
        &from.keys().signing,
        &public,
        env.header,
        &payload,
        &mut gsomia_node::federation::OsRng,
    )
    .ok()?;
    Some((serde_json::to_vec(&env).unwrap(), tamper))
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
    /// Per ordered pair (`a * n + b`, `n` nodes), the outbox sequence numbers `a` was seen to queue for
    /// `b`.
    queued: Vec<std::collections::BTreeSet<u64>>,
    /// Per node, the last item row checked and the item versions received so far.
    checked: Vec<(i64, std::collections::HashSet<(String, String)>)>,
    /// Per item published, the level its originator signed at each revision.
    labels: HashMap<String, Vec<String>>,
    /// The items reclassified last (64), and the revision each node held of them when last
    /// checked: a holder's revision never goes back.
    reclassified: Vec<String>,
    revisions: HashMap<(PartyCode, String), u32>,
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

/// Runs `steps` steps of `world` from `seed`; the report, or the first invariant broken (with
/// the step).
pub fn run(world: World, seed: u64, steps: u64) -> Result<Report, String> {
    run_with(world, seed, steps, |_| {})
}

/// [`run`], telling `progress` the report every 10,000 steps.
pub fn run_with(
    world: World,
    seed: u64,
    steps: u64,
    progress: impl FnMut(&Report),
) -> Result<Report, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        let mut sim = Sim::new(world, seed).await;
        let result = sim.go(steps, progress).await;
        for s in &sim.slots {
            s.node.close();
        }
        let _ = std::fs::remove_dir_all(&sim.root);
        result.map(|()| sim.report.clone())
    })
}

impl Sim {
    async fn new(world: World, seed: u64) -> Sim {
        let root = std::env::temp_dir().join(format!(
            "gsomia-sim-{}-{seed}-{}",
            std::process::id(),
            OffsetDateTime::now_utc().unix_timestamp_nanos()
        ));
        let now = Arc::new(Mutex::new(time::macros::datetime!(2019-07-25 00:00 UTC)));
        let net = Arc::new(Net {
            nodes: Mutex::new(HashMap::new()),
            hostile: world.hostile(),
            faults: Mutex::new(Faults {
                rng: Rng::new(seed ^ 0x5EED),
                on: true,
                cut: vec![],
                kept: vec![],
                count: 0,
                own: HashMap::new(),
                tampered: vec![],
                fresh: 0,
                notices: vec![],
                tampers: 0,
            }),
            one: tokio::sync::Mutex::new(()),
        });
        let mut slots = vec![];
        let schemes: Vec<Scheme> = world
            .schemes()
            .iter()
            .map(|(_, text)| Scheme::from_json(text).unwrap())
            .collect();
        for (party, scheme) in world.schemes().iter().copied() {
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
        for mut file in world.agreements(&schemes) {
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
        let n = slots.len();
        Sim {
            rng: Rng::new(seed),
            now,
            slots,
            net,
            report: Report::default(),
            noticed: false,
            root,
            queued: vec![std::collections::BTreeSet::new(); n * n],
            checked: vec![(0, std::collections::HashSet::new()); n],
            labels: HashMap::new(),
            reclassified: vec![],
            revisions: HashMap::new(),
        }
    }

    async fn go(&mut self, steps: u64, mut progress: impl FnMut(&Report)) -> Result<(), String> {
        for step in 1..=steps {
            self.step(step)
                .await
                .map_err(|e| format!("step {step}: {e}"))?;
            self.check_marks(step % 1_000 == 0)
                .map_err(|e| format!("step {step}: {e}"))?;
            self.check_tampered(step % 50 == 0)
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
        self.check_tampered(true)?;
        {
            let f = self.net.faults.lock().unwrap();
            self.report.faults = f.count;
            self.report.tampered = f.tampers;
        }
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
            0..27 => self.publish(n, other, step).await,
            27..31 => self.reclassify(n).await,
            31..70 => {
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
        self.labels.insert(id.clone(), vec![level.to_owned()]);
        {
            let mut f = self.net.faults.lock().unwrap();
            let own = f.own.entry(party).or_default();
            own.push(id.clone());
            if own.len() > 32 {
                own.remove(0);
            }
        }
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

    /// Node `n`'s authority reclassifies one of its items (M4), from its level of the common
    /// SECRET to its lowest or back; the node queues the notice for every holder, and it
    /// crosses the faulty network as the rest does.
    async fn reclassify(&mut self, n: usize) -> Result<(), String> {
        let s = &self.slots[n];
        if s.published.is_empty() {
            return Ok(());
        }
        // One of its last few, so that some are reclassified again and again.
        let last = &s.published[s.published.len().saturating_sub(8)..];
        let id = last[self.rng.below(last.len() as u64) as usize].clone();
        let world = s.node.world();
        let scheme = world.scheme(s.party).unwrap();
        let lowest = scheme
            .levels()
            .iter()
            .min_by_key(|l| l.rank)
            .unwrap()
            .id
            .to_string();
        let history = self.labels.get_mut(&id).unwrap();
        let level = match history.last().map(String::as_str) == Some(LEVELS[n]) {
            true => lowest,
            false => LEVELS[n].to_owned(),
        };
        let uri = format!("/api/v1/items/{id}/reclassify");
        let (status, body) = call(
            &s.node,
            "POST",
            &uri,
            &s.authority,
            json!({ "level": level }),
        )
        .await;
        if status != 200 {
            return Err(format!(
                "{} did not reclassify `{id}`: {status} {body}",
                s.party
            ));
        }
        history.push(level);
        self.report.reclassified += 1;
        self.reclassified.retain(|r| *r != id);
        self.reclassified.push(id);
        if self.reclassified.len() > 64 {
            let gone = self.reclassified.remove(0);
            self.revisions.retain(|(_, i), _| *i != gone);
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

    /// What the hostile member did changed nothing it should not have: the receiver's own
    /// items it named are as the receiver published them ([`intact`]), and the version it
    /// claimed, if the receiver holds one, is the receiver's own. What it rewrote of its own
    /// items is checked with every row stored ([`Sim::check_holdings`]). The rewrites of the
    /// last step; with `again`, the latest 64 as well (a replayed envelope may carry one late).
    fn check_tampered(&mut self, again: bool) -> Result<(), String> {
        let list = {
            let mut f = self.net.faults.lock().unwrap();
            let from = if again { 0 } else { f.tampered.len() - f.fresh };
            let list = f.tampered[from..].to_vec();
            f.fresh = 0;
            let excess = f.tampered.len().saturating_sub(64);
            f.tampered.drain(..excess);
            list
        };
        for (to, tamper) in list {
            let (id, claimed, own) = match &tamper {
                Tamper::Content | Tamper::Lower => continue,
                Tamper::Claim { id, version } => (id, Some(version.as_str()), true),
                Tamper::Reclassify { id } | Tamper::Back { id } => (id, None, true),
                Tamper::Stale { id, .. } => (id, None, false),
            };
            let slot = self.slots.iter().find(|s| s.party == to).unwrap();
            let store = slot.node.store();
            let parsed = id.parse().unwrap();
            for version in [None, claimed] {
                let Some(stored) = store.item(&parsed, version).map_err(|e| e.to_string())? else {
                    if version.is_none() {
                        return Err(format!("{to} no longer holds its `{id}` after {tamper:?}"));
                    }
                    continue;
                };
                if let Tamper::Stale { revision, .. } = &tamper
                    && stored.label.revision < *revision
                {
                    return Err(format!(
                        "{to} went back from revision {revision} of `{id}` to {} after {tamper:?}",
                        stored.label.revision
                    ));
                }
                if own && stored.label.originator != to {
                    return Err(format!(
                        "{to}'s `{id}` is held as {}'s after {tamper:?}",
                        stored.label.originator
                    ));
                }
                intact(slot, &self.slots, &self.labels, &stored)
                    .map_err(|e| format!("after {tamper:?}: {e}"))?;
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
            for item in &items {
                intact(s, &self.slots, &self.labels, item)?;
            }
            // Rows a notice changed are not new: the items reclassified last, wherever held.
            for id in &self.reclassified {
                let held = s.node.store().item(&id.parse().unwrap(), None);
                let Some(item) = held.map_err(|e| e.to_string())? else {
                    continue;
                };
                intact(s, &self.slots, &self.labels, &item)?;
                let last = self.revisions.entry((s.party, id.clone())).or_default();
                if item.label.revision < *last {
                    return Err(format!(
                        "{} went back from revision {last} of `{id}` to {}",
                        s.party, item.label.revision
                    ));
                }
                *last = item.label.revision;
            }
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

/// `stored`, held by `slot`, is as its originator made it: its binding is the originator's
/// signature of its label and object; its label is one the originator signed (the level of its
/// revision; the latest at the originator, which applies its own at once); the holder's own
/// item has no marking and no custody, another's came over a hop and is marked at the holder's
/// level of the same rank (every agreement here equates ranks 1 and 2: M2, H3).
fn intact(
    slot: &Slot,
    slots: &[Slot],
    labels: &HashMap<String, Vec<String>>,
    stored: &gsomia_store::StoredItem,
) -> Result<(), String> {
    let (id, holder) = (&stored.id, slot.party);
    let Some(origin) = slots.iter().find(|s| s.party == stored.label.originator) else {
        return Err(format!("{holder} holds `{id}` of an unknown originator"));
    };
    let world = slot.node.world();
    let rank = |party: PartyCode, level: &str| {
        world
            .scheme(party)
            .and_then(|s| s.level(level))
            .map(|l| l.rank)
    };
    let label = &stored.label;
    let own = origin.party == holder;
    let history = labels.get(id.as_str()).map_or(&[][..], Vec::as_slice);
    let revision = label.revision as usize;
    let signed = history.get(revision).map(String::as_str);
    if signed != Some(label.level.as_str()) || (own && revision + 1 != history.len()) {
        return Err(format!(
            "{holder} holds `{id}` under a label {} never signed: {label:?}; it signed {history:?}",
            origin.party
        ));
    }
    let ranked = rank(origin.party, label.level.as_str());
    let marked = match &stored.marking {
        None => own && stored.custody.is_empty(),
        Some(m) => !own && !stored.custody.is_empty() && rank(holder, m.level.as_str()) == ranked,
    };
    if !marked {
        return Err(format!(
            "{holder} holds `{id}` of {} marked {:?} with custody {:?}",
            origin.party, stored.marking, stored.custody
        ));
    }
    let item = gsomia_node::service::items::unseal(&slot.node, stored)
        .map_err(|e| e.message)?
        .ok_or_else(|| format!("{holder}'s `{id}` was destroyed; no run destroys"))?;
    // Ed25519 is deterministic: the originator signing what is held again makes the binding
    // held, or what is held is not what it signed. (Checked apart from the node's own check.)
    let again = gsomia_crypto::sign_binding(&origin.node.keys().signing, label, item.object())
        .map_err(|e| e.to_string())?;
    if again.to_base64() != stored.binding {
        return Err(format!(
            "{holder} holds `{id}` under a binding {} did not make for it",
            origin.party
        ));
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
