//! Every error row of the decisions in docs/controlhub-api.md §6.2 and §10, as the emulator answers it, arrives as the
//! right typed error with its `ISSUES` code, and no error ever prints a token.

use controlhub_operator::controlhub::{CredentialId, Error, UserId};
use controlhub_testkit::emulator::{Emulator, Settings};

use crate::support::{admin_client, assert_no_token_in, client, config, regular_user};

fn code(error: &Error) -> Option<&str> {
    error.issue().and_then(|issue| issue.code.as_deref())
}

#[tokio::test]
async fn a_wrong_deactivated_or_deleted_credential_is_unauthorized() {
    let emulator = Emulator::start();
    let admin = admin_client(&emulator);

    let issued = admin.create_credential("victim", None, true).await.unwrap();
    let other = admin.create_credential("other", None, true).await.unwrap();
    // Right credential id, another credential's (valid) token: jti mismatch, refused by the client.
    let mismatch = admin
        .for_credential(issued.credential.id.clone(), other.token.clone())
        .unwrap_err();
    assert_eq!(mismatch.label(), "config");

    let as_victim = admin
        .for_credential(issued.credential.id.clone(), issued.token.clone())
        .unwrap();
    admin
        .set_credential_active(&issued.credential.id, "victim", false)
        .await
        .unwrap();
    let err = as_victim.current_user().await.unwrap_err();
    assert!(matches!(err, Error::Unauthorized { .. }), "{err:?}");
    assert_eq!(code(&err), Some("SSO_01"));
    assert!(err.is_permanent());

    admin.delete_credential(&issued.credential.id).await.unwrap();
    let err = as_victim.list_own_credentials().await.unwrap_err();
    assert!(matches!(err, Error::Unauthorized { .. }), "{err:?}");
    assert_no_token_in(&err, &[issued.token.expose()]);
}

/// The same token with one hex digit of its secret claim `s` changed.
fn with_other_secret(token: &str) -> String {
    use base64::Engine as _;
    let engine = base64::engine::general_purpose::STANDARD_NO_PAD;
    let mut segments = token.split('.');
    let (header, payload) = (segments.next().unwrap(), segments.next().unwrap());
    let mut claims: serde_json::Value =
        serde_json::from_slice(&engine.decode(payload.trim_end_matches('=')).unwrap()).unwrap();
    let secret = claims["s"].as_str().unwrap();
    let first = if secret.starts_with('0') { '1' } else { '0' };
    claims["s"] = serde_json::Value::String(format!("{first}{}", &secret[1..]));
    format!("{header}.{}.", engine.encode(claims.to_string()))
}

#[tokio::test]
async fn a_token_with_the_wrong_secret_is_unauthorized() {
    let emulator = Emulator::start();
    let admin = emulator.admin();
    let tampered = with_other_secret(&admin.auth_token);
    let client = client(config(&emulator, &admin.credential_id, &tampered));
    let err = client.current_user().await.unwrap_err();
    assert!(matches!(err, Error::Unauthorized { .. }), "{err:?}");
    assert_eq!(code(&err), Some("SSO_01"));
    assert_no_token_in(&err, &[&tampered, &admin.auth_token]);
}

#[tokio::test]
async fn non_admins_are_forbidden_from_acting_for_others() {
    let emulator = Emulator::start();
    let admin = admin_client(&emulator);
    let frank = regular_user(&emulator, "frank").await;
    let grace = regular_user(&emulator, "grace").await;

    let graces = CredentialId::new(grace.credential_id.clone());
    let refusals = [
        (
            "list for org",
            frank.client.list_org_credentials(None).await.unwrap_err(),
        ),
        (
            "create for other",
            frank
                .client
                .create_credential("for grace", Some(&grace.id), true)
                .await
                .unwrap_err(),
        ),
        (
            "rename other's",
            frank
                .client
                .rename_credential(&graces, "mine now")
                .await
                .unwrap_err(),
        ),
        (
            "deactivate other's",
            frank
                .client
                .set_credential_active(&graces, "x", false)
                .await
                .unwrap_err(),
        ),
        (
            "delete admin's",
            frank
                .client
                .delete_credential(admin.credential_id())
                .await
                .unwrap_err(),
        ),
    ];
    for (what, err) in &refusals {
        assert!(matches!(err, Error::Forbidden { .. }), "{what}: {err:?}");
        assert!(err.is_permanent());
        assert!(
            code(err).is_some_and(|c| c.starts_with("SECURITY_")),
            "{what}: {err:?}"
        );
        assert_no_token_in(err, &[&frank.token, &grace.token]);
    }
    assert_eq!(
        emulator
            .current_user_status(&grace.credential_id, &grace.token)
            .await,
        200
    );
}

#[tokio::test]
async fn admins_may_not_regenerate_for_others_by_default() {
    let emulator = Emulator::start();
    let admin = admin_client(&emulator);
    let hank = regular_user(&emulator, "hank").await;
    let id = CredentialId::new(hank.credential_id.clone());
    let err = admin
        .regenerate_credential(&id, "hank bootstrap")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Forbidden { .. }), "{err:?}");
    assert_eq!(code(&err), Some("SECURITY_REGENERATE_FOR_OTHERS_FORBIDDEN"));

    emulator
        .set_settings(&Settings {
            admins_may_regenerate_for_others: Some(true),
            ..Settings::default()
        })
        .await;
    let issued = admin.regenerate_credential(&id, "hank bootstrap").await.unwrap();
    assert_eq!(issued.credential.owner, hank.id);
}

#[tokio::test]
async fn creating_for_others_is_forbidden_when_service_accounts_are_disabled() {
    let emulator = Emulator::start();
    let admin = admin_client(&emulator);
    let ivy = UserId::new(
        emulator
            .create_user("ivy@example.com", "ivy", &["org-user"], true)
            .await,
    );
    emulator
        .set_settings(&Settings {
            service_accounts_enabled: Some(false),
            ..Settings::default()
        })
        .await;
    let err = admin
        .create_credential("for ivy", Some(&ivy), true)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Forbidden { .. }), "{err:?}");
    assert_eq!(code(&err), Some("SECURITY_SERVICE_ACCOUNTS_DISABLED"));
}

#[tokio::test]
async fn unknown_credential_ids_are_not_found() {
    let emulator = Emulator::start();
    let admin = admin_client(&emulator);
    let missing = CredentialId::new("00000000-0000-4000-8000-000000000000");
    let err = admin.rename_credential(&missing, "x").await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    assert_eq!(code(&err), Some("SECURITY_CREDENTIAL_NOT_FOUND"));
    let err = admin.delete_credential(&missing).await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    assert_eq!(err.label(), "not_found");
}

#[tokio::test]
async fn the_eleventh_credential_of_an_owner_exceeds_the_quota() {
    let emulator = Emulator::start();
    let admin = admin_client(&emulator);
    let owned = admin.list_own_credentials().await.unwrap().len();
    for n in owned..10 {
        admin
            .create_credential(&format!("slot {n}"), None, n % 2 == 0)
            .await
            .unwrap();
    }
    let err = admin
        .create_credential("one too many", None, true)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::QuotaExceeded { .. }), "{err:?}");
    assert_eq!(code(&err), Some("SECURITY_API_CREDENTIALS_LIMIT"));
    assert!(
        err.issue().is_some_and(|issue| issue.message.contains("10")),
        "{err}"
    );
    assert_eq!(err.label(), "quota_exceeded");
    assert!(err.is_permanent());
}

#[tokio::test]
async fn a_blank_label_is_invalid() {
    let emulator = Emulator::start();
    let admin = admin_client(&emulator);
    for label in ["", "   "] {
        let err = admin.create_credential(label, None, true).await.unwrap_err();
        assert!(
            matches!(err, Error::Invalid { status: 400, .. }),
            "{label:?}: {err:?}"
        );
        assert_eq!(code(&err), Some("SECURITY_LABEL_REQUIRED"));
    }
}

#[tokio::test]
async fn no_error_display_or_debug_contains_a_token() {
    let emulator = Emulator::start();
    let admin = admin_client(&emulator);
    let jill = regular_user(&emulator, "jill").await;
    let issued = admin.create_credential("kept", None, true).await.unwrap();
    let tokens = [
        emulator.admin().auth_token.as_str(),
        jill.token.as_str(),
        issued.token.expose(),
    ];

    let mut errors = Vec::new();
    errors.push(jill.client.list_org_credentials(None).await.unwrap_err());
    errors.push(jill.client.create_credential("", None, true).await.unwrap_err());
    errors.push(
        admin
            .rename_credential(&CredentialId::new("nope"), "x")
            .await
            .unwrap_err(),
    );
    admin.delete_credential(&issued.credential.id).await.unwrap();
    let as_deleted = admin
        .for_credential(issued.credential.id.clone(), issued.token.clone())
        .unwrap();
    errors.push(as_deleted.current_user().await.unwrap_err());
    errors.push(as_deleted.create_credential("x", None, true).await.unwrap_err());
    assert_eq!(errors.len(), 5);
    for err in &errors {
        assert_no_token_in(err, &tokens);
    }
}
