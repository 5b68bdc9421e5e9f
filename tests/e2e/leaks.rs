//! Tokens appear only in Secrets (docs/architecture.md, "Never lose a token"): after a busy life (create, rename, two rotations by
//! annotation, a Replace, deactivation, deletion) every token that existed — each one the Secret
//! held, and the connection's admin token — and the secret part of each (the `s` claim) is absent
//! from the operator's whole log (JSON format), every Event of the namespace, the ApiCredential and
//! connection objects (status, metadata, managed fields) and the `/metrics` text.

use base64::Engine as _;
use controlhub_operator::api::{ControlHubConnection, ROTATE_ANNOTATION};

use crate::env::{CONNECTION, Env, EnvOptions};
use crate::support::eventually;

const CI_BOT: &str = r#"
apiVersion: controlhub.dev/v1alpha1
kind: ApiCredential
metadata:
  name: ci-bot
spec:
  name: CI bot
"#;

/// Every token seen, with a name to report instead of the value.
#[derive(Default)]
struct Tokens(Vec<(String, String)>);

impl Tokens {
    fn add(&mut self, what: String, token: String) {
        if !self.0.iter().any(|(_, t)| *t == token) {
            self.0.push((what, token));
        }
    }

    /// Each token and its `s` claim, as (description, needle).
    fn needles(&self) -> Vec<(String, String)> {
        let mut needles = Vec::new();
        for (what, token) in &self.0 {
            needles.push((format!("the token of {what}"), token.clone()));
            let secret =
                secret_claim(token).unwrap_or_else(|| panic!("the token of {what} has an `s` claim"));
            assert!(
                secret.len() >= 32,
                "the `s` claim of {what} is long enough to search for"
            );
            needles.push((format!("the `s` claim of the token of {what}"), secret));
        }
        needles
    }
}

/// The `s` claim (the token's secret part) of `header.payload.signature`.
fn secret_claim(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    claims["s"].as_str().map(str::to_string)
}

/// Records the Secret's current token.
async fn record_secret(env: &Env, tokens: &mut Tokens, step: &str) -> String {
    let (id, token) = env.assert_token_works("ci-bot").await;
    tokens.add(format!("credential {id} after {step}"), token);
    id
}

async fn rotate(env: &Env, value: &str) {
    env.annotate("ci-bot", ROTATE_ANNOTATION, value).await;
    env.wait_for("ci-bot", &format!("rotation {value} done"), |c| {
        c.status.as_ref().is_some_and(|s| {
            s.last_rotation_request.as_deref() == Some(value) && s.rotation_in_progress.is_none()
        })
    })
    .await;
    env.wait_ready("ci-bot").await;
}

/// Everything observable outside the Secret, as (where, text).
async fn observable(env: &Env) -> Vec<(String, String)> {
    let mut places = vec![
        (
            "the Events of the namespace".to_string(),
            env.all_events_json().await,
        ),
        ("the operator's /metrics".to_string(), env.scrape_metrics().await),
    ];
    if let Some(cred) = env.credentials().get_opt("ci-bot").await.unwrap() {
        places.push((
            "the ApiCredential (status, metadata)".into(),
            serde_json::to_string(&cred).unwrap(),
        ));
    }
    let connection = env
        .ns
        .api::<ControlHubConnection>()
        .get(CONNECTION)
        .await
        .unwrap();
    places.push((
        "the ControlHubConnection".into(),
        serde_json::to_string(&connection).unwrap(),
    ));
    places
}

/// No token, and no token's secret part, shows up anywhere but in Secrets.
#[tokio::test]
async fn no_token_leaks_into_logs_events_status_or_metrics() {
    let mut env = Env::start_with(
        "leaks",
        EnvOptions {
            allowed_user_ids: vec!["*".into()],
            no_operator: true,
            ..Default::default()
        },
    )
    .await;
    env.operator.set_arg("log-format", "json");
    env.operator.restart_with(&[]);
    let mut tokens = Tokens::default();
    tokens.add(
        "the connection's admin credential".into(),
        env.emulator.admin().auth_token.clone(),
    );
    let mut places = Vec::new();

    // Create, rename, rotate twice by annotation.
    env.apply(CI_BOT).await;
    env.wait_ready("ci-bot").await;
    let first = record_secret(&env, &mut tokens, "create").await;
    env.apply(&CI_BOT.replace("name: CI bot", "name: Release bot"))
        .await;
    env.wait_for("ci-bot", "renamed", |c| {
        c.status.as_ref().and_then(|s| s.label.as_deref()) == Some("Release bot")
    })
    .await;
    rotate(&env, "leak-1").await;
    record_secret(&env, &mut tokens, "rotation leak-1").await;
    rotate(&env, "leak-2").await;
    record_secret(&env, &mut tokens, "rotation leak-2").await;

    // Replace: a new credential, the old one retired after a short grace period.
    let replace =
        "  name: Release bot\n  rotation:\n    interval: 720h\n    strategy: Replace\n    gracePeriod: 2s\n";
    env.apply(&CI_BOT.replace("  name: CI bot\n", replace)).await;
    rotate(&env, "leak-3").await;
    let replaced = record_secret(&env, &mut tokens, "Replace").await;
    assert_ne!(replaced, first, "Replace issued a new credential");
    eventually(
        "the replaced credential to be retired",
        crate::env::WAIT,
        || async { (env.managed_credentials().await.len() == 1).then_some(()) },
    )
    .await;

    // Deactivate, look at everything, delete.
    env.apply(&format!(
        "{}  active: false\n",
        CI_BOT.replace("  name: CI bot\n", replace)
    ))
    .await;
    env.wait_for("ci-bot", "inactive", |c| {
        c.status.as_ref().and_then(|s| s.active) == Some(false)
    })
    .await;
    places.extend(observable(&env).await);
    env.delete("ci-bot").await;
    env.wait_gone("ci-bot").await;
    places.extend(observable(&env).await);
    let log = env.operator.log();
    places.push(("the operator's log".into(), log.clone()));

    // The scan is not vacuous: there was much to look at.
    assert!(tokens.0.len() >= 5, "tokens collected: {}", tokens.0.len());
    assert!(
        log.contains("ci-bot") && log.lines().count() > 20,
        "the log recorded the story"
    );
    let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
    let not_json: Vec<&&str> = lines
        .iter()
        .filter(|l| serde_json::from_str::<serde_json::Value>(l).is_err())
        .collect();
    assert!(
        not_json.is_empty(),
        "--log-format=json: {} of {} lines are not JSON",
        not_json.len(),
        lines.len()
    );
    let events = env.all_events_json().await;
    for reason in [
        "Created",
        "Renamed",
        "Rotated",
        "Replaced",
        "Retired",
        "Deactivated",
        "Deleted",
    ] {
        assert!(
            events.contains(&format!("\"reason\":\"{reason}\"")),
            "an Event with reason {reason} was published"
        );
    }
    let metrics = env.scrape_metrics().await;
    assert!(
        metrics.lines().filter(|l| !l.starts_with('#')).count() > 5,
        "metrics were scraped"
    );

    let mut leaks = Vec::new();
    for (what, needle) in tokens.needles() {
        for (place, text) in &places {
            if text.contains(&needle) {
                leaks.push(format!("{what} appears in {place}"));
            }
        }
    }
    leaks.dedup();
    assert!(leaks.is_empty(), "tokens leaked:\n{}", leaks.join("\n"));
}
