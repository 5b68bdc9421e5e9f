//! Load figures for the emulator alone (a program that prints numbers, not a test): list and create
//! throughput with p50/p99 latency at 1, 10 and 100 concurrent clients sending as fast as they can
//! (closed loop: at saturation latency ≈ clients / throughput), then 100 clients paced at the
//! project's target rates (5,000 lists/s, 1,000 creates/s) to show the latency at that load.
//! The load generator shares the machine's cores with the emulator.
//!
//! Run: `cargo run --release -p controlhub-emulator --example load [-- SECONDS_PER_RUN]`.
//! It starts `target/release/controlhub-emulator` (else the debug build, or $CONTROLHUB_EMULATOR_BIN)
//! and sends traffic to 127.0.0.1 only; every run is bounded in time.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

struct Target {
    base: String,
    org: String,
    id: String,
    token: String,
}

fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("CONTROLHUB_EMULATOR_BIN") {
        return PathBuf::from(path);
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("target");
    let release = root.join("release").join("controlhub-emulator");
    if release.exists() {
        release
    } else {
        root.join("debug").join("controlhub-emulator")
    }
}

fn request(
    client: &reqwest::Client,
    target: &Target,
    method: reqwest::Method,
    path: &str,
) -> reqwest::RequestBuilder {
    client
        .request(method, format!("{}{path}", target.base))
        .header("Content-Type", "application/json")
        .header("X-Requested-By", "load")
        .header("X-SS-REST-CALL", "true")
        .header("X-SS-App-Component-Id", &target.id)
        .header("X-SS-App-Auth-Token", &target.token)
}

/// Runs `clients` loops for `duration`, each sending one request per `pace` (or back to back when
/// `None`); returns (requests/s, p50, p99, errors).
async fn run<F, Fut>(
    clients: usize,
    duration: Duration,
    pace: Option<Duration>,
    make: F,
) -> (f64, Duration, Duration, usize)
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let make = Arc::new(make);
    let started = Instant::now();
    let deadline = started + duration;
    let tasks: Vec<_> = (0..clients)
        .map(|client| {
            let make = make.clone();
            tokio::spawn(async move {
                let (mut latencies, mut errors, mut n) = (Vec::new(), 0usize, 0u64);
                let mut ticks = pace.map(|period| {
                    let offset = period.mul_f64(client as f64 / clients as f64);
                    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + offset, period);
                    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                    ticks
                });
                while Instant::now() < deadline {
                    if let Some(ticks) = ticks.as_mut() {
                        ticks.tick().await;
                    }
                    let t = Instant::now();
                    if !make(client, n).await {
                        errors += 1;
                    }
                    latencies.push(t.elapsed());
                    n += 1;
                }
                (latencies, errors)
            })
        })
        .collect();
    let (mut all, mut errors) = (Vec::new(), 0);
    for task in tasks {
        if let Ok((latencies, e)) = task.await {
            all.extend(latencies);
            errors += e;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort();
    let pick = |q: f64| {
        all.get(((all.len() as f64 * q) as usize).min(all.len().saturating_sub(1)))
            .copied()
    };
    (
        all.len() as f64 / elapsed,
        pick(0.5).unwrap_or_default(),
        pick(0.99).unwrap_or_default(),
        errors,
    )
}

#[tokio::main]
async fn main() {
    let seconds: u64 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(3);
    let bin = binary();
    let mut child = Command::new(&bin)
        .args(["--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
    let mut line = String::new();
    if let Some(stdout) = child.stdout.take() {
        let _ = BufReader::new(stdout).read_line(&mut line);
    }
    let parsed: Value = serde_json::from_str(&line).unwrap_or_default();
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let target = Arc::new(Target {
        base: text(&parsed["url"]),
        org: text(&parsed["orgId"]),
        id: text(&parsed["admin"]["credentialId"]),
        token: text(&parsed["admin"]["authToken"]),
    });
    println!("emulator: {} ({})", bin.display(), target.base);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .unwrap_or_default();
    let settings = request(&client, &target, reqwest::Method::PUT, "/emulator/v1/settings")
        .json(&json!({"credentialLimit": 4_000_000_000u32}))
        .send()
        .await;
    assert!(
        settings.is_ok_and(|r| r.status().is_success()),
        "cannot raise the credential limit"
    );
    let mut users = Vec::new();
    for i in 0..100 {
        let body = json!({"email": format!("load{i}@example.com"), "serviceAccount": true});
        let reply = request(&client, &target, reqwest::Method::POST, "/emulator/v1/users")
            .json(&body)
            .send()
            .await;
        let value: Value = match reply {
            Ok(r) => r.json().await.unwrap_or_default(),
            Err(_) => Value::Null,
        };
        users.push(text(&value["userId"]));
    }
    let users = Arc::new(users);
    let duration = Duration::from_secs(seconds);
    let list_path = format!(
        "/security/rest/v1/organization/{}/api-user-credentials",
        target.org
    );
    println!(
        "{:<8} {:>8} {:>6} {:>12} {:>10} {:>10} {:>7}",
        "op", "clients", "load", "requests/s", "p50 ms", "p99 ms", "errors"
    );
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let runs: [(usize, Option<f64>, Option<f64>); 4] = [
        (1, None, None),
        (10, None, None),
        (100, None, None),
        (100, Some(5000.0), Some(1000.0)),
    ];
    for (clients, list_rate, create_rate) in runs {
        let pace = |rate: Option<f64>| rate.map(|r| Duration::from_secs_f64(clients as f64 / r));
        let (c, t, p) = (client.clone(), target.clone(), list_path.clone());
        let list = run(clients, duration, pace(list_rate), move |_, _| {
            let request = request(&c, &t, reqwest::Method::GET, &p);
            async move { request.send().await.is_ok_and(|r| r.status().is_success()) }
        })
        .await;
        let (c, t, p, u) = (client.clone(), target.clone(), list_path.clone(), users.clone());
        let create = run(clients, duration, pace(create_rate), move |client, n| {
            let owner = &u[client % u.len()];
            let body = json!({"label": format!("load {n}"), "generateAuthToken": true, "active": true, "userId": owner});
            let request = request(&c, &t, reqwest::Method::POST, &p).json(&body);
            async move { request.send().await.is_ok_and(|r| r.status().is_success()) }
        })
        .await;
        let mode = if list_rate.is_some() { "paced" } else { "max" };
        for (op, (rps, p50, p99, errors)) in [("list", list), ("create", create)] {
            println!(
                "{op:<8} {clients:>8} {mode:>6} {rps:>12.0} {:>10.2} {:>10.2} {errors:>7}",
                ms(p50),
                ms(p99)
            );
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}
