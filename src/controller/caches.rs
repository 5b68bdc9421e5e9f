//! The watch caches the reconcile reads instead of the API server: both connection kinds, the
//! metadata of connections' credentials Secrets, of the Secrets the operator manages and of
//! Namespaces. Filled by the watches [`super::run`] starts; read by [`super::connections`] and
//! the ApiCredential's gather stage. Talks to nobody itself.
//!
//! **What is kept, and why memory stays bounded.** Only metadata for Secrets and Namespaces —
//! never a Secret's data, so no token sits in a cache — trimmed as it arrives ([`trim_secret`],
//! [`trim_namespace`]): `managedFields` and annotations are dropped (on managed Secrets all but the
//! operator's own `controlhub.dev/` ones, which are bounded by admission). Which Secrets: those
//! labelled `app.kubernetes.io/managed-by=controlhub-operator` and those labelled
//! [`CONNECTION_SECRET_LABEL`] (set by the operator with its in-use finalizer on a connection's
//! Secret). A tenant can add either label to its own Secrets; each then costs about a kilobyte
//! of metadata, bounded by the namespace's Secret quota like any object it may create.
//!
//! **How a cache is trusted.** A cache that is not synced yet, or an object it does not hold, is a
//! miss: the caller reads the API server. An object it holds may be older than a write this
//! process just made (the watch lags): callers that act on their own writes compare versions
//! first (see `gather` and [`super::context::Context::secret_verified`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use futures::FutureExt;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::Resource;
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::{ObjectRef, Store};

use crate::api::{ApiCredential, ClusterControlHubConnection, ControlHubConnection};

/// Label the operator puts (with its in-use finalizer) on a connection's credentials Secret, so
/// that the Secret's metadata is watched.
pub const CONNECTION_SECRET_LABEL: &str = "controlhub.dev/connection-credentials";
/// Prefix of the annotations the operator writes and reads on managed Secrets.
const OWN_ANNOTATION_PREFIX: &str = "controlhub.dev/";
/// kubectl's copy of the last applied object: for a Secret it holds the data, tokens included.
pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// The stores of one run of the controllers.
#[derive(Clone)]
pub struct Stores {
    /// The controller's own ApiCredential store (synced: [`Caches::mark_credentials_synced`]).
    pub credentials: Store<ApiCredential>,
    pub namespaced_connections: Store<ControlHubConnection>,
    pub cluster_connections: Store<ClusterControlHubConnection>,
    /// Metadata of connections' credentials Secrets.
    pub connection_secrets: Store<PartialObjectMeta<Secret>>,
    /// Metadata of the Secrets the operator manages.
    pub managed_secrets: Store<PartialObjectMeta<Secret>>,
    /// Namespace labels.
    pub namespaces: Store<PartialObjectMeta<Namespace>>,
}

/// What a cache says about one object.
pub enum Cached<K> {
    /// No cache, or not synced yet: ask the API server.
    Unavailable,
    /// Synced, and the object is not in it (it may be too new for the cache: ask when it matters).
    Absent,
    Present(Arc<K>),
}

impl<K> Cached<K> {
    /// The cached object, if the cache holds it.
    pub fn present(self) -> Option<Arc<K>> {
        match self {
            Cached::Present(obj) => Some(obj),
            _ => None,
        }
    }
}

/// The caches, installed by each run of the controllers (none in unit tests: every read misses).
#[derive(Default)]
pub struct Caches {
    stores: RwLock<Option<Stores>>,
    /// Set off the ApiCredential watch stream (its store's readiness signal is the controller's).
    credentials_synced: AtomicBool,
}

impl Caches {
    pub fn install(&self, stores: Stores) {
        self.credentials_synced.store(false, Ordering::Release);
        *self.stores.write().unwrap_or_else(|p| p.into_inner()) = Some(stores);
    }

    fn with<T>(&self, read: impl FnOnce(&Stores) -> Cached<T>) -> Cached<T> {
        match self.stores.read().unwrap_or_else(|p| p.into_inner()).as_ref() {
            Some(stores) => read(stores),
            None => Cached::Unavailable,
        }
    }

    pub fn namespaced_connection(&self, namespace: &str, name: &str) -> Cached<ControlHubConnection> {
        self.with(|s| lookup(&s.namespaced_connections, Some(namespace), name))
    }

    pub fn cluster_connection(&self, name: &str) -> Cached<ClusterControlHubConnection> {
        self.with(|s| lookup(&s.cluster_connections, None, name))
    }

    pub fn connection_secret(&self, namespace: &str, name: &str) -> Cached<PartialObjectMeta<Secret>> {
        self.with(|s| lookup(&s.connection_secrets, Some(namespace), name))
    }

    pub fn managed_secret(&self, namespace: &str, name: &str) -> Cached<PartialObjectMeta<Secret>> {
        self.with(|s| lookup(&s.managed_secrets, Some(namespace), name))
    }

    pub fn namespace(&self, name: &str) -> Cached<PartialObjectMeta<Namespace>> {
        self.with(|s| lookup(&s.namespaces, None, name))
    }

    /// Called when the ApiCredential watch delivered its first list.
    pub fn mark_credentials_synced(&self) {
        self.credentials_synced.store(true, Ordering::Release);
    }

    /// The cached ApiCredentials that `keep` selects; `None` before the first list is in.
    pub fn credentials(&self, keep: impl Fn(&ApiCredential) -> bool) -> Option<Vec<Arc<ApiCredential>>> {
        if !self.credentials_synced.load(Ordering::Acquire) {
            return None;
        }
        let stores = self.stores.read().unwrap_or_else(|p| p.into_inner()).clone()?;
        Some(
            stores
                .credentials
                .state()
                .into_iter()
                .filter(|c| keep(c))
                .collect(),
        )
    }
}

impl Caches {
    /// Every Secret some connection names as its credentials Secret, with the connection
    /// (`Kind/namespace/name`) naming it; `None` while either connection cache is not synced.
    fn secret_references(&self) -> Option<Vec<((String, String), String)>> {
        let stores = self.stores.read().unwrap_or_else(|p| p.into_inner()).clone()?;
        if !synced(&stores.namespaced_connections) || !synced(&stores.cluster_connections) {
            return None;
        }
        let namespaced = stores.namespaced_connections.state().into_iter().map(|c| {
            let ns = c.metadata.namespace.clone().unwrap_or_default();
            let by = format!(
                "ControlHubConnection/{ns}/{}",
                c.metadata.name.clone().unwrap_or_default()
            );
            ((ns, c.spec.credentials_secret_ref.name.clone()), by)
        });
        let cluster = stores.cluster_connections.state().into_iter().map(|c| {
            let r = &c.spec.credentials_secret_ref;
            let by = format!(
                "ClusterControlHubConnection//{}",
                c.metadata.name.clone().unwrap_or_default()
            );
            ((r.namespace.clone(), r.secret.name.clone()), by)
        });
        Some(namespaced.chain(cluster).collect())
    }

    /// Whether a connection other than `except` (`Kind/namespace/name`) names Secret
    /// `namespace/name`; `None` when the caches cannot tell.
    pub fn secret_used_by_another(&self, namespace: &str, name: &str, except: &str) -> Option<bool> {
        let refs = self.secret_references()?;
        Some(
            refs.iter()
                .any(|((ns, n), by)| ns == namespace && n == name && by != except),
        )
    }

    /// The labelled connection Secrets no connection names any more (a connection's
    /// `credentialsSecretRef` was changed): their in-use finalizer is to be released. Empty while
    /// the caches cannot tell.
    pub fn unreferenced_connection_secrets(&self) -> Vec<Arc<PartialObjectMeta<Secret>>> {
        let Some(refs) = self.secret_references() else {
            return Vec::new();
        };
        let stores = self.stores.read().unwrap_or_else(|p| p.into_inner()).clone();
        let Some(stores) = stores.filter(|s| synced(&s.connection_secrets)) else {
            return Vec::new();
        };
        stores
            .connection_secrets
            .state()
            .into_iter()
            .filter(|s| {
                let key = (
                    s.metadata.namespace.clone().unwrap_or_default(),
                    s.metadata.name.clone().unwrap_or_default(),
                );
                !refs.iter().any(|(named, _)| *named == key)
            })
            .collect()
    }
}

/// Whether `store` holds its first list. Only for the stores of this module, which nobody awaits:
/// polling a store's readiness signal with a no-op waker replaces the waker of a task waiting on it
/// (it keeps one), so never call this on the controller's own ApiCredential store.
fn synced<K>(store: &Store<K>) -> bool
where
    K: Resource<DynamicType = ()> + Clone + 'static,
{
    matches!(store.wait_until_ready().now_or_never(), Some(Ok(())))
}

fn lookup<K>(store: &Store<K>, namespace: Option<&str>, name: &str) -> Cached<K>
where
    K: Resource<DynamicType = ()> + Clone + 'static,
{
    // Ready once the first list is in; never waits.
    if !synced(store) {
        return Cached::Unavailable;
    }
    let mut key = ObjectRef::<K>::new(name);
    if let Some(ns) = namespace {
        key = key.within(ns);
    }
    match store.get(&key) {
        Some(obj) => Cached::Present(obj),
        None => Cached::Absent,
    }
}

/// Trims a Secret's metadata before it enters a cache: no managed fields, and of the annotations
/// only the operator's own (the last-applied copy of a Secret holds its data).
pub fn trim_secret(obj: &mut PartialObjectMeta<Secret>) {
    obj.metadata.managed_fields = None;
    if let Some(annotations) = obj.metadata.annotations.as_mut() {
        annotations.retain(|k, _| k.starts_with(OWN_ANNOTATION_PREFIX));
    }
}

/// Trims a managed Secret's metadata further than [`trim_secret`]: the reconcile reads only its
/// version, owner references and the operator's annotations from the cache (labels were what the
/// watch selected it by), and at 10,000 ApiCredentials each label map costs ≈ 0.6 KB.
pub fn trim_managed_secret(obj: &mut PartialObjectMeta<Secret>) {
    trim_secret(obj);
    obj.metadata.labels = None;
    obj.metadata.creation_timestamp = None;
}

/// Trims a Namespace before it enters the cache: its labels are all that is read.
pub fn trim_namespace(obj: &mut PartialObjectMeta<Namespace>) {
    obj.metadata.managed_fields = None;
    obj.metadata.annotations = None;
    obj.metadata.finalizers = None;
    obj.metadata.owner_references = None;
}

/// Trims a connection before it enters a cache.
pub fn trim_connection<K: Resource>(obj: &mut K) {
    let meta = obj.meta_mut();
    meta.managed_fields = None;
    if let Some(annotations) = meta.annotations.as_mut() {
        annotations.remove(LAST_APPLIED);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry;

    fn secret_meta(annotations: &[(&str, &str)]) -> PartialObjectMeta<Secret> {
        let mut obj = PartialObjectMeta::<Secret>::default();
        obj.metadata.name = Some("s".into());
        obj.metadata.managed_fields = Some(vec![ManagedFieldsEntry::default()]);
        obj.metadata.annotations = Some(
            annotations
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        obj
    }

    #[test]
    fn a_cached_secret_keeps_only_the_operators_annotations() {
        let mut obj = secret_meta(&[
            (LAST_APPLIED, r#"{"data":{"authToken":"c2VjcmV0"}}"#),
            ("controlhub.dev/credential-id", "id-1"),
            ("example.com/note", "x"),
        ]);
        trim_secret(&mut obj);
        assert_eq!(obj.metadata.managed_fields, None);
        let keys: Vec<_> = obj.metadata.annotations.unwrap().into_keys().collect();
        assert_eq!(keys, ["controlhub.dev/credential-id"]);
    }

    #[test]
    fn a_cached_managed_secret_keeps_what_gather_reads_only() {
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
        let mut obj = secret_meta(&[
            ("controlhub.dev/credential-id", "id-1"),
            ("example.com/note", "x"),
        ]);
        obj.metadata.resource_version = Some("42".into());
        obj.metadata.labels = Some(
            [(
                "app.kubernetes.io/managed-by".to_string(),
                "controlhub-operator".to_string(),
            )]
            .into(),
        );
        obj.metadata.owner_references = Some(vec![OwnerReference {
            uid: "owner".into(),
            controller: Some(true),
            ..OwnerReference::default()
        }]);
        trim_managed_secret(&mut obj);
        assert_eq!(obj.metadata.labels, None);
        assert_eq!(obj.metadata.managed_fields, None);
        assert_eq!(obj.metadata.resource_version.as_deref(), Some("42"));
        assert_eq!(obj.metadata.owner_references.as_ref().map(Vec::len), Some(1));
        let keys: Vec<_> = obj.metadata.annotations.unwrap().into_keys().collect();
        assert_eq!(keys, ["controlhub.dev/credential-id"]);
    }

    #[test]
    fn caches_that_are_not_installed_or_not_synced_miss() {
        let caches = Caches::default();
        assert!(matches!(caches.managed_secret("ns", "s"), Cached::Unavailable));
        let (store, _writer) = kube::runtime::reflector::store::<PartialObjectMeta<Secret>>();
        assert!(
            matches!(lookup(&store, Some("ns"), "s"), Cached::Unavailable),
            "a store before its first list is not trusted for absence"
        );
    }

    #[test]
    fn a_synced_cache_tells_present_from_absent() {
        use kube::runtime::watcher::Event;
        let (store, mut writer) = kube::runtime::reflector::store::<PartialObjectMeta<Secret>>();
        let mut obj = secret_meta(&[]);
        obj.metadata.namespace = Some("ns".into());
        writer.apply_watcher_event(&Event::Init);
        writer.apply_watcher_event(&Event::InitApply(obj));
        writer.apply_watcher_event(&Event::InitDone);
        assert!(matches!(lookup(&store, Some("ns"), "s"), Cached::Present(_)));
        assert!(matches!(lookup(&store, Some("other"), "s"), Cached::Absent));
    }
}
