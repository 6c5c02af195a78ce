//! The inbox (SPEC §5, §7): what a partner's authenticated envelope says, applied for a partner
//! that may be hostile (H1–H6). `crate::federation::receive` checks the protocol version, the
//! sender and the envelope's signature before it calls [`apply`], which takes only an opened
//! envelope (`Verified<Vec<u8>>`).
//!
//! Each item is checked from this side: H1 (an id held under another originator is refused),
//! the originator's binding (R6), H2 (each carried consent is about the item, from its
//! originator, for the sender to give to this party, and verifies; otherwise the item is
//! refused whole, and consents are stored only with the accepted item), R1–R5 as the release
//! decision, H3; then it is marked with this party's equivalent level, given its custody hop
//! (M2), sealed, stored and acknowledged with a signed receipt (M3). Reclassifications come only
//! from the originator or the hop the item came from, only newer than the label held, never
//! about this party's own items, and are passed on to the parties the item was released to,
//! never back (M4). Everything is audited.

use std::collections::HashMap;
use std::sync::Arc;

use gsomia_core::{
    Agreement, Consent, Covered, Decision, Grantee, Item, ItemFile, Letter, PartyCode, Rule, World,
};
use gsomia_crypto::Verified;
use gsomia_store::{AuditDraft, Batch, PartyRecord, StoredItem, Verdict, Write};
use serde::Deserialize;
use serde_json::{Value, json};

use super::items::{seal_received, unseal_object};
use crate::error::ApiError;
use crate::node::{Node, entry};
use crate::protocol::{Message, Numbered, Payload, Receipt, Refused, Reply, SignedReply};

/// What is refused of a partner's message: the rule and why, for the signed reply. An item
/// accepted gives its receipt, signed with the others once the envelope is applied.
type Outcome = Result<Option<Receipt>, (Rule, String)>;

/// A message as it stands before the envelope's messages are applied in order: parsed, and for
/// an item, the checks that depend on nothing but the message itself (its shape and holder,
/// M1, and its originator's binding, R6). These are done for the whole envelope first, spread
/// over the cores ([`crate::node::par_map`]); the checks that depend on what came before (H1,
/// consents, R1–R5) are made in order.
enum Prepared {
    /// Not a message of this protocol.
    Malformed(String),
    /// An item, checked alone, with the consents it carries.
    Item {
        item: Result<PreparedItem, Refusal>,
        consents: Vec<Consent>,
    },
    /// Any other message.
    Other(Message),
}

/// An item that passed M1: its binding verified with its originator's key, or why not (R6,
/// refused only after H1, in order).
struct PreparedItem {
    item: Arc<Item>,
    /// The verified item and its object's canonical form (sealed as it is), or why not.
    binding: Result<(Verified<Arc<Item>>, Vec<u8>), String>,
}

/// Each party's verifying keys (K1: current and replaced), decoded once for an envelope.
type Keys = [(PartyCode, Vec<gsomia_crypto::VerifyingKey>)];

/// An item refused on its own (M1): about what, and why.
struct Refusal {
    subject: String,
    message: String,
}

/// A message with its sequence number, prepared; `None` for one without `seq`.
fn prepare(world: &World, keys: &Keys, from: PartyCode, raw: &Value) -> Option<(u64, Prepared)> {
    let seq = raw["seq"].as_u64()?;
    let prepared = match Numbered::deserialize(raw) {
        Err(e) => Prepared::Malformed(format!(
            "message {seq} is not a message of this protocol: {e}"
        )),
        Ok(Numbered {
            message: Message::Item { item, consents },
            ..
        }) => Prepared::Item {
            item: prepare_item(world, keys, from, &item),
            consents,
        },
        Ok(Numbered { message, .. }) => Prepared::Other(message),
    };
    Some((seq, prepared))
}

/// M1 and R6 for one item, alone.
fn prepare_item(
    world: &World,
    keys: &Keys,
    from: PartyCode,
    msg: &Value,
) -> Result<PreparedItem, Refusal> {
    let refusal = |subject: &str, message: String| Refusal {
        subject: subject.to_owned(),
        message,
    };
    let file =
        ItemFile::deserialize(msg).map_err(|e| refusal("-", format!("malformed item: {e}")))?;
    let item = Item::new(file).map_err(|e| refusal("-", format!("{}: {}", e.place, e.problem)))?;
    let id = item.id();
    if item.holder() != from {
        return Err(refusal(
            id,
            format!("{from} sent an item held by {}", item.holder()),
        ));
    }
    if let Err(e) = world.check_item(&item) {
        return Err(refusal(id, format!("{}: {}", e.place, e.problem)));
    }
    let originator = item.label().originator;
    let item = Arc::new(item);
    let binding = match keys.iter().find(|(code, _)| *code == originator) {
        None => Err(format!("the key of originator {originator} is unknown")),
        Some((_, keys)) => crate::node::verify_binding_with(originator, keys, item.clone()),
    };
    Ok(PreparedItem { item, binding })
}

/// One envelope being applied: the sender, what it has changed so far, what to commit.
struct Inbox<'a> {
    node: &'a Node,
    from: PartyCode,
    parties: &'a [PartyRecord],
    world: Arc<World>,
    /// Agreements changed by earlier messages of this envelope.
    agreements: HashMap<String, Agreement>,
    writes: Vec<Write>,
    audit: Vec<AuditDraft>,
    /// The items it stores, in clear, to be indexed without decrypting them again.
    clear: Vec<Arc<Item>>,
    /// What the partner's envelope before this one stores, when it is not committed yet.
    before: Option<&'a Uncommitted>,
}

/// What an applied envelope leaves for the next envelope of the same partner to see while its
/// batch is not yet committed: the last message it applied and the items it stores (H1 and
/// "received once" look here before the store). Only an envelope of items is applied against
/// it, and only when it changes nothing of the world (agreements, consents, parties); the
/// rest waits for the commit.
pub struct Uncommitted {
    through: u64,
    items: HashMap<String, (gsomia_core::Label, Vec<String>)>,
    world: bool,
}

impl Uncommitted {
    /// The last message of the partner it applied.
    pub fn through(&self) -> u64 {
        self.through
    }

    /// Whether an envelope of items can be applied before this one is committed.
    pub fn can_precede(&self) -> bool {
        !self.world
    }
}

/// An envelope applied: the batch to commit, the signed reply to answer once it is committed,
/// and what the next envelope sees of it before then.
pub struct Applied<'a> {
    /// The writes and audit entries, the stored reply among them.
    pub batch: Batch,
    /// The search documents of the items it stores ([`crate::node::Node::submit_indexed`]).
    pub documents: Vec<crate::search::Prepared>,
    /// The gate of agreement changes, held until the batch is committed and the world read
    /// again when the envelope changes agreements (A7).
    pub agreements: Option<tokio::sync::MutexGuard<'a, ()>>,
    /// The signed reply, answered once the batch is committed.
    pub reply: Value,
    /// What the partner's next envelope sees of this one until then.
    pub uncommitted: Uncommitted,
}

impl Inbox<'_> {
    /// Audits the refusal of a partner's message and returns it for the signed reply.
    fn refuse(&mut self, action: &str, subject: &str, rule: Rule, message: String) -> Outcome {
        let detail = json!({ "message": message });
        let from = self.from.as_str();
        self.audit.push(entry(
            self.node,
            from,
            action,
            subject,
            Verdict::Deny,
            Some(rule),
            detail,
        ));
        Err((rule, message))
    }

    fn record(
        &mut self,
        action: &str,
        subject: &str,
        decision: Verdict,
        rule: Option<Rule>,
        detail: Value,
    ) {
        let from = self.from.as_str();
        self.audit.push(entry(
            self.node, from, action, subject, decision, rule, detail,
        ));
    }

    /// The newest version of item `id`, counting what this envelope stored so far (an item and
    /// its reclassification may travel in one envelope).
    fn stored_item(&self, id: &str) -> Result<Option<StoredItem>, ApiError> {
        debug_assert!(
            self.before.is_none(),
            "only items are applied before a commit"
        );
        let pending = self.writes.iter().rev().find_map(|w| match w {
            Write::PutItem(s) if s.id == id => Some((**s).clone()),
            _ => None,
        });
        match pending {
            Some(s) => Ok(Some(s)),
            None => Ok(crate::service::items::stored(self.node, id, None)?),
        }
    }

    /// Whether version `version` of item `id` is held, counting what this envelope stored (the
    /// same item twice in one envelope is received once).
    fn holds_version(&self, id: &str, version: &str) -> Result<bool, ApiError> {
        let pending = self
            .writes
            .iter()
            .any(|w| matches!(w, Write::PutItem(s) if s.id == id && s.modified == version));
        let before = (self.before.and_then(|b| b.items.get(id)))
            .is_some_and(|(_, versions)| versions.iter().any(|v| v == version));
        Ok(pending
            || before
            || crate::service::items::stored(self.node, id, Some(version))?.is_some())
    }

    /// The label of the newest version of item `id`, counting what this envelope and the
    /// uncommitted one before it store.
    fn item_label(&self, id: &str) -> Result<Option<gsomia_core::Label>, ApiError> {
        let pending = self.writes.iter().rev().find_map(|w| match w {
            Write::PutItem(s) if s.id == id => Some(s.label.clone()),
            _ => None,
        });
        let before = || (self.before.and_then(|b| b.items.get(id))).map(|(label, _)| label.clone());
        match pending.or_else(before) {
            Some(label) => Ok(Some(label)),
            None => Ok(crate::service::items::stored(self.node, id, None)?.map(|s| s.label)),
        }
    }

    /// The consent held under `id`, counting what this envelope stored or revoked.
    fn held_consent(&self, id: &str) -> Option<Consent> {
        let pending = self.writes.iter().rev().find_map(|w| match w {
            Write::PutConsent(c) | Write::RevokeConsent(c) if c.id == id => Some((**c).clone()),
            _ => None,
        });
        pending.or_else(|| self.world.consent(id).cloned())
    }

    /// Keeps `updated` (an agreement a partner's message changed), for the rest of the
    /// envelope and the store, and records the change.
    fn keep_agreement(&mut self, updated: Agreement, action: &str, rule: Rule, detail: Value) {
        let id = updated.id().to_string();
        self.writes
            .push(Write::PutAgreement(Box::new(updated.file().clone())));
        self.agreements.insert(id.clone(), updated);
        self.record(action, &id, Verdict::Allow, Some(rule), detail);
    }

    /// The agreement as this envelope has left it so far.
    fn agreement(&self, id: &str) -> Option<Agreement> {
        self.agreements
            .get(id)
            .cloned()
            .or_else(|| self.world.agreement(id).cloned())
    }
}

/// An opened envelope, parsed, with each message [`Prepared`] against the world as it was
/// (`version`): done before the envelope waits its turn, so that it overlaps the applying of the
/// envelope before it. [`apply`] prepares it again if the world changed in between.
pub struct Checked {
    payload: Payload,
    prepared: Vec<Option<(u64, Prepared)>>,
    parties: Vec<PartyRecord>,
    version: u64,
}

impl Checked {
    /// The message this envelope follows, when the sender had several in flight.
    pub fn after(&self) -> Option<u64> {
        self.payload.after
    }

    /// Whether every message is an item: such an envelope may be applied while the one before
    /// it is committed.
    pub fn only_items(&self) -> bool {
        (self.payload.messages.iter()).all(|m| m["kind"].as_str() == Some("item"))
    }
}

/// Parses an opened envelope from partner `from` and prepares its messages.
pub fn check(node: &Node, from: PartyCode, opened: Verified<Vec<u8>>) -> Result<Checked, ApiError> {
    let payload: Payload = serde_json::from_slice(&opened.into_inner())
        .map_err(|e| ApiError::bad_request(format!("envelope payload: {e}")))?;
    check_payload(node, from, payload)
}

fn check_payload(node: &Node, from: PartyCode, payload: Payload) -> Result<Checked, ApiError> {
    // The version first: a change after it is seen by `apply`.
    let version = node.world_seen();
    let parties = node.store().parties()?;
    let world = node.world();
    let keys: Vec<_> = (parties.iter())
        .map(|p| (p.code, crate::node::verifying_keys(p)))
        .collect();
    let prepared = crate::node::par_map(&payload.messages, |raw| prepare(&world, &keys, from, raw));
    Ok(Checked {
        payload,
        prepared,
        parties,
        version,
    })
}

/// Applies a checked envelope from partner `from`: what to commit and the signed reply.
/// Envelopes from one partner are applied one at a time (the caller holds its inbox lock);
/// `before` is what the one before stores when it is not committed yet (only for an envelope
/// of items, see [`Uncommitted`]).
pub async fn apply<'a>(
    node: &'a Node,
    from: PartyCode,
    envelope_id: &str,
    checked: Checked,
    before: Option<&Uncommitted>,
) -> Result<Applied<'a>, ApiError> {
    let payload = &checked.payload;
    // Whoever changes agreements holds the gate from reading them to reloading the world (A7).
    let touches_agreements = payload.messages.iter().any(|m| {
        matches!(
            m["kind"].as_str(),
            Some("agreement_event" | "agreement_proposal" | "amendment")
        )
    });
    let agreements = match touches_agreements {
        true => Some(node.agreements_gate.lock().await),
        false => None,
    };
    // Parties, agreements or consents changed since it was prepared (by the envelope before it,
    // or an officer): prepared again against the world as it is now.
    let Checked {
        prepared, parties, ..
    } = match checked.version == node.world_seen() {
        true => checked,
        false => check_payload(node, from, checked.payload)?,
    };
    let parties = &parties[..];
    let world = node.world();
    // A sender is a partner only once this party signed an agreement with it; before that it
    // may only propose one (A1).
    let named = crate::node::partner(&world, node.party(), from);
    let mut through = node.store().inbox_mark(from)?;
    if let Some(b) = before {
        through = through.max(b.through);
    }
    let mut cx = Inbox {
        node,
        from,
        parties,
        world,
        agreements: HashMap::new(),
        writes: vec![],
        audit: vec![],
        clear: vec![],
        before,
    };
    let mut receipts = vec![];
    let mut refusals = vec![];
    for numbered in prepared {
        let Some((seq, message)) = numbered else {
            refusals.push(Refused {
                seq: None,
                rule: Rule::M1,
                message: "a message without `seq`".into(),
            });
            continue;
        };
        if seq <= through {
            continue; // already applied: exactly once in effect
        }
        through = seq;
        let outcome = match message {
            Prepared::Malformed(why) => cx.refuse("message.received", from.as_str(), Rule::M1, why),
            Prepared::Other(Message::AgreementProposal { payload }) => {
                receive_proposal(&mut cx, &payload)?
            }
            _ if !named => {
                let kind = match &message {
                    Prepared::Other(message) => message.kind(),
                    _ => "item",
                };
                cx.refuse(
                    &format!("{kind}.received"),
                    from.as_str(),
                    Rule::R1,
                    format!(
                        "{from} is not a party to any agreement with {}",
                        node.party()
                    ),
                )
            }
            Prepared::Item { item, consents } => receive_item(&mut cx, item, consents)?,
            Prepared::Other(message) => apply_one(&mut cx, message)?,
        };
        match outcome {
            Ok(Some(receipt)) => receipts.push(receipt),
            Ok(None) => {}
            Err((rule, message)) => refusals.push(Refused {
                seq: Some(seq),
                rule,
                message,
            }),
        }
    }
    let Inbox {
        mut writes,
        audit,
        clear,
        ..
    } = cx;
    let documents = documents(&writes, &clear);
    // M3: a receipt for each item, all signed with one signature.
    let receipts = crate::protocol::sign_receipts(&node.keys().signing, receipts);
    let reply = SignedReply::sign(
        &node.keys().signing,
        Reply {
            envelope: envelope_id.to_owned(),
            from: node.party(),
            through,
            receipts,
            refusals,
        },
    );
    let reply = serde_json::to_value(&reply).map_err(crate::service::internal)?;
    let mut items: HashMap<String, (gsomia_core::Label, Vec<String>)> = HashMap::new();
    for w in &writes {
        if let Write::PutItem(s) = w {
            let (label, versions) =
                (items.entry(s.id.to_string())).or_insert_with(|| (s.label.clone(), vec![]));
            *label = s.label.clone();
            versions.push(s.modified.clone());
        }
    }
    let world = writes.iter().any(Write::changes_world);
    writes.push(Write::Received {
        peer: from,
        through,
        envelope: envelope_id.to_owned(),
        reply: reply.clone(),
    });
    Ok(Applied {
        batch: Batch { writes, audit },
        documents,
        agreements,
        reply,
        uncommitted: Uncommitted {
            through,
            items,
            world,
        },
    })
}

/// The search documents of the items `writes` stores, made from them in `clear` (spread over
/// the cores), so that they are not decrypted again to be indexed.
fn documents(writes: &[Write], clear: &[Arc<Item>]) -> Vec<crate::search::Prepared> {
    let stored: Vec<(&StoredItem, &Item)> = (writes.iter())
        .filter_map(|w| match w {
            Write::PutItem(s) => clear
                .iter()
                .find(|i| i.id() == s.id.as_str() && i.version() == s.modified)
                .map(|i| (&**s, &**i)),
            _ => None,
        })
        .collect();
    crate::node::par_map(&stored, |(s, item)| {
        crate::service::search::document(s, item.object())
    })
}

/// Applies one message. `Err` only when this node fails (its store): the envelope is then
/// answered with an error and applied again when it is resent.
fn apply_one(cx: &mut Inbox, message: Message) -> Result<Outcome, ApiError> {
    Ok(match message {
        // Prepared and received before this is called.
        Message::Item { .. } => Ok(None),
        Message::AgreementEvent { payload } => receive_event(cx, &payload),
        Message::AgreementProposal { payload } => receive_proposal(cx, &payload)?,
        Message::Reclassification { payload } => receive_reclassification(cx, &payload)?,
        Message::ConsentRequest { payload } => receive_consent_request(cx, &payload)?,
        Message::Consent { payload } => receive_consent(cx, &payload)?,
        // Incident reports and results (P6), destruction certificates (P5), refused consents,
        // withdrawn releases: recorded as the partner signed them.
        Message::Withdrawn { payload } => recorded(cx, "withdrawn", payload),
        Message::ConsentRefused { payload } => recorded(cx, "consent_refused", payload),
        Message::Incident { payload } => receive_incident(cx, "incident", &payload)?,
        Message::Result { payload } => receive_incident(cx, "result", &payload)?,
        Message::Destruction { payload } => recorded(cx, "destruction", payload),
        Message::Return { payload } => receive_return(cx, &payload)?,
        Message::Letter { payload } => receive_letter(cx, &payload)?,
        Message::Assurance { payload } => receive_assurance(cx, &payload)?,
        Message::Amendment { payload } => receive_amendment(cx, &payload)?,
        Message::Rotation { payload } => receive_rotation(cx, &payload),
    })
}

/// K1: the sender's new keys, signed by the key held for it. The keys it replaces are kept to
/// verify what they signed before; the world is rebuilt with the new ones.
fn receive_rotation(cx: &mut Inbox, payload: &Value) -> Outcome {
    let from = cx.from;
    let action = "party.rotate";
    let notice: crate::rotation::Notice = match serde_json::from_value(payload.clone()) {
        Ok(n) => n,
        Err(e) => {
            return cx.refuse(
                action,
                from.as_str(),
                Rule::K1,
                format!("not a rotation notice: {e}"),
            );
        }
    };
    // What this envelope already changed counts: a second notice must replace the first's keys.
    let held = cx
        .writes
        .iter()
        .rev()
        .find_map(|w| match w {
            Write::PutParty(p) if p.code == from => Some(p.clone()),
            _ => None,
        })
        .or_else(|| cx.parties.iter().find(|p| p.code == from).cloned());
    let Some(held) = held else {
        return cx.refuse(
            action,
            from.as_str(),
            Rule::K1,
            format!("{from} is not known"),
        );
    };
    match notice.check(&held) {
        Err(why) => cx.refuse(action, from.as_str(), Rule::K1, why),
        Ok(record) => {
            let detail = json!({
                "old_fingerprint": held.keys.fingerprint(),
                "new_fingerprint": record.keys.fingerprint(),
                "signing_key": record.keys.signing,
                "tls_pin": record.tls_pin,
            });
            cx.writes.push(Write::PutParty(record));
            cx.record(
                action,
                from.as_str(),
                Verdict::Allow,
                Some(Rule::K1),
                detail,
            );
            Ok(None)
        }
    }
}

/// P6: a holder's report of loss or compromise (or its result) about an item this node holds,
/// kept with the node's incidents, the holder named. A report about an item not held here, or
/// sent in another holder's name, is refused.
fn receive_incident(cx: &mut Inbox, kind: &str, payload: &Value) -> Result<Outcome, ApiError> {
    let from = cx.from;
    let action = format!("{kind}.received");
    let incident: gsomia_store::Incident = match serde_json::from_value(payload["incident"].clone())
    {
        Ok(i) => i,
        Err(e) => {
            let m = format!("not an incident report: {e}");
            return Ok(cx.refuse(&action, from.as_str(), Rule::M1, m));
        }
    };
    if payload["holder"].as_str() != Some(from.as_str()) {
        let m = format!("a report in another holder's name, sent by {from}");
        return Ok(cx.refuse(&action, &incident.item, Rule::M1, m));
    }
    if cx.stored_item(&incident.item)?.is_none() {
        let m = format!("`{}` is not an item held here", incident.item);
        return Ok(cx.refuse(&action, &incident.item, Rule::P6, m));
    }
    let kept = gsomia_store::Incident {
        id: 0,
        // Its number at the holder names it in the holder's follow-ups; ours are our own.
        follows: None,
        reported_by: format!("{from}: {}", incident.reported_by),
        ..incident
    };
    cx.record(
        &action,
        &kept.item,
        Verdict::Record,
        Some(Rule::P6),
        json!({ "kind": kept.kind, "reported_by": kept.reported_by, "description": kept.description }),
    );
    cx.writes.push(Write::AddIncident(kept));
    Ok(Ok(None))
}

fn recorded(cx: &mut Inbox, kind: &str, payload: Value) -> Outcome {
    let from = cx.from;
    cx.record(
        &format!("{kind}.received"),
        from.as_str(),
        Verdict::Record,
        None,
        payload,
    );
    Ok(None)
}

/// A partner's letter under an agreement (N1, D1, V1, V2): kept once it is the sender's, under
/// an agreement naming both, signed by the sender, under an id nobody's letter holds, addressed
/// to this party (a visit request: to visit it), and answers what it says it answers.
fn receive_letter(cx: &mut Inbox, payload: &Value) -> Result<Outcome, ApiError> {
    let action = "letter.received";
    let (from, me) = (cx.from, cx.node.party());
    let letter = match Letter::deserialize(&payload["letter"]).map(Letter::check) {
        Ok(Ok(l)) => l,
        Ok(Err(e)) => {
            let m = format!("letter: {}: {}", e.place, e.problem);
            return Ok(cx.refuse(action, "-", Rule::M1, m));
        }
        Err(e) => return Ok(cx.refuse(action, "-", Rule::M1, format!("malformed letter: {e}"))),
    };
    let (id, rule) = (letter.id.clone(), letter.kind.rule());
    let shared = cx
        .agreement(letter.agreement.as_str())
        .is_some_and(|a| a.names(from) && a.names(me));
    if letter.from != from || !shared {
        let m = format!("letter `{id}` is not {from}'s under an agreement of {from}'s and {me}'s");
        return Ok(cx.refuse(action, &id, rule, m));
    }
    let mut held = cx.node.store().letters(letter.agreement.as_str())?;
    held.extend(cx.writes.iter().filter_map(|w| match w {
        Write::PutLetter(l) => Some((**l).clone()),
        _ => None,
    }));
    if held.iter().any(|l| l.id == id) {
        return Ok(cx.refuse(
            action,
            &id,
            Rule::H1,
            format!("letter `{id}` is held already"),
        ));
    }
    if let Some(v) = letter
        .visit
        .as_ref()
        .filter(|v| v.host != me && v.host != from)
    {
        let m = format!("a request to visit {} is not {me}'s to receive", v.host);
        return Ok(cx.refuse(action, &id, rule, m));
    }
    if let Err(m) = Letter::may_answer(&letter, &held, &cx.world) {
        return Ok(cx.refuse(action, &id, rule, m));
    }
    let verified = match crate::node::verify_signed(cx.parties, from, letter) {
        Ok(v) => v,
        Err(m) => return Ok(cx.refuse(action, &id, rule, m)),
    };
    cx.record(
        action,
        &id,
        Verdict::Allow,
        Some(rule),
        json!({ "letter": *verified }),
    );
    cx.writes.push(Write::PutLetter(verified));
    Ok(Ok(None))
}

/// A partner's assurance (S1): kept once it is the sender's, given to this party under an
/// agreement naming both, under an id no assurance holds, and signed by the sender.
fn receive_assurance(cx: &mut Inbox, payload: &Value) -> Result<Outcome, ApiError> {
    let action = "assurance.received";
    let (from, me) = (cx.from, cx.node.party());
    let assurance =
        match gsomia_core::Assurance::deserialize(&payload["assurance"]).map(|a| a.check()) {
            Ok(Ok(a)) => a,
            Ok(Err(e)) => {
                let m = format!("assurance: {}: {}", e.place, e.problem);
                return Ok(cx.refuse(action, "-", Rule::S1, m));
            }
            Err(e) => {
                let m = format!("malformed assurance: {e}");
                return Ok(cx.refuse(action, "-", Rule::S1, m));
            }
        };
    let id = assurance.id.clone();
    let shared = cx
        .agreement(assurance.agreement.as_str())
        .is_some_and(|a| a.names(from) && a.names(me));
    if assurance.by != from || assurance.to != me || !shared {
        let m = format!("assurance `{id}` is not {from}'s to {me} under an agreement of both");
        return Ok(cx.refuse(action, &id, Rule::S1, m));
    }
    let pending = cx
        .writes
        .iter()
        .any(|w| matches!(w, Write::PutAssurance(a) if a.id == id));
    if pending || cx.world.assurances().iter().any(|a| a.id == id) {
        let m = format!("assurance `{id}` is held already");
        return Ok(cx.refuse(action, &id, Rule::H1, m));
    }
    let verified = match crate::node::verify_assurance(cx.parties, assurance) {
        Ok(v) => v,
        Err(m) => return Ok(cx.refuse(action, &id, Rule::S1, m)),
    };
    cx.record(
        action,
        &id,
        Verdict::Allow,
        Some(Rule::S1),
        json!({ "assurance": *verified }),
    );
    cx.writes.push(Write::PutAssurance(verified));
    Ok(Ok(None))
}

/// A holder returns one of this node's items (P8): recorded once the certificate is about an
/// item of this party's held here, names the sender as the holder, and carries the sender's
/// signature.
fn receive_return(cx: &mut Inbox, payload: &Value) -> Result<Outcome, ApiError> {
    let action = "item.returned";
    let (from, me) = (cx.from, cx.node.party());
    let certificate = &payload["certificate"];
    let id = certificate["item"].as_str().unwrap_or("-").to_owned();
    let names = |k: &str, p: PartyCode| certificate[k].as_str() == Some(p.as_str());
    if !names("originator", me) || !names("holder", from) {
        let m = format!("the certificate of return is not {from}'s return of an item of {me}'s");
        return Ok(cx.refuse(action, &id, Rule::P8, m));
    }
    let own = cx.item_label(&id)?.is_some_and(|l| l.originator == me);
    if !own {
        return Ok(cx.refuse(
            action,
            &id,
            Rule::P8,
            format!("no item `{id}` of {me}'s here"),
        ));
    }
    let signed = payload["signature"].as_str().is_some_and(|s| {
        cx.parties
            .iter()
            .filter(|p| p.code == from)
            .flat_map(crate::node::verifying_keys)
            .any(|key| gsomia_crypto::statement::verify(&key, "return", certificate, s))
    });
    if !signed {
        let m = format!("the certificate of return of `{id}` does not verify with {from}'s key");
        return Ok(cx.refuse(action, &id, Rule::P8, m));
    }
    cx.record(action, &id, Verdict::Allow, Some(Rule::P8), payload.clone());
    Ok(Ok(None))
}

/// M1–M3 for one item, with H1–H3; M1 and the binding were checked by [`prepare_item`].
fn receive_item(
    cx: &mut Inbox,
    prepared: Result<PreparedItem, Refusal>,
    consents: Vec<Consent>,
) -> Result<Outcome, ApiError> {
    let (node, from, me) = (cx.node, cx.from, cx.node.party());
    let action = "item.receive";
    let PreparedItem { item, binding } = match prepared {
        Ok(p) => p,
        Err(r) => return Ok(cx.refuse(action, &r.subject, Rule::M1, r.message)),
    };
    let id = item.id().to_owned();
    let originator = item.label().originator;
    // H1: an item id belongs to its originator; nobody else's message shadows it.
    if let Some(held) = cx.item_label(&id)?
        && held.originator != originator
    {
        let m = format!(
            "`{id}` is held here as an item of {}: an item id belongs to its originator, and \
             {from} can not send one of {originator} under it",
            held.originator
        );
        return Ok(cx.refuse(action, &id, Rule::H1, m));
    }
    // R6: the originator's binding.
    let (verified, content) = match binding {
        Ok(v) => v,
        Err(e) => return Ok(cx.refuse(action, &id, Rule::R6, e)),
    };
    // H2: each consent carried with it is about this item (or, standing, one of its topics),
    // from one of its originators, for the sender to release to this party, and verifies;
    // otherwise the item is refused whole. A consent held here already counts as held: with
    // the revocation the originator may have sent since (R4b), which a copy carried without it
    // does not undo.
    let covered = Covered {
        id: &id,
        topics: &item.label().topics,
        purpose: &item.label().purpose,
    };
    let mut carried = vec![];
    let mut counted = vec![];
    for c in consents {
        let fits = c.is_about(covered)
            && item.label().originators().any(|o| o == c.originator)
            && c.holder == from
            && c.to == Grantee::Party(me);
        if !fits {
            let m = format!(
                "consent `{}` carried with `{id}` is not one of its originators' consents for \
                 {from} to release it to {me}",
                c.id
            );
            return Ok(cx.refuse(action, &id, Rule::H2, m));
        }
        let held = cx.held_consent(&c.id);
        if let Some(other) = held
            .as_ref()
            .map(|h| h.originator)
            .filter(|o| *o != c.originator)
        {
            let m = format!(
                "consent `{}` is held here from {other}: a consent id belongs to its originator",
                c.id
            );
            return Ok(cx.refuse(action, &id, Rule::H1, m));
        }
        match crate::node::verify_consent(cx.parties, c) {
            Ok(v) => match held {
                Some(h) => counted.push(h),
                None => carried.push(v),
            },
            Err(m) => return Ok(cx.refuse(action, &id, Rule::H2, m)),
        }
    }
    counted.extend(carried.iter().map(|c| (**c).clone()));
    let world = match counted.is_empty() {
        true => cx.world.clone(),
        false => Arc::new(cx.world.with_consents(counted)),
    };
    // R1–R5 from this side, as the sender's release decision.
    let (agreement, marking) = match gsomia_core::release(&world, &item, me, node.today()) {
        Decision::Allow(r) => (r.agreement.id().clone(), r.marking),
        Decision::Deny(r) => return Ok(cx.refuse(action, &id, r.rule, r.message)),
    };
    // H3: not below what the originator's signed label maps to.
    if let Err(r) =
        gsomia_core::reclassification::check_claimed_level(&world, &item, me, &marking.level)
    {
        return Ok(cx.refuse(action, &id, r.rule, r.message));
    }
    let version = item.version().to_owned();
    let received = node.now_text();
    if !cx.holds_version(&id, &version)? {
        let mut custody = item.custody().to_vec();
        custody.push(gsomia_core::Hop {
            from,
            to: me,
            agreement: agreement.clone(),
            level: marking.level.clone(),
            at: received.parse().map_err(crate::service::internal)?,
        });
        // The standing release rules apply to what this node receives too (a hub passing items
        // on under the originator's consent, R4b): to the item as held here.
        let topics = &item.label().topics;
        let ruled =
            (node.release_rules().iter()).any(|r| topics.iter().any(|t| r.topics.contains(t)));
        let held = match ruled {
            false => None,
            true => Some(
                Item::new(ItemFile {
                    marking: Some(marking.clone()),
                    custody: custody.clone(),
                    ..item.file().clone()
                })
                .map_err(crate::service::internal)?,
            ),
        };
        let stored = StoredItem {
            marking: Some(marking.clone()),
            custody,
            ..seal_received(node, verified, &version, &content)?
        };
        cx.clear.push(Arc::clone(&item));
        cx.writes.push(crate::service::marking::write(&stored));
        let mut rules = (vec![], vec![]);
        if let Some(held) = &held {
            crate::service::items::apply_release_rules(
                node,
                &world,
                &stored,
                held,
                &mut rules.0,
                &mut rules.1,
            );
        }
        cx.writes.push(Write::PutItem(Box::new(stored)));
        // H2: the consents are stored with the item they came with, once it is accepted.
        for c in carried {
            if cx.held_consent(&c.id).is_none() {
                cx.writes.push(Write::PutConsent(c));
            }
        }
        let detail = json!({ "version": version, "agreement": agreement, "marking": marking });
        cx.record(action, &id, Verdict::Allow, Some(Rule::M2), detail);
        cx.writes.extend(rules.0);
        cx.audit.extend(rules.1);
    }
    let receipt = Receipt {
        item: id,
        version,
        party: me,
        marking,
        agreement: agreement.to_string(),
        received,
    };
    Ok(Ok(Some(receipt)))
}

/// A partner's own agreement event (A7).
fn receive_event(cx: &mut Inbox, payload: &Value) -> Outcome {
    let action = "agreement.event.received";
    let from = cx.from;
    let id = payload["agreement"].as_str().unwrap_or_default().to_owned();
    let event = match gsomia_core::Event::deserialize(&payload["event"]) {
        Ok(e) => e,
        Err(e) => return cx.refuse(action, &id, Rule::A7, format!("malformed event: {e}")),
    };
    let outcome = if event.by != from {
        Err(format!("{from} sent an event made by {}", event.by))
    } else {
        match cx.agreement(&id) {
            None => Err(format!("no agreement `{id}` here")),
            Some(a) if !a.names(from) => Err(format!("`{id}` does not name {from}")),
            Some(a) => a
                .with_event(event.clone())
                .map_err(|e| e.problem.to_string()),
        }
    };
    match outcome {
        Ok(updated) => {
            cx.keep_agreement(updated, action, Rule::A7, json!({ "event": event }));
            Ok(None)
        }
        Err(message) => cx.refuse(action, &id, Rule::A7, message),
    }
}

/// A partner's amendment (A9): new, carrying only the sender's signature, or held here with
/// only the sender's signature added; the agreement, checked as a whole against the world, is
/// kept.
fn receive_amendment(cx: &mut Inbox, payload: &Value) -> Result<Outcome, ApiError> {
    let action = "agreement.amendment.received";
    let from = cx.from;
    let id = payload["agreement"].as_str().unwrap_or_default().to_owned();
    let amendment = match gsomia_core::agreement::Amendment::deserialize(&payload["amendment"]) {
        Ok(a) => a,
        Err(e) => return Ok(cx.refuse(action, &id, Rule::A9, format!("malformed amendment: {e}"))),
    };
    let updated = match cx.agreement(&id) {
        None => Err(format!("no agreement `{id}` here")),
        Some(a) if !a.names(cx.node.party()) => Err(format!("`{id}` does not name this party")),
        Some(a) => a
            .with_amendment(amendment.clone(), from)
            .map_err(|e| format!("{}: {}", e.place, e.problem)),
    };
    let updated = match updated {
        Ok(u) => u,
        Err(m) => return Ok(cx.refuse(action, &id, Rule::A9, m)),
    };
    let mut all = cx.node.store().agreements()?;
    all.retain(|f| f.id.as_str() != id);
    all.push(updated.file().clone());
    if let Err(e) = crate::node::build_world(cx.parties.to_vec(), all, vec![]) {
        return Ok(cx.refuse(action, &id, Rule::A9, e.to_string()));
    }
    cx.keep_agreement(updated, action, Rule::A9, json!({ "amendment": amendment }));
    Ok(Ok(None))
}

/// A partner asks for this party's consent to release one of this party's items onward.
fn receive_consent_request(cx: &mut Inbox, payload: &Value) -> Result<Outcome, ApiError> {
    let action = "consent.request.received";
    let (node, from) = (cx.node, cx.from);
    let subject = payload["item"].as_str().unwrap_or_default().to_owned();
    let request = match gsomia_core::ConsentRequest::deserialize(payload) {
        Ok(r) => r,
        Err(e) => {
            let message = format!("{from} sent a malformed consent request: {e}");
            return Ok(cx.refuse(action, &subject, Rule::R4, message));
        }
    };
    let ours = request.originator == node.party()
        && request.holder == from
        && node
            .store()
            .item(&request.item, None)?
            .is_some_and(|s| s.label.originator == node.party());
    if !ours {
        let message = format!(
            "{from} asked for consent on an item this node did not originate, or for another holder"
        );
        return Ok(cx.refuse(action, &subject, Rule::R4, message));
    }
    let item = request.item.clone();
    cx.writes.push(Write::AddConsentRequest(request));
    cx.record(
        action,
        &item,
        Verdict::Record,
        Some(Rule::R4),
        payload.clone(),
    );
    Ok(Ok(None))
}

/// The originator's signed consent arrives: kept only if it verifies, is the sender's own, is
/// for this node as the holder, concerns an item of the sender's held here (or, standing, a
/// topic: R4b), and takes no other originator's consent id (R4, H1, H2). A consent held
/// already may come again only with its originator's revocation added (R4b), which is kept; the
/// grantee of a standing consent gets its revocation too, so that items a holder carries under
/// it from then on are refused. Nothing else replaces a held consent: an old copy replayed
/// without its revocation changes nothing.
fn receive_consent(cx: &mut Inbox, payload: &Value) -> Result<Outcome, ApiError> {
    let action = "consent.received";
    let (from, me) = (cx.from, cx.node.party());
    let consent = match Consent::deserialize(&payload["consent"]).map(Consent::check) {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => {
            let m = format!("consent: {}: {}", e.place, e.problem);
            return Ok(cx.refuse(action, "-", Rule::R4, m));
        }
        Err(e) => return Ok(cx.refuse(action, "-", Rule::R4, format!("malformed consent: {e}"))),
    };
    let subject = consent.subject();
    let rule = match consent.is_standing() {
        true => Rule::R4b,
        false => Rule::R4,
    };
    let grantee_told =
        consent.is_standing() && consent.revoked.is_some() && consent.to == Grantee::Party(me);
    if consent.originator != from || !(consent.holder == me || grantee_told) {
        let m = format!(
            "consent `{}` from {from} is not {from}'s consent for this node",
            consent.id
        );
        return Ok(cx.refuse(action, &subject, rule, m));
    }
    if let Some(item) = &consent.item {
        let held = cx
            .item_label(item)?
            .is_some_and(|l| l.originators().any(|o| o == from));
        if !held {
            let m = format!("no item `{subject}` of {from} is held here");
            return Ok(cx.refuse(action, &subject, rule, m));
        }
    }
    let held = cx.held_consent(&consent.id);
    if let Some(h) = &held {
        let revokes = h.revoked.is_none()
            && consent.revoked.is_some()
            && Consent {
                revoked: None,
                ..consent.clone()
            } == *h;
        if !revokes {
            let m = match h.originator == from {
                true => format!(
                    "consent `{}` is held already; it may come again only with its \
                     originator's revocation",
                    consent.id
                ),
                false => format!(
                    "consent `{}` is held here from {}: a consent id belongs to its originator",
                    consent.id, h.originator
                ),
            };
            return Ok(cx.refuse(action, &subject, Rule::H1, m));
        }
    }
    let verified = match crate::node::verify_consent(cx.parties, consent) {
        Ok(v) => v,
        Err(m) => return Ok(cx.refuse(action, &subject, rule, m)),
    };
    let (action, write) = match held {
        Some(_) => ("consent.revoked", Write::RevokeConsent(verified.clone())),
        None => (action, Write::PutConsent(verified.clone())),
    };
    cx.record(
        action,
        &subject,
        Verdict::Allow,
        Some(rule),
        json!({ "consent": *verified }),
    );
    cx.writes.push(write);
    Ok(Ok(None))
}

/// The originator's reclassification (M4), from the originator or passed on by the party this
/// node received the item from. It counts only if it is newer than the label held (its
/// revision, inside what the originator signed), and the originator's binding of the new label
/// verifies over this node's copy. It is applied along the custody chain and passed on to the
/// parties this node released the item to, never back to the sender: a notice that changes
/// nothing is not passed on, so notices can not loop.
fn receive_reclassification(cx: &mut Inbox, payload: &Value) -> Result<Outcome, ApiError> {
    let action = "item.reclassify.received";
    let (node, from, me) = (cx.node, cx.from, cx.node.party());
    let id = payload["id"].as_str().unwrap_or_default().to_owned();
    let Ok(label) = gsomia_core::Label::deserialize(&payload["label"]) else {
        return Ok(cx.refuse(action, &id, Rule::M4, "malformed label".into()));
    };
    let Some(stored) = cx.stored_item(&id)? else {
        return Ok(cx.refuse(action, &id, Rule::M4, format!("no item `{id}` here")));
    };
    let item = stored.id.clone();
    let originator = stored.label.originator;
    if originator == me || label.originator != originator {
        let m = format!(
            "`{id}` is an item of {originator}: only {originator} changes its classification"
        );
        return Ok(cx.refuse(action, &id, Rule::H1, m));
    }
    let received_from = stored.custody.last().map(|h| h.from);
    if from != originator && Some(from) != received_from {
        let m = format!(
            "{from} is neither the originator of `{id}` nor the party this node received it from"
        );
        return Ok(cx.refuse(action, &id, Rule::M4, m));
    }
    if label.revision <= stored.label.revision {
        let m = format!(
            "the notice for `{id}` (revision {}) is not newer than the label held (revision {}): \
             an old label is never applied again",
            label.revision, stored.label.revision
        );
        return Ok(cx.refuse(action, &id, Rule::M4, m));
    }
    let Some(object) = unseal_object(node, &stored)? else {
        return Ok(cx.refuse(
            action,
            &id,
            Rule::P5,
            format!("item `{id}` was destroyed here"),
        ));
    };
    let binding = payload["binding"].as_str().unwrap_or_default().to_owned();
    let file = ItemFile {
        label: label.clone(),
        object,
        marking: None,
        custody: vec![],
        binding: Some(binding.clone()),
    };
    let record = cx.parties.iter().find(|p| p.code == originator);
    let sound = match (Item::new(file), record) {
        (Ok(item), Some(r)) => crate::node::verify_binding_by(r, &item).is_ok(),
        _ => false,
    };
    if !sound {
        let m = "the originator's binding of the new label does not verify".to_owned();
        return Ok(cx.refuse(action, &id, Rule::M4, m));
    }
    let custody = match gsomia_core::reclassification::remark_custody(
        &cx.world,
        originator,
        &label.level,
        &stored.custody,
    ) {
        Ok(c) => c,
        Err(r) => return Ok(cx.refuse(action, &id, r.rule, r.message)),
    };
    let marking = custody.last().map(|h| gsomia_core::Marking {
        party: h.to,
        level: h.level.clone(),
        originator,
    });
    let onward: Vec<PartyCode> = crate::service::items::released_to(node, &item)?
        .into_iter()
        .filter(|p| *p != from && *p != originator)
        .collect();
    let detail = json!({ "level": label.level, "revision": label.revision, "marking": marking, "sent_to": onward });
    cx.writes.push(crate::service::marking::write(&StoredItem {
        label: label.clone(),
        marking: marking.clone(),
        custody: custody.clone(),
        ..stored
    }));
    cx.writes.push(Write::Reclassify {
        id: item,
        label: Box::new(label),
        binding,
        marking,
        custody,
    });
    for p in onward {
        cx.writes.push(Write::Enqueue {
            peer: p,
            kind: "reclassification".into(),
            payload: payload.clone(),
            at: node.now_text(),
        });
    }
    cx.record(action, &id, Verdict::Allow, Some(Rule::M4), detail);
    Ok(Ok(None))
}

/// A partner proposes an agreement naming this party: kept (pending until this party's
/// authority signs it, A1) if it is sound, names both, and carries no signature but the
/// proposer's.
fn receive_proposal(cx: &mut Inbox, payload: &Value) -> Result<Outcome, ApiError> {
    let action = "agreement.proposal.received";
    let (node, from) = (cx.node, cx.from);
    let id = payload["id"].as_str().unwrap_or_default().to_owned();
    let checked = (|| -> Result<(gsomia_core::AgreementFile, Agreement), String> {
        let file = gsomia_core::AgreementFile::deserialize(payload).map_err(|e| e.to_string())?;
        let a = Agreement::new(file.clone()).map_err(|e| e.to_string())?;
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
        if cx.agreement(&id).is_some() {
            return Err(format!("agreement `{id}` exists here"));
        }
        Ok((file, a))
    })();
    let (file, agreement) = match checked {
        Ok(f) => f,
        Err(m) => return Ok(cx.refuse(action, &id, Rule::A7, m)),
    };
    let mut all = node.store().agreements()?;
    all.push(file.clone());
    if let Err(e) = crate::node::build_world(cx.parties.to_vec(), all, vec![]) {
        return Ok(cx.refuse(action, &id, Rule::A7, e.to_string()));
    }
    cx.agreements.insert(id.clone(), agreement);
    cx.writes.push(Write::PutAgreement(Box::new(file)));
    cx.record(action, &id, Verdict::Allow, Some(Rule::A1), json!({}));
    Ok(Ok(None))
}
