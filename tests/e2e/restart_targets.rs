//! User stories of `spec.restartTargets`: workloads that read the Secret get a rollout restart (a
//! pod-template annotation change) when the token is first written and whenever it changes; a
//! target that does not exist is reported with a Warning Event and does not make the credential
//! unready. No pods run here (no kubelet): the assertions are on the workload objects.

use std::collections::BTreeMap;

use controlhub_operator::api::ROTATE_ANNOTATION;
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use kube::api::PostParams;

use crate::env::{Env, WAIT};
use crate::support::eventually;

const FINGERPRINT: &str = "controlhub.dev/token-fingerprint";
const RESTARTED_AT: &str = "controlhub.dev/restartedAt";

/// A minimal valid pod template and selector, with no replicas.
fn workload<K: serde::de::DeserializeOwned>(kind: &str, name: &str) -> K {
    let mut spec = serde_json::json!({
        "replicas": 0,
        "selector": {"matchLabels": {"app": name}},
        "template": {
            "metadata": {"labels": {"app": name}},
            "spec": {"containers": [{"name": "app", "image": "registry.invalid/app:1"}]}
        }
    });
    if kind == "StatefulSet" {
        spec["serviceName"] = name.into();
    }
    serde_json::from_value(
        serde_json::json!({"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name}, "spec": spec}),
    )
    .expect("a valid workload")
}

/// The pod template annotations of a Deployment or StatefulSet.
fn template_annotations(value: serde_json::Value) -> BTreeMap<String, String> {
    serde_json::from_value(value["spec"]["template"]["metadata"]["annotations"].clone()).unwrap_or_default()
}

/// The fingerprint of the token in the Secret (its annotation; never the token itself).
async fn secret_fingerprint(env: &Env) -> String {
    let secret = env.secrets().get("ci-bot").await.unwrap();
    secret
        .metadata
        .annotations
        .unwrap_or_default()
        .get(FINGERPRINT)
        .cloned()
        .expect("the Secret carries a fingerprint")
}

/// Waits until both workloads' templates carry `fingerprint`; returns their restartedAt values.
async fn wait_restarted(env: &Env, fingerprint: &str) -> (String, String) {
    let deployments = env.ns.api::<Deployment>();
    let statefulsets = env.ns.api::<StatefulSet>();
    eventually(
        &format!("both workloads restarted for token {fingerprint}"),
        WAIT,
        || {
            let (deployments, statefulsets) = (deployments.clone(), statefulsets.clone());
            async move {
                let d = template_annotations(serde_json::to_value(deployments.get("app").await.ok()?).ok()?);
                let s = template_annotations(serde_json::to_value(statefulsets.get("db").await.ok()?).ok()?);
                let both = d.get(FINGERPRINT).map(String::as_str) == Some(fingerprint)
                    && s.get(FINGERPRINT).map(String::as_str) == Some(fingerprint);
                if !both {
                    return None;
                }
                Some((d.get(RESTARTED_AT).cloned()?, s.get(RESTARTED_AT).cloned()?))
            }
        },
    )
    .await
}

/// A Deployment and a StatefulSet get the token's fingerprint on their pod template when the
/// token is first written, and a new fingerprint and restart time when it is rotated.
#[tokio::test]
async fn workloads_are_restarted_when_the_token_is_written_and_rotated() {
    let env = Env::start("restart").await;
    env.ns
        .api::<Deployment>()
        .create(&PostParams::default(), &workload("Deployment", "app"))
        .await
        .unwrap();
    env.ns
        .api::<StatefulSet>()
        .create(&PostParams::default(), &workload("StatefulSet", "db"))
        .await
        .unwrap();
    env.apply(
        r#"
apiVersion: controlhub.dev/v1alpha1
kind: ApiCredential
metadata:
  name: ci-bot
spec:
  restartTargets:
    - kind: Deployment
      name: app
    - kind: StatefulSet
      name: db
"#,
    )
    .await;
    env.wait_ready("ci-bot").await;
    let first = secret_fingerprint(&env).await;
    let (deployed_at, stateful_at) = wait_restarted(&env, &first).await;
    let (_, note) = env.wait_event("ci-bot", "Restarted").await;
    assert!(note.contains("app") || note.contains("db"), "{note}");

    env.annotate("ci-bot", ROTATE_ANNOTATION, "rotate-1").await;
    env.wait_for("ci-bot", "rotated", |c| {
        c.status.as_ref().and_then(|s| s.last_rotation_request.as_deref()) == Some("rotate-1")
    })
    .await;
    let second = secret_fingerprint(&env).await;
    assert_ne!(second, first, "the rotation changed the fingerprint");
    let (deployed_again, stateful_again) = wait_restarted(&env, &second).await;
    assert_ne!(
        deployed_again, deployed_at,
        "the Deployment's restart time changed"
    );
    assert_ne!(
        stateful_again, stateful_at,
        "the StatefulSet's restart time changed"
    );
    let deployment = serde_json::to_value(env.ns.api::<Deployment>().get("app").await.unwrap()).unwrap();
    let image = &deployment["spec"]["template"]["spec"]["containers"][0]["image"];
    assert_eq!(
        image, "registry.invalid/app:1",
        "nothing else in the template changed"
    );
}

/// A restart target that does not exist: a Warning Event `RestartFailed` names it, and the
/// credential is still Ready with a working token.
#[tokio::test]
async fn a_missing_restart_target_is_reported_and_the_credential_stays_ready() {
    let env = Env::start("restart-missing").await;
    env.apply(
        r#"
apiVersion: controlhub.dev/v1alpha1
kind: ApiCredential
metadata:
  name: ci-bot
spec:
  restartTargets:
    - kind: Deployment
      name: not-there
"#,
    )
    .await;
    let (type_, note) = env.wait_event("ci-bot", "RestartFailed").await;
    assert_eq!(type_, "Warning");
    assert!(note.contains("not-there"), "the Event names the target: {note}");
    env.wait_ready("ci-bot").await;
    env.assert_token_works("ci-bot").await;

    // Said once, not on every reconcile while it lasts: three more reconciles, still one Event.
    for i in 0..3 {
        let value = format!("again-{i}");
        env.annotate("ci-bot", controlhub_operator::api::REFRESH_ANNOTATION, &value)
            .await;
        env.wait_for("ci-bot", "the refresh to be handled", |c| {
            c.status.as_ref().and_then(|s| s.last_refresh_request.as_deref()) == Some(value.as_str())
        })
        .await;
    }
    let said = env
        .events_of("ci-bot")
        .await
        .iter()
        .filter(|e| e.starts_with("RestartFailed"))
        .count();
    assert_eq!(said, 1, "the missing target's Warning is said once per problem");
}
