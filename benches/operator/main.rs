//! Operator benchmark (a program that prints figures; it asserts nothing).
//!
//! Runs the release operator and emulator against a real local control plane and prints:
//! 1. apply → Secret with a working token, p50/p99 over 50 sequential ApiCredentials (`latency`);
//! 2. time until 1,000 ApiCredentials over 100 owners are Ready with 50 ms Control Hub latency and
//!    32 requests in flight, Kubernetes API requests per credential and what bounds the time;
//! 3. Control Hub calls per credential at creation and per drift period in steady state (`scale`);
//! 4. time until all Ready and operator RSS for N = 100, 1,000, 10,000 (`curve`);
//! 5. the operator against the official Python SDK, as a loop and as a thread pool (`peer`).
//!
//! Run: `cargo build --release -p controlhub-operator -p controlhub-emulator && cargo bench --bench operator`.
//! Binaries: `$CONTROLHUB_OPERATOR_BIN` / `$CONTROLHUB_EMULATOR_BIN`, else `target/release/…`.
//! `BENCH_SCENARIOS` picks scenarios (default `latency,scale,peer,curve`); `BENCH_CURVE` the
//! curve's sizes (default `100,1000,10000`); `BENCH_PEER_N` / `BENCH_PEER_SEQUENTIAL` the peer's
//! sizes (default 1000 / 200); `BENCH_PYTHON` the Python with the SDK (default `.venv/bin/python`);
//! `BENCH_OPERATOR_LOG` is the operator's `RUST_LOG`. Logs: `target/bench-logs/`. The figures are
//! also written to `target/bench/operator.json` (`$BENCH_JSON`), from which
//! `scripts/bench-charts.py` draws `docs/bench/*.svg`.

mod apiserver;
mod curve;
mod lab;
mod latency;
mod peer;
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
    let curve: Vec<usize> = std::env::var("BENCH_CURVE")
        .unwrap_or_else(|_| "100,1000,10000".into())
        .split(',')
        .filter_map(|v| v.trim().parse().ok())
        .collect();
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
            plane_pids: plane.pids(),
            operator_bin,
            emulator_bin,
        };
        Ok::<_, Box<dyn StdError + Send + Sync>>(run(&cluster, &curve).await)
    })?;
    table.print();
    println!("\ntotal bench time {}", table::secs(started.elapsed()));
    table.write_json(&json_path())?;
    println!("figures written to {}", json_path().display());
    Ok(())
}

async fn run(cluster: &Cluster, curve: &[usize]) -> Table {
    let chosen = std::env::var("BENCH_SCENARIOS").unwrap_or_else(|_| "latency,scale,peer,curve".into());
    let wants = |name: &str| chosen.split(',').any(|s| s.trim() == name);
    let mut table = Table::default();
    let commit = git_commit();
    table.info("commit measured", commit.clone());
    table.record("commit", commit.into());
    if wants("latency") {
        println!("\n[1] apply → working token, sequential");
        if let Err(e) = latency::run(cluster, &mut table).await {
            table.info("1. FAILED", e.to_string());
        }
    }
    save(&table);
    if wants("scale") {
        println!("\n[2-3] 1,000 ApiCredentials over 100 owners");
        if let Err(e) = scale::run(cluster, &mut table).await {
            table.info("2-3. FAILED", e.to_string());
        }
    }
    save(&table);
    if wants("peer") {
        println!("\n[5] the operator against the Python SDK");
        if let Err(e) = peer::run(cluster, &mut table).await {
            table.info("5. FAILED", e.to_string());
        }
    }
    save(&table);
    if wants("curve")
        && !curve.is_empty()
        && let Err(e) = curve::run(cluster, &mut table, curve).await
    {
        table.info("4. FAILED", e.to_string());
    }
    table
}

/// Where the figures go as JSON (rewritten after each scenario, so an interrupted run keeps them).
fn json_path() -> PathBuf {
    std::env::var_os("BENCH_JSON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target/bench/operator.json"))
}

/// Writes what was measured so far.
fn save(table: &Table) {
    if let Err(e) = table.write_json(&json_path()) {
        println!("  (cannot write {}: {e})", json_path().display());
    }
}

/// The commit measured (`git rev-parse --short HEAD`, `-dirty` when the tree has changes).
fn git_commit() -> String {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .current_dir(workspace_root())
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    };
    let head = git(&["rev-parse", "--short", "HEAD"]);
    let dirty = !git(&["status", "--porcelain", "--untracked-files=no"]).is_empty();
    format!("{head}{}", if dirty { "-dirty" } else { "" })
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
