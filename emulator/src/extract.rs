//! Request extractors whose rejections are `400` with an `ISSUES` body instead of axum's plain-text
//! ones: [`JsonBody`] (any malformed JSON or wrong type), [`PathParams`] and [`QueryParams`].
//!
//! Bodies over axum's default limit (2 MiB) are `413` and close the connection.
//! Lenient like the real server: the body is parsed whatever its `Content-Type`, and an empty body
//! reads as `{}` (SWAGGER marks the credential bodies optional). Error messages keep serde's
//! position and expectation but drop the offending string values, so no client secret is echoed.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::errors::ApiError;

/// A JSON request body of type `T`.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(request, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::BodyTooLarge
            } else {
                ApiError::InvalidBody("the body could not be read".into())
            }
        })?;
        parse(&bytes).map(JsonBody)
    }
}

/// Path parameters of type `T`.
#[derive(Debug)]
pub struct PathParams<T>(pub T);

impl<S, T> FromRequestParts<S> for PathParams<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(value) = Path::<T>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::InvalidParameter("path"))?;
        Ok(PathParams(value))
    }
}

/// Query parameters of type `T`.
#[derive(Debug)]
pub struct QueryParams<T>(pub T);

impl<S, T> FromRequestParts<S> for QueryParams<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Query(value) = Query::<T>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::InvalidParameter("query"))?;
        Ok(QueryParams(value))
    }
}

/// Parses a body (empty means `{}`).
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let bytes = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        bytes
    };
    serde_json::from_slice(bytes).map_err(|e| ApiError::InvalidBody(redact_values(&e.to_string())))
}

/// Replaces every double-quoted value in serde's message by `"…"` (field names use backticks).
fn redact_values(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut quoted = false;
    for c in message.chars() {
        if c == '"' {
            if quoted {
                out.push_str("…\"");
            } else {
                out.push('"');
            }
            quoted = !quoted;
        } else if !quoted {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    struct Body {
        #[allow(dead_code)]
        active: Option<bool>,
    }

    #[test]
    fn empty_bodies_read_as_an_empty_object() {
        assert!(parse::<Body>(b"").is_ok());
        assert!(parse::<Body>(b"  \n").is_ok());
    }

    #[test]
    fn malformed_json_and_wrong_types_are_invalid_bodies() {
        for bad in [&b"{"[..], b"[1,2]", b"{\"active\":\"yes\"}", b"nul"] {
            let error = parse::<Body>(bad).err();
            assert!(matches!(error, Some(ApiError::InvalidBody(_))), "{bad:?}");
        }
    }

    #[test]
    fn string_values_are_not_echoed_in_error_messages() {
        let error = parse::<Body>(br#"{"active":"eyJsecret"}"#)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(!error.contains("eyJsecret"), "{error}");
        assert!(error.contains("expected a boolean"), "{error}");
    }
}
