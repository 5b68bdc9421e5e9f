//! Typed status conditions (kstatus-style `Ready`, `Reconciling`, `Stalled`) and the pure merge
//! that turns the conditions a reconcile wants into the `status.conditions` list to write.
//!
//! The merge keeps `lastTransitionTime` while a condition's status is unchanged, so that time
//! means "when it last flipped". It takes the clock as an argument and never reads it; it does
//! not decide which conditions to set (the controller does).

use std::fmt;

use chrono::{DateTime, Utc};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;

use super::reason::Reason;

/// The condition types this operator writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConditionType {
    /// The resource is in the declared state (`True`) or not (`False`).
    Ready,
    /// The operator is working towards the declared state.
    Reconciling,
    /// The operator cannot make progress without a change from the user.
    Stalled,
}

impl ConditionType {
    /// Every condition type, in the order they are written.
    pub const ALL: &'static [ConditionType] = &[
        ConditionType::Ready,
        ConditionType::Reconciling,
        ConditionType::Stalled,
    ];

    /// The wire spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            ConditionType::Ready => "Ready",
            ConditionType::Reconciling => "Reconciling",
            ConditionType::Stalled => "Stalled",
        }
    }
}

impl fmt::Display for ConditionType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A condition's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConditionStatus {
    /// The condition holds.
    True,
    /// The condition does not hold.
    False,
    /// Not known yet.
    Unknown,
}

impl ConditionStatus {
    /// The wire spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            ConditionStatus::True => "True",
            ConditionStatus::False => "False",
            ConditionStatus::Unknown => "Unknown",
        }
    }

    /// `True` when `value` holds, else `False`.
    pub const fn from_bool(value: bool) -> Self {
        if value {
            ConditionStatus::True
        } else {
            ConditionStatus::False
        }
    }
}

/// A condition as a reconcile wants it, before times and generations are filled in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DesiredCondition {
    /// Which condition.
    pub type_: ConditionType,
    /// Its status.
    pub status: ConditionStatus,
    /// Why, as a typed reason.
    pub reason: Reason,
    /// A sentence for humans. Must never contain a token.
    pub message: String,
}

impl DesiredCondition {
    /// A condition with all parts given.
    pub fn new(
        type_: ConditionType,
        status: ConditionStatus,
        reason: Reason,
        message: impl Into<String>,
    ) -> Self {
        Self {
            type_,
            status,
            reason,
            message: message.into(),
        }
    }
}

/// The condition of `type_` in `conditions`, if present.
pub fn find_condition(conditions: &[Condition], type_: ConditionType) -> Option<&Condition> {
    conditions
        .iter()
        .find(|condition| condition.type_ == type_.as_str())
}

/// Whether the condition of `type_` is present with `status`.
pub fn has_status(conditions: &[Condition], type_: ConditionType, status: ConditionStatus) -> bool {
    find_condition(conditions, type_).is_some_and(|condition| condition.status == status.as_str())
}

/// Builds the condition list to write: exactly the `desired` conditions (later entries of one
/// type win), each stamped with `observed_generation`. A condition whose status is unchanged
/// keeps its `lastTransitionTime`; a new or flipped one gets `now`. Conditions of types not in
/// `desired` are dropped, since the reconcile computes the complete set.
pub fn merge_conditions(
    existing: &[Condition],
    desired: &[DesiredCondition],
    observed_generation: Option<i64>,
    now: DateTime<Utc>,
) -> Vec<Condition> {
    let mut merged: Vec<Condition> = Vec::with_capacity(desired.len());
    for want in desired {
        let last_transition_time = match find_condition(existing, want.type_) {
            Some(previous) if previous.status == want.status.as_str() => {
                previous.last_transition_time.clone()
            }
            _ => to_time(now),
        };
        let condition = Condition {
            type_: want.type_.as_str().to_owned(),
            status: want.status.as_str().to_owned(),
            reason: want.reason.as_str().to_owned(),
            message: want.message.clone(),
            observed_generation,
            last_transition_time,
        };
        match merged.iter_mut().find(|c| c.type_ == condition.type_) {
            Some(slot) => *slot = condition,
            None => merged.push(condition),
        }
    }
    merged
}

/// Converts a chrono instant to a Kubernetes `Time` (whole seconds, as Kubernetes stores it),
/// clamped to the range Kubernetes can represent.
pub fn to_time(instant: DateTime<Utc>) -> Time {
    let seconds = instant
        .timestamp()
        .clamp(Timestamp::MIN.as_second(), Timestamp::MAX.as_second());
    Time(Timestamp::from_second(seconds).unwrap_or(Timestamp::UNIX_EPOCH))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 1, 1, hour, 0, 0)
            .single()
            .expect("valid test time")
    }

    fn ready(status: ConditionStatus, reason: Reason, message: &str) -> DesiredCondition {
        DesiredCondition::new(ConditionType::Ready, status, reason, message)
    }

    #[test]
    fn new_condition_gets_now_and_generation() {
        let merged = merge_conditions(
            &[],
            &[ready(ConditionStatus::True, Reason::Ready, "ok")],
            Some(3),
            at(1),
        );
        assert_eq!(merged.len(), 1);
        assert_eq!(merged[0].type_, "Ready");
        assert_eq!(merged[0].status, "True");
        assert_eq!(merged[0].reason, "Ready");
        assert_eq!(merged[0].message, "ok");
        assert_eq!(merged[0].observed_generation, Some(3));
        assert_eq!(merged[0].last_transition_time, to_time(at(1)));
    }

    #[test]
    fn unchanged_status_keeps_last_transition_time_even_when_reason_changes() {
        let first = merge_conditions(
            &[],
            &[ready(ConditionStatus::False, Reason::Creating, "a")],
            Some(1),
            at(1),
        );
        let second = merge_conditions(
            &first,
            &[ready(ConditionStatus::False, Reason::QuotaExceeded, "b")],
            Some(2),
            at(2),
        );
        assert_eq!(second[0].last_transition_time, to_time(at(1)));
        assert_eq!(second[0].reason, "QuotaExceeded");
        assert_eq!(second[0].message, "b");
        assert_eq!(second[0].observed_generation, Some(2));
    }

    #[test]
    fn flipped_status_gets_a_new_transition_time() {
        let first = merge_conditions(
            &[],
            &[ready(ConditionStatus::False, Reason::Creating, "")],
            None,
            at(1),
        );
        let second = merge_conditions(
            &first,
            &[ready(ConditionStatus::True, Reason::Ready, "")],
            None,
            at(2),
        );
        assert_eq!(second[0].last_transition_time, to_time(at(2)));
    }

    #[test]
    fn conditions_not_desired_are_dropped_and_order_follows_desired() {
        let first = merge_conditions(
            &[],
            &[
                ready(ConditionStatus::False, Reason::Rotating, ""),
                DesiredCondition::new(
                    ConditionType::Reconciling,
                    ConditionStatus::True,
                    Reason::Rotating,
                    "",
                ),
            ],
            None,
            at(1),
        );
        let second = merge_conditions(
            &first,
            &[ready(ConditionStatus::True, Reason::Ready, "")],
            None,
            at(2),
        );
        assert_eq!(second.len(), 1);
        assert!(find_condition(&second, ConditionType::Reconciling).is_none());
        assert!(has_status(&second, ConditionType::Ready, ConditionStatus::True));
    }

    #[test]
    fn a_later_desired_entry_of_the_same_type_wins() {
        let merged = merge_conditions(
            &[],
            &[
                ready(ConditionStatus::False, Reason::Creating, "first"),
                ready(ConditionStatus::True, Reason::Ready, "second"),
            ],
            None,
            at(1),
        );
        assert_eq!(merged.len(), 1);
        assert_eq!(merged[0].message, "second");
    }

    #[test]
    fn has_status_distinguishes_status_and_absence() {
        let merged = merge_conditions(
            &[],
            &[DesiredCondition::new(
                ConditionType::Stalled,
                ConditionStatus::True,
                Reason::InvalidSchedule,
                "",
            )],
            None,
            at(1),
        );
        assert!(has_status(&merged, ConditionType::Stalled, ConditionStatus::True));
        assert!(!has_status(
            &merged,
            ConditionType::Stalled,
            ConditionStatus::False
        ));
        assert!(!has_status(&merged, ConditionType::Ready, ConditionStatus::True));
    }

    #[test]
    fn time_conversion_drops_subseconds_and_serializes_rfc3339() {
        let instant = Utc
            .with_ymd_and_hms(2025, 3, 30, 1, 2, 3)
            .single()
            .expect("valid")
            + chrono::Duration::milliseconds(456);
        let json = serde_json::to_string(&to_time(instant)).expect("serializes");
        assert_eq!(json, "\"2025-03-30T01:02:03Z\"");
    }

    #[test]
    fn wire_spellings() {
        assert_eq!(
            ConditionType::ALL.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
            ["Ready", "Reconciling", "Stalled"]
        );
        assert_eq!(ConditionStatus::from_bool(true).as_str(), "True");
        assert_eq!(ConditionStatus::from_bool(false).as_str(), "False");
        assert_eq!(ConditionStatus::Unknown.as_str(), "Unknown");
    }
}
