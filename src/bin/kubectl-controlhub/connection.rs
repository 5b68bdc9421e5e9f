//! A Control Hub client acting as a connection's identity, built the way the operator builds it
//! but from the caller's Kubernetes access: the connection object and its credentials Secret are
//! read with the caller's kubeconfig, so a caller who may not read that Secret is refused with a
//! message saying so. The token goes from the Secret into the client and nowhere else.

use std::time::Duration;

use controlhub_operator::api::{
    ClusterControlHubConnection, ConnectionSettings, ControlHubConnection, CredentialsSecretRef,
};
use controlhub_operator::controlhub::{AuthToken, ClientConfig, ControlHubClient, CredentialId};
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;

use crate::cluster::Cluster;
use crate::error::{CliError, kube_error};

/// A connection, resolved to a client.
pub struct Connected {
    /// `ControlHubConnection ns/name` or `ClusterControlHubConnection name`.
    pub display: String,
    pub client: ControlHubClient,
}

/// Reads connection `name` (namespaced when `namespace` is given, else the cluster kind), its
/// Secret, and builds a client as its identity.
pub async fn connect(cluster: &Cluster, name: &str, namespace: Option<&str>) -> Result<Connected, CliError> {
    let (display, settings, secret_namespace, secret_ref) = match namespace {
        Some(ns) => {
            let display = format!("ControlHubConnection {ns}/{name}");
            let api: Api<ControlHubConnection> = Api::namespaced(cluster.client.clone(), ns);
            let object = api.get(name).await.map_err(kube_error(
                &format!("read {display}"),
                &display,
                "ask for get on controlhubconnections.controlhub.dev in that namespace",
            ))?;
            let spec = object.spec;
            (
                display,
                spec.settings,
                ns.to_string(),
                spec.credentials_secret_ref,
            )
        }
        None => {
            let display = format!("ClusterControlHubConnection {name}");
            let api: Api<ClusterControlHubConnection> = Api::all(cluster.client.clone());
            let object = api.get(name).await.map_err(kube_error(
                &format!("read {display}"),
                &format!("{display} (for a namespaced ControlHubConnection pass --namespace)"),
                "ask for get on clustercontrolhubconnections.controlhub.dev",
            ))?;
            let r = object.spec.credentials_secret_ref;
            (display, object.spec.settings, r.namespace, r.secret)
        }
    };
    let (id, token) = read_credentials(cluster, &display, &secret_namespace, &secret_ref).await?;
    let client = build_client(&display, &settings, id, token).await?;
    Ok(Connected { display, client })
}

/// The credential ID and token from the connection's Secret, read as the caller.
async fn read_credentials(
    cluster: &Cluster,
    display: &str,
    namespace: &str,
    secret_ref: &CredentialsSecretRef,
) -> Result<(CredentialId, AuthToken), CliError> {
    let name = &secret_ref.name;
    let what = format!("Secret {namespace}/{name}");
    let api: Api<Secret> = Api::namespaced(cluster.client.clone(), namespace);
    let secret = api.get(name).await.map_err(kube_error(
        &format!("read {what}, the credentials of {display}"),
        &format!("{what} (the credentials of {display})"),
        &format!(
            "inventory calls Control Hub as that connection's identity, so it needs get on that Secret \
             (check with: kubectl auth can-i get secret/{name} -n {namespace}); ask an administrator, or run it as someone who may read it"
        ),
    ))?;
    let data = secret.data.unwrap_or_default();
    let value = |key: &str| -> Result<String, CliError> {
        let bytes = data
            .get(key)
            .ok_or_else(|| CliError::Invalid(format!("{what} has no key {key:?} ({display} names it)")))?;
        String::from_utf8(bytes.0.clone())
            .map_err(|_| CliError::Invalid(format!("{what}: key {key:?} is not UTF-8")))
    };
    let id = CredentialId::new(value(&secret_ref.credential_id_key)?.trim());
    let token = AuthToken::new(value(&secret_ref.auth_token_key)?);
    Ok((id, token))
}

/// A client for the connection's settings (URL or discovery, CA bundle, rate limit).
async fn build_client(
    display: &str,
    settings: &ConnectionSettings,
    id: CredentialId,
    token: AuthToken,
) -> Result<ControlHubClient, CliError> {
    let ca = settings.ca_bundle.as_ref().map(|pem| pem.as_bytes().to_vec());
    let base_url = match (&settings.url, &settings.aster_url) {
        (Some(url), _) => url.clone(),
        (None, Some(aster)) => {
            ControlHubClient::discover_base_url(aster, &token, Duration::from_secs(10), ca.as_deref())
                .await
                .map_err(|source| CliError::ControlHub {
                    action: format!("discover the Control Hub URL of {display} from {aster}"),
                    source,
                })?
        }
        (None, None) => {
            return Err(CliError::Invalid(format!(
                "{display} sets neither url nor asterUrl"
            )));
        }
    };
    let rate = settings.rate_limit();
    let mut config = ClientConfig::new(base_url, id, token);
    config.requests_per_second = rate.requests_per_second;
    config.burst = rate.burst;
    config.ca_bundle_pem = ca;
    config.user_agent = format!("kubectl-controlhub/{}", env!("CARGO_PKG_VERSION"));
    ControlHubClient::new(config).map_err(|source| CliError::ControlHub {
        action: format!("use the credentials of {display}"),
        source,
    })
}
