//! Resolving an ApiCredential's connection: the referenced ControlHubConnection or
//! ClusterControlHubConnection, whether the credential's namespace may use it, whether its URL
//! passes the operator's policy for namespaced (tenant-written) connections, its credentials
//! Secret, and an authenticated Control Hub client with the identity (principal) behind it.
//!
//! Clients are cached per connection and rebuilt when the connection or its Secret changes, so
//! every ApiCredential of a connection shares one rate limiter and one HTTP pool. A connection
//! Control Hub refuses is cached as failing too, and tried again only after a backoff (30 s doubling
//! to 10 min) or when the connection or its Secret changes: a tenant's broken connection must not
//! cost a `currentUser` call per reconcile of each of its ApiCredentials. Entries of deleted
//! connections are evicted. Problems are returned as [`ConnectionProblem`]s that say what the user
//! should do.
//!
//! Reads come from the watch caches ([`super::caches`]): the connection object, its Secret's
//! resourceVersion (a cached client is reused while it matches, so the Secret's data is read only
//! when it changed) and the namespace's labels. What a cache does not hold is read from the API
//! server: absence is never taken from a cache, which may simply not have caught up.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::api::Api;
use kube::{Resource, ResourceExt};

use crate::api::{
    ClusterControlHubConnection, ConnectionKind, ConnectionRef, ConnectionSettings, ControlHubConnection,
    Reason,
};
use crate::controlhub::{self, AuthToken, ClientConfig, ControlHubClient, CredentialId, Principal};
use crate::controller::caches::{self, Caches};
use crate::metrics::{ClientObserver, ConnectionKindLabel, Metrics};

/// Identifies a connection object.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ConnectionKey {
    pub kind: ConnectionKind,
    /// Set for the namespaced kind.
    pub namespace: Option<String>,
    pub name: String,
}

impl std::fmt::Display for ConnectionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {}/{}", self.kind.as_str(), ns, self.name),
            None => write!(f, "{} {}", self.kind.as_str(), self.name),
        }
    }
}

/// A usable connection.
#[derive(Clone)]
pub struct Connection {
    pub key: ConnectionKey,
    pub client: ControlHubClient,
    pub principal: Principal,
    pub settings: ConnectionSettings,
    pub generation: Option<i64>,
    /// Whether ApiCredentials may obtain credentials of the connection's own identity: always for
    /// a namespaced connection (its namespace holds that identity's token already), only with
    /// `shareConnectionIdentity: true` for a cluster connection.
    pub share_identity: bool,
}

/// The operator's policy for the URLs of namespaced connections: they are written by namespace
/// tenants and would otherwise let any tenant point the operator at any server (internal services
/// included). Cluster connections are the administrator's and are not restricted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UrlPolicy {
    /// Hosts a namespaced connection may name (`*.example.com` allows subdomains); empty: any host.
    pub allowed_hosts: Vec<String>,
    /// Whether `http://` is allowed besides `https://`.
    pub allow_http: bool,
}

impl UrlPolicy {
    /// Checks `url` (from the connection's `field`); the refusal names the host or scheme and the
    /// setting that would allow it. Never quotes the whole URL (it may carry user info).
    pub fn check(&self, key: &ConnectionKey, field: &str, url: &str) -> Result<(), ConnectionProblem> {
        let refuse = |message: String| {
            Err(ConnectionProblem::permanent(
                Reason::ConnectionUrlNotAllowed,
                message,
            ))
        };
        let Ok(parsed) = reqwest::Url::parse(url) else {
            return Err(ConnectionProblem::permanent(
                Reason::InvalidSpec,
                format!("{key}: {field} is not an absolute URL"),
            ));
        };
        let host = parsed
            .host_str()
            .unwrap_or_default()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .trim_end_matches('.')
            .to_ascii_lowercase();
        match parsed.scheme() {
            "https" => {}
            "http" if self.allow_http => {}
            "http" => {
                return refuse(format!(
                    "{key}: {field} uses plain http:// (host {host}), which the operator refuses for ControlHubConnections: use https://, or ask the operator's administrator to allow it with --namespaced-connection-allow-http (chart value namespacedConnections.allowHttp)"
                ));
            }
            other => {
                return refuse(format!(
                    "{key}: {field} uses scheme {other:?}; only https:// is allowed"
                ));
            }
        }
        if self.allowed_hosts.is_empty() || self.allowed_hosts.iter().any(|a| host_matches(a, &host)) {
            return Ok(());
        }
        refuse(format!(
            "{key}: {field} names host {host}, which is not allowed for ControlHubConnections: ask the operator's administrator to add it to --namespaced-connection-allowed-hosts (chart value namespacedConnections.allowedHosts), or use a ClusterControlHubConnection"
        ))
    }
}

/// Whether `host` (lower case) is `allowed` or, for `*.domain`, a subdomain of it.
fn host_matches(allowed: &str, host: &str) -> bool {
    let allowed = allowed
        .trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches('.')
        .to_ascii_lowercase();
    match allowed.strip_prefix("*.") {
        Some(domain) => host
            .strip_suffix(domain)
            .is_some_and(|sub| sub.len() > 1 && sub.ends_with('.')),
        None => allowed == host,
    }
}

/// Why a connection can not be used now.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectionProblem {
    pub reason: Reason,
    pub message: String,
    /// False when the problem may pass without a change (Control Hub unavailable).
    pub permanent: bool,
    pub retry_after: Option<Duration>,
}

impl ConnectionProblem {
    fn permanent(reason: Reason, message: String) -> Self {
        ConnectionProblem {
            reason,
            message,
            permanent: true,
            retry_after: None,
        }
    }

    fn from_controlhub(key: &ConnectionKey, e: &controlhub::Error) -> Self {
        match e {
            controlhub::Error::Unauthorized { .. } => ConnectionProblem::permanent(
                Reason::AuthenticationFailed,
                format!(
                    "Control Hub refused the credentials of {key} (401): check that the credential in its Secret exists, is active and its token is current"
                ),
            ),
            controlhub::Error::Config(c) => ConnectionProblem::permanent(
                if matches!(c, controlhub::ConfigError::CaBundle) {
                    Reason::InvalidCaBundle
                } else {
                    Reason::InvalidSpec
                },
                format!("{key} cannot be used: {c}"),
            ),
            other if other.is_transient() => ConnectionProblem {
                reason: if matches!(other, controlhub::Error::RateLimited { .. }) {
                    Reason::RateLimited
                } else {
                    Reason::ControlHubUnavailable
                },
                message: format!("Control Hub did not answer for {key}: {other}; retrying"),
                permanent: false,
                retry_after: other.retry_after(),
            },
            other => ConnectionProblem::permanent(Reason::Forbidden, format!("{key}: {other}")),
        }
    }
}

/// The versions a cache entry was made from: the connection's generation (its resourceVersion
/// when it has none) and its Secret's resourceVersion.
type Versions = (String, String);

/// First wait before a connection Control Hub refused is tried again; doubled per failure.
const FAILURE_BACKOFF: Duration = Duration::from_secs(30);
/// Longest wait before a refused connection is tried again.
const FAILURE_BACKOFF_MAX: Duration = Duration::from_secs(600);

enum Cached {
    Ready {
        versions: Versions,
        connection: Box<Connection>,
        checked: Instant,
    },
    /// Control Hub refused the connection (or discovery failed) for good at these versions.
    Failed {
        versions: Versions,
        problem: ConnectionProblem,
        /// Failures in a row at these versions.
        failures: u32,
        until: Instant,
    },
}

/// The backoff after the `n`th failure in a row: 30 s, 60 s, … at most 10 min.
fn failure_backoff(n: u32) -> Duration {
    FAILURE_BACKOFF
        .saturating_mul(2u32.saturating_pow(n.saturating_sub(1).min(16)))
        .min(FAILURE_BACKOFF_MAX)
}

/// Builds and caches connections.
pub struct Connections {
    kube: kube::Client,
    metrics: Arc<Metrics>,
    cache: Mutex<HashMap<ConnectionKey, Cached>>,
    /// How long a principal lookup (`currentUser`) is trusted before it is repeated.
    recheck: Duration,
    /// What URLs namespaced connections may name.
    namespaced_urls: UrlPolicy,
    caches: Arc<Caches>,
}

/// What the cache says about a connection at given versions.
enum Lookup {
    Hit(Box<Connection>),
    /// Built from these versions, but its principal lookup is older than the recheck period.
    Stale(Box<Connection>),
    /// Refused, and its backoff has not expired.
    Failing(ConnectionProblem),
    /// Nothing usable; `failures` in a row so far at these versions.
    Miss {
        failures: u32,
    },
}

/// What a connection object looks like to the resolver, for both kinds.
struct ConnectionObject {
    settings: ConnectionSettings,
    secret_namespace: String,
    secret_name: String,
    id_key: String,
    token_key: String,
    allowed_namespaces: Option<LabelSelector>,
    share_identity: bool,
    resource_version: String,
    uid: String,
    generation: Option<i64>,
    /// The connection has a deletionTimestamp (kept by its finalizer for cleanups only).
    deleting: bool,
}

impl Connections {
    pub fn new(
        kube: kube::Client,
        metrics: Arc<Metrics>,
        recheck: Duration,
        namespaced_urls: UrlPolicy,
        caches: Arc<Caches>,
    ) -> Self {
        Connections {
            kube,
            metrics,
            cache: Mutex::new(HashMap::new()),
            recheck,
            namespaced_urls,
            caches,
        }
    }

    /// The key of the connection an ApiCredential in `namespace` refers to.
    pub fn key_for(reference: &ConnectionRef, namespace: &str) -> ConnectionKey {
        ConnectionKey {
            kind: reference.kind,
            namespace: (reference.kind == ConnectionKind::ControlHubConnection)
                .then(|| namespace.to_string()),
            name: reference.name.clone(),
        }
    }

    /// Resolves the connection for an ApiCredential in `namespace`, checking that the namespace may
    /// use it. `force_check` repeats the principal lookup even when cached.
    pub async fn resolve(
        &self,
        key: &ConnectionKey,
        from_namespace: &str,
    ) -> Result<Connection, ConnectionProblem> {
        let object = self.fetch(key).await?;
        if object.deleting {
            return Err(ConnectionProblem::permanent(
                Reason::ConnectionNotFound,
                format!(
                    "{key} is being deleted (it is kept only until the ApiCredentials using it are deleted): set spec.connectionRef to another connection"
                ),
            ));
        }
        if let Some(selector) = &object.allowed_namespaces {
            self.check_namespace_allowed(key, selector, from_namespace)
                .await?;
        }
        self.connect(key, object).await
    }

    /// Resolves the connection for the cleanup of a deleted ApiCredential. Unlike
    /// [`Connections::resolve`] it ignores `allowedNamespaces` (taking a namespace out of it must
    /// never keep its credentials alive) and a deletion in progress, and treats every problem as
    /// transient (retried with backoff: a token swap causes passing 401s) except those that cannot
    /// pass: the connection or its Secret does not exist, or its URL was never allowed.
    pub async fn resolve_for_cleanup(&self, key: &ConnectionKey) -> Result<Connection, ConnectionProblem> {
        let object = self.fetch(key).await?;
        self.connect(key, object).await.map_err(|mut problem| {
            problem.permanent = matches!(
                problem.reason,
                Reason::ConnectionNotFound | Reason::SecretNotFound | Reason::ConnectionUrlNotAllowed
            );
            problem
        })
    }

    /// Resolves a connection for its own status (no namespace check).
    pub async fn check(&self, key: &ConnectionKey) -> Result<Connection, ConnectionProblem> {
        let object = self.fetch(key).await?;
        self.connect(key, object).await
    }

    /// Drops a cached client (after Control Hub refused its credentials, for example).
    pub fn forget(&self, key: &ConnectionKey) {
        self.update_cache(|cache| {
            cache.remove(key);
        });
    }

    /// Drops everything cached for a deleted connection.
    pub fn evict(&self, key: &ConnectionKey) {
        self.update_cache(|cache| {
            if cache.remove(key).is_some() {
                tracing::debug!(connection = %key, "evicted the deleted connection's cached client");
            }
        });
    }

    fn update_cache(&self, change: impl FnOnce(&mut HashMap<ConnectionKey, Cached>)) {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        change(&mut cache);
        for kind in [
            ConnectionKind::ControlHubConnection,
            ConnectionKind::ClusterControlHubConnection,
        ] {
            let count = cache.keys().filter(|k| k.kind == kind).count();
            self.metrics
                .connection_clients
                .get_or_create(&ConnectionKindLabel { kind: kind.as_str() })
                .set(i64::try_from(count).unwrap_or(i64::MAX));
        }
    }

    /// Checks the URLs of a namespaced connection against the policy, before any request.
    fn check_urls(
        &self,
        key: &ConnectionKey,
        settings: &ConnectionSettings,
    ) -> Result<(), ConnectionProblem> {
        if key.kind != ConnectionKind::ControlHubConnection {
            return Ok(());
        }
        if let Some(url) = &settings.url {
            self.namespaced_urls.check(key, "spec.url", url)?;
        }
        if let Some(url) = &settings.aster_url {
            self.namespaced_urls.check(key, "spec.asterUrl", url)?;
        }
        Ok(())
    }

    async fn connect(
        &self,
        key: &ConnectionKey,
        object: ConnectionObject,
    ) -> Result<Connection, ConnectionProblem> {
        self.check_urls(key, &object.settings)?;
        // The client depends on the connection's spec (its generation) and its Secret; status
        // writes change only the resourceVersion and must not rebuild it (nor its in-flight cap).
        // The UID too: a connection deleted and made again under the same name starts afresh.
        let object_version = format!(
            "{}/{}",
            object.uid,
            object
                .generation
                .map_or_else(|| object.resource_version.clone(), |g| g.to_string())
        );
        // While the watched Secret is at the version the client was built from, its data is not read.
        if let Some(rv) = self
            .caches
            .connection_secret(&object.secret_namespace, &object.secret_name)
            .present()
            .and_then(|s| s.metadata.resource_version.clone())
        {
            let versions = (object_version.clone(), rv);
            match self.cached(key, &versions) {
                Lookup::Hit(hit) => return Ok(*hit),
                Lookup::Stale(stale) => return self.recheck_principal(key, versions, *stale).await,
                Lookup::Failing(problem) => return Err(problem),
                Lookup::Miss { .. } => {}
            }
        }
        let secret = self.read_secret(key, &object).await?;
        let versions = (object_version, secret.resource_version().unwrap_or_default());
        let previous_failures = match self.cached(key, &versions) {
            Lookup::Hit(hit) => return Ok(*hit),
            Lookup::Stale(stale) => return self.recheck_principal(key, versions, *stale).await,
            Lookup::Failing(problem) => return Err(problem),
            Lookup::Miss { failures } => failures,
        };
        let (id, token) = secret_credentials(key, &secret, &object)?;
        let result = self.authenticate(key, object, id, token).await;
        let entry = match &result {
            Ok(connection) => Cached::Ready {
                versions,
                connection: Box::new(connection.clone()),
                checked: Instant::now(),
            },
            Err(problem) if problem.permanent => {
                let failures = previous_failures.saturating_add(1);
                let wait = failure_backoff(failures);
                tracing::debug!(connection = %key, failures, wait_s = wait.as_secs(), "Control Hub refused the connection; backing off");
                Cached::Failed {
                    versions,
                    problem: problem.clone(),
                    failures,
                    until: Instant::now() + wait,
                }
            }
            Err(_) => return result,
        };
        self.update_cache(|cache| {
            cache.insert(key.clone(), entry);
        });
        result
    }

    /// Repeats the principal lookup of a client built from the current versions (the Secret is not
    /// read again, the client and its rate limiter are kept). A refusal is cached like a new one.
    async fn recheck_principal(
        &self,
        key: &ConnectionKey,
        versions: Versions,
        mut connection: Connection,
    ) -> Result<Connection, ConnectionProblem> {
        let entry = match connection.client.current_user().await {
            Ok(principal) => {
                connection.principal = principal;
                Cached::Ready {
                    versions,
                    connection: Box::new(connection.clone()),
                    checked: Instant::now(),
                }
            }
            Err(e) => {
                let problem = ConnectionProblem::from_controlhub(key, &e);
                if !problem.permanent {
                    return Err(problem);
                }
                Cached::Failed {
                    versions,
                    problem: problem.clone(),
                    failures: 1,
                    until: Instant::now() + failure_backoff(1),
                }
            }
        };
        let result = match &entry {
            Cached::Ready { .. } => Ok(connection),
            Cached::Failed { problem, .. } => Err(problem.clone()),
        };
        self.update_cache(|cache| {
            cache.insert(key.clone(), entry);
        });
        result
    }

    /// Builds the client (discovering the base URL if needed) and looks up its principal.
    async fn authenticate(
        &self,
        key: &ConnectionKey,
        object: ConnectionObject,
        id: CredentialId,
        token: AuthToken,
    ) -> Result<Connection, ConnectionProblem> {
        let base_url = self.base_url(key, &object.settings, &token).await?;
        if key.kind == ConnectionKind::ControlHubConnection && object.settings.url.is_none() {
            // A tenant's discovery server chooses the base URL: the policy applies to it too.
            self.namespaced_urls
                .check(key, "the URL discovered from spec.asterUrl", &base_url)?;
        }
        let rate = object.settings.rate_limit();
        let mut config = ClientConfig::new(base_url, id, token);
        config.requests_per_second = rate.requests_per_second;
        config.burst = rate.burst;
        config.max_concurrent_requests = object.settings.max_concurrent_requests;
        config.ca_bundle_pem = object
            .settings
            .ca_bundle
            .as_ref()
            .map(|pem| pem.as_bytes().to_vec());
        config.observer = Some(Arc::new(ClientObserver(self.metrics.clone())));
        let client =
            ControlHubClient::new(config).map_err(|e| ConnectionProblem::from_controlhub(key, &e))?;
        let principal = client
            .current_user()
            .await
            .map_err(|e| ConnectionProblem::from_controlhub(key, &e))?;
        Ok(Connection {
            key: key.clone(),
            client,
            principal,
            settings: object.settings,
            generation: object.generation,
            share_identity: object.share_identity,
        })
    }

    fn cached(&self, key: &ConnectionKey, versions: &Versions) -> Lookup {
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        match cache.get(key) {
            Some(Cached::Ready {
                versions: v,
                connection,
                checked,
            }) if v == versions => {
                if checked.elapsed() < self.recheck {
                    Lookup::Hit(connection.clone())
                } else {
                    Lookup::Stale(connection.clone())
                }
            }
            Some(Cached::Failed {
                versions: v,
                problem,
                failures,
                until,
            }) if v == versions => {
                let now = Instant::now();
                if now < *until {
                    let mut problem = problem.clone();
                    problem.retry_after = Some(*until - now);
                    Lookup::Failing(problem)
                } else {
                    Lookup::Miss { failures: *failures }
                }
            }
            _ => Lookup::Miss { failures: 0 },
        }
    }

    async fn base_url(
        &self,
        key: &ConnectionKey,
        settings: &ConnectionSettings,
        token: &AuthToken,
    ) -> Result<String, ConnectionProblem> {
        if let Some(url) = &settings.url {
            return Ok(url.clone());
        }
        let Some(aster) = &settings.aster_url else {
            return Err(ConnectionProblem::permanent(
                Reason::InvalidSpec,
                format!("{key} sets neither url nor asterUrl"),
            ));
        };
        let ca = settings.ca_bundle.as_ref().map(|p| p.as_bytes());
        ControlHubClient::discover_base_url(aster, token, Duration::from_secs(10), ca)
            .await
            .map_err(|e| {
                let mut problem = ConnectionProblem::from_controlhub(key, &e);
                if problem.permanent {
                    problem.reason = Reason::DiscoveryFailed;
                    problem.message =
                        format!("{key}: could not discover the organization's URL from {aster}: {e}");
                }
                problem
            })
    }

    async fn fetch(&self, key: &ConnectionKey) -> Result<ConnectionObject, ConnectionProblem> {
        let not_found = || {
            ConnectionProblem::permanent(
                Reason::ConnectionNotFound,
                format!(
                    "{key} does not exist: create it, or set spec.connectionRef to an existing connection"
                ),
            )
        };
        let gone = || {
            self.evict(key);
            not_found()
        };
        let transient = |e: kube::Error| ConnectionProblem {
            reason: Reason::ConnectionNotReady,
            message: format!("reading {key} failed: {e}"),
            permanent: false,
            retry_after: None,
        };
        match (&key.kind, &key.namespace) {
            (ConnectionKind::ControlHubConnection, Some(ns)) => {
                let conn = match self.caches.namespaced_connection(ns, &key.name) {
                    caches::Cached::Present(conn) => conn,
                    _ => {
                        let api: Api<ControlHubConnection> = Api::namespaced(self.kube.clone(), ns);
                        Arc::new(
                            api.get_opt(&key.name)
                                .await
                                .map_err(transient)?
                                .ok_or_else(gone)?,
                        )
                    }
                };
                let r = &conn.spec.credentials_secret_ref;
                Ok(ConnectionObject {
                    deleting: conn.meta().deletion_timestamp.is_some(),
                    secret_namespace: ns.clone(),
                    secret_name: r.name.clone(),
                    id_key: r.credential_id_key.clone(),
                    token_key: r.auth_token_key.clone(),
                    allowed_namespaces: None,
                    share_identity: true,
                    resource_version: conn.resource_version().unwrap_or_default(),
                    uid: conn.uid().unwrap_or_default(),
                    generation: conn.meta().generation,
                    settings: conn.spec.settings.clone(),
                })
            }
            _ => {
                let conn = match self.caches.cluster_connection(&key.name) {
                    caches::Cached::Present(conn) => conn,
                    _ => {
                        let api: Api<ClusterControlHubConnection> = Api::all(self.kube.clone());
                        Arc::new(
                            api.get_opt(&key.name)
                                .await
                                .map_err(transient)?
                                .ok_or_else(gone)?,
                        )
                    }
                };
                let r = &conn.spec.credentials_secret_ref;
                Ok(ConnectionObject {
                    deleting: conn.meta().deletion_timestamp.is_some(),
                    secret_namespace: r.namespace.clone(),
                    secret_name: r.secret.name.clone(),
                    id_key: r.secret.credential_id_key.clone(),
                    token_key: r.secret.auth_token_key.clone(),
                    allowed_namespaces: conn.spec.allowed_namespaces.clone(),
                    share_identity: conn.spec.share_connection_identity,
                    resource_version: conn.resource_version().unwrap_or_default(),
                    uid: conn.uid().unwrap_or_default(),
                    generation: conn.meta().generation,
                    settings: conn.spec.settings.clone(),
                })
            }
        }
    }

    async fn read_secret(
        &self,
        key: &ConnectionKey,
        object: &ConnectionObject,
    ) -> Result<Secret, ConnectionProblem> {
        let api: Api<Secret> = Api::namespaced(self.kube.clone(), &object.secret_namespace);
        match api.get_opt(&object.secret_name).await {
            Ok(Some(secret)) => Ok(secret),
            Ok(None) => Err(ConnectionProblem::permanent(
                Reason::SecretNotFound,
                format!(
                    "{key}: its credentials Secret {}/{} does not exist",
                    object.secret_namespace, object.secret_name
                ),
            )),
            Err(e) => Err(ConnectionProblem {
                reason: Reason::ConnectionNotReady,
                message: format!("{key}: reading its credentials Secret failed: {e}"),
                permanent: false,
                retry_after: None,
            }),
        }
    }

    async fn check_namespace_allowed(
        &self,
        key: &ConnectionKey,
        selector: &LabelSelector,
        namespace: &str,
    ) -> Result<(), ConnectionProblem> {
        let labels = match self.caches.namespace(namespace) {
            caches::Cached::Present(ns) => ns.labels().clone(),
            _ => {
                let api: Api<Namespace> = Api::all(self.kube.clone());
                let ns = api.get_opt(namespace).await.map_err(|e| ConnectionProblem {
                    reason: Reason::ConnectionNotReady,
                    message: format!("reading namespace {namespace} failed: {e}"),
                    permanent: false,
                    retry_after: None,
                })?;
                ns.map(|n| n.labels().clone()).unwrap_or_default()
            }
        };
        if selector_matches(selector, &labels) {
            Ok(())
        } else {
            Err(ConnectionProblem::permanent(
                Reason::ConnectionNotAllowed,
                format!(
                    "{key} does not allow namespace {namespace} (spec.allowedNamespaces): ask its owner to allow this namespace, or use a ControlHubConnection here"
                ),
            ))
        }
    }
}

fn secret_credentials(
    key: &ConnectionKey,
    secret: &Secret,
    object: &ConnectionObject,
) -> Result<(CredentialId, AuthToken), ConnectionProblem> {
    let read = |k: &str| {
        secret
            .data
            .as_ref()
            .and_then(|d| d.get(k))
            .and_then(|b| String::from_utf8(b.0.clone()).ok())
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                ConnectionProblem::permanent(
                    Reason::SecretKeyMissing,
                    format!(
                        "{key}: Secret {}/{} has no non-empty key {k:?}",
                        object.secret_namespace, object.secret_name
                    ),
                )
            })
    };
    let id = read(&object.id_key)?;
    let token = read(&object.token_key)?;
    Ok((CredentialId::new(id), AuthToken::new(token)))
}

/// Whether `labels` satisfy `selector` (Kubernetes' label selector semantics, by kube's
/// [`kube::core::Selector`]). A selector that does not parse (an unknown operator) matches nothing.
pub fn selector_matches(
    selector: &LabelSelector,
    labels: &std::collections::BTreeMap<String, String>,
) -> bool {
    use kube::core::SelectorExt;
    kube::core::Selector::try_from(selector.clone()).is_ok_and(|s| s.matches(labels))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn labels(pairs: &[(&str, &str)]) -> std::collections::BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn an_empty_selector_allows_every_namespace() {
        assert!(selector_matches(&LabelSelector::default(), &labels(&[])));
    }

    #[test]
    fn match_labels_must_all_match() {
        let s = LabelSelector {
            match_labels: Some(labels(&[("team", "data")])),
            ..Default::default()
        };
        assert!(selector_matches(&s, &labels(&[("team", "data"), ("x", "y")])));
        assert!(!selector_matches(&s, &labels(&[("team", "web")])));
        assert!(!selector_matches(&s, &labels(&[])));
    }

    #[test]
    fn match_expressions_follow_kubernetes_semantics() {
        let req = |op: &str, values: &[&str]| LabelSelector {
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "env".into(),
                operator: op.into(),
                values: Some(values.iter().map(|v| v.to_string()).collect()),
            }]),
            ..Default::default()
        };
        assert!(selector_matches(
            &req("In", &["prod"]),
            &labels(&[("env", "prod")])
        ));
        assert!(!selector_matches(&req("In", &["prod"]), &labels(&[])));
        assert!(selector_matches(&req("NotIn", &["prod"]), &labels(&[])));
        assert!(!selector_matches(
            &req("NotIn", &["prod"]),
            &labels(&[("env", "prod")])
        ));
        assert!(selector_matches(&req("Exists", &[]), &labels(&[("env", "x")])));
        assert!(selector_matches(&req("DoesNotExist", &[]), &labels(&[])));
        assert!(!selector_matches(&req("Bogus", &[]), &labels(&[("env", "x")])));
    }

    fn namespaced_key() -> ConnectionKey {
        ConnectionKey {
            kind: ConnectionKind::ControlHubConnection,
            namespace: Some("team".into()),
            name: "mine".into(),
        }
    }

    #[test]
    fn namespaced_connections_need_https_unless_http_is_allowed() {
        let key = namespaced_key();
        let strict = UrlPolicy::default();
        let refused = strict
            .check(&key, "spec.url", "http://user:secret@10.0.0.1:8080/x")
            .unwrap_err();
        assert_eq!(refused.reason, Reason::ConnectionUrlNotAllowed);
        assert!(refused.permanent);
        assert!(
            refused.message.contains("--namespaced-connection-allow-http"),
            "{}",
            refused.message
        );
        assert!(refused.message.contains("10.0.0.1"), "{}", refused.message);
        assert!(
            !refused.message.contains("secret"),
            "user info is never quoted: {}",
            refused.message
        );
        assert!(strict.check(&key, "spec.url", "https://any.example.com").is_ok());
        assert!(strict.check(&key, "spec.url", "ftp://any.example.com").is_err());
        let http = UrlPolicy {
            allow_http: true,
            ..UrlPolicy::default()
        };
        assert!(http.check(&key, "spec.url", "http://127.0.0.1:1234").is_ok());
    }

    #[test]
    fn allowed_hosts_match_exactly_or_by_wildcard_subdomain() {
        let key = namespaced_key();
        let policy = UrlPolicy {
            allowed_hosts: vec!["na01.hub.streamsets.com".into(), "*.corp.example".into()],
            allow_http: false,
        };
        for ok in [
            "https://na01.hub.streamsets.com",
            "https://NA01.hub.streamsets.com./x",
            "https://sch.corp.example:8443",
            "https://a.b.corp.example",
        ] {
            assert!(policy.check(&key, "spec.url", ok).is_ok(), "{ok}");
        }
        for refused in [
            "https://eu01.hub.streamsets.com",
            "https://corp.example",
            "https://evilcorp.example",
            "https://na01.hub.streamsets.com.evil.io",
            "https://127.0.0.1",
        ] {
            let problem = policy.check(&key, "spec.asterUrl", refused).unwrap_err();
            assert_eq!(problem.reason, Reason::ConnectionUrlNotAllowed, "{refused}");
            assert!(
                problem.message.contains("--namespaced-connection-allowed-hosts"),
                "{}",
                problem.message
            );
        }
    }

    #[test]
    fn a_refused_connection_backs_off_from_30_seconds_to_10_minutes() {
        assert_eq!(failure_backoff(1), Duration::from_secs(30));
        assert_eq!(failure_backoff(2), Duration::from_secs(60));
        assert_eq!(failure_backoff(5), Duration::from_secs(480));
        assert_eq!(failure_backoff(6), Duration::from_secs(600));
        assert_eq!(failure_backoff(100), Duration::from_secs(600));
    }

    #[test]
    fn namespaced_references_resolve_in_the_credentials_namespace_only() {
        let r = ConnectionRef {
            kind: ConnectionKind::ControlHubConnection,
            name: "prod".into(),
        };
        assert_eq!(
            Connections::key_for(&r, "apps").namespace.as_deref(),
            Some("apps")
        );
        let r = ConnectionRef {
            kind: ConnectionKind::ClusterControlHubConnection,
            name: "prod".into(),
        };
        assert_eq!(Connections::key_for(&r, "apps").namespace, None);
    }
}
