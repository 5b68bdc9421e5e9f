//! Figures 2–4 at 1,000 ApiCredentials: time until all are Ready with a slow Control Hub, the
//! Control Hub calls per credential at creation and per resync in steady state (token checks off,
//! then on), and the operator's memory.
//!
//! 100 service accounts own 10 ApiCredentials each (Control Hub's default limit of 10). The
//! emulator answers every Control Hub call after 50 ms. The connection is the tuned one (32 requests
//! in flight, 1,000 requests/s, burst 1,000), so the rate limit does not dominate; the operator
//! reconciles 64 ApiCredentials at once (twice the Control Hub concurrency: each reconcile spends
//! part of its time on the Kubernetes API). Drift checks every 10 s.
//!
//! Targets: all Ready ≤ 4 s (the floor with two Control Hub writes per create is 2 × 1,000 × 50 ms
//! ÷ 32 ≈ 3.1 s) and ≤ 4 Kubernetes API requests per credential (counted by the API server). What
//! bounds the time is printed beside it: the API requests by verb and resource per credential, and
//! the CPU the operator and the control plane used while the machine's 2 cores were this busy.

use std::time::{Duration, Instant};

use controlhub_testkit::emulator::{Faults, Stats};

use crate::BenchResult;
use crate::apiserver;
use crate::lab::{Cluster, Lab, TUNED};
use crate::process::{self, OperatorArgs};
use crate::table::{Table, memory, mib, secs};

const OWNERS: usize = 100;
const PER_OWNER: usize = 10;
const LATENCY: Duration = Duration::from_millis(50);
const CONCURRENT_REQUESTS: u32 = 32;
const RECONCILES: u16 = 64;
const APPLIES_IN_FLIGHT: usize = 32;
const DRIFT: Duration = Duration::from_secs(10);
const PERIODS: u32 = 2;
const WAIT_READY: Duration = Duration::from_secs(240);
const MEMORY_TARGET_KIB: u64 = 64 * 1024;
const READY_TARGET: Duration = Duration::from_secs(4);
const K8S_PER_CREDENTIAL_TARGET: f64 = 4.0;

/// Control Hub operations that change something.
const WRITES: [&str; 3] = ["createCredential", "updateCredential", "deleteCredential"];
const LISTS: [&str; 2] = ["listCredentials", "listOrgCredentials"];
/// The resources the operator reads and writes.
pub const KUBE_RESOURCES: [&str; 5] = [
    "apicredentials",
    "secrets",
    "controlhubconnections",
    "events",
    "namespaces",
];

pub async fn run(cluster: &Cluster, table: &mut Table) -> BenchResult<()> {
    let mut lab = Lab::start(cluster, "scale", Some(TUNED)).await?;
    let owners = lab.create_service_accounts(OWNERS).await;
    lab.emulator
        .set_faults(&Faults {
            latency_ms: millis(LATENCY),
            ..Faults::default()
        })
        .await;
    let mut args = OperatorArgs {
        namespace: lab.namespace.clone(),
        concurrency: Some(RECONCILES),
        drift_check_interval: DRIFT,
        token_check_interval: Duration::from_secs(3600),
    };
    let count = OWNERS * PER_OWNER;
    creation(&mut lab, &owners, &args, table).await?;

    // 3. Steady state, token checks off: let creation's resyncs pass, then count two periods.
    tokio::time::sleep(DRIFT / 2).await;
    let k8s_before = k8s_counts(&lab).await;
    let own_before = operator_requests(&lab).await;
    let quiet = steady_state(&lab).await;
    let k8s_after = k8s_counts(&lab).await;
    let own_after = operator_requests(&lab).await;
    report_steady(table, "token checks off", &quiet, count);
    report_k8s(
        table,
        "steady, per credential per period",
        &k8s_before,
        &k8s_after,
        count * PERIODS as usize,
        None,
    );
    if let (Some(before), Some(after)) = (own_before, own_after) {
        table.info(
            "     of which the operator sent (its own request counter; the rest are other clients')",
            format!(
                "{:.2}",
                after.saturating_sub(before) as f64 / (count * PERIODS as usize) as f64
            ),
        );
    }
    // 4. Memory at 1,000, after Ready and resyncs.
    if let Some(op) = &lab.operator {
        let m = op.memory()?;
        table.target(
            format!("4. operator RSS at {count} (after Ready and resyncs)"),
            memory(&m),
            "≤ 64 MiB (at 10,000)",
            m.rss_kib <= MEMORY_TARGET_KIB,
        );
        table.info(
            format!("4. operator peak RSS (VmHWM) at {count}"),
            mib(m.peak_kib),
        );
    }

    // 3. Steady state with token checks every period: restart, let the start-up pass finish.
    args.token_check_interval = DRIFT;
    lab.start_operator(&args).await?;
    tokio::time::sleep(DRIFT + DRIFT / 5).await;
    let checked = steady_state(&lab).await;
    report_steady(table, "token checks every 10 s", &checked, count);
    table.info(
        "3. token checks (currentUser) per credential per period",
        format!(
            "{:.2}",
            checked.total("currentUser") as f64 / count as f64 / f64::from(PERIODS)
        ),
    );
    if let Some(op) = lab.operator.take() {
        op.kill();
    }
    Ok(())
}

/// Figure 2 and the creation half of figure 3: the ApiCredentials exist first (applied with no
/// operator running), then the operator starts; the clock runs from its start to all Ready, so it
/// measures the operator alone.
async fn creation(
    lab: &mut Lab,
    owners: &[String],
    args: &OperatorArgs,
    table: &mut Table,
) -> BenchResult<()> {
    let count = OWNERS * PER_OWNER;
    let items: Vec<(String, String)> = (0..count)
        .map(|n| (format!("scale-{n}"), owners[n % OWNERS].clone()))
        .collect();
    let (applied_in, failed) = lab.apply_many(items, APPLIES_IN_FLIGHT).await;
    lab.emulator.reset_stats().await;
    let k8s_before = k8s_counts(lab).await;
    let plane_cpu_before: Vec<Duration> = lab
        .cluster
        .plane_pids
        .iter()
        .map(|p| process::cpu_time(*p))
        .collect();
    let machine_before = process::machine_cpu();
    let started = Instant::now();
    lab.start_operator(args).await?;
    let (ready_after, ready) = lab
        .wait_all_ready(count, WAIT_READY, Duration::from_millis(50))
        .await;
    let all_ready = ready_after.map(|_| started.elapsed());
    let wall = started.elapsed();
    let machine_after = process::machine_cpu();
    let operator_cpu = lab
        .operator
        .as_ref()
        .map(|op| process::cpu_time(op.pid()))
        .unwrap_or_default();
    let plane_cpu: Vec<Duration> = lab
        .cluster
        .plane_pids
        .iter()
        .zip(&plane_cpu_before)
        .map(|(p, before)| process::cpu_time(*p).saturating_sub(*before))
        .collect();
    // Ready is reported once the token is in the Secret; the rename from the pending label may
    // still be in flight, so the call counts are read a moment later.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let creation = lab.emulator.stats().await;
    let k8s_after = k8s_counts(lab).await;
    let target = READY_TARGET;
    let calls: u64 = creation
        .operations
        .values()
        .flat_map(|by_status| by_status.values())
        .sum();
    table.info(
        format!("2. applying {count} ApiCredentials before the operator starts ({APPLIES_IN_FLIGHT} at a time; {failed} failed)"),
        secs(applied_in),
    );
    match all_ready {
        Some(took) => table.target(
            format!("2. operator start → {count} Ready (50 ms Control Hub, {CONCURRENT_REQUESTS} in flight)"),
            secs(took),
            format!("≤ {}", secs(target)),
            took <= target,
        ),
        None => table.target(
            format!("2. operator start → {count} Ready"),
            format!(
                "{ready} Ready after {} (not Ready: {})",
                secs(WAIT_READY),
                lab.not_ready_reasons().await
            ),
            format!("≤ {}", secs(target)),
            false,
        ),
    }
    table.info(
        format!("2. floor for the {calls} Control Hub calls made (× 50 ms ÷ {CONCURRENT_REQUESTS})"),
        secs(LATENCY.mul_f64(calls as f64 / f64::from(CONCURRENT_REQUESTS))),
    );
    report_creation_calls(table, &creation, count);
    let per_credential = report_k8s(
        table,
        "creation, per credential",
        &k8s_before,
        &k8s_after,
        count,
        Some(K8S_PER_CREDENTIAL_TARGET),
    );
    // What bounds the time: where the CPU went while the clock ran.
    let busy = machine_after.0.saturating_sub(machine_before.0);
    let total = machine_after.1.saturating_sub(machine_before.1);
    let names = ["etcd", "kube-apiserver", "kube-controller-manager"];
    let plane: Vec<String> = names
        .iter()
        .zip(&plane_cpu)
        .map(|(n, d)| format!("{n} {}", secs(*d)))
        .collect();
    table.info(
        "2. CPU while the clock ran (operator; control plane)",
        format!("{}; {}", secs(operator_cpu), plane.join(", ")),
    );
    table.info(
        "2. machine busy while the clock ran (all processes, 2 cores)",
        format!(
            "{:.0} % ({} of {})",
            100.0 * busy.as_secs_f64() / total.as_secs_f64().max(1e-9),
            secs(busy),
            secs(total)
        ),
    );
    table.record(
        "scale",
        serde_json::json!({
            "count": count,
            "ready_s": all_ready.map(|d| d.as_secs_f64()),
            "wall_s": wall.as_secs_f64(),
            "floor_s": LATENCY.mul_f64(calls as f64 / f64::from(CONCURRENT_REQUESTS)).as_secs_f64(),
            "controlhub_calls": calls,
            "k8s_per_credential": per_credential,
            "k8s_by_verb": apiserver::to_json(&apiserver::delta(&k8s_before, &k8s_after), count, &KUBE_RESOURCES),
            "operator_cpu_s": operator_cpu.as_secs_f64(),
            "plane_cpu_s": plane_cpu.iter().map(Duration::as_secs_f64).collect::<Vec<_>>(),
            "machine_busy_s": busy.as_secs_f64(),
            "machine_total_s": total.as_secs_f64(),
        }),
    );

    Ok(())
}

/// The operator's own count of the Kubernetes requests it sent (no watches or lists).
async fn operator_requests(lab: &Lab) -> Option<u64> {
    match lab.operator.as_ref()?.kubernetes_requests().await {
        Ok(n) => Some(n),
        Err(e) => {
            println!("  (no operator request counts: {e})");
            None
        }
    }
}

pub async fn k8s_counts(lab: &Lab) -> apiserver::Counts {
    apiserver::request_counts(&lab.cluster.client)
        .await
        .unwrap_or_else(|e| {
            println!("  (no API server counts: {e})");
            apiserver::Counts::new()
        })
}

/// Kubernetes API requests (no lists or watches) per `per`, against `target` when given; the
/// breakdown by verb and resource is a row of its own. Returns the requests per `per`.
fn report_k8s(
    table: &mut Table,
    what: &str,
    before: &apiserver::Counts,
    after: &apiserver::Counts,
    per: usize,
    target: Option<f64>,
) -> f64 {
    let delta = apiserver::delta(before, after);
    let each = apiserver::total(&delta, &KUBE_RESOURCES) as f64 / per as f64;
    let label = format!("   Kubernetes API requests ({what})");
    match target {
        Some(t) => table.target(label, format!("{each:.2}"), format!("≤ {t}"), each <= t),
        None => table.info(label, format!("{each:.2}")),
    }
    table.info(
        format!("     by verb and resource ({what})"),
        apiserver::per_object(&delta, per, &KUBE_RESOURCES),
    );
    each
}

/// Control Hub calls during `PERIODS` drift periods.
async fn steady_state(lab: &Lab) -> Stats {
    lab.emulator.reset_stats().await;
    tokio::time::sleep(DRIFT * PERIODS).await;
    lab.emulator.stats().await
}

fn report_creation_calls(table: &mut Table, stats: &Stats, count: usize) {
    let per = |op: &str| stats.total(op) as f64 / count as f64;
    table.target(
        "3. creation: createCredential per credential",
        format!("{:.3}", per("createCredential")),
        "exactly 1",
        stats.total("createCredential") == count as u64,
    );
    table.info(
        "3. creation: updateCredential (rename from the pending label) per credential",
        format!("{:.3}", per("updateCredential")),
    );
    table.info(
        "3. creation: list calls per owner",
        format!(
            "{:.2}",
            LISTS.iter().map(|op| stats.total(op)).sum::<u64>() as f64 / OWNERS as f64
        ),
    );
    table.info(
        "3. creation: currentUser calls",
        stats.total("currentUser").to_string(),
    );
    table.info(
        "3. creation: deleteCredential calls",
        stats.total("deleteCredential").to_string(),
    );
}

fn report_steady(table: &mut Table, mode: &str, stats: &Stats, count: usize) {
    let writes: u64 = WRITES.iter().map(|op| stats.total(op)).sum();
    let lists: u64 = LISTS.iter().map(|op| stats.total(op)).sum();
    let per_owner = lists as f64 / OWNERS as f64 / f64::from(PERIODS);
    table.target(
        format!("3. steady ({mode}, {count}): Control Hub writes in {PERIODS} periods"),
        writes.to_string(),
        "0",
        writes == 0,
    );
    table.target(
        format!("3. steady ({mode}): list calls per owner per period"),
        format!("{per_owner:.2}"),
        "≤ 1",
        per_owner <= 1.0,
    );
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
