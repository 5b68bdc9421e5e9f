//! Graceful shutdown: SIGTERM closes the write gate, lets the step in flight finish (a credential
//! issued in Control Hub gets its token stored, never abandoned between the two writes), hands the
//! Lease back and exits 0 within the grace period; an idle operator exits 0 at once.

use std::time::{Duration, Instant};

use crate::env::{Env, EnvOptions};

const CI_BOT: &str = r#"
apiVersion: controlhub.dev/v1alpha1
kind: ApiCredential
metadata:
  name: ci-bot
spec:
  name: CI bot
"#;

/// An Env whose operator (leader election on) is started with `envs`.
async fn electing(prefix: &str, envs: &[(String, String)]) -> Env {
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
    env.operator.set_arg("shutdown-grace-period", "20s");
    env.operator.restart_with(envs);
    env.wait_leader("replica-a").await;
    env
}

/// Paused right after Control Hub issued a credential (`create:issued`, its token not yet in the
/// Secret), the operator gets SIGTERM: it keeps running while the step is in flight, and once the
/// step goes on it stores the token, stops before the next step, releases the Lease and exits 0.
/// A fresh operator then finds exactly that one credential and goes on to Ready.
#[tokio::test]
async fn sigterm_mid_create_stores_the_token_then_exits() {
    let file = std::env::temp_dir().join(format!("controlhub-pause-shutdown-{:08x}", rand::random::<u32>()));
    let _ = std::fs::remove_file(&file);
    let mut env = electing(
        "shutdown",
        &[
            ("CONTROLHUB_PAUSE_AT".into(), "create:issued".into()),
            ("CONTROLHUB_PAUSE_FILE".into(), file.display().to_string()),
        ],
    )
    .await;
    env.apply(CI_BOT).await;
    assert_eq!(env.wait_paused(&file).await, "create:issued");
    assert_eq!(
        env.managed_credentials().await.len(),
        1,
        "the credential was issued"
    );

    let terminated = Instant::now();
    env.operator.signal(libc::SIGTERM);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        env.operator.is_running(),
        "the operator waits for the step in flight:\n{}",
        env.operator.log()
    );
    assert_eq!(
        env.lease_holder().await.as_deref(),
        Some("replica-a"),
        "and keeps the Lease meanwhile"
    );
    std::fs::write(&file, "resume").unwrap();
    let status = env.operator.wait_exit(Duration::from_secs(20)).await;
    let _ = std::fs::remove_file(&file);
    println!(
        "exited {status:?} {:?} after SIGTERM (1 s of it paused)",
        terminated.elapsed()
    );
    assert!(
        status.is_some_and(|s| s.success()),
        "exit 0 within the grace period: {status:?}\n{}",
        env.operator.log()
    );
    let (id, _) = env.assert_token_works("ci-bot").await;
    let managed = env.managed_credentials().await;
    assert_eq!(managed.len(), 1, "exactly one credential: {managed:?}");
    assert_eq!(
        managed[0].0, id,
        "the Secret holds the credential issued before SIGTERM"
    );
    assert_eq!(env.lease_holder().await, None, "the Lease was handed back");
    let log = env.operator.log();
    assert!(log.contains("reconciles drained"), "{log}");

    // A fresh operator takes over at once (the Lease was released) and finishes the story.
    env.operator.restart_with(&[]);
    env.wait_ready("ci-bot").await;
    let (after, _) = env.assert_token_works("ci-bot").await;
    assert_eq!(after, id);
    assert_eq!(env.managed_credentials().await.len(), 1);
}

/// An idle leader exits 0 within 2 s of SIGTERM and releases its Lease.
#[tokio::test]
async fn sigterm_while_idle_exits_promptly() {
    let mut env = electing("idle-stop", &[]).await;
    env.apply(CI_BOT).await;
    env.wait_ready("ci-bot").await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let terminated = Instant::now();
    env.operator.signal(libc::SIGTERM);
    let status = env.operator.wait_exit(Duration::from_secs(10)).await;
    let took = terminated.elapsed();
    println!("idle operator exited {status:?} {took:?} after SIGTERM");
    assert!(
        status.is_some_and(|s| s.success()),
        "exit 0: {status:?}\n{}",
        env.operator.log()
    );
    assert!(took < Duration::from_secs(2), "exit within 2 s (took {took:?})");
    assert_eq!(env.lease_holder().await, None, "the Lease was handed back");
}
