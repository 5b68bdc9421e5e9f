//! Deletion of an ApiCredential (finalizer `controlhub.dev/credential`): `deletionPolicy` is
//! applied in Control Hub (Delete, Deactivate or Retain), leftovers of interrupted steps and a
//! credential still in its grace period are deleted, and the finalizer is released.
//!
//! A credential already gone counts as done. Nothing about the spec can block deletion: only
//! the connection matters, and a connection that is gone for good releases the object with a
//! Warning Event naming the credential left in Control Hub (blocking a namespace's deletion
//! forever would be worse). The Secret goes with the object through its owner reference.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;

use crate::api::{ApiCredential, DeletionPolicy};
use crate::controlhub::{self, CredentialId, UserId};
use crate::controller::connections::Connections;
use crate::controller::context::Context;
use crate::controller::error::{Error, Result};
use crate::controller::failpoint::pause_point;
use crate::controller::owners::Change;
use crate::controller::{plan, secret};

pub async fn cleanup(obj: Arc<ApiCredential>, ctx: &Context) -> Result<Action> {
    let uid = obj.uid().ok_or(Error::MissingField("metadata.uid"))?;
    let namespace = obj.namespace().unwrap_or_default();
    let status = obj.status.clone().unwrap_or_default();

    // The credential this object owns: the Secret's (written first) or the recorded one.
    let secrets: Api<Secret> = Api::namespaced(ctx.kube.clone(), &namespace);
    let stored = secrets
        .get_opt(obj.secret_name())
        .await?
        .filter(|s| secret::is_owned_by(s, &uid))
        .and_then(|s| secret::read(&s, &obj.keys().into()).map(|c| c.id));
    let current = stored.or_else(|| status.credential_id.clone().map(CredentialId::new));

    let key = Connections::key_for(&obj.connection_ref(), &namespace);
    let connection = match ctx.connections.resolve_for_cleanup(&key).await {
        Ok(c) => c,
        Err(problem) if problem.permanent => {
            let left = current
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
            ctx.forget(&uid);
            return Ok(Action::await_change());
        }
        Err(problem) => {
            return Err(Error::ConnectionUnavailable(problem.message));
        }
    };
    let owner = obj
        .spec
        .user_id
        .clone()
        .map(UserId::new)
        .unwrap_or_else(|| connection.principal.user_id.clone());
    let credentials = ctx.owners.list(&connection, &owner).await?;

    // Leftovers carrying this object's marker, and a replaced credential in its grace period.
    let marker = plan::marker(&uid);
    let mut extra: Vec<CredentialId> = credentials
        .iter()
        .filter(|c| c.label.contains(&marker) && Some(&c.id) != current.as_ref())
        .map(|c| c.id.clone())
        .collect();
    if let Some(previous) = status.previous_credential_id.clone().map(CredentialId::new)
        && !extra.contains(&previous)
    {
        extra.push(previous);
    }
    for id in &extra {
        delete(ctx, &connection, &owner, id).await?;
    }

    let Some(current) = current else {
        ctx.forget(&uid);
        return Ok(Action::await_change());
    };
    let label = credentials
        .iter()
        .find(|c| c.id == current)
        .map(|c| c.label.clone());
    match obj.spec.deletion_policy {
        DeletionPolicy::Delete => {
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
            ctx.publish(
                &obj,
                EventType::Normal,
                "Deactivated",
                format!("deactivated credential {current} (deletionPolicy Deactivate)"),
            )
            .await;
        }
        DeletionPolicy::Retain => {
            ctx.publish(
                &obj,
                EventType::Normal,
                "Retained",
                format!("left credential {current} in Control Hub (deletionPolicy Retain)"),
            )
            .await;
        }
    }
    pause_point("cleanup:deleted").await;
    ctx.metrics.forget_credential(&namespace, &obj.name_any());
    ctx.forget(&uid);
    Ok(Action::await_change())
}

async fn delete(
    ctx: &Context,
    connection: &crate::controller::connections::Connection,
    owner: &UserId,
    id: &CredentialId,
) -> Result<()> {
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
