//! The command line of `controlhub-emulator` (clap). `--help` is the reference; the README shows
//! examples. Must only describe options, not act on them (`server` does).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

use crate::profile::Profile;

const AFTER_HELP: &str = "\
Admin API (authenticated like Control Hub calls, with an org-admin credential):
  POST   /emulator/v1/users                    {\"email\",\"name\",\"roles\":[..],\"serviceAccount\":bool} -> {\"userId\"}
  PUT    /emulator/v1/users/{userId}           {\"email\",\"name\",\"roles\",\"active\"} (partial)
  DELETE /emulator/v1/users/{userId}           deletes the user and every credential it owns or registered
  POST   /emulator/v1/users/{userId}/credentials {\"label\"} -> the credential with its token
  GET|PUT /emulator/v1/settings                {\"serviceAccountsEnabled\",\"adminsMayRegenerateForOthers\",\"adminsMayRenameForOthers\",
                                                \"credentialLimit\",\"quotaIssueCode\",\"quotaIssueMessage\"} (partial)
  GET|PUT|DELETE /emulator/v1/faults           {\"latencyMs\",\"errorRate\",\"rateLimitRate\",\"retryAfterSeconds\",
                                                \"dropRate\",\"revocationDelayMs\",\"listLagMs\",\"operations\":[..]}
                                                (PUT replaces; absent fields take the profile's values)
  GET|PUT /emulator/v1/profile                 {\"profile\":\"default\"|\"strict\"} -> {\"profile\",\"settings\",\"faults\"}
  GET|DELETE /emulator/v1/stats                {\"operations\":{\"<operation>\":{\"<status>\":count}}}

SDK: ControlHub(credential_id=<admin.credentialId>, token=<admin.authToken>, aster_url=<url>)
See emulator/README.md for endpoints, error codes and how the emulator differs from Control Hub.";

/// A local StreamSets Control Hub emulator: API credentials, users and everything the official
/// Python SDK needs to start, plus an admin API for tests (/emulator/v1).
///
/// When ready it prints exactly one JSON line on stdout and nothing else there afterwards:
/// {"url":"http://127.0.0.1:PORT","orgId":"…","admin":{"userId":"…","credentialId":"…","authToken":"…"}}
/// (the organization's first user, an org admin, and its credential). Logs go to stderr
/// (level via RUST_LOG, default "info").
#[derive(Debug, Clone, Parser)]
#[command(name = "controlhub-emulator", version, verbatim_doc_comment, after_long_help = AFTER_HELP)]
pub struct Cli {
    /// Address to listen on. Port 0 picks a free port (the start-up line tells which).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,

    /// Persist all state in FILE (JSON, mode 0600) and reload it on start. Every acknowledged change is
    /// on disk before its response (temp file + fsync + rename). The file holds the bootstrap admin's
    /// token so the start-up line stays usable after a restart: treat it as a secret.
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,

    /// Serve HTTPS with this PEM certificate chain (leaf first). Requires --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key for --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Organization ID of a new organization (default: a fresh v1 UUID). Ignored when --state loads an
    /// existing organization. Letters, digits, '-', '_' and '.' only.
    #[arg(long, value_name = "ID")]
    pub org_id: Option<String>,

    /// Token issuer claim "iss" of tokens minted from now on.
    #[arg(long, value_name = "ISS", default_value = "dev")]
    pub iss: String,

    /// Name of a new organization.
    #[arg(long, value_name = "NAME", default_value = "Emulated Organization")]
    pub org_name: String,

    /// Email of a new organization's first (admin) user.
    #[arg(long, value_name = "EMAIL", default_value = "admin@emulator.local")]
    pub admin_email: String,

    /// API credentials per owner (default 10, or the value in the state file). Also settable at run
    /// time with PUT /emulator/v1/settings.
    #[arg(long, value_name = "N")]
    pub credential_limit: Option<u32>,

    /// Base URL clients use to reach the emulator (for example behind a proxy). Default: derived from
    /// each request's Host header, so the org-info landingUrl always points back at the emulator.
    #[arg(long, value_name = "URL")]
    pub public_url: Option<String>,

    /// Choices for the behaviours the public Control Hub sources leave open. "strict" takes the least
    /// convenient one for each: admins may not rename or regenerate other users' credentials, the
    /// quota refusal has another code and a generic message, lists lag 2 s behind changes and
    /// revocation takes 2 s. Overrides the state file's settings. Also PUT /emulator/v1/profile.
    #[arg(long, value_name = "PROFILE", value_enum)]
    pub profile: Option<Profile>,
}
