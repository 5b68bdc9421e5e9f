//! A per-client token bucket that paces requests to one Control Hub connection.
//!
//! Owns request pacing (requests/second with a burst). Callers reserve a slot and sleep until it
//! comes; reservations are first come, first served. It must not know about HTTP or retries.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Paces requests: at most `burst` at once, refilled at `requests_per_second`.
#[derive(Debug)]
pub struct RateLimiter {
    bucket: Option<Mutex<Bucket>>,
}

#[derive(Debug)]
struct Bucket {
    rate: f64,
    burst: f64,
    /// Available tokens; negative when slots are reserved ahead.
    tokens: f64,
    last: Instant,
}

impl Bucket {
    /// Takes one token at `now` and returns how long the caller must wait for it.
    fn reserve(&mut self, now: Instant) -> Duration {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.last = now;
        self.tokens -= 1.0;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.rate)
        }
    }
}

impl RateLimiter {
    /// A limiter allowing `requests_per_second` with bursts of `burst` (at least 1).
    /// `requests_per_second == 0` (or not finite and positive) disables limiting.
    pub fn new(requests_per_second: f64, burst: u32) -> Self {
        if !(requests_per_second.is_finite() && requests_per_second > 0.0) {
            return Self::unlimited();
        }
        let burst = f64::from(burst.max(1));
        Self {
            bucket: Some(Mutex::new(Bucket {
                rate: requests_per_second,
                burst,
                tokens: burst,
                last: Instant::now(),
            })),
        }
    }

    /// A limiter that never waits.
    pub fn unlimited() -> Self {
        Self { bucket: None }
    }

    /// Waits until the caller may send one request.
    pub async fn acquire(&self) {
        let Some(bucket) = &self.bucket else { return };
        let wait = bucket
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .reserve(Instant::now());
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(rate: f64, burst: f64, start: Instant) -> Bucket {
        Bucket {
            rate,
            burst,
            tokens: burst,
            last: start,
        }
    }

    #[test]
    fn burst_passes_immediately_then_requests_are_spaced_by_the_rate() {
        let start = Instant::now();
        let mut b = bucket(10.0, 3.0, start);
        let waits: Vec<_> = (0..5).map(|_| b.reserve(start)).collect();
        let ms: Vec<u128> = waits.iter().map(|w| w.as_millis()).collect();
        assert_eq!(ms, [0, 0, 0, 100, 200]);
    }

    #[test]
    fn idle_time_refills_up_to_the_burst_only() {
        let start = Instant::now();
        let mut b = bucket(10.0, 2.0, start);
        b.reserve(start);
        b.reserve(start);
        let later = start + Duration::from_secs(60);
        assert_eq!(b.reserve(later), Duration::ZERO);
        assert_eq!(b.reserve(later), Duration::ZERO);
        assert_eq!(b.reserve(later), Duration::from_millis(100));
    }

    #[tokio::test(start_paused = true)]
    async fn acquire_sleeps_for_the_reserved_slot() {
        let limiter = RateLimiter::new(2.0, 1);
        let start = Instant::now();
        limiter.acquire().await;
        limiter.acquire().await;
        limiter.acquire().await;
        assert_eq!(start.elapsed(), Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn zero_rate_means_unlimited() {
        let limiter = RateLimiter::new(0.0, 0);
        let start = Instant::now();
        for _ in 0..1000 {
            limiter.acquire().await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
    }
}
