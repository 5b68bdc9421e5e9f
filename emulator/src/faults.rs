//! Fault injection (controlhub-api.md §10 "Faults"): latency, `429` with `Retry-After`, `503`,
//! dropped connections and delayed revocation, for all or some operations. Off by default; set
//! through `PUT /emulator/v1/faults`.
//!
//! Owns the configuration and the per-request dice roll ([`Faults::plan`]). Must not touch
//! responses or connections itself: `observe` applies the plan and `server` drops connections.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use parking_lot::RwLock;
use serde::{Deserialize, Serialize};

use crate::operation::Operation;

/// Longest latency a fault may add (10 minutes).
const MAX_LATENCY_MS: u64 = 600_000;

/// The fault configuration (`PUT /emulator/v1/faults` replaces it whole; `{}` clears it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct FaultConfig {
    /// Added before the targeted operations are handled.
    pub latency_ms: u64,
    /// Probability (0–1) of answering `503` with an `ISSUES` body.
    pub error_rate: f64,
    /// Probability (0–1) of answering `429` with `Retry-After`.
    pub rate_limit_rate: f64,
    /// The `Retry-After` value of injected 429s.
    pub retry_after_seconds: u64,
    /// Probability (0–1) of closing the connection without any response.
    pub drop_rate: f64,
    /// How long tokens invalidated by deactivation, regeneration or deletion keep working.
    pub revocation_delay_ms: u64,
    /// How long lists keep showing a credential as it was before its creation or last change.
    pub list_lag_ms: u64,
    /// Targeted operations; empty means every Control Hub operation (never the admin API).
    pub operations: Vec<Operation>,
    /// A misbehaving server: every create makes the credential for this user ID instead of the
    /// one requested (or the caller), as if Control Hub ignored or misread `userId`. Lets clients
    /// test that they compare the owner of what they were issued with what they asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub create_owner_override: Option<String>,
}

impl Default for FaultConfig {
    fn default() -> Self {
        Self {
            latency_ms: 0,
            error_rate: 0.0,
            rate_limit_rate: 0.0,
            retry_after_seconds: 1,
            drop_rate: 0.0,
            revocation_delay_ms: 0,
            list_lag_ms: 0,
            operations: Vec::new(),
            create_owner_override: None,
        }
    }
}

impl FaultConfig {
    pub fn validate(&self) -> Result<(), String> {
        for (name, rate) in [
            ("errorRate", self.error_rate),
            ("rateLimitRate", self.rate_limit_rate),
            ("dropRate", self.drop_rate),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!("`{name}` must be between 0 and 1"));
            }
        }
        if self.latency_ms > MAX_LATENCY_MS
            || self.revocation_delay_ms > MAX_LATENCY_MS
            || self.list_lag_ms > MAX_LATENCY_MS
        {
            return Err(format!(
                "`latencyMs`, `revocationDelayMs` and `listLagMs` must be at most {MAX_LATENCY_MS}"
            ));
        }
        Ok(())
    }

    fn injects_anything(&self) -> bool {
        self.latency_ms > 0 || self.error_rate > 0.0 || self.rate_limit_rate > 0.0 || self.drop_rate > 0.0
    }

    fn targets(&self, operation: Operation) -> bool {
        operation.is_faultable() && (self.operations.is_empty() || self.operations.contains(&operation))
    }
}

/// What to do to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    Drop,
    RateLimit { retry_after_seconds: u64 },
    Error,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    pub latency: Duration,
    pub outcome: Outcome,
}

impl Plan {
    pub const NONE: Plan = Plan {
        latency: Duration::ZERO,
        outcome: Outcome::Pass,
    };
}

/// Marks a response whose connection must be closed without sending it.
#[derive(Debug, Clone, Copy)]
pub struct DropConnection;

#[derive(Debug, Default)]
pub struct Faults {
    /// Fast path: false while no request fault is configured.
    active: AtomicBool,
    config: RwLock<FaultConfig>,
}

impl Faults {
    pub fn get(&self) -> FaultConfig {
        self.config.read().clone()
    }

    pub fn set(&self, config: FaultConfig) -> Result<FaultConfig, String> {
        config.validate()?;
        let mut current = self.config.write();
        self.active.store(config.injects_anything(), Ordering::Release);
        *current = config.clone();
        Ok(config)
    }

    /// The owner every create is redirected to, if that fault is set.
    pub fn create_owner_override(&self) -> Option<String> {
        self.config.read().create_owner_override.clone()
    }

    pub fn revocation_delay(&self) -> Duration {
        Duration::from_millis(self.config.read().revocation_delay_ms)
    }

    pub fn list_lag(&self) -> Duration {
        Duration::from_millis(self.config.read().list_lag_ms)
    }

    /// Rolls the dice for one request of `operation`.
    pub fn plan(&self, operation: Operation) -> Plan {
        if !self.active.load(Ordering::Acquire) {
            return Plan::NONE;
        }
        let config = self.config.read();
        if !config.targets(operation) {
            return Plan::NONE;
        }
        let hit = |rate: f64| rate > 0.0 && rand::random::<f64>() < rate;
        let outcome = if hit(config.drop_rate) {
            Outcome::Drop
        } else if hit(config.rate_limit_rate) {
            Outcome::RateLimit {
                retry_after_seconds: config.retry_after_seconds,
            }
        } else if hit(config.error_rate) {
            Outcome::Error
        } else {
            Outcome::Pass
        };
        Plan {
            latency: Duration::from_millis(config.latency_ms),
            outcome,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_faults_by_default() {
        let faults = Faults::default();
        assert!(Operation::ALL.iter().all(|op| faults.plan(*op) == Plan::NONE));
        assert_eq!(faults.revocation_delay(), Duration::ZERO);
    }

    #[test]
    fn certain_faults_hit_only_their_targets() {
        let faults = Faults::default();
        let config = FaultConfig {
            error_rate: 1.0,
            latency_ms: 5,
            operations: vec![Operation::CreateCredential],
            ..FaultConfig::default()
        };
        assert!(faults.set(config).is_ok());
        let plan = faults.plan(Operation::CreateCredential);
        assert_eq!(
            plan,
            Plan {
                latency: Duration::from_millis(5),
                outcome: Outcome::Error
            }
        );
        assert_eq!(faults.plan(Operation::ListCredentials), Plan::NONE);
    }

    #[test]
    fn empty_targets_mean_every_control_hub_operation_but_never_the_admin_api() {
        let faults = Faults::default();
        assert!(
            faults
                .set(FaultConfig {
                    rate_limit_rate: 1.0,
                    ..FaultConfig::default()
                })
                .is_ok()
        );
        let limited = Outcome::RateLimit {
            retry_after_seconds: 1,
        };
        assert_eq!(faults.plan(Operation::CurrentUser).outcome, limited);
        assert_eq!(faults.plan(Operation::AdminUpdateFaults), Plan::NONE);
        assert_eq!(faults.plan(Operation::Unknown), Plan::NONE);
    }

    #[test]
    fn rates_outside_zero_to_one_are_refused() {
        let faults = Faults::default();
        assert!(
            faults
                .set(FaultConfig {
                    drop_rate: 1.5,
                    ..FaultConfig::default()
                })
                .is_err()
        );
        assert!(
            faults
                .set(FaultConfig {
                    error_rate: -0.1,
                    ..FaultConfig::default()
                })
                .is_err()
        );
        assert_eq!(faults.get(), FaultConfig::default());
    }
}
