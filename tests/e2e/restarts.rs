//! Restarts of Control Hub mid-churn: the emulator keeps its state in a file (`--state`) and is
//! SIGKILLed and started again on the same port half-way through a churn of renames, rotations
//! and deletions. Everything converges and nothing is lost or left over.
//!
//! The kube-apiserver and etcd restart stories restart the control plane, which every test of a
//! binary shares: they live in their own test binary, `tests/restarts/` (one binary = one control
//! plane), so they never disturb the tests here.

use std::time::Instant;

use crate::env::{Churn, Env, EnvOptions, restart_story_size};

#[tokio::test]
async fn control_hub_restarted_mid_churn_nothing_is_lost() {
    let mut env = Env::start_with(
        "restart-emulator",
        EnvOptions {
            allowed_user_ids: vec!["*".into()],
            emulator_state: true,
            ..Default::default()
        },
    )
    .await;
    let n = restart_story_size();
    let mut churn = Churn::begin(&env, n).await;
    churn.mutate(&env, 0..n / 2).await;
    let before = env.emulator.admin().credential_id.clone();
    let at = Instant::now();
    env.emulator.restart().expect("restarting the emulator");
    let took = at.elapsed();
    assert_eq!(
        env.emulator.admin().credential_id,
        before,
        "the state file kept the org and its admin"
    );
    churn.mutate(&env, n / 2..n).await;
    churn.finish(&env, "emulator", took).await;
}
