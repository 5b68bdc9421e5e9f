//! HTTP error responses: every refusal is a status code plus an `ISSUES` body
//! `{"ISSUES":[{"code":"<STABLE_CODE>","message":"…"}]}` (controlhub-api.md §6.1, §10).
//!
//! Owns the mapping from domain errors to status codes and stable codes; the README lists the same
//! table. Deterministic refusals never use 429 or 5xx (the SDK retries those). Messages never
//! contain tokens.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::state::persist::PersistError;
use crate::state::{StateError, StoreError};

/// The challenge header sent with every 401, as Control Hub's SSO library does.
pub const WWW_AUTHENTICATE_VALUE: &str = "dpm";

#[derive(Debug, Serialize)]
pub struct Issue {
    pub code: String,
    pub message: String,
}

#[derive(Debug, Serialize)]
pub struct IssuesBody {
    #[serde(rename = "ISSUES")]
    pub issues: Vec<Issue>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("User not authenticated")]
    Unauthenticated,
    #[error("organization {0} in the request path is not the caller's organization")]
    OrgMismatch(String),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    NotDurable(#[from] PersistError),
    #[error("invalid request body: {0}")]
    InvalidBody(String),
    #[error("the request body is larger than the emulator accepts")]
    BodyTooLarge,
    #[error("invalid {0} parameters")]
    InvalidParameter(&'static str),
    #[error("no such resource")]
    RouteNotFound,
    #[error("method not allowed for this resource")]
    MethodNotAllowed,
    #[error("the emulator injected a server error (fault injection)")]
    InjectedFault,
    #[error("rate limited by the emulator (fault injection); retry after {0} s")]
    RateLimited(u64),
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Rejected(e) => ApiError::State(e),
            StoreError::NotDurable(e) => ApiError::NotDurable(e),
        }
    }
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthenticated => StatusCode::UNAUTHORIZED,
            ApiError::OrgMismatch(_) => StatusCode::FORBIDDEN,
            ApiError::State(e) => state_status(e),
            ApiError::NotDurable(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::InvalidBody(_) | ApiError::InvalidParameter(_) => StatusCode::BAD_REQUEST,
            ApiError::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::RouteNotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::InjectedFault => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
        }
    }

    /// The stable `ISSUES` code (the quota refusal's is configurable).
    pub fn code(&self) -> &str {
        match self {
            ApiError::Unauthenticated => "SSO_01",
            ApiError::OrgMismatch(_) => "SECURITY_ORGANIZATION_MISMATCH",
            ApiError::State(e) => state_code(e),
            ApiError::NotDurable(_) => "EMULATOR_STATE_NOT_DURABLE",
            ApiError::InvalidBody(_) => "REST_INVALID_JSON",
            ApiError::InvalidParameter(_) => "REST_INVALID_PARAMETER",
            ApiError::BodyTooLarge => "REST_BODY_TOO_LARGE",
            ApiError::RouteNotFound => "REST_NOT_FOUND",
            ApiError::MethodNotAllowed => "REST_METHOD_NOT_ALLOWED",
            ApiError::InjectedFault => "EMULATOR_INJECTED_FAULT",
            ApiError::RateLimited(_) => "EMULATOR_RATE_LIMITED",
        }
    }
}

fn state_status(error: &StateError) -> StatusCode {
    match error {
        StateError::CredentialNotFound(_) | StateError::UserNotFound(_) => StatusCode::NOT_FOUND,
        StateError::NotOrgAdmin(_)
        | StateError::NotCredentialOwner(_)
        | StateError::ServiceAccountsDisabled
        | StateError::RegenerateForOthers(_)
        | StateError::RenameForOthers(_) => StatusCode::FORBIDDEN,
        StateError::TargetUserUnusable(_)
        | StateError::CredentialLimit { .. }
        | StateError::LabelRequired
        | StateError::CannotDeleteSelf
        | StateError::Invalid(_) => StatusCode::BAD_REQUEST,
        StateError::Token(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

fn state_code(error: &StateError) -> &str {
    match error {
        StateError::CredentialNotFound(_) => "SECURITY_CREDENTIAL_NOT_FOUND",
        StateError::UserNotFound(_) => "SECURITY_USER_NOT_FOUND",
        StateError::NotOrgAdmin(_) => "SECURITY_ORG_ADMIN_REQUIRED",
        StateError::NotCredentialOwner(_) => "SECURITY_CREDENTIAL_NOT_OWNED",
        StateError::ServiceAccountsDisabled => "SECURITY_SERVICE_ACCOUNTS_DISABLED",
        StateError::RegenerateForOthers(_) => "SECURITY_REGENERATE_FOR_OTHERS_FORBIDDEN",
        StateError::RenameForOthers(_) => "SECURITY_RENAME_FORBIDDEN",
        StateError::TargetUserUnusable(_) => "SECURITY_INVALID_TARGET_USER",
        StateError::CredentialLimit { code, .. } => code,
        StateError::LabelRequired => "SECURITY_LABEL_REQUIRED",
        StateError::CannotDeleteSelf => "SECURITY_CANNOT_DELETE_SELF",
        StateError::Invalid(_) => "REST_INVALID_REQUEST",
        StateError::Token(_) => "EMULATOR_TOKEN_MINTING_FAILED",
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() && !matches!(self, ApiError::InjectedFault) {
            tracing::error!(code = self.code(), error = %self, "request failed");
        } else {
            tracing::debug!(code = self.code(), status = status.as_u16(), error = %self, "request refused");
        }
        let body = IssuesBody {
            issues: vec![Issue {
                code: self.code().to_string(),
                message: self.to_string(),
            }],
        };
        let mut response = (status, Json(body)).into_response();
        let headers = response.headers_mut();
        match self {
            ApiError::Unauthenticated => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(WWW_AUTHENTICATE_VALUE),
                );
            }
            ApiError::RateLimited(seconds) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            }
            // The unread rest of the body makes the connection unusable.
            ApiError::BodyTooLarge => {
                headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            _ => {}
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::UserId;

    #[test]
    fn deterministic_refusals_never_use_retryable_statuses() {
        let refusals = [
            ApiError::Unauthenticated,
            ApiError::OrgMismatch("o".into()),
            ApiError::State(StateError::LabelRequired),
            ApiError::State(StateError::CredentialLimit {
                owner: UserId::new("u@o"),
                limit: 10,
                code: "X".into(),
                message: "x".into(),
            }),
            ApiError::State(StateError::NotOrgAdmin("x")),
            ApiError::InvalidBody("x".into()),
            ApiError::RouteNotFound,
            ApiError::MethodNotAllowed,
        ];
        for refusal in refusals {
            let status = refusal.status();
            assert!(
                status.is_client_error() && status != StatusCode::TOO_MANY_REQUESTS,
                "{refusal:?}"
            );
        }
    }

    #[test]
    fn the_limit_message_states_the_limit() {
        let refused = crate::state::rules::check_limit(
            &UserId::new("u@o"),
            10,
            &crate::state::model::Settings::default(),
        );
        let Err(refusal) = refused else {
            panic!("the limit must refuse an eleventh credential")
        };
        let error = ApiError::State(refusal);
        assert_eq!(error.code(), "SECURITY_API_CREDENTIALS_LIMIT");
        assert!(error.to_string().contains("10"));
    }

    #[test]
    fn the_limit_code_and_message_are_configurable() {
        let error = ApiError::State(StateError::CredentialLimit {
            owner: UserId::new("u@o"),
            limit: 10,
            code: "SECURITY_0042".into(),
            message: "Validation failed".into(),
        });
        assert_eq!(error.code(), "SECURITY_0042");
        assert_eq!(error.to_string(), "Validation failed");
    }

    #[test]
    fn unauthenticated_responses_carry_the_dpm_challenge() {
        let response = ApiError::Unauthenticated.into_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            response
                .headers()
                .get(header::WWW_AUTHENTICATE)
                .map(|v| v.as_bytes()),
            Some(&b"dpm"[..])
        );
    }
}
