//! The status of an `ApiCredential`: what the operator observed and did, never the token.
//!
//! Only the shape lives here; computing it is the controller's job. Fields are optional so that
//! a status written by an older operator still parses.

use chrono::{DateTime, Utc};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::rotation::RotationStrategy;

/// Why a rotation was started.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum RotationReason {
    /// `spec.rotation` said it was time.
    Schedule,
    /// The `controlhub.dev/rotate` annotation got a new value.
    Requested,
    /// The token in the Secret no longer works (regenerated elsewhere).
    TokenInvalid,
    /// The credential was deleted in Control Hub and is being created again.
    Recreate,
    /// The Secret lost the token (deleted or edited), so a new one is issued.
    SecretLost,
}

/// A rotation that has started and not yet finished; recorded before Control Hub is called so
/// that an interrupted rotation is finished after a restart.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RotationInProgress {
    /// Strategy of this rotation.
    pub strategy: RotationStrategy,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// Why it started.
    pub reason: RotationReason,
}

/// Observed state of an ApiCredential.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiCredentialStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready, Reconciling and Stalled, with typed reasons.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,
    /// ID of the credential in Control Hub.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_id: Option<String>,
    /// Control Hub user that owns the credential.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// Whether the credential is active in Control Hub.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    /// The credential's label in Control Hub.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Name of the Secret holding the credential.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_name: Option<String>,
    /// When the token was last issued (created or rotated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_rotation_time: Option<DateTime<Utc>>,
    /// When the token will next be rotated by `spec.rotation`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_rotation_time: Option<DateTime<Utc>>,
    /// The last value of the `controlhub.dev/rotate` annotation that was acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_rotation_request: Option<String>,
    /// The last value of the `controlhub.dev/refresh` annotation that was acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_refresh_request: Option<String>,
    /// A rotation that started and has not finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation_in_progress: Option<RotationInProgress>,
    /// With strategy Replace: the previous credential, kept until `retireAt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_credential_id: Option<String>,
    /// When the previous credential will be deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retire_at: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn empty_status_serializes_to_an_empty_object() {
        let json = serde_json::to_value(ApiCredentialStatus::default()).expect("serializes");
        assert_eq!(json, serde_json::json!({}));
    }

    #[test]
    fn times_serialize_as_rfc3339_and_round_trip() {
        let started = Utc
            .with_ymd_and_hms(2025, 3, 30, 1, 0, 0)
            .single()
            .expect("valid");
        let status = ApiCredentialStatus {
            credential_id: Some("c1".into()),
            next_rotation_time: Some(started),
            rotation_in_progress: Some(RotationInProgress {
                strategy: RotationStrategy::Replace,
                started_at: started,
                reason: RotationReason::TokenInvalid,
            }),
            ..ApiCredentialStatus::default()
        };
        let json = serde_json::to_value(&status).expect("serializes");
        assert_eq!(json["nextRotationTime"], "2025-03-30T01:00:00Z");
        assert_eq!(json["rotationInProgress"]["startedAt"], "2025-03-30T01:00:00Z");
        assert_eq!(json["rotationInProgress"]["reason"], "TokenInvalid");
        assert_eq!(json["rotationInProgress"]["strategy"], "Replace");
        let back: ApiCredentialStatus = serde_json::from_value(json).expect("parses");
        assert_eq!(back, status);
    }
}
