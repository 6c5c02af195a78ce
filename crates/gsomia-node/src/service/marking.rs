//! How a node writes an item's classification as STIX 2.1: a `marking-definition` with the
//! gsomia property-extension ([`EXTENSION`], `docs/stix/`), whose properties are the
//! originator's label, plus `holder` (this party's level) on a partner's item. Every object a
//! node serves names one, so that every object carries its classification on every interface.
//! Markings are written when an item or its label is stored, never when it is read.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use gsomia_core::Label;
use gsomia_store::{StoredItem, Write};

/// The gsomia marking extension's id (`docs/stix/gsomia-marking-extension.json`).
pub const EXTENSION: &str = "extension-definition--420947b7-41ca-42a7-ba55-53cdc95fd69f";

/// A UUID (version 4 layout) made from a hash, so that it is stable.
pub fn uuid_from(text: &str) -> String {
    let h = Sha256::digest(text.as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&h[..16]);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let x = gsomia_crypto::hex(&b);
    format!(
        "{}-{}-{}-{}-{}",
        &x[..8],
        &x[8..12],
        &x[12..16],
        &x[16..20],
        &x[20..]
    )
}

/// Adds `id` to an object's `object_marking_refs`, once.
pub fn add_ref(object: &mut Value, id: &str) {
    if let Some(o) = object.as_object_mut() {
        let refs = o
            .entry("object_marking_refs")
            .or_insert_with(|| Value::Array(vec![]));
        if let Some(a) = refs.as_array_mut()
            && !a.iter().any(|r| r == id)
        {
            a.push(Value::String(id.to_owned()));
        }
    }
}

/// This node's marking of a stored item as a STIX marking-definition: the originator's label in
/// the gsomia extension, plus `holder` (this party's level) on a partner's item. Every object
/// this node serves names it, so that every object carries its classification, on every
/// interface. It is stored when the item or its label is stored, never when it is read. `id` is
/// its [`marking_id`], which the caller has made.
fn marking(s: &StoredItem, id: &str) -> Value {
    let mut ext = serde_json::to_value(&s.label).unwrap_or(Value::Null);
    let name = match &s.marking {
        Some(m) => {
            if let Some(o) = ext.as_object_mut() {
                o.insert(
                    "holder".into(),
                    json!({ "party": m.party, "level": m.level }),
                );
            }
            format!(
                "{} {} (originator {} {})",
                m.party, m.level, s.label.originator, s.label.level
            )
        }
        None => format!("{} {}", s.label.originator, s.label.level),
    };
    if let Some(o) = ext.as_object_mut() {
        o.insert("extension_type".into(), "property-extension".into());
    }
    json!({
        "type": "marking-definition", "spec_version": "2.1",
        "id": id, "created": s.added, "name": name,
        "extensions": { EXTENSION: ext },
    })
}

/// The id of [`marking`]: one per item version and holder. A marking-definition is not
/// versioned; when the originator reclassifies, the definition under this id says the new level
/// (it is the item's classification, which changed).
pub fn marking_id(s: &StoredItem) -> String {
    let holder = s.marking.as_ref().map_or(s.label.originator, |m| m.party);
    marking_id_of(&s.id, &s.modified, holder)
}

/// [`marking_id`] of version `version` of item `id` as `holder` marks it.
pub fn marking_id_of(id: &str, version: &str, holder: gsomia_core::PartyCode) -> String {
    let key = format!("gsomia-marking\n{id}\n{version}\n{holder}");
    format!("marking-definition--{}", uuid_from(&key))
}

/// Names this node's marking in an object it publishes itself (through the JSON API), so that
/// the object carries its classification on every interface; it is added before the binding
/// is signed. (TAXII clients post objects that name their own gsomia marking.)
pub fn name_own(node: &crate::node::Node, object: &mut Value) {
    if let Some(id) = object["id"].as_str() {
        let ours = marking_id_of(id, gsomia_core::version_of(object), node.party());
        add_ref(object, &ours);
    }
}

/// The write that keeps [`marking`] for `s`, so that it can be served by id.
pub fn write(s: &StoredItem) -> Write {
    write_as(s, &marking_id(s))
}

/// [`write`] of [`marking`] under its id `id` (= [`marking_id`] of `s`), for a caller that has
/// it: the id is a hash, made once.
pub fn write_as(s: &StoredItem, id: &str) -> Write {
    keep_posted(id, &marking(s, id))
}

/// A marking-definition a client posted (TAXII), kept under its id, if one is.
pub fn posted(
    node: &crate::node::Node,
    id: &str,
) -> Result<Option<Value>, gsomia_store::StoreError> {
    match node.store().meta(&format!("taxii.marking.{id}"))? {
        Some(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| gsomia_store::StoreError::Corrupt(e.to_string())),
        None => Ok(None),
    }
}

/// The write that keeps a posted marking-definition under its id.
pub fn keep_posted(id: &str, marking: &Value) -> Write {
    Write::SetMeta {
        key: format!("taxii.marking.{id}"),
        value: marking.to_string(),
    }
}

/// The gsomia label a marking-definition carries, if it carries one.
pub fn label_of(marking: &Value) -> Option<Result<Label, String>> {
    let ext = marking.get("extensions")?.get(EXTENSION)?;
    let mut props = ext.as_object()?.clone();
    props.remove("extension_type");
    props.remove("holder");
    Some(serde_json::from_value(Value::Object(props)).map_err(|e| {
        format!(
            "the gsomia marking `{}` is not a label: {e}",
            marking["id"].as_str().unwrap_or("?")
        )
    }))
}

/// A marking-definition this node keeps under `id`, if `user` may see it: one that carries a
/// gsomia label only to a user who may read under that label, at the holder's level where it
/// names one (H8: its id is computable, and it tells the item's level, topics and purpose);
/// others (TLP, statements) to anyone.
pub fn readable(
    node: &crate::node::Node,
    user: &gsomia_core::User,
    id: &str,
) -> Result<Option<Value>, gsomia_store::StoreError> {
    use serde::Deserialize;
    let Some(marking) = posted(node, id)? else {
        return Ok(None);
    };
    let label = match label_of(&marking) {
        None => return Ok(Some(marking)),
        Some(Err(_)) => return Ok(None),
        Some(Ok(label)) => label,
    };
    let holder = &marking["extensions"][EXTENSION]["holder"];
    let held = match (
        gsomia_core::PartyCode::deserialize(&holder["party"]),
        gsomia_core::LevelId::deserialize(&holder["level"]),
    ) {
        (Ok(party), Ok(level)) => Some(gsomia_core::Marking {
            party,
            level,
            originator: label.originator,
        }),
        _ => None,
    };
    let world = node.world();
    let decision = gsomia_core::read_label(&world, "", &label, held.as_ref(), user, node.today());
    Ok(decision.is_allow().then_some(marking))
}
