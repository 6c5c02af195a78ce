//! Registers (G1): on a day, the register of this party's cleared and authorised people, and
//! the inventory of the items it holds from each partner, signed by this node's key.
//!
//! A register is a table (`columns`, `rows` of text) in a signed JSON document; its CSV form is
//! the same table, signed on its own (the signature over the CSV text). A person's `facility`
//! is their contractor facility (C1), or the party's code for the node itself.

use std::collections::BTreeMap;

use gsomia_core::{Action, Date, Rule, User};
use gsomia_store::Verdict;
use serde_json::{Value, json};

use super::{internal, permit};
use crate::error::ApiError;
use crate::node::{Node, entry};

/// Which register.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Register {
    /// Cleared and authorised people.
    People,
    /// Items held from each partner.
    Holdings,
}

impl Register {
    /// `people` or `holdings`.
    pub fn name(self) -> &'static str {
        match self {
            Register::People => "people",
            Register::Holdings => "holdings",
        }
    }

    /// The register named `name`, if there is one.
    pub fn named(name: &str) -> Option<Register> {
        [Register::People, Register::Holdings]
            .into_iter()
            .find(|r| r.name() == name)
    }
}

const PEOPLE: [&str; 8] = [
    "facility",
    "id",
    "name",
    "kind",
    "roles",
    "clearance",
    "duties",
    "token_expires",
];
const HOLDINGS: [&str; 10] = [
    "partner",
    "item",
    "version",
    "level",
    "held_level",
    "agreement",
    "received_from",
    "received",
    "copies",
    "derived",
];

/// The register `which` as it stood at the end of day `at`: the signed JSON document.
pub fn make(node: &Node, which: Register, at: Date) -> Result<Value, ApiError> {
    let day = at.to_string();
    let (columns, rows) = match which {
        Register::People => (&PEOPLE[..], people(node, &day)?),
        Register::Holdings => (&HOLDINGS[..], holdings(node, &day)?),
    };
    let doc = json!({
        "register": which.name(), "party": node.party(), "at": day, "made": node.now_text(),
        "columns": columns, "rows": rows,
    });
    let signature = gsomia_crypto::statement::sign(&node.keys().signing, "register", &doc);
    let mut doc = doc;
    doc["signature"] = signature.into();
    Ok(doc)
}

/// The register's CSV text (a header line, then a line a row) and its signature.
pub fn csv(node: &Node, doc: &Value) -> (String, String) {
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let cells: Vec<String> = cells.map(csv_field).collect();
        cells.join(",") + "\r\n"
    };
    let mut text = String::new();
    let columns = doc["columns"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    text += &line(&mut columns.iter().map(|c| c.as_str().unwrap_or("")));
    for row in doc["rows"].as_array().into_iter().flatten() {
        let cells = row.as_array().map(Vec::as_slice).unwrap_or(&[]);
        text += &line(&mut cells.iter().map(|c| c.as_str().unwrap_or("")));
    }
    let signature =
        gsomia_crypto::statement::sign(&node.keys().signing, "register-csv", &text.clone().into());
    (text, signature)
}

/// A CSV field (RFC 4180): quoted when it holds a comma, a quote or a line break.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

/// Made for a user through the API: officers only (G1), audited.
pub async fn make_for(
    node: &Node,
    user: &User,
    which: Register,
    at: Date,
) -> Result<Value, ApiError> {
    let action = "register.make";
    permit(node, user, Action::Registers, action, which.name()).await?;
    let doc = make(node, which, at)?;
    let rows = doc["rows"].as_array().map_or(0, Vec::len);
    let draft = entry(
        node,
        &user.id,
        action,
        which.name(),
        Verdict::Allow,
        Some(Rule::G1),
        json!({ "at": doc["at"], "rows": rows }),
    );
    node.write(gsomia_store::Batch {
        writes: vec![],
        audit: vec![draft],
    })
    .await?;
    Ok(doc)
}

/// Users enabled, whose token still works at the end of `day`.
fn people(node: &Node, day: &str) -> Result<Vec<Vec<String>>, ApiError> {
    let mut rows = vec![];
    for r in node.store().users()? {
        let current = r.expires.as_deref().is_none_or(|e| e >= day);
        if r.disabled || !current {
            continue;
        }
        let u = &r.user;
        let words = |v: Vec<String>| v.join(" ");
        let roles = serde_json::to_value(&u.roles).map_err(internal)?;
        let roles: Vec<String> = roles
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect();
        let kind = serde_json::to_value(u.kind).map_err(internal)?;
        rows.push(vec![
            u.facility
                .clone()
                .unwrap_or_else(|| node.party().to_string()),
            u.id.clone(),
            u.name.clone(),
            kind.as_str().unwrap_or("").to_owned(),
            words(roles),
            u.clearance.to_string(),
            words(u.duties.iter().map(|d| d.to_string()).collect()),
            r.expires.clone().unwrap_or_default(),
        ]);
    }
    rows.sort();
    Ok(rows)
}

/// Partners' items held at the end of `day`: stored by then, not destroyed or returned by then;
/// one row a version, with how many versions of the item are held and which of this party's
/// items were derived from it (P4).
fn holdings(node: &Node, day: &str) -> Result<Vec<Vec<String>>, ApiError> {
    let by = |t: &str| t.get(..10).is_some_and(|d| d <= day);
    let mut held = vec![];
    let mut derived: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut after = 0;
    loop {
        let batch = node.store().items_after(after, 1000)?;
        let Some(last) = batch.last() else {
            break;
        };
        after = last.seq;
        for s in batch {
            let present = by(&s.added) && s.destroyed.as_deref().is_none_or(|d| !by(d));
            if !present {
                continue;
            }
            for source in &s.label.derived_from {
                derived
                    .entry(source.item.to_string())
                    .or_default()
                    .push(s.id.to_string());
            }
            if s.label.originator != node.party() {
                held.push(s);
            }
        }
    }
    let mut copies: BTreeMap<String, usize> = BTreeMap::new();
    for s in &held {
        *copies.entry(s.id.to_string()).or_default() += 1;
    }
    let mut rows: Vec<Vec<String>> = held
        .iter()
        .map(|s| {
            let hop = s.custody.last();
            let id = s.id.to_string();
            let mut from_it = derived.get(&id).cloned().unwrap_or_default();
            from_it.sort();
            from_it.dedup();
            vec![
                s.label.originator.to_string(),
                id.clone(),
                s.modified.clone(),
                s.label.level.to_string(),
                s.marking
                    .as_ref()
                    .map(|m| m.level.to_string())
                    .unwrap_or_default(),
                hop.map(|h| h.agreement.to_string()).unwrap_or_default(),
                hop.map(|h| h.from.to_string()).unwrap_or_default(),
                hop.map(|h| h.at.to_string()).unwrap_or_default(),
                copies[&id].to_string(),
                from_it.join(" "),
            ]
        })
        .collect();
    rows.sort();
    Ok(rows)
}
