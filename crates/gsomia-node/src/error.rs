//! Errors: [`NodeError`] for the node's own operations, [`ApiError`] the one error type at the
//! HTTP edge, answered as `{"error": {"code", "message", "rule"?}}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use gsomia_core::{Refusal, Rule};
use gsomia_store::StoreError;

/// What can go wrong running a node.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// Bad input from the operator (a file, an argument).
    #[error("{0}")]
    Input(String),
    /// A file could not be read or written.
    #[error("{0}")]
    Io(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An error answered over HTTP.
#[derive(Debug)]
pub struct ApiError {
    /// The status.
    pub status: StatusCode,
    /// A stable code (`bad_json`, `forbidden`, `not_found`, …).
    pub code: &'static str,
    /// For a person.
    pub message: String,
    /// The rule of a refusal (docs/RULES.md).
    pub rule: Option<Rule>,
}

impl ApiError {
    /// An error with this status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            rule: None,
        }
    }

    /// 400.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 422: well-formed but not acceptable.
    pub fn unprocessable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message)
    }

    /// 422 naming the rule the request goes against.
    pub fn against(rule: Rule, message: impl Into<String>) -> Self {
        ApiError {
            rule: Some(rule),
            ..Self::unprocessable(message)
        }
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 403 naming the rule that refused.
    pub fn refused(refusal: &Refusal) -> Self {
        ApiError {
            status: StatusCode::FORBIDDEN,
            code: "refused",
            message: refusal.message.clone(),
            rule: Some(refusal.rule),
        }
    }

    /// 403 for a role the caller lacks.
    pub fn forbidden(rule: Rule, message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::FORBIDDEN,
            code: "forbidden",
            message: message.into(),
            rule: Some(rule),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "conflict", m),
            StoreError::NotFound(m) => ApiError::not_found(m),
            StoreError::Unavailable(m) => {
                tracing::warn!(error = %m, "the database is unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the database is unavailable (a restart or a failover); try again",
                )
            }
            other => {
                // Logged in full, answered with nothing that leaks.
                tracing::error!(error = %other, "store failure");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error",
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = serde_json::json!({ "code": self.code, "message": self.message });
        if let Some(rule) = self.rule {
            error["rule"] = rule.id().into();
        }
        (self.status, Json(serde_json::json!({ "error": error }))).into_response()
    }
}

/// The error body every endpoint answers with, for the OpenAPI document.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// The inside of [`ErrorBody`].
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// A stable code: `bad_json`, `invalid`, `unauthenticated`, `forbidden`, `refused`,
    /// `not_found`, `conflict`, `contradiction`, `destroyed`, `too_large`,
    /// `unsupported_media_type`, `internal`.
    pub code: String,
    /// For a person: names the problem.
    pub message: String,
    /// For a refusal, the rule id (`R4`, `P1`, …; see docs/RULES.md).
    pub rule: Option<String>,
}
