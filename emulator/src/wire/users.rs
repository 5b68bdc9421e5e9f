//! `UserJson`, the organization configuration entries (`OrganizationConfigJson`) and
//! `OrganizationJson`.

use serde::Serialize;

use crate::ids::{OrgId, UserId};
use crate::state::model::{EpochMillis, Org, Settings, User};

/// Name of the org configuration that gates service accounts (read by the SDK's tests).
pub const SERVICE_ACCOUNTS_CONFIG: &str = "Enable service accounts.";
/// Emulator-specific configuration entry exposing the per-owner credential limit.
pub const CREDENTIAL_LIMIT_CONFIG: &str = "Maximum number of API credentials per user.";

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserJson {
    pub id: UserId,
    pub organization: OrgId,
    pub name: String,
    pub email: String,
    pub roles: Vec<String>,
    pub groups: Vec<String>,
    pub project_roles: Vec<String>,
    pub active: bool,
    pub password_expiry_time: EpochMillis,
    pub password_generated: bool,
    pub creator: Option<UserId>,
    pub created_on: EpochMillis,
    pub last_modified_by: Option<UserId>,
    pub last_modified_on: EpochMillis,
    pub destroyer: Option<UserId>,
    pub delete_time: Option<EpochMillis>,
    pub user_deleted: bool,
    pub name_in_org: Option<String>,
    pub migration_aliases: Vec<String>,
    /// Emulator extension: whether the user is a service account.
    pub service_account: bool,
}

impl UserJson {
    pub fn new(user: &User, org: &OrgId) -> Self {
        Self {
            id: user.id.clone(),
            organization: org.clone(),
            name: user.name.clone(),
            email: user.email.clone(),
            roles: user.roles.clone(),
            groups: vec![format!("all@{org}")],
            project_roles: Vec::new(),
            active: user.active,
            password_expiry_time: 0,
            password_generated: false,
            creator: user.creator.clone(),
            created_on: user.created_on,
            last_modified_by: user.creator.clone(),
            last_modified_on: user.last_modified_on,
            destroyer: user.destroyer.clone(),
            delete_time: user.delete_time,
            user_deleted: user.deleted,
            name_in_org: None,
            migration_aliases: Vec::new(),
            service_account: user.service_account,
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrganizationConfigJson {
    pub id: String,
    pub name: &'static str,
    pub value: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub default_value: String,
    pub org_modifiable: bool,
    pub possible_values: Option<Vec<String>>,
}

/// The configuration entries `GET …/configs` returns.
pub fn configs(org: &OrgId, settings: &Settings) -> Vec<OrganizationConfigJson> {
    let defaults = Settings::default();
    vec![
        OrganizationConfigJson {
            id: format!("{org}:serviceAccountsEnabled"),
            name: SERVICE_ACCOUNTS_CONFIG,
            value: settings.service_accounts_enabled.to_string(),
            kind: "BOOLEAN",
            default_value: defaults.service_accounts_enabled.to_string(),
            org_modifiable: true,
            possible_values: Some(vec!["true".into(), "false".into()]),
        },
        OrganizationConfigJson {
            id: format!("{org}:apiCredentialsLimit"),
            name: CREDENTIAL_LIMIT_CONFIG,
            value: settings.credential_limit.to_string(),
            kind: "INTEGER",
            default_value: defaults.credential_limit.to_string(),
            org_modifiable: false,
            possible_values: None,
        },
    ]
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrganizationJson {
    pub id: OrgId,
    pub name: String,
    pub active: bool,
    pub created_on: EpochMillis,
    pub creator: Option<UserId>,
    pub primary_admin_id: UserId,
    pub external_auth_enabled: bool,
}

impl OrganizationJson {
    pub fn new(org: &Org, primary_admin: &UserId) -> Self {
        Self {
            id: org.id.clone(),
            name: org.name.clone(),
            active: true,
            created_on: org.created_on,
            creator: None,
            primary_admin_id: primary_admin.clone(),
            external_auth_enabled: false,
        }
    }
}
