//! `kubectl-controlhub`, the `kubectl controlhub` plugin: `status`, `rotate` and `inventory` of
//! the operator's ApiCredentials, as the caller (their kubeconfig and RBAC, never the operator's).
//!
//! This file owns the command line and the exit code only: `status` ([`status`]), `rotate`
//! ([`rotate`]) and `inventory` ([`inventory`], through [`connection`]) do the work; [`table`]
//! prints; [`cluster`] is the caller's client; [`error`] phrases failures. No token is ever
//! printed: outputs are built from names, IDs, labels, reasons and times.

mod cluster;
mod connection;
mod error;
mod inventory;
mod rotate;
mod status;
mod table;

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use controlhub_operator::controller::context::Settings;

use crate::cluster::Cluster;
use crate::error::CliError;

#[derive(Parser)]
#[command(
    name = "kubectl controlhub",
    bin_name = "kubectl controlhub",
    version,
    about = "Status, rotation and inventory of StreamSets Control Hub API credentials managed by controlhub-operator"
)]
struct Cli {
    /// The kubeconfig context to use (default: the current context).
    #[arg(long, global = true)]
    context: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum Output {
    Table,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// ApiCredentials with owner, Ready status and reason, last and next rotation, and the owner's
    /// use of Control Hub's per-owner credential limit.
    Status {
        /// Namespace (default: the context's).
        #[arg(short, long, conflicts_with = "all_namespaces")]
        namespace: Option<String>,
        /// All namespaces.
        #[arg(short = 'A', long)]
        all_namespaces: bool,
        #[arg(short, long, value_enum, default_value = "table")]
        output: Output,
    },
    /// Rotates an ApiCredential's token now and waits until the new token is in its Secret.
    Rotate {
        /// The ApiCredential.
        name: String,
        /// Namespace (default: the context's).
        #[arg(short, long)]
        namespace: Option<String>,
        /// How long to wait for the new token.
        #[arg(long, default_value = "2m", value_parser = humantime::parse_duration)]
        timeout: Duration,
    },
    /// Every credential Control Hub holds for the connection's organization, each marked as
    /// managed (by which ApiCredential), unmanaged, or an operator leftover. Reads the
    /// connection's credentials Secret as you, and calls Control Hub as that identity.
    Inventory {
        /// The connection: a ClusterControlHubConnection, or with --namespace a ControlHubConnection.
        #[arg(long)]
        connection: String,
        /// Namespace of a namespaced ControlHubConnection.
        #[arg(short, long)]
        namespace: Option<String>,
        /// Only the credentials of this Control Hub user ID.
        #[arg(long)]
        user: Option<String>,
        #[arg(short, long, value_enum, default_value = "table")]
        output: Output,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<String, CliError> {
    let cluster = Cluster::connect(cli.context.as_deref()).await?;
    match cli.command {
        Command::Status {
            namespace,
            all_namespaces,
            output,
        } => {
            let namespace = (!all_namespaces).then(|| cluster.namespace(namespace.as_deref()));
            let limit = u32::try_from(Settings::default().quota_limit).unwrap_or(u32::MAX);
            let rows = status::collect(&cluster, namespace.as_deref(), limit).await?;
            match output {
                Output::Json => json(&rows),
                Output::Table if rows.is_empty() => {
                    let place =
                        namespace.map_or_else(|| "any namespace".into(), |ns| format!("namespace {ns}"));
                    eprintln!("No ApiCredentials found in {place}.");
                    Ok(String::new())
                }
                Output::Table => Ok(status::render(&rows, all_namespaces)),
            }
        }
        Command::Rotate {
            name,
            namespace,
            timeout,
        } => {
            let namespace = cluster.namespace(namespace.as_deref());
            rotate::run(&cluster, &namespace, &name, timeout)
                .await
                .map(|line| format!("{line}\n"))
        }
        Command::Inventory {
            connection,
            namespace,
            user,
            output,
        } => {
            let rows = inventory::run(&cluster, &connection, namespace.as_deref(), user.as_deref()).await?;
            match output {
                Output::Json => json(&rows),
                Output::Table => Ok(inventory::render(&rows)),
            }
        }
    }
}

fn json<T: serde::Serialize>(value: &T) -> Result<String, CliError> {
    serde_json::to_string_pretty(value)
        .map(|text| format!("{text}\n"))
        .map_err(|e| CliError::Invalid(format!("cannot print JSON: {e}")))
}
