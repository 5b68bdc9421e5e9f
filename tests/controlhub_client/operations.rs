//! Every credential operation, over real HTTP against the emulator, with its effect checked through
//! Control Hub itself (lists, and the seed curl example for whether a token works).

use controlhub_operator::controlhub::{CredentialId, UserId};
use controlhub_testkit::emulator::Emulator;

use crate::support::{admin_client, new_user, regular_user};

#[tokio::test]
async fn current_user_is_the_credentials_principal_in_the_tokens_org() {
    let emulator = Emulator::start();
    let client = admin_client(&emulator);
    let principal = client.current_user().await.unwrap();
    assert_eq!(principal.user_id.as_str(), emulator.admin().user_id);
    assert_eq!(principal.org_id.as_str(), emulator.org_id());
    assert_eq!(
        client.org_id().as_str(),
        emulator.org_id(),
        "org id comes from the token's `o` claim"
    );
    assert!(principal.is_org_admin());

    let user = regular_user(&emulator, "ann").await;
    let principal = user.client.current_user().await.unwrap();
    assert_eq!(principal.user_id, user.id);
    assert_eq!(principal.email.as_deref(), Some("ann@example.com"));
    assert!(!principal.is_org_admin());
}

#[tokio::test]
async fn create_for_self_returns_a_working_token_owned_by_the_caller() {
    let emulator = Emulator::start();
    let client = admin_client(&emulator);
    let issued = client.create_credential("ci bot", None, true).await.unwrap();
    assert_eq!(issued.credential.label, "ci bot");
    assert_eq!(issued.credential.owner.as_str(), emulator.admin().user_id);
    assert!(issued.credential.active);
    let claims = issued.token.claims().unwrap();
    assert_eq!(claims.credential_id.as_ref(), Some(&issued.credential.id));
    assert_eq!(
        emulator
            .current_user_status(issued.credential.id.as_str(), issued.token.expose())
            .await,
        200
    );
}

#[tokio::test]
async fn create_inactive_gives_a_token_that_does_not_work_until_activated() {
    let emulator = Emulator::start();
    let client = admin_client(&emulator);
    let issued = client.create_credential("dormant", None, false).await.unwrap();
    assert!(!issued.credential.active);
    let id = issued.credential.id.as_str();
    assert_eq!(emulator.current_user_status(id, issued.token.expose()).await, 401);
    client
        .set_credential_active(&issued.credential.id, "dormant", true)
        .await
        .unwrap();
    assert_eq!(emulator.current_user_status(id, issued.token.expose()).await, 200);
}

#[tokio::test]
async fn org_admin_creates_credentials_that_act_as_another_user_or_service_account() {
    let emulator = Emulator::start();
    let admin = admin_client(&emulator);
    let admin_id = UserId::new(emulator.admin().user_id.clone());
    for (name, service_account) in [("dana", false), ("pipeline-sa", true)] {
        let email = format!("{name}@example.com");
        let target = UserId::new(
            emulator
                .create_user(&email, name, &["org-user"], service_account)
                .await,
        );
        let issued = admin
            .create_credential("for someone else", Some(&target), true)
            .await
            .unwrap();
        assert_eq!(issued.credential.owner, target, "{name}");
        assert_eq!(
            issued.credential.registered_by.as_ref(),
            Some(&admin_id),
            "{name}"
        );
        let as_target = admin
            .for_credential(issued.credential.id.clone(), issued.token.clone())
            .unwrap();
        assert_eq!(as_target.current_user().await.unwrap().user_id, target, "{name}");
    }
}

#[tokio::test]
async fn list_own_holds_exactly_the_callers_credentials_without_tokens() {
    let emulator = Emulator::start();
    let admin = admin_client(&emulator);
    let user = regular_user(&emulator, "bob").await;
    let a = admin.create_credential("a", None, true).await.unwrap().credential;
    let b = admin
        .create_credential("b", None, false)
        .await
        .unwrap()
        .credential;
    let others = admin
        .create_credential("bob's", Some(&user.id), true)
        .await
        .unwrap()
        .credential;

    let own = admin.list_own_credentials().await.unwrap();
    let ids: Vec<&CredentialId> = own.iter().map(|c| &c.id).collect();
    assert!(ids.contains(&&a.id) && ids.contains(&&b.id));
    assert!(
        ids.contains(&admin.credential_id()),
        "the bootstrap credential is the admin's too"
    );
    assert!(
        !ids.contains(&&others.id),
        "a credential owned by bob is not the admin's own"
    );
    assert!(own.iter().all(|c| c.owner.as_str() == emulator.admin().user_id));
    assert_eq!(own.iter().find(|c| c.id == b.id).map(|c| c.active), Some(false));

    let bobs = user.client.list_own_credentials().await.unwrap();
    assert_eq!(
        bobs.len(),
        2,
        "bob's bootstrap credential and the one the admin made: {bobs:?}"
    );
}

#[tokio::test]
async fn list_org_returns_everyone_and_filters_by_user() {
    let emulator = Emulator::start();
    let admin = admin_client(&emulator);
    let carol = regular_user(&emulator, "carol").await;
    let dave = regular_user(&emulator, "dave").await;
    let extra = admin
        .create_credential("carol 2", Some(&carol.id), true)
        .await
        .unwrap()
        .credential;

    let all = admin.list_org_credentials(None).await.unwrap();
    for owner in [
        &carol.id,
        &dave.id,
        &UserId::new(emulator.admin().user_id.clone()),
    ] {
        assert!(
            all.iter().any(|c| &c.owner == owner),
            "{owner} missing from {all:?}"
        );
    }
    let carols = admin.list_org_credentials(Some(&carol.id)).await.unwrap();
    assert_eq!(carols.len(), 2, "{carols:?}");
    assert!(carols.iter().all(|c| c.owner == carol.id));
    assert!(carols.iter().any(|c| c.id == extra.id));
}

#[tokio::test]
async fn rename_changes_only_the_label() {
    let emulator = Emulator::start();
    let client = admin_client(&emulator);
    let issued = client.create_credential("old name", None, true).await.unwrap();
    let renamed = client
        .rename_credential(&issued.credential.id, "new name")
        .await
        .unwrap();
    assert_eq!(renamed.id, issued.credential.id);
    assert_eq!(renamed.label, "new name");
    assert!(renamed.active);
    let listed = client.list_own_credentials().await.unwrap();
    assert_eq!(
        listed
            .iter()
            .find(|c| c.id == renamed.id)
            .map(|c| c.label.as_str()),
        Some("new name")
    );
    assert_eq!(
        emulator
            .current_user_status(renamed.id.as_str(), issued.token.expose())
            .await,
        200
    );
}

#[tokio::test]
async fn deactivate_stops_the_token_and_activate_restores_it() {
    let emulator = Emulator::start();
    let client = admin_client(&emulator);
    let issued = client.create_credential("toggle", None, true).await.unwrap();
    let id = &issued.credential.id;
    let off = client.set_credential_active(id, "toggle", false).await.unwrap();
    assert!(!off.active);
    assert_eq!(off.label, "toggle");
    assert_eq!(
        emulator
            .current_user_status(id.as_str(), issued.token.expose())
            .await,
        401
    );
    let on = client.set_credential_active(id, "toggle", true).await.unwrap();
    assert!(on.active);
    assert_eq!(
        emulator
            .current_user_status(id.as_str(), issued.token.expose())
            .await,
        200
    );
}

#[tokio::test]
async fn admin_may_deactivate_and_delete_another_users_credential() {
    let emulator = Emulator::start();
    let admin = admin_client(&emulator);
    let erin = regular_user(&emulator, "erin").await;
    let id = CredentialId::new(erin.credential_id.clone());
    admin
        .set_credential_active(&id, "erin bootstrap", false)
        .await
        .unwrap();
    assert_eq!(
        emulator
            .current_user_status(&erin.credential_id, &erin.token)
            .await,
        401
    );
    admin.delete_credential(&id).await.unwrap();
    assert!(
        admin
            .list_org_credentials(Some(&erin.id))
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn regenerate_keeps_id_and_label_and_replaces_the_token() {
    let emulator = Emulator::start();
    let client = admin_client(&emulator);
    let first = client.create_credential("rotating", None, true).await.unwrap();
    let id = &first.credential.id;
    let second = client.regenerate_credential(id, "rotating").await.unwrap();
    assert_eq!(&second.credential.id, id);
    assert_eq!(second.credential.label, "rotating");
    assert!(!second.token.ct_eq(&first.token));
    assert_ne!(second.token.fingerprint(), first.token.fingerprint());
    assert_eq!(
        emulator
            .current_user_status(id.as_str(), first.token.expose())
            .await,
        401
    );
    assert_eq!(
        emulator
            .current_user_status(id.as_str(), second.token.expose())
            .await,
        200
    );
}

#[tokio::test]
async fn delete_removes_the_credential_and_its_token() {
    let emulator = Emulator::start();
    let client = admin_client(&emulator);
    let issued = client.create_credential("short lived", None, true).await.unwrap();
    let id = &issued.credential.id;
    client.delete_credential(id).await.unwrap();
    assert!(
        !client
            .list_own_credentials()
            .await
            .unwrap()
            .iter()
            .any(|c| &c.id == id)
    );
    assert_eq!(
        emulator
            .current_user_status(id.as_str(), issued.token.expose())
            .await,
        401
    );
}

#[tokio::test]
async fn service_account_users_are_created_through_the_admin_api() {
    let emulator = Emulator::start();
    let sa = new_user(&emulator, "robot", &["org-user"], true).await;
    assert_eq!(sa.client.current_user().await.unwrap().user_id, sa.id);
}
