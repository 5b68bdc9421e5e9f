//! Control-plane restarts mid-churn: kube-apiserver, then etcd, SIGKILLed and started again on
//! the same ports and data while ApiCredentials are renamed, rotated and deleted. The operator's
//! watches and writes fail for a while, then everything converges: nothing lost, nothing left
//! over, every Secret's token works, every token rotated or deleted away is refused.
//!
//! Restarting the control plane disturbs every test that uses it, so these stories have their own
//! test binary (its own control plane, `controlhub_testkit::control_plane::shared`) and run one at
//! a time.

#[path = "../e2e/env.rs"]
mod env;
#[path = "../e2e/support.rs"]
mod support;

use std::time::Instant;

use controlhub_testkit::control_plane::{Component, restart_shared};

use crate::env::{Churn, Env, restart_story_size};

/// The stories restart the one control plane: one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Creates the fleet, restarts `component` while renaming, rotating and deleting (the writes retry
/// through the outage), then checks convergence.
async fn restarted_mid_churn(prefix: &str, component: Component) {
    let _serial = SERIAL.lock().await;
    let env = Env::start(prefix).await;
    let n = restart_story_size();
    let mut churn = Churn::begin(&env, n).await;
    churn.mutate(&env, 0..n / 3).await;
    let at = Instant::now();
    let restart = tokio::task::spawn_blocking(move || restart_shared(component));
    churn.mutate(&env, n / 3..n).await;
    restart
        .await
        .expect("the restart task")
        .unwrap_or_else(|e| panic!("restarting {component:?}: {e}"));
    let took = at.elapsed();
    churn.finish(&env, prefix, took).await;
}

#[tokio::test]
async fn apiserver_restarted_mid_churn_nothing_is_lost() {
    restarted_mid_churn("restart-apiserver", Component::Apiserver).await;
}

#[tokio::test]
async fn etcd_restarted_mid_churn_nothing_is_lost() {
    restarted_mid_churn("restart-etcd", Component::Etcd).await;
}
