//! Turns a non-2xx response or a transport failure into a typed [`Error`].
//!
//! Owns status → variant mapping, `ISSUES` parsing, `Retry-After` parsing, and redaction of error
//! text. Pure functions only; it must not perform requests or decide about retries.

use std::time::Duration;

use super::error::{Error, Issue};
use super::operation::Operation;
use super::token::AuthToken;
use super::wire::IssuesJson;

/// Longest error message kept from a response body, in characters (the ellipsis included): it
/// reaches status conditions and Events, and the server may be any server a tenant chose.
pub const MAX_MESSAGE_CHARS: usize = 256;

/// Longest error code kept (real codes are short identifiers).
const MAX_CODE_CHARS: usize = 64;

/// Code fragment by which a 400 is recognised as the per-owner credential limit
/// (`SECURITY_API_CREDENTIALS_LIMIT` in the emulator, docs/controlhub-api.md §10).
const LIMIT_CODE_FRAGMENT: &str = "LIMIT";

/// Classifies an error response. `redact` is the caller's token: removed from any echoed text.
pub fn error_from_response(
    operation: Operation,
    status: u16,
    retry_after: Option<&str>,
    body: &[u8],
    redact: Option<&AuthToken>,
) -> Error {
    let issue = first_issue(body, redact);
    match status {
        401 => Error::Unauthorized { operation, issue },
        403 => Error::Forbidden { operation, issue },
        404 => Error::NotFound { operation, issue },
        429 => Error::RateLimited {
            operation,
            retry_after: retry_after.and_then(parse_retry_after),
            issue,
        },
        400 if is_limit_issue(&issue) => Error::QuotaExceeded { operation, issue },
        400..=499 => Error::Invalid {
            operation,
            status,
            issue,
        },
        500..=599 => Error::Unavailable {
            operation,
            status,
            issue,
        },
        _ => Error::UnexpectedStatus {
            operation,
            status,
            issue,
        },
    }
}

/// Classifies a failure of the HTTP exchange itself.
pub fn error_from_transport(operation: Operation, err: reqwest::Error) -> Error {
    if err.is_connect() {
        Error::Transport {
            operation,
            before_send: true,
            source: err.without_url(),
        }
    } else if err.is_timeout() {
        Error::Timeout { operation }
    } else {
        Error::Transport {
            operation,
            before_send: false,
            source: err.without_url(),
        }
    }
}

/// Parses `Retry-After` given in delta-seconds (the form Control Hub and the emulator use).
/// HTTP-date values yield `None`, so the caller falls back to its own backoff.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

fn is_limit_issue(issue: &Option<Issue>) -> bool {
    issue
        .as_ref()
        .and_then(|i| i.code.as_deref())
        .is_some_and(|code| code.contains(LIMIT_CODE_FRAGMENT))
}

/// The first `ISSUES` entry, or the start of a non-JSON body; `None` for an empty body.
fn first_issue(body: &[u8], redact: Option<&AuthToken>) -> Option<Issue> {
    if let Ok(parsed) = serde_json::from_slice::<IssuesJson>(body)
        && let Some(first) = parsed.issues.into_iter().next()
    {
        return Some(Issue {
            code: first.code.map(|c| clean(&c, redact, MAX_CODE_CHARS)),
            message: clean(
                first.message.as_deref().unwrap_or_default(),
                redact,
                MAX_MESSAGE_CHARS,
            ),
        });
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    (!text.is_empty()).then(|| Issue {
        code: None,
        message: clean(text, redact, MAX_MESSAGE_CHARS),
    })
}

/// Removes the token, flattens control characters and truncates to `max` characters (cut on a
/// character boundary, the last one an ellipsis when cut).
fn clean(text: &str, redact: Option<&AuthToken>, max: usize) -> String {
    let text = match redact {
        Some(token) if !token.is_empty() => text.replace(token.expose(), "<redacted>"),
        _ => text.to_string(),
    };
    truncate_chars(&text, max)
}

/// `text` with control characters flattened, at most `max` characters long; a cut text ends with `…`.
pub fn truncate_chars(text: &str, max: usize) -> String {
    let flat = |c: char| if c.is_control() { ' ' } else { c };
    if text.chars().nth(max).is_none() {
        return text.chars().map(flat).collect();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).map(flat).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const OP: Operation = Operation::CreateCredential;

    fn classify(status: u16, body: &str) -> Error {
        error_from_response(OP, status, None, body.as_bytes(), None)
    }

    #[test]
    fn sso_401_is_unauthorized_with_its_issue() {
        let err = classify(
            401,
            r#"{"ISSUES":[{"code":"SSO_01","message":"User not authenticated"}]}"#,
        );
        assert!(matches!(err, Error::Unauthorized { .. }), "{err:?}");
        assert_eq!(err.issue().and_then(|i| i.code.as_deref()), Some("SSO_01"));
        assert_eq!(
            err.issue().map(|i| i.message.as_str()),
            Some("User not authenticated")
        );
    }

    #[test]
    fn statuses_map_to_their_variants() {
        assert!(matches!(classify(403, "{}"), Error::Forbidden { .. }));
        assert!(matches!(classify(404, ""), Error::NotFound { issue: None, .. }));
        assert!(matches!(
            classify(400, r#"{"ISSUES":[{"code":"X","message":"label"}]}"#),
            Error::Invalid { status: 400, .. }
        ));
        assert!(matches!(classify(422, "bad"), Error::Invalid { status: 422, .. }));
        assert!(matches!(
            classify(500, ""),
            Error::Unavailable { status: 500, .. }
        ));
        assert!(matches!(
            classify(503, ""),
            Error::Unavailable { status: 503, .. }
        ));
        assert!(matches!(
            classify(308, ""),
            Error::UnexpectedStatus { status: 308, .. }
        ));
    }

    #[test]
    fn a_400_naming_the_limit_is_quota_exceeded() {
        let body =
            r#"{"ISSUES":[{"code":"SECURITY_API_CREDENTIALS_LIMIT","message":"limit of 10 reached"}]}"#;
        assert!(matches!(classify(400, body), Error::QuotaExceeded { .. }));
    }

    #[test]
    fn rate_limits_carry_retry_after_seconds() {
        let err = error_from_response(OP, 429, Some(" 2 "), b"", None);
        assert_eq!(err.retry_after(), Some(Duration::from_secs(2)));
        let err = error_from_response(OP, 429, Some("Wed, 21 Oct 2015 07:28:00 GMT"), b"", None);
        assert!(matches!(
            err,
            Error::RateLimited {
                retry_after: None,
                ..
            }
        ));
    }

    #[test]
    fn non_json_bodies_become_the_message() {
        let err = classify(502, "<html>Bad gateway</html>");
        let issue = err.issue().unwrap();
        assert_eq!(issue.code, None);
        assert_eq!(issue.message, "<html>Bad gateway</html>");
    }

    #[test]
    fn echoed_tokens_are_redacted_from_messages() {
        let token = AuthToken::new("eyJhbGc.eyJvIjoiMSJ9.");
        let body = format!(
            r#"{{"ISSUES":[{{"code":"SSO_01","message":"bad token {}"}}]}}"#,
            token.expose()
        );
        let err = error_from_response(OP, 401, None, body.as_bytes(), Some(&token));
        for printed in [err.to_string(), format!("{err:?}")] {
            assert!(!printed.contains(token.expose()), "{printed}");
            assert!(printed.contains("<redacted>"));
        }
    }

    #[test]
    fn long_messages_are_truncated() {
        let err = classify(500, &"x".repeat(10_000));
        let message = &err.issue().unwrap().message;
        assert_eq!(message.chars().count(), MAX_MESSAGE_CHARS);
        assert!(message.ends_with('…'));
    }

    #[test]
    fn truncation_cuts_on_character_boundaries() {
        let text = "é".repeat(1000);
        let cut = truncate_chars(&text, 10);
        assert_eq!(cut.chars().count(), 10);
        assert!(cut.ends_with('…'));
        assert_eq!(truncate_chars("short", 10), "short");
        assert_eq!(truncate_chars("exactly10!", 10), "exactly10!");
    }
}
