//! The one writer thread: batches committed in groups, each under a savepoint.

use super::*;

/// A batch with its JSON made by the submitting thread, so that the one writer thread only runs
/// SQL and chains hashes.
pub(super) struct Job {
    batch: Batch,
    /// For each `PutItem` write, in order: label, marking and custody as JSON.
    items: Vec<(String, Option<String>, String)>,
    /// For each `PutItem` write, in order: its tags and when it was added (µs).
    tags: Vec<(Vec<String>, i64)>,
    /// The canonical body of each audit draft.
    bodies: Vec<String>,
    pub(super) done: Done,
}

impl crate::writer::Answer for Job {
    fn answer(self, result: Result<Committed, StoreError>) {
        (self.done)(result);
    }
}

impl Job {
    pub(super) fn new(batch: Batch, done: Done) -> Job {
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

pub(super) fn run_writer(
    mut conn: Connection,
    jobs: Receiver<Job>,
    mut head: Head,
    version: i64,
    stats: &Stats,
) {
    // The data version this writer's head is up to date with; `None` forces a reload.
    let mut version = Some(version);
    while let Ok(first) = jobs.recv() {
        let group = group(&jobs, first);
        let before = head.clone();
        let started = std::time::Instant::now();
        match commit_group(&mut conn, &group, &mut head, &mut version) {
            Ok(results) => {
                stats.committed(group.len(), started);
                crate::writer::answer(group, results);
            }
            Err(e) => {
                // The transaction failed as a whole (disk full, I/O error): nothing is stored.
                head = before;
                version = None;
                crate::writer::fail(group, &e);
            }
        }
    }
    let _ = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);");
}

pub(super) fn commit_group(
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

pub(super) fn apply(tx: &Transaction, job: &Job, head: &mut Head) -> Result<Committed, StoreError> {
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
                        i.id.as_str(), i.modified, i.stix_type, label, marking, custody, i.binding, i.wrapped_key,
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
                        s.execute(params![id.as_str(), json(label), binding, marking.as_ref().map(json), json(custody)])
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
                    .and_then(|mut s| s.execute(params![id.as_str(), modified, at]))
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
                    s.execute(params![
                        incident.item.as_str(),
                        json(incident),
                        incident.follows
                    ])
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
                .and_then(|mut s| s.execute(params![peer.as_str(), *through as i64, at]))
                .map_err(db)?;
            }
            Write::PutReceipt(signed) => {
                let r = &signed.receipt;
                tx.prepare_cached(
                    "INSERT OR REPLACE INTO receipts (item, version, party, receipt) VALUES (?1, ?2, ?3, ?4)",
                )
                .and_then(|mut s| {
                    s.execute(params![r.item.as_str(), r.version, r.party.as_str(), json(&**signed)])
                })
                .map_err(db)?;
            }
            Write::Received {
                peer,
                through,
                envelope,
                reply,
            } => {
                tx.prepare_cached("INSERT OR REPLACE INTO inbox (peer, last_seq) VALUES (?1, ?2)")
                    .and_then(|mut s| s.execute(params![peer.as_str(), *through as i64]))
                    .map_err(db)?;
                tx.prepare_cached(
                    "INSERT OR REPLACE INTO replies (peer, envelope, reply) VALUES (?1, ?2, ?3)",
                )
                .and_then(|mut s| s.execute(params![peer.as_str(), envelope, reply.to_string()]))
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
            Write::PutFacility(facility) => {
                tx.prepare_cached(
                    "INSERT INTO facilities (id, facility) VALUES (?1, ?2)
                     ON CONFLICT (id) DO UPDATE SET facility = excluded.facility",
                )
                .and_then(|mut s| s.execute(params![facility.id, json(facility)]))
                .map_err(db)?;
            }
            Write::PutAssurance(assurance) => {
                let assurance: &gsomia_core::Assurance = assurance;
                tx.prepare_cached(
                    "INSERT INTO assurances (id, assurance) VALUES (?1, ?2)
                     ON CONFLICT (id) DO NOTHING",
                )
                .and_then(|mut s| s.execute(params![assurance.id, json(assurance)]))
                .map_err(db)?;
            }
            Write::PutLetter(letter) => {
                let letter: &gsomia_core::Letter = letter;
                tx.prepare_cached(
                    "INSERT INTO letters (id, agreement, letter) VALUES (?1, ?2, ?3)
                     ON CONFLICT (id) DO NOTHING",
                )
                .and_then(|mut s| {
                    s.execute(params![letter.id, letter.agreement.as_str(), json(letter)])
                })
                .map_err(db)?;
            }
            Write::RevokeConsent(consent) => {
                let consent: &gsomia_core::Consent = consent;
                tx.prepare_cached("UPDATE consents SET consent = ?2 WHERE id = ?1")
                    .and_then(|mut s| s.execute(params![consent.id, json(consent)]))
                    .map_err(db)?;
            }
            Write::AddConsentRequest(request) => {
                tx.prepare_cached("INSERT INTO consent_requests (request) VALUES (?1)")
                    .and_then(|mut s| s.execute(params![json(request)]))
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
                .and_then(|mut s| s.execute(params![peer.as_str(), kind, payload.to_string(), at]))
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
                .and_then(|mut s| s.execute(params![party.as_str(), *size as i64, note, at]))
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
                .and_then(|mut s| s.execute(params![*size as i64, witness.as_str(), line]))
                .map_err(db)?;
            }
            Write::AddEvidence(e) => {
                tx.prepare_cached(
                    "INSERT INTO evidence (party, found, record) VALUES (?1, ?2, ?3)",
                )
                .and_then(|mut s| s.execute(params![e.party.as_str(), e.found, json(&**e)]))
                .map_err(db)?;
            }
        }
    }
    if job.batch.writes.iter().any(Write::changes_world) {
        tx.prepare_cached(
            "INSERT INTO meta (key, value) VALUES (?1, '1') ON CONFLICT (key)
             DO UPDATE SET value = CAST(value AS INTEGER) + 1",
        )
        .and_then(|mut s| s.execute([crate::WORLD_VERSION]))
        .map_err(db)?;
    }
    for (body, draft) in job.bodies.iter().zip(&job.batch.audit) {
        let (entry, hashes) = head.append(body.clone());
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
        for (i, h) in hashes {
            tx.prepare_cached("INSERT INTO merkle (idx, hash) VALUES (?1, ?2)")
                .and_then(|mut s| s.execute(params![i as i64, &h.0[..]]))
                .map_err(db)?;
        }
        committed.audit.push(entry.seq);
    }
    Ok(committed)
}
