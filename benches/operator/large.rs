//! Figure 4 at 10,000 ApiCredentials over 1,000 owners: the operator's resident memory after all
//! are Ready and after a resync, with the time it took to get there.
//!
//! Emulator latency 0 here (the memory figure does not depend on it, and it keeps the run short).
//! Objects are created by concurrent server-side applies before the operator starts (so it lists
//! them all, as after an upgrade or failover); drift checks every 60 s, so one resync of
//! everything happens during the wait after Ready.

use std::time::{Duration, Instant};

use crate::BenchResult;
use crate::lab::{Cluster, Lab, Limits};
use crate::process::OperatorArgs;
use crate::table::{Table, memory, mib, secs};

const PER_OWNER: usize = 10;
const APPLIES_IN_FLIGHT: usize = 32;
const DRIFT: Duration = Duration::from_secs(60);
const WAIT_READY: Duration = Duration::from_secs(480);
const MEMORY_TARGET_KIB: u64 = 64 * 1024;

pub async fn run(cluster: &Cluster, table: &mut Table, owners: usize) -> BenchResult<()> {
    let limits = Limits {
        max_concurrent_requests: 32,
        requests_per_second: 1000.0,
        burst: 1000,
    };
    let mut lab = Lab::start(cluster, "large", limits).await?;
    let users = lab.create_service_accounts(owners).await;
    let args = OperatorArgs {
        namespace: lab.namespace.clone(),
        concurrency: 64,
        drift_check_interval: DRIFT,
        token_check_interval: Duration::from_secs(3600),
    };
    let count = owners * PER_OWNER;
    let label = format!("{count} over {owners} owners");
    let items: Vec<(String, String)> = (0..count)
        .map(|n| (format!("large-{n}"), users[n % owners].clone()))
        .collect();
    // Applied first, then the operator starts (as after an upgrade or a failover): it lists them all.
    let (applied_in, failed) = lab.apply_many(items, APPLIES_IN_FLIGHT).await;
    let started = Instant::now();
    lab.start_operator(&args).await?;
    let (ready_after, ready) = lab
        .wait_all_ready(count, WAIT_READY, Duration::from_millis(500))
        .await;
    let all_ready = ready_after.map(|_| started.elapsed());
    table.info(
        format!("4. applying {count} ApiCredentials before the operator starts ({APPLIES_IN_FLIGHT} at a time; {failed} failed)"),
        secs(applied_in),
    );
    let Some(op) = &lab.operator else {
        return Err("the operator is not running".into());
    };
    match all_ready {
        Some(took) => table.info(
            format!("4. operator start → {label} Ready (Control Hub latency 0)"),
            secs(took),
        ),
        None => table.info(
            format!("4. operator start → {label} Ready"),
            format!("{ready} of {count} after {}", secs(WAIT_READY)),
        ),
    }
    let at_ready = op.memory()?;
    table.info(
        format!("4. operator RSS at {label}, when Ready"),
        memory(&at_ready),
    );
    tokio::time::sleep(DRIFT + DRIFT / 10 + Duration::from_secs(5)).await;
    let after = op.memory()?;
    table.target(
        format!("4. operator RSS at {label}, after a resync"),
        memory(&after),
        "≤ 64 MiB",
        after.rss_kib <= MEMORY_TARGET_KIB && all_ready.is_some(),
    );
    table.info(
        format!("4. operator peak RSS (VmHWM) at {label}"),
        mib(after.peak_kib),
    );
    if let Some(op) = lab.operator.take() {
        op.kill();
    }
    Ok(())
}
