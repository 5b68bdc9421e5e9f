//! The operator of a test world: its command line (the flags every world shares, plus namespace
//! scope, intervals, concurrency, leader election) and its spawn as a child process logging to a
//! file.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::process::{self, Child, Output};

/// The operator's command line, and its spawn as a [`Child`] logging to a file.
///
/// [`OperatorLauncher::new`] sets the flags every world shares: `run`, no leader election, and
/// `/metrics` and health endpoints on free loopback ports ([`process::free_port`]).
#[derive(Debug, Clone)]
pub struct OperatorLauncher {
    binary: PathBuf,
    kubeconfig: PathBuf,
    /// `--flag=value` arguments after `run`, in order.
    flags: Vec<String>,
    envs: Vec<(String, String)>,
    rust_log: String,
}

impl OperatorLauncher {
    pub fn new(binary: impl Into<PathBuf>, kubeconfig: impl Into<PathBuf>) -> Self {
        let launcher = Self {
            binary: binary.into(),
            kubeconfig: kubeconfig.into(),
            flags: Vec::new(),
            envs: Vec::new(),
            rust_log: "controlhub_operator=info,warn".to_string(),
        };
        launcher.flag("leader-election", "false").fresh_ports()
    }

    /// `--watch-namespace`: the operator sees only `namespace`.
    pub fn watch_namespace(self, namespace: &str) -> Self {
        self.flag("watch-namespace", namespace)
    }

    /// `--namespaced-connection-allow-http=true`: namespaced connections may reach the emulator
    /// over `http://127.0.0.1`.
    pub fn allow_http_for_namespaced_connections(self) -> Self {
        self.flag("namespaced-connection-allow-http", "true")
    }

    /// `--drift-check-interval`.
    pub fn drift_check_interval(self, interval: Duration) -> Self {
        self.flag("drift-check-interval", &duration_flag(interval))
    }

    /// `--token-check-interval`.
    pub fn token_check_interval(self, interval: Duration) -> Self {
        self.flag("token-check-interval", &duration_flag(interval))
    }

    /// `--concurrency`: ApiCredentials reconciled at once.
    pub fn concurrency(self, concurrency: u16) -> Self {
        self.flag("concurrency", &concurrency.to_string())
    }

    /// `--leader-election`.
    pub fn leader_election(self, on: bool) -> Self {
        self.flag("leader-election", if on { "true" } else { "false" })
    }

    /// New free ports for `--metrics-addr` and `--health-addr` (for another replica).
    pub fn fresh_ports(mut self) -> Self {
        self.set_arg("metrics-addr", &format!("127.0.0.1:{}", process::free_port()));
        self.set_arg("health-addr", &format!("127.0.0.1:{}", process::free_port()));
        self
    }

    /// `--<flag>=<value>`, replacing an earlier value.
    pub fn flag(mut self, flag: &str, value: &str) -> Self {
        self.set_arg(flag, value);
        self
    }

    /// Sets `--<flag>=<value>`, replacing an earlier value.
    pub fn set_arg(&mut self, flag: &str, value: &str) {
        let prefix = format!("--{flag}=");
        self.flags.retain(|a| !a.starts_with(&prefix));
        self.flags.push(format!("{prefix}{value}"));
    }

    /// The value of `--<flag>=<value>`.
    pub fn arg(&self, flag: &str) -> Option<String> {
        let prefix = format!("--{flag}=");
        self.flags
            .iter()
            .find_map(|a| a.strip_prefix(&prefix).map(str::to_string))
    }

    /// The whole command line after the binary.
    pub fn args(&self) -> Vec<String> {
        std::iter::once("run".to_string())
            .chain(self.flags.iter().cloned())
            .collect()
    }

    /// The `/metrics` address.
    pub fn metrics_addr(&self) -> String {
        self.arg("metrics-addr").unwrap_or_default()
    }

    /// The `/healthz` and `/readyz` address.
    pub fn health_addr(&self) -> String {
        self.arg("health-addr").unwrap_or_default()
    }

    /// The `RUST_LOG` filter (default `controlhub_operator=info,warn`).
    pub fn rust_log(mut self, filter: &str) -> Self {
        self.rust_log = filter.to_string();
        self
    }

    /// Extra environment (replacing earlier extra environment).
    pub fn set_envs(&mut self, envs: &[(String, String)]) {
        self.envs = envs.to_vec();
    }

    pub fn envs(&self) -> &[(String, String)] {
        &self.envs
    }

    pub fn binary(&self) -> &Path {
        &self.binary
    }

    /// Spawns the operator, its stdout and stderr appended to `log`. The child dies with the
    /// spawning thread (see [`process::spawn`]).
    pub fn spawn(&self, log: &Path) -> std::io::Result<Child> {
        if !self.binary.is_file() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!(
                    "{} is missing: run `cargo build --workspace --bins`",
                    self.binary.display()
                ),
            ));
        }
        let mut cmd = Command::new(&self.binary);
        cmd.args(self.args())
            .env("KUBECONFIG", &self.kubeconfig)
            .env("RUST_LOG", &self.rust_log);
        for (key, value) in &self.envs {
            cmd.env(key, value);
        }
        process::spawn("controlhub-operator", cmd, Output::Log(log.to_path_buf()))
    }
}

/// A duration as the operator's flags take it: whole seconds as `3s`, else milliseconds.
fn duration_flag(duration: Duration) -> String {
    if duration.subsec_millis() == 0 {
        format!("{}s", duration.as_secs())
    } else {
        format!("{}ms", duration.as_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn launcher() -> OperatorLauncher {
        OperatorLauncher::new("/bin/controlhub-operator", "/tmp/kubeconfig")
    }

    #[test]
    fn the_launcher_sets_the_common_flags_once_each() {
        let launcher = launcher()
            .watch_namespace("ns-a")
            .drift_check_interval(Duration::from_secs(3))
            .token_check_interval(Duration::from_millis(1500))
            .allow_http_for_namespaced_connections()
            .leader_election(true);
        let args = launcher.args();
        assert_eq!(args[0], "run");
        assert_eq!(launcher.arg("watch-namespace").as_deref(), Some("ns-a"));
        assert_eq!(launcher.arg("drift-check-interval").as_deref(), Some("3s"));
        assert_eq!(launcher.arg("token-check-interval").as_deref(), Some("1500ms"));
        assert_eq!(launcher.arg("leader-election").as_deref(), Some("true"));
        assert_eq!(
            args.iter()
                .filter(|a| a.starts_with("--leader-election="))
                .count(),
            1,
            "a flag set again replaces the earlier value: {args:?}"
        );
        assert!(launcher.metrics_addr().starts_with("127.0.0.1:"));
        assert_ne!(launcher.metrics_addr(), launcher.health_addr());
    }

    #[test]
    fn fresh_ports_change_both_addresses() {
        let first = launcher();
        let second = first.clone().fresh_ports();
        assert_ne!(first.metrics_addr(), second.metrics_addr());
        assert_ne!(first.health_addr(), second.health_addr());
    }

    #[test]
    fn duration_flags_are_humantime() {
        assert_eq!(duration_flag(Duration::from_secs(3600)), "3600s");
        assert_eq!(duration_flag(Duration::from_millis(250)), "250ms");
    }
}
