//! A real, local Kubernetes control plane: etcd, kube-apiserver (TLS, RBAC, client-certificate users)
//! and kube-controller-manager (garbage collector, namespace and ClusterRole aggregation controllers,
//! the last so that aggregated rules reach the built-in `edit`/`admin`/`view` roles), on free loopback ports.
//!
//! The binaries are built from the Go module proxy by `scripts/k8s-tools.sh` and cached outside git.
//! Every process is a [`crate::process::Child`]: killed on drop, and killed by the kernel when the
//! thread that spawned it dies. [`shared`] gives a test binary one control plane for all its tests,
//! spawned from a thread that lives as long as the process, so nothing outlives the test run.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use base64::Engine;
use rcgen::KeyPair;

use crate::pki::{Issued, TestCa};
use crate::process::{Child, Output, free_port, spawn, workspace_root};

/// Errors starting the control plane. Each carries what a developer needs to fix it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "Kubernetes test binaries are missing in {dir}: run `scripts/k8s-tools.sh` (or `make tools`) to build them"
    )]
    BinariesMissing { dir: PathBuf },
    #[error("could not create {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("could not generate certificates: {0}")]
    Certificates(#[from] rcgen::Error),
    #[error("{process} did not become ready within {seconds}s; last log lines:\n{log}")]
    NotReady {
        process: String,
        seconds: u64,
        log: String,
    },
    #[error("{process} exited during start-up ({status}); last log lines:\n{log}")]
    Exited {
        process: String,
        status: String,
        log: String,
    },
}

/// Where the Kubernetes binaries are: `$K8S_BIN_DIR`, else what `scripts/k8s-tools.sh --dir` says.
pub fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("K8S_BIN_DIR") {
        return PathBuf::from(dir);
    }
    let script = workspace_root().join("scripts/k8s-tools.sh");
    let out = Command::new("bash").arg(&script).arg("--dir").output();
    match out {
        Ok(o) if o.status.success() => PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()),
        _ => PathBuf::from("/nonexistent-k8s-bin-dir"),
    }
}

/// A running control plane. Dropping it stops every process and removes its working directory.
pub struct ControlPlane {
    dir: PathBuf,
    bin: PathBuf,
    kubeconfig: PathBuf,
    server: String,
    ca_pem: String,
    version: String,
    keep_dir: bool,
    // Stopped in this order on drop: controller manager, apiserver, etcd.
    processes: Vec<Child>,
    // How etcd (index 0) and kube-apiserver (index 1) were started, to restart them alike.
    launches: Vec<Launch>,
}

/// How a control-plane process was started: enough to start it again on the same ports and data.
#[derive(Debug, Clone)]
struct Launch {
    name: &'static str,
    args: Vec<String>,
    log: PathBuf,
    ready_url: String,
    ca_pem: Option<String>,
}

/// A control-plane component that can be restarted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component {
    Etcd,
    Apiserver,
}

/// Options for [`ControlPlane::start`].
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Working directory (certificates, etcd data, logs, kubeconfig). Default: a fresh one under
    /// /dev/shm (or the temp dir), removed on drop.
    pub dir: Option<PathBuf>,
    /// Where to write process logs. Default: `<dir>/logs`.
    pub log_dir: Option<PathBuf>,
}

impl ControlPlane {
    /// Starts etcd, kube-apiserver and kube-controller-manager and waits until all are ready.
    pub fn start(options: Options) -> Result<Self, Error> {
        let bin = bin_dir();
        for name in ["etcd", "kube-apiserver", "kube-controller-manager", "kubectl"] {
            if !bin.join(name).is_file() {
                return Err(Error::BinariesMissing { dir: bin });
            }
        }
        let keep_dir = options.dir.is_some();
        let dir = options.dir.unwrap_or_else(fresh_dir);
        let log_dir = options.log_dir.unwrap_or_else(|| dir.join("logs"));
        mkdir(&dir)?;
        mkdir(&log_dir)?;
        let certs = Certs::write(&dir.join("pki"))?;

        let mut plane = ControlPlane {
            kubeconfig: dir.join("admin.kubeconfig"),
            dir,
            bin,
            server: String::new(),
            ca_pem: certs.ca_pem.clone(),
            version: String::new(),
            keep_dir,
            processes: Vec::new(),
            launches: Vec::new(),
        };
        let etcd_url = plane.start_etcd(&log_dir)?;
        let port = plane.start_apiserver(&log_dir, &etcd_url, &certs)?;
        plane.server = format!("https://127.0.0.1:{port}");
        write_file(
            &plane.kubeconfig,
            &kubeconfig(&plane.server, &certs.ca_pem, &certs.admin),
        )?;
        let kcm_kubeconfig = plane.dir.join("kcm.kubeconfig");
        write_file(
            &kcm_kubeconfig,
            &kubeconfig(&plane.server, &certs.ca_pem, &certs.kcm),
        )?;
        plane.start_controller_manager(&log_dir, &kcm_kubeconfig, &certs)?;
        plane.version = plane.kubectl_server_version().unwrap_or_default();
        Ok(plane)
    }

    /// The admin kubeconfig (user `admin` in group `system:masters`).
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// The API server URL, `https://127.0.0.1:PORT`.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// The PEM of the CA that signed the API server's certificate.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The directory holding the Kubernetes binaries (kubectl, helm, …).
    pub fn bin_dir(&self) -> &Path {
        &self.bin
    }

    /// The server's `gitVersion`, as `kubectl version` reports it.
    pub fn server_version(&self) -> &str {
        &self.version
    }

    /// The working directory (certificates, etcd data, kubeconfig).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Process IDs of etcd, kube-apiserver and kube-controller-manager.
    pub fn pids(&self) -> Vec<u32> {
        self.processes.iter().map(Child::id).collect()
    }

    /// A `kubectl` command bound to this control plane's admin kubeconfig.
    pub fn kubectl(&self) -> Command {
        let mut cmd = Command::new(self.bin.join("kubectl"));
        cmd.env("KUBECONFIG", &self.kubeconfig);
        cmd
    }

    fn start_etcd(&mut self, log_dir: &Path) -> Result<String, Error> {
        let client = free_port();
        let peer = free_port();
        let url = format!("http://127.0.0.1:{client}");
        let peer_url = format!("http://127.0.0.1:{peer}");
        let args: Vec<String> = vec![
            "--name=test".into(),
            format!("--data-dir={}", self.dir.join("etcd").display()),
            format!("--listen-client-urls={url}"),
            format!("--advertise-client-urls={url}"),
            format!("--listen-peer-urls={peer_url}"),
            format!("--initial-advertise-peer-urls={peer_url}"),
            format!("--initial-cluster=test={peer_url}"),
            "--unsafe-no-fsync=true".into(),
            "--log-level=warn".into(),
        ];
        self.launches.push(Launch {
            name: "etcd",
            args: args.clone(),
            log: log_dir.join("etcd.log"),
            ready_url: format!("{url}/health"),
            ca_pem: None,
        });
        let mut cmd = Command::new(self.bin.join("etcd"));
        cmd.args(args);
        let child =
            spawn("etcd", cmd, Output::Log(log_dir.join("etcd.log"))).map_err(|source| Error::Io {
                path: self.bin.join("etcd"),
                source,
            })?;
        self.processes.push(child);
        let health = format!("{url}/health");
        self.wait_ready("etcd", Duration::from_secs(30), || http_ok(&health, None))?;
        Ok(url)
    }

    fn start_apiserver(&mut self, log_dir: &Path, etcd_url: &str, certs: &Certs) -> Result<u16, Error> {
        let port = free_port();
        let pki = &certs.dir;
        let p = |name: &str| pki.join(name).display().to_string();
        let args: Vec<String> = vec![
            format!("--etcd-servers={etcd_url}"),
            "--bind-address=127.0.0.1".into(),
            format!("--secure-port={port}"),
            format!("--tls-cert-file={}", p("apiserver.crt")),
            format!("--tls-private-key-file={}", p("apiserver.key")),
            format!("--cert-dir={}", pki.display()),
            format!("--client-ca-file={}", p("ca.crt")),
            format!("--service-account-issuer=https://127.0.0.1:{port}/"),
            format!("--service-account-key-file={}", p("sa.pub")),
            format!("--service-account-signing-key-file={}", p("sa.key")),
            "--service-cluster-ip-range=10.0.0.0/24".into(),
            "--authorization-mode=RBAC".into(),
            "--allow-privileged=true".into(),
            "--disable-admission-plugins=ServiceAccount".into(),
            "--advertise-address=127.0.0.1".into(),
            "--endpoint-reconciler-type=none".into(),
            "--v=1".into(),
        ];
        self.launches.push(Launch {
            name: "kube-apiserver",
            args: args.clone(),
            log: log_dir.join("kube-apiserver.log"),
            ready_url: format!("https://127.0.0.1:{port}/readyz"),
            ca_pem: Some(certs.ca_pem.clone()),
        });
        let mut cmd = Command::new(self.bin.join("kube-apiserver"));
        cmd.args(args);
        let child = spawn(
            "kube-apiserver",
            cmd,
            Output::Log(log_dir.join("kube-apiserver.log")),
        )
        .map_err(|source| Error::Io {
            path: self.bin.join("kube-apiserver"),
            source,
        })?;
        self.processes.push(child);
        let readyz = format!("https://127.0.0.1:{port}/readyz");
        let ca = certs.ca_pem.clone();
        self.wait_ready("kube-apiserver", Duration::from_secs(90), || {
            http_ok(&readyz, Some(&ca))
        })?;
        Ok(port)
    }

    fn start_controller_manager(
        &mut self,
        log_dir: &Path,
        kubeconfig: &Path,
        certs: &Certs,
    ) -> Result<(), Error> {
        let port = free_port();
        let kc = kubeconfig.display().to_string();
        let mut cmd = Command::new(self.bin.join("kube-controller-manager"));
        cmd.args([
            format!("--kubeconfig={kc}"),
            format!("--authentication-kubeconfig={kc}"),
            format!("--authorization-kubeconfig={kc}"),
            "--controllers=garbage-collector-controller,namespace-controller,clusterrole-aggregation-controller".into(),
            "--leader-elect=false".into(),
            "--use-service-account-credentials=false".into(),
            "--bind-address=127.0.0.1".into(),
            format!("--secure-port={port}"),
            format!("--cert-dir={}", certs.dir.join("kcm").display()),
            "--concurrent-gc-syncs=5".into(),
            "--v=1".into(),
        ]);
        let child = spawn(
            "kube-controller-manager",
            cmd,
            Output::Log(log_dir.join("kube-controller-manager.log")),
        )
        .map_err(|source| Error::Io {
            path: self.bin.join("kube-controller-manager"),
            source,
        })?;
        self.processes.push(child);
        let healthz = format!("https://127.0.0.1:{port}/healthz");
        self.wait_ready("kube-controller-manager", Duration::from_secs(60), || {
            http_ok(&healthz, None)
        })
    }

    fn wait_ready(
        &mut self,
        name: &str,
        timeout: Duration,
        mut ready: impl FnMut() -> bool,
    ) -> Result<(), Error> {
        let start = Instant::now();
        loop {
            if ready() {
                return Ok(());
            }
            let child = self.processes.last_mut().expect("a process was just started");
            if let Some(status) = child.try_wait() {
                return Err(Error::Exited {
                    process: name.into(),
                    status: status.to_string(),
                    log: child.log_tail(40),
                });
            }
            if start.elapsed() > timeout {
                return Err(Error::NotReady {
                    process: name.into(),
                    seconds: timeout.as_secs(),
                    log: child.log_tail(40),
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Kills `component` (SIGKILL) and starts it again with the same arguments: same ports, same
    /// data directory (etcd) and certificates (kube-apiserver); waits until it is ready again.
    /// The other processes keep running and reconnect by themselves.
    pub fn restart(&mut self, component: Component) -> Result<(), Error> {
        let index = match component {
            Component::Etcd => 0,
            Component::Apiserver => 1,
        };
        let launch = self.launches[index].clone();
        self.processes[index].kill();
        let start = Instant::now();
        let mut child = loop {
            let mut cmd = Command::new(self.bin.join(launch.name));
            cmd.args(&launch.args);
            let mut child =
                spawn(launch.name, cmd, Output::Log(launch.log.clone())).map_err(|source| Error::Io {
                    path: self.bin.join(launch.name),
                    source,
                })?;
            // The ports were just released; a start that lost the race exits at once: try again.
            std::thread::sleep(Duration::from_millis(300));
            match child.try_wait() {
                None => break child,
                Some(status) if start.elapsed() > Duration::from_secs(20) => {
                    return Err(Error::Exited {
                        process: launch.name.into(),
                        status: status.to_string(),
                        log: child.log_tail(40),
                    });
                }
                Some(_) => {}
            }
        };
        loop {
            if http_ok(&launch.ready_url, launch.ca_pem.as_deref()) {
                break;
            }
            if let Some(status) = child.try_wait() {
                return Err(Error::Exited {
                    process: launch.name.into(),
                    status: status.to_string(),
                    log: child.log_tail(40),
                });
            }
            if start.elapsed() > Duration::from_secs(90) {
                return Err(Error::NotReady {
                    process: launch.name.into(),
                    seconds: 90,
                    log: child.log_tail(40),
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        self.processes[index] = child;
        Ok(())
    }

    /// Restarts etcd (see [`ControlPlane::restart`]).
    pub fn restart_etcd(&mut self) -> Result<(), Error> {
        self.restart(Component::Etcd)
    }

    /// Restarts kube-apiserver (see [`ControlPlane::restart`]).
    pub fn restart_apiserver(&mut self) -> Result<(), Error> {
        self.restart(Component::Apiserver)
    }

    fn kubectl_server_version(&self) -> Option<String> {
        let out = self.kubectl().args(["version", "-o", "json"]).output().ok()?;
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        v["serverVersion"]["gitVersion"].as_str().map(str::to_string)
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        while let Some(mut child) = self.processes.pop() {
            child.terminate(Duration::from_secs(5));
        }
        if !self.keep_dir {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// What a test needs from the shared control plane (no live handles: each test builds its own client
/// on its own runtime).
#[derive(Debug, Clone)]
pub struct SharedPlane {
    pub kubeconfig: PathBuf,
    pub server: String,
    pub version: String,
    pub bin_dir: PathBuf,
}

impl SharedPlane {
    /// A `kubectl` command bound to the admin kubeconfig.
    pub fn kubectl(&self) -> Command {
        let mut cmd = Command::new(self.bin_dir.join("kubectl"));
        cmd.env("KUBECONFIG", &self.kubeconfig);
        cmd
    }

    /// An admin client (group `system:masters`).
    pub async fn client(&self) -> kube::Client {
        let kc = kube::config::Kubeconfig::read_from(&self.kubeconfig).expect("admin kubeconfig is readable");
        let config = kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
            .await
            .expect("admin kubeconfig is valid");
        kube::Client::try_from(config).expect("client from admin kubeconfig")
    }

    /// A client that impersonates `user` (e.g. `system:serviceaccount:ns:name`) through the admin.
    pub async fn impersonating(&self, user: &str, groups: &[&str]) -> kube::Client {
        let kc = kube::config::Kubeconfig::read_from(&self.kubeconfig).expect("admin kubeconfig is readable");
        let mut config =
            kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
                .await
                .expect("admin kubeconfig is valid");
        config.auth_info.impersonate = Some(user.to_string());
        config.auth_info.impersonate_groups = Some(groups.iter().map(|g| g.to_string()).collect());
        kube::Client::try_from(config).expect("impersonating client")
    }
}

/// The control plane shared by every test of this test binary, started on first use.
///
/// It is spawned from a dedicated thread that never exits, so the kernel kills it when the test
/// process ends, however it ends; its directory is removed at exit, or by the next start's sweep.
/// Panics with the start-up error (binaries missing, not ready, …).
pub fn shared() -> &'static SharedPlane {
    static PLANE: OnceLock<Result<SharedPlane, String>> = OnceLock::new();
    let result = PLANE.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("control-plane".into())
            .spawn(move || {
                let log_dir = workspace_root().join("target/test-logs/control-plane");
                let _ = std::fs::remove_dir_all(&log_dir);
                match ControlPlane::start(Options {
                    dir: None,
                    log_dir: Some(log_dir),
                }) {
                    Ok(plane) => {
                        remove_at_exit(&plane.dir);
                        let shared = SharedPlane {
                            kubeconfig: plane.kubeconfig().to_path_buf(),
                            server: plane.server().to_string(),
                            version: plane.server_version().to_string(),
                            bin_dir: plane.bin_dir().to_path_buf(),
                        };
                        let (restart_tx, restart_rx) = std::sync::mpsc::channel::<Restart>();
                        let _ = RESTARTS.set(std::sync::Mutex::new(restart_tx));
                        let _ = tx.send(Ok(shared));
                        // Keep the processes' parent thread alive for the life of the test process;
                        // restarts run here too, so restarted processes have the same parent thread.
                        let mut plane = plane;
                        while let Ok((component, reply)) = restart_rx.recv() {
                            let _ = reply.send(plane.restart(component).map_err(|e| e.to_string()));
                        }
                        loop {
                            std::thread::park();
                        }
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e.to_string()));
                    }
                }
            })
            .expect("spawning the control-plane thread");
        rx.recv()
            .unwrap_or_else(|_| Err("control-plane thread died".into()))
    });
    match result {
        Ok(plane) => plane,
        Err(e) => panic!("could not start the test control plane: {e}"),
    }
}

type Restart = (Component, std::sync::mpsc::Sender<Result<(), String>>);

static RESTARTS: OnceLock<std::sync::Mutex<std::sync::mpsc::Sender<Restart>>> = OnceLock::new();

/// Restarts `component` of the [`shared`] control plane (same ports and data); returns once it
/// is ready again. Every test of the binary shares that control plane: only a test binary whose
/// tests expect it (one that serializes them) should call this.
pub fn restart_shared(component: Component) -> Result<(), String> {
    shared();
    let (reply_tx, reply_rx) = std::sync::mpsc::channel();
    RESTARTS
        .get()
        .ok_or("the shared control plane did not start")?
        .lock()
        .map_err(|e| e.to_string())?
        .send((component, reply_tx))
        .map_err(|e| e.to_string())?;
    reply_rx.recv().map_err(|e| e.to_string())?
}

/// Where control-plane directories live: /dev/shm when there is one (etcd is fast on tmpfs), else
/// the temp dir.
fn plane_base() -> PathBuf {
    if Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    }
}

const DIR_PREFIX: &str = "controlhub-cp-";

/// A fresh directory `controlhub-cp-<pid>-<random>`, after sweeping the directories of test
/// processes that are gone.
///
/// A process killed by a signal, or one whose [`shared`] plane lives in a static (statics are never
/// dropped), cannot remove its own directory; on tmpfs each one holds etcd's preallocated WAL and
/// database (≈ 130 MB of RAM) until the machine reboots. Hundreds of test runs on one machine once
/// filled its memory and slowed everything on it to a crawl, so every start cleans up after the dead.
fn fresh_dir() -> PathBuf {
    let base = plane_base();
    sweep_dead_owners(&base);
    base.join(format!(
        "{DIR_PREFIX}{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ))
}

/// Removes the directories of control planes whose test process is gone (see [`fresh_dir`], which
/// does this at every start).
pub fn sweep_stale_dirs() {
    sweep_dead_owners(&plane_base());
}

/// Removes `controlhub-cp-<pid>-*` directories under `base` whose process no longer exists. A
/// directory whose pid is alive is kept, even if the pid was reused by another program: leaking
/// one directory is better than deleting a live control plane's data.
fn sweep_dead_owners(base: &Path) {
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(owner) = owner_pid(&name.to_string_lossy()) else {
            continue;
        };
        if !Path::new("/proc").join(owner.to_string()).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// The pid in a control-plane directory's name, `controlhub-cp-<pid>-<random>`.
fn owner_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(DIR_PREFIX)?;
    let (pid, random) = rest.split_once('-')?;
    random.parse::<u32>().ok()?;
    pid.parse().ok()
}

/// Removes the shared plane's directory when the test process exits normally (the test harness
/// returns from `main`, which runs `atexit` handlers). A killed process leaves it to the next
/// [`fresh_dir`]'s sweep.
fn remove_at_exit(dir: &Path) {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    extern "C" fn remove() {
        if let Some(dir) = DIR.get() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
    if DIR.set(dir.to_path_buf()).is_ok() {
        // SAFETY: `remove` is a plain `extern "C" fn()` that touches only a static.
        unsafe {
            libc::atexit(remove);
        }
    }
}

fn mkdir(path: &Path) -> Result<(), Error> {
    std::fs::create_dir_all(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn write_file(path: &Path, contents: &str) -> Result<(), Error> {
    std::fs::write(path, contents).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// A blocking GET that is true on a 2xx answer. Uses curl-free plain std + reqwest on a throwaway
/// current-thread runtime, so it works from any thread.
fn http_ok(url: &str, ca_pem: Option<&str>) -> bool {
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(_) => return false,
    };
    rt.block_on(async {
        let mut builder = reqwest::Client::builder().timeout(Duration::from_secs(2));
        builder = match ca_pem {
            Some(pem) => match reqwest::Certificate::from_pem(pem.as_bytes()) {
                Ok(cert) => builder.add_root_certificate(cert),
                Err(_) => return false,
            },
            None => builder.danger_accept_invalid_certs(true),
        };
        let Ok(client) = builder.build() else { return false };
        matches!(client.get(url).send().await, Ok(r) if r.status().is_success())
    })
}

/// A client identity: PEM certificate and key.
struct Identity {
    user: String,
    cert_pem: String,
    key_pem: String,
}

/// The control plane's PKI, written to disk.
struct Certs {
    dir: PathBuf,
    ca_pem: String,
    admin: Identity,
    kcm: Identity,
}

impl Certs {
    fn write(dir: &Path) -> Result<Self, Error> {
        mkdir(dir)?;
        let ca = TestCa::new("controlhub-test-ca")?;
        let serving = ca.loopback_server("kube-apiserver")?;
        let client = |cn: &str, org: &str| -> Result<Identity, Error> {
            let Issued { cert_pem, key_pem } = ca.client(cn, org)?;
            Ok(Identity {
                user: cn.to_string(),
                cert_pem,
                key_pem,
            })
        };
        let admin = client("admin", "system:masters")?;
        let kcm = client("system:kube-controller-manager", "system:masters")?;

        let sa = KeyPair::generate()?;
        write_file(&dir.join("ca.crt"), &ca.pem())?;
        write_file(&dir.join("apiserver.crt"), &serving.cert_pem)?;
        write_file(&dir.join("apiserver.key"), &serving.key_pem)?;
        write_file(&dir.join("sa.key"), &sa.serialize_pem())?;
        write_file(&dir.join("sa.pub"), &sa.public_key_pem())?;
        Ok(Certs {
            dir: dir.to_path_buf(),
            ca_pem: ca.pem(),
            admin,
            kcm,
        })
    }
}

fn kubeconfig(server: &str, ca_pem: &str, id: &Identity) -> String {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: controlhub-test
  cluster:
    server: {server}
    certificate-authority-data: {ca}
users:
- name: {user}
  user:
    client-certificate-data: {cert}
    client-key-data: {key}
contexts:
- name: controlhub-test
  context:
    cluster: controlhub-test
    user: {user}
current-context: controlhub-test
",
        ca = b64(ca_pem),
        user = id.user,
        cert = b64(&id.cert_pem),
        key = b64(&id.key_pem),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_pid_reads_only_control_plane_directory_names() {
        assert_eq!(owner_pid("controlhub-cp-4242-123456"), Some(4242));
        assert_eq!(owner_pid("controlhub-cp-4242"), None);
        assert_eq!(owner_pid("controlhub-cp-x-1"), None);
        assert_eq!(owner_pid("controlhub-cp-4242-abc"), None);
        assert_eq!(owner_pid("something-else-4242-1"), None);
    }

    /// The sweep removes a directory left by a process that is gone, and keeps a live process's
    /// directory and anything that is not a control-plane directory.
    #[test]
    fn the_sweep_removes_only_directories_of_dead_processes() {
        let base = std::env::temp_dir().join(format!("cp-sweep-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let mut gone = Command::new("true").spawn().expect("spawn true");
        let dead_pid = gone.id();
        gone.wait().expect("true exits");
        let dead = base.join(format!("{DIR_PREFIX}{dead_pid}-1"));
        let live = base.join(format!("{DIR_PREFIX}{}-2", std::process::id()));
        let other = base.join("unrelated-1-2");
        for dir in [&dead, &live, &other] {
            std::fs::create_dir_all(dir.join("etcd")).unwrap();
        }
        sweep_dead_owners(&base);
        let (dead_left, live_left, other_left) = (dead.exists(), live.exists(), other.exists());
        let _ = std::fs::remove_dir_all(&base);
        assert!(!dead_left, "the dead process's directory was kept");
        assert!(live_left, "a live process's directory was removed");
        assert!(
            other_left,
            "a directory that is not a control plane's was removed"
        );
    }
}
