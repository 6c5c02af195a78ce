//! The audit log as SQLite stores it: the chain's head, the Merkle tree's stored hashes.

use super::*;

/// Stored Merkle hashes read through one connection.
pub(super) struct StoredHashes<'a>(&'a Connection);

impl HashReader for StoredHashes<'_> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, ReaderError> {
        read_hashes(self.0, indexes)
            .map(|v| v.into_iter().map(Hash).collect())
            .map_err(|_| ReaderError::IndexesNotInTree)
    }
}

/// The stored hashes at `indexes`, in that order, read with one statement.
pub(super) fn read_hashes(c: &Connection, indexes: &[u64]) -> Result<Vec<[u8; 32]>, StoreError> {
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
pub(super) fn catch_up_tree(
    conn: &mut Connection,
    audit_size: u64,
) -> Result<Frontier, StoreError> {
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
pub(super) fn data_version(conn: &Connection) -> Result<i64, StoreError> {
    conn.query_row("PRAGMA data_version", [], |r| r.get(0))
        .map_err(db)
}

/// The number and hash of the last audit entry (0 and the genesis hash for an empty log).
pub(super) fn chain_head(conn: &Connection) -> Result<(u64, String), StoreError> {
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
pub(super) fn stored_head(conn: &Connection) -> Result<Head, StoreError> {
    let (seq, hash) = chain_head(conn)?;
    #[cfg(not(feature = "benchmark-without-merkle-log"))]
    let size = seq;
    #[cfg(feature = "benchmark-without-merkle-log")]
    let size = 0;
    let tree = Frontier::load(size, &StoredHashes(conn))
        .map_err(|e| StoreError::Corrupt(format!("Merkle tree of size {size}: {e}")))?;
    Ok(Head::new(seq, hash, tree))
}
