//! gsomia-store: where a node keeps what it holds. The [`Store`] trait speaks in gsomia's own
//! types; [`sqlite::SqliteStore`] implements it (a PostgreSQL implementation is to come behind
//! the same trait). This is the only crate that contains SQL.
//!
//! Writes go as [`Batch`]es, each with the audit entries that record it, so a change and its
//! audit entry commit together or not at all (P7). One writer thread commits many batches in
//! one transaction (group commit), so durable writes are not bound by one fsync each.

pub mod audit;
pub mod copy;
pub mod postgres;
pub mod record;
pub mod sqlite;
pub mod verify;
mod writer;

pub use audit::{AuditDraft, AuditEntry, Head, Verdict, verify_chain};
pub use postgres::{PostgresStore, is_postgres_url, scratch_database};
pub use record::{Counts, Evidence, Incident, PartyRecord, ReleaseRule, StoredItem, UserRecord};
pub use sqlite::{SqliteStore, snapshot};

use gsomia_core::{AgreementFile, ItemId, PartyCode, SignedReceipt};

/// What can go wrong in a store.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// A write conflicts with what is stored (a duplicate item version, user id or token).
    #[error("conflict: {0}")]
    Conflict(String),
    /// A write names something that is not stored.
    #[error("not found: {0}")]
    NotFound(String),
    /// The database failed.
    #[error("database: {0}")]
    Database(String),
    /// The database server does not answer, or does not take writes now (it went away, is
    /// restarting, or is a standby not yet promoted); try again. (A write whose connection
    /// broke at its commit may have been committed: a publish tried again then meets its
    /// own version, 409.)
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// Stored data does not parse: the database was changed outside gsomia.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// The writer thread has stopped.
    #[error("the store is closed")]
    Closed,
}

/// One change to the store.
#[derive(Debug, Clone)]
pub enum Write {
    /// Set a node setting.
    SetMeta {
        /// The setting.
        key: String,
        /// Its value.
        value: String,
    },
    /// Add or replace a party's descriptor.
    PutParty(PartyRecord),
    /// Add or replace an agreement (the whole file, history included).
    PutAgreement(Box<AgreementFile>),
    /// Add a user.
    AddUser(UserRecord),
    /// Disable a user: their token stops working.
    DisableUser(String),
    /// Enable a disabled user again.
    EnableUser(String),
    /// Set a user's console passphrase (an Argon2id PHC string).
    SetPassphrase {
        /// The user.
        id: String,
        /// The PHC string.
        phc: String,
    },
    /// Give a user a new token (the old one stops working), valid until `expires` if given.
    SetToken {
        /// The user.
        id: String,
        /// Hex SHA-256 of the new token.
        token_hash: String,
        /// The last day it works (`YYYY-MM-DD`).
        expires: Option<String>,
    },
    /// Add an item version.
    PutItem(Box<StoredItem>),
    /// Apply the originator's reclassification to every stored version of an item (M4): the new
    /// label and binding, and this holder's new marking and custody levels.
    Reclassify {
        /// STIX id.
        id: ItemId,
        /// The originator's new label.
        label: Box<gsomia_core::Label>,
        /// The originator's binding of it.
        binding: String,
        /// This holder's new marking (none at the originator).
        marking: Option<gsomia_core::Marking>,
        /// The custody chain with the levels re-marked.
        custody: Vec<gsomia_core::Hop>,
    },
    /// Destroy an item version's key and content (P5), keeping its label and a certificate.
    DestroyItem {
        /// STIX id.
        id: ItemId,
        /// Version.
        modified: String,
        /// When.
        at: String,
    },
    /// Add a standing release rule (R7).
    AddReleaseRule(ReleaseRule),
    /// Record an incident report or its follow-up (P6).
    AddIncident(Incident),
    /// The peer acknowledged every message up to `through` (its signed reply was checked).
    Delivered {
        /// The peer.
        peer: PartyCode,
        /// The last outbox sequence number it acknowledged.
        through: u64,
        /// When.
        at: String,
    },
    /// A partner's signed receipt for an item version it received (M3): one a version and
    /// party, a later one replacing it.
    PutReceipt(Box<SignedReceipt>),
    /// An envelope from a peer was applied through its message `through`; `reply` is what was
    /// answered, kept so that a resent envelope gets the same answer (M3).
    Received {
        /// The sending peer.
        peer: PartyCode,
        /// The last message sequence number applied.
        through: u64,
        /// The envelope id.
        envelope: String,
        /// The signed reply.
        reply: serde_json::Value,
    },
    /// Keep an originator's signed consent, verified (R4, H2). A consent with the same id is
    /// never replaced (H1).
    PutConsent(gsomia_crypto::Verified<gsomia_core::Consent>),
    /// Replace a held consent by the same consent with its originator's revocation (R4b),
    /// verified; the caller has checked that nothing else differs. Nothing happens if no
    /// consent has that id.
    RevokeConsent(gsomia_crypto::Verified<gsomia_core::Consent>),
    /// Keep a letter under an agreement (N1, D1), this party's or a partner's, verified; one
    /// with the same id is never replaced (H1).
    PutLetter(gsomia_crypto::Verified<gsomia_core::Letter>),
    /// Keep an assurance (S1), a partner's or this party's, verified; one with the same id is
    /// never replaced (H1).
    PutAssurance(gsomia_crypto::Verified<gsomia_core::Assurance>),
    /// Keep a contractor facility of this party's (C1), replacing the one with its id.
    PutFacility(gsomia_core::Facility),
    /// Keep a partner's request for this party's consent.
    AddConsentRequest(gsomia_core::ConsentRequest),
    /// Record the answer to a consent request.
    AnswerConsentRequest {
        /// The request.
        id: i64,
        /// The answer (the signed consent, or the refusal).
        answer: serde_json::Value,
    },
    /// Queue a message for a peer; the delivery worker sends it.
    Enqueue {
        /// The peer.
        peer: PartyCode,
        /// What kind of message.
        kind: String,
        /// The message.
        payload: serde_json::Value,
        /// When it was queued.
        at: String,
    },
    /// A checkpoint this node signed over its own log.
    PutCheckpoint {
        /// The tree size it covers.
        size: u64,
        /// The signed note.
        note: String,
        /// When it was issued.
        at: String,
    },
    /// A partner's checkpoint this node checked and witnessed.
    PutWitnessed {
        /// The partner.
        party: PartyCode,
        /// The size of its tree.
        size: u64,
        /// The signed note as received.
        note: String,
        /// When it was received.
        at: String,
    },
    /// A partner's cosignature of one of this node's checkpoints.
    PutCosignature {
        /// The size of the checkpoint cosigned.
        size: u64,
        /// The witness.
        witness: PartyCode,
        /// The cosignature line.
        line: String,
    },
    /// Evidence that a partner showed two checkpoints that are not consistent (H6).
    AddEvidence(Box<Evidence>),
}

impl Write {
    /// Whether the write changes what a node decides by (parties, agreements, consents,
    /// release rules): a batch with one also advances [`WORLD_VERSION`] in its transaction,
    /// so every process sharing the store knows to read them again.
    pub fn changes_world(&self) -> bool {
        matches!(
            self,
            Write::PutParty(_)
                | Write::PutAgreement(_)
                | Write::PutConsent(_)
                | Write::RevokeConsent(_)
                | Write::PutAssurance(_)
                | Write::PutFacility(_)
                | Write::PutLetter(_)
                | Write::AddReleaseRule(_)
        )
    }
}

/// The `meta` key counting the committed batches that changed the world (see
/// [`Write::changes_world`]); absent before the first.
pub const WORLD_VERSION: &str = "world_version";

/// A STIX id read back from the store.
pub(crate) fn item_id(text: &str) -> Result<ItemId, StoreError> {
    text.parse()
        .map_err(|_| StoreError::Corrupt(format!("`{text}` is not a STIX id")))
}

/// A party code read back from the store.
pub(crate) fn party_code(text: &str) -> Result<PartyCode, StoreError> {
    text.parse()
        .map_err(|_| StoreError::Corrupt(format!("`{text}` is not a party code")))
}

/// An item as listed by tag: when it was added (µs since the epoch), and whether it is the
/// latest and the first of the item's versions.
#[derive(Debug, Clone)]
pub struct Listed {
    /// When it was added, in microseconds since the Unix epoch.
    pub added: i64,
    /// The item.
    pub item: StoredItem,
    /// No later version of it is stored.
    pub latest: bool,
    /// No earlier version of it is stored.
    pub first: bool,
}

/// The tags an item is listed under: `<originator>/<topic>` for each of its topics, and
/// `from/<party>` when a partner sent it (the last hop of its custody chain). TAXII collections
/// are tags.
pub fn item_tags(item: &StoredItem) -> Vec<String> {
    let mut tags: Vec<String> = item
        .label
        .topics
        .iter()
        .map(|t| format!("{}/{}", item.label.originator, t.as_str()))
        .collect();
    if let Some(hop) = item.custody.last() {
        tags.push(format!("from/{}", hop.from));
    }
    tags
}

/// An RFC 3339 time in microseconds since the Unix epoch (0 if it is not one: the node makes
/// these strings itself).
pub fn added_micros(text: &str) -> i64 {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map(|t| (t.unix_timestamp_nanos() / 1000) as i64)
        .unwrap_or(0)
}

/// A store's Merkle hashes, for making proofs with `gsomia_log`.
pub struct LogHashes<'a, S: Store + ?Sized>(pub &'a S);

impl<S: Store + ?Sized> gsomia_log::HashReader for LogHashes<'_, S> {
    fn read_hashes(
        &self,
        indexes: &[u64],
    ) -> Result<Vec<gsomia_log::Hash>, gsomia_log::ReaderError> {
        self.0
            .log_hashes(indexes)
            .map(|v| v.into_iter().map(gsomia_log::Hash).collect())
            .map_err(|_| gsomia_log::ReaderError::IndexesNotInTree)
    }
}

/// A set of writes and the audit entries that record them, committed together.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    /// The changes.
    pub writes: Vec<Write>,
    /// The audit entries, appended in order.
    pub audit: Vec<AuditDraft>,
}

/// What a committed batch was given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Committed {
    /// The sequence numbers of its audit entries.
    pub audit: Vec<u64>,
    /// The sequence numbers of the items it added.
    pub items: Vec<i64>,
    /// The ids of the release rules and incidents it added.
    pub ids: Vec<i64>,
}

/// A message waiting in the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxMessage {
    /// Its sequence number (in order per peer).
    pub seq: u64,
    /// Its kind (`item`, `agreement_event`, `incident`, `destruction`).
    pub kind: String,
    /// What it says.
    pub payload: serde_json::Value,
}

/// Delivery to one partner, as the outbox shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PeerDelivery {
    /// The partner.
    pub peer: PartyCode,
    /// Messages queued and not yet acknowledged.
    pub queued: u64,
    /// When the oldest of them was queued (RFC 3339).
    pub oldest_queued: Option<String>,
    /// Messages the partner acknowledged with a signed reply.
    pub delivered: u64,
    /// When the last acknowledgement came (RFC 3339).
    pub last_delivered: Option<String>,
    /// The outbox sequence number of the last message acknowledged (0: none).
    pub acknowledged_through: u64,
    /// The outbox sequence number of the last message queued for the partner (0: none).
    pub queued_through: u64,
}

/// A partner's request for this party's consent, and the answer once given.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredConsentRequest {
    /// Its id.
    pub id: i64,
    /// What was asked.
    pub request: gsomia_core::ConsentRequest,
    /// The answer, once given.
    pub answer: Option<serde_json::Value>,
}

/// What the writer has committed since the store was opened.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CommitStats {
    /// Transactions committed (each a group of batches).
    pub commits: u64,
    /// Batches committed in them.
    pub batches: u64,
    /// Seconds spent in those transactions.
    pub seconds: f64,
}

/// A callback for the result of a batch.
pub type Done = Box<dyn FnOnce(Result<Committed, StoreError>) + Send>;

/// Where a node keeps its state.
pub trait Store: Send + Sync + 'static {
    /// Submits a batch; `done` runs on the writer once it is durably committed or refused.
    fn submit(&self, batch: Batch, done: Done);

    /// Whether the store takes writes (it has not been closed).
    fn is_open(&self) -> bool;
    /// What the store has committed since it was opened (for the node's metrics).
    fn commit_stats(&self) -> CommitStats;
    /// Stops taking writes and waits until what was submitted is committed or refused.
    fn close(&self);

    /// Submits a batch and waits for it.
    fn write(&self, batch: Batch) -> Result<Committed, StoreError> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.submit(batch, Box::new(move |r| drop(tx.send(r))));
        rx.recv().map_err(|_| StoreError::Closed)?
    }

    /// A node setting.
    fn meta(&self, key: &str) -> Result<Option<String>, StoreError>;
    /// How many committed batches changed the world ([`Write::changes_world`]): a process
    /// holding parties, agreements, consents and rules in memory reads them again when this
    /// moved, whichever process (or command) committed the change.
    fn world_version(&self) -> Result<u64, StoreError> {
        self.meta(WORLD_VERSION)?.map_or(Ok(0), |v| {
            v.parse()
                .map_err(|_| StoreError::Corrupt(format!("{WORLD_VERSION} `{v}`")))
        })
    }
    /// Every party's descriptor.
    fn parties(&self) -> Result<Vec<PartyRecord>, StoreError>;
    /// Every agreement.
    fn agreements(&self) -> Result<Vec<AgreementFile>, StoreError>;
    /// Every user.
    fn users(&self) -> Result<Vec<UserRecord>, StoreError>;
    /// The enabled user whose token has this hash.
    fn user_by_token(&self, token_hash: &str) -> Result<Option<UserRecord>, StoreError>;
    /// The console passphrase (PHC string) of an enabled user, if one is set.
    fn passphrase(&self, id: &str) -> Result<Option<String>, StoreError>;
    /// The newest version of an item, or the version `modified`.
    fn item(&self, id: &ItemId, modified: Option<&str>) -> Result<Option<StoredItem>, StoreError>;
    /// Items in the order they were added, after sequence number `after`.
    fn items_after(&self, after: i64, limit: usize) -> Result<Vec<StoredItem>, StoreError>;
    /// The sequence number of the item added last (0 when none is stored).
    fn last_item(&self) -> Result<i64, StoreError>;
    /// Audit entries after sequence number `after`.
    fn audit_after(&self, after: u64, limit: usize) -> Result<Vec<AuditEntry>, StoreError>;
    /// The standing release rules.
    fn release_rules(&self) -> Result<Vec<ReleaseRule>, StoreError>;
    /// The incident reports, oldest first.
    fn incidents(&self) -> Result<Vec<Incident>, StoreError>;
    /// Undelivered messages for a peer, in order.
    fn outbox_pending(
        &self,
        peer: PartyCode,
        limit: usize,
    ) -> Result<Vec<OutboxMessage>, StoreError> {
        self.outbox_after(peer, 0, limit)
    }
    /// Undelivered messages for a peer after sequence number `after`, in order (what comes
    /// after the envelopes already in flight).
    fn outbox_after(
        &self,
        peer: PartyCode,
        after: u64,
        limit: usize,
    ) -> Result<Vec<OutboxMessage>, StoreError>;
    /// The first undelivered message of `kind` for a peer, wherever it is in the queue.
    fn outbox_first(
        &self,
        peer: PartyCode,
        kind: &str,
    ) -> Result<Option<OutboxMessage>, StoreError>;
    /// The peers with undelivered messages.
    fn peers_pending(&self) -> Result<Vec<PartyCode>, StoreError>;
    /// Delivery to each partner that was ever sent anything, by partner.
    fn delivery(&self) -> Result<Vec<PeerDelivery>, StoreError>;
    /// The last message sequence number applied from a peer (0 if none).
    fn inbox_mark(&self, peer: PartyCode) -> Result<u64, StoreError>;
    /// The reply given to an envelope already applied.
    fn reply(
        &self,
        peer: PartyCode,
        envelope: &str,
    ) -> Result<Option<serde_json::Value>, StoreError>;
    /// The receipts partners gave for an item's versions.
    fn receipts(&self, item: &ItemId) -> Result<Vec<SignedReceipt>, StoreError>;
    /// The consents this node holds (verified when they arrived).
    fn consents(&self) -> Result<Vec<gsomia_core::Consent>, StoreError>;
    /// Consent requests from partners.
    fn consent_requests(&self) -> Result<Vec<StoredConsentRequest>, StoreError>;

    /// This party's contractor facilities (C1), by id.
    fn facilities(&self) -> Result<Vec<gsomia_core::Facility>, StoreError>;

    /// The assurances kept (S1), in the order they were kept.
    fn assurances(&self) -> Result<Vec<gsomia_core::Assurance>, StoreError>;

    /// The letters kept under agreement `agreement` (N1, D1), in the order they were kept.
    fn letters(&self, agreement: &str) -> Result<Vec<gsomia_core::Letter>, StoreError>;
    /// Row counts and the audit head, to show that nothing changed.
    fn counts(&self) -> Result<Counts, StoreError>;

    /// Items tagged `tag` (see [`item_tags`]) and not destroyed, in the order they were added,
    /// after the position `after` (added in µs, item number), at most `limit`.
    fn tagged(&self, tag: &str, after: (i64, i64), limit: usize)
    -> Result<Vec<Listed>, StoreError>;
    /// Every version of the item `id` that is not destroyed, oldest `modified` first.
    fn versions(&self, id: &ItemId) -> Result<Vec<StoredItem>, StoreError>;
    /// The tags in use that start with `prefix`.
    fn tags(&self, prefix: &str) -> Result<Vec<String>, StoreError>;

    /// The number of entries in the audit log (and leaves in its Merkle tree) that are
    /// committed, hence on disk.
    fn log_size(&self) -> Result<u64, StoreError>;
    /// The stored Merkle hashes at these stored hash indexes (see `gsomia_log::tree`).
    fn log_hashes(&self, indexes: &[u64]) -> Result<Vec<[u8; 32]>, StoreError>;
    /// The audit entries about `subject` (an item id, a user id), numbered at most `through`.
    fn audit_about(&self, subject: &str, through: u64) -> Result<Vec<AuditEntry>, StoreError>;
    /// The latest checkpoint this node issued: its size and signed note.
    fn checkpoint_latest(&self) -> Result<Option<(u64, String)>, StoreError>;
    /// Every checkpoint this node issued, by size.
    fn checkpoints(&self) -> Result<Vec<(u64, String)>, StoreError>;
    /// Takes or renews lease `name` (`delivery`, `checkpoints`) for `holder`, one process of
    /// those sharing the store, for `millis`: whether `holder` holds it now. A lease held by
    /// another and not expired is refused; an expired one moves (its holder died or stalled).
    fn lease(&self, name: &str, holder: &str, millis: u64) -> Result<bool, StoreError>;
    /// The checkpoint this node issued at `size`, if it issued one.
    fn checkpoint(&self, size: u64) -> Result<Option<String>, StoreError>;
    /// The cosignature lines partners sent for the checkpoint of `size`, by witness.
    fn cosignatures(&self, size: u64) -> Result<Vec<(PartyCode, String)>, StoreError>;
    /// The latest checkpoint witnessed from `party`: its size and note.
    fn witnessed_latest(&self, party: PartyCode) -> Result<Option<(u64, String)>, StoreError>;
    /// The size of the latest of this node's checkpoints that `witness` cosigned (0 if none).
    fn last_cosigned(&self, witness: PartyCode) -> Result<u64, StoreError>;
    /// Evidence of inconsistent checkpoints, oldest first.
    fn evidence(&self) -> Result<Vec<Evidence>, StoreError>;
}
