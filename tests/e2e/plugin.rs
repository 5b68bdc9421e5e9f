//! The `kubectl controlhub` plugin (`target/debug/kubectl-controlhub`), run as a user would run it:
//! with a kubeconfig (the admin's, or one acting as a user with less RBAC), against the test's
//! control plane, operator and Control Hub emulator. `status` shows the owner, the reason and the
//! owner's quota use; `rotate` really replaces the token and fails on a blocked rotation;
//! `inventory` tells managed, unmanaged and leftover credentials apart and refuses, saying why, a
//! caller who may not read the connection's Secret. No output ever holds a token.

use std::path::Path;

use controlhub_operator::api::ConditionType;
use controlhub_testkit::process::workspace_root;

use crate::env::{CONNECTION, Env, condition};
use crate::support::plane;

/// What one run of the plugin did.
struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl Run {
    /// Stdout and stderr together, for "never prints X" checks.
    fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    /// Fails when any of `tokens` appears in the output (never says which, nor prints it).
    fn assert_prints_no_token(&self, tokens: &[&str], what: &str) {
        let all = self.all();
        assert!(
            !tokens.iter().any(|t| all.contains(t)),
            "{what} never prints a token"
        );
    }

    fn json(&self) -> serde_json::Value {
        assert!(self.ok, "the plugin failed: {}", self.stderr);
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("-o json prints JSON ({e}): {}", self.stdout))
    }
}

/// Runs the built plugin with `kubeconfig` (the binary `cargo build --workspace --bins` makes).
async fn plugin(kubeconfig: &Path, args: &[&str]) -> Run {
    let binary = workspace_root().join("target/debug/kubectl-controlhub");
    assert!(
        binary.exists(),
        "{} is missing: run cargo build --workspace --bins first",
        binary.display()
    );
    let out = tokio::process::Command::new(&binary)
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .output()
        .await
        .expect("running kubectl-controlhub");
    Run {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs the plugin as the admin.
async fn admin(args: &[&str]) -> Run {
    plugin(&plane().kubeconfig, args).await
}

fn named(name: &str, spec: &str) -> String {
    format!(
        "apiVersion: controlhub.dev/v1alpha1\nkind: ApiCredential\nmetadata:\n  name: {name}\nspec:\n{spec}"
    )
}

/// The row of `name` in `status -o json`.
fn row<'a>(rows: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    rows.as_array()
        .expect("an array of rows")
        .iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("status lists {name}: {rows}"))
}

/// `status` lists each ApiCredential with its owner, Ready status and reason, rotation times and
/// the owner's quota use as the connection counted it (the same number Control Hub lists); a
/// blocked object shows its reason. The table says the same in kubectl's layout.
#[tokio::test]
async fn status_shows_owner_reason_rotation_times_and_the_owners_quota_use() {
    let env = Env::start("plugin-status").await;
    env.apply(&named(
        "ci-bot",
        "  name: CI bot\n  rotation:\n    interval: 720h\n",
    ))
    .await;
    // A Secret of the same name that is not the operator's: the object is blocked.
    env.put_connection_secret("taken", "not-ours", "not-a-token")
        .await;
    env.apply(&named("conflict", "  secret:\n    name: taken\n"))
        .await;
    env.wait_ready("ci-bot").await;
    env.wait_reason("conflict", "SecretConflict").await;
    let admin_user = env.emulator.admin().user_id.clone();
    // Control Hub's count of the owner, once its list shows ci-bot's credential (lists may lag).
    env.wait_listed_as_recorded("ci-bot").await;
    let owned = env
        .controlhub_credentials()
        .await
        .iter()
        .filter(|c| c.2 == admin_user)
        .count() as u32;
    env.connection_counts(&admin_user, owned).await;

    let ns = env.ns.name.as_str();
    let rows = admin(&["status", "-n", ns, "-o", "json"]).await.json();
    let ci = row(&rows, "ci-bot");
    let cred = env.credentials().get("ci-bot").await.unwrap();
    let status = cred.status.clone().unwrap();
    assert_eq!(ci["owner"], admin_user.as_str());
    assert_eq!(
        (ci["ready"].as_str(), ci["reason"].as_str()),
        (Some("True"), Some("Ready"))
    );
    assert_eq!(ci["ownerQuota"], serde_json::json!({"used": owned, "limit": 10}));
    assert_eq!(ci["credentialId"].as_str(), status.credential_id.as_deref());
    assert_eq!(
        ci["nextRotationTime"],
        serde_json::to_value(status.next_rotation_time).unwrap(),
        "the next rotation as status has it"
    );
    assert!(ci["lastRotationTime"].is_string(), "{ci}");
    let blocked = row(&rows, "conflict");
    let ready = condition(
        &env.credentials().get("conflict").await.unwrap(),
        ConditionType::Ready,
    )
    .unwrap();
    assert_eq!(
        (
            blocked["ready"].as_str(),
            blocked["reason"].as_str(),
            blocked["message"].as_str()
        ),
        (Some("False"), Some("SecretConflict"), Some(ready.2.as_str()))
    );

    let table = admin(&["status", "-n", ns]).await;
    assert!(table.ok, "{}", table.stderr);
    let rows = crate::kubectl::table(&table.stdout);
    let cells = |name: &str| {
        let row = rows
            .iter()
            .find(|r| r["NAME"] == name)
            .unwrap_or_else(|| panic!("a line for {name}: {}", table.stdout));
        ["OWNER", "READY", "REASON", "NEXT ROTATION", "OWNER QUOTA"].map(|k| row[k].clone())
    };
    let next = status
        .next_rotation_time
        .expect("a next rotation")
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let quota = format!("{owned}/10");
    assert_eq!(
        cells("ci-bot"),
        [
            admin_user.as_str(),
            "True",
            "Ready",
            next.as_str(),
            quota.as_str()
        ]
    );
    assert_eq!(cells("conflict")[1..3], ["False", "SecretConflict"]);

    // -A adds the namespace column; another context is refused by name.
    let all = admin(&["status", "-A"]).await;
    assert!(
        all.stdout
            .lines()
            .any(|l| l.starts_with(ns) && l.contains("ci-bot")),
        "-A lists {ns}/ci-bot: {}",
        all.stdout
    );
    let wrong = admin(&["--context", "no-such-context", "status", "-n", ns]).await;
    assert!(
        !wrong.ok && wrong.stderr.contains("no-such-context"),
        "{}",
        wrong.stderr
    );
}

/// `rotate` sets a new rotate request, waits, and returns once the Secret holds a new token that
/// works; the old token is refused (Regenerate). No token is printed.
#[tokio::test]
async fn rotate_returns_once_a_new_working_token_is_in_the_secret() {
    let env = Env::start("plugin-rotate").await;
    env.apply(&named("ci-bot", "  rotation:\n    interval: 720h\n"))
        .await;
    env.wait_ready("ci-bot").await;
    let (id, old) = env.assert_token_works("ci-bot").await;

    let run = admin(&["rotate", "ci-bot", "-n", &env.ns.name, "--timeout", "60s"]).await;
    assert!(run.ok, "rotate succeeds: {}", run.stderr);
    assert!(
        run.stdout
            .contains(&format!("apicredential {}/ci-bot rotated", env.ns.name))
            && run.stdout.contains(&id),
        "{}",
        run.stdout
    );
    // When rotate returns, the new token is already there: no waiting here.
    let (new_id, new) = env.secret_credential("ci-bot").await;
    assert_eq!(new_id, id, "Regenerate keeps the credential ID");
    assert!(new != old, "the Secret holds another token");
    assert_eq!(env.token_status(&id, &new).await, 200, "the new token works");
    env.assert_token_refused(&id, &old, "the old token after rotate")
        .await;
    run.assert_prints_no_token(&[&new, &old], "rotate");
}

/// With strategy Replace, `rotate` returns once the Secret holds the replacement: another
/// credential whose token works, while the replaced one keeps working for its grace period.
#[tokio::test]
async fn rotate_waits_for_the_replacement_credential_of_a_replace_rotation() {
    let env = Env::start("plugin-replace").await;
    env.apply(&named(
        "ci-bot",
        "  rotation:\n    interval: 720h\n    strategy: Replace\n    gracePeriod: 10m\n",
    ))
    .await;
    env.wait_ready("ci-bot").await;
    let (old_id, old) = env.assert_token_works("ci-bot").await;

    let run = admin(&["rotate", "ci-bot", "-n", &env.ns.name, "--timeout", "60s"]).await;
    assert!(run.ok, "rotate succeeds: {}", run.stderr);
    let (new_id, new) = env.secret_credential("ci-bot").await;
    assert_ne!(new_id, old_id, "Replace puts another credential in the Secret");
    assert!(
        run.stdout.contains(&new_id),
        "rotate names the new credential: {}",
        run.stdout
    );
    assert_eq!(env.token_status(&new_id, &new).await, 200, "the new token works");
    assert_eq!(
        env.token_status(&old_id, &old).await,
        200,
        "the replaced token works during its grace period"
    );
    run.assert_prints_no_token(&[&new, &old], "rotate");
}

/// When nothing takes up the request (the operator is down), `rotate` gives up at its timeout,
/// exits non-zero and says what it waited for; the token is untouched.
#[tokio::test]
async fn rotate_times_out_saying_what_it_waited_for() {
    let mut env = Env::start("plugin-timeout").await;
    env.apply(&named("ci-bot", "  rotation:\n    interval: 720h\n"))
        .await;
    env.wait_ready("ci-bot").await;
    let (id, token) = env.assert_token_works("ci-bot").await;
    env.operator.kill();

    let run = admin(&["rotate", "ci-bot", "-n", &env.ns.name, "--timeout", "3s"]).await;
    assert!(!run.ok, "a rotation nobody performs is a failure: {}", run.stdout);
    assert!(
        run.stderr
            .contains("timed out after 3s waiting for the operator to take up the request"),
        "{}",
        run.stderr
    );
    assert_eq!(env.token_status(&id, &token).await, 200, "the token is untouched");
    let cred = env.credentials().get("ci-bot").await.unwrap();
    assert!(
        cred.rotate_request().is_some(),
        "the request stays for the operator to act on when it is back"
    );
}

/// A Replace rotation with no free slot is blocked: `rotate` exits non-zero at once with the
/// reason (RotationBlocked) and the full owner, and the current token keeps working.
#[tokio::test]
async fn rotate_fails_with_the_reason_when_the_rotation_is_blocked() {
    let env = Env::start("plugin-blocked").await;
    env.apply(&named(
        "ci-bot",
        "  rotation:\n    interval: 720h\n    strategy: Replace\n    gracePeriod: 1m\n",
    ))
    .await;
    env.wait_ready("ci-bot").await;
    let (id, old) = env.assert_token_works("ci-bot").await;
    env.fill_admin_quota().await;
    let admin_user = env.emulator.admin().user_id.clone();

    let started = std::time::Instant::now();
    let run = admin(&["rotate", "ci-bot", "-n", &env.ns.name, "--timeout", "50s"]).await;
    assert!(!run.ok, "a blocked rotation is a failure: {}", run.stdout);
    assert!(
        run.stderr.contains("RotationBlocked") && run.stderr.contains(&admin_user),
        "the error names the reason and the full owner: {}",
        run.stderr
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(45),
        "a blocked rotation fails when it is seen, not at the timeout"
    );
    assert_eq!(
        env.token_status(&id, &old).await,
        200,
        "the current token keeps working"
    );

    // status says the same, with the owner at 10 of 10.
    env.connection_counts(&admin_user, 10).await;
    let rows = admin(&["status", "-n", &env.ns.name, "-o", "json"]).await.json();
    let ci = row(&rows, "ci-bot");
    assert_eq!(ci["reason"], "RotationBlocked");
    assert_eq!(ci["ownerQuota"], serde_json::json!({"used": 10, "limit": 10}));
}

/// `inventory` lists every credential Control Hub holds for the organization and marks each:
/// the ApiCredential's as managed by it, ones made in Control Hub by hand (the admin's, and a
/// service account's, which `--user` alone selects) as unmanaged, one with
/// the operator's marker for an object that no longer exists as a leftover, and the connection's
/// own. No token appears in its output.
#[tokio::test]
async fn inventory_tells_managed_unmanaged_and_leftover_credentials_apart() {
    let env = Env::start("plugin-inventory").await;
    env.apply(&named("ci-bot", "  name: CI bot\n")).await;
    env.wait_ready("ci-bot").await;
    let (managed, token) = env.assert_token_works("ci-bot").await;
    let by_hand = env.create_in_controlhub("made in the UI").await;
    let robot = env
        .emulator
        .create_user("robot@example.com", "Robot", &[], true)
        .await;
    let (robots, robot_token) = env.emulator.issue_user_credential(&robot, "robot key").await;
    let gone = "00000000-dead-4bad-8bad-000000000001";
    let leftover = env.create_in_controlhub(&format!("old bot [k8s:{gone}]")).await;
    let listed = env
        .eventually_controlhub_credentials("the three made by hand", |all| {
            [&by_hand, &leftover, &robots]
                .iter()
                .all(|id| all.iter().any(|c| &c.0 == *id))
                .then(|| all.to_vec())
        })
        .await;

    let ns = env.ns.name.as_str();
    let args = ["inventory", "--connection", CONNECTION, "--namespace", ns];
    let json = admin(&[&args[..], &["-o", "json"]].concat()).await;
    let rows = json.json();
    let rows = rows.as_array().expect("an array");
    let state = |id: &str| {
        let r = rows
            .iter()
            .find(|r| r["credentialId"] == id)
            .unwrap_or_else(|| panic!("inventory lists {id}: {rows:?}"));
        (
            r["state"].as_str().unwrap_or_default().to_string(),
            r["apiCredential"].clone(),
        )
    };
    let mut ids: Vec<&str> = rows.iter().filter_map(|r| r["credentialId"].as_str()).collect();
    let mut expected: Vec<&str> = listed.iter().map(|c| c.0.as_str()).collect();
    ids.sort();
    expected.sort();
    assert_eq!(
        ids, expected,
        "every credential Control Hub lists for the organization, once"
    );
    assert_eq!(state(&managed), ("managed".into(), format!("{ns}/ci-bot").into()));
    assert_eq!(state(&by_hand), ("unmanaged".into(), serde_json::Value::Null));
    assert_eq!(state(&robots), ("unmanaged".into(), serde_json::Value::Null));
    assert_eq!(state(&leftover), ("leftover".into(), serde_json::Value::Null));
    assert_eq!(
        state(&env.emulator.admin().credential_id),
        ("connection".into(), serde_json::Value::Null)
    );

    // --user: only that owner's credentials, as Control Hub lists them for an org admin.
    let only = admin(&[&args[..], &["--user", &robot, "-o", "json"]].concat())
        .await
        .json();
    let only: Vec<(&str, &str)> = only
        .as_array()
        .expect("an array")
        .iter()
        .map(|r| {
            (
                r["credentialId"].as_str().unwrap_or_default(),
                r["owner"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        only,
        [(robots.as_str(), robot.as_str())],
        "--user {robot} lists the robot's one credential"
    );

    let table = admin(&args).await;
    assert!(table.ok, "{}", table.stderr);
    let cells = |id: &str| {
        let rows = crate::kubectl::table(&table.stdout);
        let row = rows
            .into_iter()
            .find(|r| r.get("CREDENTIAL ID").map(String::as_str) == Some(id))
            .unwrap_or_else(|| panic!("a line for {id}: {}", table.stdout));
        ["LABEL", "ACTIVE", "STATE", "APICREDENTIAL"].map(|k| row[k].clone())
    };
    let ours = format!("{ns}/ci-bot");
    assert_eq!(cells(&managed), ["CI bot", "true", "managed", ours.as_str()]);
    assert_eq!(cells(&by_hand), ["made in the UI", "true", "unmanaged", "<none>"]);
    let marked = format!("old bot [k8s:{gone}]");
    assert_eq!(cells(&leftover), [marked.as_str(), "true", "leftover", "<none>"]);
    let admin_token = env.emulator.admin().auth_token.clone();
    for run in [&json, &table] {
        run.assert_prints_no_token(&[&token, &admin_token, &robot_token], "inventory");
    }
}

/// A caller who may read ApiCredentials and connections but not the connection's Secret is
/// refused by `inventory` with a message naming the Secret and how to check their access.
#[tokio::test]
async fn inventory_refuses_a_caller_who_may_not_read_the_connections_secret() {
    let env = Env::start("plugin-norbac").await;
    let viewer = env.viewer_without_secrets().await;
    let ns = env.ns.name.as_str();
    // The viewer sees the objects (status works for them) …
    let status = plugin(&viewer, &["status", "-n", ns]).await;
    assert!(status.ok, "the viewer may run status: {}", status.stderr);

    // … but inventory needs the connection's credentials, which they may not read.
    let run = plugin(
        &viewer,
        &["inventory", "--connection", CONNECTION, "--namespace", ns],
    )
    .await;
    assert!(!run.ok, "refused: {}", run.stdout);
    assert!(
        run.stderr.contains(&format!(
            "you are not allowed to read Secret {ns}/controlhub-admin"
        )) && run
            .stderr
            .contains("kubectl auth can-i get secret/controlhub-admin"),
        "the refusal names the Secret and how to check access: {}",
        run.stderr
    );
    assert!(run.stdout.is_empty(), "nothing is listed: {}", run.stdout);
    run.assert_prints_no_token(&[&env.emulator.admin().auth_token], "a refused inventory");
}
