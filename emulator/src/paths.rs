//! Route templates of every endpoint the emulator serves (axum 0.8 `{param}` syntax).
//!
//! Shared by the router (`routes`) and the operation classifier (`operation`) so the two cannot
//! drift apart. Must contain nothing but path constants.

/// ASTER org-info lookup the SDK makes before anything else (unauthenticated).
pub const ORG_INFO: &str = "/api/security/public/v3/orgs/{org_id}/info";
/// The landing page whose URL org-info returns; the SDK strips it to get the base URL.
pub const LANDING: &str = "/security/public-rest/v1/aster/landing";
pub const CURRENT_USER: &str = "/security/rest/v1/currentUser";
pub const ROLES: &str = "/security/rest/v1/roles";
pub const ORGANIZATIONS: &str = "/security/rest/v1/organizations";
pub const TRANSLATIONS: &str = "/assets/i18n/en.json";
pub const ENGINES: &str = "/jobrunner/rest/v1/sdcs";
pub const SERVER_INFO: &str = "/rest/v1/server/info";

pub const USERS: &str = "/security/rest/v1/organization/{org_id}/users";
pub const USER: &str = "/security/rest/v1/organization/{org_id}/user/{user_id}";
pub const CONFIGS: &str = "/security/rest/v1/organization/{org_id}/configs";
pub const CREDENTIALS: &str = "/security/rest/v1/organization/{org_id}/api-user-credentials";
pub const CREDENTIAL: &str = "/security/rest/v1/organization/{org_id}/api-user-credentials/{credential_id}";
pub const ORG_CREDENTIALS: &str = "/security/rest/v1/organization/{org_id}/api-user-credentials-for-org";

/// The apps whose `/{app}/rest/openapi.json` the SDK loads during start-up, in its order.
pub const OPENAPI_APPS: [&str; 10] = [
    "connection",
    "jobrunner",
    "pipelinestore",
    "provisioning",
    "security",
    "sequencing",
    "topology",
    "scheduler",
    "notification",
    "sla",
];
pub const OPENAPI_SUFFIX: &str = "/rest/openapi.json";

pub const ADMIN_USERS: &str = "/emulator/v1/users";
pub const ADMIN_USER: &str = "/emulator/v1/users/{user_id}";
pub const ADMIN_USER_CREDENTIALS: &str = "/emulator/v1/users/{user_id}/credentials";
pub const ADMIN_SETTINGS: &str = "/emulator/v1/settings";
pub const ADMIN_FAULTS: &str = "/emulator/v1/faults";
pub const ADMIN_STATS: &str = "/emulator/v1/stats";
pub const ADMIN_PROFILE: &str = "/emulator/v1/profile";

/// `/{app}/rest/openapi.json`.
pub fn openapi(app: &str) -> String {
    format!("/{app}{OPENAPI_SUFFIX}")
}
