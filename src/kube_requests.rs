//! Counts the controllers' Kubernetes API requests by verb and resource
//! (`controlhub_operator_kubernetes_requests_total`): how the watch caches keep a steady-state
//! reconcile from reading or writing anything is checked with it, and operators see the load the
//! operator puts on their API server. A tower layer on the controllers' client; the leader
//! election's own Lease requests are not counted.

use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use crate::metrics::Metrics;

/// The resources the operator reads or writes; anything else is counted as `other` (bounded labels).
const RESOURCES: [&str; 11] = [
    "apicredentials",
    "controlhubconnections",
    "clustercontrolhubconnections",
    "secrets",
    "namespaces",
    "events",
    "deployments",
    "statefulsets",
    "daemonsets",
    "leases",
    "customresourcedefinitions",
];
const SUBRESOURCES: [&str; 2] = ["status", "finalizers"];

/// `(verb, resource)` of a request, in Kubernetes' audit vocabulary: `get`, `list`, `watch`,
/// `create`, `patch`, `update`, `delete`; the resource with its subresource (`apicredentials/status`).
pub fn classify(method: &http::Method, path: &str, query: Option<&str>) -> (&'static str, String) {
    let rest = path
        .strip_prefix("/api/v1/")
        .or_else(|| path.strip_prefix("/apis/").and_then(|p| p.splitn(3, '/').nth(2)))
        .unwrap_or("");
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    // `namespaces/<ns>/<resource>/...`, else `<resource>/...` (a namespace itself included).
    let rest = match segments.as_slice() {
        ["namespaces", _, resource, tail @ ..] => [&[*resource][..], tail].concat(),
        other => other.to_vec(),
    };
    let named = rest.len() >= 2;
    let resource = match rest.first() {
        Some(r) if RESOURCES.contains(r) => match rest.get(2) {
            Some(sub) if SUBRESOURCES.contains(sub) => format!("{r}/{sub}"),
            _ => (*r).to_string(),
        },
        _ => "other".to_string(),
    };
    let watch = query.is_some_and(|q| q.split('&').any(|kv| kv == "watch=true" || kv == "watch=1"));
    let verb = match *method {
        http::Method::GET if watch => "watch",
        http::Method::GET if named => "get",
        http::Method::GET => "list",
        http::Method::POST => "create",
        http::Method::PATCH => "patch",
        http::Method::PUT => "update",
        http::Method::DELETE => "delete",
        _ => "other",
    };
    (verb, resource)
}

/// The layer: counts each request as it is sent.
#[derive(Clone)]
pub struct CountLayer(pub Arc<Metrics>);

impl<S> tower::Layer<S> for CountLayer {
    type Service = CountService<S>;
    fn layer(&self, inner: S) -> CountService<S> {
        CountService {
            inner,
            metrics: self.0.clone(),
        }
    }
}

#[derive(Clone)]
pub struct CountService<S> {
    inner: S,
    metrics: Arc<Metrics>,
}

impl<S, B> tower::Service<http::Request<B>> for CountService<S>
where
    S: tower::Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let (verb, resource) = classify(request.method(), request.uri().path(), request.uri().query());
        tracing::trace!(verb, resource = %resource, path = request.uri().path(), "kubernetes request");
        self.metrics.kubernetes_request(verb, resource);
        self.inner.call(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Method;

    fn c(method: Method, path: &str, query: Option<&str>) -> (&'static str, String) {
        classify(&method, path, query)
    }

    #[test]
    fn requests_are_named_by_verb_and_resource() {
        assert_eq!(
            c(Method::GET, "/api/v1/namespaces/apps/secrets/ci", None),
            ("get", "secrets".into())
        );
        assert_eq!(
            c(Method::GET, "/api/v1/secrets", Some("labelSelector=x&watch=true")),
            ("watch", "secrets".into())
        );
        assert_eq!(
            c(Method::GET, "/api/v1/namespaces/apps/secrets", Some("limit=500")),
            ("list", "secrets".into())
        );
        assert_eq!(
            c(Method::GET, "/api/v1/namespaces/apps", None),
            ("get", "namespaces".into())
        );
        assert_eq!(
            c(Method::GET, "/api/v1/namespaces", None),
            ("list", "namespaces".into())
        );
        assert_eq!(
            c(
                Method::PATCH,
                "/apis/controlhub.dev/v1alpha1/namespaces/apps/apicredentials/ci/status",
                None
            ),
            ("patch", "apicredentials/status".into())
        );
        assert_eq!(
            c(
                Method::GET,
                "/apis/controlhub.dev/v1alpha1/clustercontrolhubconnections/default",
                None
            ),
            ("get", "clustercontrolhubconnections".into())
        );
        assert_eq!(
            c(
                Method::POST,
                "/apis/events.k8s.io/v1/namespaces/apps/events",
                None
            ),
            ("create", "events".into())
        );
    }

    #[test]
    fn unknown_resources_keep_the_labels_bounded() {
        assert_eq!(
            c(Method::GET, "/api/v1/namespaces/apps/pods/p", None),
            ("get", "other".into())
        );
        assert_eq!(c(Method::GET, "/version", None), ("list", "other".into()));
    }
}
