//! Reconcile of ApiCredential, ControlHubConnection and ClusterControlHubConnection.
//!
//! [`apicredential`] is the ApiCredential reconcile, a folder whose files are its stages in order
//! (resolve → gather → decide → act → report). Shared by it and the connection controllers:
//! [`caches`] (the watch caches reconciles read), [`connections`] and [`owners`] (caches of
//! clients and owners' credential lists), [`schedule`]
//! (rotation times), [`context`], [`error`], [`failpoint`] (pause points for crash tests).
//! [`connection_status`] reconciles the connection kinds. [`run`] wires them into kube-runtime
//! controllers.

pub mod apicredential;
pub mod caches;
pub mod connection_status;
pub mod connections;
pub mod context;
pub mod error;
pub mod failpoint;
pub mod owners;
pub mod schedule;

use std::collections::HashMap;
use std::sync::Arc;

use futures::{Stream, StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::Api;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{Config as ControllerConfig, Controller};
use kube::runtime::reflector::store::Writer;
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::{WatchStreamExt, watcher};

use crate::api::{
    ApiCredential, ClusterControlHubConnection, ConditionStatus, ConditionType, ConnectionStatus,
    ControlHubConnection,
};
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

use crate::controller::caches::LAST_APPLIED;

/// Drops what reconcile never reads before an ApiCredential enters the controller's store:
/// `managedFields` and kubectl's last-applied copy (together often as large as spec and status).
fn slim(obj: &mut ApiCredential) {
    obj.metadata.managed_fields = None;
    if let Some(annotations) = obj.metadata.annotations.as_mut() {
        annotations.remove(LAST_APPLIED);
    }
}

/// What an ApiCredential's reconcile depends on besides status: the spec (generation), the
/// rotate annotation, the finalizers and deletion. The operator's own status writes change none of
/// these, so they do not trigger another reconcile of the object just reconciled (every path
/// requeues explicitly when it has more to do).
fn reconcile_inputs(obj: &ApiCredential) -> u64 {
    use std::hash::{Hash, Hasher};
    let meta = &obj.metadata;
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (meta.generation, &meta.annotations, &meta.finalizers).hash(&mut hasher);
    meta.deletion_timestamp.is_some().hash(&mut hasher);
    hasher.finish()
}

fn ready(status: &ConnectionStatus) -> bool {
    status
        .conditions
        .iter()
        .any(|c| c.type_ == ConditionType::Ready.as_str() && c.status == ConditionStatus::True.as_str())
}

/// The objects of a watch whose `inputs` differ from when they were last passed on (and, with
/// `deleted`, deleted ones): re-deliveries that change nothing the receiver reads are dropped.
/// Remembers one small value per object, keyed by UID.
fn changed<K, S>(
    events: impl Stream<Item = watcher::Result<watcher::Event<K>>> + Send + 'static,
    inputs: impl Fn(&K) -> S + Send + 'static,
    deleted: bool,
) -> impl Stream<Item = Result<K, watcher::Error>> + Send + 'static
where
    K: kube::Resource + Send + 'static,
    S: PartialEq + Send + 'static,
{
    let mut seen: HashMap<String, S> = HashMap::new();
    events.filter_map(move |event| {
        let out = match event {
            Ok(watcher::Event::Apply(obj) | watcher::Event::InitApply(obj)) => {
                let uid = obj.meta().uid.clone().unwrap_or_default();
                let now = inputs(&obj);
                if seen.get(&uid) == Some(&now) {
                    None
                } else {
                    seen.insert(uid, now);
                    Some(Ok(obj))
                }
            }
            Ok(watcher::Event::Delete(obj)) => {
                seen.remove(obj.meta().uid.as_deref().unwrap_or_default());
                deleted.then_some(Ok(obj))
            }
            Ok(watcher::Event::Init | watcher::Event::InitDone) => None,
            Err(e) => Some(Err(e)),
        };
        futures::future::ready(out)
    })
}

/// The connection changes ApiCredentials must react to: a new spec (generation), Ready flipping,
/// or deletion. Status-only writes (the per-owner counts change with every credential created)
/// would otherwise re-trigger every ApiCredential of the connection each time.
/// The same watch fills the connection cache (`writer`).
fn connection_changes<K>(
    api: Api<K>,
    writer: Writer<K>,
    is_ready: fn(&K) -> bool,
) -> impl Stream<Item = Result<K, watcher::Error>> + Send + 'static
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let events = watcher(api, watcher::Config::default())
        .modify(caches::trim_connection)
        .reflect(writer);
    changed(events, move |c: &K| (c.meta().generation, is_ready(c)), true)
}

/// A metadata-only watch that only fills a cache (`trim` runs before an object enters it).
fn cache_only<K>(
    api: Api<PartialObjectMeta<K>>,
    config: watcher::Config,
    trim: fn(&mut PartialObjectMeta<K>),
    writer: Writer<PartialObjectMeta<K>>,
) -> impl std::future::Future<Output = ()> + Send + 'static
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    watcher(api, config)
        .default_backoff()
        .modify(trim)
        .reflect(writer)
        .for_each(|event| {
            if let Err(e) = event {
                tracing::debug!(error = %e, "a cache's watch failed; retrying");
            }
            futures::future::ready(())
        })
}

/// Runs the controllers until `shutdown` resolves, then lets the reconciles in flight finish
/// (close the write gate first, so they stop at their next step) and returns.
pub async fn run(
    ctx: Arc<Context>,
    scope: Scope,
    readiness: Arc<Readiness>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    use futures::FutureExt;
    let shutdown = shutdown.boxed().shared();
    let client = ctx.kube.clone();
    let credentials: Api<ApiCredential> = api(&client, &scope);
    // `Api<PartialObjectMeta<_>>` makes metadata-only requests: no Secret's data is transferred.
    let secrets: Api<PartialObjectMeta<Secret>> = match &scope {
        Scope::All => Api::all(client.clone()),
        Scope::Namespace(ns) => Api::namespaced(client.clone(), ns),
    };
    let namespaced_connections: Api<ControlHubConnection> = api(&client, &scope);
    let cluster_connections: Api<ClusterControlHubConnection> = Api::all(client.clone());

    // Only the Secrets the operator manages, and only their metadata: never every Secret's data.
    let managed = watcher::Config::default().labels(&format!(
        "{}={}",
        apicredential::secret::MANAGED_BY_LABEL,
        apicredential::secret::MANAGED_BY_VALUE
    ));
    let (managed_secrets, managed_writer) = reflector::store();
    let secret_changes = watcher(secrets, managed)
        .modify(caches::trim_managed_secret)
        .reflect(managed_writer)
        .touched_objects();
    let (namespaced_store, namespaced_writer) = reflector::store();
    let (cluster_store, cluster_writer) = reflector::store();

    // Connections' credentials Secrets (labelled with the in-use finalizer) and Namespaces (their
    // labels, for allowedNamespaces), in the namespaces the operator watches.
    let (connection_secrets, secrets_writer) = reflector::store();
    let (namespaces, namespaces_writer) = reflector::store();
    let labelled = watcher::Config::default().labels(&format!("{}=true", caches::CONNECTION_SECRET_LABEL));
    let (secrets_api, namespaces_config): (Api<PartialObjectMeta<Secret>>, _) = match &scope {
        Scope::All => (Api::all(client.clone()), watcher::Config::default()),
        Scope::Namespace(ns) => (
            Api::namespaced(client.clone(), ns),
            watcher::Config::default().fields(&format!("metadata.name={ns}")),
        ),
    };
    let cache_watches = futures::future::join(
        cache_only(secrets_api, labelled, caches::trim_secret, secrets_writer),
        cache_only(
            Api::<PartialObjectMeta<Namespace>>::all(client.clone()),
            namespaces_config,
            caches::trim_namespace,
            namespaces_writer,
        ),
    );
    let (store, writer) = reflector::store();
    ctx.caches.install(caches::Stores {
        credentials: store.clone(),
        namespaced_connections: namespaced_store,
        cluster_connections: cluster_store,
        connection_secrets,
        managed_secrets,
        namespaces,
    });

    // The store holds every ApiCredential: slimmed before they enter it (see `slim`).
    // Ready once the first list is in the store. Read off the stream, not by a second
    // `wait_until_ready` on the store: its readiness signal keeps only the last waiter's waker, and
    // the controller waits on it too.
    let synced = readiness.clone();
    let caches_synced = ctx.caches.clone();
    let credential_events = changed(
        watcher(credentials, watcher::Config::default().any_semantic())
            .modify(slim)
            .reflect(writer)
            .inspect_ok(move |event| {
                if matches!(event, watcher::Event::InitDone) && !synced.is_synced() {
                    caches_synced.mark_credentials_synced();
                    synced.mark_synced();
                    tracing::info!("ApiCredential cache synced");
                }
            }),
        reconcile_inputs,
        false,
    );
    let controller = Controller::for_stream(credential_events, store.clone())
        .with_config(ControllerConfig::default().concurrency(ctx.settings.concurrency));
    let by_connection = |store: kube::runtime::reflector::Store<ApiCredential>, key: ConnectionKey| {
        store
            .state()
            .into_iter()
            .filter(|c| apicredential::connection_key_of(c).as_ref() == Some(&key))
            .map(|c| ObjectRef::from_obj(&*c))
            .collect::<Vec<_>>()
    };
    let store_a = store.clone();
    let store_b = store.clone();
    let credential_controller = controller
        .owns_stream(secret_changes)
        .watches_stream(
            connection_changes(
                namespaced_connections.clone(),
                namespaced_writer,
                |c: &ControlHubConnection| c.status.as_ref().is_some_and(ready),
            ),
            move |c: ControlHubConnection| {
                let key = ConnectionKey {
                    kind: crate::api::ConnectionKind::ControlHubConnection,
                    namespace: kube::ResourceExt::namespace(&c),
                    name: kube::ResourceExt::name_any(&c),
                };
                by_connection(store_a.clone(), key)
            },
        )
        .watches_stream(
            connection_changes(
                cluster_connections.clone(),
                cluster_writer,
                |c: &ClusterControlHubConnection| c.status.as_ref().is_some_and(ready),
            ),
            move |c: ClusterControlHubConnection| {
                let key = ConnectionKey {
                    kind: crate::api::ConnectionKind::ClusterControlHubConnection,
                    namespace: None,
                    name: kube::ResourceExt::name_any(&c),
                };
                by_connection(store_b.clone(), key)
            },
        )
        .graceful_shutdown_on(shutdown.clone())
        .run(apicredential::reconcile, apicredential::error_policy, ctx.clone())
        .for_each(|_| futures::future::ready(()));

    let namespaced = Controller::new(namespaced_connections, watcher::Config::default())
        .graceful_shutdown_on(shutdown.clone())
        .run(
            connection_status::reconcile_namespaced,
            connection_status::error_policy,
            ctx.clone(),
        )
        .for_each(|_| futures::future::ready(()));
    let cluster = Controller::new(cluster_connections, watcher::Config::default())
        .graceful_shutdown_on(shutdown.clone())
        .run(
            connection_status::reconcile_cluster,
            connection_status::error_policy,
            ctx.clone(),
        )
        .for_each(|_| futures::future::ready(()));

    // The cache-only watches stop at shutdown; the controllers first let their reconciles in flight
    // finish (those still read the stores, which keep their last state).
    let caches_running = async {
        futures::future::select(Box::pin(cache_watches), shutdown.clone()).await;
    };
    tokio::join!(credential_controller, namespaced, cluster, caches_running);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ApiCredentialSpec;
    use futures::executor::block_on;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry;

    fn credential(uid: &str, generation: i64, status_label: &str) -> ApiCredential {
        let mut obj = ApiCredential::new("ci-bot", ApiCredentialSpec::default());
        obj.metadata.uid = Some(uid.into());
        obj.metadata.generation = Some(generation);
        obj.status = Some(crate::api::ApiCredentialStatus {
            label: Some(status_label.into()),
            ..Default::default()
        });
        obj
    }

    fn passed(events: Vec<watcher::Event<ApiCredential>>, deleted: bool) -> Vec<(i64, String)> {
        let stream = futures::stream::iter(events.into_iter().map(Ok));
        block_on(changed(stream, reconcile_inputs, deleted).collect::<Vec<_>>())
            .into_iter()
            .map(|r| {
                let obj = r.expect("no errors were sent");
                let label = obj.status.and_then(|s| s.label).unwrap_or_default();
                (obj.metadata.generation.unwrap_or_default(), label)
            })
            .collect()
    }

    #[test]
    fn status_only_changes_do_not_trigger_a_reconcile_but_spec_changes_do() {
        use watcher::Event::{Apply, InitApply};
        let out = passed(
            vec![
                InitApply(credential("u1", 1, "a")),
                Apply(credential("u1", 1, "b")),
                Apply(credential("u1", 2, "b")),
                Apply(credential("u1", 2, "c")),
            ],
            false,
        );
        assert_eq!(out, [(1, "a".to_string()), (2, "b".to_string())]);
    }

    #[test]
    fn annotation_and_finalizer_changes_trigger_a_reconcile() {
        let plain = credential("u1", 1, "a");
        let mut annotated = plain.clone();
        annotated.metadata.annotations =
            Some([("controlhub.dev/rotate".to_string(), "1".to_string())].into());
        let mut finalized = annotated.clone();
        finalized.metadata.finalizers = Some(vec!["controlhub.dev/cleanup".into()]);
        let events = vec![
            watcher::Event::Apply(plain),
            watcher::Event::Apply(annotated),
            watcher::Event::Apply(finalized),
        ];
        assert_eq!(passed(events, false).len(), 3);
    }

    #[test]
    fn a_recreated_object_and_deletions_are_passed_on_when_asked() {
        use watcher::Event::{Apply, Delete};
        let events = || {
            vec![
                Apply(credential("u1", 1, "a")),
                Delete(credential("u1", 1, "a")),
                Apply(credential("u2", 1, "a")),
            ]
        };
        assert_eq!(
            passed(events(), false).len(),
            2,
            "deletions are dropped for the main watch"
        );
        assert_eq!(
            passed(events(), true).len(),
            3,
            "deletions are passed on for connections"
        );
        let again = vec![
            Apply(credential("u1", 1, "a")),
            Delete(credential("u1", 1, "a")),
            Apply(credential("u1", 1, "a")),
        ];
        assert_eq!(
            passed(again, false).len(),
            2,
            "a deleted object seen again counts as new"
        );
    }

    #[test]
    fn slimming_drops_managed_fields_and_the_last_applied_copy_only() {
        let mut obj = credential("u1", 1, "a");
        obj.metadata.managed_fields = Some(vec![ManagedFieldsEntry {
            manager: Some("kubectl".into()),
            ..Default::default()
        }]);
        obj.metadata.annotations = Some(
            [
                (LAST_APPLIED.to_string(), "{}".to_string()),
                ("controlhub.dev/rotate".to_string(), "1".to_string()),
            ]
            .into(),
        );
        slim(&mut obj);
        assert_eq!(obj.metadata.managed_fields, None);
        let keys: Vec<_> = obj.metadata.annotations.unwrap().into_keys().collect();
        assert_eq!(keys, ["controlhub.dev/rotate"]);
        assert_eq!(
            obj.status.and_then(|s| s.label).as_deref(),
            Some("a"),
            "status is kept"
        );
    }
}
