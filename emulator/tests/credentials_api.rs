//! The API-credential endpoints against the real binary: the seed documents' behaviour, the token
//! format (controlhub-api.md §3) and every decision of §10 (status + ISSUES code).

mod common;

use base64::Engine;
use common::{Api, Cred, Emulator};
use reqwest::Method;
use serde_json::{Value, json};

async fn setup() -> (Emulator, Api) {
    let emulator = Emulator::start();
    let api = emulator.api();
    (emulator, api)
}

fn decode_payload(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap_or_default();
    let padded = format!("{payload}{}", "=".repeat((4 - payload.len() % 4) % 4));
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(padded)
        .unwrap_or_default();
    serde_json::from_slice(&bytes).unwrap_or(Value::Null)
}

#[tokio::test]
async fn the_seed_curl_example_works_with_a_fresh_token() {
    let (emulator, api) = setup().await;
    let created = api.create_own(&emulator.admin, "curl example").await;
    assert_eq!(created.status, 200, "{}", created.summary());
    let me = api.current_user(&created.cred()).await;
    assert_eq!(me.status, 200);
    assert_eq!(me.body["principalId"], emulator.admin_user.as_str());
    assert_eq!(me.body["organizationId"], emulator.org_id.as_str());
    assert_eq!(me.body["email"], "admin@emulator.local");
    assert!(me.body["tokenStr"].is_null());
    for key in [
        "principalName",
        "organizationName",
        "roles",
        "groups",
        "app",
        "attributes",
        "issuerUrl",
        "expires",
    ] {
        assert!(me.body.get(key).is_some(), "currentUser lacks {key}");
    }
}

#[tokio::test]
async fn a_deactivated_credential_gets_401_until_it_is_activated_again() {
    let (emulator, api) = setup().await;
    let cred = api.create_own(&emulator.admin, "temp").await.cred();
    let off = api
        .update(
            &emulator.admin,
            &cred.id,
            json!({"label": "temp", "generateAuthToken": false, "active": false}),
        )
        .await;
    assert_eq!((off.status, off.body["active"].as_bool()), (200, Some(false)));
    assert!(off.body["authToken"].is_null());
    let refused = api.current_user(&cred).await;
    assert_eq!(refused.summary(), "401 SSO_01");
    assert_eq!(
        refused.headers.get("www-authenticate").map(|v| v.as_bytes()),
        Some(&b"dpm"[..])
    );
    let on = api
        .update(
            &emulator.admin,
            &cred.id,
            json!({"label": "temp", "generateAuthToken": false, "active": true}),
        )
        .await;
    assert_eq!(on.body["active"], true);
    assert_eq!(api.current_user_status(&cred).await, 200);
}

#[tokio::test]
async fn regenerating_keeps_id_and_name_and_only_the_new_token_works() {
    let (emulator, api) = setup().await;
    let old = api.create_own(&emulator.admin, "rotate me").await.cred();
    let regenerated = api
        .update(
            &emulator.admin,
            &old.id,
            json!({"label": "rotate me", "generateAuthToken": true}),
        )
        .await;
    assert_eq!(regenerated.status, 200);
    let new = regenerated.cred();
    assert_eq!(new.id, old.id);
    assert_eq!(regenerated.body["label"], "rotate me");
    assert_eq!(regenerated.body["active"], true);
    assert!(!new.token.is_empty() && new.token != old.token);
    assert_eq!(api.current_user_status(&old).await, 401);
    assert_eq!(api.current_user_status(&new).await, 200);
}

#[tokio::test]
async fn a_deleted_credential_gets_401_and_delete_returns_it_without_token() {
    let (emulator, api) = setup().await;
    let cred = api.create_own(&emulator.admin, "short lived").await.cred();
    let deleted = api.delete(&emulator.admin, &cred.id).await;
    assert_eq!(deleted.status, 200);
    assert_eq!(deleted.body["componentId"], cred.id.as_str());
    assert!(deleted.body["authToken"].is_null());
    assert_eq!(api.current_user_status(&cred).await, 401);
    assert_eq!(
        api.delete(&emulator.admin, &cred.id).await.summary(),
        "404 SECURITY_CREDENTIAL_NOT_FOUND"
    );
}

#[tokio::test]
async fn tokens_have_the_documented_unsigned_jwt_format() {
    let (emulator, api) = setup().await;
    for cred in [
        emulator.admin.clone(),
        api.create_own(&emulator.admin, "fmt").await.cred(),
    ] {
        let parts: Vec<&str> = cred.token.split('.').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0], "eyJ0eXAiOiJKV1QiLCJhbGciOiJub25lIn0");
        assert_eq!(parts[2], "");
        assert!(!parts[1].contains(['-', '_', '+', '/', '=']));
        let claims = decode_payload(&cred.token);
        let keys: Vec<&String> = claims.as_object().map(|o| o.keys().collect()).unwrap_or_default();
        assert_eq!(keys.len(), 5);
        let secret = claims["s"].as_str().unwrap_or_default();
        assert_eq!(secret.len(), 128);
        assert!(
            secret
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
        );
        assert_eq!(claims["v"], 1);
        assert_eq!(claims["iss"], "dev");
        assert_eq!(claims["jti"], cred.id.as_str());
        assert_eq!(claims["o"], emulator.org_id.as_str());
    }
}

#[tokio::test]
async fn the_issuer_claim_follows_the_iss_option() {
    let emulator = Emulator::start_with(&["--iss", "prod"]);
    assert_eq!(decode_payload(&emulator.admin.token)["iss"], "prod");
}

#[tokio::test]
async fn every_authentication_failure_is_401_sso_01() {
    let (emulator, api) = setup().await;
    let other = api.create_own(&emulator.admin, "other").await.cred();
    let path = "/security/rest/v1/currentUser";
    let no_requested_by = reqwest::Client::new()
        .get(format!("{}{path}", emulator.url))
        .header("X-SS-App-Component-Id", &emulator.admin.id)
        .header("X-SS-App-Auth-Token", &emulator.admin.token)
        .send()
        .await
        .map(|r| r.status().as_u16());
    assert_eq!(no_requested_by.ok(), Some(401), "missing X-Requested-By");
    assert_eq!(
        api.send(Method::GET, path, None, None).await.summary(),
        "401 SSO_01",
        "no credential headers"
    );
    let forged_secret = {
        let mut claims = decode_payload(&emulator.admin.token);
        claims["s"] = json!("0".repeat(128));
        let payload = base64::engine::general_purpose::STANDARD_NO_PAD.encode(claims.to_string());
        format!("eyJ0eXAiOiJKV1QiLCJhbGciOiJub25lIn0.{payload}.")
    };
    let cases = [
        (
            "empty token",
            Cred {
                id: emulator.admin.id.clone(),
                token: String::new(),
            },
        ),
        (
            "malformed token",
            Cred {
                id: emulator.admin.id.clone(),
                token: "not-a-token".into(),
            },
        ),
        (
            "jti differs from component id",
            Cred {
                id: other.id.clone(),
                token: emulator.admin.token.clone(),
            },
        ),
        (
            "wrong secret",
            Cred {
                id: emulator.admin.id.clone(),
                token: forged_secret,
            },
        ),
    ];
    for (case, cred) in cases {
        let reply = api.current_user(&cred).await;
        assert_eq!(reply.summary(), "401 SSO_01", "{case}");
        assert_eq!(
            reply.headers.get("www-authenticate").map(|v| v.as_bytes()),
            Some(&b"dpm"[..]),
            "{case}"
        );
    }
}

#[tokio::test]
async fn an_inactive_or_deleted_user_cannot_authenticate() {
    let (emulator, api) = setup().await;
    let user = api
        .create_user(&emulator.admin, "bob@example.com", &[], false)
        .await;
    let cred = api.issue(&emulator.admin, &user, "bob's").await;
    assert_eq!(api.current_user_status(&cred).await, 200);
    let off = api
        .admin(
            Method::PUT,
            &format!("/users/{user}"),
            &emulator.admin,
            Some(json!({"active": false})),
        )
        .await;
    assert_eq!(off.status, 200);
    assert_eq!(api.current_user(&cred).await.summary(), "401 SSO_01");
    api.admin(
        Method::PUT,
        &format!("/users/{user}"),
        &emulator.admin,
        Some(json!({"active": true})),
    )
    .await;
    assert_eq!(api.current_user_status(&cred).await, 200);
    api.admin(Method::DELETE, &format!("/users/{user}"), &emulator.admin, None)
        .await;
    assert_eq!(api.current_user(&cred).await.summary(), "401 SSO_01");
}

#[tokio::test]
async fn lists_are_bare_arrays_with_all_six_keys_and_null_tokens() {
    let (emulator, api) = setup().await;
    api.create_own(&emulator.admin, "listed").await;
    let listed = api.list_own(&emulator.admin).await;
    let items = listed.body.as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 2);
    for item in &items {
        let mut keys: Vec<&String> = item.as_object().map(|o| o.keys().collect()).unwrap_or_default();
        keys.sort();
        assert_eq!(
            keys,
            [
                "active",
                "authToken",
                "componentId",
                "label",
                "registeredBy",
                "userId"
            ]
        );
        assert!(item["authToken"].is_null());
    }
    assert_eq!(items[1]["label"], "listed");
}

#[tokio::test]
async fn create_validates_the_label_and_honours_active() {
    let (emulator, api) = setup().await;
    for body in [
        json!({"label": "  ", "generateAuthToken": true}),
        json!({"generateAuthToken": true}),
        json!({}),
    ] {
        assert_eq!(
            api.create(&emulator.admin, body).await.summary(),
            "400 SECURITY_LABEL_REQUIRED"
        );
    }
    let inactive = api
        .create(
            &emulator.admin,
            json!({"label": "off", "active": false, "generateAuthToken": false}),
        )
        .await;
    assert_eq!(inactive.status, 200);
    assert_eq!(inactive.body["active"], false);
    assert!(
        inactive.body["authToken"].is_string(),
        "create always returns a token"
    );
    assert_eq!(api.current_user_status(&inactive.cred()).await, 401);
}

#[tokio::test]
async fn the_eleventh_credential_of_an_owner_is_400_naming_the_limit() {
    let (emulator, api) = setup().await;
    // The bootstrap credential is the admin's first.
    for i in 1..10 {
        assert_eq!(
            api.create_own(&emulator.admin, &format!("c{i}")).await.status,
            200
        );
    }
    let refused = api.create_own(&emulator.admin, "c10").await;
    assert_eq!(refused.summary(), "400 SECURITY_API_CREDENTIALS_LIMIT");
    let message = refused.body["ISSUES"][0]["message"].as_str().unwrap_or_default();
    assert!(message.contains("10"), "{message}");
    // Inactive credentials count too; deleting one frees a slot.
    let first = api.list_own(&emulator.admin).await.body[1]["componentId"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    api.update(&emulator.admin, &first, json!({"active": false}))
        .await;
    assert_eq!(api.create_own(&emulator.admin, "c10").await.status, 400);
    api.delete(&emulator.admin, &first).await;
    assert_eq!(api.create_own(&emulator.admin, "c10").await.status, 200);
}

#[tokio::test]
async fn non_admins_are_refused_with_403_for_anything_beyond_their_own_credentials() {
    let (emulator, api) = setup().await;
    let alice = api
        .create_user(&emulator.admin, "alice@example.com", &[], false)
        .await;
    let bob = api
        .create_user(&emulator.admin, "bob@example.com", &[], false)
        .await;
    let alice_cred = api.issue(&emulator.admin, &alice, "alice").await;
    let bob_cred = api.issue(&emulator.admin, &bob, "bob").await;
    let forbidden = [
        api.update(&alice_cred, &bob_cred.id, json!({"label": "mine now"}))
            .await,
        api.update(&alice_cred, &bob_cred.id, json!({"active": false}))
            .await,
        api.delete(&alice_cred, &bob_cred.id).await,
    ];
    for reply in forbidden {
        assert_eq!(reply.summary(), "403 SECURITY_CREDENTIAL_NOT_OWNED");
    }
    assert_eq!(
        api.create_for(&alice_cred, "for bob", &bob).await.summary(),
        "403 SECURITY_ORG_ADMIN_REQUIRED"
    );
    assert_eq!(
        api.list_org(&alice_cred, None).await.summary(),
        "403 SECURITY_ORG_ADMIN_REQUIRED"
    );
    let other_org = api.with_org("00000000-0000-1000-8000-000000000000");
    assert_eq!(
        other_org.list_own(&alice_cred).await.summary(),
        "403 SECURITY_ORGANIZATION_MISMATCH"
    );
    assert_eq!(
        other_org.create_own(&emulator.admin, "x").await.summary(),
        "403 SECURITY_ORGANIZATION_MISMATCH"
    );
    // Their own credentials remain theirs to manage, including regeneration.
    assert_eq!(
        api.update(&alice_cred, &alice_cred.id, json!({"label": "renamed"}))
            .await
            .status,
        200
    );
    let regenerated = api
        .update(&alice_cred, &alice_cred.id, json!({"generateAuthToken": true}))
        .await;
    assert_eq!(regenerated.status, 200);
    assert_eq!(
        api.create_own(&regenerated.cred(), "second").await.body["userId"],
        alice.as_str()
    );
}

#[tokio::test]
async fn unknown_credentials_are_404_on_update_and_delete() {
    let (emulator, api) = setup().await;
    let unknown = "6f1c43b4-4d1e-4a53-9d70-bb6e3a0c3a11";
    assert_eq!(
        api.update(&emulator.admin, unknown, json!({"label": "x"}))
            .await
            .summary(),
        "404 SECURITY_CREDENTIAL_NOT_FOUND"
    );
    assert_eq!(
        api.delete(&emulator.admin, unknown).await.summary(),
        "404 SECURITY_CREDENTIAL_NOT_FOUND"
    );
}

#[tokio::test]
async fn admins_create_for_other_active_users_only_with_service_accounts_enabled() {
    let (emulator, api) = setup().await;
    let robot = api
        .create_user(&emulator.admin, "robot@example.com", &[], true)
        .await;
    let created = api.create_for(&emulator.admin, "for robot", &robot).await;
    assert_eq!(created.status, 200, "{}", created.summary());
    assert_eq!(created.body["userId"], robot.as_str());
    assert_eq!(created.body["registeredBy"], emulator.admin_user.as_str());
    let me = api.current_user(&created.cred()).await;
    assert_eq!(
        (me.status, me.body["email"].as_str()),
        (200, Some("robot@example.com"))
    );

    let disabled = api
        .settings(&emulator.admin, json!({"serviceAccountsEnabled": false}))
        .await;
    assert_eq!(disabled.body["serviceAccountsEnabled"], false);
    assert_eq!(
        api.create_for(&emulator.admin, "x", &robot).await.summary(),
        "403 SECURITY_SERVICE_ACCOUNTS_DISABLED"
    );
    let own_with_explicit_id = api
        .create_for(&emulator.admin, "mine", &emulator.admin_user)
        .await;
    assert_eq!(
        own_with_explicit_id.status, 200,
        "naming yourself is not 'another user'"
    );
    api.settings(&emulator.admin, json!({"serviceAccountsEnabled": true}))
        .await;

    api.admin(
        Method::PUT,
        &format!("/users/{robot}"),
        &emulator.admin,
        Some(json!({"active": false})),
    )
    .await;
    assert_eq!(
        api.create_for(&emulator.admin, "x", &robot).await.summary(),
        "400 SECURITY_INVALID_TARGET_USER"
    );
    let stranger = format!("11111111-1111-1111-1111-111111111111@{}", emulator.org_id);
    assert_eq!(
        api.create_for(&emulator.admin, "x", &stranger).await.summary(),
        "400 SECURITY_INVALID_TARGET_USER"
    );
}

#[tokio::test]
async fn admins_activate_deactivate_rename_and_delete_others_credentials_but_regenerate_only_if_allowed() {
    let (emulator, api) = setup().await;
    let carol = api
        .create_user(&emulator.admin, "carol@example.com", &[], false)
        .await;
    let cred = api.issue(&emulator.admin, &carol, "carol's").await;
    let admin = &emulator.admin;
    assert_eq!(
        api.update(admin, &cred.id, json!({"label": "carol's", "active": false}))
            .await
            .body["active"],
        false
    );
    assert_eq!(
        api.update(admin, &cred.id, json!({"label": "carol's", "active": true}))
            .await
            .body["active"],
        true
    );
    assert_eq!(
        api.update(admin, &cred.id, json!({"label": "renamed by admin"}))
            .await
            .body["label"],
        "renamed by admin"
    );
    let refused = api
        .update(
            admin,
            &cred.id,
            json!({"label": "renamed by admin", "generateAuthToken": true}),
        )
        .await;
    assert_eq!(refused.summary(), "403 SECURITY_REGENERATE_FOR_OTHERS_FORBIDDEN");
    assert_eq!(
        api.current_user_status(&cred).await,
        200,
        "a refused regeneration changes nothing"
    );
    api.settings(admin, json!({"adminsMayRegenerateForOthers": true}))
        .await;
    let allowed = api
        .update(admin, &cred.id, json!({"generateAuthToken": true}))
        .await;
    assert_eq!(allowed.status, 200);
    assert_eq!(api.current_user_status(&allowed.cred()).await, 200);
    assert_eq!(api.delete(admin, &cred.id).await.status, 200);
}

#[tokio::test]
async fn the_org_list_shows_everyone_and_filters_by_user() {
    let (emulator, api) = setup().await;
    let dave = api
        .create_user(&emulator.admin, "dave@example.com", &[], false)
        .await;
    let dave_cred = api.issue(&emulator.admin, &dave, "dave's").await;
    let all = api.list_org(&emulator.admin, None).await;
    assert_eq!(all.body.as_array().map(Vec::len), Some(2));
    let filtered = api.list_org(&emulator.admin, Some(&dave)).await;
    let items = filtered.body.as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["componentId"], dave_cred.id.as_str());
    assert!(items[0]["authToken"].is_null());
}

#[tokio::test]
async fn the_own_list_holds_credentials_owned_by_the_caller_not_those_registered_for_others() {
    let (emulator, api) = setup().await;
    let robot = api
        .create_user(&emulator.admin, "robot@example.com", &[], true)
        .await;
    let for_robot = api.create_for(&emulator.admin, "for robot", &robot).await.cred();
    let mine = api.list_own(&emulator.admin).await;
    let ids: Vec<&str> = mine
        .body
        .as_array()
        .map(|a| a.iter().filter_map(|c| c["componentId"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(ids, [emulator.admin.id.as_str()]);
    let robots = api.list_own(&for_robot).await;
    assert_eq!(robots.body[0]["componentId"], for_robot.id.as_str());
}

#[tokio::test]
async fn updates_change_only_what_they_carry_and_ignore_user_id() {
    let (emulator, api) = setup().await;
    let cred = api.create_own(&emulator.admin, "keep").await.cred();
    let other = api
        .create_user(&emulator.admin, "eve@example.com", &[], false)
        .await;
    let updated = api
        .update(
            &emulator.admin,
            &cred.id,
            json!({"active": false, "userId": other}),
        )
        .await;
    assert_eq!(updated.body["label"], "keep");
    assert_eq!(updated.body["userId"], emulator.admin_user.as_str());
    let relabelled = api
        .update(
            &emulator.admin,
            &cred.id,
            json!({"label": null, "generateAuthToken": false}),
        )
        .await;
    assert_eq!(
        (
            relabelled.body["label"].as_str(),
            relabelled.body["active"].as_bool()
        ),
        (Some("keep"), Some(false))
    );
    assert_eq!(
        api.update(&emulator.admin, &cred.id, json!({"label": ""}))
            .await
            .summary(),
        "400 SECURITY_LABEL_REQUIRED"
    );
}

#[tokio::test]
async fn deleting_a_user_deletes_credentials_it_owns_and_registered() {
    let (emulator, api) = setup().await;
    let boss = api
        .create_user(&emulator.admin, "boss@example.com", &["org-admin"], false)
        .await;
    let robot = api
        .create_user(&emulator.admin, "robot@example.com", &[], true)
        .await;
    let boss_cred = api.issue(&emulator.admin, &boss, "boss").await;
    let registered = api.create_for(&boss_cred, "made by boss", &robot).await.cred();
    let robot_own = api.issue(&emulator.admin, &robot, "robot's own").await;
    let deleted = api
        .admin(Method::DELETE, &format!("/users/{boss}"), &emulator.admin, None)
        .await;
    assert_eq!(deleted.status, 200);
    assert_eq!(
        deleted.body["deletedCredentials"].as_array().map(Vec::len),
        Some(2)
    );
    assert_eq!(api.current_user_status(&boss_cred).await, 401);
    assert_eq!(api.current_user_status(&registered).await, 401);
    assert_eq!(api.current_user_status(&robot_own).await, 200);
    let remaining = api.list_org(&emulator.admin, None).await;
    assert_eq!(remaining.body.as_array().map(Vec::len), Some(2));
}
