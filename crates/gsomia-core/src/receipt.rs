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

/// A receipt with the receiver's signature: over the receipt alone (statement kind `receipt`),
/// or, as a receiver signs them now, over the root of the Merkle tree of every receipt in one
/// reply (statement kind `receipts`), with [`ReceiptBatch`] proving this one is in it. Either way
/// the receipt verifies by itself, without the others.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedReceipt {
    /// The receipt.
    pub receipt: Receipt,
    /// The receiver's Ed25519 signature, base64.
    pub signature: String,
    /// Where the signature is over a batch: the receipt's place in it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<ReceiptBatch>,
}

/// A receipt's place in the batch its receiver signed once (RFC 9162 Merkle tree; the leaf is
/// the receipt's statement bytes, as a lone receipt's signature would cover them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiptBatch {
    /// The tree's root, base64: what the signature is over, with `size`.
    pub root: String,
    /// How many receipts the batch holds.
    pub size: u64,
    /// This receipt's position in it, from 0.
    pub index: u64,
    /// The inclusion proof from this receipt's leaf to `root`, base64 hashes.
    pub path: Vec<String>,
}
