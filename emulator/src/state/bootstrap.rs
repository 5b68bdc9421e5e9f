//! A fresh organization: its org record, its first user (an org admin) and that user's first API
//! credential, whose token the start-up line prints.
//!
//! Used when no state file exists yet. Must not read or write files.

use crate::ids::{CredentialId, OrgId};
use crate::roles;
use crate::state::credentials::Fresh;
use crate::state::data::Data;
use crate::state::error::StateError;
use crate::state::model::{Bootstrap, Org, Settings, now_millis};
use crate::state::users::NewUser;
use crate::token;

/// Label of the bootstrap admin's credential.
pub const BOOTSTRAP_LABEL: &str = "emulator bootstrap admin";

#[derive(Debug, Clone)]
pub struct BootstrapOptions {
    pub org_id: Option<OrgId>,
    pub org_name: String,
    pub admin_email: String,
    pub admin_name: String,
    pub issuer: String,
    pub settings: Settings,
}

impl Default for BootstrapOptions {
    fn default() -> Self {
        Self {
            org_id: None,
            org_name: "Emulated Organization".into(),
            admin_email: "admin@emulator.local".into(),
            admin_name: "Emulator Admin".into(),
            issuer: "dev".into(),
            settings: Settings::default(),
        }
    }
}

pub fn fresh(options: &BootstrapOptions) -> Result<Data, StateError> {
    let org_id = options.org_id.clone().unwrap_or_else(OrgId::generate);
    let org = Org {
        id: org_id.clone(),
        name: options.org_name.clone(),
        created_on: now_millis(),
    };
    let credential_id = CredentialId::generate();
    let minted = token::mint(&options.issuer, &credential_id, &org_id)?;
    let placeholder = Bootstrap {
        user_id: crate::ids::UserId::new(""),
        credential_id: credential_id.clone(),
        auth_token: minted.token.clone(),
    };
    let mut data = Data::new(org, options.settings.clone(), placeholder, [], []);
    let new = NewUser {
        email: options.admin_email.clone(),
        name: Some(options.admin_name.clone()),
        roles: roles::bootstrap_admin_roles(),
        service_account: false,
        active: Some(true),
    };
    let admin = data.create_user(None, new)?;
    let fresh = Fresh {
        id: credential_id,
        minted,
    };
    data.issue(
        admin.id.clone(),
        admin.id.clone(),
        BOOTSTRAP_LABEL.into(),
        true,
        fresh,
    )?;
    data.bootstrap.user_id = admin.id;
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::parse;

    #[test]
    fn the_bootstrap_token_authenticates_as_the_org_admin() {
        let Ok(data) = fresh(&BootstrapOptions::default()) else {
            panic!("bootstrap")
        };
        let Ok(claims) = parse(data.bootstrap.auth_token.expose()) else {
            panic!("parse")
        };
        assert_eq!(claims.jti, data.bootstrap.credential_id);
        assert_eq!(claims.org, data.org.id);
        let principal = data.authenticate(&claims.jti, &claims.secret.hash());
        assert!(principal.is_ok_and(|p| p.is_org_admin() && p.user_id == data.bootstrap.user_id));
    }

    #[test]
    fn a_given_org_id_is_used() {
        let options = BootstrapOptions {
            org_id: Some(OrgId::new("my-org")),
            ..BootstrapOptions::default()
        };
        let Ok(data) = fresh(&options) else {
            panic!("bootstrap")
        };
        assert_eq!(data.org.id.as_str(), "my-org");
        assert!(data.bootstrap.user_id.as_str().ends_with("@my-org"));
    }
}
