//! Helpers for the client ↔ emulator tests: clients bound to emulator identities, users with
//! their own credentials, an observer that records attempts, and token-leak assertions.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use controlhub_operator::controlhub::{
    AuthToken, ClientConfig, ControlHubClient, CredentialId, Error, RequestObserver, UserId,
};
use controlhub_testkit::emulator::Emulator;

/// A config for `emulator` as (`credential_id`, `token`): no pacing, quick retries.
pub fn config(emulator: &Emulator, credential_id: &str, token: &str) -> ClientConfig {
    let mut config = ClientConfig::new(
        emulator.url(),
        CredentialId::new(credential_id),
        AuthToken::new(token),
    );
    config.timeout = Duration::from_secs(5);
    config.requests_per_second = 0.0;
    config.retry_base_delay = Duration::from_millis(10);
    config.retry_max_delay = Duration::from_millis(50);
    config.ca_bundle_pem = emulator.ca_pem().map(|pem| pem.as_bytes().to_vec());
    config
}

/// A client from `config`, or a test failure.
pub fn client(config: ClientConfig) -> ControlHubClient {
    ControlHubClient::new(config).expect("client config is valid")
}

/// A client acting as the emulator's bootstrap org admin.
pub fn admin_client(emulator: &Emulator) -> ControlHubClient {
    let admin = emulator.admin();
    client(config(emulator, &admin.credential_id, &admin.auth_token))
}

/// A user of the emulator's org with one credential, and a client acting as that user.
pub struct User {
    pub id: UserId,
    pub credential_id: String,
    pub token: String,
    pub client: ControlHubClient,
}

/// Creates a user with `roles` (service account or not) and a credential for it.
pub async fn new_user(emulator: &Emulator, name: &str, roles: &[&str], service_account: bool) -> User {
    let email = format!("{name}@example.com");
    let id = emulator.create_user(&email, name, roles, service_account).await;
    let (credential_id, token) = emulator
        .issue_user_credential(&id, &format!("{name} bootstrap"))
        .await;
    let client = client(config(emulator, &credential_id, &token));
    User {
        id: UserId::new(id),
        credential_id,
        token,
        client,
    }
}

/// A regular (non-admin) user.
pub async fn regular_user(emulator: &Emulator, name: &str) -> User {
    new_user(emulator, name, &["org-user", "user"], false).await
}

/// One observed HTTP attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub operation: &'static str,
    pub outcome: &'static str,
}

/// Records every attempt the client reports.
#[derive(Default)]
pub struct RecordingObserver {
    attempts: Mutex<Vec<Attempt>>,
}

impl RecordingObserver {
    pub fn attempts(&self) -> Vec<Attempt> {
        self.attempts.lock().map(|a| a.clone()).unwrap_or_default()
    }
}

impl RequestObserver for RecordingObserver {
    fn observe(&self, operation: &'static str, outcome: &'static str, _elapsed: Duration) {
        if let Ok(mut attempts) = self.attempts.lock() {
            attempts.push(Attempt { operation, outcome });
        }
    }
}

/// `config` with a fresh [`RecordingObserver`] attached.
pub fn observed(mut config: ClientConfig) -> (ControlHubClient, Arc<RecordingObserver>) {
    let observer = Arc::new(RecordingObserver::default());
    config.observer = Some(observer.clone());
    (client(config), observer)
}

/// Fails when the error's Display or Debug shows any of `tokens` (or any of their segments).
pub fn assert_no_token_in(error: &Error, tokens: &[&str]) {
    let printed = [error.to_string(), format!("{error:?}")];
    for token in tokens {
        for text in &printed {
            assert!(!text.contains(token), "token leaked in error output: {text}");
            for segment in token.split('.').filter(|s| s.len() > 8) {
                assert!(
                    !text.contains(segment),
                    "token segment leaked in error output: {text}"
                );
            }
        }
    }
}
