//! Figure 5: the operator against its peer, the seed documentation's script with the official
//! Python SDK (`benches/peer/sdk_peer.py`: `add_api_credential`, then `kubectl create secret`),
//! both against the same emulator with Control Hub latency 50 ms.
//!
//! - Connection defaults: the SDK loop provisions `BENCH_PEER_SEQUENTIAL` (default 200)
//!   credentials one at a time; then the operator, running with no limits named on its connection
//!   and its default `--concurrency`, makes 200 ApiCredentials over 20 owners Ready. Goal ≥ 5×.
//! - Tuned: the SDK with a thread pool of 32 provisions `BENCH_PEER_N` (default 1,000); then the
//!   operator on the tuned connection (32 in flight, `--concurrency=64`) makes 200 and then
//!   `BENCH_PEER_N` more Ready. The ratio to the SDK loop (its time per credential × N, an
//!   extrapolation when it ran fewer; printed as such) has the goal ≥ 10×.
//!
//! The operator's clock runs from its first apply (it is already running) to all Ready, as a user
//! applying a file of ApiCredentials sees it; the script's from its first SDK call to its last
//! Secret. Each side has its own owners (service accounts hold 10 credentials each). Needs
//! `.venv` (`make venv`) or `$BENCH_PYTHON` with `streamsets` installed.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use controlhub_testkit::emulator::Faults;
use controlhub_testkit::process::workspace_root;

use crate::BenchResult;
use crate::lab::{Cluster, DEFAULTS_LABEL, Lab, TUNED};
use crate::process::OperatorArgs;
use crate::table::{Table, secs};

const LATENCY_MS: u64 = 50;
const PER_OWNER: usize = 10;
const DEFAULTS_COUNT: usize = 200;
const APPLIES_IN_FLIGHT: usize = 32;
const POOL_THREADS: usize = 32;
/// A run stops waiting once no ApiCredential became Ready for this long.
const STALL: Duration = Duration::from_secs(30);

/// One run of the peer script.
struct PeerRun {
    count: usize,
    failed: usize,
    elapsed: Duration,
}

pub async fn run(cluster: &Cluster, table: &mut Table) -> BenchResult<()> {
    let n = env_count("BENCH_PEER_N", 1000);
    let n_seq = env_count("BENCH_PEER_SEQUENTIAL", DEFAULTS_COUNT);

    // Connection defaults, 200 over 20 owners, against the SDK loop.
    let mut lab = Lab::start(cluster, "peer-defaults", None).await?;
    slow_down(&lab).await;
    let sdk_owners = lab
        .create_named_service_accounts("sdk-seq", n_seq.div_ceil(PER_OWNER))
        .await;
    println!("  SDK loop: {n_seq} credentials, one at a time");
    let seq = peer(&lab, &sdk_owners, n_seq, 1, "sdk-seq")?;
    let per_credential = seq.elapsed.div_f64(seq.count.max(1) as f64);
    table.info(
        format!(
            "5. SDK loop: {n_seq} credentials one at a time ({} failed)",
            seq.failed
        ),
        format!(
            "{} ({:.0} ms each)",
            secs(seq.elapsed),
            per_credential.as_secs_f64() * 1000.0
        ),
    );
    let owners = lab
        .create_named_service_accounts("op", DEFAULTS_COUNT / PER_OWNER)
        .await;
    let defaults = operator_run(&mut lab, &owners, "op", DEFAULTS_COUNT, 0, None).await?;
    let seq_200 = per_credential.mul_f64(DEFAULTS_COUNT as f64);
    let defaults = report_operator(
        table,
        &format!("connection {DEFAULTS_LABEL}, default --concurrency"),
        DEFAULTS_COUNT,
        defaults,
    );
    if let Some(t) = defaults {
        let ratio = seq_200.as_secs_f64() / t.as_secs_f64();
        table.target(
            format!("5. {DEFAULTS_COUNT}: operator with defaults vs SDK loop"),
            format!("{ratio:.1}× faster"),
            "≥ 5×",
            ratio >= 5.0,
        );
    }
    if let Some(op) = lab.operator.take() {
        op.kill();
    }
    drop(lab);

    // Tuned connection: 200, then N more; the SDK with a thread pool.
    let mut lab = Lab::start(cluster, "peer-tuned", Some(TUNED)).await?;
    slow_down(&lab).await;
    let pool_owners = lab
        .create_named_service_accounts("sdk-pool", n.div_ceil(PER_OWNER))
        .await;
    println!("  SDK thread pool: {n} credentials, {POOL_THREADS} threads");
    let pool = peer(&lab, &pool_owners, n, POOL_THREADS, "sdk-pool")?;
    table.info(
        format!(
            "5. SDK thread pool of {POOL_THREADS}: {n} credentials ({} failed)",
            pool.failed
        ),
        secs(pool.elapsed),
    );
    let small_owners = lab
        .create_named_service_accounts("op-small", DEFAULTS_COUNT / PER_OWNER)
        .await;
    let owners = lab
        .create_named_service_accounts("op", n.div_ceil(PER_OWNER))
        .await;
    let tuned_small = operator_run(&mut lab, &small_owners, "op-small", DEFAULTS_COUNT, 0, Some(64)).await?;
    let tuned_small = report_operator(
        table,
        "tuned connection, --concurrency=64",
        DEFAULTS_COUNT,
        tuned_small,
    );
    if let Some(t) = tuned_small {
        table.info(
            format!("5. {DEFAULTS_COUNT}: operator tuned vs SDK loop"),
            format!("{:.1}× faster", seq_200.as_secs_f64() / t.as_secs_f64()),
        );
    }
    let tuned = operator_run(&mut lab, &owners, "op", n, DEFAULTS_COUNT, Some(64)).await?;
    let tuned = report_operator(table, "tuned connection, --concurrency=64", n, tuned);
    let seq_n = per_credential.mul_f64(n as f64);
    let extrapolated = if n_seq == n {
        String::new()
    } else {
        format!(", SDK loop extrapolated from {n_seq}: {}", secs(seq_n))
    };
    if let Some(t) = tuned {
        let ratio = seq_n.as_secs_f64() / t.as_secs_f64();
        table.target(
            format!("5. {n}: operator tuned vs SDK loop{extrapolated}"),
            format!("{ratio:.1}× faster"),
            "≥ 10×",
            ratio >= 10.0,
        );
        table.info(
            format!("5. {n}: operator tuned vs SDK thread pool of {POOL_THREADS}"),
            format!("{:.1}× faster", pool.elapsed.as_secs_f64() / t.as_secs_f64()),
        );
    }
    table.record(
        "peer",
        serde_json::json!({
            "latency_ms": LATENCY_MS,
            "sdk_loop": {"count": seq.count, "failed": seq.failed, "elapsed_s": seq.elapsed.as_secs_f64()},
            "sdk_pool": {"count": pool.count, "failed": pool.failed, "threads": POOL_THREADS, "elapsed_s": pool.elapsed.as_secs_f64()},
            "operator_defaults": {"count": DEFAULTS_COUNT, "ready_s": defaults.map(|d| d.as_secs_f64())},
            "operator_tuned_small": {"count": DEFAULTS_COUNT, "ready_s": tuned_small.map(|d| d.as_secs_f64())},
            "operator_tuned": {"count": n, "ready_s": tuned.map(|d| d.as_secs_f64())},
        }),
    );
    if let Some(op) = lab.operator.take() {
        op.kill();
    }
    Ok(())
}

/// Prints the run and returns its time when all became Ready.
fn report_operator(
    table: &mut Table,
    mode: &str,
    count: usize,
    took: Result<Duration, String>,
) -> Option<Duration> {
    table.info(
        format!("5. operator, {mode}: apply → {count} Ready"),
        took.as_ref().map(|d| secs(*d)).unwrap_or_else(|e| e.clone()),
    );
    took.ok()
}

async fn slow_down(lab: &Lab) {
    lab.emulator
        .set_faults(&Faults {
            latency_ms: LATENCY_MS,
            ..Faults::default()
        })
        .await;
}

/// Starts the operator if none runs, applies `count` ApiCredentials `{prefix}-{n}` over `owners`
/// and waits until `already + count` are Ready in the namespace; the time from the first apply.
async fn operator_run(
    lab: &mut Lab,
    owners: &[String],
    prefix: &str,
    count: usize,
    already: usize,
    concurrency: Option<u16>,
) -> BenchResult<Result<Duration, String>> {
    if lab.operator.is_none() {
        let args = OperatorArgs {
            namespace: lab.namespace.clone(),
            concurrency,
            drift_check_interval: Duration::from_secs(600),
            token_check_interval: Duration::from_secs(3600),
        };
        lab.start_operator(&args).await?;
    }
    let items: Vec<(String, String)> = (0..count)
        .map(|i| (format!("{prefix}-{i}"), owners[i % owners.len()].clone()))
        .collect();
    let started = Instant::now();
    let ((_, failed), (ready_after, ready, grew)) = futures::join!(
        lab.apply_many(items, APPLIES_IN_FLIGHT),
        lab.wait_ready_or_stall(
            already + count,
            Duration::from_secs(300),
            Duration::from_millis(50),
            STALL,
        ),
    );
    if failed > 0 {
        println!("  {failed} applies failed");
    }
    if ready_after.is_none() {
        let stuck = format!(
            "{} of {} Ready after {} (no progress for {}; not Ready: {})",
            ready - already,
            count,
            secs(grew),
            secs(STALL),
            lab.not_ready_reasons().await
        );
        println!("  {stuck}");
        return Ok(Err(stuck));
    }
    Ok(Ok(started.elapsed()))
}

/// Runs the peer script against the lab's emulator and namespace.
fn peer(lab: &Lab, owners: &[String], count: usize, threads: usize, prefix: &str) -> BenchResult<PeerRun> {
    let dir = workspace_root().join("target/bench");
    std::fs::create_dir_all(&dir)?;
    let users = dir.join(format!("{}-{prefix}-users.txt", lab.namespace));
    std::fs::write(&users, owners.join("\n"))?;
    let python = std::env::var_os("BENCH_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv/bin/python"));
    if !python.is_file() {
        return Err(format!("{} is missing: run `make venv`", python.display()).into());
    }
    let admin = lab.emulator.admin();
    let out = Command::new(&python)
        .arg(workspace_root().join("benches/peer/sdk_peer.py"))
        .args(["--url", lab.emulator.url()])
        .arg("--users")
        .arg(&users)
        .args(["--count", &count.to_string(), "--threads", &threads.to_string()])
        .args(["--namespace", &lab.namespace, "--prefix", prefix])
        .arg("--kubectl")
        .arg(&lab.cluster.kubectl)
        .env("KUBECONFIG", &lab.cluster.kubeconfig)
        .env("PEER_CREDENTIAL_ID", &admin.credential_id)
        .env("PEER_AUTH_TOKEN", &admin.auth_token)
        .output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
    if !out.status.success() {
        return Err(format!("the peer script failed ({}): {}", out.status, tail.join(" | ")).into());
    }
    if !tail.is_empty() {
        println!("  peer stderr (last lines): {}", tail.join(" | "));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().last().ok_or("the peer script printed nothing")?;
    let v: serde_json::Value = serde_json::from_str(line)?;
    Ok(PeerRun {
        count: v["count"].as_u64().unwrap_or(0) as usize,
        failed: v["failed"].as_u64().unwrap_or(0) as usize,
        elapsed: Duration::from_secs_f64(v["elapsed_s"].as_f64().unwrap_or(0.0)),
    })
}

fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
