//! Base-URL discovery through ASTER's public org-info endpoint (docs/controlhub-api.md §1), as the official SDK does it.
//!
//! Owns the org-info request and the derivation of the base URL from `data.landingUrl`. It sends
//! no credential headers (the endpoint is unauthenticated) and must not be used for the sys-admin org.

use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;

use super::config::{build_http_client, default_user_agent, parse_base_url, public_headers};
use super::error::{ConfigError, Error};
use super::operation::Operation;
use super::ratelimit::RateLimiter;
use super::request::{ApiRequest, Connection};
use super::retry::RetryPolicy;
use super::token::AuthToken;
use super::wire::OrgInfoJson;

/// What the SDK removes from `landingUrl` to get the base URL.
pub const LANDING_SUFFIX: &str = "/security/public-rest/v1/aster/landing";

/// `GET {aster}/api/security/public/v3/orgs/{o}/info` → `data.landingUrl` minus [`LANDING_SUFFIX`].
pub async fn discover_base_url(
    aster_url: &str,
    token: &AuthToken,
    timeout: Duration,
    ca_bundle_pem: Option<&[u8]>,
) -> Result<String, Error> {
    let org = token.claims().map_err(ConfigError::from)?.org_id;
    if org.is_sys_admin() {
        return Err(ConfigError::SysAdminNeedsBaseUrl.into());
    }
    let connection = Connection {
        http: build_http_client(timeout, ca_bundle_pem, &default_user_agent())?,
        base: parse_base_url(aster_url)?,
        headers: public_headers(),
        token: None,
        limiter: Arc::new(RateLimiter::unlimited()),
        in_flight: None,
        retry: RetryPolicy::default(),
        observer: None,
    };
    let path = ["api", "security", "public", "v3", "orgs", org.as_str(), "info"];
    let request = ApiRequest {
        operation: Operation::DiscoverOrg,
        method: Method::GET,
        path: &path,
        query: None,
        body: None,
    };
    let info: OrgInfoJson = connection.send_json(&request).await?;
    base_url_from_landing(&info.data.landing_url).ok_or_else(|| Error::Decode {
        operation: Operation::DiscoverOrg,
        detail: "landingUrl is not a Control Hub landing URL".into(),
    })
}

/// The base URL inside a landing URL: the landing path removed (a path prefix before it stays).
pub fn base_url_from_landing(landing_url: &str) -> Option<String> {
    let trimmed = landing_url.trim().trim_end_matches('/');
    let base = trimmed.strip_suffix(LANDING_SUFFIX)?.trim_end_matches('/');
    parse_base_url(base).ok().map(|_| base.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn landing_suffix_is_stripped_keeping_any_prefix() {
        assert_eq!(
            base_url_from_landing("https://na01.hub.streamsets.com/security/public-rest/v1/aster/landing")
                .as_deref(),
            Some("https://na01.hub.streamsets.com")
        );
        assert_eq!(
            base_url_from_landing("http://127.0.0.1:8080/prefix/security/public-rest/v1/aster/landing/")
                .as_deref(),
            Some("http://127.0.0.1:8080/prefix")
        );
    }

    #[test]
    fn landing_urls_without_the_suffix_are_rejected() {
        assert_eq!(base_url_from_landing("https://na01.hub.streamsets.com/"), None);
        assert_eq!(
            base_url_from_landing("/security/public-rest/v1/aster/landing"),
            None
        );
    }

    #[tokio::test]
    async fn the_sys_admin_org_is_never_looked_up() {
        let token = crate::controlhub::token::tests::token_with_payload(r#"{"o":"admin","jti":"c"}"#);
        let err = discover_base_url("http://127.0.0.1:9", &token, Duration::from_secs(1), None)
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::Config(ConfigError::SysAdminNeedsBaseUrl)),
            "{err:?}"
        );
    }
}
