//! Header authentication (controlhub-api.md §2, §9): the [`Caller`] and [`OrgAdmin`] extractors.
//!
//! A request authenticates when it carries `X-Requested-By` (any value, as the SSO library wants a
//! REST-call marker), `X-SS-App-Component-Id` and `X-SS-App-Auth-Token`, and the store accepts the
//! pair. Every failure is the same `401 SSO_01` with `WWW-Authenticate: dpm`; the precise reason is
//! logged at debug level, never the token. Must not check anything beyond identity and org-admin.

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::request::Parts;

use crate::context::AppState;
use crate::errors::ApiError;
use crate::state::model::Principal;
use crate::state::{AuthFailure, Store, rules};

pub const REQUESTED_BY: &str = "x-requested-by";
pub const COMPONENT_ID: &str = "x-ss-app-component-id";
pub const AUTH_TOKEN: &str = "x-ss-app-auth-token";

/// The authenticated principal of a request.
#[derive(Debug)]
pub struct Caller(pub Principal);

/// An authenticated principal holding the `org-admin` role (else `403`).
#[derive(Debug)]
pub struct OrgAdmin(pub Principal);

fn header<'a>(headers: &'a HeaderMap, name: &'static str) -> Result<&'a str, AuthFailure> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .ok_or(AuthFailure::MissingHeader(name))
}

/// Checks the credential headers of a request against the store.
pub fn authenticate(headers: &HeaderMap, store: &Store) -> Result<Principal, AuthFailure> {
    header(headers, REQUESTED_BY)?;
    let component_id = header(headers, COMPONENT_ID)?.trim();
    let token = header(headers, AUTH_TOKEN)?.trim();
    if component_id.is_empty() {
        return Err(AuthFailure::MissingHeader(COMPONENT_ID));
    }
    if token.is_empty() {
        return Err(AuthFailure::MissingHeader(AUTH_TOKEN));
    }
    store.authenticate(component_id, token)
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        match authenticate(&parts.headers, &state.store) {
            Ok(principal) => Ok(Caller(principal)),
            Err(reason) => {
                tracing::debug!(%reason, path = parts.uri.path(), "authentication failed");
                Err(ApiError::Unauthenticated)
            }
        }
    }
}

impl FromRequestParts<AppState> for OrgAdmin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Caller(principal) = Caller::from_request_parts(parts, state).await?;
        rules::require_org_admin(&principal, "use the emulator admin API").map_err(ApiError::State)?;
        Ok(OrgAdmin(principal))
    }
}

/// `403` unless the organization in the path is the caller's.
pub fn require_own_org(caller: &Principal, org_in_path: &str) -> Result<(), ApiError> {
    if caller.org_id.as_str() == org_in_path {
        Ok(())
    } else {
        Err(ApiError::OrgMismatch(org_in_path.to_string()))
    }
}

/// `403` unless the caller is an org admin.
pub fn require_org_admin(caller: &Principal, action: &'static str) -> Result<(), ApiError> {
    rules::require_org_admin(caller, action).map_err(ApiError::State)
}
