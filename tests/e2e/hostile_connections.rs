//! Trust boundaries of namespaced connections, which namespace tenants write: the operator's URL
//! policy refuses http:// and hosts outside its allow-list before any request is made; a connection
//! Control Hub refuses is not asked again on every reconcile of its ApiCredentials; and deleted
//! connections leave no cached client behind.

use kube::api::{Api, DeleteParams};

use crate::env::{CONNECTION, Env, EnvOptions, WAIT, condition};
use crate::support::eventually;
use controlhub_operator::api::{ConditionType, ControlHubConnection};

const CI_BOT: &str = r#"
apiVersion: controlhub.dev/v1alpha1
kind: ApiCredential
metadata:
  name: ci-bot
spec:
  name: CI bot
"#;

/// Every request the emulator answered, all operations together.
async fn requests_seen(env: &Env) -> u64 {
    let stats = env.emulator.stats().await;
    stats
        .operations
        .values()
        .flat_map(|by_status| by_status.values())
        .sum()
}

/// An Env whose operator runs with `args` (`--flag=value` pairs, replacing the Env's).
async fn env_with_operator_args(prefix: &str, args: &[(&str, &str)]) -> Env {
    let mut env = Env::start_with(
        prefix,
        EnvOptions {
            no_operator: true,
            allowed_user_ids: vec!["*".into()],
            ..Default::default()
        },
    )
    .await;
    for (flag, value) in args {
        env.operator.set_arg(flag, value);
    }
    env.operator.restart_with(&[]);
    env
}

/// Without `--namespaced-connection-allow-http`, a ControlHubConnection with an http:// URL is
/// refused (ConnectionUrlNotAllowed, naming the setting that allows it) and Control Hub never
/// hears from the operator: not even `currentUser`.
#[tokio::test]
async fn a_namespaced_http_connection_is_refused_without_allow_http() {
    let env = env_with_operator_args("hostile-http", &[("namespaced-connection-allow-http", "false")]).await;
    env.apply(CI_BOT).await;
    let cred = env.wait_reason("ci-bot", "ConnectionUrlNotAllowed").await;
    let (status, _, message) = condition(&cred, ConditionType::Ready).expect("a Ready condition");
    assert_eq!(status, "False");
    assert!(
        message.contains("--namespaced-connection-allow-http")
            && message.contains("namespacedConnections.allowHttp"),
        "the message names the setting: {message}"
    );
    env.wait_connection_reason(CONNECTION, "ConnectionUrlNotAllowed")
        .await;
    let seen = requests_seen(&env).await;
    println!("requests Control Hub saw: {seen}");
    assert_eq!(seen, 0, "nothing was sent to the refused URL");
}

/// With an allow-list that does not name 127.0.0.1, the test's connection is refused with a
/// message naming the host and the setting, and nothing is sent.
#[tokio::test]
async fn a_host_outside_the_allowed_hosts_is_refused() {
    let env = env_with_operator_args(
        "hostile-host",
        &[(
            "namespaced-connection-allowed-hosts",
            "na01.hub.streamsets.com,*.example.com",
        )],
    )
    .await;
    env.apply(CI_BOT).await;
    let cred = env.wait_reason("ci-bot", "ConnectionUrlNotAllowed").await;
    let (_, _, message) = condition(&cred, ConditionType::Ready).expect("a Ready condition");
    assert!(
        message.contains("127.0.0.1") && message.contains("--namespaced-connection-allowed-hosts"),
        "the message names the host and the setting: {message}"
    );
    let seen = requests_seen(&env).await;
    println!("requests Control Hub saw: {seen}");
    assert_eq!(seen, 0, "nothing was sent to the refused host");
}

/// A connection whose token Control Hub refuses (401), used by 5 ApiCredentials, is not asked
/// `currentUser` on every reconcile: its failure is cached and retried after a backoff.
#[tokio::test]
async fn a_refused_connection_is_not_asked_again_on_every_reconcile() {
    let env = Env::start("hostile-401").await;
    let admin = env.emulator.admin().user_id.clone();
    let (id, token) = env.emulator.issue_user_credential(&admin, "revoked soon").await;
    env.put_connection_secret("revoked", &id, &token).await;
    env.delete_in_controlhub(&id).await;
    env.apply_connection("broken", "revoked").await;
    let names: Vec<String> = (1..=5).map(|i| format!("bot-{i}")).collect();
    for name in &names {
        env.apply(&format!(
            "apiVersion: controlhub.dev/v1alpha1\nkind: ApiCredential\nmetadata:\n  name: {name}\nspec:\n  connectionRef:\n    kind: ControlHubConnection\n    name: broken\n"
        ))
        .await;
    }
    for name in &names {
        env.wait_reason(name, "AuthenticationFailed").await;
    }
    env.emulator.reset_stats().await;
    // The operator reconciles every blocked ApiCredential every few seconds here
    // (--drift-check-interval=3s): 20 s are several reconciles of each.
    tokio::time::sleep(std::time::Duration::from_secs(20)).await;
    let stats = env.emulator.stats().await;
    let calls = stats.total("currentUser");
    println!(
        "currentUser calls in 20 s for a refused connection with 5 ApiCredentials: {calls} ({} answered 401)",
        stats.count("currentUser", 401)
    );
    assert!(calls <= 5, "{calls} currentUser calls in 20 s");
}

/// The operator's cached clients.
async fn cached_clients(env: &Env) -> i64 {
    let text = env.scrape_metrics().await;
    text.lines()
        .find_map(|l| {
            l.strip_prefix(
                "controlhub_operator_controlhub_connection_clients{kind=\"ControlHubConnection\"} ",
            )
        })
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no controlhub_connection_clients gauge in:\n{text}"))
}

/// Connections created and deleted leave no cached client behind: the gauge of cached clients
/// returns to where it was.
#[tokio::test]
async fn deleted_connections_leave_no_cached_client() {
    let env = Env::start("hostile-evict").await;
    env.wait_connection_reason(CONNECTION, "Ready").await;
    let before = cached_clients(&env).await;
    let names = ["extra-1", "extra-2", "extra-3"];
    for name in names {
        env.apply_connection(name, "controlhub-admin").await;
    }
    for name in names {
        env.wait_connection_reason(name, "Ready").await;
    }
    let during = cached_clients(&env).await;
    println!("cached clients: {before} before, {during} with 3 more connections");
    assert_eq!(during, before + 3);
    let api: Api<ControlHubConnection> = env.ns.api();
    for name in names {
        api.delete(name, &DeleteParams::default()).await.unwrap();
    }
    let after = eventually("the cached clients to return to their count", WAIT, || {
        let env = &env;
        async move {
            let now = cached_clients(env).await;
            (now == before).then_some(now)
        }
    })
    .await;
    println!("cached clients after deleting them: {after}");
}
