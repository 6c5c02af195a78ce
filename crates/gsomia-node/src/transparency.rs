//! The verifiable audit log between nodes (SPEC §8): checkpoints, witnessing and the
//! originator's view.
//!
//! **Checkpoints.** [`issue`] signs a C2SP checkpoint of the committed log: the size is read
//! from a reader connection, which sees a transaction only after SQLite has synced it to the WAL
//! (`synchronous = FULL`), so a checkpoint never covers an entry that is not on disk. `gsomia
//! serve` issues one every `checkpoint_interval_ms` while the log grows ([`run_checkpoints`]),
//! and `POST /api/v1/log/checkpoint` issues one on demand.
//!
//! **Witnessing** follows C2SP `tlog-witness`: after issuing, a node posts its checkpoint to
//! each partner's `/federation/v1/add-checkpoint` with a consistency proof from the size that
//! partner last cosigned ([`add_checkpoint`] is the partner's side). The partner checks the
//! log's signature with the key it imported for that party, checks the proof against the
//! checkpoint it holds, keeps the new one and answers with its cosignature. A partner that
//! holds another size answers 409 with that size and is sent a proof from there. A proof that
//! fails is evidence of a rewritten log: both signed checkpoints and the proof are kept, the
//! refusal is audited (P7) and logged as an error for the security officer, and served at
//! `/api/v1/log/evidence`. Checkpoints go straight to partners, not through the outbox: a
//! witness needs the newest, not every one, and nothing is lost when one is skipped.
//!
//! Successful witnessing is recorded in the `witnessed` and `cosignatures` tables, not as audit
//! entries: an entry per exchange would make every idle node's log grow, and so issue and
//! exchange checkpoints, forever. Every refusal is audited.
//!
//! **Originator's view.** An originator's officer asks a holder, through
//! `/federation/v1/custody` (sealed both ways), for the holder's entries about one of its items,
//! with inclusion proofs against a checkpoint of the holder's log that the originator has
//! witnessed ([`custody`]); every proof is checked before the entries are shown.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use gsomia_core::{PartyCode, Rule};
use gsomia_crypto::envelope::{self, Envelope, Header};
use gsomia_log::{
    ConsistencyProof, Cosigner, Frontier, Hash, InclusionProof, LogKey, LogVerifier,
    SignedCheckpoint, WitnessVerifier, leaf_hash,
};
use gsomia_store::{Batch, LogHashes, PartyRecord, Verdict, Write};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::federation::OsRng;
use crate::node::{Node, entry};
use crate::service::{audited, internal};

/// The name of a party's log (the checkpoint's origin and the key name): `gsomia/<party>`.
pub fn origin(party: PartyCode) -> String {
    format!("gsomia/{party}")
}

/// The party whose log `origin` names.
fn party_of(origin: &str) -> Option<PartyCode> {
    origin.strip_prefix("gsomia/")?.parse().ok()
}

fn log_key(node: &Node) -> LogKey {
    LogKey::new(&origin(node.party()), node.keys().signing.clone())
}

/// The verifier of this node's own checkpoints.
pub fn own_verifier(node: &Node) -> LogVerifier {
    log_key(node).verifier()
}

/// The verifier of a partner's checkpoints, from its imported descriptor.
pub fn log_verifier(record: &PartyRecord) -> Result<LogVerifier, String> {
    let key = record.keys.verifying_key().map_err(|e| e.to_string())?;
    Ok(LogVerifier::new(&origin(record.code), key))
}

/// Opens a checkpoint of `record`'s log that this node stored, signed by any key that party
/// ever signed with (K1): one signed before its rotation stays valid. New checkpoints are opened
/// with [`log_verifier`], the current key only.
pub fn open_stored(note: &str, record: &PartyRecord) -> Result<SignedCheckpoint, String> {
    let mut first = None;
    for key in crate::node::verifying_keys(record) {
        match SignedCheckpoint::open(note, &LogVerifier::new(&origin(record.code), key)) {
            Ok(c) => return Ok(c),
            Err(e) => {
                first.get_or_insert(e.to_string());
            }
        }
    }
    Err(first.unwrap_or_else(|| format!("{}'s keys are malformed", record.code)))
}

fn witness_verifier(record: &PartyRecord) -> Result<WitnessVerifier, String> {
    let key = record.keys.verifying_key().map_err(|e| e.to_string())?;
    Ok(WitnessVerifier::new(&origin(record.code), key))
}

/// The root of this node's tree of `size` entries.
pub fn root_at(node: &Node, size: u64) -> Result<Hash, ApiError> {
    Frontier::load(size, &LogHashes(node.store()))
        .map(|f| f.root())
        .map_err(internal)
}

/// Signs a checkpoint of the committed log if it grew since the last one; the latest
/// checkpoint's size and signed note.
pub async fn issue(node: &Node) -> Result<(u64, String), ApiError> {
    let size = node.store().log_size()?;
    if let Some((latest, note)) = node.store().checkpoint_latest()?
        && latest == size
    {
        return Ok((latest, note));
    }
    let checkpoint = SignedCheckpoint::sign(&log_key(node), size, root_at(node, size)?);
    let note = checkpoint.note(&[]);
    let writes = vec![Write::PutCheckpoint {
        size,
        note: note.clone(),
        at: node.now_text(),
    }];
    node.write(Batch {
        writes,
        audit: vec![],
    })
    .await?;
    node.metrics().checkpoints_issued.inc();
    Ok((size, note))
}

/// The latest checkpoint with the cosignatures partners sent for it.
pub fn latest_cosigned(node: &Node) -> Result<Option<(u64, String)>, ApiError> {
    let Some((size, note)) = node.store().checkpoint_latest()? else {
        return Ok(None);
    };
    let lines: Vec<String> = node
        .store()
        .cosignatures(size)?
        .into_iter()
        .map(|(_, l)| l)
        .collect();
    Ok(Some((size, format!("{note}{}", lines.concat()))))
}

/// Issues checkpoints and has partners witness them until `stop` is set. Each partner is asked
/// by a task of its own, and a partner still being asked is not asked again: one that does not
/// answer delays only itself (H4).
pub async fn run_checkpoints(node: Arc<Node>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let every = Duration::from_millis(node.config.checkpoint_interval_ms.max(100));
    let mut asking: HashMap<PartyCode, tokio::task::JoinHandle<()>> = HashMap::new();
    loop {
        if *stop.borrow() {
            break;
        }
        // Of several processes sharing the store, the lease's holder checkpoints.
        if node.holds("checkpoints")
            && let Err(e) = round(&node, &mut asking).await
        {
            tracing::warn!(error = %e.message, "checkpoint");
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => {}
        }
    }
    for (_, task) in asking {
        task.abort();
    }
}

/// Issues a checkpoint and asks each partner that has not cosigned it, and is not being asked
/// already, to witness it.
async fn round(
    node: &Arc<Node>,
    asking: &mut HashMap<PartyCode, tokio::task::JoinHandle<()>>,
) -> Result<(), ApiError> {
    let (size, note) = issue(node).await?;
    // Whom to ask is the world's partners as of now, whichever process changed them.
    node.refresh_world().map_err(crate::service::internal)?;
    asking.retain(|_, t| !t.is_finished());
    for record in due(node, size)? {
        if !asking.contains_key(&record.code) {
            let code = record.code;
            let task = tokio::spawn(witness_logged(node.clone(), record, size, note.clone()));
            asking.insert(code, task);
        }
    }
    Ok(())
}

/// The partners that have not cosigned the checkpoint of `size` and can be reached.
fn due(node: &Node, size: u64) -> Result<Vec<PartyRecord>, ApiError> {
    let world = node.world();
    let cosigned: Vec<PartyCode> = node
        .store()
        .cosignatures(size)?
        .into_iter()
        .map(|(w, _)| w)
        .collect();
    Ok(node
        .store()
        .parties()?
        .into_iter()
        .filter(|r| {
            crate::node::partner(&world, node.party(), r.code)
                && r.endpoint.is_some()
                && !cosigned.contains(&r.code)
        })
        .collect())
}

/// [`witness_by`], its failure logged: the next round asks again.
async fn witness_logged(node: Arc<Node>, peer: PartyRecord, size: u64, note: String) {
    match witness_by(&node, &peer, size, &note).await {
        Ok(()) => node.witness_outcome(peer.code.as_str(), None),
        Err(e) => {
            tracing::warn!(peer = %peer.code, error = %e, "witnessing");
            node.witness_outcome(peer.code.as_str(), Some(e));
        }
    }
}

/// One round: issue a checkpoint and have every partner that has not cosigned it witness it,
/// each asked by a task of its own; returns when all have answered or given up.
pub async fn tick(node: &Arc<Node>) -> Result<(), ApiError> {
    let (size, note) = issue(node).await?;
    let mut asked = tokio::task::JoinSet::new();
    for record in due(node, size)? {
        asked.spawn(witness_logged(node.clone(), record, size, note.clone()));
    }
    asked.join_all().await;
    Ok(())
}

/// Asks `peer` to witness the checkpoint of `size`, and keeps its cosignature.
async fn witness_by(node: &Node, peer: &PartyRecord, size: u64, note: &str) -> Result<(), String> {
    let mut old = node
        .store()
        .last_cosigned(peer.code)
        .map_err(|e| e.to_string())?;
    // At most twice: the second time from the size the witness says it holds.
    for _ in 0..2 {
        if old > size {
            return Err(format!(
                "{} holds a checkpoint of size {old}, larger than this log ({size})",
                peer.code
            ));
        }
        let proof = ConsistencyProof::make(old, size, &LogHashes(node.store()))
            .map_err(|e| e.to_string())?;
        let body = add_checkpoint_body(&proof, note);
        // The request is signed by this node, so that a witness can tell this node's own
        // statement that its log grew consistently from a stranger's replay (H6).
        let signature = gsomia_crypto::statement::sign(
            &node.keys().signing,
            "add-checkpoint",
            &json!({ "body": body }),
        );
        let headers = [
            ("content-type", "text/plain"),
            (SIGNATURE_HEADER, signature.as_str()),
        ];
        let (status, reply) = node
            .post_to(
                peer,
                "/federation/v1/add-checkpoint",
                &headers,
                body.into_bytes(),
            )
            .await?;
        let reply = String::from_utf8_lossy(&reply).into_owned();
        match status {
            200 => {
                let checkpoint =
                    SignedCheckpoint::open(note, &own_verifier(node)).map_err(|e| e.to_string())?;
                let verifier = witness_verifier(peer)?;
                checkpoint
                    .verify_cosignature(&reply, &verifier)
                    .map_err(|e| format!("{}'s cosignature: {e}", peer.code))?;
                let writes = vec![Write::PutCosignature {
                    size,
                    witness: peer.code,
                    line: reply,
                }];
                node.write(Batch {
                    writes,
                    audit: vec![],
                })
                .await
                .map_err(|e| e.message)?;
                tracing::info!(witness = %peer.code, size, "checkpoint cosigned");
                return Ok(());
            }
            409 => {
                old = reply
                    .trim()
                    .parse()
                    .map_err(|_| format!("{} answered 409 without a size: {reply}", peer.code))?;
            }
            _ => return Err(format!("{} answered {status}: {reply}", peer.code)),
        }
    }
    Err(format!("{} keeps answering 409", peer.code))
}

/// The header carrying the log's node's signature over an `add-checkpoint` body.
pub const SIGNATURE_HEADER: &str = "gsomia-signature";

/// The C2SP tlog-witness `add-checkpoint` request body.
fn add_checkpoint_body(proof: &ConsistencyProof, note: &str) -> String {
    let mut body = format!("old {}\n", proof.old);
    for h in &proof.hashes {
        body.push_str(&gsomia_log::proof::encode_hash(h));
        body.push('\n');
    }
    body.push('\n');
    body.push_str(note);
    body
}

/// Reads an `add-checkpoint` request body: the old size, the proof hashes, the note.
fn parse_add_checkpoint(body: &str) -> Result<(u64, Vec<Hash>, &str), String> {
    let (head, note) = body
        .split_once("\n\n")
        .ok_or("the body must be `old <size>`, proof lines, a blank line and the checkpoint")?;
    let mut lines = head.lines();
    let old = lines
        .next()
        .and_then(|l| l.strip_prefix("old "))
        .and_then(|n| n.parse().ok())
        .ok_or("the first line must be `old <size>`")?;
    let hashes = lines
        .map(|l| {
            gsomia_log::proof::decode_hash(l)
                .ok_or_else(|| format!("`{l}` is not a base64 SHA-256 hash"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if hashes.len() > 128 {
        return Err("a consistency proof has at most 128 hashes".into());
    }
    Ok((old, hashes, note))
}

/// A witness's answer to `add-checkpoint`.
pub enum Witnessed {
    /// The cosignature line.
    Cosigned(String),
    /// The witness holds another size: the proof must start there (409).
    Conflict(u64),
}

/// The witness's side of `add-checkpoint`: checks a partner's checkpoint against the one it
/// holds and cosigns it, or keeps the evidence when the two can not both be true.
///
/// Nothing is audited before the checkpoint's signature verifies (H5): requests for unknown
/// logs and forged notes are logged with a rate limit and answered without detail. A checkpoint
/// older than the one held is stale, not evidence (H6): anyone can replay one. Evidence of a
/// rewritten log is two checkpoints signed by the log's key that can not both be true: two of
/// one size with different roots, or a newer one whose consistency proof the log's own node
/// signed (`signature`, over the whole body) and which fails.
pub async fn add_checkpoint(
    node: &Node,
    body: &str,
    signature: Option<&str>,
) -> Result<Witnessed, ApiError> {
    let (old, hashes, note) = parse_add_checkpoint(body).map_err(|e| {
        crate::node::log_unauthenticated("add-checkpoint", &e);
        ApiError::bad_request(e)
    })?;
    let log = note.lines().next().unwrap_or_default();
    let forbidden = |code: &'static str, rule: Rule, message: &str| ApiError {
        status: axum::http::StatusCode::FORBIDDEN,
        code,
        message: message.to_owned(),
        rule: Some(rule),
    };
    let parties = node.store().parties()?;
    let record = party_of(log)
        .filter(|p| crate::node::partner(&node.world(), node.party(), *p))
        .and_then(|p| parties.iter().find(|r| r.code == p));
    let Some(record) = record else {
        crate::node::log_unauthenticated("add-checkpoint", "not a partner's log");
        return Err(forbidden(
            "unknown_log",
            Rule::H5,
            "this node witnesses only the logs of its partners",
        ));
    };
    let party = record.code.to_string();
    let verifier = log_verifier(record).map_err(internal)?;
    let shown = match SignedCheckpoint::open(note, &verifier) {
        Ok(c) => c,
        Err(_) => {
            crate::node::log_unauthenticated("add-checkpoint", "a note that does not verify");
            return Err(forbidden(
                "bad_signature",
                Rule::M1,
                "the checkpoint is not signed by its log's key",
            ));
        }
    };
    node.heard_from(record.code);
    let held = match node.store().witnessed_latest(record.code)? {
        Some((_, n)) => Some(open_stored(&n, record).map_err(internal)?),
        None => None,
    };
    let held_size = held.as_ref().map_or(0, |h| h.size);
    if old != held_size || shown.size < held_size {
        // A stale checkpoint (H6), or a proof from another size: the size held, as C2SP says.
        return Ok(Witnessed::Conflict(held_size));
    }
    if let Some(held) = &held {
        let proof = ConsistencyProof {
            old,
            new: shown.size,
            hashes,
        };
        let fails = if shown.size == held.size {
            (shown.root != held.root).then(|| {
                format!(
                    "{party} signed two checkpoints of size {} with different roots: its log was \
                     rewritten",
                    shown.size
                )
            })
        } else {
            proof.verify(&held.root, &shown.root).err().map(|_| {
                format!(
                    "{party}'s checkpoint of size {} is not consistent with its checkpoint of \
                     size {} that this node witnessed, by a proof {party} signed: its log was \
                     rewritten",
                    shown.size, held.size
                )
            })
        };
        let by_the_log = || {
            let key = record.keys.verifying_key().ok();
            signature.zip(key).is_some_and(|(sig, key)| {
                gsomia_crypto::statement::verify(
                    &key,
                    "add-checkpoint",
                    &json!({ "body": body }),
                    sig,
                )
            })
        };
        if let Some(message) = fails {
            if shown.size != held.size && !by_the_log() {
                // Anyone can replay a genuine checkpoint with a proof that fails: not evidence.
                crate::node::log_unauthenticated("add-checkpoint", "a proof that fails, unsigned");
                return Err(ApiError::unprocessable(
                    "the consistency proof does not verify",
                ));
            }
            tracing::error!(%party, held = held.size, shown = shown.size, "EVIDENCE of a rewritten audit log");
            let evidence = gsomia_store::Evidence {
                party: record.code,
                held: held.note(&[]),
                shown: note.to_owned(),
                proof,
                found: node.now_text(),
                message: message.clone(),
            };
            let draft = entry(
                node,
                &party,
                "checkpoint.witness",
                &party,
                Verdict::Deny,
                Some(Rule::H6),
                json!({ "message": message }),
            );
            let e = ApiError {
                status: axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                code: "inconsistent_log",
                message,
                rule: Some(Rule::H6),
            };
            let writes = vec![Write::AddEvidence(Box::new(evidence))];
            return Err(
                match node
                    .write(Batch {
                        writes,
                        audit: vec![draft],
                    })
                    .await
                {
                    Ok(_) => e,
                    Err(w) => w,
                },
            );
        }
    }
    let now = node.now().unix_timestamp().max(0) as u64;
    let cosigner = Cosigner::new(&origin(node.party()), node.keys().signing.clone(), now);
    let line = shown.cosign(&cosigner);
    if shown.size > held_size || held.is_none() {
        let writes = vec![Write::PutWitnessed {
            party: record.code,
            size: shown.size,
            note: note.to_owned(),
            at: node.now_text(),
        }];
        node.write(Batch {
            writes,
            audit: vec![],
        })
        .await?;
    }
    node.metrics()
        .checkpoints_witnessed
        .get_or_create(&crate::metrics::PartnerLabels {
            partner: record.code.to_string(),
        })
        .inc();
    Ok(Witnessed::Cosigned(line))
}

// ---------------------------------------------------------------------------------------------
// The originator's view.

/// One of a holder's entries about an item, with its proof.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProvenEntry {
    /// The entry's number.
    pub seq: u64,
    /// The entry's body (canonical JSON), exactly as hashed into the tree.
    pub body: String,
    /// Its inclusion proof against the checkpoint asked about.
    pub proof: InclusionProof,
}

/// The holder's side: the entries about `item` up to the checkpoint of `size`, for the item's
/// originator only.
pub async fn answer_custody(node: &Node, env: Envelope) -> Result<Envelope, ApiError> {
    let from = env.header.from;
    let forbidden = |rule: Rule, message: String| ApiError {
        status: axum::http::StatusCode::FORBIDDEN,
        code: "forbidden",
        message,
        rule: Some(rule),
    };
    let named = crate::node::partner(&node.world(), node.party(), from);
    let record = node.store().parties()?.into_iter().find(|p| p.code == from);
    let (Some(record), true) = (record, named) else {
        crate::node::log_unauthenticated("custody", "not a partner");
        return Err(forbidden(
            gsomia_core::Rule::H5,
            "the sender is not a partner of this node".to_owned(),
        ));
    };
    let key = record.keys.verifying_key().map_err(internal)?;
    let opened = node.open_envelope(&env, &key).map_err(|e| {
        crate::node::log_unauthenticated("custody", "an envelope that does not open");
        forbidden(gsomia_core::Rule::M1, e.to_string())
    })?;
    let ask: Value = serde_json::from_slice(&opened.into_inner())
        .map_err(|e| ApiError::bad_request(format!("custody query: {e}")))?;
    let (Some(item), Some(size)) = (ask["item"].as_str(), ask["size"].as_u64()) else {
        return Err(ApiError::unprocessable(
            "a custody query names `item` (an id) and `size` (a checkpoint's size)",
        ));
    };
    let action = "custody.query";
    let deny = |message: String| {
        let draft = entry(
            node,
            from.as_str(),
            action,
            item,
            Verdict::Deny,
            Some(Rule::P7),
            json!({ "message": message }),
        );
        (forbidden(gsomia_core::Rule::P7, message), draft)
    };
    let stored = crate::service::items::stored(node, item, None)?;
    let originator = stored.as_ref().map(|s| s.label.originator);
    if originator != Some(from) {
        // The same answer whether this node holds the item or not: only its originator learns
        // anything about it.
        let (e, d) = deny(format!(
            "only an item's originator may ask for its custody record, and {from} is not the \
             originator of `{item}` here"
        ));
        return Err(audited(node, e, d).await);
    }
    if node.store().checkpoint(size)?.is_none() {
        return Err(ApiError::not_found(format!(
            "this node issued no checkpoint of size {size}"
        )));
    }
    let mut entries = vec![];
    for e in node.store().audit_about(item, size)? {
        let proof =
            InclusionProof::make(e.seq - 1, size, &LogHashes(node.store())).map_err(internal)?;
        entries.push(ProvenEntry {
            seq: e.seq,
            body: e.body,
            proof,
        });
    }
    let draft = entry(
        node,
        from.as_str(),
        action,
        item,
        Verdict::Allow,
        Some(Rule::P7),
        json!({ "size": size, "entries": entries.len() }),
    );
    node.write(Batch {
        writes: vec![],
        audit: vec![draft],
    })
    .await?;
    let answer = json!({ "item": item, "size": size, "entries": entries });
    seal_to(node, &record, "custody-answer", &answer).map_err(internal)
}

fn seal_to(node: &Node, to: &PartyRecord, id: &str, payload: &Value) -> Result<Envelope, String> {
    let key = crate::federation::encryption_key(to)?;
    let mut nonce = [0u8; 8];
    getrandom::fill(&mut nonce).map_err(|e| e.to_string())?;
    let header = Header {
        protocol: gsomia_crypto::envelope::PROTOCOL,
        from: node.party(),
        to: to.code,
        id: format!("{id}-{}", gsomia_crypto::hex(&nonce)),
        seq: (0, 0),
        sent: node.now_text(),
    };
    envelope::seal(
        &node.keys().signing,
        &key,
        header,
        payload.to_string().as_bytes(),
        &mut OsRng,
    )
    .map_err(|e| e.to_string())
}

/// What an originator learns from a holder: the checkpoint it witnessed and the holder's
/// entries about the item, each proven included in it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CustodyReport {
    /// The holder.
    pub holder: String,
    /// The holder's checkpoint (witnessed by this node) the proofs are against.
    pub checkpoint: String,
    /// The holder's entries about the item, in order, every one verified.
    pub entries: Vec<ProvenEntry>,
}

/// The originator's side: asks `holder` for its entries about `item` and checks each against
/// the latest checkpoint of the holder's log this node witnessed.
pub async fn custody(
    node: &Node,
    holder: &PartyRecord,
    item: &str,
) -> Result<CustodyReport, ApiError> {
    let party = holder.code;
    let conflict = |m: String| ApiError::new(axum::http::StatusCode::CONFLICT, "not_witnessed", m);
    let Some((size, note)) = node.store().witnessed_latest(party)? else {
        return Err(conflict(format!(
            "this node has not witnessed a checkpoint of {party}'s log yet"
        )));
    };
    let checkpoint = open_stored(&note, holder).map_err(internal)?;
    let ask = seal_to(
        node,
        holder,
        "custody",
        &json!({ "item": item, "size": size }),
    )
    .map_err(internal)?;
    let bad_gateway =
        |m: String| ApiError::new(axum::http::StatusCode::BAD_GATEWAY, "bad_holder_answer", m);
    let body = serde_json::to_vec(&ask).map_err(internal)?;
    let (status, reply) = node
        .post_to(
            holder,
            "/federation/v1/custody",
            crate::federation::JSON,
            body,
        )
        .await
        .map_err(|e| bad_gateway(format!("{party}: {e}")))?;
    if status != 200 {
        let text = String::from_utf8_lossy(&reply);
        return Err(ApiError::new(
            axum::http::StatusCode::BAD_GATEWAY,
            "holder_refused",
            format!("{party} answered {status}: {text}"),
        ));
    }
    let env: Envelope = serde_json::from_slice(&reply).map_err(|e| bad_gateway(e.to_string()))?;
    let key = holder.keys.verifying_key().map_err(internal)?;
    let opened = node
        .open_envelope(&env, &key)
        .map_err(|e| bad_gateway(format!("{party}'s answer: {e}")))?;
    let answer: Value =
        serde_json::from_slice(&opened.into_inner()).map_err(|e| bad_gateway(e.to_string()))?;
    let entries: Vec<ProvenEntry> = serde_json::from_value(answer["entries"].clone())
        .map_err(|e| bad_gateway(format!("{party}'s entries: {e}")))?;
    let mut problems = vec![];
    for e in &entries {
        let about = serde_json::from_str::<Value>(&e.body)
            .ok()
            .and_then(|b| b["subject"].as_str().map(str::to_owned));
        if about.as_deref() != Some(item) {
            problems.push(format!("entry {} is not about `{item}`", e.seq));
        } else if e.proof.size != size || e.proof.index + 1 != e.seq {
            problems.push(format!(
                "entry {}'s proof is for another position or tree",
                e.seq
            ));
        } else if e
            .proof
            .verify(&checkpoint.root, &leaf_hash(e.body.as_bytes()))
            .is_err()
        {
            problems.push(format!(
                "entry {} is not in {party}'s log as of the checkpoint of size {size}",
                e.seq
            ));
        }
    }
    let (decision, rule_detail) = if problems.is_empty() {
        (
            Verdict::Allow,
            json!({ "holder": party, "size": size, "entries": entries.len() }),
        )
    } else {
        (
            Verdict::Deny,
            json!({ "holder": party, "size": size, "problems": problems }),
        )
    };
    let draft = entry(
        node,
        "node",
        "custody.verify",
        item,
        decision,
        Some(Rule::P7),
        rule_detail,
    );
    node.write(Batch {
        writes: vec![],
        audit: vec![draft],
    })
    .await?;
    if !problems.is_empty() {
        return Err(bad_gateway(problems.join("; ")));
    }
    Ok(CustodyReport {
        holder: party.to_string(),
        checkpoint: note,
        entries,
    })
}
