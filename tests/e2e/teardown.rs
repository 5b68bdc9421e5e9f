//! Teardown never orphans credentials in Control Hub: deleting a namespace that holds its own
//! connection, its Secret and ApiCredentials revokes every credential before the connection goes
//! (finalizer `controlhub.dev/connection-in-use`); a connection whose token was swapped, and a
//! cluster connection that no longer allows the namespace, still clean up; an object already gone
//! when the operator acts on an older copy of it gets no credential at all.

use std::time::Duration;

use controlhub_operator::api::{ClusterControlHubConnection, ControlHubConnection};
use controlhub_testkit::emulator::Stats;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};

use crate::env::{CONNECTION, Env, WAIT};
use crate::quiet::reconciles;
use crate::support::eventually;

const IN_USE: &str = "controlhub.dev/connection-in-use";

/// An ApiCredential `name` through connection `kind`/`connection`.
fn credential(name: &str, kind: &str, connection: &str) -> String {
    format!(
        "apiVersion: controlhub.dev/v1alpha1\nkind: ApiCredential\nmetadata:\n  name: {name}\nspec:\n  name: {name}\n  connectionRef:\n    kind: {kind}\n    name: {connection}\n"
    )
}

/// Creates `names` through the test's connection, waits until Ready; returns their credential IDs.
async fn ready_credentials(env: &Env, names: &[&str], kind: &str, connection: &str) -> Vec<String> {
    for name in names {
        env.apply(&credential(name, kind, connection)).await;
    }
    let mut ids = Vec::new();
    for name in names {
        env.wait_ready(name).await;
        ids.push(env.assert_token_works(name).await.0);
    }
    ids
}

fn has_in_use(meta: &kube::api::ObjectMeta) -> bool {
    meta.finalizers.iter().flatten().any(|f| f == IN_USE)
}

/// `kubectl delete namespace` with a ControlHubConnection, its Secret and 3 ApiCredentials in it:
/// every credential is deleted in Control Hub, the namespace is gone within 60 s, and the
/// operator keeps no client of the deleted connection.
#[tokio::test]
async fn deleting_a_namespace_revokes_its_credentials_before_the_connection_goes() {
    let env = Env::start("teardown-ns").await;
    let ids = ready_credentials(
        &env,
        &["bot-1", "bot-2", "bot-3"],
        "ControlHubConnection",
        CONNECTION,
    )
    .await;
    assert_eq!(env.managed_credentials().await.len(), 3);
    let connections: Api<ControlHubConnection> = env.ns.api();
    eventually(
        "the connection and its Secret to carry the in-use finalizer",
        WAIT,
        || {
            let connections = connections.clone();
            let secrets = env.secrets();
            async move {
                let c = connections.get(CONNECTION).await.ok()?;
                let s = secrets.get("controlhub-admin").await.ok()?;
                (has_in_use(&c.metadata) && has_in_use(&s.metadata)).then_some(())
            }
        },
    )
    .await;

    let namespaces: Api<Namespace> = Api::all(env.ns.client.clone());
    let started = std::time::Instant::now();
    namespaces
        .delete(&env.ns.name, &DeleteParams::background())
        .await
        .expect("deleting the namespace");
    eventually("the namespace to be gone", Duration::from_secs(60), || {
        let namespaces = namespaces.clone();
        let name = env.ns.name.clone();
        async move { matches!(namespaces.get_opt(&name).await, Ok(None)).then_some(()) }
    })
    .await;
    println!("namespace gone after {:?}", started.elapsed());
    let left: Vec<_> = env
        .managed_credentials()
        .await
        .into_iter()
        .filter(|c| ids.contains(&c.0))
        .collect();
    assert!(left.is_empty(), "credentials left in Control Hub: {left:?}");
    let clients = eventually("the deleted connection's client to be evicted", WAIT, || {
        let env = &env;
        async move {
            let text = env.scrape_metrics().await;
            let value: i64 = text
                .lines()
                .find_map(|l| {
                    l.strip_prefix(
                        "controlhub_operator_controlhub_connection_clients{kind=\"ControlHubConnection\"} ",
                    )
                })?
                .trim()
                .parse()
                .ok()?;
            (value == 0).then_some(value)
        }
    })
    .await;
    println!("cached connection clients after the namespace is gone: {clients}");
}

/// A request to Control Hub as credential (`id`, `token`): (status, JSON body).
async fn request_as(
    env: &Env,
    method: reqwest::Method,
    path: &str,
    id: &str,
    token: &str,
) -> (u16, serde_json::Value) {
    env.emulator.request_as(method, path, None, id, token).await
}

/// Control Hub requests the emulator answered 401, read from its statistics as org admin
/// credential (`id`, `token`) (the bootstrap admin's own credential may be the revoked one).
async fn refused_as(env: &Env, id: &str, token: &str) -> u64 {
    let (status, body) = request_as(env, reqwest::Method::GET, "/emulator/v1/stats", id, token).await;
    assert_eq!(status, 200, "reading the emulator's statistics");
    let stats: Stats = serde_json::from_value(body).expect("the emulator's statistics parse");
    stats.operations.keys().map(|op| stats.count(op, 401)).sum()
}

/// The org's credential IDs, listed as credential (`id`, `token`).
async fn credential_ids_as(env: &Env, id: &str, token: &str) -> Vec<String> {
    let path = format!(
        "/security/rest/v1/organization/{}/api-user-credentials-for-org",
        env.emulator.org_id()
    );
    let (status, body) = request_as(env, reqwest::Method::GET, &path, id, token).await;
    assert_eq!(status, 200, "listing the org's credentials");
    body.as_array()
        .expect("a JSON array")
        .iter()
        .filter_map(|c| c["componentId"].as_str().map(str::to_string))
        .collect()
}

/// The connection's admin credential is revoked (its replacement already issued) while 2
/// ApiCredentials exist, and they are deleted before the Secret gets the new token: their cleanup
/// meets 401s, waits instead of giving up, and deletes both credentials once the Secret holds the
/// new token. No CleanupSkipped.
#[tokio::test]
async fn a_connection_token_swap_does_not_skip_cleanup() {
    let env = Env::start("teardown-swap").await;
    let ids = ready_credentials(&env, &["bot-1", "bot-2"], "ControlHubConnection", CONNECTION).await;
    let admin = env.emulator.admin().clone();
    let (new_id, new_token) = env
        .emulator
        .issue_user_credential(&admin.user_id, "swapped in")
        .await;
    let old = format!(
        "/security/rest/v1/organization/{}/api-user-credentials/{}",
        env.emulator.org_id(),
        admin.credential_id
    );
    let (status, _) = request_as(&env, reqwest::Method::DELETE, &old, &new_id, &new_token).await;
    assert_eq!(status, 200, "revoking the old admin credential");

    let refused = || refused_as(&env, &new_id, &new_token);
    let (refused_before, reconciled_before) = (refused().await, reconciles(&env).await);
    env.delete("bot-1").await;
    env.delete("bot-2").await;
    // Until the operator has met 401s and reconciled the two deletions a few times (before this
    // fix it released both with CleanupSkipped at the first 401).
    eventually(
        "the operator to meet 401s and reconcile the deletions 4 times",
        WAIT,
        || async {
            let met = refused().await >= refused_before + 2;
            (met && reconciles(&env).await >= reconciled_before + 4).then_some(())
        },
    )
    .await;
    for name in ["bot-1", "bot-2"] {
        assert!(
            env.credentials().get_opt(name).await.unwrap().is_some(),
            "{name} waits for a working connection instead of being released"
        );
    }
    env.put_connection_secret("controlhub-admin", &new_id, &new_token)
        .await;
    env.wait_gone("bot-1").await;
    env.wait_gone("bot-2").await;
    let listed = credential_ids_as(&env, &new_id, &new_token).await;
    let left: Vec<_> = ids.iter().filter(|id| listed.contains(id)).collect();
    assert!(left.is_empty(), "credentials left in Control Hub: {left:?}");
    let events = format!(
        "{:?} {:?}",
        env.events_of("bot-1").await,
        env.events_of("bot-2").await
    );
    assert!(!events.contains("CleanupSkipped"), "{events}");
}

/// A cluster connection created for one test, deleted (and waited for) at the end.
struct ClusterConnection {
    name: String,
    api: Api<ClusterControlHubConnection>,
}

impl ClusterConnection {
    /// Deletes it and waits until its finalizer is released.
    async fn delete_and_wait(&self) {
        let _ = self.api.delete(&self.name, &DeleteParams::default()).await;
        eventually(&format!("{} to be deleted", self.name), WAIT, || {
            let api = self.api.clone();
            let name = self.name.clone();
            async move { matches!(api.get_opt(&name).await, Ok(None)).then_some(()) }
        })
        .await;
    }
}

impl Drop for ClusterConnection {
    fn drop(&mut self) {
        let api = self.api.clone();
        let name = self.name.clone();
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                let _ = api.delete(&name, &DeleteParams::default()).await;
            });
        }
    }
}

/// A cluster connection allows the namespace by label; the label is removed, then the
/// ApiCredentials are deleted: their credentials are still deleted in Control Hub (leaving
/// allowedNamespaces never keeps credentials alive).
#[tokio::test]
async fn leaving_a_cluster_connections_allowed_namespaces_does_not_orphan_credentials() {
    let env = Env::start("teardown-cluster").await;
    let label = "controlhub-e2e-teardown";
    let namespaces: Api<Namespace> = Api::all(env.ns.client.clone());
    let set_label = |value: serde_json::Value| {
        let namespaces = namespaces.clone();
        let name = env.ns.name.clone();
        async move {
            let patch = serde_json::json!({"metadata": {"labels": {label: value}}});
            namespaces
                .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .expect("labelling the namespace");
        }
    };
    set_label(serde_json::Value::from(env.ns.name.clone())).await;

    // Its own Secret, so the namespaced connection's finalizer on controlhub-admin plays no part.
    let admin = env.emulator.admin().clone();
    env.put_connection_secret("cluster-admin", &admin.credential_id, &admin.auth_token)
        .await;
    let name = format!("{}-cluster", env.ns.name);
    let connection: ClusterControlHubConnection = serde_json::from_value(serde_json::json!({
        "apiVersion": "controlhub.dev/v1alpha1",
        "kind": "ClusterControlHubConnection",
        "metadata": {"name": name},
        "spec": {
            "url": env.emulator.url(),
            "credentialsSecretRef": {"namespace": env.ns.name, "name": "cluster-admin"},
            "allowedNamespaces": {"matchLabels": {label: env.ns.name}},
            "shareConnectionIdentity": true,
            "rateLimit": {"requestsPerSecond": 200, "burst": 200}
        }
    }))
    .expect("a ClusterControlHubConnection");
    let api: Api<ClusterControlHubConnection> = Api::all(env.ns.client.clone());
    api.create(&PostParams::default(), &connection)
        .await
        .expect("creating the cluster connection");
    let cluster = ClusterConnection {
        name: name.clone(),
        api,
    };

    let ids = ready_credentials(&env, &["bot-1", "bot-2"], "ClusterControlHubConnection", &name).await;
    set_label(serde_json::Value::Null).await;
    env.delete("bot-1").await;
    env.delete("bot-2").await;
    env.wait_gone("bot-1").await;
    env.wait_gone("bot-2").await;
    let left: Vec<_> = env
        .managed_credentials()
        .await
        .into_iter()
        .filter(|c| ids.contains(&c.0))
        .collect();
    assert!(left.is_empty(), "credentials left in Control Hub: {left:?}");
    let events = format!(
        "{:?} {:?}",
        env.events_of("bot-1").await,
        env.events_of("bot-2").await
    );
    assert!(!events.contains("CleanupSkipped"), "{events}");

    cluster.delete_and_wait().await;
    let secret: Secret = env.secrets().get("cluster-admin").await.unwrap();
    assert!(
        !has_in_use(&secret.metadata),
        "the cluster connection released its Secret"
    );
}

/// A connection pointed at another credentials Secret hands its in-use finalizer (and the watched
/// label) over: the new Secret is protected, the old one is released and can be deleted.
#[tokio::test]
async fn a_connection_pointed_at_another_secret_releases_the_old_one() {
    const LABEL: &str = "controlhub.dev/connection-credentials";
    let env = Env::start("teardown-switch").await;
    env.apply(
        r#"
apiVersion: controlhub.dev/v1alpha1
kind: ApiCredential
metadata:
  name: ci-bot
spec:
  name: CI bot
"#,
    )
    .await;
    env.wait_ready("ci-bot").await;
    let secrets = env.secrets();
    let guarded = |name: &'static str| {
        let secrets = secrets.clone();
        async move {
            secrets.get_opt(name).await.ok().flatten().map(|s| {
                let labelled = s.metadata.labels.as_ref().and_then(|l| l.get(LABEL)).is_some();
                (has_in_use(&s.metadata), labelled)
            })
        }
    };
    eventually("the connection's Secret is held and labelled", WAIT, || async {
        (guarded("controlhub-admin").await == Some((true, true))).then_some(())
    })
    .await;

    let admin = env.emulator.admin().clone();
    env.put_connection_secret("controlhub-admin-2", &admin.credential_id, &admin.auth_token)
        .await;
    env.apply_connection(CONNECTION, "controlhub-admin-2").await;
    eventually(
        "the new Secret is held and the old one released",
        WAIT,
        || async {
            let new = guarded("controlhub-admin-2").await;
            let old = guarded("controlhub-admin").await;
            (new == Some((true, true)) && old == Some((false, false))).then_some(())
        },
    )
    .await;
    secrets
        .delete("controlhub-admin", &DeleteParams::default())
        .await
        .expect("deleting the old Secret");
    eventually("the old Secret is gone", WAIT, || async {
        secrets
            .get_opt("controlhub-admin")
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await;
    env.wait_ready("ci-bot").await;
}

/// An object deleted and gone (its finalizer released) while the operator holds an older copy of
/// it — from its cache, or a first list the API server served from its own cache, as an operator
/// started right after its predecessor finished the cleanup sees it — gets no credential: the
/// operator stops at `create:secret` with the object in hand, the object is deleted and its
/// finalizer removed, the operator goes on. Control Hub creates nothing, so nothing is left there
/// that no object could clean up.
#[tokio::test]
async fn an_object_gone_before_its_create_gets_no_credential() {
    let (env, file) = Env::start_paused("gone-before-create", "create:secret").await;
    env.apply(&credential("late", "ControlHubConnection", CONNECTION))
        .await;
    assert_eq!(env.wait_paused(&file).await, "create:secret");
    env.delete("late").await;
    let release = serde_json::json!({"metadata": {"finalizers": null}});
    env.credentials()
        .patch("late", &PatchParams::default(), &Patch::Merge(&release))
        .await
        .expect("releasing the finalizer, as the cleanup of a predecessor would have");
    env.wait_gone("late").await;
    let before = reconciles(&env).await;
    std::fs::write(&file, "resume").expect("resuming the operator");
    eventually("the paused reconcile to finish", WAIT, || async {
        (reconciles(&env).await > before).then_some(())
    })
    .await;
    let stats = env.emulator.stats().await;
    assert_eq!(
        stats.count("createCredential", 200),
        0,
        "a credential was created for an object already gone"
    );
    assert_eq!(
        env.managed_credentials().await,
        Vec::new(),
        "Control Hub holds a credential no object can clean up"
    );
}
