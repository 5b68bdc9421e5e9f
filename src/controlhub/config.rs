//! Client configuration and the construction of the HTTP transport from it.
//!
//! Owns [`ClientConfig`] (defaults and validation), the credential and common headers of docs/controlhub-api.md §2, and
//! the reqwest client (TLS roots, timeout, no redirects). It must not send requests.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Certificate, Url};

use super::error::ConfigError;
use super::ids::CredentialId;
use super::observe::RequestObserver;
use super::retry::RetryPolicy;
use super::token::AuthToken;

/// Header carrying the credential ID.
pub const HEADER_COMPONENT_ID: HeaderName = HeaderName::from_static("x-ss-app-component-id");
/// Header carrying the token.
pub const HEADER_AUTH_TOKEN: HeaderName = HeaderName::from_static("x-ss-app-auth-token");
/// Header the SSO layer requires to treat a call as a REST call (any value).
pub const HEADER_REQUESTED_BY: HeaderName = HeaderName::from_static("x-requested-by");
/// Header marking an API call, so errors come back as JSON.
pub const HEADER_REST_CALL: HeaderName = HeaderName::from_static("x-ss-rest-call");
/// The value this client sends in `X-Requested-By`.
pub const REQUESTED_BY: &str = "controlhub-operator";

/// How to reach Control Hub as one credential.
#[derive(Clone)]
pub struct ClientConfig {
    /// The regional base URL, e.g. `https://na01.hub.streamsets.com` (a path prefix is allowed).
    pub base_url: String,
    /// The credential the client authenticates as.
    pub credential_id: CredentialId,
    /// That credential's token.
    pub token: AuthToken,
    /// Timeout of one HTTP attempt, from connect to the end of the body (default 10 s).
    pub timeout: Duration,
    /// Extra root certificates (PEM, one or more) for a private CA or a self-signed emulator.
    pub ca_bundle_pem: Option<Vec<u8>>,
    /// Request pacing for this connection; 0 disables it (default 10).
    pub requests_per_second: f64,
    /// Requests allowed at once before pacing applies (default 20).
    pub burst: u32,
    /// Most HTTP attempts in flight at once through this client and the clients derived from it
    /// with `for_credential` (default 8); 0 means no cap.
    pub max_concurrent_requests: u32,
    /// Retries after the first attempt, for operations that are safe to retry (default 3).
    pub max_retries: u32,
    /// Backoff before the first retry, doubled per retry and jittered (default 100 ms).
    pub retry_base_delay: Duration,
    /// Upper bound of the client's own backoff (default 5 s).
    pub retry_max_delay: Duration,
    /// The longest `Retry-After` waited out in-line; longer ones are returned to the caller (default 30 s).
    pub max_retry_after: Duration,
    /// `User-Agent` header.
    pub user_agent: String,
    /// Called once per HTTP attempt (metrics).
    pub observer: Option<Arc<dyn RequestObserver>>,
}

impl ClientConfig {
    /// A configuration with the defaults documented on each field.
    pub fn new(base_url: impl Into<String>, credential_id: CredentialId, token: AuthToken) -> Self {
        Self {
            base_url: base_url.into(),
            credential_id,
            token,
            timeout: Duration::from_secs(10),
            ca_bundle_pem: None,
            // The same as the connection kinds' defaults (`api::connection`); the controller sets
            // them from each connection anyway.
            requests_per_second: 100.0,
            burst: 100,
            max_concurrent_requests: 16,
            max_retries: 3,
            retry_base_delay: Duration::from_millis(100),
            retry_max_delay: Duration::from_secs(5),
            max_retry_after: Duration::from_secs(30),
            user_agent: default_user_agent(),
            observer: None,
        }
    }

    /// The retry policy these settings describe.
    pub fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy {
            max_retries: self.max_retries,
            base_delay: self.retry_base_delay,
            max_delay: self.retry_max_delay,
            max_retry_after: self.max_retry_after,
        }
    }
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("base_url", &self.base_url)
            .field("credential_id", &self.credential_id)
            .field("token", &self.token)
            .field("timeout", &self.timeout)
            .field("ca_bundle_pem", &self.ca_bundle_pem.as_ref().map(|pem| pem.len()))
            .field("requests_per_second", &self.requests_per_second)
            .field("burst", &self.burst)
            .field("max_concurrent_requests", &self.max_concurrent_requests)
            .field("max_retries", &self.max_retries)
            .field("user_agent", &self.user_agent)
            .field("observer", &self.observer.is_some())
            .finish_non_exhaustive()
    }
}

/// `controlhub-operator/<version>`.
pub fn default_user_agent() -> String {
    format!("controlhub-operator/{}", env!("CARGO_PKG_VERSION"))
}

/// Parses an absolute http(s) base URL without query or fragment; a trailing `/` is dropped.
pub fn parse_base_url(raw: &str) -> Result<Url, ConfigError> {
    let invalid = || ConfigError::BaseUrl { url: raw.to_string() };
    let url = Url::parse(raw.trim()).map_err(|_| invalid())?;
    let usable = matches!(url.scheme(), "http" | "https")
        && !url.cannot_be_a_base()
        && url.host_str().is_some()
        && url.query().is_none()
        && url.fragment().is_none()
        && url.username().is_empty()
        && url.password().is_none();
    if !usable {
        return Err(invalid());
    }
    Ok(url)
}

/// The headers every Control Hub call carries, without credentials (docs/controlhub-api.md §2).
pub fn public_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(HEADER_REQUESTED_BY, HeaderValue::from_static(REQUESTED_BY));
    headers.insert(HEADER_REST_CALL, HeaderValue::from_static("true"));
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
    headers
}

/// [`public_headers`] plus the credential headers; the token header is marked sensitive.
pub fn credential_headers(credential_id: &CredentialId, token: &AuthToken) -> Result<HeaderMap, ConfigError> {
    let mut headers = public_headers();
    let id = HeaderValue::from_str(credential_id.as_str()).map_err(|_| ConfigError::HeaderValue)?;
    let mut secret = HeaderValue::from_str(token.expose()).map_err(|_| ConfigError::HeaderValue)?;
    secret.set_sensitive(true);
    headers.insert(HEADER_COMPONENT_ID, id);
    headers.insert(HEADER_AUTH_TOKEN, secret);
    Ok(headers)
}

/// The reqwest client: rustls with the built-in roots plus `ca_bundle_pem`, the per-attempt timeout,
/// and redirects disabled (a redirect to another host must never receive the credential headers).
pub fn build_http_client(
    timeout: Duration,
    ca_bundle_pem: Option<&[u8]>,
    user_agent: &str,
) -> Result<reqwest::Client, ConfigError> {
    let mut builder = reqwest::Client::builder()
        .user_agent(user_agent)
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .redirect(reqwest::redirect::Policy::none())
        .pool_idle_timeout(Duration::from_secs(50));
    if let Some(pem) = ca_bundle_pem {
        let certs = Certificate::from_pem_bundle(pem).map_err(|_| ConfigError::CaBundle)?;
        if certs.is_empty() {
            return Err(ConfigError::CaBundle);
        }
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder.build().map_err(ConfigError::HttpClient)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_keep_their_path_prefix_and_reject_non_http() {
        assert_eq!(
            parse_base_url("http://127.0.0.1:8080/prefix/").unwrap().path(),
            "/prefix/"
        );
        assert!(parse_base_url("https://na01.hub.streamsets.com").is_ok());
        for bad in [
            "na01.hub.streamsets.com",
            "ftp://h",
            "http://h/?q=1",
            "http://u:p@h",
            "mailto:x@y",
        ] {
            assert!(
                matches!(parse_base_url(bad), Err(ConfigError::BaseUrl { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn credential_headers_follow_the_documented_names_and_hide_the_token() {
        let token = AuthToken::new("h.p.");
        let headers = credential_headers(&CredentialId::new("c1"), &token).unwrap();
        assert_eq!(headers["x-ss-app-component-id"], "c1");
        assert_eq!(headers["x-ss-app-auth-token"], "h.p.");
        assert!(headers["x-ss-app-auth-token"].is_sensitive());
        assert_eq!(headers["x-requested-by"], REQUESTED_BY);
        assert_eq!(headers["x-ss-rest-call"], "true");
        assert_eq!(headers["content-type"], "application/json");
        assert!(!format!("{headers:?}").contains("h.p."));
    }

    #[test]
    fn header_injection_through_the_token_is_refused() {
        let token = AuthToken::new("a\r\nX-Evil: 1");
        assert!(matches!(
            credential_headers(&CredentialId::new("c1"), &token),
            Err(ConfigError::HeaderValue)
        ));
    }

    #[test]
    fn config_debug_redacts_the_token() {
        let token = AuthToken::new("h.secretpayload.");
        let config = ClientConfig::new("http://h", CredentialId::new("c1"), token);
        assert!(!format!("{config:?}").contains("secretpayload"));
    }

    #[test]
    fn garbage_ca_bundles_are_rejected() {
        let result = build_http_client(Duration::from_secs(1), Some(b"not pem"), "ua");
        assert!(matches!(result, Err(ConfigError::CaBundle)));
    }
}
