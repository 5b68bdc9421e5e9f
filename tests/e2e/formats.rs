//! User story of `spec.secret.additionalOutputFormats`: adding, moving and removing an output format
//! on a Ready ApiCredential rewrites the Secret from the token it holds — the dotenv file and the
//! organization ID appear and go as declared, the token is not re-issued (no Control Hub write) —
//! and the token shows up nowhere but in the Secret's data.

use std::collections::BTreeMap;

use crate::env::{Env, WAIT};
use crate::support::eventually;

fn yaml(formats: &str) -> String {
    format!(
        "apiVersion: controlhub.dev/v1alpha1\nkind: ApiCredential\nmetadata:\n  name: ci-bot\nspec:\n  secret:\n    additionalOutputFormats: {formats}\n"
    )
}

/// The Secret's data as text, once `ready` says it is as expected.
async fn data_when(
    env: &Env,
    what: &str,
    ready: fn(&BTreeMap<String, String>) -> bool,
) -> BTreeMap<String, String> {
    let secrets = env.secrets();
    eventually(what, WAIT, || {
        let secrets = secrets.clone();
        async move {
            let data: BTreeMap<String, String> = secrets
                .get("ci-bot")
                .await
                .ok()?
                .data?
                .into_iter()
                .map(|(k, v)| (k, String::from_utf8(v.0).expect("UTF-8 Secret data")))
                .collect();
            ready(&data).then_some(data)
        }
    })
    .await
}

/// `NAME='value'` lines as a map (values as written, quotes removed).
fn parse_dotenv(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|line| line.split_once('='))
        .map(|(name, value)| (name.to_string(), value.trim_matches('\'').to_string()))
        .collect()
}

#[tokio::test]
async fn output_formats_follow_the_spec_without_reissuing_the_token() {
    let env = Env::start("fmt-change").await;
    env.apply(&yaml("[]")).await;
    env.wait_ready("ci-bot").await;
    let (id, token) = env.assert_token_works("ci-bot").await;
    env.wait_listed_as_recorded("ci-bot").await;
    env.emulator.reset_stats().await;

    // Added: the dotenv file and the organization ID appear.
    env.apply(&yaml("[{type: Dotenv}, {type: OrganizationId, key: ORG_ID}]"))
        .await;
    let data = data_when(&env, "both formats in the Secret", |d| {
        d.contains_key("controlhub.env") && d.contains_key("ORG_ID")
    })
    .await;
    let dotenv = parse_dotenv(&data["controlhub.env"]);
    assert_eq!(
        dotenv.keys().collect::<Vec<_>>(),
        ["CRED_ID", "CRED_TOKEN", "ORG_ID", "SCH_URL"],
        "the dotenv file's variables"
    );
    assert_eq!(dotenv["CRED_ID"], id);
    assert!(
        dotenv["CRED_TOKEN"] == token && data["authToken"] == token,
        "the dotenv file holds the same token as authToken (values not shown)"
    );
    assert_eq!(dotenv["SCH_URL"], env.emulator.url().trim_end_matches('/'));
    assert_eq!(dotenv["ORG_ID"], env.emulator.org_id());
    assert_eq!(data["ORG_ID"], env.emulator.org_id());
    env.wait_event("ci-bot", "SecretUpdated").await;

    // Moved and removed: the old keys go, the new one comes.
    env.apply(&yaml("[{type: Dotenv, key: sch.env}]")).await;
    let data = data_when(&env, "only the dotenv file, under sch.env", |d| {
        d.contains_key("sch.env") && !d.contains_key("controlhub.env") && !d.contains_key("ORG_ID")
    })
    .await;
    assert_eq!(
        data.keys().collect::<Vec<_>>(),
        ["authToken", "credentialId", "sch.env"],
        "exactly the declared keys"
    );
    assert!(
        data["authToken"] == token,
        "still the same token (value not shown)"
    );

    // Removed altogether.
    env.apply(&yaml("[]")).await;
    data_when(&env, "no format left", |d| {
        d.keys().eq(["authToken", "credentialId"])
    })
    .await;
    env.wait_ready("ci-bot").await;
    assert_eq!(env.token_status(&id, &token).await, 200, "the token still works");
    let stats = env.emulator.stats().await;
    assert_eq!(
        (stats.total("createCredential"), stats.total("updateCredential")),
        (0, 0),
        "no credential created or regenerated: the Secret was rewritten from the token it holds"
    );

    let status = serde_json::to_string(&env.credentials().get("ci-bot").await.unwrap().status).unwrap();
    let events = env.all_events_json().await;
    assert!(!status.contains(&token), "the token is in status");
    assert!(!events.contains(&token), "the token is in an Event");
    assert!(
        !env.operator.log().contains(&token),
        "the token is in the operator's log"
    );
}
