//! The service layer: the one door every interface goes through (REST, TAXII, federation and
//! the console). A service function takes a checked caller and input, asks
//! `gsomia-core` (who may act: [`gsomia_core::permit`]; what is allowed: `read`, `release`, …),
//! writes the change with its audit entry in one batch, and returns a result or a refusal
//! naming its rule. Interfaces only translate to and from their wire formats.
//!
//! The modules are the treaty's nouns: [`items`] (publish, derive, read, list, release,
//! destroy, standing release rules), [`reclassification`], [`consents`], [`incidents`],
//! [`agreements`], [`audit`], [`search`]; [`marking`] is how an item's classification is
//! written as STIX. The
//! federation inbox (`crate::federation`) and the log's exchanges (`crate::transparency`) are
//! the partner-facing doors; they use the same pieces.

pub mod agreements;
pub mod assurances;
pub mod audit;
pub mod consents;
pub mod correspondence;
pub mod facilities;
pub mod inbox;
pub mod incidents;
pub mod items;
pub mod marking;
pub mod reclassification;
pub mod registers;
pub mod search;
pub mod status;
pub mod stream;
pub mod visits;

use gsomia_core::{Action, User};
use gsomia_store::{AuditDraft, Batch, Verdict};
use serde_json::json;

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
    let rule = error.rule;
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

/// A STIX id given by a caller: 400 naming it if it is not one.
pub fn item_id(text: &str) -> Result<gsomia_core::ItemId, ApiError> {
    text.parse()
        .map_err(|e: gsomia_core::BadItemId| ApiError::bad_request(e.to_string()))
}

/// `t` signed with this node's key, as a verified statement a store write takes.
pub fn sign_own<T: gsomia_crypto::signed::SelfSigned>(
    node: &Node,
    t: T,
) -> Result<gsomia_crypto::Verified<T>, ApiError> {
    let signed = gsomia_crypto::signed::sign(&node.keys().signing, t);
    let key = node.keys().signing.verifying_key();
    gsomia_crypto::signed::verify(&key, signed).map_err(internal)
}

/// A fresh id for something this party signs and sends: `<party>-<what>-<16 hex digits>`.
pub fn fresh_id(node: &Node, what: &str) -> Result<String, ApiError> {
    let random = crate::data::random32().map_err(internal)?;
    let hex: String = random[..8].iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("{}-{what}-{hex}", node.party()))
}

/// A failure of the node's own (a store that fails, a descriptor that does not parse): logged,
/// answered with nothing that could leak.
pub fn internal(e: impl std::fmt::Display) -> ApiError {
    tracing::error!(error = %e, "internal error");
    ApiError::new(
        axum::http::StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "internal error",
    )
}

/// Checks that `level` (the request's `field`) is a level of this party's scheme: 422 if not.
pub fn own_level(node: &Node, field: &str, level: &gsomia_core::LevelId) -> Result<(), ApiError> {
    let world = node.world();
    match world
        .scheme(node.party())
        .and_then(|s| s.level(level.as_str()))
    {
        Some(_) => Ok(()),
        None => Err(ApiError::unprocessable(format!(
            "{field}: unknown level `{level}` in the scheme of {}",
            node.party()
        ))),
    }
}
