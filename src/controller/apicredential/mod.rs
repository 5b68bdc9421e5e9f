//! The ApiCredential reconcile, as a pipeline whose files are its stages in order:
//!
//! 1. [`resolve`] — the spec, the connection and who owns the credential, resolved into a
//!    [`resolve::Target`] (reads Kubernetes; asks Control Hub who the connection is).
//! 2. [`gather`] — the Secret, the owner's credentials, whether the stored token works, into a
//!    [`gather::World`] (reads Kubernetes and Control Hub).
//! 3. [`decide`] — the one next step, from what was gathered (pure); [`pass`] — the rules of one
//!    pass around it (a step budget, one rotation per pass; pure).
//! 4. [`act`] — performs a step (writes Control Hub and the Secret), through [`secret_io`]; its
//!    results are [`outcome::Outcome`]s, and [`outcome`] is the one place that maps a blocker or
//!    a Control Hub refusal to a condition's reason and message. [`restart`] rolls workloads.
//! 5. [`report`] — status and Events (writes Kubernetes).
//! 6. [`reconcile`] — the entry point: finalizer dispatch, and the loop resolve → gather →
//!    (decide → act)* → report.
//!
//! Beside them: [`cleanup`] (the finalizer: `deletionPolicy` in Control Hub), [`secret`] (how
//! the delivered Secret is built and recognised; no I/O) and [`formats`] (the Secret's additional
//! output formats, such as a dotenv file; pure). Imports point from later stages to
//! earlier ones; the vocabulary every stage shares is declared here.

pub mod act;
pub mod cleanup;
pub mod decide;
pub mod formats;
pub mod gather;
pub mod outcome;
pub mod pass;
pub mod reconcile;
pub mod report;
pub mod resolve;
pub mod restart;
pub mod secret;
pub mod secret_io;

pub use reconcile::{connection_key_of, error_policy, reconcile};

use chrono::{DateTime, Utc};

use crate::controlhub::CredentialId;

/// The rotation strategy, as declared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// Same credential ID, new token.
    Regenerate,
    /// A new credential; the old one is retired after the grace period.
    Replace,
}

/// Why a rotation happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RotationReason {
    /// The rotation schedule came due.
    Schedule,
    /// The `controlhub.dev/rotate` annotation changed.
    Requested,
    /// The token in the Secret no longer authenticates (regenerated elsewhere).
    TokenInvalid,
    /// The Secret lost the token (deleted or edited), so a new one must be issued.
    SecretLost,
}

/// What the user declared, resolved (defaults applied, schedule evaluated).
#[derive(Debug, Clone)]
pub struct Desired {
    pub label: String,
    pub active: bool,
    pub strategy: Strategy,
    /// How long a replaced credential keeps working after the Secret switched.
    pub grace: chrono::Duration,
    /// The value of the rotate annotation, if present.
    pub rotate_request: Option<String>,
    /// The credential belongs to a user other than the connection's own (Control Hub may refuse to
    /// regenerate it).
    pub for_other_user: bool,
    /// Replace may fall back to Regenerate when the owner has no free slot
    /// (`spec.rotation.regenerateWhenNoSlot`).
    pub regenerate_when_no_slot: bool,
}

/// The operator's durable record of its work, kept in status.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Record {
    pub credential_id: Option<CredentialId>,
    pub previous_credential_id: Option<CredentialId>,
    pub retire_at: Option<DateTime<Utc>>,
    pub rotation_in_progress: Option<(Strategy, RotationReason)>,
    pub last_rotation_request: Option<String>,
    pub last_refresh_request: Option<String>,
}

/// The state of the Secret the credential is delivered in.
#[derive(Debug, Clone, PartialEq)]
pub enum SecretState {
    /// No Secret of that name.
    Missing,
    /// A Secret of that name exists that this object does not own: never overwritten.
    Foreign,
    /// Our Secret; `credential_id` is set when it holds a credential ID and a non-empty token.
    Managed { credential_id: Option<CredentialId> },
}
