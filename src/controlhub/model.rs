//! Domain types the client returns: credentials, freshly issued credentials, the current principal.
//!
//! Owns the conversion from wire structs (which mirror Control Hub's JSON) into types the operator
//! reasons about. It must not do IO; an issued token only ever travels inside [`AuthToken`].

use super::ids::{CredentialId, OrgId, UserId};
use super::token::AuthToken;
use super::wire::{ApiCredentialJson, PrincipalJson};

/// The role ID of an organization administrator.
pub const ORG_ADMIN_ROLE: &str = "org-admin";

/// An API credential as Control Hub lists it (never with its token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    pub id: CredentialId,
    /// The credential's name (`label`); duplicates are allowed.
    pub label: String,
    /// The user the credential acts as (`userId`), whose quota it counts against.
    pub owner: UserId,
    /// Who created it (`registeredBy`), when Control Hub says.
    pub registered_by: Option<UserId>,
    pub active: bool,
}

/// A credential returned by create or regenerate, with the token Control Hub shows only this once.
/// `Debug` redacts the token.
#[derive(Debug, Clone)]
pub struct IssuedCredential {
    pub credential: Credential,
    pub token: AuthToken,
}

/// The identity behind a credential (`currentUser`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: UserId,
    pub org_id: OrgId,
    pub name: Option<String>,
    pub email: Option<String>,
    pub roles: Vec<String>,
}

impl Principal {
    /// Whether the principal holds the organization-administrator role.
    pub fn is_org_admin(&self) -> bool {
        self.roles.iter().any(|r| r == ORG_ADMIN_ROLE)
    }
}

impl From<ApiCredentialJson> for Credential {
    fn from(json: ApiCredentialJson) -> Self {
        Self {
            id: json.component_id,
            label: json.label.unwrap_or_default(),
            owner: json.user_id,
            registered_by: json.registered_by,
            active: json.active,
        }
    }
}

impl IssuedCredential {
    /// Splits a create/regenerate response into the credential and its token; `None` when the
    /// response carries no (or an empty) token.
    pub fn from_json(mut json: ApiCredentialJson) -> Option<Self> {
        let token = json.auth_token.take().filter(|t| !t.is_empty())?;
        Some(Self {
            credential: Credential::from(json),
            token,
        })
    }
}

impl From<PrincipalJson> for Principal {
    fn from(json: PrincipalJson) -> Self {
        Self {
            user_id: json.principal_id,
            org_id: json.organization_id,
            name: json.principal_name,
            email: json.email,
            roles: json.roles.unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credential_json(token: Option<&str>) -> ApiCredentialJson {
        ApiCredentialJson {
            label: Some("ci".into()),
            user_id: UserId::new("u@o"),
            registered_by: None,
            component_id: CredentialId::new("c1"),
            auth_token: token.map(AuthToken::new),
            active: true,
        }
    }

    #[test]
    fn issued_credential_requires_a_non_empty_token() {
        assert!(IssuedCredential::from_json(credential_json(None)).is_none());
        assert!(IssuedCredential::from_json(credential_json(Some(""))).is_none());
        let issued = IssuedCredential::from_json(credential_json(Some("h.p."))).unwrap();
        assert_eq!(issued.token.expose(), "h.p.");
        assert_eq!(issued.credential.owner.as_str(), "u@o");
        assert!(!format!("{issued:?}").contains("h.p."));
    }

    #[test]
    fn org_admin_is_recognised_by_role_id() {
        let mut principal = Principal {
            user_id: UserId::new("u@o"),
            org_id: OrgId::new("o"),
            name: None,
            email: None,
            roles: vec!["org-user".into()],
        };
        assert!(!principal.is_org_admin());
        principal.roles.push(ORG_ADMIN_ROLE.into());
        assert!(principal.is_org_admin());
    }
}
