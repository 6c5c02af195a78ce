//! Consents (R4): a holder asks an item's originator for written consent to release it to a
//! third party; the originator's authority approves (a consent signed by the originator's key,
//! sent back to the holder) or refuses. A consent travels with the item to the third party,
//! which checks the signature itself.

use gsomia_core::{Action, Consent, Date, Grantee, PartyCode, Rule, User};
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
            item: item.clone(),
            holder,
            to: Grantee::Party(r.to),
            purpose: r.purpose.clone(),
            given: node.today(),
            until: r.until,
            signature: None,
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
