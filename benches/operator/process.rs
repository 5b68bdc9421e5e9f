//! The operator under measurement, as a child process of the benchmark: the release binary,
//! watching one namespace, with the intervals and concurrency a scenario asks for.
//!
//! Owns spawning, readiness (`/readyz`), killing and reading its memory from `/proc`. Must be
//! spawned from the main thread (children die with the thread that spawned them); it never
//! touches Kubernetes or Control Hub itself.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use controlhub_testkit::process::Child;
use controlhub_testkit::world::OperatorLauncher;

use crate::BenchResult;

/// How a scenario runs the operator.
#[derive(Debug, Clone)]
pub struct OperatorArgs {
    pub namespace: String,
    /// `--concurrency`: ApiCredentials reconciled at once (`None`: the operator's default, 16).
    pub concurrency: Option<u16>,
    pub drift_check_interval: Duration,
    pub token_check_interval: Duration,
}

/// A running operator.
pub struct Operator {
    child: Child,
    health_addr: String,
    metrics_addr: String,
}

/// Resident memory of a process, from `/proc/<pid>/status`.
#[derive(Debug, Clone, Copy)]
pub struct Memory {
    /// `VmRSS`: resident now.
    pub rss_kib: u64,
    /// `VmHWM`: the most ever resident.
    pub peak_kib: u64,
    /// `RssAnon`: heap, stacks and allocator slack (the part that grows with objects).
    pub anon_kib: u64,
    /// `RssFile`: pages of the binary and libraries.
    pub file_kib: u64,
}

impl Operator {
    /// Starts `binary` with `args`, logging to `log`.
    pub fn spawn(binary: &Path, kubeconfig: &Path, args: &OperatorArgs, log: PathBuf) -> BenchResult<Self> {
        let mut launcher = OperatorLauncher::new(binary, kubeconfig)
            .watch_namespace(&args.namespace)
            .drift_check_interval(args.drift_check_interval)
            .token_check_interval(args.token_check_interval)
            // The lab's ControlHubConnection reaches the emulator over http://127.0.0.1.
            .allow_http_for_namespaced_connections()
            .rust_log(
                &std::env::var("BENCH_OPERATOR_LOG")
                    .unwrap_or_else(|_| "warn,controlhub_operator=info".into()),
            );
        if let Some(concurrency) = args.concurrency {
            launcher = launcher.concurrency(concurrency);
        }
        let child = launcher.spawn(&log)?;
        Ok(Operator {
            child,
            health_addr: launcher.health_addr(),
            metrics_addr: launcher.metrics_addr(),
        })
    }

    /// Waits until `/readyz` answers 200 (caches synced), or `timeout`.
    pub async fn wait_ready(&mut self, timeout: Duration) -> BenchResult<Duration> {
        let started = Instant::now();
        let url = format!("http://{}/readyz", self.health_addr);
        let http = reqwest::Client::new();
        while started.elapsed() < timeout {
            if let Some(status) = self.child.try_wait() {
                return Err(format!("the operator exited ({status}):\n{}", self.child.log_tail(20)).into());
            }
            if let Ok(response) = http.get(&url).send().await
                && response.status().is_success()
            {
                return Ok(started.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Err(format!(
            "the operator was not ready within {timeout:?}:\n{}",
            self.child.log_tail(20)
        )
        .into())
    }

    /// The Kubernetes requests the operator itself has sent, other than watches and lists (its
    /// `controlhub_operator_kubernetes_requests_total`): tells its share of the API server's counts.
    pub async fn kubernetes_requests(&self) -> BenchResult<u64> {
        let url = format!("http://{}/metrics", self.metrics_addr);
        let text = reqwest::get(&url).await?.text().await?;
        Ok(text
            .lines()
            .filter(|l| l.starts_with("controlhub_operator_kubernetes_requests_total{"))
            .filter(|l| !l.contains("verb=\"watch\"") && !l.contains("verb=\"list\""))
            .filter_map(|l| l.rsplit_once(' ')?.1.trim().parse::<f64>().ok())
            .sum::<f64>() as u64)
    }

    /// The operator's memory now.
    pub fn memory(&self) -> BenchResult<Memory> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        let field = |name: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                .ok_or_else(|| format!("/proc status has no {name}"))
        };
        Ok(Memory {
            rss_kib: field("VmRSS:")?,
            peak_kib: field("VmHWM:")?,
            anon_kib: field("RssAnon:")?,
            file_kib: field("RssFile:")?,
        })
    }

    /// The operator's process ID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops the operator at once (SIGKILL).
    pub fn kill(mut self) {
        self.child.kill();
    }
}

/// CPU time used so far by process `pid` (user + system), from `/proc/<pid>/stat`; zero if gone.
pub fn cpu_time(pid: u32) -> Duration {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return Duration::ZERO;
    };
    // Fields after the command name (which may hold spaces) start at field 3; utime and stime are
    // fields 14 and 15.
    let Some((_, rest)) = stat.rsplit_once(") ") else {
        return Duration::ZERO;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    ticks_to_duration(ticks(11) + ticks(12))
}

/// Busy and total CPU time of the whole machine so far (all cores), from `/proc/stat`.
pub fn machine_cpu() -> (Duration, Duration) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = stat.lines().find(|l| l.starts_with("cpu ")) else {
        return (Duration::ZERO, Duration::ZERO);
    };
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    let total: u64 = v.iter().take(8).sum();
    // idle + iowait
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    (ticks_to_duration(total - idle), ticks_to_duration(total))
}

/// Linux reports CPU time in USER_HZ ticks, 100 per second on every mainstream architecture.
fn ticks_to_duration(ticks: u64) -> Duration {
    Duration::from_millis(ticks * 10)
}
