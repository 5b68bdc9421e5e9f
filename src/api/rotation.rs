//! `spec.rotation` of an ApiCredential: when and how the token is rotated.
//!
//! Admission (CEL) checks the shape: exactly one of interval or schedule, time zone only with a
//! schedule, grace period only with Replace. Turning this into times is
//! `controller::schedule`'s job; this file only declares the fields.

use std::time::Duration;

use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::duration::{DurationError, parse_go_duration};
use super::rules;

/// Grace period of the Replace strategy when `gracePeriod` is not set.
pub const DEFAULT_GRACE_PERIOD: Duration = Duration::from_secs(10 * 60);

/// How a token is rotated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum RotationStrategy {
    /// Keep the credential and its ID; Control Hub issues a new token. The old token stops
    /// working at once.
    #[default]
    Regenerate,
    /// Create a new credential, switch the Secret to it, and delete the old one after
    /// `gracePeriod`. Needs a free slot in the owner's quota.
    Replace,
}

/// When and how the token is rotated. Absent: never rotated automatically (the
/// `controlhub.dev/rotate` annotation still rotates on demand).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = rules::ROTATION_ONE_OF.to_kube(),
    validation = rules::TIME_ZONE_NEEDS_SCHEDULE.to_kube(),
    validation = rules::GRACE_PERIOD_NEEDS_REPLACE.to_kube(),
    validation = rules::GRACE_PERIOD_WITHIN_INTERVAL.to_kube(),
)]
pub struct Rotation {
    /// Rotate this long after the previous rotation (or creation), as a Go duration such as
    /// `336h` or `720h`; at least `1h`. A small per-object jitter (at most 5%, at most 1h) is
    /// added so that credentials created together do not rotate together. Exclusive with
    /// `schedule`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = rules::DURATION_MAX))]
    #[x_kube(validation = rules::INTERVAL_MIN.to_kube())]
    pub interval: Option<String>,
    /// Rotate at the times of this 5-field cron expression (minute hour day-of-month month
    /// day-of-week), such as `0 3 * * 0` for Sundays at 03:00. At most once an hour, like
    /// `interval`: the minute field must be a single number from 0 to 59 (`0 * * * *` is
    /// hourly; `*/5 * * * *` or `0,30 * * * *` are refused). A small per-object jitter (at most
    /// 5 minutes) is added. Exclusive with `interval`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = rules::SCHEDULE_MAX))]
    #[x_kube(
        validation = rules::SCHEDULE_FIVE_FIELDS.to_kube(),
        validation = rules::SCHEDULE_AT_MOST_HOURLY.to_kube()
    )]
    pub schedule: Option<String>,
    /// IANA time zone of `schedule`, such as `Europe/Berlin`. Default: UTC. Only with `schedule`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = rules::TIME_ZONE_MAX), pattern(rules::TIME_ZONE))]
    pub time_zone: Option<String>,
    /// Regenerate (default): same credential ID, new token. Replace: a new credential; the old
    /// one is deleted after `gracePeriod`.
    #[serde(default)]
    pub strategy: RotationStrategy,
    /// With strategy Replace: how long the previous credential keeps working after the Secret
    /// holds the new one, as a Go duration between `0s` and `24h`. Default: `10m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = rules::DURATION_MAX))]
    #[x_kube(validation = rules::GRACE_PERIOD_RANGE.to_kube())]
    pub grace_period: Option<String>,
    /// With strategy Replace: when the owner has no free credential slot, regenerate the token in
    /// place instead (the old token stops working at once). Default false: the rotation waits
    /// for a free slot, the current token keeps working, and the Ready condition says so.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub regenerate_when_no_slot: bool,
}

impl Rotation {
    /// How long the previous credential is kept after a Replace rotation: `gracePeriod`, or
    /// [`DEFAULT_GRACE_PERIOD`]; zero for Regenerate, which keeps nothing.
    pub fn grace_period(&self) -> Result<Duration, DurationError> {
        match (self.strategy, self.grace_period.as_deref()) {
            (RotationStrategy::Regenerate, _) => Ok(Duration::ZERO),
            (RotationStrategy::Replace, None) => Ok(DEFAULT_GRACE_PERIOD),
            (RotationStrategy::Replace, Some(text)) => parse_go_duration(text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strategy_defaults_to_regenerate() {
        let rotation: Rotation = serde_json::from_str(r#"{"interval":"336h"}"#).expect("parses");
        assert_eq!(rotation.strategy, RotationStrategy::Regenerate);
        assert_eq!(rotation.interval.as_deref(), Some("336h"));
    }

    #[test]
    fn unset_fields_are_not_serialized() {
        let rotation = Rotation {
            schedule: Some("0 3 * * 0".into()),
            ..Rotation::default()
        };
        let json = serde_json::to_value(&rotation).expect("serializes");
        assert_eq!(
            json,
            serde_json::json!({"schedule": "0 3 * * 0", "strategy": "Regenerate"})
        );
    }

    #[test]
    fn grace_period_is_zero_for_regenerate() {
        let rotation = Rotation {
            grace_period: Some("5m".into()),
            ..Rotation::default()
        };
        assert_eq!(rotation.grace_period(), Ok(Duration::ZERO));
    }

    #[test]
    fn grace_period_defaults_to_ten_minutes_for_replace() {
        let rotation = Rotation {
            strategy: RotationStrategy::Replace,
            ..Rotation::default()
        };
        assert_eq!(rotation.grace_period(), Ok(Duration::from_secs(600)));
    }

    #[test]
    fn grace_period_parses_the_declared_duration() {
        let rotation = Rotation {
            strategy: RotationStrategy::Replace,
            grace_period: Some("1h30m".into()),
            ..Rotation::default()
        };
        assert_eq!(rotation.grace_period(), Ok(Duration::from_secs(5400)));
        let bad = Rotation {
            grace_period: Some("soon".into()),
            ..rotation
        };
        assert!(bad.grace_period().is_err());
    }
}
