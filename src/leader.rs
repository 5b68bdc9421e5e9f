//! Leader election on a `coordination.k8s.io/v1` Lease, so that of several replicas exactly one
//! writes. Optimistic concurrency (resourceVersion) decides races.
//!
//! Fencing: the leader trusts its leadership only until `start of the last successful renew +
//! renew deadline`, measured on the monotonic clock ([`Fence`]). Every write of the process is
//! checked against that deadline *before* it is sent (the write gate in the controller context,
//! and [`FenceLayer`] on the Kubernetes client), so a leader that was paused (SIGSTOP, a long GC-like
//! stall, a frozen VM) wakes up with its writes already refused, before any of its tasks learns that
//! the lease is gone. Followers judge expiry the way client-go does: by how long *they* have seen the
//! same Lease record unchanged, on their own monotonic clock, never by comparing wall clocks. As the
//! renew deadline is shorter than the lease duration, a follower can take over only after the old
//! leader's fence has closed (the difference is the margin for request latency).
//!
//! Stepping down revokes the fence first, then publishes [`Leadership::Lost`]; the process exits.
//! [`Elector::release`] (graceful shutdown) revokes the fence and hands the Lease back (empty
//! holder), so another replica takes over at its next retry instead of after the lease duration.
//!
//! Owns only the Lease; it knows nothing about what the leader does.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Api, ObjectMeta, PostParams};
use tokio::sync::{oneshot, watch};

/// Settings of the election.
#[derive(Debug, Clone)]
pub struct LeaseConfig {
    pub namespace: String,
    pub name: String,
    /// This replica's identity (the pod name).
    pub identity: String,
    /// How long a lease is valid without renewal (what followers wait for).
    pub lease_duration: Duration,
    /// How long the leader trusts a successful renew: it stops writing when it has not renewed
    /// for this long. Shorter than `lease_duration`.
    pub renew_deadline: Duration,
    /// How often the leader renews (and a follower retries).
    pub retry_period: Duration,
}

impl LeaseConfig {
    /// client-go's defaults: 15 s lease, 10 s renew deadline, 2 s retry period.
    pub fn new(namespace: String, name: String, identity: String) -> Self {
        LeaseConfig {
            namespace,
            name,
            identity,
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }

    /// `retry period < renew deadline < lease duration`, the lease duration in whole seconds.
    pub fn validate(&self) -> Result<(), String> {
        if self.lease_duration < Duration::from_secs(1) || self.lease_duration.subsec_nanos() != 0 {
            return Err(format!(
                "the lease duration must be a whole number of seconds, at least 1s (got {:?})",
                self.lease_duration
            ));
        }
        if self.renew_deadline >= self.lease_duration {
            return Err(format!(
                "the renew deadline ({:?}) must be shorter than the lease duration ({:?})",
                self.renew_deadline, self.lease_duration
            ));
        }
        if self.retry_period.is_zero() || self.retry_period >= self.renew_deadline {
            return Err(format!(
                "the retry period ({:?}) must be positive and shorter than the renew deadline ({:?})",
                self.retry_period, self.renew_deadline
            ));
        }
        Ok(())
    }
}

/// Leadership as seen by the rest of the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leadership {
    /// The first attempt has not finished yet.
    Unknown,
    Follower,
    Leader,
    /// Was leader and could not renew in time (or another replica holds the lease): the process
    /// must stop writing at once and exit. The [`Fence`] is already revoked when this is sent.
    Lost,
}

/// Until when this process may write, on the monotonic clock: extended by each successful renew,
/// revoked for good on step-down and shutdown. Checked before every write.
#[derive(Debug)]
pub struct Fence {
    origin: Instant,
    /// Nanoseconds after `origin` until which writes are allowed (`u64::MAX`: always).
    until_nanos: AtomicU64,
    revoked: AtomicBool,
}

impl Fence {
    /// No leader election: writes are allowed until [`Fence::revoke`].
    pub fn unbounded() -> Arc<Self> {
        Arc::new(Fence {
            origin: Instant::now(),
            until_nanos: AtomicU64::new(u64::MAX),
            revoked: AtomicBool::new(false),
        })
    }

    /// Closed until the first successful acquire extends it.
    pub fn closed() -> Arc<Self> {
        Arc::new(Fence {
            origin: Instant::now(),
            until_nanos: AtomicU64::new(0),
            revoked: AtomicBool::new(false),
        })
    }

    fn nanos_since_origin(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.origin).as_nanos()).unwrap_or(u64::MAX - 1)
    }

    /// Whether the process may write now.
    pub fn holds(&self) -> bool {
        !self.revoked.load(Ordering::Acquire)
            && self.nanos_since_origin(Instant::now()) < self.until_nanos.load(Ordering::Acquire)
    }

    /// How long writes remain allowed (zero when they are not).
    pub fn remaining(&self) -> Duration {
        if self.revoked.load(Ordering::Acquire) {
            return Duration::ZERO;
        }
        let until = self.until_nanos.load(Ordering::Acquire);
        if until == u64::MAX {
            return Duration::MAX;
        }
        Duration::from_nanos(until.saturating_sub(self.nanos_since_origin(Instant::now())))
    }

    /// Allows writes until `until` (never shortens, never reopens a revoked fence).
    fn extend_to(&self, until: Instant) {
        self.until_nanos
            .fetch_max(self.nanos_since_origin(until), Ordering::AcqRel);
    }

    /// Refuses every further write. Irreversible.
    pub fn revoke(&self) {
        self.revoked.store(true, Ordering::Release);
        self.until_nanos.store(0, Ordering::Release);
    }
}

/// The error of a Kubernetes write refused by [`FenceLayer`].
#[derive(Debug, thiserror::Error)]
#[error("write refused: this replica no longer holds the leader Lease (or is shutting down)")]
pub struct Fenced;

/// A tower layer for the Kubernetes client the controllers use: every request that is not a read
/// (`GET`, `HEAD`, `OPTIONS`) fails without being sent while the [`Fence`] does not hold.
#[derive(Clone)]
pub struct FenceLayer(pub Arc<Fence>);

impl<S> tower::Layer<S> for FenceLayer {
    type Service = FenceService<S>;
    fn layer(&self, inner: S) -> FenceService<S> {
        FenceService {
            inner,
            fence: self.0.clone(),
        }
    }
}

#[derive(Clone)]
pub struct FenceService<S> {
    inner: S,
    fence: Arc<Fence>,
}

impl<S, B> tower::Service<http::Request<B>> for FenceService<S>
where
    S: tower::Service<http::Request<B>>,
    S::Response: Send + 'static,
    S::Error: Into<tower::BoxError>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = tower::BoxError;
    type Future = BoxFuture<'static, Result<S::Response, tower::BoxError>>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let read = matches!(
            *request.method(),
            http::Method::GET | http::Method::HEAD | http::Method::OPTIONS
        );
        if !read && !self.fence.holds() {
            tracing::warn!(method = %request.method(), uri = %request.uri(), "refused a Kubernetes write: not the leader");
            return Box::pin(std::future::ready(Err(Fenced.into())));
        }
        let future = self.inner.call(request);
        Box::pin(async move { future.await.map_err(Into::into) })
    }
}

/// The running election.
pub struct Elector {
    /// Leadership as published by the election.
    pub leadership: watch::Receiver<Leadership>,
    /// Until when this process may write.
    pub fence: Arc<Fence>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Elector {
    /// No election: this process leads until it shuts down.
    pub fn disabled() -> Self {
        Elector {
            leadership: watch::channel(Leadership::Leader).1,
            fence: Fence::unbounded(),
            stop: None,
            task: None,
        }
    }

    /// Stops the election: revokes the fence (no write after this), then, if this replica holds
    /// the Lease, hands it back (empty holder) so another replica takes over at once.
    pub async fn release(mut self) {
        self.fence.revoke();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

/// Runs the election until [`Elector::release`] or a step-down, publishing the state.
pub fn spawn(client: kube::Client, config: LeaseConfig) -> Elector {
    let (tx, rx) = watch::channel(Leadership::Unknown);
    let (stop_tx, stop_rx) = oneshot::channel();
    let fence = Fence::closed();
    let api: Api<Lease> = Api::namespaced(client, &config.namespace);
    let task = tokio::spawn(elect(api, config, tx, fence.clone(), stop_rx));
    Elector {
        leadership: rx,
        fence,
        stop: Some(stop_tx),
        task: Some(task),
    }
}

/// The Lease record as a follower last saw it, and since when (monotonic).
struct Observed {
    version: String,
    since: Instant,
}

async fn elect(
    api: Api<Lease>,
    config: LeaseConfig,
    tx: watch::Sender<Leadership>,
    fence: Arc<Fence>,
    mut stop: oneshot::Receiver<()>,
) {
    let step_down = |why: &str| {
        // The fence first: no write may start after this line.
        fence.revoke();
        tracing::error!(lease = %config.name, identity = %config.identity, "{why}; stepping down");
        let _ = tx.send(Leadership::Lost);
    };
    let mut observed: Option<Observed> = None;
    loop {
        let leading = *tx.borrow() == Leadership::Leader;
        if leading && !fence.holds() {
            step_down("the lease was not renewed within the renew deadline");
            return;
        }
        let started = Instant::now();
        let budget = if leading {
            fence.remaining().min(config.renew_deadline)
        } else {
            config.renew_deadline
        };
        let result = match tokio::time::timeout(budget, attempt(&api, &config, &mut observed, started)).await
        {
            Ok(r) => r.map_err(|e| e.to_string()),
            Err(_) => Err(format!("no answer within {budget:?}")),
        };
        match result {
            Ok(true) => {
                fence.extend_to(started + config.renew_deadline);
                if !fence.holds() {
                    step_down("the lease was renewed too late to trust it");
                    return;
                }
                if !leading {
                    tracing::info!(lease = %config.name, identity = %config.identity, "became leader");
                    let _ = tx.send(Leadership::Leader);
                }
            }
            Ok(false) => {
                if leading {
                    step_down("another replica holds the lease");
                    return;
                }
                tx.send_if_modified(|state| {
                    let changed = *state != Leadership::Follower;
                    *state = Leadership::Follower;
                    changed
                });
            }
            Err(e) => {
                tracing::warn!(lease = %config.name, error = %e, "lease update failed");
                if leading && !fence.holds() {
                    step_down("could not renew the lease within the renew deadline");
                    return;
                }
                if *tx.borrow() == Leadership::Unknown {
                    let _ = tx.send(Leadership::Follower);
                }
            }
        }
        tokio::select! {
            () = tokio::time::sleep(config.retry_period) => {}
            _ = &mut stop => {
                fence.revoke();
                if *tx.borrow() == Leadership::Leader {
                    match tokio::time::timeout(config.renew_deadline, release(&api, &config)).await {
                        Ok(Ok(true)) => tracing::info!(lease = %config.name, identity = %config.identity, "released the lease"),
                        Ok(Ok(false)) => tracing::warn!(lease = %config.name, "the lease was no longer ours to release"),
                        Ok(Err(e)) => tracing::warn!(lease = %config.name, error = %e, "could not release the lease; it expires on its own"),
                        Err(_) => tracing::warn!(lease = %config.name, "releasing the lease timed out; it expires on its own"),
                    }
                }
                return;
            }
        }
    }
}

fn now() -> MicroTime {
    MicroTime(k8s_openapi::jiff::Timestamp::now())
}

/// One round: true when this replica holds the lease afterwards. `started` is when the round
/// began (monotonic), the time a follower first saw a record it had not seen before.
async fn attempt(
    api: &Api<Lease>,
    config: &LeaseConfig,
    observed: &mut Option<Observed>,
    started: Instant,
) -> Result<bool, kube::Error> {
    let now = now();
    let duration_secs = i32::try_from(config.lease_duration.as_secs()).unwrap_or(i32::MAX);
    let Some(mut lease) = api.get_opt(&config.name).await? else {
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(config.name.clone()),
                ..Default::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(config.identity.clone()),
                lease_duration_seconds: Some(duration_secs),
                acquire_time: Some(now.clone()),
                renew_time: Some(now),
                lease_transitions: Some(0),
                ..Default::default()
            }),
        };
        return match api.create(&PostParams::default(), &lease).await {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
            Err(e) => Err(e),
        };
    };
    let version = lease.metadata.resource_version.clone().unwrap_or_default();
    let seen_since = match observed {
        Some(o) if o.version == version => o.since,
        _ => {
            *observed = Some(Observed {
                version,
                since: started,
            });
            started
        }
    };
    let spec = lease.spec.get_or_insert_with(Default::default);
    let holder = spec.holder_identity.clone().unwrap_or_default();
    let held_by_us = holder == config.identity;
    let held_for = Duration::from_secs(u64::try_from(spec.lease_duration_seconds.unwrap_or(0)).unwrap_or(0));
    // Expired when this replica has seen the same record for longer than its duration: the
    // holder has not renewed since (no wall-clock comparison between machines).
    let free = holder.is_empty() || started.saturating_duration_since(seen_since) >= held_for;
    if !held_by_us && !free {
        return Ok(false);
    }
    if !held_by_us {
        spec.acquire_time = Some(now.clone());
        spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
        spec.holder_identity = Some(config.identity.clone());
    }
    spec.renew_time = Some(now);
    spec.lease_duration_seconds = Some(duration_secs);
    // replace() carries the resourceVersion we read: a concurrent writer makes this a 409.
    match api.replace(&config.name, &PostParams::default(), &lease).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
        Err(e) => Err(e),
    }
}

/// Hands the Lease back when this replica holds it: no holder, a 1 s duration. True when released.
async fn release(api: &Api<Lease>, config: &LeaseConfig) -> Result<bool, kube::Error> {
    let Some(mut lease) = api.get_opt(&config.name).await? else {
        return Ok(false);
    };
    let spec = lease.spec.get_or_insert_with(Default::default);
    if spec.holder_identity.as_deref() != Some(config.identity.as_str()) {
        return Ok(false);
    }
    let now = now();
    spec.holder_identity = None;
    spec.lease_duration_seconds = Some(1);
    spec.acquire_time = Some(now.clone());
    spec.renew_time = Some(now);
    match api.replace(&config.name, &PostParams::default(), &lease).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fence_holds_until_its_deadline_and_never_reopens_once_revoked() {
        let fence = Fence::closed();
        assert!(!fence.holds(), "closed until the first acquire");
        fence.extend_to(Instant::now() + Duration::from_secs(60));
        assert!(fence.holds());
        fence.extend_to(Instant::now());
        assert!(fence.holds(), "extending never shortens");
        fence.revoke();
        assert!(!fence.holds());
        fence.extend_to(Instant::now() + Duration::from_secs(60));
        assert!(!fence.holds(), "a revoked fence stays closed");
        assert_eq!(fence.remaining(), Duration::ZERO);
    }

    #[test]
    fn a_fence_closes_by_itself_when_the_deadline_passes() {
        let fence = Fence::closed();
        fence.extend_to(Instant::now() + Duration::from_millis(30));
        assert!(fence.holds());
        std::thread::sleep(Duration::from_millis(50));
        assert!(
            !fence.holds(),
            "no renew: the fence closed without anyone revoking it"
        );
    }

    #[test]
    fn an_unbounded_fence_holds_until_revoked() {
        let fence = Fence::unbounded();
        assert!(fence.holds());
        assert_eq!(fence.remaining(), Duration::MAX);
        fence.revoke();
        assert!(!fence.holds());
    }

    /// A Kubernetes API server stand-in that answers every request.
    struct Answers;

    impl tower::Service<http::Request<()>> for Answers {
        type Response = &'static str;
        type Error = std::convert::Infallible;
        type Future = std::future::Ready<Result<&'static str, std::convert::Infallible>>;
        fn poll_ready(&mut self, _: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }
        fn call(&mut self, _: http::Request<()>) -> Self::Future {
            std::future::ready(Ok("sent"))
        }
    }

    fn send(service: &mut FenceService<Answers>, method: http::Method) -> Result<&'static str, String> {
        use tower::Service;
        let request = http::Request::builder()
            .method(method)
            .uri("/api/v1/secrets")
            .body(())
            .unwrap();
        futures::executor::block_on(service.call(request)).map_err(|e| e.to_string())
    }

    #[test]
    fn the_client_fence_refuses_writes_once_the_deadline_passed_and_always_allows_reads() {
        use tower::Layer;
        let fence = Fence::closed();
        fence.extend_to(Instant::now() + Duration::from_millis(40));
        let mut service = FenceLayer(fence.clone()).layer(Answers);
        assert_eq!(send(&mut service, http::Method::PATCH), Ok("sent"));
        std::thread::sleep(Duration::from_millis(60));
        // Nobody revoked anything: the deadline alone closes it (a leader waking from SIGSTOP).
        for method in [
            http::Method::POST,
            http::Method::PUT,
            http::Method::PATCH,
            http::Method::DELETE,
        ] {
            let refused = send(&mut service, method.clone());
            assert!(
                refused.as_ref().is_err_and(|e| e.contains("no longer holds")),
                "{method}: {refused:?}"
            );
        }
        assert_eq!(
            send(&mut service, http::Method::GET),
            Ok("sent"),
            "reads still work"
        );
    }

    #[test]
    fn the_timings_must_nest() {
        let mut c = LeaseConfig::new("ns".into(), "l".into(), "me".into());
        assert!(c.validate().is_ok());
        c.renew_deadline = Duration::from_secs(15);
        assert!(c.validate().is_err(), "renew deadline = lease duration");
        c.renew_deadline = Duration::from_secs(10);
        c.retry_period = Duration::from_secs(10);
        assert!(c.validate().is_err(), "retry period = renew deadline");
        c.retry_period = Duration::from_secs(2);
        c.lease_duration = Duration::from_millis(15_500);
        assert!(c.validate().is_err(), "fractional lease duration");
    }
}
