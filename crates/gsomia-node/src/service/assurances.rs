//! Assurances (S1): a party's authority assures a partner, under an agreement, that its
//! recipient (here, the node) holds the clearance for a level, needs the items for an official
//! purpose and will protect them as the agreement says. Signed by the giver's key, kept by the
//! giver and sent to the partner, which keeps it once it verifies; where an agreement's terms
//! ask for one, release is refused without it (`gsomia_core::release`, S1).

use gsomia_core::{Action, Assurance, Date, LevelId, PartyCode, Rule, User};
use gsomia_store::{Batch, Verdict, Write};
use serde_json::{Value, json};

use super::permit;
use crate::error::ApiError;
use crate::node::{Node, entry};

/// An assurance as an authority asks for it.
pub struct Giving {
    /// The partner that will provide items.
    pub to: PartyCode,
    /// The agreement.
    pub agreement: String,
    /// The representative or facility that will receive; the node if absent.
    pub recipient: Option<String>,
    /// The highest level, in this party's scheme, the recipient is cleared for.
    pub level: LevelId,
    /// The official purpose.
    pub purpose: String,
    /// The last day; it stands from today.
    pub until: Date,
}

/// This party's authority gives `g.to` an assurance: checked, signed, kept and sent.
pub async fn give(node: &Node, user: &User, g: Giving) -> Result<Value, ApiError> {
    let action = "assurance.give";
    permit(node, user, Action::Assure, action, &g.agreement).await?;
    let me = node.party();
    let world = node.world();
    let agreement = world
        .agreement(&g.agreement)
        .filter(|a| a.names(me) && a.names(g.to) && g.to != me)
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "no agreement `{}` between {me} and {}",
                g.agreement, g.to
            ))
        })?;
    super::own_level(node, "level", &g.level)?;
    let assurance = Assurance {
        id: super::fresh_id(node, "assurance")?,
        by: me,
        to: g.to,
        agreement: agreement.id().clone(),
        recipient: g.recipient.unwrap_or_else(|| format!("the {me} node")),
        level: g.level,
        purpose: g.purpose,
        given: node.today(),
        until: g.until,
        signature: None,
    }
    .check()
    .map_err(|e| ApiError::unprocessable(format!("{}: {}", e.place, e.problem)))?;
    let verified = super::sign_own(node, assurance)?;
    let payload = json!({ "assurance": *verified });
    let draft = entry(
        node,
        &user.id,
        action,
        &verified.id,
        Verdict::Allow,
        Some(Rule::S1),
        payload.clone(),
    );
    let writes = vec![
        Write::Enqueue {
            peer: verified.to,
            kind: "assurance".into(),
            payload: payload.clone(),
            at: node.now_text(),
        },
        Write::PutAssurance(verified),
    ];
    node.write(Batch {
        writes,
        audit: vec![draft],
    })
    .await?;
    Ok(payload)
}

/// The assurances this node holds, given and received, each verified (officers).
pub async fn list(node: &Node, user: &User) -> Result<Value, ApiError> {
    permit(
        node,
        user,
        Action::Correspondence,
        "assurance.list",
        "assurances",
    )
    .await?;
    Ok(json!({ "assurances": node.world().assurances() }))
}
