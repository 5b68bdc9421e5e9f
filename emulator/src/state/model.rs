//! The records of the emulated organization: org, users, API credentials, settings, the bootstrap
//! admin credential, and the authenticated [`Principal`].
//!
//! Plain data with serde derives (they are also the state-file format, see `persist`). Must not
//! enforce rules (that is `rules`) nor touch locks or files.

use serde::{Deserialize, Serialize};

use crate::ids::{CredentialId, OrgId, UserId};
use crate::token::{AuthToken, SecretHash};

/// The role ID that makes a user an organization administrator.
pub const ORG_ADMIN_ROLE: &str = "org-admin";
/// Roles every user holds (hidden by the SDK's user model).
pub const BASE_ROLES: [&str; 2] = ["org-user", "user"];

/// Milliseconds since the Unix epoch, the timestamp format of Control Hub's JSON.
pub type EpochMillis = i64;

pub fn now_millis() -> EpochMillis {
    chrono::Utc::now().timestamp_millis()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Org {
    pub id: OrgId,
    pub name: String,
    pub created_on: EpochMillis,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: UserId,
    pub email: String,
    pub name: String,
    pub roles: Vec<String>,
    pub active: bool,
    pub deleted: bool,
    pub service_account: bool,
    pub creator: Option<UserId>,
    pub created_on: EpochMillis,
    pub last_modified_on: EpochMillis,
    pub delete_time: Option<EpochMillis>,
    pub destroyer: Option<UserId>,
}

impl User {
    pub fn is_org_admin(&self) -> bool {
        self.roles.iter().any(|r| r == ORG_ADMIN_ROLE)
    }

    /// Active and not deleted: may authenticate and receive credentials.
    pub fn is_usable(&self) -> bool {
        self.active && !self.deleted
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Credential {
    pub id: CredentialId,
    pub label: String,
    /// The owner: the user the credential acts as.
    pub user_id: UserId,
    /// The user who created it.
    pub registered_by: UserId,
    pub active: bool,
    pub secret_hash: SecretHash,
    /// Creation order, for stable list order.
    pub seq: u64,
    pub created_on: EpochMillis,
}

/// The `ISSUES` code of the per-owner limit refusal by default (the real one is unknown).
pub const DEFAULT_QUOTA_ISSUE_CODE: &str = "SECURITY_API_CREDENTIALS_LIMIT";
/// Its default message; `{owner}` and `{limit}` are replaced by the owner's ID and the limit.
pub const DEFAULT_QUOTA_ISSUE_MESSAGE: &str =
    "user {owner} already holds the maximum of {limit} API credentials (limit {limit} per user)";

/// Organization settings the emulator lets tests change (controlhub-api.md §10). Fields absent
/// from an older state file take their defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Settings {
    /// The org configuration `Enable service accounts.`: gates creating credentials for others.
    pub service_accounts_enabled: bool,
    /// Whether org admins may regenerate other users' credentials (refused by default).
    pub admins_may_regenerate_for_others: bool,
    /// Whether org admins may change the label of other users' credentials (allowed by default).
    pub admins_may_rename_for_others: bool,
    /// Credentials per owner, active and inactive alike.
    pub credential_limit: u32,
    /// The `ISSUES` code of the refusal of one credential too many.
    pub quota_issue_code: String,
    /// The `ISSUES` message of that refusal (`{owner}` and `{limit}` are substituted).
    pub quota_issue_message: String,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            service_accounts_enabled: true,
            admins_may_regenerate_for_others: false,
            admins_may_rename_for_others: true,
            credential_limit: 10,
            quota_issue_code: DEFAULT_QUOTA_ISSUE_CODE.into(),
            quota_issue_message: DEFAULT_QUOTA_ISSUE_MESSAGE.into(),
        }
    }
}

/// The org's first admin and its credential, printed on the start-up line. The token is kept (in
/// memory and in the state file) so the start-up line stays usable after a restart.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Bootstrap {
    pub user_id: UserId,
    pub credential_id: CredentialId,
    pub auth_token: AuthToken,
}

/// Who a request authenticated as: the credential's owner, at request time.
#[derive(Debug, Clone)]
pub struct Principal {
    pub credential_id: CredentialId,
    pub user_id: UserId,
    pub org_id: OrgId,
    pub org_name: String,
    pub email: String,
    pub name: String,
    pub roles: Vec<String>,
}

impl Principal {
    pub fn is_org_admin(&self) -> bool {
        self.roles.iter().any(|r| r == ORG_ADMIN_ROLE)
    }
}
