//! The permission and validation rules of API-credential management (controlhub-api.md §7, §10),
//! as pure functions over a caller, a credential and the settings.
//!
//! Must stay free of locks, I/O and mutation: `credentials` and `users` call these before changing
//! anything, so a refused request leaves the state untouched.

use crate::ids::UserId;
use crate::state::error::StateError;
use crate::state::model::{Credential, Principal, Settings, User};

/// The owner a create request targets: the caller, or (org admins only, with service accounts
/// enabled) another active user of the organization.
pub fn create_target(
    caller: &Principal,
    requested: Option<&UserId>,
    settings: &Settings,
    target: Option<&User>,
) -> Result<UserId, StateError> {
    let Some(requested) = requested.filter(|id| **id != caller.user_id) else {
        return Ok(caller.user_id.clone());
    };
    if !caller.is_org_admin() {
        return Err(StateError::NotOrgAdmin("create API credentials for other users"));
    }
    if !settings.service_accounts_enabled {
        return Err(StateError::ServiceAccountsDisabled);
    }
    match target {
        Some(user) if user.is_usable() => Ok(user.id.clone()),
        _ => Err(StateError::TargetUserUnusable(requested.clone())),
    }
}

/// Renaming, activating, deactivating and deleting: the owner, or any org admin.
pub fn may_modify(caller: &Principal, credential: &Credential) -> Result<(), StateError> {
    if credential.user_id == caller.user_id || caller.is_org_admin() {
        Ok(())
    } else {
        Err(StateError::NotCredentialOwner(credential.id.clone()))
    }
}

/// Regenerating: the owner; an org admin only when the settings allow it.
pub fn may_regenerate(
    caller: &Principal,
    credential: &Credential,
    settings: &Settings,
) -> Result<(), StateError> {
    may_modify(caller, credential)?;
    if credential.user_id == caller.user_id || settings.admins_may_regenerate_for_others {
        Ok(())
    } else {
        Err(StateError::RegenerateForOthers(credential.id.clone()))
    }
}

/// Changing the label: the owner; an org admin only when the settings allow it. Re-sending the
/// current label is not a rename.
pub fn may_rename(
    caller: &Principal,
    credential: &Credential,
    label: Option<&str>,
    settings: &Settings,
) -> Result<(), StateError> {
    let renames = label.is_some_and(|label| label != credential.label);
    if !renames || credential.user_id == caller.user_id || settings.admins_may_rename_for_others {
        Ok(())
    } else {
        Err(StateError::RenameForOthers(credential.id.clone()))
    }
}

/// Org-wide views and the emulator's admin API: org admins only.
pub fn require_org_admin(caller: &Principal, action: &'static str) -> Result<(), StateError> {
    if caller.is_org_admin() {
        Ok(())
    } else {
        Err(StateError::NotOrgAdmin(action))
    }
}

/// A label must have a non-blank character.
pub fn validate_label(label: &str) -> Result<(), StateError> {
    if label.trim().is_empty() {
        Err(StateError::LabelRequired)
    } else {
        Ok(())
    }
}

/// One more credential for `owner` must stay within the per-owner limit.
pub fn check_limit(owner: &UserId, held: usize, settings: &Settings) -> Result<(), StateError> {
    if held >= settings.credential_limit as usize {
        let limit = settings.credential_limit;
        Err(StateError::CredentialLimit {
            owner: owner.clone(),
            limit,
            code: settings.quota_issue_code.clone(),
            message: settings
                .quota_issue_message
                .replace("{owner}", owner.as_str())
                .replace("{limit}", &limit.to_string()),
        })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{CredentialId, OrgId};
    use crate::state::model::ORG_ADMIN_ROLE;
    use crate::token::Secret;

    fn principal(roles: &[&str]) -> Principal {
        let org = OrgId::generate();
        Principal {
            credential_id: CredentialId::generate(),
            user_id: UserId::generate(&org),
            org_id: org,
            org_name: "org".into(),
            email: "a@example.com".into(),
            name: "A".into(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
        }
    }

    fn user(active: bool, deleted: bool) -> User {
        User {
            id: UserId::generate(&OrgId::generate()),
            email: "b@example.com".into(),
            name: "B".into(),
            roles: vec!["user".into()],
            active,
            deleted,
            service_account: true,
            creator: None,
            created_on: 0,
            last_modified_on: 0,
            delete_time: None,
            destroyer: None,
        }
    }

    fn credential_of(owner: &UserId) -> Credential {
        Credential {
            id: CredentialId::generate(),
            label: "x".into(),
            user_id: owner.clone(),
            registered_by: owner.clone(),
            active: true,
            secret_hash: Secret::generate().hash(),
            seq: 0,
            created_on: 0,
        }
    }

    #[test]
    fn anyone_may_create_for_themselves_with_or_without_naming_themselves() {
        let caller = principal(&["user"]);
        let settings = Settings::default();
        assert_eq!(
            create_target(&caller, None, &settings, None).ok(),
            Some(caller.user_id.clone())
        );
        let own = caller.user_id.clone();
        assert_eq!(
            create_target(&caller, Some(&own), &settings, None).ok(),
            Some(own)
        );
    }

    #[test]
    fn non_admins_cannot_create_for_others() {
        let target = user(true, false);
        let result = create_target(
            &principal(&["user"]),
            Some(&target.id),
            &Settings::default(),
            Some(&target),
        );
        assert!(matches!(result, Err(StateError::NotOrgAdmin(_))));
    }

    #[test]
    fn admins_create_for_others_only_with_service_accounts_enabled() {
        let admin = principal(&[ORG_ADMIN_ROLE]);
        let target = user(true, false);
        let enabled = Settings::default();
        assert_eq!(
            create_target(&admin, Some(&target.id), &enabled, Some(&target)).ok(),
            Some(target.id.clone())
        );
        let disabled = Settings {
            service_accounts_enabled: false,
            ..Settings::default()
        };
        let result = create_target(&admin, Some(&target.id), &disabled, Some(&target));
        assert!(matches!(result, Err(StateError::ServiceAccountsDisabled)));
    }

    #[test]
    fn the_target_must_be_an_existing_active_undeleted_user() {
        let admin = principal(&[ORG_ADMIN_ROLE]);
        let settings = Settings::default();
        for target in [user(false, false), user(false, true)] {
            let result = create_target(&admin, Some(&target.id), &settings, Some(&target));
            assert!(matches!(result, Err(StateError::TargetUserUnusable(_))));
        }
        let unknown = UserId::new("nobody@org");
        let result = create_target(&admin, Some(&unknown), &settings, None);
        assert!(matches!(result, Err(StateError::TargetUserUnusable(_))));
    }

    #[test]
    fn owners_and_admins_may_modify_others_may_not() {
        let owner = principal(&["user"]);
        let credential = credential_of(&owner.user_id);
        assert!(may_modify(&owner, &credential).is_ok());
        assert!(may_modify(&principal(&[ORG_ADMIN_ROLE]), &credential).is_ok());
        assert!(matches!(
            may_modify(&principal(&["user"]), &credential),
            Err(StateError::NotCredentialOwner(_))
        ));
    }

    #[test]
    fn admins_regenerate_others_credentials_only_when_allowed() {
        let owner = principal(&["user"]);
        let admin = principal(&[ORG_ADMIN_ROLE]);
        let credential = credential_of(&owner.user_id);
        let default = Settings::default();
        assert!(may_regenerate(&owner, &credential, &default).is_ok());
        assert!(matches!(
            may_regenerate(&admin, &credential, &default),
            Err(StateError::RegenerateForOthers(_))
        ));
        let allowed = Settings {
            admins_may_regenerate_for_others: true,
            ..default
        };
        assert!(may_regenerate(&admin, &credential, &allowed).is_ok());
        assert!(may_regenerate(&principal(&["user"]), &credential, &allowed).is_err());
    }

    #[test]
    fn admins_rename_others_credentials_only_when_allowed() {
        let owner = principal(&["user"]);
        let admin = principal(&[ORG_ADMIN_ROLE]);
        let credential = credential_of(&owner.user_id);
        let strict = Settings {
            admins_may_rename_for_others: false,
            ..Settings::default()
        };
        assert!(may_rename(&admin, &credential, Some("y"), &Settings::default()).is_ok());
        assert!(matches!(
            may_rename(&admin, &credential, Some("y"), &strict),
            Err(StateError::RenameForOthers(_))
        ));
        // Re-sending the current label, or no label, is not a rename.
        assert!(may_rename(&admin, &credential, Some("x"), &strict).is_ok());
        assert!(may_rename(&admin, &credential, None, &strict).is_ok());
        assert!(may_rename(&owner, &credential, Some("y"), &strict).is_ok());
    }

    #[test]
    fn blank_labels_are_refused() {
        assert!(validate_label("ok").is_ok());
        for blank in ["", "   ", "\t\n"] {
            assert!(matches!(validate_label(blank), Err(StateError::LabelRequired)));
        }
    }

    #[test]
    fn the_limit_allows_exactly_limit_credentials() {
        let owner = UserId::new("u@o");
        let settings = Settings {
            credential_limit: 3,
            ..Settings::default()
        };
        assert!(check_limit(&owner, 2, &settings).is_ok());
        let refused = check_limit(&owner, 3, &settings);
        assert!(matches!(
            &refused,
            Err(StateError::CredentialLimit { limit: 3, code, message, .. })
                if code == "SECURITY_API_CREDENTIALS_LIMIT"
                    && message == "user u@o already holds the maximum of 3 API credentials (limit 3 per user)"
        ));
        let custom = Settings {
            quota_issue_code: "SECURITY_0042".into(),
            quota_issue_message: "Validation failed".into(),
            ..settings
        };
        assert!(matches!(
            check_limit(&owner, 3, &custom),
            Err(StateError::CredentialLimit { code, message, .. })
                if code == "SECURITY_0042" && message == "Validation failed"
        ));
    }
}
