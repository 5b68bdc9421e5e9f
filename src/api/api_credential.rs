//! The `ApiCredential` custom resource: one Control Hub API credential, delivered as a Secret.
//!
//! Declares the spec (what the user wants) and pure accessors that apply the documented
//! defaults. It must not talk to Kubernetes or Control Hub; nothing the operator computes is
//! stored in the spec (see `api_credential_status.rs`).

use std::time::Duration;

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::api_credential_status::ApiCredentialStatus;
use super::connection_ref::ConnectionRef;
use super::duration::DurationError;
use super::output_format::OutputFormat;
use super::restart_target::RestartTarget;
use super::rotation::Rotation;
use super::secret_template::{DEFAULT_SECRET_TYPE, SecretKeys, SecretTemplate};
use super::{REFRESH_ANNOTATION, ROTATE_ANNOTATION, rules};

/// What happens to the Control Hub credential when the ApiCredential is deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum DeletionPolicy {
    /// Delete the credential in Control Hub (default).
    #[default]
    Delete,
    /// Keep the credential but deactivate it.
    Deactivate,
    /// Leave the credential as it is.
    Retain,
}

/// An API credential in StreamSets Control Hub, managed declaratively. The operator creates it,
/// keeps its name and active state as declared, rotates its token, and writes the credential ID
/// and token into a Secret in this namespace.
// Each `printcolumn(...)` repeats `type_`, which clippy mistakes for a duplicated attribute.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "controlhub.dev",
    version = "v1alpha1",
    kind = "ApiCredential",
    namespaced,
    status = "ApiCredentialStatus",
    shortname = "apicred",
    category = "controlhub",
    derive = "PartialEq",
    doc = "An API credential in StreamSets Control Hub whose ID and token the operator keeps in a Secret.",
    printcolumn(name = "Label", type_ = "string", json_path = ".status.label"),
    printcolumn(name = "Credential ID", type_ = "string", json_path = ".status.credentialId"),
    printcolumn(name = "Active", type_ = "boolean", json_path = ".status.active"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    // A `date` column prints a future time as "<invalid>", so the timestamp is shown as text.
    printcolumn(
        name = "Next Rotation",
        type_ = "string",
        json_path = ".status.nextRotationTime"
    ),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    validation = rules::SECRET_TYPE_IMMUTABLE
        .to_kube()
        .field_path(rules::SECRET_TYPE_IMMUTABLE_FIELD_PATH)
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = rules::USER_ID_IMMUTABLE.to_kube())]
#[x_kube(validation = rules::CONNECTION_REF_IMMUTABLE.to_kube())]
pub struct ApiCredentialSpec {
    /// The connection that manages this credential. Default: the ClusterControlHubConnection
    /// named `default`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_ref: Option<ConnectionRef>,
    /// Name (label) of the credential in Control Hub, 1 to 100 characters without leading or
    /// trailing whitespace, and without `[k8s:` (reserved for the markers the operator adds
    /// while creating a credential). Default: the ApiCredential's name. Changing it renames the
    /// credential in place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = rules::LABEL_MAX))]
    #[x_kube(validation = rules::LABEL_TRIMMED.to_kube(), validation = rules::LABEL_NO_MARKER.to_kube())]
    pub name: Option<String>,
    /// Control Hub user ID (`<user>@<organization>`) to create the credential for, such as a
    /// service account. Default: the connection's own user. Needs an org-admin connection that
    /// lists this user in `allowedUserIds`. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = rules::USER_ID_MAX), pattern(rules::USER_ID))]
    pub user_id: Option<String>,
    /// Whether the credential is active. `false` deactivates it (its token stops working but is
    /// kept); `true` activates it again. Default: true.
    #[serde(default = "default_true")]
    pub active: bool,
    /// When and how the token is rotated. Absent: only on demand, by setting the annotation
    /// `controlhub.dev/rotate` to a new value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation: Option<Rotation>,
    /// The Secret that receives the credential ID and token. Default: a Secret named like the
    /// ApiCredential with keys `credentialId` and `authToken`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<SecretTemplate>,
    /// Workloads in this namespace to restart (like `kubectl rollout restart`) whenever the token
    /// in the Secret changes. At most 20.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = rules::RESTART_TARGETS_MAX))]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["kind".into(), "name".into()]))]
    pub restart_targets: Vec<RestartTarget>,
    /// What happens in Control Hub when this ApiCredential is deleted: Delete (default) deletes
    /// the credential, Deactivate keeps it deactivated, Retain leaves it untouched.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
}

impl Default for ApiCredentialSpec {
    fn default() -> Self {
        Self {
            connection_ref: None,
            name: None,
            user_id: None,
            active: true,
            rotation: None,
            secret: None,
            restart_targets: Vec::new(),
            deletion_policy: DeletionPolicy::Delete,
        }
    }
}

fn default_true() -> bool {
    true
}

impl ApiCredential {
    /// The object's own name; objects read from the API server always have one.
    fn object_name(&self) -> &str {
        self.metadata.name.as_deref().unwrap_or_default()
    }

    /// The Control Hub label: `spec.name`, or the ApiCredential's name.
    pub fn effective_label(&self) -> &str {
        self.spec.name.as_deref().unwrap_or_else(|| self.object_name())
    }

    /// Name of the Secret: `spec.secret.name`, or the ApiCredential's name.
    pub fn secret_name(&self) -> &str {
        self.spec
            .secret
            .as_ref()
            .and_then(|secret| secret.name.as_deref())
            .unwrap_or_else(|| self.object_name())
    }

    /// The connection reference with the default applied.
    pub fn connection_ref(&self) -> ConnectionRef {
        self.spec.connection_ref.clone().unwrap_or_default()
    }

    /// The Secret keys with defaults applied.
    pub fn keys(&self) -> SecretKeys {
        self.spec
            .secret
            .as_ref()
            .map(|secret| secret.keys.clone())
            .unwrap_or_default()
    }

    /// The additional output formats of the Secret, as declared.
    pub fn output_formats(&self) -> &[OutputFormat] {
        self.spec
            .secret
            .as_ref()
            .map_or(&[], |secret| secret.additional_output_formats.as_slice())
    }

    /// The Secret type with the default applied.
    pub fn secret_type(&self) -> &str {
        self.spec
            .secret
            .as_ref()
            .map_or(DEFAULT_SECRET_TYPE, |secret| secret.type_.as_str())
    }

    /// The value of the `controlhub.dev/rotate` annotation, if set and not blank. Each new value
    /// asks for one rotation.
    pub fn rotate_request(&self) -> Option<&str> {
        self.metadata
            .annotations
            .as_ref()
            .and_then(|annotations| annotations.get(ROTATE_ANNOTATION))
            .map(String::as_str)
            .filter(|value| !value.trim().is_empty())
    }

    /// The value of the `controlhub.dev/refresh` annotation, if set and not blank. Each new value
    /// makes the next reconcile compare with a fresh list from Control Hub.
    pub fn refresh_request(&self) -> Option<&str> {
        self.metadata
            .annotations
            .as_ref()
            .and_then(|annotations| annotations.get(REFRESH_ANNOTATION))
            .map(String::as_str)
            .filter(|value| !value.trim().is_empty())
    }

    /// How long a replaced credential keeps working (zero unless the strategy is Replace).
    pub fn grace_period(&self) -> Result<Duration, DurationError> {
        self.spec
            .rotation
            .as_ref()
            .map_or(Ok(Duration::ZERO), Rotation::grace_period)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::connection_ref::ConnectionKind;
    use crate::api::rotation::RotationStrategy;
    use std::collections::BTreeMap;

    fn credential(spec_json: serde_json::Value) -> ApiCredential {
        let spec: ApiCredentialSpec = serde_json::from_value(spec_json).expect("spec parses");
        ApiCredential::new("ci-bot", spec)
    }

    #[test]
    fn empty_spec_gets_every_default() {
        let cred = credential(serde_json::json!({}));
        assert_eq!(cred.spec, ApiCredentialSpec::default());
        assert!(cred.spec.active);
        assert_eq!(cred.spec.deletion_policy, DeletionPolicy::Delete);
        assert_eq!(cred.effective_label(), "ci-bot");
        assert_eq!(cred.secret_name(), "ci-bot");
        assert_eq!(cred.secret_type(), "Opaque");
        assert_eq!(cred.connection_ref(), ConnectionRef::default());
        assert_eq!(cred.keys(), SecretKeys::default());
        assert_eq!(cred.rotate_request(), None);
        assert_eq!(cred.grace_period(), Ok(Duration::ZERO));
    }

    #[test]
    fn declared_values_override_the_defaults() {
        let cred = credential(serde_json::json!({
            "connectionRef": {"kind": "ControlHubConnection", "name": "prod"},
            "name": "CI bot",
            "active": false,
            "rotation": {"interval": "336h", "strategy": "Replace", "gracePeriod": "1m"},
            "secret": {"name": "ci-secret", "type": "example.com/token",
                       "keys": {"credentialId": "id", "authToken": "token"}},
            "deletionPolicy": "Retain"
        }));
        assert_eq!(cred.effective_label(), "CI bot");
        assert_eq!(cred.secret_name(), "ci-secret");
        assert_eq!(cred.secret_type(), "example.com/token");
        assert_eq!(cred.connection_ref().kind, ConnectionKind::ControlHubConnection);
        assert_eq!(cred.connection_ref().name, "prod");
        assert_eq!(cred.keys().credential_id, "id");
        assert_eq!(cred.keys().auth_token, "token");
        assert!(!cred.spec.active);
        assert_eq!(cred.spec.deletion_policy, DeletionPolicy::Retain);
        assert_eq!(cred.grace_period(), Ok(Duration::from_secs(60)));
    }

    #[test]
    fn secret_without_name_falls_back_to_the_object_name() {
        let cred = credential(serde_json::json!({"secret": {"keys": {"url": "baseUrl"}}}));
        assert_eq!(cred.secret_name(), "ci-bot");
        assert_eq!(cred.keys().url.as_deref(), Some("baseUrl"));
        assert_eq!(cred.keys().credential_id, "credentialId");
    }

    #[test]
    fn rotate_request_reads_the_annotation_and_ignores_blank_values() {
        let mut cred = credential(serde_json::json!({}));
        let mut annotations = BTreeMap::new();
        annotations.insert(ROTATE_ANNOTATION.to_owned(), "2025-01-01T00:00:00Z".to_owned());
        cred.metadata.annotations = Some(annotations.clone());
        assert_eq!(cred.rotate_request(), Some("2025-01-01T00:00:00Z"));
        annotations.insert(ROTATE_ANNOTATION.to_owned(), "  ".to_owned());
        cred.metadata.annotations = Some(annotations);
        assert_eq!(cred.rotate_request(), None);
    }

    #[test]
    fn spec_round_trips_without_writing_unset_fields() {
        let cred = credential(serde_json::json!({
            "rotation": {"schedule": "0 3 * * 0", "timeZone": "Europe/Berlin"},
            "restartTargets": [{"kind": "Deployment", "name": "app"}]
        }));
        let json = serde_json::to_value(&cred.spec).expect("serializes");
        assert_eq!(
            json,
            serde_json::json!({
                "active": true,
                "rotation": {"schedule": "0 3 * * 0", "timeZone": "Europe/Berlin", "strategy": "Regenerate"},
                "restartTargets": [{"kind": "Deployment", "name": "app"}],
                "deletionPolicy": "Delete"
            })
        );
        let back: ApiCredentialSpec = serde_json::from_value(json).expect("parses");
        assert_eq!(back, cred.spec);
        assert_eq!(
            back.rotation.map(|r| r.strategy),
            Some(RotationStrategy::Regenerate)
        );
    }

    #[test]
    fn unknown_enum_values_are_refused() {
        assert!(
            serde_json::from_value::<ApiCredentialSpec>(serde_json::json!({"deletionPolicy": "Destroy"}))
                .is_err()
        );
    }
}
