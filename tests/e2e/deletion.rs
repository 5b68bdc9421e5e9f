//! User stories of deleting an ApiCredential: `deletionPolicy` Deactivate and Retain are applied
//! in Control Hub; a credential already gone, or a connection that is gone, never blocks the
//! deletion; a replaced credential still in its grace period is deleted too.

use controlhub_operator::api::ROTATE_ANNOTATION;
use kube::api::{Api, DeleteParams, Patch, PatchParams};

use crate::env::{CONNECTION, Env, WAIT};
use crate::support::eventually;

fn with_policy(policy: &str) -> String {
    format!(
        "apiVersion: controlhub.dev/v1alpha1\nkind: ApiCredential\nmetadata:\n  name: ci-bot\nspec:\n  name: CI bot\n  deletionPolicy: {policy}\n"
    )
}

/// `deletionPolicy: Deactivate`: after the ApiCredential is gone the credential still exists in
/// Control Hub, deactivated, and its token no longer works.
#[tokio::test]
async fn deactivate_leaves_the_credential_deactivated() {
    let env = Env::start("del-deactivate").await;
    env.apply(&with_policy("Deactivate")).await;
    env.wait_ready("ci-bot").await;
    let (id, token) = env.assert_token_works("ci-bot").await;
    // Deleted once Control Hub lists the credential: deleting within the list lag is the story
    // below (an operator bug today).
    env.wait_listed_as_recorded("ci-bot").await;
    env.delete("ci-bot").await;
    env.wait_gone("ci-bot").await;
    // Kept and deactivated, once the (possibly lagging) list shows the deactivation.
    let left = env
        .wait_listed(&id, "kept, deactivated", |c| {
            c["active"] == serde_json::json!(false)
        })
        .await;
    assert_eq!(left["label"], serde_json::json!("CI bot"));
    env.assert_token_refused(&id, &token, "deactivated on deletion")
        .await;
    assert!(env.wait_event("ci-bot", "Deactivated").await.1.contains(&id));
}

/// `deletionPolicy: Deactivate` for a credential deleted right after it was made, while Control
/// Hub's lists do not show it yet (strict profile: lists lag 2 s). The credential must still end
/// up deactivated and its token refused.
///
/// Fails today: the cleanup (src/controller/apicredential/cleanup.rs) takes the label for the
/// deactivating update from the fresh list, finds none for a credential the list does not show
/// yet, skips `set_credential_active(.., false)`, and still publishes `Deactivated`.
#[tokio::test]
async fn deactivate_within_the_list_lag_still_deactivates() {
    let env = Env::start_with(
        "del-deactivate-lag",
        crate::env::EnvOptions {
            allowed_user_ids: vec!["*".into()],
            emulator_profile: Some("strict".into()),
            ..Default::default()
        },
    )
    .await;
    env.apply(&with_policy("Deactivate")).await;
    env.wait_ready("ci-bot").await;
    let (id, token) = env.assert_token_works("ci-bot").await;
    env.delete("ci-bot").await;
    env.wait_gone("ci-bot").await;
    env.wait_listed(&id, "kept, deactivated", |c| {
        c["active"] == serde_json::json!(false)
    })
    .await;
    env.assert_token_refused(&id, &token, "deactivated on deletion")
        .await;
}

/// `deletionPolicy: Retain`: the credential stays active and its token keeps working — and so
/// does its Secret: it is released from the ApiCredential (no owner reference left for the
/// garbage collector to follow) before the finalizer goes, because Control Hub never shows the
/// token again.
#[tokio::test]
async fn retain_leaves_the_credential_active_and_working() {
    let env = Env::start("del-retain").await;
    let cred = env.apply(&with_policy("Retain")).await;
    let uid = cred.metadata.uid.clone().expect("uid");
    env.wait_ready("ci-bot").await;
    let (id, token) = env.assert_token_works("ci-bot").await;
    env.delete("ci-bot").await;
    env.wait_gone("ci-bot").await;
    let secret = env
        .secrets()
        .get("ci-bot")
        .await
        .expect("the Secret outlives the ApiCredential");
    assert!(
        secret
            .metadata
            .owner_references
            .iter()
            .flatten()
            .all(|r| r.uid != uid),
        "the Secret was released (else the garbage collector deletes it): {:?}",
        secret.metadata.owner_references
    );
    let (kept_id, kept_token) = env.assert_token_works("ci-bot").await;
    assert_eq!(
        (kept_id, kept_token),
        (id.clone(), token.clone()),
        "the same credential"
    );
    let left = env
        .wait_listed(&id, "kept (lists may lag behind its creation)", |_| true)
        .await;
    assert_eq!(left["active"], serde_json::json!(true));
    assert_eq!(env.token_status(&id, &token).await, 200, "its token still works");
    assert_eq!(
        env.emulator.stats().await.total("deleteCredential"),
        0,
        "nothing was deleted"
    );
}

/// A credential already deleted in Control Hub does not block deleting the ApiCredential (and is
/// not recreated on the way out). The operator is stopped meanwhile so that it sees both at once.
#[tokio::test]
async fn a_credential_already_deleted_in_control_hub_does_not_block_deletion() {
    let mut env = Env::start("del-gone").await;
    env.apply(&with_policy("Delete")).await;
    env.wait_ready("ci-bot").await;
    let (id, _) = env.assert_token_works("ci-bot").await;
    env.operator.kill();
    env.delete_in_controlhub(&id).await;
    env.delete("ci-bot").await;
    env.operator.restart_with(&[]);
    env.wait_gone("ci-bot").await;
    let left = env.managed_credentials_settled().await;
    assert!(left.is_empty(), "nothing was recreated: {left:?}");
    assert_eq!(
        env.emulator.stats().await.count("createCredential", 200),
        1,
        "only the original create"
    );
}

/// A connection being deleted is kept (finalizer `controlhub.dev/connection-in-use`) while an
/// ApiCredential needs it for cleanup, so deleting the ApiCredential afterwards still deletes its
/// credential in Control Hub; then the connection goes.
#[tokio::test]
async fn a_connection_being_deleted_still_serves_cleanup() {
    let env = Env::start("del-connkept").await;
    env.apply(&with_policy("Delete")).await;
    env.wait_ready("ci-bot").await;
    let (id, _) = env.assert_token_works("ci-bot").await;
    let connections = connections_api(&env);
    eventually("the connection to carry the in-use finalizer", WAIT, || {
        let connections = connections.clone();
        async move {
            let c = connections.get(CONNECTION).await.ok()?;
            c.metadata
                .finalizers
                .unwrap_or_default()
                .iter()
                .any(|f| f == "controlhub.dev/connection-in-use")
                .then_some(())
        }
    })
    .await;
    connections
        .delete(CONNECTION, &DeleteParams::default())
        .await
        .unwrap();

    env.delete("ci-bot").await;
    env.wait_gone("ci-bot").await;
    assert!(
        env.controlhub_credential(&id).await.is_none(),
        "the credential was deleted through the connection being deleted"
    );
    eventually("the connection to go once nothing needs it", WAIT, || {
        let connections = connections.clone();
        async move { matches!(connections.get_opt(CONNECTION).await, Ok(None)).then_some(()) }
    })
    .await;
}

/// Deleting while the connection is gone for good (its finalizer removed by hand, as an admin
/// forcing it out would) does not hang: the finalizer is released with a Warning Event
/// `CleanupSkipped` naming the credential left in Control Hub.
#[tokio::test]
async fn deleting_without_a_connection_does_not_hang() {
    let env = Env::start("del-noconn").await;
    env.apply(&with_policy("Delete")).await;
    env.wait_ready("ci-bot").await;
    let (id, _) = env.assert_token_works("ci-bot").await;

    let connections = connections_api(&env);
    connections
        .delete(CONNECTION, &DeleteParams::default())
        .await
        .unwrap();
    let force = serde_json::json!({"metadata": {"finalizers": null}});
    eventually("the connection to be forced out", WAIT, || {
        let connections = connections.clone();
        let force = force.clone();
        async move {
            let _ = connections
                .patch(CONNECTION, &PatchParams::default(), &Patch::Merge(&force))
                .await;
            matches!(connections.get_opt(CONNECTION).await, Ok(None)).then_some(())
        }
    })
    .await;
    env.wait_reason("ci-bot", "ConnectionNotFound").await;

    env.delete("ci-bot").await;
    env.wait_gone("ci-bot").await;
    let (type_, note) = env.wait_event("ci-bot", "CleanupSkipped").await;
    assert_eq!(type_, "Warning");
    assert!(
        note.contains(&id),
        "the Event names the credential left behind: {note}"
    );
    env.wait_listed(&id, "left in Control Hub, as the Event says", |_| true)
        .await;
}

fn connections_api(env: &Env) -> Api<kube::core::DynamicObject> {
    let gvk = kube::core::GroupVersionKind::gvk("controlhub.dev", "v1alpha1", "ControlHubConnection");
    let ar = kube::core::ApiResource::from_gvk_with_plural(&gvk, "controlhubconnections");
    Api::namespaced_with(env.ns.client.clone(), &env.ns.name, &ar)
}

/// A credential replaced by a rotation and still in its grace period is deleted together with
/// the current one.
#[tokio::test]
async fn a_replaced_credential_in_its_grace_period_is_deleted_too() {
    let env = Env::start("del-grace").await;
    env.apply(&format!(
        "{}  rotation:\n    interval: 720h\n    strategy: Replace\n    gracePeriod: 1h\n",
        with_policy("Delete")
    ))
    .await;
    env.wait_ready("ci-bot").await;
    let (old_id, old_token) = env.assert_token_works("ci-bot").await;
    env.annotate("ci-bot", ROTATE_ANNOTATION, "replace-1").await;
    env.wait_for("ci-bot", "the old credential in its grace period", |c| {
        c.status
            .as_ref()
            .and_then(|s| s.previous_credential_id.as_deref())
            == Some(old_id.as_str())
    })
    .await;
    let (new_id, new_token) = env.assert_token_works("ci-bot").await;
    assert_eq!(
        env.token_status(&old_id, &old_token).await,
        200,
        "still in its grace period"
    );

    env.delete("ci-bot").await;
    env.wait_gone("ci-bot").await;
    assert!(
        env.managed_credentials().await.is_empty(),
        "both credentials are deleted"
    );
    env.assert_token_refused(&old_id, &old_token, "the replaced credential, deleted")
        .await;
    env.assert_token_refused(&new_id, &new_token, "the current credential, deleted")
        .await;
}
