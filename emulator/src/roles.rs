//! The role catalogue served by `GET /security/rest/v1/roles` and the roles of the bootstrap admin.
//!
//! Role IDs are those the official SDK knows (`DEFAULT_USER_ROLES` and the org-admin defaults of
//! SDK 7.0.2 `sch.py`); labels follow the Control Hub UI. Must not decide permissions beyond
//! "`org-admin` is visible only to org admins" (that is `state::rules`).

use serde::Serialize;

use crate::state::model::ORG_ADMIN_ROLE;

/// `RoleJson`: `{"id","label","requiredRoles"}`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleJson {
    pub id: &'static str,
    pub label: &'static str,
    pub required_roles: Vec<&'static str>,
}

/// (id, label) of every role the emulator knows.
const CATALOGUE: [(&str, &str); 19] = [
    (ORG_ADMIN_ROLE, "Organization Administrator"),
    ("org-user", "Organization User"),
    ("user", "User"),
    ("connection:user", "Connection User"),
    ("csp:deployment-manager", "Deployment Manager"),
    ("csp:environment-manager", "Environment Manager"),
    ("datacollector:admin", "Engine Administrator"),
    ("datacollector:creator", "Engine Creator"),
    ("datacollector:guest", "Engine Guest"),
    ("datacollector:manager", "Engine Manager"),
    ("jobrunner:operator", "Job Operator"),
    ("notification:user", "Notification User"),
    ("pipelinestore:pipelineEditor", "Pipeline Editor"),
    ("provisioning:operator", "Provisioning Operator"),
    ("sla:editor", "SLA Editor"),
    ("timeseries:reader", "Metrics Reader"),
    ("timeseries:writer", "Metrics Writer"),
    ("topology:editor", "Topology Editor"),
    ("scheduler:operator", "Scheduler Operator"),
];

/// The roles a caller sees: all of them for an org admin, all but `org-admin` otherwise.
pub fn visible_to(is_org_admin: bool) -> Vec<RoleJson> {
    CATALOGUE
        .iter()
        .filter(|(id, _)| is_org_admin || *id != ORG_ADMIN_ROLE)
        .map(|(id, label)| RoleJson {
            id,
            label,
            required_roles: required_roles(id),
        })
        .collect()
}

fn required_roles(id: &str) -> Vec<&'static str> {
    match id {
        "user" => vec![],
        "org-user" => vec!["user"],
        _ => vec!["user", "org-user"],
    }
}

/// The roles of the organization's first user (the SDK's org-admin defaults plus the base roles).
pub fn bootstrap_admin_roles() -> Vec<String> {
    [
        ORG_ADMIN_ROLE,
        "org-user",
        "user",
        "connection:user",
        "datacollector:admin",
        "jobrunner:operator",
        "notification:user",
        "pipelinestore:pipelineEditor",
        "provisioning:operator",
        "sla:editor",
        "timeseries:reader",
        "timeseries:writer",
        "topology:editor",
    ]
    .iter()
    .map(|r| r.to_string())
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn org_admin_role_is_listed_only_for_org_admins() {
        let listed = |admin: bool| visible_to(admin).iter().any(|r| r.id == ORG_ADMIN_ROLE);
        assert!(listed(true));
        assert!(!listed(false));
    }

    #[test]
    fn the_bootstrap_admin_is_an_org_admin_whose_roles_are_all_in_the_catalogue() {
        let roles = bootstrap_admin_roles();
        assert!(roles.iter().any(|r| r == ORG_ADMIN_ROLE));
        let catalogue = visible_to(true);
        assert!(roles.iter().all(|r| catalogue.iter().any(|c| c.id == r)));
    }
}
