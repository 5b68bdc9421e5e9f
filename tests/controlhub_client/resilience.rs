//! Retries, rate limits, outages, dropped connections and timeouts, injected by the emulator: safe
//! operations are retried within bounds, creates and regenerations are never sent twice.

use std::time::{Duration, Instant};

use controlhub_operator::controlhub::{CredentialId, Error};
use controlhub_testkit::emulator::{Emulator, Faults};
use controlhub_testkit::process::free_port;

use crate::support::{Attempt, admin_client, config, observed};

fn admin_config(emulator: &Emulator) -> controlhub_operator::controlhub::ClientConfig {
    let admin = emulator.admin();
    config(emulator, &admin.credential_id, &admin.auth_token)
}

#[tokio::test]
async fn a_create_hitting_503_is_sent_exactly_once() {
    let emulator = Emulator::start();
    let client = admin_client(&emulator);
    emulator
        .set_faults(&Faults {
            error_rate: 1.0,
            ..Faults::for_operations(&["createCredential"])
        })
        .await;
    emulator.reset_stats().await;
    let err = client.create_credential("once", None, true).await.unwrap_err();
    assert!(matches!(err, Error::Unavailable { status: 503, .. }), "{err:?}");
    assert!(err.is_transient());
    let stats = emulator.stats().await;
    assert_eq!(stats.total("createCredential"), 1, "{stats:?}");
}

#[tokio::test]
async fn a_regenerate_hitting_503_is_sent_exactly_once() {
    let emulator = Emulator::start();
    let client = admin_client(&emulator);
    let issued = client.create_credential("rotating", None, true).await.unwrap();
    emulator
        .set_faults(&Faults {
            error_rate: 1.0,
            ..Faults::for_operations(&["updateCredential"])
        })
        .await;
    emulator.reset_stats().await;
    let err = client
        .regenerate_credential(&issued.credential.id, "rotating")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unavailable { .. }), "{err:?}");
    assert_eq!(emulator.stats().await.total("updateCredential"), 1);
}

#[tokio::test]
async fn a_list_hitting_503_is_retried_up_to_the_budget() {
    let emulator = Emulator::start();
    let mut config = admin_config(&emulator);
    config.max_retries = 3;
    let (client, observer) = observed(config);
    emulator
        .set_faults(&Faults {
            error_rate: 1.0,
            ..Faults::for_operations(&["listCredentials"])
        })
        .await;
    emulator.reset_stats().await;
    let err = client.list_own_credentials().await.unwrap_err();
    assert!(matches!(err, Error::Unavailable { status: 503, .. }), "{err:?}");
    let stats = emulator.stats().await;
    assert_eq!(
        stats.count("listCredentials", 503),
        4,
        "first attempt + 3 retries: {stats:?}"
    );
    let expected = Attempt {
        operation: "listCredentials",
        outcome: "unavailable",
    };
    assert_eq!(observer.attempts(), vec![expected; 4]);
}

#[tokio::test]
async fn idempotent_updates_and_deletes_are_retried() {
    let emulator = Emulator::start();
    let mut config = admin_config(&emulator);
    config.max_retries = 2;
    let (client, observer) = observed(config);
    let issued = client.create_credential("r", None, true).await.unwrap();
    emulator
        .set_faults(&Faults {
            error_rate: 1.0,
            ..Faults::for_operations(&["updateCredential", "deleteCredential"])
        })
        .await;
    client
        .rename_credential(&issued.credential.id, "r2")
        .await
        .unwrap_err();
    client
        .set_credential_active(&issued.credential.id, "r", false)
        .await
        .unwrap_err();
    client.delete_credential(&issued.credential.id).await.unwrap_err();
    let attempts = observer.attempts();
    for operation in ["renameCredential", "setCredentialActive", "deleteCredential"] {
        assert_eq!(
            attempts.iter().filter(|a| a.operation == operation).count(),
            3,
            "{operation}: {attempts:?}"
        );
    }
}

#[tokio::test]
async fn a_429_is_waited_out_for_its_retry_after_then_reported() {
    let emulator = Emulator::start();
    let mut config = admin_config(&emulator);
    config.max_retries = 2;
    let (client, observer) = observed(config);
    let faults = Faults {
        rate_limit_rate: 1.0,
        retry_after_seconds: 1,
        ..Faults::for_operations(&["listCredentials"])
    };
    emulator.set_faults(&faults).await;
    emulator.reset_stats().await;
    let started = Instant::now();
    let err = client.list_own_credentials().await.unwrap_err();
    let waited = started.elapsed();
    assert!(matches!(err, Error::RateLimited { .. }), "{err:?}");
    assert_eq!(err.retry_after(), Some(Duration::from_secs(1)));
    assert_eq!(emulator.stats().await.count("listCredentials", 429), 3);
    assert_eq!(observer.attempts().len(), 3);
    // Two retries, each after the server's Retry-After of 1 s (not the client's 10-50 ms backoff).
    assert!(
        waited >= Duration::from_secs(2),
        "retried after {waited:?}, before Retry-After"
    );
}

#[tokio::test]
async fn a_retry_after_beyond_the_bound_is_returned_without_waiting() {
    let emulator = Emulator::start();
    let mut config = admin_config(&emulator);
    config.max_retry_after = Duration::from_secs(5);
    let client = controlhub_operator::controlhub::ControlHubClient::new(config).unwrap();
    let faults = Faults {
        rate_limit_rate: 1.0,
        retry_after_seconds: 120,
        ..Faults::for_operations(&["listCredentials"])
    };
    emulator.set_faults(&faults).await;
    emulator.reset_stats().await;
    let err = client.list_own_credentials().await.unwrap_err();
    assert_eq!(err.retry_after(), Some(Duration::from_secs(120)), "{err:?}");
    assert_eq!(
        emulator.stats().await.total("listCredentials"),
        1,
        "a long Retry-After goes back to the caller"
    );
}

#[tokio::test]
async fn a_create_hitting_429_is_not_resent() {
    let emulator = Emulator::start();
    let client = admin_client(&emulator);
    let faults = Faults {
        rate_limit_rate: 1.0,
        retry_after_seconds: 1,
        ..Faults::for_operations(&["createCredential"])
    };
    emulator.set_faults(&faults).await;
    emulator.reset_stats().await;
    let err = client.create_credential("x", None, true).await.unwrap_err();
    assert_eq!(err.retry_after(), Some(Duration::from_secs(1)));
    assert_eq!(emulator.stats().await.total("createCredential"), 1);
}

#[tokio::test]
async fn dropped_connections_are_retried_for_lists_but_not_for_creates() {
    let emulator = Emulator::start();
    let mut config = admin_config(&emulator);
    config.max_retries = 2;
    let (client, observer) = observed(config);
    emulator
        .set_faults(&Faults {
            drop_rate: 1.0,
            ..Faults::for_operations(&["listCredentials", "createCredential"])
        })
        .await;

    let err = client
        .create_credential("maybe created", None, true)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Transport {
                before_send: false,
                ..
            }
        ),
        "{err:?}"
    );
    let err = client.list_own_credentials().await.unwrap_err();
    assert!(matches!(err, Error::Transport { .. }), "{err:?}");

    let attempts = observer.attempts();
    let creates = attempts
        .iter()
        .filter(|a| a.operation == "createCredential")
        .count();
    let lists = attempts
        .iter()
        .filter(|a| a.operation == "listCredentials")
        .count();
    assert_eq!((creates, lists), (1, 3), "{attempts:?}");
}

#[tokio::test]
async fn a_create_whose_connection_is_refused_is_retried_because_it_was_never_sent() {
    let emulator = Emulator::start();
    let mut config = admin_config(&emulator);
    config.base_url = format!("http://127.0.0.1:{}", free_port());
    config.max_retries = 2;
    let (client, observer) = observed(config);
    let err = client
        .create_credential("never sent", None, true)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Transport {
                before_send: true,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.is_transient());
    let expected = Attempt {
        operation: "createCredential",
        outcome: "transport",
    };
    assert_eq!(observer.attempts(), vec![expected; 3]);
}

#[tokio::test]
async fn a_response_slower_than_the_timeout_is_a_timeout() {
    let emulator = Emulator::start();
    let mut config = admin_config(&emulator);
    config.timeout = Duration::from_millis(300);
    config.max_retries = 1;
    let (client, observer) = observed(config);
    emulator
        .set_faults(&Faults {
            latency_ms: 2_000,
            ..Faults::for_operations(&["listCredentials", "createCredential"])
        })
        .await;

    let err = client.list_own_credentials().await.unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    assert_eq!(err.label(), "timeout");
    let err = client.create_credential("slow", None, true).await.unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    let outcomes: Vec<_> = observer
        .attempts()
        .into_iter()
        .map(|a| (a.operation, a.outcome))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("listCredentials", "timeout"),
            ("listCredentials", "timeout"),
            ("createCredential", "timeout")
        ],
        "lists are retried once, a create that may have arrived is not"
    );
}

#[tokio::test]
async fn the_observer_sees_every_attempt_with_its_outcome() {
    let emulator = Emulator::start();
    let (client, observer) = observed(admin_config(&emulator));
    client.current_user().await.unwrap();
    client
        .delete_credential(&CredentialId::new("missing"))
        .await
        .unwrap_err();
    assert_eq!(
        observer.attempts(),
        [
            Attempt {
                operation: "currentUser",
                outcome: "ok"
            },
            Attempt {
                operation: "deleteCredential",
                outcome: "not_found"
            },
        ]
    );
}

#[tokio::test]
async fn faults_cleared_means_service_resumes() {
    let emulator = Emulator::start();
    let client = admin_client(&emulator);
    emulator
        .set_faults(&Faults {
            error_rate: 1.0,
            ..Faults::default()
        })
        .await;
    client.current_user().await.unwrap_err();
    emulator.clear_faults().await;
    client.current_user().await.unwrap();
}
