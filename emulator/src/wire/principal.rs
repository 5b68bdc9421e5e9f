//! `SSOPrincipalJson`, the `GET /security/rest/v1/currentUser` response (controlhub-api.md §5.1).
//! `tokenStr` is always `null`: the emulator never echoes a token.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::ids::{OrgId, UserId};
use crate::state::model::Principal;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SsoPrincipalJson {
    pub principal_id: UserId,
    pub principal_name: String,
    pub organization_id: OrgId,
    pub organization_name: String,
    pub email: String,
    pub roles: Vec<String>,
    pub groups: Vec<String>,
    pub app: bool,
    pub attributes: BTreeMap<String, String>,
    pub token_str: Option<String>,
    pub issuer_url: String,
    /// `-1`: credential sessions do not expire.
    pub expires: i64,
    pub container_id: Option<String>,
    pub filtered_entity_manager_enabled: bool,
}

impl SsoPrincipalJson {
    pub fn new(principal: &Principal, issuer_url: String) -> Self {
        Self {
            principal_id: principal.user_id.clone(),
            principal_name: principal.name.clone(),
            organization_id: principal.org_id.clone(),
            organization_name: principal.org_name.clone(),
            email: principal.email.clone(),
            roles: principal.roles.clone(),
            groups: vec![format!("all@{}", principal.org_id)],
            app: false,
            attributes: BTreeMap::new(),
            token_str: None,
            issuer_url,
            expires: -1,
            container_id: None,
            filtered_entity_manager_enabled: false,
        }
    }
}
