//! `ApiCredentialsJson` (responses, always all six keys) and `ApiCredentialsRequestJson`
//! (create and update bodies).

use serde::{Deserialize, Serialize};

use crate::ids::{CredentialId, UserId};
use crate::state::credentials::{CreateCredential, UpdateCredential};
use crate::state::model::Credential;
use crate::token::AuthToken;

/// A credential as the API shows it. `authToken` is `null` except right after create/regenerate.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiCredentialsJson {
    pub label: String,
    pub user_id: UserId,
    pub registered_by: UserId,
    pub component_id: CredentialId,
    pub auth_token: Option<AuthToken>,
    pub active: bool,
}

impl ApiCredentialsJson {
    pub fn new(credential: &Credential, token: Option<AuthToken>) -> Self {
        Self {
            label: credential.label.clone(),
            user_id: credential.user_id.clone(),
            registered_by: credential.registered_by.clone(),
            component_id: credential.id.clone(),
            auth_token: token,
            active: credential.active,
        }
    }

    /// The listed form: never a token.
    pub fn listed(credential: &Credential) -> Self {
        Self::new(credential, None)
    }
}

/// The request body of create and update (every field optional; wrong types are 400).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiCredentialsRequestJson {
    pub label: Option<String>,
    pub active: Option<bool>,
    pub generate_auth_token: Option<bool>,
    pub user_id: Option<String>,
}

impl ApiCredentialsRequestJson {
    /// As a create: `generateAuthToken` is ignored, a blank `userId` means the caller.
    pub fn into_create(self) -> CreateCredential {
        CreateCredential {
            label: self.label,
            active: self.active,
            user_id: self.user_id.filter(|id| !id.trim().is_empty()).map(UserId::new),
        }
    }

    /// As an update: `userId` is ignored, absent fields are unchanged.
    pub fn into_update(self) -> UpdateCredential {
        UpdateCredential {
            label: self.label,
            active: self.active,
            regenerate: self.generate_auth_token.unwrap_or(false),
        }
    }
}
