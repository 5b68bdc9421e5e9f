//! `spec.restartTargets`: when the token in the Secret changes, workloads that use it are
//! restarted the way `kubectl rollout restart` does it, by changing an annotation on the pod
//! template. Level-based: each target's template carries the fingerprint of the token it was
//! restarted for, so a restart missed by a crash is made on the next reconcile. A target this
//! process already saw carrying the current fingerprint is not read again.

use chrono::Utc;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::events::EventType;
use serde_json::json;

use super::gather::World;
use super::resolve::Target;
use crate::api::WorkloadKind;
use crate::controller::context::{Context, FIELD_MANAGER};

/// Pod-template annotation with the fingerprint of the token the workload was restarted for.
pub const FINGERPRINT_ANNOTATION: &str = "controlhub.dev/token-fingerprint";
/// Pod-template annotation with the time of the restart (what `kubectl rollout restart` sets is
/// `kubectl.kubernetes.io/restartedAt`; we use our own to keep field ownership apart).
pub const RESTARTED_AT_ANNOTATION: &str = "controlhub.dev/restartedAt";

/// Makes every restart target's pod template carry the current token fingerprint.
pub async fn ensure_restarted(ctx: &Context, t: &Target, w: &World) {
    let Some(fingerprint) = &w.token_fingerprint else {
        return;
    };
    for target in &t.obj.spec.restart_targets {
        let seen_as = format!("{:?}/{}", target.kind, target.name);
        if ctx.restart_known(&t.uid, &seen_as, fingerprint) {
            // Already carries this token's fingerprint (seen by this process): nothing to read.
            continue;
        }
        let result = match target.kind {
            WorkloadKind::Deployment => {
                restart::<k8s_openapi::api::apps::v1::Deployment>(ctx, t, &target.name, fingerprint).await
            }
            WorkloadKind::StatefulSet => {
                restart::<k8s_openapi::api::apps::v1::StatefulSet>(ctx, t, &target.name, fingerprint).await
            }
            WorkloadKind::DaemonSet => {
                restart::<k8s_openapi::api::apps::v1::DaemonSet>(ctx, t, &target.name, fingerprint).await
            }
        };
        if !matches!(result, Ok(false)) {
            ctx.metrics.restarted(target.kind, result.is_ok());
        }
        if result.is_ok() {
            ctx.restart_seen(&t.uid, seen_as, fingerprint);
        }
        let kind = format!("{:?}", target.kind);
        match result {
            Ok(true) => {
                ctx.publish(
                    &t.obj,
                    EventType::Normal,
                    "Restarted",
                    format!("restarted {kind} {} for the new token", target.name),
                )
                .await
            }
            Ok(false) => {}
            Err(e) => {
                // Said once per object and problem, not on every reconcile while it lasts.
                let message = format!("could not restart {kind} {}: {e}", target.name);
                if ctx.is_news(&t.uid, &message) {
                    ctx.publish(&t.obj, EventType::Warning, "RestartFailed", message)
                        .await
                }
            }
        }
    }
}

async fn restart<K>(ctx: &Context, t: &Target, name: &str, fingerprint: &str) -> Result<bool, String>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(ctx.kube.clone(), &t.namespace);
    let Some(obj) = api.get_opt(name).await.map_err(|e| e.to_string())? else {
        return Err(format!("it does not exist in namespace {}", t.namespace));
    };
    let current = serde_json::to_value(&obj).ok().and_then(|v| {
        v.pointer(&format!(
            "/spec/template/metadata/annotations/{}",
            FINGERPRINT_ANNOTATION.replace('/', "~1")
        ))
        .cloned()
    });
    if current.as_ref().and_then(|v| v.as_str()) == Some(fingerprint) {
        return Ok(false);
    }
    let patch = json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "spec": {"template": {"metadata": {"annotations": {
            FINGERPRINT_ANNOTATION: fingerprint,
            RESTARTED_AT_ANNOTATION: Utc::now().to_rfc3339(),
        }}}}
    });
    api.patch(
        name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await
    .map_err(|e| e.to_string())?;
    Ok(true)
}
