//! Reconcile of ApiCredential, ControlHubConnection and ClusterControlHubConnection.
