//! Consents (R4): a holder asks an item's originator for written consent to release it to a
//! third party; the originator's authority approves (a consent signed by the originator's key,
//! sent back to the holder) or refuses. A consent travels with the item to the third party,
//! which checks the signature itself.
//!
//! Standing consents (R4b): the originator's authority consents in advance, for a topic, a
//! purpose, a holder, a recipient and a period; the holder's standing release rules then pass
//! on every matching item without asking (`items::apply_release_rules`), each carrying the
//! consent. The originator revokes one from a day on: the signed revocation goes to the holder
//! and to the recipient, who refuses items carried under it from that day.

use axum::http::StatusCode;
use gsomia_core::{Action, Consent, Date, Grantee, PartyCode, Rule, Tag, User};
use gsomia_store::{Batch, Verdict, Write};
use serde_json::{Value, json};

use super::permit;
use crate::error::ApiError;
use crate::node::{Node, entry};

/// Asks the originator of an item this node holds for consent to release it to `to`.
pub async fn ask(
    node: &Node,
    user: &User,
    item: &str,
    to: PartyCode,
    until: Date,
) -> Result<Value, ApiError> {
    permit(node, user, Action::AskConsent, "consent.ask", item).await?;
    let item = &super::item_id(item)?;
    let Some(held) = node.store().item(item, None)? else {
        return Err(ApiError::not_found(format!("no item `{item}`")));
    };
    let originator = held.label.originator;
    if originator == node.party() {
        return Err(ApiError::unprocessable(
            "item: this node is its originator and needs no consent",
        ));
    }
    if node.world().scheme(to).is_none() {
        return Err(ApiError::unprocessable(format!(
            "to: unknown party `{}`",
            to
        )));
    }
    let request = gsomia_core::ConsentRequest {
        item: item.clone(),
        originator,
        holder: node.party(),
        to,
        purpose: held.label.purpose.clone(),
        until,
        asked_by: user.id.clone(),
        asked: node.now_text(),
    };
    let request = serde_json::to_value(request).map_err(super::internal)?;
    let writes = vec![Write::Enqueue {
        peer: originator,
        kind: "consent_request".into(),
        payload: request.clone(),
        at: node.now_text(),
    }];
    let draft = entry(
        node,
        &user.id,
        "consent.ask",
        item,
        Verdict::Record,
        Some(Rule::R4),
        request.clone(),
    );
    node.write(Batch {
        writes,
        audit: vec![draft],
    })
    .await?;
    Ok(json!({ "request": request }))
}

/// Consent requests from partners about this party's items, with their answers.
pub async fn requests(node: &Node, user: &User) -> Result<Value, ApiError> {
    let (action, subject) = ("consent.requests", "requests");
    permit(node, user, Action::ConsentRequests, action, subject).await?;
    let list: Vec<Value> = node
        .store()
        .consent_requests()?
        .into_iter()
        .map(|r| json!({ "id": r.id, "request": r.request, "answer": r.answer }))
        .collect();
    Ok(json!({ "requests": list }))
}

/// The originator's authority answers consent request `id`: a consent signed by this node's
/// key, or a refusal; either goes back to the holder.
pub async fn answer(node: &Node, user: &User, id: i64, approve: bool) -> Result<Value, ApiError> {
    let subject = format!("request {id}");
    permit(
        node,
        user,
        Action::AnswerConsent,
        "consent.answer",
        &subject,
    )
    .await?;
    let open = node
        .store()
        .consent_requests()?
        .into_iter()
        .find(|r| r.id == id && r.answer.is_none());
    let Some(open) = open else {
        return Err(ApiError::not_found(format!("no open consent request {id}")));
    };
    let r = &open.request;
    let (item, holder) = (r.item.clone(), r.holder);
    let answer = if approve {
        let consent = Consent {
            id: format!("{}-consent-{id}", node.party()),
            originator: node.party(),
            item: Some(item.clone()),
            topic: None,
            holder,
            to: Grantee::Party(r.to),
            purpose: r.purpose.clone(),
            given: node.today(),
            until: r.until,
            signature: None,
            revoked: None,
        };
        let consent = consent
            .check()
            .map_err(|e| ApiError::unprocessable(format!("{}: {}", e.place, e.problem)))?;
        let signed = gsomia_crypto::consent::sign_consent(&node.keys().signing, consent);
        json!({ "approved": true, "consent": signed })
    } else {
        json!({ "approved": false, "request": r })
    };
    let kind = if approve {
        "consent"
    } else {
        "consent_refused"
    };
    let writes = vec![
        Write::AnswerConsentRequest {
            id,
            answer: answer.clone(),
        },
        Write::Enqueue {
            peer: holder,
            kind: kind.into(),
            payload: answer.clone(),
            at: node.now_text(),
        },
    ];
    let decision = if approve {
        Verdict::Allow
    } else {
        Verdict::Deny
    };
    let draft = entry(
        node,
        &user.id,
        "consent.answer",
        &item,
        decision,
        Some(Rule::R4),
        answer.clone(),
    );
    node.write(Batch {
        writes,
        audit: vec![draft],
    })
    .await?;
    Ok(answer)
}

/// The consents this node holds, each verified by its originator's signature (R4), for
/// authorities and security officers: they name items and parties.
pub async fn held(node: &Node, user: &User) -> Result<Value, ApiError> {
    permit(
        node,
        user,
        Action::ConsentRequests,
        "consent.list",
        "consents",
    )
    .await?;
    Ok(json!({ "consents": node.world().consents() }))
}

/// What a standing consent is for (R4b).
pub struct Standing {
    /// The holder that may pass items on.
    pub holder: PartyCode,
    /// To whom.
    pub to: PartyCode,
    /// The topic: every item of this party's whose topics include it.
    pub topic: Tag,
    /// The items' purpose.
    pub purpose: Tag,
    /// The last day; it stands from today.
    pub until: Date,
}

/// The originator's authority gives a standing consent (R4b): signed by this node's key, kept
/// (so that it can be revoked), and sent to the holder.
pub async fn give_standing(node: &Node, user: &User, s: Standing) -> Result<Value, ApiError> {
    let subject = format!("topic:{}", s.topic);
    permit(
        node,
        user,
        Action::AnswerConsent,
        "consent.standing",
        &subject,
    )
    .await?;
    for (place, p) in [("holder", s.holder), ("to", s.to)] {
        if node.world().scheme(p).is_none() {
            return Err(ApiError::unprocessable(format!(
                "{place}: unknown party `{p}`"
            )));
        }
    }
    let consent = Consent {
        id: super::fresh_id(node, "standing")?,
        originator: node.party(),
        item: None,
        topic: Some(s.topic),
        holder: s.holder,
        to: Grantee::Party(s.to),
        purpose: s.purpose,
        given: node.today(),
        until: s.until,
        signature: None,
        revoked: None,
    }
    .check()
    .map_err(|e| ApiError::unprocessable(format!("{}: {}", e.place, e.problem)))?;
    let signed = gsomia_crypto::consent::sign_consent(&node.keys().signing, consent);
    send_own(node, user, "consent.standing", signed, &[s.holder]).await
}

/// The originator's authority revokes consent `id` of this party's from day `from` (today if
/// absent; never a day past, since what was released under it stands): the revocation, signed,
/// is kept and sent to the holder, and for a standing consent to the recipient too (R4b).
pub async fn revoke(
    node: &Node,
    user: &User,
    id: &str,
    from: Option<Date>,
) -> Result<Value, ApiError> {
    permit(node, user, Action::AnswerConsent, "consent.revoke", id).await?;
    let world = node.world();
    let Some(held) = world.consent(id).filter(|c| c.originator == node.party()) else {
        return Err(ApiError::not_found(format!(
            "no consent `{id}` given by {}",
            node.party()
        )));
    };
    if let Some(r) = &held.revoked {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            format!("consent `{id}` is revoked already, from {}", r.from),
        ));
    }
    let today = node.today();
    let from = from.unwrap_or(today);
    if from < today {
        return Err(ApiError::unprocessable(format!(
            "from: {from} is past: a revocation takes effect from today ({today}) on"
        )));
    }
    let revoked = gsomia_crypto::consent::sign_revocation(&node.keys().signing, held.clone(), from)
        .check()
        .map_err(|e| ApiError::unprocessable(format!("{}: {}", e.place, e.problem)))?;
    let mut to = vec![revoked.holder];
    if let (true, Grantee::Party(p)) = (revoked.is_standing(), revoked.to) {
        to.push(p);
    }
    send_own(node, user, "consent.revoke", revoked, &to).await
}

/// Keeps a consent this node signed (new, or revoked when one of that id is kept) and sends
/// it to `to`, audited as `action`.
async fn send_own(
    node: &Node,
    user: &User,
    action: &str,
    consent: Consent,
    to: &[PartyCode],
) -> Result<Value, ApiError> {
    let key = node.keys().signing.verifying_key();
    let verified = gsomia_crypto::verify_consent(&key, consent).map_err(super::internal)?;
    let payload = json!({ "approved": true, "consent": *verified });
    let mut writes: Vec<Write> = to
        .iter()
        .map(|&peer| Write::Enqueue {
            peer,
            kind: "consent".into(),
            payload: payload.clone(),
            at: node.now_text(),
        })
        .collect();
    let rule = match verified.is_standing() {
        true => Rule::R4b,
        false => Rule::R4,
    };
    let subject = verified.subject();
    let detail = json!({ "consent": *verified, "sent_to": to });
    writes.insert(
        0,
        match verified.revoked.is_some() {
            true => Write::RevokeConsent(verified),
            false => Write::PutConsent(verified),
        },
    );
    let draft = entry(
        node,
        &user.id,
        action,
        &subject,
        Verdict::Allow,
        Some(rule),
        detail,
    );
    node.write(Batch {
        writes,
        audit: vec![draft],
    })
    .await?;
    Ok(payload)
}
