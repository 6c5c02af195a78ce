//! The OpenAPI document of the API, generated from the handlers' annotations (utoipa) and
//! served at `/api/v1/openapi.json`.

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{
    agreements, audit, consents, incidents, items, log, reclassification, registers, stream, visits,
};
use crate::error::{ErrorBody, ErrorDetail};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "gsomia node API",
        description = "A gsomia node: agreements, items, releases, incidents and the audit log. \
                       Refusals are 403 with the rule id (docs/RULES.md) in `error.rule`; an item the caller may not read is answered 404, as one that does not exist."
    ),
    paths(
        agreements::descriptor, agreements::parties, agreements::list, agreements::get,
        agreements::event, agreements::propose, agreements::write_letter, agreements::letters, agreements::amend,
        agreements::sign_amendment,
        agreements::give_assurance, agreements::assurances_held, agreements::register_facility,
        agreements::inspect_facility, agreements::facilities_held, visits::ask, visits::authorise,
        visits::refuse, visits::findings, visits::list, items::publish, items::publish_batch, stream::stream, items::derive, items::list, items::search, items::related, items::get,
        items::release, items::destroy, items::return_item, items::add_rule, items::rules, incidents::report,
        incidents::result, incidents::list, consents::ask, consents::requests, consents::answer,
        consents::list, consents::give_standing, consents::revoke, reclassification::reclassify, registers::get, audit::list, audit::status, log::checkpoint, log::issue,
        log::inclusion, log::consistency, log::entries, log::witnessed, log::evidence,
        log::custody
    ),
    components(schemas(ErrorBody, ErrorDetail)),
    modifiers(&Bearer)
)]
struct ApiDoc;

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(components) = openapi.components.as_mut() {
            let scheme = HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build();
            components.add_security_scheme("bearer", SecurityScheme::Http(scheme));
        }
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.delete,
            ];
            for op in operations.into_iter().flatten() {
                uniform_errors(op);
            }
        }
    }
}

/// The errors every operation can answer, whatever its handler says, added where its
/// annotation leaves them out (schemathesis found them missing): 401 where a token is asked
/// for, 400 (malformed JSON or query, a path or query value of the wrong kind) where it takes
/// parameters or a body, and 422 (valid JSON of the wrong shape) where it takes a body.
fn uniform_errors(op: &mut utoipa::openapi::path::Operation) {
    use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
    let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
    let body = op.request_body.is_some();
    let params = op.parameters.as_ref().is_some_and(|p| !p.is_empty());
    let needed = [
        ("401", secured, "Missing or unknown token"),
        (
            "400",
            body || params,
            "Malformed JSON or query, or a value of the wrong kind",
        ),
        (
            "422",
            body,
            "Well-formed JSON of the wrong shape (a missing or unknown field, a wrong type)",
        ),
    ];
    for (status, applies, description) in needed {
        if applies && !op.responses.responses.contains_key(status) {
            let content = ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build();
            let response = ResponseBuilder::new()
                .description(description)
                .content("application/json", content)
                .build();
            op.responses
                .responses
                .insert(status.to_owned(), RefOr::T(response));
        }
    }
}

/// The document.
pub fn spec() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

pub(super) async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(spec())
}
