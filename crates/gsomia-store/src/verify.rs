//! Reading a node's audit log offline, read-only, to check it and to prove what is in it
//! (`gsomia audit verify|prove`). Nothing here writes: a database under suspicion is examined,
//! never repaired.
//!
//! [`verify`] recomputes everything from the entries: their numbering, the hash chain, every
//! stored Merkle hash, and the root at every checkpoint the node signed. It streams the entries
//! once, in order, and stops at the first that does not hold, naming it.

use std::path::Path;

use gsomia_log::{Frontier, Hash, HashReader, ReaderError, leaf_hash};
use rusqlite::{Connection, OpenFlags, OptionalExtension};

use crate::audit::GENESIS;

/// What is wrong with a log, naming the first entry (or checkpoint) that does not hold.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum Tampered {
    /// A number is missing: an entry was deleted.
    #[error("entry {expected} is missing: the log goes from entry {} to entry {found}", expected - 1)]
    Missing {
        /// The number expected.
        expected: u64,
        /// The number found instead.
        found: u64,
    },
    /// The chain hash does not match: the entry was changed, or moved.
    #[error(
        "entry {0}: its hash does not match its body and the entry before it (changed or moved)"
    )]
    Chain(u64),
    /// The stored Merkle hashes for the entry do not match its body.
    #[error("entry {0}: the Merkle tree stored for it does not match its body")]
    Tree(u64),
    /// A checkpoint the node signed does not match the log it holds now.
    #[error(
        "checkpoint of size {0}: its root is not the root of the first {0} entries now (the log was rewritten)"
    )]
    Checkpoint(u64),
    /// A checkpoint that does not open with the node's key.
    #[error("checkpoint of size {size}: {problem}")]
    BadCheckpoint {
        /// Its size.
        size: u64,
        /// Why.
        problem: String,
    },
    /// A checkpoint of more entries than the log has.
    #[error(
        "checkpoint of size {checkpoint}: the log has only {entries} entries (entries at the end were deleted)"
    )]
    Shortened {
        /// The checkpoint's size.
        checkpoint: u64,
        /// The entries left.
        entries: u64,
    },
    /// Stored hashes beyond the last entry.
    #[error(
        "the Merkle tree has hashes past the last entry ({0}): entries at the end were deleted"
    )]
    Truncated(u64),
    /// The database could not be read.
    #[error("database: {0}")]
    Database(String),
}

fn db(e: rusqlite::Error) -> Tampered {
    Tampered::Database(e.to_string())
}

/// A node's log, open read-only.
pub struct LogFile {
    path: std::path::PathBuf,
    conn: Connection,
}

/// The result of a verification.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    /// Entries checked.
    pub entries: u64,
    /// The root of the whole tree.
    pub root: Hash,
    /// Checkpoints checked.
    pub checkpoints: u64,
}

impl LogFile {
    /// Opens the database at `path` read-only.
    pub fn open(path: &Path) -> Result<LogFile, Tampered> {
        if !path.is_file() {
            return Err(Tampered::Database(format!(
                "{}: no such database",
                path.display()
            )));
        }
        Ok(LogFile {
            path: path.to_path_buf(),
            conn: read_only(path)?,
        })
    }

    /// The number of entries.
    pub fn size(&self) -> Result<u64, Tampered> {
        self.conn
            .query_row("SELECT max(seq) FROM audit", [], |r| {
                r.get::<_, Option<i64>>(0)
            })
            .map(|v| v.unwrap_or(0) as u64)
            .map_err(db)
    }

    /// Entry `seq`'s body, if there is one.
    pub fn entry(&self, seq: u64) -> Result<Option<String>, Tampered> {
        self.conn
            .query_row("SELECT body FROM audit WHERE seq = ?1", [seq as i64], |r| {
                r.get(0)
            })
            .optional()
            .map_err(db)
    }

    /// The checkpoints the node issued: size and note, in order of size.
    pub fn checkpoints(&self) -> Result<Vec<(u64, String)>, Tampered> {
        let mut stmt = self
            .conn
            .prepare("SELECT size, note FROM checkpoints ORDER BY size")
            .map_err(db)?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?)))
            .map_err(db)?;
        rows.map(|r| r.map_err(db)).collect()
    }

    /// Checks the whole log. `open` reads a checkpoint note with the node's key (its size and
    /// root, or why not); `progress` is told (entries done, entries in all) now and then.
    ///
    /// Three threads in a pipeline, so that two cores are busy: one reads the entries, this
    /// one checks their numbering and chain hashes and computes their leaf hashes, one rebuilds
    /// the tree and compares it with the stored hashes and the checkpoints. When two threads
    /// find a fault, the one at the lower entry number is reported.
    pub fn verify(
        &self,
        open: impl Fn(&str) -> Result<(u64, Hash), String>,
        mut progress: impl FnMut(u64, u64),
    ) -> Result<Verified, Tampered> {
        let total = self.size()?;
        let mut checkpoints = vec![];
        for (size, note) in self.checkpoints()? {
            let (signed, root) =
                open(&note).map_err(|problem| Tampered::BadCheckpoint { size, problem })?;
            if signed != size {
                return Err(Tampered::BadCheckpoint {
                    size,
                    problem: format!("it is filed under size {size} but says {signed}"),
                });
            }
            checkpoints.push((size, root));
        }
        // Checkpoints of the empty log are checked here; the others as the entries stream by.
        if let Some((size, _)) = checkpoints
            .iter()
            .find(|(size, root)| *size == 0 && *root != gsomia_log::EMPTY_HASH)
        {
            return Err(Tampered::Checkpoint(*size));
        }
        checkpoints.retain(|(size, _)| *size > 0);
        let count = checkpoints.len() as u64;
        let (chunks, from_reader) = std::sync::mpsc::sync_channel::<Result<Chunk, Tampered>>(4);
        let (leaves, to_tree) = std::sync::mpsc::sync_channel::<Vec<Hash>>(4);
        std::thread::scope(|scope| {
            let path = &self.path;
            scope.spawn(move || read_entries(path, chunks));
            let tree = scope.spawn(move || rebuild_tree(path, to_tree, &checkpoints));
            let checked = check_chain(from_reader, leaves, total, &mut progress);
            let tree = tree
                .join()
                .unwrap_or_else(|_| Err(Tampered::Database("the tree thread panicked".into())));
            let (entries, root) = match (checked, tree) {
                (Err(a), Err(b)) => return Err(if b.at() < a.at() { b } else { a }),
                (Err(a), Ok(_)) => return Err(a),
                (Ok(_), Err(b)) => return Err(b),
                // What the tree finds at the end counts only when every entry reached it.
                (Ok(_), Ok((_, Some(end)))) => return Err(end),
                (Ok(n), Ok((root, None))) => (n, root),
            };
            progress(entries, total);
            Ok(Verified {
                entries,
                root,
                checkpoints: count,
            })
        })
    }
}

/// [`LogFile::verify`] through any [`crate::Store`] (a PostgreSQL database, whose log
/// `gsomia audit verify` reads this way): the numbering, the hash chain, every stored Merkle
/// hash and the root at every checkpoint, in pages of 10,000 entries on one thread. (Stored
/// hashes beyond the last entry are not looked for; the file reader finds those.)
pub fn verify_store(
    store: &dyn crate::Store,
    open: impl Fn(&str) -> Result<(u64, Hash), String>,
    mut progress: impl FnMut(u64, u64),
) -> Result<Verified, Tampered> {
    let err = |e: crate::StoreError| Tampered::Database(e.to_string());
    let total = store.log_size().map_err(err)?;
    let mut checkpoints = vec![];
    for (size, note) in store.checkpoints().map_err(err)? {
        let (signed, root) =
            open(&note).map_err(|problem| Tampered::BadCheckpoint { size, problem })?;
        if signed != size {
            return Err(Tampered::BadCheckpoint {
                size,
                problem: format!("it is filed under size {size} but says {signed}"),
            });
        }
        checkpoints.push((size, root));
    }
    let mut pending = checkpoints.iter().peekable();
    while let Some((0, root)) = pending.peek() {
        if *root != gsomia_log::EMPTY_HASH {
            return Err(Tampered::Checkpoint(0));
        }
        pending.next();
    }
    let mut tree = Frontier::new();
    let mut prev = GENESIS.as_bytes().to_vec();
    let mut expected = 1u64;
    loop {
        let page = store.audit_after(expected - 1, 10_000).map_err(err)?;
        if page.is_empty() {
            break;
        }
        for e in page {
            if e.seq != expected {
                return Err(Tampered::Missing {
                    expected,
                    found: e.seq,
                });
            }
            if e.hash.len() != 64
                || !chain_matches(e.seq, &prev, e.body.as_bytes(), e.hash.as_bytes())
            {
                return Err(Tampered::Chain(e.seq));
            }
            prev.clear();
            prev.extend_from_slice(e.hash.as_bytes());
            let made = tree.append(leaf_hash(e.body.as_bytes()));
            let indexes: Vec<u64> = made.iter().map(|(i, _)| *i).collect();
            let stored = store
                .log_hashes(&indexes)
                .map_err(|_| Tampered::Tree(e.seq))?;
            if made.iter().zip(&stored).any(|((_, h), s)| h.0 != *s) {
                return Err(Tampered::Tree(e.seq));
            }
            while let Some((size, root)) = pending.peek() {
                if *size != e.seq {
                    break;
                }
                if tree.root() != *root {
                    return Err(Tampered::Checkpoint(*size));
                }
                pending.next();
            }
            expected += 1;
        }
        progress(expected - 1, total);
    }
    if let Some((size, _)) = pending.next() {
        return Err(Tampered::Shortened {
            checkpoint: *size,
            entries: tree.size(),
        });
    }
    Ok(Verified {
        entries: expected - 1,
        root: tree.root(),
        checkpoints: checkpoints.iter().filter(|(s, _)| *s > 0).count() as u64,
    })
}

impl Tampered {
    /// The entry number a fault is at, to report the earliest of two.
    fn at(&self) -> u64 {
        match self {
            Tampered::Missing { expected, .. } => *expected,
            Tampered::Chain(s) | Tampered::Tree(s) | Tampered::Checkpoint(s) => *s,
            Tampered::BadCheckpoint { size, .. } => *size,
            Tampered::Shortened { checkpoint, .. } => *checkpoint,
            Tampered::Truncated(last) => last + 1,
            Tampered::Database(_) => 0,
        }
    }
}

/// Entries as read: numbers, bodies end to end, chain hashes (hex) end to end.
#[derive(Default)]
struct Chunk {
    seqs: Vec<u64>,
    bodies: String,
    ends: Vec<usize>,
    hashes: String,
}

const CHUNK: usize = 4096;

fn read_only(path: &Path) -> Result<Connection, Tampered> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(db)?;
    conn.execute_batch("PRAGMA query_only = ON; PRAGMA cache_size = -65536;")
        .map_err(db)?;
    Ok(conn)
}

/// The reader: every entry in order, in chunks.
fn read_entries(path: &Path, out: std::sync::mpsc::SyncSender<Result<Chunk, Tampered>>) {
    let run = || -> Result<(), Tampered> {
        let conn = read_only(path)?;
        let mut stmt = conn
            .prepare("SELECT seq, body, hash FROM audit ORDER BY seq")
            .map_err(db)?;
        let mut rows = stmt.query([]).map_err(db)?;
        let mut chunk = Chunk::default();
        while let Some(row) = rows.next().map_err(db)? {
            let text = |i| -> Result<&str, Tampered> {
                row.get_ref(i)
                    .map_err(db)?
                    .as_str()
                    .map_err(|e| Tampered::Database(e.to_string()))
            };
            chunk.seqs.push(row.get::<_, i64>(0).map_err(db)? as u64);
            chunk.bodies.push_str(text(1)?);
            chunk.ends.push(chunk.bodies.len());
            let hash = text(2)?;
            // A hash of the wrong length fails the chain check; keep the slots aligned.
            if hash.len() == 64 {
                chunk.hashes.push_str(hash);
            } else {
                chunk.hashes.push_str(&format!("{hash:0<64.64}"));
            }
            if chunk.seqs.len() == CHUNK && out.send(Ok(std::mem::take(&mut chunk))).is_err() {
                return Ok(());
            }
        }
        if !chunk.seqs.is_empty() {
            let _ = out.send(Ok(chunk));
        }
        Ok(())
    };
    if let Err(e) = run() {
        let _ = out.send(Err(e));
    }
}

/// The numbering and the hash chain, and the leaf hashes for the tree thread. The number of
/// entries, or the first fault.
fn check_chain(
    chunks: std::sync::mpsc::Receiver<Result<Chunk, Tampered>>,
    leaves: std::sync::mpsc::SyncSender<Vec<Hash>>,
    total: u64,
    progress: &mut impl FnMut(u64, u64),
) -> Result<u64, Tampered> {
    let mut prev = GENESIS.as_bytes().to_vec();
    let mut expected = 1u64;
    for chunk in chunks {
        let chunk = chunk?;
        let mut out = Vec::with_capacity(chunk.seqs.len());
        let mut start = 0;
        for (i, (&seq, &end)) in chunk.seqs.iter().zip(&chunk.ends).enumerate() {
            let body = &chunk.bodies[start..end];
            start = end;
            let hash = &chunk.hashes.as_bytes()[i * 64..i * 64 + 64];
            if seq != expected {
                return Err(Tampered::Missing {
                    expected,
                    found: seq,
                });
            }
            if !chain_matches(seq, &prev, body.as_bytes(), hash) {
                return Err(Tampered::Chain(seq));
            }
            prev.clear();
            prev.extend_from_slice(hash);
            out.push(leaf_hash(body.as_bytes()));
            expected += 1;
        }
        if leaves.send(out).is_err() {
            break;
        }
        if (expected - 1).is_multiple_of(16 * CHUNK as u64) {
            progress(expected - 1, total);
        }
    }
    Ok(expected - 1)
}

/// `audit::link` without allocating: compares the chain hash of entry `seq` (body `body`, after
/// the entry whose hash is `prev`, hex) with `hash` (hex).
fn chain_matches(seq: u64, prev: &[u8], body: &[u8], hash: &[u8]) -> bool {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"gsomia-audit-v1\n");
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut n = seq;
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    h.update(&digits[i..]);
    h.update(b"\n");
    h.update(prev);
    h.update(b"\n");
    h.update(body);
    let digest = h.finalize();
    const HEX: &[u8; 16] = b"0123456789abcdef";
    digest
        .iter()
        .zip(hash.chunks_exact(2))
        .all(|(b, pair)| pair[0] == HEX[(b >> 4) as usize] && pair[1] == HEX[(b & 15) as usize])
}

/// The tree thread: rebuilds the tree from the leaf hashes, compares every stored hash, checks
/// the checkpoints as their sizes pass. The root and what is wrong at the end (hashes or
/// checkpoints past the last entry), or the first fault on the way.
fn rebuild_tree(
    path: &Path,
    leaves: std::sync::mpsc::Receiver<Vec<Hash>>,
    checkpoints: &[(u64, Hash)],
) -> Result<(Hash, Option<Tampered>), Tampered> {
    let conn = read_only(path)?;
    let mut stmt = conn
        .prepare("SELECT idx, hash FROM merkle ORDER BY idx")
        .map_err(db)?;
    let mut stored = stmt.query([]).map_err(db)?;
    let mut pending = checkpoints.iter().peekable();
    let mut tree = Frontier::new();
    for chunk in leaves {
        for leaf in chunk {
            let seq = tree.size() + 1;
            for (idx, h) in tree.append(leaf) {
                let row = stored.next().map_err(db)?;
                let matches = row.is_some_and(|r| {
                    r.get::<_, i64>(0).ok() == Some(idx as i64)
                        && r.get_ref(1).ok().and_then(|v| v.as_blob().ok()) == Some(&h.0[..])
                });
                if !matches {
                    return Err(Tampered::Tree(seq));
                }
            }
            while let Some((size, root)) = pending.peek() {
                if *size != seq {
                    break;
                }
                if tree.root() != *root {
                    return Err(Tampered::Checkpoint(*size));
                }
                pending.next();
            }
        }
    }
    let end = if stored.next().map_err(db)?.is_some() {
        Some(Tampered::Truncated(tree.size()))
    } else {
        pending.next().map(|(size, _)| Tampered::Shortened {
            checkpoint: *size,
            entries: tree.size(),
        })
    };
    Ok((tree.root(), end))
}

impl HashReader for LogFile {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, ReaderError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT hash FROM merkle WHERE idx = ?1")
            .map_err(|_| ReaderError::IndexesNotInTree)?;
        indexes
            .iter()
            .map(|&i| {
                let bytes: Option<Vec<u8>> = stmt
                    .query_row([i as i64], |r| r.get(0))
                    .optional()
                    .map_err(|_| ReaderError::IndexesNotInTree)?;
                bytes
                    .and_then(|b| b.try_into().ok())
                    .map(Hash)
                    .ok_or(ReaderError::IndexesNotInTree)
            })
            .collect()
    }
}
