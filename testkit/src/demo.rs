//! `make demo`: applies `deploy/examples/` to the local environment, waits for every ApiCredential
//! to be Ready, proves each Secret's token authenticates against Control Hub, shows a rotation and a
//! workload restart, then deletes everything and shows nothing was left behind in Control Hub.
//! Tokens are never printed: only credential IDs and HTTP statuses.

use std::time::Instant;

use base64::Engine;

use crate::dev::{DEMO_NAMESPACE, DEMO_WAIT, DevEnv, say};
use crate::process::workspace_root;

/// The example files, in order.
const EXAMPLES: [&str; 4] = [
    "01-own-credential.yaml",
    "02-service-account-credential.yaml",
    "03-rotating-credential.yaml",
    "04-restart-targets.yaml",
];

pub async fn run(env: &DevEnv) -> Result<(), String> {
    let started = Instant::now();
    env.kubectl(&["create", "namespace", DEMO_NAMESPACE])?;

    // The service-account example needs a service account in Control Hub.
    let sa = env
        .emulator
        .create_user(
            "ci-robot@example.com",
            "CI robot (service account)",
            &["org-user"],
            true,
        )
        .await;
    say(&format!(
        "created service account {sa} in the Control Hub emulator"
    ));

    let dir = workspace_root().join("deploy/examples");
    for file in EXAMPLES {
        let text = std::fs::read_to_string(dir.join(file)).map_err(|e| format!("reading {file}: {e}"))?;
        let text = text.replace("REPLACE_WITH_SERVICE_ACCOUNT_USER_ID", &sa);
        let path = env.dir.join(file);
        std::fs::write(&path, text).map_err(|e| format!("writing {}: {e}", path.display()))?;
        env.kubectl(&["apply", "-n", DEMO_NAMESPACE, "-f", &path.display().to_string()])?;
    }
    let timeout = format!("--timeout={}s", DEMO_WAIT.as_secs());
    env.kubectl(&[
        "wait",
        "-n",
        DEMO_NAMESPACE,
        "--for=condition=Ready",
        "apicredential",
        "--all",
        &timeout,
    ])?;
    say(&format!(
        "all ApiCredentials Ready {:.1}s after the first apply",
        started.elapsed().as_secs_f64()
    ));
    print!(
        "{}",
        env.kubectl(&["get", "apicredentials", "-n", DEMO_NAMESPACE])?
    );

    let credentials = list_credentials(env)?;
    for c in &credentials {
        let (id, token) = secret_credential(env, c)?;
        let status = env.emulator.current_user_status(&id, &token).await;
        if status != 200 {
            return Err(format!(
                "the token in Secret {} (credential {id}) got HTTP {status}",
                c.secret
            ));
        }
        say(&format!(
            "{}: Secret {} holds credential {id}; its token authenticates (HTTP {status})",
            c.name, c.secret
        ));
    }

    // Rotation on request: same ID, new token, the old one stops working.
    let first = credentials.first().ok_or("no ApiCredential was created")?;
    let (id, old_token) = secret_credential(env, first)?;
    let value = format!("demo-{}", chrono_like_now());
    env.kubectl(&[
        "annotate",
        "-n",
        DEMO_NAMESPACE,
        "apicredential",
        &first.name,
        &format!("controlhub.dev/rotate={value}"),
        "--overwrite",
    ])?;
    let jsonpath = format!("--for=jsonpath={{.status.lastRotationRequest}}={value}");
    env.kubectl(&[
        "wait",
        "-n",
        DEMO_NAMESPACE,
        &jsonpath,
        &format!("apicredential/{}", first.name),
        &timeout,
    ])?;
    env.kubectl(&[
        "wait",
        "-n",
        DEMO_NAMESPACE,
        "--for=condition=Ready",
        &format!("apicredential/{}", first.name),
        &timeout,
    ])?;
    let (new_id, new_token) = secret_credential(env, first)?;
    let old_status = env.emulator.current_user_status(&id, &old_token).await;
    let new_status = env.emulator.current_user_status(&new_id, &new_token).await;
    if new_id != id || old_status != 401 || new_status != 200 || old_token == new_token {
        return Err(format!(
            "rotation did not behave: id {id}->{new_id}, old token HTTP {old_status}, new token HTTP {new_status}"
        ));
    }
    say(&format!(
        "{}: rotated on request — same credential {id}, old token now HTTP {old_status}, new token HTTP {new_status}",
        first.name
    ));

    // The restart target carries the fingerprint of the token it was restarted for.
    let annotations = env.kubectl(&[
        "get",
        "deployment",
        "demo-app",
        "-n",
        DEMO_NAMESPACE,
        "-o",
        "jsonpath={.spec.template.metadata.annotations}",
    ])?;
    if !annotations.contains("controlhub.dev/token-fingerprint") {
        return Err(format!(
            "deployment demo-app was not restarted for its token: annotations {annotations}"
        ));
    }
    say("deployment demo-app was rolled (pod template annotated with the token fingerprint)");

    // Cleanup: deleting the resources deletes their credentials (or deactivates, per deletionPolicy).
    env.kubectl(&[
        "delete",
        "apicredentials",
        "--all",
        "-n",
        DEMO_NAMESPACE,
        "--wait=true",
        &timeout,
    ])?;
    let left = org_credentials(env).await?;
    let admin = &env.emulator.admin().credential_id;
    let leftovers: Vec<_> = left.iter().filter(|(cid, _)| cid != admin).collect();
    for (cid, active) in &leftovers {
        say(&format!(
            "left in Control Hub by deletionPolicy: {cid} (active: {active})"
        ));
    }
    if leftovers.iter().any(|(_, active)| *active) {
        return Err("an active credential was left behind in Control Hub".into());
    }
    say(&format!(
        "Control Hub holds {} credential(s) besides the admin's, none active",
        leftovers.len()
    ));
    env.kubectl(&["delete", "namespace", DEMO_NAMESPACE, "--wait=false"])?;
    Ok(())
}

struct Cred {
    name: String,
    secret: String,
    id_key: String,
    token_key: String,
}

fn list_credentials(env: &DevEnv) -> Result<Vec<Cred>, String> {
    let json = env.kubectl(&["get", "apicredentials", "-n", DEMO_NAMESPACE, "-o", "json"])?;
    let value: serde_json::Value = serde_json::from_str(&json).map_err(|e| e.to_string())?;
    let items = value["items"].as_array().cloned().unwrap_or_default();
    Ok(items
        .iter()
        .map(|item| {
            let name = item["metadata"]["name"].as_str().unwrap_or_default().to_string();
            let secret = item["spec"]["secret"]["name"]
                .as_str()
                .unwrap_or(&name)
                .to_string();
            let keys = &item["spec"]["secret"]["keys"];
            Cred {
                id_key: keys["credentialId"]
                    .as_str()
                    .unwrap_or("credentialId")
                    .to_string(),
                token_key: keys["authToken"].as_str().unwrap_or("authToken").to_string(),
                name,
                secret,
            }
        })
        .collect())
}

fn secret_credential(env: &DevEnv, c: &Cred) -> Result<(String, String), String> {
    let json = env.kubectl_quiet(&["get", "secret", &c.secret, "-n", DEMO_NAMESPACE, "-o", "json"])?;
    let value: serde_json::Value = serde_json::from_str(&json).map_err(|e| e.to_string())?;
    let read = |key: &str| -> Result<String, String> {
        let b64 = value["data"][key]
            .as_str()
            .ok_or_else(|| format!("Secret {} has no key {key}", c.secret))?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|e| e.to_string())?;
        String::from_utf8(bytes).map_err(|e| e.to_string())
    };
    Ok((read(&c.id_key)?, read(&c.token_key)?))
}

async fn org_credentials(env: &DevEnv) -> Result<Vec<(String, bool)>, String> {
    let path = format!(
        "/security/rest/v1/organization/{}/api-user-credentials-for-org",
        env.emulator.org_id()
    );
    let (status, body) = env
        .emulator
        .admin_request(reqwest::Method::GET, &path, None)
        .await;
    if status != 200 {
        return Err(format!("listing the org's credentials: HTTP {status}"));
    }
    Ok(body
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|c| {
            (
                c["componentId"].as_str().unwrap_or_default().to_string(),
                c["active"].as_bool().unwrap_or(false),
            )
        })
        .collect())
}

fn chrono_like_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
