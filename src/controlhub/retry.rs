//! The retry policy: bounded, jittered exponential backoff that honours `Retry-After`.
//!
//! Owns the pure decision "retry this failed attempt, after how long?". It must not sleep or send
//! anything; the request loop in [`super::request`] acts on the decision.

use std::time::Duration;

use super::error::Error;
use super::operation::RetrySafety;

/// How failed attempts are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (0 disables retrying).
    pub max_retries: u32,
    /// Backoff before the first retry (doubled per retry, jittered to 50–100 %).
    pub base_delay: Duration,
    /// Upper bound of any backoff the client picks itself.
    pub max_delay: Duration,
    /// The longest `Retry-After` the client waits out in-line; a longer one is returned to the
    /// caller as [`Error::RateLimited`] so it can requeue instead of holding a task.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 3,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(5),
            max_retry_after: Duration::from_secs(30),
        }
    }
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryDecision {
    /// Wait this long, then send again.
    RetryAfter(Duration),
    /// Return the error to the caller.
    GiveUp,
}

impl RetryPolicy {
    /// Decides about a failed attempt. `retries_done` counts retries already made; `jitter` is a
    /// uniform random number in `[0, 1)` (passed in so the decision stays pure).
    pub fn decide(
        &self,
        safety: RetrySafety,
        error: &Error,
        retries_done: u32,
        jitter: f64,
    ) -> RetryDecision {
        if retries_done >= self.max_retries {
            return RetryDecision::GiveUp;
        }
        let eligible = match safety {
            RetrySafety::Idempotent => error.is_transient(),
            RetrySafety::OnlyBeforeSend => error.is_before_send(),
        };
        if !eligible {
            return RetryDecision::GiveUp;
        }
        match error.retry_after() {
            Some(after) if after > self.max_retry_after => RetryDecision::GiveUp,
            Some(after) if !after.is_zero() => RetryDecision::RetryAfter(after),
            _ => RetryDecision::RetryAfter(self.backoff(retries_done, jitter)),
        }
    }

    /// The jittered exponential backoff before retry number `retries_done + 1`:
    /// `d = min(max_delay, base_delay * 2^retries_done)`, then a delay in `[d/2, d)`.
    pub fn backoff(&self, retries_done: u32, jitter: f64) -> Duration {
        let factor = 2u32.saturating_pow(retries_done.min(20));
        let ceiling = self.base_delay.saturating_mul(factor).min(self.max_delay);
        let jitter = if jitter.is_finite() {
            jitter.clamp(0.0, 1.0)
        } else {
            0.0
        };
        ceiling / 2 + ceiling.mul_f64(jitter / 2.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controlhub::operation::Operation;

    const OP: Operation = Operation::ListCredentials;

    fn unavailable() -> Error {
        Error::Unavailable {
            operation: OP,
            status: 503,
            issue: None,
        }
    }

    fn rate_limited(secs: u64) -> Error {
        Error::RateLimited {
            operation: OP,
            retry_after: Some(Duration::from_secs(secs)),
            issue: None,
        }
    }

    #[test]
    fn backoff_doubles_within_jitter_bounds_and_is_capped() {
        let policy = RetryPolicy::default();
        for retries in 0..30 {
            let ceiling = (policy.base_delay * 2u32.saturating_pow(retries.min(20))).min(policy.max_delay);
            let low = policy.backoff(retries, 0.0);
            let high = policy.backoff(retries, 0.999_999);
            assert_eq!(low, ceiling / 2, "retry {retries}");
            assert!(
                high < ceiling && high >= low,
                "retry {retries}: {high:?} vs {ceiling:?}"
            );
            assert!(high <= policy.max_delay);
        }
        assert_eq!(policy.backoff(0, 0.0), Duration::from_millis(50));
        assert_eq!(policy.backoff(1, 0.0), Duration::from_millis(100));
    }

    #[test]
    fn out_of_range_jitter_is_clamped() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.backoff(0, f64::NAN), Duration::from_millis(50));
        assert_eq!(policy.backoff(0, 7.0), Duration::from_millis(100));
    }

    #[test]
    fn idempotent_operations_retry_transient_errors_up_to_the_budget() {
        let policy = RetryPolicy {
            max_retries: 2,
            ..RetryPolicy::default()
        };
        let safe = RetrySafety::Idempotent;
        assert!(matches!(
            policy.decide(safe, &unavailable(), 0, 0.5),
            RetryDecision::RetryAfter(_)
        ));
        assert!(matches!(
            policy.decide(safe, &unavailable(), 1, 0.5),
            RetryDecision::RetryAfter(_)
        ));
        assert_eq!(policy.decide(safe, &unavailable(), 2, 0.5), RetryDecision::GiveUp);
        let forbidden = Error::Forbidden {
            operation: OP,
            issue: None,
        };
        assert_eq!(policy.decide(safe, &forbidden, 0, 0.5), RetryDecision::GiveUp);
    }

    #[test]
    fn create_and_regenerate_never_retry_once_the_request_may_have_arrived() {
        let policy = RetryPolicy::default();
        let unsafe_op = RetrySafety::OnlyBeforeSend;
        for err in [unavailable(), rate_limited(1), Error::Timeout { operation: OP }] {
            assert_eq!(
                policy.decide(unsafe_op, &err, 0, 0.5),
                RetryDecision::GiveUp,
                "{err}"
            );
        }
    }

    #[test]
    fn retry_after_is_honoured_exactly_and_bounded() {
        let policy = RetryPolicy::default();
        let safe = RetrySafety::Idempotent;
        assert_eq!(
            policy.decide(safe, &rate_limited(2), 0, 0.5),
            RetryDecision::RetryAfter(Duration::from_secs(2))
        );
        assert_eq!(
            policy.decide(safe, &rate_limited(3600), 0, 0.5),
            RetryDecision::GiveUp
        );
        // Retry-After: 0 falls back to the client's own backoff.
        assert_eq!(
            policy.decide(safe, &rate_limited(0), 0, 0.0),
            RetryDecision::RetryAfter(policy.backoff(0, 0.0))
        );
    }
}
