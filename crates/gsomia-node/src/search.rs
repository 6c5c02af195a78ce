//! The search index: full text and STIX fields of the items held here, kept in memory only.
//!
//! Why in memory: content is sealed at rest under each item's key (P5), and an index on disk
//! would be a second, unsealed copy of it that destruction would have to find and erase. This
//! index is rebuilt from the sealed items when the node starts (in the background: the node
//! answers at once, a search during the rebuild answers 503 with its progress) and follows
//! every committed write ([`crate::node::Node::write`]). When an item version is destroyed its
//! document leaves the index, and every posting and every word only it had are swept out in
//! the same step, so nothing of a destroyed item's content stays recoverable from the process.
//!
//! What is indexed: the newest version of each item, its STIX strings by field (names,
//! descriptions, patterns, observables, the rest), words lower-cased; Han, kana and hangul runs
//! as overlapping pairs of characters (Japanese has no spaces); an observable's whole value
//! (`198.51.100.7`, a hash, the quoted literals of a pattern) as one term too, which is how
//! items that report the same value are correlated. The index answers which documents match;
//! what a user sees of them is decided afterwards on each item's label ([`Index::search`]
//! takes the decision as a function), so it never answers with what the user may not read.

use std::collections::{HashMap, HashSet};
use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use gsomia_core::{Label, Marking};
use serde_json::Value;

/// A field a term was found in (bits of a posting).
pub mod field {
    /// `name`, `aliases`.
    pub const NAME: u8 = 1;
    /// `description`, `labels`, `x_*` text.
    pub const DESCRIPTION: u8 = 2;
    /// `pattern`.
    pub const PATTERN: u8 = 4;
    /// An observable's value: an SCO's `value`, `hashes`, a pattern's quoted literal.
    pub const OBSERVABLE: u8 = 8;
    /// Any other string of the object.
    pub const OTHER: u8 = 16;
    /// Any field.
    pub const ANY: u8 = 31;
}

/// Bits of a posting that hold the field mask: a posting is `doc << 5 | fields`.
const FIELD_BITS: u32 = 5;
/// At most this much text of one object is indexed.
const MAX_TEXT: usize = 64 * 1024;
/// Longer words are cut to this many characters.
const MAX_WORD: usize = 64;
/// At most this many observable values of one object are indexed whole and correlated: a
/// partner's pattern of ten thousand literals costs no more than one of 64 (H4).
const MAX_OBSERVABLES: usize = 64;

/// What a document of the index is: an item's newest version, and the clear facts its read
/// decision needs (shared between documents with the same ones).
struct Doc {
    id: Box<str>,
    version: Box<str>,
    class: u32,
}

/// The facts of a label the read decision and the type filter look at: the label (one
/// representative), this node's marking, the STIX type.
pub struct Class {
    /// The originator's label.
    pub label: Label,
    /// This node's marking of it.
    pub marking: Option<Marking>,
    /// The STIX type.
    pub stix_type: String,
}

/// A document ready to enter the index: what [`terms_of`] found in an item version.
pub struct Prepared {
    id: String,
    version: String,
    class: Class,
    terms: HashMap<String, u8>,
}

#[derive(Default)]
struct State {
    docs: Vec<Option<Doc>>,
    by_id: HashMap<Box<str>, u32>,
    terms: HashMap<Box<str>, Vec<u32>>,
    classes: Vec<Class>,
    class_of: HashMap<String, u32>,
    /// Documents removed whose postings are still in the lists.
    dead: usize,
    /// While the start-up rebuild runs: the ids the live path changed (the rebuild leaves
    /// them alone; they are read again from the store when it ends).
    dirty: Option<HashSet<String>>,
}

/// The in-memory index (see the module's documentation).
pub struct Index {
    state: RwLock<State>,
    ready: AtomicBool,
    /// Item versions the rebuild has read, and how many there were when it started.
    progress: AtomicU64,
    total: AtomicU64,
    /// The audit entries whose item changes this index has followed (processes sharing a
    /// store: `crate::service::search::follow`).
    followed: AtomicU64,
}

impl std::fmt::Debug for Index {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Index")
    }
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A match of a search: an item id and the version indexed.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// STIX id.
    pub id: String,
    /// The version indexed (the newest held).
    pub version: String,
    /// Which fields matched (bits of [`field`]).
    pub fields: u8,
}

/// What a search found.
#[derive(Debug, Default)]
pub struct Found {
    /// The hits the user may read, newest first, at most the limit asked.
    pub hits: Vec<Hit>,
    /// Whether more readable hits exist beyond the limit.
    pub more: bool,
    /// How many matching documents were looked at (read decision included).
    pub checked: usize,
}

/// A parsed query: every clause must match.
#[derive(Debug, PartialEq)]
pub struct Query {
    clauses: Vec<Clause>,
    stix_type: Option<String>,
}

#[derive(Debug, PartialEq)]
struct Clause {
    term: String,
    fields: u8,
}

/// Why a query can not be run.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum QueryError {
    /// Nothing to look for.
    #[error("the query has no words to look for")]
    Empty,
    /// `field:` with an unknown field.
    #[error(
        "unknown field `{0}`: use name, description, pattern, value or type (or none, for any field)"
    )]
    Field(String),
}

impl Query {
    /// The items holding one observable value.
    pub fn observable(value: &str) -> Query {
        Query {
            clauses: vec![Clause {
                term: normalise(value),
                fields: field::OBSERVABLE,
            }],
            stix_type: None,
        }
    }

    /// Parses a query: words separated by spaces, each optionally `field:word` (`name`,
    /// `description`, `pattern`, `value` for observables, `type` for the STIX type); every
    /// word must match. A word with punctuation (`198.51.100.7`) matches as one observable
    /// value where one is indexed, else as its parts.
    pub fn parse(text: &str, known: impl Fn(&str) -> bool) -> Result<Query, QueryError> {
        let mut clauses = Vec::new();
        let mut stix_type = None;
        for word in text.split_whitespace() {
            let (fields, word) = match word.split_once(':') {
                Some((f, w)) if f.chars().all(|c| c.is_ascii_alphabetic()) && !f.is_empty() => {
                    match f.to_ascii_lowercase().as_str() {
                        "name" => (field::NAME, w),
                        "description" => (field::DESCRIPTION, w),
                        "pattern" => (field::PATTERN, w),
                        "value" | "observable" => (field::OBSERVABLE, w),
                        "type" => {
                            stix_type = Some(w.to_ascii_lowercase());
                            continue;
                        }
                        // A pattern's `ipv4-addr:value` and the like: a word, not a field.
                        _ if w.contains(|c: char| !c.is_alphanumeric()) || w.is_empty() => {
                            (field::ANY, word)
                        }
                        other => return Err(QueryError::Field(other.to_owned())),
                    }
                }
                _ => (field::ANY, word),
            };
            let whole = normalise(word);
            if whole.is_empty() {
                continue;
            }
            if whole.chars().any(|c| !c.is_alphanumeric()) && known(&whole) {
                clauses.push(Clause {
                    term: whole,
                    fields,
                });
                continue;
            }
            words(word, &mut |t| {
                clauses.push(Clause {
                    term: t.to_owned(),
                    fields,
                });
            });
        }
        if clauses.is_empty() && stix_type.is_none() {
            return Err(QueryError::Empty);
        }
        clauses.dedup();
        Ok(Query { clauses, stix_type })
    }
}

/// An observable value as it is indexed and looked up: trimmed, lower-cased, at most
/// [`MAX_WORD`] characters.
fn normalise(value: &str) -> String {
    value
        .trim()
        .trim_matches(|c: char| "'\"()[],;".contains(c))
        .chars()
        .take(MAX_WORD)
        .flat_map(char::to_lowercase)
        .collect()
}

/// Whether a character is written without spaces between words (Han, kana, hangul): such runs
/// are indexed as overlapping pairs.
fn dense(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xAC00..=0xD7AF | 0xF900..=0xFAFF)
}

/// The words of a text, as indexed: runs of letters and digits, lower-cased; a run of dense
/// script as overlapping pairs of characters (a single one alone).
fn words(text: &str, out: &mut impl FnMut(&str)) {
    let mut word = String::new();
    let mut run: Vec<char> = Vec::new();
    let flush_word = |word: &mut String, out: &mut dyn FnMut(&str)| {
        if word.len() <= MAX_WORD {
            // No more bytes than MAX_WORD: no more characters either.
            if !word.is_empty() {
                out(word);
            }
        } else {
            let cut: String = word.chars().take(MAX_WORD).collect();
            out(&cut);
        }
        word.clear();
    };
    let flush_run = |run: &mut Vec<char>, out: &mut dyn FnMut(&str)| {
        match run.len() {
            0 => {}
            1 => out(&run[0].to_string()),
            _ => {
                for pair in run.windows(2) {
                    out(&pair.iter().collect::<String>());
                }
            }
        }
        run.clear();
    };
    for c in text.chars() {
        if dense(c) {
            flush_word(&mut word, out);
            run.push(c);
        } else if c.is_ascii_alphanumeric() {
            flush_run(&mut run, out);
            word.push(c.to_ascii_lowercase());
        } else if c.is_alphanumeric() {
            flush_run(&mut run, out);
            word.extend(c.to_lowercase());
        } else {
            flush_word(&mut word, out);
            flush_run(&mut run, out);
        }
    }
    flush_word(&mut word, out);
    flush_run(&mut run, out);
}

/// The field a top-level STIX property is indexed under; `None` for properties that are not
/// text about the item (ids, references, timestamps, markings).
fn field_of(key: &str) -> Option<u8> {
    match key {
        "id"
        | "type"
        | "spec_version"
        | "created"
        | "modified"
        | "valid_from"
        | "valid_until"
        | "first_seen"
        | "last_seen"
        | "published"
        | "first_observed"
        | "last_observed"
        | "object_marking_refs"
        | "granular_markings"
        | "extensions"
        | "lang"
        | "confidence"
        | "revoked"
        | "pattern_type"
        | "pattern_version"
        | "defanged" => None,
        k if k.ends_with("_ref") || k.ends_with("_refs") => None,
        "name" | "aliases" => Some(field::NAME),
        "description" | "labels" | "kill_chain_phases" => Some(field::DESCRIPTION),
        "pattern" => Some(field::PATTERN),
        "value" | "hashes" => Some(field::OBSERVABLE),
        _ => Some(field::OTHER),
    }
}

/// The observable values an object carries: its `value`, its `hashes`, the quoted literals of
/// its pattern; normalised. The item page's related items are the other items holding one.
pub fn observables(object: &Value) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(v) = object["value"].as_str() {
        out.push(normalise(v));
    }
    if let Some(h) = object["hashes"].as_object() {
        out.extend(h.values().filter_map(Value::as_str).map(normalise));
    }
    if let Some(p) = object["pattern"].as_str() {
        let mut rest = p;
        while let Some(start) = rest.find('\'') {
            if out.len() >= MAX_OBSERVABLES {
                break;
            }
            let after = &rest[start + 1..];
            let Some(end) = after.find('\'') else { break };
            out.push(normalise(&after[..end]));
            rest = &after[end + 1..];
        }
    }
    out.retain(|v| !v.is_empty());
    out.truncate(MAX_OBSERVABLES);
    out.sort();
    out.dedup();
    out
}

/// Every string under a value, in order.
fn strings<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::String(s) => out.push(s),
        Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        Value::Object(o) => o.values().for_each(|x| strings(x, out)),
        _ => {}
    }
}

/// The terms of an object, each with the fields it was found in.
pub fn terms_of(object: &Value) -> HashMap<String, u8> {
    let mut terms: HashMap<String, u8> = HashMap::new();
    let mut budget = MAX_TEXT;
    if let Some(o) = object.as_object() {
        for (key, value) in o {
            let Some(f) = field_of(key) else { continue };
            let mut texts = Vec::new();
            strings(value, &mut texts);
            for text in texts {
                let text = &text[..floor_boundary(text, budget)];
                budget -= text.len();
                words(text, &mut |w| match terms.get_mut(w) {
                    Some(fields) => *fields |= f,
                    None => drop(terms.insert(w.to_owned(), f)),
                });
            }
        }
    }
    for value in observables(object) {
        *terms.entry(value).or_default() |= field::OBSERVABLE;
    }
    terms
}

/// The field bits of a posting.
fn fields_of(posting: u32) -> u8 {
    // INVARIANT: masked to five bits, the value fits in a u8.
    (posting & u32::from(field::ANY)) as u8
}

/// The largest char boundary of `s` at or below `at`.
fn floor_boundary(s: &str, at: usize) -> usize {
    if at >= s.len() {
        return s.len();
    }
    (0..=at).rev().find(|&i| s.is_char_boundary(i)).unwrap_or(0)
}

/// The key under which two labels are the same for the read decision and the type filter.
fn class_key(class: &Class) -> String {
    let l = &class.label;
    let originators: Vec<_> = l.originators().collect();
    serde_json::json!([
        l.originator,
        l.level,
        l.topics,
        l.purpose,
        originators,
        class.marking,
        class.stix_type
    ])
    .to_string()
}

/// Prepares an item version for the index (outside any lock: this is the costly part).
pub fn prepare(
    id: &str,
    version: &str,
    label: &Label,
    marking: Option<&Marking>,
    stix_type: &str,
    object: &Value,
) -> Prepared {
    Prepared {
        id: id.to_owned(),
        version: version.to_owned(),
        class: Class {
            label: label.clone(),
            marking: marking.cloned(),
            stix_type: stix_type.to_owned(),
        },
        terms: terms_of(object),
    }
}

impl Prepared {
    /// Whether this is the document of version `version` of item `id`.
    pub fn is_of(&self, id: &str, version: &str) -> bool {
        self.id == id && self.version == version
    }
}

impl State {
    fn class(&mut self, class: Class) -> u32 {
        let key = class_key(&class);
        if let Some(&n) = self.class_of.get(&key) {
            return n;
        }
        let n = u32::try_from(self.classes.len()).unwrap_or(u32::MAX);
        self.classes.push(class);
        self.class_of.insert(key, n);
        n
    }

    fn insert(&mut self, p: Prepared) {
        self.remove(&p.id);
        let doc = u32::try_from(self.docs.len()).unwrap_or(u32::MAX >> FIELD_BITS);
        let class = self.class(p.class);
        for (term, fields) in p.terms {
            let posting = doc << FIELD_BITS | u32::from(fields);
            // Most terms are already there: look up before allocating a key.
            match self.terms.get_mut(term.as_str()) {
                Some(list) => list.push(posting),
                None => {
                    self.terms.insert(term.into_boxed_str(), vec![posting]);
                }
            }
        }
        let id: Box<str> = p.id.into_boxed_str();
        self.by_id.insert(id.clone(), doc);
        self.docs.push(Some(Doc {
            id,
            version: p.version.into_boxed_str(),
            class,
        }));
    }

    /// Takes an item's document out (its postings stay until [`State::sweep`]).
    fn remove(&mut self, id: &str) -> bool {
        let Some(doc) = self.by_id.remove(id) else {
            return false;
        };
        if let Some(slot) = self.docs.get_mut(doc as usize) {
            *slot = None;
        }
        self.dead += 1;
        true
    }

    /// Drops the postings of removed documents, and the words only they had.
    fn sweep(&mut self) {
        if self.dead == 0 {
            return;
        }
        let docs = &self.docs;
        self.terms.retain(|_, list| {
            list.retain(|p| {
                docs.get((p >> FIELD_BITS) as usize)
                    .is_some_and(Option::is_some)
            });
            list.shrink_to_fit();
            !list.is_empty()
        });
        self.terms.shrink_to_fit();
        self.dead = 0;
    }
}

impl Default for Index {
    fn default() -> Self {
        Index {
            state: RwLock::new(State {
                dirty: Some(HashSet::new()),
                ..State::default()
            }),
            ready: AtomicBool::new(false),
            progress: AtomicU64::new(0),
            total: AtomicU64::new(0),
            followed: AtomicU64::new(0),
        }
    }
}

impl Index {
    /// Whether the start-up rebuild has finished; if not, how far it is (versions read, of
    /// how many).
    pub fn ready(&self) -> Result<(), (u64, u64)> {
        if self.ready.load(Ordering::Acquire) {
            Ok(())
        } else {
            Err((
                self.progress.load(Ordering::Relaxed),
                self.total.load(Ordering::Relaxed),
            ))
        }
    }

    /// The audit entries followed so far.
    pub fn followed(&self) -> u64 {
        self.followed.load(Ordering::Relaxed)
    }

    /// Audit entries up to `seq` are followed.
    pub fn set_followed(&self, seq: u64) {
        self.followed.fetch_max(seq, Ordering::Relaxed);
    }

    /// How many items are indexed, and how many distinct terms.
    pub fn size(&self) -> (usize, usize) {
        let s = read(&self.state);
        (s.by_id.len(), s.terms.len())
    }

    /// The rebuild: how many versions there are to read.
    pub fn rebuild_started(&self, total: u64) {
        self.total.store(total, Ordering::Relaxed);
    }

    /// The rebuild: documents read from the store (skipped if the live path touched their
    /// item meanwhile), `read` versions looked at in all.
    pub fn rebuilt(&self, docs: Vec<Prepared>, read_so_far: u64) {
        let mut s = write(&self.state);
        for p in docs {
            let touched = s.dirty.as_ref().is_some_and(|d| d.contains(&p.id));
            if !touched {
                s.insert(p);
            }
        }
        self.progress.store(read_so_far, Ordering::Relaxed);
    }

    /// The rebuild has read every version: the ids the live path touched meanwhile, to be read
    /// again from the store by the caller and given to [`Index::refresh`]; then the index is
    /// ready.
    pub fn rebuild_done(&self) -> Vec<String> {
        let mut s = write(&self.state);
        let dirty = s.dirty.take().unwrap_or_default();
        s.sweep();
        self.ready.store(true, Ordering::Release);
        dirty.into_iter().collect()
    }

    /// A version committed: it becomes its item's document.
    pub fn put(&self, p: Prepared) {
        let mut s = write(&self.state);
        if let Some(d) = s.dirty.as_mut() {
            d.insert(p.id.clone());
        }
        s.insert(p);
        // New versions leave their old documents behind; sweep when they are a quarter.
        if s.dead > 1024 && s.dead * 4 > s.docs.len() {
            s.sweep();
        }
    }

    /// An item's label or this node's marking changed (M4): its document's class follows.
    pub fn relabel(&self, id: &str, label: &Label, marking: Option<&Marking>) {
        let mut s = write(&self.state);
        let Some(&doc) = s.by_id.get(id) else { return };
        let stix_type = s.docs[doc as usize]
            .as_ref()
            .map(|d| s.classes[d.class as usize].stix_type.clone())
            .unwrap_or_default();
        let class = s.class(Class {
            label: label.clone(),
            marking: marking.cloned(),
            stix_type,
        });
        if let Some(Some(d)) = s.docs.get_mut(doc as usize) {
            d.class = class;
        }
    }

    /// Items whose versions changed in a way the index can not follow alone (a version
    /// destroyed): each one's document is replaced by the newest version still held, if any,
    /// and the postings and words of the old ones are swept out at once, in one pass (P5).
    pub fn refresh(&self, items: Vec<(String, Option<Prepared>)>) {
        let mut s = write(&self.state);
        for (id, newest) in items {
            if let Some(d) = s.dirty.as_mut() {
                d.insert(id.clone());
            }
            s.remove(&id);
            if let Some(p) = newest {
                s.insert(p);
            }
        }
        s.sweep();
    }

    /// The version of item `id` indexed, if it is.
    pub fn version_of(&self, id: &str) -> Option<String> {
        let s = read(&self.state);
        let doc = *s.by_id.get(id)?;
        s.docs
            .get(doc as usize)?
            .as_ref()
            .map(|d| d.version.to_string())
    }

    /// Whether a term is indexed (a query word with punctuation is looked up whole if it is).
    pub fn knows(&self, term: &str) -> bool {
        read(&self.state).terms.contains_key(term)
    }

    /// The documents matching `query`, newest first, that `readable` lets through, at most
    /// `limit`. `readable` is asked once per class, or once per document when `per_item` (a
    /// contractor's reads depend on consents given for each item, P2).
    pub fn search(
        &self,
        query: &Query,
        limit: usize,
        per_item: bool,
        readable: impl FnMut(&str, &Class) -> bool,
    ) -> Found {
        let s = read(&self.state);
        let mut readable = readable;
        let mut lists = Vec::with_capacity(query.clauses.len());
        for c in &query.clauses {
            match s.terms.get(c.term.as_str()) {
                Some(list) => lists.push((list.as_slice(), c.fields)),
                None => return Found::default(),
            }
        }
        lists.sort_by_key(|(l, _)| l.len());
        let mut found = Found::default();
        let mut verdicts: HashMap<u32, bool> = HashMap::new();
        let mut consider = |doc: u32, fields: u8, found: &mut Found| -> bool {
            let Some(Some(d)) = s.docs.get(doc as usize) else {
                return false;
            };
            let class = &s.classes[d.class as usize];
            if query
                .stix_type
                .as_ref()
                .is_some_and(|t| *t != class.stix_type)
            {
                return false;
            }
            found.checked += 1;
            let ok = if per_item {
                readable(&d.id, class)
            } else {
                *verdicts
                    .entry(d.class)
                    .or_insert_with(|| readable(&d.id, class))
            };
            if !ok {
                return false;
            }
            if found.hits.len() == limit {
                found.more = true;
                return true;
            }
            found.hits.push(Hit {
                id: d.id.to_string(),
                version: d.version.to_string(),
                fields,
            });
            false
        };
        match lists.split_first() {
            None => {
                // Only a type: every live document, newest first.
                for doc in (0..s.docs.len()).rev() {
                    let doc = u32::try_from(doc).unwrap_or(u32::MAX);
                    if consider(doc, 0, &mut found) {
                        break;
                    }
                }
            }
            Some(((first, want), rest)) => {
                'docs: for &p in first.iter().rev() {
                    let doc = p >> FIELD_BITS;
                    let mut fields = fields_of(p);
                    if fields & want == 0 {
                        continue;
                    }
                    for (list, want) in rest {
                        let at = list.partition_point(|q| q >> FIELD_BITS < doc);
                        match list.get(at) {
                            Some(q) if q >> FIELD_BITS == doc && fields_of(*q) & want != 0 => {
                                fields |= fields_of(*q);
                            }
                            _ => continue 'docs,
                        }
                    }
                    if consider(doc, fields, &mut found) {
                        break;
                    }
                }
            }
        }
        found
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn label(originator: &str) -> Label {
        serde_json::from_value(json!({
            "originator": originator, "level": "II", "topics": ["dprk-missile"],
            "purpose": "missile-warning", "caveats": [], "created": "2019-07-25T00:30:00Z"
        }))
        .unwrap()
    }

    fn put(index: &Index, id: &str, originator: &str, object: Value) {
        index.put(prepare(
            id,
            "v1",
            &label(originator),
            None,
            "indicator",
            &object,
        ));
    }

    fn ids(found: &Found) -> Vec<&str> {
        found.hits.iter().map(|h| h.id.as_str()).collect()
    }

    fn query(index: &Index, q: &str) -> Query {
        Query::parse(q, |t| index.knows(t)).unwrap()
    }

    #[test]
    fn words_split_latin_and_pair_dense_scripts() {
        let mut out = vec![];
        words("Hwasong-15 launch 弾道ミサイル 발사", &mut |w| {
            out.push(w.to_owned())
        });
        assert_eq!(
            out,
            [
                "hwasong", "15", "launch", "弾道", "道ミ", "ミサ", "サイ", "イル", "발사"
            ]
        );
    }

    #[test]
    fn every_word_must_match_and_fields_narrow() {
        let index = Index::default();
        put(
            &index,
            "a",
            "KOR",
            json!({"name": "Hwasong launch", "description": "east sea"}),
        );
        put(&index, "b", "JPN", json!({"name": "East sea exercise"}));
        assert_eq!(
            ids(&index.search(&query(&index, "east sea"), 10, false, |_, _| true)),
            ["b", "a"]
        );
        assert_eq!(
            ids(&index.search(&query(&index, "hwasong SEA"), 10, false, |_, _| true)),
            ["a"]
        );
        assert_eq!(
            ids(&index.search(&query(&index, "name:east"), 10, false, |_, _| true)),
            ["b"]
        );
        assert!(
            index
                .search(&query(&index, "nothing"), 10, false, |_, _| true)
                .hits
                .is_empty()
        );
        assert_eq!(Query::parse("  ", |_| false), Err(QueryError::Empty));
        assert!(matches!(
            Query::parse("colour:red", |_| false),
            Err(QueryError::Field(_))
        ));
    }

    #[test]
    fn observable_values_correlate_whole() {
        let index = Index::default();
        let pattern = |ip: &str| json!({"pattern": format!("[ipv4-addr:value = '{ip}']")});
        put(&index, "a", "KOR", pattern("198.51.100.7"));
        put(&index, "b", "JPN", pattern("198.51.100.7"));
        put(&index, "c", "USA", pattern("198.51.7.100"));
        let q = query(&index, "value:198.51.100.7");
        assert_eq!(ids(&index.search(&q, 10, false, |_, _| true)), ["b", "a"]);
        assert_eq!(observables(&pattern("198.51.100.7")), ["198.51.100.7"]);
    }

    #[test]
    fn the_decision_filters_and_the_limit_says_more() {
        let index = Index::default();
        for (id, o) in [("a", "KOR"), ("b", "JPN"), ("c", "KOR"), ("d", "KOR")] {
            put(&index, id, o, json!({"name": "launch"}));
        }
        let kor_only = |_: &str, c: &Class| c.label.originator.as_str() == "KOR";
        let found = index.search(&query(&index, "launch"), 2, false, kor_only);
        assert_eq!(ids(&found), ["d", "c"]);
        assert!(found.more);
        let found = index.search(&query(&index, "launch"), 5, false, kor_only);
        assert_eq!(ids(&found), ["d", "c", "a"]);
        assert!(!found.more);
    }

    /// H4: a hostile partner's object with thousands of literals in its pattern gets only the
    /// first 64 correlated (each is a lookup on the item's page).
    #[test]
    fn h4_an_object_correlates_at_most_64_observable_values() {
        let pattern: Vec<String> = (0..10_000)
            .map(|n| format!("[ipv4-addr:value = '10.0.{}.{}']", n / 256, n % 256))
            .collect();
        let object = json!({"pattern": pattern.join(" OR "), "value": "first"});
        let values = observables(&object);
        assert_eq!(values.len(), MAX_OBSERVABLES);
        assert!(values.contains(&"first".to_owned()) && values.contains(&"10.0.0.0".to_owned()));
    }

    #[test]
    fn a_destroyed_items_words_leave_the_index() {
        let index = Index::default();
        put(&index, "a", "KOR", json!({"name": "secretword launch"}));
        put(&index, "b", "KOR", json!({"name": "launch"}));
        assert!(index.knows("secretword"));
        index.refresh(vec![("a".into(), None)]);
        assert!(!index.knows("secretword"));
        assert_eq!(
            ids(&index.search(&query(&index, "launch"), 10, false, |_, _| true)),
            ["b"]
        );
        assert_eq!(index.size(), (1, 1));
    }

    #[test]
    fn a_new_version_replaces_the_old_document() {
        let index = Index::default();
        put(&index, "a", "KOR", json!({"name": "first"}));
        put(&index, "a", "KOR", json!({"name": "second"}));
        assert!(
            index
                .search(&query(&index, "first"), 10, false, |_, _| true)
                .hits
                .is_empty()
        );
        assert_eq!(
            ids(&index.search(&query(&index, "second"), 10, false, |_, _| true)),
            ["a"]
        );
    }

    #[test]
    fn the_rebuild_leaves_items_the_live_path_touched() {
        let index = Index::default();
        put(&index, "a", "KOR", json!({"name": "live"}));
        let stale = prepare(
            "a",
            "v0",
            &label("KOR"),
            None,
            "indicator",
            &json!({"name": "stale"}),
        );
        index.rebuilt(vec![stale], 1);
        assert_eq!(index.rebuild_done(), ["a"]);
        assert!(index.ready().is_ok());
        assert!(!index.knows("stale"));
    }
}
