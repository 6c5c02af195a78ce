//! Federation: what crosses between nodes, and how.
//!
//! **Sending.** Released items, agreement events, incident reports and destruction certificates
//! wait in the durable outbox. A delivery task takes each peer's pending messages in order,
//! seals up to [`BATCH`] of them in an envelope (HPKE to the peer, signed by this node, R8) and
//! posts it to the peer's `/federation/v1/inbox`, with up to [`WINDOW`] envelopes in flight
//! (each after the first names the message it follows, so the peer applies them in order). The envelope's id is made from the
//! sequence numbers it carries, so after a crash the same messages go again under the same id.
//! Only a signed reply that verifies marks them delivered and stores the receipts (M3); until
//! then the peer is retried with backoff (100 ms doubling to 30 s), which ends at once when the
//! peer is heard from (an envelope or a checkpoint of its that verifies: it is up again).
//!
//! Each peer is delivered to by a task of its own, and every call is bounded
//! (`crate::client`), so a slow or hostile peer delays only itself (H4). A reply is a typed
//! `SignedReply`: it may acknowledge only what the envelope carried, with receipts only for its
//! items.
//!
//! **Receiving.** [`receive`] is the inbox's door: the protocol version, then the sender must be
//! a party whose descriptor this node's officer imported and the envelope's signature must
//! verify before anything is answered, a stored reply included (H5). A resent envelope is
//! answered with the reply it got the first time; envelopes from one partner are applied one at
//! a time. What the envelope says is applied by `crate::service::inbox`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use gsomia_core::{PartyCode, Rule};
use gsomia_crypto::envelope::{self, CryptoRng, Envelope, Header, RngCore};
use gsomia_store::{Batch, OutboxMessage, PartyRecord, Verdict, Write};
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::node::Node;
use crate::node::entry;
use crate::protocol::{Message, Numbered, Payload, SignedReply};
use crate::service::items::unseal_object;

/// The content type of what partners post to each other.
pub const JSON: &[(&str, &str)] = &[("content-type", "application/json")];

/// The most messages in one envelope.
pub const BATCH: usize = 200;

/// The most envelopes in flight to one peer at a time: the peer checks the next while it
/// commits the one before, and this node commits receipts while the next are under way.
pub const WINDOW: usize = 4;

/// The most envelopes one round of delivery sends: as each is answered the next is built and
/// sent, so the window stays full until the round ends; the next round reads the world, the
/// peer's record and the signing key afresh.
pub const ROUND: usize = 16;

/// The operating system's generator, for HPKE.
pub struct OsRng;

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

fn forbidden(code: &'static str, rule: Rule, message: String) -> ApiError {
    ApiError {
        status: axum::http::StatusCode::FORBIDDEN,
        code,
        message,
        rule: Some(rule),
    }
}

// ---------------------------------------------------------------------------------------------
// Sending.

/// The envelope carrying `messages` to `peer`.
fn build(
    node: &Node,
    peer: PartyCode,
    messages: &[OutboxMessage],
    after: Option<u64>,
    signer: &gsomia_crypto::SigningKey,
) -> Result<Envelope, String> {
    // Each message is read from the store and unsealed on its own: spread over the cores.
    let out = crate::node::par_map(messages, |m| message_of(node, peer, m))
        .into_iter()
        .collect::<Result<Vec<Value>, String>>()?;
    let (first, last) = (
        messages.first().map_or(0, |m| m.seq),
        messages.last().map_or(0, |m| m.seq),
    );
    let header = Header {
        protocol: gsomia_crypto::envelope::PROTOCOL,
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
    let payload = serde_json::to_vec(&Payload {
        after,
        messages: out,
    })
    .map_err(|e| e.to_string())?;
    envelope::seal(signer, &key, header, &payload, &mut OsRng).map_err(|e| e.to_string())
}

/// One outbox message as it goes on the wire: an item is read from the store and unsealed.
fn message_of(node: &Node, peer: PartyCode, m: &OutboxMessage) -> Result<Value, String> {
    let message = match m.kind.as_str() {
        "item" => {
            let p = &m.payload;
            let (id, version) = (p["id"].as_str().unwrap_or_default(), p["version"].as_str());
            let stored =
                crate::service::items::stored(node, id, version).map_err(|e| e.to_string())?;
            let Some(stored) = stored else {
                return Err(format!("outbox item `{id}` is no longer stored"));
            };
            match unseal_object(node, &stored).map_err(|e| e.message)? {
                // Destroyed after release: nothing to send; the receiver gets a notice.
                None => Message::Withdrawn {
                    payload: json!({ "id": id }),
                },
                Some(object) => Message::Item {
                    item: json!({
                        "label": stored.label, "object": object, "binding": stored.binding,
                        "marking": stored.marking, "custody": stored.custody,
                    }),
                    // The originators' consents that let this node release it to `peer`, for
                    // the item or standing for one of its topics (R4, R4b).
                    consents: crate::service::items::consents_used(
                        &node.world(),
                        id,
                        &stored.label,
                        node.party(),
                        peer,
                        node.today(),
                    )
                    .into_iter()
                    .cloned()
                    .collect(),
                },
            }
        }
        kind => Message::from_outbox(kind, m.payload.clone())?,
    };
    let numbered = Numbered {
        seq: m.seq,
        message,
    };
    serde_json::to_value(numbered).map_err(|e| e.to_string())
}

/// Delivers a round of `peer`'s pending messages: up to [`ROUND`] envelopes, [`WINDOW`] of them
/// in flight at once, each but the first naming the last message of the one before
/// (`Payload::after`), so that the peer applies them in order. Replies are checked and
/// committed in order, and each answered envelope makes room for the next; the first reply
/// that fails ends the round (what came after is sent again). `Ok(true)` if something was
/// delivered.
pub async fn deliver_once(node: &Arc<Node>, peer: PartyCode) -> Result<bool, String> {
    let first = node
        .store()
        .outbox_after(peer, 0, BATCH)
        .map_err(|e| e.to_string())?;
    if first.is_empty() {
        return Ok(false);
    }
    // The consents sent with an item are the world's: as of now, whichever process took them.
    node.refresh_world().map_err(|e| e.to_string())?;
    let record_of = node
        .store()
        .parties()
        .map_err(|e| e.to_string())?
        .into_iter()
        .find(|p| p.code == peer);
    let Some(peer_record) = record_of else {
        return Err(format!("{peer} is not a known party"));
    };
    if peer_record.endpoint.is_none() {
        return Err(format!("{peer} has no endpoint"));
    }
    let key = peer_record
        .keys
        .verifying_key()
        .map_err(|e| e.to_string())?;
    // Up to a queued rotation notice, under the key the partner holds (K1).
    let (signer, until) = crate::rotation::signer_for(node, peer)?;
    let upto = |messages: Vec<OutboxMessage>| -> Vec<OutboxMessage> {
        match until {
            Some(last) => messages.into_iter().take_while(|m| m.seq <= last).collect(),
            None => messages,
        }
    };
    // Each envelope is posted as soon as it is built: the peer works on the first while the
    // next are built and sent.
    let mut in_flight = std::collections::VecDeque::new();
    let mut next = Some(upto(first));
    let (mut after, mut sent, mut delivered) = (None, 0, false);
    loop {
        while in_flight.len() < WINDOW && sent < ROUND {
            let chunk = match next.take() {
                Some(chunk) => chunk,
                None => upto(
                    node.store()
                        .outbox_after(peer, after.unwrap_or(0), BATCH)
                        .map_err(|e| e.to_string())?,
                ),
            };
            if chunk.is_empty() {
                break;
            }
            let env = build(node, peer, &chunk, after, &signer.signing)?;
            after = chunk.last().map(|m| m.seq);
            let body = serde_json::to_vec(&env).map_err(|e| e.to_string())?;
            let (sender, record) = (node.clone(), peer_record.clone());
            let post = tokio::spawn(async move {
                sender
                    .post_to(&record, "/federation/v1/inbox", JSON, body)
                    .await
            });
            in_flight.push_back((chunk, env.header, post, std::time::Instant::now()));
            sent += 1;
        }
        let Some((chunk, header, post, started)) = in_flight.pop_front() else {
            break;
        };
        let answer = post
            .await
            .map_err(|e| format!("the delivery to {peer} stopped: {e}"))??;
        settle(node, peer, &key, &chunk, &header, answer).await?;
        delivered = true;
        node.metrics()
            .delivery_seconds
            .get_or_create(&crate::metrics::PartnerLabels {
                partner: peer.to_string(),
            })
            .observe(started.elapsed().as_secs_f64());
    }
    Ok(delivered)
}

/// Checks `peer`'s answer to the envelope `header` that carried `messages`, and commits what
/// it acknowledges: the signed receipts (M3) and the messages delivered.
async fn settle(
    node: &Node,
    peer: PartyCode,
    key: &gsomia_crypto::VerifyingKey,
    messages: &[OutboxMessage],
    header: &Header,
    (status, reply): (u16, Vec<u8>),
) -> Result<(), String> {
    if status != 200 {
        // The peer's text is cut short: it goes to this node's log.
        let text: String = String::from_utf8_lossy(&reply).chars().take(200).collect();
        return Err(format!("{peer} answered {status}: {text}"));
    }
    let reply: SignedReply = serde_json::from_slice(&reply)
        .map_err(|e| format!("{peer}'s reply is not a reply of this protocol: {e}"))?;
    if !reply.verifies(key) {
        return Err(format!(
            "{peer}'s reply, or a receipt in it, does not verify"
        ));
    }
    let body = &reply.reply;
    if body.envelope != header.id {
        return Err(format!("{peer} answered another envelope"));
    }
    // A reply acknowledges at most what the envelope carried, and receipts only for its items,
    // made by the peer itself: a peer can not mark other messages delivered or claim to hold
    // items it was not sent.
    let through = body.through;
    if through > header.seq.1 {
        return Err(format!(
            "{peer} acknowledged message {through}, beyond the envelope's last ({})",
            header.seq.1
        ));
    }
    let sent: Vec<(&str, &str)> = messages
        .iter()
        .filter(|m| m.kind == "item")
        .filter_map(|m| Some((m.payload["id"].as_str()?, m.payload["version"].as_str()?)))
        .collect();
    let mut writes = vec![];
    for r in &body.receipts {
        let (item, version) = (r.receipt.item.as_str(), r.receipt.version.as_str());
        if r.receipt.party != peer || !sent.contains(&(item, version)) {
            return Err(format!(
                "{peer} sent a receipt for `{item}` version `{version}`, which this envelope did not carry"
            ));
        }
        writes.push(Write::PutReceipt(Box::new(r.clone())));
    }
    writes.push(Write::Delivered {
        peer,
        through,
        at: node.now_text(),
    });
    let detail = json!({ "envelope": header.id, "through": through, "receipts": body.receipts.len(), "refusals": body.refusals });
    let audit = vec![entry(
        node,
        "node",
        "federation.delivered",
        peer.as_str(),
        Verdict::Record,
        None,
        detail,
    )];
    node.write(Batch { writes, audit })
        .await
        .map_err(|e| e.message)?;
    tracing::info!(%peer, envelope = %header.id, through, receipts = body.receipts.len(), refusals = body.refusals.len(), "delivered");
    Ok(())
}

/// Runs delivery until `stop` is set: each peer with pending messages is served by a task of
/// its own, so that a slow, hung or hostile peer delays only itself (H4). Woken when something
/// is queued, and every 500 ms regardless.
pub async fn run_delivery(node: Arc<Node>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut tasks: HashMap<PartyCode, tokio::task::JoinHandle<()>> = HashMap::new();
    loop {
        if *stop.borrow() {
            break;
        }
        // Of several processes sharing the store, the lease's holder delivers.
        let peers = if node.holds("delivery") {
            node.store().peers_pending()
        } else {
            Ok(vec![])
        };
        match peers {
            Ok(peers) => {
                for peer in peers {
                    if tasks.get(&peer).is_some_and(|t| !t.is_finished()) {
                        continue;
                    }
                    let task = tokio::spawn(drain(node.clone(), peer, stop.clone()));
                    tasks.insert(peer, task);
                }
            }
            Err(e) => tracing::error!(error = %e, "delivery: the outbox can not be read"),
        }
        tokio::select! {
            _ = node.outbox_queued() => {}
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = stop.changed() => {}
        }
    }
    for (_, task) in tasks {
        let _ = task.await;
    }
}

/// Delivers `peer`'s pending messages until none is left or `stop` is set, retrying failures
/// with backoff (100 ms doubling to 30 s, cut short when the peer is heard from).
async fn drain(node: Arc<Node>, peer: PartyCode, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut wait = Duration::from_millis(100);
    while !*stop.borrow() && node.holds("delivery") {
        let delivered = tokio::select! {
            r = deliver_once(&node, peer) => r,
            // Stopping does not wait for a peer that does not answer.
            _ = stop.changed() => return,
        };
        match delivered {
            Ok(true) => {
                node.delivery_outcome(peer.as_str(), None);
                wait = Duration::from_millis(100);
            }
            Ok(false) => return,
            Err(e) => {
                node.delivery_outcome(peer.as_str(), Some(e.clone()));
                tracing::warn!(%peer, error = %e, retry_in_ms = wait.as_millis() as u64, "delivery failed");
                // A peer that comes back is heard from (its own deliveries, its checkpoints):
                // then the backoff ends at once.
                let heard = node.hearing(peer);
                let back = tokio::select! {
                    _ = tokio::time::sleep(wait) => false,
                    _ = heard.notified() => true,
                    _ = stop.changed() => false,
                };
                wait = match back {
                    true => Duration::from_millis(100),
                    false => (wait * 2).min(Duration::from_secs(30)),
                };
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Receiving: the transport. What an envelope says is applied by `crate::service::inbox`.

/// The inbox: checks and applies an envelope, returns the signed reply.
///
/// Order matters (H5): the sender must be a party whose descriptor this node's officer
/// imported, and the envelope's signature must verify with its key, before anything is
/// answered, a stored reply included. Unauthenticated refusals are logged with a rate limit,
/// never audited. Envelopes from one partner are applied one at a time; partners do not wait
/// for each other (H4).
pub async fn receive(node: &Node, env: Envelope) -> Result<Value, ApiError> {
    let from = env.header.from;
    if env.header.protocol != envelope::PROTOCOL {
        crate::node::log_unauthenticated("inbox", "another protocol version");
        return Err(ApiError::bad_request(format!(
            "federation protocol version {} is not spoken here (this node speaks {})",
            env.header.protocol,
            envelope::PROTOCOL
        )));
    }
    let parties = node.store().parties()?;
    let Some(sender) = parties
        .iter()
        .find(|p| p.code == from && p.code != node.party())
    else {
        crate::node::log_unauthenticated("inbox", "unknown sender");
        return Err(forbidden(
            "unknown_sender",
            Rule::R1,
            "the sender is not a party known to this node".to_owned(),
        ));
    };
    let key = sender
        .keys
        .verifying_key()
        .map_err(crate::service::internal)?;
    let opened = node.open_envelope(&env, &key).map_err(|e| {
        let rule = match e {
            envelope::EnvelopeError::Signature(_) => {
                crate::node::log_unauthenticated("inbox", "bad signature");
                Rule::M1
            }
            _ => Rule::R8,
        };
        forbidden("bad_envelope", rule, e.to_string())
    })?;
    node.heard_from(from);
    // Parsed and checked before it waits its turn: this overlaps the envelope before it.
    let checked = crate::service::inbox::check(node, from, opened)?;
    let gate = node.inbox_gate(from);
    let mut turn = gate.lock().await;
    // An envelope that follows another waits, bounded, until that one is applied.
    let waited = std::time::Instant::now();
    loop {
        if let Some(reply) = node.store().reply(from, &env.header.id)? {
            return Ok(reply);
        }
        // Sent again while it is being committed: its stored reply once it is.
        if let Some(before) = turn.before.take_if(|b| b.envelope == env.header.id) {
            settled(node, from, before).await?;
            continue;
        }
        let Some(after) = checked.after() else { break };
        let applied = turn.before.as_ref().map_or(0, |b| b.uncommitted.through());
        if node.store().inbox_mark(from)?.max(applied) >= after {
            break;
        }
        if waited.elapsed() > FOLLOWER_WAIT {
            return Err(ApiError {
                status: axum::http::StatusCode::CONFLICT,
                code: "out_of_order",
                message: format!(
                    "envelope `{}` follows message {after}, which is not applied here: send the \
                     envelope before it first",
                    env.header.id
                ),
                rule: None,
            });
        }
        drop(turn);
        tokio::time::sleep(Duration::from_millis(2)).await;
        turn = gate.lock().await;
    }
    // An envelope of items is applied while the one before is committed, against what that
    // one stores; anything else waits for the commit (see `inbox::Uncommitted`).
    if let Some(before) =
        (turn.before).take_if(|b| !(b.uncommitted.can_precede() && checked.only_items()))
    {
        settled(node, from, before).await?;
    }
    let before = turn.before.as_ref().map(|b| &b.uncommitted);
    let applied = crate::service::inbox::apply(node, from, &env.header.id, checked, before).await?;
    // Committed in order: this batch goes to the writer only once the one before is stored.
    if let Some(before) = turn.before.take() {
        settled(node, from, before).await?;
    }
    let submitted = node.submit_indexed(applied.batch, applied.documents);
    let (done, committed) = tokio::sync::watch::channel(None);
    turn.before = Some(Committing {
        envelope: env.header.id.clone(),
        uncommitted: applied.uncommitted,
        done: committed,
    });
    drop(turn);
    let result = submitted.committed().await;
    drop(applied.agreements);
    done.send_replace(Some(result.is_ok()));
    result.map(|_| applied.reply)
}

/// A partner's turn at this node's inbox: the envelope before, while it is being committed.
#[derive(Default)]
pub struct Turn {
    before: Option<Committing>,
}

/// An envelope applied and handed to the writer, not yet known committed.
struct Committing {
    envelope: String,
    uncommitted: crate::service::inbox::Uncommitted,
    /// `Some(true)` once committed, `Some(false)` if the commit failed; closed with `None` if
    /// its request ended before it heard (the store then tells).
    done: tokio::sync::watch::Receiver<Option<bool>>,
}

/// Waits until the envelope before is committed. If it was not, neither is the one waiting:
/// the partner sends both again (its outbox keeps them until receipted).
async fn settled(node: &Node, from: PartyCode, before: Committing) -> Result<(), ApiError> {
    let mut done = before.done;
    let outcome = done.wait_for(Option::is_some).await.map(|o| *o);
    let stored = match outcome {
        Ok(outcome) => outcome == Some(true),
        Err(_) => {
            let waited = std::time::Instant::now();
            loop {
                if node.store().inbox_mark(from)? >= before.uncommitted.through() {
                    break true;
                }
                if waited.elapsed() > FOLLOWER_WAIT {
                    break false;
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
    };
    match stored {
        true => Ok(()),
        false => Err(ApiError {
            status: axum::http::StatusCode::SERVICE_UNAVAILABLE,
            code: "not_stored",
            message: format!(
                "envelope `{}`, applied before this one, was not stored: send both again",
                before.envelope
            ),
            rule: None,
        }),
    }
}

/// How long an envelope waits for the one it follows before it is answered 409: under load
/// the one before may wait seconds for its commit, so this is long, but within the sender's
/// 30 s bound on a call (`crate::client`).
const FOLLOWER_WAIT: Duration = Duration::from_secs(20);
