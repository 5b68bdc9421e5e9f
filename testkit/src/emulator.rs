//! Starts the `controlhub-emulator` binary and drives its admin API.
//!
//! [`Emulator`] spawns the binary as a [`crate::process::Child`] (dies with the spawning thread, so
//! start it from a thread that outlives its use, e.g. the test's own thread), reads the JSON start-up
//! line, and offers typed helpers for the emulator's `/emulator/v1` admin API plus
//! [`Emulator::request_as`], the one way tests call Control Hub as a given credential (with
//! [`Emulator::current_user_status`], the seed documentation's curl example, to prove that a token
//! works or not). It must not depend on the operator crate: plain reqwest + serde.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::pki::TestCa;
use crate::process::{Child, Output, spawn, target_bin_dir};

/// Environment variable naming the emulator binary to run.
pub const BIN_ENV: &str = "CONTROLHUB_EMULATOR_BIN";
/// How long the emulator may take to print its start-up line.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);

/// Errors starting or restarting the emulator.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    #[error("controlhub-emulator binary not found at {path}: build it: cargo build -p controlhub-emulator")]
    BinaryMissing { path: PathBuf },
    #[error("could not prepare {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("could not generate the TLS certificates: {0}")]
    Certificates(#[from] rcgen::Error),
    #[error("the emulator printed no start-up line within {seconds}s; last log lines:\n{log}")]
    NotReady { seconds: u64, log: String },
    #[error("the emulator exited during start-up; last log lines:\n{log}")]
    Exited { log: String },
    #[error("the emulator's start-up line is not the documented JSON ({reason}); last log lines:\n{log}")]
    BadStartupLine { reason: String, log: String },
    #[error("the admin HTTP client cannot be built: {0}")]
    HttpClient(#[source] reqwest::Error),
}

/// The org admin the emulator creates at start-up (from its start-up line). `Debug` hides the token.
#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdminCredential {
    pub user_id: String,
    pub credential_id: String,
    pub auth_token: String,
}

impl fmt::Debug for AdminCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminCredential")
            .field("user_id", &self.user_id)
            .field("credential_id", &self.credential_id)
            .field("auth_token", &"<redacted>")
            .finish()
    }
}

/// The JSON line the emulator prints once it serves.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StartupLine {
    url: String,
    org_id: String,
    admin: AdminCredential,
}

/// Org settings (`/emulator/v1/settings`). Unset fields are left unchanged by [`Emulator::set_settings`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Settings {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_accounts_enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admins_may_regenerate_for_others: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential_limit: Option<u32>,
    /// Whether org admins may change the label of other users' credentials (default true).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admins_may_rename_for_others: Option<bool>,
    /// The `ISSUES` code of the refusal of one credential too many.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quota_issue_code: Option<String>,
    /// Its message (`{owner}` and `{limit}` are substituted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quota_issue_message: Option<String>,
}

/// Injected faults (`/emulator/v1/faults`). Rates are probabilities in `[0, 1]`; an empty
/// `operations` list applies the faults to every operation. `Faults::default()` injects nothing
/// beyond the emulator's profile: the `None` delays take the profile's values (0 by default, 2 s
/// under `strict`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Faults {
    pub latency_ms: u64,
    /// Share of requests answered `503`.
    pub error_rate: f64,
    /// Share of requests answered `429` with `Retry-After: retry_after_seconds`.
    pub rate_limit_rate: f64,
    pub retry_after_seconds: u64,
    /// Share of requests whose connection is closed without a response.
    pub drop_rate: f64,
    /// Delay before deactivation, regeneration and deletion take effect for authentication.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revocation_delay_ms: Option<u64>,
    /// How long lists show a credential as it was before its creation or last label/active change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub list_lag_ms: Option<u64>,
    /// Emulator operation names, e.g. `createCredential`, `listCredentials`.
    pub operations: Vec<String>,
    /// Every create makes the credential for this user instead of the one requested.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub create_owner_override: Option<String>,
}

impl Faults {
    /// No faults, restricted to `operations` (set rates with struct update syntax).
    pub fn for_operations(operations: &[&str]) -> Self {
        Self {
            operations: operations.iter().map(|op| op.to_string()).collect(),
            ..Self::default()
        }
    }
}

/// Request counts per emulator operation and HTTP status (`/emulator/v1/stats`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Stats {
    pub operations: BTreeMap<String, BTreeMap<String, u64>>,
}

impl Stats {
    /// Requests of `operation` answered with `status`.
    pub fn count(&self, operation: &str, status: u16) -> u64 {
        self.operations
            .get(operation)
            .and_then(|by_status| by_status.get(&status.to_string()))
            .copied()
            .unwrap_or(0)
    }

    /// Requests of `operation`, whatever the status.
    pub fn total(&self, operation: &str) -> u64 {
        self.operations
            .get(operation)
            .map(|by_status| by_status.values().sum())
            .unwrap_or(0)
    }
}

/// Options for starting the emulator.
///
/// `--profile` is one of the emulator's profiles, e.g. [`EmulatorOptions::profile`]`("strict")`.
#[derive(Debug, Clone, Default)]
pub struct EmulatorOptions {
    binary: Option<PathBuf>,
    state_file: Option<PathBuf>,
    tls: bool,
    args: Vec<String>,
}

impl EmulatorOptions {
    /// Defaults: in-memory state, plain HTTP.
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs this binary instead of [`binary_path`] (e.g. a release build for benchmarks).
    pub fn binary(mut self, path: impl Into<PathBuf>) -> Self {
        self.binary = Some(path.into());
        self
    }

    /// Persists state in `path` (`--state`), so [`Emulator::restart`] keeps the org and credentials.
    pub fn state_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.state_file = Some(path.into());
        self
    }

    /// Serves HTTPS with a certificate for `127.0.0.1`/`localhost` signed by a fresh test CA
    /// ([`Emulator::ca_pem`]).
    pub fn tls(mut self) -> Self {
        self.tls = true;
        self
    }

    /// Starts with `--profile NAME`: `"default"` or `"strict"` (the least convenient choice for
    /// every behaviour the public Control Hub sources leave open; see the emulator's README).
    pub fn profile(self, name: impl Into<String>) -> Self {
        self.arg("--profile").arg(name)
    }

    /// Passes an extra command-line argument (e.g. `--iss`).
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Starts the emulator, or panics with what went wrong (e.g. "build it: …").
    pub fn start(self) -> Emulator {
        match Emulator::try_start(self) {
            Ok(emulator) => emulator,
            Err(err) => panic!("{err}"),
        }
    }
}

/// The test CA and the emulator's server certificate, written to files.
struct TlsFiles {
    ca_pem: String,
    cert: PathBuf,
    key: PathBuf,
}

/// A running `controlhub-emulator`. Killed on drop.
pub struct Emulator {
    child: Option<Child>,
    options: EmulatorOptions,
    dir: PathBuf,
    tls: Option<TlsFiles>,
    http: reqwest::Client,
    startup: StartupLine,
    port: u16,
}

impl fmt::Debug for Emulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Emulator")
            .field("url", &self.startup.url)
            .field("org_id", &self.startup.org_id)
            .field("admin", &self.startup.admin)
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl Emulator {
    /// Starts an emulator with default options, or panics.
    pub fn start() -> Self {
        EmulatorOptions::new().start()
    }

    /// Options builder.
    pub fn options() -> EmulatorOptions {
        EmulatorOptions::new()
    }

    /// Starts the emulator with `options` and waits for its start-up line.
    pub fn try_start(options: EmulatorOptions) -> Result<Self, EmulatorError> {
        let bin = options.binary.clone().unwrap_or_else(binary_path);
        if !bin.is_file() {
            return Err(EmulatorError::BinaryMissing { path: bin });
        }
        let dir = fresh_dir();
        mkdir(&dir)?;
        let tls = if options.tls {
            Some(write_tls_files(&dir)?)
        } else {
            None
        };
        let http = admin_http_client(tls.as_ref())?;
        let (child, startup) = launch(&bin, &dir, &options, tls.as_ref(), 0)?;
        let port = port_of(&startup.url).unwrap_or(0);
        Ok(Self {
            child: Some(child),
            options,
            dir,
            tls,
            http,
            startup,
            port,
        })
    }

    /// The base URL, `http(s)://127.0.0.1:PORT` (also the ASTER URL for org-info discovery).
    pub fn url(&self) -> &str {
        &self.startup.url
    }

    /// The organization ID.
    pub fn org_id(&self) -> &str {
        &self.startup.org_id
    }

    /// The bootstrap org admin and its credential.
    pub fn admin(&self) -> &AdminCredential {
        &self.startup.admin
    }

    /// The PEM of the CA that signed the emulator's certificate (TLS only).
    pub fn ca_pem(&self) -> Option<&str> {
        self.tls.as_ref().map(|tls| tls.ca_pem.as_str())
    }

    /// The emulator's stderr log.
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("emulator.log")
    }

    /// The last `lines` lines of the emulator's log.
    pub fn log_tail(&self, lines: usize) -> String {
        tail(&self.log_path(), lines)
    }

    /// Whether the process is running.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|child| child.try_wait().is_none())
    }

    /// Kills the emulator with SIGKILL (no chance to flush anything).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill();
        }
    }

    /// Stops the emulator with SIGTERM (it may flush its state file), waiting up to `grace` before
    /// SIGKILL; the exit status, `None` when it had to be killed or was not running.
    pub fn terminate(&mut self, grace: Duration) -> Option<std::process::ExitStatus> {
        self.child.take()?.terminate(grace)
    }

    /// Kills the emulator (SIGKILL) and starts it again on the same port with the same options.
    /// With a state file, the org, users and credentials survive; without one, everything is new.
    pub fn restart(&mut self) -> Result<(), EmulatorError> {
        self.kill();
        let bin = self.options.binary.clone().unwrap_or_else(binary_path);
        let mut last = None;
        // The port was just released; retry briefly in case the kernel still holds it.
        for _ in 0..20 {
            match launch(&bin, &self.dir, &self.options, self.tls.as_ref(), self.port) {
                Ok((child, startup)) => {
                    self.child = Some(child);
                    self.startup = startup;
                    return Ok(());
                }
                Err(err @ EmulatorError::Exited { .. }) => {
                    last = Some(err);
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(err) => return Err(err),
            }
        }
        Err(last.unwrap_or(EmulatorError::Exited {
            log: self.log_tail(20),
        }))
    }

    /// Sends an admin-API request as the bootstrap admin; returns the status and the JSON body
    /// (`Value::Null` when empty or not JSON). Does not panic on error statuses.
    pub async fn admin_request(&self, method: Method, path: &str, body: Option<&Value>) -> (u16, Value) {
        let admin = self.admin();
        self.request_as(method, path, body, &admin.credential_id, &admin.auth_token)
            .await
    }

    /// Creates a user (`POST /emulator/v1/users`) and returns its user ID.
    pub async fn create_user(
        &self,
        email: &str,
        name: &str,
        roles: &[&str],
        service_account: bool,
    ) -> String {
        let body = serde_json::json!({
            "email": email, "name": name, "roles": roles, "serviceAccount": service_account,
        });
        let value = self
            .admin_ok(Method::POST, "/emulator/v1/users", Some(&body))
            .await;
        string_field(&value, "userId")
    }

    /// Deletes a user and, by cascade, every credential it owns or registered.
    pub async fn delete_user(&self, user_id: &str) {
        self.admin_ok(Method::DELETE, &format!("/emulator/v1/users/{user_id}"), None)
            .await;
    }

    /// Issues a credential for `user_id` through the admin API; returns `(credential_id, token)`.
    pub async fn issue_user_credential(&self, user_id: &str, label: &str) -> (String, String) {
        let body = serde_json::json!({ "label": label });
        let path = format!("/emulator/v1/users/{user_id}/credentials");
        let value = self.admin_ok(Method::POST, &path, Some(&body)).await;
        (
            string_field(&value, "componentId"),
            string_field(&value, "authToken"),
        )
    }

    /// The org settings.
    pub async fn settings(&self) -> Settings {
        let value = self.admin_ok(Method::GET, "/emulator/v1/settings", None).await;
        parse(value, "settings")
    }

    /// Changes the fields of `settings` that are set; returns the full settings.
    pub async fn set_settings(&self, settings: &Settings) -> Settings {
        let body = to_value(settings);
        let value = self
            .admin_ok(Method::PUT, "/emulator/v1/settings", Some(&body))
            .await;
        parse(value, "settings")
    }

    /// Replaces the injected faults.
    pub async fn set_faults(&self, faults: &Faults) {
        self.admin_ok(Method::PUT, "/emulator/v1/faults", Some(&to_value(faults)))
            .await;
    }

    /// Switches the profile (`PUT /emulator/v1/profile`): `"default"` or `"strict"`.
    pub async fn set_profile(&self, name: &str) {
        let body = serde_json::json!({ "profile": name });
        self.admin_ok(Method::PUT, "/emulator/v1/profile", Some(&body))
            .await;
    }

    /// Removes every injected fault (back to the profile's delays).
    pub async fn clear_faults(&self) {
        self.set_faults(&Faults::default()).await;
    }

    /// Request counts since start or the last [`Emulator::reset_stats`].
    pub async fn stats(&self) -> Stats {
        let value = self.admin_ok(Method::GET, "/emulator/v1/stats", None).await;
        parse(value, "stats")
    }

    /// Resets the request counts.
    pub async fn reset_stats(&self) {
        self.admin_ok(Method::DELETE, "/emulator/v1/stats", None).await;
    }

    /// The seed UI documentation's curl example, `GET /security/rest/v1/currentUser` with the
    /// documented headers, returning the HTTP status: 200 proves the token works, 401 that it does not.
    pub async fn current_user_status(&self, credential_id: &str, token: &str) -> u16 {
        self.current_user(credential_id, token).await.0
    }

    /// `GET /security/rest/v1/currentUser` as a credential: the HTTP status and the principal
    /// (`principalId`) it authenticates as.
    pub async fn current_user(&self, credential_id: &str, token: &str) -> (u16, Option<String>) {
        let (status, body) = self
            .request_as(
                Method::GET,
                "/security/rest/v1/currentUser",
                None,
                credential_id,
                token,
            )
            .await;
        (status, body["principalId"].as_str().map(str::to_string))
    }

    async fn admin_ok(&self, method: Method, path: &str, body: Option<&Value>) -> Value {
        let (status, value) = self.admin_request(method.clone(), path, body).await;
        if !(200..300).contains(&status) {
            panic!("emulator admin API {method} {path} answered {status}: {value}");
        }
        value
    }

    /// The one way tests call Control Hub as a given credential: `method path` (relative to
    /// [`Emulator::url`]) with the REST headers and the credential's ID and token; returns the
    /// status and the JSON body (`Value::Null` when empty or not JSON). Panics only when no answer
    /// comes (with the emulator's log); never prints the token.
    pub async fn request_as(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        credential_id: &str,
        token: &str,
    ) -> (u16, Value) {
        let url = format!("{}{path}", self.url());
        let mut request = self
            .http
            .request(method.clone(), &url)
            .header("Content-Type", "application/json")
            .header("X-Requested-By", "controlhub-testkit")
            .header("X-SS-REST-CALL", "true")
            .header("X-SS-App-Component-Id", credential_id)
            .header("X-SS-App-Auth-Token", token);
        if let Some(body) = body {
            request = request.body(body.to_string());
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(err) => panic!(
                "{method} {url} failed: {err}; emulator log:\n{}",
                self.log_tail(20)
            ),
        };
        let status = response.status().as_u16();
        let bytes = response.bytes().await.unwrap_or_default();
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }
}

/// `$CONTROLHUB_EMULATOR_BIN`, else `target/<profile>/controlhub-emulator`.
pub fn binary_path() -> PathBuf {
    std::env::var_os(BIN_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| target_bin_dir().join("controlhub-emulator"))
}

/// Spawns the binary and reads its start-up line.
fn launch(
    bin: &Path,
    dir: &Path,
    options: &EmulatorOptions,
    tls: Option<&TlsFiles>,
    port: u16,
) -> Result<(Child, StartupLine), EmulatorError> {
    let mut cmd = Command::new(bin);
    cmd.arg("--listen").arg(format!("127.0.0.1:{port}"));
    if let Some(state) = &options.state_file {
        cmd.arg("--state").arg(state);
    }
    if let Some(tls) = tls {
        cmd.arg("--tls-cert")
            .arg(&tls.cert)
            .arg("--tls-key")
            .arg(&tls.key);
    }
    cmd.args(&options.args);
    let log = dir.join("emulator.log");
    let mut child = spawn(
        "controlhub-emulator",
        cmd,
        Output::PipedStdout {
            stderr_log: log.clone(),
        },
    )
    .map_err(|source| EmulatorError::Io {
        path: bin.to_path_buf(),
        source,
    })?;
    let Some(stdout) = child.inner_mut().stdout.take() else {
        return Err(EmulatorError::Exited { log: tail(&log, 20) });
    };
    let line = match read_first_line(stdout).recv_timeout(STARTUP_TIMEOUT) {
        Ok(Some(line)) => line,
        Ok(None) => return Err(EmulatorError::Exited { log: tail(&log, 20) }),
        Err(_) => {
            return Err(EmulatorError::NotReady {
                seconds: STARTUP_TIMEOUT.as_secs(),
                log: tail(&log, 20),
            });
        }
    };
    let startup: StartupLine =
        serde_json::from_str(line.trim()).map_err(|err| EmulatorError::BadStartupLine {
            reason: err.to_string(),
            log: tail(&log, 20),
        })?;
    Ok((child, startup))
}

/// Reads the first stdout line on a thread (sent on the channel, `None` on EOF), then keeps
/// draining stdout so the emulator can never block on a full pipe.
fn read_first_line(stdout: impl Read + Send + 'static) -> mpsc::Receiver<Option<String>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let first = match reader.read_line(&mut line) {
            Ok(n) if n > 0 => Some(line),
            _ => None,
        };
        let _ = tx.send(first);
        // Anything more on stdout breaks the start-up contract (one line): say so, without content.
        for extra in reader.lines().map_while(Result::ok) {
            eprintln!(
                "controlhub-emulator: unexpected extra stdout line ({} bytes)",
                extra.len()
            );
        }
    });
    rx
}

/// A test CA and a server certificate for 127.0.0.1/localhost, written under `dir/tls`.
fn write_tls_files(dir: &Path) -> Result<TlsFiles, EmulatorError> {
    let tls_dir = dir.join("tls");
    mkdir(&tls_dir)?;
    let ca = TestCa::new("controlhub-testkit CA")?;
    let leaf = ca.loopback_server("controlhub-emulator")?;
    let files = TlsFiles {
        ca_pem: ca.pem(),
        cert: tls_dir.join("tls.crt"),
        key: tls_dir.join("tls.key"),
    };
    write(&files.cert, &leaf.cert_pem)?;
    write(&files.key, &leaf.key_pem)?;
    write(&tls_dir.join("ca.crt"), &files.ca_pem)?;
    Ok(files)
}

fn admin_http_client(tls: Option<&TlsFiles>) -> Result<reqwest::Client, EmulatorError> {
    let mut builder = reqwest::Client::builder().timeout(Duration::from_secs(30));
    if let Some(tls) = tls {
        let ca = reqwest::Certificate::from_pem(tls.ca_pem.as_bytes()).map_err(EmulatorError::HttpClient)?;
        builder = builder.add_root_certificate(ca);
    }
    builder.build().map_err(EmulatorError::HttpClient)
}

/// A fresh directory for one emulator's log and TLS files, under the cargo target directory.
fn fresh_dir() -> PathBuf {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let target = target_bin_dir()
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(std::env::temp_dir);
    target
        .join("test-logs")
        .join(format!("emulator-{}-{n}", std::process::id()))
}

fn port_of(url: &str) -> Option<u16> {
    url.rsplit(':').next()?.trim_end_matches('/').parse().ok()
}

fn mkdir(path: &Path) -> Result<(), EmulatorError> {
    std::fs::create_dir_all(path).map_err(|source| EmulatorError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn write(path: &Path, contents: &str) -> Result<(), EmulatorError> {
    std::fs::write(path, contents).map_err(|source| EmulatorError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn to_value<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

fn parse<T: for<'de> Deserialize<'de>>(value: Value, what: &str) -> T {
    match serde_json::from_value(value.clone()) {
        Ok(parsed) => parsed,
        Err(err) => panic!("emulator {what} response {value} does not parse: {err}"),
    }
}

fn string_field(value: &Value, field: &str) -> String {
    match value.get(field).and_then(Value::as_str) {
        Some(s) => s.to_string(),
        None => panic!("emulator response has no string `{field}`: {value}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_count_by_operation_and_status() {
        let stats: Stats = serde_json::from_str(
            r#"{"operations":{"createCredential":{"200":3,"503":1},"listCredentials":{"200":2}}}"#,
        )
        .unwrap();
        assert_eq!(stats.count("createCredential", 503), 1);
        assert_eq!(stats.total("createCredential"), 4);
        assert_eq!(stats.total("deleteCredential"), 0);
    }

    #[test]
    fn settings_send_only_what_is_set() {
        let settings = Settings {
            credential_limit: Some(50),
            ..Settings::default()
        };
        assert_eq!(
            serde_json::to_string(&settings).unwrap(),
            r#"{"credentialLimit":50}"#
        );
    }

    #[test]
    fn faults_serialize_with_the_documented_names() {
        let faults = Faults {
            error_rate: 1.0,
            revocation_delay_ms: Some(1),
            list_lag_ms: Some(2),
            ..Faults::for_operations(&["createCredential"])
        };
        let json = serde_json::to_value(&faults).unwrap();
        for key in [
            "latencyMs",
            "errorRate",
            "rateLimitRate",
            "retryAfterSeconds",
            "dropRate",
            "revocationDelayMs",
            "listLagMs",
        ] {
            assert!(json.get(key).is_some(), "{key} missing in {json}");
        }
        assert_eq!(json["operations"], serde_json::json!(["createCredential"]));
        let defaults = serde_json::to_value(Faults::default()).unwrap();
        assert!(defaults.get("listLagMs").is_none() && defaults.get("revocationDelayMs").is_none());
    }

    #[test]
    fn admin_debug_hides_the_token() {
        let admin = AdminCredential {
            user_id: "u".into(),
            credential_id: "c".into(),
            auth_token: "secret".into(),
        };
        assert!(!format!("{admin:?}").contains("secret"));
    }

    #[test]
    fn port_is_read_from_the_url() {
        assert_eq!(port_of("http://127.0.0.1:41234"), Some(41234));
        assert_eq!(port_of("https://127.0.0.1:8443/"), Some(8443));
    }
}
