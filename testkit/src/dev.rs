//! The local environment behind `make dev-up` and `make demo`: the real control plane, the Control
//! Hub emulator, the CRDs, a ClusterControlHubConnection `default` pointing at the emulator's org
//! admin, and the operator — every process a child that dies with this one.
//!
//! Contract for `make dev-up` (kept stable for people and scripts): `<dir>/env` exports
//! `KUBECONFIG`, `CONTROLHUB_URL`, `CONTROLHUB_ADMIN_FILE` (a file holding the emulator's start-up
//! JSON line) and puts the built kubectl/helm first on `PATH`; each process logs to
//! `<dir>/<process>.log`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::control_plane::{ControlPlane, Options};
use crate::emulator::Emulator;
use crate::process::{Child, target_bin_dir, workspace_root};
use crate::world::{Connection, OperatorLauncher};

/// Namespace of the default connection's credentials Secret.
pub const SYSTEM_NAMESPACE: &str = "controlhub-system";
/// Namespace the demo applies the examples in.
pub const DEMO_NAMESPACE: &str = "controlhub-demo";

/// Everything that runs; dropping it stops all of it.
pub struct DevEnv {
    pub dir: PathBuf,
    pub kubeconfig: PathBuf,
    pub emulator: Emulator,
    // Field order is drop order: the operator before the control plane.
    pub operator: Option<Child>,
    pub plane: ControlPlane,
}

impl DevEnv {
    /// Starts everything under `dir` (wiping what a previous run left there).
    pub fn start(dir: &Path, with_operator: bool) -> Result<DevEnv, String> {
        let dir = absolute(dir);
        let cp_dir = dir.join("control-plane");
        let _ = std::fs::remove_dir_all(&cp_dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        say(&format!(
            "starting etcd, kube-apiserver and kube-controller-manager (logs in {})",
            dir.display()
        ));
        let started = Instant::now();
        let plane = ControlPlane::start(Options {
            dir: Some(cp_dir),
            log_dir: Some(dir.clone()),
        })
        .map_err(|e| e.to_string())?;
        say(&format!(
            "control plane {} ready at {} in {:.1}s",
            plane.server_version(),
            plane.server(),
            started.elapsed().as_secs_f64()
        ));
        let kubeconfig = dir.join("kubeconfig");
        std::fs::copy(plane.kubeconfig(), &kubeconfig).map_err(|e| format!("copying the kubeconfig: {e}"))?;

        let emulator = Emulator::try_start(Emulator::options()).map_err(|e| e.to_string())?;
        let _ = std::fs::remove_file(dir.join("controlhub-emulator.log"));
        let _ = std::os::unix::fs::symlink(emulator.log_path(), dir.join("controlhub-emulator.log"));
        let admin = emulator.admin();
        let startup = serde_json::json!({
            "url": emulator.url(),
            "orgId": emulator.org_id(),
            "admin": {"userId": admin.user_id, "credentialId": admin.credential_id, "authToken": admin.auth_token},
        });
        write_private(&dir.join("controlhub-admin.json"), &format!("{startup}\n"))?;
        say(&format!(
            "Control Hub emulator serving {} (org {})",
            emulator.url(),
            emulator.org_id()
        ));

        let mut env = DevEnv {
            dir,
            kubeconfig,
            emulator,
            operator: None,
            plane,
        };
        env.install()?;
        if with_operator {
            env.start_operator()?;
        }
        Ok(env)
    }

    /// CRDs, the system namespace, the admin credential Secret and the default connection.
    fn install(&self) -> Result<(), String> {
        self.kubectl(&[
            "apply",
            "--server-side",
            "-f",
            &workspace_root().join("crds").display().to_string(),
        ])?;
        self.kubectl(&[
            "wait",
            "--for=condition=Established",
            "crd",
            "--all",
            "--timeout=60s",
        ])?;
        // A local sandbox: namespaces may obtain the emulator admin's own identity. Never in production.
        let connection = Connection::cluster("default", SYSTEM_NAMESPACE, &self.emulator)
            .allowed_user_ids(["*"])
            .share_connection_identity(true);
        let manifests = format!(
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {SYSTEM_NAMESPACE}\n---\n{}",
            connection.yaml()
        );
        self.kubectl_stdin(&["apply", "--server-side", "-f", "-"], &manifests, true)?;
        Ok(())
    }

    fn start_operator(&mut self) -> Result<(), String> {
        let log = self.dir.join("controlhub-operator.log");
        let launcher = OperatorLauncher::new(target_bin_dir().join("controlhub-operator"), &self.kubeconfig);
        let child = launcher
            .spawn(&log)
            .map_err(|e| format!("starting {}: {e}", launcher.binary().display()))?;
        say(&format!("operator running (log: {})", log.display()));
        self.operator = Some(child);
        Ok(())
    }

    /// Writes `<dir>/env`.
    pub fn write_env_file(&self) -> Result<PathBuf, String> {
        let path = self.dir.join("env");
        let text = format!(
            "# Written by `make dev-up`; use with: source {path}\nexport KUBECONFIG='{kc}'\nexport CONTROLHUB_URL='{url}'\nexport CONTROLHUB_ADMIN_FILE='{admin}'\nexport PATH='{bin}':\"$PATH\"\n",
            path = path.display(),
            kc = self.kubeconfig.display(),
            url = self.emulator.url(),
            admin = self.dir.join("controlhub-admin.json").display(),
            bin = self.plane.bin_dir().display(),
        );
        std::fs::write(&path, text).map_err(|e| format!("writing {}: {e}", path.display()))?;
        Ok(path)
    }

    /// Runs kubectl against the environment, echoing the command; fails on a non-zero exit.
    pub fn kubectl(&self, args: &[&str]) -> Result<String, String> {
        self.kubectl_stdin(args, "", false)
    }

    /// Like [`DevEnv::kubectl`], without echoing the command (for reads whose output holds secrets).
    pub fn kubectl_quiet(&self, args: &[&str]) -> Result<String, String> {
        self.kubectl_stdin(args, "", true)
    }

    fn kubectl_stdin(&self, args: &[&str], stdin: &str, quiet: bool) -> Result<String, String> {
        if !quiet {
            say(&format!("$ kubectl {}", args.join(" ")));
        }
        let mut child = Command::new(self.plane.bin_dir().join("kubectl"))
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("running kubectl: {e}"))?;
        if let Some(mut input) = child.stdin.take() {
            input
                .write_all(stdin.as_bytes())
                .map_err(|e| format!("writing to kubectl: {e}"))?;
        }
        let out = child
            .wait_with_output()
            .map_err(|e| format!("running kubectl: {e}"))?;
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        if !out.status.success() {
            return Err(format!(
                "kubectl {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(stdout)
    }
}

/// `controlhub-dev up`: start, write the env file, wait for SIGTERM/SIGINT.
pub fn up(dir: &Path, with_operator: bool) -> Result<(), String> {
    let env = DevEnv::start(dir, with_operator)?;
    let path = env.write_env_file()?;
    say(&format!("ready: source {}", path.display()));
    wait_for_signal();
    say("stopping");
    let _ = std::fs::remove_file(&path);
    drop(env);
    Ok(())
}

/// `controlhub-dev demo`: the examples, end to end, on the local environment.
pub fn demo(dir: &Path) -> Result<(), String> {
    let env = DevEnv::start(dir, true)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let result = rt.block_on(crate::demo::run(&env));
    match &result {
        Ok(()) => say(
            "demo finished: every credential reached Ready with a working token, and cleanup left nothing behind",
        ),
        Err(e) => say(&format!("demo failed: {e}\nlogs: {}", env.dir.display())),
    }
    drop(env);
    result
}

fn wait_for_signal() {
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(_) => return,
    };
    rt.block_on(async {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => return,
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    });
}

/// Prints a progress line for people.
pub fn say(line: &str) {
    println!("==> {line}");
}

fn absolute(path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        workspace_root().join(path)
    }
}

fn write_private(path: &Path, text: &str) -> Result<(), String> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("writing {}: {e}", path.display()))?;
    file.write_all(text.as_bytes())
        .map_err(|e| format!("writing {}: {e}", path.display()))
}

/// How long the demo waits for each condition.
pub const DEMO_WAIT: Duration = Duration::from_secs(120);
