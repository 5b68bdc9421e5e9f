//! User stories of credentials for other users (service accounts, `spec.userId`): created by the
//! org admin connection for the service account; rotated by replacing them since Control Hub
//! refuses to regenerate other users' credentials; refused when the connection does not allow the
//! user or is not an org admin, without anything being created.

//!
//! Under the strict emulator profile admins may not rename other users' credentials: the
//! credential keeps its pending label (the declared name and the object's `[k8s:<uid>]` marker)
//! and Ready=True says so with reason `RenameRefused`; the token must work all the same.

use serde_json::json;

use controlhub_operator::api::{ApiCredential, ConditionType, ROTATE_ANNOTATION};

use crate::env::{Env, EnvOptions, condition};

fn for_user(user: &str) -> String {
    format!(
        "apiVersion: controlhub.dev/v1alpha1\nkind: ApiCredential\nmetadata:\n  name: robot\nspec:\n  name: Robot key\n  userId: {user}\n"
    )
}

async fn robot(env: &Env) -> String {
    env.emulator
        .create_user("robot@example.com", "Robot", &[], true)
        .await
}

/// Waits until the service account's ApiCredential is Ready (kstatus Current). Under `strict`
/// the rename to `spec.name` is refused, so Ready=True must say so: reason `RenameRefused`.
async fn wait_ready_for_other(env: &Env, name: &str) -> ApiCredential {
    let cred = env.wait_ready(name).await;
    if env.strict() {
        let (_, reason, message) = condition(&cred, ConditionType::Ready).expect("a Ready condition");
        assert_eq!(
            reason, "RenameRefused",
            "strict: renaming another user's credential is refused, and Ready says so: {message}"
        );
    }
    cred
}

/// The label Control Hub shows for the service account's credential of `cred`: `spec.name`,
/// or under `strict` (rename refused) the pending label with the object's marker.
fn expected_label(env: &Env, cred: &ApiCredential, declared: &str) -> String {
    if env.strict() {
        let uid = cred.metadata.uid.as_deref().expect("a uid");
        format!("{declared} [k8s:{uid}]")
    } else {
        declared.to_string()
    }
}

/// `spec.userId` names a service account: the credential is the service account's (registered by
/// the connection's admin) and its token authenticates as the service account.
#[tokio::test]
async fn a_credential_is_created_for_a_service_account() {
    let env = Env::start("sa-create").await;
    let robot = robot(&env).await;
    env.apply(&for_user(&robot)).await;
    let cred = wait_ready_for_other(&env, "robot").await;
    let (id, token) = env.assert_token_works("robot").await;
    assert_eq!(
        cred.status.as_ref().unwrap().user_id.as_deref(),
        Some(robot.as_str()),
        "status names the owner"
    );
    let label = expected_label(&env, &cred, "Robot key");
    let created = env
        .wait_listed(&id, &format!("labelled {label:?}"), |c| {
            c["label"] == json!(label)
        })
        .await;
    assert_eq!(created["userId"], json!(robot), "owned by the service account");
    assert_eq!(
        created["registeredBy"],
        json!(env.emulator.admin().user_id),
        "registered by the connection's admin"
    );
    assert_eq!(
        env.principal_of(&id, &token).await,
        (200, Some(robot)),
        "the token authenticates as the service account"
    );
}

/// Rotating a service account's credential: Control Hub refuses to regenerate another user's
/// credential, so the operator replaces it (Warning Event `RegenerateRefused`); the Secret holds
/// a new credential of the same service account that works, and the old one is removed.
#[tokio::test]
async fn a_refused_regenerate_falls_back_to_replace() {
    let env = Env::start("sa-rotate").await;
    let robot = robot(&env).await;
    env.apply(&for_user(&robot)).await;
    wait_ready_for_other(&env, "robot").await;
    let (old_id, old_token) = env.assert_token_works("robot").await;

    env.annotate("robot", ROTATE_ANNOTATION, "rotate-1").await;
    let (type_, note) = env.wait_event("robot", "RegenerateRefused").await;
    assert_eq!(type_, "Warning");
    assert!(
        note.contains(&old_id) && note.contains(&robot),
        "the Event names credential and owner: {note}"
    );
    let cred = env
        .wait_for("robot", "rotated and nothing left to retire", |c| {
            c.status.as_ref().is_some_and(|s| {
                s.last_rotation_request.as_deref() == Some("rotate-1")
                    && s.credential_id.as_deref().is_some_and(|id| id != old_id)
                    && s.previous_credential_id.is_none()
            })
        })
        .await;
    let (new_id, new_token) = env.assert_token_works("robot").await;
    assert_ne!(new_id, old_id, "replaced: a new credential");
    assert_eq!(
        env.principal_of(&new_id, &new_token).await,
        (200, Some(robot.clone()))
    );
    assert!(
        env.controlhub_credential(&old_id).await.is_none(),
        "the old credential is deleted"
    );
    env.assert_token_refused(&old_id, &old_token, "the replaced credential")
        .await;
    // Exactly the new credential is the service account's, once the lists show it.
    let label = expected_label(&env, &cred, "Robot key");
    let owned = env
        .eventually_controlhub_credentials("the service account's one credential", |all| {
            let owned: Vec<_> = all.iter().filter(|c| c.2 == robot).cloned().collect();
            (owned.len() == 1 && owned[0].0 == new_id).then_some(owned)
        })
        .await;
    assert_eq!(owned[0].1, label, "{owned:?}");
    wait_ready_for_other(&env, "robot").await;
}

/// A connection whose `allowedUserIds` does not list the user: `UserNotAllowed`, and nothing is
/// created in Control Hub.
#[tokio::test]
async fn a_user_the_connection_does_not_allow_is_refused() {
    let env = Env::start_with(
        "sa-notallowed",
        EnvOptions {
            allowed_user_ids: vec!["someone-else@example".into()],
            ..Default::default()
        },
    )
    .await;
    let robot = robot(&env).await;
    env.apply(&for_user(&robot)).await;
    let (ready, stalled) = env.wait_blocked("robot", "UserNotAllowed").await;
    assert_eq!(ready.0, "False");
    assert!(
        ready.2.contains(&robot) && ready.2.contains("allowedUserIds"),
        "the message says what to do: {}",
        ready.2
    );
    assert_eq!(stalled.map(|s| s.0).as_deref(), Some("True"));
    assert_eq!(
        env.emulator.stats().await.total("createCredential"),
        0,
        "nothing was created"
    );
    assert!(env.secrets().get_opt("robot").await.unwrap().is_none());
}

/// A connection authenticating as a user who is not an org admin cannot create credentials for
/// others: `Forbidden`, and nothing is created.
#[tokio::test]
async fn a_connection_that_is_not_an_org_admin_is_refused() {
    let env = Env::start("sa-notadmin").await;
    let robot = robot(&env).await;
    let plain = env
        .emulator
        .create_user("plain@example.com", "Plain user", &[], false)
        .await;
    let (plain_id, plain_token) = env.emulator.issue_user_credential(&plain, "operator").await;
    env.put_connection_secret("plain-credentials", &plain_id, &plain_token)
        .await;
    env.apply_object(
        "controlhubconnections",
        json!({
            "apiVersion": "controlhub.dev/v1alpha1",
            "kind": "ControlHubConnection",
            "metadata": {"name": "plain"},
            "spec": {"url": env.emulator.url(), "credentialsSecretRef": {"name": "plain-credentials"}, "allowedUserIds": ["*"]}
        }),
    )
    .await;
    env.apply(&format!(
        "{}  connectionRef:\n    kind: ControlHubConnection\n    name: plain\n",
        for_user(&robot)
    ))
    .await;
    let (ready, _) = env.wait_blocked("robot", "Forbidden").await;
    assert!(
        ready.2.contains(&plain),
        "the message names the connection's user: {}",
        ready.2
    );
    assert!(
        ready.2.contains("Organization Administrator"),
        "and why: {}",
        ready.2
    );
    assert_eq!(
        env.emulator.stats().await.total("createCredential"),
        0,
        "nothing was created"
    );
    let owned: Vec<_> = env
        .controlhub_credentials_settled()
        .await
        .into_iter()
        .filter(|c| c.2 == robot)
        .collect();
    assert!(owned.is_empty(), "{owned:?}");
}

/// A service account deleted in Control Hub takes its credential with it. The operator cannot
/// create one for a user that is gone: it says so (Ready=False naming the user) instead of
/// pretending, and keeps nothing half-made.
#[tokio::test]
async fn a_deleted_service_account_is_reported_not_recreated() {
    let env = Env::start("sa-deleted").await;
    let robot = robot(&env).await;
    env.apply(&for_user(&robot)).await;
    wait_ready_for_other(&env, "robot").await;
    let (id, _) = env.assert_token_works("robot").await;
    let creates = env.emulator.stats().await.count("createCredential", 200);

    env.emulator.delete_user(&robot).await;
    assert!(
        env.controlhub_credential(&id).await.is_none(),
        "deleting the user deleted its credential"
    );
    let cred = env
        .wait_for("robot", "Ready=False", |c| {
            crate::env::condition(c, controlhub_operator::api::ConditionType::Ready)
                .is_some_and(|r| r.0 == "False")
        })
        .await;
    let ready = crate::env::condition(&cred, controlhub_operator::api::ConditionType::Ready).unwrap();
    assert!(ready.2.contains(&robot), "the message names the user: {ready:?}");
    assert_eq!(
        env.emulator.stats().await.count("createCredential", 200),
        creates,
        "nothing was created"
    );
}
