//! API-credential tokens: minting, parsing and the secret hash the emulator keeps.
//!
//! A token is `base64(header) "." base64(payload) "."` (an unsigned JWT, controlhub-api.md §3 and
//! §10) with header `{"typ":"JWT","alg":"none"}` and payload
//! `{"s":<128 hex>,"v":1,"iss":<issuer>,"jti":<credential id>,"o":<org id>}`, both in the standard
//! base64 alphabet without padding. The official SDK decodes the payload with the standard alphabet,
//! so a payload whose encoding holds `-`, `_`, `+` or `/` is never issued.
//!
//! Only a SHA-256 hash of the secret `s` is ever stored. [`AuthToken`] and [`Secret`] never print
//! their contents in `Debug`; this module must not log, and must not decide who may use a token.

use std::fmt;

use base64::Engine;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD_NO_PAD};
use serde::{Deserialize, Serialize, Serializer};
use sha2::{Digest, Sha256};

use crate::ids::{CredentialId, OrgId};

/// The JWT header every token carries.
const HEADER_JSON: &str = r#"{"typ":"JWT","alg":"none"}"#;
/// How many fresh secrets [`mint`] tries before giving up on an unencodable payload.
const MINT_ATTEMPTS: usize = 16;

/// Decodes standard base64 with or without padding, as the SDK's `b64decode(payload + '==')` accepts.
const LENIENT_STANDARD: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Why a token could not be minted or parsed. Messages never contain the token.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("token is not `header.payload.`")]
    Shape,
    #[error("token payload is not standard base64")]
    Base64,
    #[error("token payload is not the expected JSON claims")]
    Claims,
    #[error(
        "the issuer or org ID makes the token payload encode with characters the SDK cannot decode \
         (`+`, `/`, `-`, `_`); choose plain letters, digits and dashes"
    )]
    Unencodable,
}

/// A complete API-credential token. `Debug` and `Display` redact it; [`AuthToken::expose`] and
/// `Serialize` (used only for the responses and the start-up line that must hand it out) reveal it.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct AuthToken(String);

impl AuthToken {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The token text, for the places that must hand it to a client.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AuthToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuthToken(<redacted>)")
    }
}

impl fmt::Display for AuthToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Serialize for AuthToken {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

/// The secret claim `s`: 64 random bytes as 128 lowercase hex characters. Redacted in `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn generate() -> Self {
        let bytes: [u8; 64] = rand::random();
        Self(hex::encode(bytes))
    }

    pub fn hash(&self) -> SecretHash {
        SecretHash(Sha256::digest(self.0.as_bytes()).into())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// SHA-256 of a secret: what the emulator stores and compares (in constant time).
#[derive(Clone, Copy, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct SecretHash([u8; 32]);

impl SecretHash {
    /// Compares in time independent of where the hashes differ.
    pub fn matches(&self, other: &SecretHash) -> bool {
        self.0
            .iter()
            .zip(other.0.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}

impl fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretHash(..)")
    }
}

impl From<SecretHash> for String {
    fn from(hash: SecretHash) -> String {
        hex::encode(hash.0)
    }
}

impl TryFrom<String> for SecretHash {
    type Error = hex::FromHexError;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text, &mut bytes)?;
        Ok(Self(bytes))
    }
}

/// The claims the emulator reads back from a presented token.
#[derive(Debug)]
pub struct Claims {
    pub secret: Secret,
    pub jti: CredentialId,
    pub org: OrgId,
}

#[derive(Serialize)]
struct PayloadOut<'a> {
    s: &'a str,
    v: u8,
    iss: &'a str,
    jti: &'a str,
    o: &'a str,
}

#[derive(Deserialize)]
struct PayloadIn {
    s: String,
    jti: String,
    o: String,
}

/// A freshly minted token and the hash of its secret.
#[derive(Debug)]
pub struct Minted {
    pub token: AuthToken,
    pub hash: SecretHash,
}

/// Mints a token for credential `jti` of organization `org`, issued by `iss`.
pub fn mint(iss: &str, jti: &CredentialId, org: &OrgId) -> Result<Minted, TokenError> {
    let header = STANDARD_NO_PAD.encode(HEADER_JSON);
    for _ in 0..MINT_ATTEMPTS {
        let secret = Secret::generate();
        let payload = PayloadOut {
            s: &secret.0,
            v: 1,
            iss,
            jti: jti.as_str(),
            o: org.as_str(),
        };
        let json = serde_json::to_vec(&payload).map_err(|_| TokenError::Claims)?;
        let encoded = STANDARD_NO_PAD.encode(json);
        if encoded.contains(['+', '/', '-', '_']) {
            continue;
        }
        let token = AuthToken(format!("{header}.{encoded}."));
        return Ok(Minted {
            token,
            hash: secret.hash(),
        });
    }
    Err(TokenError::Unencodable)
}

/// Reads the claims of a presented token. Says nothing about whether the token is valid.
pub fn parse(token: &str) -> Result<Claims, TokenError> {
    let mut parts = token.split('.');
    let (Some(_header), Some(payload), Some(""), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Shape);
    };
    let bytes = LENIENT_STANDARD.decode(payload).map_err(|_| TokenError::Base64)?;
    let claims: PayloadIn = serde_json::from_slice(&bytes).map_err(|_| TokenError::Claims)?;
    Ok(Claims {
        secret: Secret(claims.s),
        jti: CredentialId::new(claims.jti),
        org: OrgId::new(claims.o),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> (CredentialId, OrgId) {
        (CredentialId::generate(), OrgId::generate())
    }

    #[test]
    fn header_is_the_documented_unsigned_jwt_header() {
        let (jti, org) = ids();
        let minted = mint("dev", &jti, &org).map_err(|e| e.to_string());
        let token = minted.map(|m| m.token.expose().to_string()).unwrap_or_default();
        assert!(token.starts_with("eyJ0eXAiOiJKV1QiLCJhbGciOiJub25lIn0."));
        assert!(token.ends_with('.'));
    }

    #[test]
    fn payload_is_exactly_the_documented_claims_and_decodes_like_the_sdk_does() {
        let (jti, org) = ids();
        let Ok(minted) = mint("dev", &jti, &org) else {
            panic!("mint failed")
        };
        let payload = minted
            .token
            .expose()
            .split('.')
            .nth(1)
            .unwrap_or_default()
            .to_string();
        assert!(!payload.contains(['+', '/', '-', '_', '=']));
        // The SDK pads and decodes with the standard alphabet.
        let padded = format!("{payload}{}", "=".repeat((4 - payload.len() % 4) % 4));
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(padded)
            .unwrap_or_default();
        let text = String::from_utf8(decoded).unwrap_or_default();
        let secret = text.get(6..134).unwrap_or_default();
        assert!(
            secret
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)),
            "{secret}"
        );
        let expected = format!(r#"{{"s":"{secret}","v":1,"iss":"dev","jti":"{jti}","o":"{org}"}}"#);
        assert_eq!(text, expected);
    }

    #[test]
    fn parse_recovers_the_claims_and_the_secret_hash_matches() {
        let (jti, org) = ids();
        let Ok(minted) = mint("dev", &jti, &org) else {
            panic!("mint failed")
        };
        let Ok(claims) = parse(minted.token.expose()) else {
            panic!("parse failed")
        };
        assert_eq!(claims.jti, jti);
        assert_eq!(claims.org, org);
        assert!(claims.secret.hash().matches(&minted.hash));
    }

    #[test]
    fn two_mints_have_different_secrets() {
        let (jti, org) = ids();
        let (Ok(a), Ok(b)) = (mint("dev", &jti, &org), mint("dev", &jti, &org)) else {
            panic!("mint failed")
        };
        assert_ne!(a.token, b.token);
        assert!(!a.hash.matches(&b.hash));
    }

    #[test]
    fn malformed_tokens_are_rejected() {
        assert_eq!(parse("").err(), Some(TokenError::Shape));
        assert_eq!(parse("a.b").err(), Some(TokenError::Shape));
        assert_eq!(parse("a.b.c").err(), Some(TokenError::Shape));
        assert_eq!(parse("a.!!!.").err(), Some(TokenError::Base64));
        assert_eq!(parse("a.e30.").err(), Some(TokenError::Claims));
    }

    #[test]
    fn an_issuer_that_cannot_be_encoded_safely_is_refused() {
        let (jti, org) = ids();
        // '?' (0x3f) and '~' (0x7e) end a base64 group as '/' or '+' whatever the secret is.
        let refused = ["???", "~~~"].iter().all(|iss| mint(iss, &jti, &org).is_err());
        assert!(refused);
    }

    #[test]
    fn debug_output_redacts_tokens_and_secrets() {
        let (jti, org) = ids();
        let Ok(minted) = mint("dev", &jti, &org) else {
            panic!("mint failed")
        };
        let printed = format!("{:?} {} {:?}", minted.token, minted.token, minted);
        assert!(!printed.contains(minted.token.expose()));
        let secret = Secret::generate();
        assert!(!format!("{secret:?}").contains(&secret.0));
    }
}
