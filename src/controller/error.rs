//! Errors of a reconcile that the controller retries with backoff: the Kubernetes API or Control
//! Hub failed in a way that may pass. Situations that need a change from the user are not errors;
//! they are reported as conditions (see [`super::outcome`]).
//!
//! Display texts carry no token: Control Hub errors print operation, status and Control Hub's own
//! issue code and message only.

use std::time::Duration;

use crate::controlhub;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("reading {what}: {source}")]
    Read {
        what: String,
        #[source]
        source: kube::Error,
    },
    #[error("writing {what}: {source}")]
    Write {
        what: String,
        #[source]
        source: kube::Error,
    },
    #[error("Control Hub call failed: {0}")]
    ControlHub(#[from] controlhub::Error),
    /// `reason` is the API server's answer with the token scrubbed out (a webhook may echo the
    /// object it refused).
    #[error("the token was issued but could not be stored in Secret {secret}: {reason}")]
    StoreToken { secret: String, reason: String },
    #[error("object has no {0}")]
    MissingField(&'static str),
    #[error("{0}")]
    ConnectionUnavailable(String),
    #[error("this replica no longer holds the leader lease; the write was not made")]
    Fenced,
    /// The object was deleted (or is being deleted, or was replaced by another of the same name)
    /// after the cache showed it: nothing is created for it.
    #[error("ApiCredential {0} is gone or being deleted; no credential was created for it")]
    Gone(String),
}

impl Error {
    /// A failed read of `what` (a Kubernetes object, named).
    pub fn read(what: impl Into<String>) -> impl FnOnce(kube::Error) -> Error {
        let what = what.into();
        move |source| Error::Read { what, source }
    }

    /// A failed write of `what` (a Kubernetes object, named).
    pub fn write(what: impl Into<String>) -> impl FnOnce(kube::Error) -> Error {
        let what = what.into();
        move |source| Error::Write { what, source }
    }

    /// A bounded label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Error::Read { .. } => "kube_read_failed",
            Error::Write { .. } => "kube_write_failed",
            Error::ControlHub(e) => e.label(),
            Error::StoreToken { .. } => "store_token_failed",
            Error::MissingField(_) => "invalid_object",
            Error::ConnectionUnavailable(_) => "connection_unavailable",
            Error::Fenced => "fenced",
            Error::Gone(_) => "object_gone",
        }
    }

    /// How long Control Hub asked us to wait, if it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::ControlHub(e) => e
                .retry_after()
                .map(crate::controller::context::bounded_retry_after),
            _ => None,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
