//! `--tls-cert/--tls-key`: the emulator serves HTTPS with the given certificate, and org info
//! then points at an `https://` landing URL.

mod common;

use common::{Api, Emulator, scratch_dir};
use controlhub_testkit::pki::TestCa;
use reqwest::Method;

#[tokio::test]
async fn https_is_served_with_the_given_certificate() {
    let ca = TestCa::new("emulator test CA").unwrap_or_else(|e| panic!("test CA: {e}"));
    let served = ca
        .loopback_server("controlhub-emulator")
        .unwrap_or_else(|e| panic!("server certificate: {e}"));
    let dir = scratch_dir("tls");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let ca_pem = ca.pem();
    std::fs::write(&cert, &served.cert_pem).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(&key, &served.key_pem).unwrap_or_else(|e| panic!("{e}"));
    let emulator = Emulator::start_with(&[
        "--tls-cert",
        cert.to_str().unwrap_or_default(),
        "--tls-key",
        key.to_str().unwrap_or_default(),
    ]);
    assert!(emulator.url.starts_with("https://127.0.0.1:"), "{}", emulator.url);
    let api = Api::new(&emulator.url, &emulator.org_id, Some(ca_pem.as_bytes()));
    assert_eq!(api.current_user_status(&emulator.admin).await, 200);
    let info = api
        .send(
            Method::GET,
            &format!("/api/security/public/v3/orgs/{}/info", emulator.org_id),
            None,
            None,
        )
        .await;
    let landing = info.body["data"]["landingUrl"].as_str().unwrap_or_default();
    assert!(landing.starts_with("https://127.0.0.1:"), "{landing}");
    let untrusting = Api::new(&emulator.url, &emulator.org_id, None);
    let refused = untrusting
        .try_send(Method::GET, "/rest/v1/server/info", None, None)
        .await;
    assert!(refused.is_err(), "a client without the CA must not connect");
}

#[tokio::test]
async fn a_missing_key_file_fails_the_start_with_a_clear_message() {
    let dir = scratch_dir("tls");
    let cert = dir.join("cert.pem");
    std::fs::write(&cert, b"-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n")
        .unwrap_or_else(|e| panic!("{e}"));
    let missing = dir.join("missing.pem");
    let result = Emulator::try_start(&[
        "--tls-cert",
        cert.to_str().unwrap_or_default(),
        "--tls-key",
        missing.to_str().unwrap_or_default(),
    ]);
    let message = result.err().unwrap_or_default();
    assert!(message.contains("TLS"), "{message}");
}
