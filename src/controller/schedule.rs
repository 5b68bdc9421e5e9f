//! Rotation schedules: turns `spec.rotation` into a [`Schedule`] and computes when the next
//! rotation is due, with a deterministic per-object jitter.
//!
//! Pure: the caller passes the times (`last_rotation`, `now`) and the jitter seed (the object's
//! UID). This module must not read the clock, do I/O, or decide anything beyond "when".
//!
//! Jitter, so that credentials created or scheduled together do not all rotate at once:
//! - interval: next = last + interval + j, with j in `[0, min(5% of interval, 1h))`;
//! - cron: next = the first cron time strictly after `last` (in the time zone) + j, with j in
//!   `[0, min(5% of the gap to the cron time after it, 5min))`, so a jittered rotation never
//!   reaches the following cron time.
//!
//! j is the same fraction of its bound for a given seed (from SHA-256 of the seed), so an object
//! keeps its slot across restarts and replicas, and different objects spread out.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use sha2::{Digest, Sha256};

use crate::api::Rotation;
use crate::api::duration::{DurationError, parse_go_duration};

/// Shortest interval admitted (the CRD enforces the same).
pub const MIN_INTERVAL: Duration = Duration::from_secs(3600);
/// Largest jitter added to an interval schedule.
pub const INTERVAL_JITTER_MAX: Duration = Duration::from_secs(3600);
/// Largest jitter added to a cron schedule.
pub const CRON_JITTER_MAX: Duration = Duration::from_secs(5 * 60);
/// Jitter is at most 1/20 (5%) of the period.
const JITTER_DIVISOR: u32 = 20;

/// Why a rotation block cannot be turned into a schedule. Messages are user-facing (they go
/// into the `InvalidSchedule` condition).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// `interval` is not a duration.
    #[error("rotation.interval: {0}")]
    InvalidInterval(#[source] DurationError),
    /// `interval` is below [`MIN_INTERVAL`].
    #[error("rotation.interval {interval:?} is shorter than the minimum of 1h")]
    IntervalTooShort {
        /// The declared interval.
        interval: String,
    },
    /// Both `interval` and `schedule` are set.
    #[error("rotation: set exactly one of interval or schedule")]
    IntervalAndSchedule,
    /// `timeZone` is set without `schedule`.
    #[error("rotation: timeZone can only be set together with schedule")]
    TimeZoneWithoutSchedule,
    /// `schedule` is not a 5-field cron expression.
    #[error("rotation.schedule {expr:?} is not a valid 5-field cron expression: {detail}")]
    InvalidCron {
        /// The declared expression.
        expr: String,
        /// What is wrong with it.
        detail: String,
    },
    /// `timeZone` is not in the time zone database.
    #[error("rotation.timeZone {tz:?} is not a known IANA time zone such as Europe/Berlin or UTC")]
    UnknownTimeZone {
        /// The declared time zone.
        tz: String,
    },
    /// `schedule` matches no time (such as the 30th of February).
    #[error("rotation.schedule {expr:?} never fires")]
    NeverFires {
        /// The declared expression.
        expr: String,
    },
    /// The next rotation lies beyond the representable time range.
    #[error("the next rotation time is out of range")]
    OutOfRange,
}

/// A parsed 5-field cron expression, with the text it came from.
#[derive(Clone, PartialEq, Eq)]
pub struct CronExpr {
    source: String,
    // Boxed: a parsed pattern is large and a `Schedule` is passed around by value.
    cron: Box<Cron>,
}

impl CronExpr {
    /// Parses a 5-field cron expression (minute hour day-of-month month day-of-week).
    pub fn parse(expr: &str) -> Result<Self, ScheduleError> {
        let invalid = |detail: String| ScheduleError::InvalidCron {
            expr: expr.to_owned(),
            detail,
        };
        let fields = expr.split_whitespace().count();
        if fields != 5 {
            return Err(invalid(format!("expected 5 fields, found {fields}")));
        }
        let cron = CronParser::builder()
            .seconds(Seconds::Disallowed)
            .year(Year::Disallowed)
            .build()
            .parse(expr)
            .map_err(|err| invalid(err.to_string()))?;
        Ok(Self {
            source: expr.to_owned(),
            cron: Box::new(cron),
        })
    }

    /// The expression as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The first matching instant strictly after `after`, in `tz`.
    fn next_after(&self, after: DateTime<Tz>) -> Result<DateTime<Tz>, ScheduleError> {
        self.cron
            .find_next_occurrence(&after, false)
            .map_err(|_| ScheduleError::NeverFires {
                expr: self.source.clone(),
            })
    }
}

impl fmt::Debug for CronExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CronExpr").field(&self.source).finish()
    }
}

/// When a credential rotates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Schedule {
    /// A fixed time after the previous rotation.
    Interval(Duration),
    /// At the times of a cron expression in a time zone.
    Cron {
        /// The expression.
        expr: CronExpr,
        /// The time zone its wall-clock times are in.
        tz: Tz,
    },
}

impl Schedule {
    /// The schedule declared by a rotation block; `None` when it declares neither `interval` nor
    /// `schedule` (admission refuses that, so it only happens if validation was bypassed).
    pub fn from_rotation(rotation: &Rotation) -> Result<Option<Schedule>, ScheduleError> {
        match (rotation.interval.as_deref(), rotation.schedule.as_deref()) {
            (Some(_), Some(_)) => Err(ScheduleError::IntervalAndSchedule),
            (Some(_), None) | (None, None) if rotation.time_zone.is_some() => {
                Err(ScheduleError::TimeZoneWithoutSchedule)
            }
            (None, None) => Ok(None),
            (Some(interval), None) => {
                let duration = parse_interval(interval)?;
                if duration < MIN_INTERVAL {
                    return Err(ScheduleError::IntervalTooShort {
                        interval: interval.to_owned(),
                    });
                }
                Ok(Some(Schedule::Interval(duration)))
            }
            (None, Some(expr)) => {
                let tz = parse_time_zone(rotation.time_zone.as_deref())?;
                let expr = CronExpr::parse(expr)?;
                // A pattern that matches nothing (30 February) is refused now rather than at
                // every reconcile.
                expr.next_after(reference_instant().with_timezone(&tz))?;
                Ok(Some(Schedule::Cron { expr, tz }))
            }
        }
    }
}

/// Parses a Go-style interval such as `336h`, `90m` or `1h30m` (no minimum applied).
pub fn parse_interval(text: &str) -> Result<Duration, ScheduleError> {
    parse_go_duration(text).map_err(ScheduleError::InvalidInterval)
}

/// The time zone named by `timeZone`, UTC when absent.
fn parse_time_zone(name: Option<&str>) -> Result<Tz, ScheduleError> {
    match name {
        None => Ok(Tz::UTC),
        Some(name) => name
            .parse::<Tz>()
            .map_err(|_| ScheduleError::UnknownTimeZone { tz: name.to_owned() }),
    }
}

/// A fixed instant from which a new cron expression is probed once.
fn reference_instant() -> DateTime<Utc> {
    DateTime::<Utc>::UNIX_EPOCH
}

/// When the rotation after one at `last_rotation` is due, jittered by `jitter_seed` (the
/// object's UID). See the module docs for the jitter bounds.
pub fn next_rotation(
    schedule: &Schedule,
    last_rotation: DateTime<Utc>,
    jitter_seed: &str,
) -> Result<DateTime<Utc>, ScheduleError> {
    match schedule {
        Schedule::Interval(interval) => {
            let bound = (*interval / JITTER_DIVISOR).min(INTERVAL_JITTER_MAX);
            add(last_rotation, interval.saturating_add(jitter(bound, jitter_seed)))
        }
        Schedule::Cron { expr, tz } => {
            let next = expr.next_after(last_rotation.with_timezone(tz))?;
            let following = expr.next_after(next)?;
            let gap = (following.with_timezone(&Utc) - next.with_timezone(&Utc))
                .to_std()
                .unwrap_or(Duration::ZERO);
            let bound = (gap / JITTER_DIVISOR).min(CRON_JITTER_MAX);
            add(next.with_timezone(&Utc), jitter(bound, jitter_seed))
        }
    }
}

/// Whether a rotation due at `next` is due at `now`.
pub fn is_due(next: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    now >= next
}

/// How long from `now` until `next`; zero when already due. For requeueing.
pub fn time_until(next: DateTime<Utc>, now: DateTime<Utc>) -> Duration {
    (next - now).to_std().unwrap_or(Duration::ZERO)
}

/// The deterministic jitter for `seed`: the same fraction in `[0, 1)` of any `bound`.
pub fn jitter(bound: Duration, seed: &str) -> Duration {
    let digest = Sha256::digest(seed.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    let fraction = u128::from(u64::from_be_bytes(first));
    // bound * fraction / 2^64: strictly below `bound`, exact in integers.
    let nanos = (bound.as_nanos().saturating_mul(fraction)) >> 64;
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

fn add<T: TimeZone>(instant: DateTime<T>, by: Duration) -> Result<DateTime<T>, ScheduleError> {
    let by = chrono::Duration::from_std(by).map_err(|_| ScheduleError::OutOfRange)?;
    instant.checked_add_signed(by).ok_or(ScheduleError::OutOfRange)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::RotationStrategy;

    const SEED: &str = "6f1c2a9e-3b7d-4c1e-9a55-0d2b8c7e4f10";

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s)
            .single()
            .expect("valid test time")
    }

    fn interval(text: &str) -> Rotation {
        Rotation {
            interval: Some(text.into()),
            ..Rotation::default()
        }
    }

    fn cron(expr: &str, tz: Option<&str>) -> Rotation {
        Rotation {
            schedule: Some(expr.into()),
            time_zone: tz.map(Into::into),
            ..Rotation::default()
        }
    }

    fn schedule_of(rotation: &Rotation) -> Schedule {
        Schedule::from_rotation(rotation)
            .expect("valid")
            .expect("present")
    }

    /// Asserts `actual` lies in `[base, base + bound)`.
    fn assert_within(actual: DateTime<Utc>, base: DateTime<Utc>, bound: Duration) {
        let offset = (actual - base)
            .to_std()
            .unwrap_or_else(|_| panic!("{actual} is before {base}"));
        assert!(
            offset < bound,
            "{actual} is {offset:?} after {base}, bound {bound:?}"
        );
    }

    #[test]
    fn parse_interval_accepts_go_durations() {
        assert_eq!(parse_interval("336h"), Ok(Duration::from_secs(336 * 3600)));
        assert_eq!(parse_interval("90m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_interval("1h30m"), Ok(Duration::from_secs(5400)));
        for bad in ["", "2w", "1d", "-1h", "336"] {
            assert!(
                matches!(parse_interval(bad), Err(ScheduleError::InvalidInterval(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn interval_rotation_becomes_an_interval_schedule() {
        assert_eq!(
            schedule_of(&interval("336h")),
            Schedule::Interval(Duration::from_secs(336 * 3600))
        );
        assert_eq!(schedule_of(&interval("1h")), Schedule::Interval(MIN_INTERVAL));
    }

    #[test]
    fn interval_below_one_hour_is_refused() {
        assert_eq!(
            Schedule::from_rotation(&interval("59m")),
            Err(ScheduleError::IntervalTooShort {
                interval: "59m".into()
            })
        );
    }

    #[test]
    fn interval_and_schedule_together_are_refused() {
        let rotation = Rotation {
            interval: Some("2h".into()),
            schedule: Some("0 3 * * *".into()),
            ..Rotation::default()
        };
        assert_eq!(
            Schedule::from_rotation(&rotation),
            Err(ScheduleError::IntervalAndSchedule)
        );
    }

    #[test]
    fn time_zone_without_schedule_is_refused() {
        let with_interval = Rotation {
            time_zone: Some("UTC".into()),
            ..interval("2h")
        };
        assert_eq!(
            Schedule::from_rotation(&with_interval),
            Err(ScheduleError::TimeZoneWithoutSchedule)
        );
        let alone = Rotation {
            time_zone: Some("UTC".into()),
            ..Rotation::default()
        };
        assert_eq!(
            Schedule::from_rotation(&alone),
            Err(ScheduleError::TimeZoneWithoutSchedule)
        );
    }

    #[test]
    fn empty_rotation_means_no_schedule() {
        let rotation = Rotation {
            strategy: RotationStrategy::Replace,
            ..Rotation::default()
        };
        assert_eq!(Schedule::from_rotation(&rotation), Ok(None));
    }

    #[test]
    fn cron_defaults_to_utc_and_keeps_its_text() {
        match schedule_of(&cron("0 3 * * 0", None)) {
            Schedule::Cron { expr, tz } => {
                assert_eq!(tz, Tz::UTC);
                assert_eq!(expr.as_str(), "0 3 * * 0");
                assert_eq!(format!("{expr:?}"), "CronExpr(\"0 3 * * 0\")");
            }
            other => panic!("expected a cron schedule, got {other:?}"),
        }
    }

    #[test]
    fn invalid_cron_expressions_are_refused_with_the_expression_named() {
        for bad in [
            "61 * * * *",
            "* 24 * * *",
            "* * * *",
            "0 0 3 * * 0",
            "@daily",
            "every day",
            "",
            "*/0 * * * *",
        ] {
            match Schedule::from_rotation(&cron(bad, None)) {
                Err(ScheduleError::InvalidCron { expr, .. }) => assert_eq!(expr, bad),
                other => panic!("{bad:?} gave {other:?}"),
            }
        }
        let message = Schedule::from_rotation(&cron("* * * *", None))
            .unwrap_err()
            .to_string();
        assert!(message.contains("expected 5 fields, found 4"), "{message}");
    }

    #[test]
    fn unknown_time_zone_is_refused() {
        assert_eq!(
            Schedule::from_rotation(&cron("0 3 * * *", Some("Mars/Olympus_Mons"))),
            Err(ScheduleError::UnknownTimeZone {
                tz: "Mars/Olympus_Mons".into()
            })
        );
        let message = ScheduleError::UnknownTimeZone { tz: "X".into() }.to_string();
        assert!(message.contains("Europe/Berlin"), "{message}");
    }

    #[test]
    fn cron_that_never_fires_is_refused() {
        assert_eq!(
            Schedule::from_rotation(&cron("0 0 30 2 *", None)),
            Err(ScheduleError::NeverFires {
                expr: "0 0 30 2 *".into()
            })
        );
    }

    #[test]
    fn interval_next_rotation_is_interval_plus_bounded_jitter() {
        let last = utc(2025, 1, 1, 0, 0, 0);
        let two_weeks = schedule_of(&interval("336h"));
        let next = next_rotation(&two_weeks, last, SEED).expect("computes");
        assert_within(next, last + chrono::Duration::hours(336), INTERVAL_JITTER_MAX);

        // 5% of one hour is three minutes, below the one-hour cap.
        let hourly = schedule_of(&interval("1h"));
        let next = next_rotation(&hourly, last, SEED).expect("computes");
        assert_within(next, last + chrono::Duration::hours(1), Duration::from_secs(180));
    }

    #[test]
    fn jitter_is_deterministic_per_seed() {
        let schedule = schedule_of(&interval("336h"));
        let last = utc(2025, 1, 1, 0, 0, 0);
        let first = next_rotation(&schedule, last, SEED).expect("computes");
        let again = next_rotation(&schedule, last, SEED).expect("computes");
        assert_eq!(first, again);
        assert_eq!(
            jitter(Duration::from_secs(3600), SEED),
            jitter(Duration::from_secs(3600), SEED)
        );
    }

    #[test]
    fn jitter_spreads_objects_created_together() {
        let schedule = schedule_of(&interval("336h"));
        let last = utc(2025, 1, 1, 0, 0, 0);
        let base = last + chrono::Duration::hours(336);
        let offsets: Vec<i64> = (0..200)
            .map(|i| {
                let next = next_rotation(&schedule, last, &format!("uid-{i}")).expect("computes");
                (next - base).num_seconds()
            })
            .collect();
        let distinct: std::collections::BTreeSet<i64> = offsets.iter().copied().collect();
        assert!(distinct.len() > 190, "only {} distinct slots", distinct.len());
        // Each quarter of the jitter window gets a fair share (expected 50 each).
        for quarter in 0..4 {
            let in_quarter = offsets.iter().filter(|o| **o / 900 == quarter).count();
            assert!(
                (25..=75).contains(&in_quarter),
                "quarter {quarter} has {in_quarter}"
            );
        }
    }

    #[test]
    fn jitter_is_below_its_bound_and_zero_for_a_zero_bound() {
        for i in 0..100 {
            let seed = format!("seed-{i}");
            assert!(jitter(Duration::from_secs(60), &seed) < Duration::from_secs(60));
            assert_eq!(jitter(Duration::ZERO, &seed), Duration::ZERO);
        }
    }

    #[test]
    fn weekly_cron_runs_next_sunday_with_at_most_five_minutes_jitter() {
        let schedule = schedule_of(&cron("0 3 * * 0", None));
        // Wednesday 2025-01-01 -> Sunday 2025-01-05 03:00 UTC.
        let next = next_rotation(&schedule, utc(2025, 1, 1, 12, 0, 0), SEED).expect("computes");
        assert_within(next, utc(2025, 1, 5, 3, 0, 0), CRON_JITTER_MAX);
    }

    #[test]
    fn cron_next_is_strictly_after_the_last_rotation() {
        let schedule = schedule_of(&cron("0 3 * * 0", None));
        let next = next_rotation(&schedule, utc(2025, 1, 5, 3, 0, 0), SEED).expect("computes");
        assert_within(next, utc(2025, 1, 12, 3, 0, 0), CRON_JITTER_MAX);
        // A rotation that ran late within its jitter window still moves on to the next week.
        let next = next_rotation(&schedule, utc(2025, 1, 5, 3, 4, 0), SEED).expect("computes");
        assert_within(next, utc(2025, 1, 12, 3, 0, 0), CRON_JITTER_MAX);
    }

    #[test]
    fn cron_jitter_stays_within_five_percent_of_a_short_gap() {
        // Every minute: the gap is 60s, so jitter stays below 3s and never reaches the next run.
        let schedule = schedule_of(&cron("* * * * *", None));
        for i in 0..50 {
            let next =
                next_rotation(&schedule, utc(2025, 1, 1, 0, 0, 30), &format!("uid-{i}")).expect("computes");
            assert_within(next, utc(2025, 1, 1, 0, 1, 0), Duration::from_secs(3));
        }
    }

    #[test]
    fn cron_in_a_time_zone_uses_local_wall_clock() {
        // 03:00 in Berlin during winter time (UTC+1) is 02:00 UTC.
        let schedule = schedule_of(&cron("0 3 * * *", Some("Europe/Berlin")));
        let next = next_rotation(&schedule, utc(2025, 1, 10, 12, 0, 0), SEED).expect("computes");
        assert_within(next, utc(2025, 1, 11, 2, 0, 0), CRON_JITTER_MAX);
    }

    #[test]
    fn cron_time_skipped_by_spring_forward_runs_once_right_after_the_gap() {
        // Berlin, 2025-03-30: 02:00 CET jumps to 03:00 CEST, so 02:30 does not exist that day.
        let schedule = schedule_of(&cron("30 2 * * *", Some("Europe/Berlin")));
        let day_before = utc(2025, 3, 29, 1, 30, 0); // 02:30 CET on the 29th
        let next = next_rotation(&schedule, day_before, SEED).expect("computes");
        // First instant after the gap: 03:00 CEST = 01:00 UTC.
        assert_within(next, utc(2025, 3, 30, 1, 0, 0), CRON_JITTER_MAX);
        // And the day after, back to 02:30 CEST = 00:30 UTC.
        let after = next_rotation(&schedule, next, SEED).expect("computes");
        assert_within(after, utc(2025, 3, 31, 0, 30, 0), CRON_JITTER_MAX);
    }

    #[test]
    fn cron_time_repeated_by_fall_back_runs_only_once() {
        // Berlin, 2025-10-26: 03:00 CEST falls back to 02:00 CET, so 02:30 happens twice
        // (00:30 UTC and 01:30 UTC). A daily job runs at the first one only.
        let schedule = schedule_of(&cron("30 2 * * *", Some("Europe/Berlin")));
        let next = next_rotation(&schedule, utc(2025, 10, 25, 12, 0, 0), SEED).expect("computes");
        assert_within(next, utc(2025, 10, 26, 0, 30, 0), CRON_JITTER_MAX);
        let after = next_rotation(&schedule, next, SEED).expect("computes");
        assert_within(after, utc(2025, 10, 27, 1, 30, 0), CRON_JITTER_MAX);
    }

    #[test]
    fn leap_day_cron_waits_for_the_next_leap_year() {
        let schedule = schedule_of(&cron("0 0 29 2 *", None));
        let next = next_rotation(&schedule, utc(2025, 3, 1, 0, 0, 0), SEED).expect("computes");
        assert_within(next, utc(2028, 2, 29, 0, 0, 0), CRON_JITTER_MAX);
    }

    #[test]
    fn interval_past_the_end_of_time_is_out_of_range() {
        let schedule = Schedule::Interval(Duration::from_secs(3600));
        assert_eq!(
            next_rotation(&schedule, DateTime::<Utc>::MAX_UTC, SEED),
            Err(ScheduleError::OutOfRange)
        );
    }

    #[test]
    fn due_exactly_at_and_after_next() {
        let next = utc(2025, 1, 1, 0, 0, 0);
        assert!(!is_due(next, next - chrono::Duration::seconds(1)));
        assert!(is_due(next, next));
        assert!(is_due(next, next + chrono::Duration::seconds(1)));
    }

    #[test]
    fn time_until_counts_down_to_zero() {
        let next = utc(2025, 1, 1, 0, 0, 0);
        assert_eq!(
            time_until(next, next - chrono::Duration::seconds(90)),
            Duration::from_secs(90)
        );
        assert_eq!(time_until(next, next), Duration::ZERO);
        assert_eq!(
            time_until(next, next + chrono::Duration::seconds(5)),
            Duration::ZERO
        );
    }
}
