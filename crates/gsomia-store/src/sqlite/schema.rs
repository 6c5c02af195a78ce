//! The SQLite schema: migrations, counted by `PRAGMA user_version`.

use super::*;

/// Schema migrations, applied in order; `PRAGMA user_version` counts those applied.
pub(super) const MIGRATIONS: &[&str] = &[
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
    // Letters between authorities under an agreement (N1, D1).
    r#"
CREATE TABLE letters (
    n INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    agreement TEXT NOT NULL,
    letter TEXT NOT NULL
);
CREATE INDEX letters_by_agreement ON letters (agreement, n);
"#,
    // Assurances before release (S1).
    r#"
CREATE TABLE assurances (n INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, assurance TEXT NOT NULL);
"#,
    // Contractor facilities (C1).
    r#"
CREATE TABLE facilities (id TEXT PRIMARY KEY, facility TEXT NOT NULL);
"#,
];

pub(super) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
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
