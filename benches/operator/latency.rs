//! Figure 1: apply → a Secret holding a working token, one ApiCredential at a time.
//!
//! Emulator latency 0. The clock starts when the apply call returns and stops when the Secret
//! exists with a credential ID and a token that authenticates (`GET currentUser` = 200), polled
//! every 2 ms. Owners are service accounts, 10 ApiCredentials each (Control Hub's limit), so one
//! in ten includes the first list of a new owner. Measured with the tuned connection (rate limit
//! 1,000/s: it paces, it is not latency), then with a connection that names no limits (the
//! operator's defaults; one-at-a-time creations stay within their burst and rate). The samples go
//! to the JSON the latency chart is drawn from.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret;

use crate::BenchResult;
use crate::lab::{Cluster, DEFAULTS_LABEL, Lab, Limits, TUNED};
use crate::process::OperatorArgs;
use crate::table::{Table, ms, percentile};

const SAMPLES: usize = 50;
const PER_OWNER: usize = 10;
const TARGET_P99: Duration = Duration::from_millis(50);
const WAIT: Duration = Duration::from_secs(20);

pub async fn run(cluster: &Cluster, table: &mut Table) -> BenchResult<()> {
    measure(cluster, table, Some(TUNED), "tuned", "tuned connection", true).await?;
    measure(
        cluster,
        table,
        None,
        "defaults",
        &format!("connection {DEFAULTS_LABEL}"),
        false,
    )
    .await
}

async fn measure(
    cluster: &Cluster,
    table: &mut Table,
    limits: Option<Limits>,
    key: &str,
    mode: &str,
    headline: bool,
) -> BenchResult<()> {
    let mut lab = Lab::start(cluster, "latency", limits).await?;
    let owners = lab.create_service_accounts(SAMPLES.div_ceil(PER_OWNER) + 1).await;
    let args = OperatorArgs {
        namespace: lab.namespace.clone(),
        concurrency: None,
        drift_check_interval: Duration::from_secs(600),
        token_check_interval: Duration::from_secs(3600),
    };
    lab.start_operator(&args).await?;
    // Warm-up (not counted): builds the connection's client and proves the path works.
    let warm_owner = owners.last().ok_or("no owners")?;
    lab.apply_credential("warm-up", Some(warm_owner)).await?;
    secret_with_working_token(&lab, "warm-up").await?;

    let mut samples = Vec::with_capacity(SAMPLES);
    for n in 0..SAMPLES {
        let name = format!("latency-{n}");
        lab.apply_credential(&name, Some(&owners[n / PER_OWNER])).await?;
        let started = Instant::now();
        match secret_with_working_token(&lab, &name).await {
            Ok(()) => samples.push(started.elapsed()),
            Err(e) => {
                println!("  {name}: {e}");
                break;
            }
        }
    }
    table.append(
        "latency",
        serde_json::json!({
            "mode": key,
            "label": mode,
            "samples_ms": samples.iter().map(|d| d.as_secs_f64() * 1000.0).collect::<Vec<_>>(),
        }),
    );
    samples.sort();
    let (p50, p99) = (percentile(&samples, 0.50), percentile(&samples, 0.99));
    let what = format!("1. apply → working token ({mode}, {} samples)", samples.len());
    if headline {
        table.info(format!("{what}: p50"), ms(p50));
        let met = p99 <= TARGET_P99 && samples.len() == SAMPLES;
        table.target(
            format!("{what}: p99"),
            ms(p99),
            format!("≤ {}", ms(TARGET_P99)),
            met,
        );
    } else {
        table.info(format!("{what}: p50"), ms(p50));
        table.info(format!("{what}: p99"), ms(p99));
    }
    if let Some(op) = lab.operator.take() {
        op.kill();
    }
    Ok(())
}

/// Polls until Secret `name` holds a credential ID and a token that authenticates.
async fn secret_with_working_token(lab: &Lab, name: &str) -> BenchResult<()> {
    let secrets = lab.api::<Secret>();
    let started = Instant::now();
    while started.elapsed() < WAIT {
        if let Some(secret) = secrets.get_opt(name).await? {
            let data = secret.data.unwrap_or_default();
            let text = |k: &str| {
                data.get(k)
                    .and_then(|b| String::from_utf8(b.0.clone()).ok())
                    .filter(|s| !s.is_empty())
            };
            if let (Some(id), Some(token)) = (text("credentialId"), text("authToken"))
                && lab.emulator.current_user_status(&id, &token).await == 200
            {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Err(format!("Secret {name} held no working token within {WAIT:?}").into())
}
