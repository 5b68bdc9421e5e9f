//! Reconcile of one ApiCredential: finalizer dispatch, then gather → decide → act → report.
//!
//! Gathering reads the connection, the Secret and the owner's credential list; [`plan::decide`]
//! picks one step; [`act`] performs it and updates the local picture; the loop repeats until the
//! plan says done or blocked (or a step budget is spent); [`report`] writes status and Events.
//! No sleeps here: waiting is a requeue.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::finalizer::{self, Event as FinalizerEvent};
use kube::{Resource, ResourceExt};

use crate::api::{self, ApiCredential, Reason, RotationStrategy};
use crate::controlhub::{CredentialId, UserId};
use crate::controller::act::{self, Outcome, World};
use crate::controller::connections::{Connection, ConnectionKey, Connections};
use crate::controller::context::{Context, backoff, with_jitter};
use crate::controller::error::{Error, Result};
use crate::controller::plan::{self, Desired, Record, Strategy};
use crate::controller::report::{self, Report};
use crate::controller::schedule::{self, Schedule};
use crate::controller::{cleanup, restart, secret};

/// Everything about the object a step needs, resolved once per reconcile.
pub struct Target {
    pub obj: Arc<ApiCredential>,
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub desired: Desired,
    pub schedule: Option<Schedule>,
    /// The owner of the credential in Control Hub.
    pub owner: UserId,
    /// `Some(owner)` when creating for another user (sent as `userId`).
    pub create_for: Option<UserId>,
    pub layout: secret::SecretLayout,
    pub connection: Connection,
}

/// Entry point for the controller.
pub async fn reconcile(
    obj: Arc<ApiCredential>,
    ctx: Arc<Context>,
) -> Result<Action, finalizer::Error<Error>> {
    let started = std::time::Instant::now();
    let namespace = obj.namespace().unwrap_or_default();
    let api: Api<ApiCredential> = Api::namespaced(ctx.kube.clone(), &namespace);
    let result = finalizer::finalizer(&api, api::FINALIZER, obj, |event| async {
        match event {
            FinalizerEvent::Apply(obj) => apply(obj, &ctx).await,
            FinalizerEvent::Cleanup(obj) => cleanup::cleanup(obj, &ctx).await,
        }
    })
    .await;
    let label = match &result {
        Ok(_) => "ok",
        Err(finalizer::Error::ApplyFailed(e) | finalizer::Error::CleanupFailed(e)) => e.label(),
        Err(_) => "finalizer_error",
    };
    ctx.metrics.reconciled("apicredential", label, started.elapsed());
    result
}

/// What the controller does after a failed reconcile: back off per object, honouring Retry-After.
pub fn error_policy(obj: Arc<ApiCredential>, error: &finalizer::Error<Error>, ctx: Arc<Context>) -> Action {
    let uid = obj.uid().unwrap_or_default();
    let n = ctx.failed(&uid);
    let inner = match error {
        finalizer::Error::ApplyFailed(e) | finalizer::Error::CleanupFailed(e) => Some(e),
        _ => None,
    };
    let wait = inner.and_then(Error::retry_after).unwrap_or_else(|| backoff(n));
    tracing::warn!(
        namespace = obj.namespace().unwrap_or_default(),
        name = obj.name_any(),
        error = %error,
        retry_in = ?wait,
        "reconcile failed"
    );
    Action::requeue(wait)
}

async fn apply(obj: Arc<ApiCredential>, ctx: &Context) -> Result<Action> {
    let uid = obj.uid().ok_or(Error::MissingField("metadata.uid"))?;
    let namespace = obj.namespace().ok_or(Error::MissingField("metadata.namespace"))?;
    let mut report = Report::new(&obj);

    // Runtime validation admission could not do.
    let schedule = match obj
        .spec
        .rotation
        .as_ref()
        .map(Schedule::from_rotation)
        .transpose()
    {
        Ok(s) => s.flatten(),
        Err(e) => {
            return report
                .blocked(
                    ctx,
                    Reason::InvalidSchedule,
                    format!("spec.rotation: {e}; fix the schedule"),
                )
                .await;
        }
    };
    let grace = match obj.grace_period() {
        Ok(g) => g,
        Err(e) => {
            return report
                .blocked(
                    ctx,
                    Reason::InvalidSchedule,
                    format!("spec.rotation.gracePeriod: {e}"),
                )
                .await;
        }
    };

    let key = Connections::key_for(&obj.connection_ref(), &namespace);
    let connection = match ctx.connections.resolve(&key, &namespace).await {
        Ok(c) => c,
        Err(problem) => return report.connection_problem(ctx, problem).await,
    };

    // Who owns the credential, and may this namespace mint it.
    let (owner, create_for) = match obj.spec.user_id.as_deref() {
        Some(user) if user != connection.principal.user_id.as_str() => {
            if !connection.settings.allows_user(user) {
                let msg = format!(
                    "{key} does not list user {user} in spec.allowedUserIds: ask the connection's owner to allow it, or remove spec.userId"
                );
                return report.blocked(ctx, Reason::UserNotAllowed, msg).await;
            }
            if !connection.principal.is_org_admin() {
                let msg = format!(
                    "{key} authenticates as {}, who is not an Organization Administrator: only org admins create credentials for other users",
                    connection.principal.user_id
                );
                return report.blocked(ctx, Reason::Forbidden, msg).await;
            }
            (UserId::new(user), Some(UserId::new(user)))
        }
        _ => {
            if !connection.share_identity {
                let msg = format!(
                    "{key} does not share its own identity ({}) with namespaces: set spec.userId to a service account the connection allows (spec.allowedUserIds), use a ControlHubConnection in this namespace, or ask the connection's owner to set spec.shareConnectionIdentity: true",
                    connection.principal.user_id
                );
                return report.blocked(ctx, Reason::IdentityNotShared, msg).await;
            }
            (connection.principal.user_id.clone(), None)
        }
    };

    let status = obj.status.clone().unwrap_or_default();
    let last_rotation = status
        .last_rotation_time
        .or_else(|| obj.meta().creation_timestamp.as_ref().map(to_chrono));
    let next_rotation = match (&schedule, last_rotation) {
        (Some(s), Some(last)) => schedule::next_rotation(s, last, &uid).ok(),
        _ => None,
    };
    let desired = Desired {
        label: obj.effective_label().to_string(),
        active: obj.spec.active,
        strategy: match obj.spec.rotation.as_ref().map(|r| r.strategy) {
            Some(RotationStrategy::Replace) => Strategy::Replace,
            _ => Strategy::Regenerate,
        },
        grace: chrono::Duration::from_std(grace).unwrap_or_else(|_| chrono::Duration::minutes(10)),
        next_rotation,
        rotate_request: obj.rotate_request().map(str::to_string),
        for_other_user: create_for.is_some(),
    };
    let layout = secret::SecretLayout {
        name: obj.secret_name().to_string(),
        namespace: namespace.clone(),
        keys: obj.keys().into(),
        type_: obj.secret_type().to_string(),
        labels: obj
            .spec
            .secret
            .as_ref()
            .map(|s| s.labels.clone())
            .unwrap_or_default(),
        annotations: obj
            .spec
            .secret
            .as_ref()
            .map(|s| s.annotations.clone())
            .unwrap_or_default(),
        url: connection.client.base_url().to_string(),
        owner: obj
            .controller_owner_ref(&())
            .ok_or(Error::MissingField("metadata.uid"))?,
    };

    let target = Target {
        namespace: namespace.clone(),
        name: obj.name_any(),
        uid: uid.clone(),
        obj: obj.clone(),
        desired,
        schedule,
        owner,
        create_for,
        layout,
        connection,
    };
    let mut world = gather(ctx, &target, &status).await?;

    // Decide and act until in sync, blocked, or out of budget.
    let mut outcome = Outcome::Continue;
    for _ in 0..ctx.settings.max_steps {
        let step = plan::decide(&plan::Observed {
            now: Utc::now(),
            uid: &target.uid,
            desired: &target.desired,
            record: &world.record,
            secret: &world.secret,
            credentials: &world.credentials,
            quota_limit: ctx.settings.quota_limit,
            token_valid: world.token_valid,
        });
        outcome = act::perform(ctx, &target, &mut world, &mut report, step).await?;
        if !matches!(outcome, Outcome::Continue) {
            break;
        }
    }

    // Level-based: returns at once when there is no token or every target already has it.
    restart::ensure_restarted(ctx, &target, &world).await;
    report::delete_previous_secret(ctx, &target, &status).await?;
    ctx.succeeded(&uid);

    let now_after = Utc::now();
    let action = match outcome {
        Outcome::Done { requeue_at } => {
            let periodic = with_jitter(ctx.settings.drift_check_interval);
            let until = requeue_at.map(|at| schedule::time_until(at, now_after) + Duration::from_secs(1));
            let wait = until.map_or(periodic, |u| u.min(periodic));
            report.ready(ctx, &target, &mut world).await?;
            Action::requeue(wait)
        }
        Outcome::Blocked {
            reason,
            message,
            retry,
        } => {
            report.write_progress(ctx, &target, &mut world).await?;
            report.blocked(ctx, reason, message).await?;
            Action::requeue(retry.unwrap_or_else(|| with_jitter(ctx.settings.drift_check_interval)))
        }
        Outcome::Continue => {
            // Budget spent: write what we have and come straight back.
            report.write_progress(ctx, &target, &mut world).await?;
            Action::requeue(Duration::from_millis(100))
        }
    };
    Ok(action)
}

/// Reads the Secret, the owner's credentials and (when due) whether the stored token works.
async fn gather(ctx: &Context, target: &Target, status: &api::ApiCredentialStatus) -> Result<World> {
    let secrets: Api<Secret> = Api::namespaced(ctx.kube.clone(), &target.namespace);
    let existing = secrets.get_opt(&target.layout.name).await?;
    let secret_state = secret::classify(existing.as_ref(), &target.uid, &target.layout.keys);
    let stored = existing
        .as_ref()
        .filter(|s| secret::is_owned_by(s, &target.uid))
        .and_then(|s| secret::read(s, &target.layout.keys));
    let credentials = ctx.owners.list(&target.connection, &target.owner).await?;

    let record = record_from_status(status);
    let mut token_valid = None;
    if let Some(stored) = &stored {
        let current_active = credentials.iter().find(|c| c.id == stored.id).map(|c| c.active);
        if current_active == Some(true) && ctx.token_check_due(&target.uid) {
            let probe = target
                .connection
                .client
                .for_credential(stored.id.clone(), stored.token.clone())?;
            token_valid = match probe.current_user().await {
                Ok(_) => Some(true),
                Err(crate::controlhub::Error::Unauthorized { .. }) => Some(false),
                Err(_) => None,
            };
        }
    }
    Ok(World {
        record,
        secret: secret_state,
        credentials,
        token_valid,
        token_fingerprint: existing
            .as_ref()
            .and_then(secret::fingerprint_of)
            .map(str::to_string),
        last_rotation: status.last_rotation_time,
        events: Vec::new(),
    })
}

fn record_from_status(status: &api::ApiCredentialStatus) -> Record {
    Record {
        credential_id: status.credential_id.clone().map(CredentialId::new),
        previous_credential_id: status.previous_credential_id.clone().map(CredentialId::new),
        retire_at: status.retire_at,
        rotation_in_progress: status.rotation_in_progress.as_ref().map(|r| {
            let strategy = match r.strategy {
                RotationStrategy::Replace => Strategy::Replace,
                RotationStrategy::Regenerate => Strategy::Regenerate,
            };
            let reason = match r.reason {
                api::RotationReason::Schedule => plan::RotationReason::Schedule,
                api::RotationReason::Requested => plan::RotationReason::Requested,
                api::RotationReason::TokenInvalid => plan::RotationReason::TokenInvalid,
                api::RotationReason::Recreate | api::RotationReason::SecretLost => {
                    plan::RotationReason::SecretLost
                }
            };
            (strategy, reason)
        }),
        last_rotation_request: status.last_rotation_request.clone(),
        last_refresh_request: status.last_refresh_request.clone(),
    }
}

fn to_chrono(t: &k8s_openapi::apimachinery::pkg::apis::meta::v1::Time) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp(t.0.as_second(), 0).unwrap_or_default()
}

/// The connection key of an ApiCredential (for mapping connection changes to credentials).
pub fn connection_key_of(obj: &ApiCredential) -> Option<ConnectionKey> {
    Some(Connections::key_for(&obj.connection_ref(), &obj.namespace()?))
}
