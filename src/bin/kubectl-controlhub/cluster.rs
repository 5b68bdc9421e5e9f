//! The caller's Kubernetes client: their kubeconfig (`KUBECONFIG` or `~/.kube/config`, in-cluster
//! as a last resort), optionally another `--context`, and the namespace their context defaults to.
//!
//! Never the operator's identity: every read and write the plugin makes is the caller's, under
//! the caller's RBAC.

use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::error::CliError;

/// A client for the caller, and the namespace their context selects (or `default`).
pub struct Cluster {
    pub client: kube::Client,
    pub default_namespace: String,
}

impl Cluster {
    /// Loads the caller's kubeconfig; `context` overrides its current context.
    pub async fn connect(context: Option<&str>) -> Result<Cluster, CliError> {
        let config = match context {
            None => kube::Config::infer()
                .await
                .map_err(|e| CliError::Kubeconfig(e.to_string()))?,
            Some(context) => {
                let kubeconfig = Kubeconfig::read().map_err(|e| CliError::Kubeconfig(e.to_string()))?;
                let options = KubeConfigOptions {
                    context: Some(context.to_string()),
                    ..KubeConfigOptions::default()
                };
                kube::Config::from_custom_kubeconfig(kubeconfig, &options)
                    .await
                    .map_err(|e| CliError::Kubeconfig(format!("context {context:?}: {e}")))?
            }
        };
        let default_namespace = config.default_namespace.clone();
        let client = kube::Client::try_from(config).map_err(|e| CliError::Kubeconfig(e.to_string()))?;
        Ok(Cluster {
            client,
            default_namespace,
        })
    }

    /// `namespace`, or the context's default.
    pub fn namespace(&self, namespace: Option<&str>) -> String {
        namespace.map_or_else(|| self.default_namespace.clone(), str::to_string)
    }
}
