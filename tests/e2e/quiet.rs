//! Proving that nothing happens without sleeping and hoping the operator looked meanwhile: a test
//! waits until the operator has *finished reconciling* the object again (its
//! `controlhub_operator_reconciles_total{controller="apicredential"}` metric), then asserts on what
//! the emulator counted (`Emulator::stats`) over that observed window.

use crate::env::{Env, WAIT, counter_sum};
use crate::support::eventually;

/// The operator's counter of finished reconciles.
pub const RECONCILES: &str = "controlhub_operator_reconciles_total";

/// ApiCredential reconciles the operator has finished so far (whatever their result). A reconcile
/// that only waits out a backoff does not count: it cannot act.
pub async fn reconciles(env: &Env) -> u64 {
    let metrics = env.scrape_metrics().await;
    let apicredential: String = metrics
        .lines()
        .filter(|l| l.contains(r#"controller="apicredential""#))
        .map(|l| format!("{l}\n"))
        .collect();
    counter_sum(&apicredential, RECONCILES)
}

/// Pokes ApiCredential `name` `times` times, each time waiting until the operator has finished
/// one more reconcile. The operator reconciles one object at a time, so with `name` the only
/// ApiCredential of its namespace each counted reconcile began after the previous one ended, hence
/// after the previous poke: `times >= 2` guarantees at least `times - 1` complete reconciles that
/// began after this was called. Panics (naming `name`) when the operator stops reconciling.
pub async fn reconciled_again(env: &Env, name: &str, times: u32) {
    for n in 1..=times {
        let before = reconciles(env).await;
        env.poke(name).await;
        eventually(
            &format!("the operator to finish reconcile {n} of {times} of {name} after a poke"),
            WAIT,
            || async { (reconciles(env).await > before).then_some(()) },
        )
        .await;
    }
}
