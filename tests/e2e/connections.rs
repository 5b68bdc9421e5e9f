//! User stories of connections: a ControlHubConnection reports who it authenticates as; a missing
//! credentials Secret or a wrong token blocks its ApiCredentials with a reason that names the
//! problem, and fixing the Secret heals both without touching the ApiCredential; a
//! ClusterControlHubConnection serves only the namespaces it allows; and no namespace can escalate:
//! not through another namespace's connection, not for a user the connection does not allow.

use controlhub_operator::api::{ClusterControlHubConnection, ConditionType, ControlHubConnection};
use controlhub_testkit::world::Connection;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};

use crate::env::{CONNECTION, Env, EnvOptions, WAIT, apply_in, condition};
use crate::quiet::reconciled_again;
use crate::support::{TestNamespace, eventually};

/// An ApiCredential named `ci-bot` using connection `kind`/`name`.
fn ci_bot_using(kind: &str, name: &str) -> String {
    format!(
        r#"
apiVersion: controlhub.dev/v1alpha1
kind: ApiCredential
metadata:
  name: ci-bot
spec:
  name: CI bot
  connectionRef:
    kind: {kind}
    name: {name}
"#
    )
}

/// An ApiCredential named `ci-bot` for `user` through the test's connection.
fn ci_bot_for(user: &str) -> String {
    format!(
        "{}  userId: {user}\n",
        ci_bot_using("ControlHubConnection", CONNECTION)
    )
}

/// Credentials in Control Hub labelled "CI bot" (what the ApiCredential would create).
async fn ci_bot_credentials(env: &Env) -> Vec<(String, String, String, bool)> {
    env.managed_credentials()
        .await
        .into_iter()
        .filter(|c| c.1.starts_with("CI bot"))
        .collect()
}

/// The ApiCredential's Ready condition message.
async fn ready_message(env: &Env, name: &str) -> String {
    let cred = env.credentials().get(name).await.unwrap();
    condition(&cred, ConditionType::Ready)
        .map(|c| c.2)
        .unwrap_or_default()
}

/// The test's own connection reaches Ready and says which organization and user it authenticates
/// as, and that this user is an Organization Administrator; `kubectl get` shows the same.
#[tokio::test]
async fn a_connection_reports_its_organization_principal_and_admin_role() {
    let env = Env::start("conn-status").await;
    let connection = env.wait_connection_reason(CONNECTION, "Ready").await;
    let status = connection.status.unwrap();
    assert_eq!(status.organization_id.as_deref(), Some(env.emulator.org_id()));
    assert_eq!(
        status.principal_id.as_deref(),
        Some(env.emulator.admin().user_id.as_str())
    );
    assert_eq!(status.org_admin, Some(true));

    let (ok, out, err) = env.kubectl(&["get", "controlhubconnections", "-n", &env.ns.name]);
    assert!(ok, "kubectl get controlhubconnections failed: {err}");
    let header = out.lines().next().unwrap_or_default();
    for column in [
        "NAME",
        "URL",
        "ORGANIZATION",
        "PRINCIPAL",
        "ORG ADMIN",
        "READY",
        "AGE",
    ] {
        assert!(header.contains(column), "column {column} in {header:?}");
    }
    let row = out
        .lines()
        .find(|l| l.starts_with(CONNECTION))
        .unwrap_or_else(|| panic!("a row for {CONNECTION}: {out}"));
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        &cells[..6],
        &[
            CONNECTION,
            env.emulator.url(),
            env.emulator.org_id(),
            env.emulator.admin().user_id.as_str(),
            "true",
            "True"
        ],
        "row {row:?}"
    );
}

/// A connection whose credentials Secret does not exist is Ready=False SecretNotFound, and so is
/// every ApiCredential using it, naming the Secret; creating the Secret makes both Ready without
/// any change to the ApiCredential.
#[tokio::test]
async fn a_missing_connection_secret_blocks_until_it_is_created() {
    let env = Env::start("conn-nosecret").await;
    env.apply_connection("team", "team-admin").await;
    env.wait_connection_reason("team", "SecretNotFound").await;
    env.apply(&ci_bot_using("ControlHubConnection", "team")).await;
    let blocked = env.wait_reason("ci-bot", "SecretNotFound").await;
    let message = ready_message(&env, "ci-bot").await;
    assert!(
        message.contains("team-admin"),
        "the message names the missing Secret: {message}"
    );
    assert!(
        ci_bot_credentials(&env).await.is_empty(),
        "nothing was created in Control Hub"
    );

    let admin = env.emulator.admin().clone();
    env.put_connection_secret("team-admin", &admin.credential_id, &admin.auth_token)
        .await;
    env.wait_connection_reason("team", "Ready").await;
    let ready = env.wait_ready("ci-bot").await;
    assert_eq!(
        ready.metadata.generation, blocked.metadata.generation,
        "the ApiCredential's spec was not touched"
    );
    env.assert_token_works("ci-bot").await;
    assert_eq!(ci_bot_credentials(&env).await.len(), 1);
}

/// A connection whose Secret holds a token that is not the credential's is Ready=False
/// AuthenticationFailed, and so are its ApiCredentials; putting the right token in the Secret
/// makes both Ready.
#[tokio::test]
async fn a_wrong_token_fails_authentication_until_the_secret_is_fixed() {
    let env = Env::start("conn-badtoken").await;
    let admin = env.emulator.admin().clone();
    // A credential of the admin whose token was regenerated (in the UI, say) after it was put in
    // the Secret: the Secret's token is well-formed but no longer current.
    let (spare_id, stale_token) = env.emulator.issue_user_credential(&admin.user_id, "spare").await;
    let path = format!(
        "/security/rest/v1/organization/{}/api-user-credentials/{spare_id}",
        env.emulator.org_id()
    );
    let body = serde_json::json!({"label": "spare", "generateAuthToken": true});
    let (status, _) = env
        .emulator
        .admin_request(reqwest::Method::POST, &path, Some(&body))
        .await;
    assert_eq!(status, 200, "regenerating the spare credential");
    assert_eq!(
        env.token_status(&spare_id, &stale_token).await,
        401,
        "the Secret's token is stale"
    );
    env.put_connection_secret("team-admin", &spare_id, &stale_token)
        .await;
    env.apply_connection("team", "team-admin").await;
    env.wait_connection_reason("team", "AuthenticationFailed").await;
    env.apply(&ci_bot_using("ControlHubConnection", "team")).await;
    let blocked = env.wait_reason("ci-bot", "AuthenticationFailed").await;
    assert!(
        ci_bot_credentials(&env).await.is_empty(),
        "nothing was created in Control Hub"
    );
    let message = ready_message(&env, "ci-bot").await;
    assert!(
        !message.contains(&stale_token) && !message.contains(&admin.auth_token),
        "no token in the message"
    );

    env.put_connection_secret("team-admin", &admin.credential_id, &admin.auth_token)
        .await;
    env.wait_connection_reason("team", "Ready").await;
    let ready = env.wait_ready("ci-bot").await;
    assert_eq!(
        ready.metadata.generation, blocked.metadata.generation,
        "the ApiCredential's spec was not touched"
    );
    env.assert_token_works("ci-bot").await;
}

/// A ClusterControlHubConnection created for one test, deleted when dropped.
struct ClusterConnection {
    name: String,
    client: kube::Client,
}

impl ClusterConnection {
    /// A cluster connection to the test's emulator, with its credentials Secret in the test
    /// namespace, allowing namespaces labelled `label=value`.
    async fn create(env: &Env, label: &str, value: &str) -> Self {
        let name = format!("{}-cluster", env.ns.name);
        let connection: ClusterControlHubConnection = serde_json::from_value(serde_json::json!({
            "apiVersion": "controlhub.dev/v1alpha1",
            "kind": "ClusterControlHubConnection",
            "metadata": {"name": name},
            "spec": {
                "url": env.emulator.url(),
                "credentialsSecretRef": {"namespace": env.ns.name, "name": "controlhub-admin"},
                "allowedNamespaces": {"matchLabels": {label: value}},
                "shareConnectionIdentity": true,
                "rateLimit": {"requestsPerSecond": 200, "burst": 200}
            }
        }))
        .expect("a ClusterControlHubConnection");
        let client = env.ns.client.clone();
        Api::<ClusterControlHubConnection>::all(client.clone())
            .create(&PostParams::default(), &connection)
            .await
            .unwrap_or_else(|e| panic!("creating ClusterControlHubConnection {name}: {e}"));
        ClusterConnection { name, client }
    }
}

impl ClusterConnection {
    /// Deletes it now (the `Drop` fallback may not run once the test's runtime shuts down).
    async fn delete(&self) {
        let _ = Api::<ClusterControlHubConnection>::all(self.client.clone())
            .delete(&self.name, &DeleteParams::default())
            .await;
    }
}

impl Drop for ClusterConnection {
    fn drop(&mut self) {
        let client = self.client.clone();
        let name = self.name.clone();
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                let _ = Api::<ClusterControlHubConnection>::all(client)
                    .delete(&name, &DeleteParams::default())
                    .await;
            });
        }
    }
}

/// A ClusterControlHubConnection with allowedNamespaces serves only namespaces with the label:
/// elsewhere the ApiCredential is ConnectionNotAllowed and nothing is created; once the namespace
/// is labelled, it becomes Ready.
#[tokio::test]
async fn a_cluster_connection_serves_only_the_namespaces_it_allows() {
    let env = Env::start("conn-cluster").await;
    let label = "controlhub-e2e-allowed";
    let cluster = ClusterConnection::create(&env, label, &env.ns.name).await;
    let api: Api<ClusterControlHubConnection> = Api::all(env.ns.client.clone());
    eventually("the cluster connection to be Ready", WAIT, || {
        let api = api.clone();
        let name = cluster.name.clone();
        async move {
            let c = api.get_opt(&name).await.ok().flatten()?;
            let status = c.status?;
            let ready = status.conditions.iter().find(|x| x.type_ == "Ready")?;
            (ready.status == "True" && status.org_admin == Some(true)).then_some(())
        }
    })
    .await;

    env.apply(&ci_bot_using("ClusterControlHubConnection", &cluster.name))
        .await;
    env.wait_reason("ci-bot", "ConnectionNotAllowed").await;
    let message = ready_message(&env, "ci-bot").await;
    assert!(
        message.contains(&env.ns.name),
        "the message names the namespace: {message}"
    );
    assert!(
        ci_bot_credentials(&env).await.is_empty(),
        "nothing was created in Control Hub"
    );
    assert_eq!(env.emulator.stats().await.total("createCredential"), 0);

    let patch = serde_json::json!({"metadata": {"labels": {label: env.ns.name}}});
    Api::<k8s_openapi::api::core::v1::Namespace>::all(env.ns.client.clone())
        .patch(&env.ns.name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("labelling the namespace");
    env.wait_ready("ci-bot").await;
    env.assert_token_works("ci-bot").await;
    assert_eq!(ci_bot_credentials(&env).await.len(), 1);

    // Deleted before the connection goes, so cleanup can still reach Control Hub.
    env.delete("ci-bot").await;
    env.wait_gone("ci-bot").await;
    assert!(
        ci_bot_credentials(&env).await.is_empty(),
        "deleted through the cluster connection"
    );
    cluster.delete().await;
}

/// A namespace cannot use another namespace's ControlHubConnection: a reference by name resolves
/// in the ApiCredential's own namespace only, so it is ConnectionNotFound and nothing is created.
#[tokio::test]
async fn another_namespaces_connection_cannot_be_used() {
    let env = Env::start("conn-escalate").await;
    let other = TestNamespace::create("conn-other").await;
    let admin = env.emulator.admin().clone();
    let secret: k8s_openapi::api::core::v1::Secret = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "privileged-admin"},
        "stringData": {"credentialId": admin.credential_id, "authToken": admin.auth_token}
    }))
    .unwrap();
    other
        .api::<k8s_openapi::api::core::v1::Secret>()
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    let connection = serde_json::json!({
        "apiVersion": "controlhub.dev/v1alpha1",
        "kind": "ControlHubConnection",
        "metadata": {"name": "privileged"},
        "spec": {"url": env.emulator.url(), "credentialsSecretRef": {"name": "privileged-admin"}, "allowedUserIds": ["*"]}
    });
    apply_in(&other, "controlhubconnections", connection).await;
    assert!(
        other
            .api::<ControlHubConnection>()
            .get_opt("privileged")
            .await
            .unwrap()
            .is_some()
    );

    env.apply(&ci_bot_using("ControlHubConnection", "privileged"))
        .await;
    env.wait_reason("ci-bot", "ConnectionNotFound").await;
    let message = ready_message(&env, "ci-bot").await;
    assert!(
        message.contains(&format!("{}/privileged", env.ns.name)),
        "resolved in its own namespace: {message}"
    );
    reconciled_again(&env, "ci-bot", 2).await;
    assert!(
        ci_bot_credentials(&env).await.is_empty(),
        "nothing was created in Control Hub"
    );
    assert_eq!(env.emulator.stats().await.total("createCredential"), 0);
}

/// Re-applies the test's connection with `allowed` as allowedUserIds.
async fn allow_users(env: &Env, allowed: &[&str]) {
    let connection = Connection::namespaced(CONNECTION, &env.ns.name, &env.emulator)
        .allowed_user_ids(allowed.iter().copied())
        .rate_limit(200.0, 200);
    env.apply_object("controlhubconnections", connection.manifest())
        .await;
}

/// An ApiCredential cannot mint a credential for a user the connection does not list in
/// allowedUserIds (UserNotAllowed, nothing created for that user), while a listed user gets one.
#[tokio::test]
async fn a_user_outside_allowed_user_ids_gets_no_credential() {
    let env = Env::start_with("conn-users", EnvOptions::default()).await;
    let allowed = env
        .emulator
        .create_user("allowed-sa@example.com", "Allowed SA", &[], true)
        .await;
    let outsider = env
        .emulator
        .create_user("outsider-sa@example.com", "Outsider SA", &[], true)
        .await;
    allow_users(&env, &[&allowed]).await;

    env.apply(&ci_bot_for(&outsider)).await;
    env.wait_reason("ci-bot", "UserNotAllowed").await;
    let message = ready_message(&env, "ci-bot").await;
    assert!(
        message.contains(&outsider),
        "the message names the user: {message}"
    );
    reconciled_again(&env, "ci-bot", 2).await;
    let all = env.controlhub_credentials().await;
    assert!(
        all.iter().all(|c| c.2 != outsider),
        "no credential exists for {outsider}: {all:?}"
    );
    assert_eq!(env.emulator.stats().await.total("createCredential"), 0);

    let yaml = ci_bot_for(&allowed).replace("name: ci-bot\n", "name: allowed-bot\n");
    env.apply(&yaml).await;
    env.wait_ready("allowed-bot").await;
    env.assert_token_works("allowed-bot").await;
    let owners: Vec<String> = env.managed_credentials().await.into_iter().map(|c| c.2).collect();
    assert_eq!(
        owners,
        vec![allowed.clone()],
        "exactly one credential, owned by the allowed user"
    );
}

/// A connection that does not authenticate as an org admin cannot create credentials for other
/// users even when allowedUserIds says `*`: the ApiCredential is Forbidden, nothing is created.
#[tokio::test]
async fn a_non_admin_connection_cannot_mint_for_other_users() {
    let env = Env::start("conn-nonadmin").await;
    let plain = env
        .emulator
        .create_user("plain@example.com", "Plain user", &[], false)
        .await;
    let target = env
        .emulator
        .create_user("target-sa@example.com", "Target SA", &[], true)
        .await;
    let (id, token) = env
        .emulator
        .issue_user_credential(&plain, "plain user's own")
        .await;
    env.put_connection_secret("plain-creds", &id, &token).await;
    let connection = serde_json::json!({
        "apiVersion": "controlhub.dev/v1alpha1",
        "kind": "ControlHubConnection",
        "metadata": {"name": "plain"},
        "spec": {"url": env.emulator.url(), "credentialsSecretRef": {"name": "plain-creds"}, "allowedUserIds": ["*"]}
    });
    env.apply_object("controlhubconnections", connection).await;
    let status = env.wait_connection_reason("plain", "Ready").await.status.unwrap();
    assert_eq!(status.org_admin, Some(false));

    env.apply(&format!(
        "{}  userId: {target}\n",
        ci_bot_using("ControlHubConnection", "plain")
    ))
    .await;
    env.wait_reason("ci-bot", "Forbidden").await;
    let all = env.controlhub_credentials().await;
    assert!(
        all.iter().all(|c| c.2 != target),
        "no credential exists for {target}: {all:?}"
    );
}

/// The connection's Secret is switched to another user's credential while an ApiCredential of the
/// old identity exists: everything it knows belongs to the old owner, so nothing is re-created
/// for the new one (that would leak every old credential); Ready=False `OwnerChanged` asks for a
/// decision, and switching back heals it.
#[tokio::test]
async fn a_connection_switched_to_another_user_asks_for_a_decision() {
    let env = Env::start("conn-owner-changed").await;
    env.apply(&ci_bot_using("ControlHubConnection", CONNECTION)).await;
    env.wait_ready("ci-bot").await;
    let (id, _) = env.assert_token_works("ci-bot").await;
    let admin = env.emulator.admin().clone();

    let other = env
        .emulator
        .create_user("other-admin@example.com", "Other admin", &["org-admin"], false)
        .await;
    let (other_id, other_token) = env.emulator.issue_user_credential(&other, "connection").await;
    env.emulator.reset_stats().await;
    env.put_connection_secret("controlhub-admin", &other_id, &other_token)
        .await;
    let (ready, _) = env.wait_blocked("ci-bot", "OwnerChanged").await;
    assert!(
        ready.2.contains(&id) && ready.2.contains(&other),
        "the message names the credential and the new identity: {}",
        ready.2
    );
    assert_eq!(
        env.emulator.stats().await.total("createCredential"),
        0,
        "nothing is created for the new identity"
    );
    assert!(
        env.controlhub_credential(&id).await.is_some(),
        "the old credential is kept"
    );

    env.put_connection_secret("controlhub-admin", &admin.credential_id, &admin.auth_token)
        .await;
    env.wait_ready("ci-bot").await;
    let (same, _) = env.assert_token_works("ci-bot").await;
    assert_eq!(same, id, "the same credential, managed again");
}
