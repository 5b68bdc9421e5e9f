//! Test harness shared by the emulator's integration tests: starts the real
//! `controlhub-emulator` binary with the test kit's launcher (which reads its start-up line), and
//! talks HTTP to it with reqwest.
//!
//! Tokens never reach test output: [`Cred`] and [`Reply`] print without them, and assertion
//! messages use [`Reply::summary`]. The child is killed when its [`Emulator`] is dropped.

#![allow(dead_code)]

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use controlhub_testkit::emulator as launcher;
use reqwest::Method;
use serde_json::{Value, json};

pub const BIN: &str = env!("CARGO_BIN_EXE_controlhub-emulator");

/// A credential ID and token. `Debug` hides the token.
#[derive(Clone)]
pub struct Cred {
    pub id: String,
    pub token: String,
}

impl fmt::Debug for Cred {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cred({}, <token redacted>)", self.id)
    }
}

impl Cred {
    /// From an `ApiCredentialsJson` that carries a token.
    pub fn from_json(value: &Value) -> Cred {
        Cred {
            id: value["componentId"].as_str().unwrap_or_default().to_string(),
            token: value["authToken"].as_str().unwrap_or_default().to_string(),
        }
    }
}

/// A unique scratch directory under the target directory (removed by nobody: tests are few and small).
pub fn scratch_dir(name: &str) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("emulator-{name}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}

/// A running emulator process, started by the test kit's launcher (killed on drop).
pub struct Emulator {
    process: launcher::Emulator,
    pub url: String,
    pub org_id: String,
    pub admin_user: String,
    pub admin: Cred,
    pub log: PathBuf,
}

impl Emulator {
    pub fn start() -> Emulator {
        Self::start_with(&[])
    }

    pub fn start_with(args: &[&str]) -> Emulator {
        match Self::try_start(args) {
            Ok(emulator) => emulator,
            Err(message) => panic!("emulator did not start: {message}"),
        }
    }

    /// Starts this crate's binary with `args`; `Err` carries the end of its stderr when it did not
    /// print its start-up line.
    pub fn try_start(args: &[&str]) -> Result<Emulator, String> {
        let options = args
            .iter()
            .fold(launcher::EmulatorOptions::new().binary(BIN), |options, arg| {
                options.arg(*arg)
            });
        let process = launcher::Emulator::try_start(options).map_err(|e| e.to_string())?;
        let admin = process.admin();
        Ok(Emulator {
            url: process.url().to_string(),
            org_id: process.org_id().to_string(),
            admin_user: admin.user_id.clone(),
            admin: Cred {
                id: admin.credential_id.clone(),
                token: admin.auth_token.clone(),
            },
            log: process.log_path(),
            process,
        })
    }

    pub fn api(&self) -> Api {
        Api::new(&self.url, &self.org_id, None)
    }

    /// SIGKILL, no chance to clean up.
    pub fn kill(&mut self) {
        self.process.kill();
    }

    /// SIGTERM and wait for a clean exit.
    pub fn terminate(&mut self) -> Option<std::process::ExitStatus> {
        self.process.terminate(Duration::from_secs(20))
    }
}

/// One HTTP answer: status, headers and JSON body (`Null` when not JSON). `Debug` shows no body.
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    /// The first `ISSUES` code, or "".
    pub fn code(&self) -> &str {
        self.body["ISSUES"][0]["code"].as_str().unwrap_or_default()
    }

    /// Status and issue code, safe to print.
    pub fn summary(&self) -> String {
        format!("{} {}", self.status, self.code())
    }

    pub fn cred(&self) -> Cred {
        Cred::from_json(&self.body)
    }

    pub fn id(&self) -> String {
        self.body["componentId"].as_str().unwrap_or_default().to_string()
    }
}

impl fmt::Debug for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Reply({})", self.summary())
    }
}

/// HTTP access to one emulator, as the SDK and the seed curl example do it.
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    pub base: String,
    pub org: String,
}

impl Api {
    pub fn new(base: &str, org: &str, root_pem: Option<&[u8]>) -> Api {
        let mut builder = reqwest::Client::builder().timeout(Duration::from_secs(30));
        if let Some(pem) = root_pem {
            let certificate =
                reqwest::Certificate::from_pem(pem).unwrap_or_else(|e| panic!("bad test CA: {e}"));
            builder = builder.add_root_certificate(certificate);
        }
        let http = builder.build().unwrap_or_else(|e| panic!("reqwest client: {e}"));
        Api {
            http,
            base: base.to_string(),
            org: org.to_string(),
        }
    }

    pub fn with_org(&self, org: &str) -> Api {
        Api {
            org: org.to_string(),
            ..self.clone()
        }
    }

    /// Sends a request with the five headers of the seed curl example (when `cred` is given).
    pub async fn try_send(
        &self,
        method: Method,
        path: &str,
        cred: Option<&Cred>,
        body: Option<Vec<u8>>,
    ) -> Result<Reply, reqwest::Error> {
        let mut request = self
            .http
            .request(method, format!("{}{}", self.base, path))
            .header("Content-Type", "application/json")
            .header("X-Requested-By", "curl")
            .header("X-SS-REST-CALL", "true");
        if let Some(cred) = cred {
            request = request
                .header("X-SS-App-Component-Id", &cred.id)
                .header("X-SS-App-Auth-Token", &cred.token);
        }
        if let Some(body) = body {
            request = request.body(body);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().await?;
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ok(Reply {
            status,
            headers,
            body,
        })
    }

    pub async fn send(&self, method: Method, path: &str, cred: Option<&Cred>, body: Option<Value>) -> Reply {
        let bytes = body.map(|b| b.to_string().into_bytes());
        match self.try_send(method, path, cred, bytes).await {
            Ok(reply) => reply,
            Err(e) => panic!("request {path} failed: {}", e.without_url()),
        }
    }

    pub async fn raw(&self, method: Method, path: &str, cred: Option<&Cred>, body: &[u8]) -> Reply {
        match self.try_send(method, path, cred, Some(body.to_vec())).await {
            Ok(reply) => reply,
            Err(e) => panic!("request {path} failed: {}", e.without_url()),
        }
    }

    pub fn credentials_path(&self) -> String {
        format!("/security/rest/v1/organization/{}/api-user-credentials", self.org)
    }

    /// The seed UI document's curl example; returns the status.
    pub async fn current_user_status(&self, cred: &Cred) -> u16 {
        self.current_user(cred).await.status
    }

    pub async fn current_user(&self, cred: &Cred) -> Reply {
        self.send(Method::GET, "/security/rest/v1/currentUser", Some(cred), None)
            .await
    }

    pub async fn create(&self, cred: &Cred, body: Value) -> Reply {
        self.send(Method::POST, &self.credentials_path(), Some(cred), Some(body))
            .await
    }

    /// Creates for the caller exactly as the SDK does (§4.2).
    pub async fn create_own(&self, cred: &Cred, label: &str) -> Reply {
        let body = json!({"label": label, "generateAuthToken": true, "active": true, "userId": null});
        self.create(cred, body).await
    }

    pub async fn create_for(&self, cred: &Cred, label: &str, user: &str) -> Reply {
        let body = json!({"label": label, "generateAuthToken": true, "active": true, "userId": user});
        self.create(cred, body).await
    }

    pub async fn update(&self, cred: &Cred, id: &str, body: Value) -> Reply {
        let path = format!("{}/{id}", self.credentials_path());
        self.send(Method::POST, &path, Some(cred), Some(body)).await
    }

    pub async fn delete(&self, cred: &Cred, id: &str) -> Reply {
        let path = format!("{}/{id}", self.credentials_path());
        self.send(Method::DELETE, &path, Some(cred), None).await
    }

    pub async fn list_own(&self, cred: &Cred) -> Reply {
        self.send(Method::GET, &self.credentials_path(), Some(cred), None)
            .await
    }

    pub async fn list_org(&self, cred: &Cred, user: Option<&str>) -> Reply {
        let mut path = format!(
            "/security/rest/v1/organization/{}/api-user-credentials-for-org",
            self.org
        );
        if let Some(user) = user {
            path = format!("{path}?userId={user}");
        }
        self.send(Method::GET, &path, Some(cred), None).await
    }

    pub async fn admin(&self, method: Method, path: &str, cred: &Cred, body: Option<Value>) -> Reply {
        self.send(method, &format!("/emulator/v1{path}"), Some(cred), body)
            .await
    }

    /// Creates a user through the admin API and returns its ID.
    pub async fn create_user(
        &self,
        admin: &Cred,
        email: &str,
        roles: &[&str],
        service_account: bool,
    ) -> String {
        let body = json!({"email": email, "name": email, "roles": roles, "serviceAccount": service_account});
        let reply = self.admin(Method::POST, "/users", admin, Some(body)).await;
        assert_eq!(reply.status, 200, "create user: {}", reply.summary());
        reply.body["userId"].as_str().unwrap_or_default().to_string()
    }

    /// Issues a credential for `user` through the admin API.
    pub async fn issue(&self, admin: &Cred, user: &str, label: &str) -> Cred {
        let reply = self
            .admin(
                Method::POST,
                &format!("/users/{user}/credentials"),
                admin,
                Some(json!({"label": label})),
            )
            .await;
        assert_eq!(reply.status, 200, "issue credential: {}", reply.summary());
        reply.cred()
    }

    pub async fn settings(&self, admin: &Cred, patch: Value) -> Reply {
        self.admin(Method::PUT, "/settings", admin, Some(patch)).await
    }

    pub async fn faults(&self, admin: &Cred, config: Value) -> Reply {
        self.admin(Method::PUT, "/faults", admin, Some(config)).await
    }

    pub async fn stats(&self, admin: &Cred) -> Value {
        self.admin(Method::GET, "/stats", admin, None).await.body
    }
}
