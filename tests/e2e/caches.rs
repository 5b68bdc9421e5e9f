//! The watch caches: what the reconcile asks the API server, counted by the operator itself
//! (`controlhub_operator_kubernetes_requests_total{verb,resource}`, a layer on its client).
//! A steady-state reconcile reads and writes nothing; a new credential reads its connection, the
//! connection's Secret and its namespace from the caches.

use std::collections::BTreeMap;
use std::time::Duration;

use controlhub_testkit::world::CredentialManifest;

use crate::env::{Env, EnvOptions, counter_sum};
use crate::quiet::RECONCILES;
use crate::support::eventually;

const REQUESTS: &str = "controlhub_operator_kubernetes_requests_total";

fn credential(name: &str) -> String {
    CredentialManifest::new(name)
        .label(name)
        .rotation_interval("24h", "Regenerate")
        .yaml()
}

/// `(verb, resource)` → requests so far, from a scrape.
fn requests(metrics: &str) -> BTreeMap<(String, String), u64> {
    let mut out = BTreeMap::new();
    for line in metrics.lines().filter(|l| l.starts_with(REQUESTS)) {
        let Some((labels, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let label = |name: &str| {
            labels
                .split(&format!("{name}=\""))
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .unwrap_or_default()
                .to_string()
        };
        let value = value.parse::<f64>().unwrap_or_default() as u64;
        out.insert((label("verb"), label("resource")), value);
    }
    out
}

/// What changed between two counts, without watches and lists (the caches' own).
fn sent_between(
    before: &BTreeMap<(String, String), u64>,
    after: &BTreeMap<(String, String), u64>,
) -> BTreeMap<(String, String), u64> {
    after
        .iter()
        .filter(|((verb, _), _)| verb != "watch" && verb != "list")
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or_default()))
        .filter(|(_, d)| *d > 0)
        .collect()
}

/// The requests (other than watches and lists) the operator sent while it finished `reconciles`
/// more reconciles, counted from now.
async fn sent_over_reconciles(env: &Env, reconciles: u64) -> BTreeMap<(String, String), u64> {
    let first = env.scrape_metrics().await;
    let reconciled = counter_sum(&first, RECONCILES);
    let last = eventually(
        &format!("{reconciles} more reconciles"),
        Duration::from_secs(60),
        || async {
            let now = env.scrape_metrics().await;
            (counter_sum(&now, RECONCILES) >= reconciled + reconciles).then_some(now)
        },
    )
    .await;
    sent_between(&requests(&first), &requests(&last))
}

/// An Env whose operator checks tokens only hourly (a token check reads the Secret by design),
/// with a drift check every 3 s (each one a full reconcile of every object).
async fn env(prefix: &str) -> Env {
    let mut env = Env::start_with(
        prefix,
        EnvOptions {
            allowed_user_ids: vec!["*".into()],
            no_operator: true,
            ..Default::default()
        },
    )
    .await;
    env.operator.set_arg("token-check-interval", "1h");
    env.operator.restart_with(&[]);
    env
}

#[tokio::test]
async fn a_steady_state_reconcile_reads_and_writes_nothing_on_the_api_server() {
    let env = env("caches-steady").await;
    for name in ["steady-a", "steady-b", "steady-c"] {
        env.apply(&credential(name)).await;
    }
    for name in ["steady-a", "steady-b", "steady-c"] {
        env.wait_ready(name).await;
    }
    // Let the reconciles the creation itself triggered finish (and the caches catch up).
    tokio::time::sleep(Duration::from_secs(4)).await;
    // At least two drift checks of each object.
    let sent = sent_over_reconciles(&env, 6).await;
    println!("requests sent over six reconciles: {sent:?}");
    assert!(
        sent.is_empty(),
        "steady-state reconciles sent Kubernetes requests: {sent:?}"
    );
}

/// Someone else's write after the operator's last status write (here an unrelated annotation)
/// leaves the cache at a version the operator did not write. It reads the object afresh once
/// (it cannot order versions), learns that version includes its write, and the drift checks after
/// that read nothing — not one GET per object per drift check for as long as nothing is written.
#[tokio::test]
async fn another_writers_change_costs_one_read_not_one_per_drift_check() {
    let env = env("caches-other-writer").await;
    env.apply(&credential("annotated")).await;
    env.wait_ready("annotated").await;
    env.annotate("annotated", "example.com/owner-team", "payments")
        .await;
    // The annotation's own reconcile (one fresh read) finishes and the cache catches up.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let sent = sent_over_reconciles(&env, 3).await;
    assert!(
        sent.is_empty(),
        "drift checks after another writer's change sent Kubernetes requests: {sent:?}"
    );
}

#[tokio::test]
async fn a_new_credential_reads_its_connection_and_namespace_from_the_caches() {
    let env = env("caches-new").await;
    // The first one warms the connection's client (and its Secret gets the watched label).
    env.apply(&credential("warm")).await;
    env.wait_ready("warm").await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let before = requests(&env.scrape_metrics().await);
    env.apply(&credential("fresh")).await;
    env.wait_ready("fresh").await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let sent = sent_between(&before, &requests(&env.scrape_metrics().await));
    println!("requests for one new credential: {sent:?}");
    let count = |verb: &str, resource: &str| {
        sent.get(&(verb.to_string(), resource.to_string()))
            .copied()
            .unwrap_or_default()
    };
    for resource in [
        "controlhubconnections",
        "clustercontrolhubconnections",
        "namespaces",
    ] {
        assert_eq!(
            count("get", resource),
            0,
            "{resource} come from the caches: {sent:?}"
        );
    }
    assert!(
        count("get", "secrets") <= 1,
        "at most one read of the new Secret (its absence is confirmed, never taken from a cache): {sent:?}"
    );
    assert_eq!(count("create", "secrets"), 1, "{sent:?}");
    assert_eq!(count("patch", "secrets"), 1, "one write of the token: {sent:?}");
    assert!(count("patch", "apicredentials/status") <= 2, "{sent:?}");
}

/// `/readyz` turns 200 once the ApiCredential cache holds its first list (the bench and the
/// chart's readiness probe wait for it). It once stayed 503 for good: a second waiter on the
/// store's readiness signal was never woken.
#[tokio::test]
async fn the_operator_reports_ready_once_its_cache_is_synced() {
    let env = Env::start("caches-ready").await;
    let url = format!(
        "http://{}/readyz",
        env.operator.arg("health-addr").expect("--health-addr is set")
    );
    eventually("/readyz answers 200", Duration::from_secs(30), || async {
        let status = reqwest::get(&url).await.ok()?.status();
        status.is_success().then_some(())
    })
    .await;
}
