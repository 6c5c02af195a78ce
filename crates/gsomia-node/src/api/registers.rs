//! Registers (G1) over the API; made by `crate::service::registers`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use gsomia_core::Date;
use serde::Deserialize;

use super::shapes;
use super::{AppState, Caller, Params};
use crate::error::{ApiError, ErrorBody};
use crate::service::registers::{self, Register};

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct RegisterQuery {
    /// The day (`YYYY-MM-DD`) the register stands at, at its end; today if absent.
    #[param(value_type = Option<String>)]
    at: Option<Date>,
    /// `json` (the signed document, the default) or `csv` (signed in `x-gsomia-signature`).
    format: Option<String>,
}

/// The register of cleared and authorised people, or the inventory of items held from each
/// partner (G1), on a day, signed by this node's key.
#[utoipa::path(get, path = "/api/v1/registers/{which}", tag = "registers", security(("bearer" = [])),
    params(("which" = String, Path, description = "`people` or `holdings`", example = "people"), RegisterQuery),
    responses((status = 200, description = "The signed register: columns and rows (JSON), or CSV with its signature in `x-gsomia-signature`",
               content((shapes::Register = "application/json"), (String = "text/csv"))),
              (status = 400, description = "A malformed day or an unknown format", body = ErrorBody), (status = 403, description = "Not an officer", body = ErrorBody),
              (status = 404, description = "No such register", body = ErrorBody), (status = 401, description = "Missing or unknown token", body = ErrorBody)))]
pub(super) async fn get(
    State(node): State<AppState>,
    Caller(user): Caller,
    Path(which): Path<String>,
    Params(q): Params<RegisterQuery>,
) -> Result<Response, ApiError> {
    let register = Register::named(&which).ok_or_else(|| {
        ApiError::not_found(format!(
            "no register `{which}`: there are `people` and `holdings`"
        ))
    })?;
    let csv = match q.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "format: `{other}` is neither `json` nor `csv`"
            )));
        }
    };
    let at = q.at.unwrap_or_else(|| node.today());
    let doc = registers::make_for(&node, &user, register, at).await?;
    if !csv {
        return Ok(Json(doc).into_response());
    }
    let (text, signature) = registers::csv(&node, &doc);
    let mut resp = (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/csv; charset=utf-8"),
        )],
        text,
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&signature) {
        resp.headers_mut().insert("x-gsomia-signature", v);
    }
    Ok(resp)
}
