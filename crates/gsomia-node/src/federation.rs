//! Federation (SPEC §7, §5): what crosses between nodes.
//!
//! **Sending.** Released items, agreement events, incident reports and destruction certificates
//! wait in the durable outbox. A delivery task takes each peer's pending messages in order (up
//! to [`BATCH`] at a time), seals them in one envelope (HPKE to the peer, signed by this node,
//! R8) and posts it to the peer's `/federation/v1/inbox`. The envelope's id is made from the
//! sequence numbers it carries, so after a crash the same messages go again under the same id.
//! Only a signed reply that verifies marks them delivered and stores the receipts (M3); until
//! then the peer is retried with backoff (100 ms doubling to 30 s).
//!
//! **Receiving.** The sender must be a party whose descriptor this node's officer imported;
//! anything else is refused before the envelope is opened. Until an agreement with this node
//! names the sender, only its agreement proposals are taken (A1); its other messages are refused
//! (R1). Then the signature, the addressee and the
//! decryption (M1, R8); a resent envelope is answered with the reply it got the first time, and
//! messages already applied (by sequence number) are skipped: exactly once in effect, in order
//! per sender. Each item is checked from this side (its binding, R6; R1–R3 as the release
//! decision), marked with this party's equivalent level, given its custody hop (M2), sealed,
//! stored and acknowledged with a signed receipt (M3). Everything is audited.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use gsomia_core::{Decision, Item, ItemFile, PartyCode, Rule};
use gsomia_crypto::envelope::{self, CryptoRng, Envelope, Header, RngCore};
use gsomia_store::{AuditDraft, Batch, OutboxMessage, PartyRecord, Store, StoredItem, Write};
use serde_json::{Value, json};

use crate::api::{seal_item, unseal_object};
use crate::error::ApiError;
use crate::node::Node;
use crate::node::entry;

/// The most messages in one envelope.
pub const BATCH: usize = 200;

/// The operating system's generator, for HPKE.
pub(crate) struct OsRng;

impl RngCore for OsRng {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.fill_bytes(&mut b);
        u32::from_le_bytes(b)
    }
    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.fill_bytes(&mut b);
        u64::from_le_bytes(b)
    }
    fn fill_bytes(&mut self, dst: &mut [u8]) {
        // INVARIANT: the OS generator does not fail on Linux once the system has booted; a
        // failure here must not produce predictable keys, so it aborts the delivery.
        if getrandom::fill(dst).is_err() {
            std::process::abort();
        }
    }
}

impl CryptoRng for OsRng {}

fn decode32(text: &str) -> Option<[u8; 32]> {
    STANDARD.decode(text).ok()?.try_into().ok()
}

/// A party's X25519 key, from its descriptor.
pub(crate) fn encryption_key(record: &PartyRecord) -> Result<[u8; 32], String> {
    decode32(&record.keys.encryption)
        .ok_or_else(|| format!("no encryption key for {}", record.code))
}

fn forbidden(code: &'static str, rule: Option<&'static str>, message: String) -> ApiError {
    ApiError {
        status: axum::http::StatusCode::FORBIDDEN,
        code,
        message,
        rule,
    }
}

// ---------------------------------------------------------------------------------------------
// Sending.

/// The envelope carrying `messages` to `peer`.
fn build(node: &Node, peer: PartyCode, messages: &[OutboxMessage]) -> Result<Envelope, String> {
    let mut out = Vec::with_capacity(messages.len());
    for m in messages {
        let body = match m.kind.as_str() {
            "item" => {
                let p = &m.payload;
                let (id, version) = (p["id"].as_str().unwrap_or_default(), p["version"].as_str());
                let stored = node.store().item(id, version).map_err(|e| e.to_string())?;
                let Some(stored) = stored else {
                    return Err(format!("outbox item `{id}` is no longer stored"));
                };
                let Some(object) = unseal_object(node, &stored).map_err(|e| e.message)? else {
                    // Destroyed after release: nothing to send; the receiver gets a notice.
                    out.push(json!({ "seq": m.seq, "kind": "withdrawn", "payload": { "id": id } }));
                    continue;
                };
                // The originators' consents that let this node release it to `peer` (R4).
                let consents: Vec<gsomia_core::Consent> = node
                    .world()
                    .consents_for(id)
                    .filter(|c| {
                        c.holder == node.party() && c.to == gsomia_core::Grantee::Party(peer)
                    })
                    .cloned()
                    .collect();
                json!({
                    "seq": m.seq, "kind": "item",
                    "item": {
                        "label": stored.label, "object": object, "binding": stored.binding,
                        "marking": stored.marking, "custody": stored.custody,
                    },
                    "consents": consents,
                })
            }
            _ => json!({ "seq": m.seq, "kind": m.kind, "payload": m.payload }),
        };
        out.push(body);
    }
    let (first, last) = (
        messages.first().map_or(0, |m| m.seq),
        messages.last().map_or(0, |m| m.seq),
    );
    let header = Header {
        from: node.party(),
        to: peer,
        id: format!("{}-{peer}-{first}-{last}", node.party()),
        seq: (first, last),
        sent: node.now_text(),
    };
    let key = node
        .store()
        .parties()
        .map_err(|e| e.to_string())?
        .into_iter()
        .find(|p| p.code == peer)
        .ok_or_else(|| format!("no encryption key for {peer}"))
        .and_then(|p| encryption_key(&p))?;
    let payload = serde_json::to_vec(&json!({ "messages": out })).map_err(|e| e.to_string())?;
    envelope::seal(&node.keys().signing, &key, header, &payload, &mut OsRng)
        .map_err(|e| e.to_string())
}

/// Delivers one envelope of `peer`'s pending messages. `Ok(true)` if something was delivered.
pub async fn deliver_once(node: &Node, peer: &str) -> Result<bool, String> {
    let messages = node
        .store()
        .outbox_pending(peer, BATCH)
        .map_err(|e| e.to_string())?;
    if messages.is_empty() {
        return Ok(false);
    }
    let code: PartyCode = peer
        .parse()
        .map_err(|e: gsomia_core::party::BadPartyCode| e.to_string())?;
    let record_of = node
        .store()
        .parties()
        .map_err(|e| e.to_string())?
        .into_iter()
        .find(|p| p.code == code);
    let Some(peer_record) = record_of else {
        return Err(format!("{peer} is not a known party"));
    };
    let endpoint = peer_record
        .endpoint
        .clone()
        .ok_or_else(|| format!("{peer} has no endpoint"))?;
    let env = build(node, code, &messages)?;
    let body = serde_json::to_vec(&env).map_err(|e| e.to_string())?;
    let url = format!("{}/federation/v1/inbox", endpoint.trim_end_matches('/'));
    let (status, reply) = crate::client::request("POST", &url, None, Some(body)).await?;
    if status != 200 {
        return Err(format!(
            "{peer} answered {status}: {}",
            String::from_utf8_lossy(&reply)
        ));
    }
    let reply: Value = serde_json::from_slice(&reply).map_err(|e| e.to_string())?;
    let key = peer_record
        .keys
        .verifying_key()
        .map_err(|e| e.to_string())?;
    let signature = reply["signature"].as_str().unwrap_or_default();
    if !gsomia_crypto::statement::verify(&key, "reply", &reply["reply"], signature) {
        return Err(format!("{peer}'s reply does not verify"));
    }
    let body = &reply["reply"];
    if body["envelope"] != env.header.id.as_str() {
        return Err(format!("{peer} answered another envelope"));
    }
    let through = body["through"].as_u64().unwrap_or(0);
    let mut writes = vec![];
    for r in body["receipts"].as_array().into_iter().flatten() {
        if !gsomia_crypto::statement::verify(
            &key,
            "receipt",
            &r["receipt"],
            r["signature"].as_str().unwrap_or_default(),
        ) {
            return Err(format!("a receipt from {peer} does not verify"));
        }
        writes.push(Write::PutReceipt {
            item: r["receipt"]["item"].as_str().unwrap_or_default().to_owned(),
            version: r["receipt"]["version"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            party: peer.to_owned(),
            receipt: r.clone(),
        });
    }
    writes.push(Write::Delivered {
        peer: peer.to_owned(),
        through,
        at: node.now_text(),
    });
    let detail = json!({ "envelope": env.header.id, "through": through, "receipts": body["receipts"].as_array().map_or(0, Vec::len), "refusals": body["refusals"] });
    let audit = vec![entry(
        node,
        "node",
        "federation.delivered",
        peer,
        "record",
        None,
        detail,
    )];
    node.write(Batch { writes, audit })
        .await
        .map_err(|e| e.message)?;
    Ok(true)
}

/// Runs delivery until `stop` is set: every peer with pending messages, in turn, with backoff
/// for peers that fail. Woken when something is queued, and every 500 ms regardless.
pub async fn run_delivery(node: Arc<Node>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut backoff: HashMap<String, (tokio::time::Instant, Duration)> = HashMap::new();
    loop {
        if *stop.borrow() {
            return;
        }
        let peers = node.store().peers_pending().unwrap_or_default();
        let mut busy = false;
        for peer in peers {
            let now = tokio::time::Instant::now();
            if backoff.get(&peer).is_some_and(|(until, _)| *until > now) {
                continue;
            }
            match deliver_once(&node, &peer).await {
                Ok(delivered) => {
                    backoff.remove(&peer);
                    busy |= delivered;
                }
                Err(e) => {
                    let wait = backoff
                        .get(&peer)
                        .map_or(Duration::from_millis(100), |(_, d)| {
                            (*d * 2).min(Duration::from_secs(30))
                        });
                    tracing::warn!(%peer, error = %e, retry_in_ms = wait.as_millis() as u64, "delivery failed");
                    backoff.insert(peer, (now + wait, wait));
                }
            }
        }
        if busy {
            continue;
        }
        tokio::select! {
            _ = node.outbox_queued() => {}
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = stop.changed() => {}
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Receiving.

/// The inbox: checks and applies an envelope, returns the signed reply.
pub async fn receive(node: &Node, env: Envelope) -> Result<Value, ApiError> {
    let from = env.header.from;
    let world = node.world();
    // A sender is a party only if an agreement with this node names it: checked before anything
    // else is done with the envelope.
    let named = world
        .agreements_between(from, node.party())
        .next()
        .is_some();
    // A party whose descriptor this node's officer imported, but that no agreement names yet,
    // may only propose one (A1); its other messages are refused below.
    let record_of = node.store().parties()?.into_iter().find(|p| p.code == from);
    let Some(sender) = record_of else {
        return Err(forbidden(
            "unknown_sender",
            Some("R1"),
            format!(
                "{from} is not a party to any agreement with {}",
                node.party()
            ),
        ));
    };
    if let Some(reply) = node.store().reply(from.as_str(), &env.header.id)? {
        return Ok(reply);
    }
    let key = sender
        .keys
        .verifying_key()
        .map_err(|e| forbidden("unknown_sender", Some("R1"), e.to_string()))?;
    let secret = node.keys().encryption.to_bytes();
    let opened = envelope::open(&env, &key, node.party(), &secret).map_err(|e| {
        let rule = match e {
            envelope::EnvelopeError::Signature(_) => "M1",
            _ => "R8",
        };
        forbidden("bad_envelope", Some(rule), e.to_string())
    })?;
    let payload: Value = serde_json::from_slice(&opened.into_inner())
        .map_err(|e| ApiError::bad_request(format!("envelope payload: {e}")))?;
    let mark = node.store().inbox_mark(from.as_str())?;
    let parties = node.store().parties()?;
    let mut through = mark;
    let mut writes = vec![];
    let mut audit = vec![];
    let mut receipts = vec![];
    let mut refusals = vec![];
    for m in payload["messages"].as_array().into_iter().flatten() {
        let seq = m["seq"].as_u64().unwrap_or(0);
        if seq <= through {
            continue; // already applied: exactly once in effect
        }
        through = seq;
        let kind = m["kind"].as_str().unwrap_or_default();
        if !named && kind != "agreement_proposal" {
            let message = format!(
                "{from} is not a party to any agreement with {}",
                node.party()
            );
            audit.push(entry(
                node,
                from.as_str(),
                &format!("{kind}.received"),
                from.as_str(),
                "deny",
                Some(Rule::R1),
                json!({ "message": message }),
            ));
            refusals.push(json!({ "seq": seq, "rule": "R1", "message": message }));
            continue;
        }
        let outcome = match kind {
            "item" => receive_item(
                node,
                (from, &parties),
                &m["item"],
                &m["consents"],
                &mut writes,
                &mut audit,
            ),
            "agreement_event" => receive_event(node, from, &m["payload"], &mut writes, &mut audit),
            "reclassification" => receive_reclassification(
                node,
                (from, &parties),
                &m["payload"],
                &mut writes,
                &mut audit,
            ),
            "agreement_proposal" => receive_proposal(
                node,
                (from, &parties),
                &m["payload"],
                &mut writes,
                &mut audit,
            ),
            "consent_request" => {
                receive_consent_request(node, from, &m["payload"], &mut writes, &mut audit)
            }
            "consent" => receive_consent(node, from, &m["payload"], &mut writes, &mut audit),
            kind => {
                // Incident reports, destruction certificates, refused consents, withdrawn
                // notices: recorded.
                audit.push(entry(
                    node,
                    from.as_str(),
                    &format!("{kind}.received"),
                    from.as_str(),
                    "record",
                    None,
                    m["payload"].clone(),
                ));
                Ok(None)
            }
        };
        match outcome {
            Ok(Some(receipt)) => receipts.push(receipt),
            Ok(None) => {}
            Err((rule, message)) => {
                refusals.push(json!({ "seq": seq, "rule": rule.id(), "message": message }))
            }
        }
    }
    let body = json!({
        "envelope": env.header.id, "from": node.party(), "through": through,
        "receipts": receipts, "refusals": refusals,
    });
    let reply = json!({ "reply": body, "signature": gsomia_crypto::statement::sign(&node.keys().signing, "reply", &body) });
    writes.push(Write::Received {
        peer: from.to_string(),
        through,
        envelope: env.header.id.clone(),
        reply: reply.clone(),
    });
    // The world changes only with agreements and consents: rebuild it only then.
    let reload = writes
        .iter()
        .any(|w| matches!(w, Write::PutAgreement(_) | Write::PutConsent(_)));
    node.write(Batch { writes, audit }).await?;
    if reload {
        node.reload_world().map_err(|e| {
            ApiError::new(
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                e.to_string(),
            )
        })?;
    }
    Ok(reply)
}

type Outcome = Result<Option<Value>, (Rule, String)>;

/// M1–M3 for one item.
fn receive_item(
    node: &Node,
    (from, parties): (PartyCode, &[PartyRecord]),
    msg: &Value,
    consents: &Value,
    writes: &mut Vec<Write>,
    audit: &mut Vec<AuditDraft>,
) -> Outcome {
    // Consents that travel with the item count only if their originator's signature verifies
    // here (R4); they join this side's world for the decision, and are kept.
    let carried: Vec<gsomia_core::Consent> = consents
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| serde_json::from_value::<gsomia_core::Consent>(c.clone()).ok())
        .filter(|c| crate::node::consent_verifies(parties, c))
        .collect();
    for c in &carried {
        writes.push(Write::PutConsent(c.clone()));
    }
    let world = if carried.is_empty() {
        node.world()
    } else {
        std::sync::Arc::new(node.world().with_consents(carried))
    };
    let me = node.party();
    let file: ItemFile = serde_json::from_value(msg.clone())
        .map_err(|e| (Rule::M1, format!("malformed item: {e}")))?;
    let item = Item::new(file).map_err(|e| (Rule::M1, format!("{}: {}", e.place, e.problem)))?;
    let id = item.id().to_owned();
    let refuse = |rule: Rule, message: String, audit: &mut Vec<AuditDraft>| {
        refuse_message(node, from, "item.receive", &id, rule, message, audit)
    };
    if item.holder() != from {
        return refuse(
            Rule::M1,
            format!("{from} sent an item held by {}", item.holder()),
            audit,
        );
    }
    if let Err(e) = world.check_item(&item) {
        return refuse(Rule::M1, format!("{}: {}", e.place, e.problem), audit);
    }
    // R6: the originator's binding.
    let originator = item.label().originator;
    let key = parties
        .iter()
        .find(|p| p.code == originator)
        .and_then(|p| p.keys.verifying_key().ok());
    let Some(key) = key else {
        return refuse(
            Rule::R6,
            format!("the key of originator {originator} is unknown"),
            audit,
        );
    };
    if let Err(e) = gsomia_crypto::verify_binding(&key, &item) {
        return refuse(Rule::R6, e.to_string(), audit);
    }
    // R1–R5 from this side, as the sender's release decision.
    let (agreement, marking) = match gsomia_core::release(&world, &item, me, node.today()) {
        Decision::Allow(r) => (r.agreement.id().clone(), r.marking),
        Decision::Deny(r) => return refuse(r.rule, r.message, audit),
    };
    let version = item.modified().unwrap_or("-").to_owned();
    let received = node.now_text();
    let already = node
        .store()
        .item(&id, Some(&version))
        .ok()
        .flatten()
        .is_some();
    if !already {
        let mut custody = item.custody().to_vec();
        custody.push(gsomia_core::Hop {
            from,
            to: me,
            agreement: agreement.clone(),
            level: marking.level.clone(),
            at: received
                .parse()
                .map_err(|_| (Rule::M2, "clock".to_owned()))?,
        });
        let stored = StoredItem {
            marking: Some(marking.clone()),
            custody,
            ..seal_item(node, &item, &version).map_err(|e| (Rule::M2, e.message))?
        };
        writes.push(Write::PutItem(Box::new(stored)));
        let detail = json!({ "version": version, "agreement": agreement, "marking": marking });
        audit.push(entry(
            node,
            from.as_str(),
            "item.receive",
            &id,
            "allow",
            Some(Rule::M2),
            detail,
        ));
    }
    let receipt = json!({ "item": id, "version": version, "party": me, "marking": marking, "agreement": agreement, "received": received });
    let signature = gsomia_crypto::statement::sign(&node.keys().signing, "receipt", &receipt);
    Ok(Some(json!({ "receipt": receipt, "signature": signature })))
}

/// A partner's own agreement event (A7).
fn receive_event(
    node: &Node,
    from: PartyCode,
    payload: &Value,
    writes: &mut Vec<Write>,
    audit: &mut Vec<AuditDraft>,
) -> Outcome {
    let id = payload["agreement"].as_str().unwrap_or_default().to_owned();
    let event: gsomia_core::Event = serde_json::from_value(payload["event"].clone())
        .map_err(|e| (Rule::A7, format!("malformed event: {e}")))?;
    let world = node.world();
    let outcome = if event.by != from {
        Err(format!("{from} sent an event made by {}", event.by))
    } else {
        match world.agreement(&id) {
            None => Err(format!("no agreement `{id}` here")),
            Some(a) => a
                .with_event(event.clone())
                .map_err(|e| e.problem.to_string()),
        }
    };
    match outcome {
        Ok(updated) => {
            writes.push(Write::PutAgreement(Box::new(updated.file().clone())));
            audit.push(entry(
                node,
                from.as_str(),
                "agreement.event.received",
                &id,
                "allow",
                Some(Rule::A7),
                json!({ "event": event }),
            ));
            Ok(None)
        }
        Err(message) => refuse_message(
            node,
            from,
            "agreement.event.received",
            &id,
            Rule::A7,
            message,
            audit,
        ),
    }
}

/// A partner asks for this party's consent to release one of this party's items onward.
fn receive_consent_request(
    node: &Node,
    from: PartyCode,
    payload: &Value,
    writes: &mut Vec<Write>,
    audit: &mut Vec<AuditDraft>,
) -> Outcome {
    let item = payload["item"].as_str().unwrap_or_default().to_owned();
    let ours = payload["originator"] == node.party().as_str() && payload["holder"] == from.as_str();
    if !ours {
        let message = format!(
            "{from} asked for consent on an item this node did not originate, or for another holder"
        );
        return refuse_message(
            node,
            from,
            "consent.request.received",
            &item,
            Rule::R4,
            message,
            audit,
        );
    }
    writes.push(Write::AddConsentRequest(payload.clone()));
    audit.push(entry(
        node,
        from.as_str(),
        "consent.request.received",
        &item,
        "record",
        Some(Rule::R4),
        payload.clone(),
    ));
    Ok(None)
}

/// The originator's signed consent arrives at the holder; kept only if it verifies (R4).
fn receive_consent(
    node: &Node,
    from: PartyCode,
    payload: &Value,
    writes: &mut Vec<Write>,
    audit: &mut Vec<AuditDraft>,
) -> Outcome {
    let consent: gsomia_core::Consent = serde_json::from_value(payload["consent"].clone())
        .map_err(|e| (Rule::R4, format!("malformed consent: {e}")))?;
    let parties = node
        .store()
        .parties()
        .map_err(|e| (Rule::R4, e.to_string()))?;
    let sound = consent.originator == from
        && consent.holder == node.party()
        && crate::node::consent_verifies(&parties, &consent);
    if !sound {
        let message = format!(
            "consent `{}` from {from} does not verify or is not for this node",
            consent.id
        );
        return refuse_message(
            node,
            from,
            "consent.received",
            &consent.item,
            Rule::R4,
            message,
            audit,
        );
    }
    audit.push(entry(
        node,
        from.as_str(),
        "consent.received",
        &consent.item,
        "allow",
        Some(Rule::R4),
        json!({ "consent": consent }),
    ));
    writes.push(Write::PutConsent(consent));
    Ok(None)
}

/// The parties this node released an item to: those whose receipts it holds.
pub fn released_to(node: &Node, id: &str) -> Result<Vec<String>, gsomia_store::StoreError> {
    let mut parties: Vec<String> = node
        .store()
        .receipts(id)?
        .iter()
        .filter_map(|r| r["receipt"]["party"].as_str().map(str::to_owned))
        .collect();
    parties.sort();
    parties.dedup();
    Ok(parties)
}

/// The originator's reclassification (M4), from the originator or passed on by a holder: it
/// counts only if the originator's binding of the new label verifies over this node's copy. It
/// is applied along the custody chain and passed on to whoever this node released the item to.
fn receive_reclassification(
    node: &Node,
    (from, parties): (PartyCode, &[PartyRecord]),
    payload: &Value,
    writes: &mut Vec<Write>,
    audit: &mut Vec<AuditDraft>,
) -> Outcome {
    let id = payload["id"].as_str().unwrap_or_default().to_owned();
    let refuse = |message: String, audit: &mut Vec<AuditDraft>| {
        refuse_message(
            node,
            from,
            "item.reclassify.received",
            &id,
            Rule::M4,
            message,
            audit,
        )
    };
    let Ok(label) = serde_json::from_value::<gsomia_core::Label>(payload["label"].clone()) else {
        return refuse("malformed label".into(), audit);
    };
    let stored = match node.store().item(&id, None) {
        Ok(Some(s)) => s,
        _ => return refuse(format!("no item `{id}` here"), audit),
    };
    if label.originator != stored.label.originator {
        return refuse(
            format!("{} is not the originator of `{id}`", label.originator),
            audit,
        );
    }
    let Ok(Some(object)) = unseal_object(node, &stored) else {
        return refuse(format!("item `{id}` was destroyed here"), audit);
    };
    let binding = payload["binding"].as_str().unwrap_or_default().to_owned();
    let file = ItemFile {
        label: label.clone(),
        object,
        marking: None,
        custody: vec![],
        binding: Some(binding.clone()),
    };
    let key = parties
        .iter()
        .find(|p| p.code == label.originator)
        .and_then(|p| p.keys.verifying_key().ok());
    let sound = match (Item::new(file), key) {
        (Ok(item), Some(k)) => gsomia_crypto::verify_binding(&k, &item).is_ok(),
        _ => false,
    };
    if !sound {
        return refuse(
            "the originator's binding of the new label does not verify".into(),
            audit,
        );
    }
    let custody = match gsomia_core::reclassification::remark_custody(
        &node.world(),
        label.originator,
        &label.level,
        &stored.custody,
    ) {
        Ok(c) => c,
        Err(r) => return refuse(r.message, audit),
    };
    let marking = custody.last().map(|h| gsomia_core::Marking {
        party: h.to,
        level: h.level.clone(),
        originator: label.originator,
    });
    let detail = json!({ "level": label.level, "marking": marking });
    writes.push(Write::Reclassify {
        id: id.clone(),
        label: Box::new(label),
        binding,
        marking,
        custody,
    });
    for p in released_to(node, &id).unwrap_or_default() {
        writes.push(Write::Enqueue {
            peer: p,
            kind: "reclassification".into(),
            payload: payload.clone(),
            at: node.now_text(),
        });
    }
    audit.push(entry(
        node,
        from.as_str(),
        "item.reclassify.received",
        &id,
        "allow",
        Some(Rule::M4),
        detail,
    ));
    Ok(None)
}

/// A partner proposes an agreement naming this party: kept (pending until this party's
/// authority signs it, A1) if it is sound, names both, and carries no signature but the
/// proposer's.
fn receive_proposal(
    node: &Node,
    (from, parties): (PartyCode, &[PartyRecord]),
    payload: &Value,
    writes: &mut Vec<Write>,
    audit: &mut Vec<AuditDraft>,
) -> Outcome {
    let id = payload["id"].as_str().unwrap_or_default().to_owned();
    let checked = (|| -> Result<gsomia_core::AgreementFile, String> {
        let file: gsomia_core::AgreementFile =
            serde_json::from_value(payload.clone()).map_err(|e| e.to_string())?;
        let a = gsomia_core::Agreement::new(file.clone()).map_err(|e| e.to_string())?;
        if !a.names(node.party()) || !a.names(from) {
            return Err("the agreement does not name both parties".into());
        }
        if file
            .events
            .iter()
            .any(|e| e.by != from || e.kind != gsomia_core::EventKind::Signed)
        {
            return Err(format!(
                "a proposal from {from} carries only {from}'s signature"
            ));
        }
        if node.world().agreement(&id).is_some() {
            return Err(format!("agreement `{id}` exists here"));
        }
        let mut all = node.store().agreements().map_err(|e| e.to_string())?;
        all.push(file.clone());
        crate::node::build_world(parties.to_vec(), all, vec![]).map_err(|e| e.to_string())?;
        Ok(file)
    })();
    match checked {
        Ok(file) => {
            writes.push(Write::PutAgreement(Box::new(file)));
            audit.push(entry(
                node,
                from.as_str(),
                "agreement.proposal.received",
                &id,
                "allow",
                Some(Rule::A1),
                json!({}),
            ));
            Ok(None)
        }
        Err(message) => refuse_message(
            node,
            from,
            "agreement.proposal.received",
            &id,
            Rule::A7,
            message,
            audit,
        ),
    }
}

/// Audits the refusal of a partner's message and returns it for the signed reply.
fn refuse_message(
    node: &Node,
    from: PartyCode,
    action: &str,
    subject: &str,
    rule: Rule,
    message: String,
    audit: &mut Vec<AuditDraft>,
) -> Outcome {
    let detail = json!({ "message": message });
    audit.push(entry(
        node,
        from.as_str(),
        action,
        subject,
        "deny",
        Some(rule),
        detail,
    ));
    Err((rule, message))
}
