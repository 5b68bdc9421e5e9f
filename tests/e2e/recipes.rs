//! The consumer recipes of `deploy/examples/` (05 to 07), proven end to end. The test control plane
//! runs no kubelet, so no Pod starts: each test applies the example file as it is to the real API
//! server, waits for the ApiCredential to be Ready, reads the Secret the operator wrote, and then
//! runs the recipe's own command on this machine with what the kubelet would project — every
//! volume mount of the container written under a temporary root (Secret and ConfigMap files, by
//! their `items` when given), every `env` entry (`secretKeyRef`s read from the Secret they name),
//! and the command's absolute paths moved under that root — against the Control Hub emulator.
//!
//! So a test fails when the manifest names a Secret or key the operator does not write, or when
//! the token it delivers does not authenticate. The one substitution is where the example points at
//! Control Hub: the connection is the test's (the emulator), and the SDK is told the emulator's
//! URL through `ASTER_URL`, which the script reads for exactly that. Tokens are never printed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use controlhub_testkit::process::workspace_root;
use serde::Deserialize;
use serde_json::Value;

use crate::env::Env;

/// The documents of `deploy/examples/<file>`, each with its text as written.
fn example(file: &str) -> Vec<(Value, String)> {
    let path = workspace_root().join("deploy/examples").join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    text.split("\n---\n")
        .map(|doc| {
            let value = Value::deserialize(serde_yaml::Deserializer::from_str(doc))
                .unwrap_or_else(|e| panic!("parsing {file}: {e}"));
            (value, doc.to_string())
        })
        .filter(|(d, _)| !d.is_null())
        .collect()
}

/// The document of `kind` named `name`.
fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("the example has no {kind} {name}"))
}

/// Applies every document (ApiCredentials through the test's connection, the rest with kubectl,
/// as written: kubectl reads YAML 1.1, where `defaultMode: 0440` is octal) and waits until each
/// ApiCredential is Ready.
async fn apply_example(env: &Env, file: &str) -> Vec<Value> {
    let docs = example(file);
    let (credentials, others): (Vec<_>, Vec<_>) =
        docs.iter().partition(|(d, _)| d["kind"] == "ApiCredential");
    let manifest: String = others.iter().map(|(_, text)| format!("---\n{text}\n")).collect();
    let path = env.dir.join(format!("workloads-{file}"));
    std::fs::write(&path, manifest).unwrap();
    let (ok, _, stderr) = env.kubectl(&["apply", "-n", &env.ns.name, "-f", &path.display().to_string()]);
    assert!(ok, "kubectl apply of the workloads in {file} failed: {stderr}");
    for (credential, text) in &credentials {
        env.apply(text).await;
        env.wait_ready(credential["metadata"]["name"].as_str().unwrap())
            .await;
    }
    docs.into_iter().map(|(value, _)| value).collect()
}

/// The pod spec of a Job, CronJob or Deployment.
fn pod_spec(workload: &Value) -> &Value {
    match workload["kind"].as_str() {
        Some("CronJob") => &workload["spec"]["jobTemplate"]["spec"]["template"]["spec"],
        _ => &workload["spec"]["template"]["spec"],
    }
}

/// What the kubelet would give one container: its files under `root`, its environment.
struct Projection {
    root: PathBuf,
    env: Vec<(String, String)>,
    /// Mount paths, longest first (to move absolute paths under `root`).
    mounts: Vec<String>,
}

impl Projection {
    /// `text` (a command line or a script) with the mount paths in it moved under `root`.
    /// One pass over `text`: a path already moved is not matched again (`root` itself may start
    /// with a mount path, `/tmp` for example).
    fn localize(&self, text: &str) -> String {
        let root = self.root.display().to_string();
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while !rest.is_empty() {
            match self.mounts.iter().find(|m| rest.starts_with(m.as_str())) {
                Some(mount) => {
                    out.push_str(&root);
                    out.push_str(mount);
                    rest = &rest[mount.len()..];
                }
                None => {
                    let c = rest.chars().next().unwrap_or_default();
                    out.push(c);
                    rest = &rest[c.len_utf8()..];
                }
            }
        }
        out
    }

    /// Runs `argv` with only the projected environment (plus `extra` and PATH).
    fn run(&self, argv: &[String], extra: &[(&str, &str)]) -> Output {
        let mut command = Command::new(&argv[0]);
        command.args(&argv[1..]).env_clear();
        command.env("PATH", std::env::var("PATH").unwrap_or_default());
        for (name, value) in &self.env {
            command.env(name, value);
        }
        for (name, value) in extra {
            command.env(name, value);
        }
        command
            .output()
            .unwrap_or_else(|e| panic!("running {}: {e}", argv[0]))
    }
}

/// The Secret `name`'s data, read from the API server.
async fn secret_data(env: &Env, name: &str) -> BTreeMap<String, Vec<u8>> {
    let secret = env
        .secrets()
        .get(name)
        .await
        .unwrap_or_else(|e| panic!("the manifest names Secret {name}, which cannot be read: {e}"));
    secret
        .data
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.0))
        .collect()
}

/// Value of `key` in Secret `name`; fails (naming both, never the value) when the Secret lacks it.
fn key_of<'a>(data: &'a BTreeMap<String, Vec<u8>>, name: &str, key: &str) -> &'a [u8] {
    data.get(key).unwrap_or_else(|| {
        panic!(
            "the manifest reads key {key} of Secret {name}, which holds only {:?}",
            data.keys().collect::<Vec<_>>()
        )
    })
}

/// Projects container `container` of `workload` as the kubelet would.
async fn project(env: &Env, docs: &[Value], workload: &Value, container: &str) -> Projection {
    let spec = pod_spec(workload);
    let c = spec["containers"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["name"] == container))
        .unwrap_or_else(|| panic!("no container {container}"));
    let root = env.dir.join(format!("projection-{container}"));
    std::fs::create_dir_all(&root).unwrap();
    let mut mounts = Vec::new();
    for mount in c["volumeMounts"].as_array().into_iter().flatten() {
        let mount_path = mount["mountPath"].as_str().unwrap().to_string();
        let volume = spec["volumes"]
            .as_array()
            .and_then(|vs| vs.iter().find(|v| v["name"] == mount["name"]))
            .unwrap_or_else(|| panic!("no volume {}", mount["name"]));
        let dir = root.join(mount_path.trim_start_matches('/'));
        std::fs::create_dir_all(&dir).unwrap();
        let (source, data): (&Value, BTreeMap<String, Vec<u8>>) = if !volume["secret"].is_null() {
            let name = volume["secret"]["secretName"].as_str().unwrap();
            (&volume["secret"], secret_data(env, name).await)
        } else if !volume["configMap"].is_null() {
            let name = volume["configMap"]["name"].as_str().unwrap();
            let map = find(docs, "ConfigMap", name);
            let data = map["data"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().as_bytes().to_vec()))
                .collect();
            (&volume["configMap"], data)
        } else {
            mounts.push(mount_path);
            continue; // an emptyDir: the directory is enough
        };
        let name = source["secretName"].as_str().or(source["name"].as_str()).unwrap();
        let files: Vec<(String, String)> = match source["items"].as_array() {
            Some(items) => items
                .iter()
                .map(|i| {
                    (
                        i["key"].as_str().unwrap().into(),
                        i["path"].as_str().unwrap().into(),
                    )
                })
                .collect(),
            None => data.keys().map(|k| (k.clone(), k.clone())).collect(),
        };
        for (key, path) in files {
            let file = dir.join(path);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(&file, key_of(&data, name, &key)).unwrap();
        }
        mounts.push(mount_path);
    }
    mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
    let mut projection = Projection {
        root,
        env: Vec::new(),
        mounts,
    };
    for var in c["env"].as_array().into_iter().flatten() {
        let name = var["name"].as_str().unwrap().to_string();
        let value = match var["valueFrom"]["secretKeyRef"].as_object() {
            Some(reference) => {
                let secret = reference["name"].as_str().unwrap();
                let key = reference["key"].as_str().unwrap();
                let data = secret_data(env, secret).await;
                String::from_utf8(key_of(&data, secret, key).to_vec()).unwrap()
            }
            // An absolute path means a path in the container's file system, here under `root`.
            None => match var["value"].as_str().unwrap_or_default() {
                path if path.starts_with('/') => projection.root.join(&path[1..]).display().to_string(),
                value => value.to_string(),
            },
        };
        projection.env.push((name, value));
    }
    projection
}

/// The container's command and args, paths moved under the projection's root.
fn argv(workload: &Value, container: &str, projection: &Projection) -> Vec<String> {
    let c = pod_spec(workload)["containers"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["name"] == container))
        .unwrap();
    ["command", "args"]
        .iter()
        .flat_map(|field| c[*field].as_array().cloned().unwrap_or_default())
        .map(|a| projection.localize(a.as_str().unwrap()))
        .collect()
}

/// The output of a recipe's run, with `token` cut out, for failure messages.
fn shown(output: &Output, token: &str) -> String {
    let text = format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    text.replace(token, "[token]")
}

/// A namespace with example `file` applied and Ready, the workload `kind`/`name` and the
/// projection of its container `container`.
async fn recipe(
    prefix: &str,
    file: &str,
    kind: &str,
    name: &str,
    container: &str,
) -> (Env, Value, Projection) {
    let env = Env::start(prefix).await;
    let docs = apply_example(&env, file).await;
    let workload = find(&docs, kind, name).clone();
    let projection = project(&env, &docs, &workload, container).await;
    (env, workload, projection)
}

/// Recipe (a), `05-python-sdk-job.yaml`: the Job's script, run by the official SDK with the env
/// vars the Job's `secretKeyRef`s take from the Secret, connects to Control Hub.
#[tokio::test]
async fn the_python_sdk_job_connects_with_the_secrets_env_vars() {
    let (env, job, projection) =
        recipe("recipe-sdk", "05-python-sdk-job.yaml", "Job", "sdk-job", "job").await;
    let (_, token) = env.secret_credential("sdk-job").await;
    assert!(
        projection
            .env
            .iter()
            .any(|(n, v)| n == "CRED_TOKEN" && *v == token),
        "CRED_TOKEN is the Secret's token"
    );
    let mut argv = argv(&job, "job", &projection);
    assert_eq!(argv[0], "python", "the Job runs its script with python");
    let python = workspace_root().join(".venv/bin/python");
    assert!(
        python.is_file(),
        "{} missing: run `make venv` (the official SDK streamsets==7.0.2)",
        python.display()
    );
    argv[0] = python.display().to_string();
    let output = projection.run(&argv, &[("ASTER_URL", env.emulator.url())]);
    let text = shown(&output, &token);
    assert!(output.status.success(), "the SDK job failed:\n{text}");
    assert!(
        text.contains(&format!("as organization {}", env.emulator.org_id())),
        "the SDK connected to the emulator's organization:\n{text}"
    );
}

/// Recipe (b), `06-curl-dotenv.yaml`: the CronJob's script sources the dotenv file from the
/// mounted Secret and calls Control Hub with curl and the guide's headers.
#[tokio::test]
async fn the_curl_script_authenticates_with_the_mounted_dotenv_file() {
    let (env, cron, projection) = recipe(
        "recipe-curl",
        "06-curl-dotenv.yaml",
        "CronJob",
        "controlhub-curl",
        "curl",
    )
    .await;
    let (_, token) = env.secret_credential("curl-client").await;
    let argv = argv(&cron, "curl", &projection);
    assert_eq!(argv[..2], ["sh", "-c"], "the CronJob runs a shell script");
    for header in [
        "X-SS-App-Component-Id: $CRED_ID",
        "X-SS-App-Auth-Token: $CRED_TOKEN",
        "X-Requested-By",
    ] {
        assert!(argv[2].contains(header), "the script sends {header}");
    }
    let output = projection.run(&argv, &[]);
    let text = shown(&output, &token);
    assert!(output.status.success(), "the curl script failed:\n{text}");
    assert!(
        text.contains(&env.emulator.admin().user_id),
        "currentUser answered with the connection's user:\n{text}"
    );
}

/// Recipe (c), `07-data-collector-orchestration.yaml`: the stage properties' `runtime:loadResource`
/// expressions, resolved against the Secret's files where the Deployment mounts them in the
/// resources directory, give a URL, credential ID and token that authenticate.
#[tokio::test]
async fn the_data_collector_stage_properties_resolve_to_a_working_credential() {
    let file = "07-data-collector-orchestration.yaml";
    let (env, _, projection) =
        recipe("recipe-sdc", file, "Deployment", "datacollector", "datacollector").await;
    let resources = projection
        .env
        .iter()
        .find(|(n, _)| n == "SDC_RESOURCES")
        .map(|(_, v)| PathBuf::from(v))
        .expect("the Deployment sets SDC_RESOURCES");
    let docs = example(file)
        .into_iter()
        .map(|(value, _)| value)
        .collect::<Vec<_>>();
    let stage = find(&docs, "ConfigMap", "sdc-orchestration-stage")["data"]["stage.properties"]
        .as_str()
        .expect("stage.properties");
    let expression =
        regex::Regex::new(r#"^(.+?)=\$\{runtime:loadResource\("([^"]+)", (true|false)\)\}$"#).unwrap();
    // runtime:loadResource: the file under the resources directory, without surrounding whitespace.
    let load = |file: &str| -> String {
        let path: &Path = &resources.join(file);
        std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("the stage loads {file}, which the volume does not project: {e}"))
            .trim()
            .to_string()
    };
    let properties: BTreeMap<String, String> = stage
        .lines()
        .map(|line| {
            let c = expression
                .captures(line)
                .unwrap_or_else(|| panic!("not a loadResource property: {line}"));
            (c[1].to_string(), load(&c[2]))
        })
        .collect();
    assert_eq!(
        properties.keys().collect::<Vec<_>>(),
        ["Authentication Token", "Control Hub URL", "Credential ID"]
    );
    assert_eq!(
        properties["Control Hub URL"].trim_end_matches('/'),
        env.emulator.url().trim_end_matches('/')
    );
    let status = env
        .token_status(&properties["Credential ID"], &properties["Authentication Token"])
        .await;
    assert_eq!(status, 200, "the stage's credential authenticates");
}
