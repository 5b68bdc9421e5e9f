//! [`Store`]: the shared, concurrent organization state. One `parking_lot::RwLock` around
//! [`Data`], never held across an `.await`; tokens are minted before the lock is taken; a change is
//! acknowledged only after the state file (when there is one) holds it.
//!
//! Owns the order "check + change under the write lock, then wait for durability" and the
//! bookkeeping around changes (delayed revocation, the bootstrap token). Must not know HTTP.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::RwLock;

use crate::ids::{CredentialId, UserId};
use crate::state::credentials::{CreateCredential, Fresh, Issued, UpdateCredential};
use crate::state::data::{AuthFailure, Data};
use crate::state::error::StateError;
use crate::state::list_lag::ListLag;
use crate::state::model::{Credential, Principal, Settings, User};
use crate::state::persist::{PersistError, Persister};
use crate::state::revocation::Revocations;
use crate::state::rules;
use crate::state::users::{DeletedUser, NewUser, UserChanges};
use crate::token::{self, Minted};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Rejected(#[from] StateError),
    #[error(transparent)]
    NotDurable(#[from] PersistError),
}

/// A partial settings update (`PUT /emulator/v1/settings`).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SettingsPatch {
    pub service_accounts_enabled: Option<bool>,
    pub admins_may_regenerate_for_others: Option<bool>,
    pub admins_may_rename_for_others: Option<bool>,
    pub credential_limit: Option<u32>,
    pub quota_issue_code: Option<String>,
    pub quota_issue_message: Option<String>,
}

#[derive(Debug)]
pub struct Store {
    data: Arc<RwLock<Data>>,
    issuer: String,
    persister: Option<Persister>,
    revocations: Revocations,
    list_lag: ListLag,
}

impl Store {
    /// A store that lives only in memory.
    pub fn in_memory(data: Data, issuer: impl Into<String>) -> Self {
        let data = Arc::new(RwLock::new(data));
        Self {
            data,
            issuer: issuer.into(),
            persister: None,
            revocations: Revocations::default(),
            list_lag: ListLag::default(),
        }
    }

    /// A store persisted to `path` (written once now). Needs a Tokio runtime.
    pub fn persistent(data: Data, issuer: impl Into<String>, path: PathBuf) -> Result<Self, PersistError> {
        let data = Arc::new(RwLock::new(data));
        let persister = Persister::start(path, data.clone())?;
        Ok(Self {
            data,
            issuer: issuer.into(),
            persister: Some(persister),
            revocations: Revocations::default(),
            list_lag: ListLag::default(),
        })
    }

    /// Runs `f` under the read lock.
    pub fn read<R>(&self, f: impl FnOnce(&Data) -> R) -> R {
        f(&self.data.read())
    }

    /// Applies `f` under the write lock; on success waits until the change is durable.
    async fn mutate<R>(&self, f: impl FnOnce(&mut Data) -> Result<R, StateError>) -> Result<R, StoreError> {
        let (result, version) = {
            let mut data = self.data.write();
            let result = f(&mut data)?;
            data.version += 1;
            (result, data.version)
        };
        if let Some(persister) = &self.persister {
            persister.wait_durable(version).await?;
        }
        Ok(result)
    }

    fn mint(&self, id: &CredentialId) -> Result<Minted, StateError> {
        let org = self.read(|d| d.org.id.clone());
        Ok(token::mint(&self.issuer, id, &org)?)
    }

    fn fresh(&self) -> Result<Fresh, StateError> {
        let id = CredentialId::generate();
        let minted = self.mint(&id)?;
        Ok(Fresh { id, minted })
    }

    /// The §9 check for the headers `X-SS-App-Component-Id` and `X-SS-App-Auth-Token`.
    pub fn authenticate(&self, component_id: &str, token: &str) -> Result<Principal, AuthFailure> {
        let claims = token::parse(token).map_err(|_| AuthFailure::MalformedToken)?;
        if claims.jti.as_str() != component_id {
            return Err(AuthFailure::ComponentMismatch);
        }
        let hash = claims.secret.hash();
        let data = self.data.read();
        if claims.org != data.org.id {
            return Err(AuthFailure::OrgMismatch);
        }
        match data.authenticate(&claims.jti, &hash) {
            Ok(principal) => Ok(principal),
            Err(failure) => match self.revocations.still_valid(&claims.jti, &hash) {
                Some(user) => data.principal_of(&user, &claims.jti),
                None => Err(failure),
            },
        }
    }

    /// The credentials `owner` holds, as lists show them (see [`ListLag`]); `lag` zero ends any lag.
    pub fn list_owned(&self, owner: &UserId, lag: Duration) -> Vec<Credential> {
        self.read(|data| self.lagged(data.owned_by(owner), lag))
    }

    /// Every credential of the organization, as lists show them.
    pub fn list_all(&self, lag: Duration) -> Vec<Credential> {
        self.read(|data| self.lagged(data.all_credentials(), lag))
    }

    fn lagged<'a>(
        &self,
        credentials: impl IntoIterator<Item = &'a Credential>,
        lag: Duration,
    ) -> Vec<Credential> {
        if lag.is_zero() {
            self.list_lag.clear();
        }
        self.list_lag.listed(credentials)
    }

    /// Creates a credential; lists show it only after `list_lag`.
    pub async fn create_credential(
        &self,
        caller: &Principal,
        request: CreateCredential,
        list_lag: Duration,
    ) -> Result<Issued, StoreError> {
        let fresh = self.fresh()?;
        self.mutate(|data| {
            let issued = data.create_credential(caller, request, fresh)?;
            self.list_lag.record(None, &issued.credential, list_lag);
            Ok(issued)
        })
        .await
    }

    /// Updates a credential; tokens it invalidates keep working for `revocation_delay`, and lists
    /// show the change only after `list_lag`.
    pub async fn update_credential(
        &self,
        caller: &Principal,
        id: &CredentialId,
        request: UpdateCredential,
        revocation_delay: Duration,
        list_lag: Duration,
    ) -> Result<Issued, StoreError> {
        let minted = if request.regenerate {
            Some(self.mint(id)?)
        } else {
            None
        };
        self.mutate(|data| {
            let before = data.credential(id).cloned();
            let (issued, revoked) = data.update_credential(caller, id, request, minted)?;
            self.list_lag
                .record(before.as_ref(), &issued.credential, list_lag);
            if let (Some(token), true) = (&issued.token, data.bootstrap.credential_id == *id) {
                data.bootstrap.auth_token = token.clone();
            }
            if let Some(revoked) = revoked {
                self.revocations.record(revoked, revocation_delay);
            }
            Ok(issued)
        })
        .await
    }

    pub async fn delete_credential(
        &self,
        caller: &Principal,
        id: &CredentialId,
        revocation_delay: Duration,
    ) -> Result<Credential, StoreError> {
        self.mutate(|data| {
            let (credential, revoked) = data.delete_credential(caller, id)?;
            self.list_lag.forget(id);
            if let Some(revoked) = revoked {
                self.revocations.record(revoked, revocation_delay);
            }
            Ok(credential)
        })
        .await
    }

    /// Admin API: a credential for `user` as if that user had created it in the UI.
    /// Lists show it only after `list_lag`, as any new credential.
    pub async fn issue_for_user(
        &self,
        user: &UserId,
        label: String,
        list_lag: Duration,
    ) -> Result<Issued, StoreError> {
        rules::validate_label(&label)?;
        let fresh = self.fresh()?;
        self.mutate(|data| {
            if data.user(user).is_none_or(|u| u.deleted) {
                return Err(StateError::UserNotFound(user.clone()));
            }
            let issued = data.issue(user.clone(), user.clone(), label, true, fresh)?;
            self.list_lag.record(None, &issued.credential, list_lag);
            Ok(issued)
        })
        .await
    }

    pub async fn create_user(&self, caller: &Principal, new: NewUser) -> Result<User, StoreError> {
        self.mutate(|data| data.create_user(Some(&caller.user_id), new))
            .await
    }

    pub async fn update_user(&self, id: &UserId, changes: UserChanges) -> Result<User, StoreError> {
        self.mutate(|data| data.update_user(id, changes)).await
    }

    pub async fn delete_user(&self, caller: &Principal, id: &UserId) -> Result<DeletedUser, StoreError> {
        self.mutate(|data| data.delete_user(&caller.user_id, id)).await
    }

    pub async fn update_settings(&self, patch: SettingsPatch) -> Result<Settings, StoreError> {
        if patch
            .quota_issue_code
            .as_deref()
            .is_some_and(|code| code.trim().is_empty())
        {
            return Err(StateError::Invalid("`quotaIssueCode` must not be blank".into()).into());
        }
        self.mutate(|data| {
            let settings = &mut data.settings;
            if let Some(enabled) = patch.service_accounts_enabled {
                settings.service_accounts_enabled = enabled;
            }
            if let Some(allowed) = patch.admins_may_regenerate_for_others {
                settings.admins_may_regenerate_for_others = allowed;
            }
            if let Some(allowed) = patch.admins_may_rename_for_others {
                settings.admins_may_rename_for_others = allowed;
            }
            if let Some(limit) = patch.credential_limit {
                settings.credential_limit = limit;
            }
            if let Some(code) = patch.quota_issue_code {
                settings.quota_issue_code = code;
            }
            if let Some(message) = patch.quota_issue_message {
                settings.quota_issue_message = message;
            }
            Ok(settings.clone())
        })
        .await
    }
}

impl Store {
    /// Applies `profile` to the settings (the open behaviours only); returns the full settings.
    pub async fn apply_profile(&self, profile: crate::profile::Profile) -> Result<Settings, StoreError> {
        self.mutate(|data| {
            profile.apply_to_settings(&mut data.settings);
            Ok(data.settings.clone())
        })
        .await
    }
}
