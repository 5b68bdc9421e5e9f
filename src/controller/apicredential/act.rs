//! Stage 4, **act**: performs one decided step against Control Hub and the Secret (the only
//! writes of the pipeline besides status and Events), one function per kind of step, and updates
//! the reconcile's local picture ([`World`]) so the next decision sees the result without
//! listing again.
//!
//! The ordering here is the crash-safety protocol (docs/architecture.md, "Never lose a token"):
//! a freshly issued token is written to the Secret before anything else; a rotation is recorded
//! in status (a [`Checkpoint`]) before the regenerate. Control Hub answers that need the user
//! become outcomes (see [`outcome`]); transient ones are errors, retried with backoff.

use chrono::Utc;
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use kube::runtime::events::EventType;

use super::decide::{self, Blocker, Step};
use super::gather::World;
use super::outcome::{self, Outcome};
use super::resolve::Target;
use super::secret;
use super::secret_io::{self, Existing, WriteError};
use super::{RotationReason, SecretState, Strategy};
use crate::controlhub::{self, AuthToken, Credential, CredentialId, IssuedCredential};
use crate::controller::context::Context;
use crate::controller::error::{Error, Result};
use crate::controller::failpoint::pause_point;
use crate::controller::owners::Change;

/// Makes the reconcile's record durable (the status write) at the points where the crash-safety
/// protocol needs it before the next Control Hub call. Implemented by [`super::report::Report`];
/// declared here so that acting never depends on how reporting is done.
pub trait Checkpoint {
    fn checkpoint(
        &mut self,
        ctx: &Context,
        t: &Target,
        w: &mut World,
    ) -> impl std::future::Future<Output = Result<()>> + Send;
}

/// Performs `step`.
pub async fn perform(
    ctx: &Context,
    t: &Target,
    w: &mut World,
    report: &mut impl Checkpoint,
    step: Step,
) -> Result<Outcome> {
    tracing::debug!(namespace = %t.namespace, name = %t.name, step = ?step_name(&step), "step");
    match step {
        Step::Done { requeue_at } => return Ok(Outcome::Done { requeue_at }),
        Step::Blocked(blocker) => return Ok(outcome::blocked(t, blocker)),
        Step::Create {
            pending_label,
            recreate,
        } => {
            // Missing from one list is not proof of absence (lists may lag, a cache may be old):
            // ask Control Hub about the recorded credential itself before making another.
            if let Some(recorded) = w.record.credential_id.clone().filter(|_| recreate) {
                fence(ctx)?;
                match confirm_exists(ctx, t, w, &recorded).await {
                    Ok(true) => return Ok(Outcome::Continue),
                    Ok(false) => {}
                    Err(e) => return refused(ctx, t, e).await,
                }
            }
            pause_point("create:secret").await;
            if let Some(outcome) = secret_not_ready(ctx, t, w).await? {
                return Ok(outcome);
            }
            let issued = match create(ctx, t, &pending_label).await? {
                Ok(issued) => issued,
                Err(e) => {
                    discard_empty_secret(ctx, t, w).await;
                    return create_refused(ctx, t, w, e, false).await;
                }
            };
            let id = issued.credential.id.clone();
            if let Some(outcome) = take_new(ctx, t, w, &issued, "create").await? {
                return Ok(outcome);
            }
            w.record.credential_id = Some(id.clone());
            // A new credential answers any rotation that was due or under way.
            w.record.last_rotation_request = t.desired.rotate_request.clone();
            w.record.rotation_in_progress = None;
            report.checkpoint(ctx, t, w).await?;
            if recreate {
                w.events.push((
                    EventType::Warning,
                    "Recreated",
                    format!(
                        "the credential was deleted in Control Hub; created {id} and updated Secret {}",
                        t.layout.name
                    ),
                ));
            } else {
                w.events.push((
                    EventType::Normal,
                    "Created",
                    format!("created credential {id} for {}", t.owner),
                ));
            }
        }
        Step::Adopt { id, replacing } => {
            if let Some(outcome) = secret_not_ready(ctx, t, w).await? {
                return Ok(outcome);
            }
            let label = label_of(w, &id);
            fence(ctx)?;
            match t.connection.client.regenerate_credential(&id, &label).await {
                Ok(issued) => {
                    pause_point("adopt:issued").await;
                    let previous = w.record.credential_id.clone();
                    if let Some(outcome) = store_issued(ctx, t, w, &issued, true).await? {
                        return Ok(outcome);
                    }
                    w.record.credential_id = Some(id.clone());
                    // A token issued now answers any rotation due or requested before it.
                    w.record.last_rotation_request = t.desired.rotate_request.clone();
                    w.record.rotation_in_progress = None;
                    if replacing {
                        finish_replace(t, w, previous);
                    }
                    report.checkpoint(ctx, t, w).await?;
                    w.events.push((
                        EventType::Normal,
                        "Recovered",
                        format!("adopted credential {id} left by an interrupted step"),
                    ));
                }
                Err(controlhub::Error::Forbidden { .. }) => {
                    // Control Hub will not regenerate it for us: remove it and start that step over.
                    delete_credential(ctx, t, w, &id).await?;
                }
                Err(controlhub::Error::NotFound { .. }) => {
                    forget(ctx, t, w, &id).await;
                }
                Err(e) => return ambiguous(ctx, t, e).await,
            }
        }
        Step::DeleteOrphan { id } => {
            pause_point("orphan:deleting").await;
            delete_credential(ctx, t, w, &id).await?;
            w.events.push((
                EventType::Normal,
                "OrphanDeleted",
                format!("deleted credential {id} left by an interrupted step"),
            ));
        }
        Step::BeginRotation { strategy, reason } => {
            w.record.rotation_in_progress = Some((strategy, reason));
            report.checkpoint(ctx, t, w).await?;
            pause_point("rotation:recorded").await;
            w.events.push((
                EventType::Normal,
                "Rotating",
                format!("rotating the token ({}, {:?})", strategy_name(strategy), reason),
            ));
        }
        Step::Regenerate { id } => {
            if let Some(outcome) = secret_not_ready(ctx, t, w).await? {
                return Ok(outcome);
            }
            let label = label_of(w, &id);
            // Replace planned, but the plan chose Regenerate: no free slot, and the user opted in.
            let instead_of_replace = matches!(w.record.rotation_in_progress, Some((Strategy::Replace, _)));
            fence(ctx)?;
            match t.connection.client.regenerate_credential(&id, &label).await {
                Ok(issued) => {
                    pause_point("regenerate:issued").await;
                    if let Some(outcome) = store_issued(ctx, t, w, &issued, false).await? {
                        return Ok(outcome);
                    }
                    pause_point("regenerate:stored").await;
                    w.record.rotation_in_progress = None;
                    w.record.last_rotation_request = t.desired.rotate_request.clone();
                    report.checkpoint(ctx, t, w).await?;
                    w.events.push((
                        EventType::Normal,
                        "Rotated",
                        format!("issued a new token for credential {id}"),
                    ));
                    if instead_of_replace {
                        w.events.push((
                            EventType::Warning,
                            "RegeneratedInstead",
                            format!(
                                "{} has no free slot for a replacement (limit {}): regenerated credential {id} in place instead of replacing it, so its old token stopped working at once",
                                t.owner, ctx.settings.quota_limit
                            ),
                        ));
                    }
                }
                Err(controlhub::Error::Forbidden { .. }) if t.desired.for_other_user => {
                    let reason = w
                        .record
                        .rotation_in_progress
                        .map_or(RotationReason::Requested, |(_, r)| r);
                    w.record.rotation_in_progress = Some((Strategy::Replace, reason));
                    report.checkpoint(ctx, t, w).await?;
                    w.events.push((
                        EventType::Warning,
                        "RegenerateRefused",
                        format!(
                            "Control Hub refused to regenerate {}'s credential {id}; replacing it instead",
                            t.owner
                        ),
                    ));
                }
                Err(controlhub::Error::NotFound { .. }) => forget(ctx, t, w, &id).await,
                Err(e) => return ambiguous(ctx, t, e).await,
            }
        }
        Step::CreateReplacement { pending_label } => {
            if let Some(outcome) = secret_not_ready(ctx, t, w).await? {
                return Ok(outcome);
            }
            let issued = match create(ctx, t, &pending_label).await? {
                Ok(issued) => issued,
                Err(e) => return create_refused(ctx, t, w, e, true).await,
            };
            let id = issued.credential.id.clone();
            let previous = w.record.credential_id.clone();
            if let Some(outcome) = take_new(ctx, t, w, &issued, "replace").await? {
                return Ok(outcome);
            }
            w.record.credential_id = Some(id.clone());
            finish_replace(t, w, previous.clone());
            report.checkpoint(ctx, t, w).await?;
            w.events.push((
                EventType::Normal,
                "Replaced",
                format!(
                    "replaced credential {} with {id}; the old one is deleted after the grace period",
                    previous.map(|p| p.to_string()).unwrap_or_default()
                ),
            ));
        }
        Step::Rename { id, label } => {
            let was_pending = decide::carries_marker(&label_of(w, &id), &t.uid);
            if was_pending {
                pause_point("rename:pending").await;
            }
            fence(ctx)?;
            match t.connection.client.rename_credential(&id, &label).await {
                Ok(updated) => {
                    if !was_pending {
                        w.events.push((
                            EventType::Normal,
                            "Renamed",
                            format!("renamed credential {id} to {label:?}"),
                        ));
                    }
                    updated_credential(ctx, t, w, updated).await;
                }
                Err(controlhub::Error::NotFound { .. }) => forget(ctx, t, w, &id).await,
                Err(e @ controlhub::Error::Forbidden { .. }) if t.desired.for_other_user => {
                    // Control Hub may not let an admin rename another user's credential. It works
                    // as it is; its label (perhaps still pending) is put right when allowed.
                    w.rename_refused = Some(format!(
                        "Control Hub refused to rename {}'s credential {id} to {label:?} ({e}); the credential and its token work, and the rename is retried at each drift check",
                        t.owner
                    ));
                }
                Err(e) => return refused(ctx, t, e).await,
            }
        }
        Step::SetActive { id, active } => {
            let label = label_of(w, &id);
            fence(ctx)?;
            match t
                .connection
                .client
                .set_credential_active(&id, &label, active)
                .await
            {
                Ok(updated) => {
                    let verb = if active { "Activated" } else { "Deactivated" };
                    w.events.push((
                        EventType::Normal,
                        verb,
                        format!("{} credential {id}", verb.to_lowercase()),
                    ));
                    updated_credential(ctx, t, w, updated).await;
                }
                Err(controlhub::Error::NotFound { .. }) => forget(ctx, t, w, &id).await,
                Err(e) => return refused(ctx, t, e).await,
            }
        }
        Step::MoveToken => {
            let Some(moved) = w.movable.take() else {
                return Ok(Outcome::Continue);
            };
            // Already in the declared Secret (an output format changed): only its data is redone.
            let in_place = w.secret
                == SecretState::Managed {
                    credential_id: Some(moved.id.clone()),
                };
            if let Some(outcome) = write_token(ctx, t, w, &moved.id, &moved.token, false).await? {
                return Ok(outcome);
            }
            let (reason, message) = if in_place {
                let keys = t.layout.data_keys().join(", ");
                (
                    "SecretUpdated",
                    format!(
                        "rewrote Secret {} with its declared data keys ({keys}); the token of credential {} \
                         was not re-issued",
                        t.layout.name, moved.id
                    ),
                )
            } else {
                (
                    "SecretMoved",
                    format!(
                        "moved the token of credential {} to Secret {} as declared; it was not re-issued",
                        moved.id, t.layout.name
                    ),
                )
            };
            w.events.push((EventType::Normal, reason, message));
        }
        Step::RecordStored { id, previous } => {
            w.record.credential_id = Some(id.clone());
            // Its token was issued just before the interruption: the schedule counts from now.
            w.last_rotation = Some(Utc::now());
            if previous.is_some() {
                finish_replace(t, w, previous);
            } else {
                w.record.last_rotation_request = t.desired.rotate_request.clone();
            }
            report.checkpoint(ctx, t, w).await?;
            w.events.push((
                EventType::Normal,
                "Recovered",
                format!("recorded credential {id}, whose token reached the Secret before an interruption"),
            ));
        }
        Step::RetirePrevious { id } => {
            pause_point("retire:deleting").await;
            delete_credential(ctx, t, w, &id).await?;
            w.record.previous_credential_id = None;
            w.record.retire_at = None;
            w.events.push((
                EventType::Normal,
                "Retired",
                format!("deleted replaced credential {id}"),
            ));
            report.checkpoint(ctx, t, w).await?;
        }
    }
    Ok(Outcome::Continue)
}

/// After a Replace: the old credential is kept for the grace period, the rotation is over.
fn finish_replace(t: &Target, w: &mut World, previous: Option<controlhub::CredentialId>) {
    if let Some(previous) = previous.filter(|p| Some(p) != w.record.credential_id.as_ref()) {
        w.record.previous_credential_id = Some(previous);
        w.record.retire_at = Some(Utc::now() + t.desired.grace);
    }
    w.record.rotation_in_progress = None;
    w.record.last_rotation_request = t.desired.rotate_request.clone();
}

/// A credential just created (`step` is `create` or `replace`): checked to belong to the owner
/// asked for, known to the owner cache and the local picture, then its token stored. Pause
/// points `<step>:issued` and `<step>:stored` bracket the Secret write for crash tests.
async fn take_new(
    ctx: &Context,
    t: &Target,
    w: &mut World,
    issued: &IssuedCredential,
    step: &str,
) -> Result<Option<Outcome>> {
    let made = &issued.credential;
    if made.owner != t.owner {
        // Never hand a token of the wrong user to this namespace: undo the create.
        delete_issued(ctx, t, w, &made.id).await?;
        return Ok(Some(outcome::owner_mismatch(t, made)));
    }
    ctx.owners
        .update(&t.connection.key, &t.owner, Change::Added(made.clone()))
        .await;
    w.credentials.push(made.clone());
    pause_point(&format!("{step}:issued")).await;
    let outcome = store_issued(ctx, t, w, issued, true).await?;
    if outcome.is_none() {
        pause_point(&format!("{step}:stored")).await;
    }
    Ok(outcome)
}

/// Writes a freshly issued credential to the Secret: the first write after the Control Hub call.
/// If the token cannot be stored and the credential is `new`, it is deleted again so that nothing
/// is orphaned (a regenerated one stays recorded as rotating and is regenerated again later).
async fn store_issued(
    ctx: &Context,
    t: &Target,
    w: &mut World,
    issued: &IssuedCredential,
    new: bool,
) -> Result<Option<Outcome>> {
    let id = &issued.credential.id;
    match write_token(ctx, t, w, id, &issued.token, true).await {
        Ok(None) => Ok(None),
        failed => {
            if new {
                delete_issued(ctx, t, w, id).await?;
            }
            failed
        }
    }
}

/// Writes `id` and `token` to the Secret as declared, retrying briefly when the API server fails
/// or the Secret changed under us. `issued_now` when the token was just issued (rotation time).
async fn write_token(
    ctx: &Context,
    t: &Target,
    w: &mut World,
    id: &CredentialId,
    token: &AuthToken,
    issued_now: bool,
) -> Result<Option<Outcome>> {
    const ATTEMPTS: u64 = 3;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let written = match secret_io::ensure_exists(ctx, &t.layout, &w.secret_existing).await {
            Ok(secret_io::Existing::Ours { resource_version }) => {
                secret_io::write(ctx, &t.layout, &resource_version, id, token, false).await
            }
            Ok(secret_io::Existing::None) => Err(WriteError::Conflict),
            Err(e) => Err(e),
        };
        let failure = match written {
            Ok(resource_version) => {
                // What this version holds is known: later passes read it from the cache.
                ctx.secret_verified(&t.uid, resource_version.clone(), secret::layout_digest(&t.layout));
                w.secret = SecretState::Managed {
                    credential_id: Some(id.clone()),
                };
                w.secret_existing = Existing::Ours { resource_version };
                w.token_fingerprint = Some(token.fingerprint());
                if issued_now {
                    w.last_rotation = Some(Utc::now());
                }
                w.token_valid = Some(true);
                ctx.token_fresh(&t.uid);
                return Ok(None);
            }
            Err(WriteError::Kube(kube::Error::Api(status))) if status.code == 409 => {
                // The Secret changed since we saw it: look again before writing.
                match reread_secret(ctx, t).await? {
                    Some(existing) => w.secret_existing = existing,
                    None => return Ok(Some(outcome::secret_refused(t, WriteError::Conflict))),
                }
                kube::Error::Api(status)
            }
            Err(WriteError::Kube(e)) => e,
            Err(WriteError::Rejected(message)) => {
                let message = scrub(message, token);
                return Ok(Some(outcome::secret_refused(t, WriteError::Rejected(message))));
            }
            Err(refusal) => return Ok(Some(outcome::secret_refused(t, refusal))),
        };
        if attempt >= ATTEMPTS {
            return Err(Error::StoreToken {
                secret: t.layout.name.clone(),
                reason: scrub(failure.to_string(), token),
            });
        }
        tokio::time::sleep(std::time::Duration::from_millis(200 * attempt)).await;
    }
}

/// `text` from the API server about a write that carried `token`, with the token cut out: a
/// policy webhook may quote the object it refused, and this text reaches status, Events and logs.
fn scrub(text: String, token: &AuthToken) -> String {
    if token.expose().is_empty() {
        return text;
    }
    text.replace(token.expose(), "[token]")
}

/// The Secret as it is now: `Some(how to write it)` when absent or ours, `None` when it is not ours.
async fn reread_secret(ctx: &Context, t: &Target) -> Result<Option<Existing>> {
    let secrets: Api<Secret> = Api::namespaced(ctx.kube.clone(), &t.namespace);
    Ok(
        match secrets
            .get_opt(&t.layout.name)
            .await
            .map_err(Error::read(format!("Secret {}", t.layout.name)))?
        {
            None => Some(Existing::None),
            Some(s) if secret::is_owned_by(&s, &t.uid) => Some(Existing::Ours {
                resource_version: s.metadata.resource_version.unwrap_or_default(),
            }),
            Some(_) => None,
        },
    )
}

/// Before a Control Hub call that issues a token: can the Secret take it? The Secret is created
/// empty where there is none, and a refusal stops here, before a working token is revoked or a
/// credential is created that could not be stored.
async fn secret_not_ready(ctx: &Context, t: &Target, w: &mut World) -> Result<Option<Outcome>> {
    match secret_io::prepare(ctx, &t.layout, &w.secret_existing).await {
        Ok(now) => {
            if w.secret == SecretState::Missing {
                // Created empty by this step: taken back if no credential comes of it.
                w.secret = SecretState::Managed { credential_id: None };
                w.empty_secret_created = true;
            }
            w.secret_existing = now;
            Ok(None)
        }
        Err(WriteError::Kube(e)) => Err(Error::write(format!("Secret {}", t.layout.name))(e)),
        Err(refusal) => Ok(Some(outcome::secret_refused(t, refusal))),
    }
}

/// The create failed: the empty Secret this step made for it is deleted again (fenced on its
/// resourceVersion, so a Secret changed since is left alone), so that a credential that does not
/// exist has no Secret either. Best effort: an empty Secret left behind is harmless.
async fn discard_empty_secret(ctx: &Context, t: &Target, w: &mut World) {
    let Existing::Ours { resource_version } = &w.secret_existing else {
        return;
    };
    if !w.empty_secret_created {
        return;
    }
    if secret_io::discard(ctx, &t.layout, resource_version).await.is_ok() {
        w.secret = SecretState::Missing;
        w.secret_existing = Existing::None;
        w.empty_secret_created = false;
    }
}

/// Deletes a credential this pass created and could not hand over (its token was not stored).
async fn delete_issued(ctx: &Context, t: &Target, w: &mut World, id: &CredentialId) -> Result<()> {
    fence(ctx)?;
    match t.connection.client.delete_credential(id).await {
        Ok(()) | Err(controlhub::Error::NotFound { .. }) => {
            forget(ctx, t, w, id).await;
            Ok(())
        }
        Err(e) => {
            // It keeps its pending label when it is this owner's, so a later pass deletes it.
            ctx.owners.invalidate(&t.connection.key, &t.owner).await;
            Err(e.into())
        }
    }
}

/// Asks Control Hub whether the recorded credential still exists, by putting back the label and
/// state status last saw on it (a harmless, idempotent write that renames nothing — renaming
/// another user's credential may be refused; there is no get-by-ID). True when it does.
async fn confirm_exists(
    ctx: &Context,
    t: &Target,
    w: &mut World,
    id: &CredentialId,
) -> std::result::Result<bool, controlhub::Error> {
    match t
        .connection
        .client
        .set_credential_active(
            id,
            t.status.label.as_deref().unwrap_or(&t.desired.label),
            t.status.active.unwrap_or(t.desired.active),
        )
        .await
    {
        Ok(found) => {
            ctx.owners
                .update(&t.connection.key, &t.owner, Change::Added(found.clone()))
                .await;
            w.credentials.retain(|c| c.id != found.id);
            w.credentials.push(found);
            Ok(true)
        }
        Err(controlhub::Error::NotFound { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

/// A create failed. A refusal is recognised as the owner's quota from what can be known for
/// sure: a fresh count of the owner's credentials at the limit together with a 4xx answer,
/// whatever issue code Control Hub used (it is not documented). With `replacing`, a full owner
/// goes back to the plan, which says why the Replace waits.
async fn create_refused(
    ctx: &Context,
    t: &Target,
    w: &mut World,
    e: controlhub::Error,
    replacing: bool,
) -> Result<Outcome> {
    ctx.owners.invalidate(&t.connection.key, &t.owner).await;
    let client_error = matches!(
        e,
        controlhub::Error::QuotaExceeded { .. }
            | controlhub::Error::Invalid { .. }
            | controlhub::Error::Forbidden { .. }
    );
    if !client_error {
        return refused(ctx, t, e).await;
    }
    w.credentials = ctx.owners.list(&t.connection, &t.owner).await?;
    let count = w.credentials.len();
    let limit = ctx.settings.quota_limit;
    match (count >= limit, replacing) {
        (true, true) => Ok(Outcome::Continue),
        (true, false) => Ok(outcome::blocked(t, Blocker::QuotaExceeded { count, limit })),
        // Control Hub said "quota" although the owner is not full as far as we count (list lag,
        // or a limit other than ours): reported as such, and looked at again on a backoff.
        (false, _) if matches!(e, controlhub::Error::QuotaExceeded { .. }) => {
            Ok(outcome::blocked(t, Blocker::QuotaExceeded { count, limit }))
        }
        (false, _) => refused(ctx, t, e).await,
    }
}

/// A create or regenerate failed: it may have reached Control Hub, so the owner's cached list is
/// no longer to be trusted (the next pass lists afresh and finds a credential made meanwhile).
async fn ambiguous(ctx: &Context, t: &Target, e: controlhub::Error) -> Result<Outcome> {
    ctx.owners.invalidate(&t.connection.key, &t.owner).await;
    refused(ctx, t, e).await
}

async fn delete_credential(
    ctx: &Context,
    t: &Target,
    w: &mut World,
    id: &controlhub::CredentialId,
) -> Result<()> {
    fence(ctx)?;
    match t.connection.client.delete_credential(id).await {
        Ok(()) | Err(controlhub::Error::NotFound { .. }) => {
            forget(ctx, t, w, id).await;
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// Creates a credential under `pending_label` for the owner (fenced on the lease), once the
/// object is confirmed alive.
async fn create(
    ctx: &Context,
    t: &Target,
    pending_label: &str,
) -> Result<std::result::Result<IssuedCredential, controlhub::Error>> {
    still_declared(ctx, t).await?;
    fence(ctx)?;
    Ok(t.connection
        .client
        .create_credential(pending_label, t.create_for.as_ref(), t.desired.active)
        .await)
}

/// Right before a create: the object must still exist (same UID), not be deleting, and carry the
/// finalizer. The reconcile's copy comes from a cache, and a list the API server serves from its
/// own watch cache may show an object already deleted and gone; a credential created for it
/// would have no object left to clean it up (seen in the random-kills suite: an operator started
/// right after its predecessor finished a deletion created one). Read afresh, the finalizer
/// proves any later deletion waits for the cleanup, which finds the new credential by its marker.
async fn still_declared(ctx: &Context, t: &Target) -> Result<()> {
    let api: Api<crate::api::ApiCredential> = Api::namespaced(ctx.kube.clone(), &t.namespace);
    let fresh = api
        .get_opt(&t.name)
        .await
        .map_err(Error::read(format!("ApiCredential {}", t.name)))?;
    let alive = fresh.is_some_and(|o| {
        o.metadata.uid.as_deref() == Some(t.uid.as_str())
            && o.metadata.deletion_timestamp.is_none()
            && o.metadata
                .finalizers
                .iter()
                .flatten()
                .any(|f| f == crate::api::FINALIZER)
    });
    if alive {
        Ok(())
    } else {
        Err(Error::Gone(t.name.clone()))
    }
}

/// Right before a Control Hub write: this replica must still hold the leader lease (by the
/// monotonic clock). A shutdown lets the step in flight finish; a lost lease does not.
fn fence(ctx: &Context) -> Result<()> {
    if ctx.holds_lease() {
        Ok(())
    } else {
        Err(Error::Fenced)
    }
}

/// A credential is gone from Control Hub: drop it from the local list and the cache.
async fn forget(ctx: &Context, t: &Target, w: &mut World, id: &controlhub::CredentialId) {
    w.credentials.retain(|c| &c.id != id);
    ctx.owners
        .update(&t.connection.key, &t.owner, Change::Removed(id.clone()))
        .await;
}

async fn updated_credential(ctx: &Context, t: &Target, w: &mut World, updated: Credential) {
    if let Some(slot) = w.credentials.iter_mut().find(|c| c.id == updated.id) {
        *slot = updated.clone();
    }
    ctx.owners
        .update(&t.connection.key, &t.owner, Change::Updated(updated))
        .await;
}

fn label_of(w: &World, id: &controlhub::CredentialId) -> String {
    w.credentials
        .iter()
        .find(|c| &c.id == id)
        .map(|c| c.label.clone())
        .unwrap_or_default()
}

/// A Control Hub refusal: what it means for the connection and the owner's list (side effects),
/// then the outcome [`outcome::refusal`] maps it to.
async fn refused(ctx: &Context, t: &Target, e: controlhub::Error) -> Result<Outcome> {
    match &e {
        controlhub::Error::QuotaExceeded { .. } => ctx.owners.invalidate(&t.connection.key, &t.owner).await,
        controlhub::Error::Unauthorized { .. } => ctx.connections.forget(&t.connection.key),
        _ => {}
    }
    match outcome::refusal(t, &e, ctx.settings.quota_limit) {
        Some(outcome) => Ok(outcome),
        None => Err(e.into()),
    }
}

fn strategy_name(s: Strategy) -> &'static str {
    match s {
        Strategy::Regenerate => "Regenerate",
        Strategy::Replace => "Replace",
    }
}

fn step_name(step: &Step) -> &'static str {
    match step {
        Step::Blocked(_) => "blocked",
        Step::Create { .. } => "create",
        Step::Adopt { .. } => "adopt",
        Step::DeleteOrphan { .. } => "delete-orphan",
        Step::BeginRotation { .. } => "begin-rotation",
        Step::Regenerate { .. } => "regenerate",
        Step::CreateReplacement { .. } => "create-replacement",
        Step::Rename { .. } => "rename",
        Step::SetActive { .. } => "set-active",
        Step::MoveToken => "move-token",
        Step::RecordStored { .. } => "record-stored",
        Step::RetirePrevious { .. } => "retire-previous",
        Step::Done { .. } => "done",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_api_server_answer_quoting_the_refused_secret_loses_the_token() {
        let token = AuthToken::new("eyJhbGciOiJub25lIn0.eyJqdGkiOiJjMSJ9.");
        let answer = format!(
            "admission webhook \"policy\" denied: data.authToken={} is not allowed",
            token.expose()
        );
        let scrubbed = scrub(answer, &token);
        assert!(!scrubbed.contains(token.expose()), "{scrubbed}");
        assert!(
            scrubbed.contains("[token]") && scrubbed.contains("denied"),
            "{scrubbed}"
        );
    }
}
