//! Reclassification (M4), at the originator: an authority cleared for both levels sets a new
//! level; the node re-signs the label's binding with the next revision, applies it to its own
//! copies and sends it to every party it released the item to, which apply it and pass it on
//! (`crate::federation`).

use gsomia_core::{Action, LevelId, Rule, User};
use gsomia_store::{Batch, Verdict, Write};
use serde_json::{Value, json};

use super::{internal, permit, refuse};
use crate::error::ApiError;
use crate::node::{Node, entry};

/// The originator's authority reclassifies one of its items: what changed and who was told.
pub async fn reclassify(
    node: &Node,
    user: &User,
    id: &str,
    level: LevelId,
) -> Result<Value, ApiError> {
    let action = "item.reclassify";
    permit(node, user, Action::Reclassify, action, id).await?;
    let id = &super::item_id(id)?;
    let Some(stored) = node.store().item(id, None)? else {
        return Err(ApiError::not_found(format!("no item `{id}`")));
    };
    if stored.label.originator != node.party() {
        let e = ApiError::forbidden(
            gsomia_core::Rule::M4,
            format!(
                "only the originator, {}, changes the classification; nobody downgrades on their own",
                stored.label.originator
            ),
        );
        return Err(refuse(node, user, action, id, e).await);
    }
    super::own_level(node, "level", &level)?;
    let world = node.world();
    // M4: the officer is cleared for both the old and the new level.
    if let Err(r) =
        gsomia_core::reclassification::may_reclassify(&world, user, &stored.label.level, &level)
    {
        return Err(refuse(node, user, action, id, ApiError::refused(&r)).await);
    }
    let object = super::items::unseal_object(node, &stored)?.ok_or_else(|| {
        ApiError::forbidden(gsomia_core::Rule::P5, format!("item `{id}` was destroyed"))
    })?;
    let mut label = stored.label.clone();
    let before = label.level.clone();
    label.level = level;
    // A newer notice than any a holder has: holders apply only a newer one (M4).
    label.revision += 1;
    let binding = gsomia_crypto::sign_binding(&node.keys().signing, &label, &object)
        .map_err(internal)?
        .to_base64();
    let payload = json!({ "id": id, "label": label, "binding": binding });
    let relabelled = gsomia_store::StoredItem {
        label: label.clone(),
        ..stored
    };
    let mut writes = vec![
        super::marking::write(&relabelled),
        Write::Reclassify {
            id: id.clone(),
            label: Box::new(label.clone()),
            binding,
            marking: None,
            custody: vec![],
        },
    ];
    let holders = super::items::released_to(node, id)?;
    for p in &holders {
        writes.push(Write::Enqueue {
            peer: *p,
            kind: "reclassification".into(),
            payload: payload.clone(),
            at: node.now_text(),
        });
    }
    let detail = json!({ "from": before, "to": label.level, "sent_to": holders });
    let draft = entry(
        node,
        &user.id,
        action,
        id,
        Verdict::Allow,
        Some(Rule::M4),
        detail.clone(),
    );
    node.write(Batch {
        writes,
        audit: vec![draft],
    })
    .await?;
    Ok(detail)
}
