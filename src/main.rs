//! The `controlhub-operator` binary: a thin CLI over the library. `run` starts the operator,
//! `crd` prints (or writes) the CustomResourceDefinitions.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use controlhub_operator::controller::connections::UrlPolicy;
use controlhub_operator::controller::context::{Context, Settings};
use controlhub_operator::controller::{self, Scope};
use controlhub_operator::leader::{self, Leadership, LeaseConfig};
use controlhub_operator::telemetry::{self, LogFormat};
use controlhub_operator::{crdgen, health, metrics};

#[derive(Parser)]
#[command(
    version,
    about = "Manages StreamSets Control Hub API credentials as Kubernetes Secrets"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the operator (uses the in-cluster config, or KUBECONFIG).
    Run(RunArgs),
    /// Print the CustomResourceDefinitions as YAML, or write one file each to --out-dir.
    Crd {
        #[arg(long)]
        out_dir: Option<PathBuf>,
    },
}

#[derive(clap::Args)]
struct RunArgs {
    /// Where to serve /metrics.
    #[arg(long, env = "CONTROLHUB_METRICS_ADDR", default_value = "0.0.0.0:8080")]
    metrics_addr: SocketAddr,
    /// Where to serve /healthz and /readyz.
    #[arg(long, env = "CONTROLHUB_HEALTH_ADDR", default_value = "0.0.0.0:8081")]
    health_addr: SocketAddr,
    /// Elect a leader among replicas through a Lease (needs POD_NAMESPACE).
    #[arg(long, env = "CONTROLHUB_LEADER_ELECTION", default_value_t = true, action = clap::ArgAction::Set)]
    leader_election: bool,
    /// Namespace of the Lease.
    #[arg(long, env = "POD_NAMESPACE", default_value = "controlhub-system")]
    lease_namespace: String,
    /// Name of the Lease.
    #[arg(long, env = "CONTROLHUB_LEASE_NAME", default_value = "controlhub-operator")]
    lease_name: String,
    /// This replica's identity in the Lease.
    #[arg(long, env = "POD_NAME")]
    identity: Option<String>,
    /// Watch only this namespace (default: all namespaces).
    #[arg(long, env = "CONTROLHUB_WATCH_NAMESPACE")]
    watch_namespace: Option<String>,
    /// Log format.
    #[arg(long, env = "CONTROLHUB_LOG_FORMAT", value_enum, default_value = "text")]
    log_format: LogFormat,
    /// How often each credential is compared with Control Hub (drift check).
    #[arg(long, env = "CONTROLHUB_DRIFT_CHECK_INTERVAL", default_value = "10m", value_parser = humantime::parse_duration)]
    drift_check_interval: Duration,
    /// How often the token in each Secret is tried against Control Hub.
    #[arg(long, env = "CONTROLHUB_TOKEN_CHECK_INTERVAL", default_value = "1h", value_parser = humantime::parse_duration)]
    token_check_interval: Duration,
    /// ApiCredentials reconciled at once.
    #[arg(long, env = "CONTROLHUB_CONCURRENCY", default_value_t = 16)]
    concurrency: u16,
    /// Hosts the url/asterUrl of a namespaced ControlHubConnection may name, comma-separated
    /// (`*.example.com` allows subdomains). Empty: any host. Cluster connections are not restricted.
    #[arg(
        long,
        env = "CONTROLHUB_NAMESPACED_CONNECTION_ALLOWED_HOSTS",
        value_delimiter = ',',
        default_value = ""
    )]
    namespaced_connection_allowed_hosts: Vec<String>,
    /// Allow plain http:// URLs in namespaced ControlHubConnections (default: https:// only).
    #[arg(
        long,
        env = "CONTROLHUB_NAMESPACED_CONNECTION_ALLOW_HTTP",
        default_value_t = false,
        num_args = 0..=1,
        default_missing_value = "true",
        action = clap::ArgAction::Set
    )]
    namespaced_connection_allow_http: bool,
}

fn main() {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Crd { out_dir } => print_crds(out_dir),
        Command::Run(args) => {
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build();
            match runtime {
                Ok(rt) => rt.block_on(run(args)),
                Err(e) => {
                    eprintln!("cannot start the async runtime: {e}");
                    1
                }
            }
        }
    };
    std::process::exit(code);
}

fn print_crds(out_dir: Option<PathBuf>) -> i32 {
    let result = match out_dir {
        Some(dir) => crdgen::write_all(&dir).map(|paths| {
            for p in paths {
                println!("wrote {}", p.display());
            }
        }),
        None => crdgen::render_stream().map(|yaml| print!("{yaml}")),
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("cannot render the CRDs: {e}");
            1
        }
    }
}

async fn run(args: RunArgs) -> i32 {
    telemetry::init(args.log_format);
    let client = match kube::Client::try_default().await {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot build a Kubernetes client (in-cluster config or KUBECONFIG)");
            return 1;
        }
    };
    let metrics = Arc::new(metrics::Metrics::new());
    let identity = args
        .identity
        .clone()
        .unwrap_or_else(|| format!("{}-{}", hostname(), std::process::id()));
    let leadership = if args.leader_election {
        leader::spawn(
            client.clone(),
            LeaseConfig::new(
                args.lease_namespace.clone(),
                args.lease_name.clone(),
                identity.clone(),
            ),
        )
    } else {
        tokio::sync::watch::channel(Leadership::Leader).1
    };
    let readiness = health::Readiness::new(leadership.clone());
    let server = tokio::spawn(health::serve(
        args.health_addr,
        args.metrics_addr,
        readiness.clone(),
        metrics.clone(),
    ));

    // Followers wait; the leader runs the controllers; a lost lease ends the process.
    let mut watch = leadership.clone();
    loop {
        let state = *watch.borrow_and_update();
        match state {
            Leadership::Leader => break,
            Leadership::Lost => return 1,
            _ => {}
        }
        if watch.changed().await.is_err() {
            return 1;
        }
    }
    let settings = Settings {
        drift_check_interval: args.drift_check_interval,
        token_check_interval: args.token_check_interval,
        concurrency: args.concurrency,
        namespaced_connection_urls: UrlPolicy {
            allowed_hosts: args
                .namespaced_connection_allowed_hosts
                .iter()
                .map(|h| h.trim().to_string())
                .filter(|h| !h.is_empty())
                .collect(),
            allow_http: args.namespaced_connection_allow_http,
        },
        ..Settings::default()
    };
    tracing::info!(?settings, "starting controllers");
    let ctx = Arc::new(Context::new(client, settings, metrics, Some(identity)));
    let scope = args.watch_namespace.map_or(Scope::All, Scope::Namespace);
    let lost = async move {
        let mut watch = leadership;
        while watch.changed().await.is_ok() {
            if *watch.borrow() == Leadership::Lost {
                return;
            }
        }
        // Without leader election nobody ever sends: never lost.
        std::future::pending::<()>().await;
    };
    tokio::select! {
        () = controller::run(ctx, scope, readiness) => {
            tracing::info!("controllers stopped");
            0
        }
        () = lost => {
            tracing::error!("leadership lost; exiting so another replica takes over");
            1
        }
        result = server => {
            tracing::error!(?result, "the health/metrics server stopped");
            1
        }
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "controlhub-operator".into())
}
