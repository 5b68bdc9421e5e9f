//! API-credential changes on [`Data`]: create, update (rename / activate / deactivate /
//! regenerate) and delete, following controlhub-api.md §4.4 and §10.
//!
//! Every function checks all rules before it changes anything, so an `Err` leaves `Data`
//! untouched. Tokens are minted by the caller (outside the lock) and passed in. Must not lock,
//! persist or build HTTP responses.

use crate::ids::{CredentialId, UserId};
use crate::state::data::Data;
use crate::state::error::StateError;
use crate::state::model::{Credential, Principal, now_millis};
use crate::state::rules;
use crate::token::{AuthToken, Minted, SecretHash};

/// A create request (`ApiCredentialsRequestJson`): `generateAuthToken` is ignored, a token is always issued.
#[derive(Debug, Default)]
pub struct CreateCredential {
    pub label: Option<String>,
    pub active: Option<bool>,
    pub user_id: Option<UserId>,
}

/// An update request: absent fields mean "unchanged"; `userId` is ignored (§10).
#[derive(Debug, Default)]
pub struct UpdateCredential {
    pub label: Option<String>,
    pub active: Option<bool>,
    pub regenerate: bool,
}

/// A credential with the token issued for it just now (create and regenerate responses).
#[derive(Debug)]
pub struct Issued {
    pub credential: Credential,
    pub token: Option<AuthToken>,
}

/// A token that stopped authenticating because of a change, for delayed revocation.
#[derive(Debug, Clone)]
pub struct Revoked {
    pub id: CredentialId,
    pub hash: SecretHash,
    pub user: UserId,
}

/// A freshly generated credential ID with its token, minted before taking the lock.
#[derive(Debug)]
pub struct Fresh {
    pub id: CredentialId,
    pub minted: Minted,
}

impl Data {
    /// Creates a credential for the caller or (org admins) another user.
    pub fn create_credential(
        &mut self,
        caller: &Principal,
        request: CreateCredential,
        fresh: Fresh,
    ) -> Result<Issued, StateError> {
        let target = request.user_id.as_ref();
        let owner = rules::create_target(
            caller,
            target,
            &self.settings,
            target.and_then(|id| self.user(id)),
        )?;
        let label = request.label.unwrap_or_default();
        rules::validate_label(&label)?;
        self.issue(
            owner,
            caller.user_id.clone(),
            label,
            request.active.unwrap_or(true),
            fresh,
        )
    }

    /// Adds a credential for `owner` registered by `registered_by`, within the per-owner limit.
    pub(crate) fn issue(
        &mut self,
        owner: UserId,
        registered_by: UserId,
        label: String,
        active: bool,
        fresh: Fresh,
    ) -> Result<Issued, StateError> {
        rules::check_limit(&owner, self.count_owned(&owner), &self.settings)?;
        let credential = Credential {
            id: fresh.id,
            label,
            user_id: owner,
            registered_by,
            active,
            secret_hash: fresh.minted.hash,
            seq: self.next_seq(),
            created_on: now_millis(),
        };
        self.insert_credential(credential.clone());
        Ok(Issued {
            credential,
            token: Some(fresh.minted.token),
        })
    }

    /// Renames, (de)activates and/or regenerates. `minted` must be `Some` when regenerating.
    pub fn update_credential(
        &mut self,
        caller: &Principal,
        id: &CredentialId,
        request: UpdateCredential,
        minted: Option<Minted>,
    ) -> Result<(Issued, Option<Revoked>), StateError> {
        let settings = self.settings.clone();
        let current = self
            .credential(id)
            .ok_or_else(|| StateError::CredentialNotFound(id.clone()))?;
        rules::may_modify(caller, current)?;
        let regenerate = match (request.regenerate, minted) {
            (true, Some(minted)) => {
                rules::may_regenerate(caller, current, &settings)?;
                Some(minted)
            }
            (true, None) => return Err(StateError::Invalid("regeneration needs a fresh token".into())),
            (false, _) => None,
        };
        rules::may_rename(caller, current, request.label.as_deref(), &settings)?;
        if let Some(label) = &request.label {
            rules::validate_label(label)?;
        }
        let Some(credential) = self.credential_mut(id) else {
            return Err(StateError::CredentialNotFound(id.clone()));
        };
        let before = Revoked {
            id: id.clone(),
            hash: credential.secret_hash,
            user: credential.user_id.clone(),
        };
        let was_active = credential.active;
        if let Some(label) = request.label {
            credential.label = label;
        }
        if let Some(active) = request.active {
            credential.active = active;
        }
        let token = regenerate.map(|minted| {
            credential.secret_hash = minted.hash;
            minted.token
        });
        let revoked = (was_active && (!credential.active || token.is_some())).then_some(before);
        Ok((
            Issued {
                credential: credential.clone(),
                token,
            },
            revoked,
        ))
    }

    /// Deletes a credential (its owner or an org admin).
    pub fn delete_credential(
        &mut self,
        caller: &Principal,
        id: &CredentialId,
    ) -> Result<(Credential, Option<Revoked>), StateError> {
        let current = self
            .credential(id)
            .ok_or_else(|| StateError::CredentialNotFound(id.clone()))?;
        rules::may_modify(caller, current)?;
        let credential = self
            .remove_credential(id)
            .ok_or_else(|| StateError::CredentialNotFound(id.clone()))?;
        let revoked = credential.active.then(|| Revoked {
            id: credential.id.clone(),
            hash: credential.secret_hash,
            user: credential.user_id.clone(),
        });
        Ok((credential, revoked))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::bootstrap;
    use crate::token;

    fn fixture() -> (Data, Principal) {
        let Ok(data) = bootstrap::fresh(&bootstrap::BootstrapOptions::default()) else {
            panic!("bootstrap")
        };
        let admin = data.bootstrap.clone();
        let Ok(principal) = data.principal_of(&admin.user_id, &admin.credential_id) else {
            panic!("principal")
        };
        (data, principal)
    }

    fn fresh(data: &Data) -> Fresh {
        let id = CredentialId::generate();
        let Ok(minted) = token::mint("dev", &id, &data.org.id) else {
            panic!("mint")
        };
        Fresh { id, minted }
    }

    fn create(data: &mut Data, caller: &Principal, label: &str) -> Result<Issued, StateError> {
        let request = CreateCredential {
            label: Some(label.into()),
            ..CreateCredential::default()
        };
        let fresh = fresh(data);
        data.create_credential(caller, request, fresh)
    }

    #[test]
    fn a_refused_create_changes_nothing() {
        let (mut data, admin) = fixture();
        let before = data.count_owned(&admin.user_id);
        assert!(matches!(
            create(&mut data, &admin, "  "),
            Err(StateError::LabelRequired)
        ));
        assert_eq!(data.count_owned(&admin.user_id), before);
    }

    #[test]
    fn the_bootstrap_credential_counts_toward_the_admins_limit() {
        let (mut data, admin) = fixture();
        let created = (0..20)
            .filter(|i| create(&mut data, &admin, &format!("c{i}")).is_ok())
            .count();
        assert_eq!(created, 9);
        assert_eq!(data.count_owned(&admin.user_id), 10);
    }

    #[test]
    fn rename_without_active_keeps_the_active_flag_and_token() {
        let (mut data, admin) = fixture();
        let Ok(issued) = create(&mut data, &admin, "a") else {
            panic!("create")
        };
        let id = issued.credential.id.clone();
        let deactivate = UpdateCredential {
            active: Some(false),
            ..UpdateCredential::default()
        };
        assert!(data.update_credential(&admin, &id, deactivate, None).is_ok());
        let rename = UpdateCredential {
            label: Some("b".into()),
            ..UpdateCredential::default()
        };
        let Ok((renamed, revoked)) = data.update_credential(&admin, &id, rename, None) else {
            panic!("rename")
        };
        assert_eq!(renamed.credential.label, "b");
        assert!(!renamed.credential.active);
        assert!(renamed.token.is_none());
        assert!(revoked.is_none());
    }

    #[test]
    fn regenerate_replaces_the_secret_and_reports_the_old_one() {
        let (mut data, admin) = fixture();
        let Ok(issued) = create(&mut data, &admin, "a") else {
            panic!("create")
        };
        let id = issued.credential.id.clone();
        let old_hash = issued.credential.secret_hash;
        let new = fresh(&data).minted;
        let request = UpdateCredential {
            regenerate: true,
            ..UpdateCredential::default()
        };
        let Ok((updated, revoked)) = data.update_credential(&admin, &id, request, Some(new)) else {
            panic!("regenerate")
        };
        assert!(updated.token.is_some());
        assert!(!updated.credential.secret_hash.matches(&old_hash));
        assert!(revoked.is_some_and(|r| r.hash.matches(&old_hash)));
        assert_eq!(updated.credential.label, "a");
    }

    #[test]
    fn unknown_credentials_are_not_found() {
        let (mut data, admin) = fixture();
        let id = CredentialId::generate();
        let update = data.update_credential(&admin, &id, UpdateCredential::default(), None);
        assert!(matches!(update, Err(StateError::CredentialNotFound(_))));
        assert!(matches!(
            data.delete_credential(&admin, &id),
            Err(StateError::CredentialNotFound(_))
        ));
    }
}
