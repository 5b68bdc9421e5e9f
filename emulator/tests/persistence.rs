//! `--state FILE`: the organization, its users, credentials and settings survive a restart, also
//! after SIGKILL right after a change was acknowledged; the file holds secret hashes, not tokens
//! (except the bootstrap admin's, documented); a corrupt file is refused, never overwritten.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::{Emulator, scratch_dir};
use reqwest::Method;
use serde_json::json;

fn start(state: &Path) -> Emulator {
    Emulator::start_with(&["--state", state.to_str().unwrap_or_default()])
}

#[tokio::test]
async fn state_survives_sigkill_right_after_acknowledged_changes() {
    let state = scratch_dir("state").join("emulator.json");
    let mut first = start(&state);
    let api = first.api();
    let robot = api
        .create_user(&first.admin, "robot@example.com", &["jobrunner:operator"], true)
        .await;
    let robot_cred = api.create_for(&first.admin, "robot key", &robot).await.cred();
    let mine = api.create_own(&first.admin, "mine").await.cred();
    api.update(
        &first.admin,
        &mine.id,
        json!({"label": "mine, renamed", "active": false}),
    )
    .await;
    api.settings(
        &first.admin,
        json!({"credentialLimit": 4, "adminsMayRegenerateForOthers": true}),
    )
    .await;
    let before = api.list_org(&first.admin, None).await.body;
    first.kill();

    let second = start(&state);
    assert_eq!(second.org_id, first.org_id);
    assert_eq!(second.admin_user, first.admin_user);
    assert_eq!(second.admin.id, first.admin.id);
    assert_eq!(
        second.admin.token, first.admin.token,
        "the start-up line stays usable"
    );
    let api = second.api();
    assert_eq!(api.current_user_status(&second.admin).await, 200);
    assert_eq!(
        api.current_user_status(&robot_cred).await,
        200,
        "tokens issued before the restart still work"
    );
    assert_eq!(api.current_user_status(&mine).await, 401, "still deactivated");
    assert_eq!(api.list_org(&second.admin, None).await.body, before);
    let settings = api
        .admin(Method::GET, "/settings", &second.admin, None)
        .await
        .body;
    assert_eq!(settings["credentialLimit"], 4);
    assert_eq!(settings["adminsMayRegenerateForOthers"], true);
    let user = api
        .send(
            Method::GET,
            &format!("/security/rest/v1/organization/{}/user/{robot}", second.org_id),
            Some(&second.admin),
            None,
        )
        .await;
    assert_eq!(user.body["email"], "robot@example.com");
}

#[tokio::test]
async fn a_graceful_restart_keeps_deletions_and_a_regenerated_bootstrap_token() {
    let state = scratch_dir("state").join("emulator.json");
    let mut first = start(&state);
    let api = first.api();
    let doomed = api.create_own(&first.admin, "doomed").await.cred();
    api.delete(&first.admin, &doomed.id).await;
    let regenerated = api
        .update(&first.admin, &first.admin.id, json!({"generateAuthToken": true}))
        .await
        .cred();
    assert!(
        first.terminate().is_some_and(|s| s.success()),
        "SIGTERM ends the emulator cleanly"
    );

    let second = start(&state);
    assert_eq!(second.admin.token, regenerated.token);
    let api = second.api();
    assert_eq!(api.current_user_status(&second.admin).await, 200);
    assert_eq!(
        api.list_own(&second.admin).await.body.as_array().map(Vec::len),
        Some(1)
    );
    assert_eq!(api.current_user_status(&doomed).await, 401);
}

#[tokio::test]
async fn the_state_file_is_private_and_holds_hashes_not_tokens() {
    let state = scratch_dir("state").join("emulator.json");
    let emulator = start(&state);
    let api = emulator.api();
    let cred = api.create_own(&emulator.admin, "secret").await.cred();
    let text = std::fs::read_to_string(&state).unwrap_or_default();
    assert!(text.contains(&cred.id), "the credential is persisted");
    assert!(
        !text.contains(&cred.token),
        "a token was written to the state file"
    );
    let payload = cred.token.split('.').nth(1).unwrap_or_default();
    assert!(!text.contains(payload));
    let mode = std::fs::metadata(&state)
        .map(|m| m.permissions().mode() & 0o777)
        .unwrap_or(0);
    assert_eq!(mode, 0o600);
}

#[tokio::test]
async fn a_corrupt_state_file_is_refused_and_left_alone() {
    let state = scratch_dir("state").join("emulator.json");
    std::fs::write(&state, b"{ not json").unwrap_or_else(|e| panic!("{e}"));
    let result = Emulator::try_start(&["--state", state.to_str().unwrap_or_default()]);
    let message = result.err().unwrap_or_default();
    assert!(message.contains("not a valid emulator state file"), "{message}");
    assert_eq!(std::fs::read(&state).unwrap_or_default(), b"{ not json");
}

#[tokio::test]
async fn a_state_file_in_a_missing_directory_fails_the_start() {
    let state = scratch_dir("state").join("missing-dir").join("emulator.json");
    let message = Emulator::try_start(&["--state", state.to_str().unwrap_or_default()])
        .err()
        .unwrap_or_default();
    assert!(message.contains("cannot write state file"), "{message}");
}
