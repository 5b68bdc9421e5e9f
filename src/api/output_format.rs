//! `spec.secret.additionalOutputFormats` of an ApiCredential: extra keys of the Secret that hold
//! the credential in a form a consumer reads without glue (a dotenv file, the organization ID),
//! beside the credential ID and token keys.
//!
//! Declares the formats and their default keys only; rendering them is the controller's job
//! (`controller::apicredential::formats`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::rules;

/// Default key of the [`OutputFormatType::Dotenv`] file.
pub const DEFAULT_DOTENV_KEY: &str = "controlhub.env";
/// Default key of the [`OutputFormatType::OrganizationId`] value.
pub const DEFAULT_ORGANIZATION_ID_KEY: &str = "organizationId";

/// A form of the credential written under a key of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
pub enum OutputFormatType {
    /// A dotenv file (`NAME='value'` lines, readable by `sh` with `set -a; . file` and by dotenv
    /// libraries) with `CRED_ID`, `CRED_TOKEN`, `SCH_URL` (the Control Hub URL) and `ORG_ID` (the
    /// organization ID). Default key: `controlhub.env`.
    Dotenv,
    /// The organization ID alone. Default key: `organizationId`.
    OrganizationId,
}

impl OutputFormatType {
    /// The key used when `key` is not set.
    pub const fn default_key(self) -> &'static str {
        match self {
            OutputFormatType::Dotenv => DEFAULT_DOTENV_KEY,
            OutputFormatType::OrganizationId => DEFAULT_ORGANIZATION_ID_KEY,
        }
    }
}

/// One additional output format of the Secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OutputFormat {
    /// The format: Dotenv or OrganizationId. Each at most once.
    #[serde(rename = "type")]
    pub type_: OutputFormatType,
    /// Key of the Secret's data holding it (letters, digits, `-`, `_`, `.`). Default: `controlhub.env`
    /// for Dotenv, `organizationId` for OrganizationId. Must differ from every other key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = rules::DNS_SUBDOMAIN_MAX), pattern(rules::SECRET_KEY))]
    pub key: Option<String>,
}

impl OutputFormat {
    /// The key with the default applied.
    pub fn effective_key(&self) -> &str {
        self.key.as_deref().unwrap_or(self.type_.default_key())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_type_has_its_default_key_and_a_given_key_wins() {
        let formats: Vec<OutputFormat> =
            serde_json::from_str(r#"[{"type":"Dotenv"},{"type":"OrganizationId","key":"org"}]"#)
                .expect("parses");
        assert_eq!(formats[0].effective_key(), "controlhub.env");
        assert_eq!(formats[1].effective_key(), "org");
        assert_eq!(OutputFormatType::OrganizationId.default_key(), "organizationId");
    }

    #[test]
    fn an_unknown_type_is_refused() {
        assert!(serde_json::from_str::<OutputFormat>(r#"{"type":"PKCS12"}"#).is_err());
    }
}
