//! Control Hub misbehaving (design: retries, crash safety): the emulator answers 20 % of calls
//! with 503, 10 % with 429 (`Retry-After: 1`), drops 5 % of connections and adds latency, while a
//! fleet of ApiCredentials — the org admin's own and service accounts' (`spec.userId`), rotated by
//! Regenerate and by Replace (`gracePeriod: 0s`) — is created, renamed, rotated and deleted.
//! Then the faults stop and everything must converge to exactly what is declared, with every
//! Secret's token working and every token rotated or deleted away refused. The same churn runs
//! fault-free first, in its own Env, and the Control Hub calls of the two are compared.
//!
//! CI size: 30 credentials, 200 ms latency. `E2E_SIZE=full`: 200 credentials.

use std::time::{Duration, Instant};

use controlhub_testkit::emulator::{Faults, Stats};

use crate::env::{Env, EnvOptions, Fleet, PER_OWNER, controlhub_calls, full_size};

fn fleet_name(i: usize) -> String {
    format!("f{i:03}")
}

/// An Env whose operator checks tokens hourly: the periodic `currentUser` checks would count
/// calls in proportion to wall time, not to the work, and blur the faulty/fault-free comparison.
async fn start(prefix: &str) -> Env {
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

/// What one run of the churn measured.
struct Run {
    credentials: usize,
    /// From the first create to Kubernetes converged (faults cleared part-way).
    converge: Duration,
    /// Whether the fleet converged while the faults were still on.
    converged_under_faults: bool,
    calls: u64,
    stats: Stats,
    dead_tokens: usize,
}

/// Creates `n` ApiCredentials; once they are Ready (or `phase` passed) renames a third, rotates two
/// thirds, deletes a fifth and creates `n / 10` more; waits; clears the faults; waits for
/// convergence; counts the calls; then checks Control Hub and every token.
async fn churn(env: &Env, n: usize, faults: Option<&Faults>, phase: Duration) -> Run {
    let extra = n / 10;
    let mut fleet = Fleet::new(env, n + extra, PER_OWNER).await;
    if let Some(faults) = faults {
        env.emulator.set_faults(faults).await;
    }
    env.emulator.reset_stats().await;
    let start = Instant::now();
    for i in 0..n {
        let owner = fleet.owner_of_slot(i, PER_OWNER);
        fleet.create(env, &fleet_name(i), owner, i % 2 == 1).await;
    }
    // Let the creates land (Kubernetes only: Control Hub is failing on purpose).
    let created = fleet.try_converge(env, phase, false).await;
    for i in 0..n {
        let name = fleet_name(i);
        if i % 5 == 4 {
            fleet.delete(env, &name).await;
            continue;
        }
        if i % 3 == 0 {
            fleet.rename(env, &name).await;
        }
        if i % 3 != 2 {
            fleet.rotate(env, &name).await;
        }
        if i % 8 == 0 {
            fleet.sample(env).await;
        }
    }
    for i in n..n + extra {
        let owner = fleet.owner_of_slot(i, PER_OWNER);
        fleet.create(env, &fleet_name(i), owner, i % 2 == 1).await;
    }
    let under_faults = fleet.try_converge(env, phase, false).await;
    if faults.is_some() {
        env.emulator.clear_faults().await;
    }
    fleet
        .try_converge(env, Duration::from_secs(90), false)
        .await
        .unwrap_or_else(|what| panic!("no convergence 90 s after the faults stopped: {what}"));
    let converge = start.elapsed();
    // Counted before the checks below call Control Hub themselves.
    let stats = env.emulator.stats().await;
    let calls = controlhub_calls(&stats);
    fleet.wait_converged(env, Duration::from_secs(30)).await;
    let verified = fleet.verify(env).await;
    println!(
        "faults: run {} credentials={} created-under-faults={} churn-converged-under-faults={} converge={:.1}s calls={calls}",
        if faults.is_some() { "faulty" } else { "fault-free" },
        n + extra,
        created.is_ok(),
        under_faults.is_ok(),
        converge.as_secs_f64()
    );
    Run {
        credentials: n + extra,
        converge,
        converged_under_faults: under_faults.is_ok(),
        calls,
        stats,
        dead_tokens: verified.dead_tokens,
    }
}

/// Sum of `status` answers over every operation.
fn answered(stats: &Stats, status: &str) -> u64 {
    stats
        .operations
        .iter()
        .filter(|(op, _)| !op.starts_with("admin"))
        .filter_map(|(_, by)| by.get(status))
        .sum()
}

#[tokio::test]
async fn a_fleet_converges_exactly_after_control_hub_faults() {
    let full = full_size();
    let n = if full { 182 } else { 28 };
    let phase = Duration::from_secs(if full { 120 } else { 25 });
    let latency_ms = 200;

    let baseline = {
        let env = start("faults-free").await;
        churn(&env, n, None, phase).await
    };

    let env = start("faults").await;
    let faults = Faults {
        latency_ms,
        error_rate: 0.20,
        rate_limit_rate: 0.10,
        retry_after_seconds: 1,
        drop_rate: 0.05,
        ..Default::default()
    };
    let faulty = churn(&env, n, Some(&faults), phase).await;
    let ratio = faulty.calls as f64 / baseline.calls.max(1) as f64;
    println!(
        "faults: credentials={} latency={latency_ms}ms converge={:.1}s (fault-free {:.1}s) converged-under-faults={} calls={} (fault-free {}) per-credential={:.1} (fault-free {:.1}) ratio={ratio:.2} 503={} 429={} dropped={} dead-tokens={} orphans=0",
        faulty.credentials,
        faulty.converge.as_secs_f64(),
        baseline.converge.as_secs_f64(),
        faulty.converged_under_faults,
        faulty.calls,
        baseline.calls,
        faulty.calls as f64 / faulty.credentials as f64,
        baseline.calls as f64 / baseline.credentials as f64,
        answered(&faulty.stats, "503"),
        answered(&faulty.stats, "429"),
        answered(&faulty.stats, "dropped"),
        faulty.dead_tokens,
    );
    assert!(
        answered(&faulty.stats, "503") > 0 && answered(&faulty.stats, "429") > 0,
        "the faults were injected: {:?}",
        faulty.stats.operations
    );
    assert!(
        ratio <= 3.0,
        "Control Hub calls under faults ({}) stay within 3x the fault-free run ({}): {:?} vs {:?}",
        faulty.calls,
        baseline.calls,
        faulty.stats.operations,
        baseline.stats.operations
    );
}

/// `Retry-After` is honoured: with every create answered 429 `Retry-After: 2`, the operator does
/// not try again sooner (counts over a fixed window: at most one attempt per 2 s, plus the first
/// and one of slack); once the limit lifts, exactly one credential is made.
#[tokio::test]
async fn a_rate_limited_create_is_not_retried_before_retry_after() {
    let env = Env::start("faults-retry-after").await;
    let retry_after = 2u64;
    env.emulator
        .set_faults(&Faults {
            rate_limit_rate: 1.0,
            retry_after_seconds: retry_after,
            ..Faults::for_operations(&["createCredential"])
        })
        .await;
    env.apply("apiVersion: controlhub.dev/v1alpha1\nkind: ApiCredential\nmetadata:\n  name: ci-bot\nspec:\n  name: CI bot\n")
        .await;
    let start = Instant::now();
    crate::support::eventually("a first rate-limited create", crate::env::WAIT, || async {
        (env.emulator.stats().await.count("createCredential", 429) > 0).then_some(())
    })
    .await;
    let first = start.elapsed();
    // Half-way through the first Retry-After (the poll above is at most ~0.2 s late): one attempt.
    tokio::time::sleep(Duration::from_secs(retry_after) / 2).await;
    let early = env.emulator.stats().await.count("createCredential", 429);
    tokio::time::sleep(Duration::from_secs(10)).await;
    let window = start.elapsed() - first;
    let limited = env.emulator.stats().await.count("createCredential", 429);
    let allowed = 1 + window.as_secs_f64() as u64 / retry_after + 1;
    println!(
        "retry-after: createCredential 429s={limited} in {:.1}s after the first (Retry-After {retry_after}s, at most {allowed} allowed); {early} within the first {:.1}s",
        window.as_secs_f64(),
        retry_after as f64 / 2.0
    );
    assert_eq!(
        early,
        1,
        "a create answered 429 Retry-After {retry_after}s was sent again {} more time(s) within {:.1}s (see `reconcile failed` in the operator log)",
        early.saturating_sub(1),
        retry_after as f64 / 2.0
    );
    assert!(
        limited <= allowed,
        "{limited} creates answered 429 within {window:?}: retried sooner than Retry-After {retry_after}s"
    );
    assert!(limited >= 2, "the operator kept trying ({limited} attempts)");

    env.emulator.clear_faults().await;
    env.wait_ready("ci-bot").await;
    let (id, _) = env.assert_token_works("ci-bot").await;
    let managed = env.managed_credentials().await;
    assert_eq!(managed.len(), 1, "exactly one credential: {managed:?}");
    assert_eq!(managed[0].0, id);
    assert_eq!(managed[0].1, "CI bot");
}
