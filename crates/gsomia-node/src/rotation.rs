//! Key rotation (K1). `gsomia keys rotate` makes new signing and encryption keys (and a new
//! self-signed TLS certificate, unless the ministry's PKI provides it), and queues for every
//! partner a rotation notice: the new descriptor, signed by the old signing key. The notice
//! travels through the outbox like any message, in the last envelope signed with the old key
//! (everything queued before it is signed with the old key too, everything after with the
//! new), so a partner authenticates it with the key it holds. The partner then holds the new
//! keys and keeps the old ones to verify what they signed before; envelopes signed with an old
//! key are refused from then on.
//!
//! The node's own descriptor keeps its previous keys the same way, so its audit log's
//! checkpoints signed before the rotation still verify, and the partners that witness it check
//! the handover: the first checkpoint under the new key must be consistent with the last one
//! they cosigned under the old.

use std::path::Path;

use gsomia_core::PartyCode;
use gsomia_crypto::{NodeKeys, PublicKeys};
use gsomia_store::{AuditDraft, Batch, PartyRecord, Verdict, Write};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::data;
use crate::error::NodeError;
use crate::node::Node;

/// The outbox kind of a rotation notice.
pub const KIND: &str = "rotation";

/// A party's new descriptor, signed by the key it replaces.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notice {
    /// The new descriptor (its `keys` are the new keys; `previous_keys` ends with the old).
    pub descriptor: PartyRecord,
    /// The keys it replaces.
    pub previous: PublicKeys,
    /// Ed25519 by the previous signing key over `{"descriptor", "previous"}` (statement kind
    /// `rotation`).
    pub signature: String,
}

fn signed(descriptor: &PartyRecord, previous: &PublicKeys) -> serde_json::Value {
    json!({ "descriptor": descriptor, "previous": previous })
}

impl Notice {
    /// Signs `descriptor` with the `old` keys.
    pub fn sign(old: &NodeKeys, descriptor: PartyRecord) -> Notice {
        let previous = old.public();
        let signature =
            gsomia_crypto::statement::sign(&old.signing, KIND, &signed(&descriptor, &previous));
        Notice {
            descriptor,
            previous,
            signature,
        }
    }

    /// Checks the notice against what this node holds for its party: it is about that party,
    /// it replaces the keys held now, and their signing key signed it. The descriptor to hold
    /// from now on (its endpoint kept if the notice names none).
    pub fn check(&self, held: &PartyRecord) -> Result<PartyRecord, String> {
        let new = &self.descriptor;
        if new.code != held.code {
            return Err(format!(
                "a rotation notice from {} about {}'s keys",
                held.code, new.code
            ));
        }
        if self.previous != held.keys {
            return Err(format!(
                "the notice replaces keys with fingerprint {}, but {} holds {} for {} (an old or \
                 replayed notice)",
                self.previous.fingerprint(),
                "this node",
                held.keys.fingerprint(),
                held.code
            ));
        }
        let key = held.keys.verifying_key().map_err(|e| e.to_string())?;
        if !gsomia_crypto::statement::verify(
            &key,
            KIND,
            &signed(new, &self.previous),
            &self.signature,
        ) {
            return Err(format!(
                "the rotation notice is not signed by {}'s key held here (fingerprint {})",
                held.code,
                held.keys.fingerprint()
            ));
        }
        new.keys.check().map_err(|e| e.to_string())?;
        if let Some(pin) = &new.tls_pin {
            pin.parse::<crate::tls::Pin>()?;
        }
        if new.scheme != held.scheme {
            return Err("a rotation changes keys, not the classification scheme".into());
        }
        let mut previous_keys = held.previous_keys.clone();
        previous_keys.push(held.keys.clone());
        Ok(PartyRecord {
            endpoint: new.endpoint.clone().or_else(|| held.endpoint.clone()),
            previous_keys,
            ..new.clone()
        })
    }
}

/// What a rotation did.
#[derive(Debug, Clone)]
pub struct Rotated {
    /// The node's new descriptor.
    pub descriptor: PartyRecord,
    /// The old keys' fingerprint.
    pub old: String,
    /// The partners the notice was queued for.
    pub partners: Vec<String>,
    /// Whether a new self-signed TLS certificate was made (no: the ministry's PKI gives it).
    pub new_certificate: bool,
}

/// Rotates the keys of the (stopped) node in `dir`: new signing and encryption keys, a new
/// self-signed TLS certificate where `init` made the current one, the notice queued for every
/// partner, audited. The new keys are staged, the store commits, then they are put in place
/// (`Node::open` finishes or abandons a rotation a crash interrupted).
pub fn rotate(dir: &Path, clock: crate::Clock) -> Result<Rotated, NodeError> {
    let node = Node::open(dir, clock)?;
    let result = stage_and_commit(dir, &node);
    node.close();
    match result {
        Ok(rotated) => {
            data::finish_rotation(dir)?;
            Ok(rotated)
        }
        Err(e) => {
            data::abandon_rotation(dir);
            Err(e)
        }
    }
}

fn stage_and_commit(dir: &Path, node: &Node) -> Result<Rotated, NodeError> {
    let (signing, encryption) = (data::random32()?, data::random32()?);
    let new = NodeKeys::from_seeds(signing, encryption, node.keys().master);
    let config = &node.config;
    let made_by_init = config.tls_cert == data::Config::DEFAULT_TLS_CERT
        && config.tls_key == data::Config::DEFAULT_TLS_KEY;
    let tls = if made_by_init && !config.insecure_http {
        let names = data::tls_names(&config.listen, config.endpoint.as_deref());
        Some(
            crate::tls::self_signed(&format!("gsomia {}", node.party()), names)
                .map_err(NodeError::Io)?,
        )
    } else {
        None
    };
    let pin = match &tls {
        Some((cert, _)) => {
            let der = crate::tls::first_certificate(cert.as_bytes()).map_err(NodeError::Io)?;
            Some(
                crate::tls::CertInfo::of(&der)
                    .map_err(NodeError::Io)?
                    .pin
                    .to_string(),
            )
        }
        None => node.descriptor()?.tls_pin,
    };
    let old = node.descriptor()?;
    let mut previous_keys = old.previous_keys.clone();
    previous_keys.push(old.keys.clone());
    let descriptor = PartyRecord {
        keys: new.public(),
        tls_pin: pin,
        previous_keys,
        ..old.clone()
    };
    let notice = Notice::sign(
        node.keys(),
        PartyRecord {
            previous_keys: vec![],
            ..descriptor.clone()
        },
    );
    let payload = serde_json::to_value(&notice).map_err(|e| NodeError::Io(e.to_string()))?;
    let world = node.world();
    let partners: Vec<PartyCode> = node
        .store()
        .parties()?
        .into_iter()
        .filter(|p| p.code != node.party() && crate::node::partner(&world, node.party(), p.code))
        .map(|p| p.code)
        .collect();
    let mut writes: Vec<Write> = partners
        .iter()
        .map(|peer| Write::Enqueue {
            peer: *peer,
            kind: KIND.into(),
            payload: payload.clone(),
            at: node.now_text(),
        })
        .collect();
    writes.push(Write::PutParty(descriptor.clone()));
    data::stage_rotation(dir, signing, encryption, tls.clone())?;
    node.store().write(Batch {
        writes,
        audit: vec![AuditDraft {
            at: node.now_text(),
            actor: "admin".into(),
            action: "node.rotate".into(),
            subject: node.party().to_string(),
            decision: Verdict::Record,
            rule: None,
            detail: json!({
                "old_fingerprint": old.keys.fingerprint(),
                "new_fingerprint": descriptor.keys.fingerprint(),
                "signing_key": descriptor.keys.signing,
                "tls_pin": descriptor.tls_pin,
                "notified": partners,
            }),
        }],
    })?;
    Ok(Rotated {
        descriptor,
        old: old.keys.fingerprint(),
        partners: partners.iter().map(ToString::to_string).collect(),
        new_certificate: tls.is_some(),
    })
}

/// The keys this node signs an envelope with: the old ones named by the first rotation
/// notice still queued for `peer` (it and everything queued before it go under the key the
/// partner holds), else the current ones. The queue position the old key covers, if any.
pub fn signer_for(node: &Node, peer: PartyCode) -> Result<(&NodeKeys, Option<u64>), String> {
    let Some(pending) = node
        .store()
        .outbox_first(peer, KIND)
        .map_err(|e| e.to_string())?
    else {
        return Ok((node.keys(), None));
    };
    let notice: Notice = serde_json::from_value(pending.payload)
        .map_err(|e| format!("a queued rotation notice: {e}"))?;
    let old = node
        .previous_keys()
        .iter()
        .find(|k| k.public() == notice.previous)
        .ok_or_else(|| {
            format!(
                "the key a queued rotation notice replaces (fingerprint {}) is not in \
                 keys/previous",
                notice.previous.fingerprint()
            )
        })?;
    Ok((old, Some(pending.seq)))
}
