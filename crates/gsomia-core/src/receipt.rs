//! Receipts (M3): the receiver's signed acknowledgement of an item version it holds, which
//! the originator keeps as the record of where its item went. Signing and checking are the
//! node's (`gsomia_node::protocol`); this is the record both sides and the store share.

use serde::{Deserialize, Serialize};

use crate::{Marking, PartyCode};

/// The receiver's acknowledgement of an item: what it holds, under which agreement, how it
/// marked it (M3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receipt {
    /// The item's STIX id.
    pub item: crate::ItemId,
    /// Its version.
    pub version: String,
    /// The receiver.
    pub party: PartyCode,
    /// The receiver's marking.
    pub marking: Marking,
    /// The agreement it came under.
    pub agreement: String,
    /// When it was received (RFC 3339).
    pub received: String,
}

/// A receipt with the receiver's signature over it (statement kind `receipt`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedReceipt {
    /// The receipt.
    pub receipt: Receipt,
    /// The receiver's Ed25519 signature, base64.
    pub signature: String,
}
