//! The Helm chart and the kustomize base are valid against the real API server: `scripts/check-chart.sh`
//! lints and renders the chart with every values file, refuses bad values, and server-side dry-runs
//! every rendering, the kustomize base and the examples; the chart's aggregated ClusterRoles give
//! namespace users the operator's resources through the built-in roles.

use std::io::Write;
use std::process::Stdio;

use controlhub_operator::api::{ApiCredential, ClusterControlHubConnection, ControlHubConnection};
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::{Api, ListParams, PostParams};

use crate::env::{WAIT, install_crds};
use crate::support::{TestNamespace, eventually, plane};

/// `helm lint`, `helm template` and `kubectl apply --dry-run=server` of the chart and the base succeed.
#[tokio::test]
async fn chart_and_kustomize_base_pass_server_side_validation() {
    let root = env!("CARGO_MANIFEST_DIR");
    let out = tokio::process::Command::new("bash")
        .arg(format!("{root}/scripts/check-chart.sh"))
        .env("KUBECONFIG", &plane().kubeconfig)
        .env("K8S_BIN_DIR", &plane().bin_dir)
        .current_dir(root)
        .output()
        .await
        .expect("running scripts/check-chart.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "check-chart.sh failed:\n{stdout}\n{stderr}");
    assert!(
        stdout.contains(" 0 failed"),
        "check-chart.sh summary missing:\n{stdout}"
    );
}

/// The chart's aggregated ClusterRoles (`rbac.aggregateToDefaultRoles`) reach the built-in roles
/// through the ClusterRole aggregation controller: a user bound to `edit` in a namespace manages
/// ApiCredentials and ControlHubConnections there (but no ClusterControlHubConnection), and a user
/// bound to `view` reads ApiCredentials but can neither create them nor read Secrets.
#[tokio::test]
async fn edit_and_view_users_get_the_operators_resources_through_the_aggregated_roles() {
    install_crds().await;
    let ns = TestNamespace::create("aggregate").await;
    let fullname = format!("{}-agg", ns.name);
    let _cleanup = AggregatedRoles(fullname.clone());
    kubectl_apply(&render_aggregated_roles(&fullname));
    kubectl_apply(&format!(
        "{}---\n{}",
        role_binding(&ns.name, "editor", "edit"),
        role_binding(&ns.name, "viewer", "view")
    ));

    let editor = plane().impersonating("editor", &["system:authenticated"]).await;
    let credentials: Api<ApiCredential> = Api::namespaced(editor.clone(), &ns.name);
    let credential: ApiCredential = serde_json::from_value(serde_json::json!({
        "apiVersion": "controlhub.dev/v1alpha1", "kind": "ApiCredential",
        "metadata": {"name": "ci-bot"}, "spec": {"name": "CI bot"}
    }))
    .expect("an ApiCredential");
    // Aggregation is asynchronous: the rules reach `edit` within moments of the ClusterRole.
    eventually("the edit role to allow creating ApiCredentials", WAIT, || {
        let credentials = credentials.clone();
        let credential = credential.clone();
        async move { credentials.create(&PostParams::default(), &credential).await.ok() }
    })
    .await;
    let connection: ControlHubConnection = serde_json::from_value(serde_json::json!({
        "apiVersion": "controlhub.dev/v1alpha1", "kind": "ControlHubConnection",
        "metadata": {"name": "team"},
        "spec": {"url": "https://controlhub.example.com", "credentialsSecretRef": {"name": "team"}}
    }))
    .expect("a ControlHubConnection");
    Api::<ControlHubConnection>::namespaced(editor.clone(), &ns.name)
        .create(&PostParams::default(), &connection)
        .await
        .expect("an editor creates a ControlHubConnection in its namespace");
    let denied = Api::<ClusterControlHubConnection>::all(editor)
        .list(&ListParams::default())
        .await;
    assert_forbidden(denied.map(|_| ()), "an editor lists ClusterControlHubConnections");

    let viewer = plane().impersonating("viewer", &["system:authenticated"]).await;
    let visible: Api<ApiCredential> = Api::namespaced(viewer.clone(), &ns.name);
    let names = eventually("the view role to allow listing ApiCredentials", WAIT, || {
        let visible = visible.clone();
        async move { visible.list(&ListParams::default()).await.ok() }
    })
    .await;
    assert_eq!(
        names.items.iter().map(|c| c.name_any()).collect::<Vec<_>>(),
        ["ci-bot"]
    );
    let mut second = credential.clone();
    second.metadata.name = Some("not-allowed".into());
    let denied = visible.create(&PostParams::default(), &second).await;
    assert_forbidden(denied.map(|_| ()), "a viewer creates an ApiCredential");
    let denied = Api::<Secret>::namespaced(viewer, &ns.name)
        .list(&ListParams::default())
        .await;
    assert_forbidden(denied.map(|_| ()), "a viewer lists Secrets");
}

/// The chart's aggregated ClusterRoles, named after `fullname` (cluster-scoped objects are shared
/// by the tests).
fn render_aggregated_roles(fullname: &str) -> String {
    let root = controlhub_testkit::process::workspace_root();
    let out = std::process::Command::new(plane().bin_dir.join("helm"))
        .args(["template", "controlhub-operator"])
        .arg(root.join("charts/controlhub-operator"))
        .args(["--set", &format!("fullnameOverride={fullname}")])
        .args(["--show-only", "templates/aggregate-clusterroles.yaml"])
        .output()
        .expect("running helm");
    assert!(
        out.status.success(),
        "helm template failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("helm prints UTF-8")
}

fn role_binding(ns: &str, user: &str, cluster_role: &str) -> String {
    format!(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: {user}\n  \
         namespace: {ns}\nroleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: ClusterRole\n  \
         name: {cluster_role}\nsubjects:\n  - apiGroup: rbac.authorization.k8s.io\n    kind: User\n    \
         name: {user}\n"
    )
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

/// Deletes one test's aggregated ClusterRoles when dropped.
struct AggregatedRoles(String);

impl Drop for AggregatedRoles {
    fn drop(&mut self) {
        let _ = plane()
            .kubectl()
            .args([
                "delete",
                "clusterrole",
                &format!("{}-edit", self.0),
                &format!("{}-view", self.0),
                "--ignore-not-found",
                "--wait=false",
            ])
            .output();
    }
}

fn assert_forbidden(result: Result<(), kube::Error>, what: &str) {
    match result {
        Err(kube::Error::Api(e)) if e.code == 403 => {}
        other => panic!("{what} must be forbidden: got {other:?}"),
    }
}

/// The series the chart's alerts and dashboard rest on (`monitoring.*`, tests/monitoring.rs) are
/// there while an ApiCredential is, with its Ready reason and rotation times, and go with it: a
/// deleted object leaves no series behind.
#[tokio::test]
async fn the_alerts_series_follow_an_apicredential_and_go_with_it() {
    let env = crate::env::Env::start("alerts").await;
    env.apply(
        "apiVersion: controlhub.dev/v1alpha1\nkind: ApiCredential\nmetadata:\n  name: watched\nspec:\n  name: Watched\n  rotation:\n    interval: 720h\n",
    )
    .await;
    env.wait_ready("watched").await;
    let ns = env.ns.name.clone();
    let ready = format!(
        r#"controlhub_operator_credential_ready{{namespace="{ns}",name="watched",reason="Ready"}} 1"#
    );
    let next = format!(
        r#"controlhub_operator_credential_next_rotation_timestamp_seconds{{namespace="{ns}",name="watched"}}"#
    );
    let metrics = eventually("the ready and rotation series", WAIT, || async {
        let m = env.scrape_metrics().await;
        (m.contains(&ready) && m.contains(&next)).then_some(m)
    })
    .await;
    assert!(
        metrics.contains("controlhub_operator_credential_quota_limit 10"),
        "{metrics}"
    );
    // A rotation asked for by annotation is counted by its reason once it finished.
    env.annotate("watched", controlhub_operator::api::ROTATE_ANNOTATION, "alerts-1")
        .await;
    eventually("the rotation to be counted", WAIT, || async {
        env.scrape_metrics()
            .await
            .contains(r#"controlhub_operator_rotations_total{reason="Requested"} 1"#)
            .then_some(())
    })
    .await;
    env.delete("watched").await;
    env.wait_gone("watched").await;
    let gone = format!(r#"namespace="{ns}",name="watched""#);
    eventually("the series of the deleted ApiCredential to go", WAIT, || async {
        (!env.scrape_metrics().await.contains(&gone)).then_some(())
    })
    .await;
}

/// `controlhub_credentials_per_owner` follows each owner's list as the operator knows it: set when
/// the list is fetched or the operator changes it (no connection check needed), the series of an
/// owner removed once its last ApiCredential is gone (at the connection's next look), and every
/// series of a connection removed when the connection is deleted.
#[tokio::test]
async fn the_per_owner_series_follow_the_lists_and_go_with_the_last_owner_and_the_connection() {
    let env = crate::env::Env::start("owner-series").await;
    let robot = env
        .emulator
        .create_user("robot@example.com", "Robot", &[], true)
        .await;
    let admin = env.emulator.admin().user_id.clone();
    let named = |name: &str, user: Option<&str>| {
        let user = user.map_or(String::new(), |u| format!("  userId: {u}\n"));
        format!(
            "apiVersion: controlhub.dev/v1alpha1\nkind: ApiCredential\nmetadata:\n  name: {name}\nspec:\n{user}"
        )
    };
    env.apply(&named("mine", None)).await;
    env.apply(&named("robot", Some(&robot))).await;
    env.wait_ready("mine").await;
    env.wait_ready("robot").await;
    let ns = env.ns.name.clone();
    let connection = format!(
        r#"connection="ControlHubConnection {ns}/{}""#,
        crate::env::CONNECTION
    );
    let series = |owner: &str| {
        format!(r#"controlhub_operator_controlhub_credentials_per_owner{{{connection},owner="{owner}"}} "#)
    };
    let value = |metrics: &str, owner: &str| -> Option<i64> {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&series(owner))?.trim().parse().ok())
    };
    // The bootstrap credential and mine; the robot's one.
    eventually("the admin's 2 and the robot's 1", WAIT, || async {
        let m = env.scrape_metrics().await;
        (value(&m, &admin) == Some(2) && value(&m, &robot) == Some(1)).then_some(())
    })
    .await;

    // The operator's own create changes the admin's list: the series follows at once.
    env.apply(&named("mine-2", None)).await;
    env.wait_ready("mine-2").await;
    eventually("the admin's series to count 3", WAIT, || async {
        (value(&env.scrape_metrics().await, &admin) == Some(3)).then_some(())
    })
    .await;

    // The robot's last ApiCredential goes: its series goes at the connection's next look, the
    // admin's stays.
    env.delete("robot").await;
    env.wait_gone("robot").await;
    let metrics = eventually("the robot's series to go", WAIT, || async {
        env.poke_connection().await;
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let m = env.scrape_metrics().await;
        value(&m, &robot).is_none().then_some(m)
    })
    .await;
    assert_eq!(
        value(&metrics, &admin),
        Some(3),
        "the admin still has ApiCredentials"
    );

    // The connection goes (once nothing uses it): every series of it goes.
    env.delete("mine").await;
    env.delete("mine-2").await;
    env.wait_gone("mine").await;
    env.wait_gone("mine-2").await;
    let connections: Api<ControlHubConnection> = env.ns.api();
    connections
        .delete(crate::env::CONNECTION, &Default::default())
        .await
        .expect("deleting the connection");
    eventually("the connection's series to go", WAIT, || async {
        (!env.scrape_metrics().await.contains(&connection)).then_some(())
    })
    .await;
}
