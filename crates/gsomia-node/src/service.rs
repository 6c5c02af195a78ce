//! The service layer: the one door every interface goes through (REST, TAXII, federation, and
//! the console to come). A service function takes a checked caller and input, asks
//! `gsomia-core` (who may act: [`gsomia_core::permit`]; what is allowed: `read`, `release`, …),
//! writes the change with its audit entry in one batch, and returns a result or a refusal
//! naming its rule. Interfaces only translate to and from their wire formats.
//!
//! Moving every action here is under way (see ARCHITECTURE.md): role checks, reads of one
//! item, and destruction live here today.

use gsomia_core::{Action, Decision, Item, Rule, User};
use gsomia_store::{AuditDraft, Batch, Store, StoredItem, Verdict, Write};
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::node::{Node, entry};

/// Writes a refusal's audit entry; the refusal, or the write's failure.
pub async fn audited(node: &Node, error: ApiError, draft: AuditDraft) -> ApiError {
    match node
        .write(Batch {
            writes: vec![],
            audit: vec![draft],
        })
        .await
    {
        Ok(_) => error,
        Err(e) => e,
    }
}

/// Records a refusal of `user`'s `action` on `subject` and answers it.
pub async fn refuse(
    node: &Node,
    user: &User,
    action: &str,
    subject: &str,
    error: ApiError,
) -> ApiError {
    let rule = error.rule.and_then(Rule::from_id);
    let draft = entry(
        node,
        &user.id,
        action,
        subject,
        Verdict::Deny,
        rule,
        json!({ "message": error.message }),
    );
    audited(node, error, draft).await
}

/// May `user` take `action` (the policy table of `gsomia_core::policy`)? A refusal is audited
/// under `name` and `subject`, naming its rule. Asked before anything is looked up, so that a
/// refusal says nothing about whether `subject` exists (H8).
pub async fn permit(
    node: &Node,
    user: &User,
    action: Action,
    name: &str,
    subject: &str,
) -> Result<(), ApiError> {
    match gsomia_core::permit(user, action) {
        Ok(()) => Ok(()),
        Err(r) => Err(refuse(node, user, name, subject, ApiError::refused(&r)).await),
    }
}

/// An item version `user` may read, with the marking it is read under, decided on the label
/// before anything is decrypted. A missing item and one the caller may not read get the same
/// answer (404), after the same work (one audit entry each), so that neither the answer nor
/// its time tells them apart (H8); the audit entry names the real rule for the officers.
pub async fn readable(
    node: &Node,
    user: &User,
    action: &str,
    id: &str,
    version: Option<&str>,
) -> Result<(StoredItem, gsomia_core::Marking), ApiError> {
    let missing = || ApiError::not_found(format!("no item `{id}`"));
    let stored = node.store().item(id, version)?;
    let decision = stored.as_ref().map(|s| {
        gsomia_core::read_label(
            &node.world(),
            &s.id,
            &s.label,
            s.marking.as_ref(),
            user,
            node.today(),
        )
    });
    match (stored, decision) {
        (Some(s), Some(Decision::Allow(access))) => Ok((s, access.marking)),
        (_, Some(Decision::Deny(r))) => {
            let draft = entry(
                node,
                &user.id,
                action,
                id,
                Verdict::Deny,
                Some(r.rule),
                json!({ "message": r.message }),
            );
            Err(audited(node, missing(), draft).await)
        }
        _ => {
            let draft = entry(
                node,
                &user.id,
                action,
                id,
                Verdict::Deny,
                None,
                json!({ "message": "no such item" }),
            );
            Err(audited(node, missing(), draft).await)
        }
    }
}

/// Reads one item for `user` (P1, P2, M2, H8): the stored version, the item decrypted, and the
/// marking it is read under; the read is audited.
pub async fn read(
    node: &Node,
    user: &User,
    id: &str,
    version: Option<&str>,
    via: &str,
) -> Result<(StoredItem, Item, gsomia_core::Marking), ApiError> {
    let action = "item.read";
    let (stored, marking) = readable(node, user, action, id, version).await?;
    let Some(item) = crate::api::unseal(node, &stored)? else {
        let e = ApiError {
            status: axum::http::StatusCode::GONE,
            code: "destroyed",
            message: format!(
                "item `{id}` was destroyed on {}",
                stored.destroyed.clone().unwrap_or_default()
            ),
            rule: Some("P5"),
        };
        return Err(refuse(node, user, action, id, e).await);
    };
    let draft = entry(
        node,
        &user.id,
        action,
        id,
        Verdict::Allow,
        None,
        json!({ "version": stored.modified, "via": via }),
    );
    node.write(Batch {
        writes: vec![],
        audit: vec![draft],
    })
    .await?;
    Ok((stored, item, marking))
}

/// Destroys item versions (P5), for an officer who may read them: their keys and content are
/// deleted (crypto-shredding), a signed destruction certificate for each is kept in the audit
/// log and, where the agreement it came under says so, sent to the originator. REST and TAXII
/// DELETE both come here. The certificates, in order.
pub async fn destroy(
    node: &Node,
    user: &User,
    versions: &[StoredItem],
    reason: &str,
    via: &str,
) -> Result<Vec<Value>, ApiError> {
    let action = "item.destroy";
    let world = node.world();
    let mut writes = vec![];
    let mut audit = vec![];
    let mut out = vec![];
    for stored in versions {
        let id = &stored.id;
        let at = node.now_text();
        let certificate = json!({
            "item": id, "version": stored.modified, "originator": stored.label.originator,
            "holder": node.party(), "destroyed": at, "by": user.id, "reason": reason,
        });
        let signature =
            gsomia_crypto::statement::sign(&node.keys().signing, "destruction", &certificate);
        writes.push(Write::DestroyItem {
            id: id.clone(),
            modified: stored.modified.clone(),
            at,
        });
        let report = stored.label.originator != node.party()
            && stored
                .custody
                .last()
                .and_then(|hop| world.agreement(hop.agreement.as_str()))
                .is_some_and(|a| a.terms().report_destruction);
        if report {
            writes.push(Write::Enqueue {
                peer: stored.label.originator.to_string(),
                kind: "destruction".into(),
                payload: json!({ "certificate": certificate, "signature": signature }),
                at: node.now_text(),
            });
        }
        let detail = json!({ "certificate": certificate, "signature": signature, "reported": report, "via": via });
        audit.push(entry(
            node,
            &user.id,
            action,
            id,
            Verdict::Allow,
            Some(Rule::P5),
            detail,
        ));
        out.push(json!({ "certificate": certificate, "signature": signature, "reported_to_originator": report }));
    }
    node.write(Batch { writes, audit }).await?;
    Ok(out)
}
