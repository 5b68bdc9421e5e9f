//! User stories of the Secret a credential is delivered in: its declared name, keys, type, labels
//! and annotations (and the Control Hub URL) are honoured; a Secret that belongs to someone else
//! is never overwritten; a Secret deleted by hand comes back with a fresh token; renaming the
//! Secret moves the credential.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use kube::api::PostParams;

use crate::env::{Env, WAIT};
use crate::support::eventually;

/// The Secret's data as text, by key.
fn data_of(secret: &Secret) -> BTreeMap<String, String> {
    secret
        .data
        .iter()
        .flatten()
        .map(|(k, v)| {
            (
                k.clone(),
                String::from_utf8(v.0.clone()).expect("UTF-8 Secret data"),
            )
        })
        .collect()
}

const CUSTOM: &str = r#"
apiVersion: controlhub.dev/v1alpha1
kind: ApiCredential
metadata:
  name: ci-bot
spec:
  name: CI bot
  secret:
    name: ci-bot-controlhub
    type: example.com/controlhub
    keys:
      credentialId: CRED_ID
      authToken: CRED_TOKEN
      url: CONTROL_HUB_URL
    labels:
      team: data
    annotations:
      example.com/owner: data-team
"#;

/// A custom Secret name, keys, type, labels and annotations are honoured, and the `url` key holds
/// the connection's Control Hub URL.
#[tokio::test]
async fn the_declared_secret_layout_is_honoured() {
    let env = Env::start("sec-layout").await;
    env.apply(CUSTOM).await;
    let cred = env.wait_ready("ci-bot").await;
    assert_eq!(
        cred.status.unwrap().secret_name.as_deref(),
        Some("ci-bot-controlhub")
    );
    let secret = env
        .secrets()
        .get("ci-bot-controlhub")
        .await
        .expect("the Secret has the declared name");
    assert_eq!(secret.type_.as_deref(), Some("example.com/controlhub"));
    let data = data_of(&secret);
    assert_eq!(
        data.keys().collect::<Vec<_>>(),
        ["CONTROL_HUB_URL", "CRED_ID", "CRED_TOKEN"],
        "exactly the declared keys"
    );
    assert_eq!(
        data["CONTROL_HUB_URL"].trim_end_matches('/'),
        env.emulator.url().trim_end_matches('/')
    );
    let status = env.token_status(&data["CRED_ID"], &data["CRED_TOKEN"]).await;
    assert_eq!(status, 200, "the token under CRED_TOKEN authenticates");
    let labels = secret.metadata.labels.unwrap_or_default();
    assert_eq!(labels.get("team").map(String::as_str), Some("data"));
    assert_eq!(
        labels.get("app.kubernetes.io/managed-by").map(String::as_str),
        Some("controlhub-operator")
    );
    let annotations = secret.metadata.annotations.unwrap_or_default();
    assert_eq!(
        annotations.get("example.com/owner").map(String::as_str),
        Some("data-team")
    );
    assert!(
        env.secrets().get_opt("ci-bot").await.unwrap().is_none(),
        "no Secret under the default name"
    );
}

/// A Secret of the target name that the ApiCredential does not own is never overwritten: the
/// ApiCredential is `SecretConflict` and nothing is created in Control Hub. Once the user removes
/// that Secret, the credential is created.
#[tokio::test]
async fn a_foreign_secret_is_never_overwritten() {
    let env = Env::start("sec-foreign").await;
    let foreign: Secret = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "ci-bot", "labels": {"owner": "someone-else"}},
        "stringData": {"authToken": "not-yours", "note": "keep me"}
    }))
    .unwrap();
    env.secrets()
        .create(&PostParams::default(), &foreign)
        .await
        .unwrap();
    let before = env.secrets().get("ci-bot").await.unwrap();

    env.apply(
        "apiVersion: controlhub.dev/v1alpha1\nkind: ApiCredential\nmetadata:\n  name: ci-bot\nspec: {}\n",
    )
    .await;
    let (ready, stalled) = env.wait_blocked("ci-bot", "SecretConflict").await;
    assert_eq!(ready.0, "False");
    assert!(
        ready.2.contains("ci-bot"),
        "the message names the Secret: {}",
        ready.2
    );
    assert_eq!(stalled.map(|s| s.0).as_deref(), Some("True"));
    assert_eq!(env.wait_event("ci-bot", "SecretConflict").await.0, "Warning");

    let after = env.secrets().get("ci-bot").await.unwrap();
    assert_eq!(data_of(&after), data_of(&before), "the data is untouched");
    assert_eq!(
        after.metadata.resource_version, before.metadata.resource_version,
        "the Secret was not written at all"
    );
    assert!(after.metadata.owner_references.is_none());
    assert_eq!(
        env.emulator.stats().await.total("createCredential"),
        0,
        "no credential was created"
    );
    let managed = env.managed_credentials_settled().await;
    assert!(managed.is_empty(), "{managed:?}");

    env.secrets().delete("ci-bot", &Default::default()).await.unwrap();
    env.wait_ready("ci-bot").await;
    env.assert_token_works("ci-bot").await;
}

/// Deleting the Secret by hand: a new token is issued (same credential), the Secret comes back,
/// and the token that was lost no longer works.
#[tokio::test]
async fn a_secret_deleted_by_hand_is_recreated_with_a_new_token() {
    let env = Env::start("sec-deleted").await;
    env.apply(
        "apiVersion: controlhub.dev/v1alpha1\nkind: ApiCredential\nmetadata:\n  name: ci-bot\nspec: {}\n",
    )
    .await;
    env.wait_ready("ci-bot").await;
    let (id, old) = env.assert_token_works("ci-bot").await;
    let old_uid = env.secrets().get("ci-bot").await.unwrap().metadata.uid;

    env.secrets().delete("ci-bot", &Default::default()).await.unwrap();
    let secrets = env.secrets();
    eventually("the Secret to be written again", WAIT, || {
        let secrets = secrets.clone();
        let old_uid = old_uid.clone();
        async move {
            secrets
                .get_opt("ci-bot")
                .await
                .ok()
                .flatten()
                .filter(|s| s.metadata.uid != old_uid && s.data.is_some())
        }
    })
    .await;
    let (new_id, new) = env.assert_token_works("ci-bot").await;
    assert_eq!(new_id, id, "the same credential");
    assert!(
        new != old,
        "a new token: the lost one may have leaked (values not shown)"
    );
    env.assert_token_refused(&id, &old, "the lost token").await;
    let managed = env.managed_credentials_settled().await;
    assert_eq!(managed.len(), 1, "{managed:?}");
}

/// Changing `spec.secret.name` moves the credential to the new Secret (same ID, working token)
/// and deletes the old Secret.
#[tokio::test]
async fn changing_the_secret_name_moves_the_credential() {
    let env = Env::start("sec-rename").await;
    let yaml = |secret: &str| {
        format!(
            "apiVersion: controlhub.dev/v1alpha1\nkind: ApiCredential\nmetadata:\n  name: ci-bot\nspec:\n  secret:\n    name: {secret}\n"
        )
    };
    env.apply(&yaml("first-secret")).await;
    env.wait_ready("ci-bot").await;
    let (id, token) = env.assert_token_works("first-secret").await;
    // Count from when Control Hub lists the credential (lists may lag behind its creation;
    // until then a fresh list misses it and the operator confirms it exists with a write).
    env.wait_listed_as_recorded("ci-bot").await;
    env.emulator.reset_stats().await;

    env.apply(&yaml("second-secret")).await;
    let cred = env
        .wait_for("ci-bot", "status names the new Secret", |c| {
            c.status.as_ref().and_then(|s| s.secret_name.as_deref()) == Some("second-secret")
        })
        .await;
    assert_eq!(cred.status.unwrap().credential_id.as_deref(), Some(id.as_str()));
    let (new_id, moved) = env.assert_token_works("second-secret").await;
    assert_eq!(new_id, id, "the same credential, moved");
    assert_eq!(moved, token, "the same token, moved: not re-issued");
    assert_eq!(
        env.emulator.stats().await.total("updateCredential"),
        0,
        "no Control Hub write: the working token was moved, not regenerated"
    );
    let secrets = env.secrets();
    eventually("the old Secret to be deleted", WAIT, || {
        let secrets = secrets.clone();
        async move {
            secrets
                .get_opt("first-secret")
                .await
                .ok()
                .flatten()
                .is_none()
                .then_some(())
        }
    })
    .await;
    let managed = env.managed_credentials_settled().await;
    assert_eq!(managed.len(), 1, "no second credential: {managed:?}");
}

/// Changing `spec.secret.keys` moves the working token to the new keys (same token, no Control
/// Hub call), and the old keys are removed from the Secret.
#[tokio::test]
async fn changing_the_secret_keys_moves_the_token_without_reissuing_it() {
    let env = Env::start("sec-keys").await;
    let yaml = |id_key: &str, token_key: &str| {
        format!(
            "apiVersion: controlhub.dev/v1alpha1\nkind: ApiCredential\nmetadata:\n  name: ci-bot\nspec:\n  secret:\n    keys: {{credentialId: {id_key}, authToken: {token_key}}}\n"
        )
    };
    env.apply(&yaml("credentialId", "authToken")).await;
    env.wait_ready("ci-bot").await;
    let (id, token) = env.assert_token_works("ci-bot").await;
    // Count from when Control Hub lists the credential (see changing_the_secret_name_…).
    env.wait_listed_as_recorded("ci-bot").await;
    env.emulator.reset_stats().await;

    env.apply(&yaml("CRED_ID", "CRED_TOKEN")).await;
    let secrets = env.secrets();
    let data = eventually("the token under the new keys", WAIT, || {
        let secrets = secrets.clone();
        async move {
            let data = secrets.get("ci-bot").await.ok()?.data?;
            data.contains_key("CRED_TOKEN").then_some(data)
        }
    })
    .await;
    let text = |k: &str| String::from_utf8(data[k].0.clone()).unwrap();
    assert_eq!(text("CRED_ID"), id);
    assert!(
        text("CRED_TOKEN") == token,
        "the same token, moved (values not shown)"
    );
    assert!(
        !data.contains_key("authToken") && !data.contains_key("credentialId"),
        "the old keys are gone"
    );
    assert_eq!(env.token_status(&id, &token).await, 200, "still working");
    env.wait_ready("ci-bot").await;
    assert_eq!(
        env.emulator.stats().await.total("updateCredential"),
        0,
        "no Control Hub write: the working token was moved, not regenerated"
    );
}

/// Renaming `spec.secret.name` to a name taken by someone else's Secret blocks with
/// SecretConflict and keeps the working Secret: it is deleted only once the new one holds the
/// token.
#[tokio::test]
async fn renaming_the_secret_onto_a_foreign_one_keeps_the_working_secret() {
    let env = Env::start("sec-rename-conflict").await;
    let yaml = |secret: &str| {
        format!(
            "apiVersion: controlhub.dev/v1alpha1\nkind: ApiCredential\nmetadata:\n  name: ci-bot\nspec:\n  secret:\n    name: {secret}\n"
        )
    };
    env.apply(&yaml("first-secret")).await;
    env.wait_ready("ci-bot").await;
    let (id, token) = env.assert_token_works("first-secret").await;
    let foreign: k8s_openapi::api::core::v1::Secret = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "taken"},
        "stringData": {"app": "someone else's"}
    }))
    .unwrap();
    env.secrets()
        .create(&Default::default(), &foreign)
        .await
        .expect("creating the foreign Secret");

    env.apply(&yaml("taken")).await;
    env.wait_reason("ci-bot", "SecretConflict").await;
    let (kept_id, kept_token) = env.assert_token_works("first-secret").await;
    assert_eq!(
        (kept_id, kept_token),
        (id, token),
        "the working Secret is kept as it was"
    );
    let taken = env.secrets().get("taken").await.unwrap();
    assert!(
        taken.data.unwrap_or_default().keys().all(|k| k == "app"),
        "nothing written into the foreign Secret"
    );
}
