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
/// Most extra labels, and most extra annotations, on a credential's Secret.
pub const SECRET_METADATA_ENTRIES_MAX: usize = 64;
/// Longest label value (Kubernetes' own limit).
pub const LABEL_VALUE_MAX: usize = 63;
/// Longest annotation value accepted in `spec.secret.annotations`.
pub const ANNOTATION_VALUE_MAX: usize = 4096;
/// Marker prefix the operator appends to a credential's Control Hub label while creating it
/// (`[k8s:<object uid>]`); see `controller::apicredential::decide::marker`.
pub const MARKER_PREFIX: &str = "[k8s:";
/// Labels the operator sets on every Secret it writes, to recognise its own.
pub const RESERVED_SECRET_LABELS: [&str; 2] =
    ["app.kubernetes.io/managed-by", "controlhub.dev/apicredential"];
/// Annotations the operator sets on every Secret it writes.
pub const RESERVED_SECRET_ANNOTATIONS: [&str; 3] = [
    "controlhub.dev/credential-id",
    "controlhub.dev/token-fingerprint",
    "controlhub.dev/data-keys",
];
/// Most entries in `spec.secret.additionalOutputFormats` (one per format type).
pub const OUTPUT_FORMATS_MAX: usize = 2;

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

/// `spec.name`: no operator marker, which could make another object adopt or delete this
/// credential.
pub const LABEL_NO_MARKER: CelRule = CelRule {
    rule: "!self.contains('[k8s:')",
    message: "spec.name must not contain \"[k8s:\": it is reserved for the operator's markers",
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

/// `spec.rotation`: a grace period shorter than the interval, so that each Replace's previous
/// credential is retired on time (a Replace that comes due while the previous one is still in its
/// grace period retires it early, keeping one object at two credentials at most).
pub const GRACE_PERIOD_WITHIN_INTERVAL: CelRule = CelRule {
    rule: "!has(self.gracePeriod) || !has(self.interval) || duration(self.gracePeriod) < duration(self.interval)",
    message: "rotation: gracePeriod must be shorter than interval",
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

/// `spec.rotation.schedule`: at most once an hour, like `interval`. A minute field other than one
/// number (a list, range, step or `*`) fires at least twice within some hour.
pub const SCHEDULE_AT_MOST_HOURLY: CelRule = CelRule {
    rule: r"self.matches('^\\s*[0-5]?[0-9]\\s')",
    message: "spec.rotation.schedule fires more than once an hour: its minute field must be a single number \
              such as 0 (at least 1h between rotations, like interval)",
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

/// ApiCredential (root, for `metadata.name`): the Secret type cannot change while the Secret
/// stays the same, because Kubernetes cannot change a Secret's type. With a new `secret.name`
/// the operator writes a new Secret (and deletes the old one), so a new type is fine there.
pub const SECRET_TYPE_IMMUTABLE: CelRule = CelRule {
    rule: "(has(self.spec.secret) ? self.spec.secret.type : 'Opaque') == \
           (has(oldSelf.spec.secret) ? oldSelf.spec.secret.type : 'Opaque') || \
           (has(self.spec.secret) && has(self.spec.secret.name) ? self.spec.secret.name : self.metadata.name) != \
           (has(oldSelf.spec.secret) && has(oldSelf.spec.secret.name) ? oldSelf.spec.secret.name : oldSelf.metadata.name)",
    message: "spec.secret.type cannot be changed: delete and re-create the ApiCredential (or choose a new \
              spec.secret.name)",
};

/// Where the API server reports a failure of [`SECRET_TYPE_IMMUTABLE`] (a root rule has no path of
/// its own).
pub const SECRET_TYPE_IMMUTABLE_FIELD_PATH: &str = ".spec.secret.type";

/// `spec.secret.labels`: every key is a Kubernetes qualified name (optional DNS subdomain prefix
/// of at most 253 characters and `/`, then a name of at most 63 characters).
pub const SECRET_LABEL_KEYS: CelRule = CelRule {
    rule: QUALIFIED_NAME_KEYS,
    message: "spec.secret.labels: every key must be a qualified name such as team or example.com/team: an \
              optional DNS subdomain prefix (at most 253 characters) and '/', then at most 63 letters, digits, \
              '-', '_' or '.', starting and ending with a letter or digit",
};

/// `spec.secret.labels`: every value is a label value.
pub const SECRET_LABEL_VALUES: CelRule = CelRule {
    rule: r"self.all(k, self[k].matches('^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$'))",
    message: "spec.secret.labels: every value must be empty or at most 63 letters, digits, '-', '_' or '.', \
              starting and ending with a letter or digit",
};

/// `spec.secret.labels`: not the labels the operator recognises its Secrets by.
pub const SECRET_LABELS_RESERVED: CelRule = CelRule {
    rule: "!('app.kubernetes.io/managed-by' in self) && !('controlhub.dev/apicredential' in self)",
    message: "spec.secret.labels must not set app.kubernetes.io/managed-by or controlhub.dev/apicredential: \
              the operator sets them on its Secrets",
};

/// `spec.secret.annotations`: every key is a Kubernetes qualified name.
pub const SECRET_ANNOTATION_KEYS: CelRule = CelRule {
    rule: QUALIFIED_NAME_KEYS,
    message: "spec.secret.annotations: every key must be a qualified name such as note or example.com/note: \
              an optional DNS subdomain prefix (at most 253 characters) and '/', then at most 63 letters, \
              digits, '-', '_' or '.', starting and ending with a letter or digit",
};

/// `spec.secret.annotations`: not the annotations the operator records the credential in.
pub const SECRET_ANNOTATIONS_RESERVED: CelRule = CelRule {
    rule: "!('controlhub.dev/credential-id' in self) && !('controlhub.dev/token-fingerprint' in self) && \
           !('controlhub.dev/data-keys' in self)",
    message: "spec.secret.annotations must not set controlhub.dev/credential-id, \
              controlhub.dev/token-fingerprint or controlhub.dev/data-keys: the operator sets them on its Secrets",
};

/// `spec.secret.additionalOutputFormats`: each type at most once (the list is a map keyed by
/// `type`, so the API server also reports the duplicate entry).
pub const OUTPUT_FORMAT_TYPES_DISTINCT: CelRule = CelRule {
    rule: "self.all(f, self.exists_one(g, g.type == f.type))",
    message: "spec.secret.additionalOutputFormats: each type (Dotenv, OrganizationId) may appear at most once",
};

/// The key of an output format `f` with its default applied, as CEL (the defaults are
/// `OutputFormatType::default_key`; a schema test checks they agree).
macro_rules! format_key {
    ($f:literal) => {
        concat!(
            "(has(",
            $f,
            ".key) ? ",
            $f,
            ".key : (",
            $f,
            ".type == 'Dotenv' ? 'controlhub.env' : 'organizationId'))"
        )
    };
}

/// `spec.secret.additionalOutputFormats`: every format under a key of its own.
pub const OUTPUT_FORMAT_KEYS_DISTINCT: CelRule = CelRule {
    rule: concat!(
        "self.all(f, self.exists_one(g, ",
        format_key!("g"),
        " == ",
        format_key!("f"),
        "))"
    ),
    message: "spec.secret.additionalOutputFormats: each format needs a key of its own (defaults: \
              controlhub.env for Dotenv, organizationId for OrganizationId)",
};

/// `spec.secret`: no output format under the key of the credential ID, the token or the URL.
pub const OUTPUT_FORMAT_KEYS_FREE: CelRule = CelRule {
    rule: concat!(
        "!has(self.additionalOutputFormats) || self.additionalOutputFormats.all(f, ",
        format_key!("f"),
        " != self.keys.credentialId && ",
        format_key!("f"),
        " != self.keys.authToken && (!has(self.keys.url) || ",
        format_key!("f"),
        " != self.keys.url))"
    ),
    message: "spec.secret.additionalOutputFormats: a format's key (default controlhub.env for Dotenv, \
              organizationId for OrganizationId) must differ from secret.keys.credentialId, authToken and url",
};

/// Every key of a map is a qualified name: the shape, then the prefix length (the shape allows at
/// most one `/`; the name part's length is in the shape).
const QUALIFIED_NAME_KEYS: &str = r"self.all(k, k.matches('^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$') && k.matches('^([^/]{1,253}/)?[^/]+$'))";

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
    LABEL_NO_MARKER,
    USER_ID_IMMUTABLE,
    CONNECTION_REF_IMMUTABLE,
    ROTATION_ONE_OF,
    TIME_ZONE_NEEDS_SCHEDULE,
    GRACE_PERIOD_NEEDS_REPLACE,
    GRACE_PERIOD_WITHIN_INTERVAL,
    INTERVAL_MIN,
    GRACE_PERIOD_RANGE,
    SCHEDULE_FIVE_FIELDS,
    SCHEDULE_AT_MOST_HOURLY,
    SECRET_KEYS_DISTINCT,
    SECRET_TYPE_ALLOWED,
    SECRET_TYPE_IMMUTABLE,
    SECRET_LABEL_KEYS,
    SECRET_LABEL_VALUES,
    SECRET_LABELS_RESERVED,
    SECRET_ANNOTATION_KEYS,
    SECRET_ANNOTATIONS_RESERVED,
    OUTPUT_FORMAT_TYPES_DISTINCT,
    OUTPUT_FORMAT_KEYS_DISTINCT,
    OUTPUT_FORMAT_KEYS_FREE,
    CONNECTION_URL_ONE_OF,
    HTTP_URL,
    CA_BUNDLE_PEM,
];
