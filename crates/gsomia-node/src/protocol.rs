//! The federation protocol (SPEC §7): what one node says to another inside an envelope.
//!
//! The envelope's header names the protocol version (`gsomia_crypto::envelope::PROTOCOL`); a
//! receiver refuses any other before it opens the envelope. Inside, [`Payload`] carries numbered
//! messages, each a [`Message`]: one tagged enum, matched exhaustively by the sender and the
//! receiver. A message whose kind this build does not know, or whose shape is wrong, is refused
//! on its own (M1) before it has any effect; the others in the envelope still count.

use gsomia_core::Consent;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What an envelope carries.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Payload {
    /// When several envelopes are in flight, the last message of the one sent before this: the
    /// receiver applies this envelope only once it has applied that message (in order per
    /// sender). Absent on the first of a round, which follows what was acknowledged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<u64>,
    /// The messages in the sender's outbox order. Each is a [`Numbered`]; the receiver parses
    /// them one by one, so that one it can not read refuses only itself.
    pub messages: Vec<Value>,
}

/// A message with its outbox sequence number (in order per sender, exactly once in effect).
#[derive(Debug, Serialize, Deserialize)]
pub struct Numbered {
    /// Its sequence number in the sender's outbox to this party.
    pub seq: u64,
    /// The message.
    #[serde(flatten)]
    pub message: Message,
}

/// Every kind of message between nodes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Message {
    /// A released item (label, object, binding, the sender's marking and custody chain), with
    /// the originators' consents that let the sender release it onward (R4).
    Item {
        /// The item as an item file.
        item: Value,
        /// The consents; each is verified, and stored only with the item once it is accepted
        /// (H2).
        #[serde(default)]
        consents: Vec<Consent>,
    },
    /// An item released earlier was destroyed before it could be sent.
    Withdrawn {
        /// `{"id"}`.
        payload: Value,
    },
    /// One party's event on an agreement (A7).
    AgreementEvent {
        /// `{"agreement", "event"}`.
        payload: Value,
    },
    /// A proposed agreement carrying the proposer's signature (A1).
    AgreementProposal {
        /// The agreement file.
        payload: Value,
    },
    /// The originator's reclassification (M4): `{"id", "label", "binding"}`.
    Reclassification {
        /// The notice.
        payload: Value,
    },
    /// A holder asks the originator for consent to release onward (R4).
    ConsentRequest {
        /// The request.
        payload: Value,
    },
    /// The originator's signed consent (R4).
    Consent {
        /// `{"approved": true, "consent"}`.
        payload: Value,
    },
    /// The originator refused a consent request.
    ConsentRefused {
        /// `{"approved": false, "request"}`.
        payload: Value,
    },
    /// An incident report (P6).
    Incident {
        /// `{"incident", "holder"}`.
        payload: Value,
    },
    /// The result of an incident's investigation, linked to the report (P6).
    Result {
        /// `{"incident", "holder"}`.
        payload: Value,
    },
    /// A signed destruction certificate (P5).
    Destruction {
        /// `{"certificate", "signature"}`.
        payload: Value,
    },
    /// A proposed amendment of an agreement, or one with the sender's signature added (A9).
    Amendment {
        /// `{"agreement", "amendment"}`.
        payload: Value,
    },
    /// A partner's signed assurance (S1).
    Assurance {
        /// `{"assurance"}`.
        payload: Value,
    },
    /// A letter between authorities under an agreement (N1, D1).
    Letter {
        /// `{"letter"}`.
        payload: Value,
    },
    /// A signed certificate of return of one of the receiver's items (P8).
    Return {
        /// `{"certificate", "signature"}`.
        payload: Value,
    },
    /// The sender's new keys, signed by the key the receiver holds for it (K1): a
    /// `crate::rotation::Notice`.
    Rotation {
        /// The notice.
        payload: Value,
    },
}

impl Message {
    /// The message a queued outbox row (`kind`, `payload`) stands for; items are built from the
    /// store by the sender, not from the row.
    pub fn from_outbox(kind: &str, payload: Value) -> Result<Message, String> {
        serde_json::from_value(serde_json::json!({ "kind": kind, "payload": payload }))
            .map_err(|e| format!("outbox message of kind `{kind}`: {e}"))
    }

    /// Its kind, as on the wire and in audit entries.
    pub fn kind(&self) -> &'static str {
        match self {
            Message::Item { .. } => "item",
            Message::Withdrawn { .. } => "withdrawn",
            Message::AgreementEvent { .. } => "agreement_event",
            Message::AgreementProposal { .. } => "agreement_proposal",
            Message::Reclassification { .. } => "reclassification",
            Message::ConsentRequest { .. } => "consent_request",
            Message::Consent { .. } => "consent",
            Message::ConsentRefused { .. } => "consent_refused",
            Message::Incident { .. } => "incident",
            Message::Result { .. } => "result",
            Message::Destruction { .. } => "destruction",
            Message::Return { .. } => "return",
            Message::Letter { .. } => "letter",
            Message::Assurance { .. } => "assurance",
            Message::Amendment { .. } => "amendment",
            Message::Rotation { .. } => "rotation",
        }
    }
}

/// The receiver's answer to an envelope, signed by it ([`SignedReply`]): how far it applied the
/// sender's messages, a signed receipt for each item it holds now (M3), and what it refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reply {
    /// The envelope answered.
    pub envelope: String,
    /// The receiver.
    pub from: gsomia_core::PartyCode,
    /// The last sequence number applied.
    pub through: u64,
    /// A receipt per item received (or received before, for a resent item).
    pub receipts: Vec<SignedReceipt>,
    /// The messages refused, each with its rule.
    pub refusals: Vec<Refused>,
}

/// A reply with the receiver's signature over it (statement kind `reply`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedReply {
    /// The reply.
    pub reply: Reply,
    /// The receiver's Ed25519 signature, base64.
    pub signature: String,
}

pub use gsomia_core::receipt::{Receipt, ReceiptBatch, SignedReceipt};

/// A message the receiver refused, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Refused {
    /// Its sequence number, if it had one.
    pub seq: Option<u64>,
    /// The rule that refused it.
    pub rule: gsomia_core::Rule,
    /// Why, for the sender's officer.
    pub message: String,
}

impl SignedReply {
    /// Signs `reply` as the receiver.
    pub fn sign(key: &gsomia_crypto::SigningKey, reply: Reply) -> SignedReply {
        let signature = gsomia_crypto::statement::sign(key, "reply", &json_of(&reply));
        SignedReply { reply, signature }
    }

    /// Whether the receiver's key signed it, and every receipt in it: each batch signature
    /// once, each receipt's place in its batch one by one.
    pub fn verifies(&self, key: &gsomia_crypto::VerifyingKey) -> bool {
        if !gsomia_crypto::statement::verify(key, "reply", &json_of(&self.reply), &self.signature) {
            return false;
        }
        let mut signed: Vec<(&str, &str, u64)> = vec![];
        self.reply.receipts.iter().all(|r| match &r.batch {
            None => receipt_verifies(r, key),
            Some(b) => {
                let once = (r.signature.as_str(), b.root.as_str(), b.size);
                in_batch(r, b)
                    && (signed.contains(&once) || {
                        let sound = batch_signed(key, b, &r.signature);
                        signed.push(once);
                        sound
                    })
            }
        })
    }
}

/// Signs a reply's receipts as the receiver (M3), with one signature for them all: over the
/// root of the Merkle tree whose leaves are the receipts' statement bytes, each receipt given
/// its inclusion proof, so that each verifies alone ([`receipt_verifies`]) as if signed alone.
pub fn sign_receipts(
    key: &gsomia_crypto::SigningKey,
    receipts: Vec<Receipt>,
) -> Vec<SignedReceipt> {
    if receipts.is_empty() {
        return vec![];
    }
    let leaves = crate::node::par_map(&receipts, receipt_leaf);
    let tree = gsomia_log::MemTree::of(leaves);
    let root = gsomia_log::proof::encode_hash(&tree.root());
    let size = tree.size();
    let signature = gsomia_crypto::statement::sign(key, "receipts", &batch_statement(&root, size));
    (0u64..)
        .zip(receipts)
        .map(|(index, receipt)| SignedReceipt {
            receipt,
            signature: signature.clone(),
            batch: Some(ReceiptBatch {
                root: root.clone(),
                size,
                index,
                // INVARIANT: `index` is below the tree's size, whose hashes are all held.
                path: tree
                    .prove(index)
                    .map(|p| {
                        p.hashes
                            .iter()
                            .map(gsomia_log::proof::encode_hash)
                            .collect()
                    })
                    .unwrap_or_default(),
            }),
        })
        .collect()
}

/// Whether the receiver's key signed `r`, alone or in a batch.
pub fn receipt_verifies(r: &SignedReceipt, key: &gsomia_crypto::VerifyingKey) -> bool {
    match &r.batch {
        None => {
            gsomia_crypto::statement::verify(key, "receipt", &json_of(&r.receipt), &r.signature)
        }
        Some(b) => in_batch(r, b) && batch_signed(key, b, &r.signature),
    }
}

/// A receipt's leaf: RFC 9162's leaf hash of the bytes a lone receipt's signature covers.
fn receipt_leaf(receipt: &Receipt) -> gsomia_log::Hash {
    gsomia_log::leaf_hash(&gsomia_crypto::statement::message(
        "receipt",
        &json_of(receipt),
    ))
}

/// What a batch's signature is over.
fn batch_statement(root: &str, size: u64) -> Value {
    serde_json::json!({ "root": root, "size": size })
}

/// Whether `b`'s proof puts `r` in the tree whose root it names.
fn in_batch(r: &SignedReceipt, b: &ReceiptBatch) -> bool {
    let (Some(root), Some(hashes)) = (
        gsomia_log::proof::decode_hash(&b.root),
        b.path
            .iter()
            .map(|h| gsomia_log::proof::decode_hash(h))
            .collect::<Option<Vec<_>>>(),
    ) else {
        return false;
    };
    gsomia_log::InclusionProof {
        index: b.index,
        size: b.size,
        hashes,
    }
    .verify(&root, &receipt_leaf(&r.receipt))
    .is_ok()
}

/// Whether `key` signed the batch whose root and size `b` names.
fn batch_signed(key: &gsomia_crypto::VerifyingKey, b: &ReceiptBatch, signature: &str) -> bool {
    gsomia_crypto::statement::verify(
        key,
        "receipts",
        &batch_statement(&b.root, b.size),
        signature,
    )
}

/// The JSON a statement is signed over.
fn json_of(value: &impl Serialize) -> Value {
    // INVARIANT: these types are plain data (strings, numbers, codes): they always serialise.
    serde_json::to_value(value).unwrap_or(Value::Null)
}
