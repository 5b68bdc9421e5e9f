//! Stage 6, the entry point: finalizer dispatch (apply or [`super::cleanup`]), then the pipeline
//! resolve → gather → (decide → act)* → report, and the controller's error policy. No sleeps
//! here: waiting is a requeue.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::finalizer::{self, Event as FinalizerEvent};
use kube::{Resource, ResourceExt};

use super::act;
use super::decide;
use super::gather::{World, gather};
use super::outcome::Outcome;
use super::pass::Pass;
use super::report::{self, Report};
use super::resolve::{Refusal, Target, resolve};
use super::{cleanup, restart};
use crate::api::{self, ApiCredential, Reason};
use crate::controller::connections::{ConnectionKey, Connections};
use crate::controller::context::{Context, backoff, with_jitter};
use crate::controller::error::{Error, Result};
use crate::controller::schedule;

/// Entry point for the controller.
pub async fn reconcile(
    obj: Arc<ApiCredential>,
    ctx: Arc<Context>,
) -> Result<Action, finalizer::Error<Error>> {
    let started = std::time::Instant::now();
    let namespace = obj.namespace().unwrap_or_default();
    let api: Api<ApiCredential> = Api::namespaced(ctx.kube.clone(), &namespace);
    let uid = obj.uid().unwrap_or_default();
    // A wait Control Hub asked for (or a failure's backoff) is not cut short by the events this
    // process causes itself; a spec change ends it.
    if let Some(left) = ctx.held_for(&uid, obj.meta().generation) {
        return Ok(Action::requeue(left));
    }
    // The watch cache may not have caught up with this process's own last status write: acting on
    // an older status would repeat work already done (a rotation, a create). Read it afresh then.
    // The fresh copy's version includes that write, so the cache showing it is current from then
    // on: another writer's later change costs one read, not one per reconcile.
    let obj = if ctx.may_be_stale(&uid, obj.meta().resource_version.as_deref()) {
        tracing::debug!(
            cached = obj.meta().resource_version.as_deref().unwrap_or_default(),
            "the cache shows a version this process did not write or read; reading afresh"
        );
        match api.get_opt(&obj.name_any()).await {
            Ok(Some(fresh)) => {
                if let Some(version) = fresh.meta().resource_version.clone() {
                    ctx.wrote(&uid, version);
                }
                Arc::new(fresh)
            }
            Ok(None) => return Ok(Action::await_change()),
            Err(e) => {
                let read = Error::read(format!("ApiCredential {}", obj.name_any()));
                return Err(finalizer::Error::ApplyFailed(read(e)));
            }
        }
    } else {
        obj
    };
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
    ctx.hold(&uid, wait, obj.meta().generation);
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
    let target = match resolve(&obj, ctx, uid.clone(), namespace).await {
        Ok(target) => target,
        Err(Refusal::Blocked { reason, message }) => return report.blocked(ctx, reason, message).await,
        Err(Refusal::Connection(problem)) => return report.connection_problem(ctx, problem).await,
        Err(Refusal::Failed(e)) => return Err(e),
    };
    let mut world = gather(ctx, &target).await?;

    // Decide and act until in sync, blocked, or out of budget.
    let mut pass = Pass::new(ctx.settings.max_steps);
    let outcome = loop {
        if !ctx.may_write() {
            // Leadership lost or shutting down: stop at this safe point (between steps, every
            // token already stored); the next leader resumes from status and the Secret.
            return Ok(Action::await_change());
        }
        let step = decide::decide(&observe(ctx, &target, &world, Utc::now()));
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
        report::delete_previous_secret(ctx, &target).await?;
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

/// What [`decide::decide`] sees now. The next rotation is computed from the token now in the
/// Secret, so a rotation finished in this pass moves it forward at once.
fn observe<'a>(
    ctx: &Context,
    target: &'a Target,
    world: &'a World,
    now: DateTime<Utc>,
) -> decide::Observed<'a> {
    let next_rotation = match (&target.schedule, world.last_rotation.or(target.created)) {
        (Some(s), Some(last)) => schedule::next_rotation(s, last, &target.uid).ok(),
        _ => None,
    };
    decide::Observed {
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

/// The connection key of an ApiCredential (for mapping connection changes to credentials).
pub fn connection_key_of(obj: &ApiCredential) -> Option<ConnectionKey> {
    Some(Connections::key_for(&obj.connection_ref(), &obj.namespace()?))
}
