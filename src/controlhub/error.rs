//! The client's error type: every failed Control Hub call, classified.
//!
//! Owns [`Error`] (one variant per kind of failure, each naming the operation and carrying the first
//! `ISSUES` code/message), its transient/permanent split and static metric labels. It must not hold
//! tokens or request headers: messages from Control Hub are redacted before they get here.

use std::fmt;
use std::time::Duration;

use super::operation::Operation;
use super::token::TokenError;

/// The first entry of a Control Hub `ISSUES` body (or the start of a non-JSON error body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    /// The stable error code, e.g. `SECURITY_API_CREDENTIALS_LIMIT`; absent for non-JSON bodies.
    pub code: Option<String>,
    /// The human-readable message (redacted of the caller's token, truncated).
    pub message: String,
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.code {
            Some(code) => write!(f, "{code}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Formats an optional issue as a `: …` suffix.
struct IssueSuffix<'a>(&'a Option<Issue>);

impl fmt::Display for IssueSuffix<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(issue) => write!(f, ": {issue}"),
            None => Ok(()),
        }
    }
}

/// Formats an optional Retry-After.
struct RetryAfterSuffix(Option<Duration>);

impl fmt::Display for RetryAfterSuffix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(after) => write!(f, ", retry after {}s", after.as_secs()),
            None => Ok(()),
        }
    }
}

/// Why the client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("base URL {url:?} is not an absolute http(s) URL")]
    BaseUrl { url: String },
    #[error("the CA bundle holds no valid PEM certificate")]
    CaBundle,
    #[error("the token's claims cannot be read")]
    Token(#[from] TokenError),
    #[error("the token belongs to credential {token_credential}, not to {configured}")]
    TokenCredentialMismatch {
        token_credential: String,
        configured: String,
    },
    #[error("the credential ID or token contains characters not allowed in an HTTP header")]
    HeaderValue,
    #[error("requests_per_second must be a finite number >= 0 (0 disables rate limiting)")]
    RateLimit,
    #[error("the sys-admin organization has no org info; configure the base URL instead")]
    SysAdminNeedsBaseUrl,
    #[error("the HTTP client cannot be built")]
    HttpClient(#[source] reqwest::Error),
}

/// A failed Control Hub call.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// 401: the credential is unknown, wrong, inactive, or its user is gone.
    #[error("{operation}: not authenticated (HTTP 401){}", IssueSuffix(issue))]
    Unauthorized {
        operation: Operation,
        issue: Option<Issue>,
    },
    /// 403: the credential's user may not do this (not an org admin, other org, setting off).
    #[error("{operation}: forbidden (HTTP 403){}", IssueSuffix(issue))]
    Forbidden {
        operation: Operation,
        issue: Option<Issue>,
    },
    /// 404: the credential (or route) does not exist.
    #[error("{operation}: not found (HTTP 404){}", IssueSuffix(issue))]
    NotFound {
        operation: Operation,
        issue: Option<Issue>,
    },
    /// 400 naming the per-owner credential limit.
    #[error("{operation}: credential limit reached (HTTP 400){}", IssueSuffix(issue))]
    QuotaExceeded {
        operation: Operation,
        issue: Option<Issue>,
    },
    /// Another 4xx: the request itself was rejected (blank label, bad JSON, …).
    #[error("{operation}: rejected as invalid (HTTP {status}){}", IssueSuffix(issue))]
    Invalid {
        operation: Operation,
        status: u16,
        issue: Option<Issue>,
    },
    /// 429: slow down, for `retry_after` when Control Hub says.
    #[error("{operation}: rate limited (HTTP 429){}{}", RetryAfterSuffix(*retry_after), IssueSuffix(issue))]
    RateLimited {
        operation: Operation,
        retry_after: Option<Duration>,
        issue: Option<Issue>,
    },
    /// 5xx: Control Hub is failing or overloaded.
    #[error("{operation}: Control Hub unavailable (HTTP {status}){}", IssueSuffix(issue))]
    Unavailable {
        operation: Operation,
        status: u16,
        issue: Option<Issue>,
    },
    /// A status the client does not expect (1xx/3xx; redirects are never followed).
    #[error("{operation}: unexpected HTTP status {status}{}", IssueSuffix(issue))]
    UnexpectedStatus {
        operation: Operation,
        status: u16,
        issue: Option<Issue>,
    },
    /// No complete response within the configured timeout.
    #[error("{operation}: timed out")]
    Timeout { operation: Operation },
    /// The connection failed: before the request was sent (`before_send`) or while waiting.
    #[error("{operation}: transport failure{}", if *before_send { " before the request was sent" } else { "" })]
    Transport {
        operation: Operation,
        before_send: bool,
        #[source]
        source: reqwest::Error,
    },
    /// A 2xx response whose body is not what the API defines.
    #[error("{operation}: unexpected response body: {detail}")]
    Decode { operation: Operation, detail: String },
    /// The response body exceeded `limit` bytes; reading stopped there (a server that is not
    /// Control Hub, or a misbehaving one). Permanent: the same URL will answer the same.
    #[error(
        "{operation}: the response body exceeds {limit} bytes; reading stopped (is the connection's URL really Control Hub?)"
    )]
    ResponseTooLarge { operation: Operation, limit: usize },
    /// An argument cannot be sent (e.g. an empty credential ID); nothing was sent.
    #[error("{operation}: invalid argument: {detail}")]
    InvalidArgument {
        operation: Operation,
        detail: &'static str,
    },
    /// The client configuration is unusable.
    #[error("invalid Control Hub client configuration: {0}")]
    Config(#[from] ConfigError),
}

impl Error {
    /// The operation that failed (`None` for configuration errors).
    pub fn operation(&self) -> Option<Operation> {
        match self {
            Self::Unauthorized { operation, .. }
            | Self::Forbidden { operation, .. }
            | Self::NotFound { operation, .. }
            | Self::QuotaExceeded { operation, .. }
            | Self::Invalid { operation, .. }
            | Self::RateLimited { operation, .. }
            | Self::Unavailable { operation, .. }
            | Self::UnexpectedStatus { operation, .. }
            | Self::Timeout { operation }
            | Self::Transport { operation, .. }
            | Self::Decode { operation, .. }
            | Self::ResponseTooLarge { operation, .. }
            | Self::InvalidArgument { operation, .. } => Some(*operation),
            Self::Config(_) => None,
        }
    }

    /// The Control Hub issue behind the error, when the response carried one.
    pub fn issue(&self) -> Option<&Issue> {
        match self {
            Self::Unauthorized { issue, .. }
            | Self::Forbidden { issue, .. }
            | Self::NotFound { issue, .. }
            | Self::QuotaExceeded { issue, .. }
            | Self::Invalid { issue, .. }
            | Self::RateLimited { issue, .. }
            | Self::Unavailable { issue, .. }
            | Self::UnexpectedStatus { issue, .. } => issue.as_ref(),
            Self::Timeout { .. }
            | Self::Transport { .. }
            | Self::Decode { .. }
            | Self::ResponseTooLarge { .. }
            | Self::InvalidArgument { .. }
            | Self::Config(_) => None,
        }
    }

    /// Whether trying again later may succeed without anything changing (429, 5xx, timeouts,
    /// connection failures). Everything else waits for a change of spec, permissions or quota.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::RateLimited { .. }
                | Self::Unavailable { .. }
                | Self::Timeout { .. }
                | Self::Transport { .. }
        )
    }

    /// The opposite of [`Error::is_transient`].
    pub fn is_permanent(&self) -> bool {
        !self.is_transient()
    }

    /// How long Control Hub asked the caller to wait (429 with `Retry-After`).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// Whether the request provably never reached Control Hub (safe to resend anything).
    pub fn is_before_send(&self) -> bool {
        matches!(
            self,
            Self::Transport {
                before_send: true,
                ..
            }
        )
    }

    /// A static, bounded label for metrics and conditions.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Unauthorized { .. } => "unauthorized",
            Self::Forbidden { .. } => "forbidden",
            Self::NotFound { .. } => "not_found",
            Self::QuotaExceeded { .. } => "quota_exceeded",
            Self::Invalid { .. } => "invalid",
            Self::RateLimited { .. } => "rate_limited",
            Self::Unavailable { .. } => "unavailable",
            Self::UnexpectedStatus { .. } => "unexpected_status",
            Self::Timeout { .. } => "timeout",
            Self::Transport { .. } => "transport",
            Self::Decode { .. } => "decode",
            Self::ResponseTooLarge { .. } => "response_too_large",
            Self::InvalidArgument { .. } => "invalid_argument",
            Self::Config(_) => "config",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issue(code: &str) -> Option<Issue> {
        Some(Issue {
            code: Some(code.into()),
            message: "User not authenticated".into(),
        })
    }

    #[test]
    fn display_names_operation_status_and_issue() {
        let err = Error::Unauthorized {
            operation: Operation::ListCredentials,
            issue: issue("SSO_01"),
        };
        assert_eq!(
            err.to_string(),
            "listCredentials: not authenticated (HTTP 401): SSO_01: User not authenticated"
        );
        let err = Error::RateLimited {
            operation: Operation::CreateCredential,
            retry_after: Some(Duration::from_secs(3)),
            issue: None,
        };
        assert_eq!(
            err.to_string(),
            "createCredential: rate limited (HTTP 429), retry after 3s"
        );
    }

    #[test]
    fn transient_errors_are_rate_limits_outages_and_timeouts() {
        let op = Operation::ListCredentials;
        assert!(
            Error::RateLimited {
                operation: op,
                retry_after: None,
                issue: None
            }
            .is_transient()
        );
        assert!(
            Error::Unavailable {
                operation: op,
                status: 503,
                issue: None
            }
            .is_transient()
        );
        assert!(Error::Timeout { operation: op }.is_transient());
        for permanent in [
            Error::Unauthorized {
                operation: op,
                issue: None,
            },
            Error::Forbidden {
                operation: op,
                issue: None,
            },
            Error::NotFound {
                operation: op,
                issue: None,
            },
            Error::QuotaExceeded {
                operation: op,
                issue: None,
            },
            Error::Invalid {
                operation: op,
                status: 400,
                issue: None,
            },
            Error::Decode {
                operation: op,
                detail: "x".into(),
            },
            Error::Config(ConfigError::RateLimit),
        ] {
            assert!(permanent.is_permanent(), "{permanent}");
        }
    }

    #[test]
    fn retry_after_is_only_reported_for_rate_limits() {
        let op = Operation::ListCredentials;
        let after = Some(Duration::from_secs(7));
        assert_eq!(
            Error::RateLimited {
                operation: op,
                retry_after: after,
                issue: None
            }
            .retry_after(),
            after
        );
        assert_eq!(
            Error::Unavailable {
                operation: op,
                status: 503,
                issue: None
            }
            .retry_after(),
            None
        );
    }

    #[test]
    fn labels_are_static_snake_case() {
        let err = Error::QuotaExceeded {
            operation: Operation::CreateCredential,
            issue: issue("LIMIT"),
        };
        assert_eq!(err.label(), "quota_exceeded");
        assert_eq!(err.operation(), Some(Operation::CreateCredential));
        assert_eq!(err.issue().and_then(|i| i.code.as_deref()), Some("LIMIT"));
    }
}
