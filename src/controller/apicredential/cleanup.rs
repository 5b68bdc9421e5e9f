//! Deletion of an ApiCredential (finalizer `controlhub.dev/credential`): `deletionPolicy` is
//! applied in Control Hub (Delete, Deactivate or Retain), leftovers of interrupted steps and a
//! credential still in its grace period are deleted, and the finalizer is released.
//!
//! A credential already gone counts as done. Nothing about the spec can block deletion: only
//! the connection matters, and a connection that is gone for good (its object or Secret deleted,
//! or its credentials refused for 10 minutes) releases the object with a Warning Event naming the
//! credential left in Control Hub (blocking a namespace's deletion forever would be worse). Under
//! Delete the Secret goes with the object through its owner reference; under Retain and
//! Deactivate it is released first, so the token outlives the object.
//!
//! Only IDs this object recorded, or that carry its exact marker, are ever deleted: the Secret's
//! content is a tenant's to edit and is never taken on its word (see `plan`'s module docs).

use std::sync::Arc;

use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;

use super::decide as plan;
use super::secret;
use crate::api::{ApiCredential, DeletionPolicy, Reason};
use crate::controlhub::{self, CredentialId, UserId};
use crate::controller::connections::{ConnectionProblem, Connections};
use crate::controller::context::Context;
use crate::controller::error::{Error, Result};
use crate::controller::failpoint::pause_point;
use crate::controller::owners::Change;

/// How long a deleted ApiCredential waits for a connection whose credentials Control Hub refuses
/// (a token being swapped) before its credential is given up as unreachable.
const AUTH_FAILURE_PATIENCE: chrono::Duration = chrono::Duration::minutes(10);

/// How long a deleted ApiCredential of a namespaced connection waits for cleanup to succeed
/// before it is released anyway: such a connection points wherever its tenant chose, and a server
/// that fails every list or delete must not hold the namespace's deletion forever.
const NAMESPACED_CLEANUP_PATIENCE: chrono::Duration = chrono::Duration::minutes(10);
/// How long cleanup waits for a credential the Secret holds (created just before a crash, not yet
/// recorded) to show in Control Hub's lists, which may lag behind writes.
const LIST_LAG_PATIENCE: chrono::Duration = chrono::Duration::minutes(2);

pub async fn cleanup(obj: Arc<ApiCredential>, ctx: &Context) -> Result<Action> {
    match cleanup_once(&obj, ctx).await {
        Err(e) if namespaced(&obj) && deleting_for(&obj) > NAMESPACED_CLEANUP_PATIENCE => {
            let left = obj
                .status
                .as_ref()
                .and_then(|s| s.credential_id.clone())
                .unwrap_or_else(|| "none recorded".into());
            ctx.publish(
                &obj,
                EventType::Warning,
                "CleanupSkipped",
                format!(
                    "cleanup failed for {} minutes ({e}); the credential ({left}) may be left in Control Hub: delete it there by hand",
                    NAMESPACED_CLEANUP_PATIENCE.num_minutes()
                ),
            )
            .await;
            ctx.metrics
                .forget_credential(&obj.namespace().unwrap_or_default(), &obj.name_any());
            ctx.forget(&obj.uid().unwrap_or_default());
            Ok(Action::await_change())
        }
        other => other,
    }
}

fn namespaced(obj: &ApiCredential) -> bool {
    obj.connection_ref().kind == crate::api::ConnectionKind::ControlHubConnection
}

/// How long ago the object was deleted.
fn deleting_for(obj: &ApiCredential) -> chrono::Duration {
    obj.metadata
        .deletion_timestamp
        .as_ref()
        .map(|t| chrono::Duration::seconds(chrono::Utc::now().timestamp() - t.0.as_second()))
        .unwrap_or_default()
}

async fn cleanup_once(obj: &Arc<ApiCredential>, ctx: &Context) -> Result<Action> {
    let obj = obj.clone();
    let uid = obj.uid().ok_or(Error::MissingField("metadata.uid"))?;
    let namespace = obj.namespace().unwrap_or_default();
    let status = obj.status.clone().unwrap_or_default();
    let recorded = status.credential_id.clone().map(CredentialId::new);

    let key = Connections::key_for(&obj.connection_ref(), &namespace);
    let connection = match ctx.connections.resolve_for_cleanup(&key).await {
        Ok(c) => c,
        Err(problem) if problem.permanent || gave_up_on_authentication(&obj, &problem) => {
            let left = recorded
                .map(|c| c.to_string())
                .unwrap_or_else(|| "none recorded".into());
            ctx.publish(
                &obj,
                EventType::Warning,
                "CleanupSkipped",
                format!(
                    "{}; the credential ({left}) was left in Control Hub: delete it there by hand",
                    problem.message
                ),
            )
            .await;
            ctx.metrics.forget_credential(&namespace, &obj.name_any());
            ctx.forget(&uid);
            return Ok(Action::await_change());
        }
        Err(problem) => {
            return Err(Error::ConnectionUnavailable(problem.message));
        }
    };
    // The owner recorded when the credential was made wins over what the spec or the connection
    // say now.
    let owner = status
        .user_id
        .clone()
        .or_else(|| obj.spec.user_id.clone())
        .map(UserId::new)
        .unwrap_or_else(|| connection.principal.user_id.clone());
    // Deletion is final: decide on a fresh list, not on the shared cache.
    ctx.owners.invalidate(&connection.key, &owner).await;
    let credentials = ctx.owners.list(&connection, &owner).await?;
    let marked = |id: &CredentialId| {
        credentials
            .iter()
            .any(|c| &c.id == id && plan::carries_marker(&c.label, &uid))
    };

    // The credential this object owns: the recorded one, or the one in the Secret when it still
    // carries this object's pending label (a crash between the Secret write and the status
    // write). Any other ID in the Secret is someone's claim and is never acted on.
    let secrets: Api<Secret> = Api::namespaced(ctx.kube.clone(), &namespace);
    let secret_obj = secrets
        .get_opt(obj.secret_name())
        .await
        .map_err(Error::read(format!("Secret {}", obj.secret_name())))?
        .filter(|s| secret::is_owned_by(s, &uid));
    let in_secret = secret_obj
        .as_ref()
        .and_then(|s| secret::read(s, &obj.keys().into()).map(|c| c.id));
    if let Some(id) = &in_secret
        && Some(id) != recorded.as_ref()
        && !credentials.iter().any(|c| &c.id == id)
        && deleting_for(&obj) < LIST_LAG_PATIENCE
    {
        // Perhaps created just before a crash and not listed yet: look again shortly rather than
        // leave it behind (it is acted on only once a list shows it carries our marker).
        ctx.owners.invalidate(&connection.key, &owner).await;
        return Err(Error::ConnectionUnavailable(format!(
            "waiting for Control Hub's list to show credential {id} before cleaning up"
        )));
    }
    let stored = in_secret.filter(|id| marked(id));
    let current = stored.clone().or_else(|| recorded.clone());

    // Leftovers carrying this object's marker, a replaced credential in its grace period, and a
    // recorded credential the Secret had already moved away from.
    let mut extra: Vec<CredentialId> = credentials
        .iter()
        .filter(|c| plan::carries_marker(&c.label, &uid) && Some(&c.id) != current.as_ref())
        .map(|c| c.id.clone())
        .collect();
    let previous = status.previous_credential_id.clone().map(CredentialId::new);
    let superseded = recorded.filter(|r| stored.is_some() && Some(r) != current.as_ref());
    for id in [previous, superseded].into_iter().flatten() {
        if !extra.contains(&id) {
            extra.push(id);
        }
    }
    for id in &extra {
        pause_point("cleanup:extra").await;
        delete(ctx, &connection, &owner, id).await?;
    }

    let Some(current) = current else {
        ctx.forget(&uid);
        return Ok(Action::await_change());
    };
    // Its label as listed, else as status last saw it (a lagging list must not skip the
    // deactivation).
    let label = credentials
        .iter()
        .find(|c| c.id == current)
        .map(|c| c.label.clone())
        .or_else(|| status.label.clone());
    match obj.spec.deletion_policy {
        DeletionPolicy::Delete => {
            pause_point("cleanup:deleting").await;
            delete(ctx, &connection, &owner, &current).await?;
            ctx.publish(
                &obj,
                EventType::Normal,
                "Deleted",
                format!("deleted credential {current} in Control Hub"),
            )
            .await;
        }
        DeletionPolicy::Deactivate => {
            if let Some(label) = label {
                if !ctx.holds_lease() {
                    return Err(Error::Fenced);
                }
                match connection
                    .client
                    .set_credential_active(&current, &label, false)
                    .await
                {
                    Ok(updated) => {
                        ctx.owners
                            .update(&connection.key, &owner, Change::Updated(updated))
                            .await
                    }
                    Err(controlhub::Error::NotFound { .. }) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            let kept = release_secret(ctx, &obj, &uid, secret_obj.as_ref()).await?;
            ctx.publish(
                &obj,
                EventType::Normal,
                "Deactivated",
                format!("deactivated credential {current} (deletionPolicy Deactivate){kept}"),
            )
            .await;
        }
        DeletionPolicy::Retain => {
            let kept = release_secret(ctx, &obj, &uid, secret_obj.as_ref()).await?;
            ctx.publish(
                &obj,
                EventType::Normal,
                "Retained",
                format!("left credential {current} in Control Hub (deletionPolicy Retain){kept}"),
            )
            .await;
        }
    }
    pause_point("cleanup:deleted").await;
    ctx.metrics.forget_credential(&namespace, &obj.name_any());
    ctx.forget(&uid);
    Ok(Action::await_change())
}

/// A connection whose credentials Control Hub refuses is retried (a token swap passes), but not
/// forever: a namespace must be deletable even when its connection's token is gone for good.
fn gave_up_on_authentication(obj: &ApiCredential, problem: &ConnectionProblem) -> bool {
    problem.reason == Reason::AuthenticationFailed && deleting_for(obj) > AUTH_FAILURE_PATIENCE
}

/// Under Retain and Deactivate the credential lives on, so its Secret must too: the owner
/// reference is removed before the finalizer is, or the garbage collector would delete the only
/// copy of a token Control Hub never shows again. Returns a note for the Event.
async fn release_secret(
    ctx: &Context,
    obj: &ApiCredential,
    uid: &str,
    secret: Option<&Secret>,
) -> Result<String> {
    let Some(secret) = secret else {
        return Ok(String::new());
    };
    let name = secret.name_any();
    let others: Vec<_> = secret
        .metadata
        .owner_references
        .iter()
        .flatten()
        .filter(|r| r.uid != uid)
        .cloned()
        .collect();
    let patch = serde_json::json!({
        "metadata": {
            "ownerReferences": others,
            "resourceVersion": secret.metadata.resource_version,
        }
    });
    let secrets: Api<Secret> = Api::namespaced(ctx.kube.clone(), &obj.namespace().unwrap_or_default());
    secrets
        .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(Error::write(format!("(releasing) Secret {name}")))?;
    Ok(format!(
        "; Secret {name} keeps the token and is no longer deleted with this object"
    ))
}

async fn delete(
    ctx: &Context,
    connection: &crate::controller::connections::Connection,
    owner: &UserId,
    id: &CredentialId,
) -> Result<()> {
    if !ctx.holds_lease() {
        return Err(Error::Fenced);
    }
    match connection.client.delete_credential(id).await {
        Ok(()) | Err(controlhub::Error::NotFound { .. }) => {
            ctx.owners
                .update(&connection.key, owner, Change::Removed(id.clone()))
                .await;
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}
