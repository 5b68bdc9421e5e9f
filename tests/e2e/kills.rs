//! Random kills (design §4, crash safety beyond the pause points): a seeded RNG drives a churn of
//! creates, renames, rotations and deletions over several owners and SIGKILLs the operator at
//! random instants (not at pause points), restarting it each time. Once the churn stops, Control
//! Hub holds exactly what the manifests declare (no `[k8s:` label), every Secret's token works and
//! every token rotated, replaced or deleted away is refused (revocation is immediate in the
//! emulator's default profile).
//!
//! The seed is printed; `E2E_SEED=<seed>` replays the same schedule of operations and kills (the
//! operator's own timing still varies). CI size: 20 kills over 30 credential slots;
//! `E2E_SIZE=full`: 100 kills over 200.

use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::env::{Env, Fleet, controlhub_calls, full_size};

/// Slots per owner: a slot's deleted generation may still be cleaning up while the next one is
/// created, and a Replace needs one more.
const PER_OWNER: usize = 3;

#[tokio::test]
async fn random_kills_during_churn_leave_exactly_what_is_declared() {
    let seed = std::env::var("E2E_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random::<u64>);
    println!("kills: seed={seed} (replay with E2E_SEED={seed})");
    let mut rng = StdRng::seed_from_u64(seed);
    let (slots, kills) = if full_size() { (200, 100) } else { (30, 20) };

    let mut env = Env::start("kills").await;
    let mut fleet = Fleet::new(&env, slots, PER_OWNER).await;
    let mut generation = vec![0u32; slots];
    let name = |slot: usize, generation: u32| format!("k{slot:03}-{generation}");
    let start = Instant::now();
    for slot in 0..slots / 2 {
        let owner = fleet.owner_of_slot(slot, PER_OWNER);
        fleet
            .create(&env, &name(slot, 0), owner, rng.random_bool(0.5))
            .await;
    }
    let mut counts = [0usize; 4];
    for _ in 0..kills {
        for _ in 0..rng.random_range(1..=(slots / 6).max(2)) {
            let slot = rng.random_range(0..slots);
            let current = name(slot, generation[slot]);
            let declared = fleet.creds.get(&current).map(|d| d.deleted);
            match (declared, rng.random_range(0..10)) {
                (None, _) => {
                    let owner = fleet.owner_of_slot(slot, PER_OWNER);
                    fleet.create(&env, &current, owner, rng.random_bool(0.5)).await;
                    counts[0] += 1;
                }
                (Some(true), _) => {
                    generation[slot] += 1;
                    let owner = fleet.owner_of_slot(slot, PER_OWNER);
                    let next = name(slot, generation[slot]);
                    fleet.create(&env, &next, owner, rng.random_bool(0.5)).await;
                    counts[0] += 1;
                }
                (Some(false), 0..=3) => {
                    fleet.rotate(&env, &current).await;
                    counts[1] += 1;
                }
                (Some(false), 4..=6) => {
                    fleet.rename(&env, &current).await;
                    counts[2] += 1;
                }
                (Some(false), _) => {
                    fleet.delete(&env, &current).await;
                    counts[3] += 1;
                }
            }
        }
        let wait = Duration::from_millis(rng.random_range(100..2000));
        fleet.sample_for(&env, wait).await;
        env.operator.kill();
        env.operator.restart_with(&[]);
    }
    let churn = start.elapsed();
    let converge = fleet
        .wait_converged(&env, Duration::from_secs(if full_size() { 300 } else { 120 }))
        .await;
    let calls = controlhub_calls(&env.emulator.stats().await);
    let verified = fleet.verify(&env).await;
    let creates = env.emulator.stats().await.count("createCredential", 200);
    println!(
        "kills: seed={seed} slots={slots} objects={} live={} kills={kills} creates={} rotations={} renames={} deletions={} churn={:.1}s converge-after-churn={:.1}s calls={calls} createCredential-200={creates} dead-tokens={} orphans=0",
        fleet.creds.len(),
        verified.live,
        counts[0] + slots / 2,
        counts[1],
        counts[2],
        counts[3],
        churn.as_secs_f64(),
        converge.as_secs_f64(),
        verified.dead_tokens
    );
}
