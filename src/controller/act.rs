//! Performing one planned step against Control Hub and the Secret, and updating the reconcile's
//! local picture ([`World`]) so the next decision sees the result without listing again.
//!
//! The ordering here is the crash-safety protocol (design §4): a freshly issued token is written
//! to the Secret before anything else; a rotation is recorded in status before the regenerate.
//! Control Hub answers that need the user become [`Outcome::Blocked`]; transient ones are errors.

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::events::EventType;

use crate::api::Reason;
use crate::controlhub::{self, Credential, IssuedCredential};
use crate::controller::context::{Context, FIELD_MANAGER};
use crate::controller::credential::Target;
use crate::controller::error::{Error, Result};
use crate::controller::failpoint::pause_point;
use crate::controller::owners::Change;
use crate::controller::plan::{Blocker, Record, RotationReason, SecretState, Step, Strategy};
use crate::controller::report::Report;
use crate::controller::secret;

/// The reconcile's picture of the world, updated as steps are performed.
pub struct World {
    pub record: Record,
    pub secret: SecretState,
    pub credentials: Vec<Credential>,
    pub token_valid: Option<bool>,
    /// Fingerprint of the token now in the Secret.
    pub token_fingerprint: Option<String>,
    /// When the token now in the Secret was issued.
    pub last_rotation: Option<DateTime<Utc>>,
    /// Events raised so far (type, reason, message).
    pub events: Vec<(EventType, &'static str, String)>,
}

/// What the loop should do after a step.
#[derive(Debug)]
pub enum Outcome {
    Continue,
    Done {
        requeue_at: Option<DateTime<Utc>>,
    },
    Blocked {
        reason: Reason,
        message: String,
        retry: Option<std::time::Duration>,
    },
}

/// Performs `step`.
pub async fn perform(
    ctx: &Context,
    t: &Target,
    w: &mut World,
    report: &mut Report,
    step: Step,
) -> Result<Outcome> {
    tracing::debug!(namespace = %t.namespace, name = %t.name, step = ?step_name(&step), "step");
    match step {
        Step::Done { requeue_at } => return Ok(Outcome::Done { requeue_at }),
        Step::Blocked(blocker) => return Ok(blocked(t, blocker)),
        Step::Create {
            pending_label,
            recreate,
        } => {
            let issued = match t
                .connection
                .client
                .create_credential(&pending_label, t.create_for.as_ref(), t.desired.active)
                .await
            {
                Ok(issued) => issued,
                Err(e) => return refused(ctx, t, e).await,
            };
            let id = issued.credential.id.clone();
            take_new(ctx, t, w, &issued, "create").await?;
            w.record.credential_id = Some(id.clone());
            w.record.last_rotation_request = t.desired.rotate_request.clone();
            report.write_progress(ctx, t, w).await?;
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
            let label = label_of(w, &id);
            match t.connection.client.regenerate_credential(&id, &label).await {
                Ok(issued) => {
                    let previous = w.record.credential_id.clone();
                    store_issued(ctx, t, w, &issued, true).await?;
                    w.record.credential_id = Some(id.clone());
                    if replacing {
                        finish_replace(t, w, previous);
                    }
                    report.write_progress(ctx, t, w).await?;
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
                Err(e) => return refused(ctx, t, e).await,
            }
        }
        Step::DeleteOrphan { id } => {
            delete_credential(ctx, t, w, &id).await?;
            w.events.push((
                EventType::Normal,
                "OrphanDeleted",
                format!("deleted credential {id} left by an interrupted step"),
            ));
        }
        Step::BeginRotation { strategy, reason } => {
            w.record.rotation_in_progress = Some((strategy, reason));
            report.write_progress(ctx, t, w).await?;
            pause_point("rotation:recorded").await;
            w.events.push((
                EventType::Normal,
                "Rotating",
                format!("rotating the token ({}, {:?})", strategy_name(strategy), reason),
            ));
        }
        Step::Regenerate { id } => {
            let label = label_of(w, &id);
            // Replace planned, but the plan chose Regenerate: the owner has no free slot.
            let instead_of_replace = matches!(w.record.rotation_in_progress, Some((Strategy::Replace, _)));
            match t.connection.client.regenerate_credential(&id, &label).await {
                Ok(issued) => {
                    pause_point("regenerate:issued").await;
                    store_issued(ctx, t, w, &issued, false).await?;
                    pause_point("regenerate:stored").await;
                    w.record.rotation_in_progress = None;
                    w.record.last_rotation_request = t.desired.rotate_request.clone();
                    report.write_progress(ctx, t, w).await?;
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
                    report.write_progress(ctx, t, w).await?;
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
                Err(e) => return refused(ctx, t, e).await,
            }
        }
        Step::CreateReplacement { pending_label } => {
            let issued = match t
                .connection
                .client
                .create_credential(&pending_label, t.create_for.as_ref(), t.desired.active)
                .await
            {
                Ok(issued) => issued,
                Err(e @ controlhub::Error::QuotaExceeded { .. }) => {
                    // The cached list was stale (credentials made elsewhere since): list again, and
                    // if the owner is indeed full let the plan choose (Regenerate, or say why not).
                    ctx.owners.invalidate(&t.connection.key, &t.owner).await;
                    w.credentials = ctx.owners.list(&t.connection, &t.owner).await?;
                    if w.credentials.len() < ctx.settings.quota_limit {
                        return refused(ctx, t, e).await;
                    }
                    return Ok(Outcome::Continue);
                }
                Err(e) => return refused(ctx, t, e).await,
            };
            let id = issued.credential.id.clone();
            let previous = w.record.credential_id.clone();
            take_new(ctx, t, w, &issued, "replace").await?;
            w.record.credential_id = Some(id.clone());
            finish_replace(t, w, previous.clone());
            report.write_progress(ctx, t, w).await?;
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
            let was_pending = label_of(w, &id).contains(&crate::controller::plan::marker(&t.uid));
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
                Err(e) => return refused(ctx, t, e).await,
            }
        }
        Step::SetActive { id, active } => {
            let label = label_of(w, &id);
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
        Step::RecordStored { id, previous } => {
            let first = w.record.credential_id.is_none();
            w.record.credential_id = Some(id.clone());
            if previous.is_some() {
                finish_replace(t, w, previous);
            } else if first {
                w.record.last_rotation_request = t.desired.rotate_request.clone();
            }
            report.write_progress(ctx, t, w).await?;
            w.events.push((
                EventType::Normal,
                "Recovered",
                format!("recorded credential {id}, whose token reached the Secret before an interruption"),
            ));
        }
        Step::RetirePrevious { id } => {
            delete_credential(ctx, t, w, &id).await?;
            w.record.previous_credential_id = None;
            w.record.retire_at = None;
            report.write_progress(ctx, t, w).await?;
            w.events.push((
                EventType::Normal,
                "Retired",
                format!("deleted replaced credential {id} after its grace period"),
            ));
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

/// A credential just created (`step` is `create` or `replace`): known to the owner cache and the
/// local picture, then its token stored. Pause points `<step>:issued` and `<step>:stored` bracket
/// the Secret write for crash tests.
async fn take_new(
    ctx: &Context,
    t: &Target,
    w: &mut World,
    issued: &IssuedCredential,
    step: &str,
) -> Result<()> {
    ctx.owners
        .update(
            &t.connection.key,
            &t.owner,
            Change::Added(issued.credential.clone()),
        )
        .await;
    w.credentials.push(issued.credential.clone());
    pause_point(&format!("{step}:issued")).await;
    store_issued(ctx, t, w, issued, true).await?;
    pause_point(&format!("{step}:stored")).await;
    Ok(())
}

/// Writes a freshly issued credential to the Secret: the first write after the Control Hub call.
/// Retries a few times at once; if the token cannot be stored and the credential is new, it is
/// deleted again so that nothing is orphaned (a regenerated one is regenerated again later).
async fn store_issued(
    ctx: &Context,
    t: &Target,
    w: &mut World,
    issued: &IssuedCredential,
    new: bool,
) -> Result<()> {
    let secrets: Api<Secret> = Api::namespaced(ctx.kube.clone(), &t.namespace);
    let body = secret::build(&t.layout, &issued.credential.id, &issued.token);
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let mut last_error = None;
    for attempt in 0..3 {
        if attempt > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(200 * attempt)).await;
        }
        match secrets.patch(&t.layout.name, &params, &Patch::Apply(&body)).await {
            Ok(_) => {
                w.secret = SecretState::Managed {
                    credential_id: Some(issued.credential.id.clone()),
                };
                w.token_fingerprint = Some(issued.token.fingerprint());
                w.last_rotation = Some(Utc::now());
                w.token_valid = Some(true);
                ctx.token_fresh(&t.uid);
                return Ok(());
            }
            Err(e) => last_error = Some(e),
        }
    }
    let source = last_error.expect("three attempts were made");
    if new {
        let _ = t.connection.client.delete_credential(&issued.credential.id).await;
        ctx.owners
            .update(
                &t.connection.key,
                &t.owner,
                Change::Removed(issued.credential.id.clone()),
            )
            .await;
    }
    Err(Error::StoreToken {
        secret: t.layout.name.clone(),
        source,
    })
}

async fn delete_credential(
    ctx: &Context,
    t: &Target,
    w: &mut World,
    id: &controlhub::CredentialId,
) -> Result<()> {
    match t.connection.client.delete_credential(id).await {
        Ok(()) | Err(controlhub::Error::NotFound { .. }) => {
            forget(ctx, t, w, id).await;
            Ok(())
        }
        Err(e) => Err(e.into()),
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

/// Maps a Control Hub refusal to an outcome: the user must act (blocked) or it may pass (error).
async fn refused(ctx: &Context, t: &Target, e: controlhub::Error) -> Result<Outcome> {
    match e {
        controlhub::Error::QuotaExceeded { .. } => {
            ctx.owners.invalidate(&t.connection.key, &t.owner).await;
            Ok(blocked(
                t,
                Blocker::QuotaExceeded {
                    count: ctx.settings.quota_limit,
                    limit: ctx.settings.quota_limit,
                },
            ))
        }
        controlhub::Error::Forbidden { .. } => Ok(Outcome::Blocked {
            reason: Reason::Forbidden,
            message: format!("Control Hub refused the request of {}: {e}", t.connection.key),
            retry: None,
        }),
        controlhub::Error::Unauthorized { .. } => {
            ctx.connections.forget(&t.connection.key);
            Ok(Outcome::Blocked {
                reason: Reason::AuthenticationFailed,
                message: format!(
                    "Control Hub no longer accepts the credentials of {}: update its credentials Secret",
                    t.connection.key
                ),
                retry: Some(std::time::Duration::from_secs(60)),
            })
        }
        controlhub::Error::Invalid { .. } => Ok(Outcome::Blocked {
            reason: Reason::InvalidSpec,
            message: format!("Control Hub rejected the request: {e}"),
            retry: None,
        }),
        other => Err(other.into()),
    }
}

fn blocked(t: &Target, blocker: Blocker) -> Outcome {
    let (reason, message) = match blocker {
        Blocker::SecretConflict => (
            Reason::SecretConflict,
            format!(
                "Secret {} exists and is not managed by this ApiCredential; it is never overwritten: delete or rename it, or set spec.secret.name",
                t.layout.name
            ),
        ),
        Blocker::QuotaExceeded { count, limit } => (
            Reason::QuotaExceeded,
            format!(
                "user {} already has {count} of {limit} API credentials in Control Hub: delete one there (or another ApiCredential of this user) and this one is created",
                t.owner
            ),
        ),
        Blocker::NoSlotForReplace { count, limit } => (
            Reason::QuotaExceeded,
            format!(
                "cannot rotate by Replace: user {} has {count} of {limit} credentials, and Control Hub does not regenerate other users' credentials; free a slot",
                t.owner
            ),
        ),
    };
    Outcome::Blocked {
        reason,
        message,
        retry: None,
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
        Step::RecordStored { .. } => "record-stored",
        Step::RetirePrevious { .. } => "retire-previous",
        Step::Done { .. } => "done",
    }
}
