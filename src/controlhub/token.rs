//! The API-credential authentication token as a value that can never be printed.
//!
//! Owns [`AuthToken`] (redacting `Debug`/`Display`, constant-time comparison, a short
//! non-reversible fingerprint) and the decoding of its claims `o` (org) and `jti` (credential ID).
//! It must not serialize, log or otherwise expose the token except through [`AuthToken::expose`].

use std::fmt;

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde::{Deserialize, Deserializer};
use sha2::{Digest, Sha256};

use super::ids::{CredentialId, OrgId};

/// What the redacting formatters print instead of the token.
const REDACTED: &str = "AuthToken(<redacted>)";

/// The standard base64 alphabet with optional padding: how the official SDK decodes the payload
/// (`base64.b64decode(payload + '==')`), so a payload using the URL-safe `-`/`_` is rejected as the SDK would.
const PAYLOAD_ENGINE: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// An API-credential token (`X-SS-App-Auth-Token`). Prints as `AuthToken(<redacted>)`.
///
/// Deliberately not `Serialize` and not `PartialEq` (use [`AuthToken::ct_eq`]).
#[derive(Clone)]
pub struct AuthToken(String);

/// Why a token's claims could not be read. Never contains any part of the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("token is not of the form header.payload.signature")]
    NotAJwt,
    #[error("token payload is not standard base64")]
    PayloadNotBase64,
    #[error("token payload is not a JSON object with string claims")]
    PayloadNotJson,
    #[error("token has no `{0}` claim")]
    MissingClaim(&'static str),
}

/// The claims of a token this client relies on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenClaims {
    /// Claim `o`: the organization the credential belongs to.
    pub org_id: OrgId,
    /// Claim `jti`: the credential's own ID, when present.
    pub credential_id: Option<CredentialId>,
}

#[derive(Deserialize)]
struct RawClaims {
    o: Option<String>,
    jti: Option<String>,
}

impl AuthToken {
    /// Wraps a token string (surrounding whitespace, e.g. a trailing newline from a file, is removed).
    pub fn new(token: impl Into<String>) -> Self {
        let token = token.into();
        let trimmed = token.trim();
        if trimmed.len() == token.len() {
            Self(token)
        } else {
            Self(trimmed.to_string())
        }
    }

    /// The token itself, for the request header and the Kubernetes Secret. Never log the result.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the token is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Compares two tokens in time independent of where they differ.
    pub fn ct_eq(&self, other: &AuthToken) -> bool {
        let (a, b) = (self.0.as_bytes(), other.0.as_bytes());
        if a.len() != b.len() {
            return false;
        }
        let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
        std::hint::black_box(diff) == 0
    }

    /// A short, non-reversible identifier of the token: the first 12 hex digits of its SHA-256.
    /// Safe for Secret annotations and logs; tells whether two tokens differ.
    pub fn fingerprint(&self) -> String {
        let digest = Sha256::digest(self.0.as_bytes());
        let mut hex = hex::encode(&digest[..6]);
        hex.truncate(12);
        hex
    }

    /// Decodes the payload (second segment) and reads the claims `o` and `jti`.
    pub fn claims(&self) -> Result<TokenClaims, TokenError> {
        let mut segments = self.0.split('.');
        let (Some(_header), Some(payload)) = (segments.next(), segments.next()) else {
            return Err(TokenError::NotAJwt);
        };
        if payload.is_empty() {
            return Err(TokenError::NotAJwt);
        }
        let bytes = PAYLOAD_ENGINE
            .decode(payload)
            .map_err(|_| TokenError::PayloadNotBase64)?;
        let raw: RawClaims = serde_json::from_slice(&bytes).map_err(|_| TokenError::PayloadNotJson)?;
        let org = raw
            .o
            .filter(|o| !o.is_empty())
            .ok_or(TokenError::MissingClaim("o"))?;
        Ok(TokenClaims {
            org_id: OrgId::new(org),
            credential_id: raw.jti.filter(|j| !j.is_empty()).map(CredentialId::new),
        })
    }
}

impl fmt::Debug for AuthToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for AuthToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl From<String> for AuthToken {
    fn from(token: String) -> Self {
        Self::new(token)
    }
}

impl<'de> Deserialize<'de> for AuthToken {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self::new)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Builds a token the way Control Hub does: `base64(header).base64(payload).` (standard, unpadded).
    pub(crate) fn token_with_payload(payload: &str) -> AuthToken {
        let engine = base64::engine::general_purpose::STANDARD_NO_PAD;
        let header = engine.encode(r#"{"typ":"JWT","alg":"none"}"#);
        AuthToken::new(format!("{header}.{}.", engine.encode(payload)))
    }

    const SECRET: &str = "d6cbaa86e0f4a3a4b3c5d7e9f1a2b4c6d8e0f2a4b6c8d0e2f4a6b8c0d2e4f6a8b0c2d4e6f8a0b2c4d6e8f0a2b4c6d8e0f2a4b6c8d0e2f4a6b8c0d2e4f6adb13a";

    fn sample() -> AuthToken {
        token_with_payload(&format!(
            r#"{{"s":"{SECRET}","v":1,"iss":"dev","jti":"93a9f902-0619-4f6d-8aab-174be9155046","o":"3bb73836-b7ec-11eb-b93c-758d73010046"}}"#
        ))
    }

    #[test]
    fn debug_and_display_never_contain_the_token() {
        let token = sample();
        for printed in [
            format!("{token:?}"),
            format!("{token}"),
            format!("{:?}", Some(&token)),
        ] {
            assert!(!printed.contains(token.expose()), "leaked in {printed}");
            assert!(!printed.contains("eyJ"), "leaked a segment in {printed}");
            assert!(printed.contains("<redacted>"));
        }
    }

    #[test]
    fn claims_o_and_jti_are_decoded_from_the_payload() {
        let claims = sample().claims().unwrap();
        assert_eq!(claims.org_id.as_str(), "3bb73836-b7ec-11eb-b93c-758d73010046");
        assert_eq!(
            claims.credential_id.map(CredentialId::into_string).as_deref(),
            Some("93a9f902-0619-4f6d-8aab-174be9155046")
        );
    }

    #[test]
    fn claims_decode_with_or_without_padding() {
        let engine = base64::engine::general_purpose::STANDARD;
        let padded = engine.encode(r#"{"o":"org-1"}"#);
        assert!(padded.ends_with('='), "fixture must need padding");
        let token = AuthToken::new(format!("h.{padded}."));
        assert_eq!(token.claims().unwrap().org_id.as_str(), "org-1");
        let unpadded = AuthToken::new(format!("h.{}.", padded.trim_end_matches('=')));
        assert_eq!(unpadded.claims().unwrap().org_id.as_str(), "org-1");
    }

    #[test]
    fn url_safe_payloads_are_rejected_like_the_sdk_does() {
        // "??>" encodes to "Pz8+" in standard base64 and "Pz8-" in the URL-safe alphabet.
        let token = AuthToken::new("h.eyJvIjoiPz8-In0.");
        assert_eq!(token.claims(), Err(TokenError::PayloadNotBase64));
    }

    #[test]
    fn malformed_tokens_give_typed_errors_without_the_token() {
        assert_eq!(AuthToken::new("no-dots").claims(), Err(TokenError::NotAJwt));
        assert_eq!(AuthToken::new("h..").claims(), Err(TokenError::NotAJwt));
        assert_eq!(
            token_with_payload("[1,2]").claims(),
            Err(TokenError::PayloadNotJson)
        );
        let err = token_with_payload(r#"{"jti":"x"}"#).claims().unwrap_err();
        assert_eq!(err, TokenError::MissingClaim("o"));
        assert_eq!(err.to_string(), "token has no `o` claim");
    }

    #[test]
    fn ct_eq_is_true_only_for_identical_tokens() {
        let a = sample();
        assert!(a.ct_eq(&a.clone()));
        assert!(!a.ct_eq(&token_with_payload(r#"{"o":"x"}"#)));
        assert!(!a.ct_eq(&AuthToken::new(&a.expose()[..a.expose().len() - 1])));
    }

    #[test]
    fn fingerprint_is_short_stable_hex_and_differs_per_token() {
        let a = sample();
        let fp = a.fingerprint();
        assert_eq!(fp.len(), 12);
        assert!(fp.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(fp, a.clone().fingerprint());
        assert_ne!(fp, token_with_payload(r#"{"o":"x"}"#).fingerprint());
        assert!(!a.expose().contains(&fp));
    }

    #[test]
    fn surrounding_whitespace_is_trimmed() {
        assert_eq!(AuthToken::new("abc.def.\n").expose(), "abc.def.");
    }

    #[test]
    fn deserializes_from_a_json_string() {
        let token: AuthToken = serde_json::from_str("\"a.b.\"").unwrap();
        assert_eq!(token.expose(), "a.b.");
    }
}
