//! User stories of one credential's life: created for the connection's own user with a working
//! token in its Secret, renamed, deactivated and activated, rotated on request, deleted.

use controlhub_operator::api::ROTATE_ANNOTATION;

use crate::env::Env;
use crate::quiet::reconciled_again;

const CI_BOT: &str = r#"
apiVersion: controlhub.dev/v1alpha1
kind: ApiCredential
metadata:
  name: ci-bot
spec:
  name: CI bot
"#;

/// Applying an ApiCredential creates exactly one credential in Control Hub and delivers a
/// working token in a Secret owned by the ApiCredential; status shows the ID, label and owner.
#[tokio::test]
async fn a_new_credential_reaches_ready_with_a_working_token() {
    let env = Env::start("life-create").await;
    env.apply(CI_BOT).await;
    let cred = env.wait_ready("ci-bot").await;
    let status = cred.status.clone().unwrap();
    let (id, _) = env.assert_token_works("ci-bot").await;
    assert_eq!(status.credential_id.as_deref(), Some(id.as_str()));
    assert_eq!(
        status.label.as_deref(),
        Some("CI bot"),
        "the pending label was finished"
    );
    assert_eq!(
        status.user_id.as_deref(),
        Some(env.emulator.admin().user_id.as_str())
    );
    assert_eq!(status.active, Some(true));
    // Lists may lag behind the create and the rename: wait for them, then exactly one.
    let managed = env
        .eventually_managed_credentials("the credential, labelled CI bot", |managed| {
            managed.iter().any(|c| c.0 == id && c.1 == "CI bot")
        })
        .await;
    assert_eq!(
        managed.len(),
        1,
        "exactly one credential was created: {managed:?}"
    );
    let secret = env.secrets().get("ci-bot").await.unwrap();
    let owner = &secret.metadata.owner_references.unwrap()[0];
    assert_eq!(owner.kind, "ApiCredential");
    assert_eq!(owner.uid, cred.metadata.uid.unwrap());
    assert_eq!(
        env.emulator.stats().await.count("createCredential", 200),
        1,
        "one create call"
    );
}

/// Changing spec.name renames the credential in place: same ID, same working token.
#[tokio::test]
async fn changing_the_name_renames_in_place() {
    let env = Env::start("life-rename").await;
    env.apply(CI_BOT).await;
    env.wait_ready("ci-bot").await;
    let (id, token) = env.assert_token_works("ci-bot").await;
    env.apply(&CI_BOT.replace("name: CI bot", "name: Release bot"))
        .await;
    env.wait_for("ci-bot", "label Release bot", |c| {
        c.status.as_ref().and_then(|s| s.label.as_deref()) == Some("Release bot")
    })
    .await;
    let expected = vec![(
        id.clone(),
        "Release bot".to_string(),
        env.emulator.admin().user_id.clone(),
        true,
    )];
    env.eventually_managed_credentials("the one credential, renamed in place", |managed| {
        managed == expected.as_slice()
    })
    .await;
    assert_eq!(
        env.secret_credential("ci-bot").await,
        (id, token),
        "renaming keeps ID and token"
    );
}

/// spec.active=false deactivates (the token stops working, is kept); true activates again.
#[tokio::test]
async fn active_false_deactivates_and_true_activates_again() {
    let env = Env::start("life-active").await;
    env.apply(CI_BOT).await;
    env.wait_ready("ci-bot").await;
    let (id, token) = env.assert_token_works("ci-bot").await;
    env.apply(&format!("{CI_BOT}  active: false\n")).await;
    env.wait_for("ci-bot", "inactive", |c| {
        c.status.as_ref().and_then(|s| s.active) == Some(false)
    })
    .await;
    env.assert_token_refused(&id, &token, "a deactivated credential's token")
        .await;
    env.apply(CI_BOT).await;
    env.wait_for("ci-bot", "active", |c| {
        c.status.as_ref().and_then(|s| s.active) == Some(true)
    })
    .await;
    assert_eq!(
        env.token_status(&id, &token).await,
        200,
        "the same token works again"
    );
}

/// A new value of the rotate annotation regenerates once: same ID, new token, old one fails; the
/// value is echoed in status and re-applying it does nothing.
#[tokio::test]
async fn the_rotate_annotation_regenerates_once_per_value() {
    let env = Env::start("life-rotate").await;
    env.apply(CI_BOT).await;
    env.wait_ready("ci-bot").await;
    let (id, old) = env.assert_token_works("ci-bot").await;
    env.annotate("ci-bot", ROTATE_ANNOTATION, "2026-11-25").await;
    env.wait_for("ci-bot", "rotation request echoed", |c| {
        c.status.as_ref().and_then(|s| s.last_rotation_request.as_deref()) == Some("2026-11-25")
    })
    .await;
    let (new_id, new) = env.assert_token_works("ci-bot").await;
    assert_eq!(new_id, id, "Regenerate keeps the credential ID");
    assert!(new != old, "a new token was issued");
    env.assert_token_refused(&id, &old, "the token from before the rotation")
        .await;
    let regenerations = env.emulator.stats().await.count("updateCredential", 200);
    env.annotate("ci-bot", ROTATE_ANNOTATION, "2026-11-25").await;
    reconciled_again(&env, "ci-bot", 2).await;
    assert_eq!(
        env.secret_credential("ci-bot").await.1,
        new,
        "the same value again does not rotate"
    );
    assert!(
        env.emulator.stats().await.count("updateCredential", 200) <= regenerations,
        "no further update calls"
    );
}

/// Deleting the ApiCredential deletes the credential in Control Hub (deletionPolicy Delete) and
/// the Secret with it.
#[tokio::test]
async fn deleting_the_resource_deletes_the_credential() {
    let env = Env::start("life-delete").await;
    env.apply(CI_BOT).await;
    env.wait_ready("ci-bot").await;
    let (id, token) = env.assert_token_works("ci-bot").await;
    env.delete("ci-bot").await;
    env.wait_gone("ci-bot").await;
    assert!(
        env.managed_credentials().await.is_empty(),
        "the credential is gone from Control Hub"
    );
    env.assert_token_refused(&id, &token, "the deleted credential")
        .await;
}
