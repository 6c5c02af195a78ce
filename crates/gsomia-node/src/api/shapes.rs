//! The shapes of the API's answers, for the OpenAPI document only: the handlers build their
//! answers as JSON (`crate::service`), and these structs say what that JSON holds, field by
//! field, so that a client (and schemathesis, which checks every answer it gets against them in
//! `cargo test`) can rely on it. A field here that an answer lacks, or has with another type,
//! fails that test. Labels, markings and STIX objects stay `Object`: their own shapes are the
//! label's (docs/RULES.md) and STIX 2.1's.

#![allow(dead_code)] // Never built: read by utoipa's derive only.

use serde_json::Value;
use utoipa::ToSchema;

/// A step of an item's custody: who sent it to whom, under which agreement, at which level of
/// the sender's scheme, when.
#[derive(ToSchema)]
pub(super) struct Hop {
    from: String,
    to: String,
    agreement: String,
    level: String,
    at: String,
}

/// An item as a reader sees it.
#[derive(ToSchema)]
pub(super) struct ItemView {
    /// STIX id.
    id: String,
    /// The STIX `modified` of this version.
    version: String,
    /// Its place in this node's store.
    seq: i64,
    /// When this node stored it (RFC 3339).
    added: String,
    /// The originator's label.
    #[schema(value_type = Object)]
    label: Value,
    /// The marking it is read under here (M1, M2).
    #[schema(value_type = Object)]
    marking: Value,
    /// Every hop it made to reach this node.
    custody: Vec<Hop>,
    /// The originator's signature binding the label to the content (R6).
    binding: String,
    /// The STIX 2.1 object.
    #[schema(value_type = Object)]
    object: Value,
}

/// A page of items the caller may read.
#[derive(ToSchema)]
pub(super) struct ItemPage {
    items: Vec<ItemView>,
    /// Where the next page starts (`after`).
    next: i64,
}

/// A release a standing rule made at publication (R7).
#[derive(ToSchema)]
pub(super) struct RuleRelease {
    to: String,
    agreement: String,
    release_rule: String,
}

/// A publication, stored.
#[derive(ToSchema)]
pub(super) struct Published {
    id: String,
    version: String,
    seq: Option<i64>,
    binding: String,
    /// What the standing release rules released in the same commit.
    released: Vec<RuleRelease>,
}

/// What became of one item of a batch.
#[derive(ToSchema)]
pub(super) struct BatchItem {
    id: String,
    created: bool,
    /// Why it was refused, with the rule.
    #[schema(value_type = Object)]
    error: Option<Value>,
}

/// A batch publication's outcome.
#[derive(ToSchema)]
pub(super) struct BatchOutcome {
    created: u64,
    refused: u64,
    items: Vec<BatchItem>,
}

/// A derived item (P4).
#[derive(ToSchema)]
pub(super) struct Derived {
    id: String,
    version: String,
    #[schema(value_type = Object)]
    label: Value,
}

/// A release, allowed and queued.
#[derive(ToSchema)]
pub(super) struct Released {
    /// `allow`.
    decision: String,
    agreement: String,
    /// The recipient's marking (M1).
    #[schema(value_type = Object)]
    marking: Value,
}

/// An audit entry as the API lists it.
#[derive(ToSchema)]
pub(super) struct AuditRow {
    seq: u64,
    /// The entry's hash in the chain.
    hash: String,
    /// The entry: who, what, the decision, the rule.
    #[schema(value_type = Object)]
    entry: Value,
}

/// A page of the audit log.
#[derive(ToSchema)]
pub(super) struct AuditPage {
    entries: Vec<AuditRow>,
    /// The last entry's number, for `after`; null on an empty page.
    next: Option<u64>,
}

/// A log entry with the exact bytes that were hashed.
#[derive(ToSchema)]
pub(super) struct LogEntry {
    seq: u64,
    hash: String,
    body: String,
}

/// Log entries.
#[derive(ToSchema)]
pub(super) struct LogEntries {
    entries: Vec<LogEntry>,
}

/// The latest checkpoint of a partner's log this node witnessed.
#[derive(ToSchema)]
pub(super) struct WitnessedLog {
    party: String,
    size: u64,
    /// The signed note with this node's cosignature.
    checkpoint: String,
}

/// Every partner's log this node witnessed.
#[derive(ToSchema)]
pub(super) struct WitnessedLogs {
    witnessed: Vec<WitnessedLog>,
}

/// An RFC 9162 inclusion proof.
#[derive(ToSchema)]
pub(super) struct InclusionProof {
    /// The entry's position, from 0.
    index: u64,
    size: u64,
    /// Base64 SHA-256 hashes.
    hashes: Vec<String>,
}

/// An RFC 9162 consistency proof.
#[derive(ToSchema)]
pub(super) struct ConsistencyProof {
    old: u64,
    new: u64,
    /// Base64 SHA-256 hashes.
    hashes: Vec<String>,
}

/// When something failed, and what.
#[derive(ToSchema)]
pub(super) struct Failure {
    at: String,
    message: String,
}

/// The state of the exchange with one partner.
#[derive(ToSchema)]
pub(super) struct PartnerStatus {
    party: String,
    endpoint: Option<String>,
    /// Messages in the outbox not yet acknowledged.
    queued: u64,
    oldest_queued: Option<String>,
    /// Messages acknowledged.
    delivered: u64,
    last_delivered: Option<String>,
    /// The last delivery failure, if the last attempt failed.
    last_error: Option<Failure>,
    /// The size of the latest of this node's checkpoints the partner cosigned (0 if none).
    cosigned_our_checkpoint_of_size: u64,
    last_witness_error: Option<Failure>,
    /// The size of the latest of the partner's checkpoints this node witnessed.
    witnessed_their_checkpoint_of_size: Option<u64>,
}

/// This node's exchange with its partners.
#[derive(ToSchema)]
pub(super) struct Status {
    party: String,
    /// Entries in the audit log.
    log_size: u64,
    partners: Vec<PartnerStatus>,
}
