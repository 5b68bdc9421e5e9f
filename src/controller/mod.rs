//! Reconcile of ApiCredential, ControlHubConnection and ClusterControlHubConnection.
//!
//! Files, in the order a reconcile uses them: [`credential`] (entry, gather, the step loop),
//! [`plan`] (the pure decision), [`act`] (performing a step), [`report`] (status and Events),
//! [`secret`], [`restart`], [`cleanup`] (finalizer), [`connections`] and [`owners`] (caches),
//! [`schedule`] (rotation times), [`connection_status`], [`failpoint`] (crash-test pause points).
//! [`run`] wires them into kube-runtime controllers.

pub mod act;
pub mod cleanup;
pub mod connection_status;
pub mod connections;
pub mod context;
pub mod credential;
pub mod error;
pub mod failpoint;
pub mod owners;
pub mod plan;
pub mod report;
pub mod restart;
pub mod schedule;
pub mod secret;

use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use kube::runtime::controller::{Config as ControllerConfig, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::core::PartialObjectMeta;
use kube::runtime::{WatchStreamExt, watcher};

use crate::api::{ApiCredential, ClusterControlHubConnection, ControlHubConnection};
use crate::controller::connections::ConnectionKey;
use crate::controller::context::Context;
use crate::health::Readiness;

/// Which namespaces the operator watches.
#[derive(Debug, Clone)]
pub enum Scope {
    All,
    Namespace(String),
}

fn api<K>(client: &kube::Client, scope: &Scope) -> Api<K>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
{
    match scope {
        Scope::All => Api::all(client.clone()),
        Scope::Namespace(ns) => Api::namespaced(client.clone(), ns),
    }
}

/// Runs the controllers until the process is asked to stop.
pub async fn run(ctx: Arc<Context>, scope: Scope, readiness: Arc<Readiness>) {
    let client = ctx.kube.clone();
    let credentials: Api<ApiCredential> = api(&client, &scope);
    let secrets: Api<PartialObjectMeta<Secret>> = match &scope {
        Scope::All => Api::all(client.clone()),
        Scope::Namespace(ns) => Api::namespaced(client.clone(), ns),
    };
    let namespaced_connections: Api<ControlHubConnection> = api(&client, &scope);
    let cluster_connections: Api<ClusterControlHubConnection> = Api::all(client.clone());

    // Only the Secrets the operator manages, and only their metadata: never every Secret's data.
    let managed = watcher::Config::default()
        .labels(&format!("{}={}", secret::MANAGED_BY_LABEL, secret::MANAGED_BY_VALUE));
    let secret_changes = watcher(secrets, managed).touched_objects();

    let controller = Controller::new(credentials, watcher::Config::default().any_semantic())
        .with_config(ControllerConfig::default().concurrency(ctx.settings.concurrency));
    let store = controller.store();
    let by_connection = |store: kube::runtime::reflector::Store<ApiCredential>, key: ConnectionKey| {
        store
            .state()
            .into_iter()
            .filter(|c| credential::connection_key_of(c).as_ref() == Some(&key))
            .map(|c| ObjectRef::from_obj(&*c))
            .collect::<Vec<_>>()
    };
    let store_a = store.clone();
    let store_b = store.clone();
    let credential_controller = controller
        .owns_stream(secret_changes)
        .watches(namespaced_connections.clone(), watcher::Config::default(), move |c: ControlHubConnection| {
            let key = ConnectionKey {
                kind: crate::api::ConnectionKind::ControlHubConnection,
                namespace: kube::ResourceExt::namespace(&c),
                name: kube::ResourceExt::name_any(&c),
            };
            by_connection(store_a.clone(), key)
        })
        .watches(cluster_connections.clone(), watcher::Config::default(), move |c: ClusterControlHubConnection| {
            let key = ConnectionKey {
                kind: crate::api::ConnectionKind::ClusterControlHubConnection,
                namespace: None,
                name: kube::ResourceExt::name_any(&c),
            };
            by_connection(store_b.clone(), key)
        })
        .shutdown_on_signal()
        .run(credential::reconcile, credential::error_policy, ctx.clone())
        .for_each(|_| futures::future::ready(()));

    let namespaced = Controller::new(namespaced_connections, watcher::Config::default())
        .shutdown_on_signal()
        .run(connection_status::reconcile_namespaced, connection_status::error_policy, ctx.clone())
        .for_each(|_| futures::future::ready(()));
    let cluster = Controller::new(cluster_connections, watcher::Config::default())
        .shutdown_on_signal()
        .run(connection_status::reconcile_cluster, connection_status::error_policy, ctx.clone())
        .for_each(|_| futures::future::ready(()));

    let ready_when_synced = async move {
        store.wait_until_ready().await.ok();
        readiness.mark_synced();
        tracing::info!("ApiCredential cache synced");
    };
    tokio::join!(credential_controller, namespaced, cluster, ready_when_synced);
}
