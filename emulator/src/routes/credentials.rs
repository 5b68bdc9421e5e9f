//! The API-credential endpoints of the security app (controlhub-api.md §4): list own, list for the
//! org (org admins, optional `?userId=`), create, update (POST) and delete.
//!
//! Thin: authenticate, check the org in the path, translate the body, call the store, shape the
//! JSON. Must not hold rules (those are `state::rules`).

use axum::Json;
use axum::extract::State;
use serde::Deserialize;

use crate::auth::{Caller, require_org_admin, require_own_org};
use crate::context::AppState;
use crate::errors::ApiError;
use crate::extract::{JsonBody, PathParams, QueryParams};
use crate::ids::{CredentialId, UserId};
use crate::wire::credentials::{ApiCredentialsJson, ApiCredentialsRequestJson};

#[derive(Debug, Deserialize)]
pub struct OrgPath {
    org_id: String,
}

#[derive(Debug, Deserialize)]
pub struct CredentialPath {
    org_id: String,
    credential_id: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrgListQuery {
    user_id: Option<String>,
}

type CredentialList = Json<Vec<ApiCredentialsJson>>;

/// `GET …/api-user-credentials`: the caller's own credentials (owner = caller), tokens null.
pub async fn list_own(
    State(state): State<AppState>,
    Caller(caller): Caller,
    PathParams(path): PathParams<OrgPath>,
) -> Result<CredentialList, ApiError> {
    require_own_org(&caller, &path.org_id)?;
    let lag = state.faults.list_lag();
    let listed = state.store.list_owned(&caller.user_id, lag);
    Ok(Json(listed.iter().map(ApiCredentialsJson::listed).collect()))
}

/// `GET …/api-user-credentials-for-org[?userId=]`: every credential of the org (org admins only).
pub async fn list_org(
    State(state): State<AppState>,
    Caller(caller): Caller,
    PathParams(path): PathParams<OrgPath>,
    QueryParams(query): QueryParams<OrgListQuery>,
) -> Result<CredentialList, ApiError> {
    require_own_org(&caller, &path.org_id)?;
    require_org_admin(&caller, "list the API credentials of the organization")?;
    let owner = query.user_id.filter(|id| !id.is_empty()).map(UserId::new);
    let lag = state.faults.list_lag();
    let listed = match &owner {
        Some(owner) => state.store.list_owned(owner, lag),
        None => state.store.list_all(lag),
    };
    Ok(Json(listed.iter().map(ApiCredentialsJson::listed).collect()))
}

/// `POST …/api-user-credentials`: creates a credential and returns it with its token.
pub async fn create(
    State(state): State<AppState>,
    Caller(caller): Caller,
    PathParams(path): PathParams<OrgPath>,
    JsonBody(body): JsonBody<ApiCredentialsRequestJson>,
) -> Result<Json<ApiCredentialsJson>, ApiError> {
    require_own_org(&caller, &path.org_id)?;
    let mut request = body.into_create();
    if let Some(owner) = state.faults.create_owner_override() {
        request.user_id = Some(UserId::new(owner));
    }
    let lag = state.faults.list_lag();
    let issued = state.store.create_credential(&caller, request, lag).await?;
    tracing::debug!(credential = %issued.credential.id, owner = %issued.credential.user_id, "created API credential");
    Ok(Json(ApiCredentialsJson::new(&issued.credential, issued.token)))
}

/// `POST …/api-user-credentials/{id}`: rename / activate / deactivate / regenerate.
pub async fn update(
    State(state): State<AppState>,
    Caller(caller): Caller,
    PathParams(path): PathParams<CredentialPath>,
    JsonBody(body): JsonBody<ApiCredentialsRequestJson>,
) -> Result<Json<ApiCredentialsJson>, ApiError> {
    require_own_org(&caller, &path.org_id)?;
    let id = CredentialId::new(path.credential_id);
    let delay = state.faults.revocation_delay();
    let issued = state
        .store
        .update_credential(&caller, &id, body.into_update(), delay, state.faults.list_lag())
        .await?;
    tracing::debug!(credential = %id, regenerated = issued.token.is_some(), "updated API credential");
    Ok(Json(ApiCredentialsJson::new(&issued.credential, issued.token)))
}

/// `DELETE …/api-user-credentials/{id}`: returns the deleted credential (token null).
pub async fn delete(
    State(state): State<AppState>,
    Caller(caller): Caller,
    PathParams(path): PathParams<CredentialPath>,
) -> Result<Json<ApiCredentialsJson>, ApiError> {
    require_own_org(&caller, &path.org_id)?;
    let id = CredentialId::new(path.credential_id);
    let delay = state.faults.revocation_delay();
    let deleted = state.store.delete_credential(&caller, &id, delay).await?;
    tracing::debug!(credential = %id, "deleted API credential");
    Ok(Json(ApiCredentialsJson::listed(&deleted)))
}
