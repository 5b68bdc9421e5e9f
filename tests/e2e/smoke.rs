//! The harness is real: a genuine kube-apiserver that stores objects, enforces RBAC and reports the
//! version we built, and a genuine kube-controller-manager that garbage-collects dependents.

use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};

use crate::support::{TestNamespace, eventually, plane};

const WIDGET_CRD: &str = r#"{
  "apiVersion": "apiextensions.k8s.io/v1",
  "kind": "CustomResourceDefinition",
  "metadata": {"name": "widgets.smoke.controlhub.dev"},
  "spec": {
    "group": "smoke.controlhub.dev",
    "names": {"kind": "Widget", "plural": "widgets", "singular": "widget"},
    "scope": "Namespaced",
    "versions": [{"name": "v1", "served": true, "storage": true,
      "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]
  }
}"#;

/// The server we talk to is the kube-apiserver we built, at the version pinned in tools/k8s/go.mod.
#[tokio::test]
async fn server_reports_the_version_we_built() {
    let go_mod = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tools/k8s/go.mod")).unwrap();
    let pinned = go_mod
        .lines()
        .find_map(|l| {
            let l = l.trim();
            let rest = l
                .strip_prefix("require k8s.io/kubernetes ")
                .or_else(|| l.strip_prefix("k8s.io/kubernetes "))?;
            rest.split_whitespace().next().map(str::to_string)
        })
        .expect("tools/k8s/go.mod pins k8s.io/kubernetes");
    let client = plane().client().await;
    let info = client.apiserver_version().await.expect("GET /version");
    assert_eq!(info.git_version, pinned, "apiserver /version");
    assert_eq!(
        plane().version,
        pinned,
        "kubectl version reports the server version"
    );
}

/// Deleting an owner makes kube-controller-manager's garbage collector delete its dependents, for a
/// custom resource type too (the mechanism the operator relies on to remove Secrets with their CR).
#[tokio::test]
async fn garbage_collector_deletes_a_secret_owned_by_a_custom_object() {
    let ns = TestNamespace::create("smoke-gc").await;
    let crds: Api<CustomResourceDefinition> = Api::all(ns.client.clone());
    let crd: CustomResourceDefinition = serde_json::from_str(WIDGET_CRD).unwrap();
    match crds.create(&PostParams::default(), &crd).await {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 409 => {}
        Err(e) => panic!("creating the Widget CRD: {e}"),
    }
    eventually(
        "the Widget CRD to be Established",
        Duration::from_secs(30),
        || {
            let crds = crds.clone();
            async move {
                let crd = crds.get("widgets.smoke.controlhub.dev").await.ok()?;
                let conds = crd.status?.conditions?;
                conds
                    .iter()
                    .any(|c| c.type_ == "Established" && c.status == "True")
                    .then_some(())
            }
        },
    )
    .await;

    let gvk = GroupVersionKind::gvk("smoke.controlhub.dev", "v1", "Widget");
    let ar = ApiResource::from_gvk_with_plural(&gvk, "widgets");
    let widgets: Api<DynamicObject> = Api::namespaced_with(ns.client.clone(), &ns.name, &ar);
    let mut widget = DynamicObject::new("owner", &ar);
    widget.data = serde_json::json!({"spec": {"size": 1}});
    let widget = widgets
        .create(&PostParams::default(), &widget)
        .await
        .expect("creating a Widget");

    let secrets: Api<Secret> = ns.api();
    let secret = Secret {
        metadata: kube::api::ObjectMeta {
            name: Some("dependent".into()),
            owner_references: Some(vec![OwnerReference {
                api_version: "smoke.controlhub.dev/v1".into(),
                kind: "Widget".into(),
                name: widget.name_any(),
                uid: widget.uid().expect("created objects have a uid"),
                ..Default::default()
            }]),
            ..Default::default()
        },
        string_data: Some([("k".to_string(), "v".to_string())].into()),
        ..Default::default()
    };
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .expect("creating the dependent Secret");

    widgets
        .delete("owner", &DeleteParams::background())
        .await
        .expect("deleting the owner");
    // The GC re-discovers new resource types every 30 s, so allow for that.
    eventually(
        "the dependent Secret to be garbage-collected",
        Duration::from_secs(120),
        || {
            let secrets = secrets.clone();
            async move { matches!(secrets.get_opt("dependent").await, Ok(None)).then_some(()) }
        },
    )
    .await;
}

/// RBAC is enforced: a ServiceAccount with no Role bound may not read Secrets.
#[tokio::test]
async fn rbac_denies_a_service_account_without_a_role() {
    let ns = TestNamespace::create("smoke-rbac").await;
    let user = format!("system:serviceaccount:{}:nobody", ns.name);
    let nobody = plane()
        .impersonating(&user, &["system:serviceaccounts", "system:authenticated"])
        .await;
    let err = Api::<Secret>::namespaced(nobody, &ns.name)
        .list(&ListParams::default())
        .await
        .expect_err("an unprivileged ServiceAccount must not list Secrets");
    match err {
        kube::Error::Api(status) => assert_eq!(status.code, 403, "expected Forbidden, got {status:?}"),
        other => panic!("expected a 403 from the API server, got {other}"),
    }
    // The admin may.
    ns.api::<Secret>()
        .list(&ListParams::default())
        .await
        .expect("admin lists Secrets");
}

/// kube-controller-manager's namespace controller finishes namespace deletion (no namespace stays
/// Terminating forever), which every test's cleanup relies on.
#[tokio::test]
async fn namespace_controller_finishes_namespace_deletion() {
    let ns = TestNamespace::create("smoke-ns").await;
    let secrets: Api<Secret> = ns.api();
    let secret = Secret {
        metadata: kube::api::ObjectMeta {
            name: Some("content".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    secrets.create(&PostParams::default(), &secret).await.unwrap();
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(ns.client.clone());
    namespaces
        .delete(&ns.name, &DeleteParams::default())
        .await
        .unwrap();
    eventually("the namespace to be gone", Duration::from_secs(60), || {
        let namespaces = namespaces.clone();
        let name = ns.name.clone();
        async move { matches!(namespaces.get_opt(&name).await, Ok(None)).then_some(()) }
    })
    .await;
}
