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
use controlhub_operator::leader::{self, Elector, FenceLayer, Leadership, LeaseConfig};
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
    Run(Box<RunArgs>),
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
    /// How long the Lease is valid without renewal: how long the other replicas wait before taking
    /// over from a leader that vanished (whole seconds).
    #[arg(long, env = "CONTROLHUB_LEASE_DURATION", default_value = "15s", value_parser = humantime::parse_duration)]
    lease_duration: Duration,
    /// How long the leader trusts its last successful renew: it stops writing when it could not
    /// renew for this long. Shorter than --lease-duration.
    #[arg(long, env = "CONTROLHUB_LEASE_RENEW_DEADLINE", default_value = "10s", value_parser = humantime::parse_duration)]
    lease_renew_deadline: Duration,
    /// How often the leader renews the Lease and the other replicas try to acquire it.
    #[arg(long, env = "CONTROLHUB_LEASE_RETRY_PERIOD", default_value = "2s", value_parser = humantime::parse_duration)]
    lease_retry_period: Duration,
    /// On SIGTERM/SIGINT, how long reconciles in flight may take to reach a safe point before the
    /// Lease is released anyway. Keep it below the pod's terminationGracePeriodSeconds.
    #[arg(long, env = "CONTROLHUB_SHUTDOWN_GRACE_PERIOD", default_value = "20s", value_parser = humantime::parse_duration)]
    shutdown_grace_period: Duration,
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
                Ok(rt) => rt.block_on(run(*args)),
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
    let identity = args
        .identity
        .clone()
        .unwrap_or_else(|| format!("{}-{}", hostname(), std::process::id()));
    let lease_config = LeaseConfig {
        lease_duration: args.lease_duration,
        renew_deadline: args.lease_renew_deadline,
        retry_period: args.lease_retry_period,
        ..LeaseConfig::new(
            args.lease_namespace.clone(),
            args.lease_name.clone(),
            identity.clone(),
        )
    };
    if let Err(e) = lease_config.validate() {
        tracing::error!("invalid leader election settings: {e}");
        return 2;
    }
    let mut signals = match Signals::new() {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot install the SIGTERM/SIGINT handlers");
            return 1;
        }
    };
    let config = match kube::Config::infer().await {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot load the Kubernetes configuration (in-cluster config or KUBECONFIG)");
            return 1;
        }
    };
    // Two clients: the election's own (it must write the Lease), and the controllers', which
    // refuses every write once this process may no longer write (see `leader::FenceLayer`).
    let client = match kube::client::ClientBuilder::try_from(config.clone()) {
        Ok(b) => b.build(),
        Err(e) => {
            tracing::error!(error = %e, "cannot build a Kubernetes client");
            return 1;
        }
    };
    let elector = if args.leader_election {
        leader::spawn(client, lease_config)
    } else {
        Elector::disabled()
    };
    let metrics = Arc::new(metrics::Metrics::new());
    let fenced_client = match kube::client::ClientBuilder::try_from(config) {
        Ok(b) => b
            .with_layer(&FenceLayer(elector.fence.clone()))
            .with_layer(&controlhub_operator::kube_requests::CountLayer(metrics.clone()))
            .build(),
        Err(e) => {
            tracing::error!(error = %e, "cannot build a Kubernetes client");
            return 1;
        }
    };
    let leadership = elector.leadership.clone();
    let readiness = health::Readiness::new(leadership.clone());
    let mut server = tokio::spawn(health::serve(
        args.health_addr,
        args.metrics_addr,
        readiness.clone(),
        metrics.clone(),
    ));

    // Followers wait; a signal ends the wait (and hands the Lease back if it was just acquired).
    let mut watch = leadership.clone();
    loop {
        let state = *watch.borrow_and_update();
        match state {
            Leadership::Leader => break,
            Leadership::Lost => return 1,
            _ => {}
        }
        tokio::select! {
            changed = watch.changed() => {
                if changed.is_err() {
                    return 1;
                }
            }
            signal = signals.recv() => {
                tracing::info!(signal, "shutting down (not the leader)");
                elector.release().await;
                return 0;
            }
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
    let ctx = Arc::new(
        Context::new(fenced_client, settings, metrics, Some(identity)).with_lease(elector.fence.clone()),
    );
    let scope = args.watch_namespace.map_or(Scope::All, Scope::Namespace);
    let (shutdown_tx, shutdown_rx) = tokio::sync::oneshot::channel::<()>();
    let controllers = controller::run(ctx.clone(), scope, readiness, async move {
        let _ = shutdown_rx.await;
    });
    tokio::pin!(controllers);

    let signal = tokio::select! {
        () = &mut controllers => {
            tracing::error!("the controllers stopped on their own");
            ctx.close_writes();
            elector.release().await;
            return 1;
        }
        () = lost(leadership.clone()) => {
            // The election revoked the fence before saying so; close the gate too, and go.
            ctx.close_writes();
            tracing::error!("leadership lost; exiting so another replica takes over");
            return 1;
        }
        result = &mut server => {
            tracing::error!(?result, "the health/metrics server stopped");
            ctx.close_writes();
            elector.release().await;
            return 1;
        }
        signal = signals.recv() => signal,
    };

    // Graceful shutdown: no new step anywhere, the steps in flight finish (a credential issued
    // gets its token stored), then the Lease is handed back and the process exits.
    ctx.close_writes();
    let _ = shutdown_tx.send(());
    let grace = args.shutdown_grace_period;
    tracing::info!(
        signal,
        ?grace,
        "shutting down: letting reconciles in flight reach a safe point"
    );
    let started = tokio::time::Instant::now();
    let drained = tokio::select! {
        () = &mut controllers => true,
        () = tokio::time::sleep(grace) => {
            tracing::warn!(?grace, "reconciles still in flight after the grace period; abandoning them");
            false
        }
        () = lost(leadership) => {
            tracing::error!("leadership lost while shutting down; exiting");
            return 1;
        }
        signal = signals.recv() => {
            tracing::warn!(signal, "second signal; abandoning the reconciles in flight");
            false
        }
    };
    if drained {
        tracing::info!(took = ?started.elapsed(), "reconciles drained");
    }
    elector.release().await;
    tracing::info!("stopped");
    if drained { 0 } else { 1 }
}

/// Resolves when the election reports the lease lost (never without leader election).
async fn lost(mut watch: tokio::sync::watch::Receiver<Leadership>) {
    loop {
        if *watch.borrow_and_update() == Leadership::Lost {
            return;
        }
        if watch.changed().await.is_err() {
            // The election ended without a loss (released): nothing more will come.
            std::future::pending::<()>().await;
        }
    }
}

/// SIGTERM (the kubelet) and SIGINT (Ctrl+C).
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
        })
    }

    /// The name of the next signal received.
    async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.int.recv() => "SIGINT",
        }
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "controlhub-operator".into())
}
