//! Named operations: what a request is, for the statistics (`GET /emulator/v1/stats`) and for
//! targeting faults (`PUT /emulator/v1/faults {"operations":[…]}`).
//!
//! A request is classified by its method and matched route template (`paths`). Must not look at
//! bodies or headers.

use std::fmt;

use axum::http::Method;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::paths;

macro_rules! operations {
    ($($variant:ident => $name:literal),+ $(,)?) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Operation {
            $($variant),+
        }

        impl Operation {
            pub const ALL: &'static [Operation] = &[$(Operation::$variant),+];

            /// The name used in statistics, fault targets and the README.
            pub fn name(self) -> &'static str {
                match self {
                    $(Operation::$variant => $name),+
                }
            }
        }
    };
}

operations! {
    OrgInfo => "orgInfo",
    Landing => "landing",
    CurrentUser => "currentUser",
    ListRoles => "listRoles",
    OpenApi => "openApi",
    Translations => "translations",
    ListEngines => "listEngines",
    ServerInfo => "serverInfo",
    ListOrganizations => "listOrganizations",
    ListUsers => "listUsers",
    GetUser => "getUser",
    ListConfigs => "listConfigs",
    ListCredentials => "listCredentials",
    ListOrgCredentials => "listOrgCredentials",
    CreateCredential => "createCredential",
    UpdateCredential => "updateCredential",
    DeleteCredential => "deleteCredential",
    AdminCreateUser => "adminCreateUser",
    AdminUpdateUser => "adminUpdateUser",
    AdminDeleteUser => "adminDeleteUser",
    AdminIssueCredential => "adminIssueCredential",
    AdminGetSettings => "adminGetSettings",
    AdminUpdateSettings => "adminUpdateSettings",
    AdminGetFaults => "adminGetFaults",
    AdminUpdateFaults => "adminUpdateFaults",
    AdminGetStats => "adminGetStats",
    AdminResetStats => "adminResetStats",
    AdminGetProfile => "adminGetProfile",
    AdminSetProfile => "adminSetProfile",
    Unknown => "unknown",
}

impl Operation {
    pub fn from_name(name: &str) -> Option<Operation> {
        Operation::ALL.iter().copied().find(|op| op.name() == name)
    }

    /// Operations of the emulator's own admin API (never subject to faults).
    pub fn is_admin(self) -> bool {
        self.name().starts_with("admin")
    }

    /// Operations faults may target: the emulated Control Hub API.
    pub fn is_faultable(self) -> bool {
        !self.is_admin() && self != Operation::Unknown
    }

    /// What a request with this method and matched route template is.
    pub fn classify(method: &Method, route: Option<&str>) -> Operation {
        let Some(route) = route else {
            return Operation::Unknown;
        };
        let get = method == Method::GET;
        let post = method == Method::POST;
        let put = method == Method::PUT;
        let delete = method == Method::DELETE;
        match route {
            paths::ORG_INFO if get => Operation::OrgInfo,
            paths::LANDING if get => Operation::Landing,
            paths::CURRENT_USER if get => Operation::CurrentUser,
            paths::ROLES if get => Operation::ListRoles,
            paths::TRANSLATIONS if get => Operation::Translations,
            paths::ENGINES if get => Operation::ListEngines,
            paths::SERVER_INFO if get => Operation::ServerInfo,
            paths::ORGANIZATIONS if get => Operation::ListOrganizations,
            paths::USERS if get => Operation::ListUsers,
            paths::USER if get => Operation::GetUser,
            paths::CONFIGS if get => Operation::ListConfigs,
            paths::CREDENTIALS if get => Operation::ListCredentials,
            paths::CREDENTIALS if post => Operation::CreateCredential,
            paths::CREDENTIAL if post => Operation::UpdateCredential,
            paths::CREDENTIAL if delete => Operation::DeleteCredential,
            paths::ORG_CREDENTIALS if get => Operation::ListOrgCredentials,
            paths::ADMIN_USERS if post => Operation::AdminCreateUser,
            paths::ADMIN_USER if put => Operation::AdminUpdateUser,
            paths::ADMIN_USER if delete => Operation::AdminDeleteUser,
            paths::ADMIN_USER_CREDENTIALS if post => Operation::AdminIssueCredential,
            paths::ADMIN_SETTINGS if get => Operation::AdminGetSettings,
            paths::ADMIN_SETTINGS if put => Operation::AdminUpdateSettings,
            paths::ADMIN_FAULTS if get => Operation::AdminGetFaults,
            paths::ADMIN_FAULTS if put || delete => Operation::AdminUpdateFaults,
            paths::ADMIN_STATS if get => Operation::AdminGetStats,
            paths::ADMIN_PROFILE if get => Operation::AdminGetProfile,
            paths::ADMIN_PROFILE if put => Operation::AdminSetProfile,
            paths::ADMIN_STATS if delete => Operation::AdminResetStats,
            other if get && other.ends_with(paths::OPENAPI_SUFFIX) => Operation::OpenApi,
            _ => Operation::Unknown,
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for Operation {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Operation {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Operation::from_name(&name)
            .filter(|op| op.is_faultable())
            .ok_or_else(|| {
                let known: Vec<&str> = Operation::ALL
                    .iter()
                    .filter(|op| op.is_faultable())
                    .map(|op| op.name())
                    .collect();
                serde::de::Error::custom(format!("unknown operation; expected one of {}", known.join(", ")))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        for op in Operation::ALL {
            assert_eq!(Operation::from_name(op.name()), Some(*op));
        }
        let mut names: Vec<&str> = Operation::ALL.iter().map(|op| op.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Operation::ALL.len());
    }

    #[test]
    fn credential_routes_are_told_apart_by_method() {
        let classify = |m: Method, r: &str| Operation::classify(&m, Some(r));
        assert_eq!(
            classify(Method::GET, paths::CREDENTIALS),
            Operation::ListCredentials
        );
        assert_eq!(
            classify(Method::POST, paths::CREDENTIALS),
            Operation::CreateCredential
        );
        assert_eq!(
            classify(Method::POST, paths::CREDENTIAL),
            Operation::UpdateCredential
        );
        assert_eq!(
            classify(Method::DELETE, paths::CREDENTIAL),
            Operation::DeleteCredential
        );
        assert_eq!(classify(Method::PUT, paths::CREDENTIAL), Operation::Unknown);
        assert_eq!(
            classify(Method::GET, &paths::openapi("security")),
            Operation::OpenApi
        );
        assert_eq!(Operation::classify(&Method::GET, None), Operation::Unknown);
    }

    #[test]
    fn admin_operations_cannot_be_fault_targets() {
        assert!(serde_json::from_str::<Operation>("\"createCredential\"").is_ok());
        assert!(serde_json::from_str::<Operation>("\"adminUpdateFaults\"").is_err());
        assert!(serde_json::from_str::<Operation>("\"nope\"").is_err());
    }
}
