//! The shapes of the API's answers, for the OpenAPI document only: the handlers build their
//! answers as JSON (`crate::service`), and these structs say what that JSON holds, field by
//! field, so that a client (and schemathesis, which checks every answer it gets against them in
//! `cargo test`) can rely on it. A field here that an answer lacks, or has with another type,
//! fails that test. Labels, markings and STIX objects stay `Object`: their own shapes are the
//! label's (docs/RULES.md) and STIX 2.1's; so do agreement files, schemes and equivalence rows,
//! whose shapes are the files' (examples/model-case). An `Option` field is absent or null where
//! its doc says so.

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
    /// The rule's number (`GET /api/v1/release-rules`).
    release_rule: i64,
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

/// A party's public keys.
#[derive(ToSchema)]
pub(super) struct PublicKeys {
    /// Ed25519 verifying key, base64.
    signing: String,
    /// X25519 public key, base64.
    encryption: String,
}

/// A party's descriptor: who it is, its scheme, its public keys, where to reach it.
#[derive(ToSchema)]
pub(super) struct Party {
    /// The party code (`KOR`).
    code: String,
    name: String,
    /// Its classification scheme, as its scheme file.
    #[schema(value_type = Object)]
    scheme: Value,
    keys: PublicKeys,
    /// Its federation endpoint; absent if none is known.
    endpoint: Option<String>,
    /// The SHA-256 of its TLS certificate's public key, `sha256//BASE64` (H7); absent if none
    /// is known.
    tls_pin: Option<String>,
    /// The keys it used before its last rotations, oldest first; absent if it never rotated.
    #[schema(required = false)]
    previous_keys: Vec<PublicKeys>,
}

/// The parties this node knows, itself included.
#[derive(ToSchema)]
pub(super) struct Parties {
    parties: Vec<Party>,
}

/// The state of an agreement on a day (A8), as `gsomia agreement state` prints it.
#[derive(ToSchema)]
pub(super) struct AgreementStatus {
    /// The day (`YYYY-MM-DD`).
    at: String,
    /// `pending`, `in_force`, `notice_given`, `notice_suspended` or `terminated`.
    state: String,
    /// Whether items may be exchanged under it (R1).
    in_force: bool,
    /// The day it entered into force; null until it has.
    entered_into_force: Option<String>,
    /// The last day of the term running; null unless it is in force with a fixed term.
    term_ends: Option<String>,
    /// The day it terminates (or terminated); null until that is fixed.
    terminates_on: Option<String>,
}

/// An agreement as listed.
#[derive(ToSchema)]
pub(super) struct AgreementSummary {
    id: String,
    title: String,
    /// Party codes.
    parties: Vec<String>,
    /// Its state today.
    status: AgreementStatus,
}

/// The agreements this node knows.
#[derive(ToSchema)]
pub(super) struct Agreements {
    agreements: Vec<AgreementSummary>,
}

/// An agreement and its state.
#[derive(ToSchema)]
pub(super) struct AgreementState {
    /// The agreement file: parties, equivalence, terms, events, amendments.
    #[schema(value_type = Object)]
    agreement: Value,
    status: AgreementStatus,
}

/// An event of an agreement's history (A7).
#[derive(ToSchema)]
pub(super) struct Event {
    /// `signed`, `notice`, `suspend`, `resume` or `withdraw`.
    #[serde(rename = "type")]
    kind: String,
    /// The party whose event it is.
    by: String,
    /// The day (`YYYY-MM-DD`).
    on: String,
    /// Absent if none was given.
    note: Option<String>,
}

/// An event recorded, and the agreement's state today with it.
#[derive(ToSchema)]
pub(super) struct EventRecorded {
    event: Event,
    status: AgreementStatus,
}

/// A party's signature of an amendment.
#[derive(ToSchema)]
pub(super) struct Signature {
    by: String,
    on: String,
}

/// An amendment of an agreement (A9): a new table, a new scope, or both.
#[derive(ToSchema)]
pub(super) struct Amendment {
    id: String,
    /// The new equivalence table (rows as in an agreement file); absent if unchanged.
    #[schema(value_type = Option<Vec<Object>>)]
    equivalence: Option<Vec<Value>>,
    /// The new scope (topics); absent if unchanged.
    scope: Option<Vec<String>>,
    /// The parties' signatures so far.
    signed: Vec<Signature>,
}

/// An amendment with this party's signature.
#[derive(ToSchema)]
pub(super) struct Amended {
    /// The agreement's id.
    agreement: String,
    amendment: Amendment,
    /// The day it takes effect; null until every party has signed.
    in_force_from: Option<String>,
}

/// What a visit request asks, or an authorisation allows (V1, V2).
#[derive(ToSchema)]
pub(super) struct Visit {
    /// The party visited.
    host: String,
    visitor: String,
    /// The id of the assurance (S1) the visitor's party gave the host for the visitor.
    assurance: String,
    facility: String,
    /// The first day.
    from: String,
    /// The last day.
    until: String,
    /// The highest level, in the host's scheme, the visitor may read.
    level: String,
    topics: Vec<String>,
    /// An inspection by a security representative (V2).
    inspection: bool,
}

/// A letter between the parties' authorities under an agreement (N1, D1, V1, V2), signed by
/// its sender.
#[derive(ToSchema)]
pub(super) struct Letter {
    /// `<party>-letter-<hex>`.
    id: String,
    /// The agreement's id.
    agreement: String,
    /// `law_notice`, `acknowledgement`, `dispute`, `settlement`, `visit_request`,
    /// `visit_authorisation`, `visit_refusal` or `findings`.
    kind: String,
    /// The party whose authority wrote it.
    from: String,
    /// The letter it answers; absent on a letter that answers none.
    answers: Option<String>,
    text: String,
    /// A law notice's day of effect; absent on other letters.
    effective: Option<String>,
    /// A visit request's or authorisation's visit; absent on other letters.
    visit: Option<Visit>,
    /// When it was written (RFC 3339).
    sent: String,
    /// The sender's signature (base64): every letter kept verifies.
    signature: String,
}

/// A letter, signed and queued.
#[derive(ToSchema)]
pub(super) struct LetterSent {
    letter: Letter,
}

/// A letter kept, and the letters that answer it.
#[derive(ToSchema)]
pub(super) struct LetterKept {
    letter: Letter,
    /// Letter ids.
    answered_by: Vec<String>,
}

/// The letters kept under an agreement, in the order they were kept.
#[derive(ToSchema)]
pub(super) struct Letters {
    /// The agreement's id.
    agreement: String,
    letters: Vec<LetterKept>,
}

/// An assurance (S1): the giver's recipient holds the clearance for a level and needs the
/// items for an official purpose. Signed by the giver.
#[derive(ToSchema)]
pub(super) struct Assurance {
    /// `<party>-assurance-<hex>`.
    id: String,
    /// The party that gives it: the recipient's.
    by: String,
    /// The party it is given to: the one that will provide items.
    to: String,
    agreement: String,
    /// The representative or facility that will receive.
    recipient: String,
    /// The highest level, in the giver's scheme, the recipient is cleared for.
    level: String,
    purpose: String,
    /// The first day it stands.
    given: String,
    /// The last day it stands.
    until: String,
    /// The giver's signature (base64): every assurance kept verifies.
    signature: String,
}

/// An assurance, signed and queued.
#[derive(ToSchema)]
pub(super) struct AssuranceGiven {
    assurance: Assurance,
}

/// The assurances this node holds, given and received.
#[derive(ToSchema)]
pub(super) struct Assurances {
    assurances: Vec<Assurance>,
}

/// A contractor facility (C1).
#[derive(ToSchema)]
pub(super) struct Facility {
    id: String,
    name: String,
    /// The party that registered it.
    party: String,
    /// Its facility clearance: a level of the party's scheme.
    clearance: String,
    /// The person responsible for its security.
    responsible: String,
    /// The days it was inspected (`YYYY-MM-DD`), the initial inspection first.
    inspections: Vec<String>,
}

/// A facility as kept.
#[derive(ToSchema)]
pub(super) struct FacilityKept {
    facility: Facility,
}

/// The node's contractor facilities.
#[derive(ToSchema)]
pub(super) struct Facilities {
    facilities: Vec<Facility>,
}

/// What a visit's authorisation opens at the host: the visitor's account.
#[derive(ToSchema)]
pub(super) struct Visitor {
    /// The account's id.
    user: String,
    /// Its bearer token, shown this once.
    token: String,
    /// The last day the token works: the visit's last day.
    expires: String,
}

/// A visit authorised: the signed letter, queued, and the visitor's account.
#[derive(ToSchema)]
pub(super) struct VisitAuthorised {
    letter: Letter,
    visitor: Visitor,
}

/// A visit: the request, the host's answer and an inspection's findings.
#[derive(ToSchema)]
pub(super) struct VisitKept {
    request: Letter,
    /// The authorisation or refusal; null while unanswered.
    answer: Option<Letter>,
    /// An inspection's findings; null until reported.
    findings: Option<Letter>,
}

/// The visits this node keeps letters of, in the order they were asked for.
#[derive(ToSchema)]
pub(super) struct Visits {
    visits: Vec<VisitKept>,
}

/// A holder's request for an originator's consent to release its item onward (R4).
#[derive(ToSchema)]
pub(super) struct ConsentRequest {
    /// The item's STIX id (every version of it).
    item: String,
    originator: String,
    /// The holder that would release it.
    holder: String,
    /// To whom.
    to: String,
    /// The item's purpose.
    purpose: String,
    /// The last day asked for.
    until: String,
    /// The holder's user who asked.
    asked_by: String,
    /// When (RFC 3339).
    asked: String,
}

/// A consent request, queued for the originator.
#[derive(ToSchema)]
pub(super) struct ConsentAsked {
    request: ConsentRequest,
}

/// An originator's revocation of its consent (R4b).
#[derive(ToSchema)]
pub(super) struct Revocation {
    /// The first day the consent no longer stands.
    from: String,
    /// The originator's signature (base64) over the consent's id and `from`.
    signature: String,
}

/// A consent (R4), or a standing consent (R4b), signed by its originator.
#[derive(ToSchema)]
pub(super) struct Consent {
    id: String,
    originator: String,
    /// The item's STIX id; absent on a standing consent.
    item: Option<String>,
    /// A standing consent's topic; absent on a consent for one item.
    topic: Option<String>,
    /// The holder that may release.
    holder: String,
    /// A party code, or `contractors`.
    to: String,
    purpose: String,
    /// The first day it stands.
    given: String,
    /// The last day it stands.
    until: String,
    /// The originator's signature (base64): every consent kept verifies.
    signature: String,
    /// Absent unless revoked.
    revoked: Option<Revocation>,
}

/// An originator's answer to a consent request: the consent if approved, the request if
/// refused.
#[derive(ToSchema)]
pub(super) struct ConsentAnswer {
    approved: bool,
    /// Present when approved.
    consent: Option<Consent>,
    /// Present when refused.
    request: Option<ConsentRequest>,
}

/// A consent request from a partner, with this party's answer.
#[derive(ToSchema)]
pub(super) struct ConsentRequestKept {
    /// The request's number here.
    id: i64,
    request: ConsentRequest,
    /// Null while unanswered.
    answer: Option<ConsentAnswer>,
}

/// Consent requests from partners about this party's items.
#[derive(ToSchema)]
pub(super) struct ConsentRequests {
    requests: Vec<ConsentRequestKept>,
}

/// A consent given or revoked by this party, queued for the holder (and for a standing
/// consent's recipient).
#[derive(ToSchema)]
pub(super) struct ConsentGiven {
    /// Always `true`.
    approved: bool,
    consent: Consent,
}

/// The consents this node holds.
#[derive(ToSchema)]
pub(super) struct Consents {
    consents: Vec<Consent>,
}

/// An incident report (P6), or the follow-up with the investigation's result.
#[derive(ToSchema)]
pub(super) struct Incident {
    /// Its number here.
    id: i64,
    /// The item's STIX id.
    item: String,
    /// `loss`, `compromise`, `possible_compromise`, or `result` for a follow-up.
    kind: String,
    /// What happened, or the result and measures.
    description: String,
    reported_by: String,
    /// When (RFC 3339).
    at: String,
    /// The report a follow-up follows; absent on a first report.
    follows: Option<i64>,
}

/// A report recorded, and the parties it was queued for.
#[derive(ToSchema)]
pub(super) struct IncidentReported {
    incident: Incident,
    /// Party codes: the originator and the custody chain, this node excepted.
    reported_to: Vec<String>,
}

/// Every incident report.
#[derive(ToSchema)]
pub(super) struct Incidents {
    incidents: Vec<Incident>,
}

/// An item that holds one of another item's observable values.
#[derive(ToSchema)]
pub(super) struct Related {
    /// STIX id.
    id: String,
    originator: String,
    /// The marking it is read under here (M1, M2).
    #[schema(value_type = Object)]
    marking: Value,
    /// The values they share.
    values: Vec<String>,
}

/// A search hit: what identifies and describes it, never the whole object.
#[derive(ToSchema)]
pub(super) struct SearchHit {
    /// STIX id.
    id: String,
    /// The STIX `modified` of the version found.
    version: String,
    /// The STIX type.
    #[serde(rename = "type")]
    stix_type: String,
    /// When this node stored it (RFC 3339).
    added: String,
    /// The object's `name`; null where it has none. (The four fields are copied from the
    /// object, whose STIX 2.1 type makes them strings.)
    name: Option<String>,
    /// The object's `description`; null where it has none.
    description: Option<String>,
    /// The object's `pattern`; null where it has none.
    pattern: Option<String>,
    /// The object's `value`; null where it has none.
    value: Option<String>,
    /// The originator's label.
    #[schema(value_type = Object)]
    label: Value,
    /// The marking it is read under here (M1, M2).
    #[schema(value_type = Object)]
    marking: Value,
    /// The fields that matched: `name`, `description`, `pattern`, `value`, `other`.
    matched: Vec<String>,
    related: Vec<Related>,
}

/// What a search found.
#[derive(ToSchema)]
pub(super) struct SearchResults {
    /// Newest first.
    items: Vec<SearchHit>,
    /// Whether there is more beyond the limit.
    more: bool,
    /// How many matching documents were looked at.
    checked: u64,
}

/// The items related to one.
#[derive(ToSchema)]
pub(super) struct RelatedItems {
    /// The item's STIX id, as asked.
    item: String,
    related: Vec<Related>,
}

/// A destruction certificate (P5), signed by the holder.
#[derive(ToSchema)]
pub(super) struct DestructionCertificate {
    /// STIX id.
    item: String,
    /// The STIX `modified` of the version destroyed.
    version: String,
    originator: String,
    /// The party that destroyed it: this one.
    holder: String,
    /// The user who destroyed it.
    by: String,
    reason: String,
    /// When (RFC 3339).
    destroyed: String,
}

/// A version destroyed.
#[derive(ToSchema)]
pub(super) struct Destroyed {
    certificate: DestructionCertificate,
    /// This node's signature (base64) over the certificate.
    signature: String,
    /// Whether the certificate was queued for the originator (the agreement's
    /// `report_destruction`).
    reported_to_originator: bool,
}

/// A certificate of return (P8), signed by the holder.
#[derive(ToSchema)]
pub(super) struct ReturnCertificate {
    /// STIX id.
    item: String,
    /// The STIX `modified` of the version returned.
    version: String,
    originator: String,
    /// The party that returned it: this one.
    holder: String,
    /// The user who returned it.
    by: String,
    reason: String,
    /// When (RFC 3339).
    returned: String,
}

/// A version returned to its originator.
#[derive(ToSchema)]
pub(super) struct Returned {
    certificate: ReturnCertificate,
    /// This node's signature (base64) over the certificate.
    signature: String,
    /// Always `true`: a return always goes to the originator.
    reported_to_originator: bool,
}

/// A standing release rule (R7).
#[derive(ToSchema)]
pub(super) struct ReleaseRule {
    /// Its number here.
    id: i64,
    /// The recipient.
    to: String,
    /// An item must have one of these topics.
    topics: Vec<String>,
    /// The highest level, of this node's scheme, it covers.
    max_level: String,
    created_by: String,
    /// When (RFC 3339).
    created: String,
}

/// The standing release rules.
#[derive(ToSchema)]
pub(super) struct ReleaseRules {
    rules: Vec<ReleaseRule>,
}

/// A reclassification (M4) applied here and queued for every holder.
#[derive(ToSchema)]
pub(super) struct Reclassified {
    /// The level before, in this node's scheme.
    from: String,
    /// The level now.
    to: String,
    /// Party codes of the holders it was queued for.
    sent_to: Vec<String>,
}

/// Evidence that a partner rewrote its audit log (H6).
#[derive(ToSchema)]
pub(super) struct Evidence {
    /// The partner.
    party: String,
    /// The checkpoint witnessed before (its signed note).
    held: String,
    /// The checkpoint shown now.
    shown: String,
    /// The consistency proof between them, which fails.
    proof: ConsistencyProof,
    /// When it was found (RFC 3339).
    found: String,
    /// What failed.
    message: String,
}

/// Evidence of partners' rewritten logs.
#[derive(ToSchema)]
pub(super) struct EvidenceList {
    evidence: Vec<Evidence>,
}

/// One of a holder's audit entries about an item, proven included in its log.
#[derive(ToSchema)]
pub(super) struct ProvenEntry {
    seq: u64,
    /// The entry, parsed from `body`; null if the holder's body is not JSON.
    #[schema(value_type = Option<Object>)]
    entry: Option<Value>,
    /// The entry exactly as hashed into the holder's tree.
    body: String,
    proof: InclusionProof,
}

/// An item's custody record at a holder, verified here.
#[derive(ToSchema)]
pub(super) struct CustodyRecord {
    /// The item's STIX id, as asked.
    item: String,
    /// The holder's party code.
    holder: String,
    /// The holder's checkpoint, witnessed by this node, that the proofs are against.
    checkpoint: String,
    /// Always `true`: an answer that does not verify is a 502.
    verified: bool,
    entries: Vec<ProvenEntry>,
}

/// A register (G1): a table of text, signed.
#[derive(ToSchema)]
pub(super) struct Register {
    /// `people` or `holdings`.
    register: String,
    /// This node's party code.
    party: String,
    /// The day it stands at, at its end.
    at: String,
    /// When it was made (RFC 3339).
    made: String,
    columns: Vec<String>,
    /// One cell a column.
    rows: Vec<Vec<String>>,
    /// This node's signature (base64) over the document without it.
    signature: String,
}
