//! The SQLite store: one file in WAL mode, one writer thread that commits batches in groups,
//! readers on their own connections in parallel.
//!
//! Durability: `synchronous = FULL`, so a batch whose callback has run is on disk and survives
//! a crash of the process or the machine. Group commit: the writer takes every batch waiting
//! (up to [`GROUP`]) into one transaction, each batch under its own savepoint so that one refused
//! batch does not undo the others, then commits once.
//!
//! WAL checkpoints run on a thread of their own ([`Checkpointer`]), not in the writer's commit:
//! a checkpoint copies the WAL into the database file and syncs it, and done inside a commit it
//! held every request waiting on that commit (every read too, since a read is audited, P7) for
//! as long as it took.

use std::path::{Path, PathBuf};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex, RwLock};

use gsomia_core::{AgreementFile, Consent, ItemId, PartyCode, SignedReceipt, User};
use rusqlite::{
    Connection, ErrorCode, OptionalExtension, Transaction, TransactionBehavior, params,
};

use gsomia_log::{Frontier, Hash, HashReader, ReaderError};
use rustc_hash::FxHashMap;

use crate::audit::{AuditEntry, GENESIS, Head};
use crate::writer::{Stats, Writer, group};
use crate::{
    Batch, CommitStats, Committed, Counts, Done, Evidence, Incident, OutboxMessage, PartyRecord,
    PeerDelivery, ReleaseRule, Store, StoreError, StoredConsentRequest, StoredItem, UserRecord,
    Write,
};

pub use crate::writer::GROUP;

mod log;
mod schema;
mod store;
mod writer;

use log::{catch_up_tree, chain_head, data_version, read_hashes, stored_head};
use schema::migrate;
use writer::{Job, run_writer};

/// A store in one SQLite file.
pub struct SqliteStore {
    path: PathBuf,
    writer: Writer<Job>,
    readers: Arc<Mutex<Vec<Connection>>>,
    /// Stored Merkle hashes of subtrees of at least 2^[`CACHED_LEVEL`] entries, as read: they
    /// never change once committed, they are most of what a proof reads, and there are few of
    /// them (one per 32 entries: 10 MB at 10 million entries).
    upper: RwLock<FxHashMap<u64, [u8; 32]>>,
    checkpointer: Mutex<Option<Checkpointer>>,
}

/// A thread that checkpoints the WAL every [`Checkpointer::EVERY`] on a connection of its own,
/// in `PASSIVE` mode: beside the writer and the readers, waiting for neither. Stopped and joined
/// when the store closes.
struct Checkpointer {
    stop: std::sync::mpsc::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl Checkpointer {
    const EVERY: std::time::Duration = std::time::Duration::from_millis(200);

    fn start(path: &Path) -> Result<Checkpointer, StoreError> {
        let conn = open(path)?;
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || {
                while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(Checkpointer::EVERY)
                {
                    // A busy or failed checkpoint is tried again next time; the writer's own
                    // (far larger) threshold bounds the WAL if this thread falls behind.
                    let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
                }
            })
            .map_err(|e| StoreError::Database(format!("the checkpoint thread: {e}")))?;
        Ok(Checkpointer { stop, thread })
    }

    fn stop(self) {
        drop(self.stop);
        let _ = self.thread.join();
    }
}

/// The lowest tree level whose hashes [`SqliteStore`] keeps in memory once read.
pub(super) const CACHED_LEVEL: u8 = 5;

pub(super) fn db(e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(ErrorCode::ConstraintViolation) => StoreError::Conflict(e.to_string()),
        _ => StoreError::Database(e.to_string()),
    }
}

pub(super) fn json<T: serde::Serialize>(v: &T) -> String {
    // INVARIANT: gsomia's records serialise to JSON without error (no maps with non-string keys).
    serde_json::to_string(v).unwrap_or_default()
}

pub(super) fn parse<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub(super) fn open(path: &Path) -> Result<Connection, StoreError> {
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
        // The writer alone gets a large page cache (measured faster for group commits,
        // BENCHMARKS.md, store alone); it checkpoints only if the checkpoint thread falls far
        // behind (256 MiB of WAL).
        conn.execute_batch("PRAGMA cache_size = -32768; PRAGMA wal_autocheckpoint = 65536;")
            .map_err(db)?;
        migrate(&mut conn)?;
        let (seq, hash) = chain_head(&conn)?;
        let tree = catch_up_tree(&mut conn, seq)?;
        let head = Head::new(seq, hash, tree);
        let version = data_version(&conn)?;
        let writer = Writer::start(move |rx, stats| run_writer(conn, rx, head, version, stats))?;
        let checkpointer = Mutex::new(Some(Checkpointer::start(&path)?));
        Ok(SqliteStore {
            path,
            writer,
            readers: Arc::new(Mutex::new(Vec::new())),
            upper: RwLock::default(),
            checkpointer,
        })
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
        Store::close(self);
    }
}
