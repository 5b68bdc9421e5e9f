//! The typed `reason` of every condition this operator writes.
//!
//! Reasons are part of the API (users and tools match on them), so they are an enum with a fixed
//! spelling, never free text. This file only names them; choosing one is the controller's job.

use std::fmt;

/// Why a condition has its status. Spelled in CamelCase as Kubernetes requires.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// Everything is as declared.
    Ready,
    /// The credential is being created in Control Hub.
    Creating,
    /// The token is being rotated.
    Rotating,
    /// The Control Hub label is being changed to `spec.name`.
    Renaming,
    /// The credential is being activated.
    Activating,
    /// The credential is being deactivated.
    Deactivating,
    /// The Secret is being written or updated.
    UpdatingSecret,
    /// The credential disappeared from Control Hub and is being created again.
    Recreating,
    /// The operator is finishing a step interrupted by a restart.
    Recovering,
    /// A replaced credential is kept until its grace period ends.
    RetiringPrevious,
    /// The resource is being deleted and `deletionPolicy` is applied.
    Deleting,
    /// The owner already has the maximum number of credentials.
    QuotaExceeded,
    /// The referenced connection does not exist.
    ConnectionNotFound,
    /// The referenced connection exists but is not Ready.
    ConnectionNotReady,
    /// The connection may not be used from this namespace.
    ConnectionNotAllowed,
    /// The connection may not create credentials for `spec.userId`.
    UserNotAllowed,
    /// Control Hub refused the request (403).
    Forbidden,
    /// The Secret exists and belongs to something else.
    SecretConflict,
    /// The connection's credentials Secret does not exist.
    SecretNotFound,
    /// The connection's credentials Secret lacks a key.
    SecretKeyMissing,
    /// The rotation schedule, time zone or grace period cannot be used.
    InvalidSchedule,
    /// The spec is invalid in a way admission could not catch.
    InvalidSpec,
    /// Control Hub could not be reached or answered with a server error.
    ControlHubUnavailable,
    /// Control Hub asked the operator to slow down (429).
    RateLimited,
    /// Control Hub refused the connection's credentials (401).
    AuthenticationFailed,
    /// The organization could not be discovered from `asterUrl`.
    DiscoveryFailed,
    /// `caBundle` could not be used.
    InvalidCaBundle,
    /// A workload listed in `restartTargets` could not be restarted.
    RestartFailed,
    /// The Kubernetes API refused the Secret as declared (a field in `spec.secret`, a quota or a policy).
    SecretRejected,
    /// Control Hub issued a credential for another user than the one requested; it was deleted.
    OwnerMismatch,
    /// The connection now authenticates as another user than the one owning the credential.
    OwnerChanged,
    /// The cluster connection does not share its own identity with namespaces.
    IdentityNotShared,
    /// The connection's URL is not allowed by the operator's URL policy.
    ConnectionUrlNotAllowed,
    /// A Replace rotation cannot happen now (no free slot); the current token keeps working.
    RotationBlocked,
    /// Control Hub refused to rename the credential; it works, but keeps its pending label.
    RenameRefused,
}

impl Reason {
    /// Every reason, for lookups and tests.
    pub const ALL: &'static [Reason] = &[
        Reason::Ready,
        Reason::Creating,
        Reason::Rotating,
        Reason::Renaming,
        Reason::Activating,
        Reason::Deactivating,
        Reason::UpdatingSecret,
        Reason::Recreating,
        Reason::Recovering,
        Reason::RetiringPrevious,
        Reason::Deleting,
        Reason::QuotaExceeded,
        Reason::ConnectionNotFound,
        Reason::ConnectionNotReady,
        Reason::ConnectionNotAllowed,
        Reason::UserNotAllowed,
        Reason::Forbidden,
        Reason::SecretConflict,
        Reason::SecretNotFound,
        Reason::SecretKeyMissing,
        Reason::InvalidSchedule,
        Reason::InvalidSpec,
        Reason::ControlHubUnavailable,
        Reason::RateLimited,
        Reason::AuthenticationFailed,
        Reason::DiscoveryFailed,
        Reason::InvalidCaBundle,
        Reason::RestartFailed,
        Reason::SecretRejected,
        Reason::OwnerMismatch,
        Reason::OwnerChanged,
        Reason::IdentityNotShared,
        Reason::ConnectionUrlNotAllowed,
        Reason::RotationBlocked,
        Reason::RenameRefused,
    ];

    /// The wire spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Reason::Ready => "Ready",
            Reason::Creating => "Creating",
            Reason::Rotating => "Rotating",
            Reason::Renaming => "Renaming",
            Reason::Activating => "Activating",
            Reason::Deactivating => "Deactivating",
            Reason::UpdatingSecret => "UpdatingSecret",
            Reason::Recreating => "Recreating",
            Reason::Recovering => "Recovering",
            Reason::RetiringPrevious => "RetiringPrevious",
            Reason::Deleting => "Deleting",
            Reason::QuotaExceeded => "QuotaExceeded",
            Reason::ConnectionNotFound => "ConnectionNotFound",
            Reason::ConnectionNotReady => "ConnectionNotReady",
            Reason::ConnectionNotAllowed => "ConnectionNotAllowed",
            Reason::UserNotAllowed => "UserNotAllowed",
            Reason::Forbidden => "Forbidden",
            Reason::SecretConflict => "SecretConflict",
            Reason::SecretNotFound => "SecretNotFound",
            Reason::SecretKeyMissing => "SecretKeyMissing",
            Reason::InvalidSchedule => "InvalidSchedule",
            Reason::InvalidSpec => "InvalidSpec",
            Reason::ControlHubUnavailable => "ControlHubUnavailable",
            Reason::RateLimited => "RateLimited",
            Reason::AuthenticationFailed => "AuthenticationFailed",
            Reason::DiscoveryFailed => "DiscoveryFailed",
            Reason::InvalidCaBundle => "InvalidCaBundle",
            Reason::RestartFailed => "RestartFailed",
            Reason::SecretRejected => "SecretRejected",
            Reason::OwnerMismatch => "OwnerMismatch",
            Reason::OwnerChanged => "OwnerChanged",
            Reason::IdentityNotShared => "IdentityNotShared",
            Reason::ConnectionUrlNotAllowed => "ConnectionUrlNotAllowed",
            Reason::RotationBlocked => "RotationBlocked",
            Reason::RenameRefused => "RenameRefused",
        }
    }

    /// The reason with this wire spelling, if it is one of ours.
    pub fn parse(text: &str) -> Option<Reason> {
        Reason::ALL.iter().copied().find(|reason| reason.as_str() == text)
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_reason_round_trips_through_its_spelling() {
        for reason in Reason::ALL {
            assert_eq!(Reason::parse(reason.as_str()), Some(*reason));
        }
        assert_eq!(Reason::parse("NoSuchReason"), None);
    }

    #[test]
    fn spellings_are_unique_camel_case_and_match_the_variant_name() {
        let mut seen = HashSet::new();
        for reason in Reason::ALL {
            let text = reason.as_str();
            assert!(seen.insert(text), "duplicate reason {text}");
            assert!(text.chars().all(|c| c.is_ascii_alphanumeric()), "{text}");
            assert!(text.starts_with(|c: char| c.is_ascii_uppercase()), "{text}");
            assert_eq!(format!("{reason:?}"), text);
        }
    }
}
