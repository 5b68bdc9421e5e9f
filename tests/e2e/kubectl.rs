//! The kubectl experience: `kubectl get apicredentials` shows the printer columns with the right
//! values, `kubectl wait --for=condition=Ready` works (and times out while blocked), and
//! `kubectl explain` prints the field documentation of the CRD schema.

use std::collections::BTreeMap;

use crate::env::Env;

const CI_BOT: &str = r#"
apiVersion: controlhub.dev/v1alpha1
kind: ApiCredential
metadata:
  name: ci-bot
spec:
  name: CI bot
  rotation:
    interval: 720h
"#;

/// Splits kubectl's table output into rows keyed by header, using the header's column offsets
/// (cells may contain spaces, such as the label "CI bot").
pub(crate) fn table(out: &str) -> Vec<BTreeMap<String, String>> {
    let mut lines = out.lines();
    let header: Vec<char> = lines.next().unwrap_or_default().chars().collect();
    // A column starts where a word follows two or more spaces ("CREDENTIAL ID" is one header).
    let starts: Vec<usize> = (0..header.len())
        .filter(|&i| header[i] != ' ' && (i == 0 || (i >= 2 && header[i - 1] == ' ' && header[i - 2] == ' ')))
        .collect();
    let slice = |chars: &[char], n: usize| -> String {
        let start = starts[n].min(chars.len());
        let end = starts.get(n + 1).copied().unwrap_or(chars.len()).min(chars.len());
        chars[start..end].iter().collect::<String>().trim().to_string()
    };
    let names: Vec<String> = (0..starts.len()).map(|n| slice(&header, n)).collect();
    lines
        .map(|line| {
            let chars: Vec<char> = line.chars().collect();
            names
                .iter()
                .enumerate()
                .map(|(n, name)| (name.clone(), slice(&chars, n)))
                .collect()
        })
        .collect()
}

/// `kubectl get apicredentials` shows Label, Credential ID, Active, Ready, Next Rotation and Age,
/// each with the value in status.
#[tokio::test]
async fn kubectl_get_shows_the_printer_columns_with_status_values() {
    let env = Env::start("kubectl-get").await;
    env.apply(CI_BOT).await;
    env.wait_ready("ci-bot").await;
    let (id, _) = env.assert_token_works("ci-bot").await;

    let (ok, json, err) = env.kubectl(&["get", "apicredential", "ci-bot", "-n", &env.ns.name, "-o", "json"]);
    assert!(ok, "kubectl get -o json: {err}");
    let object: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    let next_rotation = object["status"]["nextRotationTime"]
        .as_str()
        .expect("a next rotation time (interval is set)")
        .to_string();

    let (ok, out, err) = env.kubectl(&["get", "apicredentials", "-n", &env.ns.name]);
    assert!(ok, "kubectl get apicredentials: {err}");
    let rows = table(&out);
    let header: Vec<&String> = rows.first().map(|r| r.keys().collect()).unwrap_or_default();
    assert_eq!(rows.len(), 1, "one row: {out}");
    let row = &rows[0];
    let cell = |name: &str| {
        row.get(name)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("column {name} in {header:?}:\n{out}"))
    };
    assert_eq!(cell("NAME"), "ci-bot");
    assert_eq!(cell("LABEL"), "CI bot");
    assert_eq!(cell("CREDENTIAL ID"), id);
    assert_eq!(cell("ACTIVE"), "true");
    assert_eq!(cell("READY"), "True");
    assert_eq!(cell("NEXT ROTATION"), next_rotation);
    assert!(
        !cell("AGE").is_empty() && cell("AGE") != "<invalid>",
        "AGE: {out}"
    );

    // The short name and the category reach the same objects.
    let (ok, out, err) = env.kubectl(&["get", "apicred,chconn", "-n", &env.ns.name, "-o", "name"]);
    assert!(ok, "kubectl get apicred,chconn: {err}");
    assert!(out.contains("apicredential.controlhub.dev/ci-bot"), "{out}");
    assert!(
        out.contains("controlhubconnection.controlhub.dev/controlhub"),
        "{out}"
    );

    // A deactivated credential shows Active false.
    env.apply(&format!("{CI_BOT}  active: false\n")).await;
    env.wait_for("ci-bot", "inactive", |c| {
        c.status.as_ref().and_then(|s| s.active) == Some(false)
    })
    .await;
    let (_, out, _) = env.kubectl(&["get", "apicredentials", "-n", &env.ns.name]);
    assert_eq!(
        table(&out)[0].get("ACTIVE").map(String::as_str),
        Some("false"),
        "{out}"
    );
}

/// Runs kubectl off the async runtime (it blocks until it finishes).
async fn kubectl_blocking(args: &[&str]) -> (bool, String, String) {
    let mut cmd = crate::support::plane().kubectl();
    cmd.args(args);
    tokio::task::spawn_blocking(move || {
        let out = cmd.output().expect("running kubectl");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    })
    .await
    .expect("kubectl thread")
}

/// `kubectl wait --for=condition=Ready` returns once the credential is Ready, and times out for
/// one that cannot become Ready.
#[tokio::test]
async fn kubectl_wait_for_ready_succeeds_once_the_credential_is_ready() {
    let env = Env::start("kubectl-wait").await;
    env.apply(CI_BOT).await;
    let (ok, out, err) = kubectl_blocking(&[
        "wait",
        "--for=condition=Ready",
        "apicredential/ci-bot",
        "-n",
        &env.ns.name,
        "--timeout=60s",
    ])
    .await;
    assert!(ok, "kubectl wait failed: {out}{err}");
    assert!(out.contains("condition met"), "{out}");
    env.assert_token_works("ci-bot").await;

    let blocked = CI_BOT.replace("name: ci-bot", "name: blocked-bot").replace(
        "interval: 720h",
        "interval: 720h\n  connectionRef:\n    kind: ControlHubConnection\n    name: nowhere",
    );
    env.apply(&blocked).await;
    env.wait_reason("blocked-bot", "ConnectionNotFound").await;
    let (ok, _, err) = kubectl_blocking(&[
        "wait",
        "--for=condition=Ready",
        "apicredential/blocked-bot",
        "-n",
        &env.ns.name,
        "--timeout=3s",
    ])
    .await;
    assert!(!ok, "kubectl wait must time out for a blocked credential");
    assert!(err.contains("timed out"), "{err}");
}

/// `kubectl explain apicredential.spec.rotation` prints the documentation of the rotation fields.
#[tokio::test]
async fn kubectl_explain_prints_the_rotation_field_docs() {
    let env = Env::start("kubectl-explain").await;
    let (ok, out, err) = env.kubectl(&["explain", "apicredential.spec.rotation"]);
    assert!(ok, "kubectl explain: {err}");
    assert!(out.contains("KIND:") && out.contains("ApiCredential"), "{out}");
    assert!(
        out.contains("When and how the token is rotated"),
        "the field's description: {out}"
    );
    for field in ["interval", "schedule", "timeZone", "strategy", "gracePeriod"] {
        assert!(out.contains(field), "field {field} is documented: {out}");
    }
    assert!(
        out.contains("at least `1h`") || out.contains("at least 1h"),
        "interval's doc: {out}"
    );
    assert!(out.contains("Replace"), "strategy's doc names Replace: {out}");
}
