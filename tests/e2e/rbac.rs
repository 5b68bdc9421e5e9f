//! The operator runs with exactly the permissions the Helm chart grants: the chart's ClusterRole
//! and leader-election Role are rendered with `helm template`, bound to the ServiceAccount
//! `controlhub-operator` of the test namespace, and the operator is started with a kubeconfig that
//! impersonates that ServiceAccount, with leader election on. The full story must work, and the
//! identity must not be able to do what the operator never needs.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use controlhub_operator::api::{ApiCredential, ROTATE_ANNOTATION};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DeleteParams, PostParams};

use crate::env::{Env, EnvOptions, WAIT};
use crate::support::{eventually, plane};

const SERVICE_ACCOUNT: &str = "controlhub-operator";
const LEASE: &str = "controlhub-operator";
const GROUPS: [&str; 2] = ["system:serviceaccounts", "system:authenticated"];

const CI_BOT: &str = r#"
apiVersion: controlhub.dev/v1alpha1
kind: ApiCredential
metadata:
  name: ci-bot
spec:
  name: CI bot
"#;

fn user(ns: &str) -> String {
    format!("system:serviceaccount:{ns}:{SERVICE_ACCOUNT}")
}

/// The chart's ServiceAccount, ClusterRole(+Binding) and leader-election Role(+Binding), rendered
/// for release namespace `ns` under a name unique to the test (cluster-scoped objects are shared).
fn render_chart_rbac(ns: &str, fullname: &str) -> String {
    let root = controlhub_testkit::process::workspace_root();
    let out = Command::new(plane().bin_dir.join("helm"))
        .args(["template", "controlhub-operator"])
        .arg(root.join("charts/controlhub-operator"))
        .args(["--namespace", ns])
        .args(["--set", &format!("fullnameOverride={fullname}")])
        .args(["--set", &format!("serviceAccount.name={SERVICE_ACCOUNT}")])
        .args(["--set", &format!("operator.leaderElection.leaseName={LEASE}")])
        .args(["--show-only", "templates/serviceaccount.yaml"])
        .args(["--show-only", "templates/clusterrole.yaml"])
        .args(["--show-only", "templates/role.yaml"])
        .output()
        .expect("running helm");
    assert!(
        out.status.success(),
        "helm template failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("helm prints UTF-8")
}

fn kubectl_apply(yaml: &str) {
    let mut child = plane()
        .kubectl()
        .args(["apply", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running kubectl apply");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(yaml.as_bytes())
        .expect("writing the manifests");
    let out = child.wait_with_output().expect("kubectl apply finishes");
    assert!(
        out.status.success(),
        "kubectl apply failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Deletes the cluster-scoped RBAC objects of one test when dropped.
struct ClusterRbac(String);

impl Drop for ClusterRbac {
    fn drop(&mut self) {
        let _ = plane()
            .kubectl()
            .args([
                "delete",
                "clusterrole,clusterrolebinding",
                &self.0,
                "--ignore-not-found",
                "--wait=false",
            ])
            .output();
    }
}

/// The admin kubeconfig with every user impersonating the operator's ServiceAccount.
fn impersonating_kubeconfig(ns: &str, dir: &std::path::Path) -> PathBuf {
    let text = std::fs::read_to_string(&plane().kubeconfig).expect("admin kubeconfig");
    let mut config: serde_yaml::Value = serde_yaml::from_str(&text).expect("kubeconfig is YAML");
    let users = config["users"].as_sequence_mut().expect("kubeconfig has users");
    for entry in users {
        let user_map = entry["user"].as_mapping_mut().expect("a user entry");
        user_map.insert("as".into(), user(ns).into());
        user_map.insert(
            "as-groups".into(),
            serde_yaml::Value::Sequence(GROUPS.iter().map(|g| (*g).into()).collect()),
        );
    }
    let path = dir.join("kubeconfig-operator-sa.yaml");
    std::fs::write(
        &path,
        serde_yaml::to_string(&config).expect("kubeconfig serializes"),
    )
    .expect("writing the kubeconfig");
    path
}

/// With only the chart's RBAC, impersonating its ServiceAccount and electing a leader through a
/// Lease, the operator creates, rotates and deletes a credential; the identity can not create
/// Deployments, delete namespaces or create ApiCredentials.
#[tokio::test]
async fn the_operator_works_with_only_the_charts_permissions() {
    let mut env = Env::start_with(
        "rbac",
        EnvOptions {
            allowed_user_ids: vec!["*".into()],
            no_operator: true,
            ..Default::default()
        },
    )
    .await;
    let fullname = format!("{}-op", env.ns.name);
    let _cleanup = ClusterRbac(fullname.clone());
    kubectl_apply(&render_chart_rbac(&env.ns.name, &fullname));

    let kubeconfig = impersonating_kubeconfig(&env.ns.name, &env.dir);
    let whoami = Command::new(plane().bin_dir.join("kubectl"))
        .args(["auth", "whoami", "-o", "jsonpath={.status.userInfo.username}"])
        .env("KUBECONFIG", &kubeconfig)
        .output()
        .expect("kubectl auth whoami");
    assert_eq!(
        String::from_utf8_lossy(&whoami.stdout),
        user(&env.ns.name),
        "the kubeconfig acts as the ServiceAccount"
    );
    env.operator.set_arg("leader-election", "true");
    env.operator.set_arg("lease-namespace", &env.ns.name);
    env.operator.set_arg("lease-name", LEASE);
    env.operator.set_arg("identity", "e2e-rbac-replica");
    env.operator
        .restart_with(&[("KUBECONFIG".into(), kubeconfig.display().to_string())]);

    // It became leader through the chart's Role.
    let leases: Api<Lease> = env.ns.api();
    eventually("the operator to hold the Lease", WAIT, || {
        let leases = leases.clone();
        async move {
            let lease = leases.get_opt(LEASE).await.ok().flatten()?;
            (lease.spec?.holder_identity.as_deref() == Some("e2e-rbac-replica")).then_some(())
        }
    })
    .await;

    // Create → Ready.
    env.apply(CI_BOT).await;
    env.wait_ready("ci-bot").await;
    let (id, old) = env.assert_token_works("ci-bot").await;
    env.wait_connection_reason(crate::env::CONNECTION, "Ready").await;
    assert!(
        env.events_of("ci-bot")
            .await
            .iter()
            .any(|e| e.starts_with("Created:")),
        "the Created Event was published"
    );

    // Rotate.
    env.annotate("ci-bot", ROTATE_ANNOTATION, "rbac-1").await;
    env.wait_for("ci-bot", "rotation rbac-1 done", |c| {
        c.status.as_ref().and_then(|s| s.last_rotation_request.as_deref()) == Some("rbac-1")
    })
    .await;
    env.wait_ready("ci-bot").await;
    let (new_id, new) = env.assert_token_works("ci-bot").await;
    assert_eq!(new_id, id);
    assert_ne!(new, old);
    assert_eq!(env.token_status(&id, &old).await, 401);

    // Delete.
    env.delete("ci-bot").await;
    env.wait_gone("ci-bot").await;
    assert!(
        env.managed_credentials().await.is_empty(),
        "the credential was deleted in Control Hub"
    );

    let log = env.operator.log();
    assert!(
        !log.contains("forbidden") && !log.contains("Forbidden"),
        "the operator never hit a permission error:\n{log}"
    );

    // Least privilege: what the operator never does, this identity can not do.
    let sa = plane().impersonating(&user(&env.ns.name), &GROUPS).await;
    let deployment: Deployment = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "not-allowed"},
        "spec": {
            "selector": {"matchLabels": {"app": "x"}},
            "template": {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": [{"name": "x", "image": "x"}]}}
        }
    }))
    .unwrap();
    let denied = Api::<Deployment>::namespaced(sa.clone(), &env.ns.name)
        .create(&PostParams::default(), &deployment)
        .await;
    assert_forbidden(denied.map(|_| ()), "create a Deployment");
    let denied = Api::<Namespace>::all(sa.clone())
        .delete(&env.ns.name, &DeleteParams::default())
        .await;
    assert_forbidden(denied.map(|_| ()), "delete a namespace");
    let credential: ApiCredential = serde_json::from_value(serde_json::json!({
        "apiVersion": "controlhub.dev/v1alpha1", "kind": "ApiCredential",
        "metadata": {"name": "minted-by-operator"}, "spec": {}
    }))
    .unwrap();
    let denied = Api::<ApiCredential>::namespaced(sa.clone(), &env.ns.name)
        .create(&PostParams::default(), &credential)
        .await;
    assert_forbidden(denied.map(|_| ()), "create an ApiCredential");
    let denied = Api::<Lease>::namespaced(sa, "kube-system")
        .get_opt("kube-controller-manager")
        .await;
    assert_forbidden(denied.map(|_| ()), "read Leases outside its own namespace");
}

fn assert_forbidden(result: Result<(), kube::Error>, what: &str) {
    match result {
        Err(kube::Error::Api(e)) if e.code == 403 => {}
        other => panic!("the operator's identity must not {what}: got {other:?}"),
    }
}
