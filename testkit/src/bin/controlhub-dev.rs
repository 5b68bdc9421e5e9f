//! `controlhub-dev`: runs a local environment for people (and `make dev-up` / `make demo`):
//! the real control plane, the Control Hub emulator and, when built, the operator.
//!
//! `controlhub-dev up --dir target/dev` stays in the foreground until SIGTERM/SIGINT and writes
//! `<dir>/env` (KUBECONFIG, CONTROLHUB_URL, CONTROLHUB_ADMIN_FILE) once everything is ready; every
//! process logs to `<dir>/<process>.log`. `controlhub-dev demo` runs the examples end to end.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "Local control plane + Control Hub emulator + operator, for people and demos")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start everything and stay in the foreground until SIGTERM or Ctrl-C.
    Up {
        /// Where to write env, kubeconfig, logs and state.
        #[arg(long, default_value = "target/dev")]
        dir: PathBuf,
        /// Do not start the operator.
        #[arg(long)]
        no_operator: bool,
    },
    /// Run the demo: start everything, apply deploy/examples, prove every token works, clean up.
    Demo {
        #[arg(long, default_value = "target/demo")]
        dir: PathBuf,
    },
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Up { dir, no_operator } => controlhub_testkit::dev::up(&dir, !no_operator),
        Command::Demo { dir } => controlhub_testkit::dev::demo(&dir),
    };
    if let Err(e) = result {
        eprintln!("controlhub-dev: {e}");
        std::process::exit(1);
    }
}
