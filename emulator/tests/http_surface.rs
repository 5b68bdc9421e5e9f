//! The HTTP surface around the credential endpoints: bad input (malformed JSON, wrong types,
//! oversized bodies, unknown routes, wrong methods) always gets an ISSUES body with a 4xx status,
//! and the SDK start-up endpoints (controlhub-api.md §5, §8) answer with the shapes the SDK reads.

mod common;

use common::{Api, Emulator};
use reqwest::Method;
use serde_json::json;

async fn setup() -> (Emulator, Api) {
    let emulator = Emulator::start();
    let api = emulator.api();
    (emulator, api)
}

#[tokio::test]
async fn malformed_json_and_wrong_types_are_400_with_issues() {
    let (emulator, api) = setup().await;
    let path = api.credentials_path();
    let bodies: [&[u8]; 6] = [
        b"{",
        b"not json",
        b"[\"label\"]",
        br#"{"label": 5}"#,
        br#"{"label": "x", "active": "yes"}"#,
        br#"{"label": "x", "generateAuthToken": 1}"#,
    ];
    for body in bodies {
        let reply = api.raw(Method::POST, &path, Some(&emulator.admin), body).await;
        assert_eq!(
            reply.summary(),
            "400 REST_INVALID_JSON",
            "{}",
            String::from_utf8_lossy(body)
        );
    }
    let update = format!("{path}/{}", emulator.admin.id);
    let reply = api
        .raw(
            Method::POST,
            &update,
            Some(&emulator.admin),
            br#"{"active": null, "label": []}"#,
        )
        .await;
    assert_eq!(reply.summary(), "400 REST_INVALID_JSON");
    let admin = api
        .raw(
            Method::PUT,
            "/emulator/v1/settings",
            Some(&emulator.admin),
            br#"{"credentialLimit": -1}"#,
        )
        .await;
    assert_eq!(admin.summary(), "400 REST_INVALID_JSON");
    let typo = api
        .raw(
            Method::PUT,
            "/emulator/v1/faults",
            Some(&emulator.admin),
            br#"{"errorRat": 1}"#,
        )
        .await;
    assert_eq!(typo.summary(), "400 REST_INVALID_JSON");
}

#[tokio::test]
async fn an_oversized_body_is_413_and_the_emulator_keeps_serving() {
    let (emulator, api) = setup().await;
    let huge = format!("{{\"label\":\"{}\"}}", "x".repeat(3 * 1024 * 1024));
    let path = api.credentials_path();
    // The emulator answers before reading the whole body, so the client may see a reset instead.
    if let Ok(reply) = api
        .try_send(
            Method::POST,
            &path,
            Some(&emulator.admin),
            Some(huge.into_bytes()),
        )
        .await
    {
        assert_eq!(reply.summary(), "413 REST_BODY_TOO_LARGE");
    }
    assert_eq!(api.current_user_status(&emulator.admin).await, 200);
}

#[tokio::test]
async fn unknown_routes_are_404_and_wrong_methods_405_with_issues() {
    let (emulator, api) = setup().await;
    for path in [
        "/",
        "/security/rest/v1/nope",
        "/security/rest/v2/currentUser",
        "/emulator/v1/nothing",
    ] {
        assert_eq!(
            api.send(Method::GET, path, Some(&emulator.admin), None)
                .await
                .summary(),
            "404 REST_NOT_FOUND",
            "{path}"
        );
    }
    let wrong = [
        (Method::PUT, api.credentials_path()),
        (
            Method::PATCH,
            format!("{}/{}", api.credentials_path(), emulator.admin.id),
        ),
        (Method::DELETE, "/security/rest/v1/currentUser".to_string()),
        (Method::POST, "/emulator/v1/stats".to_string()),
    ];
    for (method, path) in wrong {
        let reply = api
            .send(method.clone(), &path, Some(&emulator.admin), Some(json!({})))
            .await;
        assert_eq!(reply.summary(), "405 REST_METHOD_NOT_ALLOWED", "{method} {path}");
    }
}

#[tokio::test]
async fn org_info_points_back_at_the_emulator_and_unknown_orgs_are_404() {
    let (emulator, api) = setup().await;
    let info = api
        .send(
            Method::GET,
            &format!("/api/security/public/v3/orgs/{}/info", emulator.org_id),
            None,
            None,
        )
        .await;
    assert_eq!(info.status, 200);
    let landing = format!("{}/security/public-rest/v1/aster/landing", emulator.url);
    assert_eq!(info.body["data"]["landingUrl"], landing.as_str());
    let unknown = api
        .send(Method::GET, "/api/security/public/v3/orgs/other/info", None, None)
        .await;
    assert_eq!(unknown.status, 404);
    assert!(unknown.body["errors"][0]["message"].is_string());
}

#[tokio::test]
async fn the_sdk_start_up_endpoints_answer_with_what_the_sdk_reads() {
    let (emulator, api) = setup().await;
    let admin = Some(&emulator.admin);
    let roles = api
        .send(Method::GET, "/security/rest/v1/roles", admin, None)
        .await;
    let role_ids: Vec<&str> = roles
        .body
        .as_array()
        .map(|a| a.iter().filter_map(|r| r["id"].as_str()).collect())
        .unwrap_or_default();
    assert!(role_ids.contains(&"org-admin"));
    for app in [
        "connection",
        "jobrunner",
        "pipelinestore",
        "provisioning",
        "security",
        "sequencing",
        "topology",
        "scheduler",
        "notification",
        "sla",
    ] {
        let doc = api
            .send(Method::GET, &format!("/{app}/rest/openapi.json"), admin, None)
            .await;
        assert_eq!(doc.status, 200, "{app}");
        assert!(doc.body["components"].is_object(), "{app}");
    }
    let security = api
        .send(Method::GET, "/security/rest/openapi.json", admin, None)
        .await;
    let properties = &security.body["components"]["schemas"]["ApiCredentialsJson"]["properties"];
    assert_eq!(properties.as_object().map(|o| o.len()), Some(6));
    assert!(security.body["components"]["schemas"]["UserJson"]["properties"]["email"].is_object());
    assert!(
        api.send(Method::GET, "/assets/i18n/en.json", admin, None)
            .await
            .body
            .is_object()
    );
    let engines = "/jobrunner/rest/v1/sdcs?organization=o&executorType=COLLECTOR&offset=0&len=250&orderBy=HTTP_URL&order=ASC&withWrapper=True";
    let listing = api.send(Method::GET, engines, admin, None).await;
    assert_eq!(
        listing.body,
        json!({"totalCount": 0, "offset": 0, "len": 0, "data": []})
    );
    assert!(
        api.send(Method::GET, "/rest/v1/server/info", admin, None)
            .await
            .body["version"]
            .is_string()
    );
    let orgs = api
        .send(Method::GET, "/security/rest/v1/organizations", admin, None)
        .await;
    assert_eq!(orgs.body[0]["id"], emulator.org_id.as_str());
}

#[tokio::test]
async fn non_admins_do_not_see_the_org_admin_role() {
    let (emulator, api) = setup().await;
    let user = api
        .create_user(&emulator.admin, "plain@example.com", &[], false)
        .await;
    let cred = api.issue(&emulator.admin, &user, "plain").await;
    let roles = api
        .send(Method::GET, "/security/rest/v1/roles", Some(&cred), None)
        .await;
    assert_eq!(roles.status, 200);
    assert!(
        roles
            .body
            .as_array()
            .is_some_and(|a| !a.is_empty() && a.iter().all(|r| r["id"] != "org-admin"))
    );
}

#[tokio::test]
async fn users_are_listed_with_the_wrapper_and_fetched_by_id() {
    let (emulator, api) = setup().await;
    let robot = api
        .create_user(
            &emulator.admin,
            "robot@example.com",
            &["jobrunner:operator"],
            true,
        )
        .await;
    let base = format!("/security/rest/v1/organization/{}", emulator.org_id);
    let listed = api
        .send(
            Method::GET,
            &format!("{base}/users?offset=0&len=50&orderBy=ID&order=ASC&withWrapper=True"),
            Some(&emulator.admin),
            None,
        )
        .await;
    assert_eq!(listed.body["totalCount"], 2);
    assert_eq!(listed.body["data"].as_array().map(Vec::len), Some(2));
    let filtered = api
        .send(
            Method::GET,
            &format!("{base}/users?filterText=robot&withWrapper=true"),
            Some(&emulator.admin),
            None,
        )
        .await;
    assert_eq!(filtered.body["data"][0]["id"], robot.as_str());
    let user = api
        .send(
            Method::GET,
            &format!("{base}/user/{robot}"),
            Some(&emulator.admin),
            None,
        )
        .await;
    assert_eq!(user.body["email"], "robot@example.com");
    assert_eq!(user.body["organization"], emulator.org_id.as_str());
    assert!(
        user.body["roles"]
            .as_array()
            .is_some_and(|r| r.contains(&json!("jobrunner:operator")))
    );
    let missing = api
        .send(
            Method::GET,
            &format!("{base}/user/nobody@{}", emulator.org_id),
            Some(&emulator.admin),
            None,
        )
        .await;
    assert_eq!(missing.summary(), "404 SECURITY_USER_NOT_FOUND");
    let bad_flag = api
        .send(
            Method::GET,
            &format!("{base}/users?active=maybe"),
            Some(&emulator.admin),
            None,
        )
        .await;
    assert_eq!(bad_flag.summary(), "400 REST_INVALID_PARAMETER");
}

#[tokio::test]
async fn configs_expose_the_service_account_setting() {
    let (emulator, api) = setup().await;
    let path = format!("/security/rest/v1/organization/{}/configs", emulator.org_id);
    let value = |reply: &common::Reply| {
        reply
            .body
            .as_array()
            .and_then(|a| a.iter().find(|c| c["name"] == "Enable service accounts."))
            .map(|c| c["value"].clone())
    };
    let before = api.send(Method::GET, &path, Some(&emulator.admin), None).await;
    assert_eq!(value(&before), Some(json!("true")));
    api.settings(&emulator.admin, json!({"serviceAccountsEnabled": false}))
        .await;
    let after = api.send(Method::GET, &path, Some(&emulator.admin), None).await;
    assert_eq!(value(&after), Some(json!("false")));
}
