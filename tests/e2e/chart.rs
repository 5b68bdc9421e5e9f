//! The Helm chart and the kustomize base are valid against the real API server: `scripts/check-chart.sh`
//! lints and renders the chart with every values file, refuses bad values, and server-side dry-runs
//! every rendering, the kustomize base and the examples.

use crate::support::plane;

/// `helm lint`, `helm template` and `kubectl apply --dry-run=server` of the chart and the base succeed.
#[tokio::test]
async fn chart_and_kustomize_base_pass_server_side_validation() {
    let root = env!("CARGO_MANIFEST_DIR");
    let out = tokio::process::Command::new("bash")
        .arg(format!("{root}/scripts/check-chart.sh"))
        .env("KUBECONFIG", &plane().kubeconfig)
        .env("K8S_BIN_DIR", &plane().bin_dir)
        .current_dir(root)
        .output()
        .await
        .expect("running scripts/check-chart.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "check-chart.sh failed:\n{stdout}\n{stderr}");
    assert!(
        stdout.contains(" 0 failed"),
        "check-chart.sh summary missing:\n{stdout}"
    );
}
