//! Admission rules shared by the CRD types: OpenAPI patterns, length limits and the CEL
//! (`x-kubernetes-validations`) expressions with their user-facing messages.
//!
//! Only constants live here, so that the types, the schema tests and the fixture tests name one
//! source. Nothing here evaluates a rule; the API server does (and `admission_tests` in tests).
//! Keep CEL rules simple (`has()`, `matches()`, `duration()`): each must pass the API server's
//! cost estimate, which is why every string a rule reads carries a `maxLength`.

/// A Kubernetes object name that is a DNS subdomain (RFC 1123), e.g. Secrets and Deployments.
pub const DNS_SUBDOMAIN: &str = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
/// Longest DNS subdomain.
pub const DNS_SUBDOMAIN_MAX: usize = 253;
/// A namespace name (RFC 1123 label).
pub const DNS_LABEL: &str = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";
/// Longest RFC 1123 label.
pub const DNS_LABEL_MAX: usize = 63;
/// A valid key of a Secret's `data` map.
pub const SECRET_KEY: &str = r"^[-._a-zA-Z0-9]+$";
/// A Control Hub user ID: `<user>@<organization>`.
pub const USER_ID: &str = r"^[^@\s]+@[^@\s]+$";
/// An entry of `allowedUserIds`: a user ID or `*`.
pub const ALLOWED_USER_ID: &str = r"^(\*|[^@\s]+@[^@\s]+)$";
/// Longest user ID accepted.
pub const USER_ID_MAX: usize = 256;
/// An IANA time zone name such as `Europe/Berlin`, `UTC` or `Etc/GMT+5` (shape only; the
/// operator checks the name against its time zone database).
pub const TIME_ZONE: &str = r"^[A-Za-z0-9_+\-]+(/[A-Za-z0-9_+\-]+)*$";
/// Longest time zone name accepted.
pub const TIME_ZONE_MAX: usize = 64;
/// Longest Go-style duration string accepted.
pub const DURATION_MAX: usize = 32;
/// Longest cron expression accepted.
pub const SCHEDULE_MAX: usize = 128;
/// Longest Control Hub label accepted (the operator appends a UID marker while creating).
pub const LABEL_MAX: usize = 100;
/// Longest URL accepted.
pub const URL_MAX: usize = 2048;
/// Longest CA bundle accepted (256 KiB of PEM).
pub const CA_BUNDLE_MAX: usize = 262_144;
/// Most restart targets per ApiCredential.
pub const RESTART_TARGETS_MAX: usize = 20;
/// Most entries in `allowedUserIds`.
pub const ALLOWED_USER_IDS_MAX: usize = 100;

/// A CEL rule with the message the API server returns when it fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CelRule {
    /// The CEL expression; `self` is the field or object it is attached to.
    pub rule: &'static str,
    /// What the user sees when the rule fails.
    pub message: &'static str,
}

impl CelRule {
    /// The rule in the form the `x_kube(validation = ...)` attribute takes.
    pub fn to_kube(self) -> kube::core::Rule {
        kube::core::Rule::new(self.rule).message(self.message)
    }
}

/// `spec.name`: no leading or trailing whitespace.
pub const LABEL_TRIMMED: CelRule = CelRule {
    rule: "self == self.trim()",
    message: "name must not start or end with whitespace",
};

/// `spec` of ApiCredential: `userId` can be neither changed, set nor removed after creation.
pub const USER_ID_IMMUTABLE: CelRule = CelRule {
    rule: "has(self.userId) == has(oldSelf.userId) && (!has(self.userId) || self.userId == oldSelf.userId)",
    message: "userId is immutable: delete and re-create the ApiCredential to change the owner",
};

/// `spec` of ApiCredential: `connectionRef` can be neither changed, set nor removed after creation
/// (moving a credential to another connection would orphan it in the first organization).
pub const CONNECTION_REF_IMMUTABLE: CelRule = CelRule {
    rule: "has(self.connectionRef) == has(oldSelf.connectionRef) && (!has(self.connectionRef) || self.connectionRef == oldSelf.connectionRef)",
    message: "connectionRef is immutable: delete and re-create the ApiCredential to move it to another connection",
};

/// `spec.rotation`: exactly one of `interval` and `schedule`.
pub const ROTATION_ONE_OF: CelRule = CelRule {
    rule: "has(self.interval) != has(self.schedule)",
    message: "rotation: set exactly one of interval or schedule",
};

/// `spec.rotation`: `timeZone` only with `schedule`.
pub const TIME_ZONE_NEEDS_SCHEDULE: CelRule = CelRule {
    rule: "!has(self.timeZone) || has(self.schedule)",
    message: "rotation: timeZone can only be set together with schedule",
};

/// `spec.rotation`: `gracePeriod` only with the Replace strategy.
pub const GRACE_PERIOD_NEEDS_REPLACE: CelRule = CelRule {
    rule: "!has(self.gracePeriod) || self.strategy == 'Replace'",
    message: "rotation: gracePeriod can only be set with strategy Replace",
};

/// `spec.rotation.interval`: a Go duration of at least one hour.
pub const INTERVAL_MIN: CelRule = CelRule {
    rule: r"self.matches('^([0-9]+(\\.[0-9]+)?(ns|us|ms|s|m|h))+$') && duration(self) >= duration('1h')",
    message: "rotation.interval must be a duration of at least 1h, such as 336h, 24h or 1h30m",
};

/// `spec.rotation.gracePeriod`: a Go duration between 0s and 24h.
pub const GRACE_PERIOD_RANGE: CelRule = CelRule {
    rule: r"self.matches('^([0-9]+(\\.[0-9]+)?(ns|us|ms|s|m|h))+$') && duration(self) <= duration('24h')",
    message: "rotation.gracePeriod must be a duration between 0s and 24h, such as 10m",
};

/// `spec.rotation.schedule`: five cron fields.
pub const SCHEDULE_FIVE_FIELDS: CelRule = CelRule {
    rule: r"self.matches('^\\s*[0-9A-Za-z*?,/#-]+(\\s+[0-9A-Za-z*?,/#-]+){4}\\s*$')",
    message: "rotation.schedule must be a cron expression with 5 fields (minute hour day-of-month month \
              day-of-week), such as '0 3 * * 0'",
};

/// `spec.secret.keys`: the keys must differ.
pub const SECRET_KEYS_DISTINCT: CelRule = CelRule {
    rule: "self.credentialId != self.authToken && \
           (!has(self.url) || (self.url != self.credentialId && self.url != self.authToken))",
    message: "secret.keys: credentialId, authToken and url must be different keys",
};

/// `spec.secret.type`: Opaque or a custom type, never a built-in type with required keys.
pub const SECRET_TYPE_ALLOWED: CelRule = CelRule {
    rule: "self == 'Opaque' || !self.startsWith('kubernetes.io/')",
    message: "secret.type must be Opaque or a custom type: built-in kubernetes.io/ types require keys \
              this operator does not write",
};

/// Connection `spec`: exactly one of `url` and `asterUrl`.
pub const CONNECTION_URL_ONE_OF: CelRule = CelRule {
    rule: "has(self.url) != has(self.asterUrl)",
    message: "set exactly one of url or asterUrl",
};

/// Connection `spec.url` / `spec.asterUrl`: an absolute http(s) URL.
pub const HTTP_URL: CelRule = CelRule {
    rule: r"self.matches('^https?://[^/?#\\s]+(/[^?#\\s]*)?$')",
    message: "must be an absolute http:// or https:// URL without query or fragment, such as \
              https://na01.hub.streamsets.com",
};

/// Connection `spec.caBundle`: PEM certificates.
pub const CA_BUNDLE_PEM: CelRule = CelRule {
    rule: "self.contains('-----BEGIN CERTIFICATE-----')",
    message: "caBundle must hold PEM-encoded certificates (-----BEGIN CERTIFICATE-----)",
};

/// Every CEL rule of the API, for schema tests.
pub const ALL_CEL_RULES: &[CelRule] = &[
    LABEL_TRIMMED,
    USER_ID_IMMUTABLE,
    CONNECTION_REF_IMMUTABLE,
    ROTATION_ONE_OF,
    TIME_ZONE_NEEDS_SCHEDULE,
    GRACE_PERIOD_NEEDS_REPLACE,
    INTERVAL_MIN,
    GRACE_PERIOD_RANGE,
    SCHEDULE_FIVE_FIELDS,
    SECRET_KEYS_DISTINCT,
    SECRET_TYPE_ALLOWED,
    CONNECTION_URL_ONE_OF,
    HTTP_URL,
    CA_BUNDLE_PEM,
];
