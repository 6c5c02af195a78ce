//! A running node's state: configuration, keys, store, the world it decides in, and the clock.

use std::path::Path;
use std::sync::{Arc, RwLock};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gsomia_core::{Agreement, AgreementFile, Date, PartyCode, Scheme, User, World, WorldError};
use gsomia_crypto::NodeKeys;
use gsomia_store::{
    AuditDraft, Batch, Committed, PartyRecord, ReleaseRule, Store, StoreError, UserRecord, Verdict,
    Write,
};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::data::{self, Config};
use crate::error::{ApiError, NodeError};

/// The node's clock, injected so that tests and the demo can set the day.
pub type Clock = Arc<dyn Fn() -> OffsetDateTime + Send + Sync>;

/// A rotation that staged its keys is finished if the store committed it (the node's own
/// descriptor names the staged key), and abandoned if not: a crash at any point of `gsomia keys
/// rotate` leaves the keys and the store agreeing.
fn settle_rotation(dir: &Path) -> Result<(), NodeError> {
    let Some(staged) = data::staged_signing(dir)? else {
        return Ok(());
    };
    let staged = NodeKeys::from_seeds(staged, [0; 32], [0; 32])
        .public()
        .signing;
    let (config, _) = data::load(dir)?;
    let store = data::open_store(dir, &config)?;
    let own = store
        .parties()?
        .into_iter()
        .find(|p| p.code == config.party);
    store.close();
    if own.is_some_and(|p| p.keys.signing == staged) {
        data::finish_rotation(dir)
    } else {
        data::abandon_rotation(dir);
        Ok(())
    }
}

/// The system clock.
pub fn system_clock() -> Clock {
    Arc::new(OffsetDateTime::now_utc)
}

/// What a partner answered: the status and the body, or why nothing came back.
pub type Answer = Result<(u16, Vec<u8>), String>;

/// What a deterministic simulation (`gsomia-sim`) puts in place of HTTP between nodes: what
/// this node would post to a partner goes to it, which decides whether it arrives, how often,
/// and whether the answer comes back. Never set by `gsomia serve`.
pub trait Network: Send + Sync {
    /// Posts `body` with `headers` to `path` at `to` on behalf of `from`: the status and the
    /// answer.
    fn post(
        &self,
        from: PartyCode,
        to: PartyCode,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> std::pin::Pin<Box<dyn Future<Output = Answer> + Send + '_>>;
}

/// A node.
pub struct Node {
    /// Its configuration.
    pub config: Config,
    keys: NodeKeys,
    store: Arc<dyn Store>,
    world: RwLock<Arc<World>>,
    /// Woken when a message is queued for a partner.
    outbox: tokio::sync::Notify,
    /// Wakes every stream waiting when an item is stored here (T1).
    items_added: tokio::sync::Notify,
    /// The standing release rules, read on every publication (R7).
    rules: RwLock<Arc<Vec<ReleaseRule>>>,
    /// The store's world version `world` and `rules` were read at; held while they are read
    /// again, so that reloads replace them in order.
    world_version: std::sync::Mutex<u64>,
    /// A copy of `world_version` to compare without taking the lock.
    world_seen: std::sync::atomic::AtomicU64,
    clock: Clock,
    /// Held by whoever reads an agreement, adds an event to it and writes it back (REST and
    /// the inbox alike), so that no concurrent event is lost (A7).
    pub agreements_gate: tokio::sync::Mutex<()>,
    /// One lock per partner: its envelopes are applied one at a time (exactly once, in order),
    /// and partners never wait for each other.
    inbox_gates: std::sync::Mutex<
        std::collections::HashMap<PartyCode, Arc<tokio::sync::Mutex<crate::federation::Turn>>>,
    >,
    /// One signal per partner, given when it is heard from (an envelope or a checkpoint that
    /// verifies): a delivery waiting out its backoff for that partner goes at once.
    heard: std::sync::Mutex<std::collections::HashMap<PartyCode, Arc<tokio::sync::Notify>>>,
    /// TAXII status resources (id, poster, the status as JSON text), the newest 1,024, in
    /// memory: a status is for the poster to check soon after posting; it is not the record
    /// (the audit log is).
    pub taxii_statuses: std::sync::Mutex<std::collections::VecDeque<(String, String, String)>>,
    /// The last delivery failure per partner (when, what), cleared by a delivery: what the
    /// delivery status shows an officer.
    delivery_errors: std::sync::Mutex<std::collections::HashMap<String, (String, String)>>,
    /// The last failure of a partner to witness this node's checkpoint (when, what), cleared by
    /// a cosignature: a partner holding a larger checkpoint than this log shows here.
    witness_errors: std::sync::Mutex<std::collections::HashMap<String, (String, String)>>,
    /// The node's TLS certificate and key (none when it serves plain HTTP on loopback).
    tls: Option<crate::tls::Identity>,
    /// The signing and encryption keys rotations replaced, oldest first (K1).
    previous: Vec<NodeKeys>,
    /// A simulation's network, in place of HTTP ([`Network`]).
    network: RwLock<Option<Arc<dyn Network>>>,
    /// One pooled client per partner, for the key pinned when it was made.
    clients: std::sync::Mutex<std::collections::HashMap<PartyCode, crate::client::Client>>,
    /// What `/metrics` shows.
    metrics: crate::metrics::Metrics,
    /// Set once the server stops taking requests: `/readyz` then answers 503.
    draining: std::sync::atomic::AtomicBool,
    /// The console's sessions (in memory: a restart signs everyone out).
    pub sessions: crate::console::Sessions,
    /// The search index (in memory, rebuilt in the background at start: `crate::search`).
    pub index: crate::search::Index,
    /// This process among those sharing the node's store, for leases (random per start).
    instance: String,
    /// The node itself, for the index's thread (started once, by [`Node::start_index`]).
    me: std::sync::Weak<Node>,
    index_started: std::sync::Once,
}

impl Node {
    /// Opens the node in `dir`.
    pub fn open(dir: &Path, clock: Clock) -> Result<Arc<Node>, NodeError> {
        settle_rotation(dir)?;
        let (config, keys) = data::load(dir)?;
        let previous = data::load_previous(dir, keys.master)?;
        let tls = if config.insecure_http {
            None
        } else {
            Some(data::identity(dir, &config)?)
        };
        let store = data::open_store(dir, &config)?;
        let stored = store.meta("party")?;
        if stored.as_deref() != Some(config.party.as_str()) {
            return Err(NodeError::Input(format!(
                "{}: the database belongs to {:?}, the configuration to {}",
                dir.display(),
                stored,
                config.party
            )));
        }
        let parties = store.parties()?;
        if let Some(own) = parties.iter().find(|p| p.code == config.party)
            && own.keys != keys.public()
        {
            return Err(NodeError::Input(format!(
                "{}: the keys in keys/ (fingerprint {}) are not the ones this node's descriptor \
                 names (fingerprint {}): restore the key files that go with this database",
                dir.display(),
                keys.public().fingerprint(),
                own.keys.fingerprint()
            )));
        }
        let version = store.world_version()?;
        let assured = verified_assurances(&parties, store.assurances()?);
        let world = build_world(parties, store.agreements()?, store.consents()?)?
            .with_assurances(assured)
            .with_facilities(store.facilities()?);
        let world = with_visits(world, &*store)?;
        let rules = RwLock::new(Arc::new(store.release_rules()?));
        let instance = format!(
            "{}-{}",
            std::process::id(),
            &gsomia_crypto::token_hash(&new_token()?)[..12]
        );
        Ok(Arc::new_cyclic(|me| Node {
            config,
            keys,
            metrics: crate::metrics::Metrics::new(store.clone()),
            store,
            world: RwLock::new(Arc::new(world)),
            rules,
            world_version: std::sync::Mutex::new(version),
            world_seen: std::sync::atomic::AtomicU64::new(version),
            outbox: tokio::sync::Notify::new(),
            items_added: tokio::sync::Notify::new(),
            clock,
            agreements_gate: tokio::sync::Mutex::new(()),
            inbox_gates: std::sync::Mutex::new(std::collections::HashMap::new()),
            heard: std::sync::Mutex::new(std::collections::HashMap::new()),
            taxii_statuses: std::sync::Mutex::new(std::collections::VecDeque::new()),
            delivery_errors: std::sync::Mutex::new(std::collections::HashMap::new()),
            witness_errors: std::sync::Mutex::new(std::collections::HashMap::new()),
            tls,
            previous,
            clients: std::sync::Mutex::new(std::collections::HashMap::new()),
            network: RwLock::new(None),
            draining: std::sync::atomic::AtomicBool::new(false),
            sessions: crate::console::Sessions::default(),
            index: crate::search::Index::default(),
            instance,
            me: me.clone(),
            index_started: std::sync::Once::new(),
        }))
    }

    /// Starts building the search index from the stored items, on a thread of its own, the
    /// first time it is asked (by `serve`, or by the first search): shell commands that open
    /// the node for a moment do not decrypt its items.
    pub fn start_index(&self) {
        self.index_started.call_once(|| {
            let me = self.me.clone();
            let spawned = std::thread::Builder::new()
                .name("gsomia-index".into())
                .spawn(move || crate::service::search::rebuild(&me));
            if let Err(e) = spawned {
                tracing::error!("the search index's thread could not start: {e}");
            }
        });
    }

    /// The node's metrics.
    pub fn metrics(&self) -> &crate::metrics::Metrics {
        &self.metrics
    }

    /// Marks the server as stopping (or started).
    pub fn set_draining(&self, draining: bool) {
        self.draining
            .store(draining, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether the node is stopping or its store closed: long answers (streams) end then.
    pub fn stopping(&self) -> bool {
        self.draining.load(std::sync::atomic::Ordering::Relaxed) || !self.store.is_open()
    }

    /// Whether the node takes requests: its store answers and it is not stopping.
    pub fn ready(&self) -> Result<(), String> {
        if self.draining.load(std::sync::atomic::Ordering::Relaxed) {
            return Err("shutting down".into());
        }
        if !self.store.is_open() {
            return Err("the store is closed".into());
        }
        self.store
            .log_size()
            .map(|_| ())
            .map_err(|e| format!("store: {e}"))
    }

    /// Whether this process holds lease `name` (taking or renewing it for `lease_ms`): the
    /// one of several processes sharing a PostgreSQL store that delivers the outboxes
    /// (`delivery`) or checkpoints the log (`checkpoints`). Always, on SQLite (one server per
    /// file).
    pub fn holds(&self, name: &str) -> bool {
        match self.store.lease(name, &self.instance, self.config.lease_ms) {
            Ok(held) => held,
            Err(e) => {
                tracing::warn!(lease = name, "the lease could not be asked for: {e}");
                false
            }
        }
    }

    /// The keys rotations replaced, oldest first.
    pub fn previous_keys(&self) -> &[NodeKeys] {
        &self.previous
    }

    /// Opens an envelope signed by `sender` and sealed to this node: to its current encryption
    /// key, or to one a rotation replaced (a partner may have sealed it before it learned of
    /// the rotation).
    pub fn open_envelope(
        &self,
        env: &gsomia_crypto::envelope::Envelope,
        sender: &gsomia_crypto::VerifyingKey,
    ) -> Result<gsomia_crypto::Verified<Vec<u8>>, gsomia_crypto::envelope::EnvelopeError> {
        use gsomia_crypto::envelope::{EnvelopeError, open};
        let mut result = open(env, sender, self.party(), &self.keys.encryption.to_bytes());
        for old in self.previous.iter().rev() {
            if !matches!(result, Err(EnvelopeError::Decrypt)) {
                break;
            }
            result = open(env, sender, self.party(), &old.encryption.to_bytes());
        }
        result
    }

    /// The node's TLS identity; none when it serves plain HTTP.
    pub fn tls(&self) -> Option<&crate::tls::Identity> {
        self.tls.as_ref()
    }

    /// Posts `body` to `path` at `peer`'s endpoint, over TLS to the key its descriptor pins
    /// (or plain HTTP to a loopback endpoint that pins none); the status and the answer.
    pub async fn post_to(
        &self,
        peer: &PartyRecord,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Result<(u16, Vec<u8>), String> {
        let network = self
            .network
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Some(n) = network {
            return n.post(self.party(), peer.code, path, headers, body).await;
        }
        let endpoint = peer
            .endpoint
            .as_deref()
            .ok_or_else(|| format!("{} has no endpoint", peer.code))?;
        let pin = peer
            .tls_pin
            .as_deref()
            .map(str::parse::<crate::tls::Pin>)
            .transpose()?;
        let client = {
            let mut clients = lock(&self.clients);
            match clients.get(&peer.code) {
                Some(c) if c.pin() == pin => c.clone(),
                _ => {
                    let c = crate::client::Client::new(pin)?;
                    clients.insert(peer.code, c.clone());
                    c
                }
            }
        };
        let url = format!("{}{path}", endpoint.trim_end_matches('/'));
        client.send("POST", &url, headers, body).await
    }

    /// Sends what this node posts to partners through `network` instead of HTTP (a
    /// simulation's).
    pub fn set_network(&self, network: Arc<dyn Network>) {
        *self.network.write().unwrap_or_else(|p| p.into_inner()) = Some(network);
    }

    /// This node's party.
    pub fn party(&self) -> PartyCode {
        self.config.party
    }

    /// The keys.
    pub fn keys(&self) -> &NodeKeys {
        &self.keys
    }

    /// The store.
    pub fn store(&self) -> &dyn Store {
        &*self.store
    }

    /// The current world (schemes, agreements).
    pub fn world(&self) -> Arc<World> {
        // A poisoned lock still holds a consistent world: it is only ever replaced whole.
        match self.world.read() {
            Ok(w) => w.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// The standing release rules.
    pub fn release_rules(&self) -> Arc<Vec<ReleaseRule>> {
        match self.rules.read() {
            Ok(r) => r.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Now.
    pub fn now(&self) -> OffsetDateTime {
        (self.clock)()
    }

    /// Now, as RFC 3339.
    pub fn now_text(&self) -> String {
        self.now().format(&Rfc3339).unwrap_or_default()
    }

    /// Today, the day decisions are taken on.
    pub fn today(&self) -> Date {
        let now = self.now();
        Date::new(now.year(), now.month() as u8, now.day()).unwrap_or_else(|| {
            // INVARIANT: clocks are set between years 1000 and 8999.
            "2000-01-01".parse().unwrap_or_else(|_| unreachable!())
        })
    }

    /// This node's descriptor.
    /// Its endpoint and TLS pin are the configuration's and the certificate's of today.
    pub fn descriptor(&self) -> Result<PartyRecord, NodeError> {
        let stored = self
            .store
            .parties()?
            .into_iter()
            .find(|p| p.code == self.party())
            .ok_or_else(|| NodeError::Input("the node's own descriptor is missing".into()))?;
        Ok(PartyRecord {
            endpoint: self.config.endpoint.clone().or(stored.endpoint.clone()),
            tls_pin: self.tls.as_ref().map(|t| t.info.pin.to_string()),
            ..stored
        })
    }

    /// The signal given when `partner` is heard from ([`Node::heard_from`]).
    pub fn hearing(&self, partner: PartyCode) -> Arc<tokio::sync::Notify> {
        let mut heard = lock(&self.heard);
        heard.entry(partner).or_default().clone()
    }

    /// `partner` was heard from, authenticated: it is up, so a delivery to it that waits out
    /// its backoff goes now.
    pub fn heard_from(&self, partner: PartyCode) {
        self.hearing(partner).notify_waiters();
    }

    /// The lock that orders `partner`'s envelopes.
    pub fn inbox_gate(
        &self,
        partner: PartyCode,
    ) -> Arc<tokio::sync::Mutex<crate::federation::Turn>> {
        let mut gates = lock(&self.inbox_gates);
        gates.entry(partner).or_default().clone()
    }

    /// Records the outcome of a delivery to `peer`: its error, or `None` once delivered.
    pub fn delivery_outcome(&self, peer: &str, error: Option<String>) {
        let outcome = if error.is_some() {
            "failed"
        } else {
            "delivered"
        };
        self.metrics
            .deliveries
            .get_or_create(&crate::metrics::DeliveryLabels {
                partner: peer.to_owned(),
                outcome: outcome.into(),
            })
            .inc();
        self.outcome(&self.delivery_errors, peer, error);
    }

    /// The last delivery failure to `peer` since its last delivery: when, and what.
    pub fn delivery_error(&self, peer: &str) -> Option<(String, String)> {
        lock(&self.delivery_errors).get(peer).cloned()
    }

    /// Records the outcome of asking `peer` to witness a checkpoint: its error, or `None` once
    /// cosigned.
    pub fn witness_outcome(&self, peer: &str, error: Option<String>) {
        let partner = crate::metrics::PartnerLabels {
            partner: peer.to_owned(),
        };
        match error {
            Some(_) => self.metrics.witness_failures.get_or_create(&partner).inc(),
            None => self
                .metrics
                .checkpoints_cosigned
                .get_or_create(&partner)
                .inc(),
        };
        self.outcome(&self.witness_errors, peer, error);
    }

    /// The last failure of `peer` to witness this node's checkpoint since its last cosignature.
    pub fn witness_error(&self, peer: &str) -> Option<(String, String)> {
        lock(&self.witness_errors).get(peer).cloned()
    }

    fn outcome(
        &self,
        errors: &std::sync::Mutex<std::collections::HashMap<String, (String, String)>>,
        peer: &str,
        error: Option<String>,
    ) {
        let mut errors = lock(errors);
        match error {
            Some(e) => errors.insert(peer.to_owned(), (self.now_text(), e)),
            None => errors.remove(peer),
        };
    }

    /// What wakes the streams waiting for items (`notify_waiters` when one is stored here;
    /// items stored by another process sharing the store are found by their next look).
    pub fn items_added(&self) -> &tokio::sync::Notify {
        &self.items_added
    }

    /// Resolves when a message was queued for a partner since the last call.
    pub async fn outbox_queued(&self) {
        self.outbox.notified().await;
    }

    /// Commits a batch without blocking the runtime; wakes the delivery task if it queued a
    /// message for a partner.
    pub async fn write(&self, batch: Batch) -> Result<Committed, ApiError> {
        self.submit(batch).committed().await
    }

    /// [`Node::write`] with search documents made from the objects in clear
    /// ([`Node::submit_indexed`]).
    pub async fn write_indexed(
        &self,
        batch: Batch,
        documents: Vec<crate::search::Prepared>,
    ) -> Result<Committed, ApiError> {
        self.submit_indexed(batch, documents).committed().await
    }

    /// Hands a batch to the store's writer now; [`Submitted::committed`] waits for its commit.
    /// Batches are committed in the order they are submitted.
    pub fn submit(&self, batch: Batch) -> Submitted<'_> {
        self.submit_indexed(batch, vec![])
    }

    /// [`Node::submit`] with the search documents of items the caller has in clear
    /// ([`crate::service::search::document`]): those are not decrypted again to be indexed.
    pub fn submit_indexed(
        &self,
        batch: Batch,
        documents: Vec<crate::search::Prepared>,
    ) -> Submitted<'_> {
        let queues = batch
            .writes
            .iter()
            .any(|w| matches!(w, Write::Enqueue { .. }));
        let changes_world = batch.writes.iter().any(Write::changes_world);
        let adds_items = batch.writes.iter().any(|w| matches!(w, Write::PutItem(_)));
        let decisions = crate::metrics::Metrics::decisions_of(&batch.audit);
        let indexed = crate::service::search::before_commit(self, &batch.writes, documents);
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.store
            .submit(batch, Box::new(move |r| drop(tx.send(r))));
        Submitted {
            node: self,
            rx,
            queues,
            changes_world,
            adds_items,
            decisions,
            indexed,
        }
    }

    /// The world version this process last read its world at ([`Node::refresh_world`]).
    pub fn world_seen(&self) -> u64 {
        self.world_seen.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Reads the world (parties, agreements, consents) and the release rules again if a
    /// batch changed them since they were read, here or in another process sharing the store
    /// ([`gsomia_store::Write::changes_world`]). Every request calls it before it is answered
    /// (`api::access_log`), every write after it commits, and the background loops each round:
    /// a change committed by any process decides the next request at every process.
    pub fn refresh_world(&self) -> Result<(), NodeError> {
        use std::sync::atomic::Ordering;
        let version = self.store.world_version()?;
        if version == self.world_seen.load(Ordering::Acquire) {
            return Ok(());
        }
        let mut seen = self.world_version.lock().unwrap_or_else(|p| p.into_inner());
        // Read after the lock: a reload that waited for it may find the work done.
        let version = self.store.world_version()?;
        if version == *seen {
            return Ok(());
        }
        let parties = self.store.parties()?;
        let assured = verified_assurances(&parties, self.store.assurances()?);
        let world = build_world(parties, self.store.agreements()?, self.store.consents()?)?
            .with_assurances(assured)
            .with_facilities(self.store.facilities()?);
        let world = Arc::new(with_visits(world, &*self.store)?);
        let rules = Arc::new(self.store.release_rules()?);
        // A poisoned lock still holds a consistent value: each is only ever replaced whole.
        *self.world.write().unwrap_or_else(|p| p.into_inner()) = world;
        *self.rules.write().unwrap_or_else(|p| p.into_inner()) = rules;
        *seen = version;
        self.world_seen.store(version, Ordering::Release);
        Ok(())
    }

    /// An audit entry by the shell's administrator.
    fn admin_entry(&self, action: &str, subject: &str, detail: serde_json::Value) -> AuditDraft {
        entry(
            self,
            "admin",
            action,
            subject,
            Verdict::Record,
            None,
            detail,
        )
    }

    /// Adds a user; returns their token, which is shown once and stored only as a hash.
    pub fn add_user(&self, user: User) -> Result<String, NodeError> {
        self.add_user_until(user, None)
    }

    /// Adds a user whose token works until the end of `expires` (none: until reissued or
    /// disabled); returns the token, shown once.
    pub fn add_user_until(&self, user: User, expires: Option<Date>) -> Result<String, NodeError> {
        if self.store.users()?.iter().any(|u| u.user.id == user.id) {
            return Err(NodeError::Input(format!(
                "a user `{}` exists already: choose another id (a disabled user keeps theirs)",
                user.id
            )));
        }
        if user.party != self.party() {
            return Err(NodeError::Input(format!(
                "a user of this node belongs to {}, not {}",
                self.party(),
                user.party
            )));
        }
        self.world()
            .check_user(&user)
            .map_err(|e| NodeError::Input(format!("{}: {}", e.place, e.problem)))?;
        let detail = serde_json::json!({ "roles": user.roles, "clearance": user.clearance, "kind": user.kind, "expires": expires });
        let entry = self.admin_entry("user.add", &user.id, detail);
        let (token, record) = account(user, expires)?;
        self.store.write(Batch {
            writes: vec![Write::AddUser(record)],
            audit: vec![entry],
        })?;
        Ok(token)
    }

    /// Disables a user.
    pub fn disable_user(&self, id: &str) -> Result<(), NodeError> {
        let entry = self.admin_entry("user.disable", id, serde_json::json!({}));
        self.store.write(Batch {
            writes: vec![Write::DisableUser(id.into())],
            audit: vec![entry],
        })?;
        Ok(())
    }

    /// Enables a disabled user again: their current token works again.
    pub fn enable_user(&self, id: &str) -> Result<(), NodeError> {
        let entry = self.admin_entry("user.enable", id, serde_json::json!({}));
        self.store.write(Batch {
            writes: vec![Write::EnableUser(id.into())],
            audit: vec![entry],
        })?;
        Ok(())
    }

    /// Gives a user a new token, valid until the end of `expires` if given; the old one stops
    /// working at once. Returns the token, shown once.
    pub fn reissue_token(&self, id: &str, expires: Option<Date>) -> Result<String, NodeError> {
        let token = new_token()?;
        let detail = serde_json::json!({ "expires": expires });
        let entry = self.admin_entry("user.token", id, detail);
        self.store.write(Batch {
            writes: vec![Write::SetToken {
                id: id.to_owned(),
                token_hash: gsomia_crypto::token_hash(&token),
                expires: expires.map(|d| d.to_string()),
            }],
            audit: vec![entry],
        })?;
        Ok(token)
    }

    /// Sets user `id`'s console passphrase (at least 12 characters), kept only as an Argon2id
    /// PHC string; audited as `user.passwd` (the passphrase goes nowhere else). Console
    /// sessions opened with the old one end.
    pub fn set_passphrase(&self, id: &str, passphrase: &str) -> Result<(), NodeError> {
        if passphrase.chars().count() < 12 {
            return Err(NodeError::Input(
                "the passphrase is shorter than 12 characters".into(),
            ));
        }
        let salt: [u8; 16] = data::random32()?[..16].try_into().unwrap_or_default();
        let phc = gsomia_crypto::passphrase::hash(passphrase, &salt).map_err(NodeError::Io)?;
        let entry = self.admin_entry("user.passwd", id, serde_json::json!({}));
        self.store.write(Batch {
            writes: vec![Write::SetPassphrase {
                id: id.to_owned(),
                phc,
            }],
            audit: vec![entry],
        })?;
        Ok(())
    }

    /// The enabled, unexpired user `id` if `passphrase` is theirs, with the PHC string it
    /// matched (what a console session keeps).
    pub fn user_by_passphrase(
        &self,
        id: &str,
        passphrase: &str,
    ) -> Result<Option<(User, String)>, StoreError> {
        // The same work whether or not `id` has a passphrase, so that the time of a refusal
        // does not tell which ids have one.
        static NONE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
            gsomia_crypto::passphrase::hash("no passphrase is set", &[0; 16]).unwrap_or_default()
        });
        let stored = self.store.passphrase(id)?;
        let phc = stored.as_deref().unwrap_or(NONE.as_str());
        if !gsomia_crypto::passphrase::verify(passphrase, phc) || stored.is_none() {
            return Ok(None);
        }
        Ok(self
            .user_by_passphrase_hash(id, phc)?
            .map(|u| (u, phc.to_owned())))
    }

    /// The enabled, unexpired user `id` whose passphrase is still the one `phc` was made from.
    pub fn user_by_passphrase_hash(&self, id: &str, phc: &str) -> Result<Option<User>, StoreError> {
        if self.store.passphrase(id)?.as_deref() != Some(phc) {
            return Ok(None);
        }
        let today = self.today().to_string();
        Ok(self
            .store
            .users()?
            .into_iter()
            .find(|r| r.user.id == id && !r.disabled)
            .filter(|r| r.expires.as_ref().is_none_or(|last| today <= *last))
            .map(|r| r.user))
    }

    /// The enabled user a bearer token belongs to, if its token has not expired today. Every
    /// interface authenticates users here.
    pub fn user_by_token(&self, token: &str) -> Result<Option<User>, StoreError> {
        self.user_by_token_hash(&gsomia_crypto::token_hash(token))
    }

    /// [`Node::user_by_token`], from the token's hash (what a console session keeps).
    pub fn user_by_token_hash(&self, hash: &str) -> Result<Option<User>, StoreError> {
        let record = self.store.user_by_token(hash)?;
        let today = self.today().to_string();
        Ok(record
            .filter(|r| r.expires.as_ref().is_none_or(|last| today <= *last))
            .map(|r| r.user))
    }

    /// Imports another party's descriptor, or updates a known party's name, scheme or endpoint.
    /// A known party's keys are not replaced this way: a partner's keys change only when its
    /// officer's read fingerprint was checked ([`Node::replace_party_keys`]).
    pub fn import_party(&self, record: PartyRecord) -> Result<(), NodeError> {
        if let Some(known) = self
            .store
            .parties()?
            .into_iter()
            .find(|p| p.code == record.code)
        {
            if known.keys != record.keys {
                return Err(NodeError::Input(format!(
                    "{} is known here with other keys (fingerprint {}); this descriptor's \
                     fingerprint is {}. A partner's keys are not replaced silently: if its \
                     officer read you the new fingerprint, import it again with --force",
                    record.code,
                    known.keys.fingerprint(),
                    record.keys.fingerprint()
                )));
            }
            if known.tls_pin.is_some() && known.tls_pin != record.tls_pin {
                return Err(NodeError::Input(format!(
                    "{} is known here with another TLS key ({}); this descriptor pins {}. A \
                     partner's TLS key is not replaced silently: if its officer read you the new \
                     pin, import it again with --force",
                    record.code,
                    known.tls_pin.as_deref().unwrap_or_default(),
                    record.tls_pin.as_deref().unwrap_or("none")
                )));
            }
        }
        self.put_party(record)
    }

    /// Imports a descriptor whose keys differ from the ones held, once the officer checked its
    /// fingerprint with the partner's officer (`gsomia party import --force`). Audited.
    pub fn replace_party_keys(&self, record: PartyRecord) -> Result<(), NodeError> {
        self.put_party(record)
    }

    fn put_party(&self, record: PartyRecord) -> Result<(), NodeError> {
        if record.code == self.party() {
            return Err(NodeError::Input(
                "that is this node's own descriptor".into(),
            ));
        }
        record
            .keys
            .check()
            .map_err(|e| NodeError::Input(e.to_string()))?;
        if let Some(pin) = &record.tls_pin {
            pin.parse::<crate::tls::Pin>().map_err(NodeError::Input)?;
        }
        let scheme = Scheme::new(record.scheme.clone())
            .map_err(|e| NodeError::Input(format!("scheme: {e}")))?;
        if scheme.party() != record.code {
            return Err(NodeError::Input(format!(
                "the scheme is {}'s, not {}'s",
                scheme.party(),
                record.code
            )));
        }
        let entry = self.admin_entry(
            "party.import",
            record.code.as_str(),
            serde_json::json!({ "signing_key": record.keys.signing, "fingerprint": record.keys.fingerprint() }),
        );
        self.store.write(Batch {
            writes: vec![Write::PutParty(record)],
            audit: vec![entry],
        })?;
        self.refresh_world()
    }

    /// Imports (or replaces) an agreement, checked against the parties this node knows.
    pub fn import_agreement(&self, file: AgreementFile) -> Result<(), NodeError> {
        let agreement =
            Agreement::new(file.clone()).map_err(|e| NodeError::Input(e.to_string()))?;
        if !agreement.names(self.party()) {
            return Err(NodeError::Input(format!(
                "the agreement does not name this node's party {}",
                self.party()
            )));
        }
        let mut agreements = self.store.agreements()?;
        agreements.retain(|a| a.id != file.id);
        agreements.push(file.clone());
        build_world(self.store.parties()?, agreements, self.store.consents()?)?;
        let entry = self.admin_entry(
            "agreement.import",
            file.id.as_str(),
            serde_json::json!({ "events": file.events.len() }),
        );
        self.store.write(Batch {
            writes: vec![Write::PutAgreement(Box::new(file))],
            audit: vec![entry],
        })?;
        self.refresh_world()
    }

    /// Lets go of the leases this process holds (another takes them over at once) and stops
    /// the writer after it commits what it has.
    pub fn close(&self) {
        for name in LEASES {
            // A lease that ends now; nothing where another process holds it.
            if let Err(e) = self.store.lease(name, &self.instance, 0) {
                tracing::debug!(lease = name, "the lease was not let go: {e}");
            }
        }
        self.store.close();
    }
}

/// The leases of [`Node::holds`].
const LEASES: [&str; 2] = ["delivery", "checkpoints"];

/// A mutex's guard, also when a thread panicked holding it: what these mutexes guard (maps of
/// locks, statuses, last errors) is replaced whole, never left half-written.
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A new bearer token: 32 random bytes.
/// A new account for `user`, its token valid until the end of `expires`: the token (shown once)
/// and the record that keeps only its hash.
pub(crate) fn account(
    user: User,
    expires: Option<Date>,
) -> Result<(String, UserRecord), NodeError> {
    let token = new_token()?;
    let record = UserRecord {
        token_hash: gsomia_crypto::token_hash(&token),
        user,
        disabled: false,
        expires: expires.map(|d| d.to_string()),
    };
    Ok((token, record))
}

fn new_token() -> Result<String, NodeError> {
    Ok(format!(
        "gsomia_{}",
        URL_SAFE_NO_PAD.encode(data::random32()?)
    ))
}

/// `world` with the visits authorised in the letters the store holds under its agreements (V1).
fn with_visits(world: World, store: &dyn Store) -> Result<World, StoreError> {
    let mut letters = vec![];
    for a in world.agreements() {
        letters.extend(store.letters(a.id().as_str())?);
    }
    Ok(world.with_visits(letters))
}

/// The world from stored descriptors and agreements.
pub fn build_world(
    parties: Vec<PartyRecord>,
    agreements: Vec<AgreementFile>,
    consents: Vec<gsomia_core::Consent>,
) -> Result<World, NodeError> {
    let schemes = parties
        .iter()
        .map(|p| {
            Scheme::new(p.scheme.clone())
                .map_err(|e| NodeError::Input(format!("party {}: {e}", p.code)))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let compiled = agreements
        .iter()
        .map(|a| {
            Agreement::new(a.clone())
                .map_err(|e| NodeError::Input(format!("agreement `{}`: {e}", a.id)))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let consents = verified_consents(&parties, consents);
    World::new(schemes, compiled, consents).map_err(|e| {
        NodeError::Input(match e {
            WorldError::Agreement { index, invalid } => format!(
                "agreement `{}`: {invalid} (import the descriptors of its parties first)",
                agreements[index].id
            ),
            WorldError::Scheme { index, invalid } => {
                format!("party {}: {invalid}", parties[index].code)
            }
            WorldError::Consent { invalid, .. } => format!("consent: {invalid}"),
        })
    })
}

/// The consents of `stored` whose originator's signature verifies with a key this node holds,
/// and whose parties it knows (R4: verified, not trusted because stored). One that does not is
/// left out and logged: no stored row can keep the node from starting (H4).
pub fn verified_consents(
    parties: &[PartyRecord],
    stored: Vec<gsomia_core::Consent>,
) -> Vec<gsomia_core::Consent> {
    stored
        .into_iter()
        .filter_map(|c| match verify_consent(parties, c) {
            Ok(v) if parties.iter().any(|p| p.code == v.holder) => Some(v.into_inner()),
            Ok(v) => {
                tracing::error!(consent = %v.id, holder = %v.holder, "a stored consent names an unknown holder; left out");
                None
            }
            Err(e) => {
                tracing::error!(error = %e, "a stored consent does not verify; left out");
                None
            }
        })
        .collect()
}

/// The assurances of `stored` whose giver's signature verifies with a key this node holds (S1:
/// verified, not trusted because stored); one that does not is left out and logged.
pub fn verified_assurances(
    parties: &[PartyRecord],
    stored: Vec<gsomia_core::Assurance>,
) -> Vec<gsomia_core::Assurance> {
    stored
        .into_iter()
        .filter_map(|a| match verify_assurance(parties, a) {
            Ok(v) => Some(v.into_inner()),
            Err(e) => {
                tracing::error!(error = %e, "a stored assurance does not verify; left out");
                None
            }
        })
        .collect()
}

/// An assurance verified with its giver's key, if this node holds that key (S1).
pub fn verify_assurance(
    parties: &[PartyRecord],
    assurance: gsomia_core::Assurance,
) -> Result<gsomia_crypto::Verified<gsomia_core::Assurance>, String> {
    let by = assurance.by;
    verify_signed(parties, by, assurance)
}

/// `t` verified with a key this node holds for party `by`, current or replaced (K1): for the
/// statements signed in a field of their own (letters, assurances).
pub fn verify_signed<T: gsomia_crypto::signed::SelfSigned>(
    parties: &[PartyRecord],
    by: PartyCode,
    t: T,
) -> Result<gsomia_crypto::Verified<T>, String> {
    let keys: Vec<_> = parties
        .iter()
        .filter(|p| p.code == by)
        .flat_map(verifying_keys)
        .collect();
    if keys.is_empty() {
        return Err(format!("`{}`: the key of {by} is unknown here", t.id()));
    }
    let mut last = String::new();
    for key in keys {
        match gsomia_crypto::signed::verify(&key, t.clone()) {
            Ok(v) => return Ok(v),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// A consent verified with its originator's key, if this node holds that key (R4, H2).
pub fn verify_consent(
    parties: &[PartyRecord],
    consent: gsomia_core::Consent,
) -> Result<gsomia_crypto::Verified<gsomia_core::Consent>, String> {
    let Some(record) = parties.iter().find(|p| p.code == consent.originator) else {
        return Err(format!(
            "consent `{}`: the key of its originator {} is unknown here",
            consent.id, consent.originator
        ));
    };
    let mut first = None;
    for key in verifying_keys(record) {
        match gsomia_crypto::verify_consent(&key, consent.clone()) {
            Ok(v) => return Ok(v),
            Err(e) => {
                first.get_or_insert(e.to_string());
            }
        }
    }
    Err(first.unwrap_or_else(|| format!("{}'s keys are malformed", record.code)))
}

/// The keys `record`'s party signs with: the current one first, then those its rotations
/// replaced, newest first (K1: what they signed before stays valid).
pub fn verifying_keys(record: &PartyRecord) -> Vec<gsomia_crypto::VerifyingKey> {
    record
        .signing_keys()
        .filter_map(|k| k.verifying_key().ok())
        .collect()
}

/// Verifies `item`'s binding with any key its originator's `record` ever signed with (K1);
/// the error of the current key if none verifies.
pub fn verify_binding_by<I: std::borrow::Borrow<gsomia_core::Item>>(
    record: &PartyRecord,
    item: I,
) -> Result<gsomia_crypto::Verified<I>, String> {
    verify_binding_with(record.code, &verifying_keys(record), item).map(|(verified, _)| verified)
}

/// [`verify_binding_by`] with the originator's keys read already (once for an envelope of many
/// items), answering also the object's canonical form, which the receiver seals.
pub fn verify_binding_with<I: std::borrow::Borrow<gsomia_core::Item>>(
    originator: PartyCode,
    keys: &[gsomia_crypto::VerifyingKey],
    item: I,
) -> Result<(gsomia_crypto::Verified<I>, Vec<u8>), String> {
    if keys.is_empty() {
        return Err(format!("{originator}'s keys are malformed"));
    }
    gsomia_crypto::binding::verify_binding_canonical(keys, item).map_err(|e| e.to_string())
}

/// `f` applied to each of `items`, in order, spread over the machine's cores (scoped threads,
/// one slice each): for an envelope's per-item checks and signatures, which depend on nothing
/// but the item. Few items are done on the calling thread.
pub fn par_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    const ALONE: usize = 8;
    // Asked once: on Linux the answer reads the cgroup's CPU quota from files each time
    // (open, stat, read, close: 3 % of a publication's CPU when asked per batch).
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    let cores = *CORES
        .get_or_init(|| std::thread::available_parallelism().map_or(1, std::num::NonZero::get));
    if cores < 2 || items.len() <= ALONE {
        return items.iter().map(&f).collect();
    }
    let slice = items.len().div_ceil(cores);
    let f = &f;
    std::thread::scope(|scope| {
        let others: Vec<_> = items[slice..]
            .chunks(slice)
            .map(|chunk| scope.spawn(move || chunk.iter().map(f).collect::<Vec<R>>()))
            .collect();
        let mut out: Vec<R> = items[..slice].iter().map(f).collect();
        for other in others {
            match other.join() {
                Ok(part) => out.extend(part),
                // A panic in `f` is the caller's, as if it had run here.
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        out
    })
}

/// Whether `partner` is a party to an agreement with this node that this node's party has
/// signed: only then is it more than a stranger with a descriptor (SPEC §7). A proposal that
/// names this party is not enough.
pub fn partner(world: &World, me: PartyCode, partner: PartyCode) -> bool {
    partner != me
        && world.agreements_between(partner, me).any(|a| {
            a.file()
                .events
                .iter()
                .any(|e| e.by == me && e.kind == gsomia_core::EventKind::Signed)
        })
}

/// Logs a refusal of an unauthenticated request, at most a few times a second (H5): such
/// requests never reach the audit log, and can not flood the node's own log either.
pub fn log_unauthenticated(what: &str, detail: &str) {
    use std::sync::atomic::{AtomicU64, Ordering};
    static WINDOW: AtomicU64 = AtomicU64::new(0);
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let second = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    if WINDOW.swap(second, Ordering::Relaxed) != second {
        COUNT.store(0, Ordering::Relaxed);
    }
    if COUNT.fetch_add(1, Ordering::Relaxed) < 5 {
        // The caller's text is cut short: it is not the caller's log to write.
        let detail: String = detail.chars().take(80).collect();
        tracing::warn!(what, detail, "refused an unauthenticated request");
    }
}

/// An audit entry of a decision or record made now by `actor` (a user id, `admin`, `node`, or a
/// partner's code).
pub fn entry(
    node: &Node,
    actor: &str,
    action: &str,
    subject: &str,
    decision: Verdict,
    rule: Option<gsomia_core::Rule>,
    detail: serde_json::Value,
) -> AuditDraft {
    let mut detail = detail;
    // The request it was decided in, if any: its log lines carry the same id.
    if let Ok(id) = crate::api::REQUEST_ID.try_with(Clone::clone)
        && let Some(fields) = detail.as_object_mut()
    {
        fields.insert("request".into(), id.into());
    }
    AuditDraft {
        at: node.now_text(),
        actor: actor.into(),
        action: action.into(),
        subject: subject.into(),
        decision,
        rule,
        detail,
    }
}

/// A batch the store's writer has ([`Node::submit`]), with what to do once it is committed.
pub struct Submitted<'a> {
    node: &'a Node,
    rx: tokio::sync::oneshot::Receiver<Result<Committed, gsomia_store::StoreError>>,
    queues: bool,
    changes_world: bool,
    adds_items: bool,
    decisions: Vec<crate::metrics::DecisionLabels>,
    indexed: crate::service::search::Pending,
}

impl Submitted<'_> {
    /// Waits for the commit; then reads the world again if the batch changed it, counts its
    /// decisions, indexes its items for search and wakes whoever waits on what it stored.
    pub async fn committed(self) -> Result<Committed, ApiError> {
        let node = self.node;
        let result = match self.rx.await {
            Ok(r) => r.map_err(ApiError::from),
            Err(_) => Err(ApiError::from(gsomia_store::StoreError::Closed)),
        };
        if result.is_ok() {
            if self.changes_world
                && let Err(e) = node.refresh_world()
            {
                // Committed all the same; the next request reads the world again.
                tracing::warn!("the world was not read again after a change: {e}");
            }
            node.metrics.committed(&self.decisions);
            crate::service::search::after_commit(node, self.indexed);
            if self.queues {
                node.outbox.notify_one();
            }
            if self.adds_items {
                node.items_added.notify_waiters();
            }
        }
        result
    }
}
