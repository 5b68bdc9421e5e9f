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

// ---- A hostile server: a connection's URL may point anywhere a tenant chooses. ----

/// What the hostile server saw: bytes of body it managed to write, and whether the client closed
/// the connection before the body ended.
#[derive(Debug, Default, Clone, Copy)]
struct Served {
    body_bytes: usize,
    dropped_early: bool,
}

/// A one-connection HTTP/1.1 server on 127.0.0.1 answering `status` with `body_len` bytes of `fill`
/// (`None`: an endless chunked body). Returns its URL and what it served once the exchange ends.
async fn hostile_server(
    status: &'static str,
    body_len: Option<usize>,
    fill: u8,
) -> (String, tokio::task::JoinHandle<Served>) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut request = Vec::new();
        let mut buf = [0u8; 4096];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            match socket.read(&mut buf).await {
                Ok(0) | Err(_) => return Served::default(),
                Ok(n) => request.extend_from_slice(&buf[..n]),
            }
        }
        let chunk = vec![fill; 64 * 1024];
        let mut served = Served::default();
        let head = match body_len {
            Some(n) => {
                format!("HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {n}\r\n\r\n")
            }
            None => format!(
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
            ),
        };
        if socket.write_all(head.as_bytes()).await.is_err() {
            served.dropped_early = true;
            return served;
        }
        // At most 1 GiB: far more than any client cap, bounded in case the client never stops.
        while served.body_bytes < 1 << 30 {
            let result = match body_len {
                Some(n) if served.body_bytes >= n => break,
                Some(n) => {
                    let len = chunk.len().min(n - served.body_bytes);
                    socket.write_all(&chunk[..len]).await.map(|()| len)
                }
                None => {
                    let framed = [format!("{:x}\r\n", chunk.len()).as_bytes(), &chunk[..], b"\r\n"].concat();
                    socket.write_all(&framed).await.map(|()| chunk.len())
                }
            };
            match result {
                Ok(n) => served.body_bytes += n,
                Err(_) => {
                    served.dropped_early = true;
                    break;
                }
            }
        }
        served
    });
    (url, task)
}

/// A client for `url` with an unsigned token of credential `c1` in org `o1`, no retries.
fn client_for(url: &str) -> ControlHubClient {
    use base64::Engine as _;
    let engine = base64::engine::general_purpose::STANDARD_NO_PAD;
    let payload = engine.encode(r#"{"o":"11111111-2222-1333-8444-555555555555","jti":"c1"}"#);
    let token = format!("{}.{payload}.", engine.encode(r#"{"typ":"JWT","alg":"none"}"#));
    let mut config = controlhub_operator::controlhub::ClientConfig::new(
        url,
        controlhub_operator::controlhub::CredentialId::new("c1"),
        AuthToken::new(token),
    );
    config.timeout = Duration::from_secs(30);
    config.requests_per_second = 0.0;
    config.max_retries = 0;
    client(config)
}

/// An endless 200 body is refused with a typed, permanent error once the cap is passed, and the
/// connection is dropped there: the body is never buffered whole (it would OOM the operator).
#[tokio::test]
async fn an_endless_response_body_is_refused_at_the_cap() {
    let (url, served) = hostile_server("200 OK", None, b' ').await;
    let err = client_for(&url).current_user().await.unwrap_err();
    assert!(matches!(err, Error::ResponseTooLarge { .. }), "{err:?}");
    assert!(err.is_permanent(), "{err:?}");
    let served = served.await.unwrap();
    println!(
        "endless body: the server wrote {} bytes before the client hung up",
        served.body_bytes
    );
    assert!(
        served.dropped_early,
        "the client closed the connection: {served:?}"
    );
    assert!(
        served.body_bytes < 64 << 20,
        "the client stopped reading near its cap: {served:?}"
    );
}

/// A 200 that announces a 400 MB body is refused without reading it.
#[tokio::test]
async fn a_huge_announced_response_body_is_refused_without_reading_it() {
    let (url, served) = hostile_server("200 OK", Some(400 << 20), b' ').await;
    let err = client_for(&url).current_user().await.unwrap_err();
    assert!(matches!(err, Error::ResponseTooLarge { .. }), "{err:?}");
    let served = served.await.unwrap();
    println!(
        "400 MB body: the server wrote {} bytes before the client hung up",
        served.body_bytes
    );
    assert!(served.dropped_early, "{served:?}");
    assert!(served.body_bytes < 64 << 20, "{served:?}");
}

/// A 500 with 100 KB of text gives an error whose message (which reaches status conditions and
/// Events) is capped, not the body copied verbatim.
#[tokio::test]
async fn a_long_non_json_error_body_is_not_copied_into_the_error() {
    let (url, _served) = hostile_server("500 Internal Server Error", Some(100 * 1024), b'x').await;
    let err = client_for(&url).current_user().await.unwrap_err();
    assert!(matches!(err, Error::Unavailable { status: 500, .. }), "{err:?}");
    let message = &err.issue().expect("the body's start is kept").message;
    assert!(
        message.chars().count() <= 256,
        "{} chars",
        message.chars().count()
    );
    assert!(message.ends_with('…'), "a cut message says so");
    let printed = err.to_string();
    println!("error Display: {} chars", printed.chars().count());
    assert!(
        printed.chars().count() <= 256 + 80,
        "{} chars: {printed}",
        printed.chars().count()
    );
}
