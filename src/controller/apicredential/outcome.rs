//! The one place that maps what stops a step — a blocker the plan found, a Control Hub refusal,
//! a Secret the API server refuses — to what the user sees: the outcome of the pass, with the
//! condition's reason and a message that names the next step. Pure.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::decide::Blocker;
use super::resolve::Target;
use super::secret_io::WriteError;
use crate::api::Reason;
use crate::controlhub::{self, Credential};
use crate::controller::context::with_jitter;

/// What the loop should do after a step.
#[derive(Debug)]
pub enum Outcome {
    Continue,
    Done {
        requeue_at: Option<DateTime<Utc>>,
    },
    Blocked {
        reason: Reason,
        message: String,
        retry: Option<std::time::Duration>,
    },
    /// The token in the Secret works, but something declared cannot be done now (a rotation
    /// waiting for a free slot, a label Control Hub will not change): Ready stays True and says
    /// why; the object is looked at again later.
    Working {
        reason: Reason,
        message: String,
    },
}

/// What a [`Blocker`] means for the user.
pub fn blocked(t: &Target, blocker: Blocker) -> Outcome {
    let (reason, message) = match blocker {
        Blocker::SecretConflict => (
            Reason::SecretConflict,
            format!(
                "Secret {} exists and is not managed by this ApiCredential; it is never overwritten: delete or rename it, or set spec.secret.name",
                t.layout.name
            ),
        ),
        Blocker::QuotaExceeded { count, limit } => (
            Reason::QuotaExceeded,
            format!(
                "user {} already has {count} of {limit} API credentials in Control Hub: delete one there (or another ApiCredential of this user) and this one is created",
                t.owner
            ),
        ),
        Blocker::NoSlotForReplace { count, limit } => {
            // The current token works: Ready stays True and says why the rotation waits.
            return Outcome::Working {
                reason: Reason::RotationBlocked,
                message: format!(
                    "the Replace rotation waits for a free slot: user {} has {count} of {limit} credentials in Control Hub. Delete one of that user's credentials, or set spec.rotation.regenerateWhenNoSlot: true to regenerate in place",
                    t.owner
                ),
            };
        }
    };
    Outcome::Blocked {
        reason,
        message,
        retry: None,
    }
}

/// A Secret the API server will not take.
pub fn secret_refused(t: &Target, refusal: WriteError) -> Outcome {
    match refusal {
        WriteError::Rejected(message) => Outcome::Blocked {
            reason: Reason::SecretRejected,
            message: format!(
                "Secret {} cannot be written ({message}): fix spec.secret, or the policy or quota that refuses it; no token was issued",
                t.layout.name
            ),
            retry: Some(with_jitter(Duration::from_secs(60))),
        },
        _ => blocked(t, Blocker::SecretConflict),
    }
}

/// Control Hub issued a credential for another owner than requested (it was deleted).
pub fn owner_mismatch(t: &Target, made: &Credential) -> Outcome {
    Outcome::Blocked {
        reason: Reason::OwnerMismatch,
        message: format!(
            "Control Hub issued credential {} for {} although {} was requested; it was deleted and nothing was stored. Check the connection's identity and spec.userId",
            made.id, made.owner, t.owner
        ),
        retry: Some(with_jitter(Duration::from_secs(300))),
    }
}

/// A Control Hub refusal that needs the user (or the connection's owner), or `None` when it may
/// pass by itself (retried with backoff as an error).
pub fn refusal(t: &Target, e: &controlhub::Error, quota_limit: usize) -> Option<Outcome> {
    match e {
        controlhub::Error::QuotaExceeded { .. } => Some(blocked(
            t,
            Blocker::QuotaExceeded {
                count: quota_limit,
                limit: quota_limit,
            },
        )),
        controlhub::Error::Forbidden { .. } => Some(Outcome::Blocked {
            reason: Reason::Forbidden,
            message: format!("Control Hub refused the request of {}: {e}", t.connection.key),
            retry: None,
        }),
        controlhub::Error::Unauthorized { .. } => Some(Outcome::Blocked {
            reason: Reason::AuthenticationFailed,
            message: format!(
                "Control Hub no longer accepts the credentials of {}: update its credentials Secret",
                t.connection.key
            ),
            retry: Some(Duration::from_secs(60)),
        }),
        controlhub::Error::Invalid { .. } => Some(Outcome::Blocked {
            reason: Reason::InvalidSpec,
            message: format!("Control Hub rejected the request: {e}"),
            retry: None,
        }),
        _ => None,
    }
}
