//! Start-up: load or create the organization (honouring `--state`, `--org-id`, `--iss`,
//! `--credential-limit`), and the one JSON line printed on stdout once the emulator serves.
//!
//! Must not bind sockets or serve requests (`server` does).

use std::io::Write;

use serde::Serialize;

use crate::cli::Cli;
use crate::ids::{CredentialId, OrgId, UserId};
use crate::state::bootstrap::{self, BootstrapOptions};
use crate::state::model::Settings;
use crate::state::persist::{self, PersistError};
use crate::state::{Data, StateError, Store};
use crate::token::{self, AuthToken, TokenError};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("invalid option: {0}")]
    InvalidOption(String),
    #[error(transparent)]
    Persist(#[from] PersistError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error("cannot mint tokens with this issuer and organization: {0}")]
    Token(#[from] TokenError),
    #[error("cannot print the start-up line: {0}")]
    Stdout(std::io::Error),
}

/// `{"url","orgId","admin":{"userId","credentialId","authToken"}}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StartupLine {
    pub url: String,
    pub org_id: OrgId,
    pub admin: AdminLine,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AdminLine {
    pub user_id: UserId,
    pub credential_id: CredentialId,
    pub auth_token: AuthToken,
}

impl StartupLine {
    pub fn new(url: String, store: &Store) -> Self {
        store.read(|data| StartupLine {
            url,
            org_id: data.org.id.clone(),
            admin: AdminLine {
                user_id: data.bootstrap.user_id.clone(),
                credential_id: data.bootstrap.credential_id.clone(),
                auth_token: data.bootstrap.auth_token.clone(),
            },
        })
    }

    /// Prints the line on stdout and flushes it.
    pub fn print(&self) -> Result<(), StartError> {
        let line = serde_json::to_string(self).map_err(|e| StartError::Stdout(e.into()))?;
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{line}")
            .and_then(|()| stdout.flush())
            .map_err(StartError::Stdout)
    }
}

fn valid_org_id(id: &str) -> bool {
    !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

/// The organization from the state file, or a fresh one.
fn load_or_create(cli: &Cli) -> Result<Data, StartError> {
    if let Some(org) = &cli.org_id
        && !valid_org_id(org)
    {
        return Err(StartError::InvalidOption(format!(
            "--org-id {org:?} must use letters, digits, '-', '_', '.'"
        )));
    }
    let loaded = match &cli.state {
        Some(path) => persist::load(path)?,
        None => None,
    };
    let mut data = match loaded {
        Some(data) => {
            tracing::info!(org = %data.org.id, "loaded state file");
            if cli
                .org_id
                .as_deref()
                .is_some_and(|org| org != data.org.id.as_str())
            {
                tracing::warn!(org = %data.org.id, "--org-id ignored: the state file already holds an organization");
            }
            data
        }
        None => {
            let options = BootstrapOptions {
                org_id: cli.org_id.clone().map(OrgId::new),
                org_name: cli.org_name.clone(),
                admin_email: cli.admin_email.clone(),
                issuer: cli.iss.clone(),
                settings: Settings::default(),
                ..BootstrapOptions::default()
            };
            bootstrap::fresh(&options)?
        }
    };
    if let Some(limit) = cli.credential_limit {
        data.settings.credential_limit = limit;
    }
    if let Some(profile) = cli.profile {
        profile.apply_to_settings(&mut data.settings);
    }
    // Refuse an issuer or org ID whose tokens the SDK could not decode, before serving anything.
    token::mint(&cli.iss, &CredentialId::generate(), &data.org.id)?;
    Ok(data)
}

/// The store for `cli` (persistent with `--state`). Needs a Tokio runtime.
pub fn open_store(cli: &Cli) -> Result<Store, StartError> {
    let data = load_or_create(cli)?;
    Ok(match &cli.state {
        Some(path) => Store::persistent(data, cli.iss.clone(), path.clone())?,
        None => Store::in_memory(data, cli.iss.clone()),
    })
}
