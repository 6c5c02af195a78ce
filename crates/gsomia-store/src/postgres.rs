//! The PostgreSQL store: for a node that outgrows one machine, or whose operators already run
//! PostgreSQL with replication and backups. Several `gsomia serve` processes may share one
//! database.
//!
//! One writer thread per process commits batches in groups, as the SQLite store does: each
//! group is one transaction (`synchronous_commit = on`: a batch whose callback ran is durable
//! on the server), each batch under its own savepoint so that one refused batch does not undo
//! the others. The audit log is one gap-free hash chain and one Merkle tree whatever the number
//! of processes: every group first takes a transaction-scoped advisory lock (the sequencer, as
//! transparency logs on databases serialise their integration), then reads the chain's head;
//! if another process appended since, the head and the tree's frontier are read again from the
//! database before this group appends after them (`crate::audit::Head`). Items get their
//! numbers under the same lock, so listing cursors follow commit order.
//!
//! The client is the synchronous `postgres` crate (tokio-postgres underneath): the `Store`
//! trait is synchronous and its writer a thread of its own, which that client fits without a
//! runtime of its own to manage. Readers take a connection from a small pool.

use std::cell::RefCell;
use std::sync::Mutex;
use std::sync::mpsc::Receiver;

use gsomia_core::{AgreementFile, Consent, ItemId, PartyCode, SignedReceipt, User};
use gsomia_log::{Frontier, Hash, HashReader, ReaderError};
use postgres::error::SqlState;
use postgres::{Client, GenericClient, NoTls, Row, Transaction};

use crate::audit::{AuditEntry, GENESIS, Head};
use crate::writer::{Stats, Writer, group};
use crate::{
    Batch, CommitStats, Committed, Counts, Done, Evidence, Incident, OutboxMessage, PartyRecord,
    PeerDelivery, ReleaseRule, Store, StoreError, StoredConsentRequest, StoredItem, UserRecord,
    Write,
};

/// The advisory lock every writer takes for its transaction: the log's one sequencer.
const SEQUENCER: i64 = 0x6773_6f6d_6961; // "gsomia"

/// The schema, in migrations applied in order; table `gsomia_schema` counts those applied.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE parties (code TEXT PRIMARY KEY, record TEXT NOT NULL);
CREATE TABLE agreements (id TEXT PRIMARY KEY, file TEXT NOT NULL);
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    "user" TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    disabled BOOLEAN NOT NULL DEFAULT FALSE,
    expires TEXT,
    passphrase TEXT
);
CREATE TABLE items (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    stix_id TEXT NOT NULL,
    modified TEXT NOT NULL,
    stix_type TEXT NOT NULL,
    label TEXT NOT NULL,
    marking TEXT,
    custody TEXT NOT NULL,
    binding TEXT NOT NULL,
    wrapped_key BYTEA,
    content BYTEA,
    added TEXT NOT NULL,
    destroyed TEXT,
    UNIQUE (stix_id, modified)
);
CREATE TABLE item_tags (
    tag TEXT NOT NULL,
    added BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    PRIMARY KEY (tag, added, seq)
);
CREATE TABLE tags (tag TEXT PRIMARY KEY);
CREATE TABLE outbox (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    peer TEXT NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    created TEXT NOT NULL,
    delivered TEXT
);
CREATE INDEX outbox_pending ON outbox (peer, seq) WHERE delivered IS NULL;
CREATE TABLE audit (seq BIGINT PRIMARY KEY, body TEXT NOT NULL, hash TEXT NOT NULL,
                    subject TEXT);
CREATE INDEX audit_subject ON audit (subject, seq);
CREATE TABLE merkle (idx BIGINT PRIMARY KEY, hash BYTEA NOT NULL);
CREATE TABLE release_rules (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                            rule TEXT NOT NULL);
CREATE TABLE incidents (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    item TEXT NOT NULL,
    report TEXT NOT NULL,
    follows BIGINT REFERENCES incidents (id)
);
CREATE TABLE receipts (
    item TEXT NOT NULL,
    version TEXT NOT NULL,
    party TEXT NOT NULL,
    receipt TEXT NOT NULL,
    PRIMARY KEY (item, version, party)
);
CREATE TABLE inbox (peer TEXT PRIMARY KEY, last_seq BIGINT NOT NULL);
CREATE TABLE consents (id TEXT PRIMARY KEY, consent TEXT NOT NULL);
CREATE TABLE consent_requests (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    request TEXT NOT NULL,
    answer TEXT
);
CREATE TABLE replies (
    peer TEXT NOT NULL,
    envelope TEXT NOT NULL,
    reply TEXT NOT NULL,
    PRIMARY KEY (peer, envelope)
);
CREATE TABLE checkpoints (size BIGINT PRIMARY KEY, note TEXT NOT NULL, issued TEXT NOT NULL);
CREATE TABLE cosignatures (
    size BIGINT NOT NULL,
    witness TEXT NOT NULL,
    line TEXT NOT NULL,
    PRIMARY KEY (size, witness)
);
CREATE TABLE witnessed (
    party TEXT NOT NULL,
    size BIGINT NOT NULL,
    note TEXT NOT NULL,
    received TEXT NOT NULL,
    PRIMARY KEY (party, size)
);
CREATE TABLE evidence (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, party TEXT NOT NULL,
                       found TEXT NOT NULL, record TEXT NOT NULL);
"#,
    // Leases: which of the processes sharing the database delivers and checkpoints.
    r#"
CREATE TABLE leases (name TEXT PRIMARY KEY, holder TEXT NOT NULL, until TIMESTAMPTZ NOT NULL);
"#,
    // Letters between authorities under an agreement (N1, D1).
    r#"
CREATE TABLE letters (n BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, id TEXT NOT NULL UNIQUE,
                      agreement TEXT NOT NULL, letter TEXT NOT NULL);
CREATE INDEX letters_by_agreement ON letters (agreement, n);
"#,
    // Assurances before release (S1).
    r#"
CREATE TABLE assurances (n BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, id TEXT NOT NULL UNIQUE,
                         assurance TEXT NOT NULL);
"#,
    // Contractor facilities (C1).
    r#"
CREATE TABLE facilities (id TEXT PRIMARY KEY, facility TEXT NOT NULL);
"#,
];

const ITEM_COLUMNS: &str = "seq, stix_id, modified, stix_type, label, marking, custody, binding, \
                            wrapped_key, content, added, destroyed";

fn db(e: postgres::Error) -> StoreError {
    match e.code() {
        Some(c) if *c == SqlState::UNIQUE_VIOLATION || *c == SqlState::FOREIGN_KEY_VIOLATION => {
            StoreError::Conflict(e.to_string())
        }
        // The connection broke (08…), the server is shutting down or starting (57P…), or it
        // is a standby now (25006): the next attempt may find a server that takes writes.
        Some(c)
            if c.code().starts_with("08")
                || c.code().starts_with("57P")
                || *c == SqlState::READ_ONLY_SQL_TRANSACTION =>
        {
            StoreError::Unavailable(e.to_string())
        }
        None if e.is_closed() || io_error(&e) => StoreError::Unavailable(e.to_string()),
        _ => StoreError::Database(e.to_string()),
    }
}

/// Whether `e` came from the socket.
fn io_error(e: &postgres::Error) -> bool {
    std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>())
}

fn json<T: serde::Serialize>(v: &T) -> String {
    // INVARIANT: gsomia's records are plain data; serialising them to a string cannot fail.
    serde_json::to_string(v).unwrap_or_default()
}

fn parse<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn connect(url: &str) -> Result<Client, StoreError> {
    Client::connect(url, NoTls)
        .map_err(|e| StoreError::Unavailable(format!("{url_safe}: {e}", url_safe = redact(url))))
}

/// The writer's connection: its commits durable on the server whatever the server's default.
fn connect_writer(url: &str) -> Result<Client, StoreError> {
    let mut conn = connect(url)?;
    conn.batch_execute("SET synchronous_commit = on")
        .map_err(db)?;
    Ok(conn)
}

/// A reader connection and the statements it has prepared, by their SQL: a read is then one
/// round trip (bind and execute), not two (parse, then bind and execute). Every SQL a reader
/// runs is a constant of this file (values are bound, never written in), so the cache stays
/// small.
struct Reader {
    client: Client,
    statements: std::collections::HashMap<String, postgres::Statement>,
}

impl Reader {
    fn query(
        &mut self,
        sql: &str,
        params: &[&(dyn postgres::types::ToSql + Sync)],
    ) -> Result<Vec<Row>, postgres::Error> {
        let statement = match self.statements.get(sql) {
            Some(s) => s.clone(),
            None => {
                let s = self.client.prepare(sql)?;
                self.statements.insert(sql.to_owned(), s.clone());
                s
            }
        };
        self.client.query(&statement, params)
    }
}

/// A connection URL without its password (for messages, and for `gsomia.toml`, where the
/// password should not be: `GSOMIA_DATABASE_URL` carries it).
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => match url[s + 3..at].split_once(':') {
            Some((user, _)) => format!("{}{user}@{}", &url[..s + 3], &url[at + 1..]),
            None => url.to_owned(),
        },
        _ => url.to_owned(),
    }
}

struct Job {
    batch: Batch,
    done: Done,
}

impl crate::writer::Answer for Job {
    fn answer(self, result: Result<Committed, StoreError>) {
        (self.done)(result);
    }
}

/// A store in a PostgreSQL database.
pub struct PostgresStore {
    url: String,
    writer: Writer<Job>,
    readers: Mutex<Readers>,
    /// Signalled when a reader connection is given back or closed.
    reader_free: std::sync::Condvar,
}

/// Reader connections a process opens at most: with the writer, 17 a process, so that four
/// processes stay within PostgreSQL's default `max_connections` (100). A read waits for one
/// to be free rather than open more.
const READERS: usize = 16;

/// How long a read waits for a reader connection before it answers `Unavailable`.
const READER_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// The reader connections: those idle, and how many are open (idle or in use).
#[derive(Default)]
struct Readers {
    idle: Vec<Reader>,
    open: usize,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PostgresStore({})", redact(&self.url))
    }
}

/// Runs a call of the synchronous client, which drives a small runtime of its own on the
/// calling thread and so may not run as a task of the node's async runtime (reads come from
/// its handlers). On a worker of a multi-thread runtime, `block_in_place`: the worker's other
/// tasks move to another thread while the call blocks, so as many calls are in flight as
/// requests ask for (blocking the worker instead would allow one a worker; a scoped thread a
/// call cost a third of the read rate: `cargo xtask bench pg-client`, BENCHMARKS.md). Elsewhere
/// (a current-thread runtime, which can not hand its tasks over) a scoped thread; off any
/// runtime, here.
pub(crate) fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        Ok(_) => std::thread::scope(|s| match s.spawn(f).join() {
            Ok(v) => v,
            Err(panic) => std::panic::resume_unwind(panic),
        }),
        Err(_) => f(),
    }
}

/// For tests and benchmarks: a new, empty database `gsomia_scratch_<pid>_<name>` on the
/// server at `admin` (a URL of a database there to connect to), its URL. Databases of this
/// kind whose process has ended are dropped first (once a process), so that test runs do not
/// pile them up on the server (the processes are taken to run on this machine: `/proc`).
pub fn scratch_database(admin: &str, name: &str) -> Result<String, StoreError> {
    static SWEPT: std::sync::Once = std::sync::Once::new();
    let scratch = format!(
        "gsomia_scratch_{}_{}",
        std::process::id(),
        name.replace(|c: char| !c.is_ascii_alphanumeric(), "_")
    );
    off_runtime(|| {
        let mut c = connect(admin)?;
        SWEPT.call_once(|| {
            let Ok(rows) = c.query(
                "SELECT datname FROM pg_database WHERE datname LIKE 'gsomia\\_scratch\\_%'",
                &[],
            ) else {
                return;
            };
            for row in rows {
                let name: String = row.get(0);
                let pid = name.split('_').nth(2).unwrap_or_default();
                let ended = !pid.is_empty() && !std::path::Path::new("/proc").join(pid).exists();
                if ended {
                    // Another process may sweep it at the same moment: an error is theirs.
                    let _ =
                        c.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
                }
            }
        });
        c.batch_execute(&format!("DROP DATABASE IF EXISTS {scratch} WITH (FORCE)"))
            .map_err(db)?;
        c.batch_execute(&format!("CREATE DATABASE {scratch}"))
            .map_err(db)?;
        let server = &admin[..admin.rfind('/').unwrap_or(admin.len())];
        Ok(format!("{server}/{scratch}"))
    })
}

/// Whether `url` names a PostgreSQL database (`postgres://` or `postgresql://`).
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

fn migrate(c: &mut Client) -> Result<(), StoreError> {
    let mut tx = c.transaction().map_err(db)?;
    // One migrator at a time, whatever the process.
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&(SEQUENCER + 1)])
        .map_err(db)?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS gsomia_schema (version INTEGER NOT NULL)")
        .map_err(db)?;
    let version: i32 = tx
        .query_opt("SELECT version FROM gsomia_schema", &[])
        .map_err(db)?
        .map_or(0, |r| r.get(0));
    if version as usize > MIGRATIONS.len() {
        return Err(StoreError::Database(format!(
            "the database has schema version {version}, newer than this gsomia ({})",
            MIGRATIONS.len()
        )));
    }
    for sql in &MIGRATIONS[version as usize..] {
        tx.batch_execute(sql).map_err(db)?;
    }
    let now = MIGRATIONS.len() as i32;
    tx.execute("DELETE FROM gsomia_schema", &[]).map_err(db)?;
    tx.execute("INSERT INTO gsomia_schema (version) VALUES ($1)", &[&now])
        .map_err(db)?;
    tx.commit().map_err(db)
}

/// Stored Merkle hashes read through one transaction. The reader's error type can only say
/// "not in the tree", so the store's own error (a lost connection, say) is kept beside it for
/// the caller to report as what it was.
struct PgHashes<'a, 'b> {
    tx: RefCell<&'a mut Transaction<'b>>,
    failed: RefCell<Option<StoreError>>,
}

impl HashReader for PgHashes<'_, '_> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, ReaderError> {
        let mut tx = self.tx.borrow_mut();
        read_hashes(&mut **tx, indexes)
            .map(|v| v.into_iter().map(Hash).collect())
            .map_err(|e| {
                *self.failed.borrow_mut() = Some(e);
                ReaderError::IndexesNotInTree
            })
    }
}

/// The stored hashes at `indexes`, in that order.
fn read_hashes(c: &mut impl GenericClient, indexes: &[u64]) -> Result<Vec<[u8; 32]>, StoreError> {
    let wanted: Vec<i64> = indexes.iter().map(|i| *i as i64).collect();
    let rows = c
        .query(
            "SELECT idx, hash FROM merkle WHERE idx = ANY($1)",
            &[&wanted],
        )
        .map_err(db)?;
    let mut found = std::collections::HashMap::with_capacity(rows.len());
    for r in rows {
        let idx: i64 = r.get(0);
        let hash: Vec<u8> = r.get(1);
        let hash: [u8; 32] = hash
            .try_into()
            .map_err(|_| StoreError::Corrupt(format!("Merkle hash {idx} is not 32 bytes")))?;
        found.insert(idx, hash);
    }
    wanted
        .iter()
        .map(|i| {
            found
                .get(i)
                .copied()
                .ok_or_else(|| StoreError::Corrupt(format!("Merkle hash {i} is missing")))
        })
        .collect()
}

/// The query of the chain's head (the writer prepares it once, as every statement it runs).
const HEAD: &str = "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1";

/// The last audit entry's number and hash.
fn chain_head(c: &mut impl GenericClient) -> Result<(u64, String), StoreError> {
    Ok(c.query_opt(HEAD, &[])
        .map_err(db)?
        .map_or((0, GENESIS.to_owned()), |r| {
            (r.get::<_, i64>(0) as u64, r.get(1))
        }))
}

/// The head as stored: the chain's last entry and the tree's frontier.
fn stored_head(tx: &mut Transaction) -> Result<Head, StoreError> {
    let (seq, hash) = chain_head(tx)?;
    let hashes = PgHashes {
        tx: RefCell::new(tx),
        failed: RefCell::new(None),
    };
    // A database that went away is unavailable, not corrupt: only a hash that is really
    // missing is a corrupt row.
    let tree = Frontier::load(seq, &hashes).map_err(|e| match hashes.failed.take() {
        Some(StoreError::Corrupt(_)) | None => {
            StoreError::Corrupt(format!("Merkle tree of size {seq}: {e}"))
        }
        Some(other) => other,
    })?;
    Ok(Head::new(seq, hash, tree))
}

impl PostgresStore {
    /// Connects to the database at `url`, migrates it, and starts the writer.
    pub fn open(url: &str) -> Result<PostgresStore, StoreError> {
        // Connected and migrated off the runtime; a client that fails is dropped there too.
        let conn = off_runtime(|| {
            let mut conn = connect_writer(url)?;
            migrate(&mut conn)?;
            Ok::<_, StoreError>(conn)
        })?;
        let writer_url = url.to_owned();
        let writer = Writer::start(move |rx, stats| run_writer(&writer_url, conn, rx, stats))?;
        Ok(PostgresStore {
            url: url.to_owned(),
            writer,
            readers: Mutex::new(Readers::default()),
            reader_free: std::sync::Condvar::new(),
        })
    }

    /// An idle reader connection, or a new one while fewer than [`READERS`] are open; else
    /// waits for one (at most [`READER_WAIT`]).
    fn take_reader(&self) -> Result<Reader, StoreError> {
        let mut pool = self.readers.lock().map_err(|_| StoreError::Closed)?;
        let waited = std::time::Instant::now();
        loop {
            if let Some(c) = pool.idle.pop() {
                if !c.client.is_closed() {
                    return Ok(c);
                }
                pool.open -= 1;
                continue;
            }
            if pool.open < READERS {
                pool.open += 1;
                drop(pool);
                return connect(&self.url)
                    .map(|client| Reader {
                        client,
                        statements: Default::default(),
                    })
                    .inspect_err(|_| self.closed_reader());
            }
            let left = READER_WAIT.saturating_sub(waited.elapsed());
            if left.is_zero() {
                return Err(StoreError::Unavailable(format!(
                    "all {READERS} reader connections stayed busy for {} s",
                    READER_WAIT.as_secs()
                )));
            }
            pool = self
                .reader_free
                .wait_timeout(pool, left)
                .map_err(|_| StoreError::Closed)?
                .0;
        }
    }

    /// Takes back a reader connection after a read (one the server closed is let go).
    fn give_back(&self, conn: Reader) {
        if conn.client.is_closed() {
            drop(conn);
            self.closed_reader();
            return;
        }
        if let Ok(mut pool) = self.readers.lock() {
            pool.idle.push(conn);
        }
        self.reader_free.notify_one();
    }

    /// Counts a reader connection that is no more.
    fn closed_reader(&self) {
        if let Ok(mut pool) = self.readers.lock() {
            pool.open -= 1;
        }
        self.reader_free.notify_one();
    }

    /// Runs `f` on a reader connection from the pool (off any async runtime: see
    /// [`off_runtime`]).
    fn read<T: Send>(
        &self,
        f: impl FnOnce(&mut Reader) -> Result<T, StoreError> + Send,
    ) -> Result<T, StoreError> {
        off_runtime(|| {
            let mut conn = self.take_reader()?;
            let result = f(&mut conn);
            self.give_back(conn);
            result
        })
    }

    fn rows(
        &self,
        sql: &str,
        params: &[&(dyn postgres::types::ToSql + Sync)],
    ) -> Result<Vec<Row>, StoreError> {
        self.read(|c| c.query(sql, params).map_err(db))
    }

    fn all_json<T: serde::de::DeserializeOwned>(
        &self,
        sql: &str,
        params: &[&(dyn postgres::types::ToSql + Sync)],
    ) -> Result<Vec<T>, StoreError> {
        self.rows(sql, params)?
            .iter()
            .map(|r| parse(r.get::<_, &str>(0)))
            .collect()
    }

    fn items(
        &self,
        sql: &str,
        params: &[&(dyn postgres::types::ToSql + Sync)],
    ) -> Result<Vec<StoredItem>, StoreError> {
        self.rows(sql, params)?
            .iter()
            .map(|r| item_at(r, 0))
            .collect()
    }
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        Store::close(self);
    }
}

/// An item from the columns [`ITEM_COLUMNS`] starting at `at`.
fn item_at(r: &Row, at: usize) -> Result<StoredItem, StoreError> {
    Ok(StoredItem {
        seq: r.get(at),
        id: crate::item_id(r.get(at + 1))?,
        modified: r.get(at + 2),
        stix_type: r.get(at + 3),
        label: parse(r.get::<_, &str>(at + 4))?,
        marking: r.get::<_, Option<&str>>(at + 5).map(parse).transpose()?,
        custody: parse(r.get::<_, &str>(at + 6))?,
        binding: r.get(at + 7),
        wrapped_key: r.get(at + 8),
        content: r.get(at + 9),
        added: r.get(at + 10),
        destroyed: r.get(at + 11),
    })
}

/// A row limit as PostgreSQL takes it (`usize::MAX` means no limit).
fn sql_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

fn audit_at(r: &Row) -> AuditEntry {
    AuditEntry {
        seq: r.get::<_, i64>(0) as u64,
        body: r.get(1),
        hash: r.get(2),
    }
}

fn run_writer(url: &str, mut conn: Client, jobs: Receiver<Job>, stats: &Stats) {
    // The head this writer appended last; read again whenever another process moved it.
    let mut head: Option<Head> = None;
    let mut cache = Statements::new();
    let mut growth = Growth::default();
    while let Ok(first) = jobs.recv() {
        let group = group(&jobs, first);
        let started = std::time::Instant::now();
        if conn.is_closed() {
            // The server went away (a restart, a failover): connect again for this group.
            match connect_writer(url) {
                Ok(new) => {
                    conn = new;
                    head = None;
                    cache.clear();
                }
                Err(e) => {
                    crate::writer::fail(group, &e);
                    continue;
                }
            }
        }
        match commit_group(&mut conn, &group, &mut head, &mut cache) {
            Ok(results) => {
                stats.committed(group.len(), started);
                let added: usize = results
                    .iter()
                    .map(|r| r.as_ref().map_or(0, |c| c.items.len()))
                    .sum();
                crate::writer::answer(group, results);
                growth.added(&mut conn, added as u64);
            }
            Err(e) => {
                // The transaction failed as a whole: nothing is stored; the head is read again.
                head = None;
                crate::writer::fail(group, &e);
            }
        }
    }
}

/// The items this writer added since it last had the planner's statistics renewed. A list
/// by tag is planned from them: after a bulk load (a TAXII client posting thousands, a
/// `store copy`) stale ones make PostgreSQL join every item of the tag before taking a page
/// (tens of milliseconds a page instead of a tenth). Autovacuum renews them too, but up to a
/// minute late; this does it when the table grew by a tenth, and at least 1,000 items.
#[derive(Default)]
struct Growth {
    since: u64,
    known: u64,
}

impl Growth {
    fn added(&mut self, conn: &mut Client, n: u64) {
        self.since += n;
        if self.since >= 1000 && self.since * 10 >= self.known {
            // Only an optimisation: a failure (the connection lost) is the next group's to meet.
            let _ = conn.batch_execute("ANALYZE items, item_tags");
            self.known += self.since;
            self.since = 0;
        }
    }
}

fn commit_group(
    conn: &mut Client,
    group: &[Job],
    head: &mut Option<Head>,
    cache: &mut Statements,
) -> Result<Vec<Result<Committed, StoreError>>, StoreError> {
    let mut tx = conn.transaction().map_err(db)?;
    // The sequencer: one writer at a time, whatever the process.
    exec(
        &mut tx,
        cache,
        "SELECT pg_advisory_xact_lock($1)",
        &[&SEQUENCER],
    )
    .map_err(db)?;
    let (seq, hash) = optional(&mut tx, cache, HEAD, &[])
        .map_err(db)?
        .map_or((0, GENESIS.to_owned()), |r| {
            (r.get::<_, i64>(0) as u64, r.get(1))
        });
    let mut current = match head.take() {
        Some(h) if h.seq == seq && h.hash == hash => h,
        _ => stored_head(&mut tx)?,
    };
    let mut results = Vec::with_capacity(group.len());
    let mut rows = Rows::default();
    for job in group {
        let saved = current.clone();
        let mut own = Rows::default();
        let result = if needs_savepoint(&job.batch) {
            let mut sp = tx.savepoint("batch").map_err(db)?;
            let result = apply(&mut sp, &job.batch, &mut current, cache, &mut own);
            match result {
                Ok(_) => sp.commit().map_err(db)?,
                Err(_) => sp.rollback().map_err(db)?,
            }
            result
        } else {
            let result = apply(&mut tx, &job.batch, &mut current, cache, &mut own);
            if result.is_err() {
                // Refused by a check of ours before it changed anything; a failure of the
                // database's own aborted the transaction, and this says so.
                tx.execute("SELECT 1", &[]).map_err(db)?;
            }
            result
        };
        match result {
            Ok(c) => {
                rows.append(own);
                results.push(Ok(c));
            }
            Err(e) => {
                current = saved;
                results.push(Err(e));
            }
        }
    }
    rows.insert(&mut tx, cache)?;
    tx.commit().map_err(db)?;
    *head = Some(current);
    Ok(results)
}

/// Whether a refusal of `batch` could leave some of its writes done, or abort the
/// transaction: then it runs in a savepoint of its own (two more round trips). Not when its
/// first write is the only one that can be refused, by a check of ours that changes nothing
/// (an item version already stored, no row to update), and the others always succeed.
fn needs_savepoint(batch: &Batch) -> bool {
    let mut writes = batch.writes.iter();
    let first_checked = writes.next().is_none_or(|w| {
        !matches!(
            w,
            Write::AddUser(_) | Write::AddIncident(_) // unique and foreign keys: they abort
        )
    });
    !(first_checked && writes.all(always_succeeds))
}

/// Whether `w` changes what it names whatever is stored (an upsert, an insert with a key of
/// its own, an update of any rows that match).
fn always_succeeds(w: &Write) -> bool {
    matches!(
        w,
        Write::SetMeta { .. }
            | Write::PutParty(_)
            | Write::PutAgreement(_)
            | Write::AddReleaseRule(_)
            | Write::Delivered { .. }
            | Write::PutReceipt(_)
            | Write::Received { .. }
            | Write::PutConsent(_)
            | Write::RevokeConsent(_)
            | Write::PutLetter(_)
            | Write::PutAssurance(_)
            | Write::PutFacility(_)
            | Write::AddConsentRequest(_)
            | Write::Enqueue { .. }
            | Write::PutCheckpoint { .. }
            | Write::PutWitnessed { .. }
            | Write::PutCosignature { .. }
            | Write::AddEvidence(_)
    )
}

/// The rows of a group that no write reads back and none can refuse (the audit entries, their
/// Merkle hashes, the items' tags): gathered batch by batch (a refused batch's are dropped)
/// and inserted at the group's end, one statement a table, not a round trip a row.
#[derive(Default)]
struct Rows {
    audit_seq: Vec<i64>,
    audit_body: Vec<String>,
    audit_hash: Vec<String>,
    audit_subject: Vec<String>,
    merkle_idx: Vec<i64>,
    merkle_hash: Vec<Vec<u8>>,
    tag: Vec<String>,
    tag_added: Vec<i64>,
    tag_seq: Vec<i64>,
}

impl Rows {
    fn append(&mut self, mut other: Rows) {
        self.audit_seq.append(&mut other.audit_seq);
        self.audit_body.append(&mut other.audit_body);
        self.audit_hash.append(&mut other.audit_hash);
        self.audit_subject.append(&mut other.audit_subject);
        self.merkle_idx.append(&mut other.merkle_idx);
        self.merkle_hash.append(&mut other.merkle_hash);
        self.tag.append(&mut other.tag);
        self.tag_added.append(&mut other.tag_added);
        self.tag_seq.append(&mut other.tag_seq);
    }

    fn insert(self, tx: &mut Transaction, cache: &mut Statements) -> Result<(), StoreError> {
        if !self.audit_seq.is_empty() {
            exec(
                tx,
                cache,
                "INSERT INTO audit (seq, body, hash, subject)
                 SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[])",
                &[
                    &self.audit_seq,
                    &self.audit_body,
                    &self.audit_hash,
                    &self.audit_subject,
                ],
            )
            .map_err(db)?;
        }
        if !self.merkle_idx.is_empty() {
            exec(
                tx,
                cache,
                "INSERT INTO merkle (idx, hash) SELECT * FROM unnest($1::bigint[], $2::bytea[])",
                &[&self.merkle_idx, &self.merkle_hash],
            )
            .map_err(db)?;
        }
        if !self.tag.is_empty() {
            exec(
                tx,
                cache,
                "INSERT INTO item_tags (tag, added, seq)
                 SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[])
                 ON CONFLICT DO NOTHING",
                &[&self.tag, &self.tag_added, &self.tag_seq],
            )
            .map_err(db)?;
            exec(
                tx,
                cache,
                "INSERT INTO tags (tag) SELECT DISTINCT unnest($1::text[]) ON CONFLICT DO NOTHING",
                &[&self.tag],
            )
            .map_err(db)?;
        }
        Ok(())
    }
}

/// Fails with [`StoreError::NotFound`] naming `what` when `n` rows changed is 0.
fn changed(n: u64, what: impl FnOnce() -> String) -> Result<(), StoreError> {
    if n == 0 {
        Err(StoreError::NotFound(what()))
    } else {
        Ok(())
    }
}

/// The writer's prepared statements, by their SQL: each is parsed once per connection, so a
/// write costs one round trip to the server, not two.
type Statements = std::collections::HashMap<&'static str, postgres::Statement>;

fn prepared(
    tx: &mut Transaction,
    cache: &mut Statements,
    sql: &'static str,
) -> Result<postgres::Statement, postgres::Error> {
    if let Some(s) = cache.get(sql) {
        return Ok(s.clone());
    }
    let s = tx.prepare(sql)?;
    cache.insert(sql, s.clone());
    Ok(s)
}

/// Runs a cached statement; the rows it changed.
fn exec(
    tx: &mut Transaction,
    cache: &mut Statements,
    sql: &'static str,
    params: &[&(dyn postgres::types::ToSql + Sync)],
) -> Result<u64, postgres::Error> {
    let s = prepared(tx, cache, sql)?;
    tx.execute(&s, params)
}

/// Runs a cached statement that returns at most one row.
fn optional(
    tx: &mut Transaction,
    cache: &mut Statements,
    sql: &'static str,
    params: &[&(dyn postgres::types::ToSql + Sync)],
) -> Result<Option<Row>, postgres::Error> {
    let s = prepared(tx, cache, sql)?;
    tx.query_opt(&s, params)
}

/// Runs a cached statement that returns one row.
fn one(
    tx: &mut Transaction,
    cache: &mut Statements,
    sql: &'static str,
    params: &[&(dyn postgres::types::ToSql + Sync)],
) -> Result<Row, postgres::Error> {
    let s = prepared(tx, cache, sql)?;
    tx.query_one(&s, params)
}

fn apply(
    tx: &mut Transaction,
    batch: &Batch,
    head: &mut Head,
    cache: &mut Statements,
    rows: &mut Rows,
) -> Result<Committed, StoreError> {
    let mut committed = Committed::default();
    for w in &batch.writes {
        match w {
            Write::SetMeta { key, value } => {
                exec(
                    tx,
                    cache,
                    "INSERT INTO meta (key, value) VALUES ($1, $2)
                     ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                    &[key, value],
                )
                .map_err(db)?;
            }
            Write::PutParty(p) => {
                exec(
                    tx,
                    cache,
                    "INSERT INTO parties (code, record) VALUES ($1, $2)
                     ON CONFLICT (code) DO UPDATE SET record = EXCLUDED.record",
                    &[&p.code.as_str(), &json(p)],
                )
                .map_err(db)?;
            }
            Write::PutAgreement(a) => {
                exec(
                    tx,
                    cache,
                    "INSERT INTO agreements (id, file) VALUES ($1, $2)
                     ON CONFLICT (id) DO UPDATE SET file = EXCLUDED.file",
                    &[&a.id.as_str(), &json(a)],
                )
                .map_err(db)?;
            }
            Write::AddUser(u) => {
                exec(
                    tx,
                    cache,
                    "INSERT INTO users (id, \"user\", token_hash, disabled, expires)
                     VALUES ($1, $2, $3, $4, $5)",
                    &[
                        &u.user.id,
                        &json(&u.user),
                        &u.token_hash,
                        &u.disabled,
                        &u.expires,
                    ],
                )
                .map_err(db)?;
            }
            Write::DisableUser(id) | Write::EnableUser(id) => {
                let disabled = matches!(w, Write::DisableUser(_));
                let n = exec(
                    tx,
                    cache,
                    "UPDATE users SET disabled = $2 WHERE id = $1",
                    &[id, &disabled],
                )
                .map_err(db)?;
                changed(n, || format!("user `{id}`"))?;
            }
            Write::SetPassphrase { id, phc } => {
                let n = exec(
                    tx,
                    cache,
                    "UPDATE users SET passphrase = $2 WHERE id = $1",
                    &[id, phc],
                )
                .map_err(db)?;
                changed(n, || format!("user `{id}`"))?;
            }
            Write::SetToken {
                id,
                token_hash,
                expires,
            } => {
                let n = exec(
                    tx,
                    cache,
                    "UPDATE users SET token_hash = $2, expires = $3 WHERE id = $1",
                    &[id, token_hash, expires],
                )
                .map_err(db)?;
                changed(n, || format!("user `{id}`"))?;
            }
            Write::PutItem(i) => {
                let marking = i.marking.as_ref().map(json);
                // A version already stored changes nothing and is refused here, without a
                // database error (which would abort the group's transaction).
                let row = optional(
                    tx,
                    cache,
                    "INSERT INTO items (stix_id, modified, stix_type, label, marking, custody,
                                            binding, wrapped_key, content, added, destroyed)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                         ON CONFLICT DO NOTHING RETURNING seq",
                    &[
                        &i.id.as_str(),
                        &i.modified,
                        &i.stix_type,
                        &json(&i.label),
                        &marking,
                        &json(&i.custody),
                        &i.binding,
                        &i.wrapped_key,
                        &i.content,
                        &i.added,
                        &i.destroyed,
                    ],
                )
                .map_err(db)?
                .ok_or_else(|| {
                    StoreError::Conflict(format!(
                        "item `{}` version `{}` is already stored",
                        i.id, i.modified
                    ))
                })?;
                let seq: i64 = row.get(0);
                committed.items.push(seq);
                let added = crate::added_micros(&i.added);
                for tag in crate::item_tags(i) {
                    rows.tag.push(tag);
                    rows.tag_added.push(added);
                    rows.tag_seq.push(seq);
                }
            }
            Write::Reclassify {
                id,
                label,
                binding,
                marking,
                custody,
            } => {
                let marking = marking.as_ref().map(json);
                let n = exec(
                    tx,
                    cache,
                    "UPDATE items SET label = $2, binding = $3, marking = $4, custody = $5
                         WHERE stix_id = $1",
                    &[
                        &id.as_str(),
                        &json(label),
                        binding,
                        &marking,
                        &json(custody),
                    ],
                )
                .map_err(db)?;
                changed(n, || format!("item `{id}`"))?;
            }
            Write::DestroyItem { id, modified, at } => {
                let n = exec(
                    tx,
                    cache,
                    "UPDATE items SET wrapped_key = NULL, content = NULL, destroyed = $3
                         WHERE stix_id = $1 AND modified = $2 AND destroyed IS NULL",
                    &[&id.as_str(), modified, at],
                )
                .map_err(db)?;
                changed(n, || format!("item `{id}` version `{modified}`"))?;
            }
            Write::AddReleaseRule(rule) => {
                let row = one(
                    tx,
                    cache,
                    "INSERT INTO release_rules (rule) VALUES ($1) RETURNING id",
                    &[&json(rule)],
                )
                .map_err(db)?;
                committed.ids.push(row.get(0));
            }
            Write::AddIncident(incident) => {
                let row = one(
                    tx,
                    cache,
                    "INSERT INTO incidents (item, report, follows) VALUES ($1, $2, $3)
                         RETURNING id",
                    &[&incident.item.as_str(), &json(incident), &incident.follows],
                )
                .map_err(|e| match db(e) {
                    StoreError::Conflict(_) => {
                        StoreError::NotFound(format!("incident {:?}", incident.follows))
                    }
                    other => other,
                })?;
                committed.ids.push(row.get(0));
            }
            Write::Delivered { peer, through, at } => {
                exec(
                    tx,
                    cache,
                    "UPDATE outbox SET delivered = $3
                     WHERE peer = $1 AND seq <= $2 AND delivered IS NULL",
                    &[&peer.as_str(), &(*through as i64), at],
                )
                .map_err(db)?;
            }
            Write::PutReceipt(signed) => {
                let r = &signed.receipt;
                exec(
                    tx,
                    cache,
                    "INSERT INTO receipts (item, version, party, receipt) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (item, version, party) DO UPDATE SET receipt = EXCLUDED.receipt",
                    &[
                        &r.item.as_str(),
                        &r.version,
                        &r.party.as_str(),
                        &json(&**signed),
                    ],
                )
                .map_err(db)?;
            }
            Write::Received {
                peer,
                through,
                envelope,
                reply,
            } => {
                exec(
                    tx,
                    cache,
                    "INSERT INTO inbox (peer, last_seq) VALUES ($1, $2)
                     ON CONFLICT (peer) DO UPDATE SET last_seq = EXCLUDED.last_seq",
                    &[&peer.as_str(), &(*through as i64)],
                )
                .map_err(db)?;
                exec(
                    tx,
                    cache,
                    "INSERT INTO replies (peer, envelope, reply) VALUES ($1, $2, $3)
                     ON CONFLICT (peer, envelope) DO UPDATE SET reply = EXCLUDED.reply",
                    &[&peer.as_str(), envelope, &reply.to_string()],
                )
                .map_err(db)?;
            }
            Write::PutConsent(consent) => {
                // H1: a consent is never replaced, least of all by another originator's.
                let consent: &Consent = consent;
                exec(tx, cache,
                    "INSERT INTO consents (id, consent) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING",
                    &[&consent.id, &json(consent)],
                )
                .map_err(db)?;
            }
            Write::PutFacility(facility) => {
                exec(
                    tx,
                    cache,
                    "INSERT INTO facilities (id, facility) VALUES ($1, $2)
                     ON CONFLICT (id) DO UPDATE SET facility = EXCLUDED.facility",
                    &[&facility.id, &json(facility)],
                )
                .map_err(db)?;
            }
            Write::PutAssurance(assurance) => {
                let assurance: &gsomia_core::Assurance = assurance;
                exec(
                    tx,
                    cache,
                    "INSERT INTO assurances (id, assurance) VALUES ($1, $2)
                     ON CONFLICT (id) DO NOTHING",
                    &[&assurance.id, &json(assurance)],
                )
                .map_err(db)?;
            }
            Write::PutLetter(letter) => {
                let letter: &gsomia_core::Letter = letter;
                exec(
                    tx,
                    cache,
                    "INSERT INTO letters (id, agreement, letter) VALUES ($1, $2, $3)
                     ON CONFLICT (id) DO NOTHING",
                    &[&letter.id, &letter.agreement.as_str(), &json(letter)],
                )
                .map_err(db)?;
            }
            Write::RevokeConsent(consent) => {
                let consent: &Consent = consent;
                exec(
                    tx,
                    cache,
                    "UPDATE consents SET consent = $2 WHERE id = $1",
                    &[&consent.id, &json(consent)],
                )
                .map_err(db)?;
            }
            Write::AddConsentRequest(request) => {
                let row = one(
                    tx,
                    cache,
                    "INSERT INTO consent_requests (request) VALUES ($1) RETURNING id",
                    &[&json(request)],
                )
                .map_err(db)?;
                committed.ids.push(row.get(0));
            }
            Write::AnswerConsentRequest { id, answer } => {
                let n = exec(
                    tx,
                    cache,
                    "UPDATE consent_requests SET answer = $2 WHERE id = $1 AND answer IS NULL",
                    &[id, &answer.to_string()],
                )
                .map_err(db)?;
                changed(n, || format!("open consent request {id}"))?;
            }
            Write::Enqueue {
                peer,
                kind,
                payload,
                at,
            } => {
                exec(
                    tx,
                    cache,
                    "INSERT INTO outbox (peer, kind, payload, created) VALUES ($1, $2, $3, $4)",
                    &[&peer.as_str(), kind, &payload.to_string(), at],
                )
                .map_err(db)?;
            }
            Write::PutCheckpoint { size, note, at } => {
                exec(
                    tx,
                    cache,
                    "INSERT INTO checkpoints (size, note, issued) VALUES ($1, $2, $3)
                     ON CONFLICT DO NOTHING",
                    &[&(*size as i64), note, at],
                )
                .map_err(db)?;
            }
            Write::PutWitnessed {
                party,
                size,
                note,
                at,
            } => {
                exec(
                    tx,
                    cache,
                    "INSERT INTO witnessed (party, size, note, received) VALUES ($1, $2, $3, $4)
                     ON CONFLICT DO NOTHING",
                    &[&party.as_str(), &(*size as i64), note, at],
                )
                .map_err(db)?;
            }
            Write::PutCosignature {
                size,
                witness,
                line,
            } => {
                exec(
                    tx,
                    cache,
                    "INSERT INTO cosignatures (size, witness, line) VALUES ($1, $2, $3)
                     ON CONFLICT (size, witness) DO UPDATE SET line = EXCLUDED.line",
                    &[&(*size as i64), &witness.as_str(), line],
                )
                .map_err(db)?;
            }
            Write::AddEvidence(e) => {
                exec(
                    tx,
                    cache,
                    "INSERT INTO evidence (party, found, record) VALUES ($1, $2, $3)",
                    &[&e.party.as_str(), &e.found, &json(&**e)],
                )
                .map_err(db)?;
            }
        }
    }
    if batch.writes.iter().any(Write::changes_world) {
        exec(
            tx,
            cache,
            "INSERT INTO meta (key, value) VALUES ($1, '1') ON CONFLICT (key)
             DO UPDATE SET value = (meta.value::bigint + 1)::text",
            &[&crate::WORLD_VERSION],
        )
        .map_err(db)?;
    }
    for draft in &batch.audit {
        let (entry, hashes) = head.append(draft.body());
        committed.audit.push(entry.seq);
        rows.audit_seq.push(entry.seq as i64);
        rows.audit_body.push(entry.body);
        rows.audit_hash.push(entry.hash);
        rows.audit_subject.push(draft.subject.clone());
        // The entry's leaf and the subtrees it completes commit with it.
        for (i, h) in hashes {
            rows.merkle_idx.push(i as i64);
            rows.merkle_hash.push(h.0.to_vec());
        }
    }
    Ok(committed)
}

impl Store for PostgresStore {
    fn is_open(&self) -> bool {
        self.writer.is_open()
    }

    fn commit_stats(&self) -> CommitStats {
        self.writer.stats()
    }

    fn close(&self) {
        self.writer.close();
        // A client's runtime may not be dropped on an async runtime's thread either.
        let readers = self
            .readers
            .lock()
            .map(|mut r| {
                r.open -= r.idle.len();
                std::mem::take(&mut r.idle)
            })
            .unwrap_or_default();
        off_runtime(move || drop(readers));
    }

    fn submit(&self, batch: Batch, done: Done) {
        if let Err(job) = self.writer.send(Job { batch, done }) {
            (job.done)(Err(StoreError::Closed));
        }
    }

    fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .rows("SELECT value FROM meta WHERE key = $1", &[&key])?
            .first()
            .map(|r| r.get(0)))
    }

    fn parties(&self) -> Result<Vec<PartyRecord>, StoreError> {
        self.all_json("SELECT record FROM parties ORDER BY code", &[])
    }

    fn agreements(&self) -> Result<Vec<AgreementFile>, StoreError> {
        self.all_json("SELECT file FROM agreements ORDER BY id", &[])
    }

    fn users(&self) -> Result<Vec<UserRecord>, StoreError> {
        self.rows(
            "SELECT \"user\", token_hash, disabled, expires FROM users ORDER BY id",
            &[],
        )?
        .iter()
        .map(|r| {
            Ok(UserRecord {
                user: parse::<User>(r.get::<_, &str>(0))?,
                token_hash: r.get(1),
                disabled: r.get(2),
                expires: r.get(3),
            })
        })
        .collect()
    }

    fn user_by_token(&self, token_hash: &str) -> Result<Option<UserRecord>, StoreError> {
        self.rows(
            "SELECT \"user\", expires FROM users WHERE token_hash = $1 AND NOT disabled",
            &[&token_hash],
        )?
        .first()
        .map(|r| {
            Ok(UserRecord {
                user: parse(r.get::<_, &str>(0))?,
                token_hash: token_hash.to_owned(),
                disabled: false,
                expires: r.get(1),
            })
        })
        .transpose()
    }

    fn passphrase(&self, id: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .rows(
                "SELECT passphrase FROM users WHERE id = $1 AND NOT disabled",
                &[&id],
            )?
            .first()
            .and_then(|r| r.get(0)))
    }

    fn item(&self, id: &ItemId, modified: Option<&str>) -> Result<Option<StoredItem>, StoreError> {
        let items = match modified {
            Some(m) => self.items(
                &format!("SELECT {ITEM_COLUMNS} FROM items WHERE stix_id = $1 AND modified = $2"),
                &[&id.as_str(), &m],
            )?,
            None => self.items(
                &format!(
                    "SELECT {ITEM_COLUMNS} FROM items WHERE stix_id = $1
                     ORDER BY modified DESC LIMIT 1"
                ),
                &[&id.as_str()],
            )?,
        };
        Ok(items.into_iter().next())
    }

    fn items_after(&self, after: i64, limit: usize) -> Result<Vec<StoredItem>, StoreError> {
        self.items(
            &format!("SELECT {ITEM_COLUMNS} FROM items WHERE seq > $1 ORDER BY seq LIMIT $2"),
            &[&after, &sql_limit(limit)],
        )
    }

    fn last_item(&self) -> Result<i64, StoreError> {
        Ok(self
            .rows("SELECT COALESCE(MAX(seq), 0)::bigint FROM items", &[])?
            .first()
            .map_or(0, |r| r.get(0)))
    }

    fn audit_after(&self, after: u64, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        Ok(self
            .rows(
                "SELECT seq, body, hash FROM audit WHERE seq > $1 ORDER BY seq LIMIT $2",
                &[&(after as i64), &sql_limit(limit)],
            )?
            .iter()
            .map(audit_at)
            .collect())
    }

    fn release_rules(&self) -> Result<Vec<ReleaseRule>, StoreError> {
        self.rows("SELECT id, rule FROM release_rules ORDER BY id", &[])?
            .iter()
            .map(|r| {
                let mut rule: ReleaseRule = parse(r.get::<_, &str>(1))?;
                rule.id = r.get(0);
                Ok(rule)
            })
            .collect()
    }

    fn incidents(&self) -> Result<Vec<Incident>, StoreError> {
        self.rows("SELECT id, report FROM incidents ORDER BY id", &[])?
            .iter()
            .map(|r| {
                let mut incident: Incident = parse(r.get::<_, &str>(1))?;
                incident.id = r.get(0);
                Ok(incident)
            })
            .collect()
    }

    fn outbox_after(
        &self,
        peer: PartyCode,
        after: u64,
        limit: usize,
    ) -> Result<Vec<OutboxMessage>, StoreError> {
        let peer = peer.as_str();
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        self.rows(
            "SELECT seq, kind, payload FROM outbox WHERE peer = $1 AND delivered IS NULL
             AND seq > $2 ORDER BY seq LIMIT $3",
            &[&peer, &after, &sql_limit(limit)],
        )?
        .iter()
        .map(|r| {
            Ok(OutboxMessage {
                seq: r.get::<_, i64>(0) as u64,
                kind: r.get(1),
                payload: parse(r.get::<_, &str>(2))?,
            })
        })
        .collect()
    }

    fn outbox_first(
        &self,
        peer: PartyCode,
        kind: &str,
    ) -> Result<Option<OutboxMessage>, StoreError> {
        let peer = peer.as_str();
        self.rows(
            "SELECT seq, payload FROM outbox WHERE peer = $1 AND kind = $2
             AND delivered IS NULL ORDER BY seq LIMIT 1",
            &[&peer, &kind],
        )?
        .first()
        .map(|r| {
            Ok(OutboxMessage {
                seq: r.get::<_, i64>(0) as u64,
                kind: kind.to_owned(),
                payload: parse(r.get::<_, &str>(1))?,
            })
        })
        .transpose()
    }

    fn peers_pending(&self) -> Result<Vec<PartyCode>, StoreError> {
        self.rows(
            "SELECT DISTINCT peer FROM outbox WHERE delivered IS NULL ORDER BY peer",
            &[],
        )?
        .iter()
        .map(|r| crate::party_code(r.get(0)))
        .collect()
    }

    fn delivery(&self) -> Result<Vec<PeerDelivery>, StoreError> {
        self.rows(
            "SELECT peer, COUNT(*) FILTER (WHERE delivered IS NULL),
                    MIN(CASE WHEN delivered IS NULL THEN created END),
                    COUNT(*) FILTER (WHERE delivered IS NOT NULL), MAX(delivered),
                    COALESCE(MAX(seq) FILTER (WHERE delivered IS NOT NULL), 0), MAX(seq)
             FROM outbox GROUP BY peer ORDER BY peer",
            &[],
        )?
        .iter()
        .map(|r| {
            Ok(PeerDelivery {
                peer: crate::party_code(r.get(0))?,
                queued: r.get::<_, i64>(1) as u64,
                oldest_queued: r.get(2),
                delivered: r.get::<_, i64>(3) as u64,
                last_delivered: r.get(4),
                acknowledged_through: r.get::<_, i64>(5) as u64,
                queued_through: r.get::<_, i64>(6) as u64,
            })
        })
        .collect()
    }

    fn inbox_mark(&self, peer: PartyCode) -> Result<u64, StoreError> {
        Ok(self
            .rows(
                "SELECT last_seq FROM inbox WHERE peer = $1",
                &[&peer.as_str()],
            )?
            .first()
            .map_or(0, |r| r.get::<_, i64>(0) as u64))
    }

    fn reply(
        &self,
        peer: PartyCode,
        envelope: &str,
    ) -> Result<Option<serde_json::Value>, StoreError> {
        self.rows(
            "SELECT reply FROM replies WHERE peer = $1 AND envelope = $2",
            &[&peer.as_str(), &envelope],
        )?
        .first()
        .map(|r| parse(r.get::<_, &str>(0)))
        .transpose()
    }

    fn receipts(&self, item: &ItemId) -> Result<Vec<SignedReceipt>, StoreError> {
        self.all_json(
            "SELECT receipt FROM receipts WHERE item = $1 ORDER BY version, party",
            &[&item.as_str()],
        )
    }

    fn consents(&self) -> Result<Vec<Consent>, StoreError> {
        self.all_json("SELECT consent FROM consents ORDER BY id", &[])
    }

    fn facilities(&self) -> Result<Vec<gsomia_core::Facility>, StoreError> {
        self.all_json("SELECT facility FROM facilities ORDER BY id", &[])
    }

    fn assurances(&self) -> Result<Vec<gsomia_core::Assurance>, StoreError> {
        self.all_json("SELECT assurance FROM assurances ORDER BY n", &[])
    }

    fn letters(&self, agreement: &str) -> Result<Vec<gsomia_core::Letter>, StoreError> {
        self.all_json(
            "SELECT letter FROM letters WHERE agreement = $1 ORDER BY n",
            &[&agreement],
        )
    }

    fn consent_requests(&self) -> Result<Vec<StoredConsentRequest>, StoreError> {
        self.rows(
            "SELECT id, request, answer FROM consent_requests ORDER BY id",
            &[],
        )?
        .iter()
        .map(|r| {
            Ok(StoredConsentRequest {
                id: r.get(0),
                request: parse(r.get::<_, &str>(1))?,
                answer: r.get::<_, Option<&str>>(2).map(parse).transpose()?,
            })
        })
        .collect()
    }

    fn counts(&self) -> Result<Counts, StoreError> {
        let rows = self.rows(
            "SELECT (SELECT count(*) FROM parties), (SELECT count(*) FROM agreements),
                    (SELECT count(*) FROM users), (SELECT count(*) FROM items),
                    (SELECT count(*) FROM outbox), (SELECT count(*) FROM audit),
                    (SELECT hash FROM audit ORDER BY seq DESC LIMIT 1)",
            &[],
        )?;
        let row = rows
            .first()
            .ok_or_else(|| StoreError::Database("counts: no row".into()))?;
        let n = |i: usize| row.get::<_, i64>(i) as u64;
        Ok(Counts {
            parties: n(0),
            agreements: n(1),
            users: n(2),
            items: n(3),
            outbox: n(4),
            audit: n(5),
            audit_head: row
                .get::<_, Option<String>>(6)
                .unwrap_or_else(|| GENESIS.to_owned()),
        })
    }

    fn tagged(
        &self,
        tag: &str,
        after: (i64, i64),
        limit: usize,
    ) -> Result<Vec<crate::Listed>, StoreError> {
        let columns = ITEM_COLUMNS
            .split(", ")
            .map(|c| format!("i.{}", c.trim()))
            .collect::<Vec<_>>()
            .join(", ");
        self.rows(
            &format!(
                "SELECT t.added, {columns},
                   NOT EXISTS (SELECT 1 FROM items j WHERE j.stix_id = i.stix_id
                               AND j.modified > i.modified AND j.destroyed IS NULL),
                   NOT EXISTS (SELECT 1 FROM items j WHERE j.stix_id = i.stix_id
                               AND j.modified < i.modified AND j.destroyed IS NULL)
                 FROM item_tags t JOIN items i ON i.seq = t.seq
                 WHERE t.tag = $1 AND (t.added, t.seq) > ($2, $3) AND i.destroyed IS NULL
                 ORDER BY t.added, t.seq LIMIT $4"
            ),
            &[&tag, &after.0, &after.1, &sql_limit(limit)],
        )?
        .iter()
        .map(|r| {
            Ok(crate::Listed {
                added: r.get(0),
                item: item_at(r, 1)?,
                latest: r.get(13),
                first: r.get(14),
            })
        })
        .collect()
    }

    fn versions(&self, id: &ItemId) -> Result<Vec<StoredItem>, StoreError> {
        self.items(
            &format!(
                "SELECT {ITEM_COLUMNS} FROM items WHERE stix_id = $1 AND destroyed IS NULL
                 ORDER BY modified"
            ),
            &[&id.as_str()],
        )
    }

    fn tags(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        Ok(self
            .rows(
                "SELECT tag FROM tags WHERE starts_with(tag, $1) ORDER BY tag",
                &[&prefix],
            )?
            .iter()
            .map(|r| r.get(0))
            .collect())
    }

    fn log_size(&self) -> Result<u64, StoreError> {
        Ok(self
            .rows("SELECT max(seq) FROM audit", &[])?
            .first()
            .and_then(|r| r.get::<_, Option<i64>>(0))
            .unwrap_or(0) as u64)
    }

    fn log_hashes(&self, indexes: &[u64]) -> Result<Vec<[u8; 32]>, StoreError> {
        self.read(|c| read_hashes(&mut c.client, indexes))
    }

    fn audit_about(&self, subject: &str, through: u64) -> Result<Vec<AuditEntry>, StoreError> {
        Ok(self
            .rows(
                "SELECT seq, body, hash FROM audit WHERE subject = $1 AND seq <= $2 ORDER BY seq",
                &[&subject, &(through as i64)],
            )?
            .iter()
            .map(audit_at)
            .collect())
    }

    fn checkpoint_latest(&self) -> Result<Option<(u64, String)>, StoreError> {
        Ok(self
            .rows(
                "SELECT size, note FROM checkpoints ORDER BY size DESC LIMIT 1",
                &[],
            )?
            .first()
            .map(|r| (r.get::<_, i64>(0) as u64, r.get(1))))
    }

    /// Leases are timed by the database's clock, the one clock every process shares.
    fn lease(&self, name: &str, holder: &str, millis: u64) -> Result<bool, StoreError> {
        let millis = i64::try_from(millis).unwrap_or(i64::MAX).to_string();
        Ok(!self
            .rows(
                "INSERT INTO leases (name, holder, until)
                 VALUES ($1, $2, now() + ($3 || ' milliseconds')::interval)
                 ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, until = EXCLUDED.until
                 WHERE leases.holder = EXCLUDED.holder OR leases.until < now()
                 RETURNING holder",
                &[&name, &holder, &millis],
            )?
            .is_empty())
    }

    fn checkpoints(&self) -> Result<Vec<(u64, String)>, StoreError> {
        Ok(self
            .rows("SELECT size, note FROM checkpoints ORDER BY size", &[])?
            .iter()
            .map(|r| (r.get::<_, i64>(0) as u64, r.get(1)))
            .collect())
    }

    fn checkpoint(&self, size: u64) -> Result<Option<String>, StoreError> {
        Ok(self
            .rows(
                "SELECT note FROM checkpoints WHERE size = $1",
                &[&(size as i64)],
            )?
            .first()
            .map(|r| r.get(0)))
    }

    fn cosignatures(&self, size: u64) -> Result<Vec<(PartyCode, String)>, StoreError> {
        self.rows(
            "SELECT witness, line FROM cosignatures WHERE size = $1 ORDER BY witness",
            &[&(size as i64)],
        )?
        .iter()
        .map(|r| Ok((crate::party_code(r.get(0))?, r.get(1))))
        .collect()
    }

    fn witnessed_latest(&self, party: PartyCode) -> Result<Option<(u64, String)>, StoreError> {
        Ok(self
            .rows(
                "SELECT size, note FROM witnessed WHERE party = $1 ORDER BY size DESC LIMIT 1",
                &[&party.as_str()],
            )?
            .first()
            .map(|r| (r.get::<_, i64>(0) as u64, r.get(1))))
    }

    fn last_cosigned(&self, witness: PartyCode) -> Result<u64, StoreError> {
        Ok(self
            .rows(
                "SELECT max(size) FROM cosignatures WHERE witness = $1",
                &[&witness.as_str()],
            )?
            .first()
            .and_then(|r| r.get::<_, Option<i64>>(0))
            .unwrap_or(0) as u64)
    }

    fn evidence(&self) -> Result<Vec<Evidence>, StoreError> {
        self.all_json("SELECT record FROM evidence ORDER BY id", &[])
    }
}
