//! Operator benchmark (a program that prints figures; it asserts nothing).
//!
//! Runs the release operator and emulator against a real local control plane and prints:
//! 1. apply → Secret with a working token, p50/p99 over 50 sequential ApiCredentials;
//! 2. time until 1,000 ApiCredentials over 100 owners are Ready with 50 ms Control Hub latency;
//! 3. Control Hub calls per credential at creation and per drift period in steady state;
//! 4. operator RSS at 1,000 and 10,000 ApiCredentials.
//!
//! Run: `cargo build --release -p controlhub-operator -p controlhub-emulator && cargo bench --bench operator`.
//! Binaries: `$CONTROLHUB_OPERATOR_BIN` / `$CONTROLHUB_EMULATOR_BIN`, else `target/release/…`.
//! `BENCH_SCENARIOS` picks scenarios (default `latency,scale,large`); `BENCH_LARGE_OWNERS` sets the
//! owners of the large run (default 1000, i.e. 10,000 ApiCredentials); `BENCH_OPERATOR_LOG` is the
//! operator's `RUST_LOG`. Logs: `target/bench-logs/`.

mod apiserver;
mod lab;
mod large;
mod latency;
mod process;
mod scale;
mod table;

use std::error::Error as StdError;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use controlhub_operator::crdgen;
use controlhub_testkit::control_plane::{ControlPlane, Options};
use controlhub_testkit::process::workspace_root;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams};

use crate::lab::Cluster;
use crate::table::Table;

pub type BenchResult<T> = Result<T, Box<dyn StdError + Send + Sync>>;

fn main() -> BenchResult<()> {
    let operator_bin = release_binary("CONTROLHUB_OPERATOR_BIN", "controlhub-operator")?;
    let emulator_bin = release_binary("CONTROLHUB_EMULATOR_BIN", "controlhub-emulator")?;
    let large_owners = std::env::var("BENCH_LARGE_OWNERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000usize);
    let started = Instant::now();
    // Started from the main thread, which outlives everything: its processes die with the bench.
    let plane = ControlPlane::start(Options {
        dir: None,
        log_dir: Some(workspace_root().join("target/bench-logs/control-plane")),
    })?;
    println!(
        "control plane {} at {}, up in {}",
        plane.server_version(),
        plane.server(),
        table::secs(started.elapsed())
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    // `block_on` polls on this (main) thread, so the emulators and operators spawned by the
    // scenarios are children of the main thread too.
    let table = runtime.block_on(async {
        let client = admin_client(&plane).await?;
        install_crds(&client).await?;
        let cluster = Cluster {
            client,
            kubeconfig: plane.kubeconfig().to_path_buf(),
            kubectl: plane.bin_dir().join("kubectl"),
            operator_bin,
            emulator_bin,
        };
        Ok::<_, Box<dyn StdError + Send + Sync>>(run(&cluster, large_owners).await)
    })?;
    table.print();
    println!("\ntotal bench time {}", table::secs(started.elapsed()));
    Ok(())
}

async fn run(cluster: &Cluster, large_owners: usize) -> Table {
    let chosen = std::env::var("BENCH_SCENARIOS").unwrap_or_else(|_| "latency,scale,large".into());
    let wants = |name: &str| chosen.split(',').any(|s| s.trim() == name);
    let mut table = Table::default();
    if wants("latency") {
        println!("\n[1] apply → working token, sequential");
        if let Err(e) = latency::run(cluster, &mut table).await {
            table.info("1. FAILED", e.to_string());
        }
    }
    if wants("scale") {
        println!("\n[2-4] 1,000 ApiCredentials over 100 owners");
        if let Err(e) = scale::run(cluster, &mut table).await {
            table.info("2-4. FAILED", e.to_string());
        }
    }
    if wants("large") && large_owners > 0 {
        println!(
            "\n[4] {} ApiCredentials over {large_owners} owners",
            large_owners * 10
        );
        let started = Instant::now();
        if let Err(e) = large::run(cluster, &mut table, large_owners).await {
            table.info("4. large: FAILED", e.to_string());
        }
        table.info("4. large run took", table::secs(started.elapsed()));
    }
    table
}

/// `$env`, else the release build of `name`; an error says how to build it.
fn release_binary(env: &str, name: &str) -> BenchResult<PathBuf> {
    let path = std::env::var_os(env).map(PathBuf::from).unwrap_or_else(|| {
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace_root().join("target"));
        target.join("release").join(name)
    });
    if path.is_file() {
        println!("{name}: {}", path.display());
        Ok(path)
    } else {
        Err(format!(
            "{} is missing: run `cargo build --release -p controlhub-operator -p controlhub-emulator` first",
            path.display()
        )
        .into())
    }
}

async fn admin_client(plane: &ControlPlane) -> BenchResult<kube::Client> {
    let kubeconfig = kube::config::Kubeconfig::read_from(plane.kubeconfig())?;
    let config =
        kube::Config::from_custom_kubeconfig(kubeconfig, &kube::config::KubeConfigOptions::default()).await?;
    Ok(kube::Client::try_from(config)?)
}

/// Applies the generated CRDs and waits until they are served.
async fn install_crds(client: &kube::Client) -> BenchResult<()> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in crdgen::crds() {
        let name = crd.metadata.name.clone().ok_or("a generated CRD has no name")?;
        api.patch(&name, &PatchParams::apply("bench").force(), &Patch::Apply(&crd))
            .await?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let established = api
                .get(&name)
                .await?
                .status
                .and_then(|s| s.conditions)
                .is_some_and(|conds| {
                    conds
                        .iter()
                        .any(|c| c.type_ == "Established" && c.status == "True")
                });
            if established {
                break;
            }
            if Instant::now() > deadline {
                return Err(format!("CRD {name} was not Established within 30 s").into());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(())
}
