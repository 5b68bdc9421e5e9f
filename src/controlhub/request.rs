//! The one generic request function every Control Hub call goes through.
//!
//! Owns URL building under the base URL, headers, the cap on attempts in flight, rate limiting, the
//! per-attempt timeout (set on the HTTP client), retries per [`RetryPolicy`], the cap on response
//! bodies (a server of a tenant's choosing must not make the operator allocate without bound),
//! error decoding, tracing spans and the [`RequestObserver`] hook. It must not know what any endpoint means; typed operations live in
//! [`super::client`] and [`super::discovery`].

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{Method, Url};
use serde::de::DeserializeOwned;
use tokio::sync::Semaphore;
use tracing::Instrument as _;

use super::classify::{error_from_response, error_from_transport};
use super::error::Error;
use super::observe::{OUTCOME_OK, RequestObserver};
use super::operation::Operation;
use super::ratelimit::RateLimiter;
use super::retry::{RetryDecision, RetryPolicy};
use super::token::AuthToken;

/// Largest 2xx body read from Control Hub. A list of credentials is a few KB; anything far larger
/// is refused with [`Error::ResponseTooLarge`] before it is buffered whole.
pub(crate) const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

/// Largest part of an error body read: only its first issue (or first characters) is kept.
const MAX_ERROR_BODY_BYTES: usize = 64 * 1024;

/// Everything needed to talk to one Control Hub endpoint set as one identity. Cheap to share.
pub(crate) struct Connection {
    pub http: reqwest::Client,
    pub base: Url,
    /// Sent on every request (credential headers included when authenticated).
    pub headers: HeaderMap,
    /// The credential's token, removed from any error text Control Hub echoes.
    pub token: Option<AuthToken>,
    pub limiter: Arc<RateLimiter>,
    /// Caps the HTTP attempts in flight (`None`: no cap). Shared by clients of one connection.
    pub in_flight: Option<Arc<Semaphore>>,
    pub retry: RetryPolicy,
    pub observer: Option<Arc<dyn RequestObserver>>,
}

/// One logical call: retried attempts share it.
pub(crate) struct ApiRequest<'a> {
    pub operation: Operation,
    pub method: Method,
    /// Path segments appended to the base URL; each is percent-encoded as one segment.
    pub path: &'a [&'a str],
    pub query: Option<(&'static str, &'a str)>,
    /// A pre-encoded JSON body.
    pub body: Option<Bytes>,
}

impl Connection {
    /// Sends `request`, retrying as the policy allows, and returns the 2xx body.
    pub async fn send(&self, request: &ApiRequest<'_>) -> Result<Bytes, Error> {
        let url =
            build_url(&self.base, request.path, request.query).map_err(|detail| Error::InvalidArgument {
                operation: request.operation,
                detail,
            })?;
        let mut retries = 0u32;
        loop {
            // The slot is taken before the pacing wait, so both limits hold; it is held for one
            // attempt only (never across a retry's backoff).
            let slot = match &self.in_flight {
                Some(semaphore) => semaphore.acquire().await.ok(),
                None => None,
            };
            self.limiter.acquire().await;
            let span = tracing::debug_span!(
                "controlhub_request",
                operation = request.operation.name(),
                attempt = retries + 1,
                status = tracing::field::Empty,
            );
            let started = Instant::now();
            let result = self.attempt(request, &url).instrument(span).await;
            drop(slot);
            if let Some(observer) = &self.observer {
                let outcome = result.as_ref().map_or_else(Error::label, |_| OUTCOME_OK);
                observer.observe(request.operation.name(), outcome, started.elapsed());
            }
            let error = match result {
                Ok(body) => return Ok(body),
                Err(error) => error,
            };
            let safety = request.operation.retry_safety();
            match self.retry.decide(safety, &error, retries, rand::random::<f64>()) {
                RetryDecision::GiveUp => return Err(error),
                RetryDecision::RetryAfter(delay) => {
                    tracing::info!(
                        operation = request.operation.name(),
                        error = error.label(),
                        retry = retries + 1,
                        delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                        "retrying Control Hub request",
                    );
                    tokio::time::sleep(delay).await;
                    retries += 1;
                }
            }
        }
    }

    /// [`Connection::send`], then decodes the JSON body.
    pub async fn send_json<T: DeserializeOwned>(&self, request: &ApiRequest<'_>) -> Result<T, Error> {
        let body = self.send(request).await?;
        decode(request.operation, &body)
    }

    async fn attempt(&self, request: &ApiRequest<'_>, url: &Url) -> Result<Bytes, Error> {
        let operation = request.operation;
        let mut builder = self
            .http
            .request(request.method.clone(), url.clone())
            .headers(self.headers.clone());
        if let Some(body) = &request.body {
            builder = builder.body(body.clone());
        }
        let response = builder
            .send()
            .await
            .map_err(|e| error_from_transport(operation, e))?;
        let status = response.status();
        tracing::Span::current().record("status", status.as_u16());
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = if status.is_success() {
            read_capped(operation, response, MAX_RESPONSE_BYTES, Overflow::Refuse).await?
        } else {
            read_capped(operation, response, MAX_ERROR_BODY_BYTES, Overflow::Truncate).await?
        };
        if status.is_success() {
            tracing::debug!(status = status.as_u16(), "Control Hub responded");
            Ok(body)
        } else {
            let error = error_from_response(
                operation,
                status.as_u16(),
                retry_after.as_deref(),
                &body,
                self.token.as_ref(),
            );
            tracing::debug!(
                status = status.as_u16(),
                error = error.label(),
                "Control Hub refused"
            );
            Err(error)
        }
    }
}

/// What to do with a body longer than the cap.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Overflow {
    /// Fail with [`Error::ResponseTooLarge`] (a 2xx body must be complete to be used).
    Refuse,
    /// Keep the first `limit` bytes (an error body is only quoted in part anyway).
    Truncate,
}

/// Reads the body chunk by chunk, never holding more than `limit` bytes (plus one chunk). The
/// response is dropped, closing the connection, as soon as the cap is passed.
async fn read_capped(
    operation: Operation,
    mut response: reqwest::Response,
    limit: usize,
    overflow: Overflow,
) -> Result<Bytes, Error> {
    let too_large = || Error::ResponseTooLarge { operation, limit };
    if overflow == Overflow::Refuse && response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let mut body = bytes::BytesMut::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| error_from_transport(operation, e))?
    {
        if body.len() + chunk.len() > limit {
            return match overflow {
                Overflow::Refuse => Err(too_large()),
                Overflow::Truncate => {
                    body.extend_from_slice(&chunk[..limit - body.len()]);
                    Ok(body.freeze())
                }
            };
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// `base` with `path` appended as percent-encoded segments (a path prefix in `base` is kept) and
/// the optional query pair. Empty, `.` and `..` segments are refused: they would address another
/// resource.
fn build_url(base: &Url, path: &[&str], query: Option<(&str, &str)>) -> Result<Url, &'static str> {
    if path.iter().any(|segment| matches!(*segment, "" | "." | "..")) {
        return Err("an ID is empty or a relative path segment");
    }
    let mut url = base.clone();
    url.path_segments_mut()
        .map_err(|()| "the base URL cannot have a path")?
        .pop_if_empty()
        .extend(path);
    if let Some((key, value)) = query {
        url.query_pairs_mut().append_pair(key, value);
    }
    Ok(url)
}

/// Decodes a JSON body; the error detail never quotes values from the body (it might hold a token).
pub(crate) fn decode<T: DeserializeOwned>(operation: Operation, body: &[u8]) -> Result<T, Error> {
    serde_json::from_slice(body).map_err(|e| Error::Decode {
        operation,
        detail: unquoted(&e.to_string()),
    })
}

/// Encodes a request body.
pub(crate) fn encode<T: serde::Serialize>(operation: Operation, body: &T) -> Result<Bytes, Error> {
    serde_json::to_vec(body)
        .map(Bytes::from)
        .map_err(|e| Error::Decode {
            operation,
            detail: format!("request body: {}", unquoted(&e.to_string())),
        })
}

/// Replaces every double-quoted part of a serde message (values from the body) with `"…"`.
fn unquoted(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut quoted = false;
    for c in message.chars() {
        if c == '"' {
            if !quoted {
                out.push_str("\"…\"");
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
    use crate::controlhub::wire::ApiCredentialJson;

    #[test]
    fn decode_errors_never_quote_body_values() {
        let body = br#"{"label":"x","userId":"u@o","componentId":"c","authToken":"h.p.","active":"h.p."}"#;
        let err = decode::<ApiCredentialJson>(Operation::CreateCredential, body).unwrap_err();
        let printed = format!("{err} {err:?}");
        assert!(!printed.contains("h.p."), "{printed}");
        assert!(printed.contains("expected a boolean"), "{printed}");
    }

    #[test]
    fn decode_errors_name_missing_fields() {
        let err = decode::<ApiCredentialJson>(Operation::ListCredentials, br#"{"label":"x"}"#).unwrap_err();
        assert!(matches!(err, Error::Decode { .. }));
        assert!(err.to_string().contains("missing field `userId`"), "{err}");
    }

    fn url(base: &str, path: &[&str], query: Option<(&str, &str)>) -> String {
        build_url(&Url::parse(base).unwrap(), path, query)
            .unwrap()
            .to_string()
    }

    #[test]
    fn urls_keep_the_base_path_prefix() {
        let path = ["security", "rest", "v1", "currentUser"];
        assert_eq!(
            url("http://h:8080", &path, None),
            "http://h:8080/security/rest/v1/currentUser"
        );
        assert_eq!(
            url("http://h:8080/", &path, None),
            "http://h:8080/security/rest/v1/currentUser"
        );
        assert_eq!(
            url("https://h/prefix", &path, None),
            "https://h/prefix/security/rest/v1/currentUser"
        );
        assert_eq!(
            url("https://h/a/b/", &path, None),
            "https://h/a/b/security/rest/v1/currentUser"
        );
    }

    #[test]
    fn ids_cannot_escape_their_path_segment_and_queries_are_encoded() {
        let path = ["organization", "o", "api-user-credentials", "../../x?y"];
        assert_eq!(
            url("http://h", &path, None),
            "http://h/organization/o/api-user-credentials/..%2F..%2Fx%3Fy"
        );
        let base = Url::parse("http://h").unwrap();
        for id in ["", ".", ".."] {
            assert!(
                build_url(&base, &["api-user-credentials", id], None).is_err(),
                "{id:?}"
            );
        }
        let list = ["api-user-credentials-for-org"];
        assert_eq!(
            url("http://h", &list, Some(("userId", "u1@org 1"))),
            "http://h/api-user-credentials-for-org?userId=u1%40org+1"
        );
    }

    #[test]
    fn unquoted_removes_quoted_values_only() {
        assert_eq!(
            unquoted(r#"invalid type: string "abc", expected bool"#),
            r#"invalid type: string "…", expected bool"#
        );
        assert_eq!(unquoted("no quotes"), "no quotes");
    }

    /// A local server whose one endpoint holds each request 100 ms; returns its URL and the most
    /// requests it ever had in flight at once.
    async fn counting_server() -> (Url, Arc<std::sync::atomic::AtomicUsize>) {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let now = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let (now_h, most_h) = (now.clone(), most.clone());
        let app = axum::Router::new().route(
            "/slow",
            axum::routing::get(move || {
                let (now, most) = (now_h.clone(), most_h.clone());
                async move {
                    let current = now.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(current, Ordering::SeqCst);
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    now.fetch_sub(1, Ordering::SeqCst);
                    "{}"
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (url, most)
    }

    async fn most_in_flight(cap: Option<usize>, calls: usize) -> usize {
        let (base, most) = counting_server().await;
        let connection = Connection {
            http: reqwest::Client::new(),
            base,
            headers: HeaderMap::new(),
            token: None,
            limiter: Arc::new(RateLimiter::unlimited()),
            in_flight: cap.map(|n| Arc::new(Semaphore::new(n))),
            retry: RetryPolicy::default(),
            observer: None,
        };
        let request = ApiRequest {
            operation: Operation::CurrentUser,
            method: Method::GET,
            path: &["slow"],
            query: None,
            body: None,
        };
        let results = futures::future::join_all((0..calls).map(|_| connection.send(&request))).await;
        assert!(results.iter().all(Result::is_ok), "every call succeeds");
        most.load(std::sync::atomic::Ordering::SeqCst)
    }

    #[tokio::test]
    async fn requests_in_flight_never_exceed_the_connection_cap() {
        assert_eq!(most_in_flight(Some(3), 12).await, 3);
    }

    #[tokio::test]
    async fn without_a_cap_every_request_is_in_flight_at_once() {
        assert_eq!(most_in_flight(None, 12).await, 12);
    }
}
