//! Figure 4: time until all ApiCredentials are Ready and the operator's resident memory, for
//! N = 100, 1,000 and 10,000 (`BENCH_CURVE`, comma-separated), 10 per owner.
//!
//! Each point is a fresh lab: the tuned connection (32 in flight), Control Hub latency 50 ms,
//! `--concurrency=64`. The ApiCredentials are applied first, then the operator starts (as after an
//! upgrade or a failover: it lists them all); the clock runs from its start to all Ready. Memory is
//! read when all are Ready and again after one resync of everything (drift checks every 30 s). The
//! target is ≤ 64 MiB at 10,000. Each point goes to the JSON the scaling chart is drawn from.

use std::time::{Duration, Instant};

use controlhub_testkit::emulator::Faults;

use crate::BenchResult;
use crate::apiserver;
use crate::lab::{Cluster, Lab, TUNED};
use crate::process::OperatorArgs;
use crate::scale::{KUBE_RESOURCES, k8s_counts};
use crate::table::{Table, memory, mib, secs};

const PER_OWNER: usize = 10;
const LATENCY_MS: u64 = 50;
const APPLIES_IN_FLIGHT: usize = 32;
const DRIFT: Duration = Duration::from_secs(30);
const MEMORY_TARGET_KIB: u64 = 64 * 1024;
const MEMORY_TARGET_AT: usize = 10_000;

pub async fn run(cluster: &Cluster, table: &mut Table, counts: &[usize]) -> BenchResult<()> {
    for &count in counts {
        println!("\n[4] {count} ApiCredentials over {} owners", count / PER_OWNER);
        let started = Instant::now();
        if let Err(e) = point(cluster, table, count).await {
            table.info(format!("4. {count}: FAILED"), e.to_string());
        }
        table.info(format!("4. {count}: the point took"), secs(started.elapsed()));
        crate::save(table);
    }
    Ok(())
}

async fn point(cluster: &Cluster, table: &mut Table, count: usize) -> BenchResult<()> {
    let owners = count.div_ceil(PER_OWNER);
    let mut lab = Lab::start(cluster, &format!("curve{count}"), Some(TUNED)).await?;
    let users = lab.create_service_accounts(owners).await;
    lab.emulator
        .set_faults(&Faults {
            latency_ms: LATENCY_MS,
            ..Faults::default()
        })
        .await;
    let args = OperatorArgs {
        namespace: lab.namespace.clone(),
        concurrency: Some(64),
        drift_check_interval: DRIFT,
        token_check_interval: Duration::from_secs(3600),
    };
    let items: Vec<(String, String)> = (0..count)
        .map(|n| (format!("curve-{n}"), users[n % owners].clone()))
        .collect();
    let (applied_in, failed) = lab.apply_many(items, APPLIES_IN_FLIGHT).await;
    table.info(
        format!(
            "4. {count}: applying before the operator starts ({APPLIES_IN_FLIGHT} at a time; {failed} failed)"
        ),
        secs(applied_in),
    );
    // Generous: 20 × the Control Hub floor (two writes per credential at 32 in flight), ≥ 60 s.
    let wait = Duration::from_millis(2 * LATENCY_MS * count as u64 * 20 / 32).max(Duration::from_secs(60));
    let k8s_before = k8s_counts(&lab).await;
    let started = Instant::now();
    lab.start_operator(&args).await?;
    let (ready_after, ready) = lab.wait_all_ready(count, wait, Duration::from_millis(100)).await;
    let all_ready = ready_after.map(|_| started.elapsed());
    let k8s_after = k8s_counts(&lab).await;
    let per_credential =
        apiserver::total(&apiserver::delta(&k8s_before, &k8s_after), &KUBE_RESOURCES) as f64 / count as f64;
    let op = lab.operator.as_ref().ok_or("the operator is not running")?;
    let at_ready = op.memory()?;
    match all_ready {
        Some(took) => table.info(
            format!("4. {count}: operator start → all Ready (50 ms Control Hub, 32 in flight)"),
            secs(took),
        ),
        None => table.info(
            format!("4. {count}: operator start → all Ready"),
            format!(
                "{ready} of {count} after {} (not Ready: {})",
                secs(wait),
                lab.not_ready_reasons().await
            ),
        ),
    }
    table.info(
        format!("4. {count}: Kubernetes API requests per credential"),
        format!("{per_credential:.2}"),
    );
    table.info(format!("4. {count}: operator RSS when Ready"), memory(&at_ready));
    tokio::time::sleep(DRIFT + DRIFT / 10 + Duration::from_secs(5)).await;
    let after = op.memory()?;
    let label = format!("4. {count}: operator RSS after a resync");
    if count == MEMORY_TARGET_AT {
        table.target(
            label,
            memory(&after),
            "≤ 64 MiB",
            after.rss_kib <= MEMORY_TARGET_KIB && all_ready.is_some(),
        );
    } else {
        table.info(label, memory(&after));
    }
    table.info(
        format!("4. {count}: operator peak RSS (VmHWM)"),
        mib(after.peak_kib),
    );
    table.append(
        "curve",
        serde_json::json!({
            "count": count,
            "ready_s": all_ready.map(|d| d.as_secs_f64()),
            "ready_count": ready,
            "rss_ready_mib": at_ready.rss_kib as f64 / 1024.0,
            "rss_after_resync_mib": after.rss_kib as f64 / 1024.0,
            "peak_mib": after.peak_kib as f64 / 1024.0,
            "k8s_per_credential": per_credential,
        }),
    );
    if let Some(op) = lab.operator.take() {
        op.kill();
    }
    Ok(())
}
