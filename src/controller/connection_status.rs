//! Reconcile of ControlHubConnection and ClusterControlHubConnection: authenticate (`currentUser`)
//! and report Ready, the organization, the principal, whether it is an org admin, and the
//! credential counts per owner the operator last listed. Looked at again every few minutes, and
//! soon when not Ready (a fixed credentials Secret is not a change the operator is told about).

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};
use serde::Serialize;

use crate::api::conditions::merge_conditions;
use crate::api::{
    ClusterControlHubConnection, ConditionStatus, ConditionType, ConnectionKind, ConnectionStatus,
    ControlHubConnection, DesiredCondition, OwnerCredentialCount, Reason,
};
use crate::controller::connections::ConnectionKey;
use crate::controller::context::{Context, FIELD_MANAGER, with_jitter};
use crate::controller::error::{Error, Result};

const RECHECK: Duration = Duration::from_secs(300);
/// How soon a connection that is not Ready is looked at again: its credentials Secret (which the
/// operator does not watch) or Control Hub may be fixed without any change to the connection.
const RECHECK_NOT_READY: Duration = Duration::from_secs(30);

pub async fn reconcile_namespaced(obj: Arc<ControlHubConnection>, ctx: Arc<Context>) -> Result<Action> {
    let key = ConnectionKey {
        kind: ConnectionKind::ControlHubConnection,
        namespace: obj.namespace(),
        name: obj.name_any(),
    };
    let status = compute(
        &ctx,
        &key,
        obj.status.clone().unwrap_or_default(),
        obj.meta().generation,
    )
    .await;
    let api: Api<ControlHubConnection> =
        Api::namespaced(ctx.kube.clone(), &obj.namespace().unwrap_or_default());
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
    let key = ConnectionKey {
        kind: ConnectionKind::ClusterControlHubConnection,
        namespace: None,
        name: obj.name_any(),
    };
    let status = compute(
        &ctx,
        &key,
        obj.status.clone().unwrap_or_default(),
        obj.meta().generation,
    )
    .await;
    let api: Api<ClusterControlHubConnection> = Api::all(ctx.kube.clone());
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
            status.credentials_per_owner = ctx
                .owners
                .counts(key)
                .into_iter()
                .map(|(owner, count)| OwnerCredentialCount {
                    owner: owner.to_string(),
                    count: count as u32,
                })
                .collect();
            for c in &status.credentials_per_owner {
                ctx.metrics
                    .credentials_per_owner
                    .get_or_create(&crate::metrics::OwnerLabels {
                        connection: key.to_string(),
                        owner: c.owner.clone(),
                    })
                    .set(i64::from(c.count));
            }
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
    .await?;
    Ok(())
}
