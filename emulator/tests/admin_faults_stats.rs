//! The emulator's admin API (`/emulator/v1`): who may use it, users and their credentials,
//! settings, fault injection (429 + Retry-After, 503, latency, dropped connections, delayed
//! revocation), statistics, and the per-owner limit under concurrent creates.

mod common;

use std::time::{Duration, Instant};

use common::{Api, Emulator};
use reqwest::Method;
use serde_json::json;

async fn setup() -> (Emulator, Api) {
    let emulator = Emulator::start();
    let api = emulator.api();
    (emulator, api)
}

#[tokio::test]
async fn the_admin_api_requires_an_org_admin_credential() {
    let (emulator, api) = setup().await;
    let user = api
        .create_user(&emulator.admin, "user@example.com", &[], false)
        .await;
    let cred = api.issue(&emulator.admin, &user, "plain").await;
    for (method, path) in [
        (Method::GET, "/emulator/v1/stats"),
        (Method::PUT, "/emulator/v1/faults"),
        (Method::POST, "/emulator/v1/users"),
    ] {
        let body = Some(json!({"email": "x@example.com"}));
        assert_eq!(
            api.send(method.clone(), path, Some(&cred), body.clone())
                .await
                .summary(),
            "403 SECURITY_ORG_ADMIN_REQUIRED",
            "{path}"
        );
        assert_eq!(
            api.send(method, path, None, body).await.summary(),
            "401 SSO_01",
            "{path}"
        );
    }
}

#[tokio::test]
async fn seeded_users_and_their_credentials_act_as_those_users() {
    let (emulator, api) = setup().await;
    let ops = api
        .create_user(&emulator.admin, "ops@example.com", &["org-admin"], false)
        .await;
    assert!(ops.ends_with(&format!("@{}", emulator.org_id)));
    let issued = api
        .admin(
            Method::POST,
            &format!("/users/{ops}/credentials"),
            &emulator.admin,
            Some(json!({"label": "ops"})),
        )
        .await;
    assert_eq!(issued.body["userId"], ops.as_str());
    assert_eq!(
        issued.body["registeredBy"],
        ops.as_str(),
        "as if the user had created it in the UI"
    );
    let me = api.current_user(&issued.cred()).await;
    assert_eq!(
        (me.body["principalId"].as_str(), me.body["email"].as_str()),
        (Some(ops.as_str()), Some("ops@example.com"))
    );
    assert!(
        me.body["roles"]
            .as_array()
            .is_some_and(|r| r.contains(&json!("org-admin")))
    );
    let blank = api
        .admin(
            Method::POST,
            &format!("/users/{ops}/credentials"),
            &emulator.admin,
            Some(json!({"label": " "})),
        )
        .await;
    assert_eq!(blank.summary(), "400 SECURITY_LABEL_REQUIRED");
    let unknown = api
        .admin(
            Method::POST,
            "/users/nobody@x/credentials",
            &emulator.admin,
            Some(json!({"label": "x"})),
        )
        .await;
    assert_eq!(unknown.summary(), "404 SECURITY_USER_NOT_FOUND");
    let missing_email = api
        .admin(
            Method::POST,
            "/users",
            &emulator.admin,
            Some(json!({"name": "no email"})),
        )
        .await;
    assert_eq!(missing_email.summary(), "400 REST_INVALID_JSON");
    let self_delete = api
        .admin(
            Method::DELETE,
            &format!("/users/{}", emulator.admin_user),
            &emulator.admin,
            None,
        )
        .await;
    assert_eq!(self_delete.summary(), "400 SECURITY_CANNOT_DELETE_SELF");
}

#[tokio::test]
async fn settings_update_partially_and_return_the_full_settings() {
    let (emulator, api) = setup().await;
    let initial = api.admin(Method::GET, "/settings", &emulator.admin, None).await;
    assert_eq!(
        initial.body,
        json!({"serviceAccountsEnabled": true, "adminsMayRegenerateForOthers": false,
               "adminsMayRenameForOthers": true, "credentialLimit": 10,
               "quotaIssueCode": "SECURITY_API_CREDENTIALS_LIMIT",
               "quotaIssueMessage": "user {owner} already holds the maximum of {limit} API credentials (limit {limit} per user)"})
    );
    let changed = api.settings(&emulator.admin, json!({"credentialLimit": 2})).await;
    assert_eq!(
        changed.body,
        json!({"serviceAccountsEnabled": true, "adminsMayRegenerateForOthers": false,
               "adminsMayRenameForOthers": true, "credentialLimit": 2,
               "quotaIssueCode": "SECURITY_API_CREDENTIALS_LIMIT",
               "quotaIssueMessage": "user {owner} already holds the maximum of {limit} API credentials (limit {limit} per user)"})
    );
    let user = api
        .create_user(&emulator.admin, "two@example.com", &[], false)
        .await;
    api.issue(&emulator.admin, &user, "1").await;
    api.issue(&emulator.admin, &user, "2").await;
    let third = api
        .admin(
            Method::POST,
            &format!("/users/{user}/credentials"),
            &emulator.admin,
            Some(json!({"label": "3"})),
        )
        .await;
    assert_eq!(third.summary(), "400 SECURITY_API_CREDENTIALS_LIMIT");
}

#[tokio::test]
async fn a_credential_limit_flag_sets_the_limit_at_start() {
    let emulator = Emulator::start_with(&["--credential-limit", "1"]);
    let api = emulator.api();
    assert_eq!(
        api.create_own(&emulator.admin, "second").await.summary(),
        "400 SECURITY_API_CREDENTIALS_LIMIT"
    );
}

#[tokio::test]
async fn a_rate_limit_fault_answers_429_with_retry_after_for_its_targets_only() {
    let (emulator, api) = setup().await;
    let set = api
        .faults(
            &emulator.admin,
            json!({"rateLimitRate": 1.0, "retryAfterSeconds": 7, "operations": ["listCredentials"]}),
        )
        .await;
    assert_eq!(set.status, 200);
    let limited = api.list_own(&emulator.admin).await;
    assert_eq!(limited.summary(), "429 EMULATOR_RATE_LIMITED");
    assert_eq!(
        limited.headers.get("retry-after").map(|v| v.as_bytes()),
        Some(&b"7"[..])
    );
    assert_eq!(
        api.current_user_status(&emulator.admin).await,
        200,
        "other operations are untouched"
    );
    assert_eq!(
        api.admin(Method::GET, "/faults", &emulator.admin, None)
            .await
            .body["retryAfterSeconds"],
        7
    );
    api.admin(Method::DELETE, "/faults", &emulator.admin, None).await;
    assert_eq!(api.list_own(&emulator.admin).await.status, 200);
}

#[tokio::test]
async fn an_error_fault_answers_503_and_never_reaches_the_handler() {
    let (emulator, api) = setup().await;
    api.faults(
        &emulator.admin,
        json!({"errorRate": 1.0, "operations": ["createCredential"]}),
    )
    .await;
    assert_eq!(
        api.create_own(&emulator.admin, "never").await.summary(),
        "503 EMULATOR_INJECTED_FAULT"
    );
    api.faults(&emulator.admin, json!({})).await;
    let listed = api.list_own(&emulator.admin).await;
    assert_eq!(
        listed.body.as_array().map(Vec::len),
        Some(1),
        "the failed create created nothing"
    );
}

#[tokio::test]
async fn empty_operations_fault_every_control_hub_operation_but_not_the_admin_api() {
    let (emulator, api) = setup().await;
    api.faults(&emulator.admin, json!({"errorRate": 1.0})).await;
    assert_eq!(api.current_user_status(&emulator.admin).await, 503);
    assert_eq!(api.list_own(&emulator.admin).await.status, 503);
    assert_eq!(
        api.admin(Method::GET, "/stats", &emulator.admin, None)
            .await
            .status,
        200
    );
    assert_eq!(api.faults(&emulator.admin, json!({})).await.status, 200);
    assert_eq!(api.current_user_status(&emulator.admin).await, 200);
}

#[tokio::test]
async fn a_latency_fault_delays_the_response() {
    let (emulator, api) = setup().await;
    api.faults(
        &emulator.admin,
        json!({"latencyMs": 400, "operations": ["currentUser"]}),
    )
    .await;
    let started = Instant::now();
    assert_eq!(api.current_user_status(&emulator.admin).await, 200);
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "latency was not applied"
    );
}

#[tokio::test]
async fn a_drop_fault_closes_the_connection_without_a_response() {
    let (emulator, api) = setup().await;
    api.faults(
        &emulator.admin,
        json!({"dropRate": 1.0, "operations": ["listCredentials"]}),
    )
    .await;
    let dropped = api
        .try_send(Method::GET, &api.credentials_path(), Some(&emulator.admin), None)
        .await;
    assert!(
        dropped.is_err(),
        "expected a transport error, got {:?}",
        dropped.ok()
    );
    let stats = api.stats(&emulator.admin).await;
    assert_eq!(stats["operations"]["listCredentials"]["dropped"], 1);
}

#[tokio::test]
async fn invalid_fault_configurations_are_400() {
    let (emulator, api) = setup().await;
    for config in [
        json!({"errorRate": 2.0}),
        json!({"operations": ["noSuchOperation"]}),
        json!({"operations": ["adminGetStats"]}),
    ] {
        assert_eq!(
            api.faults(&emulator.admin, config.clone()).await.summary(),
            "400 REST_INVALID_JSON",
            "{config}"
        );
    }
}

#[tokio::test]
async fn revocation_delay_keeps_an_invalidated_token_working_for_a_while() {
    let (emulator, api) = setup().await;
    api.faults(&emulator.admin, json!({"revocationDelayMs": 3000}))
        .await;
    let cred = api.create_own(&emulator.admin, "slow revoke").await.cred();
    api.update(&emulator.admin, &cred.id, json!({"active": false}))
        .await;
    assert_eq!(
        api.current_user_status(&cred).await,
        200,
        "still valid right after deactivation"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while api.current_user_status(&cred).await == 200 {
        assert!(Instant::now() < deadline, "deactivation never took effect");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(api.current_user_status(&cred).await, 401);
}

#[tokio::test]
async fn without_a_revocation_delay_deactivation_is_immediate() {
    let (emulator, api) = setup().await;
    let cred = api.create_own(&emulator.admin, "fast revoke").await.cred();
    api.update(&emulator.admin, &cred.id, json!({"active": false}))
        .await;
    assert_eq!(api.current_user_status(&cred).await, 401);
}

#[tokio::test]
async fn stats_count_requests_per_operation_and_status_and_reset() {
    let (emulator, api) = setup().await;
    api.admin(Method::DELETE, "/stats", &emulator.admin, None).await;
    for label in ["a", "b", "c"] {
        api.create_own(&emulator.admin, label).await;
    }
    api.create_own(&emulator.admin, "").await;
    api.send(Method::GET, "/nowhere", None, None).await;
    let stats = api.stats(&emulator.admin).await;
    assert_eq!(
        stats["operations"]["createCredential"],
        json!({"200": 3, "400": 1})
    );
    assert_eq!(stats["operations"]["unknown"], json!({"404": 1}));
    let reset = api.admin(Method::DELETE, "/stats", &emulator.admin, None).await;
    assert_eq!(reset.body, json!({"operations": {}}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_never_exceed_the_limit() {
    let (emulator, api) = setup().await;
    let robot = api
        .create_user(&emulator.admin, "robot@example.com", &[], true)
        .await;
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let (api, admin, robot) = (api.clone(), emulator.admin.clone(), robot.clone());
            tokio::spawn(async move { api.create_for(&admin, &format!("c{i}"), &robot).await.summary() })
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap_or_default());
    }
    let ok = outcomes.iter().filter(|s| s.starts_with("200")).count();
    let limited = outcomes
        .iter()
        .filter(|s| *s == "400 SECURITY_API_CREDENTIALS_LIMIT")
        .count();
    assert_eq!((ok, limited), (10, 40), "{outcomes:?}");
    let held = api.list_org(&emulator.admin, Some(&robot)).await;
    assert_eq!(held.body.as_array().map(Vec::len), Some(10));
}
