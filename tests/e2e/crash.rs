//! Crash safety (docs/architecture.md, "Never lose a token"): the operator is stopped at each pause point of
//! `src/controller/failpoint.rs`, SIGKILLed there, and restarted without the pause. Afterwards the
//! ApiCredential is Ready (or, for cleanup, gone), Control Hub holds exactly the expected
//! credentials (nothing left under a `[k8s:<uid>]` pending label), the Secret's token authenticates
//! and every token that was replaced or regenerated no longer does.
//!
//! One `#[tokio::test]` per pause point, so a failure names the step.

use std::path::PathBuf;

use controlhub_operator::api::ROTATE_ANNOTATION;

use crate::env::{Env, EnvOptions};
use crate::support::eventually;

const CI_BOT: &str = r#"
apiVersion: controlhub.dev/v1alpha1
kind: ApiCredential
metadata:
  name: ci-bot
spec:
  name: CI bot
"#;

/// Rotated by Replace, with a grace period short enough to see the old credential retired.
const CI_BOT_REPLACE: &str = r#"
apiVersion: controlhub.dev/v1alpha1
kind: ApiCredential
metadata:
  name: ci-bot
spec:
  name: CI bot
  rotation:
    interval: 720h
    strategy: Replace
    gracePeriod: 3s
"#;

const MARKER: &str = "[k8s:";

/// An Env whose operator stops at `point`; returns it with the file the operator writes there.
async fn paused_at(prefix: &str, point: &str) -> (Env, PathBuf) {
    let file = std::env::temp_dir().join(format!("controlhub-pause-{prefix}-{:08x}", rand::random::<u32>()));
    let _ = std::fs::remove_file(&file);
    let env = Env::start_with(
        prefix,
        EnvOptions {
            allowed_user_ids: vec!["*".into()],
            operator_env: vec![
                ("CONTROLHUB_PAUSE_AT".into(), point.into()),
                ("CONTROLHUB_PAUSE_FILE".into(), file.display().to_string()),
            ],
            ..Default::default()
        },
    )
    .await;
    (env, file)
}

/// Waits until the operator stopped at its pause point, then SIGKILLs it (no shutdown code runs).
async fn kill_at_pause(env: &mut Env, file: &PathBuf, point: &str) {
    let reached = env.wait_paused(file).await;
    assert_eq!(reached, point, "the operator stopped at the requested point");
    env.operator.kill();
    let _ = std::fs::remove_file(file);
}

/// Starts the operator again, without the pause.
fn restart(env: &mut Env) {
    env.operator.restart_with(&[]);
}

/// Control Hub holds exactly `ids` besides the admin's own credential, none under a pending label.
async fn assert_exactly(env: &Env, ids: &[&str]) {
    let managed = env.managed_credentials().await;
    let mut found: Vec<&str> = managed.iter().map(|c| c.0.as_str()).collect();
    found.sort_unstable();
    let mut expected = ids.to_vec();
    expected.sort_unstable();
    assert_eq!(
        found, expected,
        "Control Hub holds exactly the expected credentials: {managed:?}"
    );
    assert!(
        managed.iter().all(|c| !c.1.contains(MARKER)),
        "no credential is left under a pending label: {managed:?}"
    );
    assert!(
        managed.iter().all(|c| c.1 == "CI bot"),
        "every label is final: {managed:?}"
    );
}

/// Waits until Control Hub holds exactly one credential besides the admin's (a Replace retired
/// the old one after its grace period) and returns its ID.
async fn wait_single_credential(env: &Env) -> String {
    eventually(
        "Control Hub to hold exactly one managed credential",
        crate::env::WAIT,
        || async {
            let managed = env.managed_credentials().await;
            (managed.len() == 1 && !managed[0].1.contains(MARKER)).then(|| managed[0].0.clone())
        },
    )
    .await
}

/// Ready with a working token, then a rotation requested by annotation.
async fn ready_then_request_rotation(env: &Env, yaml: &str) -> (String, String) {
    env.apply(yaml).await;
    env.wait_ready("ci-bot").await;
    let (id, token) = env.assert_token_works("ci-bot").await;
    env.annotate("ci-bot", ROTATE_ANNOTATION, "crash-1").await;
    (id, token)
}

/// Ready, the rotation request echoed, nothing in flight.
async fn wait_rotated(env: &Env) {
    env.wait_for("ci-bot", "rotation crash-1 finished", |c| {
        c.status.as_ref().is_some_and(|s| {
            s.last_rotation_request.as_deref() == Some("crash-1") && s.rotation_in_progress.is_none()
        })
    })
    .await;
    env.wait_ready("ci-bot").await;
}

/// Killed after Control Hub created the credential, before its token reached the Secret: the
/// credential under the pending label is adopted (given a new token), not duplicated.
#[tokio::test]
async fn killed_after_create_before_the_secret_write_the_credential_is_adopted() {
    let (mut env, file) = paused_at("crash-create-issued", "create:issued").await;
    env.apply(CI_BOT).await;
    kill_at_pause(&mut env, &file, "create:issued").await;

    let at_crash = env.managed_credentials().await;
    assert_eq!(
        at_crash.len(),
        1,
        "one credential was created before the crash: {at_crash:?}"
    );
    assert!(
        at_crash[0].1.contains(MARKER),
        "it carries the pending label: {at_crash:?}"
    );
    let secret = env.secrets().get_opt("ci-bot").await.unwrap();
    assert!(
        secret.and_then(|s| s.data).unwrap_or_default().is_empty(),
        "its token never reached the Secret (created empty before the create)"
    );

    restart(&mut env);
    env.wait_ready("ci-bot").await;
    let (id, _) = env.assert_token_works("ci-bot").await;
    assert_eq!(id, at_crash[0].0, "the orphan was adopted");
    assert_exactly(&env, &[&id]).await;
    assert_eq!(
        env.emulator.stats().await.count("createCredential", 200),
        1,
        "no second credential was created"
    );
}

/// Killed after the Secret holds the token, before status recorded it: the Secret wins, the
/// pending label is finished and the token already delivered keeps working.
#[tokio::test]
async fn killed_after_the_secret_write_the_delivered_token_is_kept() {
    let (mut env, file) = paused_at("crash-create-stored", "create:stored").await;
    env.apply(CI_BOT).await;
    kill_at_pause(&mut env, &file, "create:stored").await;

    let (stored_id, stored_token) = env.assert_token_works("ci-bot").await;
    let recorded = env
        .credentials()
        .get("ci-bot")
        .await
        .unwrap()
        .status
        .and_then(|s| s.credential_id);
    assert_eq!(
        recorded, None,
        "status had not recorded the credential at the crash"
    );

    restart(&mut env);
    let cred = env.wait_ready("ci-bot").await;
    assert_eq!(
        cred.status.unwrap().credential_id.as_deref(),
        Some(stored_id.as_str())
    );
    assert_eq!(
        env.secret_credential("ci-bot").await,
        (stored_id.clone(), stored_token.clone()),
        "no new token was needed"
    );
    assert_eq!(env.token_status(&stored_id, &stored_token).await, 200);
    assert_exactly(&env, &[&stored_id]).await;
    assert_eq!(
        env.emulator.stats().await.count("createCredential", 200),
        1,
        "no second credential was created"
    );
}

/// Killed after status recorded "rotation in progress", before Control Hub was called: the
/// rotation is finished on restart.
#[tokio::test]
async fn killed_after_recording_a_rotation_it_is_finished() {
    let (mut env, file) = paused_at("crash-rotation-recorded", "rotation:recorded").await;
    let (id, old) = ready_then_request_rotation(&env, CI_BOT).await;
    kill_at_pause(&mut env, &file, "rotation:recorded").await;

    let status = env.credentials().get("ci-bot").await.unwrap().status.unwrap();
    assert!(
        status.rotation_in_progress.is_some(),
        "the rotation was recorded before the crash"
    );
    assert_eq!(
        env.token_status(&id, &old).await,
        200,
        "nothing was regenerated yet"
    );

    restart(&mut env);
    wait_rotated(&env).await;
    let (new_id, new) = env.assert_token_works("ci-bot").await;
    assert_eq!(new_id, id, "Regenerate keeps the credential ID");
    assert!(new != old, "the rotation issued a new token");
    assert_eq!(
        env.token_status(&id, &old).await,
        401,
        "the old token stopped working"
    );
    assert_exactly(&env, &[&id]).await;
}

/// Killed after Control Hub regenerated the token, before the Secret held it (the new token is
/// lost, the old one already dead): regenerating again delivers a working token.
#[tokio::test]
async fn killed_after_regenerate_before_the_secret_write_a_working_token_is_delivered() {
    let (mut env, file) = paused_at("crash-regenerate-issued", "regenerate:issued").await;
    let (id, old) = ready_then_request_rotation(&env, CI_BOT).await;
    kill_at_pause(&mut env, &file, "regenerate:issued").await;

    assert_eq!(
        env.token_status(&id, &old).await,
        401,
        "at the crash the Secret's token was already regenerated away"
    );
    assert_eq!(
        env.secret_credential("ci-bot").await.1,
        old,
        "and the Secret still held it"
    );

    restart(&mut env);
    wait_rotated(&env).await;
    let (new_id, new) = env.assert_token_works("ci-bot").await;
    assert_eq!(new_id, id, "Regenerate keeps the credential ID");
    assert_ne!(new, old);
    assert_eq!(env.token_status(&id, &old).await, 401);
    assert_exactly(&env, &[&id]).await;
}

/// Killed after the regenerated token reached the Secret, before status cleared the rotation:
/// the rotation is finished and the Secret's token works.
#[tokio::test]
async fn killed_after_the_regenerated_token_is_stored_the_rotation_completes() {
    let (mut env, file) = paused_at("crash-regenerate-stored", "regenerate:stored").await;
    let (id, old) = ready_then_request_rotation(&env, CI_BOT).await;
    kill_at_pause(&mut env, &file, "regenerate:stored").await;

    let (_, stored) = env.assert_token_works("ci-bot").await;
    assert!(stored != old, "the new token was stored before the crash");
    let status = env.credentials().get("ci-bot").await.unwrap().status.unwrap();
    assert!(
        status.rotation_in_progress.is_some(),
        "status still shows the rotation in flight"
    );

    restart(&mut env);
    wait_rotated(&env).await;
    let (new_id, new) = env.assert_token_works("ci-bot").await;
    assert_eq!(new_id, id);
    assert_ne!(new, old);
    assert_eq!(
        env.token_status(&id, &old).await,
        401,
        "the token from before the rotation stays dead"
    );
    assert_exactly(&env, &[&id]).await;
}

/// Killed during a Replace after the new credential was created, before the Secret held its
/// token: the new credential is adopted, the old one retired after the grace period.
#[tokio::test]
async fn killed_during_replace_before_the_secret_write_the_new_credential_is_adopted() {
    let (mut env, file) = paused_at("crash-replace-issued", "replace:issued").await;
    let (old_id, old) = ready_then_request_rotation(&env, CI_BOT_REPLACE).await;
    kill_at_pause(&mut env, &file, "replace:issued").await;

    let at_crash = env.managed_credentials().await;
    assert_eq!(
        at_crash.len(),
        2,
        "old and new credential exist at the crash: {at_crash:?}"
    );
    let new_at_crash = at_crash
        .iter()
        .find(|c| c.0 != old_id)
        .expect("a new credential")
        .clone();
    assert!(
        new_at_crash.1.contains(MARKER),
        "the new one carries the pending label"
    );
    assert_eq!(
        env.secret_credential("ci-bot").await.0,
        old_id,
        "the Secret still held the old credential"
    );

    restart(&mut env);
    wait_rotated(&env).await;
    let remaining = wait_single_credential(&env).await;
    assert_eq!(
        remaining, new_at_crash.0,
        "the new credential was adopted, the old one retired"
    );
    let (id, _) = env.assert_token_works("ci-bot").await;
    assert_eq!(id, new_at_crash.0);
    assert_eq!(
        env.token_status(&old_id, &old).await,
        401,
        "the replaced credential no longer authenticates"
    );
    assert_exactly(&env, &[&id]).await;
    assert_eq!(
        env.emulator.stats().await.count("createCredential", 200),
        2,
        "one create, one replacement"
    );
}

/// Killed during a Replace after the Secret switched to the new credential, before status
/// recorded the switch: the Secret's credential stays, the old one is retired.
#[tokio::test]
async fn killed_during_replace_after_the_secret_write_the_old_credential_is_retired() {
    let (mut env, file) = paused_at("crash-replace-stored", "replace:stored").await;
    let (old_id, old) = ready_then_request_rotation(&env, CI_BOT_REPLACE).await;
    kill_at_pause(&mut env, &file, "replace:stored").await;

    let (stored_id, stored) = env.assert_token_works("ci-bot").await;
    assert_ne!(
        stored_id, old_id,
        "the Secret switched to the new credential before the crash"
    );
    assert_eq!(
        env.managed_credentials().await.len(),
        2,
        "both credentials exist at the crash"
    );

    restart(&mut env);
    wait_rotated(&env).await;
    let cred = env.wait_ready("ci-bot").await;
    let status = cred.status.unwrap();
    assert_eq!(
        status.credential_id.as_deref(),
        Some(stored_id.as_str()),
        "status records the Secret's credential"
    );
    let remaining = wait_single_credential(&env).await;
    assert_eq!(
        remaining, stored_id,
        "the credential delivered before the crash stays; the old one is retired"
    );
    assert_eq!(
        env.secret_credential("ci-bot").await,
        (stored_id.clone(), stored),
        "the delivered token is kept"
    );
    env.assert_token_works("ci-bot").await;
    assert_eq!(
        env.token_status(&old_id, &old).await,
        401,
        "the replaced credential no longer authenticates"
    );
    assert_exactly(&env, &[&stored_id]).await;
    assert_eq!(
        env.emulator.stats().await.count("createCredential", 200),
        2,
        "one create, one replacement: no second Replace"
    );
    let retired = env.events_of("ci-bot").await;
    assert!(
        retired
            .iter()
            .any(|e| e.starts_with("Retired:") && e.contains(&old_id)),
        "the old credential was retired: {retired:?}"
    );
}

/// Killed after the credential was deleted in Control Hub, before the finalizer was released:
/// the restarted operator finishes the deletion (already gone counts as done).
#[tokio::test]
async fn killed_after_deleting_in_control_hub_the_finalizer_is_released() {
    let (mut env, file) = paused_at("crash-cleanup-deleted", "cleanup:deleted").await;
    env.apply(CI_BOT).await;
    env.wait_ready("ci-bot").await;
    let (id, token) = env.assert_token_works("ci-bot").await;
    env.delete("ci-bot").await;
    kill_at_pause(&mut env, &file, "cleanup:deleted").await;

    assert!(
        env.managed_credentials().await.is_empty(),
        "Control Hub deleted the credential before the crash"
    );
    assert!(
        env.credentials().get_opt("ci-bot").await.unwrap().is_some(),
        "the finalizer still held the object"
    );

    restart(&mut env);
    env.wait_gone("ci-bot").await;
    assert_exactly(&env, &[]).await;
    assert_eq!(env.token_status(&id, &token).await, 401);
}

// ---- Pause points of adoption, orphan deletion, retirement, the pending rename and cleanup. ----

/// Starts the operator again, stopping at `point` (a fresh pause file); returns the file.
fn restart_paused(env: &mut Env, prefix: &str, point: &str) -> PathBuf {
    let file = std::env::temp_dir().join(format!("controlhub-pause-{prefix}-{:08x}", rand::random::<u32>()));
    let _ = std::fs::remove_file(&file);
    env.operator.restart_with(&[
        ("CONTROLHUB_PAUSE_AT".into(), point.into()),
        ("CONTROLHUB_PAUSE_FILE".into(), file.display().to_string()),
    ]);
    file
}

/// Killed while adopting: an interrupted create left a credential under the pending label; the
/// restarted operator regenerated it (adoption) and was killed before the Secret held that token.
/// Adopting again delivers a working token for the same credential; nothing is created twice.
#[tokio::test]
async fn killed_while_adopting_an_orphan_it_is_adopted_again() {
    let (mut env, file) = paused_at("crash-adopt-issued", "create:issued").await;
    env.apply(CI_BOT).await;
    kill_at_pause(&mut env, &file, "create:issued").await;
    let orphan = env.managed_credentials().await;
    assert_eq!(
        orphan.len(),
        1,
        "one credential under the pending label: {orphan:?}"
    );
    assert!(orphan[0].1.contains(MARKER));

    let file = restart_paused(&mut env, "crash-adopt-issued-2", "adopt:issued");
    kill_at_pause(&mut env, &file, "adopt:issued").await;
    let at_crash = env.managed_credentials().await;
    assert_eq!(
        at_crash.iter().map(|c| &c.0).collect::<Vec<_>>(),
        vec![&orphan[0].0],
        "adoption regenerates the orphan, it creates nothing: {at_crash:?}"
    );
    assert!(
        env.secrets()
            .get_opt("ci-bot")
            .await
            .unwrap()
            .and_then(|s| s.data)
            .unwrap_or_default()
            .is_empty(),
        "the adopted token never reached the Secret"
    );

    restart(&mut env);
    env.wait_ready("ci-bot").await;
    let (id, _) = env.assert_token_works("ci-bot").await;
    assert_eq!(id, orphan[0].0, "the same orphan was adopted");
    assert_exactly(&env, &[&id]).await;
    assert_eq!(
        env.emulator.stats().await.count("createCredential", 200),
        1,
        "no second credential was created"
    );
}

/// Killed while deleting a stray credential under this object's pending label (the object has a
/// working credential): the restarted operator deletes the stray and keeps the working one.
#[tokio::test]
async fn killed_while_deleting_an_orphan_it_is_deleted_on_restart() {
    let (mut env, file) = paused_at("crash-orphan-deleting", "orphan:deleting").await;
    env.apply(CI_BOT).await;
    let cred = env.wait_ready("ci-bot").await;
    let (id, token) = env.assert_token_works("ci-bot").await;
    let uid = cred.metadata.uid.clone().expect("a uid");
    let stray = env.create_in_controlhub(&format!("CI bot [k8s:{uid}]")).await;
    env.poke("ci-bot").await;
    kill_at_pause(&mut env, &file, "orphan:deleting").await;
    let at_crash = env.managed_credentials().await;
    assert_eq!(
        at_crash.len(),
        2,
        "working and stray credential exist at the crash: {at_crash:?}"
    );

    restart(&mut env);
    eventually("the stray credential to be deleted", crate::env::WAIT, || async {
        env.controlhub_credential(&stray).await.is_none().then_some(())
    })
    .await;
    env.wait_ready("ci-bot").await;
    assert_eq!(
        env.secret_credential("ci-bot").await,
        (id.clone(), token.clone()),
        "the working credential and its token are untouched"
    );
    assert_eq!(env.token_status(&id, &token).await, 200);
    assert_exactly(&env, &[&id]).await;
}

/// Killed while retiring the credential a Replace rotation superseded (grace period over): the
/// restarted operator deletes it; the new credential's token keeps working.
#[tokio::test]
async fn killed_while_retiring_the_replaced_credential_it_is_retired_on_restart() {
    let (mut env, file) = paused_at("crash-retire-deleting", "retire:deleting").await;
    let (old_id, old) = ready_then_request_rotation(&env, CI_BOT_REPLACE).await;
    kill_at_pause(&mut env, &file, "retire:deleting").await;
    let (new_id, new) = env.assert_token_works("ci-bot").await;
    assert_ne!(new_id, old_id, "the Secret holds the replacement at the crash");
    let at_crash = env.managed_credentials().await;
    assert_eq!(
        at_crash.len(),
        2,
        "the replaced credential still exists at the crash: {at_crash:?}"
    );

    restart(&mut env);
    let remaining = wait_single_credential(&env).await;
    assert_eq!(remaining, new_id, "the replaced credential was retired");
    wait_rotated(&env).await;
    assert_eq!(
        env.secret_credential("ci-bot").await,
        (new_id.clone(), new.clone())
    );
    assert_eq!(env.token_status(&new_id, &new).await, 200);
    assert_eq!(
        env.token_status(&old_id, &old).await,
        401,
        "the replaced token is refused"
    );
    assert_exactly(&env, &[&new_id]).await;
    assert_eq!(env.emulator.stats().await.count("createCredential", 200), 2);
}

/// Killed after a new credential was delivered and recorded, before its pending label was
/// finished: the restarted operator renames it; the delivered token is kept.
#[tokio::test]
async fn killed_before_finishing_the_pending_label_it_is_renamed_on_restart() {
    let (mut env, file) = paused_at("crash-rename-pending", "rename:pending").await;
    env.apply(CI_BOT).await;
    kill_at_pause(&mut env, &file, "rename:pending").await;
    let (id, token) = env.assert_token_works("ci-bot").await;
    let at_crash = env.managed_credentials().await;
    assert_eq!(at_crash.len(), 1, "{at_crash:?}");
    assert!(
        at_crash[0].1.contains(MARKER),
        "still under the pending label: {at_crash:?}"
    );
    let recorded = env
        .credentials()
        .get("ci-bot")
        .await
        .unwrap()
        .status
        .and_then(|s| s.credential_id);
    assert_eq!(
        recorded.as_deref(),
        Some(id.as_str()),
        "status recorded it before the crash"
    );

    restart(&mut env);
    env.wait_ready("ci-bot").await;
    eventually("the final label", crate::env::WAIT, || async {
        let managed = env.managed_credentials().await;
        (managed.len() == 1 && managed[0].1 == "CI bot").then_some(())
    })
    .await;
    assert_eq!(
        env.secret_credential("ci-bot").await,
        (id.clone(), token.clone()),
        "no new token was needed"
    );
    assert_eq!(env.token_status(&id, &token).await, 200);
    assert_exactly(&env, &[&id]).await;
    assert_eq!(env.emulator.stats().await.count("createCredential", 200), 1);
}

/// Killed while deleting, at the extra credentials (here the one a Replace superseded, still in
/// its grace period): the restarted operator deletes both; both tokens are refused.
#[tokio::test]
async fn killed_while_cleaning_up_an_extra_credential_both_are_deleted() {
    const LONG_GRACE: &str = "apiVersion: controlhub.dev/v1alpha1\nkind: ApiCredential\nmetadata:\n  name: ci-bot\nspec:\n  name: CI bot\n  rotation:\n    interval: 720h\n    strategy: Replace\n    gracePeriod: 1h\n";
    let (mut env, file) = paused_at("crash-cleanup-extra", "cleanup:extra").await;
    let (old_id, old) = ready_then_request_rotation(&env, LONG_GRACE).await;
    env.wait_for("ci-bot", "a replaced credential in its grace period", |c| {
        c.status.as_ref().is_some_and(|s| {
            s.previous_credential_id.as_deref() == Some(old_id.as_str())
                && s.last_rotation_request.as_deref() == Some("crash-1")
        })
    })
    .await;
    let (new_id, new) = env.assert_token_works("ci-bot").await;
    assert_eq!(env.token_status(&old_id, &old).await, 200, "in its grace period");
    env.delete("ci-bot").await;
    kill_at_pause(&mut env, &file, "cleanup:extra").await;
    assert_eq!(
        env.managed_credentials().await.len(),
        2,
        "both exist at the crash"
    );

    restart(&mut env);
    env.wait_gone("ci-bot").await;
    assert_exactly(&env, &[]).await;
    assert_eq!(env.token_status(&old_id, &old).await, 401);
    assert_eq!(env.token_status(&new_id, &new).await, 401);
}

/// Killed just before deleting the credential of a deleted object: the restarted operator
/// deletes it and releases the finalizer.
#[tokio::test]
async fn killed_before_deleting_in_control_hub_the_deletion_completes() {
    let (mut env, file) = paused_at("crash-cleanup-deleting", "cleanup:deleting").await;
    env.apply(CI_BOT).await;
    env.wait_ready("ci-bot").await;
    let (id, token) = env.assert_token_works("ci-bot").await;
    env.delete("ci-bot").await;
    kill_at_pause(&mut env, &file, "cleanup:deleting").await;
    assert_exactly(&env, &[&id]).await;
    assert_eq!(
        env.token_status(&id, &token).await,
        200,
        "not deleted yet at the crash"
    );
    assert!(env.credentials().get_opt("ci-bot").await.unwrap().is_some());

    restart(&mut env);
    env.wait_gone("ci-bot").await;
    assert_exactly(&env, &[]).await;
    assert_eq!(env.token_status(&id, &token).await, 401);
}
