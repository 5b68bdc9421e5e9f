//! The additional output formats of the delivered Secret (`spec.secret.additionalOutputFormats`):
//! what each format's key holds, rendered from the credential, the Control Hub URL and the
//! organization ID. Pure; [`super::secret::build`] puts the result in the Secret's data.
//!
//! **Dotenv.** One `NAME='value'` line per variable, named as Control Hub's REST API guide names
//! them (`CRED_ID`, `CRED_TOKEN`), plus `SCH_URL` (the Control Hub base URL without a trailing
//! `/`, so that `$SCH_URL/security/...` is a path; "SCH" as in StreamSets Control Hub) and
//! `ORG_ID`. Values are single-quoted, so `sh` (`set -a; . file`) and
//! dotenv libraries read them literally (no `$`, backtick or backslash expansion); a `'` inside a
//! value is written `'\''`, the POSIX way, so a hostile value cannot end the quote and run a
//! command when the file is sourced. (Control Hub's values never contain one: IDs are UUIDs, the
//! token is base64url with dots, and admission refuses whitespace in the URL.)

use crate::api::{OutputFormat, OutputFormatType};
use crate::controlhub::{AuthToken, CredentialId};

/// The variable names of the dotenv format, in the order they are written.
pub const DOTENV_NAMES: [&str; 4] = ["CRED_ID", "CRED_TOKEN", "SCH_URL", "ORG_ID"];

/// One declared format with its key resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Format {
    pub type_: OutputFormatType,
    pub key: String,
}

impl From<&OutputFormat> for Format {
    fn from(format: &OutputFormat) -> Self {
        Format {
            type_: format.type_,
            key: format.effective_key().to_string(),
        }
    }
}

/// What every format is rendered from, besides the credential.
#[derive(Debug, Clone, Copy)]
pub struct Sources<'a> {
    /// The Control Hub base URL.
    pub url: &'a str,
    /// The organization the credential belongs to.
    pub org_id: &'a str,
}

/// The data entries (key, value) of `formats` for this credential.
pub fn render(
    formats: &[Format],
    sources: Sources<'_>,
    id: &CredentialId,
    token: &AuthToken,
) -> Vec<(String, Vec<u8>)> {
    formats
        .iter()
        .map(|format| {
            let value = match format.type_ {
                OutputFormatType::Dotenv => dotenv(&[
                    (DOTENV_NAMES[0], id.as_str()),
                    (DOTENV_NAMES[1], token.expose()),
                    (DOTENV_NAMES[2], sources.url.trim_end_matches('/')),
                    (DOTENV_NAMES[3], sources.org_id),
                ]),
                OutputFormatType::OrganizationId => sources.org_id.to_string(),
            };
            (format.key.clone(), value.into_bytes())
        })
        .collect()
}

/// `NAME='value'` lines (see the module docs for the quoting).
fn dotenv(variables: &[(&str, &str)]) -> String {
    variables
        .iter()
        .map(|(name, value)| format!("{name}='{}'\n", value.replace('\'', r"'\''")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJub25lIn0.eyJzIjoiYWJjIiwianRpIjoiYzEiLCJvIjoib3JnMSJ9.";

    fn formats() -> Vec<Format> {
        vec![
            Format {
                type_: OutputFormatType::Dotenv,
                key: "controlhub.env".into(),
            },
            Format {
                type_: OutputFormatType::OrganizationId,
                key: "org".into(),
            },
        ]
    }

    fn rendered(url: &str, org_id: &str) -> Vec<(String, String)> {
        render(
            &formats(),
            Sources { url, org_id },
            &CredentialId::new("c1"),
            &AuthToken::new(TOKEN.to_string()),
        )
        .into_iter()
        .map(|(k, v)| (k, String::from_utf8(v).expect("utf-8")))
        .collect()
    }

    #[test]
    fn dotenv_holds_the_guides_names_and_the_org_id_format_holds_the_org_alone() {
        let out = rendered("https://ch.example/", "org1");
        assert_eq!(out[0].0, "controlhub.env");
        assert_eq!(
            out[0].1,
            format!("CRED_ID='c1'\nCRED_TOKEN='{TOKEN}'\nSCH_URL='https://ch.example'\nORG_ID='org1'\n")
        );
        assert_eq!(out[1], ("org".to_string(), "org1".to_string()));
    }

    /// Sourcing the file with `sh` gives back every value exactly and runs nothing, whatever the
    /// value holds.
    #[test]
    fn a_hostile_value_is_read_back_literally_by_sh_and_runs_nothing() {
        let dir = std::env::temp_dir().join(format!("formats-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let marker = dir.join("ran");
        let hostile = format!(
            "o'; touch {}; echo '$(touch {})`x`\\\"",
            marker.display(),
            marker.display()
        );
        let out = rendered("https://ch.example/a$b", &hostile);
        let file = dir.join("env");
        std::fs::write(&file, &out[0].1).expect("write");
        let script = format!(
            "set -a; . '{}'; printf '%s\\n%s\\n%s' \"$ORG_ID\" \"$SCH_URL\" \"$CRED_ID\"",
            file.display()
        );
        let result = std::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .output()
            .expect("sh runs");
        assert!(
            result.status.success(),
            "sh failed: {}",
            String::from_utf8_lossy(&result.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&result.stdout),
            format!("{hostile}\nhttps://ch.example/a$b\nc1")
        );
        let ran = marker.exists();
        std::fs::remove_dir_all(&dir).ok();
        assert!(!ran, "sourcing the dotenv file ran a command");
    }
}
