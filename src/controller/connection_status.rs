//! Reconcile of ControlHubConnection and ClusterControlHubConnection: authenticate (`currentUser`)
//! and report Ready, the organization, the principal, whether it is an org admin, and the
//! credential counts per owner the operator last listed. Looked at again every few minutes, and
//! soon when not Ready (a fixed credentials Secret is not a change the operator is told about);
//! each look also forgets the lists (and per-owner series) of owners no ApiCredential uses any more.
//!
//! Also owns the finalizer [`IN_USE_FINALIZER`] on both connection kinds and on their credentials
//! Secrets: a connection (and its Secret) is kept while any ApiCredential references it, so the
//! cleanup of those ApiCredentials can still revoke their credentials in Control Hub when
//! everything goes at once (namespace deletion). When none is left, the Secret's finalizer is
//! released, then the connection's, and the connection's cached client is evicted. The Secret
//! is labelled [`CONNECTION_SECRET_LABEL`] together with the finalizer, so that its metadata is
//! watched (see [`crate::controller::caches`]) and ApiCredentials do not read it on every reconcile.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};
use serde::Serialize;

use crate::api::conditions::merge_conditions;
use crate::api::{
    ApiCredential, ClusterControlHubConnection, ConditionStatus, ConditionType, ConnectionKind,
    ConnectionStatus, ControlHubConnection, DesiredCondition, OwnerCredentialCount, Reason,
};
use crate::controlhub::UserId;
use crate::controller::apicredential::connection_key_of;
use crate::controller::caches::CONNECTION_SECRET_LABEL;
use crate::controller::connections::ConnectionKey;
use crate::controller::context::{Context, FIELD_MANAGER, with_jitter};
use crate::controller::error::{Error, Result};

const RECHECK: Duration = Duration::from_secs(300);
/// How soon a connection that is not Ready is looked at again: its credentials Secret (which the
/// operator does not watch) or Control Hub may be fixed without any change to the connection.
const RECHECK_NOT_READY: Duration = Duration::from_secs(30);

/// Keeps a connection and its credentials Secret while ApiCredentials reference the connection.
pub const IN_USE_FINALIZER: &str = "controlhub.dev/connection-in-use";
/// Field manager of the finalizer patches (distinct from the status writes).
const FINALIZER_MANAGER: &str = "controlhub-operator-connection-in-use";
/// How often a connection being deleted looks again for ApiCredentials still using it.
const IN_USE_RECHECK: Duration = Duration::from_secs(5);

pub async fn reconcile_namespaced(obj: Arc<ControlHubConnection>, ctx: Arc<Context>) -> Result<Action> {
    if !ctx.may_write() {
        // Shutting down or no longer the leader: the next leader looks at it.
        return Ok(Action::await_change());
    }
    let key = ConnectionKey {
        kind: ConnectionKind::ControlHubConnection,
        namespace: obj.namespace(),
        name: obj.name_any(),
    };
    let namespace = obj.namespace().unwrap_or_default();
    let api: Api<ControlHubConnection> = Api::namespaced(ctx.kube.clone(), &namespace);
    let secret = (namespace.as_str(), obj.spec.credentials_secret_ref.name.as_str());
    if let Some(done) = guard(&ctx, &api, &*obj, &key, secret).await? {
        return Ok(done);
    }
    let status = compute(
        &ctx,
        &key,
        obj.status.clone().unwrap_or_default(),
        obj.meta().generation,
    )
    .await;
    let next = next_check(&ctx, &status);
    write(
        &api,
        &obj.name_any(),
        "ControlHubConnection",
        obj.status.as_ref(),
        status,
    )
    .await?;
    Ok(next)
}

pub async fn reconcile_cluster(obj: Arc<ClusterControlHubConnection>, ctx: Arc<Context>) -> Result<Action> {
    if !ctx.may_write() {
        // Shutting down or no longer the leader: the next leader looks at it.
        return Ok(Action::await_change());
    }
    let key = ConnectionKey {
        kind: ConnectionKind::ClusterControlHubConnection,
        namespace: None,
        name: obj.name_any(),
    };
    let api: Api<ClusterControlHubConnection> = Api::all(ctx.kube.clone());
    let r = &obj.spec.credentials_secret_ref;
    let secret = (r.namespace.as_str(), r.secret.name.as_str());
    if let Some(done) = guard(&ctx, &api, &*obj, &key, secret).await? {
        return Ok(done);
    }
    let status = compute(
        &ctx,
        &key,
        obj.status.clone().unwrap_or_default(),
        obj.meta().generation,
    )
    .await;
    let next = next_check(&ctx, &status);
    write(
        &api,
        &obj.name_any(),
        "ClusterControlHubConnection",
        obj.status.as_ref(),
        status,
    )
    .await?;
    Ok(next)
}

/// The in-use finalizer on the connection and its Secret. Returns the action when the connection is
/// being deleted (no status is computed then), `None` to go on with the status.
async fn guard<K>(
    ctx: &Context,
    api: &Api<K>,
    obj: &K,
    key: &ConnectionKey,
    (secret_namespace, secret_name): (&str, &str),
) -> Result<Option<Action>>
where
    K: Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let secrets: Api<Secret> = Api::namespaced(ctx.kube.clone(), secret_namespace);
    // From the cache once labelled (the finalizer patches are fenced on its resourceVersion).
    let secret = match ctx
        .caches
        .connection_secret(secret_namespace, secret_name)
        .present()
    {
        Some(cached) => Some((*cached).clone()),
        None => secrets
            .get_metadata_opt(secret_name)
            .await
            .map_err(Error::read(format!("Secret {secret_namespace}/{secret_name}")))?,
    };
    let deleting = obj.meta().deletion_timestamp.is_some();
    let secret_deleting = secret
        .as_ref()
        .is_some_and(|s| s.metadata.deletion_timestamp.is_some());
    let secret_held = secret.as_ref().is_some_and(|s| has_finalizer(&s.metadata));
    // Listing ApiCredentials is only worth it when something is being deleted.
    let in_use = if deleting || secret_deleting {
        users(ctx, key).await?
    } else {
        0
    };
    if deleting {
        if !has_finalizer(obj.meta()) {
            ctx.connections.evict(key);
            ctx.owners.forget_connection(key);
            return Ok(Some(Action::await_change()));
        }
        if in_use > 0 {
            tracing::debug!(connection = %key, in_use, "connection deleted; kept until its ApiCredentials are cleaned up");
            return Ok(Some(Action::requeue(IN_USE_RECHECK)));
        }
        // A Secret another connection also names keeps its finalizer for that one.
        let shared = ctx
            .caches
            .secret_used_by_another(secret_namespace, secret_name, &reference(key))
            .unwrap_or(false);
        if let Some(s) = &secret
            && secret_held
            && !shared
        {
            set_finalizer(&secrets, &s.metadata, false, Some(CONNECTION_SECRET_LABEL)).await?;
        }
        set_finalizer(api, obj.meta(), false, None).await?;
        ctx.connections.evict(key);
        ctx.owners.forget_connection(key);
        tracing::debug!(connection = %key, "connection no longer used; finalizers released");
        return Ok(Some(Action::await_change()));
    }
    if !has_finalizer(obj.meta()) {
        set_finalizer(api, obj.meta(), true, None).await?;
    }
    match &secret {
        // The Secret alone is being deleted: held while the connection is in use.
        Some(s) if secret_deleting && secret_held && in_use == 0 => {
            set_finalizer(&secrets, &s.metadata, false, Some(CONNECTION_SECRET_LABEL)).await?;
        }
        Some(s) if !secret_deleting && (!secret_held || !has_label(&s.metadata)) => {
            set_finalizer(&secrets, &s.metadata, true, Some(CONNECTION_SECRET_LABEL)).await?;
        }
        _ => {}
    }
    // Best effort: a failure here must not keep the connection's status from being written.
    if let Err(e) = release_unreferenced(ctx).await {
        tracing::warn!(error = %e, "could not release the finalizer of a Secret no connection names");
    }
    Ok(None)
}

/// How a connection is named in [`crate::controller::caches::Caches::secret_used_by_another`].
fn reference(key: &ConnectionKey) -> String {
    format!(
        "{}/{}/{}",
        key.kind.as_str(),
        key.namespace.as_deref().unwrap_or_default(),
        key.name
    )
}

/// Releases the in-use finalizer (and label) of credentials Secrets no connection names any more:
/// left behind when a connection's `credentialsSecretRef` was changed. Candidates come from the
/// caches; since a connection may be too new for them, the connections are listed from the API
/// server before anything is released (only when there is a candidate, which is rare).
async fn release_unreferenced(ctx: &Context) -> Result<()> {
    let candidates: Vec<_> = ctx
        .caches
        .unreferenced_connection_secrets()
        .into_iter()
        .filter(|s| has_finalizer(&s.metadata))
        .collect();
    if candidates.is_empty() {
        return Ok(());
    }
    let namespaced = Api::<ControlHubConnection>::all(ctx.kube.clone())
        .list(&ListParams::default())
        .await
        .map_err(Error::read("ControlHubConnections"))?;
    let cluster = Api::<ClusterControlHubConnection>::all(ctx.kube.clone())
        .list(&ListParams::default())
        .await
        .map_err(Error::read("ClusterControlHubConnections"))?;
    let named: Vec<(String, String)> = namespaced
        .items
        .iter()
        .map(|c| {
            (
                c.namespace().unwrap_or_default(),
                c.spec.credentials_secret_ref.name.clone(),
            )
        })
        .chain(cluster.items.iter().map(|c| {
            let r = &c.spec.credentials_secret_ref;
            (r.namespace.clone(), r.secret.name.clone())
        }))
        .collect();
    for s in candidates {
        let namespace = s.metadata.namespace.clone().unwrap_or_default();
        let name = s.metadata.name.clone().unwrap_or_default();
        if named.contains(&(namespace.clone(), name)) {
            continue;
        }
        let secrets: Api<Secret> = Api::namespaced(ctx.kube.clone(), &namespace);
        tracing::debug!(namespace, name = ?s.metadata.name, "no connection names this Secret any more; releasing its finalizer");
        set_finalizer(&secrets, &s.metadata, false, Some(CONNECTION_SECRET_LABEL)).await?;
    }
    Ok(())
}

fn has_finalizer(meta: &kube::api::ObjectMeta) -> bool {
    meta.finalizers.iter().flatten().any(|f| f == IN_USE_FINALIZER)
}

fn has_label(meta: &kube::api::ObjectMeta) -> bool {
    meta.labels
        .as_ref()
        .is_some_and(|l| l.get(CONNECTION_SECRET_LABEL).map(String::as_str) == Some("true"))
}

/// Adds or removes [`IN_USE_FINALIZER`] (and with it `label`, set to `"true"`), keeping the
/// others; conflicts with a concurrent change (resourceVersion) fail and are retried. An object
/// already gone is fine.
async fn set_finalizer<K>(
    api: &Api<K>,
    meta: &kube::api::ObjectMeta,
    present: bool,
    label: Option<&str>,
) -> Result<()>
where
    K: Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let mut finalizers: Vec<String> = meta
        .finalizers
        .iter()
        .flatten()
        .filter(|f| *f != IN_USE_FINALIZER)
        .cloned()
        .collect();
    if present {
        finalizers.push(IN_USE_FINALIZER.to_string());
    }
    let mut patch = serde_json::json!({
        "metadata": {"finalizers": finalizers, "resourceVersion": meta.resource_version}
    });
    if let Some(label) = label {
        let value = if present {
            serde_json::json!("true")
        } else {
            serde_json::Value::Null
        };
        patch["metadata"]["labels"] = serde_json::json!({ label: value });
    }
    let params = PatchParams {
        field_manager: Some(FINALIZER_MANAGER.into()),
        ..PatchParams::default()
    };
    let name = meta.name.clone().unwrap_or_default();
    match api.patch_metadata(&name, &params, &Patch::Merge(&patch)).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(e) => Err(Error::write(format!("the finalizer of {name}"))(e)),
    }
}

/// How many ApiCredentials reference the connection (those being deleted included: their cleanup
/// needs it). A namespaced connection is referenced from its namespace only.
async fn users(ctx: &Context, key: &ConnectionKey) -> Result<usize> {
    // Only objects the operator has made (or is making) a credential for need the connection for
    // their cleanup: one it refused (a namespace the connection does not allow, an identity it
    // does not share) never holds a connection back.
    Ok(referencing(ctx, key)
        .await?
        .iter()
        .filter(|c| {
            c.status
                .as_ref()
                .is_some_and(|s| s.credential_id.is_some() || s.user_id.is_some())
        })
        .count())
}

/// The owners the connection's ApiCredentials have or will have, from the controller's cache;
/// `None` until that cache has synced. Only for forgetting owners no longer in use, which can wait
/// for the next check: a list of every ApiCredential in its place, taken by every connection
/// check while the operator starts, was the largest transient allocation at start-up (measured
/// with heaptrack: 7.4 MB of 27 MB peak heap at 3,000 objects).
fn owners_in_use(ctx: &Context, key: &ConnectionKey, principal: &UserId) -> Option<HashSet<UserId>> {
    let objects = ctx
        .caches
        .credentials(|c| connection_key_of(c).as_ref() == Some(key))?;
    Some(owners_of(&objects, principal))
}

/// The ApiCredentials that reference the connection, read from the API server.
async fn referencing(ctx: &Context, key: &ConnectionKey) -> Result<Vec<ApiCredential>> {
    let api: Api<ApiCredential> = match (&key.kind, &key.namespace) {
        (ConnectionKind::ControlHubConnection, Some(ns)) => Api::namespaced(ctx.kube.clone(), ns),
        _ => Api::all(ctx.kube.clone()),
    };
    let list = api
        .list(&ListParams::default())
        .await
        .map_err(Error::read("ApiCredentials"))?;
    Ok(list
        .items
        .into_iter()
        .filter(|c| connection_key_of(c).as_ref() == Some(key))
        .collect())
}

/// The owners `objects` have or will have: the recorded owner, else the declared `spec.userId`,
/// else the connection's own user.
fn owners_of(objects: &[Arc<ApiCredential>], principal: &UserId) -> HashSet<UserId> {
    objects
        .iter()
        .map(|c| {
            c.status
                .as_ref()
                .and_then(|s| s.user_id.clone())
                .or_else(|| c.spec.user_id.clone())
                .map_or_else(|| principal.clone(), UserId::new)
        })
        .collect()
}

/// When to look at a connection again: every few minutes when Ready, soon (at most the drift
/// check interval) when not.
fn next_check(ctx: &Context, status: &ConnectionStatus) -> Action {
    let ready = status
        .conditions
        .iter()
        .any(|c| c.type_ == ConditionType::Ready.as_str() && c.status == ConditionStatus::True.as_str());
    let wait = if ready {
        RECHECK
    } else {
        RECHECK_NOT_READY.min(ctx.settings.drift_check_interval)
    };
    Action::requeue(with_jitter(wait))
}

pub fn error_policy<K>(_obj: Arc<K>, error: &Error, _ctx: Arc<Context>) -> Action {
    tracing::warn!(error = %error, "connection status update failed");
    Action::requeue(Duration::from_secs(15))
}

async fn compute(
    ctx: &Context,
    key: &ConnectionKey,
    previous: ConnectionStatus,
    generation: Option<i64>,
) -> ConnectionStatus {
    let started = std::time::Instant::now();
    let mut status = previous.clone();
    status.observed_generation = generation;
    status.last_checked_time = Some(Utc::now());
    let ready = match ctx.connections.check(key).await {
        Ok(connection) => {
            status.organization_id = Some(connection.principal.org_id.to_string());
            status.principal_id = Some(connection.principal.user_id.to_string());
            status.org_admin = Some(connection.principal.is_org_admin());
            // Owners whose last ApiCredential went are forgotten (their lists and series): the
            // counts, and the per-owner gauge the cache keeps, cover the owners in use.
            match owners_in_use(ctx, key, &connection.principal.user_id) {
                Some(owners) => ctx.owners.retain_owners(key, &owners),
                None => {
                    tracing::debug!(connection = %key, "ApiCredential cache not synced; owners kept until the next check")
                }
            }
            status.credentials_per_owner = ctx
                .owners
                .counts(key)
                .into_iter()
                .map(|(owner, count)| OwnerCredentialCount {
                    owner: owner.to_string(),
                    count: count as u32,
                })
                .collect();
            let admin = if connection.principal.is_org_admin() {
                ", an Organization Administrator"
            } else {
                ""
            };
            DesiredCondition::new(
                ConditionType::Ready,
                ConditionStatus::True,
                Reason::Ready,
                format!(
                    "authenticated to Control Hub as {}{admin}",
                    connection.principal.user_id
                ),
            )
        }
        Err(problem) => DesiredCondition::new(
            ConditionType::Ready,
            ConditionStatus::False,
            problem.reason,
            problem.message,
        ),
    };
    status.conditions = merge_conditions(&previous.conditions, &[ready], generation, Utc::now());
    ctx.metrics.reconciled("connection", "ok", started.elapsed());
    status
}

async fn write<K>(
    api: &Api<K>,
    name: &str,
    kind: &'static str,
    old: Option<&ConnectionStatus>,
    status: ConnectionStatus,
) -> Result<()>
where
    K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    // lastCheckedTime alone changing is not worth a write every few minutes for every connection
    // unless something else changed too.
    let mut comparable = status.clone();
    comparable.last_checked_time = old.and_then(|o| o.last_checked_time);
    if old == Some(&comparable) {
        return Ok(());
    }
    #[derive(Serialize, Debug)]
    #[serde(rename_all = "camelCase")]
    struct StatusPatch<'a> {
        api_version: &'static str,
        kind: &'static str,
        status: &'a ConnectionStatus,
    }
    let patch = StatusPatch {
        api_version: "controlhub.dev/v1alpha1",
        kind,
        status: &status,
    };
    api.patch_status(
        name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await
    .map_err(Error::write("the connection's status"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(status_user: Option<&str>, spec_user: Option<&str>) -> ApiCredential {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "controlhub.dev/v1alpha1",
            "kind": "ApiCredential",
            "metadata": {"name": "x", "namespace": "ns"},
            "spec": {"userId": spec_user},
            "status": {"userId": status_user},
        }))
        .expect("a valid ApiCredential")
    }

    #[test]
    fn an_owner_is_in_use_while_an_object_records_declares_or_defaults_to_it() {
        let principal = UserId::new("admin@o");
        let objects = [
            object(Some("recorded@o"), Some("declared-later@o")),
            object(None, Some("declared@o")),
            object(None, None),
        ]
        .map(Arc::new);
        let in_use = owners_of(&objects, &principal);
        let mut names: Vec<&str> = in_use.iter().map(UserId::as_str).collect();
        names.sort();
        assert_eq!(names, ["admin@o", "declared@o", "recorded@o"]);
        assert!(
            owners_of(&[], &principal).is_empty(),
            "no object, no owner in use"
        );
    }
}
