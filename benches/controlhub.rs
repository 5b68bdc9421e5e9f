//! Client ↔ emulator benchmark (a program that prints figures; it asserts nothing).
//!
//! Measures list and create throughput and latency (p50/p99) at 1, 10 and 100 concurrent clients,
//! each client a separate user with its own credential and connection pool: first flat out (closed
//! loop: maximum throughput, latency then is mostly queueing), then paced at the target rates
//! (open loop: latency at the required load). Also the client's overhead per call against a raw
//! reqwest call with pre-built headers.
//!
//! Run: `cargo bench --bench controlhub`. Uses `$CONTROLHUB_EMULATOR_BIN`, else
//! `target/release/controlhub-emulator` when built (`cargo build --release -p controlhub-emulator`),
//! else `target/debug/controlhub-emulator`. `BENCH_SECONDS` sets each measurement's duration (default 3).

use std::error::Error as StdError;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use controlhub_operator::controlhub::{AuthToken, ClientConfig, ControlHubClient, CredentialId};
use controlhub_testkit::emulator::{BIN_ENV, Emulator, Settings};
use controlhub_testkit::process::workspace_root;

type BenchResult<T> = Result<T, Box<dyn StdError + Send + Sync>>;

const CONCURRENCY: [usize; 3] = [1, 10, 100];
/// Raised per-owner credential limit, so create runs never hit the quota.
const CREDENTIAL_LIMIT: u32 = 1_000_000;
/// Sequential calls per side when measuring client overhead.
const OVERHEAD_CALLS: usize = 2_000;

const TARGET_LISTS_PER_SEC: f64 = 5_000.0;
const TARGET_CREATES_PER_SEC: f64 = 1_000.0;
const TARGET_P99: Duration = Duration::from_millis(5);

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    List,
    Create,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::List => "list",
            Op::Create => "create",
        }
    }
}

/// How requests are issued.
#[derive(Clone, Copy, PartialEq)]
enum Load {
    /// Each client sends its next request as soon as the last returns.
    FlatOut,
    /// All clients together send this many requests per second, evenly scheduled.
    Paced(f64),
}

struct Row {
    op: Op,
    load: Load,
    clients: usize,
    ok: usize,
    errors: usize,
    per_sec: f64,
    p50: Duration,
    p99: Duration,
}

fn main() -> BenchResult<()> {
    let (binary, which) = emulator_binary();
    println!("emulator binary: {} ({which})", binary.display());
    // Spawned from the main thread, which outlives the runtime: the emulator dies with the bench.
    let emulator = Emulator::try_start(Emulator::options().binary(binary))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(run(&emulator))
}

async fn run(emulator: &Emulator) -> BenchResult<()> {
    let seconds = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0_f64);
    let duration = Duration::from_secs_f64(seconds);
    emulator
        .set_settings(&Settings {
            credential_limit: Some(CREDENTIAL_LIMIT),
            ..Settings::default()
        })
        .await;
    println!(
        "{} s per measurement; client rate limiting and retries off; every client is its own user",
        duration.as_secs_f64()
    );
    println!();

    let mut rows = Vec::new();
    for op in [Op::List, Op::Create] {
        for clients in CONCURRENCY {
            let users = user_clients(emulator, op, clients).await?;
            rows.push(measure(op, Load::FlatOut, users, duration).await);
        }
    }
    for (op, rate) in [
        (Op::List, TARGET_LISTS_PER_SEC),
        (Op::Create, TARGET_CREATES_PER_SEC),
    ] {
        let users = user_clients(emulator, op, 100).await?;
        rows.push(measure(op, Load::Paced(rate), users, duration).await);
    }
    print_table(&rows);
    let (client, raw) = overhead(emulator).await?;
    print_overhead(&client, &raw);
    print_targets(&rows);
    Ok(())
}

/// `Emulator` binary for the benchmark, and how it was chosen.
fn emulator_binary() -> (PathBuf, &'static str) {
    if let Some(path) = std::env::var_os(BIN_ENV) {
        return (PathBuf::from(path), "from $CONTROLHUB_EMULATOR_BIN");
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    let release = target.join("release").join("controlhub-emulator");
    if release.is_file() {
        (release, "release build")
    } else {
        (
            target.join("debug").join("controlhub-emulator"),
            "DEBUG build: run `cargo build --release -p controlhub-emulator` for real figures",
        )
    }
}

/// A client config without pacing or retries, so the figures are the server's and the client's.
fn bench_config(emulator: &Emulator, credential_id: &str, token: &str) -> ClientConfig {
    let mut config = ClientConfig::new(
        emulator.url(),
        CredentialId::new(credential_id),
        AuthToken::new(token),
    );
    config.requests_per_second = 0.0;
    config.max_retries = 0;
    config
}

/// `count` fresh users, each with one credential and its own client.
async fn user_clients(emulator: &Emulator, op: Op, count: usize) -> BenchResult<Vec<ControlHubClient>> {
    let mut clients = Vec::with_capacity(count);
    for n in 0..count {
        let name = format!("bench-{}-{count}-{n}", op.name());
        let user = emulator
            .create_user(
                &format!("{name}@example.com"),
                &name,
                &["org-user", "user"],
                false,
            )
            .await;
        let (id, token) = emulator.issue_user_credential(&user, "bench").await;
        clients.push(ControlHubClient::new(bench_config(emulator, &id, &token))?);
    }
    Ok(clients)
}

async fn call(client: &ControlHubClient, op: Op) -> bool {
    match op {
        Op::List => client.list_own_credentials().await.is_ok(),
        Op::Create => client.create_credential("bench", None, true).await.is_ok(),
    }
}

/// Runs every client for `duration` after one warm-up call each.
async fn measure(op: Op, load: Load, clients: Vec<ControlHubClient>, duration: Duration) -> Row {
    let count = clients.len();
    for client in &clients {
        call(client, op).await;
    }
    let started = Instant::now();
    let deadline = started + duration;
    let tasks: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(index, client)| {
            let schedule = Schedule::new(load, count, index, started);
            tokio::spawn(run_client(client, op, schedule, deadline))
        })
        .collect();
    let (mut latencies, mut errors) = (Vec::new(), 0usize);
    for task in tasks {
        match task.await {
            Ok((l, e)) => {
                latencies.extend(l);
                errors += e;
            }
            Err(_) => errors += 1,
        }
    }
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    Row {
        op,
        load,
        clients: count,
        ok: latencies.len(),
        errors,
        per_sec: latencies.len() as f64 / elapsed.as_secs_f64(),
        p50: percentile(&latencies, 0.50),
        p99: percentile(&latencies, 0.99),
    }
}

/// When one client sends: flat out, or every `period` from its staggered start.
struct Schedule {
    next: Option<(Instant, Duration)>,
}

impl Schedule {
    fn new(load: Load, clients: usize, index: usize, start: Instant) -> Self {
        let next = match load {
            Load::FlatOut => None,
            Load::Paced(rate) => {
                let period = Duration::from_secs_f64(clients as f64 / rate);
                Some((start + period.mul_f64(index as f64 / clients as f64), period))
            }
        };
        Self { next }
    }

    /// Waits for the next send time; returns the instant latency is measured from. A paced client
    /// running behind its schedule measures from the scheduled time, so a slow server cannot hide
    /// its delays by slowing the load down (coordinated omission).
    async fn wait(&mut self) -> Instant {
        let Some((at, period)) = &mut self.next else {
            return Instant::now();
        };
        let scheduled = *at;
        *at += *period;
        tokio::time::sleep_until(scheduled.into()).await;
        let now = Instant::now();
        if now > scheduled + Duration::from_millis(2) {
            scheduled
        } else {
            now
        }
    }
}

async fn run_client(
    client: ControlHubClient,
    op: Op,
    mut schedule: Schedule,
    deadline: Instant,
) -> (Vec<Duration>, usize) {
    let (mut latencies, mut errors) = (Vec::new(), 0usize);
    loop {
        let from = schedule.wait().await;
        if Instant::now() >= deadline {
            return (latencies, errors);
        }
        if call(&client, op).await {
            latencies.push(from.elapsed());
        } else {
            errors += 1;
        }
    }
}

/// Sequential latencies of the client's `list_own_credentials` and of a raw reqwest GET of the same
/// URL with pre-built headers (body read, not decoded), interleaved call by call.
async fn overhead(emulator: &Emulator) -> BenchResult<(Vec<Duration>, Vec<Duration>)> {
    let admin = emulator.admin();
    let client = ControlHubClient::new(bench_config(emulator, &admin.credential_id, &admin.auth_token))?;
    let raw = reqwest::Client::builder().build()?;
    let url = format!(
        "{}/security/rest/v1/organization/{}/api-user-credentials",
        emulator.url(),
        emulator.org_id()
    );
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("x-ss-app-component-id", admin.credential_id.parse()?);
    headers.insert("x-ss-app-auth-token", admin.auth_token.parse()?);
    headers.insert("x-requested-by", "bench".parse()?);
    headers.insert("x-ss-rest-call", "true".parse()?);
    headers.insert("content-type", "application/json".parse()?);

    let (mut with_client, mut with_raw) = (Vec::new(), Vec::new());
    for n in 0..OVERHEAD_CALLS + 50 {
        let t = Instant::now();
        client.list_own_credentials().await?;
        let client_time = t.elapsed();
        let t = Instant::now();
        let response = raw.get(&url).headers(headers.clone()).send().await?;
        if !response.status().is_success() {
            return Err(format!("raw list answered {}", response.status()).into());
        }
        response.bytes().await?;
        let raw_time = t.elapsed();
        if n >= 50 {
            with_client.push(client_time);
            with_raw.push(raw_time);
        }
    }
    with_client.sort_unstable();
    with_raw.sort_unstable();
    Ok((with_client, with_raw))
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index]
}

fn mean(values: &[Duration]) -> Duration {
    if values.is_empty() {
        return Duration::ZERO;
    }
    values.iter().sum::<Duration>() / u32::try_from(values.len()).unwrap_or(u32::MAX)
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1e3)
}

fn us(d: Duration) -> String {
    format!("{:.0}", d.as_secs_f64() * 1e6)
}

fn print_table(rows: &[Row]) {
    println!(
        "| operation | load           | clients | requests ok | errors | requests/s | p50 ms | p99 ms |"
    );
    println!(
        "|-----------|----------------|--------:|------------:|-------:|-----------:|-------:|-------:|"
    );
    for row in rows {
        let load = match row.load {
            Load::FlatOut => "flat out".to_string(),
            Load::Paced(rate) => format!("paced {rate:.0}/s"),
        };
        println!(
            "| {:<9} | {:<14} | {:>7} | {:>11} | {:>6} | {:>10.0} | {:>6} | {:>6} |",
            row.op.name(),
            load,
            row.clients,
            row.ok,
            row.errors,
            row.per_sec,
            ms(row.p50),
            ms(row.p99)
        );
    }
    println!();
}

fn print_overhead(client: &[Duration], raw: &[Duration]) {
    println!(
        "Client overhead per call ({} sequential list calls each, interleaved):",
        client.len()
    );
    println!("| path                         | mean µs | p50 µs | p99 µs |");
    println!("|------------------------------|--------:|-------:|-------:|");
    for (name, values) in [
        ("ControlHubClient::list_own", client),
        ("raw reqwest GET (no decode)", raw),
    ] {
        println!(
            "| {:<28} | {:>7} | {:>6} | {:>6} |",
            name,
            us(mean(values)),
            us(percentile(values, 0.5)),
            us(percentile(values, 0.99))
        );
    }
    let overhead = percentile(client, 0.5).as_secs_f64() - percentile(raw, 0.5).as_secs_f64();
    println!("client overhead at p50: {:.0} µs per call", overhead * 1e6);
    println!();
}

fn print_targets(rows: &[Row]) {
    let find = |op: Op, paced: bool| {
        rows.iter()
            .find(|r| r.op == op && r.clients == 100 && matches!(r.load, Load::Paced(_)) == paced)
    };
    let verdict = |met: bool| if met { "met" } else { "MISSED" };
    println!("Targets at 100 concurrent clients (throughput flat out; p99 paced at the target rate):");
    for (op, target) in [
        (Op::List, TARGET_LISTS_PER_SEC),
        (Op::Create, TARGET_CREATES_PER_SEC),
    ] {
        let (Some(flat), Some(paced)) = (find(op, false), find(op, true)) else {
            continue;
        };
        println!(
            "  {:<6} {:>7.0}/s (>= {:.0}/s: {}); p99 {} ms at {:.0}/s (< {} ms: {}); p99 flat out {} ms",
            op.name(),
            flat.per_sec,
            target,
            verdict(flat.per_sec >= target),
            ms(paced.p99),
            paced.per_sec,
            ms(TARGET_P99),
            verdict(paced.p99 < TARGET_P99),
            ms(flat.p99)
        );
    }
}
