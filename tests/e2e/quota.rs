//! User stories of Control Hub's per-owner limit of 10 credentials: an ApiCredential that would be
//! the owner's 11th waits, says why and for whom, and is created once a slot is free.

use crate::env::{Env, condition};
use controlhub_operator::api::ConditionType;

fn named(name: &str) -> String {
    format!(
        "apiVersion: controlhub.dev/v1alpha1\nkind: ApiCredential\nmetadata:\n  name: {name}\nspec: {{}}\n"
    )
}

/// With the owner at 10 credentials (the bootstrap one, one ApiCredential, 8 made by hand), the
/// next ApiCredential is Ready=False `QuotaExceeded` and Stalled, naming the owner and the count,
/// and nothing is created; deleting the first ApiCredential frees a slot and it becomes Ready.
#[tokio::test]
async fn the_eleventh_credential_waits_for_a_free_slot() {
    let env = Env::start("quota").await;
    env.apply(&named("first")).await;
    env.wait_ready("first").await;
    env.fill_admin_quota().await;
    let admin = env.emulator.admin().user_id.clone();
    let creates = env.emulator.stats().await.count("createCredential", 200);

    env.apply(&named("second")).await;
    let (ready, stalled) = env.wait_blocked("second", "QuotaExceeded").await;
    assert_eq!(ready.0, "False");
    assert!(
        ready.2.contains(&admin) && ready.2.contains("10 of 10"),
        "the message names owner and count: {}",
        ready.2
    );
    let stalled = stalled.expect("a Stalled condition");
    assert_eq!(
        (stalled.0.as_str(), stalled.1.as_str()),
        ("True", "QuotaExceeded")
    );
    let (type_, note) = env.wait_event("second", "QuotaExceeded").await;
    assert_eq!(type_, "Warning");
    assert!(note.contains(&admin), "{note}");
    assert_eq!(
        env.emulator.stats().await.count("createCredential", 200),
        creates,
        "nothing was created"
    );
    // No Secret names a credential that does not exist. The operator may try the create on a
    // list that has not seen the slots fill (its cached list, or a lagging one) and be refused;
    // it prepares the Secret, empty, before any create, so that one may be there, holding nothing.
    let data = env
        .secrets()
        .get_opt("second")
        .await
        .unwrap()
        .and_then(|s| s.data)
        .unwrap_or_default();
    assert!(
        data.get("credentialId").is_none_or(|v| v.0.is_empty())
            && data.get("authToken").is_none_or(|v| v.0.is_empty()),
        "no Secret names a credential that does not exist: keys {:?}",
        data.keys().collect::<Vec<_>>()
    );

    env.delete("first").await;
    env.wait_gone("first").await;
    let cred = env.wait_ready("second").await;
    env.assert_token_works("second").await;
    let stalled = condition(&cred, ConditionType::Stalled);
    assert!(
        stalled.as_ref().is_none_or(|s| s.0 != "True"),
        "no longer stalled: {stalled:?}"
    );
}
