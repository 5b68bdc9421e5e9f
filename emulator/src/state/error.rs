//! Why the organization state refused a change: the domain errors of the emulator.
//!
//! Each variant is one decision of controlhub-api.md §10; `crate::errors` maps them to HTTP status
//! codes and stable `ISSUES` codes. Messages name IDs and limits, never tokens or secrets.

use crate::ids::{CredentialId, UserId};
use crate::token::TokenError;

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("API credential {0} was not found")]
    CredentialNotFound(CredentialId),
    #[error("user {0} was not found")]
    UserNotFound(UserId),
    #[error("only an organization administrator may {0}")]
    NotOrgAdmin(&'static str),
    #[error(
        "API credential {0} belongs to another user; only its owner or an organization administrator may change it"
    )]
    NotCredentialOwner(CredentialId),
    #[error(
        "creating API credentials for other users requires the organization setting \
         'Enable service accounts.' to be enabled"
    )]
    ServiceAccountsDisabled,
    #[error("organization administrators cannot regenerate API credentials of other users (credential {0})")]
    RegenerateForOthers(CredentialId),
    #[error("user {0} is not an active user of this organization")]
    TargetUserUnusable(UserId),
    #[error("organization administrators cannot rename API credentials of other users (credential {0})")]
    RenameForOthers(CredentialId),
    /// One credential too many; `code` and `message` come from the settings (`quotaIssueCode`,
    /// `quotaIssueMessage`), since the real service's are unknown.
    #[error("{message}")]
    CredentialLimit {
        owner: UserId,
        limit: u32,
        code: String,
        message: String,
    },
    #[error("the API credential label must not be blank")]
    LabelRequired,
    #[error("a user cannot delete their own account")]
    CannotDeleteSelf,
    #[error("invalid request: {0}")]
    Invalid(String),
    #[error("could not mint a token: {0}")]
    Token(#[from] TokenError),
}
