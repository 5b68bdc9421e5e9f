//! The status shared by `ControlHubConnection` and `ClusterControlHubConnection`: who the
//! connection authenticates as and how many credentials each owner holds.
//!
//! Shape only; the connection controller fills it in. Never holds a token.

use chrono::{DateTime, Utc};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Number of Control Hub credentials one owner holds (Control Hub allows 10 per owner).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OwnerCredentialCount {
    /// Control Hub user ID of the owner.
    pub owner: String,
    /// Credentials the owner holds, active and inactive alike.
    #[schemars(extend("format" = "int32"))]
    pub count: u32,
}

/// Observed state of a connection.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready (authenticated against Control Hub), Reconciling and Stalled.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,
    /// Control Hub organization the identity belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_id: Option<String>,
    /// Control Hub user the connection authenticates as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal_id: Option<String>,
    /// Whether that user is an organization administrator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_admin: Option<bool>,
    /// Credentials per owner seen at the last check, for quota awareness.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub credentials_per_owner: Vec<OwnerCredentialCount>,
    /// When the connection was last checked against Control Hub.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_checked_time: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_round_trips_with_camel_case_fields() {
        let status = ConnectionStatus {
            organization_id: Some("org".into()),
            org_admin: Some(true),
            credentials_per_owner: vec![OwnerCredentialCount {
                owner: "u@org".into(),
                count: 3,
            }],
            ..ConnectionStatus::default()
        };
        let json = serde_json::to_value(&status).expect("serializes");
        assert_eq!(
            json,
            serde_json::json!({
                "organizationId": "org",
                "orgAdmin": true,
                "credentialsPerOwner": [{"owner": "u@org", "count": 3}]
            })
        );
        assert_eq!(
            serde_json::from_value::<ConnectionStatus>(json).expect("parses"),
            status
        );
    }
}
