//! The hook through which callers observe every HTTP attempt (for metrics), without the client
//! knowing about any metrics library.
//!
//! Owns the [`RequestObserver`] trait and the outcome labels it receives. Implementations must not
//! block: they run on the request path.

use std::time::Duration;

/// The outcome label of a successful attempt; failures use [`super::Error::label`].
pub const OUTCOME_OK: &str = "ok";

/// Receives one call per HTTP attempt (retries included) from the client's request function.
pub trait RequestObserver: Send + Sync {
    /// `operation` is a static name such as `"createCredential"`; `outcome` is `"ok"` or an error
    /// label such as `"rate_limited"`; `elapsed` is the attempt's wall time, body read included.
    fn observe(&self, operation: &'static str, outcome: &'static str, elapsed: Duration);
}
