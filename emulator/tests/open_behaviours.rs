//! The behaviours the public Control Hub sources leave open, each with its setting and the
//! `strict` profile that takes the least convenient choice for all of them: admins renaming other
//! users' credentials (`adminsMayRenameForOthers`), the quota refusal's code and message
//! (`quotaIssueCode`, `quotaIssueMessage`), lagging lists (`listLagMs`), delayed revocation
//! (`revocationDelayMs`) and admins regenerating for others (`adminsMayRegenerateForOthers`).

mod common;

use std::time::{Duration, Instant};

use common::{Api, Cred, Emulator};
use reqwest::Method;
use serde_json::{Value, json};

async fn setup_with(args: &[&str]) -> (Emulator, Api) {
    let emulator = Emulator::start_with(args);
    let api = emulator.api();
    (emulator, api)
}

/// A service-account user and a credential the admin created for it.
async fn credential_for_other(emulator: &Emulator, api: &Api, label: &str) -> (String, String) {
    let user = api
        .create_user(&emulator.admin, &format!("{label}@example.com"), &[], true)
        .await;
    let created = api.create_for(&emulator.admin, label, &user).await;
    assert_eq!(created.status, 200, "create for other: {}", created.summary());
    (user, created.id())
}

fn labels(list: &Value) -> Vec<String> {
    list.as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|c| c["label"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn ids(list: &Value) -> Vec<String> {
    list.as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|c| c["componentId"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn admins_rename_others_credentials_unless_the_setting_forbids_it() {
    let (emulator, api) = setup_with(&[]).await;
    let (_user, id) = credential_for_other(&emulator, &api, "robot").await;
    let renamed = api
        .update(&emulator.admin, &id, json!({"label": "robot 2"}))
        .await;
    assert_eq!(renamed.summary(), "200 ");
    assert_eq!(renamed.body["label"], "robot 2");

    let off = api
        .settings(&emulator.admin, json!({"adminsMayRenameForOthers": false}))
        .await;
    assert_eq!(off.body["adminsMayRenameForOthers"], false);
    let refused = api
        .update(&emulator.admin, &id, json!({"label": "robot 3"}))
        .await;
    assert_eq!(refused.summary(), "403 SECURITY_RENAME_FORBIDDEN");
    // A refused update changes nothing, not even the parts that were allowed.
    let with_active = api
        .update(&emulator.admin, &id, json!({"label": "robot 3", "active": false}))
        .await;
    assert_eq!(with_active.summary(), "403 SECURITY_RENAME_FORBIDDEN");
    let listed = api.list_org(&emulator.admin, None).await;
    let entry = listed
        .body
        .as_array()
        .and_then(|all| all.iter().find(|c| c["componentId"] == id.as_str()).cloned());
    assert_eq!(
        entry.map(|c| (c["label"].clone(), c["active"].clone())),
        Some((json!("robot 2"), json!(true)))
    );

    // Re-sending the unchanged label is not a rename; (de)activation and deletion stay allowed.
    let deactivated = api
        .update(&emulator.admin, &id, json!({"label": "robot 2", "active": false}))
        .await;
    assert_eq!(deactivated.summary(), "200 ");
    assert_eq!(deactivated.body["active"], false);
    let activated = api.update(&emulator.admin, &id, json!({"active": true})).await;
    assert_eq!(activated.summary(), "200 ");

    // Renaming one's own credential stays allowed.
    let own = api.create_own(&emulator.admin, "mine").await.id();
    let own_renamed = api
        .update(&emulator.admin, &own, json!({"label": "still mine"}))
        .await;
    assert_eq!(own_renamed.summary(), "200 ");

    let deleted = api.delete(&emulator.admin, &id).await;
    assert_eq!(deleted.summary(), "200 ");
}

#[tokio::test]
async fn the_quota_refusal_uses_the_configured_code_and_message() {
    let (emulator, api) = setup_with(&["--credential-limit", "1"]).await;
    let user = api.create_user(&emulator.admin, "q@example.com", &[], true).await;
    assert_eq!(api.create_for(&emulator.admin, "1", &user).await.status, 200);
    let default = api.create_for(&emulator.admin, "2", &user).await;
    assert_eq!(default.summary(), "400 SECURITY_API_CREDENTIALS_LIMIT");
    let message = default.body["ISSUES"][0]["message"].as_str().unwrap_or_default();
    assert!(message.contains(&user) && message.contains('1'), "{message}");

    api.settings(
        &emulator.admin,
        json!({"quotaIssueCode": "SECURITY_0042", "quotaIssueMessage": "Validation failed"}),
    )
    .await;
    let custom = api.create_for(&emulator.admin, "2", &user).await;
    assert_eq!(custom.summary(), "400 SECURITY_0042");
    assert_eq!(custom.body["ISSUES"][0]["message"], "Validation failed");

    let blank = api
        .settings(&emulator.admin, json!({"quotaIssueCode": " "}))
        .await;
    assert_eq!(blank.status, 400);
}

#[tokio::test]
async fn lists_lag_behind_creations_and_changes_by_list_lag_ms() {
    let (emulator, api) = setup_with(&[]).await;
    let lag = api.faults(&emulator.admin, json!({"listLagMs": 1500})).await;
    assert_eq!(lag.body["listLagMs"], 1500);

    let created = api.create_own(&emulator.admin, "lagging").await;
    assert_eq!(created.status, 200);
    let cred: Cred = created.cred();
    let started = Instant::now();
    // Absent from both lists at first, though it authenticates and counts at once.
    assert!(!ids(&api.list_own(&emulator.admin).await.body).contains(&cred.id));
    assert!(!ids(&api.list_org(&emulator.admin, None).await.body).contains(&cred.id));
    assert_eq!(api.current_user_status(&cred).await, 200);
    tokio::time::sleep(Duration::from_millis(700)).await;
    let renamed = api
        .update(&emulator.admin, &cred.id, json!({"label": "renamed"}))
        .await;
    assert_eq!(renamed.body["label"], "renamed");
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "the test machine is too slow"
    );

    // After the creation's delay it is listed, with its old label until the rename's delay passes.
    let mut seen_old = false;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let own = labels(&api.list_own(&emulator.admin).await.body);
        let org = labels(&api.list_org(&emulator.admin, None).await.body);
        assert_eq!(
            own.contains(&"renamed".to_string()),
            org.contains(&"renamed".to_string())
        );
        if own.contains(&"lagging".to_string()) {
            seen_old = true;
        }
        if own.contains(&"renamed".to_string()) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the rename never became visible: {own:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        seen_old,
        "the old label was never listed between creation and rename"
    );

    // Deletion is not delayed; clearing the fault makes lists current at once.
    let second = api.create_own(&emulator.admin, "second").await.id();
    assert!(!ids(&api.list_own(&emulator.admin).await.body).contains(&second));
    api.admin(Method::DELETE, "/faults", &emulator.admin, None).await;
    assert!(ids(&api.list_own(&emulator.admin).await.body).contains(&second));
    api.delete(&emulator.admin, &cred.id).await;
    assert!(!ids(&api.list_own(&emulator.admin).await.body).contains(&cred.id));
}

fn strict_settings_and_faults(settings: &Value, faults: &Value) {
    assert_eq!(settings["adminsMayRenameForOthers"], false, "{settings}");
    assert_eq!(settings["adminsMayRegenerateForOthers"], false, "{settings}");
    assert_eq!(settings["quotaIssueCode"], "SECURITY_0042", "{settings}");
    assert_eq!(settings["quotaIssueMessage"], "Validation failed", "{settings}");
    assert_eq!(faults["listLagMs"], 2000, "{faults}");
    assert_eq!(faults["revocationDelayMs"], 2000, "{faults}");
}

#[tokio::test]
async fn the_strict_profile_flag_sets_every_open_behaviour() {
    let (emulator, api) = setup_with(&["--profile", "strict"]).await;
    let settings = api.admin(Method::GET, "/settings", &emulator.admin, None).await;
    let faults = api.admin(Method::GET, "/faults", &emulator.admin, None).await;
    strict_settings_and_faults(&settings.body, &faults.body);
    let profile = api.admin(Method::GET, "/profile", &emulator.admin, None).await;
    assert_eq!(profile.body["profile"], "strict");

    // The profile's delays are the baseline of the faults: `{}` and DELETE keep them, explicit
    // fields override them.
    let other = api.faults(&emulator.admin, json!({"latencyMs": 1})).await;
    assert_eq!(
        (other.body["listLagMs"].clone(), other.body["latencyMs"].clone()),
        (json!(2000), json!(1))
    );
    let cleared = api.admin(Method::DELETE, "/faults", &emulator.admin, None).await;
    strict_settings_and_faults(&settings.body, &cleared.body);
    let off = api.faults(&emulator.admin, json!({"listLagMs": 0})).await;
    assert_eq!(
        (
            off.body["listLagMs"].clone(),
            off.body["revocationDelayMs"].clone()
        ),
        (json!(0), json!(2000))
    );

    // The behaviours themselves.
    let (_user, id) = credential_for_other(&emulator, &api, "robot").await;
    let rename = api.update(&emulator.admin, &id, json!({"label": "x"})).await;
    assert_eq!(rename.summary(), "403 SECURITY_RENAME_FORBIDDEN");
    let regenerate = api
        .update(&emulator.admin, &id, json!({"generateAuthToken": true}))
        .await;
    assert_eq!(
        regenerate.summary(),
        "403 SECURITY_REGENERATE_FOR_OTHERS_FORBIDDEN"
    );
}

#[tokio::test]
async fn the_profile_admin_endpoint_switches_between_strict_and_default() {
    let (emulator, api) = setup_with(&[]).await;
    let before = api.admin(Method::GET, "/profile", &emulator.admin, None).await;
    assert_eq!(before.body["profile"], "default");
    api.settings(&emulator.admin, json!({"credentialLimit": 3})).await;
    api.faults(&emulator.admin, json!({"latencyMs": 1})).await;

    let strict = api
        .admin(
            Method::PUT,
            "/profile",
            &emulator.admin,
            Some(json!({"profile": "strict"})),
        )
        .await;
    assert_eq!(strict.status, 200, "{}", strict.summary());
    strict_settings_and_faults(&strict.body["settings"], &strict.body["faults"]);
    // Other settings and faults are kept.
    assert_eq!(strict.body["settings"]["credentialLimit"], 3);
    assert_eq!(strict.body["faults"]["latencyMs"], 1);

    // Revocation is delayed: a deactivated token still works for a moment, then stops.
    let cred = api.create_own(&emulator.admin, "revoked").await.cred();
    api.update(&emulator.admin, &cred.id, json!({"active": false}))
        .await;
    assert_eq!(api.current_user_status(&cred).await, 200);
    tokio::time::sleep(Duration::from_millis(2300)).await;
    assert_eq!(api.current_user_status(&cred).await, 401);

    let default = api
        .admin(
            Method::PUT,
            "/profile",
            &emulator.admin,
            Some(json!({"profile": "default"})),
        )
        .await;
    assert_eq!(default.body["profile"], "default");
    assert_eq!(default.body["settings"]["adminsMayRenameForOthers"], true);
    assert_eq!(
        default.body["settings"]["quotaIssueCode"],
        "SECURITY_API_CREDENTIALS_LIMIT"
    );
    assert_eq!(default.body["faults"]["listLagMs"], 0);
    assert_eq!(default.body["faults"]["revocationDelayMs"], 0);
    assert_eq!(default.body["faults"]["latencyMs"], 1);

    let unknown = api
        .admin(
            Method::PUT,
            "/profile",
            &emulator.admin,
            Some(json!({"profile": "lenient"})),
        )
        .await;
    assert_eq!(unknown.summary(), "400 REST_INVALID_JSON");
}

#[tokio::test]
async fn an_unknown_profile_flag_is_refused_at_start() {
    let refused = Emulator::try_start(&["--profile", "lenient"]);
    assert!(refused.is_err());
}
