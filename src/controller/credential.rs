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
use crate::controller::{cleanup, restart, secret, secret_io, steps};

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
    // The credential belongs to the owner recorded when it was made. If the connection now
    // authenticates as someone else, everything this object knows belongs to that other user:
    // creating afresh would leak the old credential, so a person decides.
    if let (Some(recorded_owner), Some(id)) = (&status.user_id, &status.credential_id)
        && recorded_owner.as_str() != owner.as_str()
    {
        let msg = format!(
            "credential {id} belongs to {recorded_owner}, but {key} now authenticates as {owner}: point the connection back at {recorded_owner}'s identity to keep managing it, or delete and re-create this ApiCredential to get a credential of {owner} (delete {id} in Control Hub if it is no longer used)"
        );
        return report.blocked(ctx, Reason::OwnerChanged, msg).await;
    }
    let created = obj.meta().creation_timestamp.as_ref().map(to_chrono);
    let desired = Desired {
        label: obj.effective_label().to_string(),
        active: obj.spec.active,
        strategy: match obj.spec.rotation.as_ref().map(|r| r.strategy) {
            Some(RotationStrategy::Replace) => Strategy::Replace,
            _ => Strategy::Regenerate,
        },
        grace: chrono::Duration::from_std(grace).unwrap_or_else(|_| chrono::Duration::minutes(10)),
        rotate_request: obj.rotate_request().map(str::to_string),
        for_other_user: create_for.is_some(),
        regenerate_when_no_slot: obj
            .spec
            .rotation
            .as_ref()
            .is_some_and(|r| r.regenerate_when_no_slot),
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
    let mut pass = steps::Pass::new(ctx.settings.max_steps);
    let outcome = loop {
        if !ctx.may_write() {
            // Leadership lost or shutting down: stop at this safe point (between steps, every
            // token already stored); the next leader resumes from status and the Secret.
            return Ok(Action::await_change());
        }
        let step = plan::decide(&observe(ctx, &target, &world, created, Utc::now()));
        if !pass.admit(&step) {
            // Budget spent, or a second rotation asked for: the next pass goes on.
            tracing::debug!(namespace = %target.namespace, name = %target.name, "pass ended early");
            break Outcome::Continue;
        }
        let performed = act::perform(ctx, &target, &mut world, &mut report, step).await;
        let outcome = match performed {
            Ok(outcome) => outcome,
            Err(e @ Error::StoreToken { .. }) => {
                // The token could not be stored: never leave Ready=True behind.
                report.write_progress(ctx, &target, &mut world).await.ok();
                report
                    .not_ready(ctx, Reason::SecretRejected, format!("{e}; retrying"))
                    .await
                    .ok();
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        if !matches!(outcome, Outcome::Continue) {
            break outcome;
        }
    };

    // Level-based: returns at once when there is no token or every target already has it.
    restart::ensure_restarted(ctx, &target, &world).await;
    if report::holds_token(&world) {
        // Only once the declared Secret holds the token is the one it replaces deleted.
        report::delete_previous_secret(ctx, &target, &status).await?;
    }

    let now_after = Utc::now();
    let action = match outcome {
        Outcome::Done { requeue_at } => {
            ctx.succeeded(&uid);
            let periodic = with_jitter(ctx.settings.drift_check_interval);
            let until = requeue_at.map(|at| schedule::time_until(at, now_after) + Duration::from_secs(1));
            let wait = until.map_or(periodic, |u| u.min(periodic));
            match world.rename_refused.take() {
                Some(message) => {
                    report
                        .working(ctx, &target, &mut world, Reason::RenameRefused, message)
                        .await?
                }
                None => report.ready(ctx, &target, &mut world).await?,
            }
            Action::requeue(wait)
        }
        Outcome::Working { reason, message } => {
            // The current token works: Ready stays True, and says what waits and why.
            report.working(ctx, &target, &mut world, reason, message).await?;
            let wait = match reason {
                // A slot may be freed at any time: look again on a backoff.
                Reason::RotationBlocked => backoff(ctx.failed(&uid)).max(Duration::from_secs(30)),
                _ => with_jitter(ctx.settings.drift_check_interval),
            };
            Action::requeue(wait)
        }
        Outcome::Blocked {
            reason,
            message,
            retry,
        } => {
            report.write_progress(ctx, &target, &mut world).await?;
            report.blocked(ctx, reason, message).await?;
            // Quota may be freed in Control Hub without any change here: look again (with a
            // fresh list, see `gather`) on a backoff rather than at the next drift check.
            let retry = match reason {
                Reason::QuotaExceeded => Some(backoff(ctx.failed(&uid)).max(Duration::from_secs(15))),
                _ => retry,
            };
            Action::requeue(retry.unwrap_or_else(|| with_jitter(ctx.settings.drift_check_interval)))
        }
        Outcome::Continue => {
            // Budget spent (or a second rotation held back): write what we have, come back soon,
            // and back off if it keeps happening.
            report.write_progress(ctx, &target, &mut world).await?;
            Action::requeue(backoff(ctx.failed(&uid)))
        }
    };
    Ok(action)
}

/// What [`plan::decide`] sees now. The next rotation is computed from the token now in the
/// Secret, so a rotation finished in this pass moves it forward at once.
fn observe<'a>(
    ctx: &Context,
    target: &'a Target,
    world: &'a World,
    created: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> plan::Observed<'a> {
    let next_rotation = match (&target.schedule, world.last_rotation.or(created)) {
        (Some(s), Some(last)) => schedule::next_rotation(s, last, &target.uid).ok(),
        _ => None,
    };
    plan::Observed {
        now,
        uid: &target.uid,
        desired: &target.desired,
        record: &world.record,
        secret: &world.secret,
        credentials: &world.credentials,
        quota_limit: ctx.settings.quota_limit,
        token_valid: world.token_valid,
        next_rotation,
        token_movable: world.movable.is_some(),
        rename_refused: world.rename_refused.is_some(),
    }
}

/// Reads the Secret, the owner's credentials and (when due) whether the stored token works.
async fn gather(ctx: &Context, target: &Target, status: &api::ApiCredentialStatus) -> Result<World> {
    let secrets: Api<Secret> = Api::namespaced(ctx.kube.clone(), &target.namespace);
    let existing = secrets.get_opt(&target.layout.name).await?;
    let secret_state = secret::classify(existing.as_ref(), &target.uid, &target.layout.keys);
    let owned = existing.as_ref().filter(|s| secret::is_owned_by(s, &target.uid));
    let secret_existing = match owned {
        Some(s) => secret_io::Existing::Ours {
            resource_version: s.metadata.resource_version.clone().unwrap_or_default(),
        },
        None => secret_io::Existing::None,
    };
    let stored = owned.and_then(|s| secret::read(s, &target.layout.keys));

    // A fresh list (not the shared cache) when the user asked for one, changed the spec, or the
    // object waits for quota; untouched objects keep to one list per owner per drift interval.
    let refresh = target.obj.refresh_request().map(str::to_string);
    let waiting_for_quota = target.obj.status.as_ref().is_some_and(|s| {
        api::conditions::find_condition(&s.conditions, api::ConditionType::Ready)
            .is_some_and(|c| c.reason == Reason::QuotaExceeded.as_str())
    });
    if refresh != status.last_refresh_request
        || status.observed_generation != target.obj.meta().generation
        || waiting_for_quota
    {
        ctx.owners.invalidate(&target.connection.key, &target.owner).await;
    }
    let credentials = ctx.owners.list(&target.connection, &target.owner).await?;

    let mut record = record_from_status(status);
    record.last_refresh_request = refresh;
    let recorded = record.credential_id.clone();

    // After spec.secret.name or .keys changed: the recorded token may sit in the old place.
    let movable = if stored.is_none() && recorded.is_some() {
        find_movable(ctx, target, status, owned)
            .await?
            .filter(|m| Some(&m.id) == recorded.as_ref())
    } else {
        None
    };

    // The token is tried only when it is the recorded credential's (never on a Secret's word).
    let mut token_valid = None;
    if let Some(stored) = stored.as_ref().filter(|s| Some(&s.id) == recorded.as_ref()) {
        let current_active = credentials.iter().find(|c| c.id == stored.id).map(|c| c.active);
        if current_active == Some(true) && ctx.token_check_due(&target.uid) {
            token_valid = check_token(target, stored).await;
        }
    }
    Ok(World {
        record,
        secret: secret_state,
        secret_existing,
        movable,
        rename_refused: None,
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

/// Whether the stored token authenticates. A refusal counts only when the connection's own token
/// is accepted at the same time: during a Control Hub authentication outage both fail, and a
/// working token must not be rotated for it.
async fn check_token(target: &Target, stored: &secret::StoredCredential) -> Option<bool> {
    let probe = target
        .connection
        .client
        .for_credential(stored.id.clone(), stored.token.clone())
        .ok()?;
    match probe.current_user().await {
        Ok(_) => Some(true),
        Err(crate::controlhub::Error::Unauthorized { .. }) => {
            match target.connection.client.current_user().await {
                Ok(_) => Some(false),
                Err(_) => None,
            }
        }
        Err(_) => None,
    }
}

/// The recorded credential's token under the Secret's previous name (status.secretName) or under
/// other keys of the declared Secret, found by the annotations the operator wrote with it.
async fn find_movable(
    ctx: &Context,
    target: &Target,
    status: &api::ApiCredentialStatus,
    owned: Option<&Secret>,
) -> Result<Option<secret::StoredCredential>> {
    if let Some(found) = owned.and_then(secret::recover) {
        return Ok(Some(found));
    }
    let Some(old) = status
        .secret_name
        .as_deref()
        .filter(|old| *old != target.layout.name)
    else {
        return Ok(None);
    };
    let secrets: Api<Secret> = Api::namespaced(ctx.kube.clone(), &target.namespace);
    Ok(secrets
        .get_opt(old)
        .await?
        .filter(|s| secret::is_owned_by(s, &target.uid))
        .as_ref()
        .and_then(secret::recover))
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
