//! Moving a node from its SQLite file to PostgreSQL (`gsomia store copy`): every table, row
//! for row, numbers kept (item and outbox sequence numbers are cursors and federation
//! sequence numbers; audit entries and Merkle hashes are what partners witnessed), in one
//! PostgreSQL transaction, so that the copy is whole or absent. The source is read in one
//! SQLite read transaction (a consistent snapshot); the target must be empty.

use std::path::Path;

use postgres::types::ToSql;
use rusqlite::types::Value;

use crate::StoreError;
use crate::postgres::{PostgresStore, off_runtime};

/// How a column is carried.
#[derive(Clone, Copy)]
enum Kind {
    Text,
    Int,
    Bool,
    Bytes,
}

use Kind::{Bool, Bytes, Int, Text};

/// Every table of a node, in an order that keeps references valid, with its columns and, for
/// tables numbered by the database, the column whose next value is set after the copy.
/// A table: its name, its columns, and the column the database numbers, if any.
type Table = (
    &'static str,
    &'static [(&'static str, Kind)],
    Option<&'static str>,
);

const TABLES: &[Table] = &[
    ("meta", &[("key", Text), ("value", Text)], None),
    ("parties", &[("code", Text), ("record", Text)], None),
    ("agreements", &[("id", Text), ("file", Text)], None),
    (
        "users",
        &[
            ("id", Text),
            ("\"user\"", Text),
            ("token_hash", Text),
            ("disabled", Bool),
            ("expires", Text),
            ("passphrase", Text),
        ],
        None,
    ),
    (
        "items",
        &[
            ("seq", Int),
            ("stix_id", Text),
            ("modified", Text),
            ("stix_type", Text),
            ("label", Text),
            ("marking", Text),
            ("custody", Text),
            ("binding", Text),
            ("wrapped_key", Bytes),
            ("content", Bytes),
            ("added", Text),
            ("destroyed", Text),
        ],
        Some("seq"),
    ),
    (
        "item_tags",
        &[("tag", Text), ("added", Int), ("seq", Int)],
        None,
    ),
    ("tags", &[("tag", Text)], None),
    (
        "outbox",
        &[
            ("seq", Int),
            ("peer", Text),
            ("kind", Text),
            ("payload", Text),
            ("created", Text),
            ("delivered", Text),
        ],
        Some("seq"),
    ),
    (
        "audit",
        &[
            ("seq", Int),
            ("body", Text),
            ("hash", Text),
            ("subject", Text),
        ],
        None,
    ),
    ("merkle", &[("idx", Int), ("hash", Bytes)], None),
    ("release_rules", &[("id", Int), ("rule", Text)], Some("id")),
    (
        "incidents",
        &[
            ("id", Int),
            ("item", Text),
            ("report", Text),
            ("follows", Int),
        ],
        Some("id"),
    ),
    (
        "receipts",
        &[
            ("item", Text),
            ("version", Text),
            ("party", Text),
            ("receipt", Text),
        ],
        None,
    ),
    ("inbox", &[("peer", Text), ("last_seq", Int)], None),
    ("consents", &[("id", Text), ("consent", Text)], None),
    (
        "consent_requests",
        &[("id", Int), ("request", Text), ("answer", Text)],
        Some("id"),
    ),
    (
        "replies",
        &[("peer", Text), ("envelope", Text), ("reply", Text)],
        None,
    ),
    (
        "checkpoints",
        &[("size", Int), ("note", Text), ("issued", Text)],
        None,
    ),
    (
        "cosignatures",
        &[("size", Int), ("witness", Text), ("line", Text)],
        None,
    ),
    (
        "witnessed",
        &[
            ("party", Text),
            ("size", Int),
            ("note", Text),
            ("received", Text),
        ],
        None,
    ),
    (
        "evidence",
        &[
            ("id", Int),
            ("party", Text),
            ("found", Text),
            ("record", Text),
        ],
        Some("id"),
    ),
];

/// What was copied.
#[derive(Debug, Clone, PartialEq)]
pub struct Copied {
    /// Rows in all.
    pub rows: u64,
    /// Rows per table, in copy order.
    pub tables: Vec<(String, u64)>,
}

/// A SQLite value as the PostgreSQL column of `kind` takes it.
fn param(kind: Kind, v: Value) -> Result<Box<dyn ToSql + Sync + Send>, StoreError> {
    let bad = |what: &str| StoreError::Corrupt(format!("a {what} column holds {v:?}"));
    Ok(match (kind, &v) {
        (Text, Value::Null) => Box::new(None::<String>),
        (Text, Value::Text(t)) => Box::new(Some(t.clone())),
        (Int, Value::Null) => Box::new(None::<i64>),
        (Int, Value::Integer(i)) => Box::new(Some(*i)),
        (Bool, Value::Integer(i)) => Box::new(*i != 0),
        (Bytes, Value::Null) => Box::new(None::<Vec<u8>>),
        (Bytes, Value::Blob(b)) => Box::new(Some(b.clone())),
        (Text, _) => return Err(bad("text")),
        (Int, _) => return Err(bad("number")),
        (Bool, _) => return Err(bad("flag")),
        (Bytes, _) => return Err(bad("bytes")),
    })
}

/// Copies the node in the SQLite file `from` into the empty PostgreSQL database `to`
/// (migrated first). `progress` is told (rows copied, rows in all) as it goes.
pub fn sqlite_to_postgres(
    from: &Path,
    to: &str,
    progress: &mut (dyn FnMut(u64, u64) + Send),
) -> Result<Copied, StoreError> {
    let db = |e: rusqlite::Error| StoreError::Database(e.to_string());
    let pg = |e: postgres::Error| StoreError::Database(e.to_string());
    // Migrate the target (and make sure the source is a node this build reads).
    crate::Store::close(&crate::SqliteStore::open(from)?);
    crate::Store::close(&PostgresStore::open(to)?);
    off_runtime(|| {
        let mut source = rusqlite::Connection::open_with_flags(
            from,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(db)?;
        let snapshot = source.transaction().map_err(db)?;
        let mut total = 0u64;
        for (table, _, _) in TABLES {
            let n: i64 = snapshot
                .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
                .map_err(db)?;
            total += n as u64;
        }
        let mut target = postgres::Client::connect(to, postgres::NoTls).map_err(pg)?;
        let mut tx = target.transaction().map_err(pg)?;
        let held: i64 = tx
            .query_one(
                "SELECT (SELECT count(*) FROM meta) + (SELECT count(*) FROM audit)",
                &[],
            )
            .map_err(pg)?
            .get(0);
        if held > 0 {
            return Err(StoreError::Conflict(
                "the target database already holds a node: it must be empty".into(),
            ));
        }
        let mut copied = Copied {
            rows: 0,
            tables: vec![],
        };
        for (table, columns, numbered) in TABLES {
            let names: Vec<&str> = columns.iter().map(|(c, _)| *c).collect();
            let source_names = names.join(", ").replace("\"user\"", "user");
            let holders: Vec<String> = (1..=columns.len()).map(|i| format!("${i}")).collect();
            let overriding = if numbered.is_some() {
                " OVERRIDING SYSTEM VALUE"
            } else {
                ""
            };
            let insert = tx
                .prepare(&format!(
                    "INSERT INTO {table} ({}){overriding} VALUES ({})",
                    names.join(", "),
                    holders.join(", ")
                ))
                .map_err(pg)?;
            let mut stmt = snapshot
                .prepare(&format!("SELECT {source_names} FROM {table}"))
                .map_err(db)?;
            let mut rows = stmt.query([]).map_err(db)?;
            let mut n = 0u64;
            while let Some(row) = rows.next().map_err(db)? {
                let mut values = Vec::with_capacity(columns.len());
                for (i, (_, kind)) in columns.iter().enumerate() {
                    values.push(param(*kind, row.get::<_, Value>(i).map_err(db)?)?);
                }
                let refs: Vec<&(dyn ToSql + Sync)> = values
                    .iter()
                    .map(|v| v.as_ref() as &(dyn ToSql + Sync))
                    .collect();
                tx.execute(&insert, &refs).map_err(pg)?;
                n += 1;
                copied.rows += 1;
                if copied.rows.is_multiple_of(1024) {
                    progress(copied.rows, total);
                }
            }
            if let Some(column) = numbered {
                // The next number the database gives follows the largest copied.
                tx.execute(
                    &format!(
                        "SELECT setval(pg_get_serial_sequence('{table}', '{column}'),
                                       GREATEST((SELECT max({column}) FROM {table}), 1),
                                       (SELECT max({column}) FROM {table}) IS NOT NULL)"
                    ),
                    &[],
                )
                .map_err(pg)?;
            }
            copied.tables.push(((*table).to_owned(), n));
        }
        tx.commit().map_err(pg)?;
        // The planner's statistics of what was loaded (autovacuum would, a minute late).
        target.batch_execute("ANALYZE").map_err(pg)?;
        progress(copied.rows, total);
        Ok(copied)
    })
}
