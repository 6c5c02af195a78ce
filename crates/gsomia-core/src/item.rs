//! Items: one version of one STIX 2.1 object with its label, as a holder keeps it.
//!
//! An item file holds `label` and `object` and, at a recipient, the holder's `marking` and the
//! `custody` chain. The originator's `binding` signature (base64) travels with it and is checked
//! by `gsomia-crypto`. [`Item::new`] checks the structure; the world checks that the parties and
//! levels it names exist ([`crate::World::check_item`]).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::input::{Invalid, Problem};
use crate::label::{Hop, Label, Marking, Source, Tag, Timestamp};
use crate::party::PartyCode;
use crate::scheme::{LevelId, Scheme};

/// A checked STIX id: a STIX type name (3 to 250 lowercase ASCII letters, digits and inner
/// `-`), `--`, and a UUID (`report--6b1c2f5e-3f0a-4d7e-9a1b-2c3d4e5f6a7b`). Read as text
/// (`Deref<Target = str>`) wherever it is written out: SQL, JSON, paths, logs.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ItemId(Box<str>);

/// Why a string is not a STIX id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a STIX id (a type name, `--`, a UUID)")]
pub struct BadItemId(pub String);

impl ItemId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The STIX type it names (`report`).
    pub fn stix_type(&self) -> &str {
        // INVARIANT: checked on parsing to hold `--` followed by a UUID (36 bytes).
        &self.0[..self.0.len() - 38]
    }
}

impl FromStr for ItemId {
    type Err = BadItemId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok = s.len() > 38
            && s.is_char_boundary(s.len() - 38)
            && is_type_name(&s[..s.len() - 38])
            && s[s.len() - 38..].strip_prefix("--").is_some_and(is_uuid);
        if ok {
            Ok(ItemId(s.into()))
        } else {
            Err(BadItemId(s.to_owned()))
        }
    }
}

impl std::ops::Deref for ItemId {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for ItemId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for ItemId {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for ItemId {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

impl fmt::Display for ItemId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ItemId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for ItemId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ItemId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// An item file as written (see `model-case/items/`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemFile {
    /// The originator's label.
    pub label: Label,
    /// The STIX 2.1 object.
    pub object: Value,
    /// The holder's marking, where the holder is not the originator (M2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub marking: Option<Marking>,
    /// The custody chain, oldest hop first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub custody: Vec<Hop>,
    /// The originator's binding signature, base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binding: Option<String>,
}

/// A checked item.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    file: ItemFile,
    id: ItemId,
}

impl Item {
    /// Checks an item: the object is a STIX 2.1 object with `type`, `id` (`type--UUID`) and
    /// `spec_version` `2.1`; a marking names the label's originator and another holder; the
    /// label has at least one topic.
    pub fn new(file: ItemFile) -> Result<Item, Invalid> {
        let id = check_stix(&file.object)?;
        if file.label.topics.is_empty() {
            return Err(Invalid::at("label.topics", Problem::EmptyList));
        }
        if let Some(m) = &file.marking {
            if m.originator != file.label.originator {
                let msg = format!(
                    "the marking names {} as originator, the label {}",
                    m.originator, file.label.originator
                );
                return Err(Invalid::at(
                    "marking.originator",
                    Problem::Inconsistent(msg),
                ));
            }
            if m.party == file.label.originator {
                let msg = "the originator holds its item under its own label, not a marking";
                return Err(Invalid::at(
                    "marking.party",
                    Problem::Inconsistent(msg.into()),
                ));
            }
        }
        Ok(Item { file, id })
    }

    /// Parses and checks an item from JSON text.
    pub fn from_json(text: &str) -> Result<Item, Invalid> {
        Item::new(crate::input::parse(text)?)
    }

    /// The STIX id.
    pub fn id(&self) -> &ItemId {
        &self.id
    }

    /// The STIX `modified` timestamp, which with the id names the version.
    pub fn modified(&self) -> Option<&str> {
        self.file.object.get("modified").and_then(Value::as_str)
    }

    /// The version this copy is stored and acknowledged under: STIX `modified`, or `created`
    /// for objects that are never versioned, or `-` for objects with neither. Every interface
    /// names versions this way.
    pub fn version(&self) -> &str {
        version_of(&self.file.object)
    }

    /// The originator's label.
    pub fn label(&self) -> &Label {
        &self.file.label
    }

    /// The STIX object.
    pub fn object(&self) -> &Value {
        &self.file.object
    }

    /// The holder's marking, if the holder is not the originator.
    pub fn marking(&self) -> Option<&Marking> {
        self.file.marking.as_ref()
    }

    /// The custody chain.
    pub fn custody(&self) -> &[Hop] {
        &self.file.custody
    }

    /// The party that holds this copy.
    pub fn holder(&self) -> PartyCode {
        self.file
            .marking
            .as_ref()
            .map_or(self.file.label.originator, |m| m.party)
    }

    /// The level of this copy in the holder's scheme.
    pub fn holder_level(&self) -> &LevelId {
        self.file
            .marking
            .as_ref()
            .map_or(&self.file.label.level, |m| &m.level)
    }

    /// The item as a file.
    pub fn file(&self) -> &ItemFile {
        &self.file
    }
}

/// Checks the STIX common properties an item needs, returning the id.
fn check_stix(object: &Value) -> Result<ItemId, Invalid> {
    let bad = |place: &str, msg: String| Err(Invalid::at(place, Problem::Stix(msg)));
    let Some(obj) = object.as_object() else {
        return bad("object", "a STIX object must be a JSON object".into());
    };
    let text = |key: &str| obj.get(key).and_then(Value::as_str);
    let Some(ty) = text("type") else {
        return bad("object.type", "a STIX object needs a string `type`".into());
    };
    if !is_type_name(ty) {
        return bad("object.type", format!("`{ty}` is not a STIX type name"));
    }
    match text("spec_version") {
        Some("2.1") => {}
        Some(v) => return bad("object.spec_version", format!("`{v}` is not STIX `2.1`")),
        None => {
            return bad(
                "object.spec_version",
                "a STIX 2.1 object needs `spec_version`".into(),
            );
        }
    }
    let Some(id) = text("id") else {
        return bad("object.id", "a STIX object needs a string `id`".into());
    };
    let id = match id.parse::<ItemId>() {
        Ok(id) if id.stix_type() == ty => id,
        _ => {
            return bad(
                "object.id",
                format!("`{id}` is not `{ty}--` followed by a UUID"),
            );
        }
    };
    // The kinds whose own properties the node checks.
    if ty == crate::warning::TYPE {
        crate::warning::check(obj)?;
    }
    Ok(id)
}

/// A STIX type name: 3 to 250 lowercase ASCII letters, digits and inner `-`.
fn is_type_name(ty: &str) -> bool {
    (3..=250).contains(&ty.len())
        && ty
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
        && !ty.starts_with('-')
        && !ty.ends_with('-')
}

fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// Why a derived label could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeriveError {
    /// No sources were given.
    #[error("a derived item needs at least one source")]
    NoSources,
    /// A source is held by another party than the one deriving.
    #[error("source `{item}` is held by {holder}, not by {deriver}")]
    NotHeld {
        /// The source.
        item: ItemId,
        /// Who holds it.
        holder: PartyCode,
        /// Who derives.
        deriver: PartyCode,
    },
    /// A source's level is not in the deriver's scheme.
    #[error("source `{item}` has level `{level}`, which is not in the deriver's scheme")]
    UnknownLevel {
        /// The source.
        item: ItemId,
        /// Its level.
        level: LevelId,
    },
}

/// The version of a STIX object as every interface names it (see [`Item::version`]).
pub fn version_of(object: &Value) -> &str {
    ["modified", "created"]
        .iter()
        .find_map(|k| object.get(*k).and_then(Value::as_str))
        .unwrap_or("-")
}

/// The label of an item derived from `sources` (copies, translations, extracts) by the holder
/// whose scheme is `scheme` (P4): the highest level of the sources (the first among equal
/// ranks), the union of their topics and caveats, the most restrictive releasability, and every
/// other originator of the sources in `derived_from`, so that their consent is still needed for
/// any release to a third party (R4). The deriver is the new label's originator; a derived item
/// carries no evaluation grade of its own.
pub fn derive(
    scheme: &Scheme,
    sources: &[&Item],
    purpose: Tag,
    created: Timestamp,
) -> Result<Label, DeriveError> {
    let deriver = scheme.party();
    let first = sources.first().ok_or(DeriveError::NoSources)?;
    let mut level: Option<(u16, LevelId)> = None;
    let mut label = Label {
        originator: deriver,
        level: first.holder_level().clone(),
        topics: Vec::new(),
        purpose,
        releasable_to: None,
        caveats: Vec::new(),
        grading: None,
        created,
        derived_from: Vec::new(),
        revision: 0,
    };
    for s in sources {
        if s.holder() != deriver {
            return Err(DeriveError::NotHeld {
                item: s.id().to_owned(),
                holder: s.holder(),
                deriver,
            });
        }
        let held = s.holder_level();
        let rank = scheme
            .rank(held.as_str())
            .ok_or(DeriveError::UnknownLevel {
                item: s.id().to_owned(),
                level: held.clone(),
            })?;
        if level.as_ref().is_none_or(|(r, _)| rank > *r) {
            level = Some((rank, held.clone()));
        }
        let l = s.label();
        push_new(&mut label.topics, &l.topics);
        push_new(&mut label.caveats, &l.caveats);
        if let Some(to) = &l.releasable_to {
            label.releasable_to = Some(match label.releasable_to.take() {
                None => to.clone(),
                Some(before) => before.into_iter().filter(|p| to.contains(p)).collect(),
            });
        }
        let mut own = vec![];
        if l.originator != deriver {
            own.push(Source {
                originator: l.originator,
                item: s.id().to_owned(),
            });
        }
        let inherited = l
            .derived_from
            .iter()
            .filter(|src| src.originator != deriver);
        own.extend(inherited.cloned());
        push_new(&mut label.derived_from, &own);
    }
    if let Some((_, l)) = level {
        label.level = l;
    }
    Ok(label)
}

fn push_new<T: PartialEq + Clone>(into: &mut Vec<T>, from: &[T]) {
    for x in from {
        if !into.contains(x) {
            into.push(x.clone());
        }
    }
}
