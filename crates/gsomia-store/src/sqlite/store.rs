//! Rows back into records, and [`Store`] for [`SqliteStore`].

use super::*;

pub(super) fn audit_row(r: &rusqlite::Row) -> rusqlite::Result<AuditEntry> {
    Ok(AuditEntry {
        seq: r.get::<_, i64>(0)? as u64,
        body: r.get(1)?,
        hash: r.get(2)?,
    })
}

// A parameter is written `+?1` rather than `?1` in a query with ORDER BY or LIMIT. With a bare
// parameter the bundled SQLite (built with STAT4) prepared such a statement again at each run
// after another connection had committed, and at every run when LIMIT was a parameter (seen
// with rusqlite's `StatementStatus::RePrepare`): for a reader beside the writer that is every
// run, 11 % of a publication's instructions (`cargo xtask bench instructions`). The unary `+`
// keeps the value out of the planner's reach; EXPLAIN QUERY PLAN gives the same plans.

pub(super) const ITEM_COLUMNS: &str = "seq, stix_id, modified, stix_type, label, marking, custody, binding, \
                            wrapped_key, content, added, destroyed";

/// An item row before its JSON columns are parsed.
pub(super) struct RawItem {
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

pub(super) fn item_row(r: &rusqlite::Row) -> rusqlite::Result<RawItem> {
    item_row_at(r, 0)
}

/// An item row whose columns ([`ITEM_COLUMNS`]) start at column `at`.
pub(super) fn item_row_at(r: &rusqlite::Row, at: usize) -> rusqlite::Result<RawItem> {
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

pub(super) fn finish_item(raw: RawItem) -> Result<StoredItem, StoreError> {
    Ok(StoredItem {
        seq: raw.seq,
        id: crate::item_id(&raw.id)?,
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
    fn is_open(&self) -> bool {
        self.writer.is_open()
    }

    fn commit_stats(&self) -> CommitStats {
        self.writer.stats()
    }

    /// Stops accepting writes, waits for the writer to commit what it has, and checkpoints the
    /// WAL into the database file.
    fn close(&self) {
        // The checkpoint thread first: the writer's last act is a full checkpoint.
        let checkpointer = self.checkpointer.lock().map(|mut c| c.take());
        if let Ok(Some(c)) = checkpointer {
            c.stop();
        }
        self.writer.close();
    }

    fn submit(&self, batch: Batch, done: Done) {
        if let Err(job) = self.writer.send(Job::new(batch, done)) {
            (job.done)(Err(StoreError::Closed));
        }
    }

    fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.read(|c| {
            // Read at every request (the world's version): prepared once per connection.
            c.prepare_cached("SELECT value FROM meta WHERE key = ?1")
                .and_then(|mut s| s.query_row([key], |r| r.get(0)).optional())
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

    fn item(&self, id: &ItemId, modified: Option<&str>) -> Result<Option<StoredItem>, StoreError> {
        self.read(|c| {
            let row = match modified {
                Some(m) => c
                    .prepare_cached(&format!("SELECT {ITEM_COLUMNS} FROM items WHERE stix_id = ?1 AND modified = ?2"))
                    .map_err(db)?
                    .query_row(params![id.as_str(), m], item_row)
                    .optional(),
                None => c
                    .prepare_cached(&format!(
                        "SELECT {ITEM_COLUMNS} FROM items WHERE stix_id = +?1 ORDER BY modified DESC LIMIT 1"
                    ))
                    .map_err(db)?
                    .query_row(params![id.as_str()], item_row)
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
                    "SELECT {ITEM_COLUMNS} FROM items WHERE seq > +?1 ORDER BY seq LIMIT +?2"
                ))
                .map_err(db)?;
            let rows = stmt
                .query_map(params![after, limit as i64], item_row)
                .map_err(db)?;
            rows.map(|r| finish_item(r.map_err(db)?)).collect()
        })
    }

    fn last_item(&self) -> Result<i64, StoreError> {
        self.read(|c| {
            c.query_row("SELECT COALESCE(MAX(seq), 0) FROM items", [], |r| r.get(0))
                .map_err(db)
        })
    }

    fn audit_after(&self, after: u64, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        self.read(|c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT seq, body, hash FROM audit WHERE seq > +?1 ORDER BY seq LIMIT +?2",
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

    fn outbox_first(
        &self,
        peer: PartyCode,
        kind: &str,
    ) -> Result<Option<OutboxMessage>, StoreError> {
        let peer = peer.as_str();
        self.read(|c| {
            c.prepare_cached(
                "SELECT seq, payload FROM outbox WHERE peer = +?1 AND kind = +?2
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

    fn outbox_after(
        &self,
        peer: PartyCode,
        after: u64,
        limit: usize,
    ) -> Result<Vec<OutboxMessage>, StoreError> {
        let peer = peer.as_str();
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        self.read(|c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT seq, kind, payload FROM outbox WHERE peer = +?1 AND delivered IS NULL
                     AND seq > +?2 ORDER BY seq LIMIT +?3",
                )
                .map_err(db)?;
            let rows = stmt
                .query_map(params![peer, after, limit as i64], |r| {
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
                            SUM(delivered IS NOT NULL), MAX(delivered),
                            COALESCE(MAX(CASE WHEN delivered IS NOT NULL THEN seq END), 0), MAX(seq)
                     FROM outbox GROUP BY peer ORDER BY peer",
                )
                .map_err(db)?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, i64>(1)? as u64,
                        r.get(2)?,
                        r.get::<_, i64>(3)? as u64,
                        r.get(4)?,
                        r.get::<_, i64>(5)? as u64,
                        r.get::<_, i64>(6)? as u64,
                    ))
                })
                .map_err(db)?;
            rows.map(|r| {
                let (peer, queued, oldest_queued, delivered, last_delivered, ack, last) =
                    r.map_err(db)?;
                Ok(PeerDelivery {
                    peer: crate::party_code(&peer)?,
                    queued,
                    oldest_queued,
                    delivered,
                    last_delivered,
                    acknowledged_through: ack,
                    queued_through: last,
                })
            })
            .collect()
        })
    }

    fn peers_pending(&self) -> Result<Vec<PartyCode>, StoreError> {
        self.read(|c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT DISTINCT peer FROM outbox WHERE delivered IS NULL ORDER BY peer",
                )
                .map_err(db)?;
            let rows = stmt.query_map([], |r| r.get::<_, String>(0)).map_err(db)?;
            rows.map(|r| crate::party_code(&r.map_err(db)?)).collect()
        })
    }

    fn inbox_mark(&self, peer: PartyCode) -> Result<u64, StoreError> {
        self.read(|c| {
            c.query_row(
                "SELECT last_seq FROM inbox WHERE peer = ?1",
                [peer.as_str()],
                |r| r.get::<_, i64>(0),
            )
            .optional()
            .map(|v| v.unwrap_or(0) as u64)
            .map_err(db)
        })
    }

    fn reply(
        &self,
        peer: PartyCode,
        envelope: &str,
    ) -> Result<Option<serde_json::Value>, StoreError> {
        let peer = peer.as_str();
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

    fn receipts(&self, item: &ItemId) -> Result<Vec<SignedReceipt>, StoreError> {
        self.all_json(
            "SELECT receipt FROM receipts WHERE item = +?1 ORDER BY version, party",
            [item.as_str()],
        )
    }

    fn consents(&self) -> Result<Vec<Consent>, StoreError> {
        self.all_json("SELECT consent FROM consents ORDER BY id", [])
    }

    fn facilities(&self) -> Result<Vec<gsomia_core::Facility>, StoreError> {
        self.all_json("SELECT facility FROM facilities ORDER BY id", [])
    }

    fn assurances(&self) -> Result<Vec<gsomia_core::Assurance>, StoreError> {
        self.all_json("SELECT assurance FROM assurances ORDER BY n", [])
    }

    fn letters(&self, agreement: &str) -> Result<Vec<gsomia_core::Letter>, StoreError> {
        self.all_json(
            "SELECT letter FROM letters WHERE agreement = +?1 ORDER BY n",
            [agreement],
        )
    }

    fn consent_requests(&self) -> Result<Vec<StoredConsentRequest>, StoreError> {
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
                Ok(StoredConsentRequest {
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
                     WHERE t.tag = +?1 AND (t.added, t.seq) > (+?2, +?3) AND i.destroyed IS NULL
                     ORDER BY t.added, t.seq LIMIT +?4",
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

    fn versions(&self, id: &ItemId) -> Result<Vec<StoredItem>, StoreError> {
        self.read(|c| {
            let mut stmt = c
                .prepare_cached(&format!(
                    "SELECT {ITEM_COLUMNS} FROM items WHERE stix_id = +?1 AND destroyed IS NULL
                     ORDER BY modified"
                ))
                .map_err(db)?;
            let rows = stmt.query_map(params![id.as_str()], item_row).map_err(db)?;
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
                    "SELECT seq, body, hash FROM audit WHERE subject = +?1 AND seq <= +?2
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

    /// One server per SQLite file (`gsomia serve` holds `gsomia.lock`): its leases are its own.
    fn lease(&self, _name: &str, _holder: &str, _millis: u64) -> Result<bool, StoreError> {
        Ok(true)
    }

    fn checkpoints(&self) -> Result<Vec<(u64, String)>, StoreError> {
        self.read(|c| {
            let mut stmt = c
                .prepare_cached("SELECT size, note FROM checkpoints ORDER BY size")
                .map_err(db)?;
            let rows = stmt
                .query_map([], |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?)))
                .map_err(db)?;
            rows.map(|r| r.map_err(db)).collect()
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

    fn cosignatures(&self, size: u64) -> Result<Vec<(PartyCode, String)>, StoreError> {
        self.read(|c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT witness, line FROM cosignatures WHERE size = +?1 ORDER BY witness",
                )
                .map_err(db)?;
            let rows = stmt
                .query_map([size as i64], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
                })
                .map_err(db)?;
            rows.map(|r| {
                let (witness, line) = r.map_err(db)?;
                Ok((crate::party_code(&witness)?, line))
            })
            .collect()
        })
    }

    fn witnessed_latest(&self, party: PartyCode) -> Result<Option<(u64, String)>, StoreError> {
        self.read(|c| {
            c.query_row(
                "SELECT size, note FROM witnessed WHERE party = +?1 ORDER BY size DESC LIMIT 1",
                [party.as_str()],
                |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?)),
            )
            .optional()
            .map_err(db)
        })
    }

    fn last_cosigned(&self, witness: PartyCode) -> Result<u64, StoreError> {
        self.read(|c| {
            c.query_row(
                "SELECT max(size) FROM cosignatures WHERE witness = ?1",
                [witness.as_str()],
                |r| r.get::<_, Option<i64>>(0),
            )
            .map(|v| v.unwrap_or(0) as u64)
            .map_err(db)
        })
    }

    fn evidence(&self) -> Result<Vec<Evidence>, StoreError> {
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
