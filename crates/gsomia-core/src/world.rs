//! The world a node (or the offline commands) decides in: every party's scheme, the agreements
//! and the consents, checked against each other and indexed for decisions.

use std::collections::HashMap;

use rustc_hash::FxHashMap;

use crate::agreement::Agreement;
use crate::assurance::Assurance;
use crate::consent::Consent;
use crate::correspondence::{Letter, LetterKind};
use crate::facility::Facility;
use crate::input::{Invalid, Problem};
use crate::item::Item;
use crate::party::PartyCode;
use crate::scheme::Scheme;
use crate::user::User;
use crate::visit::Visit;

/// Which input of a world is wrong, by its index in the lists given to [`World::new`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorldError {
    /// The scheme at this index.
    #[error("scheme #{index}: {invalid}")]
    Scheme {
        /// Its index.
        index: usize,
        /// What is wrong.
        invalid: Invalid,
    },
    /// The agreement at this index.
    #[error("agreement #{index}: {invalid}")]
    Agreement {
        /// Its index.
        index: usize,
        /// What is wrong.
        invalid: Invalid,
    },
    /// The consent at this index.
    #[error("consent #{index}: {invalid}")]
    Consent {
        /// Its index.
        index: usize,
        /// What is wrong.
        invalid: Invalid,
    },
}

/// Schemes, agreements and consents, consistent with each other.
#[derive(Debug, Clone)]
pub struct World {
    schemes: FxHashMap<PartyCode, Scheme>,
    agreements: Vec<Agreement>,
    /// For each ordered pair of parties, the agreements naming both: those without a hub first,
    /// then hub arrangements, each group by id (SPEC §4: a bilateral before a hub arrangement).
    between: FxHashMap<(PartyCode, PartyCode), Vec<usize>>,
    consents: Vec<Consent>,
    /// SipHash here, not Fx: item ids come from partner nodes.
    consents_by_item: HashMap<crate::ItemId, Vec<usize>>,
    /// The standing consents (R4b), which cover items by topic.
    standing: Vec<usize>,
    /// The partners' assurances (S1).
    assurances: Vec<Assurance>,
    /// This party's contractor facilities (C1), by id.
    facilities: HashMap<String, Facility>,
    /// The visits this party authorised (V1), by the authorisation's id.
    visits: HashMap<String, Visit>,
}

impl World {
    /// Checks the inputs against each other: every party of an agreement or consent has a
    /// scheme, every level of an equivalence table is in its party's scheme, ids are unique.
    pub fn new(
        schemes: Vec<Scheme>,
        agreements: Vec<Agreement>,
        consents: Vec<Consent>,
    ) -> Result<World, WorldError> {
        let mut by_party = FxHashMap::with_capacity_and_hasher(schemes.len(), Default::default());
        for (index, s) in schemes.into_iter().enumerate() {
            let party = s.party();
            if by_party.insert(party, s).is_some() {
                let invalid = Invalid::at("party", Problem::DuplicateScheme(party));
                return Err(WorldError::Scheme { index, invalid });
            }
        }
        let mut between: FxHashMap<(PartyCode, PartyCode), Vec<usize>> = FxHashMap::default();
        let mut ids = HashMap::with_capacity(agreements.len());
        for (index, a) in agreements.iter().enumerate() {
            let fail = |invalid| WorldError::Agreement { index, invalid };
            if ids.insert(a.id().clone(), index).is_some() {
                let problem = Problem::DuplicateAgreement(a.id().to_string());
                return Err(fail(Invalid::at("id", problem)));
            }
            for (i, p) in a.parties().iter().enumerate() {
                if !by_party.contains_key(p) {
                    let place = format!("parties[{i}]");
                    return Err(fail(Invalid::at(place, Problem::UnknownParty(*p))));
                }
            }
            for (t, table) in a.equivalences().enumerate() {
                // The table as signed, then each amendment's in force (A9).
                let prefix = match t {
                    0 => String::new(),
                    n => format!("amended table {n}: "),
                };
                for (r, row) in table.rows().iter().enumerate() {
                    for (party, cell) in &row.levels {
                        let scheme = &by_party[party];
                        for (l, level) in cell.iter().enumerate() {
                            let place = format!("{prefix}equivalence[{r}].levels.{party}[{l}]");
                            scheme.check(level, place).map_err(fail)?;
                        }
                    }
                }
            }
            for p in a.parties() {
                for q in a.parties() {
                    if p != q {
                        between.entry((*p, *q)).or_default().push(index);
                    }
                }
            }
        }
        for list in between.values_mut() {
            list.sort_by(|&x, &y| {
                let (a, b) = (&agreements[x], &agreements[y]);
                (a.hub().is_some(), a.id()).cmp(&(b.hub().is_some(), b.id()))
            });
        }
        for (index, c) in consents.iter().enumerate() {
            let fail = |invalid| WorldError::Consent { index, invalid };
            for (place, p) in [("originator", c.originator), ("holder", c.holder)] {
                if !by_party.contains_key(&p) {
                    return Err(fail(Invalid::at(place, Problem::UnknownParty(p))));
                }
            }
        }
        let mut world = World {
            schemes: by_party,
            agreements,
            between,
            consents: vec![],
            consents_by_item: HashMap::new(),
            standing: vec![],
            assurances: vec![],
            facilities: HashMap::new(),
            visits: HashMap::new(),
        };
        for c in consents {
            world.add_consent(c);
        }
        Ok(world)
    }

    fn add_consent(&mut self, c: Consent) {
        let index = self.consents.len();
        match &c.item {
            Some(item) => self
                .consents_by_item
                .entry(item.clone())
                .or_default()
                .push(index),
            None => self.standing.push(index),
        }
        self.consents.push(c);
    }

    /// This world with more consents (a node adds the verified consents that travel with an
    /// item before it decides on it, R4).
    pub fn with_consents(&self, extra: Vec<Consent>) -> World {
        let mut world = self.clone();
        for c in extra {
            world.add_consent(c);
        }
        world
    }

    /// Every consent.
    pub fn consents(&self) -> &[Consent] {
        &self.consents
    }

    /// The scheme of `party`.
    pub fn scheme(&self, party: PartyCode) -> Option<&Scheme> {
        self.schemes.get(&party)
    }

    /// Every party with a scheme, in alphabetical order.
    pub fn parties(&self) -> Vec<PartyCode> {
        let mut v: Vec<_> = self.schemes.keys().copied().collect();
        v.sort();
        v
    }

    /// The agreements.
    pub fn agreements(&self) -> &[Agreement] {
        &self.agreements
    }

    /// The agreement with this id.
    pub fn agreement(&self, id: &str) -> Option<&Agreement> {
        self.agreements.iter().find(|a| a.id().as_str() == id)
    }

    /// The agreements naming both `p` and `q`, bilateral ones first.
    pub fn agreements_between(
        &self,
        p: PartyCode,
        q: PartyCode,
    ) -> impl Iterator<Item = &Agreement> {
        let list = self.between.get(&(p, q)).map(Vec::as_slice).unwrap_or(&[]);
        list.iter().map(|&i| &self.agreements[i])
    }

    /// The consents that may cover the item with this STIX id: those about it, then every
    /// standing consent (R4b; [`Consent::covers`] tells which apply).
    pub fn consents_for(&self, item: &str) -> impl Iterator<Item = &Consent> {
        let list = self
            .consents_by_item
            .get(item)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        list.iter()
            .chain(&self.standing)
            .map(|&i| &self.consents[i])
    }

    /// This world with the partners' assurances (S1) a node holds, verified.
    pub fn with_assurances(mut self, assurances: Vec<Assurance>) -> World {
        self.assurances = assurances;
        self
    }

    /// This world with the node's contractor facilities (C1).
    pub fn with_facilities(mut self, facilities: Vec<Facility>) -> World {
        self.facilities = facilities.into_iter().map(|f| (f.id.clone(), f)).collect();
        self
    }

    /// This world with the visits the node's party authorised (V1): of `letters`, the visit
    /// authorisations whose host is the letter's writer.
    pub fn with_visits(mut self, letters: Vec<Letter>) -> World {
        self.visits = letters
            .into_iter()
            .filter(|l| l.kind == LetterKind::VisitAuthorisation)
            .filter_map(|l| Some((l.id, l.visit.filter(|v| v.host == l.from)?)))
            .collect();
        self
    }

    /// The authorised visit with this authorisation id (V1).
    pub fn visit(&self, id: &str) -> Option<&Visit> {
        self.visits.get(id)
    }

    /// The contractor facility with this id (C1).
    pub fn facility(&self, id: &str) -> Option<&Facility> {
        self.facilities.get(id)
    }

    /// The assurances (S1).
    pub fn assurances(&self) -> &[Assurance] {
        &self.assurances
    }

    /// The consent with this id.
    pub fn consent(&self, id: &str) -> Option<&Consent> {
        self.consents.iter().find(|c| c.id == id)
    }

    /// Checks that `party` has a scheme in this world.
    pub fn check_party(&self, party: PartyCode) -> Result<&Scheme, Invalid> {
        self.schemes
            .get(&party)
            .ok_or_else(|| Invalid::at("", Problem::UnknownParty(party)))
    }

    /// Checks the parties and levels an item names: its originator and level, and the holder's
    /// marking.
    pub fn check_item(&self, item: &Item) -> Result<(), Invalid> {
        let label = item.label();
        let scheme = self
            .check_party(label.originator)
            .map_err(|e| Invalid::at("label.originator", e.problem))?;
        scheme.check(&label.level, "label.level")?;
        if let Some(m) = item.marking() {
            let scheme = self
                .check_party(m.party)
                .map_err(|e| Invalid::at("marking.party", e.problem))?;
            scheme.check(&m.level, "marking.level")?;
        }
        Ok(())
    }

    /// Checks the party and clearance a user names.
    pub fn check_user(&self, user: &User) -> Result<(), Invalid> {
        let scheme = self
            .check_party(user.party)
            .map_err(|e| Invalid::at("party", e.problem))?;
        scheme.check(&user.clearance, "clearance")
    }
}
