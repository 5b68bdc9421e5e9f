//! User stories of a tenant: a user with only the built-in `edit` ClusterRole in one namespace
//! (ApiCredential rights through aggregation), who may write ApiCredentials and Secrets there but
//! must not obtain more from Control Hub than the connection's owner allows: not the identity of
//! a cluster connection that does not share it, not someone else's credential (by writing its ID
//! into the Secret or its marker into `spec.name`), not a Secret that was never the operator's,
//! not a credential that Control Hub issued for another owner than requested.
//!
//! Every write in these stories goes through the tenant's own (impersonating) client.

use controlhub_operator::api::ClusterControlHubConnection;
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};

use crate::env::{Env, WAIT, within};
use crate::quiet::reconciled_again;
use crate::support::eventually;

const CI_BOT: &str = r#"
apiVersion: controlhub.dev/v1alpha1
kind: ApiCredential
metadata:
  name: ci-bot
spec:
  name: CI bot
"#;

/// A ClusterControlHubConnection to the test's emulator (credentials Secret in the test
/// namespace, any user allowed, own identity not shared), deleted when dropped.
struct SharedConnection {
    name: String,
    client: kube::Client,
}

impl SharedConnection {
    async fn create(env: &Env) -> Self {
        let name = format!("{}-shared", env.ns.name);
        let connection: ClusterControlHubConnection = serde_json::from_value(serde_json::json!({
            "apiVersion": "controlhub.dev/v1alpha1",
            "kind": "ClusterControlHubConnection",
            "metadata": {"name": name},
            "spec": {
                "url": env.emulator.url(),
                "credentialsSecretRef": {"namespace": env.ns.name, "name": "controlhub-admin"},
                "allowedUserIds": ["*"],
                "rateLimit": {"requestsPerSecond": 200, "burst": 200}
            }
        }))
        .expect("a ClusterControlHubConnection");
        let client = env.ns.client.clone();
        Api::<ClusterControlHubConnection>::all(client.clone())
            .create(&PostParams::default(), &connection)
            .await
            .unwrap_or_else(|e| panic!("creating ClusterControlHubConnection {name}: {e}"));
        let api: Api<ClusterControlHubConnection> = Api::all(client.clone());
        eventually("the cluster connection to be Ready", WAIT, || {
            let api = api.clone();
            let name = name.clone();
            async move {
                let c = api.get_opt(&name).await.ok().flatten()?;
                let status = c.status?;
                let ready = status.conditions.iter().find(|x| x.type_ == "Ready")?;
                (ready.status == "True").then_some(())
            }
        })
        .await;
        SharedConnection { name, client }
    }

    async fn share_identity(&self) {
        let patch = serde_json::json!({"spec": {"shareConnectionIdentity": true}});
        Api::<ClusterControlHubConnection>::all(self.client.clone())
            .patch(&self.name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect("the admin setting shareConnectionIdentity");
    }

    async fn delete(&self) {
        let _ = Api::<ClusterControlHubConnection>::all(self.client.clone())
            .delete(&self.name, &DeleteParams::default())
            .await;
    }
}

impl Drop for SharedConnection {
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

/// A cluster connection without `shareConnectionIdentity`: a tenant's ApiCredential without
/// `spec.userId` gets nothing of the connection's (org admin) identity: Ready=False
/// `IdentityNotShared`, a Warning Event, no create in Control Hub. Once the admin opts in, Ready.
#[tokio::test]
async fn cluster_connection_does_not_share_its_identity_by_default() {
    let env = Env::start("tenant-share").await;
    let tenant = env.tenant().await;
    let shared = SharedConnection::create(&env).await;
    env.emulator.reset_stats().await;

    tenant
        .apply(&format!(
            "apiVersion: controlhub.dev/v1alpha1\nkind: ApiCredential\nmetadata:\n  name: ci-bot\nspec:\n  name: CI bot\n  connectionRef:\n    kind: ClusterControlHubConnection\n    name: {}\n",
            shared.name
        ))
        .await;
    let (ready, _) = env.wait_blocked("ci-bot", "IdentityNotShared").await;
    assert_eq!(ready.0, "False", "{ready:?}");
    // Naming the connection's own user in spec.userId is the same request, whatever allowedUserIds says.
    tenant
        .apply(&format!(
            "apiVersion: controlhub.dev/v1alpha1\nkind: ApiCredential\nmetadata:\n  name: ci-bot-self\nspec:\n  userId: \"{}\"\n  connectionRef:\n    kind: ClusterControlHubConnection\n    name: {}\n",
            env.emulator.admin().user_id,
            shared.name
        ))
        .await;
    env.wait_blocked("ci-bot-self", "IdentityNotShared").await;
    tenant.delete("ci-bot-self").await;
    env.wait_gone("ci-bot-self").await;
    let (type_, note) = env.wait_event("ci-bot", "IdentityNotShared").await;
    assert_eq!(type_, "Warning", "{note}");
    let created = env.emulator.stats().await.total("createCredential");
    assert_eq!(
        created, 0,
        "a cluster connection must not mint credentials of its own identity for a namespace unless it shares it; Control Hub counted {created} creates"
    );
    assert!(
        env.secrets().get_opt("ci-bot").await.unwrap().is_none(),
        "no Secret was written"
    );

    shared.share_identity().await;
    env.wait_ready("ci-bot").await;
    let (id, token) = env.assert_token_works("ci-bot").await;
    assert_eq!(
        env.principal_of(&id, &token).await,
        (200, Some(env.emulator.admin().user_id.clone())),
        "shared: the credential is the connection's identity's"
    );

    // Deleted before the connection goes, so cleanup can still reach Control Hub.
    tenant.delete("ci-bot").await;
    env.wait_gone("ci-bot").await;
    shared.delete().await;
}

/// The victim credential is intact: listed with its label, active, and its token works.
async fn assert_victim_intact(env: &Env, id: &str, token: &str, label: &str, when: &str) {
    let found = env.controlhub_credential(id).await;
    let Some(found) = found else {
        panic!("{when}: the foreign credential {id} was deleted from Control Hub");
    };
    assert_eq!(
        found["label"].as_str(),
        Some(label),
        "{when}: the foreign credential {id} was renamed"
    );
    assert_eq!(
        found["active"].as_bool(),
        Some(true),
        "{when}: the foreign credential {id} was deactivated"
    );
    let status = env.token_status(id, token).await;
    assert_eq!(
        status, 200,
        "{when}: the foreign credential {id}'s token stopped working (regenerated); HTTP {status}"
    );
}

/// The tenant writes another credential's ID (made by someone else, same owner) into its
/// Secret. The operator must never adopt, rename, regenerate or delete it: its own credential is
/// re-issued into the Secret instead; deleting the ApiCredential deletes only its own credential.
#[tokio::test]
async fn a_foreign_credential_id_written_into_the_secret_is_never_deleted_or_adopted() {
    let env = Env::start("tenant-foreignid").await;
    let tenant = env.tenant().await;
    let victim_label = "Victim key";
    let (victim_id, victim_token) = env
        .emulator
        .issue_user_credential(&env.emulator.admin().user_id, victim_label)
        .await;

    tenant.apply(CI_BOT).await;
    env.wait_ready("ci-bot").await;
    let (own_id, _) = env.assert_token_works("ci-bot").await;

    // A well-formed token (the victim's own, as a tenant holding it could write): only the trust
    // rule, not a malformed token, can keep the operator off it.
    let patch = serde_json::json!({"stringData": {"credentialId": victim_id, "authToken": victim_token}});
    tenant
        .secrets()
        .patch("ci-bot", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("the tenant may edit Secrets in its namespace");
    tenant.poke("ci-bot").await;

    // Until the Secret holds the object's own credential again, the victim must stay intact.
    let deadline = tokio::time::Instant::now() + WAIT;
    let mine = loop {
        assert_victim_intact(
            &env,
            &victim_id,
            &victim_token,
            victim_label,
            "after its ID was written into the tenant's Secret",
        )
        .await;
        let (id, token) = env.secret_credential("ci-bot").await;
        let recorded = env
            .credentials()
            .get("ci-bot")
            .await
            .unwrap()
            .status
            .and_then(|s| s.credential_id);
        if id != victim_id
            && recorded.as_deref() == Some(id.as_str())
            && env.token_status(&id, &token).await == 200
        {
            break id;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the Secret must get the object's own credential back with a working token; it holds {id}, status records {recorded:?} (own credential was {own_id}, foreign {victim_id})"
        );
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    };
    let status = env.credentials().get("ci-bot").await.unwrap().status.unwrap();
    assert_ne!(
        status.credential_id.as_deref(),
        Some(victim_id.as_str()),
        "the foreign credential was adopted"
    );
    // More reconciles: still intact.
    reconciled_again(&env, "ci-bot", 2).await;
    assert_victim_intact(
        &env,
        &victim_id,
        &victim_token,
        victim_label,
        "a drift check later",
    )
    .await;

    // Deleted while the Secret names the foreign credential: cleanup deletes only its own.
    tenant
        .secrets()
        .patch("ci-bot", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("the tenant may edit Secrets in its namespace");
    tenant.delete("ci-bot").await;
    env.wait_gone("ci-bot").await;
    assert_victim_intact(
        &env,
        &victim_id,
        &victim_token,
        victim_label,
        "after the tenant deleted its ApiCredential while the Secret named the foreign credential",
    )
    .await;
    assert!(
        env.controlhub_credential(&mine).await.is_none(),
        "the object's own credential {mine} is deleted with it"
    );
}

/// The pending-label marker `[k8s:<uid>]` of another ApiCredential in `spec.name` would make the
/// operator treat that object's credentials as its own: admission refuses it.
#[tokio::test]
async fn another_objects_marker_in_spec_name_is_refused_at_admission() {
    let env = Env::start("tenant-marker").await;
    let tenant = env.tenant().await;
    let other = env
        .apply(
            r#"
apiVersion: controlhub.dev/v1alpha1
kind: ApiCredential
metadata:
  name: payments
spec:
  name: Payments
"#,
        )
        .await;
    let uid = other.uid().expect("the other object has a uid");

    let result = tenant
        .try_apply(&format!(
            "apiVersion: controlhub.dev/v1alpha1\nkind: ApiCredential\nmetadata:\n  name: sneaky\nspec:\n  name: \"Payments [k8s:{uid}]\"\n"
        ))
        .await;
    match result {
        Err(kube::Error::Api(e)) if e.code == 422 => {
            assert!(
                e.message.contains("spec.name"),
                "the refusal names spec.name: {}",
                e.message
            );
        }
        Err(e) => {
            panic!("expected admission to refuse spec.name with another object's marker (422), got {e}")
        }
        Ok(_) => panic!(
            "admission accepted spec.name \"Payments [k8s:{uid}]\", which carries another ApiCredential's marker: the tenant could make the operator take that object's credentials for its own"
        ),
    }
}

/// A Secret the tenant creates in the race window — after the operator saw no Secret, before its
/// first write — is never taken over: the operator stops at `create:secret` (its read done, no
/// write yet), the tenant creates the Secret, the operator goes on. Its first write is a create,
/// which fails: the Secret keeps its data and gets no owner reference, the ApiCredential reports
/// `SecretConflict`, and no credential was made in Control Hub (the Secret is prepared before
/// any Control Hub call).
#[tokio::test]
async fn a_secret_created_before_the_first_write_is_never_taken_over() {
    let (env, file) = Env::start_paused("tenant-race", "create:secret").await;
    let tenant = env.tenant().await;
    let cred = tenant.apply(CI_BOT).await;
    let uid = cred.uid().expect("uid");
    let reached = env.wait_paused(&file).await;
    assert_eq!(reached, "create:secret");

    let foreign: Secret = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "ci-bot"},
        "stringData": {"config": "the tenant's own data"}
    }))
    .unwrap();
    tenant
        .secrets()
        .create(&PostParams::default(), &foreign)
        .await
        .expect("the tenant creates its own Secret in the race window");
    std::fs::write(&file, "resume").expect("resuming the operator");

    env.wait_reason("ci-bot", "SecretConflict").await;
    let secret = env.secrets().get("ci-bot").await.unwrap();
    assert!(
        secret
            .metadata
            .owner_references
            .iter()
            .flatten()
            .all(|r| r.uid != uid),
        "the foreign Secret was taken over (owner reference to the ApiCredential): {:?}",
        secret.metadata.owner_references
    );
    let data = secret.data.unwrap_or_default();
    assert_eq!(
        data.get("config").map(|b| b.0.as_slice()),
        Some(&b"the tenant's own data"[..]),
        "the foreign Secret keeps its data"
    );
    assert!(
        !data.contains_key("authToken") && !data.contains_key("credentialId"),
        "no credential was written into the foreign Secret"
    );
    assert_eq!(
        env.emulator.stats().await.total("createCredential"),
        0,
        "no credential was created in Control Hub for a Secret that could not take it"
    );
    assert!(env.managed_credentials().await.is_empty(), "nothing left behind");
}

/// Control Hub issues the credential for another owner than requested (emulator fault
/// `createOwnerOverride`: here the org admin instead of the tenant's service account). The
/// operator must never deliver it: it is deleted, Ready=False `OwnerMismatch`, and once Control
/// Hub behaves again the Secret holds a credential of the requested user.
#[tokio::test]
async fn a_credential_issued_for_the_wrong_owner_is_deleted() {
    let env = Env::start("tenant-owner").await;
    let tenant = env.tenant().await;
    let admin = env.emulator.admin().user_id.clone();
    let robot = env
        .emulator
        .create_user("robot@example.com", "Robot", &[], true)
        .await;

    let fault = serde_json::json!({"createOwnerOverride": admin, "operations": ["createCredential"]});
    let (status, body) = env
        .emulator
        .admin_request(reqwest::Method::PUT, "/emulator/v1/faults", Some(&fault))
        .await;
    assert_eq!(
        status, 200,
        "the emulator must support the fault createOwnerOverride (every created credential is owned by that user instead of the requested one); PUT /emulator/v1/faults answered {status}: {body}"
    );

    tenant
        .apply(&format!(
            "apiVersion: controlhub.dev/v1alpha1\nkind: ApiCredential\nmetadata:\n  name: robot\nspec:\n  name: Robot key\n  userId: {robot}\n"
        ))
        .await;
    env.wait_reason("robot", "OwnerMismatch").await;
    let (type_, note) = env.wait_event("robot", "OwnerMismatch").await;
    assert_eq!(type_, "Warning", "{note}");
    let admins_left = within(std::time::Duration::from_secs(20), || async {
        let wrong: Vec<_> = env
            .managed_credentials()
            .await
            .into_iter()
            .filter(|c| c.2 == admin)
            .collect();
        wrong.is_empty().then_some(())
    })
    .await;
    assert!(
        admins_left.is_some(),
        "every credential issued for the wrong owner ({admin}) must be deleted: {:?}",
        env.managed_credentials().await
    );
    if let Some(secret) = env.secrets().get_opt("robot").await.unwrap()
        && secret.data.as_ref().is_some_and(|d| d.contains_key("authToken"))
    {
        let (id, token) = env.secret_credential("robot").await;
        let (_, principal) = env.principal_of(&id, &token).await;
        assert_ne!(
            principal.as_deref(),
            Some(admin.as_str()),
            "the tenant's Secret must never hold a token of the org admin"
        );
    }

    env.emulator.clear_faults().await;
    tenant.poke("robot").await;
    env.wait_ready("robot").await;
    let (id, token) = env.assert_token_works("robot").await;
    assert_eq!(
        env.principal_of(&id, &token).await,
        (200, Some(robot.clone())),
        "the delivered credential is the requested user's"
    );
}
