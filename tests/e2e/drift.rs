//! User stories of drift: whatever is changed by hand in Control Hub (a rename, a deactivation,
//! a deletion, the deletion of the user who registered it, a token regenerated elsewhere) is put
//! back by the operator, and the Secret always ends up holding a working token.

use controlhub_operator::api::REFRESH_ANNOTATION;
use serde_json::json;

use crate::env::{Env, REVOCATION_WAIT, within};
use crate::support::eventually;

const CI_BOT: &str = r#"
apiVersion: controlhub.dev/v1alpha1
kind: ApiCredential
metadata:
  name: ci-bot
spec:
  name: CI bot
"#;

/// The label a credential has in Control Hub now.
async fn label_in_controlhub(env: &Env, id: &str) -> Option<String> {
    env.controlhub_credential(id)
        .await
        .and_then(|c| c["label"].as_str().map(str::to_string))
}

/// A credential renamed in Control Hub gets its declared name back, same ID and token, and the
/// ApiCredential tells why with a Renamed Event.
#[tokio::test]
async fn a_rename_by_hand_in_control_hub_is_put_back() {
    let env = Env::start("drift-rename").await;
    env.apply(CI_BOT).await;
    env.wait_ready("ci-bot").await;
    let (id, token) = env.assert_token_works("ci-bot").await;

    env.update_in_controlhub(
        &id,
        json!({"label": "renamed by hand", "generateAuthToken": false}),
    )
    .await;
    // Lists may lag: until they show the rename they still show the declared label, so the
    // Event (the operator saw the rename and put the name back) comes first, then the list.
    let (_, note) = env.wait_event("ci-bot", "Renamed").await;
    assert!(
        note.contains(&id) && note.contains("CI bot"),
        "the Event names the credential and the label: {note}"
    );
    eventually(
        "the declared label to be back in Control Hub",
        crate::env::WAIT,
        || async { (label_in_controlhub(&env, &id).await.as_deref() == Some("CI bot")).then_some(()) },
    )
    .await;
    let (now_id, now_token) = env.secret_credential("ci-bot").await;
    assert_eq!(now_id, id, "putting the name back keeps the ID");
    assert!(now_token == token, "and the token (values not shown)");
}

/// A credential deactivated in Control Hub is activated again, and the token in the Secret (which
/// stopped working meanwhile) works again.
#[tokio::test]
async fn a_deactivation_by_hand_is_put_back() {
    let env = Env::start("drift-active").await;
    env.apply(CI_BOT).await;
    env.wait_ready("ci-bot").await;
    let (id, token) = env.assert_token_works("ci-bot").await;

    env.update_in_controlhub(
        &id,
        json!({"label": "CI bot", "generateAuthToken": false, "active": false}),
    )
    .await;
    // The deactivation takes effect (revocation may be delayed) -- unless the operator, which
    // sees it only as soon as it does, has activated the credential again already.
    let took_effect = within(REVOCATION_WAIT, || async {
        if env.token_status(&id, &token).await == 401 {
            return Some("the token was refused");
        }
        let activated = env.events_of("ci-bot").await;
        activated
            .iter()
            .any(|e| e.starts_with("Activated:"))
            .then_some("the operator activated it again")
    })
    .await;
    assert!(
        took_effect.is_some(),
        "the deactivation took effect within {REVOCATION_WAIT:?}"
    );
    // Lists may lag (showing it active until they show the deactivation): the Event first.
    let (_, note) = env.wait_event("ci-bot", "Activated").await;
    assert!(note.contains(&id), "the Event names the credential: {note}");
    eventually(
        "the credential to be active again in Control Hub",
        crate::env::WAIT,
        || async {
            env.controlhub_credential(&id)
                .await
                .filter(|c| c["active"] == json!(true))
                .map(|_| ())
        },
    )
    .await;
    assert_eq!(
        env.token_status(&id, &token).await,
        200,
        "the same token works again"
    );
    assert_eq!(env.secret_credential("ci-bot").await.0, id);
}

/// A credential deleted in Control Hub is created again under a new ID, the Secret is updated
/// with its working token, and a Warning Event `Recreated` says what happened.
#[tokio::test]
async fn a_credential_deleted_by_hand_is_recreated() {
    let env = Env::start("drift-deleted").await;
    env.apply(CI_BOT).await;
    env.wait_ready("ci-bot").await;
    let (old_id, _) = env.assert_token_works("ci-bot").await;

    env.delete_in_controlhub(&old_id).await;
    let cred = env
        .wait_for("ci-bot", "a new credential recorded and Ready", |c| {
            let s = c.status.as_ref();
            s.and_then(|s| s.credential_id.as_deref())
                .is_some_and(|id| id != old_id)
                && s.and_then(|s| s.label.as_deref()) == Some("CI bot")
        })
        .await;
    let (new_id, _) = env.assert_token_works("ci-bot").await;
    assert_ne!(new_id, old_id, "a new credential ID");
    assert_eq!(
        cred.status.unwrap().credential_id.as_deref(),
        Some(new_id.as_str())
    );
    let (type_, note) = env.wait_event("ci-bot", "Recreated").await;
    assert_eq!(type_, "Warning");
    assert!(
        note.contains(&new_id),
        "the Event names the new credential: {note}"
    );
    let expected = vec![(
        new_id,
        "CI bot".to_string(),
        env.emulator.admin().user_id.clone(),
        true,
    )];
    env.eventually_managed_credentials("only the new credential, as declared", |managed| {
        managed == expected.as_slice()
    })
    .await;
}

/// Deleting a user in Control Hub deletes every credential that user registered. When the admin
/// who set the operator up is deleted (the connection now uses another admin's credential), a
/// service account's credential they registered is recreated for the service account.
#[tokio::test]
async fn a_credential_deleted_with_the_user_who_registered_it_is_recreated() {
    let env = Env::start("drift-user").await;
    let robot = env
        .emulator
        .create_user("robot@example.com", "Robot", &[], true)
        .await;
    let former = env
        .emulator
        .create_user("former-admin@example.com", "Former admin", &["org-admin"], false)
        .await;
    let (former_id, former_token) = env.emulator.issue_user_credential(&former, "operator").await;
    env.put_connection_secret("controlhub-admin", &former_id, &former_token)
        .await;

    env.apply(&format!("{CI_BOT}  userId: {robot}\n")).await;
    env.wait_ready("ci-bot").await;
    let (old_id, _) = env.assert_token_works("ci-bot").await;
    let registered_by = env.wait_listed(&old_id, "once created", |_| true).await["registeredBy"].clone();
    assert_eq!(registered_by, json!(former), "the former admin registered it");

    // The connection moves to the bootstrap admin; then the former admin's user is deleted.
    let admin = env.emulator.admin().clone();
    env.put_connection_secret("controlhub-admin", &admin.credential_id, &admin.auth_token)
        .await;
    env.emulator.delete_user(&former).await;
    assert!(
        env.controlhub_credential(&old_id).await.is_none(),
        "the cascade deleted the credential"
    );

    env.wait_for("ci-bot", "a new credential recorded", |c| {
        c.status
            .as_ref()
            .and_then(|s| s.credential_id.as_deref())
            .is_some_and(|id| id != old_id)
    })
    .await;
    let cred = env.wait_ready("ci-bot").await;
    let (new_id, token) = env.assert_token_works("ci-bot").await;
    assert_eq!(
        cred.status.unwrap().credential_id.as_deref(),
        Some(new_id.as_str())
    );
    let created = env.wait_listed(&new_id, "once created", |_| true).await;
    assert_eq!(
        created["userId"],
        json!(robot),
        "still the service account's credential"
    );
    assert_eq!(created["registeredBy"], json!(admin.user_id));
    assert_eq!(env.principal_of(&new_id, &token).await, (200, Some(robot)));
    assert_eq!(env.wait_event("ci-bot", "Recreated").await.0, "Warning");
}

/// A token regenerated elsewhere (the Secret's token now fails) is found by the periodic token
/// check and rotated in place: same ID, and the Secret works again.
#[tokio::test]
async fn a_token_regenerated_elsewhere_is_detected_and_rotated() {
    let env = Env::start("drift-token").await;
    env.apply(CI_BOT).await;
    env.wait_ready("ci-bot").await;
    let (id, old) = env.assert_token_works("ci-bot").await;

    env.update_in_controlhub(&id, json!({"label": "CI bot", "generateAuthToken": true}))
        .await;
    env.assert_token_refused(&id, &old, "regenerated elsewhere: the Secret's token")
        .await;
    eventually(
        "a working token in the Secret again",
        crate::env::WAIT,
        || async {
            let (now_id, now) = env.secret_credential("ci-bot").await;
            (now != old && env.token_status(&now_id, &now).await == 200).then_some(())
        },
    )
    .await;
    assert_eq!(
        env.secret_credential("ci-bot").await.0,
        id,
        "rotated in place: same credential ID"
    );
    let (_, note) = env.wait_event("ci-bot", "Rotating").await;
    assert!(note.contains("TokenInvalid"), "the rotation says why: {note}");
    env.wait_ready("ci-bot").await;
}

/// With the drift check 10 minutes away, a new value of `controlhub.dev/refresh` makes the next
/// reconcile compare with a fresh list at once: a rename by hand is put back within seconds, and
/// the value is echoed in `status.lastRefreshRequest`. Without it the shared list (and the label
/// by hand) would stay for the whole drift interval.
#[tokio::test]
async fn the_refresh_annotation_compares_with_a_fresh_list_at_once() {
    let mut env = Env::start("drift-refresh").await;
    env.operator.set_arg("drift-check-interval", "10m");
    env.operator.restart_with(&[]);
    env.apply(CI_BOT).await;
    env.wait_ready("ci-bot").await;
    let (id, _) = env.assert_token_works("ci-bot").await;

    env.update_in_controlhub(
        &id,
        json!({"label": "renamed by hand", "generateAuthToken": false}),
    )
    .await;
    // A fresh list shows the rename once lists do (they may lag behind the change).
    env.wait_listed(&id, "renamed by hand", |c| c["label"] == json!("renamed by hand"))
        .await;
    env.annotate("ci-bot", REFRESH_ANNOTATION, "first").await;
    env.wait_for("ci-bot", "the refresh request echoed", |c| {
        c.status.as_ref().and_then(|s| s.last_refresh_request.as_deref()) == Some("first")
    })
    .await;
    eventually(
        "the declared label to be back in Control Hub after the refresh",
        std::time::Duration::from_secs(15),
        || async { (label_in_controlhub(&env, &id).await.as_deref() == Some("CI bot")).then_some(()) },
    )
    .await;
}
