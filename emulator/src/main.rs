//! `controlhub-emulator`: parses the command line, sets up logging to stderr and runs the server.
//! Stdout is reserved for the single start-up line.

use std::io::IsTerminal;

use clap::Parser;
use controlhub_emulator::cli::Cli;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .init();
    match controlhub_emulator::server::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "controlhub-emulator failed");
            eprintln!("controlhub-emulator: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}
