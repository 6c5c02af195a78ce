//! Visits (V1) and inspection visits (V2), as letters between the authorities
//! ([`super::correspondence`]): the visitor's party asks, naming the assurance (S1) it gave the
//! host for the visitor; the host authorises (never more than asked, and only on that assurance)
//! or refuses; after an inspection the inspecting party reports its findings. Authorising
//! creates the visitor's account at the host in the same commit, bounded by the authorisation
//! (`gsomia_core::read` refuses the rest naming V1), its token shown once.

use gsomia_core::{Action, Date, Letter, LetterKind, LevelId, PartyCode, Tag, User, Visit};
use gsomia_store::Write;
use serde_json::{Value, json};

use super::correspondence::{self, Draft};
use super::{permit, refuse};
use crate::error::ApiError;
use crate::node::Node;

/// A visit as the visitor's authority asks for it.
pub struct Asking {
    /// The agreement it is asked under.
    pub agreement: String,
    /// The rest, as the request letter carries it.
    pub visit: Visit,
    /// The visit's purpose: the letter's text.
    pub purpose: String,
}

/// What the host's authority allows, where less than was asked.
#[derive(Default)]
pub struct Allowing {
    /// A later first day.
    pub from: Option<Date>,
    /// An earlier last day.
    pub until: Option<Date>,
    /// A lower level.
    pub level: Option<LevelId>,
    /// Fewer topics.
    pub topics: Option<Vec<Tag>>,
}

/// This party's authority asks to visit `asking.visit.host`: refused (S1) unless this party
/// gave the host the named assurance for the visitor, covering the visit.
pub async fn request(node: &Node, user: &User, asking: Asking) -> Result<Value, ApiError> {
    let action = "visit.request";
    permit(node, user, Action::Correspond, action, &asking.agreement).await?;
    let known = node.world().agreement(&asking.agreement).is_some();
    // An unknown agreement is answered 404 by the letter's writing.
    if known && let Err(m) = assured(node, &asking.agreement, &asking.visit, node.party()) {
        let e = ApiError::against(gsomia_core::Rule::S1, m);
        return Err(refuse(node, user, action, &asking.agreement, e).await);
    }
    let draft = Draft {
        kind: LetterKind::VisitRequest,
        text: asking.purpose,
        answers: None,
        effective: None,
        visit: Some(asking.visit),
    };
    correspondence::write(node, user, &asking.agreement, draft).await
}

/// This party's authority authorises the visit asked for in letter `request`, within what
/// `allowing` narrows: refused (S1) unless this party holds the request's assurance, covering
/// the visit. The visitor's account is created with the letter; the answer carries its id and
/// token, shown once.
pub async fn authorise(
    node: &Node,
    user: &User,
    request: &str,
    allowing: Allowing,
) -> Result<Value, ApiError> {
    let action = "visit.authorise";
    permit(node, user, Action::Correspond, action, request).await?;
    let asked = asked(node, request, LetterKind::VisitRequest)?;
    let wanted = asked.visit.clone().ok_or_else(|| {
        ApiError::unprocessable(format!("visit request `{request}` names no visit"))
    })?;
    let visit = Visit {
        from: allowing.from.unwrap_or(wanted.from),
        until: allowing.until.unwrap_or(wanted.until),
        level: allowing.level.unwrap_or_else(|| wanted.level.clone()),
        topics: allowing.topics.unwrap_or_else(|| wanted.topics.clone()),
        ..wanted.clone()
    };
    let agreement = asked.agreement.as_str();
    let beyond = match node.world().scheme(node.party()) {
        Some(scheme) => visit.within(&wanted, scheme).err(),
        None => Some(format!("{} has no scheme here", node.party())),
    };
    if let Some(m) = beyond {
        let e = ApiError::against(gsomia_core::Rule::V1, m);
        return Err(refuse(node, user, action, request, e).await);
    }
    if let Err(m) = assured(node, agreement, &visit, asked.from) {
        let e = ApiError::against(gsomia_core::Rule::S1, m);
        return Err(refuse(node, user, action, request, e).await);
    }
    let draft = Draft {
        kind: LetterKind::VisitAuthorisation,
        text: format!(
            "{} is authorised to visit {}",
            visit.visitor, visit.facility
        ),
        answers: Some(request.to_owned()),
        effective: None,
        visit: Some(visit.clone()),
    };
    let mut token = None;
    let mut letter = correspondence::write_with(node, user, agreement, draft, |letter| {
        let visitor = User {
            id: format!(
                "visitor-{}",
                letter.id.rsplit('-').next().unwrap_or(&letter.id)
            ),
            name: visit.visitor.clone(),
            party: node.party(),
            roles: vec![],
            clearance: visit.level.clone(),
            duties: visit.topics.clone(),
            kind: gsomia_core::UserKind::Official,
            facility: None,
            visit: Some(letter.id.clone()),
        };
        let id = visitor.id.clone();
        let (secret, record) = crate::node::account(visitor, Some(visit.until))
            .map_err(|e| ApiError::unprocessable(e.to_string()))?;
        token = Some((id, secret));
        Ok(vec![Write::AddUser(record)])
    })
    .await?;
    if let Some((id, secret)) = token {
        letter["visitor"] = json!({ "user": id, "token": secret, "expires": visit.until });
    }
    Ok(letter)
}

/// This party's authority refuses the visit asked for in letter `request`, saying why.
pub async fn deny(
    node: &Node,
    user: &User,
    request: &str,
    reason: String,
) -> Result<Value, ApiError> {
    permit(node, user, Action::Correspond, "visit.refuse", request).await?;
    let asked = asked(node, request, LetterKind::VisitRequest)?;
    let draft = Draft {
        kind: LetterKind::VisitRefusal,
        text: reason,
        answers: Some(request.to_owned()),
        effective: None,
        visit: None,
    };
    correspondence::write(node, user, asked.agreement.as_str(), draft).await
}

/// This party's authority reports the findings of the inspection authorised in letter
/// `authorisation` (V2).
pub async fn findings(
    node: &Node,
    user: &User,
    authorisation: &str,
    text: String,
) -> Result<Value, ApiError> {
    permit(
        node,
        user,
        Action::Correspond,
        "visit.findings",
        authorisation,
    )
    .await?;
    let asked = asked(node, authorisation, LetterKind::VisitAuthorisation)?;
    let draft = Draft {
        kind: LetterKind::Findings,
        text,
        answers: Some(authorisation.to_owned()),
        effective: None,
        visit: None,
    };
    correspondence::write(node, user, asked.agreement.as_str(), draft).await
}

/// Every visit this node keeps a letter of (officers): each request with its answer and the
/// findings of an inspection.
pub async fn list(node: &Node, user: &User) -> Result<Value, ApiError> {
    permit(node, user, Action::Correspondence, "visit.list", "visits").await?;
    let letters = visit_letters(node)?;
    let answer_to = |id: &str| letters.iter().find(|l| l.answers.as_deref() == Some(id));
    let visits: Vec<Value> = letters
        .iter()
        .filter(|l| l.kind == LetterKind::VisitRequest)
        .map(|request| {
            let answer = answer_to(&request.id);
            let findings = answer.and_then(|a| answer_to(&a.id));
            json!({ "request": request, "answer": answer, "findings": findings })
        })
        .collect();
    Ok(json!({ "visits": visits }))
}

/// The letters of visits, under every agreement of this party's.
fn visit_letters(node: &Node) -> Result<Vec<Letter>, ApiError> {
    let mut letters = vec![];
    for a in node.world().agreements() {
        let held = node.store().letters(a.id().as_str())?;
        letters.extend(held.into_iter().filter(|l| l.kind.of_a_visit()));
    }
    Ok(letters)
}

/// The letter `id` of kind `kind` held here.
fn asked(node: &Node, id: &str, kind: LetterKind) -> Result<Letter, ApiError> {
    visit_letters(node)?
        .into_iter()
        .find(|l| l.id == id && l.kind == kind)
        .ok_or_else(|| ApiError::not_found(format!("no {kind} `{id}` is held here")))
}

/// Whether the assurance `visit` names, as held here, vouches for `requester`'s visitor under
/// `agreement` (S1).
fn assured(
    node: &Node,
    agreement: &str,
    visit: &Visit,
    requester: PartyCode,
) -> Result<(), String> {
    let world = node.world();
    let a = world
        .agreement(agreement)
        .ok_or_else(|| format!("no agreement `{agreement}` of this party's"))?;
    let scheme = world
        .scheme(visit.host)
        .ok_or_else(|| format!("{} has no scheme here", visit.host))?;
    let assurance = world
        .assurances()
        .iter()
        .find(|s| s.id == visit.assurance)
        .ok_or_else(|| format!("no assurance `{}` is held here", visit.assurance))?;
    visit.assured_by(assurance, a, requester, scheme)
}
