//! The SQLite store: one file in WAL mode, one writer thread that commits batches in groups,
//! readers on their own connections in parallel.
//!
//! Durability: `synchronous = FULL`, so a batch whose callback has run is on disk and survives
//! a crash of the process or the machine. Group commit: the writer takes every batch waiting
//! (up to [`GROUP`]) into one transaction, each batch under its own savepoint so that one refused
//! batch does not undo the others, then commits once.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;

use gsomia_core::{AgreementFile, Consent, User};
use rusqlite::{
    Connection, ErrorCode, OptionalExtension, Transaction, TransactionBehavior, params,
};

use gsomia_log::{Frontier, Hash, HashReader, ReaderError};
use rustc_hash::FxHashMap;

use crate::audit::{AuditEntry, GENESIS};
use crate::{
    Batch, Committed, ConsentRequest, Counts, Done, Incident, OutboxMessage, PartyRecord,
    PeerDelivery, ReleaseRule, Store, StoreError, StoredItem, UserRecord, Write,
};

/// The most batches committed in one transaction.
pub const GROUP: usize = 512;

/// Schema migrations, applied in order; `PRAGMA user_version` counts those applied.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE parties (code TEXT PRIMARY KEY, record TEXT NOT NULL);
CREATE TABLE agreements (id TEXT PRIMARY KEY, file TEXT NOT NULL);
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    user TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    disabled INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE items (
    seq INTEGER PRIMARY KEY,
    stix_id TEXT NOT NULL,
    modified TEXT NOT NULL,
    stix_type TEXT NOT NULL,
    label TEXT NOT NULL,
    marking TEXT,
    custody TEXT NOT NULL,
    binding TEXT NOT NULL,
    wrapped_key BLOB,
    content BLOB,
    added TEXT NOT NULL,
    destroyed TEXT,
    UNIQUE (stix_id, modified)
);
CREATE TABLE outbox (
    seq INTEGER PRIMARY KEY,
    peer TEXT NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    created TEXT NOT NULL,
    delivered TEXT
);
CREATE INDEX outbox_pending ON outbox (peer, seq) WHERE delivered IS NULL;
CREATE TABLE audit (seq INTEGER PRIMARY KEY, body TEXT NOT NULL, hash TEXT NOT NULL);
"#,
    r#"
CREATE TABLE release_rules (id INTEGER PRIMARY KEY, rule TEXT NOT NULL);
CREATE TABLE incidents (
    id INTEGER PRIMARY KEY,
    item TEXT NOT NULL,
    report TEXT NOT NULL,
    follows INTEGER REFERENCES incidents (id)
);
"#,
    r#"
CREATE TABLE receipts (
    item TEXT NOT NULL,
    version TEXT NOT NULL,
    party TEXT NOT NULL,
    receipt TEXT NOT NULL,
    PRIMARY KEY (item, version, party)
);
CREATE TABLE inbox (peer TEXT PRIMARY KEY, last_seq INTEGER NOT NULL);
CREATE TABLE consents (id TEXT PRIMARY KEY, consent TEXT NOT NULL);
CREATE TABLE consent_requests (
    id INTEGER PRIMARY KEY,
    request TEXT NOT NULL,
    answer TEXT
);
CREATE TABLE replies (
    peer TEXT NOT NULL,
    envelope TEXT NOT NULL,
    reply TEXT NOT NULL,
    PRIMARY KEY (peer, envelope)
);
"#,
    // The Merkle log (issue 5): stored hashes by stored hash index, checkpoints issued and
    // witnessed, cosignatures, evidence; audit entries findable by subject.
    r#"
CREATE TABLE merkle (idx INTEGER PRIMARY KEY, hash BLOB NOT NULL);
CREATE TABLE checkpoints (size INTEGER PRIMARY KEY, note TEXT NOT NULL, issued TEXT NOT NULL);
CREATE TABLE cosignatures (
    size INTEGER NOT NULL,
    witness TEXT NOT NULL,
    line TEXT NOT NULL,
    PRIMARY KEY (size, witness)
);
CREATE TABLE witnessed (
    party TEXT NOT NULL,
    size INTEGER NOT NULL,
    note TEXT NOT NULL,
    received TEXT NOT NULL,
    PRIMARY KEY (party, size)
);
CREATE TABLE evidence (id INTEGER PRIMARY KEY, party TEXT NOT NULL, found TEXT NOT NULL,
                       record TEXT NOT NULL);
ALTER TABLE audit ADD COLUMN subject TEXT;
UPDATE audit SET subject = json_extract(body, '$.subject');
CREATE INDEX audit_subject ON audit (subject, seq);
"#,
    // TAXII collections (issue 6): an item's tags (`<originator>/<topic>` for each topic,
    // `from/<party>` for what a partner sent), ordered by when it was added (microseconds).
    r#"
CREATE TABLE item_tags (
    tag TEXT NOT NULL,
    added INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (tag, added, seq)
) WITHOUT ROWID;
CREATE TABLE tags (tag TEXT PRIMARY KEY) WITHOUT ROWID;
INSERT INTO item_tags (tag, added, seq)
    SELECT json_extract(i.label, '$.originator') || '/' || t.value,
           CAST((julianday(i.added) - 2440587.5) * 86400000000 AS INTEGER), i.seq
    FROM items i, json_each(i.label, '$.topics') t;
INSERT OR IGNORE INTO item_tags (tag, added, seq)
    SELECT 'from/' || json_extract(i.custody, '$[#-1].from'),
           CAST((julianday(i.added) - 2440587.5) * 86400000000 AS INTEGER), i.seq
    FROM items i WHERE json_array_length(i.custody) > 0;
INSERT OR IGNORE INTO tags (tag) SELECT DISTINCT tag FROM item_tags;
"#,
    // Tokens that expire: the last day a user's token works (`YYYY-MM-DD`), or none.
    r#"
ALTER TABLE users ADD COLUMN expires TEXT;
"#,
    // Console passphrases: an Argon2id PHC string, never the passphrase.
    r#"
ALTER TABLE users ADD COLUMN passphrase TEXT;
"#,
];

/// A batch with its JSON made by the submitting thread, so that the one writer thread only runs
/// SQL and chains hashes.
struct Job {
    batch: Batch,
    /// For each `PutItem` write, in order: label, marking and custody as JSON.
    items: Vec<(String, Option<String>, String)>,
    /// For each `PutItem` write, in order: its tags and when it was added (µs).
    tags: Vec<(Vec<String>, i64)>,
    /// The canonical body of each audit draft.
    bodies: Vec<String>,
    done: Done,
}

impl Job {
    fn new(batch: Batch, done: Done) -> Job {
        let items = batch
            .writes
            .iter()
            .filter_map(|w| match w {
                Write::PutItem(i) => Some((
                    json(&i.label),
                    i.marking.as_ref().map(json),
                    json(&i.custody),
                )),
                _ => None,
            })
            .collect();
        let tags = batch
            .writes
            .iter()
            .filter_map(|w| match w {
                Write::PutItem(i) => Some((crate::item_tags(i), crate::added_micros(&i.added))),
                _ => None,
            })
            .collect();
        let bodies = batch.audit.iter().map(|d| d.body()).collect();
        Job {
            batch,
            items,
            tags,
            bodies,
            done,
        }
    }
}

/// A store in one SQLite file.
pub struct SqliteStore {
    path: PathBuf,
    jobs: Mutex<Option<Sender<Job>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    readers: Arc<Mutex<Vec<Connection>>>,
    /// Stored Merkle hashes of subtrees of at least 2^[`CACHED_LEVEL`] entries, as read: they
    /// never change once committed, they are most of what a proof reads, and there are few of
    /// them (one per 32 entries: 10 MB at 10 million entries).
    upper: RwLock<FxHashMap<u64, [u8; 32]>>,
    /// What the writer has committed, for the node's metrics.
    stats: Arc<Stats>,
}

/// The writer's counters.
#[derive(Debug, Default)]
struct Stats {
    commits: std::sync::atomic::AtomicU64,
    batches: std::sync::atomic::AtomicU64,
    micros: std::sync::atomic::AtomicU64,
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

/// The lowest tree level whose hashes [`SqliteStore`] keeps in memory once read.
const CACHED_LEVEL: u8 = 5;

fn db(e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(ErrorCode::ConstraintViolation) => StoreError::Conflict(e.to_string()),
        _ => StoreError::Database(e.to_string()),
    }
}

fn json<T: serde::Serialize>(v: &T) -> String {
    // INVARIANT: gsomia's records serialise to JSON without error (no maps with non-string keys).
    serde_json::to_string(v).unwrap_or_default()
}

fn parse<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn open(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path).map_err(db)?;
    rusqlite::vtab::array::load_module(&conn).map_err(db)?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;
         PRAGMA busy_timeout = 5000;",
    )
    .map_err(db)?;
    Ok(conn)
}

/// A consistent copy of the database at `path` in `to` (which must not exist; it is created with
/// mode 0600), taken while others write: `VACUUM INTO` reads one snapshot, so the copy holds
/// every transaction committed when it began and nothing after. Its size in bytes.
pub fn snapshot(path: &Path, to: &Path) -> Result<u64, StoreError> {
    let io = |e: std::io::Error| StoreError::Database(format!("{}: {e}", to.display()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    drop(options.open(to).map_err(io)?);
    let conn = Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(db)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(db)?;
    let target = to
        .to_str()
        .ok_or_else(|| StoreError::Database(format!("{}: not UTF-8", to.display())))?;
    conn.execute("VACUUM INTO ?1", [target]).map_err(db)?;
    Ok(std::fs::metadata(to).map_err(io)?.len())
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`, migrates it, and starts the writer.
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteStore, StoreError> {
        let path = path.as_ref().to_path_buf();
        let mut conn = open(&path)?;
        // The writer alone gets a large page cache and checkpoints the WAL less often: both
        // measured faster for group commits (BENCHMARKS.md, store alone).
        conn.execute_batch("PRAGMA cache_size = -32768; PRAGMA wal_autocheckpoint = 8192;")
            .map_err(db)?;
        migrate(&mut conn)?;
        let (seq, hash) = chain_head(&conn)?;
        let tree = catch_up_tree(&mut conn, seq)?;
        let head = Head { seq, hash, tree };
        let version = data_version(&conn)?;
        let (tx, rx) = channel::<Job>();
        let stats = Arc::new(Stats::default());
        let counted = stats.clone();
        let writer = std::thread::Builder::new()
            .name("gsomia-store-writer".into())
            .spawn(move || run_writer(conn, rx, head, version, &counted))
            .map_err(|e| StoreError::Database(e.to_string()))?;
        Ok(SqliteStore {
            path,
            jobs: Mutex::new(Some(tx)),
            writer: Mutex::new(Some(writer)),
            readers: Arc::new(Mutex::new(Vec::new())),
            upper: RwLock::default(),
            stats,
        })
    }

    /// Whether the store takes writes (it has not been closed).
    pub fn is_open(&self) -> bool {
        self.jobs.lock().is_ok_and(|j| j.is_some())
    }

    /// What the writer has committed since the store was opened.
    pub fn commit_stats(&self) -> CommitStats {
        use std::sync::atomic::Ordering::Relaxed;
        CommitStats {
            commits: self.stats.commits.load(Relaxed),
            batches: self.stats.batches.load(Relaxed),
            seconds: self.stats.micros.load(Relaxed) as f64 / 1e6,
        }
    }

    /// Stops accepting writes, waits for the writer to commit what it has, and checkpoints the
    /// WAL into the database file.
    pub fn close(&self) {
        if let Ok(mut jobs) = self.jobs.lock() {
            jobs.take();
        }
        if let Ok(mut w) = self.writer.lock()
            && let Some(handle) = w.take()
        {
            let _ = handle.join();
        }
    }

    /// Runs `f` on a reader connection from the pool.
    fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let conn = self.readers.lock().map_err(|_| StoreError::Closed)?.pop();
        let conn = match conn {
            Some(c) => c,
            None => open(&self.path)?,
        };
        let result = f(&conn);
        if let Ok(mut pool) = self.readers.lock()
            && pool.len() < 16
        {
            pool.push(conn);
        }
        result
    }
}

impl SqliteStore {
    /// Every row of a query of an id and a JSON column, parsed, the id set by `set_id`.
    fn all_json_with_id<T: serde::de::DeserializeOwned>(
        &self,
        sql: &str,
        set_id: impl Fn(&mut T, i64),
    ) -> Result<Vec<T>, StoreError> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(sql).map_err(db)?;
            let rows = stmt
                .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))
                .map_err(db)?;
            rows.map(|r| {
                let (id, text) = r.map_err(db)?;
                let mut value: T = parse(&text)?;
                set_id(&mut value, id);
                Ok(value)
            })
            .collect()
        })
    }

    /// Every row of a query of one JSON column, parsed.
    fn all_json<T: serde::de::DeserializeOwned>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
    ) -> Result<Vec<T>, StoreError> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(sql).map_err(db)?;
            let rows = stmt
                .query_map(params, |r| r.get::<_, String>(0))
                .map_err(db)?;
            rows.map(|r| parse(&r.map_err(db)?)).collect()
        })
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        self.close();
    }
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(db)?;
    if version as usize > MIGRATIONS.len() {
        return Err(StoreError::Database(format!(
            "the database has schema version {version}, newer than this gsomia ({})",
            MIGRATIONS.len()
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let tx = conn.transaction().map_err(db)?;
        tx.execute_batch(sql).map_err(db)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)
            .map_err(db)?;
        tx.commit().map_err(db)?;
    }
    Ok(())
}

/// What the writer appends after: the last audit entry's number and hash, and the right edge of
/// the Merkle tree.
#[derive(Clone)]
struct Head {
    seq: u64,
    hash: String,
    #[cfg_attr(feature = "benchmark-without-merkle-log", allow(dead_code))]
    tree: Frontier,
}

/// Stored Merkle hashes read through one connection.
struct StoredHashes<'a>(&'a Connection);

impl HashReader for StoredHashes<'_> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, ReaderError> {
        read_hashes(self.0, indexes)
            .map(|v| v.into_iter().map(Hash).collect())
            .map_err(|_| ReaderError::IndexesNotInTree)
    }
}

/// The stored hashes at `indexes`, in that order, read with one statement.
fn read_hashes(c: &Connection, indexes: &[u64]) -> Result<Vec<[u8; 32]>, StoreError> {
    let mut stmt = c
        .prepare_cached("SELECT idx, hash FROM merkle WHERE idx IN rarray(?1)")
        .map_err(db)?;
    let wanted: Vec<rusqlite::types::Value> = indexes
        .iter()
        .map(|&i| rusqlite::types::Value::Integer(i as i64))
        .collect();
    let mut rows = stmt.query([std::rc::Rc::new(wanted)]).map_err(db)?;
    let mut got: Vec<(u64, [u8; 32])> = Vec::with_capacity(indexes.len());
    while let Some(r) = rows.next().map_err(db)? {
        let i = r.get::<_, i64>(0).map_err(db)? as u64;
        let hash = r
            .get_ref(1)
            .map_err(db)?
            .as_blob()
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .ok_or_else(|| StoreError::Corrupt(format!("merkle hash {i} is not 32 bytes")))?;
        got.push((i, hash));
    }
    got.sort_unstable_by_key(|(i, _)| *i);
    indexes
        .iter()
        .map(|i| {
            got.binary_search_by_key(i, |(at, _)| *at)
                .map(|k| got[k].1)
                .map_err(|_| StoreError::NotFound(format!("merkle hash {i}")))
        })
        .collect()
}

/// Loads the Merkle tree's right edge and adds to the tree any audit entries it lacks (a
/// database from before the Merkle log, or one written by a benchmark build without it).
fn catch_up_tree(conn: &mut Connection, audit_size: u64) -> Result<Frontier, StoreError> {
    let max: Option<i64> = conn
        .query_row("SELECT max(idx) FROM merkle", [], |r| r.get(0))
        .map_err(db)?;
    let stored = max.map_or(0, |m| m as u64 + 1);
    let size = gsomia_log::tree::size_for_stored_count(stored).ok_or_else(|| {
        StoreError::Corrupt(format!("{stored} stored Merkle hashes make no tree"))
    })?;
    if size > audit_size {
        return Err(StoreError::Corrupt(format!(
            "the Merkle tree has {size} leaves but the audit log {audit_size} entries"
        )));
    }
    let mut tree = Frontier::load(size, &StoredHashes(conn))
        .map_err(|e| StoreError::Corrupt(format!("Merkle tree of size {size}: {e}")))?;
    while tree.size() < audit_size {
        let tx = conn.transaction().map_err(db)?;
        {
            let mut read = tx
                .prepare("SELECT body FROM audit WHERE seq > ?1 ORDER BY seq LIMIT 100000")
                .map_err(db)?;
            let bodies = read
                .query_map([tree.size() as i64], |r| r.get::<_, String>(0))
                .map_err(db)?;
            let mut insert = tx
                .prepare_cached("INSERT INTO merkle (idx, hash) VALUES (?1, ?2)")
                .map_err(db)?;
            for body in bodies {
                let body = body.map_err(db)?;
                for (i, h) in tree.append(gsomia_log::leaf_hash(body.as_bytes())) {
                    insert.execute(params![i as i64, &h.0[..]]).map_err(db)?;
                }
            }
        }
        tx.commit().map_err(db)?;
    }
    Ok(tree)
}

/// SQLite's count of commits made by other connections to this database, as this connection
/// sees it (`PRAGMA data_version`).
fn data_version(conn: &Connection) -> Result<i64, StoreError> {
    conn.query_row("PRAGMA data_version", [], |r| r.get(0))
        .map_err(db)
}

/// The number and hash of the last audit entry (0 and the genesis hash for an empty log).
fn chain_head(conn: &Connection) -> Result<(u64, String), StoreError> {
    Ok(conn
        .query_row(
            "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?)),
        )
        .optional()
        .map_err(db)?
        .unwrap_or((0, GENESIS.to_owned())))
}

/// The head of the audit chain and the right edge of its Merkle tree, as stored.
fn stored_head(conn: &Connection) -> Result<Head, StoreError> {
    let (seq, hash) = chain_head(conn)?;
    #[cfg(not(feature = "benchmark-without-merkle-log"))]
    let size = seq;
    #[cfg(feature = "benchmark-without-merkle-log")]
    let size = 0;
    let tree = Frontier::load(size, &StoredHashes(conn))
        .map_err(|e| StoreError::Corrupt(format!("Merkle tree of size {size}: {e}")))?;
    Ok(Head { seq, hash, tree })
}

fn run_writer(
    mut conn: Connection,
    jobs: Receiver<Job>,
    mut head: Head,
    version: i64,
    stats: &Stats,
) {
    // The data version this writer's head is up to date with; `None` forces a reload.
    let mut version = Some(version);
    while let Ok(first) = jobs.recv() {
        let mut group = vec![first];
        while group.len() < GROUP {
            match jobs.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        let before = head.clone();
        let started = std::time::Instant::now();
        match commit_group(&mut conn, &group, &mut head, &mut version) {
            Ok(results) => {
                use std::sync::atomic::Ordering::Relaxed;
                stats.commits.fetch_add(1, Relaxed);
                stats.batches.fetch_add(group.len() as u64, Relaxed);
                stats
                    .micros
                    .fetch_add(started.elapsed().as_micros() as u64, Relaxed);
                for (job, r) in group.into_iter().zip(results) {
                    (job.done)(r);
                }
            }
            Err(e) => {
                // The transaction failed as a whole (disk full, I/O error): nothing is stored.
                head = before;
                version = None;
                let msg = e.to_string();
                for job in group {
                    (job.done)(Err(StoreError::Database(msg.clone())));
                }
            }
        }
    }
    let _ = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);");
}

fn commit_group(
    conn: &mut Connection,
    group: &[Job],
    head: &mut Head,
    version: &mut Option<i64>,
) -> Result<Vec<Result<Committed, StoreError>>, StoreError> {
    // The write lock first: one writer at a time, whatever the process. Another process (the
    // shell's `gsomia user add` beside `gsomia serve`) may have committed since this writer last
    // did: then its entries are in the chain, and this writer goes on from the stored head.
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db)?;
    let now = data_version(&tx)?;
    if *version != Some(now) {
        *head = stored_head(&tx)?;
        *version = Some(now);
    }
    let mut results = Vec::with_capacity(group.len());
    // Prepared once per connection: parsing these per batch cost more than the inserts.
    let run = |sql: &str| {
        tx.prepare_cached(sql)
            .and_then(|mut s| s.execute([]))
            .map_err(db)
    };
    for job in group {
        let saved = head.clone();
        run("SAVEPOINT batch")?;
        match apply(&tx, job, head) {
            Ok(c) => {
                run("RELEASE batch")?;
                results.push(Ok(c));
            }
            Err(e) => {
                run("ROLLBACK TO batch")?;
                run("RELEASE batch")?;
                *head = saved;
                results.push(Err(e));
            }
        }
    }
    tx.commit().map_err(db)?;
    Ok(results)
}

fn apply(tx: &Transaction, job: &Job, head: &mut Head) -> Result<Committed, StoreError> {
    let mut committed = Committed::default();
    let mut items = job.items.iter();
    let mut tags = job.tags.iter();
    for w in &job.batch.writes {
        match w {
            Write::SetMeta { key, value } => {
                tx.prepare_cached("INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)")
                    .and_then(|mut s| s.execute(params![key, value]))
                    .map_err(db)?;
            }
            Write::PutParty(p) => {
                tx.prepare_cached("INSERT OR REPLACE INTO parties (code, record) VALUES (?1, ?2)")
                    .and_then(|mut s| s.execute(params![p.code.as_str(), json(p)]))
                    .map_err(db)?;
            }
            Write::PutAgreement(a) => {
                tx.prepare_cached("INSERT OR REPLACE INTO agreements (id, file) VALUES (?1, ?2)")
                    .and_then(|mut s| s.execute(params![a.id.as_str(), json(a)]))
                    .map_err(db)?;
            }
            Write::AddUser(u) => {
                tx.prepare_cached(
                    "INSERT INTO users (id, user, token_hash, disabled, expires)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .and_then(|mut s| {
                    s.execute(params![
                        u.user.id,
                        json(&u.user),
                        u.token_hash,
                        u.disabled,
                        u.expires
                    ])
                })
                .map_err(db)?;
            }
            Write::DisableUser(id) | Write::EnableUser(id) => {
                let disabled = matches!(w, Write::DisableUser(_));
                let n = tx
                    .prepare_cached("UPDATE users SET disabled = ?2 WHERE id = ?1")
                    .and_then(|mut s| s.execute(params![id, disabled]))
                    .map_err(db)?;
                if n == 0 {
                    return Err(StoreError::NotFound(format!("user `{id}`")));
                }
            }
            Write::SetPassphrase { id, phc } => {
                let n = tx
                    .prepare_cached("UPDATE users SET passphrase = ?2 WHERE id = ?1")
                    .and_then(|mut s| s.execute(params![id, phc]))
                    .map_err(db)?;
                if n == 0 {
                    return Err(StoreError::NotFound(format!("user `{id}`")));
                }
            }
            Write::SetToken {
                id,
                token_hash,
                expires,
            } => {
                let n = tx
                    .prepare_cached("UPDATE users SET token_hash = ?2, expires = ?3 WHERE id = ?1")
                    .and_then(|mut s| s.execute(params![id, token_hash, expires]))
                    .map_err(db)?;
                if n == 0 {
                    return Err(StoreError::NotFound(format!("user `{id}`")));
                }
            }
            Write::PutItem(i) => {
                // INVARIANT: `Job::new` made one entry per `PutItem`, in order.
                let (label, marking, custody) = items.next().ok_or(StoreError::Closed)?;
                tx.prepare_cached(
                    "INSERT INTO items (stix_id, modified, stix_type, label, marking, custody, binding,
                                        wrapped_key, content, added, destroyed)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                )
                .and_then(|mut s| {
                    s.execute(params![
                        i.id, i.modified, i.stix_type, label, marking, custody, i.binding, i.wrapped_key,
                        i.content, i.added, i.destroyed
                    ])
                })
                .map_err(|e| match db(e) {
                    StoreError::Conflict(_) => {
                        StoreError::Conflict(format!("item `{}` version `{}` is already stored", i.id, i.modified))
                    }
                    other => other,
                })?;
                let seq = tx.last_insert_rowid();
                committed.items.push(seq);
                // INVARIANT: `Job::new` made one entry per `PutItem`, in order.
                let (item_tags, added) = tags.next().ok_or(StoreError::Closed)?;
                for tag in item_tags {
                    tx.prepare_cached(
                        "INSERT OR IGNORE INTO item_tags (tag, added, seq) VALUES (?1, ?2, ?3)",
                    )
                    .and_then(|mut s| s.execute(params![tag, added, seq]))
                    .map_err(db)?;
                    tx.prepare_cached("INSERT OR IGNORE INTO tags (tag) VALUES (?1)")
                        .and_then(|mut s| s.execute(params![tag]))
                        .map_err(db)?;
                }
            }
            Write::Reclassify {
                id,
                label,
                binding,
                marking,
                custody,
            } => {
                let n = tx
                    .prepare_cached(
                        "UPDATE items SET label = ?2, binding = ?3, marking = ?4, custody = ?5 WHERE stix_id = ?1",
                    )
                    .and_then(|mut s| {
                        s.execute(params![id, json(label), binding, marking.as_ref().map(json), json(custody)])
                    })
                    .map_err(db)?;
                if n == 0 {
                    return Err(StoreError::NotFound(format!("item `{id}`")));
                }
            }
            Write::DestroyItem { id, modified, at } => {
                let n = tx
                    .prepare_cached(
                        "UPDATE items SET wrapped_key = NULL, content = NULL, destroyed = ?3
                         WHERE stix_id = ?1 AND modified = ?2 AND destroyed IS NULL",
                    )
                    .and_then(|mut s| s.execute(params![id, modified, at]))
                    .map_err(db)?;
                if n == 0 {
                    return Err(StoreError::NotFound(format!(
                        "item `{id}` version `{modified}`"
                    )));
                }
            }
            Write::AddReleaseRule(rule) => {
                tx.prepare_cached("INSERT INTO release_rules (rule) VALUES (?1)")
                    .and_then(|mut s| s.execute(params![json(rule)]))
                    .map_err(db)?;
                committed.ids.push(tx.last_insert_rowid());
            }
            Write::AddIncident(incident) => {
                tx.prepare_cached(
                    "INSERT INTO incidents (item, report, follows) VALUES (?1, ?2, ?3)",
                )
                .and_then(|mut s| {
                    s.execute(params![incident.item, json(incident), incident.follows])
                })
                .map_err(|e| match db(e) {
                    StoreError::Conflict(_) => {
                        StoreError::NotFound(format!("incident {:?}", incident.follows))
                    }
                    other => other,
                })?;
                committed.ids.push(tx.last_insert_rowid());
            }
            Write::Delivered { peer, through, at } => {
                tx.prepare_cached(
                    "UPDATE outbox SET delivered = ?3 WHERE peer = ?1 AND seq <= ?2 AND delivered IS NULL",
                )
                .and_then(|mut s| s.execute(params![peer, *through as i64, at]))
                .map_err(db)?;
            }
            Write::PutReceipt {
                item,
                version,
                party,
                receipt,
            } => {
                tx.prepare_cached(
                    "INSERT OR REPLACE INTO receipts (item, version, party, receipt) VALUES (?1, ?2, ?3, ?4)",
                )
                .and_then(|mut s| s.execute(params![item, version, party, receipt.to_string()]))
                .map_err(db)?;
            }
            Write::Received {
                peer,
                through,
                envelope,
                reply,
            } => {
                tx.prepare_cached("INSERT OR REPLACE INTO inbox (peer, last_seq) VALUES (?1, ?2)")
                    .and_then(|mut s| s.execute(params![peer, *through as i64]))
                    .map_err(db)?;
                tx.prepare_cached(
                    "INSERT OR REPLACE INTO replies (peer, envelope, reply) VALUES (?1, ?2, ?3)",
                )
                .and_then(|mut s| s.execute(params![peer, envelope, reply.to_string()]))
                .map_err(db)?;
            }
            Write::PutConsent(consent) => {
                // H1: a consent is never replaced, least of all by another originator's.
                let consent: &gsomia_core::Consent = consent;
                tx.prepare_cached(
                    "INSERT INTO consents (id, consent) VALUES (?1, ?2) ON CONFLICT (id) DO NOTHING",
                )
                .and_then(|mut s| s.execute(params![consent.id, json(consent)]))
                    .map_err(db)?;
            }
            Write::AddConsentRequest(request) => {
                tx.prepare_cached("INSERT INTO consent_requests (request) VALUES (?1)")
                    .and_then(|mut s| s.execute(params![request.to_string()]))
                    .map_err(db)?;
                committed.ids.push(tx.last_insert_rowid());
            }
            Write::AnswerConsentRequest { id, answer } => {
                let n = tx
                    .prepare_cached(
                        "UPDATE consent_requests SET answer = ?2 WHERE id = ?1 AND answer IS NULL",
                    )
                    .and_then(|mut s| s.execute(params![id, answer.to_string()]))
                    .map_err(db)?;
                if n == 0 {
                    return Err(StoreError::NotFound(format!("open consent request {id}")));
                }
            }
            Write::Enqueue {
                peer,
                kind,
                payload,
                at,
            } => {
                tx.prepare_cached(
                    "INSERT INTO outbox (peer, kind, payload, created) VALUES (?1, ?2, ?3, ?4)",
                )
                .and_then(|mut s| s.execute(params![peer, kind, payload.to_string(), at]))
                .map_err(db)?;
            }
            Write::PutCheckpoint { size, note, at } => {
                tx.prepare_cached(
                    "INSERT OR IGNORE INTO checkpoints (size, note, issued) VALUES (?1, ?2, ?3)",
                )
                .and_then(|mut s| s.execute(params![*size as i64, note, at]))
                .map_err(db)?;
            }
            Write::PutWitnessed {
                party,
                size,
                note,
                at,
            } => {
                tx.prepare_cached(
                    "INSERT OR IGNORE INTO witnessed (party, size, note, received)
                     VALUES (?1, ?2, ?3, ?4)",
                )
                .and_then(|mut s| s.execute(params![party, *size as i64, note, at]))
                .map_err(db)?;
            }
            Write::PutCosignature {
                size,
                witness,
                line,
            } => {
                tx.prepare_cached(
                    "INSERT OR REPLACE INTO cosignatures (size, witness, line) VALUES (?1, ?2, ?3)",
                )
                .and_then(|mut s| s.execute(params![*size as i64, witness, line]))
                .map_err(db)?;
            }
            Write::AddEvidence { party, record, at } => {
                tx.prepare_cached(
                    "INSERT INTO evidence (party, found, record) VALUES (?1, ?2, ?3)",
                )
                .and_then(|mut s| s.execute(params![party, at, record.to_string()]))
                .map_err(db)?;
            }
        }
    }
    for (body, draft) in job.bodies.iter().zip(&job.batch.audit) {
        let entry = AuditEntry::chain(head.seq + 1, &head.hash, body.clone());
        tx.prepare_cached("INSERT INTO audit (seq, body, hash, subject) VALUES (?1, ?2, ?3, ?4)")
            .and_then(|mut s| {
                s.execute(params![
                    entry.seq as i64,
                    entry.body,
                    entry.hash,
                    draft.subject
                ])
            })
            .map_err(db)?;
        // The entry's leaf and the subtrees it completes commit with it: a checkpoint read
        // after this commit never covers an entry that is not on disk.
        #[cfg(not(feature = "benchmark-without-merkle-log"))]
        for (i, h) in head.tree.append(gsomia_log::leaf_hash(body.as_bytes())) {
            tx.prepare_cached("INSERT INTO merkle (idx, hash) VALUES (?1, ?2)")
                .and_then(|mut s| s.execute(params![i as i64, &h.0[..]]))
                .map_err(db)?;
        }
        committed.audit.push(entry.seq);
        head.seq = entry.seq;
        head.hash = entry.hash;
    }
    Ok(committed)
}

fn audit_row(r: &rusqlite::Row) -> rusqlite::Result<AuditEntry> {
    Ok(AuditEntry {
        seq: r.get::<_, i64>(0)? as u64,
        body: r.get(1)?,
        hash: r.get(2)?,
    })
}

const ITEM_COLUMNS: &str = "seq, stix_id, modified, stix_type, label, marking, custody, binding, \
                            wrapped_key, content, added, destroyed";

/// An item row before its JSON columns are parsed.
struct RawItem {
    seq: i64,
    id: String,
    modified: String,
    stix_type: String,
    label: String,
    marking: Option<String>,
    custody: String,
    binding: String,
    wrapped_key: Option<Vec<u8>>,
    content: Option<Vec<u8>>,
    added: String,
    destroyed: Option<String>,
}

fn item_row(r: &rusqlite::Row) -> rusqlite::Result<RawItem> {
    item_row_at(r, 0)
}

/// An item row whose columns ([`ITEM_COLUMNS`]) start at column `at`.
fn item_row_at(r: &rusqlite::Row, at: usize) -> rusqlite::Result<RawItem> {
    Ok(RawItem {
        seq: r.get(at)?,
        id: r.get(at + 1)?,
        modified: r.get(at + 2)?,
        stix_type: r.get(at + 3)?,
        label: r.get(at + 4)?,
        marking: r.get(at + 5)?,
        custody: r.get(at + 6)?,
        binding: r.get(at + 7)?,
        wrapped_key: r.get(at + 8)?,
        content: r.get(at + 9)?,
        added: r.get(at + 10)?,
        destroyed: r.get(at + 11)?,
    })
}

fn finish_item(raw: RawItem) -> Result<StoredItem, StoreError> {
    Ok(StoredItem {
        seq: raw.seq,
        id: raw.id,
        modified: raw.modified,
        stix_type: raw.stix_type,
        label: parse(&raw.label)?,
        marking: raw.marking.as_deref().map(parse).transpose()?,
        custody: parse(&raw.custody)?,
        binding: raw.binding,
        wrapped_key: raw.wrapped_key,
        content: raw.content,
        added: raw.added,
        destroyed: raw.destroyed,
    })
}

impl Store for SqliteStore {
    fn submit(&self, batch: Batch, done: Done) {
        let sender = self.jobs.lock().ok().and_then(|j| j.clone());
        match sender {
            Some(tx) => {
                if let Err(err) = tx.send(Job::new(batch, done)) {
                    (err.0.done)(Err(StoreError::Closed));
                }
            }
            None => done(Err(StoreError::Closed)),
        }
    }

    fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.read(|c| {
            c.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
                .optional()
                .map_err(db)
        })
    }

    fn parties(&self) -> Result<Vec<PartyRecord>, StoreError> {
        self.all_json("SELECT record FROM parties ORDER BY code", [])
    }

    fn agreements(&self) -> Result<Vec<AgreementFile>, StoreError> {
        self.all_json("SELECT file FROM agreements ORDER BY id", [])
    }

    fn users(&self) -> Result<Vec<UserRecord>, StoreError> {
        self.read(|c| {
            let mut stmt = c
                .prepare_cached("SELECT user, token_hash, disabled, expires FROM users ORDER BY id")
                .map_err(db)?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((r.get::<_, String>(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })
                .map_err(db)?;
            rows.map(|r| {
                let (user, token_hash, disabled, expires) = r.map_err(db)?;
                Ok(UserRecord {
                    user: parse::<User>(&user)?,
                    token_hash,
                    disabled,
                    expires,
                })
            })
            .collect()
        })
    }

    fn passphrase(&self, id: &str) -> Result<Option<String>, StoreError> {
        self.read(|c| {
            Ok(
                c.prepare_cached("SELECT passphrase FROM users WHERE id = ?1 AND disabled = 0")
                    .map_err(db)?
                    .query_row([id], |r| r.get::<_, Option<String>>(0))
                    .optional()
                    .map_err(db)?
                    .flatten(),
            )
        })
    }

    fn user_by_token(&self, token_hash: &str) -> Result<Option<UserRecord>, StoreError> {
        self.read(|c| {
            let row: Option<(String, Option<String>)> = c
                .prepare_cached(
                    "SELECT user, expires FROM users WHERE token_hash = ?1 AND disabled = 0",
                )
                .map_err(db)?
                .query_row([token_hash], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
                .map_err(db)?;
            row.map(|(u, expires)| {
                Ok(UserRecord {
                    user: parse(&u)?,
                    token_hash: token_hash.to_owned(),
                    disabled: false,
                    expires,
                })
            })
            .transpose()
        })
    }

    fn item(&self, id: &str, modified: Option<&str>) -> Result<Option<StoredItem>, StoreError> {
        self.read(|c| {
            let row = match modified {
                Some(m) => c
                    .prepare_cached(&format!("SELECT {ITEM_COLUMNS} FROM items WHERE stix_id = ?1 AND modified = ?2"))
                    .map_err(db)?
                    .query_row(params![id, m], item_row)
                    .optional(),
                None => c
                    .prepare_cached(&format!(
                        "SELECT {ITEM_COLUMNS} FROM items WHERE stix_id = ?1 ORDER BY modified DESC LIMIT 1"
                    ))
                    .map_err(db)?
                    .query_row(params![id], item_row)
                    .optional(),
            }
            .map_err(db)?;
            row.map(finish_item).transpose()
        })
    }

    fn items_after(&self, after: i64, limit: usize) -> Result<Vec<StoredItem>, StoreError> {
        self.read(|c| {
            let mut stmt = c
                .prepare_cached(&format!(
                    "SELECT {ITEM_COLUMNS} FROM items WHERE seq > ?1 ORDER BY seq LIMIT ?2"
                ))
                .map_err(db)?;
            let rows = stmt
                .query_map(params![after, limit as i64], item_row)
                .map_err(db)?;
            rows.map(|r| finish_item(r.map_err(db)?)).collect()
        })
    }

    fn audit_after(&self, after: u64, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        self.read(|c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT seq, body, hash FROM audit WHERE seq > ?1 ORDER BY seq LIMIT ?2",
                )
                .map_err(db)?;
            let rows = stmt
                .query_map(params![after as i64, limit as i64], audit_row)
                .map_err(db)?;
            rows.map(|r| r.map_err(db)).collect()
        })
    }

    fn release_rules(&self) -> Result<Vec<ReleaseRule>, StoreError> {
        self.all_json_with_id(
            "SELECT id, rule FROM release_rules ORDER BY id",
            |r: &mut ReleaseRule, id| r.id = id,
        )
    }

    fn incidents(&self) -> Result<Vec<Incident>, StoreError> {
        self.all_json_with_id(
            "SELECT id, report FROM incidents ORDER BY id",
            |r: &mut Incident, id| r.id = id,
        )
    }

    fn outbox_first(&self, peer: &str, kind: &str) -> Result<Option<OutboxMessage>, StoreError> {
        self.read(|c| {
            c.prepare_cached(
                "SELECT seq, payload FROM outbox WHERE peer = ?1 AND kind = ?2
                 AND delivered IS NULL ORDER BY seq LIMIT 1",
            )
            .map_err(db)?
            .query_row(params![peer, kind], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
            })
            .optional()
            .map_err(db)?
            .map(|(seq, payload)| {
                Ok(OutboxMessage {
                    seq: seq as u64,
                    kind: kind.to_owned(),
                    payload: parse(&payload)?,
                })
            })
            .transpose()
        })
    }

    fn outbox_pending(&self, peer: &str, limit: usize) -> Result<Vec<OutboxMessage>, StoreError> {
        self.read(|c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT seq, kind, payload FROM outbox WHERE peer = ?1 AND delivered IS NULL
                     ORDER BY seq LIMIT ?2",
                )
                .map_err(db)?;
            let rows = stmt
                .query_map(params![peer, limit as i64], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                    ))
                })
                .map_err(db)?;
            rows.map(|r| {
                let (seq, kind, payload) = r.map_err(db)?;
                Ok(OutboxMessage {
                    seq: seq as u64,
                    kind,
                    payload: parse(&payload)?,
                })
            })
            .collect()
        })
    }

    fn delivery(&self) -> Result<Vec<PeerDelivery>, StoreError> {
        self.read(|c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT peer, SUM(delivered IS NULL), MIN(CASE WHEN delivered IS NULL THEN created END),
                            SUM(delivered IS NOT NULL), MAX(delivered)
                     FROM outbox GROUP BY peer ORDER BY peer",
                )
                .map_err(db)?;
            let rows = stmt
                .query_map([], |r| {
                    Ok(PeerDelivery {
                        peer: r.get(0)?,
                        queued: r.get::<_, i64>(1)? as u64,
                        oldest_queued: r.get(2)?,
                        delivered: r.get::<_, i64>(3)? as u64,
                        last_delivered: r.get(4)?,
                    })
                })
                .map_err(db)?;
            rows.map(|r| r.map_err(db)).collect()
        })
    }

    fn peers_pending(&self) -> Result<Vec<String>, StoreError> {
        self.read(|c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT DISTINCT peer FROM outbox WHERE delivered IS NULL ORDER BY peer",
                )
                .map_err(db)?;
            let rows = stmt.query_map([], |r| r.get::<_, String>(0)).map_err(db)?;
            rows.map(|r| r.map_err(db)).collect()
        })
    }

    fn inbox_mark(&self, peer: &str) -> Result<u64, StoreError> {
        self.read(|c| {
            c.query_row("SELECT last_seq FROM inbox WHERE peer = ?1", [peer], |r| {
                r.get::<_, i64>(0)
            })
            .optional()
            .map(|v| v.unwrap_or(0) as u64)
            .map_err(db)
        })
    }

    fn reply(&self, peer: &str, envelope: &str) -> Result<Option<serde_json::Value>, StoreError> {
        self.read(|c| {
            let text: Option<String> = c
                .query_row(
                    "SELECT reply FROM replies WHERE peer = ?1 AND envelope = ?2",
                    [peer, envelope],
                    |r| r.get(0),
                )
                .optional()
                .map_err(db)?;
            text.map(|t| parse(&t)).transpose()
        })
    }

    fn receipts(&self, item: &str) -> Result<Vec<serde_json::Value>, StoreError> {
        self.all_json(
            "SELECT receipt FROM receipts WHERE item = ?1 ORDER BY version, party",
            [item],
        )
    }

    fn consents(&self) -> Result<Vec<Consent>, StoreError> {
        self.all_json("SELECT consent FROM consents ORDER BY id", [])
    }

    fn consent_requests(&self) -> Result<Vec<ConsentRequest>, StoreError> {
        self.read(|c| {
            let mut stmt = c
                .prepare_cached("SELECT id, request, answer FROM consent_requests ORDER BY id")
                .map_err(db)?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, Option<String>>(2)?,
                    ))
                })
                .map_err(db)?;
            rows.map(|r| {
                let (id, request, answer) = r.map_err(db)?;
                Ok(ConsentRequest {
                    id,
                    request: parse(&request)?,
                    answer: answer.as_deref().map(parse).transpose()?,
                })
            })
            .collect()
        })
    }

    fn tagged(
        &self,
        tag: &str,
        after: (i64, i64),
        limit: usize,
    ) -> Result<Vec<crate::Listed>, StoreError> {
        self.read(|c| {
            let mut stmt = c
                .prepare_cached(&format!(
                    "SELECT t.added, {},
                       NOT EXISTS (SELECT 1 FROM items j WHERE j.stix_id = i.stix_id
                                   AND j.modified > i.modified AND j.destroyed IS NULL),
                       NOT EXISTS (SELECT 1 FROM items j WHERE j.stix_id = i.stix_id
                                   AND j.modified < i.modified AND j.destroyed IS NULL)
                     FROM item_tags t JOIN items i ON i.seq = t.seq
                     WHERE t.tag = ?1 AND (t.added, t.seq) > (?2, ?3) AND i.destroyed IS NULL
                     ORDER BY t.added, t.seq LIMIT ?4",
                    ITEM_COLUMNS
                        .split(", ")
                        .map(|c| format!("i.{c}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
                .map_err(db)?;
            let rows = stmt
                .query_map(params![tag, after.0, after.1, limit as i64], |r| {
                    let added: i64 = r.get(0)?;
                    let raw = item_row_at(r, 1)?;
                    Ok((added, raw, r.get::<_, bool>(13)?, r.get::<_, bool>(14)?))
                })
                .map_err(db)?;
            rows.map(|r| {
                let (added, raw, latest, first) = r.map_err(db)?;
                Ok(crate::Listed {
                    added,
                    item: finish_item(raw)?,
                    latest,
                    first,
                })
            })
            .collect()
        })
    }

    fn versions(&self, id: &str) -> Result<Vec<StoredItem>, StoreError> {
        self.read(|c| {
            let mut stmt = c
                .prepare_cached(&format!(
                    "SELECT {ITEM_COLUMNS} FROM items WHERE stix_id = ?1 AND destroyed IS NULL
                     ORDER BY modified"
                ))
                .map_err(db)?;
            let rows = stmt.query_map(params![id], item_row).map_err(db)?;
            rows.map(|r| finish_item(r.map_err(db)?)).collect()
        })
    }

    fn tags(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        self.read(|c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT tag FROM tags WHERE substr(tag, 1, length(?1)) = ?1 ORDER BY tag",
                )
                .map_err(db)?;
            let rows = stmt.query_map(params![prefix], |r| r.get(0)).map_err(db)?;
            rows.map(|r| r.map_err(db)).collect()
        })
    }

    fn log_size(&self) -> Result<u64, StoreError> {
        self.read(|c| {
            c.query_row("SELECT max(seq) FROM audit", [], |r| {
                r.get::<_, Option<i64>>(0)
            })
            .map(|v| v.unwrap_or(0) as u64)
            .map_err(db)
        })
    }

    fn log_hashes(&self, indexes: &[u64]) -> Result<Vec<[u8; 32]>, StoreError> {
        let mut found: Vec<Option<[u8; 32]>> = {
            let upper = self.upper.read().map_err(|_| StoreError::Closed)?;
            indexes.iter().map(|i| upper.get(i).copied()).collect()
        };
        let missing: Vec<u64> = indexes
            .iter()
            .zip(&found)
            .filter(|(_, f)| f.is_none())
            .map(|(i, _)| *i)
            .collect();
        if !missing.is_empty() {
            let read = self.read(|c| read_hashes(c, &missing))?;
            let mut upper = self.upper.write().map_err(|_| StoreError::Closed)?;
            let mut read = missing.iter().zip(read);
            for slot in found.iter_mut().filter(|f| f.is_none()) {
                if let Some((&i, h)) = read.next() {
                    if gsomia_log::tree::level_of(i) >= CACHED_LEVEL {
                        upper.insert(i, h);
                    }
                    *slot = Some(h);
                }
            }
        }
        found
            .into_iter()
            .map(|f| f.ok_or_else(|| StoreError::Corrupt("a Merkle hash went missing".into())))
            .collect()
    }

    fn audit_about(&self, subject: &str, through: u64) -> Result<Vec<AuditEntry>, StoreError> {
        self.read(|c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT seq, body, hash FROM audit WHERE subject = ?1 AND seq <= ?2
                     ORDER BY seq",
                )
                .map_err(db)?;
            let rows = stmt
                .query_map(params![subject, through as i64], audit_row)
                .map_err(db)?;
            rows.map(|r| r.map_err(db)).collect()
        })
    }

    fn checkpoint_latest(&self) -> Result<Option<(u64, String)>, StoreError> {
        self.read(|c| {
            c.query_row(
                "SELECT size, note FROM checkpoints ORDER BY size DESC LIMIT 1",
                [],
                |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?)),
            )
            .optional()
            .map_err(db)
        })
    }

    fn checkpoint(&self, size: u64) -> Result<Option<String>, StoreError> {
        self.read(|c| {
            c.query_row(
                "SELECT note FROM checkpoints WHERE size = ?1",
                [size as i64],
                |r| r.get(0),
            )
            .optional()
            .map_err(db)
        })
    }

    fn cosignatures(&self, size: u64) -> Result<Vec<(String, String)>, StoreError> {
        self.read(|c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT witness, line FROM cosignatures WHERE size = ?1 ORDER BY witness",
                )
                .map_err(db)?;
            let rows = stmt
                .query_map([size as i64], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(db)?;
            rows.map(|r| r.map_err(db)).collect()
        })
    }

    fn witnessed_latest(&self, party: &str) -> Result<Option<(u64, String)>, StoreError> {
        self.read(|c| {
            c.query_row(
                "SELECT size, note FROM witnessed WHERE party = ?1 ORDER BY size DESC LIMIT 1",
                [party],
                |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?)),
            )
            .optional()
            .map_err(db)
        })
    }

    fn last_cosigned(&self, witness: &str) -> Result<u64, StoreError> {
        self.read(|c| {
            c.query_row(
                "SELECT max(size) FROM cosignatures WHERE witness = ?1",
                [witness],
                |r| r.get::<_, Option<i64>>(0),
            )
            .map(|v| v.unwrap_or(0) as u64)
            .map_err(db)
        })
    }

    fn evidence(&self) -> Result<Vec<serde_json::Value>, StoreError> {
        self.all_json("SELECT record FROM evidence ORDER BY id", [])
    }

    fn counts(&self) -> Result<Counts, StoreError> {
        self.read(|c| {
            let count = |table: &str| -> Result<u64, StoreError> {
                c.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| {
                    r.get::<_, i64>(0)
                })
                .map(|n| n as u64)
                .map_err(db)
            };
            let audit_head = c
                .query_row(
                    "SELECT hash FROM audit ORDER BY seq DESC LIMIT 1",
                    [],
                    |r| r.get(0),
                )
                .optional()
                .map_err(db)?
                .unwrap_or_else(|| GENESIS.to_owned());
            Ok(Counts {
                parties: count("parties")?,
                agreements: count("agreements")?,
                users: count("users")?,
                items: count("items")?,
                outbox: count("outbox")?,
                audit: count("audit")?,
                audit_head,
            })
        })
    }
}
