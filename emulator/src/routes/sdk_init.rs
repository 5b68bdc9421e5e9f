//! What the official SDK calls while `ControlHub(...)` starts (controlhub-api.md §1.2, §5) and
//! shortly after: ASTER org info, the landing page, `currentUser`, `roles`, the OpenAPI documents,
//! UI translations, the two background engine listings, server info and organizations.
//!
//! The org-info `landingUrl` points back at this emulator, so `aster_url=<emulator url>` is all a
//! client needs. Must not change state.

use std::collections::HashMap;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};

use crate::auth::Caller;
use crate::context::AppState;
use crate::errors::ApiError;
use crate::extract::{PathParams, QueryParams};
use crate::paths;
use crate::roles::{self, RoleJson};
use crate::wire::principal::SsoPrincipalJson;
use crate::wire::users::OrganizationJson;
use crate::wire::{Wrapper, wants_wrapper};

/// Version reported by `/rest/v1/server/info`.
pub const SERVER_VERSION: &str = concat!("emulator-", env!("CARGO_PKG_VERSION"));

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct OrgInfo {
    id: String,
    name: String,
    landing_url: String,
}

/// ASTER's error shape (`{"status","errors":[{"message"}]}`).
#[derive(Debug, Serialize)]
struct AsterError {
    status: u16,
    errors: Vec<AsterMessage>,
}

#[derive(Debug, Serialize)]
struct AsterMessage {
    message: String,
}

#[derive(Debug, serde::Deserialize)]
pub struct OrgIdPath {
    org_id: String,
}

/// `GET /api/security/public/v3/orgs/{o}/info` (unauthenticated).
pub async fn org_info(
    State(state): State<AppState>,
    headers: HeaderMap,
    PathParams(path): PathParams<OrgIdPath>,
) -> Response {
    let org = state.store.read(|data| data.org.clone());
    if org.id.as_str() != path.org_id {
        let message = format!("organization {} not found", path.org_id);
        let body = AsterError {
            status: 404,
            errors: vec![AsterMessage { message }],
        };
        return (StatusCode::NOT_FOUND, Json(body)).into_response();
    }
    let landing_url = format!("{}{}", state.base_url(&headers), paths::LANDING);
    let info = OrgInfo {
        id: org.id.to_string(),
        name: org.name,
        landing_url,
    };
    Json(json!({ "data": info })).into_response()
}

/// `GET /security/public-rest/v1/aster/landing`: a plain page naming the emulator.
pub async fn landing() -> &'static str {
    "StreamSets Control Hub emulator\n"
}

/// `GET /security/rest/v1/currentUser`: the full `SSOPrincipalJson` of the credential's user.
pub async fn current_user(
    State(state): State<AppState>,
    headers: HeaderMap,
    Caller(caller): Caller,
) -> Json<SsoPrincipalJson> {
    Json(SsoPrincipalJson::new(&caller, state.base_url(&headers)))
}

/// `GET /security/rest/v1/roles`: `org-admin` only for org admins.
pub async fn roles(Caller(caller): Caller) -> Json<Vec<RoleJson>> {
    Json(roles::visible_to(caller.is_org_admin()))
}

/// `GET /{app}/rest/openapi.json`.
pub async fn openapi(state: AppState, app: &'static str) -> Response {
    match state.openapi.get(app) {
        Some(bytes) => ([(header::CONTENT_TYPE, "application/json")], Body::from(bytes)).into_response(),
        None => ApiError::RouteNotFound.into_response(),
    }
}

/// `GET /assets/i18n/en.json`: the SDK only needs a JSON object.
pub async fn translations() -> Json<Value> {
    Json(json!({}))
}

/// `GET /jobrunner/rest/v1/sdcs?…`: no engines are registered.
pub async fn engines(
    Caller(_caller): Caller,
    QueryParams(query): QueryParams<HashMap<String, String>>,
) -> Response {
    if wants_wrapper(query.get("withWrapper").map(String::as_str)) {
        Json(Wrapper::<Value>::page(0, 0, Vec::new())).into_response()
    } else {
        Json(Vec::<Value>::new()).into_response()
    }
}

/// `GET /rest/v1/server/info`: `sch.version` reads `version`.
pub async fn server_info() -> Json<Value> {
    Json(json!({ "version": SERVER_VERSION, "product": "StreamSets Control Hub emulator" }))
}

/// `GET /security/rest/v1/organizations`: the caller's organization.
pub async fn organizations(
    State(state): State<AppState>,
    Caller(_caller): Caller,
    QueryParams(query): QueryParams<HashMap<String, String>>,
) -> Response {
    let orgs = state
        .store
        .read(|data| vec![OrganizationJson::new(&data.org, &data.bootstrap.user_id)]);
    if wants_wrapper(query.get("withWrapper").map(String::as_str)) {
        Json(Wrapper::page(orgs.len(), 0, orgs)).into_response()
    } else {
        Json(orgs).into_response()
    }
}
