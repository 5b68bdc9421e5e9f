//! Stage 5, **report**: the ApiCredential's status (server-side apply of the status
//! subresource, written only when it changed) with kstatus-compatible conditions, and Events.
//!
//! Status and Events carry IDs, labels, user IDs and reasons; never a token.

use std::sync::Arc;

use chrono::Utc;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Resource, ResourceExt};

use super::act::Checkpoint;
use super::gather::World;
use super::resolve::Target;
use super::secret;
use super::{RotationReason, SecretState, Strategy};
use crate::api::conditions::merge_conditions;
use crate::api::{
    self, ApiCredential, ApiCredentialStatus, ConditionStatus, ConditionType, DesiredCondition, Reason,
    RotationInProgress, RotationStrategy,
};
use crate::controller::connections::ConnectionProblem;
use crate::controller::context::{Context, FIELD_MANAGER, backoff, with_jitter};
use crate::controller::error::{Error, Result};
use crate::controller::schedule;

/// Collects what one reconcile reports, and writes it.
pub struct Report {
    obj: Arc<ApiCredential>,
    /// The status as last written (or read), to skip writes that change nothing.
    status: ApiCredentialStatus,
}

impl Report {
    pub fn new(obj: &Arc<ApiCredential>) -> Self {
        Report {
            obj: obj.clone(),
            status: obj.status.clone().unwrap_or_default(),
        }
    }

    /// Writes the record of work in progress (called after every step that must be durable).
    pub async fn write_progress(&mut self, ctx: &Context, t: &Target, w: &mut World) -> Result<()> {
        let mut status = self.status_from(t, w);
        let reason = progress_reason(w);
        let (ready, ready_reason, ready_msg) = if token_works(w) {
            (ConditionStatus::True, Reason::Ready, ready_message(t, w))
        } else if w.record.credential_id.is_some() {
            (
                ConditionStatus::False,
                reason,
                "the token in the Secret is being replaced".to_string(),
            )
        } else {
            (
                ConditionStatus::False,
                reason,
                "the credential is being set up".to_string(),
            )
        };
        status.conditions = self.conditions(&[
            DesiredCondition::new(ConditionType::Ready, ready, ready_reason, ready_msg),
            DesiredCondition::new(
                ConditionType::Reconciling,
                ConditionStatus::True,
                reason,
                progress_message(w),
            ),
        ]);
        self.write(ctx, status).await?;
        self.flush_events(ctx, w).await;
        Ok(())
    }

    /// Everything is as declared.
    pub async fn ready(&mut self, ctx: &Context, t: &Target, w: &mut World) -> Result<()> {
        let mut status = self.status_from(t, w);
        let mut desired = vec![DesiredCondition::new(
            ConditionType::Ready,
            ConditionStatus::True,
            Reason::Ready,
            ready_message(t, w),
        )];
        if let (Some(prev), Some(at)) = (&w.record.previous_credential_id, w.record.retire_at) {
            desired[0].message.push_str(&format!(
                "; replaced credential {prev} is deleted at {}",
                at.to_rfc3339()
            ));
        }
        status.conditions = self.conditions(&desired);
        self.write(ctx, status).await?;
        self.flush_events(ctx, w).await;
        Ok(())
    }

    /// The token works but something declared waits (a Replace without a free slot, a rename
    /// Control Hub refuses): Ready stays True with `reason` and the way out in its message, and a
    /// Warning Event when this is news.
    pub async fn working(
        &mut self,
        ctx: &Context,
        t: &Target,
        w: &mut World,
        reason: Reason,
        message: String,
    ) -> Result<()> {
        let mut status = self.status_from(t, w);
        let was = api::conditions::find_condition(&status.conditions, ConditionType::Ready)
            .map(|c| (c.reason.clone(), c.message.clone()));
        // Ready stays True only while the Secret's token really works (a service account's
        // lost token waiting for a slot is not Ready).
        let (ready, text) = if token_works(w) {
            (
                ConditionStatus::True,
                format!("{}; {message}", ready_message(t, w)),
            )
        } else {
            (ConditionStatus::False, message.clone())
        };
        let mut desired = vec![DesiredCondition::new(
            ConditionType::Ready,
            ready,
            reason,
            text.clone(),
        )];
        if ready == ConditionStatus::False {
            desired.push(DesiredCondition::new(
                ConditionType::Stalled,
                ConditionStatus::True,
                reason,
                text.clone(),
            ));
        }
        status.conditions = self.conditions(&desired);
        self.write(ctx, status).await?;
        self.flush_events(ctx, w).await;
        if was != Some((reason.as_str().to_string(), text)) {
            self.publish(ctx, EventType::Warning, reason.as_str(), message)
                .await;
        }
        Ok(())
    }

    /// Something failed that is retried with backoff, and the Secret may not hold a working
    /// token: Ready=False and Reconciling=True with `reason`, and a Warning Event.
    pub async fn not_ready(&mut self, ctx: &Context, reason: Reason, message: String) -> Result<()> {
        let mut status = self.status.clone();
        status.conditions = self.conditions(&[
            DesiredCondition::new(
                ConditionType::Ready,
                ConditionStatus::False,
                reason,
                message.clone(),
            ),
            DesiredCondition::new(
                ConditionType::Reconciling,
                ConditionStatus::True,
                reason,
                message.clone(),
            ),
        ]);
        self.write(ctx, status).await?;
        self.publish(ctx, EventType::Warning, reason.as_str(), message)
            .await;
        Ok(())
    }

    /// Reconcile cannot proceed until something changes: Ready=False, Stalled=True, a Warning
    /// Event when this is news.
    pub async fn blocked(&mut self, ctx: &Context, reason: Reason, message: String) -> Result<Action> {
        let mut status = self.status.clone();
        status.observed_generation = self.obj.meta().generation;
        let was = api::conditions::find_condition(&status.conditions, ConditionType::Stalled)
            .map(|c| (c.reason.clone(), c.message.clone()));
        status.conditions = self.conditions(&[
            DesiredCondition::new(
                ConditionType::Ready,
                ConditionStatus::False,
                reason,
                message.clone(),
            ),
            DesiredCondition::new(
                ConditionType::Stalled,
                ConditionStatus::True,
                reason,
                message.clone(),
            ),
        ]);
        self.write(ctx, status).await?;
        if was != Some((reason.as_str().to_string(), message.clone())) {
            self.publish(ctx, EventType::Warning, reason.as_str(), message)
                .await;
        }
        Ok(Action::requeue(with_jitter(ctx.settings.drift_check_interval)))
    }

    /// The connection cannot be used: blocked when the user must act, else retried with backoff.
    pub async fn connection_problem(&mut self, ctx: &Context, problem: ConnectionProblem) -> Result<Action> {
        if problem.permanent {
            self.blocked(ctx, problem.reason, problem.message).await?;
            // A connection may be fixed without touching this object: look again soon.
            let soon = with_jitter(std::time::Duration::from_secs(30)).min(ctx.settings.drift_check_interval);
            return Ok(Action::requeue(soon));
        }
        let mut status = self.status.clone();
        status.conditions = self.conditions(&[
            DesiredCondition::new(
                ConditionType::Ready,
                ConditionStatus::False,
                problem.reason,
                problem.message.clone(),
            ),
            DesiredCondition::new(
                ConditionType::Reconciling,
                ConditionStatus::True,
                problem.reason,
                problem.message,
            ),
        ]);
        self.write(ctx, status).await?;
        let uid = self.obj.uid().unwrap_or_default();
        Ok(Action::requeue(
            problem
                .retry_after
                .map(crate::controller::context::bounded_retry_after)
                .unwrap_or_else(|| backoff(ctx.failed(&uid))),
        ))
    }

    fn conditions(
        &self,
        desired: &[DesiredCondition],
    ) -> Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition> {
        merge_conditions(
            &self.status.conditions,
            desired,
            self.obj.meta().generation,
            Utc::now(),
        )
    }

    fn status_from(&self, t: &Target, w: &World) -> ApiCredentialStatus {
        let current = w
            .record
            .credential_id
            .as_ref()
            .and_then(|id| w.credentials.iter().find(|c| &c.id == id));
        let next_rotation = match (&t.schedule, w.last_rotation.or(self.status.last_rotation_time)) {
            (Some(s), Some(last)) => schedule::next_rotation(s, last, &t.uid).ok(),
            _ => None,
        };
        let rotation_in_progress = w.record.rotation_in_progress.map(|(strategy, reason)| {
            let started_at = self
                .status
                .rotation_in_progress
                .as_ref()
                .map(|r| r.started_at)
                .unwrap_or_else(Utc::now);
            RotationInProgress {
                strategy: match strategy {
                    Strategy::Regenerate => RotationStrategy::Regenerate,
                    Strategy::Replace => RotationStrategy::Replace,
                },
                started_at,
                reason: match reason {
                    RotationReason::Schedule => api::RotationReason::Schedule,
                    RotationReason::Requested => api::RotationReason::Requested,
                    RotationReason::TokenInvalid => api::RotationReason::TokenInvalid,
                    RotationReason::SecretLost => api::RotationReason::SecretLost,
                },
            }
        });
        ApiCredentialStatus {
            observed_generation: self.obj.meta().generation,
            conditions: self.status.conditions.clone(),
            credential_id: w.record.credential_id.as_ref().map(|id| id.to_string()),
            user_id: Some(t.owner.to_string()),
            active: current.map(|c| c.active),
            label: current.map(|c| c.label.clone()),
            // The last Secret known to hold the token (kept while a new name is not yet written).
            secret_name: holds_token(w)
                .then(|| t.layout.name.clone())
                .or_else(|| self.status.secret_name.clone()),
            last_rotation_time: w.last_rotation.or(self.status.last_rotation_time),
            next_rotation_time: next_rotation,
            last_rotation_request: w.record.last_rotation_request.clone(),
            last_refresh_request: w.record.last_refresh_request.clone(),
            rotation_in_progress,
            previous_credential_id: w.record.previous_credential_id.as_ref().map(|id| id.to_string()),
            retire_at: w.record.previous_credential_id.as_ref().and(w.record.retire_at),
        }
    }

    async fn write(&mut self, ctx: &Context, status: ApiCredentialStatus) -> Result<()> {
        // Metrics follow every status the operator holds (also an unchanged one, after a restart).
        ctx.metrics.credential_status(
            &self.obj.namespace().unwrap_or_default(),
            &self.obj.name_any(),
            &status,
        );
        ctx.metrics.quota_limit(ctx.settings.quota_limit);
        if status == self.status {
            return Ok(());
        }
        let api: Api<ApiCredential> =
            Api::namespaced(ctx.kube.clone(), &self.obj.namespace().unwrap_or_default());
        let patch = StatusPatch {
            api_version: "controlhub.dev/v1alpha1",
            kind: "ApiCredential",
            status: &status,
        };
        let written = api
            .patch_status(
                &self.obj.name_any(),
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(&patch),
            )
            .await
            .map_err(Error::write(format!(
                "the status of ApiCredential {}",
                self.obj.name_any()
            )))?;
        if let (Some(uid), Some(version)) = (written.metadata.uid, written.metadata.resource_version) {
            ctx.wrote(&uid, version);
        }
        ctx.metrics.credential_status_written(&self.status, &status);
        self.status = status;
        Ok(())
    }

    async fn flush_events(&self, ctx: &Context, w: &mut World) {
        for (type_, reason, message) in std::mem::take(&mut w.events) {
            self.publish(ctx, type_, reason, message).await;
        }
    }

    async fn publish(&self, ctx: &Context, type_: EventType, reason: &str, note: String) {
        ctx.publish(&self.obj, type_, reason, note).await;
    }
}

impl Checkpoint for Report {
    async fn checkpoint(&mut self, ctx: &Context, t: &Target, w: &mut World) -> Result<()> {
        self.write_progress(ctx, t, w).await
    }
}

/// The status subresource as applied: only `status` (and the type), so spec is never touched.
#[derive(serde::Serialize, Debug)]
#[serde(rename_all = "camelCase")]
struct StatusPatch<'a> {
    api_version: &'static str,
    kind: &'static str,
    status: &'a ApiCredentialStatus,
}

/// Whether the Secret's token can be relied on: it is the recorded credential's, no check found
/// it refused, and no regenerate is under way (once one is sent the old token may be dead, even
/// if the answer was lost).
fn token_works(w: &World) -> bool {
    holds_token(w)
        && w.token_valid != Some(false)
        && !matches!(w.record.rotation_in_progress, Some((Strategy::Regenerate, _)))
        && !matches!(
            w.record.rotation_in_progress,
            Some((_, RotationReason::TokenInvalid | RotationReason::SecretLost))
        )
}

/// Whether the declared Secret holds the recorded credential.
pub fn holds_token(w: &World) -> bool {
    matches!(&w.secret, SecretState::Managed { credential_id: Some(id) } if Some(id) == w.record.credential_id.as_ref())
}

fn ready_message(t: &Target, w: &World) -> String {
    let current = w
        .record
        .credential_id
        .as_ref()
        .and_then(|id| w.credentials.iter().find(|c| &c.id == id));
    match current {
        Some(c) => format!(
            "credential {} ({}) of {} is {}; its token is in Secret {}",
            c.id,
            c.label,
            t.owner,
            if c.active { "active" } else { "inactive" },
            t.layout.name
        ),
        None => format!("the token is in Secret {}", t.layout.name),
    }
}

fn progress_reason(w: &World) -> Reason {
    match w.record.rotation_in_progress {
        Some(_) => Reason::Rotating,
        None if w.record.credential_id.is_none() => Reason::Creating,
        None => Reason::UpdatingSecret,
    }
}

fn progress_message(w: &World) -> String {
    match w.record.rotation_in_progress {
        Some((_, reason)) => format!("rotating the token ({reason:?})"),
        None if w.record.credential_id.is_none() => "creating the credential in Control Hub".into(),
        None => "bringing the credential in line with the spec".into(),
    }
}

/// After `spec.secret.name` changed: the previous Secret, if this object owns it, is deleted.
pub async fn delete_previous_secret(ctx: &Context, t: &Target) -> Result<()> {
    let Some(old) = t
        .status
        .secret_name
        .as_deref()
        .filter(|old| *old != t.layout.name)
    else {
        return Ok(());
    };
    let secrets: Api<Secret> = Api::namespaced(ctx.kube.clone(), &t.namespace);
    if let Some(existing) = secrets
        .get_opt(old)
        .await
        .map_err(Error::read(format!("Secret {old}")))?
        && secret::is_owned_by(&existing, &t.uid)
    {
        secrets
            .delete(old, &DeleteParams::default())
            .await
            .map_err(Error::write(format!("(deleting) Secret {old}")))?;
    }
    Ok(())
}
