//! Reaching Control Hub: base-URL discovery through the org-info endpoint, and HTTPS with a
//! private CA given as `ca_bundle_pem`.

use std::time::Duration;

use controlhub_operator::controlhub::{AuthToken, ControlHubClient, Error};
use controlhub_testkit::emulator::Emulator;

use crate::support::{admin_client, client, config};

#[tokio::test]
async fn discovery_finds_the_base_url_through_org_info() {
    let emulator = Emulator::start();
    let token = AuthToken::new(emulator.admin().auth_token.clone());
    let base = ControlHubClient::discover_base_url(emulator.url(), &token, Duration::from_secs(5), None)
        .await
        .unwrap();
    assert_eq!(base.trim_end_matches('/'), emulator.url().trim_end_matches('/'));

    let mut discovered = config(&emulator, &emulator.admin().credential_id, token.expose());
    discovered.base_url = base;
    let principal = client(discovered).current_user().await.unwrap();
    assert_eq!(principal.org_id.as_str(), emulator.org_id());
}

#[tokio::test]
async fn discovery_of_an_unknown_org_fails() {
    let emulator = Emulator::start();
    use base64::Engine as _;
    let engine = base64::engine::general_purpose::STANDARD_NO_PAD;
    let payload = engine.encode(r#"{"o":"11111111-2222-1333-8444-555555555555","jti":"x"}"#);
    let token = AuthToken::new(format!(
        "{}.{payload}.",
        engine.encode(r#"{"typ":"JWT","alg":"none"}"#)
    ));
    let result =
        ControlHubClient::discover_base_url(emulator.url(), &token, Duration::from_secs(5), None).await;
    let err = result.unwrap_err();
    assert!(err.is_permanent(), "{err:?}");
}

#[tokio::test]
async fn https_works_with_the_private_ca_bundle_and_fails_without_it() {
    let emulator = Emulator::options().tls().start();
    assert!(emulator.url().starts_with("https://"), "{}", emulator.url());
    let trusted = admin_client(&emulator);
    assert_eq!(
        trusted.current_user().await.unwrap().org_id.as_str(),
        emulator.org_id()
    );

    let mut untrusted = config(
        &emulator,
        &emulator.admin().credential_id,
        &emulator.admin().auth_token,
    );
    untrusted.ca_bundle_pem = None;
    untrusted.max_retries = 0;
    let err = client(untrusted).current_user().await.unwrap_err();
    assert!(matches!(err, Error::Transport { .. }), "{err:?}");

    let token = AuthToken::new(emulator.admin().auth_token.clone());
    let ca = emulator.ca_pem().map(str::as_bytes);
    let base = ControlHubClient::discover_base_url(emulator.url(), &token, Duration::from_secs(5), ca)
        .await
        .unwrap();
    assert!(base.starts_with("https://"), "{base}");
}

#[tokio::test]
async fn a_client_survives_an_emulator_restart_that_keeps_state() {
    let state = std::env::temp_dir().join(format!("controlhub-client-state-{}.json", std::process::id()));
    let _ = std::fs::remove_file(&state);
    let mut emulator = Emulator::options().state_file(&state).start();
    let client = admin_client(&emulator);
    let issued = client.create_credential("durable", None, true).await.unwrap();

    emulator.restart().unwrap();
    // The pooled connection died with the old process; the idempotent list is retried on a new one.
    let listed = client.list_own_credentials().await.unwrap();
    assert!(listed.iter().any(|c| c.id == issued.credential.id), "{listed:?}");
    assert_eq!(
        emulator
            .current_user_status(issued.credential.id.as_str(), issued.token.expose())
            .await,
        200
    );
    drop(emulator);
    let _ = std::fs::remove_file(&state);
}

#[tokio::test]
async fn an_empty_credential_id_is_refused_before_sending() {
    let emulator = Emulator::start();
    let err = admin_client(&emulator)
        .delete_credential(&controlhub_operator::controlhub::CredentialId::new(""))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { .. }), "{err:?}");
}
