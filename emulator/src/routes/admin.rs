//! The emulator's own admin API under `/emulator/v1/` (not part of Control Hub): seed users and
//! their credentials, change org settings, inject faults, read and reset request statistics.
//! Every endpoint requires an org-admin credential in the usual headers.
//!
//! Thin translation to the store, faults and stats. Must not bypass `state` rules except where
//! documented (issuing a credential for a user as if that user had created it).

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};

use crate::auth::OrgAdmin;
use crate::context::AppState;
use crate::errors::ApiError;
use crate::extract::{JsonBody, PathParams};
use crate::faults::FaultConfig;
use crate::ids::{CredentialId, UserId};
use crate::profile::Profile;
use crate::state::SettingsPatch;
use crate::state::model::Settings;
use crate::state::users::{NewUser, UserChanges};
use crate::stats::StatsSnapshot;
use crate::wire::credentials::ApiCredentialsJson;
use crate::wire::users::UserJson;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateUserBody {
    email: String,
    name: Option<String>,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    service_account: bool,
    active: Option<bool>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreatedUser {
    user_id: UserId,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateUserBody {
    email: Option<String>,
    name: Option<String>,
    roles: Option<Vec<String>>,
    active: Option<bool>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeletedUserJson {
    user_id: UserId,
    deleted_credentials: Vec<CredentialId>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssueBody {
    label: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct UserPath {
    user_id: String,
}

/// `POST /emulator/v1/users` → `{"userId"}`.
pub async fn create_user(
    State(state): State<AppState>,
    OrgAdmin(caller): OrgAdmin,
    JsonBody(body): JsonBody<CreateUserBody>,
) -> Result<Json<CreatedUser>, ApiError> {
    let new = NewUser {
        email: body.email,
        name: body.name,
        roles: body.roles,
        service_account: body.service_account,
        active: body.active,
    };
    let user = state.store.create_user(&caller, new).await?;
    tracing::info!(user = %user.id, service_account = user.service_account, "admin API created user");
    Ok(Json(CreatedUser { user_id: user.id }))
}

/// `PUT /emulator/v1/users/{userId}`: partial update (`email`, `name`, `roles`, `active`).
pub async fn update_user(
    State(state): State<AppState>,
    OrgAdmin(_caller): OrgAdmin,
    PathParams(path): PathParams<UserPath>,
    JsonBody(body): JsonBody<UpdateUserBody>,
) -> Result<Json<UserJson>, ApiError> {
    let changes = UserChanges {
        email: body.email,
        name: body.name,
        roles: body.roles,
        active: body.active,
    };
    let user = state
        .store
        .update_user(&UserId::new(path.user_id), changes)
        .await?;
    let org = state.store.read(|data| data.org.id.clone());
    Ok(Json(UserJson::new(&user, &org)))
}

/// `DELETE /emulator/v1/users/{userId}`: deletes the user and every credential it owns or registered.
pub async fn delete_user(
    State(state): State<AppState>,
    OrgAdmin(caller): OrgAdmin,
    PathParams(path): PathParams<UserPath>,
) -> Result<Json<DeletedUserJson>, ApiError> {
    let deleted = state
        .store
        .delete_user(&caller, &UserId::new(path.user_id))
        .await?;
    tracing::info!(user = %deleted.user.id, credentials = deleted.credentials.len(), "admin API deleted user");
    Ok(Json(DeletedUserJson {
        user_id: deleted.user.id,
        deleted_credentials: deleted.credentials,
    }))
}

/// `POST /emulator/v1/users/{userId}/credentials {"label"}`: a credential the user "created in the UI".
pub async fn issue_credential(
    State(state): State<AppState>,
    OrgAdmin(_caller): OrgAdmin,
    PathParams(path): PathParams<UserPath>,
    JsonBody(body): JsonBody<IssueBody>,
) -> Result<Json<ApiCredentialsJson>, ApiError> {
    let user = UserId::new(path.user_id);
    let issued = state
        .store
        .issue_for_user(&user, body.label.unwrap_or_default(), state.faults.list_lag())
        .await?;
    Ok(Json(ApiCredentialsJson::new(&issued.credential, issued.token)))
}

pub async fn get_settings(State(state): State<AppState>, OrgAdmin(_caller): OrgAdmin) -> Json<Settings> {
    Json(state.store.read(|data| data.settings.clone()))
}

/// `PUT /emulator/v1/settings`: partial update, returns the full settings.
pub async fn put_settings(
    State(state): State<AppState>,
    OrgAdmin(_caller): OrgAdmin,
    JsonBody(patch): JsonBody<SettingsPatch>,
) -> Result<Json<Settings>, ApiError> {
    let settings = state.store.update_settings(patch).await?;
    tracing::info!(?settings, "admin API changed settings");
    Ok(Json(settings))
}

pub async fn get_faults(State(state): State<AppState>, OrgAdmin(_caller): OrgAdmin) -> Json<FaultConfig> {
    Json(state.faults.get())
}

/// `PUT /emulator/v1/faults`: replaces the whole fault configuration; absent fields take the
/// profile's baseline (`{}` clears every fault under the default profile).
pub async fn put_faults(
    State(state): State<AppState>,
    OrgAdmin(_caller): OrgAdmin,
    JsonBody(body): JsonBody<serde_json::Map<String, serde_json::Value>>,
) -> Result<Json<FaultConfig>, ApiError> {
    let baseline = state.profile.read().fault_baseline();
    let mut merged = match serde_json::to_value(&baseline) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    merged.extend(body);
    let config: FaultConfig = serde_json::from_value(serde_json::Value::Object(merged))
        .map_err(|e| ApiError::InvalidBody(e.to_string()))?;
    let config = state.faults.set(config).map_err(ApiError::InvalidBody)?;
    tracing::info!(?config, "admin API changed faults");
    Ok(Json(config))
}

/// `DELETE /emulator/v1/faults`: clears every fault (back to the profile's baseline).
pub async fn clear_faults(State(state): State<AppState>, OrgAdmin(_caller): OrgAdmin) -> Json<FaultConfig> {
    let cleared = state.profile.read().fault_baseline();
    // The default configuration is always valid.
    let _ = state.faults.set(cleared.clone());
    Json(cleared)
}

pub async fn get_stats(State(state): State<AppState>, OrgAdmin(_caller): OrgAdmin) -> Json<StatsSnapshot> {
    Json(state.stats.snapshot())
}

/// `DELETE /emulator/v1/stats`: resets the counts, returns the (now empty) snapshot.
pub async fn reset_stats(State(state): State<AppState>, OrgAdmin(_caller): OrgAdmin) -> Json<StatsSnapshot> {
    state.stats.reset();
    Json(state.stats.snapshot())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileBody {
    profile: Profile,
}

/// The profile with what it sets.
#[derive(Debug, Serialize)]
pub struct ProfileJson {
    profile: Profile,
    settings: Settings,
    faults: FaultConfig,
}

/// `GET /emulator/v1/profile`.
pub async fn get_profile(State(state): State<AppState>, OrgAdmin(_caller): OrgAdmin) -> Json<ProfileJson> {
    Json(ProfileJson {
        profile: *state.profile.read(),
        settings: state.store.read(|data| data.settings.clone()),
        faults: state.faults.get(),
    })
}

/// `PUT /emulator/v1/profile {"profile":"strict"|"default"}`: sets the settings and faults of the
/// open behaviours (other settings and faults are kept) and the fault baseline.
pub async fn put_profile(
    State(state): State<AppState>,
    OrgAdmin(_caller): OrgAdmin,
    JsonBody(body): JsonBody<ProfileBody>,
) -> Result<Json<ProfileJson>, ApiError> {
    let profile = body.profile;
    let settings = state.store.apply_profile(profile).await?;
    *state.profile.write() = profile;
    let mut faults = state.faults.get();
    profile.apply_to_faults(&mut faults);
    let faults = state.faults.set(faults).map_err(ApiError::InvalidBody)?;
    tracing::info!(?profile, "admin API changed the profile");
    Ok(Json(ProfileJson {
        profile,
        settings,
        faults,
    }))
}
