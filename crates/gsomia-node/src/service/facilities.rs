//! Contractor facilities (C1): registered by an officer with their facility clearance and
//! responsible person, then inspected (the initial inspection, then periodic ones). The read
//! decision asks for them (`gsomia_core::read`): a contractor reads a partner's item only at a
//! cleared facility inspected recently enough.

use gsomia_core::{Action, Date, Facility, LevelId, Rule, User};
use gsomia_store::{Batch, Verdict, Write};
use serde_json::{Value, json};

use super::permit;
use crate::error::ApiError;
use crate::node::{Node, entry};

/// Registers facility `id` (or changes its name, clearance or responsible person, keeping its
/// inspections), by an officer.
pub async fn register(
    node: &Node,
    user: &User,
    id: String,
    name: String,
    clearance: LevelId,
    responsible: String,
) -> Result<Value, ApiError> {
    let action = "facility.register";
    permit(node, user, Action::Facilities, action, &id).await?;
    super::own_level(node, "clearance", &clearance)?;
    let inspections = node
        .world()
        .facility(&id)
        .map(|f| f.inspections.clone())
        .unwrap_or_default();
    let facility = Facility {
        id,
        name,
        party: node.party(),
        clearance,
        responsible,
        inspections,
    };
    keep(node, user, action, facility).await
}

/// Records an inspection of facility `id` on `on` (today if absent; not a day to come, not
/// before the last one), by an officer.
pub async fn inspect(
    node: &Node,
    user: &User,
    id: &str,
    on: Option<Date>,
) -> Result<Value, ApiError> {
    let action = "facility.inspect";
    permit(node, user, Action::Facilities, action, id).await?;
    let mut facility = node
        .world()
        .facility(id)
        .cloned()
        .ok_or_else(|| ApiError::not_found(format!("no facility `{id}`")))?;
    let on = on.unwrap_or_else(|| node.today());
    if on > node.today() {
        return Err(ApiError::unprocessable(format!(
            "on: {on} is to come: an inspection is recorded once it took place"
        )));
    }
    facility.inspections.push(on);
    keep(node, user, action, facility).await
}

async fn keep(node: &Node, user: &User, action: &str, f: Facility) -> Result<Value, ApiError> {
    let f = f
        .check()
        .map_err(|e| ApiError::unprocessable(format!("{}: {}", e.place, e.problem)))?;
    let draft = entry(
        node,
        &user.id,
        action,
        &f.id,
        Verdict::Allow,
        Some(Rule::C1),
        json!({ "facility": f }),
    );
    let answer = json!({ "facility": f });
    node.write(Batch {
        writes: vec![Write::PutFacility(f)],
        audit: vec![draft],
    })
    .await?;
    Ok(answer)
}

/// The node's contractor facilities (officers).
pub async fn list(node: &Node, user: &User) -> Result<Value, ApiError> {
    permit(
        node,
        user,
        Action::Facilities,
        "facility.list",
        "facilities",
    )
    .await?;
    Ok(json!({ "facilities": node.store().facilities()? }))
}
