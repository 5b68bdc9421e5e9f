//! The harness itself: a control plane starts, serves kubectl, and leaves no process behind when
//! dropped or when the process that started it is killed, and no directory behind when the process
//! that shared it exits.

use std::process::Command;
use std::time::{Duration, Instant};

use controlhub_testkit::control_plane::{ControlPlane, Options, shared, sweep_stale_dirs};

fn alive(pid: u32) -> bool {
    // A zombie is not alive for our purposes: read the state from /proc.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| s.split_whitespace().nth(2).is_none_or(|state| state != "Z"))
        .unwrap_or(false)
}

/// This test binary running only `test`, in child mode: `mode_var` names the file it reports to.
fn child_test(test: &str, mode_var: &str, report: &std::path::Path) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", test, "--test-threads=1"])
        .env(mode_var, report)
        .stdout(std::process::Stdio::null());
    cmd
}

/// Starting gives a working kubeconfig; dropping stops etcd, the apiserver and the controller manager.
#[test]
fn control_plane_serves_kubectl_and_stops_on_drop() {
    let started = Instant::now();
    let plane = ControlPlane::start(Options::default()).expect("control plane starts");
    eprintln!("control plane ready in {:.1}s", started.elapsed().as_secs_f64());
    let out = plane
        .kubectl()
        .args(["get", "ns", "-o", "name"])
        .output()
        .expect("kubectl runs");
    assert!(
        out.status.success(),
        "kubectl get ns failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("namespace/default"));
    // The plane's own processes: other tests of this binary run beside this one with children of their own.
    let pids = plane.pids();
    assert_eq!(
        pids.len(),
        3,
        "expected etcd, kube-apiserver and kube-controller-manager, got {pids:?}"
    );
    assert!(pids.iter().all(|p| alive(*p)), "all three run before the drop");
    drop(plane);
    for pid in pids {
        assert!(
            !alive(pid),
            "process {pid} survived the drop of the control plane"
        );
    }
}

/// A test process killed with SIGKILL (no destructors run) still takes its control plane with it.
#[test]
fn control_plane_dies_with_a_killed_parent() {
    if let Some(report) = std::env::var_os("CONTROLHUB_LIFECYCLE_CHILD") {
        // Child mode: start a control plane, report the pids, then wait to be killed.
        let plane = ControlPlane::start(Options::default()).expect("control plane starts");
        let pids = plane.pids();
        let list = pids.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
        std::fs::write(&report, format!("{list};{}", plane.dir().display())).unwrap();
        std::mem::forget(plane);
        std::thread::sleep(Duration::from_secs(120));
        return;
    }
    let report = std::env::temp_dir().join(format!("controlhub-lifecycle-{}", std::process::id()));
    let _ = std::fs::remove_file(&report);
    let mut child = child_test(
        "control_plane_dies_with_a_killed_parent",
        "CONTROLHUB_LIFECYCLE_CHILD",
        &report,
    )
    .spawn()
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut pids = Vec::new();
    let mut dir = String::new();
    while Instant::now() < deadline {
        if let Ok(line) = std::fs::read_to_string(&report)
            && let Some((list, reported_dir)) = line.split_once(';')
        {
            pids = list.split(',').filter_map(|p| p.parse::<u32>().ok()).collect();
            dir = reported_dir.to_string();
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = std::fs::remove_file(&report);
    assert!(
        pids.len() >= 3,
        "the child did not report its control plane: {pids:?}"
    );
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while pids.iter().any(|p| alive(*p)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let survivors: Vec<_> = pids.iter().filter(|p| alive(**p)).collect();
    assert!(
        survivors.is_empty(),
        "processes survived their killed parent: {survivors:?}"
    );
    // A killed process cannot remove its directory; the sweep every start runs does.
    assert!(
        std::path::Path::new(&dir).exists(),
        "the killed child's directory {dir} is unexpectedly gone already"
    );
    sweep_stale_dirs();
    assert!(
        !std::path::Path::new(&dir).exists(),
        "the sweep kept the directory {dir} of a killed test process"
    );
}

/// The shared plane lives in a static, which is never dropped: its directory (etcd's data on
/// /dev/shm, ≈ 130 MB of RAM) must still go when the test process exits, or every test run leaks it.
#[test]
fn the_shared_plane_leaves_no_directory_when_the_process_exits() {
    if let Some(report) = std::env::var_os("CONTROLHUB_SHARED_CHILD") {
        let plane = shared();
        let dir = plane.kubeconfig.parent().expect("kubeconfig has a directory");
        std::fs::write(&report, dir.display().to_string()).unwrap();
        return;
    }
    let report = std::env::temp_dir().join(format!("controlhub-shared-{}", std::process::id()));
    let _ = std::fs::remove_file(&report);
    let status = child_test(
        "the_shared_plane_leaves_no_directory_when_the_process_exits",
        "CONTROLHUB_SHARED_CHILD",
        &report,
    )
    .status()
    .unwrap();
    let dir = std::fs::read_to_string(&report).unwrap_or_default();
    let _ = std::fs::remove_file(&report);
    assert!(status.success(), "the child test failed: {status}");
    assert!(
        !dir.is_empty(),
        "the child did not report its control plane's directory"
    );
    assert!(
        !std::path::Path::new(&dir).exists(),
        "the shared control plane's directory {dir} outlived its process"
    );
}
