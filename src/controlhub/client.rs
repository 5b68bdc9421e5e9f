//! [`ControlHubClient`]: the typed API-credential operations of the Control Hub security app.
//!
//! Owns one method per operation (path, method, body, response type) on top of the generic request
//! function in [`super::request`]. It must not add HTTP plumbing of its own (headers, retries, error
//! decoding belong to the request function) and must not decide what the operator should do.

use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use tokio::sync::Semaphore;

use super::config::{ClientConfig, build_http_client, credential_headers, parse_base_url};
use super::discovery;
use super::error::{ConfigError, Error};
use super::ids::{CredentialId, OrgId, UserId};
use super::model::{Credential, IssuedCredential, Principal};
use super::operation::Operation;
use super::ratelimit::RateLimiter;
use super::request::{ApiRequest, Connection, encode};
use super::token::AuthToken;
use super::wire::{ApiCredentialJson, CredentialRequest, PrincipalJson};

const SECURITY_V1: [&str; 3] = ["security", "rest", "v1"];
const CREDENTIALS: &str = "api-user-credentials";
const CREDENTIALS_FOR_ORG: &str = "api-user-credentials-for-org";

/// A Control Hub client acting as one API credential. Cloning shares connections, the rate limiter,
/// the cap on requests in flight and the observer.
#[derive(Clone)]
pub struct ControlHubClient {
    inner: Arc<Inner>,
}

struct Inner {
    connection: Connection,
    org_id: OrgId,
    credential_id: CredentialId,
}

impl std::fmt::Debug for ControlHubClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlHubClient")
            .field("base_url", &self.inner.connection.base.as_str())
            .field("org_id", &self.inner.org_id)
            .field("credential_id", &self.inner.credential_id)
            .finish_non_exhaustive()
    }
}

impl ControlHubClient {
    /// Builds a client. Fails when the base URL, CA bundle, rate limit or token is unusable, or
    /// when the token's `jti` names another credential than `credential_id`.
    pub fn new(config: ClientConfig) -> Result<Self, Error> {
        let base = parse_base_url(&config.base_url)?;
        if !(config.requests_per_second.is_finite() && config.requests_per_second >= 0.0) {
            return Err(ConfigError::RateLimit.into());
        }
        let http = build_http_client(
            config.timeout,
            config.ca_bundle_pem.as_deref(),
            &config.user_agent,
        )?;
        let (org_id, headers) = identity(&config.credential_id, &config.token)?;
        let connection = Connection {
            http,
            base,
            headers,
            token: Some(config.token.clone()),
            limiter: Arc::new(RateLimiter::new(config.requests_per_second, config.burst)),
            in_flight: in_flight_cap(config.max_concurrent_requests),
            retry: config.retry_policy(),
            observer: config.observer.clone(),
        };
        Ok(Self {
            inner: Arc::new(Inner {
                connection,
                org_id,
                credential_id: config.credential_id,
            }),
        })
    }

    /// A client for another credential of the same Control Hub, sharing this client's connection
    /// pool, rate limiter, in-flight cap, retry policy and observer (e.g. to check that a stored token still works).
    pub fn for_credential(&self, credential_id: CredentialId, token: AuthToken) -> Result<Self, Error> {
        let connection = &self.inner.connection;
        let (org_id, headers) = identity(&credential_id, &token)?;
        Ok(Self {
            inner: Arc::new(Inner {
                connection: Connection {
                    http: connection.http.clone(),
                    base: connection.base.clone(),
                    headers,
                    token: Some(token),
                    limiter: connection.limiter.clone(),
                    in_flight: connection.in_flight.clone(),
                    retry: connection.retry,
                    observer: connection.observer.clone(),
                },
                org_id,
                credential_id,
            }),
        })
    }

    /// Finds the regional base URL of the token's organization through the ASTER org-info endpoint
    /// (unauthenticated), as the official SDK does. The sys-admin org (`admin`) cannot be discovered.
    pub async fn discover_base_url(
        aster_url: &str,
        token: &AuthToken,
        timeout: Duration,
        ca_bundle_pem: Option<&[u8]>,
    ) -> Result<String, Error> {
        discovery::discover_base_url(aster_url, token, timeout, ca_bundle_pem).await
    }

    /// The organization of this client's credential (the token's `o` claim).
    pub fn org_id(&self) -> &OrgId {
        &self.inner.org_id
    }

    /// The credential this client authenticates as.
    pub fn credential_id(&self) -> &CredentialId {
        &self.inner.credential_id
    }

    /// The base URL requests go to.
    pub fn base_url(&self) -> &str {
        self.inner.connection.base.as_str()
    }

    /// `GET /security/rest/v1/currentUser`: who this credential acts as. Also the cheapest
    /// authenticated no-op, to prove a token works.
    pub async fn current_user(&self) -> Result<Principal, Error> {
        let path = [SECURITY_V1[0], SECURITY_V1[1], SECURITY_V1[2], "currentUser"];
        let request = self.get(Operation::CurrentUser, &path, None);
        let principal: PrincipalJson = self.inner.connection.send_json(&request).await?;
        Ok(principal.into())
    }

    /// The credentials owned by this credential's user.
    pub async fn list_own_credentials(&self) -> Result<Vec<Credential>, Error> {
        let org = self.inner.org_id.as_str();
        let path = org_path(org, CREDENTIALS);
        let request = self.get(Operation::ListCredentials, &path, None);
        self.list(&request).await
    }

    /// All credentials of the organization, or those owned by `user` (org admins only).
    pub async fn list_org_credentials(&self, user: Option<&UserId>) -> Result<Vec<Credential>, Error> {
        let org = self.inner.org_id.as_str();
        let path = org_path(org, CREDENTIALS_FOR_ORG);
        let query = user.map(|u| ("userId", u.as_str()));
        let request = self.get(Operation::ListOrgCredentials, &path, query);
        self.list(&request).await
    }

    /// Creates a credential for the caller (`for_user = None`) or for another user / service
    /// account. Never retried once the request may have reached Control Hub.
    pub async fn create_credential(
        &self,
        label: &str,
        for_user: Option<&UserId>,
        active: bool,
    ) -> Result<IssuedCredential, Error> {
        let org = self.inner.org_id.as_str();
        let path = org_path(org, CREDENTIALS);
        let body = CredentialRequest::create(label, for_user, active);
        self.issue(Operation::CreateCredential, &path, &body).await
    }

    /// Renames a credential; its ID and token stay.
    pub async fn rename_credential(&self, id: &CredentialId, label: &str) -> Result<Credential, Error> {
        self.update(Operation::RenameCredential, id, &CredentialRequest::rename(label))
            .await
    }

    /// Activates or deactivates a credential, resending its `label` as the SDK does.
    pub async fn set_credential_active(
        &self,
        id: &CredentialId,
        label: &str,
        active: bool,
    ) -> Result<Credential, Error> {
        self.update(
            Operation::SetCredentialActive,
            id,
            &CredentialRequest::set_active(label, active),
        )
        .await
    }

    /// Issues a new token for the same credential ID (the old token stops working). Never retried
    /// once the request may have reached Control Hub.
    pub async fn regenerate_credential(
        &self,
        id: &CredentialId,
        label: &str,
    ) -> Result<IssuedCredential, Error> {
        let org = self.inner.org_id.as_str();
        let path = credential_path(org, id);
        self.issue(
            Operation::RegenerateCredential,
            &path,
            &CredentialRequest::regenerate(label),
        )
        .await
    }

    /// Deletes a credential. `Err(NotFound)` when it does not exist (callers deleting treat that as done).
    pub async fn delete_credential(&self, id: &CredentialId) -> Result<(), Error> {
        let org = self.inner.org_id.as_str();
        let path = credential_path(org, id);
        let request = ApiRequest {
            operation: Operation::DeleteCredential,
            method: Method::DELETE,
            path: &path,
            query: None,
            body: None,
        };
        self.inner.connection.send(&request).await.map(drop)
    }

    fn get<'a>(
        &self,
        operation: Operation,
        path: &'a [&'a str],
        query: Option<(&'static str, &'a str)>,
    ) -> ApiRequest<'a> {
        ApiRequest {
            operation,
            method: Method::GET,
            path,
            query,
            body: None,
        }
    }

    async fn list(&self, request: &ApiRequest<'_>) -> Result<Vec<Credential>, Error> {
        let items: Vec<ApiCredentialJson> = self.inner.connection.send_json(request).await?;
        Ok(items.into_iter().map(Credential::from).collect())
    }

    async fn update(
        &self,
        operation: Operation,
        id: &CredentialId,
        body: &CredentialRequest<'_>,
    ) -> Result<Credential, Error> {
        let org = self.inner.org_id.as_str();
        let path = credential_path(org, id);
        let request = ApiRequest {
            operation,
            method: Method::POST,
            path: &path,
            query: None,
            body: Some(encode(operation, body)?),
        };
        let json: ApiCredentialJson = self.inner.connection.send_json(&request).await?;
        Ok(json.into())
    }

    async fn issue(
        &self,
        operation: Operation,
        path: &[&str],
        body: &CredentialRequest<'_>,
    ) -> Result<IssuedCredential, Error> {
        let request = ApiRequest {
            operation,
            method: Method::POST,
            path,
            query: None,
            body: Some(encode(operation, body)?),
        };
        let json: ApiCredentialJson = self.inner.connection.send_json(&request).await?;
        IssuedCredential::from_json(json).ok_or_else(|| Error::Decode {
            operation,
            detail: "the response carries no authToken".into(),
        })
    }
}

/// The semaphore behind `max_concurrent_requests` (`None` for 0: no cap).
fn in_flight_cap(max_concurrent_requests: u32) -> Option<Arc<Semaphore>> {
    let permits = usize::try_from(max_concurrent_requests).unwrap_or(Semaphore::MAX_PERMITS);
    (permits > 0).then(|| Arc::new(Semaphore::new(permits.min(Semaphore::MAX_PERMITS))))
}

/// Reads the org from the token, checks the token belongs to `credential_id`, builds the headers.
fn identity(
    credential_id: &CredentialId,
    token: &AuthToken,
) -> Result<(OrgId, reqwest::header::HeaderMap), ConfigError> {
    let claims = token.claims()?;
    if let Some(jti) = &claims.credential_id
        && jti != credential_id
    {
        return Err(ConfigError::TokenCredentialMismatch {
            token_credential: jti.to_string(),
            configured: credential_id.to_string(),
        });
    }
    let headers = credential_headers(credential_id, token)?;
    Ok((claims.org_id, headers))
}

/// `security/rest/v1/organization/{org}/{collection}`.
fn org_path<'a>(org: &'a str, collection: &'a str) -> [&'a str; 6] {
    [
        SECURITY_V1[0],
        SECURITY_V1[1],
        SECURITY_V1[2],
        "organization",
        org,
        collection,
    ]
}

/// `security/rest/v1/organization/{org}/api-user-credentials/{id}`.
fn credential_path<'a>(org: &'a str, id: &'a CredentialId) -> [&'a str; 7] {
    [
        SECURITY_V1[0],
        SECURITY_V1[1],
        SECURITY_V1[2],
        "organization",
        org,
        CREDENTIALS,
        id.as_str(),
    ]
}
