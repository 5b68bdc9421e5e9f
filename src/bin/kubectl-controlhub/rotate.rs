//! `kubectl controlhub rotate NAME`: asks for one rotation (a new value of the
//! `controlhub.dev/rotate` annotation) and waits until the operator has stored the new token.
//!
//! Done means: status records the request as handled (`lastRotationRequest`), no rotation is under
//! way, Ready=True, and the Secret's token fingerprint annotation changed (or, for a caller who may
//! not read the Secret, `lastRotationTime` moved). A stalled object or a blocked rotation fails at
//! once; anything else is waited for until the timeout. [`judge`] is pure.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use controlhub_operator::api::conditions::find_condition;
use controlhub_operator::api::{ApiCredential, ConditionType, ROTATE_ANNOTATION, Reason};
use controlhub_operator::controller::apicredential::secret::FINGERPRINT_ANNOTATION;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams};

use crate::cluster::Cluster;
use crate::error::{CliError, kube_error};

/// How often the object is read again while waiting.
const POLL: Duration = Duration::from_millis(500);

/// What was there before the request, to tell the new token from the old one.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Before {
    pub last_rotation_time: Option<DateTime<Utc>>,
    /// The Secret's fingerprint annotation; `None` when the caller may not read the Secret.
    pub fingerprint: Option<Option<String>>,
}

/// Where a rotation stands.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    /// Not finished; says what is awaited.
    Waiting(String),
    /// The new token is in the Secret and the object is Ready.
    Done,
    /// It will not finish without a change (stalled, blocked).
    Failed(String),
}

/// Where the rotation asked for with `request` stands, given the object and the Secret's
/// fingerprint now (`None` when unreadable, as in `before`).
pub fn judge(
    cred: &ApiCredential,
    request: &str,
    before: &Before,
    fingerprint: Option<Option<String>>,
) -> Progress {
    let status = cred.status.clone().unwrap_or_default();
    let ready = find_condition(&status.conditions, ConditionType::Ready);
    let stalled = find_condition(&status.conditions, ConditionType::Stalled).filter(|c| c.status == "True");
    let describe = |c: &k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition| {
        format!("Ready={} reason {}: {}", c.status, c.reason, c.message)
    };
    if let Some(stalled) = stalled {
        let text = ready.map_or_else(|| describe(stalled), describe);
        return Progress::Failed(format!("the rotation cannot proceed: {text}"));
    }
    if let Some(r) = ready.filter(|r| r.reason == Reason::RotationBlocked.as_str()) {
        return Progress::Failed(format!(
            "the rotation is blocked ({}): {} (the current token keeps working)",
            r.reason, r.message
        ));
    }
    let handled = status.last_rotation_request.as_deref() == Some(request);
    if !handled {
        return Progress::Waiting("the operator to take up the request".into());
    }
    if let Some(in_progress) = &status.rotation_in_progress {
        return Progress::Waiting(format!(
            "the {:?} rotation under way to finish",
            in_progress.strategy
        ));
    }
    match ready {
        Some(r) if r.status == "True" => {}
        Some(r) => return Progress::Waiting(format!("Ready=True (now {})", describe(r))),
        None => return Progress::Waiting("a Ready condition".into()),
    }
    let token_changed = match (&before.fingerprint, fingerprint) {
        (Some(old), Some(new)) => new.is_some() && &new != old,
        _ => status.last_rotation_time.is_some() && status.last_rotation_time != before.last_rotation_time,
    };
    if token_changed {
        Progress::Done
    } else {
        Progress::Waiting("the new token in the Secret".into())
    }
}

/// Sets a new rotate request on `namespace/name` and waits up to `timeout` for it to finish.
pub async fn run(
    cluster: &Cluster,
    namespace: &str,
    name: &str,
    timeout: Duration,
) -> Result<String, CliError> {
    let api: Api<ApiCredential> = Api::namespaced(cluster.client.clone(), namespace);
    let what = format!("ApiCredential {namespace}/{name}");
    let cred = api.get(name).await.map_err(kube_error(
        &format!("read {what}"),
        &what,
        "ask for get on apicredentials.controlhub.dev in that namespace",
    ))?;
    let secrets: Api<Secret> = Api::namespaced(cluster.client.clone(), namespace);
    let secret_name = cred
        .status
        .as_ref()
        .and_then(|s| s.secret_name.clone())
        .unwrap_or_else(|| cred.secret_name().to_string());
    let before = Before {
        last_rotation_time: cred.status.as_ref().and_then(|s| s.last_rotation_time),
        fingerprint: fingerprint(&secrets, &secret_name).await,
    };
    if before.fingerprint.is_none() {
        eprintln!(
            "note: cannot read Secret {namespace}/{secret_name}; the new token is confirmed from the ApiCredential's status only"
        );
    }
    let request = Utc::now().to_rfc3339_opts(SecondsFormat::Nanos, true);
    let patch = serde_json::json!({"metadata": {"annotations": {ROTATE_ANNOTATION: request}}});
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(kube_error(
            &format!("annotate {what}"),
            &what,
            "rotating needs patch on apicredentials.controlhub.dev in that namespace",
        ))?;
    let started = tokio::time::Instant::now();
    let deadline = started + timeout;
    loop {
        let cred = api
            .get_opt(name)
            .await
            .map_err(kube_error(&format!("read {what}"), &what, ""))?
            .ok_or_else(|| CliError::Rotation(format!("{what} was deleted while rotating")))?;
        let now = if before.fingerprint.is_some() {
            fingerprint(&secrets, &secret_name).await
        } else {
            None
        };
        match judge(&cred, &request, &before, now) {
            Progress::Done => {
                let id = cred.status.and_then(|s| s.credential_id).unwrap_or_default();
                return Ok(format!(
                    "apicredential {namespace}/{name} rotated in {:.1}s: credential {id}, new token in Secret {secret_name}",
                    started.elapsed().as_secs_f64()
                ));
            }
            Progress::Failed(why) => return Err(CliError::Rotation(format!("{what}: {why}"))),
            Progress::Waiting(what_for) if tokio::time::Instant::now() >= deadline => {
                return Err(CliError::Rotation(format!(
                    "{what}: timed out after {} waiting for {what_for}",
                    humantime::format_duration(timeout)
                )));
            }
            Progress::Waiting(_) => tokio::time::sleep(POLL).await,
        }
    }
}

/// The Secret's token fingerprint annotation: `Some(None)` when the Secret or the annotation is
/// missing, `None` when the caller may not read it.
async fn fingerprint(secrets: &Api<Secret>, name: &str) -> Option<Option<String>> {
    match secrets.get_metadata_opt(name).await {
        Ok(meta) => Some(meta.and_then(|m| m.metadata.annotations?.get(FINGERPRINT_ANNOTATION).cloned())),
        Err(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQUEST: &str = "2026-11-30T18:00:00.000000001Z";

    fn cred(status: serde_json::Value) -> ApiCredential {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "controlhub.dev/v1alpha1",
            "kind": "ApiCredential",
            "metadata": {"name": "ci-bot", "namespace": "apps"},
            "spec": {},
            "status": status,
        }))
        .expect("a valid ApiCredential")
    }

    fn condition(type_: &str, status: &str, reason: &str) -> serde_json::Value {
        serde_json::json!({"type": type_, "status": status, "reason": reason,
            "message": format!("{reason} message"), "lastTransitionTime": "2026-11-30T18:00:00Z"})
    }

    fn before() -> Before {
        Before {
            last_rotation_time: Some("2026-11-30T17:00:00Z".parse().unwrap()),
            fingerprint: Some(Some("old".into())),
        }
    }

    fn finished(last_rotation: &str) -> ApiCredential {
        cred(serde_json::json!({
            "lastRotationRequest": REQUEST,
            "lastRotationTime": last_rotation,
            "conditions": [condition("Ready", "True", "Ready")]
        }))
    }

    #[test]
    fn done_only_once_the_request_is_handled_ready_and_the_secret_holds_another_token() {
        let done = finished("2026-11-30T18:00:01Z");
        assert_eq!(
            judge(&done, REQUEST, &before(), Some(Some("new".into()))),
            Progress::Done
        );
        assert!(matches!(
            judge(&done, REQUEST, &before(), Some(Some("old".into()))),
            Progress::Waiting(w) if w.contains("new token")
        ));
        assert!(matches!(
            judge(&done, "another request", &before(), Some(Some("new".into()))),
            Progress::Waiting(w) if w.contains("take up")
        ));
    }

    #[test]
    fn a_rotation_under_way_or_not_ready_is_waited_for() {
        let mut rotating = finished("2026-11-30T18:00:01Z");
        rotating.status.as_mut().unwrap().rotation_in_progress = Some(serde_json::from_value(
            serde_json::json!({"strategy": "Regenerate", "startedAt": "2026-11-30T18:00:00Z", "reason": "Requested"}),
        ).unwrap());
        assert!(matches!(
            judge(&rotating, REQUEST, &before(), Some(Some("new".into()))),
            Progress::Waiting(_)
        ));
        let not_ready = cred(serde_json::json!({
            "lastRotationRequest": REQUEST,
            "conditions": [condition("Ready", "False", "ControlHubUnavailable")]
        }));
        assert!(matches!(
            judge(&not_ready, REQUEST, &before(), Some(Some("new".into()))),
            Progress::Waiting(w) if w.contains("ControlHubUnavailable")
        ));
    }

    #[test]
    fn stalled_and_blocked_fail_at_once_with_the_reason() {
        let stalled = cred(serde_json::json!({"conditions": [
            condition("Ready", "False", "QuotaExceeded"), condition("Stalled", "True", "QuotaExceeded")
        ]}));
        assert!(matches!(
            judge(&stalled, REQUEST, &before(), None),
            Progress::Failed(m) if m.contains("Ready=False reason QuotaExceeded: QuotaExceeded message")
        ));
        let blocked =
            cred(serde_json::json!({"conditions": [condition("Ready", "True", "RotationBlocked")]}));
        assert!(matches!(
            judge(&blocked, REQUEST, &before(), None),
            Progress::Failed(m) if m.contains("blocked (RotationBlocked)")
        ));
    }

    #[test]
    fn without_secret_access_the_rotation_time_must_move() {
        let blind = Before {
            fingerprint: None,
            ..before()
        };
        assert_eq!(
            judge(&finished("2026-11-30T18:00:01Z"), REQUEST, &blind, None),
            Progress::Done
        );
        assert!(matches!(
            judge(&finished("2026-11-30T17:00:00Z"), REQUEST, &blind, None),
            Progress::Waiting(_)
        ));
    }
}
