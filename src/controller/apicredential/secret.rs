//! The Secret a credential is delivered in: how it is recognised (ours or foreign), what it holds,
//! and how it is built for server-side apply.
//!
//! Builds objects only; the reconciler does the I/O. The token enters here as an [`AuthToken`] and
//! leaves only as Secret data: never in a label, an annotation (only a non-reversible fingerprint)
//! or a log line.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::ObjectMeta;

use super::SecretState;
use super::formats::{self, Format};
use crate::controlhub::{AuthToken, CredentialId};

/// Label on every Secret the operator manages; the operator watches only Secrets carrying it.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// The value of [`MANAGED_BY_LABEL`].
pub const MANAGED_BY_VALUE: &str = "controlhub-operator";
/// Label naming the ApiCredential a Secret belongs to.
pub const CREDENTIAL_LABEL: &str = "controlhub.dev/apicredential";
/// Annotation holding the credential ID (also in the data, for workloads).
pub const CREDENTIAL_ID_ANNOTATION: &str = "controlhub.dev/credential-id";
/// Annotation holding a short, non-reversible fingerprint of the token (SHA-256 prefix), used to
/// tell when the token changed without reading it.
pub const FINGERPRINT_ANNOTATION: &str = "controlhub.dev/token-fingerprint";
/// Annotation listing the data keys the operator wrote (sorted, comma-separated), so that a key it
/// no longer declares (an output format removed) is known to be stale.
pub const DATA_KEYS_ANNOTATION: &str = "controlhub.dev/data-keys";

/// The data keys a Secret uses, after defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretKeys {
    pub credential_id: String,
    pub auth_token: String,
    pub url: Option<String>,
}

impl From<crate::api::SecretKeys> for SecretKeys {
    fn from(keys: crate::api::SecretKeys) -> Self {
        SecretKeys {
            credential_id: keys.credential_id,
            auth_token: keys.auth_token,
            url: keys.url,
        }
    }
}

/// How the Secret should look, apart from its credential.
#[derive(Debug, Clone)]
pub struct SecretLayout {
    pub name: String,
    pub namespace: String,
    pub keys: SecretKeys,
    pub type_: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    /// The Control Hub base URL, written under `keys.url` when that key is set.
    pub url: String,
    /// The organization ID, for the output formats that carry it.
    pub org_id: String,
    /// `spec.secret.additionalOutputFormats`, keys resolved.
    pub formats: Vec<Format>,
    pub owner: OwnerReference,
}

impl SecretLayout {
    /// The data keys a Secret built from this layout holds, sorted.
    pub fn data_keys(&self) -> Vec<&str> {
        let mut keys: Vec<&str> = [Some(&self.keys.credential_id), Some(&self.keys.auth_token)]
            .into_iter()
            .chain([self.keys.url.as_ref()])
            .flatten()
            .chain(self.formats.iter().map(|f| &f.key))
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        keys
    }
}

/// What the reconciler reads back from an existing Secret.
#[derive(Debug, Clone)]
pub struct StoredCredential {
    pub id: CredentialId,
    pub token: AuthToken,
}

/// Classifies a Secret read in full (gather knows the stored ID already and calls
/// [`classify_with`]; this states the ownership rules for the tests).
#[cfg(test)]
pub fn classify(secret: Option<&Secret>, owner_uid: &str, keys: &SecretKeys) -> SecretState {
    let stored = secret.and_then(|s| read(s, keys)).map(|s| s.id);
    classify_with(secret, owner_uid, stored)
}

/// Classifies a Secret whose stored credential ID (with a non-empty token) is already known.
pub fn classify_with(
    secret: Option<&Secret>,
    owner_uid: &str,
    stored_id: Option<CredentialId>,
) -> SecretState {
    match secret {
        None => SecretState::Missing,
        Some(s) if !is_owned_by(s, owner_uid) => SecretState::Foreign,
        Some(_) => SecretState::Managed {
            credential_id: stored_id,
        },
    }
}

/// Whether `secret` carries a controller owner reference to the object with `owner_uid`.
pub fn is_owned_by(secret: &Secret, owner_uid: &str) -> bool {
    secret
        .metadata
        .owner_references
        .iter()
        .flatten()
        .any(|r| r.uid == owner_uid && r.controller == Some(true))
}

/// The credential ID and token stored in `secret`, when both are present and non-empty.
pub fn read(secret: &Secret, keys: &SecretKeys) -> Option<StoredCredential> {
    let data = secret.data.as_ref()?;
    let text = |key: &str| {
        data.get(key)
            .and_then(|b| String::from_utf8(b.0.clone()).ok())
            .filter(|s| !s.trim().is_empty())
    };
    let id = text(&keys.credential_id)?;
    let token = AuthToken::new(text(&keys.auth_token)?);
    // A token that is not even shaped like one (edited by hand, truncated) is a lost token.
    token.claims().ok()?;
    Some(StoredCredential {
        id: CredentialId::new(id),
        token,
    })
}

/// The credential the operator last wrote to `secret`, found by its annotations whatever data
/// keys hold it: the key whose value has the recorded fingerprint holds the token. Used to move a
/// token after `spec.secret.keys` or `spec.secret.name` changed, instead of re-issuing it.
pub fn recover(secret: &Secret) -> Option<StoredCredential> {
    let annotations = secret.metadata.annotations.as_ref()?;
    let id = annotations.get(CREDENTIAL_ID_ANNOTATION)?;
    let fingerprint = annotations.get(FINGERPRINT_ANNOTATION)?;
    let token = secret
        .data
        .as_ref()?
        .values()
        .filter_map(|b| String::from_utf8(b.0.clone()).ok())
        .map(AuthToken::new)
        .find(|t| &t.fingerprint() == fingerprint)?;
    token.claims().ok()?;
    Some(StoredCredential {
        id: CredentialId::new(id.clone()),
        token,
    })
}

/// Whether `secret`, which holds `stored`, holds it as `layout` declares: every declared key with
/// its value, and no key the operator wrote before and no longer declares (by the keys recorded
/// in [`DATA_KEYS_ANNOTATION`]; a Secret written before that annotation existed is judged by its
/// declared keys alone). When not, the Secret is rewritten from `stored` (no new token).
pub fn holds_as_declared(secret: &Secret, layout: &SecretLayout, stored: &StoredCredential) -> bool {
    let wanted = build(layout, &stored.id, &stored.token);
    let empty = BTreeMap::new();
    let data = secret.data.as_ref().unwrap_or(&empty);
    let values_match = wanted
        .data
        .iter()
        .flatten()
        .all(|(key, value)| data.get(key) == Some(value));
    let recorded_keys = secret
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(DATA_KEYS_ANNOTATION));
    let wanted_keys = wanted
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(DATA_KEYS_ANNOTATION));
    values_match && recorded_keys.is_none_or(|recorded| Some(recorded) == wanted_keys)
}

/// The token fingerprint recorded on a Secret (absent on Secrets written before it existed).
pub fn fingerprint_of(secret: &Secret) -> Option<&str> {
    secret
        .metadata
        .annotations
        .as_ref()?
        .get(FINGERPRINT_ANNOTATION)
        .map(String::as_str)
}

/// A digest of everything [`build`] takes from `layout`: a Secret known to be built from one
/// layout is not known to match another.
pub fn layout_digest(layout: &SecretLayout) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    format!("{layout:?}").hash(&mut hasher);
    hasher.finish()
}

/// Whether the operator's annotations on `secret` (credential ID, token fingerprint) describe the
/// credential its data holds.
pub fn annotations_describe(secret: &Secret, stored: &StoredCredential) -> bool {
    let annotation = |key: &str| secret.metadata.annotations.as_ref().and_then(|a| a.get(key));
    annotation(CREDENTIAL_ID_ANNOTATION).map(String::as_str) == Some(stored.id.as_str())
        && annotation(FINGERPRINT_ANNOTATION) == Some(&stored.token.fingerprint())
}

/// The empty Secret created before the first token (owner reference, the operator's labels, the
/// declared type; no data and none of the spec's own labels or annotations, which server-side
/// apply adds so that it can also remove them later).
pub fn build_shell(layout: &SecretLayout) -> Secret {
    let labels = [
        (MANAGED_BY_LABEL.to_string(), MANAGED_BY_VALUE.to_string()),
        (CREDENTIAL_LABEL.to_string(), layout.owner.name.clone()),
    ]
    .into();
    Secret {
        metadata: ObjectMeta {
            name: Some(layout.name.clone()),
            namespace: Some(layout.namespace.clone()),
            labels: Some(labels),
            owner_references: Some(vec![layout.owner.clone()]),
            ..Default::default()
        },
        type_: Some(layout.type_.clone()),
        ..Default::default()
    }
}

/// Builds the full Secret for server-side apply.
pub fn build(layout: &SecretLayout, id: &CredentialId, token: &AuthToken) -> Secret {
    let mut labels = layout.labels.clone();
    labels.insert(MANAGED_BY_LABEL.into(), MANAGED_BY_VALUE.into());
    labels.insert(CREDENTIAL_LABEL.into(), layout.owner.name.clone());
    let mut annotations = layout.annotations.clone();
    annotations.insert(CREDENTIAL_ID_ANNOTATION.into(), id.to_string());
    annotations.insert(FINGERPRINT_ANNOTATION.into(), token.fingerprint());

    let mut data = BTreeMap::new();
    data.insert(
        layout.keys.credential_id.clone(),
        ByteString(id.as_str().as_bytes().to_vec()),
    );
    data.insert(
        layout.keys.auth_token.clone(),
        ByteString(token.expose().as_bytes().to_vec()),
    );
    if let Some(url_key) = &layout.keys.url {
        data.insert(url_key.clone(), ByteString(layout.url.as_bytes().to_vec()));
    }
    let sources = formats::Sources {
        url: &layout.url,
        org_id: &layout.org_id,
    };
    for (key, value) in formats::render(&layout.formats, sources, id, token) {
        data.insert(key, ByteString(value));
    }
    annotations.insert(DATA_KEYS_ANNOTATION.into(), layout.data_keys().join(","));
    Secret {
        metadata: ObjectMeta {
            name: Some(layout.name.clone()),
            namespace: Some(layout.namespace.clone()),
            labels: Some(labels),
            annotations: Some(annotations),
            owner_references: Some(vec![layout.owner.clone()]),
            ..Default::default()
        },
        type_: Some(layout.type_.clone()),
        data: Some(data),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> SecretKeys {
        SecretKeys {
            credential_id: "credentialId".into(),
            auth_token: "authToken".into(),
            url: Some("url".into()),
        }
    }

    fn layout() -> SecretLayout {
        SecretLayout {
            name: "ci".into(),
            namespace: "apps".into(),
            keys: keys(),
            type_: "Opaque".into(),
            labels: [("team".to_string(), "data".to_string())].into(),
            annotations: BTreeMap::new(),
            url: "https://ch.example".into(),
            org_id: "org1".into(),
            formats: Vec::new(),
            owner: OwnerReference {
                api_version: "controlhub.dev/v1alpha1".into(),
                kind: "ApiCredential".into(),
                name: "ci".into(),
                uid: "uid-1".into(),
                controller: Some(true),
                block_owner_deletion: Some(true),
            },
        }
    }

    const TOKEN: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJub25lIn0.eyJzIjoiYWJjIiwianRpIjoiYzEiLCJvIjoib3JnMSJ9.";

    #[test]
    fn built_secret_holds_id_token_and_url_and_is_owned() {
        let s = build(
            &layout(),
            &CredentialId::new("c1"),
            &AuthToken::new(TOKEN.to_string()),
        );
        let stored = read(&s, &keys()).expect("readable");
        assert_eq!(stored.id.as_str(), "c1");
        assert_eq!(stored.token.expose(), TOKEN);
        assert_eq!(s.data.as_ref().unwrap()["url"].0, b"https://ch.example");
        assert!(is_owned_by(&s, "uid-1"));
        assert_eq!(
            s.metadata.labels.as_ref().unwrap()[MANAGED_BY_LABEL],
            MANAGED_BY_VALUE
        );
        assert_eq!(s.metadata.labels.as_ref().unwrap()["team"], "data");
    }

    #[test]
    fn the_token_appears_only_in_data() {
        let s = build(
            &layout(),
            &CredentialId::new("c1"),
            &AuthToken::new(TOKEN.to_string()),
        );
        let mut without_data = s.clone();
        without_data.data = None;
        let text = serde_json::to_string(&without_data).unwrap();
        assert!(!text.contains(TOKEN), "token leaked outside data: {text}");
        assert_eq!(
            fingerprint_of(&s).map(str::len),
            Some(AuthToken::new(TOKEN.to_string()).fingerprint().len())
        );
    }

    fn with_formats(mut layout: SecretLayout) -> SecretLayout {
        layout.formats = vec![
            Format {
                type_: crate::api::OutputFormatType::Dotenv,
                key: "controlhub.env".into(),
            },
            Format {
                type_: crate::api::OutputFormatType::OrganizationId,
                key: "organizationId".into(),
            },
        ];
        layout
    }

    fn stored() -> StoredCredential {
        StoredCredential {
            id: CredentialId::new("c1"),
            token: AuthToken::new(TOKEN.to_string()),
        }
    }

    #[test]
    fn output_formats_are_written_beside_the_keys_and_their_keys_recorded() {
        let s = build(&with_formats(layout()), &stored().id, &stored().token);
        let data = s.data.as_ref().unwrap();
        assert_eq!(data["organizationId"].0, b"org1");
        let dotenv = String::from_utf8(data["controlhub.env"].0.clone()).unwrap();
        assert!(dotenv.starts_with("CRED_ID='c1'\n"), "dotenv starts with the ID");
        assert_eq!(
            s.metadata.annotations.as_ref().unwrap()[DATA_KEYS_ANNOTATION],
            "authToken,controlhub.env,credentialId,organizationId,url"
        );
        assert_eq!(read(&s, &keys()).map(|c| c.id), Some(CredentialId::new("c1")));
    }

    #[test]
    fn a_secret_is_as_declared_until_a_format_is_added_or_removed() {
        let plain = build(&layout(), &stored().id, &stored().token);
        let formatted = build(&with_formats(layout()), &stored().id, &stored().token);
        assert!(holds_as_declared(&plain, &layout(), &stored()));
        assert!(holds_as_declared(&formatted, &with_formats(layout()), &stored()));
        assert!(
            !holds_as_declared(&plain, &with_formats(layout()), &stored()),
            "format added"
        );
        assert!(
            !holds_as_declared(&formatted, &layout(), &stored()),
            "format removed"
        );
        let mut other_url = layout();
        other_url.url = "https://other.example".into();
        assert!(!holds_as_declared(&plain, &other_url, &stored()), "URL changed");
    }

    #[test]
    fn a_key_added_by_hand_or_a_secret_from_before_the_keys_annotation_needs_no_rewrite() {
        let mut s = build(&layout(), &stored().id, &stored().token);
        s.data
            .as_mut()
            .unwrap()
            .insert("note".into(), ByteString(b"mine".to_vec()));
        assert!(
            holds_as_declared(&s, &layout(), &stored()),
            "someone else's key is left alone"
        );
        s.metadata
            .annotations
            .as_mut()
            .unwrap()
            .remove(DATA_KEYS_ANNOTATION);
        assert!(holds_as_declared(&s, &layout(), &stored()));
        assert!(!holds_as_declared(&s, &with_formats(layout()), &stored()));
    }

    #[test]
    fn a_secret_owned_by_someone_else_is_foreign() {
        let mut s = build(
            &layout(),
            &CredentialId::new("c1"),
            &AuthToken::new(TOKEN.to_string()),
        );
        assert_eq!(classify(Some(&s), "uid-2", &keys()), SecretState::Foreign);
        s.metadata.owner_references = None;
        assert_eq!(classify(Some(&s), "uid-1", &keys()), SecretState::Foreign);
        assert_eq!(classify(None, "uid-1", &keys()), SecretState::Missing);
    }

    #[test]
    fn a_token_under_other_keys_is_recovered_by_its_fingerprint() {
        let s = build(
            &layout(),
            &CredentialId::new("c1"),
            &AuthToken::new(TOKEN.to_string()),
        );
        let other_keys = SecretKeys {
            credential_id: "id".into(),
            auth_token: "token".into(),
            url: None,
        };
        assert!(read(&s, &other_keys).is_none(), "not under the new keys");
        let found = recover(&s).expect("found by fingerprint");
        assert_eq!(found.id.as_str(), "c1");
        assert_eq!(found.token.expose(), TOKEN);
    }

    #[test]
    fn a_malformed_token_is_no_token() {
        let mut s = build(
            &layout(),
            &CredentialId::new("c1"),
            &AuthToken::new(TOKEN.to_string()),
        );
        s.data
            .as_mut()
            .unwrap()
            .insert("authToken".into(), ByteString(b"not-a-token".to_vec()));
        assert_eq!(
            classify(Some(&s), "uid-1", &keys()),
            SecretState::Managed { credential_id: None }
        );
    }

    #[test]
    fn an_owned_secret_without_a_token_holds_no_credential() {
        let mut s = build(
            &layout(),
            &CredentialId::new("c1"),
            &AuthToken::new(TOKEN.to_string()),
        );
        s.data
            .as_mut()
            .unwrap()
            .insert("authToken".into(), ByteString(vec![]));
        assert_eq!(
            classify(Some(&s), "uid-1", &keys()),
            SecretState::Managed { credential_id: None }
        );
    }
}
