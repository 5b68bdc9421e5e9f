//! The `ControlHubConnection` (namespaced) and `ClusterControlHubConnection` (cluster-scoped)
//! custom resources: how to reach one Control Hub organization as one identity.
//!
//! Both kinds share [`ConnectionSettings`]; only the cluster kind names the Secret's namespace
//! and which namespaces may use it, so neither can express the other's fields. Declarations
//! and defaults only: authenticating and rate limiting are the client's and controller's jobs.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::connection_status::ConnectionStatus;
use super::rules;
use super::secret_template::{DEFAULT_AUTH_TOKEN_KEY, DEFAULT_CREDENTIAL_ID_KEY};

/// Default sustained request rate per connection: 100 requests/s.
///
/// A one-at-a-time SDK script (create a credential, then `kubectl create secret`) sends one
/// Control Hub call per credential, about 9 calls/s at 50 ms of Control Hub latency (110 ms per
/// credential, measured); the operator makes about two calls per new credential (create under a
/// pending name, then the rename) plus one list per owner. To provision ≥ 5× faster than that
/// script it needs about 10× its call rate, so 100/s: the load of a handful of such scripts, far
/// below a thread pool of 32 (≈ 300 calls/s at the same latency). `rateLimit` lowers or raises it.
pub const DEFAULT_REQUESTS_PER_SECOND: f64 = 100.0;
/// Default burst per connection: 100 requests, one second at the default rate, so a namespace's
/// first few dozen ApiCredentials start at once without raising the sustained rate.
pub const DEFAULT_BURST: u32 = 100;
/// Default number of concurrent requests per connection: 16, enough to sustain the default 100
/// requests/s up to 160 ms of Control Hub latency (in flight ÷ latency), and still a fraction of
/// the 64 a connection may allow.
pub const DEFAULT_MAX_CONCURRENT_REQUESTS: u32 = 16;

/// Settings shared by both connection kinds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionSettings {
    /// Base URL of Control Hub, such as `https://na01.hub.streamsets.com`. Exclusive with
    /// `asterUrl`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = rules::URL_MAX))]
    #[x_kube(validation = rules::HTTP_URL.to_kube())]
    pub url: Option<String>,
    /// URL of the StreamSets account service, from which the organization's Control Hub URL is
    /// discovered. Exclusive with `url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = rules::URL_MAX))]
    #[x_kube(validation = rules::HTTP_URL.to_kube())]
    pub aster_url: Option<String>,
    /// PEM certificates to trust for Control Hub's TLS certificate, for private CAs. Default: the
    /// system's trusted roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = rules::CA_BUNDLE_MAX))]
    #[x_kube(validation = rules::CA_BUNDLE_PEM.to_kube())]
    pub ca_bundle: Option<String>,
    /// Control Hub user IDs that ApiCredentials using this connection may create credentials
    /// for, besides the connection's own user; `*` allows any user. Needs an org-admin identity.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = rules::ALLOWED_USER_IDS_MAX), inner(length(max = rules::USER_ID_MAX), pattern(rules::ALLOWED_USER_ID)))]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub allowed_user_ids: Vec<String>,
    /// Client-side limit on the request rate to Control Hub. Default: 100 per second, burst 100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
    /// Most requests in flight to Control Hub at once, 1 to 64. Default: 16.
    #[serde(default = "default_max_concurrent_requests")]
    #[schemars(range(min = 1, max = 64), extend("format" = "int32"))]
    pub max_concurrent_requests: u32,
}

impl Default for ConnectionSettings {
    fn default() -> Self {
        Self {
            url: None,
            aster_url: None,
            ca_bundle: None,
            allowed_user_ids: Vec::new(),
            rate_limit: None,
            max_concurrent_requests: DEFAULT_MAX_CONCURRENT_REQUESTS,
        }
    }
}

impl ConnectionSettings {
    /// The rate limit with defaults applied.
    pub fn rate_limit(&self) -> RateLimit {
        self.rate_limit.clone().unwrap_or_default()
    }

    /// Whether this connection may create credentials for `user_id` (another user than its own).
    pub fn allows_user(&self, user_id: &str) -> bool {
        self.allowed_user_ids
            .iter()
            .any(|allowed| allowed == "*" || allowed == user_id)
    }
}

/// A token-bucket limit on requests to Control Hub.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RateLimit {
    /// Sustained requests per second, 0.1 to 1000. Default: 100.
    #[serde(default = "default_requests_per_second")]
    #[schemars(range(min = 0.1, max = 1000.0))]
    pub requests_per_second: f64,
    /// Requests allowed at once above the sustained rate, 1 to 1000. Default: 100.
    #[serde(default = "default_burst")]
    #[schemars(range(min = 1, max = 1000), extend("format" = "int32"))]
    pub burst: u32,
}

impl Default for RateLimit {
    fn default() -> Self {
        Self {
            requests_per_second: DEFAULT_REQUESTS_PER_SECOND,
            burst: DEFAULT_BURST,
        }
    }
}

/// The Secret holding the connection's own credential ID and token, in the connection's
/// namespace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CredentialsSecretRef {
    /// Name of the Secret.
    #[schemars(length(min = 1, max = rules::DNS_SUBDOMAIN_MAX), pattern(rules::DNS_SUBDOMAIN))]
    pub name: String,
    /// Key of the credential ID. Default: `credentialId`.
    #[serde(default = "default_credential_id_key")]
    #[schemars(length(min = 1, max = rules::DNS_SUBDOMAIN_MAX), pattern(rules::SECRET_KEY))]
    pub credential_id_key: String,
    /// Key of the token. Default: `authToken`.
    #[serde(default = "default_auth_token_key")]
    #[schemars(length(min = 1, max = rules::DNS_SUBDOMAIN_MAX), pattern(rules::SECRET_KEY))]
    pub auth_token_key: String,
}

/// The Secret holding a cluster connection's credential ID and token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterCredentialsSecretRef {
    /// Namespace of the Secret (usually the operator's).
    #[schemars(length(min = 1, max = rules::DNS_LABEL_MAX), pattern(rules::DNS_LABEL))]
    pub namespace: String,
    /// Name and keys of the Secret.
    #[serde(flatten)]
    pub secret: CredentialsSecretRef,
}

/// How to reach a Control Hub organization, usable by ApiCredentials in this namespace.
// Each `printcolumn(...)` repeats `type_`, which clippy mistakes for a duplicated attribute.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "controlhub.dev",
    version = "v1alpha1",
    kind = "ControlHubConnection",
    namespaced,
    status = "ConnectionStatus",
    shortname = "chconn",
    category = "controlhub",
    derive = "PartialEq",
    doc = "How to reach a StreamSets Control Hub organization, for ApiCredentials in the same namespace.",
    printcolumn(name = "URL", type_ = "string", json_path = ".spec.url"),
    printcolumn(name = "Organization", type_ = "string", json_path = ".status.organizationId"),
    printcolumn(name = "Principal", type_ = "string", json_path = ".status.principalId"),
    printcolumn(name = "Org Admin", type_ = "boolean", json_path = ".status.orgAdmin"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = rules::CONNECTION_URL_ONE_OF.to_kube())]
pub struct ControlHubConnectionSpec {
    /// URLs, trust, allowed users and limits.
    #[serde(flatten)]
    pub settings: ConnectionSettings,
    /// Secret in this namespace with the credential ID and token the operator authenticates
    /// with.
    pub credentials_secret_ref: CredentialsSecretRef,
}

/// How to reach a Control Hub organization, usable by ApiCredentials in the namespaces it allows.
// Each `printcolumn(...)` repeats `type_`, which clippy mistakes for a duplicated attribute.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "controlhub.dev",
    version = "v1alpha1",
    kind = "ClusterControlHubConnection",
    status = "ConnectionStatus",
    shortname = "cchconn",
    category = "controlhub",
    derive = "PartialEq",
    doc = "How to reach a StreamSets Control Hub organization, for ApiCredentials in the namespaces it allows.",
    printcolumn(name = "URL", type_ = "string", json_path = ".spec.url"),
    printcolumn(name = "Organization", type_ = "string", json_path = ".status.organizationId"),
    printcolumn(name = "Principal", type_ = "string", json_path = ".status.principalId"),
    printcolumn(name = "Org Admin", type_ = "boolean", json_path = ".status.orgAdmin"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = rules::CONNECTION_URL_ONE_OF.to_kube())]
pub struct ClusterControlHubConnectionSpec {
    /// URLs, trust, allowed users and limits.
    #[serde(flatten)]
    pub settings: ConnectionSettings,
    /// Secret with the credential ID and token the operator authenticates with.
    pub credentials_secret_ref: ClusterCredentialsSecretRef,
    /// Namespaces whose ApiCredentials may use this connection, by label. Absent: all
    /// namespaces; `{}` also selects all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_namespaces: Option<LabelSelector>,
    /// Whether ApiCredentials without `spec.userId` (or naming this connection's own user) may
    /// obtain credentials of the connection's own identity. Such a credential carries every
    /// role of that identity (often an Organization Administrator) to whoever reads its Secret,
    /// so it is off unless set to `true`. Credentials for the users in `allowedUserIds` (service
    /// accounts) are not affected.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub share_connection_identity: bool,
}

fn default_credential_id_key() -> String {
    DEFAULT_CREDENTIAL_ID_KEY.to_owned()
}

fn default_auth_token_key() -> String {
    DEFAULT_AUTH_TOKEN_KEY.to_owned()
}

fn default_requests_per_second() -> f64 {
    DEFAULT_REQUESTS_PER_SECOND
}

fn default_burst() -> u32 {
    DEFAULT_BURST
}

fn default_max_concurrent_requests() -> u32 {
    DEFAULT_MAX_CONCURRENT_REQUESTS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaced_spec_parses_flat_settings_with_defaults() {
        let spec: ControlHubConnectionSpec = serde_json::from_value(serde_json::json!({
            "url": "https://na01.hub.streamsets.com",
            "credentialsSecretRef": {"name": "ch-admin"}
        }))
        .expect("parses");
        assert_eq!(
            spec.settings.url.as_deref(),
            Some("https://na01.hub.streamsets.com")
        );
        assert_eq!(spec.settings.max_concurrent_requests, 16);
        assert_eq!(
            spec.settings.rate_limit(),
            RateLimit {
                requests_per_second: 100.0,
                burst: 100
            }
        );
        assert_eq!(spec.credentials_secret_ref.credential_id_key, "credentialId");
        assert_eq!(spec.credentials_secret_ref.auth_token_key, "authToken");
    }

    #[test]
    fn cluster_spec_carries_namespace_and_selector_and_round_trips() {
        let json = serde_json::json!({
            "asterUrl": "https://accounts.streamsets.com",
            "credentialsSecretRef": {"namespace": "controlhub-system", "name": "ch-admin", "authTokenKey": "token"},
            "allowedNamespaces": {"matchLabels": {"team": "data"}},
            "allowedUserIds": ["*"],
            "rateLimit": {"requestsPerSecond": 2.5}
        });
        let spec: ClusterControlHubConnectionSpec = serde_json::from_value(json).expect("parses");
        assert_eq!(spec.credentials_secret_ref.namespace, "controlhub-system");
        assert_eq!(spec.credentials_secret_ref.secret.name, "ch-admin");
        assert_eq!(spec.credentials_secret_ref.secret.auth_token_key, "token");
        assert_eq!(
            spec.settings.rate_limit(),
            RateLimit {
                requests_per_second: 2.5,
                burst: 100
            }
        );
        let back: ClusterControlHubConnectionSpec =
            serde_json::from_value(serde_json::to_value(&spec).expect("serializes")).expect("parses");
        assert_eq!(back, spec);
    }

    #[test]
    fn allows_user_honours_the_list_and_the_wildcard() {
        let mut settings = ConnectionSettings {
            allowed_user_ids: vec!["sa@org".into()],
            ..Default::default()
        };
        assert!(settings.allows_user("sa@org"));
        assert!(!settings.allows_user("admin@org"));
        settings.allowed_user_ids = vec!["*".into()];
        assert!(settings.allows_user("admin@org"));
        settings.allowed_user_ids.clear();
        assert!(!settings.allows_user("sa@org"));
    }

    #[test]
    fn namespaced_secret_ref_requires_a_name() {
        let missing = serde_json::json!({"url": "https://x", "credentialsSecretRef": {}});
        assert!(serde_json::from_value::<ControlHubConnectionSpec>(missing).is_err());
    }
}
