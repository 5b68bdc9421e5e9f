//! Go-style duration strings (`336h`, `90m`, `1h30m`, `1.5h`) as written in CRD fields.
//!
//! Accepts exactly what the CRD's CEL rules accept (`^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$`,
//! then CEL `duration()`), so a value admitted by the API server always parses here. Pure; it
//! must not know about rotation policy (minimums live with the rules and the schedule module).

use std::time::Duration;

/// The longest duration Go (and so Kubernetes CEL) can represent: `i64::MAX` nanoseconds.
const MAX_NANOS: u128 = i64::MAX as u128;

/// Why a duration string was refused. Messages are user-facing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// Nothing to parse.
    #[error("duration is empty; use a value such as 336h, 90m or 1h30m")]
    Empty,
    /// Not of the form number + unit, repeated.
    #[error("{input:?} is not a duration; use a value such as 336h, 90m or 1h30m")]
    Malformed {
        /// The rejected text.
        input: String,
    },
    /// A number without a unit, or an unknown unit.
    #[error("{input:?} has a missing or unknown unit; use h, m, s, ms, us or ns, such as 336h or 1h30m")]
    BadUnit {
        /// The rejected text.
        input: String,
    },
    /// Longer than Go's maximum duration (about 292 years).
    #[error("{input:?} is too long a duration")]
    Overflow {
        /// The rejected text.
        input: String,
    },
}

/// Parses a Go-style duration such as `336h`, `90m`, `1h30m` or `1.5h`.
///
/// No sign, no spaces, no day unit: the same language the API server admits.
pub fn parse_go_duration(input: &str) -> Result<Duration, DurationError> {
    if input.is_empty() {
        return Err(DurationError::Empty);
    }
    let mut rest = input;
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let (whole, after_whole) = split_digits(rest);
        if whole.is_empty() {
            return Err(DurationError::Malformed {
                input: input.to_owned(),
            });
        }
        let (fraction, after_number) = match after_whole.strip_prefix('.') {
            Some(after_dot) => {
                let (fraction, after_fraction) = split_digits(after_dot);
                if fraction.is_empty() {
                    return Err(DurationError::Malformed {
                        input: input.to_owned(),
                    });
                }
                (fraction, after_fraction)
            }
            None => ("", after_whole),
        };
        let (unit_nanos, after_unit) = split_unit(after_number).ok_or_else(|| DurationError::BadUnit {
            input: input.to_owned(),
        })?;
        let overflow = || DurationError::Overflow {
            input: input.to_owned(),
        };
        let term = term_nanos(whole, fraction, unit_nanos).ok_or_else(overflow)?;
        total = total
            .checked_add(term)
            .filter(|t| *t <= MAX_NANOS)
            .ok_or_else(overflow)?;
        rest = after_unit;
    }
    // MAX_NANOS fits in u64, and `total` never exceeds it.
    let nanos = u64::try_from(total).map_err(|_| DurationError::Overflow {
        input: input.to_owned(),
    })?;
    Ok(Duration::from_nanos(nanos))
}

/// Splits leading ASCII digits from the rest.
fn split_digits(text: &str) -> (&str, &str) {
    let end = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    text.split_at(end)
}

/// Recognises a unit at the start of `text`, returning its length in nanoseconds.
fn split_unit(text: &str) -> Option<(u128, &str)> {
    // Two-letter units first so that `ms` is not read as `m` followed by `s`.
    const UNITS: [(&str, u128); 6] = [
        ("ns", 1),
        ("us", 1_000),
        ("ms", 1_000_000),
        ("h", 3_600_000_000_000),
        ("m", 60_000_000_000),
        ("s", 1_000_000_000),
    ];
    UNITS
        .iter()
        .find_map(|(name, nanos)| text.strip_prefix(name).map(|rest| (*nanos, rest)))
}

/// `whole.fraction` units in nanoseconds, truncating below one nanosecond like Go.
fn term_nanos(whole: &str, fraction: &str, unit_nanos: u128) -> Option<u128> {
    let whole_value = parse_bounded(whole)?;
    let mut nanos = whole_value.checked_mul(unit_nanos)?;
    if !fraction.is_empty() {
        // Digits past the 20th cannot change the result by a nanosecond for any unit up to hours.
        let significant = &fraction[..fraction.len().min(20)];
        let numerator = parse_bounded(significant)?;
        let denominator = 10u128.checked_pow(u32::try_from(significant.len()).ok()?)?;
        nanos = nanos.checked_add(numerator.checked_mul(unit_nanos)? / denominator)?;
    }
    Some(nanos)
}

/// Parses a run of digits, refusing values beyond what any valid duration could use.
fn parse_bounded(digits: &str) -> Option<u128> {
    digits
        .bytes()
        .try_fold(0u128, |acc, digit| {
            acc.checked_mul(10)?.checked_add(u128::from(digit - b'0'))
        })
        .filter(|value| *value <= MAX_NANOS.saturating_mul(1_000))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn parses_single_unit_durations() {
        assert_eq!(parse_go_duration("336h"), Ok(secs(336 * 3600)));
        assert_eq!(parse_go_duration("90m"), Ok(secs(90 * 60)));
        assert_eq!(parse_go_duration("45s"), Ok(secs(45)));
        assert_eq!(parse_go_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_go_duration("7us"), Ok(Duration::from_micros(7)));
        assert_eq!(parse_go_duration("3ns"), Ok(Duration::from_nanos(3)));
        assert_eq!(parse_go_duration("0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn parses_compound_and_fractional_durations() {
        assert_eq!(parse_go_duration("1h30m"), Ok(secs(5400)));
        assert_eq!(parse_go_duration("1h30m15s"), Ok(secs(5415)));
        assert_eq!(parse_go_duration("1.5h"), Ok(secs(5400)));
        assert_eq!(parse_go_duration("0.25m"), Ok(secs(15)));
        assert_eq!(parse_go_duration("1m1ms"), Ok(Duration::from_millis(60_001)));
    }

    #[test]
    fn refuses_what_the_api_server_refuses() {
        for bad in [
            "10", "h", "1d", "-1h", "+1h", " 1h", "1h ", "1 h", "1.h", ".5h", "1h30", "1H", "1µs",
        ] {
            assert!(parse_go_duration(bad).is_err(), "{bad:?} should be refused");
        }
        assert_eq!(parse_go_duration(""), Err(DurationError::Empty));
    }

    #[test]
    fn names_the_unit_problem() {
        assert!(matches!(
            parse_go_duration("5d"),
            Err(DurationError::BadUnit { .. })
        ));
        assert!(matches!(
            parse_go_duration("5"),
            Err(DurationError::BadUnit { .. })
        ));
    }

    #[test]
    fn refuses_durations_beyond_go_range() {
        // Go's maximum is 2562047h47m16.854775807s.
        assert!(parse_go_duration("2562047h").is_ok());
        assert!(matches!(
            parse_go_duration("2562048h"),
            Err(DurationError::Overflow { .. })
        ));
        assert!(matches!(
            parse_go_duration("99999999999999999999999999999999h"),
            Err(DurationError::Overflow { .. })
        ));
    }

    #[test]
    fn error_message_quotes_the_input_and_gives_an_example() {
        let message = parse_go_duration("2 weeks").unwrap_err().to_string();
        assert!(message.contains("\"2 weeks\""), "{message}");
        assert!(message.contains("336h"), "{message}");
    }
}
