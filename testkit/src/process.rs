//! Child processes that die with their parent.
//!
//! Every process the test kit starts is spawned through [`spawn`]: it is put in its own process
//! group and asked (PR_SET_PDEATHSIG) to receive SIGKILL when the spawning thread dies, so a test
//! binary that panics, is killed, or exits without running destructors leaves nothing behind.
//! [`Child`] also kills the process on drop.

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A running child process, killed (SIGKILL to its process group) on drop.
#[derive(Debug)]
pub struct Child {
    name: String,
    inner: std::process::Child,
    log: Option<PathBuf>,
}

impl Child {
    pub fn id(&self) -> u32 {
        self.inner.id()
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The file the process's stdout and stderr go to, when it was spawned with one.
    pub fn log_path(&self) -> Option<&Path> {
        self.log.as_deref()
    }

    /// The last `lines` lines of the log file, for failure messages.
    pub fn log_tail(&self, lines: usize) -> String {
        let Some(path) = &self.log else {
            return String::new();
        };
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Whether the process has exited (and with what status).
    pub fn try_wait(&mut self) -> Option<std::process::ExitStatus> {
        self.inner.try_wait().ok().flatten()
    }

    /// Mutable access to the standard library child (to take its stdout, for example).
    pub fn inner_mut(&mut self) -> &mut std::process::Child {
        &mut self.inner
    }

    /// Sends `signal` to the process group.
    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) with a negative pid signals the process group we created in `spawn`.
        unsafe {
            libc::kill(-(self.inner.id() as i32), signal);
        }
    }

    /// Kills the process group with SIGKILL and reaps the child.
    pub fn kill(&mut self) {
        self.signal(libc::SIGKILL);
        let _ = self.inner.kill();
        let _ = self.inner.wait();
    }

    /// Stops the process with SIGTERM, waiting up to `grace` before SIGKILL; its exit status, or
    /// `None` when it had to be killed.
    pub fn terminate(&mut self, grace: std::time::Duration) -> Option<std::process::ExitStatus> {
        self.signal(libc::SIGTERM);
        let deadline = std::time::Instant::now() + grace;
        while std::time::Instant::now() < deadline {
            if let Some(status) = self.try_wait() {
                return Some(status);
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        self.kill();
        None
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Where a child's standard output goes.
pub enum Output {
    /// Appended to this file (stdout and stderr).
    Log(PathBuf),
    /// Stdout piped to the parent (to read a start-up line), stderr to this file.
    PipedStdout { stderr_log: PathBuf },
}

/// Spawns `cmd` in its own process group, with SIGKILL delivered when the parent dies.
pub fn spawn(name: &str, mut cmd: Command, output: Output) -> std::io::Result<Child> {
    let log = match output {
        Output::Log(path) => {
            let file = open_log(&path)?;
            cmd.stdout(file.try_clone()?).stderr(file);
            path
        }
        Output::PipedStdout { stderr_log } => {
            cmd.stdout(Stdio::piped()).stderr(open_log(&stderr_log)?);
            stderr_log
        }
    };
    cmd.stdin(Stdio::null());
    // SAFETY: only async-signal-safe calls (setpgid, prctl, getppid, _exit) run between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::setpgid(0, 0);
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
            // The parent may have died between fork and prctl: then we were re-parented already.
            if libc::getppid() == 1 {
                libc::_exit(1);
            }
            Ok(())
        });
    }
    let inner = cmd.spawn()?;
    Ok(Child {
        name: name.to_string(),
        inner,
        log: Some(log),
    })
}

fn open_log(path: &Path) -> std::io::Result<File> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    File::options().create(true).append(true).open(path)
}

/// A free TCP port on 127.0.0.1 (bound and released; callers retry on the rare race).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("binding 127.0.0.1:0 must work")
}

/// The workspace root (the directory holding the top-level Cargo.toml).
pub fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| here.to_path_buf())
}

/// The directory cargo writes binaries to for the current profile (`target/debug` by default).
pub fn target_bin_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    let target = if target.is_absolute() {
        target
    } else {
        workspace_root().join(target)
    };
    let profile = std::env::var("CONTROLHUB_PROFILE").unwrap_or_else(|_| "debug".to_string());
    target.join(profile)
}
