//! Users and organization configuration of the security app (controlhub-api.md §8):
//! `GET …/users` (paginated, filtered), `GET …/user/{id}` and `GET …/configs`.
//!
//! Read-only; users are created through the emulator's admin API. Must not change state.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::auth::{Caller, require_own_org};
use crate::context::AppState;
use crate::errors::ApiError;
use crate::extract::{PathParams, QueryParams};
use crate::ids::UserId;
use crate::state::StateError;
use crate::state::users::UserQuery;
use crate::wire::users::{OrganizationConfigJson, UserJson, configs};
use crate::wire::{Wrapper, wants_wrapper};

#[derive(Debug, Deserialize)]
pub struct OrgPath {
    org_id: String,
}

#[derive(Debug, Deserialize)]
pub struct UserPath {
    org_id: String,
    user_id: String,
}

/// The query the SDK sends (`offset, len, orderBy, order, active, filterText, deleted, withWrapper`).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsersQuery {
    offset: Option<i64>,
    len: Option<i64>,
    order_by: Option<String>,
    order: Option<String>,
    active: Option<String>,
    filter_text: Option<String>,
    deleted: Option<String>,
    with_wrapper: Option<String>,
}

fn flag(value: Option<&str>, name: &'static str) -> Result<Option<bool>, ApiError> {
    match value.map(str::to_ascii_lowercase).as_deref() {
        None | Some("") => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(_) => Err(ApiError::InvalidParameter(name)),
    }
}

impl UsersQuery {
    fn to_query(&self) -> Result<UserQuery, ApiError> {
        Ok(UserQuery {
            offset: self.offset.unwrap_or(0).max(0) as usize,
            len: self.len.filter(|len| *len >= 0).map(|len| len as usize),
            order_by: self.order_by.clone(),
            descending: self
                .order
                .as_deref()
                .is_some_and(|o| o.eq_ignore_ascii_case("DESC")),
            active: flag(self.active.as_deref(), "active")?,
            deleted: flag(self.deleted.as_deref(), "deleted")?.unwrap_or(false),
            filter_text: self.filter_text.clone(),
        })
    }
}

/// `GET …/users`: a wrapper `{"totalCount","offset","len","data"}` with `withWrapper=true`, else an array.
pub async fn list(
    State(state): State<AppState>,
    Caller(caller): Caller,
    PathParams(path): PathParams<OrgPath>,
    QueryParams(query): QueryParams<UsersQuery>,
) -> Result<Response, ApiError> {
    require_own_org(&caller, &path.org_id)?;
    let filter = query.to_query()?;
    let (total, users) = state.store.read(|data| {
        let page = data.list_users(&filter);
        (
            page.total,
            page.users
                .into_iter()
                .map(|u| UserJson::new(u, &data.org.id))
                .collect::<Vec<_>>(),
        )
    });
    if wants_wrapper(query.with_wrapper.as_deref()) {
        Ok(Json(Wrapper::page(total, filter.offset, users)).into_response())
    } else {
        Ok(Json(users).into_response())
    }
}

/// `GET …/user/{userId}`.
pub async fn get(
    State(state): State<AppState>,
    Caller(caller): Caller,
    PathParams(path): PathParams<UserPath>,
) -> Result<Json<UserJson>, ApiError> {
    require_own_org(&caller, &path.org_id)?;
    let id = UserId::new(path.user_id);
    let user = state
        .store
        .read(|data| data.user(&id).map(|u| UserJson::new(u, &data.org.id)));
    user.map(Json)
        .ok_or(ApiError::State(StateError::UserNotFound(id)))
}

/// `GET …/configs`: includes `Enable service accounts.`.
pub async fn configs_list(
    State(state): State<AppState>,
    Caller(caller): Caller,
    PathParams(path): PathParams<OrgPath>,
) -> Result<Json<Vec<OrganizationConfigJson>>, ApiError> {
    require_own_org(&caller, &path.org_id)?;
    Ok(Json(
        state.store.read(|data| configs(&data.org.id, &data.settings)),
    ))
}
