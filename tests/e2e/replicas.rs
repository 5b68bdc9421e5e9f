//! Two replicas with leader election on one Lease (the chart's default): only the leader writes,
//! the other takes over when the leader is killed, a paused leader that lost its lease writes
//! nothing when it wakes up, and a leader stopped with SIGTERM hands the Lease over at once.
//!
//! Every story runs two real operator processes against the test's namespace and emulator, with
//! short lease timings (`env::FAST_LEASE`: 6 s lease, 4 s renew deadline, 1 s retry).

use std::time::{Duration, Instant};

use controlhub_operator::api::ROTATE_ANNOTATION;

use crate::env::{Env, EnvOptions, Operator, counter_sum};
use crate::quiet::RECONCILES;

const REQUESTS: &str = "controlhub_operator_controlhub_requests_total";

fn credential(name: &str) -> String {
    format!(
        r#"
apiVersion: controlhub.dev/v1alpha1
kind: ApiCredential
metadata:
  name: {name}
spec:
  name: {name}
"#
    )
}

/// An Env with replica `a` leading and replica `b` standing by (ready as a standby).
async fn two_replicas(prefix: &str) -> (Env, Operator) {
    let mut env = Env::start_with(
        prefix,
        EnvOptions {
            allowed_user_ids: vec!["*".into()],
            no_operator: true,
            ..Default::default()
        },
    )
    .await;
    let ns = env.ns.name.clone();
    env.operator.elect_as(&ns, "replica-a");
    env.operator.restart_with(&[]);
    env.wait_leader("replica-a").await;
    let b = env.replica("replica-b");
    crate::support::eventually("replica-b to be ready as a standby", crate::env::WAIT, || {
        let b = &b;
        async move {
            let (status, body) = b.readyz().await?;
            (status == 200 && body.contains("standby")).then_some(())
        }
    })
    .await;
    (env, b)
}

/// Two processes, five ApiCredentials: all Ready, every Control Hub call and reconcile made by the
/// leader, none by the follower. A follower stopped with SIGTERM exits 0 at once.
#[tokio::test]
async fn only_the_leader_reconciles() {
    let (env, mut b) = two_replicas("replicas").await;
    let names: Vec<String> = (1..=5).map(|i| format!("bot-{i}")).collect();
    for name in &names {
        env.apply(&credential(name)).await;
    }
    for name in &names {
        env.wait_ready(name).await;
        env.assert_token_works(name).await;
    }
    env.annotate("bot-1", ROTATE_ANNOTATION, "r1").await;
    env.wait_for("bot-1", "rotation r1 done", |c| {
        c.status.as_ref().and_then(|s| s.last_rotation_request.as_deref()) == Some("r1")
    })
    .await;

    let leader = env.operator.metrics().await;
    let follower = b.metrics().await;
    let (leader_calls, follower_calls) = (counter_sum(&leader, REQUESTS), counter_sum(&follower, REQUESTS));
    let (leader_reconciles, follower_reconciles) = (
        counter_sum(&leader, RECONCILES),
        counter_sum(&follower, RECONCILES),
    );
    println!(
        "Control Hub requests: leader {leader_calls}, follower {follower_calls}; reconciles: leader {leader_reconciles}, follower {follower_reconciles}"
    );
    assert!(leader_calls > 0, "the leader called Control Hub:\n{leader}");
    assert_eq!(
        follower_calls, 0,
        "the follower never calls Control Hub:\n{follower}"
    );
    assert!(leader_reconciles >= 5, "the leader reconciled:\n{leader}");
    assert_eq!(
        follower_reconciles, 0,
        "the follower never reconciles:\n{follower}"
    );
    assert_eq!(
        env.managed_credentials().await.len(),
        5,
        "one credential per ApiCredential"
    );
    assert_eq!(env.lease_holder().await.as_deref(), Some("replica-a"));
    assert!(
        !b.log().contains("starting controllers"),
        "the follower never started its controllers:\n{}",
        b.log()
    );

    let started = Instant::now();
    b.signal(libc::SIGTERM);
    let status = b.wait_exit(Duration::from_secs(5)).await;
    println!("follower exited {status:?} {:?} after SIGTERM", started.elapsed());
    assert!(
        status.is_some_and(|s| s.success()) && started.elapsed() < Duration::from_secs(2),
        "a follower exits 0 promptly on SIGTERM (got {status:?} after {:?})",
        started.elapsed()
    );
    assert_eq!(
        env.lease_holder().await.as_deref(),
        Some("replica-a"),
        "the leader kept the Lease"
    );
}

/// SIGKILL the leader: the follower takes over within the lease duration (+ one retry) and
/// reconciles an ApiCredential applied right after the kill.
#[tokio::test]
async fn the_follower_takes_over_when_the_leader_is_killed() {
    let (mut env, b) = two_replicas("takeover").await;
    env.apply(&credential("before")).await;
    env.wait_ready("before").await;

    let killed = Instant::now();
    env.operator.kill();
    env.apply(&credential("after-kill")).await;
    env.wait_leader("replica-b").await;
    let leads = killed.elapsed();
    env.wait_ready("after-kill").await;
    let ready = killed.elapsed();
    println!(
        "takeover after SIGKILL (6s lease, 1s retry): replica-b leads after {leads:?}, first Ready after {ready:?}"
    );
    assert!(
        ready < Duration::from_secs(20),
        "the follower took over within 20 s (took {ready:?})"
    );
    env.assert_token_works("after-kill").await;
    env.assert_token_works("before").await;
    assert!(
        counter_sum(&b.metrics().await, REQUESTS) > 0,
        "the new leader did the work"
    );
    assert_eq!(env.managed_credentials().await.len(), 2);
}

/// SIGSTOP the leader past its lease: the follower takes the Lease. Then, with the new leader gone
/// too (SIGKILL, its Lease still unexpired) and work waiting (a new ApiCredential, a rotation), the
/// old leader is let go (SIGCONT): it must neither call Control Hub to write nor write to
/// Kubernetes (no finalizer, no status, no Secret), and it exits. A leader started afterwards does
/// the work.
#[tokio::test]
async fn a_paused_leader_writes_nothing_after_losing_its_lease() {
    let (mut env, mut b) = two_replicas("fencing").await;
    env.apply(&credential("before")).await;
    env.wait_ready("before").await;
    let (_, old_token) = env.assert_token_works("before").await;

    let stopped = Instant::now();
    env.operator.signal(libc::SIGSTOP);
    env.wait_leader("replica-b").await;
    println!(
        "replica-b took the Lease {:?} after the leader was stopped",
        stopped.elapsed()
    );
    b.kill();

    // Work the old leader would do at once: its watches deliver these when it wakes up.
    env.apply(&credential("late")).await;
    env.annotate("before", ROTATE_ANNOTATION, "while-paused").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let writes_before = env.controlhub_writes().await;

    env.operator.signal(libc::SIGCONT);
    let status = env.operator.wait_exit(Duration::from_secs(10)).await;
    println!("the old leader exited {status:?} after SIGCONT");
    assert!(
        status.is_some_and(|s| !s.success()),
        "the old leader steps down and exits (non-zero) when it wakes up: {status:?}\n{}",
        env.operator.log()
    );
    // Anything it had in flight has surely arrived by now.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        env.controlhub_writes().await,
        writes_before,
        "no Control Hub write after SIGCONT:\n{}",
        env.operator.log()
    );
    let late = env.credentials().get("late").await.unwrap();
    assert!(
        late.metadata.finalizers.unwrap_or_default().is_empty() && late.status.is_none(),
        "the old leader wrote nothing to the new ApiCredential"
    );
    assert!(
        env.secrets().get_opt("late").await.unwrap().is_none(),
        "the old leader created no Secret"
    );
    let before = env.credentials().get("before").await.unwrap();
    assert_ne!(
        before.status.and_then(|s| s.last_rotation_request).as_deref(),
        Some("while-paused"),
        "the old leader did not rotate"
    );
    let (_, token) = env.assert_token_works("before").await;
    assert_eq!(token, old_token, "the token was not regenerated");
    let log = env.operator.log();
    assert!(
        log.contains("stepping down"),
        "the old leader says why it stops:\n{log}"
    );

    // A legitimate leader does the work (after replica-b's lease expires).
    env.operator.restart_with(&[]);
    env.wait_leader("replica-a").await;
    env.wait_ready("late").await;
    env.wait_for("before", "rotation while-paused done", |c| {
        c.status.as_ref().and_then(|s| s.last_rotation_request.as_deref()) == Some("while-paused")
    })
    .await;
    env.assert_token_works("late").await;
}

/// SIGTERM the leader: it hands the Lease back and exits 0; the follower leads within ~3 s and
/// reconciles.
#[tokio::test]
async fn sigterm_hands_the_lease_to_the_follower_at_once() {
    let (mut env, b) = two_replicas("handover").await;
    env.apply(&credential("before")).await;
    env.wait_ready("before").await;

    let terminated = Instant::now();
    env.operator.signal(libc::SIGTERM);
    let status = env.operator.wait_exit(Duration::from_secs(25)).await;
    let exited = terminated.elapsed();
    env.wait_leader("replica-b").await;
    let leads = terminated.elapsed();
    println!("SIGTERM: the leader exited {status:?} after {exited:?}; replica-b leads after {leads:?}");
    assert!(
        status.is_some_and(|s| s.success()),
        "the leader exits 0 on SIGTERM: {status:?}\n{}",
        env.operator.log()
    );
    assert!(
        leads < Duration::from_secs(3),
        "the follower leads within 3 s of SIGTERM (took {leads:?})"
    );
    env.apply(&credential("after-term")).await;
    env.wait_ready("after-term").await;
    env.assert_token_works("after-term").await;
    assert!(counter_sum(&b.metrics().await, REQUESTS) > 0);
    assert!(env.operator.log().contains("released the lease"));
}
