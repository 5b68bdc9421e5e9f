//! The named Control Hub operations the client performs, and whether each may be retried.
//!
//! Owns the static operation names used in errors, tracing and metrics labels, and the retry
//! safety of each operation. It must not contain request plumbing.

use std::fmt;

/// One Control Hub call the client knows how to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// `GET {base}/security/rest/v1/currentUser`.
    CurrentUser,
    /// `GET …/api-user-credentials` (the caller's own credentials).
    ListCredentials,
    /// `GET …/api-user-credentials-for-org[?userId=]` (org admins).
    ListOrgCredentials,
    /// `POST …/api-user-credentials`.
    CreateCredential,
    /// `POST …/api-user-credentials/{id}` with a new label.
    RenameCredential,
    /// `POST …/api-user-credentials/{id}` with `active`.
    SetCredentialActive,
    /// `POST …/api-user-credentials/{id}` with `generateAuthToken: true`.
    RegenerateCredential,
    /// `DELETE …/api-user-credentials/{id}`.
    DeleteCredential,
    /// `GET {aster}/api/security/public/v3/orgs/{o}/info` (unauthenticated).
    DiscoverOrg,
}

/// Whether an operation may be sent again after a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetrySafety {
    /// Reads and idempotent writes: retry transient failures.
    Idempotent,
    /// Creates and regenerations: Control Hub has no idempotency keys, so a second send could mint a
    /// second credential or token. Retry only when the request provably never left (connect error).
    OnlyBeforeSend,
}

impl Operation {
    /// The static name used in errors, spans and metric labels.
    pub const fn name(self) -> &'static str {
        match self {
            Self::CurrentUser => "currentUser",
            Self::ListCredentials => "listCredentials",
            Self::ListOrgCredentials => "listOrgCredentials",
            Self::CreateCredential => "createCredential",
            Self::RenameCredential => "renameCredential",
            Self::SetCredentialActive => "setCredentialActive",
            Self::RegenerateCredential => "regenerateCredential",
            Self::DeleteCredential => "deleteCredential",
            Self::DiscoverOrg => "discoverOrg",
        }
    }

    /// How this operation may be retried.
    pub const fn retry_safety(self) -> RetrySafety {
        match self {
            Self::CreateCredential | Self::RegenerateCredential => RetrySafety::OnlyBeforeSend,
            Self::CurrentUser
            | Self::ListCredentials
            | Self::ListOrgCredentials
            | Self::RenameCredential
            | Self::SetCredentialActive
            | Self::DeleteCredential
            | Self::DiscoverOrg => RetrySafety::Idempotent,
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_create_and_regenerate_are_unsafe_to_resend() {
        let unsafe_ops: Vec<_> = [
            Operation::CurrentUser,
            Operation::ListCredentials,
            Operation::ListOrgCredentials,
            Operation::CreateCredential,
            Operation::RenameCredential,
            Operation::SetCredentialActive,
            Operation::RegenerateCredential,
            Operation::DeleteCredential,
            Operation::DiscoverOrg,
        ]
        .into_iter()
        .filter(|op| op.retry_safety() == RetrySafety::OnlyBeforeSend)
        .collect();
        assert_eq!(
            unsafe_ops,
            [Operation::CreateCredential, Operation::RegenerateCredential]
        );
    }
}
