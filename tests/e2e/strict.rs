//! User stories against the emulator's `strict` profile: the least convenient choice for every
//! behaviour the public Control Hub sources leave open (emulator/README.md, "Open behaviours").
//! Admins may not rename or regenerate other users' credentials, the quota refusal has an unknown
//! code and a generic message, lists lag 2 s behind creations and changes, and revocation takes
//! 2 s. The operator must keep its promises all the same. A CI-sized selection; the whole suite
//! runs against `strict` with `E2E_EMULATOR_PROFILE=strict` (`make test-strict`).

use std::time::Duration;

use controlhub_operator::api::{ApiCredential, ConditionType, ROTATE_ANNOTATION};
use serde_json::json;

use controlhub_testkit::emulator::Faults;

use crate::env::{Env, EnvOptions, WAIT, condition};
use crate::quiet::reconciled_again;
use crate::support::eventually;

/// Lists lag and revocation is delayed by this much under `strict`.
const STRICT_DELAY: Duration = Duration::from_secs(2);
/// The operator's drift-check interval in e2e (`--drift-check-interval=3s`).
const DRIFT_INTERVAL: Duration = Duration::from_secs(3);

async fn strict_env(prefix: &str) -> Env {
    Env::start_with(
        prefix,
        EnvOptions {
            allowed_user_ids: vec!["*".into()],
            emulator_profile: Some("strict".into()),
            ..Default::default()
        },
    )
    .await
}

fn credential_yaml(name: &str, label: &str, extra: &str) -> String {
    format!(
        "apiVersion: controlhub.dev/v1alpha1\nkind: ApiCredential\nmetadata:\n  name: {name}\nspec:\n  name: {label}\n{extra}"
    )
}

/// Ready=True for the current generation, whatever the reason.
fn ready_now(c: &ApiCredential) -> bool {
    condition(c, ConditionType::Ready).is_some_and(|(status, _, _)| status == "True")
        && c.status.as_ref().and_then(|s| s.observed_generation) == c.metadata.generation
}

/// Waits until Control Hub's (lagging) list shows credential `id` with `label`.
async fn wait_listed_with_label(env: &Env, id: &str, label: &str) {
    eventually(
        &format!("Control Hub to list credential {id} as {label:?}"),
        WAIT,
        || async move {
            env.controlhub_credential(id)
                .await
                .filter(|c| c["label"] == json!(label))
                .map(|_| ())
        },
    )
    .await;
}

/// Waits until a token stops authenticating (revocation is delayed under `strict`).
async fn wait_token_revoked(env: &Env, id: &str, token: &str, what: &str) {
    eventually(
        &format!("{what}: the token of credential {id} to stop working (401)"),
        STRICT_DELAY * 5,
        || async move { (env.token_status(id, token).await == 401).then_some(()) },
    )
    .await;
}

/// The connection's own user: created, Ready, the token works, renamed through `spec.name`
/// (renaming one's own credential is allowed even under `strict`), deleted and gone from
/// Control Hub.
#[tokio::test]
async fn strict_an_own_credential_is_created_renamed_and_deleted() {
    let env = strict_env("strict-own").await;
    env.apply(&credential_yaml("ci-bot", "CI bot", "")).await;
    env.wait_ready("ci-bot").await;
    let (id, token) = env.assert_token_works("ci-bot").await;
    wait_listed_with_label(&env, &id, "CI bot").await;

    env.apply(&credential_yaml("ci-bot", "CI bot renamed", "")).await;
    wait_listed_with_label(&env, &id, "CI bot renamed").await;
    env.wait_ready("ci-bot").await;
    let (same_id, _) = env.assert_token_works("ci-bot").await;
    assert_eq!(same_id, id, "a rename keeps the credential");

    env.delete("ci-bot").await;
    env.wait_gone("ci-bot").await;
    assert!(
        env.controlhub_credential(&id).await.is_none(),
        "credential {id} is deleted in Control Hub"
    );
    wait_token_revoked(&env, &id, &token, "after deletion").await;
}

/// A service account's credential: the rename from the pending label to `spec.name` is refused
/// under `strict` (admins may not rename other users' credentials). The ApiCredential is still
/// Ready=True (reason perhaps `RenameRefused`), the token works, nothing loops (at most about
/// one update attempt per drift check, no further creates), and deleting the ApiCredential
/// deletes the credential.
#[tokio::test]
async fn strict_a_refused_rename_of_a_service_account_credential_does_not_block_or_loop() {
    let env = strict_env("strict-sa").await;
    let robot = env
        .emulator
        .create_user("robot@example.com", "Robot", &[], true)
        .await;
    env.apply(&credential_yaml(
        "robot",
        "Robot key",
        &format!("  userId: {robot}\n"),
    ))
    .await;
    let cred = env
        .wait_for("robot", "Ready=True at the current generation", ready_now)
        .await;
    let (_, reason, message) = condition(&cred, ConditionType::Ready).unwrap_or_default();
    if reason == "RenameRefused" {
        let (type_, _) = env.wait_event("robot", "RenameRefused").await;
        assert_eq!(type_, "Warning", "a refused rename is a Warning Event");
    }
    let (id, token) = env.assert_token_works("robot").await;
    assert_eq!(
        env.principal_of(&id, &token).await,
        (200, Some(robot.clone())),
        "the token authenticates as the service account (Ready reason {reason}: {message})"
    );

    let before = env.emulator.stats().await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    let after = env.emulator.stats().await;
    let updates = after.total("updateCredential") - before.total("updateCredential");
    let creates = after.total("createCredential") - before.total("createCredential");
    let most = 10 / DRIFT_INTERVAL.as_secs() * 2;
    assert!(
        updates <= most,
        "{updates} updateCredential calls in 10 s after Ready (at most {most}: about one per drift check)"
    );
    assert_eq!(creates, 0, "no credential was created after Ready");
    let owned: Vec<_> = env
        .controlhub_credentials()
        .await
        .into_iter()
        .filter(|c| c.2 == robot)
        .collect();
    assert_eq!(
        owned.len(),
        1,
        "one credential for the service account: {owned:?}"
    );
    assert_eq!(env.token_status(&id, &token).await, 200, "the token still works");

    env.delete("robot").await;
    env.wait_gone("robot").await;
    assert!(
        env.controlhub_credential(&id).await.is_none(),
        "deleting the ApiCredential deletes credential {id}"
    );
    wait_token_revoked(&env, &id, &token, "after deletion").await;
}

/// The owner at 10 credentials while the lagging lists still show 9: the operator's create of an
/// 11th is refused with an unknown code and a generic message (`400 SECURITY_0042`, "Validation
/// failed"). The ApiCredential must still end up `QuotaExceeded` (Ready=False) without a create
/// loop and without anything created; once a credential is deleted by hand it becomes Ready.
#[tokio::test]
async fn strict_the_eleventh_credential_is_recognised_without_the_issue_code() {
    let env = strict_env("strict-quota").await;
    env.apply(&credential_yaml("first", "First", "")).await;
    env.wait_ready("first").await;
    let mut by_hand = Vec::new();
    for i in 0..7 {
        by_hand.push(env.create_in_controlhub(&format!("made by hand {i}")).await);
    }
    let admin = env.emulator.admin().user_id.clone();
    let listed = || async {
        env.controlhub_credentials()
            .await
            .iter()
            .filter(|c| c.2 == admin)
            .count()
    };
    eventually("Control Hub to list the owner's 9 credentials", WAIT, || async {
        (listed().await == 9).then_some(())
    })
    .await;

    // The 10th, made by hand, stays out of the lists for 5 s: long enough for the operator to try
    // the 11th and be refused.
    env.emulator
        .set_faults(&Faults {
            list_lag_ms: Some(5_000),
            ..Faults::default()
        })
        .await;
    by_hand.push(env.create_in_controlhub("made by hand 7").await);
    let before = env.emulator.stats().await;
    env.apply(&credential_yaml("second", "Second", "")).await;
    let (ready, _stalled) = env.wait_blocked("second", "QuotaExceeded").await;
    assert_eq!(ready.0, "False", "QuotaExceeded is Ready=False: {ready:?}");
    assert_eq!(listed().await, 10, "the lists have caught up");

    let blocked = env.emulator.stats().await;
    let refused = blocked.count("createCredential", 400) - before.count("createCredential", 400);
    assert!(
        refused >= 1,
        "the operator tried the 11th while the lists showed 9, and was refused (400 SECURITY_0042)"
    );
    assert_eq!(
        blocked.count("createCredential", 200),
        before.count("createCredential", 200),
        "nothing was created"
    );
    tokio::time::sleep(DRIFT_INTERVAL * 2).await;
    let later = env.emulator.stats().await;
    let retries = later.total("createCredential") - blocked.total("createCredential");
    assert!(
        retries <= 2,
        "{retries} create attempts in 6 s while QuotaExceeded: no create loop"
    );

    env.delete_in_controlhub(&by_hand[0]).await;
    env.wait_ready("second").await;
    env.assert_token_works("second").await;
}

/// Rotation on request with strategy Regenerate, own credential: exactly one new token on the same
/// credential; the old token stops working once the (delayed) revocation takes effect.
#[tokio::test]
async fn strict_a_regenerate_rotation_on_request_issues_one_new_token() {
    let env = strict_env("strict-rotate").await;
    env.apply(&credential_yaml(
        "ci-bot",
        "CI bot",
        "  rotation:\n    interval: 720h\n    strategy: Regenerate\n",
    ))
    .await;
    env.wait_ready("ci-bot").await;
    let (old_id, old_token) = env.assert_token_works("ci-bot").await;
    let before = env.emulator.stats().await;

    env.annotate("ci-bot", ROTATE_ANNOTATION, "rotate-1").await;
    env.wait_for("ci-bot", "rotated on request", |c| {
        c.status
            .as_ref()
            .is_some_and(|s| s.last_rotation_request.as_deref() == Some("rotate-1"))
    })
    .await;
    env.wait_ready("ci-bot").await;
    let (new_id, new_token) = env.assert_token_works("ci-bot").await;
    assert_eq!(new_id, old_id, "Regenerate keeps the credential");
    assert!(new_token != old_token, "a new token (values not shown)");
    wait_token_revoked(&env, &old_id, &old_token, "after regeneration").await;

    // One regeneration, and the token stays put over more reconciles.
    reconciled_again(&env, "ci-bot", 2).await;
    let after = env.emulator.stats().await;
    let updates = after.count("updateCredential", 200) - before.count("updateCredential", 200);
    assert_eq!(updates, 1, "exactly one successful update (the regeneration)");
    assert_eq!(
        after.total("createCredential"),
        before.total("createCredential"),
        "no credential was created"
    );
    let (_, latest) = env.assert_token_works("ci-bot").await;
    assert!(latest == new_token, "the token did not change again");
}

/// `deletionPolicy: Delete`: after the ApiCredential is gone nothing is left in Control Hub.
#[tokio::test]
async fn strict_deletion_with_policy_delete_leaves_nothing() {
    let env = strict_env("strict-delete").await;
    env.apply(&credential_yaml("ci-bot", "CI bot", "  deletionPolicy: Delete\n"))
        .await;
    env.wait_ready("ci-bot").await;
    let (id, token) = env.assert_token_works("ci-bot").await;

    env.delete("ci-bot").await;
    env.wait_gone("ci-bot").await;
    // Past the list lag, so a credential created just before would be listed by now.
    tokio::time::sleep(STRICT_DELAY + Duration::from_millis(500)).await;
    let left = env.managed_credentials().await;
    assert!(left.is_empty(), "nothing is left in Control Hub: {left:?}");
    wait_token_revoked(&env, &id, &token, "after deletion").await;
}
