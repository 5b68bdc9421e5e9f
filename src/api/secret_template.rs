//! `spec.secret` of an ApiCredential: the Secret the credential ID and token are written to.
//!
//! Declares names, keys and metadata with their defaults; building and applying the Secret is
//! the controller's job.

use std::collections::BTreeMap;

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

use super::output_format::OutputFormat;
use super::rules;

/// The Secret type used when `secret.type` is not set.
pub const DEFAULT_SECRET_TYPE: &str = "Opaque";
/// Default key of the credential ID.
pub const DEFAULT_CREDENTIAL_ID_KEY: &str = "credentialId";
/// Default key of the token.
pub const DEFAULT_AUTH_TOKEN_KEY: &str = "authToken";

/// The Secret that receives the credential.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = rules::OUTPUT_FORMAT_KEYS_FREE.to_kube())]
pub struct SecretTemplate {
    /// Name of the Secret, in the ApiCredential's namespace. Default: the ApiCredential's name.
    /// The operator owns this Secret (it is deleted with the ApiCredential) and refuses to take
    /// over a Secret that belongs to something else.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = rules::DNS_SUBDOMAIN_MAX), pattern(rules::DNS_SUBDOMAIN))]
    pub name: Option<String>,
    /// Keys under which the values are stored.
    #[serde(default)]
    pub keys: SecretKeys,
    /// Secret type: Opaque (default) or a custom type such as `example.com/token`. It cannot be
    /// changed while `name` stays the same (Kubernetes cannot change a Secret's type): choose a
    /// new `name`, or delete and re-create the ApiCredential.
    #[serde(default = "default_secret_type", rename = "type")]
    #[schemars(length(min = 1, max = rules::DNS_SUBDOMAIN_MAX))]
    #[x_kube(validation = rules::SECRET_TYPE_ALLOWED.to_kube())]
    pub type_: String,
    /// Extra labels on the Secret, at most 64. Keys are qualified names (`team`,
    /// `example.com/team`), values at most 63 characters. `app.kubernetes.io/managed-by` and
    /// `controlhub.dev/apicredential` are reserved: the operator sets them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend(
        "maxProperties" = rules::SECRET_METADATA_ENTRIES_MAX,
        "additionalProperties" = {"type": "string", "maxLength": rules::LABEL_VALUE_MAX}
    ))]
    #[x_kube(
        validation = rules::SECRET_LABEL_KEYS.to_kube(),
        validation = rules::SECRET_LABEL_VALUES.to_kube(),
        validation = rules::SECRET_LABELS_RESERVED.to_kube()
    )]
    pub labels: BTreeMap<String, String>,
    /// Extra annotations on the Secret, at most 64. Keys are qualified names
    /// (`example.com/note`), values at most 4096 characters. `controlhub.dev/credential-id`,
    /// `controlhub.dev/token-fingerprint` and `controlhub.dev/data-keys` are reserved: the operator
    /// sets them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend(
        "maxProperties" = rules::SECRET_METADATA_ENTRIES_MAX,
        "additionalProperties" = {"type": "string", "maxLength": rules::ANNOTATION_VALUE_MAX}
    ))]
    #[x_kube(
        validation = rules::SECRET_ANNOTATION_KEYS.to_kube(),
        validation = rules::SECRET_ANNOTATIONS_RESERVED.to_kube()
    )]
    pub annotations: BTreeMap<String, String>,
    /// More keys holding the credential in forms consumers read without glue, at most one of each
    /// type: `Dotenv` (a file with `CRED_ID`, `CRED_TOKEN`, `SCH_URL` and `ORG_ID`, default key
    /// `controlhub.env`) and `OrganizationId` (default key `organizationId`). Adding, changing or
    /// removing one rewrites the Secret from the token it holds: the token is not re-issued.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = rules::OUTPUT_FORMATS_MAX))]
    #[x_kube(
        merge_strategy = ListMerge::Map(vec!["type".into()]),
        validation = rules::OUTPUT_FORMAT_TYPES_DISTINCT.to_kube(),
        validation = rules::OUTPUT_FORMAT_KEYS_DISTINCT.to_kube()
    )]
    pub additional_output_formats: Vec<OutputFormat>,
}

impl Default for SecretTemplate {
    fn default() -> Self {
        Self {
            name: None,
            keys: SecretKeys::default(),
            type_: default_secret_type(),
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
            additional_output_formats: Vec::new(),
        }
    }
}

/// Keys of the Secret's data. Each must be a valid Secret key and all must differ.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = rules::SECRET_KEYS_DISTINCT.to_kube())]
pub struct SecretKeys {
    /// Key holding the credential ID. Default: `credentialId`.
    #[serde(default = "default_credential_id_key")]
    #[schemars(length(min = 1, max = rules::DNS_SUBDOMAIN_MAX), pattern(rules::SECRET_KEY))]
    pub credential_id: String,
    /// Key holding the token. Default: `authToken`.
    #[serde(default = "default_auth_token_key")]
    #[schemars(length(min = 1, max = rules::DNS_SUBDOMAIN_MAX), pattern(rules::SECRET_KEY))]
    pub auth_token: String,
    /// Key holding the Control Hub base URL. Not written when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = rules::DNS_SUBDOMAIN_MAX), pattern(rules::SECRET_KEY))]
    pub url: Option<String>,
}

impl Default for SecretKeys {
    fn default() -> Self {
        Self {
            credential_id: default_credential_id_key(),
            auth_token: default_auth_token_key(),
            url: None,
        }
    }
}

fn default_secret_type() -> String {
    DEFAULT_SECRET_TYPE.to_owned()
}

fn default_credential_id_key() -> String {
    DEFAULT_CREDENTIAL_ID_KEY.to_owned()
}

fn default_auth_token_key() -> String {
    DEFAULT_AUTH_TOKEN_KEY.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_template_gets_defaults() {
        let template: SecretTemplate = serde_json::from_str("{}").expect("parses");
        assert_eq!(template, SecretTemplate::default());
        assert_eq!(template.type_, "Opaque");
        assert_eq!(template.keys.credential_id, "credentialId");
        assert_eq!(template.keys.auth_token, "authToken");
        assert_eq!(template.keys.url, None);
    }

    #[test]
    fn partially_given_keys_keep_the_other_defaults() {
        let keys: SecretKeys =
            serde_json::from_str(r#"{"authToken":"token","url":"baseUrl"}"#).expect("parses");
        assert_eq!(keys.credential_id, "credentialId");
        assert_eq!(keys.auth_token, "token");
        assert_eq!(keys.url.as_deref(), Some("baseUrl"));
    }

    #[test]
    fn type_is_spelled_type_on_the_wire_and_round_trips() {
        let mut template = SecretTemplate {
            name: Some("s".into()),
            ..SecretTemplate::default()
        };
        template.labels.insert("team".into(), "a".into());
        let json = serde_json::to_value(&template).expect("serializes");
        assert_eq!(json["type"], "Opaque");
        assert_eq!(json["labels"]["team"], "a");
        assert!(json.get("annotations").is_none());
        let back: SecretTemplate = serde_json::from_value(json).expect("parses");
        assert_eq!(back, template);
    }
}
